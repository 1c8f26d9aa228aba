/* Prometheus text exposition helpers (harness/report/prom_text.h). */
#include "harness/report/prom_text.h"

#include "harness/report/json.h"

#include <string.h>

void mp_prom_label(struct mp_json *b, const char *name, const char *v)
{
  const char *p = v ? v : "";
  size_t run;

  mp_json_printf(b, "%s=\"", name);
  while (*p) {
    /* The plain run in one copy, then the one byte escaped. */
    run = strcspn(p, "\\\"\n");
    mp_json_raw(b, p, run);
    p += run;
    if (*p == '\0')
      break;
    mp_json_raw(b, *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : "\\n", 2);
    p++;
  }
  mp_json_raw(b, "\"", 1);
}

void mp_prom_head(struct mp_json *b, const char *metric, const char *type,
                  const char *help)
{
  mp_json_printf(b, "# HELP %s %s\n# TYPE %s %s\n", metric, help, metric, type);
}
