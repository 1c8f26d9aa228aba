/* Freeing a fake server's config (fake.h). Apart from the servers so that
 * the case parser, which builds these configs and frees them on an error,
 * links it without the listener, the sessions and TLS. */
#include "fake_servers/fake.h"

#include <stdlib.h>
#include <string.h>

static void free_strv(char **v, size_t n)
{
  if (!v)
    return;
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

void mp_fake_tokens_free(struct mp_fake_token *tokens, size_t n)
{
  for (size_t i = 0; tokens && i < n; i++) {
    free(tokens[i].token);
    free(tokens[i].user);
    free(tokens[i].scope);
  }
  free(tokens);
}

void mp_fake_config_free(struct mp_fake_config *cfg)
{
  if (!cfg)
    return;
  free(cfg->name);
  free(cfg->hostname);
  free(cfg->cert_like);
  free(cfg->tls_version);
  free(cfg->cipher);
  for (size_t i = 0; cfg->users && i < cfg->nusers; i++) {
    free(cfg->users[i].name);
    free(cfg->users[i].password);
  }
  free(cfg->users);
  mp_fake_tokens_free(cfg->tokens, cfg->ntokens);
  free(cfg->oauth.scope);
  free_strv(cfg->auth, cfg->nauth);
  free_strv(cfg->advertise, cfg->nadvertise);
  free_strv(cfg->withhold, cfg->nwithhold);
  for (size_t i = 0; cfg->mailboxes && i < cfg->nmailboxes; i++)
    free(cfg->mailboxes[i].user);
  free(cfg->mailboxes);
  free(cfg->delivery.redirect);
  free(cfg->delivery.subject);
  for (size_t i = 0; cfg->rules && i < cfg->nrules; i++) {
    free(cfg->rules[i].match);
    free_strv(cfg->rules[i].reply, cfg->rules[i].nreply);
    free(cfg->rules[i].send);
  }
  free(cfg->rules);
  memset(cfg, 0, sizeof(*cfg));
}
