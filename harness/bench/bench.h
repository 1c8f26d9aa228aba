/* The engine behind `mailprobe bench`: many probes against fake servers on
 * 127.0.0.1 (or one given target), with the servers on a loop of their own
 * (a second thread, or a second process), so the figures measure the probe
 * side. A workload is a kind of check (plain SMTP, STARTTLS + AUTH, POP3 or
 * IMAP login, a slow banner past the timeout) or a case file's servers and
 * probe, run again and again. */
#ifndef MP_BENCH_H
#define MP_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "probes/result.h"

struct mp_bench_report;

enum mp_bench_workload {
  MP_BENCH_SMTP = 0, /* connect, banner, EHLO, QUIT */
  MP_BENCH_STARTTLS, /* SMTP: EHLO, STARTTLS, EHLO, AUTH, QUIT */
  MP_BENCH_POP3,     /* POP3 login (USER/PASS or better), QUIT */
  MP_BENCH_IMAP,     /* IMAP login, LOGOUT */
  MP_BENCH_SLOW,     /* a banner slower than the timeout: every probe
                        times out (timeout accuracy, in-flight memory) */
  MP_BENCH_SLOW_TLS, /* the same behind implicit TLS (in-flight memory of
                        a TLS probe) */
  MP_BENCH_CASE,     /* a case file's servers and probe */
  MP_BENCH_WORKLOAD_COUNT
};

/* Where the fake servers run. */
enum mp_bench_servers {
  MP_BENCH_SERVERS_THREAD = 0, /* a second loop in a second thread */
  MP_BENCH_SERVERS_PROCESS     /* a second loop in a child process */
};

/* A latency distribution in microseconds (a log-linear histogram with 64
 * sub-buckets per power of two: quantiles are within 1.6 %). */
#define MP_BENCH_HIST_SUB 64
#define MP_BENCH_HIST_EXP 40
struct mp_bench_hist {
  uint64_t n;
  uint64_t max;
  uint64_t sum;
  uint32_t count[MP_BENCH_HIST_EXP * MP_BENCH_HIST_SUB];
};

/* Adds one value (microseconds). */
void mp_bench_hist_add(struct mp_bench_hist *h, uint64_t us);

/* The q-quantile (0 <= q <= 1) of what was added: the upper edge of its
 * bucket, never more than the largest value; 0 when empty. */
uint64_t mp_bench_hist_quantile(const struct mp_bench_hist *h, double q);

struct mp_bench_opts {
  enum mp_bench_workload workload;
  const char *case_file; /* MP_BENCH_CASE */
  uint64_t probes;       /* stop after this many; 0: only duration */
  uint64_t duration_ms;  /* stop starting after this; 0: only probes */
  unsigned concurrency;  /* probes in flight; 0: as many as the
                            descriptor limit allows */
  int rsa;               /* 1: RSA 2048 certificates, else ECDSA P-256 */
  uint64_t timeout_ms;   /* each probe's; 0: 10 s (slow: 2 s) */
  uint64_t delay_ms;     /* slow: the banner's delay; 0: timeout + 60 s */
  enum mp_bench_servers servers;
  const char *target; /* "host:port": probe this, start no server
                         (plain SMTP, POP3 and IMAP workloads) */
  /* Called about every 200 ms from the probe loop (may be NULL). */
  void (*progress)(const struct mp_bench_report *rep, void *data);
  void *progress_data;
};

/* What a bench run measured. */
struct mp_bench_report {
  char workload[128]; /* "smtp", "starttls", ..., or the case's name */
  uint64_t started, done, ok, failed, in_flight, max_in_flight;
  uint64_t errors[32]; /* by -err - 100 (MP_E_* are -101 ...) */
  unsigned concurrency;
  uint64_t fd_limit; /* the soft limit after raising it */
  uint64_t timeout_ms;
  double wall_s;       /* first start to last result */
  double probes_per_s; /* done / wall_s */
  struct mp_bench_hist total;
  struct mp_bench_hist phase[MP_PHASE_COUNT];
  /* Timed-out probes: result delivered minus (start + timeout). */
  struct mp_bench_hist late;
  uint64_t late_n;        /* probes measured (err timeout) */
  uint64_t early_n;       /* of those, results before the deadline */
  int64_t early_max_us;   /* the earliest, as a negative lateness */
  uint64_t rss_base_kib;  /* the process before the first probe */
  uint64_t rss_peak_kib;  /* the largest sample during the run */
  uint64_t rss_full_kib;  /* sampled with every probe in flight
                             (concurrency reached and every session
                             accepted); 0 if that never happened */
  uint64_t rss_full_n;    /* probes in flight at that sample */
  double rss_per_probe;   /* bytes: (rss_full - rss_base) / rss_full_n */
  int servers_in_process; /* the RSS figures include the servers' side */
  double cpu_probe_s;     /* the probe thread's CPU (user + system) */
  double cpu_process_s;   /* the whole process */
  double cpu_servers_s;   /* the server thread or process */
  char auth[32];          /* the login mechanism seen, or "" */
  char tls_version[16];   /* of the first TLS result, or "" */
  char tls_cipher[64];
  const char *cert;      /* "ecdsa-p256" or "rsa-2048" */
  char first_error[256]; /* the detail of the first failure, or "" */
};

/* Raises the soft descriptor limit to the hard one; returns the new soft
 * limit. */
uint64_t mp_bench_raise_fd_limit(void);

/* Runs a workload to the end and fills rep. 0, or -1 with a message in err
 * (bad options, a server that would not start). The process must not have
 * threads of its own when servers is MP_BENCH_SERVERS_PROCESS (it forks). */
int mp_bench_run(const struct mp_bench_opts *opts, struct mp_bench_report *rep,
                 char *err, size_t errlen);

/* "smtp" for MP_BENCH_SMTP, ...; and back (-1 if unknown). */
const char *mp_bench_workload_name(enum mp_bench_workload w);
int mp_bench_workload_from_name(const char *name);

#endif
