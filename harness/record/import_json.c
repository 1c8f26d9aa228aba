/* mailprobe's JSON result (`check --format json`) into a recording: the
 * transcript with its times, the TLS facts and the result itself. JSON is
 * YAML (1.2) to the parser the case files already use (libyaml). */
#include "harness/record/import_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yaml.h>

#include "wire/errors.h"
#include "wire/sasl.h"

static yaml_node_t *get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
  if (!map || map->type != YAML_MAPPING_NODE)
    return NULL;
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
       p < map->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node(d, p->key);
    if (k && k->type == YAML_SCALAR_NODE &&
        strcmp((const char *)k->data.scalar.value, key) == 0)
      return yaml_document_get_node(d, p->value);
  }
  return NULL;
}

/* A scalar's text, NULL for null or another kind of node. */
static const char *text(yaml_node_t *n)
{
  if (!n || n->type != YAML_SCALAR_NODE)
    return NULL;
  const char *s = (const char *)n->data.scalar.value;
  if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strcmp(s, "null") == 0)
    return NULL;
  return s;
}

static long long number(yaml_node_t *n)
{
  const char *s = text(n);
  return s ? atoll(s) : -1;
}

/* The result's "auth" as the static name a result holds. */
static const char *auth_name(const char *s)
{
  static const char *const simple[] = {"USER", "APOP", "LOGIN"};
  if (!s)
    return NULL;
  for (size_t i = 0; i < 3; i++)
    if (strcmp(s, simple[i]) == 0)
      return simple[i];
  int m = mp_sasl_from_name(s);
  return m >= 0 ? mp_sasl_name(m) : NULL;
}

static void tls_facts(struct imp *m, yaml_document_t *d, yaml_node_t *tls,
                      struct mp_rec_session *s)
{
  const char *v = text(get(d, tls, "version"));
  const char *c = text(get(d, tls, "cipher"));
  snprintf(s->tls.version, sizeof(s->tls.version), "%s", v ? v : "");
  snprintf(s->tls.cipher, sizeof(s->tls.cipher), "%s", c ? c : "");
  const char *ve = text(get(d, tls, "verify_error"));
  snprintf(s->tls.verify_error, sizeof(s->tls.verify_error), "%s",
           ve ? ve : "");
  const char *vf = text(get(d, tls, "verified"));
  s->tls.verified = vf && strcmp(vf, "true") == 0;
  const char *subj = text(get(d, tls, "subject"));
  if (!subj)
    return;
  struct mp_cert_facts *f = &s->cert;
  memset(f, 0, sizeof(*f));
  s->have_cert = 1;
  snprintf(f->subject[0], MP_CERT_NAME_LEN, "%s", subj);
  f->nsubject = strchr(subj, '=') ? 1 : 0;
  const char *iss = text(get(d, tls, "issuer"));
  if (iss && strchr(iss, '=')) {
    snprintf(f->issuer[0], MP_CERT_NAME_LEN, "%s", iss);
    f->nissuer = 1;
  }
  long long days = number(get(d, tls, "days_left"));
  long long now = (long long)time(NULL);
  f->not_after = now + days * 86400 + 43200;
  f->not_before = f->not_after - 90LL * 86400;
  if (f->not_before > now - 3600)
    f->not_before = now - 3600;
  f->self_signed = ve && strstr(ve, "self-signed certificate") &&
                   !strstr(ve, "in certificate chain");
  f->chain = 1;
  const char *h = m->r->host;
  if (h && f->nsans < MP_CERT_MAX_NAMES)
    snprintf(f->sans[f->nsans++], MP_CERT_NAME_LEN, "%s%s",
             strspn(h, "0123456789.:") == strlen(h) ? "IP:" : "DNS:", h);
}

int mp_imp_json(struct imp *m, const char *name, const char *buf, size_t len,
                char *err, size_t errlen)
{
  yaml_parser_t parser;
  yaml_document_t doc;
  int rc = -1;

  if (!yaml_parser_initialize(&parser)) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
  if (!yaml_parser_load(&parser, &doc)) {
    snprintf(err, errlen, "%s:%zu: not JSON mailprobe reads: %s", name,
             parser.problem_mark.line + 1,
             parser.problem ? parser.problem : "a syntax error");
    yaml_parser_delete(&parser);
    return -1;
  }
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  yaml_node_t *tr = get(&doc, root, "transcript");
  const char *status = text(get(&doc, root, "status"));
  if (!tr || tr->type != YAML_SEQUENCE_NODE || !status) {
    snprintf(err, errlen,
             "%s:1: JSON without \"status\" and \"transcript\": not a "
             "mailprobe result",
             name);
    goto out;
  }
  struct mp_rec *r = m->r;
  r->timed = 1;
  const char *addr = text(get(&doc, root, "address"));
  if (addr) {
    char host[128];
    snprintf(host, sizeof(host), "%s", addr);
    char *colon = strrchr(host, ':');
    if (colon) {
      r->port = (uint16_t)atoi(colon + 1);
      *colon = '\0';
    }
    r->host = strdup(host[0] == '[' ? host + 1 : host);
    char *b = r->host ? strchr(r->host, ']') : NULL;
    if (b)
      *b = '\0';
  }
  yaml_node_t *tm = get(&doc, root, "timings_us");
  yaml_node_t *tls = get(&doc, root, "tls");
  int has_tls =
      tls && tls->type == YAML_MAPPING_NODE && text(get(&doc, tls, "version"));
  long long t_conn = number(get(&doc, tm, "resolve"));
  long long c_us = number(get(&doc, tm, "connect"));
  m->t_us = (uint64_t)((t_conn > 0 ? t_conn : 0) + (c_us > 0 ? c_us : 0));
  mp_imp_connected(m, NULL, 0);
  /* TLS first on an implicit-TLS port: no STARTTLS in the transcript */
  int starttls = 0;
  for (yaml_node_item_t *it = tr->data.sequence.items.start;
       it < tr->data.sequence.items.top; it++) {
    const char *l = text(get(&doc, yaml_document_get_node(&doc, *it), "line"));
    if (l && (strstr(l, "STARTTLS") || strcmp(l, "STLS") == 0))
      starttls = 1;
  }
  struct mp_rec_session *s = mp_rec_current(r);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    goto out;
  }
  if (has_tls && !starttls)
    mp_imp_tls(m, NULL, NULL, 1);
  int tls_pending = has_tls && starttls;
  for (yaml_node_item_t *it = tr->data.sequence.items.start;
       it < tr->data.sequence.items.top; it++) {
    yaml_node_t *e = yaml_document_get_node(&doc, *it);
    const char *dir = text(get(&doc, e, "dir"));
    const char *l = text(get(&doc, e, "line"));
    long long t = number(get(&doc, e, "t_us"));
    if (!dir || !l)
      continue;
    m->t_us = t > 0 ? (uint64_t)t : m->t_us;
    if (dir[0] == 's') {
      mp_imp_server(m, l, strlen(l));
    } else if (dir[0] == 'c') {
      if (tls_pending && m->starttls_sent) {
        mp_imp_tls(m, NULL, NULL, 1);
        tls_pending = 0;
      }
      mp_imp_client(m, l, 1);
    }
  }
  /* the session's result, as the original saw it */
  s->ok = strcmp(status, "ok") == 0;
  const char *e = text(get(&doc, root, "error"));
  s->err = e ? mp_err_from_name(e) : 0;
  if (s->err > 0)
    s->err = 0;
  const char *ph = text(get(&doc, root, "phase"));
  int phase = ph ? mp_phase_from_name(ph) : -1;
  s->phase = phase >= 0 ? phase : MP_PHASE_QUIT;
  const char *detail = text(get(&doc, root, "detail"));
  s->detail = detail ? strdup(detail) : NULL;
  s->auth = auth_name(text(get(&doc, root, "auth")));
  const char *w = text(get(&doc, root, "warn"));
  s->warn = w && strcmp(w, "true") == 0;
  s->total_us = (uint64_t)(number(get(&doc, tm, "total")) > 0
                               ? number(get(&doc, tm, "total"))
                               : 0);
  for (int i = 0; i < MP_PHASE_COUNT; i++) {
    long long v = number(get(&doc, tm, mp_phase_name((enum mp_phase)i)));
    s->timings_us[i] = v >= 0 ? v : -1;
  }
  s->messages = number(get(&doc, root, "messages"));
  if (has_tls) {
    tls_facts(m, &doc, tls, s);
    s->tls_used = s->ok || s->phase > MP_PHASE_TLS;
  }
  s->ended = 1;
  rc = 0;
out:
  yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
  return rc;
}
