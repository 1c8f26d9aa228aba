/* Classing a subject's run (harness/subject/classify.h). The order of the
 * rules is the order of docs/subjects.md: could not run (ERROR), killed
 * past its own timeout (FAIL), said it cannot (UNSUPPORTED), no verdict
 * (ERROR), what the servers saw (FAIL), the wrong status (FAIL), then
 * the reason and the time (NON-STRICT), else PASS. */
#include "harness/subject/classify.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/case/case.h"
#include "harness/report/matrix.h"
#include "wire/errors.h"

/* Slack over the given timeout before "slower than its timeout" when the
 * case sets no elapsed bound: a probe ending at its timeout is on time. */
#define ON_TIME_SLACK_MS 500

static int matches(const regex_t *rx, const struct mp_subject_run *r)
{
  return (r->out && regexec(rx, r->out, 0, NULL, 0) == 0) ||
         (r->err && regexec(rx, r->err, 0, NULL, 0) == 0);
}

enum mp_verdict mp_subject_verdict(const struct mp_subject *s,
                                   const struct mp_subject_run *r, int *named)
{
  enum mp_verdict v = MP_VERDICT_NONE;
  size_t i;

  *named = 0;
  for (i = 0; i < s->nerrors; i++)
    if (matches(&s->errors[i].rx, r)) {
      *named = s->errors[i].err;
      break;
    }
  if (!r->term_signal && r->exit_status >= 0 && r->exit_status < 256)
    v = (enum mp_verdict)s->exit_map[r->exit_status];
  if (v == MP_VERDICT_ERROR)
    return v; /* not found, not executable: its output says nothing */
  if (s->has_unsupported_rx && matches(&s->unsupported_rx, r))
    return MP_VERDICT_UNSUPPORTED;
  if (s->has_fail_rx && matches(&s->fail_rx, r))
    return MP_VERDICT_FAIL;
  if (s->has_ok_rx && matches(&s->ok_rx, r))
    return MP_VERDICT_OK;
  return v;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
  va_list ap;
  char *s = NULL;

  va_start(ap, f);
  if (vasprintf(&s, f, ap) < 0)
    s = NULL;
  va_end(ap);
  return s;
}

static void set(struct mp_cell *cell, enum mp_class cls, char *reason)
{
  cell->cls = cls;
  free(cell->reason);
  cell->reason = reason;
}

void mp_subject_unsupported(struct mp_cell *cell, const char *why)
{
  set(cell, MP_CLASS_UNSUPPORTED, strdup(why));
}

/* The expected status and error as words ("fail (timeout)"). */
static const char *expected(const struct mp_case *c, char *buf, size_t len)
{
  const char *e = c->expect.has_error && c->expect.error
                      ? mp_err_name(c->expect.error)
                      : NULL;
  snprintf(buf, len, "%s%s%s%s", c->expect.status ? "ok" : "fail",
           e ? " (" : "", e ? e : "", e ? ")" : "");
  return buf;
}

/* 1 if the profile has a regex naming err. */
static int can_name(const struct mp_subject *s, int err)
{
  size_t i;

  for (i = 0; i < s->nerrors; i++)
    if (s->errors[i].err == err)
      return 1;
  return 0;
}

void mp_subject_classify(const struct mp_subject *s, const struct mp_case *c,
                         const struct mp_subject_run *r,
                         char *const *server_diffs, size_t ndiffs,
                         struct mp_cell *cell)
{
  const struct mp_case_expect *e = &c->expect;
  double ms = (double)r->elapsed_us / 1000.0;
  uint64_t bound_ms;
  enum mp_verdict v;
  char want[64];
  int named;

  cell->seconds = ms / 1000.0;
  cell->timeout_s = (double)r->given_timeout_ms / 1000.0;
  if (r->spawn_error) {
    set(cell, MP_CLASS_ERROR, strdup("could not run"));
    cell->detail = strdup(r->spawn_error);
    return;
  }
  v = mp_subject_verdict(s, r, &named);
  free(cell->verdict);
  cell->verdict = strdup(mp_verdict_name(v));
  free(cell->named);
  cell->named = named ? strdup(mp_err_name(named)) : NULL;
  if (r->termed) {
    set(cell, MP_CLASS_FAIL,
        strdup("ran past its own timeout plus grace and was killed"));
    cell->detail =
        fmt("ran %.3f s; its timeout was %.3f s, grace %.3f s", ms / 1000.0,
            (double)r->given_timeout_ms / 1000.0, (double)r->grace_ms / 1000.0);
    return;
  }
  if (v == MP_VERDICT_ERROR) {
    set(cell, MP_CLASS_ERROR, strdup("the command could not run"));
    cell->detail = fmt("exit status %" PRId64, r->exit_status);
    return;
  }
  if (v == MP_VERDICT_UNSUPPORTED) {
    set(cell, MP_CLASS_UNSUPPORTED, strdup("the subject said unsupported"));
    cell->detail = fmt("exit status %" PRId64, r->exit_status);
    return;
  }
  if (v == MP_VERDICT_NONE) {
    set(cell, MP_CLASS_ERROR,
        strdup("no verdict in its exit status or "
               "output"));
    cell->detail = r->term_signal ? fmt("killed by signal %d", r->term_signal)
                                  : fmt("exit status %" PRId64 " is not in the "
                                        "profile's verdict.exit",
                                        r->exit_status);
    return;
  }
  if (ndiffs > 0) {
    set(cell, MP_CLASS_FAIL, strdup(server_diffs[0]));
    return;
  }
  if (e->status >= 0 && (v == MP_VERDICT_OK) != (e->status == 1)) {
    set(cell, MP_CLASS_FAIL,
        fmt("status: expected %s, it said %s", expected(c, want, sizeof(want)),
            mp_verdict_name(v)));
    return;
  }
  /* The reason, where the subject can name one. */
  if (e->status == 0 && e->has_error && e->error && named != e->error &&
      (named || can_name(s, e->error))) {
    set(cell, MP_CLASS_NON_STRICT,
        fmt("error: expected %s, it named %s", mp_err_name(e->error),
            named ? mp_err_name(named) : "none"));
    return;
  }
  /* The time: the case's elapsed bound, or else its timeout. */
  bound_ms = e->elapsed.max_us >= 0 ? (uint64_t)e->elapsed.max_us / 1000
                                    : r->given_timeout_ms + ON_TIME_SLACK_MS;
  if (ms > (double)bound_ms) {
    set(cell, MP_CLASS_NON_STRICT,
        strdup("slower than the case's bound, ended by its own timeout"));
    cell->detail = fmt("took %.3f s, the bound is %.3f s (timeout given "
                       "%.3f s)",
                       ms / 1000.0, (double)bound_ms / 1000.0,
                       (double)r->given_timeout_ms / 1000.0);
    return;
  }
  if (e->elapsed.min_us >= 0 && ms * 1000.0 < (double)e->elapsed.min_us) {
    set(cell, MP_CLASS_NON_STRICT,
        strdup("faster than the case's lower "
               "bound"));
    cell->detail = fmt("took %.3f s, at least %.3f s expected", ms / 1000.0,
                       (double)e->elapsed.min_us / 1e6);
    return;
  }
  set(cell, MP_CLASS_PASS, NULL);
}

void mp_subject_classify_builtin(int passed, const char *parse_error,
                                 char *const *diffs, size_t ndiffs,
                                 struct mp_cell *cell)
{
  const char *colon;

  if (parse_error) {
    set(cell, MP_CLASS_ERROR, strdup("the case file did not parse"));
    cell->detail = strdup(parse_error);
    return;
  }
  if (passed) {
    set(cell, MP_CLASS_PASS, NULL);
    return;
  }
  /* The key of the first diff ("error", "elapsed", "server mx"): the
   * diff itself carries numbers that change from run to run. */
  if (ndiffs && (colon = strchr(diffs[0], ':')) != NULL)
    set(cell, MP_CLASS_FAIL, strndup(diffs[0], (size_t)(colon - diffs[0])));
  else
    set(cell, MP_CLASS_FAIL,
        strdup(ndiffs ? diffs[0] : "expectations not met"));
}
