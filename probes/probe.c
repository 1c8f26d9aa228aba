/* The probe session: resolve, connect (each address in turn), implicit or
 * STARTTLS TLS, the deadline, the transcript, and the end of a probe. The
 * protocols (probes/smtp.c, pop3.c, imap.c) only interpret lines. */
#include "probes/probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "probes/mask.h"
#include "probes/names.h"
#include "probes/session.h"
#include "wire/conn.h"
#include "wire/errors.h"
#include "wire/sasl.h"
#include "wire/tls.h"

struct mp_probe_addr {
  struct sockaddr_storage ss;
};

static const char *const proto_names[] = {"smtp", "pop3", "imap"};
static const char *const tls_names[] = {"none", "starttls", "implicit", "auto"};

const char *mp_proto_name(enum mp_proto p)
{
  return mp_name_of(proto_names, MP_NAMES_COUNT(proto_names), (int)p,
                    "unknown");
}

int mp_proto_from_name(const char *name)
{
  return mp_name_find(proto_names, MP_NAMES_COUNT(proto_names), name, 1);
}

const char *mp_tls_mode_name(enum mp_tls_mode m)
{
  return mp_name_of(tls_names, MP_NAMES_COUNT(tls_names), (int)m, "unknown");
}

int mp_tls_mode_from_name(const char *name)
{
  return mp_name_find(tls_names, MP_NAMES_COUNT(tls_names), name, 1);
}

uint16_t mp_default_port(enum mp_proto proto, enum mp_tls_mode tls)
{
  int implicit = tls == MP_TLSMODE_IMPLICIT;
  switch (proto) {
  case MP_PROTO_SMTP:
    return implicit ? 465 : tls == MP_TLSMODE_STARTTLS ? 587 : 25;
  case MP_PROTO_POP3:
    return implicit ? 995 : 110;
  case MP_PROTO_IMAP:
    return implicit ? 993 : 143;
  }
  return 0;
}

static const struct mp_probe_proto *proto_for(enum mp_proto proto)
{
  switch (proto) {
  case MP_PROTO_SMTP:
    return &mp_smtp_proto;
  case MP_PROTO_POP3:
    return &mp_pop3_proto;
  case MP_PROTO_IMAP:
    return &mp_imap_proto;
  }
  return NULL;
}

/* ---- time, transcript ------------------------------------------------ */

uint64_t mp_session_elapsed(const struct mp_probe *p)
{
  return mp_now_us() - p->t0_us;
}

void mp_session_phase(struct mp_probe *p, enum mp_phase phase)
{
  uint64_t now = mp_now_us();
  int64_t *t = &p->r->timings_us[p->phase];
  *t = (*t < 0 ? 0 : *t) + (int64_t)(now - p->phase_t0_us);
  p->phase = phase;
  p->phase_t0_us = now;
  if (p->r->timings_us[phase] < 0)
    p->r->timings_us[phase] = 0;
}

/* Tells the tap, if any, about an event. */
static void tap(struct mp_probe *p, struct mp_probe_event ev)
{
  if (!p->o.tap)
    return;
  ev.t_us = mp_session_elapsed(p);
  ev.phase = (int)p->phase;
  p->o.tap(p->o.tap_data, &ev);
}

static void log_line(struct mp_probe *p, char dir, const char *line, size_t len)
{
  mp_result_add_line(p->r, dir, mp_session_elapsed(p), line, len);
  if (p->o.trace) {
    char buf[1024];
    size_t n = len < sizeof(buf) - 1 ? len : sizeof(buf) - 1;
    memcpy(buf, line, n);
    buf[n] = '\0';
    p->o.trace(p->o.trace_data, dir, buf);
  }
}

void mp_session_log(struct mp_probe *p, char dir, const char *text)
{
  log_line(p, dir, text, strlen(text));
}

void mp_session_move(struct mp_probe *p, const char *from, const char *to,
                     enum mp_phase phase)
{
  static int debug = -1;
  if (debug < 0)
    debug = getenv("MAILPROBE_DEBUG") != NULL;
  if (debug)
    fprintf(stderr, "%s %8.3fms %s -> %s\n", p->proto->name,
            (double)mp_session_elapsed(p) / 1000.0, from, to);
  if (p->phase != phase)
    mp_session_phase(p, phase);
}

int (*mp_session_writer)(struct mp_conn *c, const void *buf,
                         size_t len) = mp_conn_write;

static void conn_failed(struct mp_probe *p, int err, const char *unsent);

/* A write the connection refused (mp_conn_write: it is closing, the peer
 * leaves the queue full, a TLS record failed, no memory): the command
 * never left, so no answer will come. The probe ends now, in the phase of
 * the command, with the connection's error, rather than at its deadline. */
int mp_session_write(struct mp_probe *p, const void *buf, size_t len,
                     const char *unsent)
{
  if (p->finished)
    return MP_E_CONNECTION_CLOSED;
  int rc = mp_session_writer(p->conn, buf, len);
  if (rc < 0) {
    char why[256];
    if (!unsent) {
      snprintf(why, sizeof(why), "could not send a command in %s: %s",
               mp_phase_name(p->phase), mp_err_message(rc));
      unsent = why;
    }
    conn_failed(p, rc, unsent);
  }
  return rc;
}

/* Logs line through the masker and sends it with CRLF. */
static int send_line(struct mp_probe *p, const char *line, int response)
{
  if (p->finished)
    return MP_E_CONNECTION_CLOSED;
  size_t len = strlen(line);
  /* The masked line is at most 5 bytes longer ("PASS " -> "PASS ****");
   * commands fit the stack, a long SASL response takes the heap. */
  char small[512], *shown = small, wire[512], *buf = wire;
  if (len + 2 > sizeof(wire))
    buf = malloc(len + 2);
  if (buf && len + 8 > sizeof(small))
    shown = malloc(len + 8);
  if (!buf || !shown) {
    if (buf != wire)
      free(buf);
    conn_failed(p, MP_E_NO_RESOURCES, "out of memory");
    return MP_E_NO_RESOURCES;
  }
  size_t n = mp_mask_line(line, response, shown, len + 8);
  log_line(p, 'c', shown, n);
  tap(p,
      (struct mp_probe_event){
          .kind = MP_PEV_SENT, .data = shown, .len = n, .response = response});
  if (shown != small)
    free(shown);
  memcpy(buf, line, len);
  memcpy(buf + len, "\r\n", 2);
  int rc = mp_session_write(p, buf, len + 2, NULL);
  if (buf != wire)
    free(buf);
  return rc;
}

int mp_session_send(struct mp_probe *p, const char *line)
{
  return send_line(p, line, 0);
}

int mp_session_send_response(struct mp_probe *p, const char *line)
{
  return send_line(p, line, 1);
}

void mp_session_reply(struct mp_probe *p, int code, const char *text)
{
  mp_result_set_reply(p->r, code, text);
}

/* ---- the end --------------------------------------------------------- */

static void probe_free(struct mp_probe *p)
{
  if (p->proto && p->proto->cleanup)
    p->proto->cleanup(p);
  mp_login_free(&p->login);
  if (p->ctx)
    mp_tls_ctx_unref(p->ctx);
  for (size_t i = 0; i < sizeof(p->owned) / sizeof(p->owned[0]); i++)
    free(p->owned[i]);
  free(p->addrs);
  free(p->state);
  mp_result_free(p->r);
  free(p);
}

static void on_conn_close(struct mp_conn *c)
{
  probe_free(mp_conn_data(c));
}

/* Hands the result over and closes the connection (which frees p). */
static void probe_finish(struct mp_probe *p)
{
  if (p->finished)
    return;
  p->finished = 1;
  struct mp_result *r = p->r;
  mp_session_phase(p, p->phase);
  r->phase = p->phase;
  r->total_us = mp_session_elapsed(p);
  r->insecure = p->o.insecure;
  if (p->in_tls && p->conn && mp_conn_tls(p->conn)) {
    r->tls_used = 1;
    mp_tls_get_info(mp_conn_tls(p->conn), &r->tls);
  }
  if (p->conn && mp_conn_buffered(p->conn) > 0)
    tap(p, (struct mp_probe_event){.kind = MP_PEV_UNREAD,
                                   .data = mp_conn_peek(p->conn),
                                   .len = mp_conn_buffered(p->conn)});
  tap(p, (struct mp_probe_event){.kind = MP_PEV_END,
                                 .result = r,
                                 .rtt_us = mp_conn_rtt_us(p->conn)});
  p->r = NULL;
  p->cb(r, p->cb_data);
  if (p->conn)
    mp_conn_close(p->conn); /* on_close frees p */
  else
    probe_free(p);
}

void mp_session_ok(struct mp_probe *p)
{
  if (p->finished)
    return;
  p->r->ok = 1;
  p->r->err = 0;
  probe_finish(p);
}

static void vfail(struct mp_probe *p, int err, const char *fmt, va_list ap)
{
  if (p->finished)
    return;
  p->r->ok = 0;
  p->r->err = err;
  if (fmt) {
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    mp_result_set_detail(p->r, "%s", buf);
    log_line(p, '*', buf, strlen(buf));
  }
  probe_finish(p);
}

void mp_session_fail(struct mp_probe *p, int err, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vfail(p, err, fmt, ap);
  va_end(ap);
}

void mp_session_fail_quit(struct mp_probe *p, int err, const char *fmt, ...)
{
  char line[64] = "";
  if (p->finished)
    return;
  p->proto->goodbye(p, line, sizeof(line) - 2);
  if (line[0]) {
    /* Its write may fail: the failure being reported is the news. */
    log_line(p, 'c', line, strlen(line));
    tap(p, (struct mp_probe_event){
               .kind = MP_PEV_SENT, .data = line, .len = strlen(line)});
    memcpy(line + strlen(line), "\r\n", 3);
    mp_session_writer(p->conn, line, strlen(line));
  }
  va_list ap;
  va_start(ap, fmt);
  vfail(p, err, fmt, ap);
  va_end(ap);
}

void mp_session_quit_deadline(struct mp_probe *p)
{
  uint64_t left = mp_conn_deadline_left(p->conn);
  if (left > 5000)
    mp_conn_set_deadline(p->conn, 5000);
}

/* ---- connection callbacks -------------------------------------------- */

static void on_line(struct mp_conn *c, char *line, size_t len)
{
  struct mp_probe *p = mp_conn_data(c);
  if (p->finished)
    return;
  tap(p,
      (struct mp_probe_event){.kind = MP_PEV_LINE, .data = line, .len = len});
  log_line(p, 's', line, len);
  /* A NUL is text in no reply grammar (RFC 5321 4.2 textstring, RFC 9051
   * 9 TEXT-CHAR, RFC 1939 3 printable text), and string handling would
   * read only the part before it: the line is no reply. */
  if (memchr(line, '\0', len) != NULL) {
    mp_session_fail(p, MP_E_PROTOCOL_ERROR,
                    "a NUL byte in a line from the server in %s",
                    mp_phase_name(p->phase));
    return;
  }
  p->proto->line(p, line, len);
}

static void on_raw(struct mp_conn *c, const char *buf, size_t len, int last)
{
  struct mp_probe *p = mp_conn_data(c);
  if (!p->finished)
    tap(p,
        (struct mp_probe_event){.kind = MP_PEV_RAW, .data = buf, .len = len});
  if (!p->finished && p->proto->raw)
    p->proto->raw(p, buf, len, last);
}

/* The server sent us a line, or part of one, so far. */
static int heard_anything(const struct mp_result *r)
{
  for (size_t i = 0; i < r->ntranscript; i++)
    if (r->transcript[i].dir == 's')
      return 1;
  return r->reply_code != 0;
}

/* The connection failed with err: reported by it (on_error), or a write
 * it refused (unsent names what was not sent: a line, NULL, or the
 * sentence to give). */
static void conn_failed(struct mp_probe *p, int err, const char *unsent)
{
  if (p->phase == MP_PHASE_QUIT) {
    /* The goodbye is ours to send, not the server's to finish. */
    if (err == MP_E_TIMEOUT) {
      p->r->warn = 1;
      mp_result_set_detail(p->r, "no answer to the goodbye command");
    }
    if (err == MP_E_TIMEOUT || err == MP_E_CONNECTION_CLOSED) {
      mp_session_ok(p);
      return;
    }
  }
  if (unsent) {
    mp_session_fail(p, err, "%s", unsent);
    return;
  }
  switch (err) {
  case MP_E_TIMEOUT:
    /* A server silent from the start on a port we spoke plain text to may
     * be waiting for our TLS ClientHello (RFC 8314 3): nothing on the wire
     * can say more, so say what it may be. */
    if (p->phase == MP_PHASE_BANNER && !p->in_tls &&
        p->o.tls != MP_TLSMODE_IMPLICIT && !heard_anything(p->r)) {
      mp_session_fail(p, err,
                      "no greeting within the deadline (%.3fs); the port "
                      "may expect implicit TLS (--tls implicit)",
                      (double)p->o.timeout_ms / 1000.0);
      break;
    }
    mp_session_fail(p, err, "no answer within the deadline (%.3fs) in %s",
                    (double)p->o.timeout_ms / 1000.0, mp_phase_name(p->phase));
    break;
  case MP_E_PROTOCOL_ERROR:
    mp_session_fail(p, err, "a line longer than the limit");
    break;
  case MP_E_CONNECTION_CLOSED:
    mp_session_fail(p, err, "the server closed the connection in %s",
                    mp_phase_name(p->phase));
    break;
  default:
    mp_session_fail(p, err, "%s", mp_err_message(err));
  }
}

static void on_error(struct mp_conn *c, int err)
{
  struct mp_probe *p = mp_conn_data(c);
  if (!p->finished)
    conn_failed(p, err, NULL);
}

static const struct mp_conn_cbs probe_cbs = {
    .on_line = on_line,
    .on_raw = on_raw,
    .on_error = on_error,
    .on_close = on_conn_close,
};

/* ---- TLS ------------------------------------------------------------- */

/* A client context per distinct trust setting, shared by every probe of
 * the process (loading a CA store is the costly part of a context). */
static struct ctx_cache {
  char *cafile;
  char *ca_pem; /* a copy: compared by content (each probe owns its own
                   copy of opts->ca_pem, so a pointer never matches) */
  int insecure;
  struct mp_tls_ctx *ctx;
} ctx_cache[8];

static int same_str(const char *a, const char *b)
{
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static struct mp_tls_ctx *client_ctx(struct mp_probe *p, char *err,
                                     size_t errlen)
{
  const char *cafile = p->o.cafile;
  size_t i;
  for (i = 0; i < 8 && ctx_cache[i].ctx; i++) {
    struct ctx_cache *e = &ctx_cache[i];
    if (e->insecure == p->o.insecure && same_str(e->ca_pem, p->o.ca_pem) &&
        same_str(e->cafile, cafile)) {
      mp_tls_ctx_ref(e->ctx);
      return e->ctx;
    }
  }
  struct mp_tls_client_opts o = {
      .cafile = cafile, .ca_pem = p->o.ca_pem, .insecure = p->o.insecure};
  struct mp_tls_ctx *ctx = mp_tls_ctx_client(&o, err, errlen);
  if (!ctx)
    return NULL;
  char *cafile_copy = cafile ? strdup(cafile) : NULL;
  char *pem_copy = p->o.ca_pem ? strdup(p->o.ca_pem) : NULL;
  if ((cafile && !cafile_copy) || (p->o.ca_pem && !pem_copy)) {
    free(cafile_copy); /* no memory to remember it: use it uncached */
    free(pem_copy);
    return ctx;
  }
  if (i == 8) { /* full: drop the oldest */
    mp_tls_ctx_unref(ctx_cache[0].ctx);
    free(ctx_cache[0].cafile);
    free(ctx_cache[0].ca_pem);
    memmove(ctx_cache, ctx_cache + 1, sizeof(ctx_cache[0]) * 7);
    i = 7;
  }
  ctx_cache[i].cafile = cafile_copy;
  ctx_cache[i].ca_pem = pem_copy;
  ctx_cache[i].insecure = p->o.insecure;
  ctx_cache[i].ctx = ctx;
  mp_tls_ctx_ref(ctx);
  return ctx;
}

void mp_probe_cleanup(void)
{
  for (size_t i = 0; i < 8 && ctx_cache[i].ctx; i++) {
    mp_tls_ctx_unref(ctx_cache[i].ctx);
    free(ctx_cache[i].cafile);
    free(ctx_cache[i].ca_pem);
  }
  memset(ctx_cache, 0, sizeof(ctx_cache));
}

static void on_tls(struct mp_conn *c, int status)
{
  struct mp_probe *p = mp_conn_data(c);
  if (p->finished)
    return;
  tap(p, (struct mp_probe_event){
             .kind = MP_PEV_TLS_DONE, .status = status, .tls = mp_conn_tls(c)});
  if (status < 0) {
    struct mp_tls *t = mp_conn_tls(c);
    struct mp_tls_info info;
    mp_tls_get_info(t, &info);
    p->r->tls = info;
    mp_session_fail(p, status, "TLS handshake failed: %s",
                    t ? mp_tls_error(t) : mp_err_message(status));
    return;
  }
  p->in_tls = 1;
  struct mp_tls_info info;
  mp_tls_get_info(mp_conn_tls(c), &info);
  char note[512];
  snprintf(note, sizeof(note), "TLS %s %s, certificate %s%s%s", info.version,
           info.cipher, info.subject, info.verified ? "" : ", NOT VERIFIED: ",
           info.verified ? "" : info.verify_error);
  log_line(p, '*', note, strlen(note));
  if (p->phase == MP_PHASE_TLS && p->r->timings_us[MP_PHASE_BANNER] < 0) {
    /* implicit TLS: now the greeting */
    mp_session_phase(p, MP_PHASE_BANNER);
    p->proto->start(p);
  } else {
    p->proto->tls_done(p);
  }
}

void mp_session_starttls(struct mp_probe *p)
{
  if (!p->ctx) {
    mp_session_fail(p, MP_E_TLS_FAILED, "TLS set-up failed: %s", p->ctx_err);
    return;
  }
  if (mp_conn_buffered(p->conn) > 0) {
    /* Still the STARTTLS phase: the go-ahead came with company. */
    mp_session_fail(p, MP_E_PROTOCOL_ERROR,
                    "the server sent %zu bytes after the TLS go-ahead "
                    "(RFC 3207 4.2: pipelining here is forbidden)",
                    mp_conn_buffered(p->conn));
    return;
  }
  mp_session_phase(p, MP_PHASE_TLS);
  tap(p, (struct mp_probe_event){.kind = MP_PEV_TLS_START});
  const char *name = p->o.servername ? p->o.servername : p->o.host;
  int rc = mp_conn_start_tls(p->conn, p->ctx, 0, name, on_tls);
  if (rc < 0) {
    mp_session_fail(p, rc, "TLS handshake failed: %s", mp_err_message(rc));
  }
}

/* ---- connect --------------------------------------------------------- */

static void try_connect(struct mp_probe *p);

static void on_connect(struct mp_conn *c, int status)
{
  struct mp_probe *p = mp_conn_data(c);
  if (status == MP_E_CONNECTION_CLOSED) {
    /* Accepted, then reset at once: the session, not the connect, failed
     * (a firewall or tcpwrappers hanging up on us). */
    mp_conn_set_cbs(c, &(struct mp_conn_cbs){0});
    p->conn = NULL;
    mp_session_phase(p, p->o.tls == MP_TLSMODE_IMPLICIT ? MP_PHASE_TLS
                                                        : MP_PHASE_BANNER);
    mp_session_fail(p, status,
                    "the server reset the connection as it "
                    "accepted it");
    return;
  }
  if (status < 0) {
    /* The connection closes itself; keep p alive for the next address. */
    mp_conn_set_cbs(c, &(struct mp_conn_cbs){0});
    p->conn = NULL;
    if (status != MP_E_CONNECT_TIMEOUT && p->next_addr < p->naddrs &&
        mp_session_elapsed(p) / 1000 < p->o.timeout_ms) {
      try_connect(p);
      return;
    }
    mp_session_fail(p, status, "could not connect to %s: %s", p->r->address,
                    mp_err_message(status));
    return;
  }
  tap(p, (struct mp_probe_event){.kind = MP_PEV_CONNECTED,
                                 .rtt_us = mp_conn_rtt_us(c)});
  if (p->o.tls == MP_TLSMODE_IMPLICIT) {
    mp_session_starttls(p); /* phase tls, then the banner */
    return;
  }
  mp_session_phase(p, MP_PHASE_BANNER);
  p->proto->start(p);
}

static void addr_name(const struct sockaddr_storage *ss, char *buf, size_t len)
{
  char ip[INET6_ADDRSTRLEN] = "?";
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
    snprintf(buf, len, "[%s]:%u", ip, ntohs(a->sin6_port));
  } else {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
    snprintf(buf, len, "%s:%u", ip, ntohs(a->sin_port));
  }
}

static void try_connect(struct mp_probe *p)
{
  const struct sockaddr_storage *ss = &p->addrs[p->next_addr++].ss;
  addr_name(ss, p->r->address, sizeof(p->r->address));
  mp_session_phase(p, MP_PHASE_CONNECT);
  p->conn = mp_conn_new(p->loop, &probe_cbs, p);
  if (!p->conn) {
    mp_session_fail(p, MP_E_NO_RESOURCES, "out of memory");
    return;
  }
  /* The deadline counts from the start of the probe, to the microsecond
   * (not from this connect, nor in whole milliseconds): what the caller
   * waits for is timeout_ms after mp_probe_start. */
  uint64_t deadline_us = p->t0_us + p->o.timeout_ms * 1000;
  uint64_t used = mp_session_elapsed(p) / 1000;
  uint64_t left = p->o.timeout_ms > used ? p->o.timeout_ms - used : 1;
  uint64_t cto = p->o.connect_timeout_ms && p->o.connect_timeout_ms < left
                     ? p->o.connect_timeout_ms
                     : left;
  mp_conn_set_deadline_at(p->conn, deadline_us);
  int rc =
      mp_conn_connect(p->conn, (const struct sockaddr *)ss, cto, on_connect);
  if (rc < 0) {
    /* The connection is closing itself; it must not free p. */
    mp_conn_set_cbs(p->conn, &(struct mp_conn_cbs){0});
    p->conn = NULL;
    mp_session_fail(p, rc, "could not connect to %s: %s", p->r->address,
                    mp_err_message(rc));
  }
}

static void on_resolved(int status, const struct sockaddr_storage *addrs,
                        size_t n, void *data)
{
  struct mp_probe *p = data;
  if (status < 0 || n == 0) {
    if (mp_session_elapsed(p) / 1000 >= p->o.timeout_ms)
      mp_session_fail(p, MP_E_TIMEOUT, "resolving %s took past the deadline",
                      p->o.host);
    else
      mp_session_fail(p, MP_E_DNS_FAILED, "could not resolve %s", p->o.host);
    return;
  }
  if (mp_session_elapsed(p) / 1000 >= p->o.timeout_ms) {
    mp_session_fail(p, MP_E_TIMEOUT, "resolving %s took past the deadline",
                    p->o.host);
    return;
  }
  p->addrs = calloc(n, sizeof(*p->addrs));
  if (!p->addrs) {
    mp_session_fail(p, MP_E_NO_RESOURCES, "out of memory");
    return;
  }
  for (size_t i = 0; i < n; i++)
    p->addrs[i].ss = addrs[i];
  p->naddrs = n;
  try_connect(p);
}

int mp_probe_start(struct uv_loop_s *loop, const struct mp_probe_opts *opts,
                   mp_probe_cb cb, void *data)
{
  /* The probe's time (its deadline, its total) starts when the caller
   * started it. */
  uint64_t t0_us = mp_now_us();
  const struct mp_probe_proto *proto = proto_for(opts->proto);
  if (!proto || !opts->host || !cb)
    return MP_E_PROTOCOL_ERROR;
  struct mp_probe *p = calloc(1, sizeof(*p));
  if (!p)
    return MP_E_NO_RESOURCES;
  p->loop = loop;
  p->o = *opts;
  if (!p->o.helo)
    p->o.helo = "mailprobe.invalid";
  /* Copies: the caller's strings need not outlive this call. */
  const char **strs[] = {&p->o.host,   &p->o.user,   &p->o.password,
                         &p->o.cafile, &p->o.ca_pem, &p->o.servername,
                         &p->o.helo,   &p->o.token};
  for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
    if (*strs[i])
      *strs[i] = p->owned[i] = strdup(*strs[i]);
  if (!p->o.timeout_ms)
    p->o.timeout_ms = MP_PROBE_DEFAULT_TIMEOUT_MS;
  if (!p->o.port)
    p->o.port = mp_default_port(opts->proto, opts->tls);
  p->cb = cb;
  p->cb_data = data;
  p->proto = proto;
  p->login.method = -1;
  p->state = calloc(1, proto->state_size);
  p->r = mp_result_new();
  if (!p->state || !p->r || !p->o.host || !p->o.helo) {
    probe_free(p);
    return MP_E_NO_RESOURCES;
  }
  /* The TLS context (trust store loading is the slow part) is made
   * before the first phase starts, so no phase pays for it; the deadline
   * and the total do: the caller waited for it. */
  if (p->o.tls != MP_TLSMODE_NONE)
    p->ctx = client_ctx(p, p->ctx_err, sizeof(p->ctx_err));
  p->t0_us = t0_us;
  p->phase_t0_us = mp_now_us();
  p->phase = MP_PHASE_RESOLVE;
  p->r->timings_us[MP_PHASE_RESOLVE] = 0;
  /* DNS gets no more time than the probe has. */
  uint64_t dns_ms =
      p->o.dns.timeout_ms ? p->o.dns.timeout_ms : MP_RESOLVE_DEFAULT_TIMEOUT_MS;
  if (dns_ms > p->o.timeout_ms)
    dns_ms = p->o.timeout_ms;
  p->o.dns.timeout_ms = dns_ms;
  int rc = mp_resolve(loop, p->o.host, p->o.port, &p->o.dns, on_resolved, p);
  if (rc < 0) {
    probe_free(p);
    return rc;
  }
  return 0;
}
