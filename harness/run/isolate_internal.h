/* What the two halves of harness/run/isolate.h share: the messages between
 * the loop's process (isolate.c) and the forker (isolate_forker.c) on
 * their SOCK_SEQPACKET pair, one message a packet. Private to
 * isolate*.c. */
#ifndef MP_ISOLATE_INTERNAL_H
#define MP_ISOLATE_INTERNAL_H

#include <stdint.h>
#include <sys/types.h>

#include "harness/run/isolate.h"

/* To the forker: make a child that runs fn(arg). */
struct mp_iso_req {
  uint64_t id;
  mp_isolate_fn fn;
  void *arg;
};

enum {
  MP_ISO_STARTED = 1, /* pid; the read end of its pipe rides along */
  MP_ISO_FAILED,      /* err: no child was made for id */
  MP_ISO_EXITED       /* pid ended with status (as waitpid says) */
};

/* From the forker. */
struct mp_iso_rep {
  uint64_t id;
  int32_t kind;
  int32_t err;
  int64_t pid;
  int32_t status;
};

/* The forker's life, in the forked process: serves requests on sock until
 * it reads the end of it, then kills the children still running, reaps
 * them and exits. Never returns. */
__attribute__((noreturn)) void mp_iso_forker_main(int sock);

#endif
