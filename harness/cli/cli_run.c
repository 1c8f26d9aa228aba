/* `mailprobe run`: finds case files, parses them, runs them through the
 * runner and reports in file order as they finish. */
#include "harness/cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "harness/cli/args.h"
#include "harness/cli/run_matrix.h"
#include "harness/case/case.h"
#include "harness/report/matrix.h"
#include "harness/report/report.h"
#include "harness/run/runner.h"
#include "harness/subject/shard.h"

static const char run_usage[] =
    "usage: mailprobe run [PATH...] [OPTIONS]\n"
    "\n"
    "Runs case files: each starts its fake servers on 127.0.0.1, runs the\n"
    "probe against them and compares the result with `expect:`. A PATH is a\n"
    "case file or a folder searched recursively for *.yaml and *.yml\n"
    "(sorted). Default PATH: cases.\n"
    "\n"
    "options:\n"
    "  --format FMT     human (default), tap (TAP version 13), junit (JUnit\n"
    "                   XML) or json (an array, one object per case); with\n"
    "                   --subject: human, json, markdown or html (one\n"
    "                   self-contained page)\n"
    "  --subject NAME   run the cases against this probe instead: mailprobe\n"
    "                   (its own engine), NAME (cases/subjects/NAME.yaml) or\n"
    "                   a profile's path; repeat it for a compliance matrix\n"
    "                   (docs/subjects.md). Each case is then PASS,\n"
    "                   NON-STRICT, FAIL, UNSUPPORTED or ERROR\n"
    "  --baseline FILE  a JSON report of an earlier run (--subject ...\n"
    "                   --format json): fail on any change from it, a\n"
    "                   regression or a fix\n"
    "  --report FMT=FILE  with --subject: also write the same run as FMT\n"
    "                   (human, json, markdown, html) into FILE; repeatable\n"
    "  --shard I/N      only the I-th of N parts of the cases (a stable\n"
    "                   split by path: each case is in exactly one part)\n"
    "  -j, --jobs N     cases at once (default 32); a case with expect.memory\n"
    "                   runs in a child process of its own, counted here\n"
    "  --filter GLOB    only cases whose name or file matches (case-\n"
    "                   insensitive; * and ? as in the shell)\n"
    "  -v, --verbose    human: whole transcripts of failures\n"
    "  --no-fork        run each case with expect.memory alone in this\n"
    "                   process, one after another, instead of in a child\n"
    "                   process beside the others (for a debugger, or\n"
    "                   valgrind, where parallel cases miss time bounds)\n"
    "  -h, --help       this help\n"
    "\n"
    "Exit status: 0 if every case passed, 1 if any failed, 3 on usage\n"
    "errors (or when no case file was found). With --subject: 0 when no\n"
    "case is FAIL or ERROR, or with --baseline when nothing changed.\n"
    "\n"
    "examples:\n"
    "  mailprobe run\n"
    "  mailprobe run cases/smtp --jobs 32 --format junit > report.xml\n"
    "  mailprobe run --filter '*banner*' --verbose\n"
    "  mailprobe run cases/classes --subject mailprobe \\\n"
    "      --subject cases/subjects/examples/python_smtp.yaml\n"
    "  mailprobe run cases/classes --format html \\\n"
    "      --subject cases/subjects/examples/python_smtp.yaml > classes.html\n"
    "  mailprobe run cases/smtp --shard 2/4 --format json\n";

enum {
  OPT_FORMAT = 1,
  OPT_JOBS,
  OPT_FILTER,
  OPT_VERBOSE,
  OPT_NO_FORK,
  OPT_SUBJECT,
  OPT_BASELINE,
  OPT_SHARD,
  OPT_REPORT,
  OPT_HELP
};

static const struct mp_opt run_opts[] = {
    {"format", 0, 1, OPT_FORMAT},     {"jobs", 'j', 1, OPT_JOBS},
    {"filter", 0, 1, OPT_FILTER},     {"verbose", 'v', 0, OPT_VERBOSE},
    {"no-fork", 0, 0, OPT_NO_FORK},   {"subject", 0, 1, OPT_SUBJECT},
    {"baseline", 0, 1, OPT_BASELINE}, {"shard", 0, 1, OPT_SHARD},
    {"report", 0, 1, OPT_REPORT},     {"help", 'h', 0, OPT_HELP},
};

struct files {
  char **v;
  size_t n, cap;
  /* Folders already walked (device, inode): a symlink back up the tree,
   * or two of them, would otherwise be walked again and again. */
  struct seen_dir {
    dev_t dev;
    ino_t ino;
  } * dirs;
  size_t ndirs, dirs_cap;
};

/* 1 if the folder was walked already, else remembers it (0). */
static int dir_seen(struct files *f, const struct stat *st)
{
  for (size_t i = 0; i < f->ndirs; i++)
    if (f->dirs[i].dev == st->st_dev && f->dirs[i].ino == st->st_ino)
      return 1;
  if (f->ndirs == f->dirs_cap) {
    size_t cap = f->dirs_cap ? f->dirs_cap * 2 : 16;
    struct seen_dir *p = realloc(f->dirs, cap * sizeof(*p));
    if (!p)
      return 1; /* no memory to remember: do not walk it */
    f->dirs = p;
    f->dirs_cap = cap;
  }
  f->dirs[f->ndirs].dev = st->st_dev;
  f->dirs[f->ndirs].ino = st->st_ino;
  f->ndirs++;
  return 0;
}

static int files_add(struct files *f, const char *path)
{
  char *s;

  if (f->n == f->cap) {
    size_t cap = f->cap ? f->cap * 2 : 64;
    char **v = realloc(f->v, cap * sizeof(*v));

    if (!v)
      return -1;
    f->v = v;
    f->cap = cap;
  }
  s = strdup(path);
  if (!s)
    return -1;
  f->v[f->n++] = s;
  return 0;
}

static int is_case_name(const char *name)
{
  size_t n = strlen(name);

  return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
         (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds the case files under dir, recursively; hidden entries skipped. */
static int walk(struct files *f, const char *dir, int depth)
{
  struct dirent *de;
  struct stat st;
  char path[4096];
  DIR *d;
  int rc = 0;

  if (depth > 32)
    return 0;
  if (stat(dir, &st) == 0 && dir_seen(f, &st))
    return 0;
  d = opendir(dir);
  if (!d) {
    fprintf(stderr, "mailprobe run: %s: %s\n", dir, strerror(errno));
    return -1;
  }
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.')
      continue;
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >=
        sizeof(path))
      continue;
    if (stat(path, &st) < 0)
      continue;
    if (S_ISDIR(st.st_mode)) {
      /* Subject profiles (cases/subjects/) are not cases. */
      if (strcmp(de->d_name, "subjects") == 0)
        continue;
      if (walk(f, path, depth + 1) < 0)
        rc = -1;
    } else if (S_ISREG(st.st_mode) && is_case_name(de->d_name)) {
      if (files_add(f, path) < 0)
        rc = -1;
    }
  }
  closedir(d);
  return rc;
}

/* Collects the case files of one PATH argument, sorted. */
static int collect(struct files *f, const char *arg)
{
  char path[4096];
  struct stat st;
  size_t first = f->n, n;

  snprintf(path, sizeof(path), "%s", arg);
  n = strlen(path);
  while (n > 1 && path[n - 1] == '/')
    path[--n] = '\0';
  if (stat(path, &st) < 0) {
    fprintf(stderr, "mailprobe run: %s: %s\n", arg, strerror(errno));
    return -1;
  }
  if (S_ISDIR(st.st_mode)) {
    if (walk(f, path, 0) < 0)
      return -1;
    qsort(f->v + first, f->n - first, sizeof(*f->v), cmp_str);
    return 0;
  }
  return files_add(f, path);
}

struct order {
  struct mp_run_case *cases;
  size_t n;
  size_t next; /* the next case to hand to the reporter */
  struct mp_reporter *rep;
  int progress; /* a progress line on stderr */
  size_t done, failing;
  uint64_t start_ns;
};

/* Reports finished cases in file order: a case is printed once every case
 * before it has been. */
static void on_done(struct mp_run_case *rc, void *data)
{
  struct order *o = data;

  o->done++;
  if (!rc->out.passed)
    o->failing++;
  if (o->progress)
    mp_run_progress(o->done, o->n, o->failing,
                    (double)(uv_hrtime() - o->start_ns) / 1e9);
  while (o->next < o->n && o->cases[o->next].done) {
    mp_reporter_case(o->rep, &o->cases[o->next].out);
    o->next++;
  }
}

static int usage_error(const char *msg)
{
  fprintf(stderr, "mailprobe run: %s\nTry 'mailprobe run --help'.\n", msg);
  return MP_EXIT_USAGE;
}

static int matches(const char *filter, const char *file, const char *name)
{
  if (!filter)
    return 1;
  return fnmatch(filter, file, FNM_CASEFOLD) == 0 ||
         (name && fnmatch(filter, name, FNM_CASEFOLD) == 0);
}

int mp_cli_run(int argc, char **argv)
{
  struct mp_report_opts ropts = {.format = MP_REPORT_HUMAN};
  struct mp_run_opts opts = {0};
  struct mp_run_case *cases = NULL;
  struct files files = {0};
  struct order order = {0};
  const char *filter = NULL, *val, *baseline = NULL;
  const char **subjects = NULL;
  size_t nsubjects = 0;
  unsigned shard_i = 1, shard_n = 1;
  struct mp_matrix_report *reports = NULL;
  size_t nreports = 0;
  int mfmt = -1, matrix = 0;
  struct mp_args a;
  char err[512];
  unsigned long jobs = MP_RUN_DEFAULT_JOBS;
  size_t i, n = 0, failed;
  int id, npaths = 0, rc = 0, fmt;

  mp_args_init(&a, argc, argv);
  while ((id = mp_args_next(&a, run_opts, sizeof(run_opts) / sizeof(*run_opts),
                            &val, err, sizeof(err))) != MP_ARG_END) {
    switch (id) {
    case MP_ARG_ERROR:
      rc = usage_error(err);
      goto out;
    case MP_ARG_POSITIONAL:
      npaths++;
      if (collect(&files, val) < 0) {
        rc = MP_EXIT_USAGE;
        goto out;
      }
      break;
    case OPT_FORMAT:
      fmt = mp_report_format_from_name(val);
      mfmt = mp_matrix_format_from_name(val);
      if (fmt < 0 && mfmt < 0) {
        snprintf(err, sizeof(err),
                 "--format: \"%s\" is not one of human, tap, junit, json, "
                 "markdown, html",
                 val);
        rc = usage_error(err);
        goto out;
      }
      if (fmt < 0)
        matrix = 1; /* markdown and html are matrix formats */
      else
        ropts.format = (enum mp_report_format)fmt;
      break;
    case OPT_SUBJECT: {
      const char **v = realloc(subjects, (nsubjects + 1) * sizeof(*v));
      if (!v) {
        rc = usage_error("out of memory");
        goto out;
      }
      subjects = v;
      subjects[nsubjects++] = val;
      matrix = 1;
      break;
    }
    case OPT_BASELINE:
      baseline = val;
      matrix = 1;
      break;
    case OPT_REPORT: {
      const char *eq = strchr(val, '=');
      char name[16];
      struct mp_matrix_report *v;
      int f = -1;

      if (eq && (size_t)(eq - val) < sizeof(name)) {
        snprintf(name, sizeof(name), "%.*s", (int)(eq - val), val);
        f = mp_matrix_format_from_name(name);
      }
      if (f < 0 || !eq[1]) {
        snprintf(err, sizeof(err),
                 "--report: \"%s\" is not FORMAT=FILE (human, json, "
                 "markdown, html)",
                 val);
        rc = usage_error(err);
        goto out;
      }
      v = realloc(reports, (nreports + 1) * sizeof(*v));
      if (!v) {
        rc = usage_error("out of memory");
        goto out;
      }
      reports = v;
      reports[nreports].format = f;
      reports[nreports++].file = eq + 1;
      matrix = 1;
      break;
    }
    case OPT_SHARD:
      if (mp_shard_parse(val, &shard_i, &shard_n) < 0) {
        snprintf(err, sizeof(err),
                 "--shard: \"%s\" is not I/N with 1 <= I <= N", val);
        rc = usage_error(err);
        goto out;
      }
      break;
    case OPT_JOBS:
      if (mp_args_uint("jobs", val, 1, 10000, &jobs, err, sizeof(err)) < 0) {
        rc = usage_error(err);
        goto out;
      }
      break;
    case OPT_FILTER:
      filter = val;
      break;
    case OPT_VERBOSE:
      ropts.verbose = 1;
      break;
    case OPT_NO_FORK:
      opts.no_fork = 1;
      break;
    case OPT_HELP:
      fputs(run_usage, stdout);
      goto out;
    }
  }
  if (npaths == 0 && collect(&files, "cases") < 0) {
    rc = MP_EXIT_USAGE;
    goto out;
  }

  cases = calloc(files.n ? files.n : 1, sizeof(*cases));
  if (!cases) {
    rc = usage_error("out of memory");
    goto out;
  }
  for (i = 0; i < files.n; i++) {
    struct mp_run_case *rc_ = &cases[n];

    err[0] = '\0';
    rc_->file = files.v[i];
    if (mp_case_load(files.v[i], &rc_->c, err, sizeof(err)) < 0) {
      rc_->c = NULL;
      rc_->parse_error = strdup(err[0] ? err : "could not parse");
    }
    if (!matches(filter, rc_->file, rc_->c ? rc_->c->name : NULL) ||
        mp_shard_of(rc_->file, shard_n) != shard_i) {
      if (rc_->c)
        mp_case_free(rc_->c);
      free(rc_->parse_error);
      memset(rc_, 0, sizeof(*rc_));
      continue;
    }
    n++;
  }
  if (n == 0) {
    fprintf(stderr, "mailprobe run: no case files%s%s\n",
            filter ? " match --filter " : " found", filter ? filter : "");
    rc = MP_EXIT_USAGE;
    goto out;
  }

  if (matrix) {
    static const char *const builtin[] = {"mailprobe"};
    struct mp_matrix_opts mo = {0};

    if (mfmt < 0 && ropts.format != MP_REPORT_HUMAN &&
        ropts.format != MP_REPORT_JSON) {
      rc = usage_error("with --subject, --format is human, json, markdown "
                       "or html");
      goto out;
    }
    mo.subjects = nsubjects ? subjects : builtin;
    mo.nsubjects = nsubjects ? nsubjects : 1;
    mo.baseline = baseline;
    mo.format = mfmt >= 0 ? mfmt : MP_MATRIX_HUMAN;
    mo.verbose = ropts.verbose;
    mo.jobs = (unsigned)jobs;
    mo.no_fork = opts.no_fork;
    mo.progress = isatty(STDERR_FILENO);
    mo.reports = reports;
    mo.nreports = nreports;
    rc = mp_run_matrix(cases, n, &mo);
    goto out;
  }
  ropts.color = ropts.format == MP_REPORT_HUMAN && isatty(STDOUT_FILENO) &&
                !getenv("NO_COLOR");
  order.cases = cases;
  order.n = n;
  order.rep = mp_reporter_new(stdout, n, &ropts);
  if (!order.rep) {
    rc = usage_error("out of memory");
    goto out;
  }
  /* A progress line only on a terminal, and not under human lines. */
  order.progress = isatty(STDERR_FILENO) &&
                   !(ropts.format == MP_REPORT_HUMAN && isatty(STDOUT_FILENO));
  order.start_ns = uv_hrtime();
  opts.jobs = (unsigned)jobs;
  opts.on_done = on_done;
  opts.data = &order;
  if (mp_run(cases, n, &opts) < 0) {
    mp_reporter_end(order.rep);
    fprintf(stderr, "mailprobe run: could not start the event loop\n");
    rc = MP_EXIT_USAGE;
    goto out;
  }
  failed = mp_reporter_end(order.rep);
  rc = failed ? 1 : 0;

out:
  for (i = 0; i < n; i++) {
    mp_run_case_clear(&cases[i]);
    if (cases[i].c)
      mp_case_free(cases[i].c);
    free(cases[i].parse_error);
  }
  free(cases);
  for (i = 0; i < files.n; i++)
    free(files.v[i]);
  free(files.v);
  free(files.dirs);
  free(subjects);
  free(reports);
  return rc;
}
