/* Prometheus' exporter web config (harness/config/web_config.h), read
 * with the case parser's typed readers. */
#include "harness/config/web_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/case/case_yaml.h"
#include "harness/config/secret.h"
#include "wire/errors.h"

/* A path relative to the web config's folder, malloc'd. */
static char *rel_path(struct ctx *x, const char *p)
{
  const char *slash = strrchr(x->file, '/');
  char *full;
  if (p[0] == '/' || slash == NULL)
    return strdup(p);
  full = malloc((size_t)(slash - x->file) + strlen(p) + 2);
  if (full != NULL)
    sprintf(full, "%.*s/%s", (int)(slash - x->file), x->file, p);
  return full;
}

/* Reads the file named by the string at n into *out. */
static int read_pem(struct ctx *x, const char *key, const struct ynode *n,
                    char **out)
{
  char *name = NULL, *path, why[512];
  size_t len;
  int rc;
  if (cy_get_str(x, key, n, 0, &name) < 0)
    return -1;
  path = rel_path(x, name);
  free(name);
  if (path == NULL)
    return cy_oom(x);
  rc = cy_read_file(path, 1024 * 1024, "file", out, &len, why, sizeof why);
  free(path);
  if (rc < 0)
    return cy_fail(x, n, "%s: %s", key, why);
  return 0;
}

static const struct nv tls_versions[] = {
    {"TLS12", 0x0303}, {"TLS13", 0x0304}, {NULL, 0}};
static const struct nv client_auth_types[] = {{"NoClientCert", 0},
                                              {"RequestClientCert", 1},
                                              {"VerifyClientCertIfGiven", 1},
                                              {"RequireAnyClientCert", 2},
                                              {"RequireAndVerifyClientCert", 2},
                                              {NULL, 0}};

static int parse_tls(struct ctx *x, const struct ynode *n,
                     struct mp_web_config *w)
{
  static const char *const keys[] = {"cert_file",
                                     "key_file",
                                     "client_auth_type",
                                     "client_ca_file",
                                     "min_version",
                                     "max_version",
                                     NULL};
  const struct ynode *v;
  if (cy_want_map(x, "tls_server_config", n) < 0 ||
      cy_check_keys(x, n, "tls_server_config", keys) < 0)
    return -1;
  w->tls = 1;
  if ((v = cy_get(n, "cert_file")) == NULL)
    return cy_fail(x, n, "tls_server_config: missing required key 'cert_file'");
  if (read_pem(x, "cert_file", v, &w->cert_pem) < 0)
    return -1;
  if ((v = cy_get(n, "key_file")) == NULL)
    return cy_fail(x, n, "tls_server_config: missing required key 'key_file'");
  if (read_pem(x, "key_file", v, &w->key_pem) < 0)
    return -1;
  if (cy_opt_enum(x, n, "client_auth_type", client_auth_types, 0,
                  &w->client_cert) < 0 ||
      cy_opt_enum(x, n, "min_version", tls_versions, 0, &w->min_version) < 0 ||
      cy_opt_enum(x, n, "max_version", tls_versions, 0, &w->max_version) < 0)
    return -1;
  if ((v = cy_get(n, "client_ca_file")) != NULL &&
      read_pem(x, "client_ca_file", v, &w->client_ca_pem) < 0)
    return -1;
  if (w->client_cert != 0 && w->client_ca_pem == NULL)
    return cy_fail(x, cy_get(n, "client_auth_type"),
                   "client certificates need 'client_ca_file' to verify them");
  return 0;
}

/* bcrypt as htpasswd -B and Go's bcrypt write it: $2a$, $2b$ or $2y$,
 * a two-digit cost, 53 characters of salt and hash. */
static int valid_bcrypt(const char *s)
{
  return strlen(s) == 60 && s[0] == '$' && s[1] == '2' &&
         (s[2] == 'a' || s[2] == 'b' || s[2] == 'y') && s[3] == '$' &&
         s[6] == '$';
}

static int parse_users(struct ctx *x, const struct ynode *n,
                       struct mp_web_config *w)
{
  w->users = cy_entries(x, "basic_auth_users", n, "basic_auth_users",
                        sizeof *w->users);
  if (w->users == NULL)
    return -1;
  for (size_t i = 0; i < n->nkids; i += 2) {
    struct mp_web_user *u = &w->users[w->nusers];
    if ((u->name = strdup(n->kids[i]->str)) == NULL)
      return cy_oom(x);
    w->nusers++;
    if (strchr(u->name, ':') != NULL)
      return cy_fail(x, n->kids[i], "a user name cannot contain ':'");
    if (cy_get_str_valid(x, u->name, n->kids[i + 1], valid_bcrypt,
                         "password hash",
                         "a bcrypt hash ($2y$..., 60 characters; htpasswd "
                         "-nB USER makes one)",
                         &u->hash) < 0)
      return -1;
  }
  return 0;
}

static int parse_root(struct ctx *x, const struct ynode *root,
                      struct mp_web_config *w)
{
  static const char *const keys[] = {"tls_server_config", "basic_auth_users",
                                     "bearer_auth_token_file", NULL};
  const struct ynode *v;
  if (root == NULL || cy_is_null(root))
    return 0; /* an empty web config: plain HTTP, no auth */
  if (root->kind != Y_MAP)
    return cy_fail(x, root, "the top level must be a map, not %s",
                   cy_describe(root));
  if (cy_check_keys(x, root, "the web config", keys) < 0)
    return -1;
  if ((v = cy_get(root, "tls_server_config")) != NULL && parse_tls(x, v, w) < 0)
    return -1;
  if ((v = cy_get(root, "basic_auth_users")) != NULL &&
      parse_users(x, v, w) < 0)
    return -1;
  if ((v = cy_get(root, "bearer_auth_token_file")) != NULL) {
    char *name = NULL, *path, why[512];
    int rc;
    if (cy_get_str(x, "bearer_auth_token_file", v, 0, &name) < 0)
      return -1;
    path = rel_path(x, name);
    free(name);
    if (path == NULL)
      return cy_oom(x);
    rc = mp_read_secret_file(path, &w->bearer_token, why, sizeof why);
    free(path);
    if (rc < 0)
      return cy_fail(x, v, "bearer_auth_token_file: %s", why);
    if (w->bearer_token[0] == '\0')
      return cy_fail(x, v, "bearer_auth_token_file: the file is empty");
  }
  return 0;
}

static int parse_root_doc(struct ctx *x, const struct ynode *root, void *w)
{
  return parse_root(x, root, w);
}

int mp_web_config_parse(const char *buf, size_t len, const char *name,
                        struct mp_web_config **out, char *err, size_t errlen)
{
  struct mp_web_config *w;
  int rc;

  name = name ? name : "<web config>";
  *out = NULL;
  w = calloc(1, sizeof *w);
  if (w == NULL || (w->file = strdup(name)) == NULL) {
    free(w);
    snprintf(err, errlen, "%s: out of memory", name);
    return MP_E_NO_RESOURCES;
  }
  rc = cy_parse_doc(buf, len, w->file, parse_root_doc, w, err, errlen);
  if (rc < 0) {
    mp_web_config_free(w);
    return rc;
  }
  *out = w;
  return 0;
}

int mp_web_config_load(const char *path, struct mp_web_config **out, char *err,
                       size_t errlen)
{
  char *buf;
  size_t len;
  int rc;
  *out = NULL;
  rc = cy_read_file(path, 1024 * 1024, "web config file", &buf, &len, err,
                    errlen);
  if (rc < 0)
    return rc;
  rc = mp_web_config_parse(buf, len, path, out, err, errlen);
  free(buf);
  return rc;
}

/* Wipes and frees a secret string. */
static void wipe(char *s)
{
  if (s != NULL)
    memset(s, 0, strlen(s));
  free(s);
}

void mp_web_config_free(struct mp_web_config *w)
{
  if (w == NULL)
    return;
  free(w->file);
  free(w->cert_pem);
  wipe(w->key_pem);
  free(w->client_ca_pem);
  for (size_t i = 0; i < w->nusers; i++) {
    free(w->users[i].name);
    free(w->users[i].hash);
  }
  free(w->users);
  wipe(w->bearer_token);
  free(w);
}

int mp_web_config_has_auth(const struct mp_web_config *w)
{
  return w != NULL && (w->nusers > 0 || w->bearer_token != NULL);
}
