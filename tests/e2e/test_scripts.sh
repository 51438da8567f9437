#!/usr/bin/env bash
# End-to-end tests of finding scripts in the config's script_dirs: `ferry run
# NAME` and `ferry check NAME` by file name (with or without .lua) or by
# integration name, `ferry check` with no argument (every script there), the
# errors for an unknown or ambiguous name, and that a script found by name is
# bound to its grants exactly as when named by path.
#
#   bash tests/e2e/test_scripts.sh        or        ONLY=test_scripts make test
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
unset FERRY_CONFIG

# integ FILE NAME [EXTRA]: an integration called NAME in $WORK/FILE that emits
# two records and, when EXTRA is given, runs it first in extract.
integ() {
    mkdir -p "$(dirname "$WORK/$1")"
    cat >"$WORK/$1" <<LUA
return ferry.integration {
  name = "$2", owner = "qa@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "fixture", freshness = "1h",
  extract = function(ctx) ${3:-} ctx:emit({ id = 1 }) ctx:emit({ id = 2 }) end,
  load = function(batch, ctx) end,
}
LUA
}

# in DIR ARGS...: run ferry from $WORK/DIR (sets out, err, rc).
in_dir() { local d=$1; shift; mkdir -p "$WORK/$d"; WORK=$WORK/$d run_ferry "$@"; }

# proj: two script dirs, a helper module in a subdirectory (not a script).
integ proj/scripts/crm_accounts.lua crm-accounts
integ proj/scripts/tickets.lua tickets
integ proj/more/other.lua other-thing
mkdir -p "$WORK/proj/scripts/lib"
printf 'return { helper = true }\n' >"$WORK/proj/scripts/lib/helper.lua"
printf 'return { script_dirs = { "scripts", "more" }, integrations = { ["*"] = { trusted = true } } }\n' \
    >"$WORK/proj/ferry.lua"
CFG=$WORK/proj/ferry.lua

# ---------------------------------------------------------------- found by name

t "scripts: ferry run FILE-NAME without .lua finds it in script_dirs, from any directory"
in_dir cwd run -c "$CFG" --log-level off crm_accounts
expect_rc 0
expect_in "$out" "== crm-accounts  run "
expect_in "$out" "extracted 2"

t "scripts: ferry run FILE-NAME.lua finds it in script_dirs"
in_dir cwd run -c "$CFG" --log-level off crm_accounts.lua
expect_rc 0
expect_in "$out" "== crm-accounts  run "

t "scripts: ferry run INTEGRATION-NAME finds the script that defines it, in the second script dir"
in_dir cwd run -c "$CFG" --log-level off other-thing
expect_rc 0
expect_in "$out" "== other-thing  run "

t "scripts: ferry run NAME NAME runs both, found each way"
in_dir cwd run -c "$CFG" --log-level off tickets crm-accounts
expect_rc 0
expect_in "$out" "== tickets  run "
expect_in "$out" "== crm-accounts  run "

t "scripts: without a config, 'ferry run crm_accounts.lua' from the project root finds scripts/crm_accounts.lua"
integ root/scripts/crm_accounts.lua root-crm
(cd "$WORK/root" && FERRY_CONFIG= "$FERRY" run --log-level off crm_accounts.lua) >"$WORK/root.out" 2>&1
rc=$?
expect_rc 0
expect_in "$(cat "$WORK/root.out")" "== root-crm  run "
[ -f "$WORK/root/data/ferry.db" ] || fail "no store in ./data of the project root"

t "scripts: ferry check NAME checks the script found by name"
in_dir cwd check -c "$CFG" other-thing
expect_rc 0
expect_in "$out" "$WORK/proj/more/other.lua: ok: other-thing ("

t "scripts: a path that exists as given is used as today, before script_dirs"
integ cwd/crm_accounts.lua local-crm
in_dir cwd run -c "$CFG" --log-level off crm_accounts.lua
expect_rc 0
expect_in "$out" "== local-crm  run "
in_dir cwd run -c "$CFG" --log-level off ./crm_accounts.lua
expect_in "$out" "== local-crm  run "
rm "$WORK/cwd/crm_accounts.lua"

t "scripts: the store records the script's full path, so replay finds it"
expect_eq "$(sql "$WORK/proj/data/ferry.db" "SELECT script_path FROM integrations WHERE name = 'other-thing'")" \
    "$WORK/proj/more/other.lua"

# ---------------------------------------------------------------- unknown names

t "scripts: an unknown name exits 2, says where it looked, and suggests a close one"
in_dir cwd run -c "$CFG" crm_acounts
expect_rc 2
expect_in "$err" "crm_acounts"
expect_in "$err" "$WORK/proj/scripts"
expect_in "$err" "$WORK/proj/more"
expect_in "$err" "did you mean crm_accounts"
expect_not_in "$out" "== "

t "scripts: a close integration name is suggested too"
in_dir cwd check -c "$CFG" other-thin
expect_rc 2
expect_in "$err" "did you mean other-thing"

t "scripts: a name close to nothing gets no suggestion"
in_dir cwd run -c "$CFG" zzzzzz
expect_rc 2
expect_in "$err" "zzzzzz"
expect_not_in "$err" "did you mean"

t "scripts: ferry check with an unknown name still checks the others, then exits 2"
in_dir cwd check -c "$CFG" nope tickets
expect_rc 2
expect_in "$out" "tickets.lua: ok: tickets"
expect_in "$err" "nope"

t "scripts: a script that cannot be loaded is named when a name is not found"
integ broken/scripts/good.lua good
printf 'return ferry.integration { name = "half-done",\n' >"$WORK/broken/scripts/half.lua"
printf 'return { integrations = { ["*"] = { trusted = true } } }\n' >"$WORK/broken/ferry.lua"
in_dir cwd run -c "$WORK/broken/ferry.lua" half-done
expect_rc 2
expect_in "$err" "half.lua"
expect_in "$err" "ferry check"

# ---------------------------------------------------------------- ambiguous names

t "scripts: two scripts defining the same integration name: an error naming both files"
integ twin/scripts/a.lua same-name "error('must not run')"
integ twin/scripts/b.lua same-name "error('must not run')"
printf 'return { integrations = { ["*"] = { trusted = true } } }\n' >"$WORK/twin/ferry.lua"
in_dir cwd run -c "$WORK/twin/ferry.lua" same-name
expect_rc 2
expect_in "$err" "same-name"
expect_in "$err" "$WORK/twin/scripts/a.lua"
expect_in "$err" "$WORK/twin/scripts/b.lua"
expect_not_in "$out" "== "

t "scripts: the same file name in two script dirs: an error naming both files"
integ twin2/x/job.lua job-x
integ twin2/y/job.lua job-y
printf 'return { script_dirs = { "x", "y" }, integrations = { ["*"] = { trusted = true } } }\n' >"$WORK/twin2/ferry.lua"
in_dir cwd run -c "$WORK/twin2/ferry.lua" job
expect_rc 2
expect_in "$err" "$WORK/twin2/x/job.lua"
expect_in "$err" "$WORK/twin2/y/job.lua"
expect_not_in "$out" "== "

# ---------------------------------------------------------------- ferry check, every script

t "scripts: ferry check with no argument checks every script in script_dirs, one line each"
in_dir cwd check -c "$CFG"
expect_rc 0
expect_in "$out" "$WORK/proj/scripts/crm_accounts.lua: ok: crm-accounts"
expect_in "$out" "$WORK/proj/scripts/tickets.lua: ok: tickets"
expect_in "$out" "$WORK/proj/more/other.lua: ok: other-thing"
expect_in "$out" "3 of 3 scripts ok"
expect_not_in "$out" "helper"

t "scripts: ferry check with no argument fails when one script is broken, and still checks the rest"
in_dir cwd check -c "$WORK/broken/ferry.lua"
expect_rc 1
expect_in "$out" "good.lua: ok: good"
expect_in "$out" "half.lua"
expect_in "$out" "1 of 2 scripts ok"

t "scripts: ferry check with no argument reports two scripts defining one name"
in_dir cwd check -c "$WORK/twin/ferry.lua"
expect_rc 1
expect_in "$out" "same-name"
expect_in "$out" "$WORK/twin/scripts/a.lua"
expect_in "$out" "$WORK/twin/scripts/b.lua"

t "scripts: ferry check with no argument and no scripts exits 2 saying where it looked"
mkdir -p "$WORK/empty"
printf 'return { script_dirs = { "none" } }\n' >"$WORK/empty/ferry.lua"
in_dir cwd check -c "$WORK/empty/ferry.lua"
expect_rc 2
expect_in "$err" "$WORK/empty/none"

# ---------------------------------------------------------------- grants

# The grant for "payroll" is trusted and pinned to real.lua; impostor.lua
# claims the same name. Trusted scripts may write with io.
mkdir -p "$WORK/grants/scripts"
integ grants/scripts/real.lua payroll "local f = io.open('$WORK/grants/real-ran', 'w') f:write('x') f:close()"
integ grants/scripts/impostor.lua payroll "local f = io.open('$WORK/grants/impostor-ran', 'w') f:write('x') f:close()"
integ grants/scripts/plain.lua plain "local f = io.open('$WORK/grants/plain-ran', 'w') f:close()"
printf 'return { integrations = { payroll = { trusted = true, script = "scripts/real.lua" } } }\n' >"$WORK/grants/ferry.lua"

t "grants: finding by integration name picks the pinned script; an impostor cannot claim the name"
in_dir cwd run -c "$WORK/grants/ferry.lua" --log-level off payroll
expect_rc 0
expect_in "$out" "== payroll  run "
[ -f "$WORK/grants/real-ran" ] || fail "the pinned script did not run (trusted)"
[ ! -e "$WORK/grants/impostor-ran" ] || fail "the impostor ran"

t "grants: the impostor named by file name is refused exactly as by path"
in_dir cwd run -c "$WORK/grants/ferry.lua" impostor
expect_rc 2
expect_in "$err" "another script may not take its name"
by_name=$err
in_dir cwd run -c "$WORK/grants/ferry.lua" "$WORK/grants/scripts/impostor.lua"
expect_rc 2
expect_eq "$err" "$by_name" "the same error by path"
[ ! -e "$WORK/grants/impostor-ran" ] || fail "the impostor ran"

t "grants: a script found by name gets no grant it would not get by path"
in_dir cwd run -c "$WORK/grants/ferry.lua" --log-level off plain
expect_rc 1
expect_in "$out" "FAILED"
[ ! -e "$WORK/grants/plain-ran" ] || fail "an untrusted script wrote a file"

done_t
