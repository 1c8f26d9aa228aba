/* A case's tokens from its fake token endpoints (harness/run/job.h):
 * fetched through the same token source `check` uses (harness/oauth/), so
 * a case tests the probe's HTTP client against the harness's endpoint. */
#include "harness/run/job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/case/case.h"
#include "harness/idp/idp.h"
#include "harness/oauth/token.h"
#include "probes/result.h"
#include "wire/errors.h"

static void fetch_next(struct job *j);

static void on_token(void *data, const struct mp_token_answer *a)
{
  struct job *j = data;
  size_t i = j->tok_i;
  mp_token_source_free(j->tok_src);
  j->tok_src = NULL;
  j->token_us += a->took_us;
  if (!a->token || !(j->tok_val[i] = strdup(a->token))) {
    struct mp_result *r = mp_result_new();
    if (!r) {
      mp_job_diff(j, "out of memory");
      mp_job_stop_servers(j);
      return;
    }
    r->err = a->token ? MP_E_NO_RESOURCES : a->err;
    r->phase = MP_PHASE_TOKEN;
    r->timings_us[MP_PHASE_TOKEN] = (int64_t)j->token_us;
    r->total_us = j->token_us;
    mp_result_set_detail(r, "%s", a->why ? a->why : "no token");
    j->tok_fail(r, j);
    return;
  }
  j->tok_o[i]->token = j->tok_val[i];
  j->tok_i++;
  fetch_next(j);
}

static void fetch_next(struct job *j)
{
  const struct mp_case *c = j->rc->c;
  while (j->tok_i < j->tok_n && !j->tok_p[j->tok_i]->idp)
    j->tok_i++;
  if (j->tok_i == j->tok_n) {
    j->tok_next(j);
    return;
  }
  const struct mp_case_probe *p = j->tok_p[j->tok_i];
  struct mp_idp *idp = NULL;
  for (size_t k = 0; k < c->nidps && k < j->nidps; k++)
    if (strcmp(c->idps[k].name, p->idp) == 0)
      idp = j->idps[k];
  if (!idp) {
    mp_job_diff(j, "token endpoint %s is not running", p->idp);
    mp_job_stop_servers(j);
    return;
  }
  char url[64];
  snprintf(url, sizeof(url), "http://127.0.0.1:%u/token",
           (unsigned)mp_idp_port(idp));
  struct mp_token_opts o = {
      .url = url,
      .client_id = p->client_id,
      .client_secret = p->client_secret,
      .refresh_token = p->refresh_token,
      .scope = p->oauth_scope,
      /* The probe's own timeout bounds the fetch too. */
      .http_timeout_ms =
          p->opts.timeout_ms ? p->opts.timeout_ms : MP_PROBE_DEFAULT_TIMEOUT_MS,
  };
  j->tok_src = mp_token_source_new(&j->run->loop, &o);
  if (!j->tok_src || mp_token_get(j->tok_src, on_token, j) < 0) {
    mp_token_source_free(j->tok_src);
    j->tok_src = NULL;
    mp_job_diff(j, "the token fetch did not start");
    mp_job_stop_servers(j);
  }
}

void mp_job_tokens(struct job *j, const struct mp_case_probe *const *ps,
                   struct mp_probe_opts *const *os, size_t n,
                   void (*next)(struct job *j),
                   void (*fail)(struct mp_result *r, void *data))
{
  j->tok_n = n < 2 ? n : 2;
  for (size_t i = 0; i < j->tok_n; i++) {
    j->tok_p[i] = ps[i];
    j->tok_o[i] = os[i];
  }
  j->tok_i = 0;
  j->tok_next = next;
  j->tok_fail = fail;
  fetch_next(j);
}

void mp_job_tokens_free(struct job *j)
{
  for (size_t i = 0; i < 2; i++) {
    if (j->tok_val[i]) {
      memset(j->tok_val[i], 0, strlen(j->tok_val[i]));
      free(j->tok_val[i]);
      j->tok_val[i] = NULL;
    }
  }
}
