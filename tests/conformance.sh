#!/bin/sh
# tests/conformance.sh - `make conformance`: the feed-parser conformance
# corpus (../shared/corpus, or $WW_CORPUS) against `wirewatchctl parse`, and
# the date table against `wirewatchctl date`.  Prints the pass rates; exits
# non-zero below 97% of the feed assertions or on any date row failing.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CORPUS=${WW_CORPUS:-$ROOT/../shared/corpus}
CTL=$ROOT/build/wirewatchctl
[ -f "$CORPUS/check_with_feedparser.py" ] || { echo "conformance: no corpus at $CORPUS (set WW_CORPUS)" >&2; exit 2; }

out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "== feeds: $CORPUS/feeds"
python3 "$CORPUS/check_with_feedparser.py" \
	--parser-cmd "$CTL parse --base-url {url} --content-type {content_type} --content-location {content_location} --content-language {content_language} {file}" \
	"$@" >"$out" 2>&1 || true
# With options (-v, --only ...) show everything the checker said.
if [ $# -gt 0 ]; then cat "$out"; else grep -E '^(cases|assertions|  of which)' "$out"; fi
pct=$(sed -n 's/^assertions:.*(\([0-9.]*\)%).*/\1/p' "$out")
echo "== dates: $CORPUS/dates.jsonl"
dates_ok=0
python3 "$CORPUS/check_with_feedparser.py" --dates --date-cmd "$CTL date {input}" \
	>"$out" 2>&1 && dates_ok=1
tail -n 3 "$out"
echo "feed assertions: ${pct:-0}% (target 97%); dates: $( [ $dates_ok = 1 ] && echo all pass || echo FAILURES)"
awk -v p="${pct:-0}" 'BEGIN { exit !(p >= 97.0) }' && [ $dates_ok = 1 ]
