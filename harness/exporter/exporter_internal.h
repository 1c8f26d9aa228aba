/* The exporter's insides, shared by harness/exporter/exporter*.c only. */
#ifndef MP_EXPORTER_INTERNAL_H
#define MP_EXPORTER_INTERNAL_H

#include <uv.h>

#include "harness/exporter/exporter.h"
#include "harness/exporter/exporter_config.h"
#include "harness/exporter/metrics.h"
#include "probes/probe.h"
#include "probes/roundtrip.h"

struct mp_http;
struct mp_http_req;
struct mp_module;
struct mp_json;

#define MP_EXP_LAST 100 /* results the index page lists */

/* One finished probe, for the index page. */
struct mp_exp_last {
  char module[72];
  char target[256];
  double when; /* seconds since the epoch */
  int ok;
  char error[32];
  char phase[16];
  double seconds;
};

struct mp_exp_slot;

struct mp_exporter {
  uv_loop_t *loop;
  char *config_path;
  struct mp_exporter_config *conf; /* the current one (a reference) */
  struct mp_http *http;
  struct mp_exporter_stats stats;
  struct mp_exp_last last[MP_EXP_LAST];
  size_t nlast, last_next;
  struct mp_exp_slot *slots; /* round trips by module and target */
  unsigned jobs;             /* probes and waiters alive */
  int stopping, http_closed;
  void (*done)(void *);
  void *done_data;
};

/* One /probe request being answered (or a round trip's run). */
struct mp_exp_job {
  struct mp_exporter *e;
  struct mp_exporter_config *conf; /* a reference, for the module */
  const struct mp_module *m;
  struct mp_http_req *req; /* NULL for a round trip's run */
  char host[256];
  char target[256]; /* as given, for labels and logs */
  uint16_t port;
  enum mp_tls_mode tls;
  uint64_t timeout_ms; /* the probe's, after the scrape timeout */
  int debug;
  uint64_t t0; /* uv_now at the start */
  struct mp_probe_opts opts;
  struct mp_rt_opts *rto; /* a round trip's run: its options (owned) */
  struct mp_exp_slot *slot;
};

/* Counts a probe's end, keeps it for the index page. */
void mp_exp_record(struct mp_exporter *e, const struct mp_exp_job *j,
                   const struct mp_result *r);

/* Answers a /probe request with r (metrics, or the debug page). */
void mp_exp_answer(struct mp_http_req *req, const struct mp_exp_job *j,
                   const struct mp_result *r, const struct mp_probe_meta *m);

/* A job's end: its reference and count go. */
void mp_exp_job_free(struct mp_exp_job *j);

/* Starts or joins the round trip of j's module and target; takes j. */
void mp_exp_roundtrip(struct mp_exp_job *j);

/* Frees the round-trip slots (none may be running). */
void mp_exp_slots_free(struct mp_exporter *e);

/* The module as YAML-like text (never a password), for debug=true. */
void mp_exp_module_text(struct mp_json *b, const struct mp_module *m);

/* The HTML index page: modules and the last results. */
char *mp_exp_index_html(const struct mp_exporter *e);

/* The debug page: the module, the transcript, the result and the
 * metrics. */
char *mp_exp_debug_text(const struct mp_exp_job *j, const struct mp_result *r,
                        const char *metrics);

/* Called when something ended: finishes a stop that waits for it. */
void mp_exp_maybe_done(struct mp_exporter *e);

#endif
