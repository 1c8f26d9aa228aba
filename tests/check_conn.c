/* Unit tests for the line engine (wire/conn.h): a listener on 127.0.0.1:0
 * and a client mp_conn in one fresh loop per test, bounded by a safety
 * timer so a bug fails the test instead of hanging it. Every test ends by
 * closing everything and asserting uv_loop_close() == 0, so a leaked handle
 * fails, and that each connection's on_close ran exactly once. */
#include "wire/conn.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "wire/cert.h"
#include "wire/errors.h"
#include "wire/listener.h"
#include "wire/tls.h"

#define SAFETY_MS 15000

struct fx;

/* One recorded line. */
struct rec_line {
  char *s;
  size_t len;
  uint64_t bytes_in; /* mp_conn_bytes_in() when it was delivered */
  uint64_t at_us;
};

/* What one end saw, and the hooks a test sets on it. */
struct side {
  struct fx *fx;
  struct mp_conn *c;
  int gone; /* on_close ran: c is freed */
  int nclose;
  struct rec_line *lines;
  size_t nlines, cap;
  char *raw;
  size_t raw_len;
  int raw_chunks, raw_last, raw_last_not_final;
  int err, nerr;
  int tls_status, ntls; /* the start_tls cb */
  size_t err_nlines;    /* lines delivered when on_error ran */
  uint64_t err_bytes;   /* mp_conn_bytes_in() when on_error ran */
  uint64_t err_us;
  /* What it sends: the whole buffer at once, or one byte per drip_ms. */
  const char *out;
  size_t out_len, out_off;
  uint64_t drip_ms;
  int out_repeat; /* drip out[] forever */
  int close_after;
  /* Lockstep: the next byte goes only once this peer read the last one,
   * so the peer reads exactly one byte per read. */
  struct side *lockstep;
  void (*on_line)(struct side *s, const char *line, size_t len);
  void (*on_error)(struct side *s, int err);
  void (*on_close)(struct side *s);
  void (*on_tls)(struct side *s, int status);
  int n; /* a counter for hooks */
};

struct fx {
  uv_loop_t loop;
  uv_timer_t safety;
  int timed_out;
  struct mp_listener *l;
  uint16_t port;
  int listener_closed;
  struct side cli, srv;
  int connect_status, nconnect;
  void (*on_accept)(struct fx *fx);
  void (*on_connect)(struct fx *fx);
  /* Once both the client's connect cb and the server's accept ran: a
   * server that writes or closes before the client saw its connect
   * complete races the connect itself. */
  void (*on_both)(struct fx *fx);
  int both_fired;
  int (*until)(struct fx *fx);
  uint64_t t0_us; /* a test's own mark */
  int flag;
  /* TLS tests: a run-time CA, a server context for TLS_HOST and a client
   * context trusting the CA. */
  struct mp_ca *ca;
  struct mp_tls_ctx *sctx, *cctx;
  const char *verify_host; /* what the client checks */
};

static struct fx F;

/* ---- recording callbacks --------------------------------------------- */

static void rec_line(struct mp_conn *c, char *line, size_t len)
{
  /* Hot path: plain ifs, as each ck_assert costs check a write(2). */
  struct side *s = mp_conn_data(c);
  if (!s || line[len] != '\0')
    ck_abort_msg("no side, or the line is not NUL-terminated");
  if (s->nlines == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 64;
    s->lines = realloc(s->lines, s->cap * sizeof(*s->lines));
    if (!s->lines)
      ck_abort_msg("out of memory");
  }
  struct rec_line *r = &s->lines[s->nlines++];
  r->s = malloc(len + 1);
  if (!r->s)
    ck_abort_msg("out of memory");
  memcpy(r->s, line, len + 1);
  r->len = len;
  r->bytes_in = mp_conn_bytes_in(c);
  r->at_us = mp_now_us();
  if (s->on_line)
    s->on_line(s, line, len);
}

static void rec_raw(struct mp_conn *c, const char *buf, size_t len, int last)
{
  struct side *s = mp_conn_data(c);
  ck_assert_int_eq(s->raw_last, 0); /* nothing after the last chunk */
  s->raw = realloc(s->raw, s->raw_len + len + 1);
  ck_assert_ptr_nonnull(s->raw);
  memcpy(s->raw + s->raw_len, buf, len);
  s->raw_len += len;
  s->raw[s->raw_len] = '\0';
  s->raw_chunks++;
  if (last)
    s->raw_last++;
}

static void rec_error(struct mp_conn *c, int err)
{
  struct side *s = mp_conn_data(c);
  if (s->nerr++ == 0) {
    s->err = err;
    s->err_nlines = s->nlines;
    s->err_bytes = mp_conn_bytes_in(c);
    s->err_us = mp_now_us();
  }
  if (s->on_error)
    s->on_error(s, err);
}

static void rec_close(struct mp_conn *c)
{
  struct side *s = mp_conn_data(c);
  s->nclose++;
  s->gone = 1;
  if (s->on_close)
    s->on_close(s);
}

static void rec_tls(struct mp_conn *c, int status)
{
  struct side *s = mp_conn_data(c);
  s->ntls++;
  s->tls_status = status;
  if (s->on_tls)
    s->on_tls(s, status);
}

static const struct mp_conn_cbs rec_cbs = {
    .on_line = rec_line,
    .on_raw = rec_raw,
    .on_error = rec_error,
    .on_close = rec_close,
};

/* ---- sending ----------------------------------------------------------- */

static void drip(struct mp_conn *c)
{
  struct side *s = mp_conn_data(c);
  if (s->lockstep && !s->lockstep->gone &&
      mp_conn_bytes_in(s->lockstep->c) < s->out_off) {
    mp_conn_after(c, 1, drip); /* the peer has not read it yet */
    return;
  }
  if (s->out_off == s->out_len) {
    if (!s->out_repeat) {
      if (s->close_after)
        mp_conn_close(c);
      return;
    }
    s->out_off = 0;
  }
  ck_assert_int_eq(mp_conn_write(c, s->out + s->out_off, 1), 0);
  s->out_off++;
  mp_conn_after(c, s->drip_ms, drip);
}

/* Starts sending s->out: at once (drip_ms == 0) or one byte per drip_ms. */
static void side_send(struct side *s)
{
  if (s->drip_ms > 0) {
    mp_conn_after(s->c, s->drip_ms, drip);
    return;
  }
  ck_assert_int_eq(mp_conn_write(s->c, s->out, s->out_len), 0);
  s->out_off = s->out_len;
  if (s->close_after)
    mp_conn_close(s->c);
}

/* ---- the fixture ------------------------------------------------------- */

static void on_safety(uv_timer_t *t)
{
  F.timed_out = 1;
}

static void maybe_both(void)
{
  if (F.both_fired || !F.srv.c || F.nconnect == 0 || F.connect_status != 0)
    return;
  F.both_fired = 1;
  if (F.on_both)
    F.on_both(&F);
}

static void on_accept(struct mp_listener *l, struct mp_conn *c)
{
  ck_assert_ptr_null(F.srv.c); /* one connection per test */
  F.srv.c = c;
  mp_conn_set_data(c, &F.srv);
  mp_conn_set_cbs(c, &rec_cbs);
  if (F.on_accept)
    F.on_accept(&F);
  maybe_both();
}

static void on_connected(struct mp_conn *c, int status)
{
  ck_assert_ptr_eq(mp_conn_data(c), &F.cli);
  F.nconnect++;
  F.connect_status = status;
  if (F.on_connect)
    F.on_connect(&F);
  maybe_both();
}

static void fx_init(void)
{
  memset(&F, 0, sizeof(F));
  F.cli.fx = F.srv.fx = &F;
  F.connect_status = 1;
  ck_assert_int_eq(uv_loop_init(&F.loop), 0);
  ck_assert_int_eq(uv_timer_init(&F.loop, &F.safety), 0);
  ck_assert_int_eq(uv_timer_start(&F.safety, on_safety, SAFETY_MS, 0), 0);
  ck_assert_int_eq(
      mp_listener_start(&F.loop, "127.0.0.1", 0, on_accept, &F, &F.l), 0);
  F.port = mp_listener_port(F.l);
  ck_assert_int_ne(F.port, 0);
}

static void addr_of(uint16_t port, struct sockaddr_in *sa)
{
  ck_assert_int_eq(uv_ip4_addr("127.0.0.1", port, sa), 0);
}

/* Makes the client; the caller may set limits before fx_connect. */
static void fx_client(void)
{
  F.cli.c = mp_conn_new(&F.loop, &rec_cbs, &F.cli);
  ck_assert_ptr_nonnull(F.cli.c);
}

static void fx_connect(void)
{
  struct sockaddr_in sa;
  if (!F.cli.c)
    fx_client();
  addr_of(F.port, &sa);
  ck_assert_int_eq(
      mp_conn_connect(F.cli.c, (struct sockaddr *)&sa, 5000, on_connected), 0);
}

static int both_gone(struct fx *fx)
{
  return fx->cli.gone && fx->srv.gone;
}

static int cli_gone(struct fx *fx)
{
  return fx->cli.gone;
}

/* Runs the loop until the test's predicate holds (default: both ends
 * closed) or the safety timer fires. */
static void fx_run(void)
{
  int (*until)(struct fx *) = F.until ? F.until : both_gone;
  while (!until(&F) && !F.timed_out)
    uv_run(&F.loop, UV_RUN_ONCE);
  ck_assert_msg(!F.timed_out, "the safety timer fired: the test hung");
}

static void on_listener_closed(void *data)
{
  ck_assert_ptr_eq(data, &F);
  F.listener_closed++;
}

static void side_free(struct side *s)
{
  for (size_t i = 0; i < s->nlines; i++)
    free(s->lines[i].s);
  free(s->lines);
  free(s->raw);
  s->lines = NULL;
  s->raw = NULL;
  s->nlines = s->cap = s->raw_len = 0;
}

/* Closes whatever is left, runs the loop dry and checks nothing leaked. */
static void fx_end(void)
{
  if (F.cli.c && !F.cli.gone)
    mp_conn_abort(F.cli.c);
  if (F.srv.c && !F.srv.gone)
    mp_conn_abort(F.srv.c);
  if (F.l)
    mp_listener_close(F.l, on_listener_closed);
  uv_close((uv_handle_t *)&F.safety, NULL);
  ck_assert_int_eq(uv_run(&F.loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_loop_close(&F.loop), 0);
  if (F.l)
    ck_assert_int_eq(F.listener_closed, 1);
  if (F.cli.c)
    ck_assert_int_eq(F.cli.nclose, 1);
  if (F.srv.c)
    ck_assert_int_eq(F.srv.nclose, 1);
  side_free(&F.cli);
  side_free(&F.srv);
  if (F.cctx)
    mp_tls_ctx_unref(F.cctx);
  if (F.sctx)
    mp_tls_ctx_unref(F.sctx);
  if (F.ca)
    mp_ca_free(F.ca);
}

static void assert_line(const struct side *s, size_t i, const char *want,
                        size_t len)
{
  if (i >= s->nlines)
    ck_abort_msg("line %zu missing (%zu lines)", i, s->nlines);
  if (s->lines[i].len != len || memcmp(s->lines[i].s, want, len) != 0)
    ck_abort_msg("line %zu: '%s' (%zu bytes), want '%.*s' (%zu)", i,
                 s->lines[i].s, s->lines[i].len, (int)len, want, len);
}

/* ---- connect ----------------------------------------------------------- */

static int connected_and_accepted(struct fx *fx)
{
  return fx->nconnect == 1 && fx->srv.c != NULL;
}

START_TEST(test_connect_ok)
{
  fx_init();
  fx_connect();
  F.until = connected_and_accepted;
  fx_run();
  ck_assert_int_eq(F.connect_status, 0);
  ck_assert_int_eq(F.cli.nerr, 0);
  ck_assert_int_eq(F.srv.nerr, 0);
  ck_assert_ptr_eq(mp_conn_loop(F.cli.c), &F.loop);
  ck_assert_ptr_eq(mp_conn_loop(F.srv.c), &F.loop);
  ck_assert_ptr_null(mp_conn_tls(F.cli.c));
  ck_assert_uint_eq(mp_conn_buffered(F.cli.c), 0);
  ck_assert_uint_eq(mp_conn_deadline_left(F.cli.c), UINT64_MAX);
  mp_conn_close(F.cli.c);
  mp_conn_close(F.srv.c);
  F.until = NULL;
  fx_run();
  ck_assert_int_eq(F.cli.nerr, 0);
  fx_end();
}
END_TEST

static void on_port_closed(uv_handle_t *h)
{
  *(int *)h->data = 1;
}

START_TEST(test_connect_refused)
{
  fx_init();
  /* A port that was just bound and closed: nobody listens there. */
  uv_tcp_t t;
  struct sockaddr_in sa;
  struct sockaddr_storage name;
  int namelen = sizeof(name), closed = 0;
  addr_of(0, &sa);
  ck_assert_int_eq(uv_tcp_init(&F.loop, &t), 0);
  ck_assert_int_eq(uv_tcp_bind(&t, (struct sockaddr *)&sa, 0), 0);
  ck_assert_int_eq(uv_tcp_getsockname(&t, (struct sockaddr *)&name, &namelen),
                   0);
  uint16_t port = ntohs(((struct sockaddr_in *)&name)->sin_port);
  ck_assert_int_ne(port, 0);
  t.data = &closed;
  uv_close((uv_handle_t *)&t, on_port_closed);
  while (!closed)
    uv_run(&F.loop, UV_RUN_ONCE);

  fx_client();
  addr_of(port, &sa);
  ck_assert_int_eq(
      mp_conn_connect(F.cli.c, (struct sockaddr *)&sa, 5000, on_connected), 0);
  F.until = NULL;
  while (!F.cli.gone && !F.timed_out)
    uv_run(&F.loop, UV_RUN_ONCE);
  ck_assert(!F.timed_out);
  ck_assert_int_eq(F.nconnect, 1);
  ck_assert_int_eq(F.connect_status, MP_E_CONNECT_REFUSED);
  ck_assert_int_eq(F.cli.nerr, 0); /* on_error is not called */
  ck_assert_int_eq(F.cli.nclose, 1);
  ck_assert_ptr_null(F.srv.c);
  fx_end();
}
END_TEST

/* A second connect fails without calling cb and, as conn.h says of every
 * negative return, leaves the connection closing. */
static void connect_again(struct fx *fx)
{
  struct sockaddr_in sa;
  addr_of(fx->port, &sa);
  ck_assert_int_lt(
      mp_conn_connect(fx->cli.c, (struct sockaddr *)&sa, 0, on_connected), 0);
  ck_assert_int_eq(mp_conn_write(fx->cli.c, "x", 1), MP_E_CONNECTION_CLOSED);
}

START_TEST(test_connect_twice)
{
  fx_init();
  F.on_connect = connect_again;
  fx_connect();
  fx_run();
  ck_assert_int_eq(F.nconnect, 1);
  ck_assert_int_eq(F.connect_status, 0);
  ck_assert_int_eq(F.srv.err, MP_E_CONNECTION_CLOSED);
  fx_end();
}
END_TEST

/* A listening socket nobody accepts from, with a backlog of 0: once one
 * connection waits in its queue, Linux drops further SYNs, so a connect
 * hangs until our timeout (or the deadline) gives up. */
static int black_hole(uint16_t *port)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_ge(fd, 0);
  struct sockaddr_in sa;
  addr_of(0, &sa);
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  ck_assert_int_eq(listen(fd, 0), 0);
  socklen_t len = sizeof(sa);
  ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
  *port = ntohs(sa.sin_port);
  return fd;
}

static void filler_connected(uv_connect_t *req, int status)
{
  ck_assert_int_eq(status, 0);
  *(int *)req->data = 1;
}

/* _i 0: the connect timeout; 1: no timeout but a deadline set before. */
START_TEST(test_connect_timeout)
{
  fx_init();
  uint16_t port;
  int fd = black_hole(&port);
  uv_tcp_t filler;
  uv_connect_t req;
  struct sockaddr_in sa;
  int filled = 0;
  addr_of(port, &sa);
  ck_assert_int_eq(uv_tcp_init(&F.loop, &filler), 0);
  req.data = &filled;
  ck_assert_int_eq(
      uv_tcp_connect(&req, &filler, (struct sockaddr *)&sa, filler_connected),
      0);
  while (!filled && !F.timed_out)
    uv_run(&F.loop, UV_RUN_ONCE);

  fx_client();
  uint64_t t0 = mp_now_us();
  if (_i == 1)
    mp_conn_set_deadline(F.cli.c, 200);
  ck_assert_int_eq(mp_conn_connect(F.cli.c, (struct sockaddr *)&sa,
                                   _i == 0 ? 200 : 0, on_connected),
                   0);
  F.until = cli_gone;
  fx_run();
  uint64_t ms = (mp_now_us() - t0) / 1000;
  ck_assert_int_eq(F.nconnect, 1);
  ck_assert_msg(F.connect_status == MP_E_CONNECT_TIMEOUT, "status %s",
                mp_err_name(F.connect_status));
  ck_assert_int_eq(F.cli.nerr, 0);
  ck_assert_uint_ge(ms, 190);
  ck_assert_uint_le(ms, 200 + 300);
  uv_close((uv_handle_t *)&filler, NULL);
  fx_end();
  close(fd);
}
END_TEST

/* ---- framing ----------------------------------------------------------- */

struct want_line {
  const char *s;
  size_t len;
};
#define W(str)                                                                 \
  {                                                                            \
    str, sizeof(str) - 1                                                       \
  }
#define IN(str) str, sizeof(str) - 1

struct frame_case {
  const char *name;
  const char *in;
  size_t in_len;
  size_t max_line; /* 0: the default */
  int keep_open;   /* the server does not close after sending */
  int want_err;    /* the client's on_error */
  uint64_t err_at; /* bytes in when the error came (drip mode), or 0 */
  struct want_line want[6];
  size_t nwant;
};

static const struct frame_case frame_cases[] = {
    {"crlf",
     IN("a\r\nbb\r\n"),
     0,
     0,
     MP_E_CONNECTION_CLOSED,
     0,
     {W("a"), W("bb")},
     2},
    {"bare lf",
     IN("a\nbb\n"),
     0,
     0,
     MP_E_CONNECTION_CLOSED,
     0,
     {W("a"), W("bb")},
     2},
    {"empty lines",
     IN("\r\n\n\r\n"),
     0,
     0,
     MP_E_CONNECTION_CLOSED,
     0,
     {W(""), W(""), W("")},
     3},
    {"mixed endings",
     IN("x\r\n\ny\n\r\nz\r\n"),
     0,
     0,
     MP_E_CONNECTION_CLOSED,
     0,
     {W("x"), W(""), W("y"), W(""), W("z")},
     5},
    {"lone cr stays",
     IN("a\rb\r\nc\r\r\n"),
     0,
     0,
     MP_E_CONNECTION_CLOSED,
     0,
     {W("a\rb"), W("c\r")},
     2},
    {"nul inside",
     IN("a\0b\r\n\0\r\nend\0\n"),
     0,
     0,
     MP_E_CONNECTION_CLOSED,
     0,
     {W("a\0b"), W("\0"), W("end\0")},
     3},
    {"partial line at eof",
     IN("ok\r\nhalf"),
     0,
     0,
     MP_E_CONNECTION_CLOSED,
     0,
     {W("ok")},
     1},
    {"at limit crlf",
     IN("0123456789abcdef\r\nz\r\n"),
     16,
     0,
     MP_E_CONNECTION_CLOSED,
     0,
     {W("0123456789abcdef"), W("z")},
     2},
    {"at limit lf",
     IN("0123456789abcdef\nz\n"),
     16,
     0,
     MP_E_CONNECTION_CLOSED,
     0,
     {W("0123456789abcdef"), W("z")},
     2},
    /* 17 bytes and a CR are 18 > 16 + 1: no need to wait for the LF. */
    {"over limit crlf",
     IN("0123456789abcdefg\r\nnext\r\n"),
     16,
     0,
     MP_E_PROTOCOL_ERROR,
     18,
     {W("")},
     0},
    {"over limit lf",
     IN("0123456789abcdefg\nnext\n"),
     16,
     0,
     MP_E_PROTOCOL_ERROR,
     18,
     {W("")},
     0},
    {"over limit, no newline ever",
     IN("0123456789abcdefghijkl"),
     16,
     1,
     MP_E_PROTOCOL_ERROR,
     18,
     {W("")},
     0},
    {"ok then over limit",
     IN("ok\r\n0123456789abcdefghij\r\n"),
     16,
     0,
     MP_E_PROTOCOL_ERROR,
     22,
     {W("ok")},
     1},
};
#define NFRAME (int)(sizeof(frame_cases) / sizeof(frame_cases[0]))

static const struct frame_case *cur_frame;

static void frame_accept(struct fx *fx)
{
  fx->srv.out = cur_frame->in;
  fx->srv.out_len = cur_frame->in_len;
  fx->srv.close_after = !cur_frame->keep_open;
  side_send(&fx->srv);
}

/* Each case twice: _i even, the whole input in one write; odd, one byte
 * per write from a 1 ms timer, in lockstep with the client's reads. */
START_TEST(test_framing)
{
  const struct frame_case *fc = &frame_cases[_i / 2];
  int drip_mode = _i % 2;
  cur_frame = fc;
  fx_init();
  F.on_both = frame_accept;
  F.srv.drip_ms = drip_mode ? 1 : 0;
  F.srv.lockstep = &F.cli;
  fx_client();
  if (fc->max_line)
    mp_conn_set_max_line(F.cli.c, fc->max_line);
  fx_connect();
  F.until = fc->keep_open ? cli_gone : both_gone;
  fx_run();
  ck_assert_msg(F.cli.nlines == fc->nwant, "%s/%d: %zu lines, want %zu",
                fc->name, drip_mode, F.cli.nlines, fc->nwant);
  for (size_t i = 0; i < fc->nwant; i++)
    assert_line(&F.cli, i, fc->want[i].s, fc->want[i].len);
  ck_assert_int_eq(F.cli.nerr, 1);
  ck_assert_msg(F.cli.err == fc->want_err, "%s/%d: error %s", fc->name,
                drip_mode, mp_err_name(F.cli.err));
  if (drip_mode) {
    /* A line comes out as soon as its LF is in, not a byte later. */
    size_t k = 0;
    for (size_t off = 0; off < fc->in_len && k < fc->nwant; off++)
      if (fc->in[off] == '\n') {
        ck_assert_uint_eq(F.cli.lines[k].bytes_in, off + 1);
        k++;
      }
    if (fc->err_at)
      ck_assert_uint_eq(F.cli.err_bytes, fc->err_at);
  }
  fx_end();
}
END_TEST

/* The default limit: MP_CONN_MAX_LINE bytes pass, one more does not. */
START_TEST(test_default_limit)
{
  size_t n = MP_CONN_MAX_LINE + (size_t)_i; /* _i: 0 ok, 1 over */
  char *buf = malloc(n + 2 + 4);
  memset(buf, 'a', n);
  memcpy(buf + n, "\r\nz\r\n", 5);
  fx_init();
  F.srv.out = buf;
  F.srv.out_len = n + 5;
  F.srv.close_after = 1;
  F.on_both = frame_accept;
  struct frame_case fc = {.in = buf, .in_len = n + 5};
  cur_frame = &fc;
  fx_connect();
  fx_run();
  if (_i == 0) {
    ck_assert_uint_eq(F.cli.nlines, 2);
    ck_assert_uint_eq(F.cli.lines[0].len, MP_CONN_MAX_LINE);
    ck_assert_int_eq(F.cli.lines[0].s[MP_CONN_MAX_LINE - 1], 'a');
    assert_line(&F.cli, 1, "z", 1);
    ck_assert_int_eq(F.cli.err, MP_E_CONNECTION_CLOSED);
  } else {
    ck_assert_uint_eq(F.cli.nlines, 0);
    ck_assert_int_eq(F.cli.err, MP_E_PROTOCOL_ERROR);
  }
  ck_assert_int_eq(F.cli.nerr, 1);
  fx_end();
  free(buf);
}
END_TEST

/* ---- many lines -------------------------------------------------------- */

#define LINE_FMT "line %06u\r\n" /* 13 bytes */
#define LINE_BYTES 13

static char *make_lines(int n)
{
  char *buf = malloc((size_t)n * LINE_BYTES + 1);
  ck_assert_ptr_nonnull(buf);
  for (int i = 0; i < n; i++)
    snprintf(buf + (size_t)i * LINE_BYTES, LINE_BYTES + 1, LINE_FMT,
             (unsigned)i % 1000000u);
  return buf;
}

static void assert_numbered(const struct side *s, int n)
{
  ck_assert_uint_eq(s->nlines, (size_t)n);
  for (int i = 0; i < n; i++) {
    char want[32];
    snprintf(want, sizeof(want), "line %06d", i);
    assert_line(s, (size_t)i, want, LINE_BYTES - 2);
  }
}

/* _i 0: 1000 lines in one small write; 1: 100000 lines (1.3 MB) in one
 * write, so lines straddle every read. */
START_TEST(test_many_lines)
{
  int n = _i == 0 ? 1000 : 100000;
  char *buf = make_lines(n);
  fx_init();
  F.srv.out = buf;
  F.srv.out_len = (size_t)n * LINE_BYTES;
  F.srv.close_after = 1;
  struct frame_case fc = {.in = buf, .in_len = F.srv.out_len};
  cur_frame = &fc;
  F.on_both = frame_accept;
  fx_connect();
  fx_run();
  assert_numbered(&F.cli, n);
  ck_assert_int_eq(F.cli.err, MP_E_CONNECTION_CLOSED);
  ck_assert_uint_eq(F.cli.err_nlines, (size_t)n);
  ck_assert_uint_eq(F.cli.err_bytes, F.srv.out_len);
  fx_end();
  free(buf);
}
END_TEST

/* ---- pause and resume -------------------------------------------------- */

static void resume_cb(struct mp_conn *c)
{
  struct side *s = mp_conn_data(c);
  s->fx->flag = 0;
  mp_conn_resume(c);
}

/* Pauses at line 3 (resumed from a timer 50 ms later), at line 6 (resumed
 * in the same callback) and at line 8 (resumed from a 0 ms timer). */
static void pause_line(struct side *s, const char *line, size_t len)
{
  ck_assert_msg(!s->fx->flag, "a line came while paused");
  switch (s->nlines) {
  case 3:
    mp_conn_pause(s->c);
    s->fx->flag = 1;
    s->fx->t0_us = mp_now_us();
    mp_conn_after(s->c, 50, resume_cb);
    break;
  case 6:
    mp_conn_pause(s->c);
    mp_conn_resume(s->c);
    break;
  case 8:
    mp_conn_pause(s->c);
    s->fx->flag = 1;
    mp_conn_after(s->c, 0, resume_cb);
    break;
  }
}

START_TEST(test_pause_resume)
{
  int n = 10;
  char *buf = make_lines(n);
  fx_init();
  F.srv.out = buf;
  F.srv.out_len = (size_t)n * LINE_BYTES;
  F.srv.close_after = 1;
  F.cli.on_line = pause_line;
  struct frame_case fc = {.in = buf, .in_len = F.srv.out_len};
  cur_frame = &fc;
  F.on_both = frame_accept;
  fx_connect();
  fx_run();
  assert_numbered(&F.cli, n);
  /* The peer's EOF comes after every buffered line. */
  ck_assert_int_eq(F.cli.err, MP_E_CONNECTION_CLOSED);
  ck_assert_uint_eq(F.cli.err_nlines, (size_t)n);
  ck_assert_uint_ge(F.cli.lines[3].at_us - F.cli.lines[2].at_us, 40000);
  fx_end();
  free(buf);
}
END_TEST

/* Pausing stops reading: a paused receiver lets the sender's queue fill,
 * and on resume everything arrives. */
static void pause_first(struct fx *fx)
{
  mp_conn_pause(fx->srv.c);
}

/* ---- raw bytes --------------------------------------------------------- */

static const char *raw_writes[2][3] = {
    {"* 1 FETCH {10}\r\n0123", "45\r\n", "89)\r\nA1 OK\r\n"},
    {"* 1 FETCH {10}\r\n012345\r\n89)\r\nA1 OK\r\n", NULL, NULL},
};
static int raw_mode;

static void raw_next(struct mp_conn *c)
{
  struct side *s = mp_conn_data(c);
  const char *w = s->n < 3 ? raw_writes[raw_mode][s->n] : NULL;
  if (!w) {
    mp_conn_close(c);
    return;
  }
  s->n++;
  ck_assert_int_eq(mp_conn_write(c, w, strlen(w)), 0);
  mp_conn_after(c, 20, raw_next);
}

static void raw_accept(struct fx *fx)
{
  raw_next(fx->srv.c);
}

static void raw_line(struct side *s, const char *line, size_t len)
{
  if (s->nlines == 1) {
    ck_assert_str_eq(line, "* 1 FETCH {10}");
    mp_conn_expect_raw(s->c, 10);
  }
}

/* _i 0: the literal split over three writes; 1: all in one write. */
START_TEST(test_expect_raw)
{
  raw_mode = _i;
  fx_init();
  F.on_both = raw_accept;
  F.cli.on_line = raw_line;
  fx_connect();
  fx_run();
  ck_assert_uint_eq(F.cli.nlines, 3);
  assert_line(&F.cli, 0, "* 1 FETCH {10}", 14);
  assert_line(&F.cli, 1, ")", 1);
  assert_line(&F.cli, 2, "A1 OK", 5);
  ck_assert_uint_eq(F.cli.raw_len, 10);
  ck_assert_mem_eq(F.cli.raw, "012345\r\n89", 10);
  ck_assert_int_eq(F.cli.raw_last, 1);
  if (_i == 0)
    ck_assert_int_ge(F.cli.raw_chunks, 3);
  else
    ck_assert_int_eq(F.cli.raw_chunks, 1);
  ck_assert_int_eq(F.cli.err, MP_E_CONNECTION_CLOSED);
  fx_end();
}
END_TEST

/* ---- the deadline ------------------------------------------------------ */

static void deadline_connect(struct fx *fx)
{
  ck_assert_int_eq(fx->connect_status, 0);
  fx->t0_us = mp_now_us();
  mp_conn_set_deadline(fx->cli.c, 300);
  uint64_t left = mp_conn_deadline_left(fx->cli.c);
  ck_assert_uint_le(left, 300);
  ck_assert_uint_gt(left, 250);
}

static void drip_accept(struct fx *fx)
{
  side_send(&fx->srv);
}

/* A peer dripping a byte every 50 ms (with newlines, so lines keep coming)
 * does not extend the deadline. */
START_TEST(test_deadline_drip)
{
  fx_init();
  F.srv.out = "ab\n";
  F.srv.out_len = 3;
  F.srv.out_repeat = 1;
  F.srv.drip_ms = 50;
  F.on_both = drip_accept;
  F.on_connect = deadline_connect;
  fx_connect();
  F.until = cli_gone;
  fx_run();
  ck_assert_int_eq(F.cli.nerr, 1);
  ck_assert_int_eq(F.cli.err, MP_E_TIMEOUT);
  uint64_t elapsed = F.cli.err_us - F.t0_us;
  ck_assert_msg(elapsed >= 280000 && elapsed <= 300000 + 200000,
                "deadline of 300 ms fired after %llu us",
                (unsigned long long)elapsed);
  ck_assert_uint_ge(F.cli.err_bytes, 3); /* bytes did trickle in */
  ck_assert_uint_ge(F.cli.nlines, 1);
  fx_end();
}
END_TEST

static void clear_deadline_connect(struct fx *fx)
{
  mp_conn_set_deadline(fx->cli.c, 50);
  mp_conn_set_deadline(fx->cli.c, 0);
  ck_assert_uint_eq(mp_conn_deadline_left(fx->cli.c), UINT64_MAX);
  fx->t0_us = mp_now_us();
}

static int after_150ms(struct fx *fx)
{
  return fx->t0_us && mp_now_us() - fx->t0_us > 150000;
}

/* A cleared deadline never fires. */
START_TEST(test_deadline_cleared)
{
  fx_init();
  F.on_connect = clear_deadline_connect;
  F.srv.out = "x";
  F.srv.out_len = 1;
  F.srv.out_repeat = 1;
  F.srv.drip_ms = 20; /* keeps the loop turning */
  F.on_both = drip_accept;
  fx_connect();
  F.until = after_150ms;
  fx_run();
  ck_assert_int_eq(F.cli.nerr, 0);
  fx_end();
}
END_TEST

/* ---- EOF, reset, close ------------------------------------------------- */

static void close_on_accept(struct fx *fx)
{
  mp_conn_close(fx->srv.c);
}

static void close_in_error(struct side *s, int err)
{
  mp_conn_close(s->c); /* allowed from inside on_error */
}

START_TEST(test_eof)
{
  fx_init();
  F.on_both = close_on_accept;
  F.cli.on_error = close_in_error;
  fx_connect();
  fx_run();
  ck_assert_int_eq(F.connect_status, 0);
  ck_assert_int_eq(F.cli.nerr, 1);
  ck_assert_int_eq(F.cli.err, MP_E_CONNECTION_CLOSED);
  ck_assert_int_eq(F.srv.nerr, 0); /* close clears on_error */
  ck_assert_uint_eq(F.cli.nlines, 0);
  fx_end();
}
END_TEST

static void reset_server(struct fx *fx)
{
  mp_conn_reset(fx->srv.c);
}

/* The server sends a line and waits: the client resets (_i 0), or the
 * server resets right away (_i 1). */
static void hello_accept(struct fx *fx)
{
  ck_assert_int_eq(mp_conn_write(fx->srv.c, "hi\r\n", 4), 0);
  if (fx->flag)
    reset_server(fx);
}

static void reset_on_line(struct side *s, const char *line, size_t len)
{
  mp_conn_reset(s->c);
}

START_TEST(test_reset)
{
  fx_init();
  F.flag = _i;
  F.on_both = hello_accept;
  if (_i == 0)
    F.cli.on_line = reset_on_line;
  fx_connect();
  fx_run();
  struct side *victim = _i == 0 ? &F.srv : &F.cli;
  struct side *resetter = _i == 0 ? &F.cli : &F.srv;
  ck_assert_int_eq(victim->nerr, 1);
  ck_assert_int_eq(victim->err, MP_E_CONNECTION_CLOSED);
  ck_assert_int_eq(resetter->nerr, 0);
  fx_end();
}
END_TEST

/* The client queues 1 MB and closes at once; the server, paused for 50 ms
 * so the bytes have to wait in the client's queue, gets every byte and
 * only then the EOF. _i 1 also closes twice and aborts nothing. */
#define BIG_LINES (1 << 14)
#define BIG_LINE_LEN 64

static char *make_big(void)
{
  char *buf = malloc((size_t)BIG_LINES * BIG_LINE_LEN + 1);
  for (int i = 0; i < BIG_LINES; i++) {
    char *p = buf + (size_t)i * BIG_LINE_LEN;
    memset(p, 'a' + i % 26, BIG_LINE_LEN);
    snprintf(p, 12, "%010u", (unsigned)i % 100000u);
    p[10] = ' ';
    p[BIG_LINE_LEN - 2] = '\r';
    p[BIG_LINE_LEN - 1] = '\n';
  }
  return buf;
}

static char *big;

static void resume_srv(struct mp_conn *c)
{
  mp_conn_resume(c);
}

static void big_accept(struct fx *fx)
{
  mp_conn_pause(fx->srv.c);
  mp_conn_after(fx->srv.c, 50, resume_srv);
}

static void big_connect(struct fx *fx)
{
  ck_assert_int_eq(fx->connect_status, 0);
  ck_assert_int_eq(
      mp_conn_write(fx->cli.c, big, (size_t)BIG_LINES * BIG_LINE_LEN), 0);
  mp_conn_close(fx->cli.c);
  if (fx->flag) {
    mp_conn_close(fx->cli.c);
    ck_assert_int_eq(mp_conn_write(fx->cli.c, "x", 1), MP_E_CONNECTION_CLOSED);
  }
}

START_TEST(test_close_flushes)
{
  big = make_big();
  fx_init();
  F.flag = _i;
  F.on_accept = big_accept;
  F.on_connect = big_connect;
  fx_connect();
  fx_run();
  ck_assert_uint_eq(F.srv.nlines, BIG_LINES);
  for (size_t i = 0; i < BIG_LINES; i++)
    assert_line(&F.srv, i, big + i * BIG_LINE_LEN, BIG_LINE_LEN - 2);
  ck_assert_int_eq(F.srv.err, MP_E_CONNECTION_CLOSED);
  ck_assert_uint_eq(F.srv.err_nlines, BIG_LINES);
  ck_assert_uint_eq(F.srv.err_bytes, (uint64_t)BIG_LINES * BIG_LINE_LEN);
  ck_assert_int_eq(F.cli.nerr, 0);
  fx_end();
  free(big);
}
END_TEST

/* The peer's bytes sit unread in our socket when we close: Linux answers
 * close() with a RST then, dropping what is still in our send buffer.
 * The close must still deliver every queued byte before the EOF. */
static void unread_late_b(struct mp_conn *c)
{
  ck_assert_int_eq(mp_conn_write(c, "B\r\n", 3), 0);
  mp_conn_after(c, 40, resume_srv);
}

static void unread_connect(struct fx *fx)
{
  ck_assert_int_eq(mp_conn_write(fx->cli.c, "A\r\n", 3), 0);
  mp_conn_pause(fx->cli.c); /* the server's answer has to wait in queue */
  mp_conn_after(fx->cli.c, 30, unread_late_b);
}

static void unread_srv_line(struct side *s, const char *line, size_t len)
{
  ck_assert_str_eq(line, "A");
  ck_assert_int_eq(mp_conn_write(s->c, big, (size_t)BIG_LINES * BIG_LINE_LEN),
                   0);
  mp_conn_close(s->c);
}

START_TEST(test_close_unread_input)
{
  big = make_big();
  fx_init();
  F.on_connect = unread_connect;
  F.srv.on_line = unread_srv_line;
  fx_connect();
  fx_run();
  ck_assert_uint_eq(F.srv.nlines, 1);
  ck_assert_uint_eq(F.cli.nlines, BIG_LINES);
  for (size_t i = 0; i < BIG_LINES; i++)
    assert_line(&F.cli, i, big + i * BIG_LINE_LEN, BIG_LINE_LEN - 2);
  ck_assert_int_eq(F.cli.err, MP_E_CONNECTION_CLOSED);
  fx_end();
  free(big);
}
END_TEST

/* A peer that neither reads nor closes: the linger ends it anyway, about
 * 2 s after the close, and on_close runs. */
static void stuck_connect(struct fx *fx)
{
  ck_assert_int_eq(
      mp_conn_write(fx->cli.c, big, (size_t)BIG_LINES * BIG_LINE_LEN), 0);
  ck_assert_int_eq(
      mp_conn_write(fx->cli.c, big, (size_t)BIG_LINES * BIG_LINE_LEN), 0);
  fx->t0_us = mp_now_us();
  mp_conn_close(fx->cli.c);
}

static void stuck_close(struct side *s)
{
  s->fx->flag = (int)((mp_now_us() - s->fx->t0_us) / 1000);
}

START_TEST(test_linger_bounded)
{
  big = make_big();
  fx_init();
  F.on_accept = pause_first;
  F.on_connect = stuck_connect;
  F.cli.on_close = stuck_close;
  fx_connect();
  F.until = cli_gone;
  fx_run();
  ck_assert_int_ge(F.flag, 1900);
  ck_assert_int_le(F.flag, 2000 + 500);
  ck_assert_int_eq(F.cli.nerr, 0);
  ck_assert_int_eq(F.srv.nerr, 0);
  fx_end();
  free(big);
}
END_TEST

static void close_at_first(struct side *s, const char *line, size_t len)
{
  ck_assert_uint_eq(s->nlines, 1);
  mp_conn_close(s->c);
  ck_assert_int_eq(mp_conn_write(s->c, "x", 1), MP_E_CONNECTION_CLOSED);
}

static void abc_accept(struct fx *fx)
{
  ck_assert_int_eq(mp_conn_write(fx->srv.c, "a\r\nb\r\nc\r\n", 9), 0);
}

/* Closing inside on_line stops delivery: b and c never come. */
START_TEST(test_close_in_on_line)
{
  fx_init();
  F.on_both = abc_accept;
  F.cli.on_line = close_at_first;
  fx_connect();
  fx_run();
  ck_assert_uint_eq(F.cli.nlines, 1);
  assert_line(&F.cli, 0, "a", 1);
  ck_assert_int_eq(F.cli.nerr, 0);
  ck_assert_int_eq(F.srv.err, MP_E_CONNECTION_CLOSED);
  fx_end();
}
END_TEST

static void close_in_close(struct side *s)
{
  mp_conn_close(s->c); /* still valid inside on_close, and harmless */
  mp_conn_abort(s->c);
}

static void close_thrice(struct fx *fx)
{
  ck_assert_int_eq(mp_conn_write(fx->cli.c, "bye\r\n", 5), 0);
  mp_conn_close(fx->cli.c);
  mp_conn_close(fx->cli.c);
  mp_conn_abort(fx->cli.c);
  mp_conn_reset(fx->cli.c);
  mp_conn_close(fx->cli.c);
  /* Nothing else runs on a closing connection. */
  mp_conn_after(fx->cli.c, 0, resume_cb);
  mp_conn_set_deadline(fx->cli.c, 1);
  mp_conn_resume(fx->cli.c);
}

START_TEST(test_double_close)
{
  fx_init();
  F.on_connect = close_thrice;
  F.cli.on_close = close_in_close;
  F.srv.on_close = close_in_close;
  fx_connect();
  fx_run();
  ck_assert_int_eq(F.cli.nclose, 1);
  ck_assert_int_eq(F.cli.nerr, 0);
  ck_assert_uint_eq(F.srv.nlines, 1);
  assert_line(&F.srv, 0, "bye", 3);
  ck_assert_int_eq(F.srv.err, MP_E_CONNECTION_CLOSED);
  fx_end();
}
END_TEST

/* A connection closed before it connected: on_close once, no connect cb. */
START_TEST(test_close_unconnected)
{
  fx_init();
  fx_client();
  mp_conn_close(F.cli.c);
  mp_conn_close(F.cli.c);
  fx_end();
  ck_assert_int_eq(F.nconnect, 0);
}
END_TEST

START_TEST(test_close_connecting)
{
  fx_init();
  fx_connect();
  mp_conn_close(F.cli.c);
  F.until = cli_gone;
  fx_run();
  ck_assert_int_eq(F.nconnect, 0);
  fx_end();
}
END_TEST

/* ---- the user timer ---------------------------------------------------- */

static void timer_never(struct mp_conn *c)
{
  ck_abort_msg("a replaced or cancelled timer ran");
}

static void timer_fired(struct mp_conn *c)
{
  struct side *s = mp_conn_data(c);
  s->n++;
  s->fx->flag = (int)((mp_now_us() - s->fx->t0_us) / 1000);
  mp_conn_close(c); /* closing from inside the timer callback */
}

static void timer_connect(struct fx *fx)
{
  fx->t0_us = mp_now_us();
  mp_conn_after(fx->cli.c, 10, timer_never);
  mp_conn_after(fx->cli.c, 60, timer_fired); /* replaces the first */
}

static void timer_on_accept(struct fx *fx)
{
  mp_conn_after(fx->srv.c, 5, timer_never);
  mp_conn_cancel_timer(fx->srv.c);
  mp_conn_cancel_timer(fx->srv.c);
}

START_TEST(test_after)
{
  fx_init();
  F.on_connect = timer_connect;
  F.on_accept = timer_on_accept;
  fx_connect();
  fx_run();
  ck_assert_int_eq(F.cli.n, 1);
  ck_assert_int_ge(F.flag, 55);
  ck_assert_int_le(F.flag, 60 + 200);
  ck_assert_int_eq(F.srv.err, MP_E_CONNECTION_CLOSED);
  fx_end();
}
END_TEST

/* A timer armed on a connection that then closes never runs. */
static void arm_then_close(struct fx *fx)
{
  mp_conn_after(fx->cli.c, 0, timer_never);
  mp_conn_close(fx->cli.c);
}

START_TEST(test_after_then_close)
{
  fx_init();
  F.on_connect = arm_then_close;
  fx_connect();
  fx_run();
  fx_end();
}
END_TEST

/* ---- the write queue cap ------------------------------------------------ */

static size_t cap_written;
static int cap_err;

static void fill_queue(struct fx *fx)
{
  static char chunk[65536];
  memset(chunk, 'q', sizeof(chunk));
  /* The peer never reads: what the kernel holds plus our queue is all that
   * can go out before the cap says no. */
  while (cap_written < (size_t)64 << 20) {
    int rc = mp_conn_write(fx->cli.c, chunk, sizeof(chunk));
    if (rc < 0) {
      cap_err = rc;
      break;
    }
    cap_written += sizeof(chunk);
  }
  fx->flag = 1;
}

static int flag_set(struct fx *fx)
{
  return fx->flag;
}

START_TEST(test_queue_cap)
{
  cap_written = 0;
  cap_err = 0;
  fx_init();
  F.on_accept = pause_first;
  F.on_connect = fill_queue;
  fx_connect();
  F.until = flag_set;
  fx_run();
  ck_assert_int_eq(cap_err, MP_E_NO_RESOURCES);
  ck_assert_uint_ge(cap_written, MP_CONN_MAX_QUEUE - 65536);
  ck_assert_uint_lt(cap_written, (size_t)64 << 20);
  /* Not fatal: the connection is still open. */
  ck_assert_int_eq(F.cli.nerr, 0);
  ck_assert_int_eq(F.cli.gone, 0);
  fx_end();
}
END_TEST

/* ---- printf ------------------------------------------------------------ */

static void printf_both(struct fx *fx)
{
  static char longarg[MP_CONN_MAX_LINE + 2];
  memset(longarg, 'L', MP_CONN_MAX_LINE + 1);
  ck_assert_int_eq(mp_conn_printf(fx->cli.c, "HELLO %d\r\n", 42), 0);
  /* MP_CONN_MAX_LINE + 2 bytes fit; one more is refused whole. */
  ck_assert_int_eq(mp_conn_printf(fx->cli.c, "%s\r\n", longarg + 1), 0);
  ck_assert_int_eq(mp_conn_printf(fx->cli.c, "%s\r\n", longarg),
                   MP_E_PROTOCOL_ERROR);
  ck_assert_int_eq(mp_conn_printf(fx->cli.c, "BYE\r\n"), 0);
  ck_assert_uint_eq(mp_conn_bytes_out(fx->cli.c),
                    10 + MP_CONN_MAX_LINE + 2 + 5);
  mp_conn_close(fx->cli.c);
}

START_TEST(test_printf)
{
  fx_init();
  F.on_both = printf_both;
  fx_connect();
  fx_run();
  ck_assert_uint_eq(F.srv.nlines, 3);
  assert_line(&F.srv, 0, "HELLO 42", 8);
  ck_assert_uint_eq(F.srv.lines[1].len, MP_CONN_MAX_LINE);
  assert_line(&F.srv, 2, "BYE", 3);
  ck_assert_int_eq(F.srv.err, MP_E_CONNECTION_CLOSED);
  fx_end();
}
END_TEST

/* ---- names ------------------------------------------------------------- */

START_TEST(test_peer_name)
{
  fx_init();
  fx_connect();
  F.until = connected_and_accepted;
  fx_run();
  char buf[64], want[64];
  snprintf(want, sizeof(want), "127.0.0.1:%u", (unsigned)F.port);
  mp_conn_peer_name(F.cli.c, buf, sizeof(buf));
  ck_assert_str_eq(buf, want);

  mp_conn_peer_name(F.srv.c, buf, sizeof(buf));
  unsigned port = 0;
  int used = 0;
  ck_assert_int_eq(sscanf(buf, "127.0.0.1:%u%n", &port, &used), 1);
  ck_assert_uint_eq((size_t)used, strlen(buf));
  ck_assert_uint_gt(port, 0);
  ck_assert_uint_lt(port, 65536);
  ck_assert_uint_ne(port, F.port);

  /* Truncated to fit, still a C string; len 0 writes nothing. */
  char small[6] = "zzzzz";
  mp_conn_peer_name(F.cli.c, small, 5);
  ck_assert_str_eq(small, "127.");
  char none[1] = {'z'};
  mp_conn_peer_name(F.cli.c, none, 0);
  ck_assert_int_eq(none[0], 'z');
  fx_end();
}
END_TEST

/* An unconnected connection has no peer: "". */
START_TEST(test_peer_name_unconnected)
{
  fx_init();
  fx_client();
  char buf[64] = "junk";
  mp_conn_peer_name(F.cli.c, buf, sizeof(buf));
  ck_assert_str_eq(buf, "");
  fx_end();
}
END_TEST

/* ---- many deadlines on one loop ------------------------------------------ */

#define NDL 200

/* Connections that only wait for their deadline (no socket needed: a
 * deadline fails any connection that is not closing). */
struct dl {
  struct mp_conn *c;
  uint64_t at_us, fired_us;
  int nerr, err, closed;
};
static int dl_fired;

static void dl_on_error(struct mp_conn *c, int err)
{
  struct dl *d = mp_conn_data(c);
  d->fired_us = mp_now_us();
  d->err = err;
  d->nerr++;
  dl_fired++;
}

static void dl_on_close(struct mp_conn *c)
{
  struct dl *d = mp_conn_data(c);
  d->closed++;
}

/* 200 deadlines set in shuffled order, 50 us apart, on absolute times:
 * each fires once, never before its time, promptly (the bound is loose
 * for sanitizers and a shared machine; a millisecond clock alone would
 * have made most of them late by 1-2 ms, not fail this), and in deadline
 * order; a deadline moved later or cleared does not fire at the old time;
 * a deadline already past fires from the loop, not from the call; and the
 * loop closes once the connections are gone (the queue's handles too). */
START_TEST(test_deadline_many)
{
  static struct dl d[NDL];
  static const struct mp_conn_cbs cbs = {.on_error = dl_on_error,
                                         .on_close = dl_on_close};
  uv_loop_t loop;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  memset(d, 0, sizeof(d));
  dl_fired = 0;
  uint64_t base = mp_now_us() + 30000;
  for (int i = 0; i < NDL; i++) {
    int k = (i * 7919) % NDL; /* a permutation: 7919 is prime */
    d[k].c = mp_conn_new(&loop, &cbs, &d[k]);
    ck_assert_ptr_nonnull(d[k].c);
    d[k].at_us = base + (uint64_t)k * 50;
    mp_conn_set_deadline_at(d[k].c, d[k].at_us);
    ck_assert_uint_eq(mp_conn_deadline_at(d[k].c), d[k].at_us);
  }
  /* Moved later (the last one), cleared (the one before it). */
  d[NDL - 1].at_us = base + 60000;
  mp_conn_set_deadline_at(d[NDL - 1].c, d[NDL - 1].at_us);
  mp_conn_set_deadline_at(d[NDL - 2].c, 0);
  ck_assert_uint_eq(mp_conn_deadline_left(d[NDL - 2].c), UINT64_MAX);
  /* Past already: not from here. */
  struct dl past = {0};
  past.c = mp_conn_new(&loop, &cbs, &past);
  ck_assert_ptr_nonnull(past.c);
  past.at_us = mp_now_us() - 1000;
  mp_conn_set_deadline_at(past.c, past.at_us);
  ck_assert_int_eq(past.nerr, 0);
  ck_assert_uint_eq(mp_conn_deadline_left(past.c), 0);

  uint64_t stop = mp_now_us() + SAFETY_MS * 1000ull;
  /* All but the cleared one, and the past one. */
  while (dl_fired < NDL && mp_now_us() < stop)
    uv_run(&loop, UV_RUN_ONCE);
  ck_assert_int_eq(past.nerr, 1);
  ck_assert_int_eq(past.err, MP_E_TIMEOUT);
  uint64_t worst = 0;
  for (int k = 0; k < NDL; k++) {
    if (k == NDL - 2) {
      ck_assert_int_eq(d[k].nerr, 0);
      mp_conn_close(d[k].c);
      continue;
    }
    ck_assert_int_eq(d[k].nerr, 1);
    ck_assert_int_eq(d[k].err, MP_E_TIMEOUT);
    ck_assert_msg(d[k].fired_us >= d[k].at_us,
                  "deadline %d fired %llu us early", k,
                  (unsigned long long)(d[k].at_us - d[k].fired_us));
    if (d[k].fired_us - d[k].at_us > worst)
      worst = d[k].fired_us - d[k].at_us;
    if (k > 0 && k < NDL - 1 && k - 1 != NDL - 2)
      ck_assert_msg(d[k].fired_us >= d[k - 1].fired_us,
                    "deadline %d fired before %d", k, k - 1);
  }
  ck_assert_msg(worst < 250000, "a deadline fired %llu us late",
                (unsigned long long)worst);
  uv_run(&loop, UV_RUN_DEFAULT);
  for (int k = 0; k < NDL; k++)
    ck_assert_int_eq(d[k].closed, 1);
  ck_assert_int_eq(past.closed, 1);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* Deadlines moved later again and again (a server touching its idle
 * timeout on every line) keep their old place in the queue until it comes
 * up: each still fires once, never before its last time, in the order of
 * the last times; among equal times, in the order they were last set. */
#define NMOVE 40
static struct dl *move_order[NMOVE + 1];
static int move_n;

static void move_on_error(struct mp_conn *c, int err)
{
  dl_on_error(c, err);
  if (move_n <= NMOVE)
    move_order[move_n++] = mp_conn_data(c);
}

START_TEST(test_deadline_moved_later)
{
  static struct dl d[NMOVE];
  static const struct mp_conn_cbs cbs = {.on_error = move_on_error,
                                         .on_close = dl_on_close};
  uv_loop_t loop;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  memset(d, 0, sizeof(d));
  dl_fired = 0;
  move_n = 0;
  uint64_t base = mp_now_us() + 20000;
  for (int k = 0; k < NMOVE; k++) {
    d[k].c = mp_conn_new(&loop, &cbs, &d[k]);
    ck_assert_ptr_nonnull(d[k].c);
    mp_conn_set_deadline_at(d[k].c, base + (uint64_t)k * 100);
  }
  /* Even ones: later, twice, past every odd one, in reverse order. */
  for (int round = 1; round <= 2; round++)
    for (int k = 0; k < NMOVE; k += 2)
      mp_conn_set_deadline_at(d[k].c, base + 10000ull * (uint64_t)round +
                                          (uint64_t)(NMOVE - k) * 100);
  /* The last two odd ones: the same time as each other, the first set
   * last (later, then back), so it fires after the other. */
  uint64_t tie = base + 5000;
  mp_conn_set_deadline_at(d[NMOVE - 1].c, tie);
  mp_conn_set_deadline_at(d[NMOVE - 3].c, tie + 50000);
  mp_conn_set_deadline_at(d[NMOVE - 3].c, tie);
  for (int k = 0; k < NMOVE; k++)
    d[k].at_us = mp_conn_deadline_at(d[k].c);

  uint64_t stop = mp_now_us() + SAFETY_MS * 1000ull;
  while (dl_fired < NMOVE && mp_now_us() < stop)
    uv_run(&loop, UV_RUN_ONCE);
  ck_assert_int_eq(move_n, NMOVE);
  for (int k = 0; k < NMOVE; k++) {
    ck_assert_int_eq(d[k].nerr, 1);
    ck_assert_msg(d[k].fired_us >= d[k].at_us,
                  "deadline %d fired %llu us early", k,
                  (unsigned long long)(d[k].at_us - d[k].fired_us));
  }
  for (int i = 1; i < NMOVE; i++)
    ck_assert_msg(move_order[i]->at_us >= move_order[i - 1]->at_us,
                  "fired out of order at %d", i);
  int a = -1, b = -1;
  for (int i = 0; i < NMOVE; i++) {
    if (move_order[i] == &d[NMOVE - 1])
      a = i;
    if (move_order[i] == &d[NMOVE - 3])
      b = i;
  }
  ck_assert_int_eq(b, a + 1);
  uv_run(&loop, UV_RUN_DEFAULT);
  for (int k = 0; k < NMOVE; k++)
    ck_assert_int_eq(d[k].closed, 1);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* ---- TLS ---------------------------------------------------------------- */

#define TLS_HOST "mx.example.test"

static void fx_tls(void)
{
  char err[256], *cert = NULL, *key = NULL;
  F.ca = mp_ca_new("check_conn CA", MP_KEY_EC_P256);
  ck_assert_ptr_nonnull(F.ca);
  ck_assert_int_eq(
      mp_cert_issue(F.ca, MP_CERT_VALID, TLS_HOST, MP_KEY_EC_P256, &cert, &key),
      0);
  F.sctx = mp_tls_ctx_server(cert, key, err, sizeof(err));
  ck_assert_msg(F.sctx != NULL, "%s", err);
  free(cert);
  free(key);
  struct mp_tls_client_opts o = {.ca_pem = mp_ca_pem(F.ca)};
  F.cctx = mp_tls_ctx_client(&o, err, sizeof(err));
  ck_assert_msg(F.cctx != NULL, "%s", err);
  F.verify_host = TLS_HOST;
}

static void cli_start_tls(struct side *s)
{
  ck_assert_int_eq(
      mp_conn_start_tls(s->c, s->fx->cctx, 0, s->fx->verify_host, rec_tls), 0);
  ck_assert_ptr_nonnull(mp_conn_tls(s->c));
  /* Nothing passes before the handshake ends. */
  ck_assert_int_eq(mp_conn_write(s->c, "x\r\n", 3), MP_E_PROTOCOL_ERROR);
}

static void srv_start_tls(struct side *s)
{
  ck_assert_int_eq(mp_conn_start_tls(s->c, s->fx->sctx, 1, NULL, rec_tls), 0);
}

static void assert_verified(struct mp_conn *c)
{
  struct mp_tls_info info;
  ck_assert_ptr_nonnull(mp_conn_tls(c));
  mp_tls_get_info(mp_conn_tls(c), &info);
  ck_assert_int_eq(info.verified, 1);
  ck_assert_msg(strncmp(info.version, "TLSv1.", 6) == 0, "%s", info.version);
}

#define TLS_LINES 1000

static char *tls_lines;

static void st_greet(struct fx *fx)
{
  ck_assert_int_eq(mp_conn_write(fx->srv.c, "220 ready\r\n", 11), 0);
}

static void st_cli_line(struct side *s, const char *line, size_t len)
{
  if (strcmp(line, "220 ready") == 0)
    ck_assert_int_eq(mp_conn_write(s->c, "STARTTLS\r\n", 10), 0);
  else if (strcmp(line, "220 go ahead") == 0)
    cli_start_tls(s);
}

static void st_cli_tls(struct side *s, int status)
{
  if (status != 0) {
    mp_conn_close(s->c); /* the caller closes after a failed handshake */
    return;
  }
  assert_verified(s->c);
  ck_assert_int_eq(mp_conn_write(s->c, "EHLO again\r\n", 12), 0);
}

static void st_srv_line(struct side *s, const char *line, size_t len)
{
  if (strcmp(line, "STARTTLS") == 0) {
    ck_assert_int_eq(mp_conn_write(s->c, "220 go ahead\r\n", 14), 0);
    srv_start_tls(s);
  } else if (strcmp(line, "EHLO again") == 0) {
    ck_assert_int_eq(mp_conn_write(s->c, "250 tls\r\n", 9), 0);
    ck_assert_int_eq(
        mp_conn_write(s->c, tls_lines, (size_t)TLS_LINES * LINE_BYTES), 0);
    mp_conn_close(s->c); /* close_notify right behind the last line */
  }
}

/* STARTTLS on a live connection, then data both ways, then the server's
 * close: every line before the close_notify is delivered, then the EOF.
 * _i 1: the client checks a name the certificate does not carry. */
START_TEST(test_starttls)
{
  tls_lines = make_lines(TLS_LINES);
  fx_init();
  fx_tls();
  if (_i == 1)
    F.verify_host = "other.example.test";
  F.on_both = st_greet;
  F.cli.on_line = st_cli_line;
  F.cli.on_tls = st_cli_tls;
  F.srv.on_line = st_srv_line;
  fx_connect();
  fx_run();
  ck_assert_int_eq(F.cli.ntls, 1);
  if (_i == 1) {
    ck_assert_int_eq(F.cli.tls_status, MP_E_CERT_INVALID);
    ck_assert_int_eq(F.cli.nerr, 0);
    ck_assert_uint_eq(F.cli.nlines, 2);
    ck_assert_uint_eq(F.srv.nlines, 1); /* EHLO never went out */
    fx_end();
    free(tls_lines);
    return;
  }
  ck_assert_int_eq(F.cli.tls_status, 0);
  ck_assert_int_eq(F.srv.ntls, 1);
  ck_assert_int_eq(F.srv.tls_status, 0);
  ck_assert_uint_eq(F.srv.nlines, 2);
  assert_line(&F.srv, 1, "EHLO again", 10);
  ck_assert_uint_eq(F.cli.nlines, 3 + TLS_LINES);
  assert_line(&F.cli, 2, "250 tls", 7);
  for (int i = 0; i < TLS_LINES; i++) {
    char want[32];
    snprintf(want, sizeof(want), "line %06d", i);
    assert_line(&F.cli, 3 + (size_t)i, want, LINE_BYTES - 2);
  }
  ck_assert_int_eq(F.cli.err, MP_E_CONNECTION_CLOSED);
  ck_assert_uint_eq(F.cli.err_nlines, 3 + TLS_LINES);
  fx_end();
  free(tls_lines);
}
END_TEST

static void imp_accept(struct fx *fx)
{
  srv_start_tls(&fx->srv);
}

static void imp_connect(struct fx *fx)
{
  ck_assert_int_eq(fx->connect_status, 0);
  cli_start_tls(&fx->cli);
}

static void imp_srv_tls(struct side *s, int status)
{
  ck_assert_int_eq(status, 0);
  ck_assert_int_eq(mp_conn_write(s->c, "220 tls greeting\r\n", 18), 0);
}

static void imp_cli_line(struct side *s, const char *line, size_t len)
{
  assert_verified(s->c);
  if (strcmp(line, "220 tls greeting") == 0)
    ck_assert_int_eq(mp_conn_write(s->c, "QUIT\r\n", 6), 0);
}

static void imp_srv_line(struct side *s, const char *line, size_t len)
{
  ck_assert_str_eq(line, "QUIT");
  ck_assert_int_eq(mp_conn_write(s->c, "221 bye\r\n", 9), 0);
  mp_conn_close(s->c); /* the 221 and the close_notify in one read */
}

/* Implicit TLS: the handshake is the first thing on the wire. */
START_TEST(test_implicit_tls)
{
  fx_init();
  fx_tls();
  F.on_accept = imp_accept;
  F.on_connect = imp_connect;
  F.srv.on_tls = imp_srv_tls;
  F.cli.on_line = imp_cli_line;
  F.srv.on_line = imp_srv_line;
  fx_connect();
  fx_run();
  ck_assert_int_eq(F.cli.ntls, 1);
  ck_assert_int_eq(F.cli.tls_status, 0);
  ck_assert_int_eq(F.srv.ntls, 1);
  ck_assert_uint_eq(F.cli.nlines, 2);
  assert_line(&F.cli, 0, "220 tls greeting", 16);
  assert_line(&F.cli, 1, "221 bye", 7);
  ck_assert_int_eq(F.cli.err, MP_E_CONNECTION_CLOSED);
  ck_assert_uint_eq(F.cli.err_nlines, 2);
  ck_assert_uint_eq(F.srv.nlines, 1);
  fx_end();
}
END_TEST

static void pipe_greet(struct fx *fx)
{
  /* The go-ahead and plaintext behind it, in one segment. */
  ck_assert_int_eq(mp_conn_write(fx->srv.c, "220 go ahead\r\nJUNK\r\n", 20), 0);
}

static void pipe_cli_line(struct side *s, const char *line, size_t len)
{
  ck_assert_str_eq(line, "220 go ahead");
  ck_assert_uint_eq(mp_conn_buffered(s->c), 6);
  ck_assert_int_eq(
      mp_conn_start_tls(s->c, s->fx->cctx, 0, s->fx->verify_host, rec_tls),
      MP_E_PROTOCOL_ERROR);
  ck_assert_ptr_null(mp_conn_tls(s->c));
  mp_conn_close(s->c);
}

/* RFC 3207 4.2 (curl: "Pipelining in response is forbidden"): bytes after
 * the go-ahead refuse the upgrade; the cb never runs. */
START_TEST(test_starttls_pipelined)
{
  fx_init();
  fx_tls();
  F.on_both = pipe_greet;
  F.cli.on_line = pipe_cli_line;
  fx_connect();
  fx_run();
  ck_assert_uint_eq(F.cli.nlines, 1);
  ck_assert_int_eq(F.cli.ntls, 0);
  ck_assert_int_eq(F.cli.nerr, 0);
  fx_end();
}
END_TEST

static void disc_connect(struct fx *fx)
{
  /* A client that pipelines a command behind STARTTLS. */
  ck_assert_int_eq(mp_conn_write(fx->cli.c, "STARTTLS\r\nEVIL\r\n", 16), 0);
}

static void disc_srv_line(struct side *s, const char *line, size_t len)
{
  if (strcmp(line, "STARTTLS") == 0) {
    ck_assert_int_eq(mp_conn_write(s->c, "220 go ahead\r\n", 14), 0);
    ck_assert_int_eq(mp_conn_start_tls(s->c, s->fx->sctx, 1, NULL, rec_tls),
                     MP_E_PROTOCOL_ERROR);
    mp_conn_discard_input(s->c);
    ck_assert_uint_eq(mp_conn_buffered(s->c), 0);
    srv_start_tls(s);
  } else {
    ck_assert_str_eq(line, "NOOP"); /* never EVIL */
    ck_assert_int_eq(mp_conn_write(s->c, "250 ok\r\n", 8), 0);
  }
}

static void disc_cli_line(struct side *s, const char *line, size_t len)
{
  if (strcmp(line, "220 go ahead") == 0)
    cli_start_tls(s);
  else if (strcmp(line, "250 ok") == 0)
    mp_conn_close(s->c);
}

static void disc_cli_tls(struct side *s, int status)
{
  ck_assert_int_eq(status, 0);
  ck_assert_int_eq(mp_conn_write(s->c, "NOOP\r\n", 6), 0);
}

/* A server may drop what a client pipelined and then start TLS. */
START_TEST(test_discard_then_tls)
{
  fx_init();
  fx_tls();
  F.on_connect = disc_connect;
  F.srv.on_line = disc_srv_line;
  F.cli.on_line = disc_cli_line;
  F.cli.on_tls = disc_cli_tls;
  fx_connect();
  fx_run();
  ck_assert_int_eq(F.srv.ntls, 1);
  ck_assert_int_eq(F.srv.tls_status, 0);
  ck_assert_int_eq(F.cli.ntls, 1);
  ck_assert_uint_eq(F.srv.nlines, 2);
  assert_line(&F.srv, 1, "NOOP", 4);
  ck_assert_uint_eq(F.cli.nlines, 2);
  ck_assert_int_eq(F.cli.nerr, 0);
  fx_end();
}
END_TEST

static void plain_answer(struct mp_conn *c)
{
  ck_assert_int_eq(mp_conn_write(c, "220 plain server\r\n", 18), 0);
}

static void plain_accept(struct fx *fx)
{
  /* Later than the client's ClientHello, so it meets a handshake. */
  mp_conn_after(fx->srv.c, 30, plain_answer);
}

static void plain_cli_tls(struct side *s, int status)
{
  /* The connection stays open, carrying nothing: the caller closes. */
  ck_assert_int_eq(s->nerr, 0);
  ck_assert_int_eq(mp_conn_write(s->c, "x\r\n", 3), MP_E_PROTOCOL_ERROR);
  ck_assert_ptr_nonnull(mp_tls_error(mp_conn_tls(s->c)));
  s->fx->flag = 1;
  mp_conn_after(s->c, 20, (mp_conn_timer_cb)mp_conn_close);
}

/* A TLS client meets a server that answers in plain text: TLS_FAILED
 * through the tls cb, no line delivered, no on_error. */
START_TEST(test_tls_vs_plain)
{
  fx_init();
  fx_tls();
  F.on_accept = plain_accept;
  F.on_connect = imp_connect;
  F.cli.on_tls = plain_cli_tls;
  fx_connect();
  fx_run();
  ck_assert_int_eq(F.cli.ntls, 1);
  ck_assert_int_eq(F.cli.tls_status, MP_E_TLS_FAILED);
  ck_assert_uint_eq(F.cli.nlines, 0);
  ck_assert_int_eq(F.cli.nerr, 0);
  fx_end();
}
END_TEST

/* The queue cap through TLS: the writer fills its queue until
 * NO_RESOURCES while the reader is paused; then the reader resumes and
 * gets every line that was accepted, intact and in order; then the writer
 * writes once more and closes. A record made but dropped at the cap would
 * break the stream there (bad record MAC: TLS_FAILED, not EOF). */
static int tls_cap_lines, tls_cap_err;

static void cap_fill(struct fx *fx)
{
  enum { PER = 4000 };
  char *chunk = make_lines(PER);
  struct side *s = &fx->cli;
  for (int round = 0; round < 10000; round++) {
    /* Renumber: the lines run on from the last chunk. */
    for (int i = 0; i < PER; i++)
      snprintf(chunk + (size_t)i * LINE_BYTES, LINE_BYTES + 1, LINE_FMT,
               (unsigned)(tls_cap_lines + i) % 1000000u);
    int rc = mp_conn_write(s->c, chunk, (size_t)PER * LINE_BYTES);
    if (rc < 0) {
      tls_cap_err = rc;
      break;
    }
    tls_cap_lines += PER;
  }
  free(chunk);
  mp_conn_resume(fx->srv.c);
}

/* Both handshakes done (in either order): fill. */
static void cap_tls_srv(struct side *s, int status)
{
  ck_assert_int_eq(status, 0);
  mp_conn_pause(s->c);
  if (++s->fx->flag == 2)
    cap_fill(s->fx);
}

static void cap_tls_cli(struct side *s, int status)
{
  ck_assert_int_eq(status, 0);
  if (++s->fx->flag == 2)
    cap_fill(s->fx);
}

static int srv_has_all(struct fx *fx)
{
  return (tls_cap_err && fx->srv.nlines >= (size_t)tls_cap_lines) ||
         fx->srv.gone;
}

static void cap_end_line(struct side *s, const char *line, size_t len)
{
  if (strcmp(line, "END") == 0)
    mp_conn_close(s->c);
}

START_TEST(test_tls_queue_cap)
{
  tls_cap_lines = tls_cap_err = 0;
  fx_init();
  fx_tls();
  F.on_accept = imp_accept;
  F.on_connect = imp_connect;
  F.srv.on_tls = cap_tls_srv;
  F.cli.on_tls = cap_tls_cli;
  fx_connect();
  F.until = srv_has_all;
  fx_run();
  ck_assert_int_eq(tls_cap_err, MP_E_NO_RESOURCES);
  ck_assert_int_eq(F.srv.nerr, 0);
  ck_assert_int_eq(F.cli.nerr, 0);
  assert_numbered(&F.srv, tls_cap_lines);
  ck_assert_int_eq(mp_conn_write(F.cli.c, "END\r\n", 5), 0);
  F.srv.on_line = cap_end_line;
  F.until = both_gone;
  fx_run();
  ck_assert_uint_eq(F.srv.nlines, (size_t)tls_cap_lines + 1);
  assert_line(&F.srv, (size_t)tls_cap_lines, "END", 3);
  ck_assert_int_eq(F.cli.err, MP_E_CONNECTION_CLOSED);
  fx_end();
}
END_TEST

static Suite *conn_suite(void)
{
  Suite *s = suite_create("conn");
  TCase *tc = tcase_create("plain");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_connect_ok);
  tcase_add_test(tc, test_connect_refused);
  tcase_add_test(tc, test_connect_twice);
  tcase_add_loop_test(tc, test_connect_timeout, 0, 2);
  tcase_add_loop_test(tc, test_framing, 0, NFRAME * 2);
  tcase_add_loop_test(tc, test_default_limit, 0, 2);
  tcase_add_loop_test(tc, test_many_lines, 0, 2);
  tcase_add_test(tc, test_pause_resume);
  tcase_add_loop_test(tc, test_expect_raw, 0, 2);
  tcase_add_test(tc, test_deadline_drip);
  tcase_add_test(tc, test_deadline_cleared);
  tcase_add_test(tc, test_deadline_many);
  tcase_add_test(tc, test_deadline_moved_later);
  tcase_add_test(tc, test_eof);
  tcase_add_loop_test(tc, test_reset, 0, 2);
  tcase_add_loop_test(tc, test_close_flushes, 0, 2);
  tcase_add_test(tc, test_close_unread_input);
  tcase_add_test(tc, test_linger_bounded);
  tcase_add_test(tc, test_close_in_on_line);
  tcase_add_test(tc, test_double_close);
  tcase_add_test(tc, test_close_unconnected);
  tcase_add_test(tc, test_close_connecting);
  tcase_add_test(tc, test_after);
  tcase_add_test(tc, test_after_then_close);
  tcase_add_test(tc, test_queue_cap);
  tcase_add_test(tc, test_printf);
  tcase_add_test(tc, test_peer_name);
  tcase_add_test(tc, test_peer_name_unconnected);
  suite_add_tcase(s, tc);
  tc = tcase_create("tls");
  tcase_set_timeout(tc, 60);
  tcase_add_loop_test(tc, test_starttls, 0, 2);
  tcase_add_test(tc, test_implicit_tls);
  tcase_add_test(tc, test_starttls_pipelined);
  tcase_add_test(tc, test_discard_then_tls);
  tcase_add_test(tc, test_tls_vs_plain);
  tcase_add_test(tc, test_tls_queue_cap);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  /* A write to a reset peer must come back as an error, not kill us. */
  signal(SIGPIPE, SIG_IGN);
  SRunner *sr = srunner_create(conn_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
