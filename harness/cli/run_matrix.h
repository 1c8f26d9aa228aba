/* `mailprobe run --subject ...`: the catalogue against one or more
 * subjects (probes under test), classed per case and subject, held
 * against a baseline, written as a compliance matrix. Private to
 * harness/cli/ (cli_run.c parses the options and calls it). */
#ifndef MP_RUN_MATRIX_H
#define MP_RUN_MATRIX_H

#include <stddef.h>

struct mp_run_case;

struct mp_matrix_opts {
  const char *const *subjects; /* as given to --subject */
  size_t nsubjects;
  const char *baseline; /* a JSON report, or NULL */
  int format;           /* enum mp_matrix_format */
  int verbose;
  unsigned jobs;
  int no_fork;
  int progress; /* a progress line on stderr (a terminal) */
  /* More formats of the same run, each into a file (--report F=FILE). */
  struct mp_matrix_report {
    int format;
    const char *file;
  } * reports;
  size_t nreports;
};

/* Runs cases (parsed already, owned by the caller) once per subject and
 * writes the matrix to stdout. Returns the exit status: 0 when no cell
 * is FAIL or ERROR (with a baseline: when no cell differs from it), 1
 * otherwise, 3 when the baseline cannot be read. */
int mp_run_matrix(struct mp_run_case *cases, size_t n,
                  const struct mp_matrix_opts *o);

/* The progress line: "\r[done/total] N failing, about T s left". */
void mp_run_progress(size_t done, size_t total, size_t failing,
                     double elapsed_s);

#endif
