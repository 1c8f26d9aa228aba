/* The rule engine shared by the fake servers (session.h): finds the rule
 * for an event and sends an answer under it.
 *
 * An answer goes out in stages: the rule's delay (the session is paused, so
 * commands the client pipelined wait their turn), then the bytes (the
 * rule's reply lines instead of the protocol's answer, then the rule's raw
 * bytes, repeated if the rule says so), dripped a few at a time if the rule
 * says so, then the protocol's effect (unless the reply was replaced) and
 * last the rule's `then`.
 *
 * A repeated answer is never built whole: the copies are written as the
 * client takes them (at most PACE_CHUNK bytes a loop turn, none while more
 * than PACE_HIGH wait in the write queue), so "250-" lines without end or
 * an endless line cost the server a few kilobytes, and a client that stops
 * reading leaves the session idle until its timeout. */
#include "fake_servers/session.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/conn.h"
#include "wire/grow.h"

#define PACE_CHUNK 16384      /* bytes written per loop turn */
#define PACE_HIGH (64u << 10) /* queued above this: wait for the client */
#define PACE_WAIT_MS 2        /* ... and look again after this */
/* Pipelined commands answered in a row before the session lets the
 * others run (a loop turn): a flood delays no other session by more. */
#define BURST_MAX 32

/* ---- answers ---------------------------------------------------------- */

/* Room made before formatting a line: most replies fit. */
#define ANSWER_LINE_GUESS 128
/* A session keeps its last answer's buffer up to this size for the next
 * one. */
#define ANSWER_KEEP_MAX 4096

static int answer_reserve(struct mp_fake_answer *a, size_t more)
{
  if (a->oom)
    return -1;
  if (a->len + more + 1 <= a->cap)
    return 0;
  if (mp_grow(&a->buf, &a->cap, a->len + more + 1, 256) < 0) {
    a->oom = 1;
    return -1;
  }
  return 0;
}

void mp_fake_answer_add(struct mp_fake_answer *a, const void *buf, size_t len)
{
  if (len == 0 || answer_reserve(a, len) < 0)
    return;
  memcpy(a->buf + a->len, buf, len);
  a->len += len;
  a->buf[a->len] = '\0';
}

void mp_fake_answer_line(struct mp_fake_answer *a, const char *fmt, ...)
{
  if (a->oom)
    return;
  if (!strchr(fmt, '%')) {
    /* A fixed reply ("250 2.1.0 Ok"): no formatting to do. */
    size_t n = strlen(fmt);
    if (answer_reserve(a, n + 2) < 0)
      return;
    memcpy(a->buf + a->len, fmt, n);
    memcpy(a->buf + a->len + n, "\r\n", 3);
    a->len += n + 2;
    return;
  }
  /* Format into the room there is; only a line that does not fit is
   * formatted a second time, into a bigger buffer. */
  if (answer_reserve(a, ANSWER_LINE_GUESS) < 0)
    return;
  size_t room = a->cap - a->len;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(a->buf + a->len, room, fmt, ap);
  va_end(ap);
  if (n < 0) {
    a->buf[a->len] = '\0';
    return;
  }
  if ((size_t)n + 3 > room) {
    if (answer_reserve(a, (size_t)n + 2) < 0) {
      a->buf[a->len] = '\0';
      return;
    }
    va_start(ap, fmt);
    vsnprintf(a->buf + a->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
  }
  memcpy(a->buf + a->len + (size_t)n, "\r\n", 3);
  a->len += (size_t)n + 2;
}

void mp_fake_answer_join(struct mp_fake_answer *a, const char *first, ...)
{
  va_list ap;
  va_start(ap, first);
  for (const char *p = first; p; p = va_arg(ap, const char *))
    mp_fake_answer_add(a, p, strlen(p));
  va_end(ap);
  mp_fake_answer_add(a, "\r\n", 2);
}

void mp_fake_answer_free(struct mp_fake_answer *a)
{
  free(a->buf);
  memset(a, 0, sizeof(*a));
}

struct mp_fake_answer mp_fake_answer_take(struct mp_fake_session *s)
{
  struct mp_fake_answer a = {0};
  if (s->stage == MP_STAGE_IDLE && s->out.len == 0 && s->out.buf) {
    a.buf = s->out.buf;
    a.cap = s->out.cap;
    a.buf[0] = '\0';
    memset(&s->out, 0, sizeof(s->out));
  }
  return a;
}

void mp_fake_answer_keep(struct mp_fake_session *s, struct mp_fake_answer *a)
{
  if (s->stage == MP_STAGE_IDLE && !s->out.buf && a->buf &&
      a->cap <= ANSWER_KEEP_MAX) {
    memset(&s->out, 0, sizeof(s->out));
    s->out.buf = a->buf;
    s->out.cap = a->cap;
    memset(a, 0, sizeof(*a));
    return;
  }
  mp_fake_answer_free(a);
}

/* ---- matching --------------------------------------------------------- */

int mp_fake_rule_replaces(const struct mp_fake_rule *r)
{
  return r && (r->reply != NULL || r->nreply > 0);
}

/* Does rule r apply to the event? A command line is seen by command rules
 * (its verb) and by line rules (the whole line); a continuation line only
 * by line rules. */
static int rule_applies(const struct mp_fake_rule *r, enum mp_rule_on on,
                        const char *verb, const char *line)
{
  switch (r->on) {
  case MP_ON_COMMAND:
    if (on != MP_ON_COMMAND)
      return 0;
    return !r->match || fnmatch(r->match, verb, FNM_CASEFOLD) == 0;
  case MP_ON_LINE:
    if (on != MP_ON_COMMAND && on != MP_ON_LINE)
      return 0;
    return !r->match || fnmatch(r->match, line, FNM_CASEFOLD) == 0;
  default:
    return r->on == on;
  }
}

const struct mp_fake_rule *
mp_fake_script_match(struct mp_fake_session *s, enum mp_rule_on on,
                     const char *verb, size_t verb_len, const char *line)
{
  const struct mp_fake_config *cfg = s->srv->cfg;
  const struct mp_fake_rule *hit = NULL;
  char v[64];
  if (!(s->srv->rule_events & (1u << on)))
    return NULL; /* no rule could match: none counts, none fires */
  if (verb_len >= sizeof(v))
    verb_len = sizeof(v) - 1;
  if (verb_len)
    memcpy(v, verb, verb_len);
  v[verb_len] = '\0';
  for (size_t i = 0; i < cfg->nrules; i++) {
    const struct mp_fake_rule *r = &cfg->rules[i];
    if (r->when_tls >= 0 && (r->when_tls != 0) != (s->in_tls != 0))
      continue;
    if (r->sessions_from &&
        (s->id < r->sessions_from || s->id > r->sessions_to))
      continue;
    if (!rule_applies(r, on, v, line ? line : ""))
      continue;
    /* Every rule counts every event it matches, fired or not, so "nth: 2"
     * means the second such event of the session whatever came first. */
    s->count[i]++;
    if (hit || (r->nth && s->count[i] != r->nth))
      continue;
    hit = r;
  }
  return hit;
}

/* ---- sending ---------------------------------------------------------- */

static void job_finish(struct mp_fake_session *s);

/* Writes bytes, closing the session if the queue refuses them. */
static int session_write(struct mp_fake_session *s, const char *buf, size_t len)
{
  if (len == 0)
    return 0;
  int rc = mp_conn_write(s->conn, buf, len);
  if (rc < 0)
    mp_conn_abort(s->conn);
  return rc;
}

/* 1 once every byte of the job (every copy of a repeat) was written. */
static int job_written(const struct mp_fake_session *s)
{
  return s->out_off >= s->out.len &&
         (s->rep_left == 0 || s->body_off >= s->out.len);
}

/* Copies up to max bytes of the job's output stream (the answer, then its
 * repeated part again and again) into buf, advancing; returns how many. */
static size_t job_fill(struct mp_fake_session *s, char *buf, size_t max)
{
  size_t n = 0;
  while (n < max && !job_written(s)) {
    if (s->out_off >= s->out.len) {
      s->out_off = s->body_off;
      if (s->rep_left != MP_REPEAT_FOREVER)
        s->rep_left--;
    }
    size_t k = s->out.len - s->out_off;
    if (k > max - n)
      k = max - n;
    memcpy(buf + n, s->out.buf + s->out_off, k);
    s->out_off += k;
    n += k;
  }
  return n;
}

/* Writes up to max bytes of the job's stream. 1 if some went out, 0 if
 * none, -1 when the connection refused them (it is closing). */
static int job_write(struct mp_fake_session *s, size_t max)
{
  char buf[PACE_CHUNK];
  int wrote = 0;
  while (max > 0 && !job_written(s)) {
    size_t n = job_fill(s, buf, max < sizeof(buf) ? max : sizeof(buf));
    if (session_write(s, buf, n) < 0)
      return -1;
    max -= n;
    wrote = 1;
  }
  return wrote;
}

static void on_drip(struct mp_conn *c)
{
  struct mp_fake_session *s = mp_conn_data(c);
  const struct mp_fake_rule *r = s->rule;
  /* A client that does not read gets no more until it does. */
  if (mp_conn_queued(c) < PACE_HIGH && job_write(s, r->drip_bytes) < 0)
    return;
  if (!job_written(s)) {
    if (mp_conn_queued(c) < PACE_HIGH)
      mp_fake_session_touch(s, r->drip_every_ms);
    mp_conn_after(
        c, mp_conn_queued(c) < PACE_HIGH ? r->drip_every_ms : PACE_WAIT_MS,
        on_drip);
    return;
  }
  job_finish(s);
}

/* A repeated answer at full speed, as fast as the client reads it. */
static void on_pace(struct mp_conn *c)
{
  struct mp_fake_session *s = mp_conn_data(c);
  int wrote = 0;
  if (mp_conn_queued(c) < PACE_HIGH) {
    wrote = job_write(s, PACE_CHUNK);
    if (wrote < 0)
      return;
  }
  if (job_written(s)) {
    job_finish(s);
    return;
  }
  if (wrote)
    mp_fake_session_touch(s, 0); /* the client reads: it is not idle */
  mp_conn_after(c, mp_conn_queued(c) < PACE_HIGH ? 0 : PACE_WAIT_MS, on_pace);
}

/* Puts the job's bytes out: all at once, dripped, or paced (a repeat). */
static void job_emit(struct mp_fake_session *s)
{
  const struct mp_fake_rule *r = s->rule;
  if (r && r->drip_bytes > 0 && s->out.len > 0) {
    s->stage = MP_STAGE_DRIP;
    mp_fake_session_pause(s);
    on_drip(s->conn);
    return;
  }
  if (s->rep_left > 0 && s->body_off < s->out.len) {
    s->stage = MP_STAGE_DRIP;
    mp_fake_session_pause(s);
    on_pace(s->conn);
    return;
  }
  if (session_write(s, s->out.buf, s->out.len) < 0)
    return;
  job_finish(s);
}

static void on_delay(struct mp_conn *c)
{
  job_emit(mp_conn_data(c));
}

/* Reading was held back: go on once the client took our answers. */
static void on_unblock(struct mp_conn *c)
{
  struct mp_fake_session *s = mp_conn_data(c);
  if (mp_conn_queued(c) >= PACE_HIGH) {
    mp_conn_after(c, PACE_WAIT_MS, on_unblock);
    return;
  }
  mp_fake_session_resume(s);
}

/* The bytes are out: the effect, then the rule's `then`. */
static void job_finish(struct mp_fake_session *s)
{
  const struct mp_fake_rule *r = s->rule;
  enum mp_rule_then then = r ? r->then : MP_THEN_CONTINUE;
  enum mp_fake_effect fx = s->effect;
  void (*call)(struct mp_fake_session *) = s->call;
  /* A replaced answer has no effect: the client was told something else.
   * The handshake of a TLS event is not an answer, so it always runs. */
  if (s->replaced && fx != MP_FX_HANDSHAKE && !(r && r->take_effect))
    fx = MP_FX_NONE;
  struct mp_fake_answer done = s->out;
  memset(&s->out, 0, sizeof(s->out));
  s->out_off = 0;
  s->body_off = 0;
  s->rep_left = 0;
  s->stage = MP_STAGE_IDLE;
  mp_fake_answer_keep(s, &done);
  s->rule = NULL;
  s->effect = MP_FX_NONE;
  s->call = NULL;

  switch (then) {
  case MP_THEN_CLOSE:
    mp_conn_close(s->conn);
    return;
  case MP_THEN_RESET:
    mp_conn_reset(s->conn);
    return;
  case MP_THEN_HANG:
    /* Never answer again; the idle timeout still ends it. */
    s->hung = 1;
    mp_fake_session_pause(s);
    return;
  default:
    break;
  }
  switch (fx) {
  case MP_FX_CLOSE:
    mp_conn_close(s->conn);
    return;
  case MP_FX_STARTTLS:
    mp_fake_script_tls(s);
    return;
  case MP_FX_HANDSHAKE:
    if (r && r->tls_drip_bytes > 0)
      mp_conn_drip_output(s->conn, r->tls_drip_bytes, r->tls_drip_every_ms);
    mp_fake_session_handshake(s, r && r->tls_fault ? r->tls_fault
                                                   : s->srv->cfg->tls_fault);
    return;
  case MP_FX_CALL:
    if (call)
      call(s);
    break;
  default:
    break;
  }
  if (then == MP_THEN_STARTTLS) {
    mp_fake_script_tls(s);
    return;
  }
  /* A client that pipelines commands and never reads the answers would
   * have us queue every answer: read on only once they are taken (at
   * most PACE_HIGH waits), and after a burst of answers let the other
   * sessions have the loop. */
  if (mp_conn_queued(s->conn) >= PACE_HIGH || ++s->burst >= BURST_MAX) {
    s->burst = 0;
    mp_fake_session_pause(s);
    mp_conn_after(s->conn,
                  mp_conn_queued(s->conn) >= PACE_HIGH ? PACE_WAIT_MS : 0,
                  on_unblock);
    return;
  }
  mp_fake_session_resume(s);
}

void mp_fake_script_run(struct mp_fake_session *s,
                        const struct mp_fake_rule *rule,
                        struct mp_fake_answer *a)
{
  mp_fake_answer_free(&s->out); /* a kept buffer a did not take */
  s->rule = rule;
  s->replaced = mp_fake_rule_replaces(rule);
  s->effect = a->effect;
  s->call = a->call;
  s->out_off = 0;
  s->body_off = 0;
  s->rep_left = 0;
  if (s->replaced) {
    mp_fake_answer_free(a);
    memset(&s->out, 0, sizeof(s->out));
    for (size_t i = 0; i < rule->nreply; i++) {
      if (s->srv->proto->rule_line)
        s->srv->proto->rule_line(s, rule->reply[i], &s->out);
      else
        mp_fake_answer_line(&s->out, "%s", rule->reply[i]);
    }
  } else {
    s->out = *a;
    memset(a, 0, sizeof(*a));
  }
  if (rule && rule->repeat > 1) {
    /* The part repeated: send when given, else the whole output. */
    s->body_off = rule->send_len ? s->out.len : 0;
    s->rep_left = rule->repeat == MP_REPEAT_FOREVER ? MP_REPEAT_FOREVER
                                                    : rule->repeat - 1;
  }
  if (rule && rule->send_len)
    mp_fake_answer_add(&s->out, rule->send, rule->send_len);
  if (s->out.oom) {
    mp_fake_answer_free(&s->out);
    mp_conn_abort(s->conn);
    return;
  }
  if (rule && rule->delay_ms > 0) {
    s->stage = MP_STAGE_DELAY;
    mp_fake_session_pause(s);
    mp_fake_session_touch(s, rule->delay_ms);
    mp_conn_after(s->conn, rule->delay_ms, on_delay);
    return;
  }
  job_emit(s);
}

void mp_fake_script_greet(struct mp_fake_session *s)
{
  const struct mp_fake_rule *r =
      mp_fake_script_match(s, MP_ON_CONNECT, NULL, 0, NULL);
  struct mp_fake_answer a = {0};
  s->greeted = 1;
  s->srv->proto->greeting(s, mp_fake_rule_replaces(r) && !r->take_effect, &a);
  mp_fake_script_run(s, r, &a);
}

void mp_fake_script_tls(struct mp_fake_session *s)
{
  const struct mp_fake_rule *r =
      mp_fake_script_match(s, MP_ON_TLS, NULL, 0, NULL);
  struct mp_fake_answer a = {0};
  a.effect = MP_FX_HANDSHAKE;
  mp_fake_script_run(s, r, &a);
}
