# ferry — build, test, run.
#
#   make            build build/ferry (installs missing Debian packages first)
#   make run        run the example integrations in scripts/, then the workflow
#                   cases against the connectors' fakes (scripts/demo/run_cases.sh)
#   make test       unit, Lua and end-to-end tests; closes with "N passed, N failed"
#   make test SANITIZE=1   the same suite built with AddressSanitizer + UBSan
#   make install    install to $(PREFIX) (default /usr/local)
#   make fuzz       build the libFuzzer harnesses (tests/fuzz/) with clang into
#                   build-fuzz/ and run each for FUZZ_TIME seconds (default 60)
#   make mutate     mutation testing (tests/tools/mutate.py): do the tests catch
#                   careless one-line changes? MUTATE_ONLY=text runs a subset

PREFIX   ?= /usr/local
SANITIZE ?=
V        ?=

DEB_PKGS  := build-essential pkg-config liblua5.4-dev lua-cjson-dev libcurl4-openssl-dev \
             libevent-dev libsqlite3-dev sqlite3 libpq-dev python3 openssl libssl-dev tzdata
BENCH_PKGS := nginx-light curl lua5.4 lua-cjson lua-dbi-sqlite3 wrk postgresql
# What only the tests use: promtool (test_metrics.sh lints a live /metrics
# scrape; Debian ships promtool in the prometheus package, whose service is
# not started by installing it), curl, and PostgreSQL's server
# (test_postgres.sh starts a private one on 127.0.0.1 with initdb).
TEST_PKGS  := prometheus curl postgresql
PKG_MODS  := lua5.4 lua5.4-cjson libcurl libevent sqlite3 libcrypto libpq

ifeq ($(SANITIZE),)
BUILD    := build
SANFLAGS :=
else
BUILD    := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif

CC       ?= cc
VERSION  := $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0)
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -MMD -MP $(SANFLAGS) \
            -DFY_VERSION='"$(VERSION)"' -DFY_PREFIX='"$(PREFIX)"'
PKG_CFLAGS = $(shell pkg-config --cflags $(PKG_MODS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKG_MODS) 2>/dev/null)
LDLIBS   += $(PKG_LIBS) -lm -lpthread
LDFLAGS  += $(SANFLAGS)

ifeq ($(V),)
Q := @
E := @printf '  %-6s %s\n'
else
Q :=
E := @true
endif

SRCS      := $(wildcard core/fy_*.c)
OBJS      := $(SRCS:core/%.c=$(BUILD)/obj/%.o)
MAIN_OBJ  := $(BUILD)/obj/main.o
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
# The fuzz harnesses built with the normal compiler and tests/fuzz/replay.c
# instead of libFuzzer: tests/e2e/test_fuzz_seeds.sh replays the seeds.
FUZZ_SRCS   := $(wildcard tests/fuzz/fuzz_*.c)
REPLAY_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz-replay/%)

.PHONY: all deps test-deps test-deps-install run test unit bench install clean fuzz fuzz-deps fuzz-build mutate
all: deps $(BUILD)/ferry

# Install what the build and the tests need, once, from Debian's packages.
# $(call install_missing,PACKAGES): install the Debian packages not yet
# installed (as root), or say which to install. When another apt or dpkg
# (unattended-upgrades, say) holds the lock, wait for it up to 5 minutes.
define install_missing
	@missing=""; for p in $(1); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ]; then \
	        echo "ferry: installing Debian packages:$$missing"; \
	        export DEBIAN_FRONTEND=noninteractive; \
	        apt="apt-get -o DPkg::Lock::Timeout=300"; \
	        $$apt update -qq && $$apt install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	    else \
	        echo "ferry: missing Debian packages. Run:"; \
	        echo "  sudo apt-get install -y$$missing"; exit 1; \
	    fi; \
	fi
endef

deps:
	$(call install_missing,$(DEB_PKGS))

# As root, install them; otherwise say which are missing and go on (the
# tests that need one skip it, saying so), so `make test` still runs.
test-deps:
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory test-deps-install; else \
	    for p in $(TEST_PKGS); do \
	        dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || \
	            echo "ferry: Debian package $$p is not installed; tests that need it skip (sudo apt-get install -y $$p)"; \
	    done; \
	fi

test-deps-install:
	$(call install_missing,$(TEST_PKGS))

$(BUILD)/ferry: $(OBJS) $(MAIN_OBJ)
	$(E) LINK $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: core/%.c | $(BUILD)/obj
	$(E) CC $<
	$(Q)$(CC) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(OBJS) | $(BUILD)/tests
	$(E) CC $<
	$(Q)$(CC) $(CFLAGS) $(PKG_CFLAGS) -Icore -DFY_FIXTURES='"tests/fixtures"' \
	    -o $@ $< $(OBJS) $(LDFLAGS) $(LDLIBS)

$(BUILD)/fuzz-replay/%: tests/fuzz/%.c tests/fuzz/replay.c tests/fuzz/fuzz_common.h $(OBJS) | $(BUILD)/fuzz-replay
	$(E) CC $<
	$(Q)$(CC) $(CFLAGS) $(PKG_CFLAGS) -Icore -o $@ $< tests/fuzz/replay.c $(OBJS) $(LDFLAGS) \
	    $(FUZZ_LDFLAGS_$(*:fuzz_%=%)) $(LDLIBS)

$(BUILD)/obj $(BUILD)/tests $(BUILD)/fuzz-replay:
	$(Q)mkdir -p $@

run: all
	$(Q)./$(BUILD)/ferry run -c config/ferry.lua --log-level warn scripts/crm_accounts.lua scripts/helpdesk_tickets.lua; \
	    rc=$$?; \
	    echo; \
	    echo "Where to look:"; \
	    echo "  tables:      sqlite3 -header -column data/reporting.db 'SELECT * FROM accounts LIMIT 5'"; \
	    echo "               sqlite3 data/reporting.db 'SELECT tier, count(*), sum(arr) FROM accounts GROUP BY tier'"; \
	    echo "  quarantine:  ./$(BUILD)/ferry quarantine list -c config/ferry.lua      (then: show ID, replay ID, discard ID)"; \
	    echo "  history:     ./$(BUILD)/ferry status        ./$(BUILD)/ferry runs crm-accounts-to-reporting"; \
	    echo "  alerts:      ./$(BUILD)/ferry alerts -c config/ferry.lua"; \
	    echo "  exit status $$rc: 0 all loaded, 3 some records quarantined, 4 a run not to trust (suspect), 1 run failed"; \
	    bash scripts/demo/run_cases.sh ./$(BUILD)/ferry || exit 1; \
	    [ $$rc -eq 0 ] || [ $$rc -eq 3 ]

unit: $(UNIT_BINS)

test: all test-deps $(UNIT_BINS) $(REPLAY_BINS)
	$(Q)FERRY=$(BUILD)/ferry UNIT_DIR=$(BUILD)/tests SANITIZE=$(SANITIZE) bash tests/run.sh

# Mutation testing: each mutant of tests/tools/mutants.txt is applied in a
# scratch copy of the tree, built, and tested with the test files mapped to
# it; prints each mutant KILLED (by which test) or SURVIVED, and the score.
# Slow (tens of minutes): not part of `make test` or CI. Run it before a
# release and after reworking a module (MUTATE_ONLY=fy_http.c, say).
mutate: all $(UNIT_BINS)
	$(Q)MUTATE_ONLY="$(MUTATE_ONLY)" python3 tests/tools/mutate.py

# Benchmarks print figures and ratios against baselines run alongside; they
# are never part of `make test`.
bench: all $(BUILD)/bench/http_raw
	$(call install_missing,$(BENCH_PKGS))
	$(Q)FERRY=$(BUILD)/ferry RAW=$(BUILD)/bench/http_raw bash tests/bench/run.sh
	$(Q)echo
	$(Q)FERRY=$(BUILD)/ferry N=$${PIPELINE_N:-1000000} bash tests/bench/pipeline.sh
	$(Q)echo
	$(Q)FERRY=$(BUILD)/ferry bash tests/bench/hooks.sh
	$(Q)echo
	$(Q)FERRY=$(BUILD)/ferry bash tests/bench/map.sh
	$(Q)echo
	$(Q)FERRY=$(BUILD)/ferry N=$${PG_N:-1000000} bash tests/bench/postgres.sh
	$(Q)python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); [r.update(json.load(open(f))) for f in sys.argv[2:]]; \
	    json.dump(r, open(sys.argv[1], "w"), indent=1)' $(BUILD)/bench/results.json $(BUILD)/bench/pipeline.json \
	    $(BUILD)/bench/hooks.json $(BUILD)/bench/map.json $(BUILD)/bench/postgres.json
	$(Q)echo "all results: $(BUILD)/bench/results.json"

$(BUILD)/bench/http_raw: tests/bench/http_raw.c | $(BUILD)/bench
	$(E) CC $<
	$(Q)$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(LDFLAGS) $(LDLIBS)

$(BUILD)/bench:
	$(Q)mkdir -p $@

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/ferry/lualib/ferry
	install -m 755 $(BUILD)/ferry $(DESTDIR)$(PREFIX)/bin/ferry
	install -m 644 lualib/ferry/*.lua $(DESTDIR)$(PREFIX)/share/ferry/lualib/ferry/
	cd contrib && find . \( -name '*.lua' -o -name 'README.md' \) -not -path '*/tests/*' -not -path './systemd/*' \
	    -not -path './README.md' -exec install -D -m 644 {} $(DESTDIR)$(PREFIX)/share/ferry/contrib/{} \;
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system $(DESTDIR)$(PREFIX)/share/ferry/systemd
	sed 's|@PREFIX@|$(PREFIX)|g' contrib/systemd/ferry.service >$(DESTDIR)$(PREFIX)/lib/systemd/system/ferry.service
	chmod 644 $(DESTDIR)$(PREFIX)/lib/systemd/system/ferry.service
	install -m 644 contrib/systemd/ferry.lua $(DESTDIR)$(PREFIX)/share/ferry/systemd/ferry.lua
	install -D -m 644 README.md $(DESTDIR)$(PREFIX)/share/doc/ferry/README.md

# Fuzzing (tests/fuzz/README.md): every harness is built with clang, ASan and
# UBSan into build-fuzz/, then run for FUZZ_TIME seconds from a scratch copy
# of its seed corpus. Fails when any harness finds a crash.
FUZZ_TIME    ?= 60
FUZZ_TARGETS ?= csv json jsonl time config
FUZZ_CC      ?= clang
FUZZ_PKGS    := clang libclang-rt-dev
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  := -O1 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -MMD -MP $(FUZZ_SAN) \
                -DFY_VERSION='"$(VERSION)"' -DFY_PREFIX='"$(PREFIX)"'
FUZZ_OBJS    := $(SRCS:core/%.c=build-fuzz/obj/%.o)
FUZZ_BINS    := $(FUZZ_TARGETS:%=build-fuzz/fuzz_%)
# The config harness caps the Lua state fy_config_load creates for itself.
FUZZ_LDFLAGS_config := -Wl,--wrap=luaL_newstate

fuzz: fuzz-build
	$(Q)FUZZ_TIME=$(FUZZ_TIME) bash tests/fuzz/run.sh $(FUZZ_TARGETS)

fuzz-build: deps fuzz-deps $(FUZZ_BINS)

fuzz-deps:
	$(call install_missing,$(FUZZ_PKGS))

build-fuzz/obj/%.o: core/%.c | build-fuzz/obj
	$(E) FUZZCC $<
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -c -o $@ $<

build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h $(FUZZ_OBJS) | build-fuzz/obj
	$(E) FUZZLD $@
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(PKG_CFLAGS) -Icore -o $@ $< $(FUZZ_OBJS) \
	    $(FUZZ_LDFLAGS_$*) $(LDLIBS)

.SECONDARY: $(FUZZ_OBJS)

build-fuzz/obj:
	$(Q)mkdir -p $@

clean:
	rm -rf build build-san build-fuzz

-include $(OBJS:.o=.d) $(MAIN_OBJ:.o=.d) $(UNIT_BINS:=.d) $(REPLAY_BINS:=.d) $(FUZZ_OBJS:.o=.d) $(FUZZ_BINS:=.d)
