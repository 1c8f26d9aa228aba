/* A round trip recorded (harness/record/record_rt.h). */
#include "harness/record/record_rt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/record/record.h"
#include "harness/record/record_internal.h"
#include "harness/record/record_out.h"
#include "probes/roundtrip.h"
#include "wire/errors.h"

struct mp_rec_rt {
  struct mp_rec *send, *fetch;
  char *password; /* the send half's, then the fetch half's: scrubbed */
  char *fetch_password;
  uint64_t email_timeout_ms, poll_ms;
  char *path;
  int fd, created, written;
};

struct mp_rec_rt *mp_rec_rt_open(const char *path, char *err, size_t errlen)
{
  struct mp_rec_rt *rt = calloc(1, sizeof(*rt));
  if (!rt || !(rt->send = mp_rec_new()) || !(rt->fetch = mp_rec_new()) ||
      !(rt->path = strdup(path))) {
    snprintf(err, errlen, "out of memory");
    if (rt) {
      mp_rec_free(rt->send);
      mp_rec_free(rt->fetch);
      free(rt);
    }
    return NULL;
  }
  rt->fd = mp_rec_out_open(path, &rt->created, err, errlen);
  if (rt->fd < 0) {
    mp_rec_rt_free(rt);
    return NULL;
  }
  return rt;
}

static char *dup_or_null(const char *s)
{
  return s ? strdup(s) : NULL;
}

void mp_rec_rt_attach(struct mp_rec_rt *rt, struct mp_rt_opts *o)
{
  mp_rec_set_opts(rt->send, &o->send);
  mp_rec_set_opts(rt->fetch, &o->fetch);
  rt->password = dup_or_null(o->send.password);
  rt->fetch_password = dup_or_null(o->fetch.password);
  rt->email_timeout_ms = o->email_timeout_ms ? o->email_timeout_ms
                                             : MP_RT_DEFAULT_EMAIL_TIMEOUT_MS;
  rt->poll_ms = o->poll_ms ? o->poll_ms : MP_RT_DEFAULT_POLL_MS;
  o->send.tap = mp_rec_tap;
  o->send.tap_data = rt->send;
  o->fetch.tap = mp_rec_tap;
  o->fetch.tap_data = rt->fetch;
}

/* The fetch server when no fetch session ran (the send half failed). */
static void put_bare_box(FILE *f, const struct mp_rec *fetch)
{
  fprintf(f, "  box:\n    protocol: %s\n    users: { \"%s\": \"%s\" }\n",
          fetch->proto == MP_PROTO_IMAP ? "imap" : "pop3", MP_REC_USER,
          MP_REC_PASSWORD);
}

static void put_expect(FILE *f, const struct mp_result *res, uint64_t max_ms,
                       int64_t delivery_ms, uint64_t poll_ms)
{
  fputs("expect:\n", f);
  fprintf(f, "  status: %s\n  error: %s\n  phase: %s\n",
          res->ok ? "ok" : "fail", res->ok ? "none" : mp_err_name(res->err),
          mp_phase_name(res->phase));
  if (res->ok && res->found >= 0)
    fprintf(f, "  found: %lld\n", (long long)res->found);
  if (res->ok && res->deleted >= 0)
    fprintf(f, "  deleted: %lld\n", (long long)res->deleted);
  if (res->ok && delivery_ms >= 0) {
    /* the replay's delay, 5 ms + 5% below; a poll and 2 s above */
    int64_t lo = delivery_ms - delivery_ms / 20 - 5;
    fprintf(f,
            "  delivery: { min: %lldms, max: %lldms }   # the replayed delay "
            "- 5 ms - 5%%; the original's + a poll + 2 s\n",
            (long long)(lo > 0 ? lo : 0),
            (long long)(res->delivery_us / 1000 + (int64_t)poll_ms + 2000));
  }
  fprintf(f,
          "  elapsed: { max: %llums }   # the email timeout and both "
          "halves' timeouts\n",
          (unsigned long long)max_ms);
}

static int write_text(struct mp_rec_rt *rt, const struct mp_result *res,
                      FILE *f, char *err, size_t errlen)
{
  struct mp_rec_case_opts co = {.password = rt->password};
  struct mp_rec_case_opts cf = {.password = rt->fetch_password};
  struct mp_rec_writer ws, wf;
  int have_fetch = rt->fetch->ns > 0;
  if (rt->send->ns == 0) {
    snprintf(err, errlen, "the round trip sent nothing: nothing to replay");
    return -1;
  }
  if (mp_rec__writer_init(&ws, rt->send, &rt->send->s[0], &co, 1, f, err,
                          errlen) < 0)
    return -1;
  /* the last poll: the one that found the message, or the last tried */
  if (have_fetch &&
      mp_rec__writer_init(&wf, rt->fetch, &rt->fetch->s[rt->fetch->ns - 1], &cf,
                          1, f, err, errlen) < 0) {
    mp_rec__writer_free(&ws);
    return -1;
  }
  ws.server_name = "mx";
  if (have_fetch)
    wf.server_name = "box";
  if (res->delivery_us >= 0) {
    int64_t d = res->delivery_us / 1000 - (int64_t)rt->poll_ms / 2;
    ws.delivery_ms = d > 0 ? d : 0;
  } else if (res->err == MP_E_MESSAGE_NOT_DELIVERED) {
    ws.delivery_ms = MP_REC_LOST;
  }
  char name[128];
  snprintf(name, sizeof(name), "recorded round trip: %s%s%s",
           res->ok ? "ok" : "fail", res->ok ? "" : ", ",
           res->ok ? "" : mp_err_name(res->err));
  mp_rec__put_head(&ws, name);
  fputs("servers:\n", f);
  mp_rec__put_server(&ws);
  if (have_fetch)
    mp_rec__put_server(&wf);
  else
    put_bare_box(f, rt->fetch);
  fputs("probe:\n  type: roundtrip\n  send:\n    server: mx\n", f);
  mp_rec__put_probe_keys(&ws, "    ");
  fprintf(f, "  fetch:\n    server: box\n    type: %s\n",
          rt->fetch->proto == MP_PROTO_IMAP ? "imap" : "pop3");
  if (have_fetch) {
    mp_rec__put_probe_keys(&wf, "    ");
  } else {
    fprintf(f, "    tls: none\n    user: \"%s\"\n", MP_REC_USER);
  }
  fprintf(f, "  to: \"%s\"\n", MP_REC_USER);
  fprintf(f, "  email_timeout: %llums\n  poll: %llums\n",
          (unsigned long long)rt->email_timeout_ms,
          (unsigned long long)rt->poll_ms);
  put_expect(f, res,
             rt->email_timeout_ms + rt->send->timeout_ms +
                 rt->fetch->timeout_ms + 2000,
             ws.delivery_ms, rt->poll_ms);
  mp_rec__writer_free(&ws);
  if (have_fetch)
    mp_rec__writer_free(&wf);
  return 0;
}

int mp_rec_rt_write(struct mp_rec_rt *rt, const struct mp_result *res,
                    char *err, size_t errlen)
{
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  int rc = write_text(rt, res, f, err, errlen);
  fclose(f);
  if (rc == 0 && (mp_rec_leaks(text, rt->password) ||
                  mp_rec_leaks(text, rt->fetch_password))) {
    snprintf(err, errlen, "the case would hold a password: not written");
    rc = -1;
  }
  if (rc == 0 && mp_rec_out_write(rt->fd, text, len) < 0) {
    snprintf(err, errlen, "%s: could not write", rt->path);
    rc = -1;
  }
  if (rc == 0)
    rt->written = 1;
  free(text);
  return rc;
}

static void wipe(char *s)
{
  if (s) {
    memset(s, 0, strlen(s));
    free(s);
  }
}

void mp_rec_rt_free(struct mp_rec_rt *rt)
{
  if (!rt)
    return;
  if (rt->fd >= 0) {
    close(rt->fd);
    if (!rt->written && rt->created)
      unlink(rt->path);
  }
  mp_rec_free(rt->send);
  mp_rec_free(rt->fetch);
  wipe(rt->password);
  wipe(rt->fetch_password);
  free(rt->path);
  free(rt);
}
