/* The compliance matrix as one self-contained HTML page: inline CSS, SVG
 * and a little JavaScript, nothing fetched. The counts per class (total
 * and per subject, with ids a test can read back), the matrix (a row per
 * case, a cell per subject with class and time), filters by class,
 * protocol and subject, and per case and subject the details: reason,
 * diffs, the command, its output, and a waterfall: mailprobe's phases, or
 * for other subjects the lines the fake servers received on a time
 * axis. */
#include "harness/report/matrix.h"

#include "harness/report/html_esc.h"

#include <stdlib.h>
#include <string.h>

static const char css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}"
    "h1{font-size:1.4em}table{border-collapse:collapse;margin:.5em 0}"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}"
    "th{background:#f3f3f3}.cell{white-space:nowrap;cursor:pointer}"
    ".c-PASS{background:#d7f5d7}.c-NON-STRICT{background:#fff1c2}"
    ".c-FAIL{background:#ffd0d0}.c-UNSUPPORTED{background:#e6e6e6;"
    "color:#666}.c-ERROR{background:#e9c7ff}"
    ".counts span{display:inline-block;margin-right:1em;padding:2px 8px;"
    "border-radius:4px}pre{background:#f7f7f7;padding:6px;max-height:20em;"
    "overflow:auto;white-space:pre-wrap}details{margin:.3em 0}"
    ".hidden{display:none}.filters label{margin-right:1em}"
    ".base{color:#a00;font-weight:bold}svg text{font:11px monospace}";

static const char js[] =
    "function apply(){var c=document.getElementById('f-class').value,"
    "p=document.getElementById('f-proto').value,"
    "s=document.getElementById('f-subject').value;"
    "document.querySelectorAll('th[data-subject],td[data-subject]')"
    ".forEach(function(e){e.classList.toggle('hidden',"
    "s!==''&&e.dataset.subject!==s)});"
    "document.querySelectorAll('tr.row').forEach(function(r){"
    "var ok=(p===''||r.dataset.protocol===p);if(ok&&c!==''){ok=false;"
    "r.querySelectorAll('td.cell').forEach(function(e){"
    "if(e.dataset.class===c&&(s===''||e.dataset.subject===s))ok=true})}"
    "r.classList.toggle('hidden',!ok);"
    "var d=document.getElementById('d-'+r.dataset.i);"
    "if(d)d.classList.toggle('hidden',!ok)})}"
    "document.querySelectorAll('select').forEach(function(e){"
    "e.addEventListener('change',apply)});"
    "document.querySelectorAll('td.cell').forEach(function(e){"
    "e.addEventListener('click',function(){var d=document.getElementById("
    "'d-'+e.parentNode.dataset.i);if(d){d.open=true;d.scrollIntoView()}})});";

/* mailprobe's phases as bars one after another. */
static void svg_phases(FILE *out, const struct mp_cell *c)
{
  double total = 0, x = 0;
  size_t i;

  for (i = 0; i < c->nphases; i++)
    total += c->phases[i].ms;
  if (total <= 0)
    total = 1;
  fprintf(out, "<svg class=\"waterfall\" width=\"620\" height=\"%zu\">",
          c->nphases * 16 + 4);
  for (i = 0; i < c->nphases; i++) {
    double w = c->phases[i].ms / total * 400.0;
    fprintf(out,
            "<rect x=\"%.1f\" y=\"%zu\" width=\"%.1f\" height=\"12\" "
            "fill=\"#4a90d9\"/><text x=\"%.1f\" y=\"%zu\">%s %.1f ms</text>",
            100 + x, i * 16 + 2, w < 1 ? 1 : w, 4.0, i * 16 + 12,
            c->phases[i].name, c->phases[i].ms);
    x += w;
  }
  fputs("</svg>", out);
}

/* What the servers saw, on a time axis. */
static void svg_timeline(FILE *out, const struct mp_cell *c)
{
  double end = c->seconds * 1000.0;
  size_t i, n = c->nlines < 60 ? c->nlines : 60;

  for (i = 0; i < n; i++)
    if (c->lines[i].t_ms > end)
      end = c->lines[i].t_ms;
  if (end <= 0)
    end = 1;
  fprintf(out, "<svg class=\"waterfall\" width=\"720\" height=\"%zu\">",
          n * 14 + 20);
  fprintf(out,
          "<line x1=\"60\" y1=\"2\" x2=\"60\" y2=\"%zu\" stroke=\"#999\"/>"
          "<text x=\"0\" y=\"%zu\">0 ms</text><text x=\"300\" y=\"%zu\">"
          "%.0f ms (the subject ended)</text>",
          n * 14 + 4, n * 14 + 16, n * 14 + 16, c->seconds * 1000.0);
  for (i = 0; i < n; i++) {
    double x = 60 + c->lines[i].t_ms / end * 300.0;
    fprintf(out,
            "<circle cx=\"%.1f\" cy=\"%zu\" r=\"4\" fill=\"%s\"/>"
            "<text x=\"%.1f\" y=\"%zu\">%.1f ",
            x, i * 14 + 8, c->lines[i].tls ? "#2a8" : "#d62", 370.0,
            i * 14 + 12, c->lines[i].t_ms);
    mp_html_esc(out, c->lines[i].who);
    fputs(": ", out);
    mp_html_esc(out, c->lines[i].line);
    fputs("</text>", out);
  }
  fputs("</svg>", out);
}

static void details(FILE *out, const struct mp_matrix *m, size_t r)
{
  const struct mp_matrix_row *row = &m->rows[r];
  size_t s, i;

  fprintf(out, "<details id=\"d-%zu\"><summary>", r);
  mp_html_esc(out, row->file);
  fputs("</summary>", out);
  for (s = 0; s < m->nsubjects; s++) {
    const struct mp_cell *c = &row->cells[s];
    fprintf(out, "<div data-subject=\"");
    mp_html_esc(out, m->subjects[s]);
    fprintf(out, "\"><h3><span class=\"c-%s\">%s</span> ",
            mp_class_name(c->cls), mp_class_name(c->cls));
    mp_html_esc(out, m->subjects[s]);
    fprintf(out, " %.3f s</h3>", c->seconds);
    if (c->baseline) {
      fputs("<p class=\"base\">baseline: ", out);
      mp_html_esc(out, c->baseline);
      fputs("</p>", out);
    }
    if (c->reason) {
      fputs("<p>", out);
      mp_html_esc(out, c->reason);
      fputs("</p>", out);
    }
    if (c->detail) {
      fputs("<p>", out);
      mp_html_esc(out, c->detail);
      fputs("</p>", out);
    }
    if (c->ndiffs >
        (c->reason && c->ndiffs == 1 && strcmp(c->diffs[0], c->reason) == 0)) {
      fputs("<ul class=\"diffs\">", out);
      for (i = 0; i < c->ndiffs; i++) {
        if (c->reason && strcmp(c->diffs[i], c->reason) == 0)
          continue; /* said just above */
        fputs("<li>", out);
        mp_html_esc(out, c->diffs[i]);
        fputs("</li>", out);
      }
      fputs("</ul>", out);
    }
    if (c->argv) {
      fputs("<p>command: <code>", out);
      mp_html_esc(out, c->argv);
      fprintf(out, "</code> (exit %d", c->exit_status);
      if (c->verdict) {
        fputs(", said ", out);
        mp_html_esc(out, c->verdict);
      }
      if (c->named) {
        fputs(", named ", out);
        mp_html_esc(out, c->named);
      }
      fputs(")</p>", out);
    }
    if (c->nphases)
      svg_phases(out, c);
    else if (c->nlines)
      svg_timeline(out, c);
    if (c->nlines) {
      fputs("<pre class=\"transcript\">", out);
      for (i = 0; i < c->nlines; i++) {
        if (c->lines[i].t_ms >= 0)
          fprintf(out, "%8.1f ms ", c->lines[i].t_ms);
        mp_html_esc(out, c->lines[i].who);
        fputs(c->lines[i].tls ? " [tls] " : " ", out);
        mp_html_esc(out, c->lines[i].line);
        fputc('\n', out);
      }
      fputs("</pre>", out);
    }
    if (c->out && c->out[0]) {
      fprintf(out, "<p>stdout (%llu bytes)</p><pre>",
              (unsigned long long)c->out_total);
      mp_html_esc(out, c->out);
      fputs("</pre>", out);
    }
    if (c->err && c->err[0]) {
      fprintf(out, "<p>stderr (%llu bytes)</p><pre>",
              (unsigned long long)c->err_total);
      mp_html_esc(out, c->err);
      fputs("</pre>", out);
    }
    fputs("</div>", out);
  }
  fputs("</details>\n", out);
}

static void option(FILE *out, const char *v)
{
  fputs("<option value=\"", out);
  mp_html_esc(out, v);
  fputs("\">", out);
  mp_html_esc(out, v);
  fputs("</option>", out);
}

void mp_matrix_html(FILE *out, const struct mp_matrix *m)
{
  static const char *const protos[] = {"smtp", "pop3", "imap", "roundtrip"};
  size_t *counts = calloc(m->nsubjects * MP_CLASS_COUNT + 1, sizeof(size_t));
  const char *title = m->title ? m->title : "mailprobe compliance matrix";
  size_t r, s, total[MP_CLASS_COUNT] = {0};
  int k;

  if (counts)
    mp_matrix_count(m, counts);
  for (s = 0; counts && s < m->nsubjects; s++)
    for (k = 0; k < MP_CLASS_COUNT; k++)
      total[k] += counts[s * MP_CLASS_COUNT + k];
  fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>",
        out);
  mp_html_esc(out, title);
  fprintf(out, "</title><style>%s</style></head><body><h1>", css);
  mp_html_esc(out, title);
  fprintf(out, "</h1>\n<p class=\"counts\" id=\"counts\">");
  for (k = 0; k < MP_CLASS_COUNT; k++)
    fprintf(out, "<span class=\"c-%s\">%s <b id=\"count-%s\">%zu</b></span>",
            mp_class_name((enum mp_class)k), mp_class_name((enum mp_class)k),
            mp_class_name((enum mp_class)k), total[k]);
  fprintf(out,
          "<span>cases <b id=\"count-cases\">%zu</b></span>"
          "<span>subjects <b id=\"count-subjects\">%zu</b></span></p>\n",
          m->nrows, m->nsubjects);
  /* Counts per subject. */
  fputs("<table id=\"per-subject\"><tr><th>subject</th>", out);
  for (k = 0; k < MP_CLASS_COUNT; k++)
    fprintf(out, "<th>%s</th>", mp_class_name((enum mp_class)k));
  fputs("</tr>", out);
  for (s = 0; counts && s < m->nsubjects; s++) {
    fputs("<tr><td>", out);
    mp_html_esc(out, m->subjects[s]);
    fputs("</td>", out);
    for (k = 0; k < MP_CLASS_COUNT; k++) {
      fprintf(out, "<td class=\"count\" data-subject=\"");
      mp_html_esc(out, m->subjects[s]);
      fprintf(out, "\" data-class=\"%s\">%zu</td>",
              mp_class_name((enum mp_class)k), counts[s * MP_CLASS_COUNT + k]);
    }
    fputs("</tr>", out);
  }
  fputs("</table>\n<p class=\"filters\"><label>class <select id=\"f-class\">"
        "<option value=\"\">any</option>",
        out);
  for (k = 0; k < MP_CLASS_COUNT; k++)
    option(out, mp_class_name((enum mp_class)k));
  fputs("</select></label><label>protocol <select id=\"f-proto\"><option "
        "value=\"\">any</option>",
        out);
  for (k = 0; k < 4; k++)
    option(out, protos[k]);
  fputs("</select></label><label>subject <select id=\"f-subject\"><option "
        "value=\"\">any</option>",
        out);
  for (s = 0; s < m->nsubjects; s++)
    option(out, m->subjects[s]);
  fputs("</select></label></p>\n<table id=\"matrix\"><tr><th>case</th>"
        "<th>protocol</th>",
        out);
  for (s = 0; s < m->nsubjects; s++) {
    fputs("<th data-subject=\"", out);
    mp_html_esc(out, m->subjects[s]);
    fputs("\">", out);
    mp_html_esc(out, m->subjects[s]);
    fputs("</th>", out);
  }
  fputs("</tr>\n", out);
  for (r = 0; r < m->nrows; r++) {
    const struct mp_matrix_row *row = &m->rows[r];
    fprintf(out, "<tr class=\"row\" data-i=\"%zu\" data-protocol=\"", r);
    mp_html_esc(out, row->protocol);
    fputs("\"><td>", out);
    mp_html_esc(out, row->file);
    fputs("</td><td>", out);
    mp_html_esc(out, row->protocol);
    fputs("</td>", out);
    for (s = 0; s < m->nsubjects; s++) {
      const struct mp_cell *c = &row->cells[s];
      fprintf(out,
              "<td class=\"cell c-%s\" data-class=\"%s\" "
              "data-subject=\"",
              mp_class_name(c->cls), mp_class_name(c->cls));
      mp_html_esc(out, m->subjects[s]);
      fputs("\" title=\"", out);
      mp_html_esc(out, c->reason ? c->reason : "");
      fprintf(out, "\">%s %.2fs%s</td>", mp_class_name(c->cls), c->seconds,
              c->baseline ? " &#9888;" : "");
    }
    fputs("</tr>\n", out);
  }
  fputs("</table>\n<h2>Cases</h2>\n", out);
  for (r = 0; r < m->nrows; r++)
    details(out, m, r);
  fprintf(out, "<script>%s</script></body></html>\n", js);
  free(counts);
}
