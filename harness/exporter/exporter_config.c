/* `mailprobe exporter`'s config (harness/exporter/exporter_config.h):
 * the exporter: section through harness/config's section callback, and
 * the allow list. */
#include "harness/exporter/exporter_config.h"

#include <arpa/inet.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/case/case_yaml.h"
#include "harness/config/module.h"
#include "wire/errors.h"

/* "10.0.0.0/8", "::1/128" or a bare IP into e; 0 or -1. */
static int parse_block(const char *s, struct mp_allow *e)
{
  char ip[64];
  const char *slash = strchr(s, '/');
  size_t len = slash ? (size_t)(slash - s) : strlen(s);
  int max;
  if (len >= sizeof ip)
    return -1;
  memcpy(ip, s, len);
  ip[len] = '\0';
  if (inet_pton(AF_INET, ip, e->addr) == 1)
    e->family = AF_INET;
  else if (inet_pton(AF_INET6, ip, e->addr) == 1)
    e->family = AF_INET6;
  else
    return -1;
  max = e->family == AF_INET ? 32 : 128;
  e->bits = max;
  if (slash != NULL) {
    char *end;
    long b = strtol(slash + 1, &end, 10);
    if (slash[1] == '\0' || *end != '\0' || b < 0 || b > max)
      return -1;
    e->bits = (int)b;
  }
  return 0;
}

/* A glob over host names: letters, digits, '-', '.', '_', '*', '?'. */
static int valid_glob(const char *s)
{
  if (*s == '\0')
    return 0;
  for (; *s != '\0'; s++)
    if (!(*s == '*' || *s == '?' || *s == '-' || *s == '.' || *s == '_' ||
          (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9')))
      return 0;
  return 1;
}

static int parse_allow(struct ctx *x, const struct ynode *n,
                       struct mp_exporter_config *c)
{
  char **v = NULL;
  size_t nv = 0;
  int rc = cy_get_strv(x, "allow", n, 1, &v, &nv);
  if (rc == 0 && (c->allow = calloc(nv + 1, sizeof *c->allow)) == NULL)
    rc = cy_oom(x);
  for (size_t i = 0; rc == 0 && i < nv; i++) {
    struct mp_allow *e = &c->allow[c->nallow];
    const struct ynode *at = n->kind == Y_SEQ ? n->kids[i] : n;
    if (parse_block(v[i], e) == 0) {
      c->nallow++;
      continue;
    }
    memset(e, 0, sizeof *e);
    if (strchr(v[i], '/') != NULL || !valid_glob(v[i])) {
      rc = cy_fail(x, at,
                   "allow entry '%s' must be an address block "
                   "(192.0.2.0/24, 2001:db8::/32, 127.0.0.1) or a host glob "
                   "(*.example.com)",
                   cy_show(x, v[i], strlen(v[i])));
      break;
    }
    e->glob = v[i];
    v[i] = NULL;
    c->nallow++;
  }
  cy_free_strv(v, nv);
  return rc;
}

/* exporter: the program's own section. */
static int parse_section(struct ctx *x, const struct ynode *kn,
                         const struct ynode *n, void *data)
{
  static const char *const keys[] = {"max_in_flight",
                                     "max_in_flight_per_module",
                                     "scrape_timeout_margin",
                                     "default_timeout",
                                     "allow",
                                     NULL};
  struct mp_exporter_config *c = data;
  const struct ynode *v;
  long long k;

  if (cy_want_map(x, kn->str, n) < 0 ||
      cy_check_keys(x, n, "exporter", keys) < 0)
    return -1;
  if ((v = cy_get(n, "max_in_flight")) != NULL) {
    if (cy_get_int(x, "max_in_flight", v, 1, 1000000, &k) < 0)
      return -1;
    c->max_in_flight = (unsigned)k;
  }
  if ((v = cy_get(n, "max_in_flight_per_module")) != NULL) {
    if (cy_get_int(x, "max_in_flight_per_module", v, 1, 1000000, &k) < 0)
      return -1;
    c->max_in_flight_module = (unsigned)k;
  }
  if ((v = cy_get(n, "scrape_timeout_margin")) != NULL &&
      cy_get_dur_ms(x, "scrape_timeout_margin", v, 0, &c->timeout_margin_ms) <
          0)
    return -1;
  if ((v = cy_get(n, "default_timeout")) != NULL &&
      cy_get_dur_ms(x, "default_timeout", v, 1, &c->default_timeout_ms) < 0)
    return -1;
  if ((v = cy_get(n, "allow")) != NULL && parse_allow(x, v, c) < 0)
    return -1;
  return 0;
}

static void free_config(struct mp_exporter_config *c)
{
  mp_config_free(c->cfg);
  for (size_t i = 0; i < c->nallow; i++)
    free(c->allow[i].glob);
  free(c->allow);
  free(c);
}

/* Defaults and the rules across sections. */
static int finish(struct mp_exporter_config *c, const char *name, char *err,
                  size_t errlen)
{
  if (c->max_in_flight == 0)
    c->max_in_flight = 1000;
  if (c->max_in_flight_module == 0 ||
      c->max_in_flight_module > c->max_in_flight)
    c->max_in_flight_module = c->max_in_flight;
  if (c->default_timeout_ms == 0)
    c->default_timeout_ms = 120000;
  if (c->cfg->nmodules == 0) {
    snprintf(err, errlen, "%s:1:1: no modules: the exporter needs at least one",
             name);
    return MP_E_PROTOCOL_ERROR;
  }
  return 0;
}

static int load(const char *path, const char *buf, size_t len,
                struct mp_exporter_config **out, char *err, size_t errlen)
{
  struct mp_exporter_config *c = calloc(1, sizeof *c);
  struct mp_config_section s;
  int rc;

  *out = NULL;
  if (c == NULL) {
    snprintf(err, errlen, "out of memory");
    return MP_E_NO_RESOURCES;
  }
  c->timeout_margin_ms = 500;
  c->refs = 1;
  s = (struct mp_config_section){"exporter", parse_section, c, 0};
  rc = buf != NULL
           ? mp_config_parse(buf, len, path, &s, 1, &c->cfg, err, errlen)
           : mp_config_load(path, &s, 1, &c->cfg, err, errlen);
  if (rc == 0)
    rc = finish(c, path, err, errlen);
  if (rc < 0) {
    free_config(c);
    return rc;
  }
  *out = c;
  return 0;
}

int mp_exporter_config_load(const char *path, struct mp_exporter_config **out,
                            char *err, size_t errlen)
{
  return load(path, NULL, 0, out, err, errlen);
}

int mp_exporter_config_parse(const char *buf, size_t len, const char *name,
                             struct mp_exporter_config **out, char *err,
                             size_t errlen)
{
  return load(name, buf, len, out, err, errlen);
}

void mp_exporter_config_ref(struct mp_exporter_config *c)
{
  c->refs++;
}

void mp_exporter_config_unref(struct mp_exporter_config *c)
{
  if (c != NULL && --c->refs == 0)
    free_config(c);
}

/* 1 if the first bits of a and b agree. */
static int prefix_equal(const unsigned char *a, const unsigned char *b,
                        int bits)
{
  int whole = bits / 8, rest = bits % 8;
  if (memcmp(a, b, (size_t)whole) != 0)
    return 0;
  if (rest == 0)
    return 1;
  return ((a[whole] ^ b[whole]) & (0xff << (8 - rest))) == 0;
}

int mp_exporter_allowed(const struct mp_exporter_config *c, const char *host)
{
  unsigned char ip[16];
  int fam = 0;

  if (c->nallow == 0)
    return 1;
  if (inet_pton(AF_INET, host, ip) == 1)
    fam = AF_INET;
  else if (inet_pton(AF_INET6, host, ip) == 1)
    fam = AF_INET6;
  for (size_t i = 0; i < c->nallow; i++) {
    const struct mp_allow *e = &c->allow[i];
    if (e->glob != NULL && fnmatch(e->glob, host, FNM_CASEFOLD) == 0)
      return 1;
    if (e->family != 0 && e->family == fam &&
        prefix_equal(e->addr, ip, e->bits))
      return 1;
  }
  return 0;
}
