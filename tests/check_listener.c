/* Unit tests for the listener (wire/listener.h): binding, port 0, bad
 * addresses, accepting several connections, closing while connections
 * live on. One fresh loop per test, a safety timer against hangs, and
 * uv_loop_close() == 0 at the end so a leaked handle fails. */
#include "wire/listener.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "wire/conn.h"
#include "wire/errors.h"

#define SAFETY_MS 10000
#define MAX_CONNS 8

struct end {
  struct mp_conn *c;
  int nclose;
  int nlines;
  char line[64];
  int err;
  int connect_status; /* clients: 1 until the connect cb ran */
};

static struct {
  uv_loop_t loop;
  uv_timer_t safety;
  int timed_out;
  struct mp_listener *l;
  int nclosed;      /* on_closed calls */
  void *closed_arg; /* what on_closed got */
  struct end srv[MAX_CONNS], cli[MAX_CONNS];
  int naccept, nclient;
  int close_in_accept; /* close the listener from the first accept */
  int greet;           /* accepted connections write "hi N" and close */
} T;

static void on_safety(uv_timer_t *t)
{
  T.timed_out = 1;
}

static void end_line(struct mp_conn *c, char *line, size_t len)
{
  struct end *e = mp_conn_data(c);
  e->nlines++;
  snprintf(e->line, sizeof(e->line), "%s", line);
}

static void end_error(struct mp_conn *c, int err)
{
  struct end *e = mp_conn_data(c);
  if (!e->err)
    e->err = err;
}

static void end_close(struct mp_conn *c)
{
  struct end *e = mp_conn_data(c);
  e->nclose++;
}

static const struct mp_conn_cbs end_cbs = {
    .on_line = end_line,
    .on_error = end_error,
    .on_close = end_close,
};

static void on_closed(void *data)
{
  T.nclosed++;
  T.closed_arg = data;
}

static void on_accept(struct mp_listener *l, struct mp_conn *c)
{
  ck_assert_ptr_eq(l, T.l);
  ck_assert_ptr_eq(mp_listener_data(l), &T);
  ck_assert_int_lt(T.naccept, MAX_CONNS);
  /* A new connection, not one still open (a closed one's memory may be
   * handed out again, so it is compared only while it lives). */
  for (int i = 0; i < T.naccept; i++)
    if (!T.srv[i].nclose)
      ck_assert_ptr_ne(T.srv[i].c, c);
  struct end *e = &T.srv[T.naccept++];
  e->c = c;
  /* An accepted connection starts with no callbacks and no data. */
  ck_assert_ptr_null(mp_conn_data(c));
  mp_conn_set_data(c, e);
  mp_conn_set_cbs(c, &end_cbs);
  if (T.greet) {
    ck_assert_int_eq(mp_conn_printf(c, "hi %d\r\n", T.naccept), 0);
    mp_conn_close(c);
  }
  if (T.close_in_accept && T.naccept == 1)
    mp_listener_close(l, on_closed);
}

static void t_init(void)
{
  memset(&T, 0, sizeof(T));
  ck_assert_int_eq(uv_loop_init(&T.loop), 0);
  ck_assert_int_eq(uv_timer_init(&T.loop, &T.safety), 0);
  ck_assert_int_eq(uv_timer_start(&T.safety, on_safety, SAFETY_MS, 0), 0);
}

/* Closes what is left, runs the loop dry, checks nothing leaked and that
 * every connection's on_close ran once. */
static void t_end(void)
{
  for (int i = 0; i < MAX_CONNS; i++) {
    if (T.srv[i].c && !T.srv[i].nclose)
      mp_conn_abort(T.srv[i].c);
    if (T.cli[i].c && !T.cli[i].nclose)
      mp_conn_abort(T.cli[i].c);
  }
  uv_close((uv_handle_t *)&T.safety, NULL);
  ck_assert_int_eq(uv_run(&T.loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(uv_loop_close(&T.loop), 0);
  for (int i = 0; i < MAX_CONNS; i++) {
    if (T.srv[i].c)
      ck_assert_int_eq(T.srv[i].nclose, 1);
    if (T.cli[i].c)
      ck_assert_int_eq(T.cli[i].nclose, 1);
  }
}

static void run_until(int (*pred)(void))
{
  while (!pred() && !T.timed_out)
    uv_run(&T.loop, UV_RUN_ONCE);
  ck_assert_msg(!T.timed_out, "the safety timer fired: the test hung");
}

static void on_connected(struct mp_conn *c, int status)
{
  struct end *e = mp_conn_data(c);
  e->connect_status = status;
}

/* Starts client i towards host:port. */
static void client(int i, const char *host, uint16_t port)
{
  struct sockaddr_storage ss;
  if (strchr(host, ':'))
    ck_assert_int_eq(uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss), 0);
  else
    ck_assert_int_eq(uv_ip4_addr(host, port, (struct sockaddr_in *)&ss), 0);
  struct end *e = &T.cli[i];
  e->connect_status = 1;
  e->c = mp_conn_new(&T.loop, &end_cbs, e);
  ck_assert_ptr_nonnull(e->c);
  ck_assert_int_eq(
      mp_conn_connect(e->c, (struct sockaddr *)&ss, 5000, on_connected), 0);
  if (i >= T.nclient)
    T.nclient = i + 1;
}

static int listener_closed(void)
{
  return T.nclosed > 0;
}

/* ---- tests ------------------------------------------------------------- */

START_TEST(test_start_port0)
{
  t_init();
  ck_assert_int_eq(
      mp_listener_start(&T.loop, "127.0.0.1", 0, on_accept, &T, &T.l), 0);
  ck_assert_ptr_nonnull(T.l);
  ck_assert_uint_ne(mp_listener_port(T.l), 0);
  ck_assert_ptr_eq(mp_listener_data(T.l), &T);
  mp_listener_close(T.l, on_closed);
  mp_listener_close(T.l, on_closed); /* idempotent */
  run_until(listener_closed);
  ck_assert_int_eq(T.nclosed, 1);
  ck_assert_ptr_eq(T.closed_arg, &T);
  t_end();
  ck_assert_int_eq(T.nclosed, 1);
}
END_TEST

/* on_closed may be NULL. */
START_TEST(test_close_null_cb)
{
  t_init();
  ck_assert_int_eq(
      mp_listener_start(&T.loop, "127.0.0.1", 0, on_accept, &T, &T.l), 0);
  mp_listener_close(T.l, NULL);
  t_end();
  ck_assert_int_eq(T.nclosed, 0);
}
END_TEST

static const char *bad_hosts[] = {"not-an-ip",   "localhost", "",
                                  "127.0.0.256", "::g",       "1.2.3"};

START_TEST(test_bad_host)
{
  t_init();
  struct mp_listener *l = (struct mp_listener *)&T; /* must stay as is */
  ck_assert_int_eq(
      mp_listener_start(&T.loop, bad_hosts[_i], 0, on_accept, &T, &l),
      MP_E_CONNECT_FAILED);
  ck_assert_ptr_eq(l, (struct mp_listener *)&T);
  t_end();
}
END_TEST

/* A port someone else holds: an error, and the half-made listener leaks
 * nothing (uv_loop_close in t_end). */
START_TEST(test_port_in_use)
{
  t_init();
  ck_assert_int_eq(
      mp_listener_start(&T.loop, "127.0.0.1", 0, on_accept, &T, &T.l), 0);
  struct mp_listener *l2 = NULL;
  int rc = mp_listener_start(&T.loop, "127.0.0.1", mp_listener_port(T.l),
                             on_accept, &T, &l2);
  ck_assert_int_lt(rc, 0);
  ck_assert_ptr_null(l2);
  ck_assert_ptr_nonnull(mp_err_name(rc));
  mp_listener_close(T.l, on_closed);
  t_end();
  ck_assert_int_eq(T.nclosed, 1);
}
END_TEST

static int all_clients_got_line(void)
{
  for (int i = 0; i < T.nclient; i++)
    if (T.cli[i].nclose == 0)
      return 0;
  return 1;
}

/* Five clients: five accepts, five distinct connections, each client gets
 * the greeting of its own server end. */
START_TEST(test_many_accepts)
{
  t_init();
  T.greet = 1;
  ck_assert_int_eq(
      mp_listener_start(&T.loop, "127.0.0.1", 0, on_accept, &T, &T.l), 0);
  for (int i = 0; i < 5; i++)
    client(i, "127.0.0.1", mp_listener_port(T.l));
  run_until(all_clients_got_line);
  ck_assert_int_eq(T.naccept, 5);
  int seen[6] = {0};
  for (int i = 0; i < 5; i++) {
    ck_assert_int_eq(T.cli[i].connect_status, 0);
    ck_assert_int_eq(T.cli[i].nlines, 1);
    int n = 0;
    ck_assert_int_eq(sscanf(T.cli[i].line, "hi %d", &n), 1);
    ck_assert_int_ge(n, 1);
    ck_assert_int_le(n, 5);
    seen[n]++;
    ck_assert_int_eq(T.cli[i].err, MP_E_CONNECTION_CLOSED);
  }
  for (int n = 1; n <= 5; n++)
    ck_assert_int_eq(seen[n], 1);
  mp_listener_close(T.l, on_closed);
  t_end();
}
END_TEST

static int first_accepted_and_closed(void)
{
  return T.naccept == 1 && T.nclosed == 1 && T.cli[0].connect_status == 0;
}

static int pong_seen(void)
{
  return T.cli[0].nlines == 1 || T.cli[0].nclose;
}

static int client1_done(void)
{
  return T.cli[1].connect_status != 1 && T.cli[1].nclose;
}

/* Closing the listener (from inside its own accept callback) stops
 * accepting; the accepted connection lives on and carries data; a new
 * connect is refused. */
START_TEST(test_close_keeps_connections)
{
  t_init();
  T.close_in_accept = 1;
  ck_assert_int_eq(
      mp_listener_start(&T.loop, "127.0.0.1", 0, on_accept, &T, &T.l), 0);
  uint16_t port = mp_listener_port(T.l);
  client(0, "127.0.0.1", port);
  run_until(first_accepted_and_closed);
  ck_assert_ptr_eq(T.closed_arg, &T);

  ck_assert_int_eq(mp_conn_write(T.srv[0].c, "pong\r\n", 6), 0);
  run_until(pong_seen);
  ck_assert_int_eq(T.cli[0].nlines, 1);
  ck_assert_str_eq(T.cli[0].line, "pong");
  ck_assert_int_eq(T.srv[0].nclose, 0);

  client(1, "127.0.0.1", port);
  run_until(client1_done);
  ck_assert_int_eq(T.cli[1].connect_status, MP_E_CONNECT_REFUSED);
  ck_assert_int_eq(T.naccept, 1);
  t_end();
}
END_TEST

static int client0_connected(void)
{
  return T.naccept == 1 && T.cli[0].connect_status != 1;
}

/* IPv6 loopback, where the host has it; the peer name has brackets. */
START_TEST(test_ipv6)
{
  t_init();
  int rc = mp_listener_start(&T.loop, "::1", 0, on_accept, &T, &T.l);
  if (rc < 0) {
    fprintf(stderr, "check_listener: no ::1 here, IPv6 test skipped\n");
    T.l = NULL;
    t_end();
    return;
  }
  uint16_t port = mp_listener_port(T.l);
  ck_assert_uint_ne(port, 0);
  client(0, "::1", port);
  run_until(client0_connected);
  ck_assert_int_eq(T.cli[0].connect_status, 0);
  char buf[64], want[64];
  snprintf(want, sizeof(want), "[::1]:%u", (unsigned)port);
  mp_conn_peer_name(T.cli[0].c, buf, sizeof(buf));
  ck_assert_str_eq(buf, want);
  mp_conn_peer_name(T.srv[0].c, buf, sizeof(buf));
  ck_assert_msg(strncmp(buf, "[::1]:", 6) == 0, "server sees %s", buf);
  mp_listener_close(T.l, on_closed);
  t_end();
}
END_TEST

static Suite *listener_suite(void)
{
  Suite *s = suite_create("listener");
  TCase *tc = tcase_create("listener");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, test_start_port0);
  tcase_add_test(tc, test_close_null_cb);
  tcase_add_loop_test(tc, test_bad_host, 0,
                      (int)(sizeof(bad_hosts) / sizeof(bad_hosts[0])));
  tcase_add_test(tc, test_port_in_use);
  tcase_add_test(tc, test_many_accepts);
  tcase_add_test(tc, test_close_keeps_connections);
  tcase_add_test(tc, test_ipv6);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  SRunner *sr = srunner_create(listener_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
