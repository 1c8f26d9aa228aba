/* The fake IMAP server: the IMAP4rev1 subset (RFC 3501, RFC 9051) that
 * real clients (curl, Python's imaplib) and our probe use, in nginx's
 * shape: a switch on the session's mode and state, then on the command,
 * with caps on lines, literals, arguments and errors. It builds answers
 * and effects (session.h); the script decides when and how they go out.
 *
 * Extensions: STARTTLS and LOGINDISABLED (RFC 2595, RFC 9051 6.2.1),
 * SASL-IR (RFC 4959), LITERAL- (RFC 7888: non-synchronizing literals
 * up to 4096 octets; we take them up to 64 KiB), UIDPLUS's UID EXPUNGE
 * and APPENDUID (RFC 4315 2.1, 3), IDLE (RFC 2177), UNSELECT (RFC 3691),
 * NAMESPACE (RFC 2342), ID (RFC 2971), ENABLE (RFC 5161), response codes
 * of RFC 5530. One mailbox, INBOX, over the shared mail store: the store's
 * message ids are the UIDs.
 *
 * APPEND (RFC 9051 6.3.12, imap_append.c) stores a message in the user's INBOX
 * with its system flags and date-time, answers OK [APPENDUID v uid], and a
 * selected INBOX hears EXISTS through view_refresh, as for any new delivery.
 * Once logged in, APPEND's literals may be up to 10 MiB (the fake SMTP server's
 * 552 limit); a larger synchronizing one gets NO [TOOBIG] before it is sent, a
 * larger non-synchronizing one BAD [TOOBIG] and BYE. Other mailboxes get NO
 * [TRYCREATE], as do COPY and MOVE to them (to INBOX, the selected mailbox,
 * they are NO [CANNOT]); CREATE, DELETE and RENAME stay NO [CANNOT].
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

#include "fake_servers/imap_internal.h"

static const char *const state_names[] = {
    [IMAP_NOTAUTH] = "not-authenticated",
    [IMAP_AUTH] = "authenticated",
    [IMAP_SELECTED] = "selected",
    [IMAP_LOGOUT] = "logout",
};

/* ---- answers ------------------------------------------------------------ */

/* The tag of the command being answered, "*" before the first. */
static const char *imap_tag(const struct mp_fake_session *s)
{
  const struct imap *m = s->proto;
  return m->tag[0] ? m->tag : "*";
}

void fi_tagged(struct mp_fake_session *s, struct mp_fake_answer *a,
               const char *fmt, ...)
{
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  mp_fake_reply(s, a, buf);
}

/* The error cap (the protocol table) ends the session with Dovecot's
 * "Too many invalid IMAP commands" BYE after the error's own reply. */
void fi_client_error(struct mp_fake_session *s, struct mp_fake_answer *a,
                     const char *fmt, ...)
{
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  mp_fake_client_error(s, a, buf);
}

/* A string as an IMAP quoted string, or a literal when it cannot be one
 * (RFC 9051 4.3); NULL is NIL. */
void fi_put_nstring(struct mp_fake_answer *a, const char *str, size_t len)
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

void fi_put_str(struct mp_fake_answer *a, const char *str)
{
  mp_fake_answer_add(a, str, strlen(str));
}

void fi_put_fmt(struct mp_fake_answer *a, const char *fmt, ...)
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

struct mp_mailstore *fi_store(const struct mp_fake_session *s)
{
  return s->srv->env.store;
}

const struct mp_mail *fi_mail_at(const struct mp_fake_session *s, size_t i)
{
  const struct imap *m = s->proto;
  if (!fi_store(s) || !m->user || i >= m->nuids)
    return NULL;
  return mp_mailstore_get(fi_store(s), m->user, m->uids[i]);
}

static void view_clear(struct imap *m)
{
  free(m->uids);
  m->uids = NULL;
  m->nuids = 0;
  m->top_uid = 0;
}

/* The visible messages now (empty when the fi_store has no such user). */
static void store_list(const struct mp_fake_session *s, uint64_t **ids,
                       size_t *n)
{
  const struct imap *m = s->proto;
  *ids = NULL;
  *n = 0;
  if (fi_store(s) && m->user)
    mp_mailstore_list(fi_store(s), m->user, mp_now_us(), ids, n);
}

/* Removes sequence number i (0-based) from the view. */
static void view_remove(struct imap *m, size_t i)
{
  memmove(m->uids + i, m->uids + i + 1, (m->nuids - i - 1) * sizeof(*m->uids));
  m->nuids--;
}

/* Tells the client (a; NULL: nobody) what changed in the fi_store since it
 * last looked
 * (RFC 9051 7.4.1, 7.3.1): messages another session expunged, highest
 * sequence number first so the others keep theirs, then new arrivals.
 * A delayed message whose UID is below one already shown stays hidden
 * from this selection (UIDs only grow, RFC 9051 2.3.1.1); a new session
 * sees it. */
void fi_view_refresh(struct mp_fake_session *s, struct mp_fake_answer *a,
                     int expunges)
{
  struct imap *m = s->proto;
  uint64_t *ids;
  size_t n;
  store_list(s, &ids, &n);
  if (expunges) {
    for (size_t i = m->nuids; i-- > 0;) {
      if (fi_mail_at(s, i))
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

void fi_flag_list(unsigned flags, char *buf, size_t cap)
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

unsigned fi_flag_from_name(const char *name)
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

/* ---- STORE (RFC 9051 6.4.6) ------------------------------------------- */

static void cmd_store(struct mp_fake_session *s, struct mp_fake_args *g,
                      struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  struct set *set = malloc(sizeof(*set));
  char item[32];
  const char *cmd = g->uid ? "UID STORE" : "STORE";
  if (!set) {
    fi_tagged(s, a, "NO [SERVERBUG] Out of memory");
    return;
  }
  if (fi_arg_sp(g) < 0 || fi_parse_msgset(s, g, set) < 0) {
    fi_client_error(s, a, "BAD Error in IMAP command %s: Invalid messageset",
                    cmd);
    free(set);
    return;
  }
  int mode = 0, silent = 0; /* mode: 0 replace, 1 add, -1 remove */
  if (fi_arg_sp(g) < 0 || fi_arg_atom(g, item, sizeof(item), 0, NULL) < 0) {
    fi_client_error(s, a, "BAD Error in IMAP command %s: Invalid arguments",
                    cmd);
    free(set);
    return;
  }
  const char *it = item;
  if (*it == '+' || *it == '-')
    mode = *it++ == '+' ? 1 : -1;
  if (strcasecmp(it, "FLAGS.SILENT") == 0)
    silent = 1;
  else if (strcasecmp(it, "FLAGS") != 0) {
    fi_client_error(s, a, "BAD Error in IMAP command %s: Invalid item %s", cmd,
                    item);
    free(set);
    return;
  }
  /* flag-list, or flags without parentheses (RFC 9051 9: fi_store-att-flags).
   */
  unsigned flags = 0;
  int bad = fi_arg_sp(g) < 0;
  int paren = !bad && fi_arg_char(g, '(') == 0;
  while (!bad && !fi_at_end(g) && !(paren && *g->p == ')')) {
    char flag[128];
    int bs = fi_arg_char(g, '\\') == 0;
    if (fi_arg_atom(g, flag + bs, sizeof(flag) - 1, 0, NULL) < 0) {
      bad = 1;
      break;
    }
    if (bs) {
      flag[0] = '\\';
      unsigned bit = fi_flag_from_name(flag);
      if (!bit) { /* \Recent cannot be stored; unknown system flags */
        bad = 1;
        break;
      }
      flags |= bit;
    } /* keywords: accepted, not kept (no \* in PERMANENTFLAGS) */
    if (fi_at_end(g) || (paren && *g->p == ')'))
      break;
    if (fi_arg_sp(g) < 0)
      bad = 1;
  }
  if (!bad && paren && fi_arg_char(g, ')') < 0)
    bad = 1;
  if (bad || !fi_at_end(g)) {
    fi_client_error(s, a, "BAD Error in IMAP command %s: Invalid flags", cmd);
    free(set);
    return;
  }
  if (m->read_only) {
    fi_tagged(s, a, "NO [READ-ONLY] Mailbox is read-only");
    free(set);
    return;
  }
  for (size_t i = 0; i < m->nuids; i++) {
    if (!fi_msg_in(m, set, i, g->uid) || !fi_mail_at(s, i))
      continue;
    unsigned on = mode >= 0 ? flags : 0;
    unsigned off = mode < 0 ? flags
                   : mode == 0
                       ? (MP_MAIL_SEEN | MP_MAIL_ANSWERED | MP_MAIL_FLAGGED |
                          MP_MAIL_DELETED | MP_MAIL_DRAFT) &
                             ~flags
                       : 0;
    mp_mailstore_set_flags(fi_store(s), m->user, m->uids[i], on, off);
    const struct mp_mail *mail = fi_mail_at(s, i);
    if (silent || !mail)
      continue;
    char fl[128];
    fi_flag_list(mail->flags, fl, sizeof(fl));
    if (g->uid)
      mp_fake_answer_line(a, "* %zu FETCH (UID %llu FLAGS (%s))", i + 1,
                          (unsigned long long)m->uids[i], fl);
    else
      mp_fake_answer_line(a, "* %zu FETCH (FLAGS (%s))", i + 1, fl);
  }
  free(set);
  fi_tagged(s, a, "OK %s completed", cmd);
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
    const struct mp_mail *mail = fi_mail_at(s, i);
    if (mail && (!(mail->flags & MP_MAIL_DELETED) ||
                 (set && !fi_set_has(set, m->uids[i]))))
      continue;
    if (mail)
      mp_mailstore_remove(fi_store(s), m->user, m->uids[i]);
    if (!quiet)
      mp_fake_answer_line(a, "* %zu EXPUNGE", i + 1);
    view_remove(m, i);
  }
}

static void cmd_expunge(struct mp_fake_session *s, struct mp_fake_args *g,
                        struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  struct set *set = NULL;
  if (g->uid) {
    set = malloc(sizeof(*set));
    if (!set) {
      fi_tagged(s, a, "NO [SERVERBUG] Out of memory");
      return;
    }
    if (fi_arg_sp(g) < 0 || fi_parse_msgset(s, g, set) < 0 || !fi_at_end(g)) {
      free(set);
      fi_client_error(s, a,
                      "BAD Error in IMAP command UID EXPUNGE: Invalid "
                      "messageset");
      return;
    }
  } else if (!fi_at_end(g)) {
    fi_client_error(s, a,
                    "BAD Error in IMAP command EXPUNGE: Unexpected "
                    "arguments");
    return;
  }
  if (m->read_only) {
    free(set);
    fi_tagged(s, a, "NO [READ-ONLY] Mailbox is read-only");
    return;
  }
  expunge(s, set, 0, a);
  free(set);
  fi_tagged(s, a, "OK %sExpunge completed", g->uid ? "UID " : "");
}

/* ---- mailboxes -------------------------------------------------------- */

int fi_is_inbox(const char *name)
{
  return strcasecmp(name, "INBOX") == 0;
}

/* SELECT and EXAMINE (variant 1). */
static void cmd_select(struct mp_fake_session *s, struct mp_fake_args *g,
                       struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  int examine = g->cmd->variant;
  char *name = NULL;
  if (fi_arg_sp(g) < 0 || fi_arg_astring(g, &name) < 0 || !fi_at_end(g)) {
    free(name);
    fi_client_error(s, a, "BAD Error in IMAP command %s: Invalid arguments",
                    examine ? "EXAMINE" : "SELECT");
    return;
  }
  /* RFC 9051 6.3.2: a failed SELECT leaves no mailbox selected. */
  view_clear(m);
  mp_fake_set_state(s, IMAP_AUTH);
  if (!fi_is_inbox(name)) {
    fi_tagged(s, a,
              "NO [NONEXISTENT] Mailbox doesn't exist (only INBOX "
              "does)");
    free(name);
    return;
  }
  free(name);
  m->read_only = examine;
  size_t unseen = 0;
  fi_view_refresh(s, NULL, 0);
  mp_fake_answer_line(a, "* FLAGS (" IMAP_FLAGS ")");
  if (examine)
    mp_fake_answer_line(a, "* OK [PERMANENTFLAGS ()] Read-only mailbox.");
  else
    mp_fake_answer_line(a, "* OK [PERMANENTFLAGS (" IMAP_FLAGS
                           ")] Flags permitted.");
  mp_fake_answer_line(a, "* %zu EXISTS", m->nuids);
  mp_fake_answer_line(a, "* 0 RECENT");
  for (size_t i = 0; i < m->nuids && !unseen; i++) {
    const struct mp_mail *mail = fi_mail_at(s, i);
    if (mail && !(mail->flags & MP_MAIL_SEEN))
      unseen = i + 1;
  }
  if (unseen)
    mp_fake_answer_line(a, "* OK [UNSEEN %zu] First unseen.", unseen);
  uint32_t validity = fi_store(s) ? mp_mailstore_validity(fi_store(s)) : 1;
  uint64_t next = fi_store(s) ? mp_mailstore_next_id(fi_store(s)) : 1;
  mp_fake_answer_line(a, "* OK [UIDVALIDITY %u] UIDs valid", validity);
  mp_fake_answer_line(a, "* OK [UIDNEXT %llu] Predicted next UID",
                      (unsigned long long)next);
  mp_fake_set_state(s, IMAP_SELECTED);
  fi_tagged(s, a, "OK [%s] %s completed", examine ? "READ-ONLY" : "READ-WRITE",
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

/* LIST and LSUB. */
static void cmd_list(struct mp_fake_session *s, struct mp_fake_args *g,
                     struct mp_fake_answer *a)
{
  const char *verb = g->cmd->name;
  char *ref = NULL, *pat = NULL;
  size_t rl, pl;
  if (fi_arg_sp(g) < 0 || fi_arg_string(g, 0, &ref, &rl) < 0 ||
      fi_arg_sp(g) < 0 || fi_arg_string(g, 1, &pat, &pl) < 0 || !fi_at_end(g)) {
    free(ref);
    free(pat);
    fi_client_error(s, a, "BAD Error in IMAP command %s: Invalid arguments",
                    verb);
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
  fi_tagged(s, a, "OK %s completed", verb);
}

static void cmd_status(struct mp_fake_session *s, struct mp_fake_args *g,
                       struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  char *name = NULL;
  if (fi_arg_sp(g) < 0 || fi_arg_astring(g, &name) < 0 || fi_arg_sp(g) < 0 ||
      fi_arg_char(g, '(') < 0) {
    free(name);
    fi_client_error(s, a,
                    "BAD Error in IMAP command STATUS: Invalid arguments");
    return;
  }
  if (!fi_is_inbox(name)) {
    free(name);
    fi_tagged(s, a, "NO [NONEXISTENT] Mailbox doesn't exist");
    return;
  }
  free(name);
  uint64_t *ids;
  size_t n;
  store_list(s, &ids, &n);
  size_t unseen = 0, deleted = 0;
  uint64_t size = 0;
  for (size_t i = 0; i < n; i++) {
    const struct mp_mail *mail = mp_mailstore_get(fi_store(s), m->user, ids[i]);
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
    if (fi_arg_atom(g, item, sizeof(item), 0, NULL) < 0)
      break;
    if (strcasecmp(item, "MESSAGES") == 0)
      v = n;
    else if (strcasecmp(item, "RECENT") == 0)
      v = 0;
    else if (strcasecmp(item, "UIDNEXT") == 0)
      v = fi_store(s) ? mp_mailstore_next_id(fi_store(s)) : 1;
    else if (strcasecmp(item, "UIDVALIDITY") == 0)
      v = fi_store(s) ? mp_mailstore_validity(fi_store(s)) : 1;
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
    if (fi_arg_char(g, ')') == 0) {
      if (!fi_at_end(g))
        break;
      mp_fake_answer_line(a, "* STATUS INBOX (%s)", out);
      fi_tagged(s, a, "OK Status completed");
      return;
    }
    if (fi_arg_sp(g) < 0)
      break;
  }
  fi_client_error(s, a,
                  "BAD Error in IMAP command STATUS: Invalid status item");
}

/* ---- login ------------------------------------------------------------ */

static void logged_in(struct mp_fake_session *s, const char *user)
{
  struct imap *m = s->proto;
  free(m->user);
  m->user = strdup(user ? user : "");
  mp_fake_set_state(s, IMAP_AUTH);
}

static void cmd_login(struct mp_fake_session *s, struct mp_fake_args *g,
                      struct mp_fake_answer *a)
{
  char *user = NULL, *pass = NULL;
  if (fi_arg_sp(g) < 0 || fi_arg_astring(g, &user) < 0 || fi_arg_sp(g) < 0 ||
      fi_arg_astring(g, &pass) < 0 || !fi_at_end(g)) {
    free(user);
    free(pass);
    fi_client_error(s, a, "BAD Error in IMAP command LOGIN: Invalid arguments");
    return;
  }
  if (login_disabled(s)) {
    /* RFC 9051 6.2.3, RFC 5530 3: PRIVACYREQUIRED. */
    fi_tagged(s, a,
              "NO [PRIVACYREQUIRED] Plaintext authentication disallowed "
              "on non-secure (SSL/TLS) connections.");
  } else {
    const char *want = mp_fake_password(s, user);
    if (want && strcmp(want, pass) == 0) {
      logged_in(s, user);
      fi_tagged(s, a, "OK Logged in");
    } else {
      /* RFC 5530 3: AUTHENTICATIONFAILED. */
      fi_tagged(s, a, "NO [AUTHENTICATIONFAILED] Authentication failed.");
    }
  }
  free(user);
  /* The password is not kept. */
  memset(pass, 0, strlen(pass));
  free(pass);
}

static void imap_logged_in(struct mp_fake_session *s, const char *user,
                           struct mp_fake_answer *a)
{
  logged_in(s, user);
  fi_tagged(s, a, "OK Logged in");
}

/* RFC 9051 6.2.2: "+ " and the challenge; "*" cancels, and the server
 * answers BAD. Wrong credentials are NO, not a client error. */
static const struct mp_fake_sasl_frame imap_sasl = {
    .cont = "+ ",
    .exchange_state = -1,
    .idle_state = -1,
    .nul_fails = 1,
    .unsupported = "NO [CANNOT] Unsupported authentication mechanism.",
    .cancelled = "BAD Authentication aborted by client.",
    /* RFC 5530 3: AUTHENTICATIONFAILED. */
    .failed = "NO [AUTHENTICATIONFAILED] Authentication failed.",
    .undecodable = "BAD Invalid SASL response",
    .too_long = "BAD Invalid SASL response",
    .temporary = "NO [UNAVAILABLE] Temporary authentication failure.",
    .logged_in = imap_logged_in,
};

static void cmd_authenticate(struct mp_fake_session *s, struct mp_fake_args *g,
                             struct mp_fake_answer *a)
{
  char mech[64];
  char *ir = NULL;
  size_t irl = 0;
  if (fi_arg_sp(g) < 0 || fi_arg_atom(g, mech, sizeof(mech), 0, NULL) < 0) {
    fi_client_error(s, a,
                    "BAD Error in IMAP command AUTHENTICATE: Invalid "
                    "arguments");
    return;
  }
  /* RFC 4959: SASL-IR, the initial response ("=" for an empty one). */
  if (!fi_at_end(g) && (fi_arg_sp(g) < 0 ||
                        fi_arg_string(g, 0, &ir, &irl) < 0 || !fi_at_end(g))) {
    free(ir);
    fi_client_error(s, a,
                    "BAD Error in IMAP command AUTHENTICATE: Invalid "
                    "arguments");
    return;
  }
  if (login_disabled(s))
    fi_tagged(s, a,
              "NO [PRIVACYREQUIRED] Authentication disallowed on "
              "non-secure (SSL/TLS) connections.");
  else
    mp_fake_sasl_start(s, mech, ir, a);
  free(ir);
}

/* ---- the simple commands ---------------------------------------------- */

static void cmd_capability(struct mp_fake_session *s, struct mp_fake_args *g,
                           struct mp_fake_answer *a)
{
  char caps[2048];
  if (!fi_at_end(g)) {
    fi_client_error(s, a,
                    "BAD Error in IMAP command CAPABILITY: Unexpected "
                    "arguments");
    return;
  }
  capabilities(s, caps, sizeof(caps));
  mp_fake_answer_line(a, "* CAPABILITY %s", caps);
  fi_tagged(s, a, "OK Capability completed.");
}

/* NOOP and CHECK (RFC 9051 6.1.2; CHECK is RFC 3501 6.4.1): what
 * changed. */
static void cmd_refresh(struct mp_fake_session *s, struct mp_fake_args *g,
                        struct mp_fake_answer *a)
{
  const char *verb = g->cmd->name;
  if (!fi_at_end(g)) {
    fi_client_error(s, a, "BAD Error in IMAP command %s: Unexpected arguments",
                    verb);
    return;
  }
  if (s->state == IMAP_SELECTED)
    fi_view_refresh(s, a, 1);
  fi_tagged(s, a, "OK %s completed", verb);
}

static void cmd_logout(struct mp_fake_session *s, struct mp_fake_args *g,
                       struct mp_fake_answer *a)
{
  /* RFC 9051 6.1.3: BYE, then the fi_tagged OK, then the server closes. */
  mp_fake_answer_line(a, "* BYE Logging out");
  fi_tagged(s, a, "OK Logout completed.");
  mp_fake_set_state(s, IMAP_LOGOUT);
  a->effect = MP_FX_CLOSE;
}

static void cmd_starttls(struct mp_fake_session *s, struct mp_fake_args *g,
                         struct mp_fake_answer *a)
{
  if (!fi_at_end(g)) {
    fi_client_error(s, a,
                    "BAD Error in IMAP command STARTTLS: Unexpected "
                    "arguments");
  } else if (s->in_tls) {
    fi_client_error(s, a, "BAD TLS is already active.");
  } else if (s->srv->cfg->tls != MP_FAKE_TLS_STARTTLS || !s->srv->tls_ctx) {
    fi_client_error(s, a, "BAD STARTTLS is not available.");
  } else {
    /* RFC 9051 6.2.1: the handshake starts after the fi_tagged OK. */
    fi_tagged(s, a, "OK Begin TLS negotiation now.");
    a->effect = MP_FX_STARTTLS;
  }
}

/* CLOSE and UNSELECT (variant 1). */
static void cmd_close(struct mp_fake_session *s, struct mp_fake_args *g,
                      struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  int unselect = g->cmd->variant;
  if (!fi_at_end(g)) {
    fi_client_error(s, a, "BAD Error in IMAP command %s: Unexpected arguments",
                    unselect ? "UNSELECT" : "CLOSE");
    return;
  }
  /* RFC 9051 6.4.1: CLOSE expunges silently, unless read-only. */
  if (!unselect && !m->read_only)
    expunge(s, NULL, 1, a);
  view_clear(m);
  mp_fake_set_state(s, IMAP_AUTH);
  fi_tagged(s, a, "OK %s completed", unselect ? "Unselect" : "Close");
}

static void cmd_idle(struct mp_fake_session *s, struct mp_fake_args *g,
                     struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  if (!fi_at_end(g)) {
    fi_client_error(s, a,
                    "BAD Error in IMAP command IDLE: Unexpected "
                    "arguments");
    return;
  }
  /* RFC 2177 3. */
  if (s->state == IMAP_SELECTED)
    fi_view_refresh(s, a, 1);
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
    fi_client_error(s, a, "BAD Expected DONE.");
    return;
  }
  if (s->state == IMAP_SELECTED)
    fi_view_refresh(s, a, 1);
  fi_tagged(s, a, "OK Idle completed.");
}

static void cmd_namespace(struct mp_fake_session *s, struct mp_fake_args *g,
                          struct mp_fake_answer *a)
{
  /* RFC 2342 5: one personal namespace, no others. */
  mp_fake_answer_line(a, "* NAMESPACE ((\"\" \"/\")) NIL NIL");
  fi_tagged(s, a, "OK Namespace completed");
}

static void cmd_enable(struct mp_fake_session *s, struct mp_fake_args *g,
                       struct mp_fake_answer *a)
{
  if (fi_at_end(g)) {
    fi_client_error(s, a,
                    "BAD Error in IMAP command ENABLE: Missing arguments");
    return;
  }
  /* RFC 5161 3.1: nothing here can be enabled. */
  mp_fake_answer_line(a, "* ENABLED");
  fi_tagged(s, a, "OK Enabled");
}

static void cmd_id(struct mp_fake_session *s, struct mp_fake_args *g,
                   struct mp_fake_answer *a)
{
  /* RFC 2971 3.1. */
  mp_fake_answer_line(a, "* ID (\"name\" \"mailprobe-fake\")");
  fi_tagged(s, a, "OK ID completed");
}

static void cmd_unsupported(struct mp_fake_session *s, struct mp_fake_args *g,
                            struct mp_fake_answer *a)
{
  fi_tagged(s, a,
            "NO [CANNOT] Not supported by this server: only INBOX exists");
}

static void cmd_uid(struct mp_fake_session *s, struct mp_fake_args *g,
                    struct mp_fake_answer *a);

/* The commands, in the order the case format lists them, with the states
 * they are valid in (RFC 9051 6). */
static const struct mp_fake_command commands[] = {
    {"CAPABILITY", S_ANY, cmd_capability, 0},
    {"NOOP", S_ANY, cmd_refresh, 0},
    {"LOGOUT", S_ANY, cmd_logout, 0},
    {"STARTTLS", S_NA, cmd_starttls, 0},
    {"AUTHENTICATE", S_NA, cmd_authenticate, 0},
    {"LOGIN", S_NA, cmd_login, 0},
    {"ENABLE", S_AU | S_SE, cmd_enable, 0},
    {"ID", S_ANY, cmd_id, 0},
    {"NAMESPACE", S_AU | S_SE, cmd_namespace, 0},
    {"SELECT", S_AU | S_SE, cmd_select, 0},
    {"EXAMINE", S_AU | S_SE, cmd_select, 1},
    {"CREATE", S_AU | S_SE, cmd_unsupported, 0},
    {"DELETE", S_AU | S_SE, cmd_unsupported, 0},
    {"RENAME", S_AU | S_SE, cmd_unsupported, 0},
    {"SUBSCRIBE", S_AU | S_SE, cmd_unsupported, 0},
    {"UNSUBSCRIBE", S_AU | S_SE, cmd_unsupported, 0},
    {"LIST", S_AU | S_SE, cmd_list, 0},
    {"LSUB", S_AU | S_SE, cmd_list, 0},
    {"STATUS", S_AU | S_SE, cmd_status, 0},
    {"APPEND", S_AU | S_SE, fi_cmd_append, 0},
    {"CHECK", S_SE, cmd_refresh, 0},
    {"CLOSE", S_SE, cmd_close, 0},
    {"UNSELECT", S_SE, cmd_close, 1},
    {"EXPUNGE", S_SE, cmd_expunge, 0},
    {"SEARCH", S_SE, fi_cmd_search, 0},
    {"FETCH", S_SE, fi_cmd_fetch, 0},
    {"STORE", S_SE, cmd_store, 0},
    {"COPY", S_SE, fi_cmd_copy, 0},
    {"MOVE", S_SE, fi_cmd_move, 0},
    {"UID", S_SE, cmd_uid, 0},
    {"IDLE", S_AU | S_SE, cmd_idle, 0},
};

/* RFC 9051 6.4.9: what UID may run. */
static const struct mp_fake_command uid_commands[] = {
    {"FETCH", S_SE, fi_cmd_fetch, 0}, {"SEARCH", S_SE, fi_cmd_search, 0},
    {"STORE", S_SE, cmd_store, 0},    {"EXPUNGE", S_SE, cmd_expunge, 0},
    {"COPY", S_SE, fi_cmd_copy, 0},   {"MOVE", S_SE, fi_cmd_move, 0},
};

/* RFC 9051 6.4.9: UID COPY, MOVE, FETCH, SEARCH, STORE, EXPUNGE. */
static void cmd_uid(struct mp_fake_session *s, struct mp_fake_args *g,
                    struct mp_fake_answer *a)
{
  char sub[16];
  if (fi_arg_sp(g) < 0 || fi_arg_atom(g, sub, sizeof(sub), 0, NULL) < 0) {
    fi_client_error(s, a, "BAD Error in IMAP command UID: Missing command");
    return;
  }
  const struct mp_fake_command *c = mp_fake_command_find(
      uid_commands, sizeof(uid_commands) / sizeof(*uid_commands), sub,
      strlen(sub));
  if (!c) {
    fi_client_error(s, a, "BAD Error in IMAP command UID: Unknown command %s",
                    sub);
    return;
  }
  g->uid = 1;
  c->fn(s, g, a);
}

/* ---- commands ------------------------------------------------------- */

/* The tag (RFC 9051 9: tag = 1*<any ASTRING-CHAR except "+">) and the
 * verb's extent; -1 when there is no valid tag. */
static int split_tag(const char *text, size_t len, size_t *tag_len,
                     const char **verb, size_t *verb_len)
{
  size_t t = 0;
  while (t < len && fi_atom_char((unsigned char)text[t], 1) && text[t] != '+')
    t++;
  if (t == 0 || t > IMAP_MAX_TAG || (t < len && text[t] != ' '))
    return -1;
  *tag_len = t;
  *verb = text + (t < len ? t + 1 : t);
  size_t v = 0;
  while (*verb + v < text + len && fi_atom_char((unsigned char)(*verb)[v], 0))
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
    fi_client_error(s, a, "BAD Error in IMAP command received by server.");
    return;
  }
  memcpy(m->tag, text, tl);
  m->tag[tl] = '\0';
  if (vl == 0) {
    fi_client_error(s, a, "BAD Error in IMAP command: Missing command.");
    return;
  }
  const struct mp_fake_command *c = mp_fake_command_find(
      commands, sizeof(commands) / sizeof(*commands), verb, vl);
  if (!c) {
    fi_client_error(s, a, "BAD Error in IMAP command %.*s: Unknown command.",
                    (int)(vl > 64 ? 64 : vl), verb);
    return;
  }
  struct mp_fake_args g = {
      .p = verb + vl, .end = text + len, .lits = m->lits, .nlits = m->nlits};
  mp_fake_dispatch(s, c, &g, a);
}

/* A command not valid in the session's state; after LOGOUT nothing is
 * answered. */
static void imap_not_now(struct mp_fake_session *s,
                         const struct mp_fake_command *c,
                         struct mp_fake_answer *a)
{
  if (s->state == IMAP_LOGOUT)
    return;
  if (s->state == IMAP_NOTAUTH)
    fi_client_error(s, a, "NO [CLIENTBUG] %s needs a login first.", c->name);
  else if (c->states == S_NA)
    fi_client_error(s, a, "NO [CLIENTBUG] %s is not valid: already logged in.",
                    c->name);
  else
    fi_client_error(s, a, "NO [CLIENTBUG] %s needs a selected mailbox.",
                    c->name);
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
  m->append = 0;
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

/* Is the command on this first line APPEND? Its message literal may be
 * as large as a message the fake SMTP server takes (IMAP_MAX_APPEND);
 * every other command keeps IMAP_MAX_LITERAL. */
static int is_append(const char *line, size_t len)
{
  size_t tl, vl;
  const char *verb;
  return split_tag(line, len, &tl, &verb, &vl) == 0 && vl == 6 &&
         strncasecmp(verb, "APPEND", 6) == 0;
}

/* The most a whole command may hold, literals included. */
static size_t command_cap(const struct imap *m)
{
  return m->append ? IMAP_MAX_COMMAND + IMAP_MAX_APPEND : IMAP_MAX_COMMAND;
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
    /* Not before a login: that command fails anyway. */
    m->append = s->state != IMAP_NOTAUTH && is_append(line, len);
  }
  int too_big = size > (m->append ? IMAP_MAX_APPEND : IMAP_MAX_LITERAL) ||
                m->nlits == IMAP_MAX_LITERALS || len > IMAP_MAX_CMD_LINE ||
                m->total + len + size > command_cap(m);
  if (too_big && !sync) {
    /* RFC 7888 4 (LITERAL-): a non-synchronizing literal past what we
     * take is the client's error, BAD; the bytes are coming whatever we
     * say and we will not read them, so the session ends. */
    fi_tagged(s, a, "BAD [TOOBIG] Literal too big.");
    mp_fake_answer_line(a, "* BYE [TOOBIG] Literal too big.");
    a->effect = MP_FX_CLOSE;
    mp_fake_set_state(s, IMAP_LOGOUT);
    cmd_reset(m);
    return;
  }
  if (too_big) {
    /* RFC 9051 7.1: a synchronizing literal may be refused; the client
     * then sends nothing more of the command. */
    cmd_reset(m);
    fi_client_error(s, a, "NO [TOOBIG] Literal too big.");
    return;
  }
  if (text_append(m, line, len) < 0) {
    cmd_reset(m);
    a->oom = 1;
    return;
  }
  struct mp_fake_literal *l = &m->lits[m->nlits++];
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
  struct mp_fake_literal *l = &m->lits[m->nlits - 1];
  size_t n = len < l->want - l->len ? len : l->want - l->len;
  memcpy(l->buf + l->len, buf, n);
  l->len += n;
  l->buf[l->len] = '\0';
}

/* ---- the protocol table --------------------------------------------- */

static void imap_close(struct mp_fake_session *s)
{
  struct imap *m = s->proto;
  cmd_reset(m);
  view_clear(m);
  free(m->user);
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
  if (s->sasl)
    return MP_KIND_INPUT; /* a SASL response */
  switch (m->mode) {
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
  if (s->sasl) {
    mp_fake_sasl_line(s, line, len, replaced, a);
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
    if (len > IMAP_MAX_CMD_LINE || m->total + len > command_cap(m) ||
        text_append(m, line, len) < 0) {
      cmd_reset(m);
      fi_client_error(s, a, "BAD [TOOBIG] Command too long.");
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
      fi_client_error(s, a, "BAD [TOOBIG] Command line too long.");
    else if (memchr(line, '\0', len))
      fi_client_error(s, a, "BAD Error in IMAP command received by server.");
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
  view_clear(m);
  free(m->user);
  m->user = NULL;
  m->mode = MODE_COMMAND;
  mp_fake_set_state(s, IMAP_NOTAUTH);
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
  if (m->commands == 0 && s->state == IMAP_NOTAUTH &&
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
    .state_names = state_names,
    .commands = commands,
    .ncommands = sizeof(commands) / sizeof(*commands),
    .not_now = imap_not_now,
    .max_errors = IMAP_MAX_ERRORS,
    .too_many = "* BYE Too many invalid IMAP commands.",
    .too_many_after = 1,
    .closed_state = IMAP_LOGOUT,
    .tag = imap_tag,
    .sasl = &imap_sasl,
    .data_size = sizeof(struct imap),
    .close = imap_close,
    .greeting = imap_greeting,
    .classify = imap_classify,
    .line = imap_line,
    .raw = imap_raw,
    .tls_started = imap_tls_started,
    .timeout = imap_timeout,
    .rule_line = imap_rule_line,
};
