/* Fuzz target for harness/case/case.c: mp_case_parse on the input bytes. It
 * must never crash or leak; errors are fine, but an error must come with
 * a message and no case, and a success with a case and no message. */
#include "harness/case/case.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct mp_case *c = NULL;
  char err[512];
  int rc;

  err[0] = '\0';
  rc = mp_case_parse((const char *)data, size, "fuzz/case.yaml", &c, err,
                     sizeof err);
  if (memchr(err, '\0', sizeof err) == NULL)
    abort();
  if (rc == 0) {
    if (c == NULL)
      abort();
    /* Walk what a runner would look at. */
    for (size_t i = 0; i < c->nservers; i++)
      if (mp_case_find_server(c, c->servers[i].name) < 0)
        abort();
    if (c->probe.server != NULL && mp_case_find_server(c, c->probe.server) < 0)
      abort();
    mp_case_free(c);
  } else {
    if (rc != MP_E_PROTOCOL_ERROR && rc != MP_E_NO_RESOURCES)
      abort();
    /* case.c sets *out to NULL before it starts. */
    if (err[0] == '\0' || c != NULL)
      abort();
  }
  return 0;
}
