/* The credential masker (probes/mask.h). */
#include "probes/mask.h"

#include "probes/names.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The length of the IMAP astring at s (RFC 9051 9): a quoted string with
 * its escapes, else an atom up to the next space. */
static size_t astring_len(const char *s)
{
  if (*s != '"')
    return strcspn(s, " ");
  size_t i = 1;
  while (s[i] && s[i] != '"')
    i += s[i] == '\\' && s[i + 1] ? 2 : 1;
  return s[i] == '"' ? i + 1 : i;
}

/* The length of what stays in clear of the arguments arg of a login verb
 * (n bytes at verb): the mechanism of AUTH and AUTHENTICATE, the user of
 * LOGIN and APOP, nothing of PASS. */
static size_t clear_args(const char *verb, size_t n, const char *arg)
{
  if (mp_word_is(verb, n, "LOGIN"))
    return astring_len(arg); /* RFC 9051 6.2.3: user, then password */
  if (mp_word_is(verb, n, "APOP")) {
    /* RFC 1939 7: APOP name digest; the digest is the last word. */
    size_t end = strlen(arg);
    while (end > 0 && arg[end - 1] == ' ')
      end--;
    const char *last = memrchr(arg, ' ', end);
    return last ? (size_t)(last - arg) : end;
  }
  return strcspn(arg, " "); /* AUTH mechanism [initial-response] */
}

size_t mp_mask_line(const char *line, int response, char *out, size_t cap)
{
  static const char upper[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                            "abcdefghijklmnopqrstuvwxyz0123456789+/=";
  size_t len = strlen(line);
  int n;
  if (response)
    return (size_t)snprintf(out, cap, "****");
  /* An IMAP tag comes first: skip one atom when a login verb follows. */
  const char *verb = line;
  size_t vl = strcspn(line, " ");
  if (line[vl] == ' ' && (strncasecmp(line + vl + 1, "LOGIN ", 6) == 0 ||
                          strncasecmp(line + vl + 1, "AUTHENTICATE ", 13) == 0))
    verb = line + vl + 1;
  vl = strcspn(verb, " ");
  if (mp_word_is(verb, vl, "PASS") || mp_word_is(verb, vl, "AUTH") ||
      mp_word_is(verb, vl, "APOP") || mp_word_is(verb, vl, "LOGIN") ||
      mp_word_is(verb, vl, "AUTHENTICATE")) {
    size_t keep = vl; /* of verb, in clear */
    if (verb[vl] == ' ' && !mp_word_is(verb, vl, "PASS"))
      keep = vl + 1 + clear_args(verb, vl, verb + vl + 1);
    if (verb[keep] == ' ')
      n = snprintf(out, cap, "%.*s ****", (int)(verb - line + keep), line);
    else
      n = snprintf(out, cap, "%s", line); /* nothing secret follows */
  } else if (len >= 4 && strspn(line, b64) == len &&
             strspn(line, upper) < len) {
    n = snprintf(out, cap, "****"); /* base64, but not a command word */
  } else {
    n = snprintf(out, cap, "%s", line);
  }
  return n < 0 ? 0 : (size_t)n;
}
