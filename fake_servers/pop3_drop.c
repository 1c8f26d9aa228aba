/* The fake POP3 server's maildrop (RFC 1939): the INBOX of the user who
 * logged in, from the shared mail store as it stood at login (RFC 1939
 * 4), and the TRANSACTION state's commands over it. DELE marks, RSET
 * unmarks, QUIT removes the marked messages from the store (the UPDATE
 * state, RFC 1939 6); a session that ends any other way deletes nothing.
 * The rest of the server is fake_servers/pop3.c. */
#include "fake_servers/pop3_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fake_servers/mailstore.h"
#include "wire/conn.h"
#include "wire/errors.h"

/* An answer is built whole and queued at once; the line engine refuses a
 * queue past MP_CONN_MAX_QUEUE (4 MiB), so a message that would not fit is
 * refused with -ERR instead of breaking the session. */
#define POP3_MAX_ANSWER (3u << 20)

/* ---- the maildrop ------------------------------------------------------ */

/* Walks a message line by line (LF or CRLF ends a line; a last line
 * without one still counts). Returns the line's length and sets *next. */
static size_t next_line(const char *data, size_t len, size_t at, size_t *next)
{
  const char *nl = memchr(data + at, '\n', len - at);
  size_t end = nl ? (size_t)(nl - data) : len;
  *next = nl ? end + 1 : len;
  if (end > at && data[end - 1] == '\r')
    end--;
  return end - at;
}

/* The octets RETR sends for a message (RFC 1939 5: CRLF line ends, before
 * dot-stuffing). */
static size_t wire_size(const char *data, size_t len)
{
  size_t size = 0, at = 0, next;
  while (at < len) {
    size += next_line(data, len, at, &next) + 2;
    at = next;
  }
  return size;
}

static struct mp_mailstore *store(const struct mp_fake_session *s)
{
  return s->srv->env.store;
}

/* Fills the maildrop with the user's messages visible now and not
 * flagged deleted (by IMAP). 0 or a negative code. */
static int open_maildrop(struct mp_fake_session *s, const char *user)
{
  struct pop3 *m = s->proto;
  struct mp_mailstore *st = store(s);
  uint64_t *ids = NULL;
  size_t n = 0;
  free(m->msgs);
  m->msgs = NULL;
  m->nmsgs = 0;
  if (!st || !mp_mailstore_has_user(st, user))
    return 0; /* nothing delivered here: an empty maildrop */
  int rc = mp_mailstore_list(st, user, mp_now_us(), &ids, &n);
  if (rc < 0)
    return rc;
  if (n > 0) {
    m->msgs = calloc(n, sizeof(*m->msgs));
    if (!m->msgs) {
      free(ids);
      return MP_E_NO_RESOURCES;
    }
  }
  for (size_t i = 0; i < n; i++) {
    const struct mp_mail *mail = mp_mailstore_get(st, user, ids[i]);
    if (!mail || (mail->flags & MP_MAIL_DELETED))
      continue;
    struct drop_msg *d = &m->msgs[m->nmsgs++];
    d->id = mail->id;
    d->size = wire_size(mail->data, mail->size);
  }
  free(ids);
  return 0;
}

/* Messages not marked deleted, and their octets. */
static size_t drop_count(const struct pop3 *m, unsigned long long *octets)
{
  size_t n = 0;
  unsigned long long o = 0;
  for (size_t i = 0; i < m->nmsgs; i++)
    if (!m->msgs[i].deleted) {
      n++;
      o += m->msgs[i].size;
    }
  if (octets)
    *octets = o;
  return n;
}

/* Another live session of this server holding the user's maildrop. */
static int maildrop_locked(const struct mp_fake_session *s, const char *user)
{
  for (const struct mp_fake_session *x = s->srv->sessions; x; x = x->next) {
    const struct pop3 *o = x->proto;
    if (x != s && o && x->state == POP3_TRANSACTION && o->login &&
        strcasecmp(o->login, user) == 0)
      return 1;
  }
  return 0;
}

void fp_log_in(struct mp_fake_session *s, const char *user,
               struct mp_fake_answer *a)
{
  struct pop3 *m = s->proto;
  free(m->user);
  m->user = NULL;
  mp_fake_set_state(s, POP3_AUTHORIZATION);
  /* RFC 2449 8.1.1: the maildrop is in use by another session. */
  if (maildrop_locked(s, user)) {
    mp_fake_answer_line(a, "-ERR [IN-USE] Mailbox is locked by another "
                           "POP3 session");
    return;
  }
  m->login = strdup(user);
  if (!m->login || open_maildrop(s, user) < 0) {
    free(m->login);
    m->login = NULL;
    mp_fake_answer_line(a, "-ERR [SYS/TEMP] Cannot open the maildrop");
    return;
  }
  unsigned long long octets;
  size_t n = drop_count(m, &octets);
  mp_fake_set_state(s, POP3_TRANSACTION);
  mp_fake_answer_line(a, "+OK Logged in: %zu messages (%llu octets)", n,
                      octets);
}

/* Parses a message number (RFC 1939 3: decimal, from 1). -1 if it is not
 * a number at all; 0 if it names no message of this maildrop. */
static long parse_msg(const struct pop3 *m, const char *arg)
{
  size_t n = strlen(arg);
  if (n == 0 || n > 9 || strspn(arg, "0123456789") != n)
    return -1;
  long v = strtol(arg, NULL, 10);
  return v >= 1 && (size_t)v <= m->nmsgs ? v : 0;
}

/* The message named by arg, not marked deleted, or NULL with the -ERR
 * already in the answer. */
static struct drop_msg *msg_arg(struct mp_fake_session *s, const char *arg,
                                struct mp_fake_answer *a)
{
  struct pop3 *m = s->proto;
  long v = parse_msg(m, arg);
  if (v < 0) {
    mp_fake_client_error(s, a, "-ERR Invalid message number");
    return NULL;
  }
  if (v == 0) {
    mp_fake_client_error(s, a, "-ERR There's no message with that number");
    return NULL;
  }
  if (m->msgs[v - 1].deleted) {
    mp_fake_client_error(s, a, "-ERR Message is deleted");
    return NULL;
  }
  return &m->msgs[v - 1];
}

/* A message's text from the store, or NULL with -ERR in the answer (an
 * IMAP session may have expunged it since login). */
static const struct mp_mail *msg_text(struct mp_fake_session *s,
                                      const struct drop_msg *d,
                                      struct mp_fake_answer *a)
{
  struct pop3 *m = s->proto;
  const struct mp_mail *mail =
      store(s) ? mp_mailstore_get(store(s), m->login, d->id) : NULL;
  if (!mail)
    mp_fake_answer_line(a, "-ERR [SYS/TEMP] The message was removed by "
                           "another session");
  return mail;
}

/* RETR (body_lines < 0) or TOP: the header, the blank line, then at most
 * body_lines lines of the body; dot-stuffed, ending in "." (RFC 1939 7). */
static void send_message(struct mp_fake_session *s, const struct drop_msg *d,
                         long long body_lines, struct mp_fake_answer *a)
{
  const struct mp_mail *mail = msg_text(s, d, a);
  if (!mail)
    return;
  if (d->size > POP3_MAX_ANSWER) {
    mp_fake_answer_line(a, "-ERR [SYS/PERM] The message is too large for "
                           "this server to send");
    return;
  }
  if (body_lines < 0)
    mp_fake_answer_line(a, "+OK %zu octets", d->size);
  else
    mp_fake_answer_line(a, "+OK Top of message follows");
  size_t at = 0, next;
  int in_header = 1;
  long long body = 0;
  while (at < mail->size) {
    size_t n = next_line(mail->data, mail->size, at, &next);
    if (!in_header && body_lines >= 0 && body++ >= body_lines)
      break;
    fp_multi_line(a, mail->data + at, n);
    if (in_header && n == 0)
      in_header = 0;
    at = next;
  }
  mp_fake_answer_line(a, ".");
}

/* The arguments, split at spaces into argv: how many, or -1 with the
 * error answered when there are more than POP3_MAX_ARGS. */
static int args(struct mp_fake_session *s, struct mp_fake_args *g, char **argv,
                struct mp_fake_answer *a)
{
  int argc = fp_split_args(g->arg, argv, POP3_MAX_ARGS);
  if (argc < 0)
    mp_fake_client_error(s, a, "-ERR Too many arguments");
  return argc;
}

/* 0 for a command without arguments, else -1 with the error answered
 * (usage names the command). */
static int no_args(struct mp_fake_session *s, struct mp_fake_args *g,
                   const char *usage, struct mp_fake_answer *a)
{
  char *argv[POP3_MAX_ARGS];
  int argc = args(s, g, argv, a);
  if (argc > 0)
    mp_fake_client_error(s, a, usage);
  return argc == 0 ? 0 : -1;
}

/* The one message a command names (RETR, DELE), or NULL with the error
 * answered. */
static struct drop_msg *one_msg(struct mp_fake_session *s,
                                struct mp_fake_args *g, const char *usage,
                                struct mp_fake_answer *a)
{
  char *argv[POP3_MAX_ARGS];
  int argc = args(s, g, argv, a);
  if (argc < 0)
    return NULL;
  if (argc != 1) {
    mp_fake_client_error(s, a, usage);
    return NULL;
  }
  return msg_arg(s, argv[0], a);
}

void fp_cmd_stat(struct mp_fake_session *s, struct mp_fake_args *g,
                 struct mp_fake_answer *a)
{
  unsigned long long octets;
  if (no_args(s, g, "-ERR Usage: STAT", a) < 0)
    return;
  /* RFC 1939 5: "+OK nn mm", marked messages left out. */
  size_t n = drop_count(s->proto, &octets);
  mp_fake_answer_line(a, "+OK %zu %llu", n, octets);
}

/* RFC 1939 5: LIST and UIDL, with an argument a one-line answer, without
 * a multi-line one of every message not marked deleted. */
void fp_cmd_listing(struct mp_fake_session *s, struct mp_fake_args *g,
                    struct mp_fake_answer *a)
{
  struct pop3 *m = s->proto;
  int uidl = g->cmd->variant;
  char *argv[POP3_MAX_ARGS];
  int argc = args(s, g, argv, a);
  if (argc < 0)
    return;
  uint32_t validity = store(s) ? mp_mailstore_validity(store(s)) : 1;
  if (argc > 1) {
    mp_fake_client_error(s, a, "-ERR Too many arguments");
    return;
  }
  if (argc == 1) {
    struct drop_msg *d = msg_arg(s, argv[0], a);
    if (!d)
      return;
    long i = (long)(d - m->msgs) + 1;
    if (!uidl)
      mp_fake_answer_line(a, "+OK %ld %zu", i, d->size);
    else /* RFC 1939 7: a unique-id, here the store's id and validity */
      mp_fake_answer_line(a, "+OK %ld %08llX%08X", i, (unsigned long long)d->id,
                          validity);
    return;
  }
  unsigned long long octets;
  size_t n = drop_count(m, &octets);
  if (!uidl)
    mp_fake_answer_line(a, "+OK %zu messages (%llu octets)", n, octets);
  else
    mp_fake_answer_line(a, "+OK Unique-ID listing follows");
  for (size_t i = 0; i < m->nmsgs; i++) {
    const struct drop_msg *d = &m->msgs[i];
    if (d->deleted)
      continue;
    if (!uidl)
      mp_fake_answer_line(a, "%zu %zu", i + 1, d->size);
    else
      mp_fake_answer_line(a, "%zu %08llX%08X", i + 1, (unsigned long long)d->id,
                          validity);
  }
  mp_fake_answer_line(a, ".");
}

void fp_cmd_retr(struct mp_fake_session *s, struct mp_fake_args *g,
                 struct mp_fake_answer *a)
{
  struct pop3 *m = s->proto;
  struct drop_msg *d = one_msg(s, g, "-ERR Usage: RETR msg", a);
  if (!d)
    return;
  send_message(s, d, -1, a);
  /* Dovecot marks a message read on RETR, not on TOP. */
  if (a->len > 0 && a->buf[0] == '+' && store(s))
    mp_mailstore_set_flags(store(s), m->login, d->id, MP_MAIL_SEEN, 0);
}

void fp_cmd_top(struct mp_fake_session *s, struct mp_fake_args *g,
                struct mp_fake_answer *a)
{
  char *argv[POP3_MAX_ARGS];
  int argc = args(s, g, argv, a);
  struct drop_msg *d;
  if (argc < 0)
    return;
  if (argc != 2) {
    mp_fake_client_error(s, a, "-ERR Usage: TOP msg lines");
    return;
  }
  size_t kl = strlen(argv[1]);
  if (kl == 0 || kl > 9 || strspn(argv[1], "0123456789") != kl) {
    mp_fake_client_error(s, a, "-ERR Invalid number of lines");
    return;
  }
  if ((d = msg_arg(s, argv[0], a)) == NULL)
    return;
  send_message(s, d, strtoll(argv[1], NULL, 10), a);
}

void fp_cmd_dele(struct mp_fake_session *s, struct mp_fake_args *g,
                 struct mp_fake_answer *a)
{
  struct drop_msg *d = one_msg(s, g, "-ERR Usage: DELE msg", a);
  if (!d)
    return;
  d->deleted = 1;
  mp_fake_answer_line(a, "+OK Marked to be deleted.");
}

void fp_cmd_rset(struct mp_fake_session *s, struct mp_fake_args *g,
                 struct mp_fake_answer *a)
{
  struct pop3 *m = s->proto;
  unsigned long long octets;
  if (no_args(s, g, "-ERR Usage: RSET", a) < 0)
    return;
  for (size_t i = 0; i < m->nmsgs; i++)
    m->msgs[i].deleted = 0;
  size_t n = drop_count(m, &octets);
  mp_fake_answer_line(a, "+OK Maildrop has %zu messages (%llu octets)", n,
                      octets);
}

void fp_cmd_noop(struct mp_fake_session *s, struct mp_fake_args *g,
                 struct mp_fake_answer *a)
{
  if (no_args(s, g, "-ERR Usage: NOOP", a) == 0)
    mp_fake_answer_line(a, "+OK");
}

/* RFC 1939 6: the UPDATE state removes the marked messages, then the
 * session ends. */
void fp_cmd_quit(struct mp_fake_session *s, struct mp_fake_args *g,
                 struct mp_fake_answer *a)
{
  struct pop3 *m = s->proto;
  const char *host = mp_fake_hostname(s->srv);
  int failed = 0;
  if (*g->arg) {
    mp_fake_client_error(s, a, "-ERR Usage: QUIT");
    return;
  }
  if (s->state == POP3_TRANSACTION) {
    for (size_t i = 0; i < m->nmsgs; i++)
      if (m->msgs[i].deleted && store(s) &&
          mp_mailstore_remove(store(s), m->login, m->msgs[i].id) < 0 &&
          mp_mailstore_get(store(s), m->login, m->msgs[i].id))
        failed = 1; /* gone already (expunged elsewhere) is deleted */
    size_t left =
        store(s) ? mp_mailstore_count(store(s), m->login, mp_now_us()) : 0;
    if (failed)
      mp_fake_answer_line(a, "-ERR [SYS/TEMP] Some deleted messages were "
                             "not removed");
    else
      mp_fake_answer_line(a,
                          "+OK %s POP3 server signing off (%zu messages "
                          "left)",
                          host, left);
  } else {
    mp_fake_answer_line(a, "+OK %s POP3 server signing off", host);
  }
  mp_fake_set_state(s, POP3_DONE);
  a->effect = MP_FX_CLOSE;
}
