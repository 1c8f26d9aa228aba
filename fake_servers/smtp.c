/* The fake SMTP server (RFC 5321) in nginx's shape: the session's state
 * (a command, a SASL response, message text), then a table of commands
 * (dispatch.c runs it); caps on line length, arguments, recipients,
 * message size and errors. It builds answers and effects (session.h); the
 * script decides when and how they go out.
 *
 * Extensions: PIPELINING (RFC 2920), SIZE (RFC 1870), 8BITMIME (RFC 6152),
 * ENHANCEDSTATUSCODES (RFC 2034, codes from RFC 3463), STARTTLS (RFC 3207),
 * AUTH (RFC 4954) through the shared SASL exchange (dispatch.c). DATA and
 * the delivery of what it brings are fake_servers/smtp_data.c. */
#include "fake_servers/smtp_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fake_servers/mailstore.h"
#include "wire/conn.h"
#include "wire/errors.h"

#define SMTP_MAX_LINE 16384 /* the conn's cap; AUTH needs 12288 */
#define SMTP_MAX_COMMAND                                                       \
  2048                           /* a command line (RFC 5321 4.5.3.1.4         \
                                    says 512; extensions need more) */
#define SMTP_MAX_AUTH_LINE 12288 /* RFC 4954 4 */
#define SMTP_MAX_ERRORS 20
#define SMTP_IN_CMD (1u << SMTP_CMD) /* the states of every command */
/* A session keeps its message buffer for the next message up to this. */
#define SMTP_KEEP_MSG_BUF 65536u

static const char *const state_names[] = {
    [SMTP_CMD] = "command",
    [SMTP_AUTH] = "auth",
    [SMTP_DATA_HEAD] = "data-head",
    [SMTP_DATA_BODY] = "data-body",
};

void fs_reset_transaction(struct smtp *m)
{
  free(m->from);
  m->from = NULL;
  for (size_t i = 0; i < m->nrcpt; i++)
    free(m->rcpt[i]);
  free(m->rcpt);
  m->rcpt = NULL;
  m->nrcpt = 0;
  if (m->text.cap > SMTP_KEEP_MSG_BUF)
    mp_fake_answer_free(&m->text);
  m->text.len = 0;
  m->text.oom = 0;
  m->msg_len = 0;
  m->keep_text = 0;
  m->too_big = 0;
  m->in_mail = 0;
}

static void smtp_close(struct mp_fake_session *s)
{
  struct smtp *m = s->proto;
  fs_reset_transaction(m);
  mp_fake_answer_free(&m->text);
  free(m->helo_name);
  free(m->user);
}

static void smtp_greeting(struct mp_fake_session *s, int replaced,
                          struct mp_fake_answer *a)
{
  if (!replaced)
    mp_fake_answer_join(a, "220 ", mp_fake_hostname(s->srv),
                        " ESMTP mailprobe-fake", NULL);
}

/* ---- EHLO --------------------------------------------------------------- */

/* 1 if cap's keyword ("SIZE" of "SIZE 100", "AUTH" of "AUTH=LOGIN") is
 * in list. */
static int keyword_in(char *const *list, size_t n, const char *cap)
{
  return mp_fake_keyword_in(list, n, cap, " =");
}

static void ehlo_reply(struct mp_fake_session *s, struct mp_fake_answer *a)
{
  const struct mp_fake_config *cfg = s->srv->cfg;
  char size[32], auth[512], authcap[520];
  const char *caps[16 + 64];
  snprintf(size, sizeof(size), "SIZE %u", SMTP_MAX_MESSAGE);
  const char *builtin[6] = {"PIPELINING", size, "8BITMIME",
                            "ENHANCEDSTATUSCODES"};
  size_t nb = 4;
  if (cfg->tls == MP_FAKE_TLS_STARTTLS && s->srv->tls_ctx && !s->in_tls)
    builtin[nb++] = "STARTTLS";
  mp_fake_auth_list(cfg, auth, sizeof(auth));
  if (auth[0] && (!cfg->auth_requires_tls || s->in_tls)) {
    snprintf(authcap, sizeof(authcap), "AUTH %s", auth);
    builtin[nb++] = authcap;
  }
  size_t n = mp_fake_caps(cfg, builtin, nb, caps, sizeof(caps) / sizeof(*caps),
                          keyword_in);
  /* RFC 5321 4.1.1.1 and 4.2.1: "250-domain", one line per keyword, the
   * last with a space. */
  const char *host = mp_fake_hostname(s->srv);
  if (n == 0) {
    mp_fake_answer_line(a, "250 %s", host);
    return;
  }
  mp_fake_answer_line(a, "250-%s", host);
  for (size_t i = 0; i < n; i++)
    mp_fake_answer_line(a, "250%c%s", i + 1 < n ? '-' : ' ', caps[i]);
}

/* ---- MAIL, RCPT ------------------------------------------------------ */

/* Parses "FROM:<addr> params" after the verb: where the address starts,
 * its length, and where the parameters start. -1 on bad syntax. */
static int parse_path(const char *arg, const char *prefix, const char **addr,
                      size_t *addr_len, const char **params)
{
  size_t pl = strlen(prefix);
  if (strncasecmp(arg, prefix, pl) != 0)
    return -1;
  const char *p = arg + pl;
  while (*p == ' ')
    p++; /* some clients put a space after the colon */
  const char *start, *end;
  if (*p == '<') {
    start = p + 1;
    end = strchr(start, '>');
    if (!end)
      return -1;
    p = end + 1;
  } else {
    start = p;
    end = p + strcspn(p, " ");
    p = end;
    if (end == start)
      return -1;
  }
  if (*p && *p != ' ')
    return -1;
  while (*p == ' ')
    p++;
  *addr = start;
  *addr_len = (size_t)(end - start);
  *params = p;
  return 0;
}

static void cmd_mail(struct mp_fake_session *s, struct mp_fake_args *g,
                     struct mp_fake_answer *a)
{
  struct smtp *m = s->proto;
  const char *arg = g->arg;
  const char *at, *params;
  size_t at_len;
  if (!m->helo) {
    mp_fake_client_error(s, a, "503 5.5.1 Error: send HELO/EHLO first");
    return;
  }
  if (m->in_mail) {
    mp_fake_client_error(s, a, "503 5.5.1 Error: nested MAIL command");
    return;
  }
  if (parse_path(arg, "FROM:", &at, &at_len, &params) < 0) {
    mp_fake_client_error(s, a, "501 5.5.4 Syntax: MAIL FROM:<address>");
    return;
  }
  /* RFC 1870 6: SIZE= above the limit is refused at once. */
  while (*params) {
    size_t n = strcspn(params, " ");
    if (n > 5 && strncasecmp(params, "SIZE=", 5) == 0) {
      unsigned long long size = strtoull(params + 5, NULL, 10);
      if (size > SMTP_MAX_MESSAGE) {
        mp_fake_answer_line(a, "552 5.3.4 Message size exceeds fixed limit");
        return;
      }
    } else if (!(n > 5 && strncasecmp(params, "BODY=", 5) == 0) &&
               !(n > 5 && strncasecmp(params, "AUTH=", 5) == 0) &&
               !(n == 8 && strncasecmp(params, "SMTPUTF8", 8) == 0)) {
      /* RFC 5321 4.1.1.11: an unknown parameter is 555. */
      mp_fake_client_error(s, a, "555 5.5.4 Unsupported option");
      return;
    }
    params += n;
    while (*params == ' ')
      params++;
  }
  char *from = strndup(at, at_len);
  if (!from) {
    mp_fake_answer_line(a, "452 4.3.1 Insufficient system storage");
    return;
  }
  m->in_mail = 1;
  m->from = from;
  mp_fake_answer_line(a, "250 2.1.0 Ok");
}

static void cmd_rcpt(struct mp_fake_session *s, struct mp_fake_args *g,
                     struct mp_fake_answer *a)
{
  struct smtp *m = s->proto;
  const char *arg = g->arg;
  struct mp_mailstore *st = s->srv->env.store;
  const char *at, *params;
  size_t at_len;
  if (!m->in_mail) {
    mp_fake_client_error(s, a, "503 5.5.1 Error: need MAIL command");
    return;
  }
  if (parse_path(arg, "TO:", &at, &at_len, &params) < 0) {
    mp_fake_client_error(s, a, "501 5.5.4 Syntax: RCPT TO:<address>");
    return;
  }
  if (at_len == 0) {
    mp_fake_client_error(s, a, "501 5.1.3 Bad recipient address syntax");
    return;
  }
  if (m->nrcpt >= SMTP_MAX_RCPT) {
    mp_fake_answer_line(a, "452 4.5.3 Error: too many recipients");
    return;
  }
  /* With users in the store only they receive mail; without, anyone is
   * accepted and nothing is kept. */
  const char *user = NULL;
  if (st && mp_mailstore_users(st) > 0) {
    char addr[SMTP_MAX_COMMAND + 1]; /* the line is at most that long */
    memcpy(addr, at, at_len);
    addr[at_len] = '\0';
    user = mp_mailstore_lookup(st, addr);
    if (!user) {
      mp_fake_answer_line(a,
                          "550 5.1.1 <%s>: Recipient address rejected: "
                          "User unknown in local recipient table",
                          addr);
      return;
    }
  }
  char **p = realloc(m->rcpt, (m->nrcpt + 1) * sizeof(*p));
  char *u = user ? strdup(user) : NULL;
  if (!p || (user && !u)) {
    if (p)
      m->rcpt = p;
    free(u);
    mp_fake_answer_line(a, "452 4.3.1 Insufficient system storage");
    return;
  }
  m->rcpt = p;
  m->rcpt[m->nrcpt++] = u;
  mp_fake_answer_line(a, "250 2.1.5 Ok");
}

/* ---- AUTH (RFC 4954) ---------------------------------------------------- */

static void smtp_logged_in(struct mp_fake_session *s, const char *user,
                           struct mp_fake_answer *a)
{
  struct smtp *m = s->proto;
  m->user = strdup(user ? user : "");
  mp_fake_answer_line(a, "235 2.7.0 Authentication successful");
}

/* RFC 4954 4: "334 " and the challenge; "*" cancels with 501. */
static const struct mp_fake_sasl_frame smtp_sasl = {
    .cont = "334 ",
    .exchange_state = SMTP_AUTH,
    .idle_state = SMTP_CMD,
    .max_response = SMTP_MAX_AUTH_LINE,
    .unsupported = "504 5.5.4 Unrecognized authentication type",
    .unsupported_counts = 1,
    .cancelled = "501 5.0.0 Authentication cancelled",
    .failed = "535 5.7.8 Error: authentication failed",
    .failed_counts = 1,
    .undecodable = "501 5.5.2 Error: cannot decode response",
    .too_long = "500 5.5.6 Authentication exchange line is too long",
    .temporary = "454 4.7.0 Temporary authentication failure",
    .logged_in = smtp_logged_in,
};

static void cmd_auth(struct mp_fake_session *s, struct mp_fake_args *g,
                     struct mp_fake_answer *a)
{
  struct smtp *m = s->proto;
  const struct mp_fake_config *cfg = s->srv->cfg;
  char mech[64];
  const char *initial;
  if (mp_fake_sasl_args(g->arg, mech, sizeof(mech), &initial) < 0) {
    mp_fake_client_error(s, a, "501 5.5.4 Syntax: AUTH mechanism");
    return;
  }
  char list[512];
  mp_fake_auth_list(cfg, list, sizeof(list));
  if (m->helo < 2) {
    mp_fake_client_error(s, a, "503 5.5.1 Error: send EHLO first");
  } else if (m->user) {
    mp_fake_client_error(s, a, "503 5.5.1 Error: already authenticated");
  } else if (m->in_mail) {
    /* RFC 4954 4: not during a mail transaction. */
    mp_fake_client_error(s, a, "503 5.5.1 Error: MAIL transaction in progress");
  } else if (!list[0]) {
    mp_fake_client_error(s, a, "503 5.5.1 Error: authentication not enabled");
  } else if (cfg->auth_requires_tls && !s->in_tls) {
    mp_fake_answer_line(a, "530 5.7.0 Must issue a STARTTLS command first");
  } else {
    mp_fake_sasl_start(s, mech, initial, a);
  }
}

/* ---- commands ------------------------------------------------------------ */

/* EHLO (variant 2) and HELO (1). */
static void cmd_helo(struct mp_fake_session *s, struct mp_fake_args *g,
                     struct mp_fake_answer *a)
{
  struct smtp *m = s->proto;
  int ehlo = g->cmd->variant == 2;
  if (!*g->arg) {
    mp_fake_client_error(s, a,
                         ehlo ? "501 5.5.4 Syntax: EHLO hostname"
                              : "501 5.5.4 Syntax: HELO hostname");
    return;
  }
  /* RFC 5321 4.1.4: EHLO/HELO resets a transaction in progress. */
  fs_reset_transaction(m);
  free(m->helo_name);
  m->helo_name = strdup(g->arg);
  m->helo = g->cmd->variant;
  if (ehlo)
    ehlo_reply(s, a);
  else
    mp_fake_answer_join(a, "250 ", mp_fake_hostname(s->srv), NULL);
}

static void cmd_rset(struct mp_fake_session *s, struct mp_fake_args *g,
                     struct mp_fake_answer *a)
{
  if (*g->arg) {
    mp_fake_client_error(s, a, "501 5.5.4 Syntax: RSET");
    return;
  }
  fs_reset_transaction(s->proto);
  mp_fake_answer_line(a, "250 2.0.0 Ok");
}

static void cmd_noop(struct mp_fake_session *s, struct mp_fake_args *g,
                     struct mp_fake_answer *a)
{
  mp_fake_answer_line(a, "250 2.0.0 Ok");
}

static void cmd_vrfy(struct mp_fake_session *s, struct mp_fake_args *g,
                     struct mp_fake_answer *a)
{
  if (!*g->arg)
    mp_fake_client_error(s, a, "501 5.5.4 Syntax: VRFY address");
  else /* RFC 5321 3.5.3 */
    mp_fake_answer_line(a, "252 2.0.0 Cannot VRFY user, but will accept "
                           "message and attempt delivery");
}

static void cmd_expn(struct mp_fake_session *s, struct mp_fake_args *g,
                     struct mp_fake_answer *a)
{
  mp_fake_answer_line(a, "502 5.5.1 Error: EXPN not implemented");
}

static void cmd_help(struct mp_fake_session *s, struct mp_fake_args *g,
                     struct mp_fake_answer *a)
{
  mp_fake_answer_line(a, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET "
                         "NOOP VRFY QUIT STARTTLS AUTH");
}

static void cmd_quit(struct mp_fake_session *s, struct mp_fake_args *g,
                     struct mp_fake_answer *a)
{
  mp_fake_answer_line(a, "221 2.0.0 Bye");
  a->effect = MP_FX_CLOSE;
}

static void cmd_starttls(struct mp_fake_session *s, struct mp_fake_args *g,
                         struct mp_fake_answer *a)
{
  struct smtp *m = s->proto;
  if (*g->arg) {
    mp_fake_client_error(s, a, "501 5.5.4 Syntax: STARTTLS");
  } else if (s->in_tls) {
    mp_fake_client_error(s, a, "503 5.5.1 Error: TLS already active");
  } else if (s->srv->cfg->tls != MP_FAKE_TLS_STARTTLS || !s->srv->tls_ctx) {
    mp_fake_answer_line(a, "454 4.7.0 TLS not available");
  } else if (m->in_mail) {
    mp_fake_client_error(s, a, "503 5.5.1 Error: MAIL transaction in progress");
  } else {
    /* RFC 3207 4: the go-ahead; the handshake starts once it is out. */
    mp_fake_answer_line(a, "220 2.0.0 Ready to start TLS");
    a->effect = MP_FX_STARTTLS;
  }
}

/* The commands, in the order the case format lists them. Every one is
 * valid whenever a command is (SMTP_CMD); RFC 5321 decides the order of
 * a transaction in the functions themselves (503). */
static const struct mp_fake_command commands[] = {
    {"HELO", SMTP_IN_CMD, cmd_helo, 1},
    {"EHLO", SMTP_IN_CMD, cmd_helo, 2},
    {"STARTTLS", SMTP_IN_CMD, cmd_starttls, 0},
    {"AUTH", SMTP_IN_CMD, cmd_auth, 0},
    {"MAIL", SMTP_IN_CMD, cmd_mail, 0},
    {"RCPT", SMTP_IN_CMD, cmd_rcpt, 0},
    {"DATA", SMTP_IN_CMD, fs_cmd_data, 0},
    {"RSET", SMTP_IN_CMD, cmd_rset, 0},
    {"NOOP", SMTP_IN_CMD, cmd_noop, 0},
    {"QUIT", SMTP_IN_CMD, cmd_quit, 0},
    {"VRFY", SMTP_IN_CMD, cmd_vrfy, 0},
    {"EXPN", SMTP_IN_CMD, cmd_expn, 0},
    {"HELP", SMTP_IN_CMD, cmd_help, 0},
};

static const struct mp_fake_verb_line smtp_lines = {
    .max_command = SMTP_MAX_COMMAND,
    .bad_syntax = "500 5.5.2 Error: bad syntax",
    .too_long = "500 5.5.2 Error: line too long",
    .unknown = "500 5.5.2 Error: command not recognized",
};

/* ---- the protocol table ------------------------------------------------- */

static enum mp_fake_kind smtp_classify(struct mp_fake_session *s,
                                       const char *line, size_t len,
                                       const char **verb, size_t *verb_len)
{
  switch (s->state) {
  case SMTP_AUTH:
    return MP_KIND_INPUT;
  case SMTP_DATA_HEAD:
  case SMTP_DATA_BODY:
    /* RFC 5321 4.1.1.4: a line with a single dot ends the data. */
    if (len == 1 && line[0] == '.')
      return MP_KIND_END;
    return s->state == SMTP_DATA_HEAD ? MP_KIND_HEADER : MP_KIND_BODY;
  case SMTP_CMD:
  default:
    *verb = line;
    *verb_len = strcspn(line, " ");
    return MP_KIND_COMMAND;
  }
}

static void smtp_line(struct mp_fake_session *s, char *line, size_t len,
                      enum mp_fake_kind kind, int replaced,
                      struct mp_fake_answer *a)
{
  switch (s->state) {
  case SMTP_AUTH:
    mp_fake_sasl_line(s, line, len, replaced, a);
    return;
  case SMTP_DATA_HEAD:
  case SMTP_DATA_BODY:
    fs_data_line(s, line, len, kind, replaced, a);
    return;
  case SMTP_CMD:
  default:
    if (!replaced)
      mp_fake_command_line(s, line, len, &smtp_lines, a);
    return;
  }
}

/* RFC 3207 4.2: after the handshake the server forgets what the client
 * said before, the EHLO argument and a login included. */
static void smtp_tls_started(struct mp_fake_session *s)
{
  struct smtp *m = s->proto;
  fs_reset_transaction(m);
  free(m->helo_name);
  m->helo_name = NULL;
  free(m->user);
  m->user = NULL;
  m->helo = 0;
  mp_fake_set_state(s, SMTP_CMD);
}

static void smtp_timeout(struct mp_fake_session *s, struct mp_fake_answer *a)
{
  mp_fake_answer_line(a, "421 4.4.2 %s Error: timeout exceeded",
                      mp_fake_hostname(s->srv));
}

const struct mp_fake_protocol mp_fake_smtp_proto = {
    .name = "smtp",
    .max_line = SMTP_MAX_LINE,
    .state_names = state_names,
    .commands = commands,
    .ncommands = sizeof(commands) / sizeof(*commands),
    .max_errors = SMTP_MAX_ERRORS,
    .too_many = "421 4.7.0 %s Error: too many errors",
    .closed_state = -1,
    .sasl = &smtp_sasl,
    .data_size = sizeof(struct smtp),
    .close = smtp_close,
    .greeting = smtp_greeting,
    .classify = smtp_classify,
    .line = smtp_line,
    .raw = NULL,
    .tls_started = smtp_tls_started,
    .timeout = smtp_timeout,
};
