/* Deadlines by the thousand on one loop: one queue per loop, a binary heap
 * in an array, woken by a timerfd to the microsecond (wire/deadline.c says
 * why not a uv_timer each). The line engine (wire/conn.c) gives every
 * connection one; a deadline never fires before its time and fires within
 * the kernel's timer slack after it. Not thread-safe per queue: a loop's
 * deadlines are used from its thread only (the registry of queues is
 * locked). */
#ifndef MP_DEADLINE_H
#define MP_DEADLINE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct mp_deadlines; /* a loop's queue */
struct mp_deadline;

typedef void (*mp_deadline_cb)(struct mp_deadline *d);

/* Embedded in its owner (a connection); the fields are the queue's. */
struct mp_deadline {
  struct mp_deadlines *q;
  size_t idx;     /* place in the heap; SIZE_MAX: not queued */
  uint64_t at_us; /* when, on mp_now_us()'s clock; 0: none */
  uint64_t seq;   /* when it was set: equal times fire in this order */
  mp_deadline_cb cb;
};

/* Joins loop's queue (made on first use) with room reserved for d, which
 * starts with no deadline; cb runs when it passes. 0, or -1 when out of
 * memory. */
int mp_deadline_join(struct mp_deadline *d, uv_loop_t *loop, mp_deadline_cb cb);

/* Leaves the queue (clearing d's deadline); the last one to leave closes
 * the queue's handles, so the loop can close. */
void mp_deadline_leave(struct mp_deadline *d);

/* Sets d to fire at at_us (mp_now_us() clock), or with 0 clears it. A time
 * that passed already fires from the loop, never from here. */
void mp_deadline_set(struct mp_deadline *d, uint64_t at_us);

/* 1 when some deadline of d's loop passes within us microseconds. */
int mp_deadline_due_within(const struct mp_deadline *d, uint64_t us);

#endif
