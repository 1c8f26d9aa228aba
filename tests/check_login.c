/* Tests for the login decision the probes share (probes/login.c): which
 * method comes next, and which error a login with none left ends in. */
#include "probes/login.h"

#include <check.h>
#include <stdlib.h>

#include "probes/probe.h"
#include "wire/errors.h"
#include "wire/sasl.h"

#define B(m) MP_LOGIN_BIT(m)
#define SASL(m) MP_SASL_BIT(MP_SASL_##m)
#define ALL (MP_SASL_ALL | MP_AUTH_SIMPLE)
/* Outside TLS with tls not none: no cleartext SASL, USER or LOGIN. */
#define NOT_CLEAR                                                              \
  (ALL & ~(SASL(PLAIN) | SASL(LOGIN) | MP_AUTH_USER | MP_AUTH_LOGIN_CMD))

static const struct {
  unsigned offered, allowed, tried;
  int want;
} choose_table[] = {
    {SASL(CRAM_MD5) | SASL(PLAIN), ALL, 0, MP_SASL_CRAM_MD5},
    {SASL(SCRAM_SHA_256) | SASL(SCRAM_SHA_1), ALL, 0, MP_SASL_SCRAM_SHA_256},
    /* APOP never shows the password: before the cleartext mechanisms. */
    {SASL(PLAIN) | SASL(LOGIN) | B(MP_LOGIN_APOP), ALL, 0, MP_LOGIN_APOP},
    {SASL(CRAM_MD5) | B(MP_LOGIN_APOP), ALL, 0, MP_SASL_CRAM_MD5},
    {SASL(PLAIN) | SASL(LOGIN), ALL, 0, MP_SASL_LOGIN},
    {SASL(PLAIN) | B(MP_LOGIN_USER), ALL, 0, MP_SASL_PLAIN},
    {B(MP_LOGIN_USER), ALL, 0, MP_LOGIN_USER},
    {SASL(PLAIN) | B(MP_LOGIN_CMD), ALL, SASL(PLAIN), MP_LOGIN_CMD},
    /* Tried, not allowed, not offered: skipped. */
    {SASL(CRAM_MD5) | SASL(PLAIN), ALL, SASL(CRAM_MD5), MP_SASL_PLAIN},
    {SASL(PLAIN) | B(MP_LOGIN_USER), NOT_CLEAR, 0, -1},
    {0, ALL, 0, -1},
    {SASL(CRAM_MD5), ALL, SASL(CRAM_MD5), -1},
};

START_TEST(test_choose)
{
  ck_assert_int_eq(mp_login_choose(choose_table[_i].offered,
                                   choose_table[_i].allowed,
                                   choose_table[_i].tried),
                   choose_table[_i].want);
}
END_TEST

static const struct mp_login_rules smtp_rules = {
    .refused = "refused",
    .failed = "failed",
    .none = "none",
    .none_mute = "mute",
    .tls_if_clear_only = 1,
};
#define METHOD (&mp_login_method_rules)
#define SMTP (&smtp_rules)

static const struct {
  const struct mp_login_rules *rules;
  unsigned offered, tried;
  int announced, tls_hint, refused, tls_asked;
  unsigned allowed;
  int in_tls;
  int want;
  const char *why; /* for the smtp rules; NULL: no sentence */
} verdict_table[] = {
    /* Refused for the credentials: whatever else was seen. */
    {SMTP, SASL(CRAM_MD5), SASL(CRAM_MD5), 1, 1, 1, 1, NOT_CLEAR, 0,
     MP_E_AUTH_FAILED, "refused"},
    /* A method refused until TLS (538, [PRIVACYREQUIRED], Dovecot's
     * "Plaintext authentication disallowed"). */
    {SMTP, SASL(CRAM_MD5), SASL(CRAM_MD5), 1, 0, 0, 1, ALL, 1,
     MP_E_AUTH_TLS_REQUIRED, NULL},
    /* Only cleartext offered outside TLS: TLS is the answer. */
    {SMTP, SASL(PLAIN), 0, 1, 0, 0, 0, NOT_CLEAR, 0, MP_E_AUTH_TLS_REQUIRED,
     NULL},
    /* SMTP: a usable mechanism was offered and failed: not a TLS matter. */
    {SMTP, SASL(CRAM_MD5) | SASL(PLAIN), SASL(CRAM_MD5), 1, 0, 0, 0, NOT_CLEAR,
     0, MP_E_AUTH_FAILED, "failed"},
    /* POP3, IMAP: anything offered outside TLS makes it one. */
    {METHOD, SASL(CRAM_MD5) | SASL(PLAIN), SASL(CRAM_MD5), 1, 0, 0, 0,
     NOT_CLEAR, 0, MP_E_AUTH_TLS_REQUIRED, NULL},
    {METHOD, B(MP_LOGIN_USER), B(MP_LOGIN_USER), 1, 0, 0, 0, ALL, 0,
     MP_E_AUTH_TLS_REQUIRED, NULL},
    /* Inside TLS a failure is a failure. */
    {METHOD, SASL(CRAM_MD5), SASL(CRAM_MD5), 1, 1, 0, 0, ALL, 1,
     MP_E_AUTH_FAILED, NULL},
    /* The capabilities say login waits for TLS (STARTTLS offered without
     * SMTP AUTH, STLS, LOGINDISABLED). */
    {SMTP, 0, 0, 0, 1, 0, 0, NOT_CLEAR, 0, MP_E_AUTH_TLS_REQUIRED, NULL},
    {METHOD, 0, 0, 1, 1, 0, 0, ALL, 1, MP_E_AUTH_UNSUPPORTED, NULL},
    /* Nothing in common. */
    {SMTP, 0, 0, 1, 0, 0, 0, ALL, 0, MP_E_AUTH_UNSUPPORTED, "none"},
    {SMTP, 0, 0, 0, 0, 0, 0, ALL, 0, MP_E_AUTH_UNSUPPORTED, "mute"},
    {SMTP, SASL(SCRAM_SHA_1), 0, 1, 0, 0, 0, SASL(CRAM_MD5), 1,
     MP_E_AUTH_UNSUPPORTED, "none"},
};

START_TEST(test_verdict)
{
  struct mp_login l = {.offered = verdict_table[_i].offered,
                       .tried = verdict_table[_i].tried,
                       .announced = verdict_table[_i].announced,
                       .tls_hint = verdict_table[_i].tls_hint,
                       .refused = verdict_table[_i].refused,
                       .tls_asked = verdict_table[_i].tls_asked};
  const char *why = "unset";
  int err =
      mp_login_verdict(&l, verdict_table[_i].rules, verdict_table[_i].allowed,
                       ALL, verdict_table[_i].in_tls, &why);
  ck_assert_msg(err == verdict_table[_i].want, "row %d: %s, want %s", _i,
                mp_err_name(err), mp_err_name(verdict_table[_i].want));
  if (err == MP_E_AUTH_TLS_REQUIRED)
    ck_assert_ptr_null(why);
  else
    ck_assert_ptr_nonnull(why);
  if (verdict_table[_i].rules == SMTP && verdict_table[_i].why)
    ck_assert_str_eq(why, verdict_table[_i].why);
}
END_TEST

START_TEST(test_names)
{
  ck_assert_str_eq(mp_login_name(MP_SASL_CRAM_MD5), "CRAM-MD5");
  ck_assert_str_eq(mp_login_name(MP_LOGIN_USER), "USER");
  ck_assert_str_eq(mp_login_name(MP_LOGIN_APOP), "APOP");
  ck_assert_str_eq(mp_login_name(MP_LOGIN_CMD), "LOGIN");
}
END_TEST

static Suite *login_suite(void)
{
  Suite *s = suite_create("login");
  TCase *tc = tcase_create("decision");
  tcase_add_loop_test(tc, test_choose, 0,
                      sizeof(choose_table) / sizeof(choose_table[0]));
  tcase_add_loop_test(tc, test_verdict, 0,
                      sizeof(verdict_table) / sizeof(verdict_table[0]));
  tcase_add_test(tc, test_names);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(login_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
