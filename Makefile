# wirewatch - plain Makefile, pkg-config for every dependency.
#
#   make          build build/wirewatchd and build/wirewatchctl; installs
#                 nothing, and names `make deps` when a library is missing
#   make deps     install the missing Debian packages (apt-get update first;
#                 sudo unless root)
#   make run      install what is missing, build, run the daemon on conf/demo
#   make check    install what is missing, then the man pages' lint, the
#                 systemd unit's verify and exposure (check-unit), unit
#                 tests, the same under ASan+UBSan, every fuzz target for
#                 FUZZ_SMOKE_SECONDS, the feed conformance corpus (>= 97%,
#                 every date row), end-to-end tests (promtool fetched first)
#   make install / uninstall   PREFIX, DESTDIR, SYSCONFDIR (see below)
#   make fuzz     every fuzz target for FUZZ_SECONDS (default 60)
#   make conformance / bench-parse / bench-poll / bench-match / bench-deliver /
#                 bench-recent / bench-metrics / bench-reload / bench-cluster
#   make eval-stories / bench-stories   story grouping quality and cost

PKGS = libevent libcurl libxml-2.0 hiredis libutf8proc jansson libsystemd libpcre2-8 libcrypto
DEBS = build-essential pkg-config libevent-dev libcurl4-openssl-dev libxml2-dev \
       libhiredis-dev libutf8proc-dev libjansson-dev libsystemd-dev \
       libpcre2-dev libcmocka-dev libssl-dev redis-server python3 python3-feedparser curl \
       nodejs mandoc systemd util-linux python3-seccomp time
# libFuzzer: clang and its runtime (Debian 12 ships clang 14).
FUZZ_DEBS = clang libclang-rt-14-dev

CC ?= cc
OPT ?= -O2 -g
WARN = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
       -Wstrict-prototypes -Wmissing-prototypes
SAN = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

B = build

# pkg-config runs on first use, once (not once per compiler call), and not
# at all for targets that do not compile, so that `make deps` can install it.
PKG_CFLAGS = $(eval PKG_CFLAGS := $$(shell pkg-config --cflags $$(PKGS) 2>/dev/null))$(PKG_CFLAGS)
PKG_LIBS = $(eval PKG_LIBS := $$(shell pkg-config --libs $$(PKGS) 2>/dev/null))$(PKG_LIBS)
CFLAGS_ALL = $(WARN) $(OPT) -Iinclude -Idaemon $(PKG_CFLAGS) -MMD -MP
LDLIBS_ALL = $(PKG_LIBS) -lm

LIB_SRCS = $(filter-out daemon/main.c,$(wildcard daemon/*.c))
CTL_SRCS = $(wildcard daemon/ctl/*.c)
UNIT_SRCS = $(wildcard tests/unit/test_*.c)
BENCH_SRCS = $(wildcard tests/bench/bench_*.c)

LIB_OBJS = $(LIB_SRCS:%.c=$(B)/obj/%.o)
CTL_OBJS = $(CTL_SRCS:%.c=$(B)/obj/%.o)
UNIT_BINS = $(UNIT_SRCS:tests/unit/%.c=$(B)/%)
ASAN_UNIT_BINS = $(UNIT_SRCS:tests/unit/%.c=$(B)/asan/%)
BENCH_BINS = $(BENCH_SRCS:tests/bench/%.c=$(B)/%)

.PHONY: all deps fuzz-deps pkgs-ok run check unit unit-asan fuzz-smoke fuzz fuzz-run e2e \
        conformance bench-parse bench-poll bench-match bench-deliver bench-recent bench-metrics bench-reload bench-cluster eval-stories bench-stories install uninstall \
        promtool lint-man check-unit clean FORCE

all: pkgs-ok $(B)/wirewatchd $(B)/wirewatchctl

# $(call apt_install,PACKAGES): installs those not installed, apt-get
# update first.  Only deps and fuzz-deps call it (issue 12): building
# never installs anything.
apt_install = @if ! command -v dpkg-query >/dev/null 2>&1; then \
	  echo "not a Debian system: install the equivalents of: $(1)"; exit 0; fi; \
	missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q ' installed$$' || \
	  missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y --no-install-recommends $$missing || exit 1; \
	fi

deps:
	$(call apt_install,$(DEBS))

# After deps: two apt-gets at once (make -j) would fight over the dpkg lock.
fuzz-deps: deps
	$(call apt_install,$(FUZZ_DEBS))

# What every compilation needs; says what is missing instead of installing it.
pkgs-ok:
	@command -v pkg-config >/dev/null 2>&1 || { \
	  echo "pkg-config is not installed: run \`make deps\` first" >&2; exit 1; }; \
	missing=""; for p in $(PKGS); do pkg-config --exists $$p || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "pkg-config cannot find:$$missing: run \`make deps\` to install them" >&2; exit 1; fi

$(B)/obj/%.o: %.c | pkgs-ok
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(B)/asan/obj/%.o: %.c | pkgs-ok
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(SAN) -O1 -c -o $@ $<

$(B)/libww.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(B)/asan/libww.a: $(LIB_SRCS:%.c=$(B)/asan/obj/%.o)
	rm -f $@ && ar rcs $@ $^

$(B)/wirewatchd: $(B)/obj/daemon/main.o $(B)/libww.a
	$(CC) $(OPT) -o $@ $^ $(LDLIBS_ALL)

$(B)/wirewatchctl: $(CTL_OBJS) $(B)/libww.a
	$(CC) $(OPT) -o $@ $^ $(LDLIBS_ALL)

$(B)/test_%: $(B)/obj/tests/unit/test_%.o $(B)/libww.a
	$(CC) $(OPT) -o $@ $^ $(LDLIBS_ALL) -lcmocka

$(B)/asan/test_%: $(B)/asan/obj/tests/unit/test_%.o $(B)/asan/libww.a
	$(CC) $(OPT) $(SAN) -o $@ $^ $(LDLIBS_ALL) -lcmocka

$(B)/bench_%: $(B)/obj/tests/bench/bench_%.o $(B)/libww.a
	$(CC) $(OPT) -o $@ $^ $(LDLIBS_ALL)

# Sub-makes, so that nothing compiles (nor runs pkg-config) before deps is done.
run: deps
	$(MAKE) all
	./conf/demo/run.sh

unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do echo "== $$t"; $$t || fail=1; done; exit $$fail

unit-asan: $(ASAN_UNIT_BINS)
	@fail=0; for t in $(ASAN_UNIT_BINS); do echo "== $$t (asan+ubsan)"; \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $$t || fail=1; done; exit $$fail

e2e: all $(PROMTOOL)
	python3 tests/e2e/run.py

check: fuzz-deps
	$(MAKE) all
	$(MAKE) promtool
	$(MAKE) lint-man
	$(MAKE) check-unit
	$(MAKE) unit
	$(MAKE) unit-asan
	$(MAKE) fuzz-smoke
	$(MAKE) conformance
	$(MAKE) e2e

conformance: all
	./tests/conformance.sh

bench-parse: all $(BENCH_BINS)
	./tests/bench/bench_parse.sh

bench-poll: all
	python3 tests/bench/bench_poll.py

bench-deliver: all
	python3 tests/bench/bench_deliver.py
	python3 tests/bench/bench_latency.py

bench-cluster: all
	python3 tests/bench/bench_cluster.py

bench-recent: all
	python3 tests/bench/bench_recent.py

bench-metrics: all
	python3 tests/bench/bench_metrics.py

bench-reload: all
	python3 tests/bench/bench_reload.py

bench-match: all $(B)/bench_match
	$(B)/bench_match

# Story grouping (issue 13): quality on the labelled set, cost at scale.
eval-stories: all
	python3 tests/eval_stories.py

bench-stories: all $(B)/bench_stories
	./tests/bench/bench_stories.sh

# libFuzzer targets for every parser of outside input: every
# tests/fuzz/fuzz_NAME.c, each linked against one fuzzer-instrumented copy
# of the library (compiled once, not once per target).  A target runs from
# the repository root (fuzz_query and fuzz_config read conf/entities), keeps
# its corpus in build/fuzz/NAME.corpus, and also reads the corpus
# directories listed in tests/fuzz/NAME.seeds, when they exist.  Crashes,
# leaks, UB and inputs slower than FUZZ_TIMEOUT seconds fail; the reproducer
# is written to build/fuzz/NAME-crash-* (or -leak-, -timeout-) and the log
# to build/fuzz/NAME.log.  `make check` runs each for FUZZ_SMOKE_SECONDS;
# with -j they run side by side.
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_TIMEOUT ?= 10
FUZZ_RUN_SECONDS ?= $(FUZZ_SMOKE_SECONDS)
FUZZ_CC ?= clang
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS = $(filter-out -Werror,$(WARN)) -g -O1 -Iinclude -Idaemon $(PKG_CFLAGS) -MMD -MP
FUZZ_NAMES = $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))

$(B)/fuzz/obj/%.o: %.c | pkgs-ok
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c -o $@ $<

$(B)/fuzz/libww.a: $(LIB_SRCS:%.c=$(B)/fuzz/obj/%.o)
	rm -f $@ && ar rcs $@ $^

$(B)/fuzz/fuzz_%: $(B)/fuzz/obj/tests/fuzz/fuzz_%.o $(B)/fuzz/libww.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LDLIBS_ALL)

fuzz: fuzz-deps
	$(MAKE) -k fuzz-run FUZZ_RUN_SECONDS=$(FUZZ_SECONDS)

fuzz-smoke: fuzz-deps
	$(MAKE) -k fuzz-run FUZZ_RUN_SECONDS=$(FUZZ_SMOKE_SECONDS)

# One target per fuzzer so that make -j runs them side by side; -k above
# runs them all even when one fails.
fuzz-run: $(FUZZ_NAMES:%=fuzz-run-%)

fuzz-run-%: $(B)/fuzz/%
	@mkdir -p $(B)/fuzz/$*.corpus; seeds=""; \
	for d in $$(sed 's/#.*//' tests/fuzz/$*.seeds 2>/dev/null); do \
	  if [ -d "$$d" ]; then seeds="$$seeds $$d"; \
	  else echo "$*: seed directory $$d not found, skipped"; fi; done; \
	echo "== $* ($(FUZZ_RUN_SECONDS)s)"; \
	if $(B)/fuzz/$* -max_total_time=$(FUZZ_RUN_SECONDS) -timeout=$(FUZZ_TIMEOUT) \
	    -max_len=65536 -rss_limit_mb=1024 -print_final_stats=1 \
	    -artifact_prefix=$(B)/fuzz/$*- $(B)/fuzz/$*.corpus $$seeds \
	    >$(B)/fuzz/$*.log 2>&1; then \
	  echo "$*: ok, $$(sed -n 's/^stat::number_of_executed_units: *//p' $(B)/fuzz/$*.log) runs"; \
	else \
	  tail -n 60 $(B)/fuzz/$*.log; \
	  echo "$*: FAILED (log: $(B)/fuzz/$*.log)"; exit 1; \
	fi

clean:
	rm -rf $(B)

.SECONDARY:

-include $(shell find $(B) -name '*.d' -type f 2>/dev/null)

# --- installation ------------------------------------------------------
#
#   make install [PREFIX=/usr/local] [DESTDIR=] [SYSCONFDIR=/etc]
#   make uninstall (same variables)
#
# PREFIX is fixed at build time too: the daemon's default entities
# directory is $(PREFIX)/share/wirewatch/entities.  The unit goes to
# /etc/systemd/system for a local install, /usr/lib/systemd/system with
# PREFIX=/usr (a package's place).  The configuration is installed once,
# 0640 root:wirewatch, and never overwritten; local entities go in
# $(SYSCONFDIR)/wirewatch/entities.d, which upgrades never touch.  Without
# DESTDIR, as root, install also creates the system user and group
# wirewatch (a package's postinst does that with DESTDIR).
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
BINDIR = $(PREFIX)/bin
DATADIR = $(PREFIX)/share
MANDIR = $(DATADIR)/man
BASHCOMPDIR = $(DATADIR)/bash-completion/completions
ifeq ($(PREFIX),/usr)
UNITDIR ?= /usr/lib/systemd/system
else
UNITDIR ?= /etc/systemd/system
endif
MANPAGES = man/wirewatchd.8 man/wirewatchctl.8 man/wirewatch.conf.5

PATHS_DEFS = -DWW_ENTITIES_DIR='"$(DATADIR)/wirewatch/entities"' \
             -DWW_LOCAL_ENTITIES_DIR='"$(SYSCONFDIR)/wirewatch/entities.d"'
$(B)/obj/daemon/config.o $(B)/obj/daemon/ctl/ctl_match.o: CFLAGS_ALL += $(PATHS_DEFS)
$(B)/obj/daemon/config.o $(B)/obj/daemon/ctl/ctl_match.o: $(B)/paths.stamp
# Rewritten only when PREFIX or SYSCONFDIR change, so that those rebuild.
$(B)/paths.stamp: FORCE
	@mkdir -p $(B); echo '$(PATHS_DEFS)' | cmp -s - $@ || echo '$(PATHS_DEFS)' > $@
FORCE:

$(B)/wirewatchd.service: systemd/wirewatchd.service.in $(B)/paths.stamp
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    -e 's|@DATADIR@|$(DATADIR)|g' $< > $@

install: all $(B)/wirewatchd.service
	install -D -m 755 $(B)/wirewatchd $(DESTDIR)$(BINDIR)/wirewatchd
	install -D -m 755 $(B)/wirewatchctl $(DESTDIR)$(BINDIR)/wirewatchctl
	install -d $(DESTDIR)$(DATADIR)/wirewatch/entities
	install -m 644 conf/entities/*.conf $(DESTDIR)$(DATADIR)/wirewatch/entities/
	install -D -m 644 conf/wirewatch.conf.example $(DESTDIR)$(DATADIR)/wirewatch/wirewatch.conf.example
	install -D -m 644 systemd/redis-local.conf $(DESTDIR)$(DATADIR)/wirewatch/systemd/redis-local.conf
	install -d -m 755 $(DESTDIR)$(SYSCONFDIR)/wirewatch/entities.d
	install -D -m 644 $(B)/wirewatchd.service $(DESTDIR)$(UNITDIR)/wirewatchd.service
	install -D -m 644 man/wirewatchd.8 $(DESTDIR)$(MANDIR)/man8/wirewatchd.8
	install -D -m 644 man/wirewatchctl.8 $(DESTDIR)$(MANDIR)/man8/wirewatchctl.8
	install -D -m 644 man/wirewatch.conf.5 $(DESTDIR)$(MANDIR)/man5/wirewatch.conf.5
	install -D -m 644 conf/wirewatchctl.bash-completion $(DESTDIR)$(BASHCOMPDIR)/wirewatchctl
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && ! getent group wirewatch >/dev/null; then \
	  echo "creating the system user and group wirewatch"; \
	  if command -v adduser >/dev/null 2>&1; then \
	    adduser --system --group --no-create-home --home /nonexistent wirewatch; \
	  else useradd --system --user-group --no-create-home --home-dir /nonexistent \
	    --shell /usr/sbin/nologin wirewatch; fi; fi
	@conf=$(DESTDIR)$(SYSCONFDIR)/wirewatch/wirewatch.conf; \
	if [ -e "$$conf" ]; then echo "kept $$conf (never overwritten)"; \
	else install -m 640 conf/wirewatch.conf.example "$$conf" && \
	  { [ -n "$(DESTDIR)" ] || [ "$$(id -u)" != 0 ] || chown root:wirewatch "$$conf"; } && \
	  echo "installed $$conf (0640; root:wirewatch on a live system)"; fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/wirewatchd $(DESTDIR)$(BINDIR)/wirewatchctl
	rm -rf $(DESTDIR)$(DATADIR)/wirewatch
	rm -f $(DESTDIR)$(UNITDIR)/wirewatchd.service
	rm -f $(DESTDIR)$(MANDIR)/man8/wirewatchd.8 $(DESTDIR)$(MANDIR)/man8/wirewatchctl.8
	rm -f $(DESTDIR)$(MANDIR)/man5/wirewatch.conf.5
	rm -f $(DESTDIR)$(BASHCOMPDIR)/wirewatchctl
	rmdir $(DESTDIR)$(SYSCONFDIR)/wirewatch/entities.d 2>/dev/null || true
	@echo "kept $(DESTDIR)$(SYSCONFDIR)/wirewatch (configuration, local entities) and the wirewatch user"

# --- operating checks (make check) -------------------------------------
#
# promtool checks the live /metrics scrape in the e2e tests.  Only the
# binary of Debian's prometheus package is needed, not the server or its
# service: the .deb is downloaded and unpacked, never installed (apt-get
# update first when the package lists are missing).
PROMTOOL = $(B)/tools/promtool
promtool: $(PROMTOOL)
$(PROMTOOL):
	@rm -rf $(B)/tools/deb && mkdir -p $(B)/tools/deb
	@cd $(B)/tools/deb && { apt-get download prometheus 2>/dev/null || { \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; $$SUDO apt-get update && \
	  apt-get download prometheus; }; }
	dpkg -x $(B)/tools/deb/prometheus_*.deb $(B)/tools/deb/root
	cp $(B)/tools/deb/root/usr/bin/promtool $@
	rm -rf $(B)/tools/deb
	$@ --version | head -1

# The man pages lint clean; the unit, installed with PREFIX=/usr into a
# staging tree, verifies clean and scores at most UNIT_MAX_EXPOSURE in
# `systemd-analyze security --offline=true` (both work without systemd
# as PID 1).
UNIT_MAX_EXPOSURE = 2.0
lint-man:
	mandoc -Tlint -Wwarning $(MANPAGES)

check-unit: all
	./tests/install_check.sh $(CURDIR)/$(B)/install-check
	rm -rf $(B)/stage $(B)/verify && $(MAKE) --no-print-directory install PREFIX=/usr \
	  DESTDIR=$(CURDIR)/$(B)/stage >/dev/null
	@# verify runs on the host: the same template, pointing at the staged binary
	@mkdir -p $(B)/verify && sed -e 's|@BINDIR@|$(CURDIR)/$(B)/stage/usr/bin|g' \
	  -e 's|@SYSCONFDIR@|/etc|g' -e 's|@DATADIR@|/usr/share|g' \
	  systemd/wirewatchd.service.in > $(B)/verify/wirewatchd.service
	MANPATH=$(CURDIR)/$(B)/stage/usr/share/man systemd-analyze verify $(B)/verify/wirewatchd.service
	@score=$$(systemd-analyze security --offline=true --root=$(CURDIR)/$(B)/stage \
	  wirewatchd.service 2>&1 | \
	  sed -n 's/.*Overall exposure level for wirewatchd.service: \([0-9.]*\).*/\1/p'); \
	echo "wirewatchd.service: exposure $$score (at most $(UNIT_MAX_EXPOSURE))"; \
	[ -n "$$score" ] && awk "BEGIN { exit !($$score <= $(UNIT_MAX_EXPOSURE)) }"
