/* A subject: a probe under test, described by a YAML profile
 * (cases/subjects/NAME.yaml, docs/subjects.md): the command as an argv
 * template with placeholders, how each TLS mode and the login are spelled
 * for that tool, how to read its verdict (exit codes, regexes over its
 * output), and which case features it cannot express. mailprobe's own
 * engine is the built-in subject "mailprobe". Pure: the parser reuses the
 * case parser's YAML tree and readers (harness/case/case_yaml.h), so a
 * broken profile is an error at file:line:column; no event loop. */
#ifndef MP_PROFILE_H
#define MP_PROFILE_H

#include <regex.h>
#include <stddef.h>
#include <stdint.h>

/* What a subject's run said, before it is held against a case. */
enum mp_verdict {
  MP_VERDICT_NONE = 0,    /* nothing said it (no mapping, no regex) */
  MP_VERDICT_OK,          /* the probe says the server is fine */
  MP_VERDICT_FAIL,        /* the probe says it is not */
  MP_VERDICT_UNSUPPORTED, /* the probe cannot do what was asked (BoGo 89) */
  MP_VERDICT_ERROR        /* the probe could not run (usage, missing) */
};

/* The name of a verdict ("ok", "fail", ...). */
const char *mp_verdict_name(enum mp_verdict v);

/* The arguments one option turns into (a TLS mode, the login): set when
 * the profile spelled it, unsupported when it said `unsupported`. */
struct mp_subject_args {
  int set;
  int unsupported;
  char **v;
  size_t n;
};

/* A regex over the subject's output that names an error (wire/errors.h). */
struct mp_subject_rx {
  int err; /* MP_E_* */
  char *pattern;
  regex_t rx;
};

/* A case the subject is known not to run, with the reason (BoGo's
 * per-implementation list of disabled tests). */
struct mp_subject_skip {
  char *glob; /* over the case file's path and name */
  char *reason;
};

/* A service the subject needs, started once per run (blackbox_exporter):
 * its argv template and a config file written from a template first;
 * ready when its port accepts a connection (harness/run/service.c). */
struct mp_subject_service {
  char **command;
  size_t ncommand;
  char *config; /* the config file's text (placeholders expanded), or NULL */
  uint64_t start_ms; /* how long it may take to come up */
};

#define MP_SUBJECT_DEFAULT_GRACE_MS 2000
#define MP_SUBJECT_DEFAULT_CAPTURE (64 * 1024)
#define MP_SUBJECT_MAX_BYTES (256 * 1024)

/* The bits of the case types (enum mp_case_probe_type) a subject runs. */
#define MP_SUBJECT_PROTO(t) (1u << (t))

struct mp_subject {
  char *name;     /* name:, or the file name without folder and .yaml */
  char *file;     /* the profile's path; NULL for the built-in */
  char *about;    /* free text, or NULL */
  int builtin;    /* mailprobe's own engine: the other fields are unused */
  char **command; /* argv template; with shell, one string for sh -c */
  size_t ncommand;
  int shell;
  unsigned protocols;            /* MP_SUBJECT_PROTO bits */
  struct mp_subject_args tls[4]; /* by enum mp_tls_mode */
  struct mp_subject_args login;  /* {login}: when the case has a user */
  char **unsupported;            /* case features it cannot express */
  size_t nunsupported;
  struct mp_subject_skip *skip;
  size_t nskip;
  unsigned char exit_map[256]; /* enum mp_verdict per exit status */
  int has_ok_rx, has_fail_rx, has_unsupported_rx;
  regex_t ok_rx, fail_rx, unsupported_rx;
  struct mp_subject_rx *errors;
  size_t nerrors;
  uint64_t grace_ms; /* after its timeout, before TERM */
  size_t capture;    /* bytes kept of stdout and of stderr each */
  struct mp_subject_service *service; /* or NULL */
  char **env_names, **env_values;     /* env: added to the environment */
  size_t nenv;
};

/* The built-in subject: mailprobe's own engine. NULL when out of memory. */
struct mp_subject *mp_subject_builtin(void);

/* Reads a profile (at most MP_SUBJECT_MAX_BYTES). 0, or a negative code
 * with "file:line:column: message" in err. */
int mp_subject_load(const char *path, struct mp_subject **out, char *err,
                    size_t errlen);

/* The same from memory; name is the file name used in messages. */
int mp_subject_parse(const char *buf, size_t len, const char *name,
                     struct mp_subject **out, char *err, size_t errlen);

/* A subject by what --subject says: "mailprobe" (built-in), a path to a
 * profile (it contains '/' or ends in .yaml), or NAME, found as
 * DIR/NAME.yaml in dir (cases/subjects). As mp_subject_load. */
int mp_subject_find(const char *what, const char *dir, struct mp_subject **out,
                    char *err, size_t errlen);

/* The name a profile at path gets without name: (its file name without
 * folder and .yaml); malloc'd, NULL when out of memory. */
char *mp_subject_default_name(const char *path);

/* Frees the subject (NULL is fine). */
void mp_subject_free(struct mp_subject *s);

/* The feature names a profile's `unsupported:` may list. */
extern const char *const mp_subject_features[];

#endif
