/* Baselines (`mailprobe run --baseline FILE`): the known class and reason
 * of each case for each subject, read from a JSON report of an earlier
 * run (`--format json`). A run fails on any change from it, a regression
 * or a fix, so the baseline stays true. Pure. */
#ifndef MP_BASELINE_H
#define MP_BASELINE_H

#include <stddef.h>

struct mp_cell;

struct mp_baseline_entry {
  char *subject;
  char *file;
  int cls;      /* enum mp_class */
  char *reason; /* or NULL */
};

struct mp_baseline {
  struct mp_baseline_entry *v;
  size_t n;
};

/* Reads a JSON report (the object --format json writes: cases[].file and
 * cases[].cells.SUBJECT.class / .reason). 0, or a negative code with
 * "file:line:column: message" in err. */
int mp_baseline_load(const char *path, struct mp_baseline **out, char *err,
                     size_t errlen);

/* The same from memory. */
int mp_baseline_parse(const char *buf, size_t len, const char *name,
                      struct mp_baseline **out, char *err, size_t errlen);

void mp_baseline_free(struct mp_baseline *b);

/* Holds a cell of this run against the baseline: 0 when the class and
 * reason are the baseline's (or, for a case the baseline does not hold,
 * when the cell is PASS); else 1 and cell->baseline says what changed
 * ("was FAIL (status: ...), now PASS"). */
int mp_baseline_check(const struct mp_baseline *b, const char *subject,
                      const char *file, struct mp_cell *cell);

#endif
