/* A tiny JSON writer (RFC 8259) into a growing buffer. Strings are escaped
 * so the output is always valid: quotes, backslashes and control bytes are
 * escaped, and bytes that are not valid UTF-8 become U+FFFD. Commas and
 * nesting are tracked, so callers only say what comes next. */
#ifndef MP_JSON_H
#define MP_JSON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define MP_JSON_MAX_DEPTH 32

struct mp_json {
  char *buf; /* NUL-terminated output so far (NULL before any) */
  size_t len;
  size_t cap;
  int oom; /* an allocation failed: the output is incomplete */
  int depth;
  int pretty;                             /* 1: newlines and 2-space indent */
  unsigned char count[MP_JSON_MAX_DEPTH]; /* values at each level (0/1) */
  unsigned char after_key;                /* a key was just written */
};

/* Starts an empty writer. */
void mp_json_init(struct mp_json *j);

/* Frees the buffer. */
void mp_json_free(struct mp_json *j);

/* Takes the output (malloc'd, NUL-terminated; "" when empty) and resets
 * the writer. NULL if an allocation failed on the way. */
char *mp_json_take(struct mp_json *j);

/* Objects and arrays. */
void mp_json_obj_begin(struct mp_json *j);
void mp_json_obj_end(struct mp_json *j);
void mp_json_arr_begin(struct mp_json *j);
void mp_json_arr_end(struct mp_json *j);

/* An object key; the next call writes its value. */
void mp_json_key(struct mp_json *j, const char *key);

/* Values. mp_json_str(NULL) writes null. */
void mp_json_str(struct mp_json *j, const char *s);
void mp_json_strn(struct mp_json *j, const char *s, size_t len);
void mp_json_int(struct mp_json *j, int64_t v);
void mp_json_uint(struct mp_json *j, uint64_t v);
void mp_json_double(struct mp_json *j, double v, int decimals);
void mp_json_bool(struct mp_json *j, int v);
void mp_json_null(struct mp_json *j);

/* A key and its value in one call: mp_json_key, then the value. */
void mp_json_kv_str(struct mp_json *j, const char *key, const char *s);
void mp_json_kv_int(struct mp_json *j, const char *key, int64_t v);
void mp_json_kv_uint(struct mp_json *j, const char *key, uint64_t v);
void mp_json_kv_double(struct mp_json *j, const char *key, double v,
                       int decimals);
void mp_json_kv_bool(struct mp_json *j, const char *key, int v);

/* Appends the escaped form of s[0..len) without quotes to j's buffer,
 * outside of the value bookkeeping (for YAML double-quoted scalars, which
 * accept JSON escapes). */
void mp_json_escape(struct mp_json *j, const char *s, size_t len);

/* printf onto the buffer, outside of the JSON bookkeeping (for the text
 * forms that share the writer's growing buffer). */
__attribute__((format(printf, 2, 3))) void mp_json_printf(struct mp_json *j,
                                                          const char *fmt, ...);
void mp_json_vprintf(struct mp_json *j, const char *fmt, va_list ap);

/* Appends raw bytes (no bookkeeping, no escaping). */
void mp_json_raw(struct mp_json *j, const char *s, size_t len);

/* Decodes one UTF-8 sequence at s (len bytes available): its length (1-4)
 * with *cp set, or 0 when the bytes there are not valid UTF-8 (overlong
 * forms, surrogates and values above U+10FFFF are invalid, RFC 3629 3). */
size_t mp_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);

#endif
