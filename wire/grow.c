/* Growing a byte buffer by doubling (wire/grow.h). */
#include "wire/grow.h"

#include <stdlib.h>

int mp_grow(char **p, size_t *cap, size_t need, size_t first)
{
  size_t n = *cap ? *cap : first;
  while (n < need)
    n *= 2;
  char *q = realloc(*p, n);
  if (!q)
    return -1;
  *p = q;
  *cap = n;
  return 0;
}
