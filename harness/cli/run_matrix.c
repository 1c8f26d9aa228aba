/* The matrix side of `mailprobe run` (harness/cli/run_matrix.h): a run of
 * the runner per subject over the same parsed cases, each case's outcome
 * turned into a cell, the cells held against a baseline, the matrix
 * written. */
#include "harness/cli/run_matrix.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "harness/case/case.h"
#include "harness/report/matrix.h"
#include "harness/run/runner.h"
#include "harness/subject/baseline.h"
#include "harness/subject/classify.h"
#include "harness/subject/profile.h"
#include "harness/subject/spawn.h"
#include "probes/result.h"
#include "wire/errors.h"

void mp_run_progress(size_t done, size_t total, size_t failing,
                     double elapsed_s)
{
  double left = done ? elapsed_s / (double)done * (double)(total - done) : 0;

  fprintf(stderr, "\r[%zu/%zu] %zu failing, about %.0f s left   ", done, total,
          failing, left);
  if (done == total)
    fputs("\r\033[K", stderr);
  fflush(stderr);
}

struct progress {
  size_t done, total, failing;
  uint64_t start_ns;
  int on;
};

static void on_done(struct mp_run_case *rc, void *data)
{
  struct progress *p = data;

  p->done++;
  if (rc->cell
          ? rc->cell->cls == MP_CLASS_FAIL || rc->cell->cls == MP_CLASS_ERROR
          : !rc->out.passed)
    p->failing++;
  if (p->on)
    mp_run_progress(p->done, p->total, p->failing,
                    (double)(uv_hrtime() - p->start_ns) / 1e9);
}

static const char *case_protocol(const struct mp_case *c)
{
  static const char *const names[] = {"smtp", "pop3", "imap", "roundtrip"};

  return c ? names[c->probe.type & 3] : "";
}

/* A case where the server stalls: it drips, hangs, or waits past the
 * probe's timeout (the timeout-honesty column). */
static int stalls(const struct mp_case *c)
{
  uint64_t t;
  size_t i, k;

  if (!c)
    return 0;
  t = c->probe.opts.timeout_ms ? c->probe.opts.timeout_ms : 120000;
  for (i = 0; i < c->nservers; i++)
    for (k = 0; k < c->servers[i].nrules; k++) {
      const struct mp_fake_rule *r = &c->servers[i].rules[k];
      if (r->drip_bytes || r->tls_drip_bytes || r->then == MP_THEN_HANG ||
          r->delay_ms >= t)
        return 1;
    }
  return 0;
}

/* mailprobe's own outcome as a cell: the class, its phases and its
 * transcript. */
static void builtin_cell(struct mp_run_case *rc, struct mp_cell *cell)
{
  const struct mp_result *r = rc->result;
  size_t i;

  cell->exit_status = -1;
  mp_subject_classify_builtin(rc->out.passed, rc->c ? NULL : rc->parse_error,
                              rc->out.diffs, rc->out.ndiffs, cell);
  cell->seconds = rc->out.seconds;
  if (rc->c)
    cell->timeout_s =
        (double)(rc->c->probe.opts.timeout_ms ? rc->c->probe.opts.timeout_ms
                                              : 120000) /
        1000.0;
  if (rc->out.ndiffs && (cell->diffs = calloc(rc->out.ndiffs, sizeof(char *))))
    for (i = 0; i < rc->out.ndiffs; i++)
      if ((cell->diffs[cell->ndiffs] = strdup(rc->out.diffs[i])))
        cell->ndiffs++;
  if (!r)
    return;
  /* The probe's own time (a round trip's is its runs'), not the case's,
   * which adds the wait for the servers to catch up. */
  if (r->total_us && !rc->c->probe.rt)
    cell->seconds = (double)r->total_us / 1e6;
  cell->verdict = strdup(r->ok ? "ok" : "fail");
  if (r->err && mp_err_name(r->err))
    cell->named = strdup(mp_err_name(r->err));
  if ((cell->phases = calloc(MP_PHASE_COUNT, sizeof(*cell->phases))))
    for (i = 0; i < MP_PHASE_COUNT; i++)
      if (r->timings_us[i] >= 0) {
        cell->phases[cell->nphases].name = mp_phase_name((enum mp_phase)i);
        cell->phases[cell->nphases].ms = (double)r->timings_us[i] / 1000.0;
        cell->nphases++;
      }
  if (r->ntranscript &&
      (cell->lines = calloc(r->ntranscript, sizeof(*cell->lines))))
    for (i = 0; i < r->ntranscript; i++) {
      struct mp_cell_line *l = &cell->lines[cell->nlines++];
      l->t_ms = -1;
      l->who = strdup(r->transcript[i].dir == 'c' ? "probe" : "server");
      l->line = strdup(r->transcript[i].line);
    }
}

/* Interrupted: the subjects run in sessions of their own, so a ^C on the
 * terminal does not reach them; kill them, then die of the signal. */
static void on_interrupt(int sig)
{
  mp_spawn_kill_all();
  signal(sig, SIG_DFL);
  raise(sig);
}

int mp_run_matrix(struct mp_run_case *cases, size_t n,
                  const struct mp_matrix_opts *o)
{
  struct mp_subject **subj = calloc(o->nsubjects + 1, sizeof(*subj));
  char **load_err = calloc(o->nsubjects + 1, sizeof(char *));
  const char **names = calloc(o->nsubjects + 1, sizeof(char *));
  char **stems = calloc(o->nsubjects + 1, sizeof(char *));
  struct mp_matrix_row *rows = calloc(n + 1, sizeof(*rows));
  struct mp_run_case *one = calloc(n + 1, sizeof(*one));
  struct mp_baseline *base = NULL;
  struct progress prog = {0};
  struct mp_matrix m;
  char err[512];
  size_t s, i, bad = 0;
  int rc = 0;

  if (!subj || !load_err || !names || !stems || !rows || !one) {
    fprintf(stderr, "mailprobe run: out of memory\n");
    rc = 3;
    goto out;
  }
  if (o->baseline &&
      mp_baseline_load(o->baseline, &base, err, sizeof(err)) < 0) {
    fprintf(stderr, "mailprobe run: %s\n", err);
    rc = 3;
    goto out;
  }
  for (i = 0; i < n; i++) {
    rows[i].file = cases[i].file;
    rows[i].name = cases[i].c ? cases[i].c->name : NULL;
    rows[i].protocol = case_protocol(cases[i].c);
    rows[i].drip_or_hang = stalls(cases[i].c);
    rows[i].cells = calloc(o->nsubjects, sizeof(struct mp_cell));
    if (!rows[i].cells) {
      rc = 3;
      goto out;
    }
  }
  /* Every profile first: a broken one is reported before anything runs
   * and its column is ERROR. */
  for (s = 0; s < o->nsubjects; s++) {
    if (mp_subject_find(o->subjects[s], "cases/subjects", &subj[s], err,
                        sizeof(err)) < 0) {
      fprintf(stderr, "mailprobe run: --subject %s: %s\n", o->subjects[s], err);
      load_err[s] = strdup(err);
    }
    /* A profile that did not load: the name it would have had. */
    if (!subj[s] && !(stems[s] = mp_subject_default_name(o->subjects[s])))
      stems[s] = strdup("?");
    names[s] = subj[s] ? subj[s]->name : stems[s];
  }
  signal(SIGINT, on_interrupt);
  signal(SIGTERM, on_interrupt);
  signal(SIGHUP, on_interrupt);
  prog.total = n * o->nsubjects;
  prog.on = o->progress;
  prog.start_ns = uv_hrtime();
  for (s = 0; s < o->nsubjects; s++) {
    struct mp_run_opts ro = {0};

    if (!subj[s]) {
      for (i = 0; i < n; i++) {
        struct mp_cell *c = &rows[i].cells[s];
        c->cls = MP_CLASS_ERROR;
        c->exit_status = -1;
        c->reason = strdup("the profile did not load");
        c->detail = load_err[s] ? strdup(load_err[s]) : NULL;
      }
      prog.done += n;
      continue;
    }
    for (i = 0; i < n; i++) {
      memset(&one[i], 0, sizeof(one[i]));
      one[i].file = cases[i].file;
      one[i].c = cases[i].c;
      one[i].parse_error = cases[i].parse_error;
    }
    ro.jobs = o->jobs;
    ro.no_fork = o->no_fork;
    ro.subject = subj[s];
    ro.on_done = on_done;
    ro.data = &prog;
    if (mp_run(one, n, &ro) < 0) {
      fprintf(stderr, "mailprobe run: could not start the event loop\n");
      rc = 3;
      goto out;
    }
    for (i = 0; i < n; i++) {
      struct mp_cell *c = &rows[i].cells[s];
      if (one[i].cell) {
        *c = *one[i].cell;
        free(one[i].cell);
        one[i].cell = NULL;
      } else {
        builtin_cell(&one[i], c);
      }
      mp_run_case_clear(&one[i]);
    }
  }
  for (i = 0; i < n; i++)
    for (s = 0; s < o->nsubjects; s++) {
      struct mp_cell *c = &rows[i].cells[s];
      if (base)
        bad += (size_t)mp_baseline_check(base, names[s], rows[i].file, c);
      else
        bad += c->cls == MP_CLASS_FAIL || c->cls == MP_CLASS_ERROR;
    }
  memset(&m, 0, sizeof(m));
  m.subjects = names;
  m.nsubjects = o->nsubjects;
  m.rows = rows;
  m.nrows = n;
  mp_matrix_write(stdout, &m, (enum mp_matrix_format)o->format, o->verbose);
  for (i = 0; i < o->nreports; i++) {
    FILE *f = fopen(o->reports[i].file, "w");
    if (!f) {
      fprintf(stderr, "mailprobe run: --report %s: cannot write: %s\n",
              o->reports[i].file, strerror(errno));
      rc = 3;
      goto out;
    }
    mp_matrix_write(f, &m, (enum mp_matrix_format)o->reports[i].format,
                    o->verbose);
    if (fclose(f) != 0) {
      fprintf(stderr, "mailprobe run: --report %s: write failed\n",
              o->reports[i].file);
      rc = 3;
      goto out;
    }
  }
  if (o->format == 0 && base)
    printf("baseline %s: %zu change%s\n", o->baseline, bad,
           bad == 1 ? "" : "s");
  rc = bad ? 1 : 0;

out:
  for (i = 0; rows && i < n; i++) {
    for (s = 0; rows[i].cells && s < o->nsubjects; s++)
      mp_cell_clear(&rows[i].cells[s]);
    free(rows[i].cells);
  }
  for (s = 0; subj && s < o->nsubjects; s++) {
    mp_subject_free(subj[s]);
    if (load_err)
      free(load_err[s]);
    if (stems)
      free(stems[s]);
  }
  free(subj);
  free(load_err);
  free(names);
  free(stems);
  free(rows);
  free(one);
  mp_baseline_free(base);
  return rc;
}
