/* Secrets (passwords) from a file or the environment, never from argv or
 * a config file's text. Pure: no event loop. */
#ifndef MP_SECRET_H
#define MP_SECRET_H

#include <stddef.h>

/* Reads a secret from a file (at most 4 KiB), one trailing newline (LF or
 * CRLF) removed. *out is malloc'd. 0 or -1 with a message. */
int mp_read_secret_file(const char *path, char **out, char *err, size_t errlen);

/* Copies the environment variable name into *out (malloc'd). 0 or -1 with
 * a message when it is not set. */
int mp_read_secret_env(const char *name, char **out, char *err, size_t errlen);

#endif
