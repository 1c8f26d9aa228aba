/* Unit tests for probes/resolve.c: IP literals, localhost and the custom
 * host mappings answer without DNS; the rest goes to a stub DNS server on
 * 127.0.0.1:<random port> (tests/dns_stub.c) through mode "server" or any
 * mode with opts.server set. No test sends DNS anywhere else: mode
 * "system" is only used where no DNS is needed. Every callback must run
 * from the loop, never inside mp_resolve(), and every test ends with
 * uv_loop_close() == 0. */
#include "probes/resolve.h"

#include "wire/errors.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#include "tests/dns_stub.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* --- Helpers ------------------------------------------------------------ */

static int in_resolve; /* set while mp_resolve() runs */

struct got {
  int called;
  int status;
  size_t n;
  char addrs[512]; /* "127.0.0.2:25 [::1]:25", sorted when asked */
  uint64_t t_ms;   /* when cb ran, since start */
  uint64_t start;
};

static void fmt_addr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
  char ip[INET6_ADDRSTRLEN];

  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

    inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
    snprintf(buf, len, "%s:%u", ip, ntohs(sin->sin_port));
  } else {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

    inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
    if (sin6->sin6_scope_id != 0)
      snprintf(buf, len, "[%s%%%u]:%u", ip, (unsigned)sin6->sin6_scope_id,
               ntohs(sin6->sin6_port));
    else
      snprintf(buf, len, "[%s]:%u", ip, ntohs(sin6->sin6_port));
  }
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void on_resolved(int status, const struct sockaddr_storage *addrs,
                        size_t n, void *data)
{
  struct got *g = data;
  size_t i;

  ck_assert_msg(!in_resolve, "cb ran inside mp_resolve()");
  g->called++;
  g->status = status;
  g->n = n;
  g->t_ms = (uv_hrtime() / 1000000) - g->start;
  g->addrs[0] = '\0';
  if (status != 0) {
    ck_assert_ptr_null(addrs);
    ck_assert_uint_eq(n, 0);
    return;
  }
  ck_assert_ptr_nonnull(addrs);
  ck_assert_uint_gt(n, 0);
  ck_assert_uint_le(n, MP_RESOLVE_MAX);
  for (i = 0; i < n; i++) {
    char one[80];

    fmt_addr(&addrs[i], one, sizeof(one));
    if (i > 0)
      strcat(g->addrs, " ");
    strcat(g->addrs, one);
  }
}

/* Sorts the space-separated addresses of g (for answers whose order c-ares
 * decides). */
static void sort_addrs(struct got *g)
{
  char buf[512], *v[MP_RESOLVE_MAX + 1], *tok, *save = NULL;
  size_t n = 0, i;

  memcpy(buf, g->addrs, sizeof(buf));
  for (tok = strtok_r(buf, " ", &save); tok && n < N(v);
       tok = strtok_r(NULL, " ", &save))
    v[n++] = tok;
  qsort(v, n, sizeof(v[0]), cmp_str);
  g->addrs[0] = '\0';
  for (i = 0; i < n; i++) {
    if (i > 0)
      strcat(g->addrs, " ");
    strcat(g->addrs, v[i]);
  }
}

/* Starts a lookup that must be accepted, checking cb did not run yet. */
static void start(uv_loop_t *loop, const char *host, uint16_t port,
                  const struct mp_resolve_opts *o, struct got *g,
                  struct mp_resolve **req)
{
  int rc;

  g->start = uv_hrtime() / 1000000;
  in_resolve = 1;
  rc = mp_resolve_start(loop, host, port, o, on_resolved, g, req);
  in_resolve = 0;
  ck_assert_int_eq(rc, 0);
  ck_assert_int_eq(g->called, 0);
}

/* Resolves one name to the end on a fresh loop. */
static void resolve_once(uv_loop_t *loop, const char *host, uint16_t port,
                         const struct mp_resolve_opts *o, struct got *g)
{
  memset(g, 0, sizeof(*g));
  start(loop, host, port, o, g, NULL);
  ck_assert_int_eq(uv_run(loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(g->called, 1);
}

static void loop_done(uv_loop_t *loop)
{
  uv_run(loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(loop), 0);
}

static char *server_spec(char *buf, size_t len, uint16_t port)
{
  snprintf(buf, len, "127.0.0.1:%u", port);
  return buf;
}

/* --- Mode names ---------------------------------------------------------- */

static const struct {
  const char *name;
  int mode;
} mode_names[] = {
    {"system", MP_DNS_SYSTEM},
    {"no_cache", MP_DNS_NO_CACHE},
    {"server", MP_DNS_SERVER},
    {"ipv4", MP_DNS_IPV4},
    {"ipv6", MP_DNS_IPV6},
    {"prefer_ipv4", MP_DNS_PREFER_V4},
    {"prefer_ipv6", MP_DNS_PREFER_V6},
};

START_TEST(test_mode_names)
{
  ck_assert_int_eq(mp_dns_mode_from_name(mode_names[_i].name),
                   mode_names[_i].mode);
  ck_assert_str_eq(mp_dns_mode_name(mode_names[_i].mode), mode_names[_i].name);
}
END_TEST

START_TEST(test_mode_names_unknown)
{
  ck_assert_int_eq(mp_dns_mode_from_name("System"), -1);
  ck_assert_int_eq(mp_dns_mode_from_name("prefer_v4"), -1);
  ck_assert_int_eq(mp_dns_mode_from_name(""), -1);
  ck_assert_int_eq(mp_dns_mode_from_name(NULL), -1);
  ck_assert_ptr_null(mp_dns_mode_name((enum mp_dns_mode)99));
  ck_assert_ptr_null(mp_dns_mode_name((enum mp_dns_mode) - 1));
}
END_TEST

/* --- mp_host_map_parse --------------------------------------------------- */

static const struct {
  const char *line;
  const char *ip;
  const char *names; /* space separated */
} map_good[] = {
    {"127.0.0.1 mx.example.test", "127.0.0.1", "mx.example.test"},
    {"::1 mx", "::1", "mx"},
    {"[2001:db8::1] a.test b.test", "2001:db8::1", "a.test b.test"},
    {"  192.0.2.1\ta.test   B.Test  c-d_e.test.  ", "192.0.2.1",
     "a.test B.Test c-d_e.test."},
    {"192.0.2.1 a.test # the old one", "192.0.2.1", "a.test"},
    {"192.0.2.1 a.test#comment", "192.0.2.1", "a.test"},
    {"fe80::1%eth0 ll.test", "fe80::1%eth0", "ll.test"},
    {"::ffff:127.0.0.1 mapped.test\n", "::ffff:127.0.0.1", "mapped.test"},
};

START_TEST(test_host_map_parse_good)
{
  struct mp_host_map *v = NULL;
  size_t n = 99, i;
  char err[128], names[256] = "";

  ck_assert_int_eq(
      mp_host_map_parse(map_good[_i].line, &v, &n, err, sizeof(err)), 0);
  ck_assert_ptr_nonnull(v);
  ck_assert_uint_gt(n, 0);
  for (i = 0; i < n; i++) {
    ck_assert_str_eq(v[i].ip, map_good[_i].ip);
    if (i > 0)
      strcat(names, " ");
    strcat(names, v[i].name);
  }
  ck_assert_str_eq(names, map_good[_i].names);
  free(v);
}
END_TEST

static const struct {
  const char *line;
  const char *err; /* a part of the message */
} map_bad[] = {
    {"", "expected"},
    {"   # only a comment", "expected"},
    {"127.0.0.1", "needs a host name"},
    {"127.0.0.1   # no name", "needs a host name"},
    {"300.1.1.1 mx.test", "not an IPv4 or IPv6"},
    {"1.2.3 mx.test", "not an IPv4 or IPv6"},
    {"mx.test 127.0.0.1", "not an IPv4 or IPv6"},
    {"[127.0.0.1 mx.test", "not an IPv4 or IPv6"},
    {"::1%%bad mx.test", "not an IPv4 or IPv6"},
    {"::1% mx.test", "not an IPv4 or IPv6"},
    {"127.0.0.1 192.0.2.1", "is an address"},
    {"127.0.0.1 mx.test ::1", "is an address"},
    {"127.0.0.1 mx..test", "not a host name"},
    {"127.0.0.1 .mx.test", "not a host name"},
    {"127.0.0.1 mx/test", "not a host name"},
    {"127.0.0.1 m\xc3\xa9.test", "not a host name"},
    {"127.0.0.1 "
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.test",
     "not a host name"},
};

START_TEST(test_host_map_parse_bad)
{
  struct mp_host_map *v = (struct mp_host_map *)1;
  size_t n = 99;
  char err[128] = "";

  ck_assert_int_eq(
      mp_host_map_parse(map_bad[_i].line, &v, &n, err, sizeof(err)),
      MP_E_PROTOCOL_ERROR);
  ck_assert_ptr_null(v);
  ck_assert_uint_eq(n, 0);
  ck_assert_msg(strstr(err, map_bad[_i].err) != NULL, "\"%s\": got \"%s\"",
                map_bad[_i].line, err);
}
END_TEST

START_TEST(test_host_map_parse_no_err_buffer)
{
  struct mp_host_map *v;
  size_t n;

  ck_assert_int_eq(mp_host_map_parse("nope", &v, &n, NULL, 0),
                   MP_E_PROTOCOL_ERROR);
  ck_assert_int_eq(mp_host_map_parse(NULL, &v, &n, NULL, 0),
                   MP_E_PROTOCOL_ERROR);
}
END_TEST

/* A long name of 253 bytes is a name; 254 is not. */
START_TEST(test_host_map_parse_name_length)
{
  char line[300], label[64];
  struct mp_host_map *v;
  size_t n;

  memset(label, 'a', 63);
  label[63] = '\0';
  /* 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 */
  snprintf(line, sizeof(line), "::1 %s.%s.%s.%.61s", label, label, label,
           label);
  ck_assert_int_eq(mp_host_map_parse(line, &v, &n, NULL, 0), 0);
  ck_assert_uint_eq(strlen(v[0].name), 253);
  free(v);
  snprintf(line, sizeof(line), "::1 %s.%s.%s.%.62s", label, label, label,
           label);
  ck_assert_int_eq(mp_host_map_parse(line, &v, &n, NULL, 0),
                   MP_E_PROTOCOL_ERROR);
}
END_TEST

/* --- Literals and localhost (no DNS at all) ----------------------------- */

static const struct {
  const char *host;
  int mode;
  const char *want; /* NULL: dns_failed */
} literals[] = {
    {"192.0.2.1", MP_DNS_SYSTEM, "192.0.2.1:25"},
    {"127.0.0.1", MP_DNS_SYSTEM, "127.0.0.1:25"},
    {"::1", MP_DNS_SYSTEM, "[::1]:25"},
    {"[::1]", MP_DNS_SYSTEM, "[::1]:25"},
    {"[2001:db8::5]", MP_DNS_SYSTEM, "[2001:db8::5]:25"},
    {"2001:DB8:0:0::5", MP_DNS_SYSTEM, "[2001:db8::5]:25"},
    {"[192.0.2.7]", MP_DNS_SYSTEM, "192.0.2.7:25"},
    {"fe80::1%1", MP_DNS_SYSTEM, "[fe80::1%1]:25"},
    {"[fe80::1%1]", MP_DNS_SYSTEM, "[fe80::1%1]:25"},
    /* A literal is what the user asked for, whatever the mode. */
    {"192.0.2.1", MP_DNS_IPV6, "192.0.2.1:25"},
    {"::1", MP_DNS_IPV4, "[::1]:25"},
    {"::1", MP_DNS_NO_CACHE, "[::1]:25"},
    /* Not names, not usable addresses: refused without DNS. */
    {"[mx.example.test]", MP_DNS_SYSTEM, NULL},
    {"[::1", MP_DNS_SYSTEM, NULL},
    {"fe80::1%no-such-if9", MP_DNS_SYSTEM, NULL},
    {"1:2:3", MP_DNS_SYSTEM, NULL},
    /* RFC 6761 6.3 */
    {"localhost", MP_DNS_SYSTEM, "127.0.0.1:25 [::1]:25"},
    {"LocalHost.", MP_DNS_NO_CACHE, "127.0.0.1:25 [::1]:25"},
    {"mx.localhost", MP_DNS_SYSTEM, "127.0.0.1:25 [::1]:25"},
    {"localhost", MP_DNS_IPV4, "127.0.0.1:25"},
    {"localhost", MP_DNS_IPV6, "[::1]:25"},
    {"localhost", MP_DNS_PREFER_V4, "127.0.0.1:25"},
    {"localhost", MP_DNS_PREFER_V6, "[::1]:25"},
};

START_TEST(test_literals_and_localhost)
{
  uv_loop_t loop;
  struct mp_resolve_opts o = {0};
  struct got g;

  ck_assert_int_eq(uv_loop_init(&loop), 0);
  o.mode = literals[_i].mode;
  resolve_once(&loop, literals[_i].host, 25, &o, &g);
  if (literals[_i].want == NULL) {
    ck_assert_int_eq(g.status, MP_E_DNS_FAILED);
  } else {
    ck_assert_int_eq(g.status, 0);
    ck_assert_str_eq(g.addrs, literals[_i].want);
  }
  loop_done(&loop);
}
END_TEST

/* NULL options mean "system"; the port is set on every address. */
START_TEST(test_null_opts_and_port)
{
  uv_loop_t loop;
  struct got g;

  ck_assert_int_eq(uv_loop_init(&loop), 0);
  resolve_once(&loop, "localhost", 65535, NULL, &g);
  ck_assert_int_eq(g.status, 0);
  ck_assert_str_eq(g.addrs, "127.0.0.1:65535 [::1]:65535");
  resolve_once(&loop, "::1", 0, NULL, &g);
  ck_assert_str_eq(g.addrs, "[::1]:0");
  loop_done(&loop);
}
END_TEST

/* Refusals that return at once; cb never runs. */
static const struct {
  const char *host;
  int mode;
  const char *server;
} refused[] = {
    {NULL, MP_DNS_SYSTEM, NULL},
    {"", MP_DNS_SYSTEM, NULL},
    {"mx.example.test", MP_DNS_SERVER, NULL},
    {"mx.example.test", MP_DNS_SERVER, ""},
    {"mx.example.test", 42, NULL},
    {"mx.example.test", MP_DNS_SERVER, "127.0.0.1:0"},
    {"mx.example.test", MP_DNS_SERVER, "127.0.0.1:65536"},
    {"mx.example.test", MP_DNS_SERVER, "127.0.0.1:"},
    {"mx.example.test", MP_DNS_SERVER, "127.0.0.1:5x"},
    {"mx.example.test", MP_DNS_SERVER, "dns.example.test"},
    {"mx.example.test", MP_DNS_IPV4, "dns.example.test:53"},
    {"mx.example.test", MP_DNS_SERVER, "[::1"},
    {"mx.example.test", MP_DNS_SERVER, "[::1]x"},
    {"mx.example.test", MP_DNS_SERVER, "127.0.0.1,"},
    {"mx.example.test", MP_DNS_SERVER, ",127.0.0.1"},
    {"mx.example.test", MP_DNS_SERVER, "1,2,3,4,5,6,7,8,9"},
};

START_TEST(test_refused_at_once)
{
  uv_loop_t loop;
  struct mp_resolve_opts o = {0};
  struct got g = {0};
  struct mp_resolve *req = (struct mp_resolve *)1;

  ck_assert_int_eq(uv_loop_init(&loop), 0);
  o.mode = refused[_i].mode;
  o.server = refused[_i].server;
  ck_assert_int_eq(
      mp_resolve_start(&loop, refused[_i].host, 25, &o, on_resolved, &g, &req),
      MP_E_DNS_FAILED);
  ck_assert_ptr_null(req);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(g.called, 0);
  loop_done(&loop);
}
END_TEST

/* --- DNS through the stub ------------------------------------------------ */

static const struct dns_stub_record zone[] = {
    {"mx.example.test", DNS_STUB_A, "127.0.0.2"},
    {"mx.example.test", DNS_STUB_A, "127.0.0.3"},
    {"mx.example.test", DNS_STUB_AAAA, "::1"},
    {"v6only.example.test", DNS_STUB_AAAA, "::1"},
    {"v4only.example.test", DNS_STUB_A, "127.0.0.4"},
    {"other.example.test", DNS_STUB_A, "127.0.0.5"},
};

static const struct {
  const char *host;
  int mode;
  const char *want; /* sorted; NULL: dns_failed */
  unsigned a, aaaa; /* questions the stub must have seen */
} dns_cases[] = {
    {"mx.example.test", MP_DNS_SERVER, "127.0.0.2:25 127.0.0.3:25 [::1]:25", 1,
     1},
    {"MX.Example.Test.", MP_DNS_SERVER, "127.0.0.2:25 127.0.0.3:25 [::1]:25", 1,
     1},
    {"mx.example.test", MP_DNS_IPV4, "127.0.0.2:25 127.0.0.3:25", 1, 0},
    {"mx.example.test", MP_DNS_IPV6, "[::1]:25", 0, 1},
    {"mx.example.test", MP_DNS_PREFER_V4, "127.0.0.2:25 127.0.0.3:25", 1, 0},
    {"mx.example.test", MP_DNS_PREFER_V6, "[::1]:25", 0, 1},
    /* No A record: prefer_ipv4 falls back to AAAA, ipv4 fails. */
    {"v6only.example.test", MP_DNS_PREFER_V4, "[::1]:25", 1, 1},
    {"v6only.example.test", MP_DNS_IPV4, NULL, 1, 0},
    {"v6only.example.test", MP_DNS_SERVER, "[::1]:25", 1, 1},
    /* No AAAA record: prefer_ipv6 falls back to A, ipv6 fails. */
    {"v4only.example.test", MP_DNS_PREFER_V6, "127.0.0.4:25", 1, 1},
    {"v4only.example.test", MP_DNS_IPV6, NULL, 0, 1},
    /* NXDOMAIN. */
    {"nx.example.test", MP_DNS_SERVER, NULL, 1, 1},
    {"nx.example.test", MP_DNS_IPV4, NULL, 1, 0},
    {"nx.example.test", MP_DNS_PREFER_V4, NULL, 1, 1},
    /* Not localhost: a name ending in "localhost" without a dot. */
    {"notlocalhost", MP_DNS_SERVER, NULL, 1, 1},
    /* opts.server also serves the modes that are not "server". */
    {"mx.example.test", MP_DNS_SYSTEM, "127.0.0.2:25 127.0.0.3:25 [::1]:25", 1,
     1},
    {"mx.example.test", MP_DNS_NO_CACHE, "127.0.0.2:25 127.0.0.3:25 [::1]:25",
     1, 1},
};

START_TEST(test_dns_stub_modes)
{
  uv_loop_t loop;
  struct dns_stub stub;
  struct mp_resolve_opts o = {0};
  char spec[64], lower[64];
  struct got g;
  size_t i;

  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dns_stub_start(&stub, &loop, zone, N(zone), 0), 0);
  o.mode = dns_cases[_i].mode;
  o.server = server_spec(spec, sizeof(spec), stub.port);
  o.timeout_ms = 3000;
  memset(&g, 0, sizeof(g));
  start(&loop, dns_cases[_i].host, 25, &o, &g, NULL);
  while (g.called == 0)
    uv_run(&loop, UV_RUN_ONCE);
  ck_assert_int_eq(g.called, 1);
  if (dns_cases[_i].want == NULL) {
    ck_assert_int_eq(g.status, MP_E_DNS_FAILED);
  } else {
    ck_assert_int_eq(g.status, 0);
    sort_addrs(&g);
    ck_assert_str_eq(g.addrs, dns_cases[_i].want);
  }
  ck_assert_uint_eq(stub.queries_a, dns_cases[_i].a);
  ck_assert_uint_eq(stub.queries_aaaa, dns_cases[_i].aaaa);
  /* Asked as written: no search domain from the local resolv.conf. */
  for (i = 0; dns_cases[_i].host[i] && i + 1 < sizeof(lower); i++)
    lower[i] = dns_cases[_i].host[i];
  lower[i] = '\0';
  if (i > 0 && lower[i - 1] == '.')
    lower[i - 1] = '\0';
  ck_assert_msg(strcasecmp(stub.last_name, lower) == 0, "asked %s",
                stub.last_name);
  dns_stub_close(&stub);
  loop_done(&loop);
}
END_TEST

/* With a given server the name is asked as written: c-ares takes search
 * domains from LOCALDOMAIN (as from resolv.conf), and must not use them. */
START_TEST(test_server_no_search_domains)
{
  uv_loop_t loop;
  struct dns_stub stub;
  struct mp_resolve_opts o = {0};
  char spec[64];
  struct got g;

  ck_assert_int_eq(setenv("LOCALDOMAIN", "search.example.test", 1), 0);
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dns_stub_start(&stub, &loop, zone, N(zone), 0), 0);
  o.mode = MP_DNS_IPV4;
  o.server = server_spec(spec, sizeof(spec), stub.port);
  o.timeout_ms = 3000;
  memset(&g, 0, sizeof(g));
  start(&loop, "mx", 25, &o, &g, NULL);
  while (g.called == 0)
    uv_run(&loop, UV_RUN_ONCE);
  unsetenv("LOCALDOMAIN");
  ck_assert_int_eq(g.status, MP_E_DNS_FAILED);
  ck_assert_uint_eq(stub.queries, 1);
  ck_assert_str_eq(stub.last_name, "mx");
  dns_stub_close(&stub);
  loop_done(&loop);
}
END_TEST

/* --- Custom host mappings ------------------------------------------------ */

static const struct mp_host_map host_map[] = {
    {"192.0.2.10", "mx.example.test"}, {"2001:db8::10", "mx.example.test"},
    {"192.0.2.11", "MX.Example.Test"}, {"192.0.2.20", "a.test"},
    {"192.0.2.20", "b.test"},          {"[2001:db8::30]", "v6only.test"},
    {"192.0.2.40", "dup.test"},        {"192.0.2.40", "dup.test"},
    {"localhost", "broken.test"}, /* not an address: skipped */
    {"192.0.2.50", "localhost"},  /* mappings come before localhost */
};

static const struct {
  const char *host;
  int mode;
  const char *want; /* in this order; NULL: dns_failed */
  int asks_dns;     /* falls through to the stub */
} map_cases[] = {
    {"mx.example.test", MP_DNS_SERVER,
     "192.0.2.10:25 [2001:db8::10]:25 192.0.2.11:25", 0},
    {"MX.EXAMPLE.TEST.", MP_DNS_SERVER,
     "192.0.2.10:25 [2001:db8::10]:25 192.0.2.11:25", 0},
    {"mx.example.test", MP_DNS_IPV4, "192.0.2.10:25 192.0.2.11:25", 0},
    {"mx.example.test", MP_DNS_IPV6, "[2001:db8::10]:25", 0},
    {"mx.example.test", MP_DNS_PREFER_V4, "192.0.2.10:25 192.0.2.11:25", 0},
    {"mx.example.test", MP_DNS_PREFER_V6, "[2001:db8::10]:25", 0},
    {"a.test", MP_DNS_SERVER, "192.0.2.20:25", 0},
    {"B.test", MP_DNS_SERVER, "192.0.2.20:25", 0},
    {"v6only.test", MP_DNS_PREFER_V4, "[2001:db8::30]:25", 0},
    {"v6only.test", MP_DNS_SYSTEM, "[2001:db8::30]:25", 0},
    /* A mapped name is answered by the mappings only. */
    {"v6only.test", MP_DNS_IPV4, NULL, 0},
    {"dup.test", MP_DNS_SERVER, "192.0.2.40:25", 0},
    {"broken.test", MP_DNS_SERVER, NULL, 0},
    {"localhost", MP_DNS_SERVER, "192.0.2.50:25", 0},
    /* Not mapped: DNS. */
    {"other.example.test", MP_DNS_SERVER, "127.0.0.5:25", 1},
    {"c.test", MP_DNS_SERVER, NULL, 1},
    {"test", MP_DNS_SERVER, NULL, 1},
};

START_TEST(test_host_map)
{
  uv_loop_t loop;
  struct dns_stub stub;
  struct mp_resolve_opts o = {0};
  char spec[64];
  struct got g;

  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dns_stub_start(&stub, &loop, zone, N(zone), 0), 0);
  o.mode = map_cases[_i].mode;
  o.server = server_spec(spec, sizeof(spec), stub.port);
  o.hosts = host_map;
  o.nhosts = N(host_map);
  o.timeout_ms = 3000;
  memset(&g, 0, sizeof(g));
  start(&loop, map_cases[_i].host, 25, &o, &g, NULL);
  while (g.called == 0)
    uv_run(&loop, UV_RUN_ONCE);
  if (map_cases[_i].want == NULL) {
    ck_assert_int_eq(g.status, MP_E_DNS_FAILED);
  } else {
    ck_assert_int_eq(g.status, 0);
    ck_assert_str_eq(g.addrs, map_cases[_i].want);
  }
  if (map_cases[_i].asks_dns)
    ck_assert_uint_gt(stub.queries, 0);
  else
    ck_assert_uint_eq(stub.queries, 0);
  dns_stub_close(&stub);
  loop_done(&loop);
}
END_TEST

/* Mappings built by mp_host_map_parse feed mp_resolve directly. */
START_TEST(test_host_map_parsed)
{
  uv_loop_t loop;
  struct mp_resolve_opts o = {0};
  struct mp_host_map *v;
  size_t n;
  struct got g;

  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(mp_host_map_parse("[::1] mx.example.test imap.example.test",
                                     &v, &n, NULL, 0),
                   0);
  o.hosts = v;
  o.nhosts = n;
  resolve_once(&loop, "IMAP.example.test", 143, &o, &g);
  free(v); /* the lookup copied what it needed */
  ck_assert_int_eq(g.status, 0);
  ck_assert_str_eq(g.addrs, "[::1]:143");
  loop_done(&loop);
}
END_TEST

/* More addresses than MP_RESOLVE_MAX: the first ones, in order. */
START_TEST(test_host_map_capped)
{
  uv_loop_t loop;
  struct mp_resolve_opts o = {0};
  struct mp_host_map m[MP_RESOLVE_MAX + 3];
  char ips[MP_RESOLVE_MAX + 3][32], want[512] = "";
  struct got g;
  size_t i;

  ck_assert_int_eq(uv_loop_init(&loop), 0);
  for (i = 0; i < N(m); i++) {
    snprintf(ips[i], sizeof(ips[i]), "192.0.2.%zu", i + 1);
    m[i].ip = ips[i];
    m[i].name = "many.test";
    if (i < MP_RESOLVE_MAX) {
      char one[40];

      snprintf(one, sizeof(one), "%s%s:25", i ? " " : "", ips[i]);
      strcat(want, one);
    }
  }
  o.hosts = m;
  o.nhosts = N(m);
  resolve_once(&loop, "many.test", 25, &o, &g);
  ck_assert_int_eq(g.status, 0);
  ck_assert_uint_eq(g.n, MP_RESOLVE_MAX);
  ck_assert_str_eq(g.addrs, want);
  loop_done(&loop);
}
END_TEST

/* --- Failures, timeouts, several servers -------------------------------- */

/* A server that never answers: dns_failed when the deadline passes, after
 * c-ares retried, never later. */
START_TEST(test_server_never_answers)
{
  uv_loop_t loop;
  struct dns_stub stub;
  struct mp_resolve_opts o = {0};
  char spec[64];
  struct got g;

  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dns_stub_start(&stub, &loop, zone, N(zone), 1), 0);
  o.mode = _i == 0 ? MP_DNS_SERVER : MP_DNS_PREFER_V4;
  o.server = server_spec(spec, sizeof(spec), stub.port);
  o.timeout_ms = 300;
  memset(&g, 0, sizeof(g));
  start(&loop, "mx.example.test", 25, &o, &g, NULL);
  while (g.called == 0)
    uv_run(&loop, UV_RUN_ONCE);
  ck_assert_int_eq(g.status, MP_E_DNS_FAILED);
  ck_assert_msg(g.t_ms >= 250 && g.t_ms < 1000, "took %llu ms",
                (unsigned long long)g.t_ms);
  ck_assert_uint_ge(stub.queries, 2); /* c-ares asked again */
  dns_stub_close(&stub);
  loop_done(&loop);
}
END_TEST

/* A port where nothing listens (ICMP port unreachable): dns_failed, long
 * before the deadline. */
START_TEST(test_server_port_closed)
{
  uv_loop_t loop;
  struct dns_stub stub;
  struct mp_resolve_opts o = {0};
  char spec[64];
  uint16_t port;
  struct got g;

  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dns_stub_start(&stub, &loop, zone, N(zone), 1), 0);
  port = stub.port;
  dns_stub_close(&stub);
  uv_run(&loop, UV_RUN_DEFAULT);
  o.mode = MP_DNS_SERVER;
  o.server = server_spec(spec, sizeof(spec), port);
  o.timeout_ms = 5000;
  resolve_once(&loop, "mx.example.test", 25, &o, &g);
  ck_assert_int_eq(g.status, MP_E_DNS_FAILED);
  ck_assert_msg(g.t_ms < 2500, "took %llu ms", (unsigned long long)g.t_ms);
  loop_done(&loop);
}
END_TEST

/* "a,b": the first server never answers, the second one does. */
START_TEST(test_second_server)
{
  uv_loop_t loop;
  struct dns_stub dead, live;
  struct mp_resolve_opts o = {0};
  char spec[128];
  struct got g;

  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dns_stub_start(&dead, &loop, zone, N(zone), 1), 0);
  ck_assert_int_eq(dns_stub_start(&live, &loop, zone, N(zone), 0), 0);
  snprintf(spec, sizeof(spec), "127.0.0.1:%u, [127.0.0.1]:%u", dead.port,
           live.port);
  o.mode = MP_DNS_IPV4;
  o.server = spec;
  o.timeout_ms = 1500;
  memset(&g, 0, sizeof(g));
  start(&loop, "v4only.example.test", 25, &o, &g, NULL);
  while (g.called == 0)
    uv_run(&loop, UV_RUN_ONCE);
  ck_assert_int_eq(g.status, 0);
  ck_assert_str_eq(g.addrs, "127.0.0.4:25");
  ck_assert_uint_ge(dead.queries, 1);
  ck_assert_uint_ge(live.queries, 1);
  dns_stub_close(&dead);
  dns_stub_close(&live);
  loop_done(&loop);
}
END_TEST

/* --- Cancellation and many at once -------------------------------------- */

static int cancelled;

static void cancel_on_timer(uv_timer_t *t)
{
  mp_resolve_cancel(t->data);
  uv_close((uv_handle_t *)t, NULL);
  cancelled = 1;
}

/* Cancelled right away (_i 0), from a timer while c-ares waits (_i 1),
 * and an immediate answer cancelled before the loop ran (_i 2). */
START_TEST(test_cancel)
{
  uv_loop_t loop;
  struct dns_stub stub;
  struct mp_resolve_opts o = {0};
  struct mp_resolve *req = NULL;
  uv_timer_t t;
  char spec[64];
  struct got g = {0};

  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dns_stub_start(&stub, &loop, zone, N(zone), 1), 0);
  o.mode = MP_DNS_SERVER;
  o.server = server_spec(spec, sizeof(spec), stub.port);
  o.timeout_ms = 2000;
  start(&loop, _i == 2 ? "127.0.0.1" : "mx.example.test", 25, &o, &g, &req);
  ck_assert_ptr_nonnull(req);
  if (_i == 1) {
    uv_timer_init(&loop, &t);
    t.data = req;
    uv_timer_start(&t, cancel_on_timer, 50, 0);
    cancelled = 0;
    while (!cancelled)
      uv_run(&loop, UV_RUN_ONCE);
    ck_assert_uint_ge(stub.queries, 1);
  } else {
    mp_resolve_cancel(req);
  }
  dns_stub_close(&stub);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(g.called, 0);
  loop_done(&loop);
}
END_TEST

#define MANY 200

/* Many lookups at once on one loop, each with its own channel. */
START_TEST(test_many_at_once)
{
  uv_loop_t loop;
  struct dns_stub stub;
  struct mp_resolve_opts o = {0};
  char spec[64];
  static struct got g[MANY];
  size_t i;

  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ck_assert_int_eq(dns_stub_start(&stub, &loop, zone, N(zone), 0), 0);
  o.mode = MP_DNS_PREFER_V4;
  o.server = server_spec(spec, sizeof(spec), stub.port);
  o.timeout_ms = 3000;
  memset(g, 0, sizeof(g));
  for (i = 0; i < MANY; i++)
    start(&loop, i % 2 ? "mx.example.test" : "v6only.example.test",
          (uint16_t)(1000 + i), &o, &g[i], NULL);
  for (;;) {
    size_t done = 0;

    for (i = 0; i < MANY; i++)
      done += g[i].called;
    if (done == MANY)
      break;
    uv_run(&loop, UV_RUN_ONCE);
  }
  for (i = 0; i < MANY; i++) {
    char want[64];

    ck_assert_int_eq(g[i].called, 1);
    ck_assert_int_eq(g[i].status, 0);
    if (i % 2)
      snprintf(want, sizeof(want), "127.0.0.2:%zu 127.0.0.3:%zu", 1000 + i,
               1000 + i);
    else
      snprintf(want, sizeof(want), "[::1]:%zu", 1000 + i);
    sort_addrs(&g[i]);
    ck_assert_str_eq(g[i].addrs, want);
  }
  dns_stub_close(&stub);
  loop_done(&loop);
}
END_TEST

static Suite *resolve_suite(void)
{
  Suite *s = suite_create("resolve");
  TCase *tc = tcase_create("core");

  tcase_set_timeout(tc, 20);
  tcase_add_loop_test(tc, test_mode_names, 0, N(mode_names));
  tcase_add_test(tc, test_mode_names_unknown);
  tcase_add_loop_test(tc, test_host_map_parse_good, 0, N(map_good));
  tcase_add_loop_test(tc, test_host_map_parse_bad, 0, N(map_bad));
  tcase_add_test(tc, test_host_map_parse_no_err_buffer);
  tcase_add_test(tc, test_host_map_parse_name_length);
  tcase_add_loop_test(tc, test_literals_and_localhost, 0, N(literals));
  tcase_add_test(tc, test_null_opts_and_port);
  tcase_add_loop_test(tc, test_refused_at_once, 0, N(refused));
  tcase_add_loop_test(tc, test_dns_stub_modes, 0, N(dns_cases));
  tcase_add_test(tc, test_server_no_search_domains);
  tcase_add_loop_test(tc, test_host_map, 0, N(map_cases));
  tcase_add_test(tc, test_host_map_parsed);
  tcase_add_test(tc, test_host_map_capped);
  tcase_add_loop_test(tc, test_server_never_answers, 0, 2);
  tcase_add_test(tc, test_server_port_closed);
  tcase_add_test(tc, test_second_server);
  tcase_add_loop_test(tc, test_cancel, 0, 3);
  tcase_add_test(tc, test_many_at_once);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  SRunner *sr = srunner_create(resolve_suite());
  int failed;

  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
