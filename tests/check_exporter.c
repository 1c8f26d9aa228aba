/* Unit tests for the exporter's pure parts: the exporter: section and
 * its errors (file:line:column), the allow list (CIDRs, globs), and the
 * Prometheus text of a probe (blackbox's names, the mail ones, stale
 * round trips) and of the exporter itself. */
#include "harness/exporter/exporter_config.h"

#include "harness/config/module.h"
#include "harness/exporter/metrics.h"
#include "probes/result.h"
#include "wire/errors.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static struct mp_exporter_config *parse(const char *yaml)
{
  struct mp_exporter_config *c = NULL;
  char err[512];
  int rc = mp_exporter_config_parse(yaml, strlen(yaml), "exp.yml", &c, err,
                                    sizeof err);
  ck_assert_msg(rc == 0, "%s", err);
  return c;
}

START_TEST(test_defaults_and_section)
{
  struct mp_exporter_config *c =
      parse("modules: {a: {type: smtp}}\n"
            "exporter:\n  max_in_flight: 50\n  max_in_flight_per_module: 60\n"
            "  scrape_timeout_margin: 1s\n");
  ck_assert_uint_eq(c->max_in_flight, 50);
  ck_assert_uint_eq(c->max_in_flight_module, 50); /* never above the cap */
  ck_assert_uint_eq(c->timeout_margin_ms, 1000);
  ck_assert_uint_eq(c->default_timeout_ms, 120000);
  ck_assert_uint_eq(c->nallow, 0);
  ck_assert_int_eq(mp_exporter_allowed(c, "anything.example"), 1);
  mp_exporter_config_ref(c);
  mp_exporter_config_unref(c);
  ck_assert_ptr_nonnull(mp_config_module(c->cfg, "a"));
  mp_exporter_config_unref(c);
}
END_TEST

static const struct {
  const char *host;
  int allowed;
} hosts[] = {
    {"127.0.0.1", 1},
    {"127.255.0.9", 1},
    {"128.0.0.1", 0},
    {"10.1.2.3", 1},
    {"10.1.3.3", 0},
    {"::1", 1},
    {"::2", 0},
    {"2001:db8::5", 1},
    {"2001:db9::5", 0},
    {"mx.example.com", 1},
    {"MX.Example.COM", 1},
    {"example.com", 0},
    {"a.b.example.com", 1},
    {"mx1.example.net", 1},
    {"mx10.example.net", 0},
    {"evil.com", 0},
    {"192.0.2.1", 1},
};

START_TEST(test_allow)
{
  struct mp_exporter_config *c = parse(
      "modules: {a: {type: smtp}}\n"
      "exporter:\n  allow: [127.0.0.0/8, 10.1.2.0/24, '::1', 2001:db8::/32,\n"
      "    '*.example.com', 'mx?.example.net', 192.0.2.1]\n");
  ck_assert_msg(mp_exporter_allowed(c, hosts[_i].host) == hosts[_i].allowed,
                "%s", hosts[_i].host);
  mp_exporter_config_unref(c);
}
END_TEST

static const struct {
  const char *yaml;
  const char *want;
} bad[] = {
    {"exporter: {}\n", "exp.yml:1:1: no modules"},
    {"modules: {a: {type: smtp}}\nexporter: {allow: [10.0.0.0/33]}\n",
     "exp.yml:2:20: allow entry '10.0.0.0/33'"},
    {"modules: {a: {type: smtp}}\nexporter: {allow: ['mx;rm']}\n",
     "exp.yml:2:20: allow entry"},
    {"modules: {a: {type: smtp}}\nexporter: {max_in_flight: 0}\n",
     "exp.yml:2:27:"},
    {"modules: {a: {type: smtp}}\nexporter: {max_inflight: 5}\n",
     "exp.yml:2:12: unknown key 'max_inflight' (did you mean 'max_in_flight'"},
    {"modules: {a: {type: smtp}}\nexporter: []\n", "exp.yml:2:11:"},
};

START_TEST(test_bad)
{
  struct mp_exporter_config *c = NULL;
  char err[512];
  ck_assert_int_lt(mp_exporter_config_parse(bad[_i].yaml, strlen(bad[_i].yaml),
                                            "exp.yml", &c, err, sizeof err),
                   0);
  ck_assert_ptr_null(c);
  ck_assert_msg(strstr(err, bad[_i].want) != NULL, "want '%s' in '%s'",
                bad[_i].want, err);
}
END_TEST

START_TEST(test_probe_metrics)
{
  struct mp_result *r = mp_result_new();
  struct mp_probe_meta m = {"rt", 1, 1, 42.5};
  char *t;

  r->ok = 0;
  r->err = MP_E_REJECTED;
  r->phase = MP_PHASE_BANNER;
  r->reply_code = 421;
  r->total_us = 1500000;
  r->timings_us[MP_PHASE_RESOLVE] = 1000;
  r->timings_us[MP_PHASE_BANNER] = 2000;
  strcpy(r->address, "[::1]:25");
  r->tls_used = 1;
  strcpy(r->tls.version, "TLSv1.3");
  strcpy(r->tls.cipher, "TLS_AES_256_GCM_SHA384");
  r->tls.earliest_expiry = 1800000000;
  r->auth = "CRAM-MD5";
  r->delivery_us = 250000;
  t = mp_exporter_probe_metrics(r, &m);
  ck_assert_ptr_nonnull(t);
  ck_assert_ptr_nonnull(strstr(t, "\nprobe_success 0\n"));
  ck_assert_ptr_nonnull(strstr(t, "\nprobe_duration_seconds 1.500000\n"));
  ck_assert_ptr_nonnull(
      strstr(t, "\nprobe_dns_lookup_time_seconds 0.001000\n"));
  ck_assert_ptr_nonnull(strstr(t, "\nprobe_ip_protocol 6\n"));
  ck_assert_ptr_nonnull(
      strstr(t, "\nprobe_ssl_earliest_cert_expiry 1800000000\n"));
  ck_assert_ptr_nonnull(
      strstr(t, "\nprobe_tls_version_info{version=\"TLS 1.3\"} 1\n"));
  ck_assert_ptr_nonnull(strstr(
      t, "\nprobe_tls_cipher_info{cipher=\"TLS_AES_256_GCM_SHA384\"} 1\n"));
  ck_assert_ptr_nonnull(strstr(
      t, "\nprobe_mail_phase_duration_seconds{phase=\"banner\"} 0.002000\n"));
  ck_assert_ptr_null(strstr(t, "phase=\"connect\"")); /* did not run */
  ck_assert_ptr_nonnull(strstr(
      t, "\nprobe_mail_result_info{phase=\"banner\",error=\"rejected\"} 1\n"));
  ck_assert_ptr_nonnull(strstr(t, "\nprobe_mail_reply_code 421\n"));
  ck_assert_ptr_nonnull(
      strstr(t, "\nprobe_mail_login_info{mechanism=\"CRAM-MD5\"} 1\n"));
  ck_assert_ptr_nonnull(strstr(t, "\nprobe_mail_delivery_seconds 0.250000\n"));
  ck_assert_ptr_nonnull(strstr(t, "\nprobe_mail_result_stale 1\n"));
  ck_assert_ptr_nonnull(
      strstr(t, "\nprobe_mail_result_age_seconds 42.500000\n"));
  free(t);
  /* Not a round trip: no stale gauge; a success says error="none". */
  r->ok = 1;
  r->err = 0;
  r->phase = MP_PHASE_QUIT;
  m.roundtrip = 0;
  t = mp_exporter_probe_metrics(r, &m);
  ck_assert_ptr_null(strstr(t, "probe_mail_result_stale"));
  ck_assert_ptr_nonnull(strstr(t, "error=\"none\"} 1"));
  free(t);
  mp_result_free(r);
}
END_TEST

START_TEST(test_self_metrics)
{
  struct mp_exporter_stats s;
  char *t;
  memset(&s, 0, sizeof s);
  mp_exporter_stats_count(&s, "smtp", 1, 0.07);
  mp_exporter_stats_count(&s, "smtp", 0, 700);
  mp_exporter_stats_count(&s, "smtp \"x\"", 1, 1);
  s.last_reload_ok = 0;
  s.rejected_forbidden = 3;
  s.start_time = 1700000000.25;
  t = mp_exporter_self_metrics(&s);
  ck_assert_ptr_nonnull(t);
  ck_assert_ptr_nonnull(strstr(
      t, "mailprobe_exporter_probes_total{module=\"smtp\",result=\"success\"} "
         "1\n"));
  ck_assert_ptr_nonnull(strstr(
      t, "mailprobe_exporter_probe_duration_seconds_bucket{module=\"smtp\","
         "le=\"0.05\"} 0\n"));
  ck_assert_ptr_nonnull(strstr(
      t, "mailprobe_exporter_probe_duration_seconds_bucket{module=\"smtp\","
         "le=\"0.1\"} 1\n"));
  ck_assert_ptr_nonnull(strstr(
      t, "mailprobe_exporter_probe_duration_seconds_bucket{module=\"smtp\","
         "le=\"600\"} 1\n"));
  ck_assert_ptr_nonnull(strstr(
      t, "mailprobe_exporter_probe_duration_seconds_bucket{module=\"smtp\","
         "le=\"+Inf\"} 2\n"));
  ck_assert_ptr_nonnull(strstr(t, "module=\"smtp \\\"x\\\"\""));
  ck_assert_ptr_nonnull(
      strstr(t, "\nmailprobe_exporter_config_last_reload_successful 0\n"));
  ck_assert_ptr_nonnull(strstr(
      t, "mailprobe_exporter_rejected_requests_total{reason=\"forbidden\"} "
         "3\n"));
  ck_assert_ptr_nonnull(
      strstr(t, "\nprocess_start_time_seconds 1700000000.250000\n"));
  ck_assert_ptr_nonnull(strstr(t, "\nprocess_resident_memory_bytes "));
  free(t);
  mp_exporter_stats_free(&s);
}
END_TEST

static Suite *exporter_suite(void)
{
  Suite *s = suite_create("exporter");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_defaults_and_section);
  tcase_add_loop_test(tc, test_allow, 0, N(hosts));
  tcase_add_loop_test(tc, test_bad, 0, N(bad));
  tcase_add_test(tc, test_probe_metrics);
  tcase_add_test(tc, test_self_metrics);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(exporter_suite());
  int failed;
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
