/* The line engine: libuv TCP, an optional TLS layer, CRLF framing with hard
 * limits, a write queue, a deadline and one user timer (wire/conn.h).
 *
 * Input: every read lands in one buffer per thread; ciphertext goes through
 * the TLS layer; plaintext is appended to the connection's own buffer, which
 * exists only while it holds undelivered bytes, so an idle connection costs
 * no buffer at all. Lines are sliced in place (nginx) and delivered one at a
 * time; a callback may pause, start TLS or close between any two lines. */
#include "wire/conn.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <uv.h>

#include "wire/deadline.h"
#include "wire/errors.h"
#include "wire/tls.h"

#define READ_CHUNK 65536
#define LINGER_MS 2000
#define MAX_LINE_CAP (1u << 20)

enum conn_state {
  ST_NEW = 0, /* created, not connected */
  ST_CONNECTING,
  ST_OPEN,
  ST_CLOSING /* handles closing; only on_close may still run */
};

struct mp_conn {
  uv_loop_t *loop;
  uv_tcp_t tcp;
  uv_timer_t timer; /* the user's */
  uv_timer_t aux;   /* connect timeout, resume, linger */
  uv_timer_t shape; /* mp_conn_drip_output / mp_conn_cut_output */
  uv_idle_t turn;   /* "the next loop turn" for the user timer and shape */
  uv_connect_t connect_req;
  uv_shutdown_t shutdown_req;
  struct mp_conn_cbs cbs;
  void *data;
  enum conn_state state;
  int handles; /* open handles still to close */
  unsigned reading : 1;
  unsigned paused : 1;
  unsigned delivering : 1;
  unsigned lingering : 1;
  unsigned shut_done : 1;    /* lingering: our FIN is out after the queue */
  unsigned tls_failed : 1;   /* the handshake failed: nothing flows */
  unsigned quiet : 1;        /* in the quiet-close queue (conn_close_soon) */
  unsigned expired : 1;      /* the deadline passed: closes go to the queue */
  unsigned sock_counted : 1; /* counted in socks_open */
  struct mp_conn *quiet_prev, *quiet_next;
  mp_conn_connect_cb connect_cb;
  mp_conn_timer_cb timer_cb;
  mp_conn_tls_cb tls_cb;
  struct mp_tls *tls;
  int handshaking;
  int eof_err; /* the peer is done (EOF, reset, close_notify): reported
                  once the bytes before it were delivered */
  char *in;    /* undelivered plaintext: [in_off, in_len) */
  size_t in_off, in_len, in_cap;
  size_t max_line;
  uint64_t raw_left;
  size_t queued;         /* bytes handed to libuv, not yet written */
  struct mp_deadline dl; /* the deadline, in the loop's queue */
  uint64_t bytes_in, bytes_out;
  /* Output shaping (mp_conn_drip_output, mp_conn_cut_output): wire bytes
   * held in [held_off, held_len) until their turn. */
  char *held;
  size_t held_off, held_len, held_cap;
  uint32_t drip_bytes; /* 0: no dripping */
  uint64_t drip_every_ms;
  unsigned cut_left;        /* records before the cut; 0: no cut */
  unsigned char cut_hdr[5]; /* the record header being read */
  size_t cut_hdr_len;
  size_t cut_body; /* body bytes left of the current record */
  char *cut_tail;  /* sent in place of what follows the cut */
  size_t cut_tail_len;
  unsigned turn_user : 1;  /* the user timer waits for the next turn */
  unsigned turn_shape : 1; /* a drip piece waits for the next turn */
  size_t queued_mem;       /* heap the write queue holds (bytes and the
                              request around them): what the cap counts */
  unsigned shaping : 1;    /* output goes through held */
  unsigned cut_done : 1;   /* the cut happened: output is dropped */
};

struct write_req {
  uv_write_t req;
  struct mp_conn *conn;
  size_t len;
  char data[];
};

static _Thread_local char read_buf[READ_CHUNK];
static _Thread_local char plain_buf[READ_CHUNK];

/* Graceful closes after a deadline passed (a probe that timed out), with
 * nothing left to lose, wait here for the idle phase of a loop turn, after
 * that turn's timers and I/O: on loopback close() runs the peer's whole
 * FIN processing inline (~15 us), and when thousands of deadlines expire
 * together each result would otherwise wait for the close() of every
 * probe before it. Each turn closes for a quarter of the time the rest of
 * the turn took (at least QUIET_BUDGET_US, at least QUIET_MIN sockets), so
 * results go first and closes still keep up with a busy loop; and none
 * while a deadline of the loop passes within QUIET_GUARD_US, so a close
 * never holds up a result that is due (they wait until the deadlines
 * thin out, bounded by QUIET_MAX and the descriptor limit below). Other closes
 * do not wait: a queued socket holds a descriptor that new connections
 * may need (at 9,000 checks in flight with their servers in the process,
 * queueing every close made accepts fail). Past QUIET_MAX waiting, with
 * 3/4 of the descriptor limit in connections, or when a connect finds no
 * descriptor left, sockets close at once. One queue per thread (a loop
 * runs on one thread), for one loop at a time; another loop's connections
 * close at once. */
#define QUIET_BUDGET_US 100
#define QUIET_MIN 4
#define QUIET_MAX 16384
#define QUIET_GUARD_US 50
struct quiet {
  uv_loop_t *loop;
  uv_idle_t *idle;   /* runs while the queue is not empty, else NULL */
  uv_idle_t *orphan; /* one closed by someone else (uv_walk) without our
                        close callback: kept reachable, freed later */
  struct mp_conn *head, *tail;
  size_t n;
  uint64_t last_ns; /* when the last idle callback ended */
  long fd_high;     /* 3/4 of the descriptor limit */
};
static _Thread_local struct quiet quiet;
/* Connections of the process (every thread's) whose socket is not closed
 * yet: what holds descriptors. A socket's descriptor goes with uv_close(),
 * its connection later, after the loop turn's close callbacks; counting
 * connections alive would call a burst of closes inside one turn (a pass
 * of deadlines) still near the limit when it no longer is. */
static atomic_long socks_open;
static size_t quiet_flush(uv_loop_t *loop);

static void conn_deliver(struct mp_conn *c);
static void conn_close_now(struct mp_conn *c, int reset);
static void conn_fail(struct mp_conn *c, int err);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void read_start(struct mp_conn *c);
static void linger_read(struct mp_conn *c, ssize_t nread);
static void deadline_passed(struct mp_deadline *d);

uint64_t mp_now_us(void)
{
  return uv_hrtime() / 1000;
}

static void quiet_unlink(struct mp_conn *c);
static void on_shutdown(uv_shutdown_t *req, int status);
static void on_linger_done(uv_timer_t *t);
static int close_would_lose(const struct mp_conn *c);
static void quiet_maybe_stop(void);

/* c's socket was closed (its descriptor is free). */
static void sock_closed(struct mp_conn *c)
{
  if (!c->sock_counted)
    return;
  c->sock_counted = 0;
  atomic_fetch_sub(&socks_open, 1);
}

static void on_handle_closed(uv_handle_t *h)
{
  struct mp_conn *c = h->data;
  if (--c->handles > 0)
    return;
  if (c->quiet) {
    quiet_unlink(c); /* closed by someone else (uv_walk) while queued */
    quiet_maybe_stop();
  }
  mp_deadline_set(&c->dl, 0); /* none is left by now; one never outlives c */
  if (c->cbs.on_close)
    c->cbs.on_close(c);
  struct mp_deadline dl = c->dl;
  mp_tls_free(c->tls);
  free(c->in);
  free(c->held);
  free(c->cut_tail);
  sock_closed(c); /* closed by someone else (uv_walk) */
  free(c);
  mp_deadline_leave(&dl);
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
  atomic_fetch_add(&socks_open, 1);
  c->sock_counted = 1;
  c->loop = loop;
  if (cbs)
    c->cbs = *cbs;
  c->data = data;
  c->max_line = MP_CONN_MAX_LINE;
  uv_tcp_init(loop, &c->tcp);
  uv_timer_init(loop, &c->timer);
  uv_timer_init(loop, &c->aux);
  uv_timer_init(loop, &c->shape);
  uv_idle_init(loop, &c->turn);
  c->turn.data = c;
  c->tcp.data = c->timer.data = c->aux.data = c;
  c->shape.data = c;
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
    conn_close_now(c, 0);
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
    conn_fail(c, MP_E_CONNECTION_CLOSED);
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
    conn_close_now(c, 0); /* conn.h: a negative return leaves it closing */
    return MP_E_CONNECT_FAILED;
  }
  c->connect_req.data = c;
  int rc = uv_tcp_connect(&c->connect_req, &c->tcp, addr, on_connect);
  if ((rc == UV_EMFILE || rc == UV_ENFILE) && quiet_flush(c->loop) > 0)
    rc = uv_tcp_connect(&c->connect_req, &c->tcp, addr, on_connect);
  if (rc < 0) {
    conn_close_now(c, 0);
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

static void read_start(struct mp_conn *c)
{
  if (c->reading || c->paused || c->state != ST_OPEN || c->eof_err)
    return;
  if (uv_read_start((uv_stream_t *)&c->tcp, alloc_read, on_read) == 0)
    c->reading = 1;
}

static void read_stop(struct mp_conn *c)
{
  if (!c->reading)
    return;
  uv_read_stop((uv_stream_t *)&c->tcp);
  c->reading = 0;
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
  c->expired = 1;
  conn_fail(c, MP_E_TIMEOUT);
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
  c->queued -= w->len;
  c->queued_mem -= sizeof(*w) + w->len;
  free(w);
  if (status == UV_ECANCELED)
    return;
  if (status < 0)
    conn_fail(c, MP_E_CONNECTION_CLOSED);
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
      c->queued_mem + sizeof(struct write_req) + len > MP_CONN_MAX_QUEUE)
    return MP_E_NO_RESOURCES;
  c->bytes_out += len;
  if (c->queued == 0) {
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
  c->queued += len;
  c->queued_mem += sizeof(*w) + len;
  return 0;
}

/* ---- output shaping (servers that misbehave on purpose) ---------------- */

static size_t held_bytes(const struct mp_conn *c)
{
  return c->held_len - c->held_off;
}

/* How many of the n held bytes at p go out before the cut, reading TLS
 * record headers as they pass (RFC 8446 5.1: type, version, 2-byte
 * length); sets *cut when the last record before the cut ends in them. */
static size_t cut_scan(struct mp_conn *c, const unsigned char *p, size_t n,
                       int *cut)
{
  size_t i = 0;
  *cut = 0;
  if (c->cut_left == 0)
    return n;
  while (i < n) {
    if (c->cut_hdr_len < sizeof(c->cut_hdr)) {
      c->cut_hdr[c->cut_hdr_len++] = p[i++];
      if (c->cut_hdr_len == sizeof(c->cut_hdr))
        c->cut_body = ((size_t)c->cut_hdr[3] << 8) | c->cut_hdr[4];
    } else {
      size_t k = n - i < c->cut_body ? n - i : c->cut_body;
      i += k;
      c->cut_body -= k;
    }
    if (c->cut_hdr_len == sizeof(c->cut_hdr) && c->cut_body == 0) {
      c->cut_hdr_len = 0; /* a whole record went by */
      if (--c->cut_left == 0) {
        *cut = 1;
        return i;
      }
    }
  }
  return n;
}

/* Sends up to max held bytes (all of them when max is 0) and does the cut
 * when it comes (*cut set: the caller closes). 0 or a negative code. */
static int shape_send(struct mp_conn *c, size_t max, int *cut)
{
  size_t n = held_bytes(c);
  if (max > 0 && n > max)
    n = max;
  n = cut_scan(c, (const unsigned char *)c->held + c->held_off, n, cut);
  int rc = wire_send(c, c->held + c->held_off, n, 1);
  c->held_off += n;
  if (rc == 0 && *cut) {
    c->cut_done = 1;
    c->held_off = c->held_len; /* the rest never goes out */
    rc = wire_send(c, c->cut_tail, c->cut_tail_len, 1);
  }
  if (c->held_off == c->held_len)
    c->held_off = c->held_len = 0;
  return rc;
}

static void shape_schedule(struct mp_conn *c, uint64_t ms);

static void shape_step(struct mp_conn *c)
{
  int cut = 0;
  if (c->state != ST_OPEN)
    return;
  if (shape_send(c, c->drip_bytes, &cut) < 0) {
    conn_fail(c, MP_E_CONNECTION_CLOSED);
    return;
  }
  if (cut) {
    mp_conn_close(c);
    return;
  }
  if (held_bytes(c) > 0)
    shape_schedule(c, c->drip_bytes ? c->drip_every_ms : 0);
}

static void on_shape(uv_timer_t *t)
{
  shape_step(t->data);
}

static void on_turn(uv_idle_t *h);

/* Arms the next shape step: after ms, or on the next loop turn for 0 (a
 * 0 ms timer armed from a timer callback runs in the same pass with
 * libuv 1.44, so the peer would read every piece at once). */
static void shape_schedule(struct mp_conn *c, uint64_t ms)
{
  if (ms > 0) {
    /* At least ms real ones: the loop clock counts whole milliseconds. */
    uv_update_time(c->loop);
    uv_timer_start(&c->shape, on_shape, ms + 1, 0);
    return;
  }
  c->turn_shape = 1;
  uv_idle_start(&c->turn, on_turn);
}

static int shape_pending(const struct mp_conn *c)
{
  return c->turn_shape || uv_is_active((const uv_handle_t *)&c->shape);
}

/* Holds wire bytes for their turn; the shape timer sends them. */
static int shape_hold(struct mp_conn *c, const char *buf, size_t len, int force)
{
  if (c->cut_done)
    return 0; /* past the cut: dropped */
  if (!force && c->queued_mem + held_bytes(c) + len > MP_CONN_MAX_QUEUE)
    return MP_E_NO_RESOURCES;
  if (c->held_len + len > c->held_cap) {
    if (c->held_off > 0) {
      memmove(c->held, c->held + c->held_off, held_bytes(c));
      c->held_len -= c->held_off;
      c->held_off = 0;
    }
    size_t cap = c->held_cap ? c->held_cap : 4096;
    while (cap < c->held_len + len)
      cap *= 2;
    if (cap != c->held_cap) {
      char *p = realloc(c->held, cap);
      if (!p)
        return MP_E_NO_RESOURCES;
      c->held = p;
      c->held_cap = cap;
    }
  }
  memcpy(c->held + c->held_len, buf, len);
  c->held_len += len;
  if (!shape_pending(c))
    shape_schedule(c, 0);
  return 0;
}

/* Sends what is held at once (a graceful close): 1 if the cut came (the
 * stream ends there), else 0, or a negative code. */
static int shape_flush(struct mp_conn *c)
{
  int cut = 0;
  uv_timer_stop(&c->shape);
  c->turn_shape = 0;
  if (held_bytes(c) == 0)
    return 0;
  int rc = shape_send(c, 0, &cut);
  return rc < 0 ? rc : cut;
}

/* Every byte for the socket passes here. */
static int send_bytes(struct mp_conn *c, const char *buf, size_t len, int force)
{
  if (len == 0)
    return 0;
  if (c->shaping)
    return shape_hold(c, buf, len, force);
  return wire_send(c, buf, len, force);
}

size_t mp_conn_queued(const struct mp_conn *c)
{
  return c->queued + held_bytes(c);
}

static void shape_update(struct mp_conn *c)
{
  c->shaping = c->drip_bytes > 0 || c->cut_left > 0 || c->cut_done;
  /* Bytes held for a drip that stopped go out on the next turn. */
  if (c->state == ST_OPEN && held_bytes(c) > 0 && !shape_pending(c))
    shape_schedule(c, 0);
}

void mp_conn_drip_output(struct mp_conn *c, uint32_t bytes, uint64_t every_ms)
{
  c->drip_bytes = bytes;
  c->drip_every_ms = every_ms;
  shape_update(c);
}

int mp_conn_cut_output(struct mp_conn *c, unsigned records, const void *tail,
                       size_t len)
{
  char *t = NULL;
  if (len > 0) {
    t = malloc(len);
    if (!t)
      return MP_E_NO_RESOURCES;
    memcpy(t, tail, len);
  }
  free(c->cut_tail);
  c->cut_tail = t;
  c->cut_tail_len = len;
  c->cut_left = records;
  c->cut_hdr_len = 0;
  c->cut_body = 0;
  shape_update(c);
  return 0;
}

/* Moves the TLS layer's ciphertext to the socket. */
static int flush_tls(struct mp_conn *c)
{
  char out[16384];
  while (c->tls && mp_tls_pending(c->tls) > 0) {
    size_t n = mp_tls_drain(c->tls, out, sizeof(out));
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
  if (!c->tls)
    return send_bytes(c, buf, len, 0);
  if (c->handshaking)
    return MP_E_PROTOCOL_ERROR; /* nothing may pass before the handshake */
  /* The cap is checked before encrypting: once the records are made they
   * cannot be taken back. */
  if (mp_conn_queued(c) + len > MP_CONN_MAX_QUEUE)
    return MP_E_NO_RESOURCES;
  int rc = mp_tls_write(c->tls, buf, len);
  if (rc < 0)
    return rc;
  return flush_tls(c);
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

/* Appends plaintext to the connection's buffer. */
static int buffer_input(struct mp_conn *c, const char *buf, size_t n)
{
  if (c->in_off > 0 && c->in_off == c->in_len)
    c->in_off = c->in_len = 0;
  if (c->in_len + n > c->in_cap) {
    if (c->in_off > 0) {
      memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
      c->in_len -= c->in_off;
      c->in_off = 0;
    }
    if (c->in_len + n > c->in_cap) {
      size_t cap = c->in_cap ? c->in_cap : 256;
      while (cap < c->in_len + n + 1)
        cap *= 2;
      char *p = realloc(c->in, cap);
      if (!p)
        return MP_E_NO_RESOURCES;
      c->in = p;
      c->in_cap = cap;
    }
  }
  memcpy(c->in + c->in_len, buf, n);
  c->in_len += n;
  return 0;
}

/* Frees the buffer once everything in it was delivered. */
static void release_input(struct mp_conn *c)
{
  if (c->in_off < c->in_len)
    return;
  free(c->in);
  c->in = NULL;
  c->in_off = c->in_len = c->in_cap = 0;
}

static int can_deliver(const struct mp_conn *c)
{
  return c->state == ST_OPEN && !c->paused && !c->handshaking;
}

/* Delivers whole lines (and raw bytes) while nobody stops us. */
static void conn_deliver(struct mp_conn *c)
{
  if (c->delivering)
    return; /* the outer loop goes on once the callback returns */
  c->delivering = 1;
  while (can_deliver(c) && c->in_off < c->in_len) {
    char *start = c->in + c->in_off;
    size_t avail = c->in_len - c->in_off;
    if (c->raw_left > 0) {
      size_t n = avail < c->raw_left ? avail : (size_t)c->raw_left;
      c->raw_left -= n;
      c->in_off += n;
      if (c->cbs.on_raw)
        c->cbs.on_raw(c, start, n, c->raw_left == 0);
      continue;
    }
    char *nl = memchr(start, '\n', avail);
    if (!nl) {
      /* +1: the CR of a CRLF may already be here. */
      if (avail > c->max_line + 1)
        conn_fail(c, MP_E_PROTOCOL_ERROR);
      break;
    }
    size_t len = (size_t)(nl - start);
    c->in_off += len + 1;
    if (len > 0 && start[len - 1] == '\r')
      len--;
    if (len > c->max_line) {
      conn_fail(c, MP_E_PROTOCOL_ERROR);
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
  if (c->eof_err && !c->paused)
    conn_fail(c, c->eof_err);
}

/* Takes plaintext from the wire (or the TLS layer) and delivers it. */
static void conn_input(struct mp_conn *c, const char *buf, size_t n)
{
  if (buffer_input(c, buf, n) < 0) {
    conn_fail(c, MP_E_NO_RESOURCES);
    return;
  }
  conn_deliver(c);
}

/* Finishes the TLS handshake, the caller's cb decides what happens next. */
static void tls_finish(struct mp_conn *c, int status)
{
  mp_conn_tls_cb cb = c->tls_cb;
  c->tls_cb = NULL;
  c->handshaking = 0;
  if (status < 0) {
    c->handshaking = 1; /* keep lines and writes blocked */
    c->tls_failed = 1;
  }
  if (cb)
    cb(c, status);
}

/* Runs the TLS layer after ciphertext arrived: handshake, then records. */
static void tls_pump(struct mp_conn *c)
{
  if (c->handshaking) {
    if (c->tls_failed)
      return; /* the handshake failed earlier; wait for the caller */
    int rc = mp_tls_handshake(c->tls);
    /* Done: our last flight (the client's Finished) waits for what the
     * callback writes (EHLO, CAPA, ...), so both leave in one write; a
     * callback that closes sends it with its close_notify. */
    if (rc != 0 && flush_tls(c) < 0) {
      conn_fail(c, MP_E_CONNECTION_CLOSED);
      return;
    }
    if (rc == MP_EAGAIN)
      return;
    tls_finish(c, rc);
    if (rc == 0 && c->state == ST_OPEN && flush_tls(c) < 0) {
      conn_fail(c, MP_E_CONNECTION_CLOSED);
      return;
    }
    if (rc < 0 || c->state != ST_OPEN)
      return;
  }
  for (;;) {
    int n = mp_tls_read(c->tls, plain_buf, sizeof(plain_buf));
    if (flush_tls(c) < 0) {
      conn_fail(c, MP_E_CONNECTION_CLOSED);
      return;
    }
    if (n == MP_EAGAIN)
      break;
    if (n < 0) {
      /* close_notify (or a bad record): deliver what came before it. */
      read_stop(c);
      c->eof_err = n;
      break;
    }
    if (buffer_input(c, plain_buf, (size_t)n) < 0) {
      conn_fail(c, MP_E_NO_RESOURCES);
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
  if (c->lingering) {
    linger_read(c, nread);
    return;
  }
  if (nread < 0) {
    read_stop(c);
    if (nread == UV_ENOBUFS) {
      conn_fail(c, MP_E_NO_RESOURCES);
      return;
    }
    /* EOF, reset, ...: lines already buffered (a paused connection's)
     * are delivered first. */
    c->eof_err = MP_E_CONNECTION_CLOSED;
    conn_deliver(c);
    return;
  }
  c->bytes_in += (uint64_t)nread;
  if (!c->tls) {
    conn_input(c, buf->base, (size_t)nread);
    return;
  }
  if (mp_tls_feed(c->tls, buf->base, (size_t)nread) < 0) {
    conn_fail(c, MP_E_NO_RESOURCES);
    return;
  }
  tls_pump(c);
}

/* ---- TLS ------------------------------------------------------------- */

int mp_conn_start_tls(struct mp_conn *c, struct mp_tls_ctx *ctx, int is_server,
                      const char *host, mp_conn_tls_cb cb)
{
  if (c->state != ST_OPEN || c->tls)
    return MP_E_TLS_FAILED;
  if (mp_conn_buffered(c) > 0)
    return MP_E_PROTOCOL_ERROR; /* RFC 3207 4.2: pipelined after 220 */
  c->tls = mp_tls_new(ctx, is_server, host);
  if (!c->tls)
    return MP_E_NO_RESOURCES;
  c->handshaking = 1;
  if (!is_server) {
    int rc = mp_tls_handshake(c->tls); /* the ClientHello */
    if (flush_tls(c) < 0)
      rc = MP_E_CONNECTION_CLOSED;
    if (rc != MP_EAGAIN && rc < 0) {
      c->tls_failed = 1; /* cb never runs: a failed call has no callback */
      return rc;
    }
  }
  c->tls_cb = cb;
  read_start(c);
  return 0;
}

struct mp_tls *mp_conn_tls(const struct mp_conn *c)
{
  return c->tls;
}

size_t mp_conn_buffered(const struct mp_conn *c)
{
  return c->in_len - c->in_off;
}

void mp_conn_discard_input(struct mp_conn *c)
{
  c->in_off = c->in_len;
  if (!c->delivering)
    release_input(c);
}

void mp_conn_expect_raw(struct mp_conn *c, uint64_t n)
{
  c->raw_left = n;
}

/* ---- pause, timers --------------------------------------------------- */

void mp_conn_pause(struct mp_conn *c)
{
  c->paused = 1;
  read_stop(c);
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
  if (c->in_off < c->in_len || c->eof_err) {
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
  mp_conn_timer_cb cb = c->timer_cb;
  c->timer_cb = NULL;
  if (cb)
    cb(c);
}

/* The next loop turn: a drip piece, the user's 0 ms timer. */
static void on_turn(uv_idle_t *h)
{
  struct mp_conn *c = h->data;
  int shape = c->turn_shape, user = c->turn_user;
  c->turn_shape = c->turn_user = 0;
  uv_idle_stop(h);
  if (shape)
    shape_step(c);
  if (user && c->state != ST_CLOSING) {
    mp_conn_timer_cb cb = c->timer_cb;
    c->timer_cb = NULL;
    if (cb)
      cb(c);
  }
}

void mp_conn_after(struct mp_conn *c, uint64_t ms, mp_conn_timer_cb cb)
{
  if (c->state == ST_CLOSING)
    return;
  c->timer_cb = cb;
  if (ms == 0) {
    /* On the next loop turn, never in this one: a 0 ms libuv timer armed
     * from a timer callback runs in the same pass (libuv 1.44), so a
     * callback that re-arms itself would never let I/O run. */
    uv_timer_stop(&c->timer);
    c->turn_user = 1;
    uv_idle_start(&c->turn, on_turn);
    return;
  }
  c->turn_user = 0;
  /* A delay is never shorter than asked: the loop's clock counts whole
   * milliseconds, so a timer can fire up to 1 ms before ms real ones. */
  if (ms > 0) {
    uv_update_time(c->loop);
    ms++;
  }
  uv_timer_start(&c->timer, on_user_timer, ms, 0);
}

void mp_conn_cancel_timer(struct mp_conn *c)
{
  c->timer_cb = NULL;
  c->turn_user = 0;
  uv_timer_stop(&c->timer);
}

/* ---- closing --------------------------------------------------------- */

static void close_handle(struct mp_conn *c, uv_handle_t *h)
{
  if (!uv_is_closing(h))
    uv_close(h, on_handle_closed);
}

/* Closes every handle; on_close runs after the last. */
static void conn_close_now(struct mp_conn *c, int reset)
{
  int was_closing = c->state == ST_CLOSING && !c->lingering;
  if (was_closing)
    return;
  c->state = ST_CLOSING;
  c->lingering = 0;
  void (*on_close)(struct mp_conn *) = c->cbs.on_close;
  memset(&c->cbs, 0, sizeof(c->cbs));
  c->cbs.on_close = on_close;
  c->connect_cb = NULL;
  c->timer_cb = NULL;
  c->tls_cb = NULL;
  c->reading = 0;
  if (reset && !uv_is_closing((uv_handle_t *)&c->tcp) &&
      uv_tcp_close_reset(&c->tcp, (uv_close_cb)on_handle_closed) == 0) {
    /* closed with RST */
  } else {
    close_handle(c, (uv_handle_t *)&c->tcp);
  }
  sock_closed(c);
  mp_deadline_set(&c->dl, 0);
  close_handle(c, (uv_handle_t *)&c->timer);
  close_handle(c, (uv_handle_t *)&c->aux);
  close_handle(c, (uv_handle_t *)&c->shape);
  close_handle(c, (uv_handle_t *)&c->turn);
}

/* FIN after the queue, then read and drop until the peer's EOF; not
 * forever: the peer may neither read nor close. The input buffer stays
 * (a line being delivered may point into it) until on_handle_closed. */
static void conn_linger(struct mp_conn *c)
{
  c->state = ST_CLOSING;
  c->lingering = 1;
  void (*on_close)(struct mp_conn *) = c->cbs.on_close;
  memset(&c->cbs, 0, sizeof(c->cbs));
  c->cbs.on_close = on_close;
  mp_deadline_set(&c->dl, 0);
  uv_timer_stop(&c->timer);
  c->shutdown_req.data = c;
  if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
    conn_close_now(c, 0);
    return;
  }
  if (!c->eof_err &&
      uv_read_start((uv_stream_t *)&c->tcp, alloc_read, on_read) == 0)
    c->reading = 1;
  uv_timer_start(&c->aux, on_linger_done, LINGER_MS, 0);
}

/* A graceful close with nothing of ours queued: now, or lingering when
 * the kernel still holds bytes a RST would lose. */
static void close_or_linger(struct mp_conn *c)
{
  if (close_would_lose(c))
    conn_linger(c);
  else
    conn_close_now(c, 0);
}

static void quiet_unlink(struct mp_conn *c)
{
  if (!c->quiet)
    return;
  c->quiet = 0;
  quiet.n--;
  if (c->quiet_prev)
    c->quiet_prev->quiet_next = c->quiet_next;
  else
    quiet.head = c->quiet_next;
  if (c->quiet_next)
    c->quiet_next->quiet_prev = c->quiet_prev;
  else
    quiet.tail = c->quiet_prev;
  c->quiet_prev = c->quiet_next = NULL;
}

static void on_quiet_idle_closed(uv_handle_t *h)
{
  free(h);
}

/* Stops the idle handle once the queue is empty. */
static void quiet_maybe_stop(void)
{
  if (quiet.head || !quiet.idle)
    return;
  if (!uv_is_closing((uv_handle_t *)quiet.idle)) {
    uv_idle_stop(quiet.idle);
    uv_close((uv_handle_t *)quiet.idle, on_quiet_idle_closed);
  } else {
    free(quiet.orphan); /* long closed by now */
    quiet.orphan = quiet.idle;
  }
  quiet.idle = NULL;
  quiet.loop = NULL;
}

/* Closes the first queued connection's socket. */
static void quiet_close_one(void)
{
  struct mp_conn *c = quiet.head;
  quiet_unlink(c);
  if (close_would_lose(c)) {
    conn_linger(c);
    return;
  }
  close_handle(c, (uv_handle_t *)&c->tcp);
  sock_closed(c);
  close_handle(c, (uv_handle_t *)&c->aux);
}

/* 1 if a deadline of c's loop passes within QUIET_GUARD_US: its result
 * goes before any close. */
static int deadline_near(const struct mp_conn *c)
{
  return mp_deadline_due_within(&c->dl, QUIET_GUARD_US);
}

static void on_quiet_idle(uv_idle_t *idle)
{
  uint64_t t0 = uv_hrtime();
  uint64_t budget = (t0 - quiet.last_ns) / 4;
  unsigned n = 0;
  (void)idle;
  if (budget < QUIET_BUDGET_US * 1000)
    budget = QUIET_BUDGET_US * 1000;
  while (quiet.head && (n < QUIET_MIN || uv_hrtime() - t0 < budget)) {
    if (deadline_near(quiet.head))
      break; /* every queued connection is of quiet.loop, as is this */
    quiet_close_one();
    n++;
  }
  quiet.last_ns = uv_hrtime();
  quiet_maybe_stop();
}

/* Closes every queued socket of loop now; how many. */
static size_t quiet_flush(uv_loop_t *loop)
{
  size_t n = 0;
  if (quiet.loop != loop)
    return 0;
  while (quiet.head) {
    quiet_close_one();
    n++;
  }
  quiet_maybe_stop();
  return n;
}

/* conn_close_now for a graceful close with nothing left to lose, with the
 * socket's close() put off to the quiet queue (see struct quiet). */
static void conn_close_soon(struct mp_conn *c)
{
  if (quiet.idle &&
      (quiet.loop != c->loop || uv_is_closing((uv_handle_t *)quiet.idle))) {
    if (quiet.head) {
      close_or_linger(c); /* the queue serves another loop */
      return;
    }
    quiet_maybe_stop();
  }
  if (!quiet.idle) {
    struct rlimit rl;
    quiet.fd_high = getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
                            rl.rlim_cur != RLIM_INFINITY &&
                            rl.rlim_cur < (rlim_t)LONG_MAX
                        ? (long)(rl.rlim_cur / 4 * 3)
                        : LONG_MAX;
  }
  /* Near the descriptor limit a queued socket holds a number that a
   * connect or an accept (maybe another thread's, whose queue this is
   * not) needs now. */
  if (quiet.n >= QUIET_MAX || atomic_load(&socks_open) >= quiet.fd_high) {
    close_or_linger(c);
    return;
  }
  if (!quiet.idle) {
    quiet.idle = malloc(sizeof(*quiet.idle));
    if (!quiet.idle) {
      close_or_linger(c);
      return;
    }
    uv_idle_init(c->loop, quiet.idle);
    uv_idle_start(quiet.idle, on_quiet_idle);
    quiet.loop = c->loop;
    quiet.last_ns = uv_hrtime();
  }
  c->state = ST_CLOSING;
  void (*on_close)(struct mp_conn *) = c->cbs.on_close;
  memset(&c->cbs, 0, sizeof(c->cbs));
  c->cbs.on_close = on_close;
  c->connect_cb = NULL;
  c->timer_cb = NULL;
  c->tls_cb = NULL;
  mp_deadline_set(&c->dl, 0);
  close_handle(c, (uv_handle_t *)&c->timer);
  close_handle(c, (uv_handle_t *)&c->shape);
  close_handle(c, (uv_handle_t *)&c->turn);
  c->quiet = 1;
  quiet.n++;
  c->quiet_next = NULL;
  c->quiet_prev = quiet.tail;
  if (quiet.tail)
    quiet.tail->quiet_next = c;
  else
    quiet.head = c;
  quiet.tail = c;
}

/* A fatal error: tell the user once, then close. */
static void conn_fail(struct mp_conn *c, int err)
{
  if (c->state == ST_CLOSING)
    return;
  void (*cb)(struct mp_conn *, int) = c->cbs.on_error;
  c->cbs.on_error = NULL;
  read_stop(c);
  if (cb)
    cb(c, err);
  conn_close_now(c, 0);
}

static void on_linger_done(uv_timer_t *t)
{
  conn_close_now(t->data, 0);
}

/* Our FIN went out after the queue. Close once the peer is done too
 * (its EOF came while we drained), else wait for it or the linger. */
static void on_shutdown(uv_shutdown_t *req, int status)
{
  struct mp_conn *c = req->data;
  c->shut_done = 1;
  if (status < 0 || c->eof_err || !c->lingering)
    conn_close_now(c, 0);
}

/* Lingering: the peer's bytes are read and dropped until its EOF. */
static void linger_read(struct mp_conn *c, ssize_t nread)
{
  if (nread > 0) {
    c->bytes_in += (uint64_t)nread;
    return;
  }
  read_stop(c);
  c->eof_err = MP_E_CONNECTION_CLOSED;
  if (c->shut_done)
    conn_close_now(c, 0);
}

/* 1 if a close() now could cost the peer bytes: ours still in the kernel
 * (unsent or unacknowledged: a RST, for bytes the peer sends after our
 * close, would drop them) or the peer's waiting unread (close() itself
 * answers with a RST then). */
static int close_would_lose(const struct mp_conn *c)
{
  uv_os_fd_t fd;
  int in = 0, out = 0;
  if (uv_fileno((const uv_handle_t *)&c->tcp, &fd) != 0)
    return 0;
  if (ioctl(fd, FIONREAD, &in) < 0)
    in = 0;
#ifdef TIOCOUTQ
  if (ioctl(fd, TIOCOUTQ, &out) < 0)
    out = 0;
#endif
  return in > 0 || out > 0;
}

void mp_conn_close(struct mp_conn *c)
{
  if (c->state == ST_CLOSING)
    return;
  if (c->state != ST_OPEN) {
    conn_close_now(c, 0);
    return;
  }
  if (c->tls && !c->handshaking && !c->cut_done) {
    mp_tls_shutdown(c->tls);
    flush_tls(c);
  }
  /* Held (dripped) bytes go out now: a close does not wait for them. */
  if (c->shaping && shape_flush(c) < 0) {
    conn_close_now(c, 0);
    return;
  }
  c->shaping = 0;
  read_stop(c);
  /* A RST (close() with the peer's bytes unread, or the peer's bytes
   * arriving after it) throws away what still waits in our send buffer:
   * unless nothing is left to lose, linger (nginx's lingering_close).
   * After a deadline, with nothing queued, the quiet queue asks the
   * kernel later. */
  if (c->queued == 0 && c->expired) {
    conn_close_soon(c);
    return;
  }
  if (c->queued == 0)
    close_or_linger(c);
  else
    conn_linger(c);
}

void mp_conn_abort(struct mp_conn *c)
{
  conn_close_now(c, 0);
}

void mp_conn_reset(struct mp_conn *c)
{
  conn_close_now(c, c->state == ST_OPEN);
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
  c->max_line = max > MAX_LINE_CAP ? MAX_LINE_CAP : max;
}

uint64_t mp_conn_bytes_in(const struct mp_conn *c)
{
  return c->bytes_in;
}

uint64_t mp_conn_bytes_out(const struct mp_conn *c)
{
  return c->bytes_out;
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
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &n) < 0)
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
