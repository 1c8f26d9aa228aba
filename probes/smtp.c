/* The SMTP probe (RFC 5321, STARTTLS RFC 3207, AUTH RFC 4954): greeting,
 * EHLO (HELO when EHLO is refused), STARTTLS and EHLO again, AUTH with the
 * strongest mechanism both sides have, QUIT. A state machine fed whole
 * replies; the expected code of each state sits in one table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "probes/names.h"
#include "probes/session.h"
#include "wire/conn.h"
#include "wire/errors.h"
#include "wire/sasl.h"
#include "wire/smtp_reply.h"

enum smtp_state {
  SMTP_BANNER = 0,
  SMTP_EHLO,
  SMTP_HELO,
  SMTP_STARTTLS,
  SMTP_AUTH,
  SMTP_MAIL,
  SMTP_RCPT,
  SMTP_DATA,
  SMTP_BODY,
  SMTP_QUIT,
  SMTP_STATE_COUNT
};

static const char *const smtp_state_names[SMTP_STATE_COUNT] = {
    "BANNER", "EHLO", "HELO", "STARTTLS", "AUTH",
    "MAIL",   "RCPT", "DATA", "BODY",     "QUIT"};

/* What each state expects, where it is, and what any other reply means:
 * the error, and the sentence "<what> was <how> with <code>". */
static const struct smtp_row {
  int expect; /* the code that moves on */
  enum mp_phase phase;
  int fail; /* the error for other replies */
  const char *what, *how;
} smtp_expect[SMTP_STATE_COUNT] = {
    [SMTP_BANNER] = {220, MP_PHASE_BANNER, MP_E_REJECTED, "the greeting",
                     "answered"},
    [SMTP_EHLO] = {250, MP_PHASE_EHLO, MP_E_REJECTED, "EHLO", "answered"},
    [SMTP_HELO] = {250, MP_PHASE_EHLO, MP_E_REJECTED, "HELO", "answered"},
    [SMTP_STARTTLS] = {220, MP_PHASE_STARTTLS, MP_E_STARTTLS_REJECTED,
                       "STARTTLS", "answered"},
    [SMTP_AUTH] = {235, MP_PHASE_AUTH, MP_E_AUTH_FAILED, "AUTH", "answered"},
    [SMTP_MAIL] = {250, MP_PHASE_SEND, MP_E_REJECTED, "MAIL FROM", "refused"},
    [SMTP_RCPT] = {250, MP_PHASE_SEND, MP_E_REJECTED, "RCPT TO", "refused"},
    [SMTP_DATA] = {354, MP_PHASE_SEND, MP_E_REJECTED, "DATA", "refused"},
    [SMTP_BODY] = {250, MP_PHASE_SEND, MP_E_REJECTED, "the message", "refused"},
    [SMTP_QUIT] = {221, MP_PHASE_QUIT, 0, "QUIT", "answered"},
};

/* SASL framing numbers for SMTP (RFC 4954). */
#define SMTP_SASL_CONTINUE 334
#define SMTP_SASL_OK 235
/* RFC 4954 4: the AUTH command line is at most 512 octets (RFC 5321
 * 4.5.3.1.4); longer initial responses go after a 334 instead. */
static const struct mp_sasl_frame smtp_sasl = {"AUTH", 490};

static const struct mp_login_rules smtp_login = {
    .refused = "the server refused the credentials with every mechanism "
               "tried",
    .failed = "every mechanism tried failed",
    .none = "no login mechanism in common (the server offers others)",
    .none_mute = "no login mechanism in common (the server offers no AUTH)",
    .tls_if_clear_only = 1,
};

struct smtp {
  enum smtp_state st;
  struct mp_smtp_reply reply;
  int starttls_offered;
  int auth_offered; /* an AUTH line was seen */
  unsigned sasl_offered;
};

static void smtp_set(struct mp_probe *p, enum smtp_state st)
{
  struct smtp *s = p->state;
  mp_session_move(p, smtp_state_names[s->st], smtp_state_names[st],
                  smtp_expect[st].phase);
  s->st = st;
}

/* Sets the next state and sends its command. */
static void send_cmd(struct mp_probe *p, enum smtp_state st, const char *line)
{
  smtp_set(p, st);
  mp_session_send(p, line);
}

/* The reply does not let the state move on: the error of its row. */
static void refuse(struct mp_probe *p, int code)
{
  struct smtp *s = p->state;
  const struct smtp_row *e = &smtp_expect[s->st];
  mp_session_fail_quit(p, e->fail, "%s was %s with %d", e->what, e->how, code);
}

static void smtp_start(struct mp_probe *p)
{
  struct smtp *s = p->state;
  mp_smtp_reply_init(&s->reply);
  s->st = SMTP_BANNER;
}

static void send_quit(struct mp_probe *p)
{
  smtp_set(p, SMTP_QUIT);
  mp_session_quit_deadline(p);
  mp_session_send(p, "QUIT");
}

/* RFC 5321 4.1.1.10 and 3.1 (a server that greets with 554 waits for
 * QUIT); not after 421: the server is closing the channel (3.8). */
static void smtp_goodbye(struct mp_probe *p, char *line, size_t cap)
{
  struct smtp *s = p->state;
  snprintf(line, cap, "%s", s->reply.code != 421 ? "QUIT" : "");
}

/* The end of the session's checks: a message to send, or goodbye. */
static void send_mail_or_quit(struct mp_probe *p)
{
  if (!p->o.mail_from) {
    send_quit(p);
    return;
  }
  char line[1100];
  /* RFC 5321 4.1.1.2: MAIL FROM:<reverse-path>. */
  snprintf(line, sizeof(line), "MAIL FROM:<%s>", p->o.mail_from);
  send_cmd(p, SMTP_MAIL, line);
}

/* Sends the message with dot-stuffing (RFC 5321 4.5.2) and the final
 * "." line, as one write. */
static void send_body(struct mp_probe *p)
{
  const char *m = p->o.message ? p->o.message : "";
  size_t len = p->o.message_len, lines = 1;
  for (size_t i = 0; i < len; i++)
    lines += m[i] == '\n';
  char *out = malloc(len + lines + 8), *o = out;
  if (!out) {
    mp_session_fail(p, MP_E_NO_RESOURCES, "out of memory");
    return;
  }
  int bol = 1;
  for (size_t i = 0; i < len; i++) {
    if (bol && m[i] == '.')
      *o++ = '.';
    *o++ = m[i];
    bol = m[i] == '\n';
  }
  if (!bol) {
    *o++ = '\r';
    *o++ = '\n';
  }
  memcpy(o, ".\r\n", 3);
  o += 3;
  smtp_set(p, SMTP_BODY);
  char note[64];
  snprintf(note, sizeof(note), "(message of %zu bytes)", len);
  mp_session_log(p, 'c', note);
  mp_session_write(p, out, (size_t)(o - out), "could not send the message");
  free(out);
}

static void send_ehlo(struct mp_probe *p, enum smtp_state st)
{
  struct smtp *s = p->state;
  char line[600];
  snprintf(line, sizeof(line), "%s %s", st == SMTP_EHLO ? "EHLO" : "HELO",
           p->o.helo);
  s->starttls_offered = 0;
  s->auth_offered = 0;
  s->sasl_offered = 0;
  send_cmd(p, st, line);
}

/* Reads the capabilities of a 250 EHLO reply (RFC 5321 4.1.1.1): the
 * first line greets, each further line is "KEYWORD [params]". */
static void parse_caps(struct smtp *s)
{
  char line[MP_CONN_MAX_LINE + 1];
  for (size_t i = 1; i < s->reply.lines; i++) {
    if (mp_smtp_reply_line(&s->reply, i, line, sizeof(line)) < 0)
      break;
    size_t kw = strcspn(line, " =");
    if (mp_word_is(line, kw, "STARTTLS")) {
      s->starttls_offered = 1;
    } else if (mp_word_is(line, kw, "AUTH")) {
      /* "AUTH PLAIN LOGIN" and the old "AUTH=PLAIN LOGIN" alike. */
      s->auth_offered = 1;
      s->sasl_offered |= mp_sasl_mask_from_list(line + 4 + (line[4] != 0));
    }
  }
}

/* Sends AUTH with the strongest mechanism left, or gives up with the
 * error that says why (probes/login.c). */
static void send_auth(struct mp_probe *p)
{
  struct smtp *s = p->state;
  struct mp_login *l = &p->login;
  l->offered = s->sasl_offered;
  l->announced = s->auth_offered;
  /* No AUTH line at all, but STARTTLS: login waits for TLS. */
  l->tls_hint = !s->auth_offered && s->starttls_offered;
  if (s->st != SMTP_AUTH)
    smtp_set(p, SMTP_AUTH);
  int mech = mp_login_next(p, &smtp_login);
  char line[600];
  if (mech < 0 ||
      mp_login_sasl_begin(p, &smtp_sasl, mech, line, sizeof(line)) < 0)
    return;
  mp_session_send(p, line);
}

/* After the capabilities: TLS first if wanted, then login, then QUIT. */
static void after_ehlo(struct mp_probe *p)
{
  struct smtp *s = p->state;
  if (!p->in_tls && p->o.tls == MP_TLSMODE_STARTTLS && !s->starttls_offered) {
    mp_session_fail_quit(p, MP_E_STARTTLS_UNSUPPORTED,
                         "the server does not offer STARTTLS%s",
                         s->st == SMTP_HELO ? " (it refused EHLO)" : "");
    return;
  }
  if (!p->in_tls && s->starttls_offered &&
      (p->o.tls == MP_TLSMODE_STARTTLS || p->o.tls == MP_TLSMODE_AUTO)) {
    send_cmd(p, SMTP_STARTTLS, "STARTTLS");
  } else if (p->o.user) {
    send_auth(p);
  } else {
    send_mail_or_quit(p);
  }
}

/* ---- one handler per state: the reply to its command --------------- */

static void on_banner(struct mp_probe *p, int code)
{
  if (code == 220)
    send_ehlo(p, SMTP_EHLO);
  else if (code >= 400)
    mp_session_fail_quit(p, MP_E_REJECTED, "the server greeted with %d", code);
  else
    mp_session_fail(p, MP_E_PROTOCOL_ERROR,
                    "the server greeted with %d instead of 220", code);
}

static void on_ehlo(struct mp_probe *p, int code)
{
  struct smtp *s = p->state;
  if (code == 250) {
    parse_caps(s);
    after_ehlo(p);
  } else if (code >= 500 && code != 554 && !p->in_tls) {
    /* RFC 5321 3.2: a server that does not know EHLO gets HELO. */
    send_ehlo(p, SMTP_HELO);
  } else {
    refuse(p, code);
  }
}

static void on_helo(struct mp_probe *p, int code)
{
  if (code == 250)
    after_ehlo(p);
  else
    refuse(p, code);
}

static void on_starttls(struct mp_probe *p, int code)
{
  if (code == 220)
    mp_session_starttls(p);
  else
    refuse(p, code);
}

/* A challenge, success, or this mechanism failed. */
static void on_auth(struct mp_probe *p, int code)
{
  struct smtp *s = p->state;
  if (code == SMTP_SASL_CONTINUE) {
    mp_login_sasl_answer(p, s->reply.text ? s->reply.text : "");
    return;
  }
  if (code == SMTP_SASL_OK) {
    if (mp_login_accepted(p) == 0)
      send_mail_or_quit(p);
    return;
  }
  if (code == 421) {
    mp_session_fail(p, MP_E_REJECTED, "the server closed the session (421)");
    return;
  }
  if (mp_login_refused(p) < 0)
    return;
  /* RFC 3207 4: a server that wants TLS first answers 530 to every command
   * but NOOP, EHLO, STARTTLS and QUIT, so after a 530 to AUTH every other
   * mechanism meets the same 530: stop here rather than send a cleartext
   * password (PLAIN, LOGIN) that can only be refused. Inside TLS a 530
   * is just this mechanism refused. */
  if (code == 530 && !p->in_tls) {
    mp_session_fail_quit(
        p, MP_E_AUTH_TLS_REQUIRED,
        "the server wants TLS before login (530), and tls is %s",
        mp_tls_mode_name(p->o.tls));
    return;
  }
  /* RFC 4954 6: 535 5.7.8 refuses the credentials, and every other
   * mechanism would be refused too; 538 5.7.11 asks for encryption for
   * this mechanism only; 504, 534, 454 (and 5.5.4) refuse this mechanism,
   * so the next one is tried. */
  if (code == 535) {
    mp_login_refused_for_good(p);
    return;
  }
  if (code == 538)
    p->login.tls_asked = 1;
  send_auth(p);
}

/* MAIL, RCPT, DATA and the end of the message (RFC 5321 4.3.2). */
static void on_send(struct mp_probe *p, int code)
{
  struct smtp *s = p->state;
  if (code != smtp_expect[s->st].expect &&
      !(s->st == SMTP_RCPT && code == 251)) {
    refuse(p, code);
    return;
  }
  char line[1100];
  switch (s->st) {
  case SMTP_MAIL:
    snprintf(line, sizeof(line), "RCPT TO:<%s>", p->o.rcpt_to);
    send_cmd(p, SMTP_RCPT, line);
    return;
  case SMTP_RCPT:
    send_cmd(p, SMTP_DATA, "DATA");
    return;
  case SMTP_DATA:
    send_body(p);
    return;
  default:
    p->r->sent_at_us = mp_now_us();
    send_quit(p);
    return;
  }
}

static void on_quit(struct mp_probe *p, int code)
{
  (void)code;
  mp_session_ok(p);
}

static void (*const on_state[SMTP_STATE_COUNT])(struct mp_probe *, int) = {
    [SMTP_BANNER] = on_banner,     [SMTP_EHLO] = on_ehlo, [SMTP_HELO] = on_helo,
    [SMTP_STARTTLS] = on_starttls, [SMTP_AUTH] = on_auth, [SMTP_MAIL] = on_send,
    [SMTP_RCPT] = on_send,         [SMTP_DATA] = on_send, [SMTP_BODY] = on_send,
    [SMTP_QUIT] = on_quit,
};

static void smtp_line(struct mp_probe *p, char *line, size_t len)
{
  struct smtp *s = p->state;
  int rc = mp_smtp_reply_feed(&s->reply, line, len);
  if (rc == MP_EAGAIN)
    return;
  if (rc < 0) {
    if (s->st == SMTP_QUIT) {
      mp_session_ok(p); /* a garbled goodbye is still a goodbye */
      return;
    }
    if (s->reply.lines >= MP_SMTP_REPLY_MAX_LINES)
      mp_session_fail(p, MP_E_PROTOCOL_ERROR,
                      "a reply of more than %d lines in %s",
                      MP_SMTP_REPLY_MAX_LINES, mp_phase_name(p->phase));
    else
      mp_session_fail(p, MP_E_PROTOCOL_ERROR, "a malformed reply line in %s",
                      mp_phase_name(p->phase));
    return;
  }
  /* A server speaks only when spoken to (RFC 5321 4.3.1): bytes after a
   * complete reply, before our next command, are not a reply to it. */
  if (mp_conn_buffered(p->conn) > 0 && s->st != SMTP_QUIT &&
      !(s->st == SMTP_STARTTLS && s->reply.code == 220)) {
    mp_session_reply(p, s->reply.code, s->reply.text);
    mp_session_fail(p, MP_E_PROTOCOL_ERROR,
                    "the server sent %zu bytes nobody asked for after a "
                    "%d reply",
                    mp_conn_buffered(p->conn), s->reply.code);
    return;
  }
  mp_session_reply(p, s->reply.code, s->reply.text);
  on_state[s->st](p, s->reply.code);
  if (!p->finished)
    mp_smtp_reply_reset(&s->reply);
}

static void smtp_tls_done(struct mp_probe *p)
{
  /* RFC 3207 4.2: discard what we knew and ask again. */
  send_ehlo(p, SMTP_EHLO);
}

static void smtp_cleanup(struct mp_probe *p)
{
  struct smtp *s = p->state;
  if (!s)
    return;
  mp_smtp_reply_free(&s->reply);
}

const struct mp_probe_proto mp_smtp_proto = {
    .name = "SMTP",
    .state_size = sizeof(struct smtp),
    .start = smtp_start,
    .line = smtp_line,
    .tls_done = smtp_tls_done,
    .goodbye = smtp_goodbye,
    .cleanup = smtp_cleanup,
};
