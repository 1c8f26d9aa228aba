/* An action of a monitor (on_alert, on_recovery, recovery): one command run
 * through uv_spawn in a process group of its own, with a time limit (TERM
 * to the group, then KILL), the test's result as JSON on its stdin, an
 * environment built from scratch (never the monitor's own, which may hold
 * a password), and its stdout and stderr captured up to a cap. It never
 * blocks the loop and never delays a test: the caller learns how it ended
 * from a callback. */
#ifndef MP_ACTION_H
#define MP_ACTION_H

#include <stddef.h>
#include <stdint.h>

struct uv_loop_s;

/* Bytes kept of an action's stdout and of its stderr each. */
#define MP_ACTION_OUTPUT_CAP 4096
/* A time limit when none is given. */
#define MP_ACTION_DEFAULT_TIMEOUT_MS 30000
/* Between TERM and KILL. */
#define MP_ACTION_KILL_GRACE_MS 2000

struct mp_action_run {
  char *const *argv;   /* argv[0] is looked up in PATH; NULL-terminated */
  char *const *env;    /* "NAME=value" strings, NULL-terminated; nothing
                          else is passed on */
  const char *input;   /* written to stdin, then stdin is closed; NULL:
                          stdin is empty */
  uint64_t timeout_ms; /* 0: MP_ACTION_DEFAULT_TIMEOUT_MS */
  uint64_t grace_ms;   /* TERM to KILL; 0: MP_ACTION_KILL_GRACE_MS */
};

/* How an action ended. */
struct mp_action_end {
  int spawn_error; /* 0, or a negative libuv code: it never ran (missing
                      command, no permission) */
  int64_t status;  /* exit status when it exited */
  int term_signal; /* the signal that ended it, or 0 */
  int timed_out;   /* the time limit passed and the group was killed */
  int pid;         /* its process id (and group id) */
  uint64_t elapsed_us;
  char *out; /* stdout, NUL-terminated, at most the cap */
  size_t out_len;
  int out_cut; /* more came than the cap */
  char *err;   /* stderr, the same way */
  size_t err_len;
  int err_cut;
};

typedef void (*mp_action_cb)(const struct mp_action_end *end, void *data);

/* Starts the action; cb runs once when the process has ended and its
 * output is read (or it never started: spawn_error), after which nothing
 * of it is left on the loop. 0, or a negative code when out of memory
 * (then cb never runs). */
int mp_action_start(struct uv_loop_s *loop, const struct mp_action_run *run,
                    mp_action_cb cb, void *data);

/* 1 when the action's end counts as a failure: it did not start, timed
 * out, was killed, or exited non-zero. */
int mp_action_failed(const struct mp_action_end *end);

#endif
