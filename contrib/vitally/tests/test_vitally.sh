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
  integrations = {
    ["vitally-accounts"] = { secrets = { "VITALLY_API_KEY" } },
    ["v-renewing"] = { secrets = { "VITALLY_API_KEY" } },
    ["v-write"] = { secrets = { "VITALLY_API_KEY" } },
    ["v-tier"] = { secrets = { "VITALLY_API_KEY" } },
    ["v-lookup"] = { secrets = { "VITALLY_API_KEY" } },
    ["v-keys"] = { secrets = { "VITALLY_API_KEY" } },
    ["v-names"] = { secrets = { "VITALLY_API_KEY" } },
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

# the shipped example, pointed at the fake
sed "s|subdomain = \"acme\",|base_url = \"$V\",|" "$ROOT/contrib/vitally/example.lua" >"$WORK/example.lua"

# ---------------------------------------------------------------------------
t "the shipped example passes ferry check"
[ -s "$WORK/vitally.port" ] || fail "the fake did not start: $(cat "$WORK/fake.out")"
run_ferry check "$ROOT/contrib/vitally/example.lua"
expect_rc 0
expect_in "$out" "ok: vitally-accounts (reporting, owner cs-ops@example.com"

t "run 1 reads every account over three pages, newest change first, with Basic auth (the key as user)"
vrun "$WORK/example.lua"
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
vrun "$WORK/example.lua"
expect_rc 0
expect_in "$out" "extracted 2 · transformed 2 · skipped 0 · loaded 2"
expect_eq "$(fake_py "len(R) - $before")" "1" "one request"
expect_eq "$(sql "$DATA/vitally.db" "SELECT external_id, tier FROM accounts WHERE account_id IN ('acc-0010', 'acc-0020') ORDER BY 1")" \
"EXT-010|gold
EXT-020|bronze"

t "run 3 with nothing changed reads one page and loads nothing"
vrun "$WORK/example.lua"
expect_rc 0
expect_in "$out" "extracted 0"

done_t
