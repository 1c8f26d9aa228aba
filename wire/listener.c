/* A TCP listener that hands each accepted socket over as an mp_conn; on a
 * loop with a memnet installed it listens in the memnet instead and hands
 * over memory connections (the TCP handle is then never opened, but still
 * closed, so that closing calls back from the loop either way). */
#include "wire/listener.h"

#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "wire/conn.h"
#include "wire/errors.h"
#include "wire/memnet.h"

#define BACKLOG 4096

struct mp_listener {
  uv_tcp_t tcp;
  mp_listener_cb cb;
  void *data;
  uint16_t port;
  int closing;
  struct mp_memnet *mem; /* listening in memory, else NULL */
  struct sockaddr_storage addr;
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

/* A memory connection came (wire/memnet.h). */
static void on_mem_accept(void *data, struct mp_mem_end *e)
{
  struct mp_listener *l = data;
  struct mp_conn *c = mp_conn_new(l->tcp.loop, NULL, NULL);
  if (!c) {
    mp_mem_end_close(e, 1);
    return;
  }
  if (mp_conn_adopt_mem(c, e) < 0) {
    mp_mem_end_close(e, 1);
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
  l->mem = mp_memnet_of(loop);
  if (l->mem) {
    int rc = mp_memnet_listen(l->mem, (struct sockaddr *)&ss, on_mem_accept, l,
                              &l->port);
    if (rc < 0) {
      uv_close((uv_handle_t *)&l->tcp, (uv_close_cb)free);
      return rc;
    }
    l->addr = ss;
    if (ss.ss_family == AF_INET6)
      ((struct sockaddr_in6 *)&l->addr)->sin6_port = htons(l->port);
    else
      ((struct sockaddr_in *)&l->addr)->sin_port = htons(l->port);
    *out = l;
    return 0;
  }
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
  if (l->mem)
    mp_memnet_unlisten(l->mem, (struct sockaddr *)&l->addr);
  uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
}
