#include "harness/bench/bench_servers.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fake_servers/fake.h"
#include "fake_servers/mailstore.h"
#include "probes/probe.h"
#include "wire/errors.h"

double mp_bench_thread_cpu_s(void)
{
  struct timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
    return 0;
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void host_publish(struct mp_bench_host *h)
{
  uint32_t n = 0;
  for (size_t i = 0; i < h->ncfgs; i++)
    if (h->srv[i])
      n += mp_fake_sessions(h->srv[i]);
  atomic_store(&h->sh->sessions, n);
}

static void host_on_tick(uv_timer_t *t)
{
  host_publish(t->data);
}

static void host_server_stopped(void *data)
{
  struct mp_bench_host *h = data;
  h->stopping--;
}

static void host_on_ctl(uv_poll_t *p, int status, int events)
{
  struct mp_bench_host *h = p->data;
  (void)status;
  (void)events;
  uv_poll_stop(p);
  uv_close((uv_handle_t *)p, NULL);
  uv_timer_stop(&h->tick);
  host_publish(h);
  uv_close((uv_handle_t *)&h->tick, NULL);
  for (size_t i = 0; i < h->ncfgs; i++) {
    if (!h->srv[i])
      continue;
    h->stopping++;
    mp_fake_stop(h->srv[i], host_server_stopped, h);
    h->srv[i] = NULL;
  }
}

/* The server side: start, say ready, serve until told to stop. */
static void host_main(struct mp_bench_host *h)
{
  char c = 'R';
  int rc = uv_loop_init(&h->loop);
  if (rc < 0) {
    snprintf(h->sh->err, sizeof(h->sh->err), "uv_loop_init: %s",
             uv_strerror(rc));
    atomic_store(&h->sh->failed, 1);
    c = 'E';
    (void)!write(h->ready[1], &c, 1);
    return;
  }
  h->store = mp_mailstore_new();
  struct mp_fake_env env = {.ca = h->ca, .store = h->store};
  for (size_t i = 0; i < h->ncfgs && c == 'R'; i++) {
    rc = mp_fake_start(&h->loop, &h->cfgs[i], &env, h->addrs[i], 0, &h->srv[i]);
    if (rc < 0) {
      h->srv[i] = NULL;
      snprintf(h->sh->err, sizeof(h->sh->err),
               "the %s server did not start: %s",
               h->cfgs[i].proto == MP_FAKE_IMAP   ? "IMAP"
               : h->cfgs[i].proto == MP_FAKE_POP3 ? "POP3"
                                                  : "SMTP",
               rc == MP_E_PROTOCOL_ERROR
                   ? "that protocol is not built in this version"
                   : mp_err_message(rc));
      c = 'E';
      break;
    }
    h->sh->ports[i] = mp_fake_port(h->srv[i]);
  }
  uv_poll_init(&h->loop, &h->ctl_poll, h->ctl[0]);
  h->ctl_poll.data = h;
  uv_timer_init(&h->loop, &h->tick);
  h->tick.data = h;
  if (c == 'R') {
    uv_poll_start(&h->ctl_poll, UV_READABLE | UV_DISCONNECT, host_on_ctl);
    uv_timer_start(&h->tick, host_on_tick, 5, 5);
  } else {
    atomic_store(&h->sh->failed, 1);
    /* Stop what did start, right away. */
    host_on_ctl(&h->ctl_poll, 0, 0);
  }
  h->sh->cpu_ready_s = mp_bench_thread_cpu_s();
  (void)!write(h->ready[1], &c, 1);
  uv_run(&h->loop, UV_RUN_DEFAULT);
  uv_loop_close(&h->loop);
  mp_mailstore_free(h->store);
  h->store = NULL;
  h->sh->cpu_end_s = mp_bench_thread_cpu_s();
}

static void *host_thread(void *arg)
{
  host_main(arg);
  return NULL;
}

static void close_fd(int *fd)
{
  if (*fd >= 0)
    close(*fd);
  *fd = -1;
}

int mp_bench_host_start(struct mp_bench_host *h, char *err, size_t errlen)
{
  h->ready[0] = h->ready[1] = h->ctl[0] = h->ctl[1] = -1;
  if (pipe(h->ready) < 0 || pipe(h->ctl) < 0) {
    snprintf(err, errlen, "pipe: %s", strerror(errno));
    return -1;
  }
  if (h->mode == MP_BENCH_SERVERS_PROCESS) {
    fflush(NULL);
    h->pid = fork();
    if (h->pid < 0) {
      snprintf(err, errlen, "fork: %s", strerror(errno));
      return -1;
    }
    if (h->pid == 0) {
      close(h->ready[0]);
      close(h->ctl[1]);
      host_main(h);
      mp_probe_cleanup();
      _exit(0);
    }
    close_fd(&h->ready[1]);
    close_fd(&h->ctl[0]);
  } else if (pthread_create(&h->thread, NULL, host_thread, h) != 0) {
    snprintf(err, errlen, "could not start the server thread");
    return -1;
  }
  h->running = 1;
  char c = 0;
  ssize_t n;
  do
    n = read(h->ready[0], &c, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1 || c != 'R') {
    snprintf(err, errlen, "%s",
             h->sh->err[0] ? h->sh->err : "the servers did not start");
    return -1;
  }
  return 0;
}

void mp_bench_host_stop(struct mp_bench_host *h)
{
  if (h->running) {
    char c = 'Q';
    (void)!write(h->ctl[1], &c, 1);
    if (h->mode == MP_BENCH_SERVERS_PROCESS) {
      int status;
      while (waitpid(h->pid, &status, 0) < 0 && errno == EINTR)
        ;
    } else {
      pthread_join(h->thread, NULL);
    }
    h->running = 0;
  }
  close_fd(&h->ready[0]);
  close_fd(&h->ready[1]);
  close_fd(&h->ctl[0]);
  close_fd(&h->ctl[1]);
}
