/* Transcripts into recordings (harness/record/import.h). */
#include "harness/record/import.h"

#include <stdio.h>

int mp_rec_import_file(struct mp_rec *r, const char *file, char *err,
                       size_t errlen)
{
  (void)r;
  snprintf(err, errlen, "%s: not yet", file);
  return -1;
}
