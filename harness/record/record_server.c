/* A recorded server as a case's server block
 * (harness/record/record_internal.h): protocol, TLS mode, version and
 * cipher, the certificate's facts, the placeholder user, the mechanisms
 * the capabilities named, and the script of every exchange. */
#include "harness/record/record_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fake_servers/fake.h"
#include "wire/errors.h"
#include "wire/sasl.h"

/* ---- the server ------------------------------------------------------- */

/* The SASL mechanisms the capabilities named, that the fake server knows,
 * in their order. */
static void put_mechs(struct mp_rec_writer *w)
{
  char seen[MP_SASL_COUNT + 1] = {0};
  int order[MP_SASL_COUNT], n = 0;
  for (size_t i = 0; i < w->nx; i++) {
    const struct xch *x = &w->xs[i];
    for (size_t k = 0; k < x->nl; k++) {
      const char *l = x->lines[k]->data;
      const char *list = NULL;
      if (w->r->proto == MP_PROTO_SMTP && strlen(l) > 4 &&
          strncasecmp(l + 4, "AUTH", 4) == 0 && (l[8] == ' ' || l[8] == '='))
        list = l + 9;
      else if (w->r->proto == MP_PROTO_POP3 && strncasecmp(l, "SASL ", 5) == 0)
        list = l + 5;
      else if (w->r->proto == MP_PROTO_IMAP)
        list = l;
      if (!list)
        continue;
      char word[64];
      for (const char *p = list; *p;) {
        size_t wl = strcspn(p, " ]");
        if (wl && wl < sizeof(word)) {
          memcpy(word, p, wl);
          word[wl] = '\0';
          const char *name = word;
          if (w->r->proto == MP_PROTO_IMAP)
            name = strncasecmp(word, "AUTH=", 5) == 0 ? word + 5 : "";
          int m = mp_sasl_from_name(name);
          if (m >= 0 && m < MP_SASL_COUNT && !seen[m]) {
            seen[m] = 1;
            order[n++] = m;
          }
        }
        p += wl;
        while (*p == ' ' || *p == ']')
          p++;
      }
    }
  }
  fputs("    auth: [", w->f);
  for (int i = 0; i < n; i++)
    fprintf(w->f, "%s%s", i ? ", " : "", mp_sasl_name(order[i]));
  fputs("]\n", w->f);
}

static void put_names(struct mp_rec_writer *w, const char *key,
                      const char (*v)[MP_CERT_NAME_LEN], size_t n)
{
  fprintf(w->f, "      %s: [", key);
  for (size_t i = 0; i < n; i++) {
    if (i)
      fputs(", ", w->f);
    mp_rec__put_str(w, v[i], strlen(v[i]));
  }
  fputs("]\n", w->f);
}

static int trusted(const struct mp_rec_session *s)
{
  const char *e = s->tls.verify_error;
  return !strstr(e, "local issuer") && !strstr(e, "first certificate") &&
         !strstr(e, "self-signed certificate in");
}

static void put_cert(struct mp_rec_writer *w)
{
  const struct mp_cert_facts *c = &w->s->cert;
  char t[32];
  fputs("    cert:   # like the recorded one, re-issued by the run's CA\n",
        w->f);
  put_names(w, "subject", c->subject, c->nsubject);
  /* the issuer is a CA's name, not the customer's: kept as it was */
  fprintf(w->f, "      issuer: [");
  for (size_t i = 0; i < c->nissuer; i++) {
    if (i)
      fputs(", ", w->f);
    if (mp_rec_is_text(c->issuer[i], strlen(c->issuer[i])))
      mp_rec_yaml_str(w->f, c->issuer[i], strlen(c->issuer[i]));
  }
  fputs("]\n", w->f);
  put_names(w, "sans", c->sans, c->nsans);
  mp_cert_time_format(c->not_before, t, sizeof(t));
  fprintf(w->f, "      not_before: \"%s\"\n", t);
  mp_cert_time_format(c->not_after, t, sizeof(t));
  fprintf(w->f, "      not_after: \"%s\"\n", t);
  fprintf(w->f, "      self_signed: %s\n", c->self_signed ? "true" : "false");
  if (!c->self_signed && w->s->tls.verify_error[0] && !trusted(w->s))
    fputs("      trusted: false\n", w->f);
  fprintf(w->f, "      key: %s\n      chain: %u\n", c->rsa ? "rsa" : "ec",
          c->chain ? c->chain : 1);
}

static const char *fault_name(int f)
{
  switch (f) {
  case MP_TLS_FAULT_CLOSE:
    return "close";
  case MP_TLS_FAULT_GARBAGE:
    return "garbage";
  case MP_TLS_FAULT_STALL:
    return "stall";
  default:
    return "alert";
  }
}

/* What a handshake took past a local one (two round trips and some 10 ms
 * of work): a server slow to answer the ClientHello, or dripping its
 * records; 0 when within 20 ms of that. */
static uint64_t slow_handshake(const struct mp_rec_writer *w)
{
  uint64_t start = 0, done = 0;
  const struct mp_rec_session *s = w->s;
  for (size_t i = 0; i < s->nev; i++) {
    if (s->ev[i].kind == MP_PEV_TLS_START)
      start = s->ev[i].t_us;
    else if (s->ev[i].kind == MP_PEV_TLS_DONE && start)
      done = s->ev[i].t_us;
  }
  if (!done || !w->r->timed)
    return 0;
  uint64_t local = 2 * w->rtt_us + 10000;
  uint64_t took = done - start;
  return took > local + 20000 ? took - local : 0;
}

static int used_starttls(const struct mp_rec_writer *w)
{
  for (size_t i = 0; i < w->nx; i++)
    if (w->xs[i].starttls)
      return 1;
  return 0;
}

void mp_rec__put_server(struct mp_rec_writer *w)
{
  const struct mp_rec *r = w->r;
  const struct mp_rec_session *s = w->s;
  int implicit = r->tls == MP_TLSMODE_IMPLICIT;
  int tls = implicit || used_starttls(w) || w->tls_fault;

  fprintf(w->f, "  %s:\n", w->server_name);
  fprintf(w->f, "    protocol: %s\n", mp_rec__proto_key(r->proto));
  if (tls) {
    fprintf(w->f, "    tls: %s\n", implicit ? "implicit" : "starttls");
    if (s->tls.version[0] && !s->tls_status) {
      fprintf(w->f, "    tls_version: %s\n", s->tls.version);
      if (s->tls.cipher[0])
        fprintf(w->f, "    cipher: %s\n", s->tls.cipher);
    }
    if (s->have_cert)
      put_cert(w);
  }
  const char *host = NULL;
  for (size_t i = 0; s->have_cert && i < s->cert.nsans && !host; i++)
    if (strncmp(s->cert.sans[i], "DNS:", 4) == 0)
      host = s->cert.sans[i] + 4;
  if (host && !strchr(host, '*')) {
    fputs("    hostname: ", w->f);
    mp_rec__put_str(w, host, strlen(host));
    fputc('\n', w->f);
  }
  if (r->user)
    fprintf(w->f,
            "    users: { \"%s\": \"%s\" }   # placeholders: the "
            "original login is not in this file\n",
            MP_REC_USER, MP_REC_PASSWORD);
  /* An OAuth login is replayed live too: the fake server knows a
   * placeholder token for the same user, never the original one. */
  if (r->user && r->bearer)
    fprintf(w->f,
            "    tokens: { \"%s\": { user: \"%s\" } }   # a placeholder, "
            "not the original token\n",
            MP_REC_TOKEN, MP_REC_USER);
  put_mechs(w);
  if (w->apop_live)
    fputs("    apop: true\n", w->f);
  if (r->timeout_ms >= 50000)
    fprintf(w->f, "    idle_timeout: %llums\n",
            (unsigned long long)r->timeout_ms + 10000);
  if (w->delivery_ms >= 0)
    fprintf(w->f,
            "    delivery: { delay: %lldms }   # what the round trip "
            "measured, less half a poll\n",
            (long long)w->delivery_ms);
  else if (w->delivery_ms == MP_REC_LOST)
    fputs("    delivery: { lose: true }   # the message never showed up\n",
          w->f);
  /* the rules go to a buffer first: none at all is "script: []" */
  char *rules = NULL;
  size_t rlen = 0;
  FILE *out = w->f;
  w->f = open_memstream(&rules, &rlen);
  if (!w->f) {
    w->f = out;
    return;
  }
  uint64_t slow = slow_handshake(w);
  if (w->tls_fault || slow) {
    fputs("      - on: tls\n", w->f);
    if (slow) {
      fputs("        delay: ", w->f);
      mp_rec__put_ms(w->f, slow);
      fputs("   # the handshake took this much longer than a local one\n",
            w->f);
      w->replayed_us += slow;
    }
    if (w->tls_fault)
      fprintf(w->f, "        tls_fault: %s\n", fault_name(w->tls_fault));
  }
  for (size_t i = 0; i < w->nx; i++)
    mp_rec__put_rule(w, i);
  if (w->nx == 0 && !w->tls_fault)
    fputs("      - on: connect\n        reply: []\n        then: close\n",
          w->f);
  fclose(w->f);
  w->f = out;
  int any = strstr(rules ? rules : "", "- on:") != NULL;
  fputs(any ? "    script:\n" : "    script: []\n", w->f);
  if (rules)
    fputs(rules, w->f);
  free(rules);
}
