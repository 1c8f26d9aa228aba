/* The HTTP room's insides, shared by harness/http/http*.c only: the
 * server, a request, and what the files call of each other. */
#ifndef MP_HTTP_INTERNAL_H
#define MP_HTTP_INTERNAL_H

#include <h2o.h>
#include <uv.h>

#include "harness/http/http.h"

#define MP_HTTP_MAX_QUERY 32 /* parameters in one query string */

struct mp_http_route {
  char *path;
  mp_http_handler cb;
  void *data;
};

/* A basic-auth user: the bcrypt hash, and after a success a keyed digest
 * of the password that matched, so the next request skips bcrypt. */
struct mp_http_user {
  char *name;
  char *hash;
  int cached;
  unsigned char ok[16];
};

struct mp_http {
  uv_loop_t *loop;
  uv_tcp_t listener;
  int listening;
  h2o_globalconf_t config;
  h2o_context_t ctx;
  h2o_accept_ctx_t accept;
  struct mp_tls_ctx *tls;
  struct mp_http_route *routes;
  size_t nroutes;
  size_t max_uri, max_headers;
  struct mp_http_user *users;
  size_t nusers;
  char *bearer;
  unsigned char cache_key[16]; /* the key of the users' digests */
  size_t nconns, npending;
  int stopping, ended;
  uv_timer_t end; /* closed right before H2O's own handles */
  void (*done)(void *);
  void *done_data;
};

/* The pool of a request holds a pointer to its mp_http_req, cleared
 * when either side goes first. */
struct mp_http_req {
  struct mp_http *http;
  h2o_req_t *req; /* NULL once H2O disposed it (the client went away) */
  struct mp_http_req **link;
  const struct mp_http_route *route;
  char *method, *path, *body;
  size_t body_len;
  char peer[64];
  char *query_buf; /* the decoded pairs, then qnames and qvalues */
  const char **qnames, **qvalues;
  int nquery;
  char **headers; /* name, value, name, value... for the reply */
  size_t nheaders;
  uv_work_t work; /* a bcrypt check in flight */
  int auth_user;  /* the user being checked */
  char *auth_pass;
  int auth_ok;
};

/* Checks the request's credentials: 1 allowed now, 0 a 401 was sent and
 * r freed, 2 a check runs (mp_http_dispatch or a 401 follows). */
int mp_http_auth(struct mp_http_req *r);

/* Runs r's handler. */
void mp_http_dispatch(struct mp_http_req *r);

/* A reply with a one-line plain-text body (and WWW-Authenticate for
 * 401); frees r. */
void mp_http_fail(struct mp_http_req *r, int status, const char *why);

#endif
