/* A case file (docs/case-format.md) parsed into plain structs: the fake
 * servers, the probe, and what must come out. Pure: knows YAML (libyaml,
 * with marks for file:line:column) but no event loop. */
#ifndef MP_CASE_H
#define MP_CASE_H

#include <stddef.h>
#include <stdint.h>

#include "fake_servers/fake.h"
#include "harness/idp/idp.h"
#include "probes/monitor.h"
#include "probes/probe.h"

/* A bound on a duration in microseconds; -1 where unset. */
struct mp_bound {
  int64_t min_us;
  int64_t max_us;
};

/* What a fake server must (not) have seen. Patterns are globs matched
 * case-insensitively against whole received lines ("AUTH *", "QUIT"). */
struct mp_expect_server {
  char *server; /* a name under servers: */
  char **saw;   /* each must match some line */
  size_t nsaw;
  char **not_saw; /* none may match any line */
  size_t nnot_saw;
  char **not_saw_in_clear; /* none may match a line received before TLS */
  size_t nnot_saw_in_clear;
  int sessions; /* sessions accepted, -1 unset */
  int line;     /* where it was written, for messages */
};

/* How many messages a user's INBOX holds when the case is over (visible
 * and not flagged deleted). */
struct mp_expect_mailbox {
  char *user;
  int64_t messages;
  int line;
};

/* What a result must be: the top level of expect:, and each item of
 * expect.runs (a round trip run several times). Items of runs use only
 * the fields about a result (status ... polls); servers, mailboxes and
 * runs are the top level's. */
struct mp_case_expect {
  int line;      /* where expect: was written (1-based) */
  int status;    /* -1 unset, 0 fail, 1 ok */
  int has_error; /* error: was given */
  int error;     /* 0 for "none", or MP_E_* */
  int phase;     /* -1 unset, or enum mp_phase */
  /* The last reply's code: expected when has_reply_code is set (then 0
   * is "no reply at all" and -1 is POP3 -ERR, as struct mp_result keeps
   * them), or, for structs built by hand, when reply_code > 0. */
  int has_reply_code;
  int reply_code;
  char *reply_text;        /* glob over the last reply's text, or NULL */
  struct mp_bound elapsed; /* the probe's total */
  struct mp_bound timings[MP_PHASE_COUNT];
  char *auth;         /* the mechanism that logged in; "none" for
                         none; NULL unset */
  int tls;            /* -1 unset, 0 no TLS, 1 TLS was used */
  char *tls_version;  /* "TLSv1.3", NULL unset */
  int cert_verified;  /* -1 unset */
  char *verify_error; /* glob over tls.verify_error, NULL unset */
  int64_t messages;   /* mailbox count, -1 unset */
  /* The fields below are unset when zero (their has_ flag is 0), so a
   * struct built by hand with memset needs no more than the ones above. */
  int has_warn;
  int warn;     /* the result's warn flag */
  char *detail; /* glob over the result's detail, NULL unset */
  /* Round trips: */
  int has_delivery;
  struct mp_bound delivery; /* accepted -> seen (-1: that side open) */
  int has_found;
  int64_t found; /* test messages found */
  int has_deleted;
  int64_t deleted; /* of those, deleted */
  int has_polls;
  int64_t polls_min; /* mailbox checks; -1: that side open */
  int64_t polls_max;
  /* Memory: the most the process's heap in use may grow while the case
   * runs (bytes over the heap at its start). The runner runs such a case
   * alone, so the growth is the case's own: its servers' and its probe's
   * (harness/run/runner.c). Top level only. */
  int has_memory;
  uint64_t memory_max;
  struct mp_case_expect *runs; /* one per run (probe.runs), or NULL */
  size_t nruns;
  struct mp_expect_mailbox *mailboxes; /* INBOX sizes after the case */
  size_t nmailboxes;
  struct mp_expect_server *servers;
  size_t nservers;
};

enum mp_case_probe_type {
  MP_CASE_SMTP = 0,
  MP_CASE_POP3,
  MP_CASE_IMAP,
  MP_CASE_ROUNDTRIP
};

struct mp_case_rt;

struct mp_case_probe {
  enum mp_case_probe_type type;
  char *server; /* the fake server it talks to (a name), or NULL */
  char *target; /* "host:port" of a real server, or NULL */
  /* Strings inside opts point into memory the case owns. The runner fills
   * host, port, servername and ca_pem for a fake server. */
  struct mp_probe_opts opts;
  char *user, *password, *helo, *servername, *cafile; /* owned copies */
  char *token; /* an OAuth access token (opts.token points here) */
  /* Or the token from a fake token endpoint of the case (a name under
   * servers:, protocol oauth): the client-credentials grant with client_id
   * and client_secret, or the refresh-token grant with refresh_token. */
  char *idp, *client_id, *client_secret, *refresh_token, *oauth_scope;
  /* A config module (harness/config/module.h) names where the password
   * is, never the password: a file (relative to the config file) or an
   * environment variable; the loader reads it into password. */
  char *password_file, *password_env;
  char *host;                /* target's host (opts.host points here) */
  char *dns_server;          /* opts.dns.server points here */
  struct mp_host_map *hosts; /* opts.dns.hosts points here; each ip and
                                name is malloc'd and owned */
  size_t nhosts;
  int line; /* where probe: was written (1-based) */
  /* type roundtrip: the two halves and the round trip's settings (the
   * fields above then hold only what both halves share: timeouts,
   * insecure, cafile, dns); NULL for other types. */
  struct mp_case_rt *rt;
};

/* A round trip: an SMTP half that sends, a POP3/IMAP half that finds and
 * deletes (probes/roundtrip.h). Each half is a whole probe description;
 * what the top level of probe: shares is already copied into its opts. */
struct mp_case_rt {
  struct mp_case_probe send;  /* type MP_CASE_SMTP */
  struct mp_case_probe fetch; /* type MP_CASE_POP3 or MP_CASE_IMAP */
  char *from, *to;            /* envelope and header addresses */
  char *subject;              /* NULL: the probe's */
  char *id;                   /* token id; NULL: "rt" */
  uint64_t email_timeout_ms;  /* 0: the probe's (10 minutes) */
  uint64_t poll_ms;           /* 0: the probe's (5 s) */
  int mode;                   /* enum mp_rt_mode */
  unsigned runs;              /* round trips in sequence, >= 1 */
  uint64_t interval_ms;       /* pause between two runs */
  char *state_file;           /* config modules, mode previous: the file
                                 that remembers a run happened */
};

/* A message put into a mailbox before the servers start (servers.NAME.
 * mailboxes.USER.mail): CRLF line ends. */
struct mp_case_mail {
  char *user;
  char *data;
  size_t len;
};

/* A monitor case's monitor (monitor: or an item of monitors:): a check in
 * the probe: language, how many tests it runs, ipMonitor's timing and its
 * actions (docs/case-format.md, "Monitor cases"). */
struct mp_case_monitor {
  char *name;
  struct mp_case_probe check;
  unsigned tests; /* tests to run, then it stops */
  struct mp_monitor_cfg timing;
  uint64_t warning_ms;        /* a test slower than this: WARNING (0: none) */
  uint64_t critical_ms;       /* ... CRITICAL, a failed test (0: none) */
  char **argv[3];             /* on_alert, on_recovery, recovery:
                                 NULL-terminated, or NULL */
  unsigned recovery_runs;     /* 0: 1 */
  uint64_t action_timeout_ms; /* 0: the default */
  int line;
};

/* An action a monitor must have run. */
struct mp_expect_action {
  unsigned test; /* the test that caused it */
  int kind;      /* 0 on_alert, 1 on_recovery, 2 recovery */
  int has_exit;
  int64_t exit;  /* its exit status */
  int timed_out; /* -1 unset */
  int started;   /* -1 unset; 0: the command could not be started */
  char **env;    /* "NAME=glob": each must match its environment */
  size_t nenv;
  int line;
};

/* What a monitor of a monitor case must do. */
struct mp_expect_monitor {
  char *name;  /* the monitor it is about */
  int *states; /* per test, enum mp_mon_state; NULL unset */
  size_t nstates;
  int has_alerts;
  unsigned *alerts; /* the tests that alerted */
  size_t nalerts;
  int has_recoveries;
  unsigned *recoveries; /* the tests that told a recovery */
  size_t nrecoveries;
  int has_actions; /* the actions run, all of them, in order */
  struct mp_expect_action *actions;
  size_t nactions;
  int64_t late_max_us; /* no test started later than this; -1 unset */
  int line;
};

struct mp_case {
  char *file;        /* the path it was read from */
  char *name;        /* name:, or the file name without folder and .yaml */
  char *description; /* free text, or NULL */
  char **tags;
  size_t ntags;
  struct mp_fake_config *servers;
  size_t nservers;
  struct mp_idp_config *idps; /* fake token endpoints (protocol oauth) */
  size_t nidps;
  struct mp_case_probe probe;
  struct mp_case_expect expect;
  struct mp_case_mail *mail; /* seeded messages with given text */
  size_t nmail;
  /* A monitor case (monitor: or monitors: instead of probe:): its
   * monitors, run on one loop, and what each must do; probe and expect
   * are then unused. */
  struct mp_case_monitor *monitors;
  size_t nmonitors;
  struct mp_expect_monitor *expect_monitors;
  size_t nexpect_monitors;
};

/* Reads and parses a case file (at most MP_CASE_MAX_BYTES). On error
 * returns a negative code (MP_E_NO_RESOURCES when out of memory, else
 * MP_E_PROTOCOL_ERROR: the file broke the case format or could not be
 * read) and writes "file:line:column: message" into err (line and column
 * 1-based; only "file: message" when the file cannot be opened). The
 * format is docs/case-format.md. */
int mp_case_load(const char *path, struct mp_case **out, char *err,
                 size_t errlen);

/* The same from memory; name is used in messages and as the folder that
 * relative paths (cafile) start from. */
int mp_case_parse(const char *buf, size_t len, const char *name,
                  struct mp_case **out, char *err, size_t errlen);

/* Frees the case and everything it owns (NULL is fine). */
void mp_case_free(struct mp_case *c);

struct mp_rt_opts;

/* Copies a round trip's own settings (from, to, subject, id, email
 * timeout, poll, mode) into o; the halves and first_run are the
 * caller's. */
void mp_case_rt_opts(const struct mp_case_rt *rt, struct mp_rt_opts *o);

/* Frees what a probe description owns (not the struct itself). */
void mp_case_probe_free(struct mp_case_probe *p);

/* The index of the server named name in c->servers, or -1. */
int mp_case_find_server(const struct mp_case *c, const char *name);

#define MP_CASE_MAX_BYTES (1024 * 1024)

/* Durations: "10" (seconds), "1.5s", "500ms", "5m", "1h", "250us"; no
 * space between number and unit, no sign, at most 10^15 us. Fractions
 * below a microsecond round up. 0, or -1 when malformed. */
int mp_duration_parse(const char *text, uint64_t *us);

#endif
