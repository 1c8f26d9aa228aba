/* The fake IMAP server's mailbox commands (RFC 9051 6.3, 6.4): the one
 * mailbox, INBOX, over the shared mail store as the selected view of it
 * (sequence numbers to UIDs), SELECT and EXAMINE, LIST and LSUB, STATUS,
 * STORE, EXPUNGE, CLOSE and UNSELECT. The server is fake_servers/imap.c. */
#include "fake_servers/imap_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fake_servers/mailstore.h"
#include "wire/conn.h"

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

void fi_view_clear(struct imap *m)
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

void fi_cmd_store(struct mp_fake_session *s, struct mp_fake_args *g,
                  struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  char item[32];
  const char *cmd = g->uid ? "UID STORE" : "STORE";
  struct set *set = fi_arg_msgset(s, g, cmd, a);
  if (!set)
    return;
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

void fi_cmd_expunge(struct mp_fake_session *s, struct mp_fake_args *g,
                    struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  struct set *set = NULL;
  if (g->uid) {
    if ((set = fi_arg_msgset(s, g, "UID EXPUNGE", a)) == NULL)
      return;
    if (!fi_at_end(g)) {
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

void fi_cmd_select(struct mp_fake_session *s, struct mp_fake_args *g,
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
  fi_view_clear(m);
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
 * but the hierarchy delimiter (there is none below INBOX). One pass over
 * the pattern, keeping which prefixes of the name it can have matched so
 * far: time in pattern length times name length, whatever the wildcards
 * (a backtracking matcher takes exponential time on "*a*a*a...b", which
 * a client may send: found by the fake_imap fuzz target). */
static int list_match(const char *pat, const char *name)
{
  size_t n = strlen(name), i, j;
  unsigned char *at = calloc(n + 1, 1); /* at[j]: name[0..j) matched */
  int hit;

  if (!at)
    return 0;
  at[0] = 1;
  for (; *pat; pat++) {
    if (*pat == '*') {
      for (j = 1; j <= n; j++)
        at[j] |= at[j - 1];
    } else if (*pat == '%') {
      for (j = 1; j <= n; j++)
        at[j] |= at[j - 1] && name[j - 1] != '/';
    } else {
      char a = *pat;
      if (a >= 'a' && a <= 'z')
        a = (char)(a - 32);
      /* Backwards: each at[j] reads the at[j - 1] of the last step. */
      for (i = n; i > 0; i--) {
        char b = name[i - 1];
        if (b >= 'a' && b <= 'z')
          b = (char)(b - 32);
        at[i] = at[i - 1] && a == b;
      }
      at[0] = 0;
    }
  }
  hit = at[n];
  free(at);
  return hit;
}

void fi_cmd_list(struct mp_fake_session *s, struct mp_fake_args *g,
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

void fi_cmd_status(struct mp_fake_session *s, struct mp_fake_args *g,
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

void fi_cmd_close(struct mp_fake_session *s, struct mp_fake_args *g,
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
  fi_view_clear(m);
  mp_fake_set_state(s, IMAP_AUTH);
  fi_tagged(s, a, "OK %s completed", unselect ? "Unselect" : "Close");
}
