/* A TCP listener that hands each accepted socket over as an mp_conn. */
#include "wire/listener.h"

#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "wire/conn.h"
#include "wire/errors.h"

#define BACKLOG 4096

struct mp_listener {
  uv_tcp_t tcp;
  mp_listener_cb cb;
  void *data;
  uint16_t port;
  int closing;
  void (*on_closed)(void *data);
};

static void on_connection(uv_stream_t *server, int status)
{
  struct mp_listener *l = server->data;
  if (status < 0 || l->closing)
    return;
  struct mp_conn *c = mp_conn_new(server->loop, NULL, NULL);
  if (!c) {
    /* Take the socket off the queue so it does not spin; drop it. */
    uv_tcp_t *t = malloc(sizeof(*t));
    if (t && uv_tcp_init(server->loop, t) == 0 &&
        uv_accept(server, (uv_stream_t *)t) == 0)
      uv_close((uv_handle_t *)t, (uv_close_cb)free);
    else
      free(t);
    return;
  }
  if (mp_conn_adopt(c, server) < 0) {
    mp_conn_abort(c);
    return;
  }
  l->cb(l, c);
}

int mp_listener_start(uv_loop_t *loop, const char *host, uint16_t port,
                      mp_listener_cb cb, void *data, struct mp_listener **out)
{
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
    return MP_E_CONNECT_FAILED;
  struct mp_listener *l = calloc(1, sizeof(*l));
  if (!l)
    return MP_E_NO_RESOURCES;
  l->cb = cb;
  l->data = data;
  uv_tcp_init(loop, &l->tcp);
  l->tcp.data = l;
  int rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&l->tcp, BACKLOG, on_connection);
  if (rc < 0) {
    uv_close((uv_handle_t *)&l->tcp, (uv_close_cb)free);
    return rc == UV_EMFILE || rc == UV_ENFILE ? MP_E_NO_RESOURCES
                                              : MP_E_CONNECT_FAILED;
  }
  struct sockaddr_storage name;
  int len = sizeof(name);
  uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&name, &len);
  if (name.ss_family == AF_INET6)
    l->port = ntohs(((struct sockaddr_in6 *)&name)->sin6_port);
  else
    l->port = ntohs(((struct sockaddr_in *)&name)->sin_port);
  *out = l;
  return 0;
}

uint16_t mp_listener_port(const struct mp_listener *l)
{
  return l->port;
}

void *mp_listener_data(const struct mp_listener *l)
{
  return l->data;
}

static void on_listener_closed(uv_handle_t *h)
{
  struct mp_listener *l = h->data;
  if (l->on_closed)
    l->on_closed(l->data);
  free(l);
}

void mp_listener_close(struct mp_listener *l, void (*on_closed)(void *data))
{
  if (l->closing)
    return;
  l->closing = 1;
  l->on_closed = on_closed;
  uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
}
