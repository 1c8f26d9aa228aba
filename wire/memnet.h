/* An in-memory network on one loop: the line engine's second transport.
 *
 * While a memnet is installed on a loop (mp_memnet_new), mp_conn_connect()
 * on that loop dials the memnet instead of the kernel, and
 * mp_listener_start() listens in it: a probe and a fake server on the
 * loop talk through memory, with the same line engine, TLS layer,
 * deadlines and timers as over TCP, but no socket, no descriptor and no
 * system call per byte. Code that wants to play a peer by hand (a fuzz
 * target, a unit test) dials or listens with a raw end (struct
 * mp_mem_end) and writes and reads bytes itself.
 *
 * What it keeps of TCP: a byte stream in order; each write reaches the
 * peer as one read (so a writer that cuts its bytes into pieces makes the
 * reader see them split there); a peer's FIN or RST after its bytes (Linux
 * too hands a reader its queued bytes before a reset); a connect to an address
 * nobody listens on is refused. What it leaves out: windows and kernel buffers
 * (a write is in the peer's inbox at once, up to MP_MEMNET_MAX_INBOX unread
 * bytes), the RST a close with unread input sends, addresses beyond a table
 * lookup.
 *
 * Nothing is delivered from inside a call: bytes, FINs, connects and
 * accepts wait in a run queue that one idle handle of the loop drains
 * (on its next turn, every pending delivery, round robin, one write per
 * end per round), so callbacks never nest. One memnet per loop, one loop
 * per thread (the lookup is a thread-local pointer, which is all a socket
 * connect pays for the seam). */
#ifndef MP_MEMNET_H
#define MP_MEMNET_H

#include <stddef.h>
#include <stdint.h>

struct uv_loop_s;
struct sockaddr;
struct sockaddr_storage;
struct mp_memnet;
struct mp_mem_end;

/* Unread bytes an end holds before writes to it fail with
 * MP_E_NO_RESOURCES (the line engine's queue cap, MP_CONN_MAX_QUEUE). */
#define MP_MEMNET_MAX_INBOX (4u << 20)

/* What a raw end hears. Every callback may call any mp_mem_end_ function
 * on any end, close included. */
struct mp_mem_end_cbs {
  /* A dialled end: 0 (accepted) or MP_E_CONNECT_REFUSED. */
  void (*on_connect)(struct mp_mem_end *e, int status);
  /* One write of the peer's, in order. */
  void (*on_data)(struct mp_mem_end *e, const char *buf, size_t len);
  /* The peer is done: 0 for its FIN (after all its bytes), 1 for a RST. */
  void (*on_end)(struct mp_mem_end *e, int reset);
};

/* A new end was accepted by a listener; set its callbacks now. */
typedef void (*mp_memnet_accept_cb)(void *data, struct mp_mem_end *e);

/* Installs a memnet on loop (one per thread, none installed yet). NULL
 * when out of memory or one is installed already. */
struct mp_memnet *mp_memnet_new(struct uv_loop_s *loop);

/* Uninstalls and frees the net once its handle closed (the caller runs
 * the loop). Call it after every connection on it closed: raw ends still
 * open are freed with it (their owners must not touch them again) and
 * listeners are forgotten. */
void mp_memnet_free(struct mp_memnet *n);

/* The memnet installed on loop, or NULL (the socket path). */
struct mp_memnet *mp_memnet_of(const struct uv_loop_s *loop);

/* Listens at addr (an IPv4 or IPv6 address; port 0 picks a free one, set
 * in *port). accept runs, from the loop, for each dialled connection. 0,
 * or MP_E_CONNECT_FAILED (the address is taken), MP_E_NO_RESOURCES. */
int mp_memnet_listen(struct mp_memnet *n, const struct sockaddr *addr,
                     mp_memnet_accept_cb accept, void *data, uint16_t *port);

/* Stops listening at the address with that port (and family and host, as
 * given to mp_memnet_listen; a port picked by the net: the one set).
 * Ends already accepted live on. */
void mp_memnet_unlisten(struct mp_memnet *n, const struct sockaddr *addr);

/* Dials addr: *out is the new end, writable at once (what it writes waits
 * for the accept); cbs->on_connect follows from the loop. 0 or
 * MP_E_NO_RESOURCES (then on_connect never runs). */
int mp_memnet_dial(struct mp_memnet *n, const struct sockaddr *addr,
                   const struct mp_mem_end_cbs *cbs, void *data,
                   struct mp_mem_end **out);

/* Sets an end's callbacks (copied) and user pointer. */
void mp_mem_end_set_cbs(struct mp_mem_end *e, const struct mp_mem_end_cbs *cbs,
                        void *data);

/* The user pointer. */
void *mp_mem_end_data(const struct mp_mem_end *e);

/* Queues len bytes for the peer, delivered to it as one read. 0;
 * MP_E_NO_RESOURCES when its unread bytes would pass MP_MEMNET_MAX_INBOX;
 * MP_E_CONNECTION_CLOSED after this end's shutdown. Bytes to a peer that
 * closed are dropped (TCP would answer them with a RST later). */
int mp_mem_end_write(struct mp_mem_end *e, const void *buf, size_t len);

/* Starts (on != 0) or stops hearing the peer's bytes and end: flow
 * control, like a socket's reading. An end starts reading. */
void mp_mem_end_read(struct mp_mem_end *e, int on);

/* Sends a FIN after the bytes written: the peer's on_end(0) follows them.
 * This end still hears its peer. Idempotent. */
void mp_mem_end_shutdown(struct mp_mem_end *e);

/* Closes the end: no callback of it runs after this. The peer hears a FIN
 * after this end's bytes (reset == 0) or a RST at once. Frees e. */
void mp_mem_end_close(struct mp_mem_end *e, int reset);

/* The address at the other end: the listener's for a dialled end, a
 * made-up client address (127.0.0.1 or ::1, a port of the net's own
 * counting) for an accepted one. */
const struct sockaddr_storage *mp_mem_end_peer(const struct mp_mem_end *e);

/* Deliveries waiting in the run queue: 0 when nothing is on its way, so
 * every peer has said all it had to say without a timer. */
size_t mp_memnet_pending(const struct mp_memnet *n);

/* cb(data) runs, from the loop, each time the run queue ran empty: every
 * peer has said all it had to say without a timer or another loop turn
 * (a scripted client sends its next command there, and a peer that waits
 * for it gets it at once, with no clock time spent). What cb writes is
 * delivered in the same pass. NULL turns it off. */
void mp_memnet_on_quiet(struct mp_memnet *n, void (*cb)(void *data),
                        void *data);

#endif
