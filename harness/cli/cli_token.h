/* The token of `check` and `roundtrip`, fetched before connecting from
 * the source the --oauth-* options name (harness/oauth/token.h). */
#ifndef MP_CLI_TOKEN_H
#define MP_CLI_TOKEN_H

#include <stddef.h>
#include <stdint.h>

struct uv_loop_s;
struct mp_token_opts;
struct mp_result;
struct mp_probe_cli;
struct mp_result_fmt;

struct mp_cli_token {
  char *token;              /* the access token (wiped by the free) */
  uint64_t took_us;         /* the token phase's time */
  int local;                /* the fetch failed here: UNKNOWN */
  char why[600];            /* why it failed */
  struct mp_result *result; /* the endpoint refused or answered garbage:
                               a failed result in phase token */
};

/* Runs the loop until the source answered: 0 with t->token, else 1 with
 * t->result (CRITICAL) or t->local and t->why (UNKNOWN). */
int mp_cli_token_fetch(struct uv_loop_s *loop, const struct mp_token_opts *o,
                       struct mp_cli_token *t);

/* Says why the fetch failed, as the command prints a result: the result
 * in phase token (CRITICAL) or the usage-style line (UNKNOWN). Returns
 * the exit code. cmd: "check", "roundtrip". */
int mp_cli_token_report(const struct mp_cli_token *t,
                        const struct mp_probe_cli *pc,
                        const struct mp_result_fmt *rf, const char *cmd);

/* Wipes the token and frees the result. */
void mp_cli_token_free(struct mp_cli_token *t);

#endif
