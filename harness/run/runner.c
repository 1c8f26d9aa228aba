#include "harness/run/runner.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "fake_servers/fake.h"
#include "fake_servers/mailstore.h"
#include "harness/cli/args.h"
#include "harness/case/case.h"
#include "harness/run/compare.h"
#include "harness/run/heap.h"
#include "harness/run/isolate.h"
#include "harness/run/outcome_pack.h"
#include "probes/mask.h"
#include "probes/probe.h"
#include "probes/result.h"
#include "probes/roundtrip.h"
#include "wire/cert.h"
#include "wire/conn.h"
#include "wire/errors.h"

#define DEFAULT_GRACE_MS 1000
#define GRACE_POLL_MS 5
#define DEFAULT_SAFETY_MS 10000
/* How long a finished run waits for abandoned probes before it gives up on
 * them. */
#define REAPER_MS 3000
/* A case in a process of its own is killed this long after its own safety
 * deadline, grace and reaper would have ended it. */
#define ISOLATED_SLACK_MS 10000

struct job;

struct run {
  uv_loop_t loop;
  struct mp_run_case *cases;
  size_t n;
  struct mp_run_opts opts;
  struct mp_ca *ca;
  size_t next;    /* the next case to start */
  size_t running; /* started, not finished */
  size_t finished;
  size_t abandoned; /* probes past the safety deadline, still out */
  int pumping;
  uv_timer_t reaper;
  int reaper_on;
  struct job *jobs; /* every job not yet freed */
  /* expect.memory: such a case runs alone (the heap is the process's),
   * its heap sampled after every poll of the loop. */
  uv_check_t mem_check;
  struct job *mem_job; /* the case measured, or NULL */
  size_t mem_base, mem_peak;
};

struct job {
  struct run *run;
  struct job *next, *prev;
  struct mp_run_case *rc;
  uint64_t start_us;
  struct mp_mailstore *store;
  struct mp_fake_server **servers; /* one per config, NULL once stopped */
  size_t nservers;
  size_t stopping; /* stops not yet done (plus one while issuing them) */
  struct mp_probe_opts opts;
  char host[256];
  uv_timer_t timer;    /* the safety deadline, then the grace before checks */
  uv_timer_t gap;      /* round trips: the pause between two runs */
  int handles;         /* timers not yet closed */
  char want_last[256]; /* the probe's last line sent, for the grace ("":
                          none) */
  int grace_srv;       /* -1: want_last on any server; else on
                          this server's last session */
  uint64_t grace_start_us;
  /* Round trips: the options of every run, the runs done, and whether
   * rc->result is a run that did not match (kept for the report). */
  struct mp_rt_opts rto;
  char host2[256];
  unsigned runs_done;
  int kept_bad_run;
  int probe_pending;
  int abandoned;
  int finished;
  int closing;
  char **diffs;
  size_t ndiffs;
};

static void pump(struct run *R);

void mp_run_case_clear(struct mp_run_case *rc)
{
  size_t i;

  for (i = 0; i < rc->out.ndiffs; i++)
    free(rc->out.diffs[i]);
  free(rc->out.diffs);
  mp_result_free(rc->result);
  rc->result = NULL;
  memset(&rc->out, 0, sizeof(rc->out));
  rc->done = 0;
}

static void job_diff(struct job *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void job_diff(struct job *j, const char *fmt, ...)
{
  char buf[1024];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  mp_diff_add(&j->diffs, &j->ndiffs, "%s", buf);
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
  free(j->servers);
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
    job_diff(j, "memory: this build cannot measure the heap (expect.memory "
                "is not checked)");
    return;
  }
  grew = R->mem_peak - R->mem_base;
  if (grew > max)
    job_diff(j,
             "memory: expected the heap to grow by at most %s, it grew by %s",
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
static void job_stop_servers(struct job *j)
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
  on_server_stopped(j);
}

static int server_index(const struct mp_case *c, const char *name)
{
  size_t i;

  for (i = 0; i < c->nservers; i++)
    if (c->servers[i].name && name && strcmp(c->servers[i].name, name) == 0)
      return (int)i;
  return -1;
}

/* What the servers saw against expect.servers. Runs while they still run,
 * after the grace period. */
static void check_servers(struct job *j)
{
  const struct mp_case *c = j->rc->c;
  size_t k, i, l, nseen;
  char shown[512];

  for (k = 0; k < c->expect.nservers; k++) {
    const struct mp_expect_server *es = &c->expect.servers[k];
    const struct mp_fake_seen *seen;
    struct mp_fake_server *s;
    int idx = server_index(c, es->server);

    if (idx < 0) {
      job_diff(j, "expect.servers: no server named \"%s\"",
               es->server ? es->server : "");
      continue;
    }
    s = (size_t)idx < j->nservers ? j->servers[idx] : NULL;
    if (!s) {
      /* With probe.target no fake server runs: nothing can be checked. */
      job_diff(j, "server %s: did not run, so nothing it saw can be checked",
               es->server);
      continue;
    }
    seen = mp_fake_seen(s, &nseen);
    for (i = 0; i < es->nsaw; i++) {
      for (l = 0; l < nseen; l++)
        if (mp_glob_match(es->saw[i], seen[l].line))
          break;
      if (l == nseen)
        job_diff(j, "server %s: expected to see \"%s\", not seen", es->server,
                 es->saw[i]);
    }
    for (i = 0; i < es->nnot_saw; i++) {
      for (l = 0; l < nseen; l++) {
        if (mp_glob_match(es->not_saw[i], seen[l].line)) {
          mp_mask_line(seen[l].line, seen[l].input, shown, sizeof(shown));
          job_diff(j, "server %s: saw \"%s\" (not_saw \"%s\")", es->server,
                   shown, es->not_saw[i]);
          break;
        }
      }
    }
    for (i = 0; i < es->nnot_saw_in_clear; i++) {
      for (l = 0; l < nseen; l++) {
        if (!seen[l].tls &&
            mp_glob_match(es->not_saw_in_clear[i], seen[l].line)) {
          mp_mask_line(seen[l].line, seen[l].input, shown, sizeof(shown));
          job_diff(j,
                   "server %s: saw \"%s\" before TLS (not_saw_in_clear "
                   "\"%s\")",
                   es->server, shown, es->not_saw_in_clear[i]);
          break;
        }
      }
    }
    if (es->sessions >= 0 && (unsigned)es->sessions != mp_fake_sessions(s))
      job_diff(j, "server %s: sessions: expected %d, got %u", es->server,
               es->sessions, mp_fake_sessions(s));
  }
}

/* 1 when server s (or every server when s is NULL) is done with the
 * probe: its latest session received the probe's last line, or no session
 * is open any more (the probe's close was seen, so nothing is in flight). */
static int servers_caught_up(const struct job *j, struct mp_fake_server *s,
                             const char *last)
{
  size_t i, k, n;

  for (i = 0; i < j->nservers; i++) {
    struct mp_fake_server *x = s ? s : j->servers[i];
    if (!x)
      continue;
    if (mp_fake_live_sessions(x) > 0) {
      const struct mp_fake_seen *seen = mp_fake_seen(x, &n);
      unsigned cur = mp_fake_sessions(x);
      int found = 0;
      for (k = n; last && k > 0 && seen[k - 1].session == cur; k--)
        if (strcmp(seen[k - 1].line, last) == 0) {
          found = 1;
          break;
        }
      if (!found)
        return 0;
    }
    if (s)
      break;
  }
  return 1;
}

/* The INBOX sizes left when the case is over, against expect.mailboxes. */
static void check_mailboxes(struct job *j)
{
  const struct mp_case_expect *e = &j->rc->c->expect;
  uint64_t now = mp_now_us();
  size_t i, got;

  for (i = 0; i < e->nmailboxes; i++) {
    const struct mp_expect_mailbox *m = &e->mailboxes[i];

    if (!j->store || !mp_mailstore_has_user(j->store, m->user)) {
      job_diff(j,
               "mailbox %s: no fake server kept it, so it cannot be "
               "counted",
               m->user);
      continue;
    }
    got = mp_mailstore_count(j->store, m->user, now);
    if ((int64_t)got != m->messages)
      job_diff(j, "mailbox %s: expected %" PRId64 " message%s left, got %zu",
               m->user, m->messages, m->messages == 1 ? "" : "s", got);
  }
}

/* Polls until the servers have caught up with the probe (its last line,
 * often QUIT, may still be in flight when the result comes), or grace_ms
 * passed (a line sent into a closed connection never arrives); then
 * compares and stops the servers. */
static void on_grace(uv_timer_t *t)
{
  struct job *j = t->data;
  struct run *R = j->run;
  struct mp_fake_server *gs =
      j->grace_srv >= 0 ? j->servers[j->grace_srv] : NULL;

  if (!servers_caught_up(j, gs, j->want_last[0] ? j->want_last : NULL) &&
      uv_hrtime() / 1000 - j->grace_start_us < R->opts.grace_ms * 1000)
    return; /* the repeating timer calls again */
  uv_timer_stop(&j->timer);
  /* Round trips were compared run by run. */
  if (j->rc->c->probe.type != MP_CASE_ROUNDTRIP)
    mp_run_compare(j->rc->c, j->rc->result, &j->diffs, &j->ndiffs);
  check_servers(j);
  check_mailboxes(j);
  job_stop_servers(j);
}

static void on_probe(struct mp_result *r, void *data)
{
  struct job *j = data;
  struct run *R = j->run;
  size_t i;

  j->probe_pending = 0;
  if (j->abandoned) {
    /* Too late: the case already failed on the safety deadline. */
    mp_result_free(r);
    R->abandoned--;
    job_maybe_free(j);
    if (R->abandoned == 0 && R->reaper_on) {
      uv_close((uv_handle_t *)&R->reaper, NULL);
      R->reaper_on = 0;
    }
    return;
  }
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
  uv_timer_start(&j->timer, on_grace, GRACE_POLL_MS, GRACE_POLL_MS);
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

static uint64_t safety_deadline_ms(const struct run *R, const struct job *j)
{
  return case_safety_ms(R, j->rc->c);
}

static void on_safety(uv_timer_t *t)
{
  struct job *j = t->data;
  struct run *R = j->run;

  if (!j->probe_pending) {
    /* Between two runs of a round trip: nothing is out to wait for. */
    uv_timer_stop(&j->gap);
    job_diff(j,
             "the round trip did not finish within %" PRIu64
             " ms (the harness's safety deadline)",
             safety_deadline_ms(R, j));
    job_stop_servers(j);
    return;
  }
  j->abandoned = 1;
  R->abandoned++;
  job_diff(j,
           "the probe did not finish within %" PRIu64
           " ms (the harness's safety deadline): the case was abandoned",
           safety_deadline_ms(R, j));
  job_stop_servers(j);
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
static int point(struct job *j, const struct mp_case_probe *p,
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
      job_diff(j, "%s.target: %s", where, err);
      return -1;
    }
    o->host = host;
    return 0;
  }
  idx = p->server ? server_index(c, p->server) : (c->nservers == 1 ? 0 : -1);
  if (idx < 0 || (size_t)idx >= j->nservers || !j->servers[idx]) {
    if (p->server)
      job_diff(j, "%s.server: no server named \"%s\"", where, p->server);
    else
      job_diff(j, "%s: name a server or a target", where);
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
  idx = half && half->server ? server_index(j->rc->c, half->server) : -1;
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
  struct run *R = j->run;
  const struct mp_case_rt *rt = j->rc->c->probe.rt;
  size_t before = j->ndiffs;

  (void)token;
  j->probe_pending = 0;
  if (j->abandoned) {
    mp_result_free(r);
    R->abandoned--;
    job_maybe_free(j);
    if (R->abandoned == 0 && R->reaper_on) {
      uv_close((uv_handle_t *)&R->reaper, NULL);
      R->reaper_on = 0;
    }
    return;
  }
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
  uv_timer_start(&j->timer, on_grace, GRACE_POLL_MS, GRACE_POLL_MS);
}

static void rt_next(struct job *j)
{
  int rc;

  j->probe_pending = 1;
  rc = mp_roundtrip_start(&j->run->loop, &j->rto, on_rt, j);
  if (rc < 0) {
    j->probe_pending = 0;
    job_diff(j, "run %u: the round trip did not start: %s", j->runs_done + 1,
             mp_err_message(rc));
    uv_timer_stop(&j->timer);
    job_stop_servers(j);
  }
}

/* Fills the round trip's options from the case and starts its first run
 * (the servers run already). */
static void rt_start(struct job *j)
{
  const struct mp_case_rt *rt = j->rc->c->probe.rt;
  struct mp_rt_opts *o = &j->rto;

  memset(o, 0, sizeof(*o));
  o->send = rt->send.opts;
  o->send.proto = MP_PROTO_SMTP;
  o->fetch = rt->fetch.opts;
  if (point(j, &rt->send, &o->send, j->host, sizeof(j->host), "probe.send") <
          0 ||
      point(j, &rt->fetch, &o->fetch, j->host2, sizeof(j->host2),
            "probe.fetch") < 0) {
    job_stop_servers(j);
    return;
  }
  o->from = rt->from;
  o->to = rt->to;
  o->subject = rt->subject;
  o->id = rt->id;
  o->email_timeout_ms = rt->email_timeout_ms;
  o->poll_ms = rt->poll_ms;
  o->mode = rt->mode == 1 ? MP_RT_PREVIOUS : MP_RT_SAME;
  o->first_run = 1;
  uv_timer_start(&j->timer, on_safety, safety_deadline_ms(j->run, j), 0);
  rt_next(j);
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
  struct mp_fake_env env;
  size_t i;
  int rc;

  if (!c) {
    job_diff(j, "%s",
             j->rc->parse_error ? j->rc->parse_error
                                : "the case file did not parse");
    job_stop_servers(j);
    return;
  }
  j->opts = c->probe.opts;
  j->opts.proto = case_proto(c);
  if (c->nservers && !c->probe.target) {
    if (!R->ca) {
      job_diff(j, "could not make the run's test CA");
      job_stop_servers(j);
      return;
    }
    j->servers = calloc(c->nservers, sizeof(*j->servers));
    j->store = mp_mailstore_new();
    if (!j->servers || !j->store) {
      job_diff(j, "out of memory");
      job_stop_servers(j);
      return;
    }
    j->nservers = c->nservers;
    rc = mp_run_seed_mail(c, j->store);
    if (rc < 0) {
      job_diff(j, "could not fill the mailboxes: %s", mp_err_message(rc));
      job_stop_servers(j);
      return;
    }
    env.ca = R->ca;
    env.store = j->store;
    for (i = 0; i < c->nservers; i++) {
      rc = mp_fake_start(&R->loop, &c->servers[i], &env, "127.0.0.1", 0,
                         &j->servers[i]);
      if (rc < 0) {
        j->servers[i] = NULL;
        job_diff(j, "server %s: could not start: %s",
                 c->servers[i].name ? c->servers[i].name : "?",
                 mp_err_message(rc));
        job_stop_servers(j);
        return;
      }
    }
  }
  if (c->probe.type == MP_CASE_ROUNDTRIP) {
    if (!c->probe.rt) {
      job_diff(j, "probe: a roundtrip without send and fetch");
      job_stop_servers(j);
      return;
    }
    rt_start(j);
    return;
  }
  if (point(j, &c->probe, &j->opts, j->host, sizeof(j->host), "probe") < 0) {
    job_stop_servers(j);
    return;
  }
  j->probe_pending = 1;
  rc = mp_probe_start(&R->loop, &j->opts, on_probe, j);
  if (rc < 0) {
    j->probe_pending = 0;
    job_diff(j, "the probe did not start: %s", mp_err_message(rc));
    job_stop_servers(j);
    return;
  }
  if (j->probe_pending)
    uv_timer_start(&j->timer, on_safety, safety_deadline_ms(R, j), 0);
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
  if (rc->c && rc->c->expect.has_memory)
    mem_start(R, j);
  job_start(j);
}

/* 1 for a case whose expect.memory bound is the process's heap. */
static int measures_heap(const struct mp_run_case *rc)
{
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

  free(iso);
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
  struct isolated *iso = calloc(1, sizeof(*iso));
  uint64_t deadline = case_safety_ms(R, rc->c) + R->opts.grace_ms + REAPER_MS +
                      ISOLATED_SLACK_MS;

  if (!iso)
    return -1;
  iso->R = R;
  iso->rc = rc;
  R->running++;
  if (mp_isolate_start(&R->loop, isolated_run, iso, deadline, on_isolated,
                       iso) < 0) {
    R->running--;
    free(iso);
    return -1;
  }
  return 0;
}

static void pump(struct run *R)
{
  R->pumping = 1;
  while (R->running < R->opts.jobs && R->next < R->n && !R->mem_job) {
    struct mp_run_case *rc = &R->cases[R->next];

    if (measures_heap(rc) && !R->opts.no_fork && start_isolated(R, rc) == 0) {
      R->next++;
      continue;
    }
    /* Here, a case with expect.memory waits for the others to finish and
     * runs alone (cases after it wait for it). */
    if (measures_heap(rc) && R->running > 0)
      break;
    start_case(R, &R->cases[R->next++]);
  }
  R->pumping = 0;
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
  int need_ca = 0, rc;

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
  /* One CA for the whole run; the fake servers issue leaves from it. */
  if (need_ca)
    R->ca = mp_ca_new("mailprobe test CA", MP_KEY_EC_P256);
  rc = uv_loop_init(&R->loop);
  if (rc < 0) {
    mp_ca_free(R->ca);
    free(R);
    return MP_E_NO_RESOURCES;
  }
  uv_check_init(&R->loop, &R->mem_check);
  R->mem_check.data = R;
  pump(R);
  uv_run(&R->loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&R->mem_check, NULL);
  if (R->reaper_on) {
    uv_close((uv_handle_t *)&R->reaper, NULL);
    R->reaper_on = 0;
  }
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
    free(j->servers);
    free(j);
  }
  if (uv_loop_close(&R->loop) != 0)
    fprintf(stderr, "mailprobe: the event loop still had open handles\n");
  mp_ca_free(R->ca);
  free(R);
  return 0;
}
