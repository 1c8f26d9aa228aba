/* Scriptable fake mail servers (SMTP, POP3, IMAP) on the shared line engine.
 *
 * A server is described by a plain struct (filled by the harness's case
 * parser, or by code); its script is a list of rules matched in each
 * session. It records every line it received, for assertions. */
#ifndef MP_FAKE_H
#define MP_FAKE_H

#include <stddef.h>
#include <stdint.h>

struct uv_loop_s;
struct mp_ca;
struct mp_mailstore;
struct mp_tls_ctx;
struct mp_fake_server;
struct mp_cert_facts;

enum mp_fake_proto { MP_FAKE_SMTP = 0, MP_FAKE_POP3, MP_FAKE_IMAP };
enum mp_fake_tls {
  MP_FAKE_TLS_NONE = 0,
  MP_FAKE_TLS_STARTTLS, /* offers STARTTLS / STLS */
  MP_FAKE_TLS_IMPLICIT  /* TLS from the first byte */
};

/* When a rule fires. */
enum mp_rule_on {
  MP_ON_CONNECT = 0, /* the greeting (after the handshake on implicit TLS) */
  MP_ON_COMMAND,     /* a command verb (match = "EHLO"; IMAP: after tag) */
  MP_ON_LINE,        /* a received command line, or a continuation line
                        (a SASL response), matching a glob (match,
                        fnmatch, case-insensitive); never message text */
  MP_ON_TLS,         /* the TLS handshake is about to start (STARTTLS
                        go-ahead sent, or implicit TLS on connect) */
  MP_ON_MESSAGE      /* SMTP: the end of DATA (the final ".") */
};

/* What happens after the rule's output. */
enum mp_rule_then {
  MP_THEN_CONTINUE = 0, /* carry on with the session */
  MP_THEN_CLOSE,        /* close the connection (FIN) */
  MP_THEN_RESET,        /* close with RST */
  MP_THEN_HANG,         /* never answer again, never close */
  MP_THEN_STARTTLS      /* start the TLS handshake now (with a reply
                           that replaced the server's own go-ahead) */
};

/* How a TLS handshake goes wrong on purpose (MP_ON_TLS rules or the
 * server's tls_fault). */
enum mp_tls_fault {
  MP_TLS_FAULT_NONE = 0,
  MP_TLS_FAULT_CLOSE,    /* close instead of answering the ClientHello */
  MP_TLS_FAULT_GARBAGE,  /* answer with plain text */
  MP_TLS_FAULT_ALERT,    /* send a TLS alert record, then close */
  MP_TLS_FAULT_STALL,    /* read the ClientHello, never answer */
  MP_TLS_FAULT_ALERT_MID /* answer the ClientHello for real, but cut the
                            server's first flight after its first record
                            (the ServerHello) with a fatal alert, then
                            close: an alert in the middle of the
                            handshake */
};

/* A rule's repeat that never ends: the output goes on until the client
 * leaves (or stops reading for the idle timeout). */
#define MP_REPEAT_FOREVER UINT64_MAX

struct mp_fake_rule {
  enum mp_rule_on on;
  char *match;  /* verb (case-insensitive) or glob; NULL for
                   connect/tls/message */
  unsigned nth; /* 0: every match; n: only the n-th match in the
                   session (every rule counts every event it
                   matches, whether an earlier rule fired or not) */
  unsigned sessions_from, sessions_to; /* 0, 0: in every session; else
                        only in the server's sessions numbered from..to
                        (1-based; a monitor's test n is session n) */
  int when_tls;      /* -1 any, 0 only before TLS, 1 only after TLS
                        (0 is not "any": code-built rules set -1) */
  uint64_t delay_ms; /* wait before acting (the session reads nothing
                        meanwhile) */
  char **reply;      /* lines sent instead of the server's own answer,
                        CRLF added to each; NULL: the server's answer
                        (and its effect, like starting TLS). Non-NULL
                        with nreply 0: answer nothing. A replaced
                        command takes no effect (a replaced MAIL starts
                        no transaction, a replaced end of DATA delivers
                        nothing). On MP_ON_TLS rules reply and send go
                        out in plain text before the handshake. IMAP:
                        "{tag}" in a line becomes the tag of the command
                        answered ("*" before the first command), and a
                        "* PREAUTH" greeting logs the session in as the
                        first user (fake_servers/imap.c). */
  size_t nreply;
  char *send; /* bytes sent as they are, after the reply */
  size_t send_len;
  uint32_t drip_bytes;    /* >0: send the output drip_bytes at a time ... */
  uint64_t drip_every_ms; /* ... every drip_every_ms */
  enum mp_rule_then then;
  enum mp_tls_fault tls_fault; /* for MP_ON_TLS rules */
  /* 0 or 1: the output goes out once. n > 1: `send` goes out n times
   * after the reply; a rule without send repeats its whole output (the
   * reply, or the server's own answer). MP_REPEAT_FOREVER: without end.
   * The copies are made as the client reads them (the queue stays small),
   * dripped when drip is set; the effect and `then` follow the last. */
  uint64_t repeat;
  /* MP_ON_TLS rules: >0: from the handshake on, the server's TLS bytes
   * (records, ciphertext) go out tls_drip_bytes at a time every
   * tls_drip_every_ms (0: one piece per loop turn), so the client reads
   * every record in pieces. */
  uint32_t tls_drip_bytes;
  uint64_t tls_drip_every_ms;
  /* With reply: the command takes effect in the server all the same (EHLO
   * still greets, LOGIN still logs in, STARTTLS still starts TLS) though
   * the client is told something else: capabilities that change, a
   * success worded oddly. */
  int take_effect;
};

struct mp_fake_user {
  char *name;
  char *password;
};

/* An OAuth 2.0 access token the server accepts for XOAUTH2 and
 * OAUTHBEARER (fake_servers/oauth.c). */
struct mp_fake_token {
  char *token;
  char *user;          /* whose it is */
  char *scope;         /* space-separated scopes it grants, or NULL: none */
  uint64_t expires_ms; /* it expires this long after the server started;
                          0: never */
  int expired;         /* already expired when the server starts */
};

/* How the server refuses a token: the error challenge and the final
 * reply of each protocol as a service sends them. */
enum mp_fake_oauth_style {
  MP_OAUTH_RFC7628 = 0, /* {"status":"invalid_token",...}, then the
                           protocol's own failure (RFC 7628 3.2.2) */
  MP_OAUTH_GOOGLE,      /* {"status":"401","schemes":"bearer mac",...},
                           then Gmail's replies */
  MP_OAUTH_MICROSOFT,   /* no challenge: Exchange Online's failure at once */
  MP_OAUTH_NOT_JSON     /* a challenge that is no JSON (an HTML page) */
};

/* The server's OAuth rules (`oauth:` in a case). */
struct mp_fake_oauth {
  char *scope;                    /* a token must grant it; NULL: any */
  enum mp_fake_oauth_style style; /* how a refusal looks */
  int require_ir;                 /* refuse an exchange without an
                                     initial response (SASL-IR) */
};

/* A mailbox seeded at start (POP3/IMAP): count messages of size bytes. */
struct mp_fake_mailbox {
  char *user;
  unsigned messages;
  size_t size;
};

/* What happens to a message the SMTP server accepted (round trips). */
struct mp_fake_delivery {
  uint64_t delay_ms; /* it shows up in the mailbox after this */
  int lose;          /* never shows up */
  int duplicate;     /* shows up twice */
  char *redirect;    /* shows up in this user's mailbox instead */
  char *subject;     /* its Subject is replaced with this */
};

struct mp_fake_config {
  char *name; /* "mx" */
  enum mp_fake_proto proto;
  enum mp_fake_tls tls;
  int cert;                        /* enum mp_cert_kind */
  int rsa;                         /* 1: RSA 2048 key, else ECDSA P-256 */
  struct mp_cert_facts *cert_like; /* or a certificate like a recorded
                                      one (wire/cert_like.h; owned), in
                                      place of cert and rsa; NULL: none */
  char *tls_version; /* offer only this version ("TLSv1.2"); NULL: any */
  char *cipher;      /* offer only this cipher (OpenSSL name); NULL: any */
  char *hostname;    /* greeting and certificate name;
                        default "mx.example.test" */
  struct mp_fake_user *users;
  size_t nusers;
  struct mp_fake_token *tokens; /* OAuth access tokens it accepts */
  size_t ntokens;
  struct mp_fake_oauth oauth;
  char **auth; /* SASL mechanisms advertised, in order */
  size_t nauth;
  int auth_set;          /* 1: auth was given (even empty) */
  int auth_requires_tls; /* refuse login before TLS (530 5.7.0,
                            -ERR, LOGINDISABLED) */
  char **advertise;      /* extra capabilities to advertise */
  size_t nadvertise;
  char **withhold; /* capabilities not to advertise
                      ("STARTTLS", "STLS", "AUTH", "USER") */
  size_t nwithhold;
  int apop; /* POP3: put an APOP timestamp in the greeting */
  enum mp_tls_fault tls_fault;
  struct mp_fake_mailbox *mailboxes;
  size_t nmailboxes;
  struct mp_fake_delivery delivery;
  struct mp_fake_rule *rules;
  size_t nrules;
  uint64_t idle_timeout_ms; /* close an idle session; 0: 60 s */
};

/* What the server saw: every line received, in order, per session.
 * Message text after the header's blank line is not kept (the header
 * lines and the final "." are); at most 50000 lines and 2 MiB of line
 * text per server, so a client flooding commands cannot make the record
 * grow without bound (lines past either cap are not recorded). */
struct mp_fake_seen {
  unsigned session; /* 1, 2, ... */
  int tls;          /* received inside TLS */
  uint64_t t_us;
  char *line;
  int input; /* a continuation line (a SASL response), not a command:
                it may be a secret whatever it looks like */
};

struct mp_fake_env {
  struct mp_ca *ca;           /* signs the certificates; required for TLS
                                 unless cert is MP_CERT_SELF_SIGNED */
  struct mp_mailstore *store; /* shared by all servers of a case
                                 (fake_servers/mailstore.h); may be NULL.
                                 mp_fake_start adds the config's users,
                                 the redirect user and seeds mailboxes. */
  struct mp_tls_ctx *tls_ctx; /* optional: a server context made once
                                 (wire/tls.h) that servers needing TLS
                                 share instead of issuing their own
                                 certificate from ca (the config's cert,
                                 hostname and rsa are then the maker's
                                 choice): for callers that start servers
                                 by the thousand, such as the fuzz
                                 targets. Referenced, not owned. */
};

/* Starts a server on host:port (port 0: any; read it back). The config is
 * copied. 0 or a negative code: MP_E_PROTOCOL_ERROR for a protocol that
 * is not one of enum mp_fake_proto, MP_E_TLS_FAILED when TLS is configured
 * without a CA (or the certificate could not be made), MP_E_CONNECT_FAILED when
 * host:port cannot be bound, MP_E_NO_RESOURCES. */
int mp_fake_start(struct uv_loop_s *loop, const struct mp_fake_config *cfg,
                  const struct mp_fake_env *env, const char *host,
                  uint16_t port, struct mp_fake_server **out);

uint16_t mp_fake_port(const struct mp_fake_server *s);

/* The lines received so far (owned by the server). */
const struct mp_fake_seen *mp_fake_seen(const struct mp_fake_server *s,
                                        size_t *n);

/* Sessions accepted so far. */
unsigned mp_fake_sessions(const struct mp_fake_server *s);

/* Sessions still open that may still receive lines (the client has not
 * gone); a session hung by a rule (then: hang) reads nothing and does not
 * count. */
unsigned mp_fake_live_sessions(const struct mp_fake_server *s);

/* Stops listening, closes every session, frees the server when the last
 * handle closed, then calls done (may be NULL). */
void mp_fake_stop(struct mp_fake_server *s, void (*done)(void *data),
                  void *data);

/* Closes every session (as mp_fake_stop does) but goes on listening, and
 * once the last one closed makes the server as mp_fake_start left it:
 * sessions numbered from 1 again, an empty record (mp_fake_seen), tokens
 * aging from now, and the config's users and seeded mailboxes put back
 * into its store, which it empties first (mp_mailstore_clear): only for a
 * server with a store of its own. Then done(data, 0), or an MP_E_* when
 * the store could not be refilled; done runs before mp_fake_reset returns
 * when no session was open. A connection that comes meanwhile is
 * refused. A stopped or stopping server is not reset, and a second call
 * while one is pending is ignored: their done never runs.
 * For runs of many short conversations with one server, each as if the
 * first (the fuzz targets). */
void mp_fake_reset(struct mp_fake_server *s, void (*done)(void *data, int rc),
                   void *data);

/* 1 if the proto server dispatches the command verb name (compared
 * case-insensitively, whole): the verbs a script's `on:` can name. The
 * servers' own command tables answer (fake_servers/dispatch.c). */
int mp_fake_verb_known(enum mp_fake_proto proto, const char *name);

/* The proto server's i-th command verb in its table's order (upper
 * case), or NULL past the last: for listing them. */
const char *mp_fake_verb(enum mp_fake_proto proto, size_t i);

/* Frees what a config owns (for configs built by a parser). */
void mp_fake_config_free(struct mp_fake_config *cfg);

/* Frees n tokens and the array (the token endpoint's config has them
 * too). */
void mp_fake_tokens_free(struct mp_fake_token *tokens, size_t n);

#endif
