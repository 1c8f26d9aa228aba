/* The one credential masker: what a client sent, as a transcript or a
 * report may show it. The probes mask their transcripts with it, and the
 * harness masks what the fake servers saw with it. Pure. */
#ifndef MP_MASK_H
#define MP_MASK_H

#include <stddef.h>

/* Writes line into out (cap bytes, NUL included, cut to fit) with its
 * credentials replaced by "****": the initial response of AUTH and
 * AUTHENTICATE (the mechanism stays), the argument of PASS, APOP's digest
 * and IMAP LOGIN's password (the user name stays), and a line that is
 * all base64 but no command word. response: the line answers a SASL
 * challenge, so all of it is secret whatever it looks like. Returns the
 * length of the masked line (as snprintf, so a return >= cap means it was
 * cut). */
size_t mp_mask_line(const char *line, int response, char *out, size_t cap);

#endif
