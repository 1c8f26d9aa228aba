/* HTML text and attribute values escaped, for the two HTML writers (the
 * compliance matrix and the monitor report). Pure: writes to a FILE *. */
#ifndef MP_HTML_ESC_H
#define MP_HTML_ESC_H

#include <stdio.h>

/* Writes s (NULL: nothing) with & < > " ' escaped and control characters
 * other than newline and tab as \xNN. */
void mp_html_esc(FILE *out, const char *s);

#endif
