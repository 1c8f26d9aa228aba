/* The POP3 probe (RFC 1939; CAPA RFC 2449; STLS RFC 2595; AUTH RFC 5034):
 * greeting (with its APOP timestamp), CAPA, STLS and CAPA again, login with
 * the strongest method both sides have (SASL, APOP, USER/PASS), STAT, QUIT.
 * Responses are "+OK" / "-ERR" lines, CAPA's a multi-line list ending in a
 * lone "." (dot-stuffed, RFC 1939 3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "probes/names.h"
#include "probes/session.h"
#include "wire/codec.h"
#include "wire/conn.h"
#include "wire/errors.h"
#include "wire/sasl.h"

enum pop3_state {
  POP3_GREETING = 0,
  POP3_CAPA,      /* waiting for +OK / -ERR */
  POP3_CAPA_LIST, /* reading the lines up to "." */
  POP3_STLS,
  POP3_AUTH, /* a SASL exchange */
  POP3_APOP,
  POP3_USER,
  POP3_PASS,
  POP3_STAT,
  POP3_TOP,      /* waiting for +OK of TOP / RETR */
  POP3_TOP_LIST, /* reading the message up to "." */
  POP3_DELE,
  POP3_QUIT,
  POP3_STATE_COUNT
};

static const char *const pop3_state_names[POP3_STATE_COUNT] = {
    "GREETING", "CAPA", "CAPA_LIST", "STLS",     "AUTH", "APOP", "USER",
    "PASS",     "STAT", "TOP",       "TOP_LIST", "DELE", "QUIT"};

/* Where each state is; whether its answer is a list of lines up to a
 * lone "."; whether bytes may follow its one-line answer (the +OK of CAPA
 * and TOP opens a list; STLS checks for itself; QUIT is the end). */
static const struct {
  enum mp_phase phase;
  int list, more;
} pop3_rows[POP3_STATE_COUNT] = {
    [POP3_GREETING] = {MP_PHASE_BANNER, 0, 0},
    [POP3_CAPA] = {MP_PHASE_EHLO, 0, 1},
    [POP3_CAPA_LIST] = {MP_PHASE_EHLO, 1, 0},
    [POP3_STLS] = {MP_PHASE_STARTTLS, 0, 1},
    [POP3_AUTH] = {MP_PHASE_AUTH, 0, 0},
    [POP3_APOP] = {MP_PHASE_AUTH, 0, 0},
    [POP3_USER] = {MP_PHASE_AUTH, 0, 0},
    [POP3_PASS] = {MP_PHASE_AUTH, 0, 0},
    [POP3_STAT] = {MP_PHASE_FETCH, 0, 0},
    [POP3_TOP] = {MP_PHASE_FETCH, 0, 1},
    [POP3_TOP_LIST] = {MP_PHASE_FETCH, 1, 0},
    [POP3_DELE] = {MP_PHASE_DELETE, 0, 0},
    [POP3_QUIT] = {MP_PHASE_QUIT, 0, 1},
};

#define POP3_MAX_CAPA_LINES 256
/* A round trip looks at the newest messages only. */
#define POP3_SCAN_MAX 50
#define POP3_MAX_MATCHES 64
#define POP3_MAX_MESSAGE_LINES 100000

/* RFC 5034 4: an AUTH command with its initial response fits 255
 * octets. */
static const struct mp_sasl_frame pop3_sasl = {"AUTH", 240};

struct pop3 {
  enum pop3_state st;
  char timestamp[256]; /* the APOP banner's <...>, "" if none */
  int capa_ok;         /* CAPA answered +OK */
  int stls;
  int user_cap;
  int resp_codes;
  unsigned sasl_offered;
  size_t capa_lines;
  /* the round trip's search */
  long long msg, lowest; /* the message being read, the last to read */
  int use_retr;          /* TOP was refused: read whole messages */
  int in_headers;
  size_t msg_lines;
  long long matches[POP3_MAX_MATCHES];
  size_t nmatches, ndele;
  int top_cap;
};

static void pop3_set(struct mp_probe *p, enum pop3_state st)
{
  struct pop3 *s = p->state;
  mp_session_move(p, pop3_state_names[s->st], pop3_state_names[st],
                  pop3_rows[st].phase);
  s->st = st;
}

/* Sets the next state and sends its command. */
static void send_cmd(struct mp_probe *p, enum pop3_state st, const char *line)
{
  pop3_set(p, st);
  mp_session_send(p, line);
}

static void pop3_start(struct mp_probe *p)
{
  struct pop3 *s = p->state;
  s->st = POP3_GREETING;
}

/* ---- the reply classifier -------------------------------------------- */

/* What one line from the server is, in the state we are in (RFC 1939 3):
 * a status line, an AUTH continuation, a line of a multi-line answer or
 * its end. */
enum pop3_kind {
  KIND_OK,       /* "+OK ..." */
  KIND_ERR,      /* "-ERR ..." */
  KIND_CONTINUE, /* "+ challenge" during AUTH (RFC 5034 4) */
  KIND_ITEM,     /* a line of a list, dot-stuffing removed */
  KIND_END,      /* the "." that ends a list */
  KIND_DONE      /* the line ended the probe (already handled) */
};

/* Splits "+OK text" / "-ERR [CODE] text": 1 for +OK, -1 for -ERR, 0 for
 * anything else. The RFC 2449 response code goes into the result. */
static int parse_status(struct mp_probe *p, const char *line)
{
  int st = 0;
  const char *text = NULL;
  if (strncmp(line, "+OK", 3) == 0 && (line[3] == ' ' || !line[3])) {
    st = 1;
    text = line + 3;
  } else if (strncmp(line, "-ERR", 4) == 0 && (line[4] == ' ' || !line[4])) {
    st = -1;
    text = line + 4;
  } else {
    return 0;
  }
  while (*text == ' ')
    text++;
  mp_session_reply(p, st, text);
  free(p->r->resp_code);
  p->r->resp_code = NULL;
  if (st < 0 && text[0] == '[') {
    size_t n = strcspn(text + 1, "]");
    if (text[1 + n] == ']' && n > 0 && n < 64)
      p->r->resp_code = strndup(text + 1, n);
  }
  return st;
}

/* Classifies line; *text is what the handler reads. Ends the probe (and
 * gives KIND_DONE) for a line no state expects, or for bytes after a whole
 * answer: the server speaks only when spoken to. */
static enum pop3_kind classify(struct mp_probe *p, char *line, size_t len,
                               const char **text)
{
  struct pop3 *s = p->state;
  *text = line;
  if (pop3_rows[s->st].list) {
    if (len == 1 && line[0] == '.') {
      /* The "." that ends a list ends the answer: as after a one-line
       * answer, nothing may follow before our next command. */
      if (mp_conn_buffered(p->conn) > 0) {
        mp_session_fail(p, MP_E_PROTOCOL_ERROR,
                        "the server sent %zu bytes nobody asked for",
                        mp_conn_buffered(p->conn));
        return KIND_DONE;
      }
      return KIND_END;
    }
    if (line[0] == '.')
      *text = line + 1;
    return KIND_ITEM;
  }
  if (s->st == POP3_AUTH && line[0] == '+' && (line[1] == ' ' || !line[1])) {
    *text = line[1] == ' ' ? line + 2 : line + 1;
    return KIND_CONTINUE;
  }
  int st = parse_status(p, line);
  if (st == 0) {
    if (s->st == POP3_QUIT) {
      mp_session_ok(p); /* a garbled goodbye is still a goodbye */
      return KIND_DONE;
    }
    mp_session_reply(p, 0, line);
    mp_session_fail(p, MP_E_PROTOCOL_ERROR,
                    "a response that is neither +OK nor -ERR in %s",
                    mp_phase_name(p->phase));
    return KIND_DONE;
  }
  if (mp_conn_buffered(p->conn) > 0 && !pop3_rows[s->st].more) {
    mp_session_fail(p, MP_E_PROTOCOL_ERROR,
                    "the server sent %zu bytes nobody asked for",
                    mp_conn_buffered(p->conn));
    return KIND_DONE;
  }
  return st > 0 ? KIND_OK : KIND_ERR;
}

static int resp_code_is(const struct mp_probe *p, const char *code)
{
  const char *c = p->r->resp_code;
  if (!c)
    return 0;
  size_t n = strlen(code);
  /* "SYS/TEMP" matches "SYS" too: the hierarchy of RFC 2449 8. */
  return strncasecmp(c, code, n) == 0 && (c[n] == '\0' || c[n] == '/');
}

/* ---- commands ---------------------------------------------------------- */

static void send_quit(struct mp_probe *p)
{
  pop3_set(p, POP3_QUIT);
  mp_session_quit_deadline(p);
  mp_session_send(p, "QUIT");
}

/* In the AUTHORIZATION state QUIT deletes nothing (RFC 1939 6). Not after
 * DELE: QUIT would commit deletions the result does not count. */
static void pop3_goodbye(struct mp_probe *p, char *line, size_t cap)
{
  (void)p;
  snprintf(line, cap, "QUIT");
}

static void send_capa(struct mp_probe *p)
{
  struct pop3 *s = p->state;
  s->capa_ok = s->stls = s->user_cap = s->resp_codes = s->top_cap = 0;
  s->sasl_offered = 0;
  s->capa_lines = 0;
  send_cmd(p, POP3_CAPA, "CAPA");
}

static void send_apop(struct mp_probe *p)
{
  struct pop3 *s = p->state;
  /* RFC 1939 7: APOP name digest, digest = MD5(timestamp password). */
  size_t tl = strlen(s->timestamp),
         pl = strlen(p->o.password ? p->o.password : "");
  char *buf = malloc(tl + pl + 1);
  if (!buf) {
    mp_session_fail(p, MP_E_NO_RESOURCES, "out of memory");
    return;
  }
  memcpy(buf, s->timestamp, tl);
  memcpy(buf + tl, p->o.password ? p->o.password : "", pl);
  unsigned char md[16];
  char hex[33];
  mp_md5(buf, tl + pl, md);
  free(buf);
  mp_hex(md, 16, hex);
  char line[600];
  snprintf(line, sizeof(line), "APOP %s %s", p->o.user, hex);
  send_cmd(p, POP3_APOP, line);
}

/* Logs in with the strongest method left, or gives up with the error
 * that says why (probes/login.c). */
static void send_login(struct mp_probe *p)
{
  struct pop3 *s = p->state;
  struct mp_login *l = &p->login;
  l->offered = s->sasl_offered;
  if (s->timestamp[0])
    l->offered |= MP_LOGIN_BIT(MP_LOGIN_APOP);
  /* RFC 2449 6.5: USER is listed when offered; a server without CAPA is
   * assumed to have it (RFC 1939). */
  if (s->user_cap || !s->capa_ok)
    l->offered |= MP_LOGIN_BIT(MP_LOGIN_USER);
  l->announced = 1;
  l->tls_hint = s->stls;
  int m = mp_login_next(p, &mp_login_method_rules);
  char line[600];
  if (m == MP_LOGIN_APOP) {
    send_apop(p);
  } else if (m == MP_LOGIN_USER) {
    snprintf(line, sizeof(line), "USER %s", p->o.user);
    send_cmd(p, POP3_USER, line);
  } else if (m >= 0 &&
             mp_login_sasl_begin(p, &pop3_sasl, m, line, sizeof(line)) == 0) {
    send_cmd(p, POP3_AUTH, line);
  }
}

/* After the capabilities: STLS first if wanted, then login, then QUIT. */
static void after_capa(struct mp_probe *p)
{
  struct pop3 *s = p->state;
  if (!p->in_tls && p->o.tls == MP_TLSMODE_STARTTLS && !s->stls && s->capa_ok) {
    mp_session_fail_quit(p, MP_E_STARTTLS_UNSUPPORTED,
                         "the server does not offer STLS");
    return;
  }
  /* Without CAPA (an RFC 1939-only server) STLS may still work when the
   * user asked for it. */
  if (!p->in_tls &&
      (s->stls ? p->o.tls == MP_TLSMODE_STARTTLS || p->o.tls == MP_TLSMODE_AUTO
               : p->o.tls == MP_TLSMODE_STARTTLS)) {
    send_cmd(p, POP3_STLS, "STLS");
  } else if (p->o.user) {
    send_login(p);
  } else {
    send_quit(p);
  }
}

/* Asks for the headers of the next message to look at, or moves on to
 * deleting what was found. */
static void scan_next(struct mp_probe *p)
{
  struct pop3 *s = p->state;
  char line[64];
  if (s->msg >= s->lowest && s->msg > 0 && s->nmatches < POP3_MAX_MATCHES) {
    /* RFC 1939 7: TOP msg 0 gives the headers only. */
    snprintf(line, sizeof(line), s->use_retr ? "RETR %lld" : "TOP %lld 0",
             s->msg);
    s->in_headers = 1;
    s->msg_lines = 0;
    send_cmd(p, POP3_TOP, line);
    return;
  }
  p->r->found = (int64_t)s->nmatches;
  if (s->ndele < s->nmatches && !p->o.no_delete) {
    snprintf(line, sizeof(line), "DELE %lld", s->matches[s->ndele]);
    send_cmd(p, POP3_DELE, line);
    return;
  }
  send_quit(p);
}

/* ---- one handler per state: the answer to its command ------------- */

static void on_greeting(struct mp_probe *p, int ok, const char *line)
{
  struct pop3 *s = p->state;
  if (!ok) {
    mp_session_fail(p, MP_E_REJECTED, "the server greeted with -ERR");
    return;
  }
  /* RFC 1939 7: the APOP timestamp is the banner's <...>. */
  const char *lt = strchr(line, '<');
  const char *gt = lt ? strchr(lt, '>') : NULL;
  if (lt && gt && (size_t)(gt - lt + 1) < sizeof(s->timestamp) &&
      memchr(lt, '@', (size_t)(gt - lt)))
    snprintf(s->timestamp, sizeof(s->timestamp), "%.*s", (int)(gt - lt + 1),
             lt);
  send_capa(p);
}

static void on_capa(struct mp_probe *p, int ok, const char *line)
{
  struct pop3 *s = p->state;
  (void)line;
  if (ok) {
    s->capa_ok = 1;
    pop3_set(p, POP3_CAPA_LIST);
  } else {
    after_capa(p); /* an RFC 1939 server without CAPA */
  }
}

/* One capability line (RFC 2449 6). */
static void on_capa_item(struct mp_probe *p, const char *line, size_t len)
{
  struct pop3 *s = p->state;
  (void)len;
  if (++s->capa_lines > POP3_MAX_CAPA_LINES) {
    mp_session_fail(p, MP_E_PROTOCOL_ERROR, "a CAPA list of more than %d lines",
                    POP3_MAX_CAPA_LINES);
    return;
  }
  size_t kw = strcspn(line, " ");
  if (mp_word_is(line, kw, "STLS"))
    s->stls = 1;
  else if (mp_word_is(line, kw, "USER"))
    s->user_cap = 1;
  else if (mp_word_is(line, kw, "SASL"))
    s->sasl_offered |= mp_sasl_mask_from_list(line + 4);
  else if (mp_word_is(line, kw, "RESP-CODES"))
    s->resp_codes = 1;
  else if (mp_word_is(line, kw, "TOP"))
    s->top_cap = 1;
}

static void on_stls(struct mp_probe *p, int ok, const char *line)
{
  (void)line;
  if (ok)
    mp_session_starttls(p);
  else
    mp_session_fail_quit(p, MP_E_STARTTLS_REJECTED, "STLS was refused");
}

/* A login step failed with -ERR: decide whether to try the next method. */
static void login_refused(struct mp_probe *p)
{
  struct pop3 *s = p->state;
  if (mp_login_refused(p) < 0)
    return;
  if (resp_code_is(p, "IN-USE") || resp_code_is(p, "SYS")) {
    mp_session_fail_quit(p, MP_E_MAILBOX_ERROR,
                         "the mailbox is not available [%s]", p->r->resp_code);
    return;
  }
  if (resp_code_is(p, "LOGIN-DELAY")) {
    mp_session_fail_quit(p, MP_E_REJECTED,
                         "the server asks to wait before logging in again "
                         "[LOGIN-DELAY]");
    return;
  }
  /* Before [AUTH]: Dovecot refuses a login in clear with "-ERR [AUTH]
   * Plaintext authentication disallowed on non-secure (SSL/TLS)
   * connections.", which is about the channel, not the password. */
  if (!p->in_tls && p->r->reply_text &&
      (strcasestr(p->r->reply_text, "tls") != NULL ||
       strcasestr(p->r->reply_text, "plaintext") != NULL))
    p->login.tls_asked = 1;
  else if (resp_code_is(p, "AUTH")) {
    /* RFC 3206 4: [AUTH] says the credentials are wrong, not the method
     * (RFC 5034 4 would try the next): one failed login is enough. */
    mp_login_refused_for_good(p);
    return;
  } else if (p->login.method != MP_LOGIN_USER || s->st == POP3_PASS)
    p->login.refused = 1;
  send_login(p);
}

/* AUTH, APOP and PASS: logged in, or this method failed. */
static void on_login(struct mp_probe *p, int ok, const char *line)
{
  (void)line;
  if (!ok)
    login_refused(p);
  else if (mp_login_accepted(p) == 0)
    send_cmd(p, POP3_STAT, "STAT");
}

static void on_user(struct mp_probe *p, int ok, const char *line)
{
  (void)line;
  if (!ok) {
    login_refused(p);
    return;
  }
  char pass[600];
  snprintf(pass, sizeof(pass), "PASS %s", p->o.password ? p->o.password : "");
  send_cmd(p, POP3_PASS, pass);
}

static void on_stat(struct mp_probe *p, int ok, const char *line)
{
  struct pop3 *s = p->state;
  (void)line;
  if (!ok) {
    mp_session_fail_quit(p, MP_E_MAILBOX_ERROR, "STAT was refused");
    return;
  }
  long long n = -1, size = -1;
  /* RFC 1939 5: "+OK nn mm". */
  if (sscanf(p->r->reply_text ? p->r->reply_text : "", "%lld %lld", &n,
             &size) != 2 ||
      n < 0 || size < 0) {
    mp_session_fail(p, MP_E_PROTOCOL_ERROR, "a STAT answer without counts");
    return;
  }
  p->r->messages = n;
  p->r->octets = size;
  if (!p->o.find_token) {
    send_quit(p);
    return;
  }
  s->msg = n;
  s->lowest = n > POP3_SCAN_MAX ? n - POP3_SCAN_MAX + 1 : 1;
  scan_next(p);
}

static void on_top(struct mp_probe *p, int ok, const char *line)
{
  struct pop3 *s = p->state;
  (void)line;
  if (ok) {
    pop3_set(p, POP3_TOP_LIST);
  } else if (!s->use_retr) {
    s->use_retr = 1; /* TOP is optional (RFC 1939 7) */
    scan_next(p);
  } else {
    mp_session_fail_quit(p, MP_E_MAILBOX_ERROR, "RETR %lld was refused",
                         s->msg);
  }
}

/* One line of the message being scanned: is it one of ours? */
static void on_top_item(struct mp_probe *p, const char *line, size_t len)
{
  struct pop3 *s = p->state;
  static const char name[] = "X-Mailprobe-Token:";
  if (++s->msg_lines > POP3_MAX_MESSAGE_LINES) {
    mp_session_fail(p, MP_E_PROTOCOL_ERROR,
                    "a message of more than %d lines without its final "
                    "\".\"",
                    POP3_MAX_MESSAGE_LINES);
    return;
  }
  if (len == 0) {
    s->in_headers = 0;
    return;
  }
  if (!s->in_headers || strncasecmp(line, name, sizeof(name) - 1) != 0)
    return;
  const char *v = line + sizeof(name) - 1;
  while (*v == ' ' || *v == '\t')
    v++;
  size_t tl = strlen(p->o.find_token);
  if (strncmp(v, p->o.find_token, tl) != 0)
    return;
  if (p->o.keep_token && strcmp(v, p->o.keep_token) == 0)
    return;
  if (s->nmatches == 0 || s->matches[s->nmatches - 1] != s->msg)
    s->matches[s->nmatches++] = s->msg;
}

static void on_top_end(struct mp_probe *p)
{
  struct pop3 *s = p->state;
  s->msg--;
  scan_next(p);
}

static void on_dele(struct mp_probe *p, int ok, const char *line)
{
  struct pop3 *s = p->state;
  (void)line;
  if (!ok) {
    p->r->warn = 1;
    mp_session_fail(p, MP_E_MAILBOX_ERROR, "DELE %lld was refused",
                    s->matches[s->ndele]);
    return;
  }
  s->ndele++;
  scan_next(p);
}

static void on_quit(struct mp_probe *p, int ok, const char *line)
{
  struct pop3 *s = p->state;
  (void)line;
  /* RFC 1939 6: deletions happen in the UPDATE state, after QUIT. */
  if (p->o.find_token && !p->o.no_delete)
    p->r->deleted = ok ? (int64_t)s->ndele : 0;
  mp_session_ok(p);
}

/* The handlers of each state: a status line, or a list's lines and end. */
static const struct {
  void (*reply)(struct mp_probe *p, int ok, const char *line);
  void (*item)(struct mp_probe *p, const char *line, size_t len);
  void (*end)(struct mp_probe *p);
} on_state[POP3_STATE_COUNT] = {
    [POP3_GREETING] = {.reply = on_greeting},
    [POP3_CAPA] = {.reply = on_capa},
    [POP3_CAPA_LIST] = {.item = on_capa_item, .end = after_capa},
    [POP3_STLS] = {.reply = on_stls},
    [POP3_AUTH] = {.reply = on_login},
    [POP3_APOP] = {.reply = on_login},
    [POP3_USER] = {.reply = on_user},
    [POP3_PASS] = {.reply = on_login},
    [POP3_STAT] = {.reply = on_stat},
    [POP3_TOP] = {.reply = on_top},
    [POP3_TOP_LIST] = {.item = on_top_item, .end = on_top_end},
    [POP3_DELE] = {.reply = on_dele},
    [POP3_QUIT] = {.reply = on_quit},
};

static void pop3_line(struct mp_probe *p, char *line, size_t len)
{
  struct pop3 *s = p->state;
  const char *text;
  switch (classify(p, line, len, &text)) {
  case KIND_OK:
    on_state[s->st].reply(p, 1, text);
    return;
  case KIND_ERR:
    on_state[s->st].reply(p, 0, text);
    return;
  case KIND_CONTINUE:
    mp_login_sasl_answer(p, text);
    return;
  case KIND_ITEM:
    on_state[s->st].item(p, text, len - (size_t)(text - line));
    return;
  case KIND_END:
    on_state[s->st].end(p);
    return;
  case KIND_DONE:
    return;
  }
}

static void pop3_tls_done(struct mp_probe *p)
{
  send_capa(p); /* RFC 2595 4: capabilities may change after STLS */
}

const struct mp_probe_proto mp_pop3_proto = {
    .name = "POP3",
    .state_size = sizeof(struct pop3),
    .start = pop3_start,
    .line = pop3_line,
    .tls_done = pop3_tls_done,
    .goodbye = pop3_goodbye,
};
