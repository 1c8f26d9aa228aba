/* The ipMonitor state machine (probes/monitor.h). */
#include "probes/monitor.h"

#include "probes/names.h"

#include <string.h>

static const char *const state_names[] = {"up", "warn", "down", "lost"};

const char *mp_mon_state_name(enum mp_mon_state s)
{
  return mp_name_of(state_names, MP_NAMES_COUNT(state_names), (int)s,
                    "unknown");
}

int mp_mon_state_from_name(const char *name)
{
  return mp_name_find(state_names, MP_NAMES_COUNT(state_names), name, 1);
}

void mp_monitor_init(struct mp_monitor *m, const struct mp_monitor_cfg *cfg)
{
  memset(m, 0, sizeof(*m));
  if (cfg)
    m->cfg = *cfg;
  /* The Up interval (--interval) is every state's unless that state has
   * its own: asked for 1 s, a failing server is not tested every 60 s. */
  uint64_t up = m->cfg.interval_ms[MP_MON_UP];
  for (int s = 0; s < 4; s++)
    if (!m->cfg.interval_ms[s])
      m->cfg.interval_ms[s] = up ? up : s == MP_MON_UP ? 300000 : 60000;
  if (!m->cfg.failures_per_alert)
    m->cfg.failures_per_alert = MP_MON_DEFAULT_FAILURES;
  m->state = MP_MON_UP;
}

enum mp_mon_event mp_monitor_record(struct mp_monitor *m, int ok)
{
  if (ok) {
    /* Recovery is news only to whoever was alerted. */
    enum mp_mon_event ev = m->alerts ? MP_MON_EV_RECOVERY : MP_MON_EV_NONE;
    m->state = MP_MON_UP;
    m->failures = 0;
    m->alerts = 0;
    return ev;
  }
  m->failures++;
  if (m->state == MP_MON_LOST)
    return MP_MON_EV_NONE; /* no more alerts for this outage */
  if (m->failures % m->cfg.failures_per_alert != 0) {
    if (m->state == MP_MON_UP)
      m->state = MP_MON_WARN;
    return MP_MON_EV_NONE;
  }
  m->alerts++;
  m->state = m->cfg.max_alerts && m->alerts >= m->cfg.max_alerts ? MP_MON_LOST
                                                                 : MP_MON_DOWN;
  return MP_MON_EV_ALERT;
}

uint64_t mp_monitor_next_ms(const struct mp_monitor *m)
{
  return m->cfg.interval_ms[m->state];
}
