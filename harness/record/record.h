/* A recording: what a probe saw of one or more sessions, event by event
 * (probes/probe.h, struct mp_probe_event), with the facts a replay needs
 * (the probe's options, the TLS session and certificate, the result).
 * Filled live by the probe's tap (mp_rec_tap) or from a transcript
 * (harness/record/import.h); written as a case by
 * harness/record/record_case.h. Commands come masked from the probe and
 * the recording keeps no password. */
#ifndef MP_RECORD_H
#define MP_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "probes/probe.h"
#include "wire/cert_like.h"
#include "wire/tls.h"

/* What one recording may hold: past these it stops and says it was cut. */
#define MP_REC_MAX_EVENTS 20000
#define MP_REC_MAX_BYTES (8u << 20)

struct mp_rec_event {
  enum mp_probe_event_kind kind;
  uint64_t t_us; /* since the probe started; 0 when the transcript had no
                    times */
  int phase;     /* enum mp_phase */
  char *data;    /* SENT (masked), LINE (raw), RAW; NUL-terminated copy */
  size_t len;
  int response; /* SENT: a SASL response */
  int status;   /* TLS_DONE */
};

/* One probe's session. */
struct mp_rec_session {
  struct mp_rec_event *ev;
  size_t nev, cap;
  size_t bytes;
  int cut;         /* the recording limits cut it short */
  uint64_t rtt_us; /* the kernel's round-trip time, 0 if not known */
  int ended;
  /* the TLS facts, from the last handshake */
  int tls_done;           /* a handshake ended (tls_status tells how) */
  int tls_status;         /* 0 or the error */
  struct mp_tls_info tls; /* version, cipher, verification */
  int have_cert;
  struct mp_cert_facts cert;
  /* the result */
  int ok, warn, err;
  int phase;
  char *detail;
  char *reply_text;
  int reply_code;
  const char *auth; /* static */
  uint64_t total_us;
  int64_t timings_us[MP_PHASE_COUNT];
  int tls_used;
  int64_t messages;
  int64_t found, deleted, delivery_us;
};

/* A recording: the probe's settings and its sessions. */
struct mp_rec {
  enum mp_proto proto;
  enum mp_tls_mode tls; /* what the probe asked for */
  char *host;           /* the target as given */
  uint16_t port;
  char *servername; /* the name verified, NULL: the host */
  char *user;       /* the original user (scrubbed from the case) */
  char *password;   /* a transcript's password, for scrubbing only
                       (a live recording never holds it); wiped */
  unsigned auth;    /* the methods the probe allowed, 0: all */
  int bearer;       /* 1: it had an OAuth token (the token is not kept) */
  uint64_t timeout_ms;
  uint64_t connect_timeout_ms;
  int insecure;
  char *helo;
  int timed;    /* 1: the times are measured (0: a transcript without) */
  char *source; /* what it was recorded from, for the case's comment */
  struct mp_rec_session *s;
  size_t ns;
};

/* A new empty recording; NULL without memory. */
struct mp_rec *mp_rec_new(void);

/* Takes the probe's settings (copies; the password is not kept). */
int mp_rec_set_opts(struct mp_rec *r, const struct mp_probe_opts *o);

/* The tap to put in mp_probe_opts.tap with the recording as tap_data: a
 * session starts with the first event after the last one ended. */
void mp_rec_tap(void *rec, const struct mp_probe_event *ev);

/* Adds an event to the current session (a new one if none is open);
 * data is copied. 0, or -1 when the limits cut the recording. */
int mp_rec_add(struct mp_rec *r, enum mp_probe_event_kind kind, uint64_t t_us,
               int phase, const char *data, size_t len, int response);

/* The session events go to (opened if none is), or NULL without memory. */
struct mp_rec_session *mp_rec_current(struct mp_rec *r);

/* Copies a result into the current session and ends it. */
void mp_rec_end(struct mp_rec *r, const struct mp_result *res);

/* Copies a result into a session (ended or not) and ends it. */
void mp_rec_set_result(struct mp_rec_session *s, const struct mp_result *res);

void mp_rec_free(struct mp_rec *r);

#endif
