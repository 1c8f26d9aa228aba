/* A subject's service (blackbox_exporter): started once per run before
 * the first case, with its config file written from the profile's
 * template; ready when its port accepts a connection; stopped (TERM to
 * its group, then KILL) when the last case is done. Cases wait for it;
 * when it does not come up within service.start, every case is ERROR
 * with what it printed. */
#include "harness/run/job.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness/subject/argv.h"
#include "harness/subject/profile.h"
#include "harness/subject/spawn.h"

#define SERVICE_POLL_MS 50

/* A free port on 127.0.0.1 (the kernel's pick, released for the service
 * to take); 0 when none. */
static unsigned free_port(void)
{
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  unsigned port = 0;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (fd < 0)
    return 0;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

static void service_ready(struct run *R, int ok, const char *why)
{
  if (R->svc_state != SVC_STARTING)
    return;
  R->svc_state = ok ? SVC_UP : SVC_FAILED;
  if (!ok && why != R->svc_error)
    snprintf(R->svc_error, sizeof(R->svc_error), "%s", why);
  uv_timer_stop(&R->svc_timer);
  mp_run_pump(R);
}

static void on_service_end(const struct mp_spawn_end *end, void *data)
{
  struct run *R = data;
  char why[sizeof(R->svc_error)];

  R->service = NULL;
  if (R->svc_state == SVC_STARTING) {
    snprintf(why, sizeof(why), "the service exited (status %lld): %.400s",
             (long long)end->exit_status, end->err.text ? end->err.text : "");
    service_ready(R, 0, why);
  }
  R->svc_state = SVC_DOWN;
  uv_close((uv_handle_t *)&R->svc_timer, NULL);
}

static void on_poll(uv_timer_t *t);

static void on_probe_closed(uv_handle_t *h)
{
  struct run *R = h->data;

  R->svc_probing = 0;
  if (R->svc_state == SVC_STARTING && R->svc_connected)
    service_ready(R, 1, NULL);
  else if (R->svc_state == SVC_STARTING)
    uv_timer_start(&R->svc_timer, on_poll, SERVICE_POLL_MS, 0);
}

static void on_connect(uv_connect_t *req, int status)
{
  struct run *R = req->data;

  R->svc_connected = status == 0;
  uv_close((uv_handle_t *)&R->svc_probe, on_probe_closed);
}

static void try_connect(struct run *R)
{
  struct sockaddr_in a;

  if (R->svc_state != SVC_STARTING || R->svc_probing)
    return;
  if (uv_hrtime() / 1000000 > R->svc_deadline_ms) {
    char why[128];
    snprintf(why, sizeof(why),
             "the service did not listen on 127.0.0.1:%u within %llu ms",
             R->svc_port,
             (unsigned long long)R->opts.subject->service->start_ms);
    service_ready(R, 0, why);
    mp_spawn_stop(R->service);
    return;
  }
  uv_ip4_addr("127.0.0.1", (int)R->svc_port, &a);
  uv_tcp_init(&R->loop, &R->svc_probe);
  R->svc_probe.data = R;
  R->svc_req.data = R;
  R->svc_probing = 1;
  R->svc_connected = 0;
  if (uv_tcp_connect(&R->svc_req, &R->svc_probe, (struct sockaddr *)&a,
                     on_connect) < 0)
    uv_close((uv_handle_t *)&R->svc_probe, on_probe_closed);
}

/* The timer's callback has the timer's type; the run is its data. */
static void on_poll(uv_timer_t *t)
{
  try_connect(t->data);
}

int mp_run_service_start(struct run *R)
{
  const struct mp_subject_service *sv = R->opts.subject->service;
  struct mp_subject_target t;
  struct mp_spawn_opts so;
  char cfg[512], url[64], ca[512], port[16];
  char **argv;
  size_t i;
  int rc;

  memset(&t, 0, sizeof(t));
  R->svc_port = free_port();
  snprintf(url, sizeof(url), "http://127.0.0.1:%u", R->svc_port);
  snprintf(port, sizeof(port), "%u", R->svc_port);
  snprintf(cfg, sizeof(cfg), "%s/service.conf", R->subject_dir);
  snprintf(ca, sizeof(ca), "%s/ca.pem", R->subject_dir);
  snprintf(R->svc_url, sizeof(R->svc_url), "%s", url);
  t.host = "127.0.0.1";
  t.cafile = ca;
  t.service = url;
  t.service_port = port;
  t.service_config = cfg;
  t.profile_dir = R->subject_profile_dir;
  uv_timer_init(&R->loop, &R->svc_timer);
  R->svc_timer.data = R;
  R->svc_state = SVC_STARTING;
  if (!R->svc_port || mp_run_write_expanded(R, cfg, sv->config, &t) < 0) {
    service_ready(R, 0, "could not write the service's config file");
    uv_close((uv_handle_t *)&R->svc_timer, NULL);
    R->svc_state = SVC_FAILED;
    return 0;
  }
  argv = calloc(sv->ncommand + 1, sizeof(char *));
  for (i = 0; argv && i < sv->ncommand; i++)
    argv[i] = mp_subject_expand(sv->command[i], &t, 0);
  memset(&so, 0, sizeof(so));
  so.argv = argv;
  so.capture = 16384;
  so.handle = &R->service;
  rc = argv ? mp_spawn_start(&R->loop, &so, on_service_end, R) : UV_ENOMEM;
  for (i = 0; argv && i < sv->ncommand; i++)
    free(argv[i]);
  free(argv);
  if (rc < 0) {
    char why[256];
    snprintf(why, sizeof(why), "could not start the service %s: %s",
             sv->command[0], uv_strerror(rc));
    service_ready(R, 0, why);
    uv_close((uv_handle_t *)&R->svc_timer, NULL);
    R->svc_state = SVC_FAILED;
    return 0;
  }
  R->svc_deadline_ms = uv_hrtime() / 1000000 + sv->start_ms;
  uv_timer_start(&R->svc_timer, on_poll, SERVICE_POLL_MS, 0);
  return 0;
}

void mp_run_service_stop(struct run *R)
{
  if (R->service)
    mp_spawn_stop(R->service);
}
