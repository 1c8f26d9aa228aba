/* A probe's result: status, error name (wire/errors.h, the names case
 * files and JSON output use), phase, last reply, per-phase timings, TLS
 * facts, the mechanism that logged in and a transcript with credentials
 * masked (probes/mask.h). */
#ifndef MP_RESULT_H
#define MP_RESULT_H

#include <stddef.h>
#include <stdint.h>

#include "wire/tls.h"

#define MP_PHASE_MAP(XX)                                                       \
  XX(RESOLVE, "resolve")                                                       \
  XX(CONNECT, "connect")                                                       \
  XX(TLS, "tls")                                                               \
  XX(BANNER, "banner")                                                         \
  XX(EHLO, "ehlo")                                                             \
  XX(STARTTLS, "starttls")                                                     \
  XX(AUTH, "auth")                                                             \
  XX(SEND, "send")                                                             \
  XX(FETCH, "fetch")                                                           \
  XX(DELETE, "delete")                                                         \
  XX(QUIT, "quit")                                                             \
  XX(TOKEN, "token")

enum mp_phase {
#define MP_PHASE_ENUM(code, name) MP_PHASE_##code,
  MP_PHASE_MAP(MP_PHASE_ENUM)
#undef MP_PHASE_ENUM
      MP_PHASE_COUNT
};

/* "banner" for MP_PHASE_BANNER; and back (-1 if unknown). */
const char *mp_phase_name(enum mp_phase p);
int mp_phase_from_name(const char *name);

struct mp_transcript_line {
  char dir;      /* 'c' client to server, 's' server to client, '*' note */
  uint64_t t_us; /* since the probe started */
  char *line;    /* credentials already masked */
};

struct mp_result {
  int ok;              /* 1: status "ok" */
  int warn;            /* 1: ok but something is worth a warning */
  int err;             /* 0 or MP_E_* */
  enum mp_phase phase; /* where it stopped (or the last phase run) */
  char *detail;        /* a sentence for people, or NULL */
  int reply_code;      /* the last server reply: SMTP code, or for POP3
                          1 (+OK) / -1 (-ERR), IMAP 1 OK 2 NO 3 BAD 4 BYE;
                          0: none */
  char *reply_text;    /* its text, or NULL */
  char *resp_code;     /* POP3/IMAP response code ("IN-USE"), or NULL */
  int64_t timings_us[MP_PHASE_COUNT]; /* -1: the phase did not run */
  uint64_t total_us;
  int tls_used;
  struct mp_tls_info tls; /* valid when tls_used */
  const char *auth;       /* "CRAM-MD5", "USER", ... or NULL (static) */
  char *oauth_status;     /* a refused bearer token: the status of the
                             server's JSON error ("invalid_token", "401"),
                             or NULL */
  char *oauth_scope;      /* ... and the scope it asked for, or NULL */
  char address[72];       /* the address connected to, "127.0.0.1:25" */
  int64_t messages;       /* mailbox count (POP3 STAT, IMAP EXISTS), -1 */
  int64_t octets;         /* mailbox size (POP3 STAT), -1 */
  int insecure;           /* verification was switched off */
  int64_t found;          /* messages that matched find_token, -1 */
  int64_t deleted;        /* of those, deleted, -1 */
  int64_t delivery_us;    /* round trip: accepted -> seen, -1 */
  unsigned polls;         /* round trip: mailbox checks made */
  uint64_t sent_at_us;    /* mp_now_us() when the server accepted the
                             message (SMTP DATA 250), 0 if none */

  /* A round trip's two halves, each with its own server and certificate
   * (tls above is the one that failed, or the sending half's). */
  int roundtrip;
  int send_tls_used;            /* the SMTP half spoke TLS */
  struct mp_tls_info send_tls;  /* its facts (also after a failed check) */
  int fetch_tls_used;           /* the POP3/IMAP half (its last poll) */
  struct mp_tls_info fetch_tls; /* its facts */

  struct mp_transcript_line *transcript;
  size_t ntranscript;
  /* The transcript lines' text, in chunks that go with the result (a few
   * allocations a probe instead of one a line). result.c's own. */
  struct mp_chunk *text_chunks; /* wire/chunks.h */
};

/* A result with every timing -1 and no error; free with mp_result_free. */
struct mp_result *mp_result_new(void);
void mp_result_free(struct mp_result *r);

/* Appends a transcript line (copied; the caller masked it). */
void mp_result_add_line(struct mp_result *r, char dir, uint64_t t_us,
                        const char *line, size_t len);

/* Appends a line that is a transcript line already (made printable and
 * cut by mp_result_add_line, as harness/run/outcome_pack.c carries them
 * between processes): copied as it is. 0, or -1 when out of memory. */
int mp_result_keep_line(struct mp_result *r, char dir, uint64_t t_us,
                        const char *line, size_t len);

/* Sets the last reply (copied). */
void mp_result_set_reply(struct mp_result *r, int code, const char *text);

/* Sets detail (printf). */
void mp_result_set_detail(struct mp_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
