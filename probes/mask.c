/* The credential masker (probes/mask.h). */
#include "probes/mask.h"

#include "probes/names.h"

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

/* Copies n bytes of s and then tail (NUL-terminated) into out, cut to cap
 * as snprintf cuts; returns the length it would have had. */
static size_t put(char *out, size_t cap, const char *s, size_t n,
                  const char *tail)
{
  size_t tl = strlen(tail);
  if (cap > 0) {
    size_t a = n < cap - 1 ? n : cap - 1;
    memcpy(out, s, a);
    size_t b = tl < cap - 1 - a ? tl : cap - 1 - a;
    memcpy(out + a, tail, b);
    out[a + b] = '\0';
  }
  return n + tl;
}

/* 1 when the n bytes at s are the login verb that takes secrets: PASS,
 * AUTH, APOP, LOGIN, AUTHENTICATE. The first letter rules most lines out
 * before any compare: the masker sees every line a probe sends. */
static int login_verb(const char *s, size_t n)
{
  switch (s[0] | 0x20) {
  case 'p':
    return mp_word_is(s, n, "PASS");
  case 'a':
    return mp_word_is(s, n, "AUTH") || mp_word_is(s, n, "APOP") ||
           mp_word_is(s, n, "AUTHENTICATE");
  case 'l':
    return mp_word_is(s, n, "LOGIN");
  default:
    return 0;
  }
}

/* 1 when line is at least 4 bytes of base64 (RFC 4648 4) and not all
 * capital letters (a command word such as QUIT or STARTTLS): a SASL
 * response sent on its own line. Stops at the first byte that rules it
 * out (the space of any command with arguments). */
static int bare_base64(const char *line)
{
  size_t i;
  int lower = 0;
  for (i = 0; line[i]; i++) {
    unsigned char c = (unsigned char)line[i];
    if (c >= 'A' && c <= 'Z')
      continue;
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
        c == '/' || c == '=')
      lower = 1;
    else
      return 0;
  }
  return i >= 4 && lower;
}

size_t mp_mask_line(const char *line, int response, char *out, size_t cap)
{
  if (response)
    return put(out, cap, "", 0, "****");
  /* An IMAP tag comes first: skip one atom when a login verb follows. */
  const char *verb = line;
  size_t vl = strcspn(line, " ");
  if (line[vl] == ' ' &&
      ((line[vl + 1] | 0x20) == 'l' || (line[vl + 1] | 0x20) == 'a') &&
      (strncasecmp(line + vl + 1, "LOGIN ", 6) == 0 ||
       strncasecmp(line + vl + 1, "AUTHENTICATE ", 13) == 0))
    verb = line + vl + 1;
  vl = strcspn(verb, " ");
  if (vl > 0 && login_verb(verb, vl)) {
    size_t keep = vl; /* of verb, in clear */
    if (verb[vl] == ' ' && !mp_word_is(verb, vl, "PASS"))
      keep = vl + 1 + clear_args(verb, vl, verb + vl + 1);
    if (verb[keep] == ' ')
      return put(out, cap, line, (size_t)(verb - line) + keep, " ****");
    /* nothing secret follows */
  } else if (bare_base64(line)) {
    return put(out, cap, "", 0, "****"); /* base64, not a command word */
  }
  return put(out, cap, line, strlen(line), "");
}
