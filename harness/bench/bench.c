/* `mailprobe bench`'s engine (harness/bench/bench.h).
 *
 * Two sides. The server side ("host", bench_servers.c) runs the workload's
 * fake servers on a loop of its own, in a second thread or a child
 * process, and publishes their ports, the sessions accepted so far and its
 * CPU time in a shared anonymous mapping (MAP_SHARED, so the same code
 * serves both). The probe side, here, runs on the caller's thread: it keeps
 * `concurrency` probes in flight until the count or the duration is reached,
 * and folds every result into histograms allocated up front (no allocation per
 * result, so the RSS figures are the engine's). */
#include "harness/bench/bench.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "fake_servers/fake.h"
#include "fake_servers/mailstore.h"
#include "harness/bench/bench_servers.h"
#include "harness/case/case.h"
#include "probes/probe.h"
#include "probes/target.h"
#include "wire/cert.h"
#include "wire/conn.h"
#include "wire/errors.h"

#define TICK_MS 20
#define PROGRESS_TICKS 10
/* Descriptors kept back from the limit for the loops, the listeners and
 * stdio. */
#define FD_RESERVE 64
#define DEFAULT_TIMEOUT_MS 10000
#define SLOW_TIMEOUT_MS 2000
#define SLOW_EXTRA_MS 60000
/* Probes per server address (see mp_bench_run). */
#define DEST_EACH 4000

static const char user_name[] = "probe@example.test";
static const char user_pass[] = "s3cret";
static const char host_name[] = "mx.example.test";

static const char *const workload_names[MP_BENCH_WORKLOAD_COUNT] = {
    [MP_BENCH_SMTP] = "smtp", [MP_BENCH_STARTTLS] = "starttls",
    [MP_BENCH_POP3] = "pop3", [MP_BENCH_IMAP] = "imap",
    [MP_BENCH_SLOW] = "slow", [MP_BENCH_SLOW_TLS] = "slow-tls",
    [MP_BENCH_CASE] = "case",
};

const char *mp_bench_workload_name(enum mp_bench_workload w)
{
  return (unsigned)w < MP_BENCH_WORKLOAD_COUNT ? workload_names[w] : "unknown";
}

int mp_bench_workload_from_name(const char *name)
{
  for (int i = 0; i < MP_BENCH_WORKLOAD_COUNT; i++)
    if (strcasecmp(name, workload_names[i]) == 0)
      return i;
  return -1;
}

/* ---- histograms -------------------------------------------------------- */

static size_t hist_index(uint64_t v)
{
  if (v < MP_BENCH_HIST_SUB)
    return (size_t)v;
  int msb = 63 - __builtin_clzll(v);
  size_t idx = (size_t)(msb - 5) * MP_BENCH_HIST_SUB +
               (size_t)((v >> (msb - 6)) - MP_BENCH_HIST_SUB);
  size_t last = MP_BENCH_HIST_EXP * MP_BENCH_HIST_SUB - 1;
  return idx > last ? last : idx;
}

/* The largest value that falls into bucket idx. */
static uint64_t hist_upper(size_t idx)
{
  if (idx < MP_BENCH_HIST_SUB)
    return idx;
  unsigned msb = (unsigned)(idx / MP_BENCH_HIST_SUB) + 5;
  uint64_t sub = idx % MP_BENCH_HIST_SUB;
  uint64_t lower = (MP_BENCH_HIST_SUB + sub) << (msb - 6);
  return lower + (1ull << (msb - 6)) - 1;
}

void mp_bench_hist_add(struct mp_bench_hist *h, uint64_t us)
{
  h->count[hist_index(us)]++;
  h->n++;
  h->sum += us;
  if (us > h->max)
    h->max = us;
}

uint64_t mp_bench_hist_quantile(const struct mp_bench_hist *h, double q)
{
  if (h->n == 0)
    return 0;
  if (q < 0)
    q = 0;
  if (q > 1)
    q = 1;
  uint64_t rank = (uint64_t)(q * (double)h->n + 0.999999);
  if (rank == 0)
    rank = 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < MP_BENCH_HIST_EXP * MP_BENCH_HIST_SUB; i++) {
    seen += h->count[i];
    if (seen >= rank) {
      uint64_t up = hist_upper(i);
      return up < h->max ? up : h->max;
    }
  }
  return h->max;
}

/* ---- process figures --------------------------------------------------- */

uint64_t mp_bench_raise_fd_limit(void)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
    return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur == RLIM_INFINITY ? 1u << 20 : (uint64_t)rl.rlim_cur;
}

/* The resident set in KiB (/proc/self/statm), 0 if unknown. */
static uint64_t rss_kib(void)
{
  static long page_kib;
  unsigned long size = 0, res = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f)
    return 0;
  if (fscanf(f, "%lu %lu", &size, &res) != 2)
    res = 0;
  fclose(f);
  if (!page_kib)
    page_kib = sysconf(_SC_PAGESIZE) / 1024;
  return (uint64_t)res * (uint64_t)page_kib;
}

static double process_cpu_s(void)
{
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) < 0)
    return 0;
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- the probe side ---------------------------------------------------- */

struct slot {
  struct bench *b;
  uint64_t start_us;
  struct slot *next;
  char user[40]; /* POP3/IMAP: each slot logs in as its own user (a
                    maildrop is locked while a session holds it) */
  unsigned dest; /* the server copy this slot probes */
};

struct bench {
  uv_loop_t loop;
  const struct mp_bench_opts *o;
  struct mp_bench_report *rep;
  struct mp_probe_opts popts;
  struct slot *slots, *free_slots;
  uint64_t timeout_us;
  uint64_t t0_us, t_last_us, stop_at_us;
  int stop_starting;
  int slow;          /* every probe is expected to time out */
  int user_per_slot; /* log in as the slot's user */
  unsigned ndest;    /* copies of the server, one per address */
  char dest_host[MP_BENCH_MAX_SERVERS][16];
  uint16_t dest_port[MP_BENCH_MAX_SERVERS];
  uv_timer_t tick;
  unsigned ticks;
  struct mp_bench_shared *sh; /* NULL with a target */
  uint32_t sessions_base;     /* accepted before the first probe */
};

static void start_more(struct bench *b);

static void record(struct bench *b, struct slot *s, struct mp_result *r)
{
  struct mp_bench_report *rep = b->rep;
  uint64_t now = mp_now_us();
  rep->done++;
  rep->in_flight--;
  b->t_last_us = now;
  if (r->ok) {
    rep->ok++;
  } else {
    rep->failed++;
    int e = -r->err - 100;
    if (e > 0 && e < 32)
      rep->errors[e]++;
    else
      rep->errors[0]++;
    if (!rep->first_error[0])
      snprintf(rep->first_error, sizeof(rep->first_error), "%s in %s%s%s",
               r->err ? mp_err_name(r->err) : "failure",
               mp_phase_name(r->phase), r->detail ? ": " : "",
               r->detail ? r->detail : "");
  }
  mp_bench_hist_add(&rep->total, r->total_us);
  for (int p = 0; p < MP_PHASE_COUNT; p++)
    if (r->timings_us[p] >= 0)
      mp_bench_hist_add(&rep->phase[p], (uint64_t)r->timings_us[p]);
  if (r->err == MP_E_TIMEOUT) {
    uint64_t deadline = s->start_us + b->timeout_us;
    rep->late_n++;
    if (now >= deadline) {
      mp_bench_hist_add(&rep->late, now - deadline);
    } else {
      int64_t early = -(int64_t)(deadline - now);
      rep->early_n++;
      mp_bench_hist_add(&rep->late, 0);
      if (early < rep->early_max_us)
        rep->early_max_us = early;
    }
  }
  if (r->ok && r->auth && !rep->auth[0])
    snprintf(rep->auth, sizeof(rep->auth), "%s", r->auth);
  if (r->tls_used && !rep->tls_version[0]) {
    snprintf(rep->tls_version, sizeof(rep->tls_version), "%s", r->tls.version);
    snprintf(rep->tls_cipher, sizeof(rep->tls_cipher), "%s", r->tls.cipher);
  }
}

static void on_result(struct mp_result *r, void *data)
{
  struct slot *s = data;
  struct bench *b = s->b;
  record(b, s, r);
  mp_result_free(r);
  s->next = b->free_slots;
  b->free_slots = s;
  start_more(b);
}

static void maybe_finish(struct bench *b)
{
  if (b->stop_starting && b->rep->in_flight == 0 &&
      !uv_is_closing((uv_handle_t *)&b->tick))
    uv_close((uv_handle_t *)&b->tick, NULL);
}

static void start_more(struct bench *b)
{
  struct mp_bench_report *rep = b->rep;
  while (!b->stop_starting && rep->in_flight < rep->concurrency) {
    if (b->o->probes && rep->started >= b->o->probes) {
      b->stop_starting = 1;
      break;
    }
    if (b->stop_at_us && rep->started > 0 && mp_now_us() >= b->stop_at_us) {
      b->stop_starting = 1;
      break;
    }
    struct slot *s = b->free_slots;
    b->free_slots = s->next;
    s->b = b;
    if (b->user_per_slot)
      b->popts.user = s->user;
    if (b->ndest > 1) {
      b->popts.host = b->dest_host[s->dest];
      b->popts.port = b->dest_port[s->dest];
    }
    s->start_us = mp_now_us();
    if (rep->started == 0) {
      b->t0_us = s->start_us;
      if (b->o->duration_ms)
        b->stop_at_us = b->t0_us + b->o->duration_ms * 1000;
    }
    int rc = mp_probe_start(&b->loop, &b->popts, on_result, s);
    if (rc < 0) {
      /* Counted as a failure; a probe that cannot start now will not
       * start on the next try either. */
      s->next = b->free_slots;
      b->free_slots = s;
      rep->started++;
      rep->done++;
      rep->failed++;
      if (-rc - 100 > 0 && -rc - 100 < 32)
        rep->errors[-rc - 100]++;
      if (!rep->first_error[0])
        snprintf(rep->first_error, sizeof(rep->first_error),
                 "the probe did not start: %s", mp_err_message(rc));
      b->stop_starting = 1;
      break;
    }
    rep->started++;
    rep->in_flight++;
    if (rep->in_flight > rep->max_in_flight)
      rep->max_in_flight = rep->in_flight;
  }
  maybe_finish(b);
}

static void on_tick(uv_timer_t *t)
{
  struct bench *b = t->data;
  struct mp_bench_report *rep = b->rep;
  uint64_t now = mp_now_us();
  uint64_t rss = rss_kib();
  if (rss > rep->rss_peak_kib)
    rep->rss_peak_kib = rss;
  /* Slow workloads, every probe in flight: sample the memory they hold,
   * once the servers accepted all of them (each probe has its connection
   * then, and waits for the banner), until the first result (what results
   * allocate is not what an in-flight probe holds). */
  int full = b->slow && rep->in_flight == rep->concurrency && rep->done == 0;
  if (full && b->sh)
    full = atomic_load(&b->sh->sessions) - b->sessions_base >= rep->concurrency;
  if (full && rss > rep->rss_full_kib) {
    rep->rss_full_kib = rss;
    rep->rss_full_n = rep->in_flight;
  }
  if (b->stop_at_us && now >= b->stop_at_us)
    b->stop_starting = 1;
  if (++b->ticks % PROGRESS_TICKS == 0 && b->o->progress) {
    rep->wall_s = (double)(now - b->t0_us) / 1e6;
    rep->probes_per_s = rep->wall_s > 0 ? (double)rep->done / rep->wall_s : 0;
    b->o->progress(rep, b->o->progress_data);
  }
  maybe_finish(b);
}

/* ---- workloads ---------------------------------------------------------- */

/* The configs of the built-in workloads (strings are static). */
struct builtin {
  struct mp_fake_config cfg;
  struct mp_fake_user user;
  struct mp_fake_rule rule;
  struct mp_fake_user *users; /* POP3/IMAP: one per slot (malloc'd) */
  struct mp_fake_config
      copies[MP_BENCH_MAX_SERVERS]; /* cfg on 127.0.0.1, .2, ... */
};

/* POP3 and IMAP: a user per slot, named in the slots. 0 or -1. */
static int slot_users(struct builtin *w, struct bench *b, unsigned n)
{
  w->users = calloc(n, sizeof(*w->users));
  if (!w->users)
    return -1;
  for (unsigned i = 0; i < n; i++) {
    snprintf(b->slots[i].user, sizeof(b->slots[i].user), "probe%u@example.test",
             i);
    w->users[i].name = b->slots[i].user;
    w->users[i].password = (char *)user_pass;
  }
  w->cfg.users = w->users;
  w->cfg.nusers = n;
  b->user_per_slot = 1;
  return 0;
}

static void builtin_config(struct builtin *w, const struct mp_bench_opts *o,
                           uint64_t timeout_ms)
{
  memset(w, 0, sizeof(*w));
  struct mp_fake_config *c = &w->cfg;
  w->user.name = (char *)user_name;
  w->user.password = (char *)user_pass;
  c->name = (char *)"mx";
  c->hostname = (char *)host_name;
  c->rsa = o->rsa;
  c->cert = MP_CERT_VALID;
  switch (o->workload) {
  case MP_BENCH_SMTP:
    c->proto = MP_FAKE_SMTP;
    break;
  case MP_BENCH_STARTTLS:
    c->proto = MP_FAKE_SMTP;
    c->tls = MP_FAKE_TLS_STARTTLS;
    c->users = &w->user;
    c->nusers = 1;
    break;
  case MP_BENCH_POP3:
    c->proto = MP_FAKE_POP3;
    break;
  case MP_BENCH_IMAP:
    c->proto = MP_FAKE_IMAP;
    break;
  case MP_BENCH_SLOW:
  case MP_BENCH_SLOW_TLS:
    c->proto = MP_FAKE_SMTP;
    c->tls = o->workload == MP_BENCH_SLOW_TLS ? MP_FAKE_TLS_IMPLICIT
                                              : MP_FAKE_TLS_NONE;
    w->rule.on = MP_ON_CONNECT;
    w->rule.when_tls = -1;
    w->rule.delay_ms = o->delay_ms ? o->delay_ms : timeout_ms + SLOW_EXTRA_MS;
    c->rules = &w->rule;
    c->nrules = 1;
    c->idle_timeout_ms = w->rule.delay_ms + SLOW_EXTRA_MS;
    break;
  default:
    break;
  }
}

static void builtin_probe(struct mp_probe_opts *p,
                          const struct mp_bench_opts *o)
{
  switch (o->workload) {
  case MP_BENCH_STARTTLS:
    p->proto = MP_PROTO_SMTP;
    p->tls = MP_TLSMODE_STARTTLS;
    p->user = user_name;
    p->password = user_pass;
    break;
  case MP_BENCH_POP3:
  case MP_BENCH_IMAP:
    p->proto = o->workload == MP_BENCH_POP3 ? MP_PROTO_POP3 : MP_PROTO_IMAP;
    p->tls = MP_TLSMODE_NONE;
    p->user = user_name;
    p->password = user_pass;
    break;
  case MP_BENCH_SLOW_TLS:
    p->proto = MP_PROTO_SMTP;
    p->tls = MP_TLSMODE_IMPLICIT;
    break;
  default:
    p->proto = MP_PROTO_SMTP;
    p->tls = MP_TLSMODE_NONE;
    break;
  }
  p->servername = host_name;
}

static enum mp_proto case_proto(const struct mp_case *c)
{
  return c->probe.type == MP_CASE_POP3   ? MP_PROTO_POP3
         : c->probe.type == MP_CASE_IMAP ? MP_PROTO_IMAP
                                         : MP_PROTO_SMTP;
}

int mp_bench_run(const struct mp_bench_opts *opts, struct mp_bench_report *rep,
                 char *err, size_t errlen)
{
  struct mp_bench_opts o = *opts;
  struct mp_case *kase = NULL;
  struct builtin bw = {0};
  struct mp_bench_host h;
  struct bench *b = NULL;
  struct mp_bench_shared *sh = MAP_FAILED;
  char hostbuf[256];
  int rc = -1, server_idx = 0;

  memset(rep, 0, sizeof(*rep));
  memset(&h, 0, sizeof(h));
  h.ready[0] = h.ready[1] = h.ctl[0] = h.ctl[1] = -1;
  if ((unsigned)o.workload >= MP_BENCH_WORKLOAD_COUNT) {
    snprintf(err, errlen, "unknown workload");
    return -1;
  }
  int slow = o.workload == MP_BENCH_SLOW || o.workload == MP_BENCH_SLOW_TLS;
  if (o.target && (slow || o.workload == MP_BENCH_CASE)) {
    snprintf(err, errlen,
             "--target goes with the smtp, starttls, pop3 and "
             "imap workloads only");
    return -1;
  }
  snprintf(rep->workload, sizeof(rep->workload), "%s",
           mp_bench_workload_name(o.workload));
  rep->cert = o.rsa ? "rsa-2048" : "ecdsa-p256";
  if (!o.timeout_ms)
    o.timeout_ms = slow ? SLOW_TIMEOUT_MS : DEFAULT_TIMEOUT_MS;
  rep->timeout_ms = o.timeout_ms;
  rep->fd_limit = mp_bench_raise_fd_limit();
  rep->servers_in_process = !o.target && o.servers == MP_BENCH_SERVERS_THREAD;
  unsigned fds_each = rep->servers_in_process ? 2 : 1;
  uint64_t most = rep->fd_limit > FD_RESERVE * 2
                      ? (rep->fd_limit - FD_RESERVE) / fds_each
                      : 1;
  rep->concurrency = o.concurrency ? o.concurrency : (unsigned)most;
  if (rep->concurrency > most) {
    snprintf(err, errlen,
             "--concurrency %u needs more descriptors than the limit (%" PRIu64
             ") allows: at most %" PRIu64,
             rep->concurrency, rep->fd_limit, most);
    return -1;
  }
  if (slow && !o.probes)
    o.probes = rep->concurrency; /* all at once, expiring together */
  if (!o.probes && !o.duration_ms)
    o.duration_ms = 10000;

  b = calloc(1, sizeof(*b));
  if (b)
    b->slots = calloc(rep->concurrency, sizeof(*b->slots));
  if (!b || !b->slots) {
    snprintf(err, errlen, "out of memory");
    goto out;
  }
  for (unsigned i = 0; i < rep->concurrency; i++) {
    b->slots[i].next = b->free_slots;
    b->free_slots = &b->slots[i];
  }
  b->o = &o;
  b->rep = rep;
  b->slow = slow;
  b->timeout_us = o.timeout_ms * 1000;

  /* What to probe and, unless a target, which servers to start. */
  if (o.workload == MP_BENCH_CASE) {
    if (mp_case_load(o.case_file, &kase, err, errlen) < 0)
      goto out;
    if (kase->probe.type == MP_CASE_ROUNDTRIP) {
      snprintf(err, errlen, "%s: round-trip cases are not a bench workload",
               o.case_file);
      goto out;
    }
    if (kase->nservers > MP_BENCH_MAX_SERVERS) {
      snprintf(err, errlen, "%s: more than %d servers", o.case_file,
               MP_BENCH_MAX_SERVERS);
      goto out;
    }
    snprintf(rep->workload, sizeof(rep->workload), "%s",
             kase->name ? kase->name : o.case_file);
    b->popts = kase->probe.opts;
    b->popts.proto = case_proto(kase);
    if (kase->probe.target) {
      o.target = kase->probe.target;
    } else {
      server_idx = kase->probe.server
                       ? mp_case_find_server(kase, kase->probe.server)
                       : 0;
      if (server_idx < 0 || kase->nservers == 0) {
        snprintf(err, errlen, "%s: the probe names no server", o.case_file);
        goto out;
      }
      h.cfgs = kase->servers;
      h.ncfgs = kase->nservers;
      for (size_t i = 0; i < h.ncfgs; i++)
        snprintf(h.addrs[i], sizeof(h.addrs[i]), "127.0.0.1");
    }
    if (kase->probe.opts.timeout_ms && !opts->timeout_ms)
      o.timeout_ms = kase->probe.opts.timeout_ms;
    b->popts.timeout_ms = o.timeout_ms;
    b->timeout_us = o.timeout_ms * 1000;
    rep->timeout_ms = o.timeout_ms;
    b->slow = kase->expect.has_error && kase->expect.error == MP_E_TIMEOUT;
  } else {
    builtin_config(&bw, &o, o.timeout_ms);
    builtin_probe(&b->popts, &o);
    if ((o.workload == MP_BENCH_POP3 || o.workload == MP_BENCH_IMAP) &&
        slot_users(&bw, b, rep->concurrency) < 0) {
      snprintf(err, errlen, "out of memory");
      goto out;
    }
    b->popts.timeout_ms = o.timeout_ms;
    if (!o.target) {
      /* Thousands of connections to one address and port make the
       * kernel's search for a free ephemeral port the bottleneck (it
       * scans the ports in use); copies of the server on 127.0.0.2, ...
       * give each its own set. */
      unsigned n = (rep->concurrency + DEST_EACH - 1) / DEST_EACH;
      n = n < 1 ? 1 : n > MP_BENCH_MAX_SERVERS ? MP_BENCH_MAX_SERVERS : n;
      for (unsigned i = 0; i < n; i++) {
        bw.copies[i] = bw.cfg;
        snprintf(h.addrs[i], sizeof(h.addrs[i]), "127.0.0.%u", i + 1);
      }
      h.cfgs = bw.copies;
      h.ncfgs = n;
      b->ndest = n;
    }
  }

  if (o.target) {
    uint16_t port;
    if (mp_hostport_parse(o.target,
                          mp_default_port(b->popts.proto, b->popts.tls),
                          hostbuf, sizeof(hostbuf), &port, err, errlen) < 0)
      goto out;
    b->popts.host = hostbuf;
    b->popts.port = port;
    if (b->popts.tls != MP_TLSMODE_NONE && !b->popts.cafile && !b->popts.ca_pem)
      b->popts.insecure = 1;
    rep->servers_in_process = 0;
  } else {
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
      snprintf(err, errlen, "mmap: %s", strerror(errno));
      goto out;
    }
    memset(sh, 0, sizeof(*sh));
    h.ca = mp_ca_new("mailprobe bench CA",
                     o.rsa ? MP_KEY_RSA_2048 : MP_KEY_EC_P256);
    if (!h.ca) {
      snprintf(err, errlen, "could not make the bench's CA");
      goto out;
    }
    h.sh = sh;
    h.mode = o.servers;
    if (mp_bench_host_start(&h, err, errlen) < 0)
      goto out;
    b->sh = sh;
    b->popts.host = h.addrs[server_idx];
    b->popts.port = sh->ports[server_idx];
    for (unsigned i = 0; b->ndest > 1 && i < b->ndest; i++) {
      memcpy(b->dest_host[i], h.addrs[i], sizeof(b->dest_host[i]));
      b->dest_port[i] = sh->ports[i];
    }
    for (unsigned i = 0; i < rep->concurrency; i++)
      b->slots[i].dest = b->ndest > 1 ? i % b->ndest : 0;
    if (kase && !kase->probe.opts.servername)
      b->popts.servername = kase->servers[server_idx].hostname
                                ? kase->servers[server_idx].hostname
                                : host_name;
    if (!b->popts.cafile && !b->popts.ca_pem)
      b->popts.ca_pem = mp_ca_pem(h.ca);
  }

  if (uv_loop_init(&b->loop) < 0) {
    snprintf(err, errlen, "uv_loop_init failed");
    goto out;
  }
  uv_timer_init(&b->loop, &b->tick);
  b->tick.data = b;
  uv_timer_start(&b->tick, on_tick, TICK_MS, TICK_MS);
  if (b->sh)
    b->sessions_base = atomic_load(&b->sh->sessions);
  rep->rss_base_kib = rss_kib();
  rep->rss_peak_kib = rep->rss_base_kib;
  double cpu_thread0 = mp_bench_thread_cpu_s(), cpu_proc0 = process_cpu_s();
  start_more(b);
  uv_run(&b->loop, UV_RUN_DEFAULT);
  rep->cpu_probe_s = mp_bench_thread_cpu_s() - cpu_thread0;
  rep->cpu_process_s = process_cpu_s() - cpu_proc0;
  if (uv_loop_close(&b->loop) != 0)
    fprintf(stderr, "mailprobe bench: the probe loop still had handles\n");
  rep->wall_s =
      b->t_last_us > b->t0_us ? (double)(b->t_last_us - b->t0_us) / 1e6 : 0;
  rep->probes_per_s = rep->wall_s > 0 ? (double)rep->done / rep->wall_s : 0;
  if (rep->rss_full_n > 0 && rep->rss_full_kib > rep->rss_base_kib)
    rep->rss_per_probe = (double)(rep->rss_full_kib - rep->rss_base_kib) *
                         1024.0 / (double)rep->rss_full_n;
  rc = 0;

out:
  if (h.running) {
    mp_bench_host_stop(&h);
    rep->cpu_servers_s = sh->cpu_end_s - sh->cpu_ready_s;
  } else {
    mp_bench_host_stop(&h);
  }
  mp_probe_cleanup(); /* the client contexts trust this run's CA */
  mp_ca_free(h.ca);
  if (sh != MAP_FAILED)
    munmap(sh, sizeof(*sh));
  if (b)
    free(b->slots);
  free(b);
  mp_case_free(kase);
  free(bw.users);
  return rc;
}
