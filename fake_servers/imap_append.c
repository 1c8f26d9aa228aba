/* The fake IMAP server's commands that would bring messages into a
 * mailbox: APPEND stores one in INBOX; COPY and MOVE have nowhere to go,
 * INBOX being the only mailbox (imap_internal.h). */
#include "fake_servers/imap_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "fake_servers/mailstore.h"
#include "wire/conn.h"
#include "wire/errors.h"

/* ---- APPEND (RFC 9051 6.3.12, RFC 3501 6.3.11, RFC 4315 3) ------------- */

/* flag-list (RFC 9051 9): "(" [flag *(SP flag)] ")". The system flags
 * become bits; keywords and other "\" flags are accepted and not kept
 * (PERMANENTFLAGS has no \*). 0 or -1 (syntax). */
static int append_flags(struct mp_fake_args *g, unsigned *flags)
{
  *flags = 0;
  if (fi_arg_char(g, '(') < 0)
    return -1;
  if (fi_arg_char(g, ')') == 0)
    return 0;
  for (;;) {
    char flag[128];
    int bs = fi_arg_char(g, '\\') == 0;
    if (fi_arg_atom(g, flag + bs, sizeof(flag) - 1, 0, NULL) < 0)
      return -1;
    if (bs) {
      flag[0] = '\\';
      *flags |= fi_flag_from_name(flag);
    }
    if (fi_arg_char(g, ')') == 0)
      return 0;
    if (fi_arg_sp(g) < 0)
      return -1;
  }
}

/* date-time (RFC 9051 9): "dd-Mon-yyyy hh:mm:ss +zzzz", the day with a
 * leading space or digit. The instant as wall-clock seconds, or -1. */
static int append_date(const char *d, size_t len, time_t *when)
{
  if (len != 26 || (d[0] != ' ' && (d[0] < '0' || d[0] > '9')) || d[2] != '-' ||
      d[6] != '-' || d[11] != ' ' || d[14] != ':' || d[17] != ':' ||
      d[20] != ' ' || (d[21] != '+' && d[21] != '-'))
    return -1;
  static const int digits[] = {1,  7,  8,  9,  10, 12, 13, 15,
                               16, 18, 19, 22, 23, 24, 25};
  for (size_t i = 0; i < sizeof(digits) / sizeof(*digits); i++)
    if (d[digits[i]] < '0' || d[digits[i]] > '9')
      return -1;
#define NUM2(i) ((d[i] - '0') * 10 + (d[(i) + 1] - '0'))
  struct tm tm = {0};
  tm.tm_mday = d[0] == ' ' ? d[1] - '0' : NUM2(0);
  tm.tm_mon = -1;
  for (int i = 0; i < 12; i++)
    if (strncasecmp(d + 3, fi_months[i], 3) == 0)
      tm.tm_mon = i;
  tm.tm_year = NUM2(7) * 100 + NUM2(9) - 1900;
  tm.tm_hour = NUM2(12);
  tm.tm_min = NUM2(15);
  tm.tm_sec = NUM2(18);
  int zone = NUM2(22) * 60 + NUM2(24);
#undef NUM2
  if (tm.tm_mon < 0 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60 || zone % 100 > 59)
    return -1;
  time_t t = timegm(&tm);
  if (t == (time_t)-1)
    return -1;
  *when = t - (d[21] == '+' ? 1 : -1) * (time_t)zone * 60;
  return 0;
}

void fi_cmd_append(struct mp_fake_session *s, struct mp_fake_args *g,
                   struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  char *name = NULL, *date = NULL;
  size_t date_len = 0, lit = 0;
  unsigned flags = 0;
  time_t when = 0;
  int dated = 0;
  if (fi_arg_sp(g) < 0 || fi_arg_astring(g, &name) < 0 || fi_arg_sp(g) < 0)
    goto bad_args;
  if (g->p < g->end && *g->p == '(') {
    if (append_flags(g, &flags) < 0 || fi_arg_sp(g) < 0) {
      free(name);
      fi_client_error(s, a, "BAD Error in IMAP command APPEND: Invalid flags");
      return;
    }
  }
  if (g->p < g->end && *g->p == '"') {
    dated = 1;
    if (fi_arg_quoted(g, &date, &date_len) < 0 ||
        append_date(date, date_len, &when) < 0 || fi_arg_sp(g) < 0) {
      free(name);
      free(date);
      fi_client_error(s, a,
                      "BAD Error in IMAP command APPEND: Invalid date-time");
      return;
    }
    free(date);
  }
  /* The message is a literal (RFC 9051 6.3.12); one message, no
   * MULTIAPPEND (RFC 3502) and no literal8 (RFC 3516). */
  if (fi_arg_literal(g, &lit) < 0 || !fi_at_end(g))
    goto bad_args;
  if (!fi_is_inbox(name)) {
    /* RFC 9051 6.3.12: the mailbox does not exist. */
    free(name);
    fi_tagged(s, a, "NO [TRYCREATE] Mailbox doesn't exist (only INBOX does)");
    return;
  }
  free(name);
  struct mp_fake_literal *l = &m->lits[lit];
  if (l->len == 0) {
    fi_tagged(s, a, "NO Can't save a zero byte message.");
    return;
  }
  if (!fi_store(s) || !m->user) {
    fi_tagged(s, a, "NO [SERVERBUG] No mail store");
    return;
  }
  uint64_t now = mp_now_us(), id = 0;
  int rc = mp_mailstore_deliver_take(fi_store(s), m->user, l->buf, l->len, now,
                                     now, &id);
  if (rc < 0) {
    fi_tagged(s, a, "NO [SERVERBUG] %s",
              rc == MP_E_NO_RESOURCES ? "Out of memory" : "No such mailbox");
    return;
  }
  l->buf = NULL; /* the store owns the bytes */
  if (flags)
    mp_mailstore_set_flags(fi_store(s), m->user, id, flags, 0);
  /* INTERNALDATE: the date-time given, else now (RFC 9051 6.3.12). */
  if (dated)
    mp_mailstore_set_date(fi_store(s), m->user, id, (int64_t)when);
  /* The selected INBOX learns of the new message as of any other
   * (RFC 9051 6.3.12: "* n EXISTS"). */
  if (s->state == IMAP_SELECTED)
    fi_view_refresh(s, a, 1);
  /* RFC 4315 3. */
  fi_tagged(s, a, "OK [APPENDUID %u %llu] APPEND completed",
            mp_mailstore_validity(fi_store(s)), (unsigned long long)id);
  return;
bad_args:
  free(name);
  fi_client_error(s, a, "BAD Error in IMAP command APPEND: Invalid arguments");
}

/* COPY and MOVE (RFC 9051 6.4.7, 6.4.8; RFC 6851): only INBOX exists, and
 * it is the selected mailbox, so there is nowhere to copy to. Another
 * mailbox does not exist: NO [TRYCREATE] (the client may try CREATE, which
 * is NO [CANNOT]); INBOX itself is refused with NO [CANNOT]. A bad set or
 * mailbox is BAD. */
static void copy_or_move(struct mp_fake_session *s, struct mp_fake_args *g,
                         struct mp_fake_answer *a, const char *cmd)
{
  struct set *set = fi_arg_msgset(s, g, cmd, a);
  char *name = NULL;
  if (!set)
    return;
  if (fi_arg_sp(g) < 0 || fi_arg_astring(g, &name) < 0 || !fi_at_end(g)) {
    fi_client_error(s, a, "BAD Error in IMAP command %s: Invalid arguments",
                    cmd);
  } else if (!fi_is_inbox(name)) {
    fi_tagged(s, a, "NO [TRYCREATE] Mailbox doesn't exist (only INBOX does)");
  } else {
    fi_tagged(s, a,
              "NO [CANNOT] %s into the selected mailbox is not "
              "supported by this server",
              cmd);
  }
  free(name);
  free(set);
}

void fi_cmd_copy(struct mp_fake_session *s, struct mp_fake_args *g,
                 struct mp_fake_answer *a)
{
  copy_or_move(s, g, a, g->uid ? "UID COPY" : "COPY");
}

void fi_cmd_move(struct mp_fake_session *s, struct mp_fake_args *g,
                 struct mp_fake_answer *a)
{
  copy_or_move(s, g, a, g->uid ? "UID MOVE" : "MOVE");
}
