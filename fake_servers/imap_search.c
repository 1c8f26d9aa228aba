/* The fake IMAP server's SEARCH (RFC 9051 6.4.4): the keys, NOT/OR and
 * HEADER, over the selected mailbox. */
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

/* ---- SEARCH (RFC 9051 6.4.4) ------------------------------------------ */

struct search {
  struct mp_fake_session *s;
  struct mp_fake_args g;
  const struct mp_mail *mail; /* NULL: a dry run to check the syntax */
  size_t seq;                 /* 1-based */
  uint64_t uid;
  int unsupported; /* a key we do not do */
};

static int search_keys(struct search *x, int depth, int in_paren, int *hit);

/* "1-Feb-1994" (RFC 9051 9: date) into days since the epoch. */
static int parse_date(struct mp_fake_args *g, long *days)
{
  char buf[32];
  char *str = NULL;
  size_t len;
  if (g->p < g->end && *g->p == '"') {
    if (fi_arg_quoted(g, &str, &len) < 0)
      return -1;
    snprintf(buf, sizeof(buf), "%s", str);
    free(str);
  } else if (fi_arg_atom(g, buf, sizeof(buf), 0, NULL) < 0) {
    return -1;
  }
  int d, y;
  char mon[4];
  if (sscanf(buf, "%2d-%3[A-Za-z]-%4d", &d, mon, &y) != 3 || d < 1 || d > 31 ||
      y < 1970)
    return -1;
  int mi = -1;
  for (int i = 0; i < 12; i++)
    if (strcasecmp(mon, fi_months[i]) == 0)
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
  struct mp_fake_args *g = &x->g;
  const struct mp_mail *mail = x->mail;
  struct imap *m = x->s->proto;
  if (depth > IMAP_MAX_DEPTH)
    return -1;
  if (fi_arg_char(g, '(') == 0)
    return search_keys(x, depth + 1, 1, hit);
  if (g->p < g->end && ((*g->p >= '0' && *g->p <= '9') || *g->p == '*')) {
    struct set *set = malloc(sizeof(*set));
    if (!set || fi_parse_set(g, m->nuids ? m->nuids : UINT64_MAX, set) < 0) {
      free(set);
      return -1;
    }
    *hit = mail && fi_set_has(set, x->seq);
    free(set);
    return 0;
  }
  char word[32];
  if (fi_arg_atom(g, word, sizeof(word), 0, NULL) < 0)
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
    if (fi_arg_sp(g) < 0 || search_key(x, depth + 1, &sub) < 0)
      return -1;
    *hit = mail && !sub;
    return 0;
  }
  if (strcasecmp(word, "OR") == 0) {
    int h1 = 0, h2 = 0;
    if (fi_arg_sp(g) < 0 || search_key(x, depth + 1, &h1) < 0 ||
        fi_arg_sp(g) < 0 || search_key(x, depth + 1, &h2) < 0)
      return -1;
    *hit = h1 || h2;
    return 0;
  }
  if (strcasecmp(word, "UID") == 0) {
    uint64_t star = m->nuids ? m->uids[m->nuids - 1] : 0;
    struct set *set = malloc(sizeof(*set));
    if (!set || fi_arg_sp(g) < 0 || fi_parse_set(g, star, set) < 0) {
      free(set);
      return -1;
    }
    *hit = mail && fi_set_has(set, x->uid);
    free(set);
    return 0;
  }
  if (strcasecmp(word, "KEYWORD") == 0 || strcasecmp(word, "UNKEYWORD") == 0) {
    char kw[128];
    if (fi_arg_sp(g) < 0 || fi_arg_atom(g, kw, sizeof(kw), 0, NULL) < 0)
      return -1;
    *hit = mail && word[0] != 'K' && word[0] != 'k'; /* none are kept */
    return 0;
  }
  if (strcasecmp(word, "LARGER") == 0 || strcasecmp(word, "SMALLER") == 0) {
    uint64_t n;
    if (fi_arg_sp(g) < 0 || fi_arg_number(g, &n) < 0)
      return -1;
    *hit = mail &&
           (word[0] == 'L' || word[0] == 'l' ? mail->size > n : mail->size < n);
    return 0;
  }
  if (strcasecmp(word, "BEFORE") == 0 || strcasecmp(word, "ON") == 0 ||
      strcasecmp(word, "SINCE") == 0) {
    long day;
    if (fi_arg_sp(g) < 0 || parse_date(g, &day) < 0)
      return -1;
    long have = mail ? (long)(fi_arrived_wall(mail) / 86400) : 0;
    *hit = mail && (word[0] == 'B' || word[0] == 'b'   ? have < day
                    : word[0] == 'O' || word[0] == 'o' ? have == day
                                                       : have >= day);
    return 0;
  }
  if (strncasecmp(word, "SENT", 4) == 0 &&
      (strcasecmp(word + 4, "BEFORE") == 0 || strcasecmp(word + 4, "ON") == 0 ||
       strcasecmp(word + 4, "SINCE") == 0)) {
    long day;
    if (fi_arg_sp(g) < 0 || parse_date(g, &day) < 0)
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
  if (which == 5 && (fi_arg_sp(g) < 0 || fi_arg_astring(g, &name) < 0))
    return -1;
  if (fi_arg_sp(g) < 0 || fi_arg_string(g, 0, &value, &vlen) < 0) {
    free(name);
    return -1;
  }
  *hit = 0;
  if (mail) {
    size_t hl = fi_header_len(mail);
    if (which < 5)
      *hit = fi_header_has(mail, fields[which], value, vlen);
    else if (which == 5)
      *hit = fi_header_has(mail, name, value, vlen);
    else if (which == 6)
      *hit = fi_mem_icase_has(mail->data + hl, mail->size - hl, value, vlen);
    else
      *hit = fi_mem_icase_has(mail->data, mail->size, value, vlen);
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
    if (in_paren && fi_arg_char(&x->g, ')') == 0)
      break;
    if (!in_paren && fi_at_end(&x->g))
      break;
    if (fi_arg_sp(&x->g) < 0)
      return -1;
  }
  *hit = all && x->mail;
  return 0;
}

void fi_cmd_search(struct mp_fake_session *s, struct mp_fake_args *g,
                   struct mp_fake_answer *a)
{
  struct imap *m = s->proto;
  const char *cmd = g->uid ? "UID SEARCH" : "SEARCH";
  if (fi_arg_sp(g) < 0) {
    fi_client_error(s, a, "BAD Error in IMAP command %s: Missing arguments",
                    cmd);
    return;
  }
  /* RFC 9051 6.4.4: CHARSET, then the keys. */
  const char *save = g->p;
  char word[16];
  if (fi_arg_atom(g, word, sizeof(word), 0, NULL) > 0 &&
      strcasecmp(word, "CHARSET") == 0) {
    char *cs = NULL;
    if (fi_arg_sp(g) < 0 || fi_arg_astring(g, &cs) < 0 || fi_arg_sp(g) < 0) {
      free(cs);
      fi_client_error(s, a, "BAD Error in IMAP command %s: Invalid CHARSET",
                      cmd);
      return;
    }
    int ok = strcasecmp(cs, "US-ASCII") == 0 || strcasecmp(cs, "UTF-8") == 0;
    free(cs);
    if (!ok) {
      fi_tagged(s, a, "NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset");
      return;
    }
  } else {
    g->p = save;
  }
  struct search x = {.s = s, .g = *g};
  int hit;
  /* A dry run first: a syntax error is BAD even in an empty mailbox. */
  if (search_keys(&x, 0, 0, &hit) < 0) {
    fi_client_error(s, a, "BAD Error in IMAP command %s: Invalid search key",
                    cmd);
    return;
  }
  if (x.unsupported) {
    fi_tagged(s, a,
              "NO [CANNOT] SENTBEFORE, SENTON and SENTSINCE are not "
              "supported");
    return;
  }
  fi_put_str(a, "* SEARCH");
  for (size_t i = 0; i < m->nuids; i++) {
    x.g = *g;
    x.mail = fi_mail_at(s, i);
    x.seq = i + 1;
    x.uid = m->uids[i];
    if (!x.mail)
      continue;
    if (search_keys(&x, 0, 0, &hit) == 0 && hit)
      fi_put_fmt(a, " %llu",
                 g->uid ? (unsigned long long)m->uids[i]
                        : (unsigned long long)i + 1);
  }
  fi_put_str(a, "\r\n");
  fi_tagged(s, a, "OK %s completed", cmd);
}
