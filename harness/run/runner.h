/* The runner behind `mailprobe run`: every case on one event loop, at most
 * `jobs` at once, started one a turn of the loop (a start issues
 * certificates and builds TLS contexts; many in one turn kept the cases
 * already running from their replies and timers). Per case it starts the case's
 * fake servers (one CA for the whole run signs their certificates; one mail
 * store per case), points the probe at them, compares the result with the
 * case's expectations and what the servers saw, and stops the servers. A case
 * with probe.target talks to a real server and starts none. A safety deadline
 * (the probe's timeout + 10 s) keeps a broken case from hanging the run. A case
 * with expect.memory runs in a child process of its own (harness/run/isolate.h)
 * that hands its outcome back, so its heap is its own; the children come
 * from a forker made before the loop starts, never from a fork of the
 * loop's process.
 *
 * A roundtrip case starts all its servers on the one mail store (the fake
 * SMTP server delivers into the mailbox the fake POP3/IMAP server reads),
 * runs probe.runs round trips in sequence (carrying "a message went out"
 * for previous mode from run to run), compares each run as it ends, and
 * after the last checks what the servers saw and what the mailboxes hold.
 * Its safety deadline is, per run, the email timeout plus both halves'
 * timeouts plus 10 s.
 *
 * The parts: runner.c schedules cases and runs each job (servers, probe,
 * grace, safety deadline, cases in a process of their own);
 * server_checks.c checks what the servers saw and the mailboxes left;
 * roundtrip_run.c runs a roundtrip case's runs; job.h is what they
 * share. */
#ifndef MP_RUNNER_H
#define MP_RUNNER_H

#include <stddef.h>
#include <stdint.h>

#include "harness/report/report.h"

struct mp_case;
struct mp_cell;
struct mp_mailstore;
struct mp_result;
struct mp_subject;

/* One entry of a run. The caller sets file and either c (a parsed case) or
 * parse_error; the runner fills out and result. */
struct mp_run_case {
  char *file;               /* owned by the caller */
  struct mp_case *c;        /* owned by the caller; NULL if it did not parse */
  char *parse_error;        /* "file:line:col: message" when c is NULL */
  struct mp_outcome out;    /* filled when the case is done */
  struct mp_result *result; /* the probe's result (owned), or NULL */
  struct mp_cell *cell;     /* with a third-party subject: its class,
                               output and what the servers saw (owned) */
  int done;
};

/* Cases at once unless told: most cases wait on timers (slow greetings,
 * deadlines), not on the CPU, and 32 keep a run of a few hundred within
 * a few hundred descriptors. */
#define MP_RUN_DEFAULT_JOBS 32

struct mp_run_opts {
  unsigned jobs;        /* cases at once; 0: MP_RUN_DEFAULT_JOBS */
  uint64_t grace_ms;    /* after the probe, the longest wait for the
                           servers to receive every line it sent, before
                           the server checks; 0: 1 s */
  uint64_t safety_ms;   /* added to the probe's timeout; 0: 10 s */
  uint64_t deadline_ms; /* for tests: when nonzero, the whole safety
                           deadline per case, whatever the timeout */
  /* Cases with expect.memory measure the process's heap. 0: each runs in
   * a child process of its own (harness/run/isolate.h), beside the other
   * cases; 1: each runs alone in this process, the others waiting (also
   * the fallback when a child cannot be made). */
  int no_fork;
  /* A third-party probe to run instead of mailprobe's own engine
   * (harness/subject/profile.h; NULL or the built-in: the engine). Each
   * case's outcome is then classed into rc->cell
   * (harness/run/subject_run.c); expect.memory is not measured. */
  const struct mp_subject *subject;
  /* Called once per case as it finishes (in finishing order). */
  void (*on_done)(struct mp_run_case *rc, void *data);
  void *data;
};

/* Runs the cases; returns after all are done, with every loop handle
 * closed. 0, or a negative code when the run could not start at all (then
 * no case ran). */
int mp_run(struct mp_run_case *cases, size_t n, const struct mp_run_opts *opts);

/* Frees what the runner put into rc (diffs, result, cell); leaves file, c
 * and parse_error to the caller. */
void mp_run_case_clear(struct mp_run_case *rc);

/* Compares a result with the case's expectations, appending one line per
 * mismatch ("error: expected timeout, got connection_closed") to
 * the diffs array (malloc'd strings). Server and mailbox assertions are
 * not checked here (they need the live servers). Pure; exposed for
 * tests. */
void mp_run_compare(const struct mp_case *c, const struct mp_result *r,
                    char ***diffs, size_t *ndiffs);

/* The same for run number run (0-based) of a round trip run several times
 * (probe.runs): the top level of expect and the run's item of
 * expect.runs, each diff starting "run N: " when there are several runs. */
void mp_run_compare_run(const struct mp_case *c, unsigned run,
                        const struct mp_result *r, char ***diffs,
                        size_t *ndiffs);

/* Puts a case's written-out messages (servers.NAME.mailboxes.USER.mail)
 * into a mail store, adding their users; call it before mp_fake_start so
 * they come first. 0 or a negative code (MP_E_NO_RESOURCES). */
int mp_run_seed_mail(const struct mp_case *c, struct mp_mailstore *store);

#endif
