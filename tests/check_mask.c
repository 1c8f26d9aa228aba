/* Tests for the credential masker (probes/mask.c): one table of lines a
 * client sends, as the probes' transcripts and the harness's reports show
 * them. */
#include "probes/mask.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static const struct {
  const char *line;
  int response; /* an answer to a SASL challenge */
  const char *shown;
} mask_table[] = {
    /* SMTP (RFC 4954) and POP3 (RFC 5034) AUTH: the mechanism stays. */
    {"AUTH PLAIN AHByb2JlAHMzY3JldA==", 0, "AUTH PLAIN ****"},
    {"auth plain AHByb2JlAHMzY3JldA==", 0, "auth plain ****"},
    {"AUTH CRAM-MD5", 0, "AUTH CRAM-MD5"},
    {"AUTH LOGIN", 0, "AUTH LOGIN"},
    {"AUTH", 0, "AUTH"},
    /* IMAP AUTHENTICATE (RFC 9051 6.2.2, SASL-IR RFC 4959). */
    {"A3 AUTHENTICATE PLAIN AHByb2JlAHMzY3JldA==", 0,
     "A3 AUTHENTICATE PLAIN ****"},
    {"A3 AUTHENTICATE SCRAM-SHA-256", 0, "A3 AUTHENTICATE SCRAM-SHA-256"},
    /* POP3 USER/PASS and APOP (RFC 1939 7). */
    {"USER probe@example.test", 0, "USER probe@example.test"},
    {"PASS s3cret", 0, "PASS ****"},
    {"PASS two words", 0, "PASS ****"},
    {"PASS ", 0, "PASS ****"},
    {"PASS", 0, "PASS"},
    {"APOP probe@example.test c4c9334bac560ecc979e58001b3e22fb", 0,
     "APOP probe@example.test ****"},
    {"APOP two words c4c9334bac560ecc979e58001b3e22fb", 0,
     "APOP two words ****"},
    {"APOP probe c4c9334bac560ecc979e58001b3e22fb ", 0, "APOP probe ****"},
    {"APOP probe", 0, "APOP probe"},
    /* IMAP LOGIN (RFC 9051 6.2.3): the user stays, quoted or not. */
    {"A2 LOGIN \"probe@example.test\" \"s3cret\"", 0,
     "A2 LOGIN \"probe@example.test\" ****"},
    {"A2 LOGIN \"a \\\"b\\\" c\" \"s3 cret\"", 0,
     "A2 LOGIN \"a \\\"b\\\" c\" ****"},
    {"a1 login probe s3cret", 0, "a1 login probe ****"},
    {"A2 LOGIN probe", 0, "A2 LOGIN probe"},
    /* A tag is skipped only before a login verb. */
    {"A1 CAPABILITY", 0, "A1 CAPABILITY"},
    {"A4 SELECT INBOX", 0, "A4 SELECT INBOX"},
    {"A5 UID SEARCH HEADER X-Mailprobe-Token \"mailprobe.rt.\"", 0,
     "A5 UID SEARCH HEADER X-Mailprobe-Token \"mailprobe.rt.\""},
    /* Bare base64 is a SASL response; command words are not. */
    {"cHJvYmU=", 0, "****"},
    {"QUIT", 0, "QUIT"},
    {"STARTTLS", 0, "STARTTLS"},
    {"Pass", 0, "Pass"}, /* a login verb without arguments */
    {"abc", 0, "abc"},
    {"*", 0, "*"},
    {"EHLO mailprobe.invalid", 0, "EHLO mailprobe.invalid"},
    {"MAIL FROM:<probe@example.test>", 0, "MAIL FROM:<probe@example.test>"},
    /* An answer to a challenge is secret whatever it looks like. */
    {"QUJD", 1, "****"},
    {"", 1, "****"},
    {"PASS x", 1, "****"},
};

START_TEST(test_mask_table)
{
  char out[256];
  size_t n = mp_mask_line(mask_table[_i].line, mask_table[_i].response, out,
                          sizeof(out));
  ck_assert_str_eq(out, mask_table[_i].shown);
  ck_assert_uint_eq(n, strlen(mask_table[_i].shown));
}
END_TEST

/* A small buffer cuts the line and says how long it would be. */
START_TEST(test_mask_cut)
{
  char out[8];
  size_t n =
      mp_mask_line("AUTH PLAIN AHByb2JlAHMzY3JldA==", 0, out, sizeof(out));
  ck_assert_str_eq(out, "AUTH PL");
  ck_assert_uint_eq(n, strlen("AUTH PLAIN ****"));
}
END_TEST

static Suite *mask_suite(void)
{
  Suite *s = suite_create("mask");
  TCase *tc = tcase_create("lines");
  tcase_add_loop_test(tc, test_mask_table, 0,
                      sizeof(mask_table) / sizeof(mask_table[0]));
  tcase_add_test(tc, test_mask_cut);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(mask_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
