/* Tests for the fake SMTP server (fake_servers/smtp.c) with its script
 * engine and sessions: each test starts a server on 127.0.0.1:0 on a fresh
 * loop, talks to it with the scripted client of tests/fake_client.h
 * following a list of steps, then stops it and checks that the loop closes
 * with no handle left. */
#include "fake_servers/fake.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "fake_servers/mailstore.h"
#include "tests/fake_client.h"
#include "wire/cert.h"
#include "wire/conn.h"
#include "wire/errors.h"
#include "wire/tls.h"

#define HOST FC_HOST
#define USER "probe@example.test"
#define PLAIN_OK "AHByb2JlQGV4YW1wbGUudGVzdABzM2NyZXQ="  /* s3cret */
#define PLAIN_BAD "AHByb2JlQGV4YW1wbGUudGVzdAB3cm9uZw==" /* wrong */

/* The step tables below name only the fields a step needs. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* RFC 5321 4.2.1: the last line of a reply has a space after the code. */
static int smtp_reply_ends(struct fc_client *c, const char *line, size_t len)
{
  (void)c;
  return len == 3 || (len > 3 && line[3] == ' ');
}

static const struct fc_proto smtp_client = {.line = smtp_reply_ends};

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
static const struct fc_step send_message[] = {
    {"EHLO client.test"},
    {"MAIL FROM:<sender@example.test>"},
    {"RCPT TO:<" USER ">"},
    {"DATA"},
    {"From: sender@example.test\r\nSubject: hello\r\n\r\nbody\r\n..dot\r\n."},
    {"QUIT", FC_NONE},
    {NULL}};

/* ---- greeting, EHLO, HELO ------------------------------------------- */

START_TEST(greeting_and_quit)
{
  struct fc *t = fc_new(&smtp_client);
  struct mp_fake_config cfg = smtp_cfg();
  static const struct fc_step steps[] = {{"QUIT", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert_uint_eq(t->cl->nlines, 2);
  ck_assert_str_eq(t->cl->lines[0], "220 " HOST " ESMTP mailprobe-fake");
  ck_assert_str_eq(t->cl->lines[1], "221 2.0.0 Bye");
  ck_assert(t->cl->server_closed);
  ck_assert_uint_eq(t->sessions, 1);
  fc_free(t);
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
  struct fc *t = fc_new(&smtp_client);
  struct mp_fake_config cfg = smtp_cfg();
  ec->setup(&cfg);
  if (ec->tls)
    fc_tls(t);
  static const struct fc_step steps[] = {
      {"EHLO client.test"}, {"QUIT", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  for (size_t i = 0; i < 6 && ec->want[i]; i++)
    ck_assert_msg(fc_has_line(t->cl, ec->want[i]), "%s: no \"%s\"", ec->name,
                  ec->want[i]);
  for (size_t i = 0; i < 6 && ec->absent[i]; i++)
    ck_assert_msg(!fc_line_with(t->cl, ec->absent[i]), "%s: got \"%s\"",
                  ec->name, ec->absent[i]);
  fc_free(t);
}
END_TEST

START_TEST(helo_then_mail)
{
  struct fc *t = fc_new(&smtp_client);
  struct mp_fake_config cfg = smtp_cfg();
  static const struct fc_step steps[] = {
      {"MAIL FROM:<a@b.test>"}, {"HELO client.test"},
      {"MAIL FROM:<a@b.test>"}, {"EHLO"},
      {"QUIT", FC_NONE},        {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert_str_eq(t->cl->lines[1], "503 5.5.1 Error: send HELO/EHLO first");
  ck_assert_str_eq(t->cl->lines[2], "250 " HOST);
  ck_assert_str_eq(t->cl->lines[3], "250 2.1.0 Ok");
  ck_assert_str_eq(t->cl->lines[4], "501 5.5.4 Syntax: EHLO hostname");
  fc_free(t);
}
END_TEST

/* Verbs are matched whatever their case (RFC 5321 2.4), whole: a longer
 * or shorter word, or one with a verb inside it, is not that verb. */
START_TEST(verbs_in_any_case)
{
  struct fc *t = fc_new(&smtp_client);
  struct mp_fake_config cfg = smtp_cfg();
  static const struct fc_step steps[] = {
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
      {"qUiT", FC_NONE},
      {NULL}};
  fc_run(t, &cfg, steps);
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
  ck_assert_uint_eq(t->cl->nlines, 1 + sizeof(want) / sizeof(want[0]));
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
    ck_assert_str_eq(t->cl->lines[i + 1], want[i]);
  fc_free(t);
}
END_TEST

START_TEST(errors_and_error_limit)
{
  struct fc *t = fc_new(&smtp_client);
  struct mp_fake_config cfg = smtp_cfg();
  static struct fc_step steps[24];
  steps[0] = (struct fc_step){"FROB"};
  steps[1] = (struct fc_step){"RCPT TO:<x@y.test>"};
  steps[2] = (struct fc_step){"NOOP"};
  for (int i = 3; i < 21; i++)
    steps[i] = (struct fc_step){"BOGUS"};
  steps[20].replies = FC_NONE; /* the 20th bad command */
  steps[21] = (struct fc_step){NULL};
  fc_run(t, &cfg, steps);
  ck_assert_str_eq(t->cl->lines[1], "500 5.5.2 Error: command not recognized");
  ck_assert_str_eq(t->cl->lines[2], "503 5.5.1 Error: need MAIL command");
  ck_assert_str_eq(t->cl->lines[3], "250 2.0.0 Ok");
  ck_assert_uint_eq(t->cl->nlines, 22);
  ck_assert_str_eq(t->cl->lines[20], "500 5.5.2 Error: command not recognized");
  ck_assert_str_eq(t->cl->lines[21],
                   "421 4.7.0 " HOST " Error: too many errors");
  ck_assert(t->cl->server_closed);
  fc_free(t);
}
END_TEST

/* ---- rules ------------------------------------------------------------- */

START_TEST(rule_replaces_greeting_and_closes)
{
  struct fc *t = fc_new(&smtp_client);
  struct mp_fake_config cfg = smtp_cfg();
  static char *reply[] = {"421 4.3.2 Service not available"};
  struct mp_fake_rule rules[] = {{.on = MP_ON_CONNECT,
                                  .when_tls = -1,
                                  .reply = reply,
                                  .nreply = 1,
                                  .then = MP_THEN_CLOSE}};
  cfg.rules = rules;
  cfg.nrules = 1;
  static const struct fc_step wait_close[] = {{"", FC_NONE}, {NULL}};
  fc_run(t, &cfg, wait_close);
  ck_assert_uint_eq(t->cl->nlines, 1);
  ck_assert_str_eq(t->cl->lines[0], "421 4.3.2 Service not available");
  ck_assert(t->cl->server_closed);
  ck_assert_uint_eq(t->nseen, 0);
  fc_free(t);
}
END_TEST

START_TEST(delay_rule_holds_pipelined_commands)
{
  struct fc *t = fc_new(&smtp_client);
  struct mp_fake_config cfg = smtp_cfg();
  struct mp_fake_rule rules[] = {
      {.on = MP_ON_COMMAND, .match = "ehlo", .when_tls = -1, .delay_ms = 300}};
  cfg.rules = rules;
  cfg.nrules = 1;
  /* EHLO and NOOP in one write (RFC 2920): NOOP waits for EHLO. */
  static const struct fc_step steps[] = {
      {"EHLO client.test\r\nNOOP", 2}, {"QUIT", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  long e = fc_line_index(t->cl, "250-" HOST);
  long n = fc_line_index(t->cl, "250 2.0.0 Ok");
  ck_assert_int_ge(e, 0);
  ck_assert_int_gt(n, e);
  ck_assert_uint_ge(t->cl->line_at[e] - t->cl->sent_at[0], 290);
  ck_assert_uint_ge(t->cl->line_at[n], t->cl->line_at[e]);
  fc_free(t);
}
END_TEST

START_TEST(nth_rule_fires_once)
{
  struct fc *t = fc_new(&smtp_client);
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
  static const struct fc_step steps[] = {
      {"NOOP"}, {"NOOP"}, {"noop"}, {"QUIT", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert_str_eq(t->cl->lines[1], "250 2.0.0 Ok");
  ck_assert_str_eq(t->cl->lines[2], "451 4.3.0 not this time");
  ck_assert_str_eq(t->cl->lines[3], "250 2.0.0 Ok");
  fc_free(t);
}
END_TEST

START_TEST(line_glob_rule)
{
  struct fc *t = fc_new(&smtp_client);
  struct mp_fake_config cfg = smtp_cfg();
  static char *reply[] = {"550-5.7.1 blocked", "550 5.7.1 go away"};
  struct mp_fake_rule rules[] = {{.on = MP_ON_LINE,
                                  .match = "mail from:<*@blocked.test>*",
                                  .when_tls = -1,
                                  .reply = reply,
                                  .nreply = 2}};
  cfg.rules = rules;
  cfg.nrules = 1;
  static const struct fc_step steps[] = {{"EHLO c"},
                                         {"MAIL FROM:<x@blocked.test> SIZE=10"},
                                         {"MAIL FROM:<x@fine.test>"},
                                         {"QUIT", FC_NONE},
                                         {NULL}};
  fc_run(t, &cfg, steps);
  long i = fc_line_index(t->cl, "550-5.7.1 blocked");
  ck_assert_int_ge(i, 0);
  ck_assert_str_eq(t->cl->lines[i + 1], "550 5.7.1 go away");
  /* The replaced MAIL started no transaction: the next one is not nested. */
  ck_assert_str_eq(t->cl->lines[i + 2], "250 2.1.0 Ok");
  fc_free(t);
}
END_TEST

START_TEST(drip_and_send)
{
  struct fc *t = fc_new(&smtp_client);
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
  static const struct fc_step steps[] = {{"QUIT", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert_str_eq(t->cl->lines[0], "220 " HOST " ESMTP mailprobe-fake");
  ck_assert_str_eq(t->cl->lines[1], "250-extra");
  ck_assert_uint_ge(t->cl->line_at[1], 90);
  ck_assert_str_eq(t->cl->lines[2], "221 2.0.0 Bye");
  fc_free(t);
}
END_TEST

START_TEST(hang_then_idle_timeout)
{
  struct fc *t = fc_new(&smtp_client);
  struct mp_fake_config cfg = smtp_cfg();
  struct mp_fake_rule rules[] = {{.on = MP_ON_COMMAND,
                                  .match = "NOOP",
                                  .when_tls = -1,
                                  .then = MP_THEN_HANG}};
  cfg.rules = rules;
  cfg.nrules = 1;
  cfg.idle_timeout_ms = 300;
  static const struct fc_step steps[] = {{"NOOP\r\nQUIT", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  /* The answer went out, then nothing: not the QUIT's 221, no 421. */
  ck_assert_uint_eq(t->cl->nlines, 2);
  ck_assert_str_eq(t->cl->lines[1], "250 2.0.0 Ok");
  ck_assert(t->cl->server_closed);
  ck_assert_uint_ge(t->cl->closed_at - t->cl->sent_at[0], 290);
  ck_assert(fc_saw(t, "NOOP"));
  ck_assert(!fc_saw(t, "QUIT"));
  fc_free(t);
}
END_TEST

START_TEST(idle_timeout_says_421)
{
  struct fc *t = fc_new(&smtp_client);
  struct mp_fake_config cfg = smtp_cfg();
  cfg.idle_timeout_ms = 200;
  /* After NOOP the client says nothing; only the timeout answers. */
  static const struct fc_step steps[] = {{"NOOP"}, {"", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert_uint_eq(t->cl->nlines, 3);
  ck_assert_str_eq(t->cl->lines[2],
                   "421 4.4.2 " HOST " Error: timeout exceeded");
  ck_assert(t->cl->server_closed);
  ck_assert_uint_ge(t->cl->closed_at - t->cl->line_at[1], 190);
  fc_free(t);
}
END_TEST

START_TEST(reset_closes_with_rst)
{
  struct fc *t = fc_new(&smtp_client);
  struct mp_fake_config cfg = smtp_cfg();
  struct mp_fake_rule rules[] = {{.on = MP_ON_COMMAND,
                                  .match = "EHLO",
                                  .when_tls = -1,
                                  .reply = (char *[]){NULL},
                                  .nreply = 0,
                                  .then = MP_THEN_RESET}};
  cfg.rules = rules;
  cfg.nrules = 1;
  static const struct fc_step steps[] = {{"EHLO c", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert_uint_eq(t->cl->nlines, 1); /* the greeting, no answer to EHLO */
  ck_assert(t->cl->server_closed);
  fc_free(t);
}
END_TEST

/* ---- AUTH ------------------------------------------------------------- */

struct auth_case {
  const char *name;
  int requires_tls;
  struct fc_step steps[6];
  const char *want; /* the reply after the last AUTH step */
};

static const struct auth_case auth_cases[] = {
    {"plain initial ok",
     0,
     {{"EHLO c"}, {"AUTH PLAIN " PLAIN_OK}, {"QUIT", FC_NONE}, {NULL}},
     "235 2.7.0 Authentication successful"},
    {"plain initial bad",
     0,
     {{"EHLO c"}, {"AUTH PLAIN " PLAIN_BAD}, {"QUIT", FC_NONE}, {NULL}},
     "535 5.7.8 Error: authentication failed"},
    {"plain after 334",
     0,
     {{"EHLO c"}, {"AUTH PLAIN"}, {PLAIN_OK}, {"QUIT", FC_NONE}, {NULL}},
     "235 2.7.0 Authentication successful"},
    {"login",
     0,
     {{"EHLO c"},
      {"AUTH LOGIN"},
      {"cHJvYmVAZXhhbXBsZS50ZXN0"},
      {"czNjcmV0"},
      {"QUIT", FC_NONE},
      {NULL}},
     "235 2.7.0 Authentication successful"},
    {"cancel",
     0,
     {{"EHLO c"}, {"AUTH LOGIN"}, {"*"}, {"QUIT", FC_NONE}, {NULL}},
     "501 5.0.0 Authentication cancelled"},
    {"unknown mechanism",
     0,
     {{"EHLO c"}, {"AUTH X-UNKNOWN"}, {"QUIT", FC_NONE}, {NULL}},
     "504 5.5.4 Unrecognized authentication type"},
    {"before EHLO",
     0,
     {{"AUTH PLAIN " PLAIN_OK}, {"QUIT", FC_NONE}, {NULL}},
     "503 5.5.1 Error: send EHLO first"},
    {"twice",
     0,
     {{"EHLO c"},
      {"AUTH PLAIN " PLAIN_OK},
      {"AUTH PLAIN " PLAIN_OK},
      {"QUIT", FC_NONE},
      {NULL}},
     "503 5.5.1 Error: already authenticated"},
    {"requires tls",
     1,
     {{"EHLO c"}, {"AUTH PLAIN " PLAIN_OK}, {"QUIT", FC_NONE}, {NULL}},
     "530 5.7.0 Must issue a STARTTLS command first"},
};

START_TEST(auth_table)
{
  const struct auth_case *ac = &auth_cases[_i];
  struct fc *t = fc_new(&smtp_client);
  struct mp_fake_config cfg = smtp_cfg();
  cfg.users = users;
  cfg.nusers = 1;
  cfg.auth_requires_tls = ac->requires_tls;
  fc_run(t, &cfg, ac->steps);
  /* The reply before the 221. */
  ck_assert_uint_ge(t->cl->nlines, 3);
  ck_assert_str_eq(t->cl->lines[t->cl->nlines - 1], "221 2.0.0 Bye");
  ck_assert_msg(strcmp(t->cl->lines[t->cl->nlines - 2], ac->want) == 0,
                "%s: got \"%s\"", ac->name, t->cl->lines[t->cl->nlines - 2]);
  fc_free(t);
}
END_TEST

/* ---- delivery ---------------------------------------------------------- */

/* The one message in user's INBOX (visible at now + ahead_ms). */
static const struct mp_mail *only_mail(struct fc *t, const char *user,
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
  struct fc *t = fc_new(&smtp_client);
  struct mp_fake_config cfg = smtp_cfg();
  cfg.users = users;
  cfg.nusers = 1;
  fc_run(t, &cfg, send_message);
  ck_assert(fc_has_line(t->cl, "354 End data with <CR><LF>.<CR><LF>"));
  ck_assert(fc_line_with(t->cl, "250 2.0.0 Ok: queued as "));
  const struct mp_mail *m = only_mail(t, USER, 0);
  ck_assert_ptr_nonnull(strstr(m->data, "Return-Path: <sender@example.test>"));
  ck_assert_ptr_nonnull(
      strstr(m->data, "Received: from client.test by " HOST " with ESMTP id "));
  /* Dot-unstuffed (RFC 5321 4.5.2), CRLF lines, no final dot. */
  const char *tail = "Subject: hello\r\n\r\nbody\r\n.dot\r\n";
  ck_assert_uint_ge(m->size, strlen(tail));
  ck_assert_str_eq(m->data + m->size - strlen(tail), tail);
  /* Header lines are in the record, body lines are not. */
  ck_assert(fc_saw(t, "Subject: hello"));
  ck_assert(!fc_saw(t, "body"));
  ck_assert(fc_saw(t, "."));
  fc_free(t);
}
END_TEST

START_TEST(unknown_recipient_and_size)
{
  struct fc *t = fc_new(&smtp_client);
  struct mp_fake_config cfg = smtp_cfg();
  cfg.users = users;
  cfg.nusers = 1;
  static const struct fc_step steps[] = {
      {"EHLO c"},
      {"MAIL FROM:<a@b.test> SIZE=20000000"},
      {"MAIL FROM:<a@b.test> FROB=1"},
      {"MAIL FROM:<a@b.test> SIZE=100 BODY=8BITMIME"},
      {"RCPT TO:<nobody@example.test>"},
      {"DATA"},
      {"RCPT TO:<" USER ">"},
      {"QUIT", FC_NONE},
      {NULL}};
  fc_run(t, &cfg, steps);
  size_t b = t->cl->nlines - 8; /* the reply to EHLO is multi-line */
  ck_assert_str_eq(t->cl->lines[b + 1],
                   "552 5.3.4 Message size exceeds fixed limit");
  ck_assert_str_eq(t->cl->lines[b + 2], "555 5.5.4 Unsupported option");
  ck_assert_str_eq(t->cl->lines[b + 3], "250 2.1.0 Ok");
  ck_assert_str_eq(t->cl->lines[b + 4],
                   "550 5.1.1 <nobody@example.test>: Recipient address "
                   "rejected: User unknown in local recipient table");
  ck_assert_str_eq(t->cl->lines[b + 5], "503 5.5.1 Error: need RCPT command");
  ck_assert_str_eq(t->cl->lines[b + 6], "250 2.1.5 Ok");
  fc_free(t);
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
  struct fc *t = fc_new(&smtp_client);
  struct mp_fake_config cfg = smtp_cfg();
  cfg.users = users;
  cfg.nusers = 1;
  cfg.delivery = dc->d;
  fc_run(t, &cfg, send_message);
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
  fc_free(t);
}
END_TEST

START_TEST(message_rule_rejects)
{
  struct fc *t = fc_new(&smtp_client);
  struct mp_fake_config cfg = smtp_cfg();
  cfg.users = users;
  cfg.nusers = 1;
  static char *reply[] = {"554 5.7.1 looks like spam"};
  struct mp_fake_rule rules[] = {
      {.on = MP_ON_MESSAGE, .when_tls = -1, .reply = reply, .nreply = 1}};
  cfg.rules = rules;
  cfg.nrules = 1;
  fc_run(t, &cfg, send_message);
  ck_assert(fc_has_line(t->cl, "554 5.7.1 looks like spam"));
  ck_assert_uint_eq(mp_mailstore_count(t->store, USER, mp_now_us()), 0);
  fc_free(t);
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
  struct fc *t = fc_new(&smtp_client);
  struct mp_fake_config cfg = smtp_cfg();
  cfg.users = users;
  cfg.nusers = 1;
  cfg.delivery = ec->d;
  char data[512];
  snprintf(data, sizeof(data), "%s.", ec->text);
  struct fc_step steps[] = {{"EHLO client.test"},
                            {"MAIL FROM:<sender@example.test>"},
                            {"RCPT TO:<" USER ">"},
                            {"RCPT TO:<" USER ">"}, /* twice: delivered once */
                            {"DATA"},
                            {data},
                            {"QUIT", FC_NONE},
                            {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert(fc_has_line(t->cl, "250 2.0.0 Ok: queued as 000000010001"));
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
  fc_free(t);
}
END_TEST

/* A session that sends two messages: the second holds nothing of the
 * first (the session reuses its buffer), and both trace fields count. */
START_TEST(two_messages_in_one_session)
{
  struct fc *t = fc_new(&smtp_client);
  struct mp_fake_config cfg = smtp_cfg();
  cfg.users = users;
  cfg.nusers = 1;
  static const struct fc_step steps[] = {
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
      {"QUIT", FC_NONE},
      {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert(fc_has_line(t->cl, "250 2.0.0 Ok: queued as 000000010001"));
  ck_assert(fc_has_line(t->cl, "250 2.0.0 Ok: queued as 000000010002"));
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
  fc_free(t);
}
END_TEST

/* RFC 1870 / 5321: a message past the server's limit is refused at its
 * end with 552, whether its text would be kept (a known recipient) or
 * only counted (no mailbox would receive it); the session goes on. */
START_TEST(message_too_big)
{
  struct fc *t = fc_new(&smtp_client);
  struct mp_fake_config cfg = smtp_cfg();
  if (_i) {
    cfg.users = users;
    cfg.nusers = 1;
  }
  static const struct fc_step steps[] = {{"EHLO client.test"},
                                         {"MAIL FROM:<sender@example.test>"},
                                         {"RCPT TO:<" USER ">"},
                                         {"DATA"},
                                         {".", .bulk = 10485760 + 1000},
                                         {"NOOP"},
                                         {"QUIT", FC_NONE},
                                         {NULL}};
  fc_run(t, &cfg, steps);
  long i = fc_line_index(t->cl, "552 5.3.4 Error: message file too big");
  ck_assert_int_ge(i, 0);
  ck_assert_str_eq(t->cl->lines[i + 1], "250 2.0.0 Ok");
  if (_i)
    ck_assert_uint_eq(mp_mailstore_count(t->store, USER, mp_now_us()), 0);
  fc_free(t);
}
END_TEST

/* Just under the limit (text and CRLFs, the final dot not counted), the
 * message is accepted and stored whole. */
START_TEST(message_at_the_limit)
{
  struct fc *t = fc_new(&smtp_client);
  struct mp_fake_config cfg = smtp_cfg();
  cfg.users = users;
  cfg.nusers = 1;
  static const struct fc_step steps[] = {{"EHLO client.test"},
                                         {"MAIL FROM:<sender@example.test>"},
                                         {"RCPT TO:<" USER ">"},
                                         {"DATA"},
                                         {".", .bulk = 10485760},
                                         {"QUIT", FC_NONE},
                                         {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert(fc_has_line(t->cl, "250 2.0.0 Ok: queued as 000000010001"));
  const struct mp_mail *m = only_mail(t, USER, 0);
  const char *rest;
  check_trace(m->data, "ESMTP", "000000010001", &rest);
  ck_assert_uint_eq(m->size - (size_t)(rest - m->data), 10485760);
  fc_free(t);
}
END_TEST

/* A reply longer than the first guess of its size is formatted whole. */
START_TEST(long_formatted_reply)
{
  struct fc *t = fc_new(&smtp_client);
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
  struct fc_step steps[] = {{"EHLO c"}, {"MAIL FROM:<a@b.test>"}, {rcpt},
                            {"NOOP"},   {"QUIT", FC_NONE},        {NULL}};
  fc_run(t, &cfg, steps);
  long i = fc_line_index(t->cl, want);
  ck_assert_int_ge(i, 0);
  ck_assert_str_eq(t->cl->lines[i + 1], "250 2.0.0 Ok");
  fc_free(t);
}
END_TEST

/* The record keeps every line whole and in order, past the first chunk
 * of its text (64 KiB). */
START_TEST(seen_record_many_long_lines)
{
  enum { N = 150, L = 1500 };
  struct fc *t = fc_new(&smtp_client);
  struct mp_fake_config cfg = smtp_cfg();
  static char lines[N][L + 1];
  static struct fc_step steps[N + 2];
  for (int i = 0; i < N; i++) {
    int k = snprintf(lines[i], sizeof(lines[i]), "NOOP %d ", i);
    memset(lines[i] + k, 'a' + i % 26, (size_t)(L - k));
    lines[i][L] = '\0';
    steps[i] = (struct fc_step){lines[i]};
  }
  steps[N] = (struct fc_step){"QUIT", FC_NONE};
  steps[N + 1] = (struct fc_step){NULL};
  fc_run(t, &cfg, steps);
  ck_assert_uint_eq(t->nseen, N + 1);
  for (int i = 0; i < N; i++)
    ck_assert_str_eq(t->seen[i], lines[i]);
  ck_assert_str_eq(t->seen[N], "QUIT");
  fc_free(t);
}
END_TEST

/* ---- the record -------------------------------------------------------- */

START_TEST(seen_record)
{
  struct fc *t = fc_new(&smtp_client);
  struct mp_fake_config cfg = smtp_cfg();
  static const struct fc_step steps[] = {
      {"EHLO client.test"}, {"NOOP"}, {"QUIT", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
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
  fc_free(t);
}
END_TEST

START_TEST(stop_closes_live_sessions)
{
  struct fc *t = fc_new(&smtp_client);
  struct mp_fake_config cfg = smtp_cfg();
  t->hold = 1; /* after the steps, stop the server under the client */
  static const struct fc_step steps[] = {{"EHLO c"}, {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert(t->cl->server_closed);
  ck_assert_uint_eq(t->sessions, 1);
  fc_free(t);
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
static void scribble(struct fc *t)
{
  (void)t;
  copied_host[0] = 'X';
  copied_reply[0] = 'X';
}

START_TEST(config_is_copied)
{
  struct fc *t = fc_new(&smtp_client);
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
  static const struct fc_step steps[] = {{"NOOP"}, {"QUIT", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert_str_eq(t->cl->lines[1], "250 from the rule");
  ck_assert_str_eq(t->cl->lines[0],
                   "220 copy.example.test ESMTP mailprobe-fake");
  fc_free(t);
}
END_TEST

/* ---- TLS --------------------------------------------------------------- */

START_TEST(starttls_forgets_and_discards_pipelined)
{
  struct fc *t = fc_new(&smtp_client);
  fc_tls(t);
  struct mp_fake_config cfg = smtp_cfg();
  setup_auth_requires_tls(&cfg);
  /* RSET pipelined after STARTTLS must be dropped (CVE-2011-0411). */
  static const struct fc_step steps[] = {
      {"EHLO c"}, {"STARTTLS\r\nRSET", 1, 1}, {"MAIL FROM:<a@b.test>"},
      {"EHLO c"}, {"AUTH PLAIN " PLAIN_OK},   {"QUIT", FC_NONE},
      {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert_int_eq(t->cl->tls_status, 0);
  ck_assert(t->cl->tls_up);
  ck_assert(fc_has_line(t->cl, "220 2.0.0 Ready to start TLS"));
  /* RFC 3207 4.2: EHLO is forgotten, so MAIL needs it again. */
  ck_assert(fc_has_line(t->cl, "503 5.5.1 Error: send HELO/EHLO first"));
  ck_assert(fc_has_line(t->cl, "250 AUTH CRAM-MD5 LOGIN PLAIN"));
  ck_assert(fc_has_line(t->cl, "235 2.7.0 Authentication successful"));
  ck_assert(!fc_saw(t, "RSET"));
  for (size_t i = 0; i < t->nseen; i++)
    ck_assert_int_eq(t->seen_tls[i], i >= 2); /* EHLO, STARTTLS in clear */
  fc_free(t);
}
END_TEST

START_TEST(implicit_tls_greets_after_handshake)
{
  struct fc *t = fc_new(&smtp_client);
  fc_tls(t);
  struct mp_fake_config cfg = smtp_cfg();
  cfg.tls = MP_FAKE_TLS_IMPLICIT;
  struct mp_fake_rule rules[] = {{.on = MP_ON_COMMAND,
                                  .match = "NOOP",
                                  .when_tls = 0, /* never: all is TLS */
                                  .reply = (char *[]){"500 not in TLS"},
                                  .nreply = 1}};
  cfg.rules = rules;
  cfg.nrules = 1;
  t->cl->implicit = 1;
  static const struct fc_step steps[] = {
      {"EHLO c"}, {"STARTTLS"}, {"NOOP"}, {"QUIT", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert(t->cl->tls_up);
  ck_assert_str_eq(t->cl->lines[0], "220 " HOST " ESMTP mailprobe-fake");
  ck_assert(!fc_has_line(t->cl, "250-STARTTLS"));
  ck_assert(fc_has_line(t->cl, "503 5.5.1 Error: TLS already active"));
  ck_assert(fc_has_line(t->cl, "250 2.0.0 Ok"));
  ck_assert_int_eq(t->seen_tls[0], 1);
  fc_free(t);
}
END_TEST

START_TEST(replaced_goahead_then_starttls)
{
  struct fc *t = fc_new(&smtp_client);
  fc_tls(t);
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
  static const struct fc_step steps[] = {
      {"STARTTLS", 1, 1}, {"NOOP"}, {"QUIT", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert(t->cl->tls_up);
  ck_assert(fc_has_line(t->cl, "220 go ahead"));
  ck_assert_int_eq(t->seen_tls[1], 1);
  fc_free(t);
}
END_TEST

START_TEST(starttls_not_offered)
{
  struct fc *t = fc_new(&smtp_client);
  struct mp_fake_config cfg = smtp_cfg();
  static const struct fc_step steps[] = {
      {"STARTTLS"}, {"STARTTLS now"}, {"QUIT", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert_str_eq(t->cl->lines[1], "454 4.7.0 TLS not available");
  ck_assert_str_eq(t->cl->lines[2], "501 5.5.4 Syntax: STARTTLS");
  fc_free(t);
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
  struct fc *t = fc_new(&smtp_client);
  fc_tls(t);
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
  struct fc_step steps[] = {
      {"STARTTLS"},
      {FAKE_HELLO, fc.raw ? 1 : FC_NONE, 0, fc.raw, sizeof(FAKE_HELLO) - 1},
      {NULL}};
  if (fc.raw)
    steps[2] = (struct fc_step){"", FC_NONE};
  fc_run(t, &cfg, steps);
  ck_assert_str_eq(t->cl->lines[1], "220 2.0.0 Ready to start TLS");
  ck_assert(t->cl->server_closed);
  if (fc.raw) {
    static const unsigned char alert[] = {0x15, 0x03, 0x03, 0x00,
                                          0x02, 0x02, 0x28};
    ck_assert_uint_eq(t->cl->nraw, sizeof(alert));
    ck_assert(memcmp(t->cl->raw, alert, sizeof(alert)) == 0);
  } else if (fc.line) {
    ck_assert_uint_eq(t->cl->nlines, 3);
    ck_assert(strncmp(t->cl->lines[2], "this is not TLS", 15) == 0);
  } else {
    ck_assert_uint_eq(t->cl->nlines, 2);
  }
  if (fc.fault == MP_TLS_FAULT_STALL)
    ck_assert_uint_ge(t->cl->closed_at - t->cl->sent_at[1], 290);
  else
    ck_assert_uint_lt(t->cl->closed_at - t->cl->sent_at[1], 250);
  fc_free(t);
}
END_TEST

START_TEST(tls_handshake_with_real_client_fails_on_alert)
{
  struct fc *t = fc_new(&smtp_client);
  fc_tls(t);
  struct mp_fake_config cfg = smtp_cfg();
  cfg.tls = MP_FAKE_TLS_IMPLICIT;
  cfg.tls_fault = MP_TLS_FAULT_ALERT;
  t->cl->implicit = 1;
  static const struct fc_step steps[] = {{NULL}};
  fc_run(t, &cfg, steps);
  ck_assert_int_eq(t->cl->tls_status, MP_E_TLS_FAILED);
  ck_assert_uint_eq(t->cl->nlines, 0);
  fc_free(t);
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
