/* Config files of the long-running commands (`mailprobe exporter`, and the
 * monitor): a top level with `modules:`, each a named probe description
 * in the case format's probe: language (docs/modules.md), plus sections
 * that belong to the program and that it parses itself through a
 * callback. One format, one parser: a module is parsed by the case
 * parser's probe: reader in module mode (no fake servers, target
 * optional, passwords only from a file or the environment), so every
 * mistake is an error at file:line:column. Pure: no event loop. */
#ifndef MP_MODULE_H
#define MP_MODULE_H

#include <stddef.h>

#include "harness/case/case.h"

struct ctx;
struct ynode;

/* One module: what `check` or `roundtrip` would take, without the target
 * (or with a default one). */
struct mp_module {
  char *name;
  /* type (smtp, pop3, imap, roundtrip), opts (the password already read
   * from password_file or password_env), target when given, and for a
   * round trip rt with its send and fetch halves. */
  struct mp_case_probe probe;
  int line, col; /* where the module was written */
};

/* A section of the top level that the program reads: key is its name;
 * parse gets the key's node, its value and data, and reports a mistake
 * with cy_fail (harness/case/case_yaml.h) and -1. */
struct mp_config_section {
  const char *key;
  int (*parse)(struct ctx *x, const struct ynode *kn, const struct ynode *n,
               void *data);
  void *data;
  int required; /* a file without it is an error */
};

struct mp_config {
  char *file;
  struct mp_module *modules; /* in the order written */
  size_t nmodules;
};

#define MP_CONFIG_MAX_BYTES (4 * 1024 * 1024)

/* Parses one module from its YAML node n (kn: its key, for messages;
 * name: its name, copied) into *m (zeroed first), reading its password
 * file or variable. 0, or -1 with the error recorded in x; m is cleared
 * on error. For a program section that holds a module in-line. */
int mp_module_parse(struct ctx *x, const struct ynode *kn,
                    const struct ynode *n, const char *name,
                    struct mp_module *m);

/* Frees what m owns (the password wiped) and zeroes it. */
void mp_module_clear(struct mp_module *m);

/* Parses a config file from memory: modules: and the given sections (any
 * other top-level key is an error). name is the file name in messages
 * and the folder relative paths start from. 0 and *out, or
 * MP_E_PROTOCOL_ERROR (MP_E_NO_RESOURCES when out of memory) with
 * "file:line:column: message" in err. */
int mp_config_parse(const char *buf, size_t len, const char *name,
                    const struct mp_config_section *sections, size_t nsections,
                    struct mp_config **out, char *err, size_t errlen);

/* The same from a file (at most MP_CONFIG_MAX_BYTES). */
int mp_config_load(const char *path, const struct mp_config_section *sections,
                   size_t nsections, struct mp_config **out, char *err,
                   size_t errlen);

/* Frees a config (NULL is fine). */
void mp_config_free(struct mp_config *c);

/* The module named name, or NULL. */
const struct mp_module *mp_config_module(const struct mp_config *c,
                                         const char *name);

#endif
