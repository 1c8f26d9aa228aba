#!/bin/sh
# `mailprobe exporter` end to end: fake servers (`mailprobe serve` of a
# healthy case and of a 421 banner), the exporter in front of them on an
# ephemeral port, and a real Prometheus (Debian's) on loopback scraping it
# with docs/prometheus.md's multi-target scrape config. A PromQL query
# through Prometheus' HTTP API must find probe_success 1 for the healthy
# target and 0 with error="rejected" for the 421. On the way: `promtool
# check metrics` on every output, `promtool check rules` on the doc's alert
# rules, the 400/403/405/414/431 answers, --config.check, and reloads
# (POST and SIGHUP; a broken file keeps the old config and says
# file:line:column). Prometheus runs under the interop lock, as anything
# that starts a real server does.
set -u
BIN=${1:-build/mailprobe}
. "$(dirname "$0")/lib.sh"
in_repo

for tool in prometheus promtool curl; do
  if ! command -v $tool >/dev/null 2>&1; then
    bad "$tool is installed" "ci/install-deps installs it"
    finish
    exit 1
  fi
done

PIDS=""
stop_all() {
  for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
  for p in $PIDS; do wait "$p" 2>/dev/null; done
  PIDS=""
}
trap 'stop_all; cleanup' EXIT

# start_serve NAME CASE: a fake server of CASE; its port in $PORT.
start_serve() {
  "$BIN" serve "$2" >"$TMP/$1.out" 2>"$TMP/$1.err" &
  PIDS="$PIDS $!"
  i=0
  until grep -q '^CA ' "$TMP/$1.out" 2>/dev/null; do
    i=$((i + 1))
    [ $i -gt 300 ] && { bad "serve $2" "$(cat "$TMP/$1.err")"; finish; exit 1; }
    sleep 0.1
  done
  PORT=$(awk '$1 == "mx" { split($3, a, ":"); print a[2] }' "$TMP/$1.out")
}
start_serve ok cases/smtp/happy_tls_none.yaml
OK=127.0.0.1:$PORT
start_serve bad cases/smtp/banner_421.yaml
BAD=127.0.0.1:$PORT

cat >"$TMP/exporter.yaml" <<EOF2
modules:
  smtp_banner:
    type: smtp
    tls: none
    timeout: 5s
exporter:
  allow: ["127.0.0.0/8", "::1", "*.example.test"]
EOF2
cp "$TMP/exporter.yaml" "$TMP/good.yaml"

start_exporter --config "$TMP/exporter.yaml"
PIDS="$PIDS $EXP_PID"
ok "exporter listens on $EXP"

# get NAME URL [curl args]: the body into $TMP/NAME, the status into
# $TMP/NAME.code.
get() {
  n=$1
  u=$2
  shift 2
  curl -s -o "$TMP/$n" -w '%{http_code}' "$@" "http://$EXP$u" >"$TMP/$n.code"
}
status_is() { # WHAT NAME CODE
  if [ "$(cat "$TMP/$2.code")" = "$3" ]; then ok "$1: $3"; else
    bad "$1" "status $(cat "$TMP/$2.code"), want $3: $(head -c 300 "$TMP/$2")"
  fi
}
promcheck() { # WHAT NAME
  if promtool check metrics <"$TMP/$2" >"$TMP/$2.lint" 2>&1; then
    ok "promtool check metrics: $1"
  else
    bad "promtool check metrics: $1" "$(head -n 5 "$TMP/$2.lint")"
  fi
}

get ok "/probe?module=smtp_banner&target=$OK"
status_is "/probe of a healthy server" ok 200
check "probe_success 1 for the healthy server" has "$TMP/ok" "probe_success 1"
promcheck "/probe, a success" ok
get bad "/probe?module=smtp_banner&target=$BAD" \
  -H 'X-Prometheus-Scrape-Timeout-Seconds: 3'
check "probe_success 0 for the 421" has "$TMP/bad" "probe_success 0"
check "the 421's phase and error" has "$TMP/bad" \
  'probe_mail_result_info{phase="banner",error="rejected"} 1'
check "the 421's reply code" has "$TMP/bad" "probe_mail_reply_code 421"
promcheck "/probe, a failure" bad
get dbg "/probe?module=smtp_banner&target=$BAD&debug=true"
check "debug=true shows the transcript" has "$TMP/dbg" "S: 421 4.3.2"
check "debug=true shows the module" has "$TMP/dbg" "smtp_banner:"
get idx "/"
check "the index lists the last results" has "$TMP/idx" "rejected"
get notarget "/probe?module=smtp_banner"
status_is "a missing target" notarget 400
check "says why" has "$TMP/notarget" "target parameter is missing"
get nomod "/probe?module=nope&target=$OK"
status_is "an unknown module" nomod 400
get deny "/probe?module=smtp_banner&target=192.0.2.1:25"
status_is "a target outside the allow list" deny 403
get long "/probe?module=smtp_banner&target=$(head -c 9000 /dev/zero | tr '\0' a)"
status_is "a 9000-byte request target" long 414
get big "/-/healthy" -H "X-Big: $(head -c 17000 /dev/zero | tr '\0' b)"
status_is "17 KB of headers" big 431
get healthy "/-/healthy"
status_is "/-/healthy" healthy 200
get reloadget "/-/reload"
status_is "GET /-/reload" reloadget 405

# A broken config: --config.check says where; a reload keeps the old one.
printf 'modules:\n  smtp_banner:\n    type: smtp\n    timout: 5s\n' \
  >"$TMP/broken.yaml"
"$BIN" exporter --config "$TMP/broken.yaml" --config.check >"$TMP/cc.out" 2>&1
rc=$?
if [ $rc -eq 3 ] && has "$TMP/cc.out" "broken.yaml:4:5: unknown key 'timout'"; then
  ok "--config.check names file:line:column"
else
  bad "--config.check of a broken file" "exit $rc: $(cat "$TMP/cc.out")"
fi
if "$BIN" exporter --config "$TMP/good.yaml" --config.check >"$TMP/cc2.out" 2>&1 &&
  has "$TMP/cc2.out" "1 modules, OK"; then
  ok "--config.check of a good file"
else
  bad "--config.check of a good file" "$(cat "$TMP/cc2.out")"
fi
cp "$TMP/broken.yaml" "$TMP/exporter.yaml"
get reload "/-/reload" -X POST
status_is "POST /-/reload of a broken file" reload 500
check "the reload's answer names file:line:column" has "$TMP/reload" \
  "exporter.yaml:4:5: unknown key 'timout'"
check "the log names file:line:column" has "$TMP/exporter.err" \
  "reload failed, keeping the old config: $TMP/exporter.yaml:4:5:"
get m1 "/metrics"
check "last reload failed: the metric says 0" has "$TMP/m1" \
  "mailprobe_exporter_config_last_reload_successful 0"
promcheck "/metrics" m1
get still "/probe?module=smtp_banner&target=$OK"
check "the old config still probes" has "$TMP/still" "probe_success 1"
cp "$TMP/good.yaml" "$TMP/exporter.yaml"
kill -HUP "$EXP_PID"
i=0
until grep -q 'config reloaded' "$TMP/exporter.err"; do
  i=$((i + 1))
  [ $i -gt 100 ] && break
  sleep 0.1
done
get m2 "/metrics"
check "SIGHUP with a good file: the metric says 1" has "$TMP/m2" \
  "mailprobe_exporter_config_last_reload_successful 1"

# The doc's alert rules and scrape config.
awk '/^## Alert rules/ { f = 1 } f && /^```yaml/ { g = 1; next }
     g && /^```/ { exit } g' docs/prometheus.md >"$TMP/rules.yml"
if promtool check rules "$TMP/rules.yml" >"$TMP/rules.out" 2>&1; then
  ok "promtool check rules: docs/prometheus.md's alert rules"
else
  bad "promtool check rules" "$(tail -n 5 "$TMP/rules.out")"
fi
awk '/^## Scrape config/ { f = 1 } f && /^```yaml/ { g = 1; next }
     g && /^```/ { exit } g' docs/prometheus.md |
  sed -e "s/\"mx1.example.com:25\", \"mx2.example.com:25\"/\"$OK\", \"$BAD\"/" \
    -e "s/127.0.0.1:9125/$EXP/g" -e 's/scrape_interval: 60s/scrape_interval: 1s/' \
    -e 's/scrape_timeout: 15s/scrape_timeout: 1s/' >"$TMP/scrape.yml"
{
  printf 'global:\n  scrape_interval: 1s\n'
  cat "$TMP/scrape.yml"
} >"$TMP/prometheus.yml"
check "the doc's scrape config has both targets" has "$TMP/prometheus.yml" "$BAD"

# Prometheus on a free loopback port, under the interop lock.
run_prometheus() {
  PPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  prometheus --config.file="$TMP/prometheus.yml" \
    --storage.tsdb.path="$TMP/tsdb" --web.listen-address="127.0.0.1:$PPORT" \
    --log.level=warn >"$TMP/prometheus.log" 2>&1 &
  PROM_PID=$!
  # query PROMQL: the first sample's value, or nothing.
  query() {
    curl -s -G "http://127.0.0.1:$PPORT/api/v1/query" \
      --data-urlencode "query=$1" |
      python3 -c 'import json,sys
d = json.load(sys.stdin)["data"]["result"]
print(d[0]["value"][1] if d else "")' 2>/dev/null
  }
  i=0
  good="" fail="" why=""
  while [ $i -lt 60 ]; do
    i=$((i + 1))
    sleep 0.5
    good=$(query "probe_success{instance=\"$OK\"}")
    fail=$(query "probe_success{instance=\"$BAD\"}")
    why=$(query "probe_mail_result_info{instance=\"$BAD\",error=\"rejected\",phase=\"banner\"}")
    [ "$good" = 1 ] && [ "$fail" = 0 ] && [ "$why" = 1 ] && break
  done
  kill -TERM "$PROM_PID"
  wait "$PROM_PID"
  if [ "$good" = 1 ]; then ok "PromQL: probe_success 1 for the healthy target"; else
    bad "PromQL: probe_success for $OK" "got '$good': $(tail -n 3 "$TMP/prometheus.log")"
  fi
  if [ "$fail" = 0 ] && [ "$why" = 1 ]; then
    ok "PromQL: probe_success 0 and error=\"rejected\" for the 421"
  else
    bad "PromQL: the 421" "probe_success '$fail', result_info '$why'"
  fi
}
exec 9>/tmp/mailprobe-interop.lock
flock 9
run_prometheus
flock -u 9

get m3 "/metrics"
check "Prometheus' scrapes counted" has "$TMP/m3" \
  'mailprobe_exporter_probes_total{module="smtp_banner",result="failure"}'
PIDS=$(echo "$PIDS" | sed "s/ $EXP_PID//")
stop_exporter
finish
