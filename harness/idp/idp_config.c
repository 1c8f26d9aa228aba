/* Freeing a fake token endpoint's config (harness/idp/idp.h), apart from
 * the endpoint so that the case parser links it without H2O. */
#include "harness/idp/idp.h"

#include <stdlib.h>
#include <string.h>

#include "fake_servers/fake.h"

void mp_idp_config_free(struct mp_idp_config *cfg)
{
  if (!cfg)
    return;
  free(cfg->name);
  for (size_t i = 0; cfg->clients && i < cfg->nclients; i++) {
    free(cfg->clients[i].id);
    free(cfg->clients[i].secret);
    free(cfg->clients[i].token);
  }
  free(cfg->clients);
  for (size_t i = 0; cfg->refresh && i < cfg->nrefresh; i++) {
    free(cfg->refresh[i].refresh);
    free(cfg->refresh[i].token);
    free(cfg->refresh[i].rotate);
  }
  free(cfg->refresh);
  mp_fake_tokens_free(cfg->tokens, cfg->ntokens);
  free(cfg->scope);
  memset(cfg, 0, sizeof(*cfg));
}
