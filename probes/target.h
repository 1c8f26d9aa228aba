/* Where a probe goes, as people write it: a URL (`smtps://host:465`) says
 * the protocol, the TLS mode and the port a scheme means; "host:port"
 * (case files' `target:`, --dns-server, bench targets) names a server.
 * This is the probe's contract, so it lives beside mp_default_port: the
 * command line, the runner and the benchmarks all read targets here.
 * Pure: no event loop. */
#ifndef MP_TARGET_H
#define MP_TARGET_H

#include <stddef.h>
#include <stdint.h>

#include "probes/probe.h"

/* What a URL names. */
struct mp_url {
  enum mp_proto proto;
  enum mp_tls_mode tls; /* the scheme's mode: implicit for smtps/pop3s/
                           imaps, starttls for submission, else auto */
  char host[256];       /* a name or an IP literal, brackets removed */
  uint16_t port;        /* given, or the scheme's port */
  int port_given;
};

/* Parses "scheme://host[:port][/]" with scheme one of smtp, smtps,
 * submission, pop3, pop3s, imap, imaps (any case) and IPv6 literals in
 * brackets. 0 or -1 with a message. */
int mp_url_parse(const char *url, struct mp_url *u, char *err, size_t errlen);

/* Parses "host:port", "[v6]:port", or without a port when default_port is
 * nonzero ("host", "[v6]", or a bare IPv6 literal). 0 or -1. */
int mp_hostport_parse(const char *s, uint16_t default_port, char *host,
                      size_t hostlen, uint16_t *port, char *err, size_t errlen);

/* Writes "host:port", or "[host]:port" when host is an IPv6 literal: the
 * way results and messages name a target. */
void mp_hostport_format(char *buf, size_t len, const char *host, uint16_t port);

/* 1 if s is a host name: letters, digits, '-', '.', '_' (RFC 1123 2.1
 * names, and the underscores real zones contain); else 0. */
int mp_host_name_valid(const char *s);

#endif
