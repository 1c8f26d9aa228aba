/* What the SMTP, POP3 and IMAP probes share: the connection, phases and
 * their timings, the transcript with credentials masked, TLS, and how a
 * probe ends. Internal to probes/. */
#ifndef MP_SESSION_H
#define MP_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "probes/login.h"
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
  /* Writes the goodbye to send before failing a session in step into
   * line (of cap bytes), or "" for none (mp_session_fail_quit). */
  void (*goodbye)(struct mp_probe *p, char *line, size_t cap);
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
  struct mp_login login;
};

/* Switches to a phase; the time since the last switch is added to the
 * phase being left. */
void mp_session_phase(struct mp_probe *p, enum mp_phase phase);

/* Sends one command line (CRLF added); the transcript shows it through
 * the one masker (probes/mask.h). A write the connection refuses ends the
 * probe at once, in the phase of the command, with the connection's error
 * (or, in the quit phase, as a server that hung up on the goodbye: ok): 0,
 * or that negative code, after which the caller sends nothing more. */
int mp_session_send(struct mp_probe *p, const char *line);

/* The same for an answer to a SASL challenge: all of it is masked. */
int mp_session_send_response(struct mp_probe *p, const char *line);

/* Writes bytes as they are (the SMTP message), which the transcript does
 * not show; a refused write ends the probe as for mp_session_send, with
 * the sentence unsent. */
int mp_session_write(struct mp_probe *p, const void *buf, size_t len,
                     const char *unsent);

/* Every probe write goes through this: mp_conn_write, unless a test put
 * another writer in its place to make a write fail
 * (tests/check_probe_send.c). */
extern int (*mp_session_writer)(struct mp_conn *c, const void *buf, size_t len);

/* Adds a line to the transcript without sending anything. */
void mp_session_log(struct mp_probe *p, char dir, const char *text);

/* Starts TLS on the live connection (STARTTLS); proto->tls_done runs when
 * the handshake is done, or the probe fails. A go-ahead followed by more
 * bytes is refused (RFC 3207 4.2, CVE-2011-0411). */
void mp_session_starttls(struct mp_probe *p);

/* Records the server's last reply. */
void mp_session_reply(struct mp_probe *p, int code, const char *text);

/* Ends the probe: ok, or failed with err and a sentence. */
void mp_session_ok(struct mp_probe *p);
void mp_session_fail(struct mp_probe *p, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fails the probe while the session is still in step: says goodbye first
 * (proto->goodbye: QUIT, LOGOUT), as RFC 5321 4.1.1.10 asks of SMTP ("The
 * sender MUST NOT intentionally close the transmission channel until it
 * sends a QUIT command"), so the server sees a clean end. The close that
 * follows writes it out; the answer is not awaited, so the result keeps
 * the phase and reply that failed. Not for a session out of step
 * (protocol errors the server made, TLS failures). */
void mp_session_fail_quit(struct mp_probe *p, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Caps the time left for the QUIT exchange (a server that never answers
 * QUIT does not make an otherwise good probe wait for its deadline). */
void mp_session_quit_deadline(struct mp_probe *p);

/* Microseconds since the probe started. */
uint64_t mp_session_elapsed(const struct mp_probe *p);

/* A protocol's state machine moves from state `from` to `to` (their
 * names): the change is traced (to stderr when MAILPROBE_DEBUG is set)
 * and the probe goes into phase if it is not there yet. */
void mp_session_move(struct mp_probe *p, const char *from, const char *to,
                     enum mp_phase phase);

/* The protocol tables. */
extern const struct mp_probe_proto mp_smtp_proto;
extern const struct mp_probe_proto mp_pop3_proto;
extern const struct mp_probe_proto mp_imap_proto;

#endif
