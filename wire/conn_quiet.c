/* The quiet-close queue: graceful closes after a deadline passed (a probe
 * that timed out), with nothing left to lose, wait here for the idle phase
 * of a loop turn, after that turn's timers and I/O. Why: on loopback
 * close() runs the peer's whole FIN processing inline (~15 us), and when
 * thousands of deadlines expire together each result would otherwise wait for
 * the close() of every probe before it. Each turn closes for a quarter of the
 * time the rest of the turn took (at least QUIET_BUDGET_US, at least QUIET_MIN
 * sockets), so results go first and closes still keep up with a busy loop; and
 * none while a deadline of the loop passes within QUIET_GUARD_US, so a close
 * never holds up a result that is due (they wait until the deadlines
 * thin out, bounded by QUIET_MAX and the descriptor limit below). Other closes
 * do not wait: a queued socket holds a descriptor that new connections
 * may need (at 9,000 checks in flight with their servers in the process,
 * queueing every close made accepts fail). Past QUIET_MAX waiting, with
 * 3/4 of the descriptor limit in connections, or when a connect finds no
 * descriptor left, sockets close at once. One queue per thread (a loop
 * runs on one thread), for one loop at a time; another loop's connections
 * close at once. */
#include "wire/conn_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/resource.h>

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
atomic_long mp_conn__socks_open;

static void quiet_unlink(struct mp_conn *c)
{
  if (!c->quiet.queued)
    return;
  c->quiet.queued = 0;
  quiet.n--;
  if (c->quiet.prev)
    c->quiet.prev->quiet.next = c->quiet.next;
  else
    quiet.head = c->quiet.next;
  if (c->quiet.next)
    c->quiet.next->quiet.prev = c->quiet.prev;
  else
    quiet.tail = c->quiet.prev;
  c->quiet.prev = c->quiet.next = NULL;
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
  if (mp_conn__close_would_lose(c)) {
    mp_conn__linger(c);
    return;
  }
  mp_conn__close_handle((uv_handle_t *)&c->tcp);
  mp_conn__sock_closed(c);
  mp_conn__close_handle((uv_handle_t *)&c->aux);
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
size_t mp_conn__quiet_flush(uv_loop_t *loop)
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

/* mp_conn__close_now for a graceful close with nothing left to lose, with
 * the socket's close() put off to the quiet queue (see the top of this
 * file). */
void mp_conn__quiet_close(struct mp_conn *c)
{
  if (c->mem) {
    mp_conn__close_now(c, 0); /* no socket whose close() could wait */
    return;
  }
  if (quiet.idle &&
      (quiet.loop != c->loop || uv_is_closing((uv_handle_t *)quiet.idle))) {
    if (quiet.head) {
      mp_conn__close_or_linger(c); /* the queue serves another loop */
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
  if (quiet.n >= QUIET_MAX ||
      atomic_load(&mp_conn__socks_open) >= quiet.fd_high) {
    mp_conn__close_or_linger(c);
    return;
  }
  if (!quiet.idle) {
    quiet.idle = malloc(sizeof(*quiet.idle));
    if (!quiet.idle) {
      mp_conn__close_or_linger(c);
      return;
    }
    uv_idle_init(c->loop, quiet.idle);
    uv_idle_start(quiet.idle, on_quiet_idle);
    quiet.loop = c->loop;
    quiet.last_ns = uv_hrtime();
  }
  c->state = ST_CLOSING;
  mp_conn__drop_cbs(c);
  mp_deadline_set(&c->dl, 0);
  mp_conn__close_handle((uv_handle_t *)&c->user.timer);
  mp_conn__close_handle((uv_handle_t *)&c->shape.timer);
  mp_conn__close_handle((uv_handle_t *)&c->turn);
  c->quiet.queued = 1;
  quiet.n++;
  c->quiet.next = NULL;
  c->quiet.prev = quiet.tail;
  if (quiet.tail)
    quiet.tail->quiet.next = c;
  else
    quiet.head = c;
  quiet.tail = c;
}

/* Takes c out of the queue: its handles were closed by someone else. */
void mp_conn__quiet_forget(struct mp_conn *c)
{
  if (!c->quiet.queued)
    return;
  quiet_unlink(c);
  quiet_maybe_stop();
}
