/* The TLS layer with a client and a server back to back in memory:
 * ciphertext drained from one side is fed to the other until both
 * handshakes end. Certificates come from wire/cert.c. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wire/cert.h"
#include "wire/errors.h"
#include "wire/tls.h"

#define HOST "mx.example.test"

static struct mp_ca *ca;

struct pair {
  struct mp_tls_ctx *cctx, *sctx;
  struct mp_tls *c, *s;
  int crc, src; /* last handshake results */
};

static void setup(void)
{
  ca = mp_ca_new("mailprobe test CA", MP_KEY_EC_P256);
  ck_assert_ptr_nonnull(ca);
}

static void teardown(void)
{
  mp_ca_free(ca);
  ca = NULL;
}

/* Moves ciphertext from one side to the other: all of it (step 0), or
 * only the next step bytes. Returns the bytes moved. */
static size_t move(struct mp_tls *from, struct mp_tls *to, size_t step)
{
  char buf[4096];
  size_t total = 0, n;

  while ((n = mp_tls_drain(from, buf, step ? step : sizeof buf)) > 0) {
    ck_assert_int_eq(mp_tls_feed(to, buf, n), 0);
    total += n;
    if (step)
      break;
  }
  return total;
}

/* Runs both handshakes, each step after every move, until nothing moves;
 * with step 1 each side sees the other's flight one byte at a time. */
static void handshake(struct pair *p, size_t step)
{
  p->crc = p->src = MP_EAGAIN;
  for (int i = 0; i < 100000; i++) {
    if (p->crc == MP_EAGAIN)
      p->crc = mp_tls_handshake(p->c);
    if (p->src == MP_EAGAIN)
      p->src = mp_tls_handshake(p->s);
    if (move(p->c, p->s, step) + move(p->s, p->c, step) == 0)
      return;
  }
  ck_abort_msg("handshake did not settle");
}

/* A client context per opts and a server with a leaf of the given kind. */
static void pair_open(struct pair *p, enum mp_cert_kind kind,
                      const char *cert_host, const char *client_host,
                      enum mp_key_type key, int insecure)
{
  char err[256] = "";
  char *cert = NULL, *pkey = NULL;
  struct mp_tls_client_opts o = {.ca_pem = mp_ca_pem(ca), .insecure = insecure};

  memset(p, 0, sizeof *p);
  ck_assert_int_eq(mp_cert_issue(ca, kind, cert_host, key, &cert, &pkey), 0);
  p->sctx = mp_tls_ctx_server(cert, pkey, err, sizeof err);
  ck_assert_msg(p->sctx != NULL, "server ctx: %s", err);
  free(cert);
  free(pkey);
  p->cctx = mp_tls_ctx_client(&o, err, sizeof err);
  ck_assert_msg(p->cctx != NULL, "client ctx: %s", err);
  p->c = mp_tls_new(p->cctx, 0, client_host);
  p->s = mp_tls_new(p->sctx, 1, NULL);
  ck_assert_ptr_nonnull(p->c);
  ck_assert_ptr_nonnull(p->s);
  /* Sessions hold their own references. */
  mp_tls_ctx_unref(p->cctx);
  mp_tls_ctx_unref(p->sctx);
}

static void pair_close(struct pair *p)
{
  mp_tls_free(p->c);
  mp_tls_free(p->s);
}

/* Sends len bytes from one side and reads them all on the other, moving
 * the ciphertext step bytes at a time (0: in big chunks). */
static void transfer(struct mp_tls *from, struct mp_tls *to, const void *data,
                     size_t len, size_t step)
{
  char *got = malloc(len + 1);
  char buf[4096];
  size_t have = 0, n;
  int r;

  ck_assert_ptr_nonnull(got);
  ck_assert_int_eq(mp_tls_write(from, data, len), 0);
  ck_assert_uint_gt(mp_tls_pending(from), len);
  while ((n = mp_tls_drain(from, buf, step ? step : sizeof buf)) > 0) {
    ck_assert_int_eq(mp_tls_feed(to, buf, n), 0);
    while ((r = mp_tls_read(to, got + have, len + 1 - have)) > 0)
      have += (size_t)r;
    ck_assert_int_eq(r, MP_EAGAIN);
  }
  ck_assert_uint_eq(have, len);
  ck_assert(memcmp(got, data, len) == 0);
  free(got);
}

START_TEST(valid_cert_verifies)
{
  struct pair p;
  struct mp_tls_info ci, si;

  pair_open(&p, MP_CERT_VALID, HOST, HOST, MP_KEY_EC_P256, 0);
  ck_assert_int_eq(mp_tls_done(p.c), 0);
  handshake(&p, 0);
  ck_assert_msg(p.crc == 0, "client: %d %s", p.crc, mp_tls_error(p.c));
  ck_assert_msg(p.src == 0, "server: %d %s", p.src, mp_tls_error(p.s));
  ck_assert_int_eq(mp_tls_done(p.c), 1);
  ck_assert_int_eq(mp_tls_done(p.s), 1);
  mp_tls_get_info(p.c, &ci);
  ck_assert_str_eq(ci.version, "TLSv1.3");
  ck_assert_str_eq(ci.cipher, "TLS_AES_256_GCM_SHA384");
  ck_assert_str_eq(ci.subject, "CN=" HOST);
  ck_assert_str_eq(ci.issuer, "CN=mailprobe test CA");
  ck_assert_int_ge(ci.days_left, 89);
  ck_assert_int_le(ci.days_left, 90);
  ck_assert_int_eq(ci.verified, 1);
  ck_assert_str_eq(ci.verify_error, "");
  ck_assert_str_eq(mp_tls_error(p.c), "");
  /* The server sees the version too; it has no peer certificate. */
  mp_tls_get_info(p.s, &si);
  ck_assert_str_eq(si.version, "TLSv1.3");
  ck_assert_str_eq(si.subject, "");
  ck_assert_int_eq(si.verified, 0);
  pair_close(&p);
}
END_TEST

/* Before the handshake: no facts, no writes, reads wait. */
START_TEST(before_handshake)
{
  struct pair p;
  struct mp_tls_info info;
  char buf[16];

  pair_open(&p, MP_CERT_VALID, HOST, HOST, MP_KEY_EC_P256, 0);
  mp_tls_get_info(p.c, &info);
  ck_assert_str_eq(info.version, "");
  ck_assert_int_eq(info.verified, 0);
  ck_assert_int_eq(mp_tls_write(p.c, "x", 1), MP_E_TLS_FAILED);
  mp_tls_get_info(NULL, &info);
  ck_assert_str_eq(info.version, "");
  ck_assert_str_eq(mp_tls_error(NULL), "");
  ck_assert_int_eq(mp_tls_done(NULL), 0);
  ck_assert_int_eq(mp_tls_read(p.s, buf, sizeof buf), MP_EAGAIN);
  ck_assert_uint_eq(mp_tls_pending(p.s), 0);
  /* A server session on a client context is refused. */
  ck_assert_ptr_null(mp_tls_new(p.cctx, 1, NULL));
  pair_close(&p);
}
END_TEST

static const struct bad_case {
  enum mp_cert_kind kind;
  const char *cert_host;
  const char *client_host;
  const char *why;
} bad_cases[] = {
    {MP_CERT_EXPIRED, HOST, HOST, "certificate has expired"},
    {MP_CERT_NOT_YET_VALID, HOST, HOST, "certificate is not yet valid"},
    {MP_CERT_SELF_SIGNED, HOST, HOST, "self-signed certificate"},
    {MP_CERT_WRONG_HOST, HOST, HOST, "hostname mismatch"},
    {MP_CERT_VALID, "other.example.test", HOST, "hostname mismatch"},
    {MP_CERT_VALID, "127.0.0.2", "127.0.0.1", "IP address mismatch"},
    /* Two faults: the first one found is the one reported. */
    {MP_CERT_SELF_SIGNED, "other.example.test", HOST,
     "self-signed certificate"},
    {MP_CERT_EXPIRED, "other.example.test", HOST, "hostname mismatch"},
    {MP_CERT_VALID, HOST, "127.0.0.1", "IP address mismatch"},
};

START_TEST(bad_cert_fails_when_verifying)
{
  const struct bad_case *bc = &bad_cases[_i];
  struct pair p;
  struct mp_tls_info info;

  pair_open(&p, bc->kind, bc->cert_host, bc->client_host, MP_KEY_EC_P256, 0);
  handshake(&p, 0);
  ck_assert_msg(p.crc == MP_E_CERT_INVALID, "%s: client %d (%s)",
                mp_cert_kind_name(bc->kind), p.crc, mp_tls_error(p.c));
  ck_assert_str_eq(mp_tls_error(p.c), bc->why);
  /* The client's alert ends the server's handshake too. */
  ck_assert_int_eq(p.src, MP_E_TLS_FAILED);
  ck_assert_str_ne(mp_tls_error(p.s), "");
  /* Failures are sticky. */
  ck_assert_int_eq(mp_tls_handshake(p.c), MP_E_CERT_INVALID);
  /* What the certificate said is still there for the report. */
  mp_tls_get_info(p.c, &info);
  ck_assert_int_eq(info.verified, 0);
  ck_assert_str_eq(info.verify_error, bc->why);
  ck_assert_str_eq(info.version, "TLSv1.3");
  ck_assert_ptr_nonnull(strstr(info.subject, "CN="));
  ck_assert_str_ne(info.issuer, "");
  if (bc->kind == MP_CERT_EXPIRED)
    ck_assert_int_lt(info.days_left, 0);
  else
    ck_assert_int_ge(info.days_left, 89);
  pair_close(&p);
}
END_TEST

START_TEST(bad_cert_passes_when_insecure)
{
  const struct bad_case *bc = &bad_cases[_i];
  struct pair p;
  struct mp_tls_info info;

  pair_open(&p, bc->kind, bc->cert_host, bc->client_host, MP_KEY_EC_P256, 1);
  handshake(&p, 0);
  ck_assert_msg(p.crc == 0, "client %d (%s)", p.crc, mp_tls_error(p.c));
  ck_assert_int_eq(p.src, 0);
  mp_tls_get_info(p.c, &info);
  ck_assert_int_eq(info.verified, 0);
  ck_assert_str_eq(info.verify_error, bc->why);
  if (bc->kind == MP_CERT_EXPIRED)
    ck_assert_int_lt(info.days_left, 0);
  else
    ck_assert_int_ge(info.days_left, 89);
  transfer(p.c, p.s, "EHLO probe\r\n", 12, 0);
  pair_close(&p);
}
END_TEST

/* insecure does not hide a good certificate. */
START_TEST(valid_cert_insecure_still_verified)
{
  struct pair p;
  struct mp_tls_info info;

  pair_open(&p, MP_CERT_VALID, HOST, HOST, MP_KEY_EC_P256, 1);
  handshake(&p, 0);
  ck_assert_int_eq(p.crc, 0);
  mp_tls_get_info(p.c, &info);
  ck_assert_int_eq(info.verified, 1);
  ck_assert_str_eq(info.verify_error, "");
  pair_close(&p);
}
END_TEST

START_TEST(data_both_ways)
{
  struct pair p;
  size_t big = 100 * 1024;
  char *payload = malloc(big);

  ck_assert_ptr_nonnull(payload);
  for (size_t i = 0; i < big; i++)
    payload[i] = (char)(i * 7 + i / 251);
  pair_open(&p, MP_CERT_VALID, HOST, HOST, MP_KEY_EC_P256, 0);
  handshake(&p, 0);
  ck_assert_int_eq(p.crc, 0);
  ck_assert_int_eq(p.src, 0);
  transfer(p.s, p.c, "220 mx.example.test ESMTP\r\n", 27, 0);
  transfer(p.c, p.s, "EHLO probe\r\n", 12, 0);
  transfer(p.c, p.s, payload, big, 0);
  transfer(p.s, p.c, payload, big, 0);
  /* Ciphertext one byte at a time. */
  transfer(p.c, p.s, payload, 40000, 1);
  transfer(p.s, p.c, "250 OK\r\n", 8, 1);
  /* Zero bytes: nothing to send. */
  ck_assert_int_eq(mp_tls_write(p.c, payload, 0), 0);
  ck_assert_uint_eq(mp_tls_pending(p.c), 0);
  free(payload);
  pair_close(&p);
}
END_TEST

/* The handshake itself with ciphertext fed one byte at a time. */
START_TEST(handshake_one_byte_at_a_time)
{
  struct pair p;

  pair_open(&p, MP_CERT_VALID, HOST, HOST, MP_KEY_EC_P256, 0);
  handshake(&p, 1);
  ck_assert_msg(p.crc == 0, "client: %d %s", p.crc, mp_tls_error(p.c));
  ck_assert_int_eq(p.src, 0);
  transfer(p.c, p.s, "QUIT\r\n", 6, 1);
  pair_close(&p);
}
END_TEST

static const struct garbage_case {
  int server; /* feed the server instead of the client */
  const char *bytes;
  size_t len;
  const char *why; /* a substring of mp_tls_error */
} garbage_cases[] = {
    {0, "220 hello\r\n", 11, "plain text: \"220 hello\""},
    {0, "2", 1, "plain text: \"2\""},
    {0, "* OK IMAP4rev1 ready\r\n", 22, "* OK IMAP4rev1 ready"},
    /* A record header that claims a handshake, then junk: OpenSSL's own
     * parser decides. */
    {0, "\x16\x03\x03\x00\x05hello", 10, ""},
    {0, "\x15\x03\x03\x00\x02\x02\x28", 7, "handshake failure"},
    {1, "EHLO probe\r\n", 12, ""},
};

START_TEST(garbage_fails_handshake)
{
  const struct garbage_case *g = &garbage_cases[_i];
  struct pair p;
  struct mp_tls *t;
  struct mp_tls_info info;

  pair_open(&p, MP_CERT_VALID, HOST, HOST, MP_KEY_EC_P256, 0);
  t = g->server ? p.s : p.c;
  ck_assert_int_eq(mp_tls_handshake(t), MP_EAGAIN);
  ck_assert_int_eq(mp_tls_feed(t, g->bytes, g->len), 0);
  ck_assert_int_eq(mp_tls_handshake(t), MP_E_TLS_FAILED);
  ck_assert_str_ne(mp_tls_error(t), "");
  ck_assert_msg(strstr(mp_tls_error(t), g->why) != NULL, "error: %s",
                mp_tls_error(t));
  ck_assert_int_eq(mp_tls_handshake(t), MP_E_TLS_FAILED);
  mp_tls_get_info(t, &info);
  ck_assert_str_eq(info.subject, "");
  ck_assert_int_eq(info.verified, 0);
  pair_close(&p);
}
END_TEST

START_TEST(close_notify)
{
  struct pair p;
  char buf[64];

  pair_open(&p, MP_CERT_VALID, HOST, HOST, MP_KEY_EC_P256, 0);
  handshake(&p, 0);
  ck_assert_int_eq(p.crc, 0);
  /* Data before close_notify is still delivered. */
  ck_assert_int_eq(mp_tls_write(p.s, "221 bye\r\n", 9), 0);
  mp_tls_shutdown(p.s);
  mp_tls_shutdown(p.s); /* once only */
  ck_assert_int_eq(mp_tls_write(p.s, "x", 1), MP_E_TLS_FAILED);
  move(p.s, p.c, 0);
  ck_assert_int_eq(mp_tls_read(p.c, buf, sizeof buf), 9);
  ck_assert(memcmp(buf, "221 bye\r\n", 9) == 0);
  ck_assert_int_eq(mp_tls_read(p.c, buf, sizeof buf), MP_E_CONNECTION_CLOSED);
  ck_assert_int_eq(mp_tls_read(p.c, buf, sizeof buf), MP_E_CONNECTION_CLOSED);
  /* The client answers with its own close_notify. */
  mp_tls_shutdown(p.c);
  move(p.c, p.s, 0);
  ck_assert_int_eq(mp_tls_read(p.s, buf, sizeof buf), MP_E_CONNECTION_CLOSED);
  pair_close(&p);
}
END_TEST

static const struct ip_case {
  const char *cert_host, *client_host;
} ip_cases[] = {
    {"127.0.0.1", "127.0.0.1"},
    {"::1", "::1"},
    {"::1", "[::1]"},
};

START_TEST(ip_literal_verifies)
{
  struct pair p;
  struct mp_tls_info info;

  pair_open(&p, MP_CERT_VALID, ip_cases[_i].cert_host, ip_cases[_i].client_host,
            MP_KEY_EC_P256, 0);
  handshake(&p, 0);
  ck_assert_msg(p.crc == 0, "client: %d %s", p.crc, mp_tls_error(p.c));
  mp_tls_get_info(p.c, &info);
  ck_assert_int_eq(info.verified, 1);
  pair_close(&p);
}
END_TEST

START_TEST(rsa_key_works)
{
  struct pair p;
  struct mp_tls_info info;

  pair_open(&p, MP_CERT_VALID, HOST, HOST, MP_KEY_RSA_2048, 0);
  handshake(&p, 0);
  ck_assert_msg(p.crc == 0, "client: %d %s", p.crc, mp_tls_error(p.c));
  mp_tls_get_info(p.c, &info);
  ck_assert_int_eq(info.verified, 1);
  transfer(p.s, p.c, "+OK ready\r\n", 11, 0);
  pair_close(&p);
}
END_TEST

/* cafile; and the system store, which must not trust our CA. */
START_TEST(trust_sources)
{
  char path[] = "/tmp/check_tls_caXXXXXX";
  char err[256] = "";
  char *cert = NULL, *pkey = NULL;
  int fd = mkstemp(path);
  const char *pem = mp_ca_pem(ca);

  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, pem, strlen(pem)), (ssize_t)strlen(pem));
  close(fd);
  ck_assert_int_eq(
      mp_cert_issue(ca, MP_CERT_VALID, HOST, MP_KEY_EC_P256, &cert, &pkey), 0);

  for (int mode = 0; mode < 2; mode++) {
    struct mp_tls_client_opts o = {.cafile = mode == 0 ? path : NULL};
    struct pair p = {0};
    p.sctx = mp_tls_ctx_server(cert, pkey, err, sizeof err);
    p.cctx = mp_tls_ctx_client(&o, err, sizeof err);
    ck_assert_msg(p.cctx != NULL, "%s", err);
    p.c = mp_tls_new(p.cctx, 0, HOST);
    p.s = mp_tls_new(p.sctx, 1, NULL);
    mp_tls_ctx_unref(p.cctx);
    mp_tls_ctx_unref(p.sctx);
    handshake(&p, 0);
    if (mode == 0) {
      ck_assert_msg(p.crc == 0, "cafile: %s", mp_tls_error(p.c));
    } else {
      ck_assert_int_eq(p.crc, MP_E_CERT_INVALID);
      ck_assert_str_eq(mp_tls_error(p.c),
                       "unable to get local issuer certificate");
    }
    pair_close(&p);
  }
  unlink(path);
  free(cert);
  free(pkey);
}
END_TEST

START_TEST(context_errors)
{
  char err[256];
  char *cert = NULL, *pkey = NULL, *cert2 = NULL, *pkey2 = NULL;
  struct mp_tls_client_opts missing = {.cafile = "/nonexistent/ca.pem"};
  struct mp_tls_client_opts junk = {.ca_pem = "not a certificate"};
  struct mp_tls_ctx *ctx;

  ck_assert_int_eq(
      mp_cert_issue(ca, MP_CERT_VALID, HOST, MP_KEY_EC_P256, &cert, &pkey), 0);
  ck_assert_int_eq(
      mp_cert_issue(ca, MP_CERT_VALID, HOST, MP_KEY_EC_P256, &cert2, &pkey2),
      0);

  err[0] = '\0';
  ck_assert_ptr_null(mp_tls_ctx_client(&missing, err, sizeof err));
  ck_assert_msg(strstr(err, "/nonexistent/ca.pem") != NULL, "%s", err);
  err[0] = '\0';
  ck_assert_ptr_null(mp_tls_ctx_client(&junk, err, sizeof err));
  ck_assert_str_ne(err, "");
  err[0] = '\0';
  ck_assert_ptr_null(mp_tls_ctx_server("junk", pkey, err, sizeof err));
  ck_assert_str_ne(err, "");
  err[0] = '\0';
  ck_assert_ptr_null(mp_tls_ctx_server(cert, "junk", err, sizeof err));
  ck_assert_str_ne(err, "");
  err[0] = '\0';
  ck_assert_ptr_null(mp_tls_ctx_server(cert, pkey2, err, sizeof err));
  ck_assert_msg(strstr(err, "mismatch") != NULL, "%s", err);
  ck_assert_ptr_null(mp_tls_ctx_server(NULL, pkey, err, sizeof err));

  /* A chain: leaf then CA; the context keeps both. */
  size_t n = strlen(cert) + strlen(mp_ca_pem(ca)) + 1;
  char *chain = malloc(n);
  snprintf(chain, n, "%s%s", cert, mp_ca_pem(ca));
  ctx = mp_tls_ctx_server(chain, pkey, err, sizeof err);
  ck_assert_msg(ctx != NULL, "%s", err);
  /* A session of a server context must be a server. */
  ck_assert_ptr_null(mp_tls_new(ctx, 0, HOST));
  mp_tls_ctx_ref(ctx);
  mp_tls_ctx_unref(ctx);
  mp_tls_ctx_unref(ctx);
  mp_tls_ctx_unref(NULL);
  mp_tls_free(NULL);

  free(chain);
  free(cert);
  free(pkey);
  free(cert2);
  free(pkey2);
}
END_TEST

/* The session keeps working after a burst trims its memory BIOs. */
START_TEST(many_messages_after_burst)
{
  struct pair p;
  size_t big = 200 * 1024;
  char *payload = calloc(1, big);
  char line[32];

  ck_assert_ptr_nonnull(payload);
  pair_open(&p, MP_CERT_VALID, HOST, HOST, MP_KEY_EC_P256, 0);
  handshake(&p, 0);
  ck_assert_int_eq(p.crc, 0);
  transfer(p.c, p.s, payload, big, 0);
  for (int i = 0; i < 50; i++) {
    int n = snprintf(line, sizeof line, "250 line %d\r\n", i);
    transfer(p.s, p.c, line, (size_t)n, 0);
    transfer(p.c, p.s, line, (size_t)n, 0);
  }
  free(payload);
  pair_close(&p);
}
END_TEST

/* ---- the chain memo ---------------------------------------------------- */

/* A server context for a leaf from ca_of (NULL: the test CA) of the given
 * kind for host. */
static struct mp_tls_ctx *server_ctx(struct mp_ca *ca_of,
                                     enum mp_cert_kind kind, const char *host)
{
  char err[256] = "";
  char *cert = NULL, *pkey = NULL;
  struct mp_tls_ctx *sctx;

  ck_assert_int_eq(mp_cert_issue(ca_of ? ca_of : ca, kind, host, MP_KEY_EC_P256,
                                 &cert, &pkey),
                   0);
  sctx = mp_tls_ctx_server(cert, pkey, err, sizeof err);
  ck_assert_msg(sctx != NULL, "server ctx: %s", err);
  free(cert);
  free(pkey);
  return sctx;
}

static struct mp_tls_ctx *client_ctx(struct mp_ca *trusted, int insecure)
{
  char err[256] = "";
  struct mp_tls_client_opts o = {.ca_pem = mp_ca_pem(trusted ? trusted : ca),
                                 .insecure = insecure};
  struct mp_tls_ctx *cctx = mp_tls_ctx_client(&o, err, sizeof err);

  ck_assert_msg(cctx != NULL, "client ctx: %s", err);
  return cctx;
}

/* One handshake of a client session on cctx for host against a server
 * session on sctx; the client's result, its facts in info. */
static int handshake_on(struct mp_tls_ctx *cctx, struct mp_tls_ctx *sctx,
                        const char *host, struct mp_tls_info *info, char *why,
                        size_t whylen)
{
  struct pair p = {.cctx = cctx, .sctx = sctx};

  p.c = mp_tls_new(cctx, 0, host);
  p.s = mp_tls_new(sctx, 1, NULL);
  ck_assert_ptr_nonnull(p.c);
  ck_assert_ptr_nonnull(p.s);
  handshake(&p, 0);
  mp_tls_get_info(p.c, info);
  snprintf(why, whylen, "%s", mp_tls_error(p.c));
  if (p.crc == 0)
    transfer(p.c, p.s, "EHLO probe\r\n", 12, 0);
  pair_close(&p);
  return p.crc;
}

static void counts(struct mp_tls_ctx *cctx, unsigned long *hits,
                   unsigned long *misses)
{
  mp_tls_ctx_memo_counts(cctx, hits, misses);
}

/* A second handshake with the same chain and name is answered from the
 * memo and says exactly what the first one said. */
START_TEST(memo_hit_tells_the_same)
{
  struct mp_tls_ctx *cctx = client_ctx(NULL, 0);
  struct mp_tls_ctx *sctx = server_ctx(NULL, MP_CERT_VALID, HOST);
  struct mp_tls_info a, b;
  char why[256];
  unsigned long hits, misses;

  ck_assert_int_eq(handshake_on(cctx, sctx, HOST, &a, why, sizeof why), 0);
  counts(cctx, &hits, &misses);
  ck_assert_uint_eq(hits, 0);
  ck_assert_uint_eq(misses, 1);
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(handshake_on(cctx, sctx, HOST, &b, why, sizeof why), 0);
    ck_assert_int_eq(b.verified, 1);
    ck_assert_str_eq(b.verify_error, a.verify_error);
    ck_assert_str_eq(b.subject, a.subject);
    ck_assert_str_eq(b.issuer, a.issuer);
    /* days_left counts from now: a second boundary may pass between. */
    ck_assert_int_le(b.days_left, a.days_left);
    ck_assert_int_ge(b.days_left, a.days_left - 1);
    ck_assert_str_eq(b.version, a.version);
    ck_assert_str_eq(why, "");
  }
  counts(cctx, &hits, &misses);
  ck_assert_uint_eq(hits, 3);
  ck_assert_uint_eq(misses, 1);
  mp_tls_ctx_unref(sctx);
  mp_tls_ctx_unref(cctx);
}
END_TEST

/* After a hit, whatever differs is verified in full and fails as it
 * would have without the memo. */
static const struct memo_case {
  enum mp_cert_kind kind;
  const char *cert_host, *client_host;
  int other_ca; /* the leaf comes from another CA of the same name */
  const char *why;
} memo_cases[] = {
    {MP_CERT_VALID, HOST, "other.example.test", 0, "hostname mismatch"},
    {MP_CERT_VALID, HOST, "127.0.0.1", 0, "IP address mismatch"},
    {MP_CERT_WRONG_HOST, HOST, HOST, 0, "hostname mismatch"},
    {MP_CERT_EXPIRED, HOST, HOST, 0, "certificate has expired"},
    {MP_CERT_NOT_YET_VALID, HOST, HOST, 0, "certificate is not yet valid"},
    {MP_CERT_SELF_SIGNED, HOST, HOST, 0, "self-signed certificate"},
    {MP_CERT_VALID, HOST, HOST, 1, "unable to get local issuer certificate"},
    {MP_CERT_VALID, HOST, HOST, -1, ""}, /* a new valid leaf: a miss */
};

START_TEST(memo_changed_chain_or_name_fails)
{
  const struct memo_case *mc = &memo_cases[_i];
  struct mp_tls_ctx *cctx = client_ctx(NULL, 0);
  struct mp_tls_ctx *good = server_ctx(NULL, MP_CERT_VALID, HOST);
  struct mp_ca *other = NULL;
  struct mp_tls_ctx *bad;
  struct mp_tls_info info, ref;
  char why[256];
  unsigned long hits, misses;

  ck_assert_int_eq(handshake_on(cctx, good, HOST, &ref, why, sizeof why), 0);
  ck_assert_int_eq(handshake_on(cctx, good, HOST, &ref, why, sizeof why), 0);
  counts(cctx, &hits, &misses);
  ck_assert_uint_eq(hits, 1);
  if (mc->other_ca == 1) {
    /* Same CA name, another key: only the signature tells them apart. */
    other = mp_ca_new("mailprobe test CA", MP_KEY_EC_P256);
    ck_assert_ptr_nonnull(other);
  }
  bad = mc->other_ca == 0 && mc->kind == MP_CERT_VALID &&
                strcmp(mc->client_host, HOST) != 0
            ? good
            : server_ctx(other, mc->kind, mc->cert_host);
  if (bad == good)
    mp_tls_ctx_ref(good);
  for (int i = 0; i < 2; i++) {
    int rc = handshake_on(cctx, bad, mc->client_host, &info, why, sizeof why);
    if (mc->why[0] == '\0') {
      ck_assert_int_eq(rc, 0);
      ck_assert_int_eq(info.verified, 1);
      continue;
    }
    ck_assert_msg(rc == MP_E_CERT_INVALID, "%d %s", rc, why);
    ck_assert_str_eq(why, mc->why);
    ck_assert_str_eq(info.verify_error, mc->why);
    ck_assert_int_eq(info.verified, 0);
  }
  counts(cctx, &hits, &misses);
  /* A failure is never remembered; a new good chain is, once verified. */
  ck_assert_uint_eq(hits, mc->why[0] == '\0' ? 2 : 1);
  ck_assert_uint_eq(misses, mc->why[0] == '\0' ? 2 : 3);
  /* The first chain still hits. */
  ck_assert_int_eq(handshake_on(cctx, good, HOST, &info, why, sizeof why), 0);
  ck_assert_int_eq(info.verified, 1);
  ck_assert_str_eq(info.subject, ref.subject);
  mp_tls_ctx_unref(bad);
  mp_tls_ctx_unref(good);
  mp_tls_ctx_unref(cctx);
  mp_ca_free(other);
}
END_TEST

/* A context that trusts another CA has a memo of its own. */
START_TEST(memo_other_trust_store_fails)
{
  struct mp_ca *other = mp_ca_new("another CA", MP_KEY_EC_P256);
  struct mp_tls_ctx *cctx = client_ctx(NULL, 0);
  struct mp_tls_ctx *octx;
  struct mp_tls_ctx *sctx = server_ctx(NULL, MP_CERT_VALID, HOST);
  struct mp_tls_info info;
  char why[256];

  ck_assert_ptr_nonnull(other);
  octx = client_ctx(other, 0);
  ck_assert_int_eq(handshake_on(cctx, sctx, HOST, &info, why, sizeof why), 0);
  ck_assert_int_eq(handshake_on(cctx, sctx, HOST, &info, why, sizeof why), 0);
  for (int i = 0; i < 2; i++) {
    ck_assert_int_eq(handshake_on(octx, sctx, HOST, &info, why, sizeof why),
                     MP_E_CERT_INVALID);
    ck_assert_str_eq(why, "unable to get local issuer certificate");
  }
  mp_tls_ctx_unref(sctx);
  mp_tls_ctx_unref(octx);
  mp_tls_ctx_unref(cctx);
  mp_ca_free(other);
}
END_TEST

/* An insecure context goes on after a bad chain but never remembers it:
 * every handshake reports the fault. */
START_TEST(memo_insecure_keeps_reporting)
{
  struct mp_tls_ctx *cctx = client_ctx(NULL, 1);
  struct mp_tls_ctx *sctx = server_ctx(NULL, MP_CERT_WRONG_HOST, HOST);
  struct mp_tls_info info;
  char why[256];
  unsigned long hits, misses;

  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(handshake_on(cctx, sctx, HOST, &info, why, sizeof why), 0);
    ck_assert_int_eq(info.verified, 0);
    ck_assert_str_eq(info.verify_error, "hostname mismatch");
  }
  counts(cctx, &hits, &misses);
  ck_assert_uint_eq(hits, 0);
  ck_assert_uint_eq(misses, 3);
  mp_tls_ctx_unref(sctx);
  mp_tls_ctx_unref(cctx);
}
END_TEST

/* A remembered chain whose leaf expires afterwards fails as expired: a
 * hit checks the validity times again. */
START_TEST(memo_rechecks_expiry)
{
  struct mp_tls_ctx *cctx = client_ctx(NULL, 0);
  struct mp_tls_ctx *sctx;
  struct mp_tls_info info;
  char err[256] = "", why[256];
  char *cert = NULL, *pkey = NULL;
  unsigned long hits, misses;

  /* Valid for the next 2 seconds. */
  ck_assert_int_eq(
      mp_cert_issue_window(ca, HOST, MP_KEY_EC_P256, -60, 2, &cert, &pkey), 0);
  sctx = mp_tls_ctx_server(cert, pkey, err, sizeof err);
  ck_assert_msg(sctx != NULL, "%s", err);
  ck_assert_int_eq(handshake_on(cctx, sctx, HOST, &info, why, sizeof why), 0);
  ck_assert_int_eq(handshake_on(cctx, sctx, HOST, &info, why, sizeof why), 0);
  counts(cctx, &hits, &misses);
  ck_assert_uint_eq(hits, 1);
  ck_assert_int_eq(info.verified, 1);
  /* notAfter counts whole seconds: 3.2 s later it is behind us. */
  for (int i = 0; i < 32; i++)
    usleep(100 * 1000);
  ck_assert_int_eq(handshake_on(cctx, sctx, HOST, &info, why, sizeof why),
                   MP_E_CERT_INVALID);
  ck_assert_str_eq(why, "certificate has expired");
  ck_assert_str_eq(info.verify_error, "certificate has expired");
  ck_assert_int_lt(info.days_left, 0);
  counts(cctx, &hits, &misses);
  ck_assert_uint_eq(hits, 1);
  ck_assert_uint_eq(misses, 2);
  free(cert);
  free(pkey);
  mp_tls_ctx_unref(sctx);
  mp_tls_ctx_unref(cctx);
}
END_TEST

/* More chains than the memo holds: the oldest make room, all verify. */
START_TEST(memo_is_bounded)
{
  struct mp_tls_ctx *cctx = client_ctx(NULL, 0);
  struct mp_tls_ctx *sctx[20];
  struct mp_tls_info info;
  char why[256];
  unsigned long hits, misses;

  for (int i = 0; i < 20; i++) {
    sctx[i] = server_ctx(NULL, MP_CERT_VALID, HOST);
    ck_assert_int_eq(handshake_on(cctx, sctx[i], HOST, &info, why, sizeof why),
                     0);
  }
  /* The last 16 are remembered, the first 4 were pushed out (newest
   * first, so the misses at the end push out none that is asked for). */
  for (int i = 19; i >= 0; i--)
    ck_assert_int_eq(handshake_on(cctx, sctx[i], HOST, &info, why, sizeof why),
                     0);
  counts(cctx, &hits, &misses);
  ck_assert_uint_eq(misses, 20 + 4);
  ck_assert_uint_eq(hits, 16);
  for (int i = 0; i < 20; i++)
    mp_tls_ctx_unref(sctx[i]);
  mp_tls_ctx_unref(cctx);
}
END_TEST

static Suite *tls_suite(void)
{
  Suite *s = suite_create("tls");
  TCase *tc = tcase_create("core");

  tcase_set_timeout(tc, 120);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, valid_cert_verifies);
  tcase_add_test(tc, before_handshake);
  tcase_add_loop_test(tc, bad_cert_fails_when_verifying, 0,
                      sizeof bad_cases / sizeof bad_cases[0]);
  tcase_add_loop_test(tc, bad_cert_passes_when_insecure, 0,
                      sizeof bad_cases / sizeof bad_cases[0]);
  tcase_add_test(tc, valid_cert_insecure_still_verified);
  tcase_add_test(tc, data_both_ways);
  tcase_add_test(tc, handshake_one_byte_at_a_time);
  tcase_add_loop_test(tc, garbage_fails_handshake, 0,
                      sizeof garbage_cases / sizeof garbage_cases[0]);
  tcase_add_test(tc, close_notify);
  tcase_add_loop_test(tc, ip_literal_verifies, 0,
                      sizeof ip_cases / sizeof ip_cases[0]);
  tcase_add_test(tc, rsa_key_works);
  tcase_add_test(tc, trust_sources);
  tcase_add_test(tc, context_errors);
  tcase_add_test(tc, many_messages_after_burst);
  tcase_add_test(tc, memo_hit_tells_the_same);
  tcase_add_loop_test(tc, memo_changed_chain_or_name_fails, 0,
                      sizeof memo_cases / sizeof memo_cases[0]);
  tcase_add_test(tc, memo_other_trust_store_fails);
  tcase_add_test(tc, memo_insecure_keeps_reporting);
  tcase_add_test(tc, memo_rechecks_expiry);
  tcase_add_test(tc, memo_is_bounded);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(tls_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
