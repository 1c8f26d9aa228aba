/* Unit tests for probes/monitor.c: the ipMonitor states, alerts every N
 * failures, Lost after the most alerts, recovery notices, intervals. */
#include "probes/monitor.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* A run of test results ('+' pass, '-' fail) and what must come out after
 * each: the state letter (u w d l) and the event (. a r). */
static const struct {
  unsigned per_alert, max_alerts;
  const char *results, *states, *events;
} runs[] = {
    /* The default: three failures per alert, no limit. */
    {0, 0, "+---+", "uwwdu", "...ar"},
    {0, 0, "--+", "wwu", "..."}, /* no alert, so no recovery */
    {0, 0, "------", "wwdddd", "..a..a"},
    /* One alert allowed: Lost at once, silent, but recovery is sent. */
    {3, 1, "-------+", "wwlllllu", "..a....r"},
    /* Alert on every failure, two alerts before Lost. */
    {1, 2, "---+-", "dllud", "aa.ra"},
    {2, 0, "-+-", "wuw", "..."},
};

START_TEST(test_runs)
{
  struct mp_monitor_cfg cfg = {{0}, runs[_i].per_alert, runs[_i].max_alerts};
  struct mp_monitor m;
  mp_monitor_init(&m, &cfg);
  const char *r = runs[_i].results;
  for (size_t k = 0; r[k]; k++) {
    enum mp_mon_event ev = mp_monitor_record(&m, r[k] == '+');
    char st = "uwdl"[m.state];
    char e = ".ar"[ev];
    ck_assert_msg(st == runs[_i].states[k] && e == runs[_i].events[k],
                  "run %d step %zu: got %c%c, want %c%c", _i, k, st, e,
                  runs[_i].states[k], runs[_i].events[k]);
  }
}
END_TEST

START_TEST(test_defaults_and_intervals)
{
  struct mp_monitor m;
  mp_monitor_init(&m, NULL);
  ck_assert_uint_eq(m.cfg.failures_per_alert, 3);
  ck_assert_uint_eq(mp_monitor_next_ms(&m), 300000);
  struct mp_monitor_cfg cfg = {{10, 20, 30, 40}, 1, 2};
  mp_monitor_init(&m, &cfg);
  ck_assert_uint_eq(mp_monitor_next_ms(&m), 10);
  mp_monitor_record(&m, 0);
  ck_assert_uint_eq(mp_monitor_next_ms(&m), 30); /* Down */
  mp_monitor_record(&m, 0);
  ck_assert_uint_eq(mp_monitor_next_ms(&m), 40); /* Lost */
  mp_monitor_record(&m, 1);
  ck_assert_uint_eq(mp_monitor_next_ms(&m), 10);
}
END_TEST

/* --interval alone sets every state's interval: a failing server asked to
 * be tested every second is not tested every minute. */
START_TEST(test_interval_for_every_state)
{
  struct mp_monitor m;
  struct mp_monitor_cfg cfg = {{1000, 0, 0, 0}, 2, 2};
  mp_monitor_init(&m, &cfg);
  ck_assert_uint_eq(mp_monitor_next_ms(&m), 1000);
  mp_monitor_record(&m, 0);
  ck_assert_int_eq(m.state, MP_MON_WARN);
  ck_assert_uint_eq(mp_monitor_next_ms(&m), 1000);
  mp_monitor_record(&m, 0);
  ck_assert_int_eq(m.state, MP_MON_DOWN);
  ck_assert_uint_eq(mp_monitor_next_ms(&m), 1000);
  /* A state's own interval still wins. */
  struct mp_monitor_cfg own = {{1000, 0, 500, 0}, 1, 0};
  mp_monitor_init(&m, &own);
  mp_monitor_record(&m, 0);
  ck_assert_uint_eq(mp_monitor_next_ms(&m), 500);
  /* Nothing given: 300 s Up, 60 s failing. */
  mp_monitor_init(&m, NULL);
  mp_monitor_record(&m, 0);
  ck_assert_uint_eq(mp_monitor_next_ms(&m), 60000);
}
END_TEST

START_TEST(test_names)
{
  for (int s = 0; s < 4; s++)
    ck_assert_int_eq(mp_mon_state_from_name(mp_mon_state_name(s)), s);
  ck_assert_int_eq(mp_mon_state_from_name("DOWN"), MP_MON_DOWN);
  ck_assert_int_eq(mp_mon_state_from_name("gone"), -1);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("monitor");
  TCase *tc = tcase_create("core");
  tcase_add_loop_test(tc, test_runs, 0, sizeof(runs) / sizeof(runs[0]));
  tcase_add_test(tc, test_defaults_and_intervals);
  tcase_add_test(tc, test_interval_for_every_state);
  tcase_add_test(tc, test_names);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
