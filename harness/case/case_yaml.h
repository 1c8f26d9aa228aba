/* The case parser's insides, shared by harness/case*.c and by nothing
 * else: the YAML tree with its marks, the error context, and the typed
 * readers every part of the format uses (cy_ for "case YAML"). The
 * public face is harness/case/case.h. */
#ifndef MP_CASE_YAML_H
#define MP_CASE_YAML_H

#include <stddef.h>
#include <stdint.h>

#include "harness/case/case.h"

#define MAX_DEPTH 32 /* nesting of maps and lists */
#define MAX_MAP 4096 /* pairs in one map (duplicates are O(n^2)) */
#define MAX_DURATION_US 1000000000000000ull /* 10^15 us, about 31 years */
#define SHOW_MAX 60 /* characters of a value quoted in a message */
#define DEFAULT_HOSTNAME "mx.example.test"
#define DEFAULT_MESSAGE_SIZE 1024

enum ykind { Y_SCALAR = 0, Y_SEQ, Y_MAP };

struct ynode {
  enum ykind kind;
  int line, col;       /* 1-based */
  char *str;           /* scalar: the value, NUL-terminated */
  size_t len;          /* scalar: its length (may hold NULs) */
  int plain;           /* scalar: written plain (not quoted, no block) */
  struct ynode **kids; /* list: items; map: key, value, key, value... */
  size_t nkids;
};

struct ctx {
  const char *file;
  const unsigned char *buf;
  size_t len;
  char *err;
  size_t errlen;
  int failed;
  int oom;
  /* Parsing a config module (harness/config/module.h), not a case: no
   * fake servers, target optional, no password (password_file or
   * password_env instead), no runs. */
  int module;
  char show[4][SHOW_MAX * 4 + 8];
  unsigned nshow;
};

struct nv {
  const char *name;
  int val;
};

void cy_ynode_free(struct ynode *n);

/* Records the first error, "file:line:column: sentence"; returns -1. */
__attribute__((format(printf, 4, 5))) int
cy_fail_at(struct ctx *x, int line, int col, const char *fmt, ...);

/* The same at node n's line and column. */
__attribute__((format(printf, 3, 4))) int
cy_fail(struct ctx *x, const struct ynode *n, const char *fmt, ...);

/* Records running out of memory (the first error wins); returns -1. */
int cy_oom(struct ctx *x);

/* A value as it can be quoted in a message: control characters escaped,
 * long values cut (at a character boundary) with "...". Four rotating
 * buffers, so one message can show up to four values. */
const char *cy_show(struct ctx *x, const char *s, size_t len);

/* cy_show of a scalar node's value. */
const char *cy_shown(struct ctx *x, const struct ynode *n);

/* The one document of the file as a tree; *root stays NULL when the file
 * holds no document at all. */
int cy_load_tree(struct ctx *x, struct ynode **root);

/* 1 for a null scalar (~, null or nothing). */
int cy_is_null(const struct ynode *n);

/* 1 if s is a decimal integer, optionally signed. */
int cy_is_int(const char *s);

/* "a map", "a list", "a string"... for messages. */
const char *cy_describe(const struct ynode *n);

/* "key: expected want, got ..." at n; returns -1. */
int cy_wrong_type(struct ctx *x, const char *key, const struct ynode *n,
                  const char *want);

/* The closest of names (NULL-terminated) when it is a likely typo. */
const char *cy_closest(const char *s, const char *const *names);

/* names as "a, b or c" into out. */
void cy_join(char *out, size_t cap, const char *const *names);

/* The value of key in a map, or NULL. */
const struct ynode *cy_get(const struct ynode *map, const char *key);

/* 0 if n is a map, else the error; -1. */
int cy_want_map(struct ctx *x, const char *key, const struct ynode *n);

/* Checks that keys are strings, unique, and (when known is not NULL) one
 * of known; where names the map in the message. */
int cy_check_keys(struct ctx *x, const struct ynode *map, const char *where,
                  const char *const *known);

/* Reads a scalar into a malloc'd string (one line unless multiline). */
int cy_get_str(struct ctx *x, const char *key, const struct ynode *n,
               int multiline, char **out);

/* A map of named entries (servers:, users:, mailboxes:): checks that n
 * is a map whose keys are names (where names it in messages) and returns
 * a zeroed array with room for every entry of size bytes, or NULL after
 * an error. */
void *cy_entries(struct ctx *x, const char *key, const struct ynode *n,
                 const char *where, size_t size);

/* An optional string key of map, read as cy_get_str does; absent, *out
 * becomes a copy of dflt (is left alone when dflt is NULL). 1 read, 0
 * absent, -1 error. */
int cy_opt_str(struct ctx *x, const struct ynode *map, const char *key,
               int multiline, const char *dflt, char **out);

/* An optional key of map naming one of tbl's values, read as cy_get_enum
 * does; absent, *out is dflt. 0 or -1. */
int cy_opt_enum(struct ctx *x, const struct ynode *map, const char *key,
                const struct nv *tbl, int dflt, int *out);

/* A one-line string that valid() accepts, or the error "<what> '<text>'
 * must be <rule>". */
int cy_get_str_valid(struct ctx *x, const char *key, const struct ynode *n,
                     int (*valid)(const char *), const char *what,
                     const char *rule, char **out);

/* Reads an integer in [min, max]. */
int cy_get_int(struct ctx *x, const char *key, const struct ynode *n,
               long long min, long long max, long long *out);

/* A range of numbers from 1 up: "3", "3-8", or "9-" (to the end: *to
 * becomes UINT_MAX); a plain integer is a range of one. */
int cy_get_range(struct ctx *x, const char *key, const struct ynode *n,
                 unsigned *from, unsigned *to);

/* Reads true or false (nothing else). */
int cy_get_bool(struct ctx *x, const char *key, const struct ynode *n,
                int *out);

/* Reads a duration (mp_duration_parse, or a YAML number of seconds). */
int cy_get_dur(struct ctx *x, const char *key, const struct ynode *n,
               uint64_t *us);

/* Durations in config structs are milliseconds: round up, so that a
 * duration that is not zero never becomes zero. */
uint64_t cy_us_to_ms(uint64_t us);

/* A duration in milliseconds, rounded up; positive: 0 is an error. */
int cy_get_dur_ms(struct ctx *x, const char *key, const struct ynode *n,
                  int positive, uint64_t *ms);

/* Reads one of tbl's names (case-insensitive) or lists them. */
int cy_get_enum(struct ctx *x, const char *key, const struct ynode *n,
                const struct nv *tbl, int *out);

/* Appends a copy of s (len bytes) to a string vector. */
int cy_strv_push(struct ctx *x, char ***v, size_t *n, const char *s,
                 size_t len);

/* A list of one-line strings; a single string counts as a list of one
 * when one_ok. */
int cy_get_strv(struct ctx *x, const char *key, const struct ynode *n,
                int one_ok, char ***v, size_t *nv);

/* A list of mechanism or capability names: a list, or one string of
 * names split on spaces and commas. Names are upper-cased. */
int cy_get_names(struct ctx *x, const char *key, const struct ynode *n,
                 char ***v, size_t *nv);

/* Frees a string vector and its strings. */
void cy_free_strv(char **v, size_t n);

/* A server's cert: given as a map, into s->cert_like
 * (harness/case/case_cert.c). */
int cy_parse_cert_like(struct ctx *x, const struct ynode *n,
                       struct mp_fake_config *s);

/* servers: into c->servers (harness/case/case_servers.c). */
int cy_parse_servers(struct ctx *x, const struct ynode *n, struct mp_case *c);

/* A server of protocol oauth, the fake token endpoint, into c->idps
 * (harness/case/case_idp.c). */
int cy_parse_idp(struct ctx *x, const struct ynode *kn, const struct ynode *n,
                 struct mp_case *c);

/* A probe's token from a fake token endpoint: token_endpoint, client_id,
 * client_secret, refresh_token, scope (harness/case/case_idp.c). */
int cy_parse_probe_idp(struct ctx *x, const struct ynode *n,
                       const struct mp_case *c, struct mp_case_probe *p);

/* A server's `tokens:` and `oauth:` (harness/case/case_oauth.c). */
int cy_parse_tokens(struct ctx *x, const struct ynode *n,
                    struct mp_fake_token **tokens, size_t *ntokens);
int cy_parse_oauth(struct ctx *x, const struct ynode *n,
                   struct mp_fake_config *s);

/* The name of a defined server; suggests a close one. */
int cy_server_ref(struct ctx *x, const struct mp_case *c, const struct ynode *n,
                  const char *key);

/* 1 if s is in the NULL-terminated list (exactly). */
int cy_in_list(const char *s, const char *const *list);

/* probe: into c->probe (harness/case/case_probe.c). */
int cy_parse_probe(struct ctx *x, const struct ynode *kn, const struct ynode *n,
                   struct mp_case *c);

/* A config module's probe description into *p (zeroed first): the probe:
 * format in module mode (struct ctx.module). On error *p may hold parts;
 * free them with mp_case_probe_free. */
int cy_parse_module_probe(struct ctx *x, const struct ynode *kn,
                          const struct ynode *n, struct mp_case_probe *p);

/* Reads a whole regular file of at most max bytes (what names it in
 * messages: "case file") into *buf (malloc'd, NUL-terminated) and *len.
 * 0, MP_E_PROTOCOL_ERROR or MP_E_NO_RESOURCES with "path: message" (or
 * "path:1:1: ..." when too large) in err. */
int cy_read_file(const char *path, size_t max, const char *what, char **buf,
                 size_t *len, char *err, size_t errlen);

/* The one YAML document of buf (name in messages) handed to parse as its
 * root (NULL when the file holds no document), with a fresh error
 * context writing into err. 0, or MP_E_NO_RESOURCES / MP_E_PROTOCOL_ERROR
 * when parse (or the YAML) failed, the first error in err. For formats
 * beside the case file (subject profiles, baselines). */
int cy_parse_doc(const char *buf, size_t len, const char *name,
                 int (*parse)(struct ctx *x, const struct ynode *root,
                              void *arg),
                 void *arg, char *err, size_t errlen);

/* The error for a document over max bytes, before any parsing:
 * "name:1:1: the file is larger than N MiB (len bytes)" and hint, into
 * err. Returns MP_E_PROTOCOL_ERROR. */
int cy_doc_too_big(const char *name, size_t len, size_t max, const char *hint,
                   char *err, size_t errlen);

/* A file's name without its folder and its .yaml or .yml: the default
 * name of a case or a profile (malloc'd; NULL when out of memory). */
char *cy_file_stem(const char *file);

/* An expectation with everything unset. */
void cy_expect_init(struct mp_case_expect *e);

/* expect: into c->expect (harness/case/case_expect.c). */
int cy_parse_expect(struct ctx *x, const struct ynode *kn,
                    const struct ynode *n, struct mp_case *c);

/* What a monitor says besides its name and check, read alike in a
 * monitor case and in `mailprobe monitor`'s config file: ipMonitor's
 * timing (an interval left 0 where none was given), the thresholds and
 * the actions (commands NULL-terminated, or NULL). */
struct cy_mon_fields {
  struct mp_monitor_cfg timing;
  uint64_t max_test_ms; /* 0: not given */
  uint64_t warning_ms, critical_ms, action_timeout_ms;
  char **argv[3]; /* on_alert, on_recovery, recovery */
  unsigned recovery_runs;
};

/* The keys cy_parse_mon_fields reads, for a caller's list of known keys. */
#define CY_MON_FIELD_KEYS                                                      \
  "interval", "intervals", "failures_per_alert", "max_alerts",                 \
      "max_test_duration", "warning", "critical", "on_alert", "on_recovery",   \
      "recovery", "recovery_runs", "action_timeout"

/* Reads those keys of map n into f (zeroed by the caller); 0 or -1. */
int cy_parse_mon_fields(struct ctx *x, const struct ynode *n,
                        struct cy_mon_fields *f);

/* Frees a NULL-terminated command (NULL is fine). */
void cy_free_argv(char **v);

/* monitor: (kn names it) or monitors: into c->monitors
 * (harness/case/case_monitor.c). */
int cy_parse_monitors(struct ctx *x, const struct ynode *kn,
                      const struct ynode *n, struct mp_case *c);

/* expect: of a monitor case into c->expect_monitors. */
int cy_parse_monitor_expect(struct ctx *x, const struct ynode *kn,
                            const struct ynode *n, struct mp_case *c);

/* Frees a case's monitors and their expectations. */
void cy_free_monitors(struct mp_case *c);

/* smtp, pop3, imap as enum mp_fake_proto. */
extern const struct nv cy_proto_names[];

#endif
