#!/usr/bin/env bash
# The connector kit: require "contrib.NAME", ferry.connector, `ferry
# connectors` and `ferry test` (its own cases in tests/e2e/kit/: a script,
# recorded pages, and test files that pass and that fail on purpose).
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh
KIT=$ROOT/tests/e2e/kit

# connectors of our own, in two connector_dirs
mkdir -p "$WORK/c1/acme" "$WORK/c1/broken" "$WORK/c1/wrongname" "$WORK/c2/acme" "$WORK/scripts"
cat >"$WORK/c1/acme/init.lua" <<'EOF'
local M = ferry.connector { name = "acme", system = "Acme CRM", version = "1.2.0", api = "REST v2",
  docs = "https://developer.acme.example", auth = "API key (bearer); secret ACME_TOKEN",
  streams = { "accounts", "contacts" }, operations = { "upsert", "picklist" } }
M.where = "c1"
function M.hello() return require("contrib.acme.util").greet() end
return M
EOF
mkdir -p "$WORK/c1/acme"
printf 'return { greet = function() return "hello from acme.util" end }\n' >"$WORK/c1/acme/util.lua"
printf 'local M = ferry.connector { name = "acme", system = "Acme (other copy)", version = "0.0.1", auth = "none", streams = {}, operations = {} }\nM.where = "c2"\nreturn M\n' >"$WORK/c2/acme/init.lua"
printf 'return ferry.connector { name = "broken", system = "B", version = "1", auth = "none", streams = {}, operations = {} }\n' >"$WORK/c1/broken/init.lua"
printf 'return ferry.connector { name = "other", system = "W", version = "1.0.0", auth = "none", streams = {}, operations = {} }\n' >"$WORK/c1/wrongname/init.lua"
cat >"$WORK/kit.lua" <<EOF
return { connector_dirs = { "c1", "c2" }, script_dirs = { "scripts" } }
EOF

t "ferry connectors lists each connector's system, version, streams, operations and auth, and names a broken one"
run_ferry connectors -c "$WORK/kit.lua"
expect_rc 1
expect_in "$out" "acme 1.2.0  Acme CRM (REST v2)"
expect_in "$out" "  streams:    accounts, contacts"
expect_in "$out" "  operations: upsert, picklist"
expect_in "$out" "  auth:       API key (bearer); secret ACME_TOKEN"
expect_in "$out" "  from:       $WORK/c2  (shadowed by $WORK/c1)"
expect_in "$out" "broken  BROKEN: "
expect_in "$out" "ferry.connector: version '1': MAJOR.MINOR.PATCH"
expect_in "$out" "wrongname  BROKEN: ferry.connector names it 'other' but its folder is 'wrongname'"

t "ferry connectors --json: one object per connector found"
run_ferry connectors -c "$WORK/kit.lua" --json
# the kit's own connectors (the ones shipped in contrib/ are listed too, and come and go)
n=$(python3 -c 'import json,sys; L=[c for c in json.loads(sys.argv[1]) if c.get("dir") != sys.argv[2]]; a=[c for c in L if c["name"]=="acme" and "shadowed_by" not in c][0]; print(len(L), a["system"], a["version"], ",".join(a["streams"]), ",".join(a["operations"]))' "$out" "$ROOT/contrib" 2>&1)
expect_eq "$n" "4 Acme CRM 1.2.0 accounts,contacts upsert,picklist"

t "require \"contrib.NAME\" loads the first connector of that name, and its own modules"
cat >"$WORK/scripts/uses.lua" <<'EOF'
local acme = require "contrib.acme"
print("where " .. acme.where .. " / " .. acme.hello() .. " / " .. acme.about.system)
return ferry.integration { name = "uses", owner = "qa@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "acme", freshness = "1h", extract = function() end, load = function() end }
EOF
printf 'return { where = "the script folder" }\n' >"$WORK/scripts/acme.lua"
run_ferry check -c "$WORK/kit.lua" uses
expect_rc 0
expect_in "$out" "where c1 / hello from acme.util / Acme CRM"

t "require \"contrib.NAME\" of a missing connector says where it looked, never beside the script"
cat >"$WORK/scripts/missing.lua" <<'EOF'
require "contrib.acme_missing"
EOF
printf 'return {}\n' >"$WORK/scripts/acme_missing.lua"
run_ferry check -c "$WORK/kit.lua" "$WORK/scripts/missing.lua"
expect_rc 1
expect_in "$out" "module 'contrib.acme_missing' not found"
expect_in "$out" "no file '$WORK/c2/acme_missing/init.lua'"
expect_not_in "$out" "no file '$WORK/scripts/acme_missing.lua'"

t "ferry test runs scripts for real against their fixtures: pages, a picklist value, a new field, a 401, a 429 storm, a missing fixture, webhook events"
run_ferry test "$KIT/tests"
expect_rc 0
for c in "two pages land in the table" "an unknown picklist value is quarantined as picklist_drift" \
         "a new field in the source changes nothing" "a 401 mid-run fails the run as auth" \
         "a 429 storm: the run waits" "a path without a fixture answers 404"; do
    expect_in "$out" "ok $KIT/tests/accounts_test.lua: $c"
done
for c in "a delivered event is handled by the next run" "a tier the helpdesk does not offer" \
         "a delivery id is stored once however often it is delivered"; do
    expect_in "$out" "ok $KIT/tests/ticket_test.lua: $c"
done
expect_in "$out" "9 passed, 0 failed"
expect_not_in "$out" "not ok"

t "ferry test reports each failing case with its file's line and why, and exits 1"
run_ferry test "$KIT/failing"
expect_rc 1
expect_in "$out" "ok $KIT/failing/failing_test.lua: passes"
expect_in "$out" "not ok $KIT/failing/failing_test.lua: deep difference: failing_test.lua:4: .a[2]: got 2, want 3"
expect_in "$out" "not ok $KIT/failing/failing_test.lua: raises: $KIT/failing/failing_test.lua:5: attempt to index a nil value (local 'x')"
expect_in "$out" 'not ok '"$KIT"'/failing/failing_test.lua: has: failing_test.lua:6: no element holds {"class":"validation"} in [{"class":"auth"}]'
expect_in "$out" "not ok $KIT/failing/broken_test.lua: the file fails before its cases: $KIT/failing/broken_test.lua:3: set-up went wrong"
expect_in "$out" "1 passed, 4 failed"

t "ferry test leaves nothing behind, or keeps the systems' data with FERRY_TEST_KEEP"
mkdir -p "$WORK/tmp"
TMPDIR=$WORK/tmp run_ferry test "$KIT/tests/accounts_test.lua"
expect_rc 0
expect_eq "$(ls -A "$WORK/tmp" | wc -l)" "0" "files left in TMPDIR"
TMPDIR=$WORK/tmp FERRY_TEST_KEEP=1 run_ferry test "$KIT/tests/accounts_test.lua"
expect_in "$err" "ferry test: kept the systems under test in $WORK/tmp/ferry-test-"
kept=$(ls -d "$WORK"/tmp/ferry-test-*/f1-s1 2>/dev/null | head -1)
expect_eq "$(sql "$kept/crm.db" 'SELECT count(*) FROM accounts')" "3" "rows in the first system's table"
# the token the test gave is a secret: redacted from the store
expect_eq "$(grep -rl kit-token-5f3a9e1c "$WORK"/tmp/ferry-test-*/*/ferry.db 2>/dev/null | wc -l)" "0" "stores holding the token"

t "ferry events add puts an event into a webhook script's inbox by hand; the next run handles it"
cat >"$WORK/scripts/hooky.lua" <<'EOF'
return ferry.integration { name = "hooky", owner = "qa@example.com", purpose = "test", pattern = "workflow",
  source_of_truth = "x", freshness = "1h", trigger = { webhook = "issue-created" },
  transform = function(ev) return { id = ev.json.id, thing = ev.headers["x-thing"] } end,
  load = function(batch) for _, r in ipairs(batch) do print("loaded " .. r.id .. " " .. r.thing) end end }
EOF
printf '{"id": 7}' >"$WORK/body.json"
run_ferry events add -c "$WORK/kit.lua" hooky --header "X-Thing: yes" --delivery-id d-1 <"$WORK/body.json"
expect_rc 0
expect_in "$out" "event 1 added to the inbox of hooky (hook issue-created); its next run handles it"
run_ferry events add -c "$WORK/kit.lua" hooky --delivery-id d-1 <"$WORK/body.json"
expect_rc 0
expect_in "$out" "event 1 of hooky already has delivery id d-1: not added again"
run_ferry run -c "$WORK/kit.lua" hooky
expect_rc 0
expect_in "$out" "loaded 7 yes"
expect_in "$out" "extracted 1"

t "ferry events add refuses a body the hook would refuse, and a script without a webhook"
printf 'not json' >"$WORK/bad.txt"
run_ferry events add -c "$WORK/kit.lua" hooky <"$WORK/bad.txt"
expect_rc 2
expect_in "$err" "ferry events add: the hook of hooky takes JSON and the body is not: "
run_ferry events add -c "$WORK/kit.lua" uses <"$WORK/body.json"
expect_rc 2
expect_in "$err" "ferry events add: uses has no webhook (trigger = { webhook = ... })"
run_ferry events add -c "$WORK/kit.lua" hooky --header "no colon" <"$WORK/body.json"
expect_rc 2
expect_in "$err" 'ferry events add: --header takes "Name: value", got "no colon"'

t "ferry test without test files says so and exits 2"
mkdir -p "$WORK/empty"
run_ferry test "$WORK/empty"
expect_rc 2
expect_in "$err" "ferry test: no test files (*_test.lua) there"
run_ferry test "$WORK/nope"
expect_rc 2
expect_in "$err" "ferry test: $WORK/nope: no such file or directory"

t "a test file cannot run ferry commands beyond its systems' or on another config"
mkdir -p "$WORK/evil"
cp "$KIT/accounts.lua" "$WORK/evil/accounts.lua"
cat >"$WORK/evil/evil_test.lua" <<'EOF'
local t = ferry.test
local sys = t.system { script = "accounts.lua" }
t.case("lua is not a command a test may run", function()
  local ok, err = pcall(sys.ferry, sys, "lua", "--trusted", "x.lua")
  t.ok(not ok, "ran ferry lua")
  t.contains(tostring(err), "'lua' is not one of run, check, runs, quarantine, status, reset")
end)
t.case("no config of its own", function()
  local ok, err = pcall(sys.ferry, sys, "run", "-c", "/etc/passwd")
  t.ok(not ok, "ran with another config")
  t.contains(tostring(err), "the config is the system's")
end)
EOF
run_ferry test "$WORK/evil"
expect_rc 0
expect_in "$out" "2 passed, 0 failed"
done_t
