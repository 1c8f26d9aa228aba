/* Command-line helpers for the subcommands: an option scanner that takes
 * "--name value", "--name=value" and short aliases, and the parsers for what
 * options carry: durations ("10" = seconds, "500ms"), login method lists,
 * host mappings (password files: harness/config/secret.h). URLs and host:port
 * are the probe's (probes/target.h). Pure: no event loop. */
#ifndef MP_ARGS_H
#define MP_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "probes/probe.h"

/* One option a subcommand takes. */
struct mp_opt {
  const char *name; /* long name without "--" */
  char short_name;  /* 'j' for -j, or 0 */
  int has_arg;      /* 1: takes a value */
  int id;           /* returned by mp_args_next (> 0) */
};

#define MP_ARG_END 0
#define MP_ARG_POSITIONAL (-2)
#define MP_ARG_ERROR (-1)

/* The scanner's state over argv[1..argc). */
struct mp_args {
  int argc;
  char **argv;
  int i;
  int dashdash; /* "--" seen: the rest are positional */
};

/* Starts scanning after argv[0] (the subcommand's name). */
void mp_args_init(struct mp_args *a, int argc, char **argv);

/* The next option's id with *val its value (or NULL), MP_ARG_POSITIONAL
 * with *val the argument, MP_ARG_END, or MP_ARG_ERROR with a message in err
 * ("unknown option --x", "--jobs needs a value"). */
int mp_args_next(struct mp_args *a, const struct mp_opt *opts, size_t nopts,
                 const char **val, char *err, size_t errlen);

/* A duration option: "10" is seconds, else with a unit ("500ms", "10s",
 * "5m"), through mp_duration_parse. 0 or -1 with a message naming opt. */
int mp_args_duration(const char *opt, const char *text, uint64_t *us, char *err,
                     size_t errlen);

/* The same, and 0 is refused ("--timeout: must be more than 0"). */
int mp_args_duration_positive(const char *opt, const char *text, uint64_t *us,
                              char *err, size_t errlen);

/* A whole number in [min, max]. 0 or -1 with a message naming opt. */
int mp_args_uint(const char *opt, const char *text, unsigned long min,
                 unsigned long max, unsigned long *out, char *err,
                 size_t errlen);

/* Parses a login method list ("CRAM-MD5,PLAIN" or space separated) into
 * allowed bits for mp_probe_opts.auth, the way case files name them: SASL
 * names (or "AUTH=NAME"), USER and APOP (POP3); for IMAP a bare "LOGIN"
 * is the LOGIN command and "AUTH=LOGIN" the SASL mechanism. 0 or -1 with a
 * message naming an unknown method. */
int mp_auth_list_parse(const char *list, enum mp_proto proto, unsigned *mask,
                       char *err, size_t errlen);

/* Host mappings from repeated --host-map "IP name name..." options. */
struct mp_host_maps {
  struct mp_host_map *v;
  size_t n;
  char **strs; /* what v points into */
  size_t nstrs;
};

/* Adds one "IP name [name...]" mapping (IPv4 or IPv6). 0 or -1. */
int mp_host_map_add(struct mp_host_maps *m, const char *spec, char *err,
                    size_t errlen);

/* Frees what the mappings hold and empties m. */
void mp_host_maps_free(struct mp_host_maps *m);

/* A probe trace callback for --verbose: each transcript line to stderr as
 * "C: ...", "S: ..." or "*: ..." (already masked by the probe). */
void mp_cli_trace(void *data, char dir, const char *line);

#endif
