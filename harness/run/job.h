/* What the runner's parts share (runner.c, server_checks.c,
 * roundtrip_run.c): a run over many cases and the job of one case, and the
 * steps each part calls in the others. Private to harness/run/. */
#ifndef MP_JOB_H
#define MP_JOB_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "harness/run/runner.h"
#include "probes/probe.h"
#include "probes/roundtrip.h"

struct mp_case;
struct mp_case_probe;
struct mp_ca;
struct mp_fake_server;
struct mp_mailstore;
struct mp_result;
struct mp_spawn;
struct mp_subject_job;
struct mp_subject_target;

/* A subject's service through a run (service.c). */
enum { SVC_NONE = 0, SVC_STARTING, SVC_UP, SVC_FAILED, SVC_DOWN };
struct mon_run;
struct mp_idp;
struct mp_isolator;
struct mp_token_source;
struct isolated;

/* How often the grace polls whether the servers caught up with the probe. */
#define GRACE_POLL_MS 5
/* How long a finished run waits for abandoned probes before it gives up on
 * them. */
#define REAPER_MS 3000

struct run {
  uv_loop_t loop;
  struct mp_run_case *cases;
  size_t n;
  struct mp_run_opts opts;
  struct mp_ca *ca;
  size_t next;    /* the next case to start */
  size_t running; /* started, not finished */
  size_t finished;
  size_t abandoned; /* probes past the safety deadline, still out */
  int pumping;
  uv_idle_t starter; /* active while a case could start: one a turn */
  uv_timer_t reaper;
  int reaper_on;
  struct job *jobs; /* every job not yet freed */
  /* expect.memory: such a case runs alone (the heap is the process's),
   * its heap sampled after every poll of the loop. */
  uv_check_t mem_check;
  struct job *mem_job; /* the case measured, or NULL */
  size_t mem_base, mem_peak;
  /* Those cases in processes of their own: the forker, made before the
   * loop runs, and per case what a child reads (in the forker's copy of
   * this memory). NULL when none is needed or none could be made. */
  struct mp_isolator *isolator;
  struct isolated *iso_args;
  int iso_broken; /* a child could not be asked for: the rest run here */
  size_t children, max_children; /* running in children; at most */
  struct mp_run_case **waiting;  /* in line for a child (n places) */
  size_t whead, wtail;
  /* A third-party subject's run: a folder of its own for the CA file and
   * the password files (subject_run.c). */
  char *subject_dir;
  char subject_profile_dir[512];
  /* Its service, when the profile has one (service.c): cases wait while
   * it starts. */
  struct mp_spawn *service;
  int svc_state;
  uv_timer_t svc_timer;
  uv_tcp_t svc_probe;
  uv_connect_t svc_req;
  int svc_probing, svc_connected;
  unsigned svc_port;
  uint64_t svc_deadline_ms;
  char svc_url[64];
  char svc_error[512];
};

struct job {
  struct run *run;
  struct job *next, *prev;
  struct mp_run_case *rc;
  uint64_t start_us;
  struct mp_mailstore *store;
  struct mp_fake_server **servers; /* one per config, NULL once stopped */
  size_t nservers;
  struct mp_idp **idps; /* the fake token endpoints, NULL once stopped */
  size_t nidps;
  /* Tokens from a fake token endpoint, fetched before the probe starts
   * (token_run.c): the descriptions that ask, their options, where the
   * fetch stands, the tokens (owned, wiped) and the time it took. */
  const struct mp_case_probe *tok_p[2];
  struct mp_probe_opts *tok_o[2];
  size_t tok_i, tok_n;
  char *tok_val[2];
  uint64_t token_us;
  struct mp_token_source *tok_src;
  void (*tok_next)(struct job *j);
  void (*tok_fail)(struct mp_result *r, void *data);
  size_t stopping; /* stops not yet done (plus one while issuing them) */
  struct mp_probe_opts opts;
  char host[256];
  uv_timer_t timer;    /* the safety deadline, then the grace before checks */
  uv_timer_t gap;      /* round trips: the pause between two runs */
  int handles;         /* timers not yet closed */
  char want_last[256]; /* the probe's last line sent, for the grace ("":
                          none) */
  int grace_srv;       /* -1: want_last on any server; else on
                          this server's last session */
  uint64_t grace_start_us;
  /* Round trips: the options of every run, the runs done, and whether
   * rc->result is a run that did not match (kept for the report). */
  struct mp_rt_opts rto;
  char host2[256];
  unsigned runs_done;
  int kept_bad_run;
  struct mon_run *mon;         /* a monitor case's monitors (monitor_run.c) */
  struct mp_subject_job *subj; /* a third-party subject's run, or NULL */
  int probe_pending;
  int abandoned;
  int finished;
  int closing;
  char **diffs;
  size_t ndiffs;
};

/* Adds one line to the job's diffs (what the report shows). */
void mp_job_diff(struct job *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Stops every server that runs; finishes the job when all are down. */
void mp_job_stop_servers(struct job *j);

/* A probe's (or a round trip run's) result that came after the safety
 * deadline abandoned the job: frees r and lets the job go; 1. Else 0 and
 * the result is the caller's. */
int mp_job_late(struct job *j, struct mp_result *r);

/* The index of the case's server called name, or -1. */
int mp_job_server_index(const struct mp_case *c, const char *name);

/* Points probe options at what the case's probe description names: a
 * real target, or a fake server of the job (127.0.0.1, its port, the
 * certificate's name, the run's CA). where names it in diffs. 0, or -1
 * with a diff. */
int mp_job_point(struct job *j, const struct mp_case_probe *p,
                 struct mp_probe_opts *o, char *host, size_t hostlen,
                 const char *where);

/* token_run.c: fetches the tokens of the n (at most 2) probe
 * descriptions that name a token endpoint into their options, one after
 * the other, then calls next(j); when a fetch fails, fail(r, j) gets a
 * result in phase token instead and no probe starts. */
void mp_job_tokens(struct job *j, const struct mp_case_probe *const *ps,
                   struct mp_probe_opts *const *os, size_t n,
                   void (*next)(struct job *j),
                   void (*fail)(struct mp_result *r, void *data));

/* Wipes and frees the tokens (job end). */
void mp_job_tokens_free(struct job *j);

/* The job's safety deadline in ms, and its timer callback. */
uint64_t mp_job_safety_ms(const struct run *R, const struct job *j);
void mp_job_on_safety(uv_timer_t *t);

/* The grace timer's callback: waits for the servers to catch up with the
 * probe, then compares and stops them. */
void mp_job_on_grace(uv_timer_t *t);

/* server_checks.c: what the servers saw against expect.server, whether
 * they caught up with the probe's last line, and the mailboxes left
 * against expect.mailboxes. */
void mp_job_check_servers(struct job *j);
int mp_job_servers_caught_up(const struct job *j, struct mp_fake_server *s,
                             const char *last);
void mp_job_check_mailboxes(struct job *j);

/* monitor_run.c: runs a monitor case's monitors on the job's loop (the
 * servers run already), compares what they did and stops the servers. */
void mp_job_mon_start(struct job *j);
/* subject_run.c: a third-party subject instead of the probe. The run's
 * folder (CA file, password files) is made before the loop runs and
 * removed after it (0 or -1); a job starts the subject (the servers run
 * already), and after the grace its servers are checked and the run
 * classed into rc->cell. */
int mp_run_subject_prepare(struct run *R);
void mp_run_subject_cleanup(struct run *R);
void mp_job_subject_start(struct job *j);
void mp_job_subject_finish(struct job *j);
void mp_job_subject_free(struct job *j);

/* Writes tmpl with its placeholders filled in from t to path (0600); 0
 * or -1. Before the loop runs only. */
int mp_run_write_expanded(struct run *R, const char *path, const char *tmpl,
                          const struct mp_subject_target *t);

/* service.c: starts the subject's service, then pumps the cases once it
 * listens (or failed); stops it when every case is done. */
int mp_run_service_start(struct run *R);
void mp_run_service_stop(struct run *R);

/* runner.c: starts cases while there is room. */
void mp_run_pump(struct run *R);

/* roundtrip_run.c: fills a roundtrip case's options and starts its first
 * run (the servers run already). */
void mp_job_rt_start(struct job *j);

#endif
