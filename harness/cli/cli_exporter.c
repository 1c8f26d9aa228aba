/* `mailprobe exporter --config FILE`: the Prometheus multi-target
 * exporter (harness/exporter/) on one loop until SIGINT or SIGTERM;
 * SIGHUP reloads the config. */
#include "harness/cli/cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "harness/cli/args.h"
#include "harness/config/module.h"
#include "harness/config/web_config.h"
#include "harness/exporter/exporter.h"
#include "harness/exporter/exporter_config.h"
#include "probes/probe.h"

static const char exporter_usage[] =
    "usage: mailprobe exporter --config FILE [--listen ADDR:PORT]\n"
    "                          [--web.config.file FILE] [--config.check]\n"
    "\n"
    "A Prometheus multi-target exporter: /probe?module=NAME&target=HOST:PORT\n"
    "runs a module of the config file against the target and answers its\n"
    "metrics (blackbox_exporter's convention; docs/prometheus.md), /metrics\n"
    "the exporter's own, /-/healthy, /-/reload (POST; SIGHUP does the same)\n"
    "and an index page at /. A reload with a broken config keeps the old\n"
    "one. Once listening it prints \"listening on ADDR:PORT\" on stderr.\n"
    "\n"
    "options:\n"
    "  --config FILE           modules: and exporter: (docs/modules.md,\n"
    "                          docs/prometheus.md)\n"
    "  --listen ADDR:PORT      where to listen (default 127.0.0.1:9125;\n"
    "                          port 0: any free port)\n"
    "  --web.config.file FILE  TLS and basic or bearer auth, in Prometheus'\n"
    "                          web config format\n"
    "  --http-timeout DUR      slow HTTP clients are cut after this "
    "(default 10s)\n"
    "  --config.check          check the config file(s) and exit (0 valid,\n"
    "                          3 not)\n"
    "  -h, --help              this help\n"
    "\n"
    "examples:\n"
    "  mailprobe exporter --config docs/exporter.yaml --config.check\n"
    "  mailprobe exporter --config docs/exporter.yaml --listen "
    "127.0.0.1:9125\n"
    "  curl 'http://127.0.0.1:9125/probe?module=smtp_banner&target="
    "127.0.0.1:25'\n";

enum { OPT_CONFIG = 1, OPT_LISTEN, OPT_WEB, OPT_TIMEOUT, OPT_CHECK, OPT_HELP };

static const struct mp_opt exporter_opts[] = {
    {"config", 0, 1, OPT_CONFIG},       {"listen", 0, 1, OPT_LISTEN},
    {"web.config.file", 0, 1, OPT_WEB}, {"http-timeout", 0, 1, OPT_TIMEOUT},
    {"config.check", 0, 0, OPT_CHECK},  {"help", 'h', 0, OPT_HELP},
};

struct run {
  uv_loop_t loop;
  uv_signal_t sighup, sigint, sigterm;
  uv_timer_t grace;
  struct mp_exporter *e;
  int stopping;
};

/* How long a stop waits for probes in flight before leaving them. */
#define GRACE_MS 5000

static void on_stopped(void *data)
{
  struct run *r = data;
  r->e = NULL;
  uv_close((uv_handle_t *)&r->sighup, NULL);
  uv_close((uv_handle_t *)&r->sigint, NULL);
  uv_close((uv_handle_t *)&r->sigterm, NULL);
  uv_close((uv_handle_t *)&r->grace, NULL);
}

static void on_grace(uv_timer_t *t)
{
  struct run *r = t->data;
  fprintf(stderr,
          "mailprobe exporter: %u probes still running after %d s; leaving "
          "them\n",
          r->e ? mp_exporter_in_flight(r->e) : 0, GRACE_MS / 1000);
  fflush(stderr);
  _exit(0);
}

static void on_signal(uv_signal_t *h, int signum)
{
  struct run *r = h->data;
  char err[1024];
  if (signum == SIGHUP) {
    if (r->e != NULL && !r->stopping)
      mp_exporter_reload(r->e, err, sizeof err);
    return;
  }
  if (r->stopping)
    _exit(0); /* a second signal: now */
  r->stopping = 1;
  fprintf(stderr, "mailprobe exporter: stopping\n");
  uv_timer_start(&r->grace, on_grace, GRACE_MS, 0);
  mp_exporter_stop(r->e, on_stopped, r);
}

static int usage_error(const char *msg)
{
  fprintf(stderr, "mailprobe exporter: %s\nTry 'mailprobe exporter --help'.\n",
          msg);
  return MP_EXIT_USAGE;
}

/* --config.check: loads the files as the exporter would. */
static int check_only(const char *config, const char *web)
{
  struct mp_exporter_config *c;
  struct mp_web_config *w = NULL;
  char err[1024];
  if (mp_exporter_config_load(config, &c, err, sizeof err) < 0) {
    fprintf(stderr, "mailprobe exporter: %s\n", err);
    return MP_EXIT_USAGE;
  }
  printf("%s: %zu modules, OK\n", config, c->cfg->nmodules);
  mp_exporter_config_unref(c);
  if (web != NULL) {
    if (mp_web_config_load(web, &w, err, sizeof err) < 0) {
      fprintf(stderr, "mailprobe exporter: %s\n", err);
      return MP_EXIT_USAGE;
    }
    printf("%s: OK\n", web);
    mp_web_config_free(w);
  }
  return 0;
}

int mp_cli_exporter(int argc, char **argv)
{
  struct mp_args a;
  struct mp_exporter_opts o = {NULL, "127.0.0.1:9125", NULL, 0};
  struct mp_web_config *web = NULL;
  const char *val, *webfile = NULL;
  struct run r;
  char err[1024];
  int id, check = 0, rc;
  uint64_t us;

  mp_args_init(&a, argc, argv);
  while ((id = mp_args_next(&a, exporter_opts,
                            sizeof exporter_opts / sizeof exporter_opts[0],
                            &val, err, sizeof err)) != MP_ARG_END) {
    switch (id) {
    case OPT_CONFIG:
      o.config_path = val;
      break;
    case OPT_LISTEN:
      o.listen = val;
      break;
    case OPT_WEB:
      webfile = val;
      break;
    case OPT_TIMEOUT:
      if (mp_args_duration_positive("http-timeout", val, &us, err, sizeof err) <
          0)
        return usage_error(err);
      o.http_timeout_ms = (us + 999) / 1000;
      break;
    case OPT_CHECK:
      check = 1;
      break;
    case OPT_HELP:
      fputs(exporter_usage, stdout);
      return 0;
    case MP_ARG_POSITIONAL:
      snprintf(err, sizeof err, "unexpected argument '%s'", val);
      return usage_error(err);
    default:
      return usage_error(err);
    }
  }
  if (o.config_path == NULL)
    return usage_error("--config FILE is required");
  if (check)
    return check_only(o.config_path, webfile);
  if (webfile != NULL && mp_web_config_load(webfile, &web, err, sizeof err) < 0)
    return usage_error(err);
  o.web = web;
  memset(&r, 0, sizeof r);
  uv_loop_init(&r.loop);
  rc = mp_exporter_start(&r.loop, &o, &r.e, err, sizeof err);
  mp_web_config_free(web);
  if (rc < 0) {
    fprintf(stderr, "mailprobe exporter: %s\n", err);
    uv_run(&r.loop, UV_RUN_DEFAULT);
    uv_loop_close(&r.loop);
    return MP_EXIT_USAGE;
  }
  uv_signal_init(&r.loop, &r.sighup);
  uv_signal_init(&r.loop, &r.sigint);
  uv_signal_init(&r.loop, &r.sigterm);
  uv_timer_init(&r.loop, &r.grace);
  r.sighup.data = r.sigint.data = r.sigterm.data = r.grace.data = &r;
  uv_signal_start(&r.sighup, on_signal, SIGHUP);
  uv_signal_start(&r.sigint, on_signal, SIGINT);
  uv_signal_start(&r.sigterm, on_signal, SIGTERM);
  fprintf(stderr, "mailprobe exporter: listening on %.*s:%u\n",
          (int)(strrchr(o.listen, ':') - o.listen), o.listen,
          mp_exporter_port(r.e));
  fflush(stderr);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  rc = uv_loop_close(&r.loop);
  mp_probe_cleanup();
  return rc == 0 ? 0 : 1;
}
