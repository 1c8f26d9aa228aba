/* The fake SMTP server's insides, shared by fake_servers/smtp.c (the
 * commands, EHLO, MAIL, RCPT, AUTH) and fake_servers/smtp_data.c (DATA
 * and delivery); fs_ for "fake SMTP". */
#ifndef MP_FAKE_SMTP_INTERNAL_H
#define MP_FAKE_SMTP_INTERNAL_H

#include <stddef.h>

#include "fake_servers/session.h"

#define SMTP_MAX_RCPT 100 /* RFC 5321 4.5.3.1.8: at least 100 */
#define SMTP_MAX_MESSAGE 10485760u

enum smtp_state {
  SMTP_CMD = 0,   /* waiting for a command */
  SMTP_AUTH,      /* in a SASL exchange: lines are responses */
  SMTP_DATA_HEAD, /* after 354: the message's header lines */
  SMTP_DATA_BODY  /* after the blank line: its body */
};

struct smtp {
  int helo; /* 0 none yet, 1 HELO, 2 EHLO */
  char *helo_name;
  char *user; /* logged in as, or NULL */
  /* The mail transaction (RFC 5321 3.3). */
  int in_mail;
  char *from;
  char **rcpt; /* store users, or NULL for a recipient nobody reads */
  size_t nrcpt;
  /* The message text, kept only when the message reaches a mailbox
   * (keep_text); its length is counted either way. The buffer stays with
   * the session from one message to the next. */
  struct mp_fake_answer text; /* a byte buffer, like an answer's */
  size_t msg_len;
  int keep_text;
  int too_big;
  unsigned queued; /* messages accepted in this session */
};

/* Forgets the mail transaction (RFC 5321 3.3): sender, recipients, text. */
void fs_reset_transaction(struct smtp *m);

/* DATA: 354, and the lines that follow are the message. */
void fs_cmd_data(struct mp_fake_session *s, struct mp_fake_args *g,
                 struct mp_fake_answer *a);

/* A line of message text, or its end (kind MP_KIND_END): then the
 * message is queued and delivered, unless a rule replaced the answer. */
void fs_data_line(struct mp_fake_session *s, char *line, size_t len,
                  enum mp_fake_kind kind, int replaced,
                  struct mp_fake_answer *a);

#endif
