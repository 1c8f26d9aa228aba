/* The round trip: an SMTP probe that sends a tokened message, then POP3 or
 * IMAP probes that look for it every poll interval until the email timeout
 * and delete it (probes/roundtrip.h). Only messages whose X-Mailprobe-Token
 * starts with our prefix are ever touched. */
#include "probes/roundtrip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "wire/codec.h"
#include "wire/conn.h"
#include "wire/errors.h"
#include "wire/grow.h"
#include "wire/timer.h"

struct rt {
  struct uv_loop_s *loop;
  struct mp_rt_opts o;
  char *owned[4];
  mp_rt_cb cb;
  void *data;
  char token[MP_RT_TOKEN_MAX];
  char prefix[MP_RT_TOKEN_MAX];
  char *msg;
  size_t msg_len;
  struct mp_result *res;
  struct mp_timer *timer;
  uint64_t t0_us, sent_at_us, deadline_us, fetch_t0_us;
};

int mp_rt_token(const char *id, char *buf, size_t cap)
{
  unsigned char rnd[8];
  char hex[17];
  if (mp_random(rnd, sizeof(rnd)) < 0)
    return MP_E_NO_RESOURCES;
  mp_hex(rnd, sizeof(rnd), hex);
  int n = snprintf(buf, cap, "mailprobe.%s.%s", id ? id : "rt", hex);
  return n > 0 && (size_t)n < cap ? 0 : MP_E_NO_RESOURCES;
}

char *mp_rt_message(const char *from, const char *to, const char *subject,
                    const char *token, size_t *len)
{
  return mp_rt_message_with(from, to, subject, token, NULL, 0, NULL, 0, len);
}

/* The header's name is name (case-insensitive, RFC 5322 1.2.2). */
static int header_named(const char *line, const char *name)
{
  size_t n = strlen(name);
  return strncasecmp(line, name, n) == 0 && line[n] == ':';
}

int mp_rt_header_ok(const char *line)
{
  static const char *const ours[] = {"From", "To",         "Subject",
                                     "Date", "Message-ID", "X-Mailprobe-Token"};
  const char *p = line;
  while (*p > 32 && *p < 127 && *p != ':')
    p++;
  if (p == line || *p != ':' || strpbrk(line, "\r\n"))
    return 0;
  for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
    if (header_named(line, ours[i]))
      return 0;
  return 1;
}

/* Appends n bytes to the message being built; -1 when out of memory. */
static int put(char **m, size_t *len, size_t *cap, const char *s, size_t n)
{
  if (*len + n + 1 > *cap && mp_grow(m, cap, *len + n + 1, 1024) < 0)
    return -1;
  memcpy(*m + *len, s, n);
  *len += n;
  (*m)[*len] = '\0';
  return 0;
}

char *mp_rt_message_with(const char *from, const char *to, const char *subject,
                         const char *token, const char *const *headers,
                         size_t nheaders, const char *body, size_t body_len,
                         size_t *len)
{
  char date[64];
  time_t now = time(NULL);
  struct tm tm;
  int own_type = 0;
  gmtime_r(&now, &tm);
  /* RFC 5322 3.3 date-time. */
  strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
  for (size_t i = 0; i < nheaders; i++)
    if (header_named(headers[i], "Content-Type"))
      own_type = 1;
  static const char fmt[] = "From: <%s>\r\n"
                            "To: <%s>\r\n"
                            "Subject: %s %s\r\n"
                            "Date: %s\r\n"
                            "Message-ID: <%s@mailprobe.invalid>\r\n"
                            "X-Mailprobe-Token: %s\r\n"
                            "MIME-Version: 1.0\r\n"
                            "%s";
  const char *subj = subject ? subject : "mailprobe round trip";
  const char *type =
      own_type ? "" : "Content-Type: text/plain; charset=us-ascii\r\n";
  int n =
      snprintf(NULL, 0, fmt, from, to, subj, token, date, token, token, type);
  if (n < 0)
    return NULL;
  char *m = malloc((size_t)n + 1);
  size_t l = (size_t)n, cap = (size_t)n + 1;
  if (!m)
    return NULL;
  snprintf(m, cap, fmt, from, to, subj, token, date, token, token, type);
  int bad = 0;
  for (size_t i = 0; i < nheaders && !bad; i++)
    bad = put(&m, &l, &cap, headers[i], strlen(headers[i])) ||
          put(&m, &l, &cap, "\r\n", 2);
  if (!bad)
    bad = put(&m, &l, &cap, "\r\n", 2);
  if (!body) {
    static const char ours[] = "This message tests mail delivery; mailprobe "
                               "deletes it when it arrives.\r\n";
    body = ours;
    body_len = sizeof(ours) - 1;
  }
  /* RFC 5322 2.3: CRLF line ends, bare LF made CRLF; the SMTP half does
   * the dot-stuffing (RFC 5321 4.5.2). */
  for (size_t i = 0; i < body_len && !bad; i++) {
    if (body[i] == '\n' && (i == 0 || body[i - 1] != '\r'))
      bad = put(&m, &l, &cap, "\r\n", 2);
    else
      bad = put(&m, &l, &cap, body + i, 1);
  }
  if (!bad && (l < 2 || m[l - 2] != '\r' || m[l - 1] != '\n'))
    bad = put(&m, &l, &cap, "\r\n", 2);
  if (bad) {
    free(m);
    return NULL;
  }
  *len = l;
  return m;
}

static void rt_free(struct rt *rt)
{
  mp_timer_free(rt->timer);
  mp_result_free(rt->res);
  for (size_t i = 0; i < 4; i++)
    free(rt->owned[i]);
  free(rt->msg);
  free(rt);
}

static void rt_finish(struct rt *rt)
{
  struct mp_result *r = rt->res;
  rt->res = NULL;
  r->total_us = mp_now_us() - rt->t0_us;
  rt->cb(r, rt->token, rt->data);
  rt_free(rt);
}

/* Moves a probe's transcript to the end of the round trip's. */
static void take_transcript(struct mp_result *dst, struct mp_result *src,
                            const char *label, uint64_t offset_us)
{
  mp_result_add_line(dst, '*', offset_us, label, strlen(label));
  for (size_t i = 0; i < src->ntranscript; i++) {
    struct mp_transcript_line *l = &src->transcript[i];
    mp_result_add_line(dst, l->dir, l->t_us + offset_us, l->line,
                       strlen(l->line));
  }
}

/* Takes over a failed half's error, phase, reply and detail. */
static void take_failure(struct mp_result *dst, struct mp_result *src,
                         const char *half)
{
  dst->ok = 0;
  dst->err = src->err;
  dst->phase = src->phase;
  /* The failing half's certificate is the one worth showing. */
  if (src->tls_used || src->tls.subject[0]) {
    dst->tls_used = src->tls_used;
    dst->tls = src->tls;
  }
  mp_result_set_reply(dst, src->reply_code, src->reply_text);
  free(dst->resp_code);
  dst->resp_code = src->resp_code;
  src->resp_code = NULL;
  mp_result_set_detail(dst, "%s: %s", half,
                       src->detail ? src->detail : mp_err_message(src->err));
}

static void poll_mailbox(void *data);

static void on_fetched(struct mp_result *r, void *data)
{
  struct rt *rt = data;
  struct mp_result *res = rt->res;
  uint64_t now = mp_now_us();
  res->polls++;
  res->fetch_tls_used = r->tls_used;
  res->fetch_tls = r->tls;
  /* This poll's phases replace the previous poll's. */
  res->timings_us[MP_PHASE_FETCH] = r->timings_us[MP_PHASE_FETCH];
  res->timings_us[MP_PHASE_DELETE] = r->timings_us[MP_PHASE_DELETE];
  res->messages = r->messages;
  res->found = r->found;
  res->deleted = r->deleted;
  int last = !r->ok || r->found > 0 || rt->o.mode == MP_RT_PREVIOUS ||
             now >= rt->deadline_us;
  if (last) {
    char label[64];
    snprintf(label, sizeof(label), "-- fetch (poll %u) --", res->polls);
    take_transcript(res, r, label, rt->fetch_t0_us - rt->t0_us);
  }
  if (!r->ok) {
    take_failure(res, r, "fetch");
    if (r->warn)
      res->warn = 1;
    mp_result_free(r);
    rt_finish(rt);
    return;
  }
  if (r->found > 0) {
    if (rt->o.mode == MP_RT_SAME) {
      int64_t before_delete = (int64_t)r->total_us;
      if (r->timings_us[MP_PHASE_DELETE] > 0)
        before_delete -= r->timings_us[MP_PHASE_DELETE];
      if (r->timings_us[MP_PHASE_QUIT] > 0)
        before_delete -= r->timings_us[MP_PHASE_QUIT];
      uint64_t seen = rt->fetch_t0_us + (uint64_t)before_delete;
      res->delivery_us =
          seen > rt->sent_at_us ? (int64_t)(seen - rt->sent_at_us) : 0;
    }
    res->ok = 1;
    res->phase = r->phase;
    if (r->deleted < r->found) {
      res->warn = 1;
      mp_result_set_detail(res, "found %lld test message(s) but deleted %lld",
                           (long long)r->found, (long long)r->deleted);
    } else if (r->found > 1 && rt->o.mode == MP_RT_SAME) {
      res->warn = 1;
      mp_result_set_detail(res, "the test message arrived %lld times",
                           (long long)r->found);
    }
    mp_result_free(r);
    rt_finish(rt);
    return;
  }
  mp_result_free(r);
  if (rt->o.mode == MP_RT_PREVIOUS) {
    if (rt->o.first_run) {
      res->ok = 1;
      res->phase = MP_PHASE_QUIT;
      mp_result_set_detail(res, "first run: nothing sent before to delete");
    } else {
      res->ok = 0;
      res->err = MP_E_MESSAGE_NOT_DELIVERED;
      res->phase = MP_PHASE_FETCH;
      mp_result_set_detail(res, "no message of an earlier run was there to "
                                "delete");
    }
    rt_finish(rt);
    return;
  }
  if (now >= rt->deadline_us) {
    res->ok = 0;
    res->err = MP_E_MESSAGE_NOT_DELIVERED;
    res->phase = MP_PHASE_FETCH;
    mp_result_set_detail(res,
                         "the message did not arrive within %.1fs "
                         "(%u mailbox checks)",
                         (double)rt->o.email_timeout_ms / 1000.0, res->polls);
    rt_finish(rt);
    return;
  }
  uint64_t wait_ms = rt->o.poll_ms;
  uint64_t left_ms = (rt->deadline_us - now) / 1000;
  if (wait_ms > left_ms)
    wait_ms = left_ms;
  mp_timer_start(rt->timer, wait_ms, poll_mailbox, rt);
}

static void poll_mailbox(void *data)
{
  struct rt *rt = data;
  struct mp_probe_opts f = rt->o.fetch;
  if (rt->o.mode == MP_RT_PREVIOUS) {
    f.find_token = rt->prefix;
    f.keep_token = rt->token;
  } else {
    f.find_token = rt->token;
    f.keep_token = NULL;
  }
  rt->fetch_t0_us = mp_now_us();
  int rc = mp_probe_start(rt->loop, &f, on_fetched, rt);
  if (rc < 0) {
    rt->res->ok = 0;
    rt->res->err = rc;
    rt->res->phase = MP_PHASE_FETCH;
    mp_result_set_detail(rt->res, "fetch: could not start: %s",
                         mp_err_message(rc));
    rt_finish(rt);
  }
}

static void on_sent(struct mp_result *r, void *data)
{
  struct rt *rt = data;
  struct mp_result *res = rt->res;
  take_transcript(res, r, "-- send --", 0);
  for (int i = 0; i < MP_PHASE_COUNT; i++)
    res->timings_us[i] = r->timings_us[i];
  res->tls_used = r->tls_used;
  res->tls = r->tls;
  res->send_tls_used = r->tls_used;
  res->send_tls = r->tls;
  res->auth = r->auth;
  res->insecure = r->insecure;
  memcpy(res->address, r->address, sizeof(res->address));
  if (!r->ok) {
    take_failure(res, r, "send");
    mp_result_free(r);
    rt_finish(rt);
    return;
  }
  rt->sent_at_us = r->sent_at_us ? r->sent_at_us : mp_now_us();
  res->sent_at_us = rt->sent_at_us;
  rt->deadline_us = rt->sent_at_us + rt->o.email_timeout_ms * 1000;
  mp_result_free(r);
  poll_mailbox(rt);
}

static char *own(struct rt *rt, size_t slot, const char *s)
{
  if (!s)
    return NULL;
  rt->owned[slot] = strdup(s);
  return rt->owned[slot];
}

int mp_roundtrip_start(struct uv_loop_s *loop, const struct mp_rt_opts *opts,
                       mp_rt_cb cb, void *data)
{
  if (!opts->from || !opts->to || !cb)
    return MP_E_PROTOCOL_ERROR;
  /* The id goes into tokens and IMAP SEARCH keys: keep it to an atom. */
  for (const char *c = opts->id ? opts->id : ""; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
          (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
      return MP_E_PROTOCOL_ERROR;
  struct rt *rt = calloc(1, sizeof(*rt));
  if (!rt)
    return MP_E_NO_RESOURCES;
  rt->loop = loop;
  rt->o = *opts;
  rt->o.from = own(rt, 0, opts->from);
  rt->o.to = own(rt, 1, opts->to);
  rt->o.subject = own(rt, 2, opts->subject);
  rt->o.id = own(rt, 3, opts->id ? opts->id : "rt");
  if (!rt->o.email_timeout_ms)
    rt->o.email_timeout_ms = MP_RT_DEFAULT_EMAIL_TIMEOUT_MS;
  if (!rt->o.poll_ms)
    rt->o.poll_ms = MP_RT_DEFAULT_POLL_MS;
  rt->cb = cb;
  rt->data = data;
  rt->res = mp_result_new();
  rt->timer = mp_timer_new(loop);
  snprintf(rt->prefix, sizeof(rt->prefix), "mailprobe.%s.", rt->o.id);
  if (!rt->res || !rt->timer || !rt->o.from || !rt->o.to || !rt->o.id ||
      mp_rt_token(rt->o.id, rt->token, sizeof(rt->token)) < 0) {
    rt_free(rt);
    return MP_E_NO_RESOURCES;
  }
  rt->res->roundtrip = 1;
  rt->msg = mp_rt_message_with(rt->o.from, rt->o.to, rt->o.subject, rt->token,
                               rt->o.headers, rt->o.nheaders, rt->o.body,
                               rt->o.body_len, &rt->msg_len);
  if (!rt->msg) {
    rt_free(rt);
    return MP_E_NO_RESOURCES;
  }
  struct mp_probe_opts s = opts->send;
  s.proto = MP_PROTO_SMTP;
  s.mail_from = rt->o.from;
  s.rcpt_to = rt->o.to;
  s.message = rt->msg;
  s.message_len = rt->msg_len;
  rt->t0_us = mp_now_us();
  int rc = mp_probe_start(loop, &s, on_sent, rt);
  if (rc < 0) {
    rt_free(rt);
    return rc;
  }
  return 0;
}
