/* Inside the fake servers: what server.c (listener, sessions, seen record,
 * TLS), script.c (the rule engine), dispatch.c (command tables, states,
 * the error cap, the server side of SASL) and the protocol modules
 * (smtp*.c, pop3*.c, imap*.c) share. Not for use outside fake_servers/.
 *
 * The split: a protocol module turns a received line into an answer (the
 * bytes it would send) and an effect (close, start TLS, ...). It never
 * writes to the connection itself. The script decides when and how the
 * answer goes out: at once, after a delay, dripped, or replaced by a
 * rule's reply; then it applies the effect and the rule's `then`. A new
 * protocol is one struct mp_fake_protocol: its hooks, its command table
 * (struct mp_fake_command: verb, states, function), its error cap and its
 * SASL frame. */
#ifndef MP_FAKE_SESSION_H
#define MP_FAKE_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "fake_servers/fake.h"

struct mp_chunk; /* wire/chunks.h */

struct mp_conn;
struct mp_listener;
struct mp_sasl_server;
struct mp_tls_ctx;

/* What the answer asks for once it is out. */
enum mp_fake_effect {
  MP_FX_NONE = 0,
  MP_FX_CLOSE,     /* close after the answer (QUIT, too many errors) */
  MP_FX_STARTTLS,  /* the TLS go-ahead was sent: run the TLS event */
  MP_FX_HANDSHAKE, /* internal: the TLS event is done, handshake now */
  MP_FX_CALL       /* run answer.call(session) */
};

struct mp_fake_session;

/* An answer being built: bytes plus an effect. */
struct mp_fake_answer {
  char *buf;
  size_t len, cap;
  int oom;                    /* an append failed: the session closes */
  enum mp_fake_effect effect; /* skipped when a rule replaced the answer */
  void (*call)(struct mp_fake_session *s); /* for MP_FX_CALL */
};

/* Appends one line, CRLF added (printf format). */
void mp_fake_answer_line(struct mp_fake_answer *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends one line made of the strings given, up to a NULL, CRLF added
 * (for lines that need no formatting). */
void mp_fake_answer_join(struct mp_fake_answer *a, const char *first, ...)
    __attribute__((sentinel));

/* Appends bytes as they are. */
void mp_fake_answer_add(struct mp_fake_answer *a, const void *buf, size_t len);

void mp_fake_answer_free(struct mp_fake_answer *a);

/* An empty answer for s's next event, with the buffer of its last answer
 * when the session is idle (one allocation per session, not per reply). */
struct mp_fake_answer mp_fake_answer_take(struct mp_fake_session *s);

/* Gives an answer that will not be sent back to s for its next event
 * (or frees it). */
void mp_fake_answer_keep(struct mp_fake_session *s, struct mp_fake_answer *a);

/* How a protocol classifies a received line in its current state. */
enum mp_fake_kind {
  MP_KIND_COMMAND = 0, /* a command: command and line rules apply */
  MP_KIND_INPUT,       /* a continuation (a SASL response): line rules */
  MP_KIND_HEADER,      /* a message header line: recorded, no rules */
  MP_KIND_BODY,        /* a message body line: neither */
  MP_KIND_END          /* the end of a message: message rules */
};

struct mp_fake_command;
struct mp_fake_sasl_frame;

struct mp_fake_protocol {
  const char *name;
  size_t max_line; /* the conn's line limit for this protocol */
  /* The names of the protocol's states (s->state), for the trace. */
  const char *const *state_names;
  /* The commands it dispatches, by verb: the verbs `on:` rules name. */
  const struct mp_fake_command *commands;
  size_t ncommands;
  /* A known command sent in a state it is not valid in (may be NULL when
   * that cannot happen). */
  void (*not_now)(struct mp_fake_session *s, const struct mp_fake_command *c,
                  struct mp_fake_answer *a);
  /* The error cap (nginx's, Postfix's and Dovecot's bad-command limit):
   * the max_errors-th client error ends the session with too_many (a
   * printf format given the host name), instead of the error's reply, or
   * after it when too_many_after; the session's state becomes
   * closed_state (-1: stays). */
  unsigned max_errors;
  const char *too_many;
  int too_many_after;
  int closed_state;
  /* What goes before every tagged reply line ("a1" in IMAP), or NULL. */
  const char *(*tag)(const struct mp_fake_session *s);
  /* The server side of a SASL exchange (dispatch.c). */
  const struct mp_fake_sasl_frame *sasl;
  /* The size of the protocol's session data (s->proto, zeroed at
   * accept, freed after close). */
  size_t data_size;
  /* Frees what the session data holds, not the data itself (may be NULL). */
  void (*close)(struct mp_fake_session *s);
  /* The greeting (sent on connect, after the handshake on implicit TLS).
   * replaced: a rule's reply goes out instead; update state only. */
  void (*greeting)(struct mp_fake_session *s, int replaced,
                   struct mp_fake_answer *a);
  /* What the line is; for a command, its verb (for MP_ON_COMMAND). */
  enum mp_fake_kind (*classify)(struct mp_fake_session *s, const char *line,
                                size_t len, const char **verb,
                                size_t *verb_len);
  /* Handles a line. replaced: a rule's reply goes out instead of the
   * answer, so the line must not take effect (a replaced MAIL starts no
   * transaction; a replaced end of DATA delivers nothing). */
  void (*line)(struct mp_fake_session *s, char *line, size_t len,
               enum mp_fake_kind kind, int replaced, struct mp_fake_answer *a);
  /* Raw bytes asked for with mp_conn_expect_raw (IMAP literals); NULL if
   * the protocol never asks. */
  void (*raw)(struct mp_fake_session *s, const char *buf, size_t len, int last);
  /* The TLS handshake finished: forget what the client said before
   * (RFC 3207 4.2, RFC 2595 4). */
  void (*tls_started)(struct mp_fake_session *s);
  /* The idle timeout passed: a last line, or nothing (may be NULL). */
  void (*timeout)(struct mp_fake_session *s, struct mp_fake_answer *a);
  /* Appends one of a rule's reply lines, going out instead of the answer,
   * to a (CRLF added). NULL: the line as written. IMAP puts the tag of
   * the command being answered where the line says {tag}, and notes a
   * PREAUTH greeting. */
  void (*rule_line)(struct mp_fake_session *s, const char *line,
                    struct mp_fake_answer *a);
};

extern const struct mp_fake_protocol mp_fake_smtp_proto;
extern const struct mp_fake_protocol mp_fake_imap_proto;
extern const struct mp_fake_protocol mp_fake_pop3_proto;

struct mp_fake_server {
  struct uv_loop_s *loop;
  struct mp_fake_config *cfg; /* a deep copy */
  struct mp_fake_env env;
  const struct mp_fake_protocol *proto;
  struct mp_listener *listener;
  struct mp_tls_ctx *tls_ctx; /* NULL when the server has no TLS */
  uint16_t port;
  int trace;           /* MP_FAKE_TRACE was set at start: trace state changes */
  uint64_t started_ms; /* uv_now at start: tokens expire from here */
  /* Bit (1 << enum mp_rule_on) set when some rule of the script can match
   * that event (a line rule sets MP_ON_COMMAND's bit too): an event
   * without one skips the rule engine, which would find nothing. */
  unsigned rule_events;
  struct mp_fake_seen *seen;
  size_t nseen, seen_cap;
  size_t seen_bytes;      /* line text kept in seen */
  struct mp_chunk *texts; /* the seen lines' text (wire/chunks.h) */
  /* The Date of the trace fields (smtp.c), made once per second. */
  int64_t date_sec;
  char date[40];
  unsigned nsessions;               /* accepted so far */
  struct mp_fake_session *sessions; /* live ones */
  int stopping, listener_open;
  void (*done)(void *data);
  void *done_data;
  /* mp_fake_reset: waiting for the last session to close. */
  int resetting;
  void (*reset_done)(void *data, int rc);
  void *reset_data;
};

/* Where a session's job (the answer being sent) stands. */
enum mp_fake_stage { MP_STAGE_IDLE = 0, MP_STAGE_DELAY, MP_STAGE_DRIP };

struct mp_fake_session {
  struct mp_fake_server *srv;
  struct mp_conn *conn;
  struct mp_fake_session *next, *prev;
  unsigned id;     /* 1, 2, ... */
  int in_tls;      /* the handshake finished */
  int greeted;     /* the greeting event ran */
  int paused;      /* we paused the conn */
  int hung;        /* MP_THEN_HANG: never answer again */
  unsigned *count; /* matches per rule, cfg->nrules of them (after the
                      session in the same allocation) */
  unsigned burst;  /* answers since the session last let others run */
  /* The job: one answer going out, with its rule and effect. */
  enum mp_fake_stage stage;
  const struct mp_fake_rule *rule;
  int replaced;
  /* The answer going out; when the session is idle, its buffer (len 0)
   * is kept for the next answer (mp_fake_answer_take). */
  struct mp_fake_answer out;
  size_t out_off;
  size_t body_off;   /* a repeat sends out[body_off, len) again ... */
  uint64_t rep_left; /* ... this many more times (MP_REPEAT_FOREVER) */
  enum mp_fake_effect effect;
  void (*call)(struct mp_fake_session *s);
  /* A TLS fault in progress: reading the ClientHello record. */
  enum mp_tls_fault fault;
  unsigned char hdr[5];
  size_t hdr_len;
  int state;                   /* the protocol's state (mp_fake_set_state) */
  unsigned errors;             /* client errors so far (mp_fake_client_error) */
  struct mp_sasl_server *sasl; /* the SASL exchange under way, or NULL */
  int sasl_bearer;             /* ... and it is XOAUTH2 or OAUTHBEARER */
  void *proto;                 /* the protocol's own session data */
};

/* ---- one dispatch for the three protocols (dispatch.c) ------------------ */

struct mp_fake_args;

/* One command of a protocol's table: the verb, the states it is valid in
 * (bit 1 << state) and the function that answers it. variant tells apart
 * verbs that share a function (EHLO and HELO, SELECT and EXAMINE). */
struct mp_fake_command {
  const char *name;
  unsigned states;
  void (*fn)(struct mp_fake_session *s, struct mp_fake_args *g,
             struct mp_fake_answer *a);
  int variant;
};

/* A command's arguments as its function gets them. */
struct mp_fake_args {
  const struct mp_fake_command *cmd; /* the command being run */
  /* SMTP, POP3: the text after the verb and the space after it (raw,
   * POP3's PASS takes it as it is), and with all spaces skipped (arg). */
  char *raw, *arg;
  /* IMAP: the command's text after the verb, with literals as "{n}"
   * markers, and the literals' bytes in order (imap_parse.c reads them). */
  const char *p, *end;
  const struct mp_fake_literal *lits;
  size_t nlits, next_lit;
  int uid; /* IMAP, under UID: sets and answers speak UIDs */
};

/* The command named verb (len bytes, case-insensitive, the exact name:
 * never read past either) in a table, or NULL. */
const struct mp_fake_command *
mp_fake_command_find(const struct mp_fake_command *table, size_t n,
                     const char *verb, size_t len);

/* How a protocol of verb lines (SMTP, POP3: "VERB arguments") answers a
 * line it cannot run. */
struct mp_fake_verb_line {
  size_t max_command;     /* a longer line is too_long (AUTH's cap is the
                             SASL frame's max_response) */
  const char *bad_syntax; /* an empty line, or one holding a NUL */
  const char *too_long;
  const char *unknown; /* a verb not in the protocol's table */
};

/* Runs a command line of a protocol of verb lines: the checks of f, then
 * mp_fake_dispatch. */
void mp_fake_command_line(struct mp_fake_session *s, char *line, size_t len,
                          const struct mp_fake_verb_line *f,
                          struct mp_fake_answer *a);

/* Runs a command looked up with mp_fake_command_find: the protocol's
 * not_now when it is not valid in the session's state, else its function
 * (g->cmd set to c). */
void mp_fake_dispatch(struct mp_fake_session *s,
                      const struct mp_fake_command *c, struct mp_fake_args *g,
                      struct mp_fake_answer *a);

/* Sets the session's state, tracing the change when MP_FAKE_TRACE is set
 * ("fake smtp #1: command -> auth"). */
void mp_fake_set_state(struct mp_fake_session *s, int state);

/* Appends a reply line, the tag first where the protocol has one. */
void mp_fake_reply(struct mp_fake_session *s, struct mp_fake_answer *a,
                   const char *line);

/* A reply that counts as a client error: past the protocol's cap the
 * session ends (see struct mp_fake_protocol). */
void mp_fake_client_error(struct mp_fake_session *s, struct mp_fake_answer *a,
                          const char *line);

/* The server side of a SASL exchange, framed per protocol as curl's
 * SASLproto frames the client side: what goes before a challenge, the
 * replies, and the states around it. Every reply goes through
 * mp_fake_reply (IMAP's are tagged). */
struct mp_fake_sasl_frame {
  const char *cont;    /* before a challenge: "334 " (RFC 4954 4), "+ " */
  int exchange_state;  /* the state while a response is awaited (-1: none) */
  int idle_state;      /* the state once the exchange ends (-1: stays) */
  size_t max_response; /* a longer response is too_long (0: no cap) */
  int nul_fails;       /* a response holding a NUL is too_long */
  int exact_cancel;    /* only a bare "*" cancels (else "*" up to a NUL) */
  const char *unsupported; /* the mechanism is not offered */
  int unsupported_counts;  /* ... and that is a client error */
  const char *cancelled;   /* the client sent "*" */
  const char *failed;      /* the credentials are wrong */
  int failed_counts;       /* ... and that is a client error */
  const char *undecodable; /* a client error: the mechanism cannot read it */
  const char *too_long;    /* a client error, see max_response */
  const char *temporary;   /* the server cannot go on */
  /* The credentials were right: log user in and answer. */
  void (*logged_in)(struct mp_fake_session *s, const char *user,
                    struct mp_fake_answer *a);
};

/* Splits an AUTH command's arguments, "MECH [initial-response]" (RFC
 * 4954 4, RFC 5034 4): the mechanism into mech (cap bytes with its NUL),
 * the initial response into *initial (NULL: none; "=" is an empty one).
 * 0, or a negative code when the name is empty or too long. */
int mp_fake_sasl_args(const char *arg, char *mech, size_t cap,
                      const char **initial);

/* Starts an exchange with mechanism mech (its name as the client gave
 * it) and an initial response (NULL: none). 0 when it started (it may
 * have ended already), or a negative code when the mechanism is not
 * offered or the server could not start it (the reply says so). */
int mp_fake_sasl_start(struct mp_fake_session *s, const char *mech,
                       const char *initial, struct mp_fake_answer *a);

/* A line in the exchange: the client's response, or "*" to cancel.
 * replaced: a rule answered instead, and the exchange is over. */
void mp_fake_sasl_line(struct mp_fake_session *s, const char *line, size_t len,
                       int replaced, struct mp_fake_answer *a);

/* Ends the exchange under way, if any (no reply). */
void mp_fake_sasl_end(struct mp_fake_session *s);

/* The protocol of an enum mp_fake_proto, or NULL. */
const struct mp_fake_protocol *mp_fake_protocol_of(int proto);

/* The rule for an event, counting matches per rule (nth), or NULL. verb is
 * for MP_ON_COMMAND, line for MP_ON_LINE (both may be NULL). */
const struct mp_fake_rule *
mp_fake_script_match(struct mp_fake_session *s, enum mp_rule_on on,
                     const char *verb, size_t verb_len, const char *line);

/* 1 if the rule replaces the server's answer. */
int mp_fake_rule_replaces(const struct mp_fake_rule *r);

/* Sends an answer under a rule (NULL: at once, as it is): delay, reply or
 * answer, send, drip, then the effect and `then`. Takes a's buffer. */
void mp_fake_script_run(struct mp_fake_session *s,
                        const struct mp_fake_rule *rule,
                        struct mp_fake_answer *a);

/* Runs the greeting event (connect rules, then the protocol's greeting). */
void mp_fake_script_greet(struct mp_fake_session *s);

/* Runs the TLS event (TLS rules, then the handshake or the fault). */
void mp_fake_script_tls(struct mp_fake_session *s);

/* Starts the handshake now, or the session's TLS fault (server.c). */
void mp_fake_session_handshake(struct mp_fake_session *s,
                               enum mp_tls_fault fault);

/* Pauses / resumes line delivery, remembering that we did. */
void mp_fake_session_pause(struct mp_fake_session *s);
void mp_fake_session_resume(struct mp_fake_session *s);

/* Re-arms the idle timeout, extra ms beyond the configured idle time. */
void mp_fake_session_touch(struct mp_fake_session *s, uint64_t extra_ms);

/* The configured user's password, or NULL (names compare
 * case-insensitively). A mp_sasl_lookup_cb with the session as data. */
const char *mp_fake_password(void *session, const char *user);

/* The bearer-token check of XOAUTH2 and OAUTHBEARER (oauth.c), a
 * mp_sasl_bearer_cb with the session as data: the token must be one of
 * the server's, not expired, of user (or user "": then *who is the
 * token's user), with the scope the server wants; a refusal carries the error
 * challenge of the server's style (NULL for Microsoft's, which has none). */
int mp_fake_oauth_check(void *session, const char *user, const char *token,
                        char **who, char **error);

/* Answers a refused bearer login as the server's style says (Gmail's or
 * Exchange Online's replies): 1, or 0 when the protocol's own failure
 * reply is the one (RFC 7628). */
int mp_fake_oauth_failed(struct mp_fake_session *s, struct mp_fake_answer *a);

/* The name in greetings and certificates. */
const char *mp_fake_hostname(const struct mp_fake_server *srv);

/* 1 if name is in list (case-insensitive). */
int mp_fake_in_list(char *const *list, size_t n, const char *name);

/* The SASL mechanisms a server advertises, space-separated into buf:
 * cfg->auth as the case gave it, or CRAM-MD5 LOGIN PLAIN for a server with
 * users when it gave none. */
void mp_fake_auth_list(const struct mp_fake_config *cfg, char *buf, size_t cap);

/* 1 if cap's keyword (its text up to a character of stop) is in list:
 * an entry that is the whole capability, or has the same keyword
 * (case-insensitive). */
int mp_fake_keyword_in(char *const *list, size_t n, const char *cap,
                       const char *stop);

/* The capabilities an EHLO or CAPA announces, into caps (at most max):
 * builtin less those withheld or advertised anew, then advertise less
 * withheld; in says whether a capability is in a list. How many. */
size_t mp_fake_caps(const struct mp_fake_config *cfg,
                    const char *const *builtin, size_t nb, const char **caps,
                    size_t max,
                    int (*in)(char *const *list, size_t n, const char *cap));

/* 1 if the server offers mechanism name (as mp_fake_auth_list). */
int mp_fake_auth_offered(const struct mp_fake_config *cfg, const char *name);

#endif
