/* Name resolution for probes, on the loop (c-ares; never the blocking
 * resolver). IP literals skip DNS. The seeds' DNS options: resolve modes and
 * custom host mappings ("IP name name ..."). */
#ifndef MP_RESOLVE_H
#define MP_RESOLVE_H

#include <stddef.h>
#include <stdint.h>

struct uv_loop_s;
struct sockaddr_storage;

enum mp_dns_mode {
  MP_DNS_SYSTEM = 0, /* the system's servers and /etc/hosts */
  MP_DNS_NO_CACHE,   /* ask the servers every time (no hosts file) */
  MP_DNS_SERVER,     /* ask the given server */
  MP_DNS_IPV4,       /* A records only */
  MP_DNS_IPV6,       /* AAAA only */
  MP_DNS_PREFER_V4,  /* A first, AAAA if none */
  MP_DNS_PREFER_V6   /* AAAA first, A if none */
};

struct mp_host_map {
  const char *ip;    /* "127.0.0.1" or "::1" */
  const char *name;  /* "mx.example.test" */
};

struct mp_resolve_opts {
  enum mp_dns_mode mode;
  const char *server;           /* MP_DNS_SERVER: "127.0.0.1[:port]" */
  const struct mp_host_map *hosts; /* custom mappings, checked first */
  size_t nhosts;
};

#define MP_RESOLVE_MAX 8

/* Results: up to MP_RESOLVE_MAX addresses (port set), in the order to try. */
typedef void (*mp_resolve_cb)(int status, const struct sockaddr_storage *addrs,
                              size_t n, void *data);

/* Resolves host and sets port on each address. cb runs once, later (never
 * from inside this call), with 0 or MP_E_DNS_FAILED. */
int mp_resolve(struct uv_loop_s *loop, const char *host, uint16_t port,
               const struct mp_resolve_opts *opts, mp_resolve_cb cb,
               void *data);

/* "system" <-> MP_DNS_SYSTEM ...; -1 if unknown. */
int mp_dns_mode_from_name(const char *name);
const char *mp_dns_mode_name(enum mp_dns_mode m);

#endif
