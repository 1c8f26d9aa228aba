/* Fuzz target for wire/sasl.c and wire/sasl_scram.c, both halves of every
 * mechanism.
 *
 * Input: one control byte, then lines (split on '\n').
 *   bits 0-2  mechanism (mod MP_SASL_COUNT: SCRAM-SHA-256, SCRAM-SHA-1,
 *             CRAM-MD5, LOGIN, PLAIN)
 *   bit 3     0: server half, 1: client half
 *   bit 4     1: each line is raw bytes that this target base64-encodes
 *             (reaches the mechanisms' parsers); 0: the line is the base64
 *             text as it crossed the wire (reaches the decoder)
 *   bit 5     server: no initial response (every line is a step);
 *             client: skip mp_sasl_client_initial
 * Server: the first line is the initial response (or NULL, bit 5), then
 * each further line is mp_sasl_server_step, with a fixed table of users.
 * Client: each line is a server challenge for mp_sasl_client_step.
 * Stops at DONE or an error, checking the results the header allows.
 *
 * GNU SASL draws SCRAM nonces and salts through gsasl_nonce(); this
 * binary's definition makes them fixed, so a run is deterministic and the
 * seed corpus can hold whole valid SCRAM exchanges (built by the
 * FUZZ_SEED_MAIN mode below). */
#include "wire/sasl.h"

#include <gsasl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz_util.h"
#include "wire/codec.h"
#include "wire/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_STEPS 16
#define CRAM_CHALLENGE "<1896.697170952@postoffice.reston.mci.net>"

/* Fixed nonces and salts: the same bytes every time. */
int gsasl_nonce(char *buf, size_t len)
{
  if (mp_sasl_take_nonce(buf, len))
    return GSASL_OK;
  for (size_t i = 0; i < len; i++)
    buf[i] = (char)(0x5a ^ (i * 37));
  return GSASL_OK;
}

static const struct {
  const char *user, *password;
} users[] = {
    {"probe@example.test", "s3cret"},
    {"tim", "tanstaaftanstaaf"}, /* RFC 2195 */
    {"user", "pencil"},          /* RFC 5802, RFC 7677 */
    {"a,b=c", "p\xc3\xa4ss"},    /* SCRAM's escaped name, UTF-8 */
};

static const char *lookup(void *d, const char *user)
{
  (void)d;
  for (size_t i = 0; i < sizeof users / sizeof users[0]; i++)
    if (strcmp(users[i].user, user) == 0)
      return users[i].password;
  return NULL;
}

/* The text to hand over for one line: base64 of its bytes (raw mode) or
 * the line itself, NUL-terminated. Caller frees. */
static char *message(const uint8_t *line, size_t len, int raw)
{
  char *s;

  if (raw)
    return mp_b64_encode(line, len);
  s = malloc(len + 1);
  if (s != NULL) {
    memcpy(s, line, len);
    s[len] = '\0';
  }
  return s;
}

static void check_rc(int rc, const char *out)
{
  if (rc != MP_SASL_CONTINUE && rc != MP_SASL_DONE && rc != MP_E_AUTH_FAILED &&
      rc != MP_E_PROTOCOL_ERROR && rc != MP_E_NO_RESOURCES)
    abort();
  /* A challenge or answer to send is base64 (or RFC 4954's "="). */
  if (out != NULL && strcmp(out, "=") != 0) {
    size_t n;
    unsigned char *d = mp_b64_decode(out, &n);
    if (d == NULL)
      abort();
    free(d);
  }
  if (rc == MP_SASL_CONTINUE && out == NULL)
    abort();
}

static void run_server(int mech, int no_initial, int raw, struct fz_lines *it)
{
  struct mp_sasl_server *s =
      mp_sasl_server_new(mech, "mx.example.test", lookup, NULL);
  const uint8_t *line;
  size_t len;
  char *msg = NULL, *out = NULL;
  int rc, steps = 0;

  if (s == NULL)
    abort();
  if (mech == MP_SASL_CRAM_MD5)
    mp_sasl_server_set_challenge(s, CRAM_CHALLENGE);
  if (no_initial) {
    rc = mp_sasl_server_start(s, NULL, &out);
  } else {
    if (!fz_lines_next(it, &line, &len))
      goto done;
    msg = message(line, len, raw);
    if (msg == NULL)
      goto done;
    rc = mp_sasl_server_start(s, msg, &out);
    free(msg);
  }
  check_rc(rc, out);
  free(out);
  out = NULL;
  while (rc == MP_SASL_CONTINUE && steps++ < MAX_STEPS &&
         fz_lines_next(it, &line, &len)) {
    msg = message(line, len, raw);
    if (msg == NULL)
      break;
    rc = mp_sasl_server_step(s, msg, &out);
    free(msg);
    check_rc(rc, out);
    free(out);
    out = NULL;
  }
  if (rc == MP_SASL_DONE) {
    const char *u = mp_sasl_server_user(s);
    if (u == NULL || lookup(NULL, u) == NULL)
      abort();
  } else if (mp_sasl_server_user(s) != NULL) {
    abort();
  }
  /* Whatever state it is in, one more step never crashes. */
  if (rc != MP_SASL_CONTINUE) {
    if (mp_sasl_server_step(s, "", &out) != MP_E_PROTOCOL_ERROR)
      abort();
    free(out);
  }
done:
  mp_sasl_server_free(s);
}

/* FUZZ_TOLERATE=iter skips SCRAM server-first messages with an iteration
 * count above 65536 (a known bug: the client runs PBKDF2 for any count
 * the server names, see tests/fuzz/crashes/sasl-1), so a campaign can
 * look past it. */
static int too_many_iterations(const char *b64)
{
  unsigned char *d;
  size_t n;
  int big;

  if (!fz_tolerate("iter") || (d = mp_b64_decode(b64, &n)) == NULL)
    return 0;
  big = fz_big_iter(d, n);
  free(d);
  return big;
}

static void run_client(int mech, int no_initial, int raw, struct fz_lines *it)
{
  struct mp_sasl_client *c =
      mp_sasl_client_new(mech, "probe@example.test", "s3cret");
  const uint8_t *line;
  size_t len;
  char *msg, *out = NULL;
  int rc = MP_SASL_CONTINUE, steps = 0;

  if (c == NULL)
    abort();
  if (!no_initial) {
    rc = mp_sasl_client_initial(c, &out);
    if (rc != 0 && rc != MP_E_NO_RESOURCES && rc != MP_E_PROTOCOL_ERROR &&
        rc != MP_E_AUTH_FAILED)
      abort();
    check_rc(rc, out);
    free(out);
    out = NULL;
    if (rc < 0)
      goto done;
    rc = MP_SASL_CONTINUE;
  }
  while (rc == MP_SASL_CONTINUE && steps++ < MAX_STEPS &&
         fz_lines_next(it, &line, &len)) {
    msg = message(line, len, raw);
    if (msg == NULL || too_many_iterations(msg)) {
      free(msg);
      break;
    }
    rc = mp_sasl_client_step(c, msg, &out);
    free(msg);
    check_rc(rc, out);
    if (rc < 0 && out != NULL)
      abort();
    free(out);
    out = NULL;
  }
  if (rc != MP_SASL_CONTINUE) {
    if (mp_sasl_client_step(c, "", &out) != MP_E_PROTOCOL_ERROR)
      abort();
    free(out);
  }
done:
  mp_sasl_client_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct fz_lines it;
  int mech, client, raw, no_initial;

  if (size < 1)
    return 0;
  mech = (data[0] & 7) % MP_SASL_COUNT;
  client = (data[0] >> 3) & 1;
  raw = (data[0] >> 4) & 1;
  no_initial = (data[0] >> 5) & 1;
  fz_lines_init(&it, data + 1, size - 1);
  if (client)
    run_client(mech, no_initial, raw, &it);
  else
    run_server(mech, no_initial, raw, &it);
  return 0;
}

#ifdef FUZZ_SEED_MAIN
/* Writes seeds: whole exchanges between our client and server halves for
 * every mechanism (raw mode: the decoded messages, one per line), plus the
 * client's view of the same exchange. Lines must not hold '\n'; PLAIN's
 * NULs are fine. Usage: fuzz_sasl_seeds DIR. */
static void put(FILE *f, const char *b64)
{
  size_t n;
  unsigned char *d = mp_b64_decode(b64, &n);
  if (d == NULL || memchr(d, '\n', n) != NULL) {
    fprintf(stderr, "unusable message %s\n", b64);
    exit(1);
  }
  fwrite(d, 1, n, f);
  fputc('\n', f);
  free(d);
}

int main(int argc, char **argv)
{
  char path[4096];

  if (argc != 2)
    return 2;
  for (int mech = 0; mech < MP_SASL_COUNT; mech++) {
    for (int ir = 0; ir < 2; ir++) {
      struct mp_sasl_client *c =
          mp_sasl_client_new(mech, "probe@example.test", "s3cret");
      struct mp_sasl_server *s =
          mp_sasl_server_new(mech, "mx.example.test", lookup, NULL);
      char *cout = NULL, *sout = NULL;
      int crc, src;
      FILE *fs, *fc;

      if (mech == MP_SASL_CRAM_MD5)
        mp_sasl_server_set_challenge(s, CRAM_CHALLENGE);
      snprintf(path, sizeof path, "%s/server-%s-%s", argv[1],
               mp_sasl_name(mech), ir ? "ir" : "noir");
      fs = fopen(path, "wb");
      snprintf(path, sizeof path, "%s/client-%s-%s", argv[1],
               mp_sasl_name(mech), ir ? "ir" : "noir");
      fc = fopen(path, "wb");
      if (fs == NULL || fc == NULL)
        return 1;
      fputc(mech | 0x10 | (ir ? 0 : 0x20), fs);
      fputc(mech | 0x08 | 0x10 | (ir ? 0 : 0x20), fc);
      crc = MP_SASL_CONTINUE;
      if (ir) {
        crc = mp_sasl_client_initial(c, &cout);
        if (crc < 0)
          return 1;
      }
      if (cout != NULL) {
        put(fs, cout);
        src = mp_sasl_server_start(s, cout, &sout);
      } else {
        src = mp_sasl_server_start(s, NULL, &sout);
      }
      free(cout);
      cout = NULL;
      while (src == MP_SASL_CONTINUE) {
        put(fc, sout);
        crc = mp_sasl_client_step(c, sout, &cout);
        free(sout);
        sout = NULL;
        if (crc < 0 || cout == NULL)
          break;
        put(fs, cout);
        src = mp_sasl_server_step(s, cout, &sout);
        free(cout);
        cout = NULL;
      }
      fprintf(stderr, "%s ir=%d: server %d client %d\n", mp_sasl_name(mech), ir,
              src, crc);
      free(sout);
      free(cout);
      fclose(fs);
      fclose(fc);
      mp_sasl_client_free(c);
      mp_sasl_server_free(s);
    }
  }
  return 0;
}
#endif
