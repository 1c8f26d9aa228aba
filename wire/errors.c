#include "wire/errors.h"

#include <string.h>

const char *mp_err_name(int err)
{
  switch (err) {
#define MP_ERR_NAME(code, val, name, msg)                                      \
  case val:                                                                    \
    return name;
    MP_ERR_MAP(MP_ERR_NAME)
#undef MP_ERR_NAME
  default:
    return NULL;
  }
}

const char *mp_err_message(int err)
{
  switch (err) {
  case MP_OK:
    return "success";
  case MP_EAGAIN:
    return "need more input";
#define MP_ERR_MSG(code, val, name, msg)                                       \
  case val:                                                                    \
    return msg;
    MP_ERR_MAP(MP_ERR_MSG)
#undef MP_ERR_MSG
  default:
    return "unknown error";
  }
}

int mp_err_from_name(const char *s)
{
#define MP_ERR_FROM(code, val, name, msg)                                      \
  if (strcmp(s, name) == 0)                                                    \
    return val;
  MP_ERR_MAP(MP_ERR_FROM)
#undef MP_ERR_FROM
  return 0;
}
