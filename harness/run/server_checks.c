/* The runner's checks on what the fake servers saw: the lines each
 * received against expect.server (saw, not_saw, not_saw_in_clear,
 * sessions), whether they caught up with the probe's last line, and the
 * mailboxes left against expect.mailboxes. */
#include "harness/run/job.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "fake_servers/fake.h"
#include "fake_servers/mailstore.h"
#include "harness/case/case.h"
#include "harness/run/compare.h"
#include "probes/mask.h"
#include "probes/result.h"
#include "wire/conn.h"

int mp_job_server_index(const struct mp_case *c, const char *name)
{
  size_t i;

  for (i = 0; i < c->nservers; i++)
    if (c->servers[i].name && name && strcmp(c->servers[i].name, name) == 0)
      return (int)i;
  return -1;
}

/* What the servers saw against expect.server (the case file's key: a map
 * from server name to saw, not_saw, not_saw_in_clear, sessions). Runs while
 * they still run, after the grace period. */
void mp_job_check_servers(struct job *j)
{
  const struct mp_case *c = j->rc->c;
  size_t k, i, l, nseen;
  char shown[512];

  for (k = 0; k < c->expect.nservers; k++) {
    const struct mp_expect_server *es = &c->expect.servers[k];
    const struct mp_fake_seen *seen;
    struct mp_fake_server *s;
    int idx = mp_job_server_index(c, es->server);

    if (idx < 0) {
      mp_job_diff(j, "expect.server: no server named \"%s\"",
                  es->server ? es->server : "");
      continue;
    }
    s = (size_t)idx < j->nservers ? j->servers[idx] : NULL;
    if (!s) {
      /* With probe.target no fake server runs: nothing can be checked. */
      mp_job_diff(j, "server %s: did not run, so nothing it saw can be checked",
                  es->server);
      continue;
    }
    seen = mp_fake_seen(s, &nseen);
    for (i = 0; i < es->nsaw; i++) {
      for (l = 0; l < nseen; l++)
        if (mp_glob_match(es->saw[i], seen[l].line))
          break;
      if (l == nseen)
        mp_job_diff(j, "server %s: expected to see \"%s\", not seen",
                    es->server, es->saw[i]);
    }
    for (i = 0; i < es->nnot_saw; i++) {
      for (l = 0; l < nseen; l++) {
        if (mp_glob_match(es->not_saw[i], seen[l].line)) {
          mp_mask_line(seen[l].line, seen[l].input, shown, sizeof(shown));
          mp_job_diff(j, "server %s: saw \"%s\" (not_saw \"%s\")", es->server,
                      shown, es->not_saw[i]);
          break;
        }
      }
    }
    for (i = 0; i < es->nnot_saw_in_clear; i++) {
      for (l = 0; l < nseen; l++) {
        if (!seen[l].tls &&
            mp_glob_match(es->not_saw_in_clear[i], seen[l].line)) {
          mp_mask_line(seen[l].line, seen[l].input, shown, sizeof(shown));
          mp_job_diff(j,
                      "server %s: saw \"%s\" before TLS (not_saw_in_clear "
                      "\"%s\")",
                      es->server, shown, es->not_saw_in_clear[i]);
          break;
        }
      }
    }
    if (es->sessions >= 0 && (unsigned)es->sessions != mp_fake_sessions(s))
      mp_job_diff(j, "server %s: sessions: expected %d, got %u", es->server,
                  es->sessions, mp_fake_sessions(s));
  }
}

/* 1 when server s (or every server when s is NULL) is done with the
 * probe: its latest session received the probe's last line, or no session
 * is open any more (the probe's close was seen, so nothing is in flight). */
int mp_job_servers_caught_up(const struct job *j, struct mp_fake_server *s,
                             const char *last)
{
  size_t i, k, n;

  for (i = 0; i < j->nservers; i++) {
    struct mp_fake_server *x = s ? s : j->servers[i];
    if (!x)
      continue;
    if (mp_fake_live_sessions(x) > 0) {
      const struct mp_fake_seen *seen = mp_fake_seen(x, &n);
      unsigned cur = mp_fake_sessions(x);
      int found = 0;
      for (k = n; last && k > 0 && seen[k - 1].session == cur; k--)
        if (strcmp(seen[k - 1].line, last) == 0) {
          found = 1;
          break;
        }
      if (!found)
        return 0;
    }
    if (s)
      break;
  }
  return 1;
}

/* The INBOX sizes left when the case is over, against expect.mailboxes. */
void mp_job_check_mailboxes(struct job *j)
{
  const struct mp_case_expect *e = &j->rc->c->expect;
  uint64_t now = mp_now_us();
  size_t i, got;

  for (i = 0; i < e->nmailboxes; i++) {
    const struct mp_expect_mailbox *m = &e->mailboxes[i];

    if (!j->store || !mp_mailstore_has_user(j->store, m->user)) {
      mp_job_diff(j,
                  "mailbox %s: no fake server kept it, so it cannot be "
                  "counted",
                  m->user);
      continue;
    }
    got = mp_mailstore_count(j->store, m->user, now);
    if ((int64_t)got != m->messages)
      mp_job_diff(j, "mailbox %s: expected %" PRId64 " message%s left, got %zu",
                  m->user, m->messages, m->messages == 1 ? "" : "s", got);
  }
}
