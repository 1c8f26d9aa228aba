/* The text and JSON forms of a history report
 * (harness/report/history_report.h). */
#include "harness/report/history_report.h"

#include <inttypes.h>
#include <stdlib.h>
#include <time.h>

#include "harness/report/history_stats.h"
#include "harness/report/json.h"

static const double pcts[] = {50, 95, 99};

void mp_hs_time(char *buf, size_t len, uint64_t t_ms)
{
  time_t s = (time_t)(t_ms / 1000u);
  struct tm tm;
  gmtime_r(&s, &tm);
  strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

static void day_name(char *buf, size_t len, int64_t day)
{
  time_t s = (time_t)(day * 86400);
  struct tm tm;
  gmtime_r(&s, &tm);
  strftime(buf, len, "%Y-%m-%d", &tm);
}

void mp_hs_length(char *buf, size_t len, uint64_t ms)
{
  uint64_t s = ms / 1000u;
  if (s < 60)
    snprintf(buf, len, "%.1fs", (double)ms / 1000.0);
  else if (s < 3600)
    snprintf(buf, len, "%" PRIu64 "m %" PRIu64 "s", s / 60, s % 60);
  else
    snprintf(buf, len, "%" PRIu64 "h %" PRIu64 "m %" PRIu64 "s", s / 3600,
             s / 60 % 60, s % 60);
}

void mp_hs_outage_text(const struct mp_hs_outage *o, char *start, char *end,
                       char *len, size_t cap)
{
  mp_hs_time(start, cap, o->start_ms);
  if (o->end_ms) {
    mp_hs_time(end, cap, o->end_ms);
    mp_hs_length(len, cap, o->end_ms - o->start_ms);
  } else {
    snprintf(end, cap, "still down");
    snprintf(len, cap, "-");
  }
}

static double pct(uint64_t part, uint64_t whole)
{
  return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static void text_monitor(FILE *out, const struct mp_hs_monitor *m)
{
  char a[48], b[48], len[48];

  fprintf(out,
          "\nmonitor %s: %" PRIu64 " tests, %" PRIu64
          " passed, availability %.3f%%\n",
          m->name, m->tests, m->ok, pct(m->ok, m->tests));
  mp_hs_time(a, sizeof(a), m->first_ms);
  mp_hs_time(b, sizeof(b), m->last_ms);
  fprintf(out, "  from %s to %s UTC\n", a, b);
  fprintf(out,
          "  alerts %" PRIu64 ", recoveries %" PRIu64 ", actions run %" PRIu64
          " (%" PRIu64 " failed)\n",
          m->alerts, m->recoveries, m->actions, m->actions_failed);
  int64_t mttr = mp_hs_mttr_ms(m);
  if (mttr >= 0)
    mp_hs_length(len, sizeof(len), (uint64_t)mttr);
  fprintf(out, "  outages %zu, mean time to recovery %s\n", m->noutages,
          mttr >= 0 ? len : "-");
  for (size_t i = 0; i < m->noutages; i++) {
    const struct mp_hs_outage *o = &m->outages[i];
    mp_hs_outage_text(o, a, b, len, sizeof(a));
    fprintf(out, "    %s .. %s  %s  %s (%" PRIu64 " failed tests%s)\n", a, b,
            len, o->cause, o->tests, o->alerted ? ", alerted" : "");
  }
  fprintf(out, "  latency of passed tests, ms:  p50  p95  p99  (count)\n");
  for (int s = 0; s < MP_HS_SERIES; s++) {
    if (!m->nlat[s])
      continue;
    fprintf(out, "    %-8s", mp_hs_series_name(s));
    for (size_t k = 0; k < 3; k++)
      fprintf(out, " %8.3f", (double)mp_hs_percentile(m, s, pcts[k]) / 1000.0);
    fprintf(out, "  (%" PRIu64 ")\n", m->nlat[s]);
  }
  fprintf(out, "  per day (UTC):\n");
  for (size_t i = 0; i < m->ndays; i++) {
    day_name(a, sizeof(a), m->days[i].day);
    fprintf(out, "    %s  %.3f%% (%" PRIu64 "/%" PRIu64 ")\n", a,
            pct(m->days[i].ok, m->days[i].tests), m->days[i].ok,
            m->days[i].tests);
  }
}

void mp_hs_write_text(FILE *out, const struct mp_hs *hs)
{
  fprintf(out,
          "history: %" PRIu64 " lines, %" PRIu64 " counted, %" PRIu64
          " skipped (cut by a crash or not a history line)\n",
          hs->lines, hs->used, hs->skipped);
  for (size_t i = 0; i < hs->nmons; i++)
    text_monitor(out, &hs->mons[i]);
}

static void json_monitor(struct mp_json *j, const struct mp_hs_monitor *m)
{
  char a[32];

  mp_json_obj_begin(j);
  mp_json_kv_str(j, "monitor", m->name);
  mp_json_kv_uint(j, "tests", m->tests);
  mp_json_kv_uint(j, "passed", m->ok);
  mp_json_kv_double(j, "availability", pct(m->ok, m->tests), 3);
  mp_json_kv_uint(j, "first_ms", m->first_ms);
  mp_json_kv_uint(j, "last_ms", m->last_ms);
  mp_json_kv_uint(j, "alerts", m->alerts);
  mp_json_kv_uint(j, "recoveries", m->recoveries);
  mp_json_kv_uint(j, "actions", m->actions);
  mp_json_kv_uint(j, "actions_failed", m->actions_failed);
  int64_t mttr = mp_hs_mttr_ms(m);
  mp_json_key(j, "mttr_ms");
  if (mttr >= 0)
    mp_json_int(j, mttr);
  else
    mp_json_null(j);
  mp_json_key(j, "outages");
  mp_json_arr_begin(j);
  for (size_t i = 0; i < m->noutages; i++) {
    const struct mp_hs_outage *o = &m->outages[i];
    mp_json_obj_begin(j);
    mp_json_kv_uint(j, "start_ms", o->start_ms);
    mp_json_key(j, "end_ms");
    if (o->end_ms)
      mp_json_uint(j, o->end_ms);
    else
      mp_json_null(j);
    mp_json_key(j, "length_ms");
    if (o->end_ms)
      mp_json_uint(j, o->end_ms - o->start_ms);
    else
      mp_json_null(j);
    mp_json_kv_str(j, "cause", o->cause);
    mp_json_kv_uint(j, "tests", o->tests);
    mp_json_kv_bool(j, "alerted", o->alerted);
    mp_json_obj_end(j);
  }
  mp_json_arr_end(j);
  mp_json_key(j, "latency_us");
  mp_json_obj_begin(j);
  for (int s = 0; s < MP_HS_SERIES; s++) {
    if (!m->nlat[s])
      continue;
    mp_json_key(j, mp_hs_series_name(s));
    mp_json_obj_begin(j);
    mp_json_kv_int(j, "p50", mp_hs_percentile(m, s, 50));
    mp_json_kv_int(j, "p95", mp_hs_percentile(m, s, 95));
    mp_json_kv_int(j, "p99", mp_hs_percentile(m, s, 99));
    mp_json_kv_uint(j, "count", m->nlat[s]);
    mp_json_obj_end(j);
  }
  mp_json_obj_end(j);
  mp_json_key(j, "days");
  mp_json_arr_begin(j);
  for (size_t i = 0; i < m->ndays; i++) {
    day_name(a, sizeof(a), m->days[i].day);
    mp_json_obj_begin(j);
    mp_json_kv_str(j, "day", a);
    mp_json_kv_uint(j, "tests", m->days[i].tests);
    mp_json_kv_uint(j, "passed", m->days[i].ok);
    mp_json_kv_double(j, "availability", pct(m->days[i].ok, m->days[i].tests),
                      3);
    mp_json_obj_end(j);
  }
  mp_json_arr_end(j);
  mp_json_obj_end(j);
}

void mp_hs_write_json(FILE *out, const struct mp_hs *hs)
{
  struct mp_json j;

  mp_json_init(&j);
  j.pretty = 1;
  mp_json_obj_begin(&j);
  mp_json_kv_uint(&j, "lines", hs->lines);
  mp_json_kv_uint(&j, "counted", hs->used);
  mp_json_kv_uint(&j, "skipped", hs->skipped);
  mp_json_key(&j, "monitors");
  mp_json_arr_begin(&j);
  for (size_t i = 0; i < hs->nmons; i++)
    json_monitor(&j, &hs->mons[i]);
  mp_json_arr_end(&j);
  mp_json_obj_end(&j);
  char *s = mp_json_take(&j);
  fprintf(out, "%s\n", s ? s : "{\"error\": \"out of memory\"}");
  free(s);
}
