/* Inside the fake servers: what server.c (listener, sessions, seen record,
 * TLS), script.c (the rule engine) and the protocol modules (smtp.c, later
 * pop3.c and imap.c) share. Not for use outside fake_servers/.
 *
 * The split: a protocol module turns a received line into an answer (the
 * bytes it would send) and an effect (close, start TLS, ...). It never
 * writes to the connection itself. The script decides when and how the
 * answer goes out: at once, after a delay, dripped, or replaced by a
 * rule's reply; then it applies the effect and the rule's `then`. A new
 * protocol is one struct mp_fake_protocol. */
#ifndef MP_FAKE_SESSION_H
#define MP_FAKE_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "fake_servers/fake.h"

struct mp_conn;
struct mp_listener;
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

struct mp_fake_protocol {
  const char *name;
  size_t max_line; /* the conn's line limit for this protocol */
  /* Allocates the protocol's state into s->proto. 0 or negative. */
  int (*open)(struct mp_fake_session *s);
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

/* Line text of the seen record lives in chunks like this one, a few
 * lines each, freed with the server. */
struct mp_fake_text {
  struct mp_fake_text *next;
  size_t used, cap;
  char text[];
};

struct mp_fake_server {
  struct uv_loop_s *loop;
  struct mp_fake_config *cfg; /* a deep copy */
  struct mp_fake_env env;
  const struct mp_fake_protocol *proto;
  struct mp_listener *listener;
  struct mp_tls_ctx *tls_ctx; /* NULL when the server has no TLS */
  uint16_t port;
  int trace; /* MP_FAKE_TRACE was set at start: trace state changes */
  /* Bit (1 << enum mp_rule_on) set when some rule of the script can match
   * that event (a line rule sets MP_ON_COMMAND's bit too): an event
   * without one skips the rule engine, which would find nothing. */
  unsigned rule_events;
  struct mp_fake_seen *seen;
  size_t nseen, seen_cap;
  size_t seen_bytes;          /* line text kept in seen */
  struct mp_fake_text *texts; /* the newest first */
  /* The Date of the trace fields (smtp.c), made once per second. */
  int64_t date_sec;
  char date[40];
  unsigned nsessions;               /* accepted so far */
  struct mp_fake_session *sessions; /* live ones */
  int stopping, listener_open;
  void (*done)(void *data);
  void *done_data;
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
  void *proto; /* the protocol's state */
};

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

/* The name in greetings and certificates. */
const char *mp_fake_hostname(const struct mp_fake_server *srv);

/* 1 if name is in list (case-insensitive). */
int mp_fake_in_list(char *const *list, size_t n, const char *name);

/* The SASL mechanisms a server advertises, space-separated into buf:
 * cfg->auth as the case gave it, or CRAM-MD5 LOGIN PLAIN for a server with
 * users when it gave none. */
void mp_fake_auth_list(const struct mp_fake_config *cfg, char *buf, size_t cap);

/* 1 if the server offers mechanism name (as mp_fake_auth_list). */
int mp_fake_auth_offered(const struct mp_fake_config *cfg, const char *name);

#endif
