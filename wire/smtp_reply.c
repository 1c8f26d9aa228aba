#include "wire/smtp_reply.h"

#include "wire/errors.h"
#include "wire/grow.h"

#include <stdlib.h>
#include <string.h>

void mp_smtp_reply_init(struct mp_smtp_reply *r)
{
  memset(r, 0, sizeof *r);
}

void mp_smtp_reply_reset(struct mp_smtp_reply *r)
{
  r->code = 0;
  r->enhanced[0] = '\0';
  r->text_len = 0;
  if (r->text != NULL)
    r->text[0] = '\0';
  r->lines = 0;
  r->done = 0;
}

void mp_smtp_reply_free(struct mp_smtp_reply *r)
{
  free(r->text);
  mp_smtp_reply_init(r);
}

/* RFC 3463 section 2: status-code = class "." subject "." detail, class
 * "2" / "4" / "5", subject and detail 1*3digit; RFC 2034 section 4: it
 * starts the text and a space (or the end) follows it. The class must be
 * the reply's first digit. */
static void parse_enhanced(struct mp_smtp_reply *r, const char *t, size_t len)
{
  size_t i = 0, digits;
  int part;

  if (len < 5 || t[0] != '0' + r->code / 100)
    return;
  i = 1;
  for (part = 0; part < 2; part++) {
    if (i >= len || t[i] != '.')
      return;
    i++;
    for (digits = 0; i < len && t[i] >= '0' && t[i] <= '9'; i++)
      digits++;
    if (digits < 1 || digits > 3)
      return;
  }
  if (i < len && t[i] != ' ')
    return;
  memcpy(r->enhanced, t, i);
  r->enhanced[i] = '\0';
}

int mp_smtp_reply_feed(struct mp_smtp_reply *r, const char *line, size_t len)
{
  const char *t;
  size_t tlen, need;
  int code, last;

  if (r->done)
    mp_smtp_reply_reset(r);
  /* RFC 5321 4.2: Reply-code = %x32-35 %x30-35 %x30-39; we take any
   * second digit but only 2yz..5yz (4.2.1: no 1yz in SMTP). */
  if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
      line[1] > '9' || line[2] < '0' || line[2] > '9')
    return MP_E_PROTOCOL_ERROR;
  code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  /* 4.2.1: every line of a multiline reply carries the same code. */
  if (r->lines > 0 && code != r->code)
    return MP_E_PROTOCOL_ERROR;
  /* "ddd" alone ends a reply (4.2: Reply-line = *( Reply-code "-"
   * [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF). */
  if (len == 3) {
    last = 1;
    t = line + 3;
    tlen = 0;
  } else if (line[3] == ' ' || line[3] == '-') {
    last = line[3] == ' ';
    t = line + 4;
    tlen = len - 4;
  } else {
    return MP_E_PROTOCOL_ERROR;
  }
  if (r->lines >= MP_SMTP_REPLY_MAX_LINES)
    return MP_E_PROTOCOL_ERROR;
  need = r->text_len + (r->lines > 0) + tlen;
  if (need > MP_SMTP_REPLY_MAX_TEXT)
    return MP_E_PROTOCOL_ERROR;
  if ((r->text == NULL || need + 1 > r->cap) &&
      mp_grow(&r->text, &r->cap, need + 1, 128) < 0)
    return MP_E_NO_RESOURCES;
  if (r->lines > 0)
    r->text[r->text_len++] = '\n';
  else
    r->code = code;
  if (tlen > 0)
    memcpy(r->text + r->text_len, t, tlen);
  r->text_len += tlen;
  r->text[r->text_len] = '\0';
  r->line_end[r->lines] = (unsigned)r->text_len;
  if (r->lines == 0)
    parse_enhanced(r, t, tlen);
  r->lines++;
  if (!last)
    return MP_EAGAIN;
  r->done = 1;
  return 0;
}

int mp_smtp_reply_line(const struct mp_smtp_reply *r, size_t n, char *buf,
                       size_t cap)
{
  size_t start, end, len;

  if (n >= r->lines || cap == 0)
    return -1;
  /* Line n starts after line n - 1 and its '\n'. */
  start = n == 0 ? 0 : r->line_end[n - 1] + 1;
  end = r->line_end[n];
  len = end - start;
  if (len > cap - 1)
    len = cap - 1;
  memcpy(buf, r->text + start, len);
  buf[len] = '\0';
  return 0;
}
