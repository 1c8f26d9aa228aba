/* The server side of `mailprobe bench`: the fake servers on a loop of
 * their own, in a second thread or a second process, so that the figures
 * measure the probe side. The two sides share a small MAP_SHARED block
 * (ports, sessions so far, CPU used) and two pipes (ready, stop).
 * Private to harness/bench/. */
#ifndef MP_BENCH_SERVERS_H
#define MP_BENCH_SERVERS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "harness/bench/bench.h"

struct mp_ca;
struct mp_fake_config;
struct mp_fake_server;
struct mp_mailstore;

/* Copies of the server, one per address 127.0.0.N. */
#define MP_BENCH_MAX_SERVERS 8

/* What both sides see (a MAP_SHARED mapping). */
struct mp_bench_shared {
  _Atomic uint32_t sessions; /* accepted by all servers so far */
  _Atomic int failed;        /* a server did not start (err says why) */
  uint16_t ports[MP_BENCH_MAX_SERVERS];
  double cpu_ready_s; /* the server side's CPU when ready ... */
  double cpu_end_s;   /* ... and when stopped */
  char err[256];
};

struct mp_bench_host {
  enum mp_bench_servers mode;
  const struct mp_fake_config *cfgs;
  size_t ncfgs;
  char addrs[MP_BENCH_MAX_SERVERS][16]; /* where each listens: 127.0.0.N */
  struct mp_ca *ca;
  struct mp_bench_shared *sh;
  int ready[2]; /* the server side writes one byte when listening */
  int ctl[2];   /* the probe side writes one byte to stop it */
  pthread_t thread;
  pid_t pid;
  int running;
  /* The server side's own state. */
  uv_loop_t loop;
  uv_poll_t ctl_poll;
  uv_timer_t tick;
  struct mp_mailstore *store;
  struct mp_fake_server *srv[MP_BENCH_MAX_SERVERS];
  size_t stopping;
};

/* Starts the server side and waits until it listens. 0 or -1 (err). */
int mp_bench_host_start(struct mp_bench_host *h, char *err, size_t errlen);

/* Stops the server side and waits for it. */
void mp_bench_host_stop(struct mp_bench_host *h);

/* The CPU time of the calling thread in seconds (0 if unknown). */
double mp_bench_thread_cpu_s(void);

#endif
