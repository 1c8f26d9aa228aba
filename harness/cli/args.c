#include "harness/cli/args.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "harness/case/case.h"
#include "probes/target.h"
#include "wire/sasl.h"

void mp_args_init(struct mp_args *a, int argc, char **argv)
{
  a->argc = argc;
  a->argv = argv;
  a->i = 1;
  a->dashdash = 0;
}

int mp_args_next(struct mp_args *a, const struct mp_opt *opts, size_t nopts,
                 const char **val, char *err, size_t errlen)
{
  const struct mp_opt *o = NULL;
  const char *arg, *eq = NULL;
  size_t i, namelen;

  *val = NULL;
  if (a->i >= a->argc)
    return MP_ARG_END;
  arg = a->argv[a->i++];
  if (a->dashdash || arg[0] != '-' || arg[1] == '\0') {
    *val = arg;
    return MP_ARG_POSITIONAL;
  }
  if (strcmp(arg, "--") == 0) {
    a->dashdash = 1;
    return mp_args_next(a, opts, nopts, val, err, errlen);
  }
  if (arg[1] == '-') {
    eq = strchr(arg + 2, '=');
    namelen = eq ? (size_t)(eq - (arg + 2)) : strlen(arg + 2);
    for (i = 0; i < nopts; i++) {
      if (strlen(opts[i].name) == namelen &&
          strncmp(opts[i].name, arg + 2, namelen) == 0) {
        o = &opts[i];
        break;
      }
    }
  } else if (arg[2] == '\0') {
    for (i = 0; i < nopts; i++) {
      if (opts[i].short_name && opts[i].short_name == arg[1]) {
        o = &opts[i];
        break;
      }
    }
  }
  if (!o) {
    snprintf(err, errlen, "unknown option %.*s", (int)(eq ? eq - arg : 64),
             arg);
    return MP_ARG_ERROR;
  }
  if (!o->has_arg) {
    if (eq) {
      snprintf(err, errlen, "--%s takes no value", o->name);
      return MP_ARG_ERROR;
    }
    return o->id;
  }
  if (eq) {
    *val = eq + 1;
  } else if (a->i < a->argc) {
    *val = a->argv[a->i++];
  } else {
    snprintf(err, errlen, "--%s needs a value", o->name);
    return MP_ARG_ERROR;
  }
  return o->id;
}

int mp_args_duration(const char *opt, const char *text, uint64_t *us, char *err,
                     size_t errlen)
{
  if (!text || mp_duration_parse(text, us) < 0) {
    snprintf(err, errlen,
             "--%s: bad duration \"%s\" (seconds, or with a unit: 500ms, "
             "10s, 5m)",
             opt, text ? text : "");
    return -1;
  }
  return 0;
}

int mp_args_duration_positive(const char *opt, const char *text, uint64_t *us,
                              char *err, size_t errlen)
{
  if (mp_args_duration(opt, text, us, err, errlen) < 0)
    return -1;
  if (*us == 0) {
    snprintf(err, errlen, "--%s: must be more than 0", opt);
    return -1;
  }
  return 0;
}

int mp_args_uint(const char *opt, const char *text, unsigned long min,
                 unsigned long max, unsigned long *out, char *err,
                 size_t errlen)
{
  unsigned long v;
  char *end;

  errno = 0;
  if (!text || !isdigit((unsigned char)text[0]))
    goto bad;
  v = strtoul(text, &end, 10);
  if (errno || *end || v < min || v > max)
    goto bad;
  *out = v;
  return 0;
bad:
  snprintf(err, errlen, "--%s: expected a number from %lu to %lu, got \"%s\"",
           opt, min, max, text ? text : "");
  return -1;
}

int mp_auth_list_parse(const char *list, enum mp_proto proto, unsigned *mask,
                       char *err, size_t errlen)
{
  char word[64];
  const char *p = list;
  unsigned m = 0;
  size_t n;
  int mech;

  while (*p) {
    while (*p == ',' || *p == ' ' || *p == '\t')
      p++;
    if (!*p)
      break;
    n = strcspn(p, ", \t");
    if (n >= sizeof(word)) {
      snprintf(err, errlen, "--auth: \"%.*s...\" is not a method", 20, p);
      return -1;
    }
    memcpy(word, p, n);
    word[n] = '\0';
    p += n;
    /* As in case files: "AUTH=LOGIN" is always the SASL mechanism; a bare
     * "LOGIN" on IMAP is the LOGIN command (RFC 9051 6.2.3). */
    if (strncasecmp(word, "AUTH=", 5) == 0)
      mech = mp_sasl_from_name(word + 5);
    else
      mech = mp_sasl_from_name(word);
    if (strncasecmp(word, "AUTH=", 5) == 0) {
      if (mech < 0)
        goto unknown;
      m |= MP_SASL_BIT(mech);
    } else if (strcasecmp(word, "USER") == 0 && proto == MP_PROTO_POP3) {
      m |= MP_AUTH_USER;
    } else if (strcasecmp(word, "APOP") == 0 && proto == MP_PROTO_POP3) {
      m |= MP_AUTH_APOP;
    } else if (strcasecmp(word, "LOGIN") == 0 && proto == MP_PROTO_IMAP) {
      m |= MP_AUTH_LOGIN_CMD;
    } else if (mech >= 0) {
      m |= MP_SASL_BIT(mech);
    } else {
    unknown:
      snprintf(err, errlen,
               "--auth: unknown method \"%s\" for %s (SCRAM-SHA-256, "
               "SCRAM-SHA-1, CRAM-MD5, LOGIN, PLAIN%s)",
               word, mp_proto_name(proto),
               proto == MP_PROTO_POP3   ? ", USER, APOP"
               : proto == MP_PROTO_IMAP ? "; LOGIN is the IMAP command, "
                                          "AUTH=LOGIN the SASL mechanism"
                                        : "");
      return -1;
    }
  }
  if (!m) {
    snprintf(err, errlen, "--auth: the list is empty");
    return -1;
  }
  *mask = m;
  return 0;
}

static int push_str(struct mp_host_maps *m, char *s)
{
  char **v = realloc(m->strs, (m->nstrs + 1) * sizeof(*v));

  if (!v)
    return -1;
  m->strs = v;
  m->strs[m->nstrs++] = s;
  return 0;
}

int mp_host_map_add(struct mp_host_maps *m, const char *spec, char *err,
                    size_t errlen)
{
  char *copy = strdup(spec ? spec : ""), *save = NULL, *ip, *name;
  struct in_addr a4;
  struct in6_addr a6;
  struct mp_host_map *v;
  size_t added = 0;

  if (!copy || push_str(m, copy) < 0) {
    free(copy);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  ip = strtok_r(copy, " \t", &save);
  if (!ip) {
    snprintf(err, errlen, "--host-map: empty (\"IP name [name...]\")");
    return -1;
  }
  if (inet_pton(AF_INET, ip, &a4) != 1 && inet_pton(AF_INET6, ip, &a6) != 1) {
    snprintf(err, errlen, "--host-map: \"%s\" is not an IP address", ip);
    return -1;
  }
  while ((name = strtok_r(NULL, " \t", &save)) != NULL) {
    if (!mp_host_name_valid(name)) {
      snprintf(err, errlen, "--host-map: \"%s\" is not a host name", name);
      return -1;
    }
    v = realloc(m->v, (m->n + 1) * sizeof(*v));
    if (!v) {
      snprintf(err, errlen, "out of memory");
      return -1;
    }
    m->v = v;
    m->v[m->n].ip = ip;
    m->v[m->n].name = name;
    m->n++;
    added++;
  }
  if (!added) {
    snprintf(err, errlen, "--host-map \"%s\": no name after the address", spec);
    return -1;
  }
  return 0;
}

void mp_host_maps_free(struct mp_host_maps *m)
{
  size_t i;

  for (i = 0; i < m->nstrs; i++)
    free(m->strs[i]);
  free(m->strs);
  free(m->v);
  memset(m, 0, sizeof(*m));
}

void mp_cli_trace(void *data, char dir, const char *line)
{
  (void)data;
  fprintf(stderr, "%c: %s\n", dir == 'c' ? 'C' : dir == 's' ? 'S' : '*', line);
}
