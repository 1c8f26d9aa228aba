/* `mailprobe serve CASE.yaml`: holds a case's fake servers up on 127.0.0.1
 * for a real client (swaks, openssl s_client, a mail client) until SIGINT
 * or SIGTERM. */
#include "harness/cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "fake_servers/fake.h"
#include "fake_servers/mailstore.h"
#include "harness/cli/args.h"
#include "harness/case/case.h"
#include "harness/idp/idp.h"
#include "harness/run/runner.h"
#include "wire/cert.h"
#include "wire/cert_like.h"
#include "wire/errors.h"

static const char serve_usage[] =
    "usage: mailprobe serve CASE.yaml [--port NAME=PORT]...\n"
    "\n"
    "Starts the fake servers of a case file on 127.0.0.1 and keeps them up\n"
    "for a real client until SIGINT (Ctrl-C) or SIGTERM. Once all listen it\n"
    "prints one line per server, then where the CA certificate that signs\n"
    "their certificates was written (removed again at exit):\n"
    "\n"
    "  NAME PROTOCOL 127.0.0.1:PORT tls=MODE host=CERTNAME cert=KIND "
    "users=U:P,...\n"
    "  CA /tmp/mailprobe-ca-PID.pem\n"
    "\n"
    "tls= is none, starttls or implicit; host= the name on the server's\n"
    "certificate (what a client must ask for: curl --resolve, swaks\n"
    "--tls-verify-host); cert= valid, expired, not_yet_valid, self_signed or\n"
    "wrong_host, or recorded (like a recorded server's: docs/recording.md);\n"
    "users= the case's users and passwords (it is a fake; a recorded case's\n"
    "placeholder), - if none. The CA file is written once every server\n"
    "listens.\n"
    "\n"
    "options:\n"
    "  --port NAME=PORT  listen on PORT for server NAME (default or 0: any "
    "free\n"
    "                    port, printed; repeatable)\n"
    "  --ca FILE         write the CA certificate to FILE (default\n"
    "                    $TMPDIR/mailprobe-ca-PID.pem)\n"
    "  -h, --help        this help\n"
    "\n"
    "examples:\n"
    "  mailprobe serve cases/smtp/banner_just_over_timeout.yaml\n"
    "  mailprobe serve cases/smtp/happy_tls_starttls.yaml --port mx=2525 &\n"
    "  swaks --server 127.0.0.1:2525 --tls --tls-ca-path "
    "/tmp/mailprobe-ca-PID.pem\n";

enum { OPT_PORT = 1, OPT_CA, OPT_HELP };

static const struct mp_opt serve_opts[] = {
    {"port", 0, 1, OPT_PORT},
    {"ca", 0, 1, OPT_CA},
    {"help", 'h', 0, OPT_HELP},
};

struct port_arg {
  const char *name;
  size_t namelen;
  uint16_t port;
};

struct serve {
  uv_loop_t loop;
  uv_signal_t sigint, sigterm;
  struct mp_fake_server **servers;
  size_t nservers;
  struct mp_idp **idps; /* fake token endpoints (protocol oauth) */
  size_t nidps;
  size_t stopping;
  int stopped;
};

static char ca_path[4096];
static int ca_chosen; /* --ca FILE: the user's path, replaced if there */

static void remove_ca(void)
{
  if (ca_path[0])
    unlink(ca_path);
  ca_path[0] = '\0';
}

/* Writes the CA PEM where clients can find it; O_EXCL so a planted
 * symlink in a shared temp folder is never followed. */
static int write_ca(const char *pem, char *err, size_t errlen)
{
  const char *dir = getenv("TMPDIR");
  size_t len = strlen(pem), off = 0;
  ssize_t w;
  int fd;

  if (!dir || !dir[0])
    dir = "/tmp";
  if (!ca_chosen)
    snprintf(ca_path, sizeof(ca_path), "%s/mailprobe-ca-%ld.pem", dir,
             (long)getpid());
  fd = open(ca_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0 && errno == EEXIST) {
    /* A leftover of an earlier process with our pid, or of an earlier
     * serve with the same --ca. */
    unlink(ca_path);
    fd = open(ca_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  }
  if (fd < 0) {
    snprintf(err, errlen, "%.300s: %s", ca_path, strerror(errno));
    ca_path[0] = '\0';
    return -1;
  }
  while (off < len) {
    w = write(fd, pem + off, len - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      snprintf(err, errlen, "%.300s: %s", ca_path, strerror(errno));
      close(fd);
      remove_ca();
      return -1;
    }
    off += (size_t)w;
  }
  close(fd);
  return 0;
}

static void on_stopped(void *data)
{
  struct serve *sv = data;

  if (--sv->stopping == 0) {
    uv_close((uv_handle_t *)&sv->sigint, NULL);
    uv_close((uv_handle_t *)&sv->sigterm, NULL);
  }
}

static void stop_all(struct serve *sv)
{
  size_t i;

  if (sv->stopped)
    return;
  sv->stopped = 1;
  sv->stopping = 1;
  for (i = 0; i < sv->nservers; i++) {
    if (!sv->servers[i])
      continue;
    sv->stopping++;
    mp_fake_stop(sv->servers[i], on_stopped, sv);
    sv->servers[i] = NULL;
  }
  for (i = 0; i < sv->nidps; i++) {
    if (!sv->idps[i])
      continue;
    sv->stopping++;
    mp_idp_stop(sv->idps[i], on_stopped, sv);
    sv->idps[i] = NULL;
  }
  on_stopped(sv);
}

static void on_signal(uv_signal_t *h, int signum)
{
  struct serve *sv = h->data;

  fprintf(stderr, "mailprobe serve: %s, stopping\n",
          signum == SIGINT ? "interrupted" : "terminated");
  stop_all(sv);
}

static int usage_error(const char *msg)
{
  fprintf(stderr, "mailprobe serve: %s\nTry 'mailprobe serve --help'.\n", msg);
  return MP_EXIT_USAGE;
}

static const char *proto_name(enum mp_fake_proto p)
{
  switch (p) {
  case MP_FAKE_POP3:
    return "pop3";
  case MP_FAKE_IMAP:
    return "imap";
  default:
    return "smtp";
  }
}

/* One server for the person at the other end: where it is, how it
 * speaks TLS, the name its certificate carries, who may log in. */
static void print_server(const struct mp_fake_config *cfg, unsigned port)
{
  static const char *const tls[] = {"none", "starttls", "implicit"};
  const char *host = cfg->hostname ? cfg->hostname : "mx.example.test";

  const char *kind = mp_cert_kind_name((enum mp_cert_kind)cfg->cert);

  if (cfg->cert == MP_CERT_WRONG_HOST)
    host = mp_cert_wrong_host();
  if (cfg->cert_like) {
    /* like a recorded one (wire/cert_like.h): its first DNS name */
    kind = "recorded";
    for (size_t i = cfg->cert_like->nsans; i > 0; i--)
      if (strncmp(cfg->cert_like->sans[i - 1], "DNS:", 4) == 0)
        host = cfg->cert_like->sans[i - 1] + 4;
  }
  printf("%s %s 127.0.0.1:%u tls=%s host=%s cert=%s users=",
         cfg->name ? cfg->name : "-", proto_name(cfg->proto), port,
         (unsigned)cfg->tls < 3 ? tls[cfg->tls] : "?", host, kind);
  if (cfg->nusers == 0)
    fputs("-", stdout);
  for (size_t i = 0; i < cfg->nusers; i++)
    printf("%s%s:%s", i ? "," : "", cfg->users[i].name,
           cfg->users[i].password ? cfg->users[i].password : "");
  fputc('\n', stdout);
}

int mp_cli_serve(int argc, char **argv)
{
  struct serve sv;
  struct port_arg *ports = NULL;
  size_t nports = 0, i, k;
  struct mp_case *c = NULL;
  struct mp_mailstore *store = NULL;
  struct mp_ca *ca = NULL;
  struct mp_fake_env env;
  struct mp_args a;
  const char *val, *file = NULL;
  char err[512];
  int id, rc = MP_EXIT_USAGE, loop_up = 0;

  memset(&sv, 0, sizeof(sv));
  mp_args_init(&a, argc, argv);
  while ((id = mp_args_next(&a, serve_opts,
                            sizeof(serve_opts) / sizeof(*serve_opts), &val, err,
                            sizeof(err))) != MP_ARG_END) {
    switch (id) {
    case MP_ARG_ERROR:
      rc = usage_error(err);
      goto out;
    case MP_ARG_POSITIONAL:
      if (file) {
        rc = usage_error("one case file only");
        goto out;
      }
      file = val;
      break;
    case OPT_PORT: {
      const char *eq = strchr(val, '=');
      unsigned long port;
      struct port_arg *np;

      if (!eq || eq == val) {
        snprintf(err, sizeof(err), "--port: expected NAME=PORT, got \"%s\"",
                 val);
        rc = usage_error(err);
        goto out;
      }
      if (mp_args_uint("port", eq + 1, 0, 65535, &port, err, sizeof(err)) < 0) {
        rc = usage_error(err);
        goto out;
      }
      np = realloc(ports, (nports + 1) * sizeof(*np));
      if (!np) {
        rc = usage_error("out of memory");
        goto out;
      }
      ports = np;
      ports[nports].name = val;
      ports[nports].namelen = (size_t)(eq - val);
      ports[nports].port = (uint16_t)port;
      nports++;
      break;
    }
    case OPT_CA:
      if (strlen(val) >= sizeof(ca_path)) {
        rc = usage_error("--ca: the path is too long");
        goto out;
      }
      snprintf(ca_path, sizeof(ca_path), "%s", val);
      ca_chosen = 1;
      break;
    case OPT_HELP:
      fputs(serve_usage, stdout);
      rc = 0;
      goto out;
    }
  }
  if (!file) {
    rc = usage_error("missing the case file");
    goto out;
  }
  err[0] = '\0';
  if (mp_case_load(file, &c, err, sizeof(err)) < 0) {
    c = NULL;
    fprintf(stderr, "mailprobe serve: %s\n", err[0] ? err : file);
    goto out;
  }
  if (c->nservers == 0 && c->nidps == 0) {
    fprintf(stderr, "mailprobe serve: %s: the case has no servers\n", file);
    goto out;
  }
  for (k = 0; k < nports; k++) {
    for (i = 0; i < c->nservers; i++)
      if (c->servers[i].name &&
          strlen(c->servers[i].name) == ports[k].namelen &&
          strncmp(c->servers[i].name, ports[k].name, ports[k].namelen) == 0)
        break;
    if (i == c->nservers) {
      snprintf(err, sizeof(err), "--port: the case has no server \"%.*s\"",
               (int)ports[k].namelen, ports[k].name);
      rc = usage_error(err);
      goto out;
    }
  }

  ca = mp_ca_new("mailprobe serve CA", MP_KEY_EC_P256);
  store = mp_mailstore_new();
  sv.servers = calloc(c->nservers + 1, sizeof(*sv.servers));
  if (!ca || !store || !sv.servers || mp_run_seed_mail(c, store) < 0) {
    fprintf(stderr, "mailprobe serve: could not make the CA or the store\n");
    goto out;
  }
  if (uv_loop_init(&sv.loop) < 0) {
    fprintf(stderr, "mailprobe serve: could not start the event loop\n");
    goto out;
  }
  loop_up = 1;
  sv.nservers = c->nservers;
  env.ca = ca;
  env.store = store;
  for (i = 0; i < c->nservers; i++) {
    const struct mp_fake_config *cfg = &c->servers[i];
    uint16_t port = 0;

    for (k = 0; k < nports; k++)
      if (cfg->name && strlen(cfg->name) == ports[k].namelen &&
          strncmp(cfg->name, ports[k].name, ports[k].namelen) == 0)
        port = ports[k].port;
    id = mp_fake_start(&sv.loop, cfg, &env, "127.0.0.1", port, &sv.servers[i]);
    if (id < 0) {
      sv.servers[i] = NULL;
      fprintf(stderr, "mailprobe serve: server %s on 127.0.0.1:%u: %s\n",
              cfg->name ? cfg->name : "?", (unsigned)port, mp_err_message(id));
      break;
    }
  }
  int idp_failed = 0;
  sv.idps = c->nidps ? calloc(c->nidps, sizeof(*sv.idps)) : NULL;
  sv.nidps = sv.idps ? c->nidps : 0;
  for (k = 0; i == c->nservers && k < sv.nidps; k++) {
    if (mp_idp_start(&sv.loop, &c->idps[k], &sv.idps[k], err, sizeof(err)) <
        0) {
      sv.idps[k] = NULL;
      fprintf(stderr, "mailprobe serve: token endpoint %s: %s\n",
              c->idps[k].name, err);
      idp_failed = 1;
      break;
    }
  }
  uv_signal_init(&sv.loop, &sv.sigint);
  uv_signal_init(&sv.loop, &sv.sigterm);
  sv.sigint.data = sv.sigterm.data = &sv;
  if (i < c->nservers || idp_failed) {
    stop_all(&sv);
    uv_run(&sv.loop, UV_RUN_DEFAULT);
    goto out;
  }
  /* The CA file appears once every server listens: a script may wait
   * for it. */
  if (write_ca(mp_ca_pem(ca), err, sizeof(err)) < 0) {
    fprintf(stderr, "mailprobe serve: %s\n", err);
    stop_all(&sv);
    uv_run(&sv.loop, UV_RUN_DEFAULT);
    goto out;
  }
  atexit(remove_ca);
  uv_signal_start(&sv.sigint, on_signal, SIGINT);
  uv_signal_start(&sv.sigterm, on_signal, SIGTERM);
  for (i = 0; i < c->nservers; i++)
    print_server(&c->servers[i], mp_fake_port(sv.servers[i]));
  for (k = 0; k < sv.nidps; k++)
    printf("%s oauth 127.0.0.1:%u\n", c->idps[k].name,
           (unsigned)mp_idp_port(sv.idps[k]));
  printf("CA %s\n", ca_path);
  fflush(stdout);
  fprintf(stderr, "mailprobe serve: %s: listening; Ctrl-C stops\n", file);
  uv_run(&sv.loop, UV_RUN_DEFAULT);
  rc = 0;

out:
  if (loop_up && uv_loop_close(&sv.loop) != 0)
    fprintf(stderr, "mailprobe serve: handles left open on the loop\n");
  remove_ca();
  free(sv.servers);
  free(sv.idps);
  mp_mailstore_free(store);
  mp_ca_free(ca);
  if (c)
    mp_case_free(c);
  free(ports);
  return rc;
}
