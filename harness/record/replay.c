/* A recorded case run once in this process (harness/record/replay.h). */
#include "harness/record/replay.h"

#include <stdio.h>

#include "harness/case/case.h"
#include "harness/run/runner.h"
#include "probes/result.h"

int mp_rec_replay(const char *text, size_t len, const char *name,
                  struct mp_result **out, int *passed, char *err, size_t errlen)
{
  struct mp_run_case rc = {0};
  struct mp_run_opts ro = {.jobs = 1};
  *out = NULL;
  *passed = 0;
  if (mp_case_parse(text, len, name, &rc.c, err, errlen) < 0)
    return -1;
  rc.file = (char *)name;
  if (mp_run(&rc, 1, &ro) < 0 || !rc.result) {
    snprintf(err, errlen, "%s: the replay did not run", name);
    mp_run_case_clear(&rc);
    mp_case_free(rc.c);
    return -1;
  }
  *out = rc.result;
  *passed = rc.out.passed;
  rc.result = NULL;
  mp_run_case_clear(&rc);
  mp_case_free(rc.c);
  return 0;
}
