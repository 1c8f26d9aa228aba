/* The compliance matrix as human text, JSON and markdown
 * (harness/report/matrix.h); the HTML page is html.c. */
#include "harness/report/matrix.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "harness/report/json.h"

static const char *const class_names[MP_CLASS_COUNT] = {
    "PASS", "NON-STRICT", "FAIL", "UNSUPPORTED", "ERROR"};

const char *mp_class_name(enum mp_class c)
{
  return (unsigned)c < MP_CLASS_COUNT ? class_names[c] : "ERROR";
}

int mp_class_from_name(const char *name)
{
  int i;

  for (i = 0; i < MP_CLASS_COUNT; i++)
    if (name && strcasecmp(name, class_names[i]) == 0)
      return i;
  return -1;
}

int mp_matrix_format_from_name(const char *name)
{
  static const char *const names[] = {"human", "json", "markdown", "html"};
  int i;

  for (i = 0; i < 4; i++)
    if (strcmp(name, names[i]) == 0)
      return i;
  return -1;
}

void mp_cell_clear(struct mp_cell *c)
{
  size_t i;

  free(c->reason);
  free(c->detail);
  free(c->verdict);
  free(c->named);
  free(c->argv);
  free(c->out);
  free(c->err);
  for (i = 0; i < c->ndiffs; i++)
    free(c->diffs[i]);
  free(c->diffs);
  for (i = 0; i < c->nlines; i++) {
    free(c->lines[i].who);
    free(c->lines[i].line);
  }
  free(c->lines);
  free(c->phases);
  free(c->baseline);
  memset(c, 0, sizeof(*c));
}

void mp_matrix_count(const struct mp_matrix *m, size_t *counts)
{
  size_t r, s;

  memset(counts, 0, m->nsubjects * MP_CLASS_COUNT * sizeof(*counts));
  for (r = 0; r < m->nrows; r++)
    for (s = 0; s < m->nsubjects; s++)
      counts[s * MP_CLASS_COUNT + m->rows[r].cells[s].cls]++;
}

/* ---- human -------------------------------------------------------------- */

static void human(FILE *out, const struct mp_matrix *m, int verbose)
{
  size_t *counts = calloc(m->nsubjects * MP_CLASS_COUNT + 1, sizeof(size_t));
  size_t r, s, i;
  int k;

  for (r = 0; r < m->nrows; r++)
    for (s = 0; s < m->nsubjects; s++) {
      const struct mp_cell *c = &m->rows[r].cells[s];
      fprintf(out, "%-11s %-14s %7.3fs  %s%s%s\n", mp_class_name(c->cls),
              m->subjects[s], c->seconds, m->rows[r].file,
              c->reason ? "  -- " : "", c->reason ? c->reason : "");
    }
  for (r = 0; r < m->nrows; r++)
    for (s = 0; s < m->nsubjects; s++) {
      const struct mp_cell *c = &m->rows[r].cells[s];
      if (c->cls == MP_CLASS_PASS && !c->baseline)
        continue;
      if (c->cls == MP_CLASS_UNSUPPORTED && !verbose && !c->baseline)
        continue;
      fprintf(out, "\n--- %s %s (%s)\n", mp_class_name(c->cls), m->rows[r].file,
              m->subjects[s]);
      if (c->baseline)
        fprintf(out, "    baseline: %s\n", c->baseline);
      if (c->reason)
        fprintf(out, "    %s\n", c->reason);
      if (c->detail)
        fprintf(out, "    %s\n", c->detail);
      for (i = 0; i < c->ndiffs; i++)
        if (!c->reason || strcmp(c->diffs[i], c->reason) != 0)
          fprintf(out, "    %s\n", c->diffs[i]);
      if (c->argv)
        fprintf(out, "    command: %s\n", c->argv);
      if (c->verdict)
        fprintf(out, "    said: %s%s%s (exit %d)\n", c->verdict,
                c->named ? ", named " : "", c->named ? c->named : "",
                c->exit_status);
      if (verbose && c->out && c->out[0])
        fprintf(out, "    stdout: %.2000s\n", c->out);
      if (verbose && c->err && c->err[0])
        fprintf(out, "    stderr: %.2000s\n", c->err);
    }
  if (counts) {
    mp_matrix_count(m, counts);
    fputc('\n', out);
    for (s = 0; s < m->nsubjects; s++) {
      fprintf(out, "%s:", m->subjects[s]);
      for (k = 0; k < MP_CLASS_COUNT; k++)
        fprintf(out, " %zu %s%s", counts[s * MP_CLASS_COUNT + k],
                mp_class_name((enum mp_class)k),
                k + 1 < MP_CLASS_COUNT ? "," : "");
      fputc('\n', out);
    }
  }
  free(counts);
}

/* ---- JSON --------------------------------------------------------------- */

static void json_cell(struct mp_json *j, const struct mp_cell *c)
{
  size_t i;

  mp_json_obj_begin(j);
  mp_json_kv_str(j, "class", mp_class_name(c->cls));
  mp_json_kv_str(j, "reason", c->reason);
  mp_json_kv_str(j, "detail", c->detail);
  mp_json_kv_double(j, "seconds", c->seconds, 3);
  mp_json_kv_double(j, "timeout_s", c->timeout_s, 3);
  if (c->exit_status >= 0)
    mp_json_kv_int(j, "exit_status", c->exit_status);
  else {
    mp_json_key(j, "exit_status");
    mp_json_null(j);
  }
  if (c->term_signal)
    mp_json_kv_int(j, "signal", c->term_signal);
  mp_json_kv_str(j, "verdict", c->verdict);
  mp_json_kv_str(j, "named", c->named);
  mp_json_kv_str(j, "command", c->argv);
  if (c->out) {
    mp_json_kv_str(j, "stdout", c->out);
    mp_json_kv_uint(j, "stdout_bytes", c->out_total);
  }
  if (c->err) {
    mp_json_kv_str(j, "stderr", c->err);
    mp_json_kv_uint(j, "stderr_bytes", c->err_total);
  }
  mp_json_key(j, "diffs");
  mp_json_arr_begin(j);
  for (i = 0; i < c->ndiffs; i++)
    mp_json_str(j, c->diffs[i]);
  mp_json_arr_end(j);
  if (c->nlines) {
    mp_json_key(j, "timeline");
    mp_json_arr_begin(j);
    for (i = 0; i < c->nlines; i++) {
      mp_json_obj_begin(j);
      if (c->lines[i].t_ms >= 0)
        mp_json_kv_double(j, "t_ms", c->lines[i].t_ms, 1);
      mp_json_kv_str(j, "who", c->lines[i].who);
      mp_json_kv_bool(j, "tls", c->lines[i].tls);
      mp_json_kv_str(j, "line", c->lines[i].line);
      mp_json_obj_end(j);
    }
    mp_json_arr_end(j);
  }
  if (c->nphases) {
    mp_json_key(j, "phases_ms");
    mp_json_obj_begin(j);
    for (i = 0; i < c->nphases; i++)
      mp_json_kv_double(j, c->phases[i].name, c->phases[i].ms, 3);
    mp_json_obj_end(j);
  }
  if (c->baseline)
    mp_json_kv_str(j, "baseline", c->baseline);
  mp_json_obj_end(j);
}

static void json(FILE *out, const struct mp_matrix *m)
{
  size_t *counts = calloc(m->nsubjects * MP_CLASS_COUNT + 1, sizeof(size_t));
  struct mp_json j;
  size_t r, s;
  int k;
  char *text;

  mp_json_init(&j);
  j.pretty = 1;
  mp_json_obj_begin(&j);
  mp_json_key(&j, "subjects");
  mp_json_arr_begin(&j);
  for (s = 0; s < m->nsubjects; s++)
    mp_json_str(&j, m->subjects[s]);
  mp_json_arr_end(&j);
  if (counts) {
    mp_matrix_count(m, counts);
    mp_json_key(&j, "counts");
    mp_json_obj_begin(&j);
    for (s = 0; s < m->nsubjects; s++) {
      mp_json_key(&j, m->subjects[s]);
      mp_json_obj_begin(&j);
      for (k = 0; k < MP_CLASS_COUNT; k++)
        mp_json_kv_uint(&j, mp_class_name((enum mp_class)k),
                        counts[s * MP_CLASS_COUNT + k]);
      mp_json_obj_end(&j);
    }
    mp_json_obj_end(&j);
  }
  mp_json_key(&j, "cases");
  mp_json_arr_begin(&j);
  for (r = 0; r < m->nrows; r++) {
    mp_json_obj_begin(&j);
    mp_json_kv_str(&j, "file", m->rows[r].file);
    mp_json_kv_str(&j, "name", m->rows[r].name);
    mp_json_kv_str(&j, "protocol", m->rows[r].protocol);
    mp_json_key(&j, "cells");
    mp_json_obj_begin(&j);
    for (s = 0; s < m->nsubjects; s++) {
      mp_json_key(&j, m->subjects[s]);
      json_cell(&j, &m->rows[r].cells[s]);
    }
    mp_json_obj_end(&j);
    mp_json_obj_end(&j);
  }
  mp_json_arr_end(&j);
  mp_json_obj_end(&j);
  text = mp_json_take(&j);
  if (text) {
    fputs(text, out);
    fputc('\n', out);
  }
  free(text);
  mp_json_free(&j);
  free(counts);
}

/* ---- markdown ----------------------------------------------------------- */

/* Text safe inside a table cell: pipes and newlines would break it. */
static void md_text(FILE *out, const char *s)
{
  for (; s && *s; s++) {
    if (*s == '|')
      fputs("\\|", out);
    else if (*s == '\n' || *s == '\r')
      fputc(' ', out);
    else
      fputc(*s, out);
  }
}

static void markdown(FILE *out, const struct mp_matrix *m)
{
  size_t *counts = calloc(m->nsubjects * MP_CLASS_COUNT + 1, sizeof(size_t));
  size_t r, s;
  int k, honesty = 0;

  for (r = 0; r < m->nrows; r++)
    honesty |= m->rows[r].drip_or_hang;
  fprintf(out, "| class |");
  for (s = 0; s < m->nsubjects; s++)
    fprintf(out, " %s |", m->subjects[s]);
  fprintf(out, "\n| --- |");
  for (s = 0; s < m->nsubjects; s++)
    fprintf(out, " ---: |");
  fputc('\n', out);
  if (counts) {
    mp_matrix_count(m, counts);
    for (k = 0; k < MP_CLASS_COUNT; k++) {
      fprintf(out, "| %s |", mp_class_name((enum mp_class)k));
      for (s = 0; s < m->nsubjects; s++)
        fprintf(out, " %zu |", counts[s * MP_CLASS_COUNT + k]);
      fputc('\n', out);
    }
  }
  fprintf(out, "\n| case | protocol |");
  for (s = 0; s < m->nsubjects; s++)
    fprintf(out, " %s |", m->subjects[s]);
  if (honesty)
    fprintf(out, " timeout honesty (took / given) |");
  fprintf(out, "\n| --- | --- |");
  for (s = 0; s < m->nsubjects; s++)
    fprintf(out, " --- |");
  if (honesty)
    fprintf(out, " --- |");
  fputc('\n', out);
  for (r = 0; r < m->nrows; r++) {
    fprintf(out, "| `");
    md_text(out, m->rows[r].file);
    fprintf(out, "` | %s |", m->rows[r].protocol ? m->rows[r].protocol : "");
    for (s = 0; s < m->nsubjects; s++) {
      const struct mp_cell *c = &m->rows[r].cells[s];
      if (c->cls == MP_CLASS_UNSUPPORTED)
        fprintf(out, " UNSUPPORTED |");
      else
        fprintf(out, " %s %.2fs |", mp_class_name(c->cls), c->seconds);
    }
    if (honesty) {
      fputc(' ', out);
      for (s = 0; m->rows[r].drip_or_hang && s < m->nsubjects; s++) {
        const struct mp_cell *c = &m->rows[r].cells[s];
        if (c->cls == MP_CLASS_UNSUPPORTED || c->cls == MP_CLASS_ERROR ||
            c->timeout_s <= 0)
          continue;
        fprintf(out, "%s %.2f / %g s%s; ", m->subjects[s], c->seconds,
                c->timeout_s,
                c->seconds > c->timeout_s + 0.5 ? " (late)" : "");
      }
      fprintf(out, "|");
    }
    fputc('\n', out);
  }
  /* The reasons, so that a reader sees why without running it. */
  fprintf(out, "\nWhy each cell that is not PASS or UNSUPPORTED:\n\n");
  for (r = 0; r < m->nrows; r++)
    for (s = 0; s < m->nsubjects; s++) {
      const struct mp_cell *c = &m->rows[r].cells[s];
      if (c->cls == MP_CLASS_PASS || c->cls == MP_CLASS_UNSUPPORTED)
        continue;
      fprintf(out, "- `%s` %s, %s: ", m->rows[r].file, m->subjects[s],
              mp_class_name(c->cls));
      md_text(out, c->reason ? c->reason : "");
      fputc('\n', out);
    }
  free(counts);
}

void mp_matrix_write(FILE *out, const struct mp_matrix *m,
                     enum mp_matrix_format f, int verbose)
{
  switch (f) {
  case MP_MATRIX_JSON:
    json(out, m);
    break;
  case MP_MATRIX_MARKDOWN:
    markdown(out, m);
    break;
  case MP_MATRIX_HTML:
    mp_matrix_html(out, m);
    break;
  default:
    human(out, m, verbose);
  }
}
