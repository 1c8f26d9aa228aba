/* The fake IMAP server: the IMAP4rev1 subset (RFC 3501, RFC 9051) that
 * real clients (curl, Python's imaplib) and our probe use, in nginx's
 * shape: a switch on the session's mode and state, then on the command,
 * with caps on lines, literals, arguments and errors. It builds answers
 * and effects (session.h); the script decides when and how they go out.
 *
 * Extensions: STARTTLS and LOGINDISABLED (RFC 2595, RFC 9051 6.2.1),
 * SASL-IR (RFC 4959), LITERAL- (RFC 7888: non-synchronizing literals
 * up to 4096 octets; we take them up to 64 KiB), UIDPLUS's UID EXPUNGE
 * (RFC 4315 2.1), IDLE (RFC 2177), UNSELECT (RFC 3691), NAMESPACE
 * (RFC 2342), ID (RFC 2971), ENABLE (RFC 5161), response codes of
 * RFC 5530. One mailbox, INBOX, over the shared mail store: the store's
 * message ids are the UIDs.
 *
 * A command with literals ("a LOGIN {5}" CRLF, then 5 bytes, then the rest
 * of the line) is put together before it runs: the lines that announce a
 * literal are classified MP_KIND_HEADER (recorded, no rules), the literal
 * bytes come through mp_conn_expect_raw, and the last line is the command
 * that rules see: its verb is the whole command's, a line glob sees only
 * that last line.
 *
 * Rules: a rule's reply lines may say {tag}, replaced with the tag of the
 * command being answered ("*" before the first command). A rule reply that
 * greets with "* PREAUTH" logs the session in as the first configured user.
 * withhold takes capability names ("STARTTLS", "AUTH" for every AUTH=,
 * "AUTH=PLAIN" for one, "SASL-IR", "IDLE", ...) and also
 * "CAPABILITY-IN-GREETING": the greeting then carries no [CAPABILITY]
 * code, so clients must ask. */
#include "fake_servers/session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fake_servers/mailstore.h"
#include "wire/conn.h"
#include "wire/errors.h"
#include "wire/sasl.h"

#define IMAP_MAX_LINE 65536 /* the conn's cap: past it the conn fails */
#define IMAP_MAX_CMD_LINE                                                      \
  16384                         /* one line of a command (RFC 9051 4:          \
                                   at least 8000 octets) */
#define IMAP_MAX_LITERAL 65536  /* one literal in a command */
#define IMAP_MAX_COMMAND 131072 /* a whole command, literals included */
#define IMAP_MAX_LITERALS 16    /* literals in one command */
#define IMAP_MAX_TAG 64
#define IMAP_MAX_ERRORS 20
#define IMAP_MAX_RANGES 1024 /* ranges in one sequence set */
#define IMAP_MAX_ITEMS 32    /* FETCH items in one command */
#define IMAP_MAX_FIELDS 32   /* names in HEADER.FIELDS */
#define IMAP_MAX_DEPTH 32    /* nesting of SEARCH keys */
#define IMAP_FLAGS "\\Answered \\Flagged \\Deleted \\Seen \\Draft"

enum imap_state {
  IMAP_NOTAUTH = 0, /* RFC 9051 3.1 */
  IMAP_AUTH,        /* 3.2 */
  IMAP_SELECTED,    /* 3.3 */
  IMAP_LOGOUT       /* 3.4 */
};

static const char *const state_names[] = {
    [IMAP_NOTAUTH] = "not-authenticated",
    [IMAP_AUTH] = "authenticated",
    [IMAP_SELECTED] = "selected",
    [IMAP_LOGOUT] = "logout",
};

/* What the next line is. */
enum imap_mode {
  MODE_COMMAND = 0, /* a command, or its first line */
  MODE_LITERAL,     /* the rest of a command after a literal */
  MODE_SASL,        /* a SASL response (AUTHENTICATE) */
  MODE_IDLE         /* "DONE" ends IDLE */
};

/* The states a command is valid in (bits of enum imap_state). */
#define S_NA (1u << IMAP_NOTAUTH)
#define S_AU (1u << IMAP_AUTH)
#define S_SE (1u << IMAP_SELECTED)
#define S_ANY (S_NA | S_AU | S_SE)

struct lit {
  char *buf;
  size_t len, want;
};

struct imap {
  enum imap_state state;
  enum imap_mode mode;
  char tag[IMAP_MAX_TAG + 1]; /* the command being answered ("" none) */
  unsigned commands;          /* command lines so far */
  char *user;                 /* logged in as, or NULL */
  struct mp_sasl_server *sasl;
  unsigned errors;
  /* The command being put together around its literals. */
  char *text;
  size_t text_len, text_cap;
  struct lit lits[IMAP_MAX_LITERALS];
  size_t nlits;
  size_t total;
  /* The selected mailbox: its UIDs by sequence number (RFC 9051 2.3.1). */
  int read_only;
  uint64_t *uids;
  size_t nuids;
  uint64_t top_uid; /* the highest UID shown in this selection */
};

struct args;
typedef void (*cmd_fn)(struct mp_fake_session *s, struct args *g,
                       struct mp_fake_answer *a);

struct command {
  const char *name;
  unsigned states;
  cmd_fn fn;
};

/* The arguments of a command: its text with literals as "{n}" markers,
 * and the literals' bytes in order. */
struct args {
  const char *p, *end;
  const struct lit *lits;
  size_t nlits, next_lit;
  int uid; /* under UID: sets and answers speak UIDs */
};

static void set_state(struct mp_fake_session *s, enum imap_state st)
{
  struct imap *m = s->proto;
  if (m->state != st && getenv("MP_FAKE_TRACE"))
    fprintf(stderr, "fake imap #%u: %s -> %s\n", s->id, state_names[m->state],
            state_names[st]);
  m->state = st;
}

/* ---- answers ------------------------------------------------------------ */

/* "<tag> " and a formatted line. */
static void tagged(struct mp_fake_session *s, struct mp_fake_answer *a,
                   const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void tagged(struct mp_fake_session *s, struct mp_fake_answer *a,
                   const char *fmt, ...)
{
  struct imap *m = s->proto;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  mp_fake_answer_line(a, "%s %s", m->tag[0] ? m->tag : "*", buf);
}

/* A tagged BAD or NO that counts as a client error; at the cap the session
 * ends with BYE (Dovecot's "Too many invalid IMAP commands"). */
static void client_error(struct mp_fake_session *s, struct mp_fake_answer *a,
                         const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void client_error(struct mp_fake_session *s, struct mp_fake_answer *a,
                         const char *fmt, ...)
{
  struct imap *m = s->proto;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  mp_fake_answer_line(a, "%s %s", m->tag[0] ? m->tag : "*", buf);
  if (++m->errors >= IMAP_MAX_ERRORS) {
    mp_fake_answer_line(a, "* BYE Too many invalid IMAP commands.");
    a->effect = MP_FX_CLOSE;
    set_state(s, IMAP_LOGOUT);
  }
}

/* A string as an IMAP quoted string, or a literal when it cannot be one
 * (RFC 9051 4.3); NULL is NIL. */
static void put_nstring(struct mp_fake_answer *a, const char *str, size_t len)
{
  if (!str) {
    mp_fake_answer_add(a, "NIL", 3);
    return;
  }
  int quotable = len < 1024;
  for (size_t i = 0; quotable && i < len; i++) {
    unsigned char c = (unsigned char)str[i];
    if (c == '\r' || c == '\n' || c == '\0' || c >= 0x80)
      quotable = 0;
  }
  if (!quotable) {
    char head[32];
    int n = snprintf(head, sizeof(head), "{%zu}\r\n", len);
    mp_fake_answer_add(a, head, (size_t)n);
    mp_fake_answer_add(a, str, len);
    return;
  }
  mp_fake_answer_add(a, "\"", 1);
  for (size_t i = 0; i < len; i++) {
    if (str[i] == '"' || str[i] == '\\')
      mp_fake_answer_add(a, "\\", 1);
    mp_fake_answer_add(a, str + i, 1);
  }
  mp_fake_answer_add(a, "\"", 1);
}

static void put_str(struct mp_fake_answer *a, const char *str)
{
  mp_fake_answer_add(a, str, strlen(str));
}

static void put_fmt(struct mp_fake_answer *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void put_fmt(struct mp_fake_answer *a, const char *fmt, ...)
{
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (n > 0)
    mp_fake_answer_add(a, buf,
                       (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* ---- capabilities --------------------------------------------------- */

/* Does a withhold entry name this capability? The entry itself, or its
 * name before '=' ("AUTH" withholds every AUTH=). */
static int cap_listed(char *const *list, size_t n, const char *cap)
{
  size_t k = strcspn(cap, "=");
  for (size_t i = 0; list && i < n; i++) {
    if (!list[i])
      continue;
    if (strcasecmp(list[i], cap) == 0)
      return 1;
    if (strlen(list[i]) == k && cap[k] == '=' &&
        strncasecmp(list[i], cap, k) == 0)
      return 1;
  }
  return 0;
}

static int login_disabled(const struct mp_fake_session *s)
{
  return s->srv->cfg->auth_requires_tls && !s->in_tls;
}

static void cap_add(char *buf, size_t cap, size_t *at,
                    const struct mp_fake_config *cfg, const char *name)
{
  if (cap_listed(cfg->withhold, cfg->nwithhold, name))
    return;
  int n = snprintf(buf + *at, cap - *at, "%s%s", *at ? " " : "", name);
  if (n > 0 && (size_t)n < cap - *at)
    *at += (size_t)n;
}

/* The capability list for the session's state (RFC 9051 7.2.2), built-in
 * names less withhold, then advertise. */
static void capabilities(const struct mp_fake_session *s, char *buf, size_t cap)
{
  const struct mp_fake_config *cfg = s->srv->cfg;
  size_t at = 0;
  buf[0] = '\0';
  cap_add(buf, cap, &at, cfg, "IMAP4rev1");
  if (cfg->tls == MP_FAKE_TLS_STARTTLS && s->srv->tls_ctx && !s->in_tls)
    cap_add(buf, cap, &at, cfg, "STARTTLS");
  if (login_disabled(s)) {
    cap_add(buf, cap, &at, cfg, "LOGINDISABLED");
  } else {
    char list[512], one[80];
    mp_fake_auth_list(cfg, list, sizeof(list));
    for (const char *p = list; *p;) {
      size_t n = strcspn(p, " ");
      if (n > 0 && n < 64) {
        snprintf(one, sizeof(one), "AUTH=%.*s", (int)n, p);
        cap_add(buf, cap, &at, cfg, one);
      }
      p += n;
      p += strspn(p, " ");
    }
  }
  static const char *const more[] = {"SASL-IR", "LITERAL-", "UIDPLUS",
                                     "IDLE",    "UNSELECT", "NAMESPACE",
                                     "ID",      "ENABLE"};
  for (size_t i = 0; i < sizeof(more) / sizeof(*more); i++)
    cap_add(buf, cap, &at, cfg, more[i]);
  for (size_t i = 0; i < cfg->nadvertise; i++) {
    const char *c = cfg->advertise[i];
    if (!c || cap_listed(cfg->withhold, cfg->nwithhold, c))
      continue;
    /* Not twice. */
    int dup = 0;
    for (const char *p = buf; *p && !dup;) {
      size_t n = strcspn(p, " ");
      dup = n == strlen(c) && strncasecmp(p, c, n) == 0;
      p += n;
      p += strspn(p, " ");
    }
    if (!dup)
      cap_add(buf, cap, &at, cfg, c);
  }
}

/* ---- the selected mailbox ----------------------------------------------- */

static struct mp_mailstore *store(const struct mp_fake_session *s)
{
  return s->srv->env.store;
}

static const struct mp_mail *mail_at(const struct mp_fake_session *s, size_t i)
{
  const struct imap *m = s->proto;
  if (!store(s) || !m->user || i >= m->nuids)
    return NULL;
  return mp_mailstore_get(store(s), m->user, m->uids[i]);
}

static void view_clear(struct imap *m)
{
  free(m->uids);
  m->uids = NULL;
  m->nuids = 0;
  m->top_uid = 0;
}

/* The visible messages now (empty when the store has no such user). */
static void store_list(const struct mp_fake_session *s, uint64_t **ids,
                       size_t *n)
{
  const struct imap *m = s->proto;
  *ids = NULL;
  *n = 0;
  if (store(s) && m->user)
    mp_mailstore_list(store(s), m->user, mp_now_us(), ids, n);
}

/* Removes sequence number i (0-based) from the view. */
static void view_remove(struct imap *m, size_t i)
{
  memmove(m->uids + i, m->uids + i + 1, (m->nuids - i - 1) * sizeof(*m->uids));
  m->nuids--;
}

/* Tells the client (a; NULL: nobody) what changed in the store since it
 * last looked
 * (RFC 9051 7.4.1, 7.3.1): messages another session expunged, highest
 * sequence number first so the others keep theirs, then new arrivals.
 * A delayed message whose UID is below one already shown stays hidden
 * from this selection (UIDs only grow, RFC 9051 2.3.1.1); a new session
 * sees it. */
static void view_refresh(struct mp_fake_session *s, struct mp_fake_answer *a,
                         int expunges)
{
  struct imap *m = s->proto;
  uint64_t *ids;
  size_t n;
  store_list(s, &ids, &n);
  if (expunges) {
    for (size_t i = m->nuids; i-- > 0;) {
      if (mail_at(s, i))
        continue;
      if (a)
        mp_fake_answer_line(a, "* %zu EXPUNGE", i + 1);
      view_remove(m, i);
    }
  }
  size_t add = 0;
  for (size_t i = 0; i < n; i++)
    add += ids[i] > m->top_uid;
  if (add > 0) {
    uint64_t *p = realloc(m->uids, (m->nuids + add) * sizeof(*p));
    if (!p) {
      if (a)
        a->oom = 1;
      free(ids);
      return;
    }
    m->uids = p;
    for (size_t i = 0; i < n; i++)
      if (ids[i] > m->top_uid)
        m->uids[m->nuids++] = ids[i];
    m->top_uid = m->uids[m->nuids - 1];
    if (a)
      mp_fake_answer_line(a, "* %zu EXISTS", m->nuids);
  }
  free(ids);
}

static void flag_list(unsigned flags, char *buf, size_t cap)
{
  static const struct {
    unsigned bit;
    const char *name;
  } names[] = {{MP_MAIL_ANSWERED, "\\Answered"},
               {MP_MAIL_FLAGGED, "\\Flagged"},
               {MP_MAIL_DELETED, "\\Deleted"},
               {MP_MAIL_SEEN, "\\Seen"},
               {MP_MAIL_DRAFT, "\\Draft"}};
  size_t at = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
    if (flags & names[i].bit)
      at += (size_t)snprintf(buf + at, cap - at, "%s%s", at ? " " : "",
                             names[i].name);
}

static unsigned flag_from_name(const char *name)
{
  static const struct {
    const char *name;
    unsigned bit;
  } names[] = {{"\\Answered", MP_MAIL_ANSWERED},
               {"\\Flagged", MP_MAIL_FLAGGED},
               {"\\Deleted", MP_MAIL_DELETED},
               {"\\Seen", MP_MAIL_SEEN},
               {"\\Draft", MP_MAIL_DRAFT}};
  for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
    if (strcasecmp(names[i].name, name) == 0)
      return names[i].bit;
  return 0;
}

/* ---- argument parsing (RFC 9051 9, the formal syntax) ----------------- */

static int at_end(const struct args *g)
{
  return g->p >= g->end;
}

/* One SP. */
static int arg_sp(struct args *g)
{
  if (g->p < g->end && *g->p == ' ') {
    g->p++;
    return 0;
  }
  return -1;
}

static int arg_char(struct args *g, char c)
{
  if (g->p < g->end && *g->p == c) {
    g->p++;
    return 0;
  }
  return -1;
}

/* ATOM-CHAR: any CHAR but atom-specials (RFC 9051 9). resp ']' is an
 * ASTRING-CHAR. */
static int atom_char(unsigned char c, int astring)
{
  if (c <= 0x1f || c >= 0x7f)
    return 0;
  switch (c) {
  case '(':
  case ')':
  case '{':
  case ' ':
  case '%':
  case '*':
  case '"':
  case '\\':
    return 0;
  case ']':
    return astring;
  default:
    return 1;
  }
}

/* An atom into buf (at most cap - 1 bytes): its length, or -1. extra are
 * further characters allowed (list wildcards, sequence-set stars). */
static int arg_atom(struct args *g, char *buf, size_t cap, int astring,
                    const char *extra)
{
  size_t n = 0;
  while (g->p < g->end && (atom_char((unsigned char)*g->p, astring) ||
                           (extra && *g->p && strchr(extra, *g->p)))) {
    if (n + 1 >= cap)
      return -1;
    buf[n++] = *g->p++;
  }
  buf[n] = '\0';
  return n > 0 ? (int)n : -1;
}

/* A literal marker "{n}" or "{n+}" at p: the next literal, or -1. */
static int arg_literal(struct args *g, const char **out, size_t *len)
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
  const struct lit *l = &g->lits[g->next_lit++];
  *out = l->buf ? l->buf : "";
  *len = l->len;
  return 0;
}

/* A quoted string (RFC 9051 4.3): unescaped into a malloc'd copy. */
static int arg_quoted(struct args *g, char **out, size_t *len)
{
  if (arg_char(g, '"') < 0)
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
  if (arg_char(g, '"') < 0) {
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
static int arg_string(struct args *g, int list, char **out, size_t *len)
{
  if (g->p < g->end && *g->p == '"')
    return arg_quoted(g, out, len);
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
  int n = arg_atom(g, buf, sizeof(buf), 1, list ? "%*" : NULL);
  if (n < 0)
    return -1;
  *out = strdup(buf);
  *len = (size_t)n;
  return *out ? 0 : -1;
}

/* An astring without NULs. */
static int arg_astring(struct args *g, char **out)
{
  size_t len;
  if (arg_string(g, 0, out, &len) < 0)
    return -1;
  if (strlen(*out) != len) {
    free(*out);
    *out = NULL;
    return -1;
  }
  return 0;
}

/* A number (RFC 9051 9: number64 is enough for us). */
static int arg_number(struct args *g, uint64_t *v)
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

struct set {
  struct {
    uint64_t lo, hi;
  } r[IMAP_MAX_RANGES];
  size_t n;
};

/* Reads a sequence set, "*" standing for star. 0 or -1 (syntax). */
static int parse_set(struct args *g, uint64_t star, struct set *set)
{
  set->n = 0;
  for (;;) {
    uint64_t v[2];
    int k = 0;
    for (;;) {
      if (arg_char(g, '*') == 0)
        v[k] = star;
      else if (arg_number(g, &v[k]) < 0 || v[k] == 0 || v[k] > UINT32_MAX)
        return -1;
      k++;
      if (k == 2 || arg_char(g, ':') < 0)
        break;
    }
    if (k == 1)
      v[1] = v[0];
    if (set->n == IMAP_MAX_RANGES)
      return -1;
    set->r[set->n].lo = v[0] < v[1] ? v[0] : v[1];
    set->r[set->n].hi = v[0] < v[1] ? v[1] : v[0];
    set->n++;
    if (arg_char(g, ',') < 0)
      return 0;
  }
}

static int set_has(const struct set *set, uint64_t v)
{
  for (size_t i = 0; i < set->n; i++)
    if (v >= set->r[i].lo && v <= set->r[i].hi)
      return 1;
  return 0;
}

/* A message set in the mode of the command: sequence numbers (each must
 * exist, RFC 9051 6.4.5 et al.: else BAD) or UIDs (missing ones are
 * ignored). 0 or -1. */
static int parse_msgset(struct mp_fake_session *s, struct args *g,
                        struct set *set)
{
  struct imap *m = s->proto;
  uint64_t star = g->uid ? (m->nuids ? m->uids[m->nuids - 1] : 0) : m->nuids;
  /* "*" in an empty mailbox: no valid sequence number, no UID. */
  if (parse_set(g, star ? star : (g->uid ? 0 : UINT64_MAX), set) < 0)
    return -1;
  if (!g->uid)
    for (size_t i = 0; i < set->n; i++)
      if (set->r[i].hi > m->nuids)
        return -1;
  return 0;
}

/* Is message i (0-based) in the set? */
static int msg_in(const struct imap *m, const struct set *set, size_t i,
                  int uid)
{
  return set_has(set, uid ? m->uids[i] : (uint64_t)i + 1);
}

/* ---- message text ----------------------------------------------------- */

/* The header's length, with the blank line that ends it; the whole message
 * when it has no blank line. */
static size_t header_len(const struct mp_mail *mail)
{
  const char *d = mail->data;
  size_t n = mail->size;
  if (n >= 2 && d[0] == '\r' && d[1] == '\n')
    return 2;
  for (size_t i = 0; i + 3 < n; i++)
    if (d[i] == '\r' && d[i + 1] == '\n' && d[i + 2] == '\r' &&
        d[i + 3] == '\n')
      return i + 4;
  return n;
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
static int mem_icase_has(const char *hay, size_t hl, const char *needle,
                         size_t nl)
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
  size_t hl = header_len(mail), at = 0, nl = strlen(name);
  struct field f;
  while (next_field(mail, hl, &at, &f))
    if (f.name_len == nl && strncasecmp(f.name, name, nl) == 0)
      return unfold(&f, len);
  return NULL;
}

/* RFC 9051 6.4.4 HEADER: a field of that name whose text contains the
 * string (case-insensitive); an empty string matches any such field. */
static int header_has(const struct mp_mail *mail, const char *name,
                      const char *value, size_t vlen)
{
  size_t hl = header_len(mail), at = 0, nl = strlen(name);
  struct field f;
  while (next_field(mail, hl, &at, &f)) {
    if (f.name_len != nl || strncasecmp(f.name, name, nl) != 0)
      continue;
    size_t ul;
    char *u = unfold(&f, &ul);
    int hit = u && mem_icase_has(u, ul, value, vlen);
    free(u);
    if (hit)
      return 1;
  }
  return 0;
}

/* The message's arrival as wall-clock seconds (the store keeps monotonic
 * microseconds). */
static time_t arrived_wall(const struct mp_mail *mail)
{
  uint64_t now = mp_now_us();
  uint64_t ago = now > mail->arrived_us ? now - mail->arrived_us : 0;
  return time(NULL) - (time_t)(ago / 1000000);
}

static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
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
static int parse_section(struct args *g, struct fitem *it, const char *prefix)
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
    if (arg_sp(g) < 0 || arg_char(g, '(') < 0)
      return -1;
    at += (size_t)snprintf(it->name + at, sizeof(it->name) - at, " (");
    for (;;) {
      char *name;
      if (it->nfields == IMAP_MAX_FIELDS || arg_astring(g, &name) < 0)
        return -1;
      it->fields[it->nfields++] = name;
      if (at + strlen(name) + 4 < sizeof(it->name))
        at += (size_t)snprintf(it->name + at, sizeof(it->name) - at, "%s%s",
                               it->nfields > 1 ? " " : "", name);
      if (arg_char(g, ')') == 0)
        break;
      if (arg_sp(g) < 0)
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
  if (arg_char(g, ']') < 0)
    return -1;
  snprintf(it->name + at, sizeof(it->name) - at, "]");
  if (arg_char(g, '<') == 0) {
    if (arg_number(g, &it->origin) < 0 || arg_char(g, '.') < 0 ||
        arg_number(g, &it->count) < 0 || it->count == 0 || arg_char(g, '>') < 0)
      return -1;
    it->partial = 1;
    size_t l = strlen(it->name);
    snprintf(it->name + l, sizeof(it->name) - l, "<%llu>",
             (unsigned long long)it->origin);
  }
  return 0;
}

/* One fetch-att. */
static int parse_fitem(struct args *g, struct fetch *f)
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
static int parse_fetch(struct args *g, struct fetch *f)
{
  f->n = 0;
  if (arg_char(g, '(') == 0) {
    for (;;) {
      if (parse_fitem(g, f) < 0)
        return -1;
      if (arg_char(g, ')') == 0)
        return 0;
      if (arg_sp(g) < 0)
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
  if (arg_atom(g, word, sizeof(word), 0, NULL) > 0 &&
      (at_end(g) || *g->p == ' '))
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
  size_t hl = header_len(mail);
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
    put_str(a, "NIL");
    return;
  }
  put_str(a, "(");
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
    put_str(a, "(");
    put_nstring(a, name, name_len);
    put_str(a, " NIL ");
    put_nstring(a, addr, (size_t)((at ? at : addr_end) - addr));
    put_str(a, " ");
    if (at)
      put_nstring(a, at + 1, (size_t)(addr_end - at - 1));
    else
      put_str(a, "NIL");
    put_str(a, ")");
    any = 1;
  }
  if (!any)
    put_str(a, "(NIL NIL NIL NIL)");
  put_str(a, ")");
}

static void put_envelope(struct mp_fake_answer *a, const struct mp_mail *mail)
{
  static const char *const strings1[] = {"Date", "Subject"};
  static const char *const addrs[] = {"From", "Sender", "Reply-To",
                                      "To",   "Cc",     "Bcc"};
  static const char *const strings2[] = {"In-Reply-To", "Message-ID"};
  size_t len;
  char *from = header_get(mail, "From", &len);
  put_str(a, "(");
  for (size_t i = 0; i < 2; i++) {
    char *v = header_get(mail, strings1[i], &len);
    put_nstring(a, v, v ? len : 0);
    put_str(a, " ");
    free(v);
  }
  for (size_t i = 0; i < 6; i++) {
    char *v = header_get(mail, addrs[i], &len);
    /* RFC 9051 7.5.2: Sender and Reply-To default to From. */
    put_addresses(a, v ? v : (i == 1 || i == 2) ? from : NULL);
    put_str(a, " ");
    free(v);
  }
  for (size_t i = 0; i < 2; i++) {
    char *v = header_get(mail, strings2[i], &len);
    put_nstring(a, v, v ? len : 0);
    if (i == 0)
      put_str(a, " ");
    free(v);
  }
  put_str(a, ")");
  free(from);
}

/* A single text/plain part: what the fake knows of a message's structure
 * (multipart messages are described as one part too). */
static void put_structure(struct mp_fake_answer *a, const struct mp_mail *mail,
                          int extensible)
{
  size_t hl = header_len(mail), lines = 0;
  for (size_t i = hl; i < mail->size; i++)
    lines += mail->data[i] == '\n';
  put_fmt(a,
          "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
          "\"7BIT\" %zu %zu%s)",
          mail->size - hl, lines, extensible ? " NIL NIL NIL NIL" : "");
}

/* One "* n FETCH (...)" response. */
static void fetch_one(struct mp_fake_session *s, const struct fetch *f,
                      size_t i, int uid, struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  const struct mp_mail *mail = mail_at(s, i);
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
    mp_mailstore_set_flags(store(s), m->user, m->uids[i], MP_MAIL_SEEN, 0);
    mail = mail_at(s, i);
    if (!mail)
      return;
  }
  put_fmt(a, "* %zu FETCH (", i + 1);
  int first = 1;
  /* RFC 9051 6.4.9: UID FETCH answers carry the UID. */
  if (uid && !want_uid) {
    put_fmt(a, "UID %llu", (unsigned long long)m->uids[i]);
    first = 0;
  }
  for (size_t k = 0; k < f->n; k++) {
    const struct fitem *it = &f->items[k];
    char flags[128];
    if (!first)
      put_str(a, " ");
    first = 0;
    switch (it->kind) {
    case F_FLAGS:
      flag_list(mail->flags, flags, sizeof(flags));
      put_fmt(a, "FLAGS (%s)", flags);
      break;
    case F_UID:
      put_fmt(a, "UID %llu", (unsigned long long)m->uids[i]);
      break;
    case F_SIZE:
      put_fmt(a, "RFC822.SIZE %zu", mail->size);
      break;
    case F_INTERNALDATE: {
      time_t t = arrived_wall(mail);
      struct tm tm;
      gmtime_r(&t, &tm);
      put_fmt(a, "INTERNALDATE \"%2d-%s-%04d %02d:%02d:%02d +0000\"",
              tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
              tm.tm_min, tm.tm_sec);
      break;
    }
    case F_ENVELOPE:
      put_str(a, "ENVELOPE ");
      put_envelope(a, mail);
      break;
    case F_BODYSTRUCTURE:
    case F_BODY:
      put_str(a, it->kind == F_BODY ? "BODY " : "BODYSTRUCTURE ");
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
      put_str(a, it->name);
      put_str(a, " ");
      if (!data) {
        put_str(a, "NIL");
      } else {
        /* Always a literal: message text may hold anything. */
        put_fmt(a, "{%zu}\r\n", len);
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
    flag_list(mail->flags, flags, sizeof(flags));
    put_fmt(a, "%sFLAGS (%s)", first ? "" : " ", flags);
  }
  put_str(a, ")\r\n");
}

static void cmd_fetch(struct mp_fake_session *s, struct args *g,
                      struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  struct set *set = malloc(sizeof(*set));
  struct fetch *f = malloc(sizeof(*f));
  if (!set || !f) {
    free(set);
    free(f);
    tagged(s, a, "NO [SERVERBUG] Out of memory");
    return;
  }
  f->n = 0;
  if (arg_sp(g) < 0 || parse_msgset(s, g, set) < 0) {
    client_error(s, a, "BAD Error in IMAP command %sFETCH: Invalid messageset",
                 g->uid ? "UID " : "");
  } else if (arg_sp(g) < 0 || parse_fetch(g, f) < 0 || !at_end(g)) {
    client_error(s, a, "BAD Error in IMAP command %sFETCH: Invalid arguments",
                 g->uid ? "UID " : "");
  } else {
    for (size_t i = 0; i < m->nuids && !a->oom; i++)
      if (msg_in(m, set, i, g->uid))
        fetch_one(s, f, i, g->uid, a);
    tagged(s, a, "OK %sFetch completed", g->uid ? "UID " : "");
  }
  fetch_free(f);
  free(f);
  free(set);
}

/* ---- STORE (RFC 9051 6.4.6) ------------------------------------------- */

static void cmd_store(struct mp_fake_session *s, struct args *g,
                      struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  struct set *set = malloc(sizeof(*set));
  char item[32];
  const char *cmd = g->uid ? "UID STORE" : "STORE";
  if (!set) {
    tagged(s, a, "NO [SERVERBUG] Out of memory");
    return;
  }
  if (arg_sp(g) < 0 || parse_msgset(s, g, set) < 0) {
    client_error(s, a, "BAD Error in IMAP command %s: Invalid messageset", cmd);
    free(set);
    return;
  }
  int mode = 0, silent = 0; /* mode: 0 replace, 1 add, -1 remove */
  if (arg_sp(g) < 0 || arg_atom(g, item, sizeof(item), 0, NULL) < 0) {
    client_error(s, a, "BAD Error in IMAP command %s: Invalid arguments", cmd);
    free(set);
    return;
  }
  const char *it = item;
  if (*it == '+' || *it == '-')
    mode = *it++ == '+' ? 1 : -1;
  if (strcasecmp(it, "FLAGS.SILENT") == 0)
    silent = 1;
  else if (strcasecmp(it, "FLAGS") != 0) {
    client_error(s, a, "BAD Error in IMAP command %s: Invalid item %s", cmd,
                 item);
    free(set);
    return;
  }
  /* flag-list, or flags without parentheses (RFC 9051 9: store-att-flags). */
  unsigned flags = 0;
  int bad = arg_sp(g) < 0;
  int paren = !bad && arg_char(g, '(') == 0;
  while (!bad && !at_end(g) && !(paren && *g->p == ')')) {
    char flag[128];
    int bs = arg_char(g, '\\') == 0;
    if (arg_atom(g, flag + bs, sizeof(flag) - 1, 0, NULL) < 0) {
      bad = 1;
      break;
    }
    if (bs) {
      flag[0] = '\\';
      unsigned bit = flag_from_name(flag);
      if (!bit) { /* \Recent cannot be stored; unknown system flags */
        bad = 1;
        break;
      }
      flags |= bit;
    } /* keywords: accepted, not kept (no \* in PERMANENTFLAGS) */
    if (at_end(g) || (paren && *g->p == ')'))
      break;
    if (arg_sp(g) < 0)
      bad = 1;
  }
  if (!bad && paren && arg_char(g, ')') < 0)
    bad = 1;
  if (bad || !at_end(g)) {
    client_error(s, a, "BAD Error in IMAP command %s: Invalid flags", cmd);
    free(set);
    return;
  }
  if (m->read_only) {
    tagged(s, a, "NO [READ-ONLY] Mailbox is read-only");
    free(set);
    return;
  }
  for (size_t i = 0; i < m->nuids; i++) {
    if (!msg_in(m, set, i, g->uid) || !mail_at(s, i))
      continue;
    unsigned on = mode >= 0 ? flags : 0;
    unsigned off = mode < 0 ? flags
                   : mode == 0
                       ? (MP_MAIL_SEEN | MP_MAIL_ANSWERED | MP_MAIL_FLAGGED |
                          MP_MAIL_DELETED | MP_MAIL_DRAFT) &
                             ~flags
                       : 0;
    mp_mailstore_set_flags(store(s), m->user, m->uids[i], on, off);
    const struct mp_mail *mail = mail_at(s, i);
    if (silent || !mail)
      continue;
    char fl[128];
    flag_list(mail->flags, fl, sizeof(fl));
    if (g->uid)
      mp_fake_answer_line(a, "* %zu FETCH (UID %llu FLAGS (%s))", i + 1,
                          (unsigned long long)m->uids[i], fl);
    else
      mp_fake_answer_line(a, "* %zu FETCH (FLAGS (%s))", i + 1, fl);
  }
  free(set);
  tagged(s, a, "OK %s completed", cmd);
}

/* ---- SEARCH (RFC 9051 6.4.4) ------------------------------------------ */

struct search {
  struct mp_fake_session *s;
  struct args g;
  const struct mp_mail *mail; /* NULL: a dry run to check the syntax */
  size_t seq;                 /* 1-based */
  uint64_t uid;
  int unsupported; /* a key we do not do */
};

static int search_keys(struct search *x, int depth, int in_paren, int *hit);

/* "1-Feb-1994" (RFC 9051 9: date) into days since the epoch. */
static int parse_date(struct args *g, long *days)
{
  char buf[32];
  char *str = NULL;
  size_t len;
  if (g->p < g->end && *g->p == '"') {
    if (arg_quoted(g, &str, &len) < 0)
      return -1;
    snprintf(buf, sizeof(buf), "%s", str);
    free(str);
  } else if (arg_atom(g, buf, sizeof(buf), 0, NULL) < 0) {
    return -1;
  }
  int d, y;
  char mon[4];
  if (sscanf(buf, "%2d-%3[A-Za-z]-%4d", &d, mon, &y) != 3 || d < 1 || d > 31 ||
      y < 1970)
    return -1;
  int mi = -1;
  for (int i = 0; i < 12; i++)
    if (strcasecmp(mon, months[i]) == 0)
      mi = i;
  if (mi < 0)
    return -1;
  struct tm tm = {.tm_mday = d, .tm_mon = mi, .tm_year = y - 1900};
  *days = (long)(timegm(&tm) / 86400);
  return 0;
}

/* One search key. */
static int search_key(struct search *x, int depth, int *hit)
{
  struct args *g = &x->g;
  const struct mp_mail *mail = x->mail;
  struct imap *m = x->s->proto;
  if (depth > IMAP_MAX_DEPTH)
    return -1;
  if (arg_char(g, '(') == 0)
    return search_keys(x, depth + 1, 1, hit);
  if (g->p < g->end && ((*g->p >= '0' && *g->p <= '9') || *g->p == '*')) {
    struct set *set = malloc(sizeof(*set));
    if (!set || parse_set(g, m->nuids ? m->nuids : UINT64_MAX, set) < 0) {
      free(set);
      return -1;
    }
    *hit = mail && set_has(set, x->seq);
    free(set);
    return 0;
  }
  char word[32];
  if (arg_atom(g, word, sizeof(word), 0, NULL) < 0)
    return -1;
  unsigned f = mail ? mail->flags : 0;
  static const struct {
    const char *name;
    unsigned bit;
    int set;
  } flagkeys[] = {
      {"ANSWERED", MP_MAIL_ANSWERED, 1}, {"DELETED", MP_MAIL_DELETED, 1},
      {"DRAFT", MP_MAIL_DRAFT, 1},       {"FLAGGED", MP_MAIL_FLAGGED, 1},
      {"SEEN", MP_MAIL_SEEN, 1},         {"UNANSWERED", MP_MAIL_ANSWERED, 0},
      {"UNDELETED", MP_MAIL_DELETED, 0}, {"UNDRAFT", MP_MAIL_DRAFT, 0},
      {"UNFLAGGED", MP_MAIL_FLAGGED, 0}, {"UNSEEN", MP_MAIL_SEEN, 0}};
  for (size_t i = 0; i < sizeof(flagkeys) / sizeof(*flagkeys); i++)
    if (strcasecmp(word, flagkeys[i].name) == 0) {
      *hit = mail && ((f & flagkeys[i].bit) != 0) == flagkeys[i].set;
      return 0;
    }
  /* No session marks messages \Recent here: NEW and RECENT match nothing,
   * OLD everything. */
  if (strcasecmp(word, "ALL") == 0 || strcasecmp(word, "OLD") == 0) {
    *hit = mail != NULL;
    return 0;
  }
  if (strcasecmp(word, "NEW") == 0 || strcasecmp(word, "RECENT") == 0) {
    *hit = 0;
    return 0;
  }
  if (strcasecmp(word, "NOT") == 0) {
    int sub = 0;
    if (arg_sp(g) < 0 || search_key(x, depth + 1, &sub) < 0)
      return -1;
    *hit = mail && !sub;
    return 0;
  }
  if (strcasecmp(word, "OR") == 0) {
    int h1 = 0, h2 = 0;
    if (arg_sp(g) < 0 || search_key(x, depth + 1, &h1) < 0 || arg_sp(g) < 0 ||
        search_key(x, depth + 1, &h2) < 0)
      return -1;
    *hit = h1 || h2;
    return 0;
  }
  if (strcasecmp(word, "UID") == 0) {
    uint64_t star = m->nuids ? m->uids[m->nuids - 1] : 0;
    struct set *set = malloc(sizeof(*set));
    if (!set || arg_sp(g) < 0 || parse_set(g, star, set) < 0) {
      free(set);
      return -1;
    }
    *hit = mail && set_has(set, x->uid);
    free(set);
    return 0;
  }
  if (strcasecmp(word, "KEYWORD") == 0 || strcasecmp(word, "UNKEYWORD") == 0) {
    char kw[128];
    if (arg_sp(g) < 0 || arg_atom(g, kw, sizeof(kw), 0, NULL) < 0)
      return -1;
    *hit = mail && word[0] != 'K' && word[0] != 'k'; /* none are kept */
    return 0;
  }
  if (strcasecmp(word, "LARGER") == 0 || strcasecmp(word, "SMALLER") == 0) {
    uint64_t n;
    if (arg_sp(g) < 0 || arg_number(g, &n) < 0)
      return -1;
    *hit = mail &&
           (word[0] == 'L' || word[0] == 'l' ? mail->size > n : mail->size < n);
    return 0;
  }
  if (strcasecmp(word, "BEFORE") == 0 || strcasecmp(word, "ON") == 0 ||
      strcasecmp(word, "SINCE") == 0) {
    long day;
    if (arg_sp(g) < 0 || parse_date(g, &day) < 0)
      return -1;
    long have = mail ? (long)(arrived_wall(mail) / 86400) : 0;
    *hit = mail && (word[0] == 'B' || word[0] == 'b'   ? have < day
                    : word[0] == 'O' || word[0] == 'o' ? have == day
                                                       : have >= day);
    return 0;
  }
  if (strncasecmp(word, "SENT", 4) == 0 &&
      (strcasecmp(word + 4, "BEFORE") == 0 || strcasecmp(word + 4, "ON") == 0 ||
       strcasecmp(word + 4, "SINCE") == 0)) {
    long day;
    if (arg_sp(g) < 0 || parse_date(g, &day) < 0)
      return -1;
    x->unsupported = 1; /* the Date field is not parsed here */
    *hit = 0;
    return 0;
  }
  /* Keys with a string: header fields, BODY and TEXT. */
  static const char *const fields[] = {"BCC", "CC", "FROM", "SUBJECT", "TO"};
  char *name = NULL, *value = NULL;
  size_t vlen = 0;
  int which = -1; /* 0..4 fields[], 5 HEADER, 6 BODY, 7 TEXT */
  for (int i = 0; i < 5; i++)
    if (strcasecmp(word, fields[i]) == 0)
      which = i;
  if (strcasecmp(word, "HEADER") == 0)
    which = 5;
  else if (strcasecmp(word, "BODY") == 0)
    which = 6;
  else if (strcasecmp(word, "TEXT") == 0)
    which = 7;
  if (which < 0)
    return -1;
  if (which == 5 && (arg_sp(g) < 0 || arg_astring(g, &name) < 0))
    return -1;
  if (arg_sp(g) < 0 || arg_string(g, 0, &value, &vlen) < 0) {
    free(name);
    return -1;
  }
  *hit = 0;
  if (mail) {
    size_t hl = header_len(mail);
    if (which < 5)
      *hit = header_has(mail, fields[which], value, vlen);
    else if (which == 5)
      *hit = header_has(mail, name, value, vlen);
    else if (which == 6)
      *hit = mem_icase_has(mail->data + hl, mail->size - hl, value, vlen);
    else
      *hit = mem_icase_has(mail->data, mail->size, value, vlen);
  }
  free(name);
  free(value);
  return 0;
}

/* Keys separated by SP, all of which must match, up to the end (or ")"). */
static int search_keys(struct search *x, int depth, int in_paren, int *hit)
{
  int all = 1;
  for (;;) {
    int h = 0;
    if (search_key(x, depth, &h) < 0)
      return -1;
    all &= h;
    if (in_paren && arg_char(&x->g, ')') == 0)
      break;
    if (!in_paren && at_end(&x->g))
      break;
    if (arg_sp(&x->g) < 0)
      return -1;
  }
  *hit = all && x->mail;
  return 0;
}

static void cmd_search(struct mp_fake_session *s, struct args *g,
                       struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  const char *cmd = g->uid ? "UID SEARCH" : "SEARCH";
  if (arg_sp(g) < 0) {
    client_error(s, a, "BAD Error in IMAP command %s: Missing arguments", cmd);
    return;
  }
  /* RFC 9051 6.4.4: CHARSET, then the keys. */
  const char *save = g->p;
  char word[16];
  if (arg_atom(g, word, sizeof(word), 0, NULL) > 0 &&
      strcasecmp(word, "CHARSET") == 0) {
    char *cs = NULL;
    if (arg_sp(g) < 0 || arg_astring(g, &cs) < 0 || arg_sp(g) < 0) {
      free(cs);
      client_error(s, a, "BAD Error in IMAP command %s: Invalid CHARSET", cmd);
      return;
    }
    int ok = strcasecmp(cs, "US-ASCII") == 0 || strcasecmp(cs, "UTF-8") == 0;
    free(cs);
    if (!ok) {
      tagged(s, a, "NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset");
      return;
    }
  } else {
    g->p = save;
  }
  struct search x = {.s = s, .g = *g};
  int hit;
  /* A dry run first: a syntax error is BAD even in an empty mailbox. */
  if (search_keys(&x, 0, 0, &hit) < 0) {
    client_error(s, a, "BAD Error in IMAP command %s: Invalid search key", cmd);
    return;
  }
  if (x.unsupported) {
    tagged(s, a,
           "NO [CANNOT] SENTBEFORE, SENTON and SENTSINCE are not "
           "supported");
    return;
  }
  put_str(a, "* SEARCH");
  for (size_t i = 0; i < m->nuids; i++) {
    x.g = *g;
    x.mail = mail_at(s, i);
    x.seq = i + 1;
    x.uid = m->uids[i];
    if (!x.mail)
      continue;
    if (search_keys(&x, 0, 0, &hit) == 0 && hit)
      put_fmt(a, " %llu",
              g->uid ? (unsigned long long)m->uids[i]
                     : (unsigned long long)i + 1);
  }
  put_str(a, "\r\n");
  tagged(s, a, "OK %s completed", cmd);
}

/* ---- EXPUNGE (RFC 9051 6.4.3, RFC 4315 2.1) ---------------------------- */

/* Removes the \Deleted messages in the view (those in set, when given),
 * telling the client "* n EXPUNGE" highest first so that the numbers
 * still to come do not move (RFC 9051 7.5.1). quiet: CLOSE says nothing. */
static void expunge(struct mp_fake_session *s, const struct set *set, int quiet,
                    struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  for (size_t i = m->nuids; i-- > 0;) {
    const struct mp_mail *mail = mail_at(s, i);
    if (mail && (!(mail->flags & MP_MAIL_DELETED) ||
                 (set && !set_has(set, m->uids[i]))))
      continue;
    if (mail)
      mp_mailstore_remove(store(s), m->user, m->uids[i]);
    if (!quiet)
      mp_fake_answer_line(a, "* %zu EXPUNGE", i + 1);
    view_remove(m, i);
  }
}

static void cmd_expunge(struct mp_fake_session *s, struct args *g,
                        struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  struct set *set = NULL;
  if (g->uid) {
    set = malloc(sizeof(*set));
    if (!set) {
      tagged(s, a, "NO [SERVERBUG] Out of memory");
      return;
    }
    if (arg_sp(g) < 0 || parse_msgset(s, g, set) < 0 || !at_end(g)) {
      free(set);
      client_error(s, a,
                   "BAD Error in IMAP command UID EXPUNGE: Invalid "
                   "messageset");
      return;
    }
  } else if (!at_end(g)) {
    client_error(s, a,
                 "BAD Error in IMAP command EXPUNGE: Unexpected "
                 "arguments");
    return;
  }
  if (m->read_only) {
    free(set);
    tagged(s, a, "NO [READ-ONLY] Mailbox is read-only");
    return;
  }
  expunge(s, set, 0, a);
  free(set);
  tagged(s, a, "OK %sExpunge completed", g->uid ? "UID " : "");
}

/* ---- mailboxes -------------------------------------------------------- */

static int is_inbox(const char *name)
{
  return strcasecmp(name, "INBOX") == 0;
}

static void cmd_select(struct mp_fake_session *s, struct args *g,
                       struct mp_fake_answer *a, int examine)
{
  struct imap *m = s->proto;
  char *name = NULL;
  if (arg_sp(g) < 0 || arg_astring(g, &name) < 0 || !at_end(g)) {
    free(name);
    client_error(s, a, "BAD Error in IMAP command %s: Invalid arguments",
                 examine ? "EXAMINE" : "SELECT");
    return;
  }
  /* RFC 9051 6.3.2: a failed SELECT leaves no mailbox selected. */
  view_clear(m);
  set_state(s, IMAP_AUTH);
  if (!is_inbox(name)) {
    tagged(s, a,
           "NO [NONEXISTENT] Mailbox doesn't exist (only INBOX "
           "does)");
    free(name);
    return;
  }
  free(name);
  m->read_only = examine;
  size_t unseen = 0;
  view_refresh(s, NULL, 0);
  mp_fake_answer_line(a, "* FLAGS (" IMAP_FLAGS ")");
  if (examine)
    mp_fake_answer_line(a, "* OK [PERMANENTFLAGS ()] Read-only mailbox.");
  else
    mp_fake_answer_line(a, "* OK [PERMANENTFLAGS (" IMAP_FLAGS
                           ")] Flags permitted.");
  mp_fake_answer_line(a, "* %zu EXISTS", m->nuids);
  mp_fake_answer_line(a, "* 0 RECENT");
  for (size_t i = 0; i < m->nuids && !unseen; i++) {
    const struct mp_mail *mail = mail_at(s, i);
    if (mail && !(mail->flags & MP_MAIL_SEEN))
      unseen = i + 1;
  }
  if (unseen)
    mp_fake_answer_line(a, "* OK [UNSEEN %zu] First unseen.", unseen);
  uint32_t validity = store(s) ? mp_mailstore_validity(store(s)) : 1;
  uint64_t next = store(s) ? mp_mailstore_next_id(store(s)) : 1;
  mp_fake_answer_line(a, "* OK [UIDVALIDITY %u] UIDs valid", validity);
  mp_fake_answer_line(a, "* OK [UIDNEXT %llu] Predicted next UID",
                      (unsigned long long)next);
  set_state(s, IMAP_SELECTED);
  tagged(s, a, "OK [%s] %s completed", examine ? "READ-ONLY" : "READ-WRITE",
         examine ? "Examine" : "Select");
}

/* RFC 9051 6.3.9 list wildcards: "*" matches anything, "%" anything
 * but the hierarchy delimiter (there is none below INBOX). */
static int list_match(const char *pat, const char *name)
{
  if (!*pat)
    return !*name;
  if (*pat == '*' || *pat == '%') {
    for (const char *n = name;; n++) {
      if (list_match(pat + 1, n))
        return 1;
      if (!*n || (*pat == '%' && *n == '/'))
        return 0;
    }
  }
  if (!*name)
    return 0;
  char a = *pat, b = *name;
  if (a >= 'a' && a <= 'z')
    a = (char)(a - 32);
  if (b >= 'a' && b <= 'z')
    b = (char)(b - 32);
  return a == b && list_match(pat + 1, name + 1);
}

static void cmd_list(struct mp_fake_session *s, struct args *g,
                     struct mp_fake_answer *a, const char *verb)
{
  char *ref = NULL, *pat = NULL;
  size_t rl, pl;
  if (arg_sp(g) < 0 || arg_string(g, 0, &ref, &rl) < 0 || arg_sp(g) < 0 ||
      arg_string(g, 1, &pat, &pl) < 0 || !at_end(g)) {
    free(ref);
    free(pat);
    client_error(s, a, "BAD Error in IMAP command %s: Invalid arguments", verb);
    return;
  }
  if (pat[0] == '\0') {
    /* RFC 9051 6.3.9: the delimiter and the root. */
    mp_fake_answer_line(a, "* %s (\\Noselect) \"/\" \"\"", verb);
  } else {
    size_t n = strlen(ref) + strlen(pat) + 1;
    char *full = malloc(n);
    if (full) {
      snprintf(full, n, "%s%s", ref, pat);
      /* INBOX is case-insensitive (RFC 9051 5.1). */
      if (list_match(full, "INBOX"))
        mp_fake_answer_line(a, "* %s (\\HasNoChildren) \"/\" INBOX", verb);
      free(full);
    }
  }
  free(ref);
  free(pat);
  tagged(s, a, "OK %s completed", verb);
}

static void cmd_status(struct mp_fake_session *s, struct args *g,
                       struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  char *name = NULL;
  if (arg_sp(g) < 0 || arg_astring(g, &name) < 0 || arg_sp(g) < 0 ||
      arg_char(g, '(') < 0) {
    free(name);
    client_error(s, a, "BAD Error in IMAP command STATUS: Invalid arguments");
    return;
  }
  if (!is_inbox(name)) {
    free(name);
    tagged(s, a, "NO [NONEXISTENT] Mailbox doesn't exist");
    return;
  }
  free(name);
  uint64_t *ids;
  size_t n;
  store_list(s, &ids, &n);
  size_t unseen = 0, deleted = 0;
  uint64_t size = 0;
  for (size_t i = 0; i < n; i++) {
    const struct mp_mail *mail = mp_mailstore_get(store(s), m->user, ids[i]);
    if (!mail)
      continue;
    unseen += !(mail->flags & MP_MAIL_SEEN);
    deleted += (mail->flags & MP_MAIL_DELETED) != 0;
    size += mail->size;
  }
  free(ids);
  char out[512];
  size_t at = 0;
  for (;;) {
    char item[32];
    unsigned long long v;
    if (arg_atom(g, item, sizeof(item), 0, NULL) < 0)
      break;
    if (strcasecmp(item, "MESSAGES") == 0)
      v = n;
    else if (strcasecmp(item, "RECENT") == 0)
      v = 0;
    else if (strcasecmp(item, "UIDNEXT") == 0)
      v = store(s) ? mp_mailstore_next_id(store(s)) : 1;
    else if (strcasecmp(item, "UIDVALIDITY") == 0)
      v = store(s) ? mp_mailstore_validity(store(s)) : 1;
    else if (strcasecmp(item, "UNSEEN") == 0)
      v = unseen;
    else if (strcasecmp(item, "DELETED") == 0)
      v = deleted;
    else if (strcasecmp(item, "SIZE") == 0)
      v = size;
    else
      break;
    for (char *c = item; *c; c++)
      if (*c >= 'a' && *c <= 'z')
        *c = (char)(*c - 32);
    if (at < sizeof(out) - 64)
      at += (size_t)snprintf(out + at, sizeof(out) - at, "%s%s %llu",
                             at ? " " : "", item, v);
    if (arg_char(g, ')') == 0) {
      if (!at_end(g))
        break;
      mp_fake_answer_line(a, "* STATUS INBOX (%s)", out);
      tagged(s, a, "OK Status completed");
      return;
    }
    if (arg_sp(g) < 0)
      break;
  }
  client_error(s, a, "BAD Error in IMAP command STATUS: Invalid status item");
}

/* ---- login ------------------------------------------------------------ */

static void logged_in(struct mp_fake_session *s, const char *user)
{
  struct imap *m = s->proto;
  free(m->user);
  m->user = strdup(user ? user : "");
  set_state(s, IMAP_AUTH);
}

static void end_sasl(struct imap *m)
{
  mp_sasl_server_free(m->sasl);
  m->sasl = NULL;
  m->mode = MODE_COMMAND;
}

static void cmd_login(struct mp_fake_session *s, struct args *g,
                      struct mp_fake_answer *a)
{
  char *user = NULL, *pass = NULL;
  if (arg_sp(g) < 0 || arg_astring(g, &user) < 0 || arg_sp(g) < 0 ||
      arg_astring(g, &pass) < 0 || !at_end(g)) {
    free(user);
    free(pass);
    client_error(s, a, "BAD Error in IMAP command LOGIN: Invalid arguments");
    return;
  }
  if (login_disabled(s)) {
    /* RFC 9051 6.2.3, RFC 5530 3: PRIVACYREQUIRED. */
    tagged(s, a,
           "NO [PRIVACYREQUIRED] Plaintext authentication disallowed "
           "on non-secure (SSL/TLS) connections.");
  } else {
    const char *want = mp_fake_password(s, user);
    if (want && strcmp(want, pass) == 0) {
      logged_in(s, user);
      tagged(s, a, "OK Logged in");
    } else {
      /* RFC 5530 3: AUTHENTICATIONFAILED. */
      tagged(s, a, "NO [AUTHENTICATIONFAILED] Authentication failed.");
    }
  }
  free(user);
  /* The password is not kept. */
  memset(pass, 0, strlen(pass));
  free(pass);
}

/* A SASL step's result as the reply (RFC 9051 6.2.2). */
static void sasl_result(struct mp_fake_session *s, int rc, char *out,
                        struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  if (rc == MP_SASL_CONTINUE) {
    mp_fake_answer_line(a, "+ %s", out ? out : "");
    m->mode = MODE_SASL;
    free(out);
    return;
  }
  free(out);
  if (rc == MP_SASL_DONE) {
    logged_in(s, mp_sasl_server_user(m->sasl));
    tagged(s, a, "OK Logged in");
  } else if (rc == MP_E_AUTH_FAILED) {
    tagged(s, a, "NO [AUTHENTICATIONFAILED] Authentication failed.");
  } else if (rc == MP_E_PROTOCOL_ERROR) {
    client_error(s, a, "BAD Invalid SASL response");
  } else {
    tagged(s, a, "NO [UNAVAILABLE] Temporary authentication failure.");
  }
  end_sasl(m);
}

static void cmd_authenticate(struct mp_fake_session *s, struct args *g,
                             struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  const struct mp_fake_config *cfg = s->srv->cfg;
  char mech[64];
  char *ir = NULL;
  size_t irl = 0;
  if (arg_sp(g) < 0 || arg_atom(g, mech, sizeof(mech), 0, NULL) < 0) {
    client_error(s, a,
                 "BAD Error in IMAP command AUTHENTICATE: Invalid "
                 "arguments");
    return;
  }
  /* RFC 4959: SASL-IR, the initial response ("=" for an empty one). */
  if (!at_end(g) &&
      (arg_sp(g) < 0 || arg_string(g, 0, &ir, &irl) < 0 || !at_end(g))) {
    free(ir);
    client_error(s, a,
                 "BAD Error in IMAP command AUTHENTICATE: Invalid "
                 "arguments");
    return;
  }
  int id = mp_sasl_from_name(mech);
  if (login_disabled(s)) {
    tagged(s, a,
           "NO [PRIVACYREQUIRED] Authentication disallowed on "
           "non-secure (SSL/TLS) connections.");
  } else if (id < 0 || !mp_fake_auth_offered(cfg, mech)) {
    tagged(s, a, "NO [CANNOT] Unsupported authentication mechanism.");
  } else if (!(m->sasl = mp_sasl_server_new(id, mp_fake_hostname(s->srv),
                                            mp_fake_password, s))) {
    tagged(s, a, "NO [UNAVAILABLE] Temporary authentication failure.");
  } else {
    char *out = NULL;
    int rc = mp_sasl_server_start(m->sasl, ir, &out);
    sasl_result(s, rc, out, a);
  }
  free(ir);
}

static void sasl_line(struct mp_fake_session *s, const char *line, size_t len,
                      int replaced, struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  if (replaced) {
    end_sasl(m); /* a rule answered: the exchange is over */
    return;
  }
  if (strcmp(line, "*") == 0) {
    /* RFC 9051 6.2.2: the client cancelled; the server answers BAD. */
    end_sasl(m);
    tagged(s, a, "BAD Authentication aborted by client.");
    return;
  }
  if (strlen(line) != len) {
    end_sasl(m);
    client_error(s, a, "BAD Invalid SASL response");
    return;
  }
  char *out = NULL;
  int rc = mp_sasl_server_step(m->sasl, line, &out);
  sasl_result(s, rc, out, a);
}

/* ---- the simple commands ---------------------------------------------- */

static void cmd_capability(struct mp_fake_session *s, struct args *g,
                           struct mp_fake_answer *a)
{
  char caps[2048];
  if (!at_end(g)) {
    client_error(s, a,
                 "BAD Error in IMAP command CAPABILITY: Unexpected "
                 "arguments");
    return;
  }
  capabilities(s, caps, sizeof(caps));
  mp_fake_answer_line(a, "* CAPABILITY %s", caps);
  tagged(s, a, "OK Capability completed.");
}

/* NOOP and CHECK (RFC 9051 6.1.2; CHECK is RFC 3501 6.4.1): what
 * changed. */
static void refresh_cmd(struct mp_fake_session *s, struct args *g,
                        struct mp_fake_answer *a, const char *verb)
{
  struct imap *m = s->proto;
  if (!at_end(g)) {
    client_error(s, a, "BAD Error in IMAP command %s: Unexpected arguments",
                 verb);
    return;
  }
  if (m->state == IMAP_SELECTED)
    view_refresh(s, a, 1);
  tagged(s, a, "OK %s completed", verb);
}

static void cmd_noop(struct mp_fake_session *s, struct args *g,
                     struct mp_fake_answer *a)
{
  refresh_cmd(s, g, a, "NOOP");
}

static void cmd_logout(struct mp_fake_session *s, struct args *g,
                       struct mp_fake_answer *a)
{
  /* RFC 9051 6.1.3: BYE, then the tagged OK, then the server closes. */
  mp_fake_answer_line(a, "* BYE Logging out");
  tagged(s, a, "OK Logout completed.");
  set_state(s, IMAP_LOGOUT);
  a->effect = MP_FX_CLOSE;
}

static void cmd_starttls(struct mp_fake_session *s, struct args *g,
                         struct mp_fake_answer *a)
{
  if (!at_end(g)) {
    client_error(s, a,
                 "BAD Error in IMAP command STARTTLS: Unexpected "
                 "arguments");
  } else if (s->in_tls) {
    client_error(s, a, "BAD TLS is already active.");
  } else if (s->srv->cfg->tls != MP_FAKE_TLS_STARTTLS || !s->srv->tls_ctx) {
    client_error(s, a, "BAD STARTTLS is not available.");
  } else {
    /* RFC 9051 6.2.1: the handshake starts after the tagged OK. */
    tagged(s, a, "OK Begin TLS negotiation now.");
    a->effect = MP_FX_STARTTLS;
  }
}

static void cmd_select_rw(struct mp_fake_session *s, struct args *g,
                          struct mp_fake_answer *a)
{
  cmd_select(s, g, a, 0);
}

static void cmd_examine(struct mp_fake_session *s, struct args *g,
                        struct mp_fake_answer *a)
{
  cmd_select(s, g, a, 1);
}

static void cmd_list_list(struct mp_fake_session *s, struct args *g,
                          struct mp_fake_answer *a)
{
  cmd_list(s, g, a, "LIST");
}

static void cmd_lsub(struct mp_fake_session *s, struct args *g,
                     struct mp_fake_answer *a)
{
  cmd_list(s, g, a, "LSUB");
}

static void cmd_check(struct mp_fake_session *s, struct args *g,
                      struct mp_fake_answer *a)
{
  refresh_cmd(s, g, a, "CHECK");
}

static void cmd_close(struct mp_fake_session *s, struct args *g,
                      struct mp_fake_answer *a, int unselect)
{
  struct imap *m = s->proto;
  if (!at_end(g)) {
    client_error(s, a, "BAD Error in IMAP command %s: Unexpected arguments",
                 unselect ? "UNSELECT" : "CLOSE");
    return;
  }
  /* RFC 9051 6.4.1: CLOSE expunges silently, unless read-only. */
  if (!unselect && !m->read_only)
    expunge(s, NULL, 1, a);
  view_clear(m);
  set_state(s, IMAP_AUTH);
  tagged(s, a, "OK %s completed", unselect ? "Unselect" : "Close");
}

static void cmd_close_close(struct mp_fake_session *s, struct args *g,
                            struct mp_fake_answer *a)
{
  cmd_close(s, g, a, 0);
}

static void cmd_unselect(struct mp_fake_session *s, struct args *g,
                         struct mp_fake_answer *a)
{
  cmd_close(s, g, a, 1);
}

static void cmd_idle(struct mp_fake_session *s, struct args *g,
                     struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  if (!at_end(g)) {
    client_error(s, a,
                 "BAD Error in IMAP command IDLE: Unexpected "
                 "arguments");
    return;
  }
  /* RFC 2177 3. */
  if (m->state == IMAP_SELECTED)
    view_refresh(s, a, 1);
  mp_fake_answer_line(a, "+ idling");
  m->mode = MODE_IDLE;
}

static void idle_line(struct mp_fake_session *s, const char *line, int replaced,
                      struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  m->mode = MODE_COMMAND;
  if (replaced)
    return;
  if (strcasecmp(line, "DONE") != 0) {
    client_error(s, a, "BAD Expected DONE.");
    return;
  }
  if (m->state == IMAP_SELECTED)
    view_refresh(s, a, 1);
  tagged(s, a, "OK Idle completed.");
}

static void cmd_namespace(struct mp_fake_session *s, struct args *g,
                          struct mp_fake_answer *a)
{
  /* RFC 2342 5: one personal namespace, no others. */
  mp_fake_answer_line(a, "* NAMESPACE ((\"\" \"/\")) NIL NIL");
  tagged(s, a, "OK Namespace completed");
}

static void cmd_enable(struct mp_fake_session *s, struct args *g,
                       struct mp_fake_answer *a)
{
  if (at_end(g)) {
    client_error(s, a, "BAD Error in IMAP command ENABLE: Missing arguments");
    return;
  }
  /* RFC 5161 3.1: nothing here can be enabled. */
  mp_fake_answer_line(a, "* ENABLED");
  tagged(s, a, "OK Enabled");
}

static void cmd_id(struct mp_fake_session *s, struct args *g,
                   struct mp_fake_answer *a)
{
  /* RFC 2971 3.1. */
  mp_fake_answer_line(a, "* ID (\"name\" \"mailprobe-fake\")");
  tagged(s, a, "OK ID completed");
}

static void cmd_unsupported(struct mp_fake_session *s, struct args *g,
                            struct mp_fake_answer *a)
{
  tagged(s, a, "NO [CANNOT] Not supported by this server: only INBOX exists");
}

static void cmd_uid(struct mp_fake_session *s, struct args *g,
                    struct mp_fake_answer *a);

static const struct command commands[] = {
    {"CAPABILITY", S_ANY, cmd_capability},
    {"NOOP", S_ANY, cmd_noop},
    {"LOGOUT", S_ANY, cmd_logout},
    {"ID", S_ANY, cmd_id},
    {"STARTTLS", S_NA, cmd_starttls},
    {"LOGIN", S_NA, cmd_login},
    {"AUTHENTICATE", S_NA, cmd_authenticate},
    {"SELECT", S_AU | S_SE, cmd_select_rw},
    {"EXAMINE", S_AU | S_SE, cmd_examine},
    {"LIST", S_AU | S_SE, cmd_list_list},
    {"LSUB", S_AU | S_SE, cmd_lsub},
    {"STATUS", S_AU | S_SE, cmd_status},
    {"NAMESPACE", S_AU | S_SE, cmd_namespace},
    {"ENABLE", S_AU | S_SE, cmd_enable},
    {"IDLE", S_AU | S_SE, cmd_idle},
    {"CREATE", S_AU | S_SE, cmd_unsupported},
    {"DELETE", S_AU | S_SE, cmd_unsupported},
    {"RENAME", S_AU | S_SE, cmd_unsupported},
    {"SUBSCRIBE", S_AU | S_SE, cmd_unsupported},
    {"UNSUBSCRIBE", S_AU | S_SE, cmd_unsupported},
    {"APPEND", S_AU | S_SE, cmd_unsupported},
    {"CHECK", S_SE, cmd_check},
    {"CLOSE", S_SE, cmd_close_close},
    {"UNSELECT", S_SE, cmd_unselect},
    {"EXPUNGE", S_SE, cmd_expunge},
    {"SEARCH", S_SE, cmd_search},
    {"FETCH", S_SE, cmd_fetch},
    {"STORE", S_SE, cmd_store},
    {"COPY", S_SE, cmd_unsupported},
    {"MOVE", S_SE, cmd_unsupported},
    {"UID", S_SE, cmd_uid},
};

static const struct command *lookup(const char *name, size_t len)
{
  for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++)
    if (strlen(commands[i].name) == len &&
        strncasecmp(commands[i].name, name, len) == 0)
      return &commands[i];
  return NULL;
}

/* RFC 9051 6.4.9: UID COPY, MOVE, FETCH, SEARCH, STORE, EXPUNGE. */
static void cmd_uid(struct mp_fake_session *s, struct args *g,
                    struct mp_fake_answer *a)
{
  char sub[16];
  if (arg_sp(g) < 0 || arg_atom(g, sub, sizeof(sub), 0, NULL) < 0) {
    client_error(s, a, "BAD Error in IMAP command UID: Missing command");
    return;
  }
  g->uid = 1;
  if (strcasecmp(sub, "FETCH") == 0)
    cmd_fetch(s, g, a);
  else if (strcasecmp(sub, "SEARCH") == 0)
    cmd_search(s, g, a);
  else if (strcasecmp(sub, "STORE") == 0)
    cmd_store(s, g, a);
  else if (strcasecmp(sub, "EXPUNGE") == 0)
    cmd_expunge(s, g, a);
  else if (strcasecmp(sub, "COPY") == 0 || strcasecmp(sub, "MOVE") == 0)
    cmd_unsupported(s, g, a);
  else
    client_error(s, a, "BAD Error in IMAP command UID: Unknown command %s",
                 sub);
}

/* ---- commands ------------------------------------------------------- */

/* The tag (RFC 9051 9: tag = 1*<any ASTRING-CHAR except "+">) and the
 * verb's extent; -1 when there is no valid tag. */
static int split_tag(const char *text, size_t len, size_t *tag_len,
                     const char **verb, size_t *verb_len)
{
  size_t t = 0;
  while (t < len && atom_char((unsigned char)text[t], 1) && text[t] != '+')
    t++;
  if (t == 0 || t > IMAP_MAX_TAG || (t < len && text[t] != ' '))
    return -1;
  *tag_len = t;
  *verb = text + (t < len ? t + 1 : t);
  size_t v = 0;
  while (*verb + v < text + len && atom_char((unsigned char)(*verb)[v], 0))
    v++;
  *verb_len = v;
  return 0;
}

/* Runs a whole command: text with literal markers and the literals. */
static void run_command(struct mp_fake_session *s, const char *text, size_t len,
                        struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  size_t tl, vl;
  const char *verb;
  if (split_tag(text, len, &tl, &verb, &vl) < 0) {
    m->tag[0] = '\0';
    client_error(s, a, "BAD Error in IMAP command received by server.");
    return;
  }
  memcpy(m->tag, text, tl);
  m->tag[tl] = '\0';
  if (vl == 0) {
    client_error(s, a, "BAD Error in IMAP command: Missing command.");
    return;
  }
  const struct command *c = lookup(verb, vl);
  if (!c) {
    client_error(s, a, "BAD Error in IMAP command %.*s: Unknown command.",
                 (int)(vl > 64 ? 64 : vl), verb);
    return;
  }
  if (m->state == IMAP_LOGOUT)
    return;
  if (!(c->states & (1u << m->state))) {
    if (m->state == IMAP_NOTAUTH)
      client_error(s, a, "NO [CLIENTBUG] %s needs a login first.", c->name);
    else if (c->states == S_NA)
      client_error(s, a, "NO [CLIENTBUG] %s is not valid: already logged in.",
                   c->name);
    else
      client_error(s, a, "NO [CLIENTBUG] %s needs a selected mailbox.",
                   c->name);
    return;
  }
  struct args g = {
      .p = verb + vl, .end = text + len, .lits = m->lits, .nlits = m->nlits};
  c->fn(s, &g, a);
}

/* ---- putting commands together around literals ---------------------- */

/* A literal announced at the end of a line (RFC 9051 4.3, RFC 7888):
 * 1 with its size and whether it is synchronizing, else 0. A size past
 * 2^63 counts as huge. */
static int line_literal(const char *line, size_t len, uint64_t *size, int *sync)
{
  if (len < 3 || line[len - 1] != '}')
    return 0;
  size_t end = len - 1;
  int plus = line[end - 1] == '+';
  if (plus)
    end--;
  size_t i = end;
  while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9')
    i--;
  if (i == end || i == 0 || line[i - 1] != '{')
    return 0;
  uint64_t n = 0;
  for (size_t k = i; k < end; k++)
    n = n > UINT64_MAX / 20 ? UINT64_MAX / 2
                            : n * 10 + (uint64_t)(line[k] - '0');
  *size = n;
  *sync = !plus;
  return 1;
}

static void cmd_reset(struct imap *m)
{
  free(m->text);
  m->text = NULL;
  m->text_len = m->text_cap = 0;
  for (size_t i = 0; i < m->nlits; i++)
    free(m->lits[i].buf);
  memset(m->lits, 0, sizeof(m->lits));
  m->nlits = 0;
  m->total = 0;
  if (m->mode == MODE_LITERAL)
    m->mode = MODE_COMMAND;
}

static int text_append(struct imap *m, const char *buf, size_t len)
{
  if (m->text_len + len + 1 > m->text_cap) {
    size_t cap = m->text_cap ? m->text_cap : 256;
    while (cap < m->text_len + len + 1)
      cap *= 2;
    char *p = realloc(m->text, cap);
    if (!p)
      return -1;
    m->text = p;
    m->text_cap = cap;
  }
  memcpy(m->text + m->text_len, buf, len);
  m->text_len += len;
  m->text[m->text_len] = '\0';
  m->total += len;
  return 0;
}

/* Takes the tag of a command's first line, for answers before it runs. */
static void take_tag(struct imap *m, const char *line, size_t len)
{
  size_t tl, vl;
  const char *verb;
  if (split_tag(line, len, &tl, &verb, &vl) < 0) {
    m->tag[0] = '\0';
    return;
  }
  memcpy(m->tag, line, tl);
  m->tag[tl] = '\0';
}

/* A line that ends in a literal announcement. */
static void literal_line(struct mp_fake_session *s, const char *line,
                         size_t len, struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  uint64_t size = 0;
  int sync = 1;
  line_literal(line, len, &size, &sync);
  if (m->mode == MODE_COMMAND) {
    cmd_reset(m);
    take_tag(m, line, len);
  }
  int too_big = size > IMAP_MAX_LITERAL || m->nlits == IMAP_MAX_LITERALS ||
                len > IMAP_MAX_CMD_LINE ||
                m->total + len + size > IMAP_MAX_COMMAND;
  if (too_big && !sync) {
    /* RFC 7888 4 (LITERAL-): the bytes are coming whatever we say; we
     * will not read them, so the session ends. */
    mp_fake_answer_line(a, "* BYE [TOOBIG] Literal too big.");
    a->effect = MP_FX_CLOSE;
    set_state(s, IMAP_LOGOUT);
    cmd_reset(m);
    return;
  }
  if (too_big) {
    /* RFC 9051 7.1: a synchronizing literal may be refused; the client
     * then sends nothing more of the command. */
    cmd_reset(m);
    client_error(s, a, "NO [TOOBIG] Literal too big.");
    return;
  }
  if (text_append(m, line, len) < 0) {
    cmd_reset(m);
    a->oom = 1;
    return;
  }
  struct lit *l = &m->lits[m->nlits++];
  l->want = (size_t)size;
  l->len = 0;
  l->buf = malloc(l->want + 1);
  if (!l->buf) {
    cmd_reset(m);
    a->oom = 1;
    return;
  }
  l->buf[0] = '\0';
  m->total += l->want;
  m->mode = MODE_LITERAL;
  if (size > 0)
    mp_conn_expect_raw(s->conn, size);
  if (sync)
    mp_fake_answer_line(a, "+ Ready for literal data");
}

static void imap_raw(struct mp_fake_session *s, const char *buf, size_t len,
                     int last)
{
  struct imap *m = s->proto;
  if (m->mode != MODE_LITERAL || m->nlits == 0)
    return;
  struct lit *l = &m->lits[m->nlits - 1];
  size_t n = len < l->want - l->len ? len : l->want - l->len;
  memcpy(l->buf + l->len, buf, n);
  l->len += n;
  l->buf[l->len] = '\0';
}

/* ---- the protocol table --------------------------------------------- */

static int imap_open(struct mp_fake_session *s)
{
  s->proto = calloc(1, sizeof(struct imap));
  return s->proto ? 0 : MP_E_NO_RESOURCES;
}

static void imap_close(struct mp_fake_session *s)
{
  struct imap *m = s->proto;
  cmd_reset(m);
  end_sasl(m);
  view_clear(m);
  free(m->user);
  free(m);
  s->proto = NULL;
}

static void imap_greeting(struct mp_fake_session *s, int replaced,
                          struct mp_fake_answer *a)
{
  const struct mp_fake_config *cfg = s->srv->cfg;
  if (replaced)
    return;
  /* RFC 9051 7.1.1: capabilities in the greeting save a round trip. */
  if (mp_fake_in_list(cfg->withhold, cfg->nwithhold,
                      "CAPABILITY-IN-GREETING")) {
    mp_fake_answer_line(a, "* OK %s IMAP ready", mp_fake_hostname(s->srv));
    return;
  }
  char caps[2048];
  capabilities(s, caps, sizeof(caps));
  mp_fake_answer_line(a, "* OK [CAPABILITY %s] %s IMAP ready", caps,
                      mp_fake_hostname(s->srv));
}

static enum mp_fake_kind imap_classify(struct mp_fake_session *s,
                                       const char *line, size_t len,
                                       const char **verb, size_t *verb_len)
{
  struct imap *m = s->proto;
  uint64_t size;
  int sync;
  switch (m->mode) {
  case MODE_SASL:
  case MODE_IDLE:
    return MP_KIND_INPUT;
  case MODE_LITERAL:
  case MODE_COMMAND:
  default:
    break;
  }
  /* A line that announces a literal is not the whole command yet. */
  if (line_literal(line, len, &size, &sync))
    return MP_KIND_HEADER;
  const char *text = m->mode == MODE_LITERAL ? m->text : line;
  size_t text_len = m->mode == MODE_LITERAL ? m->text_len : len;
  size_t tl;
  if (split_tag(text, text_len, &tl, verb, verb_len) < 0) {
    *verb = text;
    *verb_len = 0;
  }
  return MP_KIND_COMMAND;
}

static void imap_line(struct mp_fake_session *s, char *line, size_t len,
                      enum mp_fake_kind kind, int replaced,
                      struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  if (m->mode == MODE_SASL) {
    sasl_line(s, line, len, replaced, a);
    return;
  }
  if (m->mode == MODE_IDLE) {
    idle_line(s, line, replaced, a);
    return;
  }
  m->commands++;
  if (kind == MP_KIND_HEADER) {
    literal_line(s, line, len, a);
    return;
  }
  const char *text = line;
  size_t text_len = len;
  if (m->mode == MODE_LITERAL) {
    if (len > IMAP_MAX_CMD_LINE || m->total + len > IMAP_MAX_COMMAND ||
        text_append(m, line, len) < 0) {
      cmd_reset(m);
      client_error(s, a, "BAD [TOOBIG] Command too long.");
      return;
    }
    text = m->text;
    text_len = m->text_len;
    m->mode = MODE_COMMAND;
  } else {
    take_tag(m, line, len);
  }
  if (!replaced) {
    if (len > IMAP_MAX_CMD_LINE)
      client_error(s, a, "BAD [TOOBIG] Command line too long.");
    else if (memchr(line, '\0', len))
      client_error(s, a, "BAD Error in IMAP command received by server.");
    else
      run_command(s, text, text_len, a);
  }
  cmd_reset(m);
}

/* RFC 2595 3.1, RFC 9051 6.2.1: after the handshake nothing said before
 * counts. */
static void imap_tls_started(struct mp_fake_session *s)
{
  struct imap *m = s->proto;
  cmd_reset(m);
  end_sasl(m);
  view_clear(m);
  free(m->user);
  m->user = NULL;
  m->mode = MODE_COMMAND;
  set_state(s, IMAP_NOTAUTH);
}

static void imap_timeout(struct mp_fake_session *s, struct mp_fake_answer *a)
{
  mp_fake_answer_line(a, "* BYE Disconnected for inactivity.");
}

/* A rule's reply line: {tag} becomes the tag of the command answered; a
 * "* PREAUTH" greeting logs the session in (RFC 9051 7.1.4) as the first
 * configured user (or the first seeded mailbox's). */
static void imap_rule_line(struct mp_fake_session *s, const char *line,
                           struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  const struct mp_fake_config *cfg = s->srv->cfg;
  if (m->commands == 0 && m->state == IMAP_NOTAUTH &&
      strncasecmp(line, "* PREAUTH", 9) == 0 &&
      (line[9] == ' ' || line[9] == '\0')) {
    const char *user = cfg->nusers       ? cfg->users[0].name
                       : cfg->nmailboxes ? cfg->mailboxes[0].user
                                         : NULL;
    logged_in(s, user);
  }
  const char *tag = m->tag[0] ? m->tag : "*";
  size_t tl = strlen(tag);
  struct mp_fake_answer out = {0};
  const char *p = line;
  for (;;) {
    const char *hit = strstr(p, "{tag}");
    if (!hit) {
      mp_fake_answer_add(&out, p, strlen(p));
      break;
    }
    mp_fake_answer_add(&out, p, (size_t)(hit - p));
    mp_fake_answer_add(&out, tag, tl);
    p = hit + 5;
  }
  mp_fake_answer_line(a, "%s", out.buf ? out.buf : "");
  if (out.oom)
    a->oom = 1;
  mp_fake_answer_free(&out);
}

const struct mp_fake_protocol mp_fake_imap_proto = {
    .name = "imap",
    .max_line = IMAP_MAX_LINE,
    .open = imap_open,
    .close = imap_close,
    .greeting = imap_greeting,
    .classify = imap_classify,
    .line = imap_line,
    .raw = imap_raw,
    .tls_started = imap_tls_started,
    .timeout = imap_timeout,
    .rule_line = imap_rule_line,
};
