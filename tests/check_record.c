/* mailprobe record end to end, in process: every single-server case of
 * cases/ is run with a recorder on the probe's tap, the recording is
 * written as a case, and that case is run in its turn. The replay must
 * give the result the original gave (status, error, phase, login
 * mechanism, TLS version), its own expect: must pass, and the file must
 * hold no password (in clear, base64 or hex). The delays are compared by
 * tests/limits/record.sh, through the command line. */
#include "harness/record/record_case.h"

#include <check.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/case/case.h"
#include "harness/record/record.h"
#include "harness/record/record_text.h"
#include "harness/run/runner.h"
#include "probes/result.h"
#include "wire/codec.h"
#include "wire/errors.h"

/* Cases whose original no replay can give, and why. */
static const char *const skipped[] = {
    NULL,
};

static int skip(const char *file)
{
  for (size_t i = 0; skipped[i]; i++)
    if (strstr(file, skipped[i]))
      return 1;
  return 0;
}

static int leaks(const char *text, const char *pw)
{
  if (!pw || !pw[0] || strcmp(pw, MP_REC_PASSWORD) == 0)
    return 0; /* a recording's placeholder recorded again */
  size_t n = strlen(pw);
  char *b64 = mp_b64_encode(pw, n);
  char hex[512];
  int bad = strstr(text, pw) != NULL;
  if (n * 2 < sizeof(hex)) {
    mp_hex((const unsigned char *)pw, n, hex);
    bad |= strcasestr(text, hex) != NULL;
  }
  if (b64)
    bad |= strstr(text, b64) != NULL;
  free(b64);
  return bad;
}

static const char *str(const char *s)
{
  return s ? s : "-";
}

/* Records and replays the cases in files; returns how many differ (or
 * failed otherwise), their files appended to differ (malloc'd copies);
 * loud: say why. */
static size_t replay_batch(char **files, size_t nfiles, char **differ,
                           size_t *ndiffer, int loud)
{
  struct {
    size_t gl_pathc;
    char **gl_pathv;
  } g = {nfiles, files};

  size_t n = 0;
  struct mp_run_case *orig = calloc(g.gl_pathc, sizeof(*orig));
  struct mp_run_case *rep = calloc(g.gl_pathc, sizeof(*rep));
  struct mp_rec **recs = calloc(g.gl_pathc, sizeof(*recs));
  char **texts = calloc(g.gl_pathc, sizeof(*texts));
  ck_assert(orig && rep && recs && texts);
  char err[512];
  for (size_t i = 0; i < g.gl_pathc; i++) {
    struct mp_case *c = NULL;
    if (skip(g.gl_pathv[i]) ||
        mp_case_load(g.gl_pathv[i], &c, err, sizeof(err)) < 0)
      continue;
    if (c->probe.type == MP_CASE_ROUNDTRIP || c->probe.target ||
        c->nservers != 1 || c->expect.has_memory) {
      mp_case_free(c);
      continue;
    }
    struct mp_probe_opts *o = &c->probe.opts;
    if (!o->servername)
      o->servername = c->servers[0].hostname;
    recs[n] = mp_rec_new();
    ck_assert_ptr_nonnull(recs[n]);
    mp_rec_set_opts(recs[n], o);
    o->tap = mp_rec_tap;
    o->tap_data = recs[n];
    orig[n].file = g.gl_pathv[i];
    orig[n].c = c;
    n++;
  }
  struct mp_run_opts ro = {.jobs = 64};
  ck_assert_int_eq(mp_run(orig, n, &ro), 0);

  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    size_t len = 0;
    FILE *f = open_memstream(&texts[i], &len);
    struct mp_rec_case_opts co = {.password = orig[i].c->probe.opts.password};
    int rc = mp_rec_write_case(recs[i], &co, f, err, sizeof(err));
    fclose(f);
    if (rc < 0) {
      /* only a session that never connected may have nothing to replay */
      if (!recs[i]->ns || recs[i]->s[0].nev) {
        fprintf(stderr, "%s: not written: %s\n", orig[i].file, err);
        differ[(*ndiffer)++] = strdup(orig[i].file);
        bad++;
      }
      continue;
    }
    if (leaks(texts[i], orig[i].c->probe.opts.password)) {
      fprintf(stderr, "%s: the recording holds the password\n", orig[i].file);
      differ[(*ndiffer)++] = strdup(orig[i].file);
      bad++;
    }
    if (mp_case_parse(texts[i], len, orig[i].file, &rep[i].c, err,
                      sizeof(err)) < 0) {
      fprintf(stderr, "%s: the recording does not parse: %s\n%s\n",
              orig[i].file, err, texts[i]);
      differ[(*ndiffer)++] = strdup(orig[i].file);
      bad++;
      continue;
    }
    rep[i].file = orig[i].file;
  }
  /* mp_run takes every entry: the ones without a case count as parse
   * errors there, so only the parsed ones go in */
  struct mp_run_case *todo = calloc(n, sizeof(*todo));
  size_t *idx = calloc(n, sizeof(*idx));
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (rep[i].c) {
      idx[m] = i;
      todo[m++] = rep[i];
    }
  ck_assert_int_eq(mp_run(todo, m, &ro), 0);
  for (size_t k = 0; k < m; k++) {
    size_t i = idx[k];
    const struct mp_result *a = orig[i].result, *b = todo[k].result;
    if (!a || !b) {
      fprintf(stderr, "%s: no result\n", orig[i].file);
      differ[(*ndiffer)++] = strdup(orig[i].file);
      bad++;
      continue;
    }
    int same = a->ok == b->ok && a->err == b->err && a->phase == b->phase &&
               strcmp(str(a->auth), str(b->auth)) == 0 &&
               a->tls_used == b->tls_used &&
               strcmp(a->tls.version, b->tls.version) == 0 &&
               (!a->tls_used || a->tls.verified == b->tls.verified);
    if (!same || !todo[k].out.passed) {
      differ[(*ndiffer)++] = strdup(orig[i].file);
      bad++;
      if (!loud)
        continue;
      fprintf(stderr,
              "%s: original %s %s %s auth %s tls %s; replay %s %s %s auth "
              "%s tls %s\n",
              orig[i].file, a->ok ? "ok" : "fail", mp_err_name(a->err),
              mp_phase_name(a->phase), str(a->auth), a->tls.version,
              b->ok ? "ok" : "fail", mp_err_name(b->err),
              mp_phase_name(b->phase), str(b->auth), b->tls.version);
      for (size_t d = 0; d < todo[k].out.ndiffs; d++)
        fprintf(stderr, "  replay's expect: %s\n", todo[k].out.diffs[d]);
      if (getenv("RECORD_SHOW"))
        fprintf(stderr, "%s\n", texts[i]);
    }
  }
  fprintf(stderr, "record: %zu cases recorded, %zu replayed, %zu differ\n", n,
          m, bad);
  for (size_t k = 0; k < m; k++) {
    mp_run_case_clear(&todo[k]);
    mp_case_free(todo[k].c);
  }
  for (size_t i = 0; i < n; i++) {
    mp_run_case_clear(&orig[i]);
    mp_case_free(orig[i].c);
    mp_rec_free(recs[i]);
    free(texts[i]);
  }
  free(todo);
  free(idx);
  free(orig);
  free(rep);
  free(recs);
  free(texts);
  return bad;
}

START_TEST(test_every_case_replays)
{
  glob_t g;
  const char *pats[] = {"cases/smtp/*.yaml", "cases/pop3/*.yaml",
                        "cases/imap/*.yaml", "cases/hostile/*.yaml",
                        "cases/recorded/*.yaml"};
  memset(&g, 0, sizeof(g));
  for (size_t i = 0; i < 5; i++)
    glob(pats[i], i ? GLOB_APPEND : 0, NULL, &g);
  ck_assert_uint_gt(g.gl_pathc, 50);
  char **differ = calloc(g.gl_pathc, sizeof(*differ));
  char **again = calloc(g.gl_pathc, sizeof(*again));
  size_t nd = 0, na = 0;
  ck_assert(differ && again);
  /* A case whose timing sits at the edge of its timeout (a greeting just
   * under it) can tip over on a machine loaded enough: what differs is
   * recorded and replayed once more, alone, before it counts. */
  size_t bad = replay_batch(g.gl_pathv, g.gl_pathc, differ, &nd, 0);
  if (bad > 0)
    bad = replay_batch(differ, nd, again, &na, 1);
  for (size_t i = 0; i < nd; i++)
    free(differ[i]);
  for (size_t i = 0; i < na; i++)
    free(again[i]);
  free(differ);
  free(again);
  globfree(&g);
  ck_assert_uint_eq(bad, 0);
}
END_TEST

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  Suite *s = suite_create("record");
  TCase *tc = tcase_create("replay");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_every_case_replays);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
