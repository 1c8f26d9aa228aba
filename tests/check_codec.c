/* Unit tests for wire/codec.c: RFC 4648 section 10 base64 vectors, strict
 * rejection of malformed base64, hex, HMAC-MD5 (RFC 2202), MD5 (RFC 1321,
 * the RFC 1939 APOP example), random bytes and the constant-time compare. */
#include "wire/codec.h"

#include "wire/errors.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* RFC 4648 section 10. */
static const struct {
  const char *plain;
  const char *b64;
} b64_vectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

START_TEST(test_b64_encode_rfc4648)
{
  char *got =
      mp_b64_encode(b64_vectors[_i].plain, strlen(b64_vectors[_i].plain));

  ck_assert_ptr_nonnull(got);
  ck_assert_str_eq(got, b64_vectors[_i].b64);
  free(got);
}
END_TEST

START_TEST(test_b64_decode_rfc4648)
{
  size_t len = 12345;
  unsigned char *got = mp_b64_decode(b64_vectors[_i].b64, &len);

  ck_assert_ptr_nonnull(got);
  ck_assert_uint_eq(len, strlen(b64_vectors[_i].plain));
  ck_assert_mem_eq(got, b64_vectors[_i].plain, len);
  ck_assert_int_eq(got[len], '\0');
  free(got);
}
END_TEST

/* Strict decoding: each of these is refused. */
static const char *const b64_bad[] = {
    "Zg=",              /* not a multiple of four */
    "Zg",               /* padding missing */
    "Z",                /* a lone character */
    "Zm9vY",            /* five characters */
    "Zg==Zg==",         /* padding in the middle */
    "Zm=v",             /* '=' before data */
    "=Zm9",             /* '=' first */
    "====",             /* padding only */
    "Z===",             /* three '=' */
    "Zm9v\r\n",         /* line break */
    " Zm9v",            /* leading space */
    "Zm9v ",            /* trailing space */
    "Zm 9",             /* space inside */
    "Zm9*",             /* outside the alphabet */
    "Zm9-",             /* base64url is not base64 */
    "Zm9_",             /* base64url is not base64 */
    "Zh==",             /* RFC 4648 3.5: non-zero pad bits */
    "Zm9=",             /* RFC 4648 3.5: non-zero pad bits */
    "\xff\xff\xff\xff", /* high bytes */
};

START_TEST(test_b64_decode_malformed)
{
  size_t len = 777;

  ck_assert_ptr_null(mp_b64_decode(b64_bad[_i], &len));
  ck_assert_uint_eq(len, 777);
}
END_TEST

START_TEST(test_b64_binary_roundtrip)
{
  unsigned char buf[256], *back;
  char *text;
  size_t n, len;

  for (n = 0; n < sizeof buf; n++)
    buf[n] = (unsigned char)(255 - n);
  /* Every length 0..256 survives a round trip, NULs included. */
  for (n = 0; n <= sizeof buf; n++) {
    text = mp_b64_encode(buf, n);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(strlen(text), (n + 2) / 3 * 4);
    back = mp_b64_decode(text, &len);
    ck_assert_ptr_nonnull(back);
    ck_assert_uint_eq(len, n);
    ck_assert(n == 0 || memcmp(back, buf, n) == 0);
    free(back);
    free(text);
  }
}
END_TEST

START_TEST(test_b64_decode_nul_bytes)
{
  size_t len = 0;
  unsigned char *got = mp_b64_decode("AHRpbQB0YW5zdGFhZnRhbnN0YWFm", &len);

  ck_assert_ptr_nonnull(got);
  ck_assert_uint_eq(len, 21);
  ck_assert_mem_eq(got, "\0tim\0tanstaaftanstaaf", 21);
  free(got);
  ck_assert_ptr_null(mp_b64_decode(NULL, &len));
}
END_TEST

START_TEST(test_hex)
{
  char out[2 * 5 + 1];

  mp_hex((const unsigned char *)"\x00\x0f\xa0\xff\x5c", 5, out);
  ck_assert_str_eq(out, "000fa0ff5c");
  mp_hex((const unsigned char *)"", 0, out);
  ck_assert_str_eq(out, "");
}
END_TEST

/* mp_unhex takes either case and refuses anything else, including the
 * bytes that differ from a digit only in the case bit. */
START_TEST(test_unhex)
{
  static const struct {
    const char *hex;
    int rc;
  } cases[] = {
      {"000fa0ff5c", 0},  {"000FA0FF5C", 0},  {"000fA0Ff5c", 0},
      {"000fa0ff5g", -1}, {"000fa0ff5 ", -1}, {"\x10\x0f", -1},
      {"0@", -1},         {"0`", -1},         {"0G", -1},
  };
  unsigned char out[5];

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t n = strlen(cases[i].hex) / 2;
    ck_assert_msg(mp_unhex(cases[i].hex, n, out) == cases[i].rc, "%s",
                  cases[i].hex);
    if (cases[i].rc == 0)
      ck_assert_mem_eq(out, "\x00\x0f\xa0\xff\x5c", n);
  }
  ck_assert_int_eq(mp_unhex("", 0, out), 0);
}
END_TEST

/* RFC 2202 section 2 (HMAC-MD5) and RFC 2195 section 2 (CRAM-MD5). */
static const struct {
  const char *key;
  size_t keylen;
  const char *msg;
  size_t msglen;
  const char *hex;
} hmac_vectors[] = {
    {"\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b", 16,
     "Hi There", 8, "9294727a3638bb1c13f48ef8158bfc9d"},
    {"Jefe", 4, "what do ya want for nothing?", 28,
     "750c783e6ab0b503eaa86e310a5db738"},
    /* RFC 2202 test 6: a key longer than the block is hashed first. */
    {"\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa"
     "\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa"
     "\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa"
     "\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa"
     "\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa\xaa",
     80, "Test Using Larger Than Block-Size Key - Hash Key First", 54,
     "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd"},
    {"tanstaaftanstaaf", 16, "<1896.697170952@postoffice.reston.mci.net>", 42,
     "b913a602c7eda7a495b4e6e7334d3890"},
};

START_TEST(test_hmac_md5)
{
  unsigned char mac[16];
  char hex[33];

  ck_assert_int_eq(mp_hmac_md5(hmac_vectors[_i].key, hmac_vectors[_i].keylen,
                               hmac_vectors[_i].msg, hmac_vectors[_i].msglen,
                               mac),
                   0);
  mp_hex(mac, 16, hex);
  ck_assert_str_eq(hex, hmac_vectors[_i].hex);
}
END_TEST

/* RFC 1321 A.5 and the RFC 1939 section 7 APOP example. */
static const struct {
  const char *msg;
  const char *hex;
} md5_vectors[] = {
    {"", "d41d8cd98f00b204e9800998ecf8427e"},
    {"abc", "900150983cd24fb0d6963f7d28e17f72"},
    {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
    {"<1896.697170952@dbc.mtview.ca.us>tanstaaf",
     "c4c9334bac560ecc979e58001b3e22fb"},
};

START_TEST(test_md5)
{
  unsigned char md[16];
  char hex[33];

  ck_assert_int_eq(mp_md5(md5_vectors[_i].msg, strlen(md5_vectors[_i].msg), md),
                   0);
  mp_hex(md, 16, hex);
  ck_assert_str_eq(hex, md5_vectors[_i].hex);
}
END_TEST

START_TEST(test_random)
{
  unsigned char a[32], b[32], zero[32] = {0};

  ck_assert_int_eq(mp_random(a, sizeof a), 0);
  ck_assert_int_eq(mp_random(b, sizeof b), 0);
  /* Two 256-bit draws are equal, or all zero, with negligible odds. */
  ck_assert(memcmp(a, b, sizeof a) != 0);
  ck_assert(memcmp(a, zero, sizeof a) != 0);
  ck_assert_int_eq(mp_random(a, 0), 0);
}
END_TEST

START_TEST(test_ct_equal)
{
  ck_assert_int_eq(mp_ct_equal("abc", 3, "abc", 3), 1);
  ck_assert_int_eq(mp_ct_equal("abc", 3, "abd", 3), 0);
  ck_assert_int_eq(mp_ct_equal("abc", 3, "abcd", 4), 0);
  ck_assert_int_eq(mp_ct_equal("", 0, "", 0), 1);
  ck_assert_int_eq(mp_ct_equal("a\0b", 3, "a\0c", 3), 0);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *codec_suite(void)
{
  Suite *s = suite_create("codec");
  TCase *tc = tcase_create("core");

  tcase_add_loop_test(tc, test_b64_encode_rfc4648, 0, N(b64_vectors));
  tcase_add_loop_test(tc, test_b64_decode_rfc4648, 0, N(b64_vectors));
  tcase_add_loop_test(tc, test_b64_decode_malformed, 0, N(b64_bad));
  tcase_add_test(tc, test_b64_binary_roundtrip);
  tcase_add_test(tc, test_b64_decode_nul_bytes);
  tcase_add_test(tc, test_hex);
  tcase_add_test(tc, test_unhex);
  tcase_add_loop_test(tc, test_hmac_md5, 0, N(hmac_vectors));
  tcase_add_loop_test(tc, test_md5, 0, N(md5_vectors));
  tcase_add_test(tc, test_random);
  tcase_add_test(tc, test_ct_equal);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(codec_suite());
  int failed;

  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
