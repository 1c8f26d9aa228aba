/* The IMAP probe (RFC 9051 and RFC 3501; STARTTLS RFC 2595; SASL-IR
 * RFC 4959): greeting (OK, PREAUTH or BYE), CAPABILITY (or the greeting's
 * [CAPABILITY] code), STARTTLS and CAPABILITY again, AUTHENTICATE or LOGIN
 * (not when LOGINDISABLED), EXAMINE INBOX for the message count (SELECT
 * in a round trip, which deletes), LOGOUT.
 * Tagged and untagged responses, continuations and literals are read with
 * hard limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "probes/names.h"
#include "probes/session.h"
#include "wire/conn.h"
#include "wire/errors.h"
#include "wire/sasl.h"

enum imap_state {
  IMAP_GREETING = 0,
  IMAP_CAPABILITY,
  IMAP_STARTTLS,
  IMAP_AUTHENTICATE,
  IMAP_LOGIN,
  IMAP_SELECT,
  IMAP_SEARCH,
  IMAP_FETCH,
  IMAP_STORE,
  IMAP_EXPUNGE,
  IMAP_LOGOUT,
  IMAP_STATE_COUNT
};

static const char *const imap_state_names[IMAP_STATE_COUNT] = {
    "GREETING", "CAPABILITY", "STARTTLS", "AUTHENTICATE", "LOGIN", "SELECT",
    "SEARCH",   "FETCH",      "STORE",    "EXPUNGE",      "LOGOUT"};

static const enum mp_phase imap_phase[IMAP_STATE_COUNT] = {
    [IMAP_GREETING] = MP_PHASE_BANNER,   [IMAP_CAPABILITY] = MP_PHASE_EHLO,
    [IMAP_STARTTLS] = MP_PHASE_STARTTLS, [IMAP_AUTHENTICATE] = MP_PHASE_AUTH,
    [IMAP_LOGIN] = MP_PHASE_AUTH,        [IMAP_SELECT] = MP_PHASE_FETCH,
    [IMAP_SEARCH] = MP_PHASE_FETCH,      [IMAP_FETCH] = MP_PHASE_FETCH,
    [IMAP_STORE] = MP_PHASE_DELETE,      [IMAP_EXPUNGE] = MP_PHASE_DELETE,
    [IMAP_LOGOUT] = MP_PHASE_QUIT,
};

/* reply_code values for IMAP results (probes/result.h). */
enum { IMAP_OK = 1, IMAP_NO = 2, IMAP_BAD = 3, IMAP_BYE = 4 };

#define IMAP_MAX_LITERAL (1u << 20) /* a probe reads no big literal */
#define IMAP_MAX_UNTAGGED 10000     /* untagged lines per command */
#define IMAP_MAX_MATCHES 64
#define IMAP_MAX_HEADER 4096 /* the token header we fetch */

struct imap {
  enum imap_state st;
  unsigned tag;
  char tagbuf[16];
  int caps_known;
  int starttls;
  int logindisabled;
  int sasl_ir;
  unsigned sasl_offered;
  int preauth;
  int in_literal; /* the next line continues a response */
  unsigned untagged;
  int uidplus;
  /* the round trip's search */
  unsigned long uids[IMAP_MAX_MATCHES]; /* SEARCH results */
  size_t nuids;
  unsigned long mine[IMAP_MAX_MATCHES]; /* confirmed ours by FETCH */
  size_t nmine;
  unsigned long cur_uid; /* the FETCH response being read */
  char hdr[IMAP_MAX_HEADER];
  size_t hdr_len;
};

static void imap_set(struct mp_probe *p, enum imap_state st)
{
  struct imap *s = p->state;
  mp_session_move(p, imap_state_names[s->st], imap_state_names[st],
                  imap_phase[st]);
  s->st = st;
}

static void imap_start(struct mp_probe *p)
{
  struct imap *s = p->state;
  s->st = IMAP_GREETING;
}

/* Sets the next state and sends "<tag> <command>" with a fresh tag. */
static void send_cmd(struct mp_probe *p, enum imap_state st, const char *cmd)
{
  struct imap *s = p->state;
  char line[1200];
  snprintf(s->tagbuf, sizeof(s->tagbuf), "A%u", ++s->tag);
  snprintf(line, sizeof(line), "%s %s", s->tagbuf, cmd);
  s->untagged = 0;
  imap_set(p, st);
  mp_session_send(p, line);
}

/* Reads a capability list (RFC 9051 7.2.2): atoms separated by spaces. */
static void parse_caps(struct imap *s, const char *list)
{
  s->caps_known = 1;
  s->starttls = s->logindisabled = s->sasl_ir = s->uidplus = 0;
  s->sasl_offered = 0;
  const char *t = list;
  while (*t) {
    while (*t == ' ')
      t++;
    size_t n = strcspn(t, " ]");
    if (mp_word_is(t, n, "STARTTLS"))
      s->starttls = 1;
    else if (mp_word_is(t, n, "LOGINDISABLED"))
      s->logindisabled = 1;
    else if (mp_word_is(t, n, "SASL-IR"))
      s->sasl_ir = 1;
    else if (mp_word_is(t, n, "UIDPLUS"))
      s->uidplus = 1;
    else if (n > 5 && strncasecmp(t, "AUTH=", 5) == 0) {
      char mech[64];
      snprintf(mech, sizeof(mech), "%.*s", (int)(n - 5), t + 5);
      int m = mp_sasl_from_name(mech);
      if (m >= 0)
        s->sasl_offered |= MP_SASL_BIT(m);
    }
    if (t[n] == ']' || !t[n])
      break;
    t += n;
  }
}

/* Takes "[CODE rest]" at the start of text: the code into the result, and
 * a CAPABILITY code into the state. */
static void resp_code(struct mp_probe *p, const char *text)
{
  struct imap *s = p->state;
  free(p->r->resp_code);
  p->r->resp_code = NULL;
  if (text[0] != '[')
    return;
  size_t n = strcspn(text + 1, " ]");
  if (n == 0 || n > 63)
    return;
  p->r->resp_code = strndup(text + 1, n);
  if (mp_word_is(text + 1, n, "CAPABILITY"))
    parse_caps(s, text + 11);
}

static int code_is(const struct mp_probe *p, const char *code)
{
  return p->r->resp_code && strcasecmp(p->r->resp_code, code) == 0;
}

static void send_logout(struct mp_probe *p)
{
  mp_session_quit_deadline(p);
  send_cmd(p, IMAP_LOGOUT, "LOGOUT");
}

/* Opens INBOX for the message count. A check uses EXAMINE, read-only
 * (RFC 9051 6.3.3): it must change nothing, not even \Recent (RFC 3501
 * 6.3.2). A round trip deletes its message, and needs SELECT. */
static void send_open(struct mp_probe *p)
{
  if (p->o.find_token)
    send_cmd(p, IMAP_SELECT, "SELECT INBOX");
  else
    send_cmd(p, IMAP_SELECT, "EXAMINE INBOX");
}

/* RFC 9051 6.1.3, with a fresh tag. Not after BYE: the server is
 * closing (those paths fail without a goodbye). */
static void imap_goodbye(struct mp_probe *p, char *line, size_t cap)
{
  struct imap *s = p->state;
  snprintf(line, cap, "A%u LOGOUT", ++s->tag);
}

static void send_next_login(struct mp_probe *p);

static void after_caps(struct mp_probe *p)
{
  struct imap *s = p->state;
  /* Capabilities from the greeting's code: what follows is decided in the
   * capabilities phase all the same (as after SMTP's EHLO). */
  if (p->phase == MP_PHASE_BANNER)
    mp_session_phase(p, MP_PHASE_EHLO);
  if (!p->in_tls && p->o.tls == MP_TLSMODE_STARTTLS &&
      (!s->starttls || s->preauth)) {
    mp_session_fail_quit(p, MP_E_STARTTLS_UNSUPPORTED, "%s",
                         s->preauth ? "PREAUTH: STARTTLS is no longer possible"
                                    : "the server does not offer STARTTLS");
    return;
  }
  if (!p->in_tls && s->starttls && !s->preauth &&
      (p->o.tls == MP_TLSMODE_STARTTLS || p->o.tls == MP_TLSMODE_AUTO)) {
    send_cmd(p, IMAP_STARTTLS, "STARTTLS");
  } else if (s->preauth) {
    send_open(p);
  } else if (p->o.user) {
    send_next_login(p);
  } else {
    send_logout(p);
  }
}

/* Quotes a string for IMAP (RFC 9051 4.3): NULL if it cannot be quoted. */
static char *quote(const char *in)
{
  size_t n = strlen(in);
  char *out = malloc(2 * n + 3), *o = out;
  if (!out)
    return NULL;
  *o++ = '"';
  for (const char *c = in; *c; c++) {
    if (*c == '\r' || *c == '\n') {
      free(out);
      return NULL;
    }
    if (*c == '"' || *c == '\\')
      *o++ = '\\';
    *o++ = *c;
  }
  *o++ = '"';
  *o = '\0';
  return out;
}

static void send_login(struct mp_probe *p)
{
  char *u = quote(p->o.user), *w = quote(p->o.password ? p->o.password : "");
  if (!u || !w) {
    free(u);
    free(w);
    mp_session_fail(p, MP_E_AUTH_UNSUPPORTED,
                    "the user name or password cannot be sent with LOGIN");
    return;
  }
  char cmd[1100];
  snprintf(cmd, sizeof(cmd), "LOGIN %s %s", u, w);
  free(u);
  free(w);
  send_cmd(p, IMAP_LOGIN, cmd);
}

static void send_authenticate(struct mp_probe *p, int mech)
{
  struct imap *s = p->state;
  /* RFC 4959 3: the initial response on the command line only with
   * SASL-IR; RFC 9051 allows long lines, but keep ours modest: room for
   * an XOAUTH2 message with a Microsoft token (about 2-3 KB of base64). */
  const struct mp_sasl_frame frame = {"AUTHENTICATE", s->sasl_ir ? 6000 : 0};
  char cmd[6100];
  if (mp_login_sasl_begin(p, &frame, mech, cmd, sizeof(cmd)) < 0)
    return;
  send_cmd(p, IMAP_AUTHENTICATE, cmd);
}

/* Logs in with the strongest method left, or gives up with the error
 * that says why (probes/login.c). */
static void send_next_login(struct mp_probe *p)
{
  struct imap *s = p->state;
  struct mp_login *l = &p->login;
  l->offered = s->sasl_offered;
  if (!s->logindisabled)
    l->offered |= MP_LOGIN_BIT(MP_LOGIN_CMD);
  l->announced = 1;
  /* RFC 9051 6.2.3: LOGINDISABLED until TLS. */
  l->tls_hint = s->starttls || s->logindisabled;
  int m = mp_login_next(p, &mp_login_method_rules);
  if (m == MP_LOGIN_CMD)
    send_login(p);
  else if (m >= 0)
    send_authenticate(p, m);
}

/* "+ base64" during AUTHENTICATE (RFC 9051 6.2.2). */
static void on_continue(struct mp_probe *p, const char *line)
{
  struct imap *s = p->state;
  if (s->st != IMAP_AUTHENTICATE) {
    mp_session_fail(p, MP_E_PROTOCOL_ERROR,
                    "a continuation request nobody asked for");
    return;
  }
  mp_login_sasl_answer(p, line[1] == ' ' ? line + 2 : line + 1);
}

/* "1,5,9" from a list of UIDs into buf. */
static void uid_set(const unsigned long *uids, size_t n, char *buf, size_t cap)
{
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < n && used + 24 < cap; i++)
    used += (size_t)snprintf(buf + used, cap - used, "%s%lu", i ? "," : "",
                             uids[i]);
}

/* Quotes the token for a SEARCH key; tokens are ours: no quote or
 * backslash in them, but be safe. */
static void send_search(struct mp_probe *p)
{
  char cmd[700];
  char *q = quote(p->o.find_token);
  if (!q) {
    mp_session_fail(p, MP_E_PROTOCOL_ERROR, "a token IMAP cannot quote");
    return;
  }
  /* RFC 9051 6.4.4: HEADER matches a substring of the field; FETCH below
   * confirms the prefix before anything is deleted. */
  snprintf(cmd, sizeof(cmd), "UID SEARCH HEADER X-Mailprobe-Token %s", q);
  free(q);
  send_cmd(p, IMAP_SEARCH, cmd);
}

/* After the search, the fetch, the store, the expunge: the next step. */
static void search_next(struct mp_probe *p)
{
  struct imap *s = p->state;
  char set[IMAP_MAX_MATCHES * 21 + 1], cmd[IMAP_MAX_MATCHES * 21 + 100];
  switch (s->st) {
  case IMAP_SEARCH:
    if (s->nuids == 0)
      break;
    uid_set(s->uids, s->nuids, set, sizeof(set));
    snprintf(cmd, sizeof(cmd),
             "UID FETCH %s (UID BODY.PEEK[HEADER.FIELDS (X-Mailprobe-Token)])",
             set);
    send_cmd(p, IMAP_FETCH, cmd);
    return;
  case IMAP_FETCH:
    p->r->found = (int64_t)s->nmine;
    if (s->nmine == 0 || p->o.no_delete)
      break;
    uid_set(s->mine, s->nmine, set, sizeof(set));
    snprintf(cmd, sizeof(cmd), "UID STORE %s +FLAGS.SILENT (\\Deleted)", set);
    send_cmd(p, IMAP_STORE, cmd);
    return;
  case IMAP_STORE:
    /* RFC 4315 2.1: UID EXPUNGE touches only our messages; plain EXPUNGE
     * also removes what others marked \Deleted. */
    uid_set(s->mine, s->nmine, set, sizeof(set));
    if (s->uidplus)
      snprintf(cmd, sizeof(cmd), "UID EXPUNGE %s", set);
    else
      snprintf(cmd, sizeof(cmd), "EXPUNGE");
    send_cmd(p, IMAP_EXPUNGE, cmd);
    return;
  case IMAP_EXPUNGE:
    p->r->deleted = (int64_t)s->nmine;
    break;
  default:
    break;
  }
  if (p->r->found < 0)
    p->r->found = 0;
  send_logout(p);
}

/* A piece of a FETCH response: the UID item, and the header literal. */
static void fetch_segment(struct imap *s, const char *seg)
{
  const char *u = strcasestr(seg, "UID ");
  if (u && (u == seg || u[-1] == ' ' || u[-1] == '('))
    s->cur_uid = strtoul(u + 4, NULL, 10);
}

/* The end of one FETCH response: is the message one of ours? */
static void fetch_done(struct mp_probe *p)
{
  struct imap *s = p->state;
  static const char name[] = "X-Mailprobe-Token:";
  s->hdr[s->hdr_len] = '\0';
  const char *h = s->hdr;
  int ours = 0;
  while (h && *h) {
    if (strncasecmp(h, name, sizeof(name) - 1) == 0) {
      const char *v = h + sizeof(name) - 1;
      while (*v == ' ' || *v == '\t')
        v++;
      size_t vl = strcspn(v, "\r\n");
      size_t tl = strlen(p->o.find_token);
      int keep = p->o.keep_token && strlen(p->o.keep_token) == vl &&
                 strncmp(v, p->o.keep_token, vl) == 0;
      if (vl >= tl && strncmp(v, p->o.find_token, tl) == 0 && !keep)
        ours = 1;
    }
    h = strchr(h, '\n');
    if (h)
      h++;
  }
  if (ours && s->cur_uid && s->nmine < IMAP_MAX_MATCHES)
    s->mine[s->nmine++] = s->cur_uid;
  s->cur_uid = 0;
  s->hdr_len = 0;
}

/* ---- one handler per state: the tagged answer to its command ------- */

/* AUTHENTICATE and LOGIN: logged in, or this method failed. */
static void on_login(struct mp_probe *p)
{
  int st = p->r->reply_code;
  if (st == IMAP_OK) {
    if (mp_login_accepted(p) == 0)
      send_open(p);
    return;
  }
  if (mp_login_refused(p) < 0)
    return;
  /* RFC 5530 response codes say why. */
  if (code_is(p, "UNAVAILABLE")) {
    mp_session_fail_quit(p, MP_E_REJECTED,
                         "the server cannot log anyone in now [UNAVAILABLE]");
    return;
  }
  if (code_is(p, "PRIVACYREQUIRED")) {
    p->login.tls_asked = 1;
  } else if (st == IMAP_NO && !code_is(p, "CANNOT") &&
             (code_is(p, "AUTHENTICATIONFAILED") ||
              p->login.method == MP_LOGIN_CMD)) {
    /* RFC 5530 3: [AUTHENTICATIONFAILED] refuses the credentials, as NO
     * to LOGIN does (RFC 9051 6.2.3, RFC 3501 6.2.3); [CANNOT] or a bare
     * NO to AUTHENTICATE may be the mechanism's, so the next is tried. */
    mp_login_refused_for_good(p);
    return;
  } else if (st == IMAP_NO) {
    p->login.refused = 1;
  }
  send_next_login(p);
}

static void on_select(struct mp_probe *p)
{
  if (p->o.find_token)
    send_search(p);
  else
    send_logout(p);
}

/* Each state's handler (the reply is in p->r), and what an answer other
 * than OK means: the error (0: the handler decides) and its sentence; a
 * session still in step says LOGOUT first. A refusal in the delete phase
 * comes with a warning: the test message was found. */
static const struct {
  void (*on_tagged)(struct mp_probe *p);
  int fail;
  int quit;
  const char *refused;
} on_state[IMAP_STATE_COUNT] = {
    [IMAP_CAPABILITY] = {after_caps, MP_E_PROTOCOL_ERROR, 0,
                         "CAPABILITY was refused"},
    [IMAP_STARTTLS] = {mp_session_starttls, MP_E_STARTTLS_REJECTED, 1,
                       "STARTTLS was refused"},
    [IMAP_AUTHENTICATE] = {on_login, 0, 0, NULL},
    [IMAP_LOGIN] = {on_login, 0, 0, NULL},
    [IMAP_SELECT] = {on_select, MP_E_MAILBOX_ERROR, 1,
                     "opening INBOX was refused"},
    [IMAP_SEARCH] = {search_next, MP_E_MAILBOX_ERROR, 1,
                     "UID SEARCH was refused"},
    [IMAP_FETCH] = {search_next, MP_E_MAILBOX_ERROR, 1,
                    "UID FETCH was refused"},
    [IMAP_STORE] = {search_next, MP_E_MAILBOX_ERROR, 1,
                    "the test message was found but UID STORE was refused"},
    [IMAP_EXPUNGE] = {search_next, MP_E_MAILBOX_ERROR, 1,
                      "the test message was found but EXPUNGE was refused"},
    [IMAP_LOGOUT] = {mp_session_ok, 0, 0, NULL},
};

/* The tagged answer to our command. */
static void on_tagged(struct mp_probe *p, int st)
{
  struct imap *s = p->state;
  const char *refused = on_state[s->st].refused;
  if (!on_state[s->st].on_tagged) {
    mp_session_fail(p, MP_E_PROTOCOL_ERROR, "a tagged response out of turn");
  } else if (st == IMAP_OK || !on_state[s->st].fail) {
    on_state[s->st].on_tagged(p);
  } else if (!on_state[s->st].quit) {
    mp_session_fail(p, on_state[s->st].fail, "%s", refused);
  } else {
    if (p->phase == MP_PHASE_DELETE)
      p->r->warn = 1;
    mp_session_fail_quit(p, on_state[s->st].fail, "%s", refused);
  }
}

/* Splits "OK [code] text" into a status and the text. */
static int parse_cond(const char *s, const char **text)
{
  static const struct {
    const char *word;
    int st;
  } conds[] = {{"OK", IMAP_OK},
               {"NO", IMAP_NO},
               {"BAD", IMAP_BAD},
               {"BYE", IMAP_BYE},
               {"PREAUTH", IMAP_OK}};
  for (size_t i = 0; i < sizeof(conds) / sizeof(conds[0]); i++) {
    size_t n = strlen(conds[i].word);
    if (strncasecmp(s, conds[i].word, n) == 0 && (s[n] == ' ' || !s[n])) {
      *text = s[n] ? s + n + 1 : s + n;
      return conds[i].st;
    }
  }
  return 0;
}

static void on_untagged(struct mp_probe *p, const char *rest)
{
  struct imap *s = p->state;
  const char *text = NULL;
  int st = parse_cond(rest, &text);
  if (s->st == IMAP_GREETING) {
    if (st == IMAP_BYE || st == 0 || st == IMAP_NO || st == IMAP_BAD) {
      mp_session_reply(p, st ? st : 0, text ? text : rest);
      mp_session_fail(p, st == IMAP_BYE ? MP_E_REJECTED : MP_E_PROTOCOL_ERROR,
                      st == IMAP_BYE ? "the server greeted with BYE"
                                     : "not an IMAP greeting");
      return;
    }
    mp_session_reply(p, st, text);
    resp_code(p, text);
    s->preauth = strncasecmp(rest, "PREAUTH", 7) == 0;
    if (s->caps_known)
      after_caps(p);
    else
      send_cmd(p, IMAP_CAPABILITY, "CAPABILITY");
    return;
  }
  if (st == IMAP_BYE) {
    mp_session_reply(p, st, text);
    if (s->st != IMAP_LOGOUT)
      mp_session_fail(p, MP_E_REJECTED, "the server said BYE in %s",
                      mp_phase_name(p->phase));
    return;
  }
  if (st) {
    resp_code(p, text); /* "* OK [ALERT] ..." and friends */
    return;
  }
  if (strncasecmp(rest, "CAPABILITY ", 11) == 0) {
    parse_caps(s, rest + 11);
    return;
  }
  if (s->st == IMAP_SEARCH && strncasecmp(rest, "SEARCH", 6) == 0) {
    const char *t = rest + 6;
    char *end;
    while (*t == ' ' && s->nuids < IMAP_MAX_MATCHES) {
      unsigned long uid = strtoul(t + 1, &end, 10);
      if (end == t + 1)
        break;
      s->uids[s->nuids++] = uid;
      t = end;
    }
    return;
  }
  char *end;
  long long n = strtoll(rest, &end, 10);
  if (end != rest && strcasecmp(end, " EXISTS") == 0 && n >= 0)
    p->r->messages = n;
}

/* A literal announced at the end of a line ("{123}" or "{123+}"): its
 * size, or -1. */
static long long literal_size(const char *line, size_t len)
{
  if (len < 3 || line[len - 1] != '}')
    return -1;
  size_t i = len - 1;
  if (line[i - 1] == '+')
    i--;
  size_t end = i;
  while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9')
    i--;
  if (i == 0 || line[i - 1] != '{' || i == end || end - i > 19)
    return -1;
  return strtoll(line + i, NULL, 10);
}

static void imap_line(struct mp_probe *p, char *line, size_t len)
{
  struct imap *s = p->state;
  if (strlen(line) != len) {
    mp_session_fail(p, MP_E_PROTOCOL_ERROR, "a NUL byte in a response");
    return;
  }
  if (++s->untagged > IMAP_MAX_UNTAGGED) {
    mp_session_fail(p, MP_E_PROTOCOL_ERROR,
                    "more than %d response lines to one command",
                    IMAP_MAX_UNTAGGED);
    return;
  }
  long long lit = literal_size(line, len);
  int continued = s->in_literal;
  s->in_literal = 0;
  if (lit >= 0) {
    if (lit > IMAP_MAX_LITERAL) {
      mp_session_fail(p, MP_E_PROTOCOL_ERROR,
                      "a literal of %lld bytes announced (the limit is %u)",
                      lit, IMAP_MAX_LITERAL);
      return;
    }
    mp_conn_expect_raw(p->conn, (uint64_t)lit);
    s->in_literal = 1;
  }
  if (s->st == IMAP_FETCH && (continued || strncmp(line, "* ", 2) == 0)) {
    fetch_segment(s, line);
    if (lit < 0)
      fetch_done(p);
  }
  if (continued)
    return; /* the rest of a response after a literal */
  if (line[0] == '*' && line[1] == ' ') {
    on_untagged(p, line + 2);
    return;
  }
  if (line[0] == '+') {
    on_continue(p, line);
    return;
  }
  size_t tl = strlen(s->tagbuf);
  if (s->tag == 0 || strncmp(line, s->tagbuf, tl) != 0 || line[tl] != ' ') {
    mp_session_reply(p, 0, line);
    mp_session_fail(p, MP_E_PROTOCOL_ERROR,
                    s->tag ? "a response with the wrong tag (we sent %s)"
                           : "a tagged response before the greeting%s",
                    s->tag ? s->tagbuf : "");
    return;
  }
  const char *text = NULL;
  int st = parse_cond(line + tl + 1, &text);
  if (st == 0 || st == IMAP_BYE) {
    mp_session_fail(p, MP_E_PROTOCOL_ERROR,
                    "a tagged response that is not "
                    "OK, NO or BAD");
    return;
  }
  mp_session_reply(p, st, text);
  resp_code(p, text);
  /* Untagged data may come at any time (RFC 9051 7): no check for bytes
   * after a tagged response, unlike SMTP and POP3. */
  on_tagged(p, st);
}

/* Literal bytes: kept (bounded) only while fetching our header. */
static void imap_raw(struct mp_probe *p, const char *buf, size_t len, int last)
{
  struct imap *s = p->state;
  (void)last;
  if (s->st != IMAP_FETCH)
    return;
  size_t room = sizeof(s->hdr) - 1 - s->hdr_len;
  size_t n = len < room ? len : room;
  memcpy(s->hdr + s->hdr_len, buf, n);
  s->hdr_len += n;
}

static void imap_tls_done(struct mp_probe *p)
{
  struct imap *s = p->state;
  /* RFC 9051 6.2.1: capabilities learned before TLS are void. */
  s->caps_known = 0;
  send_cmd(p, IMAP_CAPABILITY, "CAPABILITY");
}

const struct mp_probe_proto mp_imap_proto = {
    .name = "IMAP",
    .state_size = sizeof(struct imap),
    .start = imap_start,
    .line = imap_line,
    .raw = imap_raw,
    .tls_done = imap_tls_done,
    .goodbye = imap_goodbye,
};
