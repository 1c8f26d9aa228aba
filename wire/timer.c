/* One-shot timers over uv_timer_t (wire/timer.h). */
#include "wire/timer.h"

#include <stdlib.h>

#include <uv.h>

struct mp_timer {
  uv_timer_t h;
  mp_timer_cb cb;
  void *data;
};

struct mp_timer *mp_timer_new(uv_loop_t *loop)
{
  struct mp_timer *t = calloc(1, sizeof(*t));
  if (!t)
    return NULL;
  uv_timer_init(loop, &t->h);
  t->h.data = t;
  return t;
}

static void on_timer(uv_timer_t *h)
{
  struct mp_timer *t = h->data;
  mp_timer_cb cb = t->cb;
  t->cb = NULL;
  if (cb)
    cb(t->data);
}

void mp_timer_start(struct mp_timer *t, uint64_t ms, mp_timer_cb cb, void *data)
{
  t->cb = cb;
  t->data = data;
  uv_timer_start(&t->h, on_timer, ms, 0);
}

void mp_timer_stop(struct mp_timer *t)
{
  t->cb = NULL;
  uv_timer_stop(&t->h);
}

void mp_timer_free(struct mp_timer *t)
{
  if (!t)
    return;
  mp_timer_stop(t);
  uv_close((uv_handle_t *)&t->h, (uv_close_cb)free);
}
