/* Unit tests for harness/http/: a server on a fresh loop answers raw
 * HTTP/1.1 requests from a client on the same loop: routes, the query
 * decoder, 404, 414, 431, 413, an async handler, a slow client cut by
 * the request timeout, basic auth against a bcrypt hash (and its cache),
 * a bearer token, and a stop that leaves no handle behind. */
#include "harness/http/http.h"

#include "harness/config/web_config.h"
#include "wire/errors.h"

#include <check.h>
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* A raw client: sends req, reads until the server closes. */
struct client {
  uv_tcp_t tcp;
  uv_connect_t connect;
  uv_write_t write;
  char *req;
  size_t req_len;
  char resp[65536];
  size_t len;
  int done;
};

static void on_client_closed(uv_handle_t *h)
{
  ((struct client *)h->data)->done = 1;
}

static void on_alloc(uv_handle_t *h, size_t want, uv_buf_t *buf)
{
  struct client *c = h->data;
  (void)want;
  buf->base = c->resp + c->len;
  buf->len = sizeof c->resp - 1 - c->len;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
  struct client *c = s->data;
  (void)buf;
  if (n > 0) {
    c->len += (size_t)n;
    c->resp[c->len] = '\0';
    return;
  }
  if (n < 0)
    uv_close((uv_handle_t *)s, on_client_closed);
}

static void on_written(uv_write_t *w, int status)
{
  (void)w;
  (void)status;
}

static void on_connected(uv_connect_t *req, int status)
{
  struct client *c = req->data;
  uv_buf_t b = uv_buf_init(c->req, (unsigned)c->req_len);
  ck_assert_int_eq(status, 0);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (c->req_len > 0)
    uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, on_written);
}

/* Sends req (len bytes) to port and runs the loop until the server
 * closed; returns the client (free it). */
static struct client *fetch_raw(uv_loop_t *loop, uint16_t port, const char *req,
                                size_t len)
{
  struct client *c = calloc(1, sizeof *c);
  struct sockaddr_in a;
  c->req = malloc(len + 1);
  memcpy(c->req, req, len);
  c->req_len = len;
  uv_ip4_addr("127.0.0.1", port, &a);
  uv_tcp_init(loop, &c->tcp);
  c->tcp.data = c;
  c->connect.data = c;
  uv_tcp_connect(&c->connect, &c->tcp, (struct sockaddr *)&a, on_connected);
  while (!c->done)
    uv_run(loop, UV_RUN_ONCE);
  return c;
}

static struct client *fetch(uv_loop_t *loop, uint16_t port, const char *req)
{
  return fetch_raw(loop, port, req, strlen(req));
}

static void client_free(struct client *c)
{
  free(c->req);
  free(c);
}

/* The status code of a response, or 0. */
static int status_of(const struct client *c)
{
  int s = 0;
  if (sscanf(c->resp, "HTTP/1.1 %d", &s) != 1)
    return 0;
  return s;
}

static const char *body_of(const struct client *c)
{
  const char *b = strstr(c->resp, "\r\n\r\n");
  return b ? b + 4 : "";
}

/* Handlers. */
static void h_echo(struct mp_http_req *r, void *data)
{
  char buf[512], hdr[64] = "";
  int n;
  (void)data;
  mp_http_header(r, "X-Test", hdr, sizeof hdr);
  n = snprintf(buf, sizeof buf, "%s %s a=%s b=%s n=%zu h=%s\n",
               mp_http_method(r), mp_http_path(r),
               mp_http_query(r, "a") ? mp_http_query(r, "a") : "-",
               mp_http_query(r, "b") ? mp_http_query(r, "b") : "-",
               mp_http_query_count(r, "a"), hdr);
  mp_http_add_header(r, "X-Reply", "yes");
  mp_http_reply(r, 200, "text/plain", buf, (size_t)n);
}

struct later {
  uv_timer_t timer;
  struct mp_http_req *r;
};

static void on_later(uv_timer_t *t)
{
  struct later *l = t->data;
  mp_http_reply(l->r, 200, "text/plain", "later\n", 6);
  uv_close((uv_handle_t *)t, NULL);
}

static struct later later_slot;

static void h_async(struct mp_http_req *r, void *data)
{
  uv_loop_t *loop = data;
  later_slot.r = r;
  uv_timer_init(loop, &later_slot.timer);
  later_slot.timer.data = &later_slot;
  uv_timer_start(&later_slot.timer, on_later, 50, 0);
}

static int stopped;

static void on_stopped(void *data)
{
  (void)data;
  stopped = 1;
}

static struct mp_http *start(uv_loop_t *loop, const struct mp_web_config *w,
                             uint64_t req_timeout_ms)
{
  struct mp_http_opts o = {"127.0.0.1:0", req_timeout_ms, 0, 0, 1024, w};
  struct mp_http *h = NULL;
  char err[256];
  int rc = mp_http_start(loop, &o, &h, err, sizeof err);
  ck_assert_msg(rc == 0, "%s", err);
  ck_assert_int_eq(mp_http_route(h, "/echo", h_echo, NULL), 0);
  ck_assert_int_eq(mp_http_route(h, "/async", h_async, loop), 0);
  ck_assert_uint_ne(mp_http_port(h), 0);
  return h;
}

static void stop(uv_loop_t *loop, struct mp_http *h)
{
  stopped = 0;
  mp_http_stop(h, on_stopped, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(stopped, 1);
  ck_assert_int_eq(uv_loop_close(loop), 0);
}

START_TEST(test_routes_and_limits)
{
  uv_loop_t loop;
  struct mp_http *h;
  struct client *c;
  char big[20000];
  uint16_t port;

  uv_loop_init(&loop);
  h = start(&loop, NULL, 0);
  port = mp_http_port(h);

  c = fetch(&loop, port,
            "GET /echo?a=1%2B1&b=x+y&a=2 HTTP/1.1\r\nHost: x\r\n"
            "X-Test: hi\r\nConnection: close\r\n\r\n");
  ck_assert_int_eq(status_of(c), 200);
  ck_assert_str_eq(body_of(c), "GET /echo a=1+1 b=x y n=2 h=hi\n");
  ck_assert_ptr_nonnull(strcasestr(c->resp, "x-reply: yes"));
  client_free(c);

  c = fetch(&loop, port,
            "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  ck_assert_int_eq(status_of(c), 404);
  client_free(c);

  c = fetch(&loop, port,
            "GET /echo?a=%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  ck_assert_int_eq(status_of(c), 400);
  client_free(c);

  /* A 9000-byte target: 414. */
  memcpy(big, "GET /echo?a=", 12);
  memset(big + 12, 'a', 9000);
  strcpy(big + 9012, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  c = fetch(&loop, port, big);
  ck_assert_int_eq(status_of(c), 414);
  client_free(c);

  /* 17 KB of headers: 431. */
  {
    size_t at;
    strcpy(big, "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                "X-Big: ");
    at = strlen(big);
    memset(big + at, 'b', 17000);
    strcpy(big + at + 17000, "\r\n\r\n");
  }
  c = fetch(&loop, port, big);
  ck_assert_int_eq(status_of(c), 431);
  client_free(c);

  /* A body over max_body (1024): 413, from H2O. */
  snprintf(big, sizeof big,
           "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           "Content-Length: 2000\r\n\r\n%02000d",
           0);
  c = fetch(&loop, port, big);
  ck_assert_int_eq(status_of(c), 413);
  client_free(c);

  c = fetch(&loop, port,
            "GET /async HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  ck_assert_int_eq(status_of(c), 200);
  ck_assert_str_eq(body_of(c), "later\n");
  client_free(c);
  ck_assert_uint_eq(mp_http_pending(h), 0);
  stop(&loop, h);
}
END_TEST

/* A client that sends half a request and then nothing is disconnected
 * by the request timeout, with no reply. */
START_TEST(test_slow_client)
{
  uv_loop_t loop;
  struct mp_http *h;
  struct client *c;
  uint64_t t0;

  uv_loop_init(&loop);
  h = start(&loop, NULL, 200);
  t0 = uv_hrtime();
  c = fetch(&loop, mp_http_port(h), "GET /echo HTTP/1.1\r\nHost: x\r\n");
  ck_assert_msg(uv_hrtime() - t0 < 5000000000ull, "not cut");
  ck_assert_int_ne(status_of(c), 200);
  client_free(c);
  stop(&loop, h);
}
END_TEST

START_TEST(test_query_decode)
{
  char out[64];
  const char *n[4], *v[4];
  ck_assert_int_eq(
      mp_http_query_decode("a=1&b=&c", 8, out, sizeof out, n, v, 4), 3);
  ck_assert_str_eq(n[0], "a");
  ck_assert_str_eq(v[0], "1");
  ck_assert_str_eq(n[1], "b");
  ck_assert_str_eq(v[1], "");
  ck_assert_str_eq(n[2], "c");
  ck_assert_str_eq(v[2], "");
  ck_assert_int_eq(mp_http_query_decode("t=%5B%3A%3A1%5D%3A25", 20, out,
                                        sizeof out, n, v, 4),
                   1);
  ck_assert_str_eq(v[0], "[::1]:25");
  ck_assert_int_eq(mp_http_query_decode("&&a=b&&", 7, out, sizeof out, n, v, 4),
                   1);
  ck_assert_int_eq(mp_http_query_decode("a=%0", 4, out, sizeof out, n, v, 4),
                   -1);
  ck_assert_int_eq(mp_http_query_decode("a=%00", 5, out, sizeof out, n, v, 4),
                   -1);
  ck_assert_int_eq(
      mp_http_query_decode("a&b&c&d&e", 9, out, sizeof out, n, v, 4), -1);
  ck_assert_int_eq(mp_http_query_decode("", 0, out, sizeof out, n, v, 4), 0);
}
END_TEST

/* Basic auth against a bcrypt hash made here at the lowest cost, and a
 * bearer token. */
START_TEST(test_auth)
{
  uv_loop_t loop;
  struct mp_http *h;
  struct mp_web_config *w;
  struct client *c;
  struct crypt_data cd;
  char yaml[512], err[256], req[512], *b64;
  const char *hash;
  FILE *f;
  static const char *tokpath = "/tmp/mp_check_http_token";
  uint16_t port;

  memset(&cd, 0, sizeof cd);
  hash = crypt_r(
      "s3cret",
      crypt_gensalt_rn("$2y$", 4, NULL, 0, cd.setting, sizeof cd.setting), &cd);
  ck_assert_ptr_nonnull(hash);
  f = fopen(tokpath, "w");
  fputs("tok-123\n", f);
  fclose(f);
  snprintf(yaml, sizeof yaml,
           "basic_auth_users:\n  prom: '%s'\nbearer_auth_token_file: %s\n",
           hash, tokpath);
  ck_assert_msg(mp_web_config_parse(yaml, strlen(yaml), "web.yml", &w, err,
                                    sizeof err) == 0,
                "%s", err);
  uv_loop_init(&loop);
  h = start(&loop, w, 0);
  mp_web_config_free(w);
  port = mp_http_port(h);

  c = fetch(&loop, port,
            "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  ck_assert_int_eq(status_of(c), 401);
  ck_assert_ptr_nonnull(strcasestr(c->resp, "www-authenticate: Basic"));
  client_free(c);

  /* prom:wrong, then prom:s3cret twice (the second from the cache). */
  c = fetch(&loop, port,
            "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            "Authorization: Basic cHJvbTp3cm9uZw==\r\n\r\n");
  ck_assert_int_eq(status_of(c), 401);
  client_free(c);
  b64 = "cHJvbTpzM2NyZXQ=";
  snprintf(req, sizeof req,
           "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           "Authorization: Basic %s\r\n\r\n",
           b64);
  for (int i = 0; i < 2; i++) {
    c = fetch(&loop, port, req);
    ck_assert_int_eq(status_of(c), 200);
    client_free(c);
  }
  c = fetch(&loop, port,
            "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            "Authorization: Bearer tok-123\r\n\r\n");
  ck_assert_int_eq(status_of(c), 200);
  client_free(c);
  c = fetch(&loop, port,
            "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            "Authorization: Bearer tok-124\r\n\r\n");
  ck_assert_int_eq(status_of(c), 401);
  client_free(c);
  stop(&loop, h);
  unlink(tokpath);
}
END_TEST

START_TEST(test_bad_listen)
{
  uv_loop_t loop;
  struct mp_http_opts o = {"localhost:80", 0, 0, 0, 0, NULL};
  struct mp_http *h = NULL;
  char err[256];
  uv_loop_init(&loop);
  ck_assert_int_lt(mp_http_start(&loop, &o, &h, err, sizeof err), 0);
  ck_assert_ptr_nonnull(strstr(err, "must be IP:PORT"));
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static const struct {
  const char *yaml;
  const char *want;
} bad_web[] = {
    {"basic_auth_users:\n  prom: plain\n", "web.yml:2:9: password hash"},
    {"tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: x\n",
     "web.yml:2:14: cert_file: /nonexistent.crt"},
    {"tls_server_config: {cert_file: /dev/null, key_file: /dev/null, "
     "client_auth_type: RequireAndVerifyClientCert}\n",
     "not a regular file"},
    {"http_server_config: {}\n", "web.yml:1:1: unknown key"},
};

START_TEST(test_bad_web_config)
{
  struct mp_web_config *w;
  char err[512];
  ck_assert_int_lt(mp_web_config_parse(bad_web[_i].yaml,
                                       strlen(bad_web[_i].yaml), "web.yml", &w,
                                       err, sizeof err),
                   0);
  ck_assert_msg(strstr(err, bad_web[_i].want) != NULL, "want '%s' in '%s'",
                bad_web[_i].want, err);
}
END_TEST

static Suite *http_suite(void)
{
  Suite *s = suite_create("http");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, test_routes_and_limits);
  tcase_add_test(tc, test_slow_client);
  tcase_add_test(tc, test_query_decode);
  tcase_add_test(tc, test_auth);
  tcase_add_test(tc, test_bad_listen);
  tcase_add_loop_test(tc, test_bad_web_config, 0, N(bad_web));
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(http_suite());
  int failed;
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
