/* `mailprobe roundtrip --record FILE`: both halves of a round trip
 * recorded (the SMTP session that sent, the POP3 or IMAP session that
 * found the message) and written as one roundtrip case: two fake servers
 * on one mail store, the sending server's delivery delay as measured, the
 * envelope and the mailbox commands left to the fake servers (the message
 * is new on every run), the rest replayed as `record` does. */
#ifndef MP_RECORD_RT_H
#define MP_RECORD_RT_H

#include <stddef.h>

struct mp_rt_opts;
struct mp_result;
struct mp_rec_rt;

/* Opens FILE at once (an unwritable path fails before connecting). NULL
 * with "path: reason" in err. */
struct mp_rec_rt *mp_rec_rt_open(const char *path, char *err, size_t errlen);

/* Puts the recorders on both halves of o (their taps) and keeps what the
 * case needs of o; the passwords only to scrub them. */
void mp_rec_rt_attach(struct mp_rec_rt *rt, struct mp_rt_opts *o);

/* Writes the case for the round trip's result. 0, or -1 with a reason. */
int mp_rec_rt_write(struct mp_rec_rt *rt, const struct mp_result *res,
                    char *err, size_t errlen);

/* Closes and frees; a file made by open and never written is removed. */
void mp_rec_rt_free(struct mp_rec_rt *rt);

#endif
