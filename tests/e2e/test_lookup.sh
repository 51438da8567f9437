#!/usr/bin/env bash
# End-to-end: ferry.lookup in `ferry run` against tests/fakes/lookup_dest.py,
# a destination with 100,003 users paged 1,000 at a time. Owner emails of a
# few hundred contacts are resolved with one bulk fetch (the fake counts the
# requests), from the ctx.state cache on the next run, and refreshed once a
# run on a miss; missing, ambiguous and case-different emails end as
# quarantined lookup_missing, quarantined lookup_ambiguous and loaded.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

DB_DIR="$WORK/data"
DEST="$WORK/data/crm.db"
qpy() { quarantine_py "$DB_DIR" "$1" "$2"; }

rm -f "$WORK/dest.port"
python3 "$ROOT/tests/fakes/lookup_dest.py" --port-file "$WORK/dest.port" >"$WORK/dest.log" 2>&1 &
_bg_pids+=($!)
for _ in $(seq 1 200); do [ -s "$WORK/dest.port" ] && break; sleep 0.05; done
[ -s "$WORK/dest.port" ] || { echo "not ok lookup: the fake destination did not start: $(cat "$WORK/dest.log")"; exit 1; }
export DEST_URL="http://127.0.0.1:$(cat "$WORK/dest.port")"

# control JSON / reset / counts PATH: the fake's state and request log
control() { curl -sf -X POST -H 'Content-Type: application/json' -d "$1" "$DEST_URL/_control" >/dev/null; }
reset() { curl -sf -X POST "$DEST_URL/_reset" >/dev/null; }
requests() {        # requests PY_EXPR over C (counts per path) and R (requests)
    curl -sf "$DEST_URL/_requests" | python3 -c 'import json,sys; J=json.load(sys.stdin); C=J["counts"]; R=J["requests"]; print(eval(sys.argv[1]))' "$1"
}

control '{"extra_users": [{"id": 200001, "email": "dup@example.com"}, {"id": 200002, "email": " DUP@Example.com"},
                          {"id": 200003, "email": "MIXED.case@Example.com"}]}'

# 300 contacts: owners in varied case and padding, two unknown, one shared by
# two users in the destination, one matching a user's mixed-case email.
python3 - "$WORK/contacts.jsonl" <<'EOF'
import json, sys
special = {7: "nobody@example.com", 8: "ghost@example.com", 9: "dup@example.com", 11: "Mixed.Case@example.com "}
with open(sys.argv[1], "w") as f:
    for i in range(1, 301):
        owner = special.get(i) or ("  USER%d@EXAMPLE.COM " % (i * 13) if i % 10 == 0 else "user%d@example.com" % (i * 13))
        f.write(json.dumps({"id": i, "name": "contact-%d" % i, "owner": owner}) + "\n")
EOF

script contacts 'local base = os.getenv("DEST_URL")
local owners = ferry.lookup {
  name = "owners", normalize = "email", ttl = "1h", refresh_on_miss = os.getenv("REFRESH") or "5m",
  fetch = function(ctx, add)
    local page = 1
    while page do
      local res, err = ctx.http:get(base .. "/users", { query = { page = page } })
      if not res then error(err, 0) end
      local body = res:json()
      for _, u in ipairs(body.results) do add(u.email, u.id) end
      page = body.next ~= ferry.json.null and body.next or nil
    end
  end,
}
return ferry.integration {
  '"$HEADER"'
  name = "contacts",
  expect = { min_records = 0 },        -- incremental: a run may find nothing new
  extract = function(ctx)
    local last = ctx.cursor or 0
    for _, r in ferry.jsonl.open(ferry.script_dir .. "/contacts.jsonl"):rows() do
      if r.id > last then ctx:emit(r); last = r.id end
    end
    ctx:checkpoint(last)
  end,
  transform = function(r, ctx)
    local id, err = owners:get(r.owner, ctx)
    if not id then return nil, err end
    return { id = r.id, name = r.name, owner_id = id }
  end,
  load = ferry.sink.sqlite { path = "crm.db", table = "contacts",
    columns = { { "id", "integer", key = true }, { "name", "text" }, { "owner_id", "integer" } } },
}'

# 100,000 users must fit well within the default limits: a quarter of them.
printf 'return { integrations = { ["*"] = { trusted = true } }, limits = { memory = "64MB" } }\n' >"$WORK/small.lua"
export FERRY_CONFIG="$WORK/small.lua"

t "owner emails of 300 contacts: one paged fetch of 100,003 users (101 requests), none per record"
run_ferry run contacts.lua
first_out=$out
expect_rc 3
expect_in "$out" "extracted 300 · transformed 297 · skipped 0 · loaded 297 · quarantined 3"
expect_eq "$(requests 'sorted(C.items())')" "[('/users', 101)]"
expect_eq "$(requests 'sorted(int(r["query"].split("=")[1]) for r in R) == list(range(1, 102))')" "True" \
    "each page once"

t "loaded with the user's id: padded and case-different emails match"
expect_eq "$(sql "$DEST" "SELECT count(*), sum(owner_id = id * 13) FROM contacts")" "297|296"
expect_eq "$(sql "$DEST" "SELECT owner_id FROM contacts WHERE id IN (10, 11, 300) ORDER BY id" | tr '\n' ' ')" \
    "130 200003 3900 "

t "missing emails are quarantined lookup_missing, the shared one lookup_ambiguous with both candidates"
expect_eq "$(qpy contacts '[(q["record"]["id"], q["class"], q["reason"]) for q in L]')" \
    "[(7, 'lookup_missing', 'lookup owners: no match for \"nobody@example.com\" (retried on later runs)'), (8, 'lookup_missing', 'lookup owners: no match for \"ghost@example.com\" (retried on later runs)'), (9, 'lookup_ambiguous', 'lookup owners: \"dup@example.com\" matches 2 entries (200001, 200002); none is picked')]"
run_ferry quarantine list contacts
expect_rc 0
expect_eq "$(awk 'NR > 1 && $2 == "contacts" {print $5}' <<<"$out" | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' ')" \
    "lookup_ambiguous=1 lookup_missing=2 "
expect_in "$out" 'no match for "nobody@example.com"'

t "missing and ambiguous keys are findings of the run: one line per key in the summary, listed in the run record"
expect_in "$first_out" 'lookup owners: no match for "nobody@example.com" (retried on later runs)'
expect_in "$first_out" 'lookup owners: "dup@example.com" matches 2 entries (200001, 200002); none is picked'
expect_eq "$(cd "$WORK" && "$FERRY" runs contacts --json --limit 1 | python3 -c 'import json,sys; print(sorted((f["kind"], f["lookup"], f["key"], f["count"]) for f in json.load(sys.stdin)[0]["findings"]))')" \
    "[('lookup_ambiguous', 'owners', 'owners=dup@example.com', 1), ('lookup_missing', 'owners', 'owners=ghost@example.com', 1), ('lookup_missing', 'owners', 'owners=nobody@example.com', 1)]"

t "the next run reads the table from ctx.state: no request; the missing records are retried and stay open"
reset
run_ferry run contacts.lua
expect_rc 0
expect_eq "$(requests 'C')" "{}"
expect_in "$out" "retried from the quarantine: 2 (0 resolved, 2 still failing)"
expect_eq "$(qpy contacts '[(q["record"]["id"], q["status"], q["attempts"]) for q in L if q["class"] == "lookup_missing"]')" \
    "[(7, 'open', 2), (8, 'open', 2)]"
expect_eq "$(sql "$DB_DIR/ferry.db" "SELECT length(value) < 3500000, json_extract(value, '\$.ids.\"dup@example.com\"') FROM state WHERE integration = 'contacts' AND key = 'lookup:owners'")" \
    "1|[200001,200002]"

t "a user created in the destination: the next run's miss refreshes the table once and the record loads"
control '{"extra_users": [{"id": 200001, "email": "dup@example.com"}, {"id": 200002, "email": " DUP@Example.com"},
                          {"id": 200003, "email": "MIXED.case@Example.com"}, {"id": 200004, "email": "Nobody@Example.com"}]}'
reset
REFRESH=0s run_ferry run contacts.lua
expect_rc 0
expect_eq "$(requests 'sorted(C.items())')" "[('/users', 101)]" "one refresh, although ghost@ and dup@ missed after it"
expect_in "$out" "retried from the quarantine: 2 (1 resolved, 1 still failing)"
expect_eq "$(sql "$DEST" "SELECT owner_id FROM contacts WHERE id = 7")" "200004"
expect_eq "$(qpy contacts '[(q["record"]["id"], q["status"]) for q in L]')" \
    "[(7, 'resolved'), (8, 'open'), (9, 'open')]"

# ---------------------------------------------------------------------------
# Foreign keys: refs made in transform, resolved by the engine once per load
# batch (ferry.lookup.resolve, called by runner.lua).
export FERRY_CONFIG="$WORK/trusted.lua"

# accounts: the parents, found in batches by external id. children: 250
# children in batches of 100; every tenth refers to ext-3, which is not in
# the destination yet, and ext-2 is the external id of two accounts.
control '{"accounts": [{"id": 101, "external_id": "ext-1"}, {"id": 102, "external_id": "ext-2"},
                       {"id": 122, "external_id": "ext-2"}, {"id": 105, "external_id": "ext-5"}]}'
python3 - "$WORK/children.jsonl" <<'EOF2'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(1, 251):
        ref = "ext-3" if i % 10 == 0 else "ext-2" if i % 25 == 1 else "ext-5" if i % 2 else " ext-1"
        f.write(json.dumps({"id": i, "name": "contact-%d" % i, "account": ref}) + "\n")
EOF2

script children 'local base = os.getenv("DEST_URL")
local accounts = ferry.lookup.keys {
  name = "accounts",
  fetch = function(ctx, keys)
    local res, err = ctx.http:post(base .. "/accounts/find", { json = { external_ids = keys } })
    if not res then error(err, 0) end
    local found = {}
    for _, a in ipairs(res:json().results) do
      local ids = found[a.external_id] or {}
      ids[#ids + 1] = a.id
      found[a.external_id] = ids
    end
    return found
  end,
}
return ferry.integration {
  '"$HEADER"'
  name = "children",
  batch_size = 100,
  expect = { min_records = 0 },
  extract = function(ctx)
    local last = ctx.cursor or 0
    for _, r in ferry.jsonl.open(ferry.script_dir .. "/children.jsonl"):rows() do
      if r.id > last then ctx:emit(r); last = r.id end
    end
    ctx:checkpoint(last)
  end,
  transform = function(r) return { id = r.id, name = r.name, account_id = accounts:ref(r.account) } end,
  load = ferry.sink.sqlite { path = "crm.db", table = "children",
    columns = { { "id", "integer", key = true }, { "name", "text" }, { "account_id", "integer" } } },
}'

t "foreign keys: one batched find per load batch, for the keys not found before; missing and ambiguous quarantined"
reset
run_ferry run children.lua
expect_rc 3
expect_in "$out" "extracted 250 · transformed 250 · skipped 0 · loaded 215 · quarantined 35 (3 batches)"
expect_eq "$(requests '[(r["method"], r["path"], r["body"]["external_ids"]) for r in R]')" \
    "[('POST', '/accounts/find', ['ext-1', 'ext-2', 'ext-3', 'ext-5']), ('POST', '/accounts/find', ['ext-2', 'ext-3']), ('POST', '/accounts/find', ['ext-2', 'ext-3'])]"
expect_eq "$(sql "$DEST" "SELECT account_id, count(*) FROM children GROUP BY account_id ORDER BY 1" | tr '\n' ' ')" \
    "101|95 105|120 "
expect_eq "$(qpy children '[(c, sum(1 for q in L if q["class"] == c)) for c in sorted(set(q["class"] for q in L))]')" \
    "[('lookup_ambiguous', 10), ('lookup_missing', 25)]"
expect_eq "$(qpy children 'sorted(set(q["reason"] for q in L))')" \
    "['lookup accounts: field account_id: \"ext-2\" matches 2 entries (102, 122); none is picked', 'lookup accounts: field account_id: no match for \"ext-3\" yet (retried on later runs)']"
expect_eq "$(qpy children '[q["output"] for q in L][:1]')" \
    "[{'account_id': {'\$lookup': 'accounts', '\$ref': 'ext-2'}, 'id': 1, 'name': 'contact-1'}]" \
    "the output shows the reference that was not resolved"
expect_in "$out" 'lookup accounts: field account_id: no match for "ext-3" yet (retried on later runs) (25 records)'
expect_in "$out" 'lookup accounts: field account_id: "ext-2" matches 2 entries (102, 122); none is picked (10 records)'

t "parent/child: once the parent arrives, the next run loads its children from the quarantine by itself"
control '{"accounts": [{"id": 101, "external_id": "ext-1"}, {"id": 102, "external_id": "ext-2"},
                       {"id": 122, "external_id": "ext-2"}, {"id": 105, "external_id": "ext-5"},
                       {"id": 103, "external_id": "ext-3"}]}'
reset
run_ferry run children.lua
expect_rc 0
expect_in "$out" "retried from the quarantine: 25 (25 resolved, 0 still failing)"
expect_eq "$(requests '[r["body"]["external_ids"] for r in R]')" "[['ext-3']]"
expect_eq "$(sql "$DEST" "SELECT count(*) FROM children WHERE account_id = 103")" "25"
expect_eq "$(qpy children 'sorted(set((q["class"], q["status"]) for q in L))')" \
    "[('lookup_ambiguous', 'open'), ('lookup_missing', 'resolved')]"

# tiers: 500 records; every tenth has a tier the destination does not offer
# ("Platnum"), the others a tier in any case, or a synonym.
python3 - "$WORK/tiers.jsonl" <<'EOF2'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(1, 601):
        tier = "Platnum" if i % 10 == 0 else ["gold", " Silver ", "BRONZE", "Platinum"][i % 4]
        if i > 500:
            tier = "Platnum" if i % 10 == 0 else ["gold", "Silver", "Platinum", "Bronze"][i % 4]
        f.write(json.dumps({"id": i, "tier": tier}) + "\n")
EOF2
script tiers 'local base = os.getenv("DEST_URL")
local tiers = ferry.picklist {
  name = "tier", ttl = os.getenv("PICKLIST_TTL") or "1h",
  synonyms = { Platinum = "Gold" },
  fetch = function(ctx)
    local res, err = ctx.http:get(base .. "/picklists/tier")
    if not res then error(err, 0) end
    return res:json().options
  end,
}
return ferry.integration {
  '"$HEADER"'
  name = "tiers",
  expect = { min_records = 0 },
  extract = function(ctx)
    local last, stop = ctx.cursor or 0, tonumber(os.getenv("UPTO"))
    for _, r in ferry.jsonl.open(ferry.script_dir .. "/tiers.jsonl"):rows() do
      if r.id > last and r.id <= stop then ctx:emit(r); last = r.id end
    end
    ctx:checkpoint(last)
  end,
  transform = function(r, ctx)
    local tier, err = tiers:match(r.tier, ctx)
    if not tier then return nil, err end
    return { id = r.id, tier = tier }
  end,
  load = ferry.sink.sqlite { path = "crm.db", table = "tiers",
    columns = { { "id", "integer", key = true }, { "tier", "text" } } },
}'
# logged MSG: the values of the log lines with this message, one a line
logged() { grep -F "\"msg\":\"$1\"" <<<"$err" | python3 -c 'import json,sys; [print(json.loads(l).get("value", json.loads(l).get("removed"))) for l in sys.stdin]'; }

t "picklist: options fetched once, matched case-insensitively and by synonym; an unknown value in 50 records logged once"
reset
UPTO=500 run_ferry run tiers.lua
expect_rc 3
expect_in "$out" "extracted 500 · transformed 450 · skipped 0 · loaded 450 · quarantined 50"
expect_eq "$(requests 'sorted(C.items())')" "[('/picklists/tier', 1)]"
expect_eq "$(sql "$DEST" "SELECT tier, count(*) FROM tiers GROUP BY tier ORDER BY 1" | tr '\n' ' ')" \
    "Bronze|100 Gold|225 Silver|125 "
expect_eq "$(qpy tiers 'sorted(set((q["class"], q["reason"]) for q in L))')" \
    "[('picklist_drift', 'picklist tier: unknown value \"Platnum\" (options: \"Bronze\", \"Silver\", \"Gold\")')]"
expect_eq "$(logged "new picklist value")" "Platnum"
expect_eq "$(grep -c 'picklist tier' <<<"$out")" "1" "one summary line for the value"
expect_in "$out" '   picklist tier: unknown value "Platnum" (quarantined) (50 records)'

t "picklist: an option removed upstream is noticed on refresh; values that matched it are quarantined"
control '{"picklists": {"tier": ["Bronze", "Silver", "Platinum"]}}'
reset
UPTO=600 PICKLIST_TTL=0s run_ferry run tiers.lua
expect_rc 3
expect_in "$out" "extracted 100 · transformed 70 · skipped 0 · loaded 70 · quarantined 30"
expect_eq "$(requests 'sorted(C.items())')" "[('/picklists/tier', 1)]"
expect_eq "$(logged "picklist options changed upstream")" "['Gold']"
expect_eq "$(logged "new picklist value")" "gold" "Platnum was logged by the run before"
expect_in "$out" '   picklist tier: options removed upstream: "Gold"; added: "Platinum"'
expect_in "$out" '   picklist tier: unknown value "gold" (quarantined) (20 records)'
expect_eq "$(sql "$DEST" "SELECT tier, count(*) FROM tiers WHERE id > 500 GROUP BY tier ORDER BY 1" | tr '\n' ' ')" \
    "Bronze|25 Platinum|20 Silver|25 "

t "picklist: policy.picklist_drift = \"default\" loads an unknown value as the declared default, and says so"
script tiers_default 'local tiers = ferry.picklist { name = "tier", options = { "Bronze", "Silver", "Gold" }, default = "Bronze" }
return ferry.integration {
  '"$HEADER"'
  name = "tiers_default",
  policy = { picklist_drift = "default" },
  extract = function(ctx)
    for i = 1, 20 do ctx:emit({ id = i, tier = i % 4 == 0 and "Diamond" or "gold" }) end
  end,
  transform = function(r, ctx)
    local tier, err = tiers:match(r.tier, ctx)
    if not tier then return nil, err end
    return { id = r.id, tier = tier }
  end,
  load = ferry.sink.sqlite { path = "crm.db", table = "tiers_default",
    columns = { { "id", "integer", key = true }, { "tier", "text" } } },
}'
run_ferry check tiers_default.lua
expect_rc 0
run_ferry run tiers_default.lua
expect_rc 0
expect_in "$out" "loaded 20 · quarantined 0"
expect_in "$out" '   picklist tier: unknown value "Diamond" (mapped to default "Bronze") (5 records)'
expect_eq "$(sql "$DEST" "SELECT tier, count(*) FROM tiers_default GROUP BY tier ORDER BY 1" | tr '\n' ' ')" "Bronze|5 Gold|15 "

t "ferry check names the file and line of a misdeclared picklist or lookup"
script badpick 'local tiers = ferry.picklist { name = "tier", options = { "Bronze", "Gold" },
  synonyms = { Platinum = "Diamond" } }
return ferry.integration {
  '"$HEADER"'
  extract = function(ctx) end,
}'
run_ferry check badpick.lua
expect_rc 1
expect_in "$out$err" 'badpick.lua:1: ferry.picklist tier: synonym "Platinum" -> "Diamond": "Diamond" is not an option of tier'
script badlookup 'local owners = ferry.lookup { name = "owners", normalize = "emial", fetch = function() end }
return ferry.integration {
  '"$HEADER"'
  extract = function(ctx) end,
}'
run_ferry check badlookup.lua
expect_rc 1
expect_in "$out$err" 'badlookup.lua:1: ferry.lookup owners: normalize: expected "email", "trim", "lower" or a function, got "emial"'

done_t
