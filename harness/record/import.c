/* Transcripts into recordings (harness/record/import.h): the format is
 * told by the first line that is not blank; each format's lines go to the
 * builder (harness/record/import_build.c). */
#include "harness/record/import.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "harness/record/import_internal.h"

#define MAX_TRANSCRIPT (4u << 20)

enum format { F_NONE, F_MAILPROBE, F_SWAKS, F_CURL, F_JSON };

static int starts(const char *s, const char *p)
{
  return strncmp(s, p, strlen(p)) == 0;
}

/* A Nagios line mailprobe check prints after its -v trace. */
static int nagios_line(const char *l)
{
  return (starts(l, "SMTP ") || starts(l, "POP3 ") || starts(l, "IMAP ")) &&
         (strstr(l, " OK - ") || strstr(l, " WARNING - ") ||
          strstr(l, " CRITICAL - ") || strstr(l, " UNKNOWN - "));
}

static enum format detect(const char *l)
{
  if (l[0] == '{' || l[0] == '[')
    return F_JSON;
  if (starts(l, "S: ") || starts(l, "C: ") || starts(l, "*: ") ||
      nagios_line(l))
    return F_MAILPROBE;
  if (starts(l, "=== ") || starts(l, "<-  ") || starts(l, " -> ") ||
      starts(l, "<~  ") || starts(l, " ~> ") || starts(l, "<** ") ||
      starts(l, "<~* ") || starts(l, "*** "))
    return F_SWAKS;
  if (starts(l, "* ") || starts(l, "*  ") || starts(l, "< ") ||
      starts(l, "> ") || starts(l, "} [") || starts(l, "{ ["))
    return F_CURL;
  return F_NONE;
}

/* ---- certificates as transcripts tell them ---------------------------- */

static struct mp_cert_facts *cert_of(struct imp *m)
{
  struct mp_rec_session *s = mp_rec_current(m->r);
  if (!s)
    return NULL;
  if (!s->have_cert) {
    memset(&s->cert, 0, sizeof(s->cert));
    time_t now = time(NULL);
    s->cert.not_before = (long long)now - 86400;
    s->cert.not_after = (long long)now + 90LL * 86400;
    s->cert.chain = 1;
    s->have_cert = 1;
  }
  return &s->cert;
}

/* "C=US, O=Example, CN=mx" or "/C=US/O=Example/CN=mx" into entries. */
static void names(const char *text, char out[][MP_CERT_NAME_LEN], size_t *n)
{
  char buf[1024];
  snprintf(buf, sizeof(buf), "%s", text);
  const char *sep = buf[0] == '/' ? "/" : ",";
  *n = 0;
  for (char *save = NULL, *t = strtok_r(buf, sep, &save);
       t && *n < MP_CERT_MAX_NAMES; t = strtok_r(NULL, sep, &save)) {
    while (*t == ' ')
      t++;
    if (strchr(t, '='))
      snprintf(out[(*n)++], MP_CERT_NAME_LEN, "%s", t);
  }
}

static void add_san(struct mp_cert_facts *c, const char *host)
{
  if (!host || !*host || c->nsans >= MP_CERT_MAX_NAMES)
    return;
  int ip = strspn(host, "0123456789.:") == strlen(host);
  snprintf(c->sans[c->nsans++], MP_CERT_NAME_LEN, "%s%s",
           ip ? "IP:" : "DNS:", host);
}

/* curl's "Dec  7 01:31:20 2026 GMT". */
static void curl_date(const char *s, long long *t)
{
  struct tm tm = {0};
  const char *end = strptime(s, "%b %d %H:%M:%S %Y", &tm);
  if (end)
    *t = (long long)timegm(&tm);
}

/* ---- the formats ------------------------------------------------------ */

static void host_port(const char *s, char *host, size_t cap, unsigned *port)
{
  /* "127.0.0.1:25..." or "[::1]:25..." */
  const char *colon = strrchr(s, ':');
  size_t n = colon ? (size_t)(colon - s) : strcspn(s, " .");
  if (n >= cap)
    n = cap - 1;
  memcpy(host, s, n);
  host[n] = '\0';
  if (host[0] == '[') {
    memmove(host, host + 1, strlen(host));
    char *b = strchr(host, ']');
    if (b)
      *b = '\0';
  }
  *port = colon ? (unsigned)atoi(colon + 1) : 0;
}

static int line_mailprobe(struct imp *m, const char *l)
{
  if (starts(l, "S: ")) {
    mp_imp_server(m, l + 3, strlen(l + 3));
  } else if (starts(l, "C: ")) {
    mp_imp_client(m, l + 3, 1);
  } else if (starts(l, "*: TLS ")) {
    char v[32] = "", c[80] = "";
    sscanf(l + 7, "%31s %79[^,]", v, c);
    mp_imp_tls(m, v, c, 1);
    const char *cert = strstr(l, "certificate ");
    if (cert) {
      char subj[512];
      snprintf(subj, sizeof(subj), "%s", cert + 12);
      char *cut = strstr(subj, ", NOT VERIFIED");
      if (cut)
        *cut = '\0';
      struct mp_cert_facts *f = cert_of(m);
      if (f) {
        names(subj, f->subject, &f->nsubject);
        add_san(f, m->r->servername ? m->r->servername : m->r->host);
      }
    }
  } else if (starts(l, "*: ")) {
    if (strstr(l, "closed the connection") || strstr(l, "reset the conn"))
      m->ended = 'c';
    else if (strstr(l, "no answer within the deadline"))
      m->ended = 't';
    else if (strstr(l, "TLS handshake failed"))
      m->ended = 'f';
  } else if (nagios_line(l)) {
    /* "SMTP OK - 127.0.0.1:10587 answered ...": where it went */
    const char *at = strstr(l, " - ");
    char host[256];
    unsigned port = 0;
    if (at && !m->r->host) {
      char where[300];
      snprintf(where, sizeof(where), "%s", at + 3);
      where[strcspn(where, " ")] = '\0';
      host_port(where, host, sizeof(host), &port);
      if (port) {
        m->r->host = strdup(host);
        m->r->port = (uint16_t)port;
      }
    }
  } else {
    return -1;
  }
  return 0;
}

static int line_swaks(struct imp *m, const char *l)
{
  char host[256];
  unsigned port = 0;
  if (starts(l, "=== Trying ")) {
    host_port(l + 11, host, sizeof(host), &port);
    if (!m->r->host)
      m->r->host = strdup(host);
    m->r->port = (uint16_t)port;
  } else if (starts(l, "=== Connected to ")) {
    mp_imp_connected(m, NULL, 0);
  } else if (starts(l, "=== TLS started with cipher ")) {
    char v[32] = "", c[80] = "";
    sscanf(l + 28, "%31[^:]:%79[^:]", v, c);
    mp_imp_tls(m, v, c, 1);
  } else if (starts(l, "=== TLS peer DN=")) {
    char dn[512];
    snprintf(dn, sizeof(dn), "%s", l + 16 + (l[16] == '"'));
    char *q = strrchr(dn, '"');
    if (q)
      *q = '\0';
    struct mp_cert_facts *f = cert_of(m);
    if (f) {
      names(dn, f->subject, &f->nsubject);
      add_san(f, m->r->host);
    }
  } else if (starts(l, "<-  ") || starts(l, "<~  ") || starts(l, "<** ") ||
             starts(l, "<~* ")) {
    mp_imp_server(m, l + 4, strlen(l + 4));
  } else if (starts(l, " -> ") || starts(l, " ~> ")) {
    mp_imp_client(m, l + 4, 0);
  } else if (starts(l, "*** ")) {
    if (strstr(l, "closed connection") || strstr(l, "Connection closed") ||
        strstr(l, "connection reset"))
      m->ended = 'c';
    else if (strstr(l, "imeout") || strstr(l, "timed out"))
      m->ended = 't';
    else if (strstr(l, "TLS"))
      mp_imp_tls(m, "", "", 0);
  } else if (!starts(l, "=== ") && !starts(l, "    ")) {
    return -1;
  }
  return 0;
}

static int line_curl(struct imp *m, const char *l)
{
  char host[256];
  unsigned port = 0;
  if (starts(l, "< ")) {
    mp_imp_server(m, l + 2, strlen(l + 2));
  } else if (starts(l, "> ")) {
    mp_imp_client(m, l + 2, 0);
  } else if (starts(l, "*   Trying ")) {
    host_port(l + 11, host, sizeof(host), &port);
    if (!m->r->host)
      m->r->host = strdup(host);
    m->r->port = (uint16_t)port;
  } else if (starts(l, "* Connected to ")) {
    mp_imp_connected(m, NULL, 0);
  } else if (starts(l, "* SSL connection using ")) {
    char v[32] = "", c[80] = "";
    sscanf(l + 23, "%31s / %79s", v, c);
    mp_imp_tls(m, v, c, 1);
  } else if (starts(l, "*  subject: ")) {
    struct mp_cert_facts *f = cert_of(m);
    if (f)
      names(l + 12, f->subject, &f->nsubject);
  } else if (starts(l, "*  issuer: ")) {
    struct mp_cert_facts *f = cert_of(m);
    if (f)
      names(l + 11, f->issuer, &f->nissuer);
  } else if (starts(l, "*  start date: ")) {
    struct mp_cert_facts *f = cert_of(m);
    if (f)
      curl_date(l + 15, &f->not_before);
  } else if (starts(l, "*  expire date: ")) {
    struct mp_cert_facts *f = cert_of(m);
    if (f)
      curl_date(l + 16, &f->not_after);
  } else if (starts(l, "*  subjectAltName: host \"")) {
    struct mp_cert_facts *f = cert_of(m);
    const char *h = l + 25;
    size_t n = strcspn(h, "\"");
    snprintf(host, sizeof(host), "%.*s", (int)n, h);
    if (f)
      add_san(f, host);
  } else if (starts(l, "* Recv failure") || starts(l, "* Send failure") ||
             strstr(l, "Connection died") || strstr(l, "closed the conn")) {
    m->ended = 'c';
  } else if (strstr(l, "timed out") || strstr(l, "Operation timed")) {
    m->ended = 't';
  } else if (starts(l, "* OpenSSL SSL_connect") ||
             starts(l, "* TLS connect error") ||
             (starts(l, "* SSL certificate problem") && 0)) {
    mp_imp_tls(m, "", "", 0);
  } else if (!starts(l, "*") && !starts(l, "{ [") && !starts(l, "} [")) {
    return -1;
  }
  return 0;
}

int mp_rec_import_text(struct mp_rec *r, const char *name, const char *text,
                       size_t len, char *err, size_t errlen)
{
  struct imp m;
  enum format f = F_NONE;
  size_t lineno = 0;
  int rc = -1;

  mp_imp_init(&m, r);
  for (size_t i = 0; i < len && f == F_NONE;) {
    size_t n = strcspn(text + i, "\n");
    lineno++;
    char first[256];
    snprintf(first, sizeof(first), "%.*s", (int)(n > 255 ? 255 : n), text + i);
    char *cr = strchr(first, '\r');
    if (cr)
      *cr = '\0';
    if (strspn(first, " \t") != strlen(first)) {
      f = detect(first);
      if (f == F_NONE) {
        snprintf(err, errlen,
                 "%s:%zu: not a transcript mailprobe knows (mailprobe -v or "
                 "JSON, swaks, curl -v): \"%.60s\"",
                 name, lineno, first);
        goto out;
      }
    }
    i += n + 1;
  }
  if (f == F_NONE) {
    snprintf(err, errlen, "%s: the transcript is empty", name);
    goto out;
  }
  if (f == F_JSON) {
    rc = mp_imp_json(&m, name, text, len, err, errlen);
    if (rc == 0)
      rc = mp_imp_finish(&m, name, err, errlen);
    goto out;
  }
  lineno = 0;
  for (size_t i = 0; i < len;) {
    size_t n = strcspn(text + i, "\n");
    lineno++;
    char *l = malloc(n + 1);
    if (!l) {
      snprintf(err, errlen, "out of memory");
      goto out;
    }
    memcpy(l, text + i, n);
    l[n] = '\0';
    if (n && l[n - 1] == '\r')
      l[n - 1] = '\0';
    int bad = 0;
    if (l[0] != '\0')
      bad = f == F_MAILPROBE ? line_mailprobe(&m, l)
            : f == F_SWAKS   ? line_swaks(&m, l)
                             : line_curl(&m, l);
    if (bad) {
      snprintf(err, errlen,
               "%s:%zu: a line this %s transcript should not hold: \"%.60s\"",
               name, lineno,
               f == F_MAILPROBE ? "mailprobe"
               : f == F_SWAKS   ? "swaks"
                                : "curl",
               l);
      free(l);
      goto out;
    }
    free(l);
    i += n + 1;
  }
  rc = mp_imp_finish(&m, name, err, errlen);
out:
  mp_imp_free(&m);
  return rc;
}

int mp_rec_import_file(struct mp_rec *r, const char *file, char *err,
                       size_t errlen)
{
  FILE *fp = fopen(file, "rb");
  if (!fp) {
    snprintf(err, errlen, "%s: %s", file, strerror(errno));
    return -1;
  }
  char *buf = malloc(MAX_TRANSCRIPT + 1);
  size_t n = buf ? fread(buf, 1, MAX_TRANSCRIPT + 1, fp) : 0;
  int rd_err = ferror(fp);
  fclose(fp);
  if (!buf || rd_err || n > MAX_TRANSCRIPT) {
    snprintf(err, errlen, "%s: %s", file,
             !buf     ? "out of memory"
             : rd_err ? "read error"
                      : "over 4 MiB: not a transcript");
    free(buf);
    return -1;
  }
  buf[n] = '\0';
  int rc = mp_rec_import_text(r, file, buf, n, err, errlen);
  free(buf);
  return rc;
}
