/* Unit tests for wire/sasl.c: the mechanism table and choose(), the RFC
 * 2195 (CRAM-MD5), RFC 4616 (PLAIN), RFC 5802 (SCRAM-SHA-1) and RFC 7677
 * (SCRAM-SHA-256) examples against each half, every client/server pair
 * back to back with right and wrong passwords, and malformed messages for
 * the server half. */
#include "wire/sasl.h"

#include "wire/codec.h"
#include "wire/errors.h"

#include <check.h>
#include <gsasl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* GNU SASL draws SCRAM nonces through gsasl_nonce(); this binary's
 * definition takes precedence over the library's, so a test can fix the
 * nonce with mp_sasl_client_set_nonce / mp_sasl_server_set_challenge.
 * Counts calls so a test can tell the seam is in use. */
static int nonce_calls;

int gsasl_nonce(char *data, size_t datalen)
{
  nonce_calls++;
  if (mp_sasl_take_nonce(data, datalen))
    return GSASL_OK;
  return mp_random(data, datalen) == 0 ? GSASL_OK : GSASL_CRYPTO_ERROR;
}

/* --- Helpers. --- */

static const struct {
  const char *user, *password;
} users[] = {
    {"tim", "tanstaaftanstaaf"}, /* RFC 2195, RFC 4616 */
    {"Kurt", "xipj3plmq"},       /* RFC 4616 */
    {"user", "pencil"},          /* RFC 5802, RFC 7677 */
    {"probe@example.test", "s3cret"},
    {"with space", "p a s s"},
};

static int lookups;

static const char *lookup(void *data, const char *user)
{
  int i;

  ck_assert_ptr_eq(data, (void *)users);
  lookups++;
  for (i = 0; i < N(users); i++)
    if (strcmp(users[i].user, user) == 0)
      return users[i].password;
  return NULL;
}

/* The bearer check of the tests: a user's token is their password here,
 * so one vector checks every mechanism; a refusal carries RFC 7628's
 * error. */
static int bearer(void *data, const char *user, const char *token, char **who,
                  char **error)
{
  const char *want = lookup(data, user);

  *error = NULL;
  (void)who;
  if (want != NULL && strcmp(want, token) == 0)
    return 0;
  *error = strdup("{\"status\":\"invalid_token\"}");
  return MP_E_AUTH_FAILED;
}

static struct mp_sasl_server *server(int mech)
{
  struct mp_sasl_server *s =
      mp_sasl_server_new(mech, "mx.example.test", lookup, (void *)users);

  ck_assert_ptr_nonnull(s);
  mp_sasl_server_set_bearer(s, bearer, (void *)users);
  return s;
}

/* base64 of len bytes (test-owned copy). */
static char *b64(const void *buf, size_t len)
{
  char *t = mp_b64_encode(buf, len);

  ck_assert_ptr_nonnull(t);
  return t;
}

static char *b64s(const char *s)
{
  return b64(s, strlen(s));
}

/* Decodes base64 the test expects to be well formed; *len gets the size. */
static char *unb64(const char *text, size_t *len)
{
  size_t n = 0;
  unsigned char *p;

  ck_assert_ptr_nonnull(text);
  p = mp_b64_decode(text, &n);
  ck_assert_ptr_nonnull(p);
  if (len != NULL)
    *len = n;
  return (char *)p;
}

/* Asserts that base64 text decodes to exactly want/wantlen. */
static void assert_b64_is(const char *text, const char *want, size_t wantlen)
{
  size_t len;
  char *got = unb64(text, &len);

  ck_assert_uint_eq(len, wantlen);
  ck_assert_mem_eq(got, want, wantlen);
  free(got);
}

#define ASSERT_B64_STR(text, want) assert_b64_is(text, want, strlen(want))

/* --- An independent SCRAM computation (RFC 5802 section 3), used to
 * check GNU SASL through our API; itself checked against the RFC
 * examples first. --- */

static void scram_compute(const char *md, const char *password,
                          const char *salt_b64, int iter, const char *authmsg,
                          char **proof_b64, char **sig_b64)
{
  const EVP_MD *h = EVP_get_digestbyname(md);
  unsigned char salted[64], ckey[64], skey[64], stored[64], csig[64], proof[64],
      ssig[64];
  unsigned hlen, n;
  size_t saltlen, i, got;
  unsigned char *salt = mp_b64_decode(salt_b64, &saltlen);

  ck_assert_ptr_nonnull(h);
  ck_assert_ptr_nonnull(salt);
  hlen = (unsigned)EVP_MD_get_size(h);
  /* SaltedPassword := Hi(Normalize(password), salt, i) */
  ck_assert_int_eq(PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt,
                                     (int)saltlen, iter, h, (int)hlen, salted),
                   1);
  free(salt);
  /* ClientKey, StoredKey, ClientSignature, ClientProof, ServerKey,
   * ServerSignature. */
  ck_assert_ptr_nonnull(EVP_Q_mac(NULL, "HMAC", NULL, md, NULL, salted, hlen,
                                  (const unsigned char *)"Client Key", 10, ckey,
                                  sizeof ckey, &got));
  ck_assert_int_eq(EVP_Digest(ckey, hlen, stored, &n, h, NULL), 1);
  ck_assert_ptr_nonnull(EVP_Q_mac(NULL, "HMAC", NULL, md, NULL, stored, hlen,
                                  (const unsigned char *)authmsg,
                                  strlen(authmsg), csig, sizeof csig, &got));
  for (i = 0; i < hlen; i++)
    proof[i] = ckey[i] ^ csig[i];
  ck_assert_ptr_nonnull(EVP_Q_mac(NULL, "HMAC", NULL, md, NULL, salted, hlen,
                                  (const unsigned char *)"Server Key", 10, skey,
                                  sizeof skey, &got));
  ck_assert_ptr_nonnull(EVP_Q_mac(NULL, "HMAC", NULL, md, NULL, skey, hlen,
                                  (const unsigned char *)authmsg,
                                  strlen(authmsg), ssig, sizeof ssig, &got));
  *proof_b64 = b64(proof, hlen);
  *sig_b64 = b64(ssig, hlen);
}

/* The RFC 5802 section 5 and RFC 7677 section 3 examples. */
static const struct scram_vector {
  int mech;
  const char *md;
  const char *cnonce;
  const char *snonce;
  const char *salt;
  const char *proof;
  const char *sig;
} scram_rfc[] = {
    {MP_SASL_SCRAM_SHA_1, "SHA1", "fyko+d2lbbFgONRv9qkxdawL",
     "3rfcNHYJY1ZVvWVs7j", "QSXCR+Q6sek8bf92",
     "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", "rmF9pqV8S7suAoZWja4dJRkFsKQ="},
    {MP_SASL_SCRAM_SHA_256, "SHA256", "rOprNGfwEbeRWgbNEkqO",
     "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
     "W22ZaJ0SNY7soEsUEjb6gQ==", "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
     "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="},
};

/* AuthMessage for user "user" and the given nonces and salt. */
static char *scram_authmsg(const char *cnonce, const char *snonce,
                           const char *salt)
{
  char *am;

  ck_assert_int_ge(asprintf(&am, "n=user,r=%s,r=%s%s,s=%s,i=4096,c=biws,r=%s%s",
                            cnonce, cnonce, snonce, salt, cnonce, snonce),
                   0);
  return am;
}

START_TEST(test_scram_helper_matches_rfc)
{
  const struct scram_vector *v = &scram_rfc[_i];
  char *am = scram_authmsg(v->cnonce, v->snonce, v->salt);
  char *proof, *sig;

  scram_compute(v->md, "pencil", v->salt, 4096, am, &proof, &sig);
  ck_assert_str_eq(proof, v->proof);
  ck_assert_str_eq(sig, v->sig);
  free(proof);
  free(sig);
  free(am);
}
END_TEST

/* RFC 5802 section 5, the client half word for word (the nonce fixed
 * through the gsasl_nonce seam). */
START_TEST(test_scram_sha1_client_rfc5802)
{
  const struct scram_vector *v = &scram_rfc[0];
  struct mp_sasl_client *c =
      mp_sasl_client_new(MP_SASL_SCRAM_SHA_1, "user", "pencil");
  char *out, *in;

  ck_assert_ptr_nonnull(c);
  mp_sasl_client_set_nonce(c, v->cnonce);
  nonce_calls = 0;
  ck_assert_int_eq(mp_sasl_client_initial(c, &out), 0);
  ck_assert_int_ge(nonce_calls, 1);
  ASSERT_B64_STR(out, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
  free(out);

  in = b64s("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
            "s=QSXCR+Q6sek8bf92,i=4096");
  ck_assert_int_eq(mp_sasl_client_step(c, in, &out), MP_SASL_CONTINUE);
  ASSERT_B64_STR(out, "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
                      "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=");
  free(out);
  free(in);

  in = b64s("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
  ck_assert_int_eq(mp_sasl_client_step(c, in, &out), MP_SASL_DONE);
  ck_assert_ptr_nonnull(out);
  ck_assert_str_eq(out, "");
  free(out);
  free(in);
  /* Nothing more to answer. */
  ck_assert_int_eq(mp_sasl_client_step(c, "", &out), MP_E_PROTOCOL_ERROR);
  ck_assert_ptr_null(out);
  mp_sasl_client_free(c);
}
END_TEST

/* Runs a SCRAM client to its final step with a fixed 24-character nonce
 * and the RFC's salt, checking its proof against the helper; returns the
 * client and the server signature it must accept. */
static struct mp_sasl_client *scram_client_to_final(int i, char **sig)
{
  const struct scram_vector *v = &scram_rfc[i];
  static const char cnonce[] = "AAECAwQFBgcICQoLDA0ODxAR";
  struct mp_sasl_client *c = mp_sasl_client_new(v->mech, "user", "pencil");
  char *out, *in, *sf, *am, *proof, *want;

  ck_assert_ptr_nonnull(c);
  mp_sasl_client_set_nonce(c, cnonce);
  ck_assert_int_eq(mp_sasl_client_initial(c, &out), 0);
  ASSERT_B64_STR(out, "n,,n=user,r=AAECAwQFBgcICQoLDA0ODxAR");
  free(out);
  ck_assert_int_ge(
      asprintf(&sf, "r=%s%s,s=%s,i=4096", cnonce, v->snonce, v->salt), 0);
  in = b64s(sf);
  ck_assert_int_eq(mp_sasl_client_step(c, in, &out), MP_SASL_CONTINUE);
  am = scram_authmsg(cnonce, v->snonce, v->salt);
  scram_compute(v->md, "pencil", v->salt, 4096, am, &proof, sig);
  ck_assert_int_ge(
      asprintf(&want, "c=biws,r=%s%s,p=%s", cnonce, v->snonce, proof), 0);
  ASSERT_B64_STR(out, want);
  free(want);
  free(proof);
  free(am);
  free(out);
  free(in);
  free(sf);
  return c;
}

START_TEST(test_scram_client_final_ok)
{
  char *sig, *v, *in, *out;
  struct mp_sasl_client *c = scram_client_to_final(_i, &sig);

  ck_assert_int_ge(asprintf(&v, "v=%s", sig), 0);
  in = b64s(v);
  ck_assert_int_eq(mp_sasl_client_step(c, in, &out), MP_SASL_DONE);
  ck_assert_str_eq(out, "");
  free(out);
  free(in);
  free(v);
  free(sig);
  mp_sasl_client_free(c);
}
END_TEST

/* A server that does not know the password cannot sign: the client
 * refuses it; a server-error message is a refusal too. */
static const char *const scram_bad_final[] = {
    "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=", /* another exchange's signature */
    "e=invalid-proof",
    "e=other-error",
};

START_TEST(test_scram_client_final_bad)
{
  int i;
  char *sig, *in, *out;
  struct mp_sasl_client *c;

  for (i = 0; i < N(scram_rfc); i++) {
    c = scram_client_to_final(i, &sig);
    in = b64s(scram_bad_final[_i]);
    ck_assert_int_eq(mp_sasl_client_step(c, in, &out), MP_E_AUTH_FAILED);
    ck_assert_ptr_null(out);
    free(in);
    free(sig);
    mp_sasl_client_free(c);
  }
}
END_TEST

/* A server nonce that does not extend ours, or a server-first message
 * that does not parse, stops the client. */
START_TEST(test_scram_client_bad_server_first)
{
  struct mp_sasl_client *c =
      mp_sasl_client_new(MP_SASL_SCRAM_SHA_256, "user", "pencil");
  char *out, *in;

  mp_sasl_client_set_nonce(c, "AAECAwQFBgcICQoLDA0ODxAR");
  ck_assert_int_eq(mp_sasl_client_initial(c, &out), 0);
  free(out);
  in = b64s("r=BBECAwQFBgcICQoLDA0ODxARxyz,s=QSXCR+Q6sek8bf92,i=4096");
  ck_assert_int_lt(mp_sasl_client_step(c, in, &out), 0);
  ck_assert_ptr_null(out);
  free(in);
  mp_sasl_client_free(c);

  c = mp_sasl_client_new(MP_SASL_SCRAM_SHA_1, "user", "pencil");
  ck_assert_int_eq(mp_sasl_client_initial(c, &out), 0);
  free(out);
  in = b64s("hello");
  ck_assert_int_eq(mp_sasl_client_step(c, in, &out), MP_E_PROTOCOL_ERROR);
  free(in);
  mp_sasl_client_free(c);
}
END_TEST

/* A hostile server-first message asking for two billion PBKDF2 rounds is
 * refused before any of them run (the loop would stall for minutes). */
START_TEST(test_scram_client_iteration_cap)
{
  static const char *const firsts[] = {
      "r=AAECAwQFBgcICQoLDA0ODxARxyz,s=QSXCR+Q6sek8bf92,i=2000000000",
      "r=AAECAwQFBgcICQoLDA0ODxARxyz,s=QSXCR+Q6sek8bf92,i=100001",
      /* One string in two pieces (the parentheses tell clang so). */
      ("r=AAECAwQFBgcICQoLDA0ODxARxyz,s=QSXCR+Q6sek8bf92,"
       "i=99999999999999999999999999"),
  };
  for (size_t k = 0; k < sizeof(firsts) / sizeof(firsts[0]); k++) {
    struct mp_sasl_client *c =
        mp_sasl_client_new(MP_SASL_SCRAM_SHA_256, "user", "pencil");
    char *out, *in;
    mp_sasl_client_set_nonce(c, "AAECAwQFBgcICQoLDA0ODxAR");
    ck_assert_int_eq(mp_sasl_client_initial(c, &out), 0);
    free(out);
    in = b64s(firsts[k]);
    out = NULL;
    ck_assert_int_eq(mp_sasl_client_step(c, in, &out), MP_E_PROTOCOL_ERROR);
    ck_assert_ptr_null(out);
    free(in);
    mp_sasl_client_free(c);
  }
}
END_TEST

/* Drives our server half with a client-first message "<gs2>n=user,r=
 * <cnonce>" and a client-final message the helper computes for password.
 * Returns the server's answer to the client-final message, with its
 * server-first message in *sf, its answer in *final (decoded, or NULL) and
 * the server signature the helper expects in *sig. */
static int scram_server_run(struct mp_sasl_server *s, const char *md,
                            const char *gs2, const char *cnonce,
                            const char *password, char **sf, char **final,
                            char **sig)
{
  char *cf1, *in, *out, *salt, *am, *proof, *cf2, *cbind, *snonce;
  const char *p, *q;
  int rc;

  ck_assert_int_ge(asprintf(&cf1, "%sn=user,r=%s", gs2, cnonce), 0);
  in = b64s(cf1);
  ck_assert_int_eq(mp_sasl_server_start(s, in, &out), MP_SASL_CONTINUE);
  free(in);
  *sf = unb64(out, NULL);
  free(out);
  /* "r=<cnonce><snonce>,s=<salt>,i=4096" */
  ck_assert_int_eq(strncmp(*sf, "r=", 2), 0);
  ck_assert_int_eq(strncmp(*sf + 2, cnonce, strlen(cnonce)), 0);
  p = strstr(*sf, ",s=");
  q = strstr(*sf, ",i=4096");
  ck_assert_ptr_nonnull(p);
  ck_assert_ptr_nonnull(q);
  ck_assert_str_eq(q, ",i=4096");
  snonce =
      strndup(*sf + 2 + strlen(cnonce), (size_t)(p - *sf) - 2 - strlen(cnonce));
  salt = strndup(p + 3, (size_t)(q - p - 3));
  cbind = b64s(gs2);
  ck_assert_int_ge(asprintf(&am, "n=user,r=%s,%s,c=%s,r=%s%s", cnonce, *sf,
                            cbind, cnonce, snonce),
                   0);
  scram_compute(md, password, salt, 4096, am, &proof, sig);
  ck_assert_int_ge(
      asprintf(&cf2, "c=%s,r=%s%s,p=%s", cbind, cnonce, snonce, proof), 0);
  in = b64s(cf2);
  rc = mp_sasl_server_step(s, in, &out);
  *final = out != NULL ? unb64(out, NULL) : NULL;
  free(out);
  free(in);
  free(cf2);
  free(proof);
  free(am);
  free(cbind);
  free(salt);
  free(snonce);
  free(cf1);
  return rc;
}

/* Our server half with a fixed server nonce: its server-first message is
 * exact but for the fresh salt; a client-final computed by the helper is
 * accepted and the server signs as the helper says; a wrong proof fails. */
START_TEST(test_scram_server_fixed_nonce)
{
  static const char snonce[] = "ERAPDg0MCwoJCAcGBQQDAgEA";
  const struct scram_vector *v = &scram_rfc[_i / 2];
  int wrong = _i % 2;
  struct mp_sasl_server *s = server(v->mech);
  char *sf, *final, *sig, *want, *out;
  int rc;

  mp_sasl_server_set_challenge(s, snonce);
  rc = scram_server_run(s, v->md, "n,,", "fyko+d2lbbFgONRv9qkxdawL",
                        wrong ? "pencil!" : "pencil", &sf, &final, &sig);
  /* The nonce is ours and the salt a fresh 12 bytes. */
  ck_assert_int_eq(strncmp(sf,
                           "r=fyko+d2lbbFgONRv9qkxdawLERAPDg0MCwoJCAcGBQQDAgEA"
                           ",s=",
                           53),
                   0);
  ck_assert_uint_eq(strlen(sf), 53 + 16 + 7);
  if (wrong) {
    ck_assert_int_eq(rc, MP_E_AUTH_FAILED);
    ck_assert_ptr_null(final);
    ck_assert_ptr_null(mp_sasl_server_user(s));
  } else {
    ck_assert_int_eq(rc, MP_SASL_CONTINUE);
    ck_assert_int_ge(asprintf(&want, "v=%s", sig), 0);
    ck_assert_str_eq(final, want);
    free(want);
    ck_assert_ptr_null(mp_sasl_server_user(s));
    ck_assert_int_eq(mp_sasl_server_step(s, "", &out), MP_SASL_DONE);
    ck_assert_ptr_null(out);
    ck_assert_str_eq(mp_sasl_server_user(s), "user");
  }
  free(final);
  free(sig);
  free(sf);
  mp_sasl_server_free(s);
}
END_TEST

/* The authorization identity: none, or the user itself, is fine; anyone
 * else is not (the proof is right in every case). */
static const struct {
  const char *gs2;
  int want;
} scram_authzid_cases[] = {
    {"n,,", MP_SASL_CONTINUE},
    {"n,a=user,", MP_SASL_CONTINUE},
    {"n,a=tim,", MP_E_AUTH_FAILED},
};

START_TEST(test_scram_server_authzid)
{
  int c = _i % N(scram_authzid_cases);
  const struct scram_vector *v = &scram_rfc[_i / N(scram_authzid_cases)];
  struct mp_sasl_server *s = server(v->mech);
  char *sf, *final, *sig;

  ck_assert_int_eq(scram_server_run(s, v->md, scram_authzid_cases[c].gs2,
                                    "abcdefghijklmnop", "pencil", &sf, &final,
                                    &sig),
                   scram_authzid_cases[c].want);
  free(final);
  free(sig);
  free(sf);
  mp_sasl_server_free(s);
}
END_TEST

/* --- CRAM-MD5 (RFC 2195 section 2). --- */

static const char rfc2195_challenge[] =
    "<1896.697170952@postoffice.reston.mci.net>";

START_TEST(test_cram_client_rfc2195)
{
  struct mp_sasl_client *c =
      mp_sasl_client_new(MP_SASL_CRAM_MD5, "tim", "tanstaaftanstaaf");
  char *out = (char *)1, *in;

  ck_assert_int_eq(mp_sasl_client_initial(c, &out), 0);
  ck_assert_ptr_null(out);
  in = b64s(rfc2195_challenge);
  /* The RFC's base64 of the challenge. */
  ck_assert_str_eq(in, "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5"
                       "uZXQ+");
  ck_assert_int_eq(mp_sasl_client_step(c, in, &out), MP_SASL_CONTINUE);
  ck_assert_str_eq(out, "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
  ASSERT_B64_STR(out, "tim b913a602c7eda7a495b4e6e7334d3890");
  free(out);
  /* One challenge only. */
  ck_assert_int_eq(mp_sasl_client_step(c, in, &out), MP_E_PROTOCOL_ERROR);
  free(in);
  mp_sasl_client_free(c);
}
END_TEST

/* The server half with the RFC's challenge: responses and outcomes. */
static const struct {
  const char *response; /* decoded; NULL: send raw below */
  const char *raw;      /* sent as is (not base64) when response is NULL */
  int want;
} cram_server_cases[] = {
    {"tim b913a602c7eda7a495b4e6e7334d3890", NULL, MP_SASL_DONE},
    /* RFC 2195 says lower case; upper-case hex is the same digest. */
    {"tim B913A602C7EDA7A495B4E6E7334D3890", NULL, MP_SASL_DONE},
    {"tim b913a602c7eda7a495b4e6e7334d3891", NULL, MP_E_AUTH_FAILED},
    {"tom b913a602c7eda7a495b4e6e7334d3890", NULL, MP_E_AUTH_FAILED},
    {"Kurt b913a602c7eda7a495b4e6e7334d3890", NULL, MP_E_AUTH_FAILED},
    {"tim b913a602c7eda7a495b4e6e7334d389", NULL, MP_E_PROTOCOL_ERROR},
    {"tim b913a602c7eda7a495b4e6e7334d38900", NULL, MP_E_PROTOCOL_ERROR},
    {"timb913a602c7eda7a495b4e6e7334d3890", NULL, MP_E_PROTOCOL_ERROR},
    {"tim x913a602c7eda7a495b4e6e7334d3890", NULL, MP_E_PROTOCOL_ERROR},
    {" b913a602c7eda7a495b4e6e7334d3890", NULL, MP_E_PROTOCOL_ERROR},
    {"tim", NULL, MP_E_PROTOCOL_ERROR},
    {"", NULL, MP_E_PROTOCOL_ERROR},
    {NULL, "dGltIGI5MTNhNjAy!", MP_E_PROTOCOL_ERROR},
    {NULL, "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\n",
     MP_E_PROTOCOL_ERROR},
    {NULL, "=", MP_E_PROTOCOL_ERROR},
    {NULL, "*", MP_E_AUTH_FAILED},
};

START_TEST(test_cram_server_rfc2195)
{
  struct mp_sasl_server *s = server(MP_SASL_CRAM_MD5);
  char *out, *resp;

  mp_sasl_server_set_challenge(s, rfc2195_challenge);
  ck_assert_int_eq(mp_sasl_server_start(s, NULL, &out), MP_SASL_CONTINUE);
  ASSERT_B64_STR(out, rfc2195_challenge);
  free(out);
  if (cram_server_cases[_i].response != NULL)
    resp = b64s(cram_server_cases[_i].response);
  else
    resp = strdup(cram_server_cases[_i].raw);
  ck_assert_int_eq(mp_sasl_server_step(s, resp, &out),
                   cram_server_cases[_i].want);
  ck_assert_ptr_null(out);
  if (cram_server_cases[_i].want == MP_SASL_DONE)
    ck_assert_str_eq(mp_sasl_server_user(s), "tim");
  else
    ck_assert_ptr_null(mp_sasl_server_user(s));
  /* The exchange is over either way. */
  ck_assert_int_eq(mp_sasl_server_step(s, resp, &out), MP_E_PROTOCOL_ERROR);
  free(resp);
  mp_sasl_server_free(s);
}
END_TEST

START_TEST(test_cram_server_challenge)
{
  struct mp_sasl_server *s = server(MP_SASL_CRAM_MD5);
  struct mp_sasl_server *s2 = server(MP_SASL_CRAM_MD5);
  char *out, *out2, *ch, *ch2;
  size_t len;

  ck_assert_int_eq(mp_sasl_server_start(s, NULL, &out), MP_SASL_CONTINUE);
  ck_assert_int_eq(mp_sasl_server_start(s2, NULL, &out2), MP_SASL_CONTINUE);
  ch = unb64(out, &len);
  ch2 = unb64(out2, NULL);
  /* "<digits.digits@hostname>", and fresh each time. */
  ck_assert_int_eq(ch[0], '<');
  ck_assert_str_eq(ch + len - strlen("@mx.example.test>"), "@mx.example.test>");
  ck_assert_uint_eq(strspn(ch + 1, "0123456789."), strcspn(ch, "@") - 1);
  ck_assert_ptr_nonnull(strchr(ch, '.'));
  ck_assert_str_ne(ch, ch2);
  free(ch);
  free(ch2);
  free(out);
  free(out2);
  mp_sasl_server_free(s);
  mp_sasl_server_free(s2);

  /* CRAM-MD5 has no initial response. */
  s = server(MP_SASL_CRAM_MD5);
  ck_assert_int_eq(mp_sasl_server_start(s, "dGlt", &out), MP_E_PROTOCOL_ERROR);
  ck_assert_ptr_null(out);
  mp_sasl_server_free(s);
}
END_TEST

/* --- PLAIN (RFC 4616). --- */

START_TEST(test_plain_client_rfc4616)
{
  struct mp_sasl_client *c =
      mp_sasl_client_new(MP_SASL_PLAIN, "tim", "tanstaaftanstaaf");
  char *out;

  /* Section 4: "<NUL>tim<NUL>tanstaaftanstaaf" as the initial response. */
  ck_assert_int_eq(mp_sasl_client_initial(c, &out), 0);
  ck_assert_str_eq(out, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
  free(out);
  /* A further challenge is a server out of step. */
  ck_assert_int_eq(mp_sasl_client_step(c, "", &out), MP_E_PROTOCOL_ERROR);
  ck_assert_ptr_null(out);
  mp_sasl_client_free(c);

  /* Without an initial response: the answer to the empty challenge. */
  c = mp_sasl_client_new(MP_SASL_PLAIN, "tim", "tanstaaftanstaaf");
  ck_assert_int_eq(mp_sasl_client_step(c, "", &out), MP_SASL_CONTINUE);
  ck_assert_str_eq(out, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
  free(out);
  mp_sasl_client_free(c);

  /* A non-empty first challenge makes no sense for PLAIN. */
  c = mp_sasl_client_new(MP_SASL_PLAIN, "tim", "tanstaaftanstaaf");
  ck_assert_int_eq(mp_sasl_client_step(c, "Zm9v", &out), MP_E_PROTOCOL_ERROR);
  mp_sasl_client_free(c);
}
END_TEST

/* Server half: each message as the initial response and as the answer to
 * the empty challenge. */
/* A string literal and its length, NULs included. */
#define M(lit) lit, sizeof(lit) - 1

static const struct {
  const char *msg;
  size_t len;
  int want;
  const char *user;
} plain_cases[] = {
    /* RFC 4616 section 4, both examples. */
    {M("\0tim\0tanstaaftanstaaf"), MP_SASL_DONE, "tim"},
    /* Kurt may not act as Ursel: we authorize no one as anyone else. */
    {M("Ursel\0Kurt\0xipj3plmq"), MP_E_AUTH_FAILED, NULL},
    {M("Kurt\0Kurt\0xipj3plmq"), MP_SASL_DONE, "Kurt"},
    {M("\0Kurt\0xipj3plmq"), MP_SASL_DONE, "Kurt"},
    {M("\0with space\0p a s s"), MP_SASL_DONE, "with space"},
    {M("\0tim\0tanstaaftanstaag"), MP_E_AUTH_FAILED, NULL},
    {M("\0tim\0tanstaaftanstaafX"), MP_E_AUTH_FAILED, NULL},
    {M("\0tim\0tanstaaftanstaa"), MP_E_AUTH_FAILED, NULL},
    {M("\0nobody\0tanstaaftanstaaf"), MP_E_AUTH_FAILED, NULL},
    {M("\0TIM\0tanstaaftanstaaf"), MP_E_AUTH_FAILED, NULL},
    /* Malformed. */
    {M("tim tanstaaftanstaaf"), MP_E_PROTOCOL_ERROR, NULL},
    {M("\0timtanstaaftanstaaf"), MP_E_PROTOCOL_ERROR, NULL},
    {M("tim\0tanstaaftanstaaf"), MP_E_PROTOCOL_ERROR, NULL},
    {M("\0\0tanstaaftanstaaf"), MP_E_PROTOCOL_ERROR, NULL},
    {M("\0tim\0"), MP_E_PROTOCOL_ERROR, NULL},
    {M("\0tim\0tanstaaf\0tanstaaf"), MP_E_PROTOCOL_ERROR, NULL},
    {M("\0\0"), MP_E_PROTOCOL_ERROR, NULL},
    {M(""), MP_E_PROTOCOL_ERROR, NULL},
};

START_TEST(test_plain_server)
{
  int as_ir = _i % 2;
  int i = _i / 2;
  struct mp_sasl_server *s = server(MP_SASL_PLAIN);
  char *out, *msg = b64(plain_cases[i].msg, plain_cases[i].len);
  int rc;

  /* RFC 4954: the empty initial response is "=". */
  if (plain_cases[i].len == 0 && as_ir) {
    free(msg);
    msg = strdup("=");
  }
  if (as_ir) {
    rc = mp_sasl_server_start(s, msg, &out);
  } else {
    ck_assert_int_eq(mp_sasl_server_start(s, NULL, &out), MP_SASL_CONTINUE);
    ck_assert_str_eq(out, "");
    free(out);
    rc = mp_sasl_server_step(s, msg, &out);
  }
  ck_assert_int_eq(rc, plain_cases[i].want);
  ck_assert_ptr_null(out);
  if (plain_cases[i].user != NULL)
    ck_assert_str_eq(mp_sasl_server_user(s), plain_cases[i].user);
  else
    ck_assert_ptr_null(mp_sasl_server_user(s));
  free(msg);
  mp_sasl_server_free(s);
}
END_TEST

/* Not base64 at all, in either place; and "*" cancels. */
static const char *const bad_b64[] = {
    "AHRpbQB0YW5zdGFhZnRhbnN0YWF",
    "AHRpbQB0YW5zdGFhZnRhbnN0YWFm=",
    "AHRpbQB0 YW5zdGFhZnRhbnN0YWFm",
    "AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r",
    "!!!!",
    "==",
};

START_TEST(test_server_bad_base64)
{
  int mech;
  struct mp_sasl_server *s;
  char *out;

  for (mech = 0; mech < MP_SASL_COUNT; mech++) {
    /* As the initial response (CRAM-MD5 refuses any). */
    s = server(mech);
    ck_assert_int_eq(mp_sasl_server_start(s, bad_b64[_i], &out),
                     MP_E_PROTOCOL_ERROR);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(mp_sasl_server_step(s, "AAAA", &out), MP_E_PROTOCOL_ERROR);
    mp_sasl_server_free(s);
    /* As the answer to the first challenge. */
    s = server(mech);
    ck_assert_int_eq(mp_sasl_server_start(s, NULL, &out), MP_SASL_CONTINUE);
    free(out);
    ck_assert_int_eq(mp_sasl_server_step(s, bad_b64[_i], &out),
                     MP_E_PROTOCOL_ERROR);
    ck_assert_ptr_null(out);
    ck_assert_ptr_null(mp_sasl_server_user(s));
    mp_sasl_server_free(s);
  }
}
END_TEST

START_TEST(test_server_cancel)
{
  int mech;
  struct mp_sasl_server *s;
  char *out;

  for (mech = 0; mech < MP_SASL_COUNT; mech++) {
    s = server(mech);
    ck_assert_int_eq(mp_sasl_server_start(s, NULL, &out), MP_SASL_CONTINUE);
    free(out);
    ck_assert_int_eq(mp_sasl_server_step(s, "*", &out), MP_E_AUTH_FAILED);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(mp_sasl_server_step(s, "", &out), MP_E_PROTOCOL_ERROR);
    mp_sasl_server_free(s);
  }
}
END_TEST

START_TEST(test_server_misuse)
{
  struct mp_sasl_server *s = server(MP_SASL_PLAIN);
  char *out;

  /* A step before the start, a second start. */
  ck_assert_int_eq(mp_sasl_server_step(s, "", &out), MP_E_PROTOCOL_ERROR);
  ck_assert_int_eq(mp_sasl_server_start(s, NULL, &out), MP_SASL_CONTINUE);
  free(out);
  ck_assert_int_eq(mp_sasl_server_start(s, NULL, &out), MP_E_PROTOCOL_ERROR);
  ck_assert_int_eq(mp_sasl_server_step(s, NULL, &out), MP_E_PROTOCOL_ERROR);
  mp_sasl_server_free(s);
  ck_assert_ptr_null(
      mp_sasl_server_new(MP_SASL_COUNT, "h", lookup, (void *)users));
  ck_assert_ptr_null(mp_sasl_server_new(-1, "h", lookup, (void *)users));
  ck_assert_ptr_null(mp_sasl_server_new(MP_SASL_PLAIN, "h", NULL, NULL));
  ck_assert_ptr_null(mp_sasl_client_new(MP_SASL_COUNT, "u", "p"));
  ck_assert_ptr_null(mp_sasl_client_new(MP_SASL_PLAIN, NULL, "p"));
}
END_TEST

/* --- LOGIN (draft-murchison-sasl-login). --- */

START_TEST(test_login_client)
{
  struct mp_sasl_client *c =
      mp_sasl_client_new(MP_SASL_LOGIN, "probe@example.test", "s3cret");
  char *out = (char *)1;

  ck_assert_int_eq(mp_sasl_client_initial(c, &out), 0);
  ck_assert_ptr_null(out);
  ck_assert_int_eq(mp_sasl_client_step(c, "VXNlcm5hbWU6", &out),
                   MP_SASL_CONTINUE);
  ASSERT_B64_STR(out, "probe@example.test");
  free(out);
  ck_assert_int_eq(mp_sasl_client_step(c, "UGFzc3dvcmQ6", &out),
                   MP_SASL_CONTINUE);
  ASSERT_B64_STR(out, "s3cret");
  free(out);
  ck_assert_int_eq(mp_sasl_client_step(c, "UGFzc3dvcmQ6", &out),
                   MP_E_PROTOCOL_ERROR);
  ck_assert_ptr_null(out);
  mp_sasl_client_free(c);

  /* A bad challenge ends the exchange. */
  c = mp_sasl_client_new(MP_SASL_LOGIN, "u", "p");
  ck_assert_int_eq(mp_sasl_client_step(c, "VXNlcm5hbWU", &out),
                   MP_E_PROTOCOL_ERROR);
  ck_assert_int_eq(mp_sasl_client_step(c, "VXNlcm5hbWU6", &out),
                   MP_E_PROTOCOL_ERROR);
  mp_sasl_client_free(c);
}
END_TEST

START_TEST(test_login_server)
{
  struct mp_sasl_server *s = server(MP_SASL_LOGIN);
  char *out;

  ck_assert_int_eq(mp_sasl_server_start(s, NULL, &out), MP_SASL_CONTINUE);
  ck_assert_str_eq(out, "VXNlcm5hbWU6"); /* "Username:" */
  free(out);
  ck_assert_int_eq(mp_sasl_server_step(s, "cHJvYmVAZXhhbXBsZS50ZXN0", &out),
                   MP_SASL_CONTINUE);
  ck_assert_str_eq(out, "UGFzc3dvcmQ6"); /* "Password:" */
  free(out);
  ck_assert_ptr_null(mp_sasl_server_user(s));
  ck_assert_int_eq(mp_sasl_server_step(s, "czNjcmV0", &out), MP_SASL_DONE);
  ck_assert_ptr_null(out);
  ck_assert_str_eq(mp_sasl_server_user(s), "probe@example.test");
  mp_sasl_server_free(s);

  /* The user name as an initial response; then a wrong password. */
  s = server(MP_SASL_LOGIN);
  ck_assert_int_eq(mp_sasl_server_start(s, "cHJvYmVAZXhhbXBsZS50ZXN0", &out),
                   MP_SASL_CONTINUE);
  ck_assert_str_eq(out, "UGFzc3dvcmQ6");
  free(out);
  ck_assert_int_eq(mp_sasl_server_step(s, "czNjcmVU", &out), MP_E_AUTH_FAILED);
  ck_assert_ptr_null(mp_sasl_server_user(s));
  mp_sasl_server_free(s);

  /* A NUL in the user name; an unknown user. */
  s = server(MP_SASL_LOGIN);
  ck_assert_int_eq(mp_sasl_server_start(s, NULL, &out), MP_SASL_CONTINUE);
  free(out);
  ck_assert_int_eq(mp_sasl_server_step(s, "dGltAA==", &out),
                   MP_E_PROTOCOL_ERROR);
  mp_sasl_server_free(s);
  s = server(MP_SASL_LOGIN);
  ck_assert_int_eq(mp_sasl_server_start(s, "bm9ib2R5", &out), MP_SASL_CONTINUE);
  free(out);
  ck_assert_int_eq(mp_sasl_server_step(s, "czNjcmV0", &out), MP_E_AUTH_FAILED);
  mp_sasl_server_free(s);
}
END_TEST

/* --- XOAUTH2 and OAUTHBEARER. --- */

/* Google's XOAUTH2 page and RFC 7628 4.1 give the client's message. */
START_TEST(test_oauth_client_messages)
{
  struct mp_sasl_client *c =
      mp_sasl_client_new(MP_SASL_XOAUTH2, "someuser@example.com",
                         "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg");
  char *out;

  ck_assert_int_eq(mp_sasl_client_initial(c, &out), 0);
  ASSERT_B64_STR(out, "user=someuser@example.com\001auth=Bearer "
                      "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\001\001");
  free(out);
  mp_sasl_client_free(c);

  c = mp_sasl_client_new(MP_SASL_OAUTHBEARER, "user@example.com",
                         "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==");
  mp_sasl_client_set_target(c, "server.example.com", 143);
  ck_assert_int_eq(mp_sasl_client_initial(c, &out), 0);
  ASSERT_B64_STR(out, "n,a=user@example.com,\001host=server.example.com\001"
                      "port=143\001auth=Bearer "
                      "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\001\001");
  free(out);
  mp_sasl_client_free(c);

  /* A "," or "=" in the user is escaped in the gs2-header (RFC 5801 4). */
  c = mp_sasl_client_new(MP_SASL_OAUTHBEARER, "a,b=c", "t");
  ck_assert_int_eq(mp_sasl_client_initial(c, &out), 0);
  ASSERT_B64_STR(out, "n,a=a=2Cb=3Dc,\001auth=Bearer t\001\001");
  free(out);
  mp_sasl_client_free(c);
}
END_TEST

/* RFC 7628 3.2.2: the error challenge is decoded, and the answer is
 * %x01 (OAUTHBEARER) or empty (XOAUTH2). */
START_TEST(test_oauth_client_error)
{
  int mech = _i ? MP_SASL_XOAUTH2 : MP_SASL_OAUTHBEARER;
  struct mp_sasl_client *c = mp_sasl_client_new(mech, "u", "tok");
  char *out, *ch;
  const struct mp_sasl_oauth_error *e;

  ck_assert_int_eq(mp_sasl_client_initial(c, &out), 0);
  free(out);
  ck_assert_ptr_null(mp_sasl_client_oauth_error(c));
  ch = b64s("{\"status\":\"401\",\"schemes\":\"bearer mac\","
            "\"scope\":\"https://mail.google.com/\"}\n");
  ck_assert_int_eq(mp_sasl_client_step(c, ch, &out), MP_SASL_CONTINUE);
  free(ch);
  ck_assert_str_eq(out, _i ? "" : "AQ==");
  free(out);
  e = mp_sasl_client_oauth_error(c);
  ck_assert_ptr_nonnull(e);
  ck_assert_str_eq(e->status, "401");
  ck_assert_str_eq(e->scope, "https://mail.google.com/");
  ck_assert_str_eq(e->schemes, "bearer mac");
  ck_assert_int_eq(e->not_json, 0);
  /* Nothing may follow. */
  ck_assert_int_lt(mp_sasl_client_step(c, "", &out), 0);
  mp_sasl_client_free(c);

  /* An error that is no JSON is answered all the same, and said so. */
  c = mp_sasl_client_new(mech, "u", "tok");
  ck_assert_int_eq(mp_sasl_client_initial(c, &out), 0);
  free(out);
  ch = b64s("<html>401</html>");
  ck_assert_int_eq(mp_sasl_client_step(c, ch, &out), MP_SASL_CONTINUE);
  free(ch);
  free(out);
  e = mp_sasl_client_oauth_error(c);
  ck_assert_int_eq(e->not_json, 1);
  ck_assert_ptr_null(e->status);
  mp_sasl_client_free(c);
}
END_TEST

static const struct {
  const char *json;
  int rc;
  const char *status, *scope;
} oauth_errors[] = {
    {"{\"status\":\"invalid_token\",\"scope\":\"a b\"}", 0, "invalid_token",
     "a b"},
    {"{\"status\":400}", 0, "400", NULL},
    {"{}", 0, NULL, NULL},
    {"{\"status\":[1]}", 0, NULL, NULL},
    {"[\"status\"]", MP_E_PROTOCOL_ERROR, NULL, NULL},
    {"{\"status\":\"a\",\"status\":\"b\"}", MP_E_PROTOCOL_ERROR, NULL, NULL},
    {"{\"status\":\"a\"", MP_E_PROTOCOL_ERROR, NULL, NULL},
    {"", MP_E_PROTOCOL_ERROR, NULL, NULL},
};

START_TEST(test_oauth_error_parse)
{
  struct mp_sasl_oauth_error e;
  const char *j = oauth_errors[_i].json;

  ck_assert_int_eq(mp_sasl_oauth_error_parse(j, strlen(j), &e),
                   oauth_errors[_i].rc);
  if (oauth_errors[_i].status)
    ck_assert_str_eq(e.status, oauth_errors[_i].status);
  else
    ck_assert_ptr_null(e.status);
  if (oauth_errors[_i].scope)
    ck_assert_str_eq(e.scope, oauth_errors[_i].scope);
  else
    ck_assert_ptr_null(e.scope);
  ck_assert_int_eq(e.not_json, oauth_errors[_i].rc != 0);
  mp_sasl_oauth_error_clear(&e);
}
END_TEST

/* The server: an answer other than the mechanism's after the error is
 * out of step; malformed messages are protocol errors. */
START_TEST(test_oauth_server)
{
  static const char *const bad[] = {
      "user=tim\001auth=Bearer x\001",                /* one kvsep at the end */
      "user=tim\001auth=Basic eA==\001\001",          /* not Bearer */
      "auth=Bearer x\001\001",                        /* XOAUTH2 without user */
      "p=tls-unique,a=tim,\001auth=Bearer x\001\001", /* channel binding */
      "n,a=tim\001auth=Bearer x\001\001",    /* gs2-header unfinished */
      "n,a=t=4im,\001auth=Bearer x\001\001", /* a bad saslname escape */
  };
  int mech = _i ? MP_SASL_XOAUTH2 : MP_SASL_OAUTHBEARER;
  struct mp_sasl_server *s = server(mech);
  char *out, *in;

  in = b64s(_i ? "user=tim\001auth=Bearer wrong\001\001"
               : "n,a=tim,\001auth=Bearer wrong\001\001");
  ck_assert_int_eq(mp_sasl_server_start(s, in, &out), MP_SASL_CONTINUE);
  ASSERT_B64_STR(out, "{\"status\":\"invalid_token\"}");
  free(out);
  free(in);
  /* The other mechanism's answer. */
  ck_assert_int_eq(mp_sasl_server_step(s, _i ? "AQ==" : "", &out),
                   MP_E_PROTOCOL_ERROR);
  ck_assert_ptr_null(mp_sasl_server_user(s));
  mp_sasl_server_free(s);

  /* OAUTHBEARER without an authzid: the token says who. */
  if (!_i) {
    s = server(mech);
    in = b64s("n,,\001auth=Bearer x\001\001");
    ck_assert_int_eq(mp_sasl_server_start(s, in, &out), MP_SASL_CONTINUE);
    free(out);
    free(in);
    mp_sasl_server_free(s);
  }
  for (size_t k = 0; k < N(bad); k++) {
    s = server(mech);
    in = b64s(bad[k]);
    ck_assert_int_eq(mp_sasl_server_start(s, in, &out), MP_E_PROTOCOL_ERROR);
    free(in);
    mp_sasl_server_free(s);
  }
}
END_TEST

/* --- Every pair back to back. --- */

/* Drives a client against a server: 0 when the server accepts, else the
 * first negative code from either half. use_ir sends the client's initial
 * response (when the mechanism has one). */
static int exchange(int mech, const char *user, const char *password,
                    int use_ir, const char **who)
{
  struct mp_sasl_client *c = mp_sasl_client_new(mech, user, password);
  struct mp_sasl_server *s = server(mech);
  char *ir = NULL, *ch = NULL, *resp = NULL;
  int rc, crc = 0, rounds = 0;

  ck_assert_ptr_nonnull(c);
  if (use_ir)
    ck_assert_int_eq(mp_sasl_client_initial(c, &ir), 0);
  rc = mp_sasl_server_start(s, ir, &ch);
  free(ir);
  while (rc == MP_SASL_CONTINUE) {
    ck_assert_int_lt(++rounds, 8);
    ck_assert_ptr_nonnull(ch);
    crc = mp_sasl_client_step(c, ch, &resp);
    free(ch);
    ch = NULL;
    if (crc < 0) {
      rc = crc;
      break;
    }
    ck_assert_ptr_nonnull(resp);
    rc = mp_sasl_server_step(s, resp, &ch);
    free(resp);
  }
  free(ch);
  if (rc == MP_SASL_DONE) {
    /* Both halves agree that it is over. */
    ck_assert(crc == MP_SASL_DONE || mech != MP_SASL_SCRAM_SHA_1);
    ck_assert(crc == MP_SASL_DONE || mech != MP_SASL_SCRAM_SHA_256);
    *who = mp_sasl_server_user(s);
    *who = *who != NULL ? strdup(*who) : NULL;
  } else {
    ck_assert_ptr_null(mp_sasl_server_user(s));
    *who = NULL;
  }
  mp_sasl_client_free(c);
  mp_sasl_server_free(s);
  return rc;
}

static const struct {
  const char *user, *password;
  int want;
} pair_cases[] = {
    {"tim", "tanstaaftanstaaf", MP_SASL_DONE},
    {"probe@example.test", "s3cret", MP_SASL_DONE},
    {"with space", "p a s s", MP_SASL_DONE},
    {"tim", "tanstaaftanstaag", MP_E_AUTH_FAILED},
    {"tim", "", MP_E_AUTH_FAILED},
    {"nobody", "s3cret", MP_E_AUTH_FAILED},
};

START_TEST(test_pairs)
{
  int c = _i % N(pair_cases);
  int mech = _i / N(pair_cases) % MP_SASL_COUNT;
  int use_ir = _i / N(pair_cases) / MP_SASL_COUNT;
  const char *who = NULL;
  int want = pair_cases[c].want;
  int rc;

  /* PLAIN's grammar has no empty password, nor "auth=Bearer" an empty
   * token: our server calls them malformed. */
  if ((mech == MP_SASL_PLAIN || mp_sasl_is_bearer(mech)) &&
      pair_cases[c].password[0] == '\0')
    want = MP_E_PROTOCOL_ERROR;
  lookups = 0;
  rc = exchange(mech, pair_cases[c].user, pair_cases[c].password, use_ir, &who);
  ck_assert_msg(rc == want, "%s user %s ir %d: got %d want %d",
                mp_sasl_name(mech), pair_cases[c].user, use_ir, rc, want);
  if (want == MP_SASL_DONE) {
    ck_assert_str_eq(who, pair_cases[c].user);
    ck_assert_int_ge(lookups, 1);
  } else {
    ck_assert_ptr_null(who);
  }
  free((char *)who);
}
END_TEST

/* Malformed SCRAM messages at the server. */
START_TEST(test_scram_server_malformed)
{
  int mech = _i == 0 ? MP_SASL_SCRAM_SHA_1 : MP_SASL_SCRAM_SHA_256;
  struct mp_sasl_server *s = server(mech);
  struct mp_sasl_client *c;
  char *out, *in, *ir;

  /* Not a client-first message. */
  in = b64s("hello");
  ck_assert_int_eq(mp_sasl_server_start(s, in, &out), MP_E_PROTOCOL_ERROR);
  ck_assert_ptr_null(out);
  free(in);
  mp_sasl_server_free(s);

  /* A client-final message with another nonce. */
  s = server(mech);
  in = b64s("n,,n=user,r=abcdefgh");
  ck_assert_int_eq(mp_sasl_server_start(s, in, &out), MP_SASL_CONTINUE);
  free(out);
  free(in);
  in = b64s("c=biws,r=abcdefghXYZ,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7An"
            "dVQ=");
  ck_assert_int_lt(mp_sasl_server_step(s, in, &out), 0);
  ck_assert_ptr_null(out);
  free(in);
  mp_sasl_server_free(s);

  /* After the server-final message the client says nothing more. */
  c = mp_sasl_client_new(mech, "user", "pencil");
  s = server(mech);
  ck_assert_int_eq(mp_sasl_client_initial(c, &ir), 0);
  ck_assert_int_eq(mp_sasl_server_start(s, ir, &out), MP_SASL_CONTINUE);
  free(ir);
  ck_assert_int_eq(mp_sasl_client_step(c, out, &in), MP_SASL_CONTINUE);
  free(out);
  ck_assert_int_eq(mp_sasl_server_step(s, in, &out), MP_SASL_CONTINUE);
  free(in);
  ck_assert_int_eq(mp_sasl_client_step(c, out, &in), MP_SASL_DONE);
  free(out);
  free(in);
  ck_assert_int_eq(mp_sasl_server_step(s, "Zm9v", &out), MP_E_PROTOCOL_ERROR);
  ck_assert_ptr_null(mp_sasl_server_user(s));
  mp_sasl_server_free(s);
  mp_sasl_client_free(c);
}
END_TEST

/* A SCRAM server started without an initial response sends an empty
 * challenge and then behaves as with one. */
START_TEST(test_scram_no_ir)
{
  struct mp_sasl_server *s = server(MP_SASL_SCRAM_SHA_256);
  char *out;

  ck_assert_int_eq(mp_sasl_server_start(s, NULL, &out), MP_SASL_CONTINUE);
  ck_assert_str_eq(out, "");
  free(out);
  mp_sasl_server_free(s);
}
END_TEST

/* --- The table. --- */

START_TEST(test_names)
{
  static const char *const names[] = {
      "SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "LOGIN",
      "PLAIN",         "OAUTHBEARER", "XOAUTH2"};
  int m;

  ck_assert_int_eq(N(names), MP_SASL_COUNT);
  for (m = 0; m < MP_SASL_COUNT; m++) {
    ck_assert_str_eq(mp_sasl_name(m), names[m]);
    ck_assert_int_eq(mp_sasl_from_name(names[m]), m);
  }
  ck_assert_int_eq(mp_sasl_from_name("cram-md5"), MP_SASL_CRAM_MD5);
  ck_assert_int_eq(mp_sasl_from_name("Scram-Sha-256"), MP_SASL_SCRAM_SHA_256);
  ck_assert_int_eq(mp_sasl_from_name("SCRAM-SHA-1-PLUS"), -1);
  ck_assert_int_eq(mp_sasl_from_name("DIGEST-MD5"), -1);
  ck_assert_int_eq(mp_sasl_from_name(""), -1);
  ck_assert_int_eq(mp_sasl_from_name(NULL), -1);
  ck_assert_ptr_null(mp_sasl_name(-1));
  ck_assert_ptr_null(mp_sasl_name(MP_SASL_COUNT));
  ck_assert_int_eq(mp_sasl_is_cleartext(MP_SASL_PLAIN), 1);
  ck_assert_int_eq(mp_sasl_is_cleartext(MP_SASL_LOGIN), 1);
  ck_assert_int_eq(mp_sasl_is_cleartext(MP_SASL_CRAM_MD5), 0);
  ck_assert_int_eq(mp_sasl_is_cleartext(MP_SASL_SCRAM_SHA_1), 0);
  ck_assert_int_eq(mp_sasl_is_cleartext(MP_SASL_SCRAM_SHA_256), 0);
  ck_assert_int_eq(mp_sasl_is_cleartext(-1), 0);
  ck_assert_int_eq(mp_sasl_is_cleartext(MP_SASL_COUNT), 0);
}
END_TEST

#define B(m) MP_SASL_BIT(MP_SASL_##m)

static const struct {
  const char *list;
  unsigned mask;
} mask_cases[] = {
    {"CRAM-MD5 PLAIN X-UNKNOWN", B(CRAM_MD5) | B(PLAIN)},
    {"plain,login", B(PLAIN) | B(LOGIN)},
    {"  ,, LOGIN ,\tcram-md5,,", B(LOGIN) | B(CRAM_MD5)},
    {"SCRAM-SHA-256 SCRAM-SHA-256-PLUS SCRAM-SHA-1 GSSAPI",
     B(SCRAM_SHA_256) | B(SCRAM_SHA_1)},
    {"DIGEST-MD5 NTLM XOAUTH", 0},
    {"XOAUTH2 oauthbearer", B(XOAUTH2) | B(OAUTHBEARER)},
    {"", 0},
    {" , ", 0},
    {"PLAINX LOGI CRAM-MD", 0},
    {"A-VERY-LONG-MECHANISM-NAME-THAT-IS-NOT-OURS-AT-ALL PLAIN", B(PLAIN)},
    {"scram-sha-256,scram-sha-1,cram-md5,login,plain", MP_SASL_PASSWORD},
    {"scram-sha-256,scram-sha-1,cram-md5,login,plain,oauthbearer,xoauth2",
     MP_SASL_ALL},
};

START_TEST(test_mask_from_list)
{
  ck_assert_uint_eq(mp_sasl_mask_from_list(mask_cases[_i].list),
                    mask_cases[_i].mask);
}
END_TEST

static const struct {
  unsigned advertised, allowed, tried;
  int want;
} choose_cases[] = {
    {MP_SASL_ALL, MP_SASL_ALL, 0, MP_SASL_OAUTHBEARER},
    {MP_SASL_ALL, MP_SASL_ALL, B(OAUTHBEARER), MP_SASL_XOAUTH2},
    {MP_SASL_ALL, MP_SASL_PASSWORD, 0, MP_SASL_SCRAM_SHA_256},
    {B(XOAUTH2) | B(PLAIN), MP_SASL_BEARER, 0, MP_SASL_XOAUTH2},
    {MP_SASL_ALL, MP_SASL_DEFAULT, 0, MP_SASL_CRAM_MD5},
    {MP_SASL_ALL, MP_SASL_DEFAULT, B(CRAM_MD5), MP_SASL_LOGIN},
    {MP_SASL_ALL, MP_SASL_DEFAULT, B(CRAM_MD5) | B(LOGIN), MP_SASL_PLAIN},
    {MP_SASL_ALL, MP_SASL_DEFAULT, MP_SASL_DEFAULT, -1},
    {B(PLAIN) | B(LOGIN), MP_SASL_ALL, 0, MP_SASL_LOGIN},
    {B(PLAIN), MP_SASL_DEFAULT, 0, MP_SASL_PLAIN},
    {B(SCRAM_SHA_1) | B(PLAIN), MP_SASL_ALL, 0, MP_SASL_SCRAM_SHA_1},
    {B(SCRAM_SHA_1) | B(SCRAM_SHA_256), MP_SASL_ALL, B(SCRAM_SHA_256),
     MP_SASL_SCRAM_SHA_1},
    {B(SCRAM_SHA_256), MP_SASL_DEFAULT, 0, -1},
    {0, MP_SASL_ALL, 0, -1},
    {MP_SASL_ALL, 0, 0, -1},
    /* Bits beyond the table are ignored. */
    {~0u, B(PLAIN) | 0x80000000u, 0, MP_SASL_PLAIN},
    {0x80000000u, 0x80000000u, 0, -1},
};

START_TEST(test_choose)
{
  ck_assert_int_eq(mp_sasl_choose(choose_cases[_i].advertised,
                                  choose_cases[_i].allowed,
                                  choose_cases[_i].tried),
                   choose_cases[_i].want);
}
END_TEST

static Suite *sasl_suite(void)
{
  Suite *s = suite_create("sasl");
  TCase *tc = tcase_create("core");

  /* PBKDF2 with 4096 rounds under valgrind takes a while. */
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_names);
  tcase_add_loop_test(tc, test_mask_from_list, 0, N(mask_cases));
  tcase_add_loop_test(tc, test_choose, 0, N(choose_cases));
  tcase_add_test(tc, test_cram_client_rfc2195);
  tcase_add_loop_test(tc, test_cram_server_rfc2195, 0, N(cram_server_cases));
  tcase_add_test(tc, test_cram_server_challenge);
  tcase_add_test(tc, test_plain_client_rfc4616);
  tcase_add_loop_test(tc, test_plain_server, 0, 2 * N(plain_cases));
  tcase_add_test(tc, test_login_client);
  tcase_add_test(tc, test_login_server);
  tcase_add_test(tc, test_oauth_client_messages);
  tcase_add_loop_test(tc, test_oauth_client_error, 0, 2);
  tcase_add_loop_test(tc, test_oauth_error_parse, 0, N(oauth_errors));
  tcase_add_loop_test(tc, test_oauth_server, 0, 2);
  tcase_add_loop_test(tc, test_server_bad_base64, 0, N(bad_b64));
  tcase_add_test(tc, test_server_cancel);
  tcase_add_test(tc, test_server_misuse);
  tcase_add_loop_test(tc, test_scram_helper_matches_rfc, 0, N(scram_rfc));
  tcase_add_test(tc, test_scram_sha1_client_rfc5802);
  tcase_add_loop_test(tc, test_scram_client_final_ok, 0, N(scram_rfc));
  tcase_add_loop_test(tc, test_scram_client_final_bad, 0, N(scram_bad_final));
  tcase_add_test(tc, test_scram_client_bad_server_first);
  tcase_add_test(tc, test_scram_client_iteration_cap);
  tcase_add_loop_test(tc, test_scram_server_fixed_nonce, 0, 2 * N(scram_rfc));
  tcase_add_loop_test(tc, test_scram_server_authzid, 0,
                      N(scram_rfc) * N(scram_authzid_cases));
  tcase_add_loop_test(tc, test_scram_server_malformed, 0, 2);
  tcase_add_test(tc, test_scram_no_ir);
  tcase_add_loop_test(tc, test_pairs, 0, 2 * MP_SASL_COUNT * N(pair_cases));
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(sasl_suite());
  int failed;

  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
