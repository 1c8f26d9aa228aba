/* The fake SMTP server's DATA (RFC 5321 4.1.1.4) and what becomes of
 * the message: counted always, kept and delivered to the shared mail store
 * with trace fields (RFC 5321 4.4) when a recipient has a mailbox, as the
 * case's delivery says (later, twice, elsewhere, with another Subject, or
 * never). The server is fake_servers/smtp.c. */
#include "fake_servers/smtp_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fake_servers/mailstore.h"
#include "wire/conn.h"

/* ---- DATA and delivery ------------------------------------------------ */

/* Appends a message line and its CRLF: counted always, kept when the
 * message reaches a mailbox. */
static void msg_append(struct smtp *m, const char *buf, size_t len)
{
  if (m->too_big)
    return;
  if (m->msg_len + len + 2 > SMTP_MAX_MESSAGE) {
    m->too_big = 1;
    return;
  }
  if (m->keep_text) {
    mp_fake_answer_add(&m->text, buf, len);
    mp_fake_answer_add(&m->text, "\r\n", 2);
    if (m->text.oom) {
      m->too_big = 1; /* out of memory: refused as too big */
      return;
    }
  }
  m->msg_len += len + 2;
}

/* The mailboxes the transaction delivers to, as cfg->delivery says (the
 * known recipients, or the redirect user), each once, into to[]; how
 * many. */
static size_t targets(struct mp_fake_session *s, const char **to)
{
  struct smtp *m = s->proto;
  const struct mp_fake_delivery *d = &s->srv->cfg->delivery;
  size_t n = 0;
  if (!s->srv->env.store || d->lose)
    return 0;
  for (size_t i = 0; i < m->nrcpt; i++) {
    const char *u = d->redirect ? d->redirect : m->rcpt[i];
    if (!u)
      continue;
    int dup = 0;
    for (size_t j = 0; j < n; j++)
      dup |= strcasecmp(to[j], u) == 0;
    if (!dup)
      to[n++] = u;
  }
  return n;
}

/* The message as delivered, in one allocation: the trace fields (head),
 * then the text with its Subject replaced (header folding included), or
 * added as the first field when it has none, if subject is set. */
static char *build_message(const char *head, size_t hl, const char *msg,
                           size_t len, const char *subject, size_t *outlen)
{
  size_t cut = 0, cut_end = 0, sl = 0;
  if (subject) {
    size_t at = 0;
    int found = 0;
    while (at < len) {
      const char *nl = memchr(msg + at, '\n', len - at);
      size_t next = nl ? (size_t)(nl - msg) + 1 : len;
      size_t linelen = next - at;
      if (linelen <= 2 && (msg[at] == '\r' || msg[at] == '\n'))
        break; /* the blank line ends the header */
      if (!found && linelen >= 8 && strncasecmp(msg + at, "Subject:", 8) == 0) {
        found = 1;
        cut = at;
        cut_end = next;
        /* RFC 5322 2.2.3: continuation lines start with white space. */
        while (cut_end < len && (msg[cut_end] == ' ' || msg[cut_end] == '\t')) {
          const char *n2 = memchr(msg + cut_end, '\n', len - cut_end);
          cut_end = n2 ? (size_t)(n2 - msg) + 1 : len;
        }
      }
      at = next;
    }
    if (!found)
      cut = cut_end = 0;
    sl = strlen(subject) + 11; /* "Subject: " and CRLF */
  }
  size_t total = hl + len - (cut_end - cut) + sl;
  char *out = malloc(total + 1);
  if (!out)
    return NULL;
  char *o = out;
  memcpy(o, head, hl);
  o += hl;
  memcpy(o, msg, cut);
  o += cut;
  if (subject) {
    memcpy(o, "Subject: ", 9);
    memcpy(o + 9, subject, sl - 11);
    memcpy(o + sl - 2, "\r\n", 2);
    o += sl;
  }
  memcpy(o, msg + cut_end, len - cut_end);
  o += len - cut_end;
  *o = '\0';
  *outlen = total;
  return out;
}

/* The Date of the trace fields, made once a second. */
static const char *trace_date(struct mp_fake_server *srv)
{
  time_t t = time(NULL);
  if (srv->date[0] && srv->date_sec == (int64_t)t)
    return srv->date;
  struct tm tm;
  srv->date[0] = '\0';
  if (gmtime_r(&t, &tm) && strftime(srv->date, sizeof(srv->date),
                                    "%a, %d %b %Y %H:%M:%S +0000", &tm) > 0)
    srv->date_sec = (int64_t)t;
  else
    srv->date[0] = '\0';
  return srv->date;
}

/* Delivers the accepted message as cfg->delivery says: to every known
 * recipient (or the redirect user), once or twice, later, or never. */
static void deliver(struct mp_fake_session *s, const char *qid)
{
  struct smtp *m = s->proto;
  const struct mp_fake_delivery *d = &s->srv->cfg->delivery;
  struct mp_mailstore *st = s->srv->env.store;
  const char *to[SMTP_MAX_RCPT];
  size_t nto = targets(s, to);
  if (nto == 0 || !m->keep_text)
    return; /* (keep_text was set from the same targets at DATA) */
  const char *date = trace_date(s->srv);
  /* RFC 5321 4.4: the trace fields a delivering server adds; "with" as
   * RFC 3848 names it. */
  const char *with = m->helo < 2 ? "SMTP"
                     : s->in_tls ? (m->user ? "ESMTPSA" : "ESMTPS")
                                 : (m->user ? "ESMTPA" : "ESMTP");
  char head[1024];
  int hl =
      snprintf(head, sizeof(head),
               "Return-Path: <%.200s>\r\n"
               "Received: from %.200s by %.200s with %s id %s;\r\n"
               "\t%s\r\n",
               m->from ? m->from : "", m->helo_name ? m->helo_name : "unknown",
               mp_fake_hostname(s->srv), with, qid, date);
  if (hl < 0 || (size_t)hl >= sizeof(head))
    return;
  size_t full_len;
  char *full = build_message(head, (size_t)hl, m->text.buf ? m->text.buf : "",
                             m->msg_len, d->subject, &full_len);
  if (!full)
    return;
  uint64_t now = mp_now_us();
  uint64_t visible = now + d->delay_ms * 1000;
  /* Every copy but the last is a copy; the store keeps the last. */
  size_t copies = nto * (d->duplicate ? 2 : 1);
  for (size_t i = 0; i < copies; i++) {
    const char *u = to[d->duplicate ? i / 2 : i];
    if (i + 1 < copies) {
      mp_mailstore_deliver(st, u, full, full_len, now, visible, NULL);
    } else if (mp_mailstore_deliver_take(st, u, full, full_len, now, visible,
                                         NULL) == 0) {
      full = NULL;
    }
  }
  free(full);
}

/* Writes v in upper-case hex, at least width digits (printf's "%0*X");
 * returns how many. */
static size_t put_hex(char *out, unsigned v, size_t width)
{
  char tmp[2 * sizeof(v)];
  size_t n = 0;
  do {
    tmp[n++] = "0123456789ABCDEF"[v & 15];
    v >>= 4;
  } while (v);
  size_t k = 0;
  for (; k + n < width; k++)
    out[k] = '0';
  while (n)
    out[k++] = tmp[--n];
  return k;
}

void fs_data_line(struct mp_fake_session *s, char *line, size_t len,
                  enum mp_fake_kind kind, int replaced,
                  struct mp_fake_answer *a)
{
  struct smtp *m = s->proto;
  if (kind == MP_KIND_END) {
    mp_fake_set_state(s, SMTP_CMD);
    if (replaced) {
      fs_reset_transaction(m); /* the client was told something else */
      return;
    }
    if (m->too_big) {
      mp_fake_answer_line(a, "552 5.3.4 Error: message file too big");
    } else {
      char qid[32];
      size_t ql = put_hex(qid, s->id, 8);
      ql += put_hex(qid + ql, ++m->queued, 4);
      qid[ql] = '\0';
      deliver(s, qid);
      mp_fake_answer_join(a, "250 2.0.0 Ok: queued as ", qid, NULL);
    }
    fs_reset_transaction(m);
    return;
  }
  /* RFC 5321 4.5.2: a leading dot was doubled by the client. */
  if (len > 0 && line[0] == '.') {
    line++;
    len--;
  }
  if (s->state == SMTP_DATA_HEAD && len == 0)
    mp_fake_set_state(s, SMTP_DATA_BODY);
  msg_append(m, line, len);
}

void fs_cmd_data(struct mp_fake_session *s, struct mp_fake_args *g,
                 struct mp_fake_answer *a)
{
  struct smtp *m = s->proto;
  if (*g->arg)
    mp_fake_client_error(s, a, "501 5.5.4 Syntax: DATA");
  else if (!m->in_mail)
    mp_fake_client_error(s, a, "503 5.5.1 Error: need MAIL command");
  else if (m->nrcpt == 0)
    mp_fake_client_error(s, a, "503 5.5.1 Error: need RCPT command");
  else {
    const char *to[SMTP_MAX_RCPT];
    m->keep_text = targets(s, to) > 0;
    mp_fake_answer_line(a, "354 End data with <CR><LF>.<CR><LF>");
    mp_fake_set_state(s, SMTP_DATA_HEAD);
  }
}
