/* `mailprobe report HISTORY`: what a monitor history says, as text, JSON or
 * one HTML file (harness/report/history_report.h). */
#include "harness/cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "harness/cli/args.h"
#include "harness/report/history_report.h"
#include "harness/report/history_stats.h"

static const char report_usage[] =
    "usage: mailprobe report HISTORY [--since DUR] [--monitor NAME]\n"
    "                        [--format text|json|html] [-o FILE]\n"
    "\n"
    "Summarises the history file `mailprobe monitor` writes (one JSON line\n"
    "per test and per action): availability per monitor and per UTC day,\n"
    "the outages with their start, end, length and cause, the mean time to\n"
    "recovery, latency percentiles (p50, p95, p99) of passed tests per\n"
    "phase, and the alerts, recoveries and actions run. A line cut by a\n"
    "crash is skipped and counted.\n"
    "\n"
    "options:\n"
    "  --since DUR           only the last DUR (30d, 12h, 90m, 600)\n"
    "  --monitor NAME        only this monitor\n"
    "  --format FORM         text (default), json, or html: one file with\n"
    "                        SVG charts and nothing to fetch\n"
    "  -o, --output FILE     write there instead of stdout\n"
    "  -h, --help            this help\n"
    "\n"
    "Exit status: 0, or 3 when the history cannot be read.\n"
    "\n"
    "examples:\n"
    "  mailprobe report /var/lib/mailprobe/history.jsonl --since 30d\n"
    "  mailprobe report docs/history-example.jsonl --format html -o "
    "report.html\n"
    "  mailprobe report docs/history-example.jsonl --monitor \"mx1 smtp\" "
    "--format json\n";

enum { OPT_SINCE = 1, OPT_MONITOR, OPT_FORMAT, OPT_OUTPUT, OPT_HELP };

static const struct mp_opt report_opts[] = {
    {"since", 0, 1, OPT_SINCE},   {"monitor", 0, 1, OPT_MONITOR},
    {"format", 0, 1, OPT_FORMAT}, {"output", 'o', 1, OPT_OUTPUT},
    {"help", 'h', 0, OPT_HELP},
};

/* "30d" and "2w" besides what mp_args_duration reads. */
static int since_us(const char *text, uint64_t *us, char *err, size_t len)
{
  size_t n = strlen(text);
  if (n >= 2 && (text[n - 1] == 'd' || text[n - 1] == 'w')) {
    unsigned long v;
    char num[32];
    if (n - 1 >= sizeof(num))
      return mp_args_duration("since", text, us, err, len);
    memcpy(num, text, n - 1);
    num[n - 1] = '\0';
    if (mp_args_uint("since", num, 1, 100000, &v, err, len) < 0)
      return -1;
    *us = (uint64_t)v * (text[n - 1] == 'd' ? 86400u : 604800u) * 1000000u;
    return 0;
  }
  return mp_args_duration_positive("since", text, us, err, len);
}

static int usage_error(const char *msg)
{
  fprintf(stderr, "mailprobe report: %s\n\n%s", msg, report_usage);
  return MP_EXIT_USAGE;
}

int mp_cli_report(int argc, char **argv)
{
  struct mp_args a;
  struct mp_hs_opts o;
  struct mp_hs hs;
  const char *val, *path = NULL, *format = "text", *output = NULL;
  char err[512];
  int id;

  memset(&o, 0, sizeof(o));
  mp_args_init(&a, argc, argv);
  while ((id = mp_args_next(&a, report_opts,
                            sizeof(report_opts) / sizeof(*report_opts), &val,
                            err, sizeof(err))) != MP_ARG_END) {
    switch (id) {
    case MP_ARG_ERROR:
      return usage_error(err);
    case MP_ARG_POSITIONAL:
      if (path)
        return usage_error("one history file only");
      path = val;
      break;
    case OPT_SINCE: {
      uint64_t us;
      struct timeval tv;
      if (since_us(val, &us, err, sizeof(err)) < 0)
        return usage_error(err);
      gettimeofday(&tv, NULL);
      uint64_t now_ms =
          (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
      o.since_ms = us / 1000u < now_ms ? now_ms - us / 1000u : 1;
      break;
    }
    case OPT_MONITOR:
      o.monitor = val;
      break;
    case OPT_FORMAT:
      if (strcmp(val, "text") != 0 && strcmp(val, "json") != 0 &&
          strcmp(val, "html") != 0)
        return usage_error("--format is text, json or html");
      format = val;
      break;
    case OPT_OUTPUT:
      output = val;
      break;
    case OPT_HELP:
      fputs(report_usage, stdout);
      return 0;
    }
  }
  if (!path)
    return usage_error("missing the history file");
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "mailprobe report: %s: %s\n", path, strerror(errno));
    return MP_EXIT_USAGE;
  }
  int rc = mp_hs_read(f, &o, &hs, err, sizeof(err));
  fclose(f);
  if (rc < 0) {
    fprintf(stderr, "mailprobe report: %s: %s\n", path, err);
    mp_hs_free(&hs);
    return MP_EXIT_USAGE;
  }
  FILE *out = output ? fopen(output, "w") : stdout;
  if (!out) {
    fprintf(stderr, "mailprobe report: %s: %s\n", output, strerror(errno));
    mp_hs_free(&hs);
    return MP_EXIT_USAGE;
  }
  if (strcmp(format, "json") == 0)
    mp_hs_write_json(out, &hs);
  else if (strcmp(format, "html") == 0)
    mp_hs_write_html(out, &hs);
  else
    mp_hs_write_text(out, &hs);
  if (hs.skipped)
    fprintf(stderr,
            "mailprobe report: %llu line(s) skipped (cut by a crash or not "
            "a history line)\n",
            (unsigned long long)hs.skipped);
  rc = 0;
  if (output && fclose(out) != 0) {
    fprintf(stderr, "mailprobe report: %s: %s\n", output, strerror(errno));
    rc = MP_EXIT_USAGE;
  }
  mp_hs_free(&hs);
  return rc;
}
