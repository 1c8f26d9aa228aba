/* What wire/cert.c and wire/cert_like.c share: the CA and the helpers
 * that make keys, extensions and PEM text. Private to those two. */
#ifndef MP_CERT_INTERNAL_H
#define MP_CERT_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "wire/cert.h"

struct mp_ca {
  EVP_PKEY *key;
  X509 *cert;
  char *pem;
};

/* A key of the type for a leaf: a new ECDSA P-256 one, or the process's
 * one RSA 2048 key (made once; a reference). NULL on failure. */
EVP_PKEY *mp_cert__key(enum mp_key_type type);

/* The PEM text of a certificate, or (cert NULL) of a private key
 * (PKCS#8), malloc'd; NULL on failure. */
char *mp_cert__pem(X509 *cert, EVP_PKEY *key);

/* Adds one v3 extension in openssl.cnf syntax ("critical,CA:TRUE") to
 * cert, issued by issuer. 1 or 0. */
int mp_cert__ext(X509 *cert, X509 *issuer, int nid, const char *value);

#endif
