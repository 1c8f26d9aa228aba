/* A token endpoint's JSON answer (harness/oauth/token.h): RFC 6749 5.1
 * (access_token, expires_in, refresh_token) or 5.2 (error,
 * error_description), through Jansson. */
#include "harness/oauth/token.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "wire/errors.h"

void mp_token_reply_clear(struct mp_token_reply *r)
{
  if (r->access_token)
    memset(r->access_token, 0, strlen(r->access_token));
  if (r->refresh_token)
    memset(r->refresh_token, 0, strlen(r->refresh_token));
  free(r->access_token);
  free(r->refresh_token);
  free(r->error);
  free(r->error_description);
  memset(r, 0, sizeof *r);
  r->expires_in = -1;
}

/* A copy of a string member (absent or not a string: NULL). */
static int str_member(json_t *o, const char *key, char **out)
{
  json_t *v = json_object_get(o, key);
  if (!json_is_string(v))
    return 0;
  *out = strndup(json_string_value(v), json_string_length(v));
  if (!*out)
    return MP_E_NO_RESOURCES;
  /* A NUL inside is no token and no sentence. */
  if (strlen(*out) != json_string_length(v)) {
    free(*out);
    *out = NULL;
  }
  return 0;
}

int mp_token_reply_parse(const char *buf, size_t len, struct mp_token_reply *r)
{
  json_error_t jerr;
  memset(r, 0, sizeof *r);
  r->expires_in = -1;
  json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!json_is_object(o)) {
    json_decref(o);
    return MP_E_PROTOCOL_ERROR;
  }
  int rc = str_member(o, "access_token", &r->access_token);
  if (!rc)
    rc = str_member(o, "refresh_token", &r->refresh_token);
  if (!rc)
    rc = str_member(o, "error", &r->error);
  if (!rc)
    rc = str_member(o, "error_description", &r->error_description);
  /* RFC 6749 5.1 says a number; Microsoft's v1 endpoint sends a string. */
  json_t *e = json_object_get(o, "expires_in");
  if (json_is_integer(e) && json_integer_value(e) >= 0)
    r->expires_in = (int64_t)json_integer_value(e);
  else if (json_is_string(e)) {
    char *end;
    long long v = strtoll(json_string_value(e), &end, 10);
    if (*end == '\0' && end != json_string_value(e) && v >= 0)
      r->expires_in = v;
  }
  json_decref(o);
  if (!rc && !r->error && (!r->access_token || !*r->access_token))
    rc = MP_E_PROTOCOL_ERROR;
  if (rc)
    mp_token_reply_clear(r);
  return rc;
}
