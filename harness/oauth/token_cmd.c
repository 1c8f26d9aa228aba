/* --oauth-token-command (harness/oauth/token.h): the command runs through
 * uv_spawn, its argv split on blanks (no shell, nothing of ours in its
 * environment but what the probe's own process has), with a time limit;
 * its stdout is the token. */
#include "harness/oauth/token.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "wire/errors.h"

#define CMD_MAX_OUT 16384 /* a token is a few KB at most */
#define CMD_MAX_ARGS 64

struct mp_token_job {
  uv_process_t proc;
  uv_pipe_t out;
  uv_timer_t timer;
  int open; /* handles not closed yet */
  char buf[CMD_MAX_OUT + 1];
  size_t len;
  int too_long, exited, eof, timed_out;
  int64_t status;
  int signal;
  uint64_t timeout_ms;
  char *words;
  mp_token_done done;
  void *data;
};

static void on_close(uv_handle_t *h)
{
  struct mp_token_job *j = h->data;
  if (--j->open == 0) {
    memset(j->buf, 0, sizeof j->buf);
    free(j->words);
    free(j);
  }
}

/* Both the exit and the end of stdout are in (or the time is up): say
 * how it went, then close everything. */
static void finish(struct mp_token_job *j)
{
  char why[256];
  char *token = NULL;
  int err = 0;
  if (j->timed_out) {
    snprintf(why, sizeof why,
             "--oauth-token-command did not finish within %llu ms",
             (unsigned long long)j->timeout_ms);
    err = MP_E_TIMEOUT;
  } else if (j->signal || j->status != 0) {
    if (j->signal)
      snprintf(why, sizeof why, "--oauth-token-command was killed by signal %d",
               j->signal);
    else
      snprintf(why, sizeof why, "--oauth-token-command exited with status %lld",
               (long long)j->status);
    err = MP_E_AUTH_FAILED;
  } else if (j->too_long) {
    snprintf(why, sizeof why,
             "--oauth-token-command printed more than %d bytes", CMD_MAX_OUT);
    err = MP_E_PROTOCOL_ERROR;
  } else {
    /* The token is the output less trailing white space. */
    while (j->len > 0 &&
           (j->buf[j->len - 1] == '\n' || j->buf[j->len - 1] == '\r' ||
            j->buf[j->len - 1] == ' '))
      j->len--;
    j->buf[j->len] = '\0';
    if (j->len == 0) {
      snprintf(why, sizeof why, "--oauth-token-command printed nothing");
      err = MP_E_AUTH_FAILED;
    } else if (strlen(j->buf) != j->len || strpbrk(j->buf, "\r\n\001")) {
      snprintf(why, sizeof why,
               "--oauth-token-command printed more than one line");
      err = MP_E_PROTOCOL_ERROR;
    } else if (!(token = strdup(j->buf))) {
      snprintf(why, sizeof why, "out of memory");
      err = MP_E_NO_RESOURCES;
    }
  }
  j->done(j->data, token, -1, err, 1, err ? why : NULL);
  uv_close((uv_handle_t *)&j->timer, on_close);
  if (!uv_is_closing((uv_handle_t *)&j->out))
    uv_close((uv_handle_t *)&j->out, on_close);
  uv_close((uv_handle_t *)&j->proc, on_close);
}

static void maybe_finish(struct mp_token_job *j)
{
  if (j->exited && j->eof)
    finish(j);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
  static char sink[4096];
  struct mp_token_job *j = h->data;
  (void)hint;
  if (j->len < CMD_MAX_OUT)
    *b = uv_buf_init(j->buf + j->len, (unsigned)(CMD_MAX_OUT - j->len));
  else
    *b = uv_buf_init(sink, sizeof sink); /* read on, keep nothing */
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
  struct mp_token_job *j = s->data;
  if (n > 0) {
    if (b->base == j->buf + j->len)
      j->len += (size_t)n;
    else
      j->too_long = 1;
    return;
  }
  if (n < 0) {
    j->eof = 1;
    uv_read_stop(s);
    maybe_finish(j);
  }
}

static void on_child_exit(uv_process_t *p, int64_t status, int sig)
{
  struct mp_token_job *j = p->data;
  j->exited = 1;
  j->status = status;
  j->signal = sig;
  maybe_finish(j);
}

static void on_timeout(uv_timer_t *t)
{
  struct mp_token_job *j = t->data;
  j->timed_out = 1;
  uv_process_kill(&j->proc, SIGKILL);
  /* The exit comes next; stdout may stay open in a grandchild. */
  j->eof = 1;
  uv_read_stop((uv_stream_t *)&j->out);
  maybe_finish(j);
}

struct mp_token_job *mp_token_cmd_start(struct uv_loop_s *loop,
                                        const char *command,
                                        uint64_t timeout_ms, mp_token_done done,
                                        void *data)
{
  struct mp_token_job *j = calloc(1, sizeof *j);
  char *argv[CMD_MAX_ARGS + 1];
  size_t argc = 0;
  if (!j || !(j->words = strdup(command))) {
    free(j);
    done(data, NULL, -1, MP_E_NO_RESOURCES, 1, "out of memory");
    return NULL;
  }
  for (char *w = strtok(j->words, " \t"); w && argc < CMD_MAX_ARGS;
       w = strtok(NULL, " \t"))
    argv[argc++] = w;
  argv[argc] = NULL;
  j->done = done;
  j->data = data;
  j->timeout_ms = timeout_ms ? timeout_ms : 10000;
  if (argc == 0) {
    free(j->words);
    free(j);
    done(data, NULL, -1, MP_E_AUTH_FAILED, 1, "--oauth-token-command is empty");
    return NULL;
  }
  uv_pipe_init(loop, &j->out, 0);
  uv_timer_init(loop, &j->timer);
  j->out.data = j->timer.data = j->proc.data = j;
  j->open = 3;
  uv_stdio_container_t io[3] = {{.flags = UV_IGNORE},
                                {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE,
                                 .data.stream = (uv_stream_t *)&j->out},
                                {.flags = UV_INHERIT_FD, .data.fd = 2}};
  uv_process_options_t po = {.exit_cb = on_child_exit,
                             .file = argv[0],
                             .args = argv,
                             .stdio = io,
                             .stdio_count = 3};
  int rc = uv_spawn(loop, &j->proc, &po);
  if (rc < 0) {
    char why[300];
    snprintf(why, sizeof why, "--oauth-token-command could not run %s: %s",
             argv[0], uv_strerror(rc));
    done(data, NULL, -1, MP_E_AUTH_FAILED, 1, why);
    j->open = 3;
    uv_close((uv_handle_t *)&j->out, on_close);
    uv_close((uv_handle_t *)&j->timer, on_close);
    uv_close((uv_handle_t *)&j->proc, on_close);
    return NULL;
  }
  uv_read_start((uv_stream_t *)&j->out, on_alloc, on_read);
  uv_timer_start(&j->timer, on_timeout, j->timeout_ms, 0);
  return j;
}
