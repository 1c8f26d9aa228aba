/* What the three fake servers share between a command line and its
 * answer (session.h): the command tables and their lookup, the state
 * setter, the error cap, and the server side of a SASL exchange framed
 * per protocol. The verbs of the tables are the ones a case's `on:` may
 * name (fake.h). */
#include "fake_servers/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wire/errors.h"
#include "wire/sasl.h"

/* ---- the protocols and their verbs -------------------------------------- */

/* The protocols, by enum mp_fake_proto. */
static const struct mp_fake_protocol *const protos[] = {
    [MP_FAKE_SMTP] = &mp_fake_smtp_proto,
    [MP_FAKE_POP3] = &mp_fake_pop3_proto,
    [MP_FAKE_IMAP] = &mp_fake_imap_proto,
};

const struct mp_fake_protocol *mp_fake_protocol_of(int proto)
{
  if (proto < 0 || (size_t)proto >= sizeof(protos) / sizeof(protos[0]))
    return NULL;
  return protos[proto];
}

const struct mp_fake_command *
mp_fake_command_find(const struct mp_fake_command *table, size_t n,
                     const char *verb, size_t len)
{
  if (len == 0)
    return NULL;
  /* Byte by byte, stopping at the name's NUL and at len: a long verb is
   * never compared past a short name (the fuzzer's fake_smtp-1 was memcmp
   * reading on), and a NUL inside the verb never ends a match early. The
   * first letter (names are upper case) skips most names cheaply. */
  char first =
      verb[0] >= 'a' && verb[0] <= 'z' ? (char)(verb[0] - 32) : verb[0];
  for (size_t i = 0; i < n; i++) {
    const char *name = table[i].name;
    if (name[0] != first)
      continue;
    size_t k = 1;
    while (k < len && name[k]) {
      char c =
          verb[k] >= 'a' && verb[k] <= 'z' ? (char)(verb[k] - 32) : verb[k];
      if (c != name[k])
        break;
      k++;
    }
    if (k == len && name[k] == '\0')
      return &table[i];
  }
  return NULL;
}

int mp_fake_verb_known(enum mp_fake_proto proto, const char *name)
{
  const struct mp_fake_protocol *p = mp_fake_protocol_of((int)proto);
  return p && name &&
         mp_fake_command_find(p->commands, p->ncommands, name, strlen(name));
}

const char *mp_fake_verb(enum mp_fake_proto proto, size_t i)
{
  const struct mp_fake_protocol *p = mp_fake_protocol_of((int)proto);
  return p && i < p->ncommands ? p->commands[i].name : NULL;
}

void mp_fake_dispatch(struct mp_fake_session *s,
                      const struct mp_fake_command *c, struct mp_fake_args *g,
                      struct mp_fake_answer *a)
{
  const struct mp_fake_protocol *p = s->srv->proto;
  if (!(c->states & (1u << s->state))) {
    if (p->not_now)
      p->not_now(s, c, a);
    return;
  }
  g->cmd = c;
  c->fn(s, g, a);
}

void mp_fake_command_line(struct mp_fake_session *s, char *line, size_t len,
                          const struct mp_fake_verb_line *f,
                          struct mp_fake_answer *a)
{
  const struct mp_fake_protocol *p = s->srv->proto;
  size_t vl = strcspn(line, " ");
  const struct mp_fake_command *c =
      mp_fake_command_find(p->commands, p->ncommands, line, vl);
  if (len == 0 || strlen(line) != len) {
    mp_fake_client_error(s, a, f->bad_syntax);
    return;
  }
  /* RFC 5321 4.5.3.1.4, RFC 2449 4; RFC 4954 4 and RFC 5034 4 let AUTH
   * carry an initial response as long as a SASL response. */
  if (len > (c && strcmp(c->name, "AUTH") == 0 ? p->sasl->max_response
                                               : f->max_command)) {
    mp_fake_client_error(s, a, f->too_long);
    return;
  }
  if (!c) {
    mp_fake_client_error(s, a, f->unknown);
    return;
  }
  struct mp_fake_args g = {.raw = line + vl + (line[vl] == ' ')};
  g.arg = g.raw + strspn(g.raw, " ");
  mp_fake_dispatch(s, c, &g, a);
}

/* ---- states and replies ------------------------------------------------- */

void mp_fake_set_state(struct mp_fake_session *s, int state)
{
  const struct mp_fake_protocol *p = s->srv->proto;
  if (s->state != state && s->srv->trace)
    fprintf(stderr, "fake %s #%u: %s -> %s\n", p->name, s->id,
            p->state_names[s->state], p->state_names[state]);
  s->state = state;
}

void mp_fake_reply(struct mp_fake_session *s, struct mp_fake_answer *a,
                   const char *line)
{
  const struct mp_fake_protocol *p = s->srv->proto;
  if (p->tag)
    mp_fake_answer_join(a, p->tag(s), " ", line, NULL);
  else
    mp_fake_answer_join(a, line, NULL);
}

void mp_fake_client_error(struct mp_fake_session *s, struct mp_fake_answer *a,
                          const char *line)
{
  const struct mp_fake_protocol *p = s->srv->proto;
  int cap = ++s->errors >= p->max_errors;
  if (!cap || p->too_many_after)
    mp_fake_reply(s, a, line);
  if (!cap)
    return;
  mp_fake_answer_line(a, p->too_many, mp_fake_hostname(s->srv));
  a->effect = MP_FX_CLOSE;
  if (p->closed_state >= 0)
    mp_fake_set_state(s, p->closed_state);
}

/* ---- the server side of SASL -------------------------------------------- */

void mp_fake_sasl_end(struct mp_fake_session *s)
{
  mp_sasl_server_free(s->sasl);
  s->sasl = NULL;
}

/* The exchange is over: no SASL, the state it leaves in. */
static void sasl_over(struct mp_fake_session *s)
{
  const struct mp_fake_sasl_frame *f = s->srv->proto->sasl;
  mp_fake_sasl_end(s);
  if (f->idle_state >= 0)
    mp_fake_set_state(s, f->idle_state);
}

/* A reply that is a client error or not, as the frame says. */
static void sasl_reply(struct mp_fake_session *s, struct mp_fake_answer *a,
                       const char *line, int counts)
{
  if (counts)
    mp_fake_client_error(s, a, line);
  else
    mp_fake_reply(s, a, line);
}

/* Turns a step's result into the answer: a challenge, or the end. */
static void sasl_result(struct mp_fake_session *s, int rc, char *out,
                        struct mp_fake_answer *a)
{
  const struct mp_fake_sasl_frame *f = s->srv->proto->sasl;
  if (rc == MP_SASL_CONTINUE) {
    /* The challenge, maybe empty, in base64 after the frame's prefix. */
    mp_fake_answer_join(a, f->cont, out ? out : "", NULL);
    if (f->exchange_state >= 0)
      mp_fake_set_state(s, f->exchange_state);
    free(out);
    return;
  }
  free(out);
  if (f->idle_state >= 0)
    mp_fake_set_state(s, f->idle_state);
  if (rc == MP_SASL_DONE)
    f->logged_in(s, mp_sasl_server_user(s->sasl), a);
  else if (rc == MP_E_AUTH_FAILED && s->sasl_bearer &&
           mp_fake_oauth_failed(s, a))
    ; /* Gmail's or Exchange Online's own words */
  else if (rc == MP_E_AUTH_FAILED)
    sasl_reply(s, a, f->failed, f->failed_counts);
  else if (rc == MP_E_PROTOCOL_ERROR)
    mp_fake_client_error(s, a, f->undecodable);
  else
    mp_fake_reply(s, a, f->temporary);
  mp_fake_sasl_end(s);
}

int mp_fake_sasl_args(const char *arg, char *mech, size_t cap,
                      const char **initial)
{
  size_t n = strcspn(arg, " ");
  if (n == 0 || n >= cap)
    return MP_E_PROTOCOL_ERROR;
  memcpy(mech, arg, n);
  mech[n] = '\0';
  *initial = arg + n + strspn(arg + n, " ");
  if (!**initial)
    *initial = NULL;
  return 0;
}

int mp_fake_sasl_start(struct mp_fake_session *s, const char *mech,
                       const char *initial, struct mp_fake_answer *a)
{
  const struct mp_fake_sasl_frame *f = s->srv->proto->sasl;
  int id = mp_sasl_from_name(mech);
  if (id < 0 || !mp_fake_auth_offered(s->srv->cfg, mech)) {
    sasl_reply(s, a, f->unsupported, f->unsupported_counts);
    return MP_E_AUTH_FAILED;
  }
  s->sasl =
      mp_sasl_server_new(id, mp_fake_hostname(s->srv), mp_fake_password, s);
  if (!s->sasl) {
    mp_fake_reply(s, a, f->temporary);
    return MP_E_NO_RESOURCES;
  }
  s->sasl_bearer = mp_sasl_is_bearer(id);
  if (s->sasl_bearer)
    mp_sasl_server_set_bearer(s->sasl, mp_fake_oauth_check, s);
  char *out = NULL;
  int rc;
  /* A server that needs the initial response (SASL-IR, RFC 4959) refuses
   * an exchange without one as it refuses a bad token. */
  if (s->sasl_bearer && !initial && s->srv->cfg->oauth.require_ir)
    rc = MP_E_AUTH_FAILED;
  else
    rc = mp_sasl_server_start(s->sasl, initial, &out);
  sasl_result(s, rc, out, a);
  return 0;
}

void mp_fake_sasl_line(struct mp_fake_session *s, const char *line, size_t len,
                       int replaced, struct mp_fake_answer *a)
{
  const struct mp_fake_sasl_frame *f = s->srv->proto->sasl;
  if (replaced) {
    sasl_over(s); /* a rule answered: the exchange is over */
    return;
  }
  /* RFC 4954 4, RFC 5034 4, RFC 9051 6.2.2: "*" cancels; the server
   * answers with its error. */
  if (f->exact_cancel ? len == 1 && line[0] == '*' : strcmp(line, "*") == 0) {
    sasl_over(s);
    mp_fake_reply(s, a, f->cancelled);
    return;
  }
  size_t n = strlen(line);
  if ((f->nul_fails && n != len) || (f->max_response && n > f->max_response)) {
    sasl_over(s);
    mp_fake_client_error(s, a, f->too_long);
    return;
  }
  char *out = NULL;
  int rc = mp_sasl_server_step(s->sasl, line, &out);
  sasl_result(s, rc, out, a);
}
