/* The chain memo, private to wire/tls*.c: a client context remembers the
 * certificate chains that verified without a fault, so that a probe that
 * checks the same server again and again skips building and verifying the
 * same chain (a fifth of a handshake). wire/tls_memo.c says what the key
 * holds and why a hit is safe. */
#ifndef MP_TLS_MEMO_H
#define MP_TLS_MEMO_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

/* How many chains a client context keeps, the longest key it takes, the
 * longest chain. */
#define MEMO_SLOTS 16
#define MEMO_KEY_MAX (16 * 1024)
#define MEMO_DEPTH_MAX 8

/* One chain that verified: the key it verified under (the parameters,
 * the names checked, the DER of every certificate the peer sent) and the
 * chain that was built, each link either the peer's certificate of that
 * index or a certificate of the trust store (held). */
struct memo_entry {
  uint64_t hash;
  unsigned char *key; /* NULL: a free slot */
  size_t key_len;
  int depth;
  int peer_index[MEMO_DEPTH_MAX]; /* -1: store_cert[i] */
  X509 *store_cert[MEMO_DEPTH_MAX];
};

/* The memo of one context; a context may serve several threads. */
struct mp_tls_memo {
  pthread_mutex_t lock;
  unsigned next; /* the slot the next new entry takes */
  struct memo_entry slots[MEMO_SLOTS];
  unsigned long hits, misses; /* for tests */
};

/* An empty memo. */
void mp_tls_memo_init(struct mp_tls_memo *m);

/* Drops every entry (and the certificates they hold). */
void mp_tls_memo_free(struct mp_tls_memo *m);

/* Verifies the chain xs is about to verify (the SSL_CTX cert-verify
 * callback's job): from the memo, or with X509_verify_cert, whose verify
 * callback records the first fault in *fault. A chain that verified with
 * *fault still 0 is remembered. fault NULL (no session to record into):
 * the memo stays out of it. 1 if the chain verified, else 0. */
int mp_tls_memo_verify(struct mp_tls_memo *m, X509_STORE_CTX *xs,
                       const int *fault);

/* How often the memo answered, and how often it did not. */
void mp_tls_memo_counts(struct mp_tls_memo *m, unsigned long *hits,
                        unsigned long *misses);

#endif
