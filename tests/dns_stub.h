/* A tiny DNS server for tests only: UDP on 127.0.0.1:<a port the kernel
 * picks>, on a libuv loop, answering A and AAAA questions from a fixed
 * table (RFC 1035 4.1). A name with records of another type only gets an
 * empty NOERROR answer (NODATA); an unknown name gets NXDOMAIN. A silent
 * stub counts questions and never answers. The Makefile links the helper
 * files in tests/ (this one too) into every test binary. */
#ifndef MP_TEST_DNS_STUB_H
#define MP_TEST_DNS_STUB_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#define DNS_STUB_A 1
#define DNS_STUB_AAAA 28

struct dns_stub_record {
  const char *name; /* lower case, no trailing dot */
  int type;         /* DNS_STUB_A or DNS_STUB_AAAA */
  const char *addr; /* "127.0.0.2", "::1" */
};

struct dns_stub {
  uv_udp_t udp;
  const struct dns_stub_record *recs; /* not copied: must outlive the stub */
  size_t nrecs;
  int silent;
  uint16_t port;
  unsigned queries;   /* every question received */
  unsigned queries_a; /* of type A */
  unsigned queries_aaaa;
  char last_name[256]; /* the last name asked for, as sent */
  unsigned char buf[1024];
};

/* Binds 127.0.0.1:0 and starts answering. 0 or a libuv error. */
int dns_stub_start(struct dns_stub *s, uv_loop_t *loop,
                   const struct dns_stub_record *recs, size_t nrecs,
                   int silent);

/* Closes the socket (the struct must live until the loop ran once more). */
void dns_stub_close(struct dns_stub *s);

#endif
