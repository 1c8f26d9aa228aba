/* Private to wire/sasl*.c: the session structs and what the mechanism
 * table (wire/sasl.c) and the GNU SASL adapter for SCRAM (wire/sasl_scram.c)
 * share. */
#ifndef MP_SASL_INTERNAL_H
#define MP_SASL_INTERNAL_H

#include "wire/sasl.h"

#include <stddef.h>

struct Gsasl_session;

/* A message as raw bytes before base64 (or after decoding). */
struct raw {
  unsigned char *buf; /* malloc'd; NULL: no message */
  size_t len;
};

/* One half of one mechanism: in/len is the decoded peer message, have_in
 * says whether there was one (a client's first call and a server's start
 * without an initial response have none). Returns MP_SASL_CONTINUE,
 * MP_SASL_DONE or a negative code, with the message to send in *out. */
typedef int (*client_fn)(struct mp_sasl_client *c, const unsigned char *in,
                         size_t len, int have_in, struct raw *out);
typedef int (*server_fn)(struct mp_sasl_server *s, const unsigned char *in,
                         size_t len, int have_in, struct raw *out);

struct mp_sasl_client {
  int mech;
  int step;   /* client_fn calls made so far */
  int ended;  /* DONE or failed: no more steps */
  int phase;  /* the mechanism's own progress */
  char *user; /* copies */
  char *password;
  char *nonce;                      /* test-only fixed SCRAM nonce, base64 */
  struct Gsasl_session *gs;         /* SCRAM: the GNU SASL session */
  char *host;                       /* OAUTHBEARER host key, or NULL */
  unsigned port;                    /* OAUTHBEARER port key, 0: none */
  int got_error;                    /* bearer: the server sent its error */
  struct mp_sasl_oauth_error oauth; /* ... and this is it */
};

enum server_state { SERVER_NEW, SERVER_RUNNING, SERVER_DONE, SERVER_FAILED };

struct mp_sasl_server {
  int mech;
  enum server_state state;
  int phase;
  char *hostname;
  mp_sasl_lookup_cb lookup;
  void *data;
  char *fixed;              /* test-only: CRAM-MD5 challenge or SCRAM nonce */
  char *challenge;          /* CRAM-MD5: the challenge sent */
  char *user;               /* LOGIN: the name given; all: the user once DONE */
  struct Gsasl_session *gs; /* SCRAM: the GNU SASL session */
  mp_sasl_bearer_cb bearer; /* OAUTHBEARER, XOAUTH2: the token check */
  void *bearer_data;
};

/* Copies len bytes into a fresh message (NUL-terminated past len): 0 or
 * MP_E_NO_RESOURCES. */
int mp_sasl__raw_set(struct raw *out, const void *buf, size_t len);

/* SCRAM-SHA-256 and SCRAM-SHA-1 (wire/sasl_scram.c): the client and the
 * server half, as client_fn and server_fn. */
int mp_sasl__scram_client(struct mp_sasl_client *c, const unsigned char *in,
                          size_t len, int have_in, struct raw *out);
int mp_sasl__scram_server(struct mp_sasl_server *s, const unsigned char *in,
                          size_t len, int have_in, struct raw *out);

/* OAUTHBEARER and XOAUTH2 (wire/sasl_oauth.c), both halves. */
int mp_sasl__oauth_client(struct mp_sasl_client *c, const unsigned char *in,
                          size_t len, int have_in, struct raw *out);
int mp_sasl__oauth_server(struct mp_sasl_server *s, const unsigned char *in,
                          size_t len, int have_in, struct raw *out);

/* Ends a GNU SASL session; NULL is a no-op. */
void mp_sasl__scram_finish(struct Gsasl_session *gs);

#endif
