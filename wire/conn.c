/* The line engine: libuv TCP, an optional TLS layer, CRLF framing with hard
 * limits, a write queue, a deadline and one user timer (wire/conn.h).
 * Closing lives in wire/conn_close.c, the quiet-close queue in
 * wire/conn_quiet.c, output shaping for fake servers in wire/conn_shape.c;
 * the struct they share is in wire/conn_internal.h.
 *
 * Input: every read lands in one buffer per thread; ciphertext goes through
 * the TLS layer; plaintext is appended to the connection's own buffer. Once
 * everything in it was delivered a buffer of its first size (256 bytes) is
 * kept for the next read, a larger one freed, so an idle connection costs
 * 256 bytes at most and a busy one no malloc a read. Lines are sliced in
 * place (nginx) and delivered one at a time; a callback may pause, start
 * TLS or close between any two lines.
 *
 * The transport is TCP through libuv, or memory when a memnet is installed
 * on the loop (wire/memnet.h, wire/conn_mem.c): the seam is the few places
 * below that test c->mem (read on and off, send, connect, the peer's
 * name), and the memory end calls the same read and connect callbacks as
 * libuv does, so framing, TLS, deadlines and closing are one code. */
#include "wire/conn.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "wire/conn_internal.h"
#include "wire/deadline.h"
#include "wire/errors.h"
#include "wire/memnet.h"
#include "wire/tls.h"

#define READ_CHUNK 65536
#define MAX_LINE_CAP (1u << 20)

struct write_req {
  uv_write_t req;
  struct mp_conn *conn;
  size_t len;
  char data[];
};

static _Thread_local char read_buf[READ_CHUNK];
static _Thread_local char plain_buf[READ_CHUNK];

static void conn_deliver(struct mp_conn *c);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void read_start(struct mp_conn *c);
static void deadline_passed(struct mp_deadline *d);

uint64_t mp_now_us(void)
{
  return uv_hrtime() / 1000;
}

struct mp_conn *mp_conn_new(uv_loop_t *loop, const struct mp_conn_cbs *cbs,
                            void *data)
{
  struct mp_conn *c = calloc(1, sizeof(*c));
  if (!c)
    return NULL;
  if (mp_deadline_join(&c->dl, loop, deadline_passed) < 0) {
    free(c);
    return NULL;
  }
  mp_conn__sock_opened(c);
  c->loop = loop;
  if (cbs)
    c->cbs = *cbs;
  c->data = data;
  c->in.max_line = MP_CONN_MAX_LINE;
  uv_tcp_init(loop, &c->tcp);
  uv_timer_init(loop, &c->user.timer);
  uv_timer_init(loop, &c->aux);
  uv_timer_init(loop, &c->shape.timer);
  uv_idle_init(loop, &c->turn);
  c->turn.data = c;
  c->tcp.data = c->user.timer.data = c->aux.data = c;
  c->shape.timer.data = c;
  c->handles = 5;
  return c;
}

void mp_conn_set_cbs(struct mp_conn *c, const struct mp_conn_cbs *cbs)
{
  if (c->state == ST_CLOSING) {
    c->cbs.on_close = cbs->on_close;
    return;
  }
  c->cbs = *cbs;
}

/* Maps a libuv connect status to our names. */
static int connect_err(int status)
{
  switch (status) {
  case UV_ECONNREFUSED:
    return MP_E_CONNECT_REFUSED;
  case UV_ETIMEDOUT:
    return MP_E_CONNECT_TIMEOUT;
  case UV_EMFILE:
  case UV_ENFILE:
  case UV_ENOBUFS:
  case UV_ENOMEM:
  case UV_EADDRNOTAVAIL:
    return MP_E_NO_RESOURCES;
  case UV_ECONNRESET:
  case UV_EPIPE:
    /* The handshake completed (a refusal is ECONNREFUSED) and the peer
     * reset before we saw it: the server accepted, then hung up. */
    return MP_E_CONNECTION_CLOSED;
  default:
    return MP_E_CONNECT_FAILED;
  }
}

/* Reports the connect outcome once; on failure the connection closes. */
static void connect_done(struct mp_conn *c, int status)
{
  mp_conn_connect_cb cb = c->connect_cb;
  c->connect_cb = NULL;
  uv_timer_stop(&c->aux);
  if (status == 0) {
    c->state = ST_OPEN;
    uv_tcp_nodelay(&c->tcp, 1);
    read_start(c);
  }
  if (status != 0)
    mp_conn__close_now(c, 0);
  if (cb)
    cb(c, status);
}

static void on_connect(uv_connect_t *req, int status)
{
  struct mp_conn *c = req->data;
  if (status == UV_ECANCELED || !c->connect_cb)
    return; /* we gave up already (timeout) and reported it */
  if (status == UV_ECONNRESET || status == UV_EPIPE) {
    /* The handshake completed (a refused SYN is ECONNREFUSED) and the
     * server reset the connection before we saw it up: a connection the
     * server closed, as it would be had we looked a moment earlier, not
     * a failure to connect. */
    connect_done(c, 0);
    mp_conn__fail(c, MP_E_CONNECTION_CLOSED);
    return;
  }
  connect_done(c, status == 0 ? 0 : connect_err(status));
}

static void on_connect_timeout(uv_timer_t *t)
{
  struct mp_conn *c = t->data;
  connect_done(c, MP_E_CONNECT_TIMEOUT);
}

int mp_conn_connect(struct mp_conn *c, const struct sockaddr *addr,
                    uint64_t timeout_ms, mp_conn_connect_cb cb)
{
  if (c->state != ST_NEW) {
    mp_conn__close_now(c, 0); /* conn.h: a negative return leaves it closing */
    return MP_E_CONNECT_FAILED;
  }
  c->connect_req.data = c;
  struct mp_memnet *net = mp_memnet_of(c->loop);
  int rc;
  if (net) {
    rc = mp_conn__mem_connect(c, net, addr);
  } else {
    rc = uv_tcp_connect(&c->connect_req, &c->tcp, addr, on_connect);
    if ((rc == UV_EMFILE || rc == UV_ENFILE) &&
        mp_conn__quiet_flush(c->loop) > 0)
      rc = uv_tcp_connect(&c->connect_req, &c->tcp, addr, on_connect);
  }
  if (rc < 0) {
    mp_conn__close_now(c, 0);
    return connect_err(rc);
  }
  c->state = ST_CONNECTING;
  c->connect_cb = cb;
  if (timeout_ms > 0) {
    /* Never early: the loop's clock is read once per turn (a connect made
     * late in a busy turn would time out early by that much) and counts
     * whole milliseconds (one more). */
    uv_update_time(c->loop);
    uv_timer_start(&c->aux, on_connect_timeout, timeout_ms + 1, 0);
  }
  return 0;
}

static void alloc_read(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  (void)h;
  (void)suggested;
  buf->base = read_buf;
  buf->len = sizeof(read_buf);
}

/* Starts reading whatever the state (a lingering close reads too). */
int mp_conn__read_any(struct mp_conn *c)
{
  if (c->mem)
    return mp_conn__mem_read_start(c);
  return uv_read_start((uv_stream_t *)&c->tcp, alloc_read, on_read);
}

static void read_start(struct mp_conn *c)
{
  if (c->reading || c->paused || c->state != ST_OPEN || c->in.eof_err)
    return;
  if (mp_conn__read_any(c) == 0)
    c->reading = 1;
}

int mp_conn_adopt(struct mp_conn *c, void *server_stream)
{
  int rc = uv_accept(server_stream, (uv_stream_t *)&c->tcp);
  if (rc < 0)
    return rc == UV_EMFILE || rc == UV_ENFILE ? MP_E_NO_RESOURCES
                                              : MP_E_CONNECTION_CLOSED;
  uv_tcp_nodelay(&c->tcp, 1);
  c->state = ST_OPEN;
  read_start(c);
  return 0;
}

/* The deadline passed (from the loop's deadline queue). */
static void deadline_passed(struct mp_deadline *d)
{
  struct mp_conn *c =
      (struct mp_conn *)((char *)d - offsetof(struct mp_conn, dl));

  if (c->state == ST_CONNECTING) {
    connect_done(c, MP_E_CONNECT_TIMEOUT);
    return;
  }
  c->quiet.expired = 1;
  mp_conn__fail(c, MP_E_TIMEOUT);
}

void mp_conn_set_deadline_at(struct mp_conn *c, uint64_t at_us)
{
  if (c->state == ST_CLOSING)
    return;
  mp_deadline_set(&c->dl, at_us);
}

void mp_conn_set_deadline(struct mp_conn *c, uint64_t ms)
{
  /* Counted on the precise clock from now: the loop's clock is read once
   * per turn and counts whole milliseconds (a deadline set late in a busy
   * turn would fire early by that much). */
  mp_conn_set_deadline_at(c, ms == 0 ? 0 : mp_now_us() + ms * 1000);
}

uint64_t mp_conn_deadline_at(const struct mp_conn *c)
{
  return c->dl.at_us;
}

uint64_t mp_conn_deadline_left(const struct mp_conn *c)
{
  if (c->dl.at_us == 0)
    return UINT64_MAX;
  uint64_t now = mp_now_us();
  return now >= c->dl.at_us ? 0 : (c->dl.at_us - now) / 1000;
}

/* ---- output ---------------------------------------------------------- */

static void on_write(uv_write_t *req, int status)
{
  struct write_req *w = (struct write_req *)req;
  struct mp_conn *c = w->conn;
  c->out.queued -= w->len;
  c->out.queued_mem -= sizeof(*w) + w->len;
  free(w);
  if (status == UV_ECANCELED)
    return;
  if (status < 0)
    mp_conn__fail(c, MP_E_CONNECTION_CLOSED);
}

/* Puts bytes on the socket: what the kernel takes now, the rest queued in
 * one allocation freed by its callback. force skips the queue cap: TLS
 * output already taken out of the layer must go out or the stream breaks
 * (the cap was checked against the plaintext). */
static int wire_send(struct mp_conn *c, const char *buf, size_t len, int force)
{
  if (len == 0)
    return 0;
  /* The cap counts what the queue costs: many small writes to a peer that
   * does not read cost their requests too, not only their bytes. */
  if (!force &&
      c->out.queued_mem + sizeof(struct write_req) + len > MP_CONN_MAX_QUEUE)
    return MP_E_NO_RESOURCES;
  c->out.bytes += len;
  if (c->mem)
    return mp_conn__mem_send(c, buf, len);
  if (c->out.queued == 0) {
    uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n > 0) {
      buf += n;
      len -= (size_t)n;
    }
    if (len == 0)
      return 0;
  }
  struct write_req *w = malloc(sizeof(*w) + len);
  if (!w)
    return MP_E_NO_RESOURCES;
  memcpy(w->data, buf, len);
  w->conn = c;
  w->len = len;
  uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
  int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
  if (rc < 0) {
    free(w);
    return MP_E_CONNECTION_CLOSED;
  }
  c->out.queued += len;
  c->out.queued_mem += sizeof(*w) + len;
  return 0;
}

/* wire_send for wire/conn_shape.c (kept apart so that send_bytes below
 * still calls a static function the compiler may inline). */
int mp_conn__wire_send(struct mp_conn *c, const char *buf, size_t len,
                       int force)
{
  return wire_send(c, buf, len, force);
}

/* Every byte for the socket passes here. */
static int send_bytes(struct mp_conn *c, const char *buf, size_t len, int force)
{
  if (len == 0)
    return 0;
  if (c->shape.on)
    return mp_conn__shape_hold(c, buf, len, force);
  return wire_send(c, buf, len, force);
}

size_t mp_conn_queued(const struct mp_conn *c)
{
  return c->out.queued + mp_conn__held(c);
}

/* Moves the TLS layer's ciphertext to the socket. */
int mp_conn__flush_tls(struct mp_conn *c)
{
  char out[16384];
  while (c->tls.layer && mp_tls_pending(c->tls.layer) > 0) {
    size_t n = mp_tls_drain(c->tls.layer, out, sizeof(out));
    if (n == 0)
      break;
    int rc = send_bytes(c, out, n, 1);
    if (rc < 0)
      return rc;
  }
  return 0;
}

int mp_conn_write(struct mp_conn *c, const void *buf, size_t len)
{
  if (c->state != ST_OPEN)
    return MP_E_CONNECTION_CLOSED;
  if (!c->tls.layer)
    return send_bytes(c, buf, len, 0);
  if (c->tls.handshaking)
    return MP_E_PROTOCOL_ERROR; /* nothing may pass before the handshake */
  /* The cap is checked before encrypting: once the records are made they
   * cannot be taken back. */
  if (mp_conn_queued(c) + len > MP_CONN_MAX_QUEUE)
    return MP_E_NO_RESOURCES;
  int rc = mp_tls_write(c->tls.layer, buf, len);
  if (rc < 0)
    return rc;
  return mp_conn__flush_tls(c);
}

int mp_conn_printf(struct mp_conn *c, const char *fmt, ...)
{
  char line[MP_CONN_MAX_LINE + 3];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  /* Too long: refused whole; a truncated line would lose its CRLF and run
   * into the next command. */
  if (n < 0 || (size_t)n >= sizeof(line))
    return MP_E_PROTOCOL_ERROR;
  return mp_conn_write(c, line, (size_t)n);
}

/* ---- input ----------------------------------------------------------- */

/* The input buffer's first size, and the most an idle connection keeps. */
#define INPUT_FIRST 256

/* Appends plaintext to the connection's buffer (growing keeps a byte
 * spare past the bytes, as it always did). */
static int buffer_input(struct mp_conn *c, const char *buf, size_t n)
{
  if (conn_buf_append(&c->in.buf, buf, n, INPUT_FIRST, 1) < 0)
    return MP_E_NO_RESOURCES;
  return 0;
}

/* Once everything in the buffer was delivered: empties it, and frees it
 * when it grew past its first size. */
static void release_input(struct mp_conn *c)
{
  if (c->in.buf.off < c->in.buf.len)
    return;
  if (c->in.buf.cap <= INPUT_FIRST) {
    c->in.buf.off = c->in.buf.len = 0;
    return;
  }
  free(c->in.buf.p);
  c->in.buf.p = NULL;
  c->in.buf.off = c->in.buf.len = c->in.buf.cap = 0;
}

static int can_deliver(const struct mp_conn *c)
{
  return c->state == ST_OPEN && !c->paused && !c->tls.handshaking;
}

/* Delivers whole lines (and raw bytes) while nobody stops us. */
static void conn_deliver(struct mp_conn *c)
{
  if (c->delivering)
    return; /* the outer loop goes on once the callback returns */
  c->delivering = 1;
  while (can_deliver(c) && c->in.buf.off < c->in.buf.len) {
    char *start = c->in.buf.p + c->in.buf.off;
    size_t avail = c->in.buf.len - c->in.buf.off;
    if (c->in.raw_left > 0) {
      size_t n = avail < c->in.raw_left ? avail : (size_t)c->in.raw_left;
      c->in.raw_left -= n;
      c->in.buf.off += n;
      if (c->cbs.on_raw)
        c->cbs.on_raw(c, start, n, c->in.raw_left == 0);
      continue;
    }
    char *nl = memchr(start, '\n', avail);
    if (!nl) {
      /* +1: the CR of a CRLF may already be here. */
      if (avail > c->in.max_line + 1)
        mp_conn__fail(c, MP_E_PROTOCOL_ERROR);
      break;
    }
    size_t len = (size_t)(nl - start);
    c->in.buf.off += len + 1;
    if (len > 0 && start[len - 1] == '\r')
      len--;
    if (len > c->in.max_line) {
      mp_conn__fail(c, MP_E_PROTOCOL_ERROR);
      break;
    }
    start[len] = '\0';
    if (c->cbs.on_line)
      c->cbs.on_line(c, start, len);
  }
  c->delivering = 0;
  if (c->state == ST_CLOSING)
    return;
  release_input(c);
  /* Everything before the peer's end was delivered (a partial line is
   * lost with it); a paused connection hears of it after resume. */
  if (c->in.eof_err && !c->paused)
    mp_conn__fail(c, c->in.eof_err);
}

/* Takes plaintext from the wire (or the TLS layer) and delivers it. */
static void conn_input(struct mp_conn *c, const char *buf, size_t n)
{
  if (buffer_input(c, buf, n) < 0) {
    mp_conn__fail(c, MP_E_NO_RESOURCES);
    return;
  }
  conn_deliver(c);
}

/* Finishes the TLS handshake, the caller's cb decides what happens next. */
static void tls_finish(struct mp_conn *c, int status)
{
  mp_conn_tls_cb cb = c->tls.cb;
  c->tls.cb = NULL;
  c->tls.handshaking = 0;
  if (status < 0) {
    c->tls.handshaking = 1; /* keep lines and writes blocked */
    c->tls.failed = 1;
  }
  if (cb)
    cb(c, status);
}

/* Runs the TLS layer after ciphertext arrived: handshake, then records. */
static void tls_pump(struct mp_conn *c)
{
  if (c->tls.handshaking) {
    if (c->tls.failed)
      return; /* the handshake failed earlier; wait for the caller */
    int rc = mp_tls_handshake(c->tls.layer);
    /* Done: our last flight (the client's Finished) waits for what the
     * callback writes (EHLO, CAPA, ...), so both leave in one write; a
     * callback that closes sends it with its close_notify. */
    if (rc != 0 && mp_conn__flush_tls(c) < 0) {
      mp_conn__fail(c, MP_E_CONNECTION_CLOSED);
      return;
    }
    if (rc == MP_EAGAIN)
      return;
    tls_finish(c, rc);
    if (rc == 0 && c->state == ST_OPEN && mp_conn__flush_tls(c) < 0) {
      mp_conn__fail(c, MP_E_CONNECTION_CLOSED);
      return;
    }
    if (rc < 0 || c->state != ST_OPEN)
      return;
  }
  for (;;) {
    int n = mp_tls_read(c->tls.layer, plain_buf, sizeof(plain_buf));
    if (mp_conn__flush_tls(c) < 0) {
      mp_conn__fail(c, MP_E_CONNECTION_CLOSED);
      return;
    }
    if (n == MP_EAGAIN)
      break;
    if (n < 0) {
      /* close_notify (or a bad record): deliver what came before it. */
      mp_conn__read_stop(c);
      c->in.eof_err = n;
      break;
    }
    if (buffer_input(c, plain_buf, (size_t)n) < 0) {
      mp_conn__fail(c, MP_E_NO_RESOURCES);
      return;
    }
  }
  conn_deliver(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
  struct mp_conn *c = s->data;
  if (nread == 0)
    return;
  if (c->linger.on) {
    mp_conn__linger_read(c, nread);
    return;
  }
  if (nread < 0) {
    mp_conn__read_stop(c);
    if (nread == UV_ENOBUFS) {
      mp_conn__fail(c, MP_E_NO_RESOURCES);
      return;
    }
    /* EOF, reset, ...: lines already buffered (a paused connection's)
     * are delivered first. */
    c->in.eof_err = MP_E_CONNECTION_CLOSED;
    conn_deliver(c);
    return;
  }
  c->in.bytes += (uint64_t)nread;
  if (!c->tls.layer) {
    conn_input(c, buf->base, (size_t)nread);
    return;
  }
  if (mp_tls_feed(c->tls.layer, buf->base, (size_t)nread) < 0) {
    mp_conn__fail(c, MP_E_NO_RESOURCES);
    return;
  }
  tls_pump(c);
}

/* The memory transport's read and connect (wire/conn_mem.c): what libuv's
 * callbacks would have done. */
void mp_conn__mem_read(struct mp_conn *c, ssize_t nread, char *base)
{
  uv_buf_t b = uv_buf_init(base, nread > 0 ? (unsigned)nread : 0);
  on_read((uv_stream_t *)&c->tcp, nread, &b);
}

void mp_conn__mem_connected(struct mp_conn *c, int status)
{
  on_connect(&c->connect_req, status);
}

/* ---- TLS ------------------------------------------------------------- */

int mp_conn_start_tls(struct mp_conn *c, struct mp_tls_ctx *ctx, int is_server,
                      const char *host, mp_conn_tls_cb cb)
{
  if (c->state != ST_OPEN || c->tls.layer)
    return MP_E_TLS_FAILED;
  if (mp_conn_buffered(c) > 0)
    return MP_E_PROTOCOL_ERROR; /* RFC 3207 4.2: pipelined after 220 */
  c->tls.layer = mp_tls_new(ctx, is_server, host);
  if (!c->tls.layer)
    return MP_E_NO_RESOURCES;
  c->tls.handshaking = 1;
  if (!is_server) {
    int rc = mp_tls_handshake(c->tls.layer); /* the ClientHello */
    if (mp_conn__flush_tls(c) < 0)
      rc = MP_E_CONNECTION_CLOSED;
    if (rc != MP_EAGAIN && rc < 0) {
      c->tls.failed = 1; /* cb never runs: a failed call has no callback */
      return rc;
    }
  }
  c->tls.cb = cb;
  read_start(c);
  return 0;
}

struct mp_tls *mp_conn_tls(const struct mp_conn *c)
{
  return c->tls.layer;
}

size_t mp_conn_buffered(const struct mp_conn *c)
{
  return c->in.buf.len - c->in.buf.off;
}

const char *mp_conn_peek(const struct mp_conn *c)
{
  return c->in.buf.p ? c->in.buf.p + c->in.buf.off : "";
}

uint64_t mp_conn_rtt_us(const struct mp_conn *c)
{
  uv_os_fd_t fd;
  struct tcp_info ti;
  socklen_t len = sizeof(ti);
  if (!c || uv_fileno((const uv_handle_t *)&c->tcp, &fd) != 0 ||
      getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
    return 0;
  return ti.tcpi_rtt;
}

void mp_conn_discard_input(struct mp_conn *c)
{
  c->in.buf.off = c->in.buf.len;
  if (!c->delivering)
    release_input(c);
}

void mp_conn_expect_raw(struct mp_conn *c, uint64_t n)
{
  c->in.raw_left = n;
}

/* ---- pause, timers --------------------------------------------------- */

void mp_conn_pause(struct mp_conn *c)
{
  c->paused = 1;
  mp_conn__read_stop(c);
}

static void on_resume(uv_timer_t *t)
{
  struct mp_conn *c = t->data;
  conn_deliver(c);
  read_start(c); /* no-op if paused again, closing or at EOF */
}

void mp_conn_resume(struct mp_conn *c)
{
  if (c->state == ST_CLOSING || !c->paused)
    return;
  c->paused = 0;
  if (c->delivering) {
    read_start(c); /* the delivery loop we are inside of goes on */
    return;
  }
  if (c->in.buf.off < c->in.buf.len || c->in.eof_err) {
    /* Buffered bytes (and a pending EOF) first, then new ones: reading
     * starts only after on_resume delivered what is here. */
    uv_timer_start(&c->aux, on_resume, 0, 0);
    return;
  }
  read_start(c);
}

static void on_user_timer(uv_timer_t *t)
{
  struct mp_conn *c = t->data;
  mp_conn_timer_cb cb = c->user.cb;
  c->user.cb = NULL;
  if (cb)
    cb(c);
}

/* The next loop turn: a drip piece, the user's 0 ms timer. */
void mp_conn__on_turn(uv_idle_t *h)
{
  struct mp_conn *c = h->data;
  int shape = c->shape.next_turn, user = c->user.next_turn;
  c->shape.next_turn = c->user.next_turn = 0;
  uv_idle_stop(h);
  if (shape)
    mp_conn__shape_step(c);
  if (user && c->state != ST_CLOSING) {
    mp_conn_timer_cb cb = c->user.cb;
    c->user.cb = NULL;
    if (cb)
      cb(c);
  }
}

void mp_conn_after(struct mp_conn *c, uint64_t ms, mp_conn_timer_cb cb)
{
  if (c->state == ST_CLOSING)
    return;
  c->user.cb = cb;
  if (ms == 0) {
    /* On the next loop turn, never in this one: a 0 ms libuv timer armed
     * from a timer callback runs in the same pass (libuv 1.44), so a
     * callback that re-arms itself would never let I/O run. */
    uv_timer_stop(&c->user.timer);
    c->user.next_turn = 1;
    uv_idle_start(&c->turn, mp_conn__on_turn);
    return;
  }
  c->user.next_turn = 0;
  /* A delay is never shorter than asked: the loop's clock counts whole
   * milliseconds, so a timer can fire up to 1 ms before ms real ones. */
  if (ms > 0) {
    uv_update_time(c->loop);
    ms++;
  }
  uv_timer_start(&c->user.timer, on_user_timer, ms, 0);
}

void mp_conn_cancel_timer(struct mp_conn *c)
{
  c->user.cb = NULL;
  c->user.next_turn = 0;
  uv_timer_stop(&c->user.timer);
}

/* ---- errors ---------------------------------------------------------- */

/* A fatal error: tell the user once, then close. */
void mp_conn__fail(struct mp_conn *c, int err)
{
  if (c->state == ST_CLOSING)
    return;
  void (*cb)(struct mp_conn *, int) = c->cbs.on_error;
  c->cbs.on_error = NULL;
  mp_conn__read_stop(c);
  if (cb)
    cb(c, err);
  mp_conn__close_now(c, 0);
}

/* ---- accessors ------------------------------------------------------- */

void *mp_conn_data(const struct mp_conn *c)
{
  return c->data;
}

void mp_conn_set_data(struct mp_conn *c, void *data)
{
  c->data = data;
}

uv_loop_t *mp_conn_loop(const struct mp_conn *c)
{
  return c->loop;
}

void mp_conn_set_max_line(struct mp_conn *c, size_t max)
{
  c->in.max_line = max > MAX_LINE_CAP ? MAX_LINE_CAP : max;
}

uint64_t mp_conn_bytes_in(const struct mp_conn *c)
{
  return c->in.bytes;
}

uint64_t mp_conn_bytes_out(const struct mp_conn *c)
{
  return c->out.bytes;
}

void mp_conn_peer_name(const struct mp_conn *c, char *buf, size_t len)
{
  struct sockaddr_storage ss;
  int n = sizeof(ss);
  char ip[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (len == 0)
    return;
  buf[0] = '\0';
  if (c->mem)
    ss = *mp_mem_end_peer(c->mem);
  else if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &n) < 0)
    return;
  if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    uv_ip6_name(a, ip, sizeof(ip));
    port = ntohs(a->sin6_port);
    snprintf(buf, len, "[%s]:%d", ip, port);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    uv_ip4_name(a, ip, sizeof(ip));
    port = ntohs(a->sin_port);
    snprintf(buf, len, "%s:%d", ip, port);
  }
}
