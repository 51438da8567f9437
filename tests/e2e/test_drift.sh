#!/usr/bin/env bash
# End-to-end: schema drift of a destination table. A column whose declared
# type or key no longer matches the existing SQLite table (or a table column
# no row can be written without) is one problem of the integration, found
# when the sink prepares the table: the run fails (exit 1) with one
# schema_drift error naming table, column and both types; no record is
# quarantined for it, the records not loaded are counted, and the
# checkpoint does not move past them.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

DB="$WORK/data/hr.db"

# staff NAME COLUMNS [BATCH_SIZE]: an integration NAME loading 5 employees
# into hr.db's table staff with COLUMNS; it checkpoints after each record.
staff() {
    script "$1" "return ferry.integration {
  name = \"$1\", owner = \"qa@example.com\", purpose = \"test\", pattern = \"reporting\",
  source_of_truth = \"fixture\", freshness = \"1h\", batch_size = ${3:-500},
  extract = function(ctx)
    for i = 1, 5 do
      ctx:emit({ id = i, name = \"emp\" .. i, salary = 1000 * i })
      ctx:checkpoint({ after = i })
    end
  end,
  transform = function(r)
    if r.id == 3 then return nil, \"employee 3 is not ours\" end
    return { id = r.id, name = r.name, salary = r.salary }
  end,
  load = ferry.sink.sqlite { path = \"hr.db\", table = \"staff\", columns = { $2 } },
}"
}
qpy() { quarantine_py "$WORK/data" "$1" "$2"; }
error_of() { awk -v n="== $1  run " 'index($0, n) == 1 { on = 1; next } /^== / { on = 0 } on && /^   error: / { sub(/^   error: /, ""); print }' <<<"$out"; }
summary() { grep -A1 "^== $1  run " <<<"$out" | sed -n 2p | sed 's/^   //'; }
checkpoint_of() { sql "$WORK/data/ferry.db" "SELECT cursor FROM checkpoints WHERE integration = '$1'"; }
TEXT_SALARY='{ "id", "integer", key = true }, { "name", "text" }, { "salary", "text" }'
INT_SALARY='{ "id", "integer", key = true }, { "name", "text" }, { "salary", "integer" }'

t "drift: salary declared integer, the table has it as text: the run fails (exit 1) with one schema_drift error"
rm -rf "$WORK/data"
staff drift_a "$TEXT_SALARY"
run_ferry run drift_a.lua
expect_rc 3                                 # employee 3 is quarantined; the table now has salary TEXT
expect_eq "$(sql "$DB" "SELECT upper(type) FROM pragma_table_info('staff') WHERE name = 'salary'")" "TEXT"
expect_eq "$(checkpoint_of drift_a)" '{"after":5}'
sql "$DB" "DELETE FROM staff" >/dev/null
staff drift_a "$INT_SALARY"
run_ferry run drift_a.lua
expect_rc 1
expect_in "$out" "FAILED"
expect_in "$(error_of drift_a)" "schema_drift"
expect_in "$(error_of drift_a)" "table staff: column salary is TEXT in the database but declared integer"
expect_in "$(error_of drift_a)" "change the declaration"
expect_in "$(error_of drift_a)" "migrate the table"
expect_eq "$(grep -c 'schema_drift' <<<"$out")" "1" "one schema_drift error, not one per record"

t "drift: no record is quarantined for it; the quarantined record of the transform stays its own"
expect_eq "$(qpy drift_a '[(q["stage"], q["class"], q["attempts"]) for q in L]')" "[('transform', 'validation', 2)]"
expect_not_in "$out" "quarantined by class: script"

t "drift: the records not loaded are counted and none is written; the checkpoint stays where it was"
expect_in "$(summary drift_a)" "extracted 5 · transformed 4 · skipped 0 · loaded 0 · quarantined 1 · not loaded 4"
expect_in "$(error_of drift_a)" "4 records not loaded"
expect_eq "$(sql "$DB" "SELECT count(*) FROM staff")" "0"
expect_eq "$(checkpoint_of drift_a)" '{"after":5}' "the checkpoint of the first run, untouched"

t "drift: ferry runs and ferry status show the schema_drift error"
run_ferry runs drift_a
expect_in "$out" "failed"
expect_in "$out" "schema_drift: table staff: column salary is TEXT"
run_ferry runs drift_a --json
expect_eq "$(python3 -c 'import json, sys; r = json.loads(sys.argv[1])[0]; print(r["status"], r["loaded"], r["quarantined"], "schema_drift" in r["error"], "4 records not loaded" in r["error"])' "$out" 2>&1)" \
    "failed 0 1 True True"
run_ferry status --json
expect_eq "$(python3 -c 'import json, sys; r = [x for x in json.loads(sys.argv[1]) if x["name"] == "drift_a"][0]; print(r["last_status"], "schema_drift: table staff: column salary" in r["last_error"])' "$out" 2>&1)" \
    "failed True"

t "drift: the reverse (declared text, the table has integer) fails the same way"
rm -rf "$WORK/data"
staff drift_b "$INT_SALARY"
run_ferry run drift_b.lua
expect_rc 3
staff drift_b "$TEXT_SALARY"
run_ferry run drift_b.lua
expect_rc 1
expect_in "$(error_of drift_b)" "schema_drift: table staff: column salary is INTEGER in the database but declared text"
expect_eq "$(qpy drift_b '[q["class"] for q in L]')" "['validation']"

t "drift: found at the first batch, the run stops extracting; later batches are neither loaded nor checkpointed"
rm -rf "$WORK/data"
staff drift_c "$INT_SALARY"
run_ferry run drift_c.lua
sql "$DB" "DELETE FROM staff" >/dev/null
sql "$WORK/data/ferry.db" "UPDATE checkpoints SET cursor = '{\"after\":0}' WHERE integration = 'drift_c'" >/dev/null
staff drift_c "$TEXT_SALARY" 2
run_ferry run drift_c.lua
expect_rc 1
expect_in "$(summary drift_c)" "extracted 2 · transformed 2 · skipped 0 · loaded 0 · quarantined 0 · not loaded 2"
expect_eq "$(checkpoint_of drift_c)" '{"after":0}'
expect_eq "$(sql "$DB" "SELECT count(*) FROM staff")" "0"
expect_eq "$(qpy drift_c 'len([q for q in L if q["class"] != "validation"])')" "0"

t "drift: a key that changed (declared key, not the table's key) is schema_drift"
rm -rf "$WORK/data"
staff drift_k "$INT_SALARY"
run_ferry run drift_k.lua
staff drift_k '{ "id", "integer" }, { "name", "text", key = true }, { "salary", "integer" }'
run_ferry run drift_k.lua
expect_rc 1
expect_in "$(error_of drift_k)" "schema_drift: table staff: column id is INTEGER (key) in the database but declared integer"
expect_eq "$(qpy drift_k '[q["class"] for q in L]')" "['validation']"

t "drift: a declared key column the table lacks is schema_drift"
staff drift_k '{ "id", "integer", key = true }, { "code", "text", key = true }, { "name", "text" }'
run_ferry run drift_k.lua
expect_rc 1
expect_in "$(error_of drift_k)" "schema_drift: table staff: key column code is not in the table"

t "drift: a declared column the table lacks is added (not drift); the others keep their rows"
rm -rf "$WORK/data"
staff drift_add "$INT_SALARY"
run_ferry run drift_add.lua
staff drift_add "$INT_SALARY"', { "dept", "text" }'
run_ferry run drift_add.lua
expect_rc 3
expect_eq "$(sql "$DB" "SELECT upper(type) FROM pragma_table_info('staff') WHERE name = 'dept'")" "TEXT"
expect_eq "$(sql "$DB" "SELECT count(*) FROM staff")" "4"

t "drift: a column the script no longer declares stays, and rows load without it"
staff drift_add '{ "id", "integer", key = true }, { "salary", "integer" }'
run_ferry run drift_add.lua
expect_rc 3
expect_eq "$(sql "$DB" "SELECT name FROM staff WHERE id = 1")" "emp1"

t "drift: a NOT NULL column without a default the script does not declare is schema_drift, found up front"
rm -rf "$WORK/data"
mkdir -p "$WORK/data"
sql "$DB" 'CREATE TABLE staff (id INTEGER NOT NULL PRIMARY KEY, name TEXT, salary INTEGER, region TEXT NOT NULL,
           _synced_at TEXT NOT NULL, _run_id TEXT NOT NULL) STRICT' >/dev/null
staff drift_nn "$INT_SALARY"
run_ferry run drift_nn.lua
expect_rc 1
expect_in "$(error_of drift_nn)" "schema_drift: table staff: column region is NOT NULL without a default in the database but not declared"
expect_eq "$(qpy drift_nn '[q["class"] for q in L]')" "['validation']"

t "drift: a table made elsewhere with INT and VARCHAR columns matches integer and text (SQLite's type affinity)"
rm -rf "$WORK/data"
mkdir -p "$WORK/data"
sql "$DB" 'CREATE TABLE staff (id INT NOT NULL PRIMARY KEY, name VARCHAR(40), salary BIGINT,
           _synced_at TEXT, _run_id TEXT)' >/dev/null
staff drift_aff "$INT_SALARY"
run_ferry run drift_aff.lua
expect_rc 3
expect_eq "$(sql "$DB" "SELECT count(*) FROM staff")" "4"

t "drift: a table without ferry's _synced_at and _run_id is schema_drift naming them"
rm -rf "$WORK/data"
mkdir -p "$WORK/data"
sql "$DB" 'CREATE TABLE staff (id INTEGER NOT NULL PRIMARY KEY, name TEXT, salary INTEGER)' >/dev/null
staff drift_own "$INT_SALARY"
run_ferry run drift_own.lua
expect_rc 1
expect_in "$(error_of drift_own)" "schema_drift: table staff: column _synced_at is not in the table"

t "drift: a replay that meets the drift fails with it and leaves the records open"
rm -rf "$WORK/data"
staff drift_r "$TEXT_SALARY"
run_ferry run drift_r.lua
script drift_r "$(sed 's/if r.id == 3 then return nil, "employee 3 is not ours" end//' "$WORK/drift_r.lua" |
    sed 's/{ "salary", "text" }/{ "salary", "integer" }/')"
run_ferry quarantine replay drift_r --script drift_r.lua
expect_rc 1
expect_in "$out" "schema_drift: table staff: column salary is TEXT in the database but declared integer"
expect_eq "$(qpy drift_r '[(q["status"], q["class"]) for q in L]')" "[('open', 'validation')]"

t "drift: met while retrying quarantined records at the start of a run, the run fails before extracting"
rm -rf "$WORK/data"
# lookup_missing WHEN COLUMNS: employee 2's owner is missing when WHEN is true
lookup() {
    script drift_l "return ferry.integration {
  name = \"drift_l\", owner = \"qa@example.com\", purpose = \"test\", pattern = \"reporting\",
  source_of_truth = \"fixture\", freshness = \"1h\",
  extract = function(ctx)
    local f = io.open(\"extracted_l.txt\", \"a\"); f:write(\"x\\n\"); f:close()
    for i = 1, 3 do ctx:emit({ id = i, name = \"emp\" .. i, salary = 10 * i }) end
  end,
  transform = function(r)
    if $1 and r.id == 2 then return nil, { class = \"lookup_missing\", reason = \"no owner\" } end
    return r
  end,
  load = ferry.sink.sqlite { path = \"hr.db\", table = \"staff\", columns = { $2 } },
}"
}
lookup true "$TEXT_SALARY"
run_ferry run drift_l.lua
expect_rc 3
lookup false "$INT_SALARY"
run_ferry run drift_l.lua
expect_rc 1
expect_in "$out" "retried from the quarantine: 1"
expect_in "$(error_of drift_l)" "schema_drift: table staff: column salary is TEXT in the database but declared integer"
expect_in "$(error_of drift_l)" "1 record not loaded"
expect_eq "$(wc -l <"$WORK/extracted_l.txt" | tr -d ' ')" "1" "extract ran in the first run only"
expect_eq "$(qpy drift_l '[(q["status"], q["class"], q["attempts"]) for q in L]')" "[('open', 'lookup_missing', 1)]"

t "drift: a record the load rejected before it raised schema_drift is quarantined, not also counted as not loaded"
script drift_rej 'return ferry.integration {
  name = "drift_rej", owner = "qa@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "fixture", freshness = "1h",
  extract = function(ctx) for i = 1, 4 do ctx:emit({ id = i }) end end,
  load = function(batch, ctx)
    ctx:reject(batch[1], "validation", "id 1 is refused")
    error({ class = "schema_drift", reason = "table t: column x changed" })
  end,
}'
run_ferry run drift_rej.lua
expect_rc 1
expect_in "$(summary drift_rej)" "extracted 4 · transformed 4 · skipped 0 · loaded 0 · quarantined 1 · not loaded 3"
expect_in "$(error_of drift_rej)" "3 records not loaded"
expect_eq "$(qpy drift_rej '[(q["record"]["id"], q["stage"], q["class"]) for q in L]')" "[(1, 'load', 'validation')]"

done_t
