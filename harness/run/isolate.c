/* A function in a child process of its own (harness/run/isolate.h): the
 * loop's half, which asks the forker (isolate_forker.c) for children and
 * hears how they end. */
#include "harness/run/isolate.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness/run/isolate_internal.h"

/* After the pipe's end, how long to wait for the child's exit before
 * killing it. */
#define REAP_WAIT_MS 10000

struct iso {
  struct iso *next, *prev; /* the isolator's children not yet freed */
  struct mp_isolator *z;
  uint64_t id;
  pid_t pid; /* 0 until the forker made it */
  uv_pipe_t pipe;
  uv_timer_t timer; /* the deadline, then the wait for its exit */
  int handles;      /* open handles, to free after the last close */
  int eof;          /* the pipe ended (or never opened) */
  int exited;       /* its end is known (or will never be) */
  int finished;     /* cb ran */
  char *buf;
  size_t len, cap;
  struct mp_isolate_end end;
  mp_isolate_cb cb;
  void *data;
};

struct mp_isolator {
  uv_loop_t *loop;
  int sock;  /* ours of the pair, closed after the poll handle */
  int gone;  /* the forker ended (or was told to) */
  pid_t pid; /* the forker */
  uv_poll_t poll;
  int polling;
  size_t waiting; /* children whose exit is still to come */
  uint64_t next_id;
  struct iso *live;
};

int mp_isolator_new(uv_loop_t *loop, struct mp_isolator **out)
{
  struct mp_isolator *z = calloc(1, sizeof(*z));
  int sv[2], rc;

  if (!z)
    return -ENOMEM;
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    rc = -errno;
    free(z);
    return rc;
  }
  fflush(NULL);
  z->pid = fork();
  if (z->pid < 0) {
    rc = -errno;
    close(sv[0]);
    close(sv[1]);
    free(z);
    return rc;
  }
  if (z->pid == 0) {
    close(sv[0]);
    mp_iso_forker_main(sv[1]);
  }
  close(sv[1]);
  z->loop = loop;
  z->sock = sv[0];
  rc = uv_poll_init(loop, &z->poll, z->sock);
  if (rc < 0) {
    close(z->sock);
    while (waitpid(z->pid, NULL, 0) < 0 && errno == EINTR)
      ;
    free(z);
    return rc;
  }
  z->poll.data = z;
  *out = z;
  return 0;
}

static void on_closed(uv_handle_t *h)
{
  struct iso *s = h->data;
  struct mp_isolator *z = s->z;

  if (--s->handles > 0)
    return;
  if (s->prev)
    s->prev->next = s->next;
  else
    z->live = s->next;
  if (s->next)
    s->next->prev = s->prev;
  free(s->buf);
  free(s);
}

static void kill_child(struct iso *s)
{
  if (s->pid > 0 && !s->exited)
    kill(s->pid, SIGKILL);
}

/* Calls back once both the pipe's end and the child's are in. */
static void maybe_finish(struct iso *s)
{
  if (s->finished || !s->eof || !s->exited)
    return;
  s->finished = 1;
  uv_timer_stop(&s->timer);
  s->end.bytes = s->buf;
  s->end.len = s->len;
  s->cb(&s->end, s->data);
  uv_close((uv_handle_t *)&s->timer, on_closed);
}

static void on_timer(uv_timer_t *t)
{
  struct iso *s = t->data;

  /* Its deadline, or its exit too long after its pipe's end: kill it
   * (the forker tells the end); one not started yet is killed when it
   * is. */
  s->end.timed_out = 1;
  kill_child(s);
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
   * writing. */
  s->eof = 1;
  uv_close((uv_handle_t *)&s->pipe, on_closed);
  if (!s->exited && !s->end.timed_out)
    uv_timer_start(&s->timer, on_timer, REAP_WAIT_MS, 0);
  maybe_finish(s);
}

static struct iso *find_id(struct mp_isolator *z, uint64_t id)
{
  for (struct iso *s = z->live; s; s = s->next)
    if (s->id == id && !s->finished)
      return s;
  return NULL;
}

static struct iso *find_pid(struct mp_isolator *z, pid_t pid)
{
  for (struct iso *s = z->live; s; s = s->next)
    if (s->pid == pid && !s->finished)
      return s;
  return NULL;
}

static void exited(struct iso *s)
{
  struct mp_isolator *z = s->z;

  s->exited = 1;
  if (--z->waiting == 0 && z->polling) {
    uv_poll_stop(&z->poll);
    z->polling = 0;
  }
  maybe_finish(s);
}

static void on_started(struct mp_isolator *z, const struct mp_iso_rep *rep,
                       int fd)
{
  struct iso *s = find_id(z, rep->id);
  int rc;

  if (!s || fd < 0) {
    /* Not ours to hear (or its pipe was lost): stop it. */
    if (fd >= 0)
      close(fd);
    kill((pid_t)rep->pid, SIGKILL);
    if (s) {
      s->pid = (pid_t)rep->pid;
      s->eof = 1;
    }
    return;
  }
  s->pid = (pid_t)rep->pid;
  uv_pipe_init(z->loop, &s->pipe, 0);
  s->pipe.data = s;
  s->handles++;
  rc = uv_pipe_open(&s->pipe, fd);
  if (rc < 0)
    close(fd); /* not the handle's */
  if (rc == 0)
    rc = uv_read_start((uv_stream_t *)&s->pipe, on_alloc, on_read);
  if (rc < 0) {
    /* The child runs, but we cannot hear it: stop it. */
    kill(s->pid, SIGKILL);
    uv_close((uv_handle_t *)&s->pipe, on_closed);
    s->eof = 1;
    return;
  }
  if (s->end.timed_out)
    kill_child(s); /* its deadline came first */
}

static void on_rep(struct mp_isolator *z, const struct mp_iso_rep *rep, int fd)
{
  struct iso *s;

  switch (rep->kind) {
  case MP_ISO_STARTED:
    on_started(z, rep, fd);
    return;
  case MP_ISO_FAILED:
    s = find_id(z, rep->id);
    if (!s)
      return;
    s->eof = 1;
    s->end.exit_code = -1;
    exited(s);
    return;
  case MP_ISO_EXITED:
    s = find_pid(z, (pid_t)rep->pid);
    if (!s)
      return;
    if (WIFSIGNALED(rep->status)) {
      s->end.exit_code = -1;
      s->end.signal = WTERMSIG(rep->status);
    } else {
      s->end.exit_code = WEXITSTATUS(rep->status);
    }
    exited(s);
    return;
  }
}

/* The forker is gone: what it did not tell will never be told. */
static void forker_gone(struct mp_isolator *z)
{
  struct iso *s, *next;

  if (z->polling)
    uv_poll_stop(&z->poll);
  z->polling = 0;
  z->gone = 1;
  for (s = z->live; s; s = next) {
    next = s->next;
    if (s->finished || s->exited)
      continue;
    kill_child(s);
    if (!s->pid)
      s->eof = 1;
    s->end.exit_code = -1; /* reaped elsewhere: its end is unknown */
    exited(s);
  }
}

static void on_poll(uv_poll_t *p, int status, int events)
{
  struct mp_isolator *z = p->data;

  (void)events;
  for (;;) {
    struct mp_iso_rep rep;
    struct iovec iov = {&rep, sizeof(rep)};
    union {
      struct cmsghdr h;
      char buf[CMSG_SPACE(sizeof(int))];
    } c;
    struct msghdr m;
    struct cmsghdr *h;
    int fd = -1;
    ssize_t n;

    if (status < 0) {
      forker_gone(z);
      return;
    }
    memset(&m, 0, sizeof(m));
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = c.buf;
    m.msg_controllen = sizeof(c.buf);
    n = recvmsg(z->sock, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    if (n <= 0) {
      forker_gone(z);
      return;
    }
    for (h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h))
      if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS &&
          h->cmsg_len == CMSG_LEN(sizeof(int)))
        memcpy(&fd, CMSG_DATA(h), sizeof(int));
    if (n == (ssize_t)sizeof(rep))
      on_rep(z, &rep, fd);
    else if (fd >= 0)
      close(fd);
    if (z->gone)
      return;
  }
}

int mp_isolate_start(struct mp_isolator *z, mp_isolate_fn fn, void *arg,
                     uint64_t deadline_ms, mp_isolate_cb cb, void *data)
{
  struct mp_iso_req req;
  struct iso *s;
  ssize_t n;
  int rc;

  if (z->gone)
    return -EPIPE;
  s = calloc(1, sizeof(*s));
  if (!s)
    return -ENOMEM;
  memset(&req, 0, sizeof(req));
  req.id = s->id = ++z->next_id;
  req.fn = fn;
  req.arg = arg;
  do
    n = send(z->sock, &req, sizeof(req), MSG_DONTWAIT | MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n != (ssize_t)sizeof(req)) {
    rc = n < 0 ? -errno : -EIO;
    free(s);
    return rc;
  }
  if (!z->polling) {
    uv_poll_start(&z->poll, UV_READABLE | UV_DISCONNECT, on_poll);
    z->polling = 1;
  }
  z->waiting++;
  s->z = z;
  s->cb = cb;
  s->data = data;
  s->next = z->live;
  if (z->live)
    z->live->prev = s;
  z->live = s;
  uv_timer_init(z->loop, &s->timer);
  s->timer.data = s;
  s->handles = 1;
  uv_timer_start(&s->timer, on_timer, deadline_ms, 0);
  return 0;
}

/* The descriptor goes only after its poll handle (libuv's rule). */
static void on_poll_closed(uv_handle_t *h)
{
  struct mp_isolator *z = h->data;

  close(z->sock);
  free(z);
}

void mp_isolator_free(struct mp_isolator *z)
{
  if (!z)
    return;
  if (z->polling)
    uv_poll_stop(&z->poll);
  z->polling = 0;
  z->gone = 1;
  /* The end of the socket ends the forker. */
  shutdown(z->sock, SHUT_RDWR);
  while (waitpid(z->pid, NULL, 0) < 0 && errno == EINTR)
    ;
  uv_close((uv_handle_t *)&z->poll, on_poll_closed);
}
