#!/usr/bin/env bash
# End-to-end tests of what a new user hit first (issue 11): mistyped commands
# and names get a suggestion, not a wall of help or a silent success.
#
#   bash tests/e2e/test_newuser.sh        or        ONLY=test_newuser make test
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

script contacts "return ferry.integration {
  ${HEADER/name = \"t\"/name = \"contacts\"}
  extract = function(ctx)
    if ctx.cursor then return end
    for i = 1, 3 do ctx:emit({ id = i }) end
    ctx:checkpoint(3)
  end,
  load = function(batch, ctx) end,
}"

t "cli: a mistyped command gets a suggestion and the one-line usage, not the whole help"
run_ferry rnu contacts.lua
expect_rc 2
expect_in "$err" "ferry: unknown command 'rnu' (did you mean 'run'?)"
expect_in "$err" "Usage: ferry COMMAND [OPTIONS] [ARGS]"
expect_not_in "$err" "Commands:"
expect_eq "$(wc -l <<<"$err")" "2" "two lines on stderr"
expect_eq "$out" ""

t "cli: an unknown command far from any gets no suggestion"
run_ferry frobnicate
expect_rc 2
expect_in "$err" "ferry: unknown command 'frobnicate'"
expect_not_in "$err" "did you mean"

t "cli: 'ferry help stauts' suggests status"
run_ferry help stauts
expect_rc 2
expect_in "$err" "unknown command 'stauts' (did you mean 'status'?)"

t "cli: a mistyped quarantine subcommand gets a suggestion"
run_ferry quarantine lsit
expect_rc 2
expect_in "$err" "unknown subcommand 'lsit' (did you mean 'list'?)"

t "reset: an integration the store has never seen is an error, with a suggestion"
run_ferry run contacts.lua
expect_rc 0
run_ferry reset contcats --yes
expect_rc 2
expect_in "$err" "ferry reset: no integration 'contcats' in the store"
expect_in "$err" "did you mean 'contacts'?"
expect_eq "$out" ""
run_ferry status
expect_in "$out" "contacts"

t "reset: an unknown name far from any is an error without a suggestion"
run_ferry reset no-such-integration --yes
expect_rc 2
expect_in "$err" "no integration 'no-such-integration' in the store"
expect_not_in "$err" "did you mean"

t "reset: a known integration whose checkpoint is already gone still says nothing to reset, exit 0"
run_ferry reset contacts --yes
expect_rc 0
expect_in "$out" "reset contacts"
run_ferry reset contacts --yes
expect_rc 0
expect_in "$out" "contacts has no checkpoint; nothing to reset"

t "runs: an unknown integration is an error, with a suggestion"
run_ferry runs contcats
expect_rc 2
expect_in "$err" "no integration 'contcats' in the store"
expect_in "$err" "did you mean 'contacts'?"

t "quarantine list/replay: an unknown integration is an error, with a suggestion"
run_ferry quarantine list contcats
expect_rc 2
expect_in "$err" "did you mean 'contacts'?"
run_ferry quarantine replay contcats
expect_rc 2
expect_in "$err" "did you mean 'contacts'?"

done_t

# ---- stopping the suite ---------------------------------------------------------
t "tests/run.sh: an INT to its process group stops the running test and what it started"
mkdir -p "$WORK/e2e" "$WORK/nounit"
cat >"$WORK/e2e/test_sleepy.sh" <<SH
sleep 300 &
echo \$! >"$WORK/sleeper.pid"
wait
SH
# A group of its own with INT handled by default, like make's in a terminal
# where Ctrl-C is hit (a background job of this script would ignore INT).
python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.setsid(); os.execvp(sys.argv[1], sys.argv[1:])' \
    env ONLY=sleepy E2E_DIR="$WORK/e2e" UNIT_DIR="$WORK/nounit" bash "$ROOT/tests/run.sh" >"$WORK/suite.out" 2>&1 &
suite=$!
for _ in $(seq 100); do [ -s "$WORK/sleeper.pid" ] && break; sleep 0.1; done
sleeper=$(cat "$WORK/sleeper.pid" 2>/dev/null)
expect_eq "${sleeper:+started}" "started" "the test started its sleeper"
kill -INT -- "-$suite"
for _ in $(seq 50); do kill -0 "$suite" 2>/dev/null || break; sleep 0.1; done
wait "$suite"
rc=$?
expect_rc 130
expect_in "$(cat "$WORK/suite.out")" "interrupted (INT)"
for _ in $(seq 30); do kill -0 "$sleeper" 2>/dev/null || break; sleep 0.1; done
if [ -n "$sleeper" ] && kill -0 "$sleeper" 2>/dev/null; then
    fail "the test's sleep $sleeper still runs after the suite was stopped"
    kill "$sleeper"
fi

# ---- make's package install ---------------------------------------------------
# Fakes of dpkg-query (nothing is installed), id (root) and apt-get (another
# apt holds the lock: it fails at once, as apt-get does, unless told to wait
# with DPkg::Lock::Timeout; told so, it "waits" and installs).
mkdir -p "$WORK/fakebin"
printf '#!/bin/sh\nexit 1\n' >"$WORK/fakebin/dpkg-query"
printf '#!/bin/sh\necho 0\n' >"$WORK/fakebin/id"
cat >"$WORK/fakebin/apt-get" <<'SH'
#!/bin/sh
echo "apt-get $*" >>"$APT_LOG"
case "$*" in
*DPkg::Lock::Timeout=*) exit 0 ;;
*) echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (unattended-upgr)" >&2
   exit 100 ;;
esac
SH
chmod +x "$WORK/fakebin/"*

t "make: installing packages waits for another apt's lock instead of failing at once"
APT_LOG=$WORK/apt.log PATH="$WORK/fakebin:$PATH" make -s -C "$ROOT" deps DEB_PKGS=ferry-test-pkg >"$WORK/make.out" 2>&1
rc=$?
expect_rc 0
expect_in "$(cat "$WORK/make.out")" "installing Debian packages: ferry-test-pkg"
expect_in "$(cat "$WORK/apt.log")" "install -y -qq --no-install-recommends ferry-test-pkg"
expect_eq "$(grep -c 'DPkg::Lock::Timeout=300' "$WORK/apt.log")" "2" "update and install both wait"
done_t

# ---- contract fields people had to guess ------------------------------------------
t "check: description and tags are checked (a string; a list of strings) and tags show in the summary"
script described "return ferry.integration {
  ${HEADER/name = \"t\"/name = \"described\"}
  description = \"Nightly copy of the HR roster for payroll reports\",
  tags = { \"hr\", \"payroll\" },
  extract = function(ctx) end, load = function(batch) end,
}"
run_ferry check described.lua
expect_rc 0
expect_in "$out" "described.lua: ok: described (reporting, owner qa@example.com"
expect_in "$out" "[hr, payroll]"
script badtags "return ferry.integration {
  ${HEADER/name = \"t\"/name = \"badtags\"}
  description = 42,
  tags = \"hr\",
  extract = function(ctx) end, load = function(batch) end,
}"
run_ferry check badtags.lua
expect_rc 1
expect_in "$out$err" "description: expected a string, got number"
expect_in "$out$err" "tags: expected a list of non-empty strings"
done_t

# ---- contrib/ -----------------------------------------------------------------------
t "contrib: a connector folder beside lualib is found by require NAME (init.lua) and NAME.sub"
mkdir -p "$WORK/share/contrib/acme"
cp -r "$ROOT/lualib" "$WORK/share/lualib"
printf 'local M = ferry.connector { name = "acme", system = "Acme", version = "0.1.0", auth = "none", streams = { "deals" }, operations = {} }\nfunction M.greet() return "hello from acme" end\nreturn M\n' >"$WORK/share/contrib/acme/init.lua"
printf 'return { n = 42 }\n' >"$WORK/share/contrib/acme/deals.lua"
printf 'return { lualib_path = "%s/share/lualib" }\n' "$WORK" >"$WORK/contrib_cfg.lua"
printf 'local acme = require "acme"; print(acme.greet(), require("acme.deals").n)\n' >"$WORK/use_acme.lua"
run_ferry lua -c contrib_cfg.lua use_acme.lua
expect_rc 0
expect_eq "$out" "hello from acme	42"

t "contrib: make install puts connectors beside the installed lualib, without their tests"
mkdir -p "$WORK/src"
cp -r "$ROOT/Makefile" "$ROOT/lualib" "$WORK/src/"
mkdir -p "$WORK/src/contrib/acme/tests" "$WORK/src/build"
cp -r "$ROOT/contrib/systemd" "$WORK/src/contrib/"   # make install installs the unit
cp "$ROOT/README.md" "$WORK/src/"                    # and the README
cp "$FERRY" "$WORK/src/build/ferry"     # the binary under test (build-san/ under SANITIZE=1)
cp "$WORK/share/contrib/acme/"*.lua "$WORK/src/contrib/acme/"
printf 'print("a test")\n' >"$WORK/src/contrib/acme/tests/helper.lua"
printf '# Acme connector\n' >"$WORK/src/contrib/acme/README.md"
make -s -C "$WORK/src" -o all install SANITIZE= DESTDIR="$WORK/inst" PREFIX=/usr >"$WORK/install.out" 2>&1 || fail "make install: $(cat "$WORK/install.out")"
expect_eq "$(cd "$WORK/inst/usr/share/ferry/contrib" 2>/dev/null && find . -type f | sort | tr '\n' ' ')" "./acme/README.md ./acme/deals.lua ./acme/init.lua "
[ -f "$WORK/inst/usr/share/ferry/lualib/ferry/runner.lua" ] || fail "lualib not installed"
printf 'return { lualib_path = "%s/inst/usr/share/ferry/lualib" }\n' "$WORK" >"$WORK/inst_cfg.lua"
run_ferry connectors -c "$WORK/inst_cfg.lua"
expect_rc 0
expect_in "$out" "acme 0.1.0  Acme"
expect_in "$out" "from:       $WORK/inst/usr/share/ferry/contrib"
done_t
