/* The token of `check` and `roundtrip` (harness/cli/cli_token.h). */
#include "harness/cli/cli_token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "harness/cli/probe_opts.h"
#include "harness/oauth/token.h"
#include "harness/report/result_json.h"
#include "probes/result.h"
#include "wire/errors.h"

struct fetch {
  struct mp_cli_token *t;
  int err;
};

static void on_token(void *data, const struct mp_token_answer *a)
{
  struct fetch *f = data;
  struct mp_cli_token *t = f->t;
  t->took_us = a->took_us;
  f->err = a->err;
  t->local = a->local;
  snprintf(t->why, sizeof(t->why), "%s", a->why ? a->why : "no token");
  if (a->token && !(t->token = strdup(a->token))) {
    f->err = MP_E_NO_RESOURCES;
    t->local = 1;
    snprintf(t->why, sizeof(t->why), "out of memory");
  }
}

int mp_cli_token_fetch(struct uv_loop_s *loop, const struct mp_token_opts *o,
                       struct mp_cli_token *t)
{
  struct fetch f = {t, 0};
  struct mp_token_source *src = mp_token_source_new(loop, o);
  memset(t, 0, sizeof(*t));
  if (!src || mp_token_get(src, on_token, &f) < 0) {
    mp_token_source_free(src);
    uv_run(loop, UV_RUN_DEFAULT);
    t->local = 1;
    snprintf(t->why, sizeof(t->why), "the token source could not start");
    return 1;
  }
  uv_run(loop, UV_RUN_DEFAULT);
  mp_token_source_free(src);
  uv_run(loop, UV_RUN_DEFAULT);
  if (t->token)
    return 0;
  if (!t->local && (t->result = mp_result_new())) {
    /* The endpoint refused or answered garbage: a failed check in the
     * token phase, before any connection. */
    t->result->err = f.err;
    t->result->phase = MP_PHASE_TOKEN;
    t->result->timings_us[MP_PHASE_TOKEN] = (int64_t)t->took_us;
    t->result->total_us = t->took_us;
    mp_result_set_detail(t->result, "%s", t->why);
  } else if (!t->local) {
    t->local = 1;
    snprintf(t->why, sizeof(t->why), "out of memory");
  }
  return 1;
}

int mp_cli_token_report(const struct mp_cli_token *t,
                        const struct mp_probe_cli *pc,
                        const struct mp_result_fmt *rf, const char *cmd)
{
  if (t->result) /* CRITICAL: the endpoint refused or answered garbage */
    return mp_result_print(stdout, t->result, rf, pc->format, cmd);
  return mp_probe_cli_usage(pc, t->why); /* UNKNOWN, before connecting */
}

void mp_cli_token_free(struct mp_cli_token *t)
{
  if (t->token) {
    memset(t->token, 0, strlen(t->token));
    free(t->token);
  }
  t->token = NULL;
  mp_result_free(t->result);
  t->result = NULL;
}
