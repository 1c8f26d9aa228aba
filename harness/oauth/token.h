/* Where an OAuth 2.0 access token comes from for XOAUTH2 and OAUTHBEARER,
 * in the order mail tools use: a file (--oauth-token-file), a command
 * whose stdout is the token (--oauth-token-command, run through uv_spawn
 * with a time limit, as msmtp's passwordeval and isync's PassCmd), or a
 * token endpoint the probe asks itself (RFC 6749 4.4 client credentials,
 * 6 refresh token) over HTTP with libcurl's multi interface on the loop.
 * A token from a command or an endpoint is kept in memory until shortly
 * before it expires, so a monitor fetches once per lifetime. */
#ifndef MP_TOKEN_H
#define MP_TOKEN_H

#include <stddef.h>
#include <stdint.h>

struct uv_loop_s;
struct mp_token_source;

/* What the user gave; strings are copied by mp_token_source_new. */
struct mp_token_opts {
  const char *file;            /* a file holding the token */
  const char *command;         /* a command line, split on blanks (no shell) */
  uint64_t command_timeout_ms; /* 0: 10 s */
  const char *url;             /* the token endpoint */
  const char *client_id;
  const char *client_secret; /* from a file or the environment */
  const char *scope;         /* space-separated, may be NULL */
  const char *refresh_file;  /* refresh-token grant: the token's file,
                                rewritten when the endpoint rotates it */
  const char *refresh_token; /* or the refresh token itself (a case's) */
  uint64_t http_timeout_ms;  /* 0: 30 s */
  const char *cafile;        /* trust for https; NULL: system store */
  int insecure;              /* no certificate verification */
};

/* How a fetch ended. */
struct mp_token_answer {
  const char *token; /* the access token, or NULL (valid in the callback) */
  int err;           /* 0, or an error name's code (wire/errors.h) */
  int local;         /* 1: a local problem (file, command, set-up): the
                        check is UNKNOWN before connecting */
  const char *why;   /* a sentence naming the option or the endpoint's
                        error and description */
  uint64_t took_us;  /* the fetch's time (0 from the cache) */
};

typedef void (*mp_token_cb)(void *data, const struct mp_token_answer *a);

/* A source for the options, or NULL (no memory). The options must name
 * exactly one of file, command and url (mp_token_opts_check). */
struct mp_token_source *mp_token_source_new(struct uv_loop_s *loop,
                                            const struct mp_token_opts *o);

/* Asks for a token: cb runs once, later on the loop (also from the
 * cache). One request at a time per source. 0, or a negative code and cb
 * never runs. */
int mp_token_get(struct mp_token_source *s, mp_token_cb cb, void *data);

/* Frees the source (the cached token wiped); no request may be under
 * way. Closes its handles: run the loop after it. */
void mp_token_source_free(struct mp_token_source *s);

/* Checks the options for a usage error: NULL, or a sentence. */
const char *mp_token_opts_check(const struct mp_token_opts *o);

/* A token endpoint's JSON answer (RFC 6749 5.1, 5.2), parsed: pure, for
 * the fuzzer too. */
struct mp_token_reply {
  char *access_token;
  char *refresh_token; /* a rotated refresh token, or NULL */
  int64_t expires_in;  /* seconds, -1: not given */
  char *error;         /* RFC 6749 5.2 "invalid_client", or NULL */
  char *error_description;
};

/* Parses len bytes: 0, or MP_E_PROTOCOL_ERROR when it is no JSON object
 * or has neither access_token nor error (r is cleared), or
 * MP_E_NO_RESOURCES. */
int mp_token_reply_parse(const char *buf, size_t len, struct mp_token_reply *r);
void mp_token_reply_clear(struct mp_token_reply *r);

/* Internal to harness/oauth/: the command and the HTTP request. Each
 * calls done exactly once with a malloc'd token (or NULL with an error,
 * local flag and sentence), unless cancelled. */
struct mp_token_job;
typedef void (*mp_token_done)(void *data, char *token, int64_t expires_in,
                              int err, int local, const char *why);
struct mp_token_job *mp_token_cmd_start(struct uv_loop_s *loop,
                                        const char *command,
                                        uint64_t timeout_ms, mp_token_done done,
                                        void *data);
struct mp_token_job *mp_token_http_start(struct uv_loop_s *loop,
                                         const struct mp_token_opts *o,
                                         const char *refresh_token,
                                         mp_token_done done, void *data);

#endif
