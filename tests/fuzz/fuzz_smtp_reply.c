/* Fuzz target for wire/smtp_reply.c: the input split into lines, each fed
 * to mp_smtp_reply_feed; after a complete reply or an error the lines are
 * read back with mp_smtp_reply_line and the reply is reset. Checks the
 * header's promises on the way: the text stays within its bounds and is
 * NUL-terminated, a rejected line leaves the reply as it was. */
#include "wire/smtp_reply.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz_util.h"
#include "wire/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads every line back, into a small and a large buffer. */
static void read_back(const struct mp_smtp_reply *r)
{
  char small[8], big[MP_SMTP_REPLY_MAX_TEXT + 1];
  size_t total = 0;

  for (size_t n = 0; n < r->lines; n++) {
    if (mp_smtp_reply_line(r, n, small, sizeof small) != 0)
      abort();
    if (strlen(small) >= sizeof small)
      abort();
    if (mp_smtp_reply_line(r, n, big, sizeof big) != 0)
      abort();
    total += strlen(big) + (n > 0);
  }
  /* Lines may hold NULs, so strlen can only fall short of text_len. */
  if (total > r->text_len)
    abort();
  if (mp_smtp_reply_line(r, r->lines, big, sizeof big) != -1)
    abort();
  if (r->lines > 0 && mp_smtp_reply_line(r, 0, big, 0) != -1)
    abort();
}

/* The header's invariants after every call. */
static void check(const struct mp_smtp_reply *r)
{
  if (r->text_len > MP_SMTP_REPLY_MAX_TEXT ||
      r->lines > MP_SMTP_REPLY_MAX_LINES)
    abort();
  if (r->lines > 0 && (r->text == NULL || r->text[r->text_len] != '\0' ||
                       r->code < 200 || r->code > 599))
    abort();
  if (memchr(r->enhanced, '\0', sizeof r->enhanced) == NULL)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct mp_smtp_reply r;
  struct fz_lines it;
  const uint8_t *line;
  size_t len, lines_before, text_before;
  int rc, code_before;

  mp_smtp_reply_init(&r);
  fz_lines_init(&it, data, size);
  while (fz_lines_next(&it, &line, &len)) {
    lines_before = r.done ? 0 : r.lines;
    text_before = r.done ? 0 : r.text_len;
    code_before = r.done ? 0 : r.code;
    rc = mp_smtp_reply_feed(&r, (const char *)line, len);
    check(&r);
    if (rc == MP_EAGAIN)
      continue;
    if (rc == 0) {
      if (!r.done || r.lines == 0)
        abort();
      read_back(&r);
      mp_smtp_reply_reset(&r);
      continue;
    }
    if (rc != MP_E_PROTOCOL_ERROR && rc != MP_E_NO_RESOURCES)
      abort();
    /* A rejected line leaves the reply as it was. */
    if (r.lines != lines_before || r.text_len != text_before ||
        (lines_before > 0 && r.code != code_before))
      abort();
    read_back(&r);
    mp_smtp_reply_reset(&r);
  }
  read_back(&r);
  mp_smtp_reply_free(&r);
  return 0;
}
