#include "wire/codec.h"

#include "wire/errors.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

/* The RFC 4648 section 4 alphabet: the value of a character, or -1. */
static int b64_value(unsigned char ch)
{
  if (ch >= 'A' && ch <= 'Z')
    return ch - 'A';
  if (ch >= 'a' && ch <= 'z')
    return ch - 'a' + 26;
  if (ch >= '0' && ch <= '9')
    return ch - '0' + 52;
  if (ch == '+')
    return 62;
  if (ch == '/')
    return 63;
  return -1;
}

char *mp_b64_encode(const void *buf, size_t len)
{
  size_t groups, cap;
  char *out;

  /* EVP_EncodeBlock takes an int length. */
  if (len > (size_t)INT_MAX / 4 * 3 - 3)
    return NULL;
  groups = (len + 2) / 3;
  cap = groups * 4 + 1;
  out = malloc(cap);
  if (out == NULL)
    return NULL;
  if (EVP_EncodeBlock((unsigned char *)out, buf, (int)len) != (int)(cap - 1)) {
    free(out);
    return NULL;
  }
  out[cap - 1] = '\0';
  return out;
}

unsigned char *mp_b64_decode(const char *text, size_t *outlen)
{
  size_t n, i, pad = 0, len;
  unsigned char *out;
  int last;

  if (text == NULL)
    return NULL;
  n = strlen(text);
  /* RFC 4648 section 4: whole quanta of four characters. */
  if (n % 4 != 0 || n > (size_t)INT_MAX)
    return NULL;
  if (n > 0 && text[n - 1] == '=')
    pad++;
  if (n > 1 && text[n - 2] == '=')
    pad++;
  /* Every character before the padding is in the alphabet; a '=' anywhere
   * else (or a third one) fails here. */
  for (i = 0; i < n - pad; i++)
    if (b64_value((unsigned char)text[i]) < 0)
      return NULL;
  /* RFC 4648 section 3.5: the bits the padding leaves over are zero, so
   * each byte string has exactly one encoding. */
  if (pad > 0) {
    last = b64_value((unsigned char)text[n - pad - 1]);
    if ((pad == 1 && (last & 0x03) != 0) || (pad == 2 && (last & 0x0f) != 0))
      return NULL;
  }
  len = n / 4 * 3 - pad;
  /* EVP_DecodeBlock writes whole groups of three (the padding as zeros). */
  out = malloc(n / 4 * 3 + 1);
  if (out == NULL)
    return NULL;
  if (n > 0 && EVP_DecodeBlock(out, (const unsigned char *)text, (int)n) !=
                   (int)(n / 4 * 3)) {
    free(out);
    return NULL;
  }
  out[len] = '\0';
  if (outlen != NULL)
    *outlen = len;
  return out;
}

void mp_hex(const unsigned char *buf, size_t len, char *out)
{
  static const char digits[] = "0123456789abcdef";
  size_t i;

  for (i = 0; i < len; i++) {
    out[2 * i] = digits[buf[i] >> 4];
    out[2 * i + 1] = digits[buf[i] & 0x0f];
  }
  out[2 * len] = '\0';
}

/* The value of a hex digit of either case, or -1. */
static int hex_digit(unsigned char ch)
{
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  ch |= 0x20; /* 'A'..'F' -> 'a'..'f'; nothing else lands there */
  return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

int mp_unhex(const char *hex, size_t len, unsigned char *out)
{
  int bad = 0;

  for (size_t i = 0; i < len; i++) {
    int hi = hex_digit((unsigned char)hex[2 * i]);
    int lo = hex_digit((unsigned char)hex[2 * i + 1]);
    bad |= hi < 0 || lo < 0;
    out[i] = (unsigned char)((hi & 0x0f) << 4 | (lo & 0x0f));
  }
  return bad ? -1 : 0;
}

int mp_hmac_md5(const void *key, size_t keylen, const void *msg, size_t len,
                unsigned char out[16])
{
  size_t got = 0;

  /* RFC 2104 with MD5; EVP_Q_mac fetches HMAC from the default provider. */
  if (EVP_Q_mac(NULL, "HMAC", NULL, "MD5", NULL, key, keylen, msg, len, out, 16,
                &got) == NULL ||
      got != 16) {
    memset(out, 0, 16);
    return MP_E_NO_RESOURCES;
  }
  return 0;
}

int mp_md5(const void *buf, size_t len, unsigned char out[16])
{
  unsigned int got = 0;

  if (!EVP_Digest(buf, len, out, &got, EVP_md5(), NULL) || got != 16) {
    memset(out, 0, 16);
    return MP_E_NO_RESOURCES;
  }
  return 0;
}

int mp_random(void *buf, size_t len)
{
  unsigned char *p = buf;
  int chunk;

  while (len > 0) {
    chunk = len > INT_MAX ? INT_MAX : (int)len;
    if (RAND_bytes(p, chunk) != 1)
      return MP_E_NO_RESOURCES;
    p += chunk;
    len -= (size_t)chunk;
  }
  return 0;
}

int mp_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
  if (alen != blen)
    return 0;
  return alen == 0 || CRYPTO_memcmp(a, b, alen) == 0;
}
