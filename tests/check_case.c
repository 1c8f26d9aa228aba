/* Unit tests for harness/case/case.c: the example at the top of
 * docs/case-format.md (tests/data/cases/good/format_example.yaml) and a
 * file with every key parse into the expected structs; every rule field;
 * probe auth names; durations; and a table of broken files, each with the
 * exact line:column and a part of the message (tests/data/cases/bad/). */
#include "harness/case/case.h"

#include "wire/errors.h"
#include "wire/sasl.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* tests/data/cases next to this file (run from the repository root), or
 * $MP_CASE_DATA. */
static const char *data_dir(void)
{
  static char dir[512];
  const char *env = getenv("MP_CASE_DATA");
  const char *slash = strrchr(__FILE__, '/');
  if (env != NULL)
    return env;
  if (slash == NULL)
    return "data/cases";
  snprintf(dir, sizeof dir, "%.*s/data/cases", (int)(slash - __FILE__),
           __FILE__);
  return dir;
}

static struct mp_case *load_ok(const char *rel)
{
  char path[600], err[1024];
  struct mp_case *c = NULL;
  int rc;
  snprintf(path, sizeof path, "%s/%s", data_dir(), rel);
  rc = mp_case_load(path, &c, err, sizeof err);
  ck_assert_msg(rc == 0, "%s: %s", path, err);
  ck_assert_ptr_nonnull(c);
  return c;
}

static struct mp_case *parse_ok(const char *yaml)
{
  char err[1024];
  struct mp_case *c = NULL;
  int rc =
      mp_case_parse(yaml, strlen(yaml), "inline.yaml", &c, err, sizeof err);
  ck_assert_msg(rc == 0, "%s\n---\n%s", err, yaml);
  ck_assert_ptr_nonnull(c);
  return c;
}

/* Asserts that err is "<file>:<loc>: ..." and contains want. */
static void assert_err(const char *err, const char *file, const char *loc,
                       const char *want)
{
  char prefix[700];
  snprintf(prefix, sizeof prefix, "%s:%s: ", file, loc);
  ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
                "want prefix '%s', got '%s'", prefix, err);
  ck_assert_msg(strstr(err, want) != NULL, "want '%s' in '%s'", want, err);
}

/* ---------------------------------------------------------------- */

START_TEST(test_format_example)
{
  struct mp_case *c = load_ok("good/format_example.yaml");
  struct mp_fake_config *s;
  struct mp_fake_rule *r;

  ck_assert_str_eq(c->name, "slow banner past the timeout is a banner timeout");
  ck_assert_ptr_null(c->description);
  ck_assert_uint_eq(c->ntags, 2);
  ck_assert_str_eq(c->tags[0], "smtp");
  ck_assert_str_eq(c->tags[1], "timeout");

  ck_assert_uint_eq(c->nservers, 1);
  s = &c->servers[0];
  ck_assert_str_eq(s->name, "mx");
  ck_assert_int_eq(s->proto, MP_FAKE_SMTP);
  ck_assert_int_eq(s->tls, MP_FAKE_TLS_NONE);
  ck_assert_int_eq(s->cert, 0);
  ck_assert_int_eq(s->rsa, 0);
  ck_assert_str_eq(s->hostname, "mx.example.test");
  ck_assert_uint_eq(s->nusers, 1);
  ck_assert_str_eq(s->users[0].name, "probe@example.test");
  ck_assert_str_eq(s->users[0].password, "s3cret");
  ck_assert_int_eq(s->auth_set, 1);
  ck_assert_uint_eq(s->nauth, 3);
  ck_assert_str_eq(s->auth[0], "CRAM-MD5");
  ck_assert_str_eq(s->auth[1], "LOGIN");
  ck_assert_str_eq(s->auth[2], "PLAIN");
  ck_assert_int_eq(s->auth_requires_tls, 0);
  ck_assert_uint_eq(s->nadvertise, 0);
  ck_assert_uint_eq(s->nwithhold, 0);
  ck_assert_uint_eq(s->nmailboxes, 0);
  ck_assert_uint_eq(s->idle_timeout_ms, 0);
  ck_assert_uint_eq(s->nrules, 1);
  r = &s->rules[0];
  ck_assert_int_eq(r->on, MP_ON_CONNECT);
  ck_assert_ptr_null(r->match);
  ck_assert_uint_eq(r->nth, 0);
  ck_assert_int_eq(r->when_tls, -1);
  ck_assert_uint_eq(r->delay_ms, 3000);
  ck_assert_uint_eq(r->nreply, 1);
  ck_assert_str_eq(r->reply[0], "220 mx.example.test ESMTP");
  ck_assert_ptr_null(r->send);
  ck_assert_uint_eq(r->drip_bytes, 0);
  ck_assert_int_eq(r->then, MP_THEN_CONTINUE);
  ck_assert_int_eq(r->tls_fault, MP_TLS_FAULT_NONE);

  ck_assert_int_eq(c->probe.type, MP_CASE_SMTP);
  ck_assert_int_eq(c->probe.line, 13);
  ck_assert_str_eq(c->probe.server, "mx");
  ck_assert_ptr_null(c->probe.target);
  ck_assert_int_eq(c->probe.opts.proto, MP_PROTO_SMTP);
  ck_assert_int_eq(c->probe.opts.tls, MP_TLSMODE_AUTO);
  ck_assert_uint_eq(c->probe.opts.timeout_ms, 1000);
  ck_assert_uint_eq(c->probe.opts.connect_timeout_ms, 0);
  ck_assert_ptr_null(c->probe.opts.user);
  ck_assert_ptr_null(c->probe.opts.host);
  ck_assert_uint_eq(c->probe.opts.port, 0);
  ck_assert_uint_eq(c->probe.opts.auth, 0);

  ck_assert_int_eq(c->expect.line, 18);
  ck_assert_int_eq(c->expect.status, 0);
  ck_assert_int_eq(c->expect.has_error, 1);
  ck_assert_int_eq(c->expect.error, MP_E_TIMEOUT);
  ck_assert_int_eq(c->expect.phase, MP_PHASE_BANNER);
  ck_assert_int_eq(c->expect.elapsed.min_us, -1);
  ck_assert_int_eq(c->expect.elapsed.max_us, 1500000);
  ck_assert_int_eq(c->expect.reply_code, -1);
  ck_assert_ptr_null(c->expect.reply_text);
  ck_assert_ptr_null(c->expect.auth);
  ck_assert_int_eq(c->expect.tls, -1);
  ck_assert_int_eq(c->expect.cert_verified, -1);
  ck_assert_int_eq(c->expect.messages, -1);
  ck_assert_uint_eq(c->expect.nservers, 0);
  for (int i = 0; i < MP_PHASE_COUNT; i++) {
    ck_assert_int_eq(c->expect.timings[i].min_us, -1);
    ck_assert_int_eq(c->expect.timings[i].max_us, -1);
  }
  mp_case_free(c);
}
END_TEST

START_TEST(test_full_file)
{
  struct mp_case *c = load_ok("good/full.yaml");
  struct mp_fake_config *s, *p;
  struct mp_fake_rule *r;
  struct mp_case_expect *e = &c->expect;
  char cafile[600];

  ck_assert_str_eq(c->name, "every key");
  ck_assert_str_eq(c->description,
                   "Every key the format knows.\nTwo lines of free text.\n");
  ck_assert_uint_eq(c->ntags, 3);
  ck_assert_uint_eq(c->nservers, 2);
  ck_assert_int_eq(mp_case_find_server(c, "pop"), 1);
  ck_assert_int_eq(mp_case_find_server(c, "nope"), -1);

  s = &c->servers[0];
  ck_assert_str_eq(s->name, "mx");
  ck_assert_int_eq(s->tls, MP_FAKE_TLS_STARTTLS);
  ck_assert_int_eq(s->cert, 1); /* MP_CERT_EXPIRED */
  ck_assert_int_eq(s->rsa, 1);
  ck_assert_str_eq(s->hostname, "mail.example.test");
  ck_assert_uint_eq(s->nusers, 2);
  ck_assert_str_eq(s->users[1].name, "other");
  ck_assert_str_eq(s->users[1].password, "1234");
  ck_assert_uint_eq(s->nauth, 3);
  ck_assert_str_eq(s->auth[0], "CRAM-MD5");
  ck_assert_str_eq(s->auth[2], "XOAUTH2");
  ck_assert_int_eq(s->auth_requires_tls, 1);
  ck_assert_uint_eq(s->nadvertise, 2);
  ck_assert_str_eq(s->advertise[1], "SIZE 1000");
  ck_assert_uint_eq(s->nwithhold, 1);
  ck_assert_str_eq(s->withhold[0], "STARTTLS");
  ck_assert_int_eq(s->tls_fault, MP_TLS_FAULT_STALL);
  ck_assert_uint_eq(s->delivery.delay_ms, 2000);
  ck_assert_int_eq(s->delivery.lose, 0);
  ck_assert_int_eq(s->delivery.duplicate, 1);
  ck_assert_str_eq(s->delivery.redirect, "other");
  ck_assert_str_eq(s->delivery.subject, "Re: probe");
  ck_assert_uint_eq(s->idle_timeout_ms, 30000);
  ck_assert_uint_eq(s->nrules, 8);

  r = &s->rules[1];
  ck_assert_int_eq(r->on, MP_ON_COMMAND);
  ck_assert_str_eq(r->match, "EHLO");
  ck_assert_uint_eq(r->nth, 2);
  ck_assert_int_eq(r->when_tls, 1);
  ck_assert_uint_eq(r->nreply, 2);
  ck_assert_str_eq(r->reply[0], "250-mx.example.test");
  ck_assert_str_eq(r->reply[1], "250 AUTH PLAIN");

  r = &s->rules[2];
  ck_assert_int_eq(r->on, MP_ON_LINE);
  ck_assert_str_eq(r->match, "MAIL FROM:<*>");
  ck_assert_uint_eq(r->nreply, 1);
  ck_assert_str_eq(r->reply[0], "451 4.7.1 greylisted");
  ck_assert_int_eq(r->then, MP_THEN_CLOSE);

  r = &s->rules[3];
  ck_assert_str_eq(r->match, "DATA");
  ck_assert_ptr_null(r->reply);
  ck_assert_uint_eq(r->send_len, 13);
  ck_assert_mem_eq(r->send, "354 go\r\n\0tail", 13);
  ck_assert_uint_eq(r->drip_bytes, 4);
  ck_assert_uint_eq(r->drip_every_ms, 250);

  r = &s->rules[4];
  ck_assert_int_eq(r->on, MP_ON_TLS);
  ck_assert_int_eq(r->tls_fault, MP_TLS_FAULT_ALERT);

  r = &s->rules[5];
  ck_assert_int_eq(r->on, MP_ON_MESSAGE);
  ck_assert_uint_eq(r->nreply, 2);
  ck_assert_str_eq(r->reply[1], "250 second");
  ck_assert_uint_eq(r->drip_bytes, 1);
  ck_assert_uint_eq(r->drip_every_ms, 1000);
  ck_assert_int_eq(r->then, MP_THEN_RESET);

  r = &s->rules[6];
  ck_assert_int_eq(r->when_tls, 0);
  ck_assert_ptr_nonnull(r->reply); /* reply: [] answers nothing */
  ck_assert_uint_eq(r->nreply, 0);
  ck_assert_int_eq(r->then, MP_THEN_HANG);

  r = &s->rules[7];
  ck_assert_uint_eq(r->delay_ms, 2); /* 1500us rounds up */
  ck_assert_int_eq(r->then, MP_THEN_STARTTLS);

  p = &c->servers[1];
  ck_assert_int_eq(p->proto, MP_FAKE_POP3);
  ck_assert_int_eq(p->tls, MP_FAKE_TLS_IMPLICIT);
  ck_assert_int_eq(p->apop, 1);
  ck_assert_int_eq(p->auth_set, 0);
  ck_assert_uint_eq(p->nmailboxes, 2);
  ck_assert_str_eq(p->mailboxes[0].user, "probe@example.test");
  ck_assert_uint_eq(p->mailboxes[0].messages, 3);
  ck_assert_uint_eq(p->mailboxes[0].size, 2048);
  ck_assert_uint_eq(p->mailboxes[1].messages, 5);
  ck_assert_uint_eq(p->mailboxes[1].size, 1024);

  ck_assert_int_eq(c->probe.type, MP_CASE_POP3);
  ck_assert_int_eq(c->probe.opts.proto, MP_PROTO_POP3);
  /* No tls: given, and the server is implicit. */
  ck_assert_int_eq(c->probe.opts.tls, MP_TLSMODE_IMPLICIT);
  ck_assert_str_eq(c->probe.opts.user, "probe@example.test");
  ck_assert_str_eq(c->probe.opts.password, "s3cret"); /* from users */
  ck_assert_uint_eq(c->probe.opts.auth, MP_AUTH_APOP | MP_AUTH_USER |
                                            MP_SASL_BIT(MP_SASL_CRAM_MD5));
  ck_assert_uint_eq(c->probe.opts.timeout_ms, 10000);
  ck_assert_uint_eq(c->probe.opts.connect_timeout_ms, 2);
  ck_assert_int_eq(c->probe.opts.insecure, 1);
  ck_assert_str_eq(c->probe.opts.servername, "pop.example.test");
  ck_assert_str_eq(c->probe.opts.helo, "probe.example.test");
  snprintf(cafile, sizeof cafile, "%s/good/ca.pem", data_dir());
  ck_assert_str_eq(c->probe.opts.cafile, cafile);
  ck_assert_int_eq(c->probe.opts.dns.mode, MP_DNS_PREFER_V6);
  ck_assert_ptr_null(c->probe.opts.dns.server);
  ck_assert_uint_eq(c->probe.opts.dns.nhosts, 3);
  ck_assert_str_eq(c->probe.opts.dns.hosts[0].ip, "127.0.0.1");
  ck_assert_str_eq(c->probe.opts.dns.hosts[0].name, "pop.example.test");
  ck_assert_str_eq(c->probe.opts.dns.hosts[1].name, "mx.example.test");
  ck_assert_str_eq(c->probe.opts.dns.hosts[2].ip, "::1");
  ck_assert_str_eq(c->probe.opts.dns.hosts[2].name, "v6.example.test");

  ck_assert_int_eq(e->status, 0);
  ck_assert_int_eq(e->error, MP_E_CERT_INVALID);
  ck_assert_int_eq(e->phase, MP_PHASE_TLS);
  ck_assert_int_eq(e->reply_code, 1); /* +OK */
  ck_assert_str_eq(e->reply_text, "*in use*");
  ck_assert_int_eq(e->elapsed.min_us, 1000);
  ck_assert_int_eq(e->elapsed.max_us, 1500000);
  ck_assert_int_eq(e->timings[MP_PHASE_CONNECT].min_us, -1);
  ck_assert_int_eq(e->timings[MP_PHASE_CONNECT].max_us, 100000);
  ck_assert_int_eq(e->timings[MP_PHASE_TLS].min_us, 0);
  ck_assert_int_eq(e->timings[MP_PHASE_TLS].max_us, 1000000);
  ck_assert_int_eq(e->timings[MP_PHASE_BANNER].max_us, -1);
  ck_assert_str_eq(e->auth, "none");
  ck_assert_int_eq(e->tls, 1);
  ck_assert_str_eq(e->tls_version, "TLSv1.3");
  ck_assert_int_eq(e->cert_verified, 0);
  ck_assert_int_eq(e->messages, 3);
  ck_assert_uint_eq(e->nservers, 1);
  ck_assert_str_eq(e->servers[0].server, "pop");
  ck_assert_int_eq(e->servers[0].line, 94);
  ck_assert_uint_eq(e->servers[0].nsaw, 1);
  ck_assert_str_eq(e->servers[0].saw[0], "QUIT");
  ck_assert_uint_eq(e->servers[0].nnot_saw, 1);
  ck_assert_str_eq(e->servers[0].not_saw[0], "PASS *");
  ck_assert_uint_eq(e->servers[0].nnot_saw_in_clear, 2);
  ck_assert_str_eq(e->servers[0].not_saw_in_clear[1], "PASS *");
  ck_assert_int_eq(e->servers[0].sessions, 1);
  mp_case_free(c);
}
END_TEST

START_TEST(test_target_file)
{
  struct mp_case *c = load_ok("good/target.yaml");
  ck_assert_str_eq(c->name, "target"); /* from the file name */
  ck_assert_uint_eq(c->nservers, 0);
  ck_assert_ptr_null(c->probe.server);
  ck_assert_str_eq(c->probe.target, "[::1]:1143");
  ck_assert_str_eq(c->probe.opts.host, "::1");
  ck_assert_uint_eq(c->probe.opts.port, 1143);
  ck_assert_int_eq(c->probe.opts.proto, MP_PROTO_IMAP);
  ck_assert_int_eq(c->probe.opts.tls, MP_TLSMODE_STARTTLS);
  ck_assert_str_eq(c->probe.opts.password, "s3cret");
  /* LOGIN is the IMAP command for an imap probe; AUTH=PLAIN is SASL. */
  ck_assert_uint_eq(c->probe.opts.auth,
                    MP_AUTH_LOGIN_CMD | MP_SASL_BIT(MP_SASL_PLAIN));
  ck_assert_int_eq(c->probe.opts.dns.mode, MP_DNS_SERVER);
  ck_assert_str_eq(c->probe.opts.dns.server, "127.0.0.1:5353");
  ck_assert_int_eq(c->expect.status, 1);
  ck_assert_int_eq(c->expect.has_error, 1);
  ck_assert_int_eq(c->expect.error, 0);
  ck_assert_str_eq(c->expect.auth, "LOGIN");
  ck_assert_int_eq(c->expect.tls, 1);
  ck_assert_ptr_null(c->expect.tls_version);
  mp_case_free(c);
}
END_TEST

/* A round trip with every key: the halves, what they inherit, the
 * defaults they do not, the runs and the written-out mail. */
START_TEST(test_roundtrip_file)
{
  struct mp_case *c = load_ok("good/roundtrip.yaml");
  const struct mp_case_rt *rt = c->probe.rt;
  const struct mp_case_probe *sd, *f;
  const struct mp_case_expect *e = &c->expect;
  char cafile[600];

  ck_assert_int_eq(c->probe.type, MP_CASE_ROUNDTRIP);
  ck_assert_ptr_nonnull(rt);
  ck_assert_ptr_null(c->probe.server);
  sd = &rt->send;
  f = &rt->fetch;
  ck_assert_int_eq(sd->type, MP_CASE_SMTP);
  ck_assert_int_eq(sd->opts.proto, MP_PROTO_SMTP);
  ck_assert_str_eq(sd->server, "mx");
  ck_assert_int_eq(sd->opts.tls, MP_TLSMODE_NONE);
  ck_assert_str_eq(sd->opts.user, "sender@example.test");
  ck_assert_str_eq(sd->opts.password, "pw1"); /* from mx's users */
  ck_assert_uint_eq(sd->opts.auth, MP_SASL_BIT(MP_SASL_PLAIN));
  ck_assert_str_eq(sd->opts.helo, "probe.example.test");
  ck_assert_uint_eq(sd->opts.timeout_ms, 3000);         /* its own */
  ck_assert_uint_eq(sd->opts.connect_timeout_ms, 1000); /* shared */
  ck_assert_int_eq(sd->opts.insecure, 1);               /* shared */
  snprintf(cafile, sizeof cafile, "%s/good/ca.pem", data_dir());
  ck_assert_str_eq(sd->opts.cafile, cafile);
  ck_assert_uint_eq(sd->opts.dns.nhosts, 1);
  ck_assert_str_eq(sd->opts.dns.hosts[0].name, "mx.example.test");

  /* The fetch type comes from the server; implicit from its tls. */
  ck_assert_int_eq(f->type, MP_CASE_IMAP);
  ck_assert_int_eq(f->opts.proto, MP_PROTO_IMAP);
  ck_assert_str_eq(f->server, "box");
  ck_assert_int_eq(f->opts.tls, MP_TLSMODE_IMPLICIT);
  ck_assert_str_eq(f->opts.password, "s3cret");
  ck_assert_uint_eq(f->opts.auth, MP_AUTH_LOGIN_CMD); /* IMAP LOGIN */
  ck_assert_int_eq(f->opts.insecure, 0);              /* its own wins */
  ck_assert_str_eq(f->opts.servername, "imap.example.test");
  ck_assert_uint_eq(f->opts.timeout_ms, 4000); /* shared */
  ck_assert_str_eq(f->opts.cafile, cafile);

  ck_assert_str_eq(rt->to, "probe@example.test"); /* fetch.user */
  ck_assert_str_eq(rt->from, "monitor@example.test");
  ck_assert_str_eq(rt->subject, "probe check");
  ck_assert_str_eq(rt->id, "mon-A_1");
  ck_assert_uint_eq(rt->email_timeout_ms, 1500);
  ck_assert_uint_eq(rt->poll_ms, 250);
  ck_assert_int_eq(rt->mode, 1);
  ck_assert_uint_eq(rt->runs, 3);
  ck_assert_uint_eq(rt->interval_ms, 100);

  /* Written-out mail, CRLF line ends. */
  ck_assert_uint_eq(c->nmail, 2);
  ck_assert_str_eq(c->mail[0].user, "probe@example.test");
  ck_assert_str_eq(c->mail[0].data, "Subject: a\r\nX-Mailprobe-Token: "
                                    "mailprobe.other.1\r\n\r\nbody\r\n");
  ck_assert_uint_eq(c->mail[0].len, strlen(c->mail[0].data));
  ck_assert_str_eq(c->mail[1].data, "Subject: b\r\n\r\nno final line end\r\n");
  ck_assert_uint_eq(c->servers[1].mailboxes[0].messages, 1);

  ck_assert_int_eq(e->status, -1); /* optional with runs */
  ck_assert_int_eq(e->has_warn, 1);
  ck_assert_int_eq(e->warn, 0);
  ck_assert_str_eq(e->detail, "*");
  ck_assert_int_eq(e->has_reply_code, 1);
  ck_assert_int_eq(e->reply_code, 0);
  ck_assert_uint_eq(e->nruns, 3);
  ck_assert_int_eq(e->runs[0].status, 1);
  ck_assert_int_eq(e->runs[0].has_found, 1);
  ck_assert_int_eq(e->runs[0].found, 0);
  ck_assert_int_eq(e->runs[0].has_deleted, 0);
  ck_assert_str_eq(e->runs[0].detail, "first run:*");
  ck_assert_int_eq(e->runs[0].has_polls, 1);
  ck_assert_int_eq(e->runs[0].polls_min, 1);
  ck_assert_int_eq(e->runs[0].polls_max, 1);
  ck_assert_int_eq(e->runs[0].has_reply_code, 0);
  ck_assert_int_eq(e->runs[1].deleted, 1);
  ck_assert_int_eq(e->runs[1].has_delivery, 1);
  ck_assert_int_eq(e->runs[1].delivery.min_us, -1);
  ck_assert_int_eq(e->runs[1].delivery.max_us, 2000000);
  ck_assert_int_eq(e->runs[1].polls_min, 1);
  ck_assert_int_eq(e->runs[1].polls_max, 3);
  ck_assert_int_eq(e->runs[1].tls, 1);
  ck_assert_str_eq(e->runs[1].verify_error, "*expired*");
  ck_assert_int_eq(e->runs[2].status, 0);
  ck_assert_int_eq(e->runs[2].error, MP_E_MESSAGE_NOT_DELIVERED);
  ck_assert_int_eq(e->runs[2].has_reply_code, 1);
  ck_assert_int_eq(e->runs[2].reply_code, -1);
  ck_assert_int_eq(e->runs[2].has_polls, 0);
  ck_assert_uint_eq(e->nmailboxes, 2);
  ck_assert_str_eq(e->mailboxes[1].user, "PROBE@example.test");
  ck_assert_int_eq(e->mailboxes[1].messages, 1);
  ck_assert_uint_eq(e->nservers, 1);
  mp_case_free(c);
}
END_TEST

/* The smallest round trip: fetch type from a pop3 server, to and from
 * from the fetch user, defaults everywhere else. */
START_TEST(test_roundtrip_defaults)
{
  struct mp_case *c =
      parse_ok("servers:\n  mx: { protocol: smtp }\n"
               "  pop: { protocol: pop3, users: { probe@example.test: pw } }\n"
               "probe:\n  type: roundtrip\n  send: { server: mx }\n"
               "  fetch: { server: pop, user: probe@example.test }\n"
               "expect: { status: ok, found: 1, polls: 2 }\n");
  const struct mp_case_rt *rt = c->probe.rt;
  ck_assert_int_eq(rt->send.opts.tls, MP_TLSMODE_AUTO);
  ck_assert_ptr_null(rt->send.opts.user);
  ck_assert_int_eq(rt->fetch.type, MP_CASE_POP3);
  ck_assert_int_eq(rt->fetch.opts.proto, MP_PROTO_POP3);
  ck_assert_str_eq(rt->to, "probe@example.test");
  ck_assert_str_eq(rt->from, "probe@example.test");
  ck_assert_ptr_null(rt->subject);
  ck_assert_ptr_null(rt->id);
  ck_assert_uint_eq(rt->email_timeout_ms, 0);
  ck_assert_uint_eq(rt->poll_ms, 0);
  ck_assert_int_eq(rt->mode, 0);
  ck_assert_uint_eq(rt->runs, 1);
  ck_assert_uint_eq(rt->send.opts.timeout_ms, 0);
  ck_assert_int_eq(c->expect.polls_min, 2);
  ck_assert_int_eq(c->expect.polls_max, 2);
  ck_assert_int_eq(c->expect.has_warn, 0);
  ck_assert_uint_eq(c->nmail, 0);
  mp_case_free(c);

  /* A target needs the fetch type; USER is a pop3 login there. */
  c = parse_ok("probe:\n  type: roundtrip\n  send: { target: \"mx:2525\" }\n"
               "  fetch: { target: \"[::1]:110\", type: POP3, user: u, "
               "password: p, auth: [USER] }\n  to: x@example.test\n"
               "expect: { status: ok }\n");
  ck_assert_str_eq(c->probe.rt->send.opts.host, "mx");
  ck_assert_uint_eq(c->probe.rt->send.opts.port, 2525);
  ck_assert_str_eq(c->probe.rt->fetch.opts.host, "::1");
  ck_assert_int_eq(c->probe.rt->fetch.type, MP_CASE_POP3);
  ck_assert_uint_eq(c->probe.rt->fetch.opts.auth, MP_AUTH_USER);
  ck_assert_str_eq(c->probe.rt->to, "x@example.test");
  ck_assert_str_eq(c->probe.rt->from, "x@example.test");
  mp_case_free(c);
}
END_TEST

/* ---------------------------------------------------------------- */
/* Broken files: each with where the error is and what it says. */

static const struct {
  const char *file;
  const char *loc;
  const char *msg;
} bad_files[] = {
    {"unknown-key-typo.yaml", "8:3",
     "unknown key 'tiemout' (did you mean 'timeout'?)"},
    {"unknown-key-top.yaml", "2:1",
     "unknown key 'frobnicate' in the top level (known keys: name,"},
    {"string-for-number.yaml", "7:14",
     "'nth' must be a whole number, not a string ('two')"},
    {"quoted-number.yaml", "7:14", "'nth' must be a whole number"},
    {"map-for-list.yaml", "2:7", "'tags' must be a list, not a map"},
    {"list-for-map.yaml", "2:10", "'servers' must be a map"},
    {"duration-space.yaml", "8:12",
     "'5 s': a duration is a number and a unit with no space, like 5s or "
     "500ms"},
    {"duration-unit.yaml", "7:16", "'10x': a duration is a number"},
    {"duration-negative.yaml", "8:12", "'-1s': a duration cannot be negative"},
    {"enum-unknown.yaml", "5:10",
     "unknown tls 'startls' (did you mean 'starttls'? allowed: none, "
     "starttls, implicit)"},
    {"server-undefined.yaml", "7:11",
     "server 'mz' is not defined under servers (did you mean 'mx'?)"},
    {"duplicate-key.yaml", "9:3", "duplicate key 'timeout' (first at line 8)"},
    {"missing-protocol.yaml", "2:3", "missing required key 'protocol'"},
    {"missing-type.yaml", "5:1", "missing required key 'type'"},
    {"missing-target.yaml", "5:1", "missing required key 'server'"},
    {"missing-status.yaml", "8:1", "missing required key 'status'"},
    {"missing-expect.yaml", "1:1", "missing required key 'expect'"},
    {"server-and-target.yaml", "8:11", "'server' or 'target', not both"},
    {"tabs.yaml", "7:1", "tabs are not allowed in indentation"},
    {"empty.yaml", "1:1", "the file is empty"},
    {"comments-only.yaml", "1:1", "the file is empty"},
    {"invalid-utf8.yaml", "1:10", "not valid UTF-8"},
    {"syntax.yaml", "2:6", "YAML syntax error: did not find expected ','"},
    {"alias.yaml", "5:15", "anchors (&h) are not supported"},
    {"two-documents.yaml", "10:1", "one YAML document"},
    {"top-level-list.yaml", "1:1", "the top level must be a map"},
    {"verb-typo.yaml", "6:13",
     "unknown smtp command 'EHOL' (did you mean 'EHLO'?)"},
    {"verb-with-args.yaml", "6:13", "write 'line:AUTH PLAIN*'"},
    {"line-empty.yaml", "6:13", "'line:' needs a glob"},
    {"message-on-pop3.yaml", "5:13", "is for smtp servers"},
    {"rule-does-nothing.yaml", "6:9", "this rule does nothing"},
    {"rule-tls-fault.yaml", "8:20", "tls_fault in a rule needs 'on: tls'"},
    {"when-after-tls-plain.yaml", "7:15", "never fires"},
    {"drip-no-every.yaml", "7:15", "missing required key 'every'"},
    {"reply-nul.yaml", "7:16", "cannot hold a NUL byte"},
    {"probe-auth-unknown.yaml", "8:20",
     "unknown login mechanism 'NTLM' (allowed: SCRAM-SHA-256,"},
    {"error-typo.yaml", "10:10",
     "unknown error 'time_out' (did you mean 'timeout'?"},
    {"ok-with-error.yaml", "10:10", "status ok goes with error: none"},
    {"bool-yes.yaml", "8:13", "'insecure' must be true or false"},
    {"target-bad.yaml", "3:11", "must be host:port"},
    {"timings-phase.yaml", "11:5",
     "unknown phase 'bannr' (did you mean 'banner'?"},
    {"password-missing.yaml", "8:9",
     "user 'nobody@example.test' has no password"},
    {"expect-server-undefined.yaml", "11:5",
     "server 'nx' is not defined under servers (did you mean 'mx'?)"},
    {"port-with-server.yaml", "8:9", "'port' goes with target:"},
    {"roundtrip-runs-mismatch.yaml", "13:5",
     "expect.runs has 2 items but probe.runs is 3"},
    {"roundtrip-fetch-user.yaml", "10:11",
     "user 'nobody@example.test' has no password"},
};

START_TEST(test_bad_file)
{
  char path[600], err[1024];
  struct mp_case *c = (struct mp_case *)1;
  int rc;
  snprintf(path, sizeof path, "%s/bad/%s", data_dir(), bad_files[_i].file);
  rc = mp_case_load(path, &c, err, sizeof err);
  ck_assert_int_eq(rc, MP_E_PROTOCOL_ERROR);
  ck_assert_ptr_null(c);
  assert_err(err, path, bad_files[_i].loc, bad_files[_i].msg);
}
END_TEST

/* Every file in bad/ is in the table above. */
START_TEST(test_bad_files_listed)
{
  char dir[600];
  DIR *d;
  struct dirent *de;
  int seen = 0;
  snprintf(dir, sizeof dir, "%s/bad", data_dir());
  d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  while ((de = readdir(d)) != NULL) {
    int found = 0;
    if (de->d_name[0] == '.')
      continue;
    for (int i = 0; i < N(bad_files); i++)
      found |= strcmp(bad_files[i].file, de->d_name) == 0;
    ck_assert_msg(found, "bad/%s is not in the table", de->d_name);
    seen++;
  }
  closedir(d);
  ck_assert_int_eq(seen, N(bad_files));
}
END_TEST

/* ---------------------------------------------------------------- */
/* Broken inline cases. */

#define SRV "servers:\n  mx:\n    protocol: smtp\n    tls: starttls\n"
#define PRB "probe:\n  type: smtp\n  server: mx\n"
#define EXP "expect:\n  status: ok\n"
#define RSRV                                                                   \
  "servers:\n  mx: { protocol: smtp }\n  pop: { protocol: pop3, users: "       \
  "{ u: p } }\n"
#define RPRB                                                                   \
  "probe:\n  type: roundtrip\n  send: { server: mx }\n  fetch: { server: "     \
  "pop, user: u }\n"

static const struct {
  const char *yaml;
  const char *loc;
  const char *msg;
} bad_inline[] = {
    {SRV "    cert: expird\n" PRB EXP, "5:11",
     "unknown cert 'expird' (did you mean 'expired'? allowed: valid, "
     "expired, not_yet_valid, self_signed, wrong_host)"},
    {SRV "    key: dsa\n" PRB EXP, "5:10", "allowed: ec, rsa"},
    {SRV "    users: [a, b]\n" PRB EXP, "5:12", "'users' must be a map"},
    {SRV "    users: { a: }\n" PRB EXP, "5:17", "'password' has no value"},
    {SRV "    auth: [PLAIN, {x: 1}]\n" PRB EXP, "5:19",
     "each item of 'auth' must be a string, not a map"},
    {SRV "    auth: \"PL AIN!\"\n" PRB EXP, "5:11", "'AIN!' is not a name"},
    {SRV "    apop: true\n" PRB EXP, "5:11", "'apop' is for pop3 servers"},
    {"servers:\n  mx:\n    protocol: smtp\n    tls_fault: close\n" PRB EXP,
     "4:16", "'tls_fault' needs tls: starttls or implicit"},
    {"servers:\n  mx:\n    protocol: smtp\n    script:\n      - on: tls\n"
     "        then: close\n" PRB EXP,
     "5:13", "'on: tls' needs a server with tls"},
    {SRV "    mailboxes: { u: { messages: 1, sise: 2 } }\n" PRB EXP, "5:36",
     "unknown key 'sise' (did you mean 'size'?)"},
    {SRV "    mailboxes: { u: { size: 2 } }\n" PRB EXP, "5:21",
     "a mailbox needs 'messages'"},
    {SRV "    mailboxes: { u: -1 }\n" PRB EXP, "5:21",
     "'messages' must be from 0 to 100000, not -1"},
    {SRV "    delivery: { delay: 5 min }\n" PRB EXP, "5:24",
     "'5 min': a duration is a number"},
    {SRV "    delivery: { los: true }\n" PRB EXP, "5:17",
     "unknown key 'los' (did you mean 'lose'?)"},
    {SRV "    idle_timeout: 0\n" PRB EXP, "5:19",
     "'idle_timeout' must be more than 0"},
    {SRV "    script: { on: connect }\n" PRB EXP, "5:13",
     "'script' must be a list of rules, not a map"},
    {SRV "    script:\n      - connect\n" PRB EXP, "6:9",
     "a script rule must be a map"},
    {SRV "    script:\n      - reply: hi\n" PRB EXP, "6:9",
     "a script rule needs 'on'"},
    {SRV "    script:\n      - on: connect\n        then: explode\n" PRB EXP,
     "7:15", "allowed: continue, close, reset, hang, starttls"},
    {SRV "    script:\n      - on: connect\n        nth: 0\n"
         "        then: close\n" PRB EXP,
     "7:14", "'nth' must be from 1 to"},
    {SRV "    script:\n      - on: connect\n        when: sometimes\n"
         "        then: close\n" PRB EXP,
     "7:15", "allowed: any, before_tls, after_tls"},
    {SRV "    script:\n      - on: connect\n        reply: { a: 1 }\n" PRB EXP,
     "7:16", "'reply' must be a string or a list of lines, not a map"},
    {SRV "    script:\n      - on: connect\n        reply: \"a\\rb\"\n" PRB EXP,
     "7:16", "cannot hold a carriage return"},
    {SRV "    script:\n      - on: connect\n        send: [1]\n" PRB EXP,
     "7:15", "'send' must be a string of bytes, not a list"},
    {SRV "    script:\n      - on: connect\n        drip: { bytes: 0, every: "
         "1s }\n" PRB EXP,
     "7:24", "'bytes' must be from 1 to 65536"},
    {SRV "    script:\n      - on: connect\n        drip: [1s]\n" PRB EXP,
     "7:15", "'drip' must be a duration or {bytes: N, every: DUR}"},
    {SRV "    script:\n      - on: CAPA\n        then: close\n" PRB EXP, "6:13",
     "unknown smtp command 'CAPA'"},
    {SRV "    script:\n      - on: connect\n        on: QUIT\n" PRB EXP, "7:9",
     "duplicate key 'on' (first at line 6)"},
    {SRV "  Mx!:\n    protocol: smtp\n" PRB EXP, "5:3",
     "a server name is letters, digits"},
    {SRV PRB "  type: smtp\n" EXP, "8:3", "duplicate key 'type'"},
    {SRV "probe:\n  type: smtpp\n  server: mx\n" EXP, "6:9",
     "unknown type 'smtpp' (did you mean 'smtp'?"},
    {SRV PRB "  tls: maybe\n" EXP, "8:8",
     "allowed: none, starttls, implicit, auto"},
    {SRV PRB "  timeout: 0s\n" EXP, "8:12", "'timeout' must be more than 0"},
    {SRV PRB "  connect_timeout: {a: 1}\n" EXP, "8:20",
     "'connect_timeout' must be a duration (like 5s or 500ms), not a map"},
    {SRV PRB "  auth: []\n" EXP, "8:9", "names no mechanism"},
    {SRV PRB "  auth: USER\n" EXP, "8:9", "'USER' is a pop3 login"},
    {SRV PRB "  password: x\n" EXP, "8:13", "'password' without 'user'"},
    {SRV PRB "  user: [a]\n" EXP, "8:9", "'user' must be a string, not a list"},
    {SRV PRB "  helo: \"a\\nb\"\n" EXP, "8:9", "'helo' must be one line"},
    {SRV PRB "  email_timeout: 5m\n" EXP, "8:3",
     "'email_timeout' is for roundtrip probes (type: roundtrip)"},
    {"probe:\n  type: smtp\n  target: \"mx.example.com:\"\n" EXP, "3:11",
     "must be host:port"},
    {"probe:\n  type: smtp\n  target: \"[::1\"\n" EXP, "3:11",
     "must be host:port"},
    {"probe:\n  type: smtp\n  target: \"mx:25\"\n  port: 26\n" EXP, "4:9",
     "the port is given twice"},
    {"probe:\n  type: smtp\n  target: \"mx\"\n  port: 70000\n" EXP, "4:9",
     "'port' must be from 1 to 65535, not 70000"},
    {SRV PRB "  dns: { mode: server }\n" EXP, "8:16",
     "mode: server needs 'server: IP[:PORT]'"},
    {SRV PRB "  dns: { mode: ipv4, server: 127.0.0.1 }\n" EXP, "8:30",
     "dns 'server' goes with mode: server"},
    {SRV PRB "  dns: { server: \"dns.example:53\" }\n" EXP, "8:18",
     "must be an IP address with an optional port"},
    {SRV PRB "  dns: { hosts: [\"mx.example.test 127.0.0.1\"] }\n" EXP, "8:18",
     "'mx.example.test' is not an IP address"},
    {SRV PRB "  dns: { hosts: [\"127.0.0.1\"] }\n" EXP, "8:18",
     "needs names after the IP address"},
    {SRV PRB "  dns: server\n" EXP, "8:8", "dns mode 'server' needs"},
    {SRV PRB "  dns: nocache\n" EXP, "8:8",
     "unknown dns 'nocache' (did you mean 'no_cache'?"},
    {SRV PRB "expect:\n  status: fail\n  error: none\n", "10:10",
     "status fail needs an error name"},
    {SRV PRB "expect:\n  status: maybe\n", "9:11", "allowed: fail, ok"},
    {SRV PRB EXP "  phase: bannner\n", "10:10", "did you mean 'banner'?"},
    {SRV PRB EXP "  reply: { code: \"421\" }\n", "10:18",
     "reply code '421' must be a number"},
    {SRV PRB EXP "  reply: +ERR\n", "10:10",
     "reply code '+ERR' must be a number (like 421) or one of +OK, -ERR"},
    {SRV PRB EXP "  reply: { code: none, text: \"*\" }\n", "10:30",
     "reply 'none' (no reply at all) has no text"},
    {SRV PRB EXP "  reply: -1\n", "10:10",
     "'code' must be from 1 to 999, not -1"},
    {SRV PRB EXP "  reply: { code: 1000 }\n", "10:18",
     "'code' must be from 1 to 999"},
    {SRV PRB EXP "  reply: { cod: 421 }\n", "10:12",
     "unknown key 'cod' (did you mean 'code'?)"},
    {SRV PRB EXP "  reply: {}\n", "10:10", "'reply' needs code, text or both"},
    {SRV PRB EXP "  elapsed: { min: 2s, max: 1s }\n", "10:28",
     "max is below min"},
    {SRV PRB EXP "  elapsed: 1s\n", "10:12",
     "'elapsed' must be {min: DUR, max: DUR}, not a string"},
    {SRV PRB EXP "  timings: { banner: 1s }\n", "10:22",
     "'banner' must be {min: DUR, max: DUR}"},
    {SRV PRB EXP "  auth: KERBEROS\n", "10:9", "unknown auth 'KERBEROS'"},
    {SRV PRB EXP "  tls: { version: TLSv1.4 }\n", "10:19",
     "unknown version 'TLSv1.4'"},
    {SRV PRB EXP "  tls: yes\n", "10:8", "'tls' must be true or false"},
    {SRV PRB EXP "  messages: many\n", "10:13",
     "'messages' must be a whole number"},
    {SRV PRB EXP "  server: { mx: {} }\n", "10:17", "says nothing"},
    {SRV PRB EXP "  server: { mx: { saw: [{a: 1}] } }\n", "10:25",
     "each item of 'saw' must be a string"},
    {SRV PRB EXP "  server: { mx: { sessions: -1 } }\n", "10:29",
     "'sessions' must be from 0"},
    {SRV PRB EXP "  server: { mx: { seen: [QUIT] } }\n", "10:19",
     "unknown key 'seen' in expect.server.mx (known keys: saw, not_saw,"},
    {SRV PRB EXP "name: !!str x\n", "10:7",
     "YAML tags (tag:yaml.org,2002:str)"},
    {SRV PRB EXP "tags: [*a]\n", "10:8", "aliases (*a) are not supported"},
    {SRV PRB EXP "? [a]\n: b\n", "10:3",
     "a key in the top level must be a "
     "name, not a list"},
    {"name: x\n" PRB EXP "description: [a]\n", "7:14",
     "'description' must be a string, not a list"},
    {"name: x\nprobe:\n  type: smtp\n  server: mx\n" EXP, "4:11",
     "server 'mx' is not defined under servers"},
    {"\xef\xbb\xbfname: x\nname: y\n", "2:1", "duplicate key 'name'"},
    {"name: \"x\x01\"\n", "1:9", "control characters are not allowed"},
    /* Round trips. */
    {RSRV "probe:\n  type: roundtrip\n  server: mx\n" EXP, "6:3",
     "'server' goes under send: or fetch: in a roundtrip probe"},
    {RSRV "probe:\n  type: roundtrip\n  tls: none\n" EXP, "6:3",
     "'tls' goes under send: or fetch:"},
    {RSRV "probe:\n  type: roundtrip\n  fetch: { server: pop, user: u }\n" EXP,
     "4:1", "missing required key 'send'"},
    {RSRV "probe:\n  type: roundtrip\n  send: { server: mx }\n" EXP, "4:1",
     "missing required key 'fetch'"},
    {RSRV "probe:\n  type: roundtrip\n  send: mx\n  fetch: { server: pop, "
          "user: u }\n" EXP,
     "6:9", "'send' must be a map"},
    {RSRV "probe:\n  type: roundtrip\n  send: { server: pop }\n"
          "  fetch: { server: pop, user: u }\n" EXP,
     "6:19", "server 'pop' speaks pop3; probe.send needs an smtp server"},
    {RSRV "probe:\n  type: roundtrip\n  send: { server: mx }\n"
          "  fetch: { server: mx, user: u }\n" EXP,
     "7:20", "server 'mx' speaks smtp; probe.fetch needs a pop3 or imap"},
    {RSRV "probe:\n  type: roundtrip\n  send: { server: mx }\n"
          "  fetch: { target: \"h:110\", user: u, password: p }\n" EXP,
     "7:3", "probe.fetch: give 'type' (pop3 or imap) with a target"},
    {RSRV "probe:\n  type: roundtrip\n  send: { server: mx }\n"
          "  fetch: { server: pop, type: smtp, user: u }\n" EXP,
     "7:31", "unknown type 'smtp' (did you mean 'imap'? allowed: pop3, imap)"},
    {RSRV "probe:\n  type: roundtrip\n  send: { server: mx }\n"
          "  fetch: { server: pop }\n" EXP,
     "7:3", "probe.fetch: missing required key 'user'"},
    {RSRV "probe:\n  type: roundtrip\n  send: { server: mx }\n"
          "  fetch: { server: pop, user: u, helo: x }\n" EXP,
     "7:34", "unknown key 'helo' in probe.fetch"},
    {RSRV "probe:\n  type: roundtrip\n  send: { server: mx, tl: none }\n"
          "  fetch: { server: pop, user: u }\n" EXP,
     "6:23", "unknown key 'tl' (did you mean 'tls'?)"},
    {RSRV "probe:\n  type: roundtrip\n  send: { server: mx, auth: USER }\n"
          "  fetch: { server: pop, user: u }\n" EXP,
     "6:29", "'USER' is a pop3 login; this probe is not pop3"},
    {RSRV "probe:\n  type: roundtrip\n  send: { server: mx, target: h }\n"
          "  fetch: { server: pop, user: u }\n" EXP,
     "6:31", "probe.send: give 'server' or 'target', not both"},
    {RSRV RPRB "  mode: prevous\n" EXP, "8:9",
     "unknown mode 'prevous' (did you mean 'previous'? allowed: same, "
     "previous)"},
    {RSRV RPRB "  id: a.b\n" EXP, "8:7", "id 'a.b' must be 1 to 32 letters"},
    {RSRV RPRB "  runs: 0\n" EXP, "8:9", "'runs' must be from 1 to 1000"},
    {RSRV RPRB "  interval: 1s\n" EXP, "8:13",
     "'interval' is the pause between runs; it goes with runs: 2 or more"},
    {RSRV RPRB "  email_timeout: 0\n" EXP, "8:18",
     "'email_timeout' must be more than 0"},
    {RSRV RPRB "  poll: 5 s\n" EXP, "8:9", "'5 s': a duration is a number"},
    {RSRV RPRB "  to: [a]\n" EXP, "8:7", "'to' must be a string, not a list"},
    {RSRV RPRB "  emailtimeout: 5s\n" EXP, "8:3",
     "unknown key 'emailtimeout' (did you mean 'email_timeout'?)"},
    {SRV PRB "  runs: 2\n" EXP, "8:3",
     "'runs' is for roundtrip probes (type: roundtrip)"},
    {SRV PRB EXP "  found: 1\n", "10:3",
     "'found' is for roundtrip probes (type: roundtrip)"},
    {SRV PRB EXP "  polls: 1\n", "10:3", "'polls' is for roundtrip probes"},
    {RSRV RPRB EXP "  found: -1\n", "10:10", "'found' must be from 0 to"},
    {RSRV RPRB EXP "  deleted: many\n", "10:12",
     "'deleted' must be a whole number"},
    {RSRV RPRB EXP "  delivery: 1s\n", "10:13",
     "'delivery' must be {min: DUR, max: DUR}, not a string"},
    {RSRV RPRB EXP "  polls: { min: 3, max: 1 }\n", "10:25",
     "'polls': max is below min"},
    {RSRV RPRB EXP "  polls: [1]\n", "10:10",
     "'polls' must be a number or {min: N, max: N}, not a list"},
    {RSRV RPRB EXP "  polls: { mn: 1 }\n", "10:12",
     "unknown key 'mn' (did you mean 'min'?)"},
    {RSRV RPRB EXP "  runs: [{status: ok}]\n", "10:3",
     "expect.runs is one expectation per run; it goes with probe.runs: 2 "
     "or more"},
    {RSRV RPRB "  runs: 3\n" EXP "  runs: [{status: ok}, {status: ok}]\n",
     "11:9", "expect.runs has 2 items but probe.runs is 3"},
    {RSRV RPRB "  runs: 2\n" EXP "  runs: {status: ok}\n", "11:9",
     "'runs' must be a list (one map per run), not a map"},
    {RSRV RPRB "  runs: 2\n" EXP "  runs: [ok, ok]\n", "11:10",
     "each item of expect.runs must be a map"},
    {RSRV RPRB "  runs: 2\n" EXP "  runs: [{status: ok}, {found: 1}]\n",
     "11:24", "expect.runs[2]: missing required key 'status'"},
    {RSRV RPRB "  runs: 2\n" EXP
               "  runs: [{status: ok}, {status: ok, server: {}}]\n",
     "11:37", "unknown key 'server' in expect.runs[2]"},
    {RSRV RPRB "  runs: 2\n" EXP
               "  runs: [{status: ok, error: timeout}, {status: ok}]\n",
     "11:30", "status ok goes with error: none"},
    {RSRV RPRB "  runs: 2\nexpect:\n  found: 1\n", "9:1",
     "expect: missing required key 'status'"},
    {RSRV RPRB EXP "  mailboxes: { nobody@example.test: 0 }\n", "10:16",
     "no server has a mailbox for 'nobody@example.test'"},
    {RSRV RPRB EXP "  mailboxes: { u: -1 }\n", "10:19",
     "'messages' must be from 0 to"},
    {RSRV RPRB EXP "  mailboxes: [u]\n", "10:14", "'mailboxes' must be a map"},
    {RSRV RPRB EXP "  mailboxes: {}\n", "10:14",
     "expect.mailboxes names no mailbox"},
    /* Keys for every probe type. */
    {SRV PRB EXP "  warn: yes\n", "10:9", "'warn' must be true or false"},
    {SRV PRB EXP "  detail: [a]\n", "10:11",
     "'detail' must be a string, not a list"},
    {SRV PRB EXP "  tls: { verify_error: [a] }\n", "10:24",
     "'verify_error' must be a string, not a list"},
    {SRV PRB EXP "  tls: {}\n", "10:8",
     "'tls' needs version, verified, verify_error"},
    {SRV PRB EXP "  tls: { verfy_error: x }\n", "10:10",
     "unknown key 'verfy_error' (did you mean 'verify_error'?)"},
    /* Written-out mail. */
    {SRV "    mailboxes: { u: { mail: \"x\" } }\n" PRB EXP, "5:29",
     "'mail' must be a list of messages, not a string"},
    {SRV "    mailboxes: { u: { mail: [{a: 1}] } }\n" PRB EXP, "5:30",
     "each item of 'mail' must be a message's text, not a map"},
    {SRV "    mailboxes: { u: { mail: [\"\"] } }\n" PRB EXP, "5:30",
     "a message in 'mail' is empty"},
    {SRV "    mailboxes: { u: { mail: [\"a\\x00b\"] } }\n" PRB EXP, "5:30",
     "a message in 'mail' cannot hold a NUL byte"},
    {SRV "    mailboxes: { u: { mial: [] } }\n" PRB EXP, "5:23",
     "unknown key 'mial' (did you mean 'mail'?)"},
};

START_TEST(test_bad_inline)
{
  char err[1024];
  struct mp_case *c = (struct mp_case *)1;
  int rc = mp_case_parse(bad_inline[_i].yaml, strlen(bad_inline[_i].yaml),
                         "inline.yaml", &c, err, sizeof err);
  ck_assert_msg(rc == MP_E_PROTOCOL_ERROR, "parsed:\n%s", bad_inline[_i].yaml);
  ck_assert_ptr_null(c);
  assert_err(err, "inline.yaml", bad_inline[_i].loc, bad_inline[_i].msg);
}
END_TEST

/* A small error buffer is cut, never overrun; NULL is fine too. */
START_TEST(test_err_buffer)
{
  char err[24];
  struct mp_case *c;
  const char *y = SRV PRB EXP "frobnicate: 1\n";
  memset(err, 'X', sizeof err);
  ck_assert_int_lt(
      mp_case_parse(y, strlen(y), "a-long-file-name.yaml", &c, err, 16), 0);
  ck_assert_uint_eq(strlen(err), 15);
  ck_assert_int_eq(err[16], 'X');
  ck_assert_int_lt(mp_case_parse(y, strlen(y), "x.yaml", &c, NULL, 0), 0);
  ck_assert_ptr_null(c);
}
END_TEST

START_TEST(test_too_large)
{
  size_t len = MP_CASE_MAX_BYTES + 1;
  char *buf = malloc(len), err[256], path[] = "/tmp/check_case_XXXXXX";
  struct mp_case *c;
  int fd;

  ck_assert_ptr_nonnull(buf);
  /* Invalid UTF-8 throughout: parsing would report that instead. */
  memset(buf, 0xff, len);
  ck_assert_int_eq(mp_case_parse(buf, len, "big.yaml", &c, err, sizeof err),
                   MP_E_PROTOCOL_ERROR);
  assert_err(err, "big.yaml", "1:1", "larger than 1 MiB");

  fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
  close(fd);
  ck_assert_int_eq(mp_case_load(path, &c, err, sizeof err),
                   MP_E_PROTOCOL_ERROR);
  assert_err(err, path, "1:1", "larger than 1 MiB (1048577 bytes)");
  ck_assert_ptr_null(c);
  unlink(path);
  free(buf);
}
END_TEST

START_TEST(test_missing_file)
{
  char err[256];
  struct mp_case *c;
  ck_assert_int_eq(mp_case_load("/nonexistent/x.yaml", &c, err, sizeof err),
                   MP_E_PROTOCOL_ERROR);
  ck_assert_ptr_null(c);
  ck_assert_str_eq(err, "/nonexistent/x.yaml: cannot open the case file: No "
                        "such file or directory");
  ck_assert_int_eq(mp_case_load("/", &c, err, sizeof err), MP_E_PROTOCOL_ERROR);
  ck_assert_str_eq(err, "/: not a regular file");
}
END_TEST

/* ---------------------------------------------------------------- */
/* Every rule field, one rule at a time. */

static const struct {
  const char *rule; /* the lines under script:, indented 6 */
  enum mp_rule_on on;
  const char *match;
  unsigned nth;
  int when_tls;
  uint64_t delay_ms;
  int nreply; /* -1: reply NULL */
  const char *reply0, *reply_last;
  const char *send;
  size_t send_len;
  uint32_t drip_bytes;
  uint64_t drip_every_ms;
  enum mp_rule_then then;
  enum mp_tls_fault fault;
} rules[] = {
    {"- on: connect\n  then: close", MP_ON_CONNECT, NULL, 0, -1, 0, -1, NULL,
     NULL, NULL, 0, 0, 0, MP_THEN_CLOSE, 0},
    {"- on: Connect\n  delay: 250ms", MP_ON_CONNECT, NULL, 0, -1, 250, -1, NULL,
     NULL, NULL, 0, 0, 0, 0, 0},
    {"- on: connect\n  delay: 1", MP_ON_CONNECT, NULL, 0, -1, 1000, -1, NULL,
     NULL, NULL, 0, 0, 0, 0, 0},
    {"- on: connect\n  delay: 1us", MP_ON_CONNECT, NULL, 0, -1, 1, -1, NULL,
     NULL, NULL, 0, 0, 0, 0, 0},
    {"- on: connect\n  delay: 0", MP_ON_CONNECT, NULL, 0, -1, 0, -1, NULL, NULL,
     NULL, 0, 0, 0, 0, 0},
    {"- on: ehlo\n  reply: \"421 busy\"", MP_ON_COMMAND, "EHLO", 0, -1, 0, 1,
     "421 busy", "421 busy", NULL, 0, 0, 0, 0, 0},
    {"- on: rcpt\n  nth: 3\n  reply: [\"452 full\"]", MP_ON_COMMAND, "RCPT", 3,
     -1, 0, 1, "452 full", "452 full", NULL, 0, 0, 0, 0, 0},
    {"- on: AUTH\n  when: before_tls\n  reply: \"530 5.7.0 STARTTLS\"",
     MP_ON_COMMAND, "AUTH", 0, 0, 0, 1, "530 5.7.0 STARTTLS", NULL, NULL, 0, 0,
     0, 0, 0},
    {"- on: MAIL\n  when: after_tls\n  then: reset", MP_ON_COMMAND, "MAIL", 0,
     1, 0, -1, NULL, NULL, NULL, 0, 0, 0, MP_THEN_RESET, 0},
    {"- on: line:AUTH PLAIN *\n  reply: \"535 no\"", MP_ON_LINE, "AUTH PLAIN *",
     0, -1, 0, 1, "535 no", NULL, NULL, 0, 0, 0, 0, 0},
    {"- on: \"LINE:  x*\"\n  then: hang", MP_ON_LINE, "x*", 0, -1, 0, -1, NULL,
     NULL, NULL, 0, 0, 0, MP_THEN_HANG, 0},
    {"- on: message\n  reply: \"250-a\\n250 b\"", MP_ON_MESSAGE, NULL, 0, -1, 0,
     2, "250-a", "250 b", NULL, 0, 0, 0, 0, 0},
    {"- on: connect\n  reply: \"220 a\\r\\n220 b\\r\\n\"", MP_ON_CONNECT, NULL,
     0, -1, 0, 2, "220 a", "220 b", NULL, 0, 0, 0, 0, 0},
    {"- on: connect\n  reply: |\n    220-one\n    220 two", MP_ON_CONNECT, NULL,
     0, -1, 0, 2, "220-one", "220 two", NULL, 0, 0, 0, 0, 0},
    {"- on: connect\n  reply: [\"220-a\\n220-b\", \"220 c\"]", MP_ON_CONNECT,
     NULL, 0, -1, 0, 3, "220-a", "220 c", NULL, 0, 0, 0, 0, 0},
    {"- on: connect\n  reply: \"\"", MP_ON_CONNECT, NULL, 0, -1, 0, 1, "", "",
     NULL, 0, 0, 0, 0, 0},
    {"- on: QUIT\n  reply: []", MP_ON_COMMAND, "QUIT", 0, -1, 0, 0, NULL, NULL,
     NULL, 0, 0, 0, 0, 0},
    {"- on: connect\n  send: \"\\x00\\x01\\r\\n\"", MP_ON_CONNECT, NULL, 0, -1,
     0, -1, NULL, NULL, "\0\1\r\n", 4, 0, 0, 0, 0},
    {"- on: connect\n  send: '220 raw\\r\\n'", MP_ON_CONNECT, NULL, 0, -1, 0,
     -1, NULL, NULL, "220 raw\\r\\n", 11, 0, 0, 0, 0},
    {"- on: connect\n  drip: 1s", MP_ON_CONNECT, NULL, 0, -1, 0, -1, NULL, NULL,
     NULL, 0, 1, 1000, 0, 0},
    {"- on: connect\n  drip: { every: 10ms }", MP_ON_CONNECT, NULL, 0, -1, 0,
     -1, NULL, NULL, NULL, 0, 1, 10, 0, 0},
    {"- on: connect\n  drip: { bytes: 3, every: 1.5 }", MP_ON_CONNECT, NULL, 0,
     -1, 0, -1, NULL, NULL, NULL, 0, 3, 1500, 0, 0},
    {"- on: STARTTLS\n  reply: \"220 go\"\n  then: starttls", MP_ON_COMMAND,
     "STARTTLS", 0, -1, 0, 1, "220 go", NULL, NULL, 0, 0, 0, MP_THEN_STARTTLS,
     0},
    {"- on: tls\n  tls_fault: close", MP_ON_TLS, NULL, 0, -1, 0, -1, NULL, NULL,
     NULL, 0, 0, 0, 0, MP_TLS_FAULT_CLOSE},
    {"- on: tls\n  tls_fault: garbage", MP_ON_TLS, NULL, 0, -1, 0, -1, NULL,
     NULL, NULL, 0, 0, 0, 0, MP_TLS_FAULT_GARBAGE},
    {"- on: tls\n  delay: 2s\n  tls_fault: stall", MP_ON_TLS, NULL, 0, -1, 2000,
     -1, NULL, NULL, NULL, 0, 0, 0, 0, MP_TLS_FAULT_STALL},
    {"- on: tls\n  tls_fault: none\n  then: continue", MP_ON_TLS, NULL, 0, -1,
     0, -1, NULL, NULL, NULL, 0, 0, 0, MP_THEN_CONTINUE, MP_TLS_FAULT_NONE},
    {"- {on: data, when: any, delay: 1m, reply: \"451 later\", then: close}",
     MP_ON_COMMAND, "DATA", 0, -1, 60000, 1, "451 later", NULL, NULL, 0, 0, 0,
     MP_THEN_CLOSE, 0},
};

/* Indents every line of s by n spaces into out. */
static void indent(char *out, size_t cap, const char *s, int n)
{
  size_t o = 0;
  int bol = 1;
  for (; *s != '\0' && o + (size_t)n + 2 < cap; s++) {
    if (bol)
      for (int i = 0; i < n; i++)
        out[o++] = ' ';
    out[o++] = *s;
    bol = *s == '\n';
  }
  out[o++] = '\n';
  out[o] = '\0';
}

START_TEST(test_rule_fields)
{
  char rule[512], yaml[1024];
  struct mp_case *c;
  const struct mp_fake_rule *r;

  indent(rule, sizeof rule, rules[_i].rule, 6);
  snprintf(yaml, sizeof yaml, "%s    script:\n%s%s%s", SRV, rule, PRB, EXP);
  c = parse_ok(yaml);
  ck_assert_uint_eq(c->servers[0].nrules, 1);
  r = &c->servers[0].rules[0];
  ck_assert_int_eq(r->on, rules[_i].on);
  if (rules[_i].match == NULL)
    ck_assert_ptr_null(r->match);
  else
    ck_assert_str_eq(r->match, rules[_i].match);
  ck_assert_uint_eq(r->nth, rules[_i].nth);
  ck_assert_int_eq(r->when_tls, rules[_i].when_tls);
  ck_assert_uint_eq(r->delay_ms, rules[_i].delay_ms);
  if (rules[_i].nreply < 0) {
    ck_assert_ptr_null(r->reply);
    ck_assert_uint_eq(r->nreply, 0);
  } else {
    ck_assert_ptr_nonnull(r->reply);
    ck_assert_uint_eq(r->nreply, (size_t)rules[_i].nreply);
    if (rules[_i].reply0 != NULL)
      ck_assert_str_eq(r->reply[0], rules[_i].reply0);
    if (rules[_i].reply_last != NULL)
      ck_assert_str_eq(r->reply[r->nreply - 1], rules[_i].reply_last);
  }
  if (rules[_i].send == NULL) {
    ck_assert_ptr_null(r->send);
  } else {
    ck_assert_uint_eq(r->send_len, rules[_i].send_len);
    ck_assert_mem_eq(r->send, rules[_i].send, r->send_len);
  }
  ck_assert_uint_eq(r->drip_bytes, rules[_i].drip_bytes);
  ck_assert_uint_eq(r->drip_every_ms, rules[_i].drip_every_ms);
  ck_assert_int_eq(r->then, rules[_i].then);
  ck_assert_int_eq(r->tls_fault, rules[_i].fault);
  mp_case_free(c);
}
END_TEST

/* Verbs are checked against the server's protocol. */
START_TEST(test_rule_verbs_by_protocol)
{
  static const struct {
    const char *proto, *verb, *match; /* match NULL: an error */
  } t[] = {
      {"pop3", "STLS", "STLS"},
      {"pop3", "capa", "CAPA"},
      {"pop3", "APOP", "APOP"},
      {"pop3", "EHLO", NULL},
      {"imap", "SELECT", "SELECT"},
      {"imap", "login", "LOGIN"},
      {"imap", "Capability", "CAPABILITY"},
      {"imap", "USER", NULL},
      {"smtp", "STLS", NULL},
  };
  for (int i = 0; i < N(t); i++) {
    char yaml[512], err[512];
    struct mp_case *c;
    int rc;
    snprintf(yaml, sizeof yaml,
             "servers:\n  s:\n    protocol: %s\n    script:\n"
             "      - on: %s\n        then: close\n"
             "probe:\n  type: %s\n  server: s\n" EXP,
             t[i].proto, t[i].verb, t[i].proto);
    rc = mp_case_parse(yaml, strlen(yaml), "v.yaml", &c, err, sizeof err);
    ck_assert_msg((rc == 0) == (t[i].match != NULL), "%s %s: %s", t[i].proto,
                  t[i].verb, rc ? err : "parsed");
    if (rc == 0) {
      ck_assert_int_eq(c->servers[0].rules[0].on, MP_ON_COMMAND);
      ck_assert_str_eq(c->servers[0].rules[0].match, t[i].match);
      mp_case_free(c);
    } else {
      assert_err(err, "v.yaml", "5:13", "command");
    }
  }
}
END_TEST

/* ---------------------------------------------------------------- */
/* Probe auth names, by probe type. */

static const struct {
  const char *type, *auth;
  unsigned bits; /* 0: an error */
} auths[] = {
    {"smtp", "[CRAM-MD5, LOGIN, PLAIN]", MP_SASL_DEFAULT},
    {"smtp", "\"cram-md5 plain\"",
     MP_SASL_BIT(MP_SASL_CRAM_MD5) | MP_SASL_BIT(MP_SASL_PLAIN)},
    {"smtp", "SCRAM-SHA-256,SCRAM-SHA-1",
     MP_SASL_BIT(MP_SASL_SCRAM_SHA_256) | MP_SASL_BIT(MP_SASL_SCRAM_SHA_1)},
    {"smtp", "LOGIN", MP_SASL_BIT(MP_SASL_LOGIN)},
    {"pop3", "[USER, APOP]", MP_AUTH_USER | MP_AUTH_APOP},
    {"pop3", "LOGIN", MP_SASL_BIT(MP_SASL_LOGIN)},
    {"imap", "LOGIN", MP_AUTH_LOGIN_CMD},
    {"imap", "[AUTH=LOGIN, AUTH=PLAIN]",
     MP_SASL_BIT(MP_SASL_LOGIN) | MP_SASL_BIT(MP_SASL_PLAIN)},
    {"smtp", "APOP", 0},
    {"imap", "USER", 0},
    {"smtp", "GSSAPI", 0},
    {"smtp", "AUTH=NTLM", 0},
    {"smtp", "\"\"", 0},
    {"smtp", "{a: 1}", 0},
};

START_TEST(test_probe_auth)
{
  char yaml[512], err[512];
  struct mp_case *c;
  int rc;
  snprintf(yaml, sizeof yaml,
           "probe:\n  type: %s\n  target: 127.0.0.1\n  auth: %s\n" EXP,
           auths[_i].type, auths[_i].auth);
  rc = mp_case_parse(yaml, strlen(yaml), "a.yaml", &c, err, sizeof err);
  if (auths[_i].bits == 0) {
    ck_assert_msg(rc < 0, "%s parsed", auths[_i].auth);
    ck_assert_msg(strncmp(err, "a.yaml:4:", 9) == 0, "%s", err);
    return;
  }
  ck_assert_msg(rc == 0, "%s", err);
  ck_assert_uint_eq(c->probe.opts.auth, auths[_i].bits);
  mp_case_free(c);
}
END_TEST

/* user without password: the server's users map; tls defaults. */
START_TEST(test_probe_defaults)
{
  struct mp_case *c =
      parse_ok("servers:\n  mx: { protocol: smtp, users: { a: pa, b: pb } }\n"
               "  s: { protocol: imap, tls: implicit, users: { b: other } }\n"
               "probe: { type: smtp, server: mx, user: b }\n" EXP);
  ck_assert_str_eq(c->probe.opts.password, "pb");
  ck_assert_int_eq(c->probe.opts.tls, MP_TLSMODE_AUTO);
  ck_assert_ptr_null(c->probe.opts.cafile);
  ck_assert_int_eq(c->probe.opts.dns.mode, MP_DNS_SYSTEM);
  mp_case_free(c);

  c = parse_ok("servers:\n  s: { protocol: imap, tls: implicit, users: "
               "{ b: other } }\n"
               "probe: { type: imap, server: s, user: b, password: given, "
               "tls: none, cafile: /etc/ca.pem }\n" EXP);
  ck_assert_str_eq(c->probe.opts.password, "given");
  ck_assert_int_eq(c->probe.opts.tls, MP_TLSMODE_NONE);
  ck_assert_str_eq(c->probe.opts.cafile, "/etc/ca.pem");
  ck_assert_str_eq(c->name, "inline"); /* from "inline.yaml" */
  mp_case_free(c);

  c = parse_ok("probe: { type: smtp, target: mx.example.com, dns: no_cache, "
               "cafile: ca.pem }\n" EXP);
  ck_assert_str_eq(c->probe.opts.host, "mx.example.com");
  ck_assert_uint_eq(c->probe.opts.port, 0);
  ck_assert_int_eq(c->probe.opts.dns.mode, MP_DNS_NO_CACHE);
  ck_assert_str_eq(c->probe.opts.cafile, "ca.pem"); /* no folder in name */
  mp_case_free(c);

  c = parse_ok("probe: { type: smtp, target: \"::1\", port: 2525 }\n" EXP);
  ck_assert_str_eq(c->probe.opts.host, "::1");
  ck_assert_uint_eq(c->probe.opts.port, 2525);
  mp_case_free(c);

  c = parse_ok("probe: { type: smtp, target: \"127.0.0.1:25\" }\n"
               "expect: { status: fail, reply: 421 }\n");
  ck_assert_str_eq(c->probe.opts.host, "127.0.0.1");
  ck_assert_uint_eq(c->probe.opts.port, 25);
  ck_assert_int_eq(c->expect.reply_code, 421);
  ck_assert_int_eq(c->expect.has_error, 0);
  mp_case_free(c);
}
END_TEST

/* auth: [] advertises no AUTH: set, but empty. withhold is upper-cased. */
START_TEST(test_server_lists)
{
  struct mp_case *c =
      parse_ok("servers:\n  mx: { protocol: smtp, auth: [], withhold: "
               "\"starttls, auth\" }\n  b: { protocol: smtp }\n" PRB EXP);
  ck_assert_int_eq(c->servers[0].auth_set, 1);
  ck_assert_ptr_nonnull(c->servers[0].auth);
  ck_assert_uint_eq(c->servers[0].nauth, 0);
  ck_assert_uint_eq(c->servers[0].nwithhold, 2);
  ck_assert_str_eq(c->servers[0].withhold[0], "STARTTLS");
  ck_assert_str_eq(c->servers[0].withhold[1], "AUTH");
  ck_assert_int_eq(c->servers[1].auth_set, 0);
  ck_assert_ptr_null(c->servers[1].auth);
  ck_assert_uint_eq(c->servers[1].nrules, 0);
  mp_case_free(c);
}
END_TEST

START_TEST(test_expect_variants)
{
  struct mp_case *c =
      parse_ok("probe: { type: imap, target: h }\n"
               "expect:\n  status: ok\n  reply: { code: no }\n  tls: false\n"
               "  auth: cram-md5\n  timings: { quit: { min: 1us } }\n");
  ck_assert_int_eq(c->expect.reply_code, 2);
  ck_assert_ptr_null(c->expect.reply_text);
  ck_assert_int_eq(c->expect.tls, 0);
  ck_assert_str_eq(c->expect.auth, "CRAM-MD5");
  ck_assert_int_eq(c->expect.timings[MP_PHASE_QUIT].min_us, 1);
  ck_assert_int_eq(c->expect.timings[MP_PHASE_QUIT].max_us, -1);
  mp_case_free(c);

  c = parse_ok("probe: { type: pop3, target: h }\n"
               "expect: { status: fail, error: auth_failed, reply: { text: "
               "\"*locked*\" }, auth: USER }\n");
  ck_assert_int_eq(c->expect.has_reply_code, 0);
  ck_assert_str_eq(c->expect.reply_text, "*locked*");
  ck_assert_int_eq(c->expect.error, MP_E_AUTH_FAILED);
  ck_assert_str_eq(c->expect.auth, "USER");
  mp_case_free(c);

  c = parse_ok("probe: { type: pop3, target: h }\n"
               "expect: { status: fail, reply: { code: -err, text: \"*\" }, "
               "warn: true, detail: \"DELE * refused\" }\n");
  ck_assert_int_eq(c->expect.has_reply_code, 1);
  ck_assert_int_eq(c->expect.reply_code, -1);
  ck_assert_int_eq(c->expect.has_warn, 1);
  ck_assert_int_eq(c->expect.warn, 1);
  ck_assert_str_eq(c->expect.detail, "DELE * refused");
  mp_case_free(c);

  c = parse_ok("probe: { type: smtp, target: h }\n"
               "expect: { status: fail, reply: none, tls: { verify_error: "
               "\"*expired*\" } }\n");
  ck_assert_int_eq(c->expect.has_reply_code, 1);
  ck_assert_int_eq(c->expect.reply_code, 0);
  ck_assert_int_eq(c->expect.tls, 1);
  ck_assert_int_eq(c->expect.cert_verified, -1);
  ck_assert_str_eq(c->expect.verify_error, "*expired*");
  mp_case_free(c);

  c = parse_ok("probe: { type: pop3, target: h }\n"
               "expect: { status: ok, reply: +OK, tls: { verified: true } }\n");
  ck_assert_int_eq(c->expect.has_reply_code, 1);
  ck_assert_int_eq(c->expect.reply_code, 1);
  ck_assert_int_eq(c->expect.tls, 1);
  ck_assert_int_eq(c->expect.cert_verified, 1);
  mp_case_free(c);
}
END_TEST

/* ---------------------------------------------------------------- */

static const struct {
  const char *text;
  int rc;
  uint64_t us;
} durations[] = {
    {"10", 0, 10000000},
    {"0", 0, 0},
    {"1.5s", 0, 1500000},
    {"1.5", 0, 1500000},
    {"500ms", 0, 500000},
    {"250us", 0, 250},
    {"5m", 0, 300000000},
    {"1h", 0, 3600000000ull},
    {"0.5m", 0, 30000000},
    {"1.0000001s", 0, 1000001}, /* below a microsecond rounds up */
    {"0.0001us", 0, 1},
    {"0.000000000001s", 0, 1}, /* past nine fraction digits */
    {"2.50000000000s", 0, 2500000},
    {"007s", 0, 7000000},
    {"1000000000s", 0, 1000000000000000ull},
    {"1000000001s", -1, 0}, /* over 10^15 us */
    {"99999999999999999999", -1, 0},
    {"5 s", -1, 0},
    {" 5s", -1, 0},
    {"5s ", -1, 0},
    {"-1s", -1, 0},
    {"+1s", -1, 0},
    {"10x", -1, 0},
    {"", -1, 0},
    {"s", -1, 0},
    {".5s", -1, 0},
    {"1.s", -1, 0},
    {"1..5s", -1, 0},
    {"1e3", -1, 0},
    {"5S", -1, 0},
    {"5sec", -1, 0},
    {"5mss", -1, 0},
    {"1d", -1, 0},
};

START_TEST(test_duration)
{
  uint64_t us = 12345;
  int rc = mp_duration_parse(durations[_i].text, &us);
  ck_assert_msg(rc == durations[_i].rc, "'%s': rc %d", durations[_i].text, rc);
  if (rc == 0)
    ck_assert_msg(us == durations[_i].us, "'%s': %llu us", durations[_i].text,
                  (unsigned long long)us);
}
END_TEST

/* A YAML number is seconds too; ms fields round up. */
START_TEST(test_duration_in_yaml)
{
  struct mp_case *c =
      parse_ok(SRV "    idle_timeout: 2\n    delivery: { delay: 0.0001s }\n" PRB
                   "  timeout: 1.25\n  connect_timeout: 999us\n" EXP);
  ck_assert_uint_eq(c->servers[0].idle_timeout_ms, 2000);
  ck_assert_uint_eq(c->servers[0].delivery.delay_ms, 1);
  ck_assert_uint_eq(c->probe.opts.timeout_ms, 1250);
  ck_assert_uint_eq(c->probe.opts.connect_timeout_ms, 1);
  mp_case_free(c);
}
END_TEST

static Suite *case_suite(void)
{
  Suite *s = suite_create("case");
  TCase *tc = tcase_create("core");

  tcase_add_test(tc, test_format_example);
  tcase_add_test(tc, test_full_file);
  tcase_add_test(tc, test_target_file);
  tcase_add_test(tc, test_roundtrip_file);
  tcase_add_test(tc, test_roundtrip_defaults);
  tcase_add_loop_test(tc, test_bad_file, 0, N(bad_files));
  tcase_add_test(tc, test_bad_files_listed);
  tcase_add_loop_test(tc, test_bad_inline, 0, N(bad_inline));
  tcase_add_test(tc, test_err_buffer);
  tcase_add_test(tc, test_too_large);
  tcase_add_test(tc, test_missing_file);
  tcase_add_loop_test(tc, test_rule_fields, 0, N(rules));
  tcase_add_test(tc, test_rule_verbs_by_protocol);
  tcase_add_loop_test(tc, test_probe_auth, 0, N(auths));
  tcase_add_test(tc, test_probe_defaults);
  tcase_add_test(tc, test_server_lists);
  tcase_add_test(tc, test_expect_variants);
  tcase_add_loop_test(tc, test_duration, 0, N(durations));
  tcase_add_test(tc, test_duration_in_yaml);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(case_suite());
  int failed;

  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
