/* Running one action (harness/monitor/action.h). The child is spawned
 * detached, which makes it the leader of a new session and process group
 * (setsid), so the time limit can signal the whole group: a shell and
 * everything it started. The action is over when the leader has exited and
 * both output pipes reached their end; past the time limit the group gets
 * TERM, after the grace KILL, and after one more grace the pipes are closed
 * whoever still holds them (a grandchild that left the group). */
#include "harness/monitor/action.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

enum stage { ST_RUNNING = 0, ST_TERM_SENT, ST_KILL_SENT, ST_GIVEN_UP };

struct capture {
  uv_pipe_t pipe;
  char *buf;
  size_t len;
  int cut, eof, open;
};

struct act {
  uv_loop_t *loop;
  uv_process_t proc;
  uv_pipe_t in;
  struct capture out, err;
  uv_timer_t timer;
  uv_write_t wr;
  char *input;
  size_t input_len;
  int in_open;
  int handles; /* handles not yet closed, plus one until finish() */
  int spawned, exited, done;
  enum stage stage;
  uint64_t grace_ms, start_ns;
  struct mp_action_end end;
  mp_action_cb cb;
  void *data;
};

static void on_closed(uv_handle_t *h)
{
  struct act *a = h->data;

  if (--a->handles > 0)
    return;
  a->end.out = a->out.buf;
  a->end.out_len = a->out.len;
  a->end.out_cut = a->out.cut;
  a->end.err = a->err.buf;
  a->end.err_len = a->err.len;
  a->end.err_cut = a->err.cut;
  a->end.elapsed_us = (uv_hrtime() - a->start_ns) / 1000;
  a->cb(&a->end, a->data);
  free(a->out.buf);
  free(a->err.buf);
  free(a->input);
  free(a);
}

static void close_one(struct act *a, uv_handle_t *h)
{
  if (uv_is_closing(h))
    return;
  a->handles++;
  uv_close(h, on_closed);
}

/* Closes everything; the last close callback reports. */
static void finish(struct act *a)
{
  if (a->done)
    return;
  a->done = 1;
  uv_timer_stop(&a->timer);
  close_one(a, (uv_handle_t *)&a->timer);
  close_one(a, (uv_handle_t *)&a->proc);
  if (a->in_open) {
    a->in_open = 0;
    close_one(a, (uv_handle_t *)&a->in);
  }
  close_one(a, (uv_handle_t *)&a->out.pipe);
  close_one(a, (uv_handle_t *)&a->err.pipe);
  on_closed((uv_handle_t *)&a->timer); /* drops the life hold */
}

static void maybe_finish(struct act *a)
{
  if (a->exited && a->out.eof && a->err.eof)
    finish(a);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  static char scratch[16384]; /* one loop thread: read and copied at once */
  (void)h;
  (void)suggested;
  *buf = uv_buf_init(scratch, sizeof(scratch));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
  struct act *a = s->data;
  struct capture *c = (uv_pipe_t *)s == &a->out.pipe ? &a->out : &a->err;

  if (n < 0) {
    uv_read_stop(s);
    c->eof = 1;
    maybe_finish(a);
    return;
  }
  size_t room = MP_ACTION_OUTPUT_CAP - c->len;
  size_t take = (size_t)n < room ? (size_t)n : room;
  if ((size_t)n > take)
    c->cut = 1;
  if (take) {
    memcpy(c->buf + c->len, buf->base, take);
    c->len += take;
    c->buf[c->len] = '\0';
  }
}

static void on_exit_cb(uv_process_t *p, int64_t status, int term_signal)
{
  struct act *a = p->data;

  a->exited = 1;
  a->end.status = status;
  a->end.term_signal = term_signal;
  maybe_finish(a);
}

static void on_timer(uv_timer_t *t)
{
  struct act *a = t->data;

  switch (a->stage) {
  case ST_RUNNING:
    /* The time limit: the whole group, not only the leader. */
    a->end.timed_out = 1;
    a->stage = ST_TERM_SENT;
    uv_kill(-a->end.pid, SIGTERM);
    uv_timer_start(&a->timer, on_timer, a->grace_ms, 0);
    break;
  case ST_TERM_SENT:
    a->stage = ST_KILL_SENT;
    uv_kill(-a->end.pid, SIGKILL);
    uv_timer_start(&a->timer, on_timer, a->grace_ms, 0);
    break;
  default:
    /* Someone outside the group holds the pipes: stop waiting. */
    a->stage = ST_GIVEN_UP;
    finish(a);
    break;
  }
}

static void on_written(uv_write_t *w, int status)
{
  struct act *a = w->data;
  (void)status; /* a child that does not read its stdin is fine */
  if (a->in_open) {
    a->in_open = 0;
    close_one(a, (uv_handle_t *)&a->in);
  }
}

int mp_action_start(uv_loop_t *loop, const struct mp_action_run *run,
                    mp_action_cb cb, void *data)
{
  struct act *a = calloc(1, sizeof(*a));
  if (!a)
    return UV_ENOMEM;
  a->out.buf = malloc(MP_ACTION_OUTPUT_CAP + 1);
  a->err.buf = malloc(MP_ACTION_OUTPUT_CAP + 1);
  if (run->input) {
    a->input_len = strlen(run->input);
    a->input = malloc(a->input_len + 1);
  }
  if (!a->out.buf || !a->err.buf || (run->input && !a->input)) {
    free(a->out.buf);
    free(a->err.buf);
    free(a->input);
    free(a);
    return UV_ENOMEM;
  }
  if (a->input)
    memcpy(a->input, run->input, a->input_len + 1);
  a->out.buf[0] = a->err.buf[0] = '\0';
  a->loop = loop;
  a->cb = cb;
  a->data = data;
  a->grace_ms = run->grace_ms ? run->grace_ms : MP_ACTION_KILL_GRACE_MS;
  a->start_ns = uv_hrtime();
  uv_pipe_init(loop, &a->in, 0);
  uv_pipe_init(loop, &a->out.pipe, 0);
  uv_pipe_init(loop, &a->err.pipe, 0);
  uv_timer_init(loop, &a->timer);
  a->in.data = a->out.pipe.data = a->err.pipe.data = a->timer.data = a;
  a->proc.data = a->wr.data = a;
  a->in_open = 1;
  a->handles = 1; /* the life hold, dropped by finish() */

  uv_stdio_container_t stdio[3];
  stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
  stdio[0].data.stream = (uv_stream_t *)&a->in;
  stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[1].data.stream = (uv_stream_t *)&a->out.pipe;
  stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[2].data.stream = (uv_stream_t *)&a->err.pipe;
  uv_process_options_t po;
  memset(&po, 0, sizeof(po));
  po.exit_cb = on_exit_cb;
  po.file = run->argv[0];
  po.args = (char **)run->argv;
  po.env = (char **)run->env;
  po.flags = UV_PROCESS_DETACHED; /* setsid: a group of its own */
  po.stdio = stdio;
  po.stdio_count = 3;

  int rc = uv_spawn(loop, &a->proc, &po);
  if (rc < 0) {
    /* The handles close and cb reports the spawn error from the loop. */
    a->end.spawn_error = rc;
    a->exited = a->out.eof = a->err.eof = 1;
    finish(a);
    return 0;
  }
  a->spawned = 1;
  a->end.pid = a->proc.pid;
  uv_read_start((uv_stream_t *)&a->out.pipe, on_alloc, on_read);
  uv_read_start((uv_stream_t *)&a->err.pipe, on_alloc, on_read);
  uv_timer_start(
      &a->timer, on_timer,
      run->timeout_ms ? run->timeout_ms : MP_ACTION_DEFAULT_TIMEOUT_MS, 0);
  uv_buf_t b =
      uv_buf_init(a->input ? a->input : (char *)"", (unsigned)a->input_len);
  if (!a->input_len ||
      uv_write(&a->wr, (uv_stream_t *)&a->in, &b, 1, on_written) < 0)
    on_written(&a->wr, 0);
  return 0;
}

int mp_action_failed(const struct mp_action_end *end)
{
  return end->spawn_error || end->timed_out || end->term_signal ||
         end->status != 0;
}
