#!/bin/sh
# bench_parse.sh - `make bench-parse`: feed_parse() against a bare libxml2
# streaming pass over the same bytes, and against Debian's python3-feedparser.
#
# Generates NFEEDS x NITEMS synthetic feeds into build/bench-feeds (once;
# regenerated when the count changes), runs build/bench_parse over all of
# them (best of ROUNDS), then feedparser over the first FP_FEEDS files only
# (it is two orders of magnitude slower) and extrapolates per item.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=$ROOT/build
DIR=$B/bench-feeds
NFEEDS=${NFEEDS:-2000}
NITEMS=${NITEMS:-50}
ROUNDS=${ROUNDS:-3}
FP_FEEDS=${FP_FEEDS:-100}

stamp="$DIR/.params"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$NFEEDS x $NITEMS" ]; then
	echo "generating $NFEEDS feeds x $NITEMS items into $DIR"
	rm -rf "$DIR"
	python3 "$ROOT/tests/bench/gen_feeds.py" "$DIR" "$NFEEDS" "$NITEMS"
	echo "$NFEEDS x $NITEMS" >"$stamp"
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$B/bench_parse" "$DIR" "$ROUNDS" | tee "$out"
c_rate=$(sed -n 's/^FEED_ITEMS_PER_S //p' "$out")

echo "feedparser (python3-feedparser, /usr/bin/python3) on the first $FP_FEEDS feeds only, extrapolated per item:"
/usr/bin/python3 - "$DIR" "$FP_FEEDS" "$c_rate" <<'PY'
import os, sys, time
import feedparser
d, n, c_rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
names = sorted(f for f in os.listdir(d) if not f.startswith('.'))[:n]
blobs = [open(os.path.join(d, f), 'rb').read() for f in names]
items = 0
t0 = time.monotonic()
for i, b in enumerate(blobs):
    r = feedparser.parse(b, response_headers={
        'content-location': 'https://news%d.example/feed' % i,
        'content-type': 'application/rss+xml'})
    items += len(r.entries)
t = time.monotonic() - t0
mb = sum(len(b) for b in blobs) / 1e6
fp_rate = items / t
print("%-28s %8.3f s  %10.0f items/s  %8.1f MB/s  (%d feeds, %d items)" % (
    "feedparser " + feedparser.__version__, t, fp_rate, mb / t, len(blobs), items))
print("ratio feed_parse / feedparser: %.0fx faster per item (goal >= 50x)" % (c_rate / fp_rate))
PY
