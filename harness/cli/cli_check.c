/* `mailprobe check URL`: one probe against a real server, reported as a
 * Nagios plugin line (default), JSON or Prometheus text. */
#include "harness/cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "harness/cli/args.h"
#include "harness/cli/cli_token.h"
#include "harness/cli/probe_opts.h"
#include "harness/cli/monitor_loop.h"
#include "harness/report/result_json.h"
#include "probes/monitor.h"
#include "probes/probe.h"
#include "probes/result.h"
#include "probes/target.h"
#include "wire/errors.h"

static const char check_usage[] =
    "usage: mailprobe check URL [OPTIONS]\n"
    "\n"
    "Runs one probe against a mail server: connect, greeting, EHLO/CAPA/\n"
    "CAPABILITY, TLS, login when --user is given, QUIT.\n"
    "\n"
    "URL: scheme://host[:port], IPv6 in brackets (imaps://[2001:db8::1]).\n"
    "  smtp://        port 25, TLS auto (STARTTLS when offered)\n"
    "  smtps://       port 465, implicit TLS\n"
    "  submission://  port 587, STARTTLS required\n"
    "  pop3:// pop3s://   110 auto, 995 implicit TLS\n"
    "  imap:// imaps://   143 auto, 993 implicit TLS\n"
    "\n"
    "options:\n"
    "  --tls MODE            none, starttls, implicit or auto (default: the\n"
    "                        scheme's; without a port in the URL, the\n"
    "                        mode's port)\n"
    "  --user NAME           log in as NAME\n"
    "  --password-file FILE  the password, read from FILE (one trailing\n"
    "                        newline removed)\n"
    "  --password-env VAR    the password, read from environment VAR\n"
    "                        (never on the command line: --password is\n"
    "                        refused)\n"
    "  --auth LIST           login methods allowed, strongest tried first:\n"
    "                        OAUTHBEARER, XOAUTH2 (with a token only),\n"
    "                        SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, LOGIN,\n"
    "                        PLAIN; POP3 also USER, APOP; IMAP: LOGIN is\n"
    "                        the LOGIN command, AUTH=LOGIN the mechanism\n"
    "                        (default: every one the server offers,\n"
    "                        strongest first)\n"
    "  --timeout DUR         the whole probe (default 120s); seconds, or\n"
    "                        with a unit: 500ms, 10s, 5m\n"
    "  --connect-timeout DUR the TCP connect (default: --timeout)\n"
    "  --cafile FILE         trust these CAs (PEM) instead of the system's\n"
    "  --insecure            do not fail on a certificate that does not\n"
    "                        verify (it is still reported)\n"
    "  --servername NAME     SNI and the name to verify (default: the host)\n"
    "  --helo NAME           EHLO argument (default mailprobe.invalid)\n"
    "  --warning RANGE       WARNING when the probe's time is outside RANGE\n"
    "  --critical RANGE      CRITICAL likewise; ranges as the Monitoring\n"
    "                        Plugins guidelines: 10 (above 10 s), 10: (below\n"
    "                        10 s), ~:10, 10:20 (outside), @10:20 (inside);\n"
    "                        each end seconds or with a unit (500ms)\n"
    "  -D, --cert-days W[,C] WARNING when the certificate expires in fewer\n"
    "                        than W days, CRITICAL in fewer than C (as\n"
    "                        check_smtp -D 30,14)\n"
    "  --format FMT          nagios (default), json or prometheus\n"
    "  --dns-mode MODE       system (default), no_cache, server, ipv4,\n"
    "                        ipv6, prefer_ipv4, prefer_ipv6\n"
    "  --dns-server IP[:PORT]  ask this DNS server (implies --dns-mode "
    "server)\n"
    "  --host-map \"IP NAME...\" resolve NAMEs to IP (repeatable)\n"
    "  -v, --verbose         print the transcript on stderr as it happens\n"
    "  -h, --help            this help\n"
    "\n"
    "OAuth 2.0 (XOAUTH2, OAUTHBEARER; docs/oauth.md), with --user; the\n"
    "token is fetched before connecting (phase token), never from argv:\n"
    "  --oauth-token-file FILE     the access token, read from FILE\n"
    "  --oauth-token-command CMD   run CMD (split on blanks, no shell); its\n"
    "                              stdout is the token\n"
    "  --oauth-token-url URL       ask this token endpoint (OAuth 2.0):\n"
    "  --oauth-client-id ID        the application's id\n"
    "  --oauth-client-secret-file FILE, --oauth-client-secret-env VAR\n"
    "                              client credentials grant (Microsoft 365)\n"
    "  --oauth-refresh-token-file FILE  refresh token grant (Gmail); a\n"
    "                              rotated refresh token is written back\n"
    "  --oauth-scope SCOPE         the scope asked for\n"
    "  --oauth-token-timeout DUR   the command or request (default 10s, 30s)\n"
    "A token from a command or an endpoint is reused by --monitor until a\n"
    "minute before it expires.\n"
    "\n"
    "monitor mode (ipMonitor's timing: Up, Warn, Down, Lost):\n"
    "  --monitor             test again and again, never two at once; a\n"
    "                        line per test, ALERT and RECOVERY lines\n"
    "  --count N             stop after N tests (default: until Ctrl-C)\n"
    "  --interval DUR        between tests, in every state unless that\n"
    "                        state's own option is given (default 300s Up,\n"
    "                        60s failing)\n"
    "  --interval-warn DUR, --interval-down DUR, --interval-lost DUR\n"
    "                        between tests in that state\n"
    "  --failures N          failed tests per alert (default 3)\n"
    "  --max-alerts N        alerts before Lost, after which only the\n"
    "                        recovery is told (default: no limit)\n"
    "\n"
    "Exit status (Nagios plugin): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN\n"
    "(usage errors, local problems such as an unreadable --cafile or an\n"
    "empty password, found before connecting). The JSON \"state\" and\n"
    "Prometheus' mailprobe_state say the same. With --monitor: the last\n"
    "state, Up 0, Warn 1, Down or Lost 2, and each line's Nagios word is\n"
    "that state's.\n"
    "\n"
    "examples:\n"
    "  mailprobe check smtp://mx.example.com\n"
    "  mailprobe check submission://mail.example.com --user probe \\\n"
    "      --password-env PROBE_PASSWORD --warning 2 --critical 5\n"
    "  mailprobe check imaps://[::1]:993 --format json --cert-days 30,14\n"
    "  mailprobe check pop3://mail.example.com --tls none --auth APOP \\\n"
    "      --user probe --password-file secret\n"
    "  mailprobe check imaps://outlook.office365.com --user probe@contoso.com "
    "\\\n"
    "      --oauth-token-url "
    "https://login.microsoftonline.com/TENANT/oauth2/v2.0/token \\\n"
    "      --oauth-client-id APP_ID --oauth-client-secret-env APP_SECRET \\\n"
    "      --oauth-scope https://outlook.office365.com/.default\n";

/* Its own options; the ones it shares with roundtrip are in probe_opts.c. */
enum {
  OPT_TLS = 1,
  OPT_PASSWORD,
  OPT_AUTH,
  OPT_SERVERNAME,
  OPT_HELP,
  OPT_MONITOR,
  OPT_COUNT,
  OPT_INTERVAL,
  OPT_INTERVAL_WARN,
  OPT_INTERVAL_DOWN,
  OPT_INTERVAL_LOST,
  OPT_FAILURES,
  OPT_MAX_ALERTS
};

static const struct mp_opt check_opts[] = {
    {"tls", 0, 1, OPT_TLS},
    {"password", 0, 1, OPT_PASSWORD},
    {"auth", 0, 1, OPT_AUTH},
    {"servername", 0, 1, OPT_SERVERNAME},
    {"help", 'h', 0, OPT_HELP},
    {"monitor", 0, 0, OPT_MONITOR},
    {"count", 0, 1, OPT_COUNT},
    {"interval", 0, 1, OPT_INTERVAL},
    {"interval-warn", 0, 1, OPT_INTERVAL_WARN},
    {"interval-down", 0, 1, OPT_INTERVAL_DOWN},
    {"interval-lost", 0, 1, OPT_INTERVAL_LOST},
    {"failures", 0, 1, OPT_FAILURES},
    {"max-alerts", 0, 1, OPT_MAX_ALERTS},
};

struct check {
  struct mp_result *result;
};

const struct mp_cli_watch *mp_cli_watch;

static void on_result(struct mp_result *r, void *data)
{
  struct check *c = data;

  c->result = r;
}

int mp_cli_check(int argc, char **argv)
{
  struct mp_probe_cli pc;
  struct mp_probe_opts *opts = &pc.probe;
  struct mp_result_fmt rf = {0};
  struct check st = {0};
  struct mp_cli_token tok = {0};
  struct mp_url url;
  struct mp_args a;
  uv_loop_t loop;
  const char *val, *urlstr = NULL, *auth_list = NULL;
  char err[512], target[300];
  int id, rc = MP_EXIT_USAGE, tls = -1;
  struct mp_monitor_cfg mon = {{0}, 0, 0};
  int monitor = 0;
  unsigned long count = 0, num;

  mp_probe_cli_init(&pc, "check", check_opts,
                    sizeof(check_opts) / sizeof(*check_opts));
  mp_args_init(&a, argc, argv);
  while ((id = mp_probe_cli_next(&pc, &a, &val, err, sizeof(err))) !=
         MP_ARG_END) {
    switch (id) {
    case MP_ARG_ERROR:
      rc = mp_probe_cli_usage(&pc, err);
      goto out;
    case MP_ARG_POSITIONAL:
      if (urlstr) {
        snprintf(err, sizeof(err), "one URL only (got \"%s\" and \"%s\")",
                 urlstr, val);
        rc = mp_probe_cli_usage(&pc, err);
        goto out;
      }
      urlstr = val;
      break;
    case OPT_TLS:
      tls = mp_probe_cli_tls("tls", val, err, sizeof(err));
      if (tls < 0) {
        rc = mp_probe_cli_usage(&pc, err);
        goto out;
      }
      break;
    case OPT_PASSWORD:
      rc =
          mp_probe_cli_usage(&pc, "--password would show the password to every "
                                  "user of this machine (ps, /proc, shell "
                                  "history): use --password-file FILE or "
                                  "--password-env VAR");
      goto out;
    case OPT_AUTH:
      auth_list = val;
      break;
    case OPT_SERVERNAME:
      opts->servername = val;
      break;
    case OPT_HELP:
      fputs(check_usage, stdout);
      rc = 0;
      goto out;
    case OPT_MONITOR:
      monitor = 1;
      break;
    case OPT_COUNT:
    case OPT_FAILURES:
    case OPT_MAX_ALERTS: {
      const char *name = id == OPT_COUNT      ? "count"
                         : id == OPT_FAILURES ? "failures"
                                              : "max-alerts";
      if (mp_args_uint(name, val, 1, 1000000, &num, err, sizeof(err)) < 0) {
        rc = mp_probe_cli_usage(&pc, err);
        goto out;
      }
      if (id == OPT_COUNT)
        count = num;
      else if (id == OPT_FAILURES)
        mon.failures_per_alert = (unsigned)num;
      else
        mon.max_alerts = (unsigned)num;
      break;
    }
    case OPT_INTERVAL:
    case OPT_INTERVAL_WARN:
    case OPT_INTERVAL_DOWN:
    case OPT_INTERVAL_LOST: {
      static const char *const names[] = {"interval", "interval-warn",
                                          "interval-down", "interval-lost"};
      int ms = id - OPT_INTERVAL; /* MP_MON_UP .. MP_MON_LOST */
      uint64_t us;
      if (mp_args_duration(names[ms], val, &us, err, sizeof(err)) < 0) {
        rc = mp_probe_cli_usage(&pc, err);
        goto out;
      }
      mon.interval_ms[ms] = us ? (us + 999) / 1000 : 1;
      break;
    }
    }
  }

  if (!urlstr) {
    rc = mp_probe_cli_usage(&pc, "missing URL (smtp://host[:port], ...)");
    goto out;
  }
  if (mp_url_parse(urlstr, &url, err, sizeof(err)) < 0) {
    rc = mp_probe_cli_usage(&pc, err);
    goto out;
  }
  if (pc.login.npw > 1) {
    rc = mp_probe_cli_usage(&pc,
                            "give one of --password-file and --password-env");
    goto out;
  }
  int oauth = 0;
  if (mp_probe_cli_oauth(&pc, &oauth, err, sizeof(err)) < 0) {
    rc = mp_probe_cli_usage(&pc, err);
    goto out;
  }
  if (oauth && !pc.login.user) {
    rc =
        mp_probe_cli_usage(&pc, "a token needs --user (the mailbox it is for)");
    goto out;
  }
  if (pc.login.user && !pc.login.password && !oauth) {
    rc = mp_probe_cli_usage(&pc,
                            "--user needs --password-file or --password-env");
    goto out;
  }
  if (pc.login.password && !pc.login.user) {
    rc = mp_probe_cli_usage(&pc, "a password without --user");
    goto out;
  }
  if (mp_probe_cli_thresholds(&pc, err, sizeof(err)) < 0) {
    rc = mp_probe_cli_usage(&pc, err);
    goto out;
  }
  mp_probe_cli_target(opts, &url, tls);
  opts->user = pc.login.user;
  opts->password = pc.login.password;
  if (auth_list && mp_auth_list_parse(auth_list, opts->proto, &opts->auth, err,
                                      sizeof(err)) < 0) {
    rc = mp_probe_cli_usage(&pc, err);
    goto out;
  }
  if (mp_probe_cli_dns(&pc, err, sizeof(err)) < 0) {
    rc = mp_probe_cli_usage(&pc, err);
    goto out;
  }

  mp_hostport_format(target, sizeof(target), url.host, opts->port);
  rf.proto = mp_proto_name(opts->proto);
  rf.target = target;
  mp_probe_cli_fmt(&pc, &rf);
  rf.timeout_us =
      (opts->timeout_ms ? opts->timeout_ms : MP_PROBE_DEFAULT_TIMEOUT_MS) *
      1000;

  if (uv_loop_init(&loop) < 0) {
    rc = mp_probe_cli_usage(&pc, "could not start the event loop");
    goto out;
  }
  if (monitor) {
    if (pc.format == MP_OUT_PROMETHEUS) {
      uv_loop_close(&loop);
      rc = mp_probe_cli_usage(&pc, "--monitor prints nagios or json lines");
      goto out;
    }
    struct mp_token_source *src =
        oauth ? mp_token_source_new(&loop, &pc.oauth) : NULL;
    rc = mp_monitor_loop(&loop, opts, &rf, &mon, (unsigned)count,
                         pc.format == MP_OUT_JSON, src);
    mp_token_source_free(src);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
      fprintf(stderr, "mailprobe check: handles left open on the loop\n");
    goto out;
  }
  if (count || mon.failures_per_alert || mon.max_alerts || mon.interval_ms[0] ||
      mon.interval_ms[1] || mon.interval_ms[2] || mon.interval_ms[3]) {
    uv_loop_close(&loop);
    rc = mp_probe_cli_usage(&pc, "--count, --interval*, --failures and "
                                 "--max-alerts go with --monitor");
    goto out;
  }
  if (oauth && mp_cli_token_fetch(&loop, &pc.oauth, &tok) != 0) {
    uv_loop_close(&loop);
    rc = mp_cli_token_report(&tok, &pc, &rf, "check");
    goto out;
  }
  opts->token = tok.token;
  if (mp_cli_watch) {
    mp_cli_watch->started(mp_cli_watch->data, opts);
    opts->tap = mp_cli_watch->tap;
    opts->tap_data = mp_cli_watch->data;
  }
  id = mp_probe_start(&loop, opts, on_result, &st);
  if (id < 0) {
    snprintf(err, sizeof(err), "the probe did not start: %s",
             mp_err_message(id));
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    rc = mp_probe_cli_usage(&pc, err);
    goto out;
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0)
    fprintf(stderr, "mailprobe check: handles left open on the loop\n");
  if (!st.result) {
    rc = mp_probe_cli_usage(&pc, "the probe ended without a result");
    goto out;
  }

  if (tok.token)
    st.result->timings_us[MP_PHASE_TOKEN] = (int64_t)tok.took_us;
  rc = mp_result_print(stdout, st.result, &rf, pc.format, "check");

out:
  mp_cli_token_free(&tok);
  mp_result_free(st.result);
  mp_probe_cli_free(&pc);
  return rc;
}
