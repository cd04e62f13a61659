#!/bin/sh
# conformance.sh - runs the feedparser-derived conformance corpus against
# `wirewatchctl parse` and `wirewatchctl date`.
#
# Run from the repository root (make conformance).  The corpus lives in
# ../shared/corpus relative to the repo root unless WW_CORPUS says
# otherwise.  Extra arguments (-v, --only 'rss/*', --skip-policy P, ...) go
# to the feed check.  Exits 0 when at least 97% of the feed assertions and
# every date row pass.
set -u

ROOT=$(pwd)
CORPUS=${WW_CORPUS:-$ROOT/../shared/corpus}
CTL=$ROOT/build/wirewatchctl
MIN_PCT=${WW_MIN_PCT:-97}

if [ ! -f "$CORPUS/check_with_feedparser.py" ]; then
	echo "conformance: no corpus at $CORPUS (set WW_CORPUS)" >&2
	exit 2
fi
if [ ! -x "$CTL" ]; then
	echo "conformance: $CTL missing (make all first)" >&2
	exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== feeds ($CORPUS)"
python3 "$CORPUS/check_with_feedparser.py" \
    --parser-cmd "$CTL parse --base-url {url} --content-type {content_type} {file}" \
    "$@" >"$tmp/feeds.out" 2>&1
cat "$tmp/feeds.out"

echo "== dates"
python3 "$CORPUS/check_with_feedparser.py" --dates \
    --date-cmd "$CTL date {input}" >"$tmp/dates.out" 2>&1
dates_rc=$?
cat "$tmp/dates.out"

# "assertions: 1935  passed: 1890  failed: 45  (97.7%)"
line=$(grep -m1 '^assertions:' "$tmp/feeds.out")
total=$(echo "$line" | awk '{print $2}')
passed=$(echo "$line" | awk '{print $4}')
if [ -z "$total" ] || [ "$total" -eq 0 ]; then
	echo "conformance: could not read the feed summary" >&2
	exit 1
fi
pct=$(awk -v p="$passed" -v t="$total" 'BEGIN { printf "%.1f", 100 * p / t }')
ok=$(awk -v p="$passed" -v t="$total" -v m="$MIN_PCT" 'BEGIN { print (100 * p >= m * t) ? 1 : 0 }')

echo "== summary"
echo "feed assertions: $passed/$total ($pct%), need >= $MIN_PCT%"
if [ "$dates_rc" -eq 0 ]; then
	echo "dates: all pass"
else
	echo "dates: FAILURES"
fi
[ "$ok" = 1 ] && [ "$dates_rc" -eq 0 ]
