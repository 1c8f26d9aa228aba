/* The --monitor loop (harness/cli/monitor_loop.h): probe, record, print, wait
 * the state's interval, again. The next probe starts only after the last
 * one ended, so a slow server cannot pile up runs. */
#include "harness/cli/monitor_loop.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "harness/oauth/token.h"
#include "harness/report/result_json.h"
#include "probes/monitor.h"
#include "probes/probe.h"
#include "probes/result.h"

struct mon {
  uv_loop_t *loop;
  const struct mp_probe_opts *opts;
  const struct mp_result_fmt *rf;
  struct mp_monitor m;
  unsigned count, done;
  int json, stopping, ran;
  uv_timer_t timer;
  uv_signal_t sigint, sigterm;
  struct mp_token_source *tokens; /* NULL: no token */
};

static void start_probe(struct mon *s);

static void stamp(char *buf, size_t len)
{
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void close_all(struct mon *s)
{
  s->stopping = 1;
  uv_timer_stop(&s->timer);
  if (!uv_is_closing((uv_handle_t *)&s->timer)) {
    uv_close((uv_handle_t *)&s->timer, NULL);
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
  }
}

/* The Nagios state of a monitor line. */
static enum mp_nagios_state line_state(const struct mon *s,
                                       const struct mp_result *r)
{
  switch (s->m.state) {
  case MP_MON_UP:
    return mp_result_nagios_state(r, s->rf) == MP_NAGIOS_WARNING
               ? MP_NAGIOS_WARNING
               : MP_NAGIOS_OK;
  case MP_MON_WARN:
    return MP_NAGIOS_WARNING;
  default:
    return MP_NAGIOS_CRITICAL;
  }
}

static void report(struct mon *s, const struct mp_result *r,
                   enum mp_mon_event ev)
{
  char when[32];
  const char *state = mp_mon_state_name(s->m.state);
  stamp(when, sizeof(when));
  if (s->json) {
    char *obj = mp_result_to_json_fmt(r, s->rf, 0);
    printf("{\"time\": \"%s\", \"test\": %u, \"state\": \"%s\", \"event\": "
           "%s, \"alerts\": %u, \"failures\": %u, \"result\": %s}\n",
           when, s->done, state,
           ev == MP_MON_EV_ALERT      ? "\"alert\""
           : ev == MP_MON_EV_RECOVERY ? "\"recovery\""
                                      : "null",
           s->m.alerts, s->m.failures, obj ? obj : "null");
    free(obj);
  } else {
    char *line = NULL;
    /* The line's Nagios word is the monitor's verdict, the one the exit
     * code gives: Up OK (or WARNING over a threshold), Warn WARNING, Down
     * and Lost CRITICAL. */
    mp_result_nagios_as(r, s->rf, line_state(s, r), &line);
    printf("%s %-4s %s\n", when, state, line ? line : "(out of memory)");
    if (ev == MP_MON_EV_ALERT)
      printf("%s ALERT %u: %u failed tests in a row%s\n", when, s->m.alerts,
             s->m.failures,
             s->m.state == MP_MON_LOST ? "; no more alerts (lost)" : "");
    else if (ev == MP_MON_EV_RECOVERY)
      printf("%s RECOVERY: the server answers again\n", when);
    free(line);
  }
  fflush(stdout);
}

static void on_timer(uv_timer_t *t)
{
  start_probe(t->data);
}

static void on_result(struct mp_result *r, void *data)
{
  struct mon *s = data;
  s->done++;
  s->ran = 1;
  /* A WARNING under --warning/--critical counts as a failed test only
   * when it is CRITICAL; the state machine knows pass and fail. */
  int ok = mp_result_nagios_state(r, s->rf) <= 1;
  enum mp_mon_event ev = mp_monitor_record(&s->m, ok);
  report(s, r, ev);
  mp_result_free(r);
  if (s->stopping || (s->count && s->done >= s->count)) {
    close_all(s);
    return;
  }
  uv_timer_start(&s->timer, on_timer, mp_monitor_next_ms(&s->m), 0);
}

/* The token for this test (from the source's cache while it lasts): the
 * probe starts with it, or the test fails in phase token. */
static void on_token(void *data, const struct mp_token_answer *a)
{
  struct mon *s = data;
  if (!a->token) {
    struct mp_result *r = mp_result_new();
    if (!r) {
      close_all(s);
      return;
    }
    r->err = a->err;
    r->phase = MP_PHASE_TOKEN;
    r->timings_us[MP_PHASE_TOKEN] = (int64_t)a->took_us;
    r->total_us = a->took_us;
    mp_result_set_detail(r, "%s", a->why ? a->why : "no token");
    on_result(r, s);
    return;
  }
  struct mp_probe_opts o = *s->opts;
  o.token = a->token; /* the probe copies it */
  if (mp_probe_start(s->loop, &o, on_result, s) < 0) {
    fprintf(stderr, "mailprobe check: the probe did not start\n");
    close_all(s);
  }
}

static void start_probe(struct mon *s)
{
  if (s->stopping)
    return;
  if (s->tokens) {
    if (mp_token_get(s->tokens, on_token, s) < 0) {
      fprintf(stderr, "mailprobe check: no token source\n");
      close_all(s);
    }
    return;
  }
  if (mp_probe_start(s->loop, s->opts, on_result, s) < 0) {
    fprintf(stderr, "mailprobe check: the probe did not start\n");
    close_all(s);
  }
}

static void on_signal(uv_signal_t *h, int signum)
{
  struct mon *s = h->data;
  (void)signum;
  /* The probe under way finishes (its deadline bounds it); no new one. */
  s->stopping = 1;
  uv_timer_stop(&s->timer);
  close_all(s);
}

int mp_monitor_loop(uv_loop_t *loop, const struct mp_probe_opts *opts,
                    const struct mp_result_fmt *rf,
                    const struct mp_monitor_cfg *cfg, unsigned count, int json,
                    struct mp_token_source *tokens)
{
  struct mon s;
  memset(&s, 0, sizeof(s));
  s.tokens = tokens;
  s.loop = loop;
  s.opts = opts;
  s.rf = rf;
  s.count = count;
  s.json = json;
  mp_monitor_init(&s.m, cfg);
  uv_timer_init(loop, &s.timer);
  uv_signal_init(loop, &s.sigint);
  uv_signal_init(loop, &s.sigterm);
  s.timer.data = s.sigint.data = s.sigterm.data = &s;
  uv_signal_start(&s.sigint, on_signal, SIGINT);
  uv_signal_start(&s.sigterm, on_signal, SIGTERM);
  uv_unref((uv_handle_t *)&s.sigint);
  uv_unref((uv_handle_t *)&s.sigterm);
  start_probe(&s);
  uv_run(loop, UV_RUN_DEFAULT);
  if (!s.ran)
    return 3;
  switch (s.m.state) {
  case MP_MON_UP:
    return 0;
  case MP_MON_WARN:
    return 1;
  default:
    return 2;
  }
}
