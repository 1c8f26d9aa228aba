#include "harness/report/result_json.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/report/json.h"
#include "harness/report/prom_text.h"
#include "probes/result.h"
#include "wire/errors.h"

/* printf onto the writer's buffer, outside of JSON bookkeeping. */
__attribute__((format(printf, 2, 3))) static void bprintf(struct mp_json *b,
                                                          const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  mp_json_vprintf(b, fmt, ap);
  va_end(ap);
}

static const char *phase_name(int p)
{
  const char *s = NULL;

  if (p >= 0 && p < MP_PHASE_COUNT)
    s = mp_phase_name((enum mp_phase)p);
  return s ? s : "unknown";
}

void mp_result_write_json(struct mp_json *j, const struct mp_result *r)
{
  size_t i, nnotes = 0;
  int p;

  mp_json_obj_begin(j);
  mp_json_kv_str(j, "status", r->ok ? "ok" : "fail");
  mp_json_kv_str(j, "error", r->err ? mp_err_name(r->err) : NULL);
  mp_json_kv_str(j, "phase", phase_name((int)r->phase));
  mp_json_kv_str(j, "detail", r->detail);
  mp_json_kv_bool(j, "warn", r->warn);

  mp_json_key(j, "reply");
  if (r->reply_code != 0 || r->reply_text) {
    mp_json_obj_begin(j);
    mp_json_kv_int(j, "code", r->reply_code);
    mp_json_kv_str(j, "text", r->reply_text ? r->reply_text : "");
    if (r->resp_code) {
      mp_json_kv_str(j, "resp_code", r->resp_code);
    }
    mp_json_obj_end(j);
  } else {
    mp_json_null(j);
  }

  mp_json_key(j, "timings_us");
  mp_json_obj_begin(j);
  for (p = 0; p < MP_PHASE_COUNT; p++) {
    if (r->timings_us[p] < 0)
      continue;
    mp_json_key(j, phase_name(p));
    mp_json_int(j, r->timings_us[p]);
  }
  if (r->delivery_us >= 0) {
    mp_json_kv_int(j, "delivery", r->delivery_us);
  }
  mp_json_kv_uint(j, "total", r->total_us);
  mp_json_obj_end(j);

  mp_json_key(j, "tls");
  if (r->tls_used) {
    mp_json_obj_begin(j);
    mp_json_kv_str(j, "version", r->tls.version);
    mp_json_kv_str(j, "cipher", r->tls.cipher);
    mp_json_kv_str(j, "subject", r->tls.subject);
    mp_json_kv_str(j, "issuer", r->tls.issuer);
    mp_json_kv_int(j, "days_left", r->tls.days_left);
    mp_json_kv_bool(j, "verified", r->tls.verified);
    mp_json_kv_str(j, "verify_error",
                   r->tls.verify_error[0] ? r->tls.verify_error : NULL);
    mp_json_obj_end(j);
  } else {
    mp_json_null(j);
  }

  mp_json_kv_str(j, "auth", r->auth);
  mp_json_kv_str(j, "address", r->address[0] ? r->address : NULL);
  if (r->messages >= 0) {
    mp_json_kv_int(j, "messages", r->messages);
  }
  if (r->octets >= 0) {
    mp_json_kv_int(j, "octets", r->octets);
  }
  if (r->found >= 0) {
    mp_json_kv_int(j, "found", r->found);
  }
  if (r->deleted >= 0) {
    mp_json_kv_int(j, "deleted", r->deleted);
  }
  if (r->polls) {
    mp_json_kv_uint(j, "polls", r->polls);
  }
  mp_json_kv_bool(j, "insecure", r->insecure);

  /* The contract's transcript holds what crossed the wire ("c" and "s");
   * the probe's own notes go beside it. */
  mp_json_key(j, "transcript");
  mp_json_arr_begin(j);
  for (i = 0; i < r->ntranscript; i++) {
    const struct mp_transcript_line *t = &r->transcript[i];
    char dir[2] = {t->dir, '\0'};

    if (t->dir != 'c' && t->dir != 's') {
      nnotes++;
      continue;
    }
    mp_json_obj_begin(j);
    mp_json_kv_str(j, "dir", dir);
    mp_json_kv_uint(j, "t_us", t->t_us);
    mp_json_kv_str(j, "line", t->line ? t->line : "");
    mp_json_obj_end(j);
  }
  mp_json_arr_end(j);
  if (nnotes) {
    mp_json_key(j, "notes");
    mp_json_arr_begin(j);
    for (i = 0; i < r->ntranscript; i++) {
      const struct mp_transcript_line *t = &r->transcript[i];

      if (t->dir != 'c' && t->dir != 's')
        mp_json_str(j, t->line ? t->line : "");
    }
    mp_json_arr_end(j);
  }
  mp_json_obj_end(j);
}

char *mp_result_to_json(const struct mp_result *r, int pretty)
{
  struct mp_json j;

  mp_json_init(&j);
  j.pretty = pretty;
  mp_result_write_json(&j, r);
  return mp_json_take(&j);
}

enum mp_nagios_state mp_result_nagios_state(const struct mp_result *r,
                                            const struct mp_result_fmt *f)
{
  if (!r->ok) {
    /* Out of descriptors or memory here says nothing about the server. */
    if (r->err == MP_E_NO_RESOURCES)
      return MP_NAGIOS_UNKNOWN;
    return MP_NAGIOS_CRITICAL;
  }
  /* A round trip is judged by its delivery time, a check by its total. */
  uint64_t t = r->delivery_us >= 0 ? (uint64_t)r->delivery_us : r->total_us;
  if (f && f->critical_us && t > f->critical_us)
    return MP_NAGIOS_CRITICAL;
  if (f && f->warning_us && t > f->warning_us)
    return MP_NAGIOS_WARNING;
  if (r->warn)
    return MP_NAGIOS_WARNING;
  return MP_NAGIOS_OK;
}

/* Text for a Nagios status line: one line, and no '|' (which starts the
 * perfdata). */
static void nagios_text(struct mp_json *b, const char *s)
{
  const unsigned char *p = (const unsigned char *)s;
  char c;

  for (; *p; p++) {
    c = (char)*p;
    if (*p < 0x20 || *p == 0x7f)
      c = ' ';
    else if (c == '|')
      c = '/';
    mp_json_raw(b, &c, 1);
  }
}

static void nagios_seconds(struct mp_json *b, uint64_t us)
{
  bprintf(b, "%.3f", (double)us / 1e6);
}

/* Perfdata keeps microseconds: a phase of 450 us is not "0.000s". */
static void perf_seconds(struct mp_json *b, uint64_t us)
{
  bprintf(b, "%" PRIu64 ".%06" PRIu64, us / 1000000, us % 1000000);
}

int mp_result_nagios(const struct mp_result *r, const struct mp_result_fmt *f,
                     char **out)
{
  static const char *const states[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};
  enum mp_nagios_state st = mp_result_nagios_state(r, f);
  const char *target = f && f->target ? f->target : r->address;
  char proto[16] = "MAIL";
  struct mp_json b;
  size_t i;
  int p;

  if (f && f->proto) {
    for (i = 0; f->proto[i] && i < sizeof(proto) - 1; i++)
      proto[i] = (char)toupper((unsigned char)f->proto[i]);
    proto[i] = '\0';
  }
  mp_json_init(&b);
  bprintf(&b, "%s %s - ", proto, states[st]);
  if (r->ok) {
    nagios_text(&b, target && target[0] ? target : "server");
    bprintf(&b, " answered in ");
    nagios_seconds(&b, r->total_us);
    mp_json_raw(&b, "s", 1);
    if (f && st != MP_NAGIOS_OK) {
      if (f->critical_us && r->total_us > f->critical_us) {
        bprintf(&b, " (critical at ");
        nagios_seconds(&b, f->critical_us);
        bprintf(&b, "s)");
      } else if (f->warning_us && r->total_us > f->warning_us) {
        bprintf(&b, " (warning at ");
        nagios_seconds(&b, f->warning_us);
        bprintf(&b, "s)");
      }
    }
    if (r->tls_used) {
      bprintf(&b, ", ");
      nagios_text(&b, r->tls.version[0] ? r->tls.version : "TLS");
      /* --insecure is said out loud: an OK that checked no certificate
       * must not read like one that did. */
      bprintf(&b, " (certificate %d days left%s%s)", r->tls.days_left,
              r->tls.verified ? "" : ", not verified",
              r->insecure ? ", --insecure" : "");
    } else {
      bprintf(&b, ", no TLS");
    }
    if (r->auth) {
      bprintf(&b, ", auth ");
      nagios_text(&b, r->auth);
    }
    if (r->delivery_us >= 0) {
      bprintf(&b, ", delivered in ");
      nagios_seconds(&b, (uint64_t)r->delivery_us);
      mp_json_raw(&b, "s", 1);
    }
    if (r->messages >= 0)
      bprintf(&b, ", %" PRId64 " messages", r->messages);
    if (r->warn && r->detail) {
      bprintf(&b, ": ");
      nagios_text(&b, r->detail);
    }
  } else {
    const char *name = mp_err_name(r->err);

    nagios_text(&b, name ? name : "failure");
    bprintf(&b, " in %s after ", phase_name((int)r->phase));
    nagios_seconds(&b, r->total_us);
    bprintf(&b, "s: ");
    nagios_text(&b, r->detail ? r->detail : mp_err_message(r->err));
    if (target && target[0]) {
      bprintf(&b, " (");
      nagios_text(&b, target);
      if (r->reply_code != 0 || r->reply_text) {
        bprintf(&b, ", last reply: ");
        if (r->reply_code > 99)
          bprintf(&b, "%d ", r->reply_code);
        nagios_text(&b, r->reply_text ? r->reply_text : "");
      }
      bprintf(&b, ")");
    }
  }

  /* Perfdata: 'label'=value[UOM];[warn];[crit];[min];[max] (the Nagios
   * plugin guidelines, "Performance data"). */
  bprintf(&b, " | time=");
  perf_seconds(&b, r->total_us);
  bprintf(&b, "s;");
  if (f && f->warning_us)
    perf_seconds(&b, f->warning_us);
  bprintf(&b, ";");
  if (f && f->critical_us)
    perf_seconds(&b, f->critical_us);
  bprintf(&b, ";0;");
  if (f && f->timeout_us)
    perf_seconds(&b, f->timeout_us);
  for (p = 0; p < MP_PHASE_COUNT; p++) {
    if (r->timings_us[p] < 0)
      continue;
    bprintf(&b, " %s=", phase_name(p));
    perf_seconds(&b, (uint64_t)r->timings_us[p]);
    bprintf(&b, "s;;;0;");
  }
  if (r->delivery_us >= 0) {
    bprintf(&b, " delivery=");
    perf_seconds(&b, (uint64_t)r->delivery_us);
    bprintf(&b, "s;;;0;");
  }
  if (r->tls_used)
    bprintf(&b, " cert_days_left=%d;;;;", r->tls.days_left);
  /* The mailbox (POP3 STAT, IMAP EXISTS) and what a round trip found. */
  if (r->messages >= 0)
    bprintf(&b, " messages=%" PRId64 ";;;0;", r->messages);
  if (r->octets >= 0)
    bprintf(&b, " size=%" PRId64 "B;;;0;", r->octets);
  if (r->found >= 0)
    bprintf(&b, " found=%" PRId64 ";;;0;", r->found);
  if (r->deleted >= 0)
    bprintf(&b, " deleted=%" PRId64 ";;;0;", r->deleted);
  *out = mp_json_take(&b);
  if (!*out)
    return MP_NAGIOS_UNKNOWN;
  return (int)st;
}

static void prom_label(struct mp_json *b, const char *name, const char *v)
{
  mp_prom_label(b, name, v);
}

static void prom_sample_start(struct mp_json *b, const char *metric,
                              const struct mp_result *r,
                              const struct mp_result_fmt *f)
{
  const char *target = f && f->target ? f->target : r->address;

  bprintf(b, "%s{", metric);
  prom_label(b, "protocol", f && f->proto ? f->proto : "");
  mp_json_raw(b, ",", 1);
  prom_label(b, "target", target);
}

static void prom_head(struct mp_json *b, const char *metric, const char *help)
{
  bprintf(b, "# HELP %s %s\n# TYPE %s gauge\n", metric, help, metric);
}

char *mp_result_prometheus(const struct mp_result *r,
                           const struct mp_result_fmt *f)
{
  struct mp_json b;
  const char *err = r->err ? mp_err_name(r->err) : NULL;
  int p;

  mp_json_init(&b);
  prom_head(&b, "mailprobe_up", "1 if the probe succeeded, else 0.");
  prom_sample_start(&b, "mailprobe_up", r, f);
  bprintf(&b, "} %d\n", r->ok ? 1 : 0);

  prom_head(&b, "mailprobe_duration_seconds",
            "Time spent in each phase of the probe that ran, and in total.");
  for (p = 0; p < MP_PHASE_COUNT; p++) {
    if (r->timings_us[p] < 0)
      continue;
    prom_sample_start(&b, "mailprobe_duration_seconds", r, f);
    mp_json_raw(&b, ",", 1);
    prom_label(&b, "phase", phase_name(p));
    bprintf(&b, "} %.6f\n", (double)r->timings_us[p] / 1e6);
  }
  if (r->delivery_us >= 0) {
    prom_sample_start(&b, "mailprobe_duration_seconds", r, f);
    mp_json_raw(&b, ",", 1);
    prom_label(&b, "phase", "delivery");
    bprintf(&b, "} %.6f\n", (double)r->delivery_us / 1e6);
  }
  prom_sample_start(&b, "mailprobe_duration_seconds", r, f);
  mp_json_raw(&b, ",", 1);
  prom_label(&b, "phase", "total");
  bprintf(&b, "} %.6f\n", (double)r->total_us / 1e6);

  if (r->tls_used) {
    prom_head(&b, "mailprobe_tls_cert_days_left",
              "Days until the server certificate expires (negative: "
              "expired).");
    prom_sample_start(&b, "mailprobe_tls_cert_days_left", r, f);
    bprintf(&b, "} %d\n", r->tls.days_left);
    prom_head(&b, "mailprobe_tls_cert_verified",
              "1 if the certificate chain and name verified.");
    prom_sample_start(&b, "mailprobe_tls_cert_verified", r, f);
    bprintf(&b, "} %d\n", r->tls.verified ? 1 : 0);
  }
  if (r->messages >= 0) {
    prom_head(&b, "mailprobe_mailbox_messages",
              "Messages in the mailbox the probe logged into.");
    prom_sample_start(&b, "mailprobe_mailbox_messages", r, f);
    bprintf(&b, "} %" PRId64 "\n", r->messages);
  }

  prom_head(&b, "mailprobe_info",
            "Facts about the probe as labels; the value is always 1.");
  prom_sample_start(&b, "mailprobe_info", r, f);
  mp_json_raw(&b, ",", 1);
  prom_label(&b, "status", r->ok ? "ok" : "fail");
  mp_json_raw(&b, ",", 1);
  prom_label(&b, "error", err ? err : "");
  mp_json_raw(&b, ",", 1);
  prom_label(&b, "phase", phase_name((int)r->phase));
  mp_json_raw(&b, ",", 1);
  prom_label(&b, "tls_version", r->tls_used ? r->tls.version : "");
  mp_json_raw(&b, ",", 1);
  prom_label(&b, "auth", r->auth ? r->auth : "");
  bprintf(&b, "} 1\n");
  return mp_json_take(&b);
}

int mp_result_print(FILE *out, const struct mp_result *r,
                    const struct mp_result_fmt *f, enum mp_out_format form,
                    const char *cmd)
{
  int rc = (int)mp_result_nagios_state(r, f);
  if (form == MP_OUT_NAGIOS) {
    char *line = NULL;
    rc = mp_result_nagios(r, f, &line);
    fprintf(out, "%s\n", line ? line : "MAILPROBE UNKNOWN - out of memory");
    free(line);
  } else {
    char *text = form == MP_OUT_JSON ? mp_result_to_json(r, 1)
                                     : mp_result_prometheus(r, f);
    if (!text) {
      fprintf(stderr, "mailprobe %s: out of memory\n", cmd);
      rc = MP_NAGIOS_UNKNOWN;
    } else {
      fputs(text, out);
      if (form == MP_OUT_JSON)
        fputc('\n', out);
      free(text);
    }
  }
  fflush(out);
  return rc;
}

int mp_out_format_from_name(const char *name)
{
  static const char *const names[] = {"nagios", "json", "prometheus"};
  for (int i = 0; i < 3; i++)
    if (strcmp(name, names[i]) == 0)
      return i;
  return -1;
}
