/* The state file (harness/monitor/state_file.h). The format is text: a
 * first line "mailprobe-monitor-state VERSION", then one line per monitor,
 * "state failures alerts recoveries name", the name last so it may hold
 * spaces. */
#include "harness/monitor/state_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "probes/monitor.h"

#define MAGIC "mailprobe-monitor-state"
#define MAX_BYTES (16u * 1024u * 1024u)

/* One monitor line into s; 0 or -1 when it is not one. */
static int parse_line(char *line, struct mp_mon_saved *s)
{
  char state[8];
  int used = 0;

  if (sscanf(line, "%7s %u %u %u %n", state, &s->failures, &s->alerts,
             &s->recoveries, &used) != 4 ||
      used == 0)
    return -1;
  s->state = mp_mon_state_from_name(state);
  const char *name = line + used;
  size_t nl = strlen(name);
  if (s->state < 0 || nl == 0 || nl >= sizeof(s->name))
    return -1;
  memcpy(s->name, name, nl + 1);
  return 0;
}

static int set_aside(const char *path, const char *why, char *msg, size_t len)
{
  char bad[4200];
  snprintf(bad, sizeof(bad), "%s.bad-%lld", path, (long long)time(NULL));
  if (rename(path, bad) < 0) {
    snprintf(msg, len, "%s: %s, and it could not be set aside: %s", path, why,
             strerror(errno));
    return -1;
  }
  snprintf(msg, len, "%s: %s; set aside as %s, every monitor starts Up", path,
           why, bad);
  return 1;
}

int mp_state_load(const char *path, struct mp_mon_saved **out, size_t *n,
                  char *msg, size_t len)
{
  FILE *f = fopen(path, "r");
  char line[256];
  struct mp_mon_saved *v = NULL;
  size_t cnt = 0, cap = 0;
  const char *why = NULL;
  int version = -1;

  *out = NULL;
  *n = 0;
  if (!f) {
    if (errno == ENOENT)
      return 0;
    snprintf(msg, len, "%s: %s", path, strerror(errno));
    return -1;
  }
  if (!fgets(line, sizeof(line), f) || sscanf(line, MAGIC " %d", &version) != 1)
    why = "not a state file";
  else if (version != MP_STATE_VERSION)
    why = "a state file of another version";
  while (!why && fgets(line, sizeof(line), f)) {
    size_t ll = strlen(line);
    if (ll == 0 || line[ll - 1] != '\n') {
      why = "a line is cut or too long";
      break;
    }
    line[ll - 1] = '\0';
    if (cnt == cap) {
      size_t nc = cap ? cap * 2 : 16;
      struct mp_mon_saved *nv =
          nc * sizeof(*v) > MAX_BYTES ? NULL : realloc(v, nc * sizeof(*v));
      if (!nv) {
        why = "too large";
        break;
      }
      v = nv;
      cap = nc;
    }
    memset(&v[cnt], 0, sizeof(v[cnt]));
    if (parse_line(line, &v[cnt]) < 0) {
      why = "a line is not a monitor's state";
      break;
    }
    cnt++;
  }
  fclose(f);
  if (why) {
    free(v);
    return set_aside(path, why, msg, len);
  }
  *out = v;
  *n = cnt;
  return 0;
}

int mp_state_save(const char *path, const struct mp_mon_saved *s, size_t n,
                  char *msg, size_t len)
{
  char tmp[4200];
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) {
    snprintf(msg, len, "%s: %s", tmp, strerror(errno));
    return -1;
  }
  fprintf(f, MAGIC " %d\n", MP_STATE_VERSION);
  for (size_t i = 0; i < n; i++)
    fprintf(f, "%s %u %u %u %s\n", mp_mon_state_name(s[i].state), s[i].failures,
            s[i].alerts, s[i].recoveries, s[i].name);
  int bad = ferror(f);
  if (fclose(f) != 0 || bad) {
    snprintf(msg, len, "%s: could not be written", tmp);
    unlink(tmp);
    return -1;
  }
  if (rename(tmp, path) < 0) {
    snprintf(msg, len, "%s: %s", path, strerror(errno));
    unlink(tmp);
    return -1;
  }
  return 0;
}
