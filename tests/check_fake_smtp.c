/* Tests for the fake SMTP server (fake_servers/smtp.c) with its script
 * engine and sessions: each test starts a server on 127.0.0.1:0 on a fresh
 * loop, talks to it with an mp_conn client following a list of steps,
 * then stops it and checks that the loop closes with no handle left. */
#include "fake_servers/fake.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "fake_servers/mailstore.h"
#include "wire/cert.h"
#include "wire/conn.h"
#include "wire/errors.h"
#include "wire/tls.h"

#define HOST "mx.example.test"
#define USER "probe@example.test"
#define PLAIN_OK "AHByb2JlQGV4YW1wbGUudGVzdABzM2NyZXQ="  /* s3cret */
#define PLAIN_BAD "AHByb2JlQGV4YW1wbGUudGVzdAB3cm9uZw==" /* wrong */
#define MAXL 512
#define NONE (-1) /* a step after which the server is expected to close */

/* The step tables below name only the fields a step needs. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

struct step {
  const char *send; /* CRLF is added; "" sends nothing; NULL ends */
  int replies;      /* whole replies to wait for; 0 means 1; NONE */
  int tls;          /* start TLS as a client after the replies */
  int raw;          /* then read this many raw bytes (counts as a reply) */
  size_t len;       /* >0: send exactly len bytes, no CRLF */
  size_t bulk;      /* >0: first this many bytes of message lines, paced
                       by the write queue, then send */
};

struct tc {
  uv_loop_t loop;
  struct mp_mailstore *store;
  struct mp_ca *ca;
  struct mp_tls_ctx *cctx;
  struct mp_fake_server *srv;
  struct mp_conn *c;
  const struct step *steps;
  const struct step *cur;
  size_t next;
  long pending;
  int implicit; /* start TLS right after connecting */
  int hold;     /* at the end of the steps, stop the server, not the client */
  void (*after_start)(struct tc *t);
  uint64_t t0;
  char *lines[MAXL];
  uint64_t line_at[MAXL]; /* ms since t0 */
  size_t nlines;
  uint64_t sent_at[64];
  size_t nsent;
  int server_closed;
  uint64_t closed_at;
  int client_err;
  int tls_status;
  int tls_up;
  unsigned char raw[64];
  size_t nraw;
  size_t bulk_left; /* message bytes still to send for the step */
  /* Copied from the server before it stops. */
  char *seen[MAXL];
  unsigned seen_session[MAXL];
  int seen_tls[MAXL];
  uint64_t seen_t[MAXL];
  size_t nseen;
  unsigned sessions;
  int stopping;
  int stopped;
};

static uint64_t ms_since(const struct tc *t)
{
  return (mp_now_us() - t->t0) / 1000;
}

static void snapshot_and_stop(struct tc *t);

static void on_stopped(void *data)
{
  struct tc *t = data;
  t->stopped = 1;
}

static void start_client_tls(struct tc *t);
static void advance(struct tc *t);

/* Sends a step's bulk: lines of 998 characters and CRLF (the last one
 * shorter), at most 1 MiB waiting in the queue, then the step itself. */
static void bulk_pump(struct mp_conn *c)
{
  struct tc *t = mp_conn_data(c);
  static char chunk[65000];
  if (chunk[0] == '\0') {
    for (size_t i = 0; i < sizeof(chunk); i += 1000) {
      memset(chunk + i, 'x', 998);
      memcpy(chunk + i + 998, "\r\n", 2);
    }
  }
  while (t->bulk_left > 0 && mp_conn_queued(c) < (1u << 20)) {
    size_t n = t->bulk_left < sizeof(chunk) ? t->bulk_left : sizeof(chunk);
    if (n < sizeof(chunk)) {
      /* The last piece: a shorter line, still with its CRLF. */
      char last[sizeof(chunk)];
      memcpy(last, chunk, n);
      if (n >= 2)
        memcpy(last + n - 2, "\r\n", 2);
      ck_assert_int_eq(mp_conn_write(c, last, n), 0);
    } else {
      ck_assert_int_eq(mp_conn_write(c, chunk, n), 0);
    }
    t->bulk_left -= n;
  }
  if (t->bulk_left > 0) {
    mp_conn_after(c, 1, bulk_pump);
    return;
  }
  t->pending = 0;
  advance(t); /* now the step itself */
}

/* Sends steps while no reply is awaited. */
static void advance(struct tc *t)
{
  while (t->pending == 0) {
    const struct step *st = &t->steps[t->next];
    if (!st->send) {
      if (t->hold)
        snapshot_and_stop(t);
      else
        mp_conn_close(t->c);
      return;
    }
    if (st->bulk && t->cur != st) {
      t->cur = st;
      t->bulk_left = st->bulk;
      t->pending = LONG_MAX; /* nothing else until the bulk is out */
      bulk_pump(t->c);
      return;
    }
    t->next++;
    t->cur = st;
    if (t->nsent < 64)
      t->sent_at[t->nsent++] = ms_since(t);
    if (st->len) {
      mp_conn_write(t->c, st->send, st->len);
    } else if (st->send[0]) {
      /* One write, so pipelined commands travel together. */
      size_t n = strlen(st->send);
      char *buf = malloc(n + 2);
      memcpy(buf, st->send, n);
      memcpy(buf + n, "\r\n", 2);
      mp_conn_write(t->c, buf, n + 2);
      free(buf);
    }
    t->pending = st->replies == NONE ? LONG_MAX : st->replies ? st->replies : 1;
    if (st->raw)
      mp_conn_expect_raw(t->c, (uint64_t)st->raw);
  }
}

/* One reply (or the raw bytes) arrived. */
static void got_reply(struct tc *t)
{
  if (t->pending == LONG_MAX || --t->pending > 0)
    return;
  if (t->cur && t->cur->tls) {
    start_client_tls(t);
    return;
  }
  advance(t);
}

static void on_client_tls(struct mp_conn *c, int status)
{
  struct tc *t = mp_conn_data(c);
  t->tls_status = status;
  if (status < 0) {
    mp_conn_close(c);
    return;
  }
  t->tls_up = 1;
  if (!t->implicit || t->nlines > 0)
    advance(t);
}

static void start_client_tls(struct tc *t)
{
  int rc = mp_conn_start_tls(t->c, t->cctx, 0, HOST, on_client_tls);
  if (rc < 0) {
    t->tls_status = rc;
    mp_conn_close(t->c);
  }
}

static void on_client_line(struct mp_conn *c, char *line, size_t len)
{
  struct tc *t = mp_conn_data(c);
  if (t->nlines < MAXL) {
    t->line_at[t->nlines] = ms_since(t);
    t->lines[t->nlines++] = strdup(line);
  }
  /* RFC 5321 4.2.1: the last line of a reply has a space after the code. */
  if (len == 3 || (len > 3 && line[3] == ' '))
    got_reply(t);
}

static void on_client_raw(struct mp_conn *c, const char *buf, size_t len,
                          int last)
{
  struct tc *t = mp_conn_data(c);
  for (size_t i = 0; i < len && t->nraw < sizeof(t->raw); i++)
    t->raw[t->nraw++] = (unsigned char)buf[i];
  if (last)
    got_reply(t);
}

static void on_client_error(struct mp_conn *c, int err)
{
  struct tc *t = mp_conn_data(c);
  if (err == MP_E_CONNECTION_CLOSED) {
    t->server_closed = 1;
    t->closed_at = ms_since(t);
  } else {
    t->client_err = err;
  }
}

static void snapshot_and_stop(struct tc *t)
{
  if (t->stopping)
    return;
  t->stopping = 1;
  size_t n;
  const struct mp_fake_seen *seen = mp_fake_seen(t->srv, &n);
  for (size_t i = 0; i < n && i < MAXL; i++) {
    t->seen[i] = strdup(seen[i].line);
    t->seen_session[i] = seen[i].session;
    t->seen_tls[i] = seen[i].tls;
    t->seen_t[i] = seen[i].t_us;
    t->nseen = i + 1;
  }
  t->sessions = mp_fake_sessions(t->srv);
  mp_fake_stop(t->srv, on_stopped, t);
}

static void on_client_close(struct mp_conn *c)
{
  struct tc *t = mp_conn_data(c);
  t->c = NULL;
  snapshot_and_stop(t);
}

static const struct mp_conn_cbs client_cbs = {
    .on_line = on_client_line,
    .on_raw = on_client_raw,
    .on_error = on_client_error,
    .on_close = on_client_close,
};

static void on_connect(struct mp_conn *c, int status)
{
  struct tc *t = mp_conn_data(c);
  ck_assert_int_eq(status, 0);
  if (t->implicit)
    start_client_tls(t);
  /* The greeting is the first awaited reply. */
}

static struct tc *tc_new(void)
{
  struct tc *t = calloc(1, sizeof(*t));
  ck_assert_int_eq(uv_loop_init(&t->loop), 0);
  t->store = mp_mailstore_new();
  return t;
}

/* Trust in the test CA for the client (makes the CA on first use). */
static void tc_tls(struct tc *t)
{
  char err[256];
  t->ca = mp_ca_new("fake smtp test CA", MP_KEY_EC_P256);
  ck_assert_ptr_nonnull(t->ca);
  struct mp_tls_client_opts o = {.ca_pem = mp_ca_pem(t->ca)};
  t->cctx = mp_tls_ctx_client(&o, err, sizeof(err));
  ck_assert_msg(t->cctx != NULL, "%s", err);
}

/* Runs the steps against a server made from cfg; returns when the loop
 * has nothing left. */
static void tc_run(struct tc *t, const struct mp_fake_config *cfg,
                   const struct step *steps)
{
  struct mp_fake_env env = {.ca = t->ca, .store = t->store};
  ck_assert_int_eq(mp_fake_start(&t->loop, cfg, &env, "127.0.0.1", 0, &t->srv),
                   0);
  ck_assert_uint_ne(mp_fake_port(t->srv), 0);
  if (t->after_start)
    t->after_start(t);
  t->steps = steps;
  t->pending = 1;           /* the greeting */
  uv_update_time(&t->loop); /* making certificates took a while */
  t->c = mp_conn_new(&t->loop, &client_cbs, t);
  mp_conn_set_deadline(t->c, 5000); /* a stuck test fails, never hangs */
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", mp_fake_port(t->srv), &addr);
  t->t0 = mp_now_us();
  ck_assert_int_eq(
      mp_conn_connect(t->c, (struct sockaddr *)&addr, 2000, on_connect), 0);
  uv_run(&t->loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(t->stopped, 1);
  ck_assert_int_eq(t->client_err, 0);
}

/* Frees everything; the loop must close: no handle leaked. */
static void tc_free(struct tc *t)
{
  for (size_t i = 0; i < t->nlines; i++)
    free(t->lines[i]);
  for (size_t i = 0; i < t->nseen; i++)
    free(t->seen[i]);
  if (t->cctx)
    mp_tls_ctx_unref(t->cctx);
  mp_ca_free(t->ca);
  mp_mailstore_free(t->store);
  ck_assert_int_eq(uv_loop_close(&t->loop), 0);
  free(t);
}

/* The index of the first received line equal to s, or -1. */
static long line_index(const struct tc *t, const char *s)
{
  for (size_t i = 0; i < t->nlines; i++)
    if (strcmp(t->lines[i], s) == 0)
      return (long)i;
  return -1;
}

static int has_line(const struct tc *t, const char *s)
{
  return line_index(t, s) >= 0;
}

/* Was a line starting with prefix received? */
static int has_prefix(const struct tc *t, const char *prefix)
{
  for (size_t i = 0; i < t->nlines; i++)
    if (strncmp(t->lines[i], prefix, strlen(prefix)) == 0)
      return 1;
  return 0;
}

static int saw(const struct tc *t, const char *s)
{
  for (size_t i = 0; i < t->nseen; i++)
    if (strcmp(t->seen[i], s) == 0)
      return 1;
  return 0;
}

static struct mp_fake_user users[] = {{USER, "s3cret"}};

static struct mp_fake_config smtp_cfg(void)
{
  struct mp_fake_config c;
  memset(&c, 0, sizeof(c));
  c.name = "mx";
  c.proto = MP_FAKE_SMTP;
  return c;
}

/* The message of the delivery tests: one dot-stuffed line. */
static const struct step send_message[] = {
    {"EHLO client.test"},
    {"MAIL FROM:<sender@example.test>"},
    {"RCPT TO:<" USER ">"},
    {"DATA"},
    {"From: sender@example.test\r\nSubject: hello\r\n\r\nbody\r\n..dot\r\n."},
    {"QUIT", NONE},
    {NULL}};

/* ---- greeting, EHLO, HELO ------------------------------------------- */

START_TEST(greeting_and_quit)
{
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  static const struct step steps[] = {{"QUIT", NONE}, {NULL}};
  tc_run(t, &cfg, steps);
  ck_assert_uint_eq(t->nlines, 2);
  ck_assert_str_eq(t->lines[0], "220 " HOST " ESMTP mailprobe-fake");
  ck_assert_str_eq(t->lines[1], "221 2.0.0 Bye");
  ck_assert(t->server_closed);
  ck_assert_uint_eq(t->sessions, 1);
  tc_free(t);
}
END_TEST

struct ehlo_case {
  const char *name;
  void (*setup)(struct mp_fake_config *c);
  int tls;               /* needs a CA */
  const char *want[6];   /* lines that must be in the EHLO reply */
  const char *absent[6]; /* prefixes that must not */
};

static void setup_plain(struct mp_fake_config *c)
{
  (void)c;
}

static void setup_users(struct mp_fake_config *c)
{
  c->users = users;
  c->nusers = 1;
}

static char *auth_plain_only[] = {"PLAIN"};
static void setup_auth_list(struct mp_fake_config *c)
{
  setup_users(c);
  c->auth = auth_plain_only;
  c->nauth = 1;
  c->auth_set = 1;
}

static void setup_auth_empty(struct mp_fake_config *c)
{
  setup_users(c);
  c->auth_set = 1;
}

static void setup_starttls(struct mp_fake_config *c)
{
  c->tls = MP_FAKE_TLS_STARTTLS;
  setup_users(c);
}

static void setup_auth_requires_tls(struct mp_fake_config *c)
{
  setup_starttls(c);
  c->auth_requires_tls = 1;
}

static char *adv[] = {"SIZE 1000", "X-EXTRA"};
static char *hold[] = {"PIPELINING", "STARTTLS"};
static void setup_advertise_withhold(struct mp_fake_config *c)
{
  setup_starttls(c);
  c->advertise = adv;
  c->nadvertise = 2;
  c->withhold = hold;
  c->nwithhold = 2;
  c->hostname = "smtp.other.test";
}

static const struct ehlo_case ehlo_cases[] = {
    {"plain",
     setup_plain,
     0,
     {"250-" HOST, "250-PIPELINING", "250-SIZE 10485760", "250-8BITMIME",
      "250 ENHANCEDSTATUSCODES"},
     {"250-STARTTLS", "250-AUTH", "250 AUTH"}},
    {"users",
     setup_users,
     0,
     {"250 AUTH CRAM-MD5 LOGIN PLAIN"},
     {"250-STARTTLS"}},
    {"auth list", setup_auth_list, 0, {"250 AUTH PLAIN"}, {"250-AUTH"}},
    {"auth empty",
     setup_auth_empty,
     0,
     {"250 ENHANCEDSTATUSCODES"},
     {"250 AUTH", "250-AUTH"}},
    {"starttls",
     setup_starttls,
     1,
     {"250-STARTTLS", "250 AUTH CRAM-MD5 LOGIN PLAIN"},
     {0}},
    {"auth requires tls",
     setup_auth_requires_tls,
     1,
     {"250 STARTTLS"},
     {"250 AUTH", "250-AUTH"}},
    {"advertise and withhold",
     setup_advertise_withhold,
     1,
     {"250-smtp.other.test", "250-SIZE 1000", "250 X-EXTRA"},
     {"250-PIPELINING", "250-STARTTLS", "250-SIZE 10485760"}},
};

START_TEST(ehlo_capabilities)
{
  const struct ehlo_case *ec = &ehlo_cases[_i];
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  ec->setup(&cfg);
  if (ec->tls)
    tc_tls(t);
  static const struct step steps[] = {
      {"EHLO client.test"}, {"QUIT", NONE}, {NULL}};
  tc_run(t, &cfg, steps);
  for (size_t i = 0; i < 6 && ec->want[i]; i++)
    ck_assert_msg(has_line(t, ec->want[i]), "%s: no \"%s\"", ec->name,
                  ec->want[i]);
  for (size_t i = 0; i < 6 && ec->absent[i]; i++)
    ck_assert_msg(!has_prefix(t, ec->absent[i]), "%s: got \"%s\"", ec->name,
                  ec->absent[i]);
  tc_free(t);
}
END_TEST

START_TEST(helo_then_mail)
{
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  static const struct step steps[] = {
      {"MAIL FROM:<a@b.test>"}, {"HELO client.test"},
      {"MAIL FROM:<a@b.test>"}, {"EHLO"},
      {"QUIT", NONE},           {NULL}};
  tc_run(t, &cfg, steps);
  ck_assert_str_eq(t->lines[1], "503 5.5.1 Error: send HELO/EHLO first");
  ck_assert_str_eq(t->lines[2], "250 " HOST);
  ck_assert_str_eq(t->lines[3], "250 2.1.0 Ok");
  ck_assert_str_eq(t->lines[4], "501 5.5.4 Syntax: EHLO hostname");
  tc_free(t);
}
END_TEST

/* Verbs are matched whatever their case (RFC 5321 2.4), whole: a longer
 * or shorter word, or one with a verb inside it, is not that verb. */
START_TEST(verbs_in_any_case)
{
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  static const struct step steps[] = {
      {"helo client.test"},
      {"nOoP"},
      {"StartTLS"},
      {"NOOPS"},
      {"NOO"},
      {"STARTTL"},
      {"RsEt"},
      {"vrfy x"},
      {"exPN x"},
      {"Mail "},
      /* 8 letters that start like a 4-letter verb (ASan: no read past
       * "HELO"; the fuzzer's fake_smtp-1). */
      {"HELOHELO"},
      {"qUiT", NONE},
      {NULL}};
  tc_run(t, &cfg, steps);
  static const char *const want[] = {
      "250 " HOST,
      "250 2.0.0 Ok",
      "454 4.7.0 TLS not available",
      "500 5.5.2 Error: command not recognized",
      "500 5.5.2 Error: command not recognized",
      "500 5.5.2 Error: command not recognized",
      "250 2.0.0 Ok",
      "252 2.0.0 Cannot VRFY user, but will accept message and attempt "
      "delivery",
      "502 5.5.1 Error: EXPN not implemented",
      "501 5.5.4 Syntax: MAIL FROM:<address>",
      "500 5.5.2 Error: command not recognized",
      "221 2.0.0 Bye"};
  ck_assert_uint_eq(t->nlines, 1 + sizeof(want) / sizeof(want[0]));
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
    ck_assert_str_eq(t->lines[i + 1], want[i]);
  tc_free(t);
}
END_TEST

START_TEST(errors_and_error_limit)
{
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  static struct step steps[24];
  steps[0] = (struct step){"FROB"};
  steps[1] = (struct step){"RCPT TO:<x@y.test>"};
  steps[2] = (struct step){"NOOP"};
  for (int i = 3; i < 21; i++)
    steps[i] = (struct step){"BOGUS"};
  steps[20].replies = NONE; /* the 20th bad command */
  steps[21] = (struct step){NULL};
  tc_run(t, &cfg, steps);
  ck_assert_str_eq(t->lines[1], "500 5.5.2 Error: command not recognized");
  ck_assert_str_eq(t->lines[2], "503 5.5.1 Error: need MAIL command");
  ck_assert_str_eq(t->lines[3], "250 2.0.0 Ok");
  ck_assert_uint_eq(t->nlines, 22);
  ck_assert_str_eq(t->lines[20], "500 5.5.2 Error: command not recognized");
  ck_assert_str_eq(t->lines[21], "421 4.7.0 " HOST " Error: too many errors");
  ck_assert(t->server_closed);
  tc_free(t);
}
END_TEST

/* ---- rules ------------------------------------------------------------- */

START_TEST(rule_replaces_greeting_and_closes)
{
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  static char *reply[] = {"421 4.3.2 Service not available"};
  struct mp_fake_rule rules[] = {{.on = MP_ON_CONNECT,
                                  .when_tls = -1,
                                  .reply = reply,
                                  .nreply = 1,
                                  .then = MP_THEN_CLOSE}};
  cfg.rules = rules;
  cfg.nrules = 1;
  static const struct step wait_close[] = {{"", NONE}, {NULL}};
  tc_run(t, &cfg, wait_close);
  ck_assert_uint_eq(t->nlines, 1);
  ck_assert_str_eq(t->lines[0], "421 4.3.2 Service not available");
  ck_assert(t->server_closed);
  ck_assert_uint_eq(t->nseen, 0);
  tc_free(t);
}
END_TEST

START_TEST(delay_rule_holds_pipelined_commands)
{
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  struct mp_fake_rule rules[] = {
      {.on = MP_ON_COMMAND, .match = "ehlo", .when_tls = -1, .delay_ms = 300}};
  cfg.rules = rules;
  cfg.nrules = 1;
  /* EHLO and NOOP in one write (RFC 2920): NOOP waits for EHLO. */
  static const struct step steps[] = {
      {"EHLO client.test\r\nNOOP", 2}, {"QUIT", NONE}, {NULL}};
  tc_run(t, &cfg, steps);
  long e = line_index(t, "250-" HOST);
  long n = line_index(t, "250 2.0.0 Ok");
  ck_assert_int_ge(e, 0);
  ck_assert_int_gt(n, e);
  ck_assert_uint_ge(t->line_at[e] - t->sent_at[0], 290);
  ck_assert_uint_ge(t->line_at[n], t->line_at[e]);
  tc_free(t);
}
END_TEST

START_TEST(nth_rule_fires_once)
{
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  static char *reply[] = {"451 4.3.0 not this time"};
  struct mp_fake_rule rules[] = {{.on = MP_ON_COMMAND,
                                  .match = "NOOP",
                                  .nth = 2,
                                  .when_tls = -1,
                                  .reply = reply,
                                  .nreply = 1}};
  cfg.rules = rules;
  cfg.nrules = 1;
  static const struct step steps[] = {
      {"NOOP"}, {"NOOP"}, {"noop"}, {"QUIT", NONE}, {NULL}};
  tc_run(t, &cfg, steps);
  ck_assert_str_eq(t->lines[1], "250 2.0.0 Ok");
  ck_assert_str_eq(t->lines[2], "451 4.3.0 not this time");
  ck_assert_str_eq(t->lines[3], "250 2.0.0 Ok");
  tc_free(t);
}
END_TEST

START_TEST(line_glob_rule)
{
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  static char *reply[] = {"550-5.7.1 blocked", "550 5.7.1 go away"};
  struct mp_fake_rule rules[] = {{.on = MP_ON_LINE,
                                  .match = "mail from:<*@blocked.test>*",
                                  .when_tls = -1,
                                  .reply = reply,
                                  .nreply = 2}};
  cfg.rules = rules;
  cfg.nrules = 1;
  static const struct step steps[] = {{"EHLO c"},
                                      {"MAIL FROM:<x@blocked.test> SIZE=10"},
                                      {"MAIL FROM:<x@fine.test>"},
                                      {"QUIT", NONE},
                                      {NULL}};
  tc_run(t, &cfg, steps);
  long i = line_index(t, "550-5.7.1 blocked");
  ck_assert_int_ge(i, 0);
  ck_assert_str_eq(t->lines[i + 1], "550 5.7.1 go away");
  /* The replaced MAIL started no transaction: the next one is not nested. */
  ck_assert_str_eq(t->lines[i + 2], "250 2.1.0 Ok");
  tc_free(t);
}
END_TEST

START_TEST(drip_and_send)
{
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  struct mp_fake_rule rules[] = {{.on = MP_ON_CONNECT,
                                  .when_tls = -1,
                                  .send = "250-extra\r\n",
                                  .send_len = 11,
                                  .drip_bytes = 10,
                                  .drip_every_ms = 20}};
  cfg.rules = rules;
  cfg.nrules = 1;
  /* 220 greeting (39 bytes + CRLF) + 11 raw bytes: 6 chunks, 5 pauses. The
   * raw bytes come as their own line after the greeting. */
  static const struct step steps[] = {{"QUIT", NONE}, {NULL}};
  tc_run(t, &cfg, steps);
  ck_assert_str_eq(t->lines[0], "220 " HOST " ESMTP mailprobe-fake");
  ck_assert_str_eq(t->lines[1], "250-extra");
  ck_assert_uint_ge(t->line_at[1], 90);
  ck_assert_str_eq(t->lines[2], "221 2.0.0 Bye");
  tc_free(t);
}
END_TEST

START_TEST(hang_then_idle_timeout)
{
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  struct mp_fake_rule rules[] = {{.on = MP_ON_COMMAND,
                                  .match = "NOOP",
                                  .when_tls = -1,
                                  .then = MP_THEN_HANG}};
  cfg.rules = rules;
  cfg.nrules = 1;
  cfg.idle_timeout_ms = 300;
  static const struct step steps[] = {{"NOOP\r\nQUIT", NONE}, {NULL}};
  tc_run(t, &cfg, steps);
  /* The answer went out, then nothing: not the QUIT's 221, no 421. */
  ck_assert_uint_eq(t->nlines, 2);
  ck_assert_str_eq(t->lines[1], "250 2.0.0 Ok");
  ck_assert(t->server_closed);
  ck_assert_uint_ge(t->closed_at - t->sent_at[0], 290);
  ck_assert(saw(t, "NOOP"));
  ck_assert(!saw(t, "QUIT"));
  tc_free(t);
}
END_TEST

START_TEST(idle_timeout_says_421)
{
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  cfg.idle_timeout_ms = 200;
  /* After NOOP the client says nothing; only the timeout answers. */
  static const struct step steps[] = {{"NOOP"}, {"", NONE}, {NULL}};
  tc_run(t, &cfg, steps);
  ck_assert_uint_eq(t->nlines, 3);
  ck_assert_str_eq(t->lines[2], "421 4.4.2 " HOST " Error: timeout exceeded");
  ck_assert(t->server_closed);
  ck_assert_uint_ge(t->closed_at - t->line_at[1], 190);
  tc_free(t);
}
END_TEST

START_TEST(reset_closes_with_rst)
{
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  struct mp_fake_rule rules[] = {{.on = MP_ON_COMMAND,
                                  .match = "EHLO",
                                  .when_tls = -1,
                                  .reply = (char *[]){NULL},
                                  .nreply = 0,
                                  .then = MP_THEN_RESET}};
  cfg.rules = rules;
  cfg.nrules = 1;
  static const struct step steps[] = {{"EHLO c", NONE}, {NULL}};
  tc_run(t, &cfg, steps);
  ck_assert_uint_eq(t->nlines, 1); /* the greeting, no answer to EHLO */
  ck_assert(t->server_closed);
  tc_free(t);
}
END_TEST

/* ---- AUTH ------------------------------------------------------------- */

struct auth_case {
  const char *name;
  int requires_tls;
  struct step steps[6];
  const char *want; /* the reply after the last AUTH step */
};

static const struct auth_case auth_cases[] = {
    {"plain initial ok",
     0,
     {{"EHLO c"}, {"AUTH PLAIN " PLAIN_OK}, {"QUIT", NONE}, {NULL}},
     "235 2.7.0 Authentication successful"},
    {"plain initial bad",
     0,
     {{"EHLO c"}, {"AUTH PLAIN " PLAIN_BAD}, {"QUIT", NONE}, {NULL}},
     "535 5.7.8 Error: authentication failed"},
    {"plain after 334",
     0,
     {{"EHLO c"}, {"AUTH PLAIN"}, {PLAIN_OK}, {"QUIT", NONE}, {NULL}},
     "235 2.7.0 Authentication successful"},
    {"login",
     0,
     {{"EHLO c"},
      {"AUTH LOGIN"},
      {"cHJvYmVAZXhhbXBsZS50ZXN0"},
      {"czNjcmV0"},
      {"QUIT", NONE},
      {NULL}},
     "235 2.7.0 Authentication successful"},
    {"cancel",
     0,
     {{"EHLO c"}, {"AUTH LOGIN"}, {"*"}, {"QUIT", NONE}, {NULL}},
     "501 5.0.0 Authentication cancelled"},
    {"unknown mechanism",
     0,
     {{"EHLO c"}, {"AUTH X-UNKNOWN"}, {"QUIT", NONE}, {NULL}},
     "504 5.5.4 Unrecognized authentication type"},
    {"before EHLO",
     0,
     {{"AUTH PLAIN " PLAIN_OK}, {"QUIT", NONE}, {NULL}},
     "503 5.5.1 Error: send EHLO first"},
    {"twice",
     0,
     {{"EHLO c"},
      {"AUTH PLAIN " PLAIN_OK},
      {"AUTH PLAIN " PLAIN_OK},
      {"QUIT", NONE},
      {NULL}},
     "503 5.5.1 Error: already authenticated"},
    {"requires tls",
     1,
     {{"EHLO c"}, {"AUTH PLAIN " PLAIN_OK}, {"QUIT", NONE}, {NULL}},
     "530 5.7.0 Must issue a STARTTLS command first"},
};

START_TEST(auth_table)
{
  const struct auth_case *ac = &auth_cases[_i];
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  cfg.users = users;
  cfg.nusers = 1;
  cfg.auth_requires_tls = ac->requires_tls;
  tc_run(t, &cfg, ac->steps);
  /* The reply before the 221. */
  ck_assert_uint_ge(t->nlines, 3);
  ck_assert_str_eq(t->lines[t->nlines - 1], "221 2.0.0 Bye");
  ck_assert_msg(strcmp(t->lines[t->nlines - 2], ac->want) == 0,
                "%s: got \"%s\"", ac->name, t->lines[t->nlines - 2]);
  tc_free(t);
}
END_TEST

/* ---- delivery ---------------------------------------------------------- */

/* The one message in user's INBOX (visible at now + ahead_ms). */
static const struct mp_mail *only_mail(struct tc *t, const char *user,
                                       uint64_t ahead_ms)
{
  uint64_t *ids;
  size_t n;
  ck_assert_int_eq(mp_mailstore_list(t->store, user,
                                     mp_now_us() + ahead_ms * 1000, &ids, &n),
                   0);
  ck_assert_uint_eq(n, 1);
  const struct mp_mail *m = mp_mailstore_get(t->store, user, ids[0]);
  free(ids);
  return m;
}

START_TEST(delivery_lands_in_the_store)
{
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  cfg.users = users;
  cfg.nusers = 1;
  tc_run(t, &cfg, send_message);
  ck_assert(has_line(t, "354 End data with <CR><LF>.<CR><LF>"));
  ck_assert(has_prefix(t, "250 2.0.0 Ok: queued as "));
  const struct mp_mail *m = only_mail(t, USER, 0);
  ck_assert_ptr_nonnull(strstr(m->data, "Return-Path: <sender@example.test>"));
  ck_assert_ptr_nonnull(
      strstr(m->data, "Received: from client.test by " HOST " with ESMTP id "));
  /* Dot-unstuffed (RFC 5321 4.5.2), CRLF lines, no final dot. */
  const char *tail = "Subject: hello\r\n\r\nbody\r\n.dot\r\n";
  ck_assert_uint_ge(m->size, strlen(tail));
  ck_assert_str_eq(m->data + m->size - strlen(tail), tail);
  /* Header lines are in the record, body lines are not. */
  ck_assert(saw(t, "Subject: hello"));
  ck_assert(!saw(t, "body"));
  ck_assert(saw(t, "."));
  tc_free(t);
}
END_TEST

START_TEST(unknown_recipient_and_size)
{
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  cfg.users = users;
  cfg.nusers = 1;
  static const struct step steps[] = {
      {"EHLO c"},
      {"MAIL FROM:<a@b.test> SIZE=20000000"},
      {"MAIL FROM:<a@b.test> FROB=1"},
      {"MAIL FROM:<a@b.test> SIZE=100 BODY=8BITMIME"},
      {"RCPT TO:<nobody@example.test>"},
      {"DATA"},
      {"RCPT TO:<" USER ">"},
      {"QUIT", NONE},
      {NULL}};
  tc_run(t, &cfg, steps);
  size_t b = t->nlines - 8; /* the reply to EHLO is multi-line */
  ck_assert_str_eq(t->lines[b + 1],
                   "552 5.3.4 Message size exceeds fixed limit");
  ck_assert_str_eq(t->lines[b + 2], "555 5.5.4 Unsupported option");
  ck_assert_str_eq(t->lines[b + 3], "250 2.1.0 Ok");
  ck_assert_str_eq(t->lines[b + 4],
                   "550 5.1.1 <nobody@example.test>: Recipient address "
                   "rejected: User unknown in local recipient table");
  ck_assert_str_eq(t->lines[b + 5], "503 5.5.1 Error: need RCPT command");
  ck_assert_str_eq(t->lines[b + 6], "250 2.1.5 Ok");
  tc_free(t);
}
END_TEST

struct delivery_case {
  const char *name;
  struct mp_fake_delivery d;
  const char *user;     /* whose INBOX to look in */
  size_t now, later;    /* messages visible now / after 1 s */
  const char *must;     /* in the delivered message, or NULL */
  const char *must_not; /* not in it, or NULL */
};

static const struct delivery_case delivery_cases[] = {
    {"plain", {0}, USER, 1, 1, "Subject: hello\r\n", NULL},
    {"delay", {.delay_ms = 500}, USER, 0, 1, NULL, NULL},
    {"lose", {.lose = 1}, USER, 0, 0, NULL, NULL},
    {"duplicate", {.duplicate = 1}, USER, 2, 2, NULL, NULL},
    {"redirect",
     {.redirect = "elsewhere@example.test"},
     "elsewhere@example.test",
     1,
     1,
     NULL,
     NULL},
    {"subject",
     {.subject = "replaced"},
     USER,
     1,
     1,
     "Subject: replaced\r\n",
     "Subject: hello"},
};

START_TEST(delivery_table)
{
  const struct delivery_case *dc = &delivery_cases[_i];
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  cfg.users = users;
  cfg.nusers = 1;
  cfg.delivery = dc->d;
  tc_run(t, &cfg, send_message);
  uint64_t now = mp_now_us();
  ck_assert_msg(mp_mailstore_count(t->store, dc->user, now) == dc->now,
                "%s: now", dc->name);
  ck_assert_msg(mp_mailstore_count(t->store, dc->user, now + 1000000) ==
                    dc->later,
                "%s: later", dc->name);
  if (dc->d.redirect)
    ck_assert_uint_eq(mp_mailstore_count(t->store, USER, now + 1000000), 0);
  if (dc->must || dc->must_not) {
    const struct mp_mail *m = only_mail(t, dc->user, 0);
    if (dc->must)
      ck_assert_ptr_nonnull(strstr(m->data, dc->must));
    if (dc->must_not)
      ck_assert_ptr_null(strstr(m->data, dc->must_not));
  }
  tc_free(t);
}
END_TEST

START_TEST(message_rule_rejects)
{
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  cfg.users = users;
  cfg.nusers = 1;
  static char *reply[] = {"554 5.7.1 looks like spam"};
  struct mp_fake_rule rules[] = {
      {.on = MP_ON_MESSAGE, .when_tls = -1, .reply = reply, .nreply = 1}};
  cfg.rules = rules;
  cfg.nrules = 1;
  tc_run(t, &cfg, send_message);
  ck_assert(has_line(t, "554 5.7.1 looks like spam"));
  ck_assert_uint_eq(mp_mailstore_count(t->store, USER, mp_now_us()), 0);
  tc_free(t);
}
END_TEST

/* The trace fields of the first message of session 1: what goes before
 * the message text; the date is checked for its shape. */
static void check_trace(const char *data, const char *with, const char *qid,
                        const char **rest)
{
  char want[256];
  snprintf(want, sizeof(want),
           "Return-Path: <sender@example.test>\r\n"
           "Received: from client.test by " HOST " with %s id %s;\r\n\t",
           with, qid);
  ck_assert_msg(strncmp(data, want, strlen(want)) == 0, "got %.200s", data);
  const char *date = data + strlen(want);
  /* "Sun, 22 Nov 2026 05:03:44 +0000" */
  ck_assert_uint_eq(strcspn(date, "\r"), 31);
  ck_assert(strncmp(date + 25, " +0000\r\n", 8) == 0);
  ck_assert(date[3] == ',' && date[4] == ' ');
  *rest = date + 33;
}

struct exact_case {
  const char *name;
  struct mp_fake_delivery d;
  const char *text;   /* the DATA lines sent, CRLF-separated, no final dot */
  const char *stored; /* the message after the trace fields */
};

static const struct exact_case exact_cases[] = {
    {"plain",
     {0},
     "From: a\r\nSubject: hi\r\n\r\nbody\r\n..dot\r\n",
     "From: a\r\nSubject: hi\r\n\r\nbody\r\n.dot\r\n"},
    {"duplicate",
     {.duplicate = 1},
     "Subject: hi\r\n\r\nb\r\n",
     "Subject: hi\r\n\r\nb\r\n"},
    {"subject replaced",
     {.subject = "new one"},
     "From: a\r\nsubject: old\r\nTo: b\r\n\r\nSubject: in the body\r\n",
     "From: a\r\nSubject: new one\r\nTo: b\r\n\r\nSubject: in the body\r\n"},
    {"folded subject replaced",
     {.subject = "new"},
     "Subject: old\r\n  folded\r\n\tagain\r\nTo: b\r\n\r\nx\r\n",
     "Subject: new\r\nTo: b\r\n\r\nx\r\n"},
    {"subject added",
     {.subject = "added"},
     "From: a\r\n\r\nSubject: body\r\n",
     "Subject: added\r\nFrom: a\r\n\r\nSubject: body\r\n"},
    {"empty message", {0}, "", ""},
};

/* The stored message is exactly the trace fields and the unstuffed text,
 * Subject handled as the delivery says; a duplicate is the same bytes. */
START_TEST(delivery_exact_text)
{
  const struct exact_case *ec = &exact_cases[_i];
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  cfg.users = users;
  cfg.nusers = 1;
  cfg.delivery = ec->d;
  char data[512];
  snprintf(data, sizeof(data), "%s.", ec->text);
  struct step steps[] = {{"EHLO client.test"},
                         {"MAIL FROM:<sender@example.test>"},
                         {"RCPT TO:<" USER ">"},
                         {"RCPT TO:<" USER ">"}, /* twice: delivered once */
                         {"DATA"},
                         {data},
                         {"QUIT", NONE},
                         {NULL}};
  tc_run(t, &cfg, steps);
  ck_assert(has_line(t, "250 2.0.0 Ok: queued as 000000010001"));
  uint64_t *ids;
  size_t n;
  ck_assert_int_eq(mp_mailstore_list(t->store, USER, mp_now_us(), &ids, &n), 0);
  ck_assert_uint_eq(n, ec->d.duplicate ? 2 : 1);
  for (size_t i = 0; i < n; i++) {
    const struct mp_mail *m = mp_mailstore_get(t->store, USER, ids[i]);
    const char *rest;
    check_trace(m->data, "ESMTP", "000000010001", &rest);
    ck_assert_msg(strcmp(rest, ec->stored) == 0, "%s: got \"%s\"", ec->name,
                  rest);
    ck_assert_uint_eq(m->size, (size_t)(rest - m->data) + strlen(ec->stored));
    ck_assert_uint_eq(strlen(m->data), m->size);
  }
  free(ids);
  tc_free(t);
}
END_TEST

/* A session that sends two messages: the second holds nothing of the
 * first (the session reuses its buffer), and both trace fields count. */
START_TEST(two_messages_in_one_session)
{
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  cfg.users = users;
  cfg.nusers = 1;
  static const struct step steps[] = {
      {"HELO client.test"},
      {"MAIL FROM:<sender@example.test>"},
      {"RCPT TO:<" USER ">"},
      {"DATA"},
      {"Subject: first and much longer\r\n\r\nline one\r\nline two\r\n."},
      {"MAIL FROM:<sender@example.test>"},
      {"RCPT TO:<nobody-known@elsewhere.test>"},
      {"RCPT TO:<" USER ">"},
      {"DATA"},
      {"Subject: 2\r\n\r\nb\r\n."},
      {"QUIT", NONE},
      {NULL}};
  tc_run(t, &cfg, steps);
  ck_assert(has_line(t, "250 2.0.0 Ok: queued as 000000010001"));
  ck_assert(has_line(t, "250 2.0.0 Ok: queued as 000000010002"));
  uint64_t *ids;
  size_t n;
  ck_assert_int_eq(mp_mailstore_list(t->store, USER, mp_now_us(), &ids, &n), 0);
  ck_assert_uint_eq(n, 2);
  const char *rest;
  const struct mp_mail *m = mp_mailstore_get(t->store, USER, ids[0]);
  check_trace(m->data, "SMTP", "000000010001", &rest);
  ck_assert_str_eq(rest,
                   "Subject: first and much longer\r\n\r\nline one\r\nline "
                   "two\r\n");
  m = mp_mailstore_get(t->store, USER, ids[1]);
  check_trace(m->data, "SMTP", "000000010002", &rest);
  ck_assert_str_eq(rest, "Subject: 2\r\n\r\nb\r\n");
  free(ids);
  tc_free(t);
}
END_TEST

/* RFC 1870 / 5321: a message past the server's limit is refused at its
 * end with 552, whether its text would be kept (a known recipient) or
 * only counted (no mailbox would receive it); the session goes on. */
START_TEST(message_too_big)
{
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  if (_i) {
    cfg.users = users;
    cfg.nusers = 1;
  }
  static const struct step steps[] = {{"EHLO client.test"},
                                      {"MAIL FROM:<sender@example.test>"},
                                      {"RCPT TO:<" USER ">"},
                                      {"DATA"},
                                      {".", .bulk = 10485760 + 1000},
                                      {"NOOP"},
                                      {"QUIT", NONE},
                                      {NULL}};
  tc_run(t, &cfg, steps);
  long i = line_index(t, "552 5.3.4 Error: message file too big");
  ck_assert_int_ge(i, 0);
  ck_assert_str_eq(t->lines[i + 1], "250 2.0.0 Ok");
  if (_i)
    ck_assert_uint_eq(mp_mailstore_count(t->store, USER, mp_now_us()), 0);
  tc_free(t);
}
END_TEST

/* Just under the limit (text and CRLFs, the final dot not counted), the
 * message is accepted and stored whole. */
START_TEST(message_at_the_limit)
{
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  cfg.users = users;
  cfg.nusers = 1;
  static const struct step steps[] = {{"EHLO client.test"},
                                      {"MAIL FROM:<sender@example.test>"},
                                      {"RCPT TO:<" USER ">"},
                                      {"DATA"},
                                      {".", .bulk = 10485760},
                                      {"QUIT", NONE},
                                      {NULL}};
  tc_run(t, &cfg, steps);
  ck_assert(has_line(t, "250 2.0.0 Ok: queued as 000000010001"));
  const struct mp_mail *m = only_mail(t, USER, 0);
  const char *rest;
  check_trace(m->data, "ESMTP", "000000010001", &rest);
  ck_assert_uint_eq(m->size - (size_t)(rest - m->data), 10485760);
  tc_free(t);
}
END_TEST

/* A reply longer than the first guess of its size is formatted whole. */
START_TEST(long_formatted_reply)
{
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  cfg.users = users;
  cfg.nusers = 1;
  char addr[1201];
  memset(addr, 'a', 1200);
  addr[1200] = '\0';
  memcpy(addr + 1200 - 13, "@example.test", 13);
  char rcpt[1300], want[1400];
  snprintf(rcpt, sizeof(rcpt), "RCPT TO:<%s>", addr);
  snprintf(want, sizeof(want),
           "550 5.1.1 <%s>: Recipient address rejected: User unknown in "
           "local recipient table",
           addr);
  struct step steps[] = {{"EHLO c"}, {"MAIL FROM:<a@b.test>"}, {rcpt},
                         {"NOOP"},   {"QUIT", NONE},           {NULL}};
  tc_run(t, &cfg, steps);
  long i = line_index(t, want);
  ck_assert_int_ge(i, 0);
  ck_assert_str_eq(t->lines[i + 1], "250 2.0.0 Ok");
  tc_free(t);
}
END_TEST

/* The record keeps every line whole and in order, past the first chunk
 * of its text (64 KiB). */
START_TEST(seen_record_many_long_lines)
{
  enum { N = 150, L = 1500 };
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  static char lines[N][L + 1];
  static struct step steps[N + 2];
  for (int i = 0; i < N; i++) {
    int k = snprintf(lines[i], sizeof(lines[i]), "NOOP %d ", i);
    memset(lines[i] + k, 'a' + i % 26, (size_t)(L - k));
    lines[i][L] = '\0';
    steps[i] = (struct step){lines[i]};
  }
  steps[N] = (struct step){"QUIT", NONE};
  steps[N + 1] = (struct step){NULL};
  tc_run(t, &cfg, steps);
  ck_assert_uint_eq(t->nseen, N + 1);
  for (int i = 0; i < N; i++)
    ck_assert_str_eq(t->seen[i], lines[i]);
  ck_assert_str_eq(t->seen[N], "QUIT");
  tc_free(t);
}
END_TEST

/* ---- the record -------------------------------------------------------- */

START_TEST(seen_record)
{
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  static const struct step steps[] = {
      {"EHLO client.test"}, {"NOOP"}, {"QUIT", NONE}, {NULL}};
  tc_run(t, &cfg, steps);
  ck_assert_uint_eq(t->nseen, 3);
  ck_assert_str_eq(t->seen[0], "EHLO client.test");
  ck_assert_str_eq(t->seen[1], "NOOP");
  ck_assert_str_eq(t->seen[2], "QUIT");
  for (size_t i = 0; i < 3; i++) {
    ck_assert_uint_eq(t->seen_session[i], 1);
    ck_assert_int_eq(t->seen_tls[i], 0);
    ck_assert_uint_ge(t->seen_t[i], t->t0);
    if (i > 0)
      ck_assert_uint_ge(t->seen_t[i], t->seen_t[i - 1]);
  }
  tc_free(t);
}
END_TEST

START_TEST(stop_closes_live_sessions)
{
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  t->hold = 1; /* after the steps, stop the server under the client */
  static const struct step steps[] = {{"EHLO c"}, {NULL}};
  tc_run(t, &cfg, steps);
  ck_assert(t->server_closed);
  ck_assert_uint_eq(t->sessions, 1);
  tc_free(t);
}
END_TEST

START_TEST(unknown_protocol_is_refused)
{
  uv_loop_t loop;
  struct mp_fake_server *s = NULL;
  struct mp_fake_config cfg = smtp_cfg();
  cfg.proto = (enum mp_fake_proto)42;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_lt(mp_fake_start(&loop, &cfg, NULL, "127.0.0.1", 0, &s), 0);
  ck_assert_ptr_null(s);
  /* TLS without a CA to sign the certificate is refused too. */
  cfg.proto = MP_FAKE_SMTP;
  cfg.tls = MP_FAKE_TLS_STARTTLS;
  ck_assert_int_eq(mp_fake_start(&loop, &cfg, NULL, "127.0.0.1", 0, &s),
                   MP_E_TLS_FAILED);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static char copied_host[] = "copy.example.test";
static char copied_reply[] = "250 from the rule";

/* Scribbles over the caller's config once the server started. */
static void scribble(struct tc *t)
{
  (void)t;
  copied_host[0] = 'X';
  copied_reply[0] = 'X';
}

START_TEST(config_is_copied)
{
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  char *reply[] = {copied_reply};
  struct mp_fake_rule rules[] = {{.on = MP_ON_COMMAND,
                                  .match = "NOOP",
                                  .when_tls = -1,
                                  .reply = reply,
                                  .nreply = 1}};
  cfg.hostname = copied_host;
  cfg.rules = rules;
  cfg.nrules = 1;
  t->after_start = scribble;
  static const struct step steps[] = {{"NOOP"}, {"QUIT", NONE}, {NULL}};
  tc_run(t, &cfg, steps);
  ck_assert_str_eq(t->lines[1], "250 from the rule");
  ck_assert_str_eq(t->lines[0], "220 copy.example.test ESMTP mailprobe-fake");
  tc_free(t);
}
END_TEST

/* ---- TLS --------------------------------------------------------------- */

START_TEST(starttls_forgets_and_discards_pipelined)
{
  struct tc *t = tc_new();
  tc_tls(t);
  struct mp_fake_config cfg = smtp_cfg();
  setup_auth_requires_tls(&cfg);
  /* RSET pipelined after STARTTLS must be dropped (CVE-2011-0411). */
  static const struct step steps[] = {
      {"EHLO c"}, {"STARTTLS\r\nRSET", 1, 1}, {"MAIL FROM:<a@b.test>"},
      {"EHLO c"}, {"AUTH PLAIN " PLAIN_OK},   {"QUIT", NONE},
      {NULL}};
  tc_run(t, &cfg, steps);
  ck_assert_int_eq(t->tls_status, 0);
  ck_assert(t->tls_up);
  ck_assert(has_line(t, "220 2.0.0 Ready to start TLS"));
  /* RFC 3207 4.2: EHLO is forgotten, so MAIL needs it again. */
  ck_assert(has_line(t, "503 5.5.1 Error: send HELO/EHLO first"));
  ck_assert(has_line(t, "250 AUTH CRAM-MD5 LOGIN PLAIN"));
  ck_assert(has_line(t, "235 2.7.0 Authentication successful"));
  ck_assert(!saw(t, "RSET"));
  for (size_t i = 0; i < t->nseen; i++)
    ck_assert_int_eq(t->seen_tls[i], i >= 2); /* EHLO, STARTTLS in clear */
  tc_free(t);
}
END_TEST

START_TEST(implicit_tls_greets_after_handshake)
{
  struct tc *t = tc_new();
  tc_tls(t);
  struct mp_fake_config cfg = smtp_cfg();
  cfg.tls = MP_FAKE_TLS_IMPLICIT;
  struct mp_fake_rule rules[] = {{.on = MP_ON_COMMAND,
                                  .match = "NOOP",
                                  .when_tls = 0, /* never: all is TLS */
                                  .reply = (char *[]){"500 not in TLS"},
                                  .nreply = 1}};
  cfg.rules = rules;
  cfg.nrules = 1;
  t->implicit = 1;
  static const struct step steps[] = {
      {"EHLO c"}, {"STARTTLS"}, {"NOOP"}, {"QUIT", NONE}, {NULL}};
  tc_run(t, &cfg, steps);
  ck_assert(t->tls_up);
  ck_assert_str_eq(t->lines[0], "220 " HOST " ESMTP mailprobe-fake");
  ck_assert(!has_line(t, "250-STARTTLS"));
  ck_assert(has_line(t, "503 5.5.1 Error: TLS already active"));
  ck_assert(has_line(t, "250 2.0.0 Ok"));
  ck_assert_int_eq(t->seen_tls[0], 1);
  tc_free(t);
}
END_TEST

START_TEST(replaced_goahead_then_starttls)
{
  struct tc *t = tc_new();
  tc_tls(t);
  struct mp_fake_config cfg = smtp_cfg();
  cfg.tls = MP_FAKE_TLS_STARTTLS;
  struct mp_fake_rule rules[] = {{.on = MP_ON_COMMAND,
                                  .match = "STARTTLS",
                                  .when_tls = -1,
                                  .reply = (char *[]){"220 go ahead"},
                                  .nreply = 1,
                                  .then = MP_THEN_STARTTLS}};
  cfg.rules = rules;
  cfg.nrules = 1;
  static const struct step steps[] = {
      {"STARTTLS", 1, 1}, {"NOOP"}, {"QUIT", NONE}, {NULL}};
  tc_run(t, &cfg, steps);
  ck_assert(t->tls_up);
  ck_assert(has_line(t, "220 go ahead"));
  ck_assert_int_eq(t->seen_tls[1], 1);
  tc_free(t);
}
END_TEST

START_TEST(starttls_not_offered)
{
  struct tc *t = tc_new();
  struct mp_fake_config cfg = smtp_cfg();
  static const struct step steps[] = {
      {"STARTTLS"}, {"STARTTLS now"}, {"QUIT", NONE}, {NULL}};
  tc_run(t, &cfg, steps);
  ck_assert_str_eq(t->lines[1], "454 4.7.0 TLS not available");
  ck_assert_str_eq(t->lines[2], "501 5.5.4 Syntax: STARTTLS");
  tc_free(t);
}
END_TEST

/* A record header and a few bytes: enough to look like a ClientHello to a
 * server that only reads one record. */
#define FAKE_HELLO                                                             \
  "\x16\x03\x01\x00\x04"                                                       \
  "abcd"

struct fault_case {
  const char *name;
  enum mp_tls_fault fault;
  int in_rule;      /* through an MP_ON_TLS rule, not the server's setting */
  int raw;          /* bytes to read back */
  const char *line; /* a line expected instead, or NULL */
};

static const struct fault_case fault_cases[] = {
    {"alert", MP_TLS_FAULT_ALERT, 0, 7, NULL},
    {"alert by rule", MP_TLS_FAULT_ALERT, 1, 7, NULL},
    {"garbage", MP_TLS_FAULT_GARBAGE, 0, 0, "this is not TLS*"},
    {"close", MP_TLS_FAULT_CLOSE, 0, 0, NULL},
    {"stall", MP_TLS_FAULT_STALL, 1, 0, NULL},
};

START_TEST(tls_faults)
{
  const struct fault_case fc = fault_cases[_i];
  struct tc *t = tc_new();
  tc_tls(t);
  struct mp_fake_config cfg = smtp_cfg();
  cfg.tls = MP_FAKE_TLS_STARTTLS;
  cfg.idle_timeout_ms = 300;
  struct mp_fake_rule rules[] = {
      {.on = MP_ON_TLS, .when_tls = -1, .tls_fault = fc.fault}};
  if (fc.in_rule) {
    cfg.rules = rules;
    cfg.nrules = 1;
  } else {
    cfg.tls_fault = fc.fault;
  }
  /* A plain client plays TLS: it sends a record, reads what comes. */
  struct step steps[] = {
      {"STARTTLS"},
      {FAKE_HELLO, fc.raw ? 1 : NONE, 0, fc.raw, sizeof(FAKE_HELLO) - 1},
      {NULL}};
  if (fc.raw)
    steps[2] = (struct step){"", NONE};
  tc_run(t, &cfg, steps);
  ck_assert_str_eq(t->lines[1], "220 2.0.0 Ready to start TLS");
  ck_assert(t->server_closed);
  if (fc.raw) {
    static const unsigned char alert[] = {0x15, 0x03, 0x03, 0x00,
                                          0x02, 0x02, 0x28};
    ck_assert_uint_eq(t->nraw, sizeof(alert));
    ck_assert(memcmp(t->raw, alert, sizeof(alert)) == 0);
  } else if (fc.line) {
    ck_assert_uint_eq(t->nlines, 3);
    ck_assert(strncmp(t->lines[2], "this is not TLS", 15) == 0);
  } else {
    ck_assert_uint_eq(t->nlines, 2);
  }
  if (fc.fault == MP_TLS_FAULT_STALL)
    ck_assert_uint_ge(t->closed_at - t->sent_at[1], 290);
  else
    ck_assert_uint_lt(t->closed_at - t->sent_at[1], 250);
  tc_free(t);
}
END_TEST

START_TEST(tls_handshake_with_real_client_fails_on_alert)
{
  struct tc *t = tc_new();
  tc_tls(t);
  struct mp_fake_config cfg = smtp_cfg();
  cfg.tls = MP_FAKE_TLS_IMPLICIT;
  cfg.tls_fault = MP_TLS_FAULT_ALERT;
  t->implicit = 1;
  static const struct step steps[] = {{NULL}};
  tc_run(t, &cfg, steps);
  ck_assert_int_eq(t->tls_status, MP_E_TLS_FAILED);
  ck_assert_uint_eq(t->nlines, 0);
  tc_free(t);
}
END_TEST

static Suite *fake_smtp_suite(void)
{
  Suite *s = suite_create("fake_smtp");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, greeting_and_quit);
  tcase_add_loop_test(tc, ehlo_capabilities, 0,
                      (int)(sizeof(ehlo_cases) / sizeof(ehlo_cases[0])));
  tcase_add_test(tc, helo_then_mail);
  tcase_add_test(tc, verbs_in_any_case);
  tcase_add_test(tc, errors_and_error_limit);
  tcase_add_test(tc, rule_replaces_greeting_and_closes);
  tcase_add_test(tc, delay_rule_holds_pipelined_commands);
  tcase_add_test(tc, nth_rule_fires_once);
  tcase_add_test(tc, line_glob_rule);
  tcase_add_test(tc, drip_and_send);
  tcase_add_test(tc, hang_then_idle_timeout);
  tcase_add_test(tc, idle_timeout_says_421);
  tcase_add_test(tc, reset_closes_with_rst);
  tcase_add_loop_test(tc, auth_table, 0,
                      (int)(sizeof(auth_cases) / sizeof(auth_cases[0])));
  tcase_add_test(tc, delivery_lands_in_the_store);
  tcase_add_test(tc, unknown_recipient_and_size);
  tcase_add_loop_test(
      tc, delivery_table, 0,
      (int)(sizeof(delivery_cases) / sizeof(delivery_cases[0])));
  tcase_add_test(tc, message_rule_rejects);
  tcase_add_loop_test(tc, delivery_exact_text, 0,
                      (int)(sizeof(exact_cases) / sizeof(exact_cases[0])));
  tcase_add_test(tc, two_messages_in_one_session);
  tcase_add_loop_test(tc, message_too_big, 0, 2);
  tcase_add_test(tc, message_at_the_limit);
  tcase_add_test(tc, long_formatted_reply);
  tcase_add_test(tc, seen_record_many_long_lines);
  tcase_add_test(tc, seen_record);
  tcase_add_test(tc, stop_closes_live_sessions);
  tcase_add_test(tc, unknown_protocol_is_refused);
  tcase_add_test(tc, config_is_copied);
  tcase_add_test(tc, starttls_forgets_and_discards_pipelined);
  tcase_add_test(tc, implicit_tls_greets_after_handshake);
  tcase_add_test(tc, replaced_goahead_then_starttls);
  tcase_add_test(tc, starttls_not_offered);
  tcase_add_loop_test(tc, tls_faults, 0,
                      (int)(sizeof(fault_cases) / sizeof(fault_cases[0])));
  tcase_add_test(tc, tls_handshake_with_real_client_fails_on_alert);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(fake_smtp_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
