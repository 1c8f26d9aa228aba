/* A subject's process on the loop: spawned from an argv through uv_spawn
 * (no shell), in a process group of its own, stdin /dev/null, stdout and
 * stderr captured up to a cap (the rest counted and dropped, the last
 * bytes kept), TERM to the whole group at its bound and KILL after a
 * grace, and the group killed when the leader exits so that nothing it
 * forked lives on. */
#ifndef MP_SPAWN_H
#define MP_SPAWN_H

#include <stddef.h>
#include <stdint.h>

struct uv_loop_s;
struct mp_spawn;

/* Bytes kept from the end of an output past the cap. */
#define MP_SPAWN_TAIL 4096

struct mp_spawn_opts {
  char *const *argv;      /* argv[0] is looked up in PATH */
  const char *cwd;        /* NULL: ours */
  char *const *env;       /* "NAME=value"..., NULL-terminated; NULL: ours */
  uint64_t term_after_ms; /* SIGTERM to the group; 0: never */
  uint64_t kill_after_ms; /* then SIGKILL this long after the TERM
                             (0: 500 ms) */
  size_t capture;         /* bytes kept from the start of each stream */
  /* Where to put the handle for mp_spawn_stop (valid until the callback
   * has run), or NULL. */
  struct mp_spawn **handle;
};

/* One captured stream: what was kept, and how much came. */
struct mp_spawn_stream {
  char *text; /* NUL-terminated: the head, and past the cap a marker
                 line and the tail */
  size_t len;
  uint64_t total; /* bytes the process wrote */
};

struct mp_spawn_end {
  int64_t exit_status; /* when it exited */
  int term_signal;     /* or the signal that ended it, 0 */
  int termed;          /* we sent TERM at term_after_ms */
  int killed;          /* and it needed KILL */
  uint64_t elapsed_us; /* spawn to exit */
  struct mp_spawn_stream out, err;
};

/* Called once when the process has exited, its group is killed and both
 * streams are closed; end and its texts live until the callback returns. */
typedef void (*mp_spawn_cb)(const struct mp_spawn_end *end, void *data);

/* Starts the process; 0 and cb later, or a negative libuv code
 * (UV_ENOENT: no such command) and cb never runs. */
int mp_spawn_start(struct uv_loop_s *loop, const struct mp_spawn_opts *o,
                   mp_spawn_cb cb, void *data);

/* Ends the process now as at its bound: TERM to the group, KILL after
 * kill_after_ms; the callback follows as usual. */
void mp_spawn_stop(struct mp_spawn *sp);

/* SIGKILL to every group started here and not yet reaped; safe in a
 * signal handler (for a run interrupted by SIGINT or SIGTERM, whose
 * subjects live in sessions of their own and would outlive it). */
void mp_spawn_kill_all(void);

#endif
