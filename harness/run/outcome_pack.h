/* A case's outcome as bytes: what a case run in a process of its own
 * (harness/run/isolate.c) hands back to the run. Passed, seconds, the diffs and
 * the probe's whole result go in; file and name stay with the caller (they
 * are the parent's strings). The bytes are native (same binary on both
 * ends); the reader checks every length, so a child that died half-way
 * through its write gives an error, never a crash. */
#ifndef MP_OUTCOME_PACK_H
#define MP_OUTCOME_PACK_H

#include <stddef.h>

struct mp_outcome;
struct mp_result;

/* The bytes of o and of result (NULL: none) in a malloc'd buffer, its
 * length in *len. NULL when out of memory. */
char *mp_outcome_pack(const struct mp_outcome *o,
                      const struct mp_result *result, size_t *len);

/* Reads back what mp_outcome_pack wrote: sets o->passed, o->seconds,
 * o->diffs and o->ndiffs (malloc'd, the caller's) and *result (a new
 * result, or NULL when none was packed). 0, or -1 when the bytes are cut
 * short or not an outcome (then nothing is allocated). */
int mp_outcome_unpack(const char *buf, size_t len, struct mp_outcome *o,
                      struct mp_result **result);

#endif
