/* Certificates made at run time for the fake servers and the tests.
 *
 * A CA is a self-signed certificate with basicConstraints CA:TRUE and
 * keyCertSign; leaves carry the host in subjectAltName (RFC 6125 6.4.4:
 * clients check the SAN, the CN only as a fallback) and serverAuth. */
#include "wire/cert.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "wire/cert_internal.h"
#include "wire/errors.h"

#define DAY (24L * 3600)
#define WRONG_HOST "wrong.invalid"

static const char *const kind_names[] = {
    [MP_CERT_VALID] = "valid",
    [MP_CERT_EXPIRED] = "expired",
    [MP_CERT_NOT_YET_VALID] = "not_yet_valid",
    [MP_CERT_SELF_SIGNED] = "self_signed",
    [MP_CERT_WRONG_HOST] = "wrong_host",
};
#define NKINDS (sizeof kind_names / sizeof kind_names[0])

const char *mp_cert_wrong_host(void)
{
  return WRONG_HOST;
}

/* "valid" -> MP_CERT_VALID, ...; -1 if unknown. */
int mp_cert_kind_from_name(const char *name)
{
  for (size_t i = 0; name != NULL && i < NKINDS; i++)
    if (strcmp(name, kind_names[i]) == 0)
      return (int)i;
  return -1;
}

/* MP_CERT_VALID -> "valid", ...; NULL if out of range. */
const char *mp_cert_kind_name(enum mp_cert_kind kind)
{
  return (unsigned)kind < NKINDS ? kind_names[kind] : NULL;
}

/* One RSA key for the process: making a 2048-bit key takes 100 to 400
 * ms, time a fake server's loop would stand still for every other case
 * of a run. The certificates differ; sharing the test key between them
 * changes nothing a probe checks. */
static pthread_mutex_t rsa_lock = PTHREAD_MUTEX_INITIALIZER;
static EVP_PKEY *rsa_key;

EVP_PKEY *mp_cert__key(enum mp_key_type type)
{
  EVP_PKEY *k;

  if (type != MP_KEY_RSA_2048)
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  pthread_mutex_lock(&rsa_lock);
  if (rsa_key == NULL)
    rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
  k = rsa_key;
  if (k != NULL && EVP_PKEY_up_ref(k) != 1)
    k = NULL;
  pthread_mutex_unlock(&rsa_lock);
  return k;
}

void mp_cert_key_warm(enum mp_key_type type)
{
  EVP_PKEY_free(mp_cert__key(type));
}

char *mp_cert__pem(X509 *cert, EVP_PKEY *key)
{
  BIO *b = BIO_new(BIO_s_mem());
  char *data = NULL, *out = NULL;
  long n;

  if (b == NULL)
    return NULL;
  if ((cert != NULL ? PEM_write_bio_X509(b, cert)
                    : PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL,
                                               NULL)) == 1 &&
      (n = BIO_get_mem_data(b, &data)) > 0 && (out = malloc(n + 1)) != NULL) {
    memcpy(out, data, n);
    out[n] = '\0';
  }
  BIO_free(b);
  return out;
}

int mp_cert__ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
  X509V3_CTX v3;
  X509_EXTENSION *ext;
  int ok;

  X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
  ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
  if (ext == NULL)
    return 0;
  ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok;
}

/* A certificate for key with subject CN=cn, valid from now+from to
 * now+until seconds, with a random serial of 159 bits, the top one set:
 * always 20 octets, positive (RFC 5280 4.1.2.2). Not yet signed; no
 * extensions. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, long from, long until)
{
  X509 *x = X509_new();
  BIGNUM *bn = BN_new();
  X509_NAME *name;
  int ok;

  ok = x != NULL && bn != NULL && X509_set_version(x, X509_VERSION_3) &&
       BN_rand(bn, 159, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) &&
       BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL &&
       X509_gmtime_adj(X509_getm_notBefore(x), from) != NULL &&
       X509_gmtime_adj(X509_getm_notAfter(x), until) != NULL &&
       X509_set_pubkey(x, key) && (name = X509_get_subject_name(x)) != NULL &&
       X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                  (const unsigned char *)cn, -1, -1, 0);
  BN_free(bn);
  if (!ok) {
    X509_free(x);
    return NULL;
  }
  return x;
}

/* A new CA, valid from an hour ago for ten years. */
struct mp_ca *mp_ca_new(const char *cn, enum mp_key_type key)
{
  struct mp_ca *ca = calloc(1, sizeof *ca);

  if (ca == NULL)
    return NULL;
  if (cn == NULL || cn[0] == '\0')
    cn = "mailprobe test CA";
  /* A key of its own, never the shared leaf key: a CA and its leaves
   * with one key would make a leaf's key able to sign as the CA. */
  ca->key = key == MP_KEY_RSA_2048
                ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
                : mp_cert__key(key);
  if (ca->key == NULL)
    goto fail;
  ca->cert = make_cert(ca->key, cn, -3600, 3650 * DAY);
  if (ca->cert == NULL ||
      !X509_set_issuer_name(ca->cert, X509_get_subject_name(ca->cert)) ||
      !mp_cert__ext(ca->cert, ca->cert, NID_basic_constraints,
                    "critical,CA:TRUE") ||
      !mp_cert__ext(ca->cert, ca->cert, NID_key_usage,
                    "critical,keyCertSign,cRLSign,digitalSignature") ||
      !mp_cert__ext(ca->cert, ca->cert, NID_subject_key_identifier, "hash") ||
      X509_sign(ca->cert, ca->key, EVP_sha256()) <= 0 ||
      (ca->pem = mp_cert__pem(ca->cert, NULL)) == NULL)
    goto fail;
  return ca;
fail:
  ERR_clear_error();
  mp_ca_free(ca);
  return NULL;
}

/* Frees the CA. NULL is a no-op. */
void mp_ca_free(struct mp_ca *ca)
{
  if (ca == NULL)
    return;
  EVP_PKEY_free(ca->key);
  X509_free(ca->cert);
  free(ca->pem);
  free(ca);
}

/* The CA certificate as PEM text. */
const char *mp_ca_pem(const struct mp_ca *ca)
{
  return ca->pem;
}

/* Issues a leaf for host valid from now+from to now+until seconds,
 * signed by the CA or, when self_signed, by its own key. */
static int issue(struct mp_ca *ca, int self_signed, const char *host,
                 enum mp_key_type key, long from, long until, char **cert_pem,
                 char **key_pem)
{
  unsigned char addr[16];
  char san[300];
  EVP_PKEY *k = NULL;
  X509 *x = NULL;
  X509 *issuer;
  EVP_PKEY *signer;
  int rc = MP_E_NO_RESOURCES;

  if (inet_pton(AF_INET, host, addr) == 1 ||
      inet_pton(AF_INET6, host, addr) == 1)
    snprintf(san, sizeof san, "IP:%s", host);
  else
    snprintf(san, sizeof san, "DNS:%s", host);

  k = mp_cert__key(key);
  if (k == NULL || (x = make_cert(k, host, from, until)) == NULL)
    goto out;
  issuer = self_signed ? x : ca->cert;
  signer = self_signed ? k : ca->key;
  if (!X509_set_issuer_name(x, X509_get_subject_name(issuer)) ||
      !mp_cert__ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE") ||
      !mp_cert__ext(x, issuer, NID_key_usage,
                    key == MP_KEY_RSA_2048 ? "critical,digitalSignature,"
                                             "keyEncipherment"
                                           : "critical,digitalSignature") ||
      !mp_cert__ext(x, issuer, NID_ext_key_usage, "serverAuth") ||
      !mp_cert__ext(x, issuer, NID_subject_alt_name, san) ||
      !mp_cert__ext(x, issuer, NID_subject_key_identifier, "hash") ||
      !mp_cert__ext(x, issuer, NID_authority_key_identifier, "keyid:always") ||
      X509_sign(x, signer, EVP_sha256()) <= 0)
    goto out;
  *cert_pem = mp_cert__pem(x, NULL);
  *key_pem = mp_cert__pem(NULL, k);
  if (*cert_pem == NULL || *key_pem == NULL) {
    free(*cert_pem);
    free(*key_pem);
    *cert_pem = *key_pem = NULL;
    goto out;
  }
  rc = 0;
out:
  ERR_clear_error();
  X509_free(x);
  EVP_PKEY_free(k);
  return rc;
}

/* Issues a leaf of the given kind for host. */
int mp_cert_issue(struct mp_ca *ca, enum mp_cert_kind kind, const char *host,
                  enum mp_key_type key, char **cert_pem, char **key_pem)
{
  long from = -3600, until = 90 * DAY;

  *cert_pem = NULL;
  *key_pem = NULL;
  if (mp_cert_kind_name(kind) == NULL || host == NULL || host[0] == '\0' ||
      strlen(host) > 253 || (ca == NULL && kind != MP_CERT_SELF_SIGNED))
    return MP_E_NO_RESOURCES;
  if (kind == MP_CERT_WRONG_HOST)
    host = WRONG_HOST;
  if (kind == MP_CERT_EXPIRED) {
    from = -91 * DAY;
    until = -DAY;
  } else if (kind == MP_CERT_NOT_YET_VALID) {
    from = DAY;
    until = 91 * DAY;
  }
  return issue(ca, kind == MP_CERT_SELF_SIGNED, host, key, from, until,
               cert_pem, key_pem);
}

/* Issues a leaf for host with the given validity window. */
int mp_cert_issue_window(struct mp_ca *ca, const char *host,
                         enum mp_key_type key, long not_before, long not_after,
                         char **cert_pem, char **key_pem)
{
  *cert_pem = NULL;
  *key_pem = NULL;
  if (ca == NULL || host == NULL || host[0] == '\0' || strlen(host) > 253 ||
      not_before >= not_after)
    return MP_E_NO_RESOURCES;
  return issue(ca, 0, host, key, not_before, not_after, cert_pem, key_pem);
}
