/* Closing a connection: at once (mp_conn_abort), with a TCP RST
 * (mp_conn_reset), or gracefully (mp_conn_close): FIN after the queued
 * bytes and, while the kernel still holds bytes a RST would lose, reading
 * and dropping the peer's input until its EOF (nginx's lingering close).
 * The last handle's close callback runs on_close and frees the connection.
 * Closes after a deadline may wait in the quiet queue (wire/conn_quiet.c). */
#include "wire/conn_internal.h"

#include <stdlib.h>
#include <sys/ioctl.h>

#include "wire/errors.h"
#include "wire/tls.h"

#define LINGER_MS 2000

static void on_shutdown(uv_shutdown_t *req, int status);
static void on_linger_done(uv_timer_t *t);

/* The last handle closed: on_close, then the memory goes. */
void mp_conn__on_handle_closed(uv_handle_t *h)
{
  struct mp_conn *c = h->data;
  if (--c->handles > 0)
    return;
  mp_conn__quiet_forget(c); /* closed by someone else (uv_walk) */
  if (c->mem)
    mp_conn__mem_close(c, 0); /* likewise */
  mp_deadline_set(&c->dl, 0); /* none is left by now; one never outlives c */
  if (c->cbs.on_close)
    c->cbs.on_close(c);
  struct mp_deadline dl = c->dl;
  mp_tls_free(c->tls.layer);
  free(c->in.buf.p);
  free(c->shape.held.p);
  free(c->shape.cut_tail);
  mp_conn__sock_closed(c); /* closed by someone else (uv_walk) */
  free(c);
  mp_deadline_leave(&dl);
}

/* Closes every handle; on_close runs after the last. */
void mp_conn__close_now(struct mp_conn *c, int reset)
{
  int was_closing = c->state == ST_CLOSING && !c->linger.on;
  if (was_closing)
    return;
  c->state = ST_CLOSING;
  c->linger.on = 0;
  mp_conn__drop_cbs(c);
  c->reading = 0;
  if (c->mem)
    mp_conn__mem_close(c, reset); /* the memory peer hears a FIN or RST */
  if (reset && !uv_is_closing((uv_handle_t *)&c->tcp) &&
      uv_tcp_close_reset(&c->tcp, (uv_close_cb)mp_conn__on_handle_closed) ==
          0) {
    /* closed with RST */
  } else {
    mp_conn__close_handle((uv_handle_t *)&c->tcp);
  }
  mp_conn__sock_closed(c);
  mp_deadline_set(&c->dl, 0);
  mp_conn__close_handle((uv_handle_t *)&c->user.timer);
  mp_conn__close_handle((uv_handle_t *)&c->aux);
  mp_conn__close_handle((uv_handle_t *)&c->shape.timer);
  mp_conn__close_handle((uv_handle_t *)&c->turn);
}

/* FIN after the queue, then read and drop until the peer's EOF; not
 * forever: the peer may neither read nor close. The input buffer stays
 * (a line being delivered may point into it) until the last handle
 * closed. */
void mp_conn__linger(struct mp_conn *c)
{
  c->state = ST_CLOSING;
  c->linger.on = 1;
  mp_conn__drop_cbs(c);
  mp_deadline_set(&c->dl, 0);
  uv_timer_stop(&c->user.timer);
  c->linger.req.data = c;
  if (uv_shutdown(&c->linger.req, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
    mp_conn__close_now(c, 0);
    return;
  }
  if (!c->in.eof_err && mp_conn__read_any(c) == 0)
    c->reading = 1;
  uv_timer_start(&c->aux, on_linger_done, LINGER_MS, 0);
}

/* A graceful close with nothing of ours queued: now, or lingering when
 * the kernel still holds bytes a RST would lose. */
void mp_conn__close_or_linger(struct mp_conn *c)
{
  if (mp_conn__close_would_lose(c))
    mp_conn__linger(c);
  else
    mp_conn__close_now(c, 0);
}

static void on_linger_done(uv_timer_t *t)
{
  mp_conn__close_now(t->data, 0);
}

/* Our FIN went out after the queue. Close once the peer is done too
 * (its EOF came while we drained), else wait for it or the linger. */
static void on_shutdown(uv_shutdown_t *req, int status)
{
  struct mp_conn *c = req->data;
  c->linger.shut_done = 1;
  if (status < 0 || c->in.eof_err || !c->linger.on)
    mp_conn__close_now(c, 0);
}

/* Lingering: the peer's bytes are read and dropped until its EOF. */
void mp_conn__linger_read(struct mp_conn *c, ssize_t nread)
{
  if (nread > 0) {
    c->in.bytes += (uint64_t)nread;
    return;
  }
  mp_conn__read_stop(c);
  c->in.eof_err = MP_E_CONNECTION_CLOSED;
  if (c->linger.shut_done)
    mp_conn__close_now(c, 0);
}

/* 1 if a close() now could cost the peer bytes: ours still in the kernel
 * (unsent or unacknowledged: a RST, for bytes the peer sends after our
 * close, would drop them) or the peer's waiting unread (close() itself
 * answers with a RST then). */
int mp_conn__close_would_lose(const struct mp_conn *c)
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

/* conn.h: closes after the queued bytes are written. */
void mp_conn_close(struct mp_conn *c)
{
  if (c->state == ST_CLOSING)
    return;
  if (c->state != ST_OPEN) {
    mp_conn__close_now(c, 0);
    return;
  }
  if (c->tls.layer && !c->tls.handshaking && !c->shape.cut_done) {
    mp_tls_shutdown(c->tls.layer);
    mp_conn__flush_tls(c);
  }
  /* Held (dripped) bytes go out now: a close does not wait for them. */
  if (c->shape.on && mp_conn__shape_flush(c) < 0) {
    mp_conn__close_now(c, 0);
    return;
  }
  c->shape.on = 0;
  mp_conn__read_stop(c);
  /* A RST (close() with the peer's bytes unread, or the peer's bytes
   * arriving after it) throws away what still waits in our send buffer:
   * unless nothing is left to lose, linger (nginx's lingering_close).
   * After a deadline, with nothing queued, the quiet queue asks the
   * kernel later. */
  if (c->out.queued == 0 && c->quiet.expired) {
    mp_conn__quiet_close(c);
    return;
  }
  if (c->out.queued == 0)
    mp_conn__close_or_linger(c);
  else
    mp_conn__linger(c);
}

/* conn.h: closes now, dropping queued bytes. */
void mp_conn_abort(struct mp_conn *c)
{
  mp_conn__close_now(c, 0);
}

/* conn.h: closes now with a TCP RST (fake servers only). */
void mp_conn_reset(struct mp_conn *c)
{
  mp_conn__close_now(c, c->state == ST_OPEN);
}
