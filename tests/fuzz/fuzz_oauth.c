/* Fuzz targets for OAuth: built three times (FUZZ_OAUTH).
 *
 * oauth_error (FUZZ_OAUTH=1): the input is the bytes of a server's error
 *   challenge. mp_sasl_oauth_error_parse must return 0 or a named error,
 *   with not_json set exactly when it failed as no JSON object; then a
 *   client of each bearer mechanism that sent its message gets the same
 *   bytes as a challenge and must answer %x01 (OAUTHBEARER) or an empty
 *   response (XOAUTH2), and nothing after.
 * token_reply (FUZZ_OAUTH=2): the input is a token endpoint's body.
 *   mp_token_reply_parse must return 0 with an access token or an error
 *   (RFC 6749 5.1, 5.2), or a named error with everything cleared.
 * oauth_server (FUZZ_OAUTH=3): one control byte (bit 0: XOAUTH2, else
 *   OAUTHBEARER; bit 1: no initial response), then lines of raw bytes that
 *   this target base64-encodes for the server half: the token check
 *   accepts "good" for probe@example.test (or an empty user) and answers
 *   anything else with an error challenge. A login only follows the good
 *   token; after an error challenge only a refusal or a protocol error. */
#include "harness/oauth/token.h"
#include "wire/sasl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz_util.h"
#include "wire/codec.h"
#include "wire/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#if FUZZ_OAUTH == 1
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct mp_sasl_oauth_error e;
  int rc = mp_sasl_oauth_error_parse(data, size, &e);
  if (rc != 0 && rc != MP_E_PROTOCOL_ERROR && rc != MP_E_NO_RESOURCES)
    abort();
  if ((rc == MP_E_PROTOCOL_ERROR) != (e.not_json == 1))
    abort();
  if (rc != 0 && (e.status || e.scope || e.schemes))
    abort();
  mp_sasl_oauth_error_clear(&e);
  for (int mech = MP_SASL_OAUTHBEARER; mech <= MP_SASL_XOAUTH2; mech++) {
    struct mp_sasl_client *c =
        mp_sasl_client_new(mech, "probe@example.test", "tok");
    char *out = NULL, *ch = mp_b64_encode(data, size);
    if (!c || !ch || mp_sasl_client_initial(c, &out) != 0)
      abort();
    free(out);
    out = NULL;
    rc = mp_sasl_client_step(c, ch, &out);
    if (rc == MP_SASL_CONTINUE) {
      if (!out || strcmp(out, mech == MP_SASL_XOAUTH2 ? "" : "AQ==") != 0)
        abort();
      if (!mp_sasl_client_oauth_error(c))
        abort();
    } else if (rc != MP_E_NO_RESOURCES) {
      abort();
    }
    free(out);
    out = NULL;
    if (mp_sasl_client_step(c, "", &out) >= 0)
      abort();
    free(out);
    free(ch);
    mp_sasl_client_free(c);
  }
  return 0;
}
#elif FUZZ_OAUTH == 2
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct mp_token_reply r;
  int rc = mp_token_reply_parse((const char *)data, size, &r);
  if (rc == 0) {
    if (!r.error && (!r.access_token || !*r.access_token))
      abort();
    if (r.expires_in < -1)
      abort();
  } else {
    if (rc != MP_E_PROTOCOL_ERROR && rc != MP_E_NO_RESOURCES)
      abort();
    if (r.access_token || r.refresh_token || r.error || r.error_description)
      abort();
  }
  mp_token_reply_clear(&r);
  return 0;
}
#else
static int checks, accepted;

static int bearer(void *data, const char *user, const char *token, char **who,
                  char **error)
{
  (void)data;
  checks++;
  *error = NULL;
  (void)who;
  if (strcmp(token, "good") == 0 &&
      (!*user || strcmp(user, "probe@example.test") == 0))
    return 0;
  *error = strdup("{\"status\":\"invalid_token\"}");
  return MP_E_AUTH_FAILED;
}

static const char *lookup(void *d, const char *u)
{
  (void)d;
  (void)u;
  return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct fz_lines it;
  const uint8_t *line;
  size_t len;
  char *msg, *out = NULL;
  int rc, steps = 0, refused = 0;

  if (size < 1)
    return 0;
  int mech = (data[0] & 1) ? MP_SASL_XOAUTH2 : MP_SASL_OAUTHBEARER;
  struct mp_sasl_server *s =
      mp_sasl_server_new(mech, "mx.example.test", lookup, NULL);
  if (!s)
    abort();
  mp_sasl_server_set_bearer(s, bearer, NULL);
  checks = accepted = 0;
  fz_lines_init(&it, data + 1, size - 1);
  if (data[0] & 2) {
    rc = mp_sasl_server_start(s, NULL, &out);
    if (rc != MP_SASL_CONTINUE || !out || *out)
      abort(); /* an empty challenge asks for the message */
  } else {
    if (!fz_lines_next(&it, &line, &len))
      goto done;
    msg = mp_b64_encode(line, len);
    if (!msg)
      goto done;
    rc = mp_sasl_server_start(s, msg, &out);
    free(msg);
  }
  for (;;) {
    if (rc == MP_SASL_CONTINUE && out && *out)
      refused = 1; /* an error challenge went out */
    free(out);
    out = NULL;
    if (rc != MP_SASL_CONTINUE || steps++ > 8 ||
        !fz_lines_next(&it, &line, &len))
      break;
    msg = mp_b64_encode(line, len);
    if (!msg)
      break;
    rc = mp_sasl_server_step(s, msg, &out);
    free(msg);
  }
  if (rc == MP_SASL_DONE && (refused || !mp_sasl_server_user(s)))
    abort(); /* no login after an error challenge */
  if (rc != MP_SASL_DONE && mp_sasl_server_user(s))
    abort();
  if (checks > 1)
    abort(); /* one token per exchange */
done:
  free(out);
  mp_sasl_server_free(s);
  return 0;
}
#endif
