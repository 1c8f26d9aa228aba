#include "harness/report/json.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/grow.h"

void mp_json_init(struct mp_json *j)
{
  memset(j, 0, sizeof(*j));
}

void mp_json_free(struct mp_json *j)
{
  free(j->buf);
  mp_json_init(j);
}

char *mp_json_take(struct mp_json *j)
{
  char *out = j->buf;
  int oom = j->oom;

  if (!out && !oom)
    out = strdup("");
  if (oom) {
    free(out);
    out = NULL;
  }
  mp_json_init(j);
  return out;
}

static int grow(struct mp_json *j, size_t more)
{
  size_t need;

  if (j->oom)
    return -1;
  need = j->len + more + 1;
  if (need <= j->cap)
    return 0;
  if (mp_grow(&j->buf, &j->cap, need, 256) < 0) {
    j->oom = 1;
    return -1;
  }
  return 0;
}

void mp_json_raw(struct mp_json *j, const char *s, size_t len)
{
  if (grow(j, len) < 0)
    return;
  memcpy(j->buf + j->len, s, len);
  j->len += len;
  j->buf[j->len] = '\0';
}

static void put(struct mp_json *j, const char *s)
{
  mp_json_raw(j, s, strlen(s));
}

static void newline(struct mp_json *j)
{
  int i;

  if (!j->pretty)
    return;
  put(j, "\n");
  for (i = 0; i < j->depth; i++)
    put(j, "  ");
}

/* Before any value or key: the comma and, when pretty, the indent. */
static void before_value(struct mp_json *j)
{
  if (j->after_key) {
    j->after_key = 0;
    return;
  }
  if (j->depth > 0) {
    if (j->count[j->depth])
      put(j, ",");
    newline(j);
  }
  j->count[j->depth] = 1;
}

static void open_level(struct mp_json *j, const char *c)
{
  before_value(j);
  put(j, c);
  if (j->depth < MP_JSON_MAX_DEPTH - 1)
    j->depth++;
  j->count[j->depth] = 0;
}

static void close_level(struct mp_json *j, const char *c)
{
  int had = j->count[j->depth];

  if (j->depth > 0)
    j->depth--;
  if (had)
    newline(j);
  put(j, c);
}

void mp_json_obj_begin(struct mp_json *j)
{
  open_level(j, "{");
}

void mp_json_obj_end(struct mp_json *j)
{
  close_level(j, "}");
}

void mp_json_arr_begin(struct mp_json *j)
{
  open_level(j, "[");
}

void mp_json_arr_end(struct mp_json *j)
{
  close_level(j, "]");
}

size_t mp_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
  uint32_t c;
  size_t n, i;

  if (len == 0)
    return 0;
  if (s[0] < 0x80) {
    *cp = s[0];
    return 1;
  }
  if (s[0] >= 0xc2 && s[0] <= 0xdf) {
    n = 2;
    c = s[0] & 0x1f;
  } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
    n = 3;
    c = s[0] & 0x0f;
  } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
    n = 4;
    c = s[0] & 0x07;
  } else {
    return 0; /* a continuation byte, C0/C1 (overlong) or F5..FF */
  }
  if (len < n)
    return 0;
  for (i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    c = (c << 6) | (s[i] & 0x3f);
  }
  /* RFC 3629 3: no overlong forms, no surrogates, nothing past U+10FFFF. */
  if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) || c > 0x10ffff ||
      (c >= 0xd800 && c <= 0xdfff))
    return 0;
  *cp = c;
  return n;
}

void mp_json_escape(struct mp_json *j, const char *s, size_t len)
{
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0, run = 0, n;
  uint32_t cp;
  char esc[8];

  while (i < len) {
    unsigned char c = p[i];
    const char *rep = NULL;

    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      i++;
      run++;
      continue;
    }
    if (c >= 0x80) {
      n = mp_utf8_decode(p + i, len - i, &cp);
      if (n > 0) {
        i += n;
        run += n;
        continue;
      }
    }
    /* Flush the plain run, then write this byte's escape. */
    mp_json_raw(j, (const char *)p + i - run, run);
    run = 0;
    switch (c) {
    case '"':
      rep = "\\\"";
      break;
    case '\\':
      rep = "\\\\";
      break;
    case '\n':
      rep = "\\n";
      break;
    case '\r':
      rep = "\\r";
      break;
    case '\t':
      rep = "\\t";
      break;
    case '\b':
      rep = "\\b";
      break;
    case '\f':
      rep = "\\f";
      break;
    default:
      if (c < 0x20) {
        snprintf(esc, sizeof(esc), "\\u%04x", c);
        rep = esc;
      } else {
        rep = "\\ufffd"; /* not valid UTF-8 */
      }
    }
    put(j, rep);
    i++;
  }
  mp_json_raw(j, (const char *)p + i - run, run);
}

void mp_json_key(struct mp_json *j, const char *key)
{
  before_value(j);
  put(j, "\"");
  mp_json_escape(j, key, strlen(key));
  put(j, j->pretty ? "\": " : "\":");
  j->after_key = 1;
}

void mp_json_strn(struct mp_json *j, const char *s, size_t len)
{
  if (!s) {
    mp_json_null(j);
    return;
  }
  before_value(j);
  put(j, "\"");
  mp_json_escape(j, s, len);
  put(j, "\"");
}

void mp_json_str(struct mp_json *j, const char *s)
{
  mp_json_strn(j, s, s ? strlen(s) : 0);
}

void mp_json_int(struct mp_json *j, int64_t v)
{
  char b[32];

  before_value(j);
  snprintf(b, sizeof(b), "%" PRId64, v);
  put(j, b);
}

void mp_json_uint(struct mp_json *j, uint64_t v)
{
  char b[32];

  before_value(j);
  snprintf(b, sizeof(b), "%" PRIu64, v);
  put(j, b);
}

void mp_json_double(struct mp_json *j, double v, int decimals)
{
  char b[64];

  if (!isfinite(v)) {
    mp_json_null(j); /* JSON has no NaN or infinity */
    return;
  }
  before_value(j);
  if (decimals < 0 || decimals > 9)
    decimals = 6;
  snprintf(b, sizeof(b), "%.*f", decimals, v);
  put(j, b);
}

void mp_json_bool(struct mp_json *j, int v)
{
  before_value(j);
  put(j, v ? "true" : "false");
}

void mp_json_null(struct mp_json *j)
{
  before_value(j);
  put(j, "null");
}

void mp_json_kv_str(struct mp_json *j, const char *key, const char *s)
{
  mp_json_key(j, key);
  mp_json_str(j, s);
}

void mp_json_kv_int(struct mp_json *j, const char *key, int64_t v)
{
  mp_json_key(j, key);
  mp_json_int(j, v);
}

void mp_json_kv_uint(struct mp_json *j, const char *key, uint64_t v)
{
  mp_json_key(j, key);
  mp_json_uint(j, v);
}

void mp_json_kv_double(struct mp_json *j, const char *key, double v,
                       int decimals)
{
  mp_json_key(j, key);
  mp_json_double(j, v, decimals);
}

void mp_json_kv_bool(struct mp_json *j, const char *key, int v)
{
  mp_json_key(j, key);
  mp_json_bool(j, v);
}

void mp_json_vprintf(struct mp_json *j, const char *fmt, va_list ap)
{
  char small[512];
  va_list again;
  int n;

  va_copy(again, ap);
  n = vsnprintf(small, sizeof(small), fmt, ap);
  if (n >= 0 && (size_t)n < sizeof(small)) {
    mp_json_raw(j, small, (size_t)n);
  } else if (n >= 0) {
    char *big = malloc((size_t)n + 1);
    if (big == NULL) {
      j->oom = 1;
    } else {
      vsnprintf(big, (size_t)n + 1, fmt, again);
      mp_json_raw(j, big, (size_t)n);
      free(big);
    }
  }
  va_end(again);
}

void mp_json_printf(struct mp_json *j, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  mp_json_vprintf(j, fmt, ap);
  va_end(ap);
}
