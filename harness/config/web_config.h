/* The web config of the HTTP side of the long-running commands, in the
 * format of Prometheus' exporters (exporter-toolkit's web.yml):
 *
 *   tls_server_config:
 *     cert_file: server.crt        # relative to the web config file
 *     key_file: server.key
 *     client_auth_type: RequireAndVerifyClientCert   # optional
 *     client_ca_file: clients.pem
 *     min_version: TLS12            # TLS12 or TLS13
 *     max_version: TLS13
 *   basic_auth_users:
 *     prometheus: $2y$10$...        # bcrypt hashes (htpasswd -B)
 *   bearer_auth_token_file: token   # mailprobe's own: a bearer token
 *
 * Read strictly (file:line:column errors); files are read when the web
 * config is loaded. Pure: no event loop. */
#ifndef MP_WEB_CONFIG_H
#define MP_WEB_CONFIG_H

#include <stddef.h>

struct mp_web_user {
  char *name;
  char *hash; /* bcrypt, "$2y$10$..." */
};

struct mp_web_config {
  char *file;
  int tls;                      /* tls_server_config was given */
  char *cert_pem, *key_pem;     /* the files' contents */
  char *client_ca_pem;          /* or NULL */
  int client_cert;              /* 0 NoClientCert, 1 VerifyClientCertIfGiven
                                   (and RequestClientCert), 2 Require... */
  int min_version, max_version; /* 0x0303, 0x0304; 0: default */
  struct mp_web_user *users;
  size_t nusers;
  char *bearer_token; /* or NULL */
};

/* Loads a web config file. 0 and *out, or a negative code with
 * "file:line:column: message" in err. */
int mp_web_config_load(const char *path, struct mp_web_config **out, char *err,
                       size_t errlen);

/* The same from memory (name: in messages, and where relative paths
 * start). */
int mp_web_config_parse(const char *buf, size_t len, const char *name,
                        struct mp_web_config **out, char *err, size_t errlen);

/* Frees it (secrets wiped); NULL is fine. */
void mp_web_config_free(struct mp_web_config *w);

/* 1 if w asks for authentication (users or a bearer token). */
int mp_web_config_has_auth(const struct mp_web_config *w);

#endif
