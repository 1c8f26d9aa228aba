/* `mailprobe check --monitor`: the same probe again and again on one loop,
 * never two at once, paced by the ipMonitor states (probes/monitor.h), with
 * a line per test and alert and recovery lines when the state says so. */
#ifndef MP_MONITOR_LOOP_H
#define MP_MONITOR_LOOP_H

struct uv_loop_s;
struct mp_probe_opts;
struct mp_result_fmt;
struct mp_monitor_cfg;
struct mp_token_source;

/* Runs count tests (0: until SIGINT or SIGTERM) and returns the Nagios
 * code of the last state: Up 0, Warn 1, Down or Lost 2, 3 when nothing
 * ran. json: one JSON object per line instead of text lines. tokens (may
 * be NULL): each test asks it for the token first; it keeps a fetched
 * token until shortly before it expires, so a token endpoint is asked
 * once per token lifetime, and a refusal fails that test in phase token. */
int mp_monitor_loop(struct uv_loop_s *loop, const struct mp_probe_opts *opts,
                    const struct mp_result_fmt *rf,
                    const struct mp_monitor_cfg *cfg, unsigned count, int json,
                    struct mp_token_source *tokens);

#endif
