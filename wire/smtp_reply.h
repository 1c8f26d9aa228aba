/* SMTP replies (RFC 5321 4.2): one or more lines "ddd-text", the last
 * "ddd text" (or a bare "ddd"); every line has the same code. Fed a line at
 * a time by the line engine; bounded in lines and bytes. Also RFC 3463
 * enhanced status codes ("5.7.0") at the start of the text. */
#ifndef MP_SMTP_REPLY_H
#define MP_SMTP_REPLY_H

#include <stddef.h>

#define MP_SMTP_REPLY_MAX_LINES 128
#define MP_SMTP_REPLY_MAX_TEXT 16384

struct mp_smtp_reply {
  int code;        /* 100..599, 0 until the first line */
  char enhanced[16]; /* "5.7.0" of the first line, "" if none */
  char *text;      /* the lines' text after "ddd-", joined by '\n' */
  size_t text_len;
  size_t lines;
  int done;        /* the last line was seen */
};

/* An empty reply; free with mp_smtp_reply_free (reset to reuse). */
void mp_smtp_reply_init(struct mp_smtp_reply *r);
void mp_smtp_reply_reset(struct mp_smtp_reply *r);
void mp_smtp_reply_free(struct mp_smtp_reply *r);

/* Adds one line (without CRLF): 0 when the reply is complete, MP_EAGAIN when
 * more lines follow, MP_E_PROTOCOL_ERROR for a malformed line (not three
 * digits in 200..599 for a final code... any code outside 100..599, a code
 * that changes between lines, a fourth byte other than ' ' or '-', too many
 * lines or too much text). */
int mp_smtp_reply_feed(struct mp_smtp_reply *r, const char *line, size_t len);

/* The n-th line's text (0-based) copied into buf; 0 or -1 if none. */
int mp_smtp_reply_line(const struct mp_smtp_reply *r, size_t n, char *buf,
                       size_t cap);

#endif
