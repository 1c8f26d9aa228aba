#include "harness/cli/probe_opts.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/cli/cli.h"
#include "harness/config/secret.h"
#include "probes/resolve.h"
#include "probes/target.h"

enum {
  OPT_USER = MP_PROBE_CLI_ID_BASE,
  OPT_PASSWORD_FILE,
  OPT_PASSWORD_ENV,
  OPT_TIMEOUT,
  OPT_CONNECT_TIMEOUT,
  OPT_CAFILE,
  OPT_INSECURE,
  OPT_HELO,
  OPT_WARNING,
  OPT_CRITICAL,
  OPT_FORMAT,
  OPT_DNS_MODE,
  OPT_DNS_SERVER,
  OPT_HOST_MAP,
  OPT_VERBOSE
};

static const struct mp_opt shared_opts[] = {
    {"user", 0, 1, OPT_USER},
    {"password-file", 0, 1, OPT_PASSWORD_FILE},
    {"password-env", 0, 1, OPT_PASSWORD_ENV},
    {"timeout", 0, 1, OPT_TIMEOUT},
    {"connect-timeout", 0, 1, OPT_CONNECT_TIMEOUT},
    {"cafile", 0, 1, OPT_CAFILE},
    {"insecure", 0, 0, OPT_INSECURE},
    {"helo", 0, 1, OPT_HELO},
    {"warning", 0, 1, OPT_WARNING},
    {"critical", 0, 1, OPT_CRITICAL},
    {"format", 0, 1, OPT_FORMAT},
    {"dns-mode", 0, 1, OPT_DNS_MODE},
    {"dns-server", 0, 1, OPT_DNS_SERVER},
    {"host-map", 0, 1, OPT_HOST_MAP},
    {"verbose", 'v', 0, OPT_VERBOSE},
};

#define NSHARED (sizeof(shared_opts) / sizeof(shared_opts[0]))

void mp_cli_login_free(struct mp_cli_login *l)
{
  if (l->password) {
    memset(l->password, 0, strlen(l->password));
    free(l->password);
  }
  l->password = NULL;
}

int mp_cli_login_password(struct mp_cli_login *l, const char *opt,
                          const char *val, int env, char *err, size_t errlen)
{
  l->npw++;
  mp_cli_login_free(l);
  if (!env)
    return mp_read_secret_file(val, &l->password, err, errlen);
  if (mp_read_secret_env(val, &l->password, err, errlen) < 0) {
    char why[160];
    snprintf(why, sizeof why, "%s", err);
    snprintf(err, errlen, "--%s: %s", opt, why);
    return -1;
  }
  return 0;
}

void mp_probe_cli_init(struct mp_probe_cli *p, const char *cmd,
                       const struct mp_opt *own, size_t nown)
{
  memset(p, 0, sizeof(*p));
  p->cmd = cmd;
  p->format = MP_OUT_NAGIOS;
  p->dns_mode = -1;
  if (nown > MP_PROBE_CLI_MAX_OPTS - NSHARED)
    nown = MP_PROBE_CLI_MAX_OPTS - NSHARED;
  memcpy(p->opts, own, nown * sizeof(*own));
  memcpy(p->opts + nown, shared_opts, sizeof(shared_opts));
  p->nopts = nown + NSHARED;
}

/* A --dns-server value: an IP address with an optional port. */
static int valid_dns_server(const char *s, char *err, size_t errlen)
{
  char host[256];
  uint16_t port;
  struct in_addr a4;
  struct in6_addr a6;

  if (mp_hostport_parse(s, 53, host, sizeof(host), &port, err, errlen) < 0)
    return -1;
  if (inet_pton(AF_INET, host, &a4) != 1 &&
      inet_pton(AF_INET6, host, &a6) != 1) {
    snprintf(err, errlen, "--dns-server: \"%s\" is not an IP address", host);
    return -1;
  }
  return 0;
}

/* Takes one shared option into p. 0 or -1 with a message. */
static int take(struct mp_probe_cli *p, int id, const char *val, char *err,
                size_t errlen)
{
  uint64_t us;
  int f;

  switch (id) {
  case OPT_USER:
    p->login.user = val;
    return 0;
  case OPT_PASSWORD_FILE:
    return mp_cli_login_password(&p->login, "password-file", val, 0, err,
                                 errlen);
  case OPT_PASSWORD_ENV:
    return mp_cli_login_password(&p->login, "password-env", val, 1, err,
                                 errlen);
  case OPT_TIMEOUT:
  case OPT_CONNECT_TIMEOUT:
  case OPT_WARNING:
  case OPT_CRITICAL: {
    const char *name = id == OPT_TIMEOUT           ? "timeout"
                       : id == OPT_CONNECT_TIMEOUT ? "connect-timeout"
                       : id == OPT_WARNING         ? "warning"
                                                   : "critical";

    if (mp_args_duration_positive(name, val, &us, err, errlen) < 0)
      return -1;
    if (id == OPT_TIMEOUT)
      p->probe.timeout_ms = (us + 999) / 1000;
    else if (id == OPT_CONNECT_TIMEOUT)
      p->probe.connect_timeout_ms = (us + 999) / 1000;
    else if (id == OPT_WARNING)
      p->warning_us = us;
    else
      p->critical_us = us;
    return 0;
  }
  case OPT_CAFILE:
    p->probe.cafile = val;
    return 0;
  case OPT_INSECURE:
    p->probe.insecure = 1;
    return 0;
  case OPT_HELO:
    p->probe.helo = val;
    return 0;
  case OPT_FORMAT:
    f = mp_out_format_from_name(val);
    if (f < 0) {
      snprintf(err, errlen,
               "--format: \"%s\" is not one of nagios, json, prometheus", val);
      return -1;
    }
    p->format = (enum mp_out_format)f;
    return 0;
  case OPT_DNS_MODE:
    p->dns_mode = mp_dns_mode_from_name(val);
    if (p->dns_mode < 0) {
      snprintf(err, errlen, "--dns-mode: unknown mode \"%s\"", val);
      return -1;
    }
    return 0;
  case OPT_DNS_SERVER:
    if (valid_dns_server(val, err, errlen) < 0)
      return -1;
    p->probe.dns.server = val;
    return 0;
  case OPT_HOST_MAP:
    return mp_host_map_add(&p->maps, val, err, errlen);
  case OPT_VERBOSE:
    p->probe.trace = mp_cli_trace;
    return 0;
  }
  return 0;
}

int mp_probe_cli_next(struct mp_probe_cli *p, struct mp_args *a,
                      const char **val, char *err, size_t errlen)
{
  int id;

  for (;;) {
    id = mp_args_next(a, p->opts, p->nopts, val, err, errlen);
    if (id < MP_PROBE_CLI_ID_BASE)
      return id;
    if (take(p, id, *val, err, errlen) < 0)
      return MP_ARG_ERROR;
  }
}

int mp_probe_cli_dns(struct mp_probe_cli *p, char *err, size_t errlen)
{
  if (p->dns_mode >= 0)
    p->probe.dns.mode = (enum mp_dns_mode)p->dns_mode;
  else if (p->probe.dns.server)
    p->probe.dns.mode = MP_DNS_SERVER;
  if (p->probe.dns.mode == MP_DNS_SERVER && !p->probe.dns.server) {
    snprintf(err, errlen, "--dns-mode server needs --dns-server IP[:PORT]");
    return -1;
  }
  p->probe.dns.hosts = p->maps.v;
  p->probe.dns.nhosts = p->maps.n;
  return 0;
}

int mp_probe_cli_thresholds(const struct mp_probe_cli *p, char *err,
                            size_t errlen)
{
  if (p->warning_us && p->critical_us && p->warning_us > p->critical_us) {
    snprintf(err, errlen, "--warning is above --critical");
    return -1;
  }
  return 0;
}

int mp_probe_cli_tls(const char *opt, const char *val, char *err, size_t errlen)
{
  int t = mp_tls_mode_from_name(val);

  if (t < 0)
    snprintf(err, errlen,
             "--%s: \"%s\" is not one of none, starttls, implicit, auto", opt,
             val);
  return t;
}

void mp_probe_cli_target(struct mp_probe_opts *o, const struct mp_url *url,
                         int tls)
{
  o->proto = url->proto;
  o->tls = tls >= 0 ? (enum mp_tls_mode)tls : url->tls;
  o->host = url->host;
  o->port = url->port_given || tls < 0 ? url->port
                                       : mp_default_port(o->proto, o->tls);
}

int mp_probe_cli_usage(const struct mp_probe_cli *p, const char *msg)
{
  fprintf(stderr, "mailprobe %s: %s\nTry 'mailprobe %s --help'.\n", p->cmd, msg,
          p->cmd);
  /* A Nagios plugin's first stdout line is what the operator sees. */
  if (p->format == MP_OUT_NAGIOS)
    printf("MAILPROBE UNKNOWN - %s\n", msg);
  return MP_EXIT_USAGE;
}

void mp_probe_cli_free(struct mp_probe_cli *p)
{
  mp_cli_login_free(&p->login);
  mp_host_maps_free(&p->maps);
}
