#!/usr/bin/env bash
# End-to-end: who owns each destination field (the integration's `fields`)
# and ferry run --dry-run, against the SQLite sink. The destination is
# edited between runs with sqlite3, as a person in the destination would.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

# integ NAME BODY: an integration NAME reading $WORK/NAME.jsonl (all of it,
# every run) into dest.db's table accounts.
integ() {
    script "$1" "return ferry.integration {
  name = \"$1\", owner = \"qa@example.com\", purpose = \"test\", pattern = \"workflow\",
  source_of_truth = \"csm\", freshness = \"1h\",
  extract = function(ctx)
    local f, n = assert(io.open(\"$1.jsonl\")), 0
    for line in f:lines() do ctx:emit(ferry.json.decode(line)); n = n + 1 end
    f:close()
    ctx:checkpoint({ lines = n })
  end,
  load = ferry.sink.sqlite { path = \"dest.db\", table = \"accounts\",
    columns = { { \"id\", \"text\", key = true }, { \"tier\", \"text\" }, { \"notes\", \"text\" }, { \"arr\", \"integer\" } } },
$2
}"
}
src() { printf '%s\n' "${@:2}" >"$WORK/$1.jsonl"; }
DEST=$WORK/data/dest.db
row() { sql "$DEST" "SELECT id, tier, notes FROM accounts WHERE id = '$1'"; }
runs_json() { (cd "$WORK" && "$FERRY" runs "$1" --json --limit 1 2>/dev/null); }

# ---------------------------------------------------------------------------
t "fields: a destination-owned field is written on create, never overwritten; an owned field edited there is reported and overwritten"
rm -rf "$WORK/data"
integ own 'fields = { tier = "csm", notes = "destination" },'
src own '{"id":"a1","tier":"Gold","notes":"from the source","arr":10}' '{"id":"a2","tier":"Silver","notes":"n2","arr":20}'
run_ferry run own.lua
expect_rc 0
expect_eq "$(row a1)" "a1|Gold|from the source" "created with the source's notes"
sql "$DEST" "UPDATE accounts SET tier = 'Bronze', notes = 'agent note' WHERE id = 'a1'" >/dev/null
src own '{"id":"a1","tier":"Gold","notes":"changed in the source","arr":11}' '{"id":"a2","tier":"Silver","notes":"n2 changed","arr":20}'
run_ferry run own.lua
expect_rc 0
expect_eq "$(row a1)" "a1|Gold|agent note" "tier overwritten, notes (the destination's) kept"
expect_eq "$(row a2)" "a2|Silver|n2" "a destination-owned field is not overwritten even unedited"
expect_eq "$(sql "$DEST" "SELECT arr FROM accounts WHERE id = 'a1'")" "11" "an undeclared field is written as usual"
expect_in "$out" 'destination edit: tier of id "a1": ours "Gold", theirs "Bronze"; overwritten'
expect_not_in "$out" 'of id "a2"'
rj=$(runs_json own)
expect_eq "$(python3 -c 'import json,sys; f=json.load(sys.stdin)[0]["findings"]; print([(x["kind"], x["field"], x["record"], x["ours"], x["theirs"], x["action"]) for x in f])' <<<"$rj")" \
    "[('destination_edit', 'tier', 'a1', 'Gold', 'Bronze', 'overwrite')]" "the run record's findings"
run_ferry run own.lua
expect_not_in "$out" "destination edit" "no edit: nothing reported"
expect_eq "$(sql "$WORK/data/ferry.db" "SELECT count(*) FROM written WHERE integration = 'own'")" "2"

t "fields: on_edit/policy keep holds their value until the source's own value changes"
rm -rf "$WORK/data"
integ keep 'fields = { tier = "csm" }, policy = { destination_edit = "keep" },'
src keep '{"id":"a1","tier":"Gold"}'
run_ferry run keep.lua
sql "$DEST" "UPDATE accounts SET tier = 'Bronze' WHERE id = 'a1'" >/dev/null
run_ferry run keep.lua
expect_rc 0
expect_eq "$(row a1)" "a1|Bronze|" "theirs kept"
expect_in "$out" 'destination edit: tier of id "a1": ours "Gold", theirs "Bronze"; kept theirs'
run_ferry run keep.lua
expect_eq "$(row a1)" "a1|Bronze|" "still theirs while the source says Gold"
expect_not_in "$out" "destination edit" "a kept edit is reported once"
src keep '{"id":"a1","tier":"Platinum"}'
run_ferry run keep.lua
expect_eq "$(row a1)" "a1|Platinum|" "the source's new value is written"
expect_not_in "$out" "destination edit"

t "fields: policy quarantine holds an edited record for a person (class destination_edit); replaying it overwrites"
rm -rf "$WORK/data"
integ hold 'fields = { tier = "csm" }, policy = { destination_edit = "quarantine" },'
src hold '{"id":"a1","tier":"Gold"}' '{"id":"a2","tier":"Silver"}'
run_ferry run hold.lua
sql "$DEST" "UPDATE accounts SET tier = 'Bronze' WHERE id = 'a1'" >/dev/null
src hold '{"id":"a1","tier":"Gold"}' '{"id":"a2","tier":"Gold"}'
run_ferry run hold.lua
expect_rc 3
expect_in "$out" "quarantined by class: destination_edit 1"
expect_eq "$(row a1)" "a1|Bronze|" "held: not written"
expect_eq "$(row a2)" "a2|Gold|" "the others load"
expect_eq "$(quarantine_py "$WORK/data" hold '[(q["class"], q["stage"], q["record"]["id"]) for q in L]')" "[('destination_edit', 'load', 'a1')]"
expect_in "$(quarantine_py "$WORK/data" hold 'L[0]["reason"]')" 'destination edit: tier of id "a1": ours "Gold", theirs "Bronze"'
run_ferry quarantine replay hold
expect_eq "$(row a1)" "a1|Gold|" "replayed by hand: overwritten"

t "fields: ferry check refuses ownership with a load that cannot read the destination, and a bad declaration"
script noread 'return ferry.integration {
  name = "noread", owner = "qa@example.com", purpose = "test", pattern = "workflow",
  source_of_truth = "csm", freshness = "1h",
  fields = { tier = "csm" },
  extract = function(ctx) end,
  load = function(batch) end,
}'
run_ferry check noread.lua
expect_rc 1
expect_in "$out" "noread.lua:4: fields: ferry must read the destination"
script badfields 'return ferry.integration {
  name = "badfields", owner = "qa@example.com", purpose = "test", pattern = "workflow",
  source_of_truth = "csm", freshness = "1h",
  fields = { tier = { owner = "csm", on_edit = "ignore" } },
  policy = { destination_edit = "skip" },
  extract = function(ctx) end,
  load = ferry.sink.custom { load = function() end, key = "id", read = function() return {} end },
}'
run_ferry check badfields.lua
expect_rc 1
expect_in "$out" "fields: tier: on_edit: unknown action ignore (use keep, overwrite or quarantine)"
expect_in "$out" "policy.destination_edit: unknown action skip (use keep, overwrite, quarantine)"

t "--dry-run: creates, updates with before -> after, unchanged and rejects; nothing written anywhere"
rm -rf "$WORK/data"
integ dry '
  transform = function(r)
    if r.tier == nil then return nil, "no tier" end
    return r
  end,
  fields = { notes = "destination" },'
src dry '{"id":"a1","tier":"Gold","notes":"x","arr":1}' '{"id":"a2","tier":"Silver","notes":"y","arr":2}'
run_ferry run dry.lua
expect_rc 0
src dry '{"id":"a1","tier":"Gold","notes":"x","arr":1}' '{"id":"a2","tier":"Gold","notes":"y","arr":3}' \
    '{"id":"a3","tier":"Bronze","notes":"new","arr":5}' '{"id":"a4","notes":"no tier"}'
before_store=$(sql "$WORK/data/ferry.db" "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM quarantine), (SELECT group_concat(cursor) FROM checkpoints), (SELECT group_concat(fields) FROM written), (SELECT count(*) FROM state)")
before_dest=$(sql "$DEST" "SELECT * FROM accounts ORDER BY id")
expect_in "$before_store" '{"lines":2}'
run_ferry run --dry-run dry.lua
expect_rc 0
expect_in "$out" "== dry  run "
expect_in "$out" "DRY RUN"
expect_in "$out" "dry run: nothing was written"
expect_in "$out" "load (sqlite dest.db, table accounts): would create 1 · update 1 · leave unchanged 1 · reject 1"
expect_in "$out" 'would update (first 1):'
expect_in "$out" '  "a2": tier "Silver" -> "Gold"; arr 2 -> 3'
expect_not_in "$out" "checkpoint:"
expect_in "$out" 'would create (first 1):'
expect_in "$out" '"id":"a3"'
expect_in "$out" 'would reject (first 1):'
expect_in "$out" 'transform validation: no tier'
expect_not_in "$out" "quarantine: "
expect_eq "$(sql "$WORK/data/ferry.db" "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM quarantine), (SELECT group_concat(cursor) FROM checkpoints), (SELECT group_concat(fields) FROM written), (SELECT count(*) FROM state)")" \
    "$before_store" "the store is untouched"
expect_eq "$(sql "$DEST" "SELECT * FROM accounts ORDER BY id")" "$before_dest" "the destination is untouched"

t "--dry-run with the script's own load: not called, and the summary says it cannot tell"
rm -rf "$WORK/data" "$WORK/called.txt"
script ownload 'return ferry.integration {
  name = "ownload", owner = "qa@example.com", purpose = "test", pattern = "workflow",
  source_of_truth = "csm", freshness = "1h",
  extract = function(ctx) for i = 1, 3 do ctx:emit({ id = i }) end end,
  load = function(batch)
    local f = assert(io.open("called.txt", "w")); f:write("called"); f:close()
  end,
}'
run_ferry run --dry-run ownload.lua
expect_rc 0
expect_in "$out" "load (the script's load): cannot tell what it would do without writing: 3 records would be offered to it"
[ -e "$WORK/called.txt" ] && fail "the load was called in a dry run"
run_ferry run ownload.lua
expect_rc 0
[ -e "$WORK/called.txt" ] || fail "a real run calls the load"

t "--dry-run is refused by other commands"
run_ferry status --dry-run
expect_rc 2
expect_in "$err" "--dry-run"

trap_done
