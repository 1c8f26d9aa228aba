/* The fake IMAP server's argument parsing (RFC 9051 9, the formal
 * syntax): atoms, quoted strings, literals, numbers and sequence sets. */
#include "fake_servers/imap_internal.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "fake_servers/mailstore.h"
#include "wire/conn.h"
#include "wire/errors.h"

/* ---- argument parsing (RFC 9051 9, the formal syntax) ----------------- */

int fi_at_end(const struct mp_fake_args *g)
{
  return g->p >= g->end;
}

/* One SP. */
int fi_arg_sp(struct mp_fake_args *g)
{
  if (g->p < g->end && *g->p == ' ') {
    g->p++;
    return 0;
  }
  return -1;
}

int fi_arg_char(struct mp_fake_args *g, char c)
{
  if (g->p < g->end && *g->p == c) {
    g->p++;
    return 0;
  }
  return -1;
}

/* ATOM-CHAR: any CHAR but atom-specials (RFC 9051 9). resp ']' is an
 * ASTRING-CHAR. */
int fi_atom_char(unsigned char c, int astring)
{
  /* One bit a byte: 0x21-0x7e but ( ) { % * " \ and ] (SP, CTLs and
   * DEL are out too). A table, as every byte of every command comes
   * here. */
  static const uint32_t atom[8] = {0x00000000u, 0xfffff8dau, 0xcfffffffu,
                                   0x77ffffffu};
  return ((atom[c >> 5] >> (c & 31)) & 1u) || (astring && c == ']');
}

/* An atom into buf (at most cap - 1 bytes): its length, or -1. extra are
 * further characters allowed (list wildcards, sequence-set stars). */
int fi_arg_atom(struct mp_fake_args *g, char *buf, size_t cap, int astring,
                const char *extra)
{
  size_t n = 0;
  while (g->p < g->end && (fi_atom_char((unsigned char)*g->p, astring) ||
                           (extra && *g->p && strchr(extra, *g->p)))) {
    if (n + 1 >= cap)
      return -1;
    buf[n++] = *g->p++;
  }
  buf[n] = '\0';
  return n > 0 ? (int)n : -1;
}

/* A literal marker "{n}" or "{n+}" at p: the next literal, or -1. */
static int arg_literal(struct mp_fake_args *g, const char **out, size_t *len)
{
  const char *p = g->p;
  if (p >= g->end || *p != '{')
    return -1;
  p++;
  while (p < g->end && *p >= '0' && *p <= '9')
    p++;
  if (p < g->end && *p == '+')
    p++;
  if (p >= g->end || *p != '}' || g->next_lit >= g->nlits)
    return -1;
  g->p = p + 1;
  const struct mp_fake_literal *l = &g->lits[g->next_lit++];
  *out = l->buf ? l->buf : "";
  *len = l->len;
  return 0;
}

int fi_arg_literal(struct mp_fake_args *g, size_t *index)
{
  const char *lit;
  size_t len, i = g->next_lit;
  if (arg_literal(g, &lit, &len) < 0)
    return -1;
  *index = i;
  return 0;
}

/* A quoted string (RFC 9051 4.3): unescaped into a malloc'd copy. */
int fi_arg_quoted(struct mp_fake_args *g, char **out, size_t *len)
{
  if (fi_arg_char(g, '"') < 0)
    return -1;
  char *buf = malloc((size_t)(g->end - g->p) + 1);
  size_t n = 0;
  if (!buf)
    return -1;
  while (g->p < g->end && *g->p != '"') {
    char c = *g->p++;
    if (c == '\\') {
      if (g->p >= g->end || (*g->p != '"' && *g->p != '\\'))
        break;
      c = *g->p++;
    }
    buf[n++] = c;
  }
  if (fi_arg_char(g, '"') < 0) {
    free(buf);
    return -1;
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return 0;
}

/* astring (atom, quoted or literal) or, with list, a list-mailbox with
 * wildcards: a malloc'd, NUL-terminated copy (literals may hold NULs:
 * *len says). */
int fi_arg_string(struct mp_fake_args *g, int list, char **out, size_t *len)
{
  if (g->p < g->end && *g->p == '"')
    return fi_arg_quoted(g, out, len);
  const char *lit;
  if (g->p < g->end && *g->p == '{') {
    if (arg_literal(g, &lit, len) < 0)
      return -1;
    *out = malloc(*len + 1);
    if (!*out)
      return -1;
    memcpy(*out, lit, *len);
    (*out)[*len] = '\0';
    return 0;
  }
  char buf[1024];
  int n = fi_arg_atom(g, buf, sizeof(buf), 1, list ? "%*" : NULL);
  if (n < 0)
    return -1;
  *out = strdup(buf);
  *len = (size_t)n;
  return *out ? 0 : -1;
}

/* An astring without NULs. */
int fi_arg_astring(struct mp_fake_args *g, char **out)
{
  size_t len;
  if (fi_arg_string(g, 0, out, &len) < 0)
    return -1;
  if (strlen(*out) != len) {
    free(*out);
    *out = NULL;
    return -1;
  }
  return 0;
}

/* A number (RFC 9051 9: number64 is enough for us). */
int fi_arg_number(struct mp_fake_args *g, uint64_t *v)
{
  const char *p = g->p;
  uint64_t n = 0;
  while (p < g->end && *p >= '0' && *p <= '9') {
    if (n > (UINT64_MAX - 9) / 10)
      return -1;
    n = n * 10 + (uint64_t)(*p - '0');
    p++;
  }
  if (p == g->p)
    return -1;
  g->p = p;
  *v = n;
  return 0;
}

/* ---- sequence sets (RFC 9051 9: sequence-set) --------------------------- */

/* Reads a sequence set, "*" standing for star. 0 or -1 (syntax). */
int fi_parse_set(struct mp_fake_args *g, uint64_t star, struct set *set)
{
  set->n = 0;
  for (;;) {
    uint64_t v[2];
    int k = 0;
    for (;;) {
      if (fi_arg_char(g, '*') == 0)
        v[k] = star;
      else if (fi_arg_number(g, &v[k]) < 0 || v[k] == 0 || v[k] > UINT32_MAX)
        return -1;
      k++;
      if (k == 2 || fi_arg_char(g, ':') < 0)
        break;
    }
    if (k == 1)
      v[1] = v[0];
    if (set->n == IMAP_MAX_RANGES)
      return -1;
    set->r[set->n].lo = v[0] < v[1] ? v[0] : v[1];
    set->r[set->n].hi = v[0] < v[1] ? v[1] : v[0];
    set->n++;
    if (fi_arg_char(g, ',') < 0)
      return 0;
  }
}

int fi_set_has(const struct set *set, uint64_t v)
{
  for (size_t i = 0; i < set->n; i++)
    if (v >= set->r[i].lo && v <= set->r[i].hi)
      return 1;
  return 0;
}

/* A message set in the mode of the command: sequence numbers (each must
 * exist, RFC 9051 6.4.5 et al.: else BAD) or UIDs (missing ones are
 * ignored). 0 or -1. */
int fi_parse_msgset(struct mp_fake_session *s, struct mp_fake_args *g,
                    struct set *set)
{
  struct imap *m = s->proto;
  uint64_t star = g->uid ? (m->nuids ? m->uids[m->nuids - 1] : 0) : m->nuids;
  /* "*" in an empty mailbox: no valid sequence number, no UID. */
  if (fi_parse_set(g, star ? star : (g->uid ? 0 : UINT64_MAX), set) < 0)
    return -1;
  if (!g->uid)
    for (size_t i = 0; i < set->n; i++)
      if (set->r[i].hi > m->nuids)
        return -1;
  return 0;
}

struct set *fi_arg_msgset(struct mp_fake_session *s, struct mp_fake_args *g,
                          const char *cmd, struct mp_fake_answer *a)
{
  struct set *set = malloc(sizeof(*set));
  if (!set) {
    fi_tagged(s, a, "NO [SERVERBUG] Out of memory");
    return NULL;
  }
  if (fi_arg_sp(g) < 0 || fi_parse_msgset(s, g, set) < 0) {
    fi_client_error(s, a, "BAD Error in IMAP command %s: Invalid messageset",
                    cmd);
    free(set);
    return NULL;
  }
  return set;
}

/* Is message i (0-based) in the set? */
int fi_msg_in(const struct imap *m, const struct set *set, size_t i, int uid)
{
  return fi_set_has(set, uid ? m->uids[i] : (uint64_t)i + 1);
}
