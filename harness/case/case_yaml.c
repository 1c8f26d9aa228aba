/* The case parser's first pass and its readers (harness/case/case_yaml.h):
 * libyaml events into a tree of nodes that keep their 1-based line and
 * column, errors as "file:line:column: sentence", and typed values read
 * off the tree with a clear message for every mistake. */
#include "harness/case/case_yaml.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <limits.h>
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

/* ------------------------------------------------------------------ */
/* The tree. */

void cy_ynode_free(struct ynode *n)
{
  if (n == NULL)
    return;
  for (size_t i = 0; i < n->nkids; i++)
    cy_ynode_free(n->kids[i]);
  free(n->kids);
  free(n->str);
  free(n);
}

/* ------------------------------------------------------------------ */
/* Errors: the first one wins, as "file:line:column: sentence". */

static int vfail_at(struct ctx *x, int line, int col, const char *fmt,
                    va_list ap)
{
  if (!x->failed && x->err != NULL && x->errlen > 0) {
    int n = snprintf(x->err, x->errlen, "%s:%d:%d: ", x->file, line, col);
    if (n >= 0 && (size_t)n < x->errlen)
      vsnprintf(x->err + n, x->errlen - (size_t)n, fmt, ap);
  }
  x->failed = 1;
  return -1;
}

__attribute__((format(printf, 4, 5))) int
cy_fail_at(struct ctx *x, int line, int col, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vfail_at(x, line, col, fmt, ap);
  va_end(ap);
  return -1;
}

__attribute__((format(printf, 3, 4))) int
cy_fail(struct ctx *x, const struct ynode *n, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vfail_at(x, n->line, n->col, fmt, ap);
  va_end(ap);
  return -1;
}

int cy_oom(struct ctx *x)
{
  if (!x->failed && x->err != NULL && x->errlen > 0)
    snprintf(x->err, x->errlen, "%s: out of memory", x->file);
  x->failed = 1;
  x->oom = 1;
  return -1;
}

/* A value as it can be quoted in a message: control characters escaped,
 * long values cut (at a character boundary) with "...". Four rotating
 * buffers, so one message can show up to four values. */
const char *cy_show(struct ctx *x, const char *s, size_t len)
{
  char *out = x->show[x->nshow++ % 4];
  size_t o = 0, i = 0, chars = 0;
  for (; i < len; i++) {
    unsigned char ch = (unsigned char)s[i];
    if ((ch & 0xc0) != 0x80 && chars++ == SHOW_MAX)
      break;
    if (ch == '\n' || ch == '\r' || ch == '\t') {
      out[o++] = '\\';
      out[o++] = ch == '\n' ? 'n' : ch == '\r' ? 'r' : 't';
    } else if (ch < 0x20 || ch == 0x7f) {
      o += (size_t)snprintf(out + o, 5, "\\x%02x", ch);
    } else {
      out[o++] = (char)ch;
    }
  }
  if (i < len) {
    memcpy(out + o, "...", 3);
    o += 3;
  }
  out[o] = '\0';
  return out;
}

const char *cy_shown(struct ctx *x, const struct ynode *n)
{
  if (n->kind == Y_MAP)
    return "(a map)";
  if (n->kind == Y_SEQ)
    return "(a list)";
  return cy_show(x, n->str, n->len);
}

/* ------------------------------------------------------------------ */
/* YAML to tree. */

/* The line and column of a byte offset (columns count characters). */
static void offset_mark(const struct ctx *x, size_t off, int *line, int *col)
{
  *line = 1;
  *col = 1;
  for (size_t i = 0; i < off && i < x->len; i++) {
    if (x->buf[i] == '\n') {
      (*line)++;
      *col = 1;
    } else if ((x->buf[i] & 0xc0) != 0x80) {
      (*col)++;
    }
  }
}

/* 1 if the leading white space of a line (1-based) holds a tab. */
static int indent_has_tab(const struct ctx *x, int line)
{
  size_t i = 0;
  for (int l = 1; l < line && i < x->len; i++)
    if (x->buf[i] == '\n')
      l++;
  for (; i < x->len && (x->buf[i] == ' ' || x->buf[i] == '\t'); i++)
    if (x->buf[i] == '\t')
      return 1;
  return 0;
}

static int yaml_fail(struct ctx *x, const yaml_parser_t *p)
{
  const char *problem = p->problem ? p->problem : "unknown problem";
  char byte[32] = "";
  int line, col;

  if (p->error == YAML_MEMORY_ERROR)
    return cy_oom(x);
  if (p->error == YAML_READER_ERROR) {
    offset_mark(x, p->problem_offset, &line, &col);
    if (p->problem_value >= 0 && p->problem_value <= 0xff)
      snprintf(byte, sizeof byte, ", byte 0x%02x", (unsigned)p->problem_value);
    else if (p->problem_value > 0xff)
      snprintf(byte, sizeof byte, ", U+%04X", (unsigned)p->problem_value);
    if (strstr(problem, "UTF-8") != NULL || strstr(problem, "Unicode"))
      return cy_fail_at(x, line, col, "the file is not valid UTF-8 text (%s%s)",
                        problem, byte);
    return cy_fail_at(x, line, col, "%s%s", problem, byte);
  }
  line = (int)p->problem_mark.line + 1;
  col = (int)p->problem_mark.column + 1;
  /* libyaml words this several ways ("found character that cannot start
   * any token", "found a tab character that violates indentation"). */
  if (indent_has_tab(x, line))
    return cy_fail_at(x, line, col,
                      "tabs are not allowed in indentation; indent with "
                      "spaces (YAML: %s)",
                      problem);
  if (p->context != NULL)
    return cy_fail_at(x, line, col, "YAML syntax error: %s (%s at line %d)",
                      problem, p->context, (int)p->context_mark.line + 1);
  return cy_fail_at(x, line, col, "YAML syntax error: %s", problem);
}

static int add_kid(struct ctx *x, struct ynode *p, struct ynode *k, size_t *cap)
{
  if (p->nkids == *cap) {
    size_t ncap = *cap ? *cap * 2 : 8;
    struct ynode **v = realloc(p->kids, ncap * sizeof *v);
    if (v == NULL) {
      cy_ynode_free(k);
      return cy_oom(x);
    }
    p->kids = v;
    *cap = ncap;
  }
  p->kids[p->nkids++] = k;
  return 0;
}

/* Builds the node that starts with event ev (which this deletes). */
static int load_node(struct ctx *x, yaml_parser_t *p, yaml_event_t *ev,
                     int depth, struct ynode **out)
{
  int line = (int)ev->start_mark.line + 1;
  int col = (int)ev->start_mark.column + 1;
  const yaml_char_t *anchor = NULL, *tag = NULL;
  yaml_event_type_t end;
  struct ynode *n;
  size_t cap = 0;
  int rc = 0;

  *out = NULL;
  switch (ev->type) {
  case YAML_ALIAS_EVENT:
    rc = cy_fail_at(x, line, col,
                    "aliases (*%s) are not supported; write the value out",
                    (const char *)ev->data.alias.anchor);
    break;
  case YAML_SCALAR_EVENT:
    anchor = ev->data.scalar.anchor;
    tag = ev->data.scalar.tag;
    break;
  case YAML_SEQUENCE_START_EVENT:
    anchor = ev->data.sequence_start.anchor;
    tag = ev->data.sequence_start.tag;
    break;
  case YAML_MAPPING_START_EVENT:
    anchor = ev->data.mapping_start.anchor;
    tag = ev->data.mapping_start.tag;
    break;
  default:
    rc = cy_fail_at(x, line, col, "YAML syntax error: unexpected event");
    break;
  }
  if (rc == 0 && anchor != NULL)
    rc = cy_fail_at(x, line, col,
                    "anchors (&%s) are not supported; write the value out",
                    (const char *)anchor);
  if (rc == 0 && tag != NULL)
    rc = cy_fail_at(x, line, col,
                    "YAML tags (%s) are not supported; quote the value "
                    "instead",
                    (const char *)tag);
  if (rc == 0 && depth > MAX_DEPTH)
    rc = cy_fail_at(x, line, col, "nesting deeper than %d levels", MAX_DEPTH);
  n = rc == 0 ? calloc(1, sizeof *n) : NULL;
  if (rc == 0 && n == NULL)
    rc = cy_oom(x);
  if (rc < 0) {
    yaml_event_delete(ev);
    return -1;
  }
  n->line = line;
  n->col = col;
  if (ev->type == YAML_SCALAR_EVENT) {
    n->kind = Y_SCALAR;
    n->len = ev->data.scalar.length;
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    n->str = malloc(n->len + 1);
    if (n->str != NULL) {
      memcpy(n->str, ev->data.scalar.value, n->len);
      n->str[n->len] = '\0';
    }
    yaml_event_delete(ev);
    if (n->str == NULL) {
      cy_ynode_free(n);
      return cy_oom(x);
    }
    *out = n;
    return 0;
  }
  n->kind = ev->type == YAML_MAPPING_START_EVENT ? Y_MAP : Y_SEQ;
  end = n->kind == Y_MAP ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
  yaml_event_delete(ev);
  for (;;) {
    yaml_event_t e;
    struct ynode *kid;
    if (!yaml_parser_parse(p, &e)) {
      cy_ynode_free(n);
      return yaml_fail(x, p);
    }
    if (e.type == end) {
      yaml_event_delete(&e);
      break;
    }
    if (n->kind == Y_MAP && n->nkids >= 2 * MAX_MAP) {
      cy_fail_at(x, (int)e.start_mark.line + 1, (int)e.start_mark.column + 1,
                 "more than %d keys in one map", MAX_MAP);
      yaml_event_delete(&e);
      cy_ynode_free(n);
      return -1;
    }
    if (load_node(x, p, &e, depth + 1, &kid) < 0 ||
        add_kid(x, n, kid, &cap) < 0) {
      cy_ynode_free(n);
      return -1;
    }
  }
  *out = n;
  return 0;
}

/* The one document of the file as a tree; *root stays NULL when the file
 * holds no document at all. */
int cy_load_tree(struct ctx *x, struct ynode **root)
{
  yaml_parser_t p;
  int rc = 0;

  *root = NULL;
  if (!yaml_parser_initialize(&p))
    return cy_oom(x);
  yaml_parser_set_input_string(&p, x->buf, x->len);
  for (;;) {
    yaml_event_t e;
    if (!yaml_parser_parse(&p, &e)) {
      rc = yaml_fail(x, &p);
      break;
    }
    if (e.type == YAML_STREAM_END_EVENT) {
      yaml_event_delete(&e);
      break;
    }
    if (e.type == YAML_DOCUMENT_START_EVENT && *root != NULL) {
      rc = cy_fail_at(x, (int)e.start_mark.line + 1,
                      (int)e.start_mark.column + 1,
                      "a case file holds one YAML document; a second one "
                      "starts here");
      yaml_event_delete(&e);
      break;
    }
    if (e.type == YAML_SCALAR_EVENT || e.type == YAML_ALIAS_EVENT ||
        e.type == YAML_SEQUENCE_START_EVENT ||
        e.type == YAML_MAPPING_START_EVENT) {
      rc = load_node(x, &p, &e, 0, root);
      if (rc < 0)
        break;
      continue;
    }
    yaml_event_delete(&e);
  }
  yaml_parser_delete(&p);
  if (rc < 0) {
    cy_ynode_free(*root);
    *root = NULL;
  }
  return rc;
}

/* ------------------------------------------------------------------ */
/* Reading values. */

int cy_is_null(const struct ynode *n)
{
  return n->kind == Y_SCALAR && n->plain &&
         (n->len == 0 || strcmp(n->str, "~") == 0 ||
          strcmp(n->str, "null") == 0 || strcmp(n->str, "Null") == 0 ||
          strcmp(n->str, "NULL") == 0);
}

int cy_is_int(const char *s)
{
  if (*s == '-')
    s++;
  if (!isdigit((unsigned char)*s))
    return 0;
  while (isdigit((unsigned char)*s))
    s++;
  return *s == '\0';
}

const char *cy_describe(const struct ynode *n)
{
  if (n->kind == Y_MAP)
    return "a map";
  if (n->kind == Y_SEQ)
    return "a list";
  if (cy_is_null(n))
    return "nothing";
  if (n->plain && cy_is_int(n->str))
    return "a number";
  return "a string";
}

int cy_wrong_type(struct ctx *x, const char *key, const struct ynode *n,
                  const char *want)
{
  if (cy_is_null(n))
    return cy_fail(x, n, "'%s' has no value; it must be %s", key, want);
  if (n->kind == Y_SCALAR)
    return cy_fail(x, n, "'%s' must be %s, not %s ('%s')", key, want,
                   cy_describe(n), cy_shown(x, n));
  return cy_fail(x, n, "'%s' must be %s, not %s", key, want, cy_describe(n));
}

/* Optimal string alignment distance (a swap of neighbours counts 1),
 * case-insensitive; gives up above 3. */
static int distance(const char *a, const char *b)
{
  size_t la = strlen(a), lb = strlen(b);
  int d[3][65];
  if (la > 64 || lb > 64)
    return 99;
  if ((la > lb ? la - lb : lb - la) > 3)
    return 99;
  for (size_t j = 0; j <= lb; j++)
    d[0][j] = (int)j;
  for (size_t i = 1; i <= la; i++) {
    int *cur = d[i % 3], *prev = d[(i - 1) % 3], *pp = d[(i + 1) % 3];
    cur[0] = (int)i;
    for (size_t j = 1; j <= lb; j++) {
      int ca = tolower((unsigned char)a[i - 1]);
      int cb = tolower((unsigned char)b[j - 1]);
      int cost = ca != cb;
      int v = prev[j] + 1;
      if (cur[j - 1] + 1 < v)
        v = cur[j - 1] + 1;
      if (prev[j - 1] + cost < v)
        v = prev[j - 1] + cost;
      if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
          tolower((unsigned char)a[i - 2]) == cb && pp[j - 2] + 1 < v)
        v = pp[j - 2] + 1;
      cur[j] = v;
    }
  }
  return d[la % 3][lb];
}

/* The closest of names (NULL-terminated) when it is a likely typo. */
const char *cy_closest(const char *s, const char *const *names)
{
  const char *best = NULL;
  int bestd = strlen(s) <= 3 ? 1 : 2;
  for (; *names != NULL; names++) {
    int d = distance(s, *names);
    if (d <= bestd && (best == NULL || d < distance(s, best)))
      best = *names;
  }
  return best;
}

void cy_join(char *out, size_t cap, const char *const *names)
{
  size_t o = 0;
  out[0] = '\0';
  for (size_t i = 0; names[i] != NULL && o < cap; i++)
    o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? ", " : "", names[i]);
}

/* The value of key in a map, or NULL. */
const struct ynode *cy_get(const struct ynode *map, const char *key)
{
  for (size_t i = 0; i + 1 < map->nkids; i += 2)
    if (map->kids[i]->kind == Y_SCALAR && strcmp(map->kids[i]->str, key) == 0)
      return map->kids[i + 1];
  return NULL;
}

int cy_want_map(struct ctx *x, const char *key, const struct ynode *n)
{
  if (n->kind != Y_MAP)
    return cy_wrong_type(x, key, n, "a map (key: value lines)");
  return 0;
}

/* Checks that keys are strings, unique, and (when known is not NULL) one
 * of known; where names the map in the message. */
int cy_check_keys(struct ctx *x, const struct ynode *map, const char *where,
                  const char *const *known)
{
  for (size_t i = 0; i < map->nkids; i += 2) {
    const struct ynode *k = map->kids[i];
    if (k->kind != Y_SCALAR || cy_is_null(k))
      return cy_fail(x, k, "a key in %s must be a name, not %s", where,
                     cy_describe(k));
    if (memchr(k->str, '\0', k->len) != NULL)
      return cy_fail(x, k, "a key in %s contains a NUL byte", where);
    for (size_t j = 0; j < i; j += 2)
      if (map->kids[j]->len == k->len &&
          memcmp(map->kids[j]->str, k->str, k->len) == 0)
        return cy_fail(x, k, "duplicate key '%s' (first at line %d)",
                       cy_shown(x, k), map->kids[j]->line);
    if (known != NULL) {
      size_t m = 0;
      while (known[m] != NULL && strcmp(known[m], k->str) != 0)
        m++;
      if (known[m] == NULL) {
        const char *near = cy_closest(k->str, known);
        char list[512];
        if (near != NULL)
          return cy_fail(x, k, "unknown key '%s' (did you mean '%s'?)",
                         cy_shown(x, k), near);
        cy_join(list, sizeof list, known);
        return cy_fail(x, k, "unknown key '%s' in %s (known keys: %s)",
                       cy_shown(x, k), where, list);
      }
    }
  }
  return 0;
}

int cy_get_str(struct ctx *x, const char *key, const struct ynode *n,
               int multiline, char **out)
{
  char *s;
  if (n->kind != Y_SCALAR || cy_is_null(n))
    return cy_wrong_type(x, key, n, "a string");
  if (memchr(n->str, '\0', n->len) != NULL)
    return cy_fail(
        x, n, "'%s' contains a NUL byte (only send: takes raw bytes)", key);
  if (!multiline && strpbrk(n->str, "\r\n") != NULL)
    return cy_fail(x, n, "'%s' must be one line", key);
  s = strdup(n->str);
  if (s == NULL)
    return cy_oom(x);
  free(*out);
  *out = s;
  return 0;
}

void *cy_entries(struct ctx *x, const char *key, const struct ynode *n,
                 const char *where, size_t size)
{
  void *v;
  if (cy_want_map(x, key, n) < 0 || cy_check_keys(x, n, where, NULL) < 0)
    return NULL;
  if ((v = calloc(n->nkids / 2 + 1, size)) == NULL)
    cy_oom(x);
  return v;
}

int cy_opt_str(struct ctx *x, const struct ynode *map, const char *key,
               int multiline, const char *dflt, char **out)
{
  const struct ynode *n = cy_get(map, key);
  if (n != NULL)
    return cy_get_str(x, key, n, multiline, out) < 0 ? -1 : 1;
  if (dflt != NULL && (*out = strdup(dflt)) == NULL)
    return cy_oom(x);
  return 0;
}

int cy_opt_enum(struct ctx *x, const struct ynode *map, const char *key,
                const struct nv *tbl, int dflt, int *out)
{
  const struct ynode *n = cy_get(map, key);
  if (n != NULL)
    return cy_get_enum(x, key, n, tbl, out);
  *out = dflt;
  return 0;
}

int cy_get_str_valid(struct ctx *x, const char *key, const struct ynode *n,
                     int (*valid)(const char *), const char *what,
                     const char *rule, char **out)
{
  if (cy_get_str(x, key, n, 0, out) < 0)
    return -1;
  if (!valid(*out))
    return cy_fail(x, n, "%s '%s' must be %s", what, cy_shown(x, n), rule);
  return 0;
}

int cy_get_int(struct ctx *x, const char *key, const struct ynode *n,
               long long min, long long max, long long *out)
{
  long long v;
  char *end;
  if (n->kind != Y_SCALAR || !n->plain || !cy_is_int(n->str))
    return cy_wrong_type(x, key, n, "a whole number");
  errno = 0;
  v = strtoll(n->str, &end, 10);
  if (errno != 0 || v < min || v > max)
    return cy_fail(x, n, "'%s' must be from %lld to %lld, not %s", key, min,
                   max, cy_shown(x, n));
  *out = v;
  return 0;
}

int cy_get_range(struct ctx *x, const char *key, const struct ynode *n,
                 unsigned *from, unsigned *to)
{
  unsigned long a, b;
  char *end;

  if (n->kind != Y_SCALAR)
    return cy_wrong_type(x, key, n, "a number or a range like 3-8");
  const char *s = n->str;
  if (*s < '1' || *s > '9')
    goto bad;
  a = strtoul(s, &end, 10);
  if (a > 1000000)
    goto bad;
  if (*end == '\0') {
    b = a;
  } else if (*end == '-' && end[1] == '\0') {
    b = UINT_MAX;
  } else if (*end == '-' && end[1] >= '1' && end[1] <= '9') {
    b = strtoul(end + 1, &end, 10);
    if (*end != '\0' || b < a || b > 1000000)
      goto bad;
  } else {
    goto bad;
  }
  *from = (unsigned)a;
  *to = (unsigned)b;
  return 0;
bad:
  return cy_fail(x, n,
                 "%s: expected a number from 1 or a range like 3-8 or 9-, "
                 "got '%s'",
                 key, cy_shown(x, n));
}

int cy_get_bool(struct ctx *x, const char *key, const struct ynode *n, int *out)
{
  static const char *const t[] = {"true", "True", "TRUE"};
  static const char *const f[] = {"false", "False", "FALSE"};
  if (n->kind == Y_SCALAR && n->plain) {
    for (size_t i = 0; i < 3; i++) {
      if (strcmp(n->str, t[i]) == 0) {
        *out = 1;
        return 0;
      }
      if (strcmp(n->str, f[i]) == 0) {
        *out = 0;
        return 0;
      }
    }
  }
  return cy_wrong_type(x, key, n, "true or false");
}

int cy_get_dur(struct ctx *x, const char *key, const struct ynode *n,
               uint64_t *us)
{
  if (n->kind != Y_SCALAR || cy_is_null(n))
    return cy_wrong_type(x, key, n, "a duration (like 5s or 500ms)");
  if (n->str[0] == '-')
    return cy_fail(x, n, "'%s': a duration cannot be negative", cy_shown(x, n));
  if (memchr(n->str, '\0', n->len) != NULL || mp_duration_parse(n->str, us) < 0)
    return cy_fail(x, n,
                   "'%s': a duration is a number and a unit with no space, "
                   "like 5s or 500ms",
                   cy_shown(x, n));
  return 0;
}

/* Durations in config structs are milliseconds: round up, so that a
 * duration that is not zero never becomes zero. */
uint64_t cy_us_to_ms(uint64_t us)
{
  return us / 1000 + (us % 1000 != 0);
}

int cy_get_dur_ms(struct ctx *x, const char *key, const struct ynode *n,
                  int positive, uint64_t *ms)
{
  uint64_t us;
  if (cy_get_dur(x, key, n, &us) < 0)
    return -1;
  if (positive && us == 0)
    return cy_fail(x, n, "'%s' must be more than 0", key);
  *ms = cy_us_to_ms(us);
  return 0;
}

int cy_get_enum(struct ctx *x, const char *key, const struct ynode *n,
                const struct nv *tbl, int *out)
{
  const char *names[40];
  char list[512], want[600];
  const char *near;
  size_t m = 0;

  for (; tbl[m].name != NULL && m + 1 < sizeof names / sizeof names[0]; m++)
    names[m] = tbl[m].name;
  names[m] = NULL;
  cy_join(list, sizeof list, names);
  if (n->kind != Y_SCALAR || cy_is_null(n)) {
    snprintf(want, sizeof want, "one of %s", list);
    return cy_wrong_type(x, key, n, want);
  }
  for (size_t i = 0; i < m; i++) {
    if (strcasecmp(n->str, tbl[i].name) == 0 && strlen(n->str) == n->len) {
      *out = tbl[i].val;
      return 0;
    }
  }
  near = cy_closest(n->str, names);
  if (near != NULL)
    return cy_fail(x, n, "unknown %s '%s' (did you mean '%s'? allowed: %s)",
                   key, cy_shown(x, n), near, list);
  return cy_fail(x, n, "unknown %s '%s' (allowed: %s)", key, cy_shown(x, n),
                 list);
}

int cy_strv_push(struct ctx *x, char ***v, size_t *n, const char *s, size_t len)
{
  char **nv = realloc(*v, (*n + 2) * sizeof *nv);
  char *c;
  if (nv == NULL)
    return cy_oom(x);
  *v = nv;
  c = malloc(len + 1);
  if (c == NULL)
    return cy_oom(x);
  memcpy(c, s, len);
  c[len] = '\0';
  nv[(*n)++] = c;
  nv[*n] = NULL;
  return 0;
}

/* A list of one-line strings; a single string counts as a list of one
 * when one_ok. */
int cy_get_strv(struct ctx *x, const char *key, const struct ynode *n,
                int one_ok, char ***v, size_t *nv)
{
  const struct ynode *const *items = (const struct ynode *const *)&n;
  size_t count = 1;

  if (n->kind == Y_SEQ) {
    items = (const struct ynode *const *)n->kids;
    count = n->nkids;
  } else if (!one_ok || n->kind != Y_SCALAR || cy_is_null(n)) {
    return cy_wrong_type(x, key, n, "a list");
  }
  for (size_t i = 0; i < count; i++) {
    const struct ynode *it = items[i];
    if (it->kind != Y_SCALAR || cy_is_null(it))
      return cy_fail(x, it, "each item of '%s' must be a string, not %s", key,
                     cy_describe(it));
    if (memchr(it->str, '\0', it->len) != NULL ||
        strpbrk(it->str, "\r\n") != NULL)
      return cy_fail(x, it, "an item of '%s' must be one line of text", key);
    if (cy_strv_push(x, v, nv, it->str, it->len) < 0)
      return -1;
  }
  if (*v == NULL) {
    /* An empty list: a non-NULL array of no items. */
    *v = calloc(1, sizeof **v);
    if (*v == NULL)
      return cy_oom(x);
  }
  return 0;
}

/* A list of mechanism or capability names: a list, or one string of
 * names split on spaces and commas. Names are upper-cased. */
int cy_get_names(struct ctx *x, const char *key, const struct ynode *n,
                 char ***v, size_t *nv)
{
  if (n->kind == Y_SCALAR && !cy_is_null(n)) {
    const char *s = n->str;
    if (memchr(s, '\0', n->len) != NULL)
      return cy_fail(x, n, "'%s' contains a NUL byte", key);
    while (*s != '\0') {
      size_t len;
      s += strspn(s, " ,");
      len = strcspn(s, " ,");
      if (len > 0 && cy_strv_push(x, v, nv, s, len) < 0)
        return -1;
      s += len;
    }
    if (*v == NULL)
      return cy_fail(x, n, "'%s' names nothing; write [] for none", key);
  } else if (cy_get_strv(x, key, n, 0, v, nv) < 0) {
    return -1;
  }
  for (size_t i = 0; i < *nv; i++) {
    const struct ynode *at = n->kind == Y_SEQ ? n->kids[i] : n;
    for (char *p = (*v)[i]; *p != '\0'; p++) {
      if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '=' &&
          *p != '.')
        return cy_fail(x, at,
                       "'%s': '%s' is not a name (letters, digits, "
                       "'-', '_', '.', '=')",
                       key, cy_show(x, (*v)[i], strlen((*v)[i])));
      *p = (char)toupper((unsigned char)*p);
    }
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* Names of things. */

const struct nv cy_proto_names[] = {{"smtp", MP_FAKE_SMTP},
                                    {"pop3", MP_FAKE_POP3},
                                    {"imap", MP_FAKE_IMAP},
                                    {NULL, 0}};

int cy_read_file(const char *path, size_t max, const char *what, char **out,
                 size_t *outlen, char *err, size_t errlen)
{
  struct stat st;
  char *buf;
  size_t len = 0;
  int fd;

  *out = NULL;
  *outlen = 0;
  /* O_NONBLOCK: opening a FIFO with no writer would wait forever; it is
   * refused below as not a regular file (reads of files do not block). */
  fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0 || fstat(fd, &st) < 0) {
    snprintf(err, errlen, "%s: cannot open the %s: %s", path, what,
             strerror(errno));
    if (fd >= 0)
      close(fd);
    return MP_E_PROTOCOL_ERROR;
  }
  if (!S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "%s: not a regular file", path);
    close(fd);
    return MP_E_PROTOCOL_ERROR;
  }
  if ((uint64_t)st.st_size > max) {
    int mib = max % (1024 * 1024) == 0;
    snprintf(err, errlen,
             "%s:1:1: the file is larger than %zu %s (%lld bytes); a %s "
             "is a few dozen lines",
             path, mib ? max / (1024 * 1024) : max / 1024, mib ? "MiB" : "KiB",
             (long long)st.st_size, what);
    close(fd);
    return MP_E_PROTOCOL_ERROR;
  }
  /* One byte more than the limit, to notice a file that grew. */
  buf = malloc(max + 2);
  if (buf == NULL) {
    snprintf(err, errlen, "%s: out of memory", path);
    close(fd);
    return MP_E_NO_RESOURCES;
  }
  for (;;) {
    ssize_t n = read(fd, buf + len, max + 1 - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      snprintf(err, errlen, "%s: cannot read the %s: %s", path, what,
               strerror(errno));
      free(buf);
      close(fd);
      return MP_E_PROTOCOL_ERROR;
    }
    if (n == 0 || (len += (size_t)n) > max)
      break;
  }
  close(fd);
  buf[len] = '\0';
  *out = buf;
  *outlen = len;
  return 0;
}

char *cy_file_stem(const char *file)
{
  const char *base = strrchr(file, '/');
  size_t len;

  base = base ? base + 1 : file;
  len = strlen(base);
  if (len > 5 && strcmp(base + len - 5, ".yaml") == 0)
    len -= 5;
  else if (len > 4 && strcmp(base + len - 4, ".yml") == 0)
    len -= 4;
  return strndup(base, len);
}

int cy_doc_too_big(const char *name, size_t len, size_t max, const char *hint,
                   char *err, size_t errlen)
{
  if (err != NULL && errlen > 0)
    snprintf(err, errlen,
             "%s:1:1: the file is larger than %zu MiB (%zu bytes)%s", name,
             max / (1024 * 1024), len, hint);
  return MP_E_PROTOCOL_ERROR;
}

int cy_parse_doc(const char *buf, size_t len, const char *name,
                 int (*parse)(struct ctx *x, const struct ynode *root,
                              void *arg),
                 void *arg, char *err, size_t errlen)
{
  struct ctx x;
  struct ynode *root = NULL;
  int rc;

  memset(&x, 0, sizeof(x));
  x.file = name;
  x.buf = (const unsigned char *)buf;
  x.len = len;
  x.err = err;
  x.errlen = errlen;
  if (err != NULL && errlen > 0)
    err[0] = '\0';
  rc = cy_load_tree(&x, &root);
  if (rc == 0)
    rc = parse(&x, root, arg);
  cy_ynode_free(root);
  if (rc < 0)
    return x.oom ? MP_E_NO_RESOURCES : MP_E_PROTOCOL_ERROR;
  return 0;
}
