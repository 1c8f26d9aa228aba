/* `mailprobe exporter`'s engine: a Prometheus multi-target exporter on
 * the caller's loop. /probe?module=M&target=T runs module M against T
 * (blackbox_exporter's convention) and answers its metrics; /metrics is
 * the exporter's own; /-/healthy, /-/reload (POST) and an HTML index at
 * /. Probes run on the same loop as the HTTP server (harness/http/),
 * under a cap in flight and per module; a round trip never runs twice at
 * once for the same module and target, and a scrape that comes while
 * one runs gets the last result, marked stale. A reload swaps the
 * config for new probes; probes in flight finish with the one they
 * started with; a broken config keeps the old one. docs/prometheus.md
 * is the user's side. */
#ifndef MP_EXPORTER_H
#define MP_EXPORTER_H

#include <stddef.h>
#include <stdint.h>

struct uv_loop_s;
struct mp_exporter;
struct mp_web_config;

struct mp_exporter_opts {
  const char *config_path;         /* the config file (reloaded from it) */
  const char *listen;              /* "127.0.0.1:9125" */
  const struct mp_web_config *web; /* TLS and auth of the HTTP side, or
                                      NULL */
  uint64_t http_timeout_ms;        /* slow HTTP clients; 0: 10 s */
};

/* Loads the config and starts listening. 0 and *out, or a negative code
 * with a message in err (the config's file:line:column error, or the
 * listen address's). */
int mp_exporter_start(struct uv_loop_s *loop, const struct mp_exporter_opts *o,
                      struct mp_exporter **out, char *err, size_t errlen);

/* Reloads the config file: 0, or a negative code with the reason in err
 * and the old config kept (the reload metric says which). */
int mp_exporter_reload(struct mp_exporter *e, char *err, size_t errlen);

/* The HTTP port (the kernel's pick for port 0). */
uint16_t mp_exporter_port(const struct mp_exporter *e);

/* Probes running now. */
unsigned mp_exporter_in_flight(const struct mp_exporter *e);

/* Stops taking requests; done runs once the HTTP side closed and every
 * probe ended (probes end within their timeouts); then e is freed. */
void mp_exporter_stop(struct mp_exporter *e, void (*done)(void *data),
                      void *data);

#endif
