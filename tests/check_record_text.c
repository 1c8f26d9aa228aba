/* The recorder's pure parts: YAML text that reads back as the same bytes,
 * the scrubber (secrets and --anonymize), certificates like a recorded
 * one, and the transcript reader's formats and errors. */
#include "harness/record/record_text.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness/record/import.h"
#include "harness/record/record.h"
#include "wire/cert_like.h"

static char *scrub(const struct mp_rec_scrub *sc, const char *s)
{
  char *out = mp_rec_scrub_apply(sc, s, strlen(s), NULL);
  ck_assert_ptr_nonnull(out);
  return out;
}

START_TEST(test_is_text)
{
  ck_assert(mp_rec_is_text("220 mx ESMTP", 12));
  ck_assert(mp_rec_is_text("caf\xc3\xa9", 5));
  ck_assert(!mp_rec_is_text("caf\xe9", 4));          /* Latin-1 */
  ck_assert(!mp_rec_is_text("a\0b", 3));             /* NUL */
  ck_assert(!mp_rec_is_text("a\rb", 3));             /* bare CR */
  ck_assert(!mp_rec_is_text("\xc0\xaf", 2));         /* overlong */
  ck_assert(!mp_rec_is_text("\xed\xa0\x80", 3));     /* a surrogate */
  ck_assert(!mp_rec_is_text("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
}
END_TEST

START_TEST(test_yaml_str)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  mp_rec_yaml_str(f, "a\"b\\c\td\x01", 8);
  fputc(' ', f);
  mp_rec_yaml_hex(f, "\xff\r\n", 3);
  fclose(f);
  ck_assert_str_eq(buf, "\"a\\\"b\\\\c\\td\\x01\" \"ff 0d 0a\"");
  free(buf);
}
END_TEST

START_TEST(test_secret_forms)
{
  struct mp_rec_scrub sc = {0};
  ck_assert_int_eq(mp_rec_scrub_secret(&sc, "s3cret!"), 0);
  /* clear, base64 (padded and not), hex in both cases */
  char *a = scrub(&sc, "PASS s3cret! czNjcmV0IQ== czNjcmV0IQ 73336372657421 "
                       "73336372657421 7333637265742100");
  ck_assert_ptr_null(strstr(a, "s3cret"));
  ck_assert_ptr_null(strstr(a, "czNjcmV0IQ"));
  ck_assert_ptr_null(strstr(a, "73336372657421"));
  free(a);
  char *b = scrub(&sc, "X 73336372657421 7333637265742100");
  ck_assert_ptr_null(strcasestr(b, "73336372657421"));
  free(b);
  mp_rec_scrub_free(&sc);
}
END_TEST

START_TEST(test_anonymize)
{
  struct mp_rec_scrub sc = {0};
  const char *l1 = "250-mail.customer-corp.com Hello [198.51.100.7]";
  const char *l2 = "220 mail.customer-corp.com ESMTP; mx.example.test; 5.7.8";
  ck_assert_int_eq(mp_rec_scrub_learn(&sc, l1, strlen(l1)), 0);
  ck_assert_int_eq(mp_rec_scrub_learn(&sc, l2, strlen(l2)), 0);
  char *a = scrub(&sc, l1), *b = scrub(&sc, l2);
  ck_assert_str_eq(a, "250-host1.example.net Hello [192.0.2.2]");
  /* the same name the same way; ours and status codes left alone */
  ck_assert_str_eq(b, "220 host1.example.net ESMTP; mx.example.test; 5.7.8");
  free(a);
  free(b);
  mp_rec_scrub_free(&sc);
}
END_TEST

START_TEST(test_cert_like)
{
  struct mp_ca *ca = mp_ca_new("mailprobe test CA", MP_KEY_EC_P256);
  ck_assert_ptr_nonnull(ca);
  struct mp_cert_facts f = {0}, g;
  strcpy(f.subject[0], "CN=mail.customer.example");
  strcpy(f.subject[1], "O=Customer");
  f.nsubject = 2;
  strcpy(f.issuer[0], "O=Let's Encrypt");
  strcpy(f.issuer[1], "CN=R3");
  f.nissuer = 2;
  strcpy(f.sans[0], "DNS:mail.customer.example");
  strcpy(f.sans[1], "IP:192.0.2.7");
  f.nsans = 2;
  ck_assert_int_eq(mp_cert_time_parse("2020-01-01T00:00:00Z", &f.not_before),
                   0);
  ck_assert_int_eq(mp_cert_time_parse("2020-04-01T12:30:00Z", &f.not_after), 0);
  f.rsa = 1;
  char *cert = NULL, *key = NULL;
  ck_assert_int_eq(mp_cert_issue_like(ca, &f, &cert, &key), 0);
  /* the leaf, then the intermediate named like the issuer */
  ck_assert_ptr_nonnull(
      strstr(strstr(cert, "END CERTIFICATE") + 1, "BEGIN CERTIFICATE"));
  ck_assert_int_eq(mp_cert_facts_read(cert, 2, &g), 0);
  ck_assert_uint_eq(g.nsubject, 2);
  ck_assert_str_eq(g.subject[0], "CN=mail.customer.example");
  ck_assert_str_eq(g.subject[1], "O=Customer");
  ck_assert_uint_eq(g.nissuer, 2);
  ck_assert_str_eq(g.issuer[1], "CN=R3");
  ck_assert_uint_eq(g.nsans, 2);
  ck_assert_str_eq(g.sans[1], "IP:192.0.2.7");
  ck_assert(g.not_before == f.not_before && g.not_after == f.not_after);
  ck_assert(g.rsa && !g.self_signed);
  char t[32];
  mp_cert_time_format(g.not_after, t, sizeof(t));
  ck_assert_str_eq(t, "2020-04-01T12:30:00Z");
  free(cert);
  free(key);
  /* self-signed: its own name as issuer, its own signature */
  f.self_signed = 1;
  f.rsa = 0;
  ck_assert_int_eq(mp_cert_issue_like(ca, &f, &cert, &key), 0);
  ck_assert_int_eq(mp_cert_facts_read(cert, 1, &g), 0);
  ck_assert(g.self_signed && !g.rsa);
  ck_assert_str_eq(g.issuer[0], "CN=mail.customer.example");
  free(cert);
  free(key);
  ck_assert_int_eq(mp_cert_time_parse("2020-13-01T00:00:00Z", &f.not_after),
                   -1);
  ck_assert_int_eq(mp_cert_time_parse("2020-01-01 00:00:00", &f.not_after), -1);
  mp_ca_free(ca);
}
END_TEST

START_TEST(test_import_unknown_format)
{
  struct mp_rec *r = mp_rec_new();
  char err[256];
  const char *t = "\n  \nhello\n<-  220 x\n";
  ck_assert_int_eq(
      mp_rec_import_text(r, "t.txt", t, strlen(t), err, sizeof(err)), -1);
  ck_assert_ptr_nonnull(strstr(err, "t.txt:3:"));
  mp_rec_free(r);
  r = mp_rec_new();
  /* a mailprobe trace with a line it cannot hold */
  const char *u = "S: 220 x\nC: EHLO y\nnonsense here\n";
  ck_assert_int_eq(
      mp_rec_import_text(r, "u.txt", u, strlen(u), err, sizeof(err)), -1);
  ck_assert_ptr_nonnull(strstr(err, "u.txt:3:"));
  mp_rec_free(r);
}
END_TEST

START_TEST(test_import_swaks_learns_and_masks)
{
  struct mp_rec *r = mp_rec_new();
  char err[256];
  /* AUTH PLAIN of "\0u@example.test\0pw-1234" */
  const char *t = "=== Trying 192.0.2.1:587...\n"
                  "=== Connected to 192.0.2.1.\n"
                  "<-  220 mx ESMTP\n"
                  " -> EHLO c\n"
                  "<-  250-mx\n"
                  "<-  250 AUTH PLAIN\n"
                  " -> AUTH PLAIN AHVAZXhhbXBsZS50ZXN0AHB3LTEyMzQ=\n"
                  "<** 535 5.7.8 no\n"
                  " -> QUIT\n"
                  "<-  221 bye\n"
                  "=== Connection closed with remote host.\n";
  ck_assert_int_eq(
      mp_rec_import_text(r, "s.txt", t, strlen(t), err, sizeof(err)), 0);
  ck_assert_int_eq(r->proto, MP_PROTO_SMTP);
  ck_assert_int_eq(r->tls, MP_TLSMODE_NONE);
  ck_assert_str_eq(r->host, "192.0.2.1");
  ck_assert_uint_eq(r->port, 587);
  ck_assert_str_eq(r->user, "u@example.test");
  ck_assert_str_eq(r->password, "pw-1234");
  ck_assert_ptr_null(r->s[0].auth); /* refused */
  for (size_t i = 0; i < r->s[0].nev; i++)
    if (r->s[0].ev[i].data)
      ck_assert_ptr_null(strstr(r->s[0].ev[i].data, "AHVAZXhh"));
  mp_rec_free(r);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("record_text");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_is_text);
  tcase_add_test(tc, test_yaml_str);
  tcase_add_test(tc, test_secret_forms);
  tcase_add_test(tc, test_anonymize);
  tcase_add_test(tc, test_cert_like);
  tcase_add_test(tc, test_import_unknown_format);
  tcase_add_test(tc, test_import_swaks_learns_and_masks);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
