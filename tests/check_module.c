/* Unit tests for harness/config/module.c: a config with every kind of
 * module parses into the probe options check and roundtrip take (the
 * password read from its file or variable, never from the file's text);
 * a program's own section and a module in-line in it; and a table of
 * broken configs, each with its line:column and a part of the message. */
#include "harness/config/module.h"

#include "harness/case/case_yaml.h"
#include "probes/roundtrip.h"
#include "wire/errors.h"
#include "wire/sasl.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static char pwfile[64];

/* A password file for the tests: "s3cret" and a newline. */
static void make_pwfile(void)
{
  int fd;
  strcpy(pwfile, "/tmp/mp_module_pwXXXXXX");
  fd = mkstemp(pwfile);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, "s3cret\n", 7), 7);
  close(fd);
}

static struct mp_config *parse_ok(const char *yaml,
                                  const struct mp_config_section *s, size_t n)
{
  char err[1024];
  struct mp_config *c = NULL;
  int rc = mp_config_parse(yaml, strlen(yaml), "/etc/mp/inline.yml", s, n, &c,
                           err, sizeof err);
  ck_assert_msg(rc == 0, "%s\n---\n%s", err, yaml);
  ck_assert_ptr_nonnull(c);
  return c;
}

START_TEST(test_every_kind)
{
  char yaml[2048];
  struct mp_config *c;
  const struct mp_module *m;
  const struct mp_case_rt *rt;

  make_pwfile();
  setenv("MP_TEST_MODULE_PW", "from-env", 1);
  snprintf(yaml, sizeof yaml,
           "modules:\n"
           "  smtp_auth:\n"
           "    type: smtp\n"
           "    tls: starttls\n"
           "    auth: [CRAM-MD5, PLAIN]\n"
           "    user: probe\n"
           "    password_file: %s\n"
           "    cafile: ca.pem\n"
           "    servername: mx.example.test\n"
           "    helo: probe.example.test\n"
           "    timeout: 10s\n"
           "    connect_timeout: 2s\n"
           "    insecure: true\n"
           "    dns: {mode: server, server: 127.0.0.1:5353, hosts: "
           "['127.0.0.1 mx.example.test']}\n"
           "  pop3_banner:\n"
           "    type: pop3\n"
           "    target: pop.example.test:1110\n"
           "    user: probe\n"
           "    password_env: MP_TEST_MODULE_PW\n"
           "  rt:\n"
           "    type: roundtrip\n"
           "    email_timeout: 2m\n"
           "    poll: 1s\n"
           "    mode: previous\n"
           "    state_file: /var/lib/mp/rt.state\n"
           "    id: exporter\n"
           "    send: {tls: none}\n"
           "    fetch: {type: imap, user: probe, password_file: %s}\n",
           pwfile, pwfile);
  c = parse_ok(yaml, NULL, 0);
  ck_assert_uint_eq(c->nmodules, 3);

  m = mp_config_module(c, "smtp_auth");
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(m->line, 2);
  ck_assert_int_eq(m->probe.type, MP_CASE_SMTP);
  ck_assert_int_eq(m->probe.opts.proto, MP_PROTO_SMTP);
  ck_assert_int_eq(m->probe.opts.tls, MP_TLSMODE_STARTTLS);
  ck_assert_uint_eq(m->probe.opts.auth,
                    MP_SASL_BIT(mp_sasl_from_name("CRAM-MD5")) |
                        MP_SASL_BIT(mp_sasl_from_name("PLAIN")));
  ck_assert_str_eq(m->probe.opts.user, "probe");
  ck_assert_str_eq(m->probe.opts.password, "s3cret");
  ck_assert_str_eq(m->probe.opts.cafile, "/etc/mp/ca.pem");
  ck_assert_str_eq(m->probe.opts.servername, "mx.example.test");
  ck_assert_str_eq(m->probe.opts.helo, "probe.example.test");
  ck_assert_uint_eq(m->probe.opts.timeout_ms, 10000);
  ck_assert_uint_eq(m->probe.opts.connect_timeout_ms, 2000);
  ck_assert_int_eq(m->probe.opts.insecure, 1);
  ck_assert_int_eq(m->probe.opts.dns.mode, MP_DNS_SERVER);
  ck_assert_str_eq(m->probe.opts.dns.server, "127.0.0.1:5353");
  ck_assert_uint_eq(m->probe.opts.dns.nhosts, 1);
  ck_assert_str_eq(m->probe.opts.dns.hosts[0].name, "mx.example.test");
  ck_assert_ptr_null(m->probe.opts.host); /* the caller's target */

  m = mp_config_module(c, "pop3_banner");
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(m->probe.opts.proto, MP_PROTO_POP3);
  ck_assert_int_eq(m->probe.opts.tls, MP_TLSMODE_AUTO);
  ck_assert_str_eq(m->probe.opts.host, "pop.example.test");
  ck_assert_uint_eq(m->probe.opts.port, 1110);
  ck_assert_str_eq(m->probe.opts.password, "from-env");

  m = mp_config_module(c, "rt");
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(m->probe.type, MP_CASE_ROUNDTRIP);
  rt = m->probe.rt;
  ck_assert_ptr_nonnull(rt);
  ck_assert_uint_eq(rt->email_timeout_ms, 120000);
  ck_assert_uint_eq(rt->poll_ms, 1000);
  ck_assert_int_eq(rt->mode, MP_RT_PREVIOUS);
  ck_assert_str_eq(rt->state_file, "/var/lib/mp/rt.state");
  ck_assert_str_eq(rt->id, "exporter");
  ck_assert_int_eq(rt->send.opts.tls, MP_TLSMODE_NONE);
  ck_assert_int_eq(rt->fetch.opts.proto, MP_PROTO_IMAP);
  ck_assert_str_eq(rt->fetch.opts.password, "s3cret");
  ck_assert_str_eq(rt->to, "probe");
  ck_assert_ptr_null(mp_config_module(c, "nope"));
  mp_config_free(c);
  unlink(pwfile);
}
END_TEST

/* A program's section: counts its calls and keeps an in-line module the
 * way a monitor entry holds one. */
struct prog {
  int calls;
  long long port;
  struct mp_module inline_module;
};

static int parse_prog(struct ctx *x, const struct ynode *kn,
                      const struct ynode *n, void *data)
{
  static const char *const keys[] = {"port", "module", NULL};
  struct prog *p = data;
  const struct ynode *v;
  p->calls++;
  if (cy_want_map(x, kn->str, n) < 0 || cy_check_keys(x, n, kn->str, keys) < 0)
    return -1;
  if ((v = cy_get(n, "port")) != NULL &&
      cy_get_int(x, "port", v, 1, 65535, &p->port) < 0)
    return -1;
  for (size_t i = 0; i < n->nkids; i += 2)
    if (strcmp(n->kids[i]->str, "module") == 0 &&
        mp_module_parse(x, n->kids[i], n->kids[i + 1], "inline",
                        &p->inline_module) < 0)
      return -1;
  return 0;
}

START_TEST(test_program_section)
{
  struct prog p;
  struct mp_config_section s = {"prog", parse_prog, &p, 1};
  struct mp_config *c;

  memset(&p, 0, sizeof p);
  c = parse_ok("prog:\n"
               "  port: 9125\n"
               "  module: {type: imap, target: '[::1]:1143', tls: implicit}\n",
               &s, 1);
  ck_assert_int_eq(p.calls, 1);
  ck_assert_int_eq(p.port, 9125);
  ck_assert_uint_eq(c->nmodules, 0);
  ck_assert_str_eq(p.inline_module.name, "inline");
  ck_assert_int_eq(p.inline_module.probe.opts.proto, MP_PROTO_IMAP);
  ck_assert_int_eq(p.inline_module.probe.opts.tls, MP_TLSMODE_IMPLICIT);
  ck_assert_str_eq(p.inline_module.probe.opts.host, "::1");
  ck_assert_uint_eq(p.inline_module.probe.opts.port, 1143);
  mp_module_clear(&p.inline_module);
  mp_config_free(c);
}
END_TEST

/* Broken configs: where the error is and what it says. */
static const struct {
  const char *yaml;
  const char *loc;
  const char *want;
} bad[] = {
    {"modules:\n  a:\n    type: smtp\n    server: mx\n", "4:13",
     "'server' names a fake server of a case"},
    {"modules:\n  a:\n    type: smtp\n    user: u\n    password: x\n", "5:15",
     "never holds a password"},
    {"modules:\n  a:\n    type: smtp\n    user: u\n", "4:11",
     "add 'password_file' or 'password_env'"},
    {"modules:\n  a:\n    type: smtp\n    password_env: X\n", "4:19",
     "'password_env' without 'user'"},
    {"modules:\n  a:\n    type: smtp\n    user: u\n    password_env: A\n"
     "    password_file: /x\n",
     "5:19", "not both"},
    {"modules:\n  a:\n    type: smtp\n    user: u\n"
     "    password_env: MP_TEST_SURELY_UNSET\n",
     "5:19", "MP_TEST_SURELY_UNSET is not set"},
    {"modules:\n  a:\n    type: smtp\n    user: u\n"
     "    password_file: /nonexistent/pw\n",
     "5:20", "/nonexistent/pw"},
    {"modules:\n  a:\n    type: smtp\n    timout: 5s\n", "4:5",
     "did you mean 'timeout'"},
    {"modules:\n  a:\n    type: ftp\n", "3:11", "ftp"},
    {"modules:\n  a:\n    tls: none\n", "2:3", "missing required key 'type'"},
    {"modules:\n  a:\n    type: roundtrip\n    runs: 3\n    send: {}\n"
     "    fetch: {type: pop3}\n",
     "4:5", "'runs' is for cases"},
    {"modules:\n  a:\n    type: roundtrip\n    mode: previous\n    send: {}\n"
     "    fetch: {type: pop3, user: u, password_env: PATH}\n",
     "4:11", "needs 'state_file'"},
    {"modules:\n  a:\n    type: roundtrip\n    state_file: /s\n    send: {}\n"
     "    fetch: {type: pop3, user: u, password_env: PATH}\n",
     "4:17", "goes with mode: previous"},
    {"modules:\n  a:\n    type: roundtrip\n    send: {}\n    fetch: {}\n",
     "5:5", "give 'type'"},
    {"modules:\n  a b:\n    type: smtp\n", "2:3", "module name 'a b'"},
    {"modules:\n  a:\n    type: smtp\n    target: 'x:99999'\n", "4:13",
     "must be host:port"},
    {"modules:\n  a:\n    type: smtp\nexporter: {}\n", "4:1",
     "unknown key 'exporter'"},
    {"modules: []\n", "1:10", "must be a map"},
    {"- a\n", "1:1", "the top level must be a map"},
    {"", "1:1", "the file is empty"},
};

START_TEST(test_bad)
{
  char err[1024], prefix[64];
  struct mp_config *c = (struct mp_config *)1;
  int rc = mp_config_parse(bad[_i].yaml, strlen(bad[_i].yaml), "bad.yml", NULL,
                           0, &c, err, sizeof err);
  ck_assert_int_eq(rc, MP_E_PROTOCOL_ERROR);
  ck_assert_ptr_null(c);
  snprintf(prefix, sizeof prefix, "bad.yml:%s: ", bad[_i].loc);
  ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
                "want prefix '%s', got '%s'", prefix, err);
  ck_assert_msg(strstr(err, bad[_i].want) != NULL, "want '%s' in '%s'",
                bad[_i].want, err);
}
END_TEST

START_TEST(test_section_errors)
{
  struct prog p;
  struct mp_config_section s = {"prog", parse_prog, &p, 1};
  struct mp_config *c;
  char err[512];
  const char *y1 = "modules: {}\n";
  const char *y2 = "prog:\n  port: 0\n";
  const char *y3 = "prog:\n  module: {type: smtp, password: x}\n";

  memset(&p, 0, sizeof p);
  ck_assert_int_lt(
      mp_config_parse(y1, strlen(y1), "p.yml", &s, 1, &c, err, sizeof err), 0);
  ck_assert_msg(strstr(err, "p.yml:1:1: missing required key 'prog'") != NULL,
                "%s", err);
  ck_assert_int_lt(
      mp_config_parse(y2, strlen(y2), "p.yml", &s, 1, &c, err, sizeof err), 0);
  ck_assert_msg(strncmp(err, "p.yml:2:9: ", 11) == 0, "%s", err);
  ck_assert_int_lt(
      mp_config_parse(y3, strlen(y3), "p.yml", &s, 1, &c, err, sizeof err), 0);
  ck_assert_msg(strncmp(err, "p.yml:2:34: ", 12) == 0, "%s", err);
  ck_assert_ptr_null(p.inline_module.name); /* cleared on error */
}
END_TEST

START_TEST(test_load_missing)
{
  struct mp_config *c;
  char err[512];
  ck_assert_int_eq(
      mp_config_load("/nonexistent/mp.yml", NULL, 0, &c, err, sizeof err),
      MP_E_PROTOCOL_ERROR);
  ck_assert_str_eq(err, "/nonexistent/mp.yml: cannot open the config file: "
                        "No such file or directory");
}
END_TEST

static Suite *module_suite(void)
{
  Suite *s = suite_create("module");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_every_kind);
  tcase_add_test(tc, test_program_section);
  tcase_add_loop_test(tc, test_bad, 0, N(bad));
  tcase_add_test(tc, test_section_errors);
  tcase_add_test(tc, test_load_missing);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(module_suite());
  int failed;
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
