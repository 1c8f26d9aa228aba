#include "harness/cli/args.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "harness/case/case.h"
#include "wire/sasl.h"

void mp_args_init(struct mp_args *a, int argc, char **argv)
{
  a->argc = argc;
  a->argv = argv;
  a->i = 1;
  a->dashdash = 0;
}

int mp_args_next(struct mp_args *a, const struct mp_opt *opts, size_t nopts,
                 const char **val, char *err, size_t errlen)
{
  const struct mp_opt *o = NULL;
  const char *arg, *eq = NULL;
  size_t i, namelen;

  *val = NULL;
  if (a->i >= a->argc)
    return MP_ARG_END;
  arg = a->argv[a->i++];
  if (a->dashdash || arg[0] != '-' || arg[1] == '\0') {
    *val = arg;
    return MP_ARG_POSITIONAL;
  }
  if (strcmp(arg, "--") == 0) {
    a->dashdash = 1;
    return mp_args_next(a, opts, nopts, val, err, errlen);
  }
  if (arg[1] == '-') {
    eq = strchr(arg + 2, '=');
    namelen = eq ? (size_t)(eq - (arg + 2)) : strlen(arg + 2);
    for (i = 0; i < nopts; i++) {
      if (strlen(opts[i].name) == namelen &&
          strncmp(opts[i].name, arg + 2, namelen) == 0) {
        o = &opts[i];
        break;
      }
    }
  } else if (arg[2] == '\0') {
    for (i = 0; i < nopts; i++) {
      if (opts[i].short_name && opts[i].short_name == arg[1]) {
        o = &opts[i];
        break;
      }
    }
  }
  if (!o) {
    snprintf(err, errlen, "unknown option %.*s", (int)(eq ? eq - arg : 64),
             arg);
    return MP_ARG_ERROR;
  }
  if (!o->has_arg) {
    if (eq) {
      snprintf(err, errlen, "--%s takes no value", o->name);
      return MP_ARG_ERROR;
    }
    return o->id;
  }
  if (eq) {
    *val = eq + 1;
  } else if (a->i < a->argc) {
    *val = a->argv[a->i++];
  } else {
    snprintf(err, errlen, "--%s needs a value", o->name);
    return MP_ARG_ERROR;
  }
  return o->id;
}

int mp_args_duration(const char *opt, const char *text, uint64_t *us, char *err,
                     size_t errlen)
{
  if (!text || mp_duration_parse(text, us) < 0) {
    snprintf(err, errlen,
             "--%s: bad duration \"%s\" (seconds, or with a unit: 500ms, "
             "10s, 5m)",
             opt, text ? text : "");
    return -1;
  }
  return 0;
}

int mp_args_uint(const char *opt, const char *text, unsigned long min,
                 unsigned long max, unsigned long *out, char *err,
                 size_t errlen)
{
  unsigned long v;
  char *end;

  errno = 0;
  if (!text || !isdigit((unsigned char)text[0]))
    goto bad;
  v = strtoul(text, &end, 10);
  if (errno || *end || v < min || v > max)
    goto bad;
  *out = v;
  return 0;
bad:
  snprintf(err, errlen, "--%s: expected a number from %lu to %lu, got \"%s\"",
           opt, min, max, text ? text : "");
  return -1;
}

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

/* A host name: letters, digits, '-', '.', '_' (RFC 1123 2.1 names, and
 * the underscores real zones contain). */
static int valid_name(const char *s)
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
    if (!valid_name(host)) {
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

int mp_auth_list_parse(const char *list, enum mp_proto proto, unsigned *mask,
                       char *err, size_t errlen)
{
  char word[64];
  const char *p = list;
  unsigned m = 0;
  size_t n;
  int mech;

  while (*p) {
    while (*p == ',' || *p == ' ' || *p == '\t')
      p++;
    if (!*p)
      break;
    n = strcspn(p, ", \t");
    if (n >= sizeof(word)) {
      snprintf(err, errlen, "--auth: \"%.*s...\" is not a method", 20, p);
      return -1;
    }
    memcpy(word, p, n);
    word[n] = '\0';
    p += n;
    /* As in case files: "AUTH=LOGIN" is always the SASL mechanism; a bare
     * "LOGIN" on IMAP is the LOGIN command (RFC 9051 6.2.3). */
    if (strncasecmp(word, "AUTH=", 5) == 0)
      mech = mp_sasl_from_name(word + 5);
    else
      mech = mp_sasl_from_name(word);
    if (strncasecmp(word, "AUTH=", 5) == 0) {
      if (mech < 0)
        goto unknown;
      m |= MP_SASL_BIT(mech);
    } else if (strcasecmp(word, "USER") == 0 && proto == MP_PROTO_POP3) {
      m |= MP_AUTH_USER;
    } else if (strcasecmp(word, "APOP") == 0 && proto == MP_PROTO_POP3) {
      m |= MP_AUTH_APOP;
    } else if (strcasecmp(word, "LOGIN") == 0 && proto == MP_PROTO_IMAP) {
      m |= MP_AUTH_LOGIN_CMD;
    } else if (mech >= 0) {
      m |= MP_SASL_BIT(mech);
    } else {
    unknown:
      snprintf(err, errlen,
               "--auth: unknown method \"%s\" for %s (SCRAM-SHA-256, "
               "SCRAM-SHA-1, CRAM-MD5, LOGIN, PLAIN%s)",
               word, mp_proto_name(proto),
               proto == MP_PROTO_POP3   ? ", USER, APOP"
               : proto == MP_PROTO_IMAP ? "; LOGIN is the IMAP command, "
                                          "AUTH=LOGIN the SASL mechanism"
                                        : "");
      return -1;
    }
  }
  if (!m) {
    snprintf(err, errlen, "--auth: the list is empty");
    return -1;
  }
  *mask = m;
  return 0;
}

static int push_str(struct mp_host_maps *m, char *s)
{
  char **v = realloc(m->strs, (m->nstrs + 1) * sizeof(*v));

  if (!v)
    return -1;
  m->strs = v;
  m->strs[m->nstrs++] = s;
  return 0;
}

int mp_host_map_add(struct mp_host_maps *m, const char *spec, char *err,
                    size_t errlen)
{
  char *copy = strdup(spec ? spec : ""), *save = NULL, *ip, *name;
  struct in_addr a4;
  struct in6_addr a6;
  struct mp_host_map *v;
  size_t added = 0;

  if (!copy || push_str(m, copy) < 0) {
    free(copy);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  ip = strtok_r(copy, " \t", &save);
  if (!ip) {
    snprintf(err, errlen, "--host-map: empty (\"IP name [name...]\")");
    return -1;
  }
  if (inet_pton(AF_INET, ip, &a4) != 1 && inet_pton(AF_INET6, ip, &a6) != 1) {
    snprintf(err, errlen, "--host-map: \"%s\" is not an IP address", ip);
    return -1;
  }
  while ((name = strtok_r(NULL, " \t", &save)) != NULL) {
    if (!valid_name(name)) {
      snprintf(err, errlen, "--host-map: \"%s\" is not a host name", name);
      return -1;
    }
    v = realloc(m->v, (m->n + 1) * sizeof(*v));
    if (!v) {
      snprintf(err, errlen, "out of memory");
      return -1;
    }
    m->v = v;
    m->v[m->n].ip = ip;
    m->v[m->n].name = name;
    m->n++;
    added++;
  }
  if (!added) {
    snprintf(err, errlen, "--host-map \"%s\": no name after the address", spec);
    return -1;
  }
  return 0;
}

void mp_host_maps_free(struct mp_host_maps *m)
{
  size_t i;

  for (i = 0; i < m->nstrs; i++)
    free(m->strs[i]);
  free(m->strs);
  free(m->v);
  memset(m, 0, sizeof(*m));
}

int mp_read_secret_file(const char *path, char **out, char *err, size_t errlen)
{
  char buf[4097];
  size_t n;
  FILE *f;

  f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  n = fread(buf, 1, sizeof(buf), f);
  if (ferror(f)) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    fclose(f);
    return -1;
  }
  fclose(f);
  if (n == sizeof(buf)) {
    snprintf(err, errlen, "%s: longer than 4096 bytes", path);
    return -1;
  }
  if (n > 0 && buf[n - 1] == '\n') {
    n--;
    if (n > 0 && buf[n - 1] == '\r')
      n--;
  }
  if (memchr(buf, '\0', n)) {
    snprintf(err, errlen, "%s: contains a NUL byte", path);
    return -1;
  }
  buf[n] = '\0';
  *out = strdup(buf);
  memset(buf, 0, sizeof(buf));
  if (!*out) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  return 0;
}

void mp_cli_trace(void *data, char dir, const char *line)
{
  (void)data;
  fprintf(stderr, "%c: %s\n", dir == 'c' ? 'C' : dir == 's' ? 'S' : '*', line);
}
