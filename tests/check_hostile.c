/* Hostile peers, both ways. The fake servers under a hostile client (idle
 * and half-closed connections, oversized commands, pipelined floods that
 * are never read) keep their memory bounded and a well-behaved session
 * unaffected; the line engine under a peer that never reads refuses to
 * queue without end and keeps its deadline; the script features the
 * hostile cases use (repeat, TLS records dripped or cut) do what they say;
 * the case parser's keys for them refuse bad values with file:line:col.
 *
 * The hostile clients run on a thread of their own with blocking POSIX
 * sockets and static buffers: they allocate no heap, so the heap the test
 * measures (harness/run/heap.h) is the server's. */
#include "harness/run/heap.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "fake_servers/fake.h"
#include "fake_servers/mailstore.h"
#include "harness/case/case.h"
#include "wire/cert.h"
#include "wire/conn.h"
#include "wire/errors.h"
#include "wire/listener.h"
#include "wire/tls.h"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define USER "probe@example.test"
#define KIB 1024u
#define MIB (1024u * 1024u)

static struct mp_fake_user users[] = {{USER, "s3cret"}};

/* ---- a heap watch ------------------------------------------------------ */

/* The peak of the heap in use, sampled after every poll of a loop. */
struct heap_watch {
  uv_check_t check;
  size_t base, peak;
};

static void on_heap_check(uv_check_t *h)
{
  struct heap_watch *w = h->data;
  size_t now = mp_heap_in_use();
  if (now > w->peak)
    w->peak = now;
}

static void heap_watch_start(uv_loop_t *loop, struct heap_watch *w)
{
  uv_check_init(loop, &w->check);
  w->check.data = w;
  w->base = w->peak = mp_heap_in_use();
  uv_check_start(&w->check, on_heap_check);
  uv_unref((uv_handle_t *)&w->check); /* the watch keeps no loop alive */
}

static size_t heap_watch_stop(struct heap_watch *w)
{
  on_heap_check(&w->check);
  uv_check_stop(&w->check);
  uv_close((uv_handle_t *)&w->check, NULL);
  return w->peak - w->base;
}

/* ---- hostile clients (a thread, blocking sockets, no heap) ------------- */

#define N_IDLE 20
#define N_HALF 20
#define N_BIG 20
#define N_FLOOD 20
#define N_HOSTILE (N_IDLE + N_HALF + N_BIG + N_FLOOD)
#define BIG_BYTES (256 * KIB)
#define FLOOD_BYTES (2 * MIB)

struct hostile {
  uint16_t port;
  const char *flood_line; /* a valid command, pipelined and never read */
  int fds[N_HOSTILE];
  int nfds;
  atomic_int ready; /* every hostile client is in place */
  atomic_int done;  /* the test is over: close them */
  size_t flood_sent;
};

static char big_buf[BIG_BYTES];
static char flood_buf[64 * KIB];

static int dial(uint16_t port)
{
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Sends what the kernel takes without blocking. */
static size_t push(int fd, const char *buf, size_t len)
{
  size_t sent = 0;
  int fl = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  while (sent < len) {
    ssize_t n = send(fd, buf + sent, len - sent, MSG_NOSIGNAL);
    if (n <= 0)
      break;
    sent += (size_t)n;
  }
  return sent;
}

static void *hostile_main(void *arg)
{
  struct hostile *h = arg;
  size_t fl = strlen(h->flood_line);
  for (size_t i = 0; i + fl <= sizeof(flood_buf); i += fl)
    memcpy(flood_buf + i, h->flood_line, fl);
  memset(big_buf, 'A', sizeof(big_buf));
  for (int i = 0; i < N_HOSTILE; i++) {
    int fd = dial(h->port);
    if (fd < 0)
      continue;
    h->fds[h->nfds++] = fd;
    if (i < N_IDLE)
      continue; /* connects, says nothing, reads nothing */
    if (i < N_IDLE + N_HALF) {
      /* Half-closed: a command, then our FIN; the read side stays. */
      push(fd, h->flood_line, fl);
      shutdown(fd, SHUT_WR);
    } else if (i < N_IDLE + N_HALF + N_BIG) {
      push(fd, big_buf, sizeof(big_buf)); /* one line, no end */
    } else {
      /* Commands pipelined by the megabyte; the answers are never read,
       * so the server must stop reading rather than queue them all. */
      size_t want = FLOOD_BYTES;
      while (want > 0) {
        size_t n = want < sizeof(flood_buf) ? want : sizeof(flood_buf);
        n -= n % fl;
        if (n == 0)
          break;
        size_t got = push(fd, flood_buf, n);
        h->flood_sent += got;
        if (got < n)
          break; /* the server stopped reading: what we wanted */
        want -= n;
      }
    }
  }
  atomic_store(&h->ready, 1);
  while (!atomic_load(&h->done))
    usleep(1000);
  for (int i = 0; i < h->nfds; i++)
    close(h->fds[i]);
  return NULL;
}

/* ---- a well-behaved client ----------------------------------------------- */

struct step {
  const char *send;   /* CRLF added; NULL: the first step waits only */
  const char *expect; /* the line that ends the answer starts so */
};

struct good {
  uv_loop_t *loop;
  struct mp_conn *c;
  const struct step *steps;
  size_t next;
  int finished; /* the last answer came */
  int failed;
  uint64_t t0, took_us;
  char last[256];
};

static void good_send(struct good *g)
{
  const struct step *st = &g->steps[g->next];
  if (st->send) {
    char buf[256];
    int n = snprintf(buf, sizeof(buf), "%s\r\n", st->send);
    mp_conn_write(g->c, buf, (size_t)n);
  }
}

static void good_line(struct mp_conn *c, char *line, size_t len)
{
  struct good *g = mp_conn_data(c);
  if (getenv("HOSTILE_DEBUG"))
    fprintf(stderr, "%8.3fms %s\n", (mp_now_us() - g->t0) / 1000.0, line);
  snprintf(g->last, sizeof(g->last), "%s", line);
  const struct step *st = &g->steps[g->next];
  if (strncmp(line, st->expect, strlen(st->expect)) != 0)
    return;
  g->next++;
  if (!g->steps[g->next].expect) {
    g->finished = 1;
    g->took_us = mp_now_us() - g->t0;
    mp_conn_close(c);
    return;
  }
  good_send(g);
}

static void good_error(struct mp_conn *c, int err)
{
  struct good *g = mp_conn_data(c);
  if (!g->finished)
    g->failed = err;
}

static void good_close(struct mp_conn *c)
{
  struct good *g = mp_conn_data(c);
  g->c = NULL;
}

static const struct mp_conn_cbs good_cbs = {
    .on_line = good_line, .on_error = good_error, .on_close = good_close};

static void good_connected(struct mp_conn *c, int status)
{
  struct good *g = mp_conn_data(c);
  if (status < 0)
    g->failed = status;
}

static void good_start(struct good *g, uint16_t port)
{
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", port, &a);
  g->t0 = mp_now_us();
  g->c = mp_conn_new(g->loop, &good_cbs, g);
  ck_assert_ptr_nonnull(g->c);
  mp_conn_set_deadline(g->c, 5000);
  ck_assert_int_eq(
      mp_conn_connect(g->c, (struct sockaddr *)&a, 2000, good_connected), 0);
}

/* ---- the fake servers under the hostile clients ------------------------ */

static const struct step smtp_steps[] = {{NULL, "220 "},
                                         {"EHLO good.example", "250 "},
                                         {"QUIT", "221 "},
                                         {NULL, NULL}};
static const struct step pop3_steps[] = {
    {NULL, "+OK"}, {"CAPA", "."}, {"QUIT", "+OK"}, {NULL, NULL}};
static const struct step imap_steps[] = {{NULL, "* OK"},
                                         {"g1 CAPABILITY", "g1 OK"},
                                         {"g2 LOGOUT", "g2 OK"},
                                         {NULL, NULL}};

static const struct proto_case {
  enum mp_fake_proto proto;
  const char *flood_line;
  const struct step *steps;
} proto_cases[] = {
    {MP_FAKE_SMTP, "NOOP\r\n", smtp_steps},
    /* CAPA is allowed in every state and answers ~100 bytes for 6. */
    {MP_FAKE_POP3, "CAPA\r\n", pop3_steps},
    {MP_FAKE_IMAP, "a NOOP\r\n", imap_steps},
};

struct siege {
  uv_loop_t loop;
  struct mp_mailstore *store;
  struct mp_fake_server *srv;
  struct hostile h;
  struct good g;
  struct heap_watch w;
  uv_timer_t poll;
  int phase; /* 0 hostile clients setting up, 1 good client, 2 settle */
  uint64_t settle_until;
  int stopped;
};

static void on_siege_stopped(void *data)
{
  struct siege *s = data;
  s->stopped = 1;
}

/* Waits for the hostile clients, runs the good one among them, lets the
 * server chew a while longer, then stops everything. */
static void on_siege_poll(uv_timer_t *t)
{
  struct siege *s = t->data;
  if (s->phase == 0 && atomic_load(&s->h.ready)) {
    s->phase = 1;
    good_start(&s->g, mp_fake_port(s->srv));
    good_send(&s->g);
  } else if (s->phase == 1 && !s->g.c) {
    s->phase = 2;
    s->settle_until = mp_now_us() + 300000;
  } else if (s->phase == 2 && mp_now_us() >= s->settle_until) {
    atomic_store(&s->h.done, 1);
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, NULL);
    mp_fake_stop(s->srv, on_siege_stopped, s);
  }
}

START_TEST(test_server_under_siege)
{
  const struct proto_case *pc = &proto_cases[_i];
  struct siege *s = calloc(1, sizeof(*s));
  ck_assert_int_eq(uv_loop_init(&s->loop), 0);
  s->store = mp_mailstore_new();
  struct mp_fake_config cfg = {0};
  cfg.name = "mx";
  cfg.proto = pc->proto;
  cfg.users = users;
  cfg.nusers = 1;
  struct mp_fake_env env = {.store = s->store};
  ck_assert_int_eq(mp_fake_start(&s->loop, &cfg, &env, "127.0.0.1", 0, &s->srv),
                   0);
  heap_watch_start(&s->loop, &s->w);

  s->h.port = mp_fake_port(s->srv);
  s->h.flood_line = pc->flood_line;
  s->g.loop = &s->loop;
  s->g.steps = pc->steps;
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, hostile_main, &s->h), 0);
  uv_timer_init(&s->loop, &s->poll);
  s->poll.data = s;
  uv_timer_start(&s->poll, on_siege_poll, 1, 1);
  uv_run(&s->loop, UV_RUN_DEFAULT);
  pthread_join(th, NULL);
  size_t grew = heap_watch_stop(&s->w);
  uv_run(&s->loop, UV_RUN_DEFAULT);
  if (getenv("HOSTILE_DEBUG"))
    fprintf(stderr, "siege %d: heap +%zu KiB, flood %zu KiB, good %llu us\n",
            _i, grew / KIB, s->h.flood_sent / KIB,
            (unsigned long long)s->g.took_us);

  ck_assert_int_eq(s->stopped, 1);
  ck_assert_int_eq(s->h.nfds, N_HOSTILE);
  /* The floods were big: the kernel's buffers alone could not take them,
   * so the server had to read (and answer) a good part. */
  ck_assert_uint_gt(s->h.flood_sent, 4 * MIB);
  ck_assert_msg(s->g.finished && s->g.failed == 0,
                "the good session did not finish (err %d, last \"%s\")",
                s->g.failed, s->g.last);
  ck_assert_msg(s->g.took_us < 1000000, "the good session took %llu us",
                (unsigned long long)s->g.took_us);
  /* 80 hostile sessions, 20 of them flooding without reading: the
   * server may hold a little per session, not the floods' answers. */
  ck_assert_msg(grew < 8 * MIB, "the server's heap grew by %zu KiB",
                grew / KIB);
  mp_mailstore_free(s->store);
  ck_assert_int_eq(uv_loop_close(&s->loop), 0);
  free(s);
}
END_TEST

/* ---- the line engine under a peer that never reads --------------------- */

struct stuck {
  uv_loop_t loop;
  struct mp_conn *c;
  int listen_fd;
  int err;
  uint64_t t0, err_at;
  size_t accepted, refused_at;
  int write_rc;
};

static void stuck_error(struct mp_conn *c, int err)
{
  struct stuck *s = mp_conn_data(c);
  s->err = err;
  s->err_at = mp_now_us() - s->t0;
}

static void stuck_close(struct mp_conn *c)
{
  struct stuck *s = mp_conn_data(c);
  s->c = NULL;
}

static const struct mp_conn_cbs stuck_cbs = {.on_error = stuck_error,
                                             .on_close = stuck_close};

static void stuck_connected(struct mp_conn *c, int status)
{
  struct stuck *s = mp_conn_data(c);
  static char chunk[256 * KIB];
  ck_assert_int_eq(status, 0);
  s->t0 = mp_now_us();
  mp_conn_set_deadline(c, 300);
  /* Write until the engine refuses: the peer reads nothing, so past the
   * kernel's buffers every byte waits in our queue. */
  for (int i = 0; i < 4096; i++) {
    int rc = mp_conn_write(c, chunk, sizeof(chunk));
    if (rc < 0) {
      s->write_rc = rc;
      s->refused_at = mp_conn_queued(c);
      break;
    }
    s->accepted += sizeof(chunk);
  }
}

START_TEST(test_engine_peer_never_reads)
{
  struct stuck *s = calloc(1, sizeof(*s));
  ck_assert_int_eq(uv_loop_init(&s->loop), 0);
  /* A listener nobody accepts on: the kernel completes the handshake and
   * buffers what it can, then our writes back up. */
  s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof(a);
  ck_assert_int_eq(bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
  ck_assert_int_eq(listen(s->listen_fd, 4), 0);
  getsockname(s->listen_fd, (struct sockaddr *)&a, &alen);
  s->c = mp_conn_new(&s->loop, &stuck_cbs, s);
  ck_assert_int_eq(
      mp_conn_connect(s->c, (struct sockaddr *)&a, 1000, stuck_connected), 0);
  uv_run(&s->loop, UV_RUN_DEFAULT);
  close(s->listen_fd);

  ck_assert_int_eq(s->write_rc, MP_E_NO_RESOURCES);
  ck_assert_uint_le(s->refused_at, MP_CONN_MAX_QUEUE);
  /* What the kernel took plus our queue: bounded, not the 1 GiB tried. */
  ck_assert_uint_lt(s->accepted, 64 * MIB);
  /* Blocked writes do not stretch the deadline. */
  ck_assert_int_eq(s->err, MP_E_TIMEOUT);
  ck_assert_uint_ge(s->err_at, 290000);
  ck_assert_uint_lt(s->err_at, 800000);
  ck_assert_ptr_null(s->c);
  ck_assert_int_eq(uv_loop_close(&s->loop), 0);
  free(s);
}
END_TEST

/* ---- output shaping: drip and cut (wire/conn.h) ------------------------- */

struct shape {
  uv_loop_t loop;
  struct mp_listener *l;
  struct mp_conn *server, *client;
  int mode; /* 0 drip, 1 cut */
  uint64_t t0, line_at_us;
  char line[64];
  unsigned char raw[64];
  size_t nraw;
  int client_err;
};

static const struct mp_conn_cbs nothing_cbs = {0};

static void shape_accept(struct mp_listener *l, struct mp_conn *c)
{
  struct shape *s = mp_listener_data(l);
  s->server = c;
  mp_conn_set_data(c, s);
  mp_conn_set_cbs(c, &nothing_cbs);
  if (s->mode == 0) {
    mp_conn_drip_output(c, 1, 5); /* a byte every 5 ms */
    mp_conn_write(c, "dripped\r\n", 9);
  } else {
    /* Two "records" (type, version, length, body), then a third: the cut
     * after two sends the tail instead of the third, then closes. */
    static const unsigned char recs[] = {0x16, 3, 3, 0, 2,  'a', 'b',
                                         0x17, 3, 3, 0, 1,  'c', 0x17,
                                         3,    3, 0, 1, 'd'};
    ck_assert_int_eq(mp_conn_cut_output(c, 2, "TAIL", 4), 0);
    mp_conn_write(c, recs, sizeof(recs));
  }
  mp_listener_close(s->l, NULL);
}

static void shape_line(struct mp_conn *c, char *line, size_t len)
{
  struct shape *s = mp_conn_data(c);
  snprintf(s->line, sizeof(s->line), "%s", line);
  s->line_at_us = mp_now_us() - s->t0;
  mp_conn_close(c);
  mp_conn_close(s->server);
}

static void shape_raw(struct mp_conn *c, const char *buf, size_t len, int last)
{
  struct shape *s = mp_conn_data(c);
  for (size_t i = 0; i < len && s->nraw < sizeof(s->raw); i++)
    s->raw[s->nraw++] = (unsigned char)buf[i];
}

static void shape_error(struct mp_conn *c, int err)
{
  struct shape *s = mp_conn_data(c);
  s->client_err = err;
}

static const struct mp_conn_cbs shape_cbs = {
    .on_line = shape_line, .on_raw = shape_raw, .on_error = shape_error};

static void shape_connected(struct mp_conn *c, int status)
{
  struct shape *s = mp_conn_data(c);
  ck_assert_int_eq(status, 0);
  if (s->mode == 1)
    mp_conn_expect_raw(c, UINT64_MAX);
}

static void shape_run(struct shape *s)
{
  ck_assert_int_eq(uv_loop_init(&s->loop), 0);
  ck_assert_int_eq(
      mp_listener_start(&s->loop, "127.0.0.1", 0, shape_accept, s, &s->l), 0);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", mp_listener_port(s->l), &a);
  s->client = mp_conn_new(&s->loop, &shape_cbs, s);
  mp_conn_set_deadline(s->client, 3000);
  s->t0 = mp_now_us();
  ck_assert_int_eq(
      mp_conn_connect(s->client, (struct sockaddr *)&a, 1000, shape_connected),
      0);
  uv_run(&s->loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&s->loop), 0);
}

START_TEST(test_drip_output)
{
  struct shape s = {0};
  shape_run(&s);
  ck_assert_str_eq(s.line, "dripped");
  /* 9 bytes, the first at once, then one every 5 ms: 40 ms at least. */
  ck_assert_uint_ge(s.line_at_us, 40000);
  ck_assert_uint_lt(s.line_at_us, 1000000);
}
END_TEST

START_TEST(test_cut_output)
{
  struct shape s = {.mode = 1};
  shape_run(&s);
  static const unsigned char want[] = {0x16, 3, 3, 0,   2,   'a', 'b', 0x17, 3,
                                       3,    0, 1, 'c', 'T', 'A', 'I', 'L'};
  ck_assert_uint_eq(s.nraw, sizeof(want));
  ck_assert_mem_eq(s.raw, want, sizeof(want));
  ck_assert_int_eq(s.client_err, MP_E_CONNECTION_CLOSED);
}
END_TEST

/* ---- script features against a raw client -------------------------------- */

struct scripted {
  uv_loop_t loop;
  struct mp_mailstore *store;
  struct mp_ca *ca;
  struct mp_tls_ctx *cctx;
  struct mp_fake_server *srv;
  struct mp_conn *c;
  int pause_after; /* >0: stop reading after this many lines */
  int close_after; /* >0: close after this many lines */
  int tls;         /* implicit TLS: handshake first */
  unsigned lines;
  char first[128], last[128];
  int err;
  int tls_status;
  uint64_t t0, tls_us, end_us;
  int stopped;
  struct heap_watch w;
  uv_timer_t resume;
};

static void scripted_stopped(void *data)
{
  struct scripted *t = data;
  t->stopped = 1;
}

static void scripted_line(struct mp_conn *c, char *line, size_t len)
{
  struct scripted *t = mp_conn_data(c);
  if (t->lines++ == 0)
    snprintf(t->first, sizeof(t->first), "%s", line);
  snprintf(t->last, sizeof(t->last), "%s", line);
  if (t->pause_after && (int)t->lines == t->pause_after)
    mp_conn_pause(c);
  if (t->close_after && (int)t->lines == t->close_after)
    mp_conn_close(c);
}

static void scripted_error(struct mp_conn *c, int err)
{
  struct scripted *t = mp_conn_data(c);
  t->err = err;
  t->end_us = mp_now_us() - t->t0;
}

static void scripted_close(struct mp_conn *c)
{
  struct scripted *t = mp_conn_data(c);
  t->c = NULL;
  if (uv_is_active((uv_handle_t *)&t->resume))
    uv_timer_stop(&t->resume);
  mp_fake_stop(t->srv, scripted_stopped, t);
}

static const struct mp_conn_cbs scripted_cbs = {.on_line = scripted_line,
                                                .on_error = scripted_error,
                                                .on_close = scripted_close};

static void scripted_tls(struct mp_conn *c, int status)
{
  struct scripted *t = mp_conn_data(c);
  t->tls_status = status;
  t->tls_us = mp_now_us() - t->t0;
  if (status < 0)
    mp_conn_close(c);
}

static void scripted_connected(struct mp_conn *c, int status)
{
  struct scripted *t = mp_conn_data(c);
  ck_assert_int_eq(status, 0);
  if (t->tls)
    ck_assert_int_eq(
        mp_conn_start_tls(c, t->cctx, 0, "mx.example.test", scripted_tls), 0);
}

static void scripted_run(struct scripted *t, struct mp_fake_config *cfg,
                         uint64_t deadline_ms)
{
  struct mp_fake_env env = {.ca = t->ca, .store = t->store};
  ck_assert_int_eq(mp_fake_start(&t->loop, cfg, &env, "127.0.0.1", 0, &t->srv),
                   0);
  heap_watch_start(&t->loop, &t->w);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", mp_fake_port(t->srv), &a);
  uv_update_time(&t->loop);
  t->c = mp_conn_new(&t->loop, &scripted_cbs, t);
  mp_conn_set_deadline(t->c, deadline_ms);
  t->t0 = mp_now_us();
  ck_assert_int_eq(
      mp_conn_connect(t->c, (struct sockaddr *)&a, 1000, scripted_connected),
      0);
  uv_run(&t->loop, UV_RUN_DEFAULT);
}

static void scripted_init(struct scripted *t, int tls)
{
  ck_assert_int_eq(uv_loop_init(&t->loop), 0);
  t->store = mp_mailstore_new();
  uv_timer_init(&t->loop, &t->resume);
  t->resume.data = t;
  if (tls) {
    char err[256];
    t->tls = 1;
    t->ca = mp_ca_new("hostile test CA", MP_KEY_EC_P256);
    ck_assert_ptr_nonnull(t->ca);
    struct mp_tls_client_opts o = {.ca_pem = mp_ca_pem(t->ca)};
    t->cctx = mp_tls_ctx_client(&o, err, sizeof(err));
    ck_assert_msg(t->cctx != NULL, "%s", err);
  }
}

static void scripted_free(struct scripted *t)
{
  uv_close((uv_handle_t *)&t->resume, NULL);
  uv_run(&t->loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(t->stopped, 1);
  if (t->cctx)
    mp_tls_ctx_unref(t->cctx);
  mp_ca_free(t->ca);
  mp_mailstore_free(t->store);
  ck_assert_int_eq(uv_loop_close(&t->loop), 0);
}

static struct mp_fake_config smtp_cfg(struct mp_fake_rule *rules, size_t n)
{
  struct mp_fake_config c = {0};
  c.name = "mx";
  c.proto = MP_FAKE_SMTP;
  c.users = users;
  c.nusers = 1;
  c.rules = rules;
  c.nrules = n;
  return c;
}

START_TEST(test_repeat_n_then_close)
{
  struct scripted t = {0};
  static char *reply[] = {"220-first"};
  struct mp_fake_rule r = {.on = MP_ON_CONNECT,
                           .when_tls = -1,
                           .reply = reply,
                           .nreply = 1,
                           .send = "220-again\r\n",
                           .send_len = 11,
                           .repeat = 1000,
                           .then = MP_THEN_CLOSE};
  struct mp_fake_config cfg = smtp_cfg(&r, 1);
  scripted_init(&t, 0);
  scripted_run(&t, &cfg, 3000);
  heap_watch_stop(&t.w);
  /* The reply once, send 1000 times, then the rule's close. */
  ck_assert_uint_eq(t.lines, 1001);
  ck_assert_str_eq(t.first, "220-first");
  ck_assert_str_eq(t.last, "220-again");
  ck_assert_int_eq(t.err, MP_E_CONNECTION_CLOSED);
  scripted_free(&t);
}
END_TEST

static void on_resume(uv_timer_t *h)
{
  struct scripted *t = h->data;
  if (t->c)
    mp_conn_resume(t->c);
}

/* repeat: forever to a client that stops reading: the server makes no
 * more copies than the client takes, and its idle timeout ends it. */
START_TEST(test_repeat_forever_unread)
{
  struct scripted t = {0};
  struct mp_fake_rule r = {.on = MP_ON_CONNECT,
                           .when_tls = -1,
                           .reply = (char *[]){NULL},
                           .nreply = 0,
                           .send = "220-flood flood flood flood\r\n",
                           .send_len = 29,
                           .repeat = MP_REPEAT_FOREVER};
  struct mp_fake_config cfg = smtp_cfg(&r, 1);
  cfg.idle_timeout_ms = 300;
  scripted_init(&t, 0);
  t.pause_after = 10;
  uv_timer_start(&t.resume, on_resume, 1000, 0);
  scripted_run(&t, &cfg, 5000);
  size_t grew = heap_watch_stop(&t.w);
  /* The session ended at the idle timeout, with the client reading again
   * after a second: what it got was bounded by what waited. */
  ck_assert_int_eq(t.err, MP_E_CONNECTION_CLOSED);
  ck_assert_uint_lt(t.end_us, 2000000);
  ck_assert_uint_gt(t.lines, 10);
  ck_assert_msg(grew < 1 * MIB, "the heap grew by %zu KiB", grew / KIB);
  scripted_free(&t);
}
END_TEST

START_TEST(test_tls_drip_handshake)
{
  struct scripted t = {0};
  struct mp_fake_rule r = {.on = MP_ON_TLS,
                           .when_tls = -1,
                           .tls_drip_bytes = 4,
                           .tls_drip_every_ms = 1};
  struct mp_fake_config cfg = smtp_cfg(&r, 1);
  cfg.tls = MP_FAKE_TLS_IMPLICIT;
  scripted_init(&t, 1);
  t.close_after = 1; /* the greeting came through TLS: done */
  scripted_run(&t, &cfg, 10000);
  heap_watch_stop(&t.w);
  ck_assert_int_eq(t.tls_status, 0);
  ck_assert_str_eq(t.first, "220 mx.example.test ESMTP mailprobe-fake");
  /* The server's flight (certificate and all, some hundreds of bytes) at
   * 4 bytes a millisecond: the handshake took a while, and it worked. */
  ck_assert_uint_ge(t.tls_us, 100000);
  scripted_free(&t);
}
END_TEST

START_TEST(test_tls_alert_mid)
{
  struct scripted t = {0};
  struct mp_fake_config cfg = smtp_cfg(NULL, 0);
  cfg.tls = MP_FAKE_TLS_IMPLICIT;
  cfg.tls_fault = MP_TLS_FAULT_ALERT_MID;
  scripted_init(&t, 1);
  scripted_run(&t, &cfg, 5000);
  heap_watch_stop(&t.w);
  ck_assert_int_eq(t.tls_status, MP_E_TLS_FAILED);
  ck_assert_uint_eq(t.lines, 0);
  scripted_free(&t);
}
END_TEST

/* ---- the case parser's keys for these features ----------------------------
 */

static const struct bad_case {
  const char *rule; /* YAML of one rule, indented for the script list */
  const char *where;
  const char *says;
} bad_cases[] = {
    {"      - on: connect\n        send: x\n        repeat: 0\n", "9:17",
     "must be from 1"},
    {"      - on: connect\n        send: x\n        repeat: always\n", "9:17",
     "a whole number or forever"},
    {"      - on: connect\n        repeat: 3\n", "8:17", "give the rule one"},
    {"      - on: connect\n        tls_drip: 1ms\n", "8:19", "needs 'on: tls'"},
    {"      - on: tls\n        tls_drip: { bytes: 0, every: 1ms }\n", "8:28",
     "must be from 1"},
    {"      - on: connect\n        send_hex: \"0g\"\n", "8:19",
     "pairs of hex digits"},
    {"      - on: connect\n        send_hex: \"abc\"\n", "8:19",
     "pairs of hex digits"},
    {"      - on: EHLO\n        take_effect: true\n", "8:22",
     "goes with reply"},
    {"      - on: tls\n        tls_fault: alert_middle\n", "8:20", "alert_mid"},
};

START_TEST(test_parser_rejects)
{
  const struct bad_case *bc = &bad_cases[_i];
  char yaml[1024], err[512], where[32];
  struct mp_case *c = NULL;
  snprintf(yaml, sizeof(yaml),
           "name: x\nservers:\n  mx:\n    protocol: smtp\n    tls: starttls\n"
           "    script:\n%sprobe:\n  type: smtp\n  server: mx\n"
           "expect:\n  status: ok\n",
           bc->rule);
  int rc = mp_case_parse(yaml, strlen(yaml), "t.yaml", &c, err, sizeof(err));
  ck_assert_msg(rc < 0, "accepted: %s", bc->rule);
  snprintf(where, sizeof(where), "t.yaml:%s:", bc->where);
  ck_assert_msg(strncmp(err, where, strlen(where)) == 0 &&
                    strstr(err, bc->says) != NULL,
                "got \"%s\", want %s ... %s", err, where, bc->says);
  mp_case_free(c);
}
END_TEST

static const struct bad_mem {
  const char *memory;
  const char *says;
} bad_mems[] = {
    {"{ max: 4MB }", "unit B, KiB, MiB or GiB"},
    {"{ max: 0 }", "more than 0"},
    {"{ max: -1MiB }", "a size"},
    {"{ max: 4 MiB }", "no space"},
    {"{ min: 1MiB }", "unknown key 'min'"},
    {"{ }", "missing required key 'max'"},
    {"4MiB", "a map"},
};

START_TEST(test_parser_memory)
{
  const struct bad_mem *bm = &bad_mems[_i];
  char yaml[512], err[512];
  struct mp_case *c = NULL;
  snprintf(yaml, sizeof(yaml),
           "name: x\nprobe:\n  type: smtp\n  target: \"127.0.0.1:25\"\n"
           "expect:\n  status: ok\n  memory: %s\n",
           bm->memory);
  int rc = mp_case_parse(yaml, strlen(yaml), "t.yaml", &c, err, sizeof(err));
  ck_assert_msg(rc < 0, "accepted memory: %s", bm->memory);
  ck_assert_msg(strncmp(err, "t.yaml:7:", 9) == 0 &&
                    strstr(err, bm->says) != NULL,
                "got \"%s\", want t.yaml:7: ... %s", err, bm->says);
  mp_case_free(c);
}
END_TEST

START_TEST(test_parser_accepts)
{
  static const char yaml[] =
      "name: x\nservers:\n  mx:\n    protocol: smtp\n    tls: starttls\n"
      "    script:\n"
      "      - on: connect\n        send: \"220 caf\"\n"
      "        send_hex: \"e9 0d 0a\"\n        repeat: forever\n"
      "      - on: tls\n        tls_drip: { bytes: 2, every: 0 }\n"
      "        tls_fault: alert_mid\n"
      "      - on: EHLO\n        reply: \"250 ok\"\n        take_effect: true\n"
      "probe:\n  type: smtp\n  server: mx\n"
      "expect:\n  status: ok\n  memory: { max: 512KiB }\n";
  char err[512];
  struct mp_case *c = NULL;
  int rc = mp_case_parse(yaml, strlen(yaml), "t.yaml", &c, err, sizeof(err));
  ck_assert_msg(rc == 0, "%s", err);
  const struct mp_fake_rule *r = c->servers[0].rules;
  ck_assert_uint_eq(r[0].send_len, 10);
  ck_assert_mem_eq(r[0].send, "220 caf\xe9\r\n", 10);
  ck_assert(r[0].repeat == MP_REPEAT_FOREVER);
  ck_assert_uint_eq(r[1].tls_drip_bytes, 2);
  ck_assert_uint_eq(r[1].tls_drip_every_ms, 0);
  ck_assert_int_eq(r[1].tls_fault, MP_TLS_FAULT_ALERT_MID);
  ck_assert_int_eq(r[2].take_effect, 1);
  ck_assert_int_eq(c->expect.has_memory, 1);
  ck_assert_uint_eq(c->expect.memory_max, 512 * KIB);
  mp_case_free(c);
}
END_TEST

static Suite *hostile_suite(void)
{
  Suite *s = suite_create("hostile");
  TCase *tc = tcase_create("server_under_siege");
  tcase_set_timeout(tc, 60);
  tcase_add_loop_test(tc, test_server_under_siege, 0,
                      sizeof(proto_cases) / sizeof(proto_cases[0]));
  suite_add_tcase(s, tc);
  tc = tcase_create("engine");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, test_engine_peer_never_reads);
  tcase_add_test(tc, test_drip_output);
  tcase_add_test(tc, test_cut_output);
  suite_add_tcase(s, tc);
  tc = tcase_create("script");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, test_repeat_n_then_close);
  tcase_add_test(tc, test_repeat_forever_unread);
  tcase_add_test(tc, test_tls_drip_handshake);
  tcase_add_test(tc, test_tls_alert_mid);
  suite_add_tcase(s, tc);
  tc = tcase_create("parser");
  tcase_add_loop_test(tc, test_parser_rejects, 0,
                      sizeof(bad_cases) / sizeof(bad_cases[0]));
  tcase_add_loop_test(tc, test_parser_memory, 0,
                      sizeof(bad_mems) / sizeof(bad_mems[0]));
  tcase_add_test(tc, test_parser_accepts);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(hostile_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
