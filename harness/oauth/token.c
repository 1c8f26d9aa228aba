/* Token sources and their cache (harness/oauth/token.h). */
#include "harness/oauth/token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "harness/config/secret.h"
#include "wire/errors.h"

/* A fetched token is used until this long before it expires. */
#define TOKEN_MARGIN_S 60

struct mp_token_source {
  uv_loop_t *loop;
  struct mp_token_opts o; /* strings point into owned */
  char *owned[9];
  char *cached;        /* the token, or NULL */
  uint64_t expires_ms; /* uv_now when it stops being used; 0: never */
  uv_timer_t later;    /* runs a cached answer's callback on the loop */
  int busy, closing;
  char *file_tok;     /* a token file just read, answered on the loop */
  char *refresh;      /* the refresh token of the request about to go */
  char file_why[400]; /* ... or why it could not be */
  int pending;        /* on_later: 1 answers file_tok / file_why, 2
                         starts the command, 3 the request (whose set-up
                         may fail at once: never inside mp_token_get) */
  uint64_t t0_us;
  mp_token_cb cb;
  void *cb_data;
};

static void wipe(char *s)
{
  if (s) {
    memset(s, 0, strlen(s));
    free(s);
  }
}

const char *mp_token_opts_check(const struct mp_token_opts *o)
{
  int n = !!o->file + !!o->command + !!o->url;
  if (n > 1)
    return "give one of --oauth-token-file, --oauth-token-command and "
           "--oauth-token-url";
  if (!o->url && (o->client_id || o->client_secret || o->scope ||
                  o->refresh_file || o->refresh_token))
    return "--oauth-client-id, the client secret, --oauth-scope and "
           "--oauth-refresh-token-file go with --oauth-token-url";
  if (o->url && !o->client_id)
    return "--oauth-token-url needs --oauth-client-id";
  if (o->url && !o->refresh_file && !o->refresh_token && !o->client_secret)
    return "--oauth-token-url needs a client secret "
           "(--oauth-client-secret-file or -env) or "
           "--oauth-refresh-token-file";
  return NULL;
}

struct mp_token_source *mp_token_source_new(struct uv_loop_s *loop,
                                            const struct mp_token_opts *o)
{
  struct mp_token_source *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->loop = loop;
  s->o = *o;
  const char **strs[] = {
      &s->o.file,         &s->o.command,       &s->o.url,
      &s->o.client_id,    &s->o.client_secret, &s->o.scope,
      &s->o.refresh_file, &s->o.cafile,        &s->o.refresh_token};
  for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
    if (*strs[i] && !(*strs[i] = s->owned[i] = strdup(*strs[i]))) {
      for (size_t k = 0; k < i; k++)
        wipe(s->owned[k]);
      free(s);
      return NULL;
    }
  uv_timer_init(loop, &s->later);
  s->later.data = s;
  return s;
}

static void on_later_close(uv_handle_t *h)
{
  struct mp_token_source *s = h->data;
  wipe(s->cached);
  wipe(s->file_tok);
  wipe(s->refresh);
  for (size_t i = 0; i < sizeof s->owned / sizeof *s->owned; i++)
    wipe(s->owned[i]);
  free(s);
}

void mp_token_source_free(struct mp_token_source *s)
{
  if (!s)
    return;
  s->closing = 1;
  uv_close((uv_handle_t *)&s->later, on_later_close);
}

/* Hands an answer to the caller. */
static void answer(struct mp_token_source *s, const char *token, int err,
                   int local, const char *why, uint64_t took_us)
{
  struct mp_token_answer a = {token, err, local, why, took_us};
  mp_token_cb cb = s->cb;
  s->busy = 0;
  s->cb = NULL;
  cb(s->cb_data, &a);
}

static void on_fetched(void *data, char *token, int64_t expires_in, int err,
                       int local, const char *why);

/* A cached token or a token file's answer, on the loop. */
static void on_later(uv_timer_t *t)
{
  struct mp_token_source *s = t->data;
  if (s->pending == 2) {
    s->pending = 0;
    mp_token_cmd_start(s->loop, s->o.command, s->o.command_timeout_ms,
                       on_fetched, s);
    return;
  }
  if (s->pending == 3) {
    char *refresh = s->refresh;
    s->pending = 0;
    s->refresh = NULL;
    mp_token_http_start(s->loop, &s->o, refresh, on_fetched, s);
    wipe(refresh);
    return;
  }
  if (s->pending) {
    s->pending = 0;
    char *tok = s->file_tok;
    s->file_tok = NULL;
    on_fetched(s, tok, -1, tok ? 0 : MP_E_AUTH_FAILED, 1,
               tok ? NULL : s->file_why);
    return;
  }
  answer(s, s->cached, 0, 0, NULL, 0);
}

static void on_fetched(void *data, char *token, int64_t expires_in, int err,
                       int local, const char *why)
{
  struct mp_token_source *s = data;
  uv_update_time(s->loop);
  uint64_t took = uv_hrtime() / 1000 - s->t0_us;
  if (token && (s->o.command || s->o.url)) {
    /* Kept until shortly before it expires (RFC 6749 5.1 expires_in);
     * without expires_in, for this probe only. */
    wipe(s->cached);
    s->cached = token;
    s->expires_ms = 0;
    if (expires_in > TOKEN_MARGIN_S)
      s->expires_ms =
          uv_now(s->loop) + (uint64_t)(expires_in - TOKEN_MARGIN_S) * 1000;
    else
      s->expires_ms = 1; /* stale at once */
    answer(s, token, 0, 0, NULL, took);
    if (s->expires_ms == 1) {
      wipe(s->cached);
      s->cached = NULL;
    }
    return;
  }
  answer(s, token, err, local, why, took);
  wipe(token);
}

int mp_token_get(struct mp_token_source *s, mp_token_cb cb, void *data)
{
  if (s->busy || s->closing || !cb)
    return MP_E_PROTOCOL_ERROR;
  s->busy = 1;
  s->cb = cb;
  s->cb_data = data;
  if (s->cached && (s->expires_ms == 0 || uv_now(s->loop) < s->expires_ms)) {
    uv_timer_start(&s->later, on_later, 0, 0);
    return 0;
  }
  s->t0_us = uv_hrtime() / 1000;
  if (s->o.file) {
    /* Read each time: whoever writes the file keeps it fresh. */
    char *tok = NULL, err[300];
    if (mp_read_secret_file(s->o.file, &tok, err, sizeof err) < 0) {
      snprintf(s->file_why, sizeof s->file_why, "--oauth-token-file %s", err);
    } else if (!*tok) {
      snprintf(s->file_why, sizeof s->file_why, "--oauth-token-file %s: empty",
               s->o.file);
      wipe(tok);
      tok = NULL;
    }
    s->file_tok = tok;
    s->pending = 1;
    uv_timer_start(&s->later, on_later, 0, 0);
    return 0;
  }
  if (s->o.command) {
    s->pending = 2;
    uv_timer_start(&s->later, on_later, 0, 0);
    return 0;
  }
  char *refresh = NULL;
  if (s->o.refresh_token && !(refresh = strdup(s->o.refresh_token))) {
    snprintf(s->file_why, sizeof s->file_why, "out of memory");
    s->pending = 1;
    uv_timer_start(&s->later, on_later, 0, 0);
    return 0;
  }
  if (!refresh && s->o.refresh_file) {
    char err[300];
    if (mp_read_secret_file(s->o.refresh_file, &refresh, err, sizeof err) < 0 ||
        !*refresh) {
      snprintf(s->file_why, sizeof s->file_why, "--oauth-refresh-token-file %s",
               refresh ? "is empty" : err);
      wipe(refresh);
      s->pending = 1;
      uv_timer_start(&s->later, on_later, 0, 0);
      return 0;
    }
  }
  s->refresh = refresh;
  s->pending = 3;
  uv_timer_start(&s->later, on_later, 0, 0);
  return 0;
}
