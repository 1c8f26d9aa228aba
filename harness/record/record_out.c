/* Where a recorded case goes (harness/record/record_out.h). */
#include "harness/record/record_out.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/record/record_case.h"
#include "wire/codec.h"

int mp_rec_out_open(const char *path, int *created, char *err, size_t errlen)
{
  struct stat st;
  *created = stat(path, &st) != 0;
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
  return fd;
}

int mp_rec_out_write(int fd, const char *text, size_t len)
{
  if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
    return -1;
  while (len > 0) {
    ssize_t n = write(fd, text, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    text += n;
    len -= (size_t)n;
  }
  return 0;
}

int mp_rec_leaks(const char *text, const char *pw)
{
  /* the placeholder a recording logs in with is no secret */
  if (!pw || !pw[0] || strcmp(pw, MP_REC_PASSWORD) == 0)
    return 0;
  size_t n = strlen(pw);
  char *b64 = mp_b64_encode(pw, n);
  char *hex = malloc(n * 2 + 1);
  int bad = strstr(text, pw) != NULL;
  if (b64 && hex) {
    mp_hex((const unsigned char *)pw, n, hex);
    bad |= strstr(text, b64) != NULL || strcasestr(text, hex) != NULL;
  }
  free(b64);
  free(hex);
  return bad;
}
