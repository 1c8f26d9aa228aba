/* Unit tests for the monitor's kept statistics: the history file
 * (harness/monitor/history.c), the state file (harness/monitor/
 * state_file.c) and the report's arithmetic (harness/report/
 * history_stats.c) on a history whose answers are known. */
#include "harness/report/history_stats.h"

#include <check.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/monitor/engine.h"
#include "harness/monitor/history.h"
#include "harness/monitor/state_file.h"
#include "harness/report/history_report.h"
#include "probes/result.h"
#include "wire/errors.h"

static char dir[64];

static void setup(void)
{
  snprintf(dir, sizeof(dir), "/tmp/mp-history-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

static char *slurp(const char *path)
{
  FILE *f = fopen(path, "r");
  ck_assert_ptr_nonnull(f);
  static char buf[65536];
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

/* ---- the history file ---- */

START_TEST(test_history_lines_and_reopen)
{
  char path[128], moved[128], err[256];
  snprintf(path, sizeof(path), "%s/h.jsonl", dir);
  snprintf(moved, sizeof(moved), "%s/h.jsonl.1", dir);
  struct mp_history *h = mp_history_open(path, err, sizeof(err));
  ck_assert_ptr_nonnull(h);

  struct mp_mon_def d;
  struct mp_mon_test t;
  struct mp_result *r = mp_result_new();
  memset(&d, 0, sizeof(d));
  memset(&t, 0, sizeof(t));
  d.name = "mx \"one\"";
  r->err = MP_E_REJECTED;
  r->phase = MP_PHASE_BANNER;
  r->timings_us[MP_PHASE_CONNECT] = 120;
  mp_result_set_reply(r, 421, "busy");
  t.def = &d;
  t.r = r;
  t.test = 3;
  t.state = MP_MON_DOWN;
  t.prev = MP_MON_WARN;
  t.event = MP_MON_EV_ALERT;
  t.alert = 1;
  t.wall_us = 1767225600000000ull; /* 2026-01-01T00:00:00Z */
  ck_assert_int_eq(mp_history_test(h, &t), 0);
  ck_assert_str_eq(
      slurp(path),
      "{\"time\":\"2026-01-01T00:00:00.000Z\",\"t_ms\":1767225600000,"
      "\"monitor\":\"mx \\\"one\\\"\",\"test\":3,\"state\":\"down\","
      "\"prev\":\"warn\",\"status\":\"fail\",\"error\":\"rejected\","
      "\"phase\":\"banner\",\"event\":\"alert\",\"alert\":1,\"failures\":0,"
      "\"late_us\":0,\"total_us\":0,\"timings_us\":{\"connect\":120},"
      "\"reply\":{\"code\":421,\"text\":\"busy\"},\"tls\":null}\n");

  /* logrotate moved the file: the next line goes to a new one. */
  ck_assert_int_eq(rename(path, moved), 0);
  ck_assert_int_eq(mp_history_reopen(h), 0);
  t.test = 4;
  ck_assert_int_eq(mp_history_test(h, &t), 0);
  ck_assert_ptr_nonnull(strstr(slurp(path), "\"test\":4"));
  ck_assert_ptr_null(strstr(slurp(moved), "\"test\":4"));
  ck_assert_uint_eq(mp_history_lost(h), 0);
  mp_history_close(h);
  mp_result_free(r);
}
END_TEST

START_TEST(test_history_unwritable_is_an_error)
{
  char path[128], err[256];
  snprintf(path, sizeof(path), "%s/no/such/dir/h.jsonl", dir);
  ck_assert_ptr_null(mp_history_open(path, err, sizeof(err)));
  ck_assert_ptr_nonnull(strstr(err, "No such file"));
}
END_TEST

/* A disk that fills: the first failure is told, the next ones not, and a
 * write that works again re-arms it. /dev/full fails every write. */
START_TEST(test_history_full_disk_told_once)
{
  char err[256];
  struct mp_history *h = mp_history_open("/dev/full", err, sizeof(err));
  ck_assert_ptr_nonnull(h);
  struct mp_mon_def d;
  struct mp_mon_test t;
  struct mp_result *r = mp_result_new();
  memset(&d, 0, sizeof(d));
  memset(&t, 0, sizeof(t));
  d.name = "m";
  t.def = &d;
  t.r = r;
  ck_assert_int_eq(mp_history_test(h, &t), 1);
  ck_assert_int_eq(mp_history_test(h, &t), 0);
  ck_assert_uint_eq(mp_history_lost(h), 2);
  mp_history_close(h);
  mp_result_free(r);
}
END_TEST

/* ---- the state file ---- */

START_TEST(test_state_round_trip)
{
  char path[128], msg[512];
  snprintf(path, sizeof(path), "%s/state", dir);
  struct mp_mon_saved s[2];
  memset(s, 0, sizeof(s));
  snprintf(s[0].name, sizeof(s[0].name), "mx one");
  s[0].state = MP_MON_LOST;
  s[0].failures = 9;
  s[0].alerts = 3;
  s[0].recoveries = 1;
  snprintf(s[1].name, sizeof(s[1].name), "imap");
  ck_assert_int_eq(mp_state_save(path, s, 2, msg, sizeof(msg)), 0);
  struct mp_mon_saved *got;
  size_t n;
  ck_assert_int_eq(mp_state_load(path, &got, &n, msg, sizeof(msg)), 0);
  ck_assert_uint_eq(n, 2);
  ck_assert_str_eq(got[0].name, "mx one");
  ck_assert_int_eq(got[0].state, MP_MON_LOST);
  ck_assert_uint_eq(got[0].failures, 9);
  ck_assert_uint_eq(got[0].alerts, 3);
  ck_assert_uint_eq(got[0].recoveries, 1);
  ck_assert_int_eq(got[1].state, MP_MON_UP);
  free(got);
  /* No temporary file is left behind. */
  char tmp[160];
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  ck_assert_int_ne(access(tmp, F_OK), 0);
}
END_TEST

static void set_aside_case(const char *content, const char *why)
{
  char path[128], msg[512], pat[160];
  snprintf(path, sizeof(path), "%s/state", dir);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(content, f);
  fclose(f);
  struct mp_mon_saved *got = NULL;
  size_t n = 7;
  ck_assert_int_eq(mp_state_load(path, &got, &n, msg, sizeof(msg)), 1);
  ck_assert_uint_eq(n, 0);
  ck_assert_ptr_null(got);
  ck_assert_msg(strstr(msg, why), "message: %s", msg);
  ck_assert_ptr_nonnull(strstr(msg, "set aside"));
  /* The file is gone from its place and kept beside it. */
  ck_assert_int_ne(access(path, F_OK), 0);
  snprintf(pat, sizeof(pat), "%s.bad-*", path);
  glob_t g;
  ck_assert_int_eq(glob(pat, 0, NULL, &g), 0);
  ck_assert_uint_eq(g.gl_pathc, 1);
  unlink(g.gl_pathv[0]);
  globfree(&g);
}

START_TEST(test_state_corrupt_set_aside)
{
  set_aside_case("mailprobe-monitor-state 1\ndown 3 x mx\n",
                 "not a monitor's state");
  set_aside_case("garbage\n", "not a state file");
  set_aside_case("mailprobe-monitor-state 1\ndown 3 1 0 mx", "cut");
}
END_TEST

START_TEST(test_state_other_version_set_aside)
{
  set_aside_case("mailprobe-monitor-state 99\ndown 3 1 0 mx\n",
                 "another version");
}
END_TEST

START_TEST(test_state_missing_is_empty)
{
  char path[128], msg[256];
  snprintf(path, sizeof(path), "%s/none", dir);
  struct mp_mon_saved *got = NULL;
  size_t n = 5;
  ck_assert_int_eq(mp_state_load(path, &got, &n, msg, sizeof(msg)), 0);
  ck_assert_uint_eq(n, 0);
}
END_TEST

/* ---- the report's arithmetic ---- */

/* A test line at t seconds after 2026-01-01 00:00 UTC. */
static void put_test(FILE *f, const char *mon, unsigned t, int ok,
                     const char *event, unsigned connect_ms)
{
  fprintf(f,
          "{\"time\":\"x\",\"t_ms\":%llu,\"monitor\":\"%s\",\"test\":1,"
          "\"state\":\"up\",\"status\":\"%s\",\"error\":%s,\"phase\":"
          "\"%s\",\"event\":%s%s%s,\"total_us\":%u,\"timings_us\":"
          "{\"connect\":%u}}\n",
          1767225600000ull + (unsigned long long)t * 1000u, mon,
          ok ? "ok" : "fail", ok ? "null" : "\"rejected\"",
          ok ? "quit" : "banner", event ? "\"" : "", event ? event : "null",
          event ? "\"" : "", connect_ms * 1000u * 2, connect_ms * 1000u);
}

START_TEST(test_report_known_answers)
{
  char path[128], err[256];
  snprintf(path, sizeof(path), "%s/h.jsonl", dir);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  /* Monitor a: 100 tests a minute apart, connect 1..100 ms; tests 11-13
   * fail (an outage from t=600 s to t=780 s, alerted at the third), tests
   * 51-52 fail (t=3000 s to t=3120 s). */
  unsigned ms = 1;
  for (unsigned i = 1; i <= 100; i++) {
    int ok = !(i >= 11 && i <= 13) && !(i >= 51 && i <= 52);
    const char *ev = i == 13 ? "alert" : i == 14 ? "recovery" : NULL;
    put_test(f, "a", (i - 1) * 60, ok, ev, ok ? ms++ : 0);
  }
  /* An action line, a foreign line, and a cut line at the end. */
  fputs("{\"time\":\"x\",\"t_ms\":1767226380000,\"monitor\":\"a\","
        "\"test\":13,\"action\":\"on_alert\",\"failed\":true}\n",
        f);
  fputs("not json at all\n", f);
  /* Escapes in a name, decoded: a third monitor of one passed test. */
  fputs("{\"t_ms\":1767225600000,\"monitor\":\"caf\\u00e9 \\\"q\\\"\\t\","
        "\"status\":\"ok\",\"timings_us\":{}}\n",
        f);
  /* Monitor b on the second day: 4 tests, all fail, the outage open. */
  for (unsigned i = 0; i < 4; i++)
    put_test(f, "b", 86400 + i * 60, 0, i == 2 ? "alert" : NULL, 0);
  fputs("{\"time\":\"x\",\"t_ms\":17672", f); /* cut by a crash */
  fclose(f);

  f = fopen(path, "r");
  struct mp_hs hs;
  struct mp_hs_opts o;
  memset(&o, 0, sizeof(o));
  ck_assert_int_eq(mp_hs_read(f, &o, &hs, err, sizeof(err)), 0);
  fclose(f);
  ck_assert_uint_eq(hs.lines, 108);
  ck_assert_uint_eq(hs.skipped, 2);
  ck_assert_uint_eq(hs.used, 106);
  ck_assert_uint_eq(hs.nmons, 3);
  ck_assert_str_eq(hs.mons[1].name, "caf\xc3\xa9 \"q\"\t");
  ck_assert_uint_eq(hs.mons[1].ok, 1);
  const struct mp_hs_monitor *a = &hs.mons[0], *b = &hs.mons[2];
  ck_assert_str_eq(a->name, "a");
  ck_assert_uint_eq(a->tests, 100);
  ck_assert_uint_eq(a->ok, 95);
  ck_assert_uint_eq(a->alerts, 1);
  ck_assert_uint_eq(a->recoveries, 1);
  ck_assert_uint_eq(a->actions, 1);
  ck_assert_uint_eq(a->actions_failed, 1);
  ck_assert_uint_eq(a->noutages, 2);
  ck_assert_uint_eq(a->outages[0].start_ms - 1767225600000ull, 600000);
  ck_assert_uint_eq(a->outages[0].end_ms - a->outages[0].start_ms, 180000);
  ck_assert_uint_eq(a->outages[0].tests, 3);
  ck_assert_int_eq(a->outages[0].alerted, 1);
  ck_assert_str_eq(a->outages[0].cause, "rejected in banner");
  ck_assert_uint_eq(a->outages[1].end_ms - a->outages[1].start_ms, 120000);
  ck_assert_int_eq(a->outages[1].alerted, 0);
  /* MTTR: (180 + 120) / 2 = 150 s. */
  ck_assert_int_eq(mp_hs_mttr_ms(a), 150000);
  /* Connect of the 95 passed tests is 1..95 ms: nearest rank p50 = 48,
   * p95 = 91 (ceil(90.25)), p99 = 95 (ceil(94.05)); buckets are within
   * 1/128 of an octave. */
  int64_t p50 = mp_hs_percentile(a, MP_PHASE_CONNECT, 50);
  int64_t p95 = mp_hs_percentile(a, MP_PHASE_CONNECT, 95);
  int64_t p99 = mp_hs_percentile(a, MP_PHASE_CONNECT, 99);
  ck_assert_msg(llabs(p50 - 48000) <= 48000 / 128, "p50 %lld", (long long)p50);
  ck_assert_msg(llabs(p95 - 91000) <= 91000 / 128, "p95 %lld", (long long)p95);
  ck_assert_msg(llabs(p99 - 95000) <= 95000 / 128, "p99 %lld", (long long)p99);
  ck_assert_uint_eq(a->nlat[MP_PHASE_CONNECT], 95);
  ck_assert_uint_eq(a->nlat[MP_HS_TOTAL], 95);
  ck_assert_int_eq(mp_hs_percentile(a, MP_PHASE_TLS, 50), -1);
  ck_assert_uint_eq(a->ndays, 1);
  ck_assert_uint_eq(a->days[0].tests, 100);
  ck_assert_uint_eq(a->days[0].ok, 95);
  /* b: a day later, all failed, the outage still open: no MTTR. */
  ck_assert_uint_eq(b->tests, 4);
  ck_assert_uint_eq(b->ok, 0);
  ck_assert_uint_eq(b->noutages, 1);
  ck_assert_uint_eq(b->outages[0].end_ms, 0);
  ck_assert_int_eq(mp_hs_mttr_ms(b), -1);
  ck_assert_int_eq(b->days[0].day - a->days[0].day, 1);

  /* The text form says the same. */
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  mp_hs_write_text(out, &hs);
  fclose(out);
  ck_assert_ptr_nonnull(strstr(buf, "2 skipped"));
  ck_assert_ptr_nonnull(
      strstr(buf, "monitor a: 100 tests, 95 passed, availability 95.000%"));
  ck_assert_ptr_nonnull(strstr(buf, "mean time to recovery 2m 30s"));
  ck_assert_ptr_nonnull(strstr(buf, "2026-01-02  0.000% (0/4)"));
  free(buf);
  mp_hs_free(&hs);

  /* --monitor and --since leave lines out. */
  f = fopen(path, "r");
  o.monitor = "b";
  ck_assert_int_eq(mp_hs_read(f, &o, &hs, err, sizeof(err)), 0);
  ck_assert_uint_eq(hs.nmons, 1);
  ck_assert_uint_eq(hs.used, 4);
  mp_hs_free(&hs);
  rewind(f);
  o.monitor = NULL;
  o.since_ms = 1767225600000ull + 3000 * 1000u; /* from test 51 on */
  ck_assert_int_eq(mp_hs_read(f, &o, &hs, err, sizeof(err)), 0);
  ck_assert_uint_eq(hs.mons[0].tests, 50);
  ck_assert_uint_eq(hs.mons[0].noutages, 1);
  mp_hs_free(&hs);
  fclose(f);
}
END_TEST

/* The same numbers whatever the parts the file is read in: outages cut by
 * a part's end are joined, counts and buckets add up. */
START_TEST(test_report_parts_agree)
{
  char path[128], err[256];
  snprintf(path, sizeof(path), "%s/h.jsonl", dir);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  /* Three monitors in rounds, 300 tests each; outages of various lengths
   * (so that some part ends fall inside one), a cut line at the end. */
  for (unsigned i = 1; i <= 300; i++)
    for (unsigned m = 0; m < 3; m++) {
      char name[8];
      snprintf(name, sizeof(name), "m%u", m);
      int fail = (i + m * 7) % 37 < 5 || (m == 2 && i > 290);
      put_test(f, name, i * 60 + m, !fail,
               fail && (i + m * 7) % 37 == 3 ? "alert" : NULL, i % 50 + 1);
    }
  fputs("{\"t_ms\":1", f);
  fclose(f);

  struct mp_hs one;
  struct mp_hs_opts o;
  memset(&o, 0, sizeof(o));
  o.parts = 1;
  f = fopen(path, "r");
  ck_assert_int_eq(mp_hs_read(f, &o, &one, err, sizeof(err)), 0);
  ck_assert_uint_eq(one.nmons, 3);
  ck_assert_uint_eq(one.skipped, 1);
  for (unsigned parts = 2; parts <= 8; parts++) {
    struct mp_hs many;
    o.parts = parts;
    rewind(f);
    ck_assert_int_eq(mp_hs_read(f, &o, &many, err, sizeof(err)), 0);
    ck_assert_uint_eq(many.lines, one.lines);
    ck_assert_uint_eq(many.used, one.used);
    ck_assert_uint_eq(many.skipped, one.skipped);
    ck_assert_uint_eq(many.nmons, one.nmons);
    for (size_t k = 0; k < one.nmons; k++) {
      const struct mp_hs_monitor *a = &one.mons[k], *b = &many.mons[k];
      ck_assert_str_eq(a->name, b->name);
      ck_assert_uint_eq(a->tests, b->tests);
      ck_assert_uint_eq(a->ok, b->ok);
      ck_assert_uint_eq(a->alerts, b->alerts);
      ck_assert_uint_eq(a->first_ms, b->first_ms);
      ck_assert_uint_eq(a->last_ms, b->last_ms);
      ck_assert_int_eq(a->in_outage, b->in_outage);
      ck_assert_msg(a->noutages == b->noutages,
                    "%u parts: %zu outages, not %zu", parts, b->noutages,
                    a->noutages);
      for (size_t u = 0; u < a->noutages; u++) {
        ck_assert_uint_eq(a->outages[u].start_ms, b->outages[u].start_ms);
        ck_assert_uint_eq(a->outages[u].end_ms, b->outages[u].end_ms);
        ck_assert_uint_eq(a->outages[u].tests, b->outages[u].tests);
        ck_assert_int_eq(a->outages[u].alerted, b->outages[u].alerted);
        ck_assert_str_eq(a->outages[u].cause, b->outages[u].cause);
      }
      ck_assert_int_eq(mp_hs_mttr_ms(a), mp_hs_mttr_ms(b));
      for (int s = 0; s < MP_HS_SERIES; s++) {
        ck_assert_uint_eq(a->nlat[s], b->nlat[s]);
        ck_assert_int_eq(mp_hs_percentile(a, s, 50),
                         mp_hs_percentile(b, s, 50));
        ck_assert_int_eq(mp_hs_percentile(a, s, 99),
                         mp_hs_percentile(b, s, 99));
      }
      ck_assert_uint_eq(a->ndays, b->ndays);
      for (size_t d = 0; d < a->ndays; d++) {
        ck_assert_uint_eq(a->days[d].tests, b->days[d].tests);
        ck_assert_uint_eq(a->days[d].ok, b->days[d].ok);
      }
      ck_assert_int_eq(memcmp(a->slots, b->slots, sizeof(a->slots)), 0);
    }
    mp_hs_free(&many);
  }
  fclose(f);
  mp_hs_free(&one);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("history");
  TCase *tc = tcase_create("core");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_history_lines_and_reopen);
  tcase_add_test(tc, test_history_unwritable_is_an_error);
  tcase_add_test(tc, test_history_full_disk_told_once);
  tcase_add_test(tc, test_state_round_trip);
  tcase_add_test(tc, test_state_corrupt_set_aside);
  tcase_add_test(tc, test_state_other_version_set_aside);
  tcase_add_test(tc, test_state_missing_is_empty);
  tcase_add_test(tc, test_report_known_answers);
  tcase_add_test(tc, test_report_parts_agree);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
