#!/bin/sh
# Many probes at once with the descriptor limit lowered: PROBES (320) SMTP
# probes start together against one fake server (`mailprobe serve`, in its
# own process with the normal limit) from a `mailprobe run` whose
# descriptor limit is LIMIT (256). The probes that get no socket must fail
# with no_resources in connect, every other one must pass, nothing may
# crash, leak (an ASan build's leak check makes the exit status other than
# 1) or report a sanitizer error, and the server must serve on.
#
# usage: tests/limits/ulimit.sh [MAILPROBE]
set -u
BIN=${1:-build/mailprobe}
PROBES=${PROBES:-320}
LIMIT=${LIMIT:-256}
. "$(dirname "$0")/lib.sh"

cat >"$TMP/server.yaml" <<'YAML'
name: one SMTP server for many probes
servers:
  mx:
    protocol: smtp
    users: { probe@example.test: s3cret }
probe:
  type: smtp
  server: mx
  tls: none
expect:
  status: ok
YAML
serve "$TMP/server.yaml"
MX=$(addr mx)

# One case per probe, all aimed at the one server.
mkdir "$TMP/cases"
i=0
while [ $i -lt "$PROBES" ]; do
  cat >"$TMP/cases/p$i.yaml" <<YAML
name: probe $i of $PROBES
probe:
  type: smtp
  target: "$MX"
  tls: none
  user: probe@example.test
  password: s3cret
  timeout: 20s
expect:
  status: ok
  error: none
  phase: quit
YAML
  i=$((i + 1))
done

(ulimit -n "$LIMIT" && exec "$BIN" run "$TMP/cases" --jobs "$PROBES" \
  --format json) >"$TMP/run.json" 2>"$TMP/run.err"
rc=$?

count() { grep -c -- "$1" "$TMP/run.json"; }
n_ok=$(count '"status": "ok"')
n_nores=$(count '"error": "no_resources"')
n_connect=$(count '"phase": "connect"')
n_cases=$(count '"file": ')
echo "      $n_cases cases: $n_ok ok, $n_nores no_resources (exit $rc)"

check "the run ends with status 1: some failed, none crashed or leaked" \
  [ "$rc" -eq 1 ]
check "every probe has a result" [ "$n_cases" -eq "$PROBES" ]
check "each probe passed or failed with no_resources" \
  [ $((n_ok + n_nores)) -eq "$PROBES" ]
check "the probes without a socket failed in connect" \
  [ "$n_connect" -eq "$n_nores" ]
check "some probes ran out of descriptors" [ "$n_nores" -gt 0 ]
check "most probes with a descriptor passed" [ "$n_ok" -ge $((LIMIT / 2)) ]
check "no sanitizer report" lacks "$TMP/run.err" "Sanitizer"
check "no undefined behaviour" lacks "$TMP/run.err" "runtime error"
check "the server still answers a probe" \
  "$BIN" check "smtp://$MX" --tls none --timeout 5 >/dev/null

finish
