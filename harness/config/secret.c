/* Secrets from files and the environment: the one reader `check`,
 * `roundtrip` and the config files' password_file/password_env use. */
#include "harness/config/secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mp_read_secret_file(const char *path, char **out, char *err, size_t errlen)
{
  char buf[4097];
  size_t n;
  FILE *f;

  f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  n = fread(buf, 1, sizeof(buf), f);
  if (ferror(f)) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    fclose(f);
    return -1;
  }
  fclose(f);
  if (n == sizeof(buf)) {
    snprintf(err, errlen, "%s: longer than 4096 bytes", path);
    return -1;
  }
  if (n > 0 && buf[n - 1] == '\n') {
    n--;
    if (n > 0 && buf[n - 1] == '\r')
      n--;
  }
  if (memchr(buf, '\0', n)) {
    snprintf(err, errlen, "%s: contains a NUL byte", path);
    return -1;
  }
  buf[n] = '\0';
  *out = strdup(buf);
  memset(buf, 0, sizeof(buf));
  if (!*out) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  return 0;
}

int mp_read_secret_env(const char *name, char **out, char *err, size_t errlen)
{
  const char *v = getenv(name);
  if (v == NULL) {
    snprintf(err, errlen, "the environment variable %s is not set", name);
    return -1;
  }
  if ((*out = strdup(v)) == NULL) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  return 0;
}
