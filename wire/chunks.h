/* Text carved from a list of chunks that are freed together: many short
 * strings with one lifetime (a probe result's transcript lines, a fake
 * server's record of what it heard) for a few allocations instead of one
 * each. */
#ifndef MP_CHUNKS_H
#define MP_CHUNKS_H

#include <stddef.h>

struct mp_chunk {
  struct mp_chunk *next; /* older */
  size_t used, cap;
  char text[];
};

/* Room for len bytes in the newest chunk of *head, or in a new chunk of
 * size bytes (of len when that is more) put first: the room, or NULL when
 * out of memory. */
char *mp_chunk_room(struct mp_chunk **head, size_t len, size_t size);

/* Frees every chunk but the newest and empties that one, for text that
 * starts over. */
void mp_chunk_reset(struct mp_chunk **head);

/* Frees every chunk (*head becomes NULL). */
void mp_chunk_free(struct mp_chunk **head);

#endif
