/* The fuzz input's side of a TCP conversation, for the targets that run a
 * real probe or fake server on loopback: plain libuv, none of our code.
 *
 * The input is a list of turns separated by the byte FZ_TURN (0xff). The
 * first turn goes out at once (or after the peer's first answer, when
 * wait_first is set); each later turn goes out when the peer has answered
 * the previous one: a whole line from the peer counts as an answer, unless
 * reply_end says the line continues a reply (SMTP's "250-"). A peer that
 * stays quiet for FZ_QUIET_TURNS turns of the loop gets the next turn
 * anyway: peer and feeder share one thread and loopback delivers at once,
 * so a peer with nothing to say by then is waiting for us (counting loop
 * turns, not milliseconds, keeps this deterministic and fast: an input
 * that leaves the peer waiting costs microseconds, not its timeout).
 * Within a turn, bytes go out in chunks of 1..64 (one write per loop
 * turn, sizes from a PRNG seeded by the input) so lines arrive cut at odd
 * places. After the last turn the feeder half-closes (FIN) and keeps
 * reading; the peer's EOF or an error calls done. Header-only. */
#ifndef MP_FUZZ_FEEDER_H
#define MP_FUZZ_FEEDER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "tests/fuzz/fuzz_util.h"

#define FZ_TURN 0xff
#define FZ_QUIET_TURNS 8

struct fz_feeder {
  uv_stream_t *stream; /* the connection; the target owns and closes it */
  uv_idle_t pacer;     /* runs while sending or waiting for an answer */
  const uint8_t *data;
  size_t size;
  size_t off;      /* next byte to send */
  size_t turn_end; /* end of the turn being sent */
  uint64_t rng;
  unsigned credits; /* answers not yet used to release a turn */
  int sending;      /* a turn is going out */
  int waiting;      /* a turn went out; the answer has not come */
  unsigned quiet;   /* loop turns spent waiting without a byte */
  int shut;         /* everything sent, FIN queued */
  int finished;     /* done was called */
  /* 1 if a whole line from the peer ends its answer; NULL: every line. */
  int (*reply_end)(const char *line, size_t len);
  char head[4]; /* the first bytes of the line being received */
  size_t head_len;
  void (*done)(struct fz_feeder *f); /* once: EOF, error or no memory */
  void *data_ptr;                    /* for the target */
};

static inline void fz_feeder_finish(struct fz_feeder *f)
{
  if (f->finished)
    return;
  f->finished = 1;
  uv_idle_stop(&f->pacer);
  f->done(f);
}

static inline void fz_feeder_written(uv_write_t *w, int status)
{
  (void)status;
  free(w);
}

static inline void fz_feeder_shut(uv_shutdown_t *req, int status)
{
  (void)status;
  free(req);
}

static inline void fz_feeder_pace(uv_idle_t *h);

/* Starts the next turn: finds where it ends. */
static inline void fz_feeder_next_turn(struct fz_feeder *f)
{
  const uint8_t *sep;

  if (f->finished || f->sending || f->shut)
    return;
  f->waiting = 0;
  sep = memchr(f->data + f->off, FZ_TURN, f->size - f->off);
  f->turn_end = sep ? (size_t)(sep - f->data) : f->size;
  f->sending = 1;
  uv_idle_start(&f->pacer, fz_feeder_pace);
}

/* Waits for the peer's answer to the turn just sent. */
static inline void fz_feeder_wait(struct fz_feeder *f)
{
  f->waiting = 1;
  f->quiet = 0;
  uv_idle_start(&f->pacer, fz_feeder_pace);
}

static inline void fz_feeder_pace(uv_idle_t *h)
{
  struct fz_feeder *f = h->data;

  if (f->waiting) {
    if (++f->quiet >= FZ_QUIET_TURNS)
      fz_feeder_next_turn(f); /* the peer waits for us */
    return;
  }
  if (f->off >= f->turn_end) {
    /* This turn is out. */
    uv_idle_stop(h);
    f->sending = 0;
    if (f->turn_end >= f->size) {
      uv_shutdown_t *req = malloc(sizeof *req);
      f->shut = 1;
      if (req == NULL || uv_shutdown(req, f->stream, fz_feeder_shut) != 0) {
        free(req);
        fz_feeder_finish(f);
      }
      return;
    }
    f->off = f->turn_end + 1; /* past the separator */
    if (f->credits > 0) {
      f->credits--;
      fz_feeder_next_turn(f);
    } else {
      fz_feeder_wait(f);
    }
    return;
  }
  size_t n = 1 + fz_next(&f->rng) % 64;
  if (n > f->turn_end - f->off)
    n = f->turn_end - f->off;
  uv_write_t *w = malloc(sizeof *w + n);
  if (w == NULL) {
    fz_feeder_finish(f);
    return;
  }
  memcpy(w + 1, f->data + f->off, n);
  f->off += n;
  uv_buf_t b = uv_buf_init((char *)(w + 1), (unsigned)n);
  if (uv_write(w, f->stream, &b, 1, fz_feeder_written) != 0) {
    free(w);
    fz_feeder_finish(f);
  }
}

static inline void fz_feeder_alloc(uv_handle_t *h, size_t want, uv_buf_t *buf)
{
  static char scratch[65536];
  (void)h;
  (void)want;
  *buf = uv_buf_init(scratch, sizeof scratch);
}

/* The peer's bytes: counted into answers, then dropped. */
static inline void fz_feeder_read(uv_stream_t *s, ssize_t n,
                                  const uv_buf_t *buf)
{
  struct fz_feeder *f = s->data;

  if (n < 0) {
    fz_feeder_finish(f);
    return;
  }
  if (n > 0)
    f->quiet = 0;
  for (ssize_t i = 0; i < n; i++) {
    char ch = buf->base[i];
    if (ch != '\n') {
      if (f->head_len < sizeof f->head)
        f->head[f->head_len] = ch;
      f->head_len++;
      continue;
    }
    size_t len = f->head_len < sizeof f->head ? f->head_len : sizeof f->head;
    if (len > 0 && f->head_len <= sizeof f->head && f->head[len - 1] == '\r')
      len--;
    if (f->reply_end == NULL || f->reply_end(f->head, len))
      f->credits++;
    f->head_len = 0;
  }
  if (f->credits > 0 && f->waiting && !f->finished) {
    f->credits--;
    fz_feeder_next_turn(f);
  }
}

/* Sets the feeder up on a loop (its two handles need fz_feeder_close). */
static inline void fz_feeder_init(struct fz_feeder *f, uv_loop_t *loop,
                                  const uint8_t *data, size_t size)
{
  memset(f, 0, sizeof *f);
  f->data = data;
  f->size = size;
  f->rng = fz_hash(data, size);
  uv_idle_init(loop, &f->pacer);
  f->pacer.data = f;
}

/* Starts on a connected stream: reads, and sends the first turn now or
 * after the peer's first answer (or its silence). */
static inline int fz_feeder_start(struct fz_feeder *f, uv_stream_t *stream,
                                  int wait_first)
{
  f->stream = stream;
  stream->data = f;
  /* No Nagle: a small write waiting for the peer's delayed ACK (40 ms on
   * loopback) would look like a stall. */
  if (stream->type == UV_TCP)
    uv_tcp_nodelay((uv_tcp_t *)stream, 1);
  if (uv_read_start(stream, fz_feeder_alloc, fz_feeder_read) != 0)
    return -1;
  if (wait_first)
    fz_feeder_wait(f);
  else
    fz_feeder_next_turn(f);
  return 0;
}

static inline void fz_feeder_closed(uv_handle_t *h)
{
  (void)h;
}

/* Closes the feeder's handle (not the stream). */
static inline void fz_feeder_close(struct fz_feeder *f)
{
  if (!uv_is_closing((uv_handle_t *)&f->pacer))
    uv_close((uv_handle_t *)&f->pacer, fz_feeder_closed);
}

#endif
