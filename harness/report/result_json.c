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

static void nagios_seconds(struct mp_json *b, uint64_t us)
{
  bprintf(b, "%.3f", (double)us / 1e6);
}

/* A certificate was seen: after a handshake, or one that failed on it. */
static int has_cert_facts(const struct mp_result *r)
{
  return r->tls_used || r->tls.subject[0] || r->tls.version[0];
}

/* A range as the JSON "thresholds" gives it: its perfdata text, or null. */
static void kv_range(struct mp_json *j, const char *key,
                     const struct mp_range *rg)
{
  mp_json_kv_str(j, key, rg && rg->set ? rg->text : NULL);
}

static void kv_days(struct mp_json *j, const char *key, int days)
{
  mp_json_key(j, key);
  if (days > 0)
    mp_json_int(j, days);
  else
    mp_json_null(j);
}

/* A TLS object under key: what the handshake gave, or null when no
 * certificate was seen. A certificate that failed verification is still
 * described: its facts say why (expired, wrong host). */
static void write_tls(struct mp_json *j, const char *key, int used,
                      const struct mp_tls_info *t)
{
  mp_json_key(j, key);
  if (!used && !t->subject[0] && !t->version[0]) {
    mp_json_null(j);
    return;
  }
  mp_json_obj_begin(j);
  mp_json_kv_bool(j, "established", used);
  mp_json_kv_str(j, "version", t->version);
  mp_json_kv_str(j, "cipher", t->cipher);
  mp_json_kv_str(j, "subject", t->subject);
  mp_json_kv_str(j, "issuer", t->issuer);
  mp_json_kv_int(j, "days_left", t->days_left);
  mp_json_key(j, "not_after");
  if (t->not_after)
    mp_json_int(j, t->not_after);
  else
    mp_json_null(j);
  mp_json_kv_bool(j, "verified", t->verified);
  mp_json_kv_str(j, "verify_error",
                 t->verify_error[0] ? t->verify_error : NULL);
  mp_json_obj_end(j);
}

void mp_result_write_json(struct mp_json *j, const struct mp_result *r)
{
  mp_result_write_json_fmt(j, r, NULL);
}

void mp_result_write_json_fmt(struct mp_json *j, const struct mp_result *r,
                              const struct mp_result_fmt *f)
{
  size_t i, nnotes = 0;
  int p;

  mp_json_obj_begin(j);
  mp_json_kv_str(j, "status", r->ok ? "ok" : "fail");
  mp_json_kv_str(j, "state",
                 mp_nagios_state_name(mp_result_nagios_state(r, f)));
  mp_json_kv_str(j, "error", r->err ? mp_err_name(r->err) : NULL);
  mp_json_kv_str(j, "phase", phase_name((int)r->phase));
  mp_json_kv_str(j, "detail", r->detail);
  mp_json_kv_bool(j, "warn", r->warn);
  /* What made the state: the time judged and the thresholds given. */
  mp_json_key(j, "thresholds");
  mp_json_obj_begin(j);
  mp_json_kv_str(j, "judged",
                 r->roundtrip || r->delivery_us >= 0 ? "delivery" : "total");
  kv_range(j, "warning", f ? &f->warning : NULL);
  kv_range(j, "critical", f ? &f->critical : NULL);
  kv_days(j, "cert_warning_days", f ? f->cert_warning_days : 0);
  kv_days(j, "cert_critical_days", f ? f->cert_critical_days : 0);
  mp_json_obj_end(j);

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

  write_tls(j, "tls", r->tls_used, &r->tls);
  /* A round trip's two halves, each with its own server and certificate. */
  if (r->roundtrip) {
    write_tls(j, "send_tls", r->send_tls_used, &r->send_tls);
    write_tls(j, "fetch_tls", r->fetch_tls_used, &r->fetch_tls);
  }

  mp_json_kv_str(j, "auth", r->auth);
  if (r->oauth_status || r->oauth_scope) {
    /* A refused bearer token: what the server's error challenge said
     * (RFC 7628 3.2.2). */
    mp_json_key(j, "oauth_error");
    mp_json_obj_begin(j);
    mp_json_kv_str(j, "status", r->oauth_status);
    mp_json_kv_str(j, "scope", r->oauth_scope);
    mp_json_obj_end(j);
  }
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

char *mp_result_to_json_fmt(const struct mp_result *r,
                            const struct mp_result_fmt *f, int pretty)
{
  struct mp_json j;

  mp_json_init(&j);
  j.pretty = pretty;
  mp_result_write_json_fmt(&j, r, f);
  return mp_json_take(&j);
}

char *mp_result_to_json(const struct mp_result *r, int pretty)
{
  return mp_result_to_json_fmt(r, NULL, pretty);
}

const char *mp_nagios_state_name(enum mp_nagios_state st)
{
  static const char *const names[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};

  return (unsigned)st < 4 ? names[st] : "UNKNOWN";
}

/* The time the thresholds judge: a round trip's delivery, else the total. */
static uint64_t judged_us(const struct mp_result *r)
{
  return r->delivery_us >= 0 ? (uint64_t)r->delivery_us : r->total_us;
}

/* The certificate expires within days (check_smtp's -D). */
static int cert_within(const struct mp_result *r, int days)
{
  return days > 0 && has_cert_facts(r) && r->tls.days_left < days;
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
  /* A round trip without a delivery time (previous mode) has no time to
   * judge: its total is not what the thresholds are about. */
  int timed = !r->roundtrip || r->delivery_us >= 0;
  uint64_t t = judged_us(r);
  if (f && ((timed && mp_range_alerts(&f->critical, t)) ||
            cert_within(r, f->cert_critical_days)))
    return MP_NAGIOS_CRITICAL;
  if (f && ((timed && mp_range_alerts(&f->warning, t)) ||
            cert_within(r, f->cert_warning_days)))
    return MP_NAGIOS_WARNING;
  if (r->warn)
    return MP_NAGIOS_WARNING;
  return MP_NAGIOS_OK;
}

/* Why a successful result is WARNING or CRITICAL: " (warning at 2s)",
 * " (critical range @1:3)", after the time it judged. */
static void nagios_why_time(struct mp_json *b, const struct mp_result_fmt *f,
                            uint64_t t)
{
  const struct mp_range *rg = NULL;
  const char *name = NULL;

  if (f && mp_range_alerts(&f->critical, t)) {
    rg = &f->critical;
    name = "critical";
  } else if (f && mp_range_alerts(&f->warning, t)) {
    rg = &f->warning;
    name = "warning";
  }
  if (!rg)
    return;
  if (mp_range_is_upper(rg)) {
    bprintf(b, " (%s at ", name);
    nagios_seconds(b, rg->high_us);
    bprintf(b, "s)");
  } else {
    bprintf(b, " (%s range %s)", name, rg->text);
  }
}

/* Text for a Nagios status line: one line, and no '|' (which starts the
 * perfdata). */
static void nagios_text(struct mp_json *b, const char *s)
{
  const unsigned char *p = (const unsigned char *)s;
  size_t run;

  while (*p) {
    /* The plain run in one copy, then the one byte replaced. */
    for (run = 0; p[run] >= 0x20 && p[run] != 0x7f && p[run] != '|'; run++)
      ;
    mp_json_raw(b, (const char *)p, run);
    p += run;
    if (*p == '\0')
      break;
    mp_json_raw(b, *p == '|' ? "/" : " ", 1);
    p++;
  }
}

/* Perfdata keeps microseconds: a phase of 450 us is not "0.000s". */
static void perf_seconds(struct mp_json *b, uint64_t us)
{
  bprintf(b, "%" PRIu64 ".%06" PRIu64, us / 1000000, us % 1000000);
}

/* "warn;crit;" of a perfdata value: the ranges of f, or empty. */
static void perf_thresholds(struct mp_json *b, const struct mp_result_fmt *f)
{
  bprintf(b, "%s;%s;", f && f->warning.set ? f->warning.text : "",
          f && f->critical.set ? f->critical.text : "");
}

/* A phase's perfdata label: the ehlo phase is named after the protocol's
 * own step, CAPA for POP3 (RFC 2449) and CAPABILITY for IMAP. */
static const char *perf_phase_label(int p, const struct mp_result_fmt *f)
{
  if (p == MP_PHASE_EHLO && f && f->proto) {
    if (strcmp(f->proto, "pop3") == 0)
      return "capa";
    if (strcmp(f->proto, "imap") == 0)
      return "capability";
  }
  return phase_name(p);
}

int mp_result_nagios(const struct mp_result *r, const struct mp_result_fmt *f,
                     char **out)
{
  return mp_result_nagios_as(r, f, mp_result_nagios_state(r, f), out);
}

int mp_result_nagios_as(const struct mp_result *r,
                        const struct mp_result_fmt *f, enum mp_nagios_state st,
                        char **out)
{
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
  bprintf(&b, "%s %s - ", proto, mp_nagios_state_name(st));
  if (r->ok) {
    nagios_text(&b, target && target[0] ? target : "server");
    bprintf(&b, " answered in ");
    nagios_seconds(&b, r->total_us);
    mp_json_raw(&b, "s", 1);
    /* The thresholds judge the total of a check; of a round trip, its
     * delivery, and the reason goes there. */
    if (!r->roundtrip && r->delivery_us < 0)
      nagios_why_time(&b, f, r->total_us);
    if (r->tls_used) {
      bprintf(&b, ", ");
      nagios_text(&b, r->tls.version[0] ? r->tls.version : "TLS");
      /* --insecure is said out loud: an OK that checked no certificate
       * must not read like one that did. */
      bprintf(&b, " (certificate %d day%s left", r->tls.days_left,
              r->tls.days_left == 1 ? "" : "s");
      if (f && cert_within(r, f->cert_critical_days))
        bprintf(&b, ", critical under %d", f->cert_critical_days);
      else if (f && cert_within(r, f->cert_warning_days))
        bprintf(&b, ", warning under %d", f->cert_warning_days);
      bprintf(&b, "%s%s)", r->tls.verified ? "" : ", not verified",
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
      nagios_why_time(&b, f, (uint64_t)r->delivery_us);
    }
    if (r->messages >= 0)
      bprintf(&b, ", %" PRId64 " message%s", r->messages,
              r->messages == 1 ? "" : "s");
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
  /* warn and crit go on the value they judge: time= of a check, delivery=
   * of a round trip (ranges as the guidelines write them, in seconds). */
  if (!r->roundtrip && r->delivery_us < 0)
    perf_thresholds(&b, f);
  else
    bprintf(&b, ";;");
  bprintf(&b, "0;");
  if (f && f->timeout_us)
    perf_seconds(&b, f->timeout_us);
  for (p = 0; p < MP_PHASE_COUNT; p++) {
    if (r->timings_us[p] < 0)
      continue;
    bprintf(&b, " %s=", perf_phase_label(p, f));
    perf_seconds(&b, (uint64_t)r->timings_us[p]);
    bprintf(&b, "s;;;0;");
  }
  if (r->delivery_us >= 0) {
    bprintf(&b, " delivery=");
    perf_seconds(&b, (uint64_t)r->delivery_us);
    bprintf(&b, "s;");
    perf_thresholds(&b, f);
    bprintf(&b, "0;");
  }
  if (has_cert_facts(r)) {
    bprintf(&b, " cert_days_left=%d;", r->tls.days_left);
    /* check_smtp's -D: alert below N days, the range "N:". */
    if (f && f->cert_warning_days > 0)
      bprintf(&b, "%d:", f->cert_warning_days);
    bprintf(&b, ";");
    if (f && f->cert_critical_days > 0)
      bprintf(&b, "%d:", f->cert_critical_days);
    bprintf(&b, ";;");
  }
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
  /* The verdict the exit code and the Nagios line give, thresholds
   * included: up 1 may still be WARNING or CRITICAL. */
  prom_head(&b, "mailprobe_state",
            "The Nagios state: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.");
  prom_sample_start(&b, "mailprobe_state", r, f);
  bprintf(&b, "} %d\n", (int)mp_result_nagios_state(r, f));

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

  if (has_cert_facts(r)) {
    /* A timestamp in seconds: promtool takes no "_days" unit. */
    if (r->tls.not_after) {
      prom_head(&b, "mailprobe_tls_cert_expiry_timestamp_seconds",
                "When the server certificate expires (notAfter), in "
                "seconds since 1970.");
      prom_sample_start(&b, "mailprobe_tls_cert_expiry_timestamp_seconds", r,
                        f);
      bprintf(&b, "} %" PRId64 "\n", r->tls.not_after);
    }
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
    char *text = form == MP_OUT_JSON ? mp_result_to_json_fmt(r, f, 1)
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
