/* A subject's command for one case: what the case needs that the subject
 * cannot express (then the case is UNSUPPORTED for it), and the argv
 * template with its placeholders filled in. Pure. */
#ifndef MP_SUBJECT_ARGV_H
#define MP_SUBJECT_ARGV_H

#include <stddef.h>
#include <stdint.h>

struct mp_case;
struct mp_subject;

/* Where and how a subject probes one case's server. */
struct mp_subject_target {
  const char *host;
  unsigned port;
  int type;                   /* enum mp_case_probe_type: smtp, pop3, imap */
  int tls;                    /* enum mp_tls_mode */
  const char *user;           /* NULL: no login */
  const char *password;       /* for env: only, never argv */
  const char *password_file;  /* holds the password, no newline */
  const char *cafile;         /* the CA that signs the fake servers */
  const char *servername;     /* the name the certificate is for */
  uint64_t timeout_ms;        /* the case's probe timeout */
  const char *service;        /* the service's base URL, or NULL */
  const char *profile_dir;    /* the folder of the profile's file */
  const char *service_port;   /* the service's port, or NULL */
  const char *service_config; /* the service's config file, or NULL */
};

/* The timeout the subject is given: with {timeout_s} in its command, the
 * case's rounded up to whole seconds (a tool that takes seconds gets no
 * less than the case); else the case's. */
uint64_t mp_subject_given_timeout_ms(const struct mp_subject *s,
                                     uint64_t timeout_ms);

/* 0 when the subject can run case c; else -1 and the reason in why
 * ("tls: implicit is unsupported", "the case needs dns"). */
int mp_subject_supports(const struct mp_subject *s, const struct mp_case *c,
                        char *why, size_t whylen);

/* The first placeholder in s that is not one of ours, as "{name}" into
 * bad; 0 if all are known. whole: 1 when s is an argument of its own
 * (where {tls} and {login} may stand alone), 2 for a shell script (where
 * they may stand anywhere), 3 for an env: value (where {password} may
 * stand, and only there), 0 for none of these. */
int mp_subject_check_template(const char *s, int whole, char *bad,
                              size_t badlen);

/* The argv for target: a NULL-terminated malloc'd array of malloc'd
 * strings (with shell, {"/bin/sh", "-c", SCRIPT}); NULL when out of
 * memory. */
char **mp_subject_argv(const struct mp_subject *s,
                       const struct mp_subject_target *t);

/* Expands placeholders in one string (values shell-quoted when quote is
 * set); malloc'd, or NULL when out of memory. */
char *mp_subject_expand(const char *tmpl, const struct mp_subject_target *t,
                        int quote);

/* The environment for the subject: base (the harness's own, environ)
 * with the profile's env: added (its names replacing inherited ones),
 * "NAME=value" strings in a NULL-terminated malloc'd array; NULL when the
 * profile sets none (the child inherits ours) or when out of memory. */
char **mp_subject_env(const struct mp_subject *s,
                      const struct mp_subject_target *t, char *const *base);

/* Frees what mp_subject_argv or mp_subject_env returned. */
void mp_subject_argv_free(char **argv);

#endif
