#!/bin/sh
# Every output agrees with itself and with the tools that read it: the
# exit code, the Nagios line, the JSON "state" and Prometheus'
# mailprobe_state give one verdict; `prove` reads the TAP of a run with
# failures; JUnit validates with xmllint against tests/data/junit.xsd;
# `promtool check metrics` takes every Prometheus output; every JSON
# validates against docs/result.schema.json (python3-jsonschema); local
# problems are UNKNOWN before connecting; ranges and --cert-days judge as
# the Monitoring Plugins guidelines and check_smtp do; the README's serve
# walkthrough works when pasted.
#
# usage: tests/limits/readers.sh [MAILPROBE]
set -u
BIN=${1:-build/mailprobe}
. "$(dirname "$0")/lib.sh"
in_repo
SCHEMA=docs/result.schema.json
JSONCHECK=tests/limits/json-schema-check

# need TOOL: the reader is installed (ci/install-deps puts them there).
need() {
  if command -v "$1" >/dev/null 2>&1; then return 0; fi
  bad "$1 is installed" "missing: run ci/install-deps"
  return 1
}

# json_valid NAME DEF FILE...: the files validate against the schema.
json_valid() {
  name=$1
  shift
  if "$JSONCHECK" "$SCHEMA" "$@" >"$TMP/schema.out" 2>&1; then
    ok "$name: valid against $SCHEMA"
  else
    bad "$name" "$(head -c 600 "$TMP/schema.out")"
  fi
}

# promtool_ok NAME FILE: promtool takes the exposition.
promtool_ok() {
  if promtool check metrics <"$2" >"$TMP/prom.out" 2>&1; then
    ok "$1: promtool check metrics"
  else
    bad "$1: promtool check metrics" "$(head -c 400 "$TMP/prom.out")"
  fi
}

# state_of FILE: the "state" of a result JSON.
state_of() { sed -n 's/^  "state": "\([A-Z]*\)",$/\1/p' "$1" | head -n 1; }

need prove && need xmllint && need promtool && need python3

# ---- one verdict everywhere, on a real check -------------------------
serve cases/smtp/happy_tls_starttls.yaml
MX=$(addr mx)
PORT=${MX#*:}
URL=smtp://mx.example.test:$PORT
MAP="127.0.0.1 mx.example.test"

"$BIN" check "$URL" --host-map "$MAP" --cafile "$CA" --warning 1ms \
  --format json >"$TMP/warn.json" 2>"$TMP/err"
rc=$?
if [ $rc -eq 1 ] && [ "$(state_of "$TMP/warn.json")" = WARNING ] &&
  has "$TMP/warn.json" '"warning": "0.001"'; then
  ok "json: exit 1 and \"state\": \"WARNING\" with the threshold"
else
  bad "json state" "exit $rc, state $(state_of "$TMP/warn.json")"
fi
"$BIN" check "$URL" --host-map "$MAP" --cafile "$CA" --warning 1ms \
  --format prometheus >"$TMP/warn.prom" 2>"$TMP/err"
rc=$?
if [ $rc -eq 1 ] && grep -q '^mailprobe_state{.*} 1$' "$TMP/warn.prom" &&
  grep -q '^mailprobe_up{.*} 1$' "$TMP/warn.prom"; then
  ok "prometheus: exit 1, mailprobe_up 1 and mailprobe_state 1 (WARNING)"
else
  bad "prometheus state" "exit $rc: $(grep -E '_(up|state)\{' "$TMP/warn.prom")"
fi
promtool_ok "prometheus, a WARNING check with TLS" "$TMP/warn.prom"
json_valid "check --format json" result "$TMP/warn.json"

# Ranges (Monitoring Plugins guidelines) on a check that takes well under
# 10 s: "10:" alerts below 10 s, "~:10" above, "@0:10" inside.
for spec in "10: 1" "~:10 0" "@0:10 1" "0:10 0" "10 0"; do
  set -- $spec
  "$BIN" check "$URL" --host-map "$MAP" --cafile "$CA" --warning "$1" \
    >"$TMP/range.out" 2>&1
  rc=$?
  if [ $rc -eq "$2" ]; then ok "--warning $1: exit $2"; else
    bad "--warning $1" "exit $rc, want $2: $(head -c 300 "$TMP/range.out")"
  fi
done
"$BIN" check "$URL" --host-map "$MAP" --cafile "$CA" --critical '@0:10' \
  >"$TMP/range.out" 2>&1
rc=$?
if [ $rc -eq 2 ] && has "$TMP/range.out" "time=" &&
  grep -q 'SMTP CRITICAL - .*(critical range @0:10)' "$TMP/range.out" &&
  grep -q ' | time=[0-9.]*s;;@0:10;0;' "$TMP/range.out"; then
  ok "--critical @0:10: CRITICAL, the range in the text and the perfdata"
else
  bad "--critical @0:10" "exit $rc: $(head -c 400 "$TMP/range.out")"
fi
"$BIN" check "$URL" --warning 1:x >"$TMP/range.out" 2>&1
rc=$?
if [ $rc -eq 3 ] && has "$TMP/range.out" "--warning: bad range"; then
  ok "a bad range is UNKNOWN, with the option named"
else bad "bad range" "exit $rc: $(head -c 300 "$TMP/range.out")"; fi

# Certificate expiry (check_smtp's -D): the leaf has some 90 days left.
"$BIN" check "$URL" --host-map "$MAP" --cafile "$CA" --cert-days 100,50 \
  --format json >"$TMP/days.json" 2>&1
rc=$?
if [ $rc -eq 1 ] && [ "$(state_of "$TMP/days.json")" = WARNING ]; then
  ok "--cert-days 100,50 on a 90-day certificate: WARNING"
else bad "--cert-days 100,50" "exit $rc, state $(state_of "$TMP/days.json")"; fi
"$BIN" check "$URL" --host-map "$MAP" --cafile "$CA" -D 120,100 \
  >"$TMP/days.out" 2>&1
rc=$?
if [ $rc -eq 2 ] && has "$TMP/days.out" "critical under 100" &&
  has "$TMP/days.out" ";120:;100:;;"; then
  ok "-D 120,100: CRITICAL, said in the text and the perfdata"
else bad "-D 120,100" "exit $rc: $(head -c 400 "$TMP/days.out")"; fi
"$BIN" check "$URL" --host-map "$MAP" --cafile "$CA" -D 10 >/dev/null 2>&1
rc=$?
if [ $rc -eq 0 ]; then ok "-D 10: OK"; else bad "-D 10" "exit $rc"; fi

# A certificate that fails verification keeps its facts; Prometheus has
# its expiry as a timestamp in seconds (promtool takes no "_days").
"$BIN" check "smtp://$MX" --cafile "$CA" --format json >"$TMP/cert.json" 2>&1
"$BIN" check "smtp://$MX" --cafile "$CA" --format prometheus \
  >"$TMP/cert.prom" 2>&1
if has "$TMP/cert.json" '"error": "cert_invalid"' &&
  has "$TMP/cert.json" '"subject": "CN=mx.example.test"' &&
  has "$TMP/cert.json" '"established": false' &&
  grep -q '^mailprobe_tls_cert_expiry_timestamp_seconds{.*} [0-9]\{10\}$' \
    "$TMP/cert.prom"; then
  ok "cert_invalid: the certificate's facts in JSON and Prometheus"
else bad "cert facts" "$(head -c 600 "$TMP/cert.json")"; fi
promtool_ok "prometheus, cert_invalid" "$TMP/cert.prom"
json_valid "check, cert_invalid" result "$TMP/cert.json"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
SERVE_PID=

# ---- local problems: UNKNOWN, before connecting ----------------------
# The port is closed: a check that tried to connect would say
# connect_refused (CRITICAL).
serve cases/smtp/happy_tls_none.yaml
CLOSED=$(addr mx)
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
SERVE_PID=
: >"$TMP/empty-pw"
chmod 600 "$TMP/empty-pw"
printf 's3cret\n' >"$TMP/open-pw"
chmod 644 "$TMP/open-pw"
# local NAME SAYS ARGS...: exit 3, "MAILPROBE UNKNOWN - ...SAYS".
local_problem() {
  name=$1
  says=$2
  shift 2
  "$BIN" check "smtp://$CLOSED" --tls none "$@" >"$TMP/local.out" \
    2>"$TMP/local.err"
  rc=$?
  if [ $rc -eq 3 ] && grep -q "^MAILPROBE UNKNOWN - .*$says" "$TMP/local.out" &&
    lacks "$TMP/local.out" connect_refused; then
    ok "$name: UNKNOWN before connecting"
  else
    bad "$name" "exit $rc: $(head -c 300 "$TMP/local.out")"
  fi
}
local_problem "an unreadable --cafile" "--cafile $TMP/no-ca.pem" \
  --cafile "$TMP/no-ca.pem"
local_problem "an empty --password-file" "--password-file: .* is empty" \
  --user u --password-file "$TMP/empty-pw"
local_problem "a missing --password-file" "--password-file: " \
  --user u --password-file "$TMP/no-pw"
EMPTY_PW= local_problem "an empty --password-env" "is empty" --user u \
  --password-env EMPTY_PW
"$BIN" check "smtp://$CLOSED" --tls none --user u --password-file \
  "$TMP/open-pw" >/dev/null 2>"$TMP/local.err"
if has "$TMP/local.err" "readable by every user"; then
  ok "a world-readable --password-file is warned about"
else bad "world-readable password file" "$(cat "$TMP/local.err")"; fi

# ---- monitor mode: --interval is every state's ------------------------
start=$(date +%s)
timeout 30 "$BIN" check "smtp://$CLOSED" --tls none --monitor --count 3 \
  --interval 1s --failures 2 >"$TMP/mon.out" 2>&1
took=$(($(date +%s) - start))
if [ $took -le 10 ] && [ "$(wc -l <"$TMP/mon.out")" -ge 3 ]; then
  ok "--interval 1s holds while failing (3 tests in ${took}s)"
else bad "--interval 1s" "3 tests took ${took}s: $(cat "$TMP/mon.out")"; fi
# The state word and the Nagios word agree: Warn WARNING, Down CRITICAL.
if grep -q ' warn SMTP WARNING - connect_refused' "$TMP/mon.out" &&
  grep -q ' down SMTP CRITICAL - connect_refused' "$TMP/mon.out" &&
  ! grep -q ' warn SMTP CRITICAL' "$TMP/mon.out"; then
  ok "monitor lines: the state and the Nagios word agree"
else bad "monitor words" "$(cat "$TMP/mon.out")"; fi
timeout 30 "$BIN" check "smtp://$CLOSED" --tls none --monitor --count 2 \
  --interval 100ms --format json >"$TMP/mon.json" 2>&1
json_valid "check --monitor --format json" monitor_line "$TMP/mon.json"
"$BIN" check "smtp://$CLOSED" --tls none --format prometheus \
  >"$TMP/refused.prom" 2>&1
promtool_ok "prometheus, connect_refused" "$TMP/refused.prom"

# ---- run: TAP, JUnit and JSON of a run with failures -----------------
"$BIN" run tests/data/failing --format tap >"$TMP/run.tap" 2>&1
if prove -e cat "$TMP/run.tap" >"$TMP/prove.out" 2>&1; then
  bad "prove" "passed a run with failures"
elif grep -q "Tests: 4 Failed: 3" "$TMP/prove.out" &&
  ! grep -qiE "parse error|bad plan|unsupported|not support" \
    "$TMP/prove.out"; then
  ok "prove reads the TAP: 4 tests, 3 failed, no parse errors"
else bad "prove" "$(tail -n 8 "$TMP/prove.out")"; fi

"$BIN" run tests/data/failing --format junit >"$TMP/run.xml" 2>&1
if xmllint --noout --schema tests/data/junit.xsd "$TMP/run.xml" \
  >"$TMP/xmllint.out" 2>&1; then
  ok "JUnit validates against tests/data/junit.xsd"
else bad "JUnit schema" "$(head -c 600 "$TMP/xmllint.out")"; fi
if grep -q '<testsuite name="mailprobe" tests="4" failures="2" errors="1"' \
  "$TMP/run.xml" && grep -q '<error message=".*does_not_parse.yaml' \
  "$TMP/run.xml"; then
  ok "JUnit: the file that does not parse is an <error>"
else bad "JUnit error" "$(head -n 4 "$TMP/run.xml")"; fi
# Two 1 s cases ran at once: the suite's time is the wall time, not 2 s.
python3 - "$TMP/run.xml" >"$TMP/times" <<'PY'
import sys, xml.etree.ElementTree as ET
s = ET.parse(sys.argv[1]).getroot().find("testsuite")
print(float(s.get("time")), sum(float(c.get("time")) for c in s.iter("testcase")))
PY
if awk '{ exit !($1 < $2 - 0.5) }' "$TMP/times"; then
  ok "JUnit: the suite's time is wall time ($(cat "$TMP/times"))"
else bad "JUnit suite time" "suite, sum of cases: $(cat "$TMP/times")"; fi

"$BIN" run tests/data/failing --format json >"$TMP/run.json" 2>&1
json_valid "run --format json, with failures" run_report "$TMP/run.json"
"$BIN" run cases --format json >"$TMP/suite.json" 2>&1
json_valid "run --format json, the whole suite" run_report "$TMP/suite.json"

# ---- roundtrip: delivery judged, both halves' TLS, --body, --header ---
serve cases/roundtrip/fetch_imap_tls_starttls.yaml
printf 'a body of ours\nsecond line\n' >"$TMP/body.txt"
printf 's3cret\n' >"$TMP/pw"
chmod 600 "$TMP/pw"
BOX=$(addr box)
rt() {
  "$BIN" roundtrip --send "smtp://$(addr mx)" --send-tls none \
    --fetch "imap://mx.example.test:${BOX#*:}" --fetch-tls starttls \
    --host-map "127.0.0.1 mx.example.test" --cafile "$CA" \
    --to probe@example.test --fetch-user probe@example.test \
    --fetch-password-file "$TMP/pw" --poll 100ms --email-timeout 5s \
    --body "$TMP/body.txt" --header "X-Probe-Site: lab 1" "$@"
}
rt --warning 1ms --format json >"$TMP/rt.json" 2>&1
rc=$?
if [ $rc -eq 1 ] && has "$TMP/rt.json" '"judged": "delivery"' &&
  has "$TMP/rt.json" '"send_tls": null' &&
  grep -q '"fetch_tls": {' "$TMP/rt.json"; then
  ok "roundtrip JSON: WARNING on delivery, both halves' TLS"
else bad "roundtrip JSON" "exit $rc: $(head -c 500 "$TMP/rt.json")"; fi
json_valid "roundtrip --format json" result "$TMP/rt.json"
rt --warning 1ms >"$TMP/rt.out" 2>&1
if grep -q 'delivered in [0-9.]*s (warning at 0.001s)' "$TMP/rt.out" &&
  grep -q '| time=[0-9.]*s;;;0;' "$TMP/rt.out" &&
  grep -q ' delivery=[0-9.]*s;0.001;;0;' "$TMP/rt.out"; then
  ok "roundtrip text and perfdata name delivery, not time"
else bad "roundtrip perfdata" "$(cat "$TMP/rt.out")"; fi
rt --format prometheus >"$TMP/rt.prom" 2>&1
promtool_ok "prometheus, a round trip" "$TMP/rt.prom"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null
SERVE_PID=

# ---- the README's serve walkthrough, as pasted -----------------------
# Its block with the port made a free one and the CA file put in $TMP, so
# that runs at the same time do not meet; everything else as written.
free=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
awk '/^```sh/ { f = 1; b = ""; next } /^```/ { if (b ~ /mailprobe serve/) print b; f = 0 } f { b = b $0 "\n" }' \
  README.md | sed -e "s#build/mailprobe#$BIN#g" -e "s#2525#$free#g" \
  -e "s#/tmp/mailprobe-ca.pem#$TMP/walk-ca.pem#g" >"$TMP/walk.sh"
if ! has "$TMP/walk.sh" curl; then
  bad "README serve walkthrough" "no \`\`\`sh block with mailprobe serve and curl"
elif need curl && (cd "$ROOT" && timeout 60 sh -e "$TMP/walk.sh") \
  >"$TMP/walk.out" 2>&1 && has "$TMP/walk.out" "214 " &&
  has "$TMP/walk.out" "tls=starttls host=mx.example.test cert=valid users=probe@example.test:s3cret"; then
  ok "README serve walkthrough works as pasted"
else bad "README serve walkthrough" "$(tail -n 5 "$TMP/walk.out")"; fi

finish
