/* Certificates made at run time: a throw-away CA and leaf certificates it
 * signs (valid, expired, not yet valid, for the wrong host) or that sign
 * themselves. Keys are ECDSA P-256 unless RSA is asked for. All PEM text is
 * malloc'd and owned by the caller. */
#ifndef MP_CERT_H
#define MP_CERT_H

enum mp_cert_kind {
  MP_CERT_VALID = 0,
  MP_CERT_EXPIRED,
  MP_CERT_NOT_YET_VALID,
  MP_CERT_SELF_SIGNED,
  MP_CERT_WRONG_HOST
};

enum mp_key_type { MP_KEY_EC_P256 = 0, MP_KEY_RSA_2048 };

struct mp_ca;

/* A new CA named cn. NULL on failure. */
struct mp_ca *mp_ca_new(const char *cn, enum mp_key_type key);
void mp_ca_free(struct mp_ca *ca);

/* The CA certificate as PEM (owned by the CA, valid until mp_ca_free). */
const char *mp_ca_pem(const struct mp_ca *ca);

/* Makes the key of that type that certificates share (RSA 2048 is made
 * once per process and takes 100 to 400 ms), so that a caller can pay
 * for it before its event loop runs rather than in the middle of it. */
void mp_cert_key_warm(enum mp_key_type type);

/* Issues a leaf for host (a DNS name or an IP literal, put in
 * subjectAltName) of the given kind. MP_CERT_WRONG_HOST names
 * "wrong.invalid" instead; MP_CERT_SELF_SIGNED is not signed by the CA.
 * Returns 0 or a negative code. */
int mp_cert_issue(struct mp_ca *ca, enum mp_cert_kind kind, const char *host,
                  enum mp_key_type key, char **cert_pem, char **key_pem);

/* A leaf for host signed by the CA, valid from now + not_before to now +
 * not_after seconds (negative: in the past), e.g. one that expires while
 * a test runs. Returns 0 or a negative code. */
int mp_cert_issue_window(struct mp_ca *ca, const char *host,
                         enum mp_key_type key, long not_before, long not_after,
                         char **cert_pem, char **key_pem);

/* The host name a MP_CERT_WRONG_HOST leaf carries ("wrong.invalid"). */
const char *mp_cert_wrong_host(void);

/* "valid" <-> MP_CERT_VALID, ...; -1 for an unknown name. */
int mp_cert_kind_from_name(const char *name);
const char *mp_cert_kind_name(enum mp_cert_kind kind);

#endif
