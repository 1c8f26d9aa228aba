/* The --monitor loop (harness/cli/monitor_loop.h): the monitor engine
 * (harness/monitor/engine.h) with one monitor, printing a line per test and
 * ALERT and RECOVERY lines. The engine starts the next test only after the
 * last one ended, so a slow server cannot pile up runs. With a token
 * source, each test asks it for the token first (the engine's before_test
 * step): the source's cache answers until shortly before the token
 * expires, and a refusal is that test's result, in phase token. */
#include "harness/cli/monitor_loop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "harness/monitor/engine.h"
#include "harness/oauth/token.h"
#include "harness/report/result_json.h"
#include "probes/monitor.h"
#include "probes/probe.h"
#include "probes/result.h"
#include "wire/errors.h"

struct mon {
  const struct mp_result_fmt *rf;
  const struct mp_probe_opts *opts;
  int json, ran;
  enum mp_mon_state last;
  struct mp_token_source *tokens; /* NULL: no token */
  struct mp_mon_prep *prep;       /* the test waiting for its token */
};

static void stamp(char *buf, size_t len)
{
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The Nagios state of a monitor line: the monitor's verdict, the one the
 * exit code gives: Up OK (or WARNING over a threshold), Warn WARNING, Down
 * and Lost CRITICAL. */
static enum mp_nagios_state line_state(const struct mon *s,
                                       const struct mp_mon_test *t)
{
  switch (t->state) {
  case MP_MON_UP:
    return mp_result_nagios_state(t->r, s->rf) == MP_NAGIOS_WARNING
               ? MP_NAGIOS_WARNING
               : MP_NAGIOS_OK;
  case MP_MON_WARN:
    return MP_NAGIOS_WARNING;
  default:
    return MP_NAGIOS_CRITICAL;
  }
}

static void on_test(void *data, const struct mp_mon_test *t)
{
  struct mon *s = data;
  char when[32];
  const char *state = mp_mon_state_name(t->state);

  s->ran = 1;
  s->last = t->state;
  stamp(when, sizeof(when));
  if (s->json) {
    char *obj = mp_result_to_json_fmt(t->r, s->rf, 0);
    printf("{\"time\": \"%s\", \"test\": %u, \"state\": \"%s\", \"event\": "
           "%s, \"alerts\": %u, \"failures\": %u, \"result\": %s}\n",
           when, t->test, state,
           t->event == MP_MON_EV_ALERT      ? "\"alert\""
           : t->event == MP_MON_EV_RECOVERY ? "\"recovery\""
                                            : "null",
           t->alert, t->failures, obj ? obj : "null");
    free(obj);
  } else {
    char *line = NULL;
    mp_result_nagios_as(t->r, s->rf, line_state(s, t), &line);
    printf("%s %-4s %s\n", when, state, line ? line : "(out of memory)");
    if (t->event == MP_MON_EV_ALERT)
      printf("%s ALERT %u: %u failed tests in a row%s\n", when, t->alert,
             t->failures,
             t->state == MP_MON_LOST ? "; no more alerts (lost)" : "");
    else if (t->event == MP_MON_EV_RECOVERY)
      printf("%s RECOVERY: the server answers again\n", when);
    free(line);
  }
  fflush(stdout);
}

/* The token for this test: the probe starts with it, or the test fails
 * in phase token (UNKNOWN before connecting, as a single check). */
static void on_token(void *data, const struct mp_token_answer *a)
{
  struct mon *s = data;
  struct mp_mon_prep *p = s->prep;

  s->prep = NULL;
  if (!a->token) {
    struct mp_result *r = mp_result_new();
    if (r) {
      r->err = a->err;
      r->phase = MP_PHASE_TOKEN;
      r->timings_us[MP_PHASE_TOKEN] = (int64_t)a->took_us;
      r->total_us = a->took_us;
      mp_result_set_detail(r, "%s", a->why ? a->why : "no token");
    }
    mp_mon_prep_fail(p, r);
    return;
  }
  struct mp_probe_opts o = *s->opts;
  o.token = a->token; /* the engine and the probe copy it */
  mp_mon_prep_probe(p, &o);
}

static void before_test(void *data, struct mp_mon_prep *p)
{
  struct mon *s = data;

  s->prep = p;
  if (mp_token_get(s->tokens, on_token, s) < 0) {
    struct mp_result *r = mp_result_new();
    s->prep = NULL;
    if (r) {
      r->err = MP_E_NO_RESOURCES;
      r->phase = MP_PHASE_TOKEN;
      mp_result_set_detail(r, "no token source");
    }
    mp_mon_prep_fail(p, r);
  }
}

int mp_monitor_loop(uv_loop_t *loop, const struct mp_probe_opts *opts,
                    const struct mp_result_fmt *rf,
                    const struct mp_monitor_cfg *cfg, unsigned count, int json,
                    struct mp_token_source *tokens)
{
  struct mon s;
  struct mp_mon_def def;
  struct mp_mon_engine_opts eo;

  memset(&s, 0, sizeof(s));
  s.rf = rf;
  s.opts = opts;
  s.json = json;
  s.tokens = tokens;
  memset(&def, 0, sizeof(def));
  def.name = rf->target ? rf->target : "check";
  def.target = rf->target;
  def.opts = *opts;
  def.rf = *rf;
  if (cfg)
    def.timing = *cfg;
  if (tokens) {
    def.before_test = before_test;
    def.before_data = &s;
  }
  memset(&eo, 0, sizeof(eo));
  eo.count = count;
  eo.signals = 1;
  eo.on_test = on_test;
  eo.data = &s;
  struct mp_mon_engine *e = mp_mon_engine_new(loop, &def, 1, &eo);
  if (!e || mp_mon_engine_run(e) < 0) {
    fprintf(stderr, "mailprobe check: the monitor did not start\n");
    mp_mon_engine_free(e);
    return 3;
  }
  mp_mon_engine_free(e);
  if (!s.ran)
    return 3;
  switch (s.last) {
  case MP_MON_UP:
    return 0;
  case MP_MON_WARN:
    return 1;
  default:
    return 2;
  }
}
