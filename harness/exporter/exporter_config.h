/* `mailprobe exporter`'s config file: modules: (docs/modules.md) and the
 * exporter: section (docs/prometheus.md): caps on probes in flight, the
 * scrape-timeout margin, and the allow list of targets (CIDRs and host
 * globs). Reference counted, so a reload swaps it while probes in flight
 * keep the one they started with. Pure: no event loop. */
#ifndef MP_EXPORTER_CONFIG_H
#define MP_EXPORTER_CONFIG_H

#include <stddef.h>
#include <stdint.h>

struct mp_config;

/* One allow-list entry: an address block, or a glob over host names. */
struct mp_allow {
  int family;             /* AF_INET or AF_INET6 for a block, 0: glob */
  unsigned char addr[16]; /* the block's address */
  int bits;               /* its prefix length */
  char *glob;             /* "*.example.com" (case-insensitive) */
};

struct mp_exporter_config {
  struct mp_config *cfg;         /* the modules */
  unsigned max_in_flight;        /* probes at once (default 1000) */
  unsigned max_in_flight_module; /* per module (default: max_in_flight) */
  uint64_t timeout_margin_ms;    /* taken off the scrape timeout (500) */
  uint64_t default_timeout_ms;   /* without a scrape timeout header and
                                    without a module timeout (120 s) */
  struct mp_allow *allow;        /* empty: every target is allowed */
  size_t nallow;
  int refs;
};

/* Loads path. 0 and *out (one reference), or a negative code with
 * "file:line:column: message" in err. */
int mp_exporter_config_load(const char *path, struct mp_exporter_config **out,
                            char *err, size_t errlen);

/* The same from memory, for tests. */
int mp_exporter_config_parse(const char *buf, size_t len, const char *name,
                             struct mp_exporter_config **out, char *err,
                             size_t errlen);

/* References: the last unref frees. NULL is fine. */
void mp_exporter_config_ref(struct mp_exporter_config *c);
void mp_exporter_config_unref(struct mp_exporter_config *c);

/* 1 if host (a name or an IP literal, without brackets) may be probed:
 * an IP literal inside one of the blocks, or a name (or literal) that
 * one of the globs matches; with no allow list, every host. A name is
 * never resolved to be checked against a block. */
int mp_exporter_allowed(const struct mp_exporter_config *c, const char *host);

#endif
