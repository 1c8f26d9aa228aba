/* The fake IMAP server's login side: the capabilities it announces
 * (RFC 9051 7.2.2), which say whether login is possible yet
 * (LOGINDISABLED before TLS when the case wants TLS first), STARTTLS
 * (RFC 9051 6.2.1), LOGIN (6.2.3) and AUTHENTICATE (6.2.2, SASL-IR of RFC
 * 4959) over the shared SASL exchange. The server is fake_servers/imap.c. */
#include "fake_servers/imap_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- capabilities --------------------------------------------------- */

/* Does a withhold entry name this capability? The entry itself, or its
 * name before '=' ("AUTH" withholds every AUTH=). */
static int cap_listed(char *const *list, size_t n, const char *cap)
{
  size_t k = strcspn(cap, "=");
  for (size_t i = 0; list && i < n; i++) {
    if (!list[i])
      continue;
    if (strcasecmp(list[i], cap) == 0)
      return 1;
    if (strlen(list[i]) == k && cap[k] == '=' &&
        strncasecmp(list[i], cap, k) == 0)
      return 1;
  }
  return 0;
}

static int login_disabled(const struct mp_fake_session *s)
{
  return s->srv->cfg->auth_requires_tls && !s->in_tls;
}

static void cap_add(char *buf, size_t cap, size_t *at,
                    const struct mp_fake_config *cfg, const char *name)
{
  if (cap_listed(cfg->withhold, cfg->nwithhold, name))
    return;
  /* " name" (no space first), whole or not at all. */
  size_t sp = *at ? 1 : 0, n = strlen(name);
  if (sp + n >= cap - *at)
    return;
  buf[*at] = ' ';
  memcpy(buf + *at + sp, name, n + 1);
  *at += sp + n;
}

/* The capability list for the session's state (RFC 9051 7.2.2), built-in
 * names less withhold, then advertise. */
void fi_capabilities(const struct mp_fake_session *s, char *buf, size_t cap)
{
  const struct mp_fake_config *cfg = s->srv->cfg;
  size_t at = 0;
  buf[0] = '\0';
  cap_add(buf, cap, &at, cfg, "IMAP4rev1");
  if (cfg->tls == MP_FAKE_TLS_STARTTLS && s->srv->tls_ctx && !s->in_tls)
    cap_add(buf, cap, &at, cfg, "STARTTLS");
  if (login_disabled(s)) {
    cap_add(buf, cap, &at, cfg, "LOGINDISABLED");
  } else {
    char list[512], one[80];
    mp_fake_auth_list(cfg, list, sizeof(list));
    for (const char *p = list; *p;) {
      size_t n = strcspn(p, " ");
      if (n > 0 && n < 64) {
        memcpy(one, "AUTH=", 5);
        memcpy(one + 5, p, n);
        one[5 + n] = '\0';
        cap_add(buf, cap, &at, cfg, one);
      }
      p += n;
      p += strspn(p, " ");
    }
  }
  static const char *const more[] = {"SASL-IR", "LITERAL-", "UIDPLUS",
                                     "IDLE",    "UNSELECT", "NAMESPACE",
                                     "ID",      "ENABLE"};
  for (size_t i = 0; i < sizeof(more) / sizeof(*more); i++)
    cap_add(buf, cap, &at, cfg, more[i]);
  for (size_t i = 0; i < cfg->nadvertise; i++) {
    const char *c = cfg->advertise[i];
    if (!c || cap_listed(cfg->withhold, cfg->nwithhold, c))
      continue;
    /* Not twice. */
    int dup = 0;
    for (const char *p = buf; *p && !dup;) {
      size_t n = strcspn(p, " ");
      dup = n == strlen(c) && strncasecmp(p, c, n) == 0;
      p += n;
      p += strspn(p, " ");
    }
    if (!dup)
      cap_add(buf, cap, &at, cfg, c);
  }
}

/* ---- login ------------------------------------------------------------ */

void fi_logged_in(struct mp_fake_session *s, const char *user)
{
  struct imap *m = s->proto;
  free(m->user);
  m->user = strdup(user ? user : "");
  mp_fake_set_state(s, IMAP_AUTH);
}

void fi_cmd_login(struct mp_fake_session *s, struct mp_fake_args *g,
                  struct mp_fake_answer *a)
{
  char *user = NULL, *pass = NULL;
  if (fi_arg_sp(g) < 0 || fi_arg_astring(g, &user) < 0 || fi_arg_sp(g) < 0 ||
      fi_arg_astring(g, &pass) < 0 || !fi_at_end(g)) {
    free(user);
    free(pass);
    fi_client_error(s, a, "BAD Error in IMAP command LOGIN: Invalid arguments");
    return;
  }
  if (login_disabled(s)) {
    /* RFC 9051 6.2.3, RFC 5530 3: PRIVACYREQUIRED. */
    fi_tagged(s, a,
              "NO [PRIVACYREQUIRED] Plaintext authentication disallowed "
              "on non-secure (SSL/TLS) connections.");
  } else {
    const char *want = mp_fake_password(s, user);
    if (want && strcmp(want, pass) == 0) {
      fi_logged_in(s, user);
      fi_tagged(s, a, "OK Logged in");
    } else {
      /* RFC 5530 3: AUTHENTICATIONFAILED. */
      fi_tagged(s, a, "NO [AUTHENTICATIONFAILED] Authentication failed.");
    }
  }
  free(user);
  /* The password is not kept. */
  memset(pass, 0, strlen(pass));
  free(pass);
}

static void imap_logged_in(struct mp_fake_session *s, const char *user,
                           struct mp_fake_answer *a)
{
  fi_logged_in(s, user);
  fi_tagged(s, a, "OK Logged in");
}

/* RFC 9051 6.2.2: "+ " and the challenge; "*" cancels, and the server
 * answers BAD. Wrong credentials are NO, not a client error. */
const struct mp_fake_sasl_frame fi_sasl = {
    .cont = "+ ",
    .exchange_state = -1,
    .idle_state = -1,
    .nul_fails = 1,
    .unsupported = "NO [CANNOT] Unsupported authentication mechanism.",
    .cancelled = "BAD Authentication aborted by client.",
    /* RFC 5530 3: AUTHENTICATIONFAILED. */
    .failed = "NO [AUTHENTICATIONFAILED] Authentication failed.",
    .undecodable = "BAD Invalid SASL response",
    .too_long = "BAD Invalid SASL response",
    .temporary = "NO [UNAVAILABLE] Temporary authentication failure.",
    .logged_in = imap_logged_in,
};

void fi_cmd_authenticate(struct mp_fake_session *s, struct mp_fake_args *g,
                         struct mp_fake_answer *a)
{
  char mech[64];
  char *ir = NULL;
  size_t irl = 0;
  if (fi_arg_sp(g) < 0 || fi_arg_atom(g, mech, sizeof(mech), 0, NULL) < 0) {
    fi_client_error(s, a,
                    "BAD Error in IMAP command AUTHENTICATE: Invalid "
                    "arguments");
    return;
  }
  /* RFC 4959: SASL-IR, the initial response ("=" for an empty one). */
  if (!fi_at_end(g) && (fi_arg_sp(g) < 0 ||
                        fi_arg_string(g, 0, &ir, &irl) < 0 || !fi_at_end(g))) {
    free(ir);
    fi_client_error(s, a,
                    "BAD Error in IMAP command AUTHENTICATE: Invalid "
                    "arguments");
    return;
  }
  if (login_disabled(s))
    fi_tagged(s, a,
              "NO [PRIVACYREQUIRED] Authentication disallowed on "
              "non-secure (SSL/TLS) connections.");
  else
    mp_fake_sasl_start(s, mech, ir, a);
  free(ir);
}

void fi_cmd_starttls(struct mp_fake_session *s, struct mp_fake_args *g,
                     struct mp_fake_answer *a)
{
  if (!fi_at_end(g)) {
    fi_client_error(s, a,
                    "BAD Error in IMAP command STARTTLS: Unexpected "
                    "arguments");
  } else if (s->in_tls) {
    fi_client_error(s, a, "BAD TLS is already active.");
  } else if (s->srv->cfg->tls != MP_FAKE_TLS_STARTTLS || !s->srv->tls_ctx) {
    fi_client_error(s, a, "BAD STARTTLS is not available.");
  } else {
    /* RFC 9051 6.2.1: the handshake starts after the fi_tagged OK. */
    fi_tagged(s, a, "OK Begin TLS negotiation now.");
    a->effect = MP_FX_STARTTLS;
  }
}
