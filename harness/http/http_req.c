/* A request of the HTTP room (harness/http/http.h): what a handler reads
 * of it, the reply, and the query-string decoder. */
#include "harness/http/http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/http/http_internal.h"

const char *mp_http_method(const struct mp_http_req *r)
{
  return r->method;
}

const char *mp_http_path(const struct mp_http_req *r)
{
  return r->path;
}

const char *mp_http_query(const struct mp_http_req *r, const char *name)
{
  for (int i = 0; i < r->nquery; i++)
    if (strcmp(r->qnames[i], name) == 0)
      return r->qvalues[i];
  return NULL;
}

size_t mp_http_query_count(const struct mp_http_req *r, const char *name)
{
  size_t n = 0;
  for (int i = 0; i < r->nquery; i++)
    n += strcmp(r->qnames[i], name) == 0;
  return n;
}

long mp_http_header(const struct mp_http_req *r, const char *name, char *buf,
                    size_t cap)
{
  char lower[128];
  size_t n = strlen(name);
  ssize_t at;
  const h2o_iovec_t *v;

  if (r->req == NULL || n >= sizeof lower)
    return -1;
  for (size_t i = 0; i <= n; i++)
    lower[i] = (char)tolower((unsigned char)name[i]);
  at = h2o_find_header_by_str(&r->req->headers, lower, n, -1);
  if (at < 0)
    return -1;
  v = &r->req->headers.entries[at].value;
  if (cap > 0) {
    size_t k = v->len < cap - 1 ? v->len : cap - 1;
    memcpy(buf, v->base, k);
    buf[k] = '\0';
  }
  return (long)v->len;
}

const char *mp_http_body(const struct mp_http_req *r, size_t *len)
{
  *len = r->body_len;
  return r->body;
}

void mp_http_peer(const struct mp_http_req *r, char *buf, size_t cap)
{
  snprintf(buf, cap, "%s", r->peer[0] ? r->peer : "?");
}

int mp_http_gone(const struct mp_http_req *r)
{
  return r->req == NULL;
}

void mp_http_add_header(struct mp_http_req *r, const char *name,
                        const char *value)
{
  char **v = realloc(r->headers, (r->nheaders + 2) * sizeof *v);
  if (v == NULL)
    return;
  r->headers = v;
  v[r->nheaders] = strdup(name);
  v[r->nheaders + 1] = strdup(value);
  r->nheaders += 2;
}

/* The reason phrase H2O sends with a status (HTTP/1.1 only). */
static const char *reason(int status)
{
  static const struct {
    int code;
    const char *text;
  } t[] = {{200, "OK"},
           {400, "Bad Request"},
           {401, "Unauthorized"},
           {403, "Forbidden"},
           {404, "Not Found"},
           {405, "Method Not Allowed"},
           {413, "Payload Too Large"},
           {414, "URI Too Long"},
           {429, "Too Many Requests"},
           {431, "Request Header Fields Too Large"},
           {500, "Internal Server Error"},
           {503, "Service Unavailable"}};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (t[i].code == status)
      return t[i].text;
  return "Unknown";
}

static void free_req(struct mp_http_req *r)
{
  for (size_t i = 0; i < r->nheaders; i++)
    free(r->headers[i]);
  free(r->headers);
  free(r->method);
  free(r->path);
  free(r->body);
  free(r->query_buf);
  if (r->auth_pass != NULL)
    memset(r->auth_pass, 0, strlen(r->auth_pass));
  free(r->auth_pass);
  free(r);
}

void mp_http_reply(struct mp_http_req *r, int status, const char *type,
                   const char *body, size_t len)
{
  h2o_req_t *req = r->req;

  if (req != NULL) {
    /* The pool must not reach r once it is freed below. */
    *r->link = NULL;
    if (status == 0) {
      status = 503;
      req->http1_is_persistent = 0;
      body = "dropped\n";
      len = strlen(body);
      type = "text/plain; charset=utf-8";
    }
    req->res.status = status;
    req->res.reason = reason(status);
    if (type != NULL)
      h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE,
                     NULL, type, strlen(type));
    for (size_t i = 0; i + 1 < r->nheaders; i += 2)
      if (r->headers[i] != NULL && r->headers[i + 1] != NULL)
        h2o_add_header_by_str(&req->pool, &req->res.headers, r->headers[i],
                              strlen(r->headers[i]), 1, NULL, r->headers[i + 1],
                              strlen(r->headers[i + 1]));
    req->res.content_length = len;
    h2o_send_inline(req, body, len);
  }
  r->http->npending--;
  free_req(r);
}

void mp_http_fail(struct mp_http_req *r, int status, const char *why)
{
  char line[256];
  int n = snprintf(line, sizeof line, "%s\n", why);
  if (status == 401 && r->http->nusers > 0)
    mp_http_add_header(r, "www-authenticate",
                       "Basic realm=\"mailprobe\", charset=\"UTF-8\"");
  else if (status == 401)
    mp_http_add_header(r, "www-authenticate", "Bearer realm=\"mailprobe\"");
  mp_http_reply(r, status, "text/plain; charset=utf-8", line,
                n < (int)sizeof line ? (size_t)n : sizeof line - 1);
}

static int hexval(int c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  c = tolower(c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int mp_http_query_decode(const char *q, size_t len, char *out, size_t cap,
                         const char **names, const char **values, int max)
{
  size_t o = 0;
  int n = 0, in_value = 0;

  if (cap < len + 1)
    return -1;
  if (len == 0)
    return 0;
  names[0] = out;
  values[0] = "";
  for (size_t i = 0; i <= len; i++) {
    int c = i < len ? (unsigned char)q[i] : '&';
    if (c == '&') {
      out[o++] = '\0';
      if (!in_value)
        values[n] = out + o - 1; /* "name" alone: an empty value */
      if (*names[n] != '\0' || in_value)
        n++;
      if (i == len)
        break;
      if (n >= max)
        return -1;
      names[n] = out + o;
      in_value = 0;
      continue;
    }
    if (c == '=' && !in_value) {
      out[o++] = '\0';
      values[n] = out + o;
      in_value = 1;
      continue;
    }
    if (c == '+') {
      c = ' ';
    } else if (c == '%') {
      int hi, lo;
      if (i + 2 >= len)
        return -1;
      hi = hexval((unsigned char)q[i + 1]);
      lo = hexval((unsigned char)q[i + 2]);
      if (hi < 0 || lo < 0)
        return -1;
      c = hi * 16 + lo;
      i += 2;
    }
    if (c == '\0')
      return -1;
    out[o++] = (char)c;
  }
  return n;
}
