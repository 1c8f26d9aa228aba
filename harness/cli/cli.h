/* The subcommands of the `mailprobe` binary (`mailprobe --help` lists them;
 * each has its own --help). Each takes its own argv (argv[0] is the
 * subcommand's name) and returns the process exit code. */
#ifndef MP_CLI_H
#define MP_CLI_H

#define MP_VERSION "0.1.0"

/* Exit code for usage errors and anything that is not the server's fault
 * (Nagios UNKNOWN). */
#define MP_EXIT_USAGE 3

/* `mailprobe run [PATH...]`: 0 iff every case passed, 1 if some failed,
 * 3 on usage errors. */
int mp_cli_run(int argc, char **argv);

/* `mailprobe check URL`: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. */
int mp_cli_check(int argc, char **argv);

/* `mailprobe roundtrip --send URL --fetch URL --to ADDR`: exit codes as
 * check. */
int mp_cli_roundtrip(int argc, char **argv);

/* `mailprobe serve CASE.yaml`: 0 after a clean stop on SIGINT/SIGTERM. */
int mp_cli_serve(int argc, char **argv);

/* `mailprobe record URL [check options] -o CASE.yaml`, `record --from
 * FILE`: 0 when the case was written, 3 otherwise. */
int mp_cli_record(int argc, char **argv);

struct mp_probe_event;
struct mp_probe_opts;

/* What `mailprobe record` puts on `check` and `roundtrip`: started is told
 * each probe's options just before it starts (the password too, so the
 * recorder can scrub it), and tap becomes the probe's tap. NULL: none. */
struct mp_cli_watch {
  void (*started)(void *data, const struct mp_probe_opts *o);
  void (*tap)(void *data, const struct mp_probe_event *ev);
  void *data;
};
extern const struct mp_cli_watch *mp_cli_watch;

/* `mailprobe bench [WORKLOAD]`: 0 when every probe ended as the workload
 * expects, 1 otherwise, 3 on usage errors. */
int mp_cli_bench(int argc, char **argv);

/* `mailprobe exporter --config FILE`: 0 after a clean stop on SIGINT or
 * SIGTERM (and for a valid config with --config.check), 3 on usage and
 * config errors. */
int mp_cli_exporter(int argc, char **argv);

/* `mailprobe monitor --config FILE`: runs until SIGINT or SIGTERM (or
 * --count); 0 after a clean stop, 3 on a config error (nothing starts). */
int mp_cli_monitor(int argc, char **argv);

/* `mailprobe report HISTORY`: 0, or 3 when the history cannot be read. */
int mp_cli_report(int argc, char **argv);

#endif
