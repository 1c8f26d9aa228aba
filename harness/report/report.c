#include "harness/report/report.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness/report/json.h"
#include "harness/report/result_json.h"
#include "probes/result.h"
#include "wire/errors.h"

#define GREEN "\033[32m"
#define RED "\033[31m"
#define BOLD "\033[1m"
#define DIM "\033[2m"
#define RESET "\033[0m"

struct mp_reporter {
  FILE *out;
  struct mp_report_opts opts;
  size_t ncases; /* announced */
  const struct mp_outcome **seen;
  size_t nseen;
  size_t cap;
  size_t failed;
  size_t errors;      /* of the failed, cases that could not run */
  struct timespec t0; /* when the run started: the suite's wall time */
};

int mp_report_format_from_name(const char *name)
{
  if (strcmp(name, "human") == 0)
    return MP_REPORT_HUMAN;
  if (strcmp(name, "tap") == 0)
    return MP_REPORT_TAP;
  if (strcmp(name, "junit") == 0)
    return MP_REPORT_JUNIT;
  if (strcmp(name, "json") == 0)
    return MP_REPORT_JSON;
  return -1;
}

void mp_report_classname(const char *file, char *buf, size_t len)
{
  const char *slash = strrchr(file, '/');
  size_t n, i;

  if (len == 0)
    return;
  if (!slash) {
    snprintf(buf, len, ".");
    return;
  }
  n = (size_t)(slash - file);
  /* "./cases/x.yaml" reads better as "cases". */
  while (n >= 2 && file[0] == '.' && file[1] == '/') {
    file += 2;
    n -= 2;
  }
  if (n >= len)
    n = len - 1;
  for (i = 0; i < n; i++)
    buf[i] = file[i] == '/' ? '.' : file[i];
  buf[n] = '\0';
  if (n == 0)
    snprintf(buf, len, ".");
}

/* Text for a terminal or a TAP line: control bytes shown as \xNN so a
 * server's bytes cannot move the cursor or end a line. */
static void put_safe(FILE *out, const char *s)
{
  const unsigned char *p = (const unsigned char *)(s ? s : "");

  for (; *p; p++) {
    if (*p < 0x20 || *p == 0x7f)
      fprintf(out, "\\x%02x", *p);
    else
      fputc(*p, out);
  }
}

/* "1.699ms" below a second, else "2.013s". */
static const char *human_dur(char *buf, size_t len, uint64_t us)
{
  if (us < 1000000)
    snprintf(buf, len, "%.3fms", (double)us / 1e3);
  else
    snprintf(buf, len, "%.3fs", (double)us / 1e6);
  return buf;
}

static const char *case_title(const struct mp_outcome *o)
{
  return o->name && o->name[0] ? o->name : o->file;
}

struct mp_reporter *mp_reporter_new(FILE *out, size_t ncases,
                                    const struct mp_report_opts *opts)
{
  struct mp_reporter *rep = calloc(1, sizeof(*rep));

  if (!rep)
    return NULL;
  rep->out = out;
  rep->opts = *opts;
  if (!rep->opts.tail)
    rep->opts.tail = 12;
  rep->ncases = ncases;
  clock_gettime(CLOCK_MONOTONIC, &rep->t0);
  if (opts->format == MP_REPORT_TAP)
    fprintf(out, "TAP version 13\n1..%zu\n", ncases);
  return rep;
}

/* A double-quoted scalar of the YAML block under a TAP line, written so
 * that both YAML 1.2 and the YAMLish TAP::Parser reads (what `prove`
 * runs) read it alike: escapes only \\ \" \t \n \r and \xNN, which both
 * know (TAP::Parser knows no \u); invalid UTF-8 as U+FFFD. A ':' before
 * the first space is \x3a, as TAP::Parser takes `- "a: b"` for a map. The
 * prefix (a transcript line's "S: ") goes inside the quotes. */
static void tap_quoted(FILE *out, const char *prefix, const char *s)
{
  const unsigned char *p;
  int spaced = 0;
  size_t len, i, n;
  uint32_t cp;

  fputc('"', out);
  for (int part = 0; part < 2; part++) {
    p = (const unsigned char *)(part == 0 ? (prefix ? prefix : "")
                                          : (s ? s : ""));
    len = strlen((const char *)p);
    for (i = 0; i < len; i++) {
      unsigned char ch = p[i];

      if (ch == ' ')
        spaced = 1;
      if (ch == '"' || ch == '\\')
        fprintf(out, "\\%c", ch);
      else if (ch == '\t')
        fputs("\\t", out);
      else if (ch == '\n')
        fputs("\\n", out);
      else if (ch == '\r')
        fputs("\\r", out);
      else if (ch < 0x20 || ch == 0x7f || (ch == ':' && !spaced))
        fprintf(out, "\\x%02x", ch);
      else if (ch < 0x80)
        fputc(ch, out);
      else if ((n = mp_utf8_decode(p + i, len - i, &cp)) == 0) {
        fputs("\xef\xbf\xbd", out);
      } else {
        fwrite(p + i, 1, n, out);
        i += n - 1;
      }
    }
  }
  fputc('"', out);
}

static void tap_case(struct mp_reporter *rep, const struct mp_outcome *o)
{
  FILE *out = rep->out;
  const char *t;
  size_t i, from;

  fprintf(out, "%s %zu - ", o->passed ? "ok" : "not ok", rep->nseen);
  /* TAP 13: '#' in a description starts a directive. */
  for (t = case_title(o); *t; t++) {
    if (*t == '#')
      fputs("\\#", out);
    else if ((unsigned char)*t < 0x20)
      fputc(' ', out);
    else
      fputc(*t, out);
  }
  fputc('\n', out);
  if (o->passed)
    return;
  fprintf(out, "  ---\n  file: ");
  tap_quoted(out, NULL, o->file);
  fprintf(out, "\n  seconds: %.3f\n", o->seconds);
  if (o->ndiffs) {
    fprintf(out, "  diffs:\n");
    for (i = 0; i < o->ndiffs; i++) {
      fprintf(out, "    - ");
      tap_quoted(out, NULL, o->diffs[i]);
      fputc('\n', out);
    }
  }
  if (o->result && o->result->ntranscript) {
    const struct mp_result *r = o->result;

    from =
        r->ntranscript > rep->opts.tail ? r->ntranscript - rep->opts.tail : 0;
    fprintf(out, "  transcript:\n");
    for (i = from; i < r->ntranscript; i++) {
      char buf[64];

      snprintf(buf, sizeof(buf), "%c: ",
               r->transcript[i].dir == 'c'   ? 'C'
               : r->transcript[i].dir == 's' ? 'S'
                                             : '*');
      fprintf(out, "    - ");
      tap_quoted(out, buf, r->transcript[i].line);
      fputc('\n', out);
    }
  }
  fprintf(out, "  ...\n");
}

static void human_case(struct mp_reporter *rep, const struct mp_outcome *o)
{
  FILE *out = rep->out;
  int c = rep->opts.color;

  if (o->passed)
    fprintf(out, "%sPASS%s", c ? GREEN : "", c ? RESET : "");
  else
    fprintf(out, "%sFAIL%s", c ? BOLD RED : "", c ? RESET : "");
  fprintf(out, "  %.2fs  ", o->seconds);
  put_safe(out, o->file);
  if (o->name && o->name[0]) {
    fputs("  ", out);
    put_safe(out, o->name);
  }
  fputc('\n', out);
  fflush(out);
}

void mp_reporter_case(struct mp_reporter *rep, const struct mp_outcome *o)
{
  if (rep->nseen == rep->cap) {
    size_t cap = rep->cap ? rep->cap * 2 : 64;
    const struct mp_outcome **v = realloc(rep->seen, cap * sizeof(*v));

    if (!v)
      return;
    rep->seen = v;
    rep->cap = cap;
  }
  rep->seen[rep->nseen++] = o;
  if (!o->passed)
    rep->failed++;
  if (!o->passed && o->error)
    rep->errors++;
  switch (rep->opts.format) {
  case MP_REPORT_HUMAN:
    human_case(rep, o);
    break;
  case MP_REPORT_TAP:
    tap_case(rep, o);
    break;
  default:
    break;
  }
}

static void human_transcript(struct mp_reporter *rep, const struct mp_result *r)
{
  FILE *out = rep->out;
  int c = rep->opts.color;
  size_t i, from = 0;

  if (!r->ntranscript)
    return;
  if (!rep->opts.verbose && r->ntranscript > rep->opts.tail) {
    from = r->ntranscript - rep->opts.tail;
    fprintf(out, "  transcript (last %zu of %zu lines):\n", rep->opts.tail,
            r->ntranscript);
  } else {
    fprintf(out, "  transcript:\n");
  }
  for (i = from; i < r->ntranscript; i++) {
    const struct mp_transcript_line *t = &r->transcript[i];
    char d = t->dir == 'c' ? 'C' : t->dir == 's' ? 'S' : '*';
    char ts[32];

    fprintf(out, "    %s%10s%s %c: ", c ? DIM : "",
            human_dur(ts, sizeof(ts), t->t_us), c ? RESET : "", d);
    put_safe(out, t->line);
    fputc('\n', out);
  }
}

static void human_end(struct mp_reporter *rep)
{
  FILE *out = rep->out;
  int c = rep->opts.color;
  size_t i, k;

  for (i = 0; i < rep->nseen; i++) {
    const struct mp_outcome *o = rep->seen[i];
    const struct mp_result *r = o->result;

    if (o->passed)
      continue;
    fprintf(out, "\n%s--- FAIL ", c ? BOLD RED : "");
    put_safe(out, o->file);
    if (o->name && o->name[0]) {
      fputs(": ", out);
      put_safe(out, o->name);
    }
    fprintf(out, "%s\n", c ? RESET : "");
    for (k = 0; k < o->ndiffs; k++) {
      fputs("  ", out);
      put_safe(out, o->diffs[k]);
      fputc('\n', out);
    }
    if (r) {
      const char *en = mp_err_name(r->err);
      char ts[32];

      fprintf(out, "  probe: %s", r->ok ? "ok" : "fail");
      if (!r->ok || r->err)
        fprintf(out, ", %s in %s", en ? en : "error",
                mp_phase_name(r->phase) ? mp_phase_name(r->phase) : "?");
      fprintf(out, " after %s", human_dur(ts, sizeof(ts), r->total_us));
      if (r->detail) {
        fputs(": ", out);
        put_safe(out, r->detail);
      }
      fputc('\n', out);
      human_transcript(rep, r);
    }
  }
  if (rep->failed && rep->nseen)
    fputc('\n', out);
  fprintf(out, "%s%zu passed, %zu failed%s\n",
          c ? (rep->failed ? BOLD RED : BOLD GREEN) : "",
          rep->nseen - rep->failed, rep->failed, c ? RESET : "");
}

/* XML 1.0 text or attribute value: markup escaped, characters XML cannot
 * carry (control bytes other than tab/LF/CR, U+FFFE/U+FFFF) and invalid
 * UTF-8 replaced with U+FFFD. In attributes, tab/LF/CR become references
 * so they survive attribute-value normalisation (XML 1.0 3.3.3). */
static void xml_put(FILE *out, const char *s, int attr)
{
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  size_t len = strlen((const char *)p), i = 0, n;
  uint32_t cp;

  while (i < len) {
    unsigned char ch = p[i];

    switch (ch) {
    case '&':
      fputs("&amp;", out);
      i++;
      continue;
    case '<':
      fputs("&lt;", out);
      i++;
      continue;
    case '>':
      fputs("&gt;", out);
      i++;
      continue;
    case '"':
      fputs(attr ? "&quot;" : "\"", out);
      i++;
      continue;
    case '\'':
      fputs(attr ? "&apos;" : "'", out);
      i++;
      continue;
    case '\t':
    case '\n':
    case '\r':
      if (attr)
        fprintf(out, "&#%d;", ch);
      else
        fputc(ch, out);
      i++;
      continue;
    default:
      break;
    }
    if (ch < 0x20 || ch == 0x7f) {
      fputs("\xef\xbf\xbd", out);
      i++;
      continue;
    }
    if (ch < 0x80) {
      fputc(ch, out);
      i++;
      continue;
    }
    n = mp_utf8_decode(p + i, len - i, &cp);
    if (n == 0 || cp == 0xfffe || cp == 0xffff || (cp >= 0x80 && cp <= 0x9f)) {
      fputs("\xef\xbf\xbd", out);
      i += n ? n : 1;
      continue;
    }
    fwrite(p + i, 1, n, out);
    i += n;
  }
}

/* Seconds since the reporter started. */
static double wall_seconds(const struct mp_reporter *rep)
{
  struct timespec now;

  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - rep->t0.tv_sec) +
         (double)(now.tv_nsec - rep->t0.tv_nsec) / 1e9;
}

/* The common JUnit format (tests/data/junit.xsd, what Surefire writes and
 * Jenkins reads): a case file that does not parse is an <error>, a case
 * whose expectations failed a <failure>; the suite's time is the run's
 * wall time (the cases run at once, so their sum says nothing). */
static void junit_end(struct mp_reporter *rep)
{
  FILE *out = rep->out;
  double wall = wall_seconds(rep);
  size_t failures = rep->failed - rep->errors;
  char cls[512];
  size_t i, k;

  fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  fprintf(out,
          "<testsuites name=\"mailprobe\" tests=\"%zu\" failures=\"%zu\" "
          "errors=\"%zu\" time=\"%.3f\">\n",
          rep->nseen, failures, rep->errors, wall);
  fprintf(out,
          "  <testsuite name=\"mailprobe\" tests=\"%zu\" failures=\"%zu\" "
          "errors=\"%zu\" skipped=\"0\" time=\"%.3f\">\n",
          rep->nseen, failures, rep->errors, wall);
  for (i = 0; i < rep->nseen; i++) {
    const struct mp_outcome *o = rep->seen[i];
    const struct mp_result *r = o->result;
    const char *tag = o->error ? "error" : "failure";

    mp_report_classname(o->file, cls, sizeof(cls));
    fprintf(out, "    <testcase classname=\"");
    xml_put(out, cls, 1);
    fprintf(out, "\" name=\"");
    xml_put(out, case_title(o), 1);
    fprintf(out, "\" time=\"%.3f\"", o->seconds);
    if (o->passed) {
      fprintf(out, "/>\n");
      continue;
    }
    fprintf(out, ">\n      <%s message=\"", tag);
    xml_put(out, o->ndiffs ? o->diffs[0] : "failed", 1);
    fprintf(out, "\" type=\"%s\">file: ", o->error ? "case_file" : "mismatch");
    xml_put(out, o->file, 0);
    fputc('\n', out);
    for (k = 0; k < o->ndiffs; k++) {
      xml_put(out, o->diffs[k], 0);
      fputc('\n', out);
    }
    if (r && r->ntranscript) {
      size_t from =
          r->ntranscript > rep->opts.tail ? r->ntranscript - rep->opts.tail : 0;

      fprintf(out, "transcript:\n");
      for (k = from; k < r->ntranscript; k++) {
        const struct mp_transcript_line *t = &r->transcript[k];

        fprintf(out, "%c: ", t->dir == 'c' ? 'C' : t->dir == 's' ? 'S' : '*');
        xml_put(out, t->line, 0);
        fputc('\n', out);
      }
    }
    fprintf(out, "</%s>\n    </testcase>\n", tag);
  }
  fprintf(out, "  </testsuite>\n</testsuites>\n");
}

static void json_end(struct mp_reporter *rep)
{
  struct mp_json j;
  size_t i, k;

  mp_json_init(&j);
  j.pretty = 1;
  mp_json_arr_begin(&j);
  for (i = 0; i < rep->nseen; i++) {
    const struct mp_outcome *o = rep->seen[i];

    mp_json_obj_begin(&j);
    mp_json_kv_str(&j, "name", o->name);
    mp_json_kv_str(&j, "file", o->file);
    mp_json_kv_bool(&j, "passed", o->passed);
    mp_json_kv_double(&j, "seconds", o->seconds, 3);
    mp_json_key(&j, "diffs");
    mp_json_arr_begin(&j);
    for (k = 0; k < o->ndiffs; k++)
      mp_json_str(&j, o->diffs[k]);
    mp_json_arr_end(&j);
    mp_json_key(&j, "result");
    if (o->result)
      mp_result_write_json(&j, o->result);
    else
      mp_json_null(&j);
    mp_json_obj_end(&j);
  }
  mp_json_arr_end(&j);
  if (j.buf && !j.oom)
    fprintf(rep->out, "%s\n", j.buf);
  else
    fprintf(rep->out, "[]\n");
  mp_json_free(&j);
}

size_t mp_reporter_end(struct mp_reporter *rep)
{
  size_t failed = rep->failed;

  switch (rep->opts.format) {
  case MP_REPORT_HUMAN:
    human_end(rep);
    break;
  case MP_REPORT_TAP:
    fprintf(rep->out, "# %zu passed, %zu failed\n", rep->nseen - rep->failed,
            rep->failed);
    break;
  case MP_REPORT_JUNIT:
    junit_end(rep);
    break;
  case MP_REPORT_JSON:
    json_end(rep);
    break;
  }
  fflush(rep->out);
  free(rep->seen);
  free(rep);
  return failed;
}
