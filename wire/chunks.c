/* Text carved from chunks freed together (wire/chunks.h). */
#include "wire/chunks.h"

#include <stdlib.h>

char *mp_chunk_room(struct mp_chunk **head, size_t len, size_t size)
{
  struct mp_chunk *c = *head;
  if (!c || c->cap - c->used < len) {
    size_t cap = len > size ? len : size;
    c = malloc(sizeof(*c) + cap);
    if (!c)
      return NULL;
    c->used = 0;
    c->cap = cap;
    c->next = *head;
    *head = c;
  }
  char *p = c->text + c->used;
  c->used += len;
  return p;
}

void mp_chunk_reset(struct mp_chunk **head)
{
  if (!*head)
    return;
  mp_chunk_free(&(*head)->next);
  (*head)->used = 0;
}

void mp_chunk_free(struct mp_chunk **head)
{
  while (*head) {
    struct mp_chunk *c = *head;
    *head = c->next;
    free(c);
  }
}
