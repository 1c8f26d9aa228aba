/* A monitor history (harness/monitor/history.h writes it) read into the
 * numbers `mailprobe report` shows: per monitor the tests and how many
 * passed (availability, in all and per UTC day), the outages (a run of
 * failed tests: start at the first failed test, end at the next passed
 * one, the cause is the first failure's error and phase), the mean time to
 * recovery over the outages that ended, latency percentiles per phase
 * (p50, p95, p99: nearest rank over log buckets 1/128 of an octave wide,
 * so within 0.6%), alerts, recoveries and actions run; and a time line cut
 * into slots for the charts. Lines that do not parse (a line cut by a
 * crash) are skipped and counted. Pure: reads a FILE *. */
#ifndef MP_HISTORY_STATS_H
#define MP_HISTORY_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "probes/result.h"

#define MP_HS_SLOTS 96             /* time slots of the charts */
#define MP_HS_TOTAL MP_PHASE_COUNT /* the index of the whole test's time */
#define MP_HS_SERIES (MP_PHASE_COUNT + 1)
/* Latency buckets of a series: 1 us wide up to 128 us, then 128 an
 * octave up to 2^64 us. */
#define MP_HS_BUCKETS (128 + 57 * 128)

struct mp_hs_outage {
  uint64_t start_ms, end_ms; /* end 0: still going at the end */
  uint64_t tests;            /* failed tests in it */
  int alerted;               /* it reached an alert */
  char cause[64];            /* "rejected in banner" */
};

struct mp_hs_day {
  int64_t day; /* days since 1970-01-01 (UTC) */
  uint64_t tests, ok;
};

struct mp_hs_slot {
  uint64_t tests, ok;
  uint64_t lat_sum_us[MP_HS_SERIES];
  uint32_t lat_n[MP_HS_SERIES];
};

struct mp_hs_monitor {
  char name[65];
  size_t name_len;
  int first_ok;           /* the first test passed (when tests > 0) */
  uint64_t first_test_ms; /* and when it ran */
  uint64_t tests, ok;
  uint64_t first_ms, last_ms;
  uint64_t alerts, recoveries, actions, actions_failed;
  struct mp_hs_outage *outages;
  size_t noutages, cap_outages;
  int in_outage;
  struct mp_hs_day *days;
  size_t ndays, cap_days;
  uint32_t *hist[MP_HS_SERIES]; /* log buckets, NULL until used */
  uint64_t nlat[MP_HS_SERIES];
  struct mp_hs_slot slots[MP_HS_SLOTS];
};

struct mp_hs {
  uint64_t lines, used, skipped; /* lines read, counted, skipped */
  uint64_t from_ms, to_ms;       /* the period the slots cut */
  struct mp_hs_monitor *mons;
  size_t nmons, cap_mons;
  size_t last_hit; /* the monitor of the last line */
};

struct mp_hs_opts {
  unsigned parts; /* a regular file is read in this many parts, each by a
                     thread of its own, then merged; 0: one per CPU (at
                     most 8) from 64 MiB on, else one */
  uint64_t since_ms;       /* lines before it are left out; 0: none */
  const char *monitor;     /* only this monitor; NULL: all */
  uint64_t from_ms, to_ms; /* the charts' period; 0: the first and the
                              last line's time (read from the file) */
};

/* Reads every line of f. 0, or -1 when out of memory or f cannot be read
 * (err says which). */
int mp_hs_read(FILE *f, const struct mp_hs_opts *o, struct mp_hs *out,
               char *err, size_t len);

/* Reads bytes [from, to) of fd (pread; or read() until the end when not
 * seekable) line by line into hs: what each thread of mp_hs_read does.
 * from must start a line. 0 or -1 with err. */
int mp_hs_read_part(int fd, uint64_t from, uint64_t to, int seekable,
                    const struct mp_hs_opts *o, struct mp_hs *hs, char *err,
                    size_t len);

/* mp_hs_read's reading after the period is known: the file cut at line
 * ends into parts read by threads, and their numbers merged in file order
 * (harness/report/history_merge.c). */
int mp_hs_read_parts(FILE *f, const struct mp_hs_opts *o, struct mp_hs *hs,
                     char *err, size_t len);

/* Adds what `from` counted (the part of the file after `into`'s) to
 * `into`; from is emptied and freed. An outage still open at the end of
 * into's part continues into from's first failed tests, or ends at its
 * first passed test. 0, or -1 when out of memory. */
int mp_hs_merge(struct mp_hs *into, struct mp_hs *from);

/* The monitor called name in hs, added when new; NULL when out of
 * memory. */
struct mp_hs_monitor *mp_hs_monitor_of(struct mp_hs *hs, const char *name);

/* A monitor's entry for a day (days since the epoch), added in order when
 * new; NULL when out of memory. */
struct mp_hs_day *mp_hs_day_of(struct mp_hs_monitor *m, int64_t day);

/* Feeds one line (without its newline): 1 used, 0 left out by the
 * options, -1 did not parse (counted as skipped). For tests. */
int mp_hs_line(struct mp_hs *hs, const struct mp_hs_opts *o, const char *line,
               size_t len);

/* The p-th percentile (0 < p <= 100) of series s in microseconds, or -1
 * when it has no values. */
int64_t mp_hs_percentile(const struct mp_hs_monitor *m, int s, double p);

/* Mean time to recovery over the outages that ended, in ms; -1: none. */
int64_t mp_hs_mttr_ms(const struct mp_hs_monitor *m);

/* The name of series s: a phase name, or "total". */
const char *mp_hs_series_name(int s);

void mp_hs_free(struct mp_hs *hs);

#endif
