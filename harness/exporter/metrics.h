/* The exporter's Prometheus text: a probe's metrics for /probe, with
 * blackbox_exporter's names where it has them (probe_success,
 * probe_duration_seconds, probe_dns_lookup_time_seconds,
 * probe_ip_protocol, probe_ssl_earliest_cert_expiry,
 * probe_tls_version_info, probe_tls_cipher_info) and probe_mail_* for
 * what it lacks (phases, the failed step and error, the last reply, the
 * login, the delivery time); and the exporter's own /metrics (probes by
 * module and result, in flight, a duration histogram, reloads, process
 * metrics). docs/prometheus.md lists them all. Pure but for the process
 * metrics, read from /proc. */
#ifndef MP_EXPORTER_METRICS_H
#define MP_EXPORTER_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct mp_result;

/* How a result reached the scrape. */
struct mp_probe_meta {
  const char *module;
  int roundtrip; /* a round-trip module: say whether the result is stale */
  int stale;     /* a round trip is running: this is the last result */
  double age_s;  /* stale: seconds since that result ended */
};

/* A probe's metrics, malloc'd; NULL when out of memory. */
char *mp_exporter_probe_metrics(const struct mp_result *r,
                                const struct mp_probe_meta *m);

#define MP_EXPORTER_BUCKETS 12

/* Upper bounds of the duration histogram's buckets, in seconds. */
extern const double mp_exporter_buckets[MP_EXPORTER_BUCKETS];

struct mp_module_stats {
  char *module;
  uint64_t success, failure;
  unsigned in_flight;
  uint64_t bucket[MP_EXPORTER_BUCKETS]; /* not cumulative */
  uint64_t count;
  double sum;
};

struct mp_exporter_stats {
  struct mp_module_stats *mods;
  size_t nmods;
  unsigned in_flight;
  uint64_t rejected_cap, rejected_forbidden, rejected_bad;
  uint64_t stale_answers;
  int last_reload_ok;
  double last_reload_success_time; /* seconds since the epoch */
  uint64_t reloads, reload_failures;
  size_t http_connections;
  double start_time;
};

/* Counts one probe's end into the module's stats (found or added). */
void mp_exporter_stats_count(struct mp_exporter_stats *s, const char *module,
                             int ok, double seconds);

/* The module's stats (added when missing), or NULL when out of memory. */
struct mp_module_stats *mp_exporter_stats_module(struct mp_exporter_stats *s,
                                                 const char *module);

/* Frees what s holds. */
void mp_exporter_stats_free(struct mp_exporter_stats *s);

/* The exporter's own metrics, malloc'd; NULL when out of memory. */
char *mp_exporter_self_metrics(const struct mp_exporter_stats *s);

#endif
