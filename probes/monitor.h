/* Monitor timing as ipMonitor does it: a monitor is Up, Warn,
 * Down or Lost, each state with its own test interval; N failed tests in a
 * row make an alert (default 3); after the most alerts allowed the monitor
 * is Lost and sends no more, but a recovery notice still goes out when a
 * test passes again. Pure: the caller runs the probes, one at a time (a
 * monitor never overlaps its own runs), and feeds each result in. */
#ifndef MP_MONITOR_H
#define MP_MONITOR_H

#include <stdint.h>

enum mp_mon_state {
  MP_MON_UP = 0, /* the last test passed */
  MP_MON_WARN,   /* failing, fewer failures than an alert needs so far */
  MP_MON_DOWN,   /* failing, alerts being sent */
  MP_MON_LOST    /* failing, the most alerts were sent: silent */
};

/* What a test result makes the monitor do. */
enum mp_mon_event {
  MP_MON_EV_NONE = 0,
  MP_MON_EV_ALERT,   /* send an alert (alert number in alerts) */
  MP_MON_EV_RECOVERY /* the monitor came back after alerting */
};

#define MP_MON_DEFAULT_FAILURES 3

struct mp_monitor_cfg {
  uint64_t interval_ms[4];     /* per state, [MP_MON_UP] ...; 0: the Up
                                  interval when given, else 300 s Up and
                                  60 s in the others */
  unsigned failures_per_alert; /* failed tests per alert; 0: 3 */
  unsigned max_alerts;         /* alerts before Lost; 0: no limit */
};

struct mp_monitor {
  struct mp_monitor_cfg cfg;
  enum mp_mon_state state;
  unsigned failures; /* failed tests in a row */
  unsigned alerts;   /* alerts sent in this outage */
};

/* A monitor in the Up state with cfg's defaults filled in. */
void mp_monitor_init(struct mp_monitor *m, const struct mp_monitor_cfg *cfg);

/* Feeds one test result (ok: it passed). Returns the event it causes and
 * moves the state. */
enum mp_mon_event mp_monitor_record(struct mp_monitor *m, int ok);

/* How long to wait before the next test, in the current state. */
uint64_t mp_monitor_next_ms(const struct mp_monitor *m);

/* "up", "warn", "down", "lost"; and back (-1 if unknown). */
const char *mp_mon_state_name(enum mp_mon_state s);
int mp_mon_state_from_name(const char *name);

#endif
