/* Comparing a probe's result with a case's expect: (harness/run/compare.h,
 * harness/run/runner.h). Pure: no loop, no servers. */
#include "harness/run/compare.h"

#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "harness/case/case.h"
#include "harness/run/runner.h"
#include "probes/result.h"
#include "wire/errors.h"

void mp_diff_vadd(char ***v, size_t *n, const char *prefix, const char *fmt,
                  va_list ap)
{
  char buf[1024], line[1024];
  char **nv;
  char *s;

  vsnprintf(buf, sizeof(buf), fmt, ap);
  snprintf(line, sizeof(line), "%s%s", prefix, buf);
  s = strdup(line);
  nv = realloc(*v, (*n + 1) * sizeof(*nv));
  if (!s || !nv) {
    free(s);
    if (nv)
      *v = nv;
    return;
  }
  *v = nv;
  nv[(*n)++] = s;
}

void mp_diff_add(char ***v, size_t *n, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  mp_diff_vadd(v, n, "", fmt, ap);
  va_end(ap);
}

/* "1.5s", "250ms", "0s" for messages. */
static const char *fmt_us(char *buf, size_t len, uint64_t us)
{
  if (us >= 1000000 || us == 0)
    snprintf(buf, len, "%gs", (double)us / 1e6);
  else
    snprintf(buf, len, "%gms", (double)us / 1e3);
  return buf;
}

static const char *err_name(int err)
{
  const char *s;

  if (err == 0)
    return "none";
  s = mp_err_name(err);
  return s ? s : "unknown";
}

/* Where the diffs of one comparison go, and what starts each ("run 2: "
 * for a round trip run several times). */
struct cmp {
  char ***v;
  size_t *n;
  const char *prefix;
};

__attribute__((format(printf, 2, 3))) static void cdiff(struct cmp *k,
                                                        const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  mp_diff_vadd(k->v, k->n, k->prefix, fmt, ap);
  va_end(ap);
}

static void check_bound(struct cmp *k, const char *what,
                        const struct mp_bound *b, uint64_t got)
{
  char e[32], g[32];

  if (b->min_us >= 0 && got < (uint64_t)b->min_us)
    cdiff(k, "%s: expected at least %s, got %s", what,
          fmt_us(e, sizeof(e), (uint64_t)b->min_us), fmt_us(g, sizeof(g), got));
  if (b->max_us >= 0 && got > (uint64_t)b->max_us)
    cdiff(k, "%s: expected at most %s, got %s", what,
          fmt_us(e, sizeof(e), (uint64_t)b->max_us), fmt_us(g, sizeof(g), got));
}

int mp_glob_match(const char *pattern, const char *text)
{
  return fnmatch(pattern, text ? text : "", FNM_CASEFOLD) == 0;
}

/* A reply code in a message: "-ERR" for POP3's -1, else the number. */
static const char *code_str(char *buf, size_t len, int code)
{
  if (code == -1)
    return "-ERR";
  snprintf(buf, len, "%d", code);
  return buf;
}

static void check_count(struct cmp *k, const char *what, int64_t want,
                        int64_t got)
{
  if (want == got)
    return;
  if (got < 0)
    cdiff(k, "%s: expected %" PRId64 ", got unknown", what, want);
  else
    cdiff(k, "%s: expected %" PRId64 ", got %" PRId64, what, want, got);
}

/* One expectation against one result. */
static void compare_expect(struct cmp *k, const struct mp_case_expect *e,
                           const struct mp_result *r)
{
  char what[64], c1[16], c2[16];
  int p;

  if (e->status >= 0 && e->status != (r->ok ? 1 : 0)) {
    if (r->ok)
      cdiff(k, "status: expected fail, got ok");
    else
      cdiff(k, "status: expected ok, got fail (%s in %s%s%s)", err_name(r->err),
            mp_phase_name(r->phase), r->detail ? ": " : "",
            r->detail ? r->detail : "");
  }
  if (e->has_error && e->error != r->err)
    cdiff(k, "error: expected %s, got %s", err_name(e->error),
          err_name(r->err));
  if (e->phase >= 0 && e->phase != (int)r->phase)
    cdiff(k, "phase: expected %s, got %s",
          mp_phase_name((enum mp_phase)e->phase), mp_phase_name(r->phase));
  if ((e->has_reply_code || e->reply_code > 0) &&
      e->reply_code != r->reply_code) {
    if (e->reply_code == 0)
      cdiff(k, "reply code: expected no reply, got %s",
            code_str(c2, sizeof(c2), r->reply_code));
    else if (r->reply_code == 0)
      cdiff(k, "reply code: expected %s, got no reply",
            code_str(c1, sizeof(c1), e->reply_code));
    else
      cdiff(k, "reply code: expected %s, got %s",
            code_str(c1, sizeof(c1), e->reply_code),
            code_str(c2, sizeof(c2), r->reply_code));
  }
  if (e->reply_text &&
      (!r->reply_text || !mp_glob_match(e->reply_text, r->reply_text)))
    cdiff(k, "reply text: expected \"%s\", got %s%s%s", e->reply_text,
          r->reply_text ? "\"" : "", r->reply_text ? r->reply_text : "none",
          r->reply_text ? "\"" : "");
  check_bound(k, "elapsed", &e->elapsed, r->total_us);
  for (p = 0; p < MP_PHASE_COUNT; p++) {
    const struct mp_bound *b = &e->timings[p];

    if (b->min_us < 0 && b->max_us < 0)
      continue;
    snprintf(what, sizeof(what), "timings.%s", mp_phase_name((enum mp_phase)p));
    if (r->timings_us[p] < 0)
      cdiff(k, "%s: expected a time, but the phase did not run", what);
    else
      check_bound(k, what, b, (uint64_t)r->timings_us[p]);
  }
  if (e->auth) {
    int want_none = strcasecmp(e->auth, "none") == 0;

    if (want_none ? r->auth != NULL
                  : (!r->auth || strcasecmp(e->auth, r->auth) != 0))
      cdiff(k, "auth: expected %s, got %s", e->auth,
            r->auth ? r->auth : "none");
  }
  if (e->tls >= 0 && e->tls != (r->tls_used ? 1 : 0))
    cdiff(k, "tls: expected %s, got %s", e->tls ? "true" : "false",
          r->tls_used ? "true" : "false");
  if (e->tls_version &&
      (!r->tls_used || strcasecmp(e->tls_version, r->tls.version) != 0))
    cdiff(k, "tls version: expected %s, got %s", e->tls_version,
          r->tls_used ? r->tls.version : "no TLS");
  if (e->cert_verified >= 0) {
    if (!r->tls_used)
      cdiff(k, "cert verified: expected %s, got no TLS",
            e->cert_verified ? "true" : "false");
    else if (e->cert_verified != (r->tls.verified ? 1 : 0))
      cdiff(k, "cert verified: expected %s, got %s%s%s%s",
            e->cert_verified ? "true" : "false",
            r->tls.verified ? "true" : "false",
            r->tls.verify_error[0] ? " (" : "", r->tls.verify_error,
            r->tls.verify_error[0] ? ")" : "");
  }
  if (e->verify_error) {
    if (!r->tls_used)
      cdiff(k, "tls verify error: expected \"%s\", got no TLS",
            e->verify_error);
    else if (!mp_glob_match(e->verify_error, r->tls.verify_error))
      cdiff(k, "tls verify error: expected \"%s\", got %s%s%s", e->verify_error,
            r->tls.verify_error[0] ? "\"" : "",
            r->tls.verify_error[0] ? r->tls.verify_error : "none (verified)",
            r->tls.verify_error[0] ? "\"" : "");
  }
  if (e->messages >= 0)
    check_count(k, "messages", e->messages, r->messages);
  if (e->has_warn && e->warn != (r->warn ? 1 : 0))
    cdiff(k, "warn: expected %s, got %s%s%s%s", e->warn ? "true" : "false",
          r->warn ? "true" : "false", r->detail ? " (" : "",
          r->detail ? r->detail : "", r->detail ? ")" : "");
  if (e->detail && (!r->detail || !mp_glob_match(e->detail, r->detail)))
    cdiff(k, "detail: expected \"%s\", got %s%s%s", e->detail,
          r->detail ? "\"" : "", r->detail ? r->detail : "none",
          r->detail ? "\"" : "");
  if (e->has_delivery) {
    if (r->delivery_us < 0)
      cdiff(k, "delivery: expected a time, but the message was not seen");
    else
      check_bound(k, "delivery", &e->delivery, (uint64_t)r->delivery_us);
  }
  if (e->has_found)
    check_count(k, "found", e->found, r->found);
  if (e->has_deleted)
    check_count(k, "deleted", e->deleted, r->deleted);
  if (e->has_polls && e->polls_min >= 0 && (int64_t)r->polls < e->polls_min)
    cdiff(k, "polls: expected at least %" PRId64 ", got %u", e->polls_min,
          r->polls);
  if (e->has_polls && e->polls_max >= 0 && (int64_t)r->polls > e->polls_max)
    cdiff(k, "polls: expected at most %" PRId64 ", got %u", e->polls_max,
          r->polls);
}

void mp_run_compare(const struct mp_case *c, const struct mp_result *r,
                    char ***v, size_t *n)
{
  struct cmp k = {v, n, ""};

  compare_expect(&k, &c->expect, r);
}

void mp_run_compare_run(const struct mp_case *c, unsigned run,
                        const struct mp_result *r, char ***v, size_t *n)
{
  unsigned runs = c->probe.rt ? c->probe.rt->runs : 1;
  char prefix[32] = "";
  struct cmp k = {v, n, prefix};

  if (runs > 1)
    snprintf(prefix, sizeof(prefix), "run %u: ", run + 1);
  compare_expect(&k, &c->expect, r);
  if (run < c->expect.nruns)
    compare_expect(&k, &c->expect.runs[run], r);
}
