/* The forker of harness/run/isolate.h: a small process that forks the
 * children, and the child's own start. Nothing here runs on a loop. */
#include "harness/run/isolate_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* LeakSanitizer's check, when it is linked in (ASan builds). A child
 * leaves through _exit, which skips the check LSan makes at exit; the
 * cases that run here are the hostile ones, the likeliest to leak. With
 * leaks it ends the child with LSan's exit status (23), which the caller
 * sees after the bytes. */
extern void __lsan_do_leak_check(void) __attribute__((weak));

/* The child's descriptor for the pipe: the lowest after stdio. */
#define CHILD_FD 3

/* The forker's socket and its SIGCHLD signalfd. The forker keeps the
 * numbers it got and closes nothing it inherited: libuv's fork handler
 * (pthread_atfork) closes and remakes its signal lock pipe by number in
 * every child, so a number of its reused here would be closed under us. */
static int sock_fd = -1, sig_fd = -1;

static void close_from(int lowest)
{
#ifdef SYS_close_range
  if (syscall(SYS_close_range, (unsigned)lowest, ~0u, 0u) == 0)
    return;
#endif
  struct rlimit rl;
  int max = 65536;

  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      rl.rlim_cur < (rlim_t)max)
    max = (int)rl.rlim_cur;
  for (int fd = lowest; fd < max; fd++)
    close(fd);
}

static void write_all(int fd, const char *p, size_t len)
{
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      _exit(2);
    p += n;
    len -= (size_t)n;
  }
}

static __attribute__((noreturn)) void child_main(int wfd, mp_isolate_fn fn,
                                                 void *arg)
{
  char *out;
  size_t len = 0;

  /* Nothing of the forker's stays open here, nor of the parent's: a
   * socket held by the child would keep its connection up after the
   * parent closed it. */
  if (wfd != CHILD_FD) {
    if (dup2(wfd, CHILD_FD) < 0)
      _exit(2);
  } else {
    fcntl(CHILD_FD, F_SETFD, 0);
  }
  close_from(CHILD_FD + 1);
  out = fn(arg, &len);
  if (out)
    write_all(CHILD_FD, out, len);
  free(out);
  close(CHILD_FD);
  if (__lsan_do_leak_check)
    __lsan_do_leak_check();
  _exit(0);
}

/* The children running, by pid, for the kill at the end. */
static pid_t *live;
static size_t nlive, caplive;

static void live_add(pid_t pid)
{
  if (nlive == caplive) {
    size_t cap = caplive ? caplive * 2 : 64;
    pid_t *p = realloc(live, cap * sizeof(*p));

    if (!p)
      return; /* still reaped; only the last kill misses it */
    live = p;
    caplive = cap;
  }
  live[nlive++] = pid;
}

static void live_remove(pid_t pid)
{
  for (size_t i = 0; i < nlive; i++)
    if (live[i] == pid) {
      live[i] = live[--nlive];
      return;
    }
}

static void send_rep(const struct mp_iso_rep *rep, int fd)
{
  struct msghdr m;
  struct iovec iov = {(void *)rep, sizeof(*rep)};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } c;
  ssize_t n;

  memset(&m, 0, sizeof(m));
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  if (fd >= 0) {
    memset(&c, 0, sizeof(c));
    m.msg_control = c.buf;
    m.msg_controllen = sizeof(c.buf);
    c.h.cmsg_level = SOL_SOCKET;
    c.h.cmsg_type = SCM_RIGHTS;
    c.h.cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(&c.h), &fd, sizeof(int));
  }
  do
    n = sendmsg(sock_fd, &m, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  /* A lost answer means the parent is gone: the end of the socket follows
   * and ends the forker. */
}

static void start_child(const struct mp_iso_req *req, const sigset_t *mask)
{
  struct mp_iso_rep rep = {.id = req->id};
  int fds[2];
  pid_t pid;

  if (pipe2(fds, O_CLOEXEC) < 0) {
    rep.kind = MP_ISO_FAILED;
    rep.err = -errno;
    send_rep(&rep, -1);
    return;
  }
  pid = fork();
  if (pid == 0) {
    sigprocmask(SIG_SETMASK, mask, NULL);
    child_main(fds[1], req->fn, req->arg);
  }
  close(fds[1]);
  if (pid < 0) {
    rep.kind = MP_ISO_FAILED;
    rep.err = -errno;
    close(fds[0]);
    send_rep(&rep, -1);
    return;
  }
  live_add(pid);
  rep.kind = MP_ISO_STARTED;
  rep.pid = pid;
  send_rep(&rep, fds[0]);
  close(fds[0]);
}

static void reap_ended(void)
{
  struct mp_iso_rep rep;
  int status;
  pid_t pid;

  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    live_remove(pid);
    memset(&rep, 0, sizeof(rep));
    rep.kind = MP_ISO_EXITED;
    rep.pid = pid;
    rep.status = status;
    send_rep(&rep, -1);
  }
}

void mp_iso_forker_main(int sock)
{
  sigset_t chld, old;
  struct signalfd_siginfo si;

  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  signal(SIGCHLD, SIG_DFL); /* not ignored: the children are reaped here */
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, &old);
  sock_fd = sock;
  sig_fd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sig_fd < 0)
    _exit(2);
  for (;;) {
    struct pollfd p[2] = {{sock_fd, POLLIN, 0}, {sig_fd, POLLIN, 0}};
    struct mp_iso_req req;
    ssize_t n;

    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (p[1].revents) {
      while (read(sig_fd, &si, sizeof(si)) > 0)
        ;
      reap_ended();
    }
    if (!p[0].revents)
      continue;
    n = recv(sock_fd, &req, sizeof(req), 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break; /* the parent is done, or gone */
    if (n == (ssize_t)sizeof(req))
      start_child(&req, &old);
  }
  /* Nothing the parent asked for outlives its asking. */
  for (size_t i = 0; i < nlive; i++)
    kill(live[i], SIGKILL);
  while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
    ;
  _exit(0);
}
