/* Private to wire/conn*.c: the connection's struct, grouped by concern, and
 * the few functions those files share (libuv keeps src/unix/internal.h the
 * same way). Nothing outside wire/conn*.c includes this header.
 *
 *   wire/conn.c        the line engine: connect, read, frame lines, write,
 *                      TLS, pause, timers, accessors
 *   wire/conn_close.c  closing: at once, with a RST, or lingering after FIN
 *   wire/conn_quiet.c  the quiet-close queue (closes after a deadline)
 *   wire/conn_shape.c  output shaping for fake servers: drip and cut
 *   wire/conn_mem.c    the in-memory transport's side (wire/memnet.h)
 *
 * Shared functions are named mp_conn__<verb>. None that is out of line is
 * on the path of a line (read, frame, deliver, write): that path stays in
 * wire/conn.c, static where the compiler can inline it, and what it shares
 * from here (conn_buf_append, mp_conn__read_stop) is static inline. */
#ifndef MP_CONN_INTERNAL_H
#define MP_CONN_INTERNAL_H

#include "wire/conn.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "wire/deadline.h"
#include "wire/grow.h"

struct mp_memnet;
struct mp_mem_end;

enum conn_state {
  ST_NEW = 0, /* created, not connected */
  ST_CONNECTING,
  ST_OPEN,
  ST_CLOSING /* handles closing; only on_close may still run */
};

/* Bytes read from the front: [off, len) of p, which holds cap. */
struct conn_buf {
  char *p;
  size_t off, len, cap;
};

/* Appends n bytes at src to b, moving what is left to the front first or
 * growing (doubling from first_cap, to keep spare bytes past the end) when
 * they do not fit. 0, or -1 when out of memory (b unchanged but moved). */
static inline int conn_buf_append(struct conn_buf *b, const char *src, size_t n,
                                  size_t first_cap, size_t spare)
{
  if (b->off > 0 && b->off == b->len)
    b->off = b->len = 0;
  if (b->len + n > b->cap) {
    if (b->off > 0) {
      memmove(b->p, b->p + b->off, b->len - b->off);
      b->len -= b->off;
      b->off = 0;
    }
    if (b->len + n > b->cap &&
        mp_grow(&b->p, &b->cap, b->len + n + spare, first_cap) < 0)
      return -1;
  }
  memcpy(b->p + b->len, src, n);
  b->len += n;
  return 0;
}

/* Input: plaintext received and not yet delivered. Once all is delivered
 * the buffer is kept if small (256 bytes, wire/conn.c), else freed. */
struct conn_input {
  struct conn_buf buf; /* undelivered plaintext */
  size_t max_line;
  uint64_t raw_left; /* bytes still owed to on_raw */
  int eof_err;       /* the peer is done (EOF, reset, close_notify):
                        reported once the bytes before it were delivered */
  uint64_t bytes;    /* received on the wire */
};

/* Output: what libuv holds for the socket. */
struct conn_output {
  size_t queued;     /* bytes handed to libuv, not yet written */
  size_t queued_mem; /* heap the write queue holds (bytes and the request
                        around them): what MP_CONN_MAX_QUEUE counts */
  uint64_t bytes;    /* sent on the wire */
};

/* The TLS layer, when started. */
struct conn_tls {
  struct mp_tls *layer; /* NULL while plain */
  mp_conn_tls_cb cb;    /* runs once when the handshake ends */
  int handshaking;      /* lines and writes wait for the handshake */
  unsigned failed : 1;  /* the handshake failed: nothing flows */
};

/* The one user timer (mp_conn_after). */
struct conn_user_timer {
  uv_timer_t timer;
  mp_conn_timer_cb cb;
  unsigned next_turn : 1; /* waits for the next loop turn (ms == 0) */
};

/* Output shaping (wire/conn_shape.c): wire bytes held until their turn. */
struct conn_shape {
  uv_timer_t timer;
  struct conn_buf held;
  uint32_t drip_bytes; /* 0: no dripping */
  uint64_t drip_every_ms;
  unsigned cut_left;        /* records before the cut; 0: no cut */
  unsigned char cut_hdr[5]; /* the record header being read */
  size_t cut_hdr_len;
  size_t cut_body; /* body bytes left of the current record */
  char *cut_tail;  /* sent in place of what follows the cut */
  size_t cut_tail_len;
  unsigned on : 1;        /* output goes through held */
  unsigned cut_done : 1;  /* the cut happened: output is dropped */
  unsigned next_turn : 1; /* a drip piece waits for the next turn */
};

/* A graceful close that waits for the peer (wire/conn_close.c). */
struct conn_linger {
  uv_shutdown_t req;
  unsigned on : 1;        /* reading and dropping until the peer's EOF */
  unsigned shut_done : 1; /* our FIN is out after the queue */
};

/* The quiet-close queue's links (wire/conn_quiet.c). */
struct conn_quiet {
  struct mp_conn *prev, *next;
  unsigned queued : 1;       /* in the queue */
  unsigned expired : 1;      /* the deadline passed: closes go to the queue */
  unsigned sock_counted : 1; /* counted in mp_conn__socks_open */
};

struct mp_conn {
  uv_loop_t *loop;
  uv_tcp_t tcp;           /* never opened when mem is set */
  struct mp_mem_end *mem; /* the in-memory transport, NULL on TCP */
  struct mp_conn_cbs cbs;
  void *data;
  enum conn_state state;
  int handles; /* open handles still to close */
  unsigned reading : 1;
  unsigned paused : 1;
  unsigned delivering : 1;
  uv_timer_t aux; /* connect timeout, resume, linger */
  uv_idle_t turn; /* "the next loop turn" for the user timer and shape */
  uv_connect_t connect_req;
  mp_conn_connect_cb connect_cb;
  struct mp_deadline dl; /* the deadline, in the loop's queue */
  struct conn_input in;
  struct conn_output out;
  struct conn_tls tls;
  struct conn_user_timer user;
  struct conn_shape shape;
  struct conn_linger linger;
  struct conn_quiet quiet;
};

/* ---- wire/conn.c ------------------------------------------------------ */

/* A fatal error: on_error once, then the connection closes. */
void mp_conn__fail(struct mp_conn *c, int err);

/* Puts bytes on the socket, past any shaping; force skips the queue cap.
 * 0 or a negative code. */
int mp_conn__wire_send(struct mp_conn *c, const char *buf, size_t len,
                       int force);

/* Moves the TLS layer's ciphertext to the socket. 0 or a negative code. */
int mp_conn__flush_tls(struct mp_conn *c);

/* Starts reading whatever the state (a lingering close reads too). 0 or a
 * libuv error. */
int mp_conn__read_any(struct mp_conn *c);

/* The turn handle's callback: a drip piece, the user's 0 ms timer. */
void mp_conn__on_turn(uv_idle_t *h);

/* What libuv's read and connect callbacks do, for the memory transport:
 * nread bytes at base (or UV_EOF, UV_ECONNRESET), a connect's status (0,
 * UV_ECONNREFUSED). */
void mp_conn__mem_read(struct mp_conn *c, ssize_t nread, char *base);
void mp_conn__mem_connected(struct mp_conn *c, int status);

/* ---- wire/conn_mem.c -------------------------------------------------- */

/* Dials addr on net for c (mp_conn_connect's memory half): 0 or a
 * negative code; the connect's outcome comes through
 * mp_conn__mem_connected. */
int mp_conn__mem_connect(struct mp_conn *c, struct mp_memnet *net,
                         const struct sockaddr *addr);

/* Reading on and off, bytes to the peer, the end's close (callers test
 * c->mem first, so that a socket pays no call). */
int mp_conn__mem_read_start(struct mp_conn *c);
void mp_conn__mem_read_stop(struct mp_conn *c);
int mp_conn__mem_send(struct mp_conn *c, const char *buf, size_t len);
void mp_conn__mem_close(struct mp_conn *c, int reset);

/* Stops reading from the socket (or the memory end). */
static inline void mp_conn__read_stop(struct mp_conn *c)
{
  if (!c->reading)
    return;
  if (c->mem)
    mp_conn__mem_read_stop(c);
  else
    uv_read_stop((uv_stream_t *)&c->tcp);
  c->reading = 0;
}

/* Clears every user callback but on_close: after a close only it runs. */
static inline void mp_conn__drop_cbs(struct mp_conn *c)
{
  void (*on_close)(struct mp_conn *) = c->cbs.on_close;
  memset(&c->cbs, 0, sizeof(c->cbs));
  c->cbs.on_close = on_close;
  c->connect_cb = NULL;
  c->user.cb = NULL;
  c->tls.cb = NULL;
}

/* ---- wire/conn_close.c ------------------------------------------------ */

/* Every handle's close callback; the last one runs on_close and frees c. */
void mp_conn__on_handle_closed(uv_handle_t *h);

/* Closes h unless it is closing already. */
static inline void mp_conn__close_handle(uv_handle_t *h)
{
  if (!uv_is_closing(h))
    uv_close(h, mp_conn__on_handle_closed);
}

/* Closes every handle now (with a RST when reset); on_close follows. */
void mp_conn__close_now(struct mp_conn *c, int reset);

/* FIN after the queue, then reads and drops until the peer's EOF (or the
 * linger time). */
void mp_conn__linger(struct mp_conn *c);

/* A graceful close with nothing of ours queued: now, or lingering when the
 * kernel still holds bytes a RST would lose. */
void mp_conn__close_or_linger(struct mp_conn *c);

/* 1 if a close() now could cost the peer bytes (ours unsent or
 * unacknowledged, or the peer's unread). */
int mp_conn__close_would_lose(const struct mp_conn *c);

/* Lingering: what on_read does with the peer's bytes and its EOF. */
void mp_conn__linger_read(struct mp_conn *c, ssize_t nread);

/* ---- wire/conn_quiet.c ------------------------------------------------ */

/* Connections of the process whose socket is not closed yet. */
extern atomic_long mp_conn__socks_open;

/* c holds a socket (mp_conn_new). */
static inline void mp_conn__sock_opened(struct mp_conn *c)
{
  atomic_fetch_add(&mp_conn__socks_open, 1);
  c->quiet.sock_counted = 1;
}

/* c's socket was closed (its descriptor is free); idempotent. */
static inline void mp_conn__sock_closed(struct mp_conn *c)
{
  if (!c->quiet.sock_counted)
    return;
  c->quiet.sock_counted = 0;
  atomic_fetch_sub(&mp_conn__socks_open, 1);
}

/* A graceful close with nothing left to lose after a deadline passed: the
 * socket's close() waits in the quiet queue (or happens now when the queue
 * cannot take it). */
void mp_conn__quiet_close(struct mp_conn *c);

/* Takes c out of the queue (its handles were closed by someone else). */
void mp_conn__quiet_forget(struct mp_conn *c);

/* Closes every queued socket of loop now; how many. */
size_t mp_conn__quiet_flush(uv_loop_t *loop);

/* ---- wire/conn_shape.c ------------------------------------------------ */

/* Wire bytes held for their turn (shaping on). */
static inline size_t mp_conn__held(const struct mp_conn *c)
{
  return c->shape.held.len - c->shape.held.off;
}

/* Holds wire bytes for their turn; 0 or MP_E_NO_RESOURCES. */
int mp_conn__shape_hold(struct mp_conn *c, const char *buf, size_t len,
                        int force);

/* Sends the next piece (the turn or the shape timer came). */
void mp_conn__shape_step(struct mp_conn *c);

/* Sends what is held at once (a graceful close): 1 if the cut came (the
 * stream ends there), else 0, or a negative code. */
int mp_conn__shape_flush(struct mp_conn *c);

#endif
