#!/bin/sh
# `mailprobe monitor --config` and `mailprobe report`: a bad config names
# file:line:column and the monitor and starts nothing; an unwritable
# history is an error at start; a restart resumes the states (a corrupt
# state file is set aside with a warning); the report's HTML, opened in
# headless Chromium, holds the numbers of a history whose answers are
# known.
#
# usage: tests/limits/monitor_config.sh [MAILPROBE]
set -u
BIN=${1:-build/mailprobe}
. "$(dirname "$0")/lib.sh"

# bad NAME WANT CONFIG: the config is refused with WANT in the message.
bad_config() {
  printf '%s\n' "$3" >"$TMP/bad.yml"
  rm -f "$TMP/h.jsonl"
  "$BIN" monitor --config "$TMP/bad.yml" --history "$TMP/h.jsonl" \
    --count 1 >"$TMP/out" 2>&1
  rc=$?
  if [ $rc -ne 3 ]; then
    bad "$1" "exit $rc, not 3: $(cat "$TMP/out")"
  elif ! grep -qF -- "$2" "$TMP/out"; then
    bad "$1" "no \"$2\" in: $(cat "$TMP/out")"
  elif [ -e "$TMP/h.jsonl" ]; then
    bad "$1" "a history file was made: something started"
  else
    ok "$1"
  fi
}

MOD='modules:
  plain: { type: smtp, tls: none, timeout: 1s }'
long=$(printf 'm%.0s' $(seq 65))

bad_config "an empty name" "bad.yml:4:13: a monitor's name is 1 to 64" \
  "$MOD
monitors:
  - { name: '', check: plain, target: 127.0.0.1:1 }"
bad_config "a name of 65 characters" "bad.yml:4:13: a monitor's name is 1 to 64 characters, not 65" \
  "$MOD
monitors:
  - { name: $long, check: plain, target: 127.0.0.1:1 }"
bad_config "a repeated name" "bad.yml:5:13: monitor 'mx': a second monitor of that name (the first is at line 4)" \
  "$MOD
monitors:
  - { name: mx, check: plain, target: 127.0.0.1:1 }
  - { name: mx, check: plain, target: 127.0.0.1:2 }"
bad_config "an unknown module" "bad.yml:4:24: monitor 'mx': no module named 'nope'" \
  "$MOD
monitors:
  - { name: mx, check: nope, target: 127.0.0.1:1 }"
bad_config "a mistake in a monitor's key" "bad.yml:4:62: 'soon': a duration" \
  "$MOD
monitors:
  - { name: mx, check: plain, target: 127.0.0.1:1, interval: soon }"
bad_config "an unknown key names the monitor" "monitor 'mx'" \
  "$MOD
monitors:
  - { name: mx, check: plain, target: 127.0.0.1:1, every: 5m }"
bad_config "a monitor without a target" "monitor 'mx': missing target" \
  "$MOD
monitors:
  - { name: mx, check: plain }"
bad_config "a round trip is not a monitor's check" "not a round trip" \
  "modules:
  rt: { type: roundtrip, send: { target: 127.0.0.1:1 }, fetch: { type: imap, target: 127.0.0.1:2, user: u, password_env: HOME } }
monitors:
  - { name: mx, check: rt }"

cat >"$TMP/m.yml" <<YML
$MOD
monitors:
  - name: dead
    check: plain
    target: 127.0.0.1:1
    interval: 10ms
    failures_per_alert: 1
YML
"$BIN" monitor --config "$TMP/m.yml" --history "$TMP/no/such/dir/h.jsonl" \
  --count 1 >"$TMP/out" 2>&1
rc=$?
check "an unwritable history is an error at start" [ $rc -eq 3 ]
check "... that names the file" has "$TMP/out" "no/such/dir/h.jsonl"

# Two tests against nothing: Down with two alerts; the restart resumes
# with the third alert, not the first.
"$BIN" monitor --config "$TMP/m.yml" --history "$TMP/h.jsonl" \
  --state-file "$TMP/state" --count 2 >"$TMP/out1" 2>&1
check "the state file keeps Down and two alerts" has "$TMP/state" "down 2 2 0 dead"
"$BIN" monitor --config "$TMP/m.yml" --history "$TMP/h.jsonl" \
  --state-file "$TMP/state" --count 1 >"$TMP/out2" 2>&1
check "a restart says it resumes" has "$TMP/out2" "monitor dead resumes down"
check "... and alerts on as the third" has "$TMP/out2" "dead ALERT 3:"
check "three test lines in the history" \
  [ "$(grep -c '"status":"fail"' "$TMP/h.jsonl")" -eq 3 ]
printf 'mailprobe-monitor-state 7\ndown 1 1 0 dead\n' >"$TMP/state"
"$BIN" monitor --config "$TMP/m.yml" --state-file "$TMP/state" --count 1 \
  >"$TMP/out3" 2>&1
check "a state file of another version is set aside" \
  has "$TMP/out3" "another version; set aside as"
check "... kept beside" sh -c "ls '$TMP'/state.bad-* >/dev/null"
check "... and the monitor starts Up (its first failure is alert 1)" \
  has "$TMP/out3" "dead ALERT 1:"

# SIGHUP reopens the history (logrotate moved it): later lines go to a
# new file of the same name.
cat >"$TMP/hup.yml" <<YML
$MOD
monitors:
  - { name: hup, check: plain, target: 127.0.0.1:1, interval: 100ms }
YML
"$BIN" monitor --config "$TMP/hup.yml" --history "$TMP/hup.jsonl" \
  --count 40 -q >"$TMP/hup.out" 2>&1 &
mon=$!
i=0
while [ "$(cat "$TMP/hup.jsonl" 2>/dev/null | wc -l)" -lt 2 ] && [ $i -lt 100 ]; do
  i=$((i + 1))
  sleep 0.05
done
mv "$TMP/hup.jsonl" "$TMP/hup.jsonl.1"
kill -HUP $mon
i=0
while [ ! -s "$TMP/hup.jsonl" ] && [ $i -lt 100 ]; do
  i=$((i + 1))
  sleep 0.05
done
kill -TERM $mon
wait $mon
rc=$?
check "SIGHUP: the moved history keeps its lines" \
  [ "$(wc -l <"$TMP/hup.jsonl.1")" -ge 2 ]
check "SIGHUP: later lines go to a new file" [ -s "$TMP/hup.jsonl" ]
check "SIGTERM: a clean stop, exit 0" [ $rc -eq 0 ]
check "no line is in both files" sh -c \
  "cat '$TMP/hup.jsonl.1' '$TMP/hup.jsonl' | grep -o '\"test\":[0-9]*' | sort | uniq -d | grep -q . && exit 1 || exit 0"

# The report of a history with known answers: 100 tests a minute apart,
# 5 failed in two outages (3 min and 2 min: MTTR 2m 30s), then a line
# cut by a crash.
awk 'BEGIN {
  for (i = 1; i <= 100; i++) {
    ok = !((i >= 11 && i <= 13) || (i >= 51 && i <= 52));
    printf "{\"t_ms\":%.0f,\"monitor\":\"mx <1>\",\"status\":\"%s\",\"error\":%s,\"phase\":\"banner\",\"event\":%s,\"total_us\":%d,\"timings_us\":{\"connect\":%d}}\n",
      1767225600000 + (i - 1) * 60000, ok ? "ok" : "fail",
      ok ? "null" : "\"rejected\"", i == 13 ? "\"alert\"" : "null",
      i * 2000, i * 1000
  }
  printf "{\"t_ms\":17672"
}' >"$TMP/known.jsonl"
"$BIN" report "$TMP/known.jsonl" >"$TMP/rep.txt" 2>"$TMP/rep.err"
check "report: availability" has "$TMP/rep.txt" "monitor mx <1>: 100 tests, 95 passed, availability 95.000%"
check "report: MTTR" has "$TMP/rep.txt" "outages 2, mean time to recovery 2m 30s"
check "report: the cut line is counted" has "$TMP/rep.err" "1 line(s) skipped"
"$BIN" report "$TMP/known.jsonl" --format json >"$TMP/rep.json" 2>/dev/null
check "report: JSON parses" python3 -c "import json,sys; d=json.load(open('$TMP/rep.json')); m=d['monitors'][0]; sys.exit(0 if (m['mttr_ms'], m['passed'], d['skipped']) == (150000, 95, 1) else 1)"
"$BIN" report "$TMP/known.jsonl" --format html -o "$TMP/rep.html" 2>/dev/null
check "report: HTML has no outside resource" lacks "$TMP/rep.html" "http"
if [ -x /usr/bin/chromium ]; then
  timeout 60 /usr/bin/chromium --headless --no-sandbox --disable-gpu \
    --no-first-run --user-data-dir="$TMP/chromium" --dump-dom \
    "file://$TMP/rep.html" >"$TMP/dom.html" 2>/dev/null
  check "chromium: the availability in the DOM" has "$TMP/dom.html" \
    '<td class="availability">95.000</td>'
  check "chromium: the MTTR in the DOM" has "$TMP/dom.html" \
    'class="mttr" data-ms="150000">2m 30s</td>'
  check "chromium: two outages of 180 s and 120 s" sh -c \
    "grep -c 'class=\"outage\" data-length-ms=\"180000\"' '$TMP/dom.html' | grep -qx 1 &&
     grep -c 'class=\"outage\" data-length-ms=\"120000\"' '$TMP/dom.html' | grep -qx 1"
  check "chromium: the name escaped, not markup" has "$TMP/dom.html" 'mx &lt;1&gt;'
  check "chromium: an availability strip of 96 slots" \
    [ "$(grep -o '<rect class="slot"' "$TMP/dom.html" | wc -l)" -eq 96 ]
  check "chromium: latency lines for connect and total" sh -c \
    "grep -q 'data-series=\"connect\"' '$TMP/dom.html' && grep -q 'polyline class=\"series\" data-series=\"total\"' '$TMP/dom.html'"
  # The passed tests' connect times are 1-10, 14-50 and 53-100 ms: the
  # nearest-rank p50 is the 48th (53 ms), p99 the 95th (100 ms).
  check "chromium: p50 and p99 of connect, within a bucket" grep -qE \
    '<tr data-series="connect">.*class="p50">5[23]\.[0-9]+.*class="p99">(99|100)\.[0-9]+' \
    "$TMP/dom.html"
else
  bad "chromium" "/usr/bin/chromium is missing (ci/install-deps installs it)"
fi
finish
