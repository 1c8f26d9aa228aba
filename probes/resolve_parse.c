/* The parsing half of name resolution (probes/resolve.h): mode names, IP
 * literals, host names, custom host mappings and DNS server lists. Pure:
 * no loop, no lookups. */
#include "probes/resolve_parse.h"

#include "probes/resolve.h"
#include "probes/names.h"
#include "wire/errors.h"

#include <ares.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define RS_NAME_MAX 253 /* RFC 1035 2.3.4, without the trailing dot */
#define RS_LABEL_MAX 63

static const char *const mode_names[] = {
    [MP_DNS_SYSTEM] = "system",
    [MP_DNS_NO_CACHE] = "no_cache",
    [MP_DNS_SERVER] = "server",
    [MP_DNS_IPV4] = "ipv4",
    [MP_DNS_IPV6] = "ipv6",
    [MP_DNS_PREFER_V4] = "prefer_ipv4",
    [MP_DNS_PREFER_V6] = "prefer_ipv6",
};

int mp_dns_mode_from_name(const char *name)
{
  return mp_name_find(mode_names, MP_NAMES_COUNT(mode_names), name, 0);
}

const char *mp_dns_mode_name(enum mp_dns_mode m)
{
  return mp_name_of(mode_names, MP_NAMES_COUNT(mode_names), (int)m, NULL);
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
int mp_host_name_eq(const char *a, const char *b)
{
  size_t la = strlen(a), lb = strlen(b);

  if (la > 0 && a[la - 1] == '.')
    la--;
  if (lb > 0 && b[lb - 1] == '.')
    lb--;
  return la == lb && la > 0 && strncasecmp(a, b, la) == 0;
}

/* RFC 6761 6.3: "localhost" and names ending in ".localhost". */
int mp_host_is_localhost(const char *name)
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
int mp_dns_servers_parse(const char *spec, struct ares_addr_port_node *nodes,
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
