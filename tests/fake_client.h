/* A scripted client for the fake server suites (check_fake_smtp.c,
 * check_fake_pop3.c, check_fake_imap.c): a test starts a fake server on
 * 127.0.0.1:0 on a fresh loop, connects one or two mp_conn clients that
 * each follow a list of steps (send a line, wait for so many replies,
 * start TLS, ...), and once every client closed, copies what the server
 * saw and stops it; freeing checks that the loop closes with no handle
 * left. The protocol is a hook that says which line ends a reply (curl's
 * pingpong shape: one engine, a classifier per protocol). The Makefile
 * links the helper files in tests/ (this one too) into every test
 * binary. */
#ifndef MP_TEST_FAKE_CLIENT_H
#define MP_TEST_FAKE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct mp_ca;
struct mp_conn;
struct mp_fake_config;
struct mp_fake_server;
struct mp_mailstore;
struct mp_sasl_client;
struct mp_tls_ctx;
struct fc_client;

#define FC_MAXL 1024 /* lines kept per client, and server lines copied */
#define FC_NONE (-1) /* replies: the server is expected to close */
#define FC_RAW 65536 /* raw bytes kept per client */
#define FC_HOST "mx.example.test" /* the name TLS clients verify */

/* One step of a client. Tables name only the fields a step needs. */
struct fc_step {
  const char *send; /* CRLF is added; "" sends nothing; NULL (and no make
                       nor wait) ends: the client closes */
  int replies;      /* whole replies to wait for; 0 means 1; FC_NONE */
  int tls;          /* start TLS as a client after the replies */
  int raw;          /* then read this many raw bytes (counts as a reply) */
  size_t len;       /* >0: send exactly len bytes of send, no CRLF */
  size_t bulk;      /* >0: first this many bytes of message lines, paced
                       by the write queue, then send */
  uint64_t wait_ms; /* wait this long before sending */
  unsigned multi;   /* for the protocol hook: bit i marks the i-th reply
                       (POP3: a +OK to it opens a list) */
  /* Builds the line instead of send (APOP digests, SASL answers); the
   * result is sent with CRLF even when empty. cur is this step. */
  const char *(*make)(struct fc_client *c);
  int wait; /* send nothing until the other client pokes this one */
  int poke; /* after the replies, poke the other client */
};

/* What differs between the protocols: which line ends a reply. */
struct fc_proto {
  /* A line arrived (already kept in lines[]): 1 when it ends a whole
   * reply. May keep its own state in c->state and ask for raw bytes
   * (IMAP literals) with mp_conn_expect_raw. */
  int (*line)(struct fc_client *c, const char *line, size_t len);
};

/* One client. */
struct fc_client {
  struct fc *t;
  struct mp_conn *c; /* NULL once its on_close ran */
  const struct fc_step *steps;
  const struct fc_step *cur; /* the step whose replies are awaited */
  size_t next;
  long pending, want; /* replies still awaited, of want */
  int state;          /* the protocol hook's own */
  int implicit;       /* start TLS right after connecting */
  int waited;         /* the current step's wait_ms is over */
  int pokes, waiting;
  int closed;
  char *lines[FC_MAXL];
  uint64_t line_at[FC_MAXL]; /* ms since t0 */
  size_t nlines;
  uint64_t sent_at[64]; /* ms since t0, a step each */
  size_t nsent;
  int server_closed;
  uint64_t closed_at; /* ms since t0 */
  int client_err;
  int tls_status;
  int tls_up;
  char raw[FC_RAW]; /* every raw byte read, one after the other, and NUL */
  size_t nraw;
  size_t bulk_left; /* message bytes still to send for the step */
  /* For make(): a SASL client (freed with the test), a mechanism, and
   * room for the line made. */
  struct mp_sasl_client *sasl;
  int mech;
  char made[2048];
};

/* One test: a fake server, its store and CA, and up to two clients. */
struct fc {
  uv_loop_t loop;
  const struct fc_proto *proto;
  struct mp_mailstore *store;
  struct mp_ca *ca;
  struct mp_tls_ctx *cctx;
  struct mp_fake_server *srv; /* NULL once it stopped (and freed itself) */
  struct fc_client cl[2];
  int ncl, nclosed;
  int hold; /* at the end of the steps, stop the server, not the client */
  void (*after_start)(struct fc *t); /* runs once the server listens */
  uint64_t t0;                       /* mp_now_us() at the connect */
  /* Copied from the server before it stops. */
  char *seen[FC_MAXL];
  unsigned seen_session[FC_MAXL];
  int seen_tls[FC_MAXL];
  uint64_t seen_t[FC_MAXL];
  size_t nseen;
  unsigned sessions;
  int stopping;
  int stopped;
};

/* A new test on a fresh loop with an empty mail store. */
struct fc *fc_new(const struct fc_proto *proto);

/* Makes a test CA, which signs the server's certificates, and a client
 * context that trusts it. */
void fc_tls(struct fc *t);

/* Runs one client through steps against a server made from cfg; returns
 * when the loop has nothing left, the server stopped and no client had an
 * error other than the server closing. */
void fc_run(struct fc *t, const struct mp_fake_config *cfg,
            const struct fc_step *steps);

/* The same with a second client (steps2), connected at the same time. */
void fc_run2(struct fc *t, const struct mp_fake_config *cfg,
             const struct fc_step *steps, const struct fc_step *steps2);

/* Frees everything; the loop must close: no handle leaked. */
void fc_free(struct fc *t);

/* The index of the client's first line equal to s, or -1. */
long fc_line_index(const struct fc_client *c, const char *s);

/* Did the client receive a line equal to s? */
int fc_has_line(const struct fc_client *c, const char *s);

/* The client's first line starting with prefix, or NULL. */
const char *fc_line_with(const struct fc_client *c, const char *prefix);

/* Did the server see a line equal to s? */
int fc_saw(const struct fc *t, const char *s);

/* Puts msg into user's INBOX in the test's store, visible ahead_us from
 * now (the user is added first); the message's id. */
uint64_t fc_deliver(struct fc *t, const char *user, const char *msg,
                    uint64_t ahead_us);

#endif
