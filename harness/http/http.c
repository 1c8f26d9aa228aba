/* The HTTP server (harness/http/http.h): the listener, H2O's
 * configuration and context on the caller's loop, connections, the one
 * H2O handler that applies the limits and routes, and the stop. */
#include "harness/http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/config/web_config.h"
#include "harness/http/http_internal.h"
#include "wire/codec.h"
#include "wire/errors.h"
#include "wire/tls.h"

/* A connection's TCP handle, with the server to count it against. */
struct conn_tcp {
  uv_tcp_t tcp;
  struct mp_http *h;
};

/* The H2O handler registered at "/". */
struct root_handler {
  h2o_handler_t super;
  struct mp_http *h;
};

static void maybe_end(struct mp_http *h);

static void on_conn_closed(uv_handle_t *handle)
{
  struct conn_tcp *c = (struct conn_tcp *)handle;
  struct mp_http *h = c->h;
  free(c);
  h->nconns--;
  maybe_end(h);
}

static void on_accept(uv_stream_t *listener, int status)
{
  struct mp_http *h = listener->data;
  struct conn_tcp *c;
  h2o_socket_t *sock;

  if (status != 0 || h->stopping)
    return;
  if ((c = malloc(sizeof *c)) == NULL)
    return;
  c->h = h;
  uv_tcp_init(listener->loop, &c->tcp);
  h->nconns++;
  if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    return;
  }
  sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_conn_closed);
  if (sock == NULL) {
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    return;
  }
  h2o_accept(&h->accept, sock);
}

/* H2O's pool let go of a request: the client went away (or the reply
 * was sent, and then the link is already cleared). */
static void on_pool_dispose(void *p)
{
  struct mp_http_req **link = p;
  if (*link != NULL) {
    (*link)->req = NULL;
    (*link)->link = NULL;
  }
}

/* Sends a plain error before a request wrapper exists. */
static int early_error(h2o_req_t *req, int status, const char *reason,
                       const char *body)
{
  req->res.status = status;
  req->res.reason = reason;
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                 H2O_STRLIT("text/plain; charset=utf-8"));
  req->res.content_length = strlen(body);
  h2o_send_inline(req, body, strlen(body));
  return 0;
}

static const struct mp_http_route *find_route(const struct mp_http *h,
                                              const char *path, size_t len)
{
  for (size_t i = 0; i < h->nroutes; i++)
    if (strlen(h->routes[i].path) == len &&
        memcmp(h->routes[i].path, path, len) == 0)
      return &h->routes[i];
  return NULL;
}

/* The limits, the route, the request wrapper, then authentication. */
static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
  struct mp_http *h = ((struct root_handler *)self)->h;
  const struct mp_http_route *route;
  struct mp_http_req *r;
  struct sockaddr_storage ss;
  size_t hdr = 0, plen;
  socklen_t sl;

  if (req->input.path.len > h->max_uri)
    return early_error(req, 414, "URI Too Long", "request target too long\n");
  for (size_t i = 0; i < req->headers.size; i++)
    hdr += req->headers.entries[i].name->len +
           req->headers.entries[i].value.len + 4;
  if (hdr > h->max_headers)
    return early_error(req, 431, "Request Header Fields Too Large",
                       "request headers too large\n");
  plen = req->input.query_at != SIZE_MAX ? req->input.query_at
                                         : req->input.path.len;
  route = find_route(h, req->input.path.base, plen);
  if (route == NULL)
    return early_error(req, 404, "Not Found", "not found\n");
  if ((r = calloc(1, sizeof *r)) == NULL)
    return early_error(req, 503, "Service Unavailable", "out of memory\n");
  r->http = h;
  r->req = req;
  r->route = route;
  r->auth_user = -1;
  r->method = strndup(req->input.method.base, req->input.method.len);
  r->path = strndup(req->input.path.base, plen);
  r->body_len = req->entity.base != NULL ? req->entity.len : 0;
  r->body = malloc(r->body_len + 1);
  r->link = h2o_mem_alloc_shared(&req->pool, sizeof *r->link, on_pool_dispose);
  if (r->body != NULL) {
    if (r->body_len > 0)
      memcpy(r->body, req->entity.base, r->body_len);
    r->body[r->body_len] = '\0';
  }
  if (req->input.query_at != SIZE_MAX) {
    size_t qlen = req->input.path.len - plen - 1;
    const char *q = req->input.path.base + plen + 1;
    size_t at = (qlen + 1 + 7) & ~(size_t)7; /* the pointers, aligned */
    int max = 1;
    for (size_t i = 0; i < qlen && max < MP_HTTP_MAX_QUERY; i++)
      max += q[i] == '&';
    r->query_buf = malloc(at + 2 * (size_t)max * sizeof(char *));
    if (r->query_buf != NULL) {
      r->qnames = (const char **)(void *)(r->query_buf + at);
      r->qvalues = r->qnames + max;
      r->nquery = mp_http_query_decode(q, qlen, r->query_buf, qlen + 1,
                                       r->qnames, r->qvalues, max);
    }
  }
  *r->link = r;
  h->npending++;
  if (r->method == NULL || r->path == NULL || r->body == NULL ||
      (req->input.query_at != SIZE_MAX && r->query_buf == NULL)) {
    mp_http_fail(r, 503, "out of memory");
    return 0;
  }
  sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
  if (sl > 0) {
    char ip[INET6_ADDRSTRLEN] = "?";
    uint16_t port = 0;
    if (ss.ss_family == AF_INET) {
      struct sockaddr_in *a = (struct sockaddr_in *)&ss;
      uv_ip4_name(a, ip, sizeof ip);
      port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
      uv_ip6_name(a, ip, sizeof ip);
      port = ntohs(a->sin6_port);
    }
    snprintf(r->peer, sizeof r->peer,
             ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, port);
  }
  if (r->nquery < 0) {
    mp_http_fail(r, 400, "malformed query string");
    return 0;
  }
  switch (mp_http_auth(r)) {
  case 1:
    mp_http_dispatch(r);
    break;
  default: /* 0: answered; 2: a check runs */
    break;
  }
  return 0;
}

void mp_http_dispatch(struct mp_http_req *r)
{
  r->route->cb(r, r->route->data);
}

/* Parses "host:port" or "[v6]:port" into an address. */
static int parse_listen(const char *s, struct sockaddr_storage *ss)
{
  char host[128];
  const char *colon;
  long port;
  char *end;

  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (close == NULL || close[1] != ':' ||
        (size_t)(close - s - 1) >= sizeof host)
      return -1;
    memcpy(host, s + 1, (size_t)(close - s - 1));
    host[close - s - 1] = '\0';
    colon = close + 1;
  } else {
    colon = strrchr(s, ':');
    if (colon == NULL || (size_t)(colon - s) >= sizeof host)
      return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
  }
  port = strtol(colon + 1, &end, 10);
  if (colon[1] == '\0' || *end != '\0' || port < 0 || port > 65535)
    return -1;
  if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0)
    return 0;
  if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0)
    return 0;
  return -1;
}

/* TLS from the web config: the context through wire/tls.h, its SSL_CTX
 * handed to H2O with ALPN for HTTP/2. */
static int setup_tls(struct mp_http *h, const struct mp_web_config *w,
                     char *err, size_t errlen)
{
  struct mp_tls_server_opts o = {w->client_ca_pem, w->client_cert,
                                 w->min_version, w->max_version};
  char why[256];
  h->tls = mp_tls_ctx_server(w->cert_pem, w->key_pem, why, sizeof why);
  if (h->tls == NULL || mp_tls_ctx_server_tune(h->tls, &o, why, sizeof why)) {
    snprintf(err, errlen, "%s: TLS: %s", w->file, why);
    return MP_E_TLS_FAILED;
  }
  h->accept.ssl_ctx = mp_tls_ctx_ssl(h->tls);
  h2o_ssl_register_alpn_protocols(h->accept.ssl_ctx, h2o_http2_alpn_protocols);
  return 0;
}

/* Copies the users and the token of the web config. */
static int setup_auth(struct mp_http *h, const struct mp_web_config *w)
{
  if (w->nusers > 0) {
    h->users = calloc(w->nusers, sizeof *h->users);
    if (h->users == NULL)
      return MP_E_NO_RESOURCES;
    for (size_t i = 0; i < w->nusers; i++) {
      h->users[i].name = strdup(w->users[i].name);
      h->users[i].hash = strdup(w->users[i].hash);
      h->nusers++;
      if (h->users[i].name == NULL || h->users[i].hash == NULL)
        return MP_E_NO_RESOURCES;
    }
  }
  if (w->bearer_token != NULL && (h->bearer = strdup(w->bearer_token)) == NULL)
    return MP_E_NO_RESOURCES;
  return mp_random(h->cache_key, sizeof h->cache_key) < 0 ? MP_E_NO_RESOURCES
                                                          : 0;
}

static void free_server(struct mp_http *h)
{
  for (size_t i = 0; i < h->nroutes; i++)
    free(h->routes[i].path);
  free(h->routes);
  for (size_t i = 0; i < h->nusers; i++) {
    free(h->users[i].name);
    free(h->users[i].hash);
  }
  free(h->users);
  if (h->bearer != NULL)
    memset(h->bearer, 0, strlen(h->bearer));
  free(h->bearer);
  mp_tls_ctx_unref(h->tls);
  free(h);
}

static void on_end(uv_handle_t *handle)
{
  struct mp_http *h = handle->data;
  void (*done)(void *) = h->done;
  void *data = h->done_data;
  h2o_config_dispose(&h->config);
  free_server(h);
  if (done != NULL)
    done(data);
}

static void on_listener_closed(uv_handle_t *handle)
{
  struct mp_http *h = handle->data;
  h->listening = 0;
  maybe_end(h);
}

/* Once stopping, with the listener and every connection closed: the end
 * timer is closed first and H2O's handles after it, so its close
 * callback (libuv runs a round of close callbacks newest first) comes
 * after theirs and frees the context they live in. */
static void maybe_end(struct mp_http *h)
{
  if (!h->stopping || h->ended || h->listening || h->nconns > 0)
    return;
  h->ended = 1;
  /* H2O's request_shutdown parks an HTTP/2 graceful-shutdown timer on the
   * one-second timeout; with no connection left it has nothing to do, and
   * the timeouts must be empty to be disposed. */
  if (h2o_timeout_is_linked(&h->ctx.http2._graceful_shutdown_timeout))
    h2o_timeout_unlink(&h->ctx.http2._graceful_shutdown_timeout);
  uv_close((uv_handle_t *)&h->end, on_end);
  h2o_context_dispose(&h->ctx);
}

int mp_http_start(uv_loop_t *loop, const struct mp_http_opts *o,
                  struct mp_http **out, char *err, size_t errlen)
{
  struct sockaddr_storage ss;
  struct mp_http *h;
  h2o_hostconf_t *host;
  h2o_pathconf_t *path;
  struct root_handler *rh;
  int rc;

  *out = NULL;
  memset(&ss, 0, sizeof ss);
  if (o->listen == NULL || parse_listen(o->listen, &ss) < 0) {
    snprintf(err, errlen,
             "listen address '%s' must be IP:PORT, like 127.0.0.1:9125 or "
             "[::1]:9125",
             o->listen ? o->listen : "");
    return MP_E_PROTOCOL_ERROR;
  }
  if ((h = calloc(1, sizeof *h)) == NULL) {
    snprintf(err, errlen, "out of memory");
    return MP_E_NO_RESOURCES;
  }
  h->loop = loop;
  h->max_uri = o->max_uri ? o->max_uri : 8192;
  h->max_headers = o->max_headers ? o->max_headers : 16384;
  if (o->web != NULL && o->web->tls &&
      (rc = setup_tls(h, o->web, err, errlen)) < 0) {
    free_server(h);
    return rc;
  }
  if (o->web != NULL && (rc = setup_auth(h, o->web)) < 0) {
    snprintf(err, errlen, "out of memory");
    free_server(h);
    return rc;
  }
  /* H2O starts each connection's input buffer at twice the 4 KiB it reads
   * at a time; our requests are a line and a few headers, and thousands
   * of scrapes wait at once, so 4 KiB (it grows when a request needs it).
   * The prototype is per thread: every server of this thread shares it. */
  h2o_socket_buffer_prototype._initial_buf.capacity =
      H2O_SOCKET_INITIAL_INPUT_BUFFER_SIZE;
  h2o_config_init(&h->config);
  h->config.server_name = h2o_iovec_init(H2O_STRLIT("mailprobe"));
  h->config.max_request_entity_size = o->max_body ? o->max_body : 65536;
  h->config.http1.req_timeout = o->req_timeout_ms ? o->req_timeout_ms : 10000;
  h->config.http2.idle_timeout = h->config.http1.req_timeout;
  h->config.handshake_timeout = h->config.http1.req_timeout;
  host = h2o_config_register_host(&h->config,
                                  h2o_iovec_init(H2O_STRLIT("default")), 65535);
  path = h2o_config_register_path(host, "/", 0);
  rh = (struct root_handler *)h2o_create_handler(path, sizeof *rh);
  rh->super.on_req = on_req;
  rh->h = h;
  h2o_context_init(&h->ctx, loop, &h->config);
  h->accept.ctx = &h->ctx;
  h->accept.hosts = h->config.hosts;
  uv_timer_init(loop, &h->end);
  h->end.data = h;
  uv_tcp_init(loop, &h->listener);
  h->listener.data = h;
  h->listening = 1;
  rc = uv_tcp_bind(&h->listener, (struct sockaddr *)&ss, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&h->listener, 1024, on_accept);
  if (rc != 0) {
    snprintf(err, errlen, "cannot listen on %s: %s", o->listen,
             uv_strerror(rc));
    h->stopping = 1;
    uv_close((uv_handle_t *)&h->listener, on_listener_closed);
    return rc == UV_EMFILE || rc == UV_ENOMEM ? MP_E_NO_RESOURCES
                                              : MP_E_CONNECT_FAILED;
  }
  *out = h;
  return 0;
}

int mp_http_route(struct mp_http *h, const char *path, mp_http_handler cb,
                  void *data)
{
  struct mp_http_route *v =
      realloc(h->routes, (h->nroutes + 1) * sizeof *h->routes);
  if (v == NULL)
    return MP_E_NO_RESOURCES;
  h->routes = v;
  if ((v[h->nroutes].path = strdup(path)) == NULL)
    return MP_E_NO_RESOURCES;
  v[h->nroutes].cb = cb;
  v[h->nroutes].data = data;
  h->nroutes++;
  return 0;
}

uint16_t mp_http_port(const struct mp_http *h)
{
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getsockname(&h->listener, (struct sockaddr *)&ss, &len) != 0)
    return 0;
  return ntohs(ss.ss_family == AF_INET6
                   ? ((struct sockaddr_in6 *)&ss)->sin6_port
                   : ((struct sockaddr_in *)&ss)->sin_port);
}

void mp_http_stop(struct mp_http *h, void (*done)(void *data), void *data)
{
  if (h->stopping)
    return;
  h->stopping = 1;
  h->done = done;
  h->done_data = data;
  uv_close((uv_handle_t *)&h->listener, on_listener_closed);
  h2o_context_request_shutdown(&h->ctx);
}

size_t mp_http_pending(const struct mp_http *h)
{
  return h->npending;
}

size_t mp_http_connections(const struct mp_http *h)
{
  return h->nconns;
}
