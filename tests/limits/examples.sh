#!/bin/sh
# The examples a newcomer copies: every command in README.md's ```sh blocks
# and in the "examples:" of `mailprobe --help` and of each subcommand's
# --help. Every path an example names (cases/..., docs/..., *.yaml, *.md)
# must exist, and the examples that are safe offline run: `run` on a part
# of the suite, `serve` until its servers listen (a fixed --port becomes
# 0, any free port), `exporter` until it listens (on any free port) or
# with --config.check, `check` and `roundtrip` only when every host is
# 127.0.0.1 or ::1. Skipped, with the reason: anything that would reach
# another host, `make`, the whole suite (make check runs it already),
# `bench` (a load test), and other programs (curl, swaks).
#
# README.md is read as it is when this runs.
#
# usage: tests/limits/examples.sh [MAILPROBE]
set -u
set -f # globs in examples ('*banner*') are the command's, not ours
BIN=${1:-build/mailprobe}
. "$(dirname "$0")/lib.sh"
export TMP
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
cd "$ROOT" || exit 2

skip() { echo "skip  $1: $2"; }

# examples_of SOURCE: one example a line on stdin, continuation lines
# ("\" at the end) joined, comment lines and trailing "# ..." dropped.
join_lines() {
  awk '
    { sub(/[ \t]+#.*$/, ""); if ($0 ~ /^[ \t]*#/ || $0 ~ /^[ \t]*$/) next }
    /\\$/ { sub(/\\$/, ""); acc = acc $0; next }
    { print acc $0; acc = "" }
  ' | sed -E 's/^[ \t]+//; s/[ \t]+/ /g; s/ $//'
}

# The ```sh blocks of README.md.
readme_examples() {
  awk '/^```sh[ \t]*$/ { f = 1; next } /^```/ { f = 0 } f' README.md |
    join_lines
}

# The lines after "examples:" in a --help text (indented).
help_examples() {
  awk 'f && /^[^ \t]/ { f = 0 } f { print } /^examples:/ { f = 1 }' |
    join_lines
}

# paths_exist WHERE CMD: every cases/..., docs/..., *.yaml or *.md word of
# CMD names a file or folder of the repo; 1 (and a failure) if not.
paths_exist() {
  missing=
  named=0
  skip_next=0
  for w in $(printf '%s\n' "$2" | tr -d "\"'" | tr ' =' '\n\n'); do
    # what -o/--output names is written, not read: it need not exist
    if [ $skip_next -eq 1 ]; then
      skip_next=0
      continue
    fi
    case $w in -o | --output) skip_next=1 ;; esac
    case $w in
    *'*'* | *'?'* | *'$'*) continue ;;
    cases/* | docs/* | ./cases/* | ./docs/* | *.yaml | *.md)
      named=1
      [ -e "$w" ] || missing="$missing $w"
      ;;
    esac
  done
  if [ -n "$missing" ]; then
    bad "$1: $2" "no such file:$missing"
    return 1
  elif [ $named -eq 1 ]; then
    ok "$1: paths exist: $2"
  fi
}

# hosts_local CMD: 0 when every URL host and --target in CMD is 127.0.0.1
# or ::1 (and there is at least one).
hosts_local() {
  hosts=$(printf '%s\n' "$1" | tr ' ' '\n' | sed -nE \
    -e 's#^[a-z0-9]+://(\[[^]]*\]|[^:/]*).*#\1#p')
  [ -n "$hosts" ] || return 1
  for h in $hosts; do
    case $h in 127.0.0.1 | '[::1]') ;; *) return 1 ;; esac
  done
  return 0
}

# try WHERE CMD MAXRC SECONDS ARGS: $BIN ARGS (shell words) in the repo;
# ok when it ends within SECONDS with an exit status of at most MAXRC.
try() {
  timeout "$4" sh -c "\"\$0\" $5" "$BIN" >"$TMP/out" 2>&1
  rc=$?
  if [ $rc -le "$3" ]; then ok "$1: runs: $2"; else
    bad "$1: $2" "exit status $rc: $(tail -n 3 "$TMP/out")"
  fi
}

# hold_up WHERE CMD ARGS STREAM PATTERN WHAT: $BIN ARGS in the background
# until PATTERN shows in its STREAM (out or err; up to 30 s: a sanitizer
# build on a loaded machine starts slowly), then SIGTERM must end it with
# status 0. WHAT names what comes up, in messages. The files are emptied
# first, here: the shell opens them in the child after `&` returns, so a
# poll could otherwise read the last example's line.
hold_up() {
  rm -f "$TMP/up.out" "$TMP/up.err"
  : >"$TMP/up.out"
  : >"$TMP/up.err"
  sh -c "exec \"\$0\" $3" "$BIN" >"$TMP/up.out" 2>"$TMP/up.err" &
  pid=$!
  i=0
  while ! grep -q "$5" "$TMP/up.$4" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 300 ] || ! kill -0 "$pid" 2>/dev/null; then
      break
    fi
    sleep 0.1
  done
  if grep -q "$5" "$TMP/up.$4"; then
    kill -TERM "$pid"
    wait "$pid"
    rc=$?
    if [ $rc -eq 0 ]; then ok "$1: runs: $2"; else
      bad "$1: $2" "exit status $rc after SIGTERM"
    fi
  else
    if kill -0 "$pid" 2>/dev/null; then
      state="still starting after $((i / 10)) s"
      kill -TERM "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
    else
      wait "$pid" 2>/dev/null
      state="it ended with status $? after $((i / 10)) s"
    fi
    bad "$1: $2" "$6 did not come up ($state): $(head -n 2 "$TMP/up.err")"
  fi
}

# run_example WHERE CMD: CMD with its mailprobe replaced by $BIN, run in
# the repo (a redirection goes into $TMP), when it is safe offline.
run_example() {
  where=$1
  cmd=$2
  set -- $(printf '%s\n' "$cmd" | tr -d "'\"")
  sub=${2:-}
  rest=$(printf '%s\n' "$cmd" | sed -E 's|^[^ ]*mailprobe ?||')
  # A redirection writes into $TMP, never into the repo.
  rest=$(printf '%s\n' "$rest" | sed -E 's/>[ ]*[^ ]+/>"$TMP\/redirect.out"/')
  case " $rest " in
  *" --help "* | *" -h "* | " -V " | " --version ")
    try "$where" "$cmd" 0 60 "$rest"
    return
    ;;
  esac
  case $sub in
  run)
    # Without a path below cases/ or a --filter, `run` is the whole suite.
    if ! printf '%s\n' "$rest" | grep -qE '(^| )(cases/[^ ]|--filter)'; then
      skip "$where: $cmd" "the whole suite (make check runs it)"
      return
    fi
    try "$where" "$cmd" 0 300 "$rest"
    ;;
  serve)
    # Any free port instead of a fixed one; not in the background.
    # A --ca file goes into $TMP, where parallel runs cannot meet.
    rest=$(printf '%s\n' "$rest" |
      sed -E 's/(--port[ =][^ =]+=)[0-9]+/\10/g; s/ ?&$//' |
      sed -E "s#--ca[ =][^ ]+#--ca $TMP/ca.pem#")
    hold_up "$where" "$cmd" "$rest" out '^CA ' "its servers"
    ;;
  record)
    # A transcript is read, a local server recorded; the case goes to $TMP.
    rest=$(printf '%s\n' "$rest" |
      sed -E 's#(-o|--output)[ =][^ ]+#\1 "$TMP/record.out"#')
    case " $rest " in
    *" --from "*) try "$where" "$cmd" 0 60 "$rest" ;;
    *)
      if hosts_local "$rest"; then
        try "$where" "$cmd" 0 60 "$rest"
      else
        skip "$where: $cmd" "it would reach a host other than 127.0.0.1/::1"
      fi
      ;;
    esac
    ;;
  check | roundtrip)
    if ! hosts_local "$rest"; then
      skip "$where: $cmd" "it would reach a host other than 127.0.0.1/::1"
      return
    fi
    # Exit codes as a Nagios plugin: 0-3 whatever the server (if any) says.
    try "$where" "$cmd" 3 60 "$rest"
    ;;
  bench)
    skip "$where: $cmd" "a load test"
    ;;
  exporter)
    case " $rest " in
    *" --config.check "*)
      try "$where" "$cmd" 0 60 "$rest"
      return
      ;;
    esac
    # Any free port; up until it listens, then SIGTERM must end it with 0.
    rest=$(printf '%s\n' "$rest" |
      sed -E 's/(--listen[ =])([^ ]*):[0-9]+/\1127.0.0.1:0/; s/ ?&$//')
    hold_up "$where" "$cmd" "$rest" err 'listening on' "the exporter"
    ;;
  monitor)
    # It runs until stopped; --check only reads the config.
    case " $rest " in
    *" --check "*) try "$where" "$cmd" 0 60 "$rest" ;;
    *) skip "$where: $cmd" "it runs until stopped" ;;
    esac
    ;;
  report)
    # Any -o FILE goes into $TMP.
    rest=$(printf '%s\n' "$rest" | sed -E 's#(-o|--output) [^ ]+#\1 "$TMP/report.out"#')
    if [ -e "${3:-}" ]; then
      try "$where" "$cmd" 0 60 "$rest"
    else
      skip "$where: $cmd" "no such history here"
    fi
    ;;
  *)
    skip "$where: $cmd" "not a mailprobe subcommand"
    ;;
  esac
}

# check_examples WHERE: the examples on stdin.
check_examples() {
  n=0
  while IFS= read -r cmd; do
    n=$((n + 1))
    paths_exist "$1" "$cmd" || continue
    case $cmd in
    mailprobe* | build/mailprobe* | ./build/mailprobe*)
      run_example "$1" "$cmd" </dev/null
      ;;
    make*) skip "$1: $cmd" "make (this runs inside it)" ;;
    *) skip "$1: $cmd" "not mailprobe" ;;
    esac
  done
  [ $n -gt 0 ] || bad "$1" "no examples found"
}

readme_examples >"$TMP/readme.ex"
check_examples README.md <"$TMP/readme.ex"

for c in "" run check roundtrip serve record bench exporter monitor report; do
  where="mailprobe${c:+ $c} --help"
  if "$BIN" $c --help >"$TMP/help" 2>&1; then
    ok "$where exits 0"
  else
    bad "$where" "exit status $?"
    continue
  fi
  help_examples <"$TMP/help" >"$TMP/help.ex"
  check_examples "$where" <"$TMP/help.ex"
done

finish
