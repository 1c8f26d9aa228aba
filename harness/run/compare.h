/* The runner's diffs: a list of lines for people, one per mismatch
 * ("error: expected timeout, got connection_closed"), and the glob match
 * the server assertions use. The comparison of a result with a case's
 * expect (mp_run_compare, mp_run_compare_run) is declared in
 * harness/run/runner.h and lives in compare.c with these. */
#ifndef MP_COMPARE_H
#define MP_COMPARE_H

#include <stdarg.h>
#include <stddef.h>

/* Appends a printf-formatted line (at most 1 KiB) to the malloc'd array
 * *v of *n malloc'd strings; on allocation failure the line is dropped. */
void mp_diff_add(char ***v, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The same with a va_list, the line starting with prefix ("run 2: "). */
void mp_diff_vadd(char ***v, size_t *n, const char *prefix, const char *fmt,
                  va_list ap) __attribute__((format(printf, 4, 0)));

/* 1 if text matches the shell glob pattern, case-insensitively. */
int mp_glob_match(const char *pattern, const char *text);

#endif
