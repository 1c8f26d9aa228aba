/* The exporter's pages for people: the HTML index (modules and the last
 * results) and the debug page of /probe?debug=true (the module as text,
 * the masked transcript, the result as JSON, the metrics). */
#include "harness/exporter/exporter_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness/case/case.h"
#include "harness/config/module.h"
#include "harness/report/json.h"
#include "harness/report/result_json.h"
#include "wire/sasl.h"

/* Text with &, <, >, " escaped for HTML. */
static void html(struct mp_json *b, const char *s)
{
  for (; s != NULL && *s != '\0'; s++) {
    switch (*s) {
    case '&':
      mp_json_raw(b, "&amp;", 5);
      break;
    case '<':
      mp_json_raw(b, "&lt;", 4);
      break;
    case '>':
      mp_json_raw(b, "&gt;", 4);
      break;
    case '"':
      mp_json_raw(b, "&quot;", 6);
      break;
    default:
      mp_json_raw(b, s, 1);
    }
  }
}

static const char *type_name(enum mp_case_probe_type t)
{
  static const char *const n[] = {"smtp", "pop3", "imap", "roundtrip"};
  return (unsigned)t < 4 ? n[t] : "?";
}

/* One server's options, indented. */
static void endpoint_text(struct mp_json *b, const char *in,
                          const struct mp_case_probe *p)
{
  const struct mp_probe_opts *o = &p->opts;
  if (p->host != NULL)
    mp_json_printf(b, "%starget: %s:%u\n", in, p->host, o->port);
  else if (o->port != 0)
    mp_json_printf(b, "%sport: %u\n", in, o->port);
  mp_json_printf(b, "%stls: %s\n", in, mp_tls_mode_name(o->tls));
  if (o->user != NULL)
    mp_json_printf(b, "%suser: %s\n%spassword: (from %s %s)\n", in, o->user, in,
                   p->password_file ? "password_file" : "password_env",
                   p->password_file ? p->password_file : p->password_env);
  if (o->auth != 0) {
    mp_json_printf(b, "%sauth:", in);
    for (int i = 0; i < MP_SASL_COUNT; i++)
      if (o->auth & MP_SASL_BIT(i))
        mp_json_printf(b, " %s", mp_sasl_name(i));
    if (o->auth & MP_AUTH_USER)
      mp_json_printf(b, " USER");
    if (o->auth & MP_AUTH_APOP)
      mp_json_printf(b, " APOP");
    if (o->auth & MP_AUTH_LOGIN_CMD)
      mp_json_printf(b, " LOGIN");
    mp_json_printf(b, "\n");
  }
  if (o->servername != NULL)
    mp_json_printf(b, "%sservername: %s\n", in, o->servername);
  if (o->helo != NULL)
    mp_json_printf(b, "%shelo: %s\n", in, o->helo);
  if (o->timeout_ms != 0)
    mp_json_printf(b, "%stimeout: %llums\n", in,
                   (unsigned long long)o->timeout_ms);
  if (o->connect_timeout_ms != 0)
    mp_json_printf(b, "%sconnect_timeout: %llums\n", in,
                   (unsigned long long)o->connect_timeout_ms);
  if (o->insecure)
    mp_json_printf(b, "%sinsecure: true\n", in);
  if (o->cafile != NULL)
    mp_json_printf(b, "%scafile: %s\n", in, o->cafile);
  mp_json_printf(b, "%sdns: {mode: %s", in, mp_dns_mode_name(o->dns.mode));
  if (o->dns.server != NULL)
    mp_json_printf(b, ", server: %s", o->dns.server);
  for (size_t i = 0; i < o->dns.nhosts; i++)
    mp_json_printf(b, "%s%s %s", i == 0 ? ", hosts: " : "; ",
                   o->dns.hosts[i].ip, o->dns.hosts[i].name);
  mp_json_printf(b, "}\n");
}

void mp_exp_module_text(struct mp_json *b, const struct mp_module *m)
{
  const struct mp_case_rt *rt = m->probe.rt;
  mp_json_printf(b, "%s:\n  type: %s\n", m->name, type_name(m->probe.type));
  if (rt == NULL) {
    endpoint_text(b, "  ", &m->probe);
    return;
  }
  mp_json_printf(b, "  send:\n");
  endpoint_text(b, "    ", &rt->send);
  mp_json_printf(b, "  fetch:\n    type: %s\n", type_name(rt->fetch.type));
  endpoint_text(b, "    ", &rt->fetch);
  mp_json_printf(b, "  to: %s\n  from: %s\n", rt->to ? rt->to : "",
                 rt->from ? rt->from : "");
  mp_json_printf(b, "  email_timeout: %llums\n  poll: %llums\n  mode: %s\n",
                 (unsigned long long)rt->email_timeout_ms,
                 (unsigned long long)rt->poll_ms,
                 rt->mode == MP_RT_PREVIOUS ? "previous" : "same");
  if (rt->state_file != NULL)
    mp_json_printf(b, "  state_file: %s\n", rt->state_file);
}

char *mp_exp_debug_text(const struct mp_exp_job *j, const struct mp_result *r,
                        const char *metrics)
{
  struct mp_json b;
  char *json = mp_result_to_json(r, 1);

  mp_json_init(&b);
  mp_json_printf(&b, "Probe of target %s with module %s (timeout %llums):\n\n",
                 j->target, j->m->name, (unsigned long long)j->timeout_ms);
  mp_json_printf(&b, "Module:\n");
  mp_exp_module_text(&b, j->m);
  mp_json_printf(&b, "\nTranscript (credentials masked):\n");
  for (size_t i = 0; i < r->ntranscript; i++) {
    const struct mp_transcript_line *l = &r->transcript[i];
    mp_json_printf(&b, "%8.3fs %c: %s\n", (double)l->t_us / 1e6,
                   l->dir == 'c'   ? 'C'
                   : l->dir == 's' ? 'S'
                                   : '*',
                   l->line);
  }
  mp_json_printf(&b,
                 "\nResult:\n%s\n\nMetrics that would have been "
                 "returned:\n%s",
                 json ? json : "(out of memory)", metrics);
  free(json);
  return mp_json_take(&b);
}

char *mp_exp_index_html(const struct mp_exporter *e)
{
  struct mp_json b;
  const struct mp_config *cfg = e->conf->cfg;

  mp_json_init(&b);
  mp_json_printf(&b,
                 "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                 "<title>mailprobe exporter</title></head><body>\n"
                 "<h1>mailprobe exporter</h1>\n<p><a href=\"/metrics\">"
                 "Metrics</a> &middot; <a href=\"/-/healthy\">Health</a></p>\n"
                 "<p>Probe with <code>/probe?module=NAME&amp;target=HOST:PORT"
                 "</code>; add <code>&amp;debug=true</code> for the "
                 "transcript.</p>\n<h2>Modules</h2>\n<ul>\n");
  for (size_t i = 0; i < cfg->nmodules; i++) {
    mp_json_printf(&b, "<li><code>");
    html(&b, cfg->modules[i].name);
    mp_json_printf(&b, "</code> (%s)</li>\n",
                   type_name(cfg->modules[i].probe.type));
  }
  mp_json_printf(&b, "</ul>\n<h2>Recent probes</h2>\n<table border=\"1\">\n"
                     "<tr><th>time (UTC)</th><th>module</th><th>target</th>"
                     "<th>result</th><th>error</th><th>phase</th>"
                     "<th>seconds</th><th>debug</th></tr>\n");
  for (size_t k = 0; k < e->nlast; k++) {
    size_t i = (e->last_next + MP_EXP_LAST - 1 - k) % MP_EXP_LAST;
    const struct mp_exp_last *l = &e->last[i];
    char when[32];
    time_t t = (time_t)l->when;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    mp_json_printf(&b, "<tr><td>%s</td><td>", when);
    html(&b, l->module);
    mp_json_printf(&b, "</td><td>");
    html(&b, l->target);
    mp_json_printf(&b, "</td><td>%s</td><td>%s</td><td>%s</td><td>%.3f</td>",
                   l->ok ? "success" : "failure", l->error, l->phase,
                   l->seconds);
    mp_json_printf(&b, "<td><a href=\"/probe?module=");
    html(&b, l->module);
    mp_json_printf(&b, "&amp;target=");
    /* Target text in a URL: only characters a target can hold pass. */
    for (const char *p = l->target; *p != '\0'; p++) {
      if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_')
        mp_json_raw(&b, p, 1);
      else
        mp_json_printf(&b, "%%%02X", (unsigned char)*p);
    }
    mp_json_printf(&b, "&amp;debug=true\">debug</a></td></tr>\n");
  }
  mp_json_printf(&b, "</table>\n</body></html>\n");
  return mp_json_take(&b);
}
