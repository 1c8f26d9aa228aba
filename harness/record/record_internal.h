/* What harness/record/record_case.c and record_rt.c share: the session
 * cut into exchanges and the writer of a server block, of the probe's keys
 * and of the case's head. Private to harness/record/. */
#ifndef MP_RECORD_INTERNAL_H
#define MP_RECORD_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "harness/record/record.h"
#include "harness/record/record_case.h"
#include "harness/record/record_text.h"

/* One exchange: the greeting, or a command and what answered it. */
struct xch {
  int connect;
  const struct mp_rec_event *cmd;
  char verb[40];
  char tag[40];
  const struct mp_rec_event **lines;
  size_t nl, capl;
  size_t final_from; /* the lines after the last SASL response */
  uint64_t t_ref;    /* the command went out (the connection, the TLS) */
  uint64_t t_first;  /* the first line came */
  int starttls;      /* a handshake followed it */
  const struct mp_rec_event *unread; /* bytes after it never read */
  int live;     /* left to the fake server (a login that worked) */
  unsigned nth; /* the n-th command of its verb */
};

enum ending { END_NORMAL, END_CLOSE, END_HANG, END_LONG };

struct mp_rec_writer {
  const struct mp_rec *r;
  const struct mp_rec_session *s;
  const struct mp_rec_case_opts *o;
  struct mp_rec_scrub sc;
  struct xch *xs;
  size_t nx;
  uint64_t rtt_us;
  enum ending ending;
  int tls_fault; /* enum mp_tls_fault for on: tls, or 0 */
  int apop_live;
  int hang_used;
  uint64_t replayed_us; /* the delays the replay waits, summed */
  FILE *f;
  const char *server_name; /* the server's name in the case: "rec" */
  int roundtrip;           /* a round trip's half: the envelope and the
                              mailbox commands that worked are live */
  int64_t delivery_ms;     /* the SMTP server's delivery delay, -1 none,
                              MP_REC_LOST: the message is lost */
};

#define MP_REC_LOST (-2)

/* Cuts session s of r into exchanges, learns its ending and what is live;
 * the writer writes to f. 0, or -1 with a reason in err. */
int mp_rec__writer_init(struct mp_rec_writer *w, const struct mp_rec *r,
                        const struct mp_rec_session *s,
                        const struct mp_rec_case_opts *o, int roundtrip,
                        FILE *f, char *err, size_t errlen);
void mp_rec__writer_free(struct mp_rec_writer *w);

/* Cuts w's session into exchanges (record_split.c), marks the live ones
 * and learns the ending. 0 or -1 without memory. */
int mp_rec__split(struct mp_rec_writer *w);

/* Writing helpers record_case.c and record_server.c share: a string
 * through the scrubber as YAML; microseconds as "NNms"; exchange i as a
 * script rule; "smtp" for MP_PROTO_SMTP. */
void mp_rec__put_str(struct mp_rec_writer *w, const char *s, size_t len);
void mp_rec__put_ms(FILE *f, uint64_t us);
void mp_rec__put_rule(struct mp_rec_writer *w, size_t i);
const char *mp_rec__proto_key(enum mp_proto p);

/* A delay shorter than this is left out: a timer's wake-up on a busy
 * machine costs about as much, and the replay's bound is 5 ms + 5%. */
#define MP_REC_MIN_DELAY_US 2000

/* The case's leading comments, name (dflt when o has none) and tags. */
void mp_rec__put_head(struct mp_rec_writer *w, const char *dflt);

/* One server block ("  NAME:" and its keys) under servers:. */
void mp_rec__put_server(struct mp_rec_writer *w);

/* The probe's keys for this session (tls, user, auth, timeout, ...), each
 * line led by indent. */
void mp_rec__put_probe_keys(struct mp_rec_writer *w, const char *indent);

#endif
