#!/bin/sh
# conf/demo/run.sh - run wirewatchd on the two seed feeds (file:// URLs) with a
# private redis-server on a unix socket in run/demo/.  `make run` calls this.
# Alerts are printed as JSON lines on stdout, logs go to stderr.  Ctrl-C stops.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEMO=$ROOT/conf/demo
RUN=$ROOT/run/demo
SOCK=$RUN/redis.sock
DAEMON=${WIREWATCHD:-$ROOT/build/wirewatchd}

[ -x "$DAEMON" ] || { echo "run.sh: $DAEMON is missing; run 'make all' first" >&2; exit 1; }
for p in redis-server redis-cli; do
	command -v $p >/dev/null 2>&1 || { echo "run.sh: $p not found (apt-get install redis-server)" >&2; exit 1; }
done
mkdir -p "$RUN"

REDIS_PID=
WW_PID=
# shellcheck disable=SC2317  # invoked by the traps
cleanup() {
	trap - EXIT INT TERM
	if [ -n "$WW_PID" ]; then kill -TERM "$WW_PID" 2>/dev/null || true; wait "$WW_PID" 2>/dev/null || true; fi
	if [ -n "$REDIS_PID" ]; then kill -TERM "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; fi
	rm -f "$SOCK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rm -f "$SOCK"
redis-server --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --save '' --appendonly no \
	--daemonize no --dir "$RUN" --logfile "$RUN/redis.log" &
REDIS_PID=$!

i=0
until redis-cli -s "$SOCK" ping >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -ge 50 ] || ! kill -0 "$REDIS_PID" 2>/dev/null; then
		echo "run.sh: redis-server did not start (see $RUN/redis.log)" >&2
		exit 1
	fi
	sleep 0.1
done

# The demo's seen set lives only in this private redis (no RDB/AOF), but empty
# it anyway so that every run of the demo shows the alerts again.
redis-cli -s "$SOCK" flushall >/dev/null

sed -e "/^[#;]/!s|@ROOT@|$ROOT|g" -e "/^[#;]/!s|@DEMO@|$DEMO|g" -e "/^[#;]/!s|@REDIS@|$SOCK|g" \
	"$DEMO/wirewatch.conf" >"$RUN/wirewatch.conf"

echo "run.sh: redis on $SOCK, config $RUN/wirewatch.conf; Ctrl-C to stop" >&2
# In the background so that INT/TERM reach this script's traps, which stop
# the daemon (SIGTERM) and then redis.
"$DAEMON" -c "$RUN/wirewatch.conf" "$@" &
WW_PID=$!
set +e
wait "$WW_PID"
rc=$?
WW_PID=
exit $rc
