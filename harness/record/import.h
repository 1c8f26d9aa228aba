/* Transcripts into recordings: what a customer pastes into a ticket,
 * made into the same kind of recording the probe's tap makes, so it
 * becomes the same kind of case (docs/recording.md). Formats: mailprobe's
 * own `-v` trace ("C: ", "S: ", "*: ") and `--format json` result, swaks
 * output ("<-", "->", "<~", "~>", "==="), and curl -v traces ("< ",
 * "> ", "* "). A transcript has no times: the delays are zero. Pure. */
#ifndef MP_IMPORT_H
#define MP_IMPORT_H

#include <stddef.h>

#include "harness/record/record.h"

/* Reads the transcript in file into r. 0, or -1 with "file:line: reason"
 * in err (an unknown format names its first line it cannot read). */
int mp_rec_import_file(struct mp_rec *r, const char *file, char *err,
                       size_t errlen);

/* The same from text of len bytes; name stands for the file in errors. */
int mp_rec_import_text(struct mp_rec *r, const char *name, const char *text,
                       size_t len, char *err, size_t errlen);

#endif
