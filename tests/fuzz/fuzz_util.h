/* Helpers the fuzz targets share: walking the input a line at a time and
 * a small PRNG seeded from the input, so every run of one input takes the
 * same path (libFuzzer wants deterministic targets). Header-only: each
 * target is one translation unit. */
#ifndef MP_FUZZ_UTIL_H
#define MP_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The targets' own scaffolding (these helpers, the feeder, the checks) is
 * not the code under test: it gets no coverage instrumentation, so its
 * edges and comparisons neither add noise to libFuzzer's features nor
 * cost a callback on every byte of every input. */
#if defined(__clang__) && __clang_major__ >= 13
#define FZ_NOCOV __attribute__((no_sanitize("coverage")))
#else
#define FZ_NOCOV
#endif

/* A cursor over the input's lines (split on '\n'; a '\r' before it is part
 * of the line, as the fuzzer chose it). */
struct fz_lines {
  const uint8_t *p;
  size_t left;
};

static inline FZ_NOCOV void fz_lines_init(struct fz_lines *it,
                                          const uint8_t *data, size_t size)
{
  it->p = data;
  it->left = size;
}

/* The next line in *line / *len (without its '\n'): 1, or 0 at the end.
 * A last line without '\n' counts; an input ending in '\n' has no empty
 * line after it. */
static inline FZ_NOCOV int fz_lines_next(struct fz_lines *it,
                                         const uint8_t **line, size_t *len)
{
  const uint8_t *nl;

  if (it->left == 0)
    return 0;
  nl = memchr(it->p, '\n', it->left);
  *line = it->p;
  if (nl == NULL) {
    *len = it->left;
    it->p += it->left;
    it->left = 0;
  } else {
    *len = (size_t)(nl - it->p);
    it->p = nl + 1;
    it->left -= *len + 1;
  }
  return 1;
}

/* FNV-1a over the input: the seed of the chunking PRNG. */
static inline FZ_NOCOV uint64_t fz_hash(const uint8_t *data, size_t size)
{
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < size; i++) {
    h ^= data[i];
    h *= 1099511628211ull;
  }
  return h ? h : 1;
}

/* xorshift64: the next pseudo-random number. */
static inline FZ_NOCOV uint64_t fz_next(uint64_t *state)
{
  uint64_t x = *state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *state = x;
  return x;
}

/* 1 if FUZZ_TOLERATE names what (a known bug a campaign looks past). */
static inline FZ_NOCOV int fz_tolerate(const char *what)
{
  const char *t = getenv("FUZZ_TOLERATE");
  return t != NULL && strstr(t, what) != NULL;
}

/* 1 if a decoded SCRAM server-first message names an iteration count
 * above 65536 ("...,i=4096"): the input FUZZ_TOLERATE=iter skips. */
static inline FZ_NOCOV int fz_big_iter(const uint8_t *d, size_t n)
{
  for (size_t i = 0; i + 2 < n; i++) {
    if ((i == 0 || d[i - 1] == ',') && d[i] == 'i' && d[i + 1] == '=') {
      unsigned long long v = 0;
      for (size_t j = i + 2; j < n && d[j] >= '0' && d[j] <= '9'; j++)
        if ((v = v * 10 + (d[j] - '0')) > 65536)
          return 1;
    }
  }
  return 0;
}

#endif
