/* Prometheus text exposition helpers (harness/report/prom_text.h). */
#include "harness/report/prom_text.h"

#include "harness/report/json.h"

void mp_prom_label(struct mp_json *b, const char *name, const char *v)
{
  const char *p;

  mp_json_printf(b, "%s=\"", name);
  for (p = v ? v : ""; *p; p++) {
    if (*p == '\\')
      mp_json_raw(b, "\\\\", 2);
    else if (*p == '"')
      mp_json_raw(b, "\\\"", 2);
    else if (*p == '\n')
      mp_json_raw(b, "\\n", 2);
    else
      mp_json_raw(b, p, 1);
  }
  mp_json_raw(b, "\"", 1);
}

void mp_prom_head(struct mp_json *b, const char *metric, const char *type,
                  const char *help)
{
  mp_json_printf(b, "# HELP %s %s\n# TYPE %s %s\n", metric, help, metric, type);
}
