/* SASL mechanisms as one table, strongest first (curl's curl_sasl.c shape),
 * with the client and the server half of each mechanism side by side so one
 * test vector checks both. Messages in and out are base64 text as they cross
 * the wire in SMTP AUTH, POP3 AUTH and IMAP AUTHENTICATE; the protocol adds
 * its own framing (334 / "+ ").
 *
 * SCRAM-SHA-256 and SCRAM-SHA-1 (RFC 7677, RFC 5802; the non-PLUS variants,
 * no channel binding) run through GNU SASL (wire/sasl_scram.c); CRAM-MD5,
 * LOGIN and PLAIN are written in wire/sasl.c. All SCRAM sessions share one
 * GNU SASL context, created on first use under pthread_once and freed by an
 * atexit handler: sessions may run on several threads at once, but no SCRAM
 * session may outlive exit(). */
#ifndef MP_SASL_H
#define MP_SASL_H

#include <stddef.h>

/* The password mechanisms strongest first, then the bearer-token ones
 * (wire/sasl_oauth.c), which take an OAuth 2.0 access token where the
 * others take a password. mp_sasl_choose() tries the bearer ones first:
 * a caller without a token leaves them out of allowed. */
enum mp_sasl_mech {
  MP_SASL_SCRAM_SHA_256 = 0,
  MP_SASL_SCRAM_SHA_1,
  MP_SASL_CRAM_MD5,
  MP_SASL_LOGIN,
  MP_SASL_PLAIN,
  MP_SASL_OAUTHBEARER, /* RFC 7628 */
  MP_SASL_XOAUTH2,     /* Google's and Microsoft's, before RFC 7628 */
  MP_SASL_COUNT
};

#define MP_SASL_BIT(m) (1u << (m))
#define MP_SASL_ALL ((1u << MP_SASL_COUNT) - 1u)
/* The mechanisms that send a bearer token, not a password. */
#define MP_SASL_BEARER                                                         \
  (MP_SASL_BIT(MP_SASL_OAUTHBEARER) | MP_SASL_BIT(MP_SASL_XOAUTH2))
#define MP_SASL_PASSWORD (MP_SASL_ALL & ~MP_SASL_BEARER)
/* What a probe tries when the user names nothing: the seeds' three. */
#define MP_SASL_DEFAULT                                                        \
  (MP_SASL_BIT(MP_SASL_CRAM_MD5) | MP_SASL_BIT(MP_SASL_LOGIN) |                \
   MP_SASL_BIT(MP_SASL_PLAIN))

/* "CRAM-MD5" for MP_SASL_CRAM_MD5; NULL when out of range. */
const char *mp_sasl_name(int mech);

/* The mechanism for a name (case-insensitive), or -1. */
int mp_sasl_from_name(const char *name);

/* 1 if the mechanism sends the password in a form anyone on the path can
 * read back (PLAIN, LOGIN). */
int mp_sasl_is_cleartext(int mech);

/* 1 for OAUTHBEARER and XOAUTH2, whose "password" is a bearer token. */
int mp_sasl_is_bearer(int mech);

/* Parses a space- or comma-separated list of names ("CRAM-MD5 PLAIN
 * X-UNKNOWN") into a bit mask of the ones we know. */
unsigned mp_sasl_mask_from_list(const char *list);

/* The strongest mechanism in advertised & allowed & ~tried, or -1: the
 * bearer mechanisms (OAUTHBEARER, then XOAUTH2) before the password ones,
 * which go strongest first. */
int mp_sasl_choose(unsigned advertised, unsigned allowed, unsigned tried);

/* Results of a step. */
#define MP_SASL_CONTINUE 1 /* send *out, expect another message */
#define MP_SASL_DONE 0     /* client: nothing more to send; server: success */
/* negative: MP_E_AUTH_FAILED (bad credentials), MP_E_PROTOCOL_ERROR (a
 * malformed message, bad base64), MP_E_NO_RESOURCES */

struct mp_sasl_client;

/* A client for mech with user and password (copied); for the bearer
 * mechanisms the password is the access token. NULL on failure. */
struct mp_sasl_client *mp_sasl_client_new(int mech, const char *user,
                                          const char *password);
void mp_sasl_client_free(struct mp_sasl_client *c);

/* The initial response, base64, into *out (malloc'd, caller frees; "=" is
 * the empty initial response of RFC 4954), or *out = NULL when the
 * mechanism starts with a server challenge (LOGIN, CRAM-MD5, SCRAM: SCRAM
 * has a client-first message, so it does return one). 0 or negative. */
int mp_sasl_client_initial(struct mp_sasl_client *c, char **out);

/* Answers the server's base64 challenge: MP_SASL_CONTINUE with *out
 * (malloc'd base64) to send, MP_SASL_DONE when the exchange needs nothing
 * more from us (SCRAM: after verifying the server signature), or negative.
 * With MP_SASL_DONE, *out is the last answer to send, or NULL when there is
 * none: SCRAM sets it to "" because RFC 4954 (and IMAP, POP3) still want
 * an empty line for the server's final message. A client that did not
 * send an initial response answers the server's empty first challenge
 * here. Callers free *out whenever it is not NULL. */
int mp_sasl_client_step(struct mp_sasl_client *c, const char *challenge,
                        char **out);

/* OAUTHBEARER's host and port keys (RFC 7628 3.1), which the server may
 * check against where the client connected; copied. Unset: left out. */
void mp_sasl_client_set_target(struct mp_sasl_client *c, const char *host,
                               unsigned port);

/* What a bearer mechanism's server said when it refused the token: the
 * JSON object of its error challenge (RFC 7628 3.2.2; Google's and
 * Microsoft's XOAUTH2 send the same shape). Each field is NULL when
 * absent; not_json is 1 when the challenge was no JSON object at all. */
struct mp_sasl_oauth_error {
  char *status;  /* "invalid_token", "insufficient_scope", "401", "400" */
  char *scope;   /* the scope the server wants */
  char *schemes; /* "Bearer" */
  int not_json;
};

/* The error challenge the client was answered with, or NULL when there
 * was none (yet). Owned by the client. */
const struct mp_sasl_oauth_error *
mp_sasl_client_oauth_error(const struct mp_sasl_client *c);

/* Parses an error challenge (the bytes after base64) into e, which the
 * caller frees with mp_sasl_oauth_error_clear. 0; MP_E_PROTOCOL_ERROR
 * with e->not_json set when it is no JSON object; MP_E_NO_RESOURCES.
 * Pure, for the fuzzer too. */
int mp_sasl_oauth_error_parse(const void *buf, size_t len,
                              struct mp_sasl_oauth_error *e);
void mp_sasl_oauth_error_clear(struct mp_sasl_oauth_error *e);

/* Looks up a user's password for the server half; NULL if no such user. */
typedef const char *(*mp_sasl_lookup_cb)(void *data, const char *user);

struct mp_sasl_server;

/* A server for mech; hostname goes into the CRAM-MD5 challenge. */
struct mp_sasl_server *mp_sasl_server_new(int mech, const char *hostname,
                                          mp_sasl_lookup_cb lookup, void *data);
void mp_sasl_server_free(struct mp_sasl_server *s);

/* Checks a bearer token for the server half of OAUTHBEARER and XOAUTH2:
 * user is the one the client named (may be "": OAUTHBEARER without an
 * authzid leaves it to the token), token the token. 0 accepts and
 * *who, when the check sets it (malloc'd), is who logs in (else user);
 * MP_E_AUTH_FAILED refuses, with *error the bytes of the error challenge
 * to send (malloc'd, usually a JSON object; RFC 7628 3.2.2), or NULL to
 * refuse at once without one (Microsoft). */
typedef int (*mp_sasl_bearer_cb)(void *data, const char *user,
                                 const char *token, char **who, char **error);

/* Sets the bearer check; without one, every token is refused. */
void mp_sasl_server_set_bearer(struct mp_sasl_server *s, mp_sasl_bearer_cb cb,
                               void *data);

/* Starts with the client's initial response (base64, NULL when the client
 * sent none, "=" for empty): MP_SASL_CONTINUE with the first challenge in
 * *out (malloc'd base64, may be ""), MP_SASL_DONE on success (the user is
 * logged in), or negative (MP_E_AUTH_FAILED, MP_E_PROTOCOL_ERROR). */
int mp_sasl_server_start(struct mp_sasl_server *s, const char *initial,
                         char **out);

/* The next client message (base64; "*" means the client cancelled:
 * MP_E_AUTH_FAILED). Same results as mp_sasl_server_start. SCRAM sends
 * its server-final message ("v=...") as a last challenge
 * (MP_SASL_CONTINUE); the client's empty answer then gives MP_SASL_DONE.
 * LOGIN takes the user name as an initial response; CRAM-MD5 refuses one
 * (MP_E_PROTOCOL_ERROR). Any call after DONE or an error:
 * MP_E_PROTOCOL_ERROR. */
int mp_sasl_server_step(struct mp_sasl_server *s, const char *response,
                        char **out);

/* The authenticated user once DONE (else NULL). */
const char *mp_sasl_server_user(const struct mp_sasl_server *s);

/* Only for tests: fixes the CRAM-MD5 challenge (the text inside the
 * base64, "<1896.697170952@postoffice.reston.mci.net>") or the SCRAM
 * server nonce part (24 characters, handed to GNU SASL as the client nonce
 * is: see below). Call before mp_sasl_server_start. */
void mp_sasl_server_set_challenge(struct mp_sasl_server *s, const char *ch);

/* Only for tests: fixes the SCRAM client nonce. Call before the first
 * message. GNU SASL has no API for this: it draws nonces through
 * gsasl_nonce(), so the nonce is handed over only in a binary that defines
 * its own gsasl_nonce() and asks mp_sasl_take_nonce() first (the dynamic
 * linker prefers the executable's definition; tests/check_sasl.c does
 * this). A nonce is the base64 of the 18 bytes GNU SASL draws (24
 * characters, as RFC 5802's "fyko+d2lbbFgONRv9qkxdawL"). */
void mp_sasl_client_set_nonce(struct mp_sasl_client *c, const char *nonce);

/* Only for a test binary's gsasl_nonce(): while a SCRAM session with a
 * fixed nonce starts on this thread, copies that nonce's len bytes into buf
 * and returns 1 (once); else 0 and the caller draws random bytes. */
int mp_sasl_take_nonce(void *buf, size_t len);

#endif
