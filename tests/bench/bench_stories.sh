#!/bin/sh
# bench_stories.sh - `make bench-stories`: build/bench_stories against a
# private redis-server on a unix socket (no persistence), stopped after.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d)
redis-server --port 0 --unixsocket "$dir/redis.sock" --save '' --appendonly no \
	--dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" >/dev/null
trap 'kill "$(cat "$dir/redis.pid")" 2>/dev/null; rm -rf "$dir"' EXIT
i=0
while [ ! -S "$dir/redis.sock" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
"$ROOT/build/bench_stories" "$dir/redis.sock"
