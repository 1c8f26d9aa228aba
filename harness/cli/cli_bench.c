/* `mailprobe bench`: runs one workload (harness/bench/bench.h) and prints its
 * figures for people or, with --format json, as one object for machines. */
#include "harness/cli/cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "harness/cli/args.h"
#include "harness/bench/bench.h"
#include "harness/report/json.h"
#include "wire/errors.h"

static const char bench_usage[] =
    "usage: mailprobe bench [WORKLOAD | CASE.yaml] [OPTIONS]\n"
    "\n"
    "Runs many probes against fake servers on 127.0.0.1 (on a loop of their\n"
    "own, so the probe side is what is measured) and reports probes/s,\n"
    "latency per phase, timeout lateness, memory and CPU.\n"
    "\n"
    "workloads:\n"
    "  smtp        plain SMTP check: connect, banner, EHLO, QUIT (default)\n"
    "  starttls    SMTP: EHLO, STARTTLS, EHLO, AUTH, QUIT\n"
    "  pop3        POP3 login check\n"
    "  imap        IMAP login check\n"
    "  slow        a banner slower than the timeout: every probe times out;\n"
    "              all start at once (default: as many as the descriptor\n"
    "              limit allows) and expire together\n"
    "  slow-tls    the same behind implicit TLS\n"
    "  CASE.yaml   a case file's servers and probe, again and again\n"
    "\n"
    "options:\n"
    "  -n, --probes N        stop after N probes\n"
    "  -c, --concurrency N   probes in flight (default 64; \"max\": as many\n"
    "                        as the descriptor limit allows)\n"
    "  -d, --duration D      stop starting probes after D (default 10s when\n"
    "                        --probes is not given)\n"
    "  --cert TYPE           ecdsa (P-256, default) or rsa (2048)\n"
    "  -t, --timeout D       each probe's timeout (default 10s; slow: 2s)\n"
    "  --delay D             slow: the banner's delay (default timeout+60s)\n"
    "  --servers WHERE       thread (default: a second loop thread) or\n"
    "                        process (a child process)\n"
    "  --target HOST:PORT    probe this server instead of starting one\n"
    "  --format FMT          human (default) or json\n"
    "  -q, --quiet           no progress line\n"
    "  -h, --help            this help\n"
    "\n"
    "The soft descriptor limit is raised to the hard one. Durations are\n"
    "seconds or carry a unit (500ms, 10s). Exit status: 0 when every probe\n"
    "ended as the workload expects (ok; slow: a timeout), 1 otherwise,\n"
    "3 on usage errors or when the servers did not start.\n"
    "\n"
    "examples:\n"
    "  mailprobe bench smtp --concurrency 64 --duration 10s\n"
    "  mailprobe bench starttls --cert rsa --probes 20000\n"
    "  mailprobe bench slow --timeout 2s --servers process\n"
    "  mailprobe bench smtp --target 127.0.0.1:2525 --format json\n";

enum {
  OPT_PROBES = 1,
  OPT_CONC,
  OPT_DURATION,
  OPT_CERT,
  OPT_TIMEOUT,
  OPT_DELAY,
  OPT_SERVERS,
  OPT_TARGET,
  OPT_FORMAT,
  OPT_QUIET,
  OPT_WORKLOAD,
  OPT_HELP
};

static const struct mp_opt bench_opts[] = {
    {"probes", 'n', 1, OPT_PROBES},     {"concurrency", 'c', 1, OPT_CONC},
    {"duration", 'd', 1, OPT_DURATION}, {"cert", 0, 1, OPT_CERT},
    {"timeout", 't', 1, OPT_TIMEOUT},   {"delay", 0, 1, OPT_DELAY},
    {"servers", 0, 1, OPT_SERVERS},     {"target", 0, 1, OPT_TARGET},
    {"format", 0, 1, OPT_FORMAT},       {"quiet", 'q', 0, OPT_QUIET},
    {"workload", 'w', 1, OPT_WORKLOAD}, {"help", 'h', 0, OPT_HELP},
};

#define DEFAULT_CONCURRENCY 64

static int progress_shown;

static void on_progress(const struct mp_bench_report *rep, void *data)
{
  (void)data;
  fprintf(stderr,
          "\r%s: %" PRIu64 " done (%" PRIu64 " ok, %" PRIu64
          " failed), %" PRIu64 " in flight, %.0f/s, %.1fs   ",
          rep->workload, rep->done, rep->ok, rep->failed, rep->in_flight,
          rep->probes_per_s, rep->wall_s);
  progress_shown = 1;
}

static const char *error_name(int idx)
{
  const char *n = idx > 0 ? mp_err_name(-(idx + 100)) : NULL;
  return n ? n : "other";
}

static void json_hist(struct mp_json *j, const struct mp_bench_hist *h)
{
  mp_json_obj_begin(j);
  mp_json_kv_uint(j, "n", h->n);
  mp_json_kv_uint(j, "p50", mp_bench_hist_quantile(h, 0.50));
  mp_json_kv_uint(j, "p90", mp_bench_hist_quantile(h, 0.90));
  mp_json_kv_uint(j, "p99", mp_bench_hist_quantile(h, 0.99));
  mp_json_kv_uint(j, "max", h->max);
  mp_json_kv_double(j, "mean", h->n ? (double)h->sum / (double)h->n : 0, 1);
  mp_json_obj_end(j);
}

static void print_json(const struct mp_bench_report *r, const char *servers)
{
  struct mp_json j;
  mp_json_init(&j);
  j.pretty = 1;
  mp_json_obj_begin(&j);
  mp_json_kv_str(&j, "workload", r->workload);
  mp_json_kv_str(&j, "servers", servers);
  mp_json_kv_str(&j, "cert", r->cert);
  mp_json_kv_uint(&j, "timeout_ms", r->timeout_ms);
  mp_json_kv_uint(&j, "concurrency", r->concurrency);
  mp_json_kv_uint(&j, "max_in_flight", r->max_in_flight);
  mp_json_kv_uint(&j, "fd_limit", r->fd_limit);
  mp_json_kv_uint(&j, "probes", r->done);
  mp_json_kv_uint(&j, "ok", r->ok);
  mp_json_kv_uint(&j, "failed", r->failed);
  mp_json_key(&j, "errors");
  mp_json_obj_begin(&j);
  for (int i = 0; i < 32; i++) {
    if (!r->errors[i])
      continue;
    mp_json_key(&j, error_name(i));
    mp_json_uint(&j, r->errors[i]);
  }
  mp_json_obj_end(&j);
  mp_json_kv_str(&j, "first_error", r->first_error[0] ? r->first_error : NULL);
  mp_json_kv_double(&j, "wall_s", r->wall_s, 3);
  mp_json_kv_double(&j, "probes_per_s", r->probes_per_s, 1);
  mp_json_key(&j, "latency_us");
  mp_json_obj_begin(&j);
  mp_json_key(&j, "total");
  json_hist(&j, &r->total);
  for (int p = 0; p < MP_PHASE_COUNT; p++) {
    if (!r->phase[p].n)
      continue;
    mp_json_key(&j, mp_phase_name((enum mp_phase)p));
    json_hist(&j, &r->phase[p]);
  }
  mp_json_obj_end(&j);
  mp_json_key(&j, "timeout_lateness_us");
  if (r->late_n) {
    json_hist(&j, &r->late);
  } else {
    mp_json_null(&j);
  }
  mp_json_kv_uint(&j, "early", r->early_n);
  mp_json_kv_int(&j, "earliest_us", r->early_max_us);
  mp_json_key(&j, "rss");
  mp_json_obj_begin(&j);
  mp_json_kv_uint(&j, "base_kib", r->rss_base_kib);
  mp_json_kv_uint(&j, "peak_kib", r->rss_peak_kib);
  mp_json_kv_uint(&j, "full_kib", r->rss_full_kib);
  mp_json_kv_uint(&j, "full_in_flight", r->rss_full_n);
  mp_json_kv_double(&j, "per_probe_bytes", r->rss_per_probe, 0);
  mp_json_kv_bool(&j, "includes_servers", r->servers_in_process);
  mp_json_obj_end(&j);
  mp_json_key(&j, "cpu_s");
  mp_json_obj_begin(&j);
  mp_json_kv_double(&j, "probe_thread", r->cpu_probe_s, 3);
  mp_json_kv_double(&j, "process", r->cpu_process_s, 3);
  mp_json_kv_double(&j, "servers", r->cpu_servers_s, 3);
  mp_json_obj_end(&j);
  mp_json_kv_str(&j, "auth", r->auth[0] ? r->auth : NULL);
  mp_json_key(&j, "tls");
  if (r->tls_version[0]) {
    mp_json_obj_begin(&j);
    mp_json_kv_str(&j, "version", r->tls_version);
    mp_json_kv_str(&j, "cipher", r->tls_cipher);
    mp_json_obj_end(&j);
  } else {
    mp_json_null(&j);
  }
  mp_json_obj_end(&j);
  char *out = mp_json_take(&j);
  if (out)
    printf("%s\n", out);
  free(out);
  mp_json_free(&j);
}

static void print_hist_row(const char *name, const struct mp_bench_hist *h)
{
  printf("    %-10s %9.3f %9.3f %9.3f %9.3f %9" PRIu64 "\n", name,
         (double)mp_bench_hist_quantile(h, 0.50) / 1000.0,
         (double)mp_bench_hist_quantile(h, 0.90) / 1000.0,
         (double)mp_bench_hist_quantile(h, 0.99) / 1000.0,
         (double)h->max / 1000.0, h->n);
}

static void print_human(const struct mp_bench_report *r, const char *servers)
{
  printf("workload %s: %" PRIu64 " probes (%" PRIu64 " ok, %" PRIu64
         " failed) in %.3f s, concurrency %u (max in flight %" PRIu64 ")\n",
         r->workload, r->done, r->ok, r->failed, r->wall_s, r->concurrency,
         r->max_in_flight);
  printf("  probes/s        %.0f\n", r->probes_per_s);
  if (r->failed) {
    printf("  errors         ");
    for (int i = 0; i < 32; i++)
      if (r->errors[i])
        printf(" %s %" PRIu64, error_name(i), r->errors[i]);
    printf("\n  first failure   %s\n", r->first_error);
  }
  printf(
      "  latency (ms)          p50       p90       p99       max     count\n");
  print_hist_row("total", &r->total);
  for (int p = 0; p < MP_PHASE_COUNT; p++)
    if (r->phase[p].n)
      print_hist_row(mp_phase_name((enum mp_phase)p), &r->phase[p]);
  if (r->late_n) {
    printf("  timeout lateness (ms, result - (start + %" PRIu64 " ms))\n",
           r->timeout_ms);
    print_hist_row("late", &r->late);
    if (r->early_n)
      printf("    %" PRIu64 " results came before their deadline (earliest "
             "%.3f ms early)\n",
             r->early_n, (double)-r->early_max_us / 1000.0);
  }
  printf("  RSS             base %.1f MiB, peak %.1f MiB",
         r->rss_base_kib / 1024.0, r->rss_peak_kib / 1024.0);
  if (r->rss_full_n)
    printf(", %.0f bytes per in-flight probe (%" PRIu64 " in flight%s)",
           r->rss_per_probe, r->rss_full_n,
           r->servers_in_process ? ", with their server sessions" : "");
  printf("\n  CPU (s)         probe thread %.2f, process %.2f, servers %.2f "
         "(%s)\n",
         r->cpu_probe_s, r->cpu_process_s, r->cpu_servers_s, servers);
  if (r->tls_version[0] || r->auth[0])
    printf("  session         %s%s%s%s%s, certificate %s\n",
           r->tls_version[0] ? r->tls_version : "no TLS",
           r->tls_version[0] ? " " : "", r->tls_cipher,
           r->auth[0] ? ", auth " : "", r->auth, r->cert);
  printf("  descriptors     soft limit %" PRIu64 "\n", r->fd_limit);
}

int mp_cli_bench(int argc, char **argv)
{
  struct mp_bench_opts o;
  struct mp_bench_report *rep;
  struct mp_args a;
  const char *val, *format = "human";
  char err[512];
  unsigned long n;
  uint64_t us;
  int id, quiet = 0, conc_given = 0;

  memset(&o, 0, sizeof(o));
  o.concurrency = DEFAULT_CONCURRENCY;
  mp_args_init(&a, argc, argv);
  while ((id = mp_args_next(&a, bench_opts,
                            sizeof(bench_opts) / sizeof(bench_opts[0]), &val,
                            err, sizeof(err))) != MP_ARG_END) {
    switch (id) {
    case MP_ARG_ERROR:
      fprintf(stderr, "mailprobe bench: %s\n", err);
      return MP_EXIT_USAGE;
    case OPT_HELP:
      fputs(bench_usage, stdout);
      return 0;
    case MP_ARG_POSITIONAL:
    case OPT_WORKLOAD: {
      int w = mp_bench_workload_from_name(val);
      size_t len = strlen(val);
      if (w >= 0 && w != MP_BENCH_CASE) {
        o.workload = (enum mp_bench_workload)w;
      } else if ((len > 5 && strcmp(val + len - 5, ".yaml") == 0) ||
                 (len > 4 && strcmp(val + len - 4, ".yml") == 0)) {
        o.workload = MP_BENCH_CASE;
        o.case_file = val;
      } else {
        fprintf(stderr,
                "mailprobe bench: unknown workload \"%s\" (smtp, starttls, "
                "pop3, imap, slow, slow-tls or a case file)\n",
                val);
        return MP_EXIT_USAGE;
      }
      break;
    }
    case OPT_PROBES:
      if (mp_args_uint("--probes", val, 1, 100000000, &n, err, sizeof(err)) < 0)
        goto usage;
      o.probes = n;
      break;
    case OPT_CONC:
      conc_given = 1;
      if (strcmp(val, "max") == 0) {
        o.concurrency = 0;
        break;
      }
      if (mp_args_uint("--concurrency", val, 1, 1000000, &n, err, sizeof(err)) <
          0)
        goto usage;
      o.concurrency = (unsigned)n;
      break;
    case OPT_DURATION:
    case OPT_TIMEOUT:
    case OPT_DELAY: {
      /* The three durations are read alike: whole milliseconds, rounded
       * up, so that a duration that is not zero never becomes zero. */
      static const char *const dur_opt[] = {[OPT_DURATION] = "--duration",
                                            [OPT_TIMEOUT] = "--timeout",
                                            [OPT_DELAY] = "--delay"};
      uint64_t *ms = id == OPT_DURATION  ? &o.duration_ms
                     : id == OPT_TIMEOUT ? &o.timeout_ms
                                         : &o.delay_ms;
      if (mp_args_duration(dur_opt[id], val, &us, err, sizeof(err)) < 0)
        goto usage;
      *ms = (us + 999) / 1000;
      break;
    }
    case OPT_CERT:
      if (strcasecmp(val, "ecdsa") == 0 || strcasecmp(val, "p256") == 0 ||
          strcasecmp(val, "ecdsa-p256") == 0) {
        o.rsa = 0;
      } else if (strcasecmp(val, "rsa") == 0 ||
                 strcasecmp(val, "rsa2048") == 0 ||
                 strcasecmp(val, "rsa-2048") == 0) {
        o.rsa = 1;
      } else {
        snprintf(err, sizeof(err), "--cert is ecdsa or rsa, not \"%s\"", val);
        goto usage;
      }
      break;
    case OPT_SERVERS:
      if (strcmp(val, "thread") == 0) {
        o.servers = MP_BENCH_SERVERS_THREAD;
      } else if (strcmp(val, "process") == 0) {
        o.servers = MP_BENCH_SERVERS_PROCESS;
      } else {
        snprintf(err, sizeof(err), "--servers is thread or process, not \"%s\"",
                 val);
        goto usage;
      }
      break;
    case OPT_TARGET:
      o.target = val;
      break;
    case OPT_FORMAT:
      if (strcmp(val, "human") != 0 && strcmp(val, "json") != 0) {
        snprintf(err, sizeof(err), "--format is human or json, not \"%s\"",
                 val);
        goto usage;
      }
      format = val;
      break;
    case OPT_QUIET:
      quiet = 1;
      break;
    }
  }
  /* The slow workloads measure the descriptor limit unless told. */
  if ((o.workload == MP_BENCH_SLOW || o.workload == MP_BENCH_SLOW_TLS) &&
      !conc_given)
    o.concurrency = 0;
  if (!quiet && isatty(STDERR_FILENO))
    o.progress = on_progress;
  rep = calloc(1, sizeof(*rep));
  if (!rep) {
    fprintf(stderr, "mailprobe bench: out of memory\n");
    return MP_EXIT_USAGE;
  }
  int rc = mp_bench_run(&o, rep, err, sizeof(err));
  if (progress_shown)
    fprintf(stderr, "\r%*s\r", 78, "");
  if (rc < 0) {
    fprintf(stderr, "mailprobe bench: %s\n", err);
    free(rep);
    return MP_EXIT_USAGE;
  }
  const char *servers = o.target                                ? "target"
                        : o.servers == MP_BENCH_SERVERS_PROCESS ? "process"
                                                                : "thread";
  if (strcmp(format, "json") == 0)
    print_json(rep, servers);
  else
    print_human(rep, servers);
  int slow = o.workload == MP_BENCH_SLOW || o.workload == MP_BENCH_SLOW_TLS;
  int as_expected =
      rep->done > 0 &&
      (slow ? rep->errors[-MP_E_TIMEOUT - 100] == rep->done
            : o.workload == MP_BENCH_CASE || rep->ok == rep->done);
  free(rep);
  return as_expected ? 0 : 1;
usage:
  fprintf(stderr, "mailprobe bench: %s\n", err);
  return MP_EXIT_USAGE;
}
