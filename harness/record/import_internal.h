/* What the transcript readers share (harness/record/import*.c): the
 * builder that turns a transcript's lines, in whatever format, into a
 * recording's events, learning the protocol, the TLS mode, the login and
 * how the session ended. Private to harness/record/. */
#ifndef MP_IMPORT_INTERNAL_H
#define MP_IMPORT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "harness/record/record.h"

struct imp {
  struct mp_rec *r;
  uint64_t t_us;  /* the current line's time (0 without times) */
  int connected;  /* a CONNECTED event went in */
  int saw_server; /* a server line came */
  int proto_known;
  int tls_on;
  int implicit;      /* TLS came before the greeting */
  int starttls_sent; /* the last command asked for TLS */
  int auth_open;     /* inside an AUTH/AUTHENTICATE exchange */
  int challenge;     /* the last server line was a SASL challenge */
  int responses;     /* SASL responses in this exchange */
  int login_mech;    /* -1, or the SASL mechanism of the exchange */
  int data_wait;     /* SMTP DATA sent, waiting for 354 */
  int in_data;       /* SMTP message text: client lines skipped */
  char *user;        /* what the transcript logged in as */
  char *password;    /* what it logged in with (scrubbed from the case) */
  unsigned methods;  /* login methods it used (MP_AUTH_* / SASL bits) */
  int login_cmd;     /* the login command answered next: 'U' USER,
                        'P' PASS, 'A' APOP, 'L' IMAP LOGIN, 0 none */
  int ended;         /* 'c' the server closed, 't' no answer, 'f' TLS
                        failed, 0 a normal end */
};

/* Starts a builder over r. */
void mp_imp_init(struct imp *m, struct mp_rec *r);

/* The connection is up (host and port, if known, for the probe). */
void mp_imp_connected(struct imp *m, const char *host, unsigned port);

/* A line from the server (raw). */
void mp_imp_server(struct imp *m, const char *line, size_t len);

/* A line from the client, as the transcript shows it (secrets in clear
 * are learned for scrubbing and masked here); masked: it was already. */
void mp_imp_client(struct imp *m, const char *line, int masked);

/* A TLS handshake ended: version and cipher ("" if not told); ok 0 when
 * it failed. */
void mp_imp_tls(struct imp *m, const char *version, const char *cipher, int ok);

/* Ends the recording: the probe's settings from what was learned. 0 or -1
 * with a reason in err. */
int mp_imp_finish(struct imp *m, const char *name, char *err, size_t errlen);

void mp_imp_free(struct imp *m);

/* mailprobe's JSON result (a check --format json) into m. 0 or -1 with
 * "name:line: reason" in err. */
int mp_imp_json(struct imp *m, const char *name, const char *text, size_t len,
                char *err, size_t errlen);

#endif
