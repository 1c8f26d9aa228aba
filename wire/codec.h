/* Small encodings and digests every peer needs: base64 (RFC 4648), hex,
 * HMAC-MD5 (RFC 2104, for CRAM-MD5), MD5 (APOP, RFC 1939) and random bytes.
 * Thin wrappers over OpenSSL's libcrypto. */
#ifndef MP_CODEC_H
#define MP_CODEC_H

#include <stddef.h>

/* base64 of len bytes, malloc'd and NUL-terminated; NULL on failure. */
char *mp_b64_encode(const void *buf, size_t len);

/* Decodes strict base64 (RFC 4648 section 4: no white space, length a
 * multiple of 4, padding required, "=" only at the end, and the unused bits
 * before the padding zero, section 3.5); "" decodes to 0 bytes. malloc'd,
 * NUL-terminated (the NUL is not counted in *outlen). NULL if malformed or
 * out of memory. */
unsigned char *mp_b64_decode(const char *text, size_t *outlen);

/* Lower-case hex of len bytes into out (2 * len + 1 bytes). */
void mp_hex(const unsigned char *buf, size_t len, char *out);

/* Decodes 2 * len hex digits (either case) into out[len]: 0, or -1 when
 * one of them is not a hex digit. */
int mp_unhex(const char *hex, size_t len, unsigned char *out);

/* HMAC-MD5 of msg under key into out[16]: 0, or MP_E_NO_RESOURCES when
 * libcrypto cannot compute it (out is then zeroed; never trust it). */
int mp_hmac_md5(const void *key, size_t keylen, const void *msg, size_t len,
                unsigned char out[16]);

/* MD5 of buf into out[16]: 0 or MP_E_NO_RESOURCES (as mp_hmac_md5). */
int mp_md5(const void *buf, size_t len, unsigned char out[16]);

/* Fills buf with unpredictable bytes: 0 or MP_E_NO_RESOURCES. */
int mp_random(void *buf, size_t len);

/* 1 if a[0..alen) equals b[0..blen), else 0. The time taken depends on the
 * lengths only, never on where the bytes differ: for digests and
 * passwords. */
int mp_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif
