/* Runs a function in a child process of its own and hands its bytes back
 * on the parent's loop. The runner uses it for cases with expect.memory:
 * their bound is the process's heap growth, so in a process of their own
 * they can run beside every other case, and a crash in one of them is that
 * case's failure instead of the run's end.
 *
 * The child is a fork of the caller: it has the caller's memory (parsed
 * cases, options) and nothing else: every descriptor but stdin, stdout,
 * stderr and its pipe is closed at once, SIGINT/SIGTERM/SIGHUP go back to
 * their defaults, and it leaves through _exit (no atexit handlers, no
 * second flush of the parent's stdio buffers). Call it only while the
 * process has one thread. */
#ifndef MP_ISOLATE_H
#define MP_ISOLATE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Runs in the child: returns a malloc'd buffer (its length in *len) for the
 * parent, or NULL for none. */
typedef char *(*mp_isolate_fn)(void *arg, size_t *len);

/* How the child ended. */
struct mp_isolate_end {
  const char *bytes; /* what the child wrote (valid during the callback) */
  size_t len;
  int exit_code; /* -1 when killed by a signal */
  int signal;    /* the signal that ended it, or 0 */
  int timed_out; /* 1: past its deadline, killed by us */
  int too_big;   /* 1: it wrote more than MP_ISOLATE_MAX_BYTES, killed */
};

#define MP_ISOLATE_MAX_BYTES (64u << 20)

typedef void (*mp_isolate_cb)(const struct mp_isolate_end *end, void *data);

/* Forks: the child runs fn(arg), writes what it returns to a pipe and
 * exits 0. The parent reads the pipe on loop, reaps the child and calls cb
 * once. Past deadline_ms the child is killed (SIGKILL). 0, or a negative
 * libuv/errno code when nothing was started (no child, no callback). */
int mp_isolate_start(uv_loop_t *loop, mp_isolate_fn fn, void *arg,
                     uint64_t deadline_ms, mp_isolate_cb cb, void *data);

#endif
