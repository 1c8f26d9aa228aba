/* A recording as a case file (harness/record/record_case.h): the session
 * cut into exchanges (the greeting, then each command with the lines that
 * answered it), each exchange a script rule, then the probe and what it
 * must give. */
#include "harness/record/record_case.h"

#include "harness/record/record_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fake_servers/fake.h"
#include "harness/record/record_text.h"
#include "wire/errors.h"
#include "wire/sasl.h"

const char *mp_rec__proto_key(enum mp_proto p)
{
  return p == MP_PROTO_SMTP ? "smtp" : p == MP_PROTO_POP3 ? "pop3" : "imap";
}

/* ---- writing ---------------------------------------------------------- */

/* Writes a string through the scrubber, as YAML. */
void mp_rec__put_str(struct mp_rec_writer *w, const char *s, size_t len)
{
  size_t n;
  char *clean = mp_rec_scrub_apply(&w->sc, s, len, &n);
  if (!clean) {
    fputs("\"\"", w->f);
    return;
  }
  if (mp_rec_is_text(clean, n))
    mp_rec_yaml_str(w->f, clean, n);
  else
    mp_rec_yaml_hex(w->f, clean, n);
  free(clean);
}

/* A comment line (scrubbed, printable). */
static void put_comment(struct mp_rec_writer *w, const char *indent,
                        const char *s)
{
  size_t n;
  char *clean = mp_rec_scrub_apply(&w->sc, s, strlen(s), &n);
  if (!clean)
    return;
  fprintf(w->f, "%s# ", indent);
  for (size_t i = 0; i < n && i < 200; i++) {
    unsigned char c = (unsigned char)clean[i];
    fputc(c < 0x20 || c == 0x7f ? '?' : c, w->f);
  }
  fputc('\n', w->f);
  free(clean);
}

void mp_rec__put_ms(FILE *f, uint64_t us)
{
  uint64_t ms = (us + 500) / 1000;
  fprintf(f, "%llums", (unsigned long long)ms);
}

/* The exchange's delay before its first line, with the round trip out. */
static uint64_t delay_us(const struct mp_rec_writer *w, const struct xch *x,
                         int closing)
{
  uint64_t at = x->nl ? x->t_first : closing ? w->s->total_us : x->t_ref;
  uint64_t rtt = x->connect ? 0 : w->rtt_us;
  if (at < x->t_ref + rtt)
    return 0;
  return at - x->t_ref - rtt;
}

/* Every line of the exchange's answer is text YAML can hold. */
static int all_text(const struct mp_rec_writer *w, const struct xch *x,
                    size_t from)
{
  for (size_t i = from; i < x->nl; i++) {
    size_t n;
    char *c =
        mp_rec_scrub_apply(&w->sc, x->lines[i]->data, x->lines[i]->len, &n);
    int ok = c && mp_rec_is_text(c, n);
    free(c);
    if (!ok)
      return 0;
  }
  return 1;
}

#define MAX_UNREAD 1024

/* The reply lines, the tag of an IMAP command as {tag}; bytes the probe
 * never read after them (unread) follow as they were. */
static void put_reply(struct mp_rec_writer *w, const struct xch *x, size_t from,
                      size_t to, const struct mp_rec_event *unread)
{
  /* Bytes the probe never read matter only as bytes being there (sent
   * after a go-ahead, before a greeting): some of them are enough. */
  size_t ulen = unread ? unread->len : 0;
  if (ulen > MAX_UNREAD)
    ulen = MAX_UNREAD;
  if (!all_text(w, x, from)) {
    /* Bytes that are not text go out exactly, as send_hex. */
    fputs("        reply: []\n", w->f);
    size_t total = ulen;
    for (size_t i = from; i < to; i++)
      total += x->lines[i]->len + 2;
    char *buf = malloc(total + 1), *p = buf;
    if (!buf)
      return;
    for (size_t i = from; i < to; i++) {
      size_t n;
      char *c =
          mp_rec_scrub_apply(&w->sc, x->lines[i]->data, x->lines[i]->len, &n);
      if (c && (size_t)(p - buf) + n + 2 <= total) {
        memcpy(p, c, n);
        p += n;
        memcpy(p, "\r\n", 2);
        p += 2;
      }
      free(c);
    }
    if (ulen) {
      memcpy(p, unread->data, ulen);
      p += ulen;
    }
    fputs("        send_hex: ", w->f);
    mp_rec_yaml_hex(w->f, buf, (size_t)(p - buf));
    fputc('\n', w->f);
    free(buf);
    return;
  }
  fputs(to > from ? "        reply:\n" : "        reply: []\n", w->f);
  size_t tl = strlen(x->tag);
  for (size_t i = from; i < to; i++) {
    const struct mp_rec_event *e = x->lines[i];
    fputs("          - ", w->f);
    if (tl && e->len > tl && memcmp(e->data, x->tag, tl) == 0 &&
        e->data[tl] == ' ') {
      char *t = malloc(e->len + 8);
      if (!t)
        return;
      memcpy(t, "{tag}", 5);
      memcpy(t + 5, e->data + tl, e->len - tl);
      mp_rec__put_str(w, t, 5 + e->len - tl);
      free(t);
    } else {
      mp_rec__put_str(w, e->data, e->len);
    }
    fputc('\n', w->f);
  }
  if (ulen) {
    fputs("        send_hex: ", w->f);
    mp_rec_yaml_hex(w->f, unread->data, ulen);
    fputs("   # sent, never read by the probe\n", w->f);
  }
}

/* Commands whose effect the fake server must still have though its answer
 * is replaced: greeting (EHLO), selecting, the envelope. */
static int takes_effect(const char *verb)
{
  static const char *const v[] = {"EHLO", "HELO", "SELECT", "EXAMINE",
                                  "MAIL", "RCPT", "DATA",   NULL};
  for (size_t i = 0; v[i]; i++)
    if (strcmp(verb, v[i]) == 0)
      return 1;
  return 0;
}

/* A reply whose lines came apart in time (a greeting in pieces, a slow
 * multi-line EHLO): dripped over the same span, so its last line, which
 * the client waits for, comes as late as it came. */
static void put_spread(struct mp_rec_writer *w, const struct xch *x,
                       size_t from, size_t to)
{
  if (to < from + 2)
    return;
  uint64_t span = x->lines[to - 1]->t_us - x->lines[from]->t_us;
  if (span < 2 * MP_REC_MIN_DELAY_US)
    return;
  size_t bytes = 0;
  for (size_t i = from; i < to; i++)
    bytes += x->lines[i]->len + 2;
  size_t pieces = to - from;
  size_t each = (bytes + pieces - 1) / pieces;
  uint64_t every = (span / (pieces - 1) + 500) / 1000;
  fprintf(w->f,
          "        drip: { bytes: %zu, every: %llums }   # its lines came "
          "over %.1f ms\n",
          each, (unsigned long long)(every ? every : 1), (double)span / 1000.0);
}

static int is_goodbye(const char *verb)
{
  return strcmp(verb, "QUIT") == 0 || strcmp(verb, "LOGOUT") == 0;
}

static void put_on(struct mp_rec_writer *w, const struct xch *x)
{
  if (x->connect) {
    fputs("      - on: connect\n", w->f);
    return;
  }
  if (mp_fake_verb_known((enum mp_fake_proto)w->r->proto, x->verb)) {
    fprintf(w->f, "      - on: %s\n", x->verb);
  } else {
    /* not in the fake server's table: a glob over the line */
    fputs("      - on: ", w->f);
    char glob[64];
    snprintf(glob, sizeof(glob), "line:%s%s%s*",
             w->r->proto == MP_PROTO_IMAP ? "* " : "", x->verb, "");
    mp_rec_yaml_str(w->f, glob, strlen(glob));
    fputc('\n', w->f);
  }
  fprintf(w->f, "        nth: %u\n", x->nth);
}

void mp_rec__put_rule(struct mp_rec_writer *w, size_t i)
{
  const struct xch *x = &w->xs[i];
  int last = i + 1 == w->nx;
  enum ending end = last ? w->ending : END_NORMAL;
  int closing = end == END_CLOSE;
  uint64_t d = delay_us(w, x, closing);

  if (x->connect && x->nl == 0 && !last)
    return; /* no greeting came: the handshake failed first */
  if (x->connect && x->nl == 0 && w->s->phase == MP_PHASE_TLS)
    return;
  if (x->cmd)
    put_comment(w, "      ", x->cmd->data);
  if (x->live && !last) {
    if (d < MP_REC_MIN_DELAY_US)
      return;
    put_on(w, x);
    fputs("        delay: ", w->f);
    mp_rec__put_ms(w->f, d);
    fputs("   # a live exchange: the fake server answers\n", w->f);
    w->replayed_us += d;
    return;
  }
  put_on(w, x);
  if (d >= MP_REC_MIN_DELAY_US) {
    fputs("        delay: ", w->f);
    mp_rec__put_ms(w->f, d);
    fputc('\n', w->f);
    w->replayed_us += d;
  }
  size_t from = x->final_from;
  size_t to = x->nl;
  /* SMTP DATA: the go-ahead, then the answer to the message */
  int data_split = strcmp(x->verb, "DATA") == 0 && x->nl > 1 &&
                   w->r->proto == MP_PROTO_SMTP && x->lines[0]->data[0] == '3';
  if (data_split)
    to = 1;
  put_reply(w, x, from, to, data_split || end == END_LONG ? NULL : x->unread);
  if (end == END_LONG) {
    fputs("        # the recording was cut here: the next line passed the "
          "line-length limit\n"
          "        send: \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"\n"
          "        repeat: forever\n",
          w->f);
  }
  put_spread(w, x, from, to);
  if (takes_effect(x->verb))
    fputs("        take_effect: true\n", w->f);
  if (end == END_CLOSE || (is_goodbye(x->verb) && end == END_NORMAL))
    fputs("        then: close\n", w->f);
  else if (end == END_HANG) {
    fputs("        then: hang\n", w->f);
    w->hang_used = 1;
  } else if (x->starttls)
    fputs("        then: starttls\n", w->f);
  if (data_split) {
    fputs("      - on: message\n", w->f);
    fprintf(w->f, "        nth: %u\n", x->nth);
    put_reply(w, x, 1, x->nl, x->unread);
  }
}

/* ---- the probe and expect --------------------------------------------- */

static void put_auth_list(struct mp_rec_writer *w, const char *in)
{
  unsigned a = w->r->auth;
  if (!a)
    return;
  fprintf(w->f, "%sauth: [", in);
  int first = 1;
  for (int m = 0; m < MP_SASL_COUNT; m++)
    if (a & MP_SASL_BIT(m)) {
      fprintf(w->f, "%s\"AUTH=%s\"", first ? "" : ", ", mp_sasl_name(m));
      first = 0;
    }
  if (a & MP_AUTH_USER)
    fprintf(w->f, "%sUSER", first ? "" : ", "), first = 0;
  if (a & MP_AUTH_APOP)
    fprintf(w->f, "%sAPOP", first ? "" : ", "), first = 0;
  if (a & MP_AUTH_LOGIN_CMD)
    fprintf(w->f, "%sLOGIN", first ? "" : ", ");
  fputs("]\n", w->f);
}

void mp_rec__put_probe_keys(struct mp_rec_writer *w, const char *in)
{
  const struct mp_rec *r = w->r;
  fprintf(w->f, "%stls: %s\n", in, mp_tls_mode_name(r->tls));
  if (r->user)
    fprintf(w->f, "%suser: \"%s\"\n", in, MP_REC_USER);
  if (r->user && r->bearer)
    fprintf(w->f, "%stoken: \"%s\"\n", in, MP_REC_TOKEN);
  put_auth_list(w, in);
  fprintf(w->f, "%stimeout: %llums\n", in, (unsigned long long)r->timeout_ms);
  if (r->connect_timeout_ms)
    fprintf(w->f, "%sconnect_timeout: %llums\n", in,
            (unsigned long long)r->connect_timeout_ms);
  if (r->insecure)
    fprintf(w->f, "%sinsecure: true\n", in);
  if (r->helo && r->proto == MP_PROTO_SMTP) {
    fprintf(w->f, "%shelo: ", in);
    mp_rec__put_str(w, r->helo, strlen(r->helo));
    fputc('\n', w->f);
  }
  const char *name = r->servername ? r->servername : r->host;
  if (name && r->tls != MP_TLSMODE_NONE) {
    fprintf(w->f, "%sservername: ", in);
    mp_rec__put_str(w, name, strlen(name));
    fputs("   # the name the original verified\n", w->f);
  }
}

static void put_probe(struct mp_rec_writer *w, int refused)
{
  fputs("probe:\n", w->f);
  fprintf(w->f, "  type: %s\n", mp_rec__proto_key(w->r->proto));
  if (refused) {
    fputs("  target: \"127.0.0.1:1\"   # nothing listens: refused, as the "
          "original was\n",
          w->f);
    fprintf(w->f, "  tls: %s\n", mp_tls_mode_name(w->r->tls));
    fprintf(w->f, "  timeout: %llums\n", (unsigned long long)w->r->timeout_ms);
    return;
  }
  fprintf(w->f, "  server: %s\n", w->server_name);
  mp_rec__put_probe_keys(w, "  ");
}

static void put_expect(struct mp_rec_writer *w)
{
  const struct mp_rec_session *s = w->s;
  fputs("expect:\n", w->f);
  fprintf(w->f, "  status: %s\n", s->ok ? "ok" : "fail");
  fprintf(w->f, "  error: %s\n", s->ok ? "none" : mp_err_name(s->err));
  fprintf(w->f, "  phase: %s\n", mp_phase_name((enum mp_phase)s->phase));
  if (w->r->user)
    fprintf(w->f, "  auth: %s\n", s->auth ? s->auth : "none");
  if (s->tls_used && s->tls.version[0])
    fprintf(w->f, "  tls: { version: %s, verified: %s }\n", s->tls.version,
            s->tls.verified ? "true" : "false");
  else if (s->ok)
    fputs("  tls: false\n", w->f);
  if (s->messages >= 0 && s->ok)
    fprintf(w->f, "  messages: %lld\n", (long long)s->messages);
  uint64_t want = w->replayed_us;
  if (w->ending == END_HANG || w->tls_fault == MP_TLS_FAULT_STALL)
    want = w->r->timeout_ms * 1000;
  uint64_t lo = want - want / 20, hi = want + want / 20 + 5000;
  lo = lo > 5000 ? lo - 5000 : 0;
  fprintf(w->f,
          "  # elapsed: the delays the replay waits (%.1f ms%s) within 5 ms "
          "+ 5%% below;\n"
          "  # above, 5%% + 5 ms + 2 s for handshakes, logins and a busy "
          "machine.\n"
          "  # The original took %.1f ms (round trip %.1f ms).\n",
          (double)want / 1000.0,
          want == w->r->timeout_ms * 1000 ? ", the probe's timeout" : "",
          (double)s->total_us / 1000.0, (double)w->rtt_us / 1000.0);
  fputs("  elapsed: { min: ", w->f);
  mp_rec__put_ms(w->f, lo);
  fputs(", max: ", w->f);
  mp_rec__put_ms(w->f, hi + 2000000);
  fputs(" }\n", w->f);
}

/* ---- the whole ---------------------------------------------------------- */

static void learn_names(struct mp_rec_writer *w)
{
  const struct mp_rec *r = w->r;
  const struct mp_rec_session *s = w->s;
  if (r->host)
    mp_rec_scrub_learn(&w->sc, r->host, strlen(r->host));
  if (r->servername)
    mp_rec_scrub_learn(&w->sc, r->servername, strlen(r->servername));
  for (size_t i = 0; s->have_cert && i < s->cert.nsans; i++)
    mp_rec_scrub_learn(&w->sc, s->cert.sans[i], strlen(s->cert.sans[i]));
  for (size_t i = 0; s->have_cert && i < s->cert.nsubject; i++)
    mp_rec_scrub_learn(&w->sc, s->cert.subject[i], strlen(s->cert.subject[i]));
  for (size_t i = 0; i < s->nev; i++)
    if (s->ev[i].kind == MP_PEV_LINE)
      mp_rec_scrub_learn(&w->sc, s->ev[i].data, s->ev[i].len);
}

void mp_rec__put_head(struct mp_rec_writer *w, const char *dflt)
{
  const struct mp_rec *r = w->r;
  const struct mp_rec_session *s = w->s;
  char when[32];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
  char line[512];
  snprintf(line, sizeof(line), "Recorded by mailprobe record from %s on %s",
           r->source ? r->source : "a session", when);
  put_comment(w, "", line);
  fputs("# The fake server plays the session back: the greeting and every "
        "reply\n"
        "# verbatim, the delays as measured (reply arrival minus command "
        "sent,\n"
        "# the round trip taken out) and how the session ended. A login "
        "that\n"
        "# worked is left to the fake server (its own user, its own "
        "challenges);\n"
        "# a refused one is scripted, so it stays refused whatever the "
        "password.\n",
        w->f);
  if (!r->timed)
    fputs("# The transcript had no times: every delay is zero.\n", w->f);
  if (s->cut)
    fputs("# The recording was cut: it passed the limit of events or bytes "
          "a\n# recording keeps; the replay stops where it stopped.\n",
          w->f);
  if (w->o->anonymize)
    fputs("# Anonymized: host names, domains and addresses are replaced.\n",
          w->f);
  if (s->err == MP_E_PROTOCOL_ERROR && s->detail) {
    snprintf(line, sizeof(line), "The original failed: %s", s->detail);
    put_comment(w, "", line);
  }
  const char *name = w->o->name ? w->o->name : dflt;
  fputs("name: ", w->f);
  mp_rec__put_str(w, name, strlen(name));
  fprintf(w->f, "\ntags: [recorded, %s]\n", mp_rec__proto_key(r->proto));
}

int mp_rec__writer_init(struct mp_rec_writer *w, const struct mp_rec *r,
                        const struct mp_rec_session *s,
                        const struct mp_rec_case_opts *o, int roundtrip,
                        FILE *f, char *err, size_t errlen)
{
  memset(w, 0, sizeof(*w));
  w->r = r;
  w->s = s;
  w->o = o;
  w->f = f;
  w->server_name = "rec";
  w->roundtrip = roundtrip;
  w->delivery_ms = -1;
  int placeholder = o->password && strcmp(o->password, MP_REC_PASSWORD) == 0;
  if ((!placeholder && mp_rec_scrub_secret(&w->sc, o->password) < 0) ||
      (r->user && strlen(r->user) >= 4 &&
       mp_rec_scrub_add(&w->sc, r->user, MP_REC_USER) < 0))
    goto oom;
  if (o->anonymize)
    learn_names(w);
  if (mp_rec__split(w) < 0)
    goto oom;
  /* the kernel's round trip; else the connect's time (which also holds
   * the time the probe waited to be scheduled) */
  w->rtt_us = s->rtt_us ? s->rtt_us
              : s->timings_us[MP_PHASE_CONNECT] > 0
                  ? (uint64_t)s->timings_us[MP_PHASE_CONNECT]
                  : 0;
  /* The connect took one round trip: a kernel estimate above it is no
   * round trip of this path. */
  if (s->timings_us[MP_PHASE_CONNECT] > 0 &&
      w->rtt_us > (uint64_t)s->timings_us[MP_PHASE_CONNECT])
    w->rtt_us = (uint64_t)s->timings_us[MP_PHASE_CONNECT];
  return 0;
oom:
  snprintf(err, errlen, "out of memory");
  mp_rec__writer_free(w);
  return -1;
}

void mp_rec__writer_free(struct mp_rec_writer *w)
{
  for (size_t i = 0; i < w->nx; i++)
    free(w->xs[i].lines);
  free(w->xs);
  w->xs = NULL;
  w->nx = 0;
  mp_rec_scrub_free(&w->sc);
}

int mp_rec_write_case(const struct mp_rec *r, const struct mp_rec_case_opts *o,
                      FILE *out, char *err, size_t errlen)
{
  struct mp_rec_writer w;
  if (r->ns == 0) {
    snprintf(err, errlen, "nothing was recorded");
    return -1;
  }
  const struct mp_rec_session *s = &r->s[0];
  int connected = 0;
  for (size_t i = 0; i < s->nev; i++)
    connected |=
        s->ev[i].kind == MP_PEV_CONNECTED || s->ev[i].kind == MP_PEV_LINE;
  int refused = !connected && s->err == MP_E_CONNECT_REFUSED;
  if (!connected && !refused) {
    snprintf(err, errlen,
             "the session never connected (%s): nothing a fake server can "
             "replay",
             mp_err_name(s->err));
    return -1;
  }
  if (mp_rec__writer_init(&w, r, s, o, 0, out, err, errlen) < 0)
    return -1;
  char dflt[256];
  snprintf(dflt, sizeof(dflt), "recorded %s session: %s%s%s",
           mp_rec__proto_key(r->proto), s->ok ? "ok" : "fail",
           s->ok ? "" : ", ", s->ok ? "" : mp_err_name(s->err));
  mp_rec__put_head(&w, dflt);
  if (!refused) {
    fputs("servers:\n", out);
    mp_rec__put_server(&w);
  }
  put_probe(&w, refused);
  put_expect(&w);
  mp_rec__writer_free(&w);
  return 0;
}
