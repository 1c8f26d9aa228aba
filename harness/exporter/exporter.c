/* The exporter's engine (harness/exporter/exporter.h): routes, /probe
 * (the module and target, the allow list, the caps, the timeout from the
 * scrape's header), single probes, /metrics, /-/healthy, /-/reload, the
 * reload itself and the stop. Round trips are in exporter_rt.c, the
 * pages in exporter_pages.c. */
#include "harness/exporter/exporter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "harness/case/case.h"
#include "harness/config/module.h"
#include "harness/exporter/exporter_internal.h"
#include "harness/http/http.h"
#include "probes/target.h"
#include "wire/errors.h"

#define PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define TEXT_TYPE "text/plain; charset=utf-8"

static double epoch_now(void)
{
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void reply_text(struct mp_http_req *req, int status, const char *text)
{
  mp_http_reply(req, status, TEXT_TYPE, text, strlen(text));
}

void mp_exp_record(struct mp_exporter *e, const struct mp_exp_job *j,
                   const struct mp_result *r)
{
  struct mp_exp_last *l = &e->last[e->last_next];
  const char *phase = mp_phase_name(r->phase);
  double secs = (double)r->total_us / 1e6;

  mp_exporter_stats_count(&e->stats, j->m->name, r->ok, secs);
  memset(l, 0, sizeof *l);
  snprintf(l->module, sizeof l->module, "%s", j->m->name);
  snprintf(l->target, sizeof l->target, "%s", j->target);
  l->when = epoch_now();
  l->ok = r->ok;
  snprintf(l->error, sizeof l->error, "%s",
           r->err ? mp_err_name(r->err) : "none");
  snprintf(l->phase, sizeof l->phase, "%s", phase ? phase : "");
  l->seconds = secs;
  e->last_next = (e->last_next + 1) % MP_EXP_LAST;
  if (e->nlast < MP_EXP_LAST)
    e->nlast++;
}

void mp_exp_answer(struct mp_http_req *req, const struct mp_exp_job *j,
                   const struct mp_result *r, const struct mp_probe_meta *m)
{
  char *metrics = mp_exporter_probe_metrics(r, m);
  char *text = metrics;

  if (metrics != NULL && j->debug)
    text = mp_exp_debug_text(j, r, metrics);
  if (text == NULL)
    reply_text(req, 500, "out of memory\n");
  else
    mp_http_reply(req, 200, j->debug ? TEXT_TYPE : PROM_TYPE, text,
                  strlen(text));
  if (text != metrics)
    free(text);
  free(metrics);
}

void mp_exp_job_free(struct mp_exp_job *j)
{
  struct mp_exporter *e = j->e;
  struct mp_module_stats *ms = mp_exporter_stats_module(&e->stats, j->m->name);
  if (ms != NULL && ms->in_flight > 0)
    ms->in_flight--;
  e->stats.in_flight--;
  mp_exporter_config_unref(j->conf);
  free(j->rto);
  free(j);
  e->jobs--;
  mp_exp_maybe_done(e);
}

/* A single probe ended. */
static void on_probe(struct mp_result *r, void *data)
{
  struct mp_exp_job *j = data;
  struct mp_probe_meta m = {j->m->name, 0, 0, 0};
  mp_exp_record(j->e, j, r);
  mp_exp_answer(j->req, j, r, &m);
  mp_result_free(r);
  mp_exp_job_free(j);
}

/* The scrape's budget: X-Prometheus-Scrape-Timeout-Seconds less the
 * margin, or 0 when the header is absent or unreadable. */
static uint64_t scrape_budget_ms(struct mp_http_req *req,
                                 const struct mp_exporter_config *c)
{
  char v[64];
  char *end;
  double s;
  uint64_t ms;
  if (mp_http_header(req, "X-Prometheus-Scrape-Timeout-Seconds", v, sizeof v) <
      0)
    return 0;
  s = strtod(v, &end);
  if (end == v || *end != '\0' || !(s > 0) || s > 1e6)
    return 0;
  ms = (uint64_t)(s * 1000);
  /* Whatever the margin, leave the probe 100 ms. */
  return ms > c->timeout_margin_ms + 100 ? ms - c->timeout_margin_ms : 100;
}

static enum mp_proto module_proto(const struct mp_module *m)
{
  return m->probe.opts.proto;
}

/* The target of a request into j: a URL (whose scheme must be the
 * module's protocol) or host[:port]; the port from the target, else the
 * module's, else the TLS mode's. 0, or -1 with the 400 reason in why. */
static int parse_target(struct mp_exp_job *j, const char *t, char *why,
                        size_t cap)
{
  const struct mp_module *m = j->m;
  int rt = m->probe.type == MP_CASE_ROUNDTRIP;
  uint16_t port = 0;

  snprintf(j->target, sizeof j->target, "%s", t);
  j->tls = m->probe.opts.tls;
  if (strstr(t, "://") != NULL) {
    struct mp_url u;
    if (rt) {
      snprintf(why, cap, "a round trip's target is host or host:port");
      return -1;
    }
    if (mp_url_parse(t, &u, why, cap) < 0)
      return -1;
    if (u.proto != module_proto(m)) {
      snprintf(why, cap, "target '%s' is %s; module '%s' probes %s", t,
               mp_proto_name(u.proto), m->name, mp_proto_name(module_proto(m)));
      return -1;
    }
    if (j->tls == MP_TLSMODE_AUTO)
      j->tls = u.tls;
    snprintf(j->host, sizeof j->host, "%s", u.host);
    port = u.port_given ? u.port : 0;
  } else {
    char host[256], err[256];
    const char *colon = strchr(t, ':');
    /* A port is given as [v6]:port or host:port (one colon; more is a
     * bare IPv6 address). */
    int given = t[0] == '[' ? strstr(t, "]:") != NULL
                            : colon != NULL && strchr(colon + 1, ':') == NULL;
    if (mp_hostport_parse(t, given ? 0 : 25, host, sizeof host, &port, err,
                          sizeof err) < 0) {
      snprintf(why, cap, "target '%s' must be host, host:port or a URL", t);
      return -1;
    }
    snprintf(j->host, sizeof j->host, "%s", host);
    if (!given)
      port = 0;
  }
  if (port == 0)
    port = m->probe.opts.port;
  if (port == 0 && !rt)
    port = mp_default_port(module_proto(m), j->tls);
  j->port = port;
  return 0;
}

/* Fills j->opts from the module, the target and the timeout. */
static void single_opts(struct mp_exp_job *j)
{
  j->opts = j->m->probe.opts;
  j->opts.host = j->host;
  j->opts.port = j->port;
  j->opts.tls = j->tls;
  j->opts.timeout_ms = j->timeout_ms;
  if (j->opts.connect_timeout_ms == 0 ||
      j->opts.connect_timeout_ms > j->timeout_ms)
    j->opts.connect_timeout_ms = j->timeout_ms;
  j->opts.trace = NULL;
}

/* 400 with a reason, counted. */
static void bad_request(struct mp_exporter *e, struct mp_http_req *req,
                        const char *why)
{
  char line[512];
  snprintf(line, sizeof line, "%s\n", why);
  e->stats.rejected_bad++;
  reply_text(req, 400, line);
}

static void on_probe_req(struct mp_http_req *req, void *data)
{
  struct mp_exporter *e = data;
  struct mp_exporter_config *c = e->conf;
  const char *module = mp_http_query(req, "module");
  const char *target = mp_http_query(req, "target");
  const char *debug = mp_http_query(req, "debug");
  const struct mp_module *m;
  struct mp_module_stats *ms;
  struct mp_exp_job *j;
  char why[400];
  uint64_t budget, t;
  int rc;

  if (module == NULL || *module == '\0')
    return bad_request(e, req, "module parameter is missing");
  if (target == NULL || *target == '\0')
    return bad_request(e, req, "target parameter is missing");
  if (mp_http_query_count(req, "module") > 1 ||
      mp_http_query_count(req, "target") > 1)
    return bad_request(e, req, "module and target may be given once");
  if ((m = mp_config_module(c->cfg, module)) == NULL) {
    snprintf(why, sizeof why, "unknown module '%.64s'", module);
    return bad_request(e, req, why);
  }
  if ((j = calloc(1, sizeof *j)) == NULL)
    return reply_text(req, 503, "out of memory\n");
  j->e = e;
  j->m = m;
  j->req = req;
  j->debug = debug != NULL && strcmp(debug, "true") == 0;
  if (parse_target(j, target, why, sizeof why) < 0) {
    free(j);
    return bad_request(e, req, why);
  }
  if (!mp_exporter_allowed(c, j->host)) {
    e->stats.rejected_forbidden++;
    snprintf(why, sizeof why, "target host '%.200s' is not in the allow list\n",
             j->host);
    free(j);
    return reply_text(req, 403, why);
  }
  ms = mp_exporter_stats_module(&e->stats, m->name);
  if (ms == NULL || e->stats.in_flight >= c->max_in_flight ||
      ms->in_flight >= c->max_in_flight_module) {
    free(j);
    e->stats.rejected_cap++;
    snprintf(why, sizeof why,
             "too many probes in flight (cap %u, %u per "
             "module)\n",
             c->max_in_flight, c->max_in_flight_module);
    return reply_text(req, 503, why);
  }
  budget = scrape_budget_ms(req, c);
  t = m->probe.opts.timeout_ms ? m->probe.opts.timeout_ms
                               : c->default_timeout_ms;
  j->timeout_ms = budget != 0 && budget < t ? budget : t;
  j->t0 = uv_now(e->loop);
  j->conf = c;
  mp_exporter_config_ref(c);
  e->jobs++;
  e->stats.in_flight++;
  ms->in_flight++;
  if (m->probe.type == MP_CASE_ROUNDTRIP) {
    mp_exp_roundtrip(j);
    return;
  }
  single_opts(j);
  rc = mp_probe_start(e->loop, &j->opts, on_probe, j);
  if (rc < 0) {
    struct mp_result *r = mp_result_new();
    struct mp_probe_meta meta = {m->name, 0, 0, 0};
    if (r == NULL) {
      reply_text(req, 503, "out of memory\n");
    } else {
      r->err = rc;
      r->phase = MP_PHASE_RESOLVE;
      mp_result_set_detail(r, "the probe did not start: %s",
                           mp_err_message(rc));
      mp_exp_record(e, j, r);
      mp_exp_answer(req, j, r, &meta);
      mp_result_free(r);
    }
    mp_exp_job_free(j);
  }
}

static void on_metrics(struct mp_http_req *req, void *data)
{
  struct mp_exporter *e = data;
  char *text;
  e->stats.http_connections = mp_http_connections(e->http);
  text = mp_exporter_self_metrics(&e->stats);
  if (text == NULL)
    return reply_text(req, 500, "out of memory\n");
  mp_http_reply(req, 200, PROM_TYPE, text, strlen(text));
  free(text);
}

static void on_healthy(struct mp_http_req *req, void *data)
{
  (void)data;
  reply_text(req, 200, "Healthy\n");
}

static void on_reload(struct mp_http_req *req, void *data)
{
  struct mp_exporter *e = data;
  char err[1024], line[1100];
  if (strcmp(mp_http_method(req), "POST") != 0 &&
      strcmp(mp_http_method(req), "PUT") != 0) {
    mp_http_add_header(req, "allow", "POST, PUT");
    return reply_text(req, 405, "This endpoint requires a POST request.\n");
  }
  if (mp_exporter_reload(e, err, sizeof err) < 0) {
    snprintf(line, sizeof line, "failed to reload config: %s\n", err);
    return reply_text(req, 500, line);
  }
  reply_text(req, 200, "OK\n");
}

static void on_index(struct mp_http_req *req, void *data)
{
  struct mp_exporter *e = data;
  char *html = mp_exp_index_html(e);
  if (html == NULL)
    return reply_text(req, 500, "out of memory\n");
  mp_http_reply(req, 200, "text/html; charset=utf-8", html, strlen(html));
  free(html);
}

int mp_exporter_reload(struct mp_exporter *e, char *err, size_t errlen)
{
  struct mp_exporter_config *c;
  int rc = mp_exporter_config_load(e->config_path, &c, err, errlen);
  e->stats.reloads++;
  if (rc < 0) {
    e->stats.reload_failures++;
    e->stats.last_reload_ok = 0;
    fprintf(stderr,
            "mailprobe exporter: reload failed, keeping the old "
            "config: %s\n",
            err);
    return rc;
  }
  mp_exporter_config_unref(e->conf);
  e->conf = c;
  e->stats.last_reload_ok = 1;
  e->stats.last_reload_success_time = epoch_now();
  fprintf(stderr, "mailprobe exporter: config reloaded from %s (%zu modules)\n",
          e->config_path, c->cfg->nmodules);
  return 0;
}

static void free_exporter(struct mp_exporter *e)
{
  mp_exp_slots_free(e);
  mp_exporter_config_unref(e->conf);
  mp_exporter_stats_free(&e->stats);
  free(e->config_path);
  free(e);
}

int mp_exporter_start(uv_loop_t *loop, const struct mp_exporter_opts *o,
                      struct mp_exporter **out, char *err, size_t errlen)
{
  struct mp_http_opts ho = {o->listen, o->http_timeout_ms, 0, 0, 0, o->web};
  struct mp_exporter *e = calloc(1, sizeof *e);
  int rc;

  *out = NULL;
  if (e == NULL || (e->config_path = strdup(o->config_path)) == NULL) {
    free(e);
    snprintf(err, errlen, "out of memory");
    return MP_E_NO_RESOURCES;
  }
  e->loop = loop;
  rc = mp_exporter_config_load(o->config_path, &e->conf, err, errlen);
  if (rc < 0) {
    free_exporter(e);
    return rc;
  }
  e->stats.last_reload_ok = 1;
  e->stats.start_time = e->stats.last_reload_success_time = epoch_now();
  rc = mp_http_start(loop, &ho, &e->http, err, errlen);
  if (rc == 0 &&
      ((rc = mp_http_route(e->http, "/probe", on_probe_req, e)) < 0 ||
       (rc = mp_http_route(e->http, "/metrics", on_metrics, e)) < 0 ||
       (rc = mp_http_route(e->http, "/-/healthy", on_healthy, e)) < 0 ||
       (rc = mp_http_route(e->http, "/-/reload", on_reload, e)) < 0 ||
       (rc = mp_http_route(e->http, "/", on_index, e)) < 0))
    snprintf(err, errlen, "out of memory");
  if (rc < 0) {
    if (e->http != NULL)
      mp_http_stop(e->http, NULL, NULL);
    free_exporter(e);
    return rc;
  }
  *out = e;
  return 0;
}

uint16_t mp_exporter_port(const struct mp_exporter *e)
{
  return mp_http_port(e->http);
}

unsigned mp_exporter_in_flight(const struct mp_exporter *e)
{
  return e->stats.in_flight;
}

void mp_exp_maybe_done(struct mp_exporter *e)
{
  void (*done)(void *);
  void *data;
  if (!e->stopping || !e->http_closed || e->jobs > 0)
    return;
  done = e->done;
  data = e->done_data;
  free_exporter(e);
  if (done != NULL)
    done(data);
}

static void on_http_stopped(void *data)
{
  struct mp_exporter *e = data;
  e->http_closed = 1;
  mp_exp_maybe_done(e);
}

void mp_exporter_stop(struct mp_exporter *e, void (*done)(void *data),
                      void *data)
{
  if (e->stopping)
    return;
  e->stopping = 1;
  e->done = done;
  e->done_data = data;
  mp_http_stop(e->http, on_http_stopped, e);
}
