# Shared by the tests/limits/*.sh scripts: counters, a fake server held up
# with `mailprobe serve`, and cleanup. Source it after setting BIN.

PASSED=0
FAILED=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mailprobe-limits.XXXXXX")
SERVE_PID=

cleanup() {
  if [ -n "$SERVE_PID" ]; then
    kill -TERM "$SERVE_PID" 2>/dev/null
    wait "$SERVE_PID" 2>/dev/null
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ok WHAT / bad WHAT WHY: one check's outcome.
ok() {
  PASSED=$((PASSED + 1))
  echo "ok    $1"
}
bad() {
  FAILED=$((FAILED + 1))
  echo "FAIL  $1: $2"
}

# check WHAT COMMAND...: ok when the command succeeds.
check() {
  what=$1
  shift
  if "$@"; then ok "$what"; else bad "$what" "false: $*"; fi
}

# has FILE STRING / lacks FILE STRING (fixed strings).
has() { grep -qF -- "$2" "$1"; }
lacks() { ! grep -qF -- "$2" "$1"; }

# serve CASE: starts `mailprobe serve CASE` and waits until every server
# listens; then addr NAME prints a server's 127.0.0.1:PORT and $CA is the
# CA file that signs their certificates.
serve() {
  : >"$TMP/serve.out" # emptied here, not in the child: no stale CA line
  "$BIN" serve "$1" >"$TMP/serve.out" 2>"$TMP/serve.err" &
  SERVE_PID=$!
  i=0
  while ! grep -q '^CA ' "$TMP/serve.out" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 "$SERVE_PID" 2>/dev/null; then
      echo "mailprobe serve did not start:" >&2
      cat "$TMP/serve.err" >&2
      exit 2
    fi
    sleep 0.1
  done
  CA=$(awk '$1 == "CA" { print $2 }' "$TMP/serve.out")
}
addr() { awk -v n="$1" '$1 == n { print $3 }' "$TMP/serve.out"; }

# in_repo: BIN made absolute, ROOT the repo, and the shell in it (for the
# scripts that run repo files: README.md, tests/data, make).
in_repo() {
  ROOT=$(cd "$(dirname "$0")/../.." && pwd)
  case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
  cd "$ROOT" || exit 2
}

# start_exporter ARGS...: `mailprobe exporter ARGS` on 127.0.0.1, any free
# port, until it listens; then $EXP is its 127.0.0.1:PORT and $EXP_PID its
# pid (stderr in $TMP/exporter.err). stop_exporter: SIGTERM, and a check
# that it ends with status 0.
start_exporter() {
  : >"$TMP/exporter.err"
  "$BIN" exporter "$@" --listen 127.0.0.1:0 2>"$TMP/exporter.err" &
  EXP_PID=$!
  i=0
  until grep -q 'listening on' "$TMP/exporter.err"; do
    i=$((i + 1))
    if [ $i -gt 300 ] || ! kill -0 "$EXP_PID" 2>/dev/null; then
      echo "mailprobe exporter did not start:" >&2
      cat "$TMP/exporter.err" >&2
      kill -TERM "$EXP_PID" 2>/dev/null
      exit 2
    fi
    sleep 0.1
  done
  EXP=127.0.0.1:$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' \
    "$TMP/exporter.err")
}
stop_exporter() {
  kill -TERM "$EXP_PID"
  wait "$EXP_PID"
  rc=$?
  if [ $rc -eq 0 ]; then ok "exporter stops on SIGTERM with status 0"; else
    bad "exporter stop" "status $rc: $(tail -n 3 "$TMP/exporter.err")"
  fi
}

# The closing line every limits script prints; exits non-zero on failure.
finish() {
  echo "$(basename "$0" .sh): $PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
}
