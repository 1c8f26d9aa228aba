/* A third-party subject in the runner: instead of mailprobe's probe, the
 * subject's command runs against the case's fake servers (harness/
 * subject/spawn.h); when it has ended and the servers caught up, what they
 * saw is checked as for the built-in probe and the run is classed
 * (harness/subject/classify.h) into rc->cell with the subject's output
 * and the servers' timeline. */
#include "harness/run/job.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

#include "fake_servers/fake.h"
#include "harness/case/case.h"
#include "harness/report/matrix.h"
#include "harness/subject/argv.h"
#include "harness/subject/classify.h"
#include "harness/subject/profile.h"
#include "harness/subject/spawn.h"
#include "probes/mask.h"
#include "wire/cert.h"
#include "wire/conn.h"

/* Lines of what the servers saw kept per case for the report. */
#define MAX_TIMELINE 400

struct mp_subject_job {
  struct mp_cell *cell;
  char *out, *err;
  struct mp_subject_run run;
  uint64_t t0_us; /* mp_now_us() at the spawn */
  int ended;
};

/* Writes len bytes of data to path, mode 0600. 0 or -1. */
static int write_file(const char *path, const char *data, size_t len)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ssize_t n;

  if (fd < 0)
    return -1;
  while (len > 0) {
    n = write(fd, data, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      close(fd);
      return -1;
    }
    data += n;
    len -= (size_t)n;
  }
  return close(fd);
}

static void path_in(const struct run *R, char *buf, size_t len,
                    const char *name)
{
  snprintf(buf, len, "%s/%s", R->subject_dir, name);
}

int mp_run_write_expanded(struct run *R, const char *path, const char *tmpl,
                          const struct mp_subject_target *t)
{
  char *text;
  int rc;

  (void)R;
  if (!tmpl)
    return 0;
  if (!(text = mp_subject_expand(tmpl, t, 0)))
    return -1;
  rc = write_file(path, text, strlen(text));
  free(text);
  return rc;
}

int mp_run_subject_prepare(struct run *R)
{
  char tmpl[] = "/tmp/mailprobe-subject-XXXXXX";
  char path[512], name[64];
  size_t i;

  const char *file = R->opts.subject->file;
  const char *slash = file ? strrchr(file, '/') : NULL;

  snprintf(R->subject_profile_dir, sizeof(R->subject_profile_dir), "%.*s",
           slash ? (int)(slash - file) : 1, slash ? file : ".");
  if (!mkdtemp(tmpl) || !(R->subject_dir = strdup(tmpl)))
    return -1;
  if (R->ca) {
    const char *pem = mp_ca_pem(R->ca);
    path_in(R, path, sizeof(path), "ca.pem");
    if (pem && write_file(path, pem, strlen(pem)) < 0)
      return -1;
  }
  /* Written before the loop runs: no file I/O while cases run. */
  for (i = 0; i < R->n; i++) {
    const struct mp_case *c = R->cases[i].c;
    if (!c || !c->probe.user)
      continue;
    snprintf(name, sizeof(name), "password-%zu", i);
    path_in(R, path, sizeof(path), name);
    if (write_file(path, c->probe.password ? c->probe.password : "",
                   c->probe.password ? strlen(c->probe.password) : 0) < 0)
      return -1;
  }
  return 0;
}

void mp_run_subject_cleanup(struct run *R)
{
  char path[512], name[64];
  size_t i;

  if (!R->subject_dir)
    return;
  path_in(R, path, sizeof(path), "ca.pem");
  unlink(path);
  path_in(R, path, sizeof(path), "service.conf");
  unlink(path);
  for (i = 0; i < R->n; i++) {
    snprintf(name, sizeof(name), "password-%zu", i);
    path_in(R, path, sizeof(path), name);
    unlink(path);
  }
  rmdir(R->subject_dir);
  free(R->subject_dir);
  R->subject_dir = NULL;
}

void mp_job_subject_free(struct job *j)
{
  if (!j->subj)
    return;
  if (j->subj->cell) {
    mp_cell_clear(j->subj->cell);
    free(j->subj->cell);
  }
  free(j->subj->out);
  free(j->subj->err);
  free(j->subj);
  j->subj = NULL;
}

/* Hands the cell to the case (the job's diffs stay the report's). */
static void give_cell(struct job *j)
{
  struct mp_run_case *rc = j->rc;

  rc->cell = j->subj->cell;
  j->subj->cell = NULL;
  /* The outcome passes when the class is PASS: the plain reporters and
   * the exit status then agree with the matrix. */
  if (rc->cell && rc->cell->cls != MP_CLASS_PASS && j->ndiffs == 0)
    mp_job_diff(j, "%s: %s", mp_class_name(rc->cell->cls),
                rc->cell->reason ? rc->cell->reason : "");
}

/* A copy of a captured stream, NUL bytes shown as '.', so that the text
 * is one C string (the reports quote it). */
static char *text_copy(const struct mp_spawn_stream *st)
{
  char *s = malloc(st->len + 1);
  size_t i;

  if (!s)
    return NULL;
  for (i = 0; i < st->len; i++)
    s[i] = st->text[i] ? st->text[i] : '.';
  s[st->len] = '\0';
  return s;
}

static void on_end(const struct mp_spawn_end *end, void *data)
{
  struct job *j = data;
  struct mp_subject_job *sj = j->subj;

  j->probe_pending = 0;
  sj->ended = 1;
  sj->out = text_copy(&end->out);
  sj->err = text_copy(&end->err);
  sj->run.exit_status = end->term_signal ? -1 : end->exit_status;
  sj->run.term_signal = end->term_signal;
  sj->run.termed = end->termed;
  sj->run.elapsed_us = end->elapsed_us;
  sj->run.out = sj->out;
  sj->run.err = sj->err;
  sj->cell->out = strdup(sj->out ? sj->out : "");
  sj->cell->err = strdup(sj->err ? sj->err : "");
  sj->cell->out_total = end->out.total;
  sj->cell->err_total = end->err.total;
  sj->cell->exit_status = (int)sj->run.exit_status;
  sj->cell->term_signal = end->term_signal;
  j->want_last[0] = '\0';
  j->grace_start_us = uv_hrtime() / 1000;
  /* Give the servers a moment to see the subject's connections close. */
  uv_timer_start(&j->timer, mp_job_on_grace, GRACE_POLL_MS, GRACE_POLL_MS);
}

/* The command as one line for people. */
static char *join_argv(char **argv)
{
  size_t n = 1, i;
  char *s;

  for (i = 0; argv[i]; i++)
    n += strlen(argv[i]) + 3;
  if (!(s = malloc(n)))
    return NULL;
  s[0] = '\0';
  for (i = 0; argv[i]; i++) {
    int q = argv[i][0] == '\0' || strpbrk(argv[i], " \t\"'") != NULL;
    if (i)
      strcat(s, " ");
    if (q)
      strcat(s, "'");
    strcat(s, argv[i]);
    if (q)
      strcat(s, "'");
  }
  return s;
}

void mp_job_subject_start(struct job *j)
{
  struct run *R = j->run;
  const struct mp_subject *s = R->opts.subject;
  const struct mp_case *c = j->rc->c;
  struct mp_subject_target t;
  struct mp_spawn_opts so;
  char why[256], pw[512], ca[512], err[512], name[64];
  char **argv, **env;
  int idx, rc;

  j->subj = calloc(1, sizeof(*j->subj));
  if (!j->subj || !(j->subj->cell = calloc(1, sizeof(struct mp_cell)))) {
    mp_job_diff(j, "out of memory");
    mp_job_stop_servers(j);
    return;
  }
  j->subj->cell->exit_status = -1;
  if (mp_subject_supports(s, c, why, sizeof(why)) < 0) {
    mp_subject_unsupported(j->subj->cell, why);
    give_cell(j);
    mp_job_stop_servers(j);
    return;
  }
  if (R->svc_state == SVC_FAILED) {
    j->subj->cell->cls = MP_CLASS_ERROR;
    j->subj->cell->reason = strdup("the subject's service did not start");
    j->subj->cell->detail = strdup(R->svc_error);
    give_cell(j);
    mp_job_stop_servers(j);
    return;
  }
  memset(&t, 0, sizeof(t));
  idx = c->probe.server ? mp_job_server_index(c, c->probe.server)
                        : (c->nservers == 1 ? 0 : -1);
  if (idx < 0 || (size_t)idx >= j->nservers || !j->servers[idx]) {
    mp_job_diff(j, "probe: name a server the subject can talk to");
    mp_subject_unsupported(j->subj->cell, "the case names no fake server");
    give_cell(j);
    mp_job_stop_servers(j);
    return;
  }
  snprintf(name, sizeof(name), "password-%zu", (size_t)(j->rc - R->cases));
  snprintf(pw, sizeof(pw), "%s/%s", R->subject_dir, name);
  snprintf(ca, sizeof(ca), "%s/ca.pem", R->subject_dir);
  t.host = "127.0.0.1";
  t.port = mp_fake_port(j->servers[idx]);
  t.type = (int)c->probe.type;
  t.tls = (int)c->probe.opts.tls;
  t.user = c->probe.user;
  t.password = c->probe.password;
  t.password_file = pw;
  t.cafile = c->probe.cafile ? c->probe.cafile : ca;
  t.servername = c->probe.servername        ? c->probe.servername
                 : c->servers[idx].hostname ? c->servers[idx].hostname
                                            : "mx.example.test";
  t.timeout_ms = mp_subject_given_timeout_ms(s, c->probe.opts.timeout_ms);
  t.profile_dir = R->subject_profile_dir;
  t.service = R->svc_url[0] ? R->svc_url : NULL;
  argv = mp_subject_argv(s, &t);
  env = mp_subject_env(s, &t, environ);
  if (!argv || (s->nenv && !env)) {
    mp_subject_argv_free(argv);
    mp_subject_argv_free(env);
    mp_job_diff(j, "out of memory");
    mp_job_stop_servers(j);
    return;
  }
  j->subj->cell->argv = join_argv(argv);
  j->subj->run.given_timeout_ms = t.timeout_ms;
  j->subj->run.grace_ms = s->grace_ms;
  memset(&so, 0, sizeof(so));
  so.argv = argv;
  so.env = env;
  so.term_after_ms = t.timeout_ms + s->grace_ms;
  so.capture = s->capture;
  j->subj->t0_us = mp_now_us();
  j->probe_pending = 1;
  rc = mp_spawn_start(&R->loop, &so, on_end, j);
  mp_subject_argv_free(argv);
  mp_subject_argv_free(env);
  if (rc < 0) {
    j->probe_pending = 0;
    snprintf(err, sizeof(err), "could not start %s: %s",
             s->shell ? "/bin/sh" : s->command[0], uv_strerror(rc));
    j->subj->run.spawn_error = err;
    mp_subject_classify(s, c, &j->subj->run, NULL, 0, j->subj->cell);
    give_cell(j);
    mp_job_stop_servers(j);
  }
}

/* What the servers saw, for the report's timeline (masked). */
static void keep_timeline(struct job *j)
{
  struct mp_cell *cell = j->subj->cell;
  const struct mp_case *c = j->rc->c;
  size_t i, k, n, total = 0;
  char shown[512];

  for (i = 0; i < j->nservers; i++)
    if (j->servers[i]) {
      mp_fake_seen(j->servers[i], &n);
      total += n;
    }
  if (total > MAX_TIMELINE)
    total = MAX_TIMELINE;
  if (!total || !(cell->lines = calloc(total, sizeof(*cell->lines))))
    return;
  for (i = 0; i < j->nservers && cell->nlines < total; i++) {
    const struct mp_fake_seen *seen;
    if (!j->servers[i])
      continue;
    seen = mp_fake_seen(j->servers[i], &n);
    for (k = 0; k < n && cell->nlines < total; k++) {
      struct mp_cell_line *l = &cell->lines[cell->nlines];
      mp_mask_line(seen[k].line, seen[k].input, shown, sizeof(shown));
      l->t_ms = seen[k].t_us >= j->subj->t0_us
                    ? (double)(seen[k].t_us - j->subj->t0_us) / 1000.0
                    : 0;
      l->who = strdup(c->servers[i].name ? c->servers[i].name : "server");
      l->tls = seen[k].tls;
      l->line = strdup(shown);
      cell->nlines++;
    }
  }
}

void mp_job_subject_finish(struct job *j)
{
  struct run *R = j->run;

  mp_job_check_servers(j);
  mp_job_check_mailboxes(j);
  keep_timeline(j);
  mp_subject_classify(R->opts.subject, j->rc->c, &j->subj->run, j->diffs,
                      j->ndiffs, j->subj->cell);
  if (j->ndiffs) {
    /* The diffs go with the outcome; the cell keeps a copy. */
    struct mp_cell *cell = j->subj->cell;
    size_t i;
    cell->diffs = calloc(j->ndiffs, sizeof(char *));
    for (i = 0; cell->diffs && i < j->ndiffs; i++)
      if ((cell->diffs[cell->ndiffs] = strdup(j->diffs[i])) != NULL)
        cell->ndiffs++;
  }
  give_cell(j);
}
