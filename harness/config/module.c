/* Config files and their modules (harness/config/module.h): the top
 * level, each module through the case parser's probe: reader in module
 * mode, and the passwords read from their files or variables. */
#include "harness/config/module.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/case/case_yaml.h"
#include "harness/config/secret.h"
#include "wire/errors.h"

/* Reads p's password from password_file or password_env; map is the
 * node they were written in (for the message's line and column). */
static int read_password(struct ctx *x, const struct ynode *map,
                         struct mp_case_probe *p)
{
  char why[256];
  const struct ynode *at;
  int rc;

  if (p->password_file == NULL && p->password_env == NULL)
    return 0;
  if (p->password_file != NULL) {
    at = cy_get(map, "password_file");
    rc = mp_read_secret_file(p->password_file, &p->password, why, sizeof why);
  } else {
    at = cy_get(map, "password_env");
    rc = mp_read_secret_env(p->password_env, &p->password, why, sizeof why);
  }
  if (rc < 0)
    return cy_fail(x, at, "%s: %s",
                   p->password_file ? "password_file" : "password_env", why);
  p->opts.password = p->password;
  return 0;
}

/* A module's name goes into URLs (module=) and label values: letters,
 * digits, '_', '-' and '.'. */
static int valid_name(const char *s)
{
  if (*s == '\0' || strlen(s) > 64)
    return 0;
  for (; *s != '\0'; s++)
    if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
      return 0;
  return 1;
}

int mp_module_parse(struct ctx *x, const struct ynode *kn,
                    const struct ynode *n, const char *name,
                    struct mp_module *m)
{
  int rc;

  memset(m, 0, sizeof *m);
  m->line = kn->line;
  m->col = kn->col;
  if (!valid_name(name))
    return cy_fail(x, kn,
                   "module name '%s' must be 1 to 64 letters, digits, '_', "
                   "'-' or '.'",
                   cy_show(x, name, strlen(name)));
  if ((m->name = strdup(name)) == NULL)
    return cy_oom(x);
  rc = cy_parse_module_probe(x, kn, n, &m->probe);
  if (rc == 0 && m->probe.rt == NULL)
    rc = read_password(x, n, &m->probe);
  if (rc == 0 && m->probe.rt != NULL)
    rc = read_password(x, cy_get(n, "send"), &m->probe.rt->send);
  if (rc == 0 && m->probe.rt != NULL)
    rc = read_password(x, cy_get(n, "fetch"), &m->probe.rt->fetch);
  if (rc < 0)
    mp_module_clear(m);
  return rc;
}

void mp_module_clear(struct mp_module *m)
{
  free(m->name);
  mp_case_probe_free(&m->probe);
  memset(m, 0, sizeof *m);
}

/* modules: a map of name: module. */
static int parse_modules(struct ctx *x, const struct ynode *n,
                         struct mp_config *c)
{
  c->modules = cy_entries(x, "modules", n, "modules", sizeof *c->modules);
  if (c->modules == NULL)
    return -1;
  for (size_t i = 0; i < n->nkids; i += 2) {
    const struct ynode *k = n->kids[i];
    if (mp_module_parse(x, k, n->kids[i + 1], k->str,
                        &c->modules[c->nmodules]) < 0)
      return -1;
    c->nmodules++;
  }
  return 0;
}

static int parse_root(struct ctx *x, const struct ynode *root,
                      const struct mp_config_section *sections,
                      size_t nsections, struct mp_config *c)
{
  const char *keys[34];
  size_t nkeys = 0;
  const struct ynode *v;

  keys[nkeys++] = "modules";
  for (size_t i = 0; i < nsections && nkeys < 33; i++)
    keys[nkeys++] = sections[i].key;
  keys[nkeys] = NULL;
  if (root == NULL || cy_is_null(root))
    return cy_fail_at(x, 1, 1, "the file is empty; a config needs modules:");
  if (root->kind != Y_MAP)
    return cy_fail(x, root,
                   "the top level must be a map (modules: ...), not %s",
                   cy_describe(root));
  if (cy_check_keys(x, root, "the top level", keys) < 0)
    return -1;
  if ((v = cy_get(root, "modules")) != NULL && parse_modules(x, v, c) < 0)
    return -1;
  for (size_t i = 0; i < nsections; i++) {
    const struct ynode *kn = NULL;
    for (size_t j = 0; j < root->nkids; j += 2)
      if (strcmp(root->kids[j]->str, sections[i].key) == 0)
        kn = root->kids[j];
    if (kn == NULL && sections[i].required)
      return cy_fail_at(x, root->line, root->col, "missing required key '%s'",
                        sections[i].key);
    if (kn != NULL && sections[i].parse(x, kn, cy_get(root, sections[i].key),
                                        sections[i].data) < 0)
      return -1;
  }
  return 0;
}

/* What parse_root needs, through cy_parse_doc's one argument. */
struct root_arg {
  const struct mp_config_section *sections;
  size_t nsections;
  struct mp_config *c;
};

static int parse_root_doc(struct ctx *x, const struct ynode *root, void *arg)
{
  struct root_arg *a = arg;
  return parse_root(x, root, a->sections, a->nsections, a->c);
}

int mp_config_parse(const char *buf, size_t len, const char *name,
                    const struct mp_config_section *sections, size_t nsections,
                    struct mp_config **out, char *err, size_t errlen)
{
  struct root_arg a = {sections, nsections, NULL};
  int rc;

  name = name ? name : "<config>";
  *out = NULL;
  if (len > MP_CONFIG_MAX_BYTES)
    return cy_doc_too_big(name, len, MP_CONFIG_MAX_BYTES, "", err, errlen);
  a.c = calloc(1, sizeof *a.c);
  if (a.c == NULL || (a.c->file = strdup(name)) == NULL) {
    free(a.c);
    snprintf(err, errlen, "%s: out of memory", name);
    return MP_E_NO_RESOURCES;
  }
  rc = cy_parse_doc(buf, len, a.c->file, parse_root_doc, &a, err, errlen);
  if (rc < 0) {
    mp_config_free(a.c);
    return rc;
  }
  *out = a.c;
  return 0;
}

int mp_config_load(const char *path, const struct mp_config_section *sections,
                   size_t nsections, struct mp_config **out, char *err,
                   size_t errlen)
{
  char *buf;
  size_t len;
  int rc;

  *out = NULL;
  rc = cy_read_file(path, MP_CONFIG_MAX_BYTES, "config file", &buf, &len, err,
                    errlen);
  if (rc < 0)
    return rc;
  rc = mp_config_parse(buf, len, path, sections, nsections, out, err, errlen);
  free(buf);
  return rc;
}

void mp_config_free(struct mp_config *c)
{
  if (c == NULL)
    return;
  for (size_t i = 0; i < c->nmodules; i++)
    mp_module_clear(&c->modules[i]);
  free(c->modules);
  free(c->file);
  free(c);
}

const struct mp_module *mp_config_module(const struct mp_config *c,
                                         const char *name)
{
  for (size_t i = 0; c != NULL && i < c->nmodules; i++)
    if (strcmp(c->modules[i].name, name) == 0)
      return &c->modules[i];
  return NULL;
}
