/* Unit tests for harness/oauth/ (where a token comes from) against
 * harness/idp/ (the fake token endpoint): the endpoint's answer parser,
 * the option rules, a token file and command with their failures, both
 * grants over HTTP with the cache and the refresh token's rotation, the
 * endpoint's faults and its introspection. */
#include "harness/oauth/token.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "fake_servers/fake.h"
#include "harness/idp/idp.h"
#include "wire/errors.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* --- the endpoint's answers (RFC 6749 5.1, 5.2) --- */

static const struct {
  const char *body;
  int rc;
  const char *token, *refresh, *error;
  int64_t expires;
} replies[] = {
    {"{\"access_token\":\"t\",\"expires_in\":3599,\"token_type\":\"Bearer\"}",
     0, "t", NULL, NULL, 3599},
    {"{\"access_token\":\"t\",\"expires_in\":\"3599\",\"refresh_token\":\"r\"}",
     0, "t", "r", NULL, 3599},
    {"{\"error\":\"invalid_grant\",\"error_description\":\"revoked\"}", 0, NULL,
     NULL, "invalid_grant", -1},
    {"{\"access_token\":\"\"}", MP_E_PROTOCOL_ERROR, NULL, NULL, NULL, -1},
    {"{\"token_type\":\"Bearer\"}", MP_E_PROTOCOL_ERROR, NULL, NULL, NULL, -1},
    {"<html>500</html>", MP_E_PROTOCOL_ERROR, NULL, NULL, NULL, -1},
    {"[\"access_token\"]", MP_E_PROTOCOL_ERROR, NULL, NULL, NULL, -1},
    {"{\"access_token\":\"t\",\"access_token\":\"u\"}", MP_E_PROTOCOL_ERROR,
     NULL, NULL, NULL, -1},
    {"{\"access_token\":\"t\",\"expires_in\":-5}", 0, "t", NULL, NULL, -1},
    {"{\"access_token\":\"a\\u0000b\"}", MP_E_PROTOCOL_ERROR, NULL, NULL, NULL,
     -1},
};

START_TEST(test_reply_parse)
{
  struct mp_token_reply r;
  const char *b = replies[_i].body;
  ck_assert_int_eq(mp_token_reply_parse(b, strlen(b), &r), replies[_i].rc);
  if (replies[_i].token)
    ck_assert_str_eq(r.access_token, replies[_i].token);
  else
    ck_assert_ptr_null(r.access_token);
  if (replies[_i].refresh)
    ck_assert_str_eq(r.refresh_token, replies[_i].refresh);
  else
    ck_assert_ptr_null(r.refresh_token);
  if (replies[_i].error)
    ck_assert_str_eq(r.error, replies[_i].error);
  else
    ck_assert_ptr_null(r.error);
  ck_assert_int_eq(r.expires_in, replies[_i].expires);
  mp_token_reply_clear(&r);
}
END_TEST

START_TEST(test_opts_check)
{
  struct mp_token_opts o = {.file = "f", .command = "c"};
  ck_assert_ptr_nonnull(mp_token_opts_check(&o));
  o = (struct mp_token_opts){.file = "f", .client_id = "x"};
  ck_assert_ptr_nonnull(mp_token_opts_check(&o));
  o = (struct mp_token_opts){.url = "http://x/"};
  ck_assert_ptr_nonnull(strstr(mp_token_opts_check(&o), "client-id"));
  o.client_id = "id";
  ck_assert_ptr_nonnull(mp_token_opts_check(&o)); /* no secret, no refresh */
  o.client_secret = "s";
  ck_assert_ptr_null(mp_token_opts_check(&o));
  o = (struct mp_token_opts){.command = "c"};
  ck_assert_ptr_null(mp_token_opts_check(&o));
}
END_TEST

/* --- a source on a loop --- */

struct got {
  int calls;
  char token[256];
  int err, local;
  char why[512];
};

static void on_answer(void *data, const struct mp_token_answer *a)
{
  struct got *g = data;
  g->calls++;
  snprintf(g->token, sizeof g->token, "%s", a->token ? a->token : "");
  g->err = a->err;
  g->local = a->local;
  snprintf(g->why, sizeof g->why, "%s", a->why ? a->why : "");
}

/* Asks src once and runs the loop until it answered. */
static void ask(uv_loop_t *loop, struct mp_token_source *src, struct got *g)
{
  memset(g, 0, sizeof *g);
  ck_assert_int_eq(mp_token_get(src, on_answer, g), 0);
  ck_assert_int_eq(g->calls, 0); /* never from inside the call */
  while (g->calls == 0)
    uv_run(loop, UV_RUN_ONCE);
  ck_assert_int_eq(g->calls, 1);
}

static void close_loop(uv_loop_t *loop, struct mp_token_source *src)
{
  mp_token_source_free(src);
  uv_run(loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(loop), 0);
}

START_TEST(test_file)
{
  uv_loop_t loop;
  struct got g;
  char path[] = "/tmp/mp-token-XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, "ya29.file\n", 10), 10);
  close(fd);
  uv_loop_init(&loop);
  struct mp_token_opts o = {.file = path};
  struct mp_token_source *src = mp_token_source_new(&loop, &o);
  ask(&loop, src, &g);
  ck_assert_str_eq(g.token, "ya29.file");
  /* Emptied: UNKNOWN, naming the option. */
  fd = open(path, O_WRONLY | O_TRUNC);
  close(fd);
  ask(&loop, src, &g);
  ck_assert_str_eq(g.token, "");
  ck_assert_int_eq(g.local, 1);
  ck_assert_ptr_nonnull(strstr(g.why, "--oauth-token-file"));
  unlink(path);
  ask(&loop, src, &g);
  ck_assert_int_eq(g.local, 1);
  close_loop(&loop, src);
}
END_TEST

static const struct {
  const char *cmd;
  const char *token; /* NULL: a failure whose sentence has why */
  const char *why;
} commands[] = {
    {"echo ya29.cmd", "ya29.cmd", NULL},
    {"printf ya29.no-newline", "ya29.no-newline", NULL},
    {"false", NULL, "exited with status 1"},
    {"true", NULL, "printed nothing"},
    {"sleep 5", NULL, "did not finish within 200 ms"},
    {"printf a\\nb", NULL, "more than one line"},
    {"/nonexistent/command", NULL, "could not run"},
    {"head -c 20000 /dev/zero", NULL, "more than 16384 bytes"},
};

START_TEST(test_command)
{
  uv_loop_t loop;
  struct got g;
  uv_loop_init(&loop);
  struct mp_token_opts o = {.command = commands[_i].cmd,
                            .command_timeout_ms = 200};
  struct mp_token_source *src = mp_token_source_new(&loop, &o);
  ask(&loop, src, &g);
  if (commands[_i].token) {
    ck_assert_str_eq(g.token, commands[_i].token);
    ck_assert_int_eq(g.err, 0);
  } else {
    ck_assert_str_eq(g.token, "");
    ck_assert_int_ne(g.err, 0);
    ck_assert_int_eq(g.local, 1);
    ck_assert_msg(strstr(g.why, commands[_i].why) != NULL, "%s: %s",
                  commands[_i].cmd, g.why);
    ck_assert_ptr_nonnull(strstr(g.why, "--oauth-token-command"));
  }
  close_loop(&loop, src);
}
END_TEST

/* --- both grants against the fake endpoint --- */

static struct mp_idp_client clients[] = {
    {.id = "app", .secret = "sekrit", .token = "ya29.app"}};
static struct mp_idp_refresh refreshes[] = {
    {.refresh = "rt-1", .token = "ya29.user", .rotate = "rt-2"},
    {.refresh = "rt-keep", .token = "ya29.kept", .rotate = NULL}};
static struct mp_fake_token known[] = {
    {.token = "ya29.app", .user = "probe@example.test", .scope = "mail"},
    {.token = "ya29.old", .user = "probe@example.test", .expired = 1}};

/* A loop, the fake endpoint on it with cfg, and a source asking it with
 * the options o (their url set here). */
struct env {
  uv_loop_t loop;
  struct mp_idp_config cfg;
  struct mp_idp *idp;
  struct mp_token_source *src;
  char url[64];
};

static void env_up(struct env *e, struct mp_token_opts o)
{
  char err[256];
  e->cfg.clients = clients;
  e->cfg.nclients = N(clients);
  e->cfg.refresh = refreshes;
  e->cfg.nrefresh = N(refreshes);
  e->cfg.tokens = known;
  e->cfg.ntokens = N(known);
  uv_loop_init(&e->loop);
  ck_assert_int_eq(mp_idp_start(&e->loop, &e->cfg, &e->idp, err, sizeof err),
                   0);
  snprintf(e->url, sizeof e->url, "http://127.0.0.1:%u/token",
           (unsigned)mp_idp_port(e->idp));
  o.url = e->url;
  e->src = mp_token_source_new(&e->loop, &o);
  ck_assert_ptr_nonnull(e->src);
}

static void env_down(struct env *e)
{
  mp_idp_stop(e->idp, NULL, NULL);
  close_loop(&e->loop, e->src);
}

START_TEST(test_client_credentials_cached)
{
  struct env e = {.cfg = {.expires_in_s = 3600}};
  struct got g;
  env_up(&e,
         (struct mp_token_opts){.client_id = "app", .client_secret = "sekrit"});
  ask(&e.loop, e.src, &g);
  ck_assert_str_eq(g.token, "ya29.app");
  ck_assert_int_eq(mp_idp_requests(e.idp), 1);
  /* An hour's token: the second ask is the cache's. */
  ask(&e.loop, e.src, &g);
  ck_assert_str_eq(g.token, "ya29.app");
  ck_assert_int_eq(mp_idp_requests(e.idp), 1);
  env_down(&e);
}
END_TEST

START_TEST(test_short_lifetime_not_cached)
{
  struct env e = {.cfg = {.expires_in_s = 30}}; /* under the margin */
  struct got g;
  env_up(&e,
         (struct mp_token_opts){.client_id = "app", .client_secret = "sekrit"});
  ask(&e.loop, e.src, &g);
  ask(&e.loop, e.src, &g);
  ck_assert_str_eq(g.token, "ya29.app");
  ck_assert_int_eq(mp_idp_requests(e.idp), 2);
  env_down(&e);
}
END_TEST

START_TEST(test_invalid_client)
{
  struct env e = {.cfg = {0}};
  struct got g;
  env_up(&e,
         (struct mp_token_opts){.client_id = "app", .client_secret = "wrong"});
  ask(&e.loop, e.src, &g);
  ck_assert_int_eq(g.err, MP_E_AUTH_FAILED);
  ck_assert_int_eq(g.local, 0);
  ck_assert_ptr_nonnull(strstr(g.why, "(HTTP 401): invalid_client: AADSTS"));
  env_down(&e);
}
END_TEST

START_TEST(test_refresh_rotated)
{
  struct env e = {.cfg = {0}};
  struct got g;
  char path[] = "/tmp/mp-refresh-XXXXXX", buf[64] = "";
  int fd = mkstemp(path);
  ck_assert_int_eq(write(fd, "rt-1\n", 5), 5);
  close(fd);
  env_up(&e, (struct mp_token_opts){.client_id = "app", .refresh_file = path});
  ask(&e.loop, e.src, &g);
  ck_assert_str_eq(g.token, "ya29.user");
  FILE *f = fopen(path, "r");
  ck_assert_ptr_nonnull(fgets(buf, sizeof buf, f));
  fclose(f);
  ck_assert_str_eq(buf, "rt-2\n"); /* written back */
  env_down(&e);

  /* A refresh token given as a value (as a case gives it), on a fresh
   * endpoint that has not rotated rt-1 away. */
  e = (struct env){.cfg = {0}};
  env_up(&e,
         (struct mp_token_opts){.client_id = "app", .refresh_token = "rt-1"});
  ask(&e.loop, e.src, &g);
  ck_assert_str_eq(g.token, "ya29.user");
  env_down(&e);
  unlink(path);
}
END_TEST

START_TEST(test_invalid_grant)
{
  struct env e = {.cfg = {.expires_in_s = 1}}; /* never cached */
  struct got g;
  env_up(&e,
         (struct mp_token_opts){.client_id = "app", .refresh_token = "rt-1"});
  ask(&e.loop, e.src, &g);
  ck_assert_str_eq(g.token, "ya29.user");
  ask(&e.loop, e.src, &g); /* rt-1 again: rotated away */
  ck_assert_int_eq(g.err, MP_E_AUTH_FAILED);
  ck_assert_ptr_nonnull(strstr(g.why, "invalid_grant"));
  env_down(&e);
}
END_TEST

static const struct {
  enum mp_idp_answer answer;
  uint64_t delay_ms;
  int err;
  const char *why;
} faults[] = {
    {MP_IDP_HTTP_500, 0, MP_E_PROTOCOL_ERROR, "HTTP 500 without a token"},
    {MP_IDP_GARBAGE, 0, MP_E_PROTOCOL_ERROR, "HTTP 200 without a token"},
    {MP_IDP_HANG, 0, MP_E_TIMEOUT, "Timeout"},
    {MP_IDP_OK, 2000, MP_E_TIMEOUT, "Timeout"},
    {MP_IDP_OK, 50, 0, ""},
};

START_TEST(test_faults)
{
  struct env e = {
      .cfg = {.answer = faults[_i].answer, .delay_ms = faults[_i].delay_ms}};
  struct got g;
  env_up(&e, (struct mp_token_opts){.client_id = "app",
                                    .client_secret = "sekrit",
                                    .http_timeout_ms = 300});
  ask(&e.loop, e.src, &g);
  ck_assert_int_eq(g.err, faults[_i].err);
  ck_assert_msg(strstr(g.why, faults[_i].why) != NULL, "%s", g.why);
  ck_assert_int_eq(g.local, 0);
  env_down(&e);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("token");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 20);
  tcase_add_loop_test(tc, test_reply_parse, 0, N(replies));
  tcase_add_test(tc, test_opts_check);
  tcase_add_test(tc, test_file);
  tcase_add_loop_test(tc, test_command, 0, N(commands));
  tcase_add_test(tc, test_client_credentials_cached);
  tcase_add_test(tc, test_short_lifetime_not_cached);
  tcase_add_test(tc, test_invalid_client);
  tcase_add_test(tc, test_refresh_rotated);
  tcase_add_test(tc, test_invalid_grant);
  tcase_add_loop_test(tc, test_faults, 0, N(faults));
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
