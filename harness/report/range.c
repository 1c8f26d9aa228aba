/* Nagios threshold ranges (harness/report/range.h). */
#include "harness/report/range.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "harness/case/case.h"

/* One end: a duration, at most 31 bytes. */
static int parse_end(const char *s, size_t n, uint64_t *us)
{
  char buf[32];

  if (n == 0 || n >= sizeof(buf))
    return -1;
  memcpy(buf, s, n);
  buf[n] = '\0';
  return mp_duration_parse(buf, us);
}

/* "12.5" for 12500000 us: seconds, trailing zeros dropped. */
static void seconds(char *buf, size_t n, uint64_t us)
{
  int len =
      snprintf(buf, n, "%" PRIu64 ".%06" PRIu64, us / 1000000, us % 1000000);

  while (len > 0 && buf[len - 1] == '0')
    buf[--len] = '\0';
  if (len > 0 && buf[len - 1] == '.')
    buf[--len] = '\0';
}

int mp_range_parse(const char *text, struct mp_range *r)
{
  struct mp_range v = {0};
  const char *p = text, *colon;
  char lo[24] = "", hi[24] = "";

  memset(r, 0, sizeof(*r));
  if (!p || !*p)
    return -1;
  if (*p == '@') {
    v.inside = 1;
    p++;
  }
  colon = strchr(p, ':');
  if (!colon) {
    /* "10": 0..10. */
    if (parse_end(p, strlen(p), &v.high_us) < 0)
      return -1;
  } else {
    if (colon - p == 1 && *p == '~')
      v.no_low = 1;
    else if (parse_end(p, (size_t)(colon - p), &v.low_us) < 0)
      return -1;
    if (!colon[1])
      v.no_high = 1;
    else if (parse_end(colon + 1, strlen(colon + 1), &v.high_us) < 0)
      return -1;
    if (v.no_low && v.no_high)
      return -1;
    if (!v.no_low && !v.no_high && v.low_us > v.high_us)
      return -1; /* the guidelines: start <= end */
  }
  if (v.no_low)
    strcpy(lo, "~");
  else
    seconds(lo, sizeof(lo), v.low_us);
  if (!v.no_high)
    seconds(hi, sizeof(hi), v.high_us);
  if (!colon)
    snprintf(v.text, sizeof(v.text), "%s%s", v.inside ? "@" : "", hi);
  else
    snprintf(v.text, sizeof(v.text), "%s%s:%s", v.inside ? "@" : "", lo, hi);
  v.set = 1;
  *r = v;
  return 0;
}

int mp_range_alerts(const struct mp_range *r, uint64_t us)
{
  int in;

  if (!r || !r->set)
    return 0;
  in = (r->no_low || us >= r->low_us) && (r->no_high || us <= r->high_us);
  return r->inside ? in : !in;
}

int mp_range_is_upper(const struct mp_range *r)
{
  return r->set && !r->inside && !r->no_low && r->low_us == 0 && !r->no_high;
}
