#!/bin/sh
# The arrows between the rooms: which folder's code may include which.
# wire/ is the engine everyone uses and knows none of them; probes/ and
# fake_servers/ are two sides of a conversation that meet only through
# wire/, and neither knows the harness that drives them; the case parser
# (harness/case/) is pure and knows no libuv. Each .c file's includes are
# listed by the compiler with the Makefile's flags, so a header that pulls
# in another counts too: `cc -M`, not -MM, which would leave out the
# system headers that uv.h is one of. The binary argument is not used.
set -u
BIN=${1:-build/mailprobe}
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.." || exit 2

CC=${CC:-cc}
FLAGS="-std=c11 -D_GNU_SOURCE -I. $(pkg-config --cflags libuv openssl yaml-0.1 libcares libgsasl 2>/dev/null)"

# deps FILE.c: every header FILE.c includes, one a line, as the compiler
# names them (project headers relative to the repo root).
deps() {
  # shellcheck disable=SC2086
  $CC $FLAGS -M "$1" >"$TMP/deps" 2>"$TMP/deps.err" || {
    echo "cannot list the includes of $1:" >&2
    cat "$TMP/deps.err" >&2
    echo "$1: COMPILER-FAILED"
    return
  }
  tr ' \\' '\n\n' <"$TMP/deps" | grep -E '\.h$' | sed 's|^\./||' | sort -u |
    sed "s|^|$1: |"
}

# rule WHAT PATTERN FILES...: ok when no file includes a header matching
# PATTERN (an extended regex on the header's path).
rule() {
  what=$1
  pat=$2
  shift 2
  : >"$TMP/hits"
  for f in "$@"; do
    [ -f "$f" ] || continue
    deps "$f" | awk -v p="$pat" '{ h = $2 } h ~ p || $2 == "COMPILER-FAILED"' \
      >>"$TMP/hits"
  done
  if [ -s "$TMP/hits" ]; then
    bad "$what" "$(tr '\n' ';' <"$TMP/hits" | sed 's/;$//; s/;/; /g')"
  else
    ok "$what"
  fi
}

rule "wire/ includes nothing from probes/, fake_servers/, harness/" \
  '^(probes|fake_servers|harness)/' wire/*.c
rule "probes/ includes nothing from fake_servers/ or harness/" \
  '^(fake_servers|harness)/' probes/*.c
rule "fake_servers/ includes nothing from probes/ or harness/" \
  '^(probes|harness)/' fake_servers/*.c
rule "harness/case/ includes no uv.h (directly or through a header)" \
  '(^|/)uv\.h$' harness/case/*.c
rule "harness/config/ includes no uv.h (directly or through a header)" \
  '(^|/)uv\.h$' harness/config/*.c
rule "harness/config/ includes of the harness only harness/case/ and itself" \
  '^harness/(cli|run|bench|report)/' harness/config/*.c
rule "only harness/http/ includes H2O" '(^|/)h2o(\.h$|/)' \
  $(ls wire/*.c probes/*.c fake_servers/*.c harness/*/*.c | grep -v '^harness/http/')

finish
