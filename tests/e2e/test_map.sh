#!/usr/bin/env bash
# End-to-end: ferry.map as an integration's transform. JSON lines (nested
# objects, arrays, a 2^53 + 1 id, comma decimals, local times) -> map ->
# ferry.sink.sqlite. The table holds the converted values; a record with a bad
# field is in the quarantine with class validation and a reason naming the
# field, the value and the rule; a broken map is reported by ferry check at
# the script's line.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

DEST="$WORK/data/reporting.db"

cat >"$WORK/accounts.jsonl" <<'EOF'
{"id": 9007199254740993, "properties": {"name": "  Acme GmbH ", "employees": "12,500"}, "contacts": [{"email": " Ops@ACME.example "}], "score": "1.234,5", "status": "Active", "renewal": "31/01/2027", "updated": "2026-03-29 01:30", "arr": 12500.5, "region": ""}
{"id": 2, "properties": {"name": "Beta", "employees": "12,5x"}, "contacts": [], "score": "7", "status": "off", "renewal": "2027-02-28", "updated": "2026-07-01 12:00", "arr": "0.1", "region": "apac"}
{"id": 3, "properties": {"name": "Gamma", "employees": 40}, "contacts": "nobody", "score": "1", "status": "on", "renewal": "2027-02-28", "updated": "2026-07-01 12:00", "arr": 1}
{"id": 4, "properties": {"name": "Delta", "employees": 7}, "score": "0,5", "status": "inactive", "renewal": "2027-03-01", "updated": "2026-10-25 02:30", "arr": 0.2, "region": "amer"}
EOF

script accounts 'local m = ferry.map {
  fields = {
    account_id = { from = "id", as = "string", required = true },
    name       = { from = "properties.name", as = "string", trim = true, max = 200 },
    email      = { from = "contacts[1].email", as = "string", trim = true, case = "lower" },
    employees  = { from = "properties.employees", as = "integer", thousands = "," },
    score      = { from = "score", as = "number", decimal = ",", thousands = "." },
    active     = { from = "status", as = "boolean", yes = { "active", "on" }, no = { "inactive", "off" } },
    renews_on  = { from = "renewal", as = "date", formats = { "%d/%m/%Y", "%Y-%m-%d" } },
    updated_at = { from = "updated", as = "datetime", formats = { "%Y-%m-%d %H:%M" }, tz = "Europe/Berlin", fold = "later" },
    arr        = { from = "arr", as = "money", scale = 2 },
    arr_cents  = { from = "arr", as = "money", scale = 2, minor = true },
    region     = { from = "region", default = "emea" },
  },
  schema = { name = { required = true, max = 200 } },
}
return ferry.integration {
  name = "accounts", owner = "qa@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "crm", freshness = "1h",
  extract = function(ctx) ferry.source.jsonl(ctx, ferry.script_dir .. "/accounts.jsonl") end,
  transform = m,                    -- the map itself is the transform
  load = ferry.sink.sqlite { path = "reporting.db", table = "accounts", columns = {
    { "account_id", "text", key = true }, { "name", "text" }, { "email", "text" }, { "employees", "integer" },
    { "score", "real" }, { "active", "integer" }, { "renews_on", "text" }, { "updated_at", "text" },
    { "arr", "text" }, { "arr_cents", "integer" }, { "region", "text" } } },
}'

t "a map as the transform loads converted values into the table"
run_ferry run accounts.lua
expect_rc 3
expect_in "$out" "extracted 4 · transformed 2 · skipped 0 · loaded 2 · quarantined 2"
expect_eq "$(sql "$DEST" "SELECT account_id, name, email, employees, score, active, renews_on, updated_at, arr, arr_cents,
    region, typeof(account_id), typeof(employees), typeof(email) FROM accounts ORDER BY account_id")" \
"4|Delta||7|0.5|0|2027-03-01|2026-10-25T01:30:00Z|0.20|20|amer|text|integer|null
9007199254740993|Acme GmbH|ops@acme.example|12500|1234.5|1|2027-01-31|2026-03-29T00:30:00Z|12500.50|1250050|emea|text|integer|text"

t "a record with a bad field is quarantined as validation naming field, value and rule"
expect_eq "$(quarantine_py "$WORK/data" accounts '"\n".join("%s|%s|%s|%s" % (q["record"]["id"], q["stage"], q["class"], q["reason"]) for q in L)')" \
"2|transform|validation|field 'employees': \"12,5x\" is not an integer (thousands \",\")
3|transform|validation|field 'email': \"nobody\" is not an object or array (at contacts in path contacts[1].email)"
run_ferry quarantine list accounts
expect_rc 0
expect_in "$out" "validation"
expect_in "$out" "field 'employees'"
QID=$(quarantine_py "$WORK/data" accounts '[q["id"] for q in L if q["record"]["id"] == 2][0]')
run_ferry quarantine show "$QID"
expect_rc 0
expect_in "$out" "field 'employees': \"12,5x\" is not an integer (thousands \",\")"
expect_in "$out" "validation"

t "ferry check names the script line and the field of a broken map"
script broken 'local tiers = {}
local m = ferry.map {
  fields = { employees = { from = "e", as = "integer", thousand = "," } },
}
return ferry.integration {
  name = "broken", owner = "qa@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "crm", freshness = "1h",
  extract = function(ctx) end, transform = m, load = function() end,
}'
run_ferry check broken.lua
expect_rc 1
expect_in "$out$err" "broken.lua:2: ferry.map: field 'employees': unknown option 'thousand' for as = \"integer\" (its options: thousands)"
done_t
