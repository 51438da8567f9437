#!/usr/bin/env bash
# contrib/vitally end to end: scripts that `require "contrib.vitally"` run
# with `ferry run` against fake_vitally.py (Python standard library,
# 127.0.0.1, written from Vitally's public reference). Checks the rows a
# SQLite sink holds, what the fake holds and was sent (its request log), the
# quarantine (class and Vitally's own message), checkpoints across runs, and
# that the API key appears nowhere.
. "$(dirname "$0")/../../../tests/e2e/lib.sh"

KEY=sk_vitally_test_5f3a9c1e77
export VITALLY_API_KEY=$KEY
DATA=$WORK/data
CONF=$WORK/vitally_conf.lua

python3 "$ROOT/contrib/vitally/tests/fake_vitally.py" --port-file "$WORK/vitally.port" --key "$KEY" \
    >"$WORK/fake.out" 2>&1 &
_bg_pids+=($!)
for _ in $(seq 1 200); do [ -s "$WORK/vitally.port" ] && break; sleep 0.05; done
V=http://127.0.0.1:$(cat "$WORK/vitally.port" 2>/dev/null)

# Every integration of this test may read the key; nothing else is granted.
cat >"$CONF" <<EOF
return {
  data_dir = "$DATA",
  -- the shipped example's subdomain, unedited, goes to the fake
  http = { rewrite = { ["https://acme.rest.vitally.io"] = "$V" } },
  integrations = {
    ["vitally-accounts"] = { secrets = { "VITALLY_API_KEY" } },
    ["v-renewing"] = { secrets = { "VITALLY_API_KEY" } },
    ["v-write"] = { secrets = { "VITALLY_API_KEY" } },
    ["v-tier"] = { secrets = { "VITALLY_API_KEY" } },
    ["v-lookup"] = { secrets = { "VITALLY_API_KEY" } },
    ["v-keys"] = { secrets = { "VITALLY_API_KEY" } },
    ["v-names"] = { secrets = { "VITALLY_API_KEY" } },
    ["v-users"] = { secrets = { "VITALLY_API_KEY" } },
  },
}
EOF
vrun() { run_ferry run "$@" -c "$CONF"; }
# fake_py EXPR: a Python expression over A (accounts by externalId) and R
# (requests, each {method, path, query, body, auth, t}) as the fake holds them
fake_py() {
    python3 - "$V" "$1" <<'EOF' 2>&1
import json, re, sys, urllib.request
get = lambda p: json.load(urllib.request.urlopen(sys.argv[1] + p))
A = {a["externalId"]: a for a in get("/__fake/accounts")}
R = get("/__fake/requests")
line = lambda q: q["method"] + " " + q["path"] + ("?" + q["query"] if q["query"] else "")
print(eval(sys.argv[2]))
EOF
}
ctl() { curl -s -o /dev/null -w '%{http_code}' -X POST --data "$2" "$V/__fake/$1"; }
nreq() { fake_py 'len(R)'; }
qpy() { quarantine_py "$DATA" "$1" "$2"; }

# 250 active accounts (three pages of 100), updatedAt one minute apart, and
# 2 churned ones; renewal dates relative to today so "renewing in 90 days"
# stays true whenever the test runs.
python3 - "$V" <<'EOF'
import datetime, json, sys, urllib.request
now = datetime.datetime.now(datetime.timezone.utc)
iso = lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.000Z")
base = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)
accounts = []
for i in range(1, 253):
    renew = None
    if i % 50 == 0:
        renew = iso(now + datetime.timedelta(days=30))       # 5 renew within 90 days (50..250)
    elif i % 7 == 0:
        renew = iso(now + datetime.timedelta(days=200))      # later
    accounts.append({
        "id": "acc-%04d" % i, "externalId": "EXT-%03d" % i, "name": "Company %d" % i,
        "createdAt": iso(base), "updatedAt": iso(base + datetime.timedelta(minutes=i)),
        "traits": {"vitally.custom.tier": ["gold", "silver", "bronze"][i % 3]},
        "healthScore": round(i % 10 + 0.5, 1), "nextRenewalDate": renew,
        "segments": [{"id": "seg-1", "name": "Enterprise"}] if i % 2 else [],
        "churnedAt": iso(base) if i > 250 else None,
    })
accounts[0]["name"] = "Acme Corp"
accounts[1]["name"] = "Twin Co"
accounts[2]["name"] = "twin co"
fields = [
    {"id": "cf-1", "createdAt": iso(base), "label": "Tier", "path": "vitally.custom.tier", "type": "select",
     "options": [{"label": "Gold", "value": "gold"}, {"label": "Silver", "value": "silver"},
                 {"label": "Bronze", "value": "bronze"}]},
    {"id": "cf-2", "createdAt": iso(base), "label": "Open tickets", "path": "vitally.custom.openTickets",
     "type": "number"},
    {"id": "cf-3", "createdAt": iso(base), "label": "Escalated tickets", "path": "vitally.custom.escalatedTickets",
     "type": "number"},
]
admins = [{"id": "adm-1", "name": "Ana Lima", "email": "ana.lima@example.com", "licenseStatus": "active"},
          {"id": "adm-2", "name": "Ben Okafor", "email": "ben.okafor@example.com", "licenseStatus": "active"}]
users = [{"id": "usr-%d" % i, "externalId": "U%d" % i, "name": "User %d" % i, "email": "user%d@customer.example" % i,
          "createdAt": iso(base), "updatedAt": iso(base + datetime.timedelta(seconds=i)), "traits": {}}
         for i in range(1, 131)]
req = urllib.request.Request(sys.argv[1] + "/__fake/seed", method="POST", data=json.dumps(
    {"accounts": accounts, "customFields": fields, "admins": admins, "users": users}).encode())
urllib.request.urlopen(req)
EOF

EXAMPLE=$ROOT/contrib/vitally/example.lua

# ---------------------------------------------------------------------------
t "the shipped example passes ferry check"
[ -s "$WORK/vitally.port" ] || fail "the fake did not start: $(cat "$WORK/fake.out")"
run_ferry check "$ROOT/contrib/vitally/example.lua"
expect_rc 0
expect_in "$out" "ok: vitally-accounts (reporting, owner cs-ops@example.com"

t "run 1 reads every account over three pages, newest change first, with Basic auth (the key as user)"
vrun "$EXAMPLE"
expect_rc 0
expect_in "$out" "extracted 252 · transformed 252 · skipped 0 · loaded 252"
expect_eq "$(sql "$DATA/vitally.db" "SELECT count(*), sum(churned) FROM accounts")" "252|2"
expect_eq "$(sql "$DATA/vitally.db" "SELECT external_id, name, tier, health, updated_at FROM accounts WHERE account_id = 'acc-0001'")" \
    "EXT-001|Acme Corp|silver|1.5|2026-11-01T00:01:00.000Z"
expect_eq "$(fake_py '[re.sub("from=[^&]*&", "", line(q)) for q in R]')" \
    "['GET /resources/accounts?limit=100&sortBy=updatedAt&status=activeOrChurned', 'GET /resources/accounts?limit=100&sortBy=updatedAt&status=activeOrChurned', 'GET /resources/accounts?limit=100&sortBy=updatedAt&status=activeOrChurned']"
expect_eq "$(fake_py '["from=" in q["query"] for q in R]')" "[False, True, True]" "pages 2 and 3 follow the cursor"
expect_eq "$(fake_py 'set(q["auth"] for q in R)')" \
    "{'Basic $(printf '%s:' "$KEY" | base64 -w0)'}"

t "run 1 checkpoints the newest updatedAt it saw"
run_ferry runs vitally-accounts --json -c "$CONF"
expect_in "$out" '"since":"2026-11-01T04:12:00.000Z"'

t "run 2 reads only the accounts changed since run 1: one page, stopping at the first unchanged one"
ctl touch '{"id":"EXT-010","traits":{"vitally.custom.tier":"gold"}}' >/dev/null
ctl touch '{"id":"acc-0020","traits":{"vitally.custom.tier":"bronze"}}' >/dev/null
before=$(nreq)
vrun "$EXAMPLE"
expect_rc 0
expect_in "$out" "extracted 2 · transformed 2 · skipped 0 · loaded 2"
expect_eq "$(fake_py "len(R) - $before")" "1" "one request"
expect_eq "$(sql "$DATA/vitally.db" "SELECT external_id, tier FROM accounts WHERE account_id IN ('acc-0010', 'acc-0020') ORDER BY 1")" \
"EXT-010|gold
EXT-020|bronze"

t "run 3 with nothing changed reads one page and loads nothing"
vrun "$EXAMPLE"
expect_rc 0
expect_in "$out" "extracted 0"


t "a run that fails on page 3 checkpointed page 2's cursor; the next run resumes there and finishes the walk"
run_ferry reset vitally-accounts --yes -c "$CONF"
expect_rc 0
ctl fail '{"status":400,"times":1,"skip":2,"path":"/resources/accounts"}' >/dev/null
before=$(nreq)
vrun "$EXAMPLE"
expect_in "$out$err" "validation"
expect_in "$out$err" "vitally GET /resources/accounts: 400 Bad Request"
expect_eq "$(fake_py "len(R) - $before")" "3"
before=$(nreq)
vrun "$EXAMPLE"
expect_rc 0
expect_in "$out" "extracted 52 · transformed 52"
expect_eq "$(fake_py "['from=' in q['query'] for q in R[$before:]]")" "[True]" "page 3 only, from its cursor"
run_ferry runs vitally-accounts --json -c "$CONF"
expect_in "$out" '"since":"2026-11-01T04:12:00.000Z"'

# ---------------------------------------------------------------------------
script write "local vitally = require 'contrib.vitally'
local csm = vitally.connect { base_url = '$V' }
return ferry.integration { name = 'v-write', owner = 'qa@example.com', purpose = 'test', pattern = 'workflow',
  source_of_truth = 'jira', freshness = '1h',
  extract = function(ctx)
    ctx:emit({ externalId = 'EXT-001', ['vitally.custom.openTickets'] = 4, ['vitally.custom.escalatedTickets'] = 1 })
    ctx:emit({ externalId = 'EXT-002', traits = { ['vitally.custom.tier'] = 'platinum' } })
    ctx:emit({ externalId = 'NOPE-9', ['vitally.custom.openTickets'] = 1 })
    ctx:emit({ externalId = 'EXT-004', ['vitally.custom.openTickets'] = 'many' })
    ctx:emit({ id = 'acc-0005', ['vitally.custom.openTickets'] = 2 })
    ctx:emit({ externalId = 'EXT-003', traits = { ['vitally.custom.tier'] = 'gold' }, ['vitally.custom.openTickets'] = 0 })
  end,
  load = csm:update_accounts { key = 'externalId' },
}"
t "a batch write: each record one PUT by externalId, traits merged; the good ones written"
before=$(nreq)
vrun "$WORK/write.lua"
expect_rc 3
expect_in "$out" "loaded 2 · quarantined 4"
expect_eq "$(fake_py 'sorted(A["EXT-001"]["traits"].items())')" \
    "[('vitally.custom.escalatedTickets', 1), ('vitally.custom.openTickets', 4), ('vitally.custom.tier', 'silver')]"
expect_eq "$(fake_py 'sorted(A["EXT-003"]["traits"].items())')" "[('vitally.custom.openTickets', 0), ('vitally.custom.tier', 'gold')]"
expect_eq "$(fake_py "sorted(line(q) for q in R[$before:])")" \
    "['PUT /resources/accounts/EXT-001', 'PUT /resources/accounts/EXT-002', 'PUT /resources/accounts/EXT-003', 'PUT /resources/accounts/EXT-004', 'PUT /resources/accounts/NOPE-9']"
expect_eq "$(fake_py "[json.loads(q['body']) for q in R[$before:] if q['path'].endswith('EXT-001')] == [{'traits': {'vitally.custom.escalatedTickets': 1, 'vitally.custom.openTickets': 4}}]")" \
    "True" "the body: only the traits"

t "a batch write: the bad records quarantined with Vitally's message naming the trait, or lookup_missing (an unknown account)"
expect_eq "$(qpy v-write '"\n".join("%s %s %s" % (q["record"].get("externalId"), q["class"], q["reason"]) for q in L)')" \
"EXT-002 validation vitally PUT /resources/accounts/EXT-002: 400 Invalid value for trait vitally.custom.tier: \"platinum\" is not one of the options \"gold\", \"silver\", \"bronze\"
NOPE-9 lookup_missing vitally PUT /resources/accounts/NOPE-9: 404 Account not found (retried on later runs)
EXT-004 validation vitally PUT /resources/accounts/EXT-004: 400 Invalid value for trait vitally.custom.openTickets: expected a number, got \"many\"
None validation vitally: field externalId: the account's externalId is required"

# ---------------------------------------------------------------------------
script tier "local vitally = require 'contrib.vitally'
local csm = vitally.connect { base_url = '$V' }
local tiers = csm:picklist('accounts', 'vitally.custom.tier', { name = 'tier', synonyms = { premium = 'silver' } })
return ferry.integration { name = 'v-tier', owner = 'qa@example.com', purpose = 'test', pattern = 'workflow',
  source_of_truth = 'crm', freshness = '1h',
  extract = function(ctx)
    ctx:emit({ ext = 'EXT-005', tier = 'Gold' })
    ctx:emit({ ext = 'EXT-009', tier = 'Platinum' })
    ctx:emit({ ext = 'EXT-008', tier = ' Premium ' })
  end,
  transform = function(r, ctx)
    local tier, err = tiers:match(r.tier, ctx)
    if not tier then return nil, err end
    return { externalId = r.ext, ['vitally.custom.tier'] = tier }
  end,
  load = csm:update_accounts {},
}"
t "picklist: the tier trait's options fetched from customFields; a value not among them is picklist_drift"
before=$(nreq)
vrun "$WORK/tier.lua"
expect_rc 3
expect_in "$out" "loaded 2 · quarantined 1"
expect_in "$out" 'picklist tier: unknown value "Platinum"'
expect_eq "$(fake_py "[line(q) for q in R[$before:] if q['method'] == 'GET']")" "['GET /resources/customFields?model=accounts']"
expect_eq "$(fake_py '[A[k]["traits"]["vitally.custom.tier"] for k in ("EXT-005", "EXT-008", "EXT-009")]')" \
    "['gold', 'silver', 'gold']" "bronze to gold, bronze to silver (a synonym), gold left as it was"
expect_eq "$(fake_py "sorted(line(q) for q in R[$before:] if q['method'] == 'PUT')")" \
    "['PUT /resources/accounts/EXT-005', 'PUT /resources/accounts/EXT-008']"
expect_eq "$(qpy v-tier '[(q["class"], q["record"]["ext"]) for q in L]')" "[('picklist_drift', 'EXT-009')]"

# ---------------------------------------------------------------------------
script lookup "local vitally = require 'contrib.vitally'
local csm = vitally.connect { base_url = '$V', tier_trait = 'vitally.custom.tier' }
local admins = csm:admins()
local users = csm:users()
return ferry.integration { name = 'v-lookup', owner = 'qa@example.com', purpose = 'test', pattern = 'workflow',
  source_of_truth = 'vitally', freshness = '1h',
  extract = function(ctx)
    ctx:emit({ key = 'T-1', org = 'EXT-001', csm = 'Ana.Lima@Example.com', contact = 'user7@customer.example' })
    ctx:emit({ key = 'T-2', org = 'acc-0100', csm = 'ben.okafor@example.com', contact = 'user130@customer.example' })
    ctx:emit({ key = 'T-3', org = 'EXT-999', csm = 'ana.lima@example.com', contact = 'user1@customer.example' })
    ctx:emit({ key = 'T-4', org = 'EXT-001', csm = 'new.csm@example.com', contact = 'user2@customer.example' })
    ctx:emit({ key = 'T-5', org = 'EXT-002', csm = 'ana.lima@example.com', contact = 'nobody@customer.example' })
  end,
  transform = function(r, ctx)
    local a, err = csm:account(ctx, r.org)
    if not a then return nil, err end
    local contact, uerr = users:get(r.contact, ctx)
    if not contact then return nil, uerr end
    return { key = r.key, account = a.id, health = a.healthScore, tier = a.tier, renewal = a.nextRenewalDate,
             csm_id = admins:ref(r.csm), contact_id = contact }
  end,
  load = ferry.sink.sqlite { path = 'lookup.db', table = 'issues', columns = { { 'key', 'text', key = true },
    { 'account', 'text' }, { 'health', 'real' }, { 'tier', 'text' }, { 'renewal', 'text' }, { 'csm_id', 'text' },
    { 'contact_id', 'text' } } },
}"
t "account by externalId or Vitally id: health, tier, renewal date; a missing one is lookup_missing"
before=$(nreq)
vrun "$WORK/lookup.lua"
expect_rc 3
expect_in "$out" "loaded 2 · quarantined 3"
expect_eq "$(sql "$DATA/lookup.db" "SELECT key, account, health, tier, renewal IS NOT NULL, csm_id, contact_id FROM issues ORDER BY key")" \
"T-1|acc-0001|1.5|silver|0|adm-1|usr-7
T-2|acc-0100|0.5|silver|1|adm-2|usr-130"
expect_eq "$(qpy v-lookup '"\n".join(sorted("%s %s %s" % (q["record"]["key"], q["class"], q["reason"]) for q in L))')" \
"T-3 lookup_missing vitally: no account with id or externalId \"EXT-999\"
T-4 lookup_missing lookup vitally_admins: field csm_id: no match for \"new.csm@example.com\" yet (retried on later runs)
T-5 lookup_missing lookup vitally_users: no match for \"nobody@customer.example\" (retried on later runs)"

t "admins by email: one search per distinct email of the batch; users: one paged read of all users"
expect_eq "$(fake_py "sorted(set(line(q) for q in R[$before:] if 'admins' in q['path']))")" \
    "['GET /resources/admins/search?email=ana.lima%40example.com', 'GET /resources/admins/search?email=ben.okafor%40example.com', 'GET /resources/admins/search?email=new.csm%40example.com']"
expect_eq "$(fake_py "len([q for q in R[$before:] if 'admins' in q['path']])")" "3"
expect_eq "$(fake_py "len([q for q in R[$before:] if q['path'] == '/resources/users'])")" "2" "130 users, 2 pages"
expect_eq "$(fake_py "len([q for q in R[$before:] if q['path'] == '/resources/accounts/EXT-001'])")" "1" "EXT-001 fetched once a run"

# ---------------------------------------------------------------------------
script keys "local vitally = require 'contrib.vitally'
local csm = vitally.connect { base_url = '$V' }
local health, tier, renewal = csm:account_field('healthScore'), csm:account_field('tier'), csm:account_field('nextRenewalDate')
return ferry.integration { name = 'v-keys', owner = 'qa@example.com', purpose = 'test', pattern = 'workflow',
  source_of_truth = 'vitally', freshness = '1h',
  extract = function(ctx)
    for i, org in ipairs { 'EXT-051', 'EXT-053', 'EXT-051', 'EXT-404', 'EXT-050' } do ctx:emit({ key = 'K-' .. i, org = org }) end
  end,
  transform = function(r) return { key = r.key, health = health:ref(r.org), tier = tier:ref(r.org) } end,
  load = ferry.sink.sqlite { path = 'keys.db', table = 'issues', columns = { { 'key', 'text', key = true },
    { 'health', 'real' }, { 'tier', 'text' } } },
}"
t "account_field (ferry.lookup.keys): a batch's accounts fetched once each, whatever the fields; a missing account or value is lookup_missing"
before=$(nreq)
vrun "$WORK/keys.lua"
expect_rc 3
expect_eq "$(sql "$DATA/keys.db" "SELECT key, health, tier FROM issues ORDER BY key")" \
"K-1|1.5|Enterprise
K-2|3.5|Enterprise
K-3|1.5|Enterprise"
expect_eq "$(fake_py "sorted(line(q) for q in R[$before:])")" \
    "['GET /resources/accounts/EXT-050', 'GET /resources/accounts/EXT-051', 'GET /resources/accounts/EXT-053', 'GET /resources/accounts/EXT-404']"
expect_eq "$(qpy v-keys '"\n".join("%s %s %s" % (q["record"]["org"], q["class"], q["reason"]) for q in L)')" \
"EXT-404 lookup_missing lookup vitally_healthScore: field health: no match for \"EXT-404\" yet (retried on later runs)
EXT-050 lookup_missing lookup vitally_tier: field tier: no match for \"EXT-050\" yet (retried on later runs)"

# ---------------------------------------------------------------------------
script names "local vitally = require 'contrib.vitally'
local csm = vitally.connect { base_url = '$V' }
local names = csm:account_names()
return ferry.integration { name = 'v-names', owner = 'qa@example.com', purpose = 'test', pattern = 'workflow',
  source_of_truth = 'vitally', freshness = '1h',
  extract = function(ctx)
    for _, n in ipairs { ' ACME corp', 'Twin Co', 'Nobody Inc' } do ctx:emit({ org = n }) end
  end,
  transform = function(r, ctx)
    local id, err = names:get(r.org, ctx)
    if not id then return nil, err end
    return { org = r.org, id = id }
  end,
  load = ferry.sink.sqlite { path = 'names.db', table = 'orgs', columns = { { 'org', 'text', key = true }, { 'id', 'text' } } },
}"
t "account by name: one paged read of all accounts; a shared name is lookup_ambiguous, an unknown one lookup_missing"
vrun "$WORK/names.lua"
expect_rc 3
expect_eq "$(sql "$DATA/names.db" "SELECT org, id FROM orgs")" " ACME corp|acc-0001"
expect_eq "$(qpy v-names '[(q["record"]["org"], q["class"]) for q in L]')" \
    "[('Twin Co', 'lookup_ambiguous'), ('Nobody Inc', 'lookup_missing')]"

# ---------------------------------------------------------------------------
script renewing "local vitally = require 'contrib.vitally'
local csm = vitally.connect { base_url = '$V' }
return ferry.integration { name = 'v-renewing', owner = 'qa@example.com', purpose = 'test', pattern = 'workflow',
  source_of_truth = 'jira', freshness = '1h',
  extract = csm:stream('accounts', { renewing_within = 90 }),
  transform = function(a)
    return { id = a.id, ['vitally.custom.openTickets'] = 2, ['vitally.custom.escalatedTickets'] = 7 }
  end,
  load = csm:update_accounts { key = 'id' },
}"
t "accounts renewing within 90 days (filtered client-side from a full read) get ticket counts written"
vrun "$WORK/renewing.lua"
expect_rc 0
expect_in "$out" "extracted 5 · transformed 5 · skipped 0 · loaded 5"
expect_eq "$(fake_py 'sorted(k for k, a in A.items() if a["traits"].get("vitally.custom.escalatedTickets") == 7)')" \
    "['EXT-050', 'EXT-100', 'EXT-150', 'EXT-200', 'EXT-250']"
vrun "$WORK/renewing.lua"
expect_in "$out" "extracted 5" "the window is read in full every run, not from a cursor"

# ---------------------------------------------------------------------------
t "connect: the US host per subdomain, the EU data centre's one host, or base_url; a mistake named"
cat >"$WORK/connect.lua" <<'EOF'
local v = require "contrib.vitally"
print(v.connect { subdomain = "acme" }.base_url, v.connect { region = "eu" }.base_url)
print(select(2, pcall(v.connect, {})))
print(select(2, pcall(v.connect, { region = "apac" })))
print(select(2, pcall(v.connect, { subdomain = "acme", token = "X" })))
EOF
run_ferry lua "$WORK/connect.lua"
expect_rc 0
expect_eq "$out" "https://acme.rest.vitally.io	https://rest.vitally-eu.io
contrib.vitally: connect needs subdomain (the one in https://SUBDOMAIN.vitally.io), region = \"eu\", or base_url
contrib.vitally: region 'apac': \"us\" (the default) or \"eu\"
contrib.vitally: connect: unknown option 'token'"

script users "local vitally = require 'contrib.vitally'
local csm = vitally.connect { base_url = '$V' }
return ferry.integration { name = 'v-users', owner = 'qa@example.com', purpose = 'test', pattern = 'reporting',
  source_of_truth = 'vitally', freshness = '1h',
  extract = csm:stream('users'),
  load = ferry.sink.sqlite { path = 'users.db', table = 'users', columns = { { 'id', 'text', key = true }, { 'email', 'text' } } },
}"
t "the users stream: every user over two pages, then only what changed"
vrun "$WORK/users.lua"
expect_rc 0
expect_eq "$(sql "$DATA/users.db" "SELECT count(*), min(email) FROM users")" "130|user100@customer.example"
vrun "$WORK/users.lua"
expect_in "$out" "extracted 0"

# ---------------------------------------------------------------------------
t "a 401 is class auth; the key (or its Basic form) appears in no output, log or file of the data dir"
ctl touch '{"id":"EXT-030","traits":{"vitally.custom.tier":"gold"}}' >/dev/null
ctl fail '{"status":401,"times":1}' >/dev/null
vrun "$EXAMPLE" --log-level debug
expect_in "$out$err" "auth"
expect_in "$out$err" "vitally GET /resources/accounts: 401 Unauthorized (check the API key"
B64=$(printf '%s:' "$KEY" | base64 -w0)
expect_not_in "$out$err" "$KEY"
expect_not_in "$out$err" "$B64"
grep -rqaF -e "$KEY" -e "$B64" "$DATA" && fail "the key is in the data dir: $(grep -rlaF -e "$KEY" -e "$B64" "$DATA")"

t "a 403 is class permission"
ctl fail '{"status":403,"times":1}' >/dev/null
run_ferry resume vitally-accounts -c "$CONF" >/dev/null
vrun "$EXAMPLE"
expect_in "$out$err" "permission"
expect_in "$out$err" "403 Forbidden (the key lacks access"

t "a 429 storm: the run still succeeds, and no retry came sooner than Vitally's RateLimit-Reset said"
run_ferry resume vitally-accounts -c "$CONF" >/dev/null
ctl touch '{"id":"EXT-031","traits":{"vitally.custom.tier":"gold"}}' >/dev/null
ctl ratelimit '{"times":3,"reset":2}' >/dev/null
before=$(nreq)
vrun "$EXAMPLE"
expect_rc 0
expect_in "$out" "quarantined 0"
gaps=$(fake_py "[round(b['t'] - a['t'], 3) for a, b in zip(R[$before:], R[$before + 1:$before + 4])]")
expect_eq "$(fake_py "len(R) - $before")" "4" "three 429s, then the page"
expect_eq "$(python3 -c "print(all(g >= 2.0 for g in $gaps))")" "True" "gaps after each 429: $gaps"

done_t
