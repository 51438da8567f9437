#!/usr/bin/env bash
# contrib/hubspot end to end: the connector's streams, upsert, picklist and
# owner lookups, run with `ferry run` against fake_hubspot.py (written from
# HubSpot's reference, Python standard library, 127.0.0.1). Each case checks
# what a user relies on: the rows loaded, what HubSpot holds and was sent,
# the quarantine's classes and HubSpot's own words, the cursor across runs.
. "$(dirname "$0")/../../../tests/e2e/lib.sh"

HS_DIR=$ROOT/contrib/hubspot
export HUBSPOT_TOKEN=pat-na1-7f3c2e91-4b1d-4aa0-9e55-2c6d0b8f1a77
python3 "$HS_DIR/tests/fake_hubspot.py" --token "$HUBSPOT_TOKEN" --port-file "$WORK/hs.port" >"$WORK/fake.log" 2>&1 &
_bg_pids+=($!)
for _ in $(seq 1 200); do [ -s "$WORK/hs.port" ] && break; sleep 0.05; done
HS=http://127.0.0.1:$(cat "$WORK/hs.port" 2>/dev/null)

# Every integration of this file may read the token; nothing else.
cat >"$WORK/hs.lua" <<EOF
return { data_dir = "$WORK/data", integrations = {
  ["*"] = { secrets = { "HUBSPOT_TOKEN" }, trusted = true },   -- trusted: test scripts write files
} }
EOF
hs() { run_ferry "$@" -c "$WORK/hs.lua"; }
H='owner = "qa@example.com", purpose = "test", pattern = "reporting", source_of_truth = "hubspot", freshness = "1h",'
ctl() { curl -s -X POST --data "$2" "$HS/__fake/$1"; }
# fake_py EXPR: a Python expression over R (the requests HubSpot got, each
# { method, path, query, body, t }) and O(type) (HubSpot's objects of a
# type, by id, each { id, properties, ... })
fake_py() {
    python3 - "$HS" "$1" <<'EOF' 2>&1
import json, sys, urllib.request
get = lambda p: json.load(urllib.request.urlopen(sys.argv[1] + "/__fake/" + p))
R = get("requests")
O = lambda t: {r["id"]: r for r in get("records/" + t)}
print(eval(sys.argv[2]))
EOF
}
clear_requests() { curl -s -X DELETE "$HS/__fake/requests" >/dev/null; }
qpy() { quarantine_py "$WORK/data" "$1" "$2"; }

# The shipped example, pointed at the fake.
EX=$WORK/example.lua
sed "s|https://api.hubapi.com|$HS|" "$HS_DIR/example.lua" >"$EX"

# ---------------------------------------------------------------------------
t "the shipped example passes ferry check"
[ -s "$WORK/hs.port" ] || fail "the fake did not start: $(cat "$WORK/fake.log")"
hs check "$HS_DIR/example.lua"
expect_rc 0
expect_in "$out" "ok: hubspot-companies"

t "run 1: companies loaded with their owner's email; an unknown tier is picklist_drift, an unknown owner lookup_missing"
ctl seed '{"owners":[{"id":"501","email":"Ana.Silva@example.com"},{"id":"502","email":"ben.okafor@example.com"}],
  "companies":[
  {"properties":{"name":"Acme","domain":"acme.com","customer_tier":"gold","hubspot_owner_id":"501","annualrevenue":"125000.5"},"modified":"2026-11-01T10:00:00Z"},
  {"properties":{"name":"Globex","domain":"globex.com","customer_tier":"Silver","hubspot_owner_id":"502"},"modified":"2026-11-01T11:00:00Z"},
  {"properties":{"name":"Initech","domain":"initech.com","customer_tier":"diamond","hubspot_owner_id":"501"},"modified":"2026-11-01T12:00:00Z"},
  {"properties":{"name":"Hooli","domain":"hooli.com","customer_tier":"legacy","hubspot_owner_id":"501"},"modified":"2026-11-01T13:00:00Z"},
  {"properties":{"name":"Umbrella","domain":"umbrella.com","customer_tier":"bronze","hubspot_owner_id":"777"},"modified":"2026-11-01T14:00:00Z"}]}' >/dev/null
hs run "$EX"
expect_rc 3
expect_in "$out" "extracted 5 · transformed 2 · skipped 0 · loaded 2 · quarantined 3"
expect_eq "$(sql "$WORK/data/hubspot.db" "SELECT name, tier, owner_email, annual_revenue, modified_at FROM companies ORDER BY name")" \
"Acme|gold|Ana.Silva@example.com|125000.5|2026-11-01T10:00:00.000Z
Globex|silver|ben.okafor@example.com||2026-11-01T11:00:00.000Z" "tiers as HubSpot's option values; the owner's email from the owners"
expect_eq "$(qpy hubspot-companies '[(q["record"]["name"], q["class"], q["reason"]) for q in L]')" \
"[('Initech', 'picklist_drift', 'picklist companies.customer_tier: unknown value \"diamond\" (options: \"gold\", \"silver\", \"bronze\")'), ('Hooli', 'picklist_drift', 'picklist companies.customer_tier: unknown value \"legacy\" (options: \"gold\", \"silver\", \"bronze\")'), ('Umbrella', 'lookup_missing', 'lookup hubspot_owner_emails: no match for \"777\" (retried on later runs)')]" \
    "a hidden option (legacy) is retired: not offered"

t "run 1 asked HubSpot once for the owners and once for the options, and searched by last-modified time, ascending"
expect_eq "$(fake_py 'sorted(set((r["method"], r["path"], r["query"], R.count(r)) for r in R))')" \
    "[('GET', '/crm/v3/owners/', 'archived=false&limit=500', 1), ('GET', '/crm/v3/properties/companies/customer_tier', '', 1), ('POST', '/crm/v3/objects/companies/search', '', 1)]"
expect_eq "$(fake_py 'json.dumps(R[0]["body"], sort_keys=True)')" \
    '{"after": "0", "filterGroups": [], "limit": 200, "properties": ["name", "domain", "customer_tier", "annualrevenue", "hubspot_owner_id", "hs_lastmodifieddate"], "sorts": [{"direction": "ASCENDING", "propertyName": "hs_lastmodifieddate"}]}'

t "the token is sent as a Bearer header and appears nowhere: not in the output, the store or the logs"
for f in "$WORK"/data/*; do
    [ -f "$f" ] || continue
    grep -qaF "$HUBSPOT_TOKEN" "$f" && fail "the token in $f"
done
grep -qF "$HUBSPOT_TOKEN" <<<"$out$err" && fail "the token in the run's output"

t "run 2 reads only what changed since run 1's checkpoint"
clear_requests
ctl touch "{\"type\":\"companies\",\"id\":\"$(fake_py '[k for k, v in O("companies").items() if v["properties"]["name"] == "Initech"][0]')\",\"properties\":{\"customer_tier\":\"gold\"}}" >/dev/null
hs run "$EX"
expect_rc 0
expect_in "$out" "extracted 1 ·"
expect_eq "$(fake_py '[sorted(f.items()) for r in R if r["path"].endswith("/search") for f in r["body"]["filterGroups"][0]["filters"]]')" \
    "[[('operator', 'GTE'), ('propertyName', 'hs_lastmodifieddate'), ('value', '1793541600000')]]" \
    "from the newest time read in run 1 (14:00 UTC, in epoch ms)"
expect_eq "$(sql "$WORK/data/hubspot.db" "SELECT name, tier, owner_email FROM companies WHERE name = 'Initech'")" \
    "Initech|gold|Ana.Silva@example.com" "Initech's tier fixed in HubSpot"

t "contacts are searched by lastmodifieddate (their own), not hs_lastmodifieddate"
ctl seed '{"contacts":[{"properties":{"email":"a@x.com","firstname":"A"},"modified":"2026-11-02T10:00:00Z"},{"properties":{"email":"b@x.com","firstname":"B"},"modified":"2026-11-02T09:00:00Z"}]}' >/dev/null
script contacts 'local hs = require("contrib.hubspot").connect { base_url = "'"$HS"'" }
return ferry.integration { name = "hs-contacts", '"$H"'
  extract = hs:stream("contacts", { properties = { "email", "firstname" } }),
  load = function(batch) for _, r in ipairs(batch) do
    local f = io.open("'"$WORK"'/contacts.txt", "a"); f:write(r.id, " ", r.email, " ", r.lastmodifieddate, "\n"); f:close() end end }'
hs run "$WORK/contacts.lua"
expect_rc 0
expect_eq "$(cut -d' ' -f2- "$WORK/contacts.txt")" "b@x.com 2026-11-02T09:00:00.000Z
a@x.com 2026-11-02T10:00:00.000Z" "oldest first"
hs run "$WORK/contacts.lua"
expect_in "$out" "extracted 0 ·"

# A stream script over companies writing ids to a file: for paging, ties,
# restarts after a failure.
stream_script() {   # stream_script NAME OPTS
    script "$1" 'local hs = require("contrib.hubspot").connect { base_url = "'"$HS"'", search_rate_limit = "100/s",
  retry = { attempts = 2, base = "10ms", max = "50ms" } }
return ferry.integration { name = "'"$1"'", '"$H"'
  extract = hs:stream("companies", '"$2"'),
  load = function(batch) local f = io.open("'"$WORK/$1"'.ids", "a")
    for _, r in ipairs(batch) do f:write(r.id, "\n") end f:close() end }'
}
ids_py() {   # ids_py FILE EXPR: over I, the ids written, in order
    python3 -c 'import sys; I = open(sys.argv[1]).read().split(); print(eval(sys.argv[2]))' "$1" "$2" 2>&1
}

t "paging past HubSpot's 10,000-result cap, through 450 records sharing one time: each record read exactly once"
# 10,300 companies, one a millisecond apart, then 450 at one instant
ctl generate '{"type":"companies","count":10300,"start":1600000000000,"step":1}' >/dev/null
ctl generate '{"type":"companies","count":450,"start":1700000000000,"step":0}' >/dev/null
stream_script hs-many '{ since = "2020-01-01T00:00:00Z" }'
clear_requests
hs run "$WORK/hs-many.lua"
expect_rc 0
expect_in "$out" "extracted 10755 ·"
expect_eq "$(ids_py "$WORK/hs-many.ids" 'len(I), len(set(I))')" "(10755, 10755)"
expect_eq "$(fake_py 'max(int(r["body"]["after"]) for r in R if r["path"].endswith("/search")) < 10000')" "True" \
    "no search paged near the cap"
expect_eq "$(fake_py 'sorted(set(r["body"]["after"] for r in R if r["path"].endswith("/search")))')" "['0', '200', '400']" \
    "after paging only through the tie"

t "a run that fails mid-read resumes from its last checkpoint without losing a record"
stream_script hs-crash '{ since = "2020-01-01T00:00:00Z", page_size = 100 }'
ctl fail '{"count":2,"status":502,"after":3}' >/dev/null
hs run "$WORK/hs-crash.lua"
expect_rc 1
first=$(ids_py "$WORK/hs-crash.ids" 'len(I)')
expect_eq "$first" "298" "three pages before the failure (each page after the first starts at the last one read)"
hs run "$WORK/hs-crash.lua"
expect_rc 0
expect_eq "$(ids_py "$WORK/hs-crash.ids" 'len(set(I)), len(I) - len(set(I)) <= 1')" "(10755, True)" \
    "the second run goes on from the checkpoint"

# ---------------------------------------------------------------------------
# Writes
upsert_script() {   # upsert_script NAME OBJECT ID_PROPERTY RECORDS_LUA [TRANSFORM]
    script "$1" 'local hs = require("contrib.hubspot").connect { base_url = "'"$HS"'", retry = { attempts = 3, base = "10ms" } }
local owners = hs:owners()
return ferry.integration { name = "'"$1"'", '"$H"'
  extract = function(ctx) for _, r in ipairs('"$4"') do ctx:emit(r) end end,
  '"${5:-}"'
  load = hs:upsert("'"$2"'", { id_property = "'"$3"'" }) }'
}

t "batch upsert by domain: one invalid option costs only its record, quarantined as validation in HubSpot's words"
clear_requests
upsert_script hs-up companies domain '{
  { domain = "acme.com", name = "Acme Corp", customer_tier = "gold", annualrevenue = 130000 },
  { domain = "new1.com", name = "New One", customer_tier = "silver" },
  { domain = "new2.com", name = "New Two", customer_tier = "platinum" },
  { domain = "new3.com", name = "New Three", customer_tier = "bronze" },
  { domain = "new4.com", name = "New Four" },
}'
hs run "$WORK/hs-up.lua"
expect_rc 3
expect_in "$out" "loaded 4 · quarantined 1"
expect_eq "$(fake_py 'sorted((v["properties"]["domain"], v["properties"]["name"], v["properties"].get("customer_tier"), v["properties"].get("annualrevenue")) for v in O("companies").values() if v["properties"].get("domain") in ("acme.com", "new1.com", "new2.com", "new3.com", "new4.com"))')" \
    "[('acme.com', 'Acme Corp', 'gold', '130000'), ('new1.com', 'New One', 'silver', None), ('new3.com', 'New Three', 'bronze', None), ('new4.com', 'New Four', None, None)]" \
    "acme.com updated (not duplicated), the others created"
expect_eq "$(qpy hs-up '[(q["record"]["domain"], q["class"], q["stage"]) for q in L]')" "[('new2.com', 'validation', 'load')]"
expect_in "$(qpy hs-up 'L[0]["reason"]')" "HubSpot POST /crm/v3/objects/companies/batch/upsert: 400 VALIDATION_ERROR: platinum was not one of the allowed options"
expect_in "$(qpy hs-up 'L[0]["reason"]')" "(property customer_tier)"
expect_eq "$(fake_py '[len(r["body"]["inputs"]) for r in R if r["path"].endswith("/batch/upsert")]')" "[5, 2, 3, 1, 2]" \
    "the refused batch split in halves until the bad input stood alone"
expect_eq "$(fake_py 'sorted(set(i["idProperty"] for r in R if r["path"].endswith("/batch/upsert") for i in r["body"]["inputs"]))')" "['domain']"

t "a batch over 100 records goes as requests of at most 100"
clear_requests
upsert_script hs-up250 companies domain '(function() local l = {} for i = 1, 250 do l[i] = { domain = "bulk" .. i .. ".com", name = "Bulk " .. i } end return l end)()'
hs run "$WORK/hs-up250.lua"
expect_rc 0
expect_eq "$(fake_py '[len(r["body"]["inputs"]) for r in R if r["path"].endswith("/batch/upsert")]')" "[100, 100, 50]"

t "an unknown property is validation naming it"
upsert_script hs-up-prop companies domain '{ { domain = "acme.com", name = "Acme", favourite_colour = "teal" } }'
hs run "$WORK/hs-up-prop.lua"
expect_rc 3
expect_eq "$(qpy hs-up-prop '(L[0]["class"], L[0]["reason"])')" \
    "('validation', 'HubSpot POST /crm/v3/objects/companies/batch/upsert: 400 VALIDATION_ERROR: Property \"favourite_colour\" does not exist (property favourite_colour)')"

t "owners by email: a hit writes the owner id; a miss is lookup_missing naming the email"
clear_requests
upsert_script hs-owner contacts email '{
  { email = "x1@customer.com", owner = "  ANA.SILVA@example.com " },
  { email = "x2@customer.com", owner = "nobody@example.com" },
}' 'transform = function(r, ctx)
    local id, err = owners:get(r.owner, ctx)
    if err then return nil, err end
    return { email = r.email, hubspot_owner_id = id }
  end,'
hs run "$WORK/hs-owner.lua"
expect_rc 3
expect_eq "$(fake_py '[v["properties"]["hubspot_owner_id"] for v in O("contacts").values() if v["properties"]["email"] == "x1@customer.com"]')" "['501']"
expect_eq "$(qpy hs-owner '[(q["class"], q["reason"]) for q in L]')" \
    "[('lookup_missing', 'lookup hubspot_owners: no match for \"nobody@example.com\" (retried on later runs)')]"
expect_eq "$(fake_py '[r["path"] for r in R if "owners" in r["path"]]')" "['/crm/v3/owners/']" "one fetch for the batch"

# ---------------------------------------------------------------------------
# Failures
t "a wrong token is class auth and the run pauses; the token appears nowhere"
HUBSPOT_TOKEN=pat-na1-wrong-0000-secret-value hs run "$EX"
expect_rc 1
expect_in "$out$err" "auth"
expect_in "$out$err" "HubSpot POST /crm/v3/objects/companies/search: 401 INVALID_AUTHENTICATION: Authentication credentials not found"
grep -qF "pat-na1-wrong-0000-secret-value" <<<"$out$err" && fail "the token in the output"
for f in "$WORK"/data/*; do
    [ -f "$f" ] && grep -qaF "pat-na1-wrong-0000-secret-value" "$f" && fail "the token in $f"
done

t "a missing scope is class permission with HubSpot's message"
ctl forbid '{"paths":["/owners"]}' >/dev/null
upsert_script hs-scope contacts email '{ { email = "x3@customer.com", owner = "ana.silva@example.com" } }' \
  'transform = function(r, ctx) local id, err = owners:get(r.owner, ctx) if err then return nil, err end return { email = r.email, hubspot_owner_id = id } end,'
hs run "$WORK/hs-scope.lua"
ctl forbid '{"paths":[]}' >/dev/null
expect_rc 1
expect_in "$out$err" "permission"
expect_in "$out$err" "403 MISSING_SCOPES: This app hasn't been granted all required scopes"

t "an unknown property for a picklist is not_found"
script hs-pick 'local hs = require("contrib.hubspot").connect { base_url = "'"$HS"'" }
local p = hs:picklist("companies", "no_such_field")
return ferry.integration { name = "hs-pick", '"$H"'
  extract = function(ctx) ctx:emit({ v = "x" }) end,
  transform = function(r, ctx) local v, err = p:match(r.v, ctx) if err then return nil, err end return { v = v } end,
  load = function() end }'
hs run "$WORK/hs-pick.lua"
expect_in "$out$err" "not_found"
expect_in "$out$err" "404 OBJECT_NOT_FOUND: Unable to find property no_such_field"

t "a 429 storm: the run succeeds; each retry came no sooner than HubSpot's window said"
clear_requests
ctl ratelimit '{"count":3,"interval_ms":2000}' >/dev/null
upsert_script hs-429 companies domain '{ { domain = "storm.com", name = "Storm" } }'
sed -i 's/retry = { attempts = 3, base = "10ms" }/retry = { attempts = 5, base = "10ms" }/' "$WORK/hs-429.lua"
hs run "$WORK/hs-429.lua"
expect_rc 0
expect_eq "$(fake_py '[v["properties"]["name"] for v in O("companies").values() if v["properties"].get("domain") == "storm.com"]')" "['Storm']"
expect_eq "$(fake_py 'len([r for r in R if r["path"].endswith("/batch/upsert")])')" "4" "three 429s, then the write"
expect_eq "$(fake_py 'all(b["t"] - a["t"] >= 1.95 for a, b in zip(R, R[1:]))')" "True" \
    "HubSpot sends no Retry-After; X-HubSpot-RateLimit-Interval-Milliseconds said 2000"

t "a search 429 (HubSpot's secondly limit) is retried too"
clear_requests
ctl ratelimit '{"count":2,"interval_ms":1000}' >/dev/null
hs run "$WORK/contacts.lua"
expect_rc 0
expect_eq "$(fake_py '[r["path"] for r in R]')" "['/crm/v3/objects/contacts/search', '/crm/v3/objects/contacts/search', '/crm/v3/objects/contacts/search']"
done_t
