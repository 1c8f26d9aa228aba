/* The history file: every test appended as one JSON line (time, monitor,
 * test, state, previous state, status, error, phase, per-phase times, reply
 * code, TLS facts, event, alert number, lateness), and every action as one
 * line too. One write(2) per line on a file opened O_APPEND, so a line is
 * whole or, after a crash, cut at the end (the report skips it). Reopened
 * on SIGHUP for logrotate. A disk that fills is reported once and the
 * monitors go on. */
#ifndef MP_HISTORY_H
#define MP_HISTORY_H

#include <stddef.h>

struct mp_mon_test;
struct mp_mon_action;
struct mp_history;

/* Opens (creates) path for appending; NULL with a reason in err when it
 * cannot be written, which is an error at start. */
struct mp_history *mp_history_open(const char *path, char *err, size_t len);

/* Closes and opens the path again (after logrotate moved it). 0, or -1
 * with the old file kept. */
int mp_history_reopen(struct mp_history *h);

/* Appends a test's line, or an action's. A write that fails is counted;
 * the first failure after a success returns 1 (the caller logs it once),
 * later ones 0 until a write works again. */
int mp_history_test(struct mp_history *h, const struct mp_mon_test *t);
int mp_history_action(struct mp_history *h, const struct mp_mon_action *a);

/* The test's line as JSON without the newline (malloc'd, NULL when out of
 * memory): what mp_history_test writes. */
char *mp_history_test_json(const struct mp_mon_test *t);

/* Lines that could not be written. */
unsigned long mp_history_lost(const struct mp_history *h);

void mp_history_close(struct mp_history *h);

#endif
