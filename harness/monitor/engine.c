/* The monitor engine (harness/monitor/engine.h). Every monitor has a
 * deadline on the loop's microsecond queue (wire/deadline.h: a thousand
 * monitors are a thousand heap entries, not a thousand libuv timers); when
 * it passes the monitor's test starts, or waits in a queue while the cap
 * of tests in flight is reached. A test's end feeds the state machine,
 * tells the hooks, starts the actions and sets the next deadline. */
#include "harness/monitor/engine.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <uv.h>

#include "harness/monitor/action.h"
#include "harness/report/range.h"
#include "probes/result.h"
#include "wire/conn.h"
#include "wire/deadline.h"
#include "wire/errors.h"

/* The longest the first tests are spread over. */
#define SPREAD_MAX_MS 10000

/* A before_test step under way: its monitor. */
struct mp_mon_prep {
  struct mon *m;
};

struct mon {
  struct mp_mon_engine *e;
  size_t i;
  const struct mp_mon_def *def;
  struct mp_monitor m;
  unsigned recoveries; /* recovery commands run in this outage */
  struct mp_deadline due;
  uint64_t due_us, start_us, wall_us;
  unsigned tests;
  int joined, running, waiting, stopped;
  struct mon *next_wait;
  struct mp_mon_prep prep;
  char *token; /* the running test's token (before_test), wiped after */
};

struct mp_mon_engine {
  uv_loop_t *loop;
  const struct mp_mon_def *defs;
  size_t n;
  struct mp_mon_engine_opts o;
  struct mon *mons;
  size_t live;      /* monitors not stopped */
  size_t in_flight; /* tests under way */
  size_t actions;   /* actions under way */
  struct mon *wait_head, *wait_tail;
  int stopping, sig_open, done;
  uv_signal_t sigint, sigterm, sighup;
  struct mp_mon_engine_stats st;
};

/* An action under way. */
struct act_ctx {
  struct mp_mon_engine *e;
  size_t i;
  enum mp_mon_action_kind kind;
  unsigned test;
  char **env;
};

static const char *const action_names[] = {"on_alert", "on_recovery",
                                           "recovery"};

void mp_mon_thresholds(struct mp_result_fmt *rf, uint64_t warning_ms,
                       uint64_t critical_ms)
{
  char text[32];
  if (warning_ms) {
    snprintf(text, sizeof(text), "%" PRIu64 "ms", warning_ms);
    mp_range_parse(text, &rf->warning);
  }
  if (critical_ms) {
    snprintf(text, sizeof(text), "%" PRIu64 "ms", critical_ms);
    mp_range_parse(text, &rf->critical);
  }
}

const char *mp_mon_action_name(enum mp_mon_action_kind k)
{
  return (unsigned)k < MP_ACT_KINDS ? action_names[k] : "unknown";
}

static void start_test(struct mon *m);
static void probe(struct mon *m, const struct mp_probe_opts *opts);
static void lost(struct mon *m);

static void check_done(struct mp_mon_engine *e)
{
  if (e->done || e->live || e->in_flight || e->actions)
    return;
  e->done = 1;
  if (e->sig_open) {
    e->sig_open = 0;
    uv_close((uv_handle_t *)&e->sigint, NULL);
    uv_close((uv_handle_t *)&e->sigterm, NULL);
    uv_close((uv_handle_t *)&e->sighup, NULL);
  }
  if (e->o.on_done)
    e->o.on_done(e->o.data);
}

static void stop_mon(struct mon *m)
{
  if (m->stopped)
    return;
  m->stopped = 1;
  if (m->joined) {
    m->joined = 0;
    mp_deadline_leave(&m->due);
  }
  m->e->live--;
}

static void run_waiting(struct mp_mon_engine *e)
{
  size_t cap =
      e->o.max_in_flight ? e->o.max_in_flight : MP_MON_DEFAULT_IN_FLIGHT;
  while (e->wait_head && e->in_flight < cap) {
    struct mon *m = e->wait_head;
    e->wait_head = m->next_wait;
    if (!e->wait_head)
      e->wait_tail = NULL;
    m->next_wait = NULL;
    m->waiting = 0;
    start_test(m);
  }
}

static void on_action_end(const struct mp_action_end *end, void *data)
{
  struct act_ctx *c = data;
  struct mp_mon_engine *e = c->e;
  struct mp_mon_action a = {c->i, &e->defs[c->i],       c->kind, c->test,
                            end,  (char *const *)c->env};

  if (mp_action_failed(end))
    e->st.actions_failed++;
  if (e->o.on_action)
    e->o.on_action(e->o.data, &a);
  mp_mon_env_free(c->env);
  free(c);
  e->actions--;
  check_done(e);
}

/* Starts one action; a failure to start is reported like an action that
 * did not run, and never touches the test. */
static void run_action(struct mon *m, enum mp_mon_action_kind kind,
                       const struct mp_mon_test *t)
{
  struct mp_mon_engine *e = m->e;
  char *const *argv = m->def->argv[kind];
  if (!argv || !argv[0])
    return;
  e->st.actions++;
  struct act_ctx *c = calloc(1, sizeof(*c));
  char *input = mp_mon_input_json(t, kind);
  if (c)
    c->env = mp_mon_env_build(t, kind);
  if (!c || !c->env || !input) {
    struct mp_action_end end;
    memset(&end, 0, sizeof(end));
    end.spawn_error = UV_ENOMEM;
    struct mp_mon_action a = {m->i, m->def, kind, t->test, &end, NULL};
    e->st.actions_failed++;
    if (e->o.on_action)
      e->o.on_action(e->o.data, &a);
    if (c)
      mp_mon_env_free(c->env);
    free(c);
    free(input);
    return;
  }
  c->e = e;
  c->i = m->i;
  c->kind = kind;
  c->test = t->test;
  struct mp_action_run run = {argv, c->env, input, m->def->action_timeout_ms,
                              e->o.grace_ms};
  e->actions++;
  if (mp_action_start(e->loop, &run, on_action_end, c) < 0) {
    struct mp_action_end end;
    memset(&end, 0, sizeof(end));
    end.spawn_error = UV_ENOMEM;
    on_action_end(&end, c);
  }
  free(input);
}

static uint64_t wall_now_us(void)
{
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

/* The running test's token, wiped and freed. */
static void drop_token(struct mon *m)
{
  if (!m->token)
    return;
  volatile char *p = m->token;
  while (*p)
    *p++ = '\0';
  free(m->token);
  m->token = NULL;
}

static void on_result(struct mp_result *r, void *data)
{
  struct mon *m = data;
  struct mp_mon_engine *e = m->e;
  struct mp_mon_test t;

  m->running = 0;
  e->in_flight--;
  m->tests++;
  e->st.tests++;
  memset(&t, 0, sizeof(t));
  t.index = m->i;
  t.def = m->def;
  t.test = m->tests;
  t.r = r;
  /* A time over --critical fails the test; over --warning it passes. */
  t.ok = r->ok && mp_result_nagios_state(r, &m->def->rf) <= MP_NAGIOS_WARNING;
  t.prev = m->m.state;
  t.event = mp_monitor_record(&m->m, t.ok);
  t.state = m->m.state;
  t.alert = m->m.alerts;
  t.failures = m->m.failures;
  t.late_us = (int64_t)(m->start_us - m->due_us);
  t.wall_us = m->wall_us;
  t.token = m->token;
  if (t.late_us > e->st.late_max_us)
    e->st.late_max_us = t.late_us;
  if (t.event == MP_MON_EV_ALERT) {
    e->st.alerts++;
    t.alert = m->m.alerts;
  } else if (t.event == MP_MON_EV_RECOVERY) {
    e->st.recoveries++;
    /* The recovery closes the outage it ends: the alert count of that
     * outage is what people are told. */
    t.alert = 0;
  }
  /* A passed test ends the outage and its count of recovery commands,
   * before the hook sees (and may save) the monitor. */
  if (t.ok)
    m->recoveries = 0;
  if (e->o.on_test)
    e->o.on_test(e->o.data, &t);
  if (t.event == MP_MON_EV_ALERT) {
    run_action(m, MP_ACT_ON_ALERT, &t);
    unsigned most = m->def->recovery_runs ? m->def->recovery_runs : 1;
    if (m->def->argv[MP_ACT_RECOVERY] && m->recoveries < most) {
      m->recoveries++;
      run_action(m, MP_ACT_RECOVERY, &t);
    }
  } else if (t.event == MP_MON_EV_RECOVERY) {
    run_action(m, MP_ACT_ON_RECOVERY, &t);
  }
  mp_result_free(r);
  drop_token(m);

  unsigned count = m->def->count ? m->def->count : e->o.count;
  if (e->stopping || (count && m->tests >= count)) {
    stop_mon(m);
  } else {
    m->due_us = mp_now_us() + mp_monitor_next_ms(&m->m) * 1000u;
    mp_deadline_set(&m->due, m->due_us);
  }
  run_waiting(e);
  check_done(e);
}

static void start_test(struct mon *m)
{
  struct mp_mon_engine *e = m->e;

  if (m->stopped)
    return;
  m->running = 1;
  e->in_flight++;
  m->start_us = mp_now_us();
  m->wall_us = wall_now_us();
  if (m->def->before_test) {
    m->prep.m = m;
    m->def->before_test(m->def->before_data, &m->prep);
    return;
  }
  probe(m, &m->def->opts);
}

void mp_mon_prep_probe(struct mp_mon_prep *p, const struct mp_probe_opts *opts)
{
  struct mon *m = p->m;
  if (opts->token && opts->token != m->def->opts.token) {
    m->token = strdup(opts->token);
    if (!m->token) {
      struct mp_result *r = mp_result_new();
      if (r)
        r->err = MP_E_NO_RESOURCES;
      mp_mon_prep_fail(p, r);
      return;
    }
  }
  probe(m, opts);
}

void mp_mon_prep_fail(struct mp_mon_prep *p, struct mp_result *r)
{
  struct mon *m = p->m;
  if (!r) {
    lost(m);
    return;
  }
  on_result(r, m);
}

/* A test that cannot even have a result: the monitor stops. */
static void lost(struct mon *m)
{
  struct mp_mon_engine *e = m->e;
  drop_token(m);
  m->running = 0;
  e->in_flight--;
  stop_mon(m);
  check_done(e);
}

static void probe(struct mon *m, const struct mp_probe_opts *opts)
{
  int rc = mp_probe_start(m->e->loop, opts, on_result, m);
  if (rc < 0) {
    /* A probe that cannot start is a failed test, not a stopped one. */
    struct mp_result *r = mp_result_new();
    if (!r) {
      lost(m);
      return;
    }
    r->err = rc;
    mp_result_set_detail(r, "the probe did not start: %s", mp_err_message(rc));
    on_result(r, m);
  }
}

static void on_due(struct mp_deadline *d)
{
  struct mon *m = (struct mon *)((char *)d - offsetof(struct mon, due));
  struct mp_mon_engine *e = m->e;
  size_t cap =
      e->o.max_in_flight ? e->o.max_in_flight : MP_MON_DEFAULT_IN_FLIGHT;

  if (e->stopping) {
    stop_mon(m);
    check_done(e);
    return;
  }
  if (e->in_flight >= cap || e->wait_head) {
    m->waiting = 1;
    if (e->wait_tail)
      e->wait_tail->next_wait = m;
    else
      e->wait_head = m;
    e->wait_tail = m;
    return;
  }
  start_test(m);
}

struct mp_mon_engine *mp_mon_engine_new(uv_loop_t *loop,
                                        const struct mp_mon_def *defs, size_t n,
                                        const struct mp_mon_engine_opts *o)
{
  struct mp_mon_engine *e = calloc(1, sizeof(*e));
  if (!e)
    return NULL;
  e->mons = calloc(n ? n : 1, sizeof(*e->mons));
  if (!e->mons) {
    free(e);
    return NULL;
  }
  e->loop = loop;
  e->defs = defs;
  e->n = n;
  if (o)
    e->o = *o;
  for (size_t i = 0; i < n; i++) {
    struct mon *m = &e->mons[i];
    m->e = e;
    m->i = i;
    m->def = &defs[i];
    mp_monitor_init(&m->m, &defs[i].timing);
  }
  return e;
}

struct mp_monitor *mp_mon_engine_machine(struct mp_mon_engine *e, size_t i)
{
  return i < e->n ? &e->mons[i].m : NULL;
}

unsigned *mp_mon_engine_recoveries(struct mp_mon_engine *e, size_t i)
{
  return i < e->n ? &e->mons[i].recoveries : NULL;
}

void mp_mon_engine_stop(struct mp_mon_engine *e)
{
  e->stopping = 1;
  /* Waiting monitors give up their turn; the others stop at their next
   * deadline or when their test ends. */
  while (e->wait_head) {
    struct mon *m = e->wait_head;
    e->wait_head = m->next_wait;
    m->next_wait = NULL;
    m->waiting = 0;
    stop_mon(m);
  }
  e->wait_tail = NULL;
  for (size_t i = 0; i < e->n; i++)
    if (!e->mons[i].running)
      stop_mon(&e->mons[i]);
  check_done(e);
}

static void on_signal(uv_signal_t *h, int signum)
{
  struct mp_mon_engine *e = h->data;

  if (signum == SIGHUP) {
    if (e->o.on_hup)
      e->o.on_hup(e->o.data);
    return;
  }
  mp_mon_engine_stop(e);
}

int mp_mon_engine_start(struct mp_mon_engine *e)
{
  uint64_t now = mp_now_us();

  e->live = e->n;
  for (size_t i = 0; i < e->n; i++) {
    struct mon *m = &e->mons[i];
    if (mp_deadline_join(&m->due, e->loop, on_due) < 0) {
      for (size_t k = 0; k < i; k++)
        stop_mon(&e->mons[k]);
      return MP_E_NO_RESOURCES;
    }
    m->joined = 1;
  }
  if (e->o.signals) {
    uv_signal_init(e->loop, &e->sigint);
    uv_signal_init(e->loop, &e->sigterm);
    uv_signal_init(e->loop, &e->sighup);
    e->sigint.data = e->sigterm.data = e->sighup.data = e;
    uv_signal_start(&e->sigint, on_signal, SIGINT);
    uv_signal_start(&e->sigterm, on_signal, SIGTERM);
    uv_signal_start(&e->sighup, on_signal, SIGHUP);
    e->sig_open = 1;
  }
  for (size_t i = 0; i < e->n; i++) {
    struct mon *m = &e->mons[i];
    uint64_t off = 0;
    if (e->o.spread && e->n > 1) {
      /* Over the first interval, but at most SPREAD_MAX_MS: a restart
       * tests every monitor soon, not five minutes later. */
      uint64_t span = mp_monitor_next_ms(&m->m);
      if (span > SPREAD_MAX_MS)
        span = SPREAD_MAX_MS;
      off = span * 1000u * i / e->n;
    }
    /* A due time that passed fires from the loop, never from here. */
    m->due_us = now + off;
    mp_deadline_set(&m->due, m->due_us);
  }
  check_done(e);
  return 0;
}

int mp_mon_engine_run(struct mp_mon_engine *e)
{
  int rc = mp_mon_engine_start(e);
  if (rc < 0)
    return rc;
  uv_run(e->loop, UV_RUN_DEFAULT);
  return 0;
}

void mp_mon_engine_stats(const struct mp_mon_engine *e,
                         struct mp_mon_engine_stats *out)
{
  *out = e->st;
}

void mp_mon_engine_free(struct mp_mon_engine *e)
{
  if (!e)
    return;
  free(e->mons);
  free(e);
}
