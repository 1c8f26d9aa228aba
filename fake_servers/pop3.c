/* The fake POP3 server (RFC 1939) in nginx's shape: the session's state,
 * then a table of commands with the states they are valid in (dispatch.c
 * runs it); caps on line length, arguments and errors. It builds answers
 * and effects (session.h); the script decides when and how they go out.
 *
 * Extensions: CAPA and response codes (RFC 2449), AUTH-RESP-CODE (RFC
 * 3206), STLS (RFC 2595), AUTH (RFC 5034) through the shared SASL
 * exchange (dispatch.c), APOP (RFC 1939 7). The maildrop is the shared
 * mail store's INBOX of the user who logged in, as it stood at login (RFC
 * 1939 4); it and the TRANSACTION state's commands are pop3_drop.c. */
#include "fake_servers/pop3_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "fake_servers/mailstore.h"
#include "wire/codec.h"
#include "wire/conn.h"
#include "wire/errors.h"

#define POP3_MAX_LINE 16384 /* the conn's cap; SASL responses need it */
/* RFC 2449 4: a command line is at most 255 octets with its CRLF. */
#define POP3_MAX_COMMAND 253
#define POP3_MAX_AUTH_LINE 12288 /* an AUTH command or a SASL response */
#define POP3_MAX_ERRORS 20
/* RFC 3206 / Dovecot's words for a login before TLS on a server that
 * allows none. The text names TLS so a client can tell it from a bad
 * password. */
#define POP3_TLS_FIRST                                                         \
  "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) "   \
  "connections."

static const char *const state_names[] = {
    [POP3_AUTHORIZATION] = "authorization",
    [POP3_SASL] = "sasl",
    [POP3_TRANSACTION] = "transaction",
    [POP3_DONE] = "done",
};

static void pop3_close(struct mp_fake_session *s)
{
  struct pop3 *m = s->proto;
  free(m->user);
  free(m->login);
  free(m->msgs);
}

/* RFC 1939 4 and 7: "+OK" and, with APOP, a timestamp unique to this
 * greeting ("<process-ID.clock@hostname>"). */
static void pop3_greeting(struct mp_fake_session *s, int replaced,
                          struct mp_fake_answer *a)
{
  struct pop3 *m = s->proto;
  const char *host = mp_fake_hostname(s->srv);
  m->timestamp[0] = '\0';
  if (s->srv->cfg->apop) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(m->timestamp, sizeof(m->timestamp), "<%ld.%u.%lld%06ld@%.100s>",
             (long)getpid(), s->id, (long long)ts.tv_sec, ts.tv_nsec / 1000,
             host);
  }
  if (replaced)
    return;
  if (m->timestamp[0])
    mp_fake_answer_line(a, "+OK %s POP3 ready %s", host, m->timestamp);
  else
    mp_fake_answer_line(a, "+OK %s POP3 ready", host);
}

/* ---- CAPA (RFC 2449 5) --------------------------------------------------- */

/* 1 if cap's keyword ("SASL" of "SASL PLAIN") is in list. "AUTH" stands
 * for SASL too, so one withhold list serves SMTP and POP3. */
static int keyword_in(char *const *list, size_t n, const char *cap)
{
  if (mp_fake_keyword_in(list, n, cap, " "))
    return 1;
  return strcspn(cap, " ") == 4 && strncasecmp(cap, "SASL", 4) == 0 &&
         mp_fake_keyword_in(list, n, "AUTH", " ");
}

void fp_multi_line(struct mp_fake_answer *a, const char *line, size_t len)
{
  if (len > 0 && line[0] == '.')
    mp_fake_answer_add(a, ".", 1);
  mp_fake_answer_add(a, line, len);
  mp_fake_answer_add(a, "\r\n", 2);
}

static void capa_reply(struct mp_fake_session *s, struct mp_fake_answer *a)
{
  const struct mp_fake_config *cfg = s->srv->cfg;
  char sasl[512], saslcap[520];
  const char *caps[16 + 64];
  const char *builtin[10] = {"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE",
                             "PIPELINING"};
  size_t nb = 5;
  /* Login capabilities mean something only before login (RFC 2449 5). */
  if (s->state == POP3_AUTHORIZATION) {
    builtin[nb++] = "USER";
    mp_fake_auth_list(cfg, sasl, sizeof(sasl));
    if (sasl[0] && (!cfg->auth_requires_tls || s->in_tls)) {
      snprintf(saslcap, sizeof(saslcap), "SASL %s", sasl);
      builtin[nb++] = saslcap;
    }
    /* RFC 2595 4: STLS only while it can be used. */
    if (cfg->tls == MP_FAKE_TLS_STARTTLS && s->srv->tls_ctx && !s->in_tls)
      builtin[nb++] = "STLS";
  }
  size_t n = mp_fake_caps(cfg, builtin, nb, caps, sizeof(caps) / sizeof(*caps),
                          keyword_in);
  mp_fake_answer_line(a, "+OK Capability list follows");
  for (size_t i = 0; i < n; i++)
    fp_multi_line(a, caps[i], strlen(caps[i]));
  mp_fake_answer_line(a, ".");
}

/* ---- login: USER/PASS, APOP, AUTH ---------------------------------------- */

/* Refuses a login before TLS when the server wants TLS first (RFC 2595 4
 * lets a server refuse USER/PASS on a clear channel). 1 if refused. */
static int tls_first(struct mp_fake_session *s, struct mp_fake_answer *a)
{
  if (!s->srv->cfg->auth_requires_tls || s->in_tls)
    return 0;
  mp_fake_answer_line(a, POP3_TLS_FIRST);
  return 1;
}

static void cmd_user(struct mp_fake_session *s, struct mp_fake_args *g,
                     struct mp_fake_answer *a)
{
  struct pop3 *m = s->proto;
  const char *arg = g->arg;
  if (!*arg) {
    mp_fake_client_error(s, a, "-ERR Usage: USER name");
    return;
  }
  if (tls_first(s, a))
    return;
  /* Any name gets +OK: PASS says whether it exists (RFC 1939 13 warns
   * that telling names apart helps an attacker). */
  free(m->user);
  m->user = strdup(arg);
  if (!m->user) {
    mp_fake_answer_line(a, "-ERR [SYS/TEMP] Out of memory");
    return;
  }
  mp_fake_answer_line(a, "+OK");
}

static void cmd_pass(struct mp_fake_session *s, struct mp_fake_args *g,
                     struct mp_fake_answer *a)
{
  struct pop3 *m = s->proto;
  const char *arg = g->raw;
  if (!m->user) {
    mp_fake_client_error(s, a, "-ERR No username given");
    return;
  }
  if (tls_first(s, a))
    return;
  /* RFC 1939 7: the password is the rest of the line, spaces included. */
  const char *want = mp_fake_password(s, m->user);
  if (!want || !mp_ct_equal(want, strlen(want), arg, strlen(arg))) {
    free(m->user);
    m->user = NULL;
    mp_fake_client_error(s, a, "-ERR [AUTH] Authentication failed.");
    return;
  }
  char *user = m->user;
  m->user = NULL;
  fp_log_in(s, user, a);
  free(user);
}

/* RFC 1939 7: APOP name digest, digest = MD5(timestamp password) in
 * lower-case hex. */
static void cmd_apop(struct mp_fake_session *s, struct mp_fake_args *g,
                     struct mp_fake_answer *a)
{
  struct pop3 *m = s->proto;
  char *argv[POP3_MAX_ARGS];
  int argc = fp_split_args(g->arg, argv, POP3_MAX_ARGS);
  if (!m->timestamp[0]) {
    mp_fake_client_error(s, a, "-ERR APOP is not supported here");
    return;
  }
  if (argc != 2 || strlen(argv[1]) != 32) {
    mp_fake_client_error(s, a, "-ERR Usage: APOP name digest");
    return;
  }
  if (tls_first(s, a))
    return;
  const char *pw = mp_fake_password(s, argv[0]);
  char given[33], hex[33];
  for (int i = 0; i < 33; i++)
    given[i] =
        (char)(argv[1][i] >= 'A' && argv[1][i] <= 'F' ? argv[1][i] - 'A' + 'a'
                                                      : argv[1][i]);
  int ok = 0;
  if (pw) {
    size_t tl = strlen(m->timestamp), pl = strlen(pw);
    char *buf = malloc(tl + pl + 1);
    unsigned char md[16];
    if (buf) {
      memcpy(buf, m->timestamp, tl);
      memcpy(buf + tl, pw, pl);
      if (mp_md5(buf, tl + pl, md) == 0) {
        mp_hex(md, 16, hex);
        ok = mp_ct_equal(hex, 32, given, 32);
      }
      free(buf);
    }
  }
  if (!ok) {
    mp_fake_client_error(s, a, "-ERR [AUTH] Authentication failed.");
    return;
  }
  fp_log_in(s, argv[0], a);
}

static void pop3_logged_in(struct mp_fake_session *s, const char *user,
                           struct mp_fake_answer *a)
{
  char *copy = strdup(user ? user : "");
  if (!copy) {
    mp_fake_answer_line(a, "-ERR [SYS/TEMP] Out of memory");
    return;
  }
  fp_log_in(s, copy, a);
  free(copy);
}

/* RFC 5034 4: "+ " and the base64 challenge; "*" cancels, and the server
 * MUST answer -ERR. */
static const struct mp_fake_sasl_frame pop3_sasl = {
    .cont = "+ ",
    .exchange_state = POP3_SASL,
    .idle_state = POP3_AUTHORIZATION,
    .max_response = POP3_MAX_AUTH_LINE,
    .nul_fails = 1,
    .exact_cancel = 1,
    .unsupported = "-ERR Unsupported authentication mechanism",
    .unsupported_counts = 1,
    .cancelled = "-ERR Authentication cancelled",
    .failed = "-ERR [AUTH] Authentication failed.",
    .failed_counts = 1,
    .undecodable = "-ERR Invalid SASL response",
    .too_long = "-ERR Invalid SASL response",
    .temporary = "-ERR [SYS/TEMP] Temporary authentication failure",
    .logged_in = pop3_logged_in,
};

static void cmd_auth(struct mp_fake_session *s, struct mp_fake_args *g,
                     struct mp_fake_answer *a)
{
  struct pop3 *m = s->proto;
  const struct mp_fake_config *cfg = s->srv->cfg;
  const char *arg = g->arg;
  char list[512], mech[64];
  mp_fake_auth_list(cfg, list, sizeof(list));
  if (!*arg) {
    /* Not in RFC 5034, but older clients (RFC 1734 era) and Dovecot list
     * the mechanisms for a bare AUTH. */
    if (!list[0] || (cfg->auth_requires_tls && !s->in_tls)) {
      mp_fake_client_error(s, a, "-ERR Authentication is not available");
      return;
    }
    mp_fake_answer_line(a, "+OK");
    for (const char *p = list; *p;) {
      size_t n = strcspn(p, " ");
      fp_multi_line(a, p, n);
      p += n;
      p += strspn(p, " ");
    }
    mp_fake_answer_line(a, ".");
    return;
  }
  const char *initial;
  if (mp_fake_sasl_args(arg, mech, sizeof(mech), &initial) < 0) {
    mp_fake_client_error(s, a, "-ERR Unsupported authentication mechanism");
    return;
  }
  if (tls_first(s, a))
    return;
  /* RFC 5034 4: "=" is the empty initial response. AUTH starts over: a
   * USER given before is forgotten. */
  if (mp_fake_sasl_start(s, mech, initial, a) == 0) {
    free(m->user);
    m->user = NULL;
  }
}

/* ---- commands ------------------------------------------------------------ */

int fp_split_args(char *arg, char **argv, int max)
{
  int n = 0;
  while (*arg) {
    if (n == max)
      return -1;
    argv[n++] = arg;
    arg += strcspn(arg, " ");
    if (*arg)
      *arg++ = '\0';
    arg += strspn(arg, " ");
  }
  return n;
}

static void cmd_capa(struct mp_fake_session *s, struct mp_fake_args *g,
                     struct mp_fake_answer *a)
{
  if (*g->arg)
    mp_fake_client_error(s, a, "-ERR Usage: CAPA");
  else
    capa_reply(s, a);
}

static void cmd_stls(struct mp_fake_session *s, struct mp_fake_args *g,
                     struct mp_fake_answer *a)
{
  if (*g->arg)
    mp_fake_client_error(s, a, "-ERR Usage: STLS");
  else if (s->in_tls)
    mp_fake_client_error(s, a, "-ERR Command not permitted when TLS active");
  else if (s->srv->cfg->tls != MP_FAKE_TLS_STARTTLS || !s->srv->tls_ctx)
    mp_fake_client_error(s, a, "-ERR TLS is not available");
  else {
    /* RFC 2595 4: the go-ahead; the handshake starts once it is out. */
    mp_fake_answer_line(a, "+OK Begin TLS negotiation");
    a->effect = MP_FX_STARTTLS;
  }
}

/* The commands, in the order the case format lists them, with the states
 * they are valid in (RFC 1939 4, 5; RFC 2449 5). */
static const struct mp_fake_command commands[] = {
    {"CAPA", IN_AUTHZ | IN_TRANS, cmd_capa, 0},
    {"STLS", IN_AUTHZ, cmd_stls, 0},
    {"USER", IN_AUTHZ, cmd_user, 0},
    {"PASS", IN_AUTHZ, cmd_pass, 0},
    {"APOP", IN_AUTHZ, cmd_apop, 0},
    {"AUTH", IN_AUTHZ, cmd_auth, 0},
    {"STAT", IN_TRANS, fp_cmd_stat, 0},
    {"LIST", IN_TRANS, fp_cmd_listing, 0},
    {"RETR", IN_TRANS, fp_cmd_retr, 0},
    {"DELE", IN_TRANS, fp_cmd_dele, 0},
    {"TOP", IN_TRANS, fp_cmd_top, 0},
    {"UIDL", IN_TRANS, fp_cmd_listing, 1},
    {"NOOP", IN_TRANS, fp_cmd_noop, 0},
    {"RSET", IN_TRANS, fp_cmd_rset, 0},
    {"QUIT", IN_AUTHZ | IN_TRANS, fp_cmd_quit, 0},
};

static void pop3_not_now(struct mp_fake_session *s,
                         const struct mp_fake_command *c,
                         struct mp_fake_answer *a)
{
  mp_fake_client_error(s, a,
                       s->state == POP3_TRANSACTION
                           ? "-ERR Command not valid after login"
                           : "-ERR Command not valid before login");
}

/* RFC 1939 3: a verb, one space, its arguments (PASS keeps the rest of
 * the line as it is). */
static const struct mp_fake_verb_line pop3_lines = {
    .max_command = POP3_MAX_COMMAND,
    .bad_syntax = "-ERR Bad syntax",
    .too_long = "-ERR Line too long",
    .unknown = "-ERR Unknown command",
};

/* ---- the protocol table ------------------------------------------------- */

static enum mp_fake_kind pop3_classify(struct mp_fake_session *s,
                                       const char *line, size_t len,
                                       const char **verb, size_t *verb_len)
{
  (void)len;
  if (s->state == POP3_SASL)
    return MP_KIND_INPUT;
  *verb = line;
  *verb_len = strcspn(line, " ");
  return MP_KIND_COMMAND;
}

static void pop3_line(struct mp_fake_session *s, char *line, size_t len,
                      enum mp_fake_kind kind, int replaced,
                      struct mp_fake_answer *a)
{
  (void)kind;
  switch (s->state) {
  case POP3_SASL:
    mp_fake_sasl_line(s, line, len, replaced, a);
    return;
  case POP3_DONE:
    return; /* QUIT was answered: nothing more */
  case POP3_AUTHORIZATION:
  case POP3_TRANSACTION:
  default:
    if (!replaced)
      mp_fake_command_line(s, line, len, &pop3_lines, a);
    return;
  }
}

/* RFC 2595 4: after the handshake the server forgets what the client said
 * before; a USER given in clear does not carry over. */
static void pop3_tls_started(struct mp_fake_session *s)
{
  struct pop3 *m = s->proto;
  free(m->user);
  m->user = NULL;
  if (s->state != POP3_TRANSACTION)
    mp_fake_set_state(s, POP3_AUTHORIZATION);
}

/* RFC 1939 3: the autologout timer ends the session without entering the
 * UPDATE state, so nothing is deleted. */
static void pop3_timeout(struct mp_fake_session *s, struct mp_fake_answer *a)
{
  (void)s;
  mp_fake_answer_line(a, "-ERR Disconnected for inactivity.");
}

const struct mp_fake_protocol mp_fake_pop3_proto = {
    .name = "pop3",
    .max_line = POP3_MAX_LINE,
    .state_names = state_names,
    .commands = commands,
    .ncommands = sizeof(commands) / sizeof(*commands),
    .not_now = pop3_not_now,
    .max_errors = POP3_MAX_ERRORS,
    .too_many = "-ERR Too many bad commands, closing",
    .closed_state = POP3_DONE,
    .sasl = &pop3_sasl,
    .data_size = sizeof(struct pop3),
    .close = pop3_close,
    .greeting = pop3_greeting,
    .classify = pop3_classify,
    .line = pop3_line,
    .raw = NULL,
    .tls_started = pop3_tls_started,
    .timeout = pop3_timeout,
};
