/* What an action is told (harness/monitor/engine.h): its environment,
 * built from nothing but a few harmless variables of ours and the facts of
 * the test, and the JSON on its stdin. A monitor's own environment may
 * hold the check's password (--password-env), so it is never passed on,
 * and a value that holds the password (or the OAuth token the test used)
 * is masked all the same. */
#include "harness/monitor/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/report/json.h"
#include "harness/report/result_json.h"
#include "probes/result.h"
#include "wire/errors.h"

#define ENV_MAX 32
#define DEFAULT_PATH                                                           \
  "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Ours that an action may see: where to find commands, and how to show
 * text and times. */
static const char *const passed_on[] = {"PATH",   "HOME", "LANG",
                                        "LC_ALL", "TZ",   NULL};

static const char *reply_code(const struct mp_result *r, char *buf, size_t len)
{
  snprintf(buf, len, "%d", r->reply_code);
  return buf;
}

/* "NAME=value" with every copy of a secret (the password, the test's
 * token; NULL where none) replaced by "****". */
static char *pair(const char *name, const char *value,
                  const char *const secret[2])
{
  size_t nl = strlen(name), vl = strlen(value), sl[2];
  for (int k = 0; k < 2; k++)
    sl[k] = secret[k] ? strlen(secret[k]) : 0;
  char *s = malloc(nl + 1 + vl * 4 + 1); /* "****" per byte at the worst */
  if (!s)
    return NULL;
  memcpy(s, name, nl);
  s[nl] = '=';
  char *w = s + nl + 1;
  for (size_t i = 0; i < vl;) {
    size_t hit = 0;
    for (int k = 0; k < 2 && !hit; k++)
      if (sl[k] && vl - i >= sl[k] && memcmp(value + i, secret[k], sl[k]) == 0)
        hit = sl[k];
    if (hit) {
      memcpy(w, "****", 4);
      w += 4;
      i += hit;
    } else {
      *w++ = value[i++];
    }
  }
  *w = '\0';
  return s;
}

void mp_mon_env_free(char **env)
{
  if (!env)
    return;
  for (size_t i = 0; env[i]; i++)
    free(env[i]);
  free(env);
}

char **mp_mon_env_build(const struct mp_mon_test *t,
                        enum mp_mon_action_kind kind)
{
  char **env = calloc(ENV_MAX + 1, sizeof(*env));
  const char *secret[2] = {t->def->opts.password, t->token};
  const struct mp_result *r = t->r;
  char num[4][32];
  size_t n = 0;
  int oom = 0;

  if (!env)
    return NULL;
  for (int k = 0; k < 2; k++)
    if (secret[k] && !*secret[k])
      secret[k] = NULL;
#define PUT(name, value)                                                       \
  do {                                                                         \
    if (n < ENV_MAX && !oom) {                                                 \
      env[n] = pair(name, value, secret);                                      \
      oom = !env[n];                                                           \
      n += !oom;                                                               \
    }                                                                          \
  } while (0)
  for (size_t i = 0; passed_on[i]; i++) {
    const char *v = getenv(passed_on[i]);
    if (v)
      PUT(passed_on[i], v);
    else if (strcmp(passed_on[i], "PATH") == 0)
      PUT("PATH", DEFAULT_PATH);
  }
  PUT("MAILPROBE_MONITOR", t->def->name);
  PUT("MAILPROBE_TARGET", t->def->target ? t->def->target : "");
  PUT("MAILPROBE_ACTION", mp_mon_action_name(kind));
  PUT("MAILPROBE_STATE", mp_mon_state_name(t->state));
  PUT("MAILPROBE_PREVIOUS_STATE", mp_mon_state_name(t->prev));
  snprintf(num[0], sizeof(num[0]), "%u", t->alert);
  PUT("MAILPROBE_ALERT", num[0]);
  snprintf(num[1], sizeof(num[1]), "%u", t->failures);
  PUT("MAILPROBE_FAILURES", num[1]);
  snprintf(num[2], sizeof(num[2]), "%u", t->test);
  PUT("MAILPROBE_TEST", num[2]);
  PUT("MAILPROBE_STATUS", t->ok ? "ok" : "fail");
  PUT("MAILPROBE_ERROR", r->err ? mp_err_name(r->err) : "none");
  PUT("MAILPROBE_PHASE", mp_phase_name(r->phase));
  PUT("MAILPROBE_REPLY_CODE", reply_code(r, num[3], sizeof(num[3])));
  PUT("MAILPROBE_REPLY", r->reply_text ? r->reply_text : "");
  char el[32];
  snprintf(el, sizeof(el), "%.3f", (double)r->total_us / 1e6);
  PUT("MAILPROBE_ELAPSED", el);
#undef PUT
  if (oom) {
    mp_mon_env_free(env);
    return NULL;
  }
  return env;
}

char *mp_mon_input_json(const struct mp_mon_test *t,
                        enum mp_mon_action_kind kind)
{
  struct mp_json j;

  mp_json_init(&j);
  mp_json_obj_begin(&j);
  mp_json_kv_str(&j, "monitor", t->def->name);
  mp_json_kv_str(&j, "target", t->def->target ? t->def->target : "");
  mp_json_kv_str(&j, "action", mp_mon_action_name(kind));
  mp_json_kv_str(&j, "state", mp_mon_state_name(t->state));
  mp_json_kv_str(&j, "previous_state", mp_mon_state_name(t->prev));
  mp_json_kv_uint(&j, "alert", t->alert);
  mp_json_kv_uint(&j, "failures", t->failures);
  mp_json_kv_uint(&j, "test", t->test);
  mp_json_key(&j, "result");
  mp_result_write_json(&j, t->r);
  mp_json_obj_end(&j);
  return mp_json_take(&j);
}
