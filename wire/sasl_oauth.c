/* OAUTHBEARER (RFC 7628) and XOAUTH2 (Google's and Microsoft's older
 * mechanism of the same shape), both halves, and the JSON error challenge
 * a server answers a refused token with. The JSON goes through Jansson. */
#include "wire/sasl_internal.h"

#include "wire/errors.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* RFC 7628 3.1: key/value pairs are separated by kvsep, %x01. */
#define KVSEP '\001'

/* --- the error challenge --------------------------------------------- */

void mp_sasl_oauth_error_clear(struct mp_sasl_oauth_error *e)
{
  free(e->status);
  free(e->scope);
  free(e->schemes);
  memset(e, 0, sizeof *e);
}

/* A copy of the string member key of o, or NULL when it is absent or not
 * a string (Google writes "status" as the string "400"; a number is
 * taken too, as its decimal text). */
static int member(json_t *o, const char *key, char **out)
{
  json_t *v = json_object_get(o, key);
  char num[32];
  const char *text = NULL;
  if (json_is_string(v))
    text = json_string_value(v);
  else if (json_is_integer(v)) {
    snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
    text = num;
  }
  if (text == NULL)
    return 0;
  *out = strdup(text);
  return *out == NULL ? MP_E_NO_RESOURCES : 0;
}

int mp_sasl_oauth_error_parse(const void *buf, size_t len,
                              struct mp_sasl_oauth_error *e)
{
  json_error_t jerr;
  memset(e, 0, sizeof *e);
  /* RFC 7628 3.2.2: the challenge is a JSON object (RFC 8259); Google
   * ends it with a line feed, which JSON allows as white space. A NUL
   * inside is no JSON. */
  json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!json_is_object(o)) {
    json_decref(o);
    e->not_json = 1;
    return MP_E_PROTOCOL_ERROR;
  }
  int rc = member(o, "status", &e->status);
  if (rc == 0)
    rc = member(o, "scope", &e->scope);
  if (rc == 0)
    rc = member(o, "schemes", &e->schemes);
  json_decref(o);
  if (rc < 0)
    mp_sasl_oauth_error_clear(e);
  return rc;
}

/* --- the client half -------------------------------------------------- */

/* OAUTHBEARER's gs2-header names the user as a saslname: "," is "=2C"
 * and "=" is "=3D" (RFC 7628 3.1, RFC 5801 4). */
static size_t saslname(char *out, const char *user)
{
  size_t n = 0;
  for (const char *u = user; *u; u++) {
    if (*u == ',' || *u == '=') {
      if (out)
        memcpy(out + n, *u == ',' ? "=2C" : "=3D", 3);
      n += 3;
    } else {
      if (out)
        out[n] = *u;
      n++;
    }
  }
  return n;
}

/* The client's one message: XOAUTH2 "user=U^Aauth=Bearer T^A^A";
 * OAUTHBEARER (RFC 7628 3.1) "n,a=U,^Ahost=H^Aport=P^Aauth=Bearer T^A^A".
 * A user or token with a kvsep in it would change the message's meaning:
 * refused. */
static int client_message(struct mp_sasl_client *c, struct raw *out)
{
  if (strchr(c->user, KVSEP) || strchr(c->password, KVSEP) ||
      (c->host && strchr(c->host, KVSEP)))
    return MP_E_AUTH_FAILED;
  size_t cap = saslname(NULL, c->user) + strlen(c->password) +
               (c->host ? strlen(c->host) : 0) + 64;
  char *m = malloc(cap);
  if (m == NULL)
    return MP_E_NO_RESOURCES;
  size_t n;
  if (c->mech == MP_SASL_XOAUTH2) {
    n = (size_t)snprintf(m, cap, "user=%s%c", c->user, KVSEP);
  } else {
    memcpy(m, "n,a=", 4);
    n = 4 + saslname(m + 4, c->user);
    m[n++] = ',';
    m[n++] = KVSEP;
    if (c->host)
      n += (size_t)snprintf(m + n, cap - n, "host=%s%c", c->host, KVSEP);
    if (c->port)
      n += (size_t)snprintf(m + n, cap - n, "port=%u%c", c->port, KVSEP);
  }
  n += (size_t)snprintf(m + n, cap - n, "auth=Bearer %s%c%c", c->password,
                        KVSEP, KVSEP);
  out->buf = (unsigned char *)m;
  out->len = n;
  return MP_SASL_CONTINUE;
}

int mp_sasl__oauth_client(struct mp_sasl_client *c, const unsigned char *in,
                          size_t len, int have_in, struct raw *out)
{
  /* The client speaks first (RFC 7628 3.2.1); a server that took no
   * initial response sends an empty challenge first. */
  if (c->phase == 0) {
    if (have_in && len != 0)
      return MP_E_PROTOCOL_ERROR;
    c->phase = 1;
    return client_message(c, out);
  }
  /* A challenge after our message is the server's error (RFC 7628
   * 3.2.2). It is decoded for the result even when it is no JSON. */
  if (c->phase != 1 || !have_in)
    return MP_E_PROTOCOL_ERROR;
  c->phase = 2;
  c->got_error = 1;
  if (mp_sasl_oauth_error_parse(in, len, &c->oauth) == MP_E_NO_RESOURCES)
    return MP_E_NO_RESOURCES;
  /* RFC 7628 3.2.3: the client answers a single %x01 so the server can
   * finish with its failure; Google's XOAUTH2 wants an empty response. */
  if (c->mech == MP_SASL_OAUTHBEARER)
    return mp_sasl__raw_set(out, "\001", 1) < 0 ? MP_E_NO_RESOURCES
                                                : MP_SASL_CONTINUE;
  return mp_sasl__raw_set(out, "", 0) < 0 ? MP_E_NO_RESOURCES
                                          : MP_SASL_CONTINUE;
}

/* --- the server half -------------------------------------------------- */

/* The value of key in the kvsep-separated pairs at p (n bytes), as a
 * fresh string, or NULL (absent, or no memory: *oom). */
static char *kv_value(const char *p, size_t n, const char *key, int *oom)
{
  size_t kl = strlen(key);
  while (n > 0) {
    const char *end = memchr(p, KVSEP, n);
    size_t pl = end ? (size_t)(end - p) : n;
    if (pl > kl && p[kl] == '=' && memcmp(p, key, kl) == 0) {
      char *v = strndup(p + kl + 1, pl - kl - 1);
      *oom = v == NULL;
      return v;
    }
    if (!end)
      break;
    n -= pl + 1;
    p = end + 1;
  }
  return NULL;
}

/* Undoes saslname's escapes (RFC 5801 4): NULL when malformed. */
static char *unsaslname(const char *s, size_t n)
{
  char *u = malloc(n + 1), *o = u;
  if (u == NULL)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '=') {
      *o++ = s[i];
    } else if (i + 2 < n && s[i + 1] == '2' && s[i + 2] == 'C') {
      *o++ = ',';
      i += 2;
    } else if (i + 2 < n && s[i + 1] == '3' && s[i + 2] == 'D') {
      *o++ = '=';
      i += 2;
    } else {
      free(u);
      return NULL;
    }
  }
  *o = '\0';
  return u;
}

/* Splits the client's message into the user (may be "") and the token:
 * 0, MP_E_PROTOCOL_ERROR for a malformed one, MP_E_NO_RESOURCES. */
static int server_parse(int mech, const char *m, size_t len, char **user,
                        char **token)
{
  const char *kv = m;
  size_t kvlen = len;
  int oom = 0;
  *user = *token = NULL;
  /* The message ends with two kvseps (RFC 7628 3.1); no NUL inside. */
  if (len < 2 || m[len - 1] != KVSEP || m[len - 2] != KVSEP ||
      memchr(m, '\0', len))
    return MP_E_PROTOCOL_ERROR;
  if (mech == MP_SASL_OAUTHBEARER) {
    /* gs2-header: "n" or "y" (no channel binding), "," [a=saslname] "," */
    if (len < 3 || (m[0] != 'n' && m[0] != 'y') || m[1] != ',')
      return MP_E_PROTOCOL_ERROR;
    const char *a = m + 2, *comma = memchr(a, ',', len - 2);
    if (!comma || comma[1] != KVSEP)
      return MP_E_PROTOCOL_ERROR;
    if (comma > a) {
      if (comma - a < 2 || a[0] != 'a' || a[1] != '=')
        return MP_E_PROTOCOL_ERROR;
      *user = unsaslname(a + 2, (size_t)(comma - a - 2));
    } else {
      *user = strdup("");
    }
    if (!*user)
      return MP_E_PROTOCOL_ERROR;
    kv = comma + 2;
    kvlen = len - (size_t)(kv - m);
  } else {
    *user = kv_value(kv, kvlen, "user", &oom);
    if (!*user)
      return oom ? MP_E_NO_RESOURCES : MP_E_PROTOCOL_ERROR;
  }
  char *auth = kv_value(kv, kvlen, "auth", &oom);
  /* "auth=Bearer <token>": the scheme is case-insensitive (RFC 6750 2.1,
   * RFC 7235 2.1). */
  if (!auth || strncasecmp(auth, "Bearer ", 7) != 0 || !auth[7]) {
    free(auth);
    free(*user);
    *user = NULL;
    return oom ? MP_E_NO_RESOURCES : MP_E_PROTOCOL_ERROR;
  }
  *token = strdup(auth + 7);
  /* The token is a secret: wipe the copy before freeing it. */
  memset(auth, 0, strlen(auth));
  free(auth);
  if (!*token) {
    free(*user);
    *user = NULL;
    return MP_E_NO_RESOURCES;
  }
  return 0;
}

int mp_sasl__oauth_server(struct mp_sasl_server *s, const unsigned char *in,
                          size_t len, int have_in, struct raw *out)
{
  switch (s->phase) {
  case 0:
    if (!have_in) { /* no initial response: an empty challenge asks */
      s->phase = 1;
      return mp_sasl__raw_set(out, "", 0) < 0 ? MP_E_NO_RESOURCES
                                              : MP_SASL_CONTINUE;
    }
    /* FALLTHROUGH */
  case 1: {
    char *user, *token, *error = NULL, *who = NULL;
    int rc = server_parse(s->mech, (const char *)in, len, &user, &token);
    if (rc < 0)
      return rc;
    rc = s->bearer ? s->bearer(s->bearer_data, user, token, &who, &error)
                   : MP_E_AUTH_FAILED;
    memset(token, 0, strlen(token));
    free(token);
    if (rc == 0 && who) { /* the token's owner */
      free(user);
      user = who;
      who = NULL;
    }
    free(who);
    if (rc == 0) {
      free(error);
      s->user = user;
      s->phase = 3;
      return MP_SASL_DONE;
    }
    free(user);
    if (error == NULL)
      return rc < 0 ? rc : MP_E_AUTH_FAILED;
    /* RFC 7628 3.2.2: the error goes out as a challenge; the client's
     * answer then ends the exchange in failure. */
    s->phase = 2;
    out->buf = (unsigned char *)error;
    out->len = strlen(error);
    return MP_SASL_CONTINUE;
  }
  case 2:
    /* RFC 7628 3.2.3: a single %x01; Google's XOAUTH2: an empty line. A
     * client that sends anything else is out of step. */
    s->phase = 3;
    if (s->mech == MP_SASL_OAUTHBEARER ? len == 1 && in[0] == KVSEP : len == 0)
      return MP_E_AUTH_FAILED;
    return MP_E_PROTOCOL_ERROR;
  default:
    return MP_E_PROTOCOL_ERROR;
  }
}
