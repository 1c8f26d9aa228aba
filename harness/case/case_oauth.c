/* A fake server's OAuth keys (`tokens:` and `oauth:`) into its config:
 * the access tokens it accepts and how it refuses one. */
#include "harness/case/case_yaml.h"

#include <stdlib.h>

#include "fake_servers/fake.h"

static const struct nv style_names[] = {{"rfc7628", MP_OAUTH_RFC7628},
                                        {"google", MP_OAUTH_GOOGLE},
                                        {"microsoft", MP_OAUTH_MICROSOFT},
                                        {"not_json", MP_OAUTH_NOT_JSON},
                                        {NULL, 0}};

int cy_parse_tokens(struct ctx *x, const struct ynode *n,
                    struct mp_fake_token **tokens, size_t *ntokens)
{
  static const char *const keys[] = {"user", "scope", "expires", "expired",
                                     NULL};
  if ((*tokens = cy_entries(x, "tokens", n, "tokens", sizeof **tokens)) == NULL)
    return -1;
  for (size_t i = 0; i < n->nkids; i += 2) {
    struct mp_fake_token *t = &(*tokens)[(*ntokens)++];
    const struct ynode *v = n->kids[i + 1], *f;
    if (cy_get_str(x, "tokens", n->kids[i], 0, &t->token) < 0 ||
        cy_want_map(x, t->token, v) < 0 ||
        cy_check_keys(x, v, "a token", keys) < 0)
      return -1;
    if ((f = cy_get(v, "user")) == NULL)
      return cy_fail(x, v, "a token needs 'user': whose token it is");
    if (cy_get_str(x, "user", f, 0, &t->user) < 0 ||
        cy_opt_str(x, v, "scope", 0, NULL, &t->scope) < 0)
      return -1;
    if ((f = cy_get(v, "expires")) != NULL &&
        cy_get_dur_ms(x, "expires", f, 1, &t->expires_ms) < 0)
      return -1;
    if ((f = cy_get(v, "expired")) != NULL &&
        cy_get_bool(x, "expired", f, &t->expired) < 0)
      return -1;
  }
  return 0;
}

int cy_parse_oauth(struct ctx *x, const struct ynode *n,
                   struct mp_fake_config *s)
{
  static const char *const keys[] = {"scope", "style", "require_ir", NULL};
  const struct ynode *v;
  int e;
  if (cy_want_map(x, "oauth", n) < 0 ||
      cy_check_keys(x, n, "oauth", keys) < 0 ||
      cy_opt_str(x, n, "scope", 0, NULL, &s->oauth.scope) < 0 ||
      cy_opt_enum(x, n, "style", style_names, MP_OAUTH_RFC7628, &e) < 0)
    return -1;
  s->oauth.style = (enum mp_fake_oauth_style)e;
  if ((v = cy_get(n, "require_ir")) != NULL &&
      cy_get_bool(x, "require_ir", v, &s->oauth.require_ir) < 0)
    return -1;
  return 0;
}
