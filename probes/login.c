/* The login decision (probes/login.h). */
#include "probes/login.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probes/session.h"
#include "wire/errors.h"
#include "wire/sasl.h"

_Static_assert(MP_LOGIN_BIT(MP_LOGIN_USER) == MP_AUTH_USER, "USER bit");
_Static_assert(MP_LOGIN_BIT(MP_LOGIN_APOP) == MP_AUTH_APOP, "APOP bit");
_Static_assert(MP_LOGIN_BIT(MP_LOGIN_CMD) == MP_AUTH_LOGIN_CMD, "LOGIN bit");
_Static_assert((int)MP_SASL_COUNT <= (int)MP_LOGIN_USER,
               "SASL bits below the rest");

const struct mp_login_rules mp_login_method_rules = {
    .refused = "the server refused the credentials with every method "
               "tried",
    .failed = "every login method tried failed",
    .none = "no login method in common with the server",
};

/* What the credentials at hand can do: a bearer mechanism needs a token
 * and is never chosen without one; with a token and no password only the
 * bearer mechanisms are left. */
static unsigned with_credentials(const struct mp_probe *p, unsigned allowed)
{
  if (!p->o.token)
    allowed &= ~MP_SASL_BEARER;
  else if (!p->o.password)
    allowed &= MP_SASL_BEARER;
  return allowed;
}

unsigned mp_login_allowed(const struct mp_probe *p)
{
  unsigned allowed = with_credentials(
      p, p->o.auth ? p->o.auth : (MP_SASL_ALL | MP_AUTH_SIMPLE));
  if (!p->in_tls && p->o.tls != MP_TLSMODE_NONE) {
    for (int m = 0; m < MP_SASL_COUNT; m++)
      if (mp_sasl_is_cleartext(m))
        allowed &= ~MP_SASL_BIT(m);
    /* APOP sends a digest, not the password; USER and LOGIN do not. */
    allowed &= ~(MP_AUTH_USER | MP_AUTH_LOGIN_CMD);
  }
  return allowed;
}

int mp_login_choose(unsigned offered, unsigned allowed, unsigned tried)
{
  /* Strongest first; the cleartext SASL mechanisms after APOP. The bearer
   * mechanisms lead: they are allowed only with a token, and a token is
   * what an OAuth-only service (Exchange Online, Gmail) takes. */
  static const int order[] = {MP_SASL_OAUTHBEARER,   MP_SASL_XOAUTH2,
                              MP_SASL_SCRAM_SHA_256, MP_SASL_SCRAM_SHA_1,
                              MP_SASL_CRAM_MD5,      MP_LOGIN_APOP,
                              MP_SASL_LOGIN,         MP_SASL_PLAIN,
                              MP_LOGIN_USER,         MP_LOGIN_CMD};
  for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
    unsigned bit = MP_LOGIN_BIT(order[i]);
    if ((offered & allowed & bit) && !(tried & bit))
      return order[i];
  }
  return -1;
}

int mp_login_verdict(const struct mp_login *l, const struct mp_login_rules *r,
                     unsigned allowed, unsigned user_all, int in_tls,
                     const char **why)
{
  *why = NULL;
  if (l->refused) {
    *why = r->refused;
    return MP_E_AUTH_FAILED;
  }
  /* Outside TLS, what the server offers may be usable inside it. */
  int offered_outside = !in_tls && (l->offered & user_all) &&
                        !(r->tls_if_clear_only && (l->offered & allowed));
  if (l->tls_asked || offered_outside || (!in_tls && l->tls_hint))
    return MP_E_AUTH_TLS_REQUIRED; /* the caller says which mode */
  if (l->tried) {
    *why = r->failed;
    return MP_E_AUTH_FAILED;
  }
  *why = l->announced || !r->none_mute ? r->none : r->none_mute;
  return MP_E_AUTH_UNSUPPORTED;
}

/* A bearer token was refused with an error challenge: fails the probe
 * with what the challenge said (RFC 7628 3.2.2) and returns 1; else 0. */
static int oauth_refused(struct mp_probe *p)
{
  if (p->r->oauth_status)
    mp_session_fail_quit(
        p, MP_E_AUTH_FAILED, "the server refused the token: %s%s%s",
        p->r->oauth_status, p->r->oauth_scope ? ", scope " : "",
        p->r->oauth_scope ? p->r->oauth_scope : "");
  else if (p->login.oauth_not_json)
    mp_session_fail_quit(p, MP_E_AUTH_FAILED,
                         "the server refused the token with an error that "
                         "is not JSON");
  else
    return 0;
  return 1;
}

int mp_login_next(struct mp_probe *p, const struct mp_login_rules *r)
{
  struct mp_login *l = &p->login;
  unsigned allowed = mp_login_allowed(p);
  if (p->phase != MP_PHASE_AUTH)
    mp_session_phase(p, MP_PHASE_AUTH);
  int m = mp_login_choose(l->offered, allowed, l->tried);
  if (m >= 0) {
    l->method = m;
    l->tried |= MP_LOGIN_BIT(m);
    return m;
  }
  /* Nothing (left) to try is a login outcome, even before the first. */
  unsigned user_all = with_credentials(
      p, p->o.auth ? p->o.auth : (MP_SASL_ALL | MP_AUTH_SIMPLE));
  const char *why;
  int err = mp_login_verdict(l, r, allowed, user_all, p->in_tls, &why);
  if (err == MP_E_AUTH_FAILED && oauth_refused(p))
    return -1;
  if (why)
    mp_session_fail_quit(p, err, "%s", why);
  else
    mp_session_fail_quit(p, err, "login needs TLS, and tls is %s",
                         mp_tls_mode_name(p->o.tls));
  return -1;
}

const char *mp_login_name(int method)
{
  switch (method) {
  case MP_LOGIN_USER:
    return "USER";
  case MP_LOGIN_APOP:
    return "APOP";
  case MP_LOGIN_CMD:
    return "LOGIN";
  default:
    return mp_sasl_name(method);
  }
}

static int is_sasl(int method)
{
  return method >= 0 && method < MP_SASL_COUNT;
}

int mp_login_accepted(struct mp_probe *p)
{
  struct mp_login *l = &p->login;
  if (is_sasl(l->method) && !mp_login_sasl_complete(l)) {
    mp_session_fail_quit(
        p, MP_E_PROTOCOL_ERROR,
        "the server accepted %s before the exchange was complete",
        mp_sasl_name(l->method));
    return -1;
  }
  p->r->auth = mp_login_name(l->method);
  return 0;
}

/* A bearer mechanism was refused after the server's error challenge
 * (RFC 7628 3.2.2): its status and scope go into the result. */
static void note_oauth_error(struct mp_probe *p)
{
  struct mp_login *l = &p->login;
  const struct mp_sasl_oauth_error *e = mp_sasl_client_oauth_error(l->sasl);
  if (!mp_sasl_is_bearer(l->method) || !e)
    return;
  l->oauth_not_json = e->not_json;
  /* The server said why it refused the token: the other bearer mechanism
   * would carry the same token to the same refusal. */
  l->tried |= MP_SASL_BEARER;
  free(p->r->oauth_status);
  free(p->r->oauth_scope);
  p->r->oauth_status = e->status ? strdup(e->status) : NULL;
  p->r->oauth_scope = e->scope ? strdup(e->scope) : NULL;
}

int mp_login_refused(struct mp_probe *p)
{
  struct mp_login *l = &p->login;
  note_oauth_error(p);
  if (is_sasl(l->method) && l->sasl_cancelled) {
    mp_session_fail_quit(p, MP_E_PROTOCOL_ERROR,
                         "the server sent a SASL challenge we could not "
                         "answer");
    return -1;
  }
  return 0;
}

void mp_login_refused_for_good(struct mp_probe *p)
{
  p->login.refused = 1;
  if (oauth_refused(p))
    return;
  mp_session_fail_quit(p, MP_E_AUTH_FAILED,
                       "the server refused the credentials (%s); no other "
                       "method tried, so one check is one failed login",
                       mp_login_name(p->login.method));
}

/* ---- the SASL exchange --------------------------------------------- */

/* A SASL client with the credentials the mechanism takes: the token for
 * the bearer ones, with OAUTHBEARER's host and port (RFC 7628 3.1). */
static struct mp_sasl_client *new_client(struct mp_probe *p, int mech)
{
  if (!mp_sasl_is_bearer(mech))
    return mp_sasl_client_new(mech, p->o.user, p->o.password);
  struct mp_sasl_client *c =
      mp_sasl_client_new(mech, p->o.user, p->o.token ? p->o.token : "");
  if (c && mech == MP_SASL_OAUTHBEARER)
    mp_sasl_client_set_target(c, p->o.servername ? p->o.servername : p->o.host,
                              p->o.port);
  return c;
}

int mp_login_sasl_begin(struct mp_probe *p, const struct mp_sasl_frame *f,
                        int mech, char *cmd, size_t cap)
{
  struct mp_login *l = &p->login;
  mp_sasl_client_free(l->sasl);
  l->sasl = new_client(p, mech);
  l->sasl_began = 0;
  l->sasl_cancelled = 0;
  l->sasl_sent = 0;
  l->sasl_done = 0;
  char *ir = NULL;
  if (!l->sasl ||
      (f->max_initial && mp_sasl_client_initial(l->sasl, &ir) < 0)) {
    mp_session_fail(p, MP_E_NO_RESOURCES, "SASL set-up failed");
    return MP_E_NO_RESOURCES;
  }
  const char *name = mp_sasl_name(mech);
  if (ir && strlen(ir) <= f->max_initial) {
    snprintf(cmd, cap, "%s %s %s", f->verb, name, ir);
    l->sasl_began = 1;
    l->sasl_sent = 1;
  } else {
    snprintf(cmd, cap, "%s %s", f->verb, name);
    if (ir) { /* made again at the first, empty challenge */
      mp_sasl_client_free(l->sasl);
      l->sasl = new_client(p, mech);
    }
  }
  free(ir);
  return 0;
}

void mp_login_sasl_answer(struct mp_probe *p, const char *ch)
{
  struct mp_login *l = &p->login;
  char *out = NULL;
  int rc = MP_E_PROTOCOL_ERROR;
  if (l->sasl && !l->sasl_began && !*ch) {
    /* An empty challenge asks for the client's first message. */
    rc = mp_sasl_client_initial(l->sasl, &out);
    if (rc >= 0 && !out)
      rc = mp_sasl_client_step(l->sasl, ch, &out);
  } else if (l->sasl) {
    rc = mp_sasl_client_step(l->sasl, ch, &out);
  }
  l->sasl_began = 1;
  if (rc == MP_SASL_DONE)
    l->sasl_done = 1;
  if (rc == MP_SASL_DONE && !out)
    out = strdup(""); /* SCRAM: an empty answer to the server's final */
  if (rc < 0 || !out) {
    free(out);
    /* The server's refusal that follows is the server's fault, not the
     * credentials' (RFC 4954 4, RFC 5034 4, RFC 9051 6.2.2). */
    l->sasl_cancelled = 1;
    mp_session_send(p, "*");
    return;
  }
  l->sasl_sent++;
  mp_session_send_response(p, out);
  free(out);
}

int mp_login_sasl_complete(const struct mp_login *l)
{
  if (l->sasl_cancelled)
    return 0; /* we answered "*": no success can follow (RFC 4954 4) */
  switch (l->method) {
  case MP_SASL_PLAIN:    /* RFC 4616: one message */
  case MP_SASL_CRAM_MD5: /* RFC 2195: one answer to the challenge */
    return l->sasl_done || l->sasl_sent >= 1;
  case MP_SASL_LOGIN: /* the user name, then the password */
    return l->sasl_done || l->sasl_sent >= 2;
  case MP_SASL_OAUTHBEARER: /* one message, and no error challenge */
  case MP_SASL_XOAUTH2:
    return l->sasl_sent == 1 && !mp_sasl_client_oauth_error(l->sasl);
  default: /* SCRAM: done only once the server signature matched */
    return l->sasl_done;
  }
}

void mp_login_free(struct mp_login *l)
{
  mp_sasl_client_free(l->sasl);
  l->sasl = NULL;
}
