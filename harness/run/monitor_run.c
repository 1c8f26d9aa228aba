/* Monitor cases (job.h): the case's monitors run on the monitor engine
 * (harness/monitor/engine.h) against the case's fake servers, each for its
 * number of tests; every test's state, event and lateness and every
 * action's end and environment are recorded, then compared with
 * expect: (the states in order, the tests that alerted or told a
 * recovery, the actions in order of test and kind, the latest start). */
#include "harness/run/job.h"

#include <fnmatch.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "harness/case/case.h"
#include "harness/monitor/action.h"
#include "harness/monitor/engine.h"
#include "probes/result.h"
#include "wire/errors.h"

struct rec_test {
  int state, event;
  int64_t late_us;
};

struct rec_action {
  unsigned test;
  int kind;
  int spawn_error, timed_out, term_signal;
  int64_t status;
  char **env; /* NULL-terminated copy */
};

struct mon_rec {
  struct rec_test *tests;
  size_t ntests, cap;
  struct rec_action *acts;
  size_t nacts, cap_acts;
};

struct mon_run {
  struct job *j;
  struct mp_mon_def *defs;
  char (*hosts)[256];
  struct mon_rec *recs;
  size_t n;
  struct mp_mon_engine *e;
  int oom;
};

static void on_test(void *data, const struct mp_mon_test *t)
{
  struct mon_run *M = data;
  struct mon_rec *r = &M->recs[t->index];
  if (r->ntests == r->cap)
    return; /* more tests than asked for cannot happen; keep the first */
  r->tests[r->ntests].state = t->state;
  r->tests[r->ntests].event = t->event;
  r->tests[r->ntests].late_us = t->late_us;
  r->ntests++;
}

static char **copy_env(char *const *env)
{
  size_t n = 0;
  while (env && env[n])
    n++;
  char **v = calloc(n + 1, sizeof(*v));
  if (!v)
    return NULL;
  for (size_t i = 0; i < n; i++)
    if (!(v[i] = strdup(env[i]))) {
      for (size_t k = 0; k < i; k++)
        free(v[k]);
      free(v);
      return NULL;
    }
  return v;
}

static void free_env(char **v)
{
  for (size_t i = 0; v && v[i]; i++)
    free(v[i]);
  free(v);
}

static void on_action(void *data, const struct mp_mon_action *a)
{
  struct mon_run *M = data;
  struct mon_rec *r = &M->recs[a->index];
  if (r->nacts == r->cap_acts) {
    size_t nc = r->cap_acts ? r->cap_acts * 2 : 8;
    struct rec_action *na = realloc(r->acts, nc * sizeof(*na));
    if (!na) {
      M->oom = 1;
      return;
    }
    r->acts = na;
    r->cap_acts = nc;
  }
  struct rec_action *ra = &r->acts[r->nacts++];
  memset(ra, 0, sizeof(*ra));
  ra->test = a->test;
  ra->kind = (int)a->kind;
  ra->spawn_error = a->end->spawn_error;
  ra->timed_out = a->end->timed_out;
  ra->term_signal = a->end->term_signal;
  ra->status = a->end->status;
  ra->env = copy_env(a->env);
}

static int by_test_kind(const void *pa, const void *pb)
{
  const struct rec_action *a = pa, *b = pb;
  if (a->test != b->test)
    return a->test < b->test ? -1 : 1;
  return a->kind - b->kind;
}

/* The value of NAME in env, or NULL. */
static const char *env_get(char **env, const char *pair)
{
  size_t k = strcspn(pair, "=");
  for (size_t i = 0; env && env[i]; i++)
    if (strncmp(env[i], pair, k) == 0 && env[i][k] == '=')
      return env[i] + k + 1;
  return NULL;
}

static const char *const kind_names[] = {"on_alert", "on_recovery", "recovery"};

static void tests_with(struct job *j, const char *who, const char *what,
                       const struct mon_rec *r, int event, const unsigned *want,
                       size_t nwant)
{
  char got[512], exp[512];
  size_t gl = 0, el = 0;
  int same = 1;
  size_t k = 0;
  got[0] = exp[0] = '\0';
  for (size_t i = 0; i < r->ntests; i++)
    if (r->tests[i].event == event) {
      if (k >= nwant || want[k] != i + 1)
        same = 0;
      k++;
      if (gl < sizeof(got) - 16)
        gl += (size_t)snprintf(got + gl, sizeof(got) - gl, "%s%zu",
                               gl ? ", " : "", i + 1);
    }
  if (k != nwant)
    same = 0;
  if (same)
    return;
  for (size_t i = 0; i < nwant && el < sizeof(exp) - 16; i++)
    el += (size_t)snprintf(exp + el, sizeof(exp) - el, "%s%u", el ? ", " : "",
                           want[i]);
  mp_job_diff(j, "%s%s: expected at tests [%s], got [%s]", who, what, exp, got);
}

static void compare_one(struct job *j, const struct mp_case *c,
                        const struct mp_expect_monitor *e,
                        const struct mon_rec *r)
{
  char who[96];
  if (c->nmonitors > 1)
    snprintf(who, sizeof(who), "monitor %s: ", e->name);
  else
    who[0] = '\0';

  if (e->states) {
    if (r->ntests != e->nstates)
      mp_job_diff(j, "%sstates: expected %zu tests, %zu ran", who, e->nstates,
                  r->ntests);
    for (size_t i = 0; i < e->nstates && i < r->ntests; i++)
      if (r->tests[i].state != e->states[i])
        mp_job_diff(j, "%stest %zu: expected state %s, got %s", who, i + 1,
                    mp_mon_state_name(e->states[i]),
                    mp_mon_state_name(r->tests[i].state));
  }
  if (e->has_alerts)
    tests_with(j, who, "alerts", r, MP_MON_EV_ALERT, e->alerts, e->nalerts);
  if (e->has_recoveries)
    tests_with(j, who, "recoveries", r, MP_MON_EV_RECOVERY, e->recoveries,
               e->nrecoveries);
  if (e->late_max_us >= 0)
    for (size_t i = 0; i < r->ntests; i++)
      if (r->tests[i].late_us > e->late_max_us)
        mp_job_diff(j,
                    "%stest %zu started %.1f ms late, more than the %.1f ms "
                    "allowed",
                    who, i + 1, (double)r->tests[i].late_us / 1000.0,
                    (double)e->late_max_us / 1000.0);
  if (!e->has_actions)
    return;
  if (r->nacts != e->nactions) {
    char got[512];
    size_t gl = 0;
    got[0] = '\0';
    for (size_t i = 0; i < r->nacts && gl < sizeof(got) - 40; i++)
      gl += (size_t)snprintf(got + gl, sizeof(got) - gl, "%s%s at test %u",
                             gl ? ", " : "", kind_names[r->acts[i].kind],
                             r->acts[i].test);
    mp_job_diff(j, "%sactions: expected %zu, %zu ran [%s]", who, e->nactions,
                r->nacts, got);
  }
  for (size_t i = 0; i < e->nactions && i < r->nacts; i++) {
    const struct mp_expect_action *w = &e->actions[i];
    const struct rec_action *g = &r->acts[i];
    if (w->test != g->test || w->kind != g->kind) {
      mp_job_diff(j, "%saction %zu: expected %s at test %u, got %s at test %u",
                  who, i + 1, kind_names[w->kind], w->test, kind_names[g->kind],
                  g->test);
      continue;
    }
    if (w->has_exit &&
        (g->spawn_error || g->term_signal || g->status != w->exit))
      mp_job_diff(
          j, "%saction %zu (%s): expected exit %" PRId64 ", got %s %" PRId64,
          who, i + 1, kind_names[w->kind], w->exit,
          g->spawn_error   ? "did not start"
          : g->term_signal ? "signal"
                           : "exit",
          g->term_signal ? (int64_t)g->term_signal : g->status);
    if (w->started >= 0 && w->started != !g->spawn_error)
      mp_job_diff(j, "%saction %zu (%s): expected it %s, it %s", who, i + 1,
                  kind_names[w->kind], w->started ? "to start" : "not to start",
                  g->spawn_error ? "did not start" : "started");
    if (w->timed_out >= 0 && w->timed_out != g->timed_out)
      mp_job_diff(j, "%saction %zu (%s): expected timed_out %s, got %s", who,
                  i + 1, kind_names[w->kind], w->timed_out ? "true" : "false",
                  g->timed_out ? "true" : "false");
    for (size_t k = 0; k < w->nenv; k++) {
      const char *pat = strchr(w->env[k], '=') + 1;
      const char *val = env_get(g->env, w->env[k]);
      if (!val || fnmatch(pat, val, 0) != 0)
        mp_job_diff(j, "%saction %zu (%s): env %.*s expected '%s', got %s%s%s",
                    who, i + 1, kind_names[w->kind], (int)(pat - 1 - w->env[k]),
                    w->env[k], pat, val ? "'" : "", val ? val : "nothing",
                    val ? "'" : "");
    }
  }
}

static void free_run(struct mon_run *M)
{
  if (!M)
    return;
  mp_mon_engine_free(M->e);
  for (size_t i = 0; i < M->n; i++) {
    free(M->recs[i].tests);
    for (size_t k = 0; k < M->recs[i].nacts; k++)
      free_env(M->recs[i].acts[k].env);
    free(M->recs[i].acts);
  }
  free(M->recs);
  free(M->defs);
  free(M->hosts);
  free(M);
}

/* After the engine is over (from the loop, not inside its callback). */
static void on_finish(uv_timer_t *t)
{
  struct job *j = t->data;
  struct mon_run *M = j->mon;
  const struct mp_case *c = j->rc->c;

  if (M->oom)
    mp_job_diff(j, "out of memory while recording the actions");
  for (size_t i = 0; i < M->n; i++)
    if (M->recs[i].nacts)
      qsort(M->recs[i].acts, M->recs[i].nacts, sizeof(*M->recs[i].acts),
            by_test_kind);
  for (size_t k = 0; k < c->nexpect_monitors; k++)
    for (size_t i = 0; i < c->nmonitors; i++)
      if (strcmp(c->monitors[i].name, c->expect_monitors[k].name) == 0)
        compare_one(j, c, &c->expect_monitors[k], &M->recs[i]);
  free_run(M);
  j->mon = NULL;
  mp_job_stop_servers(j);
}

static void on_done(void *data)
{
  struct mon_run *M = data;
  struct job *j = M->j;

  uv_timer_stop(&j->timer);
  j->probe_pending = 0;
  uv_timer_start(&j->gap, on_finish, 0, 0);
}

static void on_safety(uv_timer_t *t)
{
  struct job *j = t->data;
  mp_job_diff(j, "the monitors did not finish within the harness's safety "
                 "deadline: stopped");
  mp_mon_engine_stop(j->mon->e);
}

static enum mp_proto proto_of(enum mp_case_probe_type t)
{
  return t == MP_CASE_POP3   ? MP_PROTO_POP3
         : t == MP_CASE_IMAP ? MP_PROTO_IMAP
                             : MP_PROTO_SMTP;
}

void mp_job_mon_start(struct job *j)
{
  struct run *R = j->run;
  const struct mp_case *c = j->rc->c;
  struct mon_run *M = calloc(1, sizeof(*M));
  uint64_t safety = 0;

  if (!M || !(M->defs = calloc(c->nmonitors, sizeof(*M->defs))) ||
      !(M->hosts = calloc(c->nmonitors, sizeof(*M->hosts))) ||
      !(M->recs = calloc(c->nmonitors, sizeof(*M->recs)))) {
    free_run(M);
    mp_job_diff(j, "out of memory");
    mp_job_stop_servers(j);
    return;
  }
  M->j = j;
  M->n = c->nmonitors;
  for (size_t i = 0; i < c->nmonitors; i++) {
    const struct mp_case_monitor *m = &c->monitors[i];
    struct mp_mon_def *d = &M->defs[i];
    d->name = m->name;
    d->opts = m->check.opts;
    d->opts.proto = proto_of(m->check.type);
    if (mp_job_point(j, &m->check, &d->opts, M->hosts[i], sizeof(M->hosts[i]),
                     "check") < 0) {
      free_run(M);
      mp_job_stop_servers(j);
      return;
    }
    d->target = d->opts.host;
    d->rf.proto = mp_proto_name(d->opts.proto);
    mp_mon_thresholds(&d->rf, m->warning_ms, m->critical_ms);
    d->timing = m->timing;
    for (int k = 0; k < 3; k++)
      d->argv[k] = m->argv[k];
    d->recovery_runs = m->recovery_runs;
    d->action_timeout_ms = m->action_timeout_ms;
    d->count = m->tests;
    M->recs[i].tests = calloc(m->tests, sizeof(*M->recs[i].tests));
    if (!M->recs[i].tests) {
      free_run(M);
      mp_job_diff(j, "out of memory");
      mp_job_stop_servers(j);
      return;
    }
    M->recs[i].cap = m->tests;
    /* The longest the monitor can take: every test at its longest and
     * the longest interval after it, and its actions' time limits. */
    uint64_t most = 0;
    for (int s = 0; s < 4; s++)
      if (m->timing.interval_ms[s] > most)
        most = m->timing.interval_ms[s];
    uint64_t per = most + (d->opts.timeout_ms ? d->opts.timeout_ms
                                              : MP_PROBE_DEFAULT_TIMEOUT_MS);
    uint64_t acts = 3 * ((m->action_timeout_ms ? m->action_timeout_ms
                                               : MP_ACTION_DEFAULT_TIMEOUT_MS) +
                         2 * MP_ACTION_KILL_GRACE_MS);
    uint64_t all = per * m->tests + acts;
    if (all > safety)
      safety = all;
  }
  struct mp_mon_engine_opts o;
  memset(&o, 0, sizeof(o));
  o.on_test = on_test;
  o.on_action = on_action;
  o.on_done = on_done;
  o.data = M;
  M->e = mp_mon_engine_new(&R->loop, M->defs, M->n, &o);
  if (!M->e) {
    free_run(M);
    mp_job_diff(j, "out of memory");
    mp_job_stop_servers(j);
    return;
  }
  j->mon = M;
  j->probe_pending = 1;
  uv_timer_start(&j->timer, on_safety,
                 R->opts.deadline_ms ? R->opts.deadline_ms
                                     : safety + R->opts.safety_ms,
                 0);
  if (mp_mon_engine_start(M->e) < 0) {
    mp_job_diff(j, "the monitors did not start: out of memory");
    on_done(M);
  }
}
