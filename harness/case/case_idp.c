/* The fake token endpoint in a case (`servers:` with protocol oauth) and
 * a probe's token from it (token_endpoint:, client_id, client_secret,
 * refresh_token, scope). */
#include "harness/case/case_yaml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_servers/fake.h"
#include "harness/case/case.h"
#include "harness/idp/idp.h"

static const struct nv answer_names[] = {{"ok", MP_IDP_OK},
                                         {"http_500", MP_IDP_HTTP_500},
                                         {"garbage", MP_IDP_GARBAGE},
                                         {"hang", MP_IDP_HANG},
                                         {NULL, 0}};

/* clients: { ID: { secret: S, token: T } } */
static int get_clients(struct ctx *x, const struct ynode *n,
                       struct mp_idp_config *d)
{
  static const char *const keys[] = {"secret", "token", NULL};
  if ((d->clients =
           cy_entries(x, "clients", n, "clients", sizeof *d->clients)) == NULL)
    return -1;
  for (size_t i = 0; i < n->nkids; i += 2) {
    struct mp_idp_client *cl = &d->clients[d->nclients++];
    const struct ynode *v = n->kids[i + 1], *f;
    if (cy_get_str(x, "clients", n->kids[i], 0, &cl->id) < 0 ||
        cy_want_map(x, cl->id, v) < 0 ||
        cy_check_keys(x, v, "a client", keys) < 0)
      return -1;
    if ((f = cy_get(v, "secret")) == NULL || cy_get(v, "token") == NULL)
      return cy_fail(x, v,
                     "a client needs 'secret' and 'token' (the "
                     "access token it is granted)");
    if (cy_get_str(x, "secret", f, 0, &cl->secret) < 0 ||
        cy_get_str(x, "token", cy_get(v, "token"), 0, &cl->token) < 0)
      return -1;
  }
  return 0;
}

/* refresh_tokens: { RT: { token: T, rotate: RT2 } } */
static int get_refresh(struct ctx *x, const struct ynode *n,
                       struct mp_idp_config *d)
{
  static const char *const keys[] = {"token", "rotate", NULL};
  if ((d->refresh = cy_entries(x, "refresh_tokens", n, "refresh_tokens",
                               sizeof *d->refresh)) == NULL)
    return -1;
  for (size_t i = 0; i < n->nkids; i += 2) {
    struct mp_idp_refresh *r = &d->refresh[d->nrefresh++];
    const struct ynode *v = n->kids[i + 1], *f;
    if (cy_get_str(x, "refresh_tokens", n->kids[i], 0, &r->refresh) < 0 ||
        cy_want_map(x, r->refresh, v) < 0 ||
        cy_check_keys(x, v, "a refresh token", keys) < 0)
      return -1;
    if ((f = cy_get(v, "token")) == NULL)
      return cy_fail(x, v,
                     "a refresh token needs 'token' (the access "
                     "token it buys)");
    if (cy_get_str(x, "token", f, 0, &r->token) < 0 ||
        cy_opt_str(x, v, "rotate", 0, NULL, &r->rotate) < 0)
      return -1;
  }
  return 0;
}

int cy_parse_idp(struct ctx *x, const struct ynode *kn, const struct ynode *n,
                 struct mp_case *c)
{
  static const char *const keys[] = {"protocol", "clients", "refresh_tokens",
                                     "tokens",   "scope",   "expires_in",
                                     "answer",   "delay",   NULL};
  const struct ynode *v;
  char where[96];
  int e;
  /* cy_parse_servers made room for every server of the case. */
  struct mp_idp_config *d = &c->idps[c->nidps++];
  if (!(d->name = strdup(kn->str)))
    return cy_oom(x);
  snprintf(where, sizeof where, "servers.%s", d->name);
  if (cy_check_keys(x, n, where, keys) < 0)
    return -1;
  if ((v = cy_get(n, "clients")) != NULL && get_clients(x, v, d) < 0)
    return -1;
  if ((v = cy_get(n, "refresh_tokens")) != NULL && get_refresh(x, v, d) < 0)
    return -1;
  if ((v = cy_get(n, "tokens")) != NULL &&
      cy_parse_tokens(x, v, &d->tokens, &d->ntokens) < 0)
    return -1;
  if (cy_opt_str(x, n, "scope", 0, NULL, &d->scope) < 0)
    return -1;
  if ((v = cy_get(n, "expires_in")) != NULL) {
    uint64_t us;
    if (cy_get_dur(x, "expires_in", v, &us) < 0)
      return -1;
    d->expires_in_s = (us + 999999) / 1000000;
  }
  if (cy_opt_enum(x, n, "answer", answer_names, MP_IDP_OK, &e) < 0)
    return -1;
  d->answer = (enum mp_idp_answer)e;
  if ((v = cy_get(n, "delay")) != NULL &&
      cy_get_dur_ms(x, "delay", v, 0, &d->delay_ms) < 0)
    return -1;
  return 0;
}

/* The index of the case's token endpoint called name, or -1. */
static int find_idp(const struct mp_case *c, const char *name)
{
  for (size_t i = 0; i < c->nidps; i++)
    if (c->idps[i].name && strcmp(c->idps[i].name, name) == 0)
      return (int)i;
  return -1;
}

int cy_parse_probe_idp(struct ctx *x, const struct ynode *n,
                       const struct mp_case *c, struct mp_case_probe *p)
{
  const struct ynode *v = cy_get(n, "token_endpoint");
  static const char *const with[] = {"client_id", "client_secret",
                                     "refresh_token", "scope", NULL};
  if (v && x->module)
    return cy_fail(x, v,
                   "'token_endpoint' names a fake server; a module "
                   "has none");
  if (!v) {
    for (size_t i = 0; with[i]; i++)
      if (cy_get(n, with[i]))
        return cy_fail(x, cy_get(n, with[i]), "'%s' goes with 'token_endpoint'",
                       with[i]);
    return 0;
  }
  if (cy_get(n, "token"))
    return cy_fail(x, v, "give 'token' or 'token_endpoint', not both");
  if (!p->user)
    return cy_fail(x, v, "'token_endpoint' without 'user'");
  if (cy_get_str(x, "token_endpoint", v, 0, &p->idp) < 0)
    return -1;
  if (find_idp(c, p->idp) < 0)
    return cy_fail(x, v,
                   "'%s' is not a token endpoint (a server with protocol "
                   "oauth)",
                   p->idp);
  if (cy_opt_str(x, n, "client_id", 0, NULL, &p->client_id) < 0 ||
      cy_opt_str(x, n, "client_secret", 0, NULL, &p->client_secret) < 0 ||
      cy_opt_str(x, n, "refresh_token", 0, NULL, &p->refresh_token) < 0 ||
      cy_opt_str(x, n, "scope", 0, NULL, &p->oauth_scope) < 0)
    return -1;
  if (!p->refresh_token && (!p->client_id || !p->client_secret))
    return cy_fail(x, v,
                   "a token endpoint needs 'client_id' and 'client_secret' "
                   "(client credentials) or 'refresh_token'");
  return 0;
}
