/* expect: in a case file: what must come out, into struct
 * mp_case_expect (docs/case-format.md "What must come out"). */
#include "harness/case/case_yaml.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>
#include "wire/cert.h"
#include "wire/errors.h"
#include "wire/sasl.h"

static const struct nv status_names[] = {{"fail", 0}, {"ok", 1}, {NULL, 0}};
static const struct nv phase_names[] = {
#define PHASE_NV(code, name) {name, MP_PHASE_##code},
    MP_PHASE_MAP(PHASE_NV)
#undef PHASE_NV
        {NULL, 0}};
static const struct nv error_names[] = {{"none", 0},
#define ERR_NV(code, val, name, msg) {name, val},
                                        MP_ERR_MAP(ERR_NV)
#undef ERR_NV
                                            {NULL, 0}};
/* POP3 and IMAP status words, as struct mp_result keeps them, and "none"
 * for no reply at all (code 0). */
static const struct nv reply_word_names[] = {
    {"+OK", 1}, {"-ERR", -1}, {"OK", 1},   {"NO", 2},
    {"BAD", 3}, {"BYE", 4},   {"none", 0}, {NULL, 0}};
static const struct nv tls_version_names[] = {{"TLSv1", 10},
                                              {"TLSv1.1", 11},
                                              {"TLSv1.2", 12},
                                              {"TLSv1.3", 13},
                                              {NULL, 0}};

/* ------------------------------------------------------------------ */
/* What must come out. */

static int get_bound(struct ctx *x, const char *key, const struct ynode *n,
                     struct mp_bound *b)
{
  static const char *const keys[] = {"min", "max", NULL};
  const struct ynode *v;
  uint64_t us;
  if (n->kind != Y_MAP)
    return cy_wrong_type(x, key, n, "{min: DUR, max: DUR}");
  if (cy_check_keys(x, n, key, keys) < 0)
    return -1;
  if (n->nkids == 0)
    return cy_fail(x, n, "'%s' needs min, max or both", key);
  if ((v = cy_get(n, "min")) != NULL) {
    if (cy_get_dur(x, "min", v, &us) < 0)
      return -1;
    b->min_us = (int64_t)us;
  }
  if ((v = cy_get(n, "max")) != NULL) {
    if (cy_get_dur(x, "max", v, &us) < 0)
      return -1;
    b->max_us = (int64_t)us;
    if (b->min_us > b->max_us)
      return cy_fail(x, v, "'%s': max is below min", key);
  }
  return 0;
}

static int get_expect_reply(struct ctx *x, const struct ynode *n,
                            struct mp_case_expect *e)
{
  static const char *const keys[] = {"code", "text", NULL};
  const struct ynode *code = n, *v = NULL;
  long long val;
  if (n->kind == Y_MAP) {
    if (cy_check_keys(x, n, "expect.reply", keys) < 0)
      return -1;
    if ((v = cy_get(n, "text")) != NULL &&
        cy_get_str(x, "text", v, 0, &e->reply_text) < 0)
      return -1;
    code = cy_get(n, "code");
    if (code == NULL && v == NULL)
      return cy_fail(x, n, "'reply' needs code, text or both");
  } else if (n->kind != Y_SCALAR) {
    return cy_wrong_type(x, "reply", n, "a code or {code: N, text: GLOB}");
  }
  if (code == NULL)
    return 0;
  e->has_reply_code = 1;
  if (code->kind == Y_SCALAR && !cy_is_null(code) &&
      !(code->plain && cy_is_int(code->str))) {
    for (size_t i = 0; reply_word_names[i].name != NULL; i++) {
      if (strcasecmp(code->str, reply_word_names[i].name) == 0) {
        e->reply_code = reply_word_names[i].val;
        if (e->reply_code == 0 && v != NULL)
          return cy_fail(x, v, "reply 'none' (no reply at all) has no text");
        return 0;
      }
    }
    return cy_fail(x, code,
                   "reply code '%s' must be a number (like 421) or one of "
                   "+OK, -ERR (pop3), OK, NO, BAD, BYE (imap), none (no "
                   "reply at all)",
                   cy_shown(x, code));
  }
  if (cy_get_int(x, "code", code, 1, 999, &val) < 0)
    return -1;
  e->reply_code = (int)val;
  return 0;
}

static int get_expect_auth(struct ctx *x, const struct ynode *n,
                           struct mp_case_expect *e)
{
  char *s = NULL;
  const char *canon = NULL;
  int m;
  if (cy_get_str(x, "auth", n, 0, &s) < 0)
    return -1;
  for (char *p = s; *p != '\0'; p++)
    *p = (char)toupper((unsigned char)*p);
  if (strcmp(s, "NONE") == 0)
    canon = "none";
  else if (strcmp(s, "USER") == 0 || strcmp(s, "APOP") == 0)
    canon = s;
  else if ((m = mp_sasl_from_name(s)) >= 0)
    canon = mp_sasl_name(m);
  if (canon == NULL) {
    char list[256];
    size_t o = 0;
    for (int i = 0; i < MP_SASL_COUNT && o < sizeof list; i++)
      o += (size_t)snprintf(list + o, sizeof list - o, "%s, ", mp_sasl_name(i));
    free(s);
    return cy_fail(x, n, "unknown auth '%s' (allowed: %sUSER, APOP, none)",
                   cy_shown(x, n), list);
  }
  e->auth = strdup(canon);
  free(s);
  return e->auth == NULL ? cy_oom(x) : 0;
}

static int get_expect_tls(struct ctx *x, const struct ynode *n,
                          struct mp_case_expect *e)
{
  static const char *const keys[] = {"version", "verified", "verify_error",
                                     NULL};
  const struct ynode *v;
  int ver;
  if (n->kind == Y_SCALAR)
    return cy_get_bool(x, "tls", n, &e->tls);
  if (n->kind != Y_MAP)
    return cy_wrong_type(x, "tls", n,
                         "true, false or {version, verified, verify_error}");
  if (cy_check_keys(x, n, "expect.tls", keys) < 0)
    return -1;
  e->tls = 1;
  if ((v = cy_get(n, "version")) != NULL) {
    if (cy_get_enum(x, "version", v, tls_version_names, &ver) < 0)
      return -1;
    for (size_t i = 0; tls_version_names[i].name != NULL; i++)
      if (tls_version_names[i].val == ver)
        e->tls_version = strdup(tls_version_names[i].name);
    if (e->tls_version == NULL)
      return cy_oom(x);
  }
  if ((v = cy_get(n, "verified")) != NULL &&
      cy_get_bool(x, "verified", v, &e->cert_verified) < 0)
    return -1;
  if (cy_opt_str(x, n, "verify_error", 0, NULL, &e->verify_error) < 0)
    return -1;
  if (n->nkids == 0)
    return cy_fail(x, n,
                   "'tls' needs version, verified, verify_error or "
                   "some of them");
  return 0;
}

static int get_expect_servers(struct ctx *x, const struct ynode *n,
                              struct mp_case *c)
{
  static const char *const keys[] = {"saw", "not_saw", "not_saw_in_clear",
                                     "sessions", NULL};
  struct mp_case_expect *e = &c->expect;
  if ((e->servers = cy_entries(x, "server", n, "expect.server",
                               sizeof *e->servers)) == NULL)
    return -1;
  for (size_t i = 0; i < n->nkids; i += 2) {
    struct mp_expect_server *s = &e->servers[e->nservers++];
    const struct ynode *kn = n->kids[i], *m = n->kids[i + 1], *v;
    long long sessions;
    char where[96];
    s->sessions = -1;
    s->line = kn->line;
    if (cy_server_ref(x, c, kn, "server") < 0 ||
        cy_get_str(x, "server", kn, 0, &s->server) < 0)
      return -1;
    snprintf(where, sizeof where, "expect.server.%s", s->server);
    if (cy_want_map(x, s->server, m) < 0 ||
        cy_check_keys(x, m, where, keys) < 0)
      return -1;
    if (m->nkids == 0)
      return cy_fail(x, m,
                     "expect.server.%s says nothing; give saw, not_saw, "
                     "not_saw_in_clear or sessions",
                     s->server);
    if ((v = cy_get(m, "saw")) != NULL &&
        cy_get_strv(x, "saw", v, 1, &s->saw, &s->nsaw) < 0)
      return -1;
    if ((v = cy_get(m, "not_saw")) != NULL &&
        cy_get_strv(x, "not_saw", v, 1, &s->not_saw, &s->nnot_saw) < 0)
      return -1;
    if ((v = cy_get(m, "not_saw_in_clear")) != NULL &&
        cy_get_strv(x, "not_saw_in_clear", v, 1, &s->not_saw_in_clear,
                    &s->nnot_saw_in_clear) < 0)
      return -1;
    if ((v = cy_get(m, "sessions")) != NULL) {
      if (cy_get_int(x, "sessions", v, 0, 1000000, &sessions) < 0)
        return -1;
      s->sessions = (int)sessions;
    }
  }
  return 0;
}

/* 1 if some server of the case knows user (its users, mailboxes or
 * delivery.redirect); names compare as the mail store does. */
static int known_mailbox(const struct mp_case *c, const char *user)
{
  for (size_t i = 0; i < c->nservers; i++) {
    const struct mp_fake_config *s = &c->servers[i];
    for (size_t k = 0; k < s->nusers; k++)
      if (strcasecmp(s->users[k].name, user) == 0)
        return 1;
    for (size_t k = 0; k < s->nmailboxes; k++)
      if (strcasecmp(s->mailboxes[k].user, user) == 0)
        return 1;
    if (s->delivery.redirect && strcasecmp(s->delivery.redirect, user) == 0)
      return 1;
  }
  return 0;
}

static int get_expect_mailboxes(struct ctx *x, const struct ynode *n,
                                struct mp_case *c)
{
  struct mp_case_expect *e = &c->expect;
  long long count;
  if ((e->mailboxes = cy_entries(x, "mailboxes", n, "expect.mailboxes",
                                 sizeof *e->mailboxes)) == NULL)
    return -1;
  if (n->nkids == 0)
    return cy_fail(x, n, "expect.mailboxes names no mailbox");
  for (size_t i = 0; i < n->nkids; i += 2) {
    struct mp_expect_mailbox *m = &e->mailboxes[e->nmailboxes++];
    const struct ynode *kn = n->kids[i];
    m->line = kn->line;
    if (cy_get_str(x, "mailboxes", kn, 0, &m->user) < 0)
      return -1;
    if (!known_mailbox(c, m->user))
      return cy_fail(x, kn,
                     "no server has a mailbox for '%s'; list the user under a "
                     "server's users or mailboxes",
                     m->user);
    if (cy_get_int(x, "messages", n->kids[i + 1], 0, 100000000, &count) < 0)
      return -1;
    m->messages = count;
  }
  return 0;
}

/* polls: N or {min: N, max: N}. */
static int get_polls(struct ctx *x, const struct ynode *n,
                     struct mp_case_expect *e)
{
  static const char *const keys[] = {"min", "max", NULL};
  const struct ynode *v;
  long long val;
  if (n->kind == Y_SCALAR) {
    if (cy_get_int(x, "polls", n, 0, 1000000, &val) < 0)
      return -1;
    e->polls_min = e->polls_max = val;
    return 0;
  }
  if (n->kind != Y_MAP)
    return cy_wrong_type(x, "polls", n, "a number or {min: N, max: N}");
  if (cy_check_keys(x, n, "polls", keys) < 0)
    return -1;
  if (n->nkids == 0)
    return cy_fail(x, n, "'polls' needs min, max or both");
  if ((v = cy_get(n, "min")) != NULL) {
    if (cy_get_int(x, "min", v, 0, 1000000, &val) < 0)
      return -1;
    e->polls_min = val;
  }
  if ((v = cy_get(n, "max")) != NULL) {
    if (cy_get_int(x, "max", v, 0, 1000000, &val) < 0)
      return -1;
    e->polls_max = val;
    if (e->polls_min > e->polls_max)
      return cy_fail(x, v, "'polls': max is below min");
  }
  return 0;
}

void cy_expect_init(struct mp_case_expect *e)
{
  e->status = -1;
  e->phase = -1;
  e->reply_code = -1;
  e->elapsed.min_us = e->elapsed.max_us = -1;
  for (int i = 0; i < MP_PHASE_COUNT; i++)
    e->timings[i].min_us = e->timings[i].max_us = -1;
  e->tls = -1;
  e->cert_verified = -1;
  e->messages = -1;
  e->delivery.min_us = e->delivery.max_us = -1;
  e->polls_min = e->polls_max = -1;
}

/* The keys about one result, into e: status (required when need_status)
 * ... polls. The map's keys were checked by the caller. */
static int parse_expect_result(struct ctx *x, const struct ynode *kn,
                               const struct ynode *n, const struct mp_case *c,
                               struct mp_case_expect *e, int need_status,
                               const char *where)
{
  static const char *const rt_keys[] = {"delivery", "found", "deleted", "polls",
                                        NULL};
  const struct ynode *v, *err = NULL;
  long long count;

  e->line = kn->line;
  for (size_t i = 0; i < n->nkids; i += 2) {
    const struct ynode *k = n->kids[i];
    if (c->probe.type != MP_CASE_ROUNDTRIP && cy_in_list(k->str, rt_keys))
      return cy_fail(x, k, "'%s' is for roundtrip probes (type: roundtrip)",
                     cy_shown(x, k));
  }
  if ((v = cy_get(n, "status")) == NULL) {
    if (need_status)
      return cy_fail(x, kn, "%s: missing required key 'status' (ok or fail)",
                     where);
  } else if (cy_get_enum(x, "status", v, status_names, &e->status) < 0) {
    return -1;
  }
  if ((err = cy_get(n, "error")) != NULL) {
    if (cy_get_enum(x, "error", err, error_names, &e->error) < 0)
      return -1;
    e->has_error = 1;
    if (e->status == 1 && e->error != 0)
      return cy_fail(x, err, "status ok goes with error: none, not '%s'",
                     cy_shown(x, err));
    if (e->status == 0 && e->error == 0)
      return cy_fail(x, err, "status fail needs an error name, not none");
  }
  if (cy_opt_enum(x, n, "phase", phase_names, e->phase, &e->phase) < 0)
    return -1;
  if ((v = cy_get(n, "reply")) != NULL && get_expect_reply(x, v, e) < 0)
    return -1;
  if ((v = cy_get(n, "elapsed")) != NULL &&
      get_bound(x, "elapsed", v, &e->elapsed) < 0)
    return -1;
  if ((v = cy_get(n, "timings")) != NULL) {
    if (cy_want_map(x, "timings", v) < 0 ||
        cy_check_keys(x, v, "expect.timings", NULL) < 0)
      return -1;
    for (size_t i = 0; i < v->nkids; i += 2) {
      int ph;
      if (cy_get_enum(x, "phase", v->kids[i], phase_names, &ph) < 0 ||
          get_bound(x, v->kids[i]->str, v->kids[i + 1], &e->timings[ph]) < 0)
        return -1;
    }
  }
  if ((v = cy_get(n, "auth")) != NULL && get_expect_auth(x, v, e) < 0)
    return -1;
  if ((v = cy_get(n, "tls")) != NULL && get_expect_tls(x, v, e) < 0)
    return -1;
  if ((v = cy_get(n, "messages")) != NULL) {
    if (cy_get_int(x, "messages", v, 0, 100000000, &count) < 0)
      return -1;
    e->messages = count;
  }
  if ((v = cy_get(n, "warn")) != NULL) {
    if (cy_get_bool(x, "warn", v, &e->warn) < 0)
      return -1;
    e->has_warn = 1;
  }
  if (cy_opt_str(x, n, "detail", 0, NULL, &e->detail) < 0)
    return -1;
  if ((v = cy_get(n, "delivery")) != NULL) {
    if (get_bound(x, "delivery", v, &e->delivery) < 0)
      return -1;
    e->has_delivery = 1;
  }
  if ((v = cy_get(n, "found")) != NULL) {
    if (cy_get_int(x, "found", v, 0, 1000000, &count) < 0)
      return -1;
    e->found = count;
    e->has_found = 1;
  }
  if ((v = cy_get(n, "deleted")) != NULL) {
    if (cy_get_int(x, "deleted", v, 0, 1000000, &count) < 0)
      return -1;
    e->deleted = count;
    e->has_deleted = 1;
  }
  if ((v = cy_get(n, "polls")) != NULL) {
    if (get_polls(x, v, e) < 0)
      return -1;
    e->has_polls = 1;
  }
  return 0;
}

#define RESULT_KEYS                                                            \
  "status", "error", "phase", "reply", "elapsed", "timings", "auth", "tls",    \
      "messages", "warn", "detail", "delivery", "found", "deleted", "polls"

/* expect.runs: one map per run. */
static int get_expect_runs(struct ctx *x, const struct ynode *kn,
                           const struct ynode *n, struct mp_case *c)
{
  static const char *const keys[] = {RESULT_KEYS, NULL};
  struct mp_case_expect *e = &c->expect;
  unsigned runs = c->probe.rt ? c->probe.rt->runs : 1;
  char where[48];

  if (runs < 2)
    return cy_fail(x, kn,
                   "expect.runs is one expectation per run; it goes with "
                   "probe.runs: 2 or more");
  if (n->kind != Y_SEQ)
    return cy_wrong_type(x, "runs", n, "a list (one map per run)");
  if (n->nkids != runs)
    return cy_fail(x, n, "expect.runs has %zu item%s but probe.runs is %u",
                   n->nkids, n->nkids == 1 ? "" : "s", runs);
  e->runs = calloc(runs, sizeof *e->runs);
  if (e->runs == NULL)
    return cy_oom(x);
  for (size_t i = 0; i < n->nkids; i++) {
    const struct ynode *it = n->kids[i];
    struct mp_case_expect *r = &e->runs[e->nruns++];
    cy_expect_init(r);
    snprintf(where, sizeof where, "expect.runs[%zu]", i + 1);
    if (it->kind != Y_MAP)
      return cy_fail(x, it,
                     "each item of expect.runs must be a map (status: "
                     "..., ...), not %s",
                     cy_describe(it));
    if (cy_check_keys(x, it, where, keys) < 0 ||
        parse_expect_result(x, it, it, c, r, 1, where) < 0)
      return -1;
  }
  return 0;
}

/* A size: bytes as a whole number, or a number with a unit: B, KiB, MiB,
 * GiB (powers of 1024), like 4MiB. */
static int get_size(struct ctx *x, const char *key, const struct ynode *n,
                    uint64_t *out)
{
  static const struct {
    const char *unit;
    uint64_t mul;
  } units[] = {{"", 1},
               {"B", 1},
               {"KiB", 1024},
               {"MiB", 1024 * 1024},
               {"GiB", 1024 * 1024 * 1024}};
  char *end;
  unsigned long long v;

  if (n->kind != Y_SCALAR || cy_is_null(n) ||
      !isdigit((unsigned char)n->str[0]))
    return cy_wrong_type(x, key, n, "a size (bytes, or like 512KiB or 4MiB)");
  errno = 0;
  v = strtoull(n->str, &end, 10);
  for (size_t i = 0; errno == 0 && i < sizeof units / sizeof units[0]; i++) {
    if (strcmp(end, units[i].unit) != 0)
      continue;
    if (v == 0 || v > (1ull << 40) / units[i].mul)
      return cy_fail(x, n, "'%s' must be more than 0 and at most 1024GiB", key);
    *out = v * units[i].mul;
    return 0;
  }
  return cy_fail(x, n,
                 "'%s': a size is a whole number of bytes or one with a unit "
                 "B, KiB, MiB or GiB and no space, like 4MiB, not '%s'",
                 key, cy_shown(x, n));
}

/* expect.memory: {max: SIZE}. */
static int get_expect_memory(struct ctx *x, const struct ynode *n,
                             struct mp_case_expect *e)
{
  static const char *const keys[] = {"max", NULL};
  const struct ynode *v;

  if (cy_want_map(x, "memory", n) < 0 ||
      cy_check_keys(x, n, "memory", keys) < 0)
    return -1;
  if ((v = cy_get(n, "max")) == NULL)
    return cy_fail(x, n, "memory: missing required key 'max' (like max: 4MiB)");
  if (get_size(x, "max", v, &e->memory_max) < 0)
    return -1;
  e->has_memory = 1;
  return 0;
}

int cy_parse_expect(struct ctx *x, const struct ynode *kn,
                    const struct ynode *n, struct mp_case *c)
{
  static const char *const keys[] = {RESULT_KEYS, "runs",   "mailboxes",
                                     "server",    "memory", NULL};
  struct mp_case_expect *e = &c->expect;
  const struct ynode *v;

  e->line = kn->line;
  if (cy_want_map(x, "expect", n) < 0 ||
      cy_check_keys(x, n, "expect", keys) < 0)
    return -1;
  if (parse_expect_result(x, kn, n, c, e, cy_get(n, "runs") == NULL, "expect") <
      0)
    return -1;
  for (size_t i = 0; i < n->nkids; i += 2)
    if (strcmp(n->kids[i]->str, "runs") == 0 &&
        get_expect_runs(x, n->kids[i], n->kids[i + 1], c) < 0)
      return -1;
  if ((v = cy_get(n, "mailboxes")) != NULL && get_expect_mailboxes(x, v, c) < 0)
    return -1;
  if ((v = cy_get(n, "memory")) != NULL && get_expect_memory(x, v, e) < 0)
    return -1;
  if ((v = cy_get(n, "server")) != NULL && get_expect_servers(x, v, c) < 0)
    return -1;
  return 0;
}
