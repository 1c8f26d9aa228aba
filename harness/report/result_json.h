/* A probe result in the three shapes monitoring wants: the JSON object
 * that `--format json` prints (status, error, phase, reply, timings_us,
 * tls, auth, transcript), one Nagios plugin line with perfdata, and
 * Prometheus text exposition. Shared by `mailprobe check` and the `run`
 * reporters. Pure: no event loop. */
#ifndef MP_RESULT_JSON_H
#define MP_RESULT_JSON_H

#include <stdint.h>
#include <stdio.h>

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
  const char *proto;    /* "smtp", "pop3", "imap" (upper-cased for Nagios) */
  const char *target;   /* "mx.example.com:25"; NULL: the result's address */
  uint64_t warning_us;  /* time above this: WARNING (0: none); the time
                           is the delivery time of a round trip, else the
                           total */
  uint64_t critical_us; /* time above this: CRITICAL (0: none) */
  uint64_t timeout_us;  /* the probe's timeout: perfdata max (0: none) */
};

/* Writes the result as one JSON object: the one `check --format json` and
 * `roundtrip --format json` print, and `run --format json` nests. */
void mp_result_write_json(struct mp_json *j, const struct mp_result *r);

/* The same as a malloc'd string (pretty: indented); NULL when out of
 * memory. */
char *mp_result_to_json(const struct mp_result *r, int pretty);

/* The Nagios state of a result under the thresholds of f. */
enum mp_nagios_state mp_result_nagios_state(const struct mp_result *r,
                                            const struct mp_result_fmt *f);

/* The Nagios plugin output: one line (no newline), "SMTP OK - ... | perf",
 * malloc'd into *out. Returns the exit code (0..3). */
int mp_result_nagios(const struct mp_result *r, const struct mp_result_fmt *f,
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
