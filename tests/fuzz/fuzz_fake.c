/* Fuzz target for the fake servers' command parsers (and their script
 * engine) on the real line engine: mp_fake_start on 127.0.0.1:0 for the
 * protocol chosen at build time (FUZZ_FAKE_PROTO), listening in the
 * in-memory network (wire/memnet.h), then a raw end dialled to it plays
 * the input, half-closes, and reads until the server closes (or goes
 * quiet, tests/fuzz/feeder.h); then the server is reset. One loop
 * serves the whole run, and one server with its own mail store serves
 * every input of one configuration (the low six bits of the control
 * byte): made at its first input, then mp_fake_reset after each input, so
 * every input meets it as new (sessions numbered from 1, the store
 * emptied and seeded again) without the cost of a start and a stop.
 * After each input the loop must hold no handle but the run's own.
 *
 * Input: one control byte, then the bytes the client sends.
 *   bit 0  tls: starttls (the certificate and the server's TLS context are
 *          made once per process and shared through mp_fake_env.tls_ctx;
 *          what follows STARTTLS is fed to the TLS layer as a ClientHello)
 *   bit 1  auth_requires_tls
 *   bit 2  a script: rules on commands, lines and the message's end
 *   bit 3  every SASL mechanism advertised (SCRAM too), else the default
 *   bit 4  withhold STARTTLS and AUTH, advertise X-FUZZ
 *   bit 5  POP3: APOP timestamp in the greeting
 *   bit 6  talk first: the first turn goes out before the greeting
 * The client's bytes are turns separated by 0xff, each sent once the
 * server answered the last (tests/fuzz/feeder.h), in chunks cut at odd
 * places. */
#include "fake_servers/fake.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "fake_servers/mailstore.h"
#include "tests/fuzz/feeder.h"
#include "wire/cert.h"
#include "wire/deadline.h"
#include "wire/memnet.h"
#include "wire/tls.h"

#ifndef FUZZ_FAKE_PROTO
#define FUZZ_FAKE_PROTO MP_FAKE_SMTP
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define IDLE_MS 30       /* the server's idle timeout */
#define WATCHDOG_MS 5000 /* a run this long is a hang: abort */

static struct mp_ca *ca;
static struct mp_tls_ctx *tls_ctx;

/* The run's loop and what lives as long as it. */
static uv_loop_t loop;
static struct mp_memnet *net;
static struct mp_deadline pin; /* keeps the loop's deadline queue */
static uv_timer_t watchdog;

struct run {
  struct mp_mem_end *client;
  struct fz_feeder feed;
  struct mp_fake_server *srv;
  int client_closing;
  int reset; /* the server is as new again */
  int early; /* send before the greeting */
};

static void on_reset(void *data, int rc)
{
  struct run *r = data;
  if (rc != 0) {
    fprintf(stderr, "fuzz_fake: reset: %d\n", rc);
    abort();
  }
  r->reset = 1;
}

/* Closes the client and what drives it, then resets the server. */
static void finish(struct run *r)
{
  if (r->client_closing)
    return;
  r->client_closing = 1;
  /* FUZZ_VERBOSE=1 shows what the server took in (to check seeds). */
  if (getenv("FUZZ_VERBOSE") != NULL) {
    size_t n;
    const struct mp_fake_seen *seen = mp_fake_seen(r->srv, &n);
    for (size_t i = 0; i < n; i++)
      fprintf(stderr, "seen %u%s: %s\n", seen[i].session,
              seen[i].tls ? " tls" : "", seen[i].line);
  }
  mp_mem_end_close(r->client, 0);
  r->client = NULL;
  fz_feeder_close(&r->feed);
  mp_fake_reset(r->srv, on_reset, r);
}

/* The server closed, or went quiet after our FIN. */
static void on_fed(struct fz_feeder *f)
{
  finish(f->data_ptr);
}

/* Which server lines end an answer, so the next turn goes out. SMTP:
 * "250-" continues a reply. POP3: the status line ("+OK", "-ERR", "+ "
 * challenge) counts, a multi-line body after it does not (the next turn
 * may then overtake the body: pipelining, which RFC 2449 allows). IMAP:
 * a tagged line or a "+" continuation, not untagged data. */
static FZ_NOCOV int reply_end(const char *line, size_t len)
{
  switch (FUZZ_FAKE_PROTO) {
  case MP_FAKE_SMTP:
    return len < 4 || line[3] != '-';
  case MP_FAKE_POP3:
    return len > 0 && (line[0] == '+' || line[0] == '-');
  default:
    return len < 2 || line[0] != '*' || line[1] != ' ';
  }
}

static void on_connect(struct mp_mem_end *e, int status)
{
  struct run *r = mp_mem_end_data(e);
  if (status < 0) {
    fprintf(stderr, "fuzz_fake: connect: %d\n", status);
    abort();
  }
  /* The first turn waits for the greeting, unless we talk early. */
  fz_feeder_start(&r->feed, e, !r->early);
}

static void on_watchdog(uv_timer_t *t)
{
  (void)t;
  fprintf(stderr, "fuzz_fake: the run took over %d ms\n", WATCHDOG_MS);
  abort();
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
  char *cert = NULL, *key = NULL, err[256];
  ca = mp_ca_new("fuzz CA", MP_KEY_EC_P256);
  if (ca == NULL ||
      mp_cert_issue(ca, MP_CERT_VALID, "mx.example.test", MP_KEY_EC_P256, &cert,
                    &key) < 0 ||
      (tls_ctx = mp_tls_ctx_server(cert, key, err, sizeof err)) == NULL)
    abort();
  free(cert);
  free(key);
  if (uv_loop_init(&loop) != 0 || (net = mp_memnet_new(&loop)) == NULL ||
      mp_deadline_join(&pin, &loop, on_pin) != 0)
    abort();
  uv_timer_init(&loop, &watchdog);
  uv_unref((uv_handle_t *)&watchdog);
  fz_loop_baseline(&loop);
  return 0;
}

/* The script of bit 2: one rule of each kind the parser feeds. */
static char *noop_reply[] = {"250-first", "250-second", "250 third"};
static char *rset_reply[] = {"421 4.3.2 going away"};
static char *msg_reply[] = {"250 2.0.0 queued as FUZZ"};
static char *capa_reply[] = {"+OK", "USER", "SASL PLAIN", "."};
static struct mp_fake_rule rules[] = {
    {.on = MP_ON_COMMAND,
     .match = "NOOP",
     .when_tls = -1,
     .reply = noop_reply,
     .nreply = 3,
     .drip_bytes = 7,
     .drip_every_ms = 0},
    {.on = MP_ON_COMMAND,
     .match = "RSET",
     .nth = 2,
     .when_tls = -1,
     .reply = rset_reply,
     .nreply = 1,
     .then = MP_THEN_CLOSE},
    {.on = MP_ON_LINE,
     .match = "X-RESET*",
     .when_tls = -1,
     .then = MP_THEN_RESET},
    {.on = MP_ON_LINE, .match = "*hang*", .when_tls = 0, .then = MP_THEN_HANG},
    {.on = MP_ON_MESSAGE,
     .when_tls = -1,
     .reply = msg_reply,
     .nreply = 1,
     .send = "extra bytes\r\n",
     .send_len = 13,
     .delay_ms = 2},
    {.on = MP_ON_COMMAND,
     .match = "CAPA",
     .when_tls = -1,
     .reply = capa_reply,
     .nreply = 4},
};

static char *all_auth[] = {"SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "LOGIN",
                           "PLAIN"};
static char *withhold[] = {"STARTTLS", "STLS", "AUTH", "SASL"};
static char *advertise[] = {"X-FUZZ"};
static struct mp_fake_user users[] = {
    {.name = "probe@example.test", .password = "s3cret"},
    {.name = "user", .password = "pencil"},
};
static struct mp_fake_mailbox mailboxes[] = {
    {.user = "probe@example.test", .messages = 3, .size = 300},
};

/* The server of each configuration (control bits 0-5) and its store. */
#define NCONF 64
static struct mp_fake_server *servers[NCONF];
static struct mp_mailstore *stores[NCONF];

/* The server for the control byte: the one kept, else a new one. */
static struct mp_fake_server *server_for(uint8_t ctl)
{
  unsigned k = ctl & (NCONF - 1);
  if (servers[k] != NULL)
    return servers[k];
  struct mp_fake_config cfg = {
      .name = "fz",
      .proto = FUZZ_FAKE_PROTO,
      .tls = (ctl & 1) ? MP_FAKE_TLS_STARTTLS : MP_FAKE_TLS_NONE,
      .cert = MP_CERT_VALID,
      .hostname = "mx.example.test",
      .users = users,
      .nusers = sizeof users / sizeof users[0],
      .auth_requires_tls = (ctl & 2) != 0,
      .apop = (ctl & 32) != 0,
      .mailboxes = mailboxes,
      .nmailboxes = 1,
      .idle_timeout_ms = IDLE_MS,
  };
  if (ctl & 4) {
    cfg.rules = rules;
    cfg.nrules = sizeof rules / sizeof rules[0];
  }
  if (ctl & 8) {
    cfg.auth = all_auth;
    cfg.nauth = sizeof all_auth / sizeof all_auth[0];
    cfg.auth_set = 1;
  }
  if (ctl & 16) {
    cfg.withhold = withhold;
    cfg.nwithhold = sizeof withhold / sizeof withhold[0];
    cfg.advertise = advertise;
    cfg.nadvertise = 1;
  }
  stores[k] = mp_mailstore_new();
  struct mp_fake_env env = {.ca = ca, .store = stores[k], .tls_ctx = tls_ctx};
  if (stores[k] == NULL ||
      mp_fake_start(&loop, &cfg, &env, "127.0.0.1", 0, &servers[k]) != 0)
    abort();
  /* Its listener is a handle of the run's from now on. */
  fz_loop_baseline(&loop);
  return servers[k];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct run r;
  struct sockaddr_in addr;
  uint8_t ctl;

  if (size < 1)
    return 0;
  ctl = data[0];
  memset(&r, 0, sizeof r);
  r.early = (ctl & 64) != 0;
  r.srv = server_for(ctl);

  static const struct mp_mem_end_cbs client_cbs = {.on_connect = on_connect};
  fz_feeder_init(&r.feed, &loop, net, data + 1, size - 1);
  r.feed.data_ptr = &r;
  r.feed.done = on_fed;
  r.feed.reply_end = reply_end;
  uv_update_time(&loop);
  uv_timer_start(&watchdog, on_watchdog, WATCHDOG_MS, 0);
  uv_ip4_addr("127.0.0.1", mp_fake_port(r.srv), &addr);
  if (mp_memnet_dial(net, (struct sockaddr *)&addr, &client_cbs, &r,
                     &r.client) != 0)
    abort();
  uv_run(&loop, UV_RUN_DEFAULT);
  if (!r.reset) {
    fprintf(stderr, "fuzz_fake: the loop ended before the server reset\n");
    abort();
  }
  uv_timer_stop(&watchdog);
  uv_run(&loop, UV_RUN_DEFAULT);
  fz_loop_check(&loop, "fuzz_fake");
  return 0;
}
