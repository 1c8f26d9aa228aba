/* A function in a process of its own (harness/run/isolate.c) and the outcome
 * bytes it hands back (harness/run/outcome_pack.c): bytes arrive whole, a
 * child killed by a signal or past its deadline is told apart from one
 * that ended, the children come from the forker (never a fork of the
 * loop's process) with its memory, and packed outcomes read back field for
 * field while every cut-short or damaged copy is refused without a crash. */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "harness/run/isolate.h"
#include "harness/run/outcome_pack.h"
#include "harness/report/report.h"
#include "probes/result.h"

struct got {
  int calls;
  char bytes[256];
  size_t len;
  struct mp_isolate_end end;
};

static void on_end(const struct mp_isolate_end *end, void *data)
{
  struct got *g = data;

  g->calls++;
  g->end = *end;
  g->len = end->len < sizeof(g->bytes) ? end->len : sizeof(g->bytes);
  if (end->len)
    memcpy(g->bytes, end->bytes, g->len);
  g->end.bytes = NULL;
}

static char *say_hello(void *arg, size_t *len)
{
  const char *text = arg;
  char *out = strdup(text);

  *len = strlen(text);
  return out;
}

static char *die_by_signal(void *arg, size_t *len)
{
  (void)arg;
  (void)len;
  raise(SIGKILL);
  return NULL;
}

static char *exit_three(void *arg, size_t *len)
{
  (void)arg;
  (void)len;
  _exit(3);
}

static char *sleep_long(void *arg, size_t *len)
{
  (void)arg;
  (void)len;
  sleep(30);
  return NULL;
}

static char *write_nothing(void *arg, size_t *len)
{
  (void)arg;
  *len = 0;
  return NULL;
}

/* Runs fn(args[i]) in n children of one forker on a fresh loop, each end
 * into g[i]; between the forker's making and the starts, meanwhile() (if
 * any) runs in the caller. */
static void run_children(mp_isolate_fn fn, void *const *args, int n,
                         uint64_t deadline, struct got *g,
                         void (*meanwhile)(void))
{
  uv_loop_t loop;
  struct mp_isolator *z = NULL;
  int i;

  memset(g, 0, sizeof(*g) * (size_t)n);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(mp_isolator_new(&loop, &z), 0);
  if (meanwhile)
    meanwhile();
  for (i = 0; i < n; i++)
    ck_assert_int_eq(mp_isolate_start(z, fn, args[i], deadline, on_end, &g[i]),
                     0);
  uv_run(&loop, UV_RUN_DEFAULT);
  mp_isolator_free(z);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  for (i = 0; i < n; i++)
    ck_assert_int_eq(g[i].calls, 1);
}

/* Runs fn in a child on a fresh loop; the callback's record. */
static struct got run_child(mp_isolate_fn fn, void *arg, uint64_t deadline)
{
  struct got g;

  run_children(fn, &arg, 1, deadline, &g, NULL);
  return g;
}

START_TEST(test_bytes_come_back)
{
  struct got g = run_child(say_hello, "hello from the child", 10000);

  ck_assert_int_eq(g.end.exit_code, 0);
  ck_assert_int_eq(g.end.signal, 0);
  ck_assert_int_eq(g.end.timed_out, 0);
  ck_assert_uint_eq(g.len, strlen("hello from the child"));
  ck_assert(memcmp(g.bytes, "hello from the child", g.len) == 0);
}
END_TEST

START_TEST(test_nothing_written)
{
  struct got g = run_child(write_nothing, NULL, 10000);

  ck_assert_int_eq(g.end.exit_code, 0);
  ck_assert_uint_eq(g.len, 0);
}
END_TEST

START_TEST(test_killed_by_signal)
{
  struct got g = run_child(die_by_signal, NULL, 10000);

  ck_assert_int_eq(g.end.exit_code, -1);
  ck_assert_int_eq(g.end.signal, SIGKILL);
  ck_assert_int_eq(g.end.timed_out, 0);
  ck_assert_uint_eq(g.len, 0);
}
END_TEST

START_TEST(test_exit_status)
{
  struct got g = run_child(exit_three, NULL, 10000);

  ck_assert_int_eq(g.end.exit_code, 3);
  ck_assert_int_eq(g.end.signal, 0);
}
END_TEST

START_TEST(test_deadline_kills)
{
  struct got g = run_child(sleep_long, NULL, 200);

  ck_assert_int_eq(g.end.timed_out, 1);
  ck_assert_int_eq(g.end.signal, SIGKILL);
}
END_TEST

/* The child sees none of the parent's descriptors but stdio and its pipe:
 * a socket of another case held open there would keep that connection
 * up after the parent closed it. */
static char *count_fds(void *arg, size_t *len)
{
  char *out = malloc(64);
  int open_fds = 0;

  (void)arg;
  for (int fd = 0; fd < 1024; fd++)
    if (fcntl(fd, F_GETFD) >= 0)
      open_fds++;
  *len = (size_t)snprintf(out, 64, "%d", open_fds);
  return out;
}

START_TEST(test_descriptors_closed)
{
  int extra[2];
  struct got g;

  ck_assert_int_eq(pipe(extra), 0);
  g = run_child(count_fds, NULL, 10000);
  close(extra[0]);
  close(extra[1]);
  ck_assert_int_eq(g.end.exit_code, 0);
  g.bytes[g.len < sizeof(g.bytes) ? g.len : sizeof(g.bytes) - 1] = '\0';
  /* stdin, stdout, stderr (those open in the test) and the pipe. */
  ck_assert_int_le(atoi(g.bytes), 4);
  ck_assert_int_ge(atoi(g.bytes), 1);
}
END_TEST

/* The child's parent, as the child sees it. */
static char *say_ppid(void *arg, size_t *len)
{
  char *out = malloc(32);

  (void)arg;
  *len = (size_t)snprintf(out, 32, "%ld", (long)getppid());
  return out;
}

/* The loop's process never forks a child itself: the forker, made before
 * the loop ran, does. A fork of a big process (an ASan build's, with its
 * shadow memory) takes up to hundreds of milliseconds and leaves every
 * page copy-on-write, so forking on the loop stalled the cases running
 * beside an isolated one. */
START_TEST(test_child_not_forked_by_the_loop)
{
  struct got g = run_child(say_ppid, NULL, 10000);

  ck_assert_int_eq(g.end.exit_code, 0);
  g.bytes[g.len < sizeof(g.bytes) ? g.len : sizeof(g.bytes) - 1] = '\0';
  ck_assert_int_gt(atol(g.bytes), 1);
  ck_assert_int_ne(atol(g.bytes), (long)getpid());
}
END_TEST

/* A child reads the caller's memory as it was when the forker was made:
 * what changed since is not seen. */
static char snapshot_word[16] = "before";

static char *say_word(void *arg, size_t *len)
{
  *len = strlen(arg);
  return strdup(arg);
}

static void change_the_word(void)
{
  strcpy(snapshot_word, "after");
}

START_TEST(test_memory_as_at_the_forker)
{
  void *arg = snapshot_word;
  struct got g;

  run_children(say_word, &arg, 1, 10000, &g, change_the_word);
  ck_assert_uint_eq(g.len, strlen("before"));
  ck_assert(memcmp(g.bytes, "before", g.len) == 0);
}
END_TEST

/* Many children of one forker at once: each end reaches its own callback
 * with its own bytes, whatever order they finish in. */
static const char *const many_words[] = {"zero", "one",  "two", "three",
                                         "four", "five", "six", "seven"};

START_TEST(test_many_children_at_once)
{
  enum { N = 8 };
  void *args[N];
  struct got g[N];
  int i;

  for (i = 0; i < N; i++)
    args[i] = (void *)many_words[i];
  run_children(say_word, args, N, 10000, g, NULL);
  for (i = 0; i < N; i++) {
    ck_assert_int_eq(g[i].end.exit_code, 0);
    ck_assert_uint_eq(g[i].len, strlen(many_words[i]));
    ck_assert(memcmp(g[i].bytes, many_words[i], g[i].len) == 0);
  }
}
END_TEST

static struct mp_result *sample_result(void)
{
  struct mp_result *r = mp_result_new();

  r->ok = 0;
  r->warn = 1;
  r->err = -7;
  r->phase = MP_PHASE_AUTH;
  mp_result_set_detail(r, "the server said %s", "no");
  mp_result_set_reply(r, 535, "5.7.8 Authentication failed");
  r->resp_code = strdup("AUTHENTICATIONFAILED");
  r->timings_us[MP_PHASE_CONNECT] = 120;
  r->timings_us[MP_PHASE_BANNER] = 3400;
  r->total_us = 98765;
  r->tls_used = 1;
  strcpy(r->tls.version, "TLSv1.3");
  strcpy(r->tls.cipher, "TLS_AES_256_GCM_SHA384");
  strcpy(r->tls.subject, "CN=mx.example.test");
  strcpy(r->tls.issuer, "CN=mailprobe test CA");
  r->tls.days_left = -3;
  r->tls.verified = 0;
  strcpy(r->tls.verify_error, "certificate has expired");
  r->auth = "CRAM-MD5";
  strcpy(r->address, "127.0.0.1:2525");
  r->messages = 4;
  r->octets = 4096;
  r->insecure = 1;
  r->found = 2;
  r->deleted = 1;
  r->delivery_us = 1500000;
  r->polls = 3;
  r->sent_at_us = 1234567890123ULL;
  mp_result_add_line(r, 's', 10, "220 mx ESMTP", 12);
  mp_result_add_line(r, 'c', 20, "EHLO x", 6);
  mp_result_add_line(r, '*', 30, "", 0);
  return r;
}

START_TEST(test_pack_round_trip)
{
  char *diffs[] = {"status: expected ok, got fail", "phase: expected quit"};
  struct mp_outcome o = {
      .passed = 0, .seconds = 1.25, .diffs = diffs, .ndiffs = 2};
  struct mp_outcome back;
  struct mp_result *r = sample_result(), *b = NULL;
  size_t len = 0;
  char *bytes = mp_outcome_pack(&o, r, &len);

  ck_assert_ptr_nonnull(bytes);
  memset(&back, 0, sizeof(back));
  ck_assert_int_eq(mp_outcome_unpack(bytes, len, &back, &b), 0);
  ck_assert_int_eq(back.passed, 0);
  ck_assert(back.seconds == 1.25);
  ck_assert_uint_eq(back.ndiffs, 2);
  ck_assert_str_eq(back.diffs[0], diffs[0]);
  ck_assert_str_eq(back.diffs[1], diffs[1]);
  ck_assert_ptr_nonnull(b);
  ck_assert_int_eq(b->warn, 1);
  ck_assert_int_eq(b->err, -7);
  ck_assert_int_eq(b->phase, MP_PHASE_AUTH);
  ck_assert_str_eq(b->detail, "the server said no");
  ck_assert_int_eq(b->reply_code, 535);
  ck_assert_str_eq(b->reply_text, "5.7.8 Authentication failed");
  ck_assert_str_eq(b->resp_code, "AUTHENTICATIONFAILED");
  ck_assert(b->timings_us[MP_PHASE_CONNECT] == 120);
  ck_assert(b->timings_us[MP_PHASE_BANNER] == 3400);
  ck_assert(b->timings_us[MP_PHASE_QUIT] == -1);
  ck_assert(b->total_us == 98765);
  ck_assert_int_eq(b->tls_used, 1);
  ck_assert_str_eq(b->tls.version, "TLSv1.3");
  ck_assert_str_eq(b->tls.subject, "CN=mx.example.test");
  ck_assert_int_eq(b->tls.days_left, -3);
  ck_assert_str_eq(b->tls.verify_error, "certificate has expired");
  /* The static name itself, as the probes set it. */
  ck_assert_str_eq(b->auth, "CRAM-MD5");
  ck_assert_str_eq(b->address, "127.0.0.1:2525");
  ck_assert(b->messages == 4 && b->octets == 4096 && b->insecure == 1);
  ck_assert(b->found == 2 && b->deleted == 1);
  ck_assert(b->delivery_us == 1500000 && b->polls == 3);
  ck_assert(b->sent_at_us == 1234567890123ULL);
  ck_assert_uint_eq(b->ntranscript, 3);
  ck_assert_int_eq(b->transcript[1].dir, 'c');
  ck_assert(b->transcript[1].t_us == 20);
  ck_assert_str_eq(b->transcript[0].line, "220 mx ESMTP");
  ck_assert_str_eq(b->transcript[2].line, "");
  for (size_t i = 0; i < back.ndiffs; i++)
    free(back.diffs[i]);
  free(back.diffs);
  mp_result_free(b);
  mp_result_free(r);
  free(bytes);
}
END_TEST

START_TEST(test_pack_no_result)
{
  struct mp_outcome o = {.passed = 1, .seconds = 0.5};
  struct mp_outcome back;
  struct mp_result *b = (struct mp_result *)1;
  size_t len = 0;
  char *bytes = mp_outcome_pack(&o, NULL, &len);

  memset(&back, 0, sizeof(back));
  ck_assert_int_eq(mp_outcome_unpack(bytes, len, &back, &b), 0);
  ck_assert_int_eq(back.passed, 1);
  ck_assert_uint_eq(back.ndiffs, 0);
  ck_assert_ptr_null(back.diffs);
  ck_assert_ptr_null(b);
  free(bytes);
}
END_TEST

/* Every prefix of a packed outcome, and every copy with one byte
 * changed, is either refused with nothing allocated (ASan/valgrind see
 * leaks) or read whole; a prefix is never whole. */
START_TEST(test_pack_cut_or_damaged)
{
  char *diffs[] = {"one diff"};
  struct mp_outcome o = {
      .passed = 0, .seconds = 2, .diffs = diffs, .ndiffs = 1};
  struct mp_result *r = sample_result();
  size_t len = 0;
  char *bytes = mp_outcome_pack(&o, r, &len);
  char *copy = malloc(len);

  for (size_t cut = 0; cut < len; cut++) {
    struct mp_outcome back;
    struct mp_result *b = NULL;

    memset(&back, 0, sizeof(back));
    ck_assert_int_eq(mp_outcome_unpack(bytes, cut, &back, &b), -1);
    ck_assert_ptr_null(back.diffs);
  }
  for (size_t at = 0; at < len; at++) {
    struct mp_outcome back;
    struct mp_result *b = NULL;

    memcpy(copy, bytes, len);
    copy[at] ^= (char)0xA5;
    memset(&back, 0, sizeof(back));
    if (mp_outcome_unpack(copy, len, &back, &b) == 0) {
      for (size_t i = 0; i < back.ndiffs; i++)
        free(back.diffs[i]);
      free(back.diffs);
      mp_result_free(b);
    }
  }
  free(copy);
  free(bytes);
  mp_result_free(r);
}
END_TEST

/* A leak in the child is caught where a leak checker runs: ASan's (which
 * _exit alone would skip) ends the child with a status of its own. */
extern void __lsan_do_leak_check(void) __attribute__((weak));

void *volatile mp_test_leak_sink;

static char *leak_something(void *arg, size_t *len)
{
  char *p = malloc(4096);
  int null = open("/dev/null", O_WRONLY);

  (void)arg;
  /* The leak report is expected: keep it out of the test's output. */
  if (null >= 0)
    dup2(null, 2);
  memset(p, 1, 4096);
  mp_test_leak_sink = p;
  mp_test_leak_sink = NULL; /* the only pointer is gone: a leak */
  *len = 2;
  return strdup("ok");
}

START_TEST(test_child_leak_caught)
{
  struct got g;

  g = run_child(leak_something, NULL, 20000);
  ck_assert_uint_eq(g.len, 2);
  ck_assert_int_ne(g.end.exit_code, 0);
}
END_TEST

static Suite *isolate_suite(void)
{
  Suite *s = suite_create("isolate");
  TCase *tc = tcase_create("isolate");

  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, test_bytes_come_back);
  tcase_add_test(tc, test_nothing_written);
  tcase_add_test(tc, test_killed_by_signal);
  tcase_add_test(tc, test_exit_status);
  tcase_add_test(tc, test_deadline_kills);
  tcase_add_test(tc, test_descriptors_closed);
  tcase_add_test(tc, test_child_not_forked_by_the_loop);
  tcase_add_test(tc, test_memory_as_at_the_forker);
  tcase_add_test(tc, test_many_children_at_once);
  /* Only where LeakSanitizer is linked in (make asan); elsewhere it
   * could not fail. */
  if (__lsan_do_leak_check)
    tcase_add_test(tc, test_child_leak_caught);
  tcase_add_test(tc, test_pack_round_trip);
  tcase_add_test(tc, test_pack_no_result);
  tcase_add_test(tc, test_pack_cut_or_damaged);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(isolate_suite());
  int failed;

  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
