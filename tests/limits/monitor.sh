#!/bin/sh
# `mailprobe check --monitor` (ipMonitor timing) against a server that is
# down and then comes up: Warn, then Down with an alert every --failures
# failed tests, then a recovery notice and Up; the exit code is the last
# state; tests never overlap and stop at --count.
#
# usage: tests/limits/monitor.sh [MAILPROBE]
set -u
BIN=${1:-build/mailprobe}
. "$(dirname "$0")/lib.sh"

cat >"$TMP/mx.yaml" <<'CASE'
name: a plain SMTP server for the monitor test
servers:
  mx: { protocol: smtp }
probe: { type: smtp, server: mx }
expect: { status: ok }
CASE

# A port that was free a moment ago and has nothing listening now.
serve "$TMP/mx.yaml"
port=$(addr mx | sed 's/.*://')
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
SERVE_PID=

"$BIN" check "smtp://127.0.0.1:$port" --tls none --monitor --count 12 \
  --failures 2 --interval 150ms --interval-warn 150ms --interval-down 150ms \
  --timeout 2s --format json >"$TMP/mon.out" 2>"$TMP/mon.err" &
mon=$!
# Three failed tests, then the server comes up on the same port.
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
i=0
while [ "$(lines "$TMP/mon.out")" -lt 3 ] && [ $i -lt 200 ]; do
  i=$((i + 1))
  sleep 0.05
done
"$BIN" serve "$TMP/mx.yaml" --port "mx=$port" >"$TMP/serve.out" \
  2>"$TMP/serve.err" &
SERVE_PID=$!
wait $mon
rc=$?

check "twelve tests, one JSON line each" [ "$(wc -l <"$TMP/mon.out")" -eq 12 ]
check "the first failure is warn" \
  has "$(head -n 1 "$TMP/mon.out" >"$TMP/first"; echo "$TMP/first")" \
  '"state": "warn", "event": null'
check "the second is down with alert 1" has "$TMP/mon.out" \
  '"test": 2, "state": "down", "event": "alert", "alerts": 1'
check "the failures name the error" has "$TMP/mon.out" \
  '"error":"connect_refused"'
check "a recovery notice when the server is back" has "$TMP/mon.out" \
  '"state": "up", "event": "recovery"'
alert_at=$(grep -n '"alert"' "$TMP/mon.out" | head -n 1 | cut -d: -f1)
recovery_at=$(grep -n '"recovery"' "$TMP/mon.out" | head -n 1 | cut -d: -f1)
check "the recovery comes after the alert" \
  [ "${alert_at:-99}" -lt "${recovery_at:-0}" ]
check "exactly one recovery" [ "$(grep -c '"recovery"' "$TMP/mon.out")" -eq 1 ]
check "ends up, exit 0" [ "$rc" -eq 0 ]
check "the last test is up" has "$(tail -n 1 "$TMP/mon.out" >"$TMP/last"; \
  echo "$TMP/last")" '"state": "up"'

# Against nothing at all: Lost after the most alerts, exit 2.
"$BIN" check "smtp://127.0.0.1:$port" --tls none --monitor --count 4 \
  --failures 1 --max-alerts 2 --interval-down 10ms --interval-lost 10ms \
  --interval-warn 10ms >"$TMP/lost.out" 2>&1 &
lost=$!
# Stop the server so every test fails.
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
SERVE_PID=
wait $lost
rc=$?
check "lost: two alerts, then silence" [ "$(grep -c ' ALERT ' "$TMP/lost.out")" -le 2 ]
check "lost: exit 2" [ "$rc" -eq 2 ]
check "monitor options need --monitor" sh -c \
  "! '$BIN' check smtp://127.0.0.1:$port --count 3 >/dev/null 2>&1"
finish
