/* A server's `cert:` written as a map: a certificate like a recorded one
 * (wire/cert_like.h), and the `tls_version` and `cipher` a recorded
 * server offered (docs/case-format.md "Certificates like a recorded
 * one"). */
#include "harness/case/case_yaml.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wire/cert_like.h"

/* A list of "KEY=value" (names) or "DNS:x"/"IP:x" (sans) strings. */
static int get_list(struct ctx *x, const char *key, const struct ynode *n,
                    char out[][MP_CERT_NAME_LEN], size_t *nout, int sans)
{
  if (n->kind != Y_SEQ)
    return cy_wrong_type(x, key, n, "a list of strings");
  if (n->nkids > MP_CERT_MAX_NAMES)
    return cy_fail(x, n, "'%s' holds at most %d entries", key,
                   MP_CERT_MAX_NAMES);
  for (size_t i = 0; i < n->nkids; i++) {
    const struct ynode *it = n->kids[i];
    if (it->kind != Y_SCALAR || cy_is_null(it) || it->len >= MP_CERT_NAME_LEN ||
        memchr(it->str, '\0', it->len))
      return cy_fail(x, it,
                     "each entry of '%s' is a string of at most %d "
                     "bytes",
                     key, MP_CERT_NAME_LEN - 1);
    const char *eq = strchr(it->str, '=');
    if (sans ? strncmp(it->str, "DNS:", 4) != 0 &&
                   strncmp(it->str, "IP:", 3) != 0
             : eq == NULL || eq == it->str)
      return cy_fail(x, it,
                     sans ? "a SAN is \"DNS:name\" or \"IP:address\", not '%s'"
                          : "a name entry is \"KEY=value\" (\"CN=mx\"), not "
                            "'%s'",
                     cy_shown(x, it));
    memcpy(out[i], it->str, it->len + 1);
  }
  *nout = n->nkids;
  return 0;
}

static int get_time(struct ctx *x, const char *key, const struct ynode *n,
                    long long *t)
{
  if (n->kind != Y_SCALAR || cy_is_null(n) || mp_cert_time_parse(n->str, t))
    return cy_fail(x, n, "'%s' is a UTC time like \"2025-01-31T12:00:00Z\"",
                   key);
  return 0;
}

int cy_parse_cert_like(struct ctx *x, const struct ynode *n,
                       struct mp_fake_config *s)
{
  static const char *const keys[] = {
      "subject",     "issuer",  "sans", "not_before", "not_after",
      "self_signed", "trusted", "key",  "chain",      NULL};
  static const struct nv key_names[] = {{"ec", 0}, {"rsa", 1}, {NULL, 0}};
  const struct ynode *v;
  int trusted = 1;
  long long chain = 1;

  if (cy_check_keys(x, n, "cert", keys) < 0)
    return -1;
  struct mp_cert_facts *f = calloc(1, sizeof(*f));
  if (!f)
    return cy_oom(x);
  s->cert_like = f;
  time_t now = time(NULL);
  f->not_before = (long long)now - 3600;
  f->not_after = (long long)now + 90LL * 86400;
  if (((v = cy_get(n, "subject")) &&
       get_list(x, "subject", v, f->subject, &f->nsubject, 0) < 0) ||
      ((v = cy_get(n, "issuer")) &&
       get_list(x, "issuer", v, f->issuer, &f->nissuer, 0) < 0) ||
      ((v = cy_get(n, "sans")) &&
       get_list(x, "sans", v, f->sans, &f->nsans, 1) < 0) ||
      ((v = cy_get(n, "not_before")) &&
       get_time(x, "not_before", v, &f->not_before) < 0) ||
      ((v = cy_get(n, "not_after")) &&
       get_time(x, "not_after", v, &f->not_after) < 0) ||
      ((v = cy_get(n, "self_signed")) &&
       cy_get_bool(x, "self_signed", v, &f->self_signed) < 0) ||
      ((v = cy_get(n, "trusted")) &&
       cy_get_bool(x, "trusted", v, &trusted) < 0) ||
      cy_opt_enum(x, n, "key", key_names, 0, &f->rsa) < 0 ||
      ((v = cy_get(n, "chain")) &&
       cy_get_int(x, "chain", v, 1, 16, &chain) < 0))
    return -1;
  if (f->not_before >= f->not_after)
    return cy_fail(x, n, "cert: not_before must come before not_after");
  f->untrusted = !trusted;
  f->chain = (unsigned)chain;
  return 0;
}
