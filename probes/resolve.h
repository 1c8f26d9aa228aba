/* Name resolution for probes, on the loop (c-ares; never the blocking
 * resolver, never libuv's thread pool). The seeds' DNS options: resolve
 * modes and custom host mappings ("IP name name ...").
 *
 * Order of lookups:
 *   1. an IP literal ("192.0.2.1", "2001:db8::1", "[2001:db8::1]",
 *      "fe80::1%eth0") answers as written, whatever the mode;
 *   2. the custom host mappings (opts->hosts): a name matches
 *      case-insensitively, a trailing dot ignored; a mapped name is
 *      answered from the mappings only (never DNS), filtered by the mode's
 *      families, so "ipv6" on a name mapped to IPv4 only is dns_failed;
 *   3. "localhost" and names under it (RFC 6761 6.3): 127.0.0.1 and ::1,
 *      filtered by the mode, without DNS;
 *   4. c-ares: the servers are opts->server when set (in any mode), else
 *      the system's (/etc/resolv.conf). The hosts file is read only in
 *      modes that use the system's servers and are not MP_DNS_NO_CACHE.
 *
 * The modes choose the servers and the families:
 *   system      system servers + /etc/hosts; A and AAAA, sorted by c-ares
 *               (RFC 6724 destination address selection);
 *   no_cache    system servers, no hosts file (c-ares 1.18 keeps no cache,
 *               so this means "ask the servers");
 *   server      opts->server (required); A and AAAA, sorted as in system;
 *   ipv4/ipv6   A only / AAAA only;
 *   prefer_ipv4 A; only if that finds no address (no record, no such name,
 *               a server failure; not a timeout), AAAA;
 *   prefer_ipv6 the same with AAAA first.
 *
 * Every lookup has one hard deadline (opts->timeout_ms); c-ares retries
 * inside it. Whatever goes wrong (no such name, no address of the family,
 * a server that never answers, a refused port) ends as MP_E_DNS_FAILED.
 *
 * Each lookup has its own c-ares channel: modes, servers and timeouts differ
 * per probe, nothing is shared between probes or outlives the lookup, and
 * the loop closes cleanly without a per-loop teardown call. The cost is one
 * read of /etc/resolv.conf (page-cached) and one UDP socket per lookup,
 * which a probe's own TCP socket dwarfs. */
#ifndef MP_RESOLVE_H
#define MP_RESOLVE_H

#include <stddef.h>
#include <stdint.h>

struct uv_loop_s;
struct sockaddr_storage;
struct mp_resolve;

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
  const char *ip;   /* "127.0.0.1" or "::1" */
  const char *name; /* "mx.example.test" */
};

#define MP_RESOLVE_DEFAULT_TIMEOUT_MS 6000u

struct mp_resolve_opts {
  enum mp_dns_mode mode;
  /* "IP[:port]" or "[IPv6]:port" or a bare IPv6; port 53 when absent;
   * several servers separated by commas. Required by MP_DNS_SERVER, used
   * by any mode when set. Never a name (that would need DNS). */
  const char *server;
  const struct mp_host_map *hosts; /* custom mappings, checked first */
  size_t nhosts;
  /* The whole lookup, fallbacks and retries included; 0: the default
   * (MP_RESOLVE_DEFAULT_TIMEOUT_MS). Each try gets a third of it and
   * c-ares tries twice (the second try waits twice as long). */
  uint64_t timeout_ms;
};

#define MP_RESOLVE_MAX 8

/* Results: up to MP_RESOLVE_MAX addresses (port set), in the order to try,
 * without duplicates. addrs is NULL and n 0 on failure; the array lives
 * until cb returns. */
typedef void (*mp_resolve_cb)(int status, const struct sockaddr_storage *addrs,
                              size_t n, void *data);

/* Resolves host and sets port on each address. cb runs once, later (never
 * from inside this call), with 0 or MP_E_DNS_FAILED. A negative return
 * means cb will never run: MP_E_NO_RESOURCES (memory, sockets, a c-ares
 * channel), MP_E_DNS_FAILED (host NULL or empty, an unknown mode, a bad
 * opts->server, MP_DNS_SERVER without one). opts may be NULL (system);
 * its strings need to live only during this call. */
int mp_resolve(struct uv_loop_s *loop, const char *host, uint16_t port,
               const struct mp_resolve_opts *opts, mp_resolve_cb cb,
               void *data);

/* The same, and *req (when not NULL) is set to a handle for
 * mp_resolve_cancel, valid until cb starts to run or the cancel. */
int mp_resolve_start(struct uv_loop_s *loop, const char *host, uint16_t port,
                     const struct mp_resolve_opts *opts, mp_resolve_cb cb,
                     void *data, struct mp_resolve **req);

/* Stops a lookup whose cb has not run yet: cb never runs; queries are
 * dropped and the handles close (the memory goes at their close callbacks,
 * so run the loop before uv_loop_close). Must not be called from cb or
 * after it. */
void mp_resolve_cancel(struct mp_resolve *req);

/* "system" <-> MP_DNS_SYSTEM ...; -1 if unknown. The names: system,
 * no_cache, server, ipv4, ipv6, prefer_ipv4, prefer_ipv6. */
int mp_dns_mode_from_name(const char *name);
const char *mp_dns_mode_name(enum mp_dns_mode m);

/* Parses one custom host mapping line, "IP name [name ...]" as in
 * /etc/hosts: fields separated by spaces or tabs, a '#' starts a comment.
 * The IP is an IPv4 or IPv6 literal (brackets allowed and dropped, an IPv6
 * zone "%eth0" kept); each name is a host name (letters, digits, '-', '_',
 * '.', at most 253 bytes) and not itself an IP literal. On success *out is
 * one malloc'd block with *n entries (one per name, all with the same ip)
 * whose strings live in the same block: free(*out) releases everything.
 * Returns 0, MP_E_PROTOCOL_ERROR with a message in err (when err is not
 * NULL) for a bad line, or MP_E_NO_RESOURCES. Knows no libuv, no DNS. */
int mp_host_map_parse(const char *line, struct mp_host_map **out, size_t *n,
                      char *err, size_t errlen);

/* Parses an IP literal as mp_resolve does (brackets allowed, IPv6 zone
 * by name or number) into *ss with the given port. 0 or MP_E_DNS_FAILED
 * when s is not an IP literal. */
int mp_ip_literal_parse(const char *s, uint16_t port,
                        struct sockaddr_storage *ss);

#endif
