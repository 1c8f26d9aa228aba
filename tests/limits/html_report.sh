#!/bin/sh
# The HTML report (`run --subject ... --format html`) in headless
# Chromium, with no network: the page loads, a screenshot is taken, and
# the counts per class in the DOM are the counts of the same run's JSON
# report; the filter script runs (a filter by class hides rows).
# Without Chromium the checks are skipped with a notice, unless
# REQUIRE_CHROMIUM=1 (make matrix), where its absence fails.
set -u
BIN=${1:-build/mailprobe}
. "$(dirname "$0")/lib.sh"
E=cases/subjects/examples
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

if [ ! -x "$CHROMIUM" ]; then
  if [ "${REQUIRE_CHROMIUM:-0}" = 1 ]; then
    bad "chromium" "$CHROMIUM is not installed (ci/install-deps installs it)"
  else
    echo "SKIP  the HTML report in Chromium: $CHROMIUM is not installed"
  fi
  finish
  exit $?
fi

# chrome FLAGS...: headless, offline, in a profile of its own.
chrome() {
  timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu \
    --no-first-run --disable-extensions --disable-background-networking \
    --disable-sync --disable-default-apps --user-data-dir="$TMP/chrome" \
    --proxy-server=127.0.0.1:9 --proxy-bypass-list='<-loopback>' \
    --virtual-time-budget=3000 "$@" 2>>"$TMP/chrome.err"
}

set -- --subject mailprobe --subject $E/python_smtp.yaml \
  --subject $E/always_ok.yaml --subject $E/unimplemented.yaml \
  --subject $E/missing.yaml
"$BIN" run cases/classes "$@" --format html >"$TMP/report.html" 2>/dev/null
"$BIN" run cases/classes "$@" --format json >"$TMP/report.json" 2>/dev/null
check "the page names no address to fetch" \
  sh -c "! grep -Eq '(src|href)=\"(https?:)?//' '$TMP/report.html'"

chrome --dump-dom "file://$TMP/report.html" >"$TMP/dom.html"
check "Chromium loaded the page" has "$TMP/dom.html" 'id="matrix"'
for cls in PASS NON-STRICT FAIL UNSUPPORTED ERROR; do
  want=$(jq "[.counts[][\"$cls\"]] | add" "$TMP/report.json")
  got=$(sed -n "s/.*<b id=\"count-$cls\">\([0-9]*\)<\/b>.*/\1/p" "$TMP/dom.html")
  if [ "$got" = "$want" ] && [ -n "$got" ]; then
    ok "the DOM counts $got $cls, as the JSON report"
  else
    bad "count of $cls" "DOM says '$got', JSON says '$want'"
  fi
done
rows=$(grep -o '<tr class="row' "$TMP/dom.html" | wc -l)
check "a matrix row per case (4)" [ "$rows" -eq 4 ]
check "a waterfall for mailprobe's phases" has "$TMP/dom.html" 'class="waterfall"'

# The filter script runs in the page: FAIL hides the rows without one.
sed 's|</body>|<script>document.getElementById("f-class").value="UNSUPPORTED";document.getElementById("f-subject").value="mailprobe";apply();document.title="hidden:"+document.querySelectorAll("tr.row.hidden").length;</script></body>|' \
  "$TMP/report.html" >"$TMP/filtered.html"
chrome --dump-dom "file://$TMP/filtered.html" >"$TMP/fdom.html"
check "filtering mailprobe's UNSUPPORTED cells hides all 4 rows" \
  has "$TMP/fdom.html" "<title>hidden:4</title>"

chrome --screenshot="$TMP/shot.png" --window-size=1280,1600 \
  "file://$TMP/report.html" >/dev/null
check "a screenshot was taken" [ -s "$TMP/shot.png" ]
if [ -n "${HTML_SHOT:-}" ] && [ -s "$TMP/shot.png" ]; then cp "$TMP/shot.png" "$HTML_SHOT"; fi
finish
