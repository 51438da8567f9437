#!/usr/bin/env bash
# End-to-end: one run of an integration (extract -> transform per record ->
# load per batch), the quarantine rules, checkpoints, the SQLite sink and
# concurrent runs. Scripts are written into $WORK and run from there, so the
# data directory is $WORK/data.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh


# integ NAME BODY: writes $WORK/NAME.lua, an integration called NAME.
integ() {
    script "$1" "return ferry.integration {
  name = \"$1\", owner = \"qa@example.com\", purpose = \"test\", pattern = \"reporting\",
  source_of_truth = \"fixture\", freshness = \"1h\",
$2
}"
}

# qpy NAME EXPR: evaluates a Python expression over L, the quarantine rows
# of NAME (see quarantine_py in lib.sh).
qpy() { quarantine_py "$WORK/data" "$1" "$2"; }

# run id printed in the summary line "== NAME  run ID  STATUS"
run_id_of() { sed -nE "s/^== $1  run ([^ ]+)  .*/\1/p" <<<"$out" | head -1; }
lineno() { grep -nF -- "$2" "$WORK/$1.lua" | head -1 | cut -d: -f1; }

# ---------------------------------------------------------------------------
t "a transform that raises quarantines that record (class script) and loads the rest"
rm -rf "$WORK/data" "$WORK/loaded_throw.txt"
integ throw '
  extract = function(ctx) for i = 1, 6 do ctx:emit({ id = i }) end end,
  transform = function(r)
    if r.id == 2 or r.id == 5 then error("bad") end
    return { id = r.id }
  end,
  load = function(batch)
    local f = assert(io.open("loaded_throw.txt", "a"))
    for _, r in ipairs(batch) do f:write(r.id, "\n") end
    f:close()
  end,'
run_ferry run throw.lua
expect_rc 3
expect_in "$out" "== throw  run "
expect_in "$out" "PARTIAL"
expect_in "$out" "extracted 6 · transformed 4 · skipped 0 · loaded 4 · quarantined 2 (1 batch)"
expect_in "$out" "quarantined by class: script 2"
expect_in "$out" "quarantined by stage: transform 2"
expect_eq "$(tr '\n' ' ' <"$WORK/loaded_throw.txt")" "1 3 4 6 " "ids handed to load"
expect_eq "$(qpy throw 'len(L)')" "2"
expect_eq "$(qpy throw '[(q["record"]["id"], q["stage"], q["class"]) for q in L]')" \
    "[(2, 'transform', 'script'), (5, 'transform', 'script')]"
ln=$(lineno throw 'error("bad")')
expect_eq "$(qpy throw "all(q['reason'].endswith('throw.lua:$ln: bad') for q in L)")" "True" \
    "reason names the script file:line ($(qpy throw 'L[0]["reason"]'))"
expect_eq "$(qpy throw '[(q["status"], q["attempts"], q["first_run"] == q["run"]) for q in L]')" \
    "[('open', 1, True), ('open', 1, True)]"
expect_eq "$(qpy throw 'all(q["integration"] == "throw" and len(q["script_version"]) > 0 for q in L)')" "True"
expect_eq "$(qpy throw 'L[0]["run"]')" "$(run_id_of throw)" "quarantine run id = summary run id"
expect_in "$out" "quarantine: 2 open (oldest "; expect_in "$out" "· ferry quarantine list throw"

# ---------------------------------------------------------------------------
t "transform results: nil+reason, nil+{class}, nil alone, ctx:reject, ctx:reject with an unknown class"
rm -rf "$WORK/data"
integ verdicts '
  extract = function(ctx) for i = 1, 6 do ctx:emit({ id = i }) end end,
  transform = function(r, ctx)
    if r.id == 2 then return nil, "price must be positive" end
    if r.id == 3 then return nil, { class = "lookup_missing", reason = "owner x not found" } end
    if r.id == 4 then return nil end
    if r.id == 5 then ctx:reject(r, "picklist_drift", "why"); return nil end
    if r.id == 6 then ctx:reject(r, "no_such_class", "typo"); return nil end
    return r
  end,
  load = function(batch) end,'
run_ferry run verdicts.lua
expect_rc 3
expect_in "$out" "extracted 6 · transformed 1 · skipped 1 · loaded 1 · quarantined 4 (1 batch)"
expect_in "$out" "quarantined by stage: transform 4"
expect_eq "$(qpy verdicts '[(q["record"]["id"], q["stage"], q["class"], q["reason"]) for q in L if q["record"]["id"] < 6]')" \
    "[(2, 'transform', 'validation', 'price must be positive'), (3, 'transform', 'lookup_missing', 'owner x not found'), (5, 'transform', 'picklist_drift', 'why')]"
expect_eq "$(qpy verdicts '[(q["class"], "unknown error class" in q["reason"] and "no_such_class" in q["reason"]) for q in L if q["record"]["id"] == 6]')" \
    "[('script', True)]" "ctx:reject with an unknown class raises: one script quarantine for id 6"
expect_eq "$(qpy verdicts '[q["record"]["id"] for q in L if q["record"]["id"] == 4]')" "[]" "nil alone is not quarantined"

t "a transform returning nil alone skips: counted as skipped, exit 0, no quarantine file"
rm -rf "$WORK/data"
integ skipper '
  extract = function(ctx) for i = 1, 5 do ctx:emit({ id = i }) end end,
  transform = function(r) if r.id % 2 == 1 then return nil end return r end,
  load = function(batch) end,'
run_ferry run skipper.lua
expect_rc 0
expect_in "$out" "== skipper  run "
expect_in "$out" "  OK"
expect_in "$out" "extracted 5 · transformed 2 · skipped 3 · loaded 2 · quarantined 0 (1 batch)"
expect_not_in "$out" "quarantined by class"
expect_eq "$(qpy skipper 'len(L)')" "0" "nothing in the quarantine"
expect_not_in "$out" "quarantine:"

# ---------------------------------------------------------------------------
t "without a transform, records reach load unchanged"
rm -rf "$WORK/data" "$WORK/notransform.json"
integ notransform '
  extract = function(ctx)
    ctx:emit({ id = 1, name = "Ünïcode, \"quoted\"", amount = 12.5, nested = { a = { 1, 2 }, b = true } })
    ctx:emit({ id = 2, name = "plain", amount = 7 })
  end,
  load = function(batch)
    local f = assert(io.open("notransform.json", "w"))
    f:write(assert(ferry.json.encode(batch)))
    f:close()
  end,'
run_ferry run notransform.lua
expect_rc 0
expect_in "$out" "extracted 2 · transformed 2 · skipped 0 · loaded 2 · quarantined 0 (1 batch)"
got=$(python3 -c '
import json, sys
b = json.load(open(sys.argv[1], encoding="utf-8"))
want = [{"id": 1, "name": "Ünïcode, \"quoted\"", "amount": 12.5, "nested": {"a": [1, 2], "b": True}},
        {"id": 2, "name": "plain", "amount": 7}]
print("same" if b == want else "different: %r" % (b,))' "$WORK/notransform.json" 2>&1)
expect_eq "$got" "same"

# ---------------------------------------------------------------------------
t "load returning per-record failures quarantines those records at stage load with their output"
rm -rf "$WORK/data"
integ perrecord '
  extract = function(ctx) for i = 1, 5 do ctx:emit({ id = i }) end end,
  transform = function(r) return { key = "K" .. r.id, v = r.id * 10 } end,
  load = function(batch)
    return { [2] = "dup", [3] = { class = "validation", reason = "x" }, [4] = false,
             [5] = { class = "lookup_missing", reason = "no owner" } }
  end,'
run_ferry run perrecord.lua
expect_rc 3
expect_in "$out" "extracted 5 · transformed 5 · skipped 0 · loaded 1 · quarantined 4 (1 batch)"
expect_in "$out" "quarantined by stage: load 4"
expect_eq "$(qpy perrecord '[(q["stage"], q["class"], q["reason"], q["record"]["id"], q["output"] == {"key": "K%d" % q["record"]["id"], "v": q["record"]["id"] * 10}) for q in L]')" \
    "[('load', 'validation', 'dup', 2, True), ('load', 'validation', 'x', 3, True), ('load', 'validation', 'rejected by load', 4, True), ('load', 'lookup_missing', 'no owner', 5, True)]"

t "load raising an error quarantines its whole batch as class script; later batches still load"
rm -rf "$WORK/data" "$WORK/loadraise.txt"
integ loadraise '
  batch_size = 2,
  extract = function(ctx) for i = 1, 6 do ctx:emit({ id = i }) end end,
  load = function(batch)
    if batch[1].id == 3 then error("boom in load") end
    local f = assert(io.open("loadraise.txt", "a"))
    for _, r in ipairs(batch) do f:write(r.id, "\n") end
    f:close()
  end,'
run_ferry run loadraise.lua
expect_rc 3
expect_in "$out" "extracted 6 · transformed 6 · skipped 0 · loaded 4 · quarantined 2 (3 batches)"
expect_in "$out" "quarantined by class: script 2"
expect_eq "$(tr '\n' ' ' <"$WORK/loadraise.txt")" "1 2 5 6 "
expect_eq "$(qpy loadraise '[(q["record"]["id"], q["stage"], q["class"], "boom in load" in q["reason"], "output" in q) for q in L]')" \
    "[(3, 'load', 'script', True, True), (4, 'load', 'script', True, True)]"

t "load raising { class = \"transient\" } quarantines the batch with class transient"
rm -rf "$WORK/data"
integ loadtransient '
  extract = function(ctx) for i = 1, 3 do ctx:emit({ id = i }) end end,
  load = function(batch) error({ class = "transient", reason = "db down" }) end,'
run_ferry run loadtransient.lua
expect_rc 3
expect_in "$out" "loaded 0 · quarantined 3 (1 batch)"
expect_in "$out" "quarantined by class: transient 3"
expect_eq "$(qpy loadtransient '[(q["stage"], q["class"], q["reason"]) for q in L]')" \
    "[('load', 'transient', 'db down'), ('load', 'transient', 'db down'), ('load', 'transient', 'db down')]"

# ---------------------------------------------------------------------------
t "1,050 records with batch_size = 500 are loaded in batches of 500, 500 and 50"
rm -rf "$WORK/data" "$WORK/batches.txt"
integ batches '
  batch_size = 500,
  extract = function(ctx) for i = 1, 1050 do ctx:emit({ id = i }) end end,
  load = function(batch)
    local f = assert(io.open("batches.txt", "a"))
    f:write(#batch, " ", batch[1].id, "-", batch[#batch].id, "\n")
    f:close()
  end,'
run_ferry run batches.lua
expect_rc 0
expect_in "$out" "extracted 1050 · transformed 1050 · skipped 0 · loaded 1050 · quarantined 0 (3 batches)"
expect_eq "$(tr '\n' ',' <"$WORK/batches.txt")" "500 1-500,500 501-1000,50 1001-1050,"

# ---------------------------------------------------------------------------
t "extract raising midway: records emitted before are still loaded, run FAILED, exit 1"
rm -rf "$WORK/data" "$WORK/midway.txt"
integ midway '
  batch_size = 4,
  extract = function(ctx)
    for i = 1, 10 do ctx:emit({ id = i }) end
    error("source went away after 10")
  end,
  load = function(batch)
    local f = assert(io.open("midway.txt", "a"))
    for _, r in ipairs(batch) do f:write(r.id, "\n") end
    f:close()
  end,'
run_ferry run midway.lua
expect_rc 1
expect_in "$out" "== midway  run "
expect_in "$out" "FAILED"
expect_in "$out" "extracted 10 · transformed 10 · skipped 0 · loaded 10 · quarantined 0 (3 batches)"
expect_in "$out" "error: extract: "
expect_in "$out" "source went away after 10"
expect_eq "$(wc -l <"$WORK/midway.txt" | tr -d ' ')" "10" "records handed to load"

t "ctx:emit called from a transform never loses the record silently (counts add up)"
rm -rf "$WORK/data" "$WORK/fanout.txt"
integ fanout '
  extract = function(ctx) for i = 1, 3 do ctx:emit({ id = i }) end end,
  transform = function(r, ctx)
    if r.id == 1 then ctx:emit({ id = 10 }) end
    return r
  end,
  load = function(batch)
    local f = assert(io.open("fanout.txt", "a"))
    for _, r in ipairs(batch) do f:write(r.id, "\n") end
    f:close()
  end,'
run_ferry run fanout.lua
counts=$(sed -nE 's/.*extracted ([0-9]+) · transformed [0-9]+ · skipped ([0-9]+) · loaded ([0-9]+) · quarantined ([0-9]+).*/\1 \2 \3 \4/p' <<<"$out")
read -r c_ex c_sk c_lo c_qu <<<"$counts"
[ -n "$counts" ] && [ "$c_ex" -eq $((c_sk + c_lo + c_qu)) ] ||
    fail "every extracted record must be loaded, skipped or quarantined; summary says extracted $c_ex, skipped $c_sk, loaded $c_lo, quarantined $c_qu"
if ! grep -qx 10 "$WORK/fanout.txt" 2>/dev/null; then
    [ "$rc" -ne 0 ] || fail "record 10 was emitted but neither loaded nor reported, and the run exited 0"
fi

t "ctx:reject called from load: the record is not also counted as loaded"
rm -rf "$WORK/data"
integ loadreject '
  extract = function(ctx) for i = 1, 3 do ctx:emit({ id = i }) end end,
  load = function(batch, ctx) ctx:reject(batch[2], "lookup_missing", "owner not found") end,'
run_ferry run loadreject.lua
counts=$(sed -nE 's/.*extracted ([0-9]+) · transformed [0-9]+ · skipped ([0-9]+) · loaded ([0-9]+) · quarantined ([0-9]+).*/\1 \2 \3 \4/p' <<<"$out")
read -r c_ex c_sk c_lo c_qu <<<"$counts"
[ -n "$counts" ] && [ "$c_ex" -eq $((c_sk + c_lo + c_qu)) ] ||
    fail "every extracted record must be loaded, skipped or quarantined exactly once; summary says extracted $c_ex, skipped $c_sk, loaded $c_lo, quarantined $c_qu"
[ "$rc" -ne 0 ] || fail "a record was rejected but the run exited 0"

# ---------------------------------------------------------------------------
t "an empty source: no error, extracted 0, no quarantine file, and suspect (exit 4)"
rm -rf "$WORK/data"
integ empty '
  extract = function(ctx) end,
  load = function(batch) error("load must not be called for an empty run") end,'
run_ferry run empty.lua
expect_rc 4
expect_in "$out" "  OK (SUSPECT)"
expect_in "$out" "extracted 0 · transformed 0 · skipped 0 · loaded 0 · quarantined 0 (0 batches)"
expect_eq "$(qpy empty 'len(L)')" "0" "nothing in the quarantine"

# ---------------------------------------------------------------------------
t "ctx:checkpoint: the summary shows the last cursor once every record is loaded"
rm -rf "$WORK/data"
integ checkpoint '
  batch_size = 3,
  extract = function(ctx)
    for i = 1, 7 do
      ctx:emit({ id = i })
      ctx:checkpoint("2026-01-0" .. i)
    end
  end,
  load = function(batch) end,'
run_ferry run checkpoint.lua
expect_rc 0
expect_in "$out" "loaded 7"
expect_in "$out" "checkpoint: 2026-01-07"

t "a checkpoint is not reported when nothing was checkpointed"
rm -rf "$WORK/data"
run_ferry run skipper.lua
expect_rc 0
expect_not_in "$out" "checkpoint:"

# ---------------------------------------------------------------------------
# The SQLite sink.
DB="$WORK/data/sink.db"
sink_script() {   # sink_script NAME COLUMNS EMITS
    integ "$1" "
  extract = function(ctx)
$3
  end,
  load = ferry.sink.sqlite { path = \"sink.db\", table = \"items\", columns = { $2 } },"
}
COLS1='{ "id", "integer", key = true }, { "name", "text" }, { "n", "integer" }, { "meta", "json" }'
EMITS1='    ctx:emit({ id = 1, name = "one", n = 1, meta = { x = 1, tags = { "p", "q" }, s = "a\"b" } })
    ctx:emit({ id = 2, name = "two", n = 2 })
    ctx:emit({ id = 4, name = "bad n", n = "abc" })'

t "sqlite sink: creates the table with the declared columns, _synced_at, _run_id and the key as primary key"
rm -rf "$WORK/data"
sink_script sink1 "$COLS1" "$EMITS1"
run_ferry run sink1.lua
expect_rc 3
expect_in "$out" "extracted 3 · transformed 3 · skipped 0 · loaded 2 · quarantined 1 (1 batch)"
expect_eq "$(sql "$DB" "SELECT name, upper(type), pk FROM pragma_table_info('items') ORDER BY cid" | tr '\n' ' ')" \
    "id|INTEGER|1 name|TEXT|0 n|INTEGER|0 meta|TEXT|0 _synced_at|TEXT|0 _run_id|TEXT|0 "
expect_eq "$(sql "$DB" "SELECT id, name, n FROM items ORDER BY id" | tr '\n' ' ')" "1|one|1 2|two|2 "
RUN1=$(run_id_of sink1)
expect_eq "$(sql "$DB" "SELECT DISTINCT _run_id FROM items")" "$RUN1" "_run_id is the run id"
expect_eq "$(sql "$DB" "SELECT count(*) FROM items WHERE _synced_at GLOB '20[0-9][0-9]-[01][0-9]-[0-3][0-9]T*Z'")" "2" \
    "_synced_at is an ISO 8601 UTC time"

t "sqlite sink: a table value in a json column is stored as JSON text"
got=$(sql "$DB" "SELECT meta FROM items WHERE id = 1")
expect_eq "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]) == {"x": 1, "tags": ["p", "q"], "s": "a\"b"})' "$got" 2>&1)" \
    "True" "meta = $got"
expect_eq "$(sql "$DB" "SELECT typeof(meta) FROM items WHERE id = 2")" "null"

t "sqlite sink: text in an integer column is quarantined with the column type in the reason"
expect_eq "$(qpy sink1 '[(q["stage"], q["class"], "INTEGER" in q["reason"], q["output"]["n"]) for q in L if q["record"].get("id") == 4]')" \
    "[('load', 'validation', True, 'abc')]" "$(qpy sink1 '[q["reason"] for q in L]')"

t "sqlite sink: re-running upserts by key (same row count, _run_id is the new run's)"
run_ferry run sink1.lua
expect_rc 3
RUN2=$(run_id_of sink1)
[ -n "$RUN2" ] && [ "$RUN2" != "$RUN1" ] || fail "expected a new run id, got '$RUN2' (first run '$RUN1')"
expect_eq "$(sql "$DB" "SELECT count(*) FROM items")" "2"
expect_eq "$(sql "$DB" "SELECT DISTINCT _run_id FROM items")" "$RUN2"
expect_eq "$(qpy sink1 '[(q["attempts"], q["first_run"], q["run"]) for q in L]')" "[(2, '$RUN1', '$RUN2')]" \
    "the same bad record again: its one row is updated, not duplicated"

t "sqlite sink: a newly declared column is added to the existing table; old rows stay"
sink_script sink2 "$COLS1"', { "extra", "text" }' \
    '    ctx:emit({ id = 1, name = "one again", n = 11, extra = "new column" })'
run_ferry run sink2.lua
expect_rc 0
expect_eq "$(sql "$DB" "SELECT name FROM pragma_table_info('items') WHERE name = 'extra'")" "extra"
expect_eq "$(sql "$DB" "SELECT id, name, n, coalesce(extra, 'NULL') FROM items ORDER BY id" | tr '\n' ' ')" \
    "1|one again|11|new column 2|two|2|NULL "

t "sqlite sink: a column declared with another type than the table has fails the run (schema_drift), naming the column"
sink_script sink3 '{ "id", "integer", key = true }, { "name", "text" }, { "n", "text" }' \
    '    ctx:emit({ id = 7, name = "seven", n = "7" })'
run_ferry run sink3.lua
expect_rc 1
expect_in "$out" "loaded 0"
expect_eq "$(sql "$DB" "SELECT count(*) FROM items WHERE id = 7")" "0"
expect_in "$out" "schema_drift: table items: column n is INTEGER in the database but declared text"
expect_eq "$(qpy sink3 'len(L)')" "0" "nothing quarantined for a drift (tests/e2e/test_drift.sh)"

t "sqlite sink: a row without its text key is quarantined at load (NOT NULL)"
integ nokeytext '
  extract = function(ctx) ctx:emit({ code = "A", name = "has key" }); ctx:emit({ name = "no key" }) end,
  load = ferry.sink.sqlite { path = "sink.db", table = "bytext",
                            columns = { { "code", "text", key = true }, { "name", "text" } } },'
run_ferry run nokeytext.lua
expect_rc 3
expect_in "$out" "loaded 1 · quarantined 1"
expect_eq "$(sql "$DB" "SELECT count(*) FROM bytext")" "1"
expect_eq "$(qpy nokeytext '[(q["record"]["name"], q["stage"], q["class"], "NOT NULL" in q["reason"]) for q in L]')" \
    "[('no key', 'load', 'validation', True)]" "$(qpy nokeytext '[q["reason"] for q in L]')"

t "sqlite sink: a destination locked by another process fails the batch as transient; replay delivers it"
python3 - "$WORK/data/locked.db" "$WORK/locked.ready" <<'PY' &
import os, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("CREATE TABLE items (id INTEGER NOT NULL, _synced_at TEXT NOT NULL, _run_id TEXT NOT NULL, PRIMARY KEY (id)) STRICT")
db.execute("BEGIN EXCLUSIVE")
open(sys.argv[2], "w").close()
time.sleep(6.5)
db.execute("ROLLBACK")
PY
locker=$!
for _ in $(seq 100); do [ -e "$WORK/locked.ready" ] && break; sleep 0.1; done
integ sinklock '
  batch_size = 4,
  extract = function(ctx) for i = 1, 4 do ctx:emit({ id = i }) end; ctx:checkpoint(4) end,
  load = ferry.sink.sqlite { path = "locked.db", table = "items", columns = { { "id", "integer", key = true } } },'
run_ferry run sinklock.lua
wait "$locker"
expect_rc 3
expect_in "$out" "loaded 0 · quarantined 4 (1 batch)"
expect_in "$out" "quarantined by class: transient 4"
expect_eq "$(qpy sinklock '[(q["stage"], q["class"], "database is locked" in q["reason"]) for q in L][0]')" \
    "('load', 'transient', True)" "$(qpy sinklock '[q["reason"] for q in L][:1]')"
run_ferry quarantine replay sinklock
expect_rc 0
expect_in "$out" "resolved 4 of 4"
expect_eq "$(sql "$WORK/data/locked.db" "SELECT group_concat(id) FROM items")" "1,2,3,4"

t "sqlite sink: a row without its integer key is quarantined at load (NOT NULL), not given a made-up key"
integ nokeyint '
  extract = function(ctx) ctx:emit({ id = 1, name = "has key" }); ctx:emit({ name = "no key" }) end,
  load = ferry.sink.sqlite { path = "sink.db", table = "byint",
                            columns = { { "id", "integer", key = true }, { "name", "text" } } },'
run_ferry run nokeyint.lua
expect_rc 3
expect_in "$out" "loaded 1 · quarantined 1"
expect_eq "$(sql "$DB" "SELECT id, name FROM byint ORDER BY id" | tr '\n' ' ')" "1|has key "
expect_eq "$(qpy nokeyint '[(q["record"]["name"], q["stage"], q["class"], "NOT NULL" in q["reason"]) for q in L]')" \
    "[('no key', 'load', 'validation', True)]"
run_ferry run nokeyint.lua
expect_eq "$(sql "$DB" "SELECT count(*) FROM byint")" "1" "rows after a re-run (loads must be idempotent)"

t "sqlite sink: a key holding JSON null is a missing key, quarantined at load, never a row under a made-up id"
integ nullkey '
  extract = function(ctx)
    ctx:emit(ferry.json.decode([[{"id":1,"name":"has key"}]]))
    ctx:emit(ferry.json.decode([[{"id":null,"name":"null key"}]]))
  end,
  load = ferry.sink.sqlite { path = "sink.db", table = "nullint",
                            columns = { { "id", "integer", key = true }, { "name", "text" } } },'
run_ferry run nullkey.lua
expect_rc 3
expect_in "$out" "loaded 1 · quarantined 1"
expect_eq "$(sql "$DB" "SELECT id, name FROM nullint ORDER BY id" | tr '\n' ' ')" "1|has key "
expect_eq "$(qpy nullkey '[(q["record"]["name"], q["stage"], q["class"], "key column id is missing" in q["reason"]) for q in L]')" \
    "[('null key', 'load', 'validation', True)]" "$(qpy nullkey '[q["reason"] for q in L]')"
integ nullkeytext '
  extract = function(ctx) ctx:emit(ferry.json.decode([[{"code":null,"name":"null key"}]])) end,
  load = ferry.sink.sqlite { path = "sink.db", table = "nulltext",
                            columns = { { "code", "text", key = true }, { "name", "text" } } },'
run_ferry run nullkeytext.lua
expect_rc 3
expect_in "$out" "loaded 0 · quarantined 1"
expect_eq "$(sql "$DB" "SELECT count(*) FROM nulltext")" "0" "rows with a null text key"

t "sqlite sink: the WAL is copied into the database while the run goes on, and is gone when it ends"
# 30 batches of ~400 KB are written before the load of the 31st waits 4 s:
# by then they must be in the database file itself (a thread of its own
# checkpoints the WAL), not only in its WAL
script walcopy 'local sink = ferry.sink.sqlite { path = "wal.db", table = "pads",
  columns = { { "id", "integer", key = true }, { "pad", "text" } } }
return ferry.integration {
  name = "walcopy", owner = "qa@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "fixture", freshness = "1h", batch_size = 1000,
  extract = function(ctx)
    local pad = string.rep("x", 400)
    for i = 1, 32000 do ctx:emit({ id = i, pad = pad }) end
  end,
  load = function(batch, ctx)
    if batch[1].id == 30001 then
      local f = assert(io.open("reached", "w")); f:close()
      ferry.sleep(4)
    end
    return sink(batch, ctx)
  end,
}'
rm -f "$WORK/reached"
(cd "$WORK" && exec "$FERRY" run walcopy.lua) >"$WORK/walcopy.log" 2>&1 &
bgw=$!
for _ in $(seq 200); do [ -e "$WORK/reached" ] && break; sleep 0.1; done
size=0
for _ in $(seq 35); do
    size=$(stat -c %s "$WORK/data/wal.db" 2>/dev/null || echo 0)
    [ "$size" -ge 10000000 ] && break
    sleep 0.1
done
wait "$bgw"
rc=$?
expect_eq "$rc" 0 "exit status ($(tail -c 300 "$WORK/walcopy.log"))"
[ "$size" -ge 10000000 ] || fail "wal.db held $size bytes while the run waited after 30 batches (~12 MB written): the WAL was not copied into it"
expect_eq "$(sql "$WORK/data/wal.db" "SELECT count(*), sum(length(pad)) FROM pads")" "32000|12800000"
expect_eq "$(sql "$WORK/data/wal.db" "PRAGMA integrity_check")" "ok"
[ ! -e "$WORK/data/wal.db-wal" ] || fail "wal.db-wal is left after the run ($(stat -c %s "$WORK/data/wal.db-wal") bytes)"

# ---------------------------------------------------------------------------
t "two scripts in one 'ferry run' run concurrently (two 1 s sleeps take < 1.8 s)"
rm -rf "$WORK/data"
integ sleepa '
  extract = function(ctx) ferry.sleep(1.0); ctx:emit({ id = 1 }) end,
  load = function(batch) end,'
integ sleepb '
  extract = function(ctx) ferry.sleep(1.0); ctx:emit({ id = 2 }) end,
  load = function(batch) end,'
t0=$(date +%s.%N)
run_ferry run sleepa.lua sleepb.lua
t1=$(date +%s.%N)
expect_rc 0
expect_in "$out" "== sleepa  run "
expect_in "$out" "== sleepb  run "
el=$(python3 -c "print(round($t1 - $t0, 2))")
expect_eq "$(python3 -c "print(0.95 <= $t1 - $t0 < 1.8)")" "True" "two 1 s sleeps took $el s"

t "concurrent runs interleave: the shorter sleep finishes first although listed second"
rm -rf "$WORK/data" "$WORK/order.txt"
integ ordera '
  expect = { min_records = 0 },        -- nothing extracted is normal for this test
  extract = function(ctx)
    ferry.sleep(0.6)
    local f = assert(io.open("order.txt", "a")); f:write("A\n"); f:close()
  end,
  load = function(batch) end,'
integ orderb '
  expect = { min_records = 0 },        -- nothing extracted is normal for this test
  extract = function(ctx)
    ferry.sleep(0.2)
    local f = assert(io.open("order.txt", "a")); f:write("B\n"); f:close()
  end,
  load = function(batch) end,'
run_ferry run ordera.lua orderb.lua
expect_rc 0
expect_eq "$(tr '\n' ' ' <"$WORK/order.txt" 2>/dev/null)" "B A "

t "the exit status of several runs is the worst one (OK + PARTIAL -> 3, + FAILED -> 1)"
rm -rf "$WORK/data"
run_ferry run skipper.lua throw.lua
expect_rc 3
run_ferry run skipper.lua throw.lua midway.lua
expect_rc 1
# the worst one finishing first: sleepa (OK) ends 1 s after the others
run_ferry run midway.lua sleepa.lua
expect_rc 1
run_ferry run throw.lua sleepa.lua
expect_rc 3

# ---------------------------------------------------------------------------
t "ferry.sleep at load time (top of the script) is a clear error, exit 2"
rm -rf "$WORK/data"
script loadsleep 'ferry.sleep(0.1)
return ferry.integration { '"$HEADER"'
  extract = function(ctx) end, load = function(batch) end }'
run_ferry run loadsleep.lua
expect_rc 2
expect_in "$err" "only inside a run"
expect_in "$err" "loadsleep.lua:1:"

t "ferry.sleep in a coroutine of the script's own fails that record cleanly (no crash)"
rm -rf "$WORK/data"
integ cosleep '
  extract = function(ctx) for i = 1, 3 do ctx:emit({ id = i }) end end,
  transform = function(r)
    if r.id == 2 then
      local co = coroutine.wrap(function() ferry.sleep(0.01) end)
      co()
    end
    return r
  end,
  load = function(batch) end,'
run_ferry run cosleep.lua
expect_rc 3
expect_in "$out" "loaded 2 · quarantined 1"
expect_eq "$(qpy cosleep '[(q["record"]["id"], q["class"], "only inside a run" in q["reason"]) for q in L]')" \
    "[(2, 'script', True)]"

t "coroutine.yield from a hook fails the run with a clear error instead of hanging"
rm -rf "$WORK/data"
integ yielder '
  extract = function(ctx) ctx:emit({ id = 1 }); coroutine.yield() end,
  load = function(batch) end,'
run_ferry run yielder.lua
expect_rc 1
expect_in "$out" "FAILED"
expect_in "$out$err" "yielded outside ferry"

done_t
