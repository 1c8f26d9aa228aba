/* The fake token endpoint (harness/idp/idp.h). */
#include "harness/idp/idp.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "fake_servers/fake.h"
#include "harness/http/http.h"
#include "wire/codec.h"
#include "wire/errors.h"

/* An answer held back (delay or hang). */
struct held {
  struct mp_idp *idp;
  struct held *next;
  struct mp_http_req *req;
  uv_timer_t timer;
  int status;
  char *type, *body;
};

struct mp_idp {
  uv_loop_t *loop;
  const struct mp_idp_config *cfg;
  struct mp_http *http;
  unsigned char *spent; /* per refresh token: used and rotated away */
  struct held *held;
  unsigned requests;
  int open; /* the http server and held timers not yet closed */
  void (*done)(void *data);
  void *done_data;
  uint64_t started_ms;
};

static void idp_release(struct mp_idp *d)
{
  if (--d->open > 0)
    return;
  void (*done)(void *) = d->done;
  void *data = d->done_data;
  free(d->spent);
  free(d);
  if (done)
    done(data);
}

static void held_closed(uv_handle_t *h)
{
  struct held *x = h->data;
  struct mp_idp *d = x->idp;
  free(x->type);
  free(x->body);
  free(x);
  idp_release(d);
}

static void held_unlink(struct held *x)
{
  struct held **pp = &x->idp->held;
  while (*pp && *pp != x)
    pp = &(*pp)->next;
  if (*pp)
    *pp = x->next;
}

static void on_held(uv_timer_t *t)
{
  struct held *x = t->data;
  held_unlink(x);
  mp_http_reply(x->req, x->status, x->type, x->body, strlen(x->body));
  uv_close((uv_handle_t *)&x->timer, held_closed);
}

/* Replies now, or after the case's delay, or never (hang) until stop. */
static void answer(struct mp_idp *d, struct mp_http_req *req, int status,
                   const char *type, const char *body)
{
  const struct mp_idp_config *c = d->cfg;
  if (c->answer != MP_IDP_HANG && c->delay_ms == 0) {
    mp_http_reply(req, status, type, body, strlen(body));
    return;
  }
  struct held *x = calloc(1, sizeof(*x));
  if (!x || !(x->type = strdup(type)) || !(x->body = strdup(body))) {
    if (x) {
      free(x->type);
      free(x);
    }
    mp_http_reply(req, 503, "text/plain", "out of memory\n", 14);
    return;
  }
  x->idp = d;
  x->req = req;
  x->status = status;
  uv_timer_init(d->loop, &x->timer);
  x->timer.data = x;
  d->open++;
  x->next = d->held;
  d->held = x;
  if (c->answer != MP_IDP_HANG)
    uv_timer_start(&x->timer, on_held, c->delay_ms, 0);
}

/* A JSON object answer (jansson steals o). */
static void answer_json(struct mp_idp *d, struct mp_http_req *req, int status,
                        json_t *o)
{
  char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(o);
  if (!text) {
    mp_http_reply(req, 503, "text/plain", "out of memory\n", 14);
    return;
  }
  mp_http_add_header(req, "Cache-Control", "no-store"); /* RFC 6749 5.1 */
  answer(d, req, status, "application/json", text);
  free(text);
}

/* RFC 6749 5.2: {"error": ..., "error_description": ...}. */
static void refuse(struct mp_idp *d, struct mp_http_req *req, int status,
                   const char *error, const char *description)
{
  answer_json(d, req, status,
              json_pack("{s:s, s:s}", "error", error, "error_description",
                        description));
}

/* RFC 6749 5.1: the access token, its type and lifetime, maybe a new
 * refresh token. */
static void grant(struct mp_idp *d, struct mp_http_req *req, const char *token,
                  const char *refresh)
{
  const struct mp_idp_config *c = d->cfg;
  json_t *o = json_pack("{s:s, s:s, s:I}", "access_token", token, "token_type",
                        "Bearer", "expires_in",
                        (json_int_t)(c->expires_in_s ? c->expires_in_s : 3600));
  if (o && c->scope)
    json_object_set_new(o, "scope", json_string(c->scope));
  if (o && refresh)
    json_object_set_new(o, "refresh_token", json_string(refresh));
  answer_json(d, req, 200, o);
}

/* A form field of the body (application/x-www-form-urlencoded), decoded
 * into buf; NULL when absent. */
static const char *field(struct mp_http_req *req, const char *name, char *buf,
                         size_t cap)
{
  size_t len;
  const char *body = mp_http_body(req, &len);
  const char *names[32], *values[32];
  if (len + 1 > cap)
    return NULL;
  int n = mp_http_query_decode(body, len, buf, cap, names, values, 32);
  for (int i = 0; i < n; i++)
    if (strcmp(names[i], name) == 0)
      return values[i];
  return NULL;
}

/* client_id and client_secret from the body or HTTP Basic (RFC 6749
 * 2.3.1) into id and secret; 1 when the pair is one of the clients'. */
static const struct mp_idp_client *
client_of(struct mp_idp *d, struct mp_http_req *req, char *buf, size_t cap)
{
  const struct mp_idp_config *c = d->cfg;
  char auth[512];
  const char *id = field(req, "client_id", buf, cap);
  char idc[256] = "", sec[256] = "";
  if (id)
    snprintf(idc, sizeof(idc), "%s", id);
  const char *s = field(req, "client_secret", buf, cap);
  if (s)
    snprintf(sec, sizeof(sec), "%s", s);
  if (mp_http_header(req, "authorization", auth, sizeof(auth)) > 6 &&
      strncasecmp(auth, "Basic ", 6) == 0) {
    size_t n;
    unsigned char *dec = mp_b64_decode(auth + 6, &n);
    char *colon = dec ? memchr(dec, ':', n) : NULL;
    if (colon) {
      snprintf(idc, sizeof(idc), "%.*s", (int)(colon - (char *)dec), dec);
      snprintf(sec, sizeof(sec), "%.*s",
               (int)(n - (size_t)(colon + 1 - (char *)dec)), colon + 1);
    }
    free(dec);
  }
  for (size_t i = 0; i < c->nclients; i++)
    if (c->clients[i].id && strcmp(c->clients[i].id, idc) == 0 &&
        c->clients[i].secret &&
        mp_ct_equal(c->clients[i].secret, strlen(c->clients[i].secret), sec,
                    strlen(sec)))
      return &c->clients[i];
  return NULL;
}

static void on_token(struct mp_http_req *req, void *data)
{
  struct mp_idp *d = data;
  const struct mp_idp_config *c = d->cfg;
  char buf[8192];
  d->requests++;
  if (strcmp(mp_http_method(req), "POST") != 0) {
    mp_http_add_header(req, "Allow", "POST");
    mp_http_reply(req, 405, "text/plain", "POST only\n", 10);
    return;
  }
  if (c->answer == MP_IDP_HTTP_500) {
    answer(d, req, 500, "text/html",
           "<html><body><h1>500 Internal Server Error</h1></body></html>\n");
    return;
  }
  if (c->answer == MP_IDP_GARBAGE) {
    answer(d, req, 200, "application/json", "access_token=maybe; not JSON\n");
    return;
  }
  const char *g = field(req, "grant_type", buf, sizeof(buf));
  char gt[64];
  snprintf(gt, sizeof(gt), "%s", g ? g : "");
  if (strcmp(gt, "client_credentials") == 0) {
    const struct mp_idp_client *cl = client_of(d, req, buf, sizeof(buf));
    if (!cl)
      refuse(d, req, 401, "invalid_client",
             "AADSTS7000215: Invalid client secret provided.");
    else
      grant(d, req, cl->token, NULL);
    return;
  }
  if (strcmp(gt, "refresh_token") == 0) {
    const char *rt = field(req, "refresh_token", buf, sizeof(buf));
    for (size_t i = 0; rt && i < c->nrefresh; i++)
      if (!d->spent[i] && c->refresh[i].refresh &&
          strcmp(c->refresh[i].refresh, rt) == 0) {
        if (c->refresh[i].rotate)
          d->spent[i] = 1; /* rotated: the old one is spent */
        grant(d, req, c->refresh[i].token, c->refresh[i].rotate);
        return;
      }
    refuse(d, req, 400, "invalid_grant", "Token has been expired or revoked.");
    return;
  }
  refuse(d, req, 400, "unsupported_grant_type",
         "grant_type must be client_credentials or refresh_token");
}

/* RFC 7662 2: POST token=...; {"active": false} for anything unknown,
 * expired or refused. */
static void on_introspect(struct mp_http_req *req, void *data)
{
  struct mp_idp *d = data;
  const struct mp_idp_config *c = d->cfg;
  char buf[8192];
  const char *tok = field(req, "token", buf, sizeof(buf));
  uint64_t age_ms = uv_now(d->loop) - d->started_ms;
  for (size_t i = 0; tok && i < c->ntokens; i++) {
    const struct mp_fake_token *t = &c->tokens[i];
    if (!t->token || strcmp(t->token, tok) != 0)
      continue;
    if (t->expired || (t->expires_ms && age_ms >= t->expires_ms))
      break;
    json_t *o = json_pack("{s:b, s:s, s:s, s:s}", "active", 1, "sub",
                          t->user ? t->user : "", "username",
                          t->user ? t->user : "", "token_type", "Bearer");
    if (o && t->scope)
      json_object_set_new(o, "scope", json_string(t->scope));
    if (o && t->expires_ms) {
      uv_timeval64_t now;
      uv_gettimeofday(&now);
      json_object_set_new(
          o, "exp",
          json_integer(now.tv_sec + (int64_t)(t->expires_ms - age_ms) / 1000));
    }
    answer_json(d, req, 200, o);
    return;
  }
  answer_json(d, req, 200, json_pack("{s:b}", "active", 0));
}

int mp_idp_start(struct uv_loop_s *loop, const struct mp_idp_config *cfg,
                 struct mp_idp **out, char *err, size_t errlen)
{
  struct mp_idp *d = calloc(1, sizeof(*d));
  if (!d || !(d->spent = calloc(cfg->nrefresh + 1, 1))) {
    free(d);
    snprintf(err, errlen, "out of memory");
    return MP_E_NO_RESOURCES;
  }
  d->loop = loop;
  d->cfg = cfg;
  d->started_ms = uv_now(loop);
  struct mp_http_opts o = {.listen = "127.0.0.1:0"};
  int rc = mp_http_start(loop, &o, &d->http, err, errlen);
  if (rc < 0) {
    free(d->spent);
    free(d);
    return rc;
  }
  d->open = 1;
  if (mp_http_route(d->http, "/token", on_token, d) < 0 ||
      mp_http_route(d->http, "/introspect", on_introspect, d) < 0) {
    snprintf(err, errlen, "out of memory");
    mp_idp_stop(d, NULL, NULL);
    return MP_E_NO_RESOURCES;
  }
  *out = d;
  return 0;
}

uint16_t mp_idp_port(const struct mp_idp *idp)
{
  return mp_http_port(idp->http);
}

unsigned mp_idp_requests(const struct mp_idp *idp)
{
  return idp->requests;
}

static void http_stopped(void *data)
{
  idp_release(data);
}

void mp_idp_stop(struct mp_idp *idp, void (*done)(void *data), void *data)
{
  idp->done = done;
  idp->done_data = data;
  /* Held answers are dropped (status 0 closes the connection). */
  while (idp->held) {
    struct held *x = idp->held;
    idp->held = x->next;
    uv_timer_stop(&x->timer);
    mp_http_reply(x->req, 0, NULL, NULL, 0);
    uv_close((uv_handle_t *)&x->timer, held_closed);
  }
  mp_http_stop(idp->http, http_stopped, idp);
}
