/* Fuzz target for wire/codec.c: mp_b64_decode on arbitrary text (a
 * NUL-terminated copy of the input), and the round trips: decode(encode(x))
 * is x for the decoded bytes and for the raw input, and, since the decoder
 * is strict (RFC 4648 3.5: one encoding per byte string), text that decodes
 * is exactly encode(decode(text)). Also hex, MD5, HMAC-MD5 and the
 * constant-time compare on the same bytes. */
#include "wire/codec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* encode then decode gives back buf[0..len). */
static void round_trip(const void *buf, size_t len)
{
  char *enc = mp_b64_encode(buf, len);
  unsigned char *dec;
  size_t n = (size_t)-1;

  if (enc == NULL)
    abort();
  if (strlen(enc) != (len + 2) / 3 * 4)
    abort();
  dec = mp_b64_decode(enc, &n);
  if (dec == NULL || n != len || memcmp(dec, buf, len) != 0 || dec[n] != 0)
    abort();
  free(dec);
  free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *text = malloc(size + 1);
  unsigned char *dec, md[16], mac[16];
  char *hex;
  size_t n = (size_t)-1;

  if (text == NULL)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';

  dec = mp_b64_decode(text, &n);
  if (dec != NULL) {
    char *again;
    if (dec[n] != '\0' || n > size)
      abort();
    round_trip(dec, n);
    /* Strict base64: the text was the one encoding of its bytes. */
    again = mp_b64_encode(dec, n);
    if (again == NULL || strcmp(again, text) != 0)
      abort();
    free(again);
    free(dec);
  }
  round_trip(data, size);

  /* The digests must not fail on any input, and hex is 2n + NUL. */
  if (mp_md5(data, size, md) != 0)
    abort();
  if (mp_hmac_md5(data, size / 2, data + size / 2, size - size / 2, mac) != 0)
    abort();
  hex = malloc(2 * size + 1);
  if (hex != NULL) {
    mp_hex(data, size, hex);
    if (strlen(hex) != 2 * size)
      abort();
    free(hex);
  }
  if (!mp_ct_equal(data, size, data, size))
    abort();
  if (size > 0 && mp_ct_equal(data, size, data, size - 1))
    abort();
  if (size > 1 && mp_ct_equal(data, size / 2, data + size / 2, size / 2) !=
                      (memcmp(data, data + size / 2, size / 2) == 0))
    abort();
  free(text);
  return 0;
}
