/* Names of enum values, from a table in enum order, and back: the one
 * lookup behind mp_proto_name, mp_tls_mode_name, mp_phase_name,
 * mp_dns_mode_name and mp_mon_state_name. Pure. Internal to probes/. */
#ifndef MP_NAMES_H
#define MP_NAMES_H

#include <stddef.h>

/* names[i] when 0 <= i < n, else unknown. */
const char *mp_name_of(const char *const *names, int n, int i,
                       const char *unknown);

/* The index of name among the n names (ignoring case when nocase), or -1
 * (name NULL or unknown). */
int mp_name_find(const char *const *names, int n, const char *name, int nocase);

/* 1 when the n bytes at s are the word w, ignoring case (a keyword of a
 * capability list, a command verb). */
int mp_word_is(const char *s, size_t n, const char *w);

#define MP_NAMES_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

#endif
