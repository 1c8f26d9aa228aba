/* The HTML form of a history report (harness/report/history_report.h):
 * one file, no outside resources (no script, no font, no image to fetch),
 * with SVG charts: per monitor an availability strip over the period and
 * the mean latency of each phase over time. Every number a reader looks
 * for sits in an element with a class naming it, so a browser test can
 * find it in the DOM. */
#include "harness/report/history_report.h"

#include <inttypes.h>
#include <time.h>

#include "harness/report/history_stats.h"
#include "harness/report/html_esc.h"

#define STRIP_W 8
#define CHART_W (MP_HS_SLOTS * STRIP_W)
#define CHART_H 160

static const char *const colors[] = {
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#000000"};

static double pct(uint64_t part, uint64_t whole)
{
  return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static void strip(FILE *out, const struct mp_hs *hs,
                  const struct mp_hs_monitor *m)
{
  char a[32];
  uint64_t span = hs->to_ms > hs->from_ms ? hs->to_ms - hs->from_ms + 1 : 1;

  fprintf(out,
          "<svg class=\"strip\" width=\"%d\" height=\"24\" "
          "viewBox=\"0 0 %d 24\" role=\"img\">\n",
          CHART_W, CHART_W);
  for (int s = 0; s < MP_HS_SLOTS; s++) {
    const struct mp_hs_slot *sl = &m->slots[s];
    const char *fill = !sl->tests                ? "#dddddd"
                       : sl->ok == sl->tests     ? "#2ca02c"
                       : sl->ok * 2 >= sl->tests ? "#ffbf00"
                                                 : "#d62728";
    mp_hs_time(a, sizeof(a), hs->from_ms + span * (uint64_t)s / MP_HS_SLOTS);
    fprintf(out,
            "<rect class=\"slot\" x=\"%d\" y=\"0\" width=\"%d\" "
            "height=\"24\" fill=\"%s\" data-tests=\"%" PRIu64
            "\" data-passed=\"%" PRIu64 "\"><title>%s: %" PRIu64 "/%" PRIu64
            " passed</title></rect>\n",
            s * STRIP_W, STRIP_W, fill, sl->tests, sl->ok, a, sl->ok,
            sl->tests);
  }
  fputs("</svg>\n", out);
}

static void latency_chart(FILE *out, const struct mp_hs_monitor *m)
{
  double max = 0;
  for (int s = 0; s < MP_HS_SLOTS; s++)
    for (int k = 0; k < MP_HS_SERIES; k++)
      if (m->slots[s].lat_n[k]) {
        double v = (double)m->slots[s].lat_sum_us[k] / m->slots[s].lat_n[k];
        if (v > max)
          max = v;
      }
  if (max <= 0) {
    fputs("<p class=\"nolatency\">no passed tests, no latency</p>\n", out);
    return;
  }
  fprintf(out,
          "<svg class=\"latency\" width=\"%d\" height=\"%d\" viewBox=\"0 0 "
          "%d %d\" role=\"img\" data-max-ms=\"%.3f\">\n",
          CHART_W, CHART_H + 20, CHART_W, CHART_H + 20, max / 1000.0);
  fprintf(out,
          "<text x=\"2\" y=\"12\" font-size=\"11\">%.3f ms</text>"
          "<line x1=\"0\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#999\"/>\n",
          max / 1000.0, CHART_H, CHART_W, CHART_H);
  int legend = 0;
  for (int k = 0; k < MP_HS_SERIES; k++) {
    if (!m->nlat[k])
      continue;
    const char *color = colors[k % (int)(sizeof(colors) / sizeof(*colors))];
    fprintf(out,
            "<polyline class=\"series\" data-series=\"%s\" fill=\"none\" "
            "stroke=\"%s\" points=\"",
            mp_hs_series_name(k), color);
    for (int s = 0; s < MP_HS_SLOTS; s++) {
      const struct mp_hs_slot *sl = &m->slots[s];
      if (!sl->lat_n[k])
        continue;
      double v = (double)sl->lat_sum_us[k] / sl->lat_n[k];
      fprintf(out, "%d,%.1f ", s * STRIP_W + STRIP_W / 2,
              CHART_H - v / max * (CHART_H - 16));
    }
    fputs("\"/>\n", out);
    fprintf(out,
            "<text x=\"%d\" y=\"%d\" font-size=\"11\" fill=\"%s\">%s</text>\n",
            4 + legend * 70, CHART_H + 14, color, mp_hs_series_name(k));
    legend++;
  }
  fputs("</svg>\n", out);
}

static void monitor_section(FILE *out, const struct mp_hs *hs,
                            const struct mp_hs_monitor *m)
{
  char a[48], b[48], len[48];

  fputs("<section class=\"monitor\" data-monitor=\"", out);
  mp_html_esc(out, m->name);
  fputs("\">\n<h2>", out);
  mp_html_esc(out, m->name);
  fputs("</h2>\n<h3>Availability</h3>\n", out);
  strip(out, hs, m);
  fputs("<h3>Latency of passed tests over time (mean per slot)</h3>\n", out);
  latency_chart(out, m);
  fputs("<h3>Latency percentiles, ms</h3>\n<table class=\"percentiles\">"
        "<tr><th>phase</th><th>p50</th><th>p95</th><th>p99</th>"
        "<th>tests</th></tr>\n",
        out);
  for (int s = 0; s < MP_HS_SERIES; s++) {
    if (!m->nlat[s])
      continue;
    fprintf(out,
            "<tr data-series=\"%s\"><td>%s</td><td class=\"p50\">%.3f</td>"
            "<td class=\"p95\">%.3f</td><td class=\"p99\">%.3f</td>"
            "<td class=\"count\">%" PRIu64 "</td></tr>\n",
            mp_hs_series_name(s), mp_hs_series_name(s),
            (double)mp_hs_percentile(m, s, 50) / 1000.0,
            (double)mp_hs_percentile(m, s, 95) / 1000.0,
            (double)mp_hs_percentile(m, s, 99) / 1000.0, m->nlat[s]);
  }
  fputs("</table>\n<h3>Outages</h3>\n<table class=\"outages\"><tr>"
        "<th>start (UTC)</th><th>end</th><th>length</th><th>cause</th>"
        "<th>failed tests</th><th>alerted</th></tr>\n",
        out);
  for (size_t i = 0; i < m->noutages; i++) {
    const struct mp_hs_outage *o = &m->outages[i];
    mp_hs_outage_text(o, a, b, len, sizeof(a));
    fprintf(out,
            "<tr class=\"outage\" data-length-ms=\"%" PRIu64
            "\"><td>%s</td><td>%s</td><td class=\"length\">%s</td>"
            "<td class=\"cause\">",
            o->end_ms ? o->end_ms - o->start_ms : 0, a, b, len);
    mp_html_esc(out, o->cause);
    fprintf(out, "</td><td>%" PRIu64 "</td><td>%s</td></tr>\n", o->tests,
            o->alerted ? "yes" : "no");
  }
  fputs("</table>\n<h3>Per day (UTC)</h3>\n<table class=\"days\">"
        "<tr><th>day</th><th>availability %</th><th>passed</th>"
        "<th>tests</th></tr>\n",
        out);
  for (size_t i = 0; i < m->ndays; i++) {
    time_t t = (time_t)(m->days[i].day * 86400);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(a, sizeof(a), "%Y-%m-%d", &tm);
    fprintf(out,
            "<tr class=\"day\" data-day=\"%s\"><td>%s</td>"
            "<td class=\"availability\">%.3f</td><td>%" PRIu64
            "</td><td>%" PRIu64 "</td></tr>\n",
            a, a, pct(m->days[i].ok, m->days[i].tests), m->days[i].ok,
            m->days[i].tests);
  }
  fputs("</table>\n</section>\n", out);
}

void mp_hs_write_html(FILE *out, const struct mp_hs *hs)
{
  char a[32], b[32], len[48];

  mp_hs_time(a, sizeof(a), hs->from_ms);
  mp_hs_time(b, sizeof(b), hs->to_ms);
  fprintf(out,
          "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<title>mailprobe monitor report</title>\n<style>\n"
          "body{font-family:sans-serif;margin:1em 2em;color:#222}\n"
          "table{border-collapse:collapse;margin:.5em 0}\n"
          "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}\n"
          "td:first-child,th:first-child{text-align:left}\n"
          "section{margin-top:2em}\n</style></head><body>\n"
          "<h1>Monitor report</h1>\n<p class=\"period\">%s to %s UTC; "
          "<span class=\"lines\">%" PRIu64
          "</span> lines, <span class=\"counted\">%" PRIu64
          "</span> counted, <span class=\"skipped\">%" PRIu64
          "</span> skipped (cut by a crash or not a history line)</p>\n",
          a, b, hs->lines, hs->used, hs->skipped);
  fputs("<table class=\"summary\"><tr><th>monitor</th><th>tests</th>"
        "<th>passed</th><th>availability %</th><th>outages</th>"
        "<th>MTTR</th><th>alerts</th><th>recoveries</th><th>actions</th>"
        "</tr>\n",
        out);
  for (size_t i = 0; i < hs->nmons; i++) {
    const struct mp_hs_monitor *m = &hs->mons[i];
    int64_t mttr = mp_hs_mttr_ms(m);
    if (mttr >= 0)
      mp_hs_length(len, sizeof(len), (uint64_t)mttr);
    fputs("<tr class=\"monitor\" data-monitor=\"", out);
    mp_html_esc(out, m->name);
    fputs("\"><td class=\"name\">", out);
    mp_html_esc(out, m->name);
    fprintf(out,
            "</td><td class=\"tests\">%" PRIu64
            "</td><td class=\"passed\">%" PRIu64
            "</td><td class=\"availability\">%.3f</td>"
            "<td class=\"outages\">%zu</td><td class=\"mttr\" "
            "data-ms=\"%" PRId64 "\">%s</td><td class=\"alerts\">%" PRIu64
            "</td><td class=\"recoveries\">%" PRIu64
            "</td><td class=\"actions\">%" PRIu64 "</td></tr>\n",
            m->tests, m->ok, pct(m->ok, m->tests), m->noutages, mttr,
            mttr >= 0 ? len : "-", m->alerts, m->recoveries, m->actions);
  }
  fputs("</table>\n", out);
  for (size_t i = 0; i < hs->nmons; i++)
    monitor_section(out, hs, &hs->mons[i]);
  fputs("</body></html>\n", out);
}
