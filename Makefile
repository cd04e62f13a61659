# wirewatch - plain Makefile, pkg-config for every dependency.
#
#   make          build build/wirewatchd and build/wirewatchctl
#   make run      install what is missing, build, run the daemon on conf/demo
#   make check    unit tests, the same under ASan+UBSan, the feed conformance
#                 corpus (>= 97%, every date row), end-to-end tests
#   make conformance / bench-parse / bench-poll / bench-match

PKGS = libevent libcurl libxml-2.0 hiredis libutf8proc jansson inih libsystemd libpcre2-8
DEBS = build-essential pkg-config libevent-dev libcurl4-openssl-dev libxml2-dev \
       libhiredis-dev libutf8proc-dev libjansson-dev libinih-dev libsystemd-dev \
       libpcre2-dev libcmocka-dev redis-server python3 python3-feedparser curl

CC ?= cc
OPT ?= -O2 -g
WARN = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
       -Wstrict-prototypes -Wmissing-prototypes
SAN = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

B = build
DEPS_STAMP = $(B)/.deps-ok

# pkg-config is evaluated lazily so that `make deps` can install it first.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
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

.PHONY: fuzz install all deps run check unit unit-asan e2e conformance bench-parse bench-poll \
        bench-match clean format fuzz

all: $(DEPS_STAMP) $(B)/wirewatchd $(B)/wirewatchctl

# Installs the Debian packages that are missing (apt-get update first).
deps $(DEPS_STAMP):
	@missing=""; for p in $(DEBS); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y --no-install-recommends $$missing || exit 1; \
	fi
	@mkdir -p $(B) && touch $(DEPS_STAMP)

$(B)/obj/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(B)/asan/obj/%.o: %.c | $(DEPS_STAMP)
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

run: all
	./conf/demo/run.sh

unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do echo "== $$t"; $$t || fail=1; done; exit $$fail

unit-asan: $(ASAN_UNIT_BINS)
	@fail=0; for t in $(ASAN_UNIT_BINS); do echo "== $$t (asan+ubsan)"; \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $$t || fail=1; done; exit $$fail

e2e: all
	python3 tests/e2e/run.py

check: all
	$(MAKE) unit
	$(MAKE) unit-asan
	$(MAKE) conformance
	$(MAKE) e2e

conformance: all
	./tests/conformance.sh

bench-parse: all $(BENCH_BINS)
	./tests/bench/bench_parse.sh

bench-poll: all
	python3 tests/bench/bench_poll.py

bench-match: all $(B)/bench_match
	$(B)/bench_match

# libFuzzer targets for every parser of outside input (clang, libclang-rt-14-dev).
FUZZ_SECONDS ?= 60
FUZZ_SRCS = $(wildcard tests/fuzz/fuzz_*.c)
fuzz: $(DEPS_STAMP)
	@for p in clang libclang-rt-14-dev; do dpkg -s $$p >/dev/null 2>&1 || \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$p || exit 1; done
	@mkdir -p $(B)/fuzz
	@for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); \
	  echo "== $$n ($(FUZZ_SECONDS)s)"; \
	  clang $(filter-out -Werror,$(WARN)) -g -O1 -Iinclude -Idaemon $(PKG_CFLAGS) \
	    -fsanitize=fuzzer,address,undefined -o $(B)/fuzz/$$n $$f $(LIB_SRCS) $(LDLIBS_ALL) || exit 1; \
	  mkdir -p $(B)/fuzz/$$n.corpus; \
	  $(B)/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=1024 \
	    $(B)/fuzz/$$n.corpus $$(cat tests/fuzz/$$n.seeds 2>/dev/null) || exit 1; done

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
