#!/bin/sh
# Subjects against cases/classes/ (docs/subjects.md): each deliberately
# wrong subject of cases/subjects/examples/ lands in the class it shows;
# a hung subject that leaves a sleeper is killed with no process left; a
# gigabyte of output is capped and still classed; a missing command is
# ERROR with its message; a broken profile is an error at file:line:column;
# a baseline fails the run on any change; the union of --shard parts is
# the whole run.
set -u
BIN=${1:-build/mailprobe}
. "$(dirname "$0")/lib.sh"
E=cases/subjects/examples
C=cases/classes

# class SUBJECT CASE: the class of one cell of $TMP/out.json.
class() {
  jq -r --arg s "$1" --arg f "$C/$2.yaml" \
    '.cases[] | select(.file == $f) | .cells[$s].class' "$TMP/out.json"
}
# jqe EXPR FILE: jq -e, quiet.
jqe() { jq -e "$1" "$2" >/dev/null; }
expect_class() {
  got=$(class "$1" "$2")
  if [ "$got" = "$3" ]; then ok "$1 on $2 is $3"; else bad "$1 on $2" "class $got, want $3"; fi
}

"$BIN" run $C --subject mailprobe --subject $E/python_smtp.yaml \
  --subject $E/always_ok.yaml --subject $E/always_timeout.yaml \
  --subject $E/unimplemented.yaml --subject $E/missing.yaml \
  --subject $E/plain_login.yaml --subject $E/broken.yaml \
  --format json >"$TMP/out.json" 2>"$TMP/err"
rc=$?
check "a run with FAIL and ERROR cells exits 1" [ "$rc" -eq 1 ]
for c in ok_plain banner_421 banner_hang auth_after_starttls; do
  expect_class mailprobe $c PASS
  expect_class python_smtp $c PASS
  expect_class unimplemented $c UNSUPPORTED
done
# Always OK: FAIL on every case that expects a failure (and on the healthy
# one too: it never connects, so the server never saw its QUIT).
for c in banner_421 banner_hang ok_plain; do expect_class always_ok $c FAIL; done
expect_class always_timeout banner_hang PASS
expect_class always_timeout banner_421 NON-STRICT
expect_class always_timeout ok_plain FAIL
expect_class plain_login auth_after_starttls FAIL
check "plain_login's FAIL is the password in clear" \
  jqe '.cases[] | select(.file | endswith("auth_after_starttls.yaml")) |
    .cells.plain_login.reason | test("before TLS")' "$TMP/out.json"
expect_class missing banner_421 ERROR
check "a missing command says why" \
  jqe '.cases[] | select(.file | endswith("banner_421.yaml")) |
    .cells.missing.detail | test("no such file")' "$TMP/out.json"
expect_class broken banner_421 ERROR
check "a broken profile is an error at file:line:column" \
  has "$TMP/err" "$E/broken.yaml:5:1: unknown key 'verdikt'"

# A subject that forks a sleeper and hangs: killed at timeout + grace,
# and nothing of it left.
"$BIN" run $C/banner_421.yaml --subject $E/sleeper.yaml --format json \
  >"$TMP/sleeper.json" 2>/dev/null
pid=$(jq -r '.cases[0].cells.sleeper.stdout' "$TMP/sleeper.json" | awk '/^sleeper/ { print $2 }')
check "the sleeper printed its pid" [ -n "$pid" ]
check "the hung subject is FAIL, killed" \
  jqe '.cases[0].cells.sleeper | .class == "FAIL" and
    (.reason | test("killed"))' "$TMP/sleeper.json"
check "it was killed at its timeout plus grace (5 s + 0.5 s)" \
  jqe '.cases[0].cells.sleeper.seconds | . >= 5.4 and . < 8' "$TMP/sleeper.json"
if [ -n "$pid" ] && [ -e "/proc/$pid" ]; then
  bad "no process left" "pid $pid: $(cat /proc/$pid/stat 2>/dev/null)"
else
  ok "no process left, not even a zombie"
fi

# A gigabyte of output: capped, and the verdict still read.
"$BIN" run $C/banner_421.yaml $C/ok_plain.yaml --subject $E/chatty.yaml \
  --format json >"$TMP/chatty.json" 2>/dev/null
check "the gigabyte was counted" \
  jqe '.cases[0].cells.chatty.stdout_bytes > 1000000000' "$TMP/chatty.json"
check "and capped (4 KiB head, 4 KiB tail)" \
  jqe '.cases[0].cells.chatty.stdout | length < 9000' "$TMP/chatty.json"
check "and still classed: it said OK on a 421, FAIL" \
  jqe '.cases[0].cells.chatty | .class == "FAIL" and .verdict == "ok"' \
  "$TMP/chatty.json"

# Baselines: the run's own report passes; a changed class fails.
"$BIN" run $C --subject mailprobe --subject $E/always_ok.yaml --format json \
  >"$TMP/base.json" 2>/dev/null
"$BIN" run $C --subject mailprobe --subject $E/always_ok.yaml \
  --baseline "$TMP/base.json" >"$TMP/b1.txt" 2>&1
check "a run against its own baseline exits 0 (FAILs included)" [ $? -eq 0 ]
check "and says so" has "$TMP/b1.txt" "0 changes"
jq '(.cases[] | select(.file | endswith("banner_421.yaml")) |
  .cells.always_ok.class) = "PASS"' "$TMP/base.json" >"$TMP/base2.json"
"$BIN" run $C --subject mailprobe --subject $E/always_ok.yaml \
  --baseline "$TMP/base2.json" >"$TMP/b2.txt" 2>&1
check "a change from the baseline fails the run" [ $? -eq 1 ]
check "and names it a regression" has "$TMP/b2.txt" "now FAIL (a regression)"

# Shards: every case in exactly one of three parts; their union is the
# whole run.
"$BIN" run cases/classes cases/smtp --subject $E/always_ok.yaml --format json \
  >"$TMP/whole.json" 2>/dev/null
for i in 1 2 3; do
  "$BIN" run cases/classes cases/smtp --subject $E/always_ok.yaml \
    --shard $i/3 --format json >"$TMP/shard$i.json" 2>/dev/null
done
jq -r '.cases[] | .file + " " + .cells.always_ok.class' "$TMP/whole.json" |
  sort >"$TMP/whole.txt"
cat "$TMP"/shard1.json "$TMP"/shard2.json "$TMP"/shard3.json |
  jq -r '.cases[] | .file + " " + .cells.always_ok.class' | sort >"$TMP/union.txt"
check "the union of 3 shards is the whole run" cmp -s "$TMP/whole.txt" "$TMP/union.txt"
for i in 1 2 3; do
  check "shard $i/3 is not empty" jqe '.cases | length > 0' "$TMP/shard$i.json"
done
check "no progress line off a terminal" lacks "$TMP/b1.txt" "left"

# env: the password reaches a probe that reads it from its environment.
cat >"$TMP/envcheck.yaml" <<'YAML'
name: envcheck
command: [/bin/sh, -c, 'test "$PROBE_PW" = s3cret && echo OK || echo "BAD $PROBE_PW"']
tls: { starttls: [] }
login: []
env: { PROBE_PW: "{password}" }
verdict: { exit: nagios, ok: "^OK$", fail: "^BAD" }
YAML
"$BIN" run $C/auth_after_starttls.yaml --subject "$TMP/envcheck.yaml" \
  --format json >"$TMP/env.json" 2>/dev/null
check "env: hands the case's password to the subject" \
  jqe '.cases[0].cells.envcheck.verdict == "ok"' "$TMP/env.json"

# The progress line: on a terminal (script(1) gives one), none off it.
if command -v script >/dev/null 2>&1; then
  script -qc "$BIN run $C --subject mailprobe >/dev/null" "$TMP/tty.txt" \
    >/dev/null 2>&1
  check "a progress line on a terminal" has "$TMP/tty.txt" "[4/4] 0 failing"
fi

finish
