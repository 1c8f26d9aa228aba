/* A function in a child process of its own (harness/run/isolate.h). */
#include "harness/run/isolate.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* After the pipe's end, how long to wait for the child to exit before
 * killing it, polled every REAP_POLL_MS (waitpid would block the loop). */
#define REAP_POLL_MS 1
#define REAP_WAIT_MS 10000

struct iso {
  struct iso *next, *prev; /* every child not yet ended (live) */
  uv_loop_t *loop;
  pid_t pid;
  uv_pipe_t pipe;
  uv_timer_t timer; /* the deadline, then the reaping poll */
  int handles;      /* open handles, to free after the last close */
  int eof;
  int reaped;
  uint64_t reap_until;
  char *buf;
  size_t len, cap;
  struct mp_isolate_end end;
  mp_isolate_cb cb;
  void *data;
};

/* LeakSanitizer's check, when it is linked in (ASan builds). A child
 * leaves through _exit, which skips the check LSan makes at exit; the
 * cases that run here are the hostile ones, the likeliest to leak. With
 * leaks it ends the child with LSan's exit status (23), which the caller
 * sees after the bytes. */
extern void __lsan_do_leak_check(void) __attribute__((weak));

/* The children not yet ended. Besides bookkeeping, this keeps every record
 * reachable from a global in a child forked later, which inherits them:
 * its leak check (valgrind's, at _exit) then sees no memory lost. */
static struct iso *live;

static void live_add(struct iso *s)
{
  s->next = live;
  s->prev = NULL;
  if (live)
    live->prev = s;
  live = s;
}

static void live_remove(struct iso *s)
{
  if (s->prev)
    s->prev->next = s->next;
  else if (live == s)
    live = s->next;
  if (s->next)
    s->next->prev = s->prev;
  s->next = s->prev = NULL;
}

/* The child's descriptor for the pipe: the lowest after stdio. */
#define CHILD_FD 3

static void close_from(int lowest)
{
#ifdef SYS_close_range
  if (syscall(SYS_close_range, (unsigned)lowest, ~0u, 0u) == 0)
    return;
#endif
  struct rlimit rl;
  int max = 65536;

  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      rl.rlim_cur < (rlim_t)max)
    max = (int)rl.rlim_cur;
  for (int fd = lowest; fd < max; fd++)
    close(fd);
}

static void write_all(int fd, const char *p, size_t len)
{
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      _exit(2);
    p += n;
    len -= (size_t)n;
  }
}

static __attribute__((noreturn)) void child_main(int wfd, mp_isolate_fn fn,
                                                 void *arg)
{
  char *out;
  size_t len = 0;

  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  /* Nothing of the parent's stays open here: a socket of another case
   * held by the child would keep its connection up after the parent
   * closed it. */
  if (wfd != CHILD_FD) {
    if (dup2(wfd, CHILD_FD) < 0)
      _exit(2);
  } else {
    fcntl(CHILD_FD, F_SETFD, 0);
  }
  close_from(CHILD_FD + 1);
  out = fn(arg, &len);
  if (out)
    write_all(CHILD_FD, out, len);
  free(out);
  close(CHILD_FD);
  if (__lsan_do_leak_check)
    __lsan_do_leak_check();
  _exit(0);
}

static void on_closed(uv_handle_t *h)
{
  struct iso *s = h->data;

  if (--s->handles == 0) {
    live_remove(s);
    free(s->buf);
    free(s);
  }
}

static void finish(struct iso *s)
{
  s->end.bytes = s->buf;
  s->end.len = s->len;
  s->cb(&s->end, s->data);
  uv_close((uv_handle_t *)&s->timer, on_closed);
  if (!uv_is_closing((uv_handle_t *)&s->pipe))
    uv_close((uv_handle_t *)&s->pipe, on_closed);
}

/* 1 once the child is reaped (its end recorded). */
static int reap(struct iso *s)
{
  int status;
  pid_t r;

  do
    r = waitpid(s->pid, &status, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == 0)
    return 0;
  s->reaped = 1;
  if (r < 0) {
    s->end.exit_code = -1; /* reaped elsewhere: its end is unknown */
  } else if (WIFSIGNALED(status)) {
    s->end.exit_code = -1;
    s->end.signal = WTERMSIG(status);
  } else {
    s->end.exit_code = WEXITSTATUS(status);
  }
  return 1;
}

static void kill_child(struct iso *s)
{
  if (!s->reaped)
    kill(s->pid, SIGKILL);
}

static void on_timer(uv_timer_t *t)
{
  struct iso *s = t->data;

  if (!s->eof) {
    /* The deadline: kill it; the pipe's end follows. */
    s->end.timed_out = 1;
    kill_child(s);
    return;
  }
  if (reap(s)) {
    uv_timer_stop(&s->timer);
    finish(s);
    return;
  }
  if (uv_now(s->loop) >= s->reap_until) {
    s->end.timed_out = 1;
    kill_child(s);
  }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
  struct iso *s = h->data;

  (void)hint;
  if (s->cap - s->len < 16384) {
    size_t cap = s->cap ? s->cap * 2 : 65536;
    char *p = realloc(s->buf, cap);
    if (!p) {
      *b = uv_buf_init(NULL, 0);
      return;
    }
    s->buf = p;
    s->cap = cap;
  }
  *b = uv_buf_init(s->buf + s->len, (unsigned)(s->cap - s->len));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
  struct iso *s = st->data;

  (void)b;
  if (n > 0) {
    s->len += (size_t)n;
    if (s->len <= MP_ISOLATE_MAX_BYTES)
      return;
    s->end.too_big = 1;
    kill_child(s);
    n = UV_EOF;
  }
  if (n == 0)
    return;
  /* The end of the pipe (or an error, or no memory): the child is done
   * writing; reap it. */
  s->eof = 1;
  uv_close((uv_handle_t *)&s->pipe, on_closed);
  uv_timer_stop(&s->timer);
  if (reap(s)) {
    finish(s);
    return;
  }
  s->reap_until = uv_now(s->loop) + REAP_WAIT_MS;
  uv_timer_start(&s->timer, on_timer, REAP_POLL_MS, REAP_POLL_MS);
}

int mp_isolate_start(uv_loop_t *loop, mp_isolate_fn fn, void *arg,
                     uint64_t deadline_ms, mp_isolate_cb cb, void *data)
{
  struct iso *s = calloc(1, sizeof(*s));
  int fds[2], rc;

  if (!s)
    return UV_ENOMEM;
  if (pipe2(fds, O_CLOEXEC) < 0) {
    rc = -errno;
    free(s);
    return rc;
  }
  fflush(NULL);
  live_add(s);
  s->pid = fork();
  if (s->pid < 0) {
    rc = -errno;
    live_remove(s);
    close(fds[0]);
    close(fds[1]);
    free(s);
    return rc;
  }
  if (s->pid == 0)
    child_main(fds[1], fn, arg);
  close(fds[1]);
  s->loop = loop;
  s->cb = cb;
  s->data = data;
  uv_pipe_init(loop, &s->pipe, 0);
  uv_timer_init(loop, &s->timer);
  s->pipe.data = s->timer.data = s;
  s->handles = 2;
  rc = uv_pipe_open(&s->pipe, fds[0]);
  if (rc < 0)
    close(fds[0]); /* not the handle's */
  if (rc == 0)
    rc = uv_read_start((uv_stream_t *)&s->pipe, on_alloc, on_read);
  if (rc < 0) {
    /* The child runs, but we cannot hear it: stop it and say so. */
    kill(s->pid, SIGKILL);
    if (!uv_is_closing((uv_handle_t *)&s->pipe))
      uv_close((uv_handle_t *)&s->pipe, on_closed);
    s->eof = 1;
    s->reap_until = uv_now(loop) + REAP_WAIT_MS;
    uv_timer_start(&s->timer, on_timer, REAP_POLL_MS, REAP_POLL_MS);
    return 0;
  }
  uv_timer_start(&s->timer, on_timer, deadline_ms, 0);
  return 0;
}
