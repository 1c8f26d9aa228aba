/* TLS as a layer over memory BIOs: ciphertext in -> pump -> ciphertext out.
 *
 * The adapter owns no socket and knows no event loop, so a client and a
 * server can be wired back to back in memory (tests/check_tls.c). Only
 * wire/tls.c includes OpenSSL's TLS headers (its chain memo, which needs
 * only X509, is wire/tls_memo.c); SSL_get_error is mapped to the error
 * names in exactly one place. */
#ifndef MP_TLS_H
#define MP_TLS_H

#include <stddef.h>
#include <stdint.h>

struct mp_tls_ctx;
struct mp_tls;

/* How a client verifies the server. */
struct mp_tls_client_opts {
  const char *cafile; /* PEM file of trusted CAs, or NULL */
  const char *ca_pem; /* PEM text of trusted CAs, or NULL */
  int insecure;       /* 1: handshake even if verification fails */
};

/* What a finished handshake tells about the session and the peer. */
struct mp_tls_info {
  char version[16];        /* "TLSv1.3" */
  char cipher[64];         /* "TLS_AES_256_GCM_SHA384" */
  char subject[256];       /* one line, "CN=mx.example.test" ("" if none) */
  char issuer[256];        /* one line */
  int days_left;           /* until notAfter, negative when expired */
  int64_t not_after;       /* notAfter, seconds since 1970 (0: unknown) */
  int64_t earliest_expiry; /* the earliest notAfter in the chain the peer
                              sent, seconds since 1970 (0: unknown) */
  int verified;            /* 1 if the chain and the host name verified */
  char verify_error[128];  /* why not, "" when verified */
};

/* A client context. Without cafile and ca_pem, the system's trust store.
 * Returns NULL and writes a reason into err on failure. */
struct mp_tls_ctx *mp_tls_ctx_client(const struct mp_tls_client_opts *opts,
                                     char *err, size_t errlen);

/* A server context from a PEM certificate (chain) and a PEM private key. */
struct mp_tls_ctx *mp_tls_ctx_server(const char *cert_pem, const char *key_pem,
                                     char *err, size_t errlen);

/* Pins a server context to one protocol version ("TLSv1.2"; NULL: any)
 * and cipher (an OpenSSL name: a TLS 1.3 suite or a TLS 1.2 cipher; NULL:
 * the default list), as a recorded server offered them. 0, or -1 with a
 * reason in err. */
int mp_tls_ctx_pin(struct mp_tls_ctx *ctx, const char *version,
                   const char *cipher, char *err, size_t errlen);

/* What a server context asks of clients and allows, beyond its
 * certificate (Prometheus' web config: client_auth_type, client_ca_file,
 * min_version, max_version). */
struct mp_tls_server_opts {
  const char *client_ca_pem; /* trust for client certificates, or NULL */
  int client_cert;           /* 0 none asked, 1 verified if given,
                                2 required and verified */
  int min_version;           /* 0x0303 TLS 1.2, 0x0304 TLS 1.3; 0: 1.2 */
  int max_version;           /* 0: the newest */
};

/* Applies o to a server context. 0 or -1 with a reason in err. */
int mp_tls_ctx_server_tune(struct mp_tls_ctx *ctx,
                           const struct mp_tls_server_opts *o, char *err,
                           size_t errlen);

/* The OpenSSL SSL_CTX under a context, for a library that runs TLS on
 * its own sockets with it (H2O, harness/http/); it lives as long as the
 * context. */
struct ssl_ctx_st *mp_tls_ctx_ssl(struct mp_tls_ctx *ctx);

/* Contexts are reference counted; a session holds a reference. */
void mp_tls_ctx_ref(struct mp_tls_ctx *ctx);
void mp_tls_ctx_unref(struct mp_tls_ctx *ctx);

/* A client context remembers the chains it verified without a fault (the
 * peer's exact certificates, the names checked, the trust store and the
 * parameters; the validity times are checked again on every use), up to
 * 16 of them. The counts say how often a verification was answered from
 * it and how often it was not (a full verification). */
void mp_tls_ctx_memo_counts(struct mp_tls_ctx *ctx, unsigned long *hits,
                            unsigned long *misses);

/* A session. For a client, host is the SNI name and the name the
 * certificate must carry (skipped for IP literals in SNI, still checked as an
 * IP; "[::1]" is taken as ::1); NULL or "": the chain is checked, no name.
 * For a server, host is ignored. NULL on allocation failure, or when
 * is_server does not match the context. */
struct mp_tls *mp_tls_new(struct mp_tls_ctx *ctx, int is_server,
                          const char *host);
void mp_tls_free(struct mp_tls *t);

/* Feeds ciphertext received from the peer. 0 or MP_E_NO_RESOURCES. */
int mp_tls_feed(struct mp_tls *t, const void *buf, size_t len);

/* Advances the handshake: 0 when done, MP_EAGAIN when it needs more input
 * (drain first: it may have output), or MP_E_TLS_FAILED, MP_E_CERT_INVALID,
 * MP_E_CONNECTION_CLOSED. */
int mp_tls_handshake(struct mp_tls *t);

/* Decrypts into buf: the number of bytes (> 0), MP_EAGAIN when no whole
 * record is buffered, MP_E_CONNECTION_CLOSED on close_notify, or
 * MP_E_TLS_FAILED. Finishes the handshake first if it is not done (then
 * also its codes). Drain afterwards: reading can produce output. */
int mp_tls_read(struct mp_tls *t, void *buf, size_t cap);

/* Encrypts all of buf into the outgoing BIO: 0 or MP_E_TLS_FAILED. Only
 * after the handshake is done. */
int mp_tls_write(struct mp_tls *t, const void *buf, size_t len);

/* Sends close_notify (into the outgoing BIO), once; a no-op before the
 * handshake is done or after a failure. Writes fail afterwards. */
void mp_tls_shutdown(struct mp_tls *t);

/* Ciphertext waiting to go to the peer, and taking it out. */
size_t mp_tls_pending(const struct mp_tls *t);
size_t mp_tls_drain(struct mp_tls *t, void *buf, size_t cap);

/* 1 once the handshake finished. */
int mp_tls_done(const struct mp_tls *t);

/* Facts about the session (fills what is known; zero before a handshake
 * or for NULL). After a handshake that failed on the certificate it still
 * tells the certificate's subject, issuer, days_left and verify_error. */
void mp_tls_get_info(const struct mp_tls *t, struct mp_tls_info *info);

/* The peer's certificate as PEM text (malloc'd), and in *n how many
 * certificates it sent; NULL when it sent none. Also after a handshake
 * that failed on the certificate. */
char *mp_tls_peer_pem(const struct mp_tls *t, unsigned *n);

/* The reason for the last failure, for people ("certificate has expired",
 * "the server answered in plain text: \"220 mx ESMTP\""); "" if none. */
const char *mp_tls_error(const struct mp_tls *t);

#endif
