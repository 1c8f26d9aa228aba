/* A Nagios threshold range, as the Monitoring Plugins development
 * guidelines write it ("Threshold and ranges"): "10" alerts outside 0..10,
 * "10:" below 10, "~:10" above 10, "10:20" outside 10..20 and "@10:20"
 * inside 10..20 (ends included). The ends are durations (seconds, or with
 * a unit: 500ms, 2m), kept in microseconds. Pure. */
#ifndef MP_RANGE_H
#define MP_RANGE_H

#include <stddef.h>
#include <stdint.h>

struct mp_range {
  int set;          /* 0: no threshold (never alerts) */
  int inside;       /* '@': alert inside the range, not outside */
  int no_low;       /* "~": no lower end */
  int no_high;      /* "10:": no upper end */
  uint64_t low_us;  /* lower end (0 unless given) */
  uint64_t high_us; /* upper end */
  char text[64];    /* the range in seconds, as perfdata writes it */
};

/* Reads text into r. 0, or -1 when it is not a range (r unset). */
int mp_range_parse(const char *text, struct mp_range *r);

/* 1 when a value of us microseconds alerts under r (never when unset). */
int mp_range_alerts(const struct mp_range *r, uint64_t us);

/* 1 when r is a plain upper bound ("10": alert above 10), whose value is
 * then r->high_us. */
int mp_range_is_upper(const struct mp_range *r);

#endif
