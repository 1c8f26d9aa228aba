/* The SASL mechanism table, strongest first, and the mechanisms written
 * here (PLAIN, LOGIN, CRAM-MD5) with the client and the server half of
 * each side by side; the client and server sessions that run them. SCRAM's
 * halves go through GNU SASL in wire/sasl_scram.c. */
#include "wire/sasl.h"

#include "wire/codec.h"
#include "wire/errors.h"
#include "wire/sasl_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Copies len bytes into a fresh message. */
int mp_sasl__raw_set(struct raw *out, const void *buf, size_t len)
{
  out->buf = malloc(len + 1);
  if (out->buf == NULL)
    return MP_E_NO_RESOURCES;
  if (len > 0)
    memcpy(out->buf, buf, len);
  out->buf[len] = '\0';
  out->len = len;
  return 0;
}

/* Turns a message into the base64 text the caller sends; empty_ir picks
 * RFC 4954's "=" for an empty initial response. */
static int raw_to_b64(struct raw *msg, int empty_ir, char **out)
{
  *out = NULL;
  if (msg->buf == NULL)
    return 0;
  if (msg->len == 0 && empty_ir)
    *out = strdup("=");
  else
    *out = mp_b64_encode(msg->buf, msg->len);
  free(msg->buf);
  msg->buf = NULL;
  return *out == NULL ? MP_E_NO_RESOURCES : 0;
}

/* A password check that takes the same time wherever the bytes differ. */
static int password_ok(const char *want, const unsigned char *got,
                       size_t gotlen)
{
  return want != NULL && mp_ct_equal(want, strlen(want), got, gotlen);
}

/* --- PLAIN (RFC 4616). --- */

static int plain_client(struct mp_sasl_client *c, const unsigned char *in,
                        size_t len, int have_in, struct raw *out)
{
  size_t ulen = strlen(c->user), plen = strlen(c->password);
  unsigned char *msg;

  /* RFC 4616 section 2: the client speaks first; a server that did not
   * take an initial response sends an empty challenge. Anything after
   * the message is a server out of step. */
  if (c->phase != 0 || (have_in && len != 0))
    return MP_E_PROTOCOL_ERROR;
  /* message = [authzid] NUL authcid NUL passwd; no authzid: act as the
   * user we log in as. */
  msg = malloc(ulen + plen + 2);
  if (msg == NULL)
    return MP_E_NO_RESOURCES;
  msg[0] = '\0';
  memcpy(msg + 1, c->user, ulen);
  msg[1 + ulen] = '\0';
  memcpy(msg + 2 + ulen, c->password, plen);
  out->buf = msg;
  out->len = ulen + plen + 2;
  c->phase = 1;
  return MP_SASL_CONTINUE;
}

static int plain_server(struct mp_sasl_server *s, const unsigned char *in,
                        size_t len, int have_in, struct raw *out)
{
  const unsigned char *nul1, *nul2, *authcid, *pw;
  size_t zlen, clen, plen;
  const char *want;

  /* RFC 4616 section 2: no initial response: an empty challenge. */
  if (!have_in && s->phase == 0) {
    s->phase = 1;
    return mp_sasl__raw_set(out, "", 0) < 0 ? MP_E_NO_RESOURCES
                                            : MP_SASL_CONTINUE;
  }
  /* message = [authzid] UTF8NUL authcid UTF8NUL passwd, with authcid and
   * passwd 1*SAFE (no NUL). */
  nul1 = memchr(in, '\0', len);
  if (nul1 == NULL)
    return MP_E_PROTOCOL_ERROR;
  zlen = (size_t)(nul1 - in);
  authcid = nul1 + 1;
  nul2 = memchr(authcid, '\0', len - zlen - 1);
  if (nul2 == NULL)
    return MP_E_PROTOCOL_ERROR;
  clen = (size_t)(nul2 - authcid);
  pw = nul2 + 1;
  plen = len - zlen - clen - 2;
  if (clen == 0 || plen == 0 || memchr(pw, '\0', plen) != NULL)
    return MP_E_PROTOCOL_ERROR;
  /* We authorize no one as anyone else: the authzid is empty or the
   * authcid itself (RFC 4616 section 2, the server decides). */
  if (zlen != 0 && (zlen != clen || memcmp(in, authcid, clen) != 0))
    return MP_E_AUTH_FAILED;
  s->user = strndup((const char *)authcid, clen);
  if (s->user == NULL)
    return MP_E_NO_RESOURCES;
  want = s->lookup != NULL ? s->lookup(s->data, s->user) : NULL;
  if (!password_ok(want, pw, plen))
    return MP_E_AUTH_FAILED;
  return MP_SASL_DONE;
}

/* --- LOGIN (draft-murchison-sasl-login-00). --- */

static int login_client(struct mp_sasl_client *c, const unsigned char *in,
                        size_t len, int have_in, struct raw *out)
{
  const char *answer;

  /* Section 2: no initial response; the server asks for the user name,
   * then the password. Servers word the prompts differently ("Username:",
   * "User Name"), so the order decides, not the text. */
  if (!have_in)
    return 0;
  if (c->phase == 0)
    answer = c->user;
  else if (c->phase == 1)
    answer = c->password;
  else
    return MP_E_PROTOCOL_ERROR;
  c->phase++;
  if (mp_sasl__raw_set(out, answer, strlen(answer)) < 0)
    return MP_E_NO_RESOURCES;
  return MP_SASL_CONTINUE;
}

static int login_server(struct mp_sasl_server *s, const unsigned char *in,
                        size_t len, int have_in, struct raw *out)
{
  static const char user_prompt[] = "Username:";
  static const char pass_prompt[] = "Password:";
  const char *want;

  switch (s->phase) {
  case 0:
    /* A client may put the user name in an initial response (RFC 4954
     * allows one for any mechanism; Postfix and Dovecot take it). */
    if (!have_in || len == 0) {
      s->phase = 1;
      return mp_sasl__raw_set(out, user_prompt, strlen(user_prompt)) < 0
                 ? MP_E_NO_RESOURCES
                 : MP_SASL_CONTINUE;
    }
    /* The initial response is the user name: fall through. */
    /* FALLTHROUGH */
  case 1:
    if (memchr(in, '\0', len) != NULL)
      return MP_E_PROTOCOL_ERROR;
    s->user = strndup((const char *)in, len);
    if (s->user == NULL)
      return MP_E_NO_RESOURCES;
    s->phase = 2;
    return mp_sasl__raw_set(out, pass_prompt, strlen(pass_prompt)) < 0
               ? MP_E_NO_RESOURCES
               : MP_SASL_CONTINUE;
  case 2:
    s->phase = 3;
    want = s->lookup != NULL ? s->lookup(s->data, s->user) : NULL;
    if (!password_ok(want, in, len))
      return MP_E_AUTH_FAILED;
    return MP_SASL_DONE;
  default:
    return MP_E_PROTOCOL_ERROR;
  }
}

/* --- CRAM-MD5 (RFC 2195). --- */

static int cram_client(struct mp_sasl_client *c, const unsigned char *in,
                       size_t len, int have_in, struct raw *out)
{
  unsigned char mac[16];
  size_t ulen = strlen(c->user);

  /* Section 2: the server speaks first with a challenge; the answer is
   * the user name, a space and hex(HMAC-MD5(password, challenge)). */
  if (!have_in)
    return 0;
  if (c->phase != 0 || len == 0)
    return MP_E_PROTOCOL_ERROR;
  if (mp_hmac_md5(c->password, strlen(c->password), in, len, mac) < 0)
    return MP_E_NO_RESOURCES;
  out->buf = malloc(ulen + 1 + 32 + 1);
  if (out->buf == NULL)
    return MP_E_NO_RESOURCES;
  memcpy(out->buf, c->user, ulen);
  out->buf[ulen] = ' ';
  mp_hex(mac, sizeof mac, (char *)out->buf + ulen + 1);
  out->len = ulen + 1 + 32;
  c->phase = 1;
  return MP_SASL_CONTINUE;
}

/* A fresh challenge "<random.timestamp@hostname>" (RFC 2195 section 2:
 * the msg-id form of RFC 822, unique per exchange). */
static char *cram_challenge(const char *hostname)
{
  unsigned r;
  char *ch;

  if (mp_random(&r, sizeof r) < 0)
    return NULL;
  if (asprintf(&ch, "<%u.%lld@%s>", r, (long long)time(NULL),
               hostname != NULL && *hostname != '\0' ? hostname : "localhost") <
      0)
    return NULL;
  return ch;
}

static int cram_server(struct mp_sasl_server *s, const unsigned char *in,
                       size_t len, int have_in, struct raw *out)
{
  unsigned char want_mac[16], got_mac[16];
  const unsigned char *sp, *hex;
  const char *pw;

  if (s->phase == 0) {
    /* The server speaks first: an initial response has no place here. */
    if (have_in)
      return MP_E_PROTOCOL_ERROR;
    s->challenge =
        s->fixed != NULL ? strdup(s->fixed) : cram_challenge(s->hostname);
    if (s->challenge == NULL)
      return MP_E_NO_RESOURCES;
    s->phase = 1;
    if (mp_sasl__raw_set(out, s->challenge, strlen(s->challenge)) < 0)
      return MP_E_NO_RESOURCES;
    return MP_SASL_CONTINUE;
  }
  /* "user SP digest": the digest is 32 hex digits and has no space, so
   * the last space splits (a user name may contain spaces). */
  if (len < 34)
    return MP_E_PROTOCOL_ERROR;
  sp = in + len - 33;
  hex = sp + 1;
  if (*sp != ' ' || memchr(in, '\0', len) != NULL)
    return MP_E_PROTOCOL_ERROR;
  if (mp_unhex((const char *)hex, sizeof got_mac, got_mac) < 0)
    return MP_E_PROTOCOL_ERROR;
  s->user = strndup((const char *)in, (size_t)(sp - in));
  if (s->user == NULL)
    return MP_E_NO_RESOURCES;
  pw = s->lookup != NULL ? s->lookup(s->data, s->user) : NULL;
  if (pw == NULL)
    return MP_E_AUTH_FAILED;
  if (mp_hmac_md5(pw, strlen(pw), s->challenge, strlen(s->challenge),
                  want_mac) < 0)
    return MP_E_NO_RESOURCES;
  if (!mp_ct_equal(want_mac, sizeof want_mac, got_mac, sizeof got_mac))
    return MP_E_AUTH_FAILED;
  return MP_SASL_DONE;
}

/* The mechanisms, strongest first (the order of enum mp_sasl_mech). */
static const struct mech {
  const char *name; /* as advertised; also GNU SASL's name for SCRAM */
  int cleartext;    /* the password crosses the wire readable */
  client_fn client;
  server_fn server;
} mechs[MP_SASL_COUNT] = {
    [MP_SASL_SCRAM_SHA_256] = {"SCRAM-SHA-256", 0, mp_sasl__scram_client,
                               mp_sasl__scram_server},
    [MP_SASL_SCRAM_SHA_1] = {"SCRAM-SHA-1", 0, mp_sasl__scram_client,
                             mp_sasl__scram_server},
    [MP_SASL_CRAM_MD5] = {"CRAM-MD5", 0, cram_client, cram_server},
    [MP_SASL_LOGIN] = {"LOGIN", 1, login_client, login_server},
    [MP_SASL_PLAIN] = {"PLAIN", 1, plain_client, plain_server},
    /* A bearer token is as good as a password to whoever reads it. */
    [MP_SASL_OAUTHBEARER] = {"OAUTHBEARER", 1, mp_sasl__oauth_client,
                             mp_sasl__oauth_server},
    [MP_SASL_XOAUTH2] = {"XOAUTH2", 1, mp_sasl__oauth_client,
                         mp_sasl__oauth_server},
};

const char *mp_sasl_name(int mech)
{
  if (mech < 0 || mech >= MP_SASL_COUNT)
    return NULL;
  return mechs[mech].name;
}

int mp_sasl_from_name(const char *name)
{
  int m;

  if (name == NULL)
    return -1;
  for (m = 0; m < MP_SASL_COUNT; m++)
    if (strcasecmp(name, mechs[m].name) == 0)
      return m;
  return -1;
}

int mp_sasl_is_cleartext(int mech)
{
  return mech >= 0 && mech < MP_SASL_COUNT && mechs[mech].cleartext;
}

int mp_sasl_is_bearer(int mech)
{
  return mech >= 0 && mech < MP_SASL_COUNT &&
         (MP_SASL_BIT(mech) & MP_SASL_BEARER);
}

unsigned mp_sasl_mask_from_list(const char *list)
{
  char word[32];
  unsigned mask = 0;
  size_t n;
  int m;

  if (list == NULL)
    return 0;
  while (*list != '\0') {
    n = strcspn(list, " \t,");
    if (n > 0 && n < sizeof word) {
      memcpy(word, list, n);
      word[n] = '\0';
      m = mp_sasl_from_name(word);
      if (m >= 0)
        mask |= MP_SASL_BIT(m);
    }
    list += n;
    list += strspn(list, " \t,");
  }
  return mask;
}

int mp_sasl_choose(unsigned advertised, unsigned allowed, unsigned tried)
{
  unsigned ok = advertised & allowed & ~tried;
  int m;

  if (ok & MP_SASL_BIT(MP_SASL_OAUTHBEARER))
    return MP_SASL_OAUTHBEARER;
  if (ok & MP_SASL_BIT(MP_SASL_XOAUTH2))
    return MP_SASL_XOAUTH2;
  for (m = 0; m < MP_SASL_COUNT; m++)
    if (ok & MP_SASL_BIT(m))
      return m;
  return -1;
}

/* --- The client half. --- */

struct mp_sasl_client *mp_sasl_client_new(int mech, const char *user,
                                          const char *password)
{
  struct mp_sasl_client *c;

  if (mech < 0 || mech >= MP_SASL_COUNT || user == NULL || password == NULL)
    return NULL;
  c = calloc(1, sizeof *c);
  if (c == NULL)
    return NULL;
  c->mech = mech;
  c->user = strdup(user);
  c->password = strdup(password);
  if (c->user == NULL || c->password == NULL) {
    mp_sasl_client_free(c);
    return NULL;
  }
  return c;
}

/* Wipes a secret before it goes back to the allocator. */
static void free_secret(char *p)
{
  if (p != NULL) {
    /* volatile so the compiler keeps the stores. */
    volatile char *v = p;
    while (*v != '\0')
      *v++ = '\0';
    free(p);
  }
}

void mp_sasl_client_free(struct mp_sasl_client *c)
{
  if (c == NULL)
    return;
  mp_sasl__scram_finish(c->gs);
  free(c->user);
  free_secret(c->password);
  free(c->nonce);
  free(c->host);
  mp_sasl_oauth_error_clear(&c->oauth);
  free(c);
}

int mp_sasl_client_initial(struct mp_sasl_client *c, char **out)
{
  struct raw msg = {NULL, 0};
  int rc;

  *out = NULL;
  if (c->step != 0 || c->ended)
    return MP_E_PROTOCOL_ERROR;
  c->step++;
  rc = mechs[c->mech].client(c, NULL, 0, 0, &msg);
  if (rc < 0) {
    c->ended = 1;
    return rc;
  }
  return raw_to_b64(&msg, 1, out);
}

int mp_sasl_client_step(struct mp_sasl_client *c, const char *challenge,
                        char **out)
{
  struct raw msg = {NULL, 0};
  unsigned char *in;
  size_t len = 0;
  int rc, err;

  *out = NULL;
  if (c->ended || challenge == NULL)
    return MP_E_PROTOCOL_ERROR;
  in = mp_b64_decode(challenge, &len);
  if (in == NULL) {
    c->ended = 1;
    return MP_E_PROTOCOL_ERROR;
  }
  c->step++;
  rc = mechs[c->mech].client(c, in, len, 1, &msg);
  free(in);
  if (rc == MP_SASL_CONTINUE && msg.buf == NULL)
    rc = MP_E_PROTOCOL_ERROR;
  if (rc < 0 || rc == MP_SASL_DONE)
    c->ended = 1;
  if (rc < 0) {
    free(msg.buf);
    return rc;
  }
  err = raw_to_b64(&msg, 0, out);
  return err < 0 ? err : rc;
}

void mp_sasl_client_set_target(struct mp_sasl_client *c, const char *host,
                               unsigned port)
{
  free(c->host);
  c->host = host != NULL ? strdup(host) : NULL;
  c->port = port;
}

const struct mp_sasl_oauth_error *
mp_sasl_client_oauth_error(const struct mp_sasl_client *c)
{
  return c != NULL && c->got_error ? &c->oauth : NULL;
}

void mp_sasl_client_set_nonce(struct mp_sasl_client *c, const char *nonce)
{
  free(c->nonce);
  c->nonce = nonce != NULL ? strdup(nonce) : NULL;
}

/* --- The server half. --- */

struct mp_sasl_server *mp_sasl_server_new(int mech, const char *hostname,
                                          mp_sasl_lookup_cb lookup, void *data)
{
  struct mp_sasl_server *s;

  if (mech < 0 || mech >= MP_SASL_COUNT || lookup == NULL)
    return NULL;
  s = calloc(1, sizeof *s);
  if (s == NULL)
    return NULL;
  s->mech = mech;
  s->lookup = lookup;
  s->data = data;
  s->hostname = strdup(hostname != NULL ? hostname : "localhost");
  if (s->hostname == NULL) {
    free(s);
    return NULL;
  }
  return s;
}

void mp_sasl_server_free(struct mp_sasl_server *s)
{
  if (s == NULL)
    return;
  mp_sasl__scram_finish(s->gs);
  free(s->hostname);
  free(s->fixed);
  free(s->challenge);
  free(s->user);
  free(s);
}

/* Runs the mechanism on a decoded message and settles the state. */
static int server_run(struct mp_sasl_server *s, const char *b64, int have_in,
                      char **out)
{
  struct raw msg = {NULL, 0};
  unsigned char *in = NULL;
  size_t len = 0;
  int rc, err;

  if (have_in) {
    /* RFC 4954 section 4: "=" is the empty initial response. */
    if (s->state == SERVER_NEW && strcmp(b64, "=") == 0)
      in = (unsigned char *)strdup("");
    else
      in = mp_b64_decode(b64, &len);
    if (in == NULL) {
      s->state = SERVER_FAILED;
      return MP_E_PROTOCOL_ERROR;
    }
  }
  s->state = SERVER_RUNNING;
  rc = mechs[s->mech].server(s, in, len, have_in, &msg);
  free(in);
  if (rc == MP_SASL_CONTINUE && msg.buf == NULL)
    rc = MP_E_PROTOCOL_ERROR;
  if (rc < 0) {
    free(msg.buf);
    s->state = SERVER_FAILED;
    return rc;
  }
  if (rc == MP_SASL_DONE) {
    free(msg.buf);
    s->state = SERVER_DONE;
    return MP_SASL_DONE;
  }
  err = raw_to_b64(&msg, 0, out);
  if (err < 0) {
    s->state = SERVER_FAILED;
    return err;
  }
  return MP_SASL_CONTINUE;
}

int mp_sasl_server_start(struct mp_sasl_server *s, const char *initial,
                         char **out)
{
  *out = NULL;
  if (s->state != SERVER_NEW)
    return MP_E_PROTOCOL_ERROR;
  return server_run(s, initial, initial != NULL, out);
}

int mp_sasl_server_step(struct mp_sasl_server *s, const char *response,
                        char **out)
{
  *out = NULL;
  if (s->state != SERVER_RUNNING || response == NULL)
    return MP_E_PROTOCOL_ERROR;
  /* RFC 4954 section 4: "*" cancels the exchange. */
  if (strcmp(response, "*") == 0) {
    s->state = SERVER_FAILED;
    return MP_E_AUTH_FAILED;
  }
  return server_run(s, response, 1, out);
}

const char *mp_sasl_server_user(const struct mp_sasl_server *s)
{
  return s->state == SERVER_DONE ? s->user : NULL;
}

void mp_sasl_server_set_bearer(struct mp_sasl_server *s, mp_sasl_bearer_cb cb,
                               void *data)
{
  s->bearer = cb;
  s->bearer_data = data;
}

void mp_sasl_server_set_challenge(struct mp_sasl_server *s, const char *ch)
{
  free(s->fixed);
  s->fixed = ch != NULL ? strdup(ch) : NULL;
}
