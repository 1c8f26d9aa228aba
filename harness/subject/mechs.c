/* Login mechanisms a subject speaks against what a case expects
 * (harness/subject/mechs.h). A mechanism is compared as a key that says
 * what goes on the wire: "SASL:NAME" for AUTH/AUTHENTICATE NAME, "CMD:USER",
 * "CMD:APOP" (POP3) and "CMD:LOGIN" (the IMAP LOGIN command), so LOGIN
 * means what it means for the case's protocol, as in probe.auth. */
#include "harness/subject/mechs.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "fake_servers/session.h"
#include "harness/case/case.h"
#include "harness/subject/profile.h"

#define KEY_MAX 32

/* 1 if s is a SASL mechanism name (RFC 4422 3.1), any case. */
static int sasl_name(const char *s, size_t n)
{
  size_t i;

  if (n == 0 || n > 20)
    return 0;
  for (i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
      return 0;
  return 1;
}

int mp_subject_mech_valid(const char *name)
{
  if (strncasecmp(name, "AUTH=", 5) == 0)
    name += 5;
  return sasl_name(name, strlen(name));
}

/* The key of mechanism name (n bytes) for a probe of type proto; sasl:
 * it follows AUTH or AUTHENTICATE on the wire, so it is SASL whatever. */
static void key_of(const char *name, size_t n, int proto, int sasl, char *key)
{
  const char *kind = "SASL";

  if (sasl) {
    /* as named */
  } else if (n > 5 && strncasecmp(name, "AUTH=", 5) == 0) {
    name += 5;
    n -= 5;
  } else if (proto == MP_CASE_POP3 &&
             ((n == 4 && strncasecmp(name, "USER", 4) == 0) ||
              (n == 4 && strncasecmp(name, "APOP", 4) == 0))) {
    kind = "CMD";
  } else if (proto == MP_CASE_IMAP && n == 5 &&
             strncasecmp(name, "LOGIN", 5) == 0) {
    kind = "CMD";
  }
  snprintf(key, KEY_MAX, "%s:%.*s", kind, (int)(n > 20 ? 20 : n), name);
  for (char *p = key; *p; p++)
    *p = (char)toupper((unsigned char)*p);
}

static int speaks(const struct mp_subject *s, int proto, const char *key)
{
  char k[KEY_MAX];
  size_t i;

  for (i = 0; i < s->nmechanisms; i++) {
    key_of(s->mechanisms[i], strlen(s->mechanisms[i]), proto, 0, k);
    if (strcmp(k, key) == 0)
      return 1;
  }
  return 0;
}

/* The n-th space-separated word of glob g (0-based): its start and
 * length, or NULL. */
static const char *word(const char *g, int nth, size_t *len)
{
  for (;;) {
    while (*g == ' ')
      g++;
    if (!*g)
      return NULL;
    *len = strcspn(g, " ");
    if (nth-- == 0)
      return g;
    g += *len;
  }
}

/* The mechanism a server `saw:` glob names, as a key: "AUTH NAME ..."
 * (SMTP, POP3), "TAG AUTHENTICATE NAME ..." (IMAP), "USER ..."/"APOP ..."
 * (POP3), "TAG LOGIN ..." (IMAP). A trailing '*' on the name is dropped
 * ("AUTH CRAM-MD5*"); a name that is still a pattern names none. */
static int glob_mech(const char *g, int proto, char *key)
{
  const char *w0, *w1, *w2, *m = NULL;
  size_t n0 = 0, n1 = 0, n2 = 0, n = 0;
  int sasl = 1;

  w0 = word(g, 0, &n0);
  w1 = word(g, 1, &n1);
  w2 = word(g, 2, &n2);
  if (!w0)
    return 0;
  if (proto != MP_CASE_IMAP && n0 == 4 && strncasecmp(w0, "AUTH", 4) == 0) {
    m = w1;
    n = n1;
  } else if (proto == MP_CASE_POP3 && n0 == 4 &&
             (strncasecmp(w0, "USER", 4) == 0 ||
              strncasecmp(w0, "PASS", 4) == 0)) {
    m = "USER";
    n = 4;
    sasl = 0;
  } else if (proto == MP_CASE_POP3 && n0 == 4 &&
             strncasecmp(w0, "APOP", 4) == 0) {
    m = w0;
    n = n0;
    sasl = 0;
  } else if (proto == MP_CASE_IMAP && w1 && n1 == 12 &&
             strncasecmp(w1, "AUTHENTICATE", 12) == 0) {
    m = w2;
    n = n2;
  } else if (proto == MP_CASE_IMAP && w1 && n1 == 5 &&
             strncasecmp(w1, "LOGIN", 5) == 0) {
    m = w1;
    n = n1;
    sasl = 0;
  }
  if (!m)
    return 0;
  if (n > 0 && m[n - 1] == '*')
    n--;
  if (!sasl_name(m, n))
    return 0;
  key_of(m, n, proto, sasl, key);
  return 1;
}

int mp_subject_login_glob(const char *glob, int proto)
{
  static const char *const first[] = {"AUTH", "USER", "PASS", "APOP", NULL};
  const char *w;
  size_t n = 0, i;

  if (proto != MP_CASE_IMAP) {
    if (!(w = word(glob, 0, &n)))
      return 0;
    for (i = 0; first[i]; i++)
      if (n == strlen(first[i]) && strncasecmp(w, first[i], n) == 0)
        return 1;
    return 0;
  }
  if (!(w = word(glob, 1, &n)))
    return 0;
  return (n == 12 && strncasecmp(w, "AUTHENTICATE", 12) == 0) ||
         (n == 5 && strncasecmp(w, "LOGIN", 5) == 0);
}

/* The fake server the probe talks to, or NULL. */
static const struct mp_fake_config *server_of(const struct mp_case *c)
{
  size_t i;

  for (i = 0; c->probe.server && i < c->nservers; i++)
    if (c->servers[i].name && strcmp(c->servers[i].name, c->probe.server) == 0)
      return &c->servers[i];
  return NULL;
}

/* 1 if the server offers a login by key: a SASL mechanism it advertises;
 * POP3 USER and the IMAP LOGIN command are always there, APOP with a
 * timestamp in the greeting. */
static int offers(const struct mp_fake_config *f, const char *key)
{
  if (strncmp(key, "SASL:", 5) == 0)
    return mp_fake_auth_offered(f, key + 5);
  if (strcmp(key, "CMD:APOP") == 0)
    return f->apop;
  return 1;
}

/* 1 if the case is about the login: tagged auth. */
static int about_login(const struct mp_case *c)
{
  size_t i;

  for (i = 0; i < c->ntags; i++)
    if (strcmp(c->tags[i], "auth") == 0)
      return 1;
  return 0;
}

/* What the subject speaks, as words, into buf. */
static const char *spoken(const struct mp_subject *s, char *buf, size_t len)
{
  size_t i, at = 0;

  buf[0] = '\0';
  for (i = 0; i < s->nmechanisms && at < len; i++) {
    int k =
        snprintf(buf + at, len - at, "%s%s", i ? " " : "", s->mechanisms[i]);
    if (k < 0)
      break;
    at += (size_t)k;
  }
  return buf;
}

int mp_subject_mech_gap(const struct mp_subject *s, const struct mp_case *c,
                        char *why, size_t whylen)
{
  int proto = (int)c->probe.type;
  const struct mp_fake_config *f;
  char key[KEY_MAX], has[160];
  size_t i, j;

  if (!s || s->builtin || s->nmechanisms == 0 || !c->probe.user)
    return 0;
  /* The mechanism that logged in (expect.auth), in a case about the
   * login (tagged auth); elsewhere it is mailprobe's own choice, which a
   * subject is not held to. */
  if (about_login(c) && c->expect.auth &&
      strcasecmp(c->expect.auth, "none") != 0) {
    key_of(c->expect.auth, strlen(c->expect.auth), proto, 0, key);
    if (!speaks(s, proto, key)) {
      snprintf(why, whylen, "it speaks %s; the case expects %s (expect.auth)",
               spoken(s, has, sizeof(has)), c->expect.auth);
      return 1;
    }
  }
  /* A mechanism the server must have seen (expect.server saw). */
  for (i = 0; i < c->expect.nservers; i++)
    for (j = 0; j < c->expect.servers[i].nsaw; j++)
      if (glob_mech(c->expect.servers[i].saw[j], proto, key) &&
          !speaks(s, proto, key)) {
        snprintf(why, whylen,
                 "it speaks %s; the case expects the server to "
                 "see \"%s\"",
                 spoken(s, has, sizeof(has)), c->expect.servers[i].saw[j]);
        return 1;
      }
  /* A login that should succeed on a server offering none of them. */
  if (c->expect.status == 1 && (f = server_of(c)) != NULL) {
    for (i = 0; i < s->nmechanisms; i++) {
      key_of(s->mechanisms[i], strlen(s->mechanisms[i]), proto, 0, key);
      if (offers(f, key))
        return 0;
    }
    snprintf(why, whylen, "it speaks %s; the server offers none of them",
             spoken(s, has, sizeof(has)));
    return 1;
  }
  return 0;
}

/* The one login the case names (its expect.auth when about the login,
 * else its first saw: glob naming one) as a key; 0 if none. */
static int named_login(const struct mp_case *c, char *key)
{
  int proto = (int)c->probe.type;
  size_t i, j;

  if (about_login(c) && c->expect.auth &&
      strcasecmp(c->expect.auth, "none") != 0) {
    key_of(c->expect.auth, strlen(c->expect.auth), proto, 0, key);
    return 1;
  }
  for (i = 0; i < c->expect.nservers; i++)
    for (j = 0; j < c->expect.servers[i].nsaw; j++)
      if (glob_mech(c->expect.servers[i].saw[j], proto, key))
        return 1;
  return 0;
}

int mp_subject_mech_choice(const struct mp_subject *s, const struct mp_case *c,
                           char *why, size_t whylen)
{
  int proto = (int)c->probe.type;
  const struct mp_fake_config *f;
  char key[KEY_MAX], other[KEY_MAX];
  size_t i;

  if (!s || s->builtin || s->nmechanisms == 0 || !c->probe.user ||
      (f = server_of(c)) == NULL || !named_login(c, key))
    return 0;
  for (i = 0; i < s->nmechanisms; i++) {
    key_of(s->mechanisms[i], strlen(s->mechanisms[i]), proto, 0, other);
    if (strcmp(other, key) != 0 && offers(f, other)) {
      snprintf(why, whylen,
               "the case holds mailprobe's pick of %s; the server also "
               "offers %s, which it speaks",
               strchr(key, ':') + 1, s->mechanisms[i]);
      return 1;
    }
  }
  return 0;
}
