/* The POP3 probe (RFC 1939; CAPA RFC 2449; STLS RFC 2595; AUTH RFC 5034):
 * greeting (with its APOP timestamp), CAPA, STLS and CAPA again, login with
 * the strongest method both sides have (SASL, APOP, USER/PASS), STAT, QUIT.
 * Responses are "+OK" / "-ERR" lines, CAPA's a multi-line list ending in a
 * lone "." (dot-stuffed, RFC 1939 3). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

static const enum mp_phase pop3_phase[POP3_STATE_COUNT] = {
    [POP3_GREETING] = MP_PHASE_BANNER, [POP3_CAPA] = MP_PHASE_EHLO,
    [POP3_CAPA_LIST] = MP_PHASE_EHLO,  [POP3_STLS] = MP_PHASE_STARTTLS,
    [POP3_AUTH] = MP_PHASE_AUTH,       [POP3_APOP] = MP_PHASE_AUTH,
    [POP3_USER] = MP_PHASE_AUTH,       [POP3_PASS] = MP_PHASE_AUTH,
    [POP3_STAT] = MP_PHASE_FETCH,      [POP3_TOP] = MP_PHASE_FETCH,
    [POP3_TOP_LIST] = MP_PHASE_FETCH,  [POP3_DELE] = MP_PHASE_DELETE,
    [POP3_QUIT] = MP_PHASE_QUIT,
};

#define POP3_MAX_CAPA_LINES 256
/* A round trip looks at the newest messages only. */
#define POP3_SCAN_MAX 50
#define POP3_MAX_MATCHES 64
#define POP3_MAX_MESSAGE_LINES 100000

/* Login methods in the order tried: SASL by its table, then APOP, then
 * USER/PASS (RFC 1939 sends the password itself). */
enum { METHOD_APOP = MP_SASL_COUNT, METHOD_USER, METHOD_COUNT };

struct pop3 {
  enum pop3_state st;
  char timestamp[256]; /* the APOP banner's <...>, "" if none */
  int capa_ok;         /* CAPA answered +OK */
  int stls;
  int user_cap;
  int resp_codes;
  unsigned sasl_offered;
  unsigned tried; /* bits of METHOD_* and SASL */
  int method;
  size_t capa_lines;
  int saw_auth_fail;
  int saw_tls_req;
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
  mp_session_trace(p, pop3_state_names[s->st], pop3_state_names[st]);
  s->st = st;
  if (p->phase != pop3_phase[st])
    mp_session_phase(p, pop3_phase[st]);
}

static void pop3_start(struct mp_probe *p)
{
  struct pop3 *s = p->state;
  s->st = POP3_GREETING;
  s->method = -1;
}

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

static int resp_code_is(const struct mp_probe *p, const char *code)
{
  const char *c = p->r->resp_code;
  if (!c)
    return 0;
  size_t n = strlen(code);
  /* "SYS/TEMP" matches "SYS" too: the hierarchy of RFC 2449 8. */
  return strncasecmp(c, code, n) == 0 && (c[n] == '\0' || c[n] == '/');
}

static void send_quit(struct mp_probe *p)
{
  pop3_set(p, POP3_QUIT);
  mp_session_quit_deadline(p);
  mp_session_send(p, "QUIT");
}

/* Fails the probe while the session is still in step: says QUIT first, as
 * the SMTP probe does, so the server ends the session cleanly (RFC 1939 6;
 * in the AUTHORIZATION state QUIT deletes nothing). The reply is not
 * awaited, so the result keeps the phase and reply that failed. Not for a
 * session out of step (protocol errors, TLS failures), nor after DELE
 * (QUIT would commit the deletions the result does not count). */
__attribute__((format(printf, 3, 4))) static void
fail_quit(struct mp_probe *p, int err, const char *fmt, ...)
{
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  mp_session_send(p, "QUIT");
  mp_session_fail(p, err, "%s", buf);
}

static void send_capa(struct mp_probe *p)
{
  struct pop3 *s = p->state;
  s->capa_ok = s->stls = s->user_cap = s->resp_codes = s->top_cap = 0;
  s->sasl_offered = 0;
  s->capa_lines = 0;
  pop3_set(p, POP3_CAPA);
  mp_session_send(p, "CAPA");
}

/* One capability line (RFC 2449 6). */
static void capa_line(struct pop3 *s, const char *line)
{
  size_t kw = strcspn(line, " ");
  if (kw == 4 && strncasecmp(line, "STLS", 4) == 0)
    s->stls = 1;
  else if (kw == 4 && strncasecmp(line, "USER", 4) == 0)
    s->user_cap = 1;
  else if (kw == 4 && strncasecmp(line, "SASL", 4) == 0)
    s->sasl_offered |= mp_sasl_mask_from_list(line + 4);
  else if (kw == 10 && strncasecmp(line, "RESP-CODES", 10) == 0)
    s->resp_codes = 1;
  else if (kw == 3 && strncasecmp(line, "TOP", 3) == 0)
    s->top_cap = 1;
}

static void pop3_login_next(struct mp_probe *p);

static void after_capa(struct mp_probe *p)
{
  struct pop3 *s = p->state;
  if (!p->in_tls && p->o.tls == MP_TLSMODE_STARTTLS && !s->stls && s->capa_ok) {
    fail_quit(p, MP_E_STARTTLS_UNSUPPORTED, "the server does not offer STLS");
    return;
  }
  /* Without CAPA (an RFC 1939-only server) STLS may still work when the
   * user asked for it. */
  if (!p->in_tls &&
      (s->stls ? p->o.tls == MP_TLSMODE_STARTTLS || p->o.tls == MP_TLSMODE_AUTO
               : p->o.tls == MP_TLSMODE_STARTTLS)) {
    pop3_set(p, POP3_STLS);
    mp_session_send(p, "STLS");
    return;
  }
  if (!p->o.user) {
    send_quit(p);
    return;
  }
  pop3_login_next(p);
}

/* The strongest login method left, or the error that says why none is. */
static int next_method(struct mp_probe *p, unsigned *offered_out)
{
  struct pop3 *s = p->state;
  unsigned allowed = mp_session_login_allowed(p);
  unsigned offered = s->sasl_offered;
  if (s->timestamp[0])
    offered |= 1u << METHOD_APOP;
  /* RFC 2449 6.5: USER is listed when offered; a server without CAPA is
   * assumed to have it (RFC 1939). */
  if (s->user_cap || !s->capa_ok)
    offered |= 1u << METHOD_USER;
  unsigned allow = allowed & MP_SASL_ALL;
  if (allowed & MP_AUTH_APOP)
    allow |= 1u << METHOD_APOP;
  if (allowed & MP_AUTH_USER)
    allow |= 1u << METHOD_USER;
  *offered_out = offered;
  /* SASL strongest first, then APOP, then USER; cleartext SASL after
   * APOP (APOP never shows the password). */
  static const int order[] = {
      MP_SASL_SCRAM_SHA_256, MP_SASL_SCRAM_SHA_1, MP_SASL_CRAM_MD5, METHOD_APOP,
      MP_SASL_LOGIN,         MP_SASL_PLAIN,       METHOD_USER};
  for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
    unsigned bit = 1u << order[i];
    if ((offered & allow & bit) && !(s->tried & bit))
      return order[i];
  }
  return -1;
}

static void login_exhausted(struct mp_probe *p, unsigned offered)
{
  struct pop3 *s = p->state;
  unsigned user_all = p->o.auth ? p->o.auth : (MP_SASL_ALL | MP_AUTH_SIMPLE);
  unsigned all = user_all & MP_SASL_ALL;
  if (user_all & MP_AUTH_APOP)
    all |= 1u << METHOD_APOP;
  if (user_all & MP_AUTH_USER)
    all |= 1u << METHOD_USER;
  if (s->saw_auth_fail)
    fail_quit(p, MP_E_AUTH_FAILED,
              "the server refused the credentials with every method "
              "tried");
  else if (s->saw_tls_req || (!p->in_tls && (offered & all)) ||
           (!p->in_tls && s->stls))
    fail_quit(p, MP_E_AUTH_TLS_REQUIRED, "login needs TLS, and tls is %s",
              mp_tls_mode_name(p->o.tls));
  else if (s->tried)
    fail_quit(p, MP_E_AUTH_FAILED, "every login method tried failed");
  else
    fail_quit(p, MP_E_AUTH_UNSUPPORTED,
              "no login method in common with the server");
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
  char line[600], shown[300];
  snprintf(line, sizeof(line), "APOP %s %s", p->o.user, hex);
  snprintf(shown, sizeof(shown), "APOP %s ****", p->o.user);
  pop3_set(p, POP3_APOP);
  mp_session_send_secret(p, line, shown);
}

/* RFC 5034 4: an AUTH command with its initial response fits 255
 * octets. */
static const struct mp_sasl_frame pop3_sasl = {"AUTH", 240};

static void send_auth(struct mp_probe *p, int mech)
{
  char line[600], shown[600];
  if (mp_session_sasl_begin(p, &pop3_sasl, mech, line, shown, sizeof(line)) < 0)
    return;
  pop3_set(p, POP3_AUTH);
  mp_session_send_secret(p, line, shown);
}

static void pop3_login_next(struct mp_probe *p)
{
  struct pop3 *s = p->state;
  unsigned offered;
  int m = next_method(p, &offered);
  if (m < 0) {
    /* Nothing (left) to try is a login outcome, even straight after CAPA. */
    if (p->phase != MP_PHASE_AUTH)
      mp_session_phase(p, MP_PHASE_AUTH);
    login_exhausted(p, offered);
    return;
  }
  s->method = m;
  s->tried |= 1u << m;
  if (m == METHOD_APOP) {
    send_apop(p);
  } else if (m == METHOD_USER) {
    char line[600], shown[600];
    snprintf(line, sizeof(line), "USER %s", p->o.user);
    snprintf(shown, sizeof(shown), "USER %s", p->o.user);
    pop3_set(p, POP3_USER);
    mp_session_send_secret(p, line, shown);
  } else {
    send_auth(p, m);
  }
}

static const char *method_name(int m)
{
  if (m == METHOD_APOP)
    return "APOP";
  if (m == METHOD_USER)
    return "USER";
  return mp_sasl_name(m);
}

/* A login step failed with -ERR: decide whether to try the next method. */
static void login_refused(struct mp_probe *p)
{
  struct pop3 *s = p->state;
  if (s->st == POP3_AUTH && p->sasl_cancelled) {
    fail_quit(p, MP_E_PROTOCOL_ERROR,
              "the server sent a SASL challenge we could not answer");
    return;
  }
  if (resp_code_is(p, "IN-USE") || resp_code_is(p, "SYS")) {
    fail_quit(p, MP_E_MAILBOX_ERROR, "the mailbox is not available [%s]",
              p->r->resp_code);
    return;
  }
  if (resp_code_is(p, "LOGIN-DELAY")) {
    fail_quit(p, MP_E_REJECTED,
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
    s->saw_tls_req = 1;
  else if (resp_code_is(p, "AUTH"))
    s->saw_auth_fail = 1;
  else if (s->method != METHOD_USER || s->st == POP3_PASS)
    s->saw_auth_fail = 1;
  pop3_login_next(p);
}

static void logged_in(struct mp_probe *p)
{
  struct pop3 *s = p->state;
  p->r->auth = method_name(s->method);
  pop3_set(p, POP3_STAT);
  mp_session_send(p, "STAT");
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
    pop3_set(p, POP3_TOP);
    mp_session_send(p, line);
    return;
  }
  p->r->found = (int64_t)s->nmatches;
  if (s->ndele < s->nmatches && !p->o.no_delete) {
    snprintf(line, sizeof(line), "DELE %lld", s->matches[s->ndele]);
    pop3_set(p, POP3_DELE);
    mp_session_send(p, line);
    return;
  }
  send_quit(p);
}

/* One header line of the message being scanned: is it one of ours? */
static void scan_header(struct mp_probe *p, const char *line)
{
  struct pop3 *s = p->state;
  static const char name[] = "X-Mailprobe-Token:";
  if (strncasecmp(line, name, sizeof(name) - 1) != 0)
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

static void pop3_line(struct mp_probe *p, char *line, size_t len)
{
  struct pop3 *s = p->state;
  /* The "." that ends a list ends the answer: as after a one-line
   * answer, nothing may follow before our next command. */
  if ((s->st == POP3_TOP_LIST || s->st == POP3_CAPA_LIST) && len == 1 &&
      line[0] == '.' && mp_conn_buffered(p->conn) > 0) {
    mp_session_fail(p, MP_E_PROTOCOL_ERROR,
                    "the server sent %zu bytes nobody asked for",
                    mp_conn_buffered(p->conn));
    return;
  }
  if (s->st == POP3_TOP_LIST) {
    if (len == 1 && line[0] == '.') {
      s->msg--;
      scan_next(p);
      return;
    }
    if (++s->msg_lines > POP3_MAX_MESSAGE_LINES) {
      mp_session_fail(p, MP_E_PROTOCOL_ERROR,
                      "a message of more than %d lines without its final "
                      "\".\"",
                      POP3_MAX_MESSAGE_LINES);
      return;
    }
    if (len == 0)
      s->in_headers = 0;
    else if (s->in_headers)
      scan_header(p, line[0] == '.' ? line + 1 : line);
    return;
  }
  if (s->st == POP3_CAPA_LIST) {
    if (len == 1 && line[0] == '.') {
      after_capa(p);
      return;
    }
    if (++s->capa_lines > POP3_MAX_CAPA_LINES) {
      mp_session_fail(p, MP_E_PROTOCOL_ERROR,
                      "a CAPA list of more than %d lines", POP3_MAX_CAPA_LINES);
      return;
    }
    capa_line(s, line[0] == '.' ? line + 1 : line);
    return;
  }
  if (s->st == POP3_AUTH && line[0] == '+' && (line[1] == ' ' || !line[1])) {
    mp_session_sasl_answer(p, line[1] == ' ' ? line + 2 : line + 1);
    return;
  }
  int st = parse_status(p, line);
  if (st == 0) {
    if (s->st == POP3_QUIT) {
      mp_session_ok(p);
      return;
    }
    mp_session_reply(p, 0, line);
    mp_session_fail(p, MP_E_PROTOCOL_ERROR,
                    "a response that is neither +OK nor -ERR in %s",
                    mp_phase_name(p->phase));
    return;
  }
  /* Nothing may follow a one-line response before our next command (the
   * +OK of CAPA and TOP opens a list; STLS checks for itself). */
  if (mp_conn_buffered(p->conn) > 0 && s->st != POP3_CAPA &&
      s->st != POP3_TOP && s->st != POP3_QUIT && s->st != POP3_STLS) {
    mp_session_fail(p, MP_E_PROTOCOL_ERROR,
                    "the server sent %zu bytes nobody asked for",
                    mp_conn_buffered(p->conn));
    return;
  }
  switch (s->st) {
  case POP3_GREETING: {
    if (st < 0) {
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
    return;
  }
  case POP3_CAPA:
    if (st > 0) {
      s->capa_ok = 1;
      pop3_set(p, POP3_CAPA_LIST);
    } else {
      after_capa(p); /* an RFC 1939 server without CAPA */
    }
    return;
  case POP3_STLS:
    if (st < 0) {
      fail_quit(p, MP_E_STARTTLS_REJECTED, "STLS was refused");
      return;
    }
    mp_session_starttls(p);
    return;
  case POP3_AUTH:
  case POP3_APOP:
  case POP3_PASS:
    if (st > 0 && s->st == POP3_AUTH && !mp_session_sasl_complete(p)) {
      fail_quit(p, MP_E_PROTOCOL_ERROR,
                "the server accepted %s before the exchange was complete",
                mp_sasl_name(p->sasl_mech));
      return;
    }
    if (st > 0)
      logged_in(p);
    else
      login_refused(p);
    return;
  case POP3_USER:
    if (st > 0) {
      char line2[600];
      snprintf(line2, sizeof(line2), "PASS %s",
               p->o.password ? p->o.password : "");
      pop3_set(p, POP3_PASS);
      mp_session_send_secret(p, line2, "PASS ****");
    } else {
      login_refused(p);
    }
    return;
  case POP3_STAT: {
    if (st < 0) {
      fail_quit(p, MP_E_MAILBOX_ERROR, "STAT was refused");
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
    return;
  }
  case POP3_TOP:
    if (st > 0) {
      pop3_set(p, POP3_TOP_LIST);
    } else if (!s->use_retr) {
      s->use_retr = 1; /* TOP is optional (RFC 1939 7) */
      scan_next(p);
    } else {
      fail_quit(p, MP_E_MAILBOX_ERROR, "RETR %lld was refused", s->msg);
    }
    return;
  case POP3_DELE:
    if (st < 0) {
      p->r->warn = 1;
      mp_session_fail(p, MP_E_MAILBOX_ERROR, "DELE %lld was refused",
                      s->matches[s->ndele]);
      return;
    }
    s->ndele++;
    scan_next(p);
    return;
  case POP3_QUIT:
    /* RFC 1939 6: deletions happen in the UPDATE state, after QUIT. */
    if (p->o.find_token && !p->o.no_delete)
      p->r->deleted = st > 0 ? (int64_t)s->ndele : 0;
    mp_session_ok(p);
    return;
  case POP3_TOP_LIST:
  case POP3_CAPA_LIST:
  case POP3_STATE_COUNT:
    break;
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
};
