/* `mailprobe record URL [check options] -o CASE.yaml`: runs the ordinary
 * probe (mailprobe check, with every option it takes) with a recorder on
 * its tap, and writes the session as a case whose fake server replays it
 * (harness/record/). `record --from FILE` makes the same kind of case from
 * a transcript (harness/record/import.h). docs/recording.md. */
#include "harness/cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/record/import.h"
#include "harness/record/record.h"
#include "harness/record/record_case.h"
#include "harness/record/record_out.h"
#include "harness/record/replay.h"
#include "probes/result.h"
#include "wire/errors.h"

static const char record_usage[] =
    "usage: mailprobe record URL [CHECK OPTIONS] [-o CASE.yaml]\n"
    "       mailprobe record --from TRANSCRIPT [-o CASE.yaml]\n"
    "\n"
    "Probes URL as `mailprobe check` does (every check option works; its\n"
    "result line goes to stderr) and writes the session as a case file: a\n"
    "fake server that replays the greeting and every reply verbatim, with\n"
    "the measured delays, the same ending and the same TLS facts and\n"
    "certificate, and `expect:` the result seen. A failure records too.\n"
    "Secrets never land in the file: the case logs in as probe@example.test\n"
    "with a placeholder password (`mailprobe serve` prints it).\n"
    "\n"
    "options:\n"
    "  -o, --output FILE     write the case here (default: stdout); checked\n"
    "                        before connecting\n"
    "  --from FILE           make the case from a transcript instead: a\n"
    "                        `mailprobe check -v` trace or `--format json`\n"
    "                        result, swaks output, or a curl -v trace\n"
    "  --anonymize           replace host names, domains and addresses in\n"
    "                        every reply and in the certificate\n"
    "  --name TEXT           the case's name\n"
    "  -h, --help            this help\n"
    "\n"
    "examples:\n"
    "  mailprobe record smtp://mx.example.com -o mx.yaml\n"
    "  mailprobe record imaps://mail.example.com --user probe \\\n"
    "      --password-env PROBE_PASSWORD --anonymize -o imap.yaml\n"
    "  mailprobe record --from tests/data/record/swaks-submission-plain.txt "
    "\\\n"
    "      -o ticket.yaml\n";

struct recording {
  struct mp_rec *rec;
  char *password; /* for scrubbing only; wiped */
};

static void on_started(void *data, const struct mp_probe_opts *o)
{
  struct recording *r = data;
  mp_rec_set_opts(r->rec, o);
  if (o->password && !r->password)
    r->password = strdup(o->password);
}

static void on_event(void *data, const struct mp_probe_event *ev)
{
  struct recording *r = data;
  mp_rec_tap(r->rec, ev);
}

static int usage(const char *msg)
{
  fprintf(stderr, "mailprobe record: %s\nTry 'mailprobe record --help'.\n",
          msg);
  return MP_EXIT_USAGE;
}

/* Takes the recorder's own options out of argv; the rest is check's. */
struct own {
  const char *out, *from, *name;
  int anonymize, help;
};

static int take_own(int argc, char **argv, struct own *o, char **rest,
                    int *nrest, char *err, size_t errlen)
{
  *nrest = 0;
  rest[(*nrest)++] = "record";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char **slot = NULL;
    const char *name = NULL;
    if (strcmp(a, "--") == 0) {
      for (; i < argc; i++)
        rest[(*nrest)++] = argv[i];
      break;
    }
    if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0 ||
        strncmp(a, "--output=", 9) == 0)
      slot = &o->out, name = "--output";
    else if (strcmp(a, "--from") == 0 || strncmp(a, "--from=", 7) == 0)
      slot = &o->from, name = "--from";
    else if (strcmp(a, "--name") == 0 || strncmp(a, "--name=", 7) == 0)
      slot = &o->name, name = "--name";
    else if (strcmp(a, "--anonymize") == 0) {
      o->anonymize = 1;
      continue;
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      o->help = 1;
      continue;
    } else if (strcmp(a, "--monitor") == 0) {
      snprintf(err, errlen, "--monitor: record writes one session");
      return -1;
    }
    if (!slot) {
      rest[(*nrest)++] = argv[i];
      continue;
    }
    const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
    if (eq) {
      *slot = eq + 1;
    } else if (i + 1 < argc) {
      *slot = argv[++i];
    } else {
      snprintf(err, errlen, "%s needs a value", name);
      return -1;
    }
  }
  rest[*nrest] = NULL;
  return 0;
}

/* The case text of a recording (malloc'd). 0 or -1 with a reason. */
static int write_case(const struct mp_rec *rec,
                      const struct mp_rec_case_opts *co, char **text,
                      size_t *tlen, char *err, size_t errlen)
{
  free(*text);
  *text = NULL;
  FILE *mem = open_memstream(text, tlen);
  if (!mem) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  int rc = mp_rec_write_case(rec, co, mem, err, errlen);
  fclose(mem);
  return rc;
}

static const char *str(const char *s)
{
  return s ? s : "none";
}

/* A transcript holds no result (but mailprobe's JSON): the case is run
 * once here and its expect is what the replay gives; a JSON result is
 * compared with the replay's instead, and a difference said. */
static int settle(struct mp_rec *rec, const struct mp_rec_case_opts *co,
                  const char *name, char **text, size_t *tlen, char *err,
                  size_t errlen)
{
  struct mp_result *res = NULL;
  int passed = 0;
  if (mp_rec_replay(*text, *tlen, name, &res, &passed, err, errlen) < 0)
    return -1;
  struct mp_rec_session *s = &rec->s[0];
  if (rec->timed) {
    if (!passed || res->ok != s->ok || res->err != s->err)
      fprintf(stderr,
              "mailprobe record: warning: the replay gives %s %s in %s where "
              "the transcript's result says %s %s in %s\n",
              res->ok ? "ok" : "fail", str(mp_err_name(res->err)),
              mp_phase_name(res->phase), s->ok ? "ok" : "fail",
              str(mp_err_name(s->err)), mp_phase_name((enum mp_phase)s->phase));
    mp_result_free(res);
    return 0;
  }
  mp_rec_set_result(s, res);
  mp_result_free(res);
  if (write_case(rec, co, text, tlen, err, errlen) < 0)
    return -1;
  if (mp_rec_replay(*text, *tlen, name, &res, &passed, err, errlen) < 0)
    return -1;
  if (!passed)
    fprintf(stderr,
            "mailprobe record: warning: the case from %s does not "
            "pass its own expect: the replay is not steady\n",
            name);
  mp_result_free(res);
  return 0;
}

/* Runs check with the recorder watching; its output goes to stderr. */
static int run_check(int n, char **rest)
{
  fflush(stdout);
  int saved = dup(1);
  if (saved < 0)
    return MP_EXIT_USAGE;
  dup2(2, 1);
  int rc = mp_cli_check(n, rest);
  fflush(stdout);
  dup2(saved, 1);
  close(saved);
  return rc;
}

int mp_cli_record(int argc, char **argv)
{
  struct own o = {0};
  char err[512];
  int nrest, fd = -1, created = 0, rc = MP_EXIT_USAGE;
  char **rest = calloc((size_t)argc + 2, sizeof(*rest));
  struct recording r = {0};
  char *text = NULL;
  size_t tlen = 0;

  if (!rest)
    return usage("out of memory");
  if (take_own(argc, argv, &o, rest, &nrest, err, sizeof(err)) < 0) {
    rc = usage(err);
    goto out;
  }
  if (o.help) {
    fputs(record_usage, stdout);
    rc = 0;
    goto out;
  }
  if (o.from && nrest > 1) {
    rc = usage("--from takes no URL nor check options");
    goto out;
  }
  if (!o.from && nrest < 2) {
    rc = usage("missing URL (smtp://host[:port], ...) or --from FILE");
    goto out;
  }
  if (o.out && (fd = mp_rec_out_open(o.out, &created, err, sizeof(err))) < 0) {
    rc = usage(err);
    goto out;
  }
  r.rec = mp_rec_new();
  if (!r.rec) {
    rc = usage("out of memory");
    goto out;
  }
  if (o.from) {
    if (mp_rec_import_file(r.rec, o.from, err, sizeof(err)) < 0) {
      rc = usage(err);
      goto out;
    }
  } else {
    char src[512];
    snprintf(src, sizeof(src), "%s", rest[1]);
    r.rec->source = strdup(src);
    struct mp_cli_watch w = {on_started, on_event, &r};
    mp_cli_watch = &w;
    int crc = run_check(nrest, rest);
    mp_cli_watch = NULL;
    if (r.rec->ns == 0 || !r.rec->s[0].ended) {
      rc = crc == MP_EXIT_USAGE ? MP_EXIT_USAGE
                                : usage("the probe ended without a result");
      goto out;
    }
  }
  struct mp_rec_case_opts co = {.name = o.name,
                                .password =
                                    r.password ? r.password : r.rec->password,
                                .anonymize = o.anonymize};
  if (write_case(r.rec, &co, &text, &tlen, err, sizeof(err)) < 0) {
    rc = usage(err);
    goto out;
  }
  if (o.from &&
      settle(r.rec, &co, o.from, &text, &tlen, err, sizeof(err)) < 0) {
    rc = usage(err);
    goto out;
  }
  if (mp_rec_leaks(text, co.password)) {
    rc = usage("the case would hold the password: not written");
    goto out;
  }
  if (fd >= 0) {
    if (mp_rec_out_write(fd, text, tlen) < 0) {
      snprintf(err, sizeof(err), "%s: %s", o.out, strerror(errno));
      rc = usage(err);
      goto out;
    }
    fprintf(stderr, "mailprobe record: wrote %s\n", o.out);
  } else {
    fwrite(text, 1, tlen, stdout);
  }
  rc = 0;
out:
  if (fd >= 0) {
    close(fd);
    if (rc != 0 && created)
      unlink(o.out);
  }
  if (r.password) {
    memset(r.password, 0, strlen(r.password));
    free(r.password);
  }
  mp_rec_free(r.rec);
  free(text);
  free(rest);
  return rc;
}
