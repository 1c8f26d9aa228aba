/* A one-shot timer on the loop for code that has no connection to hang it
 * on (the round trip's poll interval). */
#ifndef MP_TIMER_H
#define MP_TIMER_H

#include <stdint.h>

struct uv_loop_s;
struct mp_timer;

typedef void (*mp_timer_cb)(void *data);

/* A stopped timer; NULL when out of memory. */
struct mp_timer *mp_timer_new(struct uv_loop_s *loop);

/* Runs cb(data) once after ms (re-arming replaces the previous one). */
void mp_timer_start(struct mp_timer *t, uint64_t ms, mp_timer_cb cb,
                    void *data);
void mp_timer_stop(struct mp_timer *t);

/* Stops it and frees it once its handle closed; cb never runs after. */
void mp_timer_free(struct mp_timer *t);

#endif
