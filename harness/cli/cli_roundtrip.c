/* `mailprobe roundtrip --send URL --fetch URL --to ADDR`: sends a tokened
 * message over SMTP and finds and deletes it over POP3 or IMAP
 * (probes/roundtrip.h), reported like `check`. */
#include "harness/cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "harness/cli/args.h"
#include "harness/cli/cli_token.h"
#include "harness/cli/probe_opts.h"
#include "harness/record/record_rt.h"
#include "harness/report/result_json.h"
#include "probes/probe.h"
#include "probes/result.h"
#include "probes/target.h"
#include "probes/roundtrip.h"
#include "wire/errors.h"

static const char rt_usage[] =
    "usage: mailprobe roundtrip --send URL --fetch URL --to ADDR [OPTIONS]\n"
    "\n"
    "Sends a test message carrying a unique token over SMTP, then checks\n"
    "the mailbox over POP3 or IMAP every --poll until the message shows up\n"
    "or --email-timeout passes, and deletes it. Only messages with a\n"
    "mailprobe token of this --id are ever deleted.\n"
    "\n"
    "URLs as in `mailprobe check`: --send smtp://, smtps://, submission://;\n"
    "--fetch pop3://, pop3s://, imap://, imaps://.\n"
    "\n"
    "options:\n"
    "  --send URL, --fetch URL  the two servers (required)\n"
    "  --to ADDR             recipient: the mailbox --fetch logs into "
    "(required)\n"
    "  --from ADDR           sender (default: --to)\n"
    "  --subject TEXT        subject before the token (default \"mailprobe "
    "round\n"
    "                        trip\")\n"
    "  --body FILE           the message body, from FILE (default: a line\n"
    "                        saying what the message is; at most 1 MiB)\n"
    "  --header \"NAME: VALUE\" a header line of yours (repeatable; not\n"
    "                        From, To, Subject, Date, Message-ID or\n"
    "                        X-Mailprobe-Token, which carry the token)\n"
    "  --email-timeout DUR   how long the message may take (default 10m)\n"
    "  --poll DUR            between mailbox checks (default 5s)\n"
    "  --mode MODE           same (default): find this run's message;\n"
    "                        previous: delete the messages earlier runs sent\n"
    "                        (none there is a failure, except on the first "
    "run)\n"
    "  --state FILE          previous mode: remembers that a run happened\n"
    "                        (missing file: this is the first run)\n"
    "  --id NAME             names this monitor in tokens (letters, digits,\n"
    "                        - and _; default rt)\n"
    "  --record FILE         also write the round trip as a case whose fake\n"
    "                        servers replay both sessions and the delivery\n"
    "                        delay (docs/recording.md)\n"
    "  --user NAME, --password-file FILE, --password-env VAR\n"
    "                        login for both sides (never --password)\n"
    "  --send-user, --send-password-file, --send-password-env,\n"
    "  --fetch-user, --fetch-password-file, --fetch-password-env\n"
    "                        login for one side only\n"
    "  --oauth-token-file, --oauth-token-command, --oauth-token-url, ...\n"
    "                        an OAuth token for both sides, as in check\n"
    "  --send-tls MODE, --fetch-tls MODE   none, starttls, implicit, auto\n"
    "                        (default: the URL's)\n"
    "  --send-auth LIST, --fetch-auth LIST login methods, as in check\n"
    "  --timeout DUR         each connection (default 120s)\n"
    "  --connect-timeout DUR each TCP connect (default: --timeout)\n"
    "  --cafile FILE         trust these CAs (PEM), both sides\n"
    "  --insecure            do not fail on a bad certificate, both sides\n"
    "  --helo NAME           EHLO argument\n"
    "  --warning RANGE, --critical RANGE   on the delivery time (accepted\n"
    "                        by SMTP -> seen in the mailbox), ranges as in\n"
    "                        check; -D, --cert-days W[,C] as in check\n"
    "  --format FMT          nagios (default), json or prometheus\n"
    "  --dns-mode MODE, --dns-server IP[:PORT], --host-map \"IP NAME...\"\n"
    "                        as in check\n"
    "  -v, --verbose         print the transcript on stderr as it happens\n"
    "  -h, --help            this help\n"
    "\n"
    "Exit status (Nagios plugin): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.\n"
    "\n"
    "examples:\n"
    "  mailprobe roundtrip --send submission://mail.example.com \\\n"
    "      --fetch imaps://mail.example.com --to probe@example.com \\\n"
    "      --user probe@example.com --password-env PROBE_PW\n"
    "  mailprobe roundtrip --send smtp://mx.example.com --fetch \\\n"
    "      pop3s://pop.example.com --to probe@example.com --mode previous \\\n"
    "      --state /var/lib/mailprobe/rt.state --fetch-user probe \\\n"
    "      --fetch-password-file /etc/mailprobe/pw\n";

/* Its own options; the ones it shares with check are in probe_opts.c. */
enum {
  OPT_SEND = 1,
  OPT_FETCH,
  OPT_TO,
  OPT_FROM,
  OPT_SUBJECT,
  OPT_BODY,
  OPT_HEADER,
  OPT_EMAIL_TIMEOUT,
  OPT_POLL,
  OPT_MODE,
  OPT_STATE,
  OPT_ID,
  /* Login for one side; --user and its passwords (both sides) are
   * shared. */
  OPT_SEND_USER,
  OPT_SEND_PASSWORD_FILE,
  OPT_SEND_PASSWORD_ENV,
  OPT_FETCH_USER,
  OPT_FETCH_PASSWORD_FILE,
  OPT_FETCH_PASSWORD_ENV,
  OPT_PASSWORD,
  OPT_SEND_TLS,
  OPT_FETCH_TLS,
  OPT_SEND_AUTH,
  OPT_FETCH_AUTH,
  OPT_RECORD,
  OPT_HELP
};

static const struct mp_opt rt_opts[] = {
    {"send", 0, 1, OPT_SEND},
    {"fetch", 0, 1, OPT_FETCH},
    {"to", 0, 1, OPT_TO},
    {"from", 0, 1, OPT_FROM},
    {"subject", 0, 1, OPT_SUBJECT},
    {"body", 0, 1, OPT_BODY},
    {"header", 0, 1, OPT_HEADER},
    {"email-timeout", 0, 1, OPT_EMAIL_TIMEOUT},
    {"poll", 0, 1, OPT_POLL},
    {"mode", 0, 1, OPT_MODE},
    {"state", 0, 1, OPT_STATE},
    {"id", 0, 1, OPT_ID},
    {"send-user", 0, 1, OPT_SEND_USER},
    {"send-password-file", 0, 1, OPT_SEND_PASSWORD_FILE},
    {"send-password-env", 0, 1, OPT_SEND_PASSWORD_ENV},
    {"fetch-user", 0, 1, OPT_FETCH_USER},
    {"fetch-password-file", 0, 1, OPT_FETCH_PASSWORD_FILE},
    {"fetch-password-env", 0, 1, OPT_FETCH_PASSWORD_ENV},
    {"password", 0, 1, OPT_PASSWORD},
    {"send-password", 0, 1, OPT_PASSWORD},
    {"fetch-password", 0, 1, OPT_PASSWORD},
    {"send-tls", 0, 1, OPT_SEND_TLS},
    {"fetch-tls", 0, 1, OPT_FETCH_TLS},
    {"send-auth", 0, 1, OPT_SEND_AUTH},
    {"fetch-auth", 0, 1, OPT_FETCH_AUTH},
    {"record", 0, 1, OPT_RECORD},
    {"help", 'h', 0, OPT_HELP},
};

struct side {
  const char *url;
  struct mp_url u;
  int tls; /* -1: the URL's */
  const char *auth_list;
};

struct rt_state {
  struct mp_result *result;
  char token[MP_RT_TOKEN_MAX];
};

static void on_done(struct mp_result *r, const char *token, void *data)
{
  struct rt_state *st = data;

  st->result = r;
  snprintf(st->token, sizeof(st->token), "%s", token ? token : "");
}

/* Fills one side's probe options. 0 or -1 with a message. */
static int side_opts(const char *name, struct side *s,
                     const struct mp_cli_login *own,
                     const struct mp_cli_login *both, int want_smtp, int oauth,
                     struct mp_probe_opts *o, char *err, size_t errlen)
{
  if (!s->url) {
    snprintf(err, errlen, "missing --%s URL", name);
    return -1;
  }
  if (mp_url_parse(s->url, &s->u, err, errlen) < 0)
    return -1;
  if (want_smtp != (s->u.proto == MP_PROTO_SMTP)) {
    snprintf(err, errlen, "--%s: %s", name,
             want_smtp ? "an SMTP URL (smtp, smtps, submission)"
                       : "a POP3 or IMAP URL (pop3, pop3s, imap, imaps)");
    return -1;
  }
  mp_probe_cli_target(o, &s->u, s->tls);
  if (s->auth_list &&
      mp_auth_list_parse(s->auth_list, o->proto, &o->auth, err, errlen) < 0)
    return -1;
  if (own->npw > 1 || both->npw > 1) {
    snprintf(err, errlen, "give one password option per side");
    return -1;
  }
  /* A side's own option wins over the one for both sides. */
  o->user = own->user ? own->user : both->user;
  o->password = own->password ? own->password : both->password;
  if (o->user && !o->password && !oauth) {
    snprintf(err, errlen, "%s login: --user needs a password option", name);
    return -1;
  }
  if ((o->password || oauth) && !o->user) {
    snprintf(err, errlen, "%s login: a password without a user", name);
    return -1;
  }
  if (!want_smtp && !o->user) {
    snprintf(err, errlen,
             "--fetch needs a login: --user or --fetch-user, and a password "
             "or --oauth-* option");
    return -1;
  }
  return 0;
}

/* --header lines at most. */
#define MAX_HEADERS 32
/* --body bytes at most. */
#define MAX_BODY (1024 * 1024)

/* Reads --body FILE whole (before the loop runs); 0, or -1 with a
 * message. */
static int read_body(const char *path, char **out, size_t *len, char *err,
                     size_t errlen)
{
  FILE *f = fopen(path, "rb");
  char *b;
  size_t n;

  if (!f) {
    snprintf(err, errlen, "--body %s: %s", path, strerror(errno));
    return -1;
  }
  b = malloc(MAX_BODY + 1);
  n = b ? fread(b, 1, MAX_BODY + 1, f) : 0;
  if (!b || ferror(f) || n > MAX_BODY) {
    snprintf(err, errlen, "--body %s: %s", path,
             !b          ? "out of memory"
             : ferror(f) ? strerror(errno)
                         : "longer than 1 MiB");
    free(b);
    fclose(f);
    return -1;
  }
  fclose(f);
  *out = b;
  *len = n;
  return 0;
}

static int write_state(const char *path, const char *token)
{
  FILE *f = fopen(path, "w");

  if (!f)
    return -1;
  fprintf(f, "%s\n", token);
  return fclose(f) == 0 ? 0 : -1;
}

int mp_cli_roundtrip(int argc, char **argv)
{
  struct mp_rt_opts o;
  struct mp_probe_cli pc;
  struct side send = {.tls = -1}, fetch = {.tls = -1};
  struct mp_cli_login lsend = {0}, lfetch = {0};
  struct mp_result_fmt rf = {0};
  struct rt_state st = {0};
  struct mp_cli_token tok = {0};
  int oauth = 0;
  struct mp_args a;
  struct stat sb;
  uv_loop_t loop;
  const char *val, *state = NULL, *record = NULL;
  struct mp_rec_rt *rec = NULL;
  const char *headers[MAX_HEADERS];
  size_t nheaders = 0;
  char *body = NULL;
  char err[512], target[700], sendt[300], fetcht[300];
  int id, rc = MP_EXIT_USAGE;
  uint64_t us;

  memset(&o, 0, sizeof(o));
  mp_probe_cli_init(&pc, "roundtrip", rt_opts,
                    sizeof(rt_opts) / sizeof(*rt_opts));
  mp_args_init(&a, argc, argv);
  while ((id = mp_probe_cli_next(&pc, &a, &val, err, sizeof(err))) !=
         MP_ARG_END) {
    int bad = 0;

    switch (id) {
    case MP_ARG_ERROR:
      bad = 1;
      break;
    case MP_ARG_POSITIONAL:
      snprintf(err, sizeof(err),
               "unexpected \"%s\": the servers go in --send and --fetch", val);
      bad = 1;
      break;
    case OPT_SEND:
      send.url = val;
      break;
    case OPT_FETCH:
      fetch.url = val;
      break;
    case OPT_TO:
      o.to = val;
      break;
    case OPT_FROM:
      o.from = val;
      break;
    case OPT_SUBJECT:
      o.subject = val;
      break;
    case OPT_BODY:
      free(body);
      body = NULL;
      bad = read_body(val, &body, &o.body_len, err, sizeof(err)) < 0;
      o.body = body;
      break;
    case OPT_HEADER:
      if (nheaders == MAX_HEADERS) {
        snprintf(err, sizeof(err), "--header: at most %d", MAX_HEADERS);
        bad = 1;
      } else if (!mp_rt_header_ok(val)) {
        snprintf(err, sizeof(err),
                 "--header: \"%s\" is not \"NAME: VALUE\" on one line, or "
                 "names a field the token lives in",
                 val);
        bad = 1;
      } else {
        headers[nheaders++] = val;
      }
      break;
    case OPT_MODE:
      if (strcmp(val, "same") == 0)
        o.mode = MP_RT_SAME;
      else if (strcmp(val, "previous") == 0)
        o.mode = MP_RT_PREVIOUS;
      else {
        snprintf(err, sizeof(err), "--mode: \"%s\" is not same or previous",
                 val);
        bad = 1;
      }
      break;
    case OPT_STATE:
      state = val;
      break;
    case OPT_ID:
      o.id = val;
      break;
    case OPT_SEND_USER:
      lsend.user = val;
      break;
    case OPT_FETCH_USER:
      lfetch.user = val;
      break;
    case OPT_SEND_PASSWORD_FILE:
    case OPT_SEND_PASSWORD_ENV:
    case OPT_FETCH_PASSWORD_FILE:
    case OPT_FETCH_PASSWORD_ENV: {
      int snd = id == OPT_SEND_PASSWORD_FILE || id == OPT_SEND_PASSWORD_ENV;
      int env = id == OPT_SEND_PASSWORD_ENV || id == OPT_FETCH_PASSWORD_ENV;
      char opt[32];

      snprintf(opt, sizeof(opt), "%s-password-%s", snd ? "send" : "fetch",
               env ? "env" : "file");
      bad = mp_cli_login_password(snd ? &lsend : &lfetch, opt, val, env, err,
                                  sizeof(err)) < 0;
      break;
    }
    case OPT_PASSWORD:
      snprintf(err, sizeof(err),
               "a password on the command line is visible to every user of "
               "this machine: use --password-file FILE or --password-env "
               "VAR (or their --send-/--fetch- forms)");
      bad = 1;
      break;
    case OPT_SEND_TLS:
      send.tls = mp_probe_cli_tls("send-tls", val, err, sizeof(err));
      bad = send.tls < 0;
      break;
    case OPT_FETCH_TLS:
      fetch.tls = mp_probe_cli_tls("fetch-tls", val, err, sizeof(err));
      bad = fetch.tls < 0;
      break;
    case OPT_SEND_AUTH:
      send.auth_list = val;
      break;
    case OPT_FETCH_AUTH:
      fetch.auth_list = val;
      break;
    case OPT_EMAIL_TIMEOUT:
    case OPT_POLL:
      if (mp_args_duration_positive(id == OPT_POLL ? "poll" : "email-timeout",
                                    val, &us, err, sizeof(err)) < 0) {
        bad = 1;
        break;
      }
      if (id == OPT_EMAIL_TIMEOUT)
        o.email_timeout_ms = (us + 999) / 1000;
      else
        o.poll_ms = (us + 999) / 1000;
      break;
    case OPT_RECORD:
      record = val;
      break;
    case OPT_HELP:
      fputs(rt_usage, stdout);
      rc = 0;
      goto out;
    }
    if (bad) {
      rc = mp_probe_cli_usage(&pc, err);
      goto out;
    }
  }

  if (!o.to) {
    rc = mp_probe_cli_usage(&pc, "missing --to ADDR");
    goto out;
  }
  if (!o.from)
    o.from = o.to;
  if (mp_probe_cli_dns(&pc, err, sizeof(err)) < 0) {
    rc = mp_probe_cli_usage(&pc, err);
    goto out;
  }
  o.headers = headers;
  o.nheaders = nheaders;
  o.send = pc.probe;
  o.fetch = pc.probe;
  /* The token logs in on both sides (--user, or each side's own). */
  if (mp_probe_cli_oauth(&pc, &oauth, err, sizeof(err)) < 0) {
    rc = mp_probe_cli_usage(&pc, err);
    goto out;
  }
  if (side_opts("send", &send, &lsend, &pc.login, 1, oauth, &o.send, err,
                sizeof(err)) < 0 ||
      side_opts("fetch", &fetch, &lfetch, &pc.login, 0, oauth, &o.fetch, err,
                sizeof(err)) < 0 ||
      mp_probe_cli_thresholds(&pc, err, sizeof(err)) < 0) {
    rc = mp_probe_cli_usage(&pc, err);
    goto out;
  }
  if (o.mode == MP_RT_PREVIOUS) {
    if (!state) {
      rc = mp_probe_cli_usage(&pc, "--mode previous needs --state FILE (to "
                                   "know the first run)");
      goto out;
    }
    o.first_run = stat(state, &sb) < 0 && errno == ENOENT;
  }

  mp_hostport_format(sendt, sizeof(sendt), send.u.host, o.send.port);
  mp_hostport_format(fetcht, sizeof(fetcht), fetch.u.host, o.fetch.port);
  snprintf(target, sizeof(target), "%s -> %s", sendt, fetcht);
  rf.proto = "roundtrip";
  rf.target = target;
  mp_probe_cli_fmt(&pc, &rf);
  rf.timeout_us = ((o.email_timeout_ms ? o.email_timeout_ms
                                       : MP_RT_DEFAULT_EMAIL_TIMEOUT_MS) +
                   (pc.probe.timeout_ms ? pc.probe.timeout_ms
                                        : MP_PROBE_DEFAULT_TIMEOUT_MS)) *
                  1000;

  if (record) {
    /* opened now: an unwritable path fails before connecting */
    rec = mp_rec_rt_open(record, err, sizeof(err));
    if (!rec) {
      rc = mp_probe_cli_usage(&pc, err);
      goto out;
    }
    mp_rec_rt_attach(rec, &o);
  }
  if (uv_loop_init(&loop) < 0) {
    rc = mp_probe_cli_usage(&pc, "could not start the event loop");
    goto out;
  }
  if (oauth && mp_cli_token_fetch(&loop, &pc.oauth, &tok) != 0) {
    uv_loop_close(&loop);
    rc = mp_cli_token_report(&tok, &pc, &rf, "roundtrip");
    goto out;
  }
  o.send.token = o.fetch.token = tok.token;
  id = mp_roundtrip_start(&loop, &o, on_done, &st);
  if (id < 0) {
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    snprintf(err, sizeof(err), "the round trip did not start: %s%s",
             mp_err_message(id),
             id == MP_E_PROTOCOL_ERROR ? " (check --id and the addresses)"
                                       : "");
    rc = mp_probe_cli_usage(&pc, err);
    goto out;
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0)
    fprintf(stderr, "mailprobe roundtrip: handles left open on the loop\n");
  if (!st.result) {
    rc = mp_probe_cli_usage(&pc, "the round trip ended without a result");
    goto out;
  }
  /* Previous mode: a message went out, so the next run is not the first. */
  if (state && st.result->sent_at_us && st.token[0] &&
      write_state(state, st.token) < 0)
    fprintf(stderr, "mailprobe roundtrip: %s: %s\n", state, strerror(errno));

  if (tok.token)
    st.result->timings_us[MP_PHASE_TOKEN] = (int64_t)tok.took_us;
  if (rec && mp_rec_rt_write(rec, st.result, err, sizeof(err)) < 0)
    fprintf(stderr, "mailprobe roundtrip: --record: %s\n", err);
  rc = mp_result_print(stdout, st.result, &rf, pc.format, "roundtrip");

out:
  mp_cli_token_free(&tok);
  mp_rec_rt_free(rec);
  free(body);
  mp_result_free(st.result);
  mp_cli_login_free(&lsend);
  mp_cli_login_free(&lfetch);
  mp_probe_cli_free(&pc);
  return rc;
}
