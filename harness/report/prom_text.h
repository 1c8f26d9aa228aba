/* Prometheus text exposition (format 0.0.4) onto a growing buffer (the
 * JSON writer's, harness/report/json.h): metric heads and escaped label
 * values, for every writer of Prometheus text. Pure. */
#ifndef MP_PROM_TEXT_H
#define MP_PROM_TEXT_H

struct mp_json;

/* Writes name="value" with backslash, double quote and newline escaped. */
void mp_prom_label(struct mp_json *b, const char *name, const char *v);

/* Writes "# HELP metric help" and "# TYPE metric type". */
void mp_prom_head(struct mp_json *b, const char *metric, const char *type,
                  const char *help);

#endif
