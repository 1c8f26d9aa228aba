/* The compliance matrix: cases as rows, subjects (probes under test) as
 * columns, each cell a result class with its time and reason; written as
 * human text, JSON, markdown or one self-contained HTML page
 * (harness/report/html.c). Pure: the writers take fixed structs and write
 * to a FILE. */
#ifndef MP_MATRIX_H
#define MP_MATRIX_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A case's class for one subject (docs/subjects.md, "Result classes"). */
enum mp_class {
  MP_CLASS_PASS = 0,
  MP_CLASS_NON_STRICT,
  MP_CLASS_FAIL,
  MP_CLASS_UNSUPPORTED,
  MP_CLASS_ERROR,
  MP_CLASS_COUNT
};

/* "PASS", "NON-STRICT", ...; and back (-1 if unknown). */
const char *mp_class_name(enum mp_class c);
int mp_class_from_name(const char *name);

/* One line a fake server received, or one the probe sent or received
 * (mailprobe's transcript), t_ms after the case started. */
struct mp_cell_line {
  double t_ms; /* < 0: not timed (a transcript line) */
  char *who;   /* the server's name, or "c"/"s" for a transcript */
  int tls;
  char *line; /* masked */
};

/* A phase of mailprobe's own probe and how long it took. */
struct mp_cell_phase {
  const char *name; /* static */
  double ms;
};

struct mp_cell {
  enum mp_class cls;
  char *reason;     /* stable words (no numbers): what a baseline holds */
  char *detail;     /* for people: numbers, exit status, ... or NULL */
  double seconds;   /* the subject's run (or the case's, for mailprobe) */
  double timeout_s; /* the timeout it was given; 0: none */
  int exit_status;  /* -1: none (built-in, not run, or a signal) */
  int term_signal;
  char *verdict;   /* what the subject said: ok, fail, ... or NULL */
  char *named;     /* the error it named, or NULL */
  char *argv;      /* the command as run, for people, or NULL */
  char *out, *err; /* captured (capped) */
  uint64_t out_total, err_total;
  char **diffs; /* expectation and server lines that did not hold */
  size_t ndiffs;
  struct mp_cell_line *lines;
  size_t nlines;
  struct mp_cell_phase *phases;
  size_t nphases;
  char *baseline; /* when it differs from the baseline: what that said */
};

/* Frees what the cell owns and zeroes it. */
void mp_cell_clear(struct mp_cell *c);

struct mp_matrix_row {
  const char *file;
  const char *name;
  const char *protocol;  /* smtp, pop3, imap, roundtrip */
  int drip_or_hang;      /* a timeout-honesty case: the server stalls */
  struct mp_cell *cells; /* one per subject */
};

struct mp_matrix {
  const char *const *subjects;
  size_t nsubjects;
  struct mp_matrix_row *rows;
  size_t nrows;
  const char *title; /* NULL: "mailprobe compliance matrix" */
};

enum mp_matrix_format {
  MP_MATRIX_HUMAN = 0,
  MP_MATRIX_JSON,
  MP_MATRIX_MARKDOWN,
  MP_MATRIX_HTML
};

/* "human", "json", "markdown", "html"; -1 if not one of them. */
int mp_matrix_format_from_name(const char *name);

/* counts[s][class] over the rows, per subject s (caller's array of
 * nsubjects * MP_CLASS_COUNT). */
void mp_matrix_count(const struct mp_matrix *m, size_t *counts);

/* Writes the matrix. human: a line per case and subject, the details of
 * what is not PASS, the counts per subject; json: one object (subjects,
 * counts, rows with cells); markdown: the counts and a table with a
 * timeout-honesty column (docs/compliance.md). */
void mp_matrix_write(FILE *out, const struct mp_matrix *m,
                     enum mp_matrix_format f, int verbose);

/* The same as one self-contained HTML page (harness/report/html.c). */
void mp_matrix_html(FILE *out, const struct mp_matrix *m);

#endif
