/* The transcript builder (harness/record/import_internal.h): lines in any
 * format become a recording's events; the protocol, the TLS mode, the
 * login and the ending are learned on the way. Client lines are masked
 * here (probes/mask.h), the secrets they held kept aside for scrubbing. */
#include "harness/record/import_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "probes/mask.h"
#include "wire/codec.h"
#include "wire/errors.h"
#include "wire/sasl.h"

void mp_imp_init(struct imp *m, struct mp_rec *r)
{
  memset(m, 0, sizeof(*m));
  m->r = r;
  m->login_mech = -1;
  r->timed = 0;
  r->timeout_ms = 10000;
}

static void keep(char **dst, const char *s, size_t n)
{
  if (*dst || n == 0)
    return;
  *dst = malloc(n + 1);
  if (*dst) {
    memcpy(*dst, s, n);
    (*dst)[n] = '\0';
  }
}

void mp_imp_connected(struct imp *m, const char *host, unsigned port)
{
  if (host && *host && !m->r->host)
    m->r->host = strdup(host);
  if (port)
    m->r->port = (uint16_t)port;
  if (!m->connected)
    mp_rec_add(m->r, MP_PEV_CONNECTED, m->t_us, MP_PHASE_CONNECT, NULL, 0, 0);
  m->connected = 1;
}

static void guess_proto(struct imp *m, const char *line, size_t len)
{
  if (m->proto_known)
    return;
  m->proto_known = 1;
  if (len >= 3 && (!strncmp(line, "+OK", 3) || !strncmp(line, "-ERR", 4)))
    m->r->proto = MP_PROTO_POP3;
  else if (len >= 2 && line[0] == '*' && line[1] == ' ')
    m->r->proto = MP_PROTO_IMAP;
  else
    m->r->proto = MP_PROTO_SMTP;
}

/* The answer that ends a login: the method's name, static, or NULL. */
static void login_verdict(struct imp *m, const char *line, size_t len)
{
  struct mp_rec_session *s = mp_rec_current(m->r);
  int ok = m->r->proto == MP_PROTO_SMTP ? len >= 3 && line[0] == '2'
           : m->r->proto == MP_PROTO_POP3
               ? len >= 3 && strncmp(line, "+OK", 3) == 0
               : strstr(line, " OK") != NULL && line[0] != '*';
  if (m->r->proto == MP_PROTO_IMAP && line[0] == '*')
    return; /* untagged: the verdict is still to come */
  if (m->login_cmd == 'U') {
    m->login_cmd = 0; /* USER's +OK is no verdict; PASS's is */
    return;
  }
  if (s)
    s->auth = !ok                   ? NULL
              : m->login_cmd == 'P' ? "USER"
              : m->login_cmd == 'A' ? "APOP"
              : m->login_cmd == 'L' ? "LOGIN"
              : m->login_mech >= 0  ? mp_sasl_name(m->login_mech)
                                    : NULL;
  m->login_cmd = 0;
}

/* A SASL challenge: "334 ..." (SMTP, RFC 4954 4), "+ ..." or "+"
 * (POP3 RFC 5034, IMAP RFC 9051 7.5). */
static int is_challenge(const struct imp *m, const char *line, size_t len)
{
  if (m->r->proto == MP_PROTO_SMTP)
    return len >= 4 && strncmp(line, "334 ", 4) == 0;
  return (len == 1 && line[0] == '+') ||
         (len >= 2 && line[0] == '+' && line[1] == ' ');
}

void mp_imp_server(struct imp *m, const char *line, size_t len)
{
  if (!m->connected)
    mp_imp_connected(m, NULL, 0);
  guess_proto(m, line, len);
  m->saw_server = 1;
  mp_rec_add(m->r, MP_PEV_LINE, m->t_us, MP_PHASE_BANNER, line, len, 0);
  if (m->auth_open) {
    m->challenge = is_challenge(m, line, len);
    if (m->r->proto == MP_PROTO_IMAP && len > 1 && line[0] == '*' &&
        line[1] == ' ') {
      /* untagged data inside the exchange: the tagged answer ends it */
    } else if (!m->challenge) {
      m->auth_open = 0;
      login_verdict(m, line, len);
    }
  } else if (m->login_cmd) {
    login_verdict(m, line, len);
  }
  if (m->data_wait) {
    m->data_wait = 0;
    m->in_data = len >= 3 && strncmp(line, "354", 3) == 0;
  }
}

/* The password out of a decoded PLAIN message ("authzid\0user\0pass"). */
static void from_plain(struct imp *m, const char *b64)
{
  size_t n = 0;
  unsigned char *d = mp_b64_decode(b64, &n);
  if (!d)
    return;
  const unsigned char *z1 = memchr(d, 0, n);
  const unsigned char *z2 =
      z1 ? memchr(z1 + 1, 0, n - (size_t)(z1 + 1 - d)) : NULL;
  if (z2) {
    keep(&m->user, (const char *)z1 + 1, (size_t)(z2 - z1 - 1));
    keep(&m->password, (const char *)z2 + 1, n - (size_t)(z2 + 1 - d));
  }
  free(d);
}

static void from_b64(char **dst, const char *b64)
{
  size_t n = 0;
  unsigned char *d = mp_b64_decode(b64, &n);
  if (d)
    keep(dst, (const char *)d, n);
  free(d);
}

/* The next word of *p (an IMAP astring may be quoted), into buf. */
static void word(const char **p, char *buf, size_t cap)
{
  const char *s = *p;
  size_t n = 0;
  while (*s == ' ')
    s++;
  if (*s == '"') {
    for (s++; *s && *s != '"' && n + 1 < cap; s++) {
      if (*s == '\\' && s[1])
        s++;
      buf[n++] = *s;
    }
    if (*s == '"')
      s++;
  } else {
    for (; *s && *s != ' ' && n + 1 < cap; s++)
      buf[n++] = *s;
  }
  buf[n] = '\0';
  *p = s;
}

/* Learns the login from a command line in clear. */
static void learn_login(struct imp *m, const char *line)
{
  const char *p = line;
  char tag[64], verb[64], a[512], b[512];
  if (m->r->proto == MP_PROTO_IMAP)
    word(&p, tag, sizeof(tag));
  word(&p, verb, sizeof(verb));
  if (!strcasecmp(verb, "AUTH") || !strcasecmp(verb, "AUTHENTICATE")) {
    word(&p, a, sizeof(a));
    word(&p, b, sizeof(b));
    int mech = mp_sasl_from_name(a);
    m->auth_open = 1;
    m->responses = 0;
    m->login_mech = mech;
    if (mech >= 0 && mech < MP_SASL_COUNT)
      m->methods |= MP_SASL_BIT(mech);
    if (mech == MP_SASL_PLAIN && b[0] && strcmp(b, "=") != 0)
      from_plain(m, b);
    if (mech == MP_SASL_LOGIN && b[0])
      from_b64(&m->user, b), m->responses = 1;
  } else if (!strcasecmp(verb, "LOGIN") && m->r->proto == MP_PROTO_IMAP) {
    word(&p, a, sizeof(a));
    word(&p, b, sizeof(b));
    keep(&m->user, a, strlen(a));
    keep(&m->password, b, strlen(b));
    m->methods |= MP_AUTH_LOGIN_CMD;
    m->login_cmd = 'L';
  } else if (!strcasecmp(verb, "USER")) {
    word(&p, a, sizeof(a));
    keep(&m->user, a, strlen(a));
    m->methods |= MP_AUTH_USER;
    m->login_cmd = 'U';
  } else if (!strcasecmp(verb, "PASS")) {
    while (*p == ' ')
      p++;
    keep(&m->password, p, strlen(p));
    m->login_cmd = 'P';
  } else if (!strcasecmp(verb, "APOP")) {
    word(&p, a, sizeof(a));
    keep(&m->user, a, strlen(a));
    m->methods |= MP_AUTH_APOP;
    m->login_cmd = 'A';
  } else if (!strcasecmp(verb, "DATA") && m->r->proto == MP_PROTO_SMTP) {
    m->data_wait = 1;
  }
  m->starttls_sent = !strcasecmp(verb, "STARTTLS") || !strcasecmp(verb, "STLS");
}

/* Learns what a SASL response in clear tells. */
static void learn_response(struct imp *m, const char *line)
{
  if (m->login_mech == MP_SASL_PLAIN)
    from_plain(m, line);
  else if (m->login_mech == MP_SASL_LOGIN)
    from_b64(m->responses == 0 ? &m->user : &m->password, line);
  else if (m->login_mech == MP_SASL_CRAM_MD5 && m->responses == 0) {
    size_t n = 0;
    unsigned char *d = mp_b64_decode(line, &n);
    const unsigned char *sp = d ? memchr(d, ' ', n) : NULL;
    if (sp)
      keep(&m->user, (const char *)d, (size_t)(sp - d));
    free(d);
  }
  m->responses++;
}

void mp_imp_client(struct imp *m, const char *line, int masked)
{
  if (!m->connected)
    mp_imp_connected(m, NULL, 0);
  if (m->in_data) {
    if (strcmp(line, ".") == 0)
      m->in_data = 0;
    return;
  }
  int response = m->auth_open && m->challenge;
  if (!masked) {
    if (response)
      learn_response(m, line);
    else
      learn_login(m, line);
  } else if (!response) {
    /* masked already: the commands still tell the method and the user */
    learn_login(m, line);
  }
  size_t len = strlen(line);
  char *shown = malloc(len + 8);
  if (!shown)
    return;
  size_t n = masked ? (size_t)snprintf(shown, len + 8, "%s", line)
                    : mp_mask_line(line, response, shown, len + 8);
  if (n >= len + 8)
    n = len + 7;
  mp_rec_add(m->r, MP_PEV_SENT, m->t_us, MP_PHASE_BANNER, shown, n, response);
  free(shown);
  m->challenge = 0;
}

void mp_imp_tls(struct imp *m, const char *version, const char *cipher, int ok)
{
  struct mp_rec_session *s = mp_rec_current(m->r);
  if (!s)
    return;
  if (!m->saw_server)
    m->implicit = 1;
  mp_rec_add(m->r, MP_PEV_TLS_START, m->t_us, MP_PHASE_TLS, NULL, 0, 0);
  mp_rec_add(m->r, MP_PEV_TLS_DONE, m->t_us, MP_PHASE_TLS, NULL, 0, 0);
  s->tls_done = 1;
  s->tls_status = ok ? 0 : -1;
  if (version)
    snprintf(s->tls.version, sizeof(s->tls.version), "%s", version);
  if (cipher)
    snprintf(s->tls.cipher, sizeof(s->tls.cipher), "%s", cipher);
  m->tls_on = ok;
  s->tls_used = ok;
  if (!ok)
    m->ended = 'f';
}

int mp_imp_finish(struct imp *m, const char *name, char *err, size_t errlen)
{
  struct mp_rec *r = m->r;
  struct mp_rec_session *s = mp_rec_current(r);
  if (!s || (!m->connected && !m->saw_server)) {
    snprintf(err, errlen, "%s: no session in the transcript", name);
    return -1;
  }
  r->tls = m->implicit                      ? MP_TLSMODE_IMPLICIT
           : (m->tls_on || m->ended == 'f') ? MP_TLSMODE_STARTTLS
                                            : MP_TLSMODE_NONE;
  if (m->user || m->password || m->methods)
    r->user = strdup(m->user ? m->user : "user");
  free(r->password);
  r->password = m->password;
  m->password = NULL;
  r->auth = m->methods;
  if (!r->servername && r->host)
    r->servername = strdup(r->host);
  if (s->have_cert && s->cert.nsans == 0) {
    /* the name the client checked: the host, or else the certificate's
     * own name (a transcript that does not say where it went) */
    const char *cn = r->servername;
    for (size_t i = 0; !cn && i < s->cert.nsubject; i++)
      if (strncmp(s->cert.subject[i], "CN=", 3) == 0)
        cn = s->cert.subject[i] + 3;
    if (cn) {
      int ip = strspn(cn, "0123456789.:") == strlen(cn);
      snprintf(s->cert.sans[0], MP_CERT_NAME_LEN, "%s%s",
               ip ? "IP:" : "DNS:", cn);
      s->cert.nsans = 1;
      if (!r->servername)
        r->servername = strdup(cn);
    }
  }
  if (!r->source) {
    char buf[512];
    snprintf(buf, sizeof(buf), "the transcript %s", name);
    r->source = strdup(buf);
  }
  if (!s->ended) {
    /* a first guess at the result; the replay's own run gives expect */
    s->ok = m->ended == 0;
    s->err = m->ended == 'c'   ? MP_E_CONNECTION_CLOSED
             : m->ended == 't' ? MP_E_TIMEOUT
             : m->ended == 'f' ? MP_E_TLS_FAILED
                               : 0;
    s->phase = m->ended == 'f' ? MP_PHASE_TLS : MP_PHASE_QUIT;
    for (int i = 0; i < MP_PHASE_COUNT; i++)
      s->timings_us[i] = -1;
    s->ended = 1;
  }
  return 0;
}

void mp_imp_free(struct imp *m)
{
  free(m->user);
  if (m->password) {
    memset(m->password, 0, strlen(m->password));
    free(m->password);
  }
  m->user = m->password = NULL;
}
