# wirewatch - plain Makefile, pkg-config for every dependency.
#
#   make          build build/wirewatchd and build/wirewatchctl; installs
#                 nothing, and names `make deps` when a library is missing
#   make deps     install the missing Debian packages (apt-get update first;
#                 sudo unless root)
#   make run      install what is missing, build, run the daemon on conf/demo
#   make check    install what is missing, then unit tests, the same under
#                 ASan+UBSan, every fuzz target for FUZZ_SMOKE_SECONDS, the
#                 feed conformance corpus (>= 97%, every date row), end-to-end
#                 tests
#   make fuzz     every fuzz target for FUZZ_SECONDS (default 60)
#   make conformance / bench-parse / bench-poll / bench-match / bench-deliver /
#   bench-cluster

PKGS = libevent libcurl libxml-2.0 hiredis libutf8proc jansson libsystemd libpcre2-8 libcrypto
DEBS = build-essential pkg-config libevent-dev libcurl4-openssl-dev libxml2-dev \
       libhiredis-dev libutf8proc-dev libjansson-dev libsystemd-dev \
       libpcre2-dev libcmocka-dev libssl-dev redis-server python3 python3-feedparser curl \
       nodejs
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
        conformance bench-parse bench-poll bench-match bench-deliver bench-cluster install clean

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

e2e: all
	python3 tests/e2e/run.py

check: fuzz-deps
	$(MAKE) all
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

bench-cluster: all
	python3 tests/bench/bench_cluster.py

bench-match: all $(B)/bench_match
	$(B)/bench_match

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

-include $(shell find $(B) -name '*.d' 2>/dev/null)

PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
install: all
	install -D -m 755 $(B)/wirewatchd $(DESTDIR)$(PREFIX)/bin/wirewatchd
	install -D -m 755 $(B)/wirewatchctl $(DESTDIR)$(PREFIX)/bin/wirewatchctl
	install -d $(DESTDIR)$(SYSCONFDIR)/wirewatch/entities
	install -m 644 conf/entities/*.conf $(DESTDIR)$(SYSCONFDIR)/wirewatch/entities/
	[ -e $(DESTDIR)$(SYSCONFDIR)/wirewatch/wirewatch.conf ] || \
	  install -m 644 conf/wirewatch.conf.example $(DESTDIR)$(SYSCONFDIR)/wirewatch/wirewatch.conf
	install -D -m 644 systemd/wirewatchd.service $(DESTDIR)/lib/systemd/system/wirewatchd.service
