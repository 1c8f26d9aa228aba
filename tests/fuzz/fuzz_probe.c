/* Fuzz target for the probes' reply parsers on the real line engine: a
 * raw end listening at 127.0.0.1:2525 in the in-memory network
 * (wire/memnet.h) plays the input to the probe, then half-closes; the
 * probe (SMTP, POP3 or IMAP, chosen at build time by FUZZ_PROTO) connects
 * there as it would over TCP and runs with a 200 ms timeout, tls none, a
 * user and a password. One loop serves the whole run; after each input it
 * must hold no handle but the ones it started with, once the probe's
 * callback ran; half the results are serialised (JSON, Nagios or
 * Prometheus, by the input's size) before they are freed, so the server's
 * text also goes through the writers' escaping.
 * FUZZ_VERBOSE=1 prints each result's JSON (to check seeds).
 *
 * Input: one control byte, then the bytes the server sends.
 *   bit 0  POP3/IMAP: find_token set (search, fetch and delete messages
 *          whose X-Mailprobe-Token starts with "fz-"); SMTP: send a
 *          message (MAIL FROM, RCPT TO, DATA)
 *   bit 1  no user: connect and QUIT without logging in
 *   bit 2  only the simple logins allowed (no SASL)
 *   bit 3  find only (no_delete)
 * The server's bytes are turns separated by 0xff, each sent once the
 * probe answered the last (tests/fuzz/feeder.h), in chunks cut at odd
 * places. */
#include "probes/probe.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uv.h>

#include "harness/report/result_json.h"
#include "probes/result.h"
#include "tests/fuzz/feeder.h"
#include "wire/codec.h"
#include "wire/deadline.h"
#include "wire/errors.h"
#include "wire/memnet.h"
#include "wire/sasl.h"

#ifndef FUZZ_PROTO
#define FUZZ_PROTO MP_PROTO_SMTP
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* GNU SASL draws the SCRAM client nonce through gsasl_nonce(); this
 * binary's definition fixes it, so an input can hold a server-first
 * message that answers the probe's nonce and reach the rest of SCRAM
 * (base64 of these 18 bytes: "Wn8QNc7jhFlyFyjN5rtccQov"). */
int gsasl_nonce(char *buf, size_t len)
{
  for (size_t i = 0; i < len; i++)
    buf[i] = (char)(0x5a ^ (i * 37));
  return 0; /* GSASL_OK */
}

#define PROBE_TIMEOUT_MS 200
#define WATCHDOG_MS 5000 /* far past the probe's own timeout: a hang */
#define PORT 2525

/* The run's loop and what lives as long as it. */
static uv_loop_t loop;
static struct mp_memnet *net;
static struct mp_deadline pin; /* keeps the loop's deadline queue */
static uv_timer_t watchdog;
static struct sockaddr_in server_addr;

struct run {
  struct fz_feeder feed;
  struct mp_mem_end *peer; /* the accepted connection */
  int listening;
  int probe_done;
};

/* The probe's EOF (after our FIN, or its own end) or our silence. */
static void on_fed(struct fz_feeder *f)
{
  struct run *r = f->data_ptr;
  if (r->peer) {
    mp_mem_end_close(r->peer, 0);
    r->peer = NULL;
  }
}

static void on_accept(void *data, struct mp_mem_end *e)
{
  struct run *r = data;
  /* One client per run. */
  mp_memnet_unlisten(net, (struct sockaddr *)&server_addr);
  r->listening = 0;
  r->peer = e;
  fz_feeder_start(&r->feed, e, 0);
}

static void on_watchdog(uv_timer_t *t)
{
  (void)t;
  fprintf(stderr,
          "fuzz_probe: the probe ran past %d ms with a %d ms "
          "timeout\n",
          WATCHDOG_MS, PROBE_TIMEOUT_MS);
  abort();
}

/* FUZZ_TOLERATE="phase,cancel,iter" switches off the checks that catch
 * a known bug (or skips the inputs that reach it), so a campaign can look
 * past it while the fix is pending (tests/fuzz/run reports crashes either
 * way). */
static FZ_NOCOV int tolerate(const char *what)
{
  return fz_tolerate(what);
}

/* With FUZZ_TOLERATE=iter: 1 if a server line ("334 ...", "+ ...") holds
 * a SCRAM server-first message with a huge iteration count, which makes
 * the SCRAM client compute for minutes (tests/fuzz/crashes/sasl-1). */
static FZ_NOCOV int skip_input(const uint8_t *data, size_t size)
{
  struct fz_lines it;
  const uint8_t *line;
  size_t len;

  if (!tolerate("iter"))
    return 0;
  fz_lines_init(&it, data, size);
  while (fz_lines_next(&it, &line, &len)) {
    char *b64;
    unsigned char *d;
    size_t n, skip = 0, i;
    int big = 0;
    /* "334 ", "+ ", "+" (IMAP and POP3), after any turn separator. */
    for (i = 0; i < len && line[i] == FZ_TURN; i++)
      ;
    if (len - i >= 4 && memcmp(line + i, "334 ", 4) == 0)
      skip = i + 4;
    else if (len - i >= 1 && line[i] == '+')
      skip = i + (len - i >= 2 && line[i + 1] == ' ' ? 2 : 1);
    else
      continue;
    while (len > skip && (line[len - 1] == '\r' || line[len - 1] == FZ_TURN))
      len--;
    b64 = strndup((const char *)line + skip, len - skip);
    if (b64 != NULL && (d = mp_b64_decode(b64, &n)) != NULL) {
      big = fz_big_iter(d, n);
      free(d);
    }
    free(b64);
    if (big)
      return 1;
  }
  return 0;
}

/* The mechanism named by an AUTH / AUTHENTICATE command line ("AUTH
 * CRAM-MD5", "A1 AUTHENTICATE PLAIN ****"), copied into mech; 0 if the line
 * is no such command. */
static FZ_NOCOV int auth_command(const char *line, char *mech, size_t cap)
{
  const char *p = NULL;
  size_t n;

  if (strncmp(line, "AUTH ", 5) == 0)
    p = line + 5;
  else if (line[0] == 'A' && (p = strchr(line, ' ')) != NULL &&
           strncmp(p, " AUTHENTICATE ", 14) == 0)
    p += 14;
  else
    return 0;
  n = strcspn(p, " ");
  if (n == 0 || n >= cap)
    return 0;
  memcpy(mech, p, n);
  mech[n] = '\0';
  return 1;
}

static FZ_NOCOV void check_result(const struct mp_result *res)
{
  char mech[32] = "", m[32];
  int cancelled = 0, heard = 0;

  if (res->ok && res->err != 0)
    abort();
  if (!res->ok && res->err == 0)
    abort();
  if ((int)res->phase < 0 || res->phase >= MP_PHASE_COUNT)
    abort();
  if (res->err != 0 && mp_err_name(res->err) == NULL)
    abort();
  if (res->auth != NULL && mp_sasl_from_name(res->auth) < 0 &&
      strcmp(res->auth, "USER") != 0 && strcmp(res->auth, "APOP") != 0 &&
      strcmp(res->auth, "LOGIN") != 0)
    abort();
  for (size_t i = 0; i < res->ntranscript; i++) {
    const char *l = res->transcript[i].line;
    if (l == NULL)
      abort();
    /* Credentials masked: the password never shows in the transcript. */
    if (res->transcript[i].dir == 'c' && strstr(l, "s3cret") != NULL)
      abort();
    if (res->transcript[i].dir == 's')
      heard = 1;
    if (res->transcript[i].dir != 'c')
      continue;
    if (auth_command(l, m, sizeof m)) {
      memcpy(mech, m, sizeof mech);
      cancelled = 0;
    } else if (strcmp(l, "*") == 0 && mech[0] != '\0') {
      cancelled = 1;
    }
  }
  /* Once the server spoke, the probe is past resolve and connect. */
  if (heard && !tolerate("phase") &&
      (res->phase == MP_PHASE_RESOLVE || res->phase == MP_PHASE_CONNECT)) {
    fprintf(stderr,
            "fuzz_probe: the server spoke, yet the result says "
            "phase %s\n",
            mp_phase_name(res->phase));
    abort();
  }
  /* A SASL exchange we cancelled ("*", RFC 4954 4) never logged us in,
   * whatever the server answers to the cancel. */
  if (cancelled && res->auth != NULL && strcasecmp(res->auth, mech) == 0 &&
      !tolerate("cancel")) {
    fprintf(stderr,
            "fuzz_probe: %s counted as logged in after the client "
            "cancelled it with \"*\"\n",
            mech);
    abort();
  }
}

/* How results are written (set up once, in LLVMFuzzerInitialize). */
static struct mp_result_fmt fmt = {.cert_warning_days = 30,
                                   .cert_critical_days = 14,
                                   .timeout_us = PROBE_TIMEOUT_MS * 1000};

static void on_probe(struct mp_result *res, void *data)
{
  struct run *r = data;
  char *s;

  if (r->probe_done)
    abort(); /* the callback runs once */
  r->probe_done = 1;
  /* FUZZ_VERBOSE=1 shows where each input took the probe. */
  if (getenv("FUZZ_VERBOSE") != NULL && (s = mp_result_to_json(res, 0))) {
    fprintf(stderr, "%s\n", s);
    free(s);
  }
  check_result(res);
  /* Half the inputs go through one writer each, chosen by the input's
   * size so that an input always takes the same path: the three writers
   * on every result cost more than the probe itself. */
  s = NULL;
  switch ((r->feed.size / 2) % 6) {
  case 0:
    s = mp_result_to_json_fmt(res, &fmt, (int)(r->feed.size & 1));
    break;
  case 1:
    if (mp_result_nagios(res, &fmt, &s) < 0)
      s = NULL;
    break;
  case 2:
    s = mp_result_prometheus(res, &fmt);
    break;
  default:
    break;
  }
  free(s);
  mp_result_free(res);
}

static void on_pin(struct mp_deadline *d)
{
  (void)d;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  signal(SIGPIPE, SIG_IGN);
  atexit(mp_probe_cleanup);
  if (uv_loop_init(&loop) != 0 || (net = mp_memnet_new(&loop)) == NULL ||
      mp_deadline_join(&pin, &loop, on_pin) != 0)
    abort();
  uv_timer_init(&loop, &watchdog);
  uv_unref((uv_handle_t *)&watchdog);
  uv_ip4_addr("127.0.0.1", PORT, &server_addr);
  fmt.proto = mp_proto_name(FUZZ_PROTO);
  if (mp_range_parse("100ms", &fmt.warning) < 0 ||
      mp_range_parse("@150ms:", &fmt.critical) < 0)
    abort();
  fz_loop_baseline(&loop);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const char message[] = "From: fz@example.test\r\n"
                                "Subject: fuzz\r\n"
                                "\r\n"
                                ".leading dot\r\n"
                                "body\r\n";
  struct run r;
  uint8_t ctl;

  if (size < 1 || skip_input(data + 1, size - 1))
    return 0;
  ctl = data[0];
  memset(&r, 0, sizeof r);
  fz_feeder_init(&r.feed, &loop, net, data + 1, size - 1);
  r.feed.data_ptr = &r;
  r.feed.done = on_fed;
  uv_update_time(&loop);
  uv_timer_start(&watchdog, on_watchdog, WATCHDOG_MS, 0);
  if (mp_memnet_listen(net, (struct sockaddr *)&server_addr, on_accept, &r,
                       NULL) != 0)
    abort();
  r.listening = 1;

  struct mp_probe_opts o = {
      .proto = FUZZ_PROTO,
      .tls = MP_TLSMODE_NONE,
      .host = "127.0.0.1",
      .port = PORT,
      .user = (ctl & 2) ? NULL : "probe@example.test",
      .password = (ctl & 2) ? NULL : "s3cret",
      .auth = (ctl & 4) ? MP_AUTH_SIMPLE : 0,
      .timeout_ms = PROBE_TIMEOUT_MS,
      .helo = "fuzz.example.test",
      .no_delete = (ctl & 8) != 0,
  };
  if (ctl & 1) {
    if (FUZZ_PROTO == MP_PROTO_SMTP) {
      o.mail_from = "fz@example.test";
      o.rcpt_to = "probe@example.test";
      o.message = message;
      o.message_len = sizeof message - 1;
    } else {
      o.find_token = "fz-";
      o.keep_token = "fz-keep";
    }
  }
  if (mp_probe_start(&loop, &o, on_probe, &r) != 0)
    abort();
  uv_run(&loop, UV_RUN_DEFAULT);
  if (!r.probe_done) {
    fprintf(stderr, "fuzz_probe: the loop ended before the probe did\n");
    abort();
  }
  /* The probe is done and our server side closes itself; anything still
   * open now, beyond the run's own handles, is a handle someone leaked. */
  uv_timer_stop(&watchdog);
  if (r.listening)
    mp_memnet_unlisten(net, (struct sockaddr *)&server_addr);
  if (r.peer)
    mp_mem_end_close(r.peer, 0);
  fz_feeder_close(&r.feed);
  uv_run(&loop, UV_RUN_DEFAULT);
  fz_loop_check(&loop, "fuzz_probe");
  return 0;
}
