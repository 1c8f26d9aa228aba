/* SMTP replies (RFC 5321 4.2): one or more lines "ddd-text", the last
 * "ddd text" (or a bare "ddd"); every line has the same code. Fed a line at
 * a time by the line engine; bounded in lines and bytes. Also RFC 3463
 * enhanced status codes ("5.7.0") at the start of the text (RFC 2034). */
#ifndef MP_SMTP_REPLY_H
#define MP_SMTP_REPLY_H

#include <stddef.h>

#define MP_SMTP_REPLY_MAX_LINES 128
#define MP_SMTP_REPLY_MAX_TEXT 16384

struct mp_smtp_reply {
  int code;          /* 200..599, 0 until the first line */
  char enhanced[16]; /* "5.7.0" of the first line, "" if none */
  char *text;        /* the lines' text after "ddd-", joined by '\n';
                        NUL-terminated, may hold NULs: trust text_len;
                        "" (never NULL) once a line was fed */
  size_t text_len;   /* at most MP_SMTP_REPLY_MAX_TEXT */
  size_t lines;
  int done; /* the last line was seen */
  /* Private to smtp_reply.c. */
  size_t cap;                                 /* bytes allocated at text */
  unsigned line_end[MP_SMTP_REPLY_MAX_LINES]; /* each line's end in text */
};

/* An empty reply; free with mp_smtp_reply_free (reset to reuse). Reset
 * keeps the buffer; free releases it and leaves an empty reply. */
void mp_smtp_reply_init(struct mp_smtp_reply *r);
void mp_smtp_reply_reset(struct mp_smtp_reply *r);
void mp_smtp_reply_free(struct mp_smtp_reply *r);

/* Adds one line (without CRLF; len bytes, NULs allowed): 0 when the reply
 * is complete, MP_EAGAIN when more lines follow, MP_E_PROTOCOL_ERROR for a
 * malformed line (not three digits, a code outside 200..599 (RFC 5321
 * 4.2.1 and 4.2: SMTP uses no 1yz replies), a code that changes between
 * lines, a fourth byte other than ' ' or '-', more than
 * MP_SMTP_REPLY_MAX_LINES lines or MP_SMTP_REPLY_MAX_TEXT bytes of text),
 * MP_E_NO_RESOURCES if memory runs out. A rejected line leaves the reply
 * as it was. Feeding a complete reply starts a new one (as reset). */
int mp_smtp_reply_feed(struct mp_smtp_reply *r, const char *line, size_t len);

/* The n-th line's text (0-based) copied into buf, NUL-terminated and cut
 * to cap - 1 bytes; 0, or -1 if there is no such line (or cap is 0). */
int mp_smtp_reply_line(const struct mp_smtp_reply *r, size_t n, char *buf,
                       size_t cap);

#endif
