/* TLS over OpenSSL memory BIOs (Node's TLS wrap, h2o's shape).
 *
 * Ciphertext from the peer goes into rbio (mp_tls_feed); handshake, read and
 * write pump the SSL object; ciphertext for the peer collects in wbio and
 * leaves through mp_tls_drain. Nothing here owns a socket. SSL_get_error is
 * mapped to our error names in map_error() and nowhere else. */
#include "wire/tls.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "wire/errors.h"
#include "wire/tls_memo.h"

/* A memory BIO never shrinks; after a burst above this many bytes an empty
 * BIO is replaced by a fresh one so an idle session stays small. */
#define BIO_KEEP_MAX (32 * 1024)

struct mp_tls_ctx {
  SSL_CTX *ssl_ctx;
  atomic_int refs;
  int is_server;
  int insecure;
  struct mp_tls_memo memo; /* chains verified (client contexts) */
};

struct mp_tls {
  struct mp_tls_ctx *ctx;
  SSL *ssl;
  BIO *rbio;        /* ciphertext from the peer (owned by ssl) */
  BIO *wbio;        /* ciphertext for the peer (owned by ssl) */
  size_t rbio_peak; /* most bytes rbio held since it was made */
  size_t wbio_peak;
  int is_server;
  int insecure;
  int done;       /* the handshake finished */
  int failed;     /* sticky fatal error code, 0 if none */
  int shut;       /* close_notify sent */
  int first_byte; /* first byte the peer sent, -1 before any */
  int verify_err; /* first X509_V_ERR_* the chain check met, 0 if none */
  char err[256];  /* reason for the last failure, "" if none */
};

static void copy_str(char *dst, size_t cap, const char *src)
{
  if (cap == 0)
    return;
  snprintf(dst, cap, "%s", src ? src : "");
}

/* Takes OpenSSL's error queue (this thread's) into buf as one readable
 * reason, the earliest error first, and empties the queue. Writes fallback
 * when the queue is empty. */
static void take_errors(char *buf, size_t cap, const char *fallback)
{
  unsigned long e, first = 0;

  while ((e = ERR_get_error()) != 0)
    if (first == 0)
      first = e;
  if (first == 0) {
    copy_str(buf, cap, fallback);
    return;
  }
  const char *reason = ERR_reason_error_string(first);
  if (reason != NULL)
    copy_str(buf, cap, reason);
  else
    ERR_error_string_n(first, buf, cap);
}

/* The one place where OpenSSL's verdict becomes one of our codes. ret is
 * the return value of the SSL_* call that failed. */
static int map_error(struct mp_tls *t, int ret)
{
  int rc;

  switch (SSL_get_error(t->ssl, ret)) {
  case SSL_ERROR_NONE:
    return 0;
  case SSL_ERROR_WANT_READ:
  case SSL_ERROR_WANT_WRITE: /* memory BIOs always take writes */
    ERR_clear_error();
    return MP_EAGAIN;
  case SSL_ERROR_ZERO_RETURN: /* RFC 8446 6.1: close_notify */
    ERR_clear_error();
    copy_str(t->err, sizeof t->err, "the peer sent close_notify");
    return MP_E_CONNECTION_CLOSED;
  case SSL_ERROR_SSL:
    /* A failed chain or name check fails the handshake with a generic
     * "certificate verify failed"; the verify result says why. */
    if (!t->is_server && !t->done && !t->insecure &&
        (t->verify_err != 0 || SSL_get_verify_result(t->ssl) != X509_V_OK)) {
      long v = t->verify_err ? t->verify_err : SSL_get_verify_result(t->ssl);
      t->verify_err = (int)v;
      ERR_clear_error();
      copy_str(t->err, sizeof t->err, X509_verify_cert_error_string(v));
      rc = MP_E_CERT_INVALID;
    } else {
      take_errors(t->err, sizeof t->err, "TLS protocol error");
      rc = MP_E_TLS_FAILED;
    }
    break;
  default: /* SSL_ERROR_SYSCALL and the rest */
    take_errors(t->err, sizeof t->err, "TLS failure");
    rc = MP_E_TLS_FAILED;
    break;
  }
  t->failed = rc;
  return rc;
}

/* Records the first reason the chain or the name failed, and lets the
 * handshake go on only when the context is insecure. With insecure the
 * whole chain is still checked, so verify_error is always filled. */
static int verify_cb(int ok, X509_STORE_CTX *xs)
{
  SSL *ssl =
      X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
  struct mp_tls *t = ssl ? SSL_get_app_data(ssl) : NULL;

  if (ok || t == NULL)
    return ok;
  if (t->verify_err == 0)
    t->verify_err = X509_STORE_CTX_get_error(xs);
  return t->insecure;
}

/* The client context's chain verification (SSL_CTX_set_cert_verify_
 * callback): the memo, or OpenSSL's X509_verify_cert, which calls
 * verify_cb as before. */
static int verify_chain(X509_STORE_CTX *xs, void *arg)
{
  struct mp_tls_ctx *ctx = arg;
  SSL *ssl =
      X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
  struct mp_tls *t = ssl ? SSL_get_app_data(ssl) : NULL;

  return mp_tls_memo_verify(&ctx->memo, xs, t ? &t->verify_err : NULL);
}

static struct mp_tls_ctx *ctx_new(const SSL_METHOD *method, int is_server,
                                  char *err, size_t errlen)
{
  struct mp_tls_ctx *ctx = calloc(1, sizeof *ctx);
  if (ctx == NULL) {
    copy_str(err, errlen, "out of memory");
    return NULL;
  }
  ERR_clear_error();
  ctx->ssl_ctx = SSL_CTX_new(method);
  if (ctx->ssl_ctx == NULL) {
    take_errors(err, errlen, "SSL_CTX_new failed");
    free(ctx);
    return NULL;
  }
  atomic_init(&ctx->refs, 1);
  mp_tls_memo_init(&ctx->memo);
  ctx->is_server = is_server;
  SSL_CTX_set_min_proto_version(ctx->ssl_ctx, TLS1_2_VERSION);
  /* Renegotiation is a known source of trouble and nothing here needs it;
   * a peer's HelloRequest or renegotiating ClientHello is refused. */
  SSL_CTX_set_options(ctx->ssl_ctx, SSL_OP_NO_RENEGOTIATION);
  /* Thousands of idle sessions: free the record buffers between uses. */
  SSL_CTX_set_mode(ctx->ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
  return ctx;
}

/* Adds every certificate in the PEM text to the context's trust store. */
static int load_ca_pem(SSL_CTX *sctx, const char *pem, char *err, size_t errlen)
{
  X509_STORE *store = SSL_CTX_get_cert_store(sctx);
  BIO *bio = BIO_new_mem_buf(pem, -1);
  X509 *x;
  int n = 0;

  if (bio == NULL) {
    take_errors(err, errlen, "out of memory");
    return -1;
  }
  while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
    int ok = X509_STORE_add_cert(store, x);
    X509_free(x);
    if (!ok) {
      BIO_free(bio);
      take_errors(err, errlen, "cannot add a CA certificate");
      return -1;
    }
    n++;
  }
  BIO_free(bio);
  if (n == 0) {
    ERR_clear_error();
    copy_str(err, errlen, "no PEM certificate in ca_pem");
    return -1;
  }
  /* The loop ends with "no start line" at the end of the text. */
  if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE) {
    take_errors(err, errlen, "bad PEM in ca_pem");
    return -1;
  }
  ERR_clear_error();
  return 0;
}

/* The client context: TLS 1.2 or newer, the peer verified against cafile,
 * ca_pem, or the system store. */
struct mp_tls_ctx *mp_tls_ctx_client(const struct mp_tls_client_opts *opts,
                                     char *err, size_t errlen)
{
  struct mp_tls_ctx *ctx = ctx_new(TLS_client_method(), 0, err, errlen);
  if (ctx == NULL)
    return NULL;
  SSL_CTX *sctx = ctx->ssl_ctx;
  const char *cafile = opts ? opts->cafile : NULL;
  const char *ca_pem = opts ? opts->ca_pem : NULL;

  ctx->insecure = opts ? opts->insecure != 0 : 0;
  /* Always SSL_VERIFY_PEER: verify_cb decides, so the chain is checked
   * (and the reason kept) even when insecure lets the handshake go on. */
  SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER, verify_cb);
  SSL_CTX_set_cert_verify_callback(sctx, verify_chain, ctx);
  if (cafile != NULL &&
      SSL_CTX_load_verify_locations(sctx, cafile, NULL) != 1) {
    take_errors(err, errlen, "cannot load the CA file");
    if (errlen > 0) {
      size_t n = strlen(err);
      snprintf(err + n, errlen - n, " (%s)", cafile);
    }
    goto fail;
  }
  if (ca_pem != NULL && load_ca_pem(sctx, ca_pem, err, errlen) != 0)
    goto fail;
  if (cafile == NULL && ca_pem == NULL &&
      SSL_CTX_set_default_verify_paths(sctx) != 1) {
    take_errors(err, errlen, "cannot load the system trust store");
    goto fail;
  }
  return ctx;
fail:
  mp_tls_ctx_unref(ctx);
  return NULL;
}

/* The server context: the first certificate in cert_pem is the leaf, the
 * rest its chain; key_pem must match the leaf. */
struct mp_tls_ctx *mp_tls_ctx_server(const char *cert_pem, const char *key_pem,
                                     char *err, size_t errlen)
{
  if (cert_pem == NULL || key_pem == NULL) {
    copy_str(err, errlen, "a server needs a certificate and a key");
    return NULL;
  }
  struct mp_tls_ctx *ctx = ctx_new(TLS_server_method(), 1, err, errlen);
  if (ctx == NULL)
    return NULL;
  SSL_CTX *sctx = ctx->ssl_ctx;
  BIO *bio = NULL;
  X509 *x = NULL;
  EVP_PKEY *key = NULL;

  /* No resumption: no session cache, no tickets to send or keep. */
  SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_num_tickets(sctx, 0);

  bio = BIO_new_mem_buf(cert_pem, -1);
  if (bio == NULL || (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL ||
      SSL_CTX_use_certificate(sctx, x) != 1)
    goto fail;
  X509_free(x);
  while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
    if (SSL_CTX_add0_chain_cert(sctx, x) != 1)
      goto fail;
  if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE)
    goto fail;
  ERR_clear_error();
  BIO_free(bio);
  bio = BIO_new_mem_buf(key_pem, -1);
  if (bio == NULL ||
      (key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL ||
      SSL_CTX_use_PrivateKey(sctx, key) != 1 ||
      SSL_CTX_check_private_key(sctx) != 1)
    goto fail;
  EVP_PKEY_free(key);
  BIO_free(bio);
  return ctx;
fail:
  take_errors(err, errlen, "cannot load the certificate or key");
  X509_free(x);
  EVP_PKEY_free(key);
  BIO_free(bio);
  mp_tls_ctx_unref(ctx);
  return NULL;
}

int mp_tls_ctx_server_tune(struct mp_tls_ctx *ctx,
                           const struct mp_tls_server_opts *o, char *err,
                           size_t errlen)
{
  SSL_CTX *sctx = ctx->ssl_ctx;
  ERR_clear_error();
  if (o->min_version != 0 &&
      SSL_CTX_set_min_proto_version(sctx, o->min_version) != 1)
    goto fail;
  if (o->max_version != 0 &&
      SSL_CTX_set_max_proto_version(sctx, o->max_version) != 1)
    goto fail;
  if (o->client_cert != 0) {
    if (o->client_ca_pem == NULL) {
      copy_str(err, errlen, "client certificates need a CA to verify them");
      return -1;
    }
    if (load_ca_pem(sctx, o->client_ca_pem, err, errlen) < 0)
      return -1;
    SSL_CTX_set_verify(
        sctx,
        SSL_VERIFY_PEER |
            (o->client_cert == 2 ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
        NULL);
  }
  return 0;
fail:
  take_errors(err, errlen, "cannot set the TLS versions");
  return -1;
}

struct ssl_ctx_st *mp_tls_ctx_ssl(struct mp_tls_ctx *ctx)
{
  return ctx->ssl_ctx;
}

/* Takes a reference. */
void mp_tls_ctx_ref(struct mp_tls_ctx *ctx)
{
  atomic_fetch_add(&ctx->refs, 1);
}

/* Drops a reference; the last one frees the context. NULL is a no-op. */
void mp_tls_ctx_unref(struct mp_tls_ctx *ctx)
{
  if (ctx == NULL || atomic_fetch_sub(&ctx->refs, 1) != 1)
    return;
  SSL_CTX_free(ctx->ssl_ctx);
  mp_tls_memo_free(&ctx->memo);
  free(ctx);
}

/* How often the chain memo answered, and how often it did not. */
void mp_tls_ctx_memo_counts(struct mp_tls_ctx *ctx, unsigned long *hits,
                            unsigned long *misses)
{
  mp_tls_memo_counts(&ctx->memo, hits, misses);
}

/* Strips one pair of brackets ("[::1]") into buf; 1 if host is an IP
 * literal. */
static int ip_literal(const char *host, char *buf, size_t cap)
{
  unsigned char addr[16];
  size_t n = strlen(host);

  if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
    host++;
    n -= 2;
  }
  if (n >= cap)
    return 0;
  memcpy(buf, host, n);
  buf[n] = '\0';
  return inet_pton(AF_INET, buf, addr) == 1 ||
         inet_pton(AF_INET6, buf, addr) == 1;
}

/* A session on ctx; the client sends SNI for a DNS name (RFC 6066 3: never
 * for an IP literal) and checks the name or address. */
struct mp_tls *mp_tls_new(struct mp_tls_ctx *ctx, int is_server,
                          const char *host)
{
  struct mp_tls *t;

  is_server = is_server != 0;
  if (is_server != ctx->is_server)
    return NULL; /* a server session needs a server context */
  t = calloc(1, sizeof *t);
  if (t == NULL)
    return NULL;
  t->is_server = is_server;
  t->insecure = ctx->insecure;
  t->first_byte = -1;
  ERR_clear_error();
  t->ssl = SSL_new(ctx->ssl_ctx);
  t->rbio = BIO_new(BIO_s_mem());
  t->wbio = BIO_new(BIO_s_mem());
  if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
    BIO_free(t->rbio);
    BIO_free(t->wbio);
    goto fail;
  }
  /* An empty rbio means "wait for more", not end of file. */
  BIO_set_mem_eof_return(t->rbio, -1);
  BIO_set_mem_eof_return(t->wbio, -1);
  SSL_set_bio(t->ssl, t->rbio, t->wbio);
  SSL_set_app_data(t->ssl, t);

  if (is_server) {
    SSL_set_accept_state(t->ssl);
  } else {
    SSL_set_connect_state(t->ssl);
    if (host != NULL && host[0] != '\0') {
      char ip[64];
      int ok;
      if (ip_literal(host, ip, sizeof ip)) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), ip);
      } else {
        SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = SSL_set_tlsext_host_name(t->ssl, host) == 1 &&
             SSL_set1_host(t->ssl, host) == 1;
      }
      if (!ok)
        goto fail;
    }
  }
  t->ctx = ctx;
  mp_tls_ctx_ref(ctx);
  return t;
fail:
  ERR_clear_error();
  SSL_free(t->ssl);
  free(t);
  return NULL;
}

/* Frees the session and drops its context reference. NULL is a no-op. */
void mp_tls_free(struct mp_tls *t)
{
  if (t == NULL)
    return;
  SSL_free(t->ssl); /* frees both BIOs */
  mp_tls_ctx_unref(t->ctx);
  free(t);
}

/* Feeds ciphertext from the peer. */
int mp_tls_feed(struct mp_tls *t, const void *buf, size_t len)
{
  if (len == 0)
    return 0;
  if (t->first_byte < 0)
    t->first_byte = ((const unsigned char *)buf)[0];
  while (len > 0) {
    int chunk = len > INT_MAX ? INT_MAX : (int)len;
    if (BIO_write(t->rbio, buf, chunk) != chunk) {
      ERR_clear_error();
      return MP_E_NO_RESOURCES;
    }
    buf = (const char *)buf + chunk;
    len -= (size_t)chunk;
  }
  size_t held = BIO_ctrl_pending(t->rbio);
  if (held > t->rbio_peak)
    t->rbio_peak = held;
  return 0;
}

/* Replaces a memory BIO that is empty but grew large with a fresh one. */
static void trim_bios(struct mp_tls *t)
{
  if (t->rbio_peak > BIO_KEEP_MAX && BIO_ctrl_pending(t->rbio) == 0) {
    BIO *b = BIO_new(BIO_s_mem());
    if (b != NULL) {
      BIO_set_mem_eof_return(b, -1);
      SSL_set0_rbio(t->ssl, b); /* frees the old one */
      t->rbio = b;
      t->rbio_peak = 0;
    }
  }
  if (t->wbio_peak > BIO_KEEP_MAX && BIO_ctrl_pending(t->wbio) == 0) {
    BIO *b = BIO_new(BIO_s_mem());
    if (b != NULL) {
      BIO_set_mem_eof_return(b, -1);
      SSL_set0_wbio(t->ssl, b);
      t->wbio = b;
      t->wbio_peak = 0;
    }
  }
}

/* A client's first byte from the server starts a TLS record: a handshake
 * or an alert (RFC 8446 5.1). Anything else is a plain-text server (a
 * "220 ..." greeting on a port taken for implicit TLS): fail now instead
 * of waiting for a record header that never parses. */
static int check_plain_text(struct mp_tls *t)
{
  char *data = NULL;
  long n;
  size_t i;
  char line[48];

  if (t->is_server || t->first_byte < 0 ||
      (t->first_byte >= 20 && t->first_byte <= 24))
    return 0;
  n = BIO_get_mem_data(t->rbio, &data);
  for (i = 0; n > 0 && i < (size_t)n && i + 1 < sizeof line; i++) {
    unsigned char c = (unsigned char)data[i];
    if (c == '\r' || c == '\n')
      break;
    line[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
  }
  line[i] = '\0';
  snprintf(t->err, sizeof t->err, "the server answered in plain text: \"%s\"",
           line);
  t->failed = MP_E_TLS_FAILED;
  return t->failed;
}

/* Advances the handshake. */
int mp_tls_handshake(struct mp_tls *t)
{
  if (t->failed)
    return t->failed;
  if (t->done)
    return 0;
  if (check_plain_text(t) != 0)
    return t->failed;
  ERR_clear_error();
  int r = SSL_do_handshake(t->ssl);
  if (r == 1) {
    t->done = 1;
    t->err[0] = '\0';
    trim_bios(t);
    return 0;
  }
  return map_error(t, r);
}

/* Decrypts what has arrived; finishes the handshake first if needed. */
int mp_tls_read(struct mp_tls *t, void *buf, size_t cap)
{
  size_t n = 0;
  int rc;

  if (!t->done && (rc = mp_tls_handshake(t)) != 0)
    return rc;
  if (t->failed)
    return t->failed;
  if (cap == 0)
    return MP_EAGAIN;
  if (cap > INT_MAX)
    cap = INT_MAX;
  ERR_clear_error();
  int r = SSL_read_ex(t->ssl, buf, cap, &n);
  if (r == 1) {
    trim_bios(t);
    return (int)n;
  }
  rc = map_error(t, r);
  if (rc == MP_EAGAIN)
    trim_bios(t);
  return rc;
}

/* Encrypts all of buf into the outgoing BIO. */
int mp_tls_write(struct mp_tls *t, const void *buf, size_t len)
{
  size_t n = 0;

  if (t->failed)
    return t->failed;
  if (!t->done || t->shut) {
    copy_str(t->err, sizeof t->err,
             t->shut ? "write after close_notify" : "write before handshake");
    return MP_E_TLS_FAILED;
  }
  while (len > 0) {
    ERR_clear_error();
    if (SSL_write_ex(t->ssl, buf, len, &n) != 1) {
      int rc = map_error(t, 0);
      if (rc == MP_EAGAIN) { /* cannot happen with memory BIOs */
        copy_str(t->err, sizeof t->err, "TLS write would block");
        t->failed = rc = MP_E_TLS_FAILED;
      }
      return rc;
    }
    buf = (const char *)buf + n;
    len -= n;
  }
  size_t held = BIO_ctrl_pending(t->wbio);
  if (held > t->wbio_peak)
    t->wbio_peak = held;
  return 0;
}

/* Queues close_notify (RFC 8446 6.1) once; a no-op before the handshake
 * finished or after a failure. */
void mp_tls_shutdown(struct mp_tls *t)
{
  if (t->shut || !t->done || t->failed)
    return;
  t->shut = 1;
  ERR_clear_error();
  SSL_shutdown(t->ssl);
  ERR_clear_error();
}

/* Bytes of ciphertext waiting for mp_tls_drain. */
size_t mp_tls_pending(const struct mp_tls *t)
{
  return BIO_ctrl_pending(t->wbio);
}

/* Moves up to cap bytes of ciphertext for the peer into buf. */
size_t mp_tls_drain(struct mp_tls *t, void *buf, size_t cap)
{
  if (cap > INT_MAX)
    cap = INT_MAX;
  int n = cap ? BIO_read(t->wbio, buf, (int)cap) : 0;
  if (n <= 0)
    return 0;
  if (BIO_ctrl_pending(t->wbio) == 0)
    trim_bios(t);
  return (size_t)n;
}

/* 1 once the handshake finished. */
int mp_tls_done(const struct mp_tls *t)
{
  return t != NULL && t->done;
}

static void print_name(const X509_NAME *name, char *buf, size_t cap)
{
  /* One line, "CN=mx.example.test, O=Example", UTF-8 as is. */
  const unsigned long flags =
      (XN_FLAG_ONELINE & ~XN_FLAG_SPC_EQ & ~ASN1_STRFLGS_ESC_MSB) |
      ASN1_STRFLGS_UTF8_CONVERT;
  BIO *b = BIO_new(BIO_s_mem());
  char *data = NULL;
  long n;

  buf[0] = '\0';
  if (b == NULL)
    return;
  if (name != NULL && X509_NAME_print_ex(b, name, 0, flags) >= 0) {
    n = BIO_get_mem_data(b, &data);
    if (n > 0) {
      size_t len = (size_t)n < cap - 1 ? (size_t)n : cap - 1;
      memcpy(buf, data, len);
      buf[len] = '\0';
    }
  }
  BIO_free(b);
}

/* Whole days from now until notAfter, rounded down (-1 an hour after it). */
static int days_until(const ASN1_TIME *when)
{
  int day = 0, sec = 0;

  if (when == NULL || ASN1_TIME_diff(&day, &sec, NULL, when) != 1)
    return 0;
  long long total = (long long)day * 86400 + sec;
  long long d = total / 86400;
  if (total % 86400 < 0)
    d--;
  return (int)d;
}

/* A certificate time as seconds since 1970; 0 when unreadable. */
static int64_t epoch_seconds(const ASN1_TIME *when)
{
  struct tm tm;

  if (when == NULL || ASN1_TIME_to_tm(when, &tm) != 1)
    return 0;
  return (int64_t)timegm(&tm);
}

/* The earliest notAfter of the chain the peer sent (the leaf included),
 * as blackbox_exporter's probe_ssl_earliest_cert_expiry reports it. */
static int64_t earliest_expiry(const struct mp_tls *t, X509 *leaf)
{
  STACK_OF(X509) *chain = SSL_get_peer_cert_chain(t->ssl);
  int64_t min = epoch_seconds(X509_get0_notAfter(leaf));
  for (int i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
    int64_t e = epoch_seconds(X509_get0_notAfter(sk_X509_value(chain, i)));
    if (e != 0 && (min == 0 || e < min))
      min = e;
  }
  return min;
}

/* The peer's leaf certificate; after a failed verification the session
 * has none yet, but the chain as received is kept. */
static X509 *peer_leaf(const struct mp_tls *t)
{
  X509 *x = SSL_get0_peer_certificate(t->ssl);
  STACK_OF(X509) * chain;

  if (x == NULL && !t->is_server &&
      (chain = SSL_get_peer_cert_chain(t->ssl)) != NULL &&
      sk_X509_num(chain) > 0)
    x = sk_X509_value(chain, 0);
  return x;
}

/* Version, cipher and the peer certificate's facts; after a handshake
 * that failed on the certificate, what the certificate said. */
void mp_tls_get_info(const struct mp_tls *t, struct mp_tls_info *info)
{
  memset(info, 0, sizeof *info);
  if (t == NULL)
    return;
  X509 *peer = peer_leaf(t);
  if (!t->done && peer == NULL)
    return;
  copy_str(info->version, sizeof info->version, SSL_get_version(t->ssl));
  copy_str(info->cipher, sizeof info->cipher, SSL_get_cipher_name(t->ssl));
  if (peer != NULL) {
    print_name(X509_get_subject_name(peer), info->subject,
               sizeof info->subject);
    print_name(X509_get_issuer_name(peer), info->issuer, sizeof info->issuer);
    info->days_left = days_until(X509_get0_notAfter(peer));
    info->not_after = epoch_seconds(X509_get0_notAfter(peer));
    info->earliest_expiry = earliest_expiry(t, peer);
  }
  if (t->is_server)
    return;
  long v = t->verify_err ? t->verify_err : SSL_get_verify_result(t->ssl);
  if (peer == NULL)
    copy_str(info->verify_error, sizeof info->verify_error,
             "no peer certificate");
  else if (v != X509_V_OK)
    copy_str(info->verify_error, sizeof info->verify_error,
             X509_verify_cert_error_string(v));
  else if (t->done)
    info->verified = 1;
}

char *mp_tls_peer_pem(const struct mp_tls *t, unsigned *n)
{
  X509 *x = t ? peer_leaf(t) : NULL;
  STACK_OF(X509) *chain = t ? SSL_get_peer_cert_chain(t->ssl) : NULL;
  BIO *b = x ? BIO_new(BIO_s_mem()) : NULL;
  char *data = NULL, *out = NULL;
  long len;

  *n = chain ? (unsigned)sk_X509_num(chain) : x ? 1 : 0;
  if (b && PEM_write_bio_X509(b, x) == 1 &&
      (len = BIO_get_mem_data(b, &data)) > 0 &&
      (out = malloc((size_t)len + 1)) != NULL) {
    memcpy(out, data, (size_t)len);
    out[len] = '\0';
  }
  BIO_free(b);
  return out;
}

int mp_tls_ctx_pin(struct mp_tls_ctx *ctx, const char *version,
                   const char *cipher, char *err, size_t errlen)
{
  static const struct {
    const char *name;
    int v;
  } versions[] = {{"TLSv1", TLS1_VERSION},
                  {"TLSv1.1", TLS1_1_VERSION},
                  {"TLSv1.2", TLS1_2_VERSION},
                  {"TLSv1.3", TLS1_3_VERSION}};
  SSL_CTX *sctx = ctx->ssl_ctx;
  int v = 0;

  for (size_t i = 0; version && i < sizeof(versions) / sizeof(*versions); i++)
    if (strcmp(version, versions[i].name) == 0)
      v = versions[i].v;
  if (version && (!v || !SSL_CTX_set_min_proto_version(sctx, v) ||
                  !SSL_CTX_set_max_proto_version(sctx, v))) {
    snprintf(err, errlen, "cannot offer %s", version);
    ERR_clear_error();
    return -1;
  }
  /* A TLS 1.3 suite (its IANA name, "TLS_...") goes to the suites, any
   * other name to the TLS 1.2 list; tried on a scratch context first, as a
   * refused list can leave the context's list empty. */
  int tls13 = cipher && strncmp(cipher, "TLS_", 4) == 0;
  SSL_CTX *scratch = cipher ? SSL_CTX_new(TLS_server_method()) : NULL;
  int usable =
      scratch && (tls13 ? SSL_CTX_set_ciphersuites(scratch, cipher)
                        : SSL_CTX_set_cipher_list(scratch, cipher)) == 1;
  SSL_CTX_free(scratch);
  if (cipher &&
      (!usable || (tls13 ? SSL_CTX_set_ciphersuites(sctx, cipher)
                         : SSL_CTX_set_cipher_list(sctx, cipher)) != 1)) {
    snprintf(err, errlen, "cannot offer the cipher %s", cipher);
    ERR_clear_error();
    return -1;
  }
  ERR_clear_error();
  return 0;
}

/* The reason for the last failure, "" if there was none. */
const char *mp_tls_error(const struct mp_tls *t)
{
  return t != NULL ? t->err : "";
}
