/* Subjects (harness/subject/): profiles read strictly with errors at
 * file:line:column, argv templates filled in, the process spawned in a
 * group of its own with its output captured and capped, TERM then KILL at
 * its bound and its group killed and reaped (no zombie, no descriptor
 * left), a run classed PASS / NON-STRICT / FAIL / UNSUPPORTED / ERROR,
 * baselines held, and the shard split. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "harness/case/case.h"
#include "harness/report/matrix.h"
#include "harness/subject/argv.h"
#include "harness/subject/baseline.h"
#include "harness/subject/classify.h"
#include "harness/subject/profile.h"
#include "harness/subject/shard.h"
#include "harness/subject/spawn.h"
#include "probes/probe.h"
#include "wire/errors.h"

static const char good_profile[] =
    "name: demo\n"
    "command: [/usr/bin/demo, -H, \"{host}\", -p, \"{port}\", \"{tls}\",\n"
    "          \"{login}\", -t, \"{timeout_s}\", \"{url}\"]\n"
    "protocols: [smtp, imap]\n"
    "tls:\n"
    "  none: []\n"
    "  starttls: [-S]\n"
    "  implicit: [--ssl, --sni, \"{servername}\"]\n"
    "  auto: unsupported\n"
    "login: [-U, \"{user}\", --pwfile, \"{password_file}\"]\n"
    "unsupported: [verify]\n"
    "skip: { \"*slow*\": too slow }\n"
    "grace: 1500ms\n"
    "verdict:\n"
    "  exit: { ok: [0], fail: [1, 2], unsupported: 89 }\n"
    "  errors:\n"
    "    timeout: \"timed? ?out\"\n"
    "    rejected: \"^REJECT\"\n";

static struct mp_subject *load(const char *text)
{
  struct mp_subject *s = NULL;
  char err[256];

  ck_assert_msg(
      mp_subject_parse(text, strlen(text), "p.yaml", &s, err, sizeof(err)) == 0,
      "%s", err);
  return s;
}

START_TEST(test_profile_reads)
{
  struct mp_subject *s = load(good_profile);

  ck_assert_str_eq(s->name, "demo");
  ck_assert_uint_eq(s->ncommand, 10);
  ck_assert_int_eq(s->shell, 0);
  ck_assert_uint_eq(s->protocols, MP_SUBJECT_PROTO(MP_CASE_SMTP) |
                                      MP_SUBJECT_PROTO(MP_CASE_IMAP));
  ck_assert_int_eq(s->tls[MP_TLSMODE_AUTO].unsupported, 1);
  ck_assert_uint_eq(s->tls[MP_TLSMODE_STARTTLS].n, 1);
  ck_assert_uint_eq(s->login.n, 4);
  ck_assert_uint_eq(s->grace_ms, 1500);
  ck_assert_int_eq(s->exit_map[0], MP_VERDICT_OK);
  ck_assert_int_eq(s->exit_map[2], MP_VERDICT_FAIL);
  ck_assert_int_eq(s->exit_map[89], MP_VERDICT_UNSUPPORTED);
  ck_assert_int_eq(s->exit_map[127], MP_VERDICT_ERROR);
  ck_assert_int_eq(s->exit_map[3], MP_VERDICT_NONE);
  ck_assert_uint_eq(s->nerrors, 2);
  ck_assert_int_eq(s->errors[0].err, MP_E_TIMEOUT);
  ck_assert_uint_eq(s->nskip, 1);
  mp_subject_free(s);
}
END_TEST

/* Each broken profile and the start of the message it must give. */
static const struct {
  const char *text;
  const char *msg;
} bad_profiles[] = {
    {"command: [x]\nverdikt: {}\n", "p.yaml:2:1: unknown key 'verdikt'"},
    {"verdict: {exit: nagios}\n", "p.yaml:1:1: missing required key 'command'"},
    {"command: x\nverdict: {exit: nagios}\n",
     "p.yaml:1:10: 'command' must be a list (argv)"},
    {"command: [x, \"{hostname}\"]\nverdict: {}\n",
     "p.yaml:1:14: unknown placeholder {hostname}"},
    {"command: [\"x{tls}\"]\nverdict: {}\n", "p.yaml:1:11: unknown placeholder "
                                             "{tls} (must be an argument"},
    {"command: [x]\nverdict:\n  ok: \"(\"\n", "p.yaml:3:7: 'ok': the regex"},
    {"command: [x]\nverdict:\n  errors: { timeoot: x }\n",
     "p.yaml:3:13: verdict.errors: 'timeoot' is not an error name"},
    {"command: [x]\nverdict:\n  exit: { ok: [256] }\n",
     "p.yaml:3:16: 'ok' must be from 0 to 255"},
    {"command: [x]\nunsupported: [dns, ipv9]\nverdict: {}\n",
     "p.yaml:2:20: unsupported: 'ipv9' is not a case feature"},
    {"command: [x]\ntls: { starttls: -S }\nverdict: {}\n",
     "p.yaml:2:18: 'starttls' must be a list of arguments or unsupported"},
    {"command: [x]\nprotocols: [smtp, ftp]\nverdict: {}\n", "p.yaml:2:19:"},
    {"command: [a, b]\nshell: true\nverdict: {}\n",
     "p.yaml:1:10: command: with shell: true, one string"},
    {"", "p.yaml:1:1: the file is empty"},
    {"command: [x, \"{password}\"]\nverdict: {}\n",
     "p.yaml:1:14: unknown placeholder {password} (only in env:"},
    {"command: [x]\nenv: { 1X: y }\nverdict: {}\n",
     "p.yaml:2:8: env: '1X' is not a variable name"},
};

START_TEST(test_profile_errors)
{
  const char *text = bad_profiles[_i].text;
  struct mp_subject *s = NULL;
  char err[256];

  ck_assert_int_lt(
      mp_subject_parse(text, strlen(text), "p.yaml", &s, err, sizeof(err)), 0);
  ck_assert_ptr_null(s);
  ck_assert_msg(
      strncmp(err, bad_profiles[_i].msg, strlen(bad_profiles[_i].msg)) == 0,
      "got \"%s\", want \"%s...\"", err, bad_profiles[_i].msg);
}
END_TEST

START_TEST(test_profile_find)
{
  struct mp_subject *s = NULL;
  char err[256];

  ck_assert_int_eq(mp_subject_find("mailprobe", NULL, &s, err, sizeof(err)), 0);
  ck_assert_int_eq(s->builtin, 1);
  mp_subject_free(s);
  ck_assert_int_lt(
      mp_subject_find("no_such_subject", "/nonexistent", &s, err, sizeof(err)),
      0);
  ck_assert_ptr_nonnull(strstr(err, "/nonexistent/no_such_subject.yaml"));
}
END_TEST

static struct mp_case *parse_case(const char *text)
{
  struct mp_case *c = NULL;
  char err[256];

  ck_assert_msg(
      mp_case_parse(text, strlen(text), "c.yaml", &c, err, sizeof(err)) == 0,
      "%s", err);
  return c;
}

static const struct mp_subject_target target = {
    .host = "127.0.0.1",
    .port = 2525,
    .type = MP_CASE_SMTP,
    .tls = MP_TLSMODE_IMPLICIT,
    .user = "probe@example.test",
    .password_file = "/tmp/pw it's",
    .cafile = "/tmp/ca.pem",
    .servername = "mx.example.test",
    .timeout_ms = 1500,
};

START_TEST(test_argv_expands)
{
  struct mp_subject *s = load(good_profile);
  char **argv = mp_subject_argv(s, &target);
  const char *want[] = {"/usr/bin/demo",
                        "-H",
                        "127.0.0.1",
                        "-p",
                        "2525",
                        "--ssl",
                        "--sni",
                        "mx.example.test",
                        "-U",
                        "probe@example.test",
                        "--pwfile",
                        "/tmp/pw it's",
                        "-t",
                        "2",
                        "smtps://127.0.0.1:2525",
                        NULL};
  size_t i;

  ck_assert_ptr_nonnull(argv);
  for (i = 0; want[i]; i++) {
    ck_assert_ptr_nonnull(argv[i]);
    ck_assert_str_eq(argv[i], want[i]);
  }
  ck_assert_ptr_null(argv[i]);
  mp_subject_argv_free(argv);
  /* Without a user, {login} is nothing at all. */
  {
    struct mp_subject_target t = target;
    t.user = NULL;
    t.tls = MP_TLSMODE_NONE;
    argv = mp_subject_argv(s, &t);
    ck_assert_str_eq(argv[5], "-t");
    mp_subject_argv_free(argv);
  }
  mp_subject_free(s);
}
END_TEST

START_TEST(test_argv_shell_quotes)
{
  struct mp_subject *s =
      load("shell: true\n"
           "command: 'probe --pw $(cat {password_file}) {tls} {login}'\n"
           "tls: { implicit: [--tls, \"{servername}\"] }\n"
           "login: [-u, \"{user}\"]\n"
           "verdict: { exit: nagios }\n");
  char **argv = mp_subject_argv(s, &target);

  ck_assert_str_eq(argv[0], "/bin/sh");
  ck_assert_str_eq(argv[1], "-c");
  ck_assert_str_eq(argv[2], "probe --pw $(cat '/tmp/pw it'\\''s') --tls "
                            "'mx.example.test' -u 'probe@example.test'");
  ck_assert_ptr_null(argv[3]);
  mp_subject_argv_free(argv);
  mp_subject_free(s);
}
END_TEST

static const char case_plain[] = "servers: { mx: { protocol: smtp } }\n"
                                 "probe: { type: smtp, server: mx, "
                                 "tls: %s, timeout: 1500ms %s }\n"
                                 "expect: { status: fail, error: %s }\n";

static struct mp_case *case_with(const char *tls, const char *more,
                                 const char *error)
{
  char buf[512];

  snprintf(buf, sizeof(buf), case_plain, tls, more, error);
  return parse_case(buf);
}

START_TEST(test_env)
{
  struct mp_subject *s = load("command: [x]\n"
                              "env: { PROBE_PW: \"{password}\", HOME: /h }\n"
                              "verdict: { exit: nagios }\n");
  char *const base[] = {"PATH=/bin", "HOME=/root", NULL};
  struct mp_subject_target t = target;
  char **env;

  t.password = "s3cret";
  env = mp_subject_env(s, &t, base);
  ck_assert_ptr_nonnull(env);
  ck_assert_str_eq(env[0], "PATH=/bin");
  /* The profile's HOME replaces the inherited one. */
  ck_assert_str_eq(env[1], "PROBE_PW=s3cret");
  ck_assert_str_eq(env[2], "HOME=/h");
  ck_assert_ptr_null(env[3]);
  mp_subject_argv_free(env);
  mp_subject_free(s);
  /* Without env:, the child inherits ours. */
  s = load(good_profile);
  ck_assert_ptr_null(mp_subject_env(s, &t, base));
  mp_subject_free(s);
}
END_TEST

START_TEST(test_supports)
{
  struct mp_subject *s = load(good_profile);
  struct mp_case *c;
  char why[128];

  c = case_with("none", "", "timeout");
  ck_assert_int_eq(mp_subject_supports(s, c, why, sizeof(why)), 0);
  mp_case_free(c);
  c = case_with("auto", "", "timeout");
  ck_assert_int_eq(mp_subject_supports(s, c, why, sizeof(why)), -1);
  ck_assert_str_eq(why, "tls: auto is unsupported");
  mp_case_free(c);
  c = case_with("implicit", "", "cert_invalid");
  ck_assert_int_eq(mp_subject_supports(s, c, why, sizeof(why)), -1);
  ck_assert_str_eq(why, "the case needs verify");
  mp_case_free(c);
  /* The profile's skip list: a glob over the file or the name. */
  c = parse_case("name: a slow one\n"
                 "servers: { mx: { protocol: smtp } }\n"
                 "probe: { type: smtp, server: mx }\n"
                 "expect: { status: ok }\n");
  ck_assert_int_eq(mp_subject_supports(s, c, why, sizeof(why)), -1);
  ck_assert_str_eq(why, "skipped: too slow");
  mp_case_free(c);
  c = parse_case("servers: { mx: { protocol: pop3 } }\n"
                 "probe: { type: pop3, server: mx }\n"
                 "expect: { status: ok }\n");
  ck_assert_int_eq(mp_subject_supports(s, c, why, sizeof(why)), -1);
  ck_assert_str_eq(why, "protocol pop3 is not one it probes");
  mp_case_free(c);
  /* A case about OAuth: a fake server that knows tokens. */
  c = parse_case("servers: { mx: { protocol: smtp, tokens: { t0k: { user: "
                 "u@example.test } } } }\n"
                 "probe: { type: smtp, server: mx, tls: none }\n"
                 "expect: { status: ok }\n");
  ck_assert_int_eq(mp_subject_supports(s, c, why, sizeof(why)), -1);
  ck_assert_str_eq(why,
                   "the case logs in with OAuth, which a profile cannot spell");
  mp_case_free(c);
  /* {timeout_s} in the command: the timeout given is whole seconds. */
  ck_assert_uint_eq(mp_subject_given_timeout_ms(s, 1500), 2000);
  ck_assert_uint_eq(mp_subject_given_timeout_ms(s, 0),
                    MP_PROBE_DEFAULT_TIMEOUT_MS);
  mp_subject_free(s);
}
END_TEST

/* ---- spawning --------------------------------------------------------- */

struct got {
  int calls;
  struct mp_spawn_end end;
  char out[16384], err[1024];
  size_t out_len;
};

static void on_end(const struct mp_spawn_end *end, void *data)
{
  struct got *g = data;

  g->calls++;
  g->end = *end;
  g->out_len = end->out.len;
  snprintf(g->out, sizeof(g->out), "%s", end->out.text ? end->out.text : "");
  snprintf(g->err, sizeof(g->err), "%s", end->err.text ? end->err.text : "");
  g->end.out.text = g->end.err.text = NULL;
}

static void run_sh(const char *script, uint64_t term_after_ms, size_t cap,
                   struct got *g)
{
  char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
  struct mp_spawn_opts o = {.argv = argv,
                            .term_after_ms = term_after_ms,
                            .kill_after_ms = 200,
                            .capture = cap};
  uv_loop_t loop;

  memset(g, 0, sizeof(*g));
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(mp_spawn_start(&loop, &o, on_end, g), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  ck_assert_int_eq(g->calls, 1);
}

START_TEST(test_spawn_captures)
{
  struct got g;

  run_sh("echo out; echo err >&2; exit 3", 5000, 0, &g);
  ck_assert_int_eq(g.end.exit_status, 3);
  ck_assert_int_eq(g.end.term_signal, 0);
  ck_assert_int_eq(g.end.termed, 0);
  ck_assert_str_eq(g.out, "out\n");
  ck_assert_str_eq(g.err, "err\n");
  ck_assert_uint_eq(g.end.out.total, 4);
}
END_TEST

START_TEST(test_spawn_stdin_is_null)
{
  struct got g;

  /* cat reads /dev/null: EOF at once, nothing waits on a terminal. */
  run_sh("cat; echo done", 5000, 0, &g);
  ck_assert_str_eq(g.out, "done\n");
}
END_TEST

START_TEST(test_spawn_caps_output)
{
  struct got g;

  run_sh("head -c 3000000 /dev/zero | tr '\\0' a; echo; echo END", 20000, 1024,
         &g);
  ck_assert_int_eq(g.end.exit_status, 0);
  ck_assert_uint_eq(g.end.out.total, 3000005);
  /* The head, a marker, and the last bytes: never more than the caps. */
  ck_assert_uint_le(g.out_len, 1024 + 64 + MP_SPAWN_TAIL);
  ck_assert_ptr_nonnull(strstr(g.out, "bytes not kept"));
  ck_assert_str_eq(g.out + strlen(g.out) - 5, "\nEND\n");
  ck_assert_int_eq(g.out[0], 'a');
}
END_TEST

START_TEST(test_spawn_term_at_bound)
{
  struct got g;

  run_sh("exec sleep 100", 100, 0, &g);
  ck_assert_int_eq(g.end.termed, 1);
  ck_assert_int_eq(g.end.killed, 0);
  ck_assert_int_eq(g.end.term_signal, SIGTERM);
  ck_assert_uint_lt(g.end.elapsed_us, 5000000);
}
END_TEST

START_TEST(test_spawn_kill_after_term)
{
  struct got g;

  /* TERM is ignored (and the ignoring inherited by sleep): KILL ends it.
   * The bound leaves the shell time to set its trap, even under
   * valgrind. */
  run_sh("trap '' TERM; while :; do sleep 0.05; done", 1000, 0, &g);
  ck_assert_int_eq(g.end.termed, 1);
  ck_assert_int_eq(g.end.killed, 1);
  ck_assert_int_eq(g.end.term_signal, SIGKILL);
}
END_TEST

static size_t count_fds(void)
{
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  size_t n = 0;

  if (!d)
    return 0;
  while ((e = readdir(d)) != NULL)
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

/* 1 while pid exists at all (alive or a zombie). */
static int exists(long pid)
{
  char path[64];

  snprintf(path, sizeof(path), "/proc/%ld", pid);
  return access(path, F_OK) == 0;
}

/* libuv keeps a process-wide pipe for SIGCHLD from the first spawn on;
 * count descriptors after it exists. */
static size_t fds_after_warm_up(void)
{
  struct got g;

  run_sh("true", 5000, 0, &g);
  return count_fds();
}

START_TEST(test_spawn_group_killed_and_reaped)
{
  size_t before = fds_after_warm_up();
  struct got g;
  long pid = 0;

  /* The leader leaves a sleeper holding its stdout and exits. */
  run_sh("sleep 300 & echo $!; exit 0", 30000, 0, &g);
  ck_assert_int_eq(g.end.exit_status, 0);
  ck_assert_int_eq(g.end.termed, 0);
  pid = strtol(g.out, NULL, 10);
  ck_assert_int_gt(pid, 1);
  /* Killed with the group and reaped by us: not even a zombie. */
  ck_assert_msg(!exists(pid), "the sleeper %ld is still there", pid);
  ck_assert_uint_eq(count_fds(), before);
  /* Far under the 300 s it would sleep. */
  ck_assert_uint_lt(g.end.elapsed_us, 5000000);
}
END_TEST

START_TEST(test_spawn_kill_all)
{
  char *argv[] = {"/bin/sh", "-c", "sleep 100 & sleep 100", NULL};
  struct mp_spawn_opts o = {.argv = argv, .term_after_ms = 60000};
  struct got g = {0};
  uv_loop_t loop;

  /* What an interrupted run does from its signal handler. */
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(mp_spawn_start(&loop, &o, on_end, &g), 0);
  mp_spawn_kill_all();
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  ck_assert_int_eq(g.calls, 1);
  ck_assert_int_eq(g.end.term_signal, SIGKILL);
  ck_assert_int_eq(g.end.termed, 0);
}
END_TEST

START_TEST(test_spawn_missing_command)
{
  char *argv[] = {"/nonexistent/mailprobe-test/probe", NULL};
  struct mp_spawn_opts o = {.argv = argv, .term_after_ms = 1000};
  size_t before = fds_after_warm_up();
  struct got g = {0};
  uv_loop_t loop;

  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(mp_spawn_start(&loop, &o, on_end, &g), UV_ENOENT);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  ck_assert_int_eq(g.calls, 0);
  ck_assert_uint_eq(count_fds(), before);
}
END_TEST

/* ---- classification --------------------------------------------------- */

struct cls_row {
  const char *expect; /* the case's expect: */
  int64_t exit_status;
  const char *out;
  uint64_t elapsed_ms;
  int termed;
  const char *spawn_error;
  const char *server_diff;
  enum mp_class want;
  const char *reason; /* a prefix of it, or NULL for none */
};

static const struct cls_row cls_rows[] = {
    /* The status, and the error where it names one. */
    {"status: fail, error: timeout", 2, "CRITICAL timed out", 1000, 0, NULL,
     NULL, MP_CLASS_PASS, NULL},
    {"status: fail, error: timeout", 2, "REJECT 421", 100, 0, NULL, NULL,
     MP_CLASS_NON_STRICT, "error: expected timeout, it named rejected"},
    {"status: fail, error: timeout", 2, "CRITICAL", 1000, 0, NULL, NULL,
     MP_CLASS_NON_STRICT, "error: expected timeout, it named none"},
    /* An error it cannot name: the status alone decides. */
    {"status: fail, error: auth_failed", 1, "CRITICAL", 100, 0, NULL, NULL,
     MP_CLASS_PASS, NULL},
    {"status: fail, error: rejected", 0, "OK", 100, 0, NULL, NULL,
     MP_CLASS_FAIL, "status: expected fail (rejected), it said ok"},
    {"status: ok", 0, "OK", 100, 0, NULL, NULL, MP_CLASS_PASS, NULL},
    {"status: ok", 2, "CRITICAL", 100, 0, NULL, NULL, MP_CLASS_FAIL,
     "status: expected ok, it said fail"},
    /* Slower than the bound, ended by its own timeout. */
    {"status: fail, error: timeout, elapsed: { max: 1200ms }", 2, "timed out",
     2000, 0, NULL, NULL, MP_CLASS_NON_STRICT, "slower than the case's bound"},
    /* No elapsed bound: the timeout given (2 s) plus a little. */
    {"status: fail", 2, "x", 2400, 0, NULL, NULL, MP_CLASS_PASS, NULL},
    {"status: fail", 2, "x", 2600, 0, NULL, NULL, MP_CLASS_NON_STRICT,
     "slower"},
    /* Killed past its timeout plus grace, whatever it printed. */
    {"status: fail, error: timeout", -1, "timed out", 3600, 1, NULL, NULL,
     MP_CLASS_FAIL, "ran past its own timeout plus grace"},
    /* What the server saw decides before the status. */
    {"status: ok", 0, "OK", 100, 0, NULL, "server mx: saw \"AUTH PLAIN ****\"",
     MP_CLASS_FAIL, "server mx: saw"},
    {"status: ok", 89, "", 10, 0, NULL, NULL, MP_CLASS_UNSUPPORTED, NULL},
    {"status: ok", 127, "", 10, 0, NULL, NULL, MP_CLASS_ERROR,
     "the command could not run"},
    {"status: ok", 5, "", 10, 0, NULL, NULL, MP_CLASS_ERROR, "no verdict"},
    {"status: ok", 0, "", 0, 0, "could not start x: no such file", NULL,
     MP_CLASS_ERROR, "could not run"},
};

START_TEST(test_classify)
{
  const struct cls_row *row = &cls_rows[_i];
  struct mp_subject *s = load(good_profile);
  struct mp_subject_run r;
  struct mp_cell cell;
  struct mp_case *c;
  char buf[512], *diffs[1];

  snprintf(buf, sizeof(buf),
           "servers: { mx: { protocol: smtp } }\n"
           "probe: { type: smtp, server: mx, timeout: 1500ms }\n"
           "expect: { %s }\n",
           row->expect);
  c = parse_case(buf);
  memset(&r, 0, sizeof(r));
  memset(&cell, 0, sizeof(cell));
  r.spawn_error = row->spawn_error;
  r.exit_status = row->exit_status;
  r.termed = row->termed;
  r.term_signal = row->termed ? SIGTERM : 0;
  r.elapsed_us = row->elapsed_ms * 1000;
  r.given_timeout_ms = mp_subject_given_timeout_ms(s, 1500);
  r.grace_ms = s->grace_ms;
  r.out = row->out;
  r.err = "";
  diffs[0] = (char *)row->server_diff;
  mp_subject_classify(s, c, &r, diffs, row->server_diff ? 1 : 0, &cell);
  ck_assert_msg(cell.cls == row->want, "row %d: got %s (%s), want %s", _i,
                mp_class_name(cell.cls), cell.reason ? cell.reason : "",
                mp_class_name(row->want));
  if (row->reason)
    ck_assert_msg(cell.reason && strncmp(cell.reason, row->reason,
                                         strlen(row->reason)) == 0,
                  "row %d: reason \"%s\"", _i, cell.reason);
  mp_cell_clear(&cell);
  mp_case_free(c);
  mp_subject_free(s);
}
END_TEST

START_TEST(test_verdict_regexes_win)
{
  struct mp_subject *s = load("command: [x]\n"
                              "verdict:\n"
                              "  ok: \"^probe_success 1$\"\n"
                              "  fail: \"^probe_success 0$\"\n");
  struct mp_subject_run r = {.exit_status = 0, .err = ""};
  int named;

  r.out = "# HELP\nprobe_success 1\n";
  ck_assert_int_eq(mp_subject_verdict(s, &r, &named), MP_VERDICT_OK);
  r.out = "probe_success 0\n";
  ck_assert_int_eq(mp_subject_verdict(s, &r, &named), MP_VERDICT_FAIL);
  r.out = "nothing";
  ck_assert_int_eq(mp_subject_verdict(s, &r, &named), MP_VERDICT_NONE);
  r.exit_status = 127;
  r.out = "probe_success 1\n";
  ck_assert_int_eq(mp_subject_verdict(s, &r, &named), MP_VERDICT_ERROR);
  mp_subject_free(s);
}
END_TEST

/* ---- baselines and shards ---------------------------------------------- */

static const char base_json[] =
    "{\"subjects\": [\"a\", \"b\"], \"cases\": [\n"
    " {\"file\": \"cases/x.yaml\", \"cells\": {\n"
    "   \"a\": {\"class\": \"PASS\", \"reason\": null},\n"
    "   \"b\": {\"class\": \"FAIL\", \"reason\": \"status: expected "
    "fail\"}}},\n"
    " {\"file\": \"./cases/y.yaml\", \"cells\": {\n"
    "   \"a\": {\"class\": \"NON-STRICT\", \"reason\": \"slower\"}}}]}\n";

START_TEST(test_baseline)
{
  struct mp_baseline *b = NULL;
  struct mp_cell cell;
  char err[256];

  ck_assert_int_eq(mp_baseline_parse(base_json, strlen(base_json), "b.json", &b,
                                     err, sizeof(err)),
                   0);
  ck_assert_uint_eq(b->n, 3);
  memset(&cell, 0, sizeof(cell));
  /* The same class and reason: no change. */
  cell.cls = MP_CLASS_FAIL;
  cell.reason = strdup("status: expected fail");
  ck_assert_int_eq(mp_baseline_check(b, "b", "./cases/x.yaml", &cell), 0);
  ck_assert_ptr_null(cell.baseline);
  /* Another reason is a change too. */
  free(cell.reason);
  cell.reason = strdup("server mx: saw");
  ck_assert_int_eq(mp_baseline_check(b, "b", "cases/x.yaml", &cell), 1);
  ck_assert_ptr_nonnull(strstr(cell.baseline, "with another reason"));
  /* A fix fails the run as much as a regression. */
  free(cell.reason);
  cell.reason = NULL;
  cell.cls = MP_CLASS_PASS;
  ck_assert_int_eq(mp_baseline_check(b, "b", "cases/x.yaml", &cell), 1);
  ck_assert_ptr_nonnull(strstr(cell.baseline, "a fix"));
  cell.cls = MP_CLASS_FAIL;
  ck_assert_int_eq(mp_baseline_check(b, "a", "cases/x.yaml", &cell), 1);
  ck_assert_ptr_nonnull(strstr(cell.baseline, "a regression"));
  /* A case it does not hold: only PASS is no change. */
  cell.cls = MP_CLASS_PASS;
  free(cell.baseline);
  cell.baseline = NULL;
  ck_assert_int_eq(mp_baseline_check(b, "a", "cases/new.yaml", &cell), 0);
  cell.cls = MP_CLASS_ERROR;
  ck_assert_int_eq(mp_baseline_check(b, "a", "cases/new.yaml", &cell), 1);
  mp_cell_clear(&cell);
  mp_baseline_free(b);
  /* A baseline that is not one is an error at its line and column. */
  {
    const char *bad = "{\"cases\": [{\"file\": \"x\", \"cells\": "
                      "{\"a\": {\"class\": \"GOOD\"}}}]}";
    ck_assert_int_lt(
        mp_baseline_parse(bad, strlen(bad), "b.json", &b, err, sizeof(err)), 0);
  }
  ck_assert_ptr_nonnull(strstr(err, "b.json:1:"));
  ck_assert_msg(strstr(err, "'GOOD' is not a class") != NULL, "%s", err);
}
END_TEST

START_TEST(test_shards)
{
  unsigned i, n, k, count[5] = {0};
  char path[64];

  ck_assert_int_eq(mp_shard_parse("2/4", &i, &n), 0);
  ck_assert_uint_eq(i, 2);
  ck_assert_uint_eq(n, 4);
  ck_assert_int_lt(mp_shard_parse("0/4", &i, &n), 0);
  ck_assert_int_lt(mp_shard_parse("5/4", &i, &n), 0);
  ck_assert_int_lt(mp_shard_parse("1/", &i, &n), 0);
  ck_assert_int_lt(mp_shard_parse("1/4x", &i, &n), 0);
  ck_assert_int_lt(mp_shard_parse("-1/4", &i, &n), 0);
  /* Stable: the same path is in the same shard, "./" or not. */
  ck_assert_uint_eq(mp_shard_of("cases/smtp/banner_421.yaml", 4),
                    mp_shard_of("./cases/smtp/banner_421.yaml", 4));
  ck_assert_uint_eq(mp_shard_of("anything", 1), 1);
  /* Every path in one shard of 1..4, and every shard gets some. */
  for (k = 0; k < 400; k++) {
    snprintf(path, sizeof(path), "cases/x/case_%u.yaml", k);
    i = mp_shard_of(path, 4);
    ck_assert_uint_ge(i, 1);
    ck_assert_uint_le(i, 4);
    count[i]++;
  }
  for (k = 1; k <= 4; k++)
    ck_assert_uint_gt(count[k], 50);
}
END_TEST

static Suite *subject_suite(void)
{
  Suite *s = suite_create("subject");
  TCase *tc = tcase_create("subject");

  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_profile_reads);
  tcase_add_loop_test(tc, test_profile_errors, 0,
                      sizeof(bad_profiles) / sizeof(*bad_profiles));
  tcase_add_test(tc, test_profile_find);
  tcase_add_test(tc, test_argv_expands);
  tcase_add_test(tc, test_argv_shell_quotes);
  tcase_add_test(tc, test_env);
  tcase_add_test(tc, test_supports);
  tcase_add_test(tc, test_spawn_captures);
  tcase_add_test(tc, test_spawn_stdin_is_null);
  tcase_add_test(tc, test_spawn_caps_output);
  tcase_add_test(tc, test_spawn_term_at_bound);
  tcase_add_test(tc, test_spawn_kill_after_term);
  tcase_add_test(tc, test_spawn_group_killed_and_reaped);
  tcase_add_test(tc, test_spawn_kill_all);
  tcase_add_test(tc, test_spawn_missing_command);
  tcase_add_loop_test(tc, test_classify, 0,
                      sizeof(cls_rows) / sizeof(*cls_rows));
  tcase_add_test(tc, test_verdict_regexes_win);
  tcase_add_test(tc, test_baseline);
  tcase_add_test(tc, test_shards);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(subject_suite());
  int failed;

  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
