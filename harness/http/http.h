/* An HTTP server on the caller's libuv loop, through H2O (libh2o, built
 * on libuv; HTTP/1.1, and HTTP/2 over TLS): listen on an address, route
 * exact paths to handlers, answer now or later. H2O parses HTTP; this
 * room adds what every server of ours needs around it:
 *
 *   - limits: a request target longer than max_uri is 414, request
 *     headers larger than max_headers (names and values together) 431,
 *     a body larger than max_body 413 (H2O's own check); a client that
 *     does not send its whole request within req_timeout_ms is
 *     disconnected by H2O (HTTP/1 request timeout; TLS handshakes the
 *     same), so slow clients cost a socket and a timer, never the loop;
 *   - TLS and authentication from a web config (Prometheus' exporter
 *     format, harness/config/web_config.h): basic auth against bcrypt
 *     hashes (libcrypt; checked on libuv's thread pool, as a bcrypt costs
 *     tens of milliseconds, and remembered per user after a success) or
 *     a bearer token; anything else is 401 before a handler runs;
 *   - the query string decoded into name/value pairs (percent escapes
 *     and '+'), refused with 400 when malformed;
 *   - async handlers: a handler that does not reply before it returns
 *     replies later with mp_http_reply (after a probe ended, say). If
 *     the client went away meanwhile the reply is dropped; the handler
 *     must still reply exactly once, which frees the request.
 *
 * A handler's request and everything read from it live until its reply.
 * One server per call of mp_http_start; several may share a loop. */
#ifndef MP_HTTP_H
#define MP_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct uv_loop_s;
struct mp_http;
struct mp_http_req;
struct mp_web_config;

/* Called for a request to a routed path (after authentication). */
typedef void (*mp_http_handler)(struct mp_http_req *req, void *data);

struct mp_http_opts {
  const char *listen;      /* "127.0.0.1:9125", "[::1]:0"; port 0: any */
  uint64_t req_timeout_ms; /* a whole request in, idle keep-alive; 0: 10 s */
  size_t max_uri;          /* 0: 8 KiB */
  size_t max_headers;      /* 0: 16 KiB */
  size_t max_body;         /* 0: 64 KiB */
  /* TLS and authentication, or NULL: plain HTTP, no authentication. The
   * server copies what it needs. */
  const struct mp_web_config *web;
};

/* Starts a server listening on o->listen. 0 and *out, or a negative code
 * (MP_E_*) with a message in err (a bad address, the port in use, a TLS
 * certificate that does not load). */
int mp_http_start(struct uv_loop_s *loop, const struct mp_http_opts *o,
                  struct mp_http **out, char *err, size_t errlen);

/* Routes requests whose path (without the query) is exactly path, any
 * method, to cb. Other paths are 404. 0 or MP_E_NO_RESOURCES. */
int mp_http_route(struct mp_http *h, const char *path, mp_http_handler cb,
                  void *data);

/* The port it listens on (the kernel's pick for port 0). */
uint16_t mp_http_port(const struct mp_http *h);

/* Stops listening and closes connections as they become idle (H2O's
 * graceful shutdown); requests in flight still get their replies. done
 * (may be NULL) runs once every connection and handle is closed, and the
 * server is freed then. */
void mp_http_stop(struct mp_http *h, void (*done)(void *data), void *data);

/* Requests held by handlers, connections open: for a server's own
 * metrics. */
size_t mp_http_pending(const struct mp_http *h);
size_t mp_http_connections(const struct mp_http *h);

/* The request: its method ("GET"), path (without the query), and the
 * value of the first query parameter called name (decoded), or NULL. */
const char *mp_http_method(const struct mp_http_req *r);
const char *mp_http_path(const struct mp_http_req *r);
const char *mp_http_query(const struct mp_http_req *r, const char *name);

/* The number of query parameters called name (to refuse repeats). */
size_t mp_http_query_count(const struct mp_http_req *r, const char *name);

/* Copies the first request header called name (case-insensitive) into
 * buf, NUL-terminated and cut to cap - 1 bytes; -1 when absent, else its
 * whole length. Only before the reply. */
long mp_http_header(const struct mp_http_req *r, const char *name, char *buf,
                    size_t cap);

/* The request body (may hold NULs) and its length; "" when none. */
const char *mp_http_body(const struct mp_http_req *r, size_t *len);

/* The client's address as "127.0.0.1:40000" into buf. */
void mp_http_peer(const struct mp_http_req *r, char *buf, size_t cap);

/* 1 once the client went away (the reply will be dropped). */
int mp_http_gone(const struct mp_http_req *r);

/* Adds a response header for the coming reply (copied). */
void mp_http_add_header(struct mp_http_req *r, const char *name,
                        const char *value);

/* Replies with status, a Content-Type (NULL: none) and body (copied);
 * frees the request. Status 0 gives up on it: a 503 and the connection
 * closed after it. Exactly once per request. */
void mp_http_reply(struct mp_http_req *r, int status, const char *type,
                   const char *body, size_t len);

/* Decodes a query string ("a=1&b=x%20y") into at most max pairs, each
 * name and value NUL-terminated in out (cap bytes, which must be at least
 * len + 1): names[i] and values[i] point into it. The number of pairs,
 * or -1 when malformed (a bad percent escape, a NUL, too many pairs). */
int mp_http_query_decode(const char *q, size_t len, char *out, size_t cap,
                         const char **names, const char **values, int max);

#endif
