/* Output shaping for servers that misbehave on purpose (fake_servers/
 * only): mp_conn_drip_output sends wire bytes a few at a time, and
 * mp_conn_cut_output ends the stream after whole TLS records with a tail of
 * our choosing. When shaping is on every wire byte waits in the held buffer
 * for its turn; when it is off none of this runs (wire/conn.c sends
 * directly). */
#include "wire/conn_internal.h"

#include <stdlib.h>
#include <string.h>

#include "wire/errors.h"

/* How many of the n held bytes at p go out before the cut, reading TLS
 * record headers as they pass (RFC 8446 5.1: type, version, 2-byte
 * length); sets *cut when the last record before the cut ends in them. */
static size_t cut_scan(struct conn_shape *sh, const unsigned char *p, size_t n,
                       int *cut)
{
  size_t i = 0;
  *cut = 0;
  if (sh->cut_left == 0)
    return n;
  while (i < n) {
    if (sh->cut_hdr_len < sizeof(sh->cut_hdr)) {
      sh->cut_hdr[sh->cut_hdr_len++] = p[i++];
      if (sh->cut_hdr_len == sizeof(sh->cut_hdr))
        sh->cut_body = ((size_t)sh->cut_hdr[3] << 8) | sh->cut_hdr[4];
    } else {
      size_t k = n - i < sh->cut_body ? n - i : sh->cut_body;
      i += k;
      sh->cut_body -= k;
    }
    if (sh->cut_hdr_len == sizeof(sh->cut_hdr) && sh->cut_body == 0) {
      sh->cut_hdr_len = 0; /* a whole record went by */
      if (--sh->cut_left == 0) {
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
  struct conn_shape *sh = &c->shape;
  size_t n = mp_conn__held(c);
  if (max > 0 && n > max)
    n = max;
  n = cut_scan(sh, (const unsigned char *)sh->held.p + sh->held.off, n, cut);
  int rc = mp_conn__wire_send(c, sh->held.p + sh->held.off, n, 1);
  sh->held.off += n;
  if (rc == 0 && *cut) {
    sh->cut_done = 1;
    sh->held.off = sh->held.len; /* the rest never goes out */
    rc = mp_conn__wire_send(c, sh->cut_tail, sh->cut_tail_len, 1);
  }
  if (sh->held.off == sh->held.len)
    sh->held.off = sh->held.len = 0;
  return rc;
}

static void shape_schedule(struct mp_conn *c, uint64_t ms);

/* Sends the next piece; arms the one after it while bytes are held. */
void mp_conn__shape_step(struct mp_conn *c)
{
  int cut = 0;
  if (c->state != ST_OPEN)
    return;
  if (shape_send(c, c->shape.drip_bytes, &cut) < 0) {
    mp_conn__fail(c, MP_E_CONNECTION_CLOSED);
    return;
  }
  if (cut) {
    mp_conn_close(c);
    return;
  }
  if (mp_conn__held(c) > 0)
    shape_schedule(c, c->shape.drip_bytes ? c->shape.drip_every_ms : 0);
}

static void on_shape(uv_timer_t *t)
{
  mp_conn__shape_step(t->data);
}

/* Arms the next shape step: after ms, or on the next loop turn for 0 (a
 * 0 ms timer armed from a timer callback runs in the same pass with
 * libuv 1.44, so the peer would read every piece at once). */
static void shape_schedule(struct mp_conn *c, uint64_t ms)
{
  if (ms > 0) {
    /* At least ms real ones: the loop clock counts whole milliseconds. */
    uv_update_time(c->loop);
    uv_timer_start(&c->shape.timer, on_shape, ms + 1, 0);
    return;
  }
  c->shape.next_turn = 1;
  uv_idle_start(&c->turn, mp_conn__on_turn);
}

static int shape_pending(const struct mp_conn *c)
{
  return c->shape.next_turn ||
         uv_is_active((const uv_handle_t *)&c->shape.timer);
}

/* Holds wire bytes for their turn; the shape timer (or the next loop turn)
 * sends them. */
int mp_conn__shape_hold(struct mp_conn *c, const char *buf, size_t len,
                        int force)
{
  if (c->shape.cut_done)
    return 0; /* past the cut: dropped */
  if (!force && c->out.queued_mem + mp_conn__held(c) + len > MP_CONN_MAX_QUEUE)
    return MP_E_NO_RESOURCES;
  if (conn_buf_append(&c->shape.held, buf, len, 4096, 0) < 0)
    return MP_E_NO_RESOURCES;
  if (!shape_pending(c))
    shape_schedule(c, 0);
  return 0;
}

/* Sends what is held at once (a graceful close): 1 if the cut came (the
 * stream ends there), else 0, or a negative code. */
int mp_conn__shape_flush(struct mp_conn *c)
{
  int cut = 0;
  uv_timer_stop(&c->shape.timer);
  c->shape.next_turn = 0;
  if (mp_conn__held(c) == 0)
    return 0;
  int rc = shape_send(c, 0, &cut);
  return rc < 0 ? rc : cut;
}

/* Shaping is on while a drip or a cut is set (or the cut happened). */
static void shape_update(struct mp_conn *c)
{
  c->shape.on =
      c->shape.drip_bytes > 0 || c->shape.cut_left > 0 || c->shape.cut_done;
  /* Bytes held for a drip that stopped go out on the next turn. */
  if (c->state == ST_OPEN && mp_conn__held(c) > 0 && !shape_pending(c))
    shape_schedule(c, 0);
}

/* conn.h: from now on wire bytes leave at most bytes at a time. */
void mp_conn_drip_output(struct mp_conn *c, uint32_t bytes, uint64_t every_ms)
{
  c->shape.drip_bytes = bytes;
  c->shape.drip_every_ms = every_ms;
  shape_update(c);
}

/* conn.h: after records whole TLS records, tail instead of the rest. */
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
  free(c->shape.cut_tail);
  c->shape.cut_tail = t;
  c->shape.cut_tail_len = len;
  c->shape.cut_left = records;
  c->shape.cut_hdr_len = 0;
  c->shape.cut_body = 0;
  shape_update(c);
  return 0;
}
