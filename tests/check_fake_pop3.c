/* Tests for the fake POP3 server (fake_servers/pop3.c) with the shared
 * sessions, script engine and mail store: each test starts a server on
 * 127.0.0.1:0 on a fresh loop, talks to it with one or two scripted
 * clients of tests/fake_client.h following lists of steps, then stops it
 * and checks that the loop closes with no handle left. */
#include "fake_servers/fake.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_servers/mailstore.h"
#include "tests/fake_client.h"
#include "wire/codec.h"
#include "wire/conn.h"
#include "wire/sasl.h"

#define HOST FC_HOST
#define USER "probe@example.test"
#define PASS "s3cret"
#define PLAIN_OK "AHByb2JlQGV4YW1wbGUudGVzdABzM2NyZXQ="  /* s3cret */
#define PLAIN_BAD "AHByb2JlQGV4YW1wbGUudGVzdAB3cm9uZw==" /* wrong */
#define GREETING "+OK " HOST " POP3 ready"
#define BYE "+OK " HOST " POP3 server signing off"
#define TLS_FIRST                                                              \
  "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) "   \
  "connections."

/* The step tables below name only the fields a step needs. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* Every line but those inside a list ends an answer; a +OK to an answer
 * its step marks in multi opens a list, and RFC 1939 3: a lone "." ends
 * it. c->state: inside a list. */
static int pop3_answer_ends(struct fc_client *c, const char *line, size_t len)
{
  (void)len;
  if (c->state) {
    if (strcmp(line, ".") != 0)
      return 0;
    c->state = 0;
    return 1;
  }
  long idx = c->want == LONG_MAX ? 0 : c->want - c->pending;
  if (c->cur && idx < 32 && (c->cur->multi & (1u << idx)) &&
      strncmp(line, "+OK", 3) == 0) {
    c->state = 1;
    return 0;
  }
  return 1;
}

static const struct fc_proto pop3_client = {.line = pop3_answer_ends};

/* Client 0's last line before its last (the answer before QUIT's). */
static const char *before_last(const struct fc *t)
{
  ck_assert_uint_ge(t->cl[0].nlines, 2);
  return t->cl[0].lines[t->cl[0].nlines - 2];
}

static const char *last(const struct fc *t)
{
  ck_assert_uint_ge(t->cl[0].nlines, 1);
  return t->cl[0].lines[t->cl[0].nlines - 1];
}

static struct mp_fake_user users[] = {{USER, PASS}};

static struct mp_fake_config pop3_cfg(void)
{
  struct mp_fake_config c;
  memset(&c, 0, sizeof(c));
  c.name = "pop";
  c.proto = MP_FAKE_POP3;
  c.users = users;
  c.nusers = 1;
  return c;
}

static struct mp_fake_mailbox three[] = {{USER, 3, 300}};

static void seed_three(struct mp_fake_config *c)
{
  c->mailboxes = three;
  c->nmailboxes = 1;
}

static size_t stored(const struct fc *t)
{
  return mp_mailstore_count(t->store, USER, mp_now_us());
}

/* Delivers data to USER's INBOX, visible ahead_ms from now; its id. */
static uint64_t deliver(struct fc *t, const char *data, uint64_t ahead_ms)
{
  return fc_deliver(t, USER, data, ahead_ms * 1000);
}

/* ---- makers: lines that depend on what the server said ------------------ */

/* APOP with MD5(timestamp password) computed here from the greeting. */
static const char *apop_with(struct fc_client *c, const char *password)
{
  const char *lt = strchr(c->lines[0], '<');
  const char *gt = lt ? strchr(lt, '>') : NULL;
  ck_assert_ptr_nonnull(gt);
  char buf[512];
  int n =
      snprintf(buf, sizeof(buf), "%.*s%s", (int)(gt - lt + 1), lt, password);
  unsigned char md[16];
  char hex[33];
  ck_assert_int_eq(mp_md5(buf, (size_t)n, md), 0);
  mp_hex(md, 16, hex);
  snprintf(c->made, sizeof(c->made), "APOP " USER " %s", hex);
  return c->made;
}

static const char *apop_good(struct fc_client *c)
{
  return apop_with(c, PASS);
}

static const char *apop_bad(struct fc_client *c)
{
  return apop_with(c, "wrong");
}

/* "AUTH mech [initial response]" for the client's mechanism. */
static const char *auth_start(struct fc_client *c)
{
  char *ir = NULL;
  c->sasl = mp_sasl_client_new(c->mech, USER, PASS);
  ck_assert_ptr_nonnull(c->sasl);
  ck_assert_int_eq(mp_sasl_client_initial(c->sasl, &ir), 0);
  snprintf(c->made, sizeof(c->made), "AUTH %s%s%s", mp_sasl_name(c->mech),
           ir ? " " : "", ir ? ir : "");
  free(ir);
  return c->made;
}

/* Answers the last "+ challenge" line. */
static const char *auth_answer(struct fc_client *c)
{
  const char *ch = c->lines[c->nlines - 1];
  ck_assert_msg(ch[0] == '+' && ch[1] == ' ', "not a challenge: %s", ch);
  char *out = NULL;
  int rc = mp_sasl_client_step(c->sasl, ch + 2, &out);
  ck_assert_int_ge(rc, 0);
  ck_assert_ptr_nonnull(out);
  snprintf(c->made, sizeof(c->made), "%s", out);
  free(out);
  return c->made;
}

/* ---- greeting ---------------------------------------------------------- */

START_TEST(greeting_and_quit)
{
  struct fc *t = fc_new(&pop3_client);
  struct mp_fake_config cfg = pop3_cfg();
  static const struct fc_step steps[] = {{"QUIT", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert_uint_eq(t->cl[0].nlines, 2);
  ck_assert_str_eq(t->cl[0].lines[0], GREETING);
  ck_assert_str_eq(t->cl[0].lines[1], BYE);
  ck_assert(t->cl[0].server_closed);
  ck_assert_uint_eq(t->sessions, 1);
  fc_free(t);
}
END_TEST

START_TEST(greeting_with_apop_timestamp)
{
  struct fc *t = fc_new(&pop3_client);
  struct mp_fake_config cfg = pop3_cfg();
  cfg.apop = 1;
  static const struct fc_step steps[] = {{"QUIT", FC_NONE}, {NULL}};
  static const struct fc_step steps2[] = {{"QUIT", FC_NONE}, {NULL}};
  fc_run2(t, &cfg, steps, steps2);
  /* RFC 1939 7: "<process-ID.clock@hostname>", unique per greeting. */
  for (int i = 0; i < 2; i++) {
    const char *g = t->cl[i].lines[0];
    ck_assert_msg(strncmp(g, GREETING " <", strlen(GREETING) + 2) == 0, "%s",
                  g);
    const char *ts = g + strlen(GREETING) + 1;
    ck_assert_uint_gt(strspn(ts + 1, "0123456789."), 4);
    ck_assert_str_eq(ts + 1 + strspn(ts + 1, "0123456789."), "@" HOST ">");
  }
  ck_assert_str_ne(t->cl[0].lines[0], t->cl[1].lines[0]);
  fc_free(t);
}
END_TEST

/* ---- CAPA --------------------------------------------------------------- */

struct capa_case {
  const char *name;
  void (*setup)(struct mp_fake_config *c);
  int tls;               /* needs a CA */
  const char *want[8];   /* lines that must be in the list */
  const char *absent[8]; /* lines that must not */
};

static void setup_none(struct mp_fake_config *c)
{
  (void)c;
}

static void setup_no_users(struct mp_fake_config *c)
{
  c->users = NULL;
  c->nusers = 0;
}

static char *auth_two[] = {"SCRAM-SHA-256", "PLAIN"};
static void setup_auth_list(struct mp_fake_config *c)
{
  c->auth = auth_two;
  c->nauth = 2;
  c->auth_set = 1;
}

static void setup_starttls(struct mp_fake_config *c)
{
  c->tls = MP_FAKE_TLS_STARTTLS;
}

static void setup_requires_tls(struct mp_fake_config *c)
{
  setup_starttls(c);
  c->auth_requires_tls = 1;
}

static char *adv[] = {"SASL X-ONLY", "LOGIN-DELAY 900", ".DOTTED"};
static char *hold[] = {"PIPELINING", "STLS", "USER"};
static void setup_advertise_withhold(struct mp_fake_config *c)
{
  setup_starttls(c);
  c->advertise = adv;
  c->nadvertise = 3;
  c->withhold = hold;
  c->nwithhold = 3;
}

static const struct capa_case capa_cases[] = {
    {"defaults",
     setup_none,
     0,
     {"+OK Capability list follows", "TOP", "UIDL", "RESP-CODES",
      "AUTH-RESP-CODE", "PIPELINING", "USER", "SASL CRAM-MD5 LOGIN PLAIN"},
     {"STLS"}},
    {"no users",
     setup_no_users,
     0,
     {"USER", "TOP"},
     {"SASL CRAM-MD5 LOGIN PLAIN"}},
    {"auth list", setup_auth_list, 0, {"SASL SCRAM-SHA-256 PLAIN"}, {0}},
    {"starttls", setup_starttls, 1, {"STLS", "SASL CRAM-MD5 LOGIN PLAIN"}, {0}},
    {"requires tls",
     setup_requires_tls,
     1,
     {"STLS", "USER"},
     {"SASL CRAM-MD5 LOGIN PLAIN"}},
    {"advertise and withhold",
     setup_advertise_withhold,
     1,
     {"SASL X-ONLY", "LOGIN-DELAY 900", "..DOTTED", "TOP"},
     {"PIPELINING", "STLS", "USER", "SASL CRAM-MD5 LOGIN PLAIN"}},
};

START_TEST(capa_contents)
{
  const struct capa_case *cc = &capa_cases[_i];
  struct fc *t = fc_new(&pop3_client);
  struct mp_fake_config cfg = pop3_cfg();
  cc->setup(&cfg);
  if (cc->tls)
    fc_tls(t);
  static const struct fc_step steps[] = {
      {"CAPA", 1, .multi = 1}, {"QUIT", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert_str_eq(t->cl[0].lines[1], "+OK Capability list follows");
  ck_assert_str_eq(before_last(t), ".");
  for (size_t i = 0; i < 8 && cc->want[i]; i++)
    ck_assert_msg(fc_has_line(t->cl, cc->want[i]), "%s: no \"%s\"", cc->name,
                  cc->want[i]);
  for (size_t i = 0; i < 8 && cc->absent[i]; i++)
    ck_assert_msg(!fc_has_line(t->cl, cc->absent[i]), "%s: got \"%s\"",
                  cc->name, cc->absent[i]);
  fc_free(t);
}
END_TEST

START_TEST(capa_after_login_and_after_tls)
{
  struct fc *t = fc_new(&pop3_client);
  fc_tls(t);
  struct mp_fake_config cfg = pop3_cfg();
  setup_requires_tls(&cfg);
  static const struct fc_step steps[] = {{"STLS", 1, .tls = 1},
                                         {"CAPA", 1, .multi = 1},
                                         {"USER " USER},
                                         {"PASS " PASS},
                                         {"CAPA", 1, .multi = 1},
                                         {"QUIT", FC_NONE},
                                         {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert(t->cl[0].tls_up);
  /* After the handshake: SASL shows, STLS does not (RFC 2595 4). */
  long first = fc_line_index(t->cl, "+OK Capability list follows");
  ck_assert_int_ge(first, 0);
  ck_assert_str_eq(t->cl[0].lines[first + 6], "USER");
  ck_assert_str_eq(t->cl[0].lines[first + 7], "SASL CRAM-MD5 LOGIN PLAIN");
  ck_assert_str_eq(t->cl[0].lines[first + 8], ".");
  /* After login: no login capabilities. */
  long second = first + 11;
  ck_assert_str_eq(t->cl[0].lines[second], "+OK Capability list follows");
  ck_assert_str_eq(t->cl[0].lines[second + 5], "PIPELINING");
  ck_assert_str_eq(t->cl[0].lines[second + 6], ".");
  fc_free(t);
}
END_TEST

/* ---- login ------------------------------------------------------------- */

struct login_case {
  const char *name;
  int apop;
  int requires_tls;
  struct fc_step steps[6];
  const char *want; /* the answer before QUIT's */
};

static const struct login_case login_cases[] = {
    {"user pass",
     0,
     0,
     {{"USER " USER}, {"PASS " PASS}, {"QUIT", FC_NONE}, {NULL}},
     "+OK Logged in: 0 messages (0 octets)"},
    {"user case-insensitive",
     0,
     0,
     {{"user PROBE@example.test"}, {"pass " PASS}, {"QUIT", FC_NONE}, {NULL}},
     "+OK Logged in: 0 messages (0 octets)"},
    {"wrong password",
     0,
     0,
     {{"USER " USER}, {"PASS wrong"}, {"QUIT", FC_NONE}, {NULL}},
     "-ERR [AUTH] Authentication failed."},
    {"password with a space",
     0,
     0,
     {{"USER " USER}, {"PASS " PASS " "}, {"QUIT", FC_NONE}, {NULL}},
     "-ERR [AUTH] Authentication failed."},
    {"unknown user",
     0,
     0,
     {{"USER nobody"}, {"PASS " PASS}, {"QUIT", FC_NONE}, {NULL}},
     "-ERR [AUTH] Authentication failed."},
    {"pass without user",
     0,
     0,
     {{"PASS " PASS}, {"QUIT", FC_NONE}, {NULL}},
     "-ERR No username given"},
    {"user is forgotten after a failure",
     0,
     0,
     {{"USER " USER}, {"PASS x"}, {"PASS " PASS}, {"QUIT", FC_NONE}, {NULL}},
     "-ERR No username given"},
    {"apop",
     1,
     0,
     {{NULL, 0, .make = apop_good}, {"QUIT", FC_NONE}, {NULL}},
     "+OK Logged in: 0 messages (0 octets)"},
    {"apop wrong password",
     1,
     0,
     {{NULL, 0, .make = apop_bad}, {"QUIT", FC_NONE}, {NULL}},
     "-ERR [AUTH] Authentication failed."},
    {"apop without a timestamp",
     0,
     0,
     {{"APOP " USER " 0123456789abcdef0123456789abcdef"},
      {"QUIT", FC_NONE},
      {NULL}},
     "-ERR APOP is not supported here"},
    {"apop bad digest",
     1,
     0,
     {{"APOP " USER " 1234"}, {"QUIT", FC_NONE}, {NULL}},
     "-ERR Usage: APOP name digest"},
    {"auth plain initial",
     0,
     0,
     {{"AUTH PLAIN " PLAIN_OK}, {"QUIT", FC_NONE}, {NULL}},
     "+OK Logged in: 0 messages (0 octets)"},
    {"auth plain after +",
     0,
     0,
     {{"AUTH PLAIN"}, {PLAIN_OK}, {"QUIT", FC_NONE}, {NULL}},
     "+OK Logged in: 0 messages (0 octets)"},
    {"auth plain bad",
     0,
     0,
     {{"AUTH PLAIN " PLAIN_BAD}, {"QUIT", FC_NONE}, {NULL}},
     "-ERR [AUTH] Authentication failed."},
    {"auth login",
     0,
     0,
     {{"AUTH LOGIN"},
      {"cHJvYmVAZXhhbXBsZS50ZXN0"},
      {"czNjcmV0"},
      {"QUIT", FC_NONE},
      {NULL}},
     "+OK Logged in: 0 messages (0 octets)"},
    {"auth cancel",
     0,
     0,
     {{"AUTH LOGIN"}, {"*"}, {"QUIT", FC_NONE}, {NULL}},
     "-ERR Authentication cancelled"},
    {"auth bad base64",
     0,
     0,
     {{"AUTH PLAIN"}, {"not base64!"}, {"QUIT", FC_NONE}, {NULL}},
     "-ERR Invalid SASL response"},
    {"auth unknown mechanism",
     0,
     0,
     {{"AUTH X-UNKNOWN"}, {"QUIT", FC_NONE}, {NULL}},
     "-ERR Unsupported authentication mechanism"},
    {"auth not offered",
     0,
     0,
     {{"AUTH SCRAM-SHA-1"}, {"QUIT", FC_NONE}, {NULL}},
     "-ERR Unsupported authentication mechanism"},
    {"auth lists mechanisms",
     0,
     0,
     {{"AUTH", 1, .multi = 1}, {"QUIT", FC_NONE}, {NULL}},
     "."},
    {"login twice",
     0,
     0,
     {{"USER " USER},
      {"PASS " PASS},
      {"USER " USER},
      {"QUIT", FC_NONE},
      {NULL}},
     "-ERR Command not valid after login"},
    {"requires tls: user",
     0,
     1,
     {{"USER " USER}, {"QUIT", FC_NONE}, {NULL}},
     TLS_FIRST},
    {"requires tls: auth",
     0,
     1,
     {{"AUTH PLAIN " PLAIN_OK}, {"QUIT", FC_NONE}, {NULL}},
     TLS_FIRST},
    {"requires tls: apop",
     1,
     1,
     {{NULL, 0, .make = apop_good}, {"QUIT", FC_NONE}, {NULL}},
     TLS_FIRST},
};

START_TEST(login_table)
{
  const struct login_case *lc = &login_cases[_i];
  struct fc *t = fc_new(&pop3_client);
  struct mp_fake_config cfg = pop3_cfg();
  cfg.apop = lc->apop;
  cfg.auth_requires_tls = lc->requires_tls;
  fc_run(t, &cfg, lc->steps);
  ck_assert_msg(strncmp(last(t), BYE, strlen(BYE)) == 0, "%s: %s", lc->name,
                last(t));
  ck_assert_msg(strcmp(before_last(t), lc->want) == 0, "%s: got \"%s\"",
                lc->name, before_last(t));
  fc_free(t);
}
END_TEST

START_TEST(auth_lists_mechanisms)
{
  struct fc *t = fc_new(&pop3_client);
  struct mp_fake_config cfg = pop3_cfg();
  setup_auth_list(&cfg);
  static const struct fc_step steps[] = {
      {"AUTH", 1, .multi = 1}, {"QUIT", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert_uint_eq(t->cl[0].nlines, 6);
  ck_assert_str_eq(t->cl[0].lines[1], "+OK");
  ck_assert_str_eq(t->cl[0].lines[2], "SCRAM-SHA-256");
  ck_assert_str_eq(t->cl[0].lines[3], "PLAIN");
  ck_assert_str_eq(t->cl[0].lines[4], ".");
  fc_free(t);
}
END_TEST

/* Mechanisms with a server challenge, answered by wire/sasl.h's client. */
static const int sasl_mechs[] = {MP_SASL_CRAM_MD5, MP_SASL_SCRAM_SHA_256,
                                 MP_SASL_SCRAM_SHA_1, MP_SASL_LOGIN};

START_TEST(auth_with_challenges)
{
  int mech = sasl_mechs[_i];
  struct fc *t = fc_new(&pop3_client);
  struct mp_fake_config cfg = pop3_cfg();
  char *mechs[] = {(char *)mp_sasl_name(mech)};
  cfg.auth = mechs;
  cfg.nauth = 1;
  cfg.auth_set = 1;
  t->cl[0].mech = mech;
  /* CRAM-MD5: challenge, answer. SCRAM: client-first as the initial
   * response, server-first, client-final, server-final ("+ v="), "".
   * LOGIN: two prompts. */
  static const struct fc_step cram[] = {{NULL, 0, .make = auth_start},
                                        {NULL, 0, .make = auth_answer},
                                        {"QUIT", FC_NONE},
                                        {NULL}};
  static const struct fc_step scram[] = {{NULL, 0, .make = auth_start},
                                         {NULL, 0, .make = auth_answer},
                                         {NULL, 0, .make = auth_answer},
                                         {"QUIT", FC_NONE},
                                         {NULL}};
  fc_run(t, &cfg, mech == MP_SASL_CRAM_MD5 ? cram : scram);
  ck_assert_msg(
      strcmp(before_last(t), "+OK Logged in: 0 messages (0 octets)") == 0,
      "%s: %s", mp_sasl_name(mech), before_last(t));
  if (mech == MP_SASL_CRAM_MD5) {
    /* RFC 2195: the challenge is a base64 "<...@host>". */
    size_t n;
    unsigned char *ch = mp_b64_decode(t->cl[0].lines[1] + 2, &n);
    ck_assert_ptr_nonnull(ch);
    ck_assert_int_eq(ch[0], '<');
    ck_assert_ptr_nonnull(strstr((char *)ch, "@" HOST ">"));
    free(ch);
  }
  fc_free(t);
}
END_TEST

/* A second session cannot open a maildrop a first one holds (RFC 1939 4,
 * RFC 2449 8.1.1); once the first quits, it can. */
START_TEST(maildrop_lock_in_use)
{
  struct fc *t = fc_new(&pop3_client);
  struct mp_fake_config cfg = pop3_cfg();
  seed_three(&cfg);
  static const struct fc_step a[] = {{"USER " USER},
                                     {"PASS " PASS, 0, .poke = 1},
                                     {"", 0, .wait = 1},
                                     {"QUIT", 0, .poke = 1},
                                     {NULL}};
  static const struct fc_step b[] = {
      {"", 0, .wait = 1}, {"USER " USER}, {"PASS " PASS, 0, .poke = 1},
      {"", 0, .wait = 1}, {"USER " USER}, {"PASS " PASS},
      {"QUIT", FC_NONE},  {NULL}};
  fc_run2(t, &cfg, a, b);
  ck_assert_str_eq(t->cl[0].lines[2], "+OK Logged in: 3 messages (900 octets)");
  ck_assert_str_eq(t->cl[1].lines[2],
                   "-ERR [IN-USE] Mailbox is locked by another POP3 session");
  ck_assert_str_eq(t->cl[1].lines[4], "+OK Logged in: 3 messages (900 octets)");
  ck_assert_uint_eq(t->sessions, 2);
  fc_free(t);
}
END_TEST

/* ---- the transaction state --------------------------------------------- */

START_TEST(listing_commands)
{
  struct fc *t = fc_new(&pop3_client);
  struct mp_fake_config cfg = pop3_cfg();
  seed_three(&cfg);
  static const struct fc_step steps[] = {
      {"USER " USER},    {"PASS " PASS},
      {"STAT"},          {"LIST", 1, .multi = 1},
      {"LIST 2"},        {"LIST 4"},
      {"LIST 0"},        {"LIST x"},
      {"LIST 1 2"},      {"UIDL", 1, .multi = 1},
      {"UIDL 3"},        {"NOOP"},
      {"QUIT", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  const char *const want[] = {
      GREETING,
      "+OK",
      "+OK Logged in: 3 messages (900 octets)",
      "+OK 3 900",
      "+OK 3 messages (900 octets)",
      "1 300",
      "2 300",
      "3 300",
      ".",
      "+OK 2 300",
      "-ERR There's no message with that number",
      "-ERR There's no message with that number",
      "-ERR Invalid message number",
      "-ERR Too many arguments",
      "+OK Unique-ID listing follows",
  };
  for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++)
    ck_assert_str_eq(t->cl[0].lines[i], want[i]);
  /* RFC 1939 7: unique-ids of printable characters, one per message, and
   * UIDL n says the same as the listing. */
  char uid[3][80];
  for (int i = 0; i < 3; i++) {
    const char *l = t->cl[0].lines[15 + i];
    ck_assert_int_eq(l[0], '1' + i);
    ck_assert_int_eq(l[1], ' ');
    ck_assert_uint_ge(strlen(l + 2), 1);
    ck_assert_uint_le(strlen(l + 2), 70);
    snprintf(uid[i], sizeof(uid[i]), "%s", l + 2);
  }
  ck_assert_str_ne(uid[0], uid[1]);
  ck_assert_str_eq(t->cl[0].lines[18], ".");
  char one[96];
  snprintf(one, sizeof(one), "+OK 3 %s", uid[2]);
  ck_assert_str_eq(t->cl[0].lines[19], one);
  ck_assert_str_eq(t->cl[0].lines[20], "+OK");
  ck_assert_str_eq(last(t), BYE " (3 messages left)");
  fc_free(t);
}
END_TEST

#define MESSAGE                                                                \
  "From: a@example.test\r\n"                                                   \
  "Subject: dots\r\n"                                                          \
  "\r\n"                                                                       \
  "first\r\n"                                                                  \
  ".dot\r\n"                                                                   \
  ".\r\n"                                                                      \
  "..two\r\n"                                                                  \
  "last\r\n"

START_TEST(retr_and_top_dot_stuff)
{
  struct fc *t = fc_new(&pop3_client);
  struct mp_fake_config cfg = pop3_cfg();
  deliver(t, MESSAGE, 0);
  static const struct fc_step steps[] = {{"USER " USER},
                                         {"PASS " PASS},
                                         {"RETR 1", 1, .multi = 1},
                                         {"TOP 1 0", 1, .multi = 1},
                                         {"TOP 1 2", 1, .multi = 1},
                                         {"TOP 1 99", 1, .multi = 1},
                                         {"TOP 1"},
                                         {"TOP 1 -1"},
                                         {"RETR 2"},
                                         {"QUIT", FC_NONE},
                                         {NULL}};
  fc_run(t, &cfg, steps);
  char size[64];
  snprintf(size, sizeof(size), "+OK %zu octets", strlen(MESSAGE));
  const char *const want[] = {
      /* RETR 1: the whole message, dot-stuffed (RFC 1939 3). */
      size, "From: a@example.test", "Subject: dots", "", "first", "..dot", "..",
      "...two", "last", ".",
      /* TOP 1 0: the header and the blank line. */
      "+OK Top of message follows", "From: a@example.test", "Subject: dots", "",
      ".",
      /* TOP 1 2: and two body lines. */
      "+OK Top of message follows", "From: a@example.test", "Subject: dots", "",
      "first", "..dot", ".",
      /* TOP 1 99: all of it. */
      "+OK Top of message follows", "From: a@example.test", "Subject: dots", "",
      "first", "..dot", "..", "...two", "last", ".",
      "-ERR Usage: TOP msg lines", "-ERR Invalid number of lines",
      "-ERR There's no message with that number"};
  for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++)
    ck_assert_msg(strcmp(t->cl[0].lines[3 + i], want[i]) == 0,
                  "line %zu: \"%s\", not \"%s\"", 3 + i, t->cl[0].lines[3 + i],
                  want[i]);
  /* RETR marks the message read for IMAP; the store keeps the text. */
  uint64_t *ids;
  size_t n;
  ck_assert_int_eq(mp_mailstore_list(t->store, USER, mp_now_us(), &ids, &n), 0);
  ck_assert_uint_eq(n, 1);
  const struct mp_mail *m = mp_mailstore_get(t->store, USER, ids[0]);
  free(ids);
  ck_assert_uint_eq(m->flags, MP_MAIL_SEEN);
  ck_assert_str_eq(m->data, MESSAGE);
  fc_free(t);
}
END_TEST

START_TEST(sizes_count_crlf)
{
  /* A message with bare LF line ends and no final line end: RETR sends
   * CRLF lines, and LIST's size counts what RETR sends. */
  struct fc *t = fc_new(&pop3_client);
  struct mp_fake_config cfg = pop3_cfg();
  deliver(t, "Subject: lf\n\nbody", 0);
  static const struct fc_step steps[] = {
      {"USER " USER},    {"PASS " PASS}, {"LIST 1"}, {"RETR 1", 1, .multi = 1},
      {"QUIT", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert_str_eq(t->cl[0].lines[3], "+OK 1 21");
  ck_assert_str_eq(t->cl[0].lines[4], "+OK 21 octets");
  ck_assert_str_eq(t->cl[0].lines[5], "Subject: lf");
  ck_assert_str_eq(t->cl[0].lines[6], "");
  ck_assert_str_eq(t->cl[0].lines[7], "body");
  ck_assert_str_eq(t->cl[0].lines[8], ".");
  fc_free(t);
}
END_TEST

START_TEST(only_visible_messages)
{
  /* Delayed deliveries and messages IMAP flagged deleted are not in the
   * maildrop. */
  struct fc *t = fc_new(&pop3_client);
  struct mp_fake_config cfg = pop3_cfg();
  deliver(t, "Subject: now\r\n\r\nx\r\n", 0);
  deliver(t, "Subject: later\r\n\r\nx\r\n", 60000);
  uint64_t gone = deliver(t, "Subject: flagged\r\n\r\nx\r\n", 0);
  ck_assert_int_eq(mp_mailstore_delete(t->store, USER, gone), 0);
  static const struct fc_step steps[] = {
      {"USER " USER},    {"PASS " PASS}, {"STAT"}, {"TOP 1 0", 1, .multi = 1},
      {"QUIT", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert_str_eq(t->cl[0].lines[2], "+OK Logged in: 1 messages (19 octets)");
  ck_assert_str_eq(t->cl[0].lines[3], "+OK 1 19");
  ck_assert_str_eq(t->cl[0].lines[5], "Subject: now");
  fc_free(t);
}
END_TEST

START_TEST(dele_and_quit_delete)
{
  struct fc *t = fc_new(&pop3_client);
  struct mp_fake_config cfg = pop3_cfg();
  seed_three(&cfg);
  static const struct fc_step steps[] = {
      {"USER " USER}, {"PASS " PASS},    {"DELE 1"}, {"DELE 1"},
      {"LIST 1"},     {"RETR 1"},        {"STAT"},   {"LIST", 1, .multi = 1},
      {"DELE 3"},     {"QUIT", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  const char *const want[] = {"+OK Marked to be deleted.",
                              "-ERR Message is deleted",
                              "-ERR Message is deleted",
                              "-ERR Message is deleted",
                              "+OK 2 600",
                              "+OK 2 messages (600 octets)",
                              "2 300",
                              "3 300",
                              ".",
                              "+OK Marked to be deleted.",
                              BYE " (1 messages left)"};
  for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++)
    ck_assert_str_eq(t->cl[0].lines[3 + i], want[i]);
  /* RFC 1939 6: the UPDATE state removed them from the store. */
  ck_assert_uint_eq(stored(t), 1);
  uint64_t *ids;
  size_t n;
  ck_assert_int_eq(mp_mailstore_list(t->store, USER, mp_now_us(), &ids, &n), 0);
  ck_assert_uint_eq(n, 1);
  const struct mp_mail *m = mp_mailstore_get(t->store, USER, ids[0]);
  free(ids);
  ck_assert_ptr_nonnull(strstr(m->data, "Subject: seeded message 2\r\n"));
  fc_free(t);
}
END_TEST

START_TEST(rset_undoes_dele)
{
  struct fc *t = fc_new(&pop3_client);
  struct mp_fake_config cfg = pop3_cfg();
  seed_three(&cfg);
  static const struct fc_step steps[] = {
      {"USER " USER}, {"PASS " PASS}, {"DELE 1"},        {"DELE 2"},
      {"RSET"},       {"STAT"},       {"QUIT", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert_str_eq(t->cl[0].lines[5],
                   "+OK Maildrop has 3 messages (900 octets)");
  ck_assert_str_eq(t->cl[0].lines[6], "+OK 3 900");
  ck_assert_uint_eq(stored(t), 3);
  fc_free(t);
}
END_TEST

START_TEST(no_quit_deletes_nothing)
{
  /* A session that ends without QUIT (the client closes, or the
   * autologout timer) never enters UPDATE (RFC 1939 3, 6). */
  for (int idle = 0; idle < 2; idle++) {
    struct fc *t = fc_new(&pop3_client);
    struct mp_fake_config cfg = pop3_cfg();
    seed_three(&cfg);
    cfg.idle_timeout_ms = 200;
    static const struct fc_step close_steps[] = {
        {"USER " USER}, {"PASS " PASS}, {"DELE 1"}, {NULL}};
    static const struct fc_step idle_steps[] = {
        {"USER " USER}, {"PASS " PASS}, {"DELE 1"}, {"", FC_NONE}, {NULL}};
    fc_run(t, &cfg, idle ? idle_steps : close_steps);
    ck_assert_str_eq(t->cl[0].lines[3], "+OK Marked to be deleted.");
    if (idle) {
      ck_assert_str_eq(last(t), "-ERR Disconnected for inactivity.");
      ck_assert(t->cl[0].server_closed);
    }
    ck_assert_uint_eq(stored(t), 3);
    fc_free(t);
  }
}
END_TEST

START_TEST(wrong_state_and_errors)
{
  struct fc *t = fc_new(&pop3_client);
  struct mp_fake_config cfg = pop3_cfg();
  static const struct fc_step steps[] = {
      {"STAT"},   {"NOOP"}, {"FROB"},          {"CAPA x"},
      {"QUIT x"}, {"USER"}, {"QUIT", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  const char *const want[] = {"-ERR Command not valid before login",
                              "-ERR Command not valid before login",
                              "-ERR Unknown command",
                              "-ERR Usage: CAPA",
                              "-ERR Usage: QUIT",
                              "-ERR Usage: USER name",
                              BYE};
  for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++)
    ck_assert_str_eq(t->cl[0].lines[1 + i], want[i]);
  fc_free(t);
}
END_TEST

START_TEST(error_limit_closes)
{
  struct fc *t = fc_new(&pop3_client);
  struct mp_fake_config cfg = pop3_cfg();
  static struct fc_step steps[22];
  for (int i = 0; i < 20; i++)
    steps[i] = (struct fc_step){"BOGUS"};
  steps[19].replies = FC_NONE; /* the 20th bad command */
  steps[20] = (struct fc_step){NULL};
  fc_run(t, &cfg, steps);
  ck_assert_uint_eq(t->cl[0].nlines, 21);
  ck_assert_str_eq(t->cl[0].lines[19], "-ERR Unknown command");
  ck_assert_str_eq(t->cl[0].lines[20], "-ERR Too many bad commands, closing");
  ck_assert(t->cl[0].server_closed);
  fc_free(t);
}
END_TEST

START_TEST(overlong_command)
{
  struct fc *t = fc_new(&pop3_client);
  struct mp_fake_config cfg = pop3_cfg();
  static char line[300];
  memset(line, 'x', sizeof(line) - 1);
  memcpy(line, "USER ", 5);
  struct fc_step steps[] = {{line}, {"QUIT", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert_str_eq(t->cl[0].lines[1], "-ERR Line too long");
  fc_free(t);
}
END_TEST

/* ---- rules on POP3 verbs ------------------------------------------------ */

START_TEST(replaced_commands_take_no_effect)
{
  struct fc *t = fc_new(&pop3_client);
  struct mp_fake_config cfg = pop3_cfg();
  seed_three(&cfg);
  static char *no[] = {"-ERR [SYS/TEMP] not now"};
  static char *fake_ok[] = {"+OK sure"};
  struct mp_fake_rule rules[] = {
      {.on = MP_ON_COMMAND,
       .match = "DELE",
       .nth = 1,
       .when_tls = -1,
       .reply = no,
       .nreply = 1},
      {.on = MP_ON_LINE,
       .match = "QUIT",
       .nth = 1,
       .when_tls = -1,
       .reply = fake_ok,
       .nreply = 1},
  };
  cfg.rules = rules;
  cfg.nrules = 2;
  /* DELE 1 is refused by the rule and marks nothing; DELE 2 marks; the
   * first QUIT is replaced (no UPDATE), so nothing is deleted and the
   * session goes on; the second QUIT deletes message 2. */
  static const struct fc_step steps[] = {
      {"USER " USER}, {"PASS " PASS}, {"DELE 1"},        {"DELE 2"},
      {"QUIT"},       {"STAT"},       {"QUIT", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert_str_eq(t->cl[0].lines[3], "-ERR [SYS/TEMP] not now");
  ck_assert_str_eq(t->cl[0].lines[4], "+OK Marked to be deleted.");
  ck_assert_str_eq(t->cl[0].lines[5], "+OK sure");
  ck_assert_str_eq(t->cl[0].lines[6], "+OK 2 600");
  ck_assert_str_eq(last(t), BYE " (2 messages left)");
  ck_assert_uint_eq(stored(t), 2);
  fc_free(t);
}
END_TEST

START_TEST(replaced_pass_does_not_log_in)
{
  struct fc *t = fc_new(&pop3_client);
  struct mp_fake_config cfg = pop3_cfg();
  static char *ok[] = {"+OK pretend"};
  struct mp_fake_rule rules[] = {{.on = MP_ON_COMMAND,
                                  .match = "PASS",
                                  .when_tls = -1,
                                  .reply = ok,
                                  .nreply = 1}};
  cfg.rules = rules;
  cfg.nrules = 1;
  static const struct fc_step steps[] = {
      {"USER " USER}, {"PASS " PASS}, {"STAT"}, {"QUIT", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert_str_eq(t->cl[0].lines[2], "+OK pretend");
  ck_assert_str_eq(t->cl[0].lines[3], "-ERR Command not valid before login");
  fc_free(t);
}
END_TEST

START_TEST(sasl_response_line_rule)
{
  /* A line rule sees the SASL response (a continuation) and ends the
   * exchange with its reply. */
  struct fc *t = fc_new(&pop3_client);
  struct mp_fake_config cfg = pop3_cfg();
  static char *busy[] = {"-ERR [IN-USE] locked"};
  struct mp_fake_rule rules[] = {{.on = MP_ON_LINE,
                                  .match = PLAIN_OK,
                                  .when_tls = -1,
                                  .reply = busy,
                                  .nreply = 1}};
  cfg.rules = rules;
  cfg.nrules = 1;
  static const struct fc_step steps[] = {
      {"AUTH PLAIN"}, {PLAIN_OK}, {"STAT"}, {"QUIT", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert_str_eq(t->cl[0].lines[1], "+ ");
  ck_assert_str_eq(t->cl[0].lines[2], "-ERR [IN-USE] locked");
  ck_assert_str_eq(t->cl[0].lines[3], "-ERR Command not valid before login");
  fc_free(t);
}
END_TEST

START_TEST(pipelined_commands_keep_order_under_delay)
{
  struct fc *t = fc_new(&pop3_client);
  struct mp_fake_config cfg = pop3_cfg();
  seed_three(&cfg);
  struct mp_fake_rule rules[] = {
      {.on = MP_ON_COMMAND, .match = "list", .when_tls = -1, .delay_ms = 200}};
  cfg.rules = rules;
  cfg.nrules = 1;
  /* RFC 2449 6.6: LIST, STAT and NOOP in one write; answers in order. */
  static const struct fc_step steps[] = {
      {"USER " USER},
      {"PASS " PASS},
      {"LIST\r\nSTAT\r\nNOOP", 3, .multi = 1},
      {"QUIT", FC_NONE},
      {NULL}};
  uint64_t t0 = mp_now_us();
  fc_run(t, &cfg, steps);
  ck_assert_uint_ge(mp_now_us() - t0, 200000);
  ck_assert_str_eq(t->cl[0].lines[3], "+OK 3 messages (900 octets)");
  ck_assert_str_eq(t->cl[0].lines[7], ".");
  ck_assert_str_eq(t->cl[0].lines[8], "+OK 3 900");
  ck_assert_str_eq(t->cl[0].lines[9], "+OK");
  fc_free(t);
}
END_TEST

/* ---- TLS ---------------------------------------------------------------- */

START_TEST(stls_forgets_and_discards_pipelined)
{
  struct fc *t = fc_new(&pop3_client);
  fc_tls(t);
  struct mp_fake_config cfg = pop3_cfg();
  setup_starttls(&cfg);
  /* USER before STLS is forgotten (RFC 2595 4); NOOP pipelined after STLS
   * is dropped, never read as if it came inside TLS (CVE-2011-0411). */
  static const struct fc_step steps[] = {
      {"USER " USER}, {"STLS\r\nNOOP", 1, .tls = 1}, {"PASS " PASS},
      {"STLS"},       {"AUTH PLAIN " PLAIN_OK},      {"QUIT", FC_NONE},
      {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert_int_eq(t->cl[0].tls_status, 0);
  ck_assert(t->cl[0].tls_up);
  const char *const want[] = {"+OK", "+OK Begin TLS negotiation",
                              "-ERR No username given",
                              "-ERR Command not permitted when TLS active",
                              "+OK Logged in: 0 messages (0 octets)"};
  for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++)
    ck_assert_str_eq(t->cl[0].lines[1 + i], want[i]);
  ck_assert(!fc_saw(t, "NOOP"));
  for (size_t i = 0; i < t->nseen; i++)
    ck_assert_int_eq(t->seen_tls[i], i >= 2); /* USER, STLS in clear */
  fc_free(t);
}
END_TEST

START_TEST(stls_not_available)
{
  struct fc *t = fc_new(&pop3_client);
  struct mp_fake_config cfg = pop3_cfg();
  static const struct fc_step steps[] = {
      {"STLS"}, {"STLS now"}, {"QUIT", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert_str_eq(t->cl[0].lines[1], "-ERR TLS is not available");
  ck_assert_str_eq(t->cl[0].lines[2], "-ERR Usage: STLS");
  fc_free(t);
}
END_TEST

START_TEST(requires_tls_then_login_inside)
{
  struct fc *t = fc_new(&pop3_client);
  fc_tls(t);
  struct mp_fake_config cfg = pop3_cfg();
  setup_requires_tls(&cfg);
  static const struct fc_step steps[] = {
      {"USER " USER}, {"STLS", 1, .tls = 1}, {"USER " USER},
      {"PASS " PASS}, {"QUIT", FC_NONE},     {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert_str_eq(t->cl[0].lines[1], TLS_FIRST);
  ck_assert_str_eq(t->cl[0].lines[4], "+OK Logged in: 0 messages (0 octets)");
  fc_free(t);
}
END_TEST

START_TEST(implicit_tls_greets_after_handshake)
{
  struct fc *t = fc_new(&pop3_client);
  fc_tls(t);
  struct mp_fake_config cfg = pop3_cfg();
  cfg.tls = MP_FAKE_TLS_IMPLICIT;
  t->cl[0].implicit = 1;
  static const struct fc_step steps[] = {
      {"CAPA", 1, .multi = 1}, {"STLS"}, {"QUIT", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert(t->cl[0].tls_up);
  ck_assert_str_eq(t->cl[0].lines[0], GREETING);
  ck_assert(!fc_has_line(t->cl, "STLS"));
  ck_assert(fc_has_line(t->cl, "-ERR Command not permitted when TLS active"));
  ck_assert_int_eq(t->seen_tls[0], 1);
  fc_free(t);
}
END_TEST

static Suite *fake_pop3_suite(void)
{
  Suite *s = suite_create("fake_pop3");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, greeting_and_quit);
  tcase_add_test(tc, greeting_with_apop_timestamp);
  tcase_add_loop_test(tc, capa_contents, 0,
                      (int)(sizeof(capa_cases) / sizeof(capa_cases[0])));
  tcase_add_test(tc, capa_after_login_and_after_tls);
  tcase_add_loop_test(tc, login_table, 0,
                      (int)(sizeof(login_cases) / sizeof(login_cases[0])));
  tcase_add_test(tc, auth_lists_mechanisms);
  tcase_add_loop_test(tc, auth_with_challenges, 0,
                      (int)(sizeof(sasl_mechs) / sizeof(sasl_mechs[0])));
  tcase_add_test(tc, maildrop_lock_in_use);
  tcase_add_test(tc, listing_commands);
  tcase_add_test(tc, retr_and_top_dot_stuff);
  tcase_add_test(tc, sizes_count_crlf);
  tcase_add_test(tc, only_visible_messages);
  tcase_add_test(tc, dele_and_quit_delete);
  tcase_add_test(tc, rset_undoes_dele);
  tcase_add_test(tc, no_quit_deletes_nothing);
  tcase_add_test(tc, wrong_state_and_errors);
  tcase_add_test(tc, error_limit_closes);
  tcase_add_test(tc, overlong_command);
  tcase_add_test(tc, replaced_commands_take_no_effect);
  tcase_add_test(tc, replaced_pass_does_not_log_in);
  tcase_add_test(tc, sasl_response_line_rule);
  tcase_add_test(tc, pipelined_commands_keep_order_under_delay);
  tcase_add_test(tc, stls_forgets_and_discards_pipelined);
  tcase_add_test(tc, stls_not_available);
  tcase_add_test(tc, requires_tls_then_login_inside);
  tcase_add_test(tc, implicit_tls_greets_after_handshake);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(fake_pop3_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
