/* mailprobe: one binary, subcommands (cli.h); `mailprobe --help` lists
 * them. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "harness/cli/cli.h"

static const char usage[] =
    "usage: mailprobe COMMAND [OPTIONS]\n"
    "\n"
    "Probes mail servers (SMTP, POP3, IMAP) and runs the conformance suite\n"
    "of scriptable fake servers.\n"
    "\n"
    "commands:\n"
    "  run [PATH...]       run case files (folders recursively; default "
    "\"cases\")\n"
    "  check URL           one probe against a real server (Nagios, JSON or\n"
    "                      Prometheus output; exit 0 OK, 1 WARNING,\n"
    "                      2 CRITICAL, 3 UNKNOWN)\n"
    "                      (--monitor: again and again with ipMonitor's\n"
    "                      Up/Warn/Down/Lost timing)\n"
    "  serve CASE.yaml     hold a case's fake servers up on 127.0.0.1 for a\n"
    "                      real client\n"
    "  roundtrip           send a test message over SMTP, find and delete "
    "it\n"
    "                      over POP3 or IMAP\n"
    "  record URL -o F     check URL and write the session as a case whose "
    "fake\n"
    "                      server replays it (--from FILE: from a "
    "transcript)\n"
    "  bench [WORKLOAD]    probes/s, latency, timeout accuracy and memory\n"
    "                      against in-process fake servers\n"
    "  exporter            a Prometheus multi-target exporter: /probe runs "
    "a\n"
    "                      module of --config against ?target=\n"
    "  monitor --config F  many named monitors on one loop: ipMonitor's\n"
    "                      timing, alert and recovery actions, a history\n"
    "                      file and a state file\n"
    "  report HISTORY      availability, outages, MTTR and latency from a\n"
    "                      monitor history (text, JSON or HTML)\n"
    "\n"
    "options:\n"
    "  -h, --help          this help; `mailprobe COMMAND --help` for a "
    "command\n"
    "  -V, --version       the version\n"
    "\n"
    "examples:\n"
    "  mailprobe run cases --jobs 16\n"
    "  mailprobe check submission://mail.example.com --user probe \\\n"
    "      --password-file /etc/mailprobe/secret --warning 2 --critical 5\n"
    "  mailprobe serve cases/smtp/banner_just_over_timeout.yaml --port "
    "mx=2525\n";

/* The subcommands (cli.h): a new command is one line here, one in the
 * usage above, and its file harness/cli/cli_NAME.c. */
static const struct {
  const char *name;
  int (*fn)(int argc, char **argv);
} commands[] = {
    {"run", mp_cli_run},       {"check", mp_cli_check},
    {"serve", mp_cli_serve},   {"roundtrip", mp_cli_roundtrip},
    {"bench", mp_cli_bench},   {"exporter", mp_cli_exporter},
    {"record", mp_cli_record}, {"monitor", mp_cli_monitor},
    {"report", mp_cli_report},
};

int main(int argc, char **argv)
{
  const char *cmd;

  /* A peer that closes while we write must be an error return, not a
   * signal that kills the whole run. */
  signal(SIGPIPE, SIG_IGN);
  if (argc < 2) {
    fputs(usage, stderr);
    return MP_EXIT_USAGE;
  }
  cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
      strcmp(cmd, "help") == 0) {
    fputs(usage, stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0 ||
      strcmp(cmd, "version") == 0) {
    printf("mailprobe %s\n", MP_VERSION);
    return 0;
  }
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    if (strcmp(cmd, commands[i].name) == 0)
      return commands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "mailprobe: unknown command \"%s\"\n\n%s", cmd, usage);
  return MP_EXIT_USAGE;
}
