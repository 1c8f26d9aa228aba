/* The stable split of `--shard I/N` (harness/subject/shard.h). */
#include "harness/subject/shard.h"

#include <stdint.h>
#include <stdlib.h>

int mp_shard_parse(const char *s, unsigned *i, unsigned *n)
{
  char *end;
  unsigned long a, b;

  if (!s || *s < '0' || *s > '9')
    return -1;
  a = strtoul(s, &end, 10);
  if (*end != '/' || end[1] < '0' || end[1] > '9')
    return -1;
  b = strtoul(end + 1, &end, 10);
  if (*end || b < 1 || b > 10000 || a < 1 || a > b)
    return -1;
  *i = (unsigned)a;
  *n = (unsigned)b;
  return 0;
}

unsigned mp_shard_of(const char *path, unsigned n)
{
  uint64_t h = 14695981039346656037ull;

  while (path[0] == '.' && path[1] == '/')
    path += 2;
  for (; *path; path++) {
    h ^= (unsigned char)*path;
    h *= 1099511628211ull;
  }
  return n ? (unsigned)(h % n) + 1 : 1;
}
