/* Fuzz target for the fake servers' command parsers (and their script
 * engine) on the real line engine: mp_fake_start on 127.0.0.1:0 for the
 * protocol chosen at build time (FUZZ_FAKE_PROTO), then a plain libuv
 * client (none of our code) plays the input to it, half-closes, and
 * reads until the server closes (or gives up after CLIENT_GIVE_UP_MS);
 * then the server is stopped. Each run has its own loop and mail store;
 * the loop must close with no handle left.
 *
 * Input: one control byte, then the bytes the client sends.
 *   bit 0  tls: starttls (the certificate is made once per process; what
 *          follows STARTTLS is fed to the TLS layer as a ClientHello)
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

#ifndef FUZZ_FAKE_PROTO
#define FUZZ_FAKE_PROTO MP_FAKE_SMTP
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define IDLE_MS 30            /* the server's idle timeout */
#define CLIENT_GIVE_UP_MS 200 /* the client closes after this */
#define WATCHDOG_MS 5000      /* a run this long is a hang: abort */

static struct mp_ca *ca;

struct run {
  uv_loop_t loop;
  uv_tcp_t client;
  uv_connect_t connect;
  struct fz_feeder feed;
  uv_timer_t give_up;
  uv_timer_t watchdog;
  struct mp_fake_server *srv;
  int client_closing;
  int stopped;
  int early; /* send before the greeting */
};

static void on_closed(uv_handle_t *h)
{
  (void)h;
}

static void on_stopped(void *data)
{
  struct run *r = data;
  r->stopped = 1;
}

/* Closes the client and what drives it, then stops the server. */
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
  uv_close((uv_handle_t *)&r->client, on_closed);
  fz_feeder_close(&r->feed);
  uv_close((uv_handle_t *)&r->give_up, on_closed);
  mp_fake_stop(r->srv, on_stopped, r);
}

/* The server closed (or the connection failed). */
static void on_fed(struct fz_feeder *f)
{
  finish(f->data_ptr);
}

/* Which server lines end an answer, so the next turn goes out. SMTP:
 * "250-" continues a reply. POP3: the status line ("+OK", "-ERR", "+ "
 * challenge) counts, a multi-line body after it does not (the next turn
 * may then overtake the body: pipelining, which RFC 2449 allows). IMAP:
 * a tagged line or a "+" continuation, not untagged data. */
static int reply_end(const char *line, size_t len)
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

static void on_connect(uv_connect_t *req, int status)
{
  struct run *r = req->data;
  if (status < 0) {
    fprintf(stderr, "fuzz_fake: connect: %s\n", uv_strerror(status));
    abort();
  }
  /* The first turn waits for the greeting, unless we talk early. */
  if (fz_feeder_start(&r->feed, (uv_stream_t *)&r->client, !r->early) != 0)
    finish(r);
}

static void on_give_up(uv_timer_t *t)
{
  finish(t->data);
}

static void on_watchdog(uv_timer_t *t)
{
  (void)t;
  fprintf(stderr, "fuzz_fake: the run took over %d ms\n", WATCHDOG_MS);
  abort();
}

static void walk_cb(uv_handle_t *h, void *arg)
{
  (void)arg;
  fprintf(stderr, "fuzz_fake: handle left open: %s%s\n",
          uv_handle_type_name(uv_handle_get_type(h)),
          uv_is_closing(h) ? " (closing)" : "");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  signal(SIGPIPE, SIG_IGN);
  ca = mp_ca_new("fuzz CA", MP_KEY_EC_P256);
  if (ca == NULL)
    abort();
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
     .drip_every_ms = 1},
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

  struct mp_mailstore *store = mp_mailstore_new();
  struct mp_fake_env env = {.ca = ca, .store = store};
  if (store == NULL || uv_loop_init(&r.loop) != 0)
    abort();
  if (mp_fake_start(&r.loop, &cfg, &env, "127.0.0.1", 0, &r.srv) != 0)
    abort();

  uv_tcp_init(&r.loop, &r.client);
  fz_feeder_init(&r.feed, &r.loop, data + 1, size - 1);
  r.feed.data_ptr = &r;
  r.feed.done = on_fed;
  r.feed.reply_end = reply_end;
  uv_timer_init(&r.loop, &r.give_up);
  r.give_up.data = &r;
  uv_timer_start(&r.give_up, on_give_up, CLIENT_GIVE_UP_MS, 0);
  uv_timer_init(&r.loop, &r.watchdog);
  uv_timer_start(&r.watchdog, on_watchdog, WATCHDOG_MS, 0);
  uv_unref((uv_handle_t *)&r.watchdog);
  uv_ip4_addr("127.0.0.1", mp_fake_port(r.srv), &addr);
  r.connect.data = &r;
  if (uv_tcp_connect(&r.connect, &r.client, (struct sockaddr *)&addr,
                     on_connect) != 0)
    abort();
  uv_run(&r.loop, UV_RUN_DEFAULT);
  if (!r.stopped) {
    fprintf(stderr, "fuzz_fake: the loop ended before the server stopped\n");
    abort();
  }
  uv_close((uv_handle_t *)&r.watchdog, on_closed);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&r.loop) != 0) {
    uv_walk(&r.loop, walk_cb, NULL);
    abort();
  }
  mp_mailstore_free(store);
  return 0;
}
