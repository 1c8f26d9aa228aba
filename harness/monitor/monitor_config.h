/* The config file of `mailprobe monitor` (docs/monitor.md): modules: in the
 * exporter's module format (harness/config/module.h: one format, one
 * parser), monitor: with the program's settings (history file, state
 * file, tests in flight) and monitors:, a list of named monitors, each a
 * check (a module by name or in-line), a target, ipMonitor's timing and
 * its actions, into the engine's monitor definitions. A mistake is an
 * error naming file:line:column and the monitor, and nothing starts. */
#ifndef MP_MONITOR_CONFIG_H
#define MP_MONITOR_CONFIG_H

#include <stddef.h>

#include "harness/monitor/engine.h"

struct mp_config;
struct mp_mon_item;

struct mp_monitor_file {
  struct mp_config *cfg;   /* modules: */
  struct mp_mon_def *defs; /* one per monitor, in the order written */
  size_t n;
  char *history;             /* monitor.history, or NULL */
  char *state;               /* monitor.state_file, or NULL */
  unsigned max_in_flight;    /* monitor.max_in_flight; 0: the default */
  struct mp_mon_item *items; /* what defs point into */
  size_t nalloc;             /* items allocated */
};

/* Loads path. 0, or -1 with "file:line:column: monitor 'NAME': ..." in
 * err. */
int mp_monitor_file_load(const char *path, struct mp_monitor_file *out,
                         char *err, size_t len);

/* The same from memory (name as in messages). */
int mp_monitor_file_parse(const char *buf, size_t blen, const char *name,
                          struct mp_monitor_file *out, char *err, size_t len);

void mp_monitor_file_free(struct mp_monitor_file *f);

#endif
