/* Authentication of the HTTP room: a bearer token, or basic auth against
 * bcrypt hashes (libcrypt's crypt_r, on libuv's thread pool as one check
 * costs tens of milliseconds of CPU), with a keyed digest of the last
 * password that matched per user so a scraper's repeated requests skip
 * bcrypt. RFC 7617 (basic), RFC 6750 2.1 (bearer). */
#include "harness/http/http_internal.h"

#include <crypt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wire/codec.h"

/* The keyed digest of a password, for the cache. */
static int digest(const struct mp_http *h, const char *pass,
                  unsigned char out[16])
{
  return mp_hmac_md5(h->cache_key, sizeof h->cache_key, pass, strlen(pass),
                     out);
}

static void bcrypt_work(uv_work_t *w)
{
  struct mp_http_req *r = w->data;
  struct crypt_data *cd = calloc(1, sizeof *cd);
  const char *hash = r->http->users[r->auth_user].hash;
  const char *got;
  if (cd == NULL)
    return;
  got = crypt_r(r->auth_pass, hash, cd);
  r->auth_ok = got != NULL && got[0] != '*' &&
               mp_ct_equal(got, strlen(got), hash, strlen(hash));
  memset(cd, 0, sizeof *cd);
  free(cd);
}

static void bcrypt_done(uv_work_t *w, int status)
{
  struct mp_http_req *r = w->data;
  struct mp_http_user *u = &r->http->users[r->auth_user];
  if (status == 0 && r->auth_ok) {
    u->cached = digest(r->http, r->auth_pass, u->ok) == 0;
    mp_http_dispatch(r);
  } else {
    mp_http_fail(r, 401, "unauthorized");
  }
}

/* "Basic base64(user:pass)": 1 allowed, 0 answered, 2 checking. */
static int check_basic(struct mp_http_req *r, const char *cred)
{
  struct mp_http *h = r->http;
  size_t len;
  unsigned char *raw = mp_b64_decode(cred, &len), d[16];
  char *colon;
  int user = -1;

  if (raw == NULL || memchr(raw, '\0', len) != NULL ||
      (colon = memchr(raw, ':', len)) == NULL) {
    free(raw);
    mp_http_fail(r, 401, "unauthorized");
    return 0;
  }
  *colon = '\0';
  raw[len] = '\0';
  for (size_t i = 0; i < h->nusers; i++)
    if (strcmp(h->users[i].name, (char *)raw) == 0)
      user = (int)i;
  r->auth_pass = user >= 0 ? strdup(colon + 1) : NULL;
  memset(raw, 0, len);
  free(raw);
  if (r->auth_pass == NULL) {
    mp_http_fail(r, 401, "unauthorized");
    return 0;
  }
  if (digest(h, r->auth_pass, d) == 0 && h->users[user].cached &&
      mp_ct_equal(d, 16, h->users[user].ok, 16))
    return 1;
  r->auth_user = user;
  r->work.data = r;
  if (uv_queue_work(h->loop, &r->work, bcrypt_work, bcrypt_done) != 0) {
    mp_http_fail(r, 503, "cannot check the password now");
    return 0;
  }
  return 2;
}

int mp_http_auth(struct mp_http_req *r)
{
  struct mp_http *h = r->http;
  char hdr[1024];
  long n;

  if (h->nusers == 0 && h->bearer == NULL)
    return 1;
  n = mp_http_header(r, "authorization", hdr, sizeof hdr);
  if (n < 0 || (size_t)n >= sizeof hdr) {
    mp_http_fail(r, 401, "unauthorized");
    return 0;
  }
  if (h->bearer != NULL && strncasecmp(hdr, "Bearer ", 7) == 0) {
    const char *tok = hdr + 7;
    if (mp_ct_equal(tok, strlen(tok), h->bearer, strlen(h->bearer)))
      return 1;
  } else if (h->nusers > 0 && strncasecmp(hdr, "Basic ", 6) == 0) {
    return check_basic(r, hdr + 6);
  }
  mp_http_fail(r, 401, "unauthorized");
  return 0;
}
