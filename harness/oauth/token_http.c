/* The token endpoint (harness/oauth/token.h): one POST of the client
 * credentials grant (RFC 6749 4.4) or the refresh token grant (RFC 6749
 * 6) through libcurl's multi interface, driven by the libuv loop as
 * curl's multi-uv example drives it (curl_multi_socket_action from
 * uv_poll and uv_timer callbacks). TLS is verified as for mail: the
 * system store or --cafile, never off unless --insecure. A rotated
 * refresh token is written back atomically (a temporary file in the same
 * folder, then rename). */
#include "harness/oauth/token.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "wire/errors.h"

#define HTTP_MAX_BODY (256 * 1024)

struct mp_token_job {
  uv_loop_t *loop;
  CURLM *multi;
  CURL *easy;
  uv_timer_t timer;
  int closing, open_polls;
  char *body; /* the request body (secrets: wiped) */
  char *resp;
  size_t resp_len;
  int too_long;
  char *refresh_file;
  mp_token_done done;
  void *data;
};

/* One socket curl wants watched. */
struct poll_ctx {
  uv_poll_t poll;
  curl_socket_t fd;
  struct mp_token_job *job;
};

static void job_free(struct mp_token_job *j)
{
  if (j->body) {
    memset(j->body, 0, strlen(j->body));
    free(j->body);
  }
  if (j->resp) {
    memset(j->resp, 0, j->resp_len);
    free(j->resp);
  }
  free(j->refresh_file);
  free(j);
}

static void on_timer_close(uv_handle_t *h)
{
  struct mp_token_job *j = h->data;
  j->closing |= 2;
  if (j->open_polls == 0)
    job_free(j);
}

static void on_poll_close(uv_handle_t *h)
{
  struct poll_ctx *c = h->data;
  struct mp_token_job *j = c->job;
  free(c);
  if (--j->open_polls == 0 && (j->closing & 2))
    job_free(j);
}

static size_t on_body(char *p, size_t size, size_t n, void *data)
{
  struct mp_token_job *j = data;
  size_t len = size * n;
  if (j->resp_len + len > HTTP_MAX_BODY) {
    j->too_long = 1;
    return 0; /* curl stops with CURLE_WRITE_ERROR */
  }
  char *r = realloc(j->resp, j->resp_len + len + 1);
  if (!r)
    return 0;
  memcpy(r + j->resp_len, p, len);
  j->resp = r;
  j->resp_len += len;
  j->resp[j->resp_len] = '\0';
  return len;
}

/* Writes a rotated refresh token next to the old one, then renames it
 * over (rename is atomic within a file system). 0 or -1. */
static int rewrite_refresh(const char *path, const char *token)
{
  size_t pl = strlen(path);
  char *tmp = malloc(pl + 16);
  if (!tmp)
    return -1;
  snprintf(tmp, pl + 16, "%s.tmpXXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    free(tmp);
    return -1;
  }
  size_t tl = strlen(token);
  int ok = write(fd, token, tl) == (ssize_t)tl && write(fd, "\n", 1) == 1 &&
           fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    free(tmp);
    return -1;
  }
  free(tmp);
  return 0;
}

/* The transfer ended: read the answer and say how it went, once. */
static void finish(struct mp_token_job *j, CURLcode cc)
{
  char why[600];
  long status = 0;
  struct mp_token_reply r;
  char *token = NULL;
  int err = 0;
  int64_t expires = -1;
  curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
  if (cc != CURLE_OK) {
    snprintf(why, sizeof why, "the token endpoint could not be asked: %s",
             j->too_long ? "the answer is too long" : curl_easy_strerror(cc));
    err = cc == CURLE_OPERATION_TIMEDOUT         ? MP_E_TIMEOUT
          : cc == CURLE_PEER_FAILED_VERIFICATION ? MP_E_CERT_INVALID
          : cc == CURLE_COULDNT_CONNECT          ? MP_E_CONNECT_REFUSED
          : j->too_long                          ? MP_E_PROTOCOL_ERROR
                                                 : MP_E_CONNECT_FAILED;
  } else if (mp_token_reply_parse(j->resp ? j->resp : "", j->resp_len, &r) <
             0) {
    snprintf(why, sizeof why,
             "the token endpoint answered HTTP %ld without a token or an "
             "error in JSON",
             status);
    err = MP_E_PROTOCOL_ERROR;
  } else if (r.error || status != 200) {
    /* RFC 6749 5.2: 400 (or 401) with error and error_description. */
    snprintf(why, sizeof why, "the token endpoint refused (HTTP %ld): %s%s%s",
             status, r.error ? r.error : "no error given",
             r.error_description ? ": " : "",
             r.error_description ? r.error_description : "");
    err = MP_E_AUTH_FAILED;
    mp_token_reply_clear(&r);
  } else {
    if (r.refresh_token && j->refresh_file &&
        rewrite_refresh(j->refresh_file, r.refresh_token) < 0)
      fprintf(stderr,
              "mailprobe: the rotated refresh token could not be written to "
              "%s\n",
              j->refresh_file);
    token = r.access_token;
    r.access_token = NULL;
    expires = r.expires_in;
    mp_token_reply_clear(&r);
  }
  j->done(j->data, token, expires, err, 0, err ? why : NULL);
  curl_multi_remove_handle(j->multi, j->easy);
  curl_easy_cleanup(j->easy);
  curl_multi_cleanup(j->multi);
  uv_close((uv_handle_t *)&j->timer, on_timer_close);
}

static void check_done(struct mp_token_job *j)
{
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(j->multi, &left)))
    if (m->msg == CURLMSG_DONE) {
      finish(j, m->data.result);
      return;
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
  struct poll_ctx *c = h->data;
  struct mp_token_job *j = c->job;
  int running, flags = 0;
  if (status < 0)
    flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE)
    flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE)
    flags |= CURL_CSELECT_OUT;
  curl_multi_socket_action(j->multi, c->fd, flags, &running);
  check_done(j);
}

static void on_timeout(uv_timer_t *t)
{
  struct mp_token_job *j = t->data;
  int running;
  curl_multi_socket_action(j->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done(j);
}

static int on_curl_timer(CURLM *m, long ms, void *data)
{
  struct mp_token_job *j = data;
  (void)m;
  if (ms < 0)
    uv_timer_stop(&j->timer);
  else
    uv_timer_start(&j->timer, on_timeout, (uint64_t)ms, 0);
  return 0;
}

static int on_curl_socket(CURL *e, curl_socket_t fd, int what, void *data,
                          void *sockp)
{
  struct mp_token_job *j = data;
  struct poll_ctx *c = sockp;
  (void)e;
  if (what == CURL_POLL_REMOVE) {
    if (c) {
      uv_poll_stop(&c->poll);
      curl_multi_assign(j->multi, fd, NULL);
      uv_close((uv_handle_t *)&c->poll, on_poll_close);
    }
    return 0;
  }
  if (!c) {
    c = calloc(1, sizeof *c);
    if (!c || uv_poll_init_socket(j->loop, &c->poll, fd) < 0) {
      free(c);
      return -1;
    }
    c->fd = fd;
    c->job = j;
    c->poll.data = c;
    j->open_polls++;
    curl_multi_assign(j->multi, fd, c);
  }
  int ev = (what & CURL_POLL_IN ? UV_READABLE : 0) |
           (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
  uv_poll_start(&c->poll, ev, on_poll);
  return 0;
}

/* Appends "&key=value" (URL-encoded) to the body. */
static int add_field(CURL *e, char **body, const char *key, const char *val)
{
  char *enc = curl_easy_escape(e, val, 0);
  if (!enc)
    return -1;
  size_t old = *body ? strlen(*body) : 0;
  size_t need = old + strlen(key) + strlen(enc) + 3;
  char *b = malloc(need);
  if (!b) {
    curl_free(enc);
    return -1;
  }
  snprintf(b, need, "%s%s%s=%s", *body ? *body : "", old ? "&" : "", key, enc);
  memset(enc, 0, strlen(enc));
  curl_free(enc);
  if (*body) {
    memset(*body, 0, old);
    free(*body);
  }
  *body = b;
  return 0;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void)
{
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct mp_token_job *mp_token_http_start(struct uv_loop_s *loop,
                                         const struct mp_token_opts *o,
                                         const char *refresh_token,
                                         mp_token_done done, void *data)
{
  pthread_once(&curl_once, curl_init);
  struct mp_token_job *j = calloc(1, sizeof *j);
  if (!j) {
    done(data, NULL, -1, MP_E_NO_RESOURCES, 1, "out of memory");
    return NULL;
  }
  j->loop = loop;
  j->done = done;
  j->data = data;
  j->multi = curl_multi_init();
  j->easy = curl_easy_init();
  int bad = !j->multi || !j->easy;
  /* RFC 6749 4.4.2 and 6: the grant, the client (2.3.1: in the body is
   * allowed, and is what Microsoft's v2 endpoint documents), the scope. */
  if (!bad && refresh_token)
    bad = add_field(j->easy, &j->body, "grant_type", "refresh_token") < 0 ||
          add_field(j->easy, &j->body, "refresh_token", refresh_token) < 0;
  else if (!bad)
    bad = add_field(j->easy, &j->body, "grant_type", "client_credentials") < 0;
  if (!bad && o->client_id)
    bad = add_field(j->easy, &j->body, "client_id", o->client_id) < 0;
  if (!bad && o->client_secret)
    bad = add_field(j->easy, &j->body, "client_secret", o->client_secret) < 0;
  if (!bad && o->scope)
    bad = add_field(j->easy, &j->body, "scope", o->scope) < 0;
  if (!bad && o->refresh_file)
    bad = !(j->refresh_file = strdup(o->refresh_file));
  if (bad) {
    if (j->easy)
      curl_easy_cleanup(j->easy);
    if (j->multi)
      curl_multi_cleanup(j->multi);
    job_free(j);
    done(data, NULL, -1, MP_E_NO_RESOURCES, 1,
         "the HTTP request could not "
         "be set up");
    return NULL;
  }
  CURL *e = j->easy;
  curl_easy_setopt(e, CURLOPT_URL, o->url);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->body);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                   (long)(o->http_timeout_ms ? o->http_timeout_ms : 30000));
  curl_easy_setopt(e, CURLOPT_USERAGENT, "mailprobe");
  if (o->cafile)
    curl_easy_setopt(e, CURLOPT_CAINFO, o->cafile);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, o->insecure ? 0L : 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, o->insecure ? 0L : 2L);
  uv_timer_init(loop, &j->timer);
  j->timer.data = j;
  curl_multi_setopt(j->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
  curl_multi_setopt(j->multi, CURLMOPT_SOCKETDATA, j);
  curl_multi_setopt(j->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
  curl_multi_setopt(j->multi, CURLMOPT_TIMERDATA, j);
  curl_multi_add_handle(j->multi, e);
  return j;
}
