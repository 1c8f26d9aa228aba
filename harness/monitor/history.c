/* The history file (harness/monitor/history.h). */
#include "harness/monitor/history.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness/monitor/action.h"
#include "harness/monitor/engine.h"
#include "harness/report/json.h"
#include "probes/result.h"
#include "wire/errors.h"

struct mp_history {
  char *path;
  int fd;
  int failing; /* the last write failed (reported once) */
  unsigned long lost;
};

static int open_append(const char *path)
{
  return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

struct mp_history *mp_history_open(const char *path, char *err, size_t len)
{
  struct mp_history *h = calloc(1, sizeof(*h));
  if (!h || !(h->path = strdup(path))) {
    free(h);
    snprintf(err, len, "out of memory");
    return NULL;
  }
  h->fd = open_append(path);
  if (h->fd < 0) {
    snprintf(err, len, "%s: %s", path, strerror(errno));
    free(h->path);
    free(h);
    return NULL;
  }
  return h;
}

int mp_history_reopen(struct mp_history *h)
{
  int fd = open_append(h->path);
  if (fd < 0)
    return -1;
  close(h->fd);
  h->fd = fd;
  return 0;
}

/* "2026-12-07T01:02:03.456Z" */
static void iso_time(char *buf, size_t len, uint64_t wall_us)
{
  time_t sec = (time_t)(wall_us / 1000000u);
  struct tm tm;
  gmtime_r(&sec, &tm);
  size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, len - n, ".%03uZ", (unsigned)(wall_us / 1000u % 1000u));
}

static void common(struct mp_json *j, uint64_t wall_us, const char *name)
{
  char when[40];
  iso_time(when, sizeof(when), wall_us);
  mp_json_kv_str(j, "time", when);
  mp_json_kv_uint(j, "t_ms", wall_us / 1000u);
  mp_json_kv_str(j, "monitor", name);
}

char *mp_history_test_json(const struct mp_mon_test *t)
{
  const struct mp_result *r = t->r;
  struct mp_json j;

  mp_json_init(&j);
  mp_json_obj_begin(&j);
  common(&j, t->wall_us, t->def->name);
  mp_json_kv_uint(&j, "test", t->test);
  mp_json_kv_str(&j, "state", mp_mon_state_name(t->state));
  mp_json_kv_str(&j, "prev", mp_mon_state_name(t->prev));
  mp_json_kv_str(&j, "status", t->ok ? "ok" : "fail");
  if (r->err)
    mp_json_kv_str(&j, "error", mp_err_name(r->err));
  else
    mp_json_kv_str(&j, "error", NULL);
  mp_json_kv_str(&j, "phase", mp_phase_name(r->phase));
  mp_json_kv_str(&j, "event",
                 t->event == MP_MON_EV_ALERT      ? "alert"
                 : t->event == MP_MON_EV_RECOVERY ? "recovery"
                                                  : NULL);
  mp_json_kv_uint(&j, "alert", t->alert);
  mp_json_kv_uint(&j, "failures", t->failures);
  mp_json_kv_int(&j, "late_us", t->late_us);
  mp_json_kv_uint(&j, "total_us", r->total_us);
  mp_json_key(&j, "timings_us");
  mp_json_obj_begin(&j);
  for (int p = 0; p < MP_PHASE_COUNT; p++)
    if (r->timings_us[p] >= 0)
      mp_json_kv_int(&j, mp_phase_name((enum mp_phase)p), r->timings_us[p]);
  mp_json_obj_end(&j);
  mp_json_key(&j, "reply");
  if (r->reply_code || r->reply_text) {
    mp_json_obj_begin(&j);
    mp_json_kv_int(&j, "code", r->reply_code);
    mp_json_kv_str(&j, "text", r->reply_text);
    mp_json_obj_end(&j);
  } else {
    mp_json_null(&j);
  }
  mp_json_key(&j, "tls");
  if (r->tls_used) {
    mp_json_obj_begin(&j);
    mp_json_kv_str(&j, "version", r->tls.version);
    mp_json_kv_str(&j, "cipher", r->tls.cipher);
    mp_json_kv_bool(&j, "verified", r->tls.verified);
    mp_json_kv_int(&j, "days_left", r->tls.days_left);
    mp_json_obj_end(&j);
  } else {
    mp_json_null(&j);
  }
  mp_json_obj_end(&j);
  return mp_json_take(&j);
}

static char *action_json(const struct mp_mon_action *a)
{
  const struct mp_action_end *e = a->end;
  struct mp_json j;
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  mp_json_init(&j);
  mp_json_obj_begin(&j);
  common(&j, (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u,
         a->def->name);
  mp_json_kv_uint(&j, "test", a->test);
  mp_json_kv_str(&j, "action", mp_mon_action_name(a->kind));
  mp_json_kv_bool(&j, "failed", mp_action_failed(e));
  if (e->spawn_error)
    mp_json_kv_str(&j, "spawn_error", "did not start");
  mp_json_kv_int(&j, "exit", e->status);
  mp_json_kv_int(&j, "signal", e->term_signal);
  mp_json_kv_bool(&j, "timed_out", e->timed_out);
  mp_json_kv_uint(&j, "elapsed_us", e->elapsed_us);
  mp_json_obj_end(&j);
  return mp_json_take(&j);
}

static int put(struct mp_history *h, char *line)
{
  if (!line) {
    h->lost++;
    return 0;
  }
  size_t n = strlen(line);
  line[n] = '\n'; /* the NUL becomes the newline: one write */
  ssize_t w = write(h->fd, line, n + 1);
  free(line);
  if (w == (ssize_t)(n + 1)) {
    h->failing = 0;
    return 0;
  }
  h->lost++;
  if (h->failing)
    return 0;
  h->failing = 1;
  return 1;
}

int mp_history_test(struct mp_history *h, const struct mp_mon_test *t)
{
  return put(h, mp_history_test_json(t));
}

int mp_history_action(struct mp_history *h, const struct mp_mon_action *a)
{
  return put(h, action_json(a));
}

unsigned long mp_history_lost(const struct mp_history *h)
{
  return h->lost;
}

void mp_history_close(struct mp_history *h)
{
  if (!h)
    return;
  close(h->fd);
  free(h->path);
  free(h);
}
