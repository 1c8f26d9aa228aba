/* Tests that a write the connection refuses ends a probe at once, in the
 * phase of the command, with the connection's error (probes/probe.c):
 * never the silence of a command that did not leave, waiting for the
 * deadline. Each test runs one probe against a small scripted server on
 * 127.0.0.1:0; the probe's writer is replaced to refuse the write of one
 * command, as mp_conn_write does when the connection is closing
 * (connection_closed) or the peer leaves the queue full (no_resources).
 * One test refuses a write for real: a message over the queue cap. */
#include "probes/probe.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "probes/result.h"
#include "probes/session.h"
#include "wire/conn.h"
#include "wire/errors.h"
#include "wire/listener.h"

#define TIMEOUT_MS 5000
#define FAST_US 1000000 /* a failed write ends the probe well before this */

/* A server script: the greeting, then the reply to each line that starts
 * with a prefix ("%s" in a reply is the IMAP tag of the line). */
struct script {
  const char *greeting;
  struct {
    const char *prefix, *reply;
  } rows[8];
};

static const struct script smtp_script = {
    "220 mx.example.test ESMTP",
    {{"EHLO", "250-mx.example.test\r\n250 AUTH LOGIN"},
     {"AUTH LOGIN", "334 VXNlcm5hbWU6"},
     {"cHJvYmU=", "334 UGFzc3dvcmQ6"}, /* "probe" */
     {"czNjcmV0", "235 2.7.0 ok"},     /* "s3cret" */
     {"MAIL", "250 ok"},
     {"RCPT", "250 ok"},
     {"DATA", "354 go on"},
     {"QUIT", "221 bye"}}};

static const struct script pop3_script = {"+OK ready",
                                          {{"CAPA", "+OK\r\nUSER\r\n."},
                                           {"USER", "+OK"},
                                           {"PASS", "+OK"},
                                           {"STAT", "+OK 0 0"},
                                           {"QUIT", "+OK bye"}}};

static const struct script imap_script = {
    "* OK ready",
    {{"A1 CAPABILITY", "* CAPABILITY IMAP4rev1\r\n%s OK done"},
     {"A2 LOGIN", "%s OK done"},
     {"A3 EXAMINE", "* 0 EXISTS\r\n%s OK done"},
     {"A4 LOGOUT", "* BYE\r\n%s OK done"}}};

#define MAX_CONNS 4
static struct mp_conn *conns[MAX_CONNS];
static int nconns;

static void srv_line(struct mp_conn *c, char *line, size_t len)
{
  const struct script *sc = mp_conn_data(c);
  (void)len;
  for (size_t i = 0; i < 8 && sc->rows[i].prefix; i++) {
    const char *pre = sc->rows[i].prefix;
    if (strncmp(line, pre, strlen(pre)) != 0)
      continue;
    char tag[16], out[256];
    snprintf(tag, sizeof(tag), "%.*s", (int)strcspn(line, " "), line);
    snprintf(out, sizeof(out), sc->rows[i].reply, tag);
    mp_conn_printf(c, "%s\r\n", out);
    return;
  }
}

static void srv_accept(struct mp_listener *l, struct mp_conn *c)
{
  static const struct mp_conn_cbs cbs = {.on_line = srv_line};
  const struct script *sc = mp_listener_data(l);
  mp_conn_set_cbs(c, &cbs);
  mp_conn_set_data(c, (void *)sc);
  if (nconns < MAX_CONNS)
    conns[nconns++] = c;
  mp_conn_printf(c, "%s\r\n", sc->greeting);
}

/* The write to refuse: the first that starts with fail_prefix. */
static const char *fail_prefix;
static int fail_err;

static int refusing_writer(struct mp_conn *c, const void *buf, size_t len)
{
  if (fail_prefix && len >= strlen(fail_prefix) &&
      memcmp(buf, fail_prefix, strlen(fail_prefix)) == 0) {
    fail_prefix = NULL;
    return fail_err;
  }
  return mp_conn_write(c, buf, len);
}

struct waited {
  uint64_t start_us, result_us;
  struct mp_result *r;
};

static void on_result(struct mp_result *r, void *data)
{
  struct waited *w = data;
  w->result_us = mp_now_us();
  w->r = r;
}

/* Runs one probe against sc; the caller frees w->r. */
static void run_probe(const struct script *sc, struct mp_probe_opts *o,
                      struct waited *w)
{
  uv_loop_t loop;
  struct mp_listener *l = NULL;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  nconns = 0;
  ck_assert_int_eq(
      mp_listener_start(&loop, "127.0.0.1", 0, srv_accept, (void *)sc, &l), 0);
  o->tls = MP_TLSMODE_NONE;
  o->host = "127.0.0.1";
  o->port = mp_listener_port(l);
  o->user = "probe";
  o->password = "s3cret";
  o->timeout_ms = TIMEOUT_MS;
  memset(w, 0, sizeof(*w));
  w->start_us = mp_now_us();
  ck_assert_int_eq(mp_probe_start(&loop, o, on_result, w), 0);
  uint64_t stop = mp_now_us() + 2 * TIMEOUT_MS * 1000ull;
  while (!w->r && mp_now_us() < stop)
    uv_run(&loop, UV_RUN_ONCE);
  for (int i = 0; i < nconns; i++)
    mp_conn_abort(conns[i]);
  mp_listener_close(l, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  mp_probe_cleanup();
  ck_assert_ptr_nonnull(w->r);
}

static const struct {
  enum mp_proto proto;
  const char *refuse; /* the write refused, NULL: none */
  int err;            /* what the connection says */
  int want_err;       /* what the probe ends with (0: ok) */
  enum mp_phase want_phase;
} send_table[] = {
    /* Nothing refused: the scripts log in and say goodbye. */
    {MP_PROTO_SMTP, NULL, 0, 0, MP_PHASE_QUIT},
    {MP_PROTO_POP3, NULL, 0, 0, MP_PHASE_QUIT},
    {MP_PROTO_IMAP, NULL, 0, 0, MP_PHASE_QUIT},
    /* SMTP: a command, the AUTH line, a SASL answer, the goodbye. */
    {MP_PROTO_SMTP, "EHLO", MP_E_CONNECTION_CLOSED, MP_E_CONNECTION_CLOSED,
     MP_PHASE_EHLO},
    {MP_PROTO_SMTP, "AUTH LOGIN", MP_E_NO_RESOURCES, MP_E_NO_RESOURCES,
     MP_PHASE_AUTH},
    {MP_PROTO_SMTP, "czNjcmV0", MP_E_CONNECTION_CLOSED, MP_E_CONNECTION_CLOSED,
     MP_PHASE_AUTH},
    /* The goodbye is ours to send: a server gone by then ends a good
     * probe, as when it closes instead of answering QUIT. */
    {MP_PROTO_SMTP, "QUIT", MP_E_CONNECTION_CLOSED, 0, MP_PHASE_QUIT},
    {MP_PROTO_SMTP, "QUIT", MP_E_NO_RESOURCES, MP_E_NO_RESOURCES,
     MP_PHASE_QUIT},
    /* POP3 */
    {MP_PROTO_POP3, "CAPA", MP_E_NO_RESOURCES, MP_E_NO_RESOURCES,
     MP_PHASE_EHLO},
    {MP_PROTO_POP3, "USER", MP_E_CONNECTION_CLOSED, MP_E_CONNECTION_CLOSED,
     MP_PHASE_AUTH},
    {MP_PROTO_POP3, "PASS", MP_E_NO_RESOURCES, MP_E_NO_RESOURCES,
     MP_PHASE_AUTH},
    {MP_PROTO_POP3, "STAT", MP_E_CONNECTION_CLOSED, MP_E_CONNECTION_CLOSED,
     MP_PHASE_FETCH},
    {MP_PROTO_POP3, "QUIT", MP_E_CONNECTION_CLOSED, 0, MP_PHASE_QUIT},
    /* IMAP */
    {MP_PROTO_IMAP, "A1 CAPABILITY", MP_E_NO_RESOURCES, MP_E_NO_RESOURCES,
     MP_PHASE_EHLO},
    {MP_PROTO_IMAP, "A2 LOGIN", MP_E_CONNECTION_CLOSED, MP_E_CONNECTION_CLOSED,
     MP_PHASE_AUTH},
    {MP_PROTO_IMAP, "A3 EXAMINE", MP_E_NO_RESOURCES, MP_E_NO_RESOURCES,
     MP_PHASE_FETCH},
    {MP_PROTO_IMAP, "A4 LOGOUT", MP_E_CONNECTION_CLOSED, 0, MP_PHASE_QUIT},
};

START_TEST(test_refused_write_ends_probe)
{
  static const struct script *const scripts[] = {[MP_PROTO_SMTP] = &smtp_script,
                                                 [MP_PROTO_POP3] = &pop3_script,
                                                 [MP_PROTO_IMAP] =
                                                     &imap_script};
  struct mp_probe_opts o = {.proto = send_table[_i].proto};
  struct waited w;
  fail_prefix = send_table[_i].refuse;
  fail_err = send_table[_i].err;
  mp_session_writer = refusing_writer;
  run_probe(scripts[o.proto], &o, &w);
  mp_session_writer = mp_conn_write;
  ck_assert_ptr_null(fail_prefix); /* the write was tried */
  ck_assert_msg(w.r->err == send_table[_i].want_err,
                "row %d: error %s, want %s (%s)", _i, mp_err_name(w.r->err),
                mp_err_name(send_table[_i].want_err),
                w.r->detail ? w.r->detail : "");
  ck_assert_int_eq(w.r->ok, send_table[_i].want_err == 0);
  ck_assert_str_eq(mp_phase_name(w.r->phase),
                   mp_phase_name(send_table[_i].want_phase));
  ck_assert_msg(w.result_us - w.start_us < FAST_US, "row %d: %llu us", _i,
                (unsigned long long)(w.result_us - w.start_us));
  mp_result_free(w.r);
}
END_TEST

/* No writer replaced: a message larger than the write queue's cap
 * (MP_CONN_MAX_QUEUE) is refused by the connection itself. */
START_TEST(test_message_over_queue_cap)
{
  size_t len = MP_CONN_MAX_QUEUE + 4096;
  char *msg = malloc(len);
  ck_assert_ptr_nonnull(msg);
  for (size_t i = 0; i < len; i++)
    msg[i] = i % 64 == 62 ? '\r' : i % 64 == 63 ? '\n' : 'x';
  struct mp_probe_opts o = {.proto = MP_PROTO_SMTP,
                            .mail_from = "probe@example.test",
                            .rcpt_to = "probe@example.test",
                            .message = msg,
                            .message_len = len};
  struct waited w;
  fail_prefix = NULL;
  run_probe(&smtp_script, &o, &w);
  free(msg);
  ck_assert_str_eq(mp_err_name(w.r->err), "no_resources");
  ck_assert_str_eq(mp_phase_name(w.r->phase), "send");
  ck_assert_str_eq(w.r->detail, "could not send the message");
  ck_assert_uint_lt(w.result_us - w.start_us, FAST_US);
  mp_result_free(w.r);
}
END_TEST

static Suite *probe_send_suite(void)
{
  Suite *s = suite_create("probe_send");
  TCase *tc = tcase_create("refused");
  tcase_set_timeout(tc, 30);
  tcase_add_loop_test(tc, test_refused_write_ends_probe, 0,
                      sizeof(send_table) / sizeof(send_table[0]));
  tcase_add_test(tc, test_message_over_queue_cap);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(probe_send_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
