/* Tests for the fake IMAP server (fake_servers/imap.c) with the shared
 * script engine and sessions: each test starts a server on 127.0.0.1:0 on
 * a fresh loop, talks to it with the scripted client of
 * tests/fake_client.h following a list of steps, then stops it and checks
 * that the loop closes with no handle left. The client reads literals
 * ("{n}" at a line's end) as raw bytes. */
#include "fake_servers/fake.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_servers/imap_internal.h"
#include "fake_servers/mailstore.h"
#include "tests/fake_client.h"
#include "wire/conn.h"
#include "wire/sasl.h"

#define HOST FC_HOST
#define USER "probe@example.test"
#define PASS "s3cret"
#define PLAIN_OK "AHByb2JlQGV4YW1wbGUudGVzdABzM2NyZXQ="  /* s3cret */
#define PLAIN_BAD "AHByb2JlQGV4YW1wbGUudGVzdAB3cm9uZw==" /* wrong */

/* The step tables below name only the fields a step needs. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* "{n}" or "{n+}" at the end of a line: n, else -1. */
static long literal_at_end(const char *line, size_t len)
{
  if (len < 3 || line[len - 1] != '}')
    return -1;
  const char *open = strrchr(line, '{');
  if (!open)
    return -1;
  char *end;
  long n = strtol(open + 1, &end, 10);
  return end != open + 1 && (*end == '}' || *end == '+') ? n : -1;
}

/* The greeting, a tagged response, a continuation request or an untagged
 * BAD (the answer to a line without a tag) ends what a step waits for;
 * other untagged lines and literal tails do not. A literal's bytes come
 * raw. c->state: the next line continues a response after a literal. */
static int imap_reply_ends(struct fc_client *c, const char *line, size_t len)
{
  int was_cont = c->state;
  c->state = 0;
  long lit = literal_at_end(line, len);
  if (lit >= 0) {
    c->state = 1;
    if (lit > 0)
      mp_conn_expect_raw(c->c, (uint64_t)lit);
  }
  return c->nlines == 1 || (!was_cont && lit < 0 &&
                            (!(line[0] == '*' && line[1] == ' ') ||
                             strncmp(line, "* BAD ", 6) == 0));
}

static const struct fc_proto imap_client = {.line = imap_reply_ends};

/* The last "+ ..." line's text after "+ ". */
static const char *last_challenge(const struct fc_client *c)
{
  for (size_t i = c->nlines; i-- > 0;)
    if (c->lines[i][0] == '+')
      return c->lines[i][1] == ' ' ? c->lines[i] + 2 : c->lines[i] + 1;
  return "";
}

/* A step's maker: answers the last "+ challenge" with the client's SASL
 * half (c->sasl, set by the test). */
static const char *sasl_answer(struct fc_client *c)
{
  char *out = NULL;
  int rc = mp_sasl_client_step(c->sasl, last_challenge(c), &out);
  ck_assert_int_ge(rc, 0);
  snprintf(c->made, sizeof(c->made), "%s", out ? out : "");
  free(out);
  return c->made;
}

/* A step's maker: the step's send, a space and the client's initial
 * response (SASL-IR, RFC 4959). */
static const char *sasl_ir(struct fc_client *c)
{
  char *ir = NULL;
  ck_assert_int_eq(mp_sasl_client_initial(c->sasl, &ir), 0);
  ck_assert_ptr_nonnull(ir);
  snprintf(c->made, sizeof(c->made), "%s %s", c->cur->send, ir);
  free(ir);
  return c->made;
}

/* Is word one of the space-separated words of line? */
static int has_word(const char *line, const char *word)
{
  size_t n = strlen(word);
  for (const char *p = line; (p = strstr(p, word)) != NULL; p++)
    if ((p == line || p[-1] == ' ' || p[-1] == '[') &&
        (p[n] == ' ' || p[n] == '\0' || p[n] == ']'))
      return 1;
  return 0;
}

static struct mp_fake_user users[] = {{USER, PASS}};

static struct mp_fake_config imap_cfg(void)
{
  struct mp_fake_config c;
  memset(&c, 0, sizeof(c));
  c.name = "mx";
  c.proto = MP_FAKE_IMAP;
  c.users = users;
  c.nusers = 1;
  return c;
}

#define MSG(token)                                                             \
  "From: Sender <sender@example.test>\r\n"                                     \
  "To: probe@example.test\r\n"                                                 \
  "Subject: probe\r\n"                                                         \
  "X-Mailprobe-Token: " token "\r\n"                                           \
  "\r\n"                                                                       \
  "hello\r\n"

/* ---- greeting and CAPABILITY --------------------------------------- */

struct cap_case {
  const char *name;
  void (*setup)(struct mp_fake_config *c);
  int tls;
  const char *greeting; /* exact, or NULL: starts "* OK [CAPABILITY " */
  const char *want[6];  /* words in the CAPABILITY line */
  const char *absent[6];
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

static void setup_starttls(struct mp_fake_config *c)
{
  c->tls = MP_FAKE_TLS_STARTTLS;
}

static void setup_requires_tls(struct mp_fake_config *c)
{
  c->tls = MP_FAKE_TLS_STARTTLS;
  c->auth_requires_tls = 1;
}

static char *auth_plain[] = {"PLAIN", "SCRAM-SHA-256"};
static char *hold[] = {"CAPABILITY-IN-GREETING", "SASL-IR", "AUTH=PLAIN"};
static char *adv[] = {"X-EXTRA", "IMAP4rev2"};
static void setup_withhold(struct mp_fake_config *c)
{
  c->auth = auth_plain;
  c->nauth = 2;
  c->auth_set = 1;
  c->withhold = hold;
  c->nwithhold = 3;
  c->advertise = adv;
  c->nadvertise = 2;
}

static const struct cap_case cap_cases[] = {
    {"users",
     setup_none,
     0,
     "* OK [CAPABILITY IMAP4rev1 AUTH=CRAM-MD5 AUTH=LOGIN AUTH=PLAIN SASL-IR "
     "LITERAL- UIDPLUS IDLE UNSELECT NAMESPACE ID ENABLE] " HOST " IMAP ready",
     {"IMAP4rev1", "AUTH=CRAM-MD5", "AUTH=PLAIN", "SASL-IR", "UIDPLUS", "IDLE"},
     {"STARTTLS", "LOGINDISABLED"}},
    {"no users", setup_no_users, 0, NULL, {"IMAP4rev1"}, {"AUTH=PLAIN"}},
    {"starttls",
     setup_starttls,
     1,
     NULL,
     {"STARTTLS", "AUTH=CRAM-MD5"},
     {"LOGINDISABLED"}},
    {"requires tls",
     setup_requires_tls,
     1,
     NULL,
     {"STARTTLS", "LOGINDISABLED"},
     {"AUTH=CRAM-MD5", "AUTH=PLAIN", "AUTH=LOGIN"}},
    {"withhold and advertise",
     setup_withhold,
     0,
     "* OK " HOST " IMAP ready",
     {"IMAP4rev1", "AUTH=SCRAM-SHA-256", "X-EXTRA", "IMAP4rev2"},
     {"AUTH=PLAIN", "SASL-IR", "AUTH=CRAM-MD5"}},
};

START_TEST(greeting_and_capability)
{
  const struct cap_case *cc = &cap_cases[_i];
  struct fc *t = fc_new(&imap_client);
  struct mp_fake_config cfg = imap_cfg();
  cc->setup(&cfg);
  if (cc->tls)
    fc_tls(t);
  static const struct fc_step steps[] = {
      {"a1 CAPABILITY"}, {"a2 LOGOUT", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  if (cc->greeting)
    ck_assert_str_eq(t->cl->lines[0], cc->greeting);
  else
    ck_assert_msg(strncmp(t->cl->lines[0], "* OK [CAPABILITY IMAP4rev1", 26) ==
                      0,
                  "%s: %s", cc->name, t->cl->lines[0]);
  const char *caps = fc_line_with(t->cl, "* CAPABILITY ");
  ck_assert_ptr_nonnull(caps);
  for (size_t i = 0; i < 6 && cc->want[i]; i++)
    ck_assert_msg(has_word(caps, cc->want[i]), "%s: no %s in %s", cc->name,
                  cc->want[i], caps);
  for (size_t i = 0; i < 6 && cc->absent[i]; i++)
    ck_assert_msg(!has_word(caps, cc->absent[i]), "%s: %s in %s", cc->name,
                  cc->absent[i], caps);
  /* The greeting's code says what CAPABILITY says. */
  if (!cc->greeting || cc->greeting[5] == '[')
    ck_assert_ptr_nonnull(strstr(t->cl->lines[0], caps + 13));
  ck_assert(fc_has_line(t->cl, "* BYE Logging out"));
  ck_assert(fc_has_line(t->cl, "a2 OK Logout completed."));
  ck_assert(t->cl->server_closed);
  fc_free(t);
}
END_TEST

/* ---- LOGIN ------------------------------------------------------------ */

START_TEST(login_quoted_and_literal)
{
  struct fc *t = fc_new(&imap_client);
  struct mp_fake_config cfg = imap_cfg();
  /* Wrong passwords three ways, then a synchronizing literal that is
   * right; a literal too big is refused before it is sent. */
  static const struct fc_step steps[] = {
      {"a1 LOGIN \"" USER "\" \"wrong\""},
      {"a2 LOGIN " USER " {5}"},
      {"wrong"},
      {"a3 LOGIN {18+}\r\n" USER " \"wr\\\"ong\""},
      {"a4 LOGIN x {100000}"},
      {"a5 SELECT INBOX"},
      {"a6 LOGIN {18}"},
      {USER " {6}"},
      {PASS},
      {"a7 LOGIN " USER " " PASS},
      {"a8 LOGOUT", FC_NONE},
      {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert(fc_has_line(t->cl, "a1 NO [AUTHENTICATIONFAILED] Authentication "
                               "failed."));
  ck_assert(fc_has_line(t->cl, "a2 NO [AUTHENTICATIONFAILED] Authentication "
                               "failed."));
  ck_assert(fc_has_line(t->cl, "a3 NO [AUTHENTICATIONFAILED] Authentication "
                               "failed."));
  ck_assert(fc_has_line(t->cl, "a4 NO [TOOBIG] Literal too big."));
  ck_assert(
      fc_has_line(t->cl, "a5 NO [CLIENTBUG] SELECT needs a login first."));
  ck_assert(fc_has_line(t->cl, "+ Ready for literal data"));
  ck_assert(fc_has_line(t->cl, "a6 OK Logged in"));
  ck_assert(fc_has_line(
      t->cl, "a7 NO [CLIENTBUG] LOGIN is not valid: already logged in."));
  /* Every line is in the record, the literals' bytes are not. */
  ck_assert(fc_saw(t, "a6 LOGIN {18}"));
  ck_assert(fc_saw(t, " {6}"));
  ck_assert(fc_saw(t, ""));
  ck_assert(!fc_saw(t, PASS));
  fc_free(t);
}
END_TEST

START_TEST(login_disabled_before_tls)
{
  struct fc *t = fc_new(&imap_client);
  fc_tls(t);
  struct mp_fake_config cfg = imap_cfg();
  setup_requires_tls(&cfg);
  /* NOOP pipelined after STARTTLS is dropped (RFC 2595 3.1,
   * CVE-2011-0411). */
  static const struct fc_step steps[] = {
      {"a1 LOGIN " USER " " PASS},
      {"a2 AUTHENTICATE PLAIN " PLAIN_OK},
      {"a3 STARTTLS\r\nx1 NOOP", 1, .tls = 1},
      {"a4 CAPABILITY"},
      {"a5 LOGIN " USER " " PASS},
      {"a6 STARTTLS"},
      {"a7 LOGOUT", FC_NONE},
      {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert_int_eq(t->cl->tls_status, 0);
  ck_assert(t->cl->tls_up);
  ck_assert(fc_has_line(t->cl,
                        "a1 NO [PRIVACYREQUIRED] Plaintext authentication "
                        "disallowed on non-secure (SSL/TLS) connections."));
  ck_assert(fc_has_line(t->cl,
                        "a2 NO [PRIVACYREQUIRED] Authentication disallowed "
                        "on non-secure (SSL/TLS) connections."));
  ck_assert(fc_has_line(t->cl, "a3 OK Begin TLS negotiation now."));
  const char *caps = fc_line_with(t->cl, "* CAPABILITY ");
  ck_assert(!has_word(caps, "STARTTLS"));
  ck_assert(!has_word(caps, "LOGINDISABLED"));
  ck_assert(has_word(caps, "AUTH=PLAIN"));
  ck_assert(fc_has_line(t->cl, "a5 OK Logged in"));
  ck_assert(fc_has_line(
      t->cl, "a6 NO [CLIENTBUG] STARTTLS is not valid: already logged "
             "in."));
  ck_assert(!fc_saw(t, "x1 NOOP"));
  for (size_t i = 0; i < t->nseen; i++)
    ck_assert_int_eq(t->seen_tls[i], i >= 3); /* a1..a3 in clear */
  fc_free(t);
}
END_TEST

START_TEST(implicit_tls_greets_after_handshake)
{
  struct fc *t = fc_new(&imap_client);
  fc_tls(t);
  struct mp_fake_config cfg = imap_cfg();
  cfg.tls = MP_FAKE_TLS_IMPLICIT;
  t->cl->implicit = 1;
  static const struct fc_step steps[] = {{"a1 STARTTLS"},
                                         {"a2 LOGIN " USER " " PASS},
                                         {"a3 LOGOUT", FC_NONE},
                                         {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert(t->cl->tls_up);
  ck_assert(!has_word(t->cl->lines[0], "STARTTLS"));
  ck_assert(fc_has_line(t->cl, "a1 BAD TLS is already active."));
  ck_assert(fc_has_line(t->cl, "a2 OK Logged in"));
  ck_assert_int_eq(t->seen_tls[0], 1);
  fc_free(t);
}
END_TEST

/* ---- AUTHENTICATE ------------------------------------------------------ */

struct auth_case {
  const char *name;
  int mech; /* for the client half in the test, or -1 */
  struct fc_step steps[6];
  const char *want; /* the last tagged reply */
};

static const struct auth_case auth_cases[] = {
    {"plain with SASL-IR",
     -1,
     {{"a1 AUTHENTICATE PLAIN " PLAIN_OK}, {"a2 LOGOUT", FC_NONE}, {NULL}},
     "a1 OK Logged in"},
    {"plain with SASL-IR, wrong password",
     -1,
     {{"a1 AUTHENTICATE PLAIN " PLAIN_BAD}, {"a2 LOGOUT", FC_NONE}, {NULL}},
     "a1 NO [AUTHENTICATIONFAILED] Authentication failed."},
    {"plain after the continuation",
     -1,
     {{"a1 AUTHENTICATE PLAIN"}, {PLAIN_OK}, {"a2 LOGOUT", FC_NONE}, {NULL}},
     "a1 OK Logged in"},
    {"plain, the empty initial response",
     -1,
     {{"a1 AUTHENTICATE PLAIN ="}, {"a2 LOGOUT", FC_NONE}, {NULL}},
     "a1 BAD Invalid SASL response"},
    {"cancelled",
     -1,
     {{"a1 AUTHENTICATE PLAIN"}, {"*"}, {"a2 LOGOUT", FC_NONE}, {NULL}},
     "a1 BAD Authentication aborted by client."},
    {"cram-md5",
     MP_SASL_CRAM_MD5,
     {{"a1 AUTHENTICATE CRAM-MD5"},
      {.make = sasl_answer},
      {"a2 LOGOUT", FC_NONE},
      {NULL}},
     "a1 OK Logged in"},
    {"login mechanism",
     MP_SASL_LOGIN,
     {{"a1 AUTHENTICATE LOGIN"},
      {.make = sasl_answer},
      {.make = sasl_answer},
      {"a2 LOGOUT", FC_NONE},
      {NULL}},
     "a1 OK Logged in"},
    {"scram-sha-256 with SASL-IR",
     MP_SASL_SCRAM_SHA_256,
     {{"a1 AUTHENTICATE SCRAM-SHA-256", .make = sasl_ir},
      {.make = sasl_answer},
      {.make = sasl_answer},
      {"a2 LOGOUT", FC_NONE},
      {NULL}},
     "a1 OK Logged in"},
    {"not offered",
     -1,
     {{"a1 AUTHENTICATE SCRAM-SHA-1"}, {"a2 LOGOUT", FC_NONE}, {NULL}},
     "a1 NO [CANNOT] Unsupported authentication mechanism."},
};

static char *auth_all[] = {"SCRAM-SHA-256", "CRAM-MD5", "LOGIN", "PLAIN"};

START_TEST(authenticate_table)
{
  const struct auth_case *ac = &auth_cases[_i];
  struct fc *t = fc_new(&imap_client);
  struct mp_fake_config cfg = imap_cfg();
  cfg.auth = auth_all;
  cfg.nauth = 4;
  cfg.auth_set = 1;
  if (ac->mech >= 0) {
    t->cl->sasl = mp_sasl_client_new(ac->mech, USER, PASS);
    ck_assert_ptr_nonnull(t->cl->sasl);
  }
  fc_run(t, &cfg, ac->steps);
  ck_assert_msg(fc_has_line(t->cl, ac->want), "%s: no \"%s\"", ac->name,
                ac->want);
  ck_assert(fc_has_line(t->cl, "a2 OK Logout completed."));
  fc_free(t);
}
END_TEST

/* ---- the mailbox ------------------------------------------------------- */

START_TEST(select_counts)
{
  struct fc *t = fc_new(&imap_client);
  struct mp_fake_config cfg = imap_cfg();
  struct mp_fake_mailbox boxes[] = {{USER, 3, 200}};
  cfg.mailboxes = boxes;
  cfg.nmailboxes = 1;
  static const struct fc_step steps[] = {{"a1 LOGIN " USER " " PASS},
                                         {"a2 SELECT inbox"},
                                         {"a3 EXAMINE \"INBOX\""},
                                         {"a4 SELECT Trash"},
                                         {"a5 FETCH 1 FLAGS"},
                                         {"a6 STATUS INBOX (MESSAGES UIDNEXT)"},
                                         {"a7 LIST \"\" \"*\""},
                                         {"a8 LOGOUT", FC_NONE},
                                         {NULL}};
  fc_run(t, &cfg, steps);
  long i = fc_line_index(t->cl, "* 3 EXISTS");
  ck_assert_int_ge(i, 0);
  ck_assert(fc_has_line(t->cl, "* 0 RECENT"));
  ck_assert(fc_has_line(t->cl, "* OK [UNSEEN 1] First unseen."));
  char v[64];
  snprintf(v, sizeof(v), "* OK [UIDVALIDITY %u] UIDs valid",
           mp_mailstore_validity(t->store));
  ck_assert(fc_has_line(t->cl, v));
  ck_assert(fc_has_line(t->cl, "* OK [UIDNEXT 4] Predicted next UID"));
  ck_assert(fc_has_line(t->cl, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen "
                               "\\Draft)"));
  ck_assert(fc_has_line(t->cl, "a2 OK [READ-WRITE] Select completed"));
  ck_assert(fc_has_line(t->cl, "a3 OK [READ-ONLY] Examine completed"));
  ck_assert(fc_has_line(t->cl,
                        "a4 NO [NONEXISTENT] Mailbox doesn't exist (only "
                        "INBOX does)"));
  /* A failed SELECT leaves no mailbox selected (RFC 9051 6.3.2). */
  ck_assert(
      fc_has_line(t->cl, "a5 NO [CLIENTBUG] FETCH needs a selected mailbox."));
  ck_assert(fc_has_line(t->cl, "* STATUS INBOX (MESSAGES 3 UIDNEXT 4)"));
  ck_assert(fc_has_line(t->cl, "* LIST (\\HasNoChildren) \"/\" INBOX"));
  fc_free(t);
}
END_TEST

/* LIST's wildcards (RFC 9051 6.3.9): "*" and "%" match any run, "%" none
 * across the delimiter, letters of INBOX in any case. The last pattern,
 * 600 wildcards before a letter INBOX does not have, took a backtracking
 * matcher some 10^11 steps, one for every share of INBOX's five letters
 * among the wildcards (the fake_imap fuzz target found it: the server
 * never answered); it must be refused at once like any other. */
/* ATOM-CHAR (RFC 9051 9): any CHAR but atom-specials, i.e. not a CTL, SP,
 * DEL, "(", ")", "{", "%", "*", '"', "\\" or "]" (which an ASTRING-CHAR
 * may be), for every byte. */
START_TEST(atom_chars)
{
  for (int c = 0; c < 256; c++) {
    int ok = c > 0x20 && c < 0x7f && !strchr("(){%*\"\\]", c);
    ck_assert_int_eq(fi_atom_char((unsigned char)c, 0), ok);
    ck_assert_int_eq(fi_atom_char((unsigned char)c, 1), ok || c == ']');
  }
}
END_TEST

START_TEST(list_wildcards)
{
  struct fc *t = fc_new(&imap_client);
  struct mp_fake_config cfg = imap_cfg();
  static char slow[700];
  const char *head = "a9 LIST \"\" \"";
  size_t k = strlen(head);
  memcpy(slow, head, k);
  for (int i = 0; i < 600; i++)
    slow[k++] = (i % 3) ? '*' : '%';
  memcpy(slow + k, "Q\"", 3);
  static struct fc_step steps[] = {
      {"a1 LOGIN " USER " " PASS}, {"a2 LIST \"\" \"i%x\""},
      {"a3 LIST \"\" \"*B*\""},    {"a4 LIST \"\" \"%/*\""},
      {"a5 LIST \"in\" \"box\""},  {"a6 LIST \"\" \"INBO\""},
      {"a7 LSUB \"\" \"**%*\""},   {NULL},
      {"a10 LOGOUT", FC_NONE},     {NULL}};
  steps[7].send = slow;
  fc_run(t, &cfg, steps);
  const char *lines[] = {"a2", "a3", "a4", "a5", "a6", "a7", "a9"};
  const int listed[] = {1, 1, 0, 1, 0, 1, 0};
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
    char ok[64];
    snprintf(ok, sizeof ok, "%s OK %s completed", lines[i],
             i == 5 ? "LSUB" : "LIST");
    long done = fc_line_index(t->cl, ok);
    ck_assert_msg(done >= 0, "%s did not complete", lines[i]);
    /* The untagged answer, if any, comes just before the tagged one. */
    const char *want = i == 5 ? "* LSUB (\\HasNoChildren) \"/\" INBOX"
                              : "* LIST (\\HasNoChildren) \"/\" INBOX";
    int got = done > 0 && strcmp(t->cl->lines[done - 1], want) == 0;
    ck_assert_msg(got == listed[i], "%s: listed %d, expected %d", lines[i], got,
                  listed[i]);
  }
  fc_free(t);
}
END_TEST

START_TEST(delayed_message_is_hidden)
{
  struct fc *t = fc_new(&imap_client);
  struct mp_fake_config cfg = imap_cfg();
  fc_deliver(t, USER, MSG("tok-1"), 0);
  fc_deliver(t, USER, MSG("tok-2"), 60u * 1000000u); /* a minute from now */
  static const struct fc_step steps[] = {{"a1 LOGIN " USER " " PASS},
                                         {"a2 SELECT INBOX"},
                                         {"a3 LOGOUT", FC_NONE},
                                         {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert(fc_has_line(t->cl, "* 1 EXISTS"));
  fc_free(t);
}
END_TEST

/* The probe's round trip: search by header, fetch the header field as a
 * literal, mark deleted, UID EXPUNGE just those. */
START_TEST(search_fetch_store_expunge)
{
  struct fc *t = fc_new(&imap_client);
  struct mp_fake_config cfg = imap_cfg();
  uint64_t id1 = fc_deliver(t, USER, MSG("tok-1-aaa"), 0);
  uint64_t id2 = fc_deliver(t, USER, MSG("other"), 0);
  uint64_t id3 = fc_deliver(t, USER, MSG("TOK-1-bbb"), 0);
  ck_assert_uint_eq(id1, 1);
  ck_assert_uint_eq(id3, 3);
  static const struct fc_step steps[] = {
      {"a1 LOGIN " USER " " PASS},
      {"a2 SELECT INBOX"},
      {"a3 UID SEARCH HEADER X-Mailprobe-Token \"tok-1\""},
      {"a4 UID FETCH 1,3 (UID BODY.PEEK[HEADER.FIELDS (X-Mailprobe-Token)])"},
      {"a5 SEARCH NOT HEADER X-Mailprobe-Token tok-1"},
      {"a6 SEARCH UNSEEN UID 2:*"},
      {"a7 UID STORE 1,3 +FLAGS.SILENT (\\Deleted)"},
      {"a8 STORE 2 +FLAGS \\Flagged"},
      {"a9 UID EXPUNGE 3"},
      {"b1 FETCH 1:* (UID FLAGS)"},
      {"b2 SEARCH (OR DELETED FLAGGED) NOT SMALLER 1"},
      {"b3 SEARCH FROB"},
      {"b4 FETCH 9 FLAGS"},
      {"b5 LOGOUT", FC_NONE},
      {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert(fc_has_line(t->cl, "* SEARCH 1 3"));
  ck_assert(fc_has_line(t->cl, "* 1 FETCH (UID 1 BODY[HEADER.FIELDS "
                               "(X-Mailprobe-Token)] {32}"));
  ck_assert(fc_has_line(t->cl, "* 3 FETCH (UID 3 BODY[HEADER.FIELDS "
                               "(X-Mailprobe-Token)] {32}"));
  ck_assert_str_eq(t->cl->raw, "X-Mailprobe-Token: tok-1-aaa\r\n\r\n"
                               "X-Mailprobe-Token: TOK-1-bbb\r\n\r\n");
  ck_assert(fc_has_line(t->cl, "a4 OK UID Fetch completed"));
  ck_assert(fc_has_line(t->cl, "* SEARCH 2"));
  ck_assert(fc_has_line(t->cl, "* SEARCH 2 3"));
  ck_assert(fc_has_line(t->cl, "a7 OK UID STORE completed"));
  ck_assert(fc_has_line(t->cl, "* 2 FETCH (FLAGS (\\Flagged))"));
  /* Only UID 3 went, though UID 1 is \Deleted too (RFC 4315 2.1). */
  ck_assert(fc_has_line(t->cl, "* 3 EXPUNGE"));
  ck_assert(!fc_has_line(t->cl, "* 1 EXPUNGE"));
  ck_assert(fc_has_line(t->cl, "* 1 FETCH (UID 1 FLAGS (\\Deleted))"));
  ck_assert(fc_has_line(t->cl, "* 2 FETCH (UID 2 FLAGS (\\Flagged))"));
  ck_assert(fc_has_line(t->cl, "* SEARCH 1 2"));
  ck_assert(fc_has_line(t->cl,
                        "b3 BAD Error in IMAP command SEARCH: Invalid search "
                        "key"));
  ck_assert(fc_has_line(t->cl, "b4 BAD Error in IMAP command FETCH: Invalid "
                               "messageset"));
  /* PEEK left \Seen alone; the store lost UID 3 only. */
  ck_assert_ptr_null(mp_mailstore_get(t->store, USER, id3));
  ck_assert_ptr_nonnull(mp_mailstore_get(t->store, USER, id1));
  ck_assert_uint_eq(mp_mailstore_get(t->store, USER, id1)->flags,
                    MP_MAIL_DELETED);
  ck_assert_uint_eq(mp_mailstore_count(t->store, USER, mp_now_us()), 1);
  (void)id2;
  fc_free(t);
}
END_TEST

START_TEST(fetch_body_sets_seen)
{
  struct fc *t = fc_new(&imap_client);
  struct mp_fake_config cfg = imap_cfg();
  fc_deliver(t, USER, MSG("x"), 0);
  static const struct fc_step steps[] = {
      {"a1 LOGIN " USER " " PASS},
      {"a2 SELECT INBOX"},
      {"a3 FETCH 1 (RFC822.SIZE BODY[TEXT])"},
      {"a4 FETCH 1 (BODY[]<0.4> ENVELOPE)"},
      {"a5 CLOSE"},
      {"a6 LOGOUT", FC_NONE},
      {NULL}};
  fc_run(t, &cfg, steps);
  size_t size = strlen(MSG("x"));
  char want[128];
  snprintf(want, sizeof(want), "* 1 FETCH (RFC822.SIZE %zu BODY[TEXT] {7}",
           size);
  ck_assert(fc_has_line(t->cl, want));
  ck_assert(fc_has_line(t->cl, " FLAGS (\\Seen))"));
  ck_assert(fc_has_line(t->cl, "* 1 FETCH (BODY[]<0> {4}"));
  ck_assert(fc_has_line(t->cl,
                        " ENVELOPE (NIL \"probe\" ((\"Sender\" NIL \"sender\" "
                        "\"example.test\")) ((\"Sender\" NIL \"sender\" "
                        "\"example.test\")) ((\"Sender\" NIL \"sender\" "
                        "\"example.test\")) ((NIL NIL \"probe\" "
                        "\"example.test\")) NIL NIL NIL NIL))"));
  ck_assert_str_eq(t->cl->raw, "hello\r\nFrom");
  ck_assert_uint_eq(mp_mailstore_get(t->store, USER, 1)->flags, MP_MAIL_SEEN);
  fc_free(t);
}
END_TEST

START_TEST(expunge_highest_first)
{
  struct fc *t = fc_new(&imap_client);
  struct mp_fake_config cfg = imap_cfg();
  struct mp_fake_mailbox boxes[] = {{USER, 4, 100}};
  cfg.mailboxes = boxes;
  cfg.nmailboxes = 1;
  static const struct fc_step steps[] = {
      {"a1 LOGIN " USER " " PASS},
      {"a2 SELECT INBOX"},
      {"a3 STORE 1,3:4 +FLAGS.SILENT (\\Deleted)"},
      {"a4 EXPUNGE"},
      {"a5 NOOP"},
      {"a6 LOGOUT", FC_NONE},
      {NULL}};
  fc_run(t, &cfg, steps);
  long e4 = fc_line_index(t->cl, "* 4 EXPUNGE"),
       e3 = fc_line_index(t->cl, "* 3 EXPUNGE"),
       e1 = fc_line_index(t->cl, "* 1 EXPUNGE");
  ck_assert_int_ge(e4, 0);
  ck_assert_int_eq(e3, e4 + 1);
  ck_assert_int_eq(e1, e3 + 1);
  ck_assert(fc_has_line(t->cl, "a4 OK Expunge completed"));
  ck_assert_uint_eq(mp_mailstore_count(t->store, USER, mp_now_us()), 1);
  ck_assert_ptr_nonnull(mp_mailstore_get(t->store, USER, 2));
  fc_free(t);
}
END_TEST

START_TEST(idle_and_new_mail)
{
  struct fc *t = fc_new(&imap_client);
  struct mp_fake_config cfg = imap_cfg();
  fc_deliver(t, USER, MSG("a"), 0);
  fc_deliver(t, USER, MSG("b"), 100000); /* visible 100 ms from now */
  fc_deliver(t, USER, MSG("c"), 400000); /* and 400 ms */
  static const struct fc_step steps[] = {{"a1 LOGIN " USER " " PASS},
                                         {"a2 SELECT INBOX"},
                                         {"a3 IDLE"},
                                         {"done", 0, .wait_ms = 200},
                                         {"a4 NOOP", 0, .wait_ms = 300},
                                         {"a5 LOGOUT", FC_NONE},
                                         {NULL}};
  fc_run(t, &cfg, steps);
  /* SELECT saw one; DONE after 200 ms the second; NOOP at 500 ms the
   * third (RFC 9051 7.4.1: EXISTS when the count grows). */
  long e1 = fc_line_index(t->cl, "* 1 EXISTS"),
       e2 = fc_line_index(t->cl, "* 2 EXISTS"),
       e3 = fc_line_index(t->cl, "* 3 EXISTS");
  long idling = fc_line_index(t->cl, "+ idling"),
       done = fc_line_index(t->cl, "a3 OK Idle completed."),
       noop = fc_line_index(t->cl, "a4 OK NOOP completed");
  ck_assert_int_ge(e1, 0);
  ck_assert_int_gt(idling, e1);
  ck_assert_int_gt(e2, idling);
  ck_assert_int_eq(done, e2 + 1);
  ck_assert_int_eq(noop, e3 + 1);
  fc_free(t);
}
END_TEST

/* ---- errors --------------------------------------------------------- */

START_TEST(errors_and_error_limit)
{
  struct fc *t = fc_new(&imap_client);
  struct mp_fake_config cfg = imap_cfg();
  static struct fc_step steps[24];
  steps[0] = (struct fc_step){"+bad tag"};
  steps[1] = (struct fc_step){"a1"};
  steps[2] = (struct fc_step){"a2 FROB"};
  steps[3] = (struct fc_step){"a3 NOOP"};
  for (int i = 4; i < 21; i++)
    steps[i] = (struct fc_step){"x BOGUS"};
  steps[20].replies = FC_NONE; /* the 20th error */
  steps[21] = (struct fc_step){NULL};
  fc_run(t, &cfg, steps);
  ck_assert_str_eq(t->cl->lines[1], "* BAD Error in IMAP command received by "
                                    "server.");
  ck_assert_str_eq(t->cl->lines[2], "a1 BAD Error in IMAP command: Missing "
                                    "command.");
  ck_assert_str_eq(t->cl->lines[3],
                   "a2 BAD Error in IMAP command FROB: Unknown "
                   "command.");
  ck_assert_str_eq(t->cl->lines[4], "a3 OK NOOP completed");
  ck_assert_str_eq(t->cl->lines[t->cl->nlines - 1],
                   "* BYE Too many invalid IMAP commands.");
  ck_assert(t->cl->server_closed);
  fc_free(t);
}
END_TEST

START_TEST(line_and_literal_limits)
{
  struct fc *t = fc_new(&imap_client);
  struct mp_fake_config cfg = imap_cfg();
  static char longline[17100];
  memset(longline, 'x', sizeof(longline) - 1);
  memcpy(longline, "a1 NOOP ", 8);
  longline[sizeof(longline) - 1] = '\0';
  static char many[512];
  /* 17 literals: one more than a command may carry. */
  size_t at = (size_t)snprintf(many, sizeof(many), "a3 LOGIN");
  for (int i = 0; i < 16; i++)
    at += (size_t)snprintf(many + at, sizeof(many) - at, " {1+}\r\nx");
  snprintf(many + at, sizeof(many) - at, " {1}");
  struct fc_step steps[] = {{longline},
                            {"a2 STARTTLS"},
                            {many},
                            {"a4 NOOP"},
                            {"a5 LOGIN {100000+}", FC_NONE},
                            {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert(fc_has_line(t->cl, "a1 BAD [TOOBIG] Command line too long."));
  ck_assert(fc_has_line(t->cl, "a2 BAD STARTTLS is not available."));
  ck_assert(fc_has_line(t->cl, "a3 NO [TOOBIG] Literal too big."));
  ck_assert(fc_has_line(t->cl, "a4 OK NOOP completed"));
  /* RFC 7888 4: a non-synchronizing literal we will not take ends the
   * session. */
  ck_assert_str_eq(t->cl->lines[t->cl->nlines - 1],
                   "* BYE [TOOBIG] Literal too big.");
  ck_assert(t->cl->server_closed);
  fc_free(t);
}
END_TEST

/* ---- APPEND ----------------------------------------------------------- */

#define APPEND_MSG(token)                                                      \
  "From: Drafter <drafter@example.test>\r\n"                                   \
  "To: probe@example.test\r\n"                                                 \
  "Subject: appended " token "\r\n"                                            \
  "\r\n"                                                                       \
  "saved copy\r\n"

#define BIG_APPEND 70000 /* past every other command's literal cap */

/* RFC 9051 6.3.12, RFC 4315 3: a synchronizing literal, then LITERAL-
 * with flags and a date-time, each announced to the selected INBOX and
 * fetched back byte for byte; the errors a client can make. */
START_TEST(append_stores_and_announces)
{
  struct fc *t = fc_new(&imap_client);
  struct mp_fake_config cfg = imap_cfg();
  fc_deliver(t, USER, MSG("old"), 0);
  static const char m1[] = APPEND_MSG("one");
  static const char m2[] = APPEND_MSG("two");
  static char s1[64], s2[512], s3[128], big[BIG_APPEND + 2];
  snprintf(s1, sizeof(s1), "a3 APPEND INBOX {%zu}", sizeof(m1) - 1);
  snprintf(s2, sizeof(s2),
           "a4 APPEND inbox (\\Seen \\Flagged $Junk \\X-Ext) "
           "\" 5-Nov-2026 10:00:07 +0200\" {%zu+}\r\n%s",
           sizeof(m2) - 1, m2);
  snprintf(s3, sizeof(s3), "b1 APPEND INBOX {%d}", BIG_APPEND);
  for (size_t i = 0; i < BIG_APPEND; i++)
    big[i] = i % 78 == 76 ? '\r' : i % 78 == 77 ? '\n' : (char)('a' + i % 26);
  memcpy(big + BIG_APPEND, "\r\n", 2);
  struct fc_step steps[] = {
      {"a0 APPEND INBOX {5}"},
      {"hello"},
      {"a1 LOGIN " USER " " PASS},
      {"a2 SELECT INBOX"},
      {s1},
      {m1},
      {s2},
      {"a5 UID FETCH 2:3 (FLAGS INTERNALDATE BODY.PEEK[])"},
      {"a6 APPEND Drafts {5+}\r\nhello"},
      {"a7 APPEND INBOX (\\Seen {5+}\r\nhello"},
      {"a8 APPEND INBOX \"31-Foo-2026 10:00:00 +0000\" {5+}\r\nhello"},
      {"a9 APPEND INBOX hello"},
      {"b0 APPEND INBOX {20000000}"},
      {s3},
      {big, 0, .len = sizeof(big)},
      {"b2 NOOP"},
      {"b3 APPEND INBOX {20000000+}", FC_NONE},
      {NULL}};
  fc_run(t, &cfg, steps);
  uint32_t v = mp_mailstore_validity(t->store);
  char want[128];
  ck_assert(
      fc_has_line(t->cl, "a0 NO [CLIENTBUG] APPEND needs a login first."));
  ck_assert(fc_has_line(t->cl, "* 1 EXISTS"));
  ck_assert(fc_has_line(t->cl, "+ Ready for literal data"));
  /* The new message is announced before the tagged OK. */
  snprintf(want, sizeof(want), "a3 OK [APPENDUID %u 2] APPEND completed", v);
  ck_assert_int_eq(fc_line_index(t->cl, "* 2 EXISTS") + 1,
                   fc_line_index(t->cl, want));
  snprintf(want, sizeof(want), "a4 OK [APPENDUID %u 3] APPEND completed", v);
  ck_assert_int_eq(fc_line_index(t->cl, "* 3 EXISTS") + 1,
                   fc_line_index(t->cl, want));
  const char *f2 =
      fc_line_with(t->cl, "* 2 FETCH (UID 2 FLAGS () INTERNALDATE ");
  ck_assert_ptr_nonnull(f2);
  snprintf(want, sizeof(want),
           "* 3 FETCH (UID 3 FLAGS (\\Flagged \\Seen) INTERNALDATE "
           "\" 5-Nov-2026 08:00:07 +0000\" BODY[] {%zu}",
           sizeof(m2) - 1);
  ck_assert(fc_has_line(t->cl, want));
  ck_assert_str_eq(t->cl->raw, APPEND_MSG("one") APPEND_MSG("two"));
  ck_assert(fc_has_line(t->cl,
                        "a6 NO [TRYCREATE] Mailbox doesn't exist (only INBOX "
                        "does)"));
  ck_assert(
      fc_has_line(t->cl, "a7 BAD Error in IMAP command APPEND: Invalid flags"));
  ck_assert(fc_has_line(t->cl, "a8 BAD Error in IMAP command APPEND: Invalid "
                               "date-time"));
  ck_assert(fc_has_line(t->cl, "a9 BAD Error in IMAP command APPEND: Invalid "
                               "arguments"));
  /* RFC 9051 7.1: a synchronizing literal past 10 MiB is refused before
   * it is sent; one past 64 KiB is not. */
  ck_assert(fc_has_line(t->cl, "b0 NO [TOOBIG] Literal too big."));
  snprintf(want, sizeof(want), "b1 OK [APPENDUID %u 4] APPEND completed", v);
  ck_assert(fc_has_line(t->cl, want));
  ck_assert(fc_has_line(t->cl, "* 4 EXISTS"));
  /* RFC 7888 4: LITERAL- past what we take is the client's error. */
  ck_assert_int_eq(fc_line_index(t->cl, "b3 BAD [TOOBIG] Literal too big.") + 1,
                   (long)t->cl->nlines - 1);
  ck_assert_str_eq(t->cl->lines[t->cl->nlines - 1],
                   "* BYE [TOOBIG] Literal too big.");
  ck_assert(t->cl->server_closed);
  /* What the store holds: the exact bytes, the system flags only. */
  const struct mp_mail *mail = mp_mailstore_get(t->store, USER, 2);
  ck_assert_ptr_nonnull(mail);
  ck_assert_uint_eq(mail->size, sizeof(m1) - 1);
  ck_assert_uint_eq(mail->flags, 0);
  mail = mp_mailstore_get(t->store, USER, 3);
  ck_assert_ptr_nonnull(mail);
  ck_assert_uint_eq(mail->flags, MP_MAIL_SEEN | MP_MAIL_FLAGGED);
  mail = mp_mailstore_get(t->store, USER, 4);
  ck_assert_ptr_nonnull(mail);
  ck_assert_uint_eq(mail->size, BIG_APPEND);
  ck_assert_int_eq(memcmp(mail->data, big, BIG_APPEND), 0);
  ck_assert_ptr_null(mp_mailstore_get(t->store, USER, 5));
  ck_assert_uint_eq(mp_mailstore_count(t->store, USER, mp_now_us()), 4);
  fc_free(t);
}
END_TEST

/* APPEND in the authenticated state announces nothing; a rule on APPEND
 * answers it and nothing is stored. */
/* COPY and MOVE (and their UID forms): only INBOX exists, so another
 * mailbox is TRYCREATE (RFC 9051 6.4.7), INBOX itself CANNOT, and a bad
 * set or argument BAD; nothing is copied. */
START_TEST(copy_move_nowhere)
{
  struct fc *t = fc_new(&imap_client);
  struct mp_fake_config cfg = imap_cfg();
  fc_deliver(t, USER, "Subject: one\r\n\r\nbody\r\n", 0);
  static const struct fc_step steps[] = {{"a1 LOGIN " USER " " PASS},
                                         {"a2 SELECT INBOX"},
                                         {"a3 COPY 1 Trash"},
                                         {"a4 UID MOVE 1:* \"Archive 2026\""},
                                         {"a5 MOVE 1 inbox"},
                                         {"a6 UID COPY 1 INBOX"},
                                         {"a7 COPY 9 Trash"},
                                         {"a8 COPY 1"},
                                         {"a9 MOVE x Trash"},
                                         {"b1 LOGOUT", FC_NONE},
                                         {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert(fc_has_line(t->cl,
                        "a3 NO [TRYCREATE] Mailbox doesn't exist (only INBOX "
                        "does)"));
  ck_assert(fc_has_line(t->cl,
                        "a4 NO [TRYCREATE] Mailbox doesn't exist (only INBOX "
                        "does)"));
  ck_assert(fc_has_line(t->cl,
                        "a5 NO [CANNOT] MOVE into the selected mailbox is not "
                        "supported by this server"));
  ck_assert(fc_has_line(t->cl,
                        "a6 NO [CANNOT] UID COPY into the selected mailbox is "
                        "not supported by this server"));
  ck_assert(fc_has_line(t->cl, "a7 BAD Error in IMAP command COPY: Invalid "
                               "messageset"));
  ck_assert(fc_has_line(t->cl, "a8 BAD Error in IMAP command COPY: Invalid "
                               "arguments"));
  ck_assert(fc_has_line(t->cl, "a9 BAD Error in IMAP command MOVE: Invalid "
                               "messageset"));
  ck_assert_uint_eq(mp_mailstore_count(t->store, USER, mp_now_us()), 1);
  fc_free(t);
}
END_TEST

START_TEST(append_unselected_and_rule)
{
  struct fc *t = fc_new(&imap_client);
  struct mp_fake_config cfg = imap_cfg();
  static char *reply[] = {"{tag} NO [OVERQUOTA] mailbox full"};
  struct mp_fake_rule rules[] = {{.on = MP_ON_COMMAND,
                                  .match = "APPEND",
                                  .nth = 2,
                                  .when_tls = -1,
                                  .reply = reply,
                                  .nreply = 1}};
  cfg.rules = rules;
  cfg.nrules = 1;
  static const struct fc_step steps[] = {
      {"a1 LOGIN " USER " " PASS},
      {"a2 APPEND INBOX (\\Draft) {7+}\r\nhi\r\nyo\r"},
      {"a3 APPEND INBOX {5}"},
      {"hello"},
      {"a4 STATUS INBOX (MESSAGES UIDNEXT)"},
      {"a5 LOGOUT", FC_NONE},
      {NULL}};
  fc_run(t, &cfg, steps);
  char want[128];
  snprintf(want, sizeof(want), "a2 OK [APPENDUID %u 1] APPEND completed",
           mp_mailstore_validity(t->store));
  ck_assert(fc_has_line(t->cl, want));
  ck_assert(!fc_line_with(t->cl, "* 1 EXISTS"));
  ck_assert(fc_has_line(t->cl, "a3 NO [OVERQUOTA] mailbox full"));
  ck_assert(fc_has_line(t->cl, "* STATUS INBOX (MESSAGES 1 UIDNEXT 2)"));
  const struct mp_mail *mail = mp_mailstore_get(t->store, USER, 1);
  ck_assert_ptr_nonnull(mail);
  ck_assert_str_eq(mail->data, "hi\r\nyo\r");
  ck_assert_uint_eq(mail->flags, MP_MAIL_DRAFT);
  ck_assert(fc_saw(t, "a2 APPEND INBOX (\\Draft) {7+}"));
  fc_free(t);
}
END_TEST

/* ---- rules ------------------------------------------------------------ */

START_TEST(rule_reply_uses_the_tag)
{
  struct fc *t = fc_new(&imap_client);
  struct mp_fake_config cfg = imap_cfg();
  static char *reply[] = {"* OK [ALERT] not now",
                          "{tag} NO [UNAVAILABLE] {tag} try later"};
  struct mp_fake_rule rules[] = {{.on = MP_ON_COMMAND,
                                  .match = "SELECT",
                                  .nth = 1,
                                  .when_tls = -1,
                                  .reply = reply,
                                  .nreply = 2}};
  cfg.rules = rules;
  cfg.nrules = 1;
  static const struct fc_step steps[] = {{"a1 LOGIN " USER " " PASS},
                                         {"tag.9 SELECT INBOX"},
                                         {"a3 SELECT INBOX"},
                                         {"a4 LOGOUT", FC_NONE},
                                         {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert(fc_has_line(t->cl, "* OK [ALERT] not now"));
  ck_assert(fc_has_line(t->cl, "tag.9 NO [UNAVAILABLE] tag.9 try later"));
  /* The replaced SELECT selected nothing; the next one does. */
  ck_assert(fc_has_line(t->cl, "a3 OK [READ-WRITE] Select completed"));
  fc_free(t);
}
END_TEST

START_TEST(rule_on_literal_command_sees_its_verb)
{
  struct fc *t = fc_new(&imap_client);
  struct mp_fake_config cfg = imap_cfg();
  static char *reply[] = {"{tag} NO [UNAVAILABLE] maintenance"};
  struct mp_fake_rule rules[] = {{.on = MP_ON_COMMAND,
                                  .match = "LOGIN",
                                  .when_tls = -1,
                                  .reply = reply,
                                  .nreply = 1}};
  cfg.rules = rules;
  cfg.nrules = 1;
  static const struct fc_step steps[] = {{"a1 LOGIN {18}"},
                                         {USER " " PASS},
                                         {"a2 SELECT INBOX"},
                                         {"a3 LOGOUT", FC_NONE},
                                         {NULL}};
  fc_run(t, &cfg, steps);
  /* The continuation is protocol, not an answer: the rule answers the
   * whole command once it is complete, and nobody logged in. */
  ck_assert(fc_has_line(t->cl, "+ Ready for literal data"));
  ck_assert(fc_has_line(t->cl, "a1 NO [UNAVAILABLE] maintenance"));
  ck_assert(
      fc_has_line(t->cl, "a2 NO [CLIENTBUG] SELECT needs a login first."));
  fc_free(t);
}
END_TEST

START_TEST(preauth_greeting_logs_in)
{
  struct fc *t = fc_new(&imap_client);
  struct mp_fake_config cfg = imap_cfg();
  struct mp_fake_mailbox boxes[] = {{USER, 2, 100}};
  cfg.mailboxes = boxes;
  cfg.nmailboxes = 1;
  static char *reply[] = {"* PREAUTH [CAPABILITY IMAP4rev1] {tag} welcome"};
  struct mp_fake_rule rules[] = {
      {.on = MP_ON_CONNECT, .when_tls = -1, .reply = reply, .nreply = 1}};
  cfg.rules = rules;
  cfg.nrules = 1;
  static const struct fc_step steps[] = {{"a1 SELECT INBOX"},
                                         {"a2 LOGIN " USER " " PASS},
                                         {"a3 LOGOUT", FC_NONE},
                                         {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert_str_eq(t->cl->lines[0],
                   "* PREAUTH [CAPABILITY IMAP4rev1] * welcome");
  ck_assert(fc_has_line(t->cl, "* 2 EXISTS"));
  ck_assert(fc_has_line(t->cl, "a1 OK [READ-WRITE] Select completed"));
  ck_assert(fc_has_line(
      t->cl, "a2 NO [CLIENTBUG] LOGIN is not valid: already logged in."));
  fc_free(t);
}
END_TEST

START_TEST(idle_timeout_says_bye)
{
  struct fc *t = fc_new(&imap_client);
  struct mp_fake_config cfg = imap_cfg();
  cfg.idle_timeout_ms = 200;
  static const struct fc_step steps[] = {{"a1 NOOP"}, {"", FC_NONE}, {NULL}};
  fc_run(t, &cfg, steps);
  ck_assert_str_eq(t->cl->lines[t->cl->nlines - 1],
                   "* BYE Disconnected for inactivity.");
  ck_assert(t->cl->server_closed);
  fc_free(t);
}
END_TEST

static Suite *fake_imap_suite(void)
{
  Suite *s = suite_create("fake_imap");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 30);
  tcase_add_loop_test(tc, greeting_and_capability, 0,
                      (int)(sizeof(cap_cases) / sizeof(cap_cases[0])));
  tcase_add_test(tc, login_quoted_and_literal);
  tcase_add_test(tc, login_disabled_before_tls);
  tcase_add_test(tc, implicit_tls_greets_after_handshake);
  tcase_add_loop_test(tc, authenticate_table, 0,
                      (int)(sizeof(auth_cases) / sizeof(auth_cases[0])));
  tcase_add_test(tc, select_counts);
  tcase_add_test(tc, list_wildcards);
  tcase_add_test(tc, atom_chars);
  tcase_add_test(tc, delayed_message_is_hidden);
  tcase_add_test(tc, search_fetch_store_expunge);
  tcase_add_test(tc, fetch_body_sets_seen);
  tcase_add_test(tc, expunge_highest_first);
  tcase_add_test(tc, idle_and_new_mail);
  tcase_add_test(tc, errors_and_error_limit);
  tcase_add_test(tc, line_and_literal_limits);
  tcase_add_test(tc, append_stores_and_announces);
  tcase_add_test(tc, append_unselected_and_rule);
  tcase_add_test(tc, copy_move_nowhere);
  tcase_add_test(tc, rule_reply_uses_the_tag);
  tcase_add_test(tc, rule_on_literal_command_sees_its_verb);
  tcase_add_test(tc, preauth_greeting_logs_in);
  tcase_add_test(tc, idle_timeout_says_bye);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(fake_imap_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
