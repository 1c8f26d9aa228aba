/* Unit tests for wire/smtp_reply.c: single, multi-line and bare replies
 * (RFC 5321 4.2), bad codes, codes that change, bad separators, the caps
 * on lines and text, RFC 3463 enhanced codes, NUL bytes and reuse. */
#include "wire/smtp_reply.h"

#include "wire/errors.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Lines separated by '\n'; every line but the last must ask for more
 * (MP_EAGAIN), the last returns want. On an error the reply keeps what
 * came before: code, text and lines describe that. */
static const struct {
  const char *input;
  int want;
  int code;
  const char *enhanced;
  const char *text;
  size_t lines;
} cases[] = {
    /* Single, multi, bare. */
    {"250 OK", 0, 250, "", "OK", 1},
    {"220 mx.example.test ESMTP ready", 0, 220, "",
     "mx.example.test ESMTP ready", 1},
    {"250-mx.example.test\n250-PIPELINING\n250-AUTH PLAIN LOGIN\n250 8BITMIME",
     0, 250, "", "mx.example.test\nPIPELINING\nAUTH PLAIN LOGIN\n8BITMIME", 4},
    {"250", 0, 250, "", "", 1},
    {"250 ", 0, 250, "", "", 1},
    {"250-first\n250", 0, 250, "", "first\n", 2},
    {"250-\n250 end", 0, 250, "", "\nend", 2},
    {"334 VXNlcm5hbWU6", 0, 334, "", "VXNlcm5hbWU6", 1},
    {"354 End data with <CR><LF>.<CR><LF>", 0, 354, "",
     "End data with <CR><LF>.<CR><LF>", 1},
    {"599 top of the range", 0, 599, "", "top of the range", 1},
    {"200 bottom of the range", 0, 200, "", "bottom of the range", 1},
    {"250  two spaces", 0, 250, "", " two spaces", 1},
    {"250-only continuation", MP_EAGAIN, 250, "", "only continuation", 1},
    /* Enhanced status codes (RFC 3463, RFC 2034). */
    {"421 4.3.2 Service not available", 0, 421, "4.3.2",
     "4.3.2 Service not available", 1},
    {"554 5.7.1 <x@example.test>: Relay access denied", 0, 554, "5.7.1",
     "5.7.1 <x@example.test>: Relay access denied", 1},
    {"235 2.7.0 Authentication successful", 0, 235, "2.7.0",
     "2.7.0 Authentication successful", 1},
    {"250-2.1.0 Ok\n250 2.1.0 Sender ok", 0, 250, "2.1.0",
     "2.1.0 Ok\n2.1.0 Sender ok", 2},
    {"550 5.1.1", 0, 550, "5.1.1", "5.1.1", 1},
    {"550 5.123.456 longest parts", 0, 550, "5.123.456",
     "5.123.456 longest parts", 1},
    {"250 5.7.1 class differs from the code", 0, 250, "",
     "5.7.1 class differs from the code", 1},
    {"550 5.1.1x", 0, 550, "", "5.1.1x", 1},
    {"550 5.1234.1 subject too long", 0, 550, "", "5.1234.1 subject too long",
     1},
    {"550 5..1 empty subject", 0, 550, "", "5..1 empty subject", 1},
    {"550 5.1. empty detail", 0, 550, "", "5.1. empty detail", 1},
    {"550 5.1 two parts", 0, 550, "", "5.1 two parts", 1},
    {"550 no enhanced code", 0, 550, "", "no enhanced code", 1},
    {"250-first line\n250 2.0.0 only on the second", 0, 250, "",
     "first line\n2.0.0 only on the second", 2},
    /* Bad codes. */
    {"199 x", MP_E_PROTOCOL_ERROR, 0, "", NULL, 0},
    {"100 continue", MP_E_PROTOCOL_ERROR, 0, "", NULL, 0},
    {"600 x", MP_E_PROTOCOL_ERROR, 0, "", NULL, 0},
    {"099 x", MP_E_PROTOCOL_ERROR, 0, "", NULL, 0},
    {"2x0 ok", MP_E_PROTOCOL_ERROR, 0, "", NULL, 0},
    {"25 ok", MP_E_PROTOCOL_ERROR, 0, "", NULL, 0},
    {"25", MP_E_PROTOCOL_ERROR, 0, "", NULL, 0},
    {"", MP_E_PROTOCOL_ERROR, 0, "", NULL, 0},
    {"abc", MP_E_PROTOCOL_ERROR, 0, "", NULL, 0},
    {"-250 x", MP_E_PROTOCOL_ERROR, 0, "", NULL, 0},
    {" 250 x", MP_E_PROTOCOL_ERROR, 0, "", NULL, 0},
    /* Bad separators. */
    {"2500 ok", MP_E_PROTOCOL_ERROR, 0, "", NULL, 0},
    {"250ok", MP_E_PROTOCOL_ERROR, 0, "", NULL, 0},
    {"250\tok", MP_E_PROTOCOL_ERROR, 0, "", NULL, 0},
    {"250_ok", MP_E_PROTOCOL_ERROR, 0, "", NULL, 0},
    {"250-a\n250+b", MP_E_PROTOCOL_ERROR, 250, "", "a", 1},
    /* Mixed codes. */
    {"250-a\n251 b", MP_E_PROTOCOL_ERROR, 250, "", "a", 1},
    {"250-a\n250-b\n550 c", MP_E_PROTOCOL_ERROR, 250, "", "a\nb", 2},
    {"250-a\n25", MP_E_PROTOCOL_ERROR, 250, "", "a", 1},
};

START_TEST(test_table)
{
  struct mp_smtp_reply r;
  const char *p = cases[_i].input, *nl;
  size_t len;
  int rc;

  mp_smtp_reply_init(&r);
  for (;;) {
    nl = strchr(p, '\n');
    len = nl != NULL ? (size_t)(nl - p) : strlen(p);
    rc = mp_smtp_reply_feed(&r, p, len);
    if (nl == NULL)
      break;
    ck_assert_int_eq(rc, MP_EAGAIN);
    ck_assert_int_eq(r.done, 0);
    p = nl + 1;
  }
  ck_assert_int_eq(rc, cases[_i].want);
  ck_assert_int_eq(r.done, cases[_i].want == 0);
  ck_assert_int_eq(r.code, cases[_i].code);
  ck_assert_str_eq(r.enhanced, cases[_i].enhanced);
  ck_assert_uint_eq(r.lines, cases[_i].lines);
  if (cases[_i].text == NULL) {
    ck_assert_uint_eq(r.text_len, 0);
  } else {
    ck_assert_ptr_nonnull(r.text);
    ck_assert_uint_eq(r.text_len, strlen(cases[_i].text));
    ck_assert_str_eq(r.text, cases[_i].text);
  }
  mp_smtp_reply_free(&r);
}
END_TEST

START_TEST(test_lines)
{
  struct mp_smtp_reply r;
  char buf[64];

  mp_smtp_reply_init(&r);
  ck_assert_int_eq(mp_smtp_reply_line(&r, 0, buf, sizeof buf), -1);
  ck_assert_int_eq(mp_smtp_reply_feed(&r, "250-mx.example.test", 19),
                   MP_EAGAIN);
  ck_assert_int_eq(mp_smtp_reply_feed(&r, "250-", 4), MP_EAGAIN);
  ck_assert_int_eq(mp_smtp_reply_feed(&r, "250-AUTH PLAIN\nLOGIN", 20),
                   MP_EAGAIN);
  ck_assert_int_eq(mp_smtp_reply_feed(&r, "250 8BITMIME", 12), 0);
  ck_assert_int_eq(mp_smtp_reply_line(&r, 0, buf, sizeof buf), 0);
  ck_assert_str_eq(buf, "mx.example.test");
  ck_assert_int_eq(mp_smtp_reply_line(&r, 1, buf, sizeof buf), 0);
  ck_assert_str_eq(buf, "");
  /* A '\n' inside a line does not shift the line index. */
  ck_assert_int_eq(mp_smtp_reply_line(&r, 2, buf, sizeof buf), 0);
  ck_assert_str_eq(buf, "AUTH PLAIN\nLOGIN");
  ck_assert_int_eq(mp_smtp_reply_line(&r, 3, buf, sizeof buf), 0);
  ck_assert_str_eq(buf, "8BITMIME");
  ck_assert_int_eq(mp_smtp_reply_line(&r, 4, buf, sizeof buf), -1);
  /* Cut to the buffer. */
  ck_assert_int_eq(mp_smtp_reply_line(&r, 0, buf, 6), 0);
  ck_assert_str_eq(buf, "mx.ex");
  ck_assert_int_eq(mp_smtp_reply_line(&r, 0, buf, 1), 0);
  ck_assert_str_eq(buf, "");
  ck_assert_int_eq(mp_smtp_reply_line(&r, 0, buf, 0), -1);
  mp_smtp_reply_free(&r);
}
END_TEST

START_TEST(test_bare_line)
{
  struct mp_smtp_reply r;
  char buf[8] = "junk";

  mp_smtp_reply_init(&r);
  ck_assert_int_eq(mp_smtp_reply_feed(&r, "221", 3), 0);
  ck_assert_int_eq(mp_smtp_reply_line(&r, 0, buf, sizeof buf), 0);
  ck_assert_str_eq(buf, "");
  mp_smtp_reply_free(&r);
}
END_TEST

START_TEST(test_nul_in_line)
{
  struct mp_smtp_reply r;
  char buf[16];

  mp_smtp_reply_init(&r);
  ck_assert_int_eq(mp_smtp_reply_feed(&r, "250-a\0b", 7), MP_EAGAIN);
  ck_assert_int_eq(mp_smtp_reply_feed(&r, "250 c\0", 6), 0);
  ck_assert_uint_eq(r.text_len, 6);
  ck_assert_mem_eq(r.text, "a\0b\nc\0", 6);
  ck_assert_int_eq(r.text[6], '\0');
  ck_assert_int_eq(mp_smtp_reply_line(&r, 1, buf, sizeof buf), 0);
  ck_assert_str_eq(buf, "c");
  /* A NUL where the code or the separator goes is no SMTP. */
  mp_smtp_reply_reset(&r);
  ck_assert_int_eq(mp_smtp_reply_feed(&r, "25\0 x", 5), MP_E_PROTOCOL_ERROR);
  ck_assert_int_eq(mp_smtp_reply_feed(&r, "250\0x", 5), MP_E_PROTOCOL_ERROR);
  mp_smtp_reply_free(&r);
}
END_TEST

START_TEST(test_too_many_lines)
{
  struct mp_smtp_reply r;
  int i;

  /* MP_SMTP_REPLY_MAX_LINES lines fit. */
  mp_smtp_reply_init(&r);
  for (i = 0; i < MP_SMTP_REPLY_MAX_LINES - 1; i++)
    ck_assert_int_eq(mp_smtp_reply_feed(&r, "250-x", 5), MP_EAGAIN);
  ck_assert_int_eq(mp_smtp_reply_feed(&r, "250 x", 5), 0);
  ck_assert_uint_eq(r.lines, MP_SMTP_REPLY_MAX_LINES);
  ck_assert_uint_eq(r.text_len, 2 * MP_SMTP_REPLY_MAX_LINES - 1);

  /* One more does not, whatever it says. */
  mp_smtp_reply_reset(&r);
  for (i = 0; i < MP_SMTP_REPLY_MAX_LINES; i++)
    ck_assert_int_eq(mp_smtp_reply_feed(&r, "250-x", 5), MP_EAGAIN);
  ck_assert_int_eq(mp_smtp_reply_feed(&r, "250 x", 5), MP_E_PROTOCOL_ERROR);
  ck_assert_int_eq(mp_smtp_reply_feed(&r, "250", 3), MP_E_PROTOCOL_ERROR);
  ck_assert_uint_eq(r.lines, MP_SMTP_REPLY_MAX_LINES);
  ck_assert_int_eq(r.done, 0);
  mp_smtp_reply_free(&r);
}
END_TEST

START_TEST(test_long_text)
{
  struct mp_smtp_reply r;
  size_t max = MP_SMTP_REPLY_MAX_TEXT;
  char *line = malloc(4 + max + 1);
  size_t half = max / 2;

  memcpy(line, "250 ", 4);
  memset(line + 4, 'x', max + 1);
  mp_smtp_reply_init(&r);
  /* Exactly the cap fits; one byte more does not. */
  ck_assert_int_eq(mp_smtp_reply_feed(&r, line, 4 + max), 0);
  ck_assert_uint_eq(r.text_len, max);
  ck_assert_uint_eq(strlen(r.text), max);
  mp_smtp_reply_reset(&r);
  ck_assert_int_eq(mp_smtp_reply_feed(&r, line, 4 + max + 1),
                   MP_E_PROTOCOL_ERROR);
  ck_assert_uint_eq(r.lines, 0);
  ck_assert_int_eq(r.code, 0);

  /* Across lines the joining '\n' counts too. */
  line[3] = '-';
  ck_assert_int_eq(mp_smtp_reply_feed(&r, line, 4 + half), MP_EAGAIN);
  line[3] = ' ';
  ck_assert_int_eq(mp_smtp_reply_feed(&r, line, 4 + max - half),
                   MP_E_PROTOCOL_ERROR);
  ck_assert_int_eq(mp_smtp_reply_feed(&r, line, 4 + max - half - 1), 0);
  ck_assert_uint_eq(r.text_len, max);
  ck_assert_uint_eq(r.lines, 2);
  free(line);
  mp_smtp_reply_free(&r);
}
END_TEST

START_TEST(test_reset_reuse)
{
  struct mp_smtp_reply r;

  mp_smtp_reply_init(&r);
  ck_assert_int_eq(r.code, 0);
  ck_assert_int_eq(r.done, 0);
  ck_assert_int_eq(mp_smtp_reply_feed(&r, "250-2.0.0 a", 11), MP_EAGAIN);
  ck_assert_int_eq(mp_smtp_reply_feed(&r, "250 2.0.0 b", 11), 0);
  ck_assert_str_eq(r.enhanced, "2.0.0");

  /* Reset clears everything the next reply must not inherit. */
  mp_smtp_reply_reset(&r);
  ck_assert_int_eq(r.code, 0);
  ck_assert_int_eq(r.done, 0);
  ck_assert_uint_eq(r.lines, 0);
  ck_assert_uint_eq(r.text_len, 0);
  ck_assert_str_eq(r.enhanced, "");
  ck_assert_str_eq(r.text, "");
  /* A different code is fine in a new reply. */
  ck_assert_int_eq(mp_smtp_reply_feed(&r, "354 go ahead", 12), 0);
  ck_assert_int_eq(r.code, 354);
  ck_assert_str_eq(r.text, "go ahead");

  /* Feeding a complete reply starts the next one. */
  ck_assert_int_eq(mp_smtp_reply_feed(&r, "221 bye", 7), 0);
  ck_assert_int_eq(r.code, 221);
  ck_assert_str_eq(r.text, "bye");
  ck_assert_uint_eq(r.lines, 1);

  /* Free leaves an empty reply that can be used again. */
  mp_smtp_reply_free(&r);
  ck_assert_ptr_null(r.text);
  ck_assert_int_eq(r.code, 0);
  ck_assert_int_eq(mp_smtp_reply_feed(&r, "550 5.1.1 no", 12), 0);
  ck_assert_str_eq(r.enhanced, "5.1.1");
  mp_smtp_reply_free(&r);
  /* Free twice is harmless. */
  mp_smtp_reply_free(&r);
}
END_TEST

/* A growing multi-line reply keeps its text intact across reallocations. */
START_TEST(test_growth)
{
  struct mp_smtp_reply r;
  char line[64], buf[64];
  int i;

  mp_smtp_reply_init(&r);
  for (i = 0; i < 100; i++) {
    snprintf(line, sizeof line, "250%cline %03d of a long EHLO answer",
             i == 99 ? ' ' : '-', i);
    ck_assert_int_eq(mp_smtp_reply_feed(&r, line, strlen(line)),
                     i == 99 ? 0 : MP_EAGAIN);
  }
  for (i = 0; i < 100; i++) {
    snprintf(line, sizeof line, "line %03d of a long EHLO answer", i);
    ck_assert_int_eq(mp_smtp_reply_line(&r, (size_t)i, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, line);
  }
  mp_smtp_reply_free(&r);
}
END_TEST

static Suite *smtp_reply_suite(void)
{
  Suite *s = suite_create("smtp_reply");
  TCase *tc = tcase_create("core");

  tcase_add_loop_test(tc, test_table, 0, N(cases));
  tcase_add_test(tc, test_lines);
  tcase_add_test(tc, test_bare_line);
  tcase_add_test(tc, test_nul_in_line);
  tcase_add_test(tc, test_too_many_lines);
  tcase_add_test(tc, test_long_text);
  tcase_add_test(tc, test_reset_reuse);
  tcase_add_test(tc, test_growth);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(smtp_reply_suite());
  int failed;

  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
