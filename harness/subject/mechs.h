/* The login mechanisms a subject speaks (its profile's `mechanisms:`)
 * against what a case expects of the login (docs/subjects.md, "Login
 * mechanisms"). A case that expects a mechanism the subject does not
 * speak, or a login the fake server offers none of its mechanisms for,
 * asks for something the subject cannot express: UNSUPPORTED, not FAIL.
 * Pure. */
#ifndef MP_MECHS_H
#define MP_MECHS_H

#include <stddef.h>

struct mp_case;
struct mp_subject;

/* 1 if name may stand in `mechanisms:`: a SASL mechanism name (RFC 4422
 * 3.1: upper-case letters, digits, '-' and '_', 1 to 20 of them), as
 * such or as AUTH=NAME, USER or APOP (POP3, RFC 1939 7), LOGIN (the IMAP
 * LOGIN command for IMAP, SASL LOGIN elsewhere), as a case's probe.auth
 * spells them. */
int mp_subject_mech_valid(const char *name);

/* 1 when case c expects a login that subject s cannot make, with why
 * ("it speaks LOGIN; the case expects CRAM-MD5 (expect.auth)"): its
 * expect.auth when the case is about the login (tagged auth), a saw:
 * glob naming a mechanism, or status ok from a server that offers none
 * of s's; 0 when it can or the profile does not say what it speaks. */
int mp_subject_mech_gap(const struct mp_subject *s, const struct mp_case *c,
                        char *why, size_t whylen);

/* 1 when case c names one login (as mp_subject_mech_gap reads it) and
 * its fake server also offers another login subject s speaks: the case
 * then holds a choice between logins s speaks, which is mailprobe's own
 * (strongest first, a fallback order). The classifier uses it only when
 * the servers' lines broke the case: a subject that picked the named one
 * is held to it. why as for mp_subject_mech_gap. */
int mp_subject_mech_choice(const struct mp_subject *s, const struct mp_case *c,
                           char *why, size_t whylen);

/* 1 if a server glob is on a login command: AUTH, USER, PASS, APOP
 * (SMTP, POP3), TAG AUTHENTICATE or TAG LOGIN (IMAP), whatever its
 * mechanism ("AUTH *" too). */
int mp_subject_login_glob(const char *glob, int proto);

#endif
