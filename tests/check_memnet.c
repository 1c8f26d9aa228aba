/* Unit tests for the in-memory network (wire/memnet.h) and the line
 * engine over it: raw ends (writes arrive as written, in order; FIN and
 * RST after the bytes; refusal; the inbox cap; the quiet hook), mp_conn
 * on both sides through mp_listener_start and mp_conn_connect, and a real
 * probe against a real fake server with STARTTLS, all without a socket.
 * One fresh loop per test; uv_loop_close() == 0 at the end, so a leaked
 * handle fails. */
#include "wire/memnet.h"

#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "fake_servers/fake.h"
#include "fake_servers/mailstore.h"
#include "probes/probe.h"
#include "probes/result.h"
#include "wire/cert.h"
#include "wire/conn.h"
#include "wire/errors.h"
#include "wire/listener.h"

/* What a raw end heard. */
struct heard {
  struct mp_mem_end *e;
  int connect; /* 1 until on_connect ran, then its status */
  char data[256];
  size_t len;
  int reads;
  int end; /* 0 none, 1 FIN, 2 RST */
  int data_after_end;
};

static struct {
  uv_loop_t loop;
  struct mp_memnet *net;
  struct heard srv, cli;
  int naccept;
  int quiet;
} T;

static void t_start(void)
{
  memset(&T, 0, sizeof(T));
  ck_assert_int_eq(uv_loop_init(&T.loop), 0);
  T.net = mp_memnet_new(&T.loop);
  ck_assert_ptr_nonnull(T.net);
  T.srv.connect = T.cli.connect = 1;
}

static void t_end(void)
{
  mp_memnet_free(T.net);
  uv_run(&T.loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&T.loop), 0);
  ck_assert_ptr_null(mp_memnet_of(&T.loop));
}

static void h_connect(struct mp_mem_end *e, int status)
{
  struct heard *h = mp_mem_end_data(e);
  h->connect = status;
}

static void h_data(struct mp_mem_end *e, const char *buf, size_t len)
{
  struct heard *h = mp_mem_end_data(e);
  if (h->end)
    h->data_after_end = 1;
  ck_assert_uint_le(h->len + len, sizeof(h->data) - 1);
  memcpy(h->data + h->len, buf, len);
  h->len += len;
  h->data[h->len] = '\0';
  h->reads++;
}

static void h_end(struct mp_mem_end *e, int reset)
{
  struct heard *h = mp_mem_end_data(e);
  h->end = reset ? 2 : 1;
}

static const struct mp_mem_end_cbs h_cbs = {
    .on_connect = h_connect, .on_data = h_data, .on_end = h_end};

static void on_accept(void *data, struct mp_mem_end *e)
{
  ck_assert_ptr_eq(data, &T);
  T.naccept++;
  T.srv.e = e;
  mp_mem_end_set_cbs(e, &h_cbs, &T.srv);
}

static struct sockaddr_in addr4(uint16_t port)
{
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", port, &a);
  return a;
}

/* Listens at a port the net picks and dials it with T.cli; the accept
 * and the connect follow from the loop. The listener's address. */
static struct sockaddr_in pair_up(void)
{
  uint16_t port = 0;
  struct sockaddr_in a = addr4(0);
  ck_assert_int_eq(
      mp_memnet_listen(T.net, (struct sockaddr *)&a, on_accept, &T, &port), 0);
  a = addr4(port);
  ck_assert_int_eq(
      mp_memnet_dial(T.net, (struct sockaddr *)&a, &h_cbs, &T.cli, &T.cli.e),
      0);
  return a;
}

/* The accepted end writes text and closes (with a RST if reset); the
 * dialled end hears the text, then the end; then it closes too. */
static void srv_says_and_closes(const char *text, int reset)
{
  ck_assert_int_eq(mp_mem_end_write(T.srv.e, text, strlen(text)), 0);
  mp_mem_end_close(T.srv.e, reset);
  uv_run(&T.loop, UV_RUN_DEFAULT);
  ck_assert_str_eq(T.cli.data, text);
  ck_assert_int_eq(T.cli.end, reset ? 2 : 1);
  mp_mem_end_close(T.cli.e, 0);
}

/* A raw pair: each write is one read on the other side, in order; the FIN
 * comes after the bytes; nothing is delivered from inside a call. */
START_TEST(test_raw_pair)
{
  t_start();
  struct sockaddr_in a = pair_up();
  ck_assert_uint_ne(ntohs(a.sin_port), 0);
  /* Written before the accept: waits for it. */
  ck_assert_int_eq(mp_mem_end_write(T.cli.e, "HE", 2), 0);
  ck_assert_int_eq(mp_mem_end_write(T.cli.e, "LO\r\n", 4), 0);
  mp_mem_end_shutdown(T.cli.e);
  ck_assert_int_eq(mp_mem_end_write(T.cli.e, "x", 1), MP_E_CONNECTION_CLOSED);
  ck_assert_int_eq(T.naccept, 0); /* from the loop, not from here */
  ck_assert_uint_gt(mp_memnet_pending(T.net), 0);
  uv_run(&T.loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(T.naccept, 1);
  ck_assert_int_eq(T.cli.connect, 0);
  ck_assert_str_eq(T.srv.data, "HELO\r\n");
  ck_assert_int_eq(T.srv.reads, 2);
  ck_assert_int_eq(T.srv.end, 1);
  ck_assert_int_eq(T.srv.data_after_end, 0);
  /* The accepted end's peer is a made-up client address. */
  const struct sockaddr_in *p =
      (const struct sockaddr_in *)mp_mem_end_peer(T.srv.e);
  ck_assert_int_eq(p->sin_family, AF_INET);
  ck_assert_uint_ge(ntohs(p->sin_port), 32768);
  /* The half-closed side still hears its peer. */
  srv_says_and_closes("250 ok\r\n", 0);
  ck_assert_uint_eq(mp_memnet_pending(T.net), 0);
  t_end();
}
END_TEST

/* Nobody listens: refused, from the loop. A closed listener's port is
 * free again. */
START_TEST(test_refused)
{
  t_start();
  struct sockaddr_in a = addr4(2525);
  ck_assert_int_eq(
      mp_memnet_dial(T.net, (struct sockaddr *)&a, &h_cbs, &T.cli, &T.cli.e),
      0);
  ck_assert_int_eq(T.cli.connect, 1);
  uv_run(&T.loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(T.cli.connect, MP_E_CONNECT_REFUSED);
  mp_mem_end_close(T.cli.e, 0);
  ck_assert_int_eq(
      mp_memnet_listen(T.net, (struct sockaddr *)&a, on_accept, &T, NULL), 0);
  ck_assert_int_eq(
      mp_memnet_listen(T.net, (struct sockaddr *)&a, on_accept, &T, NULL),
      MP_E_CONNECT_FAILED);
  mp_memnet_unlisten(T.net, (struct sockaddr *)&a);
  ck_assert_int_eq(
      mp_memnet_listen(T.net, (struct sockaddr *)&a, on_accept, &T, NULL), 0);
  mp_memnet_unlisten(T.net, (struct sockaddr *)&a);
  t_end();
}
END_TEST

/* A RST reaches the peer after the bytes written before it; a listener
 * closed before its accept resets the dialled end. */
START_TEST(test_reset)
{
  t_start();
  struct sockaddr_in a = pair_up();
  uv_run(&T.loop, UV_RUN_DEFAULT);
  srv_says_and_closes("421 bye\r\n", 1);

  memset(&T.cli, 0, sizeof(T.cli));
  T.cli.connect = 1;
  mp_memnet_dial(T.net, (struct sockaddr *)&a, &h_cbs, &T.cli, &T.cli.e);
  mp_memnet_unlisten(T.net, (struct sockaddr *)&a);
  uv_run(&T.loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(T.naccept, 1); /* the second never was */
  ck_assert_int_eq(T.cli.end, 2);
  mp_mem_end_close(T.cli.e, 0);
  t_end();
}
END_TEST

/* Flow control and the inbox cap: a reader that stops hears nothing until
 * it reads again; unread bytes past MP_MEMNET_MAX_INBOX are refused. */
START_TEST(test_flow_and_cap)
{
  t_start();
  pair_up();
  uv_run(&T.loop, UV_RUN_DEFAULT);
  mp_mem_end_read(T.srv.e, 0);
  ck_assert_int_eq(mp_mem_end_write(T.cli.e, "one\r\n", 5), 0);
  uv_run(&T.loop, UV_RUN_DEFAULT);
  ck_assert_uint_eq(T.srv.len, 0);
  char *big = calloc(1, MP_MEMNET_MAX_INBOX);
  ck_assert_ptr_nonnull(big);
  ck_assert_int_eq(mp_mem_end_write(T.cli.e, big, MP_MEMNET_MAX_INBOX),
                   MP_E_NO_RESOURCES);
  free(big);
  mp_mem_end_read(T.srv.e, 1);
  uv_run(&T.loop, UV_RUN_DEFAULT);
  ck_assert_str_eq(T.srv.data, "one\r\n");
  mp_mem_end_close(T.srv.e, 0);
  mp_mem_end_close(T.cli.e, 0);
  t_end();
}
END_TEST

/* Writes of every size around the kept segments' room (512 bytes) come
 * out whole and in order, though the net hands the segments of delivered
 * writes to later ones: 300 writes of 1 to 700 bytes, each byte telling
 * its write and place, read as they come. */
static struct {
  size_t next; /* bytes of the stream checked so far */
  size_t reads;
  const char *last; /* the last delivery's bytes (for the ASan tests) */
  size_t last_len;
  int bad;
} S;

static char stream_byte(size_t at)
{
  return (char)('!' + (at * 7 + at / 251) % 90);
}

static void k_data(struct mp_mem_end *e, const char *buf, size_t len)
{
  (void)e;
  for (size_t i = 0; i < len; i++)
    if (buf[i] != stream_byte(S.next + i))
      S.bad = 1;
  S.next += len;
  S.reads++;
  S.last = buf;
  S.last_len = len;
}

static const struct mp_mem_end_cbs k_cbs = {.on_data = k_data};

static size_t write_size(unsigned i)
{
  static const size_t around[] = {1, 511, 512, 513, 700, 64, 0};
  return around[i % 7] ? around[i % 7] : 1 + (i * 37) % 700;
}

/* Writes sizes for i in [from, to) from T.cli to T.srv and runs them. */
static size_t s_write(unsigned from, unsigned to, size_t at)
{
  char buf[700];
  for (unsigned i = from; i < to; i++) {
    size_t n = write_size(i);
    for (size_t k = 0; k < n; k++)
      buf[k] = stream_byte(at + k);
    ck_assert_int_eq(mp_mem_end_write(T.cli.e, buf, n), 0);
    at += n;
  }
  return at;
}

START_TEST(test_kept_segments)
{
  t_start();
  memset(&S, 0, sizeof(S));
  pair_up();
  uv_run(&T.loop, UV_RUN_DEFAULT);
  mp_mem_end_set_cbs(T.srv.e, &k_cbs, NULL);
  size_t at = 0;
  /* In bursts (more unread than the net keeps) and one at a time. */
  for (unsigned round = 0; round < 3; round++) {
    at = s_write(round * 100, round * 100 + 90, at);
    uv_run(&T.loop, UV_RUN_DEFAULT);
    for (unsigned i = round * 100 + 90; i < round * 100 + 100; i++) {
      at = s_write(i, i + 1, at);
      uv_run(&T.loop, UV_RUN_DEFAULT);
    }
  }
  ck_assert_int_eq(S.bad, 0);
  ck_assert_uint_eq(S.next, at);
  ck_assert_uint_eq(S.reads, 300);
  /* Unread writes go with a close, kept or freed (no leak: ASan). */
  s_write(0, 80, 0);
  mp_mem_end_close(T.srv.e, 0);
  mp_mem_end_close(T.cli.e, 0);
  t_end();
}
END_TEST

#if defined(__SANITIZE_ADDRESS__)
/* Under ASan a kept segment is as good as freed: reading a delivery's
 * bytes after its callback, or past its length, is reported (exit 1). */
static void kept_pair(void)
{
  t_start();
  memset(&S, 0, sizeof(S));
  pair_up();
  uv_run(&T.loop, UV_RUN_DEFAULT);
  mp_mem_end_set_cbs(T.srv.e, &k_cbs, NULL);
  s_write(0, 2, 0); /* 1 byte, then 511 */
  uv_run(&T.loop, UV_RUN_DEFAULT);
  ck_assert_uint_eq(S.reads, 2);
  /* The report that follows is the point: kept out of the suite's log. */
  int null = open("/dev/null", O_WRONLY);
  ck_assert_int_ge(null, 0);
  dup2(null, 2);
}

START_TEST(test_asan_read_after_delivery)
{
  kept_pair();
  volatile char c = S.last[0];
  (void)c;
}
END_TEST

START_TEST(test_asan_read_past_write)
{
  kept_pair();
  volatile char c = S.last[S.last_len];
  (void)c;
}
END_TEST
#endif

/* The quiet hook runs when the run queue ran empty, and what it writes
 * goes out in the same pass: a ping-pong of three rounds in one run. */
static void on_quiet(void *data)
{
  (void)data;
  if (++T.quiet <= 3)
    mp_mem_end_write(T.cli.e, "ping\n", 5);
}

START_TEST(test_quiet_hook)
{
  t_start();
  pair_up();
  mp_memnet_on_quiet(T.net, on_quiet, NULL);
  uv_run(&T.loop, UV_RUN_ONCE);
  ck_assert_int_eq(T.quiet, 4);
  ck_assert_str_eq(T.srv.data, "ping\nping\nping\n");
  mp_memnet_on_quiet(T.net, NULL, NULL);
  mp_mem_end_close(T.srv.e, 0);
  mp_mem_end_close(T.cli.e, 0);
  t_end();
}
END_TEST

/* ---- the line engine over memory --------------------------------- */

struct side {
  struct mp_conn *c;
  char line[64];
  int lines;
  int err;
  int closed;
  int connect; /* 1 until the connect cb ran */
  char peer[64];
};

static struct side S_srv, S_cli;
static struct mp_listener *S_l;

static void s_line(struct mp_conn *c, char *line, size_t len)
{
  struct side *s = mp_conn_data(c);
  (void)len;
  snprintf(s->line, sizeof(s->line), "%s", line);
  s->lines++;
  if (s == &S_srv) {
    mp_conn_printf(c, "echo %s\r\n", line);
    mp_conn_close(c);
  }
}

static void s_error(struct mp_conn *c, int err)
{
  struct side *s = mp_conn_data(c);
  s->err = err;
}

static void s_close(struct mp_conn *c)
{
  struct side *s = mp_conn_data(c);
  s->closed++;
}

static const struct mp_conn_cbs s_cbs = {
    .on_line = s_line, .on_error = s_error, .on_close = s_close};

static void s_accept(struct mp_listener *l, struct mp_conn *c)
{
  (void)l;
  S_srv.c = c;
  mp_conn_set_data(c, &S_srv);
  mp_conn_set_cbs(c, &s_cbs);
  mp_conn_peer_name(c, S_srv.peer, sizeof(S_srv.peer));
  mp_conn_printf(c, "220 hi\r\n");
}

static void s_connected(struct mp_conn *c, int status)
{
  struct side *s = mp_conn_data(c);
  s->connect = status;
  if (status == 0) {
    mp_conn_peer_name(c, s->peer, sizeof(s->peer));
    /* Split on purpose: the engine frames lines across reads. */
    mp_conn_write(c, "HE", 2);
    mp_conn_write(c, "LO x\r\n", 6);
  }
}

/* mp_listener_start and mp_conn_connect on a loop with a memnet: lines
 * both ways, a graceful close heard as connection_closed, peer names, no
 * handle left. */
START_TEST(test_conn_over_memnet)
{
  t_start();
  memset(&S_srv, 0, sizeof(S_srv));
  memset(&S_cli, 0, sizeof(S_cli));
  S_cli.connect = 1;
  ck_assert_int_eq(
      mp_listener_start(&T.loop, "127.0.0.1", 0, s_accept, NULL, &S_l), 0);
  uint16_t port = mp_listener_port(S_l);
  ck_assert_uint_ne(port, 0);
  struct sockaddr_in a = addr4(port);
  S_cli.c = mp_conn_new(&T.loop, &s_cbs, &S_cli);
  ck_assert_int_eq(
      mp_conn_connect(S_cli.c, (struct sockaddr *)&a, 1000, s_connected), 0);
  mp_conn_set_deadline(S_cli.c, 5000);
  uv_run(&T.loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(S_cli.connect, 0);
  ck_assert_str_eq(S_srv.line, "HELO x");
  ck_assert_str_eq(S_cli.line, "echo HELO x");
  ck_assert_int_eq(S_cli.lines, 2); /* the greeting and the echo */
  ck_assert_int_eq(S_cli.err, MP_E_CONNECTION_CLOSED);
  ck_assert_int_eq(S_cli.closed, 1);
  ck_assert_int_eq(S_srv.closed, 1);
  char want[64];
  snprintf(want, sizeof(want), "127.0.0.1:%u", port);
  ck_assert_str_eq(S_cli.peer, want);
  ck_assert_msg(strncmp(S_srv.peer, "127.0.0.1:", 10) == 0, "%s", S_srv.peer);

  /* A port nobody listens on: refused, as over TCP. */
  memset(&S_cli, 0, sizeof(S_cli));
  S_cli.connect = 1;
  a = addr4((uint16_t)(port + 1));
  S_cli.c = mp_conn_new(&T.loop, &s_cbs, &S_cli);
  ck_assert_int_eq(
      mp_conn_connect(S_cli.c, (struct sockaddr *)&a, 1000, s_connected), 0);
  uv_run(&T.loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(S_cli.connect, MP_E_CONNECT_REFUSED);
  ck_assert_int_eq(S_cli.closed, 1);
  mp_listener_close(S_l, NULL);
  t_end();
}
END_TEST

/* A probe against a fake server, both on the memnet: SMTP with STARTTLS
 * (the TLS layer works over memory as over TCP: it only ever sees
 * ciphertext in and out) and a PLAIN login. */
static struct mp_result *P_res;

static void p_done(struct mp_result *r, void *data)
{
  (void)data;
  P_res = r;
}

static void p_stopped(void *data)
{
  (void)data;
}

START_TEST(test_probe_and_fake_server)
{
  t_start();
  struct mp_ca *ca = mp_ca_new("memnet test CA", MP_KEY_EC_P256);
  struct mp_mailstore *store = mp_mailstore_new();
  ck_assert_ptr_nonnull(ca);
  ck_assert_ptr_nonnull(store);
  struct mp_fake_user users[] = {{.name = "u@example.test", .password = "pw"}};
  struct mp_fake_config cfg = {
      .name = "mx",
      .proto = MP_FAKE_SMTP,
      .tls = MP_FAKE_TLS_STARTTLS,
      .cert = MP_CERT_VALID,
      .hostname = "mx.example.test",
      .users = users,
      .nusers = 1,
  };
  struct mp_fake_env env = {.ca = ca, .store = store};
  struct mp_fake_server *srv;
  ck_assert_int_eq(mp_fake_start(&T.loop, &cfg, &env, "127.0.0.1", 0, &srv), 0);
  struct mp_probe_opts o = {
      .proto = MP_PROTO_SMTP,
      .tls = MP_TLSMODE_STARTTLS,
      .host = "127.0.0.1",
      .port = mp_fake_port(srv),
      .user = "u@example.test",
      .password = "pw",
      .timeout_ms = 10000,
      .ca_pem = mp_ca_pem(ca),
      .servername = "mx.example.test",
  };
  P_res = NULL;
  ck_assert_int_eq(mp_probe_start(&T.loop, &o, p_done, NULL), 0);
  while (!P_res && uv_run(&T.loop, UV_RUN_ONCE))
    ;
  ck_assert_ptr_nonnull(P_res);
  ck_assert_msg(P_res->ok, "error %s", mp_err_name(P_res->err));
  ck_assert_int_eq(P_res->tls_used, 1);
  ck_assert_ptr_nonnull(P_res->auth);
  ck_assert_uint_eq(mp_fake_sessions(srv), 1);
  mp_result_free(P_res);
  mp_fake_stop(srv, p_stopped, NULL);
  t_end();
  mp_mailstore_free(store);
  mp_ca_free(ca);
  mp_probe_cleanup();
}
END_TEST

/* mp_fake_reset: a session open meanwhile is closed, then the server is
 * as new (sessions from 1, an empty record, the store emptied and seeded
 * again: a delivered message is gone, the seeded ones are back); a server
 * with no session resets at once. */
static int R_done, R_rc;

static void r_done(void *data, int rc)
{
  (void)data;
  R_done++;
  R_rc = rc;
}

static struct mp_result *probe_smtp_send(uint16_t port)
{
  static const char msg[] = "Subject: x\r\n\r\nbody\r\n";
  struct mp_probe_opts o = {
      .proto = MP_PROTO_SMTP,
      .tls = MP_TLSMODE_NONE,
      .host = "127.0.0.1",
      .port = port,
      .timeout_ms = 10000,
      .mail_from = "a@example.test",
      .rcpt_to = "u@example.test",
      .message = msg,
      .message_len = sizeof(msg) - 1,
  };
  P_res = NULL;
  ck_assert_int_eq(mp_probe_start(&T.loop, &o, p_done, NULL), 0);
  while (!P_res && uv_run(&T.loop, UV_RUN_ONCE))
    ;
  ck_assert_ptr_nonnull(P_res);
  return P_res;
}

START_TEST(test_fake_reset)
{
  t_start();
  struct mp_mailstore *store = mp_mailstore_new();
  struct mp_fake_user users[] = {{.name = "u@example.test", .password = "pw"}};
  struct mp_fake_mailbox boxes[] = {
      {.user = "u@example.test", .messages = 2, .size = 200}};
  struct mp_fake_config cfg = {
      .name = "mx",
      .proto = MP_FAKE_SMTP,
      .hostname = "mx.example.test",
      .users = users,
      .nusers = 1,
      .mailboxes = boxes,
      .nmailboxes = 1,
  };
  struct mp_fake_env env = {.store = store};
  struct mp_fake_server *srv;
  ck_assert_int_eq(mp_fake_start(&T.loop, &cfg, &env, "127.0.0.1", 0, &srv), 0);
  uint16_t port = mp_fake_port(srv);
  for (int round = 0; round < 2; round++) {
    struct mp_result *r = probe_smtp_send(port);
    ck_assert_msg(r->ok, "error %s", mp_err_name(r->err));
    mp_result_free(r);
    size_t n;
    const struct mp_fake_seen *seen = mp_fake_seen(srv, &n);
    ck_assert_uint_gt(n, 0);
    ck_assert_uint_eq(seen[0].session, 1); /* the round's only session */
    ck_assert_uint_eq(mp_fake_sessions(srv), 1);
    ck_assert_uint_eq(mp_mailstore_count(store, "u@example.test", mp_now_us()),
                      3);
    /* A client left connected: the reset waits for its session. */
    struct sockaddr_in a = addr4(port);
    memset(&T.cli, 0, sizeof(T.cli));
    T.cli.connect = 1;
    ck_assert_int_eq(
        mp_memnet_dial(T.net, (struct sockaddr *)&a, &h_cbs, &T.cli, &T.cli.e),
        0);
    while (!strstr(T.cli.data, "220") && uv_run(&T.loop, UV_RUN_ONCE))
      ;
    ck_assert_uint_eq(mp_fake_live_sessions(srv), 1);
    R_done = 0;
    R_rc = -1;
    mp_fake_reset(srv, r_done, NULL);
    ck_assert_int_eq(R_done, 0);
    while (!R_done && uv_run(&T.loop, UV_RUN_ONCE))
      ;
    ck_assert_int_eq(R_done, 1);
    ck_assert_int_eq(R_rc, 0);
    uv_run(&T.loop, UV_RUN_NOWAIT);
    ck_assert_int_ne(T.cli.end, 0); /* its session was closed */
    mp_mem_end_close(T.cli.e, 0);
    ck_assert_uint_eq(mp_fake_sessions(srv), 0);
    mp_fake_seen(srv, &n);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(mp_mailstore_count(store, "u@example.test", mp_now_us()),
                      2);
    ck_assert_uint_eq(mp_mailstore_next_id(store), 3);
  }
  /* No session: at once. */
  R_done = 0;
  mp_fake_reset(srv, r_done, NULL);
  ck_assert_int_eq(R_done, 1);
  mp_fake_stop(srv, p_stopped, NULL);
  t_end();
  mp_mailstore_free(store);
  mp_probe_cleanup();
}
END_TEST

static Suite *memnet_suite(void)
{
  Suite *s = suite_create("memnet");
  TCase *tc = tcase_create("memnet");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, test_raw_pair);
  tcase_add_test(tc, test_refused);
  tcase_add_test(tc, test_reset);
  tcase_add_test(tc, test_flow_and_cap);
  tcase_add_test(tc, test_quiet_hook);
  tcase_add_test(tc, test_kept_segments);
#if defined(__SANITIZE_ADDRESS__)
  /* ASan's report ends the process with exit status 1. */
  tcase_add_exit_test(tc, test_asan_read_after_delivery, 1);
  tcase_add_exit_test(tc, test_asan_read_past_write, 1);
#endif
  tcase_add_test(tc, test_conn_over_memnet);
  tcase_add_test(tc, test_probe_and_fake_server);
  tcase_add_test(tc, test_fake_reset);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(memnet_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
