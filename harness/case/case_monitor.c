/* monitor: and monitors: of a monitor case, and its expect:
 * (docs/case-format.md, "Monitor cases"). A monitor's check is written in
 * the probe: language and read by the probe: reader; the rest is
 * ipMonitor's timing in milliseconds, the actions, and what must come
 * out: the state after each test, the tests that alerted or told a
 * recovery, the actions run with their environment, and how late a test
 * may start. */
#include "harness/case/case_yaml.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TESTS 1000
#define MAX_ARGV 64

static const char *const action_keys[] = {"on_alert", "on_recovery", "recovery",
                                          NULL};

static const struct nv action_kinds[] = {
    {"on_alert", 0}, {"on_recovery", 1}, {"recovery", 2}, {NULL, 0}};

/* A command: a list of strings (argv, no shell), or {shell: "..."} for
 * /bin/sh -c. Stored NULL-terminated. */
static int get_command(struct ctx *x, const char *key, const struct ynode *n,
                       char ***out)
{
  char **v = NULL;
  size_t nv = 0;

  if (n->kind == Y_MAP) {
    static const char *const keys[] = {"shell", NULL};
    const struct ynode *s = cy_get(n, "shell");
    char *line = NULL;
    if (cy_check_keys(x, n, key, keys) < 0)
      return -1;
    if (!s)
      return cy_fail(x, n, "%s: a map holds shell: \"command line\"", key);
    if (cy_get_str(x, "shell", s, 1, &line) < 0)
      return -1;
    int bad = cy_strv_push(x, &v, &nv, "/bin/sh", 7) < 0 ||
              cy_strv_push(x, &v, &nv, "-c", 2) < 0 ||
              cy_strv_push(x, &v, &nv, line, strlen(line)) < 0;
    free(line);
    if (bad) {
      cy_free_strv(v, nv);
      return -1;
    }
  } else if (n->kind == Y_SEQ) {
    if (n->nkids == 0 || n->nkids > MAX_ARGV)
      return cy_fail(x, n, "%s: a command is 1 to %d strings", key, MAX_ARGV);
    if (cy_get_strv(x, key, n, 0, &v, &nv) < 0)
      return -1;
  } else {
    return cy_wrong_type(x, key, n,
                         "a list of strings (the command and its arguments)"
                         " or {shell: ...}");
  }
  char **t = realloc(v, (nv + 1) * sizeof(*t));
  if (!t) {
    cy_free_strv(v, nv);
    return cy_oom(x);
  }
  t[nv] = NULL;
  *out = t;
  return 0;
}

void cy_free_argv(char **v)
{
  if (!v)
    return;
  for (size_t i = 0; v[i]; i++)
    free(v[i]);
  free(v);
}

int cy_parse_mon_fields(struct ctx *x, const struct ynode *n,
                        struct cy_mon_fields *f)
{
  static const char *const ikeys[] = {"up", "warn", "down", "lost", NULL};
  static const struct {
    const char *key;
    size_t off;
  } durs[] = {
      {"max_test_duration", offsetof(struct cy_mon_fields, max_test_ms)},
      {"warning", offsetof(struct cy_mon_fields, warning_ms)},
      {"critical", offsetof(struct cy_mon_fields, critical_ms)},
      {"action_timeout", offsetof(struct cy_mon_fields, action_timeout_ms)},
  };
  const struct ynode *v;
  long long num;

  if ((v = cy_get(n, "interval")) != NULL) {
    uint64_t ms;
    if (cy_get_dur_ms(x, "interval", v, 1, &ms) < 0)
      return -1;
    for (int s = 0; s < 4; s++)
      f->timing.interval_ms[s] = ms;
  }
  if ((v = cy_get(n, "intervals")) != NULL) {
    if (cy_want_map(x, "intervals", v) < 0 ||
        cy_check_keys(x, v, "intervals", ikeys) < 0)
      return -1;
    for (int s = 0; s < 4; s++) {
      const struct ynode *iv = cy_get(v, ikeys[s]);
      if (iv &&
          cy_get_dur_ms(x, ikeys[s], iv, 1, &f->timing.interval_ms[s]) < 0)
        return -1;
    }
  }
  if ((v = cy_get(n, "failures_per_alert")) != NULL) {
    if (cy_get_int(x, "failures_per_alert", v, 1, 1000, &num) < 0)
      return -1;
    f->timing.failures_per_alert = (unsigned)num;
  }
  if ((v = cy_get(n, "max_alerts")) != NULL) {
    if (cy_get_int(x, "max_alerts", v, 0, 1000, &num) < 0)
      return -1;
    f->timing.max_alerts = (unsigned)num;
  }
  for (size_t i = 0; i < sizeof(durs) / sizeof(*durs); i++)
    if ((v = cy_get(n, durs[i].key)) != NULL &&
        cy_get_dur_ms(x, durs[i].key, v, 1,
                      (uint64_t *)((char *)f + durs[i].off)) < 0)
      return -1;
  for (int k = 0; k < 3; k++)
    if ((v = cy_get(n, action_keys[k])) != NULL &&
        get_command(x, action_keys[k], v, &f->argv[k]) < 0)
      return -1;
  if ((v = cy_get(n, "recovery_runs")) != NULL) {
    if (cy_get_int(x, "recovery_runs", v, 1, 1000, &num) < 0)
      return -1;
    f->recovery_runs = (unsigned)num;
  }
  return 0;
}

static int parse_monitor(struct ctx *x, const struct ynode *kn,
                         const struct ynode *n, struct mp_case *c,
                         struct mp_case_monitor *m, int named)
{
  static const char *const keys[] = {"name", "check", "tests",
                                     CY_MON_FIELD_KEYS, NULL};
  struct cy_mon_fields f;
  const struct ynode *v;
  long long num;

  m->line = n->line;
  if (cy_want_map(x, kn->str, n) < 0 || cy_check_keys(x, n, kn->str, keys) < 0)
    return -1;
  if (cy_opt_str(x, n, "name", 0, named ? NULL : "monitor", &m->name) < 0)
    return -1;
  if (!m->name)
    return cy_fail(x, n, "a monitor of monitors: needs a name");
  size_t nl = strlen(m->name);
  if (nl == 0 || nl > 64)
    return cy_fail(x, cy_get(n, "name") ? cy_get(n, "name") : n,
                   "a monitor's name is 1 to 64 characters");
  for (size_t i = 0; i < c->nmonitors; i++)
    if (&c->monitors[i] != m && c->monitors[i].name &&
        strcmp(c->monitors[i].name, m->name) == 0)
      return cy_fail(x, cy_get(n, "name"), "a second monitor named '%s'",
                     m->name);
  if ((v = cy_get(n, "check")) == NULL)
    return cy_fail(x, n,
                   "missing required key 'check' (the probe: of this "
                   "monitor)");
  /* The probe: reader fills c->probe: borrow it, then move the result. */
  const struct ynode *ck = NULL;
  for (size_t i = 0; i < n->nkids; i += 2)
    if (strcmp(n->kids[i]->str, "check") == 0)
      ck = n->kids[i];
  memset(&c->probe, 0, sizeof(c->probe));
  int rc = cy_parse_probe(x, ck, v, c);
  m->check = c->probe;
  memset(&c->probe, 0, sizeof(c->probe));
  if (rc < 0)
    return -1;
  if (m->check.type == MP_CASE_ROUNDTRIP)
    return cy_fail(x, v, "check: a monitor's check is smtp, pop3 or imap");
  if ((v = cy_get(n, "tests")) == NULL)
    return cy_fail(x, n, "missing required key 'tests' (how many to run)");
  if (cy_get_int(x, "tests", v, 1, MAX_TESTS, &num) < 0)
    return -1;
  m->tests = (unsigned)num;
  memset(&f, 0, sizeof(f));
  rc = cy_parse_mon_fields(x, n, &f);
  /* The commands are the monitor's even after an error, to be freed. */
  for (int k = 0; k < 3; k++)
    m->argv[k] = f.argv[k];
  if (rc < 0)
    return -1;
  m->timing = f.timing;
  for (int s = 0; s < 4; s++)
    if (!m->timing.interval_ms[s])
      return cy_fail(x, n,
                     "give interval: (every state) or intervals: with up, "
                     "warn, down and lost; a case does not wait ipMonitor's "
                     "minutes");
  if (f.max_test_ms)
    m->check.opts.timeout_ms = f.max_test_ms;
  m->warning_ms = f.warning_ms;
  m->critical_ms = f.critical_ms;
  m->recovery_runs = f.recovery_runs;
  m->action_timeout_ms = f.action_timeout_ms;
  return 0;
}

int cy_parse_monitors(struct ctx *x, const struct ynode *kn,
                      const struct ynode *n, struct mp_case *c)
{
  if (c->monitors)
    return cy_fail(x, kn, "a second %s:", kn->str);
  if (strcmp(kn->str, "monitor") == 0) {
    c->monitors = calloc(1, sizeof(*c->monitors));
    if (!c->monitors)
      return cy_oom(x);
    c->nmonitors = 1;
    return parse_monitor(x, kn, n, c, &c->monitors[0], 0);
  }
  if (n->kind != Y_SEQ || n->nkids == 0)
    return cy_wrong_type(x, "monitors", n, "a list of monitors");
  c->monitors = calloc(n->nkids, sizeof(*c->monitors));
  if (!c->monitors)
    return cy_oom(x);
  c->nmonitors = n->nkids;
  for (size_t i = 0; i < n->nkids; i++)
    if (parse_monitor(x, kn, n->kids[i], c, &c->monitors[i], 1) < 0)
      return -1;
  return 0;
}

/* ---- expect ---- */

static int get_states(struct ctx *x, const struct ynode *n,
                      struct mp_expect_monitor *e)
{
  char **v = NULL;
  size_t nv = 0;

  /* A list, or one string of names split on spaces. */
  if (n->kind == Y_SCALAR) {
    const char *s = n->str;
    while (*s) {
      while (*s == ' ')
        s++;
      size_t k = strcspn(s, " ");
      if (k && cy_strv_push(x, &v, &nv, s, k) < 0) {
        cy_free_strv(v, nv);
        return -1;
      }
      s += k;
    }
  } else if (cy_get_strv(x, "states", n, 0, &v, &nv) < 0) {
    return -1;
  }
  e->states = calloc(nv ? nv : 1, sizeof(*e->states));
  if (!e->states) {
    cy_free_strv(v, nv);
    return cy_oom(x);
  }
  e->nstates = nv;
  for (size_t i = 0; i < nv; i++) {
    int st = mp_mon_state_from_name(v[i]);
    if (st < 0) {
      cy_fail(x, n, "states: '%s' is not up, warn, down or lost",
              cy_show(x, v[i], strlen(v[i])));
      cy_free_strv(v, nv);
      return -1;
    }
    e->states[i] = st;
  }
  cy_free_strv(v, nv);
  return 0;
}

static int get_tests(struct ctx *x, const char *key, const struct ynode *n,
                     unsigned **out, size_t *nout)
{
  long long num;
  if (n->kind != Y_SEQ)
    return cy_wrong_type(x, key, n, "a list of test numbers");
  *out = calloc(n->nkids ? n->nkids : 1, sizeof(**out));
  if (!*out)
    return cy_oom(x);
  *nout = n->nkids;
  for (size_t i = 0; i < n->nkids; i++) {
    if (cy_get_int(x, key, n->kids[i], 1, MAX_TESTS, &num) < 0)
      return -1;
    (*out)[i] = (unsigned)num;
  }
  return 0;
}

static int get_action(struct ctx *x, const struct ynode *n,
                      struct mp_expect_action *a)
{
  static const char *const keys[] = {"test",    "action", "exit", "timed_out",
                                     "started", "env",    NULL};
  const struct ynode *v;
  long long num;

  a->line = n->line;
  a->timed_out = -1;
  a->started = -1;
  if (cy_want_map(x, "actions", n) < 0 ||
      cy_check_keys(x, n, "an action", keys) < 0)
    return -1;
  if ((v = cy_get(n, "test")) == NULL || (cy_get(n, "action")) == NULL)
    return cy_fail(x, n, "an action names its test: and action:");
  if (cy_get_int(x, "test", v, 1, MAX_TESTS, &num) < 0)
    return -1;
  a->test = (unsigned)num;
  if (cy_get_enum(x, "action", cy_get(n, "action"), action_kinds, &a->kind) < 0)
    return -1;
  if ((v = cy_get(n, "exit")) != NULL) {
    if (cy_get_int(x, "exit", v, 0, 255, &num) < 0)
      return -1;
    a->has_exit = 1;
    a->exit = num;
  }
  if ((v = cy_get(n, "timed_out")) != NULL &&
      cy_get_bool(x, "timed_out", v, &a->timed_out) < 0)
    return -1;
  if ((v = cy_get(n, "started")) != NULL &&
      cy_get_bool(x, "started", v, &a->started) < 0)
    return -1;
  if ((v = cy_get(n, "env")) != NULL) {
    if (cy_want_map(x, "env", v) < 0 || cy_check_keys(x, v, "env", NULL) < 0)
      return -1;
    for (size_t i = 0; i < v->nkids; i += 2) {
      char *val = NULL, *pair;
      if (cy_get_str(x, v->kids[i]->str, v->kids[i + 1], 0, &val) < 0)
        return -1;
      size_t kl = strlen(v->kids[i]->str), vl = strlen(val);
      pair = malloc(kl + vl + 2);
      if (!pair) {
        free(val);
        return cy_oom(x);
      }
      memcpy(pair, v->kids[i]->str, kl);
      pair[kl] = '=';
      memcpy(pair + kl + 1, val, vl + 1);
      free(val);
      int rc = cy_strv_push(x, &a->env, &a->nenv, pair, kl + vl + 1);
      free(pair);
      if (rc < 0)
        return -1;
    }
  }
  return 0;
}

static int parse_one_expect(struct ctx *x, const struct ynode *n,
                            struct mp_expect_monitor *e)
{
  static const char *const keys[] = {"states",  "alerts", "recoveries",
                                     "actions", "late",   NULL};
  const struct ynode *v;

  e->line = n->line;
  e->late_max_us = -1;
  if (cy_want_map(x, "expect", n) < 0 ||
      cy_check_keys(x, n, "expect (a monitor case)", keys) < 0)
    return -1;
  if ((v = cy_get(n, "states")) != NULL && get_states(x, v, e) < 0)
    return -1;
  if ((v = cy_get(n, "alerts")) != NULL) {
    e->has_alerts = 1;
    if (get_tests(x, "alerts", v, &e->alerts, &e->nalerts) < 0)
      return -1;
  }
  if ((v = cy_get(n, "recoveries")) != NULL) {
    e->has_recoveries = 1;
    if (get_tests(x, "recoveries", v, &e->recoveries, &e->nrecoveries) < 0)
      return -1;
  }
  if ((v = cy_get(n, "actions")) != NULL) {
    e->has_actions = 1;
    if (v->kind != Y_SEQ)
      return cy_wrong_type(x, "actions", v, "a list of actions");
    e->actions = calloc(v->nkids ? v->nkids : 1, sizeof(*e->actions));
    if (!e->actions)
      return cy_oom(x);
    e->nactions = v->nkids;
    for (size_t i = 0; i < v->nkids; i++)
      if (get_action(x, v->kids[i], &e->actions[i]) < 0)
        return -1;
  }
  if ((v = cy_get(n, "late")) != NULL) {
    static const char *const lkeys[] = {"max", NULL};
    const struct ynode *mx;
    uint64_t us;
    if (cy_want_map(x, "late", v) < 0 || cy_check_keys(x, v, "late", lkeys) < 0)
      return -1;
    if ((mx = cy_get(v, "max")) == NULL)
      return cy_fail(x, v, "late: give max:");
    if (cy_get_dur(x, "max", mx, &us) < 0)
      return -1;
    e->late_max_us = (int64_t)us;
  }
  if (!e->states && !e->has_alerts && !e->has_recoveries && !e->has_actions &&
      e->late_max_us < 0)
    return cy_fail(x, n,
                   "expect: says nothing (states, alerts, recoveries, "
                   "actions or late)");
  return 0;
}

int cy_parse_monitor_expect(struct ctx *x, const struct ynode *kn,
                            const struct ynode *n, struct mp_case *c)
{
  const struct ynode *ms;

  if (c->expect_monitors)
    return cy_fail(x, kn, "a second expect:");
  if (cy_want_map(x, "expect", n) < 0)
    return -1;
  ms = cy_get(n, "monitors");
  if (!ms) {
    if (c->nmonitors != 1)
      return cy_fail(x, n,
                     "with monitors:, expect: holds monitors: with what "
                     "each must do, by name");
    c->expect_monitors = calloc(1, sizeof(*c->expect_monitors));
    if (!c->expect_monitors)
      return cy_oom(x);
    c->nexpect_monitors = 1;
    c->expect_monitors[0].name = strdup(c->monitors[0].name);
    if (!c->expect_monitors[0].name)
      return cy_oom(x);
    return parse_one_expect(x, n, &c->expect_monitors[0]);
  }
  static const char *const keys[] = {"monitors", NULL};
  if (cy_check_keys(x, n, "expect", keys) < 0 ||
      !(c->expect_monitors = cy_entries(x, "monitors", ms, "expect.monitors",
                                        sizeof(*c->expect_monitors))))
    return -1;
  c->nexpect_monitors = ms->nkids / 2;
  for (size_t i = 0; i < ms->nkids; i += 2) {
    struct mp_expect_monitor *e = &c->expect_monitors[i / 2];
    const struct ynode *k = ms->kids[i];
    size_t m;
    for (m = 0; m < c->nmonitors; m++)
      if (strcmp(c->monitors[m].name, k->str) == 0)
        break;
    if (m == c->nmonitors)
      return cy_fail(x, k, "expect.monitors: no monitor named '%s'",
                     cy_shown(x, k));
    if (!(e->name = strdup(k->str)))
      return cy_oom(x);
    if (parse_one_expect(x, ms->kids[i + 1], e) < 0)
      return -1;
  }
  return 0;
}

void cy_free_monitors(struct mp_case *c)
{
  for (size_t i = 0; i < c->nmonitors; i++) {
    struct mp_case_monitor *m = &c->monitors[i];
    free(m->name);
    mp_case_probe_free(&m->check);
    for (int k = 0; k < 3; k++)
      cy_free_argv(m->argv[k]);
  }
  free(c->monitors);
  for (size_t i = 0; i < c->nexpect_monitors; i++) {
    struct mp_expect_monitor *e = &c->expect_monitors[i];
    free(e->name);
    free(e->states);
    free(e->alerts);
    free(e->recoveries);
    for (size_t k = 0; k < e->nactions; k++)
      cy_free_strv(e->actions[k].env, e->actions[k].nenv);
    free(e->actions);
  }
  free(c->expect_monitors);
  c->monitors = NULL;
  c->nmonitors = 0;
  c->expect_monitors = NULL;
  c->nexpect_monitors = 0;
}
