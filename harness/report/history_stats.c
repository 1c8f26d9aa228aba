/* Reading a monitor history (harness/report/history_stats.h). Each line
 * is read by a small JSON reader that checks the whole line and keeps the
 * few top-level keys a report needs; a line it cannot read whole is
 * skipped and counted. */
#include "harness/report/history_stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SUB 128 /* buckets per octave */
#define NBUCKETS MP_HS_BUCKETS
#define CHUNK (1u << 20)
#define MAX_LINE (1u << 20)
#define MAX_DEPTH 16

/* ---- the JSON reader ---- */

struct jr {
  const char *p, *end;
};

static void ws(struct jr *j)
{
  while (j->p < j->end &&
         (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' || *j->p == '\n'))
    j->p++;
}

static int hexval(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* A string into buf (cut at cap - 1, always NUL-terminated; buf may be
 * NULL to skip it). \u escapes become UTF-8. */
static int str(struct jr *j, char *buf, size_t cap)
{
  size_t n = 0;
  if (j->p >= j->end || *j->p != '"')
    return -1;
  j->p++;
  for (;;) {
    /* The common case: a run of plain bytes. */
    const char *s = j->p;
    while (j->p < j->end && *j->p != '"' && *j->p != '\\' &&
           (unsigned char)*j->p >= 0x20)
      j->p++;
    if (buf && n + 1 < cap) {
      size_t k = (size_t)(j->p - s);
      if (k > cap - 1 - n)
        k = cap - 1 - n;
      memcpy(buf + n, s, k);
      n += k;
    }
    if (j->p >= j->end || (unsigned char)*j->p < 0x20)
      return -1;
    if (*j->p == '"') {
      j->p++;
      if (buf)
        buf[n] = '\0';
      return 0;
    }
    /* An escape. */
    if (j->end - j->p < 2)
      return -1;
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    char c = j->p[1], out[4];
    const char *e = c ? strchr(from, c) : NULL;
    size_t on = 1;
    j->p += 2;
    if (e) {
      out[0] = to[e - from];
    } else if (c == 'u') {
      if (j->end - j->p < 4)
        return -1;
      unsigned cp = 0;
      for (int i = 0; i < 4; i++) {
        int h = hexval(j->p[i]);
        if (h < 0)
          return -1;
        cp = cp * 16 + (unsigned)h;
      }
      j->p += 4;
      if (cp < 0x80) {
        out[0] = (char)cp;
      } else if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        on = 2;
      } else {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        on = 3;
      }
    } else {
      return -1;
    }
    if (buf && n + on < cap) {
      memcpy(buf + n, out, on);
      n += on;
    }
  }
}

/* A number; its integer part into *v (may be NULL). */
static int num(struct jr *j, int64_t *v)
{
  int neg = 0, digits = 0;
  int64_t x = 0;
  if (j->p < j->end && *j->p == '-') {
    neg = 1;
    j->p++;
  }
  while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
    if (x < INT64_MAX / 10)
      x = x * 10 + (*j->p - '0');
    j->p++;
    digits++;
  }
  if (!digits)
    return -1;
  if (j->p < j->end && *j->p == '.') {
    j->p++;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
      j->p++;
  }
  if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
    j->p++;
    if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
      j->p++;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
      j->p++;
  }
  if (v)
    *v = neg ? -x : x;
  return 0;
}

static int word(struct jr *j, const char *w)
{
  size_t n = strlen(w);
  if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
    return -1;
  j->p += n;
  return 0;
}

static int skip(struct jr *j, int depth);
static int key(struct jr *j, char *buf, size_t cap, const char **k, size_t *n);

/* Called per member of an object (k, n: its key) or item of an array (k
 * NULL) with j at the value, which it reads whole. */
typedef int (*each_fn)(struct jr *j, const char *k, size_t n, void *ctx);

/* An object (obj) or array at j, each value through each. */
static int items(struct jr *j, int obj, each_fn each, void *ctx)
{
  char close = obj ? '}' : ']', buf[32];
  const char *k = NULL;
  size_t n = 0;
  j->p++;
  ws(j);
  if (j->p < j->end && *j->p == close) {
    j->p++;
    return 0;
  }
  for (;;) {
    ws(j);
    if (obj) {
      if (key(j, buf, sizeof(buf), &k, &n) < 0)
        return -1;
      ws(j);
      if (j->p >= j->end || *j->p != ':')
        return -1;
      j->p++;
      ws(j);
    }
    if (each(j, k, n, ctx) < 0)
      return -1;
    ws(j);
    if (j->p >= j->end)
      return -1;
    if (*j->p == ',') {
      j->p++;
      continue;
    }
    if (*j->p == close) {
      j->p++;
      return 0;
    }
    return -1;
  }
}

static int skip_each(struct jr *j, const char *k, size_t n, void *ctx)
{
  (void)k;
  (void)n;
  return skip(j, *(const int *)ctx + 1);
}

/* An object or array, each value through skip. */
static int skip_container(struct jr *j, int depth, int obj)
{
  return items(j, obj, skip_each, &depth);
}

static int skip(struct jr *j, int depth)
{
  if (depth > MAX_DEPTH || j->p >= j->end)
    return -1;
  switch (*j->p) {
  case '"':
    return str(j, NULL, 0);
  case '{':
    return skip_container(j, depth, 1);
  case '[':
    return skip_container(j, depth, 0);
  case 't':
    return word(j, "true");
  case 'f':
    return word(j, "false");
  case 'n':
    return word(j, "null");
  default:
    return num(j, NULL);
  }
}

/* ---- one line ---- */

struct line {
  int64_t t_ms;
  char monitor[65];
  char status[8], error[40], phase[16], event[16], action[16];
  int has_t, has_failed, failed;
  int64_t total_us;
  int64_t timings[MP_PHASE_COUNT];
};

/* The string value or null of a key: "" for null. */
static int str_or_null(struct jr *j, char *buf, size_t cap)
{
  if (j->p < j->end && *j->p == 'n') {
    buf[0] = '\0';
    return word(j, "null");
  }
  return str(j, buf, cap);
}

/* A key in place: *k and *n its bytes when it holds no escape (all of
 * ours), else decoded into buf. */
static int key(struct jr *j, char *buf, size_t cap, const char **k, size_t *n)
{
  const char *s = j->p + 1, *q = s;
  if (j->p >= j->end || *j->p != '"')
    return -1;
  /* Keys are short: a plain loop beats two memchr calls. */
  while (q < j->end && *q != '"' && *q != '\\')
    q++;
  if (q < j->end && *q == '"') {
    *k = s;
    *n = (size_t)(q - s);
    j->p = q + 1;
    return 0;
  }
  if (str(j, buf, cap) < 0)
    return -1;
  *k = buf;
  *n = strlen(buf);
  return 0;
}

#define KEY_IS(k, n, lit) ((n) == sizeof(lit) - 1 && memcmp(k, lit, n) == 0)

/* A phase name as a span, to its enum; -1 if none. */
static int phase_of(const char *k, size_t n)
{
  /* The names as written (lower case), compared in place: five phases a
   * line, ten million lines. */
  for (int p = 0; p < MP_PHASE_COUNT; p++) {
    const char *name = mp_phase_name((enum mp_phase)p);
    if (name[0] == k[0] && strlen(name) == n && memcmp(name, k, n) == 0)
      return p;
  }
  return -1;
}

static int timing_each(struct jr *j, const char *k, size_t n, void *ctx)
{
  struct line *l = ctx;
  int64_t v;
  if (num(j, &v) < 0)
    return -1;
  int ph = phase_of(k, n);
  if (ph >= 0 && v >= 0)
    l->timings[ph] = v;
  return 0;
}

static int timings(struct jr *j, struct line *l)
{
  if (j->p >= j->end || *j->p != '{')
    return skip(j, 1);
  return items(j, 1, timing_each, l);
}

/* One value of the top level into l, by its key. */
static int field(struct jr *j, const char *k, size_t n, void *ctx)
{
  struct line *l = ctx;
  switch (n) {
  case 4:
    if (KEY_IS(k, n, "t_ms")) {
      l->has_t = 1;
      return num(j, &l->t_ms);
    }
    break;
  case 5:
    if (KEY_IS(k, n, "error"))
      return str_or_null(j, l->error, sizeof(l->error));
    if (KEY_IS(k, n, "phase"))
      return str_or_null(j, l->phase, sizeof(l->phase));
    if (KEY_IS(k, n, "event"))
      return str_or_null(j, l->event, sizeof(l->event));
    break;
  case 6:
    if (KEY_IS(k, n, "status"))
      return str(j, l->status, sizeof(l->status));
    if (KEY_IS(k, n, "action"))
      return str(j, l->action, sizeof(l->action));
    if (KEY_IS(k, n, "failed")) {
      l->has_failed = 1;
      l->failed = j->p < j->end && *j->p == 't';
    }
    break;
  case 7:
    if (KEY_IS(k, n, "monitor"))
      return str(j, l->monitor, sizeof(l->monitor));
    break;
  case 8:
    if (KEY_IS(k, n, "total_us"))
      return num(j, &l->total_us);
    break;
  case 10:
    if (KEY_IS(k, n, "timings_us"))
      return timings(j, l);
    break;
  }
  return skip(j, 1);
}

static int parse(const char *s, size_t len, struct line *l)
{
  struct jr j = {s, s + len};

  l->t_ms = 0;
  l->has_t = l->has_failed = l->failed = 0;
  l->monitor[0] = l->status[0] = l->error[0] = l->phase[0] = '\0';
  l->event[0] = l->action[0] = '\0';
  l->total_us = -1;
  for (int p = 0; p < MP_PHASE_COUNT; p++)
    l->timings[p] = -1;
  ws(&j);
  if (j.p >= j.end || *j.p != '{' || items(&j, 1, field, l) < 0)
    return -1;
  ws(&j);
  if (j.p != j.end || !l->has_t || !l->monitor[0] || l->t_ms < 0)
    return -1;
  if (!l->action[0] && strcmp(l->status, "ok") != 0 &&
      strcmp(l->status, "fail") != 0)
    return -1;
  return 0;
}

/* ---- the numbers ---- */

static size_t bucket_of(uint64_t v)
{
  if (v < SUB)
    return (size_t)v;
  int e = 63 - __builtin_clzll(v); /* >= 7 */
  size_t sub = (size_t)(v >> (e - 7)) - SUB;
  return SUB + (size_t)(e - 7) * SUB + sub;
}

/* The middle of bucket b. */
static uint64_t bucket_value(size_t b)
{
  if (b < SUB)
    return b;
  size_t e = (b - SUB) / SUB + 7, sub = (b - SUB) % SUB;
  uint64_t lo = (uint64_t)(SUB + sub) << (e - 7);
  return lo + ((1ull << (e - 7)) >> 1);
}

/* The array p of *cap items of size bytes, holding n, with room for one
 * more: p itself, or p moved to twice the room (8 at first); NULL when out
 * of memory (p and *cap unchanged). */
static void *room(void *p, size_t *cap, size_t n, size_t size)
{
  if (n < *cap)
    return p;
  size_t nc = *cap ? *cap * 2 : 8;
  void *q = realloc(p, nc * size);
  if (q)
    *cap = nc;
  return q;
}

struct mp_hs_monitor *mp_hs_monitor_of(struct mp_hs *hs, const char *name)
{
  /* From the last hit on: a history's lines come in rounds over the
   * monitors, so the next line's monitor is most often the next one. */
  size_t last = hs->last_hit, nl = strlen(name);
  for (size_t k = 0; k < hs->nmons; k++) {
    size_t i = last + k < hs->nmons ? last + k : last + k - hs->nmons;
    /* Names differ most at their end ("monitor-017", "monitor-018"). */
    if (hs->mons[i].name_len == nl &&
        hs->mons[i].name[nl - 1] == name[nl - 1] &&
        memcmp(hs->mons[i].name, name, nl) == 0) {
      hs->last_hit = i;
      return &hs->mons[i];
    }
  }
  struct mp_hs_monitor *mons =
      room(hs->mons, &hs->cap_mons, hs->nmons, sizeof(*hs->mons));
  if (!mons)
    return NULL;
  hs->mons = mons;
  struct mp_hs_monitor *m = &hs->mons[hs->nmons++];
  memset(m, 0, sizeof(*m));
  snprintf(m->name, sizeof(m->name), "%s", name);
  m->name_len = strlen(m->name);
  hs->last_hit = hs->nmons - 1;
  return m;
}

static int add_latency(struct mp_hs_monitor *m, int s, int64_t us)
{
  if (us < 0)
    return 0;
  if (!m->hist[s] && !(m->hist[s] = calloc(NBUCKETS, sizeof(uint32_t))))
    return -1;
  m->hist[s][bucket_of((uint64_t)us)]++;
  m->nlat[s]++;
  return 0;
}

struct mp_hs_day *mp_hs_day_of(struct mp_hs_monitor *m, int64_t day)
{
  for (size_t k = m->ndays; k-- > 0;)
    if (m->days[k].day == day)
      return &m->days[k];
  struct mp_hs_day *days =
      room(m->days, &m->cap_days, m->ndays, sizeof(*m->days));
  if (!days)
    return NULL;
  m->days = days;
  /* Kept in order of days (a clock set back inserts in the middle). */
  size_t at = m->ndays;
  while (at > 0 && m->days[at - 1].day > day)
    at--;
  memmove(&m->days[at + 1], &m->days[at], (m->ndays - at) * sizeof(*m->days));
  m->ndays++;
  memset(&m->days[at], 0, sizeof(m->days[at]));
  m->days[at].day = day;
  return &m->days[at];
}

static struct mp_hs_outage *new_outage(struct mp_hs_monitor *m)
{
  struct mp_hs_outage *v =
      room(m->outages, &m->cap_outages, m->noutages, sizeof(*m->outages));
  if (!v)
    return NULL;
  m->outages = v;
  struct mp_hs_outage *o = &m->outages[m->noutages++];
  memset(o, 0, sizeof(*o));
  return o;
}

static size_t slot_of(const struct mp_hs *hs, uint64_t t)
{
  if (t <= hs->from_ms || hs->to_ms <= hs->from_ms)
    return 0;
  uint64_t span = hs->to_ms - hs->from_ms + 1;
  uint64_t s = (t - hs->from_ms) * MP_HS_SLOTS / span;
  return s >= MP_HS_SLOTS ? MP_HS_SLOTS - 1 : (size_t)s;
}

int mp_hs_line(struct mp_hs *hs, const struct mp_hs_opts *o, const char *s,
               size_t len)
{
  struct line l;

  hs->lines++;
  if (parse(s, len, &l) < 0) {
    hs->skipped++;
    return -1;
  }
  if ((o->since_ms && (uint64_t)l.t_ms < o->since_ms) ||
      (o->monitor && strcmp(o->monitor, l.monitor) != 0))
    return 0;
  struct mp_hs_monitor *m = mp_hs_monitor_of(hs, l.monitor);
  if (!m)
    return -2;
  hs->used++;
  uint64_t t = (uint64_t)l.t_ms;
  if (!m->first_ms || t < m->first_ms)
    m->first_ms = t;
  if (t > m->last_ms)
    m->last_ms = t;
  if (l.action[0]) {
    m->actions++;
    if (l.has_failed && l.failed)
      m->actions_failed++;
    return 1;
  }
  int ok = l.status[0] == 'o'; /* parse() let only "ok" and "fail" by */
  struct mp_hs_day *d = mp_hs_day_of(m, l.t_ms / 86400000);
  if (!d)
    return -2;
  if (!m->tests) {
    m->first_ok = ok;
    m->first_test_ms = t;
  }
  m->tests++;
  d->tests++;
  struct mp_hs_slot *sl = &m->slots[slot_of(hs, t)];
  sl->tests++;
  if (ok) {
    m->ok++;
    d->ok++;
    sl->ok++;
    if (m->in_outage) {
      m->outages[m->noutages - 1].end_ms = t;
      m->in_outage = 0;
    }
  } else {
    if (!m->in_outage) {
      struct mp_hs_outage *out = new_outage(m);
      if (!out)
        return -2;
      out->start_ms = t;
      snprintf(out->cause, sizeof(out->cause), "%s in %s",
               l.error[0] ? l.error : "failed", l.phase[0] ? l.phase : "?");
      m->in_outage = 1;
    }
    m->outages[m->noutages - 1].tests++;
  }
  if (l.event[0] == 'a' && strcmp(l.event, "alert") == 0) {
    m->alerts++;
    if (m->in_outage)
      m->outages[m->noutages - 1].alerted = 1;
  } else if (l.event[0] == 'r' && strcmp(l.event, "recovery") == 0) {
    m->recoveries++;
  }
  /* Latency counts for tests that passed: a failed test's time is the
   * time to fail, not the server's speed. */
  if (ok) {
    for (int p = 0; p < MP_PHASE_COUNT; p++)
      if (l.timings[p] >= 0) {
        if (add_latency(m, p, l.timings[p]) < 0)
          return -2;
        sl->lat_sum_us[p] += (uint64_t)l.timings[p];
        sl->lat_n[p]++;
      }
    if (l.total_us >= 0) {
      if (add_latency(m, MP_HS_TOTAL, l.total_us) < 0)
        return -2;
      sl->lat_sum_us[MP_HS_TOTAL] += (uint64_t)l.total_us;
      sl->lat_n[MP_HS_TOTAL]++;
    }
  }
  return 1;
}

/* The time of the first and the last whole line, for the charts' period
 * (the file is in time order, give or take a clock step). */
static void period(FILE *f, struct mp_hs *hs)
{
  char buf[8192];
  struct line l;
  long end;

  /* A pipe is read once, by the reader: no peeking. */
  if (fseek(f, 0, SEEK_END) != 0 || fseek(f, 0, SEEK_SET) != 0)
    return;
  while (fgets(buf, sizeof(buf), f)) {
    size_t n = strcspn(buf, "\n");
    if (parse(buf, n, &l) == 0) {
      hs->from_ms = (uint64_t)l.t_ms;
      break;
    }
  }
  if (fseek(f, 0, SEEK_END) != 0 || (end = ftell(f)) < 0)
    return;
  long start = end > 65536 ? end - 65536 : 0;
  if (fseek(f, start, SEEK_SET) != 0)
    return;
  if (start > 0 && !fgets(buf, sizeof(buf), f)) /* a partial first line */
    return;
  while (fgets(buf, sizeof(buf), f)) {
    size_t n = strcspn(buf, "\n");
    if (parse(buf, n, &l) == 0 && (uint64_t)l.t_ms > hs->to_ms)
      hs->to_ms = (uint64_t)l.t_ms;
  }
  fseek(f, 0, SEEK_SET);
}

int mp_hs_read(FILE *f, const struct mp_hs_opts *o, struct mp_hs *hs, char *err,
               size_t len)
{
  memset(hs, 0, sizeof(*hs));
  hs->from_ms = o->from_ms;
  hs->to_ms = o->to_ms;
  if (!o->from_ms && !o->to_ms)
    period(f, hs);
  if (o->since_ms > hs->from_ms)
    hs->from_ms = o->since_ms;

  return mp_hs_read_parts(f, o, hs, err, len);
}

int mp_hs_read_part(int fd, uint64_t from, uint64_t to, int seekable,
                    const struct mp_hs_opts *o, struct mp_hs *hs, char *err,
                    size_t len)
{
  char *buf = malloc(CHUNK + MAX_LINE);
  size_t have = 0;
  uint64_t pos = from;
  int rc = 0, skipping = 0;

  if (!buf) {
    snprintf(err, len, "out of memory");
    return -1;
  }
  for (;;) {
    size_t want = CHUNK;
    if (seekable && to - pos < want)
      want = (size_t)(to - pos);
    ssize_t got = 0;
    if (want) {
      got = seekable ? pread(fd, buf + have, want, (off_t)pos)
                     : read(fd, buf + have, want);
      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0) {
        snprintf(err, len, "read error: %s", strerror(errno));
        rc = -1;
        break;
      }
    }
    pos += (uint64_t)got;
    have += (size_t)got;
    char *p = buf, *end = buf + have, *nl;
    while ((nl = memchr(p, '\n', (size_t)(end - p)))) {
      if (skipping) {
        skipping = 0; /* the end of an overlong line, counted already */
      } else if (mp_hs_line(hs, o, p, (size_t)(nl - p)) == -2) {
        snprintf(err, len, "out of memory");
        rc = -1;
        goto out;
      }
      p = nl + 1;
    }
    have = (size_t)(end - p);
    if (got == 0) {
      /* A last line without its newline was cut by a crash. */
      if (have && !skipping) {
        hs->lines++;
        hs->skipped++;
      }
      break;
    }
    if (have >= MAX_LINE) {
      /* Longer than any line we write: skipped up to its newline. */
      if (!skipping) {
        hs->lines++;
        hs->skipped++;
      }
      skipping = 1;
      have = 0;
      continue;
    }
    memmove(buf, p, have);
  }
out:
  free(buf);
  return rc;
}

int64_t mp_hs_percentile(const struct mp_hs_monitor *m, int s, double p)
{
  if (s < 0 || s >= MP_HS_SERIES || !m->nlat[s])
    return -1;
  uint64_t rank = (uint64_t)(p / 100.0 * (double)m->nlat[s] + 0.999999);
  if (rank < 1)
    rank = 1;
  uint64_t seen = 0;
  for (size_t b = 0; b < NBUCKETS; b++) {
    seen += m->hist[s][b];
    if (seen >= rank)
      return (int64_t)bucket_value(b);
  }
  return -1;
}

int64_t mp_hs_mttr_ms(const struct mp_hs_monitor *m)
{
  uint64_t sum = 0, n = 0;
  for (size_t i = 0; i < m->noutages; i++)
    if (m->outages[i].end_ms) {
      sum += m->outages[i].end_ms - m->outages[i].start_ms;
      n++;
    }
  return n ? (int64_t)(sum / n) : -1;
}

const char *mp_hs_series_name(int s)
{
  return s == MP_HS_TOTAL ? "total" : mp_phase_name((enum mp_phase)s);
}

void mp_hs_free(struct mp_hs *hs)
{
  for (size_t i = 0; i < hs->nmons; i++) {
    struct mp_hs_monitor *m = &hs->mons[i];
    free(m->outages);
    free(m->days);
    for (int s = 0; s < MP_HS_SERIES; s++)
      free(m->hist[s]);
  }
  free(hs->mons);
  memset(hs, 0, sizeof(*hs));
}
