#include "harness/cli/probe_opts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
  OPT_CERT_DAYS,
  OPT_FORMAT,
  OPT_DNS_MODE,
  OPT_DNS_SERVER,
  OPT_HOST_MAP,
  OPT_VERBOSE,
  OPT_OAUTH_TOKEN,
  OPT_OAUTH_TOKEN_FILE,
  OPT_OAUTH_TOKEN_COMMAND,
  OPT_OAUTH_TOKEN_TIMEOUT,
  OPT_OAUTH_TOKEN_URL,
  OPT_OAUTH_CLIENT_ID,
  OPT_OAUTH_CLIENT_SECRET_FILE,
  OPT_OAUTH_CLIENT_SECRET_ENV,
  OPT_OAUTH_SCOPE,
  OPT_OAUTH_REFRESH_TOKEN_FILE
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
    {"cert-days", 'D', 1, OPT_CERT_DAYS},
    {"format", 0, 1, OPT_FORMAT},
    {"dns-mode", 0, 1, OPT_DNS_MODE},
    {"dns-server", 0, 1, OPT_DNS_SERVER},
    {"host-map", 0, 1, OPT_HOST_MAP},
    {"verbose", 'v', 0, OPT_VERBOSE},
    {"oauth-token", 0, 1, OPT_OAUTH_TOKEN},
    {"oauth-token-file", 0, 1, OPT_OAUTH_TOKEN_FILE},
    {"oauth-token-command", 0, 1, OPT_OAUTH_TOKEN_COMMAND},
    {"oauth-token-timeout", 0, 1, OPT_OAUTH_TOKEN_TIMEOUT},
    {"oauth-token-url", 0, 1, OPT_OAUTH_TOKEN_URL},
    {"oauth-client-id", 0, 1, OPT_OAUTH_CLIENT_ID},
    {"oauth-client-secret-file", 0, 1, OPT_OAUTH_CLIENT_SECRET_FILE},
    {"oauth-client-secret-env", 0, 1, OPT_OAUTH_CLIENT_SECRET_ENV},
    {"oauth-scope", 0, 1, OPT_OAUTH_SCOPE},
    {"oauth-refresh-token-file", 0, 1, OPT_OAUTH_REFRESH_TOKEN_FILE},
};

#define NSHARED (sizeof(shared_opts) / sizeof(shared_opts[0]))

/* Puts "--opt: " before a message that does not name the option yet. */
static void prefix_opt(const char *opt, char *err, size_t errlen)
{
  char tmp[512];

  snprintf(tmp, sizeof(tmp), "--%s: %s", opt, err);
  snprintf(err, errlen, "%s", tmp);
}

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
  if (!env) {
    struct stat st;

    if (mp_read_secret_file(val, &l->password, err, errlen) < 0) {
      prefix_opt(opt, err, errlen);
      return -1;
    }
    if (!l->password[0]) {
      snprintf(err, errlen, "--%s: %s is empty", opt, val);
      mp_cli_login_free(l);
      return -1;
    }
    /* Read it anyway, but say so: anyone on the machine can. */
    if (stat(val, &st) == 0 && (st.st_mode & S_IROTH))
      fprintf(stderr,
              "mailprobe: warning: --%s %s is readable by every user "
              "(chmod 600 it)\n",
              opt, val);
    return 0;
  }
  if (mp_read_secret_env(val, &l->password, err, errlen) < 0) {
    prefix_opt(opt, err, errlen);
    return -1;
  }
  if (!l->password[0]) {
    snprintf(err, errlen, "--%s: the environment variable %s is empty", opt,
             val);
    mp_cli_login_free(l);
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

/* Takes one --oauth-* option into p. 0 or -1 with a message. */
static int take_oauth(struct mp_probe_cli *p, int id, const char *val,
                      char *err, size_t errlen)
{
  struct mp_token_opts *o = &p->oauth;
  uint64_t us;
  p->oauth_given = 1;
  switch (id) {
  case OPT_OAUTH_TOKEN:
    snprintf(err, errlen,
             "--oauth-token would show the token to every user of this "
             "machine (ps, /proc, shell history): use --oauth-token-file, "
             "--oauth-token-command or --oauth-token-url");
    return -1;
  case OPT_OAUTH_TOKEN_FILE:
    o->file = val;
    return 0;
  case OPT_OAUTH_TOKEN_COMMAND:
    o->command = val;
    return 0;
  case OPT_OAUTH_TOKEN_TIMEOUT:
    if (mp_args_duration_positive("oauth-token-timeout", val, &us, err,
                                  errlen) < 0)
      return -1;
    o->command_timeout_ms = o->http_timeout_ms = (us + 999) / 1000;
    return 0;
  case OPT_OAUTH_TOKEN_URL:
    o->url = val;
    return 0;
  case OPT_OAUTH_CLIENT_ID:
    o->client_id = val;
    return 0;
  case OPT_OAUTH_CLIENT_SECRET_FILE:
  case OPT_OAUTH_CLIENT_SECRET_ENV: {
    /* Read as a password is: from a file or the environment only. */
    struct mp_cli_login l = {0};
    int env = id == OPT_OAUTH_CLIENT_SECRET_ENV;
    if (mp_cli_login_password(
            &l, env ? "oauth-client-secret-env" : "oauth-client-secret-file",
            val, env, err, errlen) < 0)
      return -1;
    if (p->oauth_secret) {
      memset(p->oauth_secret, 0, strlen(p->oauth_secret));
      free(p->oauth_secret);
    }
    p->oauth_secret = l.password;
    o->client_secret = l.password;
    return 0;
  }
  case OPT_OAUTH_SCOPE:
    o->scope = val;
    return 0;
  case OPT_OAUTH_REFRESH_TOKEN_FILE:
    o->refresh_file = val;
    return 0;
  }
  p->oauth_given = 0;
  return 0;
}

int mp_probe_cli_oauth(const struct mp_probe_cli *p, int *any, char *err,
                       size_t errlen)
{
  const struct mp_token_opts *o = &p->oauth;
  const char *why = mp_token_opts_check(o);
  *any = o->file || o->command || o->url;
  if (!why && p->oauth_given && !*any)
    why = "the --oauth-* options need --oauth-token-file, "
          "--oauth-token-command or --oauth-token-url";
  if (why) {
    snprintf(err, errlen, "%s", why);
    return -1;
  }
  return 0;
}

/* A --warning or --critical range (the Monitoring Plugins guidelines:
 * 10, 10:, ~:10, 10:20, @10:20; each end a duration). */
static int take_range(const char *opt, const char *val, struct mp_range *r,
                      char *err, size_t errlen)
{
  if (mp_range_parse(val, r) == 0)
    return 0;
  snprintf(err, errlen,
           "--%s: bad range \"%s\" (N, N:, ~:N, N:M or @N:M; each a "
           "duration: 2, 500ms, 1m)",
           opt, val);
  return -1;
}

/* --cert-days W[,C], as check_smtp's -D: WARNING when the certificate
 * expires in fewer than W days, CRITICAL in fewer than C. */
static int take_cert_days(struct mp_probe_cli *p, const char *val, char *err,
                          size_t errlen)
{
  unsigned long w = 0, c = 0;
  char *end;

  if (val[0] >= '0' && val[0] <= '9') {
    w = strtoul(val, &end, 10);
    if (*end == ',' && end[1] >= '0' && end[1] <= '9')
      c = strtoul(end + 1, &end, 10);
    else if (*end == ',')
      end = (char *)"x";
  } else {
    end = (char *)"x";
  }
  if (*end || w < 1 || w > 100000 || c > 100000) {
    snprintf(err, errlen,
             "--cert-days: \"%s\" is not DAYS or WARN_DAYS,CRIT_DAYS "
             "(such as 30,14)",
             val);
    return -1;
  }
  p->cert_warning_days = (int)w;
  p->cert_critical_days = (int)c;
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
  case OPT_CONNECT_TIMEOUT: {
    const char *name = id == OPT_TIMEOUT ? "timeout" : "connect-timeout";

    if (mp_args_duration_positive(name, val, &us, err, errlen) < 0)
      return -1;
    if (id == OPT_TIMEOUT)
      p->probe.timeout_ms = (us + 999) / 1000;
    else
      p->probe.connect_timeout_ms = (us + 999) / 1000;
    return 0;
  }
  case OPT_WARNING:
  case OPT_CRITICAL:
    return take_range(id == OPT_WARNING ? "warning" : "critical", val,
                      id == OPT_WARNING ? &p->warning : &p->critical, err,
                      errlen);
  case OPT_CERT_DAYS:
    return take_cert_days(p, val, err, errlen);
  case OPT_CAFILE: {
    /* A local problem is UNKNOWN and found before connecting, not a
     * tls_failed against a server that did nothing wrong. */
    FILE *ca = fopen(val, "r");

    if (!ca) {
      snprintf(err, errlen, "--cafile %s: %s", val, strerror(errno));
      return -1;
    }
    fclose(ca);
    p->probe.cafile = val;
    return 0;
  }
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
  return take_oauth(p, id, val, err, errlen);
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
  if (mp_range_is_upper(&p->warning) && mp_range_is_upper(&p->critical) &&
      p->warning.high_us > p->critical.high_us) {
    snprintf(err, errlen, "--warning is above --critical");
    return -1;
  }
  if (p->cert_critical_days > p->cert_warning_days) {
    snprintf(err, errlen,
             "--cert-days: the critical days (%d) are more than the "
             "warning days (%d)",
             p->cert_critical_days, p->cert_warning_days);
    return -1;
  }
  return 0;
}

void mp_probe_cli_fmt(const struct mp_probe_cli *p, struct mp_result_fmt *f)
{
  f->warning = p->warning;
  f->critical = p->critical;
  f->cert_warning_days = p->cert_warning_days;
  f->cert_critical_days = p->cert_critical_days;
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
  if (p->oauth_secret) {
    memset(p->oauth_secret, 0, strlen(p->oauth_secret));
    free(p->oauth_secret);
    p->oauth_secret = NULL;
  }
}
