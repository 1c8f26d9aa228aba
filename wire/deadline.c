/* Deadlines by the thousand on one loop (wire/deadline.h).
 *
 * Every connection's deadline sits in one queue per loop: a binary heap in
 * an array (the connection knows its place, so moving or removing one is
 * O(log n) in memory that stays in cache), with one wake-up for the
 * earliest. A uv_timer per connection would cost a libuv heap operation
 * that chases pointers across thousands of connections for every result,
 * and counts whole milliseconds: armed on a clock read to the millisecond
 * and slept on with epoll_wait's millisecond timeout from the start of the
 * loop turn, a deadline that must never fire early fires up to ~2 ms late
 * before any work is done. Here the wake-up is a timerfd (Linux) set to the
 * earliest deadline in absolute CLOCK_MONOTONIC nanoseconds (uv_hrtime's
 * clock), watched by a uv_poll_t: the loop wakes within the kernel's timer
 * slack (~50 us) of the deadline, and the queue then delivers every
 * deadline that has passed, reading the clock again as it goes, so a burst
 * of expiries is not cut into loop turns that each wait for the clock to
 * tick. Without a timerfd (another system, or no descriptor left) one
 * uv_timer per loop stands in, armed for the first loop millisecond at or
 * after the deadline. Either way a deadline is checked against the precise
 * clock before it fires: never early.
 *
 * A deadline moved later (a server touching its idle timeout on every
 * line) keeps its place in the heap, no earlier than it needs to be: the
 * queue moves it when it comes up, at the cost of one wake-up for
 * nothing at its old time.
 *
 * The queue lives while its loop has members: made by the first
 * mp_deadline_join on a loop, its handles closed after the last member
 * left (so uv_loop_close succeeds once every connection is closed). */
#include "wire/deadline.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/timerfd.h>
#endif

#include "wire/conn.h" /* mp_now_us */

#define DQ_NONE SIZE_MAX
#define DQ_PASS_US 1000

struct dq_entry {
  uint64_t at_us;
  uint64_t seq; /* equal deadlines fire in the order they were set */
  struct mp_deadline *d;
};

struct mp_deadlines {
  uv_loop_t *loop;
  struct mp_deadlines *next; /* the registry */
  uv_timer_t timer;          /* without a timerfd */
  uv_poll_t poll;            /* on tfd */
  int tfd;                   /* -1: none */
  int handles;               /* open handles */
  size_t nconns;             /* members (connections of this loop) */
  struct dq_entry *heap;
  size_t n, cap;
  uint64_t seq;
  uint64_t armed_us; /* what the wake-up is set for; 0: nothing */
  unsigned firing : 1;
  unsigned polling : 1; /* poll is started */
};

/* Loops with a queue; looked up when a connection is made. */
static pthread_mutex_t dq_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mp_deadlines *dq_all;
static pthread_once_t dq_once = PTHREAD_ONCE_INIT;

/* A forked child starts with no queues: the parent's loops are not its
 * own (their timerfds are shared with the parent), and the lock may have
 * been held by another thread of the parent when it forked. */
static void dq_atfork_child(void)
{
  pthread_mutex_init(&dq_lock, NULL);
  dq_all = NULL;
}

static void dq_init_once(void)
{
  pthread_atfork(NULL, NULL, dq_atfork_child);
}

static void dq_fire(struct mp_deadlines *q);

static int dq_before(const struct dq_entry *a, const struct dq_entry *b)
{
  return a->at_us < b->at_us || (a->at_us == b->at_us && a->seq < b->seq);
}

static void dq_put(struct mp_deadlines *q, size_t i, struct dq_entry e)
{
  q->heap[i] = e;
  e.d->idx = i;
}

static void dq_up(struct mp_deadlines *q, size_t i)
{
  struct dq_entry e = q->heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!dq_before(&e, &q->heap[parent]))
      break;
    dq_put(q, i, q->heap[parent]);
    i = parent;
  }
  dq_put(q, i, e);
}

static void dq_down(struct mp_deadlines *q, size_t i)
{
  struct dq_entry e = q->heap[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= q->n)
      break;
    if (child + 1 < q->n && dq_before(&q->heap[child + 1], &q->heap[child]))
      child++;
    if (!dq_before(&q->heap[child], &e))
      break;
    dq_put(q, i, q->heap[child]);
    i = child;
  }
  dq_put(q, i, e);
}

static void dq_on_timer(uv_timer_t *t)
{
  dq_fire(t->data);
}

#ifdef __linux__
static void dq_on_poll(uv_poll_t *p, int status, int events)
{
  struct mp_deadlines *q = p->data;
  uint64_t ticks;
  (void)status;
  (void)events;
  if (read(q->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
    ticks = 0; /* nothing to clear; the queue looks at the clock */
  dq_fire(q);
}
#endif

/* Sets the wake-up for the earliest deadline (unless one at or before it
 * is set: a wake-up that finds nothing due only sets the next), and keeps
 * the loop alive while deadlines wait, as a timer would. armed_us != 0
 * means the wake-up's handle is running. */
static void dq_arm(struct mp_deadlines *q)
{
  if (q->firing)
    return; /* dq_fire arms once it is done */
  if (q->n == 0) {
    if (q->polling)
      uv_poll_stop(&q->poll);
    q->polling = 0;
    uv_timer_stop(&q->timer);
    q->armed_us = 0;
    return;
  }
  uint64_t at = q->heap[0].at_us;
  if (q->armed_us != 0 && q->armed_us <= at)
    return;
#ifdef __linux__
  if (q->tfd >= 0 && !uv_is_closing((uv_handle_t *)&q->poll)) {
    struct itimerspec its = {0};
    its.it_value.tv_sec = (time_t)(at / 1000000);
    its.it_value.tv_nsec = (long)(at % 1000000) * 1000;
    if (timerfd_settime(q->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0) {
      if (!q->polling)
        uv_poll_start(&q->poll, UV_READABLE, dq_on_poll);
      q->polling = 1;
      q->armed_us = at;
      return;
    }
  }
#endif
  if (uv_is_closing((uv_handle_t *)&q->timer))
    return; /* closed under us (uv_walk): nothing fires any more */
  /* The loop's clock counts whole milliseconds of the same clock, so the
   * first loop millisecond at or after the deadline is never before it. */
  uv_update_time(q->loop);
  uint64_t due_ms = (at + 999) / 1000, now_ms = uv_now(q->loop);
  uv_timer_start(&q->timer, dq_on_timer, due_ms > now_ms ? due_ms - now_ms : 0,
                 0);
  q->armed_us = due_ms * 1000;
}

/* Takes d out of its queue. */
static void dq_remove(struct mp_deadline *d)
{
  struct mp_deadlines *q = d->q;
  size_t i = d->idx;
  d->at_us = 0;
  if (i == DQ_NONE)
    return;
  d->idx = DQ_NONE;
  q->n--;
  if (i < q->n) {
    struct dq_entry last = q->heap[q->n];
    dq_put(q, i, last);
    if (i > 0 && dq_before(&last, &q->heap[(i - 1) / 2]))
      dq_up(q, i);
    else
      dq_down(q, i);
  }
  dq_arm(q);
}

/* Queues (or moves) d's deadline to at_us. There is room: every member
 * reserved its place when it joined. */
static void dq_set(struct mp_deadline *d, uint64_t at_us)
{
  struct mp_deadlines *q = d->q;
  struct dq_entry e = {.at_us = at_us, .seq = q->seq++, .d = d};
  size_t i = d->idx;
  d->at_us = at_us;
  d->seq = e.seq;
  if (i != DQ_NONE && at_us >= q->heap[i].at_us)
    return; /* later: the entry stays, dq_fire moves it when it comes up */
  if (i == DQ_NONE) {
    i = q->n++;
    q->heap[i] = e;
    dq_up(q, i);
  } else {
    q->heap[i] = e; /* earlier than its entry: only up */
    dq_up(q, i);
  }
  dq_arm(q);
}

/* Delivers every deadline that has passed, earliest first, reading the
 * clock again whenever the next one looks not yet due; at most as many as
 * were queued when it started (a callback may set new deadlines that have
 * passed already: those wait for the next wake-up), and for at most
 * DQ_PASS_US: then the loop turn goes on (I/O, and the close callbacks
 * that free what the results closed) and the wake-up, set for a time
 * that has passed, brings the rest on the next turn. */
static void dq_fire(struct mp_deadlines *q)
{
  size_t budget = q->n;
  uint64_t now = mp_now_us(), until = now + DQ_PASS_US;
  q->armed_us = 0; /* the wake-up was used */
  q->firing = 1;
  while (q->n > 0 && budget > 0) {
    struct mp_deadline *d = q->heap[0].d;
    if (q->heap[0].at_us > now || (budget & 63) == 0) {
      now = mp_now_us();
      if (q->heap[0].at_us > now || now > until)
        break;
    }
    budget--;
    if (d->at_us > q->heap[0].at_us) {
      /* Moved later since it was queued: put it where it belongs now. */
      q->heap[0].at_us = d->at_us;
      q->heap[0].seq = d->seq;
      dq_down(q, 0);
      continue;
    }
    dq_remove(d);
    d->cb(d);
  }
  q->firing = 0;
  dq_arm(q);
}

static void dq_handle_closed(uv_handle_t *h)
{
  struct mp_deadlines *q = h->data;
  if (--q->handles > 0)
    return;
  if (q->tfd >= 0)
    close(q->tfd);
  free(q->heap);
  free(q);
}

static void dq_unlink(struct mp_deadlines *q);
static void dq_release(struct mp_deadlines *q);

/* The queue of loop, made on first use, with room for one more
 * member's deadline; NULL when out of memory. */
static struct mp_deadlines *dq_get(uv_loop_t *loop)
{
  struct mp_deadlines *q;
  pthread_once(&dq_once, dq_init_once);
  pthread_mutex_lock(&dq_lock);
  for (q = dq_all; q && q->loop != loop; q = q->next)
    ;
  if (!q) {
    q = calloc(1, sizeof(*q));
    if (!q) {
      pthread_mutex_unlock(&dq_lock);
      return NULL;
    }
    q->loop = loop;
    q->tfd = -1;
#ifdef __linux__
    q->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (q->tfd >= 0 && uv_poll_init(loop, &q->poll, q->tfd) < 0) {
      close(q->tfd);
      q->tfd = -1;
    }
    if (q->tfd >= 0) {
      q->poll.data = q;
      q->handles++;
    }
#endif
    uv_timer_init(loop, &q->timer);
    q->timer.data = q;
    q->handles++;
    q->next = dq_all;
    dq_all = q;
  }
  if (q->nconns == q->cap) {
    size_t cap = q->cap ? q->cap * 2 : 64;
    struct dq_entry *h = realloc(q->heap, cap * sizeof(*h));
    if (h) {
      q->heap = h;
      q->cap = cap;
    }
  }
  if (q->nconns < q->cap) {
    q->nconns++;
    pthread_mutex_unlock(&dq_lock);
    return q;
  }
  int unused = q->nconns == 0;
  if (unused)
    dq_unlink(q); /* made for nothing */
  pthread_mutex_unlock(&dq_lock);
  if (unused)
    dq_release(q);
  return NULL;
}

/* Takes q out of the registry (the lock held). */
static void dq_unlink(struct mp_deadlines *q)
{
  struct mp_deadlines **pp = &dq_all;
  while (*pp && *pp != q)
    pp = &(*pp)->next;
  if (*pp)
    *pp = q->next;
}

/* Closes an unlinked q's handles; it is freed after their close. */
static void dq_release(struct mp_deadlines *q)
{
  /* Handles someone else closed (uv_walk) are not ours to close again,
   * nor is q ours to free then: their close callback is not ours. */
  int foreign = 0;
  if (q->tfd >= 0) {
    if (uv_is_closing((uv_handle_t *)&q->poll))
      foreign = 1;
    else
      uv_close((uv_handle_t *)&q->poll, dq_handle_closed);
  }
  if (uv_is_closing((uv_handle_t *)&q->timer))
    foreign = 1;
  else
    uv_close((uv_handle_t *)&q->timer, dq_handle_closed);
  if (foreign)
    q->handles = INT_MAX; /* never freed: a handle may still be closing */
}

/* A member of q is gone; the last one closes the queue. */
static void dq_put_conn(struct mp_deadlines *q)
{
  pthread_mutex_lock(&dq_lock);
  size_t left = --q->nconns;
  if (left == 0)
    dq_unlink(q);
  pthread_mutex_unlock(&dq_lock);
  if (left == 0)
    dq_release(q);
}

int mp_deadline_join(struct mp_deadline *d, uv_loop_t *loop, mp_deadline_cb cb)
{
  d->q = dq_get(loop);
  d->idx = DQ_NONE;
  d->at_us = 0;
  d->seq = 0;
  d->cb = cb;
  return d->q ? 0 : -1;
}

void mp_deadline_leave(struct mp_deadline *d)
{
  struct mp_deadlines *q = d->q;
  if (!q)
    return;
  dq_remove(d);
  d->q = NULL;
  dq_put_conn(q);
}

void mp_deadline_set(struct mp_deadline *d, uint64_t at_us)
{
  if (at_us == 0)
    dq_remove(d);
  else
    dq_set(d, at_us);
}

int mp_deadline_due_within(const struct mp_deadline *d, uint64_t us)
{
  const struct mp_deadlines *q = d->q;
  /* The top may be a deadline moved later: early, never late, which is
   * what a guard wants. */
  return q && q->n > 0 && q->heap[0].at_us <= mp_now_us() + us;
}
