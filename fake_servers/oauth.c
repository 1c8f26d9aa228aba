/* The fake servers' side of XOAUTH2 and OAUTHBEARER (session.h): the
 * token check against the case's tokens, the error challenge, and the
 * failure replies of the styles a case can pick (RFC 7628, Gmail,
 * Exchange Online, an error that is no JSON). */
#include "fake_servers/session.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "wire/codec.h"
#include "wire/errors.h"

/* Why a token was refused; each style words it its own way. */
enum why { WHY_TOKEN, WHY_USER, WHY_SCOPE };

/* 1 when the space-separated list has the word want. */
static int has_scope(const char *list, const char *want)
{
  size_t wl = strlen(want);
  while (list && *list) {
    size_t n = strcspn(list, " ");
    if (n == wl && memcmp(list, want, n) == 0)
      return 1;
    list += n;
    list += strspn(list, " ");
  }
  return 0;
}

/* The error challenge for why, in the server's style (malloc'd), or
 * NULL for a style that sends none. */
static char *challenge(const struct mp_fake_server *srv, enum why why)
{
  const struct mp_fake_oauth *o = &srv->cfg->oauth;
  json_t *j = NULL;
  switch (o->style) {
  case MP_OAUTH_MICROSOFT:
    return NULL;
  case MP_OAUTH_NOT_JSON:
    return strdup("<html><head><title>401 Unauthorized</title></head>"
                  "</html>");
  case MP_OAUTH_GOOGLE:
    /* Google's XOAUTH2 page: 401 for a bad or expired token, 400 for
     * one that does not fit the request. */
    j = json_pack("{s:s, s:s, s:s}", "status", why == WHY_TOKEN ? "401" : "400",
                  "schemes", "bearer mac", "scope",
                  o->scope ? o->scope : "https://mail.google.com/");
    break;
  case MP_OAUTH_RFC7628:
    /* RFC 7628 3.2.2: status from RFC 6750 3.1; scope and
     * openid-configuration are optional. */
    j = json_pack("{s:s, s:s, s:s}", "status",
                  why == WHY_SCOPE ? "insufficient_scope" : "invalid_token",
                  "scope", o->scope ? o->scope : "mail", "openid-configuration",
                  "https://auth.example.test/.well-known/"
                  "openid-configuration");
    break;
  }
  if (!j)
    return NULL;
  char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(j);
  if (text && o->style == MP_OAUTH_GOOGLE) {
    /* Gmail ends its JSON with a line feed. */
    size_t n = strlen(text);
    char *t = realloc(text, n + 2);
    if (t) {
      memcpy(t + n, "\n", 2);
      text = t;
    }
  }
  return text;
}

int mp_fake_oauth_check(void *session, const char *user, const char *token,
                        char **who, char **error)
{
  struct mp_fake_session *s = session;
  const struct mp_fake_server *srv = s->srv;
  const struct mp_fake_config *cfg = srv->cfg;
  const struct mp_fake_token *t = NULL;
  *error = NULL;
  for (size_t i = 0; i < cfg->ntokens; i++) {
    const char *k = cfg->tokens[i].token;
    size_t kl = k ? strlen(k) : 0;
    if (k && mp_ct_equal(k, kl, token, strlen(token))) {
      t = &cfg->tokens[i];
      break;
    }
  }
  enum why why = WHY_TOKEN;
  uint64_t age = uv_now(srv->loop) - srv->started_ms;
  if (!t || t->expired || (t->expires_ms && age >= t->expires_ms))
    why = WHY_TOKEN;
  else if (*user && (!t->user || strcasecmp(user, t->user) != 0))
    why = WHY_USER; /* a token of someone else's */
  else if (cfg->oauth.scope && !has_scope(t->scope, cfg->oauth.scope))
    why = WHY_SCOPE;
  else {
    /* No name given (OAUTHBEARER's "n,,"): the token says who. */
    if (!*user && !(*who = strdup(t->user)))
      return MP_E_NO_RESOURCES;
    return 0;
  }
  *error = challenge(srv, why);
  return MP_E_AUTH_FAILED;
}

/* Each style's last words per protocol, by enum mp_fake_proto. */
static const char *const google_failed[] = {
    [MP_FAKE_SMTP] = "535-5.7.8 Username and Password not accepted. For "
                     "more information, go to\n"
                     "535 5.7.8  https://support.google.com/mail/"
                     "?p=BadCredentials a1b2c3d4e5f6.7 - gsmtp",
    [MP_FAKE_POP3] = "-ERR [AUTH] Username and password not accepted.",
    [MP_FAKE_IMAP] = "NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)",
};
static const char *const microsoft_failed[] = {
    [MP_FAKE_SMTP] = "535 5.7.3 Authentication unsuccessful "
                     "[MW4PR03CA0001.namprd03.prod.outlook.com]",
    [MP_FAKE_POP3] = "-ERR Authentication failure: unknown user name or "
                     "bad password.",
    [MP_FAKE_IMAP] = "NO AUTHENTICATE failed.",
};

int mp_fake_oauth_failed(struct mp_fake_session *s, struct mp_fake_answer *a)
{
  const struct mp_fake_config *cfg = s->srv->cfg;
  const char *text;
  if (cfg->oauth.style == MP_OAUTH_GOOGLE)
    text = google_failed[cfg->proto];
  else if (cfg->oauth.style == MP_OAUTH_MICROSOFT)
    text = microsoft_failed[cfg->proto];
  else
    return 0;
  /* A multi-line SMTP reply goes out line by line (RFC 5321 4.2.1). */
  while (*text) {
    size_t n = strcspn(text, "\n");
    char line[256];
    memcpy(line, text, n < sizeof line ? n : sizeof line - 1);
    line[n < sizeof line ? n : sizeof line - 1] = '\0';
    text += n + (text[n] == '\n');
    /* The last line counts as a client error where the protocol's own
     * failure does (the error cap). */
    if (!*text && s->srv->proto->sasl->failed_counts)
      mp_fake_client_error(s, a, line);
    else
      mp_fake_reply(s, a, line);
  }
  return 1;
}
