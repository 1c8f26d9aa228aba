/* SCRAM-SHA-256 and SCRAM-SHA-1 (RFC 7677, RFC 5802; no channel binding)
 * through GNU SASL: the one shared GNU SASL context, the mapping of its
 * errors onto ours, the test-only nonce hook, and both halves of SCRAM.
 * The only file that includes gsasl.h; the mechanism table is in
 * wire/sasl.c. */
#include "wire/sasl_internal.h"

#include <gsasl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "wire/codec.h"
#include "wire/errors.h"

/* --- The shared GNU SASL context. --- */

static Gsasl *gs_ctx;
static pthread_once_t gs_once = PTHREAD_ONCE_INIT;

/* The fixed nonce a test asked for, while its session starts. */
static _Thread_local const char *gs_fixed_nonce;

static int gs_callback(Gsasl *ctx, Gsasl_session *gs, Gsasl_property prop)
{
  struct mp_sasl_server *s = gsasl_session_hook_get(gs);
  const char *user, *pw;

  /* Clients set their properties up front; a server asks for the
   * password of the user named in the client-first message. Everything
   * else (salt, iteration count, channel bindings) keeps GNU SASL's
   * defaults: a fresh salt, 4096 iterations, no binding. */
  if (s == NULL || prop != GSASL_PASSWORD)
    return GSASL_NO_CALLBACK;
  user = gsasl_property_fast(gs, GSASL_AUTHID);
  pw = user != NULL && s->lookup != NULL ? s->lookup(s->data, user) : NULL;
  if (pw == NULL)
    return GSASL_NO_PASSWORD;
  return gsasl_property_set(gs, GSASL_PASSWORD, pw);
}

static void gs_free(void)
{
  gsasl_done(gs_ctx);
  gs_ctx = NULL;
}

static void gs_init(void)
{
  if (gsasl_init(&gs_ctx) != GSASL_OK) {
    gs_ctx = NULL;
    return;
  }
  gsasl_callback_set(gs_ctx, gs_callback);
  /* Freed at exit so leak checkers see nothing of it; should atexit fail,
   * it stays "still reachable", never lost. */
  (void)atexit(gs_free);
}

static Gsasl *gs_get(void)
{
  pthread_once(&gs_once, gs_init);
  return gs_ctx;
}

int mp_sasl_take_nonce(void *buf, size_t len)
{
  unsigned char *bin;
  size_t n;
  int ok = 0;

  if (gs_fixed_nonce == NULL)
    return 0;
  bin = mp_b64_decode(gs_fixed_nonce, &n);
  if (bin != NULL && n == len) {
    memcpy(buf, bin, len);
    ok = 1;
  }
  free(bin);
  /* Only the first draw: a server's second one is its salt. */
  gs_fixed_nonce = NULL;
  return ok;
}

/* Maps a GNU SASL failure onto our names. */
static int gs_error(int rc)
{
  switch (rc) {
  case GSASL_MALLOC_ERROR:
  case GSASL_CRYPTO_ERROR:
    return MP_E_NO_RESOURCES;
  case GSASL_MECHANISM_PARSE_ERROR:
  case GSASL_BASE64_ERROR:
  case GSASL_MECHANISM_CALLED_TOO_MANY_TIMES:
    return MP_E_PROTOCOL_ERROR;
  default:
    /* GSASL_AUTHENTICATION_ERROR (a wrong proof, or on the client side a
     * server signature that does not match: the server does not know the
     * password), GSASL_NO_PASSWORD (no such user), SASLprep failures. */
    return MP_E_AUTH_FAILED;
  }
}

/* One GNU SASL step: in -> *out. */
static int gs_step(Gsasl_session *gs, const unsigned char *in, size_t len,
                   struct raw *out)
{
  char *o = NULL;
  size_t olen = 0;
  int rc, err;

  rc = gsasl_step(gs, (const char *)in, len, &o, &olen);
  if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE) {
    gsasl_free(o);
    return gs_error(rc);
  }
  err = mp_sasl__raw_set(out, o, o != NULL ? olen : 0);
  gsasl_free(o);
  if (err < 0)
    return err;
  return rc == GSASL_OK ? MP_SASL_DONE : MP_SASL_CONTINUE;
}

/* Starts a GNU SASL session of mech, drawing the test's fixed nonce if one
 * is set: 0 or a negative code (*gs NULL then). */
static int gs_start(int server, int mech, const char *nonce, Gsasl_session **gs)
{
  Gsasl *ctx = gs_get();
  int rc;

  if (ctx == NULL)
    return MP_E_NO_RESOURCES;
  gs_fixed_nonce = nonce;
  rc = server ? gsasl_server_start(ctx, mp_sasl_name(mech), gs)
              : gsasl_client_start(ctx, mp_sasl_name(mech), gs);
  gs_fixed_nonce = NULL;
  if (rc != GSASL_OK) {
    *gs = NULL;
    return gs_error(rc);
  }
  return 0;
}

static int scram_client_start(struct mp_sasl_client *c, struct raw *out)
{
  int rc = gs_start(0, c->mech, c->nonce, &c->gs);

  if (rc < 0)
    return rc;
  gsasl_property_set(c->gs, GSASL_AUTHID, c->user);
  gsasl_property_set(c->gs, GSASL_PASSWORD, c->password);
  /* The client-first message: "n,,n=user,r=nonce" (RFC 5802 5.1). */
  rc = gs_step(c->gs, NULL, 0, out);
  c->phase = 1;
  if (rc == MP_SASL_DONE) {
    free(out->buf);
    out->buf = NULL;
    rc = MP_E_PROTOCOL_ERROR;
  }
  return rc;
}

/* RFC 5802 5.1 leaves the iteration count to the server; RFC 7677 asks
 * for at least 4096. PBKDF2 runs on the event loop, so a hostile server
 * asking for billions could stall every probe: refuse past this. */
#define SCRAM_MAX_ITERATIONS 100000

/* 1 when the server-first message asks for more than we will compute. */
static int scram_too_many_iterations(const unsigned char *in, size_t len)
{
  for (size_t i = 0; i + 1 < len; i++) {
    if ((i == 0 || in[i - 1] == ',') && in[i] == 'i' && in[i + 1] == '=') {
      unsigned long long n = 0;
      size_t k = i + 2;
      if (k >= len || in[k] < '0' || in[k] > '9')
        return 1; /* not a number: gsasl would refuse it anyway */
      for (; k < len && in[k] >= '0' && in[k] <= '9'; k++) {
        n = n * 10 + (unsigned)(in[k] - '0');
        if (n > SCRAM_MAX_ITERATIONS)
          return 1;
      }
      return 0;
    }
  }
  return 0;
}

/* The client half: client-first, then client-final, then an empty answer
 * to the server-final message once its signature checked out. */
int mp_sasl__scram_client(struct mp_sasl_client *c, const unsigned char *in,
                          size_t len, int have_in, struct raw *out)
{
  int rc;

  if (c->phase == 0) {
    /* Without an initial response the server opens with an empty
     * challenge (RFC 4422 section 5). */
    if (have_in && len != 0)
      return MP_E_PROTOCOL_ERROR;
    return scram_client_start(c, out);
  }
  if (c->phase == 3)
    return MP_E_PROTOCOL_ERROR;
  /* RFC 5802 7: server-error "e=..." in place of the server-final
   * message: the server refused the proof. */
  if (c->phase == 2 && len >= 2 && in[0] == 'e' && in[1] == '=')
    return MP_E_AUTH_FAILED;
  if (c->phase == 1 && scram_too_many_iterations(in, len))
    return MP_E_PROTOCOL_ERROR;
  rc = gs_step(c->gs, in, len, out);
  if (rc < 0)
    return rc;
  c->phase++;
  if (rc == MP_SASL_DONE) {
    /* The server signature matched. Nothing more to say, but the
     * protocol wants an answer to this challenge: an empty one. */
    if (c->phase != 3) {
      free(out->buf);
      out->buf = NULL;
      return MP_E_PROTOCOL_ERROR;
    }
    free(out->buf);
    return mp_sasl__raw_set(out, "", 0) < 0 ? MP_E_NO_RESOURCES : MP_SASL_DONE;
  }
  /* A server-final message that GNU SASL wants more after is a server
   * out of step. */
  if (c->phase == 3) {
    free(out->buf);
    out->buf = NULL;
    return MP_E_PROTOCOL_ERROR;
  }
  return MP_SASL_CONTINUE;
}

/* The server half: server-first, then server-final once the proof checks
 * out and the user is who it logs in as, then DONE on the empty answer. */
int mp_sasl__scram_server(struct mp_sasl_server *s, const unsigned char *in,
                          size_t len, int have_in, struct raw *out)
{
  const char *authzid, *authid;
  int rc;

  if (s->phase == 0) {
    rc = gs_start(1, s->mech, s->fixed, &s->gs);
    if (rc < 0)
      return rc;
    gsasl_session_hook_set(s->gs, s);
    s->phase = 1;
    /* No initial response: GNU SASL answers the empty input with an
     * empty challenge and waits for the client-first message. */
  }
  if (s->phase == 2) {
    /* The client's answer to our server-final message is empty. */
    if (len != 0)
      return MP_E_PROTOCOL_ERROR;
    s->phase = 3;
    return MP_SASL_DONE;
  }
  rc = gs_step(s->gs, in, have_in ? len : 0, out);
  if (rc != MP_SASL_DONE)
    return rc;
  /* The proof checked out; out holds "v=ServerSignature". Authorize no
   * one as anyone else. */
  authid = gsasl_property_fast(s->gs, GSASL_AUTHID);
  authzid = gsasl_property_fast(s->gs, GSASL_AUTHZID);
  if (authid == NULL ||
      (authzid != NULL && *authzid != '\0' && strcmp(authzid, authid) != 0)) {
    free(out->buf);
    out->buf = NULL;
    return MP_E_AUTH_FAILED;
  }
  s->user = strdup(authid);
  if (s->user == NULL) {
    free(out->buf);
    out->buf = NULL;
    return MP_E_NO_RESOURCES;
  }
  s->phase = 2;
  return MP_SASL_CONTINUE;
}

/* Ends a GNU SASL session; NULL is a no-op. */
void mp_sasl__scram_finish(struct Gsasl_session *gs)
{
  if (gs != NULL)
    gsasl_finish(gs);
}
