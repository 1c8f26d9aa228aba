/* The monitor engine: many named monitors on one loop, each an ipMonitor
 * state machine (probes/monitor.h) testing one target again and again.
 * A monitor's next test is due one interval of its state after its last
 * test ended, so a test never overlaps the one before it; monitors never
 * wait on each other, and a cap bounds the tests in flight (a due test
 * past the cap waits its turn, and that wait shows as lateness). On an
 * alert the engine runs the monitor's on_alert command and its recovery
 * command (until that ran recovery_runs times in the outage); on a
 * recovery, on_recovery (harness/monitor/action.h). `mailprobe monitor`,
 * `check --monitor` and the monitor cases all run on this. */
#ifndef MP_ENGINE_H
#define MP_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "harness/report/result_json.h"
#include "probes/monitor.h"
#include "probes/probe.h"

struct uv_loop_s;
struct mp_action_end;
struct mp_result;
struct mp_mon_prep;

#define MP_MON_NAME_MAX 64           /* characters of a name, as ipMonitor */
#define MP_MON_DEFAULT_IN_FLIGHT 256 /* tests at once unless told */

enum mp_mon_action_kind {
  MP_ACT_ON_ALERT = 0,
  MP_ACT_ON_RECOVERY,
  MP_ACT_RECOVERY,
  MP_ACT_KINDS
};

/* One monitor. Strings and argv lists are the caller's and must outlive
 * the engine. */
struct mp_mon_def {
  const char *name;          /* 1..MP_MON_NAME_MAX characters */
  const char *target;        /* how people know the target ("smtp://mx:25") */
  struct mp_probe_opts opts; /* the check; timeout_ms is ipMonitor's
                                maximum test duration */
  struct mp_result_fmt rf;   /* thresholds: a test fails when its result
                                fails or is CRITICAL */
  struct mp_monitor_cfg timing;
  char *const *argv[MP_ACT_KINDS]; /* NULL-terminated commands, or NULL */
  unsigned recovery_runs;          /* recovery commands per outage; 0: 1 */
  uint64_t action_timeout_ms;      /* 0: MP_ACTION_DEFAULT_TIMEOUT_MS */
  unsigned count; /* tests, then this monitor stops; 0: the engine's */
  /* Before each test (may be NULL): called when the test is due and has
   * its place among the tests in flight, with before_data. It finishes
   * later on the loop or at once, exactly once: mp_mon_prep_probe starts
   * the probe with options of its own (an OAuth token fetched for this
   * test), mp_mon_prep_fail makes a result the test's (a token that could
   * not be had). The test's time and lateness count from the call. */
  void (*before_test)(void *before_data, struct mp_mon_prep *p);
  void *before_data;
};

/* Ends a before_test step: the probe starts with opts (copied, with the
 * strings they point to, for as long as the probe needs them; opts->token
 * is masked like the password in what actions are given). */
void mp_mon_prep_probe(struct mp_mon_prep *p, const struct mp_probe_opts *opts);

/* Ends a before_test step with r as the test's result (the engine frees
 * it): the probe does not run. */
void mp_mon_prep_fail(struct mp_mon_prep *p, struct mp_result *r);

/* One test as it ended. */
struct mp_mon_test {
  size_t index; /* of the monitor */
  const struct mp_mon_def *def;
  unsigned test; /* 1, 2, ... since the engine started */
  const struct mp_result *r;
  int ok; /* the test passed */
  enum mp_mon_state prev, state;
  enum mp_mon_event event;
  unsigned alert;    /* the alert number (this outage) */
  unsigned failures; /* failed tests in a row */
  int64_t late_us;   /* started this long after it was due */
  uint64_t wall_us;  /* when it started, microseconds since the epoch */
  const char *token; /* the token this test's probe used (before_test),
                        or NULL: never passed on to an action */
};

/* One action as it ended. */
struct mp_mon_action {
  size_t index;
  const struct mp_mon_def *def;
  enum mp_mon_action_kind kind;
  unsigned test; /* the test that caused it */
  const struct mp_action_end *end;
  char *const *env; /* what it was given, NULL-terminated */
};

struct mp_mon_engine_opts {
  unsigned max_in_flight; /* 0: MP_MON_DEFAULT_IN_FLIGHT */
  unsigned count;         /* tests per monitor, then it stops; 0: on */
  int spread;             /* 1: the first tests are spread over the first
                             interval, at most 10 s (many monitors do not
                             all start at once); 0: all at once */
  int signals;       /* 1: SIGINT and SIGTERM stop the engine (tests under way
                        and actions end first), SIGHUP calls on_hup */
  uint64_t grace_ms; /* actions: TERM to KILL; 0: the default */
  /* Hooks (each may be NULL), with data. */
  void (*on_test)(void *data, const struct mp_mon_test *t);
  void (*on_action)(void *data, const struct mp_mon_action *a);
  void (*on_hup)(void *data);
  void (*on_done)(void *data); /* every monitor stopped, nothing runs */
  void *data;
};

struct mp_mon_engine;

/* An engine over n monitors, none started; NULL when out of memory. */
struct mp_mon_engine *mp_mon_engine_new(struct uv_loop_s *loop,
                                        const struct mp_mon_def *defs, size_t n,
                                        const struct mp_mon_engine_opts *o);

/* Monitor i's state machine: set its state before mp_mon_engine_run to
 * resume where a previous run stopped. */
struct mp_monitor *mp_mon_engine_machine(struct mp_mon_engine *e, size_t i);

/* Recovery commands run in monitor i's current outage (kept with the
 * state). */
unsigned *mp_mon_engine_recoveries(struct mp_mon_engine *e, size_t i);

/* Starts every monitor on the loop and returns; on_done tells when the
 * engine is over. 0, or a negative code when nothing could start. */
int mp_mon_engine_start(struct mp_mon_engine *e);

/* mp_mon_engine_start, then runs the loop until every monitor stopped
 * (count reached, a signal, or
 * mp_mon_engine_stop) and every test and action under way ended. 0, or a
 * negative code when nothing could start. */
int mp_mon_engine_run(struct mp_mon_engine *e);

/* Asks the engine to stop: no new tests; what runs ends. */
void mp_mon_engine_stop(struct mp_mon_engine *e);

/* Counters over the run. */
struct mp_mon_engine_stats {
  uint64_t tests, alerts, recoveries, actions, actions_failed;
  int64_t late_max_us;
};
void mp_mon_engine_stats(const struct mp_mon_engine *e,
                         struct mp_mon_engine_stats *out);

/* Frees the engine: after mp_mon_engine_run returned, or after on_done
 * returned (never inside it). */
void mp_mon_engine_free(struct mp_mon_engine *e);

/* Sets rf's thresholds to plain upper bounds: a test slower than
 * warning_ms is WARNING (still a pass), slower than critical_ms CRITICAL (a
 * failed test); 0 leaves that one unset. */
void mp_mon_thresholds(struct mp_result_fmt *rf, uint64_t warning_ms,
                       uint64_t critical_ms);

/* "on_alert", "on_recovery", "recovery". */
const char *mp_mon_action_name(enum mp_mon_action_kind k);

/* Builds an action's environment (malloc'd, NULL-terminated, free with
 * mp_mon_env_free): PATH, LANG, TZ and HOME from ours when set, and
 * MAILPROBE_* naming the monitor, target, action, state, previous state,
 * alert number, failures, test number, status, error, phase, reply and
 * elapsed time. Nothing else of our environment is passed on, and any
 * value holding the check's password is masked. */
char **mp_mon_env_build(const struct mp_mon_test *t,
                        enum mp_mon_action_kind kind);
void mp_mon_env_free(char **env);

/* The JSON an action reads on stdin: the monitor, action, states and the
 * result (its transcript masked); malloc'd, NULL when out of memory. */
char *mp_mon_input_json(const struct mp_mon_test *t,
                        enum mp_mon_action_kind kind);

#endif
