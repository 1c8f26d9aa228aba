/* Names of enum values (probes/names.h). */
#include "probes/names.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

const char *mp_name_of(const char *const *names, int n, int i,
                       const char *unknown)
{
  return i >= 0 && i < n ? names[i] : unknown;
}

int mp_word_is(const char *s, size_t n, const char *w)
{
  return n == strlen(w) && strncasecmp(s, w, n) == 0;
}

int mp_name_find(const char *const *names, int n, const char *name, int nocase)
{
  if (name == NULL)
    return -1;
  for (int i = 0; i < n; i++)
    if ((nocase ? strcasecmp(name, names[i]) : strcmp(name, names[i])) == 0)
      return i;
  return -1;
}
