/* Filling in a subject's argv template for one case (docs/subjects.md,
 * "Placeholders"), and the check that the subject can express the case at
 * all. */
#include "harness/subject/argv.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/case/case.h"
#include "harness/subject/profile.h"
#include "probes/probe.h"
#include "wire/errors.h"
#include "wire/grow.h"

static const char *const names[] = {
    "host",         "port",           "url",      "tls",         "login",
    "user",         "password_file",  "cafile",   "servername",  "timeout_s",
    "timeout_ms",   "protocol",       "service",  "profile_dir", "tls_mode",
    "service_port", "service_config", "password", NULL};

enum {
  P_HOST,
  P_PORT,
  P_URL,
  P_TLS,
  P_LOGIN,
  P_USER,
  P_PWFILE,
  P_CAFILE,
  P_SERVERNAME,
  P_TIMEOUT_S,
  P_TIMEOUT_MS,
  P_PROTOCOL,
  P_SERVICE,
  P_PROFILE_DIR,
  P_TLS_MODE,
  P_SERVICE_PORT,
  P_SERVICE_CONFIG,
  P_PASSWORD
};

/* The index of the placeholder at s ("{host}..."), its length in *len;
 * -1 when s does not start one of ours. */
static int placeholder_at(const char *s, size_t *len)
{
  const char *end;
  size_t i, n;

  if (s[0] != '{' || !(end = strchr(s + 1, '}')))
    return -1;
  n = (size_t)(end - s - 1);
  for (i = 0; names[i]; i++)
    if (strlen(names[i]) == n && strncmp(s + 1, names[i], n) == 0) {
      *len = n + 2;
      return (int)i;
    }
  return -1;
}

int mp_subject_check_template(const char *s, int whole, char *bad,
                              size_t badlen)
{
  const char *p;
  size_t len;
  int i;

  for (p = s; (p = strchr(p, '{')) != NULL; p++) {
    const char *end = strchr(p, '}');
    if (!end)
      return 0; /* a lone brace is text */
    i = placeholder_at(p, &len);
    if (i < 0) {
      /* Only {word} looks like a placeholder; other braces are text. */
      const char *q;
      for (q = p + 1; q < end; q++)
        if (!((*q >= 'a' && *q <= 'z') || *q == '_'))
          break;
      if (q < end || q == p + 1)
        continue;
      snprintf(bad, badlen, "%.*s", (int)(end - p + 1), p);
      return -1;
    }
    if (i == P_PASSWORD && whole != 3) {
      snprintf(bad, badlen,
               "{password} (only in env:; a password never goes on a "
               "command line)");
      return -1;
    }
    if ((i == P_TLS || i == P_LOGIN) && whole != 2 && whole != 3 &&
        (!whole || strlen(s) != len)) {
      snprintf(bad, badlen, "%.*s (must be an argument of its own)", (int)len,
               p);
      return -1;
    }
  }
  return 0;
}

uint64_t mp_subject_given_timeout_ms(const struct mp_subject *s,
                                     uint64_t timeout_ms)
{
  size_t i;

  if (!timeout_ms)
    timeout_ms = MP_PROBE_DEFAULT_TIMEOUT_MS;
  for (i = 0; s && i < s->ncommand; i++)
    if (strstr(s->command[i], "{timeout_s}"))
      return (timeout_ms + 999) / 1000 * 1000;
  return timeout_ms;
}

/* 1 when the case counts on the probe verifying the certificate. */
static int needs_verify(const struct mp_case *c)
{
  return c->expect.error == MP_E_CERT_INVALID || c->expect.cert_verified == 0 ||
         c->expect.verify_error != NULL;
}

static int has(const struct mp_subject *s, const char *feature)
{
  size_t i;

  for (i = 0; i < s->nunsupported; i++)
    if (strcmp(s->unsupported[i], feature) == 0)
      return 1;
  return 0;
}

/* Whether the case is about OAuth: the probe has a token or a token
 * endpoint, or a fake server knows tokens, or the case runs a fake token
 * endpoint. */
static int uses_oauth(const struct mp_case *c)
{
  if (c->probe.token || c->probe.idp || c->nidps)
    return 1;
  for (size_t i = 0; i < c->nservers; i++)
    if (c->servers[i].ntokens)
      return 1;
  return 0;
}

int mp_subject_supports(const struct mp_subject *s, const struct mp_case *c,
                        char *why, size_t whylen)
{
  static const char *const types[] = {"smtp", "pop3", "imap", "roundtrip"};
  const struct mp_case_probe *p = &c->probe;
  const struct mp_subject_args *tls;
  const char *need = NULL;

  if (s->builtin)
    return 0;
  if (c->nmonitors) {
    snprintf(why, whylen, "monitor cases run only under mailprobe");
    return -1;
  }
  /* The cases its profile lists as known not to run, with the reason. */
  for (size_t i = 0; i < s->nskip; i++)
    if ((c->file && (fnmatch(s->skip[i].glob, c->file, 0) == 0 ||
                     fnmatch(s->skip[i].glob, c->file, FNM_PATHNAME) == 0)) ||
        (c->name && fnmatch(s->skip[i].glob, c->name, 0) == 0)) {
      snprintf(why, whylen, "skipped: %s", s->skip[i].reason);
      return -1;
    }
  if (!(s->protocols & MP_SUBJECT_PROTO(p->type))) {
    snprintf(why, whylen, "protocol %s is not one it probes",
             types[p->type & 3]);
    return -1;
  }
  if (p->type == MP_CASE_ROUNDTRIP) {
    snprintf(why, whylen, "round trips run only under mailprobe");
    return -1;
  }
  tls = &s->tls[p->opts.tls & 3];
  if (tls->unsupported || (!tls->set && p->opts.tls != MP_TLSMODE_NONE)) {
    snprintf(why, whylen, "tls: %s is %s", mp_tls_mode_name(p->opts.tls),
             tls->unsupported ? "unsupported" : "not spelled in its profile");
    return -1;
  }
  /* OAuth (XOAUTH2, OAUTHBEARER): a profile has no way yet to hand a
   * subject a token, so such a case is one it cannot run. */
  if (uses_oauth(c)) {
    snprintf(why, whylen,
             "the case logs in with OAuth, which a profile cannot spell");
    return -1;
  }
  if (p->user && (s->login.unsupported || !s->login.set || has(s, "login")))
    need = "login";
  else if (p->opts.auth && has(s, "auth_mechanisms"))
    need = "auth_mechanisms";
  else if ((p->opts.dns.mode || p->opts.dns.server || p->nhosts) &&
           has(s, "dns"))
    need = "dns";
  else if (p->opts.insecure && has(s, "insecure"))
    need = "insecure";
  else if (p->target)
    need = "target";
  else if (p->helo && has(s, "helo"))
    need = "helo";
  else if (needs_verify(c) && has(s, "verify"))
    need = "verify";
  if (need) {
    snprintf(why, whylen, "the case needs %s", need);
    return -1;
  }
  return 0;
}

/* ---- expansion ---------------------------------------------------------- */

struct buf {
  char *p;
  size_t n, cap;
  int oom;
};

static void put(struct buf *b, const char *s, size_t n)
{
  if (b->oom)
    return;
  if (b->n + n + 1 > b->cap && mp_grow(&b->p, &b->cap, b->n + n + 1, 64) < 0) {
    b->oom = 1;
    return;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

/* A value, single-quoted for sh when quote is set. */
static void put_value(struct buf *b, const char *v, int quote)
{
  if (!quote) {
    put(b, v, strlen(v));
    return;
  }
  put(b, "'", 1);
  for (; *v; v++) {
    if (*v == '\'')
      put(b, "'\\''", 4);
    else
      put(b, v, 1);
  }
  put(b, "'", 1);
}

static const char *scheme(const struct mp_subject_target *t)
{
  static const char *const plain[] = {"smtp", "pop3", "imap"};
  static const char *const tls[] = {"smtps", "pop3s", "imaps"};
  unsigned i = (unsigned)t->type < 3 ? (unsigned)t->type : 0;

  return t->tls == MP_TLSMODE_IMPLICIT ? tls[i] : plain[i];
}

static void put_placeholder(struct buf *b, int i,
                            const struct mp_subject_target *t, int quote)
{
  static const char *const protos[] = {"smtp", "pop3", "imap"};
  char num[96];
  const char *v = "";

  switch (i) {
  case P_HOST:
    v = t->host;
    break;
  case P_PORT:
    snprintf(num, sizeof(num), "%u", t->port);
    v = num;
    break;
  case P_URL:
    snprintf(num, sizeof(num), "%s://%s:%u", scheme(t), t->host, t->port);
    v = num;
    break;
  case P_USER:
    v = t->user;
    break;
  case P_PWFILE:
    v = t->password_file;
    break;
  case P_CAFILE:
    v = t->cafile;
    break;
  case P_SERVERNAME:
    v = t->servername;
    break;
  case P_TIMEOUT_S:
    snprintf(num, sizeof(num), "%llu",
             (unsigned long long)((t->timeout_ms + 999) / 1000));
    v = num;
    break;
  case P_TIMEOUT_MS:
    snprintf(num, sizeof(num), "%llu", (unsigned long long)t->timeout_ms);
    v = num;
    break;
  case P_PROTOCOL:
    v = protos[(unsigned)t->type < 3 ? t->type : 0];
    break;
  case P_SERVICE:
    v = t->service;
    break;
  case P_PROFILE_DIR:
    v = t->profile_dir;
    break;
  case P_PASSWORD:
    v = t->password;
    break;
  case P_SERVICE_PORT:
    v = t->service_port;
    break;
  case P_SERVICE_CONFIG:
    v = t->service_config;
    break;
  case P_TLS_MODE:
    v = mp_tls_mode_name((enum mp_tls_mode)t->tls);
    break;
  }
  put_value(b, v ? v : "", quote);
}

char *mp_subject_expand(const char *tmpl, const struct mp_subject_target *t,
                        int quote)
{
  struct buf b = {0};
  const char *p = tmpl;
  size_t len;
  int i;

  put(&b, "", 0);
  while (*p) {
    if (*p == '{' && (i = placeholder_at(p, &len)) >= 0 && i != P_TLS &&
        i != P_LOGIN) {
      put_placeholder(&b, i, t, quote);
      p += len;
      continue;
    }
    put(&b, p, 1);
    p++;
  }
  if (b.oom) {
    free(b.p);
    return NULL;
  }
  return b.p;
}

struct vec {
  char **v;
  size_t n, cap;
  int oom;
};

static void vec_push(struct vec *a, char *s)
{
  if (!s) {
    a->oom = 1;
    return;
  }
  if (a->n + 2 > a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 16;
    char **q = realloc(a->v, cap * sizeof(*q));
    if (!q) {
      free(s);
      a->oom = 1;
      return;
    }
    a->v = q;
    a->cap = cap;
  }
  a->v[a->n++] = s;
  a->v[a->n] = NULL;
}

/* The arguments {tls} or {login} stand for. */
static const struct mp_subject_args *group(const struct mp_subject *s,
                                           const struct mp_subject_target *t,
                                           const char *arg)
{
  if (strcmp(arg, "{tls}") == 0)
    return &s->tls[t->tls & 3];
  if (strcmp(arg, "{login}") == 0)
    return t->user ? &s->login : NULL;
  return NULL;
}

static int is_group(const char *arg)
{
  return strcmp(arg, "{tls}") == 0 || strcmp(arg, "{login}") == 0;
}

char **mp_subject_argv(const struct mp_subject *s,
                       const struct mp_subject_target *t)
{
  struct vec a = {0};
  size_t i, k;

  if (s->shell) {
    /* One script: the groups become quoted words in place. */
    struct buf b = {0};
    const char *p = s->command[0];
    put(&b, "", 0);
    while (*p) {
      size_t len;
      int ph = *p == '{' ? placeholder_at(p, &len) : -1;
      if (ph == P_TLS || ph == P_LOGIN) {
        const struct mp_subject_args *g =
            group(s, t, ph == P_TLS ? "{tls}" : "{login}");
        /* The profile's words are shell text as written; only the
         * placeholder values in them are quoted. */
        for (k = 0; g && k < g->n; k++) {
          char *w = mp_subject_expand(g->v[k], t, 1);
          if (k)
            put(&b, " ", 1);
          if (w)
            put(&b, w, strlen(w));
          else
            b.oom = 1;
          free(w);
        }
        p += len;
        continue;
      }
      if (ph >= 0) {
        put_placeholder(&b, ph, t, 1);
        p += len;
        continue;
      }
      put(&b, p++, 1);
    }
    if (b.oom) {
      free(b.p);
      return NULL;
    }
    vec_push(&a, strdup("/bin/sh"));
    vec_push(&a, strdup("-c"));
    vec_push(&a, b.p);
  } else {
    for (i = 0; i < s->ncommand; i++) {
      if (is_group(s->command[i])) {
        const struct mp_subject_args *g = group(s, t, s->command[i]);
        for (k = 0; g && k < g->n; k++)
          vec_push(&a, mp_subject_expand(g->v[k], t, 0));
        continue;
      }
      vec_push(&a, mp_subject_expand(s->command[i], t, 0));
    }
  }
  if (a.oom || !a.v) {
    mp_subject_argv_free(a.v);
    return NULL;
  }
  return a.v;
}

char **mp_subject_env(const struct mp_subject *s,
                      const struct mp_subject_target *t, char *const *base)
{
  struct vec a = {0};
  size_t i, k, n;

  if (!s->nenv)
    return NULL;
  for (i = 0; base && base[i]; i++) {
    /* The profile's own names win over the inherited ones. */
    for (k = 0; k < s->nenv; k++) {
      n = strlen(s->env_names[k]);
      if (strncmp(base[i], s->env_names[k], n) == 0 && base[i][n] == '=')
        break;
    }
    if (k == s->nenv)
      vec_push(&a, strdup(base[i]));
  }
  for (k = 0; k < s->nenv; k++) {
    char *v = mp_subject_expand(s->env_values[k], t, 0);
    char *kv = NULL;
    if (v && asprintf(&kv, "%s=%s", s->env_names[k], v) < 0)
      kv = NULL;
    free(v);
    vec_push(&a, kv);
  }
  if (a.oom || !a.v) {
    mp_subject_argv_free(a.v);
    return NULL;
  }
  return a.v;
}

void mp_subject_argv_free(char **argv)
{
  size_t i;

  for (i = 0; argv && argv[i]; i++)
    free(argv[i]);
  free(argv);
}
