/* Reporters for `mailprobe run`: human (a line per case, then the failures
 * with their diffs and the end of the probe's transcript, then "N passed,
 * N failed"), TAP version 13, JUnit XML and JSON. Cases are handed over in
 * file order as they finish; the reporter writes what it can at once and
 * the rest at the end. Pure: writes to a FILE, knows no event loop. */
#ifndef MP_REPORT_H
#define MP_REPORT_H

#include <stddef.h>
#include <stdio.h>

struct mp_result;

/* What came out of one case file. */
struct mp_outcome {
  const char *file; /* the path */
  const char *name; /* the case's name, or NULL */
  int passed;
  int error;      /* the case could not run at all (its file does not
                     parse): JUnit's <error>, not a <failure> */
  double seconds; /* wall time of the case */
  char **diffs;   /* "error: expected timeout, got ..." */
  size_t ndiffs;
  const struct mp_result *result; /* the probe's, or NULL (no probe ran) */
};

enum mp_report_format {
  MP_REPORT_HUMAN = 0,
  MP_REPORT_TAP,
  MP_REPORT_JUNIT,
  MP_REPORT_JSON
};

/* "human" -> MP_REPORT_HUMAN ...; -1 if unknown. */
int mp_report_format_from_name(const char *name);

struct mp_report_opts {
  enum mp_report_format format;
  int color;   /* human: ANSI colours (the caller checks the tty) */
  int verbose; /* human: whole transcripts of failures, details */
  size_t tail; /* transcript lines shown per failure (0: 12) */
};

struct mp_reporter;

/* A reporter for ncases cases writing to out. NULL when out of memory. */
struct mp_reporter *mp_reporter_new(FILE *out, size_t ncases,
                                    const struct mp_report_opts *opts);

/* One case, in order. The outcome must stay valid until mp_reporter_end
 * (the human failure list and JUnit/JSON are written at the end). */
void mp_reporter_case(struct mp_reporter *rep, const struct mp_outcome *o);

/* Writes what is left (failures, closing line, XML, JSON), frees the
 * reporter and returns the number of failed cases. */
size_t mp_reporter_end(struct mp_reporter *rep);

/* The JUnit classname for a file: its folder with '/' as '.'
 * ("cases/smtp/x.yaml" -> "cases.smtp"), into buf. */
void mp_report_classname(const char *file, char *buf, size_t len);

#endif
