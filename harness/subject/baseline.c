/* Reading a baseline (a JSON report; YAML reads JSON, so the case
 * parser's YAML tree and error context serve) and holding a run against
 * it. */
#include "harness/subject/baseline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/case/case_yaml.h"
#include "harness/report/matrix.h"
#include "wire/errors.h"

#define MAX_BASELINE_BYTES (64 * 1024 * 1024)

void mp_baseline_free(struct mp_baseline *b)
{
  size_t i;

  if (!b)
    return;
  for (i = 0; i < b->n; i++) {
    free(b->v[i].subject);
    free(b->v[i].file);
    free(b->v[i].reason);
  }
  free(b->v);
  free(b);
}

/* "./cases/x.yaml" and "cases/x.yaml" are one case. */
static const char *norm(const char *p)
{
  while (p[0] == '.' && p[1] == '/')
    p += 2;
  return p;
}

static int add(struct ctx *x, struct mp_baseline *b, size_t *cap,
               const char *file, const char *subject, const struct ynode *cell)
{
  const struct ynode *v;
  struct mp_baseline_entry *e;

  if (cy_want_map(x, subject, cell) < 0)
    return -1;
  if (!(v = cy_get(cell, "class")) || v->kind != Y_SCALAR)
    return cy_fail(x, cell, "cells.%s: no class", subject);
  if (b->n == *cap) {
    size_t nc = *cap ? *cap * 2 : 64;
    void *p = realloc(b->v, nc * sizeof(*b->v));
    if (!p)
      return cy_oom(x);
    b->v = p;
    *cap = nc;
  }
  e = &b->v[b->n];
  memset(e, 0, sizeof(*e));
  e->cls = mp_class_from_name(v->str);
  if (e->cls < 0)
    return cy_fail(x, v,
                   "'%s' is not a class (PASS, NON-STRICT, FAIL, "
                   "UNSUPPORTED, ERROR)",
                   cy_shown(x, v));
  e->file = strdup(norm(file));
  e->subject = strdup(subject);
  if ((v = cy_get(cell, "reason")) && v->kind == Y_SCALAR && !cy_is_null(v))
    e->reason = strdup(v->str);
  b->n++;
  if (!e->file || !e->subject)
    return cy_oom(x);
  return 0;
}

/* The report's cases into b (cy_parse_doc's callback). */
static int parse(struct ctx *x, const struct ynode *root, void *arg)
{
  struct mp_baseline *b = arg;
  const struct ynode *cases, *file, *cells;
  size_t i, k, cap = 0;

  if (!root || root->kind != Y_MAP)
    return cy_fail_at(x, 1, 1,
                      "a baseline is the JSON object `mailprobe run "
                      "--format json` writes");
  if (!(cases = cy_get(root, "cases")) || cases->kind != Y_SEQ)
    return cy_fail(x, root, "a baseline needs a list 'cases'");
  for (i = 0; i < cases->nkids; i++) {
    const struct ynode *c = cases->kids[i];
    if (cy_want_map(x, "cases", c) < 0)
      return -1;
    if (!(file = cy_get(c, "file")) || file->kind != Y_SCALAR)
      return cy_fail(x, c, "a case without its file");
    if (!(cells = cy_get(c, "cells")) || cy_want_map(x, "cells", cells) < 0)
      return cy_fail(x, c, "a case without cells");
    for (k = 0; k < cells->nkids; k += 2)
      if (add(x, b, &cap, file->str, cells->kids[k]->str, cells->kids[k + 1]) <
          0)
        return -1;
  }
  return 0;
}

int mp_baseline_parse(const char *buf, size_t len, const char *name,
                      struct mp_baseline **out, char *err, size_t errlen)
{
  struct mp_baseline *b = calloc(1, sizeof(*b));
  int rc;

  *out = NULL;
  name = name ? name : "<baseline>";
  if (!b) {
    snprintf(err, errlen, "%s: out of memory", name);
    return MP_E_NO_RESOURCES;
  }
  rc = cy_parse_doc(buf, len, name, parse, b, err, errlen);
  if (rc < 0) {
    mp_baseline_free(b);
    return rc;
  }
  *out = b;
  return 0;
}

int mp_baseline_load(const char *path, struct mp_baseline **out, char *err,
                     size_t errlen)
{
  char *buf;
  size_t len;
  int rc;

  *out = NULL;
  rc = cy_read_file(path, MAX_BASELINE_BYTES, "baseline", &buf, &len, err,
                    errlen);
  if (rc < 0)
    return rc;
  rc = mp_baseline_parse(buf, len, path, out, err, errlen);
  free(buf);
  return rc;
}

static int same(const char *a, const char *b)
{
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int mp_baseline_check(const struct mp_baseline *b, const char *subject,
                      const char *file, struct mp_cell *cell)
{
  const struct mp_baseline_entry *e = NULL;
  char *msg = NULL;
  size_t i;

  file = norm(file);
  for (i = 0; b && i < b->n; i++)
    if (strcmp(b->v[i].file, file) == 0 &&
        strcmp(b->v[i].subject, subject) == 0) {
      e = &b->v[i];
      break;
    }
  if (!e) {
    if (cell->cls == MP_CLASS_PASS)
      return 0;
    if (asprintf(&msg, "not in the baseline, now %s",
                 mp_class_name(cell->cls)) < 0)
      msg = NULL;
  } else {
    if (e->cls == (int)cell->cls && same(e->reason, cell->reason))
      return 0;
    if (asprintf(&msg, "was %s%s%s%s, now %s%s",
                 mp_class_name((enum mp_class)e->cls), e->reason ? " (" : "",
                 e->reason ? e->reason : "", e->reason ? ")" : "",
                 mp_class_name(cell->cls),
                 e->cls == (int)cell->cls     ? " with another reason"
                 : e->cls == MP_CLASS_PASS    ? " (a regression)"
                 : cell->cls == MP_CLASS_PASS ? " (a fix: update the baseline)"
                                              : "") < 0)
      msg = NULL;
  }
  free(cell->baseline);
  cell->baseline = msg ? msg : strdup("differs from the baseline");
  return 1;
}
