/* A recorded session cut into exchanges (harness/record/record_internal.h):
 * the greeting, then each command with the lines that answered it; which
 * of them the fake server answers itself (a login that worked, a round
 * trip's envelope and mailbox), and how the session ended. */
#include "harness/record/record_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fake_servers/fake.h"
#include "wire/errors.h"
#include "wire/sasl.h"

/* ---- the exchanges -------------------------------------------------- */

static struct xch *push_xch(struct mp_rec_writer *w)
{
  void *p = realloc(w->xs, (w->nx + 1) * sizeof(*w->xs));
  if (!p)
    return NULL;
  w->xs = p;
  struct xch *x = &w->xs[w->nx++];
  memset(x, 0, sizeof(*x));
  return x;
}

static int push_line(struct xch *x, const struct mp_rec_event *e)
{
  if (x->nl == x->capl) {
    size_t cap = x->capl ? x->capl * 2 : 8;
    void *p = realloc(x->lines, cap * sizeof(*x->lines));
    if (!p)
      return -1;
    x->lines = p;
    x->capl = cap;
  }
  if (x->nl == 0)
    x->t_first = e->t_us;
  x->lines[x->nl++] = e;
  return 0;
}

/* The verb of a command line (IMAP: after the tag), upper-cased. */
static void verb_of(enum mp_proto proto, const char *line, char *verb,
                    size_t vlen, char *tag, size_t tlen)
{
  const char *p = line;
  tag[0] = '\0';
  if (proto == MP_PROTO_IMAP) {
    size_t n = strcspn(p, " ");
    snprintf(tag, tlen, "%.*s", (int)n, p);
    p += n;
    while (*p == ' ')
      p++;
  }
  size_t n = strcspn(p, " ");
  if (n >= vlen)
    n = vlen - 1;
  for (size_t i = 0; i < n; i++)
    verb[i] = (char)toupper((unsigned char)p[i]);
  verb[n] = '\0';
}

static int cut(struct mp_rec_writer *w)
{
  const struct mp_rec_session *s = w->s;
  struct xch *cur = NULL;
  for (size_t i = 0; i < s->nev; i++) {
    const struct mp_rec_event *e = &s->ev[i];
    switch (e->kind) {
    case MP_PEV_CONNECTED:
      if (!(cur = push_xch(w)))
        return -1;
      cur->connect = 1;
      cur->t_ref = e->t_us;
      break;
    case MP_PEV_TLS_START:
      if (cur && !cur->connect)
        cur->starttls = 1;
      break;
    case MP_PEV_TLS_DONE:
      if (cur && cur->connect && cur->nl == 0)
        cur->t_ref = e->t_us; /* implicit TLS: the greeting follows it */
      break;
    case MP_PEV_SENT:
      if (e->response && cur) {
        cur->final_from = cur->nl;
        break;
      }
      if (!(cur = push_xch(w)))
        return -1;
      cur->cmd = e;
      cur->t_ref = e->t_us;
      verb_of(w->r->proto, e->data, cur->verb, sizeof(cur->verb), cur->tag,
              sizeof(cur->tag));
      break;
    case MP_PEV_UNREAD:
      if (cur)
        cur->unread = e;
      break;
    case MP_PEV_LINE:
      if (!cur) {
        if (!(cur = push_xch(w)))
          return -1;
        cur->connect = 1;
      }
      if (push_line(cur, e) < 0)
        return -1;
      break;
    default:
      break;
    }
  }
  for (size_t i = 0; i < w->nx; i++) {
    unsigned n = 0;
    for (size_t k = 0; k <= i; k++)
      n += !w->xs[k].connect && strcmp(w->xs[k].verb, w->xs[i].verb) == 0;
    w->xs[i].nth = n;
  }
  return 0;
}

static int is_start_verb(const char *v)
{
  return strcmp(v, "AUTH") == 0 || strcmp(v, "AUTHENTICATE") == 0 ||
         strcmp(v, "LOGIN") == 0 || strcmp(v, "USER") == 0 ||
         strcmp(v, "APOP") == 0;
}

/* A login that worked is left to the fake server, which has its own user
 * and makes its own challenges: the commands of the last attempt. */
/* A round trip's envelope and mailbox commands: the message is new on
 * every run (its token), so the fake server must take it and find it
 * itself. One the server refused stays scripted. */
static void mark_live_mail(struct mp_rec_writer *w)
{
  static const char *const verbs[] = {
      "MAIL",    "RCPT", "DATA",   "STAT",    "LIST",   "UIDL",  "TOP",
      "RETR",    "DELE", "SELECT", "EXAMINE", "SEARCH", "FETCH", "STORE",
      "EXPUNGE", "UID",  "CLOSE",  "NOOP",    NULL};
  for (size_t i = 0; i < w->nx; i++) {
    struct xch *x = &w->xs[i];
    int known = 0;
    for (size_t k = 0; verbs[k]; k++)
      known |= strcmp(x->verb, verbs[k]) == 0;
    if (!known || x->nl == 0)
      continue;
    const char *l = x->lines[x->nl - 1]->data;
    int refused = l[0] == '4' || l[0] == '5' || strncmp(l, "-ERR", 4) == 0 ||
                  (x->tag[0] && strncmp(l, x->tag, strlen(x->tag)) == 0 &&
                   (strstr(l, " NO ") || strstr(l, " BAD ")));
    if (!refused)
      x->live = 1;
  }
}

static void mark_live(struct mp_rec_writer *w)
{
  if (w->roundtrip)
    mark_live_mail(w);
  if (!w->s->auth)
    return;
  size_t last = w->nx;
  for (size_t i = 0; i < w->nx; i++)
    if (!w->xs[i].connect && is_start_verb(w->xs[i].verb))
      last = i;
  if (last == w->nx)
    return;
  w->xs[last].live = 1;
  if (strcmp(w->xs[last].verb, "USER") == 0 && last + 1 < w->nx &&
      strcmp(w->xs[last + 1].verb, "PASS") == 0)
    w->xs[last + 1].live = 1;
  if (strcmp(w->xs[last].verb, "APOP") == 0) {
    /* APOP's digest covers the greeting's timestamp: the fake server's
     * own greeting (with its own timestamp) must go out. */
    w->apop_live = 1;
    for (size_t i = 0; i < w->nx; i++)
      if (w->xs[i].connect)
        w->xs[i].live = 1;
  }
}

static void find_ending(struct mp_rec_writer *w)
{
  const struct mp_rec_session *s = w->s;
  const char *d = s->detail ? s->detail : "";
  if (s->phase == MP_PHASE_TLS && !s->ok && s->err != MP_E_CERT_INVALID) {
    if (s->err == MP_E_TIMEOUT)
      w->tls_fault = MP_TLS_FAULT_STALL;
    else if (s->err == MP_E_CONNECTION_CLOSED)
      w->tls_fault = MP_TLS_FAULT_CLOSE;
    else if (strstr(d, "plain text"))
      w->tls_fault = MP_TLS_FAULT_GARBAGE;
    else
      w->tls_fault = MP_TLS_FAULT_ALERT;
    return;
  }
  if (s->err == MP_E_CONNECTION_CLOSED)
    w->ending = END_CLOSE;
  else if (s->err == MP_E_TIMEOUT)
    w->ending = END_HANG;
  else if (s->ok && s->warn && strstr(d, "no answer to the goodbye"))
    w->ending = END_HANG;
  else if (s->err == MP_E_PROTOCOL_ERROR && strstr(d, "longer than the limit"))
    w->ending = END_LONG;
}

int mp_rec__split(struct mp_rec_writer *w)
{
  if (cut(w) < 0)
    return -1;
  mark_live(w);
  find_ending(w);
  return 0;
}
