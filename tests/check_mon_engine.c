/* Unit tests for harness/monitor/engine.c and action.c: monitors never
 * overlap their own tests nor wait on each other, the cap on tests in
 * flight holds, alerts run on_alert and recovery, and actions get a time
 * limit that kills their whole process group, the result on stdin and an
 * environment without secrets; a before_test step (the token fetch of
 * `check --monitor`) ends later with a probe or a result of its own. No timing
 * is asserted: order and counts only. */
#include "harness/monitor/engine.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "fake_servers/fake.h"
#include "fake_servers/mailstore.h"
#include "harness/monitor/action.h"
#include "probes/result.h"
#include "wire/errors.h"

/* ---- actions on their own ---- */

struct got {
  int done;
  struct mp_action_end end;
  char out[MP_ACTION_OUTPUT_CAP + 1];
};

static void on_end(const struct mp_action_end *e, void *data)
{
  struct got *g = data;
  g->done++;
  g->end = *e;
  memcpy(g->out, e->out, e->out_len + 1);
  g->end.out = g->out;
  g->end.err = NULL;
}

static void run_one(char *const *argv, char *const *env, const char *input,
                    uint64_t timeout_ms, struct got *g)
{
  uv_loop_t loop;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  struct mp_action_run r = {argv, env, input, timeout_ms, 100};
  memset(g, 0, sizeof(*g));
  ck_assert_int_eq(mp_action_start(&loop, &r, on_end, g), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(g->done, 1);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}

START_TEST(test_action_exit_and_stdin)
{
  char *argv[] = {"sh", "-c", "cat; echo \"[$X]\"; exit 3", NULL};
  char *env[] = {"PATH=/usr/bin:/bin", "X=seen", NULL};
  struct got g;
  run_one(argv, env, "{\"a\": 1}\n", 5000, &g);
  ck_assert_int_eq(g.end.spawn_error, 0);
  ck_assert_int_eq(g.end.status, 3);
  ck_assert_int_eq(g.end.timed_out, 0);
  ck_assert(mp_action_failed(&g.end));
  ck_assert_str_eq(g.out, "{\"a\": 1}\n[seen]\n");
}
END_TEST

START_TEST(test_action_missing)
{
  char *argv[] = {"/nonexistent/mailprobe-action", NULL};
  char *env[] = {NULL};
  struct got g;
  run_one(argv, env, NULL, 5000, &g);
  ck_assert_int_ne(g.end.spawn_error, 0);
  ck_assert(mp_action_failed(&g.end));
}
END_TEST

START_TEST(test_action_output_capped)
{
  char *argv[] = {"sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x", NULL};
  char *env[] = {"PATH=/usr/bin:/bin", NULL};
  struct got g;
  run_one(argv, env, NULL, 5000, &g);
  ck_assert_int_eq(g.end.status, 0);
  ck_assert_uint_eq(g.end.out_len, MP_ACTION_OUTPUT_CAP);
  ck_assert_int_eq(g.end.out_cut, 1);
  ck_assert_uint_eq(strlen(g.out), MP_ACTION_OUTPUT_CAP);
}
END_TEST

/* A hanging action and the child it started are both gone after the time
 * limit: the signal went to the group. */
START_TEST(test_action_time_limit_kills_group)
{
  char pidfile[] = "/tmp/mp-action-XXXXXX";
  int fd = mkstemp(pidfile);
  ck_assert_int_ge(fd, 0);
  close(fd);
  char script[256];
  snprintf(script, sizeof(script),
           "trap '' TERM; sleep 60 & echo $! > %s; wait", pidfile);
  char *argv[] = {"sh", "-c", script, NULL};
  char *env[] = {"PATH=/usr/bin:/bin", NULL};
  struct got g;
  run_one(argv, env, NULL, 200, &g);
  ck_assert_int_eq(g.end.timed_out, 1);
  ck_assert(mp_action_failed(&g.end));
  /* The shell ignored TERM, so KILL ended it. */
  ck_assert_int_eq(g.end.term_signal, SIGKILL);
  FILE *f = fopen(pidfile, "r");
  ck_assert_ptr_nonnull(f);
  int pid = 0;
  ck_assert_int_eq(fscanf(f, "%d", &pid), 1);
  fclose(f);
  unlink(pidfile);
  /* The sleep got TERM with the group; it is gone or a zombie about to be
   * reaped by init. */
  int alive = 0;
  for (int i = 0; i < 200; i++) {
    char path[64], st = 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *s = fopen(path, "r");
    if (!s) {
      alive = 0;
      break;
    }
    alive = fscanf(s, "%*d %*s %c", &st) == 1 && st != 'Z';
    fclose(s);
    if (!alive)
      break;
    usleep(10000);
  }
  ck_assert_msg(!alive, "the action's child %d survived the time limit", pid);
}
END_TEST

/* ---- the engine against fake servers ---- */

struct world {
  uv_loop_t loop;
  struct mp_mailstore *store;
  struct mp_fake_server *srv[2];
  size_t nsrv;
  struct mp_mon_engine *e;
  /* what the hooks saw */
  char order[64]; /* monitor index per test, in order of ending */
  size_t norder;
  unsigned tests[2];
  char states[2][16];
  char events[2][16];
  int overlap; /* a test ended with more sessions than tests so far */
  int actions[MP_ACT_KINDS];
  char action_out[MP_ACTION_OUTPUT_CAP + 1];
  char tokens[16]; /* per test: 't' the step's token, '-' none */
  char phases[16]; /* per test: 'k' a result in phase token, '.' other */
  int done;
};

static void stopped(void *data)
{
  (void)data;
}

static void w_done(void *data)
{
  struct world *w = data;
  w->done = 1;
  for (size_t i = 0; i < w->nsrv; i++)
    mp_fake_stop(w->srv[i], stopped, NULL);
}

static void w_test(void *data, const struct mp_mon_test *t)
{
  struct world *w = data;
  size_t i = t->index;
  if (w->norder < sizeof(w->order) - 1)
    w->order[w->norder++] = (char)('a' + i);
  w->tests[i]++;
  w->states[i][t->test - 1] = "uwdl"[t->state];
  w->events[i][t->test - 1] = ".ar"[t->event];
  if (i == 0 && t->test <= sizeof(w->tokens) - 1) {
    w->tokens[t->test - 1] =
        t->token && strcmp(t->token, "tok-abc-123") == 0 ? 't' : '-';
    w->phases[t->test - 1] = t->r->phase == MP_PHASE_TOKEN ? 'k' : '.';
  }
  /* Each test is one session: more sessions than tests means overlap. */
  if (i < w->nsrv && mp_fake_sessions(w->srv[i]) != t->test)
    w->overlap = 1;
}

static void w_action(void *data, const struct mp_mon_action *a)
{
  struct world *w = data;
  w->actions[a->kind]++;
  if (a->end->out)
    snprintf(w->action_out, sizeof(w->action_out), "%s", a->end->out);
}

static struct mp_fake_user users[] = {{"probe", "sekrit-pass"}};

/* Starts a fake SMTP server: hang: it never greets; banner421: every
 * session gets a 421. */
static void start_server(struct world *w, int hang, int banner421)
{
  struct mp_fake_config cfg;
  struct mp_fake_rule rule;
  static char *reply421[] = {"421 mx.example.test busy"};
  memset(&cfg, 0, sizeof(cfg));
  memset(&rule, 0, sizeof(rule));
  cfg.name = "mx";
  cfg.proto = MP_FAKE_SMTP;
  cfg.users = users;
  cfg.nusers = 1;
  rule.on = MP_ON_CONNECT;
  rule.when_tls = -1;
  if (hang) {
    rule.then = MP_THEN_HANG;
    rule.reply = reply421;
    rule.nreply = 0;
  } else if (banner421) {
    rule.reply = reply421;
    rule.nreply = 1;
    rule.then = MP_THEN_CLOSE;
  }
  if (hang || banner421) {
    cfg.rules = &rule;
    cfg.nrules = 1;
  }
  struct mp_fake_env env = {.store = w->store};
  ck_assert_int_eq(
      mp_fake_start(&w->loop, &cfg, &env, "127.0.0.1", 0, &w->srv[w->nsrv]), 0);
  w->nsrv++;
}

static void def_for(struct mp_mon_def *d, struct world *w, size_t i,
                    const char *name, uint64_t interval_ms, uint64_t timeout_ms)
{
  memset(d, 0, sizeof(*d));
  d->name = name;
  d->target = name;
  d->opts.proto = MP_PROTO_SMTP;
  d->opts.tls = MP_TLSMODE_NONE;
  d->opts.host = "127.0.0.1";
  d->opts.port = mp_fake_port(w->srv[i]);
  d->opts.timeout_ms = timeout_ms;
  for (int s = 0; s < 4; s++)
    d->timing.interval_ms[s] = interval_ms;
}

static void world_run(struct world *w, struct mp_mon_def *defs, size_t n,
                      unsigned count, unsigned cap)
{
  struct mp_mon_engine_opts o;
  memset(&o, 0, sizeof(o));
  o.count = count;
  o.max_in_flight = cap;
  o.on_test = w_test;
  o.on_action = w_action;
  o.on_done = w_done;
  o.data = w;
  o.grace_ms = 100;
  w->e = mp_mon_engine_new(&w->loop, defs, n, &o);
  ck_assert_ptr_nonnull(w->e);
  ck_assert_int_eq(mp_mon_engine_start(w->e), 0);
  uv_run(&w->loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(w->done, 1);
  mp_mon_engine_free(w->e);
  ck_assert_int_eq(uv_loop_close(&w->loop), 0);
  mp_mailstore_free(w->store);
}

static void world_init(struct world *w)
{
  memset(w, 0, sizeof(*w));
  ck_assert_int_eq(uv_loop_init(&w->loop), 0);
  w->store = mp_mailstore_new();
}

/* One monitor hangs every test until its maximum test duration; the other
 * runs all its tests meanwhile: monitors never wait on each other. */
START_TEST(test_hanging_monitor_does_not_hold_others)
{
  struct world w;
  struct mp_mon_def defs[2];
  world_init(&w);
  start_server(&w, 0, 0);
  start_server(&w, 1, 0);
  def_for(&defs[0], &w, 0, "fast", 10, 5000);
  def_for(&defs[1], &w, 1, "hung", 10, 1500);
  world_run(&w, defs, 2, 4, 0);
  ck_assert_uint_eq(w.tests[0], 4);
  ck_assert_uint_eq(w.tests[1], 4);
  /* Every fast test ended before the first hung one did. */
  ck_assert_str_eq(w.order, "aaaabbbb");
  ck_assert_int_eq(w.overlap, 0);
  ck_assert_str_eq(w.states[1], "wwdd");
  ck_assert_str_eq(w.events[1], "..a.");
}
END_TEST

/* With room for one test in flight, two monitors take turns. */
START_TEST(test_cap_on_tests_in_flight)
{
  struct world w;
  struct mp_mon_def defs[2];
  world_init(&w);
  start_server(&w, 1, 0);
  start_server(&w, 0, 0);
  def_for(&defs[0], &w, 0, "hung", 1, 300);
  def_for(&defs[1], &w, 1, "fast", 1, 5000);
  world_run(&w, defs, 2, 3, 1);
  ck_assert_uint_eq(w.tests[0], 3);
  ck_assert_uint_eq(w.tests[1], 3);
  /* The fast one waited for each hung test: strictly alternating. */
  ck_assert_str_eq(w.order, "ababab");
}
END_TEST

/* ipMonitor's defaults on a server that answers 421: an alert on the third
 * failure and the sixth, on_alert each time, the recovery command only as
 * often as recovery_runs allows, and no secret in the environment. */
START_TEST(test_alerts_run_actions)
{
  struct world w;
  struct mp_mon_def d;
  world_init(&w);
  start_server(&w, 0, 1);
  def_for(&d, &w, 0, "mx-421", 5, 5000);
  d.opts.user = "probe";
  d.opts.password = "sekrit-pass";
  setenv("PROBE_PASSWORD", "sekrit-pass", 1);
  char *alert[] = {"sh", "-c", "cat >/dev/null; env", NULL};
  char *recover[] = {"true", NULL};
  d.argv[MP_ACT_ON_ALERT] = alert;
  d.argv[MP_ACT_RECOVERY] = recover;
  d.recovery_runs = 1;
  world_run(&w, &d, 1, 6, 0);
  unsetenv("PROBE_PASSWORD");
  ck_assert_str_eq(w.states[0], "wwdddd");
  ck_assert_str_eq(w.events[0], "..a..a");
  ck_assert_int_eq(w.actions[MP_ACT_ON_ALERT], 2);
  ck_assert_int_eq(w.actions[MP_ACT_RECOVERY], 1);
  ck_assert_ptr_nonnull(strstr(w.action_out, "MAILPROBE_MONITOR=mx-421\n"));
  ck_assert_ptr_nonnull(strstr(w.action_out, "MAILPROBE_STATE=down\n"));
  ck_assert_ptr_nonnull(strstr(w.action_out, "MAILPROBE_ALERT=2\n"));
  ck_assert_ptr_nonnull(strstr(w.action_out, "MAILPROBE_REPLY_CODE=421\n"));
  ck_assert_ptr_null(strstr(w.action_out, "sekrit"));
  ck_assert_ptr_null(strstr(w.action_out, "PROBE_PASSWORD"));
}
END_TEST

/* A before_test step that ends later on the loop: the first three fail
 * with a result of their own (no session: the probe never ran) and alert;
 * the next start the probe with the step's options and recover. */
struct prep_ctx {
  uv_timer_t timer;
  struct mp_mon_prep *p;
  unsigned calls;
  const struct mp_probe_opts *opts_base;
};

static void prep_later(uv_timer_t *h)
{
  struct prep_ctx *c = h->data;
  struct mp_mon_prep *p = c->p;
  c->p = NULL;
  if (c->calls <= 3) {
    struct mp_result *r = mp_result_new();
    ck_assert_ptr_nonnull(r);
    r->err = MP_E_AUTH_FAILED;
    r->phase = MP_PHASE_TOKEN;
    mp_mon_prep_fail(p, r);
  } else {
    struct mp_probe_opts o;
    o = *c->opts_base;
    char token[] = "tok-abc-123"; /* gone after the call: copied */
    o.token = token;
    mp_mon_prep_probe(p, &o);
    memset(token, 'x', sizeof(token) - 1);
  }
  if (c->calls == 5)
    uv_close((uv_handle_t *)h, NULL);
}

static void before(void *data, struct mp_mon_prep *p)
{
  struct prep_ctx *c = data;
  ck_assert_ptr_null(c->p); /* one step at a time: no overlap */
  c->p = p;
  c->calls++;
  uv_timer_start(&c->timer, prep_later, 5, 0);
}

START_TEST(test_before_test_step)
{
  struct world w;
  struct mp_mon_def d;
  struct prep_ctx c;
  world_init(&w);
  start_server(&w, 0, 0);
  def_for(&d, &w, 0, "oauth", 5, 5000);
  memset(&c, 0, sizeof(c));
  c.opts_base = &d.opts;
  ck_assert_int_eq(uv_timer_init(&w.loop, &c.timer), 0);
  c.timer.data = &c;
  d.before_test = before;
  d.before_data = &c;
  char *alert[] = {"sh", "-c", "cat >/dev/null; env", NULL};
  d.argv[MP_ACT_ON_RECOVERY] = alert;
  world_run(&w, &d, 1, 5, 0);
  ck_assert_uint_eq(c.calls, 5);
  ck_assert_str_eq(w.states[0], "wwduu");
  ck_assert_str_eq(w.events[0], "..ar.");
  ck_assert_str_eq(w.phases, "kkk..");
  ck_assert_str_eq(w.tokens, "---tt");
  ck_assert_int_eq(w.actions[MP_ACT_ON_RECOVERY], 1);
  ck_assert_ptr_nonnull(strstr(w.action_out, "MAILPROBE_STATE=up\n"));
  ck_assert_ptr_null(strstr(w.action_out, "tok-abc"));
}
END_TEST

/* The environment builder masks the password and the test's token
 * wherever they show up. */
START_TEST(test_env_masks_secret)
{
  struct mp_mon_def d;
  struct mp_mon_test t;
  struct mp_result *r = mp_result_new();
  memset(&d, 0, sizeof(d));
  memset(&t, 0, sizeof(t));
  d.name = "m";
  d.target = "smtp://probe:hunter2@mx";
  d.opts.password = "hunter2";
  mp_result_set_reply(r, 535, "bad password hunter2 token ya29.tok");
  t.def = &d;
  t.r = r;
  t.token = "ya29.tok";
  char **env = mp_mon_env_build(&t, MP_ACT_ON_ALERT);
  ck_assert_ptr_nonnull(env);
  int seen_reply = 0;
  for (size_t i = 0; env[i]; i++) {
    ck_assert_ptr_null(strstr(env[i], "hunter2"));
    ck_assert_ptr_null(strstr(env[i], "ya29"));
    if (strcmp(env[i], "MAILPROBE_REPLY=bad password **** token ****") == 0)
      seen_reply = 1;
  }
  ck_assert(seen_reply);
  mp_mon_env_free(env);
  mp_result_free(r);
}
END_TEST

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  Suite *s = suite_create("mon_engine");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_action_exit_and_stdin);
  tcase_add_test(tc, test_action_missing);
  tcase_add_test(tc, test_action_output_capped);
  tcase_add_test(tc, test_action_time_limit_kills_group);
  tcase_add_test(tc, test_hanging_monitor_does_not_hold_others);
  tcase_add_test(tc, test_cap_on_tests_in_flight);
  tcase_add_test(tc, test_alerts_run_actions);
  tcase_add_test(tc, test_before_test_step);
  tcase_add_test(tc, test_env_masks_secret);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
