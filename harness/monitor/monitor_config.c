/* Reading the monitor's config file (harness/monitor/monitor_config.h).
 * modules: is the module loader's; monitor: and monitors: are read here
 * through its section callbacks with the case parser's typed readers, so
 * messages look alike. A check by name is looked up once the file is
 * read (modules: may come after monitors:). */
#include "harness/monitor/monitor_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/case/case_yaml.h"
#include "harness/config/module.h"
#include "probes/target.h"

#define MAX_MONITORS 100000

/* One monitor as read, owning what its mp_mon_def points into. */
struct mp_mon_item {
  char *name;
  char *check_name; /* a module by name, or NULL */
  int check_line, check_col;
  struct mp_module inline_mod; /* an in-line check */
  int has_inline;
  char *target;
  int target_line, target_col;
  int line, col;
  char host[256];
  char target_shown[300];
  char **argv[MP_ACT_KINDS];
  uint64_t max_test_ms;
  int has_max_test;
};

struct reader {
  struct mp_monitor_file *f;
  size_t nitems;
};

static const char *const action_keys[MP_ACT_KINDS] = {"on_alert", "on_recovery",
                                                      "recovery"};

static int parse_settings(struct ctx *x, const struct ynode *kn,
                          const struct ynode *n, void *data)
{
  static const char *const keys[] = {"history", "state_file", "max_in_flight",
                                     NULL};
  struct reader *r = data;
  const struct ynode *v;
  long long num;

  (void)kn;
  if (cy_want_map(x, "monitor", n) < 0 ||
      cy_check_keys(x, n, "monitor", keys) < 0)
    return -1;
  if (cy_opt_str(x, n, "history", 0, NULL, &r->f->history) < 0 ||
      cy_opt_str(x, n, "state_file", 0, NULL, &r->f->state) < 0)
    return -1;
  if ((v = cy_get(n, "max_in_flight")) != NULL) {
    if (cy_get_int(x, "max_in_flight", v, 1, 100000, &num) < 0)
      return -1;
    r->f->max_in_flight = (unsigned)num;
  }
  return 0;
}

static int parse_monitor(struct ctx *x, const struct ynode *n, struct reader *r,
                         struct mp_mon_item *it, struct mp_mon_def *d)
{
  static const char *const keys[] = {"name", "check", "target",
                                     CY_MON_FIELD_KEYS, NULL};
  struct cy_mon_fields f;
  const struct ynode *v;

  it->line = n->line;
  it->col = n->col;
  if (cy_want_map(x, "monitors", n) < 0)
    return -1;
  if ((v = cy_get(n, "name")) == NULL)
    return cy_fail(x, n, "a monitor needs a name (1 to %d characters)",
                   MP_MON_NAME_MAX);
  if (cy_get_str(x, "name", v, 0, &it->name) < 0)
    return -1;
  size_t nl = strlen(it->name);
  if (nl == 0 || nl > MP_MON_NAME_MAX)
    return cy_fail(x, v, "a monitor's name is 1 to %d characters, not %zu",
                   MP_MON_NAME_MAX, nl);
  for (size_t i = 0; i < nl; i++)
    if ((unsigned char)it->name[i] < 0x20 || it->name[i] == 0x7f)
      return cy_fail(x, v, "monitor '%s': a name holds no control characters",
                     cy_shown(x, v));
  for (size_t i = 0; i < r->nitems; i++)
    if (strcmp(r->f->items[i].name, it->name) == 0)
      return cy_fail(x, v,
                     "monitor '%s': a second monitor of that name (the first "
                     "is at line %d)",
                     it->name, r->f->items[i].line);
  /* Every later message names the monitor. */
  char where[96];
  snprintf(where, sizeof(where), "monitor '%s'", it->name);
  if (cy_check_keys(x, n, where, keys) < 0)
    return -1;
  if ((v = cy_get(n, "check")) == NULL)
    return cy_fail(x, n,
                   "%s: missing required key 'check' (a module's name "
                   "or a module in-line)",
                   where);
  if (v->kind == Y_SCALAR) {
    if (cy_get_str(x, "check", v, 0, &it->check_name) < 0)
      return -1;
    it->check_line = v->line;
    it->check_col = v->col;
  } else {
    const struct ynode *kn = NULL;
    for (size_t i = 0; i < n->nkids; i += 2)
      if (strcmp(n->kids[i]->str, "check") == 0)
        kn = n->kids[i];
    /* An in-line module has no name of its own: the monitor names it. */
    if (mp_module_parse(x, kn, v, "check", &it->inline_mod) < 0)
      return -1;
    it->has_inline = 1;
  }
  if ((v = cy_get(n, "target")) != NULL) {
    if (cy_get_str(x, "target", v, 0, &it->target) < 0)
      return -1;
    it->target_line = v->line;
    it->target_col = v->col;
  }
  memset(&f, 0, sizeof(f));
  int rc = cy_parse_mon_fields(x, n, &f);
  /* The commands are the item's even after an error, to be freed. */
  for (int k = 0; k < MP_ACT_KINDS; k++)
    it->argv[k] = f.argv[k];
  if (rc < 0)
    return -1;
  d->timing = f.timing;
  it->max_test_ms = f.max_test_ms;
  it->has_max_test = f.max_test_ms != 0;
  mp_mon_thresholds(&d->rf, f.warning_ms, f.critical_ms);
  d->recovery_runs = f.recovery_runs;
  d->action_timeout_ms = f.action_timeout_ms;
  return 0;
}

static int parse_monitors(struct ctx *x, const struct ynode *kn,
                          const struct ynode *n, void *data)
{
  struct reader *r = data;

  if (n->kind != Y_SEQ || n->nkids == 0)
    return cy_wrong_type(x, kn->str, n, "a list of monitors");
  if (n->nkids > MAX_MONITORS)
    return cy_fail(x, n, "monitors: at most %d", MAX_MONITORS);
  r->f->items = calloc(n->nkids, sizeof(*r->f->items));
  r->f->defs = calloc(n->nkids, sizeof(*r->f->defs));
  if (!r->f->items || !r->f->defs)
    return cy_oom(x);
  r->f->n = r->f->nalloc = n->nkids;
  for (size_t i = 0; i < n->nkids; i++) {
    if (parse_monitor(x, n->kids[i], r, &r->f->items[i], &r->f->defs[i]) < 0)
      return -1;
    r->nitems++;
  }
  return 0;
}

/* The module of a monitor and its target into the definition. */
static int resolve(struct mp_monitor_file *f, size_t i, const char *file,
                   char *err, size_t len)
{
  struct mp_mon_item *it = &f->items[i];
  struct mp_mon_def *d = &f->defs[i];
  const struct mp_module *m;
  char why[256];

  if (it->has_inline) {
    m = &it->inline_mod;
  } else if (!(m = mp_config_module(f->cfg, it->check_name))) {
    snprintf(err, len,
             "%s:%d:%d: monitor '%s': no module named '%s' under "
             "modules:",
             file, it->check_line, it->check_col, it->name, it->check_name);
    return -1;
  }
  if (m->probe.type == MP_CASE_ROUNDTRIP) {
    snprintf(err, len,
             "%s:%d:%d: monitor '%s': a monitor's check is smtp, pop3 or "
             "imap, not a round trip",
             file, it->line, it->col, it->name);
    return -1;
  }
  d->name = it->name;
  d->opts = m->probe.opts;
  d->opts.proto = m->probe.type == MP_CASE_POP3   ? MP_PROTO_POP3
                  : m->probe.type == MP_CASE_IMAP ? MP_PROTO_IMAP
                                                  : MP_PROTO_SMTP;
  if (it->has_max_test)
    d->opts.timeout_ms = it->max_test_ms;
  const char *tgt = it->target ? it->target : m->probe.target;
  if (!tgt) {
    snprintf(err, len,
             "%s:%d:%d: monitor '%s': missing target (host:port, "
             "host or a URL like smtp://mx.example.com)",
             file, it->line, it->col, it->name);
    return -1;
  }
  int tl = it->target ? it->target_line : m->line;
  int tc = it->target ? it->target_col : m->col;
  if (strstr(tgt, "://")) {
    struct mp_url u;
    if (mp_url_parse(tgt, &u, why, sizeof(why)) < 0) {
      snprintf(err, len, "%s:%d:%d: monitor '%s': %s", file, tl, tc, it->name,
               why);
      return -1;
    }
    if (u.proto != d->opts.proto) {
      snprintf(err, len,
               "%s:%d:%d: monitor '%s': the target's scheme is %s, the "
               "check's type %s",
               file, tl, tc, it->name, mp_proto_name(u.proto),
               mp_proto_name(d->opts.proto));
      return -1;
    }
    if (d->opts.tls == MP_TLSMODE_AUTO)
      d->opts.tls = u.tls;
    snprintf(it->host, sizeof(it->host), "%s", u.host);
    d->opts.port = u.port;
  } else if (mp_hostport_parse(
                 tgt,
                 d->opts.port ? d->opts.port
                              : mp_default_port(d->opts.proto, d->opts.tls),
                 it->host, sizeof(it->host), &d->opts.port, why,
                 sizeof(why)) < 0) {
    snprintf(err, len, "%s:%d:%d: monitor '%s': target: %s", file, tl, tc,
             it->name, why);
    return -1;
  }
  d->opts.host = it->host;
  mp_hostport_format(it->target_shown, sizeof(it->target_shown), it->host,
                     d->opts.port);
  d->target = it->target_shown;
  d->rf.proto = mp_proto_name(d->opts.proto);
  d->rf.target = it->target_shown;
  d->rf.timeout_us =
      (d->opts.timeout_ms ? d->opts.timeout_ms : MP_PROBE_DEFAULT_TIMEOUT_MS) *
      1000u;
  for (int k = 0; k < MP_ACT_KINDS; k++) {
    d->argv[k] = it->argv[k];
    /* An action's argv is seen by every user (ps): never the password. */
    const char *pw = d->opts.password;
    for (size_t a = 0; pw && *pw && it->argv[k] && it->argv[k][a]; a++)
      if (strstr(it->argv[k][a], pw)) {
        snprintf(err, len,
                 "%s:%d:%d: monitor '%s': %s holds the check's password; "
                 "an action reads what it needs from its environment and "
                 "stdin",
                 file, it->line, it->col, it->name, action_keys[k]);
        return -1;
      }
  }
  for (int s = 0; s < 4; s++)
    if (!d->timing.interval_ms[s])
      d->timing.interval_ms[s] = s == MP_MON_UP ? 300000 : 60000;
  return 0;
}

static int finish(struct mp_monitor_file *f, const char *file, char *err,
                  size_t len)
{
  for (size_t i = 0; i < f->n; i++)
    if (resolve(f, i, file, err, len) < 0)
      return -1;
  return 0;
}

static void sections(struct reader *r, struct mp_config_section s[2])
{
  s[0].key = "monitor";
  s[0].parse = parse_settings;
  s[0].data = r;
  s[0].required = 0;
  s[1].key = "monitors";
  s[1].parse = parse_monitors;
  s[1].data = r;
  s[1].required = 1;
}

int mp_monitor_file_load(const char *path, struct mp_monitor_file *f, char *err,
                         size_t len)
{
  struct reader r = {f, 0};
  struct mp_config_section s[2];

  memset(f, 0, sizeof(*f));
  sections(&r, s);
  if (mp_config_load(path, s, 2, &f->cfg, err, len) < 0 ||
      finish(f, path, err, len) < 0) {
    mp_monitor_file_free(f);
    return -1;
  }
  return 0;
}

int mp_monitor_file_parse(const char *buf, size_t blen, const char *name,
                          struct mp_monitor_file *f, char *err, size_t len)
{
  struct reader r = {f, 0};
  struct mp_config_section s[2];

  memset(f, 0, sizeof(*f));
  sections(&r, s);
  if (mp_config_parse(buf, blen, name, s, 2, &f->cfg, err, len) < 0 ||
      finish(f, name, err, len) < 0) {
    mp_monitor_file_free(f);
    return -1;
  }
  return 0;
}

void mp_monitor_file_free(struct mp_monitor_file *f)
{
  /* Every item allocated, read or not (calloc'd: what was not read is
   * NULL), so an error halfway frees what the item being read owned. */
  for (size_t i = 0; f->items && i < f->nalloc; i++) {
    struct mp_mon_item *it = &f->items[i];
    free(it->name);
    free(it->check_name);
    free(it->target);
    if (it->has_inline)
      mp_module_clear(&it->inline_mod);
    for (int k = 0; k < MP_ACT_KINDS; k++)
      cy_free_argv(it->argv[k]);
  }
  free(f->items);
  free(f->defs);
  free(f->history);
  free(f->state);
  mp_config_free(f->cfg);
  memset(f, 0, sizeof(*f));
}
