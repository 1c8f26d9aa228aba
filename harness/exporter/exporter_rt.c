/* Round trips in the exporter: one slot per module and target, so a
 * round trip never overlaps itself (the seeds: no new test until the
 * previous one ends). A scrape that finds one running gets the last
 * result at once, marked stale; with none yet it waits, until the round
 * trip ends or its scrape budget is spent (then it gets a failure that
 * says the round trip is still running). Mode previous remembers per
 * target, in the module's state file (one target a line), that a run
 * sent a message. */
#include "harness/exporter/exporter_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/case/case.h"
#include "harness/config/module.h"
#include "harness/http/http.h"
#include "wire/errors.h"

/* A scrape waiting for a round trip. */
struct waiter {
  struct waiter *next;
  struct mp_exporter *e;
  struct mp_exp_slot *slot;
  struct mp_http_req *req;
  struct mp_exp_job *job; /* what the answer is rendered with */
  uv_timer_t timer;
};

struct mp_exp_slot {
  struct mp_exp_slot *next;
  char *module, *target;
  int running;
  struct mp_result *last;
  uint64_t last_end_ms; /* uv_now when it ended */
  int sent_before;      /* mode previous: a run sent a message */
  struct waiter *waiters;
};

static struct mp_exp_slot *find_slot(struct mp_exporter *e, const char *module,
                                     const char *target)
{
  struct mp_exp_slot *s;
  for (s = e->slots; s != NULL; s = s->next)
    if (strcmp(s->module, module) == 0 && strcmp(s->target, target) == 0)
      return s;
  s = calloc(1, sizeof *s);
  if (s == NULL)
    return NULL;
  s->module = strdup(module);
  s->target = strdup(target);
  if (s->module == NULL || s->target == NULL) {
    free(s->module);
    free(s->target);
    free(s);
    return NULL;
  }
  s->next = e->slots;
  e->slots = s;
  return s;
}

/* 1 if the state file lists target. */
static int state_has(const char *path, const char *target)
{
  char line[512];
  FILE *f = fopen(path, "r");
  int found = 0;
  if (f == NULL)
    return 0;
  while (!found && fgets(line, sizeof line, f) != NULL) {
    line[strcspn(line, "\r\n")] = '\0';
    found = strcmp(line, target) == 0;
  }
  fclose(f);
  return found;
}

static void state_add(const char *path, const char *target)
{
  FILE *f = fopen(path, "a");
  if (f == NULL || fprintf(f, "%s\n", target) < 0 || fclose(f) != 0)
    fprintf(stderr, "mailprobe exporter: %s: %s\n", path, strerror(errno));
}

static void on_waiter_closed(uv_handle_t *h)
{
  struct waiter *w = h->data;
  struct mp_exp_job *j = w->job;
  free(w);
  mp_exp_job_free(j);
}

/* Answers w with r (NULL: out of memory, 503) and lets it go. */
static void answer(struct waiter *w, const struct mp_result *r, int stale)
{
  struct mp_exp_slot *s = w->slot;
  struct waiter **p;
  struct mp_probe_meta m = {w->job->m->name, 1, stale, 0};
  if (stale)
    m.age_s = (double)(uv_now(w->e->loop) - s->last_end_ms) / 1000.0;
  for (p = &s->waiters; *p != NULL && *p != w; p = &(*p)->next)
    ;
  if (*p == w)
    *p = w->next;
  if (r != NULL)
    mp_exp_answer(w->req, w->job, r, &m);
  else
    mp_http_reply(w->req, 503, "text/plain", "out of memory\n", 14);
  uv_close((uv_handle_t *)&w->timer, on_waiter_closed);
}

/* A waiter's scrape budget is spent and the round trip still runs. */
static void on_waiter_timeout(uv_timer_t *t)
{
  struct waiter *w = t->data;
  struct mp_exp_slot *s = w->slot;
  struct mp_result *r;
  if (s->last != NULL) {
    w->e->stats.stale_answers++;
    answer(w, s->last, 1);
    return;
  }
  if ((r = mp_result_new()) == NULL) {
    answer(w, NULL, 0);
    return;
  }
  r->err = MP_E_TIMEOUT;
  r->phase = MP_PHASE_FETCH;
  r->total_us = w->job->timeout_ms * 1000;
  mp_result_set_detail(r, "the round trip is still running");
  answer(w, r, 0);
  mp_result_free(r);
}

/* The round trip ended: keep its result, answer every waiter. */
static void on_rt(struct mp_result *r, const char *token, void *data)
{
  struct mp_exp_job *j = data;
  struct mp_exp_slot *s = j->slot;
  const struct mp_case_rt *rt = j->m->probe.rt;

  s->running = 0;
  if (rt->mode == MP_RT_PREVIOUS && rt->state_file != NULL &&
      r->sent_at_us != 0 && token != NULL && token[0] != '\0' &&
      !s->sent_before) {
    s->sent_before = 1;
    if (!state_has(rt->state_file, s->target))
      state_add(rt->state_file, s->target);
  }
  mp_exp_record(j->e, j, r);
  mp_result_free(s->last);
  s->last = r;
  s->last_end_ms = uv_now(j->e->loop);
  while (s->waiters != NULL)
    answer(s->waiters, r, 0);
  mp_exp_job_free(j);
}

/* One half of the round trip: its host is its own target or the
 * request's; its timeout at most the scrape's. */
static void half_opts(struct mp_probe_opts *o, const struct mp_case_probe *half,
                      const char *host, uint64_t timeout_ms)
{
  *o = half->opts;
  if (half->host == NULL)
    o->host = host;
  if (o->timeout_ms == 0 || o->timeout_ms > timeout_ms)
    o->timeout_ms = timeout_ms;
  if (o->connect_timeout_ms == 0 || o->connect_timeout_ms > o->timeout_ms)
    o->connect_timeout_ms = o->timeout_ms;
}

/* Starts the slot's round trip with j (the first waiter's job is a copy). */
static int start_rt(struct mp_exp_job *j)
{
  const struct mp_case_rt *rt = j->m->probe.rt;
  struct mp_rt_opts *o = j->rto = calloc(1, sizeof *j->rto);
  struct mp_exp_slot *s = j->slot;

  if (o == NULL)
    return MP_E_NO_RESOURCES;
  half_opts(&o->send, &rt->send, j->host, j->timeout_ms);
  half_opts(&o->fetch, &rt->fetch, j->host, j->timeout_ms);
  o->send.proto = MP_PROTO_SMTP;
  if (rt->send.host == NULL && j->port != 0)
    o->send.port = j->port;
  mp_case_rt_opts(rt, o);
  if (o->mode == MP_RT_PREVIOUS && !s->sent_before && rt->state_file != NULL)
    s->sent_before = state_has(rt->state_file, s->target);
  o->first_run = !s->sent_before;
  s->running = 1;
  return mp_roundtrip_start(j->e->loop, o, on_rt, j);
}

/* A waiter for j's request, with its own job (the answer's module and
 * debug flag); the job counts as in flight while it waits. */
static int add_waiter(struct mp_exp_job *j, struct mp_exp_slot *s)
{
  struct waiter *w = calloc(1, sizeof *w);
  if (w == NULL)
    return -1;
  w->e = j->e;
  w->slot = s;
  w->req = j->req;
  w->job = j;
  uv_timer_init(j->e->loop, &w->timer);
  w->timer.data = w;
  uv_timer_start(&w->timer, on_waiter_timeout, j->timeout_ms, 0);
  w->next = s->waiters;
  s->waiters = w;
  return 0;
}

void mp_exp_roundtrip(struct mp_exp_job *j)
{
  struct mp_exporter *e = j->e;
  struct mp_exp_slot *s = find_slot(e, j->m->name, j->target);
  struct mp_exp_job *run;

  if (s == NULL) {
    mp_http_reply(j->req, 503, "text/plain", "out of memory\n", 14);
    mp_exp_job_free(j);
    return;
  }
  j->slot = s;
  if (s->running && s->last != NULL) {
    struct mp_probe_meta m = {j->m->name, 1, 1, 0};
    m.age_s = (double)(uv_now(e->loop) - s->last_end_ms) / 1000.0;
    e->stats.stale_answers++;
    mp_exp_answer(j->req, j, s->last, &m);
    mp_exp_job_free(j);
    return;
  }
  if (add_waiter(j, s) < 0) {
    mp_http_reply(j->req, 503, "text/plain", "out of memory\n", 14);
    mp_exp_job_free(j);
    return;
  }
  if (s->running)
    return;
  /* The run gets a job of its own: it outlives the scrape that started
   * it when it runs past the scrape's budget. */
  run = malloc(sizeof *run);
  if (run == NULL) {
    on_waiter_timeout(&s->waiters->timer);
    return;
  }
  *run = *j;
  run->rto = NULL;
  run->req = NULL;
  run->debug = 0;
  mp_exporter_config_ref(run->conf);
  e->jobs++;
  e->stats.in_flight++;
  {
    struct mp_module_stats *ms =
        mp_exporter_stats_module(&e->stats, j->m->name);
    if (ms != NULL)
      ms->in_flight++;
  }
  if (start_rt(run) < 0) {
    struct mp_result *r = mp_result_new();
    s->running = 0;
    if (r != NULL) {
      r->err = MP_E_NO_RESOURCES;
      mp_result_set_detail(r, "the round trip did not start");
      on_rt(r, NULL, run);
    } else {
      mp_exp_job_free(run);
    }
  }
}

void mp_exp_slots_free(struct mp_exporter *e)
{
  while (e->slots != NULL) {
    struct mp_exp_slot *s = e->slots;
    e->slots = s->next;
    mp_result_free(s->last);
    free(s->module);
    free(s->target);
    free(s);
  }
}
