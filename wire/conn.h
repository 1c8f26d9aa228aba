/* One line engine for all six peers: a libuv TCP connection with an optional
 * TLS layer, CRLF framing with hard limits, a write queue, a deadline and
 * one user timer. Probes and fake servers read sockets only through this.
 *
 * Lifetime: mp_conn_close() (or an error) stops all user callbacks except
 * on_close, which runs once, after the last libuv handle closed, right
 * before the memory is freed. Callbacks may call any mp_conn_ function,
 * including close, from inside any callback. */
#ifndef MP_CONN_H
#define MP_CONN_H

#include <stddef.h>
#include <stdint.h>

struct uv_loop_s;
struct sockaddr;
struct mp_conn;
struct mp_tls;
struct mp_tls_ctx;

/* Defaults for the framing limits. */
#define MP_CONN_MAX_LINE 8192        /* bytes in one line without CRLF */
#define MP_CONN_MAX_QUEUE (4u << 20) /* unsent bytes before an error */

struct mp_conn_cbs {
  /* One whole line, CRLF (or a bare LF) removed, NUL-terminated in place;
   * len excludes the terminator. The bytes live until the callback returns.
   * Lines may contain NUL bytes: trust len. */
  void (*on_line)(struct mp_conn *c, char *line, size_t len);
  /* Bytes asked for with mp_conn_expect_raw(), in chunks; the last chunk
   * has last == 1, after which lines flow again. */
  void (*on_raw)(struct mp_conn *c, const char *buf, size_t len, int last);
  /* A fatal error: MP_E_CONNECTION_CLOSED (EOF or reset), MP_E_TIMEOUT
   * (the deadline), MP_E_PROTOCOL_ERROR (a line over the limit),
   * MP_E_TLS_FAILED, MP_E_CERT_INVALID, MP_E_NO_RESOURCES. The connection
   * is closed after this returns; only on_close follows. */
  void (*on_error)(struct mp_conn *c, int err);
  /* The connection is gone; the last chance to free what data points at. */
  void (*on_close)(struct mp_conn *c);
};

/* A new, unconnected connection on loop. NULL when out of memory. */
struct mp_conn *mp_conn_new(struct uv_loop_s *loop,
                            const struct mp_conn_cbs *cbs, void *data);

/* Replaces the callbacks (a listener's accepted connection starts with
 * none). cbs is copied. */
void mp_conn_set_cbs(struct mp_conn *c, const struct mp_conn_cbs *cbs);

/* Connects to addr. cb runs once with 0, MP_E_CONNECT_REFUSED,
 * MP_E_CONNECT_TIMEOUT (timeout_ms passed, or the deadline), MP_E_TIMEOUT
 * never, MP_E_CONNECTION_CLOSED (accepted, then reset before we saw the
 * connect complete), MP_E_CONNECT_FAILED or MP_E_NO_RESOURCES. On failure the
 * connection closes itself after cb (on_error is not called). A negative
 * return means cb will not run and the connection is already closing. */
typedef void (*mp_conn_connect_cb)(struct mp_conn *c, int status);
int mp_conn_connect(struct mp_conn *c, const struct sockaddr *addr,
                    uint64_t timeout_ms, mp_conn_connect_cb cb);

/* Takes an accepted libuv stream (a uv_tcp_t* as void*): used by
 * wire/listener.c only. 0 or a negative code. */
int mp_conn_adopt(struct mp_conn *c, void *server_stream);

/* Sets (or with ms == 0 clears) the deadline, ms from now. When it passes
 * on_error(MP_E_TIMEOUT) runs, whatever bytes are trickling in. */
void mp_conn_set_deadline(struct mp_conn *c, uint64_t ms);

/* Sets (or with at_us == 0 clears) the deadline at at_us on mp_now_us()'s
 * clock: for a caller whose time started before this connection (a probe's
 * deadline counts from when the probe was started, not from its connect).
 * A deadline that passed already fires from the loop, never from here.
 * Deadlines fire within the kernel's timer slack (~50 us) on Linux, and
 * never before they passed. */
void mp_conn_set_deadline_at(struct mp_conn *c, uint64_t at_us);

/* The deadline on mp_now_us()'s clock, 0 if none. */
uint64_t mp_conn_deadline_at(const struct mp_conn *c);

/* Milliseconds left before the deadline (0 if passed; UINT64_MAX if none). */
uint64_t mp_conn_deadline_left(const struct mp_conn *c);

/* Queues bytes (through TLS when active). 0, or MP_E_NO_RESOURCES when the
 * queue would pass MP_CONN_MAX_QUEUE (the peer does not read), or
 * MP_E_CONNECTION_CLOSED when closing. Never calls a callback directly. */
int mp_conn_write(struct mp_conn *c, const void *buf, size_t len);

/* printf into the write queue (at most MP_CONN_MAX_LINE + 2 bytes; longer
 * output is refused whole with MP_E_PROTOCOL_ERROR, never truncated). */
int mp_conn_printf(struct mp_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Inserts TLS on a live connection (STARTTLS) or before the first byte
 * (implicit TLS). Returns MP_E_PROTOCOL_ERROR if plaintext bytes are
 * buffered after the current line (RFC 3207: pipelining after the go-ahead
 * is forbidden; call mp_conn_discard_input() first where discarding is
 * right), else 0 and cb runs once with 0, MP_E_TLS_FAILED or
 * MP_E_CERT_INVALID (unless a fatal error, such as the peer closing
 * mid-handshake, reaches on_error first). Lines are not delivered until the
 * handshake ends. On failure (a negative return or a failed cb) the
 * connection stays open but carries nothing more: the caller closes it.
 * host is the SNI and verification name (client). */
typedef void (*mp_conn_tls_cb)(struct mp_conn *c, int status);
int mp_conn_start_tls(struct mp_conn *c, struct mp_tls_ctx *ctx, int is_server,
                      const char *host, mp_conn_tls_cb cb);

/* The TLS session, NULL when plain. */
struct mp_tls *mp_conn_tls(const struct mp_conn *c);

/* Plaintext bytes received but not yet delivered as lines. */
size_t mp_conn_buffered(const struct mp_conn *c);

/* Those bytes themselves (mp_conn_buffered of them), valid until the
 * connection reads again. */
const char *mp_conn_peek(const struct mp_conn *c);

/* The kernel's smoothed round-trip time of the TCP connection
 * (TCP_INFO), in microseconds; 0 when it is not known. Unlike a timed
 * connect it holds no time this process waited to be scheduled. */
uint64_t mp_conn_rtt_us(const struct mp_conn *c);
void mp_conn_discard_input(struct mp_conn *c);

/* The next n bytes go to on_raw instead of on_line (IMAP literals). */
void mp_conn_expect_raw(struct mp_conn *c, uint64_t n);

/* Stops / restarts delivering lines (and reading from the socket, so memory
 * stays bounded). Buffered lines are delivered after resume, from the loop. */
void mp_conn_pause(struct mp_conn *c);
void mp_conn_resume(struct mp_conn *c);

/* One user timer per connection: cb runs once after ms (re-arming replaces
 * the previous one; ms == 0 runs it on the next loop turn). */
typedef void (*mp_conn_timer_cb)(struct mp_conn *c);
void mp_conn_after(struct mp_conn *c, uint64_t ms, mp_conn_timer_cb cb);
void mp_conn_cancel_timer(struct mp_conn *c);

/* Closes after the queued bytes are written: FIN after them and, while
 * bytes of ours are queued or not yet acknowledged or the peer's wait
 * unread, reads and drops input until the peer's EOF, so that the kernel
 * does not answer with a RST that drops what the peer has not received yet
 * (bounded by a short linger, 2 s).
 * Idempotent; clears every callback but on_close. */
void mp_conn_close(struct mp_conn *c);

/* Closes now, dropping queued bytes. */
void mp_conn_abort(struct mp_conn *c);

/* Closes now with a TCP RST. */
void mp_conn_reset(struct mp_conn *c);

/* The user pointer. */
void *mp_conn_data(const struct mp_conn *c);
void mp_conn_set_data(struct mp_conn *c, void *data);

/* The loop the connection runs on. */
struct uv_loop_s *mp_conn_loop(const struct mp_conn *c);

/* Microseconds on a monotonic clock (uv_hrtime / 1000). */
uint64_t mp_now_us(void);

/* Sets the longest line accepted (default MP_CONN_MAX_LINE, at most 1 MiB). */
void mp_conn_set_max_line(struct mp_conn *c, size_t max);

/* Bytes received and sent on the wire, for statistics. */
uint64_t mp_conn_bytes_in(const struct mp_conn *c);
uint64_t mp_conn_bytes_out(const struct mp_conn *c);

/* The peer's address as "127.0.0.1:2525" or "[::1]:2525" (buf of 64 is
 * enough; truncated to len, "" when not connected). */
void mp_conn_peer_name(const struct mp_conn *c, char *buf, size_t len);

/* Bytes queued for the socket and not yet written (what a peer that does
 * not read leaves in the write queue, held drip bytes included). */
size_t mp_conn_queued(const struct mp_conn *c);

/* For servers that misbehave on purpose (fake_servers/): from now on the
 * bytes that go on the wire (ciphertext when TLS is on) leave at most
 * bytes at a time, one piece every every_ms (0: one piece per loop turn),
 * so that the peer reads TLS records in pieces. Bytes waiting for their
 * turn count against MP_CONN_MAX_QUEUE. bytes == 0 stops dripping: what is
 * held goes out at once. A graceful close sends what is held at once. */
void mp_conn_drip_output(struct mp_conn *c, uint32_t bytes, uint64_t every_ms);

/* For servers that misbehave on purpose: after the next `records` whole
 * TLS records of wire output (the 5-byte header's length, RFC 8446 5.1),
 * the rest is dropped, tail (len bytes, copied: a TLS alert record, say)
 * goes out instead and the connection closes gracefully. Output passes
 * through the same queue as mp_conn_drip_output (one loop turn later).
 * 0, or MP_E_NO_RESOURCES. */
int mp_conn_cut_output(struct mp_conn *c, unsigned records, const void *tail,
                       size_t len);

#endif
