/* The fake IMAP server: the IMAP4rev1 subset (RFC 3501, RFC 9051) that
 * real clients (curl, Python's imaplib) and our probe use, in nginx's
 * shape: the session's mode (a command, the rest of one after a literal,
 * IDLE, or a SASL response), then a table of commands with the states
 * they are valid in (dispatch.c runs it), with caps on lines, literals,
 * arguments and errors. It builds answers and effects (session.h); the
 * script decides when and how they go out. This file has the command
 * table, the simple commands, tags and literals; the login side is
 * imap_auth.c, the mailbox commands imap_mailbox.c, then imap_append.c,
 * imap_fetch.c, imap_search.c, and the argument parser imap_parse.c.
 *
 * Extensions: STARTTLS and LOGINDISABLED (RFC 2595, RFC 9051 6.2.1),
 * SASL-IR (RFC 4959), LITERAL- (RFC 7888: non-synchronizing literals
 * up to 4096 octets; we take them up to 64 KiB), UIDPLUS's UID EXPUNGE
 * and APPENDUID (RFC 4315 2.1, 3), IDLE (RFC 2177), UNSELECT (RFC 3691),
 * NAMESPACE (RFC 2342), ID (RFC 2971), ENABLE (RFC 5161), response codes
 * of RFC 5530. One mailbox, INBOX, over the shared mail store: the store's
 * message ids are the UIDs.
 *
 * APPEND (RFC 9051 6.3.12, imap_append.c) stores a message in the user's INBOX
 * with its system flags and date-time, answers OK [APPENDUID v uid], and a
 * selected INBOX hears EXISTS through fi_view_refresh, as for any new delivery.
 * Once logged in, APPEND's literals may be up to 10 MiB (the fake SMTP server's
 * 552 limit); a larger synchronizing one gets NO [TOOBIG] before it is sent, a
 * larger non-synchronizing one BAD [TOOBIG] and BYE. Other mailboxes get NO
 * [TRYCREATE], as do COPY and MOVE to them (to INBOX, the selected mailbox,
 * they are NO [CANNOT]); CREATE, DELETE and RENAME stay NO [CANNOT].
 *
 * A command with literals ("a LOGIN {5}" CRLF, then 5 bytes, then the rest
 * of the line) is put together before it runs: the lines that announce a
 * literal are classified MP_KIND_HEADER (recorded, no rules), the literal
 * bytes come through mp_conn_expect_raw, and the last line is the command
 * that rules see: its verb is the whole command's, a line glob sees only
 * that last line.
 *
 * Rules: a rule's reply lines may say {tag}, replaced with the tag of the
 * command being answered ("*" before the first command). A rule reply that
 * greets with "* PREAUTH" logs the session in as the first configured user.
 * withhold takes capability names ("STARTTLS", "AUTH" for every AUTH=,
 * "AUTH=PLAIN" for one, "SASL-IR", "IDLE", ...) and also
 * "CAPABILITY-IN-GREETING": the greeting then carries no [CAPABILITY]
 * code, so clients must ask. */
#include "fake_servers/session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "fake_servers/mailstore.h"
#include "wire/conn.h"
#include "wire/errors.h"
#include "wire/grow.h"

#include "fake_servers/imap_internal.h"

static const char *const state_names[] = {
    [IMAP_NOTAUTH] = "not-authenticated",
    [IMAP_AUTH] = "authenticated",
    [IMAP_SELECTED] = "selected",
    [IMAP_LOGOUT] = "logout",
};

/* ---- answers ------------------------------------------------------------ */

/* The tag of the command being answered, "*" before the first. */
static const char *imap_tag(const struct mp_fake_session *s)
{
  const struct imap *m = s->proto;
  return m->tag[0] ? m->tag : "*";
}

/* A tagged reply line made by fmt, a client error or not. */
static void vreply(struct mp_fake_session *s, struct mp_fake_answer *a,
                   int error, const char *fmt, va_list ap)
{
  char buf[1024];
  vsnprintf(buf, sizeof(buf), fmt, ap);
  if (error)
    mp_fake_client_error(s, a, buf);
  else
    mp_fake_reply(s, a, buf);
}

void fi_tagged(struct mp_fake_session *s, struct mp_fake_answer *a,
               const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vreply(s, a, 0, fmt, ap);
  va_end(ap);
}

/* The error cap (the protocol table) ends the session with Dovecot's
 * "Too many invalid IMAP commands" BYE after the error's own reply. */
void fi_client_error(struct mp_fake_session *s, struct mp_fake_answer *a,
                     const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vreply(s, a, 1, fmt, ap);
  va_end(ap);
}

/* A string as an IMAP quoted string, or a literal when it cannot be one
 * (RFC 9051 4.3); NULL is NIL. */
void fi_put_nstring(struct mp_fake_answer *a, const char *str, size_t len)
{
  if (!str) {
    mp_fake_answer_add(a, "NIL", 3);
    return;
  }
  int quotable = len < 1024;
  for (size_t i = 0; quotable && i < len; i++) {
    unsigned char c = (unsigned char)str[i];
    if (c == '\r' || c == '\n' || c == '\0' || c >= 0x80)
      quotable = 0;
  }
  if (!quotable) {
    char head[32];
    int n = snprintf(head, sizeof(head), "{%zu}\r\n", len);
    mp_fake_answer_add(a, head, (size_t)n);
    mp_fake_answer_add(a, str, len);
    return;
  }
  mp_fake_answer_add(a, "\"", 1);
  for (size_t i = 0; i < len; i++) {
    if (str[i] == '"' || str[i] == '\\')
      mp_fake_answer_add(a, "\\", 1);
    mp_fake_answer_add(a, str + i, 1);
  }
  mp_fake_answer_add(a, "\"", 1);
}

void fi_put_str(struct mp_fake_answer *a, const char *str)
{
  mp_fake_answer_add(a, str, strlen(str));
}

void fi_put_fmt(struct mp_fake_answer *a, const char *fmt, ...)
{
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (n > 0)
    mp_fake_answer_add(a, buf,
                       (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* ---- the simple commands ---------------------------------------------- */

static void cmd_capability(struct mp_fake_session *s, struct mp_fake_args *g,
                           struct mp_fake_answer *a)
{
  char caps[2048];
  if (!fi_at_end(g)) {
    fi_client_error(s, a,
                    "BAD Error in IMAP command CAPABILITY: Unexpected "
                    "arguments");
    return;
  }
  fi_capabilities(s, caps, sizeof(caps));
  mp_fake_answer_line(a, "* CAPABILITY %s", caps);
  fi_tagged(s, a, "OK Capability completed.");
}

/* NOOP and CHECK (RFC 9051 6.1.2; CHECK is RFC 3501 6.4.1): what
 * changed. */
static void cmd_refresh(struct mp_fake_session *s, struct mp_fake_args *g,
                        struct mp_fake_answer *a)
{
  const char *verb = g->cmd->name;
  if (!fi_at_end(g)) {
    fi_client_error(s, a, "BAD Error in IMAP command %s: Unexpected arguments",
                    verb);
    return;
  }
  if (s->state == IMAP_SELECTED)
    fi_view_refresh(s, a, 1);
  fi_tagged(s, a, "OK %s completed", verb);
}

static void cmd_logout(struct mp_fake_session *s, struct mp_fake_args *g,
                       struct mp_fake_answer *a)
{
  /* RFC 9051 6.1.3: BYE, then the fi_tagged OK, then the server closes. */
  mp_fake_answer_line(a, "* BYE Logging out");
  fi_tagged(s, a, "OK Logout completed.");
  mp_fake_set_state(s, IMAP_LOGOUT);
  a->effect = MP_FX_CLOSE;
}

static void cmd_idle(struct mp_fake_session *s, struct mp_fake_args *g,
                     struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  if (!fi_at_end(g)) {
    fi_client_error(s, a,
                    "BAD Error in IMAP command IDLE: Unexpected "
                    "arguments");
    return;
  }
  /* RFC 2177 3. */
  if (s->state == IMAP_SELECTED)
    fi_view_refresh(s, a, 1);
  mp_fake_answer_line(a, "+ idling");
  m->mode = MODE_IDLE;
}

static void idle_line(struct mp_fake_session *s, const char *line, int replaced,
                      struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  m->mode = MODE_COMMAND;
  if (replaced)
    return;
  if (strcasecmp(line, "DONE") != 0) {
    fi_client_error(s, a, "BAD Expected DONE.");
    return;
  }
  if (s->state == IMAP_SELECTED)
    fi_view_refresh(s, a, 1);
  fi_tagged(s, a, "OK Idle completed.");
}

/* A command whose answer never changes: ID (variant 0) and NAMESPACE
 * (1). */
static void cmd_canned(struct mp_fake_session *s, struct mp_fake_args *g,
                       struct mp_fake_answer *a)
{
  static const char *const answers[][2] = {
      /* RFC 2971 3.1. */
      {"* ID (\"name\" \"mailprobe-fake\")", "OK ID completed"},
      /* RFC 2342 5: one personal namespace, no others. */
      {"* NAMESPACE ((\"\" \"/\")) NIL NIL", "OK Namespace completed"},
  };
  mp_fake_answer_join(a, answers[g->cmd->variant][0], NULL);
  mp_fake_reply(s, a, answers[g->cmd->variant][1]);
}

static void cmd_enable(struct mp_fake_session *s, struct mp_fake_args *g,
                       struct mp_fake_answer *a)
{
  if (fi_at_end(g)) {
    fi_client_error(s, a,
                    "BAD Error in IMAP command ENABLE: Missing arguments");
    return;
  }
  /* RFC 5161 3.1: nothing here can be enabled. */
  mp_fake_answer_line(a, "* ENABLED");
  fi_tagged(s, a, "OK Enabled");
}

static void cmd_unsupported(struct mp_fake_session *s, struct mp_fake_args *g,
                            struct mp_fake_answer *a)
{
  fi_tagged(s, a,
            "NO [CANNOT] Not supported by this server: only INBOX exists");
}

static void cmd_uid(struct mp_fake_session *s, struct mp_fake_args *g,
                    struct mp_fake_answer *a);

/* The commands, in the order the case format lists them, with the states
 * they are valid in (RFC 9051 6). */
static const struct mp_fake_command commands[] = {
    {"CAPABILITY", S_ANY, cmd_capability, 0},
    {"NOOP", S_ANY, cmd_refresh, 0},
    {"LOGOUT", S_ANY, cmd_logout, 0},
    {"STARTTLS", S_NA, fi_cmd_starttls, 0},
    {"AUTHENTICATE", S_NA, fi_cmd_authenticate, 0},
    {"LOGIN", S_NA, fi_cmd_login, 0},
    {"ENABLE", S_AU | S_SE, cmd_enable, 0},
    {"ID", S_ANY, cmd_canned, 0},
    {"NAMESPACE", S_AU | S_SE, cmd_canned, 1},
    {"SELECT", S_AU | S_SE, fi_cmd_select, 0},
    {"EXAMINE", S_AU | S_SE, fi_cmd_select, 1},
    {"CREATE", S_AU | S_SE, cmd_unsupported, 0},
    {"DELETE", S_AU | S_SE, cmd_unsupported, 0},
    {"RENAME", S_AU | S_SE, cmd_unsupported, 0},
    {"SUBSCRIBE", S_AU | S_SE, cmd_unsupported, 0},
    {"UNSUBSCRIBE", S_AU | S_SE, cmd_unsupported, 0},
    {"LIST", S_AU | S_SE, fi_cmd_list, 0},
    {"LSUB", S_AU | S_SE, fi_cmd_list, 0},
    {"STATUS", S_AU | S_SE, fi_cmd_status, 0},
    {"APPEND", S_AU | S_SE, fi_cmd_append, 0},
    {"CHECK", S_SE, cmd_refresh, 0},
    {"CLOSE", S_SE, fi_cmd_close, 0},
    {"UNSELECT", S_SE, fi_cmd_close, 1},
    {"EXPUNGE", S_SE, fi_cmd_expunge, 0},
    {"SEARCH", S_SE, fi_cmd_search, 0},
    {"FETCH", S_SE, fi_cmd_fetch, 0},
    {"STORE", S_SE, fi_cmd_store, 0},
    {"COPY", S_SE, fi_cmd_copy, 0},
    {"MOVE", S_SE, fi_cmd_move, 0},
    {"UID", S_SE, cmd_uid, 0},
    {"IDLE", S_AU | S_SE, cmd_idle, 0},
};

/* RFC 9051 6.4.9: what UID may run. */
static const struct mp_fake_command uid_commands[] = {
    {"FETCH", S_SE, fi_cmd_fetch, 0}, {"SEARCH", S_SE, fi_cmd_search, 0},
    {"STORE", S_SE, fi_cmd_store, 0}, {"EXPUNGE", S_SE, fi_cmd_expunge, 0},
    {"COPY", S_SE, fi_cmd_copy, 0},   {"MOVE", S_SE, fi_cmd_move, 0},
};

/* RFC 9051 6.4.9: UID COPY, MOVE, FETCH, SEARCH, STORE, EXPUNGE. */
static void cmd_uid(struct mp_fake_session *s, struct mp_fake_args *g,
                    struct mp_fake_answer *a)
{
  char sub[16];
  if (fi_arg_sp(g) < 0 || fi_arg_atom(g, sub, sizeof(sub), 0, NULL) < 0) {
    fi_client_error(s, a, "BAD Error in IMAP command UID: Missing command");
    return;
  }
  const struct mp_fake_command *c = mp_fake_command_find(
      uid_commands, sizeof(uid_commands) / sizeof(*uid_commands), sub,
      strlen(sub));
  if (!c) {
    fi_client_error(s, a, "BAD Error in IMAP command UID: Unknown command %s",
                    sub);
    return;
  }
  g->uid = 1;
  c->fn(s, g, a);
}

/* ---- commands ------------------------------------------------------- */

#define IMAP_MAX_VERB 64

/* The tag (RFC 9051 9: tag = 1*<any ASTRING-CHAR except "+">) and the
 * verb's extent; -1 when there is no valid tag. */
static int split_tag(const char *text, size_t len, size_t *tag_len,
                     const char **verb, size_t *verb_len)
{
  size_t t = 0;
  /* A tag past IMAP_MAX_TAG is refused: no need to read all of it. */
  while (t < len && t <= IMAP_MAX_TAG &&
         fi_atom_char((unsigned char)text[t], 1) && text[t] != '+')
    t++;
  if (t == 0 || t > IMAP_MAX_TAG || (t < len && text[t] != ' '))
    return -1;
  *tag_len = t;
  *verb = text + (t < len ? t + 1 : t);
  /* A verb is read to one byte past IMAP_MAX_VERB: no command is that
   * long, the error quotes 64 bytes of it and a script matches 63. */
  size_t v = 0, vmax = (size_t)(text + len - *verb);
  if (vmax > IMAP_MAX_VERB + 1)
    vmax = IMAP_MAX_VERB + 1;
  while (v < vmax && fi_atom_char((unsigned char)(*verb)[v], 0))
    v++;
  *verb_len = v;
  return 0;
}

/* Runs a whole command: text with literal markers and the literals. */
static void run_command(struct mp_fake_session *s, const char *text, size_t len,
                        struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  size_t tl, vl;
  const char *verb;
  if (split_tag(text, len, &tl, &verb, &vl) < 0) {
    m->tag[0] = '\0';
    fi_client_error(s, a, "BAD Error in IMAP command received by server.");
    return;
  }
  memcpy(m->tag, text, tl);
  m->tag[tl] = '\0';
  if (vl == 0) {
    fi_client_error(s, a, "BAD Error in IMAP command: Missing command.");
    return;
  }
  const struct mp_fake_command *c = mp_fake_command_find(
      commands, sizeof(commands) / sizeof(*commands), verb, vl);
  if (!c) {
    fi_client_error(s, a, "BAD Error in IMAP command %.*s: Unknown command.",
                    (int)(vl > 64 ? 64 : vl), verb);
    return;
  }
  struct mp_fake_args g = {
      .p = verb + vl, .end = text + len, .lits = m->lits, .nlits = m->nlits};
  mp_fake_dispatch(s, c, &g, a);
}

/* A command not valid in the session's state; after LOGOUT nothing is
 * answered. */
static void imap_not_now(struct mp_fake_session *s,
                         const struct mp_fake_command *c,
                         struct mp_fake_answer *a)
{
  if (s->state == IMAP_LOGOUT)
    return;
  if (s->state == IMAP_NOTAUTH)
    fi_client_error(s, a, "NO [CLIENTBUG] %s needs a login first.", c->name);
  else if (c->states == S_NA)
    fi_client_error(s, a, "NO [CLIENTBUG] %s is not valid: already logged in.",
                    c->name);
  else
    fi_client_error(s, a, "NO [CLIENTBUG] %s needs a selected mailbox.",
                    c->name);
}

/* ---- putting commands together around literals ---------------------- */

/* A literal announced at the end of a line (RFC 9051 4.3, RFC 7888):
 * 1 with its size and whether it is synchronizing, else 0. A size past
 * 2^63 counts as huge. */
static int line_literal(const char *line, size_t len, uint64_t *size, int *sync)
{
  if (len < 3 || line[len - 1] != '}')
    return 0;
  size_t end = len - 1;
  int plus = line[end - 1] == '+';
  if (plus)
    end--;
  size_t i = end;
  while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9')
    i--;
  if (i == end || i == 0 || line[i - 1] != '{')
    return 0;
  uint64_t n = 0;
  for (size_t k = i; k < end; k++)
    n = n > UINT64_MAX / 20 ? UINT64_MAX / 2
                            : n * 10 + (uint64_t)(line[k] - '0');
  *size = n;
  *sync = !plus;
  return 1;
}

static void cmd_reset(struct imap *m)
{
  free(m->text);
  m->text = NULL;
  m->text_len = m->text_cap = 0;
  for (size_t i = 0; i < m->nlits; i++)
    free(m->lits[i].buf);
  memset(m->lits, 0, sizeof(m->lits));
  m->nlits = 0;
  m->total = 0;
  m->append = 0;
  if (m->mode == MODE_LITERAL)
    m->mode = MODE_COMMAND;
}

static int text_append(struct imap *m, const char *buf, size_t len)
{
  if (m->text_len + len + 1 > m->text_cap &&
      mp_grow(&m->text, &m->text_cap, m->text_len + len + 1, 256) < 0)
    return -1;
  memcpy(m->text + m->text_len, buf, len);
  m->text_len += len;
  m->text[m->text_len] = '\0';
  m->total += len;
  return 0;
}

/* Takes the tag of a command's first line, for answers before it runs. */
static void take_tag(struct imap *m, const char *line, size_t len)
{
  size_t tl, vl;
  const char *verb;
  if (split_tag(line, len, &tl, &verb, &vl) < 0) {
    m->tag[0] = '\0';
    return;
  }
  memcpy(m->tag, line, tl);
  m->tag[tl] = '\0';
}

/* Is the command on this first line APPEND? Its message literal may be
 * as large as a message the fake SMTP server takes (IMAP_MAX_APPEND);
 * every other command keeps IMAP_MAX_LITERAL. */
static int is_append(const char *line, size_t len)
{
  size_t tl, vl;
  const char *verb;
  return split_tag(line, len, &tl, &verb, &vl) == 0 && vl == 6 &&
         strncasecmp(verb, "APPEND", 6) == 0;
}

/* The most a whole command may hold, literals included. */
static size_t command_cap(const struct imap *m)
{
  return m->append ? IMAP_MAX_COMMAND + IMAP_MAX_APPEND : IMAP_MAX_COMMAND;
}

/* A line that ends in a literal announcement. */
static void literal_line(struct mp_fake_session *s, const char *line,
                         size_t len, struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  uint64_t size = 0;
  int sync = 1;
  line_literal(line, len, &size, &sync);
  if (m->mode == MODE_COMMAND) {
    cmd_reset(m);
    take_tag(m, line, len);
    /* Not before a login: that command fails anyway. */
    m->append = s->state != IMAP_NOTAUTH && is_append(line, len);
  }
  int too_big = size > (m->append ? IMAP_MAX_APPEND : IMAP_MAX_LITERAL) ||
                m->nlits == IMAP_MAX_LITERALS || len > IMAP_MAX_CMD_LINE ||
                m->total + len + size > command_cap(m);
  if (too_big && !sync) {
    /* RFC 7888 4 (LITERAL-): a non-synchronizing literal past what we
     * take is the client's error, BAD; the bytes are coming whatever we
     * say and we will not read them, so the session ends. */
    fi_tagged(s, a, "BAD [TOOBIG] Literal too big.");
    mp_fake_answer_line(a, "* BYE [TOOBIG] Literal too big.");
    a->effect = MP_FX_CLOSE;
    mp_fake_set_state(s, IMAP_LOGOUT);
    cmd_reset(m);
    return;
  }
  if (too_big) {
    /* RFC 9051 7.1: a synchronizing literal may be refused; the client
     * then sends nothing more of the command. */
    cmd_reset(m);
    fi_client_error(s, a, "NO [TOOBIG] Literal too big.");
    return;
  }
  if (text_append(m, line, len) < 0) {
    cmd_reset(m);
    a->oom = 1;
    return;
  }
  struct mp_fake_literal *l = &m->lits[m->nlits++];
  l->want = (size_t)size;
  l->len = 0;
  l->buf = malloc(l->want + 1);
  if (!l->buf) {
    cmd_reset(m);
    a->oom = 1;
    return;
  }
  l->buf[0] = '\0';
  m->total += l->want;
  m->mode = MODE_LITERAL;
  if (size > 0)
    mp_conn_expect_raw(s->conn, size);
  if (sync)
    mp_fake_answer_line(a, "+ Ready for literal data");
}

static void imap_raw(struct mp_fake_session *s, const char *buf, size_t len,
                     int last)
{
  struct imap *m = s->proto;
  if (m->mode != MODE_LITERAL || m->nlits == 0)
    return;
  struct mp_fake_literal *l = &m->lits[m->nlits - 1];
  size_t n = len < l->want - l->len ? len : l->want - l->len;
  memcpy(l->buf + l->len, buf, n);
  l->len += n;
  l->buf[l->len] = '\0';
}

/* ---- the protocol table --------------------------------------------- */

static void imap_close(struct mp_fake_session *s)
{
  struct imap *m = s->proto;
  cmd_reset(m);
  fi_view_clear(m);
  free(m->user);
}

static void imap_greeting(struct mp_fake_session *s, int replaced,
                          struct mp_fake_answer *a)
{
  const struct mp_fake_config *cfg = s->srv->cfg;
  if (replaced)
    return;
  /* RFC 9051 7.1.1: capabilities in the greeting save a round trip. */
  if (mp_fake_in_list(cfg->withhold, cfg->nwithhold,
                      "CAPABILITY-IN-GREETING")) {
    mp_fake_answer_line(a, "* OK %s IMAP ready", mp_fake_hostname(s->srv));
    return;
  }
  char caps[2048];
  fi_capabilities(s, caps, sizeof(caps));
  mp_fake_answer_line(a, "* OK [CAPABILITY %s] %s IMAP ready", caps,
                      mp_fake_hostname(s->srv));
}

static enum mp_fake_kind imap_classify(struct mp_fake_session *s,
                                       const char *line, size_t len,
                                       const char **verb, size_t *verb_len)
{
  struct imap *m = s->proto;
  uint64_t size;
  int sync;
  if (s->sasl)
    return MP_KIND_INPUT; /* a SASL response */
  switch (m->mode) {
  case MODE_IDLE:
    return MP_KIND_INPUT;
  case MODE_LITERAL:
  case MODE_COMMAND:
  default:
    break;
  }
  /* A line that announces a literal is not the whole command yet. */
  if (line_literal(line, len, &size, &sync))
    return MP_KIND_HEADER;
  const char *text = m->mode == MODE_LITERAL ? m->text : line;
  size_t text_len = m->mode == MODE_LITERAL ? m->text_len : len;
  size_t tl;
  if (split_tag(text, text_len, &tl, verb, verb_len) < 0) {
    *verb = text;
    *verb_len = 0;
  }
  return MP_KIND_COMMAND;
}

static void imap_line(struct mp_fake_session *s, char *line, size_t len,
                      enum mp_fake_kind kind, int replaced,
                      struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  if (s->sasl) {
    mp_fake_sasl_line(s, line, len, replaced, a);
    return;
  }
  if (m->mode == MODE_IDLE) {
    idle_line(s, line, replaced, a);
    return;
  }
  m->commands++;
  if (kind == MP_KIND_HEADER) {
    literal_line(s, line, len, a);
    return;
  }
  const char *text = line;
  size_t text_len = len;
  if (m->mode == MODE_LITERAL) {
    if (len > IMAP_MAX_CMD_LINE || m->total + len > command_cap(m) ||
        text_append(m, line, len) < 0) {
      cmd_reset(m);
      fi_client_error(s, a, "BAD [TOOBIG] Command too long.");
      return;
    }
    text = m->text;
    text_len = m->text_len;
    m->mode = MODE_COMMAND;
  } else {
    take_tag(m, line, len);
  }
  if (!replaced) {
    if (len > IMAP_MAX_CMD_LINE)
      fi_client_error(s, a, "BAD [TOOBIG] Command line too long.");
    else if (memchr(line, '\0', len))
      fi_client_error(s, a, "BAD Error in IMAP command received by server.");
    else
      run_command(s, text, text_len, a);
  }
  cmd_reset(m);
}

/* RFC 2595 3.1, RFC 9051 6.2.1: after the handshake nothing said before
 * counts. */
static void imap_tls_started(struct mp_fake_session *s)
{
  struct imap *m = s->proto;
  cmd_reset(m);
  fi_view_clear(m);
  free(m->user);
  m->user = NULL;
  m->mode = MODE_COMMAND;
  mp_fake_set_state(s, IMAP_NOTAUTH);
}

static void imap_timeout(struct mp_fake_session *s, struct mp_fake_answer *a)
{
  mp_fake_answer_line(a, "* BYE Disconnected for inactivity.");
}

/* A rule's reply line: {tag} becomes the tag of the command answered; a
 * "* PREAUTH" greeting logs the session in (RFC 9051 7.1.4) as the first
 * configured user (or the first seeded mailbox's). */
static void imap_rule_line(struct mp_fake_session *s, const char *line,
                           struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  const struct mp_fake_config *cfg = s->srv->cfg;
  if (m->commands == 0 && s->state == IMAP_NOTAUTH &&
      strncasecmp(line, "* PREAUTH", 9) == 0 &&
      (line[9] == ' ' || line[9] == '\0')) {
    const char *user = cfg->nusers       ? cfg->users[0].name
                       : cfg->nmailboxes ? cfg->mailboxes[0].user
                                         : NULL;
    fi_logged_in(s, user);
  }
  const char *tag = m->tag[0] ? m->tag : "*";
  size_t tl = strlen(tag);
  struct mp_fake_answer out = {0};
  const char *p = line;
  for (;;) {
    const char *hit = strstr(p, "{tag}");
    if (!hit) {
      mp_fake_answer_add(&out, p, strlen(p));
      break;
    }
    mp_fake_answer_add(&out, p, (size_t)(hit - p));
    mp_fake_answer_add(&out, tag, tl);
    p = hit + 5;
  }
  mp_fake_answer_line(a, "%s", out.buf ? out.buf : "");
  if (out.oom)
    a->oom = 1;
  mp_fake_answer_free(&out);
}

const struct mp_fake_protocol mp_fake_imap_proto = {
    .name = "imap",
    .max_line = IMAP_MAX_LINE,
    .state_names = state_names,
    .commands = commands,
    .ncommands = sizeof(commands) / sizeof(*commands),
    .not_now = imap_not_now,
    .max_errors = IMAP_MAX_ERRORS,
    .too_many = "* BYE Too many invalid IMAP commands.",
    .too_many_after = 1,
    .closed_state = IMAP_LOGOUT,
    .tag = imap_tag,
    .sasl = &fi_sasl,
    .data_size = sizeof(struct imap),
    .close = imap_close,
    .greeting = imap_greeting,
    .classify = imap_classify,
    .line = imap_line,
    .raw = imap_raw,
    .tls_started = imap_tls_started,
    .timeout = imap_timeout,
    .rule_line = imap_rule_line,
};
