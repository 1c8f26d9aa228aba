/* `mailprobe report`'s three forms of a history's numbers
 * (harness/report/history_stats.h): text for people, JSON for programs,
 * and one self-contained HTML file with SVG charts (an availability strip
 * and latency over time per phase). Pure: they write to a FILE *. */
#ifndef MP_HISTORY_REPORT_H
#define MP_HISTORY_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct mp_hs;

void mp_hs_write_text(FILE *out, const struct mp_hs *hs);
void mp_hs_write_json(FILE *out, const struct mp_hs *hs);
void mp_hs_write_html(FILE *out, const struct mp_hs *hs);

/* "2026-12-07 01:02:03" (UTC) for t in ms since the epoch. */
void mp_hs_time(char *buf, size_t len, uint64_t t_ms);

/* "1h 2m 3s", "4.5s" for a length in ms. */
void mp_hs_length(char *buf, size_t len, uint64_t ms);

/* An outage's start, end and length for people, each into a buffer of
 * cap bytes; an outage still going has end "still down" and length "-". */
struct mp_hs_outage;
void mp_hs_outage_text(const struct mp_hs_outage *o, char *start, char *end,
                       char *len, size_t cap);

#endif
