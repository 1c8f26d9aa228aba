/* Name resolution on the caller's libuv loop with c-ares (see resolve.h for
 * the order of lookups and the modes).
 *
 * c-ares owns its sockets and tells us, through ARES_OPT_SOCK_STATE_CB,
 * which ones to watch; each gets a uv_poll_t that feeds ares_process_fd().
 * One uv_timer_t serves three purposes: c-ares' own retry timeouts
 * (ares_timeout(), capped by our deadline), the hard deadline of the whole
 * lookup, and the zero-delay kick that delivers answers known at once
 * (literals, mappings, localhost) from the loop instead of from inside
 * mp_resolve().
 *
 * c-ares callbacks only record what happened; step() runs after every call
 * into c-ares and decides (fall back to the other family, finish, or re-arm
 * the timer), so the user callback and ares_destroy() never run inside a
 * c-ares callback. */
#include "probes/resolve.h"

#include "probes/resolve_parse.h"

#include "wire/errors.h"

#include <ares.h>
#include <uv.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define RS_TRIES 2       /* c-ares tries per server */
#define RS_MAX_SERVERS 8 /* servers in opts->server */

struct rs_poll {
  uv_poll_t h;
  struct mp_resolve *r;
  ares_socket_t fd;
  struct rs_poll *next;
};

struct mp_resolve {
  uv_loop_t *loop;
  uv_timer_t timer;
  ares_channel ch;       /* NULL when the answer needs no DNS */
  struct rs_poll *polls; /* one per socket c-ares asked us to watch */
  unsigned open_handles; /* the timer and polls not yet closed */
  mp_resolve_cb cb;
  void *data;
  char *host; /* kept for the fallback query */
  uint16_t port;
  uint64_t deadline; /* in uv_now() milliseconds */
  int family;        /* of the query in flight */
  int fallback;      /* the family to try next, or AF_UNSPEC for none */
  int want_fallback; /* the first family found nothing: ask the other */
  int ready;         /* status and addrs are final */
  int status;
  int in_start; /* inside mp_resolve_start(): do not finish yet */
  int closing;
  size_t n;
  struct sockaddr_storage addrs[MP_RESOLVE_MAX];
};

/* --- Results ------------------------------------------------------------ */

static int same_addr(const struct sockaddr_storage *a,
                     const struct sockaddr_storage *b)
{
  if (a->ss_family != b->ss_family)
    return 0;
  if (a->ss_family == AF_INET)
    return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
                  &((const struct sockaddr_in *)b)->sin_addr, 4) == 0;
  return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0 &&
         ((const struct sockaddr_in6 *)a)->sin6_scope_id ==
             ((const struct sockaddr_in6 *)b)->sin6_scope_id;
}

/* Appends one address (port set) unless full or already there. */
static void add_addr(struct mp_resolve *r, const struct sockaddr *sa,
                     size_t len)
{
  struct sockaddr_storage ss;
  size_t i;

  if (r->n == MP_RESOLVE_MAX || len > sizeof(ss))
    return;
  if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
    memset(&ss, 0, sizeof(ss));
    memcpy(&ss, sa, sizeof(struct sockaddr_in));
    ((struct sockaddr_in *)&ss)->sin_port = htons(r->port);
  } else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
    memset(&ss, 0, sizeof(ss));
    memcpy(&ss, sa, sizeof(struct sockaddr_in6));
    ((struct sockaddr_in6 *)&ss)->sin6_port = htons(r->port);
  } else {
    return;
  }
  for (i = 0; i < r->n; i++)
    if (same_addr(&r->addrs[i], &ss))
      return;
  r->addrs[r->n++] = ss;
}

static size_t ss_len(const struct sockaddr_storage *ss)
{
  return ss->ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                  : sizeof(struct sockaddr_in6);
}

/* Fills r from candidate addresses known without DNS (mappings,
 * localhost), filtered and ordered by the mode. */
static void answer_from(struct mp_resolve *r, enum mp_dns_mode mode,
                        const struct sockaddr_storage *cand, size_t ncand)
{
  int first = AF_UNSPEC, second = AF_UNSPEC;
  size_t i;

  switch (mode) {
  case MP_DNS_IPV4:
    first = AF_INET;
    break;
  case MP_DNS_IPV6:
    first = AF_INET6;
    break;
  case MP_DNS_PREFER_V4:
    first = AF_INET;
    second = AF_INET6;
    break;
  case MP_DNS_PREFER_V6:
    first = AF_INET6;
    second = AF_INET;
    break;
  default:
    break;
  }
  for (i = 0; i < ncand; i++)
    if (first == AF_UNSPEC || cand[i].ss_family == first)
      add_addr(r, (const struct sockaddr *)&cand[i], ss_len(&cand[i]));
  if (r->n == 0 && second != AF_UNSPEC)
    for (i = 0; i < ncand; i++)
      if (cand[i].ss_family == second)
        add_addr(r, (const struct sockaddr *)&cand[i], ss_len(&cand[i]));
  r->ready = 1;
  r->status = r->n > 0 ? 0 : MP_E_DNS_FAILED;
}

/* --- The loop side ------------------------------------------------------ */

static void on_timer(uv_timer_t *t);

static void on_handle_closed(uv_handle_t *h)
{
  struct mp_resolve *r;

  if (h->type == UV_POLL) {
    struct rs_poll *p = h->data;

    r = p->r;
    free(p);
  } else {
    r = h->data;
  }
  if (--r->open_handles == 0) {
    free(r->host);
    free(r);
  }
}

static void close_poll(struct mp_resolve *r, struct rs_poll *p)
{
  struct rs_poll **pp;

  for (pp = &r->polls; *pp != NULL; pp = &(*pp)->next)
    if (*pp == p) {
      *pp = p->next;
      break;
    }
  uv_close((uv_handle_t *)&p->h, on_handle_closed);
}

static void finish(struct mp_resolve *r)
{
  mp_resolve_cb cb = r->cb;

  if (r->closing)
    return;
  r->closing = 1;
  r->cb = NULL;
  uv_timer_stop(&r->timer);
  /* Cancels what is in flight (our callback ignores it now) and closes
   * c-ares' sockets, telling sock_state_cb first: that closes the polls. */
  if (r->ch != NULL) {
    ares_destroy(r->ch);
    r->ch = NULL;
  }
  while (r->polls != NULL)
    close_poll(r, r->polls);
  if (cb != NULL)
    cb(r->status, r->n > 0 ? r->addrs : NULL, r->n, r->data);
  uv_close((uv_handle_t *)&r->timer, on_handle_closed);
}

/* Arms the timer for c-ares' next retry or our deadline, whichever first. */
static void rearm(struct mp_resolve *r)
{
  uint64_t now = uv_now(r->loop), left, ms;
  struct timeval max, tv, *t;

  if (now >= r->deadline) {
    r->ready = 1;
    r->status = MP_E_DNS_FAILED;
    uv_timer_start(&r->timer, on_timer, 0, 0);
    return;
  }
  left = r->deadline - now;
  max.tv_sec = (time_t)(left / 1000);
  max.tv_usec = (suseconds_t)((left % 1000) * 1000);
  t = ares_timeout(r->ch, &max, &tv);
  ms = (uint64_t)t->tv_sec * 1000 + ((uint64_t)t->tv_usec + 999) / 1000;
  uv_timer_start(&r->timer, on_timer, ms, 0);
}

static void start_query(struct mp_resolve *r);

/* Runs after every call into c-ares, outside its callbacks. */
static void step(struct mp_resolve *r)
{
  if (r->closing)
    return;
  if (!r->ready && r->want_fallback) {
    r->want_fallback = 0;
    start_query(r);
  }
  if (r->ready) {
    if (r->in_start)
      uv_timer_start(&r->timer, on_timer, 0, 0);
    else
      finish(r);
    return;
  }
  rearm(r);
}

static void on_timer(uv_timer_t *t)
{
  struct mp_resolve *r = t->data;

  if (r->ready) {
    finish(r);
    return;
  }
  if (uv_now(r->loop) >= r->deadline) {
    r->ready = 1;
    r->status = MP_E_DNS_FAILED;
    finish(r);
    return;
  }
  ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  step(r);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
  struct rs_poll *p = h->data;
  struct mp_resolve *r = p->r;
  ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;

  if (r->closing)
    return;
  if (status < 0) {
    /* Let c-ares find the error on the socket itself. */
    rfd = p->fd;
    wfd = p->fd;
  } else {
    if (events & UV_READABLE)
      rfd = p->fd;
    if (events & UV_WRITABLE)
      wfd = p->fd;
  }
  ares_process_fd(r->ch, rfd, wfd);
  step(r);
}

/* c-ares opens, changes or closes a socket: watch it accordingly. Runs
 * inside c-ares, so it only records a failure for step(). */
static void on_sock_state(void *data, ares_socket_t fd, int readable,
                          int writable)
{
  struct mp_resolve *r = data;
  struct rs_poll *p;

  for (p = r->polls; p != NULL && p->fd != fd; p = p->next)
    ;
  if (!readable && !writable) {
    if (p != NULL)
      close_poll(r, p);
    return;
  }
  if (p == NULL) {
    p = calloc(1, sizeof(*p));
    if (p == NULL || uv_poll_init_socket(r->loop, &p->h, fd) != 0) {
      free(p);
      if (!r->ready) {
        r->ready = 1;
        r->status = MP_E_DNS_FAILED;
      }
      return;
    }
    p->h.data = p;
    p->r = r;
    p->fd = fd;
    p->next = r->polls;
    r->polls = p;
    r->open_handles++;
  }
  uv_poll_start(&p->h,
                (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0),
                on_poll);
}

/* ares_getaddrinfo's answer. Runs inside c-ares: only records. */
static void on_addrinfo(void *arg, int status, int timeouts,
                        struct ares_addrinfo *res)
{
  struct mp_resolve *r = arg;
  struct ares_addrinfo_node *nd;

  (void)timeouts;
  if (r->closing || r->ready) {
    if (res != NULL)
      ares_freeaddrinfo(res);
    return;
  }
  if (status == ARES_SUCCESS && res != NULL)
    for (nd = res->nodes; nd != NULL; nd = nd->ai_next)
      if (nd->ai_addr != NULL &&
          (r->family == AF_UNSPEC || nd->ai_family == r->family))
        add_addr(r, nd->ai_addr, (size_t)nd->ai_addrlen);
  if (res != NULL)
    ares_freeaddrinfo(res);
  if (r->n > 0) {
    r->ready = 1;
    r->status = 0;
  } else if (r->fallback != AF_UNSPEC && status != ARES_ETIMEOUT &&
             status != ARES_ECANCELLED && status != ARES_EDESTRUCTION) {
    /* prefer_*: nothing of the first family; ask for the other. */
    r->family = r->fallback;
    r->fallback = AF_UNSPEC;
    r->want_fallback = 1;
  } else {
    r->ready = 1;
    r->status = MP_E_DNS_FAILED;
  }
}

static void start_query(struct mp_resolve *r)
{
  struct ares_addrinfo_hints hints;

  memset(&hints, 0, sizeof(hints));
  hints.ai_family = r->family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  ares_getaddrinfo(r->ch, r->host, NULL, &hints, on_addrinfo, r);
}

/* A c-ares channel for the mode: our socket callback, the per-try timeout,
 * and the servers of opts->server when given. */
static int channel_init(struct mp_resolve *r, const struct mp_resolve_opts *o,
                        uint64_t timeout_ms)
{
  struct ares_addr_port_node nodes[RS_MAX_SERVERS];
  struct ares_options ao;
  int mask, nservers = 0;
  uint64_t per_try = timeout_ms / 3;

  if (o->server != NULL) {
    nservers = mp_dns_servers_parse(o->server, nodes, RS_MAX_SERVERS);
    if (nservers < 0)
      return MP_E_DNS_FAILED;
  }
  memset(&ao, 0, sizeof(ao));
  ao.sock_state_cb = on_sock_state;
  ao.sock_state_cb_data = r;
  ao.timeout = (int)(per_try < 1 ? 1 : per_try > 60000 ? 60000 : per_try);
  ao.tries = RS_TRIES;
  mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
  if (o->mode == MP_DNS_NO_CACHE || nservers > 0) {
    /* Ask the servers only: no hosts file. */
    ao.lookups = (char *)"b";
    mask |= ARES_OPT_LOOKUPS;
  }
  if (nservers > 0) {
    /* A given server: ask for the name as written, without the local
     * network's search domains. c-ares 1.18's getaddrinfo ignores
     * ARES_FLAG_NOSEARCH, so the list is also set empty. */
    ao.flags = ARES_FLAG_NOSEARCH;
    ao.domains = NULL;
    ao.ndomains = 0;
    mask |= ARES_OPT_FLAGS | ARES_OPT_DOMAINS;
  }
  if (ares_init_options(&r->ch, &ao, mask) != ARES_SUCCESS) {
    r->ch = NULL;
    return MP_E_NO_RESOURCES;
  }
  if (nservers > 0 && ares_set_servers_ports(r->ch, nodes) != ARES_SUCCESS) {
    ares_destroy(r->ch);
    r->ch = NULL;
    return MP_E_NO_RESOURCES;
  }
  return 0;
}

/* Mappings for host, or -1 when host is not mapped. */
static int from_hosts(struct mp_resolve *r, const struct mp_resolve_opts *o,
                      const char *host)
{
  struct sockaddr_storage cand[64];
  size_t i, ncand = 0;
  int mapped = 0;

  for (i = 0; i < o->nhosts; i++) {
    const struct mp_host_map *m = &o->hosts[i];

    if (m->ip == NULL || m->name == NULL || !mp_host_name_eq(m->name, host))
      continue;
    mapped = 1;
    if (ncand < sizeof(cand) / sizeof(cand[0]) &&
        mp_ip_literal_parse(m->ip, r->port, &cand[ncand]) == 0)
      ncand++;
  }
  if (!mapped)
    return -1;
  answer_from(r, o->mode, cand, ncand);
  return 0;
}

int mp_resolve_start(struct uv_loop_s *loop, const char *host, uint16_t port,
                     const struct mp_resolve_opts *opts, mp_resolve_cb cb,
                     void *data, struct mp_resolve **req)
{
  static const struct mp_resolve_opts defaults;
  const struct mp_resolve_opts *o = opts != NULL ? opts : &defaults;
  struct sockaddr_storage ss;
  struct mp_resolve *r;
  uint64_t timeout_ms;

  if (req != NULL)
    *req = NULL;
  if (loop == NULL || cb == NULL || host == NULL || host[0] == '\0')
    return MP_E_DNS_FAILED;
  if (mp_dns_mode_name(o->mode) == NULL ||
      (o->mode == MP_DNS_SERVER && (o->server == NULL || !o->server[0])))
    return MP_E_DNS_FAILED;
  r = calloc(1, sizeof(*r));
  if (r == NULL)
    return MP_E_NO_RESOURCES;
  r->loop = loop;
  r->cb = cb;
  r->data = data;
  r->port = port;
  timeout_ms = o->timeout_ms ? o->timeout_ms : MP_RESOLVE_DEFAULT_TIMEOUT_MS;

  if (mp_ip_literal_parse(host, port, &ss) == 0) {
    add_addr(r, (const struct sockaddr *)&ss, ss_len(&ss));
    r->ready = 1;
  } else if (from_hosts(r, o, host) == 0) {
    /* Answered (or refused) by the mappings. */
  } else if (mp_host_is_localhost(host)) {
    struct sockaddr_storage lh[2];

    mp_ip_literal_parse("127.0.0.1", port, &lh[0]);
    mp_ip_literal_parse("::1", port, &lh[1]);
    answer_from(r, o->mode, lh, 2);
  } else if (host[0] == '[' || strchr(host, ':') != NULL) {
    /* Not a name, and not an address we can use (brackets around
     * something else, an IPv6 zone naming no interface). */
    r->ready = 1;
    r->status = MP_E_DNS_FAILED;
  } else {
    int rc = channel_init(r, o, timeout_ms);

    if (rc == 0) {
      r->host = strdup(host);
      if (r->host == NULL)
        rc = MP_E_NO_RESOURCES;
    }
    if (rc < 0) {
      if (r->ch != NULL)
        ares_destroy(r->ch);
      free(r);
      return rc;
    }
    switch (o->mode) {
    case MP_DNS_IPV4:
      r->family = AF_INET;
      break;
    case MP_DNS_IPV6:
      r->family = AF_INET6;
      break;
    case MP_DNS_PREFER_V4:
      r->family = AF_INET;
      r->fallback = AF_INET6;
      break;
    case MP_DNS_PREFER_V6:
      r->family = AF_INET6;
      r->fallback = AF_INET;
      break;
    default:
      r->family = AF_UNSPEC;
      break;
    }
  }

  uv_timer_init(loop, &r->timer);
  r->timer.data = r;
  r->open_handles = 1;
  r->deadline = uv_now(loop) + timeout_ms;
  r->in_start = 1;
  if (r->ch != NULL)
    start_query(r);
  step(r);
  r->in_start = 0;
  if (req != NULL)
    *req = r;
  return 0;
}

int mp_resolve(struct uv_loop_s *loop, const char *host, uint16_t port,
               const struct mp_resolve_opts *opts, mp_resolve_cb cb, void *data)
{
  return mp_resolve_start(loop, host, port, opts, cb, data, NULL);
}

void mp_resolve_cancel(struct mp_resolve *req)
{
  if (req == NULL || req->closing)
    return;
  req->cb = NULL;
  finish(req);
}
