/* The in-memory network (wire/memnet.h): a table of listeners, pairs of
 * ends with an inbox each, and a run queue of ends with something to
 * deliver, drained by one idle handle. The line engine's side of it (an
 * mp_conn on an end) is wire/conn_mem.c. */
#include "wire/memnet.h"

#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "wire/errors.h"

/* Deliveries in one pass of the idle handle: the loop's timers and other
 * handles get a turn between passes even if two ends never stop talking. */
#define PASS_MAX 65536
#define FIRST_PORT 1024
#define FIRST_CLIENT_PORT 32768

/* Writes of up to SEG_SMALL bytes go in segments of that room, which the
 * net keeps (at most POOL_MAX of them) for the next write instead of
 * freeing: a fuzz run makes dozens of writes an input, and under ASan
 * each malloc/free pair is a large part of the run. A kept segment's
 * bytes are poisoned for ASan as a freed block is (and the room past a
 * write's bytes too), so a read after the delivery, or past the bytes, is
 * still reported. Its header is not: LeakSanitizer follows the kept list
 * through it (pointers in poisoned memory do not count). */
#define SEG_SMALL 512
#define POOL_MAX 64

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MEMNET_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define MEMNET_ASAN 1
#endif
#ifdef MEMNET_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* One write, as the peer will read it. */
struct seg {
  struct seg *next;
  size_t len;
  size_t room; /* data's size: SEG_SMALL, or len for a larger write */
  char data[];
};

struct listen {
  struct listen *next;
  struct sockaddr_storage addr; /* with the port */
  mp_memnet_accept_cb accept;
  void *data;
};

enum { EOF_NONE = 0, EOF_FIN, EOF_RST };

struct mp_mem_end {
  struct mp_memnet *net;
  struct mp_mem_end *peer; /* NULL once the peer closed */
  struct mp_mem_end_cbs cbs;
  void *data;
  struct seg *head, *tail; /* the inbox: the peer's writes, unread */
  size_t inbox;            /* bytes in it */
  struct mp_mem_end *run_next;
  struct mp_mem_end *prev, *next; /* every open end of the net */
  struct sockaddr_storage peer_addr;
  struct listen *acceptor; /* the accept owed, while accept_pending */
  int connect_status;
  unsigned eof : 2;             /* the peer's end, after the inbox */
  unsigned eof_told : 1;        /* on_end ran */
  unsigned connect_pending : 1; /* a dialled end: on_connect owed */
  unsigned accept_pending : 1;  /* an accepted end: the accept owed */
  unsigned reading : 1;
  unsigned queued : 1; /* in the run queue */
  unsigned in_cb : 1;  /* a callback of it runs: freed after it */
  unsigned closed : 1;
  unsigned shut : 1; /* our FIN is out */
};

struct mp_memnet {
  uv_loop_t *loop;
  uv_idle_t *idle; /* drains the run queue; freed by its close callback */
  struct listen *listeners;
  struct mp_mem_end *ends;                /* open ends */
  struct mp_mem_end *run_head, *run_tail; /* ends with a delivery due */
  size_t queued;
  uint16_t next_port, next_client_port;
  struct seg *pool; /* kept SEG_SMALL segments, poisoned */
  unsigned npool;
  void (*on_quiet)(void *data);
  void *quiet_data;
};

static _Thread_local struct mp_memnet *installed;

static void pump(uv_idle_t *h);
static struct mp_mem_end *run_pop(struct mp_memnet *n);

struct mp_memnet *mp_memnet_of(const uv_loop_t *loop)
{
  return installed && installed->loop == loop ? installed : NULL;
}

struct mp_memnet *mp_memnet_new(uv_loop_t *loop)
{
  if (installed)
    return NULL;
  struct mp_memnet *n = calloc(1, sizeof(*n));
  if (!n)
    return NULL;
  n->idle = malloc(sizeof(*n->idle));
  if (!n->idle) {
    free(n);
    return NULL;
  }
  uv_idle_init(loop, n->idle);
  n->idle->data = n;
  n->loop = loop;
  n->next_port = FIRST_PORT;
  n->next_client_port = FIRST_CLIENT_PORT;
  installed = n;
  return n;
}

/* A segment for a write of len bytes: a kept one when it fits. */
static struct seg *seg_new(struct mp_memnet *n, size_t len)
{
  struct seg *s;
  if (len <= SEG_SMALL && n->pool) {
    s = n->pool;
    UNPOISON(s->data, SEG_SMALL);
    n->pool = s->next;
    n->npool--;
  } else {
    size_t room = len <= SEG_SMALL ? SEG_SMALL : len;
    s = malloc(sizeof(*s) + room);
    if (!s)
      return NULL;
    s->room = room;
  }
  s->next = NULL;
  s->len = len;
  /* The room past the bytes is not the reader's. */
  POISON(s->data + len, s->room - len);
  return s;
}

static void seg_free(struct mp_memnet *n, struct seg *s)
{
  if (s->room != SEG_SMALL || n->npool >= POOL_MAX) {
    UNPOISON(s->data, s->room); /* free() wants it whole */
    free(s);
    return;
  }
  s->next = n->pool;
  n->pool = s;
  n->npool++;
  POISON(s->data, SEG_SMALL);
}

static void seg_free_all(struct mp_mem_end *e)
{
  struct seg *s = e->head;
  while (s) {
    struct seg *next = s->next;
    seg_free(e->net, s);
    s = next;
  }
  e->head = e->tail = NULL;
  e->inbox = 0;
}

static void on_idle_closed(uv_handle_t *h)
{
  free(h);
}

void mp_memnet_free(struct mp_memnet *n)
{
  if (!n)
    return;
  if (installed == n)
    installed = NULL;
  while (n->run_head) {
    struct mp_mem_end *e = run_pop(n);
    if (e->closed)
      free(e); /* the open ones are on n->ends */
  }
  while (n->ends) {
    struct mp_mem_end *e = n->ends;
    n->ends = e->next;
    seg_free_all(e);
    free(e);
  }
  while (n->listeners) {
    struct listen *l = n->listeners;
    n->listeners = l->next;
    free(l);
  }
  while (n->pool) {
    struct seg *s = n->pool;
    UNPOISON(s->data, SEG_SMALL);
    n->pool = s->next;
    free(s);
  }
  uv_close((uv_handle_t *)n->idle, on_idle_closed);
  free(n);
}

/* ---- addresses ---------------------------------------------------- */

static uint16_t addr_port(const struct sockaddr_storage *a)
{
  if (a->ss_family == AF_INET6)
    return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
  return ntohs(((const struct sockaddr_in *)a)->sin_port);
}

static void addr_set_port(struct sockaddr_storage *a, uint16_t port)
{
  if (a->ss_family == AF_INET6)
    ((struct sockaddr_in6 *)a)->sin6_port = htons(port);
  else
    ((struct sockaddr_in *)a)->sin_port = htons(port);
}

/* Copies addr (IPv4 or IPv6) into a clean sockaddr_storage; -1 for
 * another family. */
static int addr_copy(struct sockaddr_storage *to, const struct sockaddr *addr)
{
  memset(to, 0, sizeof(*to));
  if (addr->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
    struct sockaddr_in6 *b = (struct sockaddr_in6 *)to;
    b->sin6_family = AF_INET6;
    b->sin6_port = a->sin6_port;
    b->sin6_addr = a->sin6_addr;
    return 0;
  }
  if (addr->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
    struct sockaddr_in *b = (struct sockaddr_in *)to;
    b->sin_family = AF_INET;
    b->sin_port = a->sin_port;
    b->sin_addr = a->sin_addr;
    return 0;
  }
  return -1;
}

static struct listen *find_listener(struct mp_memnet *n,
                                    const struct sockaddr_storage *a)
{
  for (struct listen *l = n->listeners; l; l = l->next)
    if (memcmp(&l->addr, a, sizeof(*a)) == 0)
      return l;
  return NULL;
}

/* A port no listener of the family and host uses, counting up. */
static uint16_t free_port(struct mp_memnet *n, struct sockaddr_storage *a)
{
  for (unsigned i = 0; i < 65536 - FIRST_PORT; i++) {
    uint16_t port = n->next_port++;
    if (n->next_port == 0)
      n->next_port = FIRST_PORT;
    addr_set_port(a, port);
    if (!find_listener(n, a))
      return port;
  }
  return 0;
}

int mp_memnet_listen(struct mp_memnet *n, const struct sockaddr *addr,
                     mp_memnet_accept_cb accept, void *data, uint16_t *port)
{
  struct listen *l = calloc(1, sizeof(*l));
  if (!l)
    return MP_E_NO_RESOURCES;
  if (addr_copy(&l->addr, addr) < 0) {
    free(l);
    return MP_E_CONNECT_FAILED;
  }
  if (addr_port(&l->addr) == 0 && free_port(n, &l->addr) == 0) {
    free(l);
    return MP_E_NO_RESOURCES;
  }
  if (find_listener(n, &l->addr)) {
    free(l);
    return MP_E_CONNECT_FAILED; /* the address is in use */
  }
  l->accept = accept;
  l->data = data;
  l->next = n->listeners;
  n->listeners = l;
  if (port)
    *port = addr_port(&l->addr);
  return 0;
}

/* ---- the run queue ------------------------------------------------ */

static int has_work(const struct mp_mem_end *e)
{
  if (e->closed)
    return 0;
  if (e->accept_pending || e->connect_pending)
    return 1;
  return e->reading && (e->head || (e->eof && !e->eof_told));
}

/* Puts e in the run queue if it has something to deliver. */
static void schedule(struct mp_mem_end *e)
{
  struct mp_memnet *n = e->net;
  if (e->queued || e->in_cb || !has_work(e))
    return; /* in_cb: the pump looks again after the callback */
  e->queued = 1;
  e->run_next = NULL;
  if (n->run_tail)
    n->run_tail->run_next = e;
  else
    n->run_head = e;
  n->run_tail = e;
  if (n->queued++ == 0)
    uv_idle_start(n->idle, pump);
}

static struct mp_mem_end *run_pop(struct mp_memnet *n)
{
  struct mp_mem_end *e = n->run_head;
  n->run_head = e->run_next;
  if (!n->run_head)
    n->run_tail = NULL;
  e->queued = 0;
  n->queued--;
  return e;
}

static void end_unlink(struct mp_mem_end *e)
{
  if (e->prev)
    e->prev->next = e->next;
  else
    e->net->ends = e->next;
  if (e->next)
    e->next->prev = e->prev;
  e->prev = e->next = NULL;
}

/* One delivery of e's: the accept or connect owed, else one write, else
 * the peer's end. */
static void deliver_one(struct mp_mem_end *e)
{
  if (e->accept_pending) {
    struct listen *l = e->acceptor;
    e->accept_pending = 0;
    e->acceptor = NULL;
    l->accept(l->data, e);
    return;
  }
  if (e->connect_pending) {
    e->connect_pending = 0;
    if (e->cbs.on_connect)
      e->cbs.on_connect(e, e->connect_status);
    return;
  }
  if (e->head) {
    struct seg *s = e->head;
    e->head = s->next;
    if (!e->head)
      e->tail = NULL;
    e->inbox -= s->len;
    if (e->cbs.on_data)
      e->cbs.on_data(e, s->data, s->len);
    seg_free(e->net, s);
    return;
  }
  e->eof_told = 1;
  if (e->cbs.on_end)
    e->cbs.on_end(e, e->eof == EOF_RST);
}

static void pump(uv_idle_t *h)
{
  struct mp_memnet *n = h->data;
  unsigned i = 0;
again:
  for (; i < PASS_MAX && n->run_head; i++) {
    struct mp_mem_end *e = run_pop(n);
    if (e->closed) {
      free(e); /* closed while queued; its inbox went with the close */
      continue;
    }
    e->in_cb = 1;
    deliver_one(e);
    e->in_cb = 0;
    if (e->closed) {
      seg_free_all(e);
      free(e);
      continue;
    }
    schedule(e);
  }
  if (!n->run_head && n->on_quiet && i < PASS_MAX) {
    n->on_quiet(n->quiet_data);
    if (n->run_head)
      goto again;
  }
  if (!n->run_head)
    uv_idle_stop(h);
}

void mp_memnet_on_quiet(struct mp_memnet *n, void (*cb)(void *data), void *data)
{
  n->on_quiet = cb;
  n->quiet_data = data;
}

size_t mp_memnet_pending(const struct mp_memnet *n)
{
  return n->queued;
}

/* ---- ends --------------------------------------------------------- */

static struct mp_mem_end *end_new(struct mp_memnet *n)
{
  struct mp_mem_end *e = calloc(1, sizeof(*e));
  if (!e)
    return NULL;
  e->net = n;
  e->reading = 1;
  e->next = n->ends;
  if (n->ends)
    n->ends->prev = e;
  n->ends = e;
  return e;
}

int mp_memnet_dial(struct mp_memnet *n, const struct sockaddr *addr,
                   const struct mp_mem_end_cbs *cbs, void *data,
                   struct mp_mem_end **out)
{
  struct mp_mem_end *e = end_new(n);
  if (!e)
    return MP_E_NO_RESOURCES;
  if (cbs)
    e->cbs = *cbs;
  e->data = data;
  e->connect_pending = 1;
  e->connect_status = MP_E_CONNECT_REFUSED;
  struct sockaddr_storage a;
  struct listen *l = NULL;
  if (addr_copy(&a, addr) == 0) {
    e->peer_addr = a;
    l = find_listener(n, &a);
  }
  if (l) {
    struct mp_mem_end *s = end_new(n);
    if (!s) {
      end_unlink(e);
      free(e);
      return MP_E_NO_RESOURCES;
    }
    /* The accepted end's peer: a client address of our own counting. */
    s->peer_addr = a;
    addr_set_port(&s->peer_addr, n->next_client_port++);
    if (n->next_client_port == 0)
      n->next_client_port = FIRST_CLIENT_PORT;
    s->peer = e;
    e->peer = s;
    s->accept_pending = 1;
    s->acceptor = l;
    e->connect_status = 0;
    schedule(s); /* the accept before the connect, as a kernel would */
  }
  schedule(e);
  *out = e;
  return 0;
}

void mp_memnet_unlisten(struct mp_memnet *n, const struct sockaddr *addr)
{
  struct sockaddr_storage a;
  struct listen **p;
  if (addr_copy(&a, addr) < 0)
    return;
  for (p = &n->listeners; *p; p = &(*p)->next)
    if (memcmp(&(*p)->addr, &a, sizeof(a)) == 0)
      break;
  struct listen *l = *p;
  if (!l)
    return;
  *p = l->next;
  /* Connections not yet accepted are reset, as a closed listening
   * socket's backlog is. */
  struct mp_mem_end *e = n->ends;
  while (e) {
    struct mp_mem_end *next = e->next;
    if (e->accept_pending && e->acceptor == l) {
      e->accept_pending = 0;
      e->acceptor = NULL;
      mp_mem_end_close(e, 1);
    }
    e = next;
  }
  free(l);
}

void mp_mem_end_set_cbs(struct mp_mem_end *e, const struct mp_mem_end_cbs *cbs,
                        void *data)
{
  if (cbs)
    e->cbs = *cbs;
  else
    memset(&e->cbs, 0, sizeof(e->cbs));
  e->data = data;
}

void *mp_mem_end_data(const struct mp_mem_end *e)
{
  return e->data;
}

int mp_mem_end_write(struct mp_mem_end *e, const void *buf, size_t len)
{
  if (e->shut || e->closed)
    return MP_E_CONNECTION_CLOSED;
  struct mp_mem_end *p = e->peer;
  if (len == 0 || !p)
    return 0;
  if (p->inbox + len > MP_MEMNET_MAX_INBOX)
    return MP_E_NO_RESOURCES;
  struct seg *s = seg_new(e->net, len);
  if (!s)
    return MP_E_NO_RESOURCES;
  memcpy(s->data, buf, len);
  if (p->tail)
    p->tail->next = s;
  else
    p->head = s;
  p->tail = s;
  p->inbox += len;
  schedule(p);
  return 0;
}

void mp_mem_end_read(struct mp_mem_end *e, int on)
{
  e->reading = on != 0;
  if (on)
    schedule(e);
}

void mp_mem_end_shutdown(struct mp_mem_end *e)
{
  if (e->shut || e->closed)
    return;
  e->shut = 1;
  if (e->peer && e->peer->eof == EOF_NONE) {
    e->peer->eof = EOF_FIN;
    schedule(e->peer);
  }
}

void mp_mem_end_close(struct mp_mem_end *e, int reset)
{
  if (e->closed)
    return;
  struct mp_mem_end *p = e->peer;
  if (p) {
    p->peer = NULL;
    /* A RST overrides a FIN not yet heard; after our bytes, as Linux
     * hands a reader its queued bytes before the reset. */
    if (p->eof == EOF_NONE || (reset && !p->eof_told))
      p->eof = reset ? EOF_RST : EOF_FIN;
    schedule(p);
  }
  e->peer = NULL;
  e->closed = 1;
  memset(&e->cbs, 0, sizeof(e->cbs));
  end_unlink(e);
  seg_free_all(e);
  if (!e->queued && !e->in_cb)
    free(e);
  /* else the pump frees it when it comes up (or its callback returns) */
}

const struct sockaddr_storage *mp_mem_end_peer(const struct mp_mem_end *e)
{
  return &e->peer_addr;
}
