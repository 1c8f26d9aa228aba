/* HTML escaping (harness/report/html_esc.h). */
#include "harness/report/html_esc.h"

void mp_html_esc(FILE *out, const char *s)
{
  for (; s && *s; s++) {
    switch (*s) {
    case '&':
      fputs("&amp;", out);
      break;
    case '<':
      fputs("&lt;", out);
      break;
    case '>':
      fputs("&gt;", out);
      break;
    case '"':
      fputs("&quot;", out);
      break;
    case '\'':
      fputs("&#39;", out);
      break;
    default:
      if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
        fprintf(out, "\\x%02x", (unsigned char)*s);
      else
        fputc(*s, out);
    }
  }
}
