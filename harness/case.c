/* The case-file parser (docs/case-format.md). Two passes: libyaml's events
 * become a small tree of nodes that keep their 1-based line and column,
 * then the tree becomes struct mp_case, checking every key, type and value
 * on the way, so that a mistake is an error naming file:line:column and
 * never a silent default. Pure: no event loop, no network. */
#include "harness/case.h"

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

#define MAX_DEPTH 32 /* nesting of maps and lists */
#define MAX_MAP 4096 /* pairs in one map (duplicates are O(n^2)) */
#define MAX_DURATION_US 1000000000000000ull /* 10^15 us, about 31 years */
#define SHOW_MAX 60 /* characters of a value quoted in a message */
#define DEFAULT_HOSTNAME "mx.example.test"
#define DEFAULT_MESSAGE_SIZE 1024

/* ------------------------------------------------------------------ */
/* The tree. */

enum ykind { Y_SCALAR = 0, Y_SEQ, Y_MAP };

struct ynode {
  enum ykind kind;
  int line, col;       /* 1-based */
  char *str;           /* scalar: the value, NUL-terminated */
  size_t len;          /* scalar: its length (may hold NULs) */
  int plain;           /* scalar: written plain (not quoted, no block) */
  struct ynode **kids; /* list: items; map: key, value, key, value... */
  size_t nkids;
};

struct ctx {
  const char *file;
  const unsigned char *buf;
  size_t len;
  char *err;
  size_t errlen;
  int failed;
  int oom;
  char show[4][SHOW_MAX * 4 + 8];
  unsigned nshow;
};

static void ynode_free(struct ynode *n)
{
  if (n == NULL)
    return;
  for (size_t i = 0; i < n->nkids; i++)
    ynode_free(n->kids[i]);
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

__attribute__((format(printf, 4, 5))) static int
fail_at(struct ctx *x, int line, int col, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vfail_at(x, line, col, fmt, ap);
  va_end(ap);
  return -1;
}

__attribute__((format(printf, 3, 4))) static int
fail(struct ctx *x, const struct ynode *n, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vfail_at(x, n->line, n->col, fmt, ap);
  va_end(ap);
  return -1;
}

static int oom(struct ctx *x)
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
static const char *show(struct ctx *x, const char *s, size_t len)
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

static const char *shown(struct ctx *x, const struct ynode *n)
{
  if (n->kind == Y_MAP)
    return "(a map)";
  if (n->kind == Y_SEQ)
    return "(a list)";
  return show(x, n->str, n->len);
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
    return oom(x);
  if (p->error == YAML_READER_ERROR) {
    offset_mark(x, p->problem_offset, &line, &col);
    if (p->problem_value >= 0 && p->problem_value <= 0xff)
      snprintf(byte, sizeof byte, ", byte 0x%02x", (unsigned)p->problem_value);
    else if (p->problem_value > 0xff)
      snprintf(byte, sizeof byte, ", U+%04X", (unsigned)p->problem_value);
    if (strstr(problem, "UTF-8") != NULL || strstr(problem, "Unicode"))
      return fail_at(x, line, col, "the file is not valid UTF-8 text (%s%s)",
                     problem, byte);
    return fail_at(x, line, col, "%s%s", problem, byte);
  }
  line = (int)p->problem_mark.line + 1;
  col = (int)p->problem_mark.column + 1;
  /* libyaml words this several ways ("found character that cannot start
   * any token", "found a tab character that violates indentation"). */
  if (indent_has_tab(x, line))
    return fail_at(x, line, col,
                   "tabs are not allowed in indentation; indent with "
                   "spaces (YAML: %s)",
                   problem);
  if (p->context != NULL)
    return fail_at(x, line, col, "YAML syntax error: %s (%s at line %d)",
                   problem, p->context, (int)p->context_mark.line + 1);
  return fail_at(x, line, col, "YAML syntax error: %s", problem);
}

static int add_kid(struct ctx *x, struct ynode *p, struct ynode *k, size_t *cap)
{
  if (p->nkids == *cap) {
    size_t ncap = *cap ? *cap * 2 : 8;
    struct ynode **v = realloc(p->kids, ncap * sizeof *v);
    if (v == NULL) {
      ynode_free(k);
      return oom(x);
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
    rc = fail_at(x, line, col,
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
    rc = fail_at(x, line, col, "YAML syntax error: unexpected event");
    break;
  }
  if (rc == 0 && anchor != NULL)
    rc = fail_at(x, line, col,
                 "anchors (&%s) are not supported; write the value out",
                 (const char *)anchor);
  if (rc == 0 && tag != NULL)
    rc = fail_at(x, line, col,
                 "YAML tags (%s) are not supported; quote the value "
                 "instead",
                 (const char *)tag);
  if (rc == 0 && depth > MAX_DEPTH)
    rc = fail_at(x, line, col, "nesting deeper than %d levels", MAX_DEPTH);
  n = rc == 0 ? calloc(1, sizeof *n) : NULL;
  if (rc == 0 && n == NULL)
    rc = oom(x);
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
      ynode_free(n);
      return oom(x);
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
      ynode_free(n);
      return yaml_fail(x, p);
    }
    if (e.type == end) {
      yaml_event_delete(&e);
      break;
    }
    if (n->kind == Y_MAP && n->nkids >= 2 * MAX_MAP) {
      fail_at(x, (int)e.start_mark.line + 1, (int)e.start_mark.column + 1,
              "more than %d keys in one map", MAX_MAP);
      yaml_event_delete(&e);
      ynode_free(n);
      return -1;
    }
    if (load_node(x, p, &e, depth + 1, &kid) < 0 ||
        add_kid(x, n, kid, &cap) < 0) {
      ynode_free(n);
      return -1;
    }
  }
  *out = n;
  return 0;
}

/* The one document of the file as a tree; *root stays NULL when the file
 * holds no document at all. */
static int load_tree(struct ctx *x, struct ynode **root)
{
  yaml_parser_t p;
  int rc = 0;

  *root = NULL;
  if (!yaml_parser_initialize(&p))
    return oom(x);
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
      rc = fail_at(x, (int)e.start_mark.line + 1, (int)e.start_mark.column + 1,
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
    ynode_free(*root);
    *root = NULL;
  }
  return rc;
}

/* ------------------------------------------------------------------ */
/* Reading values. */

struct nv {
  const char *name;
  int val;
};

static int is_null(const struct ynode *n)
{
  return n->kind == Y_SCALAR && n->plain &&
         (n->len == 0 || strcmp(n->str, "~") == 0 ||
          strcmp(n->str, "null") == 0 || strcmp(n->str, "Null") == 0 ||
          strcmp(n->str, "NULL") == 0);
}

static int is_int(const char *s)
{
  if (*s == '-')
    s++;
  if (!isdigit((unsigned char)*s))
    return 0;
  while (isdigit((unsigned char)*s))
    s++;
  return *s == '\0';
}

static const char *describe(const struct ynode *n)
{
  if (n->kind == Y_MAP)
    return "a map";
  if (n->kind == Y_SEQ)
    return "a list";
  if (is_null(n))
    return "nothing";
  if (n->plain && is_int(n->str))
    return "a number";
  return "a string";
}

static int wrong_type(struct ctx *x, const char *key, const struct ynode *n,
                      const char *want)
{
  if (is_null(n))
    return fail(x, n, "'%s' has no value; it must be %s", key, want);
  if (n->kind == Y_SCALAR)
    return fail(x, n, "'%s' must be %s, not %s ('%s')", key, want, describe(n),
                shown(x, n));
  return fail(x, n, "'%s' must be %s, not %s", key, want, describe(n));
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
static const char *closest(const char *s, const char *const *names)
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

static void join(char *out, size_t cap, const char *const *names)
{
  size_t o = 0;
  out[0] = '\0';
  for (size_t i = 0; names[i] != NULL && o < cap; i++)
    o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? ", " : "", names[i]);
}

/* The value of key in a map, or NULL. */
static const struct ynode *get(const struct ynode *map, const char *key)
{
  for (size_t i = 0; i + 1 < map->nkids; i += 2)
    if (map->kids[i]->kind == Y_SCALAR && strcmp(map->kids[i]->str, key) == 0)
      return map->kids[i + 1];
  return NULL;
}

static int want_map(struct ctx *x, const char *key, const struct ynode *n)
{
  if (n->kind != Y_MAP)
    return wrong_type(x, key, n, "a map (key: value lines)");
  return 0;
}

/* Checks that keys are strings, unique, and (when known is not NULL) one
 * of known; where names the map in the message. */
static int check_keys(struct ctx *x, const struct ynode *map, const char *where,
                      const char *const *known)
{
  for (size_t i = 0; i < map->nkids; i += 2) {
    const struct ynode *k = map->kids[i];
    if (k->kind != Y_SCALAR || is_null(k))
      return fail(x, k, "a key in %s must be a name, not %s", where,
                  describe(k));
    if (memchr(k->str, '\0', k->len) != NULL)
      return fail(x, k, "a key in %s contains a NUL byte", where);
    for (size_t j = 0; j < i; j += 2)
      if (map->kids[j]->len == k->len &&
          memcmp(map->kids[j]->str, k->str, k->len) == 0)
        return fail(x, k, "duplicate key '%s' (first at line %d)", shown(x, k),
                    map->kids[j]->line);
    if (known != NULL) {
      size_t m = 0;
      while (known[m] != NULL && strcmp(known[m], k->str) != 0)
        m++;
      if (known[m] == NULL) {
        const char *near = closest(k->str, known);
        char list[512];
        if (near != NULL)
          return fail(x, k, "unknown key '%s' (did you mean '%s'?)",
                      shown(x, k), near);
        join(list, sizeof list, known);
        return fail(x, k, "unknown key '%s' in %s (known keys: %s)",
                    shown(x, k), where, list);
      }
    }
  }
  return 0;
}

static int get_str(struct ctx *x, const char *key, const struct ynode *n,
                   int multiline, char **out)
{
  char *s;
  if (n->kind != Y_SCALAR || is_null(n))
    return wrong_type(x, key, n, "a string");
  if (memchr(n->str, '\0', n->len) != NULL)
    return fail(x, n, "'%s' contains a NUL byte (only send: takes raw bytes)",
                key);
  if (!multiline && strpbrk(n->str, "\r\n") != NULL)
    return fail(x, n, "'%s' must be one line", key);
  s = strdup(n->str);
  if (s == NULL)
    return oom(x);
  free(*out);
  *out = s;
  return 0;
}

static int get_int(struct ctx *x, const char *key, const struct ynode *n,
                   long long min, long long max, long long *out)
{
  long long v;
  char *end;
  if (n->kind != Y_SCALAR || !n->plain || !is_int(n->str))
    return wrong_type(x, key, n, "a whole number");
  errno = 0;
  v = strtoll(n->str, &end, 10);
  if (errno != 0 || v < min || v > max)
    return fail(x, n, "'%s' must be from %lld to %lld, not %s", key, min, max,
                shown(x, n));
  *out = v;
  return 0;
}

static int get_bool(struct ctx *x, const char *key, const struct ynode *n,
                    int *out)
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
  return wrong_type(x, key, n, "true or false");
}

static int get_dur(struct ctx *x, const char *key, const struct ynode *n,
                   uint64_t *us)
{
  if (n->kind != Y_SCALAR || is_null(n))
    return wrong_type(x, key, n, "a duration (like 5s or 500ms)");
  if (n->str[0] == '-')
    return fail(x, n, "'%s': a duration cannot be negative", shown(x, n));
  if (memchr(n->str, '\0', n->len) != NULL || mp_duration_parse(n->str, us) < 0)
    return fail(x, n,
                "'%s': a duration is a number and a unit with no space, "
                "like 5s or 500ms",
                shown(x, n));
  return 0;
}

/* Durations in config structs are milliseconds: round up, so that a
 * duration that is not zero never becomes zero. */
static uint64_t us_to_ms(uint64_t us)
{
  return us / 1000 + (us % 1000 != 0);
}

static int get_dur_ms(struct ctx *x, const char *key, const struct ynode *n,
                      int positive, uint64_t *ms)
{
  uint64_t us;
  if (get_dur(x, key, n, &us) < 0)
    return -1;
  if (positive && us == 0)
    return fail(x, n, "'%s' must be more than 0", key);
  *ms = us_to_ms(us);
  return 0;
}

static int get_enum(struct ctx *x, const char *key, const struct ynode *n,
                    const struct nv *tbl, int *out)
{
  const char *names[40];
  char list[512], want[600];
  const char *near;
  size_t m = 0;

  for (; tbl[m].name != NULL && m + 1 < sizeof names / sizeof names[0]; m++)
    names[m] = tbl[m].name;
  names[m] = NULL;
  join(list, sizeof list, names);
  if (n->kind != Y_SCALAR || is_null(n)) {
    snprintf(want, sizeof want, "one of %s", list);
    return wrong_type(x, key, n, want);
  }
  for (size_t i = 0; i < m; i++) {
    if (strcasecmp(n->str, tbl[i].name) == 0 && strlen(n->str) == n->len) {
      *out = tbl[i].val;
      return 0;
    }
  }
  near = closest(n->str, names);
  if (near != NULL)
    return fail(x, n, "unknown %s '%s' (did you mean '%s'? allowed: %s)", key,
                shown(x, n), near, list);
  return fail(x, n, "unknown %s '%s' (allowed: %s)", key, shown(x, n), list);
}

static int strv_push(struct ctx *x, char ***v, size_t *n, const char *s,
                     size_t len)
{
  char **nv = realloc(*v, (*n + 2) * sizeof *nv);
  char *c;
  if (nv == NULL)
    return oom(x);
  *v = nv;
  c = malloc(len + 1);
  if (c == NULL)
    return oom(x);
  memcpy(c, s, len);
  c[len] = '\0';
  nv[(*n)++] = c;
  nv[*n] = NULL;
  return 0;
}

/* A list of one-line strings; a single string counts as a list of one
 * when one_ok. */
static int get_strv(struct ctx *x, const char *key, const struct ynode *n,
                    int one_ok, char ***v, size_t *nv)
{
  const struct ynode *const *items = (const struct ynode *const *)&n;
  size_t count = 1;

  if (n->kind == Y_SEQ) {
    items = (const struct ynode *const *)n->kids;
    count = n->nkids;
  } else if (!one_ok || n->kind != Y_SCALAR || is_null(n)) {
    return wrong_type(x, key, n, "a list");
  }
  for (size_t i = 0; i < count; i++) {
    const struct ynode *it = items[i];
    if (it->kind != Y_SCALAR || is_null(it))
      return fail(x, it, "each item of '%s' must be a string, not %s", key,
                  describe(it));
    if (memchr(it->str, '\0', it->len) != NULL ||
        strpbrk(it->str, "\r\n") != NULL)
      return fail(x, it, "an item of '%s' must be one line of text", key);
    if (strv_push(x, v, nv, it->str, it->len) < 0)
      return -1;
  }
  if (*v == NULL) {
    /* An empty list: a non-NULL array of no items. */
    *v = calloc(1, sizeof **v);
    if (*v == NULL)
      return oom(x);
  }
  return 0;
}

/* A list of mechanism or capability names: a list, or one string of
 * names split on spaces and commas. Names are upper-cased. */
static int get_names(struct ctx *x, const char *key, const struct ynode *n,
                     char ***v, size_t *nv)
{
  if (n->kind == Y_SCALAR && !is_null(n)) {
    const char *s = n->str;
    if (memchr(s, '\0', n->len) != NULL)
      return fail(x, n, "'%s' contains a NUL byte", key);
    while (*s != '\0') {
      size_t len;
      s += strspn(s, " ,");
      len = strcspn(s, " ,");
      if (len > 0 && strv_push(x, v, nv, s, len) < 0)
        return -1;
      s += len;
    }
    if (*v == NULL)
      return fail(x, n, "'%s' names nothing; write [] for none", key);
  } else if (get_strv(x, key, n, 0, v, nv) < 0) {
    return -1;
  }
  for (size_t i = 0; i < *nv; i++) {
    const struct ynode *at = n->kind == Y_SEQ ? n->kids[i] : n;
    for (char *p = (*v)[i]; *p != '\0'; p++) {
      if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '=' &&
          *p != '.')
        return fail(x, at,
                    "'%s': '%s' is not a name (letters, digits, "
                    "'-', '_', '.', '=')",
                    key, show(x, (*v)[i], strlen((*v)[i])));
      *p = (char)toupper((unsigned char)*p);
    }
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* Names of things. */

static const struct nv proto_names[] = {{"smtp", MP_FAKE_SMTP},
                                        {"pop3", MP_FAKE_POP3},
                                        {"imap", MP_FAKE_IMAP},
                                        {NULL, 0}};
static const struct nv server_tls_names[] = {{"none", MP_FAKE_TLS_NONE},
                                             {"starttls", MP_FAKE_TLS_STARTTLS},
                                             {"implicit", MP_FAKE_TLS_IMPLICIT},
                                             {NULL, 0}};
static const struct nv cert_names[] = {{"valid", MP_CERT_VALID},
                                       {"expired", MP_CERT_EXPIRED},
                                       {"not_yet_valid", MP_CERT_NOT_YET_VALID},
                                       {"self_signed", MP_CERT_SELF_SIGNED},
                                       {"wrong_host", MP_CERT_WRONG_HOST},
                                       {NULL, 0}};
static const struct nv key_names[] = {{"ec", 0}, {"rsa", 1}, {NULL, 0}};
static const struct nv tls_fault_names[] = {
    {"none", MP_TLS_FAULT_NONE},
    {"close", MP_TLS_FAULT_CLOSE},
    {"garbage", MP_TLS_FAULT_GARBAGE},
    {"alert", MP_TLS_FAULT_ALERT},
    {"stall", MP_TLS_FAULT_STALL},
    {"alert_mid", MP_TLS_FAULT_ALERT_MID},
    {NULL, 0}};
static const struct nv when_names[] = {
    {"any", -1}, {"before_tls", 0}, {"after_tls", 1}, {NULL, 0}};
static const struct nv then_names[] = {
    {"continue", MP_THEN_CONTINUE}, {"close", MP_THEN_CLOSE},
    {"reset", MP_THEN_RESET},       {"hang", MP_THEN_HANG},
    {"starttls", MP_THEN_STARTTLS}, {NULL, 0}};
static const struct nv probe_type_names[] = {{"smtp", MP_CASE_SMTP},
                                             {"pop3", MP_CASE_POP3},
                                             {"imap", MP_CASE_IMAP},
                                             {"roundtrip", MP_CASE_ROUNDTRIP},
                                             {NULL, 0}};
static const struct nv probe_tls_names[] = {{"none", MP_TLSMODE_NONE},
                                            {"starttls", MP_TLSMODE_STARTTLS},
                                            {"implicit", MP_TLSMODE_IMPLICIT},
                                            {"auto", MP_TLSMODE_AUTO},
                                            {NULL, 0}};
static const struct nv dns_mode_names[] = {{"system", MP_DNS_SYSTEM},
                                           {"no_cache", MP_DNS_NO_CACHE},
                                           {"server", MP_DNS_SERVER},
                                           {"ipv4", MP_DNS_IPV4},
                                           {"ipv6", MP_DNS_IPV6},
                                           {"prefer_ipv4", MP_DNS_PREFER_V4},
                                           {"prefer_ipv6", MP_DNS_PREFER_V6},
                                           {NULL, 0}};
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

/* Command verbs a rule can match, by protocol. */
static const char *const smtp_verbs[] = {
    "HELO", "EHLO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "BDAT",
    "RSET", "NOOP", "QUIT",     "VRFY", "EXPN", "HELP", NULL};
static const char *const pop3_verbs[] = {
    "CAPA", "STLS", "USER", "PASS", "APOP", "AUTH", "STAT", "LIST",
    "RETR", "DELE", "TOP",  "UIDL", "NOOP", "RSET", "QUIT", NULL};
static const char *const imap_verbs[] = {
    "CAPABILITY",  "NOOP",   "LOGOUT",   "STARTTLS",  "AUTHENTICATE",
    "LOGIN",       "ENABLE", "ID",       "NAMESPACE", "SELECT",
    "EXAMINE",     "CREATE", "DELETE",   "RENAME",    "SUBSCRIBE",
    "UNSUBSCRIBE", "LIST",   "LSUB",     "STATUS",    "APPEND",
    "CHECK",       "CLOSE",  "UNSELECT", "EXPUNGE",   "SEARCH",
    "FETCH",       "STORE",  "COPY",     "MOVE",      "UID",
    "IDLE",        NULL};

/* ------------------------------------------------------------------ */
/* Servers. */

static void free_strv(char **v, size_t n)
{
  if (v == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

/* Frees what a fake config owns. fake_servers/ has mp_fake_config_free,
 * but the harness frees its own configs so that the parser links without
 * the servers. */
static void free_fake_config(struct mp_fake_config *s)
{
  free(s->name);
  free(s->hostname);
  for (size_t i = 0; i < s->nusers; i++) {
    free(s->users[i].name);
    free(s->users[i].password);
  }
  free(s->users);
  free_strv(s->auth, s->nauth);
  free_strv(s->advertise, s->nadvertise);
  free_strv(s->withhold, s->nwithhold);
  for (size_t i = 0; i < s->nmailboxes; i++)
    free(s->mailboxes[i].user);
  free(s->mailboxes);
  free(s->delivery.redirect);
  free(s->delivery.subject);
  for (size_t i = 0; i < s->nrules; i++) {
    struct mp_fake_rule *r = &s->rules[i];
    free(r->match);
    free_strv(r->reply, r->nreply);
    free(r->send);
  }
  free(s->rules);
  memset(s, 0, sizeof *s);
}

/* Splits a reply into lines: on "\n", one trailing "\n" (a YAML block
 * scalar's) dropped, a "\r" before each "\n" dropped. */
static int push_reply_lines(struct ctx *x, const struct ynode *n,
                            struct mp_fake_rule *r)
{
  const char *s = n->str;
  size_t len = n->len;
  if (memchr(s, '\0', len) != NULL)
    return fail(x, n,
                "a reply line cannot hold a NUL byte; use send: for "
                "raw bytes");
  if (len > 0 && s[len - 1] == '\n')
    len--;
  for (;;) {
    const char *nl = memchr(s, '\n', len);
    size_t l = nl ? (size_t)(nl - s) : len;
    size_t keep = l > 0 && s[l - 1] == '\r' ? l - 1 : l;
    if (memchr(s, '\r', keep) != NULL)
      return fail(x, n,
                  "a reply line cannot hold a carriage return; use "
                  "send: for raw bytes");
    if (strv_push(x, &r->reply, &r->nreply, s, keep) < 0)
      return -1;
    if (nl == NULL)
      return 0;
    s = nl + 1;
    len -= l + 1;
  }
}

static int get_reply(struct ctx *x, const struct ynode *n,
                     struct mp_fake_rule *r)
{
  if (n->kind == Y_SCALAR && !is_null(n))
    return push_reply_lines(x, n, r);
  if (n->kind != Y_SEQ)
    return wrong_type(x, "reply", n, "a string or a list of lines");
  for (size_t i = 0; i < n->nkids; i++) {
    const struct ynode *it = n->kids[i];
    if (it->kind != Y_SCALAR || is_null(it))
      return fail(x, it, "each line of 'reply' must be a string, not %s",
                  describe(it));
    if (push_reply_lines(x, it, r) < 0)
      return -1;
  }
  if (r->reply == NULL) {
    /* reply: [] answers nothing: a non-NULL array of no lines. */
    r->reply = calloc(1, sizeof *r->reply);
    if (r->reply == NULL)
      return oom(x);
  }
  return 0;
}

static int get_drip(struct ctx *x, const struct ynode *n,
                    struct mp_fake_rule *r)
{
  static const char *const keys[] = {"bytes", "every", NULL};
  const struct ynode *v;
  long long bytes = 1;

  if (n->kind == Y_SCALAR)
    return get_dur_ms(x, "drip", n, 0, &r->drip_every_ms) < 0
               ? -1
               : (r->drip_bytes = 1, 0);
  if (n->kind != Y_MAP)
    return wrong_type(x, "drip", n, "a duration or {bytes: N, every: DUR}");
  if (check_keys(x, n, "drip", keys) < 0)
    return -1;
  if ((v = get(n, "bytes")) != NULL &&
      get_int(x, "bytes", v, 1, 65536, &bytes) < 0)
    return -1;
  if ((v = get(n, "every")) == NULL)
    return fail(x, n, "drip: missing required key 'every' (like every: 1s)");
  if (get_dur_ms(x, "every", v, 0, &r->drip_every_ms) < 0)
    return -1;
  r->drip_bytes = (uint32_t)bytes;
  return 0;
}

/* tls_drip: DUR (one byte each DUR) or {bytes: N, every: DUR}; every may
 * be 0 (a piece per loop turn). */
static int get_tls_drip(struct ctx *x, const struct ynode *n,
                        struct mp_fake_rule *r)
{
  static const char *const keys[] = {"bytes", "every", NULL};
  const struct ynode *v;
  long long bytes = 1;

  if (n->kind == Y_SCALAR)
    return get_dur_ms(x, "tls_drip", n, 0, &r->tls_drip_every_ms) < 0
               ? -1
               : (r->tls_drip_bytes = 1, 0);
  if (n->kind != Y_MAP)
    return wrong_type(x, "tls_drip", n, "a duration or {bytes: N, every: DUR}");
  if (check_keys(x, n, "tls_drip", keys) < 0)
    return -1;
  if ((v = get(n, "bytes")) != NULL &&
      get_int(x, "bytes", v, 1, 65536, &bytes) < 0)
    return -1;
  if ((v = get(n, "every")) == NULL)
    return fail(x, n,
                "tls_drip: missing required key 'every' (like every: 1ms)");
  if (get_dur_ms(x, "every", v, 0, &r->tls_drip_every_ms) < 0)
    return -1;
  r->tls_drip_bytes = (uint32_t)bytes;
  return 0;
}

/* send_hex: bytes as hex digit pairs, spaces between pairs allowed
 * ("ff fe 0d 0a"), for bytes YAML text cannot hold (invalid UTF-8);
 * appended to the rule's send. */
static int get_send_hex(struct ctx *x, const struct ynode *n,
                        struct mp_fake_rule *r)
{
  size_t nbytes = 0, cap;
  char *p;

  if (n->kind != Y_SCALAR || is_null(n))
    return wrong_type(x, "send_hex", n,
                      "hex digit pairs, like \"ff fe 0d 0a\"");
  cap = r->send_len + n->len / 2 + 1;
  p = realloc(r->send, cap);
  if (p == NULL)
    return oom(x);
  r->send = p;
  for (size_t i = 0; i < n->len;) {
    unsigned v;
    if (n->str[i] == ' ') {
      i++;
      continue;
    }
    if (i + 1 >= n->len || !isxdigit((unsigned char)n->str[i]) ||
        !isxdigit((unsigned char)n->str[i + 1]) ||
        sscanf(n->str + i, "%2x", &v) != 1)
      return fail(x, n,
                  "'send_hex' takes pairs of hex digits (spaces between "
                  "pairs allowed), like \"ff fe 0d 0a\"; not '%s'",
                  shown(x, n));
    p[r->send_len + nbytes++] = (char)v;
    i += 2;
  }
  if (nbytes == 0)
    return fail(x, n, "'send_hex' holds no bytes");
  r->send_len += nbytes;
  p[r->send_len] = '\0';
  return 0;
}

/* repeat: a whole number from 1, or forever. */
static int get_repeat(struct ctx *x, const struct ynode *n,
                      struct mp_fake_rule *r)
{
  long long v;
  if (n->kind == Y_SCALAR && n->plain && strcmp(n->str, "forever") == 0) {
    r->repeat = MP_REPEAT_FOREVER;
    return 0;
  }
  if (n->kind != Y_SCALAR || !n->plain || !is_int(n->str))
    return wrong_type(x, "repeat", n, "a whole number or forever");
  if (get_int(x, "repeat", n, 1, 1000000000, &v) < 0)
    return -1;
  r->repeat = (uint64_t)v;
  return 0;
}

static int get_on(struct ctx *x, const struct ynode *n,
                  const struct mp_fake_config *s, struct mp_fake_rule *r)
{
  const char *const *verbs = s->proto == MP_FAKE_SMTP   ? smtp_verbs
                             : s->proto == MP_FAKE_POP3 ? pop3_verbs
                                                        : imap_verbs;
  const char *pname = proto_names[s->proto].name;
  char verb[32], list[512];
  const char *near;
  size_t i;

  if (n->kind != Y_SCALAR || is_null(n))
    return wrong_type(x, "on", n,
                      "connect, tls, message, a command verb or line:GLOB");
  if (memchr(n->str, '\0', n->len) != NULL || strpbrk(n->str, "\r\n"))
    return fail(x, n, "'on' must be one line");
  if (strncasecmp(n->str, "line:", 5) == 0) {
    const char *glob = n->str + 5;
    glob += strspn(glob, " ");
    if (*glob == '\0')
      return fail(x, n, "'line:' needs a glob, like line:AUTH PLAIN*");
    r->on = MP_ON_LINE;
    r->match = strdup(glob);
    return r->match == NULL ? oom(x) : 0;
  }
  if (strcasecmp(n->str, "connect") == 0) {
    r->on = MP_ON_CONNECT;
    return 0;
  }
  if (strcasecmp(n->str, "tls") == 0) {
    if (s->tls == MP_FAKE_TLS_NONE)
      return fail(x, n,
                  "'on: tls' needs a server with tls: starttls or "
                  "implicit");
    r->on = MP_ON_TLS;
    return 0;
  }
  if (strcasecmp(n->str, "message") == 0) {
    if (s->proto != MP_FAKE_SMTP)
      return fail(x, n,
                  "'on: message' (the end of DATA) is for smtp "
                  "servers");
    r->on = MP_ON_MESSAGE;
    return 0;
  }
  if (strchr(n->str, ' ') != NULL)
    return fail(x, n,
                "'on' takes a command verb alone; to match the whole line "
                "write 'line:%s*'",
                shown(x, n));
  for (i = 0; n->str[i] != '\0' && i + 1 < sizeof verb; i++)
    verb[i] = (char)toupper((unsigned char)n->str[i]);
  verb[i] = '\0';
  for (i = 0; verbs[i] != NULL; i++) {
    if (strcmp(verbs[i], verb) == 0) {
      r->on = MP_ON_COMMAND;
      r->match = strdup(verb);
      return r->match == NULL ? oom(x) : 0;
    }
  }
  near = closest(verb, verbs);
  join(list, sizeof list, verbs);
  if (near != NULL)
    return fail(x, n,
                "unknown %s command '%s' (did you mean '%s'?); 'on' takes "
                "connect, tls, message, line:GLOB or one of %s",
                pname, shown(x, n), near, list);
  return fail(x, n,
              "unknown %s command '%s'; 'on' takes connect, tls, message, "
              "line:GLOB or one of %s",
              pname, shown(x, n), list);
}

static int parse_rule(struct ctx *x, const struct ynode *n,
                      const struct mp_fake_config *s, struct mp_fake_rule *r)
{
  static const char *const keys[] = {
      "on",       "nth",      "when",        "delay",     "reply",
      "send",     "drip",     "then",        "tls_fault", "repeat",
      "tls_drip", "send_hex", "take_effect", NULL};
  const struct ynode *v;
  long long nth;
  int e;
  uint64_t us;

  if (n->kind != Y_MAP)
    return fail(x, n,
                "a script rule must be a map (on: ..., reply: ...), not %s",
                describe(n));
  if (check_keys(x, n, "a script rule", keys) < 0)
    return -1;
  if ((v = get(n, "on")) == NULL)
    return fail(x, n,
                "a script rule needs 'on' (connect, tls, message, a "
                "command verb or line:GLOB)");
  if (get_on(x, v, s, r) < 0)
    return -1;
  if ((v = get(n, "nth")) != NULL) {
    if (get_int(x, "nth", v, 1, 1000000, &nth) < 0)
      return -1;
    r->nth = (unsigned)nth;
  }
  if ((v = get(n, "when")) != NULL) {
    if (get_enum(x, "when", v, when_names, &r->when_tls) < 0)
      return -1;
    if (r->when_tls == 1 && s->tls == MP_FAKE_TLS_NONE)
      return fail(x, v,
                  "'when: after_tls' never fires on a server with "
                  "tls: none");
  }
  if ((v = get(n, "delay")) != NULL) {
    if (get_dur(x, "delay", v, &us) < 0)
      return -1;
    r->delay_ms = us_to_ms(us);
  }
  if ((v = get(n, "reply")) != NULL && get_reply(x, v, r) < 0)
    return -1;
  if ((v = get(n, "send")) != NULL) {
    if (v->kind != Y_SCALAR || is_null(v))
      return wrong_type(x, "send", v, "a string of bytes");
    r->send = malloc(v->len + 1);
    if (r->send == NULL)
      return oom(x);
    memcpy(r->send, v->str, v->len + 1);
    r->send_len = v->len;
  }
  if ((v = get(n, "send_hex")) != NULL && get_send_hex(x, v, r) < 0)
    return -1;
  if ((v = get(n, "drip")) != NULL && get_drip(x, v, r) < 0)
    return -1;
  if ((v = get(n, "then")) != NULL) {
    if (get_enum(x, "then", v, then_names, &e) < 0)
      return -1;
    r->then = (enum mp_rule_then)e;
  }
  if ((v = get(n, "tls_fault")) != NULL) {
    if (get_enum(x, "tls_fault", v, tls_fault_names, &e) < 0)
      return -1;
    if (r->on != MP_ON_TLS)
      return fail(x, v, "tls_fault in a rule needs 'on: tls'");
    r->tls_fault = (enum mp_tls_fault)e;
  }
  if ((v = get(n, "repeat")) != NULL) {
    if (get_repeat(x, v, r) < 0)
      return -1;
    if (get(n, "reply") == NULL && r->send == NULL)
      return fail(x, v,
                  "'repeat' repeats send (or, without send, the reply): "
                  "give the rule one of them");
    if (r->send != NULL && r->send_len == 0)
      return fail(x, v, "'repeat' of an empty send sends nothing");
  }
  if ((v = get(n, "take_effect")) != NULL) {
    if (get_bool(x, "take_effect", v, &r->take_effect) < 0)
      return -1;
    if (get(n, "reply") == NULL)
      return fail(x, v,
                  "'take_effect' goes with reply: (without one the server's "
                  "own answer goes out and takes effect anyway)");
  }
  if ((v = get(n, "tls_drip")) != NULL) {
    if (r->on != MP_ON_TLS)
      return fail(x, v,
                  "tls_drip (the server's TLS records in pieces) needs "
                  "'on: tls'");
    if (get_tls_drip(x, v, r) < 0)
      return -1;
  }
  if (get(n, "delay") == NULL && get(n, "reply") == NULL && r->send == NULL &&
      get(n, "drip") == NULL && get(n, "then") == NULL &&
      get(n, "tls_fault") == NULL && get(n, "tls_drip") == NULL)
    return fail(x, n,
                "this rule does nothing; give it delay, reply, send, "
                "drip, then, tls_fault or tls_drip");
  return 0;
}

static int get_users(struct ctx *x, const struct ynode *n,
                     struct mp_fake_config *s)
{
  if (want_map(x, "users", n) < 0 || check_keys(x, n, "users", NULL) < 0)
    return -1;
  s->users = calloc(n->nkids / 2 + 1, sizeof *s->users);
  if (s->users == NULL)
    return oom(x);
  for (size_t i = 0; i < n->nkids; i += 2) {
    struct mp_fake_user *u = &s->users[s->nusers++];
    if (get_str(x, "users", n->kids[i], 0, &u->name) < 0 ||
        get_str(x, "password", n->kids[i + 1], 0, &u->password) < 0)
      return -1;
  }
  return 0;
}

/* A message's text as a mailbox keeps it: every line ending in CRLF (a
 * bare LF becomes CRLF; a missing last line end is added). */
static int push_mail(struct ctx *x, struct mp_case *c, const char *user,
                     const struct ynode *n)
{
  struct mp_case_mail *v, *m;
  size_t i, o = 0, lines = 1;
  char *d;

  if (n->kind != Y_SCALAR || is_null(n))
    return fail(x, n, "each item of 'mail' must be a message's text, not %s",
                describe(n));
  if (memchr(n->str, '\0', n->len) != NULL)
    return fail(x, n, "a message in 'mail' cannot hold a NUL byte");
  if (n->len == 0)
    return fail(x, n, "a message in 'mail' is empty");
  for (i = 0; i < n->len; i++)
    lines += n->str[i] == '\n';
  d = malloc(n->len + lines + 3);
  if (d == NULL)
    return oom(x);
  for (i = 0; i < n->len; i++) {
    if (n->str[i] == '\n' && (i == 0 || n->str[i - 1] != '\r'))
      d[o++] = '\r';
    d[o++] = n->str[i];
  }
  if (d[o - 1] != '\n') {
    d[o++] = '\r';
    d[o++] = '\n';
  }
  d[o] = '\0';
  v = realloc(c->mail, (c->nmail + 1) * sizeof *v);
  if (v == NULL) {
    free(d);
    return oom(x);
  }
  c->mail = v;
  m = &c->mail[c->nmail];
  m->user = strdup(user);
  m->data = d;
  m->len = o;
  if (m->user == NULL) {
    free(d);
    return oom(x);
  }
  c->nmail++;
  return 0;
}

static int get_mailboxes(struct ctx *x, const struct ynode *n,
                         struct mp_fake_config *s, struct mp_case *c)
{
  static const char *const keys[] = {"messages", "size", "mail", NULL};
  if (want_map(x, "mailboxes", n) < 0 ||
      check_keys(x, n, "mailboxes", NULL) < 0)
    return -1;
  s->mailboxes = calloc(n->nkids / 2 + 1, sizeof *s->mailboxes);
  if (s->mailboxes == NULL)
    return oom(x);
  for (size_t i = 0; i < n->nkids; i += 2) {
    struct mp_fake_mailbox *m = &s->mailboxes[s->nmailboxes++];
    const struct ynode *v = n->kids[i + 1], *f, *mail;
    long long count = 0, size = DEFAULT_MESSAGE_SIZE;
    m->size = DEFAULT_MESSAGE_SIZE;
    if (get_str(x, "mailboxes", n->kids[i], 0, &m->user) < 0)
      return -1;
    if (v->kind == Y_SCALAR) {
      if (get_int(x, "messages", v, 0, 100000, &count) < 0)
        return -1;
    } else {
      if (v->kind != Y_MAP)
        return wrong_type(x, m->user, v,
                          "a number of messages or {messages: N, size: "
                          "BYTES, mail: [TEXT]}");
      if (check_keys(x, v, "a mailbox", keys) < 0)
        return -1;
      f = get(v, "messages");
      mail = get(v, "mail");
      if (f == NULL && mail == NULL)
        return fail(x, v,
                    "a mailbox needs 'messages' (generated ones) or "
                    "'mail' (messages written out)");
      if (f != NULL && get_int(x, "messages", f, 0, 100000, &count) < 0)
        return -1;
      if ((f = get(v, "size")) != NULL &&
          get_int(x, "size", f, 1, 64 * 1024 * 1024, &size) < 0)
        return -1;
      if (mail != NULL) {
        if (mail->kind != Y_SEQ)
          return wrong_type(x, "mail", mail, "a list of messages");
        for (size_t k = 0; k < mail->nkids; k++)
          if (push_mail(x, c, m->user, mail->kids[k]) < 0)
            return -1;
      }
    }
    m->messages = (unsigned)count;
    m->size = (size_t)size;
  }
  return 0;
}

static int get_delivery(struct ctx *x, const struct ynode *n,
                        struct mp_fake_config *s)
{
  static const char *const keys[] = {"delay",    "lose",    "duplicate",
                                     "redirect", "subject", NULL};
  const struct ynode *v;
  uint64_t us;
  if (want_map(x, "delivery", n) < 0 || check_keys(x, n, "delivery", keys) < 0)
    return -1;
  if ((v = get(n, "delay")) != NULL) {
    if (get_dur(x, "delay", v, &us) < 0)
      return -1;
    s->delivery.delay_ms = us_to_ms(us);
  }
  if ((v = get(n, "lose")) != NULL &&
      get_bool(x, "lose", v, &s->delivery.lose) < 0)
    return -1;
  if ((v = get(n, "duplicate")) != NULL &&
      get_bool(x, "duplicate", v, &s->delivery.duplicate) < 0)
    return -1;
  if ((v = get(n, "redirect")) != NULL &&
      get_str(x, "redirect", v, 0, &s->delivery.redirect) < 0)
    return -1;
  if ((v = get(n, "subject")) != NULL &&
      get_str(x, "subject", v, 0, &s->delivery.subject) < 0)
    return -1;
  return 0;
}

static int valid_name(const char *s)
{
  if (*s == '\0' || strlen(s) > 64)
    return 0;
  for (; *s != '\0'; s++)
    if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
      return 0;
  return 1;
}

static int parse_server(struct ctx *x, const struct ynode *kn,
                        const struct ynode *n, struct mp_fake_config *s,
                        struct mp_case *c)
{
  static const char *const keys[] = {
      "protocol",  "tls",      "cert",         "key",
      "hostname",  "users",    "auth",         "auth_requires_tls",
      "advertise", "withhold", "apop",         "tls_fault",
      "mailboxes", "delivery", "idle_timeout", "script",
      NULL};
  const struct ynode *v;
  char where[96];
  int e;

  s->hostname = strdup(DEFAULT_HOSTNAME);
  if (s->hostname == NULL)
    return oom(x);
  if (!valid_name(kn->str))
    return fail(x, kn,
                "a server name is letters, digits, '-', '_' and '.', not "
                "'%s'",
                shown(x, kn));
  s->name = strdup(kn->str);
  if (s->name == NULL)
    return oom(x);
  snprintf(where, sizeof where, "servers.%s", s->name);
  if (want_map(x, s->name, n) < 0 || check_keys(x, n, where, keys) < 0)
    return -1;
  if ((v = get(n, "protocol")) == NULL)
    return fail(x, kn,
                "%s: missing required key 'protocol' (smtp, pop3 or "
                "imap)",
                where);
  if (get_enum(x, "protocol", v, proto_names, &e) < 0)
    return -1;
  s->proto = (enum mp_fake_proto)e;
  if ((v = get(n, "tls")) != NULL) {
    if (get_enum(x, "tls", v, server_tls_names, &e) < 0)
      return -1;
    s->tls = (enum mp_fake_tls)e;
  }
  if ((v = get(n, "cert")) != NULL &&
      get_enum(x, "cert", v, cert_names, &s->cert) < 0)
    return -1;
  if ((v = get(n, "key")) != NULL &&
      get_enum(x, "key", v, key_names, &s->rsa) < 0)
    return -1;
  if ((v = get(n, "hostname")) != NULL &&
      get_str(x, "hostname", v, 0, &s->hostname) < 0)
    return -1;
  if ((v = get(n, "users")) != NULL && get_users(x, v, s) < 0)
    return -1;
  if ((v = get(n, "auth")) != NULL) {
    if (get_names(x, "auth", v, &s->auth, &s->nauth) < 0)
      return -1;
    s->auth_set = 1;
  }
  if ((v = get(n, "auth_requires_tls")) != NULL &&
      get_bool(x, "auth_requires_tls", v, &s->auth_requires_tls) < 0)
    return -1;
  if ((v = get(n, "advertise")) != NULL &&
      get_strv(x, "advertise", v, 1, &s->advertise, &s->nadvertise) < 0)
    return -1;
  if ((v = get(n, "withhold")) != NULL &&
      get_names(x, "withhold", v, &s->withhold, &s->nwithhold) < 0)
    return -1;
  if ((v = get(n, "apop")) != NULL) {
    if (get_bool(x, "apop", v, &s->apop) < 0)
      return -1;
    if (s->proto != MP_FAKE_POP3)
      return fail(x, v, "'apop' is for pop3 servers");
  }
  if ((v = get(n, "tls_fault")) != NULL) {
    if (get_enum(x, "tls_fault", v, tls_fault_names, &e) < 0)
      return -1;
    s->tls_fault = (enum mp_tls_fault)e;
    if (e != MP_TLS_FAULT_NONE && s->tls == MP_FAKE_TLS_NONE)
      return fail(x, v, "'tls_fault' needs tls: starttls or implicit");
  }
  if ((v = get(n, "mailboxes")) != NULL && get_mailboxes(x, v, s, c) < 0)
    return -1;
  if ((v = get(n, "delivery")) != NULL && get_delivery(x, v, s) < 0)
    return -1;
  if ((v = get(n, "idle_timeout")) != NULL &&
      get_dur_ms(x, "idle_timeout", v, 1, &s->idle_timeout_ms) < 0)
    return -1;
  if ((v = get(n, "script")) != NULL) {
    if (v->kind != Y_SEQ)
      return wrong_type(x, "script", v, "a list of rules");
    s->rules = calloc(v->nkids + 1, sizeof *s->rules);
    if (s->rules == NULL)
      return oom(x);
    for (size_t i = 0; i < v->nkids; i++) {
      struct mp_fake_rule *r = &s->rules[s->nrules++];
      r->when_tls = -1;
      if (parse_rule(x, v->kids[i], s, r) < 0)
        return -1;
    }
  }
  return 0;
}

static int parse_servers(struct ctx *x, const struct ynode *n,
                         struct mp_case *c)
{
  if (want_map(x, "servers", n) < 0 || check_keys(x, n, "servers", NULL) < 0)
    return -1;
  c->servers = calloc(n->nkids / 2 + 1, sizeof *c->servers);
  if (c->servers == NULL)
    return oom(x);
  for (size_t i = 0; i < n->nkids; i += 2) {
    struct mp_fake_config *s = &c->servers[c->nservers++];
    if (parse_server(x, n->kids[i], n->kids[i + 1], s, c) < 0)
      return -1;
  }
  return 0;
}

/* The name of a defined server; suggests a close one. */
static int server_ref(struct ctx *x, const struct mp_case *c,
                      const struct ynode *n, const char *key)
{
  const char *names[64];
  const char *near;
  size_t m = 0;
  if (n->kind != Y_SCALAR || is_null(n))
    return wrong_type(x, key, n, "the name of a server");
  if (mp_case_find_server(c, n->str) >= 0)
    return 0;
  for (size_t i = 0; i < c->nservers && m + 1 < 64; i++)
    names[m++] = c->servers[i].name;
  names[m] = NULL;
  near = closest(n->str, names);
  if (near != NULL)
    return fail(x, n,
                "server '%s' is not defined under servers (did you mean "
                "'%s'?)",
                shown(x, n), near);
  return fail(x, n, "server '%s' is not defined under servers", shown(x, n));
}

/* ------------------------------------------------------------------ */
/* The probe. */

/* One login method name into auth bits (wire/sasl.h, MP_AUTH_*). LOGIN is
 * the IMAP command for an imap probe and the SASL mechanism elsewhere;
 * "AUTH=LOGIN" always names the SASL mechanism. */
static int auth_bit(struct ctx *x, const struct ynode *n, const char *name,
                    enum mp_case_probe_type type, unsigned *bits)
{
  char list[256];
  size_t o = 0;
  int m;

  if (strncmp(name, "AUTH=", 5) == 0) {
    m = mp_sasl_from_name(name + 5);
    if (m >= 0) {
      *bits |= MP_SASL_BIT(m);
      return 0;
    }
  } else if (strcmp(name, "USER") == 0 || strcmp(name, "APOP") == 0) {
    if (type != MP_CASE_POP3)
      return fail(x, n, "'%s' is a pop3 login; this probe is not pop3", name);
    *bits |= name[0] == 'U' ? MP_AUTH_USER : MP_AUTH_APOP;
    return 0;
  } else if (strcmp(name, "LOGIN") == 0 && type == MP_CASE_IMAP) {
    *bits |= MP_AUTH_LOGIN_CMD;
    return 0;
  } else if ((m = mp_sasl_from_name(name)) >= 0) {
    *bits |= MP_SASL_BIT(m);
    return 0;
  }
  for (int i = 0; i < MP_SASL_COUNT && o < sizeof list; i++)
    o += (size_t)snprintf(list + o, sizeof list - o, "%s, ", mp_sasl_name(i));
  return fail(x, n, "unknown login mechanism '%s' (allowed: %sUSER, APOP)",
              show(x, name, strlen(name)), list);
}

/* "host:port", "[v6]:port", "host" or a bare IPv6 address. */
static int get_target(struct ctx *x, const struct ynode *n,
                      struct mp_case_probe *p)
{
  const char *s, *host, *port = NULL;
  size_t hlen;
  if (get_str(x, "target", n, 0, &p->target) < 0)
    return -1;
  s = p->target;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (close == NULL || (close[1] != '\0' && close[1] != ':'))
      goto bad;
    host = s + 1;
    hlen = (size_t)(close - host);
    if (close[1] == ':')
      port = close + 2;
  } else {
    const char *colon = strchr(s, ':');
    host = s;
    hlen = strlen(s);
    if (colon != NULL && strchr(colon + 1, ':') == NULL) {
      hlen = (size_t)(colon - s);
      port = colon + 1;
    }
  }
  if (hlen == 0 || memchr(host, ' ', hlen) != NULL)
    goto bad;
  if (port != NULL) {
    long v;
    char *end;
    if (!isdigit((unsigned char)*port))
      goto bad;
    errno = 0;
    v = strtol(port, &end, 10);
    if (*end != '\0' || errno != 0 || v < 1 || v > 65535)
      goto bad;
    p->opts.port = (uint16_t)v;
  }
  p->host = strndup(host, hlen);
  if (p->host == NULL)
    return oom(x);
  p->opts.host = p->host;
  return 0;
bad:
  return fail(x, n,
              "target '%s' must be host:port, like mx.example.com:25 or "
              "[::1]:25",
              shown(x, n));
}

static int valid_ip(const char *s)
{
  unsigned char a[16];
  return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/* "ip", "ip:port", "[v6]:port" or a bare IPv6 address. */
static int valid_dns_server(const char *s)
{
  char host[64];
  const char *port = NULL;
  size_t hlen;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (close == NULL || close[1] != ':')
      return 0;
    hlen = (size_t)(close - s - 1);
    if (hlen >= sizeof host)
      return 0;
    memcpy(host, s + 1, hlen);
    port = close + 2;
  } else {
    const char *colon = strchr(s, ':');
    hlen = strlen(s);
    if (colon != NULL && strchr(colon + 1, ':') == NULL) {
      hlen = (size_t)(colon - s);
      port = colon + 1;
    }
    if (hlen >= sizeof host)
      return 0;
    memcpy(host, s, hlen);
  }
  host[hlen] = '\0';
  if (!valid_ip(host))
    return 0;
  if (port != NULL) {
    char *end;
    long v;
    if (!isdigit((unsigned char)*port))
      return 0;
    v = strtol(port, &end, 10);
    if (*end != '\0' || v < 1 || v > 65535)
      return 0;
  }
  return 1;
}

static int get_hosts(struct ctx *x, const struct ynode *n,
                     struct mp_case_probe *p)
{
  char **lines = NULL;
  size_t nlines = 0;
  int rc = get_strv(x, "hosts", n, 1, &lines, &nlines);

  for (size_t i = 0; rc == 0 && i < nlines; i++) {
    const struct ynode *at = n->kind == Y_SEQ ? n->kids[i] : n;
    char *save = NULL, *ip = strtok_r(lines[i], " \t", &save), *name;
    int names = 0;
    if (ip == NULL || !valid_ip(ip)) {
      rc = fail(x, at,
                "a hosts line is 'IP name name...', like '127.0.0.1 "
                "mx.example.test'; '%s' is not an IP address",
                ip ? show(x, ip, strlen(ip)) : "");
      break;
    }
    while (rc == 0 && (name = strtok_r(NULL, " \t", &save)) != NULL) {
      struct mp_host_map *h =
          realloc(p->hosts, (p->nhosts + 1) * sizeof *p->hosts);
      if (h == NULL) {
        rc = oom(x);
        break;
      }
      p->hosts = h;
      h = &p->hosts[p->nhosts];
      h->ip = strdup(ip);
      h->name = strdup(name);
      p->nhosts++;
      if (h->ip == NULL || h->name == NULL)
        rc = oom(x);
      names++;
    }
    if (rc == 0 && names == 0)
      rc = fail(x, at, "a hosts line needs names after the IP address");
  }
  free_strv(lines, nlines);
  p->opts.dns.hosts = p->hosts;
  p->opts.dns.nhosts = p->nhosts;
  return rc;
}

static int get_dns(struct ctx *x, const struct ynode *n,
                   struct mp_case_probe *p)
{
  static const char *const keys[] = {"mode", "server", "hosts", NULL};
  const struct ynode *v, *mode;
  int e;

  if (n->kind == Y_SCALAR) {
    if (get_enum(x, "dns", n, dns_mode_names, &e) < 0)
      return -1;
    if (e == MP_DNS_SERVER)
      return fail(x, n,
                  "dns mode 'server' needs {mode: server, server: "
                  "IP[:PORT]}");
    p->opts.dns.mode = (enum mp_dns_mode)e;
    return 0;
  }
  if (want_map(x, "dns", n) < 0 || check_keys(x, n, "probe.dns", keys) < 0)
    return -1;
  if ((mode = get(n, "mode")) != NULL) {
    if (get_enum(x, "mode", mode, dns_mode_names, &e) < 0)
      return -1;
    p->opts.dns.mode = (enum mp_dns_mode)e;
  }
  if ((v = get(n, "server")) != NULL) {
    if (get_str(x, "server", v, 0, &p->dns_server) < 0)
      return -1;
    if (!valid_dns_server(p->dns_server))
      return fail(x, v,
                  "dns server '%s' must be an IP address with an optional "
                  "port, like 127.0.0.1:5353 or [::1]:53",
                  shown(x, v));
    if (mode == NULL)
      p->opts.dns.mode = MP_DNS_SERVER;
    else if (p->opts.dns.mode != MP_DNS_SERVER)
      return fail(x, v, "dns 'server' goes with mode: server");
    p->opts.dns.server = p->dns_server;
  } else if (p->opts.dns.mode == MP_DNS_SERVER) {
    return fail(x, mode, "mode: server needs 'server: IP[:PORT]'");
  }
  if ((v = get(n, "hosts")) != NULL && get_hosts(x, v, p) < 0)
    return -1;
  return 0;
}

/* cafile is relative to the case file's folder. */
static int get_path(struct ctx *x, const char *key, const struct ynode *n,
                    char **out)
{
  const char *slash = strrchr(x->file, '/');
  char *rel = NULL, *full;
  if (get_str(x, key, n, 0, &rel) < 0)
    return -1;
  if (rel[0] == '/' || slash == NULL) {
    *out = rel;
    return 0;
  }
  full = malloc((size_t)(slash - x->file) + strlen(rel) + 2);
  if (full == NULL) {
    free(rel);
    return oom(x);
  }
  sprintf(full, "%.*s/%s", (int)(slash - x->file), x->file, rel);
  free(rel);
  *out = full;
  return 0;
}

/* Keys of a probe that talks to one server (probe:, probe.send:,
 * probe.fetch:), and the part of them a roundtrip's top level shares with
 * both halves. */
static const char *const endpoint_only_keys[] = {
    "server",   "target", "tls",        "port", "user",
    "password", "auth",   "servername", "helo", NULL};
static const char *const rt_only_keys[] = {
    "send", "fetch", "from", "to",   "subject",  "email_timeout",
    "poll", "mode",  "id",   "runs", "interval", NULL};
static const struct nv rt_mode_names[] = {
    {"same", 0}, {"previous", 1}, {NULL, 0}};
static const struct nv fetch_type_names[] = {
    {"pop3", MP_CASE_POP3}, {"imap", MP_CASE_IMAP}, {NULL, 0}};

static int in_list(const char *s, const char *const *list)
{
  for (; *list != NULL; list++)
    if (strcmp(s, *list) == 0)
      return 1;
  return 0;
}

/* Which server and how: server or target, tls, port, user, password,
 * auth, servername, helo. where names the map in messages ("probe",
 * "probe.fetch"); kn is its key (for "missing" messages). p->type is
 * set. */
static int parse_endpoint(struct ctx *x, const struct ynode *kn,
                          const struct ynode *n, struct mp_case *c,
                          struct mp_case_probe *p, const char *where)
{
  const struct ynode *v, *srv, *tgt;
  long long port;
  int e;

  srv = get(n, "server");
  tgt = get(n, "target");
  if (srv != NULL && tgt != NULL)
    return fail(x, tgt, "%s: give 'server' or 'target', not both", where);
  if (srv == NULL && tgt == NULL)
    return fail(x, kn,
                "%s: missing required key 'server' (a name under "
                "servers) or 'target' (host:port)",
                where);
  if (srv != NULL) {
    if (server_ref(x, c, srv, "server") < 0 ||
        get_str(x, "server", srv, 0, &p->server) < 0)
      return -1;
  } else if (get_target(x, tgt, p) < 0) {
    return -1;
  }
  p->opts.tls = MP_TLSMODE_AUTO;
  if (p->server != NULL &&
      c->servers[mp_case_find_server(c, p->server)].tls == MP_FAKE_TLS_IMPLICIT)
    p->opts.tls = MP_TLSMODE_IMPLICIT;
  if ((v = get(n, "tls")) != NULL) {
    if (get_enum(x, "tls", v, probe_tls_names, &e) < 0)
      return -1;
    p->opts.tls = (enum mp_tls_mode)e;
  }
  if ((v = get(n, "port")) != NULL) {
    if (srv != NULL)
      return fail(x, v,
                  "'port' goes with target:; a fake server's port is "
                  "chosen at run time");
    if (p->opts.port != 0)
      return fail(x, v, "the port is given twice (here and in target)");
    if (get_int(x, "port", v, 1, 65535, &port) < 0)
      return -1;
    p->opts.port = (uint16_t)port;
  }
  if ((v = get(n, "user")) != NULL) {
    if (get_str(x, "user", v, 0, &p->user) < 0)
      return -1;
    p->opts.user = p->user;
  }
  if ((v = get(n, "password")) != NULL) {
    if (p->user == NULL)
      return fail(x, v, "'password' without 'user'");
    if (get_str(x, "password", v, 0, &p->password) < 0)
      return -1;
  } else if (p->user != NULL) {
    const struct mp_fake_config *s =
        p->server ? &c->servers[mp_case_find_server(c, p->server)] : NULL;
    for (size_t i = 0; s != NULL && i < s->nusers; i++) {
      if (strcmp(s->users[i].name, p->user) == 0) {
        p->password = strdup(s->users[i].password);
        if (p->password == NULL)
          return oom(x);
        break;
      }
    }
    if (p->password == NULL)
      return fail(x, get(n, "user"),
                  "user '%s' has no password: add 'password' or list the "
                  "user under the server's users",
                  p->user);
  }
  p->opts.password = p->password;
  if ((v = get(n, "auth")) != NULL) {
    char **names = NULL;
    size_t nnames = 0;
    int rc = get_names(x, "auth", v, &names, &nnames);
    if (rc == 0 && nnames == 0)
      rc = fail(x, v,
                "probe 'auth' names no mechanism; leave it out to "
                "allow all");
    for (size_t i = 0; rc == 0 && i < nnames; i++)
      rc = auth_bit(x, v->kind == Y_SEQ ? v->kids[i] : v, names[i], p->type,
                    &p->opts.auth);
    free_strv(names, nnames);
    if (rc < 0)
      return -1;
  }
  if ((v = get(n, "servername")) != NULL) {
    if (get_str(x, "servername", v, 0, &p->servername) < 0)
      return -1;
    p->opts.servername = p->servername;
  }
  if ((v = get(n, "helo")) != NULL) {
    if (get_str(x, "helo", v, 0, &p->helo) < 0)
      return -1;
    p->opts.helo = p->helo;
  }
  return 0;
}

/* How long, how strict, which DNS: timeout, connect_timeout, insecure,
 * cafile, dns. */
static int parse_settings(struct ctx *x, const struct ynode *n,
                          struct mp_case_probe *p)
{
  const struct ynode *v;

  if ((v = get(n, "timeout")) != NULL &&
      get_dur_ms(x, "timeout", v, 1, &p->opts.timeout_ms) < 0)
    return -1;
  if ((v = get(n, "connect_timeout")) != NULL &&
      get_dur_ms(x, "connect_timeout", v, 1, &p->opts.connect_timeout_ms) < 0)
    return -1;
  if ((v = get(n, "insecure")) != NULL &&
      get_bool(x, "insecure", v, &p->opts.insecure) < 0)
    return -1;
  if ((v = get(n, "cafile")) != NULL) {
    if (get_path(x, "cafile", v, &p->cafile) < 0)
      return -1;
    p->opts.cafile = p->cafile;
  }
  if ((v = get(n, "dns")) != NULL && get_dns(x, v, p) < 0)
    return -1;
  return 0;
}

/* Fills what a half did not say from the round trip's top level. */
static void inherit(struct mp_case_probe *half, const struct ynode *hn,
                    const struct mp_case_probe *top)
{
  if (half->opts.timeout_ms == 0)
    half->opts.timeout_ms = top->opts.timeout_ms;
  if (half->opts.connect_timeout_ms == 0)
    half->opts.connect_timeout_ms = top->opts.connect_timeout_ms;
  if (get(hn, "insecure") == NULL)
    half->opts.insecure = top->opts.insecure;
  if (half->opts.cafile == NULL)
    half->opts.cafile = top->opts.cafile;
  if (get(hn, "dns") == NULL)
    half->opts.dns = top->opts.dns;
}

/* probe.send or probe.fetch of a roundtrip. */
static int parse_half(struct ctx *x, const struct ynode *kn,
                      const struct ynode *n, struct mp_case *c, int fetch)
{
  static const char *const send_keys[] = {
      "server",   "target",     "tls",
      "port",     "user",       "password",
      "auth",     "timeout",    "connect_timeout",
      "insecure", "servername", "helo",
      "cafile",   "dns",        NULL};
  static const char *const fetch_keys[] = {
      "type",     "server",     "target", "tls",     "port",
      "user",     "password",   "auth",   "timeout", "connect_timeout",
      "insecure", "servername", "cafile", "dns",     NULL};
  struct mp_case_rt *rt = c->probe.rt;
  struct mp_case_probe *p = fetch ? &rt->fetch : &rt->send;
  const char *where = fetch ? "probe.fetch" : "probe.send";
  const struct ynode *v, *srv;
  const struct mp_fake_config *s = NULL;
  int e;

  p->line = kn->line;
  if (want_map(x, kn->str, n) < 0 ||
      check_keys(x, n, where, fetch ? fetch_keys : send_keys) < 0)
    return -1;
  srv = get(n, "server");
  if (srv != NULL && server_ref(x, c, srv, "server") < 0)
    return -1;
  if (srv != NULL)
    s = &c->servers[mp_case_find_server(c, srv->str)];
  if (!fetch) {
    p->type = MP_CASE_SMTP;
    if (s != NULL && s->proto != MP_FAKE_SMTP)
      return fail(x, srv,
                  "server '%s' speaks %s; probe.send needs an smtp server",
                  s->name, proto_names[s->proto].name);
  } else if ((v = get(n, "type")) != NULL) {
    if (get_enum(x, "type", v, fetch_type_names, &e) < 0)
      return -1;
    p->type = (enum mp_case_probe_type)e;
  } else if (s != NULL && s->proto != MP_FAKE_SMTP) {
    p->type = s->proto == MP_FAKE_POP3 ? MP_CASE_POP3 : MP_CASE_IMAP;
  } else if (s != NULL) {
    return fail(x, srv,
                "server '%s' speaks smtp; probe.fetch needs a pop3 or imap "
                "server (or say type: pop3 or imap)",
                s->name);
  } else {
    return fail(x, kn,
                "probe.fetch: give 'type' (pop3 or imap) with a "
                "target");
  }
  p->opts.proto = p->type == MP_CASE_SMTP   ? MP_PROTO_SMTP
                  : p->type == MP_CASE_POP3 ? MP_PROTO_POP3
                                            : MP_PROTO_IMAP;
  if (parse_endpoint(x, kn, n, c, p, where) < 0 || parse_settings(x, n, p) < 0)
    return -1;
  if (fetch && p->user == NULL)
    return fail(x, kn,
                "probe.fetch: missing required key 'user' (the mailbox "
                "to log into)");
  inherit(p, n, &c->probe);
  return 0;
}

/* An id goes into tokens and IMAP SEARCH keys: an atom. */
static int valid_rt_id(const char *s)
{
  if (*s == '\0' || strlen(s) > 32)
    return 0;
  for (; *s != '\0'; s++)
    if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
      return 0;
  return 1;
}

static int parse_roundtrip(struct ctx *x, const struct ynode *kn,
                           const struct ynode *n, struct mp_case *c)
{
  static const char *const keys[] = {"type",
                                     "send",
                                     "fetch",
                                     "from",
                                     "to",
                                     "subject",
                                     "email_timeout",
                                     "poll",
                                     "mode",
                                     "id",
                                     "runs",
                                     "interval",
                                     "timeout",
                                     "connect_timeout",
                                     "insecure",
                                     "cafile",
                                     "dns",
                                     NULL};
  struct mp_case_probe *p = &c->probe;
  struct mp_case_rt *rt;
  const struct ynode *v, *send, *fetch;
  long long runs;
  int e;

  for (size_t i = 0; i < n->nkids; i += 2) {
    const struct ynode *k = n->kids[i];
    if (k->kind == Y_SCALAR && in_list(k->str, endpoint_only_keys))
      return fail(x, k, "'%s' goes under send: or fetch: in a roundtrip probe",
                  shown(x, k));
  }
  if (check_keys(x, n, "probe", keys) < 0)
    return -1;
  rt = p->rt = calloc(1, sizeof *rt);
  if (rt == NULL)
    return oom(x);
  rt->runs = 1;
  if (parse_settings(x, n, p) < 0)
    return -1;
  if ((send = get(n, "send")) == NULL)
    return fail(x, kn,
                "probe: missing required key 'send' (the SMTP server the "
                "test message goes to)");
  if ((fetch = get(n, "fetch")) == NULL)
    return fail(x, kn,
                "probe: missing required key 'fetch' (the POP3 or IMAP "
                "mailbox it must arrive in)");
  for (size_t i = 0; i < n->nkids; i += 2) {
    if (n->kids[i + 1] == send && parse_half(x, n->kids[i], send, c, 0) < 0)
      return -1;
    if (n->kids[i + 1] == fetch && parse_half(x, n->kids[i], fetch, c, 1) < 0)
      return -1;
  }
  if ((v = get(n, "to")) != NULL) {
    if (get_str(x, "to", v, 0, &rt->to) < 0)
      return -1;
  } else if ((rt->to = strdup(rt->fetch.user)) == NULL) {
    return oom(x);
  }
  if ((v = get(n, "from")) != NULL) {
    if (get_str(x, "from", v, 0, &rt->from) < 0)
      return -1;
  } else if ((rt->from = strdup(rt->to)) == NULL) {
    return oom(x);
  }
  if ((v = get(n, "subject")) != NULL &&
      get_str(x, "subject", v, 0, &rt->subject) < 0)
    return -1;
  if ((v = get(n, "id")) != NULL) {
    if (get_str(x, "id", v, 0, &rt->id) < 0)
      return -1;
    if (!valid_rt_id(rt->id))
      return fail(x, v,
                  "id '%s' must be 1 to 32 letters, digits, '-' or '_' (it "
                  "goes into the token)",
                  shown(x, v));
  }
  if ((v = get(n, "email_timeout")) != NULL &&
      get_dur_ms(x, "email_timeout", v, 1, &rt->email_timeout_ms) < 0)
    return -1;
  if ((v = get(n, "poll")) != NULL &&
      get_dur_ms(x, "poll", v, 1, &rt->poll_ms) < 0)
    return -1;
  if ((v = get(n, "mode")) != NULL) {
    if (get_enum(x, "mode", v, rt_mode_names, &e) < 0)
      return -1;
    rt->mode = e;
  }
  if ((v = get(n, "runs")) != NULL) {
    if (get_int(x, "runs", v, 1, 1000, &runs) < 0)
      return -1;
    rt->runs = (unsigned)runs;
  }
  if ((v = get(n, "interval")) != NULL) {
    if (rt->runs < 2)
      return fail(x, v,
                  "'interval' is the pause between runs; it goes "
                  "with runs: 2 or more");
    if (get_dur_ms(x, "interval", v, 0, &rt->interval_ms) < 0)
      return -1;
  }
  return 0;
}

static int parse_probe(struct ctx *x, const struct ynode *kn,
                       const struct ynode *n, struct mp_case *c)
{
  static const char *const keys[] = {
      "type",     "server",     "target", "tls",     "port",
      "user",     "password",   "auth",   "timeout", "connect_timeout",
      "insecure", "servername", "helo",   "cafile",  "dns",
      NULL};
  struct mp_case_probe *p = &c->probe;
  const struct ynode *v;
  int e;

  p->line = kn->line;
  if (want_map(x, "probe", n) < 0)
    return -1;
  if ((v = get(n, "type")) == NULL)
    return fail(x, kn,
                "probe: missing required key 'type' (smtp, pop3, "
                "imap or roundtrip)");
  if (get_enum(x, "type", v, probe_type_names, &e) < 0)
    return -1;
  p->type = (enum mp_case_probe_type)e;
  if (p->type == MP_CASE_ROUNDTRIP)
    return parse_roundtrip(x, kn, n, c);
  for (size_t i = 0; i < n->nkids; i += 2) {
    const struct ynode *k = n->kids[i];
    if (k->kind == Y_SCALAR && in_list(k->str, rt_only_keys))
      return fail(x, k, "'%s' is for roundtrip probes (type: roundtrip)",
                  shown(x, k));
  }
  if (check_keys(x, n, "probe", keys) < 0)
    return -1;
  p->opts.proto = p->type == MP_CASE_POP3   ? MP_PROTO_POP3
                  : p->type == MP_CASE_IMAP ? MP_PROTO_IMAP
                                            : MP_PROTO_SMTP;
  if (parse_endpoint(x, kn, n, c, p, "probe") < 0 ||
      parse_settings(x, n, p) < 0)
    return -1;
  return 0;
}

/* ------------------------------------------------------------------ */
/* What must come out. */

static int get_bound(struct ctx *x, const char *key, const struct ynode *n,
                     struct mp_bound *b)
{
  static const char *const keys[] = {"min", "max", NULL};
  const struct ynode *v;
  uint64_t us;
  if (n->kind != Y_MAP)
    return wrong_type(x, key, n, "{min: DUR, max: DUR}");
  if (check_keys(x, n, key, keys) < 0)
    return -1;
  if (n->nkids == 0)
    return fail(x, n, "'%s' needs min, max or both", key);
  if ((v = get(n, "min")) != NULL) {
    if (get_dur(x, "min", v, &us) < 0)
      return -1;
    b->min_us = (int64_t)us;
  }
  if ((v = get(n, "max")) != NULL) {
    if (get_dur(x, "max", v, &us) < 0)
      return -1;
    b->max_us = (int64_t)us;
    if (b->min_us > b->max_us)
      return fail(x, v, "'%s': max is below min", key);
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
    if (check_keys(x, n, "expect.reply", keys) < 0)
      return -1;
    if ((v = get(n, "text")) != NULL &&
        get_str(x, "text", v, 0, &e->reply_text) < 0)
      return -1;
    code = get(n, "code");
    if (code == NULL && v == NULL)
      return fail(x, n, "'reply' needs code, text or both");
  } else if (n->kind != Y_SCALAR) {
    return wrong_type(x, "reply", n, "a code or {code: N, text: GLOB}");
  }
  if (code == NULL)
    return 0;
  e->has_reply_code = 1;
  if (code->kind == Y_SCALAR && !is_null(code) &&
      !(code->plain && is_int(code->str))) {
    for (size_t i = 0; reply_word_names[i].name != NULL; i++) {
      if (strcasecmp(code->str, reply_word_names[i].name) == 0) {
        e->reply_code = reply_word_names[i].val;
        if (e->reply_code == 0 && v != NULL)
          return fail(x, v, "reply 'none' (no reply at all) has no text");
        return 0;
      }
    }
    return fail(x, code,
                "reply code '%s' must be a number (like 421) or one of "
                "+OK, -ERR (pop3), OK, NO, BAD, BYE (imap), none (no "
                "reply at all)",
                shown(x, code));
  }
  if (get_int(x, "code", code, 1, 999, &val) < 0)
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
  if (get_str(x, "auth", n, 0, &s) < 0)
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
    return fail(x, n, "unknown auth '%s' (allowed: %sUSER, APOP, none)",
                shown(x, n), list);
  }
  e->auth = strdup(canon);
  free(s);
  return e->auth == NULL ? oom(x) : 0;
}

static int get_expect_tls(struct ctx *x, const struct ynode *n,
                          struct mp_case_expect *e)
{
  static const char *const keys[] = {"version", "verified", "verify_error",
                                     NULL};
  const struct ynode *v;
  int ver;
  if (n->kind == Y_SCALAR)
    return get_bool(x, "tls", n, &e->tls);
  if (n->kind != Y_MAP)
    return wrong_type(x, "tls", n,
                      "true, false or {version, verified, verify_error}");
  if (check_keys(x, n, "expect.tls", keys) < 0)
    return -1;
  e->tls = 1;
  if ((v = get(n, "version")) != NULL) {
    if (get_enum(x, "version", v, tls_version_names, &ver) < 0)
      return -1;
    for (size_t i = 0; tls_version_names[i].name != NULL; i++)
      if (tls_version_names[i].val == ver)
        e->tls_version = strdup(tls_version_names[i].name);
    if (e->tls_version == NULL)
      return oom(x);
  }
  if ((v = get(n, "verified")) != NULL &&
      get_bool(x, "verified", v, &e->cert_verified) < 0)
    return -1;
  if ((v = get(n, "verify_error")) != NULL &&
      get_str(x, "verify_error", v, 0, &e->verify_error) < 0)
    return -1;
  if (n->nkids == 0)
    return fail(x, n,
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
  if (want_map(x, "server", n) < 0 ||
      check_keys(x, n, "expect.server", NULL) < 0)
    return -1;
  e->servers = calloc(n->nkids / 2 + 1, sizeof *e->servers);
  if (e->servers == NULL)
    return oom(x);
  for (size_t i = 0; i < n->nkids; i += 2) {
    struct mp_expect_server *s = &e->servers[e->nservers++];
    const struct ynode *kn = n->kids[i], *m = n->kids[i + 1], *v;
    long long sessions;
    char where[96];
    s->sessions = -1;
    s->line = kn->line;
    if (server_ref(x, c, kn, "server") < 0 ||
        get_str(x, "server", kn, 0, &s->server) < 0)
      return -1;
    snprintf(where, sizeof where, "expect.server.%s", s->server);
    if (want_map(x, s->server, m) < 0 || check_keys(x, m, where, keys) < 0)
      return -1;
    if (m->nkids == 0)
      return fail(x, m,
                  "expect.server.%s says nothing; give saw, not_saw, "
                  "not_saw_in_clear or sessions",
                  s->server);
    if ((v = get(m, "saw")) != NULL &&
        get_strv(x, "saw", v, 1, &s->saw, &s->nsaw) < 0)
      return -1;
    if ((v = get(m, "not_saw")) != NULL &&
        get_strv(x, "not_saw", v, 1, &s->not_saw, &s->nnot_saw) < 0)
      return -1;
    if ((v = get(m, "not_saw_in_clear")) != NULL &&
        get_strv(x, "not_saw_in_clear", v, 1, &s->not_saw_in_clear,
                 &s->nnot_saw_in_clear) < 0)
      return -1;
    if ((v = get(m, "sessions")) != NULL) {
      if (get_int(x, "sessions", v, 0, 1000000, &sessions) < 0)
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
  if (want_map(x, "mailboxes", n) < 0 ||
      check_keys(x, n, "expect.mailboxes", NULL) < 0)
    return -1;
  if (n->nkids == 0)
    return fail(x, n, "expect.mailboxes names no mailbox");
  e->mailboxes = calloc(n->nkids / 2 + 1, sizeof *e->mailboxes);
  if (e->mailboxes == NULL)
    return oom(x);
  for (size_t i = 0; i < n->nkids; i += 2) {
    struct mp_expect_mailbox *m = &e->mailboxes[e->nmailboxes++];
    const struct ynode *kn = n->kids[i];
    m->line = kn->line;
    if (get_str(x, "mailboxes", kn, 0, &m->user) < 0)
      return -1;
    if (!known_mailbox(c, m->user))
      return fail(x, kn,
                  "no server has a mailbox for '%s'; list the user under a "
                  "server's users or mailboxes",
                  m->user);
    if (get_int(x, "messages", n->kids[i + 1], 0, 100000000, &count) < 0)
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
    if (get_int(x, "polls", n, 0, 1000000, &val) < 0)
      return -1;
    e->polls_min = e->polls_max = val;
    return 0;
  }
  if (n->kind != Y_MAP)
    return wrong_type(x, "polls", n, "a number or {min: N, max: N}");
  if (check_keys(x, n, "polls", keys) < 0)
    return -1;
  if (n->nkids == 0)
    return fail(x, n, "'polls' needs min, max or both");
  if ((v = get(n, "min")) != NULL) {
    if (get_int(x, "min", v, 0, 1000000, &val) < 0)
      return -1;
    e->polls_min = val;
  }
  if ((v = get(n, "max")) != NULL) {
    if (get_int(x, "max", v, 0, 1000000, &val) < 0)
      return -1;
    e->polls_max = val;
    if (e->polls_min > e->polls_max)
      return fail(x, v, "'polls': max is below min");
  }
  return 0;
}

static void expect_init(struct mp_case_expect *e)
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
    if (c->probe.type != MP_CASE_ROUNDTRIP && in_list(k->str, rt_keys))
      return fail(x, k, "'%s' is for roundtrip probes (type: roundtrip)",
                  shown(x, k));
  }
  if ((v = get(n, "status")) == NULL) {
    if (need_status)
      return fail(x, kn, "%s: missing required key 'status' (ok or fail)",
                  where);
  } else if (get_enum(x, "status", v, status_names, &e->status) < 0) {
    return -1;
  }
  if ((err = get(n, "error")) != NULL) {
    if (get_enum(x, "error", err, error_names, &e->error) < 0)
      return -1;
    e->has_error = 1;
    if (e->status == 1 && e->error != 0)
      return fail(x, err, "status ok goes with error: none, not '%s'",
                  shown(x, err));
    if (e->status == 0 && e->error == 0)
      return fail(x, err, "status fail needs an error name, not none");
  }
  if ((v = get(n, "phase")) != NULL &&
      get_enum(x, "phase", v, phase_names, &e->phase) < 0)
    return -1;
  if ((v = get(n, "reply")) != NULL && get_expect_reply(x, v, e) < 0)
    return -1;
  if ((v = get(n, "elapsed")) != NULL &&
      get_bound(x, "elapsed", v, &e->elapsed) < 0)
    return -1;
  if ((v = get(n, "timings")) != NULL) {
    if (want_map(x, "timings", v) < 0 ||
        check_keys(x, v, "expect.timings", NULL) < 0)
      return -1;
    for (size_t i = 0; i < v->nkids; i += 2) {
      int ph;
      if (get_enum(x, "phase", v->kids[i], phase_names, &ph) < 0 ||
          get_bound(x, v->kids[i]->str, v->kids[i + 1], &e->timings[ph]) < 0)
        return -1;
    }
  }
  if ((v = get(n, "auth")) != NULL && get_expect_auth(x, v, e) < 0)
    return -1;
  if ((v = get(n, "tls")) != NULL && get_expect_tls(x, v, e) < 0)
    return -1;
  if ((v = get(n, "messages")) != NULL) {
    if (get_int(x, "messages", v, 0, 100000000, &count) < 0)
      return -1;
    e->messages = count;
  }
  if ((v = get(n, "warn")) != NULL) {
    if (get_bool(x, "warn", v, &e->warn) < 0)
      return -1;
    e->has_warn = 1;
  }
  if ((v = get(n, "detail")) != NULL &&
      get_str(x, "detail", v, 0, &e->detail) < 0)
    return -1;
  if ((v = get(n, "delivery")) != NULL) {
    if (get_bound(x, "delivery", v, &e->delivery) < 0)
      return -1;
    e->has_delivery = 1;
  }
  if ((v = get(n, "found")) != NULL) {
    if (get_int(x, "found", v, 0, 1000000, &count) < 0)
      return -1;
    e->found = count;
    e->has_found = 1;
  }
  if ((v = get(n, "deleted")) != NULL) {
    if (get_int(x, "deleted", v, 0, 1000000, &count) < 0)
      return -1;
    e->deleted = count;
    e->has_deleted = 1;
  }
  if ((v = get(n, "polls")) != NULL) {
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
    return fail(x, kn,
                "expect.runs is one expectation per run; it goes with "
                "probe.runs: 2 or more");
  if (n->kind != Y_SEQ)
    return wrong_type(x, "runs", n, "a list (one map per run)");
  if (n->nkids != runs)
    return fail(x, n, "expect.runs has %zu item%s but probe.runs is %u",
                n->nkids, n->nkids == 1 ? "" : "s", runs);
  e->runs = calloc(runs, sizeof *e->runs);
  if (e->runs == NULL)
    return oom(x);
  for (size_t i = 0; i < n->nkids; i++) {
    const struct ynode *it = n->kids[i];
    struct mp_case_expect *r = &e->runs[e->nruns++];
    expect_init(r);
    snprintf(where, sizeof where, "expect.runs[%zu]", i + 1);
    if (it->kind != Y_MAP)
      return fail(x, it,
                  "each item of expect.runs must be a map (status: "
                  "..., ...), not %s",
                  describe(it));
    if (check_keys(x, it, where, keys) < 0 ||
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

  if (n->kind != Y_SCALAR || is_null(n) || !isdigit((unsigned char)n->str[0]))
    return wrong_type(x, key, n, "a size (bytes, or like 512KiB or 4MiB)");
  errno = 0;
  v = strtoull(n->str, &end, 10);
  for (size_t i = 0; errno == 0 && i < sizeof units / sizeof units[0]; i++) {
    if (strcmp(end, units[i].unit) != 0)
      continue;
    if (v == 0 || v > (1ull << 40) / units[i].mul)
      return fail(x, n, "'%s' must be more than 0 and at most 1024GiB", key);
    *out = v * units[i].mul;
    return 0;
  }
  return fail(x, n,
              "'%s': a size is a whole number of bytes or one with a unit "
              "B, KiB, MiB or GiB and no space, like 4MiB, not '%s'",
              key, shown(x, n));
}

/* expect.memory: {max: SIZE}. */
static int get_expect_memory(struct ctx *x, const struct ynode *n,
                             struct mp_case_expect *e)
{
  static const char *const keys[] = {"max", NULL};
  const struct ynode *v;

  if (want_map(x, "memory", n) < 0 || check_keys(x, n, "memory", keys) < 0)
    return -1;
  if ((v = get(n, "max")) == NULL)
    return fail(x, n, "memory: missing required key 'max' (like max: 4MiB)");
  if (get_size(x, "max", v, &e->memory_max) < 0)
    return -1;
  e->has_memory = 1;
  return 0;
}

static int parse_expect(struct ctx *x, const struct ynode *kn,
                        const struct ynode *n, struct mp_case *c)
{
  static const char *const keys[] = {RESULT_KEYS, "runs",   "mailboxes",
                                     "server",    "memory", NULL};
  struct mp_case_expect *e = &c->expect;
  const struct ynode *v;

  e->line = kn->line;
  if (want_map(x, "expect", n) < 0 || check_keys(x, n, "expect", keys) < 0)
    return -1;
  if (parse_expect_result(x, kn, n, c, e, get(n, "runs") == NULL, "expect") < 0)
    return -1;
  for (size_t i = 0; i < n->nkids; i += 2)
    if (strcmp(n->kids[i]->str, "runs") == 0 &&
        get_expect_runs(x, n->kids[i], n->kids[i + 1], c) < 0)
      return -1;
  if ((v = get(n, "mailboxes")) != NULL && get_expect_mailboxes(x, v, c) < 0)
    return -1;
  if ((v = get(n, "memory")) != NULL && get_expect_memory(x, v, e) < 0)
    return -1;
  if ((v = get(n, "server")) != NULL && get_expect_servers(x, v, c) < 0)
    return -1;
  return 0;
}

/* ------------------------------------------------------------------ */
/* The whole case. */

static void case_init(struct mp_case *c)
{
  expect_init(&c->expect);
}

/* The file name without folder and extension. */
static char *default_name(const char *file)
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

static int parse_root(struct ctx *x, const struct ynode *root,
                      struct mp_case *c)
{
  static const char *const keys[] = {"name",  "description", "tags", "servers",
                                     "probe", "expect",      NULL};
  const struct ynode *v;

  if (root == NULL || is_null(root))
    return fail_at(x, 1, 1,
                   "the file is empty; a case needs at least probe "
                   "and expect");
  if (root->kind != Y_MAP)
    return fail(x, root,
                "the top level must be a map (name:, servers:, probe:, "
                "expect:), not %s",
                describe(root));
  if (check_keys(x, root, "the top level", keys) < 0)
    return -1;
  if ((v = get(root, "name")) != NULL) {
    if (get_str(x, "name", v, 0, &c->name) < 0)
      return -1;
  } else if ((c->name = default_name(x->file)) == NULL) {
    return oom(x);
  }
  if ((v = get(root, "description")) != NULL &&
      get_str(x, "description", v, 1, &c->description) < 0)
    return -1;
  if ((v = get(root, "tags")) != NULL &&
      get_strv(x, "tags", v, 0, &c->tags, &c->ntags) < 0)
    return -1;
  if ((v = get(root, "servers")) != NULL && parse_servers(x, v, c) < 0)
    return -1;
  for (size_t i = 0; i < root->nkids; i += 2)
    if (strcmp(root->kids[i]->str, "probe") == 0 &&
        parse_probe(x, root->kids[i], root->kids[i + 1], c) < 0)
      return -1;
  if (get(root, "probe") == NULL)
    return fail_at(x, root->line, root->col,
                   "missing required key 'probe' (what to run)");
  for (size_t i = 0; i < root->nkids; i += 2)
    if (strcmp(root->kids[i]->str, "expect") == 0 &&
        parse_expect(x, root->kids[i], root->kids[i + 1], c) < 0)
      return -1;
  if (get(root, "expect") == NULL)
    return fail_at(x, root->line, root->col,
                   "missing required key 'expect' (what must come out)");
  return 0;
}

int mp_case_parse(const char *buf, size_t len, const char *name,
                  struct mp_case **out, char *err, size_t errlen)
{
  struct ctx x;
  struct ynode *root = NULL;
  struct mp_case *c;
  int rc;

  memset(&x, 0, sizeof x);
  x.file = name ? name : "<case>";
  x.buf = (const unsigned char *)buf;
  x.len = len;
  x.err = err;
  x.errlen = errlen;
  if (err != NULL && errlen > 0)
    err[0] = '\0';
  *out = NULL;
  if (len > MP_CASE_MAX_BYTES) {
    fail_at(&x, 1, 1,
            "the file is larger than 1 MiB (%zu bytes); a case "
            "file is a few dozen lines",
            len);
    return MP_E_PROTOCOL_ERROR;
  }
  c = calloc(1, sizeof *c);
  if (c == NULL || (c->file = strdup(x.file)) == NULL) {
    free(c);
    oom(&x);
    return MP_E_NO_RESOURCES;
  }
  case_init(c);
  rc = load_tree(&x, &root);
  if (rc == 0)
    rc = parse_root(&x, root, c);
  ynode_free(root);
  if (rc < 0) {
    mp_case_free(c);
    return x.oom ? MP_E_NO_RESOURCES : MP_E_PROTOCOL_ERROR;
  }
  *out = c;
  return 0;
}

int mp_case_load(const char *path, struct mp_case **out, char *err,
                 size_t errlen)
{
  struct stat st;
  char *buf;
  size_t len = 0;
  int fd, rc;

  *out = NULL;
  /* O_NONBLOCK: opening a FIFO with no writer would wait forever; it is
   * refused below as not a regular file (reads of files do not block). */
  fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0 || fstat(fd, &st) < 0) {
    snprintf(err, errlen, "%s: cannot open the case file: %s", path,
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
  if (st.st_size > MP_CASE_MAX_BYTES) {
    snprintf(err, errlen,
             "%s:1:1: the file is larger than 1 MiB (%lld bytes); a case "
             "file is a few dozen lines",
             path, (long long)st.st_size);
    close(fd);
    return MP_E_PROTOCOL_ERROR;
  }
  /* One byte more than the limit, to notice a file that grew. */
  buf = malloc(MP_CASE_MAX_BYTES + 1);
  if (buf == NULL) {
    snprintf(err, errlen, "%s: out of memory", path);
    close(fd);
    return MP_E_NO_RESOURCES;
  }
  for (;;) {
    ssize_t n = read(fd, buf + len, MP_CASE_MAX_BYTES + 1 - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      snprintf(err, errlen, "%s: cannot read the case file: %s", path,
               strerror(errno));
      free(buf);
      close(fd);
      return MP_E_PROTOCOL_ERROR;
    }
    if (n == 0 || (len += (size_t)n) > MP_CASE_MAX_BYTES)
      break;
  }
  close(fd);
  rc = mp_case_parse(buf, len, path, out, err, errlen);
  free(buf);
  return rc;
}

/* What a probe description owns (not the struct itself). */
static void free_probe(struct mp_case_probe *p)
{
  free(p->server);
  free(p->target);
  free(p->user);
  free(p->password);
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
    free_probe(&p->rt->send);
    free_probe(&p->rt->fetch);
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
    free_strv(s->saw, s->nsaw);
    free_strv(s->not_saw, s->nnot_saw);
    free_strv(s->not_saw_in_clear, s->nnot_saw_in_clear);
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
  free_strv(c->tags, c->ntags);
  for (size_t i = 0; i < c->nservers; i++)
    free_fake_config(&c->servers[i]);
  free(c->servers);
  for (size_t i = 0; i < c->nmail; i++) {
    free(c->mail[i].user);
    free(c->mail[i].data);
  }
  free(c->mail);
  free_probe(&c->probe);
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
