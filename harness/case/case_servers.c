/* servers: in a case file: the fake servers and their scripts, into
 * struct mp_fake_config (docs/case-format.md "Servers"). */
#include "harness/case/case_yaml.h"

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
/* ------------------------------------------------------------------ */
/* Servers. */

void cy_free_strv(char **v, size_t n)
{
  if (v == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

/* Splits a reply into lines: on "\n", one trailing "\n" (a YAML block
 * scalar's) dropped, a "\r" before each "\n" dropped. */
static int push_reply_lines(struct ctx *x, const struct ynode *n,
                            struct mp_fake_rule *r)
{
  const char *s = n->str;
  size_t len = n->len;
  if (memchr(s, '\0', len) != NULL)
    return cy_fail(x, n,
                   "a reply line cannot hold a NUL byte; use send: for "
                   "raw bytes");
  if (len > 0 && s[len - 1] == '\n')
    len--;
  for (;;) {
    const char *nl = memchr(s, '\n', len);
    size_t l = nl ? (size_t)(nl - s) : len;
    size_t keep = l > 0 && s[l - 1] == '\r' ? l - 1 : l;
    if (memchr(s, '\r', keep) != NULL)
      return cy_fail(x, n,
                     "a reply line cannot hold a carriage return; use "
                     "send: for raw bytes");
    if (cy_strv_push(x, &r->reply, &r->nreply, s, keep) < 0)
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
  if (n->kind == Y_SCALAR && !cy_is_null(n))
    return push_reply_lines(x, n, r);
  if (n->kind != Y_SEQ)
    return cy_wrong_type(x, "reply", n, "a string or a list of lines");
  for (size_t i = 0; i < n->nkids; i++) {
    const struct ynode *it = n->kids[i];
    if (it->kind != Y_SCALAR || cy_is_null(it))
      return cy_fail(x, it, "each line of 'reply' must be a string, not %s",
                     cy_describe(it));
    if (push_reply_lines(x, it, r) < 0)
      return -1;
  }
  if (r->reply == NULL) {
    /* reply: [] answers nothing: a non-NULL array of no lines. */
    r->reply = calloc(1, sizeof *r->reply);
    if (r->reply == NULL)
      return cy_oom(x);
  }
  return 0;
}

/* drip (key "drip") and tls_drip: DUR (one byte each DUR) or {bytes: N,
 * every: DUR}; every may be 0 (a piece per loop turn). like is the example
 * a missing 'every' names. */
static int get_drip_spec(struct ctx *x, const char *key, const char *like,
                         const struct ynode *n, uint32_t *nbytes,
                         uint64_t *every_ms)
{
  static const char *const keys[] = {"bytes", "every", NULL};
  const struct ynode *v;
  long long bytes = 1;

  if (n->kind == Y_SCALAR)
    return cy_get_dur_ms(x, key, n, 0, every_ms) < 0 ? -1 : (*nbytes = 1, 0);
  if (n->kind != Y_MAP)
    return cy_wrong_type(x, key, n, "a duration or {bytes: N, every: DUR}");
  if (cy_check_keys(x, n, key, keys) < 0)
    return -1;
  if ((v = cy_get(n, "bytes")) != NULL &&
      cy_get_int(x, "bytes", v, 1, 65536, &bytes) < 0)
    return -1;
  if ((v = cy_get(n, "every")) == NULL)
    return cy_fail(x, n, "%s: missing required key 'every' (like every: %s)",
                   key, like);
  if (cy_get_dur_ms(x, "every", v, 0, every_ms) < 0)
    return -1;
  *nbytes = (uint32_t)bytes;
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

  if (n->kind != Y_SCALAR || cy_is_null(n))
    return cy_wrong_type(x, "send_hex", n,
                         "hex digit pairs, like \"ff fe 0d 0a\"");
  cap = r->send_len + n->len / 2 + 1;
  p = realloc(r->send, cap);
  if (p == NULL)
    return cy_oom(x);
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
      return cy_fail(x, n,
                     "'send_hex' takes pairs of hex digits (spaces between "
                     "pairs allowed), like \"ff fe 0d 0a\"; not '%s'",
                     cy_shown(x, n));
    p[r->send_len + nbytes++] = (char)v;
    i += 2;
  }
  if (nbytes == 0)
    return cy_fail(x, n, "'send_hex' holds no bytes");
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
  if (n->kind != Y_SCALAR || !n->plain || !cy_is_int(n->str))
    return cy_wrong_type(x, "repeat", n, "a whole number or forever");
  if (cy_get_int(x, "repeat", n, 1, 1000000000, &v) < 0)
    return -1;
  r->repeat = (uint64_t)v;
  return 0;
}

static int get_on(struct ctx *x, const struct ynode *n,
                  const struct mp_fake_config *s, struct mp_fake_rule *r)
{
  const char *pname = cy_proto_names[s->proto].name;
  /* The verbs a rule can match are the ones the server dispatches: its
   * own command table answers (fake.h), so the two cannot drift. */
  const char *verbs[64];
  char verb[32], list[512];
  const char *near;
  size_t i;

  if (n->kind != Y_SCALAR || cy_is_null(n))
    return cy_wrong_type(x, "on", n,
                         "connect, tls, message, a command verb or line:GLOB");
  if (memchr(n->str, '\0', n->len) != NULL || strpbrk(n->str, "\r\n"))
    return cy_fail(x, n, "'on' must be one line");
  if (strncasecmp(n->str, "line:", 5) == 0) {
    const char *glob = n->str + 5;
    glob += strspn(glob, " ");
    if (*glob == '\0')
      return cy_fail(x, n, "'line:' needs a glob, like line:AUTH PLAIN*");
    r->on = MP_ON_LINE;
    r->match = strdup(glob);
    return r->match == NULL ? cy_oom(x) : 0;
  }
  if (strcasecmp(n->str, "connect") == 0) {
    r->on = MP_ON_CONNECT;
    return 0;
  }
  if (strcasecmp(n->str, "tls") == 0) {
    if (s->tls == MP_FAKE_TLS_NONE)
      return cy_fail(x, n,
                     "'on: tls' needs a server with tls: starttls or "
                     "implicit");
    r->on = MP_ON_TLS;
    return 0;
  }
  if (strcasecmp(n->str, "message") == 0) {
    if (s->proto != MP_FAKE_SMTP)
      return cy_fail(x, n,
                     "'on: message' (the end of DATA) is for smtp "
                     "servers");
    r->on = MP_ON_MESSAGE;
    return 0;
  }
  if (strchr(n->str, ' ') != NULL)
    return cy_fail(x, n,
                   "'on' takes a command verb alone; to match the whole line "
                   "write 'line:%s*'",
                   cy_shown(x, n));
  for (i = 0; n->str[i] != '\0' && i + 1 < sizeof verb; i++)
    verb[i] = (char)toupper((unsigned char)n->str[i]);
  verb[i] = '\0';
  if (mp_fake_verb_known(s->proto, verb)) {
    r->on = MP_ON_COMMAND;
    r->match = strdup(verb);
    return r->match == NULL ? cy_oom(x) : 0;
  }
  for (i = 0; i + 1 < sizeof verbs / sizeof *verbs; i++)
    if ((verbs[i] = mp_fake_verb(s->proto, i)) == NULL)
      break;
  verbs[i] = NULL;
  near = cy_closest(verb, verbs);
  cy_join(list, sizeof list, verbs);
  if (near != NULL)
    return cy_fail(x, n,
                   "unknown %s command '%s' (did you mean '%s'?); 'on' takes "
                   "connect, tls, message, line:GLOB or one of %s",
                   pname, cy_shown(x, n), near, list);
  return cy_fail(x, n,
                 "unknown %s command '%s'; 'on' takes connect, tls, message, "
                 "line:GLOB or one of %s",
                 pname, cy_shown(x, n), list);
}

static int parse_rule(struct ctx *x, const struct ynode *n,
                      const struct mp_fake_config *s, struct mp_fake_rule *r)
{
  static const char *const keys[] = {
      "on",       "nth",      "when",        "delay",     "reply",
      "send",     "drip",     "then",        "tls_fault", "repeat",
      "tls_drip", "send_hex", "take_effect", "sessions",  NULL};
  const struct ynode *v;
  long long nth;
  int e;
  uint64_t us;

  if (n->kind != Y_MAP)
    return cy_fail(x, n,
                   "a script rule must be a map (on: ..., reply: ...), not %s",
                   cy_describe(n));
  if (cy_check_keys(x, n, "a script rule", keys) < 0)
    return -1;
  if ((v = cy_get(n, "on")) == NULL)
    return cy_fail(x, n,
                   "a script rule needs 'on' (connect, tls, message, a "
                   "command verb or line:GLOB)");
  if (get_on(x, v, s, r) < 0)
    return -1;
  if ((v = cy_get(n, "nth")) != NULL) {
    if (cy_get_int(x, "nth", v, 1, 1000000, &nth) < 0)
      return -1;
    r->nth = (unsigned)nth;
  }
  if ((v = cy_get(n, "sessions")) != NULL &&
      cy_get_range(x, "sessions", v, &r->sessions_from, &r->sessions_to) < 0)
    return -1;
  if ((v = cy_get(n, "when")) != NULL) {
    if (cy_get_enum(x, "when", v, when_names, &r->when_tls) < 0)
      return -1;
    if (r->when_tls == 1 && s->tls == MP_FAKE_TLS_NONE)
      return cy_fail(x, v,
                     "'when: after_tls' never fires on a server with "
                     "tls: none");
  }
  if ((v = cy_get(n, "delay")) != NULL) {
    if (cy_get_dur(x, "delay", v, &us) < 0)
      return -1;
    r->delay_ms = cy_us_to_ms(us);
  }
  if ((v = cy_get(n, "reply")) != NULL && get_reply(x, v, r) < 0)
    return -1;
  if ((v = cy_get(n, "send")) != NULL) {
    if (v->kind != Y_SCALAR || cy_is_null(v))
      return cy_wrong_type(x, "send", v, "a string of bytes");
    r->send = malloc(v->len + 1);
    if (r->send == NULL)
      return cy_oom(x);
    memcpy(r->send, v->str, v->len + 1);
    r->send_len = v->len;
  }
  if ((v = cy_get(n, "send_hex")) != NULL && get_send_hex(x, v, r) < 0)
    return -1;
  if ((v = cy_get(n, "drip")) != NULL &&
      get_drip_spec(x, "drip", "1s", v, &r->drip_bytes, &r->drip_every_ms) < 0)
    return -1;
  if (cy_opt_enum(x, n, "then", then_names, (int)r->then, &e) < 0)
    return -1;
  r->then = (enum mp_rule_then)e;
  if ((v = cy_get(n, "tls_fault")) != NULL) {
    if (cy_get_enum(x, "tls_fault", v, tls_fault_names, &e) < 0)
      return -1;
    if (r->on != MP_ON_TLS)
      return cy_fail(x, v, "tls_fault in a rule needs 'on: tls'");
    r->tls_fault = (enum mp_tls_fault)e;
  }
  if ((v = cy_get(n, "repeat")) != NULL) {
    if (get_repeat(x, v, r) < 0)
      return -1;
    if (cy_get(n, "reply") == NULL && r->send == NULL)
      return cy_fail(x, v,
                     "'repeat' repeats send (or, without send, the reply): "
                     "give the rule one of them");
    if (r->send != NULL && r->send_len == 0)
      return cy_fail(x, v, "'repeat' of an empty send sends nothing");
  }
  if ((v = cy_get(n, "take_effect")) != NULL) {
    if (cy_get_bool(x, "take_effect", v, &r->take_effect) < 0)
      return -1;
    if (cy_get(n, "reply") == NULL)
      return cy_fail(x, v,
                     "'take_effect' goes with reply: (without one the server's "
                     "own answer goes out and takes effect anyway)");
  }
  if ((v = cy_get(n, "tls_drip")) != NULL) {
    if (r->on != MP_ON_TLS)
      return cy_fail(x, v,
                     "tls_drip (the server's TLS records in pieces) needs "
                     "'on: tls'");
    if (get_drip_spec(x, "tls_drip", "1ms", v, &r->tls_drip_bytes,
                      &r->tls_drip_every_ms) < 0)
      return -1;
  }
  if (cy_get(n, "delay") == NULL && cy_get(n, "reply") == NULL &&
      r->send == NULL && cy_get(n, "drip") == NULL &&
      cy_get(n, "then") == NULL && cy_get(n, "tls_fault") == NULL &&
      cy_get(n, "tls_drip") == NULL)
    return cy_fail(x, n,
                   "this rule does nothing; give it delay, reply, send, "
                   "drip, then, tls_fault or tls_drip");
  return 0;
}

static int get_users(struct ctx *x, const struct ynode *n,
                     struct mp_fake_config *s)
{
  if ((s->users = cy_entries(x, "users", n, "users", sizeof *s->users)) == NULL)
    return -1;
  for (size_t i = 0; i < n->nkids; i += 2) {
    struct mp_fake_user *u = &s->users[s->nusers++];
    if (cy_get_str(x, "users", n->kids[i], 0, &u->name) < 0 ||
        cy_get_str(x, "password", n->kids[i + 1], 0, &u->password) < 0)
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

  if (n->kind != Y_SCALAR || cy_is_null(n))
    return cy_fail(x, n, "each item of 'mail' must be a message's text, not %s",
                   cy_describe(n));
  if (memchr(n->str, '\0', n->len) != NULL)
    return cy_fail(x, n, "a message in 'mail' cannot hold a NUL byte");
  if (n->len == 0)
    return cy_fail(x, n, "a message in 'mail' is empty");
  for (i = 0; i < n->len; i++)
    lines += n->str[i] == '\n';
  d = malloc(n->len + lines + 3);
  if (d == NULL)
    return cy_oom(x);
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
    return cy_oom(x);
  }
  c->mail = v;
  m = &c->mail[c->nmail];
  m->user = strdup(user);
  m->data = d;
  m->len = o;
  if (m->user == NULL) {
    free(d);
    return cy_oom(x);
  }
  c->nmail++;
  return 0;
}

static int get_mailboxes(struct ctx *x, const struct ynode *n,
                         struct mp_fake_config *s, struct mp_case *c)
{
  static const char *const keys[] = {"messages", "size", "mail", NULL};
  if ((s->mailboxes = cy_entries(x, "mailboxes", n, "mailboxes",
                                 sizeof *s->mailboxes)) == NULL)
    return -1;
  for (size_t i = 0; i < n->nkids; i += 2) {
    struct mp_fake_mailbox *m = &s->mailboxes[s->nmailboxes++];
    const struct ynode *v = n->kids[i + 1], *f, *mail;
    long long count = 0, size = DEFAULT_MESSAGE_SIZE;
    m->size = DEFAULT_MESSAGE_SIZE;
    if (cy_get_str(x, "mailboxes", n->kids[i], 0, &m->user) < 0)
      return -1;
    if (v->kind == Y_SCALAR) {
      if (cy_get_int(x, "messages", v, 0, 100000, &count) < 0)
        return -1;
    } else {
      if (v->kind != Y_MAP)
        return cy_wrong_type(x, m->user, v,
                             "a number of messages or {messages: N, size: "
                             "BYTES, mail: [TEXT]}");
      if (cy_check_keys(x, v, "a mailbox", keys) < 0)
        return -1;
      f = cy_get(v, "messages");
      mail = cy_get(v, "mail");
      if (f == NULL && mail == NULL)
        return cy_fail(x, v,
                       "a mailbox needs 'messages' (generated ones) or "
                       "'mail' (messages written out)");
      if (f != NULL && cy_get_int(x, "messages", f, 0, 100000, &count) < 0)
        return -1;
      if ((f = cy_get(v, "size")) != NULL &&
          cy_get_int(x, "size", f, 1, 64 * 1024 * 1024, &size) < 0)
        return -1;
      if (mail != NULL) {
        if (mail->kind != Y_SEQ)
          return cy_wrong_type(x, "mail", mail, "a list of messages");
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
  if (cy_want_map(x, "delivery", n) < 0 ||
      cy_check_keys(x, n, "delivery", keys) < 0)
    return -1;
  if ((v = cy_get(n, "delay")) != NULL) {
    if (cy_get_dur(x, "delay", v, &us) < 0)
      return -1;
    s->delivery.delay_ms = cy_us_to_ms(us);
  }
  if ((v = cy_get(n, "lose")) != NULL &&
      cy_get_bool(x, "lose", v, &s->delivery.lose) < 0)
    return -1;
  if ((v = cy_get(n, "duplicate")) != NULL &&
      cy_get_bool(x, "duplicate", v, &s->delivery.duplicate) < 0)
    return -1;
  if (cy_opt_str(x, n, "redirect", 0, NULL, &s->delivery.redirect) < 0)
    return -1;
  if (cy_opt_str(x, n, "subject", 0, NULL, &s->delivery.subject) < 0)
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
  /* clang-format off */
  static const char *const keys[] = {
      "protocol",    "tls",      "cert",         "key",
      "hostname",    "users",    "auth",         "auth_requires_tls",
      "advertise",   "withhold", "apop",         "tls_fault",
      "mailboxes",   "delivery", "idle_timeout", "script",
      "tls_version", "cipher",   "tokens",       "oauth",
      NULL};
  /* clang-format on */
  static const struct nv version_names[] = {
      {"TLSv1", 0}, {"TLSv1.1", 1}, {"TLSv1.2", 2}, {"TLSv1.3", 3}, {NULL, 0}};
  const struct ynode *v;
  char where[96];
  int e;

  s->hostname = strdup(DEFAULT_HOSTNAME);
  if (s->hostname == NULL)
    return cy_oom(x);
  if (!valid_name(kn->str))
    return cy_fail(x, kn,
                   "a server name is letters, digits, '-', '_' and '.', not "
                   "'%s'",
                   cy_shown(x, kn));
  s->name = strdup(kn->str);
  if (s->name == NULL)
    return cy_oom(x);
  snprintf(where, sizeof where, "servers.%s", s->name);
  if (cy_want_map(x, s->name, n) < 0 || cy_check_keys(x, n, where, keys) < 0)
    return -1;
  if ((v = cy_get(n, "protocol")) == NULL)
    return cy_fail(x, kn,
                   "%s: missing required key 'protocol' (smtp, pop3, imap "
                   "or oauth)",
                   where);
  if (cy_get_enum(x, "protocol", v, cy_proto_names, &e) < 0)
    return -1;
  s->proto = (enum mp_fake_proto)e;
  if (cy_opt_enum(x, n, "tls", server_tls_names, (int)s->tls, &e) < 0)
    return -1;
  s->tls = (enum mp_fake_tls)e;
  if ((v = cy_get(n, "cert")) != NULL && v->kind == Y_MAP) {
    if (cy_parse_cert_like(x, v, s) < 0)
      return -1;
  } else if (cy_opt_enum(x, n, "cert", cert_names, s->cert, &s->cert) < 0) {
    return -1;
  }
  if ((v = cy_get(n, "tls_version")) != NULL) {
    if (cy_get_enum(x, "tls_version", v, version_names, &e) < 0)
      return -1;
    s->tls_version = strdup(version_names[e].name);
    if (s->tls_version == NULL)
      return cy_oom(x);
  }
  if (cy_opt_str(x, n, "cipher", 0, NULL, &s->cipher) < 0)
    return -1;
  if (cy_opt_enum(x, n, "key", key_names, s->rsa, &s->rsa) < 0)
    return -1;
  if (cy_opt_str(x, n, "hostname", 0, NULL, &s->hostname) < 0)
    return -1;
  if ((v = cy_get(n, "users")) != NULL && get_users(x, v, s) < 0)
    return -1;
  if ((v = cy_get(n, "tokens")) != NULL &&
      cy_parse_tokens(x, v, &s->tokens, &s->ntokens) < 0)
    return -1;
  if ((v = cy_get(n, "oauth")) != NULL && cy_parse_oauth(x, v, s) < 0)
    return -1;
  if ((v = cy_get(n, "auth")) != NULL) {
    if (cy_get_names(x, "auth", v, &s->auth, &s->nauth) < 0)
      return -1;
    s->auth_set = 1;
  }
  if ((v = cy_get(n, "auth_requires_tls")) != NULL &&
      cy_get_bool(x, "auth_requires_tls", v, &s->auth_requires_tls) < 0)
    return -1;
  if ((v = cy_get(n, "advertise")) != NULL &&
      cy_get_strv(x, "advertise", v, 1, &s->advertise, &s->nadvertise) < 0)
    return -1;
  if ((v = cy_get(n, "withhold")) != NULL &&
      cy_get_names(x, "withhold", v, &s->withhold, &s->nwithhold) < 0)
    return -1;
  if ((v = cy_get(n, "apop")) != NULL) {
    if (cy_get_bool(x, "apop", v, &s->apop) < 0)
      return -1;
    if (s->proto != MP_FAKE_POP3)
      return cy_fail(x, v, "'apop' is for pop3 servers");
  }
  if ((v = cy_get(n, "tls_fault")) != NULL) {
    if (cy_get_enum(x, "tls_fault", v, tls_fault_names, &e) < 0)
      return -1;
    s->tls_fault = (enum mp_tls_fault)e;
    if (e != MP_TLS_FAULT_NONE && s->tls == MP_FAKE_TLS_NONE)
      return cy_fail(x, v, "'tls_fault' needs tls: starttls or implicit");
  }
  if ((v = cy_get(n, "mailboxes")) != NULL && get_mailboxes(x, v, s, c) < 0)
    return -1;
  if ((v = cy_get(n, "delivery")) != NULL && get_delivery(x, v, s) < 0)
    return -1;
  if ((v = cy_get(n, "idle_timeout")) != NULL &&
      cy_get_dur_ms(x, "idle_timeout", v, 1, &s->idle_timeout_ms) < 0)
    return -1;
  if ((v = cy_get(n, "script")) != NULL) {
    if (v->kind != Y_SEQ)
      return cy_wrong_type(x, "script", v, "a list of rules");
    s->rules = calloc(v->nkids + 1, sizeof *s->rules);
    if (s->rules == NULL)
      return cy_oom(x);
    for (size_t i = 0; i < v->nkids; i++) {
      struct mp_fake_rule *r = &s->rules[s->nrules++];
      r->when_tls = -1;
      if (parse_rule(x, v->kids[i], s, r) < 0)
        return -1;
    }
  }
  return 0;
}

int cy_parse_servers(struct ctx *x, const struct ynode *n, struct mp_case *c)
{
  if ((c->servers =
           cy_entries(x, "servers", n, "servers", sizeof *c->servers)) == NULL)
    return -1;
  /* Token endpoints (protocol oauth) go apart: room for all of them. */
  if ((c->idps = calloc(n->nkids / 2 + 1, sizeof *c->idps)) == NULL)
    return cy_oom(x);
  for (size_t i = 0; i < n->nkids; i += 2) {
    const struct ynode *pv = n->kids[i + 1]->kind == Y_MAP
                                 ? cy_get(n->kids[i + 1], "protocol")
                                 : NULL;
    if (pv && pv->kind == Y_SCALAR && pv->str &&
        strcasecmp(pv->str, "oauth") == 0) {
      /* The fake token endpoint: not a mail server. */
      if (cy_parse_idp(x, n->kids[i], n->kids[i + 1], c) < 0)
        return -1;
      continue;
    }
    struct mp_fake_config *s = &c->servers[c->nservers++];
    if (parse_server(x, n->kids[i], n->kids[i + 1], s, c) < 0)
      return -1;
  }
  return 0;
}

/* The name of a defined server; suggests a close one. */
int cy_server_ref(struct ctx *x, const struct mp_case *c, const struct ynode *n,
                  const char *key)
{
  const char *names[64];
  const char *near;
  size_t m = 0;
  if (n->kind != Y_SCALAR || cy_is_null(n))
    return cy_wrong_type(x, key, n, "the name of a server");
  if (mp_case_find_server(c, n->str) >= 0)
    return 0;
  for (size_t i = 0; i < c->nservers && m + 1 < 64; i++)
    names[m++] = c->servers[i].name;
  names[m] = NULL;
  near = cy_closest(n->str, names);
  if (near != NULL)
    return cy_fail(x, n,
                   "server '%s' is not defined under servers (did you mean "
                   "'%s'?)",
                   cy_shown(x, n), near);
  return cy_fail(x, n, "server '%s' is not defined under servers",
                 cy_shown(x, n));
}
