/* The monitors' state file: per monitor its state (Up, Warn, Down, Lost),
 * failed tests in a row, alerts and recovery commands of the current
 * outage, so a restart resumes instead of alerting again. Written whole to
 * a temporary file and renamed over the old one, so a reader sees the old
 * file or the new one, never half of one. A file that is corrupt or of
 * another version is set aside (renamed to PATH.bad-SECONDS) and never
 * trusted. */
#ifndef MP_STATE_FILE_H
#define MP_STATE_FILE_H

#include <stddef.h>

#define MP_STATE_VERSION 1

struct mp_mon_saved {
  char name[65]; /* the monitor's name */
  int state;     /* enum mp_mon_state */
  unsigned failures, alerts, recoveries;
};

/* Reads path. 0 with the saved monitors in *out (malloc'd, *n of them;
 * none when the file does not exist); 1 when the file was corrupt or of
 * another version and was set aside, with the warning in msg (nothing is
 * restored); -1 when it could not be read or set aside (msg says why). */
int mp_state_load(const char *path, struct mp_mon_saved **out, size_t *n,
                  char *msg, size_t len);

/* Writes n monitors to path atomically. 0, or -1 with the reason in msg. */
int mp_state_save(const char *path, const struct mp_mon_saved *s, size_t n,
                  char *msg, size_t len);

#endif
