/* A subject's run against one case, classed (docs/subjects.md, "Result
 * classes"): PASS, NON-STRICT, FAIL, UNSUPPORTED or ERROR, with a reason
 * in stable words (what a baseline compares) and the details. Pure. */
#ifndef MP_CLASSIFY_H
#define MP_CLASSIFY_H

#include <stddef.h>
#include <stdint.h>

#include "harness/subject/profile.h"

struct mp_case;
struct mp_cell;

/* What one run of a subject gave. */
struct mp_subject_run {
  const char *spawn_error; /* it did not start: why; else NULL */
  int64_t exit_status;
  int term_signal; /* 0, or the signal that ended it */
  int termed;      /* we ended it at its timeout plus grace */
  uint64_t elapsed_us;
  uint64_t given_timeout_ms; /* the timeout it was given */
  uint64_t grace_ms;
  const char *out, *err; /* captured, NUL-terminated */
};

/* The subject's verdict: the exit status through the profile's map, then
 * its regexes over stdout and stderr (unsupported, fail, ok: the first
 * that matches wins over the exit status); *named is the error its error
 * regexes name (0: none). */
enum mp_verdict mp_subject_verdict(const struct mp_subject *s,
                                   const struct mp_subject_run *r, int *named);

/* Classes a run of subject s against case c; server_diffs are what the
 * case's fake servers saw against expect.server (run/server_checks.c).
 * Fills cls, reason, detail, verdict, named, seconds and timeout_s of
 * cell (the caller keeps the rest). */
void mp_subject_classify(const struct mp_subject *s, const struct mp_case *c,
                         const struct mp_subject_run *r,
                         char *const *server_diffs, size_t ndiffs,
                         struct mp_cell *cell);

/* A case the subject cannot express: UNSUPPORTED with why. */
void mp_subject_unsupported(struct mp_cell *cell, const char *why);

/* mailprobe's own run as a cell: PASS when every expectation held, ERROR
 * when the case did not parse (parse_error), else FAIL with the key of
 * the first diff as its reason. */
void mp_subject_classify_builtin(int passed, const char *parse_error,
                                 char *const *diffs, size_t ndiffs,
                                 struct mp_cell *cell);

#endif
