#!/bin/sh
# install_check.sh STAGE - what `make install` / `make uninstall` leave in a
# DESTDIR, as a Debian admin would look at it.  Run by `make check-unit`
# from the repository root; STAGE is scratch space.
set -eu
stage=$1
fail() { echo "install_check: FAIL: $*" >&2; exit 1; }
mode() { stat -c %a "$1"; }
mk() { make --no-print-directory "$@" >/dev/null; }

rm -rf "$stage"
# A local install: /usr/local, the unit in /etc/systemd/system.
mk install DESTDIR="$stage/local"
u=$stage/local/etc/systemd/system/wirewatchd.service
[ -f "$u" ] || fail "PREFIX=/usr/local: no unit in /etc/systemd/system"
grep -q '^ExecStart=/usr/local/bin/wirewatchd -c /etc/wirewatch/wirewatch.conf$' "$u" ||
	fail "PREFIX=/usr/local: ExecStart does not follow PREFIX"
[ -f "$stage/local/usr/local/share/wirewatch/entities/dprk.conf" ] ||
	fail "entities not in PREFIX/share/wirewatch/entities"
[ ! -e "$stage/local/lib/systemd" ] || fail "something went to /lib/systemd (dpkg's)"

# A package's tree: PREFIX=/usr.
mk install PREFIX=/usr DESTDIR="$stage/pkg"
r=$stage/pkg
u=$r/usr/lib/systemd/system/wirewatchd.service
[ -f "$u" ] || fail "PREFIX=/usr: no unit in /usr/lib/systemd/system"
grep -q '^ExecStart=/usr/bin/wirewatchd -c /etc/wirewatch/wirewatch.conf$' "$u" ||
	fail "PREFIX=/usr: ExecStart is not /usr/bin/wirewatchd"
grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$u" || fail "no ExecReload"
grep -q '^WatchdogSec=' "$u" || fail "no WatchdogSec"
! grep -q '^SupplementaryGroups=redis' "$u" || fail "SupplementaryGroups=redis in the unit"
! grep -q 'redis-server.service' "$u" || fail "the unit orders itself after redis"
for f in usr/bin/wirewatchd usr/bin/wirewatchctl; do
	[ "$(mode "$r/$f")" = 755 ] || fail "$f is not 0755"
done
[ "$(mode "$r/etc/wirewatch/wirewatch.conf")" = 640 ] || fail "the config is not 0640"
grep -q '^redis = 127.0.0.1:6379' "$r/etc/wirewatch/wirewatch.conf" ||
	fail "the default config does not use Debian's redis (127.0.0.1:6379)"
[ -d "$r/etc/wirewatch/entities.d" ] || fail "no /etc/wirewatch/entities.d"
[ ! -e "$r/etc/wirewatch/entities" ] || fail "shipped entities in /etc"
for f in man8/wirewatchd.8 man8/wirewatchctl.8 man5/wirewatch.conf.5; do
	[ "$(mode "$r/usr/share/man/$f")" = 644 ] || fail "no $f"
done
[ -f "$r/usr/share/bash-completion/completions/wirewatchctl" ] || fail "no bash completion"
# Verbs, subverbs and options from the installed file; names from a
# running daemon are tests/e2e/test_completion.py's (here no daemon
# answers on the default socket, so `feed remove` offers nothing, quietly).
comp=$(bash --norc -c '. "$1"; complete -p wirewatchctl | grep -q " -F _wirewatchctl " || exit 1
	t() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _wirewatchctl 2>/dev/null;
	    echo "${COMPREPLY[*]}"; }
	t wirewatchctl d; t wirewatchctl deliveries --f; t wirewatchctl watchlist r
	t wirewatchctl feed ""; t wirewatchctl watchlist add n q --b; t wirewatchctl re
	t wirewatchctl -s /nonexistent/ww.sock feed remove ""' \
	_ "$r/usr/share/bash-completion/completions/wirewatchctl") || fail "bash completion not registered"
[ "$comp" = "date deliveries
--failed
remove
add remove
--backfill
replay reload" ] || fail "bash completion: $comp"
strings "$r/usr/bin/wirewatchd" | grep -qx '/usr/share/wirewatch/entities' ||
	fail "the daemon's default entities directory does not follow PREFIX"

# Upgrades keep local edits: the config and entities.d.
echo '# local edit' >> "$r/etc/wirewatch/wirewatch.conf"
echo '[entity "Mine"]' > "$r/etc/wirewatch/entities.d/mine.conf"
mk install PREFIX=/usr DESTDIR="$r"
grep -q '^# local edit$' "$r/etc/wirewatch/wirewatch.conf" || fail "reinstall overwrote the config"
[ -f "$r/etc/wirewatch/entities.d/mine.conf" ] || fail "reinstall removed a local entity"

mk uninstall PREFIX=/usr DESTDIR="$r"
for f in usr/bin/wirewatchd usr/bin/wirewatchctl usr/lib/systemd/system/wirewatchd.service \
    usr/share/man/man8/wirewatchd.8 usr/share/wirewatch; do
	[ ! -e "$r/$f" ] || fail "uninstall left $f"
done
[ -f "$r/etc/wirewatch/wirewatch.conf" ] || fail "uninstall removed the config"
[ -f "$r/etc/wirewatch/entities.d/mine.conf" ] || fail "uninstall removed a local entity"
echo "install_check: ok (PREFIX=/usr/local and /usr trees, config kept, uninstall)"
