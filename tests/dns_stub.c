/* The test DNS stub (see dns_stub.h). RFC 1035 4.1: a 12-byte header, the
 * question echoed, then answers whose owner is a pointer to the question's
 * name (4.1.4). */
#include "tests/dns_stub.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DNS_HDR 12
#define DNS_CLASS_IN 1
#define DNS_RCODE_NXDOMAIN 3
#define DNS_RCODE_NOTIMP 4
#define DNS_RCODE_FORMERR 1

struct dns_stub_send {
  uv_udp_send_t req;
  unsigned char *data;
};

static void dns_stub_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
  struct dns_stub *s = h->data;

  (void)hint;
  *b = uv_buf_init((char *)s->buf, sizeof(s->buf));
}

static void dns_stub_sent(uv_udp_send_t *req, int status)
{
  struct dns_stub_send *snd = (struct dns_stub_send *)req;

  (void)status;
  free(snd->data);
  free(snd);
}

static void put16(unsigned char *p, unsigned v)
{
  p[0] = (unsigned char)(v >> 8);
  p[1] = (unsigned char)v;
}

static unsigned get16(const unsigned char *p)
{
  return (unsigned)p[0] << 8 | p[1];
}

/* Reads the question's name (labels, no compression in a question) into
 * name as dotted text. Returns the offset after it, or 0. */
static size_t dns_stub_qname(const unsigned char *m, size_t len, char *name,
                             size_t namelen)
{
  size_t off = DNS_HDR, out = 0;

  for (;;) {
    size_t l;

    if (off >= len)
      return 0;
    l = m[off++];
    if (l == 0)
      break;
    if (l > 63 || off + l > len || out + l + 2 > namelen)
      return 0;
    if (out > 0)
      name[out++] = '.';
    memcpy(name + out, m + off, l);
    out += l;
    off += l;
  }
  name[out] = '\0';
  return off;
}

static void dns_stub_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *b,
                          const struct sockaddr *from, unsigned flags)
{
  struct dns_stub *s = h->data;
  const unsigned char *q = (const unsigned char *)b->base;
  size_t len = (size_t)nread, qend, i, out;
  unsigned qtype = 0, rcode = 0, ancount = 0, qflags;
  int known = 0;
  struct dns_stub_send *snd;
  unsigned char *r;
  char name[256];

  (void)flags;
  if (nread <= 0 || from == NULL || len < DNS_HDR)
    return;
  qflags = get16(q + 2);
  if (qflags & 0x8000) /* a response: not for us */
    return;
  s->queries++;
  qend = get16(q + 4) == 1 ? dns_stub_qname(q, len, name, sizeof(name)) : 0;
  if (qend == 0 || qend + 4 > len) {
    rcode = DNS_RCODE_FORMERR;
    qend = DNS_HDR;
    name[0] = '\0';
  } else {
    qtype = get16(q + qend);
    qend += 4;
    memcpy(s->last_name, name, strlen(name) + 1);
    if (qtype == DNS_STUB_A)
      s->queries_a++;
    else if (qtype == DNS_STUB_AAAA)
      s->queries_aaaa++;
    if (((qflags >> 11) & 0xf) != 0)
      rcode = DNS_RCODE_NOTIMP;
  }
  if (s->silent)
    return;
  /* Header + question + up to nrecs answers of 12 + 16 bytes. */
  r = malloc(qend + s->nrecs * 28);
  snd = malloc(sizeof(*snd));
  if (r == NULL || snd == NULL) {
    free(r);
    free(snd);
    return;
  }
  memcpy(r, q, qend);
  out = qend;
  for (i = 0; rcode == 0 && i < s->nrecs; i++) {
    const struct dns_stub_record *rec = &s->recs[i];
    unsigned char addr[16];
    size_t alen = rec->type == DNS_STUB_A ? 4 : 16;

    if (strcasecmp(rec->name, name) != 0)
      continue;
    known = 1;
    if ((unsigned)rec->type != qtype)
      continue;
    if (inet_pton(rec->type == DNS_STUB_A ? AF_INET : AF_INET6, rec->addr,
                  addr) != 1)
      continue;
    put16(r + out, 0xc000 | DNS_HDR); /* the question's name */
    put16(r + out + 2, qtype);
    put16(r + out + 4, DNS_CLASS_IN);
    put16(r + out + 6, 0);
    put16(r + out + 8, 60); /* TTL */
    put16(r + out + 10, (unsigned)alen);
    memcpy(r + out + 12, addr, alen);
    out += 12 + alen;
    ancount++;
  }
  if (rcode == 0 && !known)
    rcode = DNS_RCODE_NXDOMAIN;
  /* QR, the query's opcode and RD, RA, the rcode. */
  put16(r + 2, 0x8000 | (qflags & 0x7900) | 0x0080 | rcode);
  put16(r + 4, qend > DNS_HDR ? 1 : 0);
  put16(r + 6, ancount);
  put16(r + 8, 0);
  put16(r + 10, 0);
  snd->data = r;
  {
    uv_buf_t ob = uv_buf_init((char *)r, (unsigned)out);

    if (uv_udp_send(&snd->req, h, &ob, 1, from, dns_stub_sent) != 0) {
      free(r);
      free(snd);
    }
  }
}

int dns_stub_start(struct dns_stub *s, uv_loop_t *loop,
                   const struct dns_stub_record *recs, size_t nrecs, int silent)
{
  struct sockaddr_in sin;
  struct sockaddr_storage ss;
  int len = sizeof(ss), rc;

  memset(s, 0, sizeof(*s));
  s->recs = recs;
  s->nrecs = nrecs;
  s->silent = silent;
  rc = uv_udp_init(loop, &s->udp);
  if (rc != 0)
    return rc;
  s->udp.data = s;
  uv_ip4_addr("127.0.0.1", 0, &sin);
  rc = uv_udp_bind(&s->udp, (const struct sockaddr *)&sin, 0);
  if (rc == 0)
    rc = uv_udp_getsockname(&s->udp, (struct sockaddr *)&ss, &len);
  if (rc == 0)
    rc = uv_udp_recv_start(&s->udp, dns_stub_alloc, dns_stub_recv);
  if (rc != 0) {
    uv_close((uv_handle_t *)&s->udp, NULL);
    return rc;
  }
  s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  return 0;
}

void dns_stub_close(struct dns_stub *s)
{
  if (!uv_is_closing((uv_handle_t *)&s->udp))
    uv_close((uv_handle_t *)&s->udp, NULL);
}
