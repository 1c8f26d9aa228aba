/* Certificates made at run time, parsed back with OpenSSL: names, SAN,
 * validity, issuer, extensions and keys for every kind. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "wire/cert.h"
#include "wire/errors.h"

#define HOST "mx.example.test"
#define DAY (24 * 3600)

static struct mp_ca *ca;

static void setup(void)
{
  ca = mp_ca_new("Test CA", MP_KEY_EC_P256);
  ck_assert_ptr_nonnull(ca);
}

static void teardown(void)
{
  mp_ca_free(ca);
  ca = NULL;
}

static X509 *parse_cert(const char *pem)
{
  BIO *b = BIO_new_mem_buf(pem, -1);
  X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
  BIO_free(b);
  ck_assert_ptr_nonnull(x);
  return x;
}

static EVP_PKEY *parse_key(const char *pem)
{
  BIO *b = BIO_new_mem_buf(pem, -1);
  EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
  BIO_free(b);
  ck_assert_ptr_nonnull(k);
  return k;
}

/* Seconds from now to t (negative: in the past). */
static long secs_from_now(const ASN1_TIME *t)
{
  int day = 0, sec = 0;
  ck_assert_int_eq(ASN1_TIME_diff(&day, &sec, NULL, t), 1);
  return (long)day * DAY + sec;
}

static void cn_of(X509 *x, char *buf, int cap)
{
  buf[0] = '\0';
  X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, cap);
}

static const struct {
  const char *name;
  enum mp_cert_kind kind;
} names[] = {
    {"valid", MP_CERT_VALID},
    {"expired", MP_CERT_EXPIRED},
    {"not_yet_valid", MP_CERT_NOT_YET_VALID},
    {"self_signed", MP_CERT_SELF_SIGNED},
    {"wrong_host", MP_CERT_WRONG_HOST},
};

START_TEST(kind_names_round_trip)
{
  ck_assert_int_eq(mp_cert_kind_from_name(names[_i].name), names[_i].kind);
  ck_assert_str_eq(mp_cert_kind_name(names[_i].kind), names[_i].name);
}
END_TEST

START_TEST(unknown_kind_names)
{
  ck_assert_int_eq(mp_cert_kind_from_name("bogus"), -1);
  ck_assert_int_eq(mp_cert_kind_from_name("Valid"), -1);
  ck_assert_int_eq(mp_cert_kind_from_name(""), -1);
  ck_assert_int_eq(mp_cert_kind_from_name(NULL), -1);
  ck_assert_ptr_null(mp_cert_kind_name((enum mp_cert_kind)99));
  ck_assert_ptr_null(mp_cert_kind_name((enum mp_cert_kind) - 1));
}
END_TEST

START_TEST(ca_is_a_ca)
{
  X509 *x = parse_cert(mp_ca_pem(ca));
  char cn[64];

  cn_of(x, cn, sizeof cn);
  ck_assert_str_eq(cn, "Test CA");
  ck_assert_int_eq(X509_check_ca(x), 1);
  ck_assert(X509_get_key_usage(x) & KU_KEY_CERT_SIGN);
  ck_assert(X509_get_extension_flags(x) & EXFLAG_SS);
  ck_assert_int_eq(X509_verify(x, X509_get0_pubkey(x)), 1);
  ck_assert_int_eq(
      X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)), 0);
  ck_assert_int_lt(secs_from_now(X509_get0_notBefore(x)), 0);
  ck_assert_int_gt(secs_from_now(X509_get0_notAfter(x)), 3000L * DAY);
  X509_free(x);
}
END_TEST

/* Checks a chain of leaf -> CA as a TLS client would, for host. */
static int verify_for(X509 *leaf, X509 *root, const char *host)
{
  X509_STORE *store = X509_STORE_new();
  X509_STORE_CTX *xs = X509_STORE_CTX_new();
  int rc;

  X509_STORE_add_cert(store, root);
  X509_STORE_CTX_init(xs, store, leaf, NULL);
  X509_STORE_CTX_set_purpose(xs, X509_PURPOSE_SSL_SERVER);
  X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(xs), host, 0);
  rc = X509_verify_cert(xs) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(xs);
  X509_STORE_CTX_free(xs);
  X509_STORE_free(store);
  return rc;
}

static const struct kind_case {
  enum mp_cert_kind kind;
  const char *name; /* the name the certificate carries */
  long from_min, from_max, until_min, until_max; /* seconds from now */
  int verify;                                    /* X509_V_ERR_* for HOST */
} kinds[] = {
    {MP_CERT_VALID, HOST, -3700, -3500, 90L * DAY - 100, 90L * DAY, X509_V_OK},
    {MP_CERT_EXPIRED, HOST, -92L * DAY, -30L * DAY, -30L * DAY, -1,
     X509_V_ERR_CERT_HAS_EXPIRED},
    {MP_CERT_NOT_YET_VALID, HOST, 1, 2L * DAY, 30L * DAY, 400L * DAY,
     X509_V_ERR_CERT_NOT_YET_VALID},
    {MP_CERT_SELF_SIGNED, HOST, -3700, -3500, 90L * DAY - 100, 90L * DAY,
     X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT},
    {MP_CERT_WRONG_HOST, "wrong.invalid", -3700, -3500, 90L * DAY - 100,
     90L * DAY, X509_V_ERR_HOSTNAME_MISMATCH},
};

START_TEST(each_kind_parses_back)
{
  const struct kind_case *kc = &kinds[_i];
  char *cert = NULL, *pkey = NULL;
  X509 *x, *root = parse_cert(mp_ca_pem(ca));
  EVP_PKEY *k;
  char cn[256];
  long from, until;

  ck_assert_int_eq(
      mp_cert_issue(ca, kc->kind, HOST, MP_KEY_EC_P256, &cert, &pkey), 0);
  ck_assert_ptr_nonnull(strstr(cert, "-----BEGIN CERTIFICATE-----"));
  ck_assert_ptr_nonnull(strstr(pkey, "-----BEGIN PRIVATE KEY-----"));
  x = parse_cert(cert);
  k = parse_key(pkey);

  /* Name: CN and the SAN DNS entry (and nothing that matches HOST when the
   * host is wrong). */
  cn_of(x, cn, sizeof cn);
  ck_assert_str_eq(cn, kc->name);
  ck_assert_int_eq(X509_check_host(x, kc->name, 0,
                                   X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL),
                   1);
  ck_assert_int_eq(
      X509_check_host(x, HOST, 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL),
      strcmp(kc->name, HOST) == 0);

  /* Validity window. */
  from = secs_from_now(X509_get0_notBefore(x));
  until = secs_from_now(X509_get0_notAfter(x));
  ck_assert_msg(from >= kc->from_min && from <= kc->from_max, "from %ld", from);
  ck_assert_msg(until >= kc->until_min && until <= kc->until_max, "until %ld",
                until);

  /* A leaf for servers, with the key that came with it. */
  ck_assert_int_eq(X509_get_version(x), X509_VERSION_3);
  ck_assert_int_eq(X509_check_ca(x), 0);
  ck_assert(X509_get_extended_key_usage(x) & XKU_SSL_SERVER);
  ck_assert(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE);
  ck_assert_int_eq(X509_check_private_key(x, k), 1);
  ck_assert_int_eq(EVP_PKEY_get_base_id(k), EVP_PKEY_EC);
  ck_assert_int_eq(EVP_PKEY_get_bits(k), 256);

  /* Signed by the CA, or by itself. */
  if (kc->kind == MP_CERT_SELF_SIGNED) {
    ck_assert_int_eq(X509_verify(x, X509_get0_pubkey(x)), 1);
    ck_assert_int_eq(X509_verify(x, X509_get0_pubkey(root)), 0);
    ck_assert_int_eq(
        X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(x)), 0);
  } else {
    ck_assert_int_eq(X509_verify(x, X509_get0_pubkey(root)), 1);
    ck_assert_int_eq(
        X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(root)), 0);
  }
  ck_assert_int_eq(verify_for(x, root, HOST), kc->verify);

  X509_free(x);
  X509_free(root);
  EVP_PKEY_free(k);
  free(cert);
  free(pkey);
}
END_TEST

START_TEST(ip_hosts_get_ip_sans)
{
  static const char *const ips[] = {"127.0.0.1", "::1"};

  for (size_t i = 0; i < 2; i++) {
    char *cert = NULL, *pkey = NULL;
    ck_assert_int_eq(
        mp_cert_issue(ca, MP_CERT_VALID, ips[i], MP_KEY_EC_P256, &cert, &pkey),
        0);
    X509 *x = parse_cert(cert);
    ck_assert_int_eq(X509_check_ip_asc(x, ips[i], 0), 1);
    ck_assert_int_eq(X509_check_ip_asc(x, "127.0.0.2", 0), 0);
    /* An IP goes in as an iPAddress, not as a dNSName. */
    ck_assert_int_eq(X509_check_host(x, ips[i], 0,
                                     X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL),
                     0);
    X509_free(x);
    free(cert);
    free(pkey);
  }
}
END_TEST

START_TEST(rsa_keys)
{
  struct mp_ca *rca = mp_ca_new(NULL, MP_KEY_RSA_2048);
  char *cert = NULL, *pkey = NULL;
  char cn[64];

  ck_assert_ptr_nonnull(rca);
  X509 *root = parse_cert(mp_ca_pem(rca));
  cn_of(root, cn, sizeof cn);
  ck_assert_str_eq(cn, "mailprobe test CA");
  ck_assert_int_eq(EVP_PKEY_get_base_id(X509_get0_pubkey(root)), EVP_PKEY_RSA);
  ck_assert_int_eq(
      mp_cert_issue(rca, MP_CERT_VALID, HOST, MP_KEY_RSA_2048, &cert, &pkey),
      0);
  X509 *x = parse_cert(cert);
  EVP_PKEY *k = parse_key(pkey);
  ck_assert_int_eq(EVP_PKEY_get_base_id(k), EVP_PKEY_RSA);
  ck_assert_int_eq(EVP_PKEY_get_bits(k), 2048);
  ck_assert_int_eq(X509_check_private_key(x, k), 1);
  /* Leaves share one RSA key; the CA has a key of its own. */
  ck_assert_int_ne(EVP_PKEY_eq(k, X509_get0_pubkey(root)), 1);
  ck_assert_int_eq(verify_for(x, root, HOST), X509_V_OK);
  X509_free(x);
  X509_free(root);
  EVP_PKEY_free(k);
  free(cert);
  free(pkey);
  mp_ca_free(rca);
}
END_TEST

START_TEST(serials_are_random)
{
  char *c1, *k1, *c2, *k2;

  ck_assert_int_eq(
      mp_cert_issue(ca, MP_CERT_VALID, HOST, MP_KEY_EC_P256, &c1, &k1), 0);
  ck_assert_int_eq(
      mp_cert_issue(ca, MP_CERT_VALID, HOST, MP_KEY_EC_P256, &c2, &k2), 0);
  X509 *x1 = parse_cert(c1), *x2 = parse_cert(c2);
  const ASN1_INTEGER *s1 = X509_get0_serialNumber(x1);
  ck_assert_int_ne(ASN1_INTEGER_cmp(s1, X509_get0_serialNumber(x2)), 0);
  ck_assert_int_eq(ASN1_STRING_length(s1), 20);
  ck_assert_int_eq(ASN1_STRING_type(s1), V_ASN1_INTEGER); /* positive */
  ck_assert_str_ne(k1, k2);
  X509_free(x1);
  X509_free(x2);
  free(c1);
  free(k1);
  free(c2);
  free(k2);
}
END_TEST

START_TEST(bad_arguments)
{
  char *cert = (char *)"x", *pkey = (char *)"x";

  ck_assert_int_eq(mp_cert_issue(ca, (enum mp_cert_kind)42, HOST,
                                 MP_KEY_EC_P256, &cert, &pkey),
                   MP_E_NO_RESOURCES);
  ck_assert_ptr_null(cert);
  ck_assert_ptr_null(pkey);
  ck_assert_int_eq(
      mp_cert_issue(ca, MP_CERT_VALID, "", MP_KEY_EC_P256, &cert, &pkey),
      MP_E_NO_RESOURCES);
  ck_assert_int_eq(
      mp_cert_issue(NULL, MP_CERT_VALID, HOST, MP_KEY_EC_P256, &cert, &pkey),
      MP_E_NO_RESOURCES);
  /* A self-signed leaf needs no CA. */
  ck_assert_int_eq(mp_cert_issue(NULL, MP_CERT_SELF_SIGNED, HOST,
                                 MP_KEY_EC_P256, &cert, &pkey),
                   0);
  free(cert);
  free(pkey);
  mp_ca_free(NULL);
}
END_TEST

/* A leaf with a chosen window: its times, its issuer; bad windows. */
START_TEST(issue_window)
{
  char *cert = NULL, *pkey = NULL;
  char cn[64];
  X509 *x;

  ck_assert_int_eq(
      mp_cert_issue_window(ca, HOST, MP_KEY_EC_P256, -120, 30, &cert, &pkey),
      0);
  x = parse_cert(cert);
  ck_assert_int_ge(secs_from_now(X509_get0_notBefore(x)), -125);
  ck_assert_int_le(secs_from_now(X509_get0_notBefore(x)), -115);
  ck_assert_int_ge(secs_from_now(X509_get0_notAfter(x)), 25);
  ck_assert_int_le(secs_from_now(X509_get0_notAfter(x)), 30);
  cn_of(x, cn, sizeof cn);
  ck_assert_str_eq(cn, HOST);
  ck_assert_int_eq(
      X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(x)) != 0, 1);
  X509_free(x);
  free(cert);
  free(pkey);
  ck_assert_int_eq(
      mp_cert_issue_window(ca, HOST, MP_KEY_EC_P256, 10, 10, &cert, &pkey),
      MP_E_NO_RESOURCES);
  ck_assert_ptr_null(cert);
  ck_assert_int_eq(
      mp_cert_issue_window(NULL, HOST, MP_KEY_EC_P256, 0, 10, &cert, &pkey),
      MP_E_NO_RESOURCES);
  ck_assert_int_eq(
      mp_cert_issue_window(ca, "", MP_KEY_EC_P256, 0, 10, &cert, &pkey),
      MP_E_NO_RESOURCES);
}
END_TEST

static Suite *cert_suite(void)
{
  Suite *s = suite_create("cert");
  TCase *tc = tcase_create("core");

  tcase_set_timeout(tc, 120);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_loop_test(tc, kind_names_round_trip, 0,
                      sizeof names / sizeof names[0]);
  tcase_add_test(tc, unknown_kind_names);
  tcase_add_test(tc, ca_is_a_ca);
  tcase_add_loop_test(tc, each_kind_parses_back, 0,
                      sizeof kinds / sizeof kinds[0]);
  tcase_add_test(tc, ip_hosts_get_ip_sans);
  tcase_add_test(tc, rsa_keys);
  tcase_add_test(tc, serials_are_random);
  tcase_add_test(tc, bad_arguments);
  tcase_add_test(tc, issue_window);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(cert_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
