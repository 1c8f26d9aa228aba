/* probes/target.h: what a URL names (scheme -> protocol, TLS mode, default
 * port) and "host:port" as case files, --dns-server and bench targets
 * write it. Table-driven: good ones with what they parse to, bad ones that
 * must fail with a message. */
#include "probes/target.h"

#include <check.h>
#include <stdint.h>

#include "probes/probe.h"

struct url_case {
  const char *url;
  int ok;
  enum mp_proto proto;
  enum mp_tls_mode tls;
  const char *host;
  uint16_t port;
  int port_given;
};

static const struct url_case url_cases[] = {
    {"smtp://mx.example.com", 1, MP_PROTO_SMTP, MP_TLSMODE_AUTO,
     "mx.example.com", 25, 0},
    {"smtp://mx.example.com:2525", 1, MP_PROTO_SMTP, MP_TLSMODE_AUTO,
     "mx.example.com", 2525, 1},
    {"SMTPS://MX.example.com/", 1, MP_PROTO_SMTP, MP_TLSMODE_IMPLICIT,
     "MX.example.com", 465, 0},
    {"submission://mail.example.com", 1, MP_PROTO_SMTP, MP_TLSMODE_STARTTLS,
     "mail.example.com", 587, 0},
    {"pop3://10.0.0.1", 1, MP_PROTO_POP3, MP_TLSMODE_AUTO, "10.0.0.1", 110, 0},
    {"pop3s://pop.example.com", 1, MP_PROTO_POP3, MP_TLSMODE_IMPLICIT,
     "pop.example.com", 995, 0},
    {"imap://imap.example.com:1143", 1, MP_PROTO_IMAP, MP_TLSMODE_AUTO,
     "imap.example.com", 1143, 1},
    {"imaps://[::1]", 1, MP_PROTO_IMAP, MP_TLSMODE_IMPLICIT, "::1", 993, 0},
    {"imaps://[2001:db8::1]:10993", 1, MP_PROTO_IMAP, MP_TLSMODE_IMPLICIT,
     "2001:db8::1", 10993, 1},
    {"smtp://under_score.example.com", 1, MP_PROTO_SMTP, MP_TLSMODE_AUTO,
     "under_score.example.com", 25, 0},
    {"smtp://127.0.0.1:65535", 1, MP_PROTO_SMTP, MP_TLSMODE_AUTO, "127.0.0.1",
     65535, 1},
    /* Bad ones. */
    {"mx.example.com", 0, 0, 0, NULL, 0, 0},
    {"http://mx.example.com", 0, 0, 0, NULL, 0, 0},
    {"smtp://", 0, 0, 0, NULL, 0, 0},
    {"smtp:///", 0, 0, 0, NULL, 0, 0},
    {"smtp://:25", 0, 0, 0, NULL, 0, 0},
    {"smtp://mx.example.com:0", 0, 0, 0, NULL, 0, 0},
    {"smtp://mx.example.com:65536", 0, 0, 0, NULL, 0, 0},
    {"smtp://mx.example.com:", 0, 0, 0, NULL, 0, 0},
    {"smtp://mx.example.com:25x", 0, 0, 0, NULL, 0, 0},
    {"smtp://mx.example.com:-1", 0, 0, 0, NULL, 0, 0},
    {"smtp://user@mx.example.com", 0, 0, 0, NULL, 0, 0},
    {"smtp://mx.example.com/path", 0, 0, 0, NULL, 0, 0},
    {"smtp://mx.example.com?x=1", 0, 0, 0, NULL, 0, 0},
    {"smtp://::1", 0, 0, 0, NULL, 0, 0},
    {"smtp://::1:25", 0, 0, 0, NULL, 0, 0},
    {"imaps://[::1", 0, 0, 0, NULL, 0, 0},
    {"imaps://[::1]x", 0, 0, 0, NULL, 0, 0},
    {"imaps://[]:993", 0, 0, 0, NULL, 0, 0},
    {"imaps://[not-v6]:993", 0, 0, 0, NULL, 0, 0},
    {"smtp://bad host", 0, 0, 0, NULL, 0, 0},
    {"smtp://mx.exa$mple.com", 0, 0, 0, NULL, 0, 0},
};

START_TEST(test_url)
{
  const struct url_case *c = &url_cases[_i];
  struct mp_url u;
  char err[256] = "";
  int rc = mp_url_parse(c->url, &u, err, sizeof(err));

  if (!c->ok) {
    ck_assert_msg(rc < 0, "%s: accepted", c->url);
    ck_assert_msg(err[0] != '\0', "%s: no message", c->url);
    return;
  }
  ck_assert_msg(rc == 0, "%s: %s", c->url, err);
  ck_assert_int_eq(u.proto, c->proto);
  ck_assert_int_eq(u.tls, c->tls);
  ck_assert_str_eq(u.host, c->host);
  ck_assert_uint_eq(u.port, c->port);
  ck_assert_int_eq(u.port_given, c->port_given);
}
END_TEST

struct hp_case {
  const char *in;
  uint16_t def;
  int ok;
  const char *host;
  uint16_t port;
};

static const struct hp_case hp_cases[] = {
    {"127.0.0.1:53", 0, 1, "127.0.0.1", 53},
    {"127.0.0.1", 53, 1, "127.0.0.1", 53},
    {"127.0.0.1", 0, 0, NULL, 0},
    {"[::1]:5353", 0, 1, "::1", 5353},
    {"::1", 53, 1, "::1", 53},
    {"::1", 0, 0, NULL, 0},
    {"[fe80::1%lo]:25", 0, 1, "fe80::1%lo", 25},
    {"mx:99999", 0, 0, NULL, 0},
    {"", 25, 0, NULL, 0},
};

START_TEST(test_hostport)
{
  const struct hp_case *c = &hp_cases[_i];
  char host[256], err[256];
  uint16_t port = 0;
  int rc = mp_hostport_parse(c->in, c->def, host, sizeof(host), &port, err,
                             sizeof(err));

  ck_assert_msg((rc == 0) == c->ok, "%s: rc %d (%s)", c->in, rc, err);
  if (c->ok) {
    ck_assert_str_eq(host, c->host);
    ck_assert_uint_eq(port, c->port);
  }
}
END_TEST

START_TEST(test_host_name_valid)
{
  ck_assert_int_eq(mp_host_name_valid("mx.example.com"), 1);
  ck_assert_int_eq(mp_host_name_valid("under_score.example"), 1);
  ck_assert_int_eq(mp_host_name_valid(""), 0);
  ck_assert_int_eq(mp_host_name_valid("bad host"), 0);
  ck_assert_int_eq(mp_host_name_valid("mx.exa$mple.com"), 0);
}
END_TEST

static Suite *target_suite(void)
{
  Suite *s = suite_create("target");
  TCase *tc = tcase_create("target");

  tcase_add_loop_test(tc, test_url, 0,
                      sizeof(url_cases) / sizeof(url_cases[0]));
  tcase_add_loop_test(tc, test_hostport, 0,
                      sizeof(hp_cases) / sizeof(hp_cases[0]));
  tcase_add_test(tc, test_host_name_valid);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(target_suite());
  int failed;

  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
