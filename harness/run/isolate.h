/* Runs a function in a child process of its own and hands its bytes back
 * on the parent's loop. The runner uses it for cases with expect.memory:
 * their bound is the process's heap growth, so in a process of their own
 * they can run beside every other case, and a crash in one of them is that
 * case's failure instead of the run's end.
 *
 * The children are not forks of the loop's process. A fork copies the
 * page tables of the whole process and leaves every page copy-on-write,
 * and under ASan (shadow memory, a big heap) one takes tens to hundreds of
 * milliseconds on the loop, then every write pays a fault: a run that
 * forked some seventy children stalled its loop for seconds and the cases
 * beside them timed out. So mp_isolator_new forks a small process first,
 * the forker, while the caller has one thread and before its loop runs;
 * each mp_isolate_start asks the forker for a child over a socket, and the
 * forker forks it from its own memory: a copy of the caller's as it was
 * when the forker was made. The loop's process only writes a request and
 * reads the answers (the child's pipe, passed back, and how it ended).
 *
 * A child has that memory and nothing else: every descriptor but stdin,
 * stdout, stderr and its pipe is closed at once, SIGINT/SIGTERM/SIGHUP are
 * at their defaults, and it leaves through _exit (no atexit handlers, no
 * second flush of the parent's stdio buffers). */
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
  int exit_code; /* -1 when killed by a signal or when it could not start */
  int signal;    /* the signal that ended it, or 0 */
  int timed_out; /* 1: past its deadline, killed by us */
  int too_big;   /* 1: it wrote more than MP_ISOLATE_MAX_BYTES, killed */
};

#define MP_ISOLATE_MAX_BYTES (64u << 20)

typedef void (*mp_isolate_cb)(const struct mp_isolate_end *end, void *data);

/* The forker and the children it made for one loop. */
struct mp_isolator;

/* Forks the forker for children whose ends come back on loop. Call it
 * while the process has one thread, before the loop runs, and after
 * everything the children will read is in memory. 0 and *out, or a
 * negative errno code (no forker). */
int mp_isolator_new(uv_loop_t *loop, struct mp_isolator **out);

/* Ends the forker (a child still running is killed) and waits for it to
 * exit; call it once every callback ran, off the loop's callbacks. Its
 * handle closes on the next turn of the loop, then it is freed. */
void mp_isolator_free(struct mp_isolator *z);

/* Asks the forker for a child that runs fn(arg), writes what it returns to
 * a pipe and exits 0. fn and arg are used in the forker's memory: arg
 * must point at what was there, unchanged, when mp_isolator_new ran. The
 * parent reads the pipe on the loop and calls cb once, after the child
 * has ended. Past deadline_ms the child is killed (SIGKILL). 0, or a
 * negative libuv/errno code when nothing was asked (no callback). */
int mp_isolate_start(struct mp_isolator *z, mp_isolate_fn fn, void *arg,
                     uint64_t deadline_ms, mp_isolate_cb cb, void *data);

#endif
