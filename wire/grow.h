/* Growing a byte buffer by doubling: the one rule the line engine's
 * buffers, the SMTP reply's text, the fake servers' answers, the JSON
 * writer and the outcome packer share. */
#ifndef MP_GROW_H
#define MP_GROW_H

#include <stddef.h>

/* Makes the buffer *p of *cap bytes hold at least need bytes: the new size
 * doubles from *cap (from first when *cap is 0) until it is enough. Callers
 * test need > *cap themselves, so that the common case costs no call. 0,
 * or -1 when out of memory (*p and *cap unchanged). */
int mp_grow(char **p, size_t *cap, size_t need, size_t first);

#endif
