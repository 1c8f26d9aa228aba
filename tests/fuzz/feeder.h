/* The fuzz input's side of a conversation, for the targets that run a
 * real probe or fake server: a raw end of the in-memory network
 * (wire/memnet.h), so the line engine under test runs unchanged but no
 * byte touches a socket and the loop lives for the whole run.
 *
 * The input is a list of turns separated by the byte FZ_TURN (0xff). The
 * first turn goes out at once (or after the peer's first answer, when
 * wait_first is set); each later turn goes out when the peer has answered
 * the previous one: a whole line from the peer counts as an answer, unless
 * reply_end says the line continues a reply (SMTP's "250-"). A peer that
 * has gone quiet gets the next turn anyway: quiet means the memnet's run
 * queue ran empty (mp_memnet_on_quiet: peer and feeder share the loop and
 * the memnet delivers all that is pending in one pass, so a peer with
 * nothing more to say is waiting for us). This keeps a run deterministic
 * and fast (a whole conversation usually takes one loop turn), at the
 * price that what a peer does from a timer or on a later loop turn (a
 * script's delay_ms) may find the next turn there already. Within a turn, bytes
 * go out as writes of 1..64 bytes (sizes from a PRNG seeded by the input), each
 * delivered as one read, so lines arrive cut at odd places. After the last
 * turn the feeder sends a FIN and keeps reading; the peer's end, or its
 * silence after our FIN, calls done. Header-only. */
#ifndef MP_FUZZ_FEEDER_H
#define MP_FUZZ_FEEDER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "tests/fuzz/fuzz_util.h"
#include "wire/memnet.h"

#define FZ_TURN 0xff

struct fz_feeder {
  uv_loop_t *loop;
  struct mp_memnet *net;
  struct mp_mem_end *end; /* the connection; the target closes it */
  const uint8_t *data;
  size_t size;
  size_t off; /* next byte to send */
  uint64_t rng;
  unsigned credits; /* answers not yet used to release a turn */
  int waiting;      /* a turn went out; the answer has not come */
  int shut;         /* everything sent, FIN out */
  int finished;     /* done was called */
  /* 1 if a whole line from the peer ends its answer; NULL: every line. */
  int (*reply_end)(const char *line, size_t len);
  char head[4]; /* the first bytes of the line being received */
  size_t head_len;
  void (*done)(struct fz_feeder *f); /* once: end, error, silence */
  void *data_ptr;                    /* for the target */
};

static inline FZ_NOCOV void fz_feeder_finish(struct fz_feeder *f)
{

  if (f->finished)
    return;
  f->finished = 1;
  mp_memnet_on_quiet(f->net, NULL, NULL);
  f->done(f);
}

/* Waits for the peer's answer (or its silence: fz_feeder_quiet). */
static inline FZ_NOCOV void fz_feeder_wait(struct fz_feeder *f)
{
  f->waiting = 1;
}

/* Sends turns while answers are in hand, then waits; after the last one,
 * the FIN. */
static inline FZ_NOCOV void fz_feeder_send(struct fz_feeder *f)
{
  while (!f->finished && !f->shut) {
    const uint8_t *sep = memchr(f->data + f->off, FZ_TURN, f->size - f->off);
    size_t turn_end = sep ? (size_t)(sep - f->data) : f->size;
    f->waiting = 0;
    while (f->off < turn_end) {
      size_t n = 1 + fz_next(&f->rng) % 64;
      if (n > turn_end - f->off)
        n = turn_end - f->off;
      if (mp_mem_end_write(f->end, f->data + f->off, n) != 0) {
        fz_feeder_finish(f);
        return;
      }
      f->off += n;
    }
    if (turn_end >= f->size) {
      f->shut = 1;
      mp_mem_end_shutdown(f->end); /* then its end, or its silence */
      if (mp_memnet_pending(f->net) == 0)
        fz_feeder_finish(f);
      return;
    }
    f->off = turn_end + 1; /* past the separator */
    /* Nothing on its way (an empty turn, a peer that does not read): no
     * answer can come without a timer, so the peer is quiet already. */
    if (mp_memnet_pending(f->net) == 0)
      continue;
    if (f->credits == 0) {
      fz_feeder_wait(f);
      return;
    }
    f->credits--;
  }
}

/* The memnet ran quiet: the peer waits for us, or after our FIN it
 * neither closes nor speaks. */
static inline FZ_NOCOV void fz_feeder_quiet(void *data)
{
  struct fz_feeder *f = data;

  if (f->shut)
    fz_feeder_finish(f);
  else if (f->waiting)
    fz_feeder_send(f);
}

/* The peer's bytes: counted into answers, then dropped. */
static inline FZ_NOCOV void fz_feeder_data(struct mp_mem_end *e,
                                           const char *buf, size_t n)
{
  struct fz_feeder *f = mp_mem_end_data(e);
  const char *p = buf, *end = buf + n, *nl;

  while (p < end) {
    /* The line's first bytes are kept; the rest only counted. */
    nl = memchr(p, '\n', (size_t)(end - p));
    size_t part = (size_t)((nl ? nl : end) - p);
    if (f->head_len < sizeof f->head) {
      size_t keep = sizeof f->head - f->head_len;
      memcpy(f->head + f->head_len, p, part < keep ? part : keep);
    }
    f->head_len += part;
    if (nl == NULL)
      break;
    size_t len = f->head_len < sizeof f->head ? f->head_len : sizeof f->head;
    if (len > 0 && f->head_len <= sizeof f->head && f->head[len - 1] == '\r')
      len--;
    if (f->reply_end == NULL || f->reply_end(f->head, len))
      f->credits++;
    f->head_len = 0;
    p = nl + 1;
  }
  if (f->credits > 0 && f->waiting && !f->finished) {
    f->credits--;
    fz_feeder_send(f);
  }
}

static inline FZ_NOCOV void fz_feeder_end(struct mp_mem_end *e, int reset)
{
  (void)reset;
  fz_feeder_finish(mp_mem_end_data(e));
}

/* Sets the feeder up on a loop with a memnet (fz_feeder_close undoes). */
static inline FZ_NOCOV void fz_feeder_init(struct fz_feeder *f, uv_loop_t *loop,
                                           struct mp_memnet *net,
                                           const uint8_t *data, size_t size)
{
  memset(f, 0, sizeof *f);
  f->loop = loop;
  f->net = net;
  f->data = data;
  f->size = size;
  f->rng = fz_hash(data, size);
}

/* Starts on a connected end: reads, and sends the first turn now or after
 * the peer's first answer (or its silence). */
static inline FZ_NOCOV void
fz_feeder_start(struct fz_feeder *f, struct mp_mem_end *end, int wait_first)
{
  static const struct mp_mem_end_cbs cbs = {
      .on_data = fz_feeder_data,
      .on_end = fz_feeder_end,
  };
  f->end = end;
  mp_mem_end_set_cbs(end, &cbs, f);
  mp_memnet_on_quiet(f->net, fz_feeder_quiet, f);
  if (wait_first)
    fz_feeder_wait(f);
  else
    fz_feeder_send(f);
}

/* The handles of the run's one loop, counted once the target set it up:
 * after each input the loop must hold exactly these again. */
static size_t fz_loop_handles;

static inline FZ_NOCOV void fz_loop_count(uv_handle_t *h, void *arg)
{
  (void)h;
  (*(size_t *)arg)++;
}

static inline FZ_NOCOV void fz_loop_baseline(uv_loop_t *loop)
{
  fz_loop_handles = 0;
  uv_walk(loop, fz_loop_count, &fz_loop_handles);
}

static inline FZ_NOCOV void fz_loop_print(uv_handle_t *h, void *arg)
{
  fprintf(stderr, "%s: handle: %s%s%s\n", (const char *)arg,
          uv_handle_type_name(uv_handle_get_type(h)),
          uv_is_active(h) ? " (active)" : "",
          uv_is_closing(h) ? " (closing)" : "");
}

/* Aborts if an input left a handle behind (or closed one of the run's). */
static inline FZ_NOCOV void fz_loop_check(uv_loop_t *loop, const char *who)
{
  size_t n = 0;
  uv_walk(loop, fz_loop_count, &n);
  if (n == fz_loop_handles)
    return;
  fprintf(stderr, "%s: %zu handles after the input, %zu before\n", who, n,
          fz_loop_handles);
  uv_walk(loop, fz_loop_print, (void *)who);
  abort();
}

/* Unhooks the feeder from the memnet (the end is the target's). */
static inline FZ_NOCOV void fz_feeder_close(struct fz_feeder *f)
{
  if (f->net)
    mp_memnet_on_quiet(f->net, NULL, NULL);
}

#endif
