/* The scripted client of the fake server suites (see fake_client.h). */
#include "tests/fake_client.h"

#include <check.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "fake_servers/fake.h"
#include "fake_servers/mailstore.h"
#include "wire/cert.h"
#include "wire/conn.h"
#include "wire/errors.h"
#include "wire/sasl.h"
#include "wire/tls.h"

static uint64_t ms_since(const struct fc *t)
{
  return (mp_now_us() - t->t0) / 1000;
}

/* The server freed itself. */
static void on_stopped(void *data)
{
  struct fc *t = data;
  t->srv = NULL;
  t->stopped = 1;
}

/* Copies what the server saw, then stops it (once). */
static void snapshot_and_stop(struct fc *t)
{
  if (t->stopping)
    return;
  t->stopping = 1;
  size_t n;
  const struct mp_fake_seen *seen = mp_fake_seen(t->srv, &n);
  for (size_t i = 0; i < n && i < FC_MAXL; i++) {
    t->seen[i] = strdup(seen[i].line);
    t->seen_session[i] = seen[i].session;
    t->seen_tls[i] = seen[i].tls;
    t->seen_t[i] = seen[i].t_us;
    t->nseen = i + 1;
  }
  t->sessions = mp_fake_sessions(t->srv);
  mp_fake_stop(t->srv, on_stopped, t);
}

static void start_client_tls(struct fc_client *c);
static void advance(struct fc_client *c);

/* One write, so pipelined commands travel together. */
static void send_line(struct fc_client *c, const char *s)
{
  size_t n = strlen(s);
  char *buf = malloc(n + 2);
  memcpy(buf, s, n);
  memcpy(buf + n, "\r\n", 2);
  mp_conn_write(c->c, buf, n + 2);
  free(buf);
}

/* Sends a step's bulk: lines of 998 characters and CRLF (the last one
 * shorter), at most 1 MiB waiting in the queue, then the step itself. */
static void bulk_pump(struct mp_conn *conn)
{
  struct fc_client *c = mp_conn_data(conn);
  static char chunk[65000];
  if (chunk[0] == '\0') {
    for (size_t i = 0; i < sizeof(chunk); i += 1000) {
      memset(chunk + i, 'x', 998);
      memcpy(chunk + i + 998, "\r\n", 2);
    }
  }
  while (c->bulk_left > 0 && mp_conn_queued(conn) < (1u << 20)) {
    size_t n = c->bulk_left < sizeof(chunk) ? c->bulk_left : sizeof(chunk);
    if (n < sizeof(chunk)) {
      /* The last piece: a shorter line, still with its CRLF. */
      char last[sizeof(chunk)];
      memcpy(last, chunk, n);
      if (n >= 2)
        memcpy(last + n - 2, "\r\n", 2);
      ck_assert_int_eq(mp_conn_write(conn, last, n), 0);
    } else {
      ck_assert_int_eq(mp_conn_write(conn, chunk, n), 0);
    }
    c->bulk_left -= n;
  }
  if (c->bulk_left > 0) {
    mp_conn_after(conn, 1, bulk_pump);
    return;
  }
  c->pending = 0;
  advance(c); /* now the step itself */
}

static void on_wait(struct mp_conn *conn)
{
  struct fc_client *c = mp_conn_data(conn);
  c->waited = 1;
  advance(c);
}

/* Sends steps while no reply is awaited. */
static void advance(struct fc_client *c)
{
  while (c->pending == 0) {
    const struct fc_step *st = &c->steps[c->next];
    if (!st->send && !st->make && !st->wait) {
      if (c->t->hold)
        snapshot_and_stop(c->t);
      else
        mp_conn_close(c->c);
      return;
    }
    if (st->wait) {
      if (c->pokes == 0) {
        c->waiting = 1;
        return;
      }
      c->pokes--;
      c->next++;
      continue;
    }
    if (st->wait_ms && !c->waited) {
      mp_conn_after(c->c, st->wait_ms, on_wait);
      return;
    }
    c->waited = 0;
    if (st->bulk && c->cur != st) {
      c->cur = st;
      c->bulk_left = st->bulk;
      c->pending = LONG_MAX; /* nothing else until the bulk is out */
      bulk_pump(c->c);
      return;
    }
    c->next++;
    c->cur = st;
    if (c->nsent < sizeof(c->sent_at) / sizeof(c->sent_at[0]))
      c->sent_at[c->nsent++] = ms_since(c->t);
    if (st->len) {
      mp_conn_write(c->c, st->send, st->len);
    } else {
      const char *line = st->make ? st->make(c) : st->send;
      if (line[0] || st->make)
        send_line(c, line);
    }
    c->want = st->replies == FC_NONE ? LONG_MAX : st->replies ? st->replies : 1;
    c->pending = c->want;
    if (st->raw)
      mp_conn_expect_raw(c->c, (uint64_t)st->raw);
  }
}

static void poke(struct fc_client *c)
{
  c->pokes++;
  if (c->waiting) {
    c->waiting = 0;
    advance(c);
  }
}

/* One whole reply (or a step's raw bytes) arrived. */
static void got_reply(struct fc_client *c)
{
  if (c->pending == LONG_MAX || --c->pending > 0)
    return;
  if (c->cur && c->cur->poke && c->t->ncl > 1)
    poke(&c->t->cl[c == &c->t->cl[0] ? 1 : 0]);
  if (c->cur && c->cur->tls) {
    start_client_tls(c);
    return;
  }
  advance(c);
}

static void on_client_tls(struct mp_conn *conn, int status)
{
  struct fc_client *c = mp_conn_data(conn);
  c->tls_status = status;
  if (status < 0) {
    mp_conn_close(conn);
    return;
  }
  c->tls_up = 1;
  if (!c->implicit || c->nlines > 0)
    advance(c);
}

static void start_client_tls(struct fc_client *c)
{
  int rc = mp_conn_start_tls(c->c, c->t->cctx, 0, FC_HOST, on_client_tls);
  if (rc < 0) {
    c->tls_status = rc;
    mp_conn_close(c->c);
  }
}

static void on_client_line(struct mp_conn *conn, char *line, size_t len)
{
  struct fc_client *c = mp_conn_data(conn);
  if (c->nlines < FC_MAXL) {
    c->line_at[c->nlines] = ms_since(c->t);
    c->lines[c->nlines++] = strdup(line);
  }
  if (c->t->proto->line(c, line, len))
    got_reply(c);
}

static void on_client_raw(struct mp_conn *conn, const char *buf, size_t len,
                          int last)
{
  struct fc_client *c = mp_conn_data(conn);
  for (size_t i = 0; i < len && c->nraw < sizeof(c->raw) - 1; i++)
    c->raw[c->nraw++] = buf[i];
  c->raw[c->nraw] = '\0';
  /* A step's raw bytes count as a reply; a literal's do not. */
  if (last && c->cur && c->cur->raw)
    got_reply(c);
}

static void on_client_error(struct mp_conn *conn, int err)
{
  struct fc_client *c = mp_conn_data(conn);
  if (err == MP_E_CONNECTION_CLOSED) {
    c->server_closed = 1;
    c->closed_at = ms_since(c->t);
  } else {
    c->client_err = err;
  }
}

static void on_client_close(struct mp_conn *conn)
{
  struct fc_client *c = mp_conn_data(conn);
  c->c = NULL;
  c->closed = 1;
  if (++c->t->nclosed == c->t->ncl)
    snapshot_and_stop(c->t);
}

static const struct mp_conn_cbs client_cbs = {
    .on_line = on_client_line,
    .on_raw = on_client_raw,
    .on_error = on_client_error,
    .on_close = on_client_close,
};

static void on_connect(struct mp_conn *conn, int status)
{
  struct fc_client *c = mp_conn_data(conn);
  ck_assert_int_eq(status, 0);
  if (c->implicit)
    start_client_tls(c);
  /* The greeting is the first awaited reply. */
}

struct fc *fc_new(const struct fc_proto *proto)
{
  struct fc *t = calloc(1, sizeof(*t));
  ck_assert_ptr_nonnull(t);
  ck_assert_int_eq(uv_loop_init(&t->loop), 0);
  t->proto = proto;
  t->store = mp_mailstore_new();
  ck_assert_ptr_nonnull(t->store);
  for (int i = 0; i < 2; i++) {
    t->cl[i].t = t;
    t->cl[i].mech = -1;
  }
  return t;
}

void fc_tls(struct fc *t)
{
  char err[256];
  t->ca = mp_ca_new("fake server test CA", MP_KEY_EC_P256);
  ck_assert_ptr_nonnull(t->ca);
  struct mp_tls_client_opts o = {.ca_pem = mp_ca_pem(t->ca)};
  t->cctx = mp_tls_ctx_client(&o, err, sizeof(err));
  ck_assert_msg(t->cctx != NULL, "%s", err);
}

void fc_run2(struct fc *t, const struct mp_fake_config *cfg,
             const struct fc_step *steps, const struct fc_step *steps2)
{
  struct mp_fake_env env = {.ca = t->ca, .store = t->store};
  ck_assert_int_eq(mp_fake_start(&t->loop, cfg, &env, "127.0.0.1", 0, &t->srv),
                   0);
  ck_assert_uint_ne(mp_fake_port(t->srv), 0);
  if (t->after_start)
    t->after_start(t);
  t->ncl = steps2 ? 2 : 1;
  uv_update_time(&t->loop); /* making certificates took a while */
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", mp_fake_port(t->srv), &addr);
  t->t0 = mp_now_us();
  for (int i = 0; i < t->ncl; i++) {
    struct fc_client *c = &t->cl[i];
    c->steps = i ? steps2 : steps;
    c->pending = c->want = 1; /* the greeting */
    c->c = mp_conn_new(&t->loop, &client_cbs, c);
    mp_conn_set_deadline(c->c, 5000); /* a stuck test fails, never hangs */
    ck_assert_int_eq(
        mp_conn_connect(c->c, (struct sockaddr *)&addr, 2000, on_connect), 0);
  }
  uv_run(&t->loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(t->stopped, 1);
  for (int i = 0; i < t->ncl; i++)
    ck_assert_int_eq(t->cl[i].client_err, 0);
}

void fc_run(struct fc *t, const struct mp_fake_config *cfg,
            const struct fc_step *steps)
{
  fc_run2(t, cfg, steps, NULL);
}

void fc_free(struct fc *t)
{
  for (int k = 0; k < 2; k++) {
    for (size_t i = 0; i < t->cl[k].nlines; i++)
      free(t->cl[k].lines[i]);
    mp_sasl_client_free(t->cl[k].sasl);
  }
  for (size_t i = 0; i < t->nseen; i++)
    free(t->seen[i]);
  if (t->cctx)
    mp_tls_ctx_unref(t->cctx);
  mp_ca_free(t->ca);
  mp_mailstore_free(t->store);
  ck_assert_int_eq(uv_loop_close(&t->loop), 0);
  free(t);
}

long fc_line_index(const struct fc_client *c, const char *s)
{
  for (size_t i = 0; i < c->nlines; i++)
    if (strcmp(c->lines[i], s) == 0)
      return (long)i;
  return -1;
}

int fc_has_line(const struct fc_client *c, const char *s)
{
  return fc_line_index(c, s) >= 0;
}

const char *fc_line_with(const struct fc_client *c, const char *prefix)
{
  for (size_t i = 0; i < c->nlines; i++)
    if (strncmp(c->lines[i], prefix, strlen(prefix)) == 0)
      return c->lines[i];
  return NULL;
}

int fc_saw(const struct fc *t, const char *s)
{
  for (size_t i = 0; i < t->nseen; i++)
    if (strcmp(t->seen[i], s) == 0)
      return 1;
  return 0;
}

uint64_t fc_deliver(struct fc *t, const char *user, const char *msg,
                    uint64_t ahead_us)
{
  uint64_t id = 0, now = mp_now_us();
  ck_assert_int_eq(mp_mailstore_add_user(t->store, user), 0);
  ck_assert_int_eq(mp_mailstore_deliver(t->store, user, msg, strlen(msg), now,
                                        now + ahead_us, &id),
                   0);
  return id;
}
