/* The protocol-independent half of the fake servers (fake.h): start and
 * stop, the listener, one session per accepted connection, the record of
 * what was seen, the idle timeout, and TLS (the handshake or the fault a
 * script asked for). The protocols are tables (session.h); the rules live
 * in script.c. */
#include "fake_servers/fake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "fake_servers/mailstore.h"
#include "fake_servers/session.h"
#include "wire/cert.h"
#include "wire/cert_like.h"
#include "wire/chunks.h"
#include "wire/conn.h"
#include "wire/errors.h"
#include "wire/listener.h"
#include "wire/tls.h"

#define DEFAULT_HOSTNAME "mx.example.test"
#define DEFAULT_IDLE_MS 60000u
/* The record keeps at most this many lines and bytes of line text (a
 * flood of 8 KiB lines stays bounded too). */
#define MAX_SEEN 50000u
#define MAX_SEEN_BYTES (2u << 20)
/* Line text is kept in chunks of this many bytes (a longer line gets a
 * chunk of its own). */
#define TEXT_CHUNK 65536u
/* A ClientHello record longer than this is not one: act at once. */
#define MAX_HELLO 18432u

/* A TLS fatal alert record: TLS 1.2 framing, level fatal (2),
 * handshake_failure (40) (RFC 8446 6). */
static const unsigned char tls_alert[] = {0x15, 0x03, 0x03, 0x00,
                                          0x02, 0x02, 0x28};
static const char tls_garbage[] = "this is not TLS: plain text from the "
                                  "server where a ServerHello belongs\r\n";

/* ---- configs ---------------------------------------------------------- */

static int dup_str(char **dst, const char *src)
{
  *dst = NULL;
  if (!src)
    return 0;
  *dst = strdup(src);
  return *dst ? 0 : -1;
}

static int dup_bytes(char **dst, const char *src, size_t len)
{
  *dst = NULL;
  if (!src)
    return 0;
  *dst = malloc(len + 1);
  if (!*dst)
    return -1;
  memcpy(*dst, src, len);
  (*dst)[len] = '\0';
  return 0;
}

static int dup_strv(char ***dst, char *const *src, size_t n)
{
  *dst = NULL;
  if (!src)
    return 0;
  *dst = calloc(n ? n : 1, sizeof(char *));
  if (!*dst)
    return -1;
  for (size_t i = 0; i < n; i++)
    if (dup_str(&(*dst)[i], src[i]) < 0)
      return -1;
  return 0;
}

/* A deep copy of src into dst (zeroed first); on failure dst is freed. */
static int config_copy(struct mp_fake_config *dst,
                       const struct mp_fake_config *src)
{
  *dst = *src;
  dst->name = dst->hostname = NULL;
  dst->users = NULL;
  dst->tokens = NULL;
  dst->oauth.scope = NULL;
  dst->auth = dst->advertise = dst->withhold = NULL;
  dst->mailboxes = NULL;
  dst->delivery.redirect = dst->delivery.subject = NULL;
  dst->rules = NULL;
  dst->cert_like = NULL;
  dst->tls_version = dst->cipher = NULL;
  int bad = dup_str(&dst->name, src->name) < 0 ||
            dup_str(&dst->tls_version, src->tls_version) < 0 ||
            dup_str(&dst->cipher, src->cipher) < 0 ||
            dup_str(&dst->hostname, src->hostname) < 0 ||
            dup_strv(&dst->auth, src->auth, src->nauth) < 0 ||
            dup_strv(&dst->advertise, src->advertise, src->nadvertise) < 0 ||
            dup_strv(&dst->withhold, src->withhold, src->nwithhold) < 0 ||
            dup_str(&dst->delivery.redirect, src->delivery.redirect) < 0 ||
            dup_str(&dst->delivery.subject, src->delivery.subject) < 0 ||
            dup_str(&dst->oauth.scope, src->oauth.scope) < 0;
  if (!bad && src->tokens && src->ntokens) {
    dst->tokens = calloc(src->ntokens, sizeof(*dst->tokens));
    bad = !dst->tokens;
    for (size_t i = 0; !bad && i < src->ntokens; i++) {
      dst->tokens[i] = src->tokens[i];
      dst->tokens[i].token = dst->tokens[i].user = NULL;
      dst->tokens[i].scope = NULL;
      bad = dup_str(&dst->tokens[i].token, src->tokens[i].token) < 0 ||
            dup_str(&dst->tokens[i].user, src->tokens[i].user) < 0 ||
            dup_str(&dst->tokens[i].scope, src->tokens[i].scope) < 0;
    }
  }
  if (!bad && src->cert_like) {
    dst->cert_like = malloc(sizeof(*dst->cert_like));
    bad = !dst->cert_like;
    if (!bad)
      *dst->cert_like = *src->cert_like;
  }
  if (!bad && src->users && src->nusers) {
    dst->users = calloc(src->nusers, sizeof(*dst->users));
    bad = !dst->users;
    for (size_t i = 0; !bad && i < src->nusers; i++)
      bad = dup_str(&dst->users[i].name, src->users[i].name) < 0 ||
            dup_str(&dst->users[i].password, src->users[i].password) < 0;
  }
  if (!bad && src->mailboxes && src->nmailboxes) {
    dst->mailboxes = calloc(src->nmailboxes, sizeof(*dst->mailboxes));
    bad = !dst->mailboxes;
    for (size_t i = 0; !bad && i < src->nmailboxes; i++) {
      dst->mailboxes[i] = src->mailboxes[i];
      bad = dup_str(&dst->mailboxes[i].user, src->mailboxes[i].user) < 0;
    }
  }
  if (!bad && src->rules && src->nrules) {
    dst->rules = calloc(src->nrules, sizeof(*dst->rules));
    bad = !dst->rules;
    for (size_t i = 0; !bad && i < src->nrules; i++) {
      const struct mp_fake_rule *r = &src->rules[i];
      struct mp_fake_rule *d = &dst->rules[i];
      *d = *r;
      d->match = d->send = NULL;
      d->reply = NULL;
      bad = dup_str(&d->match, r->match) < 0 ||
            dup_strv(&d->reply, r->reply, r->nreply) < 0 ||
            dup_bytes(&d->send, r->send, r->send_len) < 0;
    }
  }
  if (!dst->users)
    dst->nusers = 0;
  if (!dst->mailboxes)
    dst->nmailboxes = 0;
  if (!dst->rules)
    dst->nrules = 0;
  if (bad) {
    mp_fake_config_free(dst);
    return MP_E_NO_RESOURCES;
  }
  return 0;
}

/* ---- small shared helpers ------------------------------------------------ */

const char *mp_fake_hostname(const struct mp_fake_server *srv)
{
  const char *h = srv->cfg->hostname;
  return h && h[0] ? h : DEFAULT_HOSTNAME;
}

int mp_fake_in_list(char *const *list, size_t n, const char *name)
{
  for (size_t i = 0; list && i < n; i++)
    if (list[i] && strcasecmp(list[i], name) == 0)
      return 1;
  return 0;
}

/* What a server offers when the case names no mechanisms: the bearer
 * ones when it has tokens, the password ones when it has users. */
static const char *const default_auth[] = {"OAUTHBEARER", "XOAUTH2", "CRAM-MD5",
                                           "LOGIN", "PLAIN"};

/* The default list for cfg: a slice of default_auth, *n long. */
static char *const *default_list(const struct mp_fake_config *cfg, size_t *n)
{
  size_t from = cfg->ntokens > 0 ? 0 : 2;
  size_t to = cfg->nusers > 0 ? 5 : 2;
  *n = to > from ? to - from : 0;
  return (char *const *)default_auth + from;
}

void mp_fake_auth_list(const struct mp_fake_config *cfg, char *buf, size_t cap)
{
  char *const *list = cfg->auth;
  size_t n = cfg->nauth, at = 0;
  buf[0] = '\0';
  if (!cfg->auth_set)
    list = default_list(cfg, &n);
  for (size_t i = 0; i < n && at < cap; i++) {
    int k = snprintf(buf + at, cap - at, "%s%s", at ? " " : "", list[i]);
    if (k < 0)
      break;
    at += (size_t)k;
  }
}

int mp_fake_auth_offered(const struct mp_fake_config *cfg, const char *name)
{
  if (cfg->auth_set)
    return mp_fake_in_list(cfg->auth, cfg->nauth, name);
  size_t n;
  char *const *list = default_list(cfg, &n);
  return mp_fake_in_list(list, n, name);
}

int mp_fake_keyword_in(char *const *list, size_t n, const char *cap,
                       const char *stop)
{
  size_t k = strcspn(cap, stop);
  for (size_t i = 0; list && i < n; i++) {
    if (!list[i])
      continue;
    if (strcasecmp(list[i], cap) == 0)
      return 1;
    if (strcspn(list[i], stop) == k && strncasecmp(list[i], cap, k) == 0)
      return 1;
  }
  return 0;
}

size_t mp_fake_caps(const struct mp_fake_config *cfg,
                    const char *const *builtin, size_t nb, const char **caps,
                    size_t max,
                    int (*in)(char *const *list, size_t n, const char *cap))
{
  size_t n = 0;
  /* A capability given in advertise replaces the built-in one of the
   * same keyword; withhold removes either. */
  for (size_t i = 0; i < nb && n < max; i++)
    if (!in(cfg->withhold, cfg->nwithhold, builtin[i]) &&
        !in(cfg->advertise, cfg->nadvertise, builtin[i]))
      caps[n++] = builtin[i];
  for (size_t i = 0; i < cfg->nadvertise && n < max; i++)
    if (cfg->advertise[i] &&
        !in(cfg->withhold, cfg->nwithhold, cfg->advertise[i]))
      caps[n++] = cfg->advertise[i];
  return n;
}

const char *mp_fake_password(void *session, const char *user)
{
  struct mp_fake_session *s = session;
  const struct mp_fake_config *cfg = s->srv->cfg;
  for (size_t i = 0; user && i < cfg->nusers; i++)
    if (cfg->users[i].name && strcasecmp(cfg->users[i].name, user) == 0)
      return cfg->users[i].password ? cfg->users[i].password : "";
  return NULL;
}

/* ---- sessions ----------------------------------------------------------- */

void mp_fake_session_pause(struct mp_fake_session *s)
{
  if (s->paused)
    return;
  s->paused = 1;
  mp_conn_pause(s->conn);
}

void mp_fake_session_resume(struct mp_fake_session *s)
{
  if (!s->paused || s->hung)
    return;
  s->paused = 0;
  mp_conn_resume(s->conn);
}

/* The idle timeout from now_us (mp_now_us()), extra ms beyond it. */
static void touch_at(struct mp_fake_session *s, uint64_t now_us,
                     uint64_t extra_ms)
{
  uint64_t idle = s->srv->cfg->idle_timeout_ms;
  mp_conn_set_deadline_at(
      s->conn, now_us + ((idle ? idle : DEFAULT_IDLE_MS) + extra_ms) * 1000);
}

void mp_fake_session_touch(struct mp_fake_session *s, uint64_t extra_ms)
{
  touch_at(s, mp_now_us(), extra_ms);
}

/* Appends a line, received at now_us, to the server's record. */
static void record(struct mp_fake_session *s, const char *line, size_t len,
                   int input, uint64_t now_us)
{
  struct mp_fake_server *srv = s->srv;
  if (srv->nseen >= MAX_SEEN || srv->seen_bytes + len > MAX_SEEN_BYTES)
    return;
  if (srv->nseen == srv->seen_cap) {
    size_t cap = srv->seen_cap ? srv->seen_cap * 2 : 64;
    struct mp_fake_seen *p = realloc(srv->seen, cap * sizeof(*p));
    if (!p)
      return;
    srv->seen = p;
    srv->seen_cap = cap;
  }
  char *copy = mp_chunk_room(&srv->texts, len + 1, TEXT_CHUNK);
  if (!copy)
    return;
  memcpy(copy, line, len);
  copy[len] = '\0';
  struct mp_fake_seen *e = &srv->seen[srv->nseen++];
  e->session = s->id;
  e->tls = s->in_tls;
  e->t_us = now_us;
  e->line = copy;
  e->input = input;
  srv->seen_bytes += len;
}

static void on_line(struct mp_conn *c, char *line, size_t len)
{
  struct mp_fake_session *s = mp_conn_data(c);
  const struct mp_fake_protocol *p = s->srv->proto;
  const char *verb = NULL;
  size_t verb_len = 0;
  uint64_t now = mp_now_us();
  touch_at(s, now, 0);
  enum mp_fake_kind kind = p->classify(s, line, len, &verb, &verb_len);
  if (kind != MP_KIND_BODY)
    record(s, line, len, kind == MP_KIND_INPUT, now);
  const struct mp_fake_rule *r = NULL;
  if (kind == MP_KIND_COMMAND)
    r = mp_fake_script_match(s, MP_ON_COMMAND, verb, verb_len, line);
  else if (kind == MP_KIND_INPUT)
    r = mp_fake_script_match(s, MP_ON_LINE, NULL, 0, line);
  else if (kind == MP_KIND_END)
    r = mp_fake_script_match(s, MP_ON_MESSAGE, NULL, 0, NULL);
  struct mp_fake_answer a = mp_fake_answer_take(s);
  p->line(s, line, len, kind, mp_fake_rule_replaces(r) && !r->take_effect, &a);
  if (!r && a.len == 0 && a.effect == MP_FX_NONE && !a.oom) {
    mp_fake_answer_keep(s, &a); /* a message line: nothing to say */
    return;
  }
  mp_fake_script_run(s, r, &a);
}

/* Does what a TLS fault says once the ClientHello was read. */
static void fault_act(struct mp_fake_session *s)
{
  switch (s->fault) {
  case MP_TLS_FAULT_GARBAGE:
    mp_conn_write(s->conn, tls_garbage, sizeof(tls_garbage) - 1);
    break;
  case MP_TLS_FAULT_ALERT:
    mp_conn_write(s->conn, tls_alert, sizeof(tls_alert));
    break;
  default:
    break;
  }
  mp_conn_close(s->conn);
}

/* Reads the client's first TLS record (5 bytes of header, then its body)
 * so that closing does not turn into a reset with bytes unread. */
static void fault_raw(struct mp_fake_session *s, const char *buf, size_t len,
                      int last)
{
  if (s->fault == MP_TLS_FAULT_STALL) {
    if (last)
      mp_conn_expect_raw(s->conn, UINT64_MAX);
    return;
  }
  if (s->hdr_len < sizeof(s->hdr)) {
    size_t n = sizeof(s->hdr) - s->hdr_len;
    if (n > len)
      n = len;
    memcpy(s->hdr + s->hdr_len, buf, n);
    s->hdr_len += n;
    if (!last)
      return;
    size_t body = ((size_t)s->hdr[3] << 8) | s->hdr[4];
    if (s->hdr[0] == 0x16 && body > 0 && body <= MAX_HELLO) {
      mp_conn_expect_raw(s->conn, body);
      return;
    }
    fault_act(s);
    return;
  }
  if (last)
    fault_act(s);
}

static void on_raw(struct mp_conn *c, const char *buf, size_t len, int last)
{
  struct mp_fake_session *s = mp_conn_data(c);
  if (s->fault) {
    fault_raw(s, buf, len, last);
    return;
  }
  if (s->srv->proto->raw)
    s->srv->proto->raw(s, buf, len, last);
}

static void on_tls_done(struct mp_conn *c, int status)
{
  struct mp_fake_session *s = mp_conn_data(c);
  if (status < 0) {
    mp_conn_abort(c);
    return;
  }
  s->in_tls = 1;
  mp_fake_sasl_end(s); /* an exchange begun in clear does not carry over */
  if (s->srv->proto->tls_started)
    s->srv->proto->tls_started(s);
  if (!s->greeted)
    mp_fake_script_greet(s); /* implicit TLS: the greeting comes now */
}

void mp_fake_session_handshake(struct mp_fake_session *s,
                               enum mp_tls_fault fault)
{
  struct mp_fake_server *srv = s->srv;
  /* RFC 3207 4.2 (and CVE-2011-0411): plaintext the client pipelined
   * after STARTTLS must not be read as if it came inside TLS. */
  mp_conn_discard_input(s->conn);
  if (s->paused) {
    s->paused = 0;
    mp_conn_resume(s->conn);
  }
  if (fault == MP_TLS_FAULT_ALERT_MID) {
    /* The real handshake, but what the server says is cut after its
     * first record (the ServerHello) by a fatal alert, then closed. */
    if (mp_conn_cut_output(s->conn, 1, tls_alert, sizeof(tls_alert)) < 0) {
      mp_conn_abort(s->conn);
      return;
    }
    fault = MP_TLS_FAULT_NONE;
  }
  if (fault != MP_TLS_FAULT_NONE) {
    s->fault = fault;
    s->hdr_len = 0;
    mp_conn_expect_raw(s->conn, fault == MP_TLS_FAULT_STALL ? UINT64_MAX
                                                            : sizeof(s->hdr));
    return;
  }
  if (!srv->tls_ctx ||
      mp_conn_start_tls(s->conn, srv->tls_ctx, 1, NULL, on_tls_done) < 0)
    mp_conn_abort(s->conn);
}

static void on_error(struct mp_conn *c, int err)
{
  struct mp_fake_session *s = mp_conn_data(c);
  const struct mp_fake_protocol *p = s->srv->proto;
  if (err != MP_E_TIMEOUT || s->hung || s->fault || !p->timeout)
    return;
  struct mp_fake_answer a = {0};
  p->timeout(s, &a);
  if (a.len)
    mp_conn_write(c, a.buf, a.len);
  mp_fake_answer_free(&a);
}

static void server_maybe_done(struct mp_fake_server *srv);

static void on_close(struct mp_conn *c)
{
  struct mp_fake_session *s = mp_conn_data(c);
  struct mp_fake_server *srv = s->srv;
  if (s->prev)
    s->prev->next = s->next;
  else
    srv->sessions = s->next;
  if (s->next)
    s->next->prev = s->prev;
  if (s->proto && srv->proto->close)
    srv->proto->close(s);
  free(s->proto);
  mp_fake_sasl_end(s);
  mp_fake_answer_free(&s->out);
  free(s);
  server_maybe_done(srv);
}

static const struct mp_conn_cbs session_cbs = {
    .on_line = on_line,
    .on_raw = on_raw,
    .on_error = on_error,
    .on_close = on_close,
};

static void on_accept(struct mp_listener *l, struct mp_conn *c)
{
  struct mp_fake_server *srv = mp_listener_data(l);
  /* The session and its rule counters in one allocation. */
  size_t nrules = srv->cfg->nrules;
  struct mp_fake_session *s =
      srv->stopping || srv->resetting
          ? NULL
          : calloc(1, sizeof(*s) + nrules * sizeof(*s->count));
  if (!s) {
    mp_conn_abort(c);
    return;
  }
  s->count = (unsigned *)(s + 1);
  s->srv = srv;
  s->conn = c;
  s->id = ++srv->nsessions;
  s->next = srv->sessions;
  if (s->next)
    s->next->prev = s;
  srv->sessions = s;
  mp_conn_set_data(c, s);
  mp_conn_set_cbs(c, &session_cbs);
  mp_conn_set_max_line(c, srv->proto->max_line);
  mp_fake_session_touch(s, 0);
  s->proto = calloc(1, srv->proto->data_size);
  if (!s->proto) {
    mp_conn_abort(c);
    return;
  }
  if (srv->cfg->tls == MP_FAKE_TLS_IMPLICIT)
    mp_fake_script_tls(s);
  else
    mp_fake_script_greet(s);
}

/* ---- servers ------------------------------------------------------------ */

static void server_free(struct mp_fake_server *srv)
{
  mp_chunk_free(&srv->texts);
  free(srv->seen);
  if (srv->tls_ctx)
    mp_tls_ctx_unref(srv->tls_ctx);
  mp_fake_config_free(srv->cfg);
  free(srv->cfg);
  free(srv);
}

static int fill_store(struct mp_fake_server *srv);

/* The end of mp_fake_reset, once no session is left. */
static void reset_finish(struct mp_fake_server *srv)
{
  srv->resetting = 0;
  srv->nsessions = 0;
  mp_chunk_reset(&srv->texts); /* the record starts over */
  srv->nseen = 0;
  srv->seen_bytes = 0;
  srv->started_ms = uv_now(srv->loop);
  srv->date_sec = 0;
  int rc = 0;
  if (srv->env.store) {
    mp_mailstore_clear(srv->env.store);
    rc = fill_store(srv);
  }
  void (*done)(void *, int) = srv->reset_done;
  srv->reset_done = NULL;
  if (done)
    done(srv->reset_data, rc);
}

static void server_maybe_done(struct mp_fake_server *srv)
{
  if (srv->resetting && !srv->sessions && !srv->stopping)
    reset_finish(srv);
  if (!srv->stopping || srv->listener_open || srv->sessions)
    return;
  void (*done)(void *) = srv->done;
  void *data = srv->done_data;
  server_free(srv);
  if (done)
    done(data);
}

static void on_listener_closed(void *data)
{
  struct mp_fake_server *srv = data;
  srv->listener_open = 0;
  server_maybe_done(srv);
}

/* Does the server need a certificate? TLS modes, or rules that start or
 * talk about TLS. */
static int needs_tls(const struct mp_fake_config *cfg)
{
  if (cfg->tls != MP_FAKE_TLS_NONE)
    return 1;
  for (size_t i = 0; i < cfg->nrules; i++)
    if (cfg->rules[i].then == MP_THEN_STARTTLS)
      return 1;
  return 0;
}

/* The server's certificate and its one TLS context. */
static int make_tls(struct mp_fake_server *srv)
{
  struct mp_ca *ca = srv->env.ca;
  char *cert = NULL, *key = NULL;
  char err[256];
  const struct mp_fake_config *cfg = srv->cfg;
  int rc;
  if (srv->env.tls_ctx) {
    mp_tls_ctx_ref(srv->env.tls_ctx);
    srv->tls_ctx = srv->env.tls_ctx;
    return 0;
  }
  if (cfg->cert_like) {
    rc = mp_cert_issue_like(ca, cfg->cert_like, &cert, &key);
  } else {
    if (!ca && cfg->cert != MP_CERT_SELF_SIGNED)
      return MP_E_TLS_FAILED;
    rc =
        mp_cert_issue(ca, (enum mp_cert_kind)cfg->cert, mp_fake_hostname(srv),
                      cfg->rsa ? MP_KEY_RSA_2048 : MP_KEY_EC_P256, &cert, &key);
  }
  if (rc < 0)
    return rc;
  srv->tls_ctx = mp_tls_ctx_server(cert, key, err, sizeof(err));
  free(cert);
  free(key);
  /* A recorded version or cipher this OpenSSL will not offer: said, and
   * the version alone, else the defaults, rather than no TLS at all. */
  if (srv->tls_ctx && (cfg->tls_version || cfg->cipher) &&
      mp_tls_ctx_pin(srv->tls_ctx, cfg->tls_version, cfg->cipher, err,
                     sizeof(err)) < 0) {
    fprintf(stderr, "mailprobe: server %s: %s: offering %s\n",
            cfg->name ? cfg->name : "-", err,
            cfg->tls_version ? cfg->tls_version : "the defaults");
    mp_tls_ctx_pin(srv->tls_ctx, cfg->tls_version, NULL, err, sizeof(err));
  }
  return srv->tls_ctx ? 0 : MP_E_TLS_FAILED;
}

/* Puts the config's users and seeded mailboxes into the shared store. */
static int fill_store(struct mp_fake_server *srv)
{
  struct mp_mailstore *st = srv->env.store;
  const struct mp_fake_config *cfg = srv->cfg;
  if (!st)
    return 0;
  uint64_t now = mp_now_us();
  for (size_t i = 0; i < cfg->nusers; i++)
    if (cfg->users[i].name && mp_mailstore_add_user(st, cfg->users[i].name) < 0)
      return MP_E_NO_RESOURCES;
  /* A token's user has a mailbox as a password's user has. */
  for (size_t i = 0; i < cfg->ntokens; i++)
    if (cfg->tokens[i].user &&
        mp_mailstore_add_user(st, cfg->tokens[i].user) < 0)
      return MP_E_NO_RESOURCES;
  if (cfg->delivery.redirect &&
      mp_mailstore_add_user(st, cfg->delivery.redirect) < 0)
    return MP_E_NO_RESOURCES;
  for (size_t i = 0; i < cfg->nmailboxes; i++) {
    const struct mp_fake_mailbox *m = &cfg->mailboxes[i];
    if (!m->user)
      continue;
    int rc = mp_mailstore_add_user(st, m->user);
    if (rc == 0)
      rc = mp_mailstore_seed(st, m->user, m->messages, m->size, now);
    if (rc < 0)
      return rc;
  }
  return 0;
}

int mp_fake_start(struct uv_loop_s *loop, const struct mp_fake_config *cfg,
                  const struct mp_fake_env *env, const char *host,
                  uint16_t port, struct mp_fake_server **out)
{
  if (!cfg || !mp_fake_protocol_of((int)cfg->proto))
    return MP_E_PROTOCOL_ERROR; /* no such protocol */
  struct mp_fake_server *srv = calloc(1, sizeof(*srv));
  if (!srv)
    return MP_E_NO_RESOURCES;
  srv->cfg = calloc(1, sizeof(*srv->cfg));
  if (!srv->cfg || config_copy(srv->cfg, cfg) < 0) {
    free(srv->cfg);
    free(srv);
    return MP_E_NO_RESOURCES;
  }
  srv->loop = loop;
  srv->started_ms = uv_now(loop);
  if (env)
    srv->env = *env;
  srv->proto = mp_fake_protocol_of((int)cfg->proto);
  srv->trace = getenv("MP_FAKE_TRACE") != NULL;
  for (size_t i = 0; i < srv->cfg->nrules; i++) {
    enum mp_rule_on on = srv->cfg->rules[i].on;
    srv->rule_events |= 1u << on;
    if (on == MP_ON_LINE) /* a command line is a line too */
      srv->rule_events |= 1u << MP_ON_COMMAND;
  }
  int rc = fill_store(srv);
  if (rc == 0 && needs_tls(srv->cfg))
    rc = make_tls(srv);
  if (rc == 0)
    rc = mp_listener_start(loop, host ? host : "127.0.0.1", port, on_accept,
                           srv, &srv->listener);
  if (rc < 0) {
    server_free(srv);
    return rc;
  }
  srv->listener_open = 1;
  srv->port = mp_listener_port(srv->listener);
  *out = srv;
  return 0;
}

uint16_t mp_fake_port(const struct mp_fake_server *s)
{
  return s->port;
}

const struct mp_fake_seen *mp_fake_seen(const struct mp_fake_server *s,
                                        size_t *n)
{
  *n = s->nseen;
  return s->seen;
}

unsigned mp_fake_sessions(const struct mp_fake_server *s)
{
  return s->nsessions;
}

unsigned mp_fake_live_sessions(const struct mp_fake_server *s)
{
  unsigned n = 0;
  /* A hung session reads nothing more: it will never see another line. */
  for (const struct mp_fake_session *x = s->sessions; x; x = x->next)
    n += !x->hung;
  return n;
}

void mp_fake_reset(struct mp_fake_server *s, void (*done)(void *data, int rc),
                   void *data)
{
  if (s->stopping || s->resetting)
    return;
  s->resetting = 1;
  s->reset_done = done;
  s->reset_data = data;
  if (!s->sessions) {
    reset_finish(s);
    return;
  }
  for (struct mp_fake_session *x = s->sessions; x; x = x->next)
    mp_conn_abort(x->conn);
}

void mp_fake_stop(struct mp_fake_server *s, void (*done)(void *data),
                  void *data)
{
  if (s->stopping)
    return;
  s->stopping = 1;
  s->done = done;
  s->done_data = data;
  for (struct mp_fake_session *x = s->sessions; x; x = x->next)
    mp_conn_abort(x->conn);
  mp_listener_close(s->listener, on_listener_closed);
}
