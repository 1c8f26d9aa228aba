/* Reading a big history on every core (harness/report/history_stats.h):
 * the file is cut at line ends into parts, each part counted by a thread
 * of its own into numbers of its own, and the parts' numbers are merged
 * in file order. Counts, days, latency buckets and chart slots add up; an
 * outage cut by a part's end is joined with its continuation. */
#include "harness/report/history_stats.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_PARTS 8
#define PARALLEL_FROM (64u << 20) /* bytes; smaller files: one part */

struct part {
  int fd;
  uint64_t from, to;
  const struct mp_hs_opts *o;
  struct mp_hs hs;
  int rc;
  char err[256];
};

static void *run_part(void *arg)
{
  struct part *p = arg;
  p->rc = mp_hs_read_part(p->fd, p->from, p->to, 1, p->o, &p->hs, p->err,
                          sizeof(p->err));
  return NULL;
}

/* The first line start at or after off (size when none is left). */
static uint64_t line_start(int fd, uint64_t off, uint64_t size)
{
  char buf[65536];
  while (off < size) {
    ssize_t got = pread(fd, buf, sizeof(buf), (off_t)off);
    if (got <= 0)
      return size;
    char *nl = memchr(buf, '\n', (size_t)got);
    if (nl)
      return off + (uint64_t)(nl - buf) + 1;
    off += (uint64_t)got;
  }
  return size;
}

static unsigned parts_for(const struct mp_hs_opts *o, uint64_t size)
{
  if (o->parts)
    return o->parts > MAX_PARTS ? MAX_PARTS : o->parts;
  if (size < PARALLEL_FROM)
    return 1;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus < 1)
    return 1;
  return cpus > MAX_PARTS ? MAX_PARTS : (unsigned)cpus;
}

int mp_hs_read_parts(FILE *f, const struct mp_hs_opts *o, struct mp_hs *hs,
                     char *err, size_t len)
{
  struct stat st;
  int fd = fileno(f);

  if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
    return mp_hs_read_part(fd, 0, 0, 0, o, hs, err, len);
  uint64_t size = (uint64_t)st.st_size;
  unsigned n = parts_for(o, size);
  if (n <= 1)
    return mp_hs_read_part(fd, 0, size, 1, o, hs, err, len);

  struct part parts[MAX_PARTS];
  pthread_t tid[MAX_PARTS];
  int started[MAX_PARTS];
  uint64_t cut = 0;
  memset(parts, 0, sizeof(parts));
  for (unsigned i = 0; i < n; i++) {
    parts[i].fd = fd;
    parts[i].o = o;
    parts[i].from = cut;
    cut = i + 1 == n ? size : line_start(fd, size * (i + 1) / n, size);
    if (cut < parts[i].from)
      cut = parts[i].from;
    parts[i].to = cut;
    /* Every part cuts its chart slots over the same period. */
    parts[i].hs.from_ms = hs->from_ms;
    parts[i].hs.to_ms = hs->to_ms;
  }
  for (unsigned i = 0; i < n; i++)
    started[i] = pthread_create(&tid[i], NULL, run_part, &parts[i]) == 0;
  int rc = 0;
  for (unsigned i = 0; i < n; i++) {
    if (started[i])
      pthread_join(tid[i], NULL);
    else
      run_part(&parts[i]); /* no thread: read it here */
    if (parts[i].rc < 0 && rc == 0) {
      snprintf(err, len, "%s", parts[i].err);
      rc = -1;
    }
  }
  /* The first part's numbers are the start; the others follow in order. */
  uint64_t from_ms = hs->from_ms, to_ms = hs->to_ms;
  *hs = parts[0].hs;
  hs->from_ms = from_ms;
  hs->to_ms = to_ms;
  for (unsigned i = 1; i < n; i++)
    if (mp_hs_merge(hs, &parts[i].hs) < 0 && rc == 0) {
      snprintf(err, len, "out of memory");
      rc = -1;
    }
  return rc;
}

static int add_outages(struct mp_hs_monitor *m, const struct mp_hs_outage *v,
                       size_t n)
{
  if (!n)
    return 0;
  if (m->noutages + n > m->cap_outages) {
    size_t nc = m->noutages + n;
    struct mp_hs_outage *no = realloc(m->outages, nc * sizeof(*no));
    if (!no)
      return -1;
    m->outages = no;
    m->cap_outages = nc;
  }
  memcpy(m->outages + m->noutages, v, n * sizeof(*v));
  m->noutages += n;
  return 0;
}

/* b (later in the file) into a, the same monitor. */
static int merge_monitor(struct mp_hs_monitor *a, struct mp_hs_monitor *b)
{
  size_t skip = 0;

  if (a->in_outage && b->tests) {
    struct mp_hs_outage *open = &a->outages[a->noutages - 1];
    if (!b->first_ok) {
      /* b starts failing: its first outage is a's, going on. */
      open->end_ms = b->outages[0].end_ms;
      open->tests += b->outages[0].tests;
      open->alerted |= b->outages[0].alerted;
      skip = 1;
    } else {
      open->end_ms = b->first_test_ms;
    }
  }
  if (add_outages(a, b->outages + skip, b->noutages - skip) < 0)
    return -1;
  if (b->tests) {
    a->in_outage = b->in_outage;
    if (!a->tests) {
      a->first_ok = b->first_ok;
      a->first_test_ms = b->first_test_ms;
    }
  }
  for (size_t d = 0; d < b->ndays; d++) {
    struct mp_hs_day *day = mp_hs_day_of(a, b->days[d].day);
    if (!day)
      return -1;
    day->tests += b->days[d].tests;
    day->ok += b->days[d].ok;
  }
  for (int s = 0; s < MP_HS_SERIES; s++) {
    if (!b->hist[s])
      continue;
    if (!a->hist[s]) {
      a->hist[s] = b->hist[s];
      b->hist[s] = NULL;
    } else {
      for (size_t k = 0; k < MP_HS_BUCKETS; k++)
        a->hist[s][k] += b->hist[s][k];
    }
    a->nlat[s] += b->nlat[s];
  }
  for (int s = 0; s < MP_HS_SLOTS; s++) {
    struct mp_hs_slot *x = &a->slots[s];
    const struct mp_hs_slot *y = &b->slots[s];
    x->tests += y->tests;
    x->ok += y->ok;
    for (int k = 0; k < MP_HS_SERIES; k++) {
      x->lat_sum_us[k] += y->lat_sum_us[k];
      x->lat_n[k] += y->lat_n[k];
    }
  }
  if (b->first_ms && (!a->first_ms || b->first_ms < a->first_ms))
    a->first_ms = b->first_ms;
  if (b->last_ms > a->last_ms)
    a->last_ms = b->last_ms;
  a->tests += b->tests;
  a->ok += b->ok;
  a->alerts += b->alerts;
  a->recoveries += b->recoveries;
  a->actions += b->actions;
  a->actions_failed += b->actions_failed;
  return 0;
}

int mp_hs_merge(struct mp_hs *into, struct mp_hs *from)
{
  int rc = 0;

  into->lines += from->lines;
  into->used += from->used;
  into->skipped += from->skipped;
  for (size_t i = 0; i < from->nmons && rc == 0; i++) {
    struct mp_hs_monitor *a = mp_hs_monitor_of(into, from->mons[i].name);
    if (!a || merge_monitor(a, &from->mons[i]) < 0)
      rc = -1;
  }
  mp_hs_free(from);
  return rc;
}
