#!/usr/bin/env bash
# Contract check: the connector's requests go through Prism (proxy mode,
# --errors) with HubSpot's own OpenAPI documents, in front of the fake; a
# request the real API would reject is refused by Prism (422) and fails the
# run. Prism also checks the fake's answers against the same documents.
#
# Needs ../shared/specs/hubspot beside the repository (present in CI, not in
# a user's clone) and node + npm; skips, saying why, without them. Prism is
# installed once into build/prism (gitignored) with npm, pinned to major 5.
. "$(dirname "$0")/../../../tests/e2e/lib.sh"

SPECS=$ROOT/../shared/specs/hubspot
PRISM_DIR=$ROOT/build/prism
PRISM=$PRISM_DIR/node_modules/.bin/prism
HS_DIR=$ROOT/contrib/hubspot

t "HubSpot's OpenAPI documents, node and npm are there"
# CI (.ci/run sets FERRY_CI) must run the check: there a missing piece fails it
if [ ! -d "$SPECS" ]; then
    [ -n "${FERRY_CI:-}" ] && { fail "no $SPECS in CI"; done_t; exit 1; }
    skip_t "no $SPECS (HubSpot's OpenAPI documents; present in CI): contract check skipped"; exit 0
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    [ -n "${FERRY_CI:-}" ] && { fail "node or npm is missing in CI"; done_t; exit 1; }
    skip_t "node or npm is missing (apt-get install nodejs npm): contract check skipped"; exit 0
fi
if [ ! -x "$PRISM" ]; then
    npm install --prefix "$PRISM_DIR" --no-audit --no-fund --loglevel=error @stoplight/prism-cli@5 \
        >"$WORK/npm.log" 2>&1 || fail "npm install @stoplight/prism-cli@5 failed: $(tail -3 "$WORK/npm.log")"
fi
[ -x "$PRISM" ] || fail "no $PRISM after npm install"
done_t
[ -x "$PRISM" ] || exit 0

export HUBSPOT_TOKEN=pat-na1-contract-5e0f2b7d-9c3a
python3 "$HS_DIR/tests/fake_hubspot.py" --token "$HUBSPOT_TOKEN" --port-file "$WORK/hs.port" >"$WORK/fake.log" 2>&1 &
_bg_pids+=($!)
for _ in $(seq 1 200); do [ -s "$WORK/hs.port" ] && break; sleep 0.05; done
HS=http://127.0.0.1:$(cat "$WORK/hs.port")

# Copies of the documents with two known gaps filled, each from HubSpot's
# current reference (developers.hubspot.com/docs/api/crm/search and the
# objects' batch endpoints):
# - `sorts` items are { propertyName, direction } objects; the documents say
#   strings, and HubSpot ignores a sort sent as a string (hubspot-api-ruby
#   issue 257, hubspot-api-nodejs issue 559): a connector sending strings
#   would read in no order.
# - these versions predate POST /crm/v3/objects/{type}/batch/upsert; it is
#   added with batch/update's own input schema plus the required idProperty
#   and the 100-input limit, and batch/update's answers.
mkdir -p "$WORK/specs"
python3 - "$SPECS" "$WORK/specs" <<'EOF' || fail "cannot prepare the specs"
import json, sys
src, dst = sys.argv[1], sys.argv[2]
for name in ("Companies", "Contacts", "Owners", "Properties"):
    d = json.load(open("%s/%s.json" % (src, name)))
    s = d["components"]["schemas"]
    if "PublicObjectSearchRequest" in s:
        s["PublicObjectSearchRequest"]["properties"]["sorts"]["items"] = {"anyOf": [
            {"type": "string"},
            {"type": "object", "required": ["propertyName"], "additionalProperties": False, "properties": {
                "propertyName": {"type": "string"},
                "direction": {"type": "string", "enum": ["ASCENDING", "DESCENDING"]}}}]}
    for path in list(d["paths"]):
        if path.endswith("/batch/update"):
            upd = d["paths"][path]["post"]
            item = dict(s["SimplePublicObjectBatchInput"])
            item["required"] = ["id", "idProperty", "properties"]
            s["SimplePublicObjectBatchInputUpsert"] = item
            s["BatchInputSimplePublicObjectBatchInputUpsert"] = {
                "required": ["inputs"], "type": "object", "properties": {"inputs": {
                    "type": "array", "maxItems": 100,
                    "items": {"$ref": "#/components/schemas/SimplePublicObjectBatchInputUpsert"}}}}
            op = json.loads(json.dumps(upd))
            op["operationId"] = "Upsert"
            op["requestBody"]["content"]["application/json"]["schema"] = {
                "$ref": "#/components/schemas/BatchInputSimplePublicObjectBatchInputUpsert"}
            d["paths"][path[:-len("update")] + "upsert"] = {"post": op}
    json.dump(d, open("%s/%s.json" % (dst, name), "w"))
EOF

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# One proxy per document, started together (Prism takes seconds to start).
declare -A PORT
for spec in Companies Contacts Owners Properties; do
    PORT[$spec]=$(free_port)
    "$PRISM" proxy --errors "$WORK/specs/$spec.json" "$HS" --host 127.0.0.1 --port "${PORT[$spec]}" \
        >"$WORK/prism-$spec.log" 2>&1 &
    _bg_pids+=($!)
done
up() { curl -s -o /dev/null "http://127.0.0.1:${PORT[$1]}/"; }
t "Prism proxies start in front of the fake, one per document"
for spec in Companies Contacts Owners Properties; do
    wait_until 120 "up $spec" || fail "prism ($spec) did not start: $(tail -5 "$WORK/prism-$spec.log")"
done
done_t
P() { echo "http://127.0.0.1:${PORT[$1]}"; }

cat >"$WORK/hs.lua" <<EOF
return { data_dir = "$WORK/data", integrations = { ["*"] = { secrets = { "HUBSPOT_TOKEN" }, trusted = true } } }
EOF
hs() { run_ferry "$@" -c "$WORK/hs.lua"; }
ctl() { curl -s -X POST --data "$2" "$HS/__fake/$1"; }
fake_py() {
    python3 - "$HS" "$1" <<'EOF' 2>&1
import json, sys, urllib.request
get = lambda p: json.load(urllib.request.urlopen(sys.argv[1] + "/__fake/" + p))
R = get("requests")
O = lambda t: {r["id"]: r for r in get("records/" + t)}
print(eval(sys.argv[2]))
EOF
}
# Prism's own report lines; not its "info" lines, whose startup listing of
# every operation carries random example values ("excludeNote=error").
violations() { grep -hiE 'violation|✖|error' "$WORK"/prism-*.log | grep -v ' get / ' | grep -v 'ℹ  info' | head -5; }

ctl seed '{"owners":[{"id":"501","email":"ana.silva@example.com"},{"id":"502","email":"ben.okafor@example.com"}],
  "companies":[
  {"properties":{"name":"Acme","domain":"acme.com","customer_tier":"gold","hubspot_owner_id":"501"},"modified":"2026-11-01T10:00:00Z"},
  {"properties":{"name":"Globex","domain":"globex.com","customer_tier":"silver","hubspot_owner_id":"502"},"modified":"2026-11-01T11:00:00Z"}],
  "contacts":[{"properties":{"email":"a@x.com","firstname":"A"},"modified":"2026-11-02T10:00:00Z"}]}' >/dev/null

# Companies read incrementally, tiers checked against the property's
# options, owners matched by id, then written back by domain: every kind of
# request the connector makes, each through the proxy of its document.
H='owner = "qa@example.com", purpose = "contract", pattern = "reporting", source_of_truth = "hubspot", freshness = "1h",'
script companies 'local hubspot = require "contrib.hubspot"
local companies = hubspot.connect { base_url = "'"$(P Companies)"'" }
local properties = hubspot.connect { base_url = "'"$(P Properties)"'" }
local owners = hubspot.connect { base_url = "'"$(P Owners)"'" }
local tiers = properties:picklist("companies", "customer_tier")
local emails = owners:owners { by = "id" }
return ferry.integration { name = "contract-companies", '"$H"'
  extract = companies:stream("companies", { properties = { "name", "domain", "customer_tier", "hubspot_owner_id" }, page_size = 1 }),
  transform = function(c, ctx)
    local tier, err = tiers:match(c.customer_tier, ctx)
    if err then return nil, err end
    local email; email, err = emails:get(c.hubspot_owner_id, ctx)
    if err then return nil, err end
    return { domain = c.domain, name = c.name .. " (" .. email .. ")", customer_tier = c.name == "Globex" and "platinum" or tier, annualrevenue = 1000 }
  end,
  load = companies:upsert("companies", { id_property = "domain" }) }'
script contacts 'local hubspot = require "contrib.hubspot"
local contacts = hubspot.connect { base_url = "'"$(P Contacts)"'" }
local owners = hubspot.connect { base_url = "'"$(P Owners)"'" }
local by_email = owners:owners()
return ferry.integration { name = "contract-contacts", '"$H"'
  extract = contacts:stream("contacts", { properties = { "email", "firstname" } }),
  transform = function(c, ctx)
    local id, err = by_email:get("Ana.Silva@example.com", ctx)
    if err then return nil, err end
    return { email = c.email, hubspot_owner_id = id, lifecyclestage = "customer" }
  end,
  load = contacts:upsert("contacts", { id_property = "email" }) }'

t "companies: searches (paged, then from the cursor), property options, owners and batch upserts all pass Prism"
hs run "$WORK/companies.lua"
expect_rc 3                                   # Globex's "platinum" is refused by the fake, as HubSpot would
expect_in "$out" "extracted 2 · transformed 2 · skipped 0 · loaded 1 · quarantined 1"
expect_eq "$(fake_py 'O("companies")["1001"]["properties"]["name"]')" "Acme (ana.silva@example.com)" "the upsert reached the fake"
expect_eq "$(fake_py 'sorted(set(r["path"] for r in R))')" \
    "['/crm/v3/objects/companies/batch/upsert', '/crm/v3/objects/companies/search', '/crm/v3/owners/', '/crm/v3/properties/companies/customer_tier']"
ctl touch '{"type":"companies","id":"1002","properties":{"customer_tier":"bronze"}}' >/dev/null
hs run "$WORK/companies.lua"
expect_in "$out" "extracted 2 ·"                 # Globex, and Acme: run 1 wrote it
expect_eq "$(fake_py 'any(r["body"]["filterGroups"] for r in R if r["path"].endswith("/search"))')" "True" \
    "a search with the cursor's filter went through"
expect_eq "$(violations)" "" "Prism reported nothing"

t "contacts: search by lastmodifieddate, owners by email, upsert by email pass Prism"
hs run "$WORK/contacts.lua"
expect_rc 0
expect_in "$out" "loaded 1"
expect_eq "$(fake_py '[v["properties"]["hubspot_owner_id"] for v in O("contacts").values()]')" "['501']"
expect_eq "$(violations)" "" "Prism reported nothing"

t "the check can fail: a batch upsert without inputs, and a search without filterGroups, are refused by Prism"
before=$(fake_py 'len(R)')
code=$(curl -s -o "$WORK/bad.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $HUBSPOT_TOKEN" \
    -H 'Content-Type: application/json' --data '{"records":[]}' "$(P Companies)/crm/v3/objects/companies/batch/upsert")
expect_eq "$code" "422" "$(head -c 300 "$WORK/bad.json")"
expect_in "$(cat "$WORK/bad.json")" "inputs"
code=$(curl -s -o "$WORK/bad2.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $HUBSPOT_TOKEN" \
    -H 'Content-Type: application/json' --data '{"sorts":[],"properties":[],"limit":10,"after":"0"}' \
    "$(P Contacts)/crm/v3/objects/contacts/search")
expect_eq "$code" "422" "$(head -c 300 "$WORK/bad2.json")"
expect_in "$(cat "$WORK/bad2.json")" "filterGroups"
expect_eq "$(fake_py 'len(R)')" "$before" "neither reached the fake"
done_t
