/* Certificates like another one: the facts a client saw in a server's
 * certificate (names, issuer name, validity window, key type, whether it
 * signed itself, how many certificates the server sent), read from it and
 * issued again under a throw-away CA, so a recorded server's replay shows
 * the same certificate problems (expired stays expired, a wrong host stays
 * wrong). PEM text is malloc'd and owned by the caller. */
#ifndef MP_CERT_LIKE_H
#define MP_CERT_LIKE_H

#include <stddef.h>

#include "wire/cert.h"

#define MP_CERT_MAX_NAMES 12 /* name entries, SANs */
#define MP_CERT_NAME_LEN 160

struct mp_cert_facts {
  char subject[MP_CERT_MAX_NAMES][MP_CERT_NAME_LEN]; /* "CN=mx.example" */
  size_t nsubject;
  char issuer[MP_CERT_MAX_NAMES][MP_CERT_NAME_LEN]; /* "O=Let's Encrypt" */
  size_t nissuer;
  char sans[MP_CERT_MAX_NAMES][MP_CERT_NAME_LEN]; /* "DNS:x", "IP:1.2.3.4" */
  size_t nsans;
  long long not_before; /* Unix seconds */
  long long not_after;
  int self_signed; /* issuer is subject, signed by its own key */
  int untrusted;   /* issued by a CA the client does not know */
  int rsa;         /* 1: an RSA key, else EC */
  unsigned chain;  /* certificates the server sent (told, not
                      replayed: a trusted replay sends two) */
};

/* Reads the facts of the first certificate in pem; chain is set to n.
 * 0 or a negative code. */
int mp_cert_facts_read(const char *pem, unsigned n, struct mp_cert_facts *f);

/* Issues a certificate with f's facts. Unless self-signed or untrusted, an
 * intermediate CA named like f's issuer, signed by ca, signs it, and the
 * chain (cert_pem: the leaf, then the intermediate) verifies under ca;
 * untrusted: that intermediate signs itself and only the leaf is sent.
 * Returns 0 or a negative code. */
int mp_cert_issue_like(struct mp_ca *ca, const struct mp_cert_facts *f,
                       char **cert_pem, char **key_pem);

/* Unix seconds as "2024-01-31T12:00:00Z", and back (0 or -1). */
void mp_cert_time_format(long long t, char *buf, size_t len);
int mp_cert_time_parse(const char *s, long long *t);

#endif
