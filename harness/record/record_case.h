/* A recording as a case file (docs/recording.md): a fake server whose
 * script plays the session back (the greeting and every reply verbatim,
 * the measured delays, the ending, the TLS facts and the certificate), a
 * probe like the original one, and `expect:` the result the original
 * gave. Secrets are replaced: the case logs in as its own user with a
 * placeholder password. */
#ifndef MP_RECORD_CASE_H
#define MP_RECORD_CASE_H

#include <stddef.h>
#include <stdio.h>

#include "harness/record/record.h"

/* The user and password every recorded case logs in with. */
#define MP_REC_USER "probe@example.test"
#define MP_REC_PASSWORD "replay-placeholder"
/* The token a recording of an OAuth login logs in with (no secret). */
#define MP_REC_TOKEN "replay-placeholder-token"

struct mp_rec_case_opts {
  const char *name;     /* the case's name, or NULL */
  const char *password; /* the real password, scrubbed from every line */
  int anonymize;        /* replace host names, domains and addresses */
};

/* Writes the case for r's first session to out. 0, or -1 with a reason
 * in err (nothing to replay, no memory). */
int mp_rec_write_case(const struct mp_rec *r, const struct mp_rec_case_opts *o,
                      FILE *out, char *err, size_t errlen);

#endif
