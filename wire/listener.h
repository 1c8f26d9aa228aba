/* A TCP listener on the loop that hands accepted sockets over as mp_conn. */
#ifndef MP_LISTENER_H
#define MP_LISTENER_H

#include <stdint.h>

struct uv_loop_s;
struct mp_conn;
struct mp_listener;

/* Runs for each accepted connection: the callee sets the callbacks with
 * mp_conn_set_cbs() and starts talking. */
typedef void (*mp_listener_cb)(struct mp_listener *l, struct mp_conn *c);

/* Listens on host:port (port 0: the kernel picks; read it back with
 * mp_listener_port). host is an IP literal ("127.0.0.1", "::1").
 * 0 or a negative code; *out is set on success. */
int mp_listener_start(struct uv_loop_s *loop, const char *host, uint16_t port,
                      mp_listener_cb cb, void *data, struct mp_listener **out);

uint16_t mp_listener_port(const struct mp_listener *l);
void *mp_listener_data(const struct mp_listener *l);

/* Stops accepting and frees the listener once its handle closed (connections
 * already accepted live on). Idempotent. on_closed may be NULL. */
void mp_listener_close(struct mp_listener *l,
                       void (*on_closed)(void *data));

#endif
