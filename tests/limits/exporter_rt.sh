#!/bin/sh
# Round trips through `mailprobe exporter`: a round trip against fake
# servers (`mailprobe serve` of a case whose mail arrives after 500 ms)
# answers with its delivery time; a scrape that comes while the next one
# runs gets the last result at once, marked stale, and no second round
# trip starts (the exporter's counters say how many ran); the password
# comes from the environment, never from the file.
set -u
BIN=${1:-build/mailprobe}
. "$(dirname "$0")/lib.sh"
in_repo
command -v curl >/dev/null 2>&1 || { bad "curl is installed" "ci/install-deps"; finish; exit 1; }

serve cases/roundtrip/delivery_delayed_within_timeout.yaml
cat >"$TMP/rt.yaml" <<EOF2
modules:
  rt:
    type: roundtrip
    send: { target: "$(addr mx)", tls: none }
    fetch: { type: pop3, target: "$(addr pop)", tls: none,
             user: probe@example.test, password_env: MP_TEST_RT_PW }
    email_timeout: 3s
    poll: 100ms
    timeout: 5s
EOF2
MP_TEST_RT_PW=s3cret
export MP_TEST_RT_PW
start_exporter --config "$TMP/rt.yaml"
URL="http://$EXP/probe?module=rt&target=127.0.0.1"
H='X-Prometheus-Scrape-Timeout-Seconds: 10'

curl -s -H "$H" "$URL" >"$TMP/first"
check "a round trip succeeds" has "$TMP/first" "probe_success 1"
check "its delivery time is there" has "$TMP/first" "probe_mail_delivery_seconds 0.5"
check "a fresh result is not stale" has "$TMP/first" "probe_mail_result_stale 0"

curl -s -H "$H" "$URL" >"$TMP/second" &
CURL=$!
sleep 0.2
curl -s -H "$H" "$URL" >"$TMP/during"
check "a scrape during a round trip gets the last result" has "$TMP/during" \
  "probe_success 1"
check "marked stale" has "$TMP/during" "probe_mail_result_stale 1"
wait "$CURL"
check "the scrape that started it gets its own, fresh" has "$TMP/second" \
  "probe_mail_result_stale 0"
curl -s "http://$EXP/metrics" >"$TMP/metrics"
check "two round trips ran, not three" has "$TMP/metrics" \
  'mailprobe_exporter_probes_total{module="rt",result="success"} 2'
check "one stale answer counted" has "$TMP/metrics" \
  "mailprobe_exporter_stale_results_total 1"
if command -v promtool >/dev/null 2>&1; then
  for f in first during metrics; do
    if promtool check metrics <"$TMP/$f" >"$TMP/lint" 2>&1; then
      ok "promtool check metrics: $f"
    else
      bad "promtool check metrics: $f" "$(head -n 3 "$TMP/lint")"
    fi
  done
fi
stop_exporter
finish
