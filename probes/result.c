/* Probe results: allocation, transcript, reply and names of phases. */
#include "probes/result.h"

#include "probes/names.h"
#include "wire/chunks.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TRANSCRIPT 400
#define MAX_TRANSCRIPT_LINE 512

static const char *const phase_names[MP_PHASE_COUNT] = {
#define MP_PHASE_STR(code, name) name,
    MP_PHASE_MAP(MP_PHASE_STR)
#undef MP_PHASE_STR
};

const char *mp_phase_name(enum mp_phase p)
{
  return mp_name_of(phase_names, MP_PHASE_COUNT, (int)p, "unknown");
}

int mp_phase_from_name(const char *name)
{
  return mp_name_find(phase_names, MP_PHASE_COUNT, name, 0);
}

struct mp_result *mp_result_new(void)
{
  struct mp_result *r = calloc(1, sizeof(*r));
  if (!r)
    return NULL;
  for (int i = 0; i < MP_PHASE_COUNT; i++)
    r->timings_us[i] = -1;
  r->messages = -1;
  r->octets = -1;
  r->found = -1;
  r->delivery_us = -1;
  r->deleted = -1;
  return r;
}

/* The transcript's text: lines are carved from chunks of TEXT_CHUNK bytes
 * (a longer line gets one of its own), freed with the result. */
#define TEXT_CHUNK 4096

void mp_result_free(struct mp_result *r)
{
  if (!r)
    return;
  mp_chunk_free(&r->text_chunks);
  free(r->transcript);
  free(r->detail);
  free(r->reply_text);
  free(r->resp_code);
  free(r->oauth_status);
  free(r->oauth_scope);
  free(r);
}

/* Copies a line for people into s (room for the line's first
 * MAX_TRANSCRIPT_LINE bytes and 4 more): control bytes and NULs become
 * '?', long lines are cut with "..."; keep_nl keeps the newlines of
 * multi-line replies. */
static void printable_into(char *s, const char *line, size_t len, int keep_nl)
{
  size_t n = len > MAX_TRANSCRIPT_LINE ? MAX_TRANSCRIPT_LINE : len;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)line[i];
    int ok = ch >= 0x20 || ch == '\t' || (keep_nl && ch == '\n');
    s[i] = !ok || ch == 0x7f ? '?' : (char)ch;
  }
  if (n < len) {
    memcpy(s + n, "...", 4);
  } else {
    s[n] = '\0';
  }
}

/* The room printable_into needs for a line of len bytes. */
static size_t printable_room(size_t len)
{
  return (len > MAX_TRANSCRIPT_LINE ? MAX_TRANSCRIPT_LINE : len) + 4;
}

/* printable_into a string of its own. */
static char *printable(const char *line, size_t len, int keep_nl)
{
  char *s = malloc(printable_room(len));
  if (s)
    printable_into(s, line, len, keep_nl);
  return s;
}

/* Makes room for one more transcript line: 0, or -1. */
static int transcript_grow(struct mp_result *r)
{
  if ((r->ntranscript & (r->ntranscript - 1)) == 0) {
    size_t cap = r->ntranscript ? r->ntranscript * 2 : 16;
    void *p = realloc(r->transcript, cap * sizeof(*r->transcript));
    if (!p)
      return -1;
    r->transcript = p;
  }
  return 0;
}

void mp_result_add_line(struct mp_result *r, char dir, uint64_t t_us,
                        const char *line, size_t len)
{
  if (r->ntranscript >= MAX_TRANSCRIPT)
    return;
  if (r->ntranscript == MAX_TRANSCRIPT - 1) {
    line = "(transcript cut here)";
    len = strlen(line);
    dir = '*';
  }
  char *copy;
  if (transcript_grow(r) < 0 ||
      !(copy = mp_chunk_room(&r->text_chunks, printable_room(len), TEXT_CHUNK)))
    return;
  printable_into(copy, line, len, 0);
  r->transcript[r->ntranscript].dir = dir;
  r->transcript[r->ntranscript].t_us = t_us;
  r->transcript[r->ntranscript].line = copy;
  r->ntranscript++;
}

int mp_result_keep_line(struct mp_result *r, char dir, uint64_t t_us,
                        const char *line, size_t len)
{
  char *copy;
  if (transcript_grow(r) < 0 ||
      !(copy = mp_chunk_room(&r->text_chunks, len + 1, TEXT_CHUNK)))
    return -1;
  memcpy(copy, line, len);
  copy[len] = '\0';
  r->transcript[r->ntranscript].dir = dir;
  r->transcript[r->ntranscript].t_us = t_us;
  r->transcript[r->ntranscript].line = copy;
  r->ntranscript++;
  return 0;
}

void mp_result_set_reply(struct mp_result *r, int code, const char *text)
{
  r->reply_code = code;
  free(r->reply_text);
  r->reply_text = text ? printable(text, strlen(text), 1) : NULL;
}

void mp_result_set_detail(struct mp_result *r, const char *fmt, ...)
{
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  free(r->detail);
  r->detail = strdup(buf);
}
