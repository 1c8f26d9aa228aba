/* The chain memo of a client TLS context (wire/tls_memo.h): its one job
 * is to answer a chain verification the context already did.
 *
 * A probe that checks the same server again and again gets the same
 * certificate chain every time, and building and verifying it (one more
 * signature check per link) is a fifth of a handshake. A client context
 * remembers the chains that verified without any fault, keyed by exactly
 * what decides the verdict: the store, the verification parameters (flags,
 * depth, security level, host flags), the host names, IP address and email
 * checked, and the DER of every certificate the peer sent, byte for byte.
 * Only the validity times change with the clock, so a hit checks them
 * again for every certificate of the chain and verifies in full when one
 * is out of its window. Anything else that differs is a different key and
 * a full verification. The handshake's own signature (CertificateVerify,
 * RFC 8446 4.4.3: proof that the server holds the key) is checked by
 * OpenSSL on every handshake; the memo does not touch it. Failures are
 * never remembered. Hashed-directory stores load a certificate once and
 * keep it, so the memo trusts nothing that the store itself would not. */
#include "wire/tls_memo.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/x509_vfy.h>

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
  uint64_t h = 14695981039346656037ULL;

  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

/* The key bytes, appended to a growing buffer. */
struct keybuf {
  unsigned char *p;
  size_t len, cap;
  int too_long;
};

static unsigned char *key_room(struct keybuf *k, size_t n)
{
  if (k->too_long || k->len + n > MEMO_KEY_MAX) {
    k->too_long = 1;
    return NULL;
  }
  if (k->len + n > k->cap) {
    size_t cap = k->cap ? k->cap : 2048;
    while (cap < k->len + n)
      cap *= 2;
    unsigned char *q = realloc(k->p, cap);
    if (q == NULL) {
      k->too_long = 1;
      return NULL;
    }
    k->p = q;
    k->cap = cap;
  }
  unsigned char *at = k->p + k->len;
  k->len += n;
  return at;
}

static void key_add(struct keybuf *k, const void *data, size_t n)
{
  unsigned char *at = key_room(k, sizeof n + n);
  if (at != NULL) {
    memcpy(at, &n, sizeof n);
    memcpy(at + sizeof n, data, n);
  }
}

static void key_add_str(struct keybuf *k, const char *s)
{
  key_add(k, s ? s : "", s ? strlen(s) + 1 : 0);
}

static void key_add_cert(struct keybuf *k, X509 *x)
{
  int n = i2d_X509(x, NULL);
  unsigned char *at, *p;

  if (n <= 0) {
    k->too_long = 1; /* cannot say what it is: no memo */
    return;
  }
  at = key_room(k, sizeof(size_t) + (size_t)n);
  if (at == NULL)
    return;
  size_t len = (size_t)n;
  memcpy(at, &len, sizeof len);
  p = at + sizeof len;
  if (i2d_X509(x, &p) != n)
    k->too_long = 1;
}

/* Builds the key of the verification xs is about to do; 0 when the memo
 * must stay out of it (a fixed check time, a key too long, no memory). */
static int memo_key(X509_STORE_CTX *xs, struct keybuf *k)
{
  X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(xs);
  STACK_OF(X509) *peer = X509_STORE_CTX_get0_untrusted(xs);
  X509_STORE *store = X509_STORE_CTX_get0_store(xs);
  unsigned long flags = X509_VERIFY_PARAM_get_flags(param);
  long nums[6];
  char *ip;

  if (flags & (X509_V_FLAG_USE_CHECK_TIME | X509_V_FLAG_NO_CHECK_TIME))
    return 0;
  nums[0] = (long)flags;
  nums[1] = (long)X509_VERIFY_PARAM_get_inh_flags(param);
  nums[2] = (long)X509_VERIFY_PARAM_get_hostflags(param);
  nums[3] = X509_VERIFY_PARAM_get_depth(param);
  nums[4] = X509_VERIFY_PARAM_get_auth_level(param);
  nums[5] = peer != NULL ? sk_X509_num(peer) : 0;
  key_add(k, &store, sizeof store);
  key_add(k, nums, sizeof nums);
  key_add_str(k, X509_VERIFY_PARAM_get0_name(param));
  for (int i = 0; i < 64; i++) {
    const char *h = X509_VERIFY_PARAM_get0_host(param, i);
    if (h == NULL)
      break;
    key_add_str(k, h);
  }
  key_add_str(k, "");
  ip = X509_VERIFY_PARAM_get1_ip_asc(param);
  key_add_str(k, ip);
  OPENSSL_free(ip);
  key_add_str(k, X509_VERIFY_PARAM_get0_email(param));
  key_add_cert(k, X509_STORE_CTX_get0_cert(xs));
  for (int i = 0; i < nums[5]; i++)
    key_add_cert(k, sk_X509_value(peer, i));
  return !k->too_long;
}

static void memo_entry_clear(struct memo_entry *e)
{
  for (int i = 0; i < e->depth; i++)
    X509_free(e->store_cert[i]);
  free(e->key);
  memset(e, 0, sizeof *e);
}

/* 1 when x is inside its validity window now (what X509_verify_cert
 * checks for every certificate of the chain, the trust anchor too). */
static int in_validity(const X509 *x)
{
  return X509_cmp_time(X509_get0_notBefore(x), NULL) < 0 &&
         X509_cmp_time(X509_get0_notAfter(x), NULL) > 0;
}

/* Looks the key up; on a hit with every certificate in its window, gives
 * xs the chain as it was built and returns 1. */
static int memo_lookup(struct mp_tls_memo *m, X509_STORE_CTX *xs,
                       const struct keybuf *k, uint64_t hash)
{
  STACK_OF(X509) *peer = X509_STORE_CTX_get0_untrusted(xs);
  STACK_OF(X509) *chain = NULL;
  struct memo_entry *e = NULL;

  pthread_mutex_lock(&m->lock);
  for (int i = 0; i < MEMO_SLOTS && e == NULL; i++)
    if (m->slots[i].key != NULL && m->slots[i].hash == hash &&
        m->slots[i].key_len == k->len &&
        memcmp(m->slots[i].key, k->p, k->len) == 0)
      e = &m->slots[i];
  if (e != NULL && (chain = sk_X509_new_reserve(NULL, e->depth)) != NULL) {
    for (int d = 0; d < e->depth; d++) {
      X509 *x = e->peer_index[d] < 0 ? e->store_cert[d]
                                     : sk_X509_value(peer, e->peer_index[d]);
      if (x == NULL || !in_validity(x) || !X509_up_ref(x)) {
        sk_X509_pop_free(chain, X509_free);
        chain = NULL;
        break;
      }
      sk_X509_push(chain, x); /* reserved: cannot fail */
    }
  }
  if (chain != NULL)
    m->hits++;
  else
    m->misses++;
  pthread_mutex_unlock(&m->lock);
  if (chain == NULL)
    return 0;
  X509_STORE_CTX_set0_verified_chain(xs, chain);
  X509_STORE_CTX_set_error(xs, X509_V_OK);
  return 1;
}

/* Remembers a chain that verified without a fault; takes the key. */
static void memo_insert(struct mp_tls_memo *m, X509_STORE_CTX *xs,
                        struct keybuf *k, uint64_t hash)
{
  STACK_OF(X509) *peer = X509_STORE_CTX_get0_untrusted(xs);
  STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(xs);
  struct memo_entry e = {.hash = hash, .key = k->p, .key_len = k->len};
  int n = chain != NULL ? sk_X509_num(chain) : 0;

  if (n <= 0 || n > MEMO_DEPTH_MAX)
    return;
  for (int d = 0; d < n; d++) {
    X509 *x = sk_X509_value(chain, d);
    int j = -1;
    /* The chain holds the very objects it took from the peer's list. */
    for (int i = 0; peer != NULL && i < sk_X509_num(peer) && j < 0; i++)
      if (sk_X509_value(peer, i) == x)
        j = i;
    e.peer_index[d] = j;
    e.store_cert[d] = NULL;
    if (j < 0) {
      if (!X509_up_ref(x)) {
        e.depth = d;
        e.key = NULL;
        memo_entry_clear(&e);
        return;
      }
      e.store_cert[d] = x;
    }
    e.depth = d + 1;
  }
  k->p = NULL; /* the entry owns the key now */
  pthread_mutex_lock(&m->lock);
  struct memo_entry *slot = &m->slots[m->next % MEMO_SLOTS];
  m->next++;
  memo_entry_clear(slot);
  *slot = e;
  pthread_mutex_unlock(&m->lock);
}

/* Verifies xs's chain: the memo, or OpenSSL's X509_verify_cert (which
 * calls the context's verify callback, recording a fault in *fault). */
int mp_tls_memo_verify(struct mp_tls_memo *m, X509_STORE_CTX *xs,
                       const int *fault)
{
  struct keybuf k = {0};
  uint64_t hash = 0;
  int use_memo = fault != NULL && memo_key(xs, &k);
  int ok;

  if (use_memo) {
    hash = fnv1a(k.p, k.len);
    if (memo_lookup(m, xs, &k, hash)) {
      free(k.p);
      return 1;
    }
  }
  ok = X509_verify_cert(xs);
  if (ok < 0)
    ok = 0; /* an error counts as a failure, as in libssl */
  if (use_memo && ok == 1 && *fault == 0 &&
      X509_STORE_CTX_get_error(xs) == X509_V_OK)
    memo_insert(m, xs, &k, hash);
  free(k.p);
  return ok;
}

/* An empty memo. */
void mp_tls_memo_init(struct mp_tls_memo *m)
{
  memset(m, 0, sizeof *m);
  pthread_mutex_init(&m->lock, NULL);
}

/* Drops every entry and the certificates they hold. */
void mp_tls_memo_free(struct mp_tls_memo *m)
{
  for (int i = 0; i < MEMO_SLOTS; i++)
    memo_entry_clear(&m->slots[i]);
  pthread_mutex_destroy(&m->lock);
}

/* How often the memo answered, and how often it did not. */
void mp_tls_memo_counts(struct mp_tls_memo *m, unsigned long *hits,
                        unsigned long *misses)
{
  pthread_mutex_lock(&m->lock);
  *hits = m->hits;
  *misses = m->misses;
  pthread_mutex_unlock(&m->lock);
}
