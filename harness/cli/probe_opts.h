/* The options `mailprobe check` and `mailprobe roundtrip` share, parsed in
 * one place so both take them the same way and say the same on a bad
 * value: --user, --password-file, --password-env, --timeout,
 * --connect-timeout, --cafile, --insecure, --helo, --warning, --critical,
 * --cert-days, --format, --dns-mode, --dns-server, --host-map and -v/--verbose.
 * A command adds its own options in its own table; mp_probe_cli_next scans both
 * and hands back only the command's own. Pure: no event loop. */
#ifndef MP_PROBE_OPTS_H
#define MP_PROBE_OPTS_H

#include <stddef.h>
#include <stdint.h>

#include "harness/cli/args.h"
#include "harness/oauth/token.h"
#include "harness/report/result_json.h"
#include "probes/probe.h"

struct mp_url;

/* A login: a user and a password read from a file or the environment
 * (never from argv). npw counts the password options given, so a command
 * can refuse two. */
struct mp_cli_login {
  const char *user;
  char *password; /* malloc'd; wiped by mp_cli_login_free */
  int npw;
};

/* Reads l's password from the file val (env == 0) or the environment
 * variable val; opt names the option in messages ("password-env"). 0 or
 * -1 with a message. */
int mp_cli_login_password(struct mp_cli_login *l, const char *opt,
                          const char *val, int env, char *err, size_t errlen);

/* Wipes and frees the password. */
void mp_cli_login_free(struct mp_cli_login *l);

/* Room for a command's own options next to the shared ones. */
#define MP_PROBE_CLI_MAX_OPTS 64

/* Ids of the shared options: a command's own ids stay below this. */
#define MP_PROBE_CLI_ID_BASE 100

/* What the shared options set, and the scanner over both tables. */
struct mp_probe_cli {
  const char *cmd;            /* "check": messages say "mailprobe check" */
  enum mp_out_format format;  /* --format (default nagios) */
  struct mp_probe_opts probe; /* timeouts, cafile, insecure, helo, dns
                                 server and hosts, trace */
  struct mp_cli_login login;  /* --user, --password-file/-env */
  struct mp_token_opts oauth; /* --oauth-*: where a token comes from */
  char *oauth_secret;         /* the client secret (wiped), oauth points
                                 here */
  int oauth_given;            /* some --oauth-* option was given */
  struct mp_host_maps maps;   /* --host-map */
  int dns_mode;               /* --dns-mode, -1: not given */
  struct mp_range warning;    /* --warning (unset: not given) */
  struct mp_range critical;   /* --critical */
  int cert_warning_days;      /* --cert-days W[,C], 0: not given */
  int cert_critical_days;
  struct mp_opt opts[MP_PROBE_CLI_MAX_OPTS]; /* own ones, then shared */
  size_t nopts;
};

/* Starts p for command cmd with its own option table (ids from 1 to
 * MP_PROBE_CLI_ID_BASE - 1; at most MP_PROBE_CLI_MAX_OPTS in all). */
void mp_probe_cli_init(struct mp_probe_cli *p, const char *cmd,
                       const struct mp_opt *own, size_t nown);

/* Scans argv as mp_args_next does, over the command's options and the
 * shared ones; takes the shared ones into p and returns the next of the
 * command's own (or MP_ARG_POSITIONAL, MP_ARG_END, or MP_ARG_ERROR with a
 * message in err, also for a bad value of a shared option). */
int mp_probe_cli_next(struct mp_probe_cli *p, struct mp_args *a,
                      const char **val, char *err, size_t errlen);

/* The DNS options once all are read: --dns-server alone means mode
 * server, and mode server needs one; the host maps go into p->probe.dns.
 * 0 or -1 with a message. */
int mp_probe_cli_dns(struct mp_probe_cli *p, char *err, size_t errlen);

/* --warning above --critical (both plain upper bounds), or certificate
 * days the other way round, is a usage error. 0 or -1 with a message. */
int mp_probe_cli_thresholds(const struct mp_probe_cli *p, char *err,
                            size_t errlen);

/* The thresholds of p into the formatter's f. */
void mp_probe_cli_fmt(const struct mp_probe_cli *p, struct mp_result_fmt *f);

/* A --tls value (opt names the option: "tls", "send-tls"). The mode, or
 * -1 with a message. */
int mp_probe_cli_tls(const char *opt, const char *val, char *err,
                     size_t errlen);

/* Points o at what url names: protocol, host, and tls (-1: the scheme's
 * mode); the port is the URL's, or when the URL gives none but a TLS mode
 * is chosen, that mode's default port (smtp:// with implicit TLS: 465). */
void mp_probe_cli_target(struct mp_probe_opts *o, const struct mp_url *url,
                         int tls);

/* Prints msg as the command's usage error on stderr, and as the first
 * line on stdout when the format is nagios (what the operator sees).
 * Returns MP_EXIT_USAGE. */
int mp_probe_cli_usage(const struct mp_probe_cli *p, const char *msg);

/* The --oauth-* options once all are read: a usage error, or 0 (and 1
 * in *any when a token source was given). */
int mp_probe_cli_oauth(const struct mp_probe_cli *p, int *any, char *err,
                       size_t errlen);

/* Frees what p holds (the password wiped, the host maps). */
void mp_probe_cli_free(struct mp_probe_cli *p);

#endif
