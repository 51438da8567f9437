#!/usr/bin/env bash
# End-to-end: schema drift of a source. ferry fingerprints the fields and
# JSON types of the records extract emits (store table schemas); a field
# that appears, disappears or changes type is reported once, with field,
# old type, new type and an example record id, in the run summary
# ("schema drift: ...") and a warn line "schema drift" with the changes.
# The source here is a JSON-lines export the test rewrites between runs
# (ferry.source.jsonl), the way a nightly CRM export changes under a script.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

SRC="$WORK/export.jsonl"
DBF="$WORK/data/ferry.db"

# deals NAME [EXTRA_EXTRACT]: integration NAME emitting every line of
# $SRC (then running EXTRA_EXTRACT, Lua), loading nowhere.
deals() {
    script "$1" "return ferry.integration {
  name = \"$1\", owner = \"qa@example.com\", purpose = \"test\", pattern = \"reporting\",
  source_of_truth = \"crm\", freshness = \"1h\",
  extract = function(ctx)
    ferry.source.jsonl(ctx, \"$SRC\")
    ${2:-}
  end,
  transform = function(r) if r.reject and not os.getenv(\"ACCEPT\") then return nil, \"rejected by the test\" end return r end,
  load = function(batch) end,
}"
}
# export N PYTHON_EXPR: writes N records to $SRC, each the value of
# PYTHON_EXPR with i = 1..N (json: null as None).
export_records() {
    python3 -c "import json, sys
n, expr = int(sys.argv[1]), sys.argv[2]
with open(sys.argv[3], 'w') as f:
    for i in range(1, n + 1): f.write(json.dumps(eval(expr)) + '\n')" "$1" "$2" "$SRC"
}
fingerprint() { sql "$DBF" "SELECT fields FROM schemas WHERE integration = '$1' AND stream = ''"; }
drift_lines() { grep -c '^   schema drift: ' <<<"$out"; }
drift_text() { sed -n 's/^   schema drift: //p' <<<"$out"; }
# warn_changes: the changes of the "schema drift" warn lines on stderr, as
# Python sees them: a list of lists of (change, field, old, new, example).
warn_changes() {
    python3 -c 'import json, sys
out = []
for line in sys.stdin:
    try: r = json.loads(line)
    except ValueError: continue
    if r.get("msg") == "schema drift":
        out.append([(c["change"], c["field"], c.get("old"), c.get("new"), c.get("example")) for c in r["changes"]])
print(out)' <<<"$err"
}
run_id_of() { sed -n "s/^== $1  run \([^ ]*\) .*/\1/p" <<<"$out"; }

BASE='{"id": i, "name": "deal %d" % i, "amount": i * 100, "stage": "open", "fax": "+1 555 0100"}'

t "source drift: the first run stores the fingerprint and reports no drift"
deals deals
export_records 30 "$BASE"
run_ferry run deals.lua
expect_rc 0
expect_eq "$(drift_lines)" "0"
expect_eq "$(fingerprint deals)" '{"amount":"integer","fax":"string","id":"integer","name":"string","stage":"string"}'
expect_eq "$(sql "$DBF" "SELECT run_id FROM schemas WHERE integration = 'deals'")" "$(run_id_of deals)"

t "source drift: a field added and another's type changed: one drift naming both, with old, new and an example id"
export_records 30 '{"id": i, "name": "deal %d" % i, "amount": "%d.00" % (i * 100) if i >= 42 - 30 else i * 100, "stage": "open", "fax": "+1 555 0100", "lead_score": i / 4}'
run_ferry run deals.lua
expect_rc 0
expect_eq "$(drift_lines)" "1"
expect_eq "$(drift_text)" "+lead_score (number); amount: integer → integer|string (record id 12)"
expect_eq "$(warn_changes)" "[[('added', 'lead_score', None, 'number', 1), ('type', 'amount', 'integer', 'integer|string', 12)]]"
expect_eq "$(fingerprint deals)" '{"amount":"integer|string","fax":"string","id":"integer","lead_score":"number","name":"string","stage":"string"}'

t "source drift: the same export again: no drift (a change is raised once); the fingerprint is the new run's"
run_ferry run deals.lua
expect_rc 0
expect_eq "$(drift_lines)" "0"
expect_eq "$(warn_changes)" "[]"
expect_eq "$(sql "$DBF" "SELECT run_id FROM schemas WHERE integration = 'deals'")" "$(run_id_of deals)"

t "source drift: a field gone from a small run (19 records) is not judged; from 20 records it is, once"
export_records 19 '{"id": i, "name": "n", "amount": i, "stage": "open", "lead_score": 0.5}'
run_ferry run deals.lua
expect_eq "$(drift_lines)" "0"
expect_in "$(fingerprint deals)" '"fax":"string"'
export_records 20 '{"id": i, "name": "n", "amount": i, "stage": "open", "lead_score": 0.5}'
run_ferry run deals.lua
expect_eq "$(drift_text)" "-fax"
expect_eq "$(warn_changes)" "[[('removed', 'fax', 'string', None, None)]]"
expect_not_in "$(fingerprint deals)" '"fax"'
run_ferry run deals.lua
expect_eq "$(drift_lines)" "0"

t "source drift: null never drifts a field; a field seen only as null takes its type later without drift"
rm -rf "$WORK/data"
deals nulls
export_records 25 '{"id": i, "phone": None if i % 2 else "555", "closed_at": None}'
run_ferry run nulls.lua
expect_eq "$(fingerprint nulls)" '{"closed_at":"null","id":"integer","phone":"string"}'
export_records 25 '{"id": i, "phone": None, "closed_at": "2026-01-0%d" % (i % 9 + 1)}'
run_ferry run nulls.lua
expect_eq "$(drift_lines)" "0"
expect_eq "$(fingerprint nulls)" '{"closed_at":"string","id":"integer","phone":"string"}'

t "source drift: an integer field that gets a float is not drift (it becomes number); number to string is"
export_records 25 '{"id": i, "phone": "555", "closed_at": None, "score": 3}'
run_ferry run nulls.lua
export_records 25 '{"id": i, "phone": "555", "closed_at": None, "score": 3.5 if i == 9 else 3}'
run_ferry run nulls.lua
expect_eq "$(drift_lines)" "0"
expect_in "$(fingerprint nulls)" '"score":"number"'
export_records 25 '{"id": i, "phone": "555", "closed_at": None, "score": "high" if i == 9 else 3.5}'
run_ferry run nulls.lua
expect_eq "$(drift_text)" "score: number → number|string (record id 9)"

t "source drift: nested objects are tracked one level deep as dotted names (HubSpot's properties.*)"
rm -rf "$WORK/data"
deals hubspot
export_records 30 '{"id": str(1000 + i), "properties": {"email": "a@x", "hs_score": 10, "address": {"city": "Oslo"}}, "archived": False}'
run_ferry run hubspot.lua
expect_eq "$(fingerprint hubspot)" '{"archived":"boolean","id":"string","properties":"object","properties.address":"object","properties.email":"string","properties.hs_score":"integer"}'
export_records 30 '{"id": str(1000 + i), "properties": {"email": "a@x", "hs_score": "10" if i == 7 else 10, "address": {"zip": 1}, "lifecycle": "lead"}, "archived": False}'
run_ferry run hubspot.lua
expect_eq "$(drift_text)" "+properties.lifecycle (string); properties.hs_score: integer → integer|string (record id 1007)"

t "source drift: a change in one record among thousands is found (record 1500 of 2000)"
rm -rf "$WORK/data"
deals many
export_records 2000 '{"id": i, "amount": i, "properties": {"owner": "o"}}'
run_ferry run many.lua
export_records 2000 '{"id": i, "amount": "x" if i == 1500 else i, "properties": {"owner": "o", "team": "t"} if i == 1800 else {"owner": "o"}}'
run_ferry run many.lua
expect_eq "$(drift_text)" "+properties.team (string); amount: integer → integer|string (record id 1500)"

t "source drift: a script reading the lines itself and changing a record before it emits it: the change is found"
# ferry.source.jsonl emits each record as read, so the drift check may use
# the shape the reader thread noted; a script's own loop gets no shapes
# (ferry.jsonl.open without shapes = true), or this change would be missed.
rm -rf "$WORK/data"
script own "return ferry.integration {
  name = \"own\", owner = \"qa@example.com\", purpose = \"test\", pattern = \"reporting\",
  source_of_truth = \"crm\", freshness = \"1h\",
  extract = function(ctx)
    local r <close> = assert(ferry.jsonl.open(\"$SRC\"))
    for _, rec in r:rows() do
      if os.getenv(\"TAG\") and rec.id == 1500 then rec.tagged = true end
      ctx:emit(rec)
    end
  end,
  load = function(batch) end,
}"
export_records 2000 '{"id": i, "amount": i}'
run_ferry run own.lua
expect_eq "$(drift_lines)" "0"
TAG=1 run_ferry run own.lua
expect_eq "$(drift_text)" "+tagged (boolean)"

t "source drift: past 500 fields the rest are not tracked, with a warn line; the next run reports no false drift"
rm -rf "$WORK/data"
deals wide
export_records 25 'dict([("id", i)] + [("f%03d" % k, k) for k in range(600)])'
run_ferry run wide.lua
expect_eq "$(python3 -c 'import json, sys; print(len(json.loads(sys.argv[1])))' "$(fingerprint wide)")" "500"
expect_in "$err" "fields past the cap are not tracked"
expect_in "$err" '"untracked":101'
run_ferry run wide.lua
expect_eq "$(drift_lines)" "0"
expect_eq "$(python3 -c 'import json, sys; print(len(json.loads(sys.argv[1])))' "$(fingerprint wide)")" "500"

t "source drift: a run whose extract fails is not judged and stores nothing; the next complete run reports the change"
rm -rf "$WORK/data"
deals flaky
export_records 25 "$BASE"
run_ferry run flaky.lua
before=$(fingerprint flaky)
deals flaky 'if os.getenv("FAIL_EXTRACT") then error("source went away") end'
export_records 25 '{"id": i, "name": "n", "amount": i, "stage": "open", "fax": "f", "region": "emea"}'
FAIL_EXTRACT=1 run_ferry run flaky.lua
expect_rc 1
expect_eq "$(drift_lines)" "0"
expect_eq "$(fingerprint flaky)" "$before"
run_ferry run flaky.lua
expect_rc 0
expect_eq "$(drift_text)" "+region (string)"

t "source drift: replaying the quarantine neither reports drift nor touches the fingerprint"
export_records 25 '{"id": i, "name": "n", "amount": i, "stage": "open", "fax": "f", "region": "emea", "reject": i == 3, "extra": [1]}'
run_ferry run flaky.lua
expect_rc 3
expect_eq "$(drift_text)" "+extra (array); +reject (boolean)"
stamp=$(sql "$DBF" "SELECT run_id || fields FROM schemas WHERE integration = 'flaky'")
ACCEPT=1 run_ferry quarantine replay flaky
expect_rc 0
expect_in "$out" "resolved 1 of 1"
expect_eq "$(drift_lines)" "0"
expect_eq "$(sql "$DBF" "SELECT run_id || fields FROM schemas WHERE integration = 'flaky'")" "$stamp"

t "source drift: a field name holding a registered secret never reaches the store"
rm -rf "$WORK/data"
script leaky "return ferry.integration {
  name = \"leaky\", owner = \"qa@example.com\", purpose = \"test\", pattern = \"reporting\",
  source_of_truth = \"crm\", freshness = \"1h\",
  extract = function(ctx)
    local key = ctx:secret(\"DRIFT_API_KEY\")
    for i = 1, 3 do ctx:emit({ id = i, [key] = true }) end
  end,
  load = function(batch) end,
}"
DRIFT_API_KEY=tok-7c1f9e42d8 run_ferry run leaky.lua
expect_rc 0
expect_eq "$(sql "$DBF" "SELECT count(*) FROM schemas WHERE integration = 'leaky'")" "1"
expect_not_in "$(sql "$DBF" "SELECT fields FROM schemas")" "tok-7c1f9e42d8"
expect_in "$(fingerprint leaky)" "[REDACTED]"
done_t
