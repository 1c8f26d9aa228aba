/* A subject's process: uv_spawn, capture, TERM then KILL, the whole group
 * (harness/subject/spawn.h). */
#include "harness/subject/spawn.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <uv.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

/* After the leader exits, how long its pipes may stay open (a descendant
 * that left the group holds them) before we close our ends anyway. */
#define DRAIN_MS 1000
#define DEFAULT_KILL_MS 500
/* Polls for the group's last processes to be reapable: at most
 * REAP_TRIES * REAP_POLL_MS. */
#define REAP_POLL_MS 2
#define REAP_TRIES 500
#define READ_CHUNK 65536

struct cap {
  uv_pipe_t pipe;
  struct mp_spawn *sp;
  char *head;
  size_t hlen, cap;
  char tail[MP_SPAWN_TAIL]; /* a ring of the last bytes past the cap */
  size_t tpos, tlen;
  uint64_t total;
  int open; /* reading, no EOF yet */
};

struct mp_spawn {
  uv_process_t proc;
  uv_timer_t timer;
  struct cap out, err;
  char buf[READ_CHUNK];
  mp_spawn_cb cb;
  void *data;
  uint64_t start_ns;
  uint64_t kill_after_ms;
  int pid;
  int exited, termed, killed;
  int reaped;
  unsigned reap_tries;
  int64_t status;
  int signal;
  uint64_t elapsed_us;
  int handles; /* not yet closed */
};

static void on_closed(uv_handle_t *h);

/* The groups alive, for mp_spawn_kill_all from a signal handler: plain
 * ints written before the group exists and cleared after it is reaped. */
#define MAX_LIVE 4096
static volatile sig_atomic_t live[MAX_LIVE];

static void live_add(int pid)
{
  for (size_t i = 0; i < MAX_LIVE; i++)
    if (live[i] == 0) {
      live[i] = pid;
      return;
    }
}

static void live_remove(int pid)
{
  for (size_t i = 0; i < MAX_LIVE; i++)
    if (live[i] == pid)
      live[i] = 0;
}

void mp_spawn_kill_all(void)
{
  for (size_t i = 0; i < MAX_LIVE; i++)
    if (live[i] > 0)
      kill(-(pid_t)live[i], SIGKILL);
}

static void alloc_cb(uv_handle_t *h, size_t want, uv_buf_t *b)
{
  struct cap *c = h->data;

  (void)want;
  b->base = c->sp->buf;
  b->len = sizeof(c->sp->buf);
}

/* Keeps the head up to the cap, and the last bytes past it in a ring. */
static void keep(struct cap *c, const char *p, size_t n)
{
  size_t k;

  c->total += n;
  k = c->cap - c->hlen < n ? c->cap - c->hlen : n;
  memcpy(c->head + c->hlen, p, k);
  c->hlen += k;
  p += k;
  n -= k;
  if (n >= MP_SPAWN_TAIL) {
    p += n - MP_SPAWN_TAIL;
    n = MP_SPAWN_TAIL;
  }
  while (n--) {
    c->tail[c->tpos] = *p++;
    c->tpos = (c->tpos + 1) % MP_SPAWN_TAIL;
    if (c->tlen < MP_SPAWN_TAIL)
      c->tlen++;
  }
}

static void maybe_finish(struct mp_spawn *sp);

static void stop_reading(struct cap *c)
{
  if (!c->open)
    return;
  c->open = 0;
  uv_read_stop((uv_stream_t *)&c->pipe);
  uv_close((uv_handle_t *)&c->pipe, on_closed);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
  struct cap *c = s->data;

  if (n > 0) {
    keep(c, b->base, (size_t)n);
    return;
  }
  if (n < 0) {
    stop_reading(c);
    maybe_finish(c->sp);
  }
}

/* Signals the whole group (the process leads it: UV_PROCESS_DETACHED). */
static void group_kill(struct mp_spawn *sp, int sig)
{
  if (sp->pid > 0)
    uv_kill(-sp->pid, sig);
}

static void on_timer(uv_timer_t *t)
{
  struct mp_spawn *sp = t->data;

  if (sp->exited) {
    /* The pipes stayed open past the drain: close our ends. */
    stop_reading(&sp->out);
    stop_reading(&sp->err);
    maybe_finish(sp);
    return;
  }
  if (!sp->termed) {
    sp->termed = 1;
    group_kill(sp, SIGTERM);
    uv_timer_start(&sp->timer, on_timer, sp->kill_after_ms, 0);
    return;
  }
  sp->killed = 1;
  group_kill(sp, SIGKILL);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
  struct mp_spawn *sp = p->data;

  sp->exited = 1;
  sp->status = status;
  sp->signal = sig;
  sp->elapsed_us = (uv_hrtime() - sp->start_ns) / 1000;
  /* Whatever it forked dies with it: a probe's children have no business
   * after its verdict, and a sleeper would hold our pipes open. */
  group_kill(sp, SIGKILL);
  uv_timer_stop(&sp->timer);
  uv_timer_start(&sp->timer, on_timer, DRAIN_MS, 0);
  maybe_finish(sp);
}

/* The head, and past the cap a marker and the tail, as one text. */
static void assemble(struct cap *c, struct mp_spawn_stream *o)
{
  char mark[128];
  size_t m = 0, i;

  if (c->total > c->hlen + c->tlen)
    m = (size_t)snprintf(mark, sizeof(mark),
                         "\n[... %llu bytes not kept ...]\n",
                         (unsigned long long)(c->total - c->hlen - c->tlen));
  o->text = malloc(c->hlen + m + c->tlen + 1);
  o->total = c->total;
  if (!o->text) {
    o->len = 0;
    return;
  }
  memcpy(o->text, c->head, c->hlen);
  memcpy(o->text + c->hlen, mark, m);
  for (i = 0; i < c->tlen; i++)
    o->text[c->hlen + m + i] =
        c->tail[(c->tpos + MP_SPAWN_TAIL - c->tlen + i) % MP_SPAWN_TAIL];
  o->len = c->hlen + m + c->tlen;
  o->text[o->len] = '\0';
}

/* Reaps what is left of the group: we are its subreaper, so what the
 * leader forked became our child when the leader died, and was killed
 * with the group. Only after the leader's own exit was reaped (by libuv),
 * so this never takes libuv's child. 1 when none is left (ECHILD), 0
 * while one is still dying (its descriptors close before it can be
 * reaped). */
static int reap_group(struct mp_spawn *sp)
{
  int st;
  pid_t r;

  if (sp->pid <= 0)
    return 1;
  while ((r = waitpid(-sp->pid, &st, WNOHANG)) > 0)
    ;
  return r < 0;
}

static void on_reap_timer(uv_timer_t *t)
{
  struct mp_spawn *sp = t->data;

  if (reap_group(sp) || ++sp->reap_tries >= REAP_TRIES) {
    uv_timer_stop(&sp->timer);
    sp->reaped = 1;
    maybe_finish(sp);
  }
}

static void maybe_finish(struct mp_spawn *sp)
{
  if (!sp->exited || sp->out.open || sp->err.open || sp->cb == NULL)
    return;
  if (!sp->reaped) {
    if (!reap_group(sp)) {
      /* Poll until the group's last process can be reaped. */
      uv_timer_stop(&sp->timer);
      uv_timer_start(&sp->timer, on_reap_timer, REAP_POLL_MS, REAP_POLL_MS);
      return;
    }
    sp->reaped = 1;
  }
  live_remove(sp->pid);
  {
    struct mp_spawn_end end;
    mp_spawn_cb cb = sp->cb;

    memset(&end, 0, sizeof(end));
    end.exit_status = sp->status;
    end.term_signal = sp->signal;
    end.termed = sp->termed;
    end.killed = sp->killed;
    end.elapsed_us = sp->elapsed_us;
    assemble(&sp->out, &end.out);
    assemble(&sp->err, &end.err);
    sp->cb = NULL;
    cb(&end, sp->data);
    free(end.out.text);
    free(end.err.text);
  }
  uv_timer_stop(&sp->timer);
  uv_close((uv_handle_t *)&sp->timer, on_closed);
  uv_close((uv_handle_t *)&sp->proc, on_closed);
}

static void on_closed(uv_handle_t *h)
{
  struct mp_spawn *sp;

  if (h->type == UV_NAMED_PIPE)
    sp = ((struct cap *)h->data)->sp;
  else
    sp = h->data;
  if (--sp->handles > 0)
    return;
  free(sp->out.head);
  free(sp->err.head);
  free(sp);
}

int mp_spawn_start(struct uv_loop_s *loop, const struct mp_spawn_opts *o,
                   mp_spawn_cb cb, void *data)
{
  uv_process_options_t po;
  uv_stdio_container_t io[3];
  struct mp_spawn *sp = calloc(1, sizeof(*sp));
  size_t cap = o->capture ? o->capture : 65536;
  int rc;

  if (!sp)
    return UV_ENOMEM;
  sp->out.head = malloc(cap);
  sp->err.head = malloc(cap);
  if (!sp->out.head || !sp->err.head) {
    free(sp->out.head);
    free(sp->err.head);
    free(sp);
    return UV_ENOMEM;
  }
  sp->out.cap = sp->err.cap = cap;
  sp->out.sp = sp->err.sp = sp;
  sp->cb = cb;
  sp->data = data;
  sp->kill_after_ms = o->kill_after_ms ? o->kill_after_ms : DEFAULT_KILL_MS;
  uv_pipe_init(loop, &sp->out.pipe, 0);
  uv_pipe_init(loop, &sp->err.pipe, 0);
  sp->out.pipe.data = &sp->out;
  sp->err.pipe.data = &sp->err;
  uv_timer_init(loop, &sp->timer);
  sp->timer.data = sp;
  sp->proc.data = sp;
  memset(&po, 0, sizeof(po));
  /* stdin: UV_IGNORE is /dev/null in the child. */
  io[0].flags = UV_IGNORE;
  io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  io[1].data.stream = (uv_stream_t *)&sp->out.pipe;
  io[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  io[2].data.stream = (uv_stream_t *)&sp->err.pipe;
  po.file = o->argv[0];
  po.args = (char **)o->argv;
  po.cwd = o->cwd;
  po.env = (char **)o->env;
  po.stdio = io;
  po.stdio_count = 3;
  po.exit_cb = on_exit_cb;
  /* A session and so a process group of its own (setsid in the child). */
  po.flags = UV_PROCESS_DETACHED;
#ifdef __linux__
  /* What the subject forks becomes ours when it dies, not init's, so that
   * we reap it: no zombie outlives the case. */
  (void)prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
#endif
  sp->start_ns = uv_hrtime();
  rc = uv_spawn(loop, &sp->proc, &po);
  if (rc < 0) {
    /* The callback never runs; the memory goes with the last close. */
    sp->cb = NULL;
    sp->handles = 4;
    uv_close((uv_handle_t *)&sp->out.pipe, on_closed);
    uv_close((uv_handle_t *)&sp->err.pipe, on_closed);
    uv_close((uv_handle_t *)&sp->timer, on_closed);
    uv_close((uv_handle_t *)&sp->proc, on_closed);
    return rc;
  }
  sp->pid = sp->proc.pid;
  live_add(sp->pid);
  sp->handles = 4;
  if (o->handle)
    *o->handle = sp;
  sp->out.open = sp->err.open = 1;
  uv_read_start((uv_stream_t *)&sp->out.pipe, alloc_cb, read_cb);
  uv_read_start((uv_stream_t *)&sp->err.pipe, alloc_cb, read_cb);
  if (o->term_after_ms)
    uv_timer_start(&sp->timer, on_timer, o->term_after_ms, 0);
  return 0;
}

void mp_spawn_stop(struct mp_spawn *sp)
{
  if (!sp || sp->exited || sp->termed)
    return;
  uv_timer_stop(&sp->timer);
  on_timer(&sp->timer);
}
