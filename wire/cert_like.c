/* Certificates like another one (wire/cert_like.h): read the facts of a
 * server's certificate, issue one with the same facts under a throw-away
 * CA. */
#include "wire/cert_like.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "wire/cert_internal.h"
#include "wire/errors.h"

void mp_cert_time_format(long long t, char *buf, size_t len)
{
  time_t tt = (time_t)t;
  struct tm tm;
  if (!gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
    snprintf(buf, len, "1970-01-01T00:00:00Z");
}

int mp_cert_time_parse(const char *s, long long *t)
{
  struct tm tm = {0};
  char z = 0;
  int n = 0;
  if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c%n", &tm.tm_year, &tm.tm_mon,
             &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &z, &n) != 7 ||
      z != 'Z' || s[n] != '\0' || tm.tm_mon < 1 || tm.tm_mon > 12 ||
      tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  *t = (long long)timegm(&tm);
  return 0;
}

/* A name's entries as "CN=value" strings, in order. */
static size_t read_name(const X509_NAME *name, char out[][MP_CERT_NAME_LEN])
{
  size_t n = 0;
  for (int i = 0; i < X509_NAME_entry_count(name) && n < MP_CERT_MAX_NAMES;
       i++) {
    const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
    int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
    unsigned char *utf8 = NULL;
    if (nid == NID_undef ||
        ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e)) < 0)
      continue;
    snprintf(out[n++], MP_CERT_NAME_LEN, "%s=%s", OBJ_nid2sn(nid),
             (const char *)utf8);
    OPENSSL_free(utf8);
  }
  return n;
}

static long long asn1_time(const ASN1_TIME *a)
{
  struct tm tm;
  if (!a || !ASN1_TIME_to_tm(a, &tm))
    return 0;
  return (long long)timegm(&tm);
}

int mp_cert_facts_read(const char *pem, unsigned n, struct mp_cert_facts *f)
{
  memset(f, 0, sizeof(*f));
  BIO *b = BIO_new_mem_buf(pem, -1);
  X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
  BIO_free(b);
  if (!x) {
    ERR_clear_error();
    return MP_E_PROTOCOL_ERROR;
  }
  f->nsubject = read_name(X509_get_subject_name(x), f->subject);
  f->nissuer = read_name(X509_get_issuer_name(x), f->issuer);
  GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
  for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
    if (f->nsans >= MP_CERT_MAX_NAMES)
      break;
    if (g->type == GEN_DNS) {
      snprintf(f->sans[f->nsans++], MP_CERT_NAME_LEN, "DNS:%.*s",
               ASN1_STRING_length(g->d.dNSName),
               (const char *)ASN1_STRING_get0_data(g->d.dNSName));
    } else if (g->type == GEN_IPADD) {
      char ip[INET6_ADDRSTRLEN];
      int len = ASN1_STRING_length(g->d.iPAddress);
      const unsigned char *a = ASN1_STRING_get0_data(g->d.iPAddress);
      if ((len == 4 || len == 16) &&
          inet_ntop(len == 4 ? AF_INET : AF_INET6, a, ip, sizeof(ip)))
        snprintf(f->sans[f->nsans++], MP_CERT_NAME_LEN, "IP:%s", ip);
    }
  }
  GENERAL_NAMES_free(gens);
  f->not_before = asn1_time(X509_get0_notBefore(x));
  f->not_after = asn1_time(X509_get0_notAfter(x));
  EVP_PKEY *k = X509_get0_pubkey(x);
  /* its own name as issuer, and its own key's signature (a leaf that
   * signs itself has no keyCertSign, which X509_check_issued wants) */
  f->self_signed =
      X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0 &&
      k && X509_verify(x, k) == 1;
  f->rsa = k && EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA;
  f->chain = n ? n : 1;
  X509_free(x);
  ERR_clear_error();
  return 0;
}

/* Fills an X509 name from "KEY=value" entries; an empty list gets
 * CN=fallback. 1 or 0. */
static int fill_name(X509_NAME *name, const char (*e)[MP_CERT_NAME_LEN],
                     size_t n, const char *fallback)
{
  if (n == 0)
    return X509_NAME_add_entry_by_txt(
        name, "CN", MBSTRING_UTF8, (const unsigned char *)fallback, -1, -1, 0);
  for (size_t i = 0; i < n; i++) {
    char key[64];
    const char *eq = strchr(e[i], '=');
    if (!eq || eq == e[i] || (size_t)(eq - e[i]) >= sizeof(key))
      return 0;
    memcpy(key, e[i], (size_t)(eq - e[i]));
    key[eq - e[i]] = '\0';
    if (!X509_NAME_add_entry_by_txt(name, key, MBSTRING_UTF8,
                                    (const unsigned char *)eq + 1, -1, -1, 0))
      return 0;
  }
  return 1;
}

/* A certificate for key with the subject entries and window, unsigned. */
static X509 *new_cert(EVP_PKEY *key, const char (*subj)[MP_CERT_NAME_LEN],
                      size_t nsubj, long long from, long long until)
{
  X509 *x = X509_new();
  BIGNUM *bn = BN_new();
  int ok = x && bn && X509_set_version(x, X509_VERSION_3) &&
           BN_rand(bn, 159, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) &&
           BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
           ASN1_TIME_set(X509_getm_notBefore(x), (time_t)from) &&
           ASN1_TIME_set(X509_getm_notAfter(x), (time_t)until) &&
           X509_set_pubkey(x, key) &&
           fill_name(X509_get_subject_name(x), subj, nsubj, "mailprobe");
  BN_free(bn);
  if (!ok) {
    X509_free(x);
    return NULL;
  }
  return x;
}

/* The intermediate named like f's issuer: signed by ca, or by itself
 * when f is untrusted. */
static X509 *make_issuer(struct mp_ca *ca, const struct mp_cert_facts *f,
                         EVP_PKEY *k)
{
  long long now = (long long)time(NULL);
  long long from = f->not_before < now ? f->not_before : now;
  X509 *x =
      new_cert(k, f->issuer, f->nissuer, from - 86400, now + 3650LL * 86400);
  if (!x)
    return NULL;
  X509 *up = f->untrusted ? x : ca->cert;
  EVP_PKEY *signer = f->untrusted ? k : ca->key;
  if (!X509_set_issuer_name(x, X509_get_subject_name(up)) ||
      !mp_cert__ext(x, up, NID_basic_constraints, "critical,CA:TRUE") ||
      !mp_cert__ext(x, up, NID_key_usage, "critical,keyCertSign,cRLSign") ||
      !mp_cert__ext(x, up, NID_subject_key_identifier, "hash") ||
      X509_sign(x, signer, EVP_sha256()) <= 0) {
    X509_free(x);
    return NULL;
  }
  return x;
}

/* "DNS:a,IP:1.2.3.4" from the SAN list, or "" for none. */
static void san_list(const struct mp_cert_facts *f, char *buf, size_t len)
{
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < f->nsans && used < len; i++)
    used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? "," : "",
                             f->sans[i]);
}

int mp_cert_issue_like(struct mp_ca *ca, const struct mp_cert_facts *f,
                       char **cert_pem, char **key_pem)
{
  enum mp_key_type kt = f->rsa ? MP_KEY_RSA_2048 : MP_KEY_EC_P256;
  EVP_PKEY *k = mp_cert__key(kt), *ik = NULL;
  X509 *x = NULL, *mid = NULL;
  char sans[MP_CERT_MAX_NAMES * (MP_CERT_NAME_LEN + 1) + 1];
  char *leaf = NULL, *chain = NULL;
  int rc = MP_E_NO_RESOURCES;

  *cert_pem = *key_pem = NULL;
  if (!ca && !f->self_signed)
    return rc;
  if (!k ||
      !(x = new_cert(k, f->subject, f->nsubject, f->not_before, f->not_after)))
    goto out;
  X509_NAME *want = X509_NAME_new();
  int same = ca && want &&
             fill_name(want, f->issuer, f->nissuer, "mailprobe") &&
             X509_NAME_cmp(want, X509_get_subject_name(ca->cert)) == 0;
  X509_NAME_free(want);
  if (!f->self_signed && !(same && !f->untrusted)) {
    ik = mp_cert__key(MP_KEY_EC_P256);
    if (!ik || !(mid = make_issuer(ca, f, ik)))
      goto out;
  }
  /* issued by ca itself when ca bears the issuer's name (a recording of
   * a fake server, under the same kind of CA) */
  X509 *up = mid ? mid : f->self_signed ? x : ca->cert;
  san_list(f, sans, sizeof(sans));
  if (!X509_set_issuer_name(x, X509_get_subject_name(up)) ||
      !mp_cert__ext(x, up, NID_basic_constraints, "critical,CA:FALSE") ||
      !mp_cert__ext(x, up, NID_ext_key_usage, "serverAuth") ||
      (sans[0] && !mp_cert__ext(x, up, NID_subject_alt_name, sans)) ||
      !mp_cert__ext(x, up, NID_subject_key_identifier, "hash") ||
      (up != x &&
       !mp_cert__ext(x, up, NID_authority_key_identifier, "keyid:always")) ||
      X509_sign(x,
                mid              ? ik
                : f->self_signed ? k
                                 : ca->key,
                EVP_sha256()) <= 0)
    goto out;
  leaf = mp_cert__pem(x, NULL);
  /* The intermediate goes along whatever the original sent: a leaf the
   * client verified had an issuer it trusted, which is ca here. */
  chain = mid && !f->untrusted ? mp_cert__pem(mid, NULL) : NULL;
  *key_pem = mp_cert__pem(NULL, k);
  if (!leaf || !*key_pem || (mid && !f->untrusted && !chain))
    goto out;
  size_t a = strlen(leaf), b = chain ? strlen(chain) : 0;
  *cert_pem = malloc(a + b + 1);
  if (!*cert_pem)
    goto out;
  memcpy(*cert_pem, leaf, a);
  if (chain)
    memcpy(*cert_pem + a, chain, b);
  (*cert_pem)[a + b] = '\0';
  rc = 0;
out:
  if (rc < 0) {
    free(*key_pem);
    *key_pem = NULL;
  }
  free(leaf);
  free(chain);
  X509_free(x);
  X509_free(mid);
  EVP_PKEY_free(k);
  EVP_PKEY_free(ik);
  ERR_clear_error();
  return rc;
}
