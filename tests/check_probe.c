/* Unit tests for the probe engine's pure parts: default ports and names,
 * results and their transcript limits, the round trip's token and test
 * message; and where the deadline counts from. Behaviour against servers
 * is tested by the cases in cases/. */
#include "probes/probe.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "probes/result.h"
#include "probes/roundtrip.h"
#include "wire/conn.h"
#include "wire/errors.h"
#include "wire/listener.h"

static const struct {
  enum mp_proto proto;
  enum mp_tls_mode tls;
  uint16_t port;
} port_table[] = {
    {MP_PROTO_SMTP, MP_TLSMODE_NONE, 25},
    {MP_PROTO_SMTP, MP_TLSMODE_AUTO, 25},
    {MP_PROTO_SMTP, MP_TLSMODE_STARTTLS, 587},
    {MP_PROTO_SMTP, MP_TLSMODE_IMPLICIT, 465},
    {MP_PROTO_POP3, MP_TLSMODE_NONE, 110},
    {MP_PROTO_POP3, MP_TLSMODE_STARTTLS, 110},
    {MP_PROTO_POP3, MP_TLSMODE_IMPLICIT, 995},
    {MP_PROTO_IMAP, MP_TLSMODE_AUTO, 143},
    {MP_PROTO_IMAP, MP_TLSMODE_IMPLICIT, 993},
};

START_TEST(test_default_ports)
{
  ck_assert_uint_eq(mp_default_port(port_table[_i].proto, port_table[_i].tls),
                    port_table[_i].port);
}
END_TEST

START_TEST(test_names_round_trip)
{
  for (int p = 0; p < 3; p++)
    ck_assert_int_eq(mp_proto_from_name(mp_proto_name(p)), p);
  for (int m = 0; m < 4; m++)
    ck_assert_int_eq(mp_tls_mode_from_name(mp_tls_mode_name(m)), m);
  for (int ph = 0; ph < MP_PHASE_COUNT; ph++)
    ck_assert_int_eq(mp_phase_from_name(mp_phase_name(ph)), ph);
  ck_assert_int_eq(mp_proto_from_name("IMAP"), MP_PROTO_IMAP);
  ck_assert_int_eq(mp_proto_from_name("lmtp"), -1);
  ck_assert_int_eq(mp_tls_mode_from_name("ssl"), -1);
  ck_assert_int_eq(mp_phase_from_name("greeting"), -1);
  ck_assert_str_eq(mp_phase_name(MP_PHASE_STARTTLS), "starttls");
}
END_TEST

START_TEST(test_result_transcript_is_bounded_and_printable)
{
  struct mp_result *r = mp_result_new();
  ck_assert_int_eq(r->timings_us[MP_PHASE_BANNER], -1);
  ck_assert_int_eq(r->messages, -1);
  char line[2000];
  memset(line, 'x', sizeof(line));
  line[3] = '\0';
  line[4] = '\r';
  for (int i = 0; i < 1000; i++)
    mp_result_add_line(r, 's', (uint64_t)i, line, sizeof(line));
  ck_assert_uint_le(r->ntranscript, 400);
  ck_assert_uint_gt(r->ntranscript, 100);
  const char *first = r->transcript[0].line;
  ck_assert_uint_le(strlen(first), 520); /* cut, with "..." */
  ck_assert_int_eq(first[3], '?');       /* NUL shown, not cut at */
  ck_assert_int_eq(first[4], '?');
  ck_assert_str_eq(r->transcript[r->ntranscript - 1].line,
                   "(transcript cut here)");
  mp_result_set_reply(r, 250, "first\nsecond");
  ck_assert_str_eq(r->reply_text, "first\nsecond");
  mp_result_free(r);
}
END_TEST

/* Lines carved from the result's chunks stay whole and apart: 300 lines
 * of 0 to 700 bytes (over 4 KB each few, the longest cut at 512), each
 * read back after all were added; kept lines are copied as they are. */
START_TEST(test_result_transcript_lines_apart)
{
  struct mp_result *r = mp_result_new();
  char line[700], want[700];
  for (unsigned i = 0; i < 300; i++) {
    size_t n = (i * 97) % 700;
    for (size_t k = 0; k < n; k++)
      line[k] = (char)('a' + (i + k) % 26);
    if (i % 2)
      mp_result_add_line(r, 's', i, line, n);
    else
      ck_assert_int_eq(mp_result_keep_line(r, 'c', i, line, n), 0);
  }
  ck_assert_uint_eq(r->ntranscript, 300);
  for (unsigned i = 0; i < 300; i++) {
    size_t n = (i * 97) % 700, m = n;
    for (size_t k = 0; k < n; k++)
      want[k] = (char)('a' + (i + k) % 26);
    if (i % 2 && n > 512) { /* mp_result_add_line cuts */
      memcpy(want + 512, "...", 3);
      m = 515;
    }
    ck_assert_uint_eq(strlen(r->transcript[i].line), m);
    ck_assert(memcmp(r->transcript[i].line, want, m) == 0);
    ck_assert_int_eq(r->transcript[i].dir, i % 2 ? 's' : 'c');
    ck_assert(r->transcript[i].t_us == i);
  }
  mp_result_free(r);
}
END_TEST

START_TEST(test_rt_token_format)
{
  char a[MP_RT_TOKEN_MAX], b[MP_RT_TOKEN_MAX];
  ck_assert_int_eq(mp_rt_token("web-1", a, sizeof(a)), 0);
  ck_assert_int_eq(mp_rt_token("web-1", b, sizeof(b)), 0);
  ck_assert_int_eq(strncmp(a, "mailprobe.web-1.", 16), 0);
  ck_assert_uint_eq(strlen(a), 16 + 16);
  ck_assert_str_ne(a, b);
  char tiny[8];
  ck_assert_int_lt(mp_rt_token("web-1", tiny, sizeof(tiny)), 0);
}
END_TEST

START_TEST(test_rt_message_headers)
{
  size_t len = 0;
  char *m = mp_rt_message("probe@example.test", "inbox@example.test", NULL,
                          "mailprobe.rt.0011223344556677", &len);
  ck_assert_ptr_nonnull(m);
  ck_assert_uint_eq(strlen(m), len);
  ck_assert_ptr_nonnull(
      strstr(m, "\r\nX-Mailprobe-Token: mailprobe.rt.0011223344556677\r\n"));
  ck_assert_ptr_nonnull(strstr(
      m, "\r\nMessage-ID: <mailprobe.rt.0011223344556677@mailprobe.invalid>"));
  ck_assert_ptr_nonnull(
      strstr(m, "\r\nSubject: mailprobe round trip mailprobe.rt."));
  ck_assert_int_eq(strncmp(m, "From: <probe@example.test>\r\n", 28), 0);
  /* Headers end with an empty line; every line ends in CRLF. */
  ck_assert_ptr_nonnull(strstr(m, "\r\n\r\n"));
  for (size_t i = 0; i < len; i++)
    if (m[i] == '\n')
      ck_assert_int_eq(m[i - 1], '\r');
  ck_assert_int_eq(m[len - 1], '\n');
  free(m);
}
END_TEST

/* roundtrip --header and --body: the user's lines after ours, their
 * Content-Type instead of ours, the body's line ends made CRLF. */
START_TEST(test_rt_message_user_parts)
{
  static const char *const h[] = {"X-Probe-Site: lab 1",
                                  "Content-Type: text/plain; charset=utf-8"};
  static const char body[] = "first line\nsecond line\r\nno end";
  size_t len = 0;
  char *m = mp_rt_message_with("p@example.test", "i@example.test", NULL,
                               "mailprobe.rt.0011223344556677", h, 2, body,
                               sizeof(body) - 1, &len);
  ck_assert_ptr_nonnull(m);
  ck_assert_ptr_nonnull(strstr(m, "\r\nX-Probe-Site: lab 1\r\n"));
  ck_assert_ptr_nonnull(
      strstr(m, "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"));
  ck_assert_ptr_null(strstr(m, "us-ascii"));
  ck_assert_ptr_nonnull(
      strstr(m, "\r\n\r\nfirst line\r\nsecond line\r\nno end\r\n"));
  ck_assert_int_eq(strcmp(m + len - 8, "no end\r\n"), 0);
  free(m);
  ck_assert(mp_rt_header_ok("X-A: b"));
  ck_assert(mp_rt_header_ok("Reply-To: <a@b>"));
  ck_assert(!mp_rt_header_ok("subject: x"));
  ck_assert(!mp_rt_header_ok("X-Mailprobe-Token: x"));
  ck_assert(!mp_rt_header_ok("no colon"));
  ck_assert(!mp_rt_header_ok("X-A: b\r\nBcc: c"));
  ck_assert(!mp_rt_header_ok(": b"));
}
END_TEST

/* ---- the deadline ------------------------------------------------------ */

/* A server that accepts and never says a word: the silent ones are kept
 * until the test closes them. A conn also closes itself when the probe
 * hangs up (EOF), and is freed right after its on_close: so on_close
 * clears its slot, and the test aborts only the conns still open. */
#define SILENT_MAX 8
static struct mp_conn *silent[SILENT_MAX];
static int nsilent;

static void silent_closed(struct mp_conn *c)
{
  struct mp_conn **slot = mp_conn_data(c);
  *slot = NULL;
}

static void silent_accept(struct mp_listener *l, struct mp_conn *c)
{
  (void)l;
  static const struct mp_conn_cbs cbs = {.on_close = silent_closed};
  if (nsilent < SILENT_MAX) {
    mp_conn_set_data(c, &silent[nsilent]);
    silent[nsilent++] = c;
    mp_conn_set_cbs(c, &cbs);
  } else {
    mp_conn_abort(c);
  }
}

struct waited {
  uint64_t start_us, result_us;
  struct mp_result *r;
};

static void on_probe_result(struct mp_result *r, void *data)
{
  struct waited *w = data;
  w->result_us = mp_now_us();
  w->r = r;
}

/* The probe's deadline counts from mp_probe_start, to the microsecond:
 * the result of a silent banner comes no sooner than timeout after the
 * call (however long resolving and connecting took) and not much later,
 * and its total says how long the caller waited. */
START_TEST(test_deadline_from_start)
{
  uv_loop_t loop;
  struct mp_listener *l = NULL;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  nsilent = 0;
  ck_assert_int_eq(
      mp_listener_start(&loop, "127.0.0.1", 0, silent_accept, NULL, &l), 0);
  struct mp_probe_opts o = {.proto = MP_PROTO_SMTP,
                            .tls = MP_TLSMODE_NONE,
                            .host = "127.0.0.1",
                            .port = mp_listener_port(l),
                            .timeout_ms = 150};
  struct waited w[3];
  memset(w, 0, sizeof(w));
  for (int i = 0; i < 3; i++) {
    w[i].start_us = mp_now_us();
    ck_assert_int_eq(mp_probe_start(&loop, &o, on_probe_result, &w[i]), 0);
  }
  uint64_t stop = mp_now_us() + 10000000;
  while ((!w[0].r || !w[1].r || !w[2].r) && mp_now_us() < stop)
    uv_run(&loop, UV_RUN_ONCE);
  for (int i = 0; i < 3; i++) {
    ck_assert_ptr_nonnull(w[i].r);
    ck_assert_int_eq(w[i].r->err, MP_E_TIMEOUT);
    uint64_t waited = w[i].result_us - w[i].start_us;
    ck_assert_msg(waited >= 150000, "probe %d: a timeout after %llu us", i,
                  (unsigned long long)waited);
    ck_assert_msg(waited < 150000 + 100000, "probe %d: %llu us", i,
                  (unsigned long long)waited);
    ck_assert_uint_ge(w[i].r->total_us, 150000);
    ck_assert_uint_le(w[i].r->total_us, waited);
    mp_result_free(w[i].r);
  }
  for (int i = 0; i < nsilent; i++)
    if (silent[i])
      mp_conn_abort(silent[i]);
  mp_listener_close(l, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static Suite *probe_suite(void)
{
  Suite *s = suite_create("probe");
  TCase *tc = tcase_create("pure");
  tcase_add_loop_test(tc, test_default_ports, 0,
                      sizeof(port_table) / sizeof(port_table[0]));
  tcase_add_test(tc, test_names_round_trip);
  tcase_add_test(tc, test_result_transcript_is_bounded_and_printable);
  tcase_add_test(tc, test_result_transcript_lines_apart);
  tcase_add_test(tc, test_rt_token_format);
  tcase_add_test(tc, test_rt_message_headers);
  tcase_add_test(tc, test_rt_message_user_parts);
  suite_add_tcase(s, tc);
  tc = tcase_create("deadline");
  tcase_add_test(tc, test_deadline_from_start);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(probe_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
