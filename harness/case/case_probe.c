/* probe: in a case file: one probe or a round trip, into struct
 * mp_case_probe (docs/case-format.md "The probe"). */
#include "harness/case/case_yaml.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>
#include "wire/cert.h"
#include "wire/errors.h"
#include "wire/sasl.h"
#include "probes/roundtrip.h"

static const struct nv probe_type_names[] = {{"smtp", MP_CASE_SMTP},
                                             {"pop3", MP_CASE_POP3},
                                             {"imap", MP_CASE_IMAP},
                                             {"roundtrip", MP_CASE_ROUNDTRIP},
                                             {NULL, 0}};
static const struct nv probe_tls_names[] = {{"none", MP_TLSMODE_NONE},
                                            {"starttls", MP_TLSMODE_STARTTLS},
                                            {"implicit", MP_TLSMODE_IMPLICIT},
                                            {"auto", MP_TLSMODE_AUTO},
                                            {NULL, 0}};
#define DNS_MODES_MAX 16

/* The DNS modes as the probes name them (probes/resolve.h), in enum
 * order: one list, theirs. t has DNS_MODES_MAX entries. */
static const struct nv *dns_mode_names(struct nv *t)
{
  int i;
  for (i = 0;
       i < DNS_MODES_MAX - 1 && mp_dns_mode_name((enum mp_dns_mode)i) != NULL;
       i++)
    t[i] = (struct nv){mp_dns_mode_name((enum mp_dns_mode)i), i};
  t[i] = (struct nv){NULL, 0};
  return t;
}

/* ------------------------------------------------------------------ */
/* The probe. */

/* One login method name into auth bits (wire/sasl.h, MP_AUTH_*). LOGIN is
 * the IMAP command for an imap probe and the SASL mechanism elsewhere;
 * "AUTH=LOGIN" always names the SASL mechanism. */
static int auth_bit(struct ctx *x, const struct ynode *n, const char *name,
                    enum mp_case_probe_type type, unsigned *bits)
{
  char list[256];
  size_t o = 0;
  int m;

  if (strncmp(name, "AUTH=", 5) == 0) {
    m = mp_sasl_from_name(name + 5);
    if (m >= 0) {
      *bits |= MP_SASL_BIT(m);
      return 0;
    }
  } else if (strcmp(name, "USER") == 0 || strcmp(name, "APOP") == 0) {
    if (type != MP_CASE_POP3)
      return cy_fail(x, n, "'%s' is a pop3 login; this probe is not pop3",
                     name);
    *bits |= name[0] == 'U' ? MP_AUTH_USER : MP_AUTH_APOP;
    return 0;
  } else if (strcmp(name, "LOGIN") == 0 && type == MP_CASE_IMAP) {
    *bits |= MP_AUTH_LOGIN_CMD;
    return 0;
  } else if ((m = mp_sasl_from_name(name)) >= 0) {
    *bits |= MP_SASL_BIT(m);
    return 0;
  }
  for (int i = 0; i < MP_SASL_COUNT && o < sizeof list; i++)
    o += (size_t)snprintf(list + o, sizeof list - o, "%s, ", mp_sasl_name(i));
  return cy_fail(x, n, "unknown login mechanism '%s' (allowed: %sUSER, APOP)",
                 cy_show(x, name, strlen(name)), list);
}

/* "host:port", "[v6]:port", "host" or a bare IPv6 address. */
static int get_target(struct ctx *x, const struct ynode *n,
                      struct mp_case_probe *p)
{
  const char *s, *host, *port = NULL;
  size_t hlen;
  if (cy_get_str(x, "target", n, 0, &p->target) < 0)
    return -1;
  s = p->target;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (close == NULL || (close[1] != '\0' && close[1] != ':'))
      goto bad;
    host = s + 1;
    hlen = (size_t)(close - host);
    if (close[1] == ':')
      port = close + 2;
  } else {
    const char *colon = strchr(s, ':');
    host = s;
    hlen = strlen(s);
    if (colon != NULL && strchr(colon + 1, ':') == NULL) {
      hlen = (size_t)(colon - s);
      port = colon + 1;
    }
  }
  if (hlen == 0 || memchr(host, ' ', hlen) != NULL)
    goto bad;
  if (port != NULL) {
    long v;
    char *end;
    if (!isdigit((unsigned char)*port))
      goto bad;
    errno = 0;
    v = strtol(port, &end, 10);
    if (*end != '\0' || errno != 0 || v < 1 || v > 65535)
      goto bad;
    p->opts.port = (uint16_t)v;
  }
  p->host = strndup(host, hlen);
  if (p->host == NULL)
    return cy_oom(x);
  p->opts.host = p->host;
  return 0;
bad:
  return cy_fail(x, n,
                 "target '%s' must be host:port, like mx.example.com:25 or "
                 "[::1]:25",
                 cy_shown(x, n));
}

static int valid_ip(const char *s)
{
  unsigned char a[16];
  return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/* "ip", "ip:port", "[v6]:port" or a bare IPv6 address. */
static int valid_dns_server(const char *s)
{
  char host[64];
  const char *port = NULL;
  size_t hlen;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (close == NULL || close[1] != ':')
      return 0;
    hlen = (size_t)(close - s - 1);
    if (hlen >= sizeof host)
      return 0;
    memcpy(host, s + 1, hlen);
    port = close + 2;
  } else {
    const char *colon = strchr(s, ':');
    hlen = strlen(s);
    if (colon != NULL && strchr(colon + 1, ':') == NULL) {
      hlen = (size_t)(colon - s);
      port = colon + 1;
    }
    if (hlen >= sizeof host)
      return 0;
    memcpy(host, s, hlen);
  }
  host[hlen] = '\0';
  if (!valid_ip(host))
    return 0;
  if (port != NULL) {
    char *end;
    long v;
    if (!isdigit((unsigned char)*port))
      return 0;
    v = strtol(port, &end, 10);
    if (*end != '\0' || v < 1 || v > 65535)
      return 0;
  }
  return 1;
}

static int get_hosts(struct ctx *x, const struct ynode *n,
                     struct mp_case_probe *p)
{
  char **lines = NULL;
  size_t nlines = 0;
  int rc = cy_get_strv(x, "hosts", n, 1, &lines, &nlines);

  for (size_t i = 0; rc == 0 && i < nlines; i++) {
    const struct ynode *at = n->kind == Y_SEQ ? n->kids[i] : n;
    char *save = NULL, *ip = strtok_r(lines[i], " \t", &save), *name;
    int names = 0;
    if (ip == NULL || !valid_ip(ip)) {
      rc = cy_fail(x, at,
                   "a hosts line is 'IP name name...', like '127.0.0.1 "
                   "mx.example.test'; '%s' is not an IP address",
                   ip ? cy_show(x, ip, strlen(ip)) : "");
      break;
    }
    while (rc == 0 && (name = strtok_r(NULL, " \t", &save)) != NULL) {
      struct mp_host_map *h =
          realloc(p->hosts, (p->nhosts + 1) * sizeof *p->hosts);
      if (h == NULL) {
        rc = cy_oom(x);
        break;
      }
      p->hosts = h;
      h = &p->hosts[p->nhosts];
      h->ip = strdup(ip);
      h->name = strdup(name);
      p->nhosts++;
      if (h->ip == NULL || h->name == NULL)
        rc = cy_oom(x);
      names++;
    }
    if (rc == 0 && names == 0)
      rc = cy_fail(x, at, "a hosts line needs names after the IP address");
  }
  cy_free_strv(lines, nlines);
  p->opts.dns.hosts = p->hosts;
  p->opts.dns.nhosts = p->nhosts;
  return rc;
}

static int get_dns(struct ctx *x, const struct ynode *n,
                   struct mp_case_probe *p)
{
  static const char *const keys[] = {"mode", "server", "hosts", NULL};
  const struct ynode *v, *mode;
  struct nv modes[DNS_MODES_MAX];
  int e;

  if (n->kind == Y_SCALAR) {
    if (cy_get_enum(x, "dns", n, dns_mode_names(modes), &e) < 0)
      return -1;
    if (e == MP_DNS_SERVER)
      return cy_fail(x, n,
                     "dns mode 'server' needs {mode: server, server: "
                     "IP[:PORT]}");
    p->opts.dns.mode = (enum mp_dns_mode)e;
    return 0;
  }
  if (cy_want_map(x, "dns", n) < 0 ||
      cy_check_keys(x, n, "probe.dns", keys) < 0)
    return -1;
  if ((mode = cy_get(n, "mode")) != NULL) {
    if (cy_get_enum(x, "mode", mode, dns_mode_names(modes), &e) < 0)
      return -1;
    p->opts.dns.mode = (enum mp_dns_mode)e;
  }
  if ((v = cy_get(n, "server")) != NULL) {
    if (cy_get_str_valid(x, "server", v, valid_dns_server, "dns server",
                         "an IP address with an optional port, like "
                         "127.0.0.1:5353 or [::1]:53",
                         &p->dns_server) < 0)
      return -1;
    if (mode == NULL)
      p->opts.dns.mode = MP_DNS_SERVER;
    else if (p->opts.dns.mode != MP_DNS_SERVER)
      return cy_fail(x, v, "dns 'server' goes with mode: server");
    p->opts.dns.server = p->dns_server;
  } else if (p->opts.dns.mode == MP_DNS_SERVER) {
    return cy_fail(x, mode, "mode: server needs 'server: IP[:PORT]'");
  }
  if ((v = cy_get(n, "hosts")) != NULL && get_hosts(x, v, p) < 0)
    return -1;
  return 0;
}

/* cafile is relative to the case file's folder. */
static int get_path(struct ctx *x, const char *key, const struct ynode *n,
                    char **out)
{
  const char *slash = strrchr(x->file, '/');
  char *rel = NULL, *full;
  if (cy_get_str(x, key, n, 0, &rel) < 0)
    return -1;
  if (rel[0] == '/' || slash == NULL) {
    *out = rel;
    return 0;
  }
  full = malloc((size_t)(slash - x->file) + strlen(rel) + 2);
  if (full == NULL) {
    free(rel);
    return cy_oom(x);
  }
  sprintf(full, "%.*s/%s", (int)(slash - x->file), x->file, rel);
  free(rel);
  *out = full;
  return 0;
}

/* Keys of a probe that talks to one server (probe:, probe.send:,
 * probe.fetch:), and the part of them a roundtrip's top level shares with
 * both halves. */
static const char *const endpoint_only_keys[] = {
    "server",   "target", "tls",        "port", "user",
    "password", "auth",   "servername", "helo", NULL};
static const char *const rt_only_keys[] = {
    "send", "fetch", "from", "to",   "subject",  "email_timeout",
    "poll", "mode",  "id",   "runs", "interval", NULL};
static const struct nv rt_mode_names[] = {
    {"same", 0}, {"previous", 1}, {NULL, 0}};
static const struct nv fetch_type_names[] = {
    {"pop3", MP_CASE_POP3}, {"imap", MP_CASE_IMAP}, {NULL, 0}};

int cy_in_list(const char *s, const char *const *list)
{
  for (; *list != NULL; list++)
    if (strcmp(s, *list) == 0)
      return 1;
  return 0;
}

/* Keys a config module adds to each map of the probe format. */
static const char *const module_endpoint_keys[] = {"password_file",
                                                   "password_env", NULL};
static const char *const module_rt_keys[] = {"state_file", NULL};
/* Keys a case adds to each map that names one server: a token, or where
 * to get one (harness/case/case_idp.c). */
static const char *const oauth_keys[] = {
    "token",         "token_endpoint", "client_id", "client_secret",
    "refresh_token", "scope",          NULL};

/* cy_check_keys over keys, plus extra when parsing a module, plus the
 * OAuth keys where keys name one server (a module refuses them itself,
 * with the reason). */
static int check_keys(struct ctx *x, const struct ynode *n, const char *where,
                      const char *const *keys, const char *const *extra)
{
  const char *all[56];
  size_t k = 0;
  for (; keys[k] != NULL && k < 40; k++)
    all[k] = keys[k];
  for (size_t i = 0; x->module && extra != NULL && extra[i] != NULL && k < 47;
       i++)
    all[k++] = extra[i];
  for (size_t i = 0; extra == module_endpoint_keys && oauth_keys[i] && k < 55;
       i++)
    all[k++] = oauth_keys[i];
  all[k] = NULL;
  return cy_check_keys(x, n, where, all);
}

/* In a module, keys that belong to cases only are refused with the
 * reason: a module has no fake servers, no password and runs once per
 * scrape or check. */
static int refuse_case_keys(struct ctx *x, const struct ynode *n)
{
  const struct ynode *v;
  if (!x->module)
    return 0;
  if ((v = cy_get(n, "server")) != NULL)
    return cy_fail(x, v,
                   "'server' names a fake server of a case; a module takes "
                   "'target' (or none: the caller gives the target)");
  if ((v = cy_get(n, "password")) != NULL)
    return cy_fail(x, v,
                   "a module never holds a password: use password_file or "
                   "password_env");
  for (size_t i = 0; i < n->nkids; i += 2) {
    const struct ynode *k = n->kids[i];
    if (k->kind == Y_SCALAR &&
        (strcmp(k->str, "runs") == 0 || strcmp(k->str, "interval") == 0))
      return cy_fail(x, k,
                     "'%s' is for cases; a module's round trip runs once "
                     "per check",
                     k->str);
  }
  return 0;
}

/* A module's password_file or password_env (one of them, with user). */
static int get_password_source(struct ctx *x, const struct ynode *n,
                               struct mp_case_probe *p)
{
  const struct ynode *f = cy_get(n, "password_file");
  const struct ynode *e = cy_get(n, "password_env");
  if (f != NULL && e != NULL)
    return cy_fail(x, e, "give 'password_file' or 'password_env', not both");
  if ((f != NULL || e != NULL) && p->user == NULL)
    return cy_fail(x, f ? f : e, "'%s' without 'user'",
                   f ? "password_file" : "password_env");
  if (f != NULL)
    return get_path(x, "password_file", f, &p->password_file);
  if (e != NULL)
    return cy_get_str(x, "password_env", e, 0, &p->password_env);
  if (p->user != NULL)
    return cy_fail(x, cy_get(n, "user"),
                   "user '%s' has no password: add 'password_file' or "
                   "'password_env'",
                   p->user);
  return 0;
}

/* Which server and how: server or target, tls, port, user, password,
 * auth, servername, helo. where names the map in messages ("probe",
 * "probe.fetch"); kn is its key (for "missing" messages). p->type is
 * set. */
static int parse_endpoint(struct ctx *x, const struct ynode *kn,
                          const struct ynode *n, struct mp_case *c,
                          struct mp_case_probe *p, const char *where)
{
  const struct ynode *v, *srv, *tgt;
  long long port;
  int e;

  srv = cy_get(n, "server");
  tgt = cy_get(n, "target");
  if (srv != NULL && tgt != NULL)
    return cy_fail(x, tgt, "%s: give 'server' or 'target', not both", where);
  if (srv == NULL && tgt == NULL && !x->module)
    return cy_fail(x, kn,
                   "%s: missing required key 'server' (a name under "
                   "servers) or 'target' (host:port)",
                   where);
  if (srv != NULL) {
    if (cy_server_ref(x, c, srv, "server") < 0 ||
        cy_get_str(x, "server", srv, 0, &p->server) < 0)
      return -1;
  } else if (tgt != NULL && get_target(x, tgt, p) < 0) {
    return -1;
  }
  p->opts.tls = MP_TLSMODE_AUTO;
  if (p->server != NULL &&
      c->servers[mp_case_find_server(c, p->server)].tls == MP_FAKE_TLS_IMPLICIT)
    p->opts.tls = MP_TLSMODE_IMPLICIT;
  if (cy_opt_enum(x, n, "tls", probe_tls_names, (int)p->opts.tls, &e) < 0)
    return -1;
  p->opts.tls = (enum mp_tls_mode)e;
  if ((v = cy_get(n, "port")) != NULL) {
    if (srv != NULL)
      return cy_fail(x, v,
                     "'port' goes with target:; a fake server's port is "
                     "chosen at run time");
    if (p->opts.port != 0)
      return cy_fail(x, v, "the port is given twice (here and in target)");
    if (cy_get_int(x, "port", v, 1, 65535, &port) < 0)
      return -1;
    p->opts.port = (uint16_t)port;
  }
  if ((v = cy_get(n, "user")) != NULL) {
    if (cy_get_str(x, "user", v, 0, &p->user) < 0)
      return -1;
    p->opts.user = p->user;
  }
  if ((v = cy_get(n, "token")) != NULL) {
    /* A module (a config file) names no secret; a case may hold one. */
    if (x->module)
      return cy_fail(x, v,
                     "'token' is a secret: a module names none (give the "
                     "exporter a token source)");
    if (p->user == NULL)
      return cy_fail(x, v, "'token' without 'user'");
    if (cy_get_str(x, "token", v, 0, &p->token) < 0)
      return -1;
    p->opts.token = p->token;
  }
  if (x->module) {
    if (get_password_source(x, n, p) < 0)
      return -1;
  } else if ((v = cy_get(n, "password")) != NULL) {
    if (p->user == NULL)
      return cy_fail(x, v, "'password' without 'user'");
    if (cy_get_str(x, "password", v, 0, &p->password) < 0)
      return -1;
  } else if (p->user != NULL) {
    const struct mp_fake_config *s =
        p->server ? &c->servers[mp_case_find_server(c, p->server)] : NULL;
    for (size_t i = 0; s != NULL && i < s->nusers; i++) {
      if (strcmp(s->users[i].name, p->user) == 0) {
        p->password = strdup(s->users[i].password);
        if (p->password == NULL)
          return cy_oom(x);
        break;
      }
    }
    /* A token alone logs in with XOAUTH2 or OAUTHBEARER. */
    if (p->password == NULL && p->token == NULL &&
        cy_get(n, "token_endpoint") == NULL)
      return cy_fail(x, cy_get(n, "user"),
                     "user '%s' has no password: add 'password' or list the "
                     "user under the server's users",
                     p->user);
  }
  p->opts.password = p->password;
  if (cy_parse_probe_idp(x, n, c, p) < 0)
    return -1;
  if ((v = cy_get(n, "auth")) != NULL) {
    char **names = NULL;
    size_t nnames = 0;
    int rc = cy_get_names(x, "auth", v, &names, &nnames);
    if (rc == 0 && nnames == 0)
      rc = cy_fail(x, v,
                   "probe 'auth' names no mechanism; leave it out to "
                   "allow all");
    for (size_t i = 0; rc == 0 && i < nnames; i++)
      rc = auth_bit(x, v->kind == Y_SEQ ? v->kids[i] : v, names[i], p->type,
                    &p->opts.auth);
    cy_free_strv(names, nnames);
    if (rc < 0)
      return -1;
  }
  if ((v = cy_get(n, "servername")) != NULL) {
    if (cy_get_str(x, "servername", v, 0, &p->servername) < 0)
      return -1;
    p->opts.servername = p->servername;
  }
  if ((v = cy_get(n, "helo")) != NULL) {
    if (cy_get_str(x, "helo", v, 0, &p->helo) < 0)
      return -1;
    p->opts.helo = p->helo;
  }
  return 0;
}

/* How long, how strict, which DNS: timeout, connect_timeout, insecure,
 * cafile, dns. */
static int parse_settings(struct ctx *x, const struct ynode *n,
                          struct mp_case_probe *p)
{
  const struct ynode *v;

  if ((v = cy_get(n, "timeout")) != NULL &&
      cy_get_dur_ms(x, "timeout", v, 1, &p->opts.timeout_ms) < 0)
    return -1;
  if ((v = cy_get(n, "connect_timeout")) != NULL &&
      cy_get_dur_ms(x, "connect_timeout", v, 1, &p->opts.connect_timeout_ms) <
          0)
    return -1;
  if ((v = cy_get(n, "insecure")) != NULL &&
      cy_get_bool(x, "insecure", v, &p->opts.insecure) < 0)
    return -1;
  if ((v = cy_get(n, "cafile")) != NULL) {
    if (get_path(x, "cafile", v, &p->cafile) < 0)
      return -1;
    p->opts.cafile = p->cafile;
  }
  if ((v = cy_get(n, "dns")) != NULL && get_dns(x, v, p) < 0)
    return -1;
  return 0;
}

/* Fills what a half did not say from the round trip's top level. */
static void inherit(struct mp_case_probe *half, const struct ynode *hn,
                    const struct mp_case_probe *top)
{
  if (half->opts.timeout_ms == 0)
    half->opts.timeout_ms = top->opts.timeout_ms;
  if (half->opts.connect_timeout_ms == 0)
    half->opts.connect_timeout_ms = top->opts.connect_timeout_ms;
  if (cy_get(hn, "insecure") == NULL)
    half->opts.insecure = top->opts.insecure;
  if (half->opts.cafile == NULL)
    half->opts.cafile = top->opts.cafile;
  if (cy_get(hn, "dns") == NULL)
    half->opts.dns = top->opts.dns;
}

/* probe.send or probe.fetch of a roundtrip. */
static int parse_half(struct ctx *x, const struct ynode *kn,
                      const struct ynode *n, struct mp_case *c, int fetch)
{
  static const char *const send_keys[] = {
      "server",   "target",     "tls",
      "port",     "user",       "password",
      "auth",     "timeout",    "connect_timeout",
      "insecure", "servername", "helo",
      "cafile",   "dns",        NULL};
  static const char *const fetch_keys[] = {
      "type",     "server",     "target", "tls",     "port",
      "user",     "password",   "auth",   "timeout", "connect_timeout",
      "insecure", "servername", "cafile", "dns",     NULL};
  struct mp_case_rt *rt = c->probe.rt;
  struct mp_case_probe *p = fetch ? &rt->fetch : &rt->send;
  const char *where = x->module ? (fetch ? "fetch" : "send")
                                : (fetch ? "probe.fetch" : "probe.send");
  const struct ynode *v, *srv;
  const struct mp_fake_config *s = NULL;
  int e;

  p->line = kn->line;
  if (cy_want_map(x, kn->str, n) < 0 || refuse_case_keys(x, n) < 0 ||
      check_keys(x, n, where, fetch ? fetch_keys : send_keys,
                 module_endpoint_keys) < 0)
    return -1;
  srv = cy_get(n, "server");
  if (srv != NULL && cy_server_ref(x, c, srv, "server") < 0)
    return -1;
  if (srv != NULL)
    s = &c->servers[mp_case_find_server(c, srv->str)];
  if (!fetch) {
    p->type = MP_CASE_SMTP;
    if (s != NULL && s->proto != MP_FAKE_SMTP)
      return cy_fail(x, srv,
                     "server '%s' speaks %s; probe.send needs an smtp server",
                     s->name, cy_proto_names[s->proto].name);
  } else if ((v = cy_get(n, "type")) != NULL) {
    if (cy_get_enum(x, "type", v, fetch_type_names, &e) < 0)
      return -1;
    p->type = (enum mp_case_probe_type)e;
  } else if (s != NULL && s->proto != MP_FAKE_SMTP) {
    p->type = s->proto == MP_FAKE_POP3 ? MP_CASE_POP3 : MP_CASE_IMAP;
  } else if (s != NULL) {
    return cy_fail(x, srv,
                   "server '%s' speaks smtp; probe.fetch needs a pop3 or imap "
                   "server (or say type: pop3 or imap)",
                   s->name);
  } else {
    return cy_fail(x, kn, "%s: give 'type' (pop3 or imap)%s", where,
                   x->module ? "" : " with a target");
  }
  p->opts.proto = p->type == MP_CASE_SMTP   ? MP_PROTO_SMTP
                  : p->type == MP_CASE_POP3 ? MP_PROTO_POP3
                                            : MP_PROTO_IMAP;
  if (parse_endpoint(x, kn, n, c, p, where) < 0 || parse_settings(x, n, p) < 0)
    return -1;
  if (fetch && p->user == NULL)
    return cy_fail(x, kn,
                   "%s: missing required key 'user' (the mailbox to log "
                   "into)",
                   where);
  inherit(p, n, &c->probe);
  return 0;
}

/* An id goes into tokens and IMAP SEARCH keys: an atom. */
static int valid_rt_id(const char *s)
{
  if (*s == '\0' || strlen(s) > 32)
    return 0;
  for (; *s != '\0'; s++)
    if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
      return 0;
  return 1;
}

static int parse_roundtrip(struct ctx *x, const struct ynode *kn,
                           const struct ynode *n, struct mp_case *c)
{
  static const char *const keys[] = {"type",
                                     "send",
                                     "fetch",
                                     "from",
                                     "to",
                                     "subject",
                                     "email_timeout",
                                     "poll",
                                     "mode",
                                     "id",
                                     "runs",
                                     "interval",
                                     "timeout",
                                     "connect_timeout",
                                     "insecure",
                                     "cafile",
                                     "dns",
                                     NULL};
  struct mp_case_probe *p = &c->probe;
  struct mp_case_rt *rt;
  const struct ynode *v, *send, *fetch;
  long long runs;
  int e;

  for (size_t i = 0; i < n->nkids; i += 2) {
    const struct ynode *k = n->kids[i];
    if (k->kind == Y_SCALAR && (cy_in_list(k->str, endpoint_only_keys) ||
                                cy_in_list(k->str, oauth_keys)))
      return cy_fail(x, k,
                     "'%s' goes under send: or fetch: in a roundtrip probe",
                     cy_shown(x, k));
  }
  if (refuse_case_keys(x, n) < 0 ||
      check_keys(x, n, x->module ? "module" : "probe", keys, module_rt_keys) <
          0)
    return -1;
  rt = p->rt = calloc(1, sizeof *rt);
  if (rt == NULL)
    return cy_oom(x);
  rt->runs = 1;
  if (parse_settings(x, n, p) < 0)
    return -1;
  if ((send = cy_get(n, "send")) == NULL)
    return cy_fail(x, kn,
                   "probe: missing required key 'send' (the SMTP server the "
                   "test message goes to)");
  if ((fetch = cy_get(n, "fetch")) == NULL)
    return cy_fail(x, kn,
                   "probe: missing required key 'fetch' (the POP3 or IMAP "
                   "mailbox it must arrive in)");
  for (size_t i = 0; i < n->nkids; i += 2) {
    if (n->kids[i + 1] == send && parse_half(x, n->kids[i], send, c, 0) < 0)
      return -1;
    if (n->kids[i + 1] == fetch && parse_half(x, n->kids[i], fetch, c, 1) < 0)
      return -1;
  }
  if (cy_opt_str(x, n, "to", 0, rt->fetch.user, &rt->to) < 0 ||
      cy_opt_str(x, n, "from", 0, rt->to, &rt->from) < 0)
    return -1;
  if (cy_opt_str(x, n, "subject", 0, NULL, &rt->subject) < 0)
    return -1;
  if ((v = cy_get(n, "id")) != NULL &&
      cy_get_str_valid(x, "id", v, valid_rt_id, "id",
                       "1 to 32 letters, digits, '-' or '_' (it goes into "
                       "the token)",
                       &rt->id) < 0)
    return -1;
  if ((v = cy_get(n, "email_timeout")) != NULL &&
      cy_get_dur_ms(x, "email_timeout", v, 1, &rt->email_timeout_ms) < 0)
    return -1;
  if ((v = cy_get(n, "poll")) != NULL &&
      cy_get_dur_ms(x, "poll", v, 1, &rt->poll_ms) < 0)
    return -1;
  if (cy_opt_enum(x, n, "mode", rt_mode_names, (int)rt->mode, &e) < 0)
    return -1;
  rt->mode = e;
  if ((v = cy_get(n, "state_file")) != NULL) {
    if (rt->mode != MP_RT_PREVIOUS)
      return cy_fail(x, v, "'state_file' goes with mode: previous");
    if (get_path(x, "state_file", v, &rt->state_file) < 0)
      return -1;
  } else if (x->module && rt->mode == MP_RT_PREVIOUS) {
    return cy_fail(x, cy_get(n, "mode"),
                   "mode: previous needs 'state_file' (it remembers that a "
                   "run happened)");
  }
  if ((v = cy_get(n, "runs")) != NULL) {
    if (cy_get_int(x, "runs", v, 1, 1000, &runs) < 0)
      return -1;
    rt->runs = (unsigned)runs;
  }
  if ((v = cy_get(n, "interval")) != NULL) {
    if (rt->runs < 2)
      return cy_fail(x, v,
                     "'interval' is the pause between runs; it goes "
                     "with runs: 2 or more");
    if (cy_get_dur_ms(x, "interval", v, 0, &rt->interval_ms) < 0)
      return -1;
  }
  return 0;
}

int cy_parse_probe(struct ctx *x, const struct ynode *kn, const struct ynode *n,
                   struct mp_case *c)
{
  static const char *const keys[] = {
      "type",     "server",     "target", "tls",     "port",
      "user",     "password",   "auth",   "timeout", "connect_timeout",
      "insecure", "servername", "helo",   "cafile",  "dns",
      NULL};
  struct mp_case_probe *p = &c->probe;
  const struct ynode *v;
  int e;

  p->line = kn->line;
  if (cy_want_map(x, "probe", n) < 0)
    return -1;
  if ((v = cy_get(n, "type")) == NULL)
    return cy_fail(x, kn,
                   "%s: missing required key 'type' (smtp, pop3, "
                   "imap or roundtrip)",
                   x->module ? "module" : "probe");
  if (cy_get_enum(x, "type", v, probe_type_names, &e) < 0)
    return -1;
  p->type = (enum mp_case_probe_type)e;
  if (p->type == MP_CASE_ROUNDTRIP)
    return parse_roundtrip(x, kn, n, c);
  for (size_t i = 0; i < n->nkids; i += 2) {
    const struct ynode *k = n->kids[i];
    if (k->kind == Y_SCALAR && cy_in_list(k->str, rt_only_keys))
      return cy_fail(x, k, "'%s' is for roundtrip probes (type: roundtrip)",
                     cy_shown(x, k));
  }
  if (refuse_case_keys(x, n) < 0 ||
      check_keys(x, n, x->module ? "module" : "probe", keys,
                 module_endpoint_keys) < 0)
    return -1;
  p->opts.proto = p->type == MP_CASE_POP3   ? MP_PROTO_POP3
                  : p->type == MP_CASE_IMAP ? MP_PROTO_IMAP
                                            : MP_PROTO_SMTP;
  if (parse_endpoint(x, kn, n, c, p, "probe") < 0 ||
      parse_settings(x, n, p) < 0)
    return -1;
  return 0;
}

int cy_parse_module_probe(struct ctx *x, const struct ynode *kn,
                          const struct ynode *n, struct mp_case_probe *p)
{
  struct mp_case c;
  int rc;

  memset(&c, 0, sizeof c);
  x->module = 1;
  rc = cy_parse_probe(x, kn, n, &c);
  x->module = 0;
  *p = c.probe;
  return rc;
}

void mp_case_rt_opts(const struct mp_case_rt *rt, struct mp_rt_opts *o)
{
  o->from = rt->from;
  o->to = rt->to;
  o->subject = rt->subject;
  o->id = rt->id;
  o->email_timeout_ms = rt->email_timeout_ms;
  o->poll_ms = rt->poll_ms;
  o->mode = rt->mode == 1 ? MP_RT_PREVIOUS : MP_RT_SAME;
}
