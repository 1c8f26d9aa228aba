/* The login decision the SMTP, POP3 and IMAP probes share (curl's
 * Curl_sasl_start/continue): which method comes next, strongest first, and
 * when none is left, which error says why. The SASL exchange of a method
 * and the end of a login (accepted, refused) are here too. Internal to
 * probes/. */
#ifndef MP_LOGIN_H
#define MP_LOGIN_H

#include <stddef.h>

struct mp_probe;
struct mp_sasl_client;

/* A login method: a SASL mechanism of wire/sasl.h (0 ...), or one of the
 * simple ones, numbered so that 1u << method is its MP_AUTH_* bit
 * (probes/probe.h). */
enum {
  MP_LOGIN_USER = 16, /* POP3 USER/PASS (RFC 1939 7) */
  MP_LOGIN_APOP = 17, /* POP3 APOP (RFC 1939 7) */
  MP_LOGIN_CMD = 18   /* IMAP LOGIN (RFC 9051 6.2.3) */
};
#define MP_LOGIN_BIT(m) (1u << (m))

/* One probe's login so far. The protocol sets offered, announced and
 * tls_hint from the capabilities before each mp_login_next, and refused
 * or tls_asked when the server says why a method failed; the rest is
 * kept here. It lives through STARTTLS: a method refused before TLS is
 * not tried again after it. */
struct mp_login {
  unsigned offered; /* methods the server offers (MP_LOGIN_BIT) */
  int announced;    /* the server said something about login (an SMTP AUTH
                       line, even with no mechanism we know) */
  int tls_hint;     /* the capabilities say login waits for TLS */
  unsigned tried;   /* methods tried so far */
  int method;       /* the method in progress, -1 before the first */
  int refused;      /* a method was refused for the credentials */
  int tls_asked;    /* a method was refused until TLS */
  /* the SASL exchange in progress (mp_login_sasl_*) */
  struct mp_sasl_client *sasl;
  int sasl_began;     /* the client's first message went out */
  int sasl_cancelled; /* we answered "*" */
  int sasl_sent;      /* messages of ours sent (the initial one too) */
  int sasl_done;      /* the mechanism said it needs nothing more */
  int oauth_not_json; /* a bearer token was refused with an error
                         challenge that is no JSON object */
};

/* What differs between the protocols when no method is left: the
 * sentences, and when a failure outside TLS means TLS is needed. */
struct mp_login_rules {
  const char *refused;   /* every method refused for the credentials */
  const char *failed;    /* every method tried failed otherwise */
  const char *none;      /* no method in common */
  const char *none_mute; /* the same, when the server announced none */
  /* auth_tls_required only when every method offered that the user
   * allows is one we may not use outside TLS (SMTP); 0: whenever one is
   * offered outside TLS (POP3, IMAP). */
  int tls_if_clear_only;
};

/* The rules of POP3 and IMAP, whose logins mix SASL and simple commands
 * ("method" where SMTP says "mechanism"). */
extern const struct mp_login_rules mp_login_method_rules;

/* The allowed login methods for the current TLS state: everything the user
 * allowed, less cleartext SASL and simple logins when not in TLS and the
 * mode is not none (never a password in clear unless tls is none). */
unsigned mp_login_allowed(const struct mp_probe *p);

/* The strongest method offered, allowed and not tried yet: SASL by
 * strength, APOP before the cleartext mechanisms (it never shows the
 * password), then USER, then IMAP LOGIN. -1 when none is left. Pure. */
int mp_login_choose(unsigned offered, unsigned allowed, unsigned tried);

/* No method is left: the error that says why (MP_E_AUTH_FAILED,
 * MP_E_AUTH_TLS_REQUIRED or MP_E_AUTH_UNSUPPORTED) and, in *why, its
 * sentence from r. user_all: what the user allows in any TLS state. Pure. */
int mp_login_verdict(const struct mp_login *l, const struct mp_login_rules *r,
                     unsigned allowed, unsigned user_all, int in_tls,
                     const char **why);

/* The next method: marks it tried and returns it, in the auth phase. When
 * none is left, fails the probe (after the goodbye) with the verdict's
 * error and returns -1. */
int mp_login_next(struct mp_probe *p, const struct mp_login_rules *r);

/* "CRAM-MD5", "USER", "APOP", "LOGIN": a method's name in results. */
const char *mp_login_name(int method);

/* The server accepted the login: 0 and the method goes into the result,
 * or -1 when the probe failed because a SASL exchange was not complete
 * (mp_login_sasl_complete): a server that reports success before that
 * accepted a login it never checked. */
int mp_login_accepted(struct mp_probe *p);

/* The server refused the method in progress: -1 when that ended the probe
 * (we had cancelled the SASL exchange, so the refusal is the server's
 * fault, not the credentials'), else 0: the caller notes why and goes on
 * with mp_login_next. */
int mp_login_refused(struct mp_probe *p);

/* The server refused the credentials themselves (SMTP 535 5.7.8, POP3
 * -ERR [AUTH], IMAP NO [AUTHENTICATIONFAILED] or NO to LOGIN): fails the
 * probe with auth_failed after the goodbye, without trying another method.
 * Every further method would be refused the same way and count as one
 * more failed login against fail2ban or the server's auth penalty. */
void mp_login_refused_for_good(struct mp_probe *p);

/* What differs between the protocols' SASL commands (curl's per-protocol
 * numbers): the verb, and the longest initial response that may go on
 * the command line (0: never, as IMAP without SASL-IR). */
struct mp_sasl_frame {
  const char *verb; /* "AUTH" (SMTP, POP3), "AUTHENTICATE" (IMAP) */
  size_t max_initial;
};

/* Starts SASL mechanism mech: builds "VERB MECH [initial-response]" into
 * cmd (of size cap). An initial response too long for the frame goes
 * after the server's first, empty challenge instead (RFC 4954 4, RFC 5034
 * 4, RFC 4959 3). 0, or the probe has failed. */
int mp_login_sasl_begin(struct mp_probe *p, const struct mp_sasl_frame *f,
                        int mech, char *cmd, size_t cap);

/* Answers one server challenge (the base64 text, "" when empty): sends the
 * response, masked in the transcript, or "*" to cancel when the challenge
 * makes no sense. */
void mp_login_sasl_answer(struct mp_probe *p, const char *challenge);

/* 1 when our side of the SASL exchange is over: every message of the
 * mechanism sent and, for SCRAM, the server's signature checked (RFC 5802
 * 5: the server proves it knows the password too). */
int mp_login_sasl_complete(const struct mp_login *l);

/* Frees the SASL exchange. */
void mp_login_free(struct mp_login *l);

#endif
