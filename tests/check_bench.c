/* mailprobe bench's engine: the histogram (table), workload names, and
 * short runs that check behaviour (counts, errors, what was sampled),
 * never timing: benchmarks report, tests assert behaviour. */
#include "harness/bench/bench.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wire/errors.h"

struct quantile_case {
  uint64_t values[8];
  size_t n;
  double q;
  uint64_t want;
};

static const struct quantile_case quantile_cases[] = {
    {{0}, 0, 0.5, 0},          /* empty */
    {{7}, 1, 0.5, 7},          /* one small value, exact */
    {{1, 2, 3, 4}, 4, 0.5, 2}, /* below 64: exact buckets */
    {{1, 2, 3, 4}, 4, 1.0, 4},
    {{1, 2, 3, 4}, 4, 0.0, 1},
    {{10, 20, 30, 40, 50}, 5, 0.9, 50},
    {{1000}, 1, 0.99, 1000},         /* capped at the max seen */
    {{1000, 1000000}, 2, 0.5, 1007}, /* upper edge of 1000's bucket */
    {{1000, 1000000}, 2, 1.0, 1000000},
    {{64, 65, 127, 128}, 4, 0.75, 127}, /* 64..127: one per value */
};

START_TEST(test_quantiles)
{
  const struct quantile_case *c = &quantile_cases[_i];
  struct mp_bench_hist *h = calloc(1, sizeof(*h));
  ck_assert_ptr_nonnull(h);
  for (size_t i = 0; i < c->n; i++)
    mp_bench_hist_add(h, c->values[i]);
  ck_assert_uint_eq(h->n, c->n);
  ck_assert_uint_eq(mp_bench_hist_quantile(h, c->q), c->want);
  free(h);
}
END_TEST

/* Within 1/64 of the value for the whole range, never below it. */
START_TEST(test_precision)
{
  for (uint64_t v = 1; v < (1ull << 44); v = v * 3 + 1) {
    struct mp_bench_hist *h = calloc(1, sizeof(*h));
    ck_assert_ptr_nonnull(h);
    mp_bench_hist_add(h, v);
    mp_bench_hist_add(h, v + 1); /* so the max does not cap the answer */
    mp_bench_hist_add(h, (1ull << 45));
    uint64_t got = mp_bench_hist_quantile(h, 0.3);
    ck_assert_uint_ge(got, v);
    ck_assert_uint_le(got - v, v / 64 + 1);
    free(h);
  }
}
END_TEST

START_TEST(test_names)
{
  for (int w = 0; w < MP_BENCH_WORKLOAD_COUNT; w++)
    ck_assert_int_eq(mp_bench_workload_from_name(
                         mp_bench_workload_name((enum mp_bench_workload)w)),
                     w);
  ck_assert_int_eq(mp_bench_workload_from_name("SMTP"), MP_BENCH_SMTP);
  ck_assert_int_eq(mp_bench_workload_from_name("nope"), -1);
  ck_assert_str_eq(mp_bench_workload_name(MP_BENCH_WORKLOAD_COUNT), "unknown");
}
END_TEST

static struct mp_bench_report *run(const struct mp_bench_opts *o, int want_rc)
{
  struct mp_bench_report *rep = calloc(1, sizeof(*rep));
  char err[256] = "";
  ck_assert_ptr_nonnull(rep);
  int rc = mp_bench_run(o, rep, err, sizeof(err));
  ck_assert_msg(rc == want_rc, "mp_bench_run: %d (%s)", rc, err);
  if (rc < 0)
    ck_assert_msg(err[0] != '\0', "an error says why");
  return rep;
}

START_TEST(test_smtp_counts)
{
  struct mp_bench_opts o = {.workload = MP_BENCH_SMTP,
                            .probes = 20,
                            .concurrency = 4,
                            .timeout_ms = 5000};
  struct mp_bench_report *r = run(&o, 0);
  ck_assert_str_eq(r->workload, "smtp");
  ck_assert_uint_eq(r->started, 20);
  ck_assert_uint_eq(r->done, 20);
  ck_assert_uint_eq(r->ok, 20);
  ck_assert_uint_eq(r->failed, 0);
  ck_assert_uint_le(r->max_in_flight, 4);
  ck_assert_uint_eq(r->in_flight, 0);
  ck_assert_uint_eq(r->total.n, 20);
  ck_assert_uint_eq(r->phase[MP_PHASE_CONNECT].n, 20);
  ck_assert_uint_eq(r->phase[MP_PHASE_BANNER].n, 20);
  ck_assert_uint_eq(r->phase[MP_PHASE_EHLO].n, 20);
  ck_assert_uint_eq(r->phase[MP_PHASE_QUIT].n, 20);
  ck_assert_uint_eq(r->phase[MP_PHASE_TLS].n, 0);
  ck_assert_uint_eq(r->late_n, 0);
  ck_assert_int_eq(r->servers_in_process, 1);
  ck_assert_uint_ge(r->fd_limit, 64);
  free(r);
}
END_TEST

START_TEST(test_starttls_auth)
{
  struct mp_bench_opts o = {.workload = MP_BENCH_STARTTLS,
                            .probes = 6,
                            .concurrency = 3,
                            .rsa = _i,
                            .timeout_ms = 10000};
  struct mp_bench_report *r = run(&o, 0);
  ck_assert_uint_eq(r->ok, 6);
  ck_assert_uint_eq(r->phase[MP_PHASE_STARTTLS].n, 6);
  ck_assert_uint_eq(r->phase[MP_PHASE_AUTH].n, 6);
  ck_assert_str_eq(r->tls_version, "TLSv1.3");
  ck_assert_str_ne(r->auth, "");
  ck_assert_str_eq(r->cert, _i ? "rsa-2048" : "ecdsa-p256");
  free(r);
}
END_TEST

/* POP3 logs in as one user per slot: concurrent logins do not lock each
 * other out. */
START_TEST(test_pop3_logins)
{
  struct mp_bench_opts o = {.workload = MP_BENCH_POP3,
                            .probes = 24,
                            .concurrency = 8,
                            .timeout_ms = 5000};
  struct mp_bench_report *r = run(&o, 0);
  ck_assert_msg(r->ok == 24, "ok %llu: %s", (unsigned long long)r->ok,
                r->first_error);
  ck_assert_uint_eq(r->phase[MP_PHASE_AUTH].n, 24);
  free(r);
}
END_TEST

/* Every probe of the slow workload times out; each is measured for
 * lateness, none before its deadline, and the memory of all of them in
 * flight is sampled. */
START_TEST(test_slow_all_time_out)
{
  struct mp_bench_opts o = {.workload = MP_BENCH_SLOW,
                            .concurrency = 8,
                            .timeout_ms = 300,
                            .servers = (enum mp_bench_servers)_i};
  struct mp_bench_report *r = run(&o, 0);
  ck_assert_uint_eq(r->done, 8);
  ck_assert_uint_eq(r->max_in_flight, 8);
  ck_assert_uint_eq(r->errors[-MP_E_TIMEOUT - 100], 8);
  ck_assert_uint_eq(r->late_n, 8);
  ck_assert_uint_eq(r->early_n, 0);
  ck_assert_uint_eq(r->late.n, 8);
  ck_assert_uint_eq(r->phase[MP_PHASE_BANNER].n, 8);
  ck_assert_uint_eq(r->rss_full_n, 8);
  ck_assert_uint_ge(r->rss_full_kib, r->rss_base_kib);
  ck_assert_int_eq(r->servers_in_process, _i == MP_BENCH_SERVERS_THREAD);
  free(r);
}
END_TEST

START_TEST(test_case_file)
{
  static const char text[] = "name: bench case\n"
                             "servers:\n"
                             "  mx:\n"
                             "    protocol: smtp\n"
                             "probe:\n"
                             "  type: smtp\n"
                             "  server: mx\n"
                             "expect:\n"
                             "  status: ok\n";
  char path[] = "/tmp/check_bench_XXXXXX.yaml";
  int fd = mkstemps(path, 5);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, text, sizeof(text) - 1), (int)sizeof(text) - 1);
  close(fd);
  struct mp_bench_opts o = {.workload = MP_BENCH_CASE,
                            .case_file = path,
                            .probes = 5,
                            .concurrency = 2};
  struct mp_bench_report *r = run(&o, 0);
  unlink(path);
  ck_assert_str_eq(r->workload, "bench case");
  ck_assert_uint_eq(r->ok, 5);
  free(r);
}
END_TEST

START_TEST(test_bad_options)
{
  struct mp_bench_opts o = {.workload = MP_BENCH_SLOW,
                            .target = "127.0.0.1:25"};
  free(run(&o, -1)); /* --target is not for the slow workload */
  struct mp_bench_opts big = {
      .workload = MP_BENCH_SMTP, .concurrency = 100000000, .probes = 1};
  free(run(&big, -1)); /* more than the descriptors allow */
  struct mp_bench_opts missing = {.workload = MP_BENCH_CASE,
                                  .case_file = "/nonexistent/case.yaml"};
  free(run(&missing, -1));
}
END_TEST

static Suite *bench_suite(void)
{
  Suite *s = suite_create("bench");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 60);
  tcase_add_loop_test(tc, test_quantiles, 0,
                      sizeof(quantile_cases) / sizeof(quantile_cases[0]));
  tcase_add_test(tc, test_precision);
  tcase_add_test(tc, test_names);
  tcase_add_test(tc, test_smtp_counts);
  tcase_add_loop_test(tc, test_starttls_auth, 0, 2);
  tcase_add_test(tc, test_pop3_logins);
  tcase_add_loop_test(tc, test_slow_all_time_out, MP_BENCH_SERVERS_THREAD,
                      MP_BENCH_SERVERS_PROCESS + 1);
  tcase_add_test(tc, test_case_file);
  tcase_add_test(tc, test_bad_options);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(bench_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
