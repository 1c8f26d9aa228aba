/* The fake POP3 server (RFC 1939) in nginx's shape: a switch on the
 * session's state, then on the command; caps on line length, arguments and
 * errors. It builds answers and effects (session.h); the script decides
 * when and how they go out.
 *
 * Extensions: CAPA and response codes (RFC 2449), AUTH-RESP-CODE (RFC
 * 3206), STLS (RFC 2595), AUTH (RFC 5034) with the SASL server halves of
 * wire/sasl.h, APOP (RFC 1939 7). The maildrop is the shared mail store's
 * INBOX of the user who logged in, as it stood at login (RFC 1939 4):
 * DELE marks, RSET unmarks, QUIT removes the marked messages from the
 * store (the UPDATE state, RFC 1939 6). A session that ends any other way
 * deletes nothing. */
#include "fake_servers/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "fake_servers/mailstore.h"
#include "wire/codec.h"
#include "wire/conn.h"
#include "wire/errors.h"
#include "wire/sasl.h"

#define POP3_MAX_LINE 16384 /* the conn's cap; SASL responses need it */
/* RFC 2449 4: a command line is at most 255 octets with its CRLF. */
#define POP3_MAX_COMMAND 253
#define POP3_MAX_AUTH_LINE 12288 /* an AUTH command or a SASL response */
#define POP3_MAX_ARGS 4
#define POP3_MAX_ERRORS 20
/* An answer is built whole and queued at once; the line engine refuses a
 * queue past MP_CONN_MAX_QUEUE (4 MiB), so a message that would not fit is
 * refused with -ERR instead of breaking the session. */
#define POP3_MAX_ANSWER (3u << 20)
/* RFC 3206 / Dovecot's words for a login before TLS on a server that
 * allows none. The text names TLS so a client can tell it from a bad
 * password. */
#define POP3_TLS_FIRST                                                         \
  "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) "   \
  "connections."

enum pop3_state {
  POP3_AUTHORIZATION = 0, /* before login (RFC 1939 4) */
  POP3_SASL,              /* in an AUTH exchange: lines are responses */
  POP3_TRANSACTION,       /* logged in, the maildrop is open */
  POP3_DONE               /* QUIT answered; the session is closing */
};

static const char *const state_names[] = {
    [POP3_AUTHORIZATION] = "authorization",
    [POP3_SASL] = "sasl",
    [POP3_TRANSACTION] = "transaction",
    [POP3_DONE] = "done",
};

enum pop3_cmd {
  CMD_UNKNOWN = 0,
  CMD_CAPA,
  CMD_STLS,
  CMD_USER,
  CMD_PASS,
  CMD_APOP,
  CMD_AUTH,
  CMD_STAT,
  CMD_LIST,
  CMD_UIDL,
  CMD_RETR,
  CMD_TOP,
  CMD_DELE,
  CMD_RSET,
  CMD_NOOP,
  CMD_QUIT
};

/* The states a command is valid in (RFC 1939 4, 5; RFC 2449 5). */
#define IN_AUTHZ (1u << POP3_AUTHORIZATION)
#define IN_TRANS (1u << POP3_TRANSACTION)

static const struct {
  const char *name;
  enum pop3_cmd cmd;
  unsigned states;
} commands[] = {
    {"CAPA", CMD_CAPA, IN_AUTHZ | IN_TRANS},
    {"STLS", CMD_STLS, IN_AUTHZ},
    {"USER", CMD_USER, IN_AUTHZ},
    {"PASS", CMD_PASS, IN_AUTHZ},
    {"APOP", CMD_APOP, IN_AUTHZ},
    {"AUTH", CMD_AUTH, IN_AUTHZ},
    {"STAT", CMD_STAT, IN_TRANS},
    {"LIST", CMD_LIST, IN_TRANS},
    {"UIDL", CMD_UIDL, IN_TRANS},
    {"RETR", CMD_RETR, IN_TRANS},
    {"TOP", CMD_TOP, IN_TRANS},
    {"DELE", CMD_DELE, IN_TRANS},
    {"RSET", CMD_RSET, IN_TRANS},
    {"NOOP", CMD_NOOP, IN_TRANS},
    {"QUIT", CMD_QUIT, IN_AUTHZ | IN_TRANS},
};

/* One message of the maildrop as it stood at login. */
struct drop_msg {
  uint64_t id; /* in the store */
  size_t size; /* octets as sent by RETR, before dot-stuffing */
  int deleted; /* marked by DELE */
};

struct pop3 {
  enum pop3_state state;
  char timestamp[160]; /* the APOP banner's <...>, "" without APOP */
  char *user;          /* given with USER, waiting for PASS */
  char *login;         /* logged in as (TRANSACTION) */
  struct mp_sasl_server *sasl;
  unsigned errors;
  struct drop_msg *msgs;
  size_t nmsgs;
};

static void set_state(struct mp_fake_session *s, enum pop3_state st)
{
  struct pop3 *m = s->proto;
  if (m->state != st && s->srv->trace)
    fprintf(stderr, "fake pop3 #%u: %s -> %s\n", s->id, state_names[m->state],
            state_names[st]);
  m->state = st;
}

static void end_auth(struct pop3 *m)
{
  mp_sasl_server_free(m->sasl);
  m->sasl = NULL;
}

static int pop3_open(struct mp_fake_session *s)
{
  s->proto = calloc(1, sizeof(struct pop3));
  return s->proto ? 0 : MP_E_NO_RESOURCES;
}

static void pop3_close(struct mp_fake_session *s)
{
  struct pop3 *m = s->proto;
  end_auth(m);
  free(m->user);
  free(m->login);
  free(m->msgs);
  free(m);
  s->proto = NULL;
}

/* RFC 1939 4 and 7: "+OK" and, with APOP, a timestamp unique to this
 * greeting ("<process-ID.clock@hostname>"). */
static void pop3_greeting(struct mp_fake_session *s, int replaced,
                          struct mp_fake_answer *a)
{
  struct pop3 *m = s->proto;
  const char *host = mp_fake_hostname(s->srv);
  m->timestamp[0] = '\0';
  if (s->srv->cfg->apop) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(m->timestamp, sizeof(m->timestamp), "<%ld.%u.%lld%06ld@%.100s>",
             (long)getpid(), s->id, (long long)ts.tv_sec, ts.tv_nsec / 1000,
             host);
  }
  if (replaced)
    return;
  if (m->timestamp[0])
    mp_fake_answer_line(a, "+OK %s POP3 ready %s", host, m->timestamp);
  else
    mp_fake_answer_line(a, "+OK %s POP3 ready", host);
}

/* A reply that counts as a client error; past the cap the session ends
 * (nginx's and Dovecot's bad-command limit). */
static void client_error(struct mp_fake_session *s, struct mp_fake_answer *a,
                         const char *reply)
{
  struct pop3 *m = s->proto;
  if (++m->errors >= POP3_MAX_ERRORS) {
    mp_fake_answer_line(a, "-ERR Too many bad commands, closing");
    a->effect = MP_FX_CLOSE;
    set_state(s, POP3_DONE);
    return;
  }
  mp_fake_answer_line(a, "%s", reply);
}

/* ---- CAPA (RFC 2449 5) --------------------------------------------------- */

/* The length of a capability's keyword ("SASL" of "SASL PLAIN"). */
static size_t keyword_len(const char *cap)
{
  return strcspn(cap, " ");
}

/* 1 if cap's keyword is in list (the keyword, or the whole line). "AUTH"
 * stands for SASL too, so one withhold list serves SMTP and POP3. */
static int keyword_in(char *const *list, size_t n, const char *cap)
{
  size_t k = keyword_len(cap);
  int sasl = k == 4 && strncasecmp(cap, "SASL", 4) == 0;
  for (size_t i = 0; list && i < n; i++) {
    if (!list[i])
      continue;
    if (strcasecmp(list[i], cap) == 0)
      return 1;
    size_t lk = keyword_len(list[i]);
    if (lk == k && strncasecmp(list[i], cap, k) == 0)
      return 1;
    if (sasl && lk == 4 && strncasecmp(list[i], "AUTH", 4) == 0)
      return 1;
  }
  return 0;
}

/* Appends a line of a multi-line answer, dot-stuffed (RFC 1939 3). */
static void multi_line(struct mp_fake_answer *a, const char *line, size_t len)
{
  if (len > 0 && line[0] == '.')
    mp_fake_answer_add(a, ".", 1);
  mp_fake_answer_add(a, line, len);
  mp_fake_answer_add(a, "\r\n", 2);
}

static void capa_reply(struct mp_fake_session *s, struct mp_fake_answer *a)
{
  struct pop3 *m = s->proto;
  const struct mp_fake_config *cfg = s->srv->cfg;
  char sasl[512], saslcap[520];
  const char *caps[16 + 64];
  const char *builtin[10] = {"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE",
                             "PIPELINING"};
  size_t nb = 5, n = 0;
  /* Login capabilities mean something only before login (RFC 2449 5). */
  if (m->state == POP3_AUTHORIZATION) {
    builtin[nb++] = "USER";
    mp_fake_auth_list(cfg, sasl, sizeof(sasl));
    if (sasl[0] && (!cfg->auth_requires_tls || s->in_tls)) {
      snprintf(saslcap, sizeof(saslcap), "SASL %s", sasl);
      builtin[nb++] = saslcap;
    }
    /* RFC 2595 4: STLS only while it can be used. */
    if (cfg->tls == MP_FAKE_TLS_STARTTLS && s->srv->tls_ctx && !s->in_tls)
      builtin[nb++] = "STLS";
  }
  /* A capability given in advertise replaces the built-in one of the same
   * keyword; withhold removes either. */
  for (size_t i = 0; i < nb; i++)
    if (!keyword_in(cfg->withhold, cfg->nwithhold, builtin[i]) &&
        !keyword_in(cfg->advertise, cfg->nadvertise, builtin[i]))
      caps[n++] = builtin[i];
  for (size_t i = 0; i < cfg->nadvertise && n < sizeof(caps) / sizeof(*caps);
       i++)
    if (cfg->advertise[i] &&
        !keyword_in(cfg->withhold, cfg->nwithhold, cfg->advertise[i]))
      caps[n++] = cfg->advertise[i];
  mp_fake_answer_line(a, "+OK Capability list follows");
  for (size_t i = 0; i < n; i++)
    multi_line(a, caps[i], strlen(caps[i]));
  mp_fake_answer_line(a, ".");
}

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
    if (x != s && o && o->state == POP3_TRANSACTION && o->login &&
        strcasecmp(o->login, user) == 0)
      return 1;
  }
  return 0;
}

/* The credentials were right: lock and open the maildrop (RFC 1939 4). */
static void log_in(struct mp_fake_session *s, const char *user,
                   struct mp_fake_answer *a)
{
  struct pop3 *m = s->proto;
  free(m->user);
  m->user = NULL;
  set_state(s, POP3_AUTHORIZATION);
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
  set_state(s, POP3_TRANSACTION);
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
    client_error(s, a, "-ERR Invalid message number");
    return NULL;
  }
  if (v == 0) {
    client_error(s, a, "-ERR There's no message with that number");
    return NULL;
  }
  if (m->msgs[v - 1].deleted) {
    client_error(s, a, "-ERR Message is deleted");
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
    multi_line(a, mail->data + at, n);
    if (in_header && n == 0)
      in_header = 0;
    at = next;
  }
  mp_fake_answer_line(a, ".");
}

/* RFC 1939 5: LIST and UIDL, with an argument a one-line answer, without
 * a multi-line one of every message not marked deleted. */
static void cmd_listing(struct mp_fake_session *s, enum pop3_cmd cmd,
                        char **argv, int argc, struct mp_fake_answer *a)
{
  struct pop3 *m = s->proto;
  uint32_t validity = store(s) ? mp_mailstore_validity(store(s)) : 1;
  if (argc > 1) {
    client_error(s, a, "-ERR Too many arguments");
    return;
  }
  if (argc == 1) {
    struct drop_msg *d = msg_arg(s, argv[0], a);
    if (!d)
      return;
    long i = (long)(d - m->msgs) + 1;
    if (cmd == CMD_LIST)
      mp_fake_answer_line(a, "+OK %ld %zu", i, d->size);
    else /* RFC 1939 7: a unique-id, here the store's id and validity */
      mp_fake_answer_line(a, "+OK %ld %08llX%08X", i, (unsigned long long)d->id,
                          validity);
    return;
  }
  unsigned long long octets;
  size_t n = drop_count(m, &octets);
  if (cmd == CMD_LIST)
    mp_fake_answer_line(a, "+OK %zu messages (%llu octets)", n, octets);
  else
    mp_fake_answer_line(a, "+OK Unique-ID listing follows");
  for (size_t i = 0; i < m->nmsgs; i++) {
    const struct drop_msg *d = &m->msgs[i];
    if (d->deleted)
      continue;
    if (cmd == CMD_LIST)
      mp_fake_answer_line(a, "%zu %zu", i + 1, d->size);
    else
      mp_fake_answer_line(a, "%zu %08llX%08X", i + 1, (unsigned long long)d->id,
                          validity);
  }
  mp_fake_answer_line(a, ".");
}

/* RFC 1939 6: the UPDATE state removes the marked messages, then the
 * session ends. */
static void cmd_quit(struct mp_fake_session *s, struct mp_fake_answer *a)
{
  struct pop3 *m = s->proto;
  const char *host = mp_fake_hostname(s->srv);
  int failed = 0;
  if (m->state == POP3_TRANSACTION) {
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
  set_state(s, POP3_DONE);
  a->effect = MP_FX_CLOSE;
}

/* ---- login: USER/PASS, APOP, AUTH ---------------------------------------- */

/* Refuses a login before TLS when the server wants TLS first (RFC 2595 4
 * lets a server refuse USER/PASS on a clear channel). 1 if refused. */
static int tls_first(struct mp_fake_session *s, struct mp_fake_answer *a)
{
  if (!s->srv->cfg->auth_requires_tls || s->in_tls)
    return 0;
  mp_fake_answer_line(a, POP3_TLS_FIRST);
  return 1;
}

static void cmd_user(struct mp_fake_session *s, const char *arg,
                     struct mp_fake_answer *a)
{
  struct pop3 *m = s->proto;
  if (!*arg) {
    client_error(s, a, "-ERR Usage: USER name");
    return;
  }
  if (tls_first(s, a))
    return;
  /* Any name gets +OK: PASS says whether it exists (RFC 1939 13 warns
   * that telling names apart helps an attacker). */
  free(m->user);
  m->user = strdup(arg);
  if (!m->user) {
    mp_fake_answer_line(a, "-ERR [SYS/TEMP] Out of memory");
    return;
  }
  mp_fake_answer_line(a, "+OK");
}

static void cmd_pass(struct mp_fake_session *s, const char *arg,
                     struct mp_fake_answer *a)
{
  struct pop3 *m = s->proto;
  if (!m->user) {
    client_error(s, a, "-ERR No username given");
    return;
  }
  if (tls_first(s, a))
    return;
  /* RFC 1939 7: the password is the rest of the line, spaces included. */
  const char *want = mp_fake_password(s, m->user);
  if (!want || !mp_ct_equal(want, strlen(want), arg, strlen(arg))) {
    free(m->user);
    m->user = NULL;
    client_error(s, a, "-ERR [AUTH] Authentication failed.");
    return;
  }
  char *user = m->user;
  m->user = NULL;
  log_in(s, user, a);
  free(user);
}

/* RFC 1939 7: APOP name digest, digest = MD5(timestamp password) in
 * lower-case hex. */
static void cmd_apop(struct mp_fake_session *s, char **argv, int argc,
                     struct mp_fake_answer *a)
{
  struct pop3 *m = s->proto;
  if (!m->timestamp[0]) {
    client_error(s, a, "-ERR APOP is not supported here");
    return;
  }
  if (argc != 2 || strlen(argv[1]) != 32) {
    client_error(s, a, "-ERR Usage: APOP name digest");
    return;
  }
  if (tls_first(s, a))
    return;
  const char *pw = mp_fake_password(s, argv[0]);
  char given[33], hex[33];
  for (int i = 0; i < 33; i++)
    given[i] =
        (char)(argv[1][i] >= 'A' && argv[1][i] <= 'F' ? argv[1][i] - 'A' + 'a'
                                                      : argv[1][i]);
  int ok = 0;
  if (pw) {
    size_t tl = strlen(m->timestamp), pl = strlen(pw);
    char *buf = malloc(tl + pl + 1);
    unsigned char md[16];
    if (buf) {
      memcpy(buf, m->timestamp, tl);
      memcpy(buf + tl, pw, pl);
      if (mp_md5(buf, tl + pl, md) == 0) {
        mp_hex(md, 16, hex);
        ok = mp_ct_equal(hex, 32, given, 32);
      }
      free(buf);
    }
  }
  if (!ok) {
    client_error(s, a, "-ERR [AUTH] Authentication failed.");
    return;
  }
  log_in(s, argv[0], a);
}

/* Turns a SASL step's result into the answer (RFC 5034 4). */
static void auth_result(struct mp_fake_session *s, int rc, char *out,
                        struct mp_fake_answer *a)
{
  struct pop3 *m = s->proto;
  if (rc == MP_SASL_CONTINUE) {
    /* "+ " and the base64 challenge, maybe empty. */
    mp_fake_answer_line(a, "+ %s", out ? out : "");
    set_state(s, POP3_SASL);
    free(out);
    return;
  }
  free(out);
  set_state(s, POP3_AUTHORIZATION);
  if (rc == MP_SASL_DONE) {
    const char *u = mp_sasl_server_user(m->sasl);
    char *user = strdup(u ? u : "");
    end_auth(m);
    if (!user) {
      mp_fake_answer_line(a, "-ERR [SYS/TEMP] Out of memory");
      return;
    }
    log_in(s, user, a);
    free(user);
    return;
  }
  end_auth(m);
  if (rc == MP_E_AUTH_FAILED)
    client_error(s, a, "-ERR [AUTH] Authentication failed.");
  else if (rc == MP_E_PROTOCOL_ERROR)
    client_error(s, a, "-ERR Invalid SASL response");
  else
    mp_fake_answer_line(a, "-ERR [SYS/TEMP] Temporary authentication "
                           "failure");
}

static void cmd_auth(struct mp_fake_session *s, const char *arg,
                     struct mp_fake_answer *a)
{
  struct pop3 *m = s->proto;
  const struct mp_fake_config *cfg = s->srv->cfg;
  char list[512], mech[64];
  mp_fake_auth_list(cfg, list, sizeof(list));
  if (!*arg) {
    /* Not in RFC 5034, but older clients (RFC 1734 era) and Dovecot list
     * the mechanisms for a bare AUTH. */
    if (!list[0] || (cfg->auth_requires_tls && !s->in_tls)) {
      client_error(s, a, "-ERR Authentication is not available");
      return;
    }
    mp_fake_answer_line(a, "+OK");
    for (const char *p = list; *p;) {
      size_t n = strcspn(p, " ");
      multi_line(a, p, n);
      p += n;
      p += strspn(p, " ");
    }
    mp_fake_answer_line(a, ".");
    return;
  }
  size_t ml = strcspn(arg, " ");
  if (ml >= sizeof(mech)) {
    client_error(s, a, "-ERR Unsupported authentication mechanism");
    return;
  }
  memcpy(mech, arg, ml);
  mech[ml] = '\0';
  const char *initial = arg + ml;
  initial += strspn(initial, " ");
  if (!*initial)
    initial = NULL;
  if (tls_first(s, a))
    return;
  int id = mp_sasl_from_name(mech);
  if (id < 0 || !mp_fake_auth_offered(cfg, mech)) {
    client_error(s, a, "-ERR Unsupported authentication mechanism");
    return;
  }
  m->sasl =
      mp_sasl_server_new(id, mp_fake_hostname(s->srv), mp_fake_password, s);
  if (!m->sasl) {
    mp_fake_answer_line(a, "-ERR [SYS/TEMP] Temporary authentication "
                           "failure");
    return;
  }
  free(m->user); /* AUTH starts over: a USER given before is forgotten */
  m->user = NULL;
  char *out = NULL;
  /* RFC 5034 4: "=" is the empty initial response. */
  int rc = mp_sasl_server_start(m->sasl, initial, &out);
  auth_result(s, rc, out, a);
}

static void sasl_line(struct mp_fake_session *s, const char *line, size_t len,
                      int replaced, struct mp_fake_answer *a)
{
  struct pop3 *m = s->proto;
  if (replaced) {
    end_auth(m); /* a rule answered: the exchange is over */
    set_state(s, POP3_AUTHORIZATION);
    return;
  }
  if (len == 1 && line[0] == '*') {
    /* RFC 5034 4: the client cancelled; the server MUST answer -ERR. */
    end_auth(m);
    set_state(s, POP3_AUTHORIZATION);
    mp_fake_answer_line(a, "-ERR Authentication cancelled");
    return;
  }
  if (len > POP3_MAX_AUTH_LINE || strlen(line) != len) {
    end_auth(m);
    set_state(s, POP3_AUTHORIZATION);
    client_error(s, a, "-ERR Invalid SASL response");
    return;
  }
  char *out = NULL;
  int rc = mp_sasl_server_step(m->sasl, line, &out);
  auth_result(s, rc, out, a);
}

/* ---- commands ------------------------------------------------------------ */

static int lookup_command(const char *verb, size_t len)
{
  for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++)
    if (strlen(commands[i].name) == len &&
        strncasecmp(commands[i].name, verb, len) == 0)
      return (int)i;
  return -1;
}

/* Splits the arguments at spaces, in place; the count, or -1 if more than
 * max. */
static int split_args(char *arg, char **argv, int max)
{
  int n = 0;
  while (*arg) {
    if (n == max)
      return -1;
    argv[n++] = arg;
    arg += strcspn(arg, " ");
    if (*arg)
      *arg++ = '\0';
    arg += strspn(arg, " ");
  }
  return n;
}

static void cmd_stls(struct mp_fake_session *s, const char *arg,
                     struct mp_fake_answer *a)
{
  if (*arg)
    client_error(s, a, "-ERR Usage: STLS");
  else if (s->in_tls)
    client_error(s, a, "-ERR Command not permitted when TLS active");
  else if (s->srv->cfg->tls != MP_FAKE_TLS_STARTTLS || !s->srv->tls_ctx)
    client_error(s, a, "-ERR TLS is not available");
  else {
    /* RFC 2595 4: the go-ahead; the handshake starts once it is out. */
    mp_fake_answer_line(a, "+OK Begin TLS negotiation");
    a->effect = MP_FX_STARTTLS;
  }
}

static void transaction(struct mp_fake_session *s, enum pop3_cmd cmd, char *arg,
                        struct mp_fake_answer *a)
{
  struct pop3 *m = s->proto;
  char *argv[POP3_MAX_ARGS];
  int argc = split_args(arg, argv, POP3_MAX_ARGS);
  unsigned long long octets;
  size_t n;
  struct drop_msg *d;
  if (argc < 0) {
    client_error(s, a, "-ERR Too many arguments");
    return;
  }
  switch (cmd) {
  case CMD_STAT:
    if (argc) {
      client_error(s, a, "-ERR Usage: STAT");
      return;
    }
    /* RFC 1939 5: "+OK nn mm", marked messages left out. */
    n = drop_count(m, &octets);
    mp_fake_answer_line(a, "+OK %zu %llu", n, octets);
    return;
  case CMD_LIST:
  case CMD_UIDL:
    cmd_listing(s, cmd, argv, argc, a);
    return;
  case CMD_RETR:
    if (argc != 1) {
      client_error(s, a, "-ERR Usage: RETR msg");
      return;
    }
    if ((d = msg_arg(s, argv[0], a)) == NULL)
      return;
    send_message(s, d, -1, a);
    /* Dovecot marks a message read on RETR, not on TOP. */
    if (a->len > 0 && a->buf[0] == '+' && store(s))
      mp_mailstore_set_flags(store(s), m->login, d->id, MP_MAIL_SEEN, 0);
    return;
  case CMD_TOP: {
    if (argc != 2) {
      client_error(s, a, "-ERR Usage: TOP msg lines");
      return;
    }
    size_t kl = strlen(argv[1]);
    if (kl == 0 || kl > 9 || strspn(argv[1], "0123456789") != kl) {
      client_error(s, a, "-ERR Invalid number of lines");
      return;
    }
    if ((d = msg_arg(s, argv[0], a)) == NULL)
      return;
    send_message(s, d, strtoll(argv[1], NULL, 10), a);
    return;
  }
  case CMD_DELE:
    if (argc != 1) {
      client_error(s, a, "-ERR Usage: DELE msg");
      return;
    }
    if ((d = msg_arg(s, argv[0], a)) == NULL)
      return;
    d->deleted = 1;
    mp_fake_answer_line(a, "+OK Marked to be deleted.");
    return;
  case CMD_RSET:
    if (argc) {
      client_error(s, a, "-ERR Usage: RSET");
      return;
    }
    for (size_t i = 0; i < m->nmsgs; i++)
      m->msgs[i].deleted = 0;
    n = drop_count(m, &octets);
    mp_fake_answer_line(a, "+OK Maildrop has %zu messages (%llu octets)", n,
                        octets);
    return;
  case CMD_NOOP:
    if (argc)
      client_error(s, a, "-ERR Usage: NOOP");
    else
      mp_fake_answer_line(a, "+OK");
    return;
  default:
    client_error(s, a, "-ERR Unknown command");
    return;
  }
}

static void command(struct mp_fake_session *s, char *line, size_t len,
                    struct mp_fake_answer *a)
{
  struct pop3 *m = s->proto;
  size_t vl = strcspn(line, " ");
  int idx = lookup_command(line, vl);
  enum pop3_cmd cmd = idx < 0 ? CMD_UNKNOWN : commands[idx].cmd;
  char *arg = line + vl;
  if (*arg)
    arg++; /* RFC 1939 3: one space; PASS keeps the rest as it is */
  if (len == 0 || strlen(line) != len) {
    client_error(s, a, "-ERR Bad syntax");
    return;
  }
  if (len > (cmd == CMD_AUTH ? POP3_MAX_AUTH_LINE : POP3_MAX_COMMAND)) {
    client_error(s, a, "-ERR Line too long");
    return;
  }
  if (idx < 0) {
    client_error(s, a, "-ERR Unknown command");
    return;
  }
  if (!(commands[idx].states & (1u << m->state))) {
    client_error(s, a,
                 m->state == POP3_TRANSACTION
                     ? "-ERR Command not valid after login"
                     : "-ERR Command not valid before login");
    return;
  }
  if (cmd != CMD_PASS)
    arg += strspn(arg, " ");
  switch (cmd) {
  case CMD_CAPA:
    if (*arg)
      client_error(s, a, "-ERR Usage: CAPA");
    else
      capa_reply(s, a);
    return;
  case CMD_STLS:
    cmd_stls(s, arg, a);
    return;
  case CMD_USER:
    cmd_user(s, arg, a);
    return;
  case CMD_PASS:
    cmd_pass(s, arg, a);
    return;
  case CMD_APOP: {
    char *argv[POP3_MAX_ARGS];
    int argc = split_args(arg, argv, POP3_MAX_ARGS);
    cmd_apop(s, argv, argc, a);
    return;
  }
  case CMD_AUTH:
    cmd_auth(s, arg, a);
    return;
  case CMD_QUIT:
    if (*arg)
      client_error(s, a, "-ERR Usage: QUIT");
    else
      cmd_quit(s, a);
    return;
  default:
    transaction(s, cmd, arg, a);
    return;
  }
}

/* ---- the protocol table ---------------------------------------------------
 */

static enum mp_fake_kind pop3_classify(struct mp_fake_session *s,
                                       const char *line, size_t len,
                                       const char **verb, size_t *verb_len)
{
  struct pop3 *m = s->proto;
  (void)len;
  if (m->state == POP3_SASL)
    return MP_KIND_INPUT;
  *verb = line;
  *verb_len = strcspn(line, " ");
  return MP_KIND_COMMAND;
}

static void pop3_line(struct mp_fake_session *s, char *line, size_t len,
                      enum mp_fake_kind kind, int replaced,
                      struct mp_fake_answer *a)
{
  struct pop3 *m = s->proto;
  (void)kind;
  switch (m->state) {
  case POP3_SASL:
    sasl_line(s, line, len, replaced, a);
    return;
  case POP3_DONE:
    return; /* QUIT was answered: nothing more */
  case POP3_AUTHORIZATION:
  case POP3_TRANSACTION:
  default:
    if (!replaced)
      command(s, line, len, a);
    return;
  }
}

/* RFC 2595 4: after the handshake the server forgets what the client said
 * before; a USER given in clear does not carry over. */
static void pop3_tls_started(struct mp_fake_session *s)
{
  struct pop3 *m = s->proto;
  end_auth(m);
  free(m->user);
  m->user = NULL;
  if (m->state != POP3_TRANSACTION)
    set_state(s, POP3_AUTHORIZATION);
}

/* RFC 1939 3: the autologout timer ends the session without entering the
 * UPDATE state, so nothing is deleted. */
static void pop3_timeout(struct mp_fake_session *s, struct mp_fake_answer *a)
{
  (void)s;
  mp_fake_answer_line(a, "-ERR Disconnected for inactivity.");
}

const struct mp_fake_protocol mp_fake_pop3_proto = {
    .name = "pop3",
    .max_line = POP3_MAX_LINE,
    .open = pop3_open,
    .close = pop3_close,
    .greeting = pop3_greeting,
    .classify = pop3_classify,
    .line = pop3_line,
    .raw = NULL,
    .tls_started = pop3_tls_started,
    .timeout = pop3_timeout,
};
