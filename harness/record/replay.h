/* A recorded case run once in this process (its fake servers and its
 * probe on a loop of their own, through the runner): the replay's
 * result, to fill the `expect:` of a case made from a transcript (which
 * holds no result) and to check that a replay gives what the original
 * gave. */
#ifndef MP_REPLAY_H
#define MP_REPLAY_H

#include <stddef.h>

struct mp_result;

/* Parses the case text (name stands for its file) and runs it. 0 with
 * *out the probe's result (free with mp_result_free) and *passed whether
 * its expect held; or -1 with a reason in err. */
int mp_rec_replay(const char *text, size_t len, const char *name,
                  struct mp_result **out, int *passed, char *err,
                  size_t errlen);

#endif
