#include "harness/run/runner.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "fake_servers/fake.h"
#include "fake_servers/mailstore.h"
#include "harness/case/case.h"
#include "harness/idp/idp.h"
#include "harness/report/matrix.h"
#include "harness/run/compare.h"
#include "harness/run/heap.h"
#include "harness/run/isolate.h"
#include "harness/run/job.h"
#include "harness/run/outcome_pack.h"
#include "harness/subject/profile.h"
#include "probes/probe.h"
#include "probes/result.h"
#include "probes/roundtrip.h"
#include "probes/target.h"
#include "wire/cert.h"
#include "wire/cert_like.h"
#include "wire/conn.h"
#include "wire/errors.h"

#define DEFAULT_GRACE_MS 1000
#define DEFAULT_SAFETY_MS 10000
/* A case in a process of its own is killed this long after its own safety
 * deadline, grace and reaper would have ended it. */
#define ISOLATED_SLACK_MS 10000
/* How long one turn of the loop may spend starting cases. */
#define START_BUDGET_MS 10
/* Children at once: one a CPU, at least this many. */
#define MIN_CHILDREN 2

static void pump(struct run *R);
static int measures_heap(const struct run *R, const struct mp_run_case *rc);

void mp_run_case_clear(struct mp_run_case *rc)
{
  size_t i;

  for (i = 0; i < rc->out.ndiffs; i++)
    free(rc->out.diffs[i]);
  free(rc->out.diffs);
  mp_result_free(rc->result);
  rc->result = NULL;
  if (rc->cell) {
    mp_cell_clear(rc->cell);
    free(rc->cell);
    rc->cell = NULL;
  }
  memset(&rc->out, 0, sizeof(rc->out));
  rc->done = 0;
}

void mp_job_diff(struct job *j, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  mp_diff_vadd(&j->diffs, &j->ndiffs, "", fmt, ap);
  va_end(ap);
}

static void on_job_timer_closed(uv_handle_t *h)
{
  struct job *j = h->data;
  struct run *R = j->run;

  if (--j->handles > 0)
    return;
  if (j->prev)
    j->prev->next = j->next;
  else
    R->jobs = j->next;
  if (j->next)
    j->next->prev = j->prev;
  mp_job_subject_free(j);
  mp_job_tokens_free(j);
  free(j->servers);
  free(j->idps);
  free(j);
}

/* Frees the job once it is finished and no probe callback can reach it. */
static void job_maybe_free(struct job *j)
{
  if (!j->finished || j->probe_pending || j->closing)
    return;
  j->closing = 1;
  uv_close((uv_handle_t *)&j->timer, on_job_timer_closed);
  uv_close((uv_handle_t *)&j->gap, on_job_timer_closed);
}

static void on_reaper(uv_timer_t *t)
{
  struct run *R = t->data;

  /* Probes that never called back keep their handles open: stop waiting. */
  uv_stop(&R->loop);
}

static void check_all_done(struct run *R)
{
  if (R->finished == R->n && R->svc_state == SVC_UP)
    mp_run_service_stop(R);
  if (R->finished < R->n || R->abandoned == 0 || R->reaper_on)
    return;
  R->reaper_on = 1;
  uv_timer_init(&R->loop, &R->reaper);
  R->reaper.data = R;
  uv_timer_start(&R->reaper, on_reaper, REAPER_MS, 0);
  uv_unref((uv_handle_t *)&R->reaper);
}

static void mem_sample(uv_check_t *h)
{
  struct run *R = h->data;
  size_t now = mp_heap_in_use();

  if (now > R->mem_peak)
    R->mem_peak = now;
}

/* "512 B", "40 KiB", "3.2 MiB" for messages. */
static const char *fmt_size(char *buf, size_t len, uint64_t n)
{
  if (n < 10 * 1024)
    snprintf(buf, len, "%" PRIu64 " B", n);
  else if (n < 10 * 1024 * 1024)
    snprintf(buf, len, "%" PRIu64 " KiB", n / 1024);
  else
    snprintf(buf, len, "%.1f MiB", (double)n / (1024.0 * 1024.0));
  return buf;
}

/* Starts measuring j (running alone): the heap now is its base. */
static void mem_start(struct run *R, struct job *j)
{
  R->mem_job = j;
  R->mem_base = R->mem_peak = mp_heap_in_use();
  uv_check_start(&R->mem_check, mem_sample);
}

/* expect.memory: the most the heap grew over its base while j ran. */
static void mem_check(struct job *j)
{
  struct run *R = j->run;
  uint64_t max = j->rc->c->expect.memory_max;
  size_t grew;
  char a[32], b[32];

  uv_check_stop(&R->mem_check);
  R->mem_job = NULL;
  mem_sample(&R->mem_check);
  if (!mp_heap_measurable()) {
    mp_job_diff(j, "memory: this build cannot measure the heap (expect.memory "
                   "is not checked)");
    return;
  }
  grew = R->mem_peak - R->mem_base;
  if (grew > max)
    mp_job_diff(
        j, "memory: expected the heap to grow by at most %s, it grew by %s",
        fmt_size(a, sizeof(a), max), fmt_size(b, sizeof(b), grew));
}

static void job_finish(struct job *j)
{
  struct run *R = j->run;
  struct mp_run_case *rc = j->rc;

  if (j == R->mem_job)
    mem_check(j);
  mp_mailstore_free(j->store);
  j->store = NULL;
  rc->out.file = rc->file;
  rc->out.name = rc->c ? rc->c->name : NULL;
  rc->out.seconds = (double)(uv_hrtime() / 1000 - j->start_us) / 1e6;
  rc->out.diffs = j->diffs;
  rc->out.ndiffs = j->ndiffs;
  rc->out.passed = j->ndiffs == 0;
  rc->out.result = rc->result;
  rc->done = 1;
  j->diffs = NULL;
  j->ndiffs = 0;
  j->finished = 1;
  R->running--;
  R->finished++;
  if (R->opts.on_done)
    R->opts.on_done(rc, R->opts.data);
  job_maybe_free(j);
  if (!R->pumping)
    pump(R);
  check_all_done(R);
}

static void on_server_stopped(void *data)
{
  struct job *j = data;

  if (--j->stopping == 0)
    job_finish(j);
}

/* Stops every server that runs; finishes the job when all are down. */
void mp_job_stop_servers(struct job *j)
{
  size_t i;

  j->stopping = 1; /* held while issuing the stops */
  for (i = 0; i < j->nservers; i++) {
    struct mp_fake_server *s = j->servers[i];

    if (!s)
      continue;
    j->servers[i] = NULL;
    j->stopping++;
    mp_fake_stop(s, on_server_stopped, j);
  }
  for (i = 0; i < j->nidps; i++) {
    struct mp_idp *d = j->idps[i];

    if (!d)
      continue;
    j->idps[i] = NULL;
    j->stopping++;
    mp_idp_stop(d, on_server_stopped, j);
  }
  on_server_stopped(j);
}

/* Polls until the servers have caught up with the probe (its last line,
 * often QUIT, may still be in flight when the result comes), or grace_ms
 * passed (a line sent into a closed connection never arrives); then
 * compares and stops the servers. */
void mp_job_on_grace(uv_timer_t *t)
{
  struct job *j = t->data;
  struct run *R = j->run;
  struct mp_fake_server *gs =
      j->grace_srv >= 0 ? j->servers[j->grace_srv] : NULL;

  if (!mp_job_servers_caught_up(j, gs, j->want_last[0] ? j->want_last : NULL) &&
      uv_hrtime() / 1000 - j->grace_start_us < R->opts.grace_ms * 1000)
    return; /* the repeating timer calls again */
  uv_timer_stop(&j->timer);
  if (j->subj) {
    mp_job_subject_finish(j);
    mp_job_stop_servers(j);
    return;
  }
  /* Round trips were compared run by run. */
  if (j->rc->c->probe.type != MP_CASE_ROUNDTRIP)
    mp_run_compare(j->rc->c, j->rc->result, &j->diffs, &j->ndiffs);
  mp_job_check_servers(j);
  mp_job_check_mailboxes(j);
  mp_job_stop_servers(j);
}

int mp_job_late(struct job *j, struct mp_result *r)
{
  struct run *R = j->run;

  if (!j->abandoned)
    return 0;
  /* Too late: the case already failed on the safety deadline. */
  mp_result_free(r);
  R->abandoned--;
  job_maybe_free(j);
  if (R->abandoned == 0 && R->reaper_on) {
    uv_close((uv_handle_t *)&R->reaper, NULL);
    R->reaper_on = 0;
  }
  return 1;
}

static void probe_go(struct job *j);

static void on_probe(struct mp_result *r, void *data)
{
  struct job *j = data;
  size_t i;

  j->probe_pending = 0;
  if (mp_job_late(j, r))
    return;
  if (j->token_us && r->timings_us[MP_PHASE_TOKEN] < 0)
    r->timings_us[MP_PHASE_TOKEN] = (int64_t)j->token_us;
  j->rc->result = r;
  uv_timer_stop(&j->timer);
  j->want_last[0] = '\0';
  for (i = r->ntranscript; i > 0; i--)
    if (r->transcript[i - 1].dir == 'c') {
      snprintf(j->want_last, sizeof(j->want_last), "%s",
               r->transcript[i - 1].line);
      break;
    }
  j->grace_start_us = uv_hrtime() / 1000;
  /* Give the servers a moment to read the probe's last line (QUIT). */
  uv_timer_start(&j->timer, mp_job_on_grace, GRACE_POLL_MS, GRACE_POLL_MS);
}

static uint64_t timeout_or_default(uint64_t ms)
{
  return ms ? ms : MP_PROBE_DEFAULT_TIMEOUT_MS;
}

/* The safety deadline of a case: the probe's timeout + safety_ms; for a
 * round trip, per run the email timeout, both halves' timeouts and
 * safety_ms, plus the pauses between runs. */
static uint64_t case_safety_ms(const struct run *R, const struct mp_case *c)
{
  const struct mp_case_rt *rt = c ? c->probe.rt : NULL;
  uint64_t per_run;

  if (R->opts.deadline_ms)
    return R->opts.deadline_ms;
  if (!rt)
    return timeout_or_default(c ? c->probe.opts.timeout_ms : 0) +
           R->opts.safety_ms;
  per_run = (rt->email_timeout_ms ? rt->email_timeout_ms
                                  : MP_RT_DEFAULT_EMAIL_TIMEOUT_MS) +
            timeout_or_default(rt->send.opts.timeout_ms) +
            timeout_or_default(rt->fetch.opts.timeout_ms) + R->opts.safety_ms;
  return per_run * rt->runs + rt->interval_ms * (rt->runs - 1);
}

uint64_t mp_job_safety_ms(const struct run *R, const struct job *j)
{
  return case_safety_ms(R, j->rc->c);
}

void mp_job_on_safety(uv_timer_t *t)
{
  struct job *j = t->data;
  struct run *R = j->run;

  if (!j->probe_pending) {
    /* Between two runs of a round trip: nothing is out to wait for. */
    uv_timer_stop(&j->gap);
    mp_job_diff(j,
                "the round trip did not finish within %" PRIu64
                " ms (the harness's safety deadline)",
                mp_job_safety_ms(R, j));
    mp_job_stop_servers(j);
    return;
  }
  j->abandoned = 1;
  R->abandoned++;
  mp_job_diff(j,
              "the probe did not finish within %" PRIu64
              " ms (the harness's safety deadline): the case was abandoned",
              mp_job_safety_ms(R, j));
  mp_job_stop_servers(j);
}

static enum mp_proto case_proto(const struct mp_case *c)
{
  switch (c->probe.type) {
  case MP_CASE_POP3:
    return MP_PROTO_POP3;
  case MP_CASE_IMAP:
    return MP_PROTO_IMAP;
  default:
    return MP_PROTO_SMTP;
  }
}

/* Points probe options at what the case's probe description names: a
 * real target, or a fake server of the job (127.0.0.1, its port, the
 * certificate's name, the run's CA). where names it in diffs. 0, or -1
 * with a diff. */
int mp_job_point(struct job *j, const struct mp_case_probe *p,
                 struct mp_probe_opts *o, char *host, size_t hostlen,
                 const char *where)
{
  const struct mp_case *c = j->rc->c;
  const struct mp_fake_config *cfg;
  char err[256];
  int idx;

  if (p->target && o->host) {
    /* The parser split target into host and port already. */
    if (!o->port)
      o->port = mp_default_port(o->proto, o->tls);
    return 0;
  }
  if (p->target) {
    if (mp_hostport_parse(p->target, mp_default_port(o->proto, o->tls), host,
                          hostlen, &o->port, err, sizeof(err)) < 0) {
      mp_job_diff(j, "%s.target: %s", where, err);
      return -1;
    }
    o->host = host;
    return 0;
  }
  idx = p->server ? mp_job_server_index(c, p->server)
                  : (c->nservers == 1 ? 0 : -1);
  if (idx < 0 || (size_t)idx >= j->nservers || !j->servers[idx]) {
    if (p->server)
      mp_job_diff(j, "%s.server: no server named \"%s\"", where, p->server);
    else
      mp_job_diff(j, "%s: name a server or a target", where);
    return -1;
  }
  cfg = &c->servers[idx];
  o->host = "127.0.0.1";
  o->port = mp_fake_port(j->servers[idx]);
  if (!o->servername)
    o->servername = cfg->hostname ? cfg->hostname : "mx.example.test";
  if (!o->cafile && !o->ca_pem)
    o->ca_pem = mp_ca_pem(j->run->ca);
  return 0;
}

int mp_run_seed_mail(const struct mp_case *c, struct mp_mailstore *store)
{
  uint64_t now = mp_now_us();
  size_t i;
  int rc;

  for (i = 0; i < c->nmail; i++) {
    rc = mp_mailstore_add_user(store, c->mail[i].user);
    if (rc == 0)
      rc = mp_mailstore_deliver(store, c->mail[i].user, c->mail[i].data,
                                c->mail[i].len, now, now, NULL);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* Starts the servers and the probe; every failure ends in job_finish
 * (through the server stops). */
static void job_start(struct job *j)
{
  struct run *R = j->run;
  const struct mp_case *c = j->rc->c;
  struct mp_fake_env env = {0}; /* fields added later stay unset */
  size_t i;
  int rc;

  if (!c) {
    j->rc->out.error = 1;
    mp_job_diff(j, "%s",
                j->rc->parse_error ? j->rc->parse_error
                                   : "the case file did not parse");
    mp_job_stop_servers(j);
    return;
  }
  j->opts = c->probe.opts;
  j->opts.proto = case_proto(c);
  if (c->nservers && !c->probe.target) {
    if (!R->ca) {
      mp_job_diff(j, "could not make the run's test CA");
      mp_job_stop_servers(j);
      return;
    }
    j->servers = calloc(c->nservers, sizeof(*j->servers));
    j->store = mp_mailstore_new();
    if (!j->servers || !j->store) {
      mp_job_diff(j, "out of memory");
      mp_job_stop_servers(j);
      return;
    }
    j->nservers = c->nservers;
    rc = mp_run_seed_mail(c, j->store);
    if (rc < 0) {
      mp_job_diff(j, "could not fill the mailboxes: %s", mp_err_message(rc));
      mp_job_stop_servers(j);
      return;
    }
    env.ca = R->ca;
    env.store = j->store;
    for (i = 0; i < c->nservers; i++) {
      rc = mp_fake_start(&R->loop, &c->servers[i], &env, "127.0.0.1", 0,
                         &j->servers[i]);
      if (rc < 0) {
        j->servers[i] = NULL;
        mp_job_diff(j, "server %s: could not start: %s",
                    c->servers[i].name ? c->servers[i].name : "?",
                    mp_err_message(rc));
        mp_job_stop_servers(j);
        return;
      }
    }
  }
  if (c->nidps) {
    char err[256];

    j->idps = calloc(c->nidps, sizeof(*j->idps));
    if (!j->idps) {
      mp_job_diff(j, "out of memory");
      mp_job_stop_servers(j);
      return;
    }
    j->nidps = c->nidps;
    for (i = 0; i < c->nidps; i++) {
      rc = mp_idp_start(&R->loop, &c->idps[i], &j->idps[i], err, sizeof(err));
      if (rc < 0) {
        j->idps[i] = NULL;
        mp_job_diff(j, "token endpoint %s: could not start: %s",
                    c->idps[i].name, err);
        mp_job_stop_servers(j);
        return;
      }
    }
  }
  if (R->opts.subject && !R->opts.subject->builtin) {
    mp_job_subject_start(j);
    return;
  }
  if (c->nmonitors) {
    mp_job_mon_start(j);
    return;
  }
  if (c->probe.type == MP_CASE_ROUNDTRIP) {
    if (!c->probe.rt) {
      mp_job_diff(j, "probe: a roundtrip without send and fetch");
      mp_job_stop_servers(j);
      return;
    }
    mp_job_rt_start(j);
    return;
  }
  if (mp_job_point(j, &c->probe, &j->opts, j->host, sizeof(j->host), "probe") <
      0) {
    mp_job_stop_servers(j);
    return;
  }
  if (c->probe.idp) {
    /* The token first (phase token), then the probe; the fetch counts as
     * the probe in flight for the safety deadline. */
    const struct mp_case_probe *ps[1] = {&c->probe};
    struct mp_probe_opts *os[1] = {&j->opts};

    j->probe_pending = 1;
    uv_timer_start(&j->timer, mp_job_on_safety, mp_job_safety_ms(R, j), 0);
    mp_job_tokens(j, ps, os, 1, probe_go, on_probe);
    return;
  }
  probe_go(j);
}

/* Starts the case's probe (the servers and any token are ready). */
static void probe_go(struct job *j)
{
  struct run *R = j->run;
  int rc;

  j->probe_pending = 1;
  rc = mp_probe_start(&R->loop, &j->opts, on_probe, j);
  if (rc < 0) {
    j->probe_pending = 0;
    mp_job_diff(j, "the probe did not start: %s", mp_err_message(rc));
    mp_job_stop_servers(j);
    return;
  }
  if (j->probe_pending && !uv_is_active((uv_handle_t *)&j->timer))
    uv_timer_start(&j->timer, mp_job_on_safety, mp_job_safety_ms(R, j), 0);
}

static void start_case(struct run *R, struct mp_run_case *rc)
{
  struct job *j = calloc(1, sizeof(*j));

  R->running++;
  if (!j) {
    /* Without memory for the job, report the case right here. */
    mp_diff_add(&rc->out.diffs, &rc->out.ndiffs, "out of memory");
    rc->out.file = rc->file;
    rc->out.name = rc->c ? rc->c->name : NULL;
    rc->out.passed = 0;
    rc->done = 1;
    R->running--;
    R->finished++;
    if (R->opts.on_done)
      R->opts.on_done(rc, R->opts.data);
    return;
  }
  j->run = R;
  j->rc = rc;
  j->start_us = uv_hrtime() / 1000;
  j->next = R->jobs;
  if (R->jobs)
    R->jobs->prev = j;
  R->jobs = j;
  uv_timer_init(&R->loop, &j->timer);
  uv_timer_init(&R->loop, &j->gap);
  j->timer.data = j;
  j->gap.data = j;
  j->handles = 2;
  j->grace_srv = -1;
  if (measures_heap(R, rc))
    mem_start(R, j);
  job_start(j);
}

/* 1 for a case whose expect.memory bound is the process's heap. */
static int measures_heap(const struct run *R, const struct mp_run_case *rc)
{
  /* A third-party subject's heap is not ours to measure. */
  if (R->opts.subject && !R->opts.subject->builtin)
    return 0;
  return rc->c && rc->c->expect.has_memory;
}

/* ---- cases in a process of their own ------------------------------------ */

struct isolated {
  struct run *R;
  struct mp_run_case *rc;
};

/* In the child: the case alone on a loop of its own, its outcome packed. */
static char *isolated_run(void *arg, size_t *len)
{
  struct isolated *iso = arg;
  struct mp_run_opts o = iso->R->opts;
  struct mp_run_case one;
  char *bytes;

  memset(&one, 0, sizeof(one));
  one.file = iso->rc->file;
  one.c = iso->rc->c;
  one.parse_error = iso->rc->parse_error;
  o.jobs = 1;
  o.no_fork = 1;
  o.on_done = NULL;
  o.data = NULL;
  if (mp_run(&one, 1, &o) < 0 || !one.done)
    return NULL;
  bytes = mp_outcome_pack(&one.out, one.result, len);
  mp_run_case_clear(&one);
  mp_probe_cleanup();
  return bytes;
}

/* In the parent: the child's outcome becomes the case's. */
static void on_isolated(const struct mp_isolate_end *end, void *data)
{
  struct isolated *iso = data;
  struct run *R = iso->R;
  struct mp_run_case *rc = iso->rc;
  struct mp_result *result = NULL;
  const char *why = NULL;

  memset(&rc->out, 0, sizeof(rc->out));
  if (end->timed_out)
    why = "did not finish in time and was killed";
  else if (end->too_big)
    why = "wrote more than its outcome can be and was killed";
  if (!why && !end->signal && end->len &&
      mp_outcome_unpack(end->bytes, end->len, &rc->out, &result) == 0) {
    rc->result = result; /* passed and diffs are the child's */
    if (end->exit_code != 0) {
      /* After its outcome: a sanitizer's or valgrind's exit status. */
      mp_diff_add(&rc->out.diffs, &rc->out.ndiffs,
                  "the case's own process (expect.memory) exited with status "
                  "%d after its outcome (see its report on stderr)",
                  end->exit_code);
      rc->out.passed = 0;
    }
  } else {
    if (why)
      mp_diff_add(&rc->out.diffs, &rc->out.ndiffs,
                  "the case's own process (expect.memory) %s", why);
    else if (end->signal)
      mp_diff_add(&rc->out.diffs, &rc->out.ndiffs,
                  "the case's own process (expect.memory) was killed by signal "
                  "%d (%s)",
                  end->signal, strsignal(end->signal));
    else
      mp_diff_add(&rc->out.diffs, &rc->out.ndiffs,
                  "the case's own process (expect.memory) exited with status "
                  "%d and %s",
                  end->exit_code,
                  end->len ? "an outcome that did not read" : "no outcome");
    rc->out.passed = 0;
  }
  rc->out.file = rc->file;
  rc->out.name = rc->c ? rc->c->name : NULL;
  rc->out.result = rc->result;
  rc->done = 1;
  R->running--;
  R->children--;
  R->finished++;
  if (R->opts.on_done)
    R->opts.on_done(rc, R->opts.data);
  if (!R->pumping)
    pump(R);
  check_all_done(R);
}

/* Starts rc in a child process; 0, or -1 when none could be made (the
 * caller then runs it here). */
static int start_isolated(struct run *R, struct mp_run_case *rc)
{
  struct isolated *iso;
  uint64_t deadline = case_safety_ms(R, rc->c) + R->opts.grace_ms + REAPER_MS +
                      ISOLATED_SLACK_MS;

  if (!R->isolator)
    return -1;
  iso = &R->iso_args[rc - R->cases];
  R->running++;
  if (mp_isolate_start(R->isolator, isolated_run, iso, deadline, on_isolated,
                       iso) < 0) {
    R->running--;
    return -1;
  }
  R->children++;
  return 0;
}

/* With cases in processes of their own, the forker and what each child
 * reads, before the loop runs: a fork of this process on the loop stalls
 * every case running beside it (harness/run/isolate.h). */
static void isolator_prepare(struct run *R)
{
  size_t i;
  long cpus;
  int any = 0;

  for (i = 0; i < R->n && !any; i++)
    any = measures_heap(R, &R->cases[i]);
  if (!any || R->opts.no_fork)
    return;
  R->iso_args = calloc(R->n, sizeof(*R->iso_args));
  R->waiting = calloc(R->n, sizeof(*R->waiting));
  if (!R->iso_args || !R->waiting)
    return;
  cpus = sysconf(_SC_NPROCESSORS_ONLN);
  R->max_children = cpus > MIN_CHILDREN ? (size_t)cpus : MIN_CHILDREN;
  for (i = 0; i < R->n; i++) {
    R->iso_args[i].R = R;
    R->iso_args[i].rc = &R->cases[i];
  }
  if (mp_isolator_new(&R->loop, &R->isolator) < 0)
    R->isolator = NULL; /* they run here, one after another */
}

void mp_run_pump(struct run *R)
{
  pump(R);
}

/* 1 when rc runs in a child the forker makes. */
static int isolates(const struct run *R, const struct mp_run_case *rc)
{
  return measures_heap(R, rc) && !R->opts.no_fork && R->isolator &&
         !R->iso_broken;
}

/* 1 when the head of the line for a child can go: a child slot is free
 * (or, without a forker, nothing else runs beside it). */
static int line_ready(const struct run *R)
{
  return R->whead < R->wtail &&
         (R->iso_broken ? R->running == 0 : R->children < R->max_children);
}

/* 1 while a case could start now. */
static int can_start(const struct run *R)
{
  const struct mp_run_case *rc;

  if (R->svc_state == SVC_STARTING)
    return 0; /* the cases wait for the subject's service */
  if (R->running >= R->opts.jobs || R->mem_job)
    return 0;
  if (line_ready(R))
    return 1;
  if (R->next >= R->n)
    return 0;
  rc = &R->cases[R->next];
  if (isolates(R, rc))
    return 1; /* a child, or the line for one */
  /* Here, a case with expect.memory waits for the others to finish and
   * runs alone (cases after it wait for it). */
  return !(measures_heap(R, rc) && R->running > 0);
}

/* Starts the next cases, for at most START_BUDGET_MS a turn of the loop
 * (at least one): a case's start issues certificates and builds TLS
 * contexts (tens of milliseconds under ASan), and thirty of them in one
 * turn held the loop two seconds while the cases already running waited
 * for their replies and timers; cheap starts still go many a turn. A case for
 * a child waits in line while max_children run: thirty children at once
 * (ASan builds, each a CPU hog for its moment) on two cores left this
 * loop a thirtieth of the CPU; the cases behind it start meanwhile. */
static void on_starter(uv_idle_t *h)
{
  struct run *R = h->data;
  struct mp_run_case *rc;
  uint64_t until = uv_hrtime() + START_BUDGET_MS * 1000000ull;

  R->pumping = 1;
  while (can_start(R) && uv_hrtime() < until) {
    if (line_ready(R)) {
      rc = R->waiting[R->whead];
      if (!R->iso_broken && start_isolated(R, rc) == 0) {
        R->whead++;
        continue; /* a request to the forker: cheap */
      }
      /* No child: it runs here, alone, once the others are done. */
      R->iso_broken = 1;
      if (R->running > 0)
        break;
      R->whead++;
      start_case(R, rc);
      continue;
    }
    rc = &R->cases[R->next];
    if (isolates(R, rc)) {
      R->next++;
      if (R->children >= R->max_children || start_isolated(R, rc) < 0) {
        if (R->children < R->max_children)
          R->iso_broken = 1; /* no child: in line to run here */
        R->waiting[R->wtail++] = rc;
      }
      continue;
    }
    R->next++;
    start_case(R, rc);
  }
  R->pumping = 0;
  if (!can_start(R))
    uv_idle_stop(h);
  check_all_done(R);
}

static void pump(struct run *R)
{
  if (can_start(R))
    uv_idle_start(&R->starter, on_starter);
  check_all_done(R);
}

static void close_any(uv_handle_t *h, void *arg)
{
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

int mp_run(struct mp_run_case *cases, size_t n, const struct mp_run_opts *opts)
{
  struct run *R;
  size_t i;
  int need_ca = 0, need_rsa = 0, rc;

  R = calloc(1, sizeof(*R));
  if (!R)
    return MP_E_NO_RESOURCES;
  R->cases = cases;
  R->n = n;
  R->opts = *opts;
  if (!R->opts.jobs)
    R->opts.jobs = MP_RUN_DEFAULT_JOBS;
  if (!R->opts.grace_ms)
    R->opts.grace_ms = DEFAULT_GRACE_MS;
  if (!R->opts.safety_ms)
    R->opts.safety_ms = DEFAULT_SAFETY_MS;
  for (i = 0; i < n; i++)
    if (cases[i].c && cases[i].c->nservers && !cases[i].c->probe.target)
      need_ca = 1;
  /* An RSA key is made once, here, not by a server starting on the loop
   * while other cases' servers wait behind it. */
  for (i = 0; i < n && !need_rsa; i++)
    for (size_t s = 0; cases[i].c && s < cases[i].c->nservers; s++) {
      const struct mp_fake_config *f = &cases[i].c->servers[s];
      if (f->rsa || (f->cert_like && f->cert_like->rsa))
        need_rsa = 1;
    }
  if (need_rsa)
    mp_cert_key_warm(MP_KEY_RSA_2048);
  /* One CA for the whole run; the fake servers issue leaves from it. */
  if (need_ca)
    R->ca = mp_ca_new("mailprobe test CA", MP_KEY_EC_P256);
  rc = uv_loop_init(&R->loop);
  if (rc < 0) {
    mp_ca_free(R->ca);
    free(R);
    return MP_E_NO_RESOURCES;
  }
  if (R->opts.subject && !R->opts.subject->builtin &&
      mp_run_subject_prepare(R) < 0) {
    uv_loop_close(&R->loop);
    mp_ca_free(R->ca);
    free(R);
    return MP_E_NO_RESOURCES;
  }
  isolator_prepare(R);
  uv_check_init(&R->loop, &R->mem_check);
  R->mem_check.data = R;
  uv_idle_init(&R->loop, &R->starter);
  R->starter.data = R;
  if (R->opts.subject && R->opts.subject->service)
    mp_run_service_start(R);
  else
    pump(R);
  uv_run(&R->loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&R->mem_check, NULL);
  uv_close((uv_handle_t *)&R->starter, NULL);
  if (R->reaper_on) {
    uv_close((uv_handle_t *)&R->reaper, NULL);
    R->reaper_on = 0;
  }
  /* Every child ended: the forker goes too. */
  mp_isolator_free(R->isolator);
  R->isolator = NULL;
  if (R->abandoned) {
    fprintf(stderr,
            "mailprobe: %zu probe(s) never called back after the safety "
            "deadline (a probe bug); closing their handles\n",
            R->abandoned);
    uv_walk(&R->loop, close_any, NULL);
  }
  uv_run(&R->loop, UV_RUN_DEFAULT);
  /* Jobs still listed waited for a probe that never came back. */
  while (R->jobs) {
    struct job *j = R->jobs;

    R->jobs = j->next;
    mp_job_subject_free(j);
    mp_job_tokens_free(j);
    free(j->servers);
    free(j->idps);
    free(j);
  }
  if (uv_loop_close(&R->loop) != 0)
    fprintf(stderr, "mailprobe: the event loop still had open handles\n");
  mp_run_subject_cleanup(R);
  mp_ca_free(R->ca);
  free(R->iso_args);
  free(R->waiting);
  free(R);
  return 0;
}
