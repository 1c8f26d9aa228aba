/* Text for a recorded case: YAML strings written so the case parser reads
 * back the same bytes, and the scrubber that takes secrets (the password
 * in clear, base64 and hex, the user name) and, with --anonymize, the
 * customer's host names, domains and addresses out of every line, the
 * same replacement for the same name everywhere. Pure. */
#ifndef MP_RECORD_TEXT_H
#define MP_RECORD_TEXT_H

#include <stddef.h>
#include <stdio.h>

/* 1 if the bytes can stand in a YAML reply line: valid UTF-8, no NUL, no
 * CR or LF. */
int mp_rec_is_text(const char *s, size_t len);

/* Writes s as a double-quoted YAML scalar (controls escaped). s must pass
 * mp_rec_is_text. */
void mp_rec_yaml_str(FILE *f, const char *s, size_t len);

/* Writes bytes as hex pairs separated by spaces, quoted. */
void mp_rec_yaml_hex(FILE *f, const char *s, size_t len);

#define MP_REC_MAX_SWAPS 256

/* Pairs of text to replace, longest first when applied. */
struct mp_rec_scrub {
  char *from[MP_REC_MAX_SWAPS];
  char *to[MP_REC_MAX_SWAPS];
  size_t n;
  unsigned hosts, ips; /* counters for --anonymize names */
};

/* Adds a replacement (copied); an empty or known from is skipped. 0 or -1. */
int mp_rec_scrub_add(struct mp_rec_scrub *sc, const char *from, const char *to);

/* Adds the password's replacements: itself, its base64 and its hex
 * (both cases) become "********". 0 or -1. */
int mp_rec_scrub_secret(struct mp_rec_scrub *sc, const char *password);

/* --anonymize: finds the host names (two labels or more, a letter in the
 * last), e-mail domains and IPv4 addresses in len bytes of s and maps each
 * new one to hostN.example.net or 192.0.2.N. 0 or -1. */
int mp_rec_scrub_learn(struct mp_rec_scrub *sc, const char *s, size_t len);

/* s with every replacement made (malloc'd, NUL-terminated, *outlen its
 * length), or NULL without memory. */
char *mp_rec_scrub_apply(const struct mp_rec_scrub *sc, const char *s,
                         size_t len, size_t *outlen);

void mp_rec_scrub_free(struct mp_rec_scrub *sc);

#endif
