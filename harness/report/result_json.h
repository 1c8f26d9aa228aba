/* A probe result in the three shapes monitoring wants: the JSON object
 * that `--format json` prints (status, error, phase, reply, timings_us,
 * tls, auth, transcript), one Nagios plugin line with perfdata, and
 * Prometheus text exposition. Shared by `mailprobe check` and the `run`
 * reporters. Pure: no event loop. */
#ifndef MP_RESULT_JSON_H
#define MP_RESULT_JSON_H

#include <stdint.h>
#include <stdio.h>

#include "harness/report/range.h"

struct mp_json;
struct mp_result;

/* Nagios plugin exit codes. */
enum mp_nagios_state {
  MP_NAGIOS_OK = 0,
  MP_NAGIOS_WARNING = 1,
  MP_NAGIOS_CRITICAL = 2,
  MP_NAGIOS_UNKNOWN = 3
};

/* What the text forms say besides the result itself. */
struct mp_result_fmt {
  const char *proto;       /* "smtp", "pop3", "imap" (upper-cased for Nagios) */
  const char *target;      /* "mx.example.com:25"; NULL: the result's address */
  struct mp_range warning; /* a time alerting here: WARNING; the time is
                              the delivery time of a round trip, else the
                              total */
  struct mp_range critical; /* a time alerting here: CRITICAL */
  int cert_warning_days;    /* certificate expiring in fewer days: WARNING
                               (0: none), as check_smtp's -D */
  int cert_critical_days;   /* the same, CRITICAL (0: none) */
  uint64_t timeout_us;      /* the probe's timeout: perfdata max (0: none) */
};

/* Writes the result as one JSON object: the one `check --format json` and
 * `roundtrip --format json` print, and `run --format json` nests. Its
 * "state" is the Nagios state under no thresholds (a failure CRITICAL or
 * UNKNOWN, a success OK or WARNING); docs/result.schema.json describes it. */
void mp_result_write_json(struct mp_json *j, const struct mp_result *r);

/* The same under f's thresholds (f may be NULL: none): "state" is the one
 * the exit code and the other formats give, and "thresholds" says which
 * they were. */
void mp_result_write_json_fmt(struct mp_json *j, const struct mp_result *r,
                              const struct mp_result_fmt *f);

/* mp_result_write_json_fmt as a malloc'd string (pretty: indented); NULL
 * when out of memory. */
char *mp_result_to_json_fmt(const struct mp_result *r,
                            const struct mp_result_fmt *f, int pretty);

/* The same without thresholds. */
char *mp_result_to_json(const struct mp_result *r, int pretty);

/* "OK", "WARNING", "CRITICAL", "UNKNOWN". */
const char *mp_nagios_state_name(enum mp_nagios_state st);

/* The Nagios state of a result under the thresholds of f. */
enum mp_nagios_state mp_result_nagios_state(const struct mp_result *r,
                                            const struct mp_result_fmt *f);

/* The Nagios plugin output: one line (no newline), "SMTP OK - ... | perf",
 * malloc'd into *out. Returns the exit code (0..3). */
int mp_result_nagios(const struct mp_result *r, const struct mp_result_fmt *f,
                     char **out);

/* The same line under a state the caller decided (the monitor's: a
 * failed test while still Warn is WARNING); returns st. */
int mp_result_nagios_as(const struct mp_result *r,
                        const struct mp_result_fmt *f, enum mp_nagios_state st,
                        char **out);

/* Prometheus text exposition (format 0.0.4), malloc'd; NULL when out of
 * memory. Labels protocol and target on every sample. */
char *mp_result_prometheus(const struct mp_result *r,
                           const struct mp_result_fmt *f);

/* The three output forms of `check` and `roundtrip`, in this order. */
enum mp_out_format { MP_OUT_NAGIOS = 0, MP_OUT_JSON, MP_OUT_PROMETHEUS };

/* "nagios", "json", "prometheus" as enum mp_out_format; -1 if unknown. */
int mp_out_format_from_name(const char *name);

/* Prints the result in that form to out and returns the Nagios exit code
 * (3 when out of memory; cmd names the command in that message). */
int mp_result_print(FILE *out, const struct mp_result *r,
                    const struct mp_result_fmt *f, enum mp_out_format form,
                    const char *cmd);

#endif
