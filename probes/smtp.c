/* The SMTP probe (RFC 5321, STARTTLS RFC 3207, AUTH RFC 4954): greeting,
 * EHLO (HELO when EHLO is refused), STARTTLS and EHLO again, AUTH with the
 * strongest mechanism both sides have, QUIT. A state machine fed whole
 * replies; the expected code of each state sits in one table. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* What each state expects, where it is, and what any other reply means. */
static const struct {
  int expect; /* the code that moves on */
  enum mp_phase phase;
  int fail; /* the error for other replies */
} smtp_expect[SMTP_STATE_COUNT] = {
    [SMTP_BANNER] = {220, MP_PHASE_BANNER, MP_E_REJECTED},
    [SMTP_EHLO] = {250, MP_PHASE_EHLO, MP_E_REJECTED},
    [SMTP_HELO] = {250, MP_PHASE_EHLO, MP_E_REJECTED},
    [SMTP_STARTTLS] = {220, MP_PHASE_STARTTLS, MP_E_STARTTLS_REJECTED},
    [SMTP_AUTH] = {235, MP_PHASE_AUTH, MP_E_AUTH_FAILED},
    [SMTP_MAIL] = {250, MP_PHASE_SEND, MP_E_REJECTED},
    [SMTP_RCPT] = {250, MP_PHASE_SEND, MP_E_REJECTED},
    [SMTP_DATA] = {354, MP_PHASE_SEND, MP_E_REJECTED},
    [SMTP_BODY] = {250, MP_PHASE_SEND, MP_E_REJECTED},
    [SMTP_QUIT] = {221, MP_PHASE_QUIT, 0},
};

/* SASL framing numbers for SMTP (RFC 4954). */
#define SMTP_SASL_CONTINUE 334
#define SMTP_SASL_OK 235
/* RFC 4954 4: the AUTH command line is at most 512 octets (RFC 5321
 * 4.5.3.1.4); longer initial responses go after a 334 instead. */
static const struct mp_sasl_frame smtp_sasl = {"AUTH", 490};

struct smtp {
  enum smtp_state st;
  struct mp_smtp_reply reply;
  int starttls_offered;
  int auth_offered; /* an AUTH line was seen */
  unsigned sasl_offered;
  unsigned tried;
  int saw_535;     /* a mechanism was refused for the credentials */
  int saw_tls_req; /* 530 5.7.0 / 538: TLS first */
};

static void smtp_set(struct mp_probe *p, enum smtp_state st)
{
  struct smtp *s = p->state;
  mp_session_trace(p, smtp_state_names[s->st], smtp_state_names[st]);
  s->st = st;
  if (p->phase != smtp_expect[st].phase)
    mp_session_phase(p, smtp_expect[st].phase);
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

/* Fails the probe while the session is still in step: says QUIT first, as
 * RFC 5321 4.1.1.10 asks ("The sender MUST NOT intentionally close the
 * transmission channel until it sends a QUIT command"; 3.1: a server that
 * greets with 554 waits for it). The close that follows writes the queued
 * QUIT out; the reply is not awaited (a SHOULD), so the result keeps the
 * phase and reply that failed. Not for 421 (the server is closing the
 * channel, RFC 5321 3.8) nor for a session out of step (protocol errors,
 * TLS failures). */
__attribute__((format(printf, 3, 4))) static void
fail_quit(struct mp_probe *p, int err, const char *fmt, ...)
{
  struct smtp *s = p->state;
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (s->reply.code != 421)
    mp_session_send(p, "QUIT");
  mp_session_fail(p, err, "%s", buf);
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
  smtp_set(p, SMTP_MAIL);
  mp_session_send(p, line);
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
  int rc = mp_conn_write(p->conn, out, (size_t)(o - out));
  free(out);
  if (rc < 0)
    mp_session_fail(p, rc, "could not send the message");
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
  smtp_set(p, st);
  mp_session_send(p, line);
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
    if (kw == 8 && strncasecmp(line, "STARTTLS", 8) == 0) {
      s->starttls_offered = 1;
    } else if (kw == 4 && strncasecmp(line, "AUTH", 4) == 0) {
      /* "AUTH PLAIN LOGIN" and the old "AUTH=PLAIN LOGIN" alike. */
      s->auth_offered = 1;
      s->sasl_offered |= mp_sasl_mask_from_list(line + 4 + (line[4] != 0));
    }
  }
}

static void smtp_auth_next(struct mp_probe *p);

/* After the capabilities: TLS first if wanted, then login, then QUIT. */
static void after_ehlo(struct mp_probe *p)
{
  struct smtp *s = p->state;
  if (!p->in_tls && p->o.tls == MP_TLSMODE_STARTTLS && !s->starttls_offered) {
    fail_quit(p, MP_E_STARTTLS_UNSUPPORTED,
              "the server does not offer STARTTLS%s",
              s->st == SMTP_HELO ? " (it refused EHLO)" : "");
    return;
  }
  if (!p->in_tls && s->starttls_offered &&
      (p->o.tls == MP_TLSMODE_STARTTLS || p->o.tls == MP_TLSMODE_AUTO)) {
    smtp_set(p, SMTP_STARTTLS);
    mp_session_send(p, "STARTTLS");
    return;
  }
  if (!p->o.user) {
    send_mail_or_quit(p);
    return;
  }
  smtp_auth_next(p);
}

/* Picks the strongest mechanism left and sends AUTH, or gives up with the
 * error that says why. */
static void smtp_auth_next(struct mp_probe *p)
{
  struct smtp *s = p->state;
  unsigned allowed = mp_session_login_allowed(p) & MP_SASL_ALL;
  if (s->st != SMTP_AUTH)
    smtp_set(p, SMTP_AUTH);
  int mech = mp_sasl_choose(s->sasl_offered, allowed, s->tried);
  if (mech < 0) {
    unsigned all = p->o.auth ? p->o.auth & MP_SASL_ALL : MP_SASL_ALL;
    int clear_only =
        !p->in_tls && (s->sasl_offered & all) && !(s->sasl_offered & allowed);
    if (s->saw_535)
      fail_quit(p, MP_E_AUTH_FAILED,
                "the server refused the credentials with every "
                "mechanism tried");
    else if (s->saw_tls_req || clear_only ||
             (!s->auth_offered && !p->in_tls && s->starttls_offered))
      fail_quit(p, MP_E_AUTH_TLS_REQUIRED, "login needs TLS, and tls is %s",
                mp_tls_mode_name(p->o.tls));
    else if (s->tried)
      fail_quit(p, MP_E_AUTH_FAILED, "every mechanism tried failed");
    else
      fail_quit(p, MP_E_AUTH_UNSUPPORTED,
                "no login mechanism in common (the server offers %s)",
                s->auth_offered ? "others" : "no AUTH");
    return;
  }
  s->tried |= MP_SASL_BIT(mech);
  char line[600], shown[600];
  if (mp_session_sasl_begin(p, &smtp_sasl, mech, line, shown, sizeof(line)) < 0)
    return;
  mp_session_send_secret(p, line, shown);
}

/* One reply during AUTH: a challenge, success, or this mechanism failed. */
static void on_auth_reply(struct mp_probe *p)
{
  struct smtp *s = p->state;
  int code = s->reply.code;
  if (code == SMTP_SASL_CONTINUE) {
    mp_session_sasl_answer(p, s->reply.text ? s->reply.text : "");
    return;
  }
  if (code == SMTP_SASL_OK) {
    if (!mp_session_sasl_complete(p)) {
      fail_quit(p, MP_E_PROTOCOL_ERROR,
                "the server accepted %s before the exchange was complete",
                mp_sasl_name(p->sasl_mech));
      return;
    }
    p->r->auth = mp_sasl_name(p->sasl_mech);
    send_mail_or_quit(p);
    return;
  }
  if (code == 421) {
    mp_session_fail(p, MP_E_REJECTED, "the server closed the session (421)");
    return;
  }
  if (p->sasl_cancelled) {
    fail_quit(p, MP_E_PROTOCOL_ERROR,
              "the server sent a SASL challenge we could not answer");
    return;
  }
  /* RFC 3207 4: a server that wants TLS first answers 530 to every command
   * but NOOP, EHLO, STARTTLS and QUIT, so after a 530 to AUTH every other
   * mechanism meets the same 530: stop here rather than send a cleartext
   * password (PLAIN, LOGIN) that can only be refused. Inside TLS a 530
   * is just this mechanism refused. */
  if (code == 530 && !p->in_tls) {
    fail_quit(p, MP_E_AUTH_TLS_REQUIRED,
              "the server wants TLS before login (530), and tls is %s",
              mp_tls_mode_name(p->o.tls));
    return;
  }
  /* RFC 4954 6: 538 5.7.11 asks for encryption for this mechanism only;
   * 535 refuses the credentials; 504, 534, 454 refuse this mechanism. */
  if (code == 538)
    s->saw_tls_req = 1;
  else if (code == 535)
    s->saw_535 = 1;
  smtp_auth_next(p);
}

/* MAIL, RCPT, DATA and the end of the message (RFC 5321 4.3.2). */
static void on_send_reply(struct mp_probe *p, int code)
{
  struct smtp *s = p->state;
  static const char *const what[] = {[SMTP_MAIL] = "MAIL FROM",
                                     [SMTP_RCPT] = "RCPT TO",
                                     [SMTP_DATA] = "DATA",
                                     [SMTP_BODY] = "the message"};
  int good =
      code == smtp_expect[s->st].expect || (s->st == SMTP_RCPT && code == 251);
  if (!good) {
    fail_quit(p, MP_E_REJECTED, "%s was refused with %d", what[s->st], code);
    return;
  }
  char line[1100];
  switch (s->st) {
  case SMTP_MAIL:
    snprintf(line, sizeof(line), "RCPT TO:<%s>", p->o.rcpt_to);
    smtp_set(p, SMTP_RCPT);
    mp_session_send(p, line);
    return;
  case SMTP_RCPT:
    smtp_set(p, SMTP_DATA);
    mp_session_send(p, "DATA");
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

static void on_reply(struct mp_probe *p)
{
  struct smtp *s = p->state;
  int code = s->reply.code;
  mp_session_reply(p, code, s->reply.text);
  switch (s->st) {
  case SMTP_BANNER:
    if (code != 220) {
      if (code >= 400)
        fail_quit(p, MP_E_REJECTED, "the server greeted with %d", code);
      else
        mp_session_fail(p, MP_E_PROTOCOL_ERROR,
                        "the server greeted with %d instead of 220", code);
      return;
    }
    send_ehlo(p, SMTP_EHLO);
    return;
  case SMTP_EHLO:
    if (code == 250) {
      parse_caps(s);
      after_ehlo(p);
    } else if (code >= 500 && code != 554 && !p->in_tls) {
      /* RFC 5321 3.2: a server that does not know EHLO gets HELO. */
      send_ehlo(p, SMTP_HELO);
    } else {
      fail_quit(p, MP_E_REJECTED, "EHLO was answered with %d", code);
    }
    return;
  case SMTP_HELO:
    if (code != 250) {
      fail_quit(p, MP_E_REJECTED, "HELO was answered with %d", code);
      return;
    }
    after_ehlo(p);
    return;
  case SMTP_STARTTLS:
    if (code != 220) {
      fail_quit(p, MP_E_STARTTLS_REJECTED, "STARTTLS was answered with %d",
                code);
      return;
    }
    mp_session_starttls(p);
    return;
  case SMTP_AUTH:
    on_auth_reply(p);
    return;
  case SMTP_MAIL:
  case SMTP_RCPT:
  case SMTP_DATA:
  case SMTP_BODY:
    on_send_reply(p, code);
    return;
  case SMTP_QUIT:
    mp_session_ok(p);
    return;
  case SMTP_STATE_COUNT:
    break;
  }
}

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
  on_reply(p);
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
    .cleanup = smtp_cleanup,
};
