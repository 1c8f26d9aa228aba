/* The case-file parser (docs/case-format.md). Two passes: libyaml's events
 * become a small tree of nodes that keep their 1-based line and column,
 * then the tree becomes struct mp_case, checking every key, type and value
 * on the way, so that a mistake is an error naming file:line:column and
 * never a silent default. Pure: no event loop, no network. */
#include "harness/case/case.h"

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

#include "harness/case/case_yaml.h"

/* ------------------------------------------------------------------ */
/* The whole case. */

static void case_init(struct mp_case *c)
{
  cy_expect_init(&c->expect);
}

/* A required top-level section: every "key:" of root goes to parse (which
 * sees the key's node too, to refuse a repeat), and none at all is an
 * error that says what the section is for. */
static int parse_required(struct ctx *x, const struct ynode *root,
                          const char *key,
                          int (*parse)(struct ctx *, const struct ynode *,
                                       const struct ynode *, struct mp_case *),
                          struct mp_case *c, const char *what)
{
  for (size_t i = 0; i < root->nkids; i += 2)
    if (strcmp(root->kids[i]->str, key) == 0 &&
        parse(x, root->kids[i], root->kids[i + 1], c) < 0)
      return -1;
  if (cy_get(root, key) == NULL)
    return cy_fail_at(x, root->line, root->col,
                      "missing required key '%s' (%s)", key, what);
  return 0;
}

static int parse_root(struct ctx *x, const struct ynode *root,
                      struct mp_case *c)
{
  static const char *const keys[] = {"name",    "description", "tags",
                                     "servers", "probe",       "expect",
                                     "monitor", "monitors",    NULL};
  const struct ynode *v;
  int got;

  if (root == NULL || cy_is_null(root))
    return cy_fail_at(x, 1, 1,
                      "the file is empty; a case needs at least probe "
                      "and expect");
  if (root->kind != Y_MAP)
    return cy_fail(x, root,
                   "the top level must be a map (name:, servers:, probe:, "
                   "expect:), not %s",
                   cy_describe(root));
  if (cy_check_keys(x, root, "the top level", keys) < 0)
    return -1;
  if ((got = cy_opt_str(x, root, "name", 0, NULL, &c->name)) < 0)
    return -1;
  if (!got && (c->name = cy_file_stem(x->file)) == NULL)
    return cy_oom(x);
  if (cy_opt_str(x, root, "description", 1, NULL, &c->description) < 0)
    return -1;
  if ((v = cy_get(root, "tags")) != NULL &&
      cy_get_strv(x, "tags", v, 0, &c->tags, &c->ntags) < 0)
    return -1;
  if ((v = cy_get(root, "servers")) != NULL && cy_parse_servers(x, v, c) < 0)
    return -1;
  const char *mon_key = cy_get(root, "monitor")    ? "monitor"
                        : cy_get(root, "monitors") ? "monitors"
                                                   : NULL;
  if (mon_key) {
    /* A monitor case: its monitors instead of probe:. */
    if ((v = cy_get(root, "probe")) != NULL)
      return cy_fail(x, v,
                     "probe: and %s: do not go together (a monitor's "
                     "check is its check:)",
                     mon_key);
    if (cy_get(root, "monitor") && cy_get(root, "monitors"))
      return cy_fail(x, cy_get(root, "monitors"),
                     "monitor: and monitors: do not go together");
    if (parse_required(x, root, mon_key, cy_parse_monitors, c,
                       "the monitors to run") < 0)
      return -1;
    return parse_required(x, root, "expect", cy_parse_monitor_expect, c,
                          "what the monitors must do");
  }
  if (parse_required(x, root, "probe", cy_parse_probe, c, "what to run") < 0)
    return -1;
  return parse_required(x, root, "expect", cy_parse_expect, c,
                        "what must come out");
}

static int parse_root_doc(struct ctx *x, const struct ynode *root, void *c)
{
  return parse_root(x, root, c);
}

int mp_case_parse(const char *buf, size_t len, const char *name,
                  struct mp_case **out, char *err, size_t errlen)
{
  struct mp_case *c;
  int rc;

  name = name ? name : "<case>";
  *out = NULL;
  if (len > MP_CASE_MAX_BYTES)
    return cy_doc_too_big(name, len, MP_CASE_MAX_BYTES,
                          "; a case file is a few dozen lines", err, errlen);
  c = calloc(1, sizeof *c);
  if (c == NULL || (c->file = strdup(name)) == NULL) {
    free(c);
    snprintf(err, errlen, "%s: out of memory", name);
    return MP_E_NO_RESOURCES;
  }
  case_init(c);
  rc = cy_parse_doc(buf, len, c->file, parse_root_doc, c, err, errlen);
  if (rc < 0) {
    mp_case_free(c);
    return rc;
  }
  *out = c;
  return 0;
}

int mp_case_load(const char *path, struct mp_case **out, char *err,
                 size_t errlen)
{
  char *buf;
  size_t len;
  int rc;

  *out = NULL;
  rc = cy_read_file(path, MP_CASE_MAX_BYTES, "case file", &buf, &len, err,
                    errlen);
  if (rc < 0)
    return rc;
  rc = mp_case_parse(buf, len, path, out, err, errlen);
  free(buf);
  return rc;
}

void mp_case_probe_free(struct mp_case_probe *p)
{
  free(p->server);
  free(p->target);
  free(p->user);
  if (p->password != NULL)
    memset(p->password, 0, strlen(p->password));
  free(p->password);
  if (p->token != NULL)
    memset(p->token, 0, strlen(p->token));
  free(p->token);
  if (p->client_secret != NULL)
    memset(p->client_secret, 0, strlen(p->client_secret));
  if (p->refresh_token != NULL)
    memset(p->refresh_token, 0, strlen(p->refresh_token));
  free(p->idp);
  free(p->client_id);
  free(p->client_secret);
  free(p->refresh_token);
  free(p->oauth_scope);
  free(p->password_file);
  free(p->password_env);
  free(p->helo);
  free(p->servername);
  free(p->cafile);
  free(p->host);
  free(p->dns_server);
  for (size_t i = 0; i < p->nhosts; i++) {
    free((char *)p->hosts[i].ip);
    free((char *)p->hosts[i].name);
  }
  free(p->hosts);
  if (p->rt != NULL) {
    mp_case_probe_free(&p->rt->send);
    mp_case_probe_free(&p->rt->fetch);
    free(p->rt->state_file);
    free(p->rt->from);
    free(p->rt->to);
    free(p->rt->subject);
    free(p->rt->id);
    free(p->rt);
  }
}

/* What an expectation owns (not the struct itself). */
static void free_expect(struct mp_case_expect *e)
{
  free(e->reply_text);
  free(e->auth);
  free(e->tls_version);
  free(e->verify_error);
  free(e->detail);
  for (size_t i = 0; i < e->nruns; i++)
    free_expect(&e->runs[i]);
  free(e->runs);
  for (size_t i = 0; i < e->nmailboxes; i++)
    free(e->mailboxes[i].user);
  free(e->mailboxes);
  for (size_t i = 0; i < e->nservers; i++) {
    struct mp_expect_server *s = &e->servers[i];
    free(s->server);
    cy_free_strv(s->saw, s->nsaw);
    cy_free_strv(s->not_saw, s->nnot_saw);
    cy_free_strv(s->not_saw_in_clear, s->nnot_saw_in_clear);
  }
  free(e->servers);
}

void mp_case_free(struct mp_case *c)
{
  if (c == NULL)
    return;
  free(c->file);
  free(c->name);
  free(c->description);
  cy_free_strv(c->tags, c->ntags);
  for (size_t i = 0; i < c->nservers; i++)
    mp_fake_config_free(&c->servers[i]);
  for (size_t i = 0; c->idps && i < c->nidps; i++)
    mp_idp_config_free(&c->idps[i]);
  free(c->idps);
  free(c->servers);
  for (size_t i = 0; i < c->nmail; i++) {
    free(c->mail[i].user);
    free(c->mail[i].data);
  }
  free(c->mail);
  mp_case_probe_free(&c->probe);
  cy_free_monitors(c);
  free_expect(&c->expect);
  free(c);
}

int mp_case_find_server(const struct mp_case *c, const char *name)
{
  for (size_t i = 0; i < c->nservers; i++)
    if (c->servers[i].name != NULL && strcmp(c->servers[i].name, name) == 0)
      return (int)i;
  return -1;
}

int mp_duration_parse(const char *text, uint64_t *us)
{
  static const struct {
    const char *unit;
    uint64_t us;
  } units[] = {{"", 1000000}, {"s", 1000000},     {"ms", 1000},
               {"us", 1},     {"m", 60000000ull}, {"h", 3600000000ull}};
  const char *p = text;
  uint64_t whole = 0, num = 0, den = 1, unit = 0, total;
  int sticky = 0;

  *us = 0;
  if (p == NULL || !isdigit((unsigned char)*p))
    return -1;
  for (; isdigit((unsigned char)*p); p++) {
    whole = whole * 10 + (uint64_t)(*p - '0');
    if (whole > MAX_DURATION_US)
      return -1;
  }
  if (*p == '.') {
    p++;
    if (!isdigit((unsigned char)*p))
      return -1;
    for (; isdigit((unsigned char)*p); p++) {
      if (den < 1000000000ull) {
        num = num * 10 + (uint64_t)(*p - '0');
        den *= 10;
      } else if (*p != '0') {
        sticky = 1;
      }
    }
  }
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
    if (strcmp(p, units[i].unit) == 0)
      unit = units[i].us;
  if (unit == 0 || whole > MAX_DURATION_US / unit)
    return -1;
  /* num < 10^9 and unit <= 3.6 * 10^9: the product fits in 64 bits. */
  total = whole * unit + num * unit / den;
  if ((num * unit) % den != 0 || sticky)
    total++;
  if (total > MAX_DURATION_US)
    return -1;
  *us = total;
  return 0;
}
