/* The round trip (Dotcom-Monitor's SMTP-POP3/IMAP task, WhatsUp Gold's
 * Email monitor): send a tokened message over SMTP, then poll the mailbox
 * over POP3 or IMAP until it shows up or the email timeout passes, and
 * delete it. In "previous" mode each run sends a message and deletes the
 * ones earlier runs sent; none to delete is a failure, except on the first
 * run. Pure probe logic: the caller keeps the state between runs. */
#ifndef MP_ROUNDTRIP_H
#define MP_ROUNDTRIP_H

#include <stddef.h>
#include <stdint.h>

#include "probes/probe.h"

struct uv_loop_s;

enum mp_rt_mode {
  MP_RT_SAME = 0, /* find this run's own message */
  MP_RT_PREVIOUS  /* delete the messages of earlier runs (WhatsUp Gold) */
};

#define MP_RT_DEFAULT_EMAIL_TIMEOUT_MS (10u * 60u * 1000u)
#define MP_RT_DEFAULT_POLL_MS 5000u
#define MP_RT_TOKEN_MAX 96

struct mp_rt_opts {
  struct mp_probe_opts send;  /* an SMTP probe; mail fields are filled in */
  struct mp_probe_opts fetch; /* a POP3 or IMAP probe */
  const char *from;           /* envelope and From: */
  const char *to;             /* envelope and To: */
  const char *subject;        /* NULL: "mailprobe round trip" */
  uint64_t email_timeout_ms;  /* 0: 10 minutes */
  uint64_t poll_ms;           /* 0: 5 s */
  enum mp_rt_mode mode;
  /* The monitor's name in tokens ("mailprobe.<id>.<random>"); tokens of
   * other ids are never touched. NULL: "rt". */
  const char *id;
  int first_run; /* previous mode: nothing was sent before */
  /* The user's "Name: value" header lines and body (any line ends; NULL:
   * ours), read while mp_roundtrip_start runs. */
  const char *const *headers;
  size_t nheaders;
  const char *body;
  size_t body_len;
};

/* The result of a round trip: one mp_result (the failing half's error and
 * phase, the send timings and the last fetch's, delivery_us, found and
 * deleted) and the token this run sent (for the caller's state file). */
typedef void (*mp_rt_cb)(struct mp_result *r, const char *token, void *data);

/* Starts a round trip; 0 and cb later, or a negative code. */
int mp_roundtrip_start(struct uv_loop_s *loop, const struct mp_rt_opts *opts,
                       mp_rt_cb cb, void *data);

/* Builds the test message for a token: RFC 5322 headers (From, To,
 * Subject with the token, Date, Message-ID, X-Mailprobe-Token) and a short
 * body, CRLF line ends. malloc'd; *len set. */
char *mp_rt_message(const char *from, const char *to, const char *subject,
                    const char *token, size_t *len);

/* The same with the user's header lines (after ours; a Content-Type of
 * theirs replaces ours) and body (line ends made CRLF, a last one added);
 * NULL, 0 for none. */
char *mp_rt_message_with(const char *from, const char *to, const char *subject,
                         const char *token, const char *const *headers,
                         size_t nheaders, const char *body, size_t body_len,
                         size_t *len);

/* 1 when line is a header the user may add: "Name: value", the name of
 * printable ASCII without ':' (RFC 5322 2.2), no CR or LF, and not one of
 * the fields the token lives in (From, To, Subject, Date, Message-ID,
 * X-Mailprobe-Token). */
int mp_rt_header_ok(const char *line);

/* Makes a token "mailprobe.<id>.<16 hex>" into buf (MP_RT_TOKEN_MAX). */
int mp_rt_token(const char *id, char *buf, size_t cap);

#endif
