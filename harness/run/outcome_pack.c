/* Outcomes as bytes (harness/run/outcome_pack.h). */
#include "harness/run/outcome_pack.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness/report/report.h"
#include "probes/result.h"
#include "wire/grow.h"
#include "wire/sasl.h"

#define MAGIC "MPO1"
#define NO_STRING UINT32_MAX

struct wbuf {
  char *p;
  size_t len, cap;
  int oom;
};

static void put(struct wbuf *w, const void *src, size_t n)
{
  if (w->oom)
    return;
  if (w->len + n > w->cap && mp_grow(&w->p, &w->cap, w->len + n, 256) < 0) {
    w->oom = 1;
    return;
  }
  memcpy(w->p + w->len, src, n);
  w->len += n;
}

static void put_u32(struct wbuf *w, uint32_t v)
{
  put(w, &v, sizeof(v));
}

static void put_i64(struct wbuf *w, int64_t v)
{
  put(w, &v, sizeof(v));
}

/* A length and the bytes; NULL is its own length. */
static void put_str(struct wbuf *w, const char *s)
{
  if (!s) {
    put_u32(w, NO_STRING);
    return;
  }
  size_t n = strlen(s);
  put_u32(w, (uint32_t)n);
  put(w, s, n);
}

struct rbuf {
  const char *p;
  size_t left;
  int bad;
};

static void get(struct rbuf *r, void *dst, size_t n)
{
  if (r->bad || n > r->left) {
    r->bad = 1;
    memset(dst, 0, n);
    return;
  }
  memcpy(dst, r->p, n);
  r->p += n;
  r->left -= n;
}

static uint32_t get_u32(struct rbuf *r)
{
  uint32_t v;
  get(r, &v, sizeof(v));
  return v;
}

static int64_t get_i64(struct rbuf *r)
{
  int64_t v;
  get(r, &v, sizeof(v));
  return v;
}

/* A malloc'd copy, or NULL (for NULL, or when cut short: then r->bad). */
static char *get_str(struct rbuf *r)
{
  uint32_t n = get_u32(r);
  char *s;

  if (r->bad || n == NO_STRING)
    return NULL;
  if (n > r->left) {
    r->bad = 1;
    return NULL;
  }
  s = malloc((size_t)n + 1);
  if (!s) {
    r->bad = 1;
    return NULL;
  }
  memcpy(s, r->p, n);
  s[n] = '\0';
  r->p += n;
  r->left -= n;
  return s;
}

/* result->auth points at a static name: find the same name here. */
static const char *auth_name(const char *s)
{
  static const char *const others[] = {"APOP", "USER", "LOGIN"};
  int m = mp_sasl_from_name(s);

  if (m >= 0)
    return mp_sasl_name(m);
  for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
    if (strcmp(s, others[i]) == 0)
      return others[i];
  return NULL;
}

static void pack_result(struct wbuf *w, const struct mp_result *r)
{
  put_i64(w, r->ok);
  put_i64(w, r->warn);
  put_i64(w, r->err);
  put_i64(w, r->phase);
  put_str(w, r->detail);
  put_i64(w, r->reply_code);
  put_str(w, r->reply_text);
  put_str(w, r->resp_code);
  put(w, r->timings_us, sizeof(r->timings_us));
  put_i64(w, (int64_t)r->total_us);
  put_i64(w, r->tls_used);
  put(w, &r->tls, sizeof(r->tls));
  put_str(w, r->auth);
  put_str(w, r->oauth_status);
  put_str(w, r->oauth_scope);
  put(w, r->address, sizeof(r->address));
  put_i64(w, r->messages);
  put_i64(w, r->octets);
  put_i64(w, r->insecure);
  put_i64(w, r->found);
  put_i64(w, r->deleted);
  put_i64(w, r->delivery_us);
  put_i64(w, r->polls);
  put_i64(w, (int64_t)r->sent_at_us);
  put_u32(w, (uint32_t)r->ntranscript);
  for (size_t i = 0; i < r->ntranscript; i++) {
    put(w, &r->transcript[i].dir, 1);
    put_i64(w, (int64_t)r->transcript[i].t_us);
    put_str(w, r->transcript[i].line);
  }
}

char *mp_outcome_pack(const struct mp_outcome *o,
                      const struct mp_result *result, size_t *len)
{
  struct wbuf w = {0};
  put(&w, MAGIC, 4);
  put_i64(&w, o->passed);
  put(&w, &o->seconds, sizeof(o->seconds));
  put_u32(&w, (uint32_t)o->ndiffs);
  for (size_t i = 0; i < o->ndiffs; i++)
    put_str(&w, o->diffs[i]);
  put_u32(&w, result != NULL);
  if (result)
    pack_result(&w, result);
  put(&w, MAGIC, 4); /* the end: a cut-short write never reads as whole */
  if (w.oom) {
    free(w.p);
    return NULL;
  }
  *len = w.len;
  return w.p;
}

/* Fills r from the bytes; r->bad when they are cut short. */
static void unpack_result(struct rbuf *rb, struct mp_result *r)
{
  char *auth;
  uint32_t n;

  r->ok = (int)get_i64(rb);
  r->warn = (int)get_i64(rb);
  r->err = (int)get_i64(rb);
  r->phase = (enum mp_phase)get_i64(rb);
  if ((unsigned)r->phase >= MP_PHASE_COUNT)
    rb->bad = 1;
  r->detail = get_str(rb);
  r->reply_code = (int)get_i64(rb);
  r->reply_text = get_str(rb);
  r->resp_code = get_str(rb);
  get(rb, r->timings_us, sizeof(r->timings_us));
  r->total_us = (uint64_t)get_i64(rb);
  r->tls_used = (int)get_i64(rb);
  get(rb, &r->tls, sizeof(r->tls));
  auth = get_str(rb);
  r->auth = auth ? auth_name(auth) : NULL;
  free(auth);
  r->oauth_status = get_str(rb);
  r->oauth_scope = get_str(rb);
  get(rb, r->address, sizeof(r->address));
  r->address[sizeof(r->address) - 1] = '\0';
  r->tls.version[sizeof(r->tls.version) - 1] = '\0';
  r->tls.cipher[sizeof(r->tls.cipher) - 1] = '\0';
  r->tls.subject[sizeof(r->tls.subject) - 1] = '\0';
  r->tls.issuer[sizeof(r->tls.issuer) - 1] = '\0';
  r->tls.verify_error[sizeof(r->tls.verify_error) - 1] = '\0';
  r->messages = get_i64(rb);
  r->octets = get_i64(rb);
  r->insecure = (int)get_i64(rb);
  r->found = get_i64(rb);
  r->deleted = get_i64(rb);
  r->delivery_us = get_i64(rb);
  r->polls = (unsigned)get_i64(rb);
  r->sent_at_us = (uint64_t)get_i64(rb);
  n = get_u32(rb);
  /* Each line takes at least 13 bytes: a count past that is not real. */
  if (rb->bad || n > rb->left / 13) {
    rb->bad = 1;
    return;
  }
  for (uint32_t i = 0; i < n && !rb->bad; i++) {
    char dir = 0;
    get(rb, &dir, 1);
    uint64_t t_us = (uint64_t)get_i64(rb);
    char *line = get_str(rb);
    if (!rb->bad && mp_result_keep_line(r, dir, t_us, line ? line : "",
                                        line ? strlen(line) : 0) < 0)
      rb->bad = 1;
    free(line);
  }
}

int mp_outcome_unpack(const char *buf, size_t len, struct mp_outcome *o,
                      struct mp_result **result)
{
  struct rbuf rb = {buf, len, 0};
  char magic[4];
  char **diffs = NULL;
  size_t ndiffs = 0;
  struct mp_result *r = NULL;
  uint32_t n, has;
  int passed;
  double seconds;

  get(&rb, magic, 4);
  if (rb.bad || memcmp(magic, MAGIC, 4) != 0)
    return -1;
  passed = (int)get_i64(&rb);
  get(&rb, &seconds, sizeof(seconds));
  n = get_u32(&rb);
  if (rb.bad || n > rb.left / 4)
    return -1;
  diffs = calloc(n ? n : 1, sizeof(*diffs));
  if (!diffs)
    return -1;
  for (ndiffs = 0; ndiffs < n && !rb.bad; ndiffs++) {
    diffs[ndiffs] = get_str(&rb);
    if (!diffs[ndiffs])
      rb.bad = 1;
  }
  has = get_u32(&rb);
  if (!rb.bad && has) {
    r = mp_result_new();
    if (!r)
      rb.bad = 1;
    else
      unpack_result(&rb, r);
  }
  get(&rb, magic, 4);
  if (rb.bad || memcmp(magic, MAGIC, 4) != 0 || rb.left != 0) {
    for (size_t i = 0; i < ndiffs; i++)
      free(diffs[i]);
    free(diffs);
    mp_result_free(r);
    return -1;
  }
  if (ndiffs == 0) {
    free(diffs);
    diffs = NULL;
  }
  o->passed = passed;
  o->seconds = seconds;
  o->diffs = diffs;
  o->ndiffs = ndiffs;
  *result = r;
  return 0;
}
