#!/bin/sh
# The harness facing bad case files: each must end `mailprobe run` within
# seconds with the file named in a failure (or run, for a big but valid
# one), never a hang or a crash.
#
# usage: tests/limits/casefiles.sh [MAILPROBE]
set -u
BIN=${1:-build/mailprobe}
. "$(dirname "$0")/lib.sh"

# runs NAME WANT_RC PATH [SAYS]: `mailprobe run PATH` ends within 20 s
# with exit status WANT_RC and, when SAYS is given, says it.
runs() {
  timeout 20 "$BIN" run "$3" >"$TMP/out" 2>&1
  rc=$?
  if [ "$rc" -eq 124 ]; then
    bad "$1" "still running after 20 s"
  elif [ "$rc" -ne "$2" ]; then
    bad "$1" "exit status $rc, not $2: $(tail -n 3 "$TMP/out")"
  elif [ $# -ge 4 ] && ! grep -qF -- "$4" "$TMP/out"; then
    bad "$1" "no \"$4\" in: $(tail -n 3 "$TMP/out")"
  else
    ok "$1"
  fi
}

head -c 2100000 /dev/urandom >"$TMP/big.yaml"
runs "a 2 MB file of random bytes" 1 "$TMP/big.yaml" "larger than 1 MiB"

head -c 4000 /dev/urandom >"$TMP/binary.yaml"
runs "4 KB of random bytes" 1 "$TMP/binary.yaml" "binary.yaml:"

printf '' >"$TMP/empty.yaml"
runs "an empty file" 1 "$TMP/empty.yaml" "empty.yaml:"

{
  printf 'a:'
  i=0
  while [ $i -lt 300 ]; do printf ' {b:'; i=$((i + 1)); done
  printf ' 1'
  i=0
  while [ $i -lt 300 ]; do printf '}'; i=$((i + 1)); done
  echo
} >"$TMP/deep.yaml"
runs "maps nested 300 deep" 1 "$TMP/deep.yaml" "nesting deeper than 32"

printf 'name: "caf\351"\n' >"$TMP/latin1.yaml"
runs "invalid UTF-8" 1 "$TMP/latin1.yaml" "not valid UTF-8"

runs "/dev/zero as a case" 1 /dev/zero "not a regular file"

mkfifo "$TMP/fifo.yaml"
runs "a FIFO nobody writes to" 1 "$TMP/fifo.yaml" "not a regular file"

mkdir -p "$TMP/tree/loop"
cat >"$TMP/tree/loop/one.yaml" <<'YAML'
name: one case in a folder with symlinks back to itself
probe:
  type: smtp
  target: "127.0.0.1:1"
  tls: none
  timeout: 2s
expect:
  status: fail
  error: connect_refused
YAML
ln -s . "$TMP/tree/loop/a"
ln -s . "$TMP/tree/loop/b"
ln -s .. "$TMP/tree/loop/up"
runs "a folder with symlinks back up (walked once)" 0 "$TMP/tree/loop" \
  "1 passed, 0 failed"

{
  printf 'name: many rules\nservers:\n  mx:\n    protocol: smtp\n    script:\n'
  i=0
  while [ $i -lt 20000 ]; do
    printf '      - on: NOOP\n        reply: "250 ok %d"\n' $i
    i=$((i + 1))
  done
  printf 'probe:\n  type: smtp\n  server: mx\n  tls: none\n  timeout: 2s\n'
  printf 'expect:\n  status: ok\n  memory: { max: 16MiB }\n'
} >"$TMP/rules.yaml"
runs "20000 rules in a 900 KB file" 0 "$TMP/rules.yaml" "1 passed, 0 failed"

finish
