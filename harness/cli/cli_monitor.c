/* `mailprobe monitor --config FILE`: every monitor of the file on one loop
 * (harness/monitor/engine.h), a line per test and per alert, recovery and
 * action on stdout, each test and action appended to the history file,
 * the states kept in the state file so a restart resumes. */
#include "harness/cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "harness/cli/args.h"
#include "harness/monitor/action.h"
#include "harness/monitor/engine.h"
#include "harness/monitor/history.h"
#include "harness/monitor/monitor_config.h"
#include "harness/monitor/state_file.h"
#include "probes/probe.h"
#include "probes/result.h"
#include "wire/errors.h"

static const char monitor_usage[] =
    "usage: mailprobe monitor --config FILE [--check] [--quiet]\n"
    "                         [--history FILE] [--state-file FILE]\n"
    "\n"
    "Runs every monitor of the config file on one loop with ipMonitor's\n"
    "timing: a monitor is Up, Warn, Down or Lost, tests at the interval of\n"
    "its state, alerts every failures_per_alert failed tests in a row\n"
    "(default 3) until max_alerts, then is Lost and tells only the\n"
    "recovery. On an alert it runs on_alert and its recovery command, on a\n"
    "recovery on_recovery: each in a process group of its own with a time\n"
    "limit, the result as JSON on stdin and MAILPROBE_* variables naming\n"
    "the monitor, target, state and error (never a password). Each test\n"
    "and action is a JSON line in the history file; `mailprobe report`\n"
    "reads it. SIGHUP reopens the history (logrotate); SIGINT or SIGTERM\n"
    "stop after the tests and actions under way. The config format is in\n"
    "docs/monitor.md; checks are modules (docs/modules.md).\n"
    "\n"
    "options:\n"
    "  --config FILE         the monitors (required)\n"
    "  --check               read the config, say what it holds, run nothing\n"
    "  --history FILE        append the history here (over monitor.history)\n"
    "  --state-file FILE     keep the states here (over monitor.state_file)\n"
    "  --count N             stop each monitor after N tests (for trials)\n"
    "  -q, --quiet           print only alerts, recoveries and actions\n"
    "  -h, --help            this help\n"
    "\n"
    "Exit status: 0 after a clean stop, 3 when the config or the history\n"
    "cannot be used (nothing starts).\n"
    "\n"
    "examples:\n"
    "  mailprobe monitor --config /etc/mailprobe/monitors.yml\n"
    "  mailprobe monitor --config docs/monitor-example.yaml --check\n";

enum {
  OPT_CONFIG = 1,
  OPT_CHECK,
  OPT_HISTORY,
  OPT_STATE,
  OPT_COUNT,
  OPT_QUIET,
  OPT_HELP
};

static const struct mp_opt monitor_opts[] = {
    {"config", 0, 1, OPT_CONFIG},   {"check", 0, 0, OPT_CHECK},
    {"history", 0, 1, OPT_HISTORY}, {"state-file", 0, 1, OPT_STATE},
    {"count", 0, 1, OPT_COUNT},     {"quiet", 'q', 0, OPT_QUIET},
    {"help", 'h', 0, OPT_HELP},
};

/* The state file is written at most this often: a thousand monitors
 * failing at once make one write, not a thousand. */
#define STATE_SAVE_MS 1000

struct mon_cli {
  struct mp_monitor_file f;
  struct mp_mon_engine *e;
  struct mp_history *h;
  const char *state_path;
  struct mp_mon_saved *saved; /* one per monitor, what the file will hold */
  uv_timer_t save_timer;      /* armed while the file is behind */
  int dirty, timer_open;
  int quiet;
};

static void stamp(char *buf, size_t len)
{
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void save_states(struct mon_cli *m)
{
  char msg[512];
  if (!m->state_path || !m->dirty)
    return;
  m->dirty = 0;
  if (mp_state_save(m->state_path, m->saved, m->f.n, msg, sizeof(msg)) < 0)
    fprintf(stderr, "mailprobe monitor: the state file: %s\n", msg);
}

static void on_save_timer(uv_timer_t *t)
{
  save_states(t->data);
}

/* The state changed: the file follows within STATE_SAVE_MS. */
static void states_changed(struct mon_cli *m)
{
  m->dirty = 1;
  if (m->timer_open && !uv_is_active((uv_handle_t *)&m->save_timer))
    uv_timer_start(&m->save_timer, on_save_timer, STATE_SAVE_MS, 0);
}

static void on_engine_done(void *data)
{
  struct mon_cli *m = data;
  /* The last changes are saved after the loop; the timer must not hold
   * it. */
  if (m->timer_open) {
    m->timer_open = 0;
    uv_close((uv_handle_t *)&m->save_timer, NULL);
  }
}

static void on_test(void *data, const struct mp_mon_test *t)
{
  struct mon_cli *m = data;
  const struct mp_result *r = t->r;
  char when[32];

  stamp(when, sizeof(when));
  if (!m->quiet || t->event != MP_MON_EV_NONE) {
    printf("%s %s %-4s %s", when, t->def->name, mp_mon_state_name(t->state),
           t->ok ? "ok" : "fail");
    if (r->err)
      printf(" %s in %s", mp_err_name(r->err), mp_phase_name(r->phase));
    if (r->reply_code)
      printf(" (%d %s)", r->reply_code, r->reply_text ? r->reply_text : "");
    printf(" %.3fs\n", (double)r->total_us / 1e6);
  }
  if (t->event == MP_MON_EV_ALERT)
    printf("%s %s ALERT %u: %u failed tests in a row%s\n", when, t->def->name,
           t->alert, t->failures,
           t->state == MP_MON_LOST ? "; no more alerts (lost)" : "");
  else if (t->event == MP_MON_EV_RECOVERY)
    printf("%s %s RECOVERY: %s answers again\n", when, t->def->name,
           t->def->target);
  fflush(stdout);
  if (m->h && mp_history_test(m->h, t) == 1)
    fprintf(stderr,
            "mailprobe monitor: the history file cannot be written (disk "
            "full?); the monitors go on, lines are lost until it can\n");
  struct mp_mon_saved *s = &m->saved[t->index];
  unsigned rec = *mp_mon_engine_recoveries(m->e, t->index);
  if (s->state != (int)t->state || s->failures != t->failures ||
      s->alerts != mp_mon_engine_machine(m->e, t->index)->alerts ||
      s->recoveries != rec) {
    s->state = (int)t->state;
    s->failures = t->failures;
    s->alerts = mp_mon_engine_machine(m->e, t->index)->alerts;
    s->recoveries = rec;
    states_changed(m);
  }
}

/* Captured output, line by line, prefixed. */
static void print_output(const char *when, const char *name, const char *what,
                         const char *buf, size_t len, int cut)
{
  size_t i = 0;
  while (i < len) {
    size_t k = i;
    while (k < len && buf[k] != '\n')
      k++;
    printf("%s %s   %s: %.*s\n", when, name, what, (int)(k - i), buf + i);
    i = k + 1;
  }
  if (cut)
    printf("%s %s   %s: (cut at %d bytes)\n", when, name, what,
           MP_ACTION_OUTPUT_CAP);
}

static void on_action(void *data, const struct mp_mon_action *a)
{
  struct mon_cli *m = data;
  const struct mp_action_end *e = a->end;
  char when[32];

  stamp(when, sizeof(when));
  printf("%s %s ACTION %s (test %u): ", when, a->def->name,
         mp_mon_action_name(a->kind), a->test);
  if (e->spawn_error)
    printf("did not start: %s\n", uv_strerror(e->spawn_error));
  else if (e->timed_out)
    printf("killed at its time limit after %.3fs\n",
           (double)e->elapsed_us / 1e6);
  else if (e->term_signal)
    printf("ended by signal %d\n", e->term_signal);
  else
    printf("exit %lld after %.3fs\n", (long long)e->status,
           (double)e->elapsed_us / 1e6);
  print_output(when, a->def->name, "stdout", e->out, e->out_len, e->out_cut);
  print_output(when, a->def->name, "stderr", e->err, e->err_len, e->err_cut);
  fflush(stdout);
  if (m->h && mp_history_action(m->h, a) == 1)
    fprintf(stderr, "mailprobe monitor: the history file cannot be "
                    "written\n");
}

static void on_hup(void *data)
{
  struct mon_cli *m = data;
  if (m->h && mp_history_reopen(m->h) < 0)
    fprintf(stderr, "mailprobe monitor: could not reopen the history file; "
                    "writing on to the old one\n");
}

/* The saved states of monitors of the same name, into the engine. */
static int resume(struct mon_cli *m)
{
  struct mp_mon_saved *v;
  size_t n;
  char msg[1024];

  for (size_t i = 0; i < m->f.n; i++) {
    snprintf(m->saved[i].name, sizeof(m->saved[i].name), "%s",
             m->f.defs[i].name);
    m->saved[i].state = MP_MON_UP;
  }
  if (!m->state_path)
    return 0;
  int rc = mp_state_load(m->state_path, &v, &n, msg, sizeof(msg));
  if (rc < 0) {
    fprintf(stderr, "mailprobe monitor: %s\n", msg);
    return -1;
  }
  if (rc == 1)
    fprintf(stderr, "mailprobe monitor: warning: %s\n", msg);
  for (size_t k = 0; k < n; k++)
    for (size_t i = 0; i < m->f.n; i++)
      if (strcmp(v[k].name, m->f.defs[i].name) == 0) {
        struct mp_monitor *mm = mp_mon_engine_machine(m->e, i);
        mm->state = (enum mp_mon_state)v[k].state;
        mm->failures = v[k].failures;
        mm->alerts = v[k].alerts;
        *mp_mon_engine_recoveries(m->e, i) = v[k].recoveries;
        m->saved[i] = v[k];
        if (v[k].state != MP_MON_UP)
          printf("monitor %s resumes %s (%u failed tests, %u alerts)\n",
                 v[k].name, mp_mon_state_name(v[k].state), v[k].failures,
                 v[k].alerts);
      }
  free(v);
  return 0;
}

static int usage_error(const char *msg)
{
  fprintf(stderr, "mailprobe monitor: %s\n\n%s", msg, monitor_usage);
  return MP_EXIT_USAGE;
}

int mp_cli_monitor(int argc, char **argv)
{
  struct mp_args a;
  struct mon_cli m;
  const char *val, *config = NULL, *history = NULL, *state = NULL;
  char err[1024];
  int id, check_only = 0, rc = MP_EXIT_USAGE;
  unsigned long count = 0;
  uv_loop_t loop;

  memset(&m, 0, sizeof(m));
  mp_args_init(&a, argc, argv);
  while ((id = mp_args_next(&a, monitor_opts,
                            sizeof(monitor_opts) / sizeof(*monitor_opts), &val,
                            err, sizeof(err))) != MP_ARG_END) {
    switch (id) {
    case MP_ARG_ERROR:
      return usage_error(err);
    case MP_ARG_POSITIONAL:
      return usage_error("the monitors come from --config FILE");
    case OPT_CONFIG:
      config = val;
      break;
    case OPT_CHECK:
      check_only = 1;
      break;
    case OPT_HISTORY:
      history = val;
      break;
    case OPT_STATE:
      state = val;
      break;
    case OPT_COUNT:
      if (mp_args_uint("count", val, 1, 1000000, &count, err, sizeof(err)) < 0)
        return usage_error(err);
      break;
    case OPT_QUIET:
      m.quiet = 1;
      break;
    case OPT_HELP:
      fputs(monitor_usage, stdout);
      return 0;
    }
  }
  if (!config)
    return usage_error("missing --config FILE");
  if (mp_monitor_file_load(config, &m.f, err, sizeof(err)) < 0) {
    fprintf(stderr, "mailprobe monitor: %s\n", err);
    return MP_EXIT_USAGE;
  }
  if (!history)
    history = m.f.history;
  m.state_path = state ? state : m.f.state;
  if (check_only) {
    printf("%s: %zu monitor(s)\n", config, m.f.n);
    for (size_t i = 0; i < m.f.n; i++) {
      const struct mp_mon_def *d = &m.f.defs[i];
      printf("  %s: %s %s, every %gs up, %gs failing, an alert every %u "
             "failed tests\n",
             d->name, mp_proto_name(d->opts.proto), d->target,
             (double)d->timing.interval_ms[MP_MON_UP] / 1000.0,
             (double)d->timing.interval_ms[MP_MON_DOWN] / 1000.0,
             d->timing.failures_per_alert ? d->timing.failures_per_alert
                                          : MP_MON_DEFAULT_FAILURES);
    }
    mp_monitor_file_free(&m.f);
    return 0;
  }
  if (history && !(m.h = mp_history_open(history, err, sizeof(err)))) {
    fprintf(stderr, "mailprobe monitor: the history file: %s\n", err);
    mp_monitor_file_free(&m.f);
    return MP_EXIT_USAGE;
  }
  m.saved = calloc(m.f.n, sizeof(*m.saved));
  if (!m.saved || uv_loop_init(&loop) < 0) {
    fprintf(stderr, "mailprobe monitor: out of memory\n");
    goto out;
  }
  struct mp_mon_engine_opts o;
  memset(&o, 0, sizeof(o));
  o.max_in_flight = m.f.max_in_flight;
  o.count = (unsigned)count;
  o.spread = 1;
  o.signals = 1;
  o.on_test = on_test;
  o.on_action = on_action;
  o.on_hup = on_hup;
  o.on_done = on_engine_done;
  o.data = &m;
  m.e = mp_mon_engine_new(&loop, m.f.defs, m.f.n, &o);
  if (!m.e || resume(&m) < 0) {
    uv_loop_close(&loop);
    goto out;
  }
  uv_timer_init(&loop, &m.save_timer);
  m.save_timer.data = &m;
  m.timer_open = 1;
  if (mp_mon_engine_run(m.e) < 0)
    fprintf(stderr, "mailprobe monitor: the monitors did not start\n");
  else
    rc = 0;
  if (m.timer_open) { /* the engine never started */
    m.timer_open = 0;
    uv_close((uv_handle_t *)&m.save_timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  save_states(&m);
  if (uv_loop_close(&loop) != 0)
    fprintf(stderr, "mailprobe monitor: handles left open on the loop\n");
out:
  mp_mon_engine_free(m.e);
  mp_history_close(m.h);
  free(m.saved);
  mp_monitor_file_free(&m.f);
  mp_probe_cleanup();
  return rc;
}
