/* YAML strings and the scrubber for recorded cases
 * (harness/record/record_text.h). */
#include "harness/record/record_text.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wire/codec.h"

int mp_rec_is_text(const char *s, size_t len)
{
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < len;) {
    unsigned c = p[i];
    if (c == 0 || c == '\r' || c == '\n')
      return 0;
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t n = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (n == 0 || c >= 0xf5 || i + n > len)
      return 0;
    for (size_t k = 1; k < n; k++)
      if ((p[i + k] & 0xc0) != 0x80)
        return 0;
    /* overlong 3/4-byte forms, surrogates and past U+10FFFF */
    if ((c == 0xe0 && p[i + 1] < 0xa0) || (c == 0xed && p[i + 1] >= 0xa0) ||
        (c == 0xf0 && p[i + 1] < 0x90) || (c == 0xf4 && p[i + 1] >= 0x90))
      return 0;
    i += n;
  }
  return 1;
}

void mp_rec_yaml_str(FILE *f, const char *s, size_t len)
{
  fputc('"', f);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c == '\t')
      fputs("\\t", f);
    else if (c < 0x20 || c == 0x7f)
      fprintf(f, "\\x%02x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

void mp_rec_yaml_hex(FILE *f, const char *s, size_t len)
{
  fputc('"', f);
  for (size_t i = 0; i < len; i++)
    fprintf(f, i ? " %02x" : "%02x", (unsigned char)s[i]);
  fputc('"', f);
}

int mp_rec_scrub_add(struct mp_rec_scrub *sc, const char *from, const char *to)
{
  if (!from || !from[0] || strcmp(from, to) == 0)
    return 0;
  for (size_t i = 0; i < sc->n; i++)
    if (strcmp(sc->from[i], from) == 0)
      return 0;
  if (sc->n >= MP_REC_MAX_SWAPS)
    return -1;
  sc->from[sc->n] = strdup(from);
  sc->to[sc->n] = strdup(to);
  if (!sc->from[sc->n] || !sc->to[sc->n]) {
    free(sc->from[sc->n]);
    free(sc->to[sc->n]);
    return -1;
  }
  sc->n++;
  return 0;
}

int mp_rec_scrub_secret(struct mp_rec_scrub *sc, const char *password)
{
  static const char stars[] = "********";
  if (!password || !password[0])
    return 0;
  size_t len = strlen(password);
  char *b64 = mp_b64_encode(password, len);
  char *hex = malloc(len * 2 + 1);
  int rc = -1;
  if (b64 && hex) {
    mp_hex((const unsigned char *)password, len, hex);
    char *up = strdup(hex);
    for (char *c = up; c && *c; c++)
      *c = (char)toupper((unsigned char)*c);
    /* base64 without its padding matches inside longer blobs too */
    char *bare = strdup(b64);
    char *eq = bare ? strchr(bare, '=') : NULL;
    if (eq)
      *eq = '\0';
    rc = up && bare && mp_rec_scrub_add(sc, password, stars) == 0 &&
                 mp_rec_scrub_add(sc, b64, stars) == 0 &&
                 (strlen(bare) < 4 || mp_rec_scrub_add(sc, bare, stars) == 0) &&
                 mp_rec_scrub_add(sc, hex, stars) == 0 &&
                 mp_rec_scrub_add(sc, up, stars) == 0
             ? 0
             : -1;
    free(up);
    free(bare);
  }
  free(b64);
  free(hex);
  return rc;
}

static int is_label_char(int c)
{
  return isalnum(c) || c == '-' || c == '_';
}

/* Names we write ourselves, never to be replaced. */
static int ours(const char *name)
{
  static const char *const keep[] = {".example.test", ".example.net",
                                     ".example.com", ".invalid", NULL};
  size_t n = strlen(name);
  for (size_t i = 0; keep[i]; i++) {
    size_t k = strlen(keep[i]);
    if (n >= k && strcasecmp(name + n - k, keep[i]) == 0)
      return 1;
  }
  return strcasecmp(name, "example.test") == 0 ||
         strcasecmp(name, "example.net") == 0 ||
         strncmp(name, "192.0.2.", 8) == 0 || strncmp(name, "127.", 4) == 0;
}

/* A dotted name of two labels or more with a letter in the last, or an
 * IPv4 address: 1 name, 2 address, 0 neither. */
static int classify(const char *w)
{
  int dots = 0, digits_only = 1;
  const char *last = w;
  for (const char *c = w; *c; c++) {
    if (*c == '.') {
      dots++;
      last = c + 1;
    } else if (!isdigit((unsigned char)*c)) {
      digits_only = 0;
    }
  }
  if (digits_only && dots == 3)
    return 2;
  if (dots < 1 || !*last)
    return 0;
  int alpha = 0;
  for (const char *c = last; *c; c++)
    alpha |= isalpha((unsigned char)*c);
  return alpha && strlen(last) >= 2 ? 1 : 0;
}

int mp_rec_scrub_learn(struct mp_rec_scrub *sc, const char *s, size_t len)
{
  size_t i = 0;
  while (i < len) {
    if (!is_label_char((unsigned char)s[i])) {
      i++;
      continue;
    }
    size_t st = i;
    while (i < len && (is_label_char((unsigned char)s[i]) || s[i] == '.'))
      i++;
    /* "250-mx.example.com": a reply code and its dash come first */
    if (i - st > 4 && isdigit((unsigned char)s[st]) &&
        isdigit((unsigned char)s[st + 1]) &&
        isdigit((unsigned char)s[st + 2]) && s[st + 3] == '-')
      st += 4;
    size_t n = i - st;
    while (n > 0 && s[st + n - 1] == '.')
      n--;
    if (n == 0 || n > 253)
      continue;
    char w[256], to[64];
    memcpy(w, s + st, n);
    w[n] = '\0';
    int kind = classify(w);
    if (kind == 0 || ours(w))
      continue;
    int known = 0;
    for (size_t k = 0; k < sc->n; k++)
      known |= strcmp(sc->from[k], w) == 0;
    if (known)
      continue;
    if (kind == 2)
      snprintf(to, sizeof(to), "192.0.2.%u", ++sc->ips % 254 + 1);
    else
      snprintf(to, sizeof(to), "host%u.example.net", ++sc->hosts);
    if (mp_rec_scrub_add(sc, w, to) < 0)
      return -1;
  }
  return 0;
}

char *mp_rec_scrub_apply(const struct mp_rec_scrub *sc, const char *s,
                         size_t len, size_t *outlen)
{
  /* The longest match at each position wins, so "mx.a.com" goes before
   * "a.com" and a password's base64 before a shorter prefix. */
  size_t cap = len + 1, n = 0;
  char *out = malloc(cap);
  if (!out)
    return NULL;
  for (size_t i = 0; i < len;) {
    size_t best = 0, blen = 0;
    for (size_t k = 0; k < sc->n; k++) {
      size_t fl = strlen(sc->from[k]);
      if (fl > blen && fl <= len - i && memcmp(s + i, sc->from[k], fl) == 0) {
        best = k;
        blen = fl;
      }
    }
    const char *add = blen ? sc->to[best] : s + i;
    size_t alen = blen ? strlen(sc->to[best]) : 1;
    if (n + alen + 1 > cap) {
      cap = (n + alen + 1) * 2;
      char *p = realloc(out, cap);
      if (!p) {
        free(out);
        return NULL;
      }
      out = p;
    }
    memcpy(out + n, add, alen);
    n += alen;
    i += blen ? blen : 1;
  }
  out[n] = '\0';
  if (outlen)
    *outlen = n;
  return out;
}

void mp_rec_scrub_free(struct mp_rec_scrub *sc)
{
  for (size_t i = 0; i < sc->n; i++) {
    free(sc->from[i]);
    free(sc->to[i]);
  }
  memset(sc, 0, sizeof(*sc));
}
