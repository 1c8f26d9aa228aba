#!/bin/sh
# The repo explains itself: docs/architecture.md names every source file
# of the four rooms (so a new file gets its line in the house plan), and no
# file a clone holds points outside the repo for its design.
set -u
BIN=${1:-build/mailprobe}
cd "$(dirname "$0")/../.." || exit 1
. tests/limits/lib.sh

doc=docs/architecture.md
check "$doc exists" test -f "$doc"
missing=""
for f in wire/*.[ch] probes/*.[ch] fake_servers/*.[ch] harness/*/*.[ch]; do
  grep -qF -- "$(basename "$f")" "$doc" || missing="$missing $f"
done
if [ -z "$missing" ]; then
  ok "$doc names every file in wire/, probes/, fake_servers/, harness/"
else
  bad "$doc names every source file" "not named:$missing"
fi

# Nothing in the repo sends a reader to files a clone does not have.
outside=$(git grep -nE '\.\./shared|DESIGN\.md|STYLE\.md' -- \
  ':!tests/limits/docs.sh' 2>/dev/null)
if [ -z "$outside" ]; then
  ok "no pointer to ../shared, DESIGN.md or STYLE.md"
else
  bad "no pointer outside the repo" "$outside"
fi

echo "docs: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
