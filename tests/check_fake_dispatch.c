/* Unit tests for fake_servers/dispatch.c: the one command dispatch of the
 * three fake servers, the error cap, the server side of a SASL exchange in
 * each protocol's frame, and the verb tables the case parser checks `on:`
 * against. The sessions are driven directly, line by line, as server.c
 * drives them (no loop, no socket, no rules). */
#include "fake_servers/session.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/case/case.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *const proto_names[] = {
    [MP_FAKE_SMTP] = "smtp", [MP_FAKE_POP3] = "pop3", [MP_FAKE_IMAP] = "imap"};

/* ---- a session without a connection ------------------------------------- */

struct drv {
  struct mp_fake_user user;
  struct mp_fake_config cfg;
  struct mp_fake_server srv;
  struct mp_fake_session s;
  struct mp_fake_answer a; /* the last answer */
};

/* A session of a server with one user, u (password p). */
static void drv_open(struct drv *d, enum mp_fake_proto proto)
{
  memset(d, 0, sizeof(*d));
  d->user.name = "u";
  d->user.password = "p";
  d->cfg.proto = proto;
  d->cfg.users = &d->user;
  d->cfg.nusers = 1;
  d->srv.cfg = &d->cfg;
  d->srv.proto = mp_fake_protocol_of(proto);
  ck_assert_ptr_nonnull(d->srv.proto);
  d->s.srv = &d->srv;
  d->s.id = 1;
  d->s.proto = calloc(1, d->srv.proto->data_size);
  ck_assert_ptr_nonnull(d->s.proto);
}

/* One line from the client (CRLF taken off): the answer's text. */
static const char *drv_say(struct drv *d, const char *line)
{
  const struct mp_fake_protocol *p = d->srv.proto;
  char buf[1024];
  size_t len = strlen(line);
  const char *verb = NULL;
  size_t verb_len = 0;
  ck_assert_uint_lt(len, sizeof(buf));
  memcpy(buf, line, len + 1);
  mp_fake_answer_free(&d->a);
  memset(&d->a, 0, sizeof(d->a));
  enum mp_fake_kind kind = p->classify(&d->s, buf, len, &verb, &verb_len);
  p->line(&d->s, buf, len, kind, 0, &d->a);
  return d->a.buf ? d->a.buf : "";
}

static void drv_close(struct drv *d)
{
  mp_fake_answer_free(&d->a);
  if (d->srv.proto->close)
    d->srv.proto->close(&d->s);
  free(d->s.proto);
  mp_fake_sasl_end(&d->s);
}

/* ---- verb tables and lookup --------------------------------------------- */

START_TEST(verb_lookup_is_exact_and_case_insensitive)
{
  ck_assert(mp_fake_verb_known(MP_FAKE_SMTP, "EHLO"));
  ck_assert(mp_fake_verb_known(MP_FAKE_SMTP, "ehlo"));
  ck_assert(mp_fake_verb_known(MP_FAKE_SMTP, "StartTLS"));
  ck_assert(!mp_fake_verb_known(MP_FAKE_SMTP, "EHL"));
  ck_assert(!mp_fake_verb_known(MP_FAKE_SMTP, "EHLOX"));
  ck_assert(!mp_fake_verb_known(MP_FAKE_SMTP, "STARTTLSX"));
  ck_assert(!mp_fake_verb_known(MP_FAKE_SMTP, ""));
  ck_assert(!mp_fake_verb_known(MP_FAKE_SMTP, NULL));
  ck_assert(mp_fake_verb_known(MP_FAKE_POP3, "TOP"));
  ck_assert(!mp_fake_verb_known(MP_FAKE_POP3, "TO"));
  ck_assert(mp_fake_verb_known(MP_FAKE_IMAP, "UID"));
  ck_assert(!mp_fake_verb_known(MP_FAKE_IMAP, "UI"));
  ck_assert(!mp_fake_verb_known(MP_FAKE_IMAP, "EHLO"));
  ck_assert(!mp_fake_verb_known((enum mp_fake_proto)7, "EHLO"));
  ck_assert_ptr_null(mp_fake_verb((enum mp_fake_proto)7, 0));
  /* A long verb is never compared past a short name (the fuzzer's
   * fake_smtp-1): the table is searched with a length, not a NUL. */
  const char verb[8] = {'Q', 'U', 'I', 'T', 'T', 'L', 'S', 'X'};
  const struct mp_fake_protocol *p = mp_fake_protocol_of(MP_FAKE_SMTP);
  ck_assert_ptr_null(mp_fake_command_find(p->commands, p->ncommands, verb, 8));
  ck_assert_ptr_nonnull(
      mp_fake_command_find(p->commands, p->ncommands, verb, 4));
  /* A NUL inside the verb ends no match early (nor a read past "QUIT"). */
  const char nul[8] = {'q', 'u', 'i', 't', '\0', 'X', 'Y', 'Z'};
  ck_assert_ptr_null(mp_fake_command_find(p->commands, p->ncommands, nul, 8));
  ck_assert_str_eq(
      mp_fake_command_find(p->commands, p->ncommands, nul, 4)->name, "QUIT");
}
END_TEST

/* Every verb each server dispatches is a verb the case parser takes in
 * `on:`, as written and in lower case; the parser keeps no list of its
 * own. */
START_TEST(every_dispatched_verb_parses)
{
  for (int proto = 0; proto < N(proto_names); proto++) {
    const struct mp_fake_protocol *p = mp_fake_protocol_of(proto);
    ck_assert_uint_gt(p->ncommands, 0);
    for (size_t i = 0; i < p->ncommands; i++) {
      const char *name = p->commands[i].name;
      ck_assert_str_eq(mp_fake_verb(proto, i), name);
      ck_assert(mp_fake_verb_known(proto, name));
      for (int lower = 0; lower < 2; lower++) {
        char on[32], yaml[512], err[512];
        struct mp_case *c = NULL;
        size_t k;
        for (k = 0; name[k] && k + 1 < sizeof(on); k++)
          on[k] = lower && name[k] >= 'A' && name[k] <= 'Z'
                      ? (char)(name[k] + 32)
                      : name[k];
        on[k] = '\0';
        snprintf(yaml, sizeof(yaml),
                 "servers:\n  s:\n    protocol: %s\n    script:\n"
                 "      - on: %s\n        then: close\n"
                 "probe:\n  type: %s\n  server: s\n"
                 "expect:\n  status: ok\n",
                 proto_names[proto], on, proto_names[proto]);
        int rc =
            mp_case_parse(yaml, strlen(yaml), "v.yaml", &c, err, sizeof(err));
        ck_assert_msg(rc == 0, "%s on: %s: %s", proto_names[proto], on, err);
        ck_assert_int_eq(c->servers[0].rules[0].on, MP_ON_COMMAND);
        ck_assert_str_eq(c->servers[0].rules[0].match, name);
        mp_case_free(c);
      }
    }
    ck_assert_ptr_null(mp_fake_verb(proto, p->ncommands));
  }
}
END_TEST

/* Parses a one-rule script; 0 or the error in err. */
static int parse_on(const char *proto, const char *tls, const char *on,
                    char *err, size_t cap)
{
  char yaml[512];
  struct mp_case *c = NULL;
  snprintf(yaml, sizeof(yaml),
           "servers:\n  s:\n    protocol: %s\n    tls: %s\n    script:\n"
           "      - on: \"%s\"\n        then: close\n"
           "probe:\n  type: %s\n  server: s\n"
           "expect:\n  status: ok\n",
           proto, tls, on, proto);
  int rc = mp_case_parse(yaml, strlen(yaml), "on.yaml", &c, err, cap);
  mp_case_free(c);
  return rc;
}

/* The parser's old list had BDAT; the SMTP server never dispatched it
 * (it answers 500), so a rule on it is an error now, with a way out. */
START_TEST(bdat_follows_the_server)
{
  char err[1024];
  ck_assert(!mp_fake_verb_known(MP_FAKE_SMTP, "BDAT"));
  ck_assert_int_ne(parse_on("smtp", "none", "BDAT", err, sizeof(err)), 0);
  ck_assert_msg(strstr(err, "unknown smtp command 'BDAT'") != NULL, "%s", err);
  ck_assert_int_eq(parse_on("smtp", "none", "line:BDAT*", err, sizeof(err)), 0);
  struct drv d;
  drv_open(&d, MP_FAKE_SMTP);
  ck_assert_str_eq(drv_say(&d, "EHLO client.test"),
                   "250-mx.example.test\r\n250-PIPELINING\r\n"
                   "250-SIZE 10485760\r\n250-8BITMIME\r\n"
                   "250-ENHANCEDSTATUSCODES\r\n"
                   "250 AUTH CRAM-MD5 LOGIN PLAIN\r\n");
  ck_assert_str_eq(drv_say(&d, "BDAT 10 LAST"),
                   "500 5.5.2 Error: command not recognized\r\n");
  drv_close(&d);
}
END_TEST

/* An unknown verb still gets a suggestion from the server's table; the
 * events that are not verbs are still taken. */
START_TEST(suggestions_and_events)
{
  static const struct {
    const char *proto, *tls, *on, *err; /* err NULL: parses */
  } t[] = {
      {"smtp", "none", "EHOL", "(did you mean 'EHLO'?)"},
      {"imap", "none", "SELCT", "(did you mean 'SELECT'?)"},
      {"pop3", "none", "RETRR", "(did you mean 'RETR'?)"},
      {"pop3", "none", "EHLO", "one of CAPA, STLS, USER"},
      {"smtp", "none", "connect", NULL},
      {"smtp", "none", "message", NULL},
      {"smtp", "starttls", "tls", NULL},
      {"imap", "implicit", "tls", NULL},
      {"pop3", "none", "line:PASS *", NULL},
  };
  for (int i = 0; i < N(t); i++) {
    char err[1024] = "";
    int rc = parse_on(t[i].proto, t[i].tls, t[i].on, err, sizeof(err));
    if (!t[i].err) {
      ck_assert_msg(rc == 0, "%s on: %s: %s", t[i].proto, t[i].on, err);
      continue;
    }
    ck_assert_int_ne(rc, 0);
    ck_assert_msg(strstr(err, t[i].err) != NULL, "%s on: %s: %s", t[i].proto,
                  t[i].on, err);
  }
}
END_TEST

/* ---- the error cap ------------------------------------------------------- */

static const struct {
  enum mp_fake_proto proto;
  const char *line;  /* a command no server knows */
  const char *error; /* its answer */
  const char *last;  /* the answer of the 20th */
  int closed_state;  /* the state it leaves the session in (-1: as is) */
} caps[] = {
    {MP_FAKE_SMTP, "XYZZY", "500 5.5.2 Error: command not recognized\r\n",
     "421 4.7.0 mx.example.test Error: too many errors\r\n", -1},
    {MP_FAKE_POP3, "XYZZY", "-ERR Unknown command\r\n",
     "-ERR Too many bad commands, closing\r\n", 3 /* POP3_DONE */},
    {MP_FAKE_IMAP, "a7 XYZZY",
     "a7 BAD Error in IMAP command XYZZY: Unknown command.\r\n",
     "a7 BAD Error in IMAP command XYZZY: Unknown command.\r\n"
     "* BYE Too many invalid IMAP commands.\r\n",
     3 /* IMAP_LOGOUT */},
};

START_TEST(error_cap_closes_after_20_errors)
{
  struct drv d;
  drv_open(&d, caps[_i].proto);
  int state = d.s.state;
  for (int n = 1; n < 20; n++) {
    ck_assert_str_eq(drv_say(&d, caps[_i].line), caps[_i].error);
    ck_assert_int_eq(d.a.effect, MP_FX_NONE);
    ck_assert_uint_eq(d.s.errors, (unsigned)n);
  }
  ck_assert_str_eq(drv_say(&d, caps[_i].line), caps[_i].last);
  ck_assert_int_eq(d.a.effect, MP_FX_CLOSE);
  ck_assert_int_eq(d.s.state,
                   caps[_i].closed_state < 0 ? state : caps[_i].closed_state);
  drv_close(&d);
}
END_TEST

/* ---- the SASL exchange --------------------------------------------------- */

static const struct {
  enum mp_fake_proto proto;
  const char *hello;    /* said first, or NULL */
  const char *auth;     /* starts an exchange with PLAIN */
  const char *cont;     /* the empty challenge */
  int exchange_state;   /* the state meanwhile */
  const char *cancel;   /* the answer to "*" */
  const char *auth_ir;  /* PLAIN with u/p as initial response: */
  const char *ok;       /* ... its answer */
  int logged_in_state;  /* ... and the state after */
  const char *auth_bad; /* PLAIN with a wrong password: */
  const char *failed;   /* ... its answer */
  unsigned failed_errs; /* ... counted as client errors */
} sasl[] = {
    {MP_FAKE_SMTP, "EHLO client.test", "AUTH PLAIN", "334 \r\n",
     1 /* SMTP_AUTH */, "501 5.0.0 Authentication cancelled\r\n",
     "AUTH PLAIN AHUAcA==", "235 2.7.0 Authentication successful\r\n", 0,
     "AUTH PLAIN AHUAeA==", "535 5.7.8 Error: authentication failed\r\n", 1},
    {MP_FAKE_POP3, NULL, "AUTH PLAIN", "+ \r\n", 1 /* POP3_SASL */,
     "-ERR Authentication cancelled\r\n", "AUTH PLAIN AHUAcA==",
     "+OK Logged in: 0 messages (0 octets)\r\n", 2 /* POP3_TRANSACTION */,
     "AUTH PLAIN AHUAeA==", "-ERR [AUTH] Authentication failed.\r\n", 1},
    {MP_FAKE_IMAP, NULL, "a1 AUTHENTICATE PLAIN", "+ \r\n",
     0 /* IMAP_NOTAUTH: IMAP has no state for it */,
     "a1 BAD Authentication aborted by client.\r\n",
     "a2 AUTHENTICATE PLAIN AHUAcA==", "a2 OK Logged in\r\n", 1 /* IMAP_AUTH */,
     "a2 AUTHENTICATE PLAIN AHUAeA==",
     "a2 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n", 0},
};

START_TEST(sasl_cancel_gives_each_protocols_reply)
{
  struct drv d;
  drv_open(&d, sasl[_i].proto);
  if (sasl[_i].hello)
    drv_say(&d, sasl[_i].hello);
  ck_assert_str_eq(drv_say(&d, sasl[_i].auth), sasl[_i].cont);
  ck_assert_ptr_nonnull(d.s.sasl);
  ck_assert_int_eq(d.s.state, sasl[_i].exchange_state);
  ck_assert_str_eq(drv_say(&d, "*"), sasl[_i].cancel);
  ck_assert_ptr_null(d.s.sasl);
  ck_assert_int_eq(d.s.state, 0);
  ck_assert_uint_eq(d.s.errors, 0); /* a cancel is no client error */
  drv_close(&d);
}
END_TEST

START_TEST(sasl_success_and_failure)
{
  struct drv d;
  drv_open(&d, sasl[_i].proto);
  if (sasl[_i].hello)
    drv_say(&d, sasl[_i].hello);
  ck_assert_str_eq(drv_say(&d, sasl[_i].auth_bad), sasl[_i].failed);
  ck_assert_ptr_null(d.s.sasl);
  ck_assert_uint_eq(d.s.errors, sasl[_i].failed_errs);
  ck_assert_str_eq(drv_say(&d, sasl[_i].auth_ir), sasl[_i].ok);
  ck_assert_ptr_null(d.s.sasl);
  ck_assert_int_eq(d.s.state, sasl[_i].logged_in_state);
  drv_close(&d);
}
END_TEST

/* A mechanism the server does not offer never starts an exchange. */
START_TEST(sasl_unsupported_mechanism)
{
  static const char *const unsupported[] = {
      [MP_FAKE_SMTP] = "504 5.5.4 Unrecognized authentication type\r\n",
      [MP_FAKE_POP3] = "-ERR Unsupported authentication mechanism\r\n",
      [MP_FAKE_IMAP] =
          "a1 NO [CANNOT] Unsupported authentication mechanism.\r\n"};
  struct drv d;
  drv_open(&d, sasl[_i].proto);
  if (sasl[_i].hello)
    drv_say(&d, sasl[_i].hello);
  ck_assert_str_eq(drv_say(&d, sasl[_i].proto == MP_FAKE_IMAP
                                   ? "a1 AUTHENTICATE GSSAPI"
                                   : "AUTH GSSAPI"),
                   unsupported[sasl[_i].proto]);
  ck_assert_ptr_null(d.s.sasl);
  drv_close(&d);
}
END_TEST

/* ---- states -------------------------------------------------------------- */

/* A command outside its states goes to the protocol's not_now. */
START_TEST(commands_outside_their_states)
{
  struct drv d;
  drv_open(&d, MP_FAKE_POP3);
  ck_assert_str_eq(drv_say(&d, "STAT"),
                   "-ERR Command not valid before login\r\n");
  drv_close(&d);
  drv_open(&d, MP_FAKE_IMAP);
  ck_assert_str_eq(drv_say(&d, "a1 SELECT INBOX"),
                   "a1 NO [CLIENTBUG] SELECT needs a login first.\r\n");
  ck_assert_str_eq(drv_say(&d, "a2 LOGIN u p"), "a2 OK Logged in\r\n");
  ck_assert_str_eq(drv_say(&d, "a3 LOGIN u p"),
                   "a3 NO [CLIENTBUG] LOGIN is not valid: already logged "
                   "in.\r\n");
  ck_assert_str_eq(drv_say(&d, "a4 FETCH 1 FLAGS"),
                   "a4 NO [CLIENTBUG] FETCH needs a selected mailbox.\r\n");
  mp_fake_set_state(&d.s, 3); /* IMAP_LOGOUT: nothing more is answered */
  ck_assert_str_eq(drv_say(&d, "a5 NOOP"), "");
  drv_close(&d);
}
END_TEST

/* The verb line: POP3's PASS takes the rest of the line after one space
 * as it is (RFC 1939 7); other arguments lose their leading spaces. */
START_TEST(verb_line_arguments)
{
  struct drv d;
  drv_open(&d, MP_FAKE_POP3);
  ck_assert_str_eq(drv_say(&d, "USER   u"), "+OK\r\n");
  ck_assert_str_eq(drv_say(&d, "PASS  p"),
                   "-ERR [AUTH] Authentication failed.\r\n");
  ck_assert_str_eq(drv_say(&d, "user u"), "+OK\r\n");
  ck_assert_str_eq(drv_say(&d, "pass p"),
                   "+OK Logged in: 0 messages (0 octets)\r\n");
  ck_assert_str_eq(drv_say(&d, ""), "-ERR Bad syntax\r\n");
  drv_close(&d);
  drv_open(&d, MP_FAKE_SMTP);
  ck_assert_str_eq(drv_say(&d, "HELO    client.test"),
                   "250 mx.example.test\r\n");
  ck_assert_str_eq(drv_say(&d, "NOOP\tx"),
                   "500 5.5.2 Error: command not recognized\r\n");
  drv_close(&d);
}
END_TEST

static Suite *dispatch_suite(void)
{
  Suite *s = suite_create("fake_dispatch");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, verb_lookup_is_exact_and_case_insensitive);
  tcase_add_test(tc, every_dispatched_verb_parses);
  tcase_add_test(tc, bdat_follows_the_server);
  tcase_add_test(tc, suggestions_and_events);
  tcase_add_loop_test(tc, error_cap_closes_after_20_errors, 0, N(caps));
  tcase_add_loop_test(tc, sasl_cancel_gives_each_protocols_reply, 0, N(sasl));
  tcase_add_loop_test(tc, sasl_success_and_failure, 0, N(sasl));
  tcase_add_loop_test(tc, sasl_unsupported_mechanism, 0, N(sasl));
  tcase_add_test(tc, commands_outside_their_states);
  tcase_add_test(tc, verb_line_arguments);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(dispatch_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
