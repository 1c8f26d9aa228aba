/* Where a recorded case goes: the output file opened before anything
 * connects (an unwritable path fails first), written whole at the end,
 * and the last look for a password before it is. */
#ifndef MP_RECORD_OUT_H
#define MP_RECORD_OUT_H

#include <stddef.h>

/* Opens path for writing (created if missing, not yet truncated); *created
 * says whether it was made now. The descriptor, or -1 with "path: reason"
 * in err. */
int mp_rec_out_open(const char *path, int *created, char *err, size_t errlen);

/* Replaces the file's content with len bytes of text. 0 or -1 (errno). */
int mp_rec_out_write(int fd, const char *text, size_t len);

/* 1 if text holds the password, its base64 or its hex (either case). */
int mp_rec_leaks(const char *text, const char *password);

#endif
