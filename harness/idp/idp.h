/* The fake OAuth 2.0 token endpoint of the harness (an "identity
 * provider"), on harness/http (H2O) on the caller's loop: POST /token
 * grants client credentials (RFC 6749 4.4) and refresh tokens (RFC 6749
 * 6) from the case's tables, with the lifetime the case says; POST
 * /introspect answers RFC 7662 token introspection for real servers
 * (Dovecot's oauth2 passdb) to ask. Its faults: a wrong client or secret
 * is invalid_client (401), an unknown or spent refresh token
 * invalid_grant (400), and a case may make every answer slow, hang, an
 * HTTP 500 page or a body that is no JSON. A case names it under
 * servers: with protocol oauth, like any fake server. The config is
 * plain structs (the case parser fills them); no uv.h here. */
#ifndef MP_IDP_H
#define MP_IDP_H

#include <stddef.h>
#include <stdint.h>

struct uv_loop_s;
struct mp_fake_token;
struct mp_idp;

/* A client of the client-credentials grant and the token it gets. */
struct mp_idp_client {
  char *id;
  char *secret;
  char *token;
};

/* A refresh token, the access token it buys, and the refresh token that
 * replaces it (rotation; NULL: it stays good). */
struct mp_idp_refresh {
  char *refresh;
  char *token;
  char *rotate;
};

/* How every answer of /token goes. */
enum mp_idp_answer {
  MP_IDP_OK = 0,   /* as the grant says */
  MP_IDP_HTTP_500, /* 500 with an HTML page */
  MP_IDP_GARBAGE,  /* 200 with a body that is no JSON */
  MP_IDP_HANG      /* never (the request is dropped at stop) */
};

struct mp_idp_config {
  char *name;
  struct mp_idp_client *clients;
  size_t nclients;
  struct mp_idp_refresh *refresh;
  size_t nrefresh;
  /* What introspection knows: user, scope, expiry (fake_servers/fake.h's
   * tokens, as the mail servers take them). */
  struct mp_fake_token *tokens;
  size_t ntokens;
  char *scope;           /* the scope an answer names, or NULL */
  uint64_t expires_in_s; /* the lifetime an answer names; 0: 3600 */
  enum mp_idp_answer answer;
  uint64_t delay_ms; /* every /token answer waits this long */
};

/* Starts the endpoint on 127.0.0.1 at a port the kernel picks; the config
 * is used in place and must outlive the endpoint. 0 and *out, or a
 * negative code with a message in err. */
int mp_idp_start(struct uv_loop_s *loop, const struct mp_idp_config *cfg,
                 struct mp_idp **out, char *err, size_t errlen);

/* Its port. */
uint16_t mp_idp_port(const struct mp_idp *idp);

/* The grants it answered so far (any outcome): for expectations. */
unsigned mp_idp_requests(const struct mp_idp *idp);

/* Stops it: held answers (slow, hanging) are dropped; done (may be NULL)
 * runs once everything is closed, and the endpoint is freed then. */
void mp_idp_stop(struct mp_idp *idp, void (*done)(void *data), void *data);

/* Frees what a config owns (for configs built by a parser). */
void mp_idp_config_free(struct mp_idp_config *cfg);

#endif
