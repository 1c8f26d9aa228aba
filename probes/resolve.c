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

#include "wire/errors.h"

#include <ares.h>
#include <uv.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define RS_TRIES 2       /* c-ares tries per server */
#define RS_MAX_SERVERS 8 /* servers in opts->server */
#define RS_NAME_MAX 253  /* RFC 1035 2.3.4, without the trailing dot */
#define RS_LABEL_MAX 63

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

static const char *const mode_names[] = {
    [MP_DNS_SYSTEM] = "system",
    [MP_DNS_NO_CACHE] = "no_cache",
    [MP_DNS_SERVER] = "server",
    [MP_DNS_IPV4] = "ipv4",
    [MP_DNS_IPV6] = "ipv6",
    [MP_DNS_PREFER_V4] = "prefer_ipv4",
    [MP_DNS_PREFER_V6] = "prefer_ipv6",
};

#define MODE_COUNT ((int)(sizeof(mode_names) / sizeof(mode_names[0])))

int mp_dns_mode_from_name(const char *name)
{
  int i;

  if (name == NULL)
    return -1;
  for (i = 0; i < MODE_COUNT; i++)
    if (strcmp(name, mode_names[i]) == 0)
      return i;
  return -1;
}

const char *mp_dns_mode_name(enum mp_dns_mode m)
{
  if ((int)m < 0 || (int)m >= MODE_COUNT)
    return NULL;
  return mode_names[m];
}

/* --- Literals and names ------------------------------------------------ */

/* Copies s (len bytes) into buf as a string, or returns -1 when too long. */
static int copy_n(char *buf, size_t size, const char *s, size_t len)
{
  if (len >= size)
    return -1;
  memcpy(buf, s, len);
  buf[len] = '\0';
  return 0;
}

/* An IPv6 zone: an interface name or number ("eth0", "2"). */
static int zone_valid(const char *z)
{
  if (*z == '\0' || strlen(z) >= IF_NAMESIZE)
    return 0;
  for (; *z; z++)
    if (!isalnum((unsigned char)*z) && *z != '_' && *z != '-' && *z != '.')
      return 0;
  return 1;
}

/* Splits s (len bytes, brackets allowed) into the address and the zone and
 * checks both. Returns AF_INET or AF_INET6 and fills the binary address,
 * or 0 when s is not a literal. zone gets the zone or "". */
static int literal_split(const char *s, size_t len, unsigned char bin[16],
                         char zone[IF_NAMESIZE])
{
  char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  char *pct;

  zone[0] = '\0';
  if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
    s++;
    len -= 2;
  }
  if (copy_n(buf, sizeof(buf), s, len) < 0)
    return 0;
  if (inet_pton(AF_INET, buf, bin) == 1)
    return AF_INET;
  pct = strchr(buf, '%');
  if (pct != NULL) {
    *pct = '\0';
    if (!zone_valid(pct + 1))
      return 0;
  }
  if (inet_pton(AF_INET6, buf, bin) != 1)
    return 0;
  if (pct != NULL)
    memcpy(zone, pct + 1, strlen(pct + 1) + 1);
  return AF_INET6;
}

int mp_ip_literal_parse(const char *s, uint16_t port,
                        struct sockaddr_storage *ss)
{
  unsigned char bin[16];
  char zone[IF_NAMESIZE];
  int family;

  if (s == NULL || ss == NULL)
    return MP_E_DNS_FAILED;
  family = literal_split(s, strlen(s), bin, zone);
  memset(ss, 0, sizeof(*ss));
  if (family == AF_INET) {
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;

    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    memcpy(&sin->sin_addr, bin, 4);
    return 0;
  }
  if (family == AF_INET6) {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    memcpy(&sin6->sin6_addr, bin, 16);
    if (zone[0] != '\0') {
      char *end;
      unsigned long idx = strtoul(zone, &end, 10);

      if (*end != '\0')
        idx = if_nametoindex(zone);
      if (idx == 0 || idx > UINT32_MAX)
        return MP_E_DNS_FAILED;
      sin6->sin6_scope_id = (uint32_t)idx;
    }
    return 0;
  }
  return MP_E_DNS_FAILED;
}

/* A host name: letters, digits, '-', '_', labels of 1..63 bytes separated
 * by single dots, at most 253 bytes without a trailing dot. */
static int name_valid(const char *s, size_t len)
{
  size_t label = 0, i;

  if (len > 0 && s[len - 1] == '.')
    len--;
  if (len == 0 || len > RS_NAME_MAX)
    return 0;
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];

    if (c == '.') {
      if (label == 0)
        return 0;
      label = 0;
    } else if (isalnum(c) || c == '-' || c == '_') {
      if (++label > RS_LABEL_MAX)
        return 0;
    } else {
      return 0;
    }
  }
  return label > 0;
}

/* Case-insensitive host name equality; one trailing dot on either side is
 * ignored ("MX.example.test." == "mx.example.test"). */
static int name_eq(const char *a, const char *b)
{
  size_t la = strlen(a), lb = strlen(b);

  if (la > 0 && a[la - 1] == '.')
    la--;
  if (lb > 0 && b[lb - 1] == '.')
    lb--;
  return la == lb && la > 0 && strncasecmp(a, b, la) == 0;
}

/* RFC 6761 6.3: "localhost" and names ending in ".localhost". */
static int is_localhost(const char *name)
{
  static const char lh[] = "localhost";
  size_t len = strlen(name), ll = sizeof(lh) - 1;

  if (len > 0 && name[len - 1] == '.')
    len--;
  if (len < ll || strncasecmp(name + len - ll, lh, ll) != 0)
    return 0;
  return len == ll || name[len - ll - 1] == '.';
}

static int is_space(char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A message about one token (at most 64 bytes of it quoted). */
static void tok_err(char *err, size_t errlen, const char *what, const char *tok,
                    size_t len)
{
  if (err != NULL && errlen > 0)
    snprintf(err, errlen, "\"%.*s\" %s", (int)(len > 64 ? 64 : len), tok, what);
}

static void msg_err(char *err, size_t errlen, const char *msg)
{
  if (err != NULL && errlen > 0)
    snprintf(err, errlen, "%s", msg);
}

int mp_host_map_parse(const char *line, struct mp_host_map **out, size_t *n,
                      char *err, size_t errlen)
{
  const char *tok[128];
  size_t toklen[128], ntok = 0, i, size, iplen;
  const char *p = line;
  unsigned char bin[16];
  char zone[IF_NAMESIZE];
  struct mp_host_map *v;
  char *s;

  if (out != NULL)
    *out = NULL;
  if (n != NULL)
    *n = 0;
  if (err != NULL && errlen > 0)
    err[0] = '\0';
  if (line == NULL || out == NULL || n == NULL) {
    msg_err(err, errlen, "no line");
    return MP_E_PROTOCOL_ERROR;
  }
  for (;;) {
    const char *start;

    while (is_space(*p))
      p++;
    if (*p == '\0' || *p == '#')
      break;
    if (ntok == sizeof(tok) / sizeof(tok[0])) {
      msg_err(err, errlen, "too many names on one line");
      return MP_E_PROTOCOL_ERROR;
    }
    start = p;
    while (*p != '\0' && !is_space(*p) && *p != '#')
      p++;
    tok[ntok] = start;
    toklen[ntok++] = (size_t)(p - start);
  }
  if (ntok == 0) {
    msg_err(err, errlen, "expected \"IP name [name ...]\"");
    return MP_E_PROTOCOL_ERROR;
  }
  if (literal_split(tok[0], toklen[0], bin, zone) == 0) {
    tok_err(err, errlen, "is not an IPv4 or IPv6 address", tok[0], toklen[0]);
    return MP_E_PROTOCOL_ERROR;
  }
  if (ntok == 1) {
    tok_err(err, errlen, "needs a host name after it", tok[0], toklen[0]);
    return MP_E_PROTOCOL_ERROR;
  }
  for (i = 1; i < ntok; i++) {
    if (literal_split(tok[i], toklen[i], bin, zone) != 0) {
      tok_err(err, errlen, "is an address, not a host name", tok[i], toklen[i]);
      return MP_E_PROTOCOL_ERROR;
    }
    if (!name_valid(tok[i], toklen[i])) {
      tok_err(err, errlen, "is not a host name", tok[i], toklen[i]);
      return MP_E_PROTOCOL_ERROR;
    }
  }
  /* The address without brackets. */
  iplen = toklen[0];
  if (tok[0][0] == '[') {
    tok[0]++;
    iplen -= 2;
  }
  size = (ntok - 1) * sizeof(*v) + iplen + 1;
  for (i = 1; i < ntok; i++)
    size += toklen[i] + 1;
  v = malloc(size);
  if (v == NULL) {
    msg_err(err, errlen, "out of memory");
    return MP_E_NO_RESOURCES;
  }
  s = (char *)(v + (ntok - 1));
  memcpy(s, tok[0], iplen);
  s[iplen] = '\0';
  for (i = 1; i < ntok; i++) {
    char *name = s + iplen + 1;
    size_t j;

    for (j = 1; j < i; j++)
      name += toklen[j] + 1;
    memcpy(name, tok[i], toklen[i]);
    name[toklen[i]] = '\0';
    v[i - 1].ip = s;
    v[i - 1].name = name;
  }
  *out = v;
  *n = ntok - 1;
  return 0;
}

/* "IP[:port]", "[IPv6]:port" or a bare IPv6, comma separated, into nodes
 * (linked in order). Returns the count, or -1. */
static int servers_parse(const char *spec, struct ares_addr_port_node *nodes,
                         int max)
{
  const char *p = spec;
  int count = 0;

  while (*p != '\0') {
    const char *item, *end, *addr, *port = NULL;
    size_t alen, plen = 0;
    char buf[INET6_ADDRSTRLEN];
    struct ares_addr_port_node *nd;
    unsigned long pn = 53;

    while (is_space(*p))
      p++;
    item = p;
    end = strchr(p, ',');
    if (end == NULL)
      end = p + strlen(p);
    p = *end == ',' ? end + 1 : end;
    if (*end == ',' && *p == '\0')
      return -1; /* a trailing comma */
    while (end > item && is_space(end[-1]))
      end--;
    if (end == item || count == max)
      return -1;
    if (item[0] == '[') {
      const char *rb = memchr(item, ']', (size_t)(end - item));

      if (rb == NULL)
        return -1;
      addr = item + 1;
      alen = (size_t)(rb - addr);
      if (rb + 1 != end) {
        if (rb[1] != ':')
          return -1;
        port = rb + 2;
        plen = (size_t)(end - port);
      }
    } else {
      const char *colon = memchr(item, ':', (size_t)(end - item));
      const char *more =
          colon ? memchr(colon + 1, ':', (size_t)(end - colon - 1)) : NULL;

      addr = item;
      alen = (size_t)(end - item);
      if (colon != NULL && more == NULL) {
        alen = (size_t)(colon - item);
        port = colon + 1;
        plen = (size_t)(end - port);
      }
    }
    if (port != NULL) {
      size_t i;

      if (plen == 0 || plen > 5)
        return -1;
      pn = 0;
      for (i = 0; i < plen; i++) {
        if (!isdigit((unsigned char)port[i]))
          return -1;
        pn = pn * 10 + (unsigned long)(port[i] - '0');
      }
      if (pn == 0 || pn > 65535)
        return -1;
    }
    if (copy_n(buf, sizeof(buf), addr, alen) < 0)
      return -1;
    nd = &nodes[count];
    memset(nd, 0, sizeof(*nd));
    if (inet_pton(AF_INET, buf, &nd->addr.addr4) == 1)
      nd->family = AF_INET;
    else if (inet_pton(AF_INET6, buf, &nd->addr.addr6) == 1)
      nd->family = AF_INET6;
    else
      return -1;
    nd->udp_port = (int)pn;
    nd->tcp_port = (int)pn;
    if (count > 0)
      nodes[count - 1].next = nd;
    count++;
  }
  return count > 0 ? count : -1;
}

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
    nservers = servers_parse(o->server, nodes, RS_MAX_SERVERS);
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

    if (m->ip == NULL || m->name == NULL || !name_eq(m->name, host))
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
  } else if (is_localhost(host)) {
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
