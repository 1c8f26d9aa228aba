/* The line engine's memory transport (wire/memnet.h): an mp_conn on a
 * memory end instead of a TCP socket. The end's callbacks are what libuv's
 * read and connect callbacks are for a socket, so wire/conn.c frames,
 * decrypts, times out and closes the same way on both. */
#include "wire/conn_internal.h"

#include "wire/errors.h"
#include "wire/memnet.h"

static void mem_on_connect(struct mp_mem_end *e, int status)
{
  mp_conn__mem_connected(mp_mem_end_data(e), status == 0 ? 0 : UV_ECONNREFUSED);
}

static void mem_on_data(struct mp_mem_end *e, const char *buf, size_t len)
{
  mp_conn__mem_read(mp_mem_end_data(e), (ssize_t)len, (char *)buf);
}

static void mem_on_end(struct mp_mem_end *e, int reset)
{
  mp_conn__mem_read(mp_mem_end_data(e), reset ? UV_ECONNRESET : UV_EOF, NULL);
}

static const struct mp_mem_end_cbs mem_cbs = {
    .on_connect = mem_on_connect,
    .on_data = mem_on_data,
    .on_end = mem_on_end,
};

int mp_conn__mem_connect(struct mp_conn *c, struct mp_memnet *net,
                         const struct sockaddr *addr)
{
  struct mp_mem_end *e;
  int rc = mp_memnet_dial(net, addr, &mem_cbs, c, &e);
  if (rc < 0)
    return rc == MP_E_NO_RESOURCES ? UV_ENOMEM : UV_EINVAL;
  mp_mem_end_read(e, 0); /* reading starts with the connect, as on TCP */
  c->mem = e;
  return 0;
}

/* conn.h: takes an accepted memory end. */
int mp_conn_adopt_mem(struct mp_conn *c, struct mp_mem_end *e)
{
  if (c->state != ST_NEW || c->mem)
    return MP_E_CONNECTION_CLOSED;
  mp_mem_end_set_cbs(e, &mem_cbs, c);
  mp_mem_end_read(e, 0);
  c->mem = e;
  c->state = ST_OPEN;
  if (!c->paused && mp_conn__read_any(c) == 0)
    c->reading = 1;
  return 0;
}

int mp_conn__mem_read_start(struct mp_conn *c)
{
  mp_mem_end_read(c->mem, 1);
  return 0;
}

void mp_conn__mem_read_stop(struct mp_conn *c)
{
  mp_mem_end_read(c->mem, 0);
}

int mp_conn__mem_send(struct mp_conn *c, const char *buf, size_t len)
{
  int rc = mp_mem_end_write(c->mem, buf, len);
  /* As a socket's write after our shutdown would fail. */
  return rc == MP_E_NO_RESOURCES ? rc : rc < 0 ? MP_E_CONNECTION_CLOSED : 0;
}

void mp_conn__mem_close(struct mp_conn *c, int reset)
{
  mp_mem_end_close(c->mem, reset);
  c->mem = NULL;
}
