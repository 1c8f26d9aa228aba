/* What the SMTP, POP3 and IMAP probes share: the connection, phases and
 * their timings, the transcript with credentials masked, TLS, and how a
 * probe ends. Internal to probes/. */
#ifndef MP_SESSION_H
#define MP_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "probes/probe.h"

struct mp_conn;
struct mp_tls_ctx;
struct mp_probe;

/* One protocol's hooks (curl's pingpong shape: a state machine fed whole
 * lines). */
struct mp_probe_proto {
  const char *name;  /* "SMTP", for messages */
  size_t state_size; /* bytes of protocol state, zeroed (p->state) */
  /* The connection is up (and TLS done for implicit TLS): wait for the
   * greeting. */
  void (*start)(struct mp_probe *p);
  /* One line from the server, already in the transcript. */
  void (*line)(struct mp_probe *p, char *line, size_t len);
  /* Bytes of a literal asked for with mp_conn_expect_raw (IMAP). */
  void (*raw)(struct mp_probe *p, const char *buf, size_t len, int last);
  /* The STARTTLS handshake finished: forget what was learned (RFC 3207
   * 4.2) and ask for capabilities again. */
  void (*tls_done)(struct mp_probe *p);
  /* Frees what state points to (not state itself). May be NULL. */
  void (*cleanup)(struct mp_probe *p);
};

struct mp_probe {
  struct uv_loop_s *loop;
  struct mp_probe_opts o; /* strings point into owned copies */
  char *owned[8];
  mp_probe_cb cb;
  void *cb_data;
  const struct mp_probe_proto *proto;
  void *state;
  struct mp_result *r;
  struct mp_conn *conn;
  struct mp_tls_ctx *ctx;
  char ctx_err[256];    /* why ctx could not be made */
  uint64_t t0_us;       /* the probe started */
  uint64_t phase_t0_us; /* the current phase started */
  enum mp_phase phase;
  struct mp_probe_addr *addrs;
  size_t naddrs, next_addr;
  int finished;
  int in_tls;
  /* the SASL exchange in progress (mp_session_sasl_*) */
  struct mp_sasl_client *sasl;
  int sasl_mech;
  int sasl_began;     /* the client's first message went out */
  int sasl_cancelled; /* we answered "*" */
  int sasl_sent;      /* messages of ours sent (the initial one too) */
  int sasl_done;      /* the mechanism said it needs nothing more */
};

/* What differs between the protocols' SASL commands (curl's per-protocol
 * numbers): the verb, and the longest initial response that may go on
 * the command line (0: never, as IMAP without SASL-IR). */
struct mp_sasl_frame {
  const char *verb; /* "AUTH" (SMTP, POP3), "AUTHENTICATE" (IMAP) */
  size_t max_initial;
};

/* Switches to a phase; the time since the last switch is added to the
 * phase being left. */
void mp_session_phase(struct mp_probe *p, enum mp_phase phase);

/* Sends one command line (CRLF added) and logs it. */
int mp_session_send(struct mp_probe *p, const char *line);

/* Sends a line carrying a secret; the transcript shows `shown` instead. */
int mp_session_send_secret(struct mp_probe *p, const char *line,
                           const char *shown);

/* Adds a line to the transcript without sending anything. */
void mp_session_log(struct mp_probe *p, char dir, const char *text);

/* Starts TLS on the live connection (STARTTLS); proto->tls_done runs when
 * the handshake is done, or the probe fails. A go-ahead followed by more
 * bytes is refused (RFC 3207 4.2, CVE-2011-0411). */
void mp_session_starttls(struct mp_probe *p);

/* Starts SASL mechanism mech: builds "VERB MECH [initial-response]" into
 * cmd and the same with the response masked into shown (each of size
 * cap). An initial response too long for the frame goes after the
 * server's first, empty challenge instead (RFC 4954 4, RFC 5034 4,
 * RFC 4959 3). 0, or the probe has failed. */
int mp_session_sasl_begin(struct mp_probe *p, const struct mp_sasl_frame *f,
                          int mech, char *cmd, char *shown, size_t cap);

/* Answers one server challenge (the base64 text, "" when empty): sends the
 * response, masked in the transcript, or "*" to cancel when the challenge
 * makes no sense (p->sasl_cancelled is set: the server's refusal that
 * follows is the server's fault, not the credentials'). */
void mp_session_sasl_answer(struct mp_probe *p, const char *challenge);

/* 1 when our side of the SASL exchange is over: every message of the
 * mechanism sent and, for SCRAM, the server's signature checked (RFC 5802
 * 5: the server proves it knows the password too). A server that reports
 * success before that accepted a login it never checked: the probes call
 * it a protocol error, not a login. */
int mp_session_sasl_complete(const struct mp_probe *p);

/* Records the server's last reply. */
void mp_session_reply(struct mp_probe *p, int code, const char *text);

/* Ends the probe: ok, or failed with err and a sentence. */
void mp_session_ok(struct mp_probe *p);
void mp_session_fail(struct mp_probe *p, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Caps the time left for the QUIT exchange (a server that never answers
 * QUIT does not make an otherwise good probe wait for its deadline). */
void mp_session_quit_deadline(struct mp_probe *p);

/* The allowed login methods for the current TLS state: everything the user
 * allowed, less cleartext SASL and simple logins when not in TLS and the
 * mode is not none (never a password in clear unless tls is none). */
unsigned mp_session_login_allowed(const struct mp_probe *p);

/* Microseconds since the probe started. */
uint64_t mp_session_elapsed(const struct mp_probe *p);

/* Writes a state change to stderr when MAILPROBE_DEBUG is set. */
void mp_session_trace(const struct mp_probe *p, const char *from,
                      const char *to);

/* The protocol tables. */
extern const struct mp_probe_proto mp_smtp_proto;
extern const struct mp_probe_proto mp_pop3_proto;
extern const struct mp_probe_proto mp_imap_proto;

#endif
