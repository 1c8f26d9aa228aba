/* The probe engine's entry point: one probe (SMTP, POP3 or IMAP check)
 * against one server, on the caller's loop, ending in one mp_result.
 * The round trip lives in probes/roundtrip.h on top of this. */
#ifndef MP_PROBE_H
#define MP_PROBE_H

#include <stdint.h>

#include "probes/result.h"
#include "probes/resolve.h"

struct uv_loop_s;
struct mp_probe;
struct mp_tls;

enum mp_proto { MP_PROTO_SMTP = 0, MP_PROTO_POP3, MP_PROTO_IMAP };

enum mp_tls_mode {
  MP_TLSMODE_NONE = 0, /* plain text; a password crosses in clear */
  MP_TLSMODE_STARTTLS, /* STARTTLS / STLS, required */
  MP_TLSMODE_IMPLICIT, /* TLS from the first byte */
  MP_TLSMODE_AUTO      /* STARTTLS when advertised */
};

/* Login methods that are not SASL, above the SASL bits of wire/sasl.h. */
#define MP_AUTH_USER (1u << 16)      /* POP3 USER/PASS (RFC 1939) */
#define MP_AUTH_APOP (1u << 17)      /* POP3 APOP (RFC 1939 7) */
#define MP_AUTH_LOGIN_CMD (1u << 18) /* IMAP LOGIN (RFC 9051 6.2.3) */
#define MP_AUTH_SIMPLE (MP_AUTH_USER | MP_AUTH_APOP | MP_AUTH_LOGIN_CMD)

#define MP_PROBE_DEFAULT_TIMEOUT_MS 120000u

/* What a probe tells a tap (mp_probe_opts.tap) as it happens: enough to
 * write the session down and play it back (harness/record/). A command
 * comes masked, as the transcript shows it (probes/mask.h): no secret
 * leaves the probe this way. */
enum mp_probe_event_kind {
  MP_PEV_CONNECTED, /* the TCP connection is up */
  MP_PEV_SENT,      /* a line went out (data: masked, no CRLF) */
  MP_PEV_LINE,      /* a line came in (data: its raw bytes, no CRLF) */
  MP_PEV_RAW,       /* literal bytes came in (IMAP) */
  MP_PEV_TLS_START, /* a handshake starts */
  MP_PEV_TLS_DONE,  /* it ended (status, tls) */
  MP_PEV_UNREAD,    /* bytes the server sent that were never read as
                       lines (the probe ended first), at the end */
  MP_PEV_END        /* the result is ready (result), before the callback */
};

struct mp_probe_event {
  enum mp_probe_event_kind kind;
  uint64_t t_us;    /* since the probe started */
  int phase;        /* enum mp_phase the probe is in */
  const char *data; /* SENT, LINE, RAW */
  size_t len;
  int response;                   /* SENT: the answer to a SASL challenge */
  int status;                     /* TLS_DONE: 0 or the error */
  const struct mp_tls *tls;       /* TLS_DONE: the session (may be NULL) */
  const struct mp_result *result; /* END */
  uint64_t rtt_us; /* CONNECTED, END: the kernel's round-trip time of the
                      connection, 0 if not known */
};

struct mp_probe_opts {
  enum mp_proto proto;
  enum mp_tls_mode tls;
  const char *host; /* a name or an IP literal */
  uint16_t port;    /* 0: the default of proto and tls */
  const char *user; /* NULL: connect and QUIT without logging in */
  const char *password;
  /* An OAuth 2.0 access token for XOAUTH2 and OAUTHBEARER (never chosen
   * without one; with a token and no password, only they are). */
  const char *token;
  unsigned auth;       /* allowed methods (SASL bits | MP_AUTH_*); 0: all */
  uint64_t timeout_ms; /* the whole probe; 0: 120 s */
  uint64_t connect_timeout_ms; /* 0: the probe's timeout */
  const char *cafile;          /* trust for verification; NULL: system store */
  const char *ca_pem;          /* or trust as PEM text */
  int insecure;                /* do not fail on a bad certificate */
  const char *servername;      /* SNI and the name to verify; NULL: host */
  const char *helo; /* EHLO/HELO argument; NULL: "mailprobe.invalid" */
  struct mp_resolve_opts dns;
  /* SMTP only: send one message after login (the round trip's first
   * half). The message is the whole RFC 5322 text with CRLF line ends;
   * dot-stuffing is done on the way out (RFC 5321 4.5.2). */
  const char *mail_from; /* NULL: no message */
  const char *rcpt_to;
  const char *message;
  size_t message_len;
  /* POP3/IMAP only: after login, find the messages whose
   * X-Mailprobe-Token header starts with find_token and delete them (the
   * round trip's second half). NULL: just count the mailbox. */
  const char *find_token;
  const char *keep_token; /* a token to leave alone (--mode previous) */
  int no_delete;          /* find only */
  /* Called for every transcript line as it happens (may be NULL), with
   * trace_data. */
  void (*trace)(void *trace_data, char dir, const char *line);
  void *trace_data;
  /* Called for every event a recorder needs (may be NULL), with
   * tap_data: struct mp_probe_event below. */
  void (*tap)(void *tap_data, const struct mp_probe_event *ev);
  void *tap_data;
};

/* Called once with the result, which the callee owns (mp_result_free). */
typedef void (*mp_probe_cb)(struct mp_result *r, void *data);

/* Starts a probe; 0 and cb later, or a negative code and cb never runs. */
int mp_probe_start(struct uv_loop_s *loop, const struct mp_probe_opts *opts,
                   mp_probe_cb cb, void *data);

/* Frees what probes share across runs (cached TLS contexts); call once at
 * the end of the program so leak checkers see a clean exit. */
void mp_probe_cleanup(void);

/* The port a probe uses when opts->port is 0: 25/465/587, 110/995,
 * 143/993. STARTTLS on SMTP means submission (587). */
uint16_t mp_default_port(enum mp_proto proto, enum mp_tls_mode tls);

/* Names for the enums ("smtp", "starttls"), and back (-1 if unknown). */
const char *mp_proto_name(enum mp_proto p);
int mp_proto_from_name(const char *name);
const char *mp_tls_mode_name(enum mp_tls_mode m);
int mp_tls_mode_from_name(const char *name);

#endif
