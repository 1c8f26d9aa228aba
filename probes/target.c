#include "probes/target.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int parse_port(const char *s, uint16_t *port)
{
  unsigned long v = 0;
  size_t i;

  if (!s[0] || strlen(s) > 5)
    return -1;
  for (i = 0; s[i]; i++) {
    if (!isdigit((unsigned char)s[i]))
      return -1;
    v = v * 10 + (unsigned long)(s[i] - '0');
  }
  if (v == 0 || v > 65535)
    return -1;
  *port = (uint16_t)v;
  return 0;
}

int mp_host_name_valid(const char *s)
{
  size_t i;

  if (!s[0])
    return 0;
  for (i = 0; s[i]; i++) {
    unsigned char c = (unsigned char)s[i];

    if (!isalnum(c) && c != '-' && c != '.' && c != '_')
      return 0;
  }
  return 1;
}

static int valid_v6(const char *s)
{
  struct in6_addr a;
  char tmp[64];
  const char *pct = strchr(s, '%');
  size_t n = pct ? (size_t)(pct - s) : strlen(s);

  /* A zone ("fe80::1%eth0") is allowed after the address. */
  if (n >= sizeof(tmp))
    return 0;
  memcpy(tmp, s, n);
  tmp[n] = '\0';
  return inet_pton(AF_INET6, tmp, &a) == 1;
}

int mp_hostport_parse(const char *s, uint16_t default_port, char *host,
                      size_t hostlen, uint16_t *port, char *err, size_t errlen)
{
  const char *colon, *portstr = NULL;
  size_t n;

  if (!s || !s[0]) {
    snprintf(err, errlen, "empty host");
    return -1;
  }
  if (s[0] == '[') {
    const char *close = strchr(s, ']');

    if (!close) {
      snprintf(err, errlen, "\"%s\": missing ']' after the IPv6 address", s);
      return -1;
    }
    n = (size_t)(close - s - 1);
    if (close[1] == ':')
      portstr = close + 2;
    else if (close[1] != '\0') {
      snprintf(err, errlen, "\"%s\": unexpected text after ']'", s);
      return -1;
    }
    if (n == 0 || n >= hostlen) {
      snprintf(err, errlen, "\"%s\": bad IPv6 address", s);
      return -1;
    }
    memcpy(host, s + 1, n);
    host[n] = '\0';
    if (!valid_v6(host)) {
      snprintf(err, errlen, "\"%s\": bad IPv6 address", s);
      return -1;
    }
  } else {
    colon = strchr(s, ':');
    if (colon && strchr(colon + 1, ':')) {
      /* More than one colon: a bare IPv6 literal, only without a port. */
      if (!default_port || !valid_v6(s)) {
        snprintf(err, errlen,
                 "\"%s\": put an IPv6 address in brackets: [::1]:25", s);
        return -1;
      }
      n = strlen(s);
      if (n >= hostlen) {
        snprintf(err, errlen, "\"%s\": host too long", s);
        return -1;
      }
      memcpy(host, s, n + 1);
      *port = default_port;
      return 0;
    }
    n = colon ? (size_t)(colon - s) : strlen(s);
    if (colon)
      portstr = colon + 1;
    if (n == 0) {
      snprintf(err, errlen, "\"%s\": empty host", s);
      return -1;
    }
    if (n >= hostlen) {
      snprintf(err, errlen, "\"%s\": host too long", s);
      return -1;
    }
    memcpy(host, s, n);
    host[n] = '\0';
    if (!mp_host_name_valid(host)) {
      snprintf(err, errlen, "\"%s\": bad host name", host);
      return -1;
    }
  }
  if (portstr) {
    if (parse_port(portstr, port) < 0) {
      snprintf(err, errlen, "\"%s\": bad port \"%s\" (1 to 65535)", s, portstr);
      return -1;
    }
  } else if (default_port) {
    *port = default_port;
  } else {
    snprintf(err, errlen, "\"%s\": missing port (host:port)", s);
    return -1;
  }
  return 0;
}

static const struct {
  const char *scheme;
  enum mp_proto proto;
  enum mp_tls_mode tls;
  uint16_t port;
} schemes[] = {
    {"smtp", MP_PROTO_SMTP, MP_TLSMODE_AUTO, 25},
    {"smtps", MP_PROTO_SMTP, MP_TLSMODE_IMPLICIT, 465},
    {"submission", MP_PROTO_SMTP, MP_TLSMODE_STARTTLS, 587},
    {"pop3", MP_PROTO_POP3, MP_TLSMODE_AUTO, 110},
    {"pop3s", MP_PROTO_POP3, MP_TLSMODE_IMPLICIT, 995},
    {"imap", MP_PROTO_IMAP, MP_TLSMODE_AUTO, 143},
    {"imaps", MP_PROTO_IMAP, MP_TLSMODE_IMPLICIT, 993},
};

int mp_url_parse(const char *url, struct mp_url *u, char *err, size_t errlen)
{
  const char *sep, *rest;
  char hostport[300];
  size_t n, i;
  int found = -1;

  memset(u, 0, sizeof(*u));
  sep = url ? strstr(url, "://") : NULL;
  if (!sep) {
    snprintf(err, errlen,
             "\"%s\" is not a URL: write it as smtp://host[:port] (or "
             "smtps, submission, pop3, pop3s, imap, imaps)",
             url ? url : "");
    return -1;
  }
  n = (size_t)(sep - url);
  for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
    if (strlen(schemes[i].scheme) == n &&
        strncasecmp(schemes[i].scheme, url, n) == 0) {
      found = (int)i;
      break;
    }
  }
  if (found < 0) {
    snprintf(err, errlen,
             "unknown scheme \"%.*s\" (smtp, smtps, submission, pop3, "
             "pop3s, imap, imaps)",
             (int)(n > 32 ? 32 : n), url);
    return -1;
  }
  rest = sep + 3;
  n = strlen(rest);
  if (n > 0 && rest[n - 1] == '/')
    n--; /* "smtp://host/" is fine; nothing may follow the slash */
  if (n >= sizeof(hostport)) {
    snprintf(err, errlen, "URL too long");
    return -1;
  }
  memcpy(hostport, rest, n);
  hostport[n] = '\0';
  if (strchr(hostport, '@')) {
    snprintf(err, errlen,
             "no user in the URL: use --user and --password-file or "
             "--password-env");
    return -1;
  }
  if (strpbrk(hostport, "/?#")) {
    snprintf(err, errlen, "\"%s\": a URL here has no path or query", url);
    return -1;
  }
  if (!hostport[0]) {
    snprintf(err, errlen, "\"%s\": no host", url);
    return -1;
  }
  u->proto = schemes[found].proto;
  u->tls = schemes[found].tls;
  u->port = schemes[found].port;
  if (mp_hostport_parse(hostport, schemes[found].port, u->host, sizeof(u->host),
                        &u->port, err, errlen) < 0)
    return -1;
  /* A bare IPv6 literal would be ambiguous with a port: brackets only. */
  if (hostport[0] != '[' && strchr(u->host, ':')) {
    snprintf(err, errlen,
             "\"%s\": put an IPv6 address in brackets: "
             "smtp://[::1]:25",
             url);
    return -1;
  }
  u->port_given = strchr(hostport[0] == '[' ? strchr(hostport, ']') : hostport,
                         ':') != NULL;
  return 0;
}

void mp_hostport_format(char *buf, size_t len, const char *host, uint16_t port)
{
  snprintf(buf, len, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
           (unsigned)port);
}
