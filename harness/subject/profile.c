/* The subject profile parser (docs/subjects.md): a YAML file into struct
 * mp_subject, or an error at file:line:column. It walks the same YAML tree
 * with the same typed readers as the case parser (harness/case/
 * case_yaml.h): one YAML layer for every file the harness reads. */
#include "harness/subject/profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/case/case_yaml.h"
#include "harness/subject/argv.h"
#include "probes/probe.h"
#include "wire/errors.h"

const char *const mp_subject_features[] = {
    "login", "auth_mechanisms", "dns", "insecure", "target",
    "helo",  "verify",          NULL};

static const char *const verdict_names[] = {"none", "ok", "fail", "unsupported",
                                            "error"};

const char *mp_verdict_name(enum mp_verdict v)
{
  return (unsigned)v < 5 ? verdict_names[v] : "none";
}

static void args_free(struct mp_subject_args *a)
{
  cy_free_strv(a->v, a->n);
  memset(a, 0, sizeof(*a));
}

void mp_subject_free(struct mp_subject *s)
{
  size_t i;

  if (!s)
    return;
  free(s->name);
  free(s->file);
  free(s->about);
  cy_free_strv(s->command, s->ncommand);
  for (i = 0; i < 4; i++)
    args_free(&s->tls[i]);
  args_free(&s->login);
  cy_free_strv(s->unsupported, s->nunsupported);
  for (i = 0; i < s->nskip; i++) {
    free(s->skip[i].glob);
    free(s->skip[i].reason);
  }
  free(s->skip);
  if (s->has_ok_rx)
    regfree(&s->ok_rx);
  if (s->has_fail_rx)
    regfree(&s->fail_rx);
  if (s->has_unsupported_rx)
    regfree(&s->unsupported_rx);
  for (i = 0; i < s->nerrors; i++) {
    free(s->errors[i].pattern);
    regfree(&s->errors[i].rx);
  }
  free(s->errors);
  for (i = 0; i < s->nenv; i++) {
    free(s->env_names[i]);
    free(s->env_values[i]);
  }
  free(s->env_names);
  free(s->env_values);
  if (s->service) {
    cy_free_strv(s->service->command, s->service->ncommand);
    free(s->service->config);
    free(s->service);
  }
  free(s);
}

/* Nagios plugin exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. A
 * WARNING or UNKNOWN is an alert, not "the server is fine". */
static void exit_map_nagios(unsigned char *map)
{
  map[0] = MP_VERDICT_OK;
  map[1] = map[2] = map[3] = MP_VERDICT_FAIL;
}

/* The shell's "command not found" and "not executable". */
static void exit_map_defaults(unsigned char *map)
{
  map[126] = map[127] = MP_VERDICT_ERROR;
}

struct mp_subject *mp_subject_builtin(void)
{
  struct mp_subject *s = calloc(1, sizeof(*s));

  if (!s || !(s->name = strdup("mailprobe"))) {
    free(s);
    return NULL;
  }
  s->builtin = 1;
  s->protocols = 0xf;
  return s;
}

/* A regex: POSIX extended, case-insensitive; a bad one is an error at the
 * value. */
static int get_rx(struct ctx *x, const char *key, const struct ynode *n,
                  regex_t *rx, char **keep)
{
  char *s = NULL;
  char msg[128];
  int rc;

  if (cy_get_str(x, key, n, 0, &s) < 0)
    return -1;
  rc = regcomp(rx, s, REG_EXTENDED | REG_ICASE | REG_NEWLINE | REG_NOSUB);
  if (rc != 0) {
    regerror(rc, rx, msg, sizeof(msg));
    cy_fail(x, n, "'%s': the regex %s does not compile: %s", key,
            cy_shown(x, n), msg);
    free(s);
    return -1;
  }
  if (keep)
    *keep = s;
  else
    free(s);
  return 0;
}

/* Every placeholder in the strings of list n (or scalar n) is ours. */
static int check_templates(struct ctx *x, const struct ynode *n, int whole)
{
  char bad[96];
  size_t i;

  if (n->kind == Y_SCALAR)
    return mp_subject_check_template(n->str, whole, bad, sizeof(bad)) < 0
               ? cy_fail(x, n,
                         "unknown placeholder %s (docs/subjects.md "
                         "lists them)",
                         bad)
               : 0;
  for (i = 0; n->kind == Y_SEQ && i < n->nkids; i++)
    if (check_templates(x, n->kids[i], whole) < 0)
      return -1;
  return 0;
}

/* A list of arguments, or the word unsupported. */
static int get_args(struct ctx *x, const char *key, const struct ynode *n,
                    struct mp_subject_args *a)
{
  a->set = 1;
  if (n->kind == Y_SCALAR && n->plain && strcmp(n->str, "unsupported") == 0) {
    a->unsupported = 1;
    return 0;
  }
  if (n->kind != Y_SEQ)
    return cy_wrong_type(x, key, n, "a list of arguments or unsupported");
  if (check_templates(x, n, 0) < 0)
    return -1;
  return cy_get_strv(x, key, n, 0, &a->v, &a->n);
}

static int parse_tls(struct ctx *x, const struct ynode *n, struct mp_subject *s)
{
  static const char *const keys[] = {"none", "starttls", "implicit", "auto",
                                     NULL};
  size_t i;

  if (cy_want_map(x, "tls", n) < 0 || cy_check_keys(x, n, "tls", keys) < 0)
    return -1;
  for (i = 0; i < n->nkids; i += 2) {
    int m = mp_tls_mode_from_name(n->kids[i]->str);
    if (get_args(x, n->kids[i]->str, n->kids[i + 1], &s->tls[m]) < 0)
      return -1;
  }
  return 0;
}

static const struct nv verdict_tbl[] = {{"ok", MP_VERDICT_OK},
                                        {"fail", MP_VERDICT_FAIL},
                                        {"unsupported", MP_VERDICT_UNSUPPORTED},
                                        {"error", MP_VERDICT_ERROR},
                                        {NULL, 0}};

/* exit: nagios, or a map from verdict to a list of exit statuses. */
static int parse_exit(struct ctx *x, const struct ynode *n,
                      struct mp_subject *s)
{
  unsigned char listed[256] = {0};
  int others = 0;
  static const char *const keys[] = {"ok",    "fail",   "unsupported",
                                     "error", "others", NULL};
  size_t i, k;

  if (n->kind == Y_SCALAR && n->plain && strcmp(n->str, "nagios") == 0) {
    exit_map_nagios(s->exit_map);
    return 0;
  }
  if (n->kind != Y_MAP)
    return cy_wrong_type(x, "exit", n,
                         "nagios or a map of ok, fail, unsupported, error to "
                         "exit statuses");
  if (cy_check_keys(x, n, "verdict.exit", keys) < 0)
    return -1;
  for (i = 0; i < n->nkids; i += 2) {
    const struct ynode *v = n->kids[i + 1];
    int verdict = 0;
    long long code;

    if (strcmp(n->kids[i]->str, "others") == 0) {
      if (cy_get_enum(x, "others", v, verdict_tbl, &others) < 0)
        return -1;
      continue;
    }
    cy_get_enum(x, "exit", n->kids[i], verdict_tbl, &verdict);
    if (v->kind == Y_SCALAR) {
      if (cy_get_int(x, n->kids[i]->str, v, 0, 255, &code) < 0)
        return -1;
      s->exit_map[code] = (unsigned char)verdict;
      listed[code] = 1;
      continue;
    }
    if (v->kind != Y_SEQ)
      return cy_wrong_type(x, n->kids[i]->str, v, "a list of exit statuses");
    for (k = 0; k < v->nkids; k++) {
      if (cy_get_int(x, n->kids[i]->str, v->kids[k], 0, 255, &code) < 0)
        return -1;
      s->exit_map[code] = (unsigned char)verdict;
      listed[code] = 1;
    }
  }
  /* others: the verdict of every status not listed, except the shell's
   * 126 and 127 (not executable, not found), which stay errors. */
  for (k = 0; others && k < 256; k++)
    if (!listed[k] && k != 126 && k != 127)
      s->exit_map[k] = (unsigned char)others;
  return 0;
}

static int parse_errors(struct ctx *x, const struct ynode *n,
                        struct mp_subject *s)
{
  size_t i;

  if (cy_want_map(x, "errors", n) < 0 ||
      cy_check_keys(x, n, "verdict.errors", NULL) < 0)
    return -1;
  s->errors = calloc(n->nkids / 2 + 1, sizeof(*s->errors));
  if (!s->errors)
    return cy_oom(x);
  for (i = 0; i < n->nkids; i += 2) {
    struct mp_subject_rx *e = &s->errors[s->nerrors];
    int err = mp_err_from_name(n->kids[i]->str);

    if (!err)
      return cy_fail(x, n->kids[i],
                     "verdict.errors: '%s' is not an error name "
                     "(docs/architecture.md lists them)",
                     cy_shown(x, n->kids[i]));
    if (get_rx(x, n->kids[i]->str, n->kids[i + 1], &e->rx, &e->pattern) < 0)
      return -1;
    e->err = err;
    s->nerrors++;
  }
  return 0;
}

static int parse_verdict(struct ctx *x, const struct ynode *n,
                         struct mp_subject *s)
{
  static const char *const keys[] = {"exit",        "ok",     "fail",
                                     "unsupported", "errors", NULL};
  const struct ynode *v;

  if (cy_want_map(x, "verdict", n) < 0 ||
      cy_check_keys(x, n, "verdict", keys) < 0)
    return -1;
  if ((v = cy_get(n, "exit")) && parse_exit(x, v, s) < 0)
    return -1;
  if ((v = cy_get(n, "ok")) && get_rx(x, "ok", v, &s->ok_rx, NULL) < 0)
    return -1;
  s->has_ok_rx = v != NULL;
  if ((v = cy_get(n, "fail")) && get_rx(x, "fail", v, &s->fail_rx, NULL) < 0)
    return -1;
  s->has_fail_rx = v != NULL;
  if ((v = cy_get(n, "unsupported")) &&
      get_rx(x, "unsupported", v, &s->unsupported_rx, NULL) < 0)
    return -1;
  s->has_unsupported_rx = v != NULL;
  if ((v = cy_get(n, "errors")) && parse_errors(x, v, s) < 0)
    return -1;
  return 0;
}

static int parse_skip(struct ctx *x, const struct ynode *n,
                      struct mp_subject *s)
{
  size_t i;

  if (cy_want_map(x, "skip", n) < 0 || cy_check_keys(x, n, "skip", NULL) < 0)
    return -1;
  s->skip = calloc(n->nkids / 2 + 1, sizeof(*s->skip));
  if (!s->skip)
    return cy_oom(x);
  for (i = 0; i < n->nkids; i += 2) {
    struct mp_subject_skip *k = &s->skip[s->nskip++];

    if (!(k->glob = strdup(n->kids[i]->str)))
      return cy_oom(x);
    if (cy_get_str(x, k->glob, n->kids[i + 1], 0, &k->reason) < 0)
      return -1;
  }
  return 0;
}

static int parse_service(struct ctx *x, const struct ynode *n,
                         struct mp_subject *s)
{
  static const char *const keys[] = {"command", "config", "start", NULL};
  const struct ynode *v;

  if (cy_want_map(x, "service", n) < 0 ||
      cy_check_keys(x, n, "service", keys) < 0)
    return -1;
  if (!(s->service = calloc(1, sizeof(*s->service))))
    return cy_oom(x);
  s->service->start_ms = 10000;
  if (!(v = cy_get(n, "command")))
    return cy_fail(x, n, "service: missing required key 'command'");
  if (cy_get_strv(x, "command", v, 0, &s->service->command,
                  &s->service->ncommand) < 0)
    return -1;
  if (s->service->ncommand == 0)
    return cy_fail(x, v, "service.command: an empty list runs nothing");
  if (check_templates(x, v, 0) < 0)
    return -1;
  if ((v = cy_get(n, "config")) != NULL && check_templates(x, v, 0) < 0)
    return -1;
  if (cy_opt_str(x, n, "config", 1, NULL, &s->service->config) < 0)
    return -1;
  if ((v = cy_get(n, "start")) &&
      cy_get_dur_ms(x, "start", v, 1, &s->service->start_ms) < 0)
    return -1;
  return 0;
}

/* env: NAME: VALUE, added to the subject's environment; the one place a
 * {password} may stand. */
static int parse_env(struct ctx *x, const struct ynode *n, struct mp_subject *s)
{
  size_t i;

  if (cy_want_map(x, "env", n) < 0 || cy_check_keys(x, n, "env", NULL) < 0)
    return -1;
  s->env_names = calloc(n->nkids / 2 + 1, sizeof(char *));
  s->env_values = calloc(n->nkids / 2 + 1, sizeof(char *));
  if (!s->env_names || !s->env_values)
    return cy_oom(x);
  for (i = 0; i < n->nkids; i += 2) {
    const char *name = n->kids[i]->str;
    const char *c;

    for (c = name; *c; c++)
      if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || *c == '_' ||
            (c > name && *c >= '0' && *c <= '9')))
        return cy_fail(x, n->kids[i],
                       "env: '%s' is not a variable name (letters, digits, "
                       "_; not a digit first)",
                       cy_shown(x, n->kids[i]));
    if (check_templates(x, n->kids[i + 1], 3) < 0)
      return -1;
    if (!(s->env_names[s->nenv] = strdup(name)))
      return cy_oom(x);
    if (cy_get_str(x, name, n->kids[i + 1], 0, &s->env_values[s->nenv]) < 0) {
      free(s->env_names[s->nenv]);
      return -1;
    }
    s->nenv++;
  }
  return 0;
}

static const struct nv proto_tbl[] = {
    {"smtp", 0}, {"pop3", 1}, {"imap", 2}, {"roundtrip", 3}, {NULL, 0}};

static int parse_root(struct ctx *x, const struct ynode *root,
                      struct mp_subject *s)
{
  static const char *const keys[] = {
      "name",  "about",   "command",     "shell", "protocols",
      "tls",   "login",   "unsupported", "skip",  "verdict",
      "grace", "capture", "service",     "env",   NULL};
  const struct ynode *v;
  long long cap;
  size_t i;

  if (root == NULL || cy_is_null(root))
    return cy_fail_at(x, 1, 1,
                      "the file is empty; a profile needs at least command "
                      "and verdict");
  if (root->kind != Y_MAP)
    return cy_fail(x, root,
                   "the top level must be a map (name:, command:, "
                   "verdict:), not %s",
                   cy_describe(root));
  if (cy_check_keys(x, root, "the top level", keys) < 0)
    return -1;
  if (cy_opt_str(x, root, "name", 0, NULL, &s->name) < 0 ||
      cy_opt_str(x, root, "about", 1, NULL, &s->about) < 0)
    return -1;
  if ((v = cy_get(root, "shell")) && cy_get_bool(x, "shell", v, &s->shell) < 0)
    return -1;
  if (!(v = cy_get(root, "command")))
    return cy_fail_at(x, root->line, root->col,
                      "missing required key 'command' (the argv to run)");
  if (s->shell && v->kind == Y_SCALAR) {
    if (cy_get_strv(x, "command", v, 1, &s->command, &s->ncommand) < 0)
      return -1;
  } else if (v->kind != Y_SEQ) {
    return cy_wrong_type(x, "command", v,
                         "a list (argv); one string only with shell: true");
  } else if (cy_get_strv(x, "command", v, 0, &s->command, &s->ncommand) < 0) {
    return -1;
  }
  if (s->ncommand == 0)
    return cy_fail(x, v, "command: an empty list runs nothing");
  if (check_templates(x, v, s->shell ? 2 : 1) < 0)
    return -1;
  if (s->shell && s->ncommand != 1)
    return cy_fail(x, v, "command: with shell: true, one string for sh -c");
  s->protocols =
      MP_SUBJECT_PROTO(0) | MP_SUBJECT_PROTO(1) | MP_SUBJECT_PROTO(2);
  if ((v = cy_get(root, "protocols")) != NULL) {
    const struct ynode *one = v;
    const struct ynode *const *items = &one;
    size_t n = 1;

    if (v->kind == Y_SEQ) {
      items = (const struct ynode *const *)v->kids;
      n = v->nkids;
    }
    s->protocols = 0;
    for (i = 0; i < n; i++) {
      int p;
      if (cy_get_enum(x, "protocols", items[i], proto_tbl, &p) < 0)
        return -1;
      s->protocols |= MP_SUBJECT_PROTO(p);
    }
  }
  if ((v = cy_get(root, "tls")) && parse_tls(x, v, s) < 0)
    return -1;
  if ((v = cy_get(root, "login")) && get_args(x, "login", v, &s->login) < 0)
    return -1;
  if ((v = cy_get(root, "unsupported")) != NULL) {
    if (cy_get_strv(x, "unsupported", v, 1, &s->unsupported, &s->nunsupported) <
        0)
      return -1;
    for (i = 0; i < s->nunsupported; i++)
      if (!cy_in_list(s->unsupported[i], mp_subject_features)) {
        char list[256];
        cy_join(list, sizeof(list), mp_subject_features);
        return cy_fail(x, v->kind == Y_SEQ ? v->kids[i] : v,
                       "unsupported: '%s' is not a case feature (%s)",
                       s->unsupported[i], list);
      }
  }
  if ((v = cy_get(root, "skip")) && parse_skip(x, v, s) < 0)
    return -1;
  if (!(v = cy_get(root, "verdict")))
    return cy_fail_at(x, root->line, root->col,
                      "missing required key 'verdict' (how to read the "
                      "probe's answer)");
  if (parse_verdict(x, v, s) < 0)
    return -1;
  if ((v = cy_get(root, "grace")) &&
      cy_get_dur_ms(x, "grace", v, 0, &s->grace_ms) < 0)
    return -1;
  if ((v = cy_get(root, "capture")) != NULL) {
    if (cy_get_int(x, "capture", v, 1024, 64 * 1024 * 1024, &cap) < 0)
      return -1;
    s->capture = (size_t)cap;
  }
  if ((v = cy_get(root, "service")) && parse_service(x, v, s) < 0)
    return -1;
  if ((v = cy_get(root, "env")) && parse_env(x, v, s) < 0)
    return -1;
  return 0;
}

char *mp_subject_default_name(const char *path)
{
  return cy_file_stem(path);
}

/* cy_parse_doc's callback: the root into the subject, then its default
 * name. */
static int parse_doc(struct ctx *x, const struct ynode *root, void *arg)
{
  struct mp_subject *s = arg;

  if (parse_root(x, root, s) < 0)
    return -1;
  if (!s->name && !(s->name = cy_file_stem(x->file)))
    return cy_oom(x);
  return 0;
}

int mp_subject_parse(const char *buf, size_t len, const char *name,
                     struct mp_subject **out, char *err, size_t errlen)
{
  struct mp_subject *s;
  int rc;

  *out = NULL;
  name = name ? name : "<profile>";
  s = calloc(1, sizeof(*s));
  if (!s || !(s->file = strdup(name))) {
    free(s);
    snprintf(err, errlen, "%s: out of memory", name);
    return MP_E_NO_RESOURCES;
  }
  exit_map_defaults(s->exit_map);
  s->grace_ms = MP_SUBJECT_DEFAULT_GRACE_MS;
  s->capture = MP_SUBJECT_DEFAULT_CAPTURE;
  if (len > MP_SUBJECT_MAX_BYTES) {
    snprintf(err, errlen, "%s:1:1: the file is larger than 256 KiB", name);
    rc = MP_E_PROTOCOL_ERROR;
  } else {
    rc = cy_parse_doc(buf, len, name, parse_doc, s, err, errlen);
  }
  if (rc < 0) {
    mp_subject_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

int mp_subject_load(const char *path, struct mp_subject **out, char *err,
                    size_t errlen)
{
  char *buf;
  size_t len;
  int rc;

  *out = NULL;
  rc = cy_read_file(path, MP_SUBJECT_MAX_BYTES, "profile", &buf, &len, err,
                    errlen);
  if (rc < 0)
    return rc;
  rc = mp_subject_parse(buf, len, path, out, err, errlen);
  free(buf);
  return rc;
}

int mp_subject_find(const char *what, const char *dir, struct mp_subject **out,
                    char *err, size_t errlen)
{
  char path[4096];
  size_t n = strlen(what);

  if (strcmp(what, "mailprobe") == 0) {
    *out = mp_subject_builtin();
    if (!*out)
      snprintf(err, errlen, "out of memory");
    return *out ? 0 : MP_E_NO_RESOURCES;
  }
  if (strchr(what, '/') || (n > 5 && strcmp(what + n - 5, ".yaml") == 0))
    return mp_subject_load(what, out, err, errlen);
  snprintf(path, sizeof(path), "%s/%s.yaml", dir ? dir : "cases/subjects",
           what);
  return mp_subject_load(path, out, err, errlen);
}
