/* The fake POP3 server's insides, shared by fake_servers/pop3.c (the
 * AUTHORIZATION state: greeting, CAPA, login, the command table) and
 * fake_servers/pop3_drop.c (the maildrop and the TRANSACTION state's
 * commands); fp_ for "fake POP3". */
#ifndef MP_FAKE_POP3_INTERNAL_H
#define MP_FAKE_POP3_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "fake_servers/session.h"

#define POP3_MAX_ARGS 4

enum pop3_state {
  POP3_AUTHORIZATION = 0, /* before login (RFC 1939 4) */
  POP3_SASL,              /* in an AUTH exchange: lines are responses */
  POP3_TRANSACTION,       /* logged in, the maildrop is open */
  POP3_DONE               /* QUIT answered; the session is closing */
};

/* The states a command is valid in (RFC 1939 4, 5; RFC 2449 5). */
#define IN_AUTHZ (1u << POP3_AUTHORIZATION)
#define IN_TRANS (1u << POP3_TRANSACTION)

/* One message of the maildrop as it stood at login. */
struct drop_msg {
  uint64_t id; /* in the store */
  size_t size; /* octets as sent by RETR, before dot-stuffing */
  int deleted; /* marked by DELE */
};

struct pop3 {
  char timestamp[160]; /* the APOP banner's <...>, "" without APOP */
  char *user;          /* given with USER, waiting for PASS */
  char *login;         /* logged in as (TRANSACTION) */
  struct drop_msg *msgs;
  size_t nmsgs;
};

/* Appends a line of a multi-line answer, dot-stuffed (RFC 1939 3). */
void fp_multi_line(struct mp_fake_answer *a, const char *line, size_t len);

/* Splits the arguments at spaces, in place; the count, or -1 if more than
 * max. */
int fp_split_args(char *arg, char **argv, int max);

/* The credentials were right: lock and open the maildrop (RFC 1939 4),
 * and answer. */
void fp_log_in(struct mp_fake_session *s, const char *user,
               struct mp_fake_answer *a);

/* The TRANSACTION state's commands (RFC 1939 5), and QUIT (6). LIST is
 * variant 0 of fp_cmd_listing, UIDL variant 1. */
void fp_cmd_stat(struct mp_fake_session *s, struct mp_fake_args *g,
                 struct mp_fake_answer *a);
void fp_cmd_listing(struct mp_fake_session *s, struct mp_fake_args *g,
                    struct mp_fake_answer *a);
void fp_cmd_retr(struct mp_fake_session *s, struct mp_fake_args *g,
                 struct mp_fake_answer *a);
void fp_cmd_top(struct mp_fake_session *s, struct mp_fake_args *g,
                struct mp_fake_answer *a);
void fp_cmd_dele(struct mp_fake_session *s, struct mp_fake_args *g,
                 struct mp_fake_answer *a);
void fp_cmd_rset(struct mp_fake_session *s, struct mp_fake_args *g,
                 struct mp_fake_answer *a);
void fp_cmd_noop(struct mp_fake_session *s, struct mp_fake_args *g,
                 struct mp_fake_answer *a);
void fp_cmd_quit(struct mp_fake_session *s, struct mp_fake_args *g,
                 struct mp_fake_answer *a);

#endif
