/* A recording (harness/record/record.h): events from the probe's tap,
 * bounded, with the TLS facts and the result. */
#include "harness/record/record.h"

#include <stdlib.h>
#include <string.h>

#include "wire/grow.h"

struct mp_rec *mp_rec_new(void)
{
  struct mp_rec *r = calloc(1, sizeof(*r));
  if (r)
    r->timed = 1;
  return r;
}

static int dup_str(char **dst, const char *s)
{
  free(*dst);
  *dst = s ? strdup(s) : NULL;
  return s && !*dst ? -1 : 0;
}

int mp_rec_set_opts(struct mp_rec *r, const struct mp_probe_opts *o)
{
  r->proto = o->proto;
  r->tls = o->tls;
  r->port = o->port;
  r->auth = o->auth;
  r->timeout_ms = o->timeout_ms ? o->timeout_ms : MP_PROBE_DEFAULT_TIMEOUT_MS;
  r->connect_timeout_ms = o->connect_timeout_ms;
  r->insecure = o->insecure;
  r->bearer = o->token != NULL;
  if (dup_str(&r->host, o->host) < 0 ||
      dup_str(&r->servername, o->servername) < 0 ||
      dup_str(&r->user, o->user) < 0 || dup_str(&r->helo, o->helo) < 0)
    return -1;
  return 0;
}

struct mp_rec_session *mp_rec_current(struct mp_rec *r)
{
  if (r->ns > 0 && !r->s[r->ns - 1].ended)
    return &r->s[r->ns - 1];
  if (r->ns >= 1000)
    return NULL; /* polls without end: enough to replay */
  void *p = realloc(r->s, (r->ns + 1) * sizeof(*r->s));
  if (!p)
    return NULL;
  r->s = p;
  struct mp_rec_session *s = &r->s[r->ns++];
  memset(s, 0, sizeof(*s));
  for (int i = 0; i < MP_PHASE_COUNT; i++)
    s->timings_us[i] = -1;
  s->messages = s->found = s->deleted = s->delivery_us = -1;
  return s;
}

int mp_rec_add(struct mp_rec *r, enum mp_probe_event_kind kind, uint64_t t_us,
               int phase, const char *data, size_t len, int response)
{
  struct mp_rec_session *s = mp_rec_current(r);
  if (!s)
    return -1;
  if (s->cut)
    return -1;
  if (s->nev >= MP_REC_MAX_EVENTS || s->bytes + len > MP_REC_MAX_BYTES) {
    s->cut = 1;
    return -1;
  }
  size_t capb = s->cap * sizeof(*s->ev);
  char *buf = (char *)s->ev;
  if ((s->nev + 1) * sizeof(*s->ev) > capb &&
      mp_grow(&buf, &capb, (s->nev + 1) * sizeof(*s->ev), 16 * sizeof(*s->ev)) <
          0)
    return -1;
  s->ev = (struct mp_rec_event *)(void *)buf;
  s->cap = capb / sizeof(*s->ev);
  struct mp_rec_event *e = &s->ev[s->nev];
  memset(e, 0, sizeof(*e));
  e->kind = kind;
  e->t_us = t_us;
  e->phase = phase;
  e->response = response;
  if (data) {
    e->data = malloc(len + 1);
    if (!e->data)
      return -1;
    memcpy(e->data, data, len);
    e->data[len] = '\0';
    e->len = len;
  }
  s->bytes += len;
  s->nev++;
  return 0;
}

void mp_rec_end(struct mp_rec *r, const struct mp_result *res)
{
  struct mp_rec_session *s = mp_rec_current(r);
  if (s)
    mp_rec_set_result(s, res);
}

void mp_rec_set_result(struct mp_rec_session *s, const struct mp_result *res)
{
  s->ok = res->ok;
  s->warn = res->warn;
  s->err = res->err;
  s->phase = (int)res->phase;
  free(s->detail);
  s->detail = res->detail ? strdup(res->detail) : NULL;
  free(s->reply_text);
  s->reply_text = res->reply_text ? strdup(res->reply_text) : NULL;
  s->reply_code = res->reply_code;
  s->auth = res->auth;
  s->total_us = res->total_us;
  memcpy(s->timings_us, res->timings_us, sizeof(s->timings_us));
  s->tls_used = res->tls_used;
  if (res->tls_used || res->tls.version[0] || res->tls.verify_error[0])
    s->tls = res->tls;
  s->messages = res->messages;
  s->found = res->found;
  s->deleted = res->deleted;
  s->delivery_us = res->delivery_us;
  s->ended = 1;
}

/* The handshake's facts: the session and the certificate. */
static void tls_facts(struct mp_rec_session *s, const struct mp_probe_event *ev)
{
  s->tls_done = 1;
  s->tls_status = ev->status;
  if (!ev->tls)
    return;
  mp_tls_get_info(ev->tls, &s->tls);
  unsigned n = 0;
  char *pem = mp_tls_peer_pem(ev->tls, &n);
  if (pem && mp_cert_facts_read(pem, n, &s->cert) == 0)
    s->have_cert = 1;
  free(pem);
}

void mp_rec_tap(void *data, const struct mp_probe_event *ev)
{
  struct mp_rec *r = data;
  struct mp_rec_session *cur = mp_rec_current(r);
  /* The smallest of the kernel's estimates: a server slow to answer
   * delays the acknowledgements of the commands it got (delayed ACK), so
   * later estimates grow by part of the server's own delay, which would
   * then be taken out of the recorded delays twice over. */
  if (cur && ev->rtt_us && (!cur->rtt_us || ev->rtt_us < cur->rtt_us))
    cur->rtt_us = ev->rtt_us;
  if (ev->kind == MP_PEV_END) {
    mp_rec_end(r, ev->result);
    return;
  }
  mp_rec_add(r, ev->kind, ev->t_us, ev->phase, ev->data, ev->len, ev->response);
  struct mp_rec_session *s = mp_rec_current(r);
  if (ev->kind == MP_PEV_TLS_DONE && s)
    tls_facts(s, ev);
}

void mp_rec_free(struct mp_rec *r)
{
  if (!r)
    return;
  for (size_t i = 0; i < r->ns; i++) {
    for (size_t k = 0; k < r->s[i].nev; k++)
      free(r->s[i].ev[k].data);
    free(r->s[i].ev);
    free(r->s[i].detail);
    free(r->s[i].reply_text);
  }
  free(r->s);
  free(r->host);
  free(r->servername);
  free(r->user);
  if (r->password) {
    memset(r->password, 0, strlen(r->password));
    free(r->password);
  }
  free(r->helo);
  free(r->source);
  free(r);
}
