/* The JSON writer: string escaping (table), UTF-8 validation, structure. */
#include "harness/report/json.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct esc_case {
  const char *in;
  size_t len; /* 0: strlen(in) */
  const char *out;
};

static const struct esc_case esc_cases[] = {
    {"", 0, "\"\""},
    {"plain text", 0, "\"plain text\""},
    {"say \"hi\"", 0, "\"say \\\"hi\\\"\""},
    {"back\\slash", 0, "\"back\\\\slash\""},
    {"a/b", 0, "\"a/b\""}, /* '/' needs no escape */
    {"line\r\nnext", 0, "\"line\\r\\nnext\""},
    {"tab\there", 0, "\"tab\\there\""},
    {"\b\f", 0, "\"\\b\\f\""},
    {"\x01\x1f", 0, "\"\\u0001\\u001f\""},
    {"\x1b[31mred", 0, "\"\\u001b[31mred\""},
    {"del\x7f", 0, "\"del\x7f\""}, /* DEL is allowed (RFC 8259 7) */
    {"a\0b", 3, "\"a\\u0000b\""},
    {"caf\xc3\xa9", 0, "\"caf\xc3\xa9\""},
    {"\xe2\x82\xac 5", 0, "\"\xe2\x82\xac 5\""},
    {"\xf0\x9f\x98\x80", 0, "\"\xf0\x9f\x98\x80\""},
    {"\xff", 0, "\"\\ufffd\""},
    {"x\x80y", 0, "\"x\\ufffdy\""},
    {"cut \xc3", 0, "\"cut \\ufffd\""},
    {"\xe2\x82", 0, "\"\\ufffd\\ufffd\""},
    {"\xc0\xaf", 0, "\"\\ufffd\\ufffd\""},            /* overlong '/' */
    {"\xe0\x80\xaf", 0, "\"\\ufffd\\ufffd\\ufffd\""}, /* overlong */
    {"\xed\xa0\x80", 0, "\"\\ufffd\\ufffd\\ufffd\""}, /* surrogate */
    {"\xf4\x90\x80\x80", 0,
     "\"\\ufffd\\ufffd\\ufffd\\ufffd\""}, /* > U+10FFFF */
    {"ok\xc3\xa9\xff\xc3\xa9", 0, "\"ok\xc3\xa9\\ufffd\xc3\xa9\""},
};

START_TEST(test_escape)
{
  const struct esc_case *c = &esc_cases[_i];
  struct mp_json j;
  char *out;

  mp_json_init(&j);
  mp_json_strn(&j, c->in, c->len ? c->len : strlen(c->in));
  out = mp_json_take(&j);
  ck_assert_ptr_nonnull(out);
  ck_assert_str_eq(out, c->out);
  free(out);
}
END_TEST

struct utf8_case {
  const char *in;
  size_t len;
  size_t n;    /* expected length, 0 invalid */
  uint32_t cp; /* when valid */
};

static const struct utf8_case utf8_cases[] = {
    {"A", 1, 1, 0x41},
    {"\xc2\x80", 2, 2, 0x80},
    {"\xdf\xbf", 2, 2, 0x7ff},
    {"\xe0\xa0\x80", 3, 3, 0x800},
    {"\xef\xbf\xbd", 3, 3, 0xfffd},
    {"\xf0\x90\x80\x80", 4, 4, 0x10000},
    {"\xf4\x8f\xbf\xbf", 4, 4, 0x10ffff},
    {"\xc1\xbf", 2, 0, 0},         /* overlong */
    {"\xe0\x9f\xbf", 3, 0, 0},     /* overlong */
    {"\xf0\x8f\xbf\xbf", 4, 0, 0}, /* overlong */
    {"\xed\xbf\xbf", 3, 0, 0},     /* surrogate */
    {"\xf5\x80\x80\x80", 4, 0, 0},
    {"\x80", 1, 0, 0},
    {"\xc3", 1, 0, 0},     /* truncated */
    {"\xc3\x28", 2, 0, 0}, /* bad continuation */
    {"\xe2\x82\x28", 3, 0, 0},
};

START_TEST(test_utf8)
{
  const struct utf8_case *c = &utf8_cases[_i];
  uint32_t cp = 0xdeadbeef;
  size_t n = mp_utf8_decode((const unsigned char *)c->in, c->len, &cp);

  ck_assert_uint_eq(n, c->n);
  if (n)
    ck_assert_uint_eq(cp, c->cp);
}
END_TEST

START_TEST(test_structure)
{
  struct mp_json j;
  char *out;

  mp_json_init(&j);
  mp_json_obj_begin(&j);
  mp_json_key(&j, "a");
  mp_json_int(&j, -5);
  mp_json_key(&j, "b\"q");
  mp_json_arr_begin(&j);
  mp_json_uint(&j, 18446744073709551615ull);
  mp_json_bool(&j, 1);
  mp_json_bool(&j, 0);
  mp_json_null(&j);
  mp_json_str(&j, NULL);
  mp_json_obj_begin(&j);
  mp_json_obj_end(&j);
  mp_json_arr_begin(&j);
  mp_json_arr_end(&j);
  mp_json_arr_end(&j);
  mp_json_key(&j, "d");
  mp_json_double(&j, 1.5, 3);
  mp_json_key(&j, "nan");
  mp_json_double(&j, 0.0 / 0.0, 3);
  mp_json_key(&j, "min");
  mp_json_int(&j, INT64_MIN);
  mp_json_obj_end(&j);
  out = mp_json_take(&j);
  ck_assert_str_eq(out, "{\"a\":-5,\"b\\\"q\":[18446744073709551615,true,"
                        "false,null,null,{},[]],\"d\":1.500,\"nan\":null,"
                        "\"min\":-9223372036854775808}");
  free(out);
}
END_TEST

START_TEST(test_pretty)
{
  struct mp_json j;
  char *out;

  mp_json_init(&j);
  j.pretty = 1;
  mp_json_obj_begin(&j);
  mp_json_key(&j, "a");
  mp_json_arr_begin(&j);
  mp_json_int(&j, 1);
  mp_json_int(&j, 2);
  mp_json_arr_end(&j);
  mp_json_key(&j, "e");
  mp_json_obj_begin(&j);
  mp_json_obj_end(&j);
  mp_json_obj_end(&j);
  out = mp_json_take(&j);
  ck_assert_str_eq(out, "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"e\": {}\n}");
  free(out);
}
END_TEST

START_TEST(test_top_level_array)
{
  struct mp_json j;
  char *out;

  mp_json_init(&j);
  mp_json_arr_begin(&j);
  mp_json_str(&j, "x");
  mp_json_obj_begin(&j);
  mp_json_key(&j, "k");
  mp_json_str(&j, "v");
  mp_json_obj_end(&j);
  mp_json_arr_end(&j);
  out = mp_json_take(&j);
  ck_assert_str_eq(out, "[\"x\",{\"k\":\"v\"}]");
  free(out);
  /* The writer is reusable after take, and empty output is "". */
  out = mp_json_take(&j);
  ck_assert_str_eq(out, "");
  free(out);
}
END_TEST

START_TEST(test_long_string)
{
  struct mp_json j;
  size_t n = 100000, i;
  char *in = malloc(n + 1), *out;

  ck_assert_ptr_nonnull(in);
  for (i = 0; i < n; i++)
    in[i] = (i % 100 == 99) ? '\n' : 'x';
  in[n] = '\0';
  mp_json_init(&j);
  mp_json_str(&j, in);
  out = mp_json_take(&j);
  /* Each '\n' became two bytes; two quotes. */
  ck_assert_uint_eq(strlen(out), n + n / 100 + 2);
  free(in);
  free(out);
}
END_TEST

static Suite *json_suite(void)
{
  Suite *s = suite_create("json");
  TCase *tc = tcase_create("json");

  tcase_add_loop_test(tc, test_escape, 0,
                      sizeof(esc_cases) / sizeof(esc_cases[0]));
  tcase_add_loop_test(tc, test_utf8, 0,
                      sizeof(utf8_cases) / sizeof(utf8_cases[0]));
  tcase_add_test(tc, test_structure);
  tcase_add_test(tc, test_pretty);
  tcase_add_test(tc, test_top_level_array);
  tcase_add_test(tc, test_long_string);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(json_suite());
  int failed;

  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
