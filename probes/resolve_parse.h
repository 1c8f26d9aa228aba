/* What name resolution (probes/resolve.c) takes from its parsing half
 * (probes/resolve_parse.c) besides the parsers resolve.h exports. Pure.
 * Internal to probes/. */
#ifndef MP_RESOLVE_PARSE_H
#define MP_RESOLVE_PARSE_H

struct ares_addr_port_node;

/* "IP[:port]", "[IPv6]:port" or a bare IPv6, comma separated, into nodes
 * (up to max, linked in order; port 53 when absent). Returns the count,
 * or -1 for a bad list. */
int mp_dns_servers_parse(const char *spec, struct ares_addr_port_node *nodes,
                         int max);

/* Case-insensitive host name equality; one trailing dot on either side is
 * ignored ("MX.example.test." == "mx.example.test"). */
int mp_host_name_eq(const char *a, const char *b);

/* RFC 6761 6.3: 1 for "localhost" and names ending in ".localhost". */
int mp_host_is_localhost(const char *name);

#endif
