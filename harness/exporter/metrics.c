/* The exporter's Prometheus text (harness/exporter/metrics.h). */
#include "harness/exporter/metrics.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness/report/json.h"
#include "harness/report/prom_text.h"
#include "probes/result.h"
#include "wire/errors.h"

const double mp_exporter_buckets[MP_EXPORTER_BUCKETS] = {
    0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 600};

/* A gauge with no labels. */
static void gauge(struct mp_json *b, const char *name, const char *help,
                  double v)
{
  mp_prom_head(b, name, "gauge", help);
  if (v == (double)(int64_t)v && v < 1e15 && v > -1e15)
    mp_json_printf(b, "%s %" PRId64 "\n", name, (int64_t)v);
  else
    mp_json_printf(b, "%s %.6f\n", name, v);
}

/* A gauge whose value is 1 and whose facts are one label. */
static void info(struct mp_json *b, const char *name, const char *help,
                 const char *label, const char *value)
{
  mp_prom_head(b, name, "gauge", help);
  mp_json_printf(b, "%s{", name);
  mp_prom_label(b, label, value);
  mp_json_printf(b, "} 1\n");
}

/* "TLSv1.3" as blackbox_exporter writes it: "TLS 1.3". */
static void tls_version(const char *v, char *out, size_t cap)
{
  if (strncmp(v, "TLSv", 4) == 0)
    snprintf(out, cap, "TLS %s", v + 4);
  else
    snprintf(out, cap, "%s", v);
}

char *mp_exporter_probe_metrics(const struct mp_result *r,
                                const struct mp_probe_meta *m)
{
  struct mp_json b;
  const char *err = r->err ? mp_err_name(r->err) : "none";
  const char *phase = mp_phase_name(r->phase);

  mp_json_init(&b);
  gauge(&b, "probe_success", "Whether the probe succeeded.", r->ok ? 1 : 0);
  gauge(&b, "probe_duration_seconds",
        "How long the probe took to complete in seconds.",
        (double)r->total_us / 1e6);
  if (r->timings_us[MP_PHASE_RESOLVE] >= 0)
    gauge(&b, "probe_dns_lookup_time_seconds",
          "Returns the time taken for probe dns lookup in seconds.",
          (double)r->timings_us[MP_PHASE_RESOLVE] / 1e6);
  if (r->address[0] != '\0')
    gauge(&b, "probe_ip_protocol",
          "Specifies whether probe ip protocol is IP4 or IP6.",
          r->address[0] == '[' ? 6 : 4);
  if (r->tls_used && r->tls.version[0] != '\0') {
    char v[32];
    tls_version(r->tls.version, v, sizeof v);
    if (r->tls.earliest_expiry != 0)
      gauge(&b, "probe_ssl_earliest_cert_expiry",
            "Returns last SSL chain expiry in unixtime.",
            (double)r->tls.earliest_expiry);
    info(&b, "probe_tls_version_info",
         "Returns the TLS version used or NaN "
         "when unknown.",
         "version", v);
    info(&b, "probe_tls_cipher_info", "Returns the TLS cipher negotiated.",
         "cipher", r->tls.cipher);
  }
  mp_prom_head(&b, "probe_mail_phase_duration_seconds", "gauge",
               "Time spent in each phase of the mail probe that ran.");
  for (int p = 0; p < MP_PHASE_COUNT; p++) {
    if (r->timings_us[p] < 0)
      continue;
    mp_json_printf(&b, "probe_mail_phase_duration_seconds{");
    mp_prom_label(&b, "phase", mp_phase_name((enum mp_phase)p));
    mp_json_printf(&b, "} %.6f\n", (double)r->timings_us[p] / 1e6);
  }
  mp_prom_head(&b, "probe_mail_result_info", "gauge",
               "The probe's end: the phase it stopped in and the error name "
               "(none when it succeeded); always 1.");
  mp_json_printf(&b, "probe_mail_result_info{");
  mp_prom_label(&b, "phase", phase ? phase : "unknown");
  mp_json_printf(&b, ",");
  mp_prom_label(&b, "error", err);
  mp_json_printf(&b, "} 1\n");
  gauge(&b, "probe_mail_reply_code",
        "The last server reply: an SMTP code, or for POP3 1 (+OK) and -1 "
        "(-ERR), for IMAP 1 OK, 2 NO, 3 BAD, 4 BYE; 0 when none.",
        r->reply_code);
  gauge(&b, "probe_mail_tls", "Whether TLS was used.", r->tls_used ? 1 : 0);
  if (r->tls_used)
    gauge(&b, "probe_mail_cert_verified",
          "Whether the certificate chain and host name verified.",
          r->tls.verified ? 1 : 0);
  if (r->auth != NULL)
    info(&b, "probe_mail_login_info",
         "The login method that succeeded (SASL mechanism, USER, APOP or "
         "LOGIN).",
         "mechanism", r->auth);
  if (r->delivery_us >= 0)
    gauge(&b, "probe_mail_delivery_seconds",
          "Round trip: from the server accepting the message to seeing it "
          "in the mailbox.",
          (double)r->delivery_us / 1e6);
  if (r->messages >= 0)
    gauge(&b, "probe_mail_mailbox_messages",
          "Messages in the mailbox the probe logged into.",
          (double)r->messages);
  if (m != NULL && m->roundtrip)
    gauge(&b, "probe_mail_result_stale",
          "1 when a round trip for this target and module is still running "
          "and this is the last finished result.",
          m->stale ? 1 : 0);
  if (m != NULL && m->roundtrip && m->stale)
    gauge(&b, "probe_mail_result_age_seconds",
          "Seconds since the stale result ended.", m->age_s);
  return mp_json_take(&b);
}

struct mp_module_stats *mp_exporter_stats_module(struct mp_exporter_stats *s,
                                                 const char *module)
{
  struct mp_module_stats *v;
  for (size_t i = 0; i < s->nmods; i++)
    if (strcmp(s->mods[i].module, module) == 0)
      return &s->mods[i];
  v = realloc(s->mods, (s->nmods + 1) * sizeof *v);
  if (v == NULL)
    return NULL;
  s->mods = v;
  memset(&v[s->nmods], 0, sizeof *v);
  if ((v[s->nmods].module = strdup(module)) == NULL)
    return NULL;
  return &v[s->nmods++];
}

void mp_exporter_stats_count(struct mp_exporter_stats *s, const char *module,
                             int ok, double seconds)
{
  struct mp_module_stats *m = mp_exporter_stats_module(s, module);
  int i;
  if (m == NULL)
    return;
  if (ok)
    m->success++;
  else
    m->failure++;
  for (i = 0; i < MP_EXPORTER_BUCKETS && seconds > mp_exporter_buckets[i]; i++)
    ;
  if (i < MP_EXPORTER_BUCKETS)
    m->bucket[i]++;
  m->count++;
  m->sum += seconds;
}

void mp_exporter_stats_free(struct mp_exporter_stats *s)
{
  for (size_t i = 0; i < s->nmods; i++)
    free(s->mods[i].module);
  free(s->mods);
  s->mods = NULL;
  s->nmods = 0;
}

/* process_* as the Prometheus client libraries write them, from /proc. */
static void process_metrics(struct mp_json *b, double start_time)
{
  char buf[1024], *p;
  unsigned long utime = 0, stime = 0, vsize = 0;
  long rss = 0, tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
  size_t n = 0, fds = 0;
  struct rlimit rl;
  FILE *f = fopen("/proc/self/stat", "r");
  DIR *d;

  if (f != NULL) {
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
  }
  buf[n] = '\0';
  /* After the command name in parentheses: state is field 3, utime 14,
   * stime 15, vsize 23, rss 24. */
  if ((p = strrchr(buf, ')')) != NULL &&
      sscanf(p + 2,
             "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d "
             "%*d %*d %*d %*d %*u %lu %ld",
             &utime, &stime, &vsize, &rss) == 4) {
    mp_prom_head(b, "process_cpu_seconds_total", "counter",
                 "Total user and system CPU time spent in seconds.");
    mp_json_printf(b, "process_cpu_seconds_total %.2f\n",
                   (double)(utime + stime) / (double)(tick > 0 ? tick : 100));
    gauge(b, "process_resident_memory_bytes", "Resident memory size in bytes.",
          (double)rss * (double)page);
    gauge(b, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
          (double)vsize);
  }
  if ((d = opendir("/proc/self/fd")) != NULL) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
      fds += e->d_name[0] != '.';
    closedir(d);
    gauge(b, "process_open_fds", "Number of open file descriptors.",
          (double)(fds > 0 ? fds - 1 : 0));
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
    gauge(b, "process_max_fds", "Maximum number of open file descriptors.",
          (double)rl.rlim_cur);
  gauge(b, "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.", start_time);
}

/* A counter per module with a result label. */
static void module_counter(struct mp_json *b, const struct mp_exporter_stats *s)
{
  mp_prom_head(b, "mailprobe_exporter_probes_total", "counter",
               "Probes that ended, by module and result.");
  for (size_t i = 0; i < s->nmods; i++) {
    for (int ok = 1; ok >= 0; ok--) {
      mp_json_printf(b, "mailprobe_exporter_probes_total{");
      mp_prom_label(b, "module", s->mods[i].module);
      mp_json_printf(b, ",");
      mp_prom_label(b, "result", ok ? "success" : "failure");
      mp_json_printf(b, "} %" PRIu64 "\n",
                     ok ? s->mods[i].success : s->mods[i].failure);
    }
  }
}

static void histogram(struct mp_json *b, const struct mp_exporter_stats *s)
{
  mp_prom_head(b, "mailprobe_exporter_probe_duration_seconds", "histogram",
               "How long probes took, by module.");
  for (size_t i = 0; i < s->nmods; i++) {
    const struct mp_module_stats *m = &s->mods[i];
    uint64_t cum = 0;
    for (int k = 0; k <= MP_EXPORTER_BUCKETS; k++) {
      char le[32];
      if (k < MP_EXPORTER_BUCKETS) {
        cum += m->bucket[k];
        snprintf(le, sizeof le, "%g", mp_exporter_buckets[k]);
      } else {
        cum = m->count;
        snprintf(le, sizeof le, "+Inf");
      }
      mp_json_printf(b, "mailprobe_exporter_probe_duration_seconds_bucket{");
      mp_prom_label(b, "module", m->module);
      mp_json_printf(b, ",");
      mp_prom_label(b, "le", le);
      mp_json_printf(b, "} %" PRIu64 "\n", cum);
    }
    mp_json_printf(b, "mailprobe_exporter_probe_duration_seconds_sum{");
    mp_prom_label(b, "module", m->module);
    mp_json_printf(b, "} %.6f\n", m->sum);
    mp_json_printf(b, "mailprobe_exporter_probe_duration_seconds_count{");
    mp_prom_label(b, "module", m->module);
    mp_json_printf(b, "} %" PRIu64 "\n", m->count);
  }
}

char *mp_exporter_self_metrics(const struct mp_exporter_stats *s)
{
  struct mp_json b;
  static const char *const reasons[] = {"cap", "forbidden", "bad_request"};
  uint64_t rejected[3] = {s->rejected_cap, s->rejected_forbidden,
                          s->rejected_bad};

  mp_json_init(&b);
  module_counter(&b, s);
  histogram(&b, s);
  gauge(&b, "mailprobe_exporter_probes_in_flight", "Probes running now.",
        s->in_flight);
  mp_prom_head(&b, "mailprobe_exporter_module_probes_in_flight", "gauge",
               "Probes running now, by module.");
  for (size_t i = 0; i < s->nmods; i++) {
    mp_json_printf(&b, "mailprobe_exporter_module_probes_in_flight{");
    mp_prom_label(&b, "module", s->mods[i].module);
    mp_json_printf(&b, "} %u\n", s->mods[i].in_flight);
  }
  mp_prom_head(&b, "mailprobe_exporter_rejected_requests_total", "counter",
               "Probe requests refused: over a cap (503), target not "
               "allowed (403), bad request (400).");
  for (int i = 0; i < 3; i++) {
    mp_json_printf(&b, "mailprobe_exporter_rejected_requests_total{");
    mp_prom_label(&b, "reason", reasons[i]);
    mp_json_printf(&b, "} %" PRIu64 "\n", rejected[i]);
  }
  mp_prom_head(&b, "mailprobe_exporter_stale_results_total", "counter",
               "Scrapes answered with the last result of a round trip that "
               "was still running.");
  mp_json_printf(&b, "mailprobe_exporter_stale_results_total %" PRIu64 "\n",
                 s->stale_answers);
  gauge(&b, "mailprobe_exporter_config_last_reload_successful",
        "Whether the last configuration reload attempt was successful.",
        s->last_reload_ok ? 1 : 0);
  gauge(&b, "mailprobe_exporter_config_last_reload_success_timestamp_seconds",
        "Timestamp of the last successful configuration reload.",
        s->last_reload_success_time);
  mp_prom_head(&b, "mailprobe_exporter_config_reloads_total", "counter",
               "Configuration reloads attempted, by result.");
  mp_json_printf(&b,
                 "mailprobe_exporter_config_reloads_total{result=\"success\"} "
                 "%" PRIu64 "\n"
                 "mailprobe_exporter_config_reloads_total{result=\"failure\"} "
                 "%" PRIu64 "\n",
                 s->reloads - s->reload_failures, s->reload_failures);
  gauge(&b, "mailprobe_exporter_http_connections", "HTTP connections open now.",
        (double)s->http_connections);
  process_metrics(&b, s->start_time);
  return mp_json_take(&b);
}
