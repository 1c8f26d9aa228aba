/* A roundtrip case in the runner: probe.runs round trips in sequence on
 * the case's servers, each run compared as it ends, then the grace before
 * the server checks. */
#include "harness/run/job.h"

#include <string.h>

#include "harness/case/case.h"
#include "harness/run/compare.h"
#include "probes/result.h"
#include "probes/roundtrip.h"
#include "wire/errors.h"

static void rt_next(struct job *j);

/* Where the last run's transcript ends (its send or its last fetch) and
 * how many lines the probe sent there, so the grace waits for that
 * server's last session to have them all. */
static void rt_grace_target(struct job *j, const struct mp_result *r)
{
  const struct mp_case_rt *rt = j->rc->c->probe.rt;
  const struct mp_case_probe *half = NULL;
  size_t i = r->ntranscript;
  const char *last = NULL;
  int idx;

  while (i > 0) {
    const struct mp_transcript_line *l = &r->transcript[--i];

    if (l->dir == 'c' && !last)
      last = l->line;
    else if (l->dir == '*' && strncmp(l->line, "-- send", 7) == 0)
      half = &rt->send;
    else if (l->dir == '*' && strncmp(l->line, "-- fetch", 8) == 0)
      half = &rt->fetch;
    if (half)
      break;
  }
  idx = half && half->server ? mp_job_server_index(j->rc->c, half->server) : -1;
  if (idx >= 0 && (size_t)idx < j->nservers && j->servers[idx]) {
    j->grace_srv = idx;
    snprintf(j->want_last, sizeof(j->want_last), "%s", last ? last : "");
  } else {
    j->grace_srv = -1;
    j->want_last[0] = '\0';
  }
}

static void on_gap(uv_timer_t *t)
{
  rt_next(t->data);
}

/* One run of a round trip is over: compare it, keep it for the report,
 * then the next run or the grace before the server checks. */
static void on_rt(struct mp_result *r, const char *token, void *data)
{
  struct job *j = data;
  const struct mp_case_rt *rt = j->rc->c->probe.rt;
  size_t before = j->ndiffs;

  (void)token;
  j->probe_pending = 0;
  if (mp_job_late(j, r))
    return;
  if (j->token_us && r->timings_us[MP_PHASE_TOKEN] < 0)
    r->timings_us[MP_PHASE_TOKEN] = (int64_t)j->token_us;
  mp_run_compare_run(j->rc->c, j->runs_done, r, &j->diffs, &j->ndiffs);
  j->runs_done++;
  /* Previous mode: once a message went out, no later run is the first. */
  if (r->sent_at_us)
    j->rto.first_run = 0;
  if (j->runs_done == rt->runs)
    rt_grace_target(j, r);
  /* The report shows the first run that did not match, else the last. */
  if (j->kept_bad_run) {
    mp_result_free(r);
  } else {
    mp_result_free(j->rc->result);
    j->rc->result = r;
    j->kept_bad_run = j->ndiffs > before;
  }
  if (j->runs_done < rt->runs) {
    if (rt->interval_ms)
      uv_timer_start(&j->gap, on_gap, rt->interval_ms, 0);
    else
      rt_next(j);
    return;
  }
  uv_timer_stop(&j->timer);
  j->grace_start_us = uv_hrtime() / 1000;
  uv_timer_start(&j->timer, mp_job_on_grace, GRACE_POLL_MS, GRACE_POLL_MS);
}

/* A token fetch failed: that is the (only) run's result. */
static void rt_token_failed(struct mp_result *r, void *data)
{
  struct job *j = data;

  j->rto.first_run = 1;
  j->runs_done = j->rc->c->probe.rt->runs - 1; /* no run follows */
  on_rt(r, NULL, data);
}

static void rt_next(struct job *j)
{
  int rc;

  j->probe_pending = 1;
  rc = mp_roundtrip_start(&j->run->loop, &j->rto, on_rt, j);
  if (rc < 0) {
    j->probe_pending = 0;
    mp_job_diff(j, "run %u: the round trip did not start: %s", j->runs_done + 1,
                mp_err_message(rc));
    uv_timer_stop(&j->timer);
    mp_job_stop_servers(j);
  }
}

/* Fills the round trip's options from the case and starts its first run
 * (the servers run already). */
void mp_job_rt_start(struct job *j)
{
  const struct mp_case_rt *rt = j->rc->c->probe.rt;
  struct mp_rt_opts *o = &j->rto;

  memset(o, 0, sizeof(*o));
  o->send = rt->send.opts;
  o->send.proto = MP_PROTO_SMTP;
  o->fetch = rt->fetch.opts;
  if (mp_job_point(j, &rt->send, &o->send, j->host, sizeof(j->host),
                   "probe.send") < 0 ||
      mp_job_point(j, &rt->fetch, &o->fetch, j->host2, sizeof(j->host2),
                   "probe.fetch") < 0) {
    mp_job_stop_servers(j);
    return;
  }
  mp_case_rt_opts(rt, o);
  o->first_run = 1;
  uv_timer_start(&j->timer, mp_job_on_safety, mp_job_safety_ms(j->run, j), 0);
  if (rt->send.idp || rt->fetch.idp) {
    /* The tokens first (phase token), the fetch counting as a run in
     * flight for the safety deadline. */
    const struct mp_case_probe *ps[2] = {&rt->send, &rt->fetch};
    struct mp_probe_opts *os[2] = {&o->send, &o->fetch};

    j->probe_pending = 1;
    mp_job_tokens(j, ps, os, 2, rt_next, rt_token_failed);
    return;
  }
  rt_next(j);
}
