/* The runner end to end on loopback: cases parsed from text, fake servers
 * on 127.0.0.1:0, the probe, the diffs, the safety deadline, and every
 * handle closed at the end (mp_run closes its loop; ASan/valgrind see the
 * rest). */
#include "harness/run/runner.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness/case/case.h"
#include "probes/result.h"
#include "wire/errors.h"

static const char case_ok[] = "name: plain ok\n"
                              "servers:\n"
                              "  mx: { protocol: smtp }\n"
                              "probe:\n"
                              "  type: smtp\n"
                              "  server: mx\n"
                              "  tls: none\n"
                              "  timeout: 5s\n"
                              "expect:\n"
                              "  status: ok\n"
                              "  phase: quit\n"
                              "  reply: 221\n"
                              "  server:\n"
                              "    mx:\n"
                              "      saw: [\"EHLO *\", \"quit\"]\n"
                              "      not_saw: [\"AUTH *\"]\n"
                              "      sessions: 1\n";

static const char case_wrong[] = "name: wrong on purpose\n"
                                 "servers:\n"
                                 "  mx: { protocol: smtp }\n"
                                 "probe:\n"
                                 "  type: smtp\n"
                                 "  server: mx\n"
                                 "  tls: none\n"
                                 "  timeout: 5s\n"
                                 "expect:\n"
                                 "  status: fail\n"
                                 "  error: timeout\n"
                                 "  server:\n"
                                 "    mx:\n"
                                 "      saw: [\"NOOP\"]\n"
                                 "      not_saw: [\"EHLO *\"]\n"
                                 "      not_saw_in_clear: [\"QUIT\"]\n"
                                 "      sessions: 2\n";

/* The greeting never comes and the probe's own timeout is far away: only
 * the safety deadline ends this case. */
static const char case_hang[] = "name: hangs\n"
                                "servers:\n"
                                "  mx:\n"
                                "    protocol: smtp\n"
                                "    script:\n"
                                "      - on: connect\n"
                                "        reply: []\n"
                                "        then: hang\n"
                                "probe:\n"
                                "  type: smtp\n"
                                "  server: mx\n"
                                "  tls: none\n"
                                "  timeout: 30s\n"
                                "expect:\n"
                                "  status: ok\n";

struct seen {
  size_t n;
};

static void on_done(struct mp_run_case *rc, void *data)
{
  struct seen *s = data;

  /* Once per case, with the outcome filled in. */
  ck_assert(rc->done);
  ck_assert_ptr_nonnull(rc->out.file);
  s->n++;
}

static struct mp_case *parse(const char *text)
{
  struct mp_case *c = NULL;
  char err[256] = "";

  ck_assert_msg(
      mp_case_parse(text, strlen(text), "test.yaml", &c, err, sizeof(err)) == 0,
      "%s", err);
  return c;
}

static int has_diff(const struct mp_run_case *rc, const char *text)
{
  size_t i;

  for (i = 0; i < rc->out.ndiffs; i++)
    if (strcmp(rc->out.diffs[i], text) == 0)
      return 1;
  return 0;
}

static void dump(const struct mp_run_case *rc)
{
  size_t i;

  for (i = 0; i < rc->out.ndiffs; i++)
    fprintf(stderr, "  %s: %s\n", rc->file, rc->out.diffs[i]);
}

START_TEST(test_run_cases)
{
  struct mp_run_case cases[4];
  struct mp_run_opts opts = {.jobs = (unsigned)_i + 1};
  struct seen seen = {0};
  size_t i;

  memset(cases, 0, sizeof(cases));
  cases[0].file = "ok.yaml";
  cases[0].c = parse(case_ok);
  cases[1].file = "wrong.yaml";
  cases[1].c = parse(case_wrong);
  cases[2].file = "bad.yaml";
  cases[2].parse_error = "bad.yaml:1:1: not a case";
  cases[3].file = "ok2.yaml";
  cases[3].c = parse(case_ok);
  opts.on_done = on_done;
  opts.data = &seen;
  ck_assert_int_eq(mp_run(cases, 4, &opts), 0);
  ck_assert_uint_eq(seen.n, 4);
  for (i = 0; i < 4; i++)
    ck_assert(cases[i].done);

  dump(&cases[0]);
  ck_assert(cases[0].out.passed);
  ck_assert_uint_eq(cases[0].out.ndiffs, 0);
  ck_assert_ptr_nonnull(cases[0].result);
  ck_assert_str_eq(cases[0].out.name, "plain ok");
  ck_assert(cases[0].out.seconds > 0 && cases[0].out.seconds < 5);
  ck_assert(cases[3].out.passed);

  ck_assert(!cases[1].out.passed);
  ck_assert(has_diff(&cases[1], "status: expected fail, got ok"));
  ck_assert(has_diff(&cases[1], "error: expected timeout, got none"));
  ck_assert(
      has_diff(&cases[1], "server mx: expected to see \"NOOP\", not seen"));
  ck_assert(has_diff(&cases[1], "server mx: saw \"EHLO mailprobe.invalid\" "
                                "(not_saw \"EHLO *\")"));
  ck_assert(has_diff(&cases[1], "server mx: saw \"QUIT\" before TLS "
                                "(not_saw_in_clear \"QUIT\")"));
  ck_assert(has_diff(&cases[1], "server mx: sessions: expected 2, got 1"));
  ck_assert_uint_eq(cases[1].out.ndiffs, 6);

  ck_assert(!cases[2].out.passed);
  ck_assert(has_diff(&cases[2], "bad.yaml:1:1: not a case"));
  ck_assert_ptr_null(cases[2].result);

  for (i = 0; i < 4; i++) {
    mp_run_case_clear(&cases[i]);
    mp_case_free(cases[i].c);
  }
}
END_TEST

START_TEST(test_safety_deadline)
{
  struct mp_run_case cases[2];
  struct mp_run_opts opts = {.jobs = 2, .deadline_ms = 300};
  uint64_t t0, ms;

  memset(cases, 0, sizeof(cases));
  cases[0].file = "hang.yaml";
  cases[0].c = parse(case_hang);
  cases[1].file = "ok.yaml";
  cases[1].c = parse(case_ok);
  t0 = (uint64_t)time(NULL);
  ck_assert_int_eq(mp_run(cases, 2, &opts), 0);
  ms = ((uint64_t)time(NULL) - t0) * 1000;
  /* Far below the probe's own 30 s timeout. */
  ck_assert_uint_lt(ms, 5000);
  ck_assert(cases[0].done && cases[1].done);
  ck_assert(!cases[0].out.passed);
  ck_assert(has_diff(&cases[0], "the probe did not finish within 300 ms "
                                "(the harness's safety deadline): the case "
                                "was abandoned"));
  /* The abandoned probe's late result is dropped, not attached. */
  ck_assert_ptr_null(cases[0].result);
  ck_assert(cases[1].out.passed);
  mp_run_case_clear(&cases[0]);
  mp_run_case_clear(&cases[1]);
  mp_case_free(cases[0].c);
  mp_case_free(cases[1].c);
}
END_TEST

/* A round trip in WhatsUp Gold mode over three runs, with one wrong
 * expectation per kind: a run's item, the top level (every run), and the
 * mailbox left at the end. */
static const char case_rt[] =
    "name: three polls\n"
    "servers:\n"
    "  mx: { protocol: smtp }\n"
    "  pop:\n"
    "    protocol: pop3\n"
    "    users: { probe@example.test: s3cret }\n"
    "    mailboxes:\n"
    "      probe@example.test:\n"
    "        mail: [\"Subject: x\\nX-Mailprobe-Token: "
    "mailprobe.b.1\\n\\nhi\\n\"]\n"
    "probe:\n"
    "  type: roundtrip\n"
    "  send: { server: mx, tls: none }\n"
    "  fetch: { server: pop, tls: none, user: probe@example.test }\n"
    "  mode: previous\n"
    "  id: a\n"
    "  runs: 3\n"
    "  email_timeout: 2s\n"
    "  timeout: 5s\n"
    "expect:\n"
    "  warn: false\n"
    "  runs:\n"
    "    - { status: ok, found: 3 }\n"
    "    - { status: ok, found: 1, deleted: 1 }\n"
    "    - { status: ok, found: 1, deleted: 1, messages: 2 }\n"
    "  mailboxes: { probe@example.test: 7 }\n"
    "  server:\n"
    "    pop: { sessions: 3, saw: [\"DELE 2\"] }\n";

/* The same three runs, all as expected. */
static const char case_rt_ok[] =
    "name: three polls, right\n"
    "servers:\n"
    "  mx: { protocol: smtp }\n"
    "  pop:\n"
    "    protocol: pop3\n"
    "    users: { probe@example.test: s3cret }\n"
    "    mailboxes:\n"
    "      probe@example.test:\n"
    "        mail: [\"Subject: x\\nX-Mailprobe-Token: "
    "mailprobe.b.1\\n\\nhi\\n\"]\n"
    "probe:\n"
    "  type: roundtrip\n"
    "  send: { server: mx, tls: none }\n"
    "  fetch: { server: pop, tls: none, user: probe@example.test }\n"
    "  mode: previous\n"
    "  id: a\n"
    "  runs: 3\n"
    "  email_timeout: 2s\n"
    "  timeout: 5s\n"
    "expect:\n"
    "  warn: false\n"
    "  runs:\n"
    "    - { status: ok, found: 0, messages: 2 }\n"
    "    - { status: ok, found: 1, deleted: 1, messages: 3 }\n"
    "    - { status: ok, found: 1, deleted: 1, messages: 3 }\n"
    "  mailboxes: { probe@example.test: 2 }\n"
    "  server:\n"
    "    pop: { sessions: 3, saw: [\"DELE 2\"], not_saw: [\"DELE 1\"] }\n";

START_TEST(test_roundtrip_runs)
{
  struct mp_run_case cases[2];
  struct mp_run_opts opts = {.jobs = 2};

  memset(cases, 0, sizeof(cases));
  cases[0].file = "rt.yaml";
  cases[0].c = parse(case_rt);
  cases[1].file = "rt_ok.yaml";
  cases[1].c = parse(case_rt_ok);
  ck_assert_int_eq(mp_run(cases, 2, &opts), 0);

  dump(&cases[1]);
  ck_assert(cases[1].out.passed);
  ck_assert_ptr_nonnull(cases[1].result);
  ck_assert_int_eq(cases[1].result->found, 1); /* the last run's */

  ck_assert(!cases[0].out.passed);
  ck_assert(has_diff(&cases[0], "run 1: found: expected 3, got 0"));
  ck_assert(has_diff(&cases[0], "run 3: messages: expected 2, got 3"));
  ck_assert(has_diff(&cases[0], "mailbox probe@example.test: expected 7 "
                                "messages left, got 2"));
  ck_assert(has_diff(&cases[0], "server pop: expected to see \"DELE 2\", "
                                "not seen") == 0);
  ck_assert_uint_eq(cases[0].out.ndiffs, 3);
  /* The report shows the first run that did not match. */
  ck_assert_ptr_nonnull(cases[0].result);
  ck_assert_int_eq(cases[0].result->found, 0);
  ck_assert_str_eq(cases[0].result->detail,
                   "first run: nothing sent before to delete");
  mp_run_case_clear(&cases[0]);
  mp_run_case_clear(&cases[1]);
  mp_case_free(cases[0].c);
  mp_case_free(cases[1].c);
}
END_TEST

/* The safety deadline ends a round trip both while a run is out (the
 * mailbox server never answers) and in the pause between two runs. */
static const char case_rt_hang[] =
    "servers:\n"
    "  mx: { protocol: smtp }\n"
    "  pop:\n"
    "    protocol: pop3\n"
    "    users: { u: p }\n"
    "    script: [{ on: PASS, reply: [], then: hang }]\n"
    "probe:\n"
    "  type: roundtrip\n"
    "  send: { server: mx, tls: none }\n"
    "  fetch: { server: pop, tls: none, user: u, auth: USER }\n"
    "  timeout: 30s\n"
    "expect: { status: ok }\n";

static const char case_rt_gap[] =
    "servers:\n"
    "  mx: { protocol: smtp }\n"
    "  pop: { protocol: pop3, users: { u: p } }\n"
    "probe:\n"
    "  type: roundtrip\n"
    "  send: { server: mx, tls: none }\n"
    "  fetch: { server: pop, tls: none, user: u }\n"
    "  runs: 2\n"
    "  interval: 30s\n"
    "expect: { status: ok }\n";

START_TEST(test_roundtrip_safety)
{
  struct mp_run_case cases[2];
  struct mp_run_opts opts = {.jobs = 2, .deadline_ms = 400};
  uint64_t t0, ms;

  memset(cases, 0, sizeof(cases));
  cases[0].file = "hang.yaml";
  cases[0].c = parse(case_rt_hang);
  cases[1].file = "gap.yaml";
  cases[1].c = parse(case_rt_gap);
  t0 = (uint64_t)time(NULL);
  ck_assert_int_eq(mp_run(cases, 2, &opts), 0);
  ms = ((uint64_t)time(NULL) - t0) * 1000;
  ck_assert_uint_lt(ms, 5000);
  ck_assert(has_diff(&cases[0], "the probe did not finish within 400 ms "
                                "(the harness's safety deadline): the case "
                                "was abandoned"));
  ck_assert_ptr_null(cases[0].result);
  ck_assert(has_diff(&cases[1], "the round trip did not finish within 400 ms "
                                "(the harness's safety deadline)"));
  ck_assert_uint_eq(cases[1].out.ndiffs, 1);
  /* The first run finished and matched; its result is kept. */
  ck_assert_ptr_nonnull(cases[1].result);
  mp_run_case_clear(&cases[0]);
  mp_run_case_clear(&cases[1]);
  mp_case_free(cases[0].c);
  mp_case_free(cases[1].c);
}
END_TEST

/* Per-run comparison: the top level applies to every run, the item to its
 * own; "run N: " only when there are several runs. */
START_TEST(test_compare_run)
{
  struct mp_case *c =
      parse("probe:\n  type: roundtrip\n  send: { target: h }\n"
            "  fetch: { target: h, type: pop3, user: u, password: p }\n"
            "  runs: 2\n"
            "expect:\n  warn: false\n  reply: -ERR\n"
            "  runs: [{ status: ok, found: 1, delivery: { min: 1s } },"
            " { status: fail, polls: { max: 1 }, detail: \"x*\" }]\n");
  struct mp_result *r = mp_result_new();
  char **d = NULL;
  size_t n = 0, i;

  r->ok = 1;
  r->warn = 1;
  r->found = 2;
  r->polls = 3;
  r->reply_code = 1;
  mp_run_compare_run(c, 0, r, &d, &n);
  ck_assert_uint_eq(n, 4);
  ck_assert_str_eq(d[0], "run 1: reply code: expected -ERR, got 1");
  ck_assert_str_eq(d[1], "run 1: warn: expected false, got true");
  ck_assert_str_eq(d[2], "run 1: delivery: expected a time, but the message "
                         "was not seen");
  ck_assert_str_eq(d[3], "run 1: found: expected 1, got 2");
  mp_run_compare_run(c, 1, r, &d, &n);
  ck_assert_uint_eq(n, 9);
  ck_assert_str_eq(d[6], "run 2: status: expected fail, got ok");
  ck_assert_str_eq(d[7], "run 2: detail: expected \"x*\", got none");
  ck_assert_str_eq(d[8], "run 2: polls: expected at most 1, got 3");
  for (i = 0; i < n; i++)
    free(d[i]);
  free(d);
  d = NULL;
  n = 0;
  /* No reply at all, against one. */
  r->reply_code = 0;
  r->warn = 0;
  r->found = 1;
  r->delivery_us = 2000000;
  mp_run_compare_run(c, 0, r, &d, &n);
  ck_assert_uint_eq(n, 1);
  ck_assert_str_eq(d[0], "run 1: reply code: expected -ERR, got no reply");
  free(d[0]);
  free(d);
  mp_result_free(r);
  mp_case_free(c);
}
END_TEST

/* Cases with expect.memory: a slow one first, then a quick one, then one
 * whose bound no case can meet. */
static const char case_mem_slow[] = "name: memory, slow greeting\n"
                                    "servers:\n"
                                    "  mx:\n"
                                    "    protocol: smtp\n"
                                    "    script:\n"
                                    "      - on: connect\n"
                                    "        delay: 700ms\n"
                                    "probe:\n"
                                    "  type: smtp\n"
                                    "  server: mx\n"
                                    "  tls: none\n"
                                    "  timeout: 5s\n"
                                    "expect:\n"
                                    "  status: ok\n"
                                    "  memory: { max: 4MiB }\n";

static const char case_mem_quick[] = "name: memory, quick\n"
                                     "servers:\n"
                                     "  mx: { protocol: smtp }\n"
                                     "probe:\n"
                                     "  type: smtp\n"
                                     "  server: mx\n"
                                     "  tls: none\n"
                                     "  timeout: 5s\n"
                                     "expect:\n"
                                     "  status: ok\n"
                                     "  phase: quit\n"
                                     "  memory: { max: 4MiB }\n";

static const char case_mem_tiny[] = "name: memory, bound too small\n"
                                    "servers:\n"
                                    "  mx: { protocol: smtp }\n"
                                    "probe:\n"
                                    "  type: smtp\n"
                                    "  server: mx\n"
                                    "  tls: none\n"
                                    "  timeout: 5s\n"
                                    "expect:\n"
                                    "  status: fail\n"
                                    "  memory: { max: 1B }\n";

struct order {
  const char *names[4];
  size_t n;
};

static void on_done_order(struct mp_run_case *rc, void *data)
{
  struct order *o = data;

  if (o->n < 4)
    o->names[o->n++] = rc->out.name;
}

static int starts_with(const char *s, const char *prefix)
{
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* _i = 0: each memory case in a child process, beside the others: the
 * quick one finishes while the slow one still waits for its greeting.
 * _i = 1 (no_fork): each runs alone, in file order. Either way the
 * outcome is the same: diffs, result and transcript. */
START_TEST(test_memory_cases)
{
  struct mp_run_case cases[3];
  struct mp_run_opts opts = {.jobs = 8, .no_fork = _i};
  struct order order = {0};
  size_t i;

  memset(cases, 0, sizeof(cases));
  cases[0].file = "slow.yaml";
  cases[0].c = parse(case_mem_slow);
  cases[1].file = "quick.yaml";
  cases[1].c = parse(case_mem_quick);
  cases[2].file = "tiny.yaml";
  cases[2].c = parse(case_mem_tiny);
  opts.on_done = on_done_order;
  opts.data = &order;
  ck_assert_int_eq(mp_run(cases, 3, &opts), 0);
  ck_assert_uint_eq(order.n, 3);
  if (_i == 0) {
    ck_assert_str_eq(order.names[2], "memory, slow greeting");
  } else {
    ck_assert_str_eq(order.names[0], "memory, slow greeting");
    ck_assert_str_eq(order.names[1], "memory, quick");
    ck_assert_str_eq(order.names[2], "memory, bound too small");
  }
  for (i = 0; i < 2; i++) {
    dump(&cases[i]);
    ck_assert(cases[i].out.passed);
    ck_assert_ptr_nonnull(cases[i].result);
    ck_assert_ptr_eq(cases[i].out.result, cases[i].result);
    ck_assert_str_eq(cases[i].out.file, cases[i].file);
    ck_assert(cases[i].result->ok);
    ck_assert_uint_gt(cases[i].result->ntranscript, 3);
    ck_assert(starts_with(cases[i].result->transcript[0].line, "220 "));
  }
  ck_assert(cases[0].out.seconds >= 0.7);
  ck_assert_int_eq(cases[1].result->phase, MP_PHASE_QUIT);
  ck_assert(!cases[2].out.passed);
  ck_assert_uint_eq(cases[2].out.ndiffs, 2);
  ck_assert(has_diff(&cases[2], "status: expected fail, got ok"));
  ck_assert(starts_with(
      cases[2].out.diffs[1],
      "memory: expected the heap to grow by at most 1 B, it grew by "));
  for (i = 0; i < 3; i++) {
    mp_run_case_clear(&cases[i]);
    mp_case_free(cases[i].c);
  }
}
END_TEST

START_TEST(test_empty_run)
{
  struct mp_run_opts opts = {0};

  ck_assert_int_eq(mp_run(NULL, 0, &opts), 0);
}
END_TEST

static Suite *runner_suite(void)
{
  Suite *s = suite_create("runner");
  TCase *tc = tcase_create("runner");

  tcase_set_timeout(tc, 30);
  /* jobs = 1 (one at a time) and jobs = 3 (overlapping). */
  tcase_add_loop_test(tc, test_run_cases, 0, 1);
  tcase_add_loop_test(tc, test_run_cases, 2, 3);
  tcase_add_test(tc, test_safety_deadline);
  tcase_add_test(tc, test_empty_run);
  tcase_add_loop_test(tc, test_memory_cases, 0, 2);
  tcase_add_test(tc, test_roundtrip_runs);
  tcase_add_test(tc, test_roundtrip_safety);
  tcase_add_test(tc, test_compare_run);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(runner_suite());
  int failed;

  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
