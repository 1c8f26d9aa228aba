/* The fake IMAP server's FETCH (RFC 9051 6.4.5, 7.5.2) and the message
 * text it serves: headers, fields, sections, ENVELOPE. */
#include "fake_servers/imap_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "fake_servers/mailstore.h"
#include "wire/conn.h"
#include "wire/errors.h"

/* ---- message text ----------------------------------------------------- */

/* The header's length, with the blank line that ends it; the whole message
 * when it has no blank line. */
size_t fi_header_len(const struct mp_mail *mail)
{
  const char *d = mail->data;
  size_t n = mail->size;
  if (n >= 2 && d[0] == '\r' && d[1] == '\n')
    return 2;
  const char *blank = memmem(d, n, "\r\n\r\n", 4);
  return blank ? (size_t)(blank - d) + 4 : n;
}

/* One header field: its name and its whole text, folding lines included
 * (RFC 5322 2.2). */
struct field {
  const char *name;
  size_t name_len;
  const char *start; /* the field's first byte */
  size_t len;        /* through its last CRLF */
  const char *value; /* after the colon */
  size_t value_len;  /* up to the last CRLF */
};

/* The next field from *at within the header of hl bytes: 1, or 0 at its
 * end. Lines without a colon are skipped. */
static int next_field(const struct mp_mail *mail, size_t hl, size_t *at,
                      struct field *f)
{
  const char *d = mail->data;
  while (*at < hl) {
    size_t start = *at, end = start;
    /* The field ends at a line that does not start with WSP. */
    for (;;) {
      const char *nl = memchr(d + end, '\n', hl - end);
      end = nl ? (size_t)(nl - d) + 1 : hl;
      if (end >= hl || (d[end] != ' ' && d[end] != '\t'))
        break;
    }
    *at = end;
    const char *colon = memchr(d + start, ':', end - start);
    if (!colon || colon == d + start)
      continue;
    size_t nl = (size_t)(colon - (d + start));
    int ok = 1;
    for (size_t i = 0; i < nl; i++)
      ok &= d[start + i] > 32 && d[start + i] < 127;
    if (!ok)
      continue;
    f->name = d + start;
    f->name_len = nl;
    f->start = d + start;
    f->len = end - start;
    f->value = colon + 1;
    size_t vl = end - (start + nl + 1);
    while (vl > 0 && (f->value[vl - 1] == '\n' || f->value[vl - 1] == '\r'))
      vl--;
    f->value_len = vl;
    return 1;
  }
  return 0;
}

static int lower(unsigned char c)
{
  return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Case-insensitive (ASCII) search of needle in hay, bytes. */
int fi_mem_icase_has(const char *hay, size_t hl, const char *needle, size_t nl)
{
  for (size_t i = 0; i + nl <= hl; i++) {
    size_t k = 0;
    while (k < nl &&
           lower((unsigned char)hay[i + k]) == lower((unsigned char)needle[k]))
      k++;
    if (k == nl)
      return 1;
  }
  return 0;
}

/* A field's value unfolded (CRLFs removed), leading blanks trimmed; a
 * malloc'd string or NULL. */
static char *unfold(const struct field *f, size_t *len)
{
  char *out = malloc(f->value_len + 1);
  size_t n = 0;
  if (!out)
    return NULL;
  size_t i = 0;
  while (i < f->value_len && (f->value[i] == ' ' || f->value[i] == '\t'))
    i++;
  for (; i < f->value_len; i++)
    if (f->value[i] != '\r' && f->value[i] != '\n')
      out[n++] = f->value[i];
  out[n] = '\0';
  *len = n;
  return out;
}

/* The first field of that name, unfolded (malloc'd), or NULL. */
static char *header_get(const struct mp_mail *mail, const char *name,
                        size_t *len)
{
  size_t hl = fi_header_len(mail), at = 0, nl = strlen(name);
  struct field f;
  while (next_field(mail, hl, &at, &f))
    if (f.name_len == nl && strncasecmp(f.name, name, nl) == 0)
      return unfold(&f, len);
  return NULL;
}

/* RFC 9051 6.4.4 HEADER: a field of that name whose text contains the
 * string (case-insensitive); an empty string matches any such field. */
int fi_header_has(const struct mp_mail *mail, const char *name,
                  const char *value, size_t vlen)
{
  size_t hl = fi_header_len(mail), at = 0, nl = strlen(name);
  struct field f;
  while (next_field(mail, hl, &at, &f)) {
    if (f.name_len != nl || strncasecmp(f.name, name, nl) != 0)
      continue;
    size_t ul;
    char *u = unfold(&f, &ul);
    int hit = u && fi_mem_icase_has(u, ul, value, vlen);
    free(u);
    if (hit)
      return 1;
  }
  return 0;
}

/* The message's arrival as wall-clock seconds (the fi_store keeps monotonic
 * microseconds). */
time_t fi_arrived_wall(const struct mp_mail *mail)
{
  if (mail->dated)
    return (time_t)mail->date_s;
  uint64_t now = mp_now_us();
  uint64_t ago = now > mail->arrived_us ? now - mail->arrived_us : 0;
  return time(NULL) - (time_t)(ago / 1000000);
}

const char *const fi_months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* ---- FETCH (RFC 9051 6.4.5, 7.5.2) ------------------------------------ */

enum fitem_kind {
  F_FLAGS,
  F_UID,
  F_SIZE,
  F_INTERNALDATE,
  F_ENVELOPE,
  F_BODYSTRUCTURE,
  F_BODY, /* BODY without a section: the non-extensible structure */
  F_SECTION
};

enum section {
  SEC_ALL = 0, /* BODY[] */
  SEC_HEADER,
  SEC_FIELDS,
  SEC_FIELDS_NOT,
  SEC_TEXT,
  SEC_PART1, /* BODY[1] of a single-part message: its text */
  SEC_NONE   /* a part that is not there: NIL */
};

struct fitem {
  enum fitem_kind kind;
  enum section sec;
  int peek;
  int partial;
  uint64_t origin, count;
  char *fields[IMAP_MAX_FIELDS];
  size_t nfields;
  char name[1200]; /* the item's name in the answer */
};

struct fetch {
  struct fitem items[IMAP_MAX_ITEMS];
  size_t n;
};

static void fetch_free(struct fetch *f)
{
  for (size_t i = 0; i < f->n; i++)
    for (size_t k = 0; k < f->items[i].nfields; k++)
      free(f->items[i].fields[k]);
  f->n = 0;
}

static struct fitem *fetch_add(struct fetch *f, enum fitem_kind kind)
{
  if (f->n == IMAP_MAX_ITEMS)
    return NULL;
  struct fitem *it = &f->items[f->n++];
  memset(it, 0, sizeof(*it));
  it->kind = kind;
  return it;
}

/* The section after "BODY[" up to "]", and a partial "<o.c>". */
static int parse_section(struct mp_fake_args *g, struct fitem *it,
                         const char *prefix)
{
  char spec[64];
  size_t n = 0;
  while (g->p < g->end && *g->p != ']' && *g->p != ' ') {
    if (n + 1 >= sizeof(spec))
      return -1;
    spec[n++] = *g->p++;
  }
  spec[n] = '\0';
  size_t at =
      (size_t)snprintf(it->name, sizeof(it->name), "%s[%s", prefix, spec);
  if (n == 0) {
    it->sec = SEC_ALL;
  } else if (strcasecmp(spec, "HEADER") == 0) {
    it->sec = SEC_HEADER;
  } else if (strcasecmp(spec, "TEXT") == 0) {
    it->sec = SEC_TEXT;
  } else if (strcasecmp(spec, "HEADER.FIELDS") == 0 ||
             strcasecmp(spec, "HEADER.FIELDS.NOT") == 0) {
    it->sec = spec[13] ? SEC_FIELDS_NOT : SEC_FIELDS;
    if (fi_arg_sp(g) < 0 || fi_arg_char(g, '(') < 0)
      return -1;
    at += (size_t)snprintf(it->name + at, sizeof(it->name) - at, " (");
    for (;;) {
      char *name;
      if (it->nfields == IMAP_MAX_FIELDS || fi_arg_astring(g, &name) < 0)
        return -1;
      it->fields[it->nfields++] = name;
      if (at + strlen(name) + 4 < sizeof(it->name))
        at += (size_t)snprintf(it->name + at, sizeof(it->name) - at, "%s%s",
                               it->nfields > 1 ? " " : "", name);
      if (fi_arg_char(g, ')') == 0)
        break;
      if (fi_arg_sp(g) < 0)
        return -1;
    }
    at += (size_t)snprintf(it->name + at, sizeof(it->name) - at, ")");
  } else {
    /* section-part: "1" is the text of a single-part message; others are
     * not there. MIME and nested parts are not supported. */
    const char *p = spec;
    while (*p >= '0' && *p <= '9')
      p++;
    if (p == spec || *p || spec[0] == '0')
      return -1;
    it->sec = strcmp(spec, "1") == 0 ? SEC_PART1 : SEC_NONE;
  }
  if (fi_arg_char(g, ']') < 0)
    return -1;
  snprintf(it->name + at, sizeof(it->name) - at, "]");
  if (fi_arg_char(g, '<') == 0) {
    if (fi_arg_number(g, &it->origin) < 0 || fi_arg_char(g, '.') < 0 ||
        fi_arg_number(g, &it->count) < 0 || it->count == 0 ||
        fi_arg_char(g, '>') < 0)
      return -1;
    it->partial = 1;
    size_t l = strlen(it->name);
    snprintf(it->name + l, sizeof(it->name) - l, "<%llu>",
             (unsigned long long)it->origin);
  }
  return 0;
}

/* One fetch-att. */
static int parse_fitem(struct mp_fake_args *g, struct fetch *f)
{
  char word[32];
  size_t n = 0;
  while (g->p < g->end && *g->p != ' ' && *g->p != ')' && *g->p != '[') {
    if (n + 1 >= sizeof(word))
      return -1;
    word[n++] = *g->p++;
  }
  word[n] = '\0';
  struct fitem *it;
  static const struct {
    const char *name;
    enum fitem_kind kind;
  } simple[] = {{"FLAGS", F_FLAGS},       {"UID", F_UID},
                {"RFC822.SIZE", F_SIZE},  {"INTERNALDATE", F_INTERNALDATE},
                {"ENVELOPE", F_ENVELOPE}, {"BODYSTRUCTURE", F_BODYSTRUCTURE}};
  for (size_t i = 0; i < sizeof(simple) / sizeof(*simple); i++)
    if (strcasecmp(word, simple[i].name) == 0)
      return fetch_add(f, simple[i].kind) ? 0 : -1;
  if (strcasecmp(word, "BODY") == 0 || strcasecmp(word, "BODY.PEEK") == 0) {
    int peek = word[4] != '\0';
    if (g->p >= g->end || *g->p != '[') {
      if (peek)
        return -1;
      return fetch_add(f, F_BODY) ? 0 : -1;
    }
    g->p++;
    if (!(it = fetch_add(f, F_SECTION)))
      return -1;
    it->peek = peek;
    return parse_section(g, it, "BODY");
  }
  /* RFC 9051 6.4.5: the RFC822 forms are BODY[] / BODY.PEEK[HEADER] /
   * BODY[TEXT] under their own names. */
  static const struct {
    const char *name;
    enum section sec;
    int peek;
  } rfc822[] = {{"RFC822", SEC_ALL, 0},
                {"RFC822.HEADER", SEC_HEADER, 1},
                {"RFC822.TEXT", SEC_TEXT, 0}};
  for (size_t i = 0; i < sizeof(rfc822) / sizeof(*rfc822); i++)
    if (strcasecmp(word, rfc822[i].name) == 0) {
      if (!(it = fetch_add(f, F_SECTION)))
        return -1;
      it->sec = rfc822[i].sec;
      it->peek = rfc822[i].peek;
      snprintf(it->name, sizeof(it->name), "%s", rfc822[i].name);
      return 0;
    }
  return -1;
}

/* fetch-att, a list of them, or a macro (ALL, FAST, FULL). */
static int parse_fetch(struct mp_fake_args *g, struct fetch *f)
{
  f->n = 0;
  if (fi_arg_char(g, '(') == 0) {
    for (;;) {
      if (parse_fitem(g, f) < 0)
        return -1;
      if (fi_arg_char(g, ')') == 0)
        return 0;
      if (fi_arg_sp(g) < 0)
        return -1;
    }
  }
  static const struct {
    const char *name;
    enum fitem_kind items[5];
    size_t n;
  } macros[] = {
      {"ALL", {F_FLAGS, F_INTERNALDATE, F_SIZE, F_ENVELOPE}, 4},
      {"FAST", {F_FLAGS, F_INTERNALDATE, F_SIZE}, 3},
      {"FULL", {F_FLAGS, F_INTERNALDATE, F_SIZE, F_ENVELOPE, F_BODY}, 5}};
  const char *save = g->p;
  char word[16];
  if (fi_arg_atom(g, word, sizeof(word), 0, NULL) > 0 &&
      (fi_at_end(g) || *g->p == ' '))
    for (size_t i = 0; i < sizeof(macros) / sizeof(*macros); i++)
      if (strcasecmp(word, macros[i].name) == 0) {
        for (size_t k = 0; k < macros[i].n; k++)
          fetch_add(f, macros[i].items[k]);
        return 0;
      }
  g->p = save;
  return parse_fitem(g, f);
}

/* The bytes a section names, into a malloc'd buffer when they must be put
 * together (HEADER.FIELDS), else pointing into the message. NULL data
 * with *nil: the part is not there. */
static int section_bytes(const struct mp_mail *mail, const struct fitem *it,
                         const char **data, size_t *len, char **owned)
{
  size_t hl = fi_header_len(mail);
  *owned = NULL;
  switch (it->sec) {
  case SEC_ALL:
    *data = mail->data;
    *len = mail->size;
    break;
  case SEC_HEADER:
    *data = mail->data;
    *len = hl;
    break;
  case SEC_TEXT:
  case SEC_PART1:
    *data = mail->data + hl;
    *len = mail->size - hl;
    break;
  case SEC_FIELDS:
  case SEC_FIELDS_NOT: {
    /* RFC 9051 6.4.5: the fields asked for (or all others), then the
     * blank line. */
    char *buf = malloc(hl + 3);
    size_t n = 0, at = 0;
    struct field f;
    if (!buf)
      return -1;
    while (next_field(mail, hl, &at, &f)) {
      int named = 0;
      for (size_t i = 0; i < it->nfields && !named; i++)
        named = strlen(it->fields[i]) == f.name_len &&
                strncasecmp(it->fields[i], f.name, f.name_len) == 0;
      if (named == (it->sec == SEC_FIELDS)) {
        memcpy(buf + n, f.start, f.len);
        n += f.len;
      }
    }
    memcpy(buf + n, "\r\n", 2);
    n += 2;
    *owned = buf;
    *data = buf;
    *len = n;
    break;
  }
  case SEC_NONE:
  default:
    *data = NULL;
    *len = 0;
    break;
  }
  if (*data && it->partial) {
    uint64_t o = it->origin < *len ? it->origin : *len;
    uint64_t c = it->count < *len - o ? it->count : *len - o;
    *data += o;
    *len = (size_t)c;
  }
  return 0;
}

/* An address list from a header field (RFC 9051 7.5.2 ENVELOPE):
 * "Name <local@host>, local@host" into ((name NIL local host) ...). Group
 * syntax and comments are not taken apart. */
static void put_addresses(struct mp_fake_answer *a, const char *v)
{
  if (!v || !*v) {
    fi_put_str(a, "NIL");
    return;
  }
  fi_put_str(a, "(");
  const char *p = v;
  int any = 0;
  while (*p) {
    /* One address: up to a comma outside quotes and angle brackets. */
    const char *start = p;
    int q = 0, angle = 0;
    while (*p && (q || angle || *p != ',')) {
      if (*p == '"')
        q = !q;
      else if (!q && *p == '<')
        angle = 1;
      else if (!q && *p == '>')
        angle = 0;
      p++;
    }
    const char *end = p;
    if (*p == ',')
      p++;
    while (start < end && (*start == ' ' || *start == '\t'))
      start++;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
      end--;
    if (start == end)
      continue;
    const char *lt = memchr(start, '<', (size_t)(end - start));
    const char *name = NULL, *addr = start, *addr_end = end;
    size_t name_len = 0;
    if (lt) {
      const char *gt = memchr(lt, '>', (size_t)(end - lt));
      addr = lt + 1;
      addr_end = gt ? gt : end;
      const char *ne = lt;
      while (ne > start && (ne[-1] == ' ' || ne[-1] == '\t'))
        ne--;
      if (ne > start) {
        name = start;
        name_len = (size_t)(ne - start);
        if (name_len >= 2 && name[0] == '"' && name[name_len - 1] == '"') {
          name++;
          name_len -= 2;
        }
      }
    }
    const char *at = memchr(addr, '@', (size_t)(addr_end - addr));
    fi_put_str(a, "(");
    fi_put_nstring(a, name, name_len);
    fi_put_str(a, " NIL ");
    fi_put_nstring(a, addr, (size_t)((at ? at : addr_end) - addr));
    fi_put_str(a, " ");
    if (at)
      fi_put_nstring(a, at + 1, (size_t)(addr_end - at - 1));
    else
      fi_put_str(a, "NIL");
    fi_put_str(a, ")");
    any = 1;
  }
  if (!any)
    fi_put_str(a, "(NIL NIL NIL NIL)");
  fi_put_str(a, ")");
}

static void put_envelope(struct mp_fake_answer *a, const struct mp_mail *mail)
{
  static const char *const strings1[] = {"Date", "Subject"};
  static const char *const addrs[] = {"From", "Sender", "Reply-To",
                                      "To",   "Cc",     "Bcc"};
  static const char *const strings2[] = {"In-Reply-To", "Message-ID"};
  size_t len;
  char *from = header_get(mail, "From", &len);
  fi_put_str(a, "(");
  for (size_t i = 0; i < 2; i++) {
    char *v = header_get(mail, strings1[i], &len);
    fi_put_nstring(a, v, v ? len : 0);
    fi_put_str(a, " ");
    free(v);
  }
  for (size_t i = 0; i < 6; i++) {
    char *v = header_get(mail, addrs[i], &len);
    /* RFC 9051 7.5.2: Sender and Reply-To default to From. */
    put_addresses(a, v ? v : (i == 1 || i == 2) ? from : NULL);
    fi_put_str(a, " ");
    free(v);
  }
  for (size_t i = 0; i < 2; i++) {
    char *v = header_get(mail, strings2[i], &len);
    fi_put_nstring(a, v, v ? len : 0);
    if (i == 0)
      fi_put_str(a, " ");
    free(v);
  }
  fi_put_str(a, ")");
  free(from);
}

/* A single text/plain part: what the fake knows of a message's structure
 * (multipart messages are described as one part too). */
static void put_structure(struct mp_fake_answer *a, const struct mp_mail *mail,
                          int extensible)
{
  size_t hl = fi_header_len(mail), lines = 0;
  for (size_t i = hl; i < mail->size; i++)
    lines += mail->data[i] == '\n';
  fi_put_fmt(a,
             "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
             "\"7BIT\" %zu %zu%s)",
             mail->size - hl, lines, extensible ? " NIL NIL NIL NIL" : "");
}

/* One "* n FETCH (...)" response. */
static void fetch_one(struct mp_fake_session *s, const struct fetch *f,
                      size_t i, int uid, struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  const struct mp_mail *mail = fi_mail_at(s, i);
  if (!mail)
    return; /* expunged by another session: nothing to say */
  unsigned before = mail->flags;
  int set_seen = 0, want_flags = 0, want_uid = 0;
  for (size_t k = 0; k < f->n; k++) {
    const struct fitem *it = &f->items[k];
    if (it->kind == F_SECTION && !it->peek && !m->read_only)
      set_seen = 1;
    want_flags |= it->kind == F_FLAGS;
    want_uid |= it->kind == F_UID;
  }
  /* RFC 9051 6.4.5: a non-PEEK body fetch sets \Seen. */
  if (set_seen && !(before & MP_MAIL_SEEN)) {
    mp_mailstore_set_flags(fi_store(s), m->user, m->uids[i], MP_MAIL_SEEN, 0);
    mail = fi_mail_at(s, i);
    if (!mail)
      return;
  }
  fi_put_fmt(a, "* %zu FETCH (", i + 1);
  int first = 1;
  /* RFC 9051 6.4.9: UID FETCH answers carry the UID. */
  if (uid && !want_uid) {
    fi_put_fmt(a, "UID %llu", (unsigned long long)m->uids[i]);
    first = 0;
  }
  for (size_t k = 0; k < f->n; k++) {
    const struct fitem *it = &f->items[k];
    char flags[128];
    if (!first)
      fi_put_str(a, " ");
    first = 0;
    switch (it->kind) {
    case F_FLAGS:
      fi_flag_list(mail->flags, flags, sizeof(flags));
      fi_put_fmt(a, "FLAGS (%s)", flags);
      break;
    case F_UID:
      fi_put_fmt(a, "UID %llu", (unsigned long long)m->uids[i]);
      break;
    case F_SIZE:
      fi_put_fmt(a, "RFC822.SIZE %zu", mail->size);
      break;
    case F_INTERNALDATE: {
      time_t t = fi_arrived_wall(mail);
      struct tm tm;
      gmtime_r(&t, &tm);
      fi_put_fmt(a, "INTERNALDATE \"%2d-%s-%04d %02d:%02d:%02d +0000\"",
                 tm.tm_mday, fi_months[tm.tm_mon], tm.tm_year + 1900,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
      break;
    }
    case F_ENVELOPE:
      fi_put_str(a, "ENVELOPE ");
      put_envelope(a, mail);
      break;
    case F_BODYSTRUCTURE:
    case F_BODY:
      fi_put_str(a, it->kind == F_BODY ? "BODY " : "BODYSTRUCTURE ");
      put_structure(a, mail, it->kind == F_BODYSTRUCTURE);
      break;
    case F_SECTION: {
      const char *data;
      size_t len;
      char *owned;
      if (section_bytes(mail, it, &data, &len, &owned) < 0) {
        a->oom = 1;
        return;
      }
      fi_put_str(a, it->name);
      fi_put_str(a, " ");
      if (!data) {
        fi_put_str(a, "NIL");
      } else {
        /* Always a literal: message text may hold anything. */
        fi_put_fmt(a, "{%zu}\r\n", len);
        mp_fake_answer_add(a, data, len);
      }
      free(owned);
      break;
    }
    }
  }
  /* RFC 9051 6.4.5: flags that changed come along. */
  if (mail->flags != before && !want_flags) {
    char flags[128];
    fi_flag_list(mail->flags, flags, sizeof(flags));
    fi_put_fmt(a, "%sFLAGS (%s)", first ? "" : " ", flags);
  }
  fi_put_str(a, ")\r\n");
}

void fi_cmd_fetch(struct mp_fake_session *s, struct mp_fake_args *g,
                  struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  struct set *set = malloc(sizeof(*set));
  struct fetch *f = malloc(sizeof(*f));
  if (!set || !f) {
    free(set);
    free(f);
    fi_tagged(s, a, "NO [SERVERBUG] Out of memory");
    return;
  }
  f->n = 0;
  if (fi_arg_sp(g) < 0 || fi_parse_msgset(s, g, set) < 0) {
    fi_client_error(s, a,
                    "BAD Error in IMAP command %sFETCH: Invalid messageset",
                    g->uid ? "UID " : "");
  } else if (fi_arg_sp(g) < 0 || parse_fetch(g, f) < 0 || !fi_at_end(g)) {
    fi_client_error(s, a,
                    "BAD Error in IMAP command %sFETCH: Invalid arguments",
                    g->uid ? "UID " : "");
  } else {
    for (size_t i = 0; i < m->nuids && !a->oom; i++)
      if (fi_msg_in(m, set, i, g->uid))
        fetch_one(s, f, i, g->uid, a);
    fi_tagged(s, a, "OK %sFetch completed", g->uid ? "UID " : "");
  }
  fetch_free(f);
  free(f);
  free(set);
}
