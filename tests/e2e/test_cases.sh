#!/usr/bin/env bash
# The essay's three workflow cases (issue 17), end to end: the shipped
# scripts/ (unedited) run with `ferry run`, `ferry events add` and `ferry
# serve` against the connectors' own fakes (contrib/*/tests/fake_*.py), the
# config's http.rewrite sending the vendors' production URLs to them. Checks
# what the fakes hold and were sent, the reporting table, and the quarantine.
. "$(dirname "$0")/lib.sh"

export JIRA_API_TOKEN=jira-cases-token-8b1e4f0c27 VITALLY_API_KEY=sk_vitally_cases_3d9a71
export HUBSPOT_TOKEN=pat-na1-cases-4e2b9c10-77aa JIRA_HOOK_SECRET=jira-hook-cases-5c0e1b9f
DATA=$WORK/data
unset FERRY_DATA_DIR

# start_fake NAME SCRIPT ARGS...: a connector's fake on 127.0.0.1, port 0;
# sets the variable NAME to its base URL.
start_fake() {
    local name=$1 script=$2
    shift 2
    python3 "$ROOT/contrib/$script" --port-file "$WORK/$name.port" "$@" >"$WORK/$name.log" 2>&1 &
    _bg_pids+=($!)
    for _ in $(seq 1 200); do [ -s "$WORK/$name.port" ] && break; sleep 0.05; done
    printf -v "$name" 'http://127.0.0.1:%s' "$(cat "$WORK/$name.port" 2>/dev/null)"
}
start_fake JIRA jira/tests/fake_jira.py --port 0 --email ferry-bot@acme.com --token "$JIRA_API_TOKEN"
start_fake VITALLY vitally/tests/fake_vitally.py --key "$VITALLY_API_KEY"
start_fake HUBSPOT hubspot/tests/fake_hubspot.py --token "$HUBSPOT_TOKEN"

CONF=$WORK/cases.lua
cat >"$CONF" <<CONFEOF
return {
  data_dir = "$DATA", script_dirs = { "$ROOT/scripts" },
  admin = { listen = "127.0.0.1:0" }, hooks = { listen = "127.0.0.1:0" },
  http = { rewrite = { ["https://acme.atlassian.net"] = "$JIRA", ["https://acme.rest.vitally.io"] = "$VITALLY",
                       ["https://api.hubapi.com"] = "$HUBSPOT" } },
  integrations = {
    ["tier-on-ticket"] = { secrets = { "JIRA_API_TOKEN", "VITALLY_API_KEY", "JIRA_HOOK_SECRET" } },
    ["tier-on-ticket-reconcile"] = { secrets = { "JIRA_API_TOKEN", "VITALLY_API_KEY" } },
    ["renewal-ticket-counts"] = { secrets = { "JIRA_API_TOKEN", "VITALLY_API_KEY" } },
    ["hubspot-accounts"] = { secrets = { "HUBSPOT_TOKEN", "JIRA_API_TOKEN" } },
  },
}
CONFEOF
fr() { run_ferry "$@" -c "$CONF"; }
post() { curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data "$3" "$1/__fake/$2"; }
# jira_py EXPR: over R (requests: method, path, query, body, status), I
# (issues by key) and F(key) (its Tier and Health values)
jira_py() {
    python3 - "$JIRA" "$1" <<'PYEOF' 2>&1
import json, sys, urllib.request
get = lambda p: json.load(urllib.request.urlopen(sys.argv[1] + p))
R = get("/__fake/requests")
I = {i["key"]: i for i in get("/__fake/issues")}
F = lambda k: tuple((I[k]["fields"].get(f) or {}).get("value") for f in ("customfield_10050", "customfield_10051"))
print(eval(sys.argv[2]))
PYEOF
}
# vitally_py EXPR: over A (accounts by externalId) and R (requests)
vitally_py() {
    python3 - "$VITALLY" "$1" <<'PYEOF' 2>&1
import json, sys, urllib.request
get = lambda p: json.load(urllib.request.urlopen(sys.argv[1] + p))
A = {a["externalId"]: a for a in get("/__fake/accounts")}
R = get("/__fake/requests")
print(eval(sys.argv[2]))
PYEOF
}
qpy() { quarantine_py "$DATA" "$1" "$2"; }

# ---------------------------------------------------------------------------
# The sample: Jira's Tier and Health select fields (Health has no "Red"),
# five customers in JSM organisations, four of them with a Vitally account.
ISO_NOW=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
in_days() { date -u -d "+$1 days" +%Y-%m-%dT00:00:00.000Z; }
post "$JIRA" fields '[{"id": "customfield_10050", "name": "Tier", "options": ["Bronze", "Silver", "Gold"]},
  {"id": "customfield_10051", "name": "Health", "options": ["Green", "Yellow"]},
  {"id": "customfield_10002", "name": "Organizations", "schema": {"type": "array", "items": "sd-customerorganization", "custom": "com.atlassian.servicedesk:sd-customer-organizations"}}]' >/dev/null
post "$JIRA" users '[{"accountId": "557058:ana", "accountType": "atlassian", "displayName": "Ana Silva", "emailAddress": "ana.silva@acme.com", "active": true},
  {"accountId": "557058:ben", "accountType": "atlassian", "displayName": "Ben Okafor", "emailAddress": "ben.okafor@acme.com", "active": true}]' >/dev/null
post "$JIRA" organizations '[{"id": "1", "name": "Acme Corp", "members": ["qm:c1"]}, {"id": "2", "name": "Globex", "members": ["qm:c2"]},
  {"id": "3", "name": "Initech", "members": ["qm:c3"]}, {"id": "4", "name": "Umbrella", "members": ["qm:c4"]},
  {"id": "5", "name": "Hooli", "members": ["qm:c5"]}]' >/dev/null
jissue() {  # jissue KEY REPORTER ORG [STATUS [PRIORITY]]
    local cat="To Do"; [ "${4:-Open}" = Done ] && cat=Done
    printf '{"key": "%s", "fields": {"summary": "Ticket %s", "reporter": {"accountId": "%s"}, "status": {"name": "%s", "statusCategory": {"name": "%s"}}, "priority": {"name": "%s"}, "customfield_10002": [{"id": "0", "name": "%s"}], "labels": []}}' \
        "$1" "$1" "$2" "${4:-Open}" "$cat" "${5:-Medium}" "$3"
}
post "$JIRA" issues "[$(jissue SUP-1 qm:c1 'Acme Corp'), $(jissue SUP-2 qm:c2 Globex Open High), $(jissue SUP-3 qm:c3 Initech),
  $(jissue SUP-4 qm:c4 Umbrella), $(jissue SUP-5 qm:c5 Hooli), $(jissue SUP-6 qm:c1 'Acme Corp' Open Highest),
  $(jissue SUP-7 qm:c1 'Acme Corp' Done)]" >/dev/null
vacct() {  # vacct ID EXTERNAL NAME TIER HEALTH RENEWAL
    printf '{"id": "%s", "externalId": "%s", "name": "%s", "createdAt": "2026-01-05T09:00:00.000Z", "updatedAt": "%s", "traits": {"vitally.custom.tier": "%s"}, "healthScore": %s, "nextRenewalDate": %s, "segments": [], "churnedAt": null}' \
        "$1" "$2" "$3" "$ISO_NOW" "$4" "$5" "$6"
}
CF='{"id": "cf-1", "createdAt": "2026-01-01T00:00:00.000Z", "label": "Tier", "path": "vitally.custom.tier", "type": "select",
     "options": [{"label": "Gold", "value": "gold"}, {"label": "Silver", "value": "silver"}, {"label": "Bronze", "value": "bronze"}]},
    {"id": "cf-2", "createdAt": "2026-01-01T00:00:00.000Z", "label": "Open tickets", "path": "vitally.custom.openTickets", "type": "number"},
    {"id": "cf-3", "createdAt": "2026-01-01T00:00:00.000Z", "label": "Escalated tickets", "path": "vitally.custom.escalatedTickets", "type": "number"}'
post "$VITALLY" seed "{\"accounts\": [$(vacct v-1 ACME-001 'Acme Corp' gold 8.2 "\"$(in_days 30)\""),
  $(vacct v-2 GLOBEX-002 Globex silver 2.5 "\"$(in_days 60)\""), $(vacct v-3 INITECH-003 Initech bronze 1.0 "\"$(in_days 200)\""),
  $(vacct v-5 HOOLI-005 Hooli gold 5.0 null)], \"customFields\": [$CF]}" >/dev/null

# hook_body EVENT KEY REPORTER: a Jira issue webhook body
hook_body() {
    printf '{"timestamp": 1796461200000, "webhookEvent": "%s", "user": {"accountId": "557058:ana"}, "issue": {"id": "1", "key": "%s", "fields": {"summary": "Ticket %s", "reporter": {"accountId": "%s"}}}}' \
        "$1" "$2" "$2" "$3"
}

# ---------------------------------------------------------------------------
t "the cases' scripts pass ferry check as shipped; case 1 is under 60 lines"
[ -s "$WORK/JIRA.port" ] && [ -s "$WORK/VITALLY.port" ] && [ -s "$WORK/HUBSPOT.port" ] ||
    fail "a fake did not start: $(cat "$WORK"/*.log)"
for s in tier_on_ticket tier_on_ticket_reconcile; do
    fr check "$ROOT/scripts/$s.lua"
    expect_rc 0
done
[ "$(wc -l <"$ROOT/scripts/tier_on_ticket.lua")" -lt 60 ] || fail "scripts/tier_on_ticket.lua has 60 lines or more"

t "case 1: issue-created events added by hand; one ferry run writes tier and health onto the issue"
for ev in "jira:issue_created SUP-1 qm:c1" "jira:issue_created SUP-2 qm:c2" "jira:issue_created SUP-3 qm:c3" \
          "jira:issue_created SUP-4 qm:c4" "jira:issue_updated SUP-1 qm:c1"; do
    set -- $ev
    hook_body "$1" "$2" "$3" >"$WORK/body.json"
    fr events add tier-on-ticket --delivery-id "d-$2-$1" <"$WORK/body.json"
    expect_rc 0
done
expect_in "$out" "added to the inbox of tier-on-ticket (hook jira-issues)"
fr run tier-on-ticket
expect_rc 3
expect_eq "$(jira_py 'F("SUP-1")')" "('Gold', 'Green')" "Acme Corp: gold, health 8.2"
expect_eq "$(jira_py '[r["path"] for r in R if r["method"] == "PUT"]')" "['/rest/api/3/issue/SUP-1']"
expect_in "$out" 'picklist jira_health: unknown value "Red" (quarantined) (2 records)'
expect_in "$out" "quarantined by class: picklist_drift 2, lookup_missing 1"
expect_in "$out" 'lookup vitally_account_names: no match for "umbrella" (retried on later runs)'

t "case 1: drift and a missing account are quarantined with their class and reason"
expect_eq "$(qpy tier-on-ticket '[(r["class"], r["status"]) for r in L]')" \
    "[('picklist_drift', 'open'), ('picklist_drift', 'open'), ('lookup_missing', 'open')]"
expect_in "$(qpy tier-on-ticket 'L[0]["reason"]')" 'unknown value "Red"'
expect_in "$(qpy tier-on-ticket 'L[2]["reason"]')" 'no match for "umbrella"'
fr events tier-on-ticket --json
expect_eq "$(python3 -c 'import json,sys; print(sorted(e["status"] for e in json.load(sys.stdin)))' <<<"$out")" \
    "['done', 'done', 'failed', 'failed', 'failed']"

t "case 1 under ferry serve: a webhook signed as Jira signs it (websub) is written within the run it starts"
SVC=$WORK/svc
mkdir -p "$SVC/scripts"
ln -s "$ROOT/scripts/tier_on_ticket.lua" "$SVC/scripts/tier_on_ticket.lua"     # the shipped script, alone
sed "s|data_dir = \"$DATA\", script_dirs = { \"$ROOT/scripts\" }|data_dir = \"$SVC/data\", script_dirs = { \"scripts\" }|" \
    "$CONF" >"$SVC/ferry.lua"
start_serve "$SVC" ferry.lua
HOOKS=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["hooks"])' "$SVC/data/serve.json" 2>&1)
signed() {  # signed BODY [SECRET]: POST it to the hook with Jira's X-Hub-Signature; sets code
    local sig
    sig=$(printf '%s' "$1" | openssl dgst -sha256 -hmac "${2:-$JIRA_HOOK_SECRET}" -r | cut -d' ' -f1)
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        -H "X-Hub-Signature: sha256=$sig" -H "X-Atlassian-Webhook-Identifier: $RANDOM$RANDOM" \
        --data "$1" "http://$HOOKS/hooks/jira-issues")
}
signed "$(hook_body jira:issue_created SUP-5 qm:c5)" not-the-secret
expect_eq "$code" 401 "a body signed with another secret is refused"
signed "$(hook_body jira:issue_created SUP-5 qm:c5)"
expect_eq "$code" 202
wait_until 20 'test "$(sql "$SVC/data/ferry.db" "SELECT status FROM events")" = done'
expect_eq "$(jira_py 'F("SUP-5")')" "('Gold', 'Yellow')" "Hooli: gold, health 5.0"
stop_serve

t "case 1: the hourly reconcile writes open issues whose values differ, and skips those already right"
post "$VITALLY" seed "{\"accounts\": [$(vacct v-1 ACME-001 'Acme Corp' gold 8.2 "\"$(in_days 30)\""),
  $(vacct v-2 GLOBEX-002 Globex silver 2.5 "\"$(in_days 60)\""), $(vacct v-3 INITECH-003 Initech bronze 1.0 "\"$(in_days 200)\""),
  $(vacct v-4 UMBRELLA-004 Umbrella silver 7.5 null), $(vacct v-5 HOOLI-005 Hooli gold 5.0 null)], \"customFields\": [$CF]}" >/dev/null
curl -s -X POST "$JIRA/__fake/reset-requests" >/dev/null
fr run tier-on-ticket-reconcile
expect_rc 3
expect_eq "$(jira_py 'sorted(r["path"][len("/rest/api/3/issue/"):] for r in R if r["method"] == "PUT")')" "['SUP-4', 'SUP-6']" \
    "SUP-1 and SUP-5 already right, SUP-2 and SUP-3 drift, SUP-7 is done"
expect_eq "$(jira_py '(F("SUP-4"), F("SUP-6"))')" "(('Silver', 'Green'), ('Gold', 'Green'))"
expect_in "$out" 'picklist jira_health: unknown value "Red" (quarantined) (2 records)'
expect_in "$out" "skipped 2"

t "case 1's reconcile: the next run reads only issues updated since; Acme's new health is written on its issues"
post "$VITALLY" seed "{\"accounts\": [$(vacct v-1 ACME-001 'Acme Corp' gold 4.5 "\"$(in_days 30)\""),
  $(vacct v-2 GLOBEX-002 Globex silver 2.5 "\"$(in_days 60)\""), $(vacct v-3 INITECH-003 Initech bronze 1.0 "\"$(in_days 200)\""),
  $(vacct v-4 UMBRELLA-004 Umbrella silver 7.5 null), $(vacct v-5 HOOLI-005 Hooli gold 5.0 null)], \"customFields\": [$CF]}" >/dev/null
post "$JIRA" touch '{"key": "SUP-1"}' >/dev/null
curl -s -X POST "$JIRA/__fake/reset-requests" >/dev/null
fr run tier-on-ticket-reconcile
# read again: SUP-1 (edited in Jira), SUP-4 and SUP-6 (written by the last run), not SUP-2, 3, 5
expect_in "$out" "extracted 3 · transformed 2 · skipped 1 · loaded 2"
expect_eq "$(jira_py 'sorted(r["path"][len("/rest/api/3/issue/"):] for r in R if r["method"] == "PUT")')" "['SUP-1', 'SUP-6']"
expect_eq "$(jira_py '(F("SUP-1"), F("SUP-6"))')" "(('Gold', 'Yellow'), ('Gold', 'Yellow'))"

t "case 1: the event whose account was missing is replayed from the quarantine once the account exists"
fr quarantine replay tier-on-ticket --class lookup_missing
expect_rc 0
expect_eq "$(qpy tier-on-ticket '[(r["class"], r["status"]) for r in L]')" \
    "[('picklist_drift', 'open'), ('picklist_drift', 'open'), ('lookup_missing', 'resolved')]"
done_t

# ---------------------------------------------------------------------------
t "case 3: HubSpot companies into the reporting table with their owner's Jira user; an owner without one is lookup_missing"
fr check "$ROOT/scripts/hubspot_accounts.lua"
expect_rc 0
curl -s -X POST --data '{"owners": [{"id": "501", "email": "Ana.Silva@acme.com"}, {"id": "502", "email": "carla.diaz@acme.com"}],
  "companies": [
  {"properties": {"name": "Acme Corp", "domain": "acme.example", "hubspot_owner_id": "501"}, "modified": "2026-11-02T10:00:00Z"},
  {"properties": {"name": "Globex", "domain": "globex.example", "hubspot_owner_id": "502"}, "modified": "2026-11-02T11:00:00Z"},
  {"properties": {"name": "Initech", "domain": "initech.example"}, "modified": "2026-11-02T12:00:00Z"},
  {"properties": {"name": "Hooli", "domain": "hooli.example", "hubspot_owner_id": "502"}, "modified": "2026-11-02T13:00:00Z"}]}' \
  "$HUBSPOT/__fake/seed" >/dev/null
fr run hubspot-accounts
expect_rc 3
expect_eq "$(sql "$DATA/reporting.db" "SELECT name, owner_email, owner_jira_account FROM hubspot_accounts ORDER BY name")" \
"Acme Corp|Ana.Silva@acme.com|557058:ana
Initech||"
expect_eq "$(qpy hubspot-accounts '[(r["record"]["name"], r["class"], r["status"]) for r in L]')" \
    "[('Globex', 'lookup_missing', 'open'), ('Hooli', 'lookup_missing', 'open')]"
expect_in "$(qpy hubspot-accounts 'L[0]["reason"]')" 'lookup jira_users: no match for "carla.diaz@acme.com"'
expect_in "$out" 'lookup jira_users: no match for "carla.diaz@acme.com"'

t "case 3: once Carla has a Jira user, the next run loads her companies from the quarantine by itself"
post "$JIRA" users '[{"accountId": "557058:ana", "accountType": "atlassian", "displayName": "Ana Silva", "emailAddress": "ana.silva@acme.com", "active": true},
  {"accountId": "557058:carla", "accountType": "atlassian", "displayName": "Carla Diaz", "emailAddress": "carla.diaz@acme.com", "active": true}]' >/dev/null
fr run hubspot-accounts
expect_rc 0
expect_in "$out" "retried from the quarantine: 2 (2 resolved, 0 still failing)"
expect_eq "$(sql "$DATA/reporting.db" "SELECT name, owner_jira_account FROM hubspot_accounts ORDER BY name")" \
"Acme Corp|557058:ana
Globex|557058:carla
Hooli|557058:carla
Initech|"
expect_eq "$(qpy hubspot-accounts '[r["status"] for r in L]')" "['resolved', 'resolved']"
done_t

# ---------------------------------------------------------------------------
# Jira now holds, open: SUP-1 (Acme, Medium), SUP-6 (Acme, Highest), SUP-2
# (Globex, High), SUP-3, 4, 5; done: SUP-7 (Acme). Renewing within 90 days:
# Acme Corp (30 days) and Globex (60); Initech renews in 200, the others never.
t "case 2: accounts renewing in 90 days get their open and escalated Jira tickets counted onto them"
fr check "$ROOT/scripts/renewal_ticket_counts.lua"
expect_rc 0
fr run renewal-ticket-counts
expect_rc 0
expect_in "$out" "extracted 2 · transformed 2 · skipped 0 · loaded 2"
counts='[(k, A[k]["traits"].get("vitally.custom.openTickets"), A[k]["traits"].get("vitally.custom.escalatedTickets")) for k in sorted(A)]'
expect_eq "$(vitally_py "$counts")" \
    "[('ACME-001', 2, 1), ('GLOBEX-002', 1, 1), ('HOOLI-005', None, None), ('INITECH-003', None, None), ('UMBRELLA-004', None, None)]"
expect_eq "$(vitally_py 'sorted(r["path"] for r in R if r["method"] == "PUT")')" \
    "['/resources/accounts/v-1', '/resources/accounts/v-2']"

t "case 2: the next hour writes only the counts that changed (an escalated ticket closed)"
post "$JIRA" touch '{"key": "SUP-6", "fields": {"status": {"name": "Done", "statusCategory": {"name": "Done"}}}}' >/dev/null
fr run renewal-ticket-counts
expect_rc 0
expect_in "$out" "extracted 2 · transformed 1 · skipped 1 · loaded 1"
expect_eq "$(vitally_py "$counts")" \
    "[('ACME-001', 1, 0), ('GLOBEX-002', 1, 1), ('HOOLI-005', None, None), ('INITECH-003', None, None), ('UMBRELLA-004', None, None)]"
expect_eq "$(vitally_py '[r["path"] for r in R if r["method"] == "PUT"][2:]')" "['/resources/accounts/v-1']"

t "case 2: an account Vitally refuses (400) is quarantined as validation with Vitally's message; the other is written"
post "$VITALLY" seed "{\"accounts\": [$(vacct v-1 ACME-001 'Acme Corp' gold 4.5 "\"$(in_days 30)\""),
  $(vacct v-2 GLOBEX-002 Globex silver 2.5 "\"$(in_days 60)\"")], \"customFields\": [$CF]}" >/dev/null
post "$VITALLY" fail '{"status": 400, "times": 1, "path": "/resources/accounts/v-2"}' >/dev/null
fr run renewal-ticket-counts
expect_rc 3
expect_eq "$(vitally_py "$counts")" "[('ACME-001', 1, 0), ('GLOBEX-002', None, None)]"
expect_eq "$(qpy renewal-ticket-counts '[(r["record"]["name"], r["class"], r["stage"]) for r in L]')" "[('Globex', 'validation', 'load')]"
expect_in "$(qpy renewal-ticket-counts 'L[0]["reason"]')" "vitally PUT /resources/accounts/v-2: 400"

t "the vendors' keys never reach the data directory"
for k in "$JIRA_API_TOKEN" "$VITALLY_API_KEY" "$HUBSPOT_TOKEN" "$JIRA_HOOK_SECRET"; do
    grep -rqa -- "$k" "$DATA" "$WORK/svc/data" && fail "a key is in the data dir"
done
done_t

t "make run's cases (scripts/demo/run_cases.sh) start the fakes, run the three cases, print their summaries"
out=$(cd "$WORK" && CASES_DIR=$WORK/demo bash "$ROOT/scripts/demo/run_cases.sh" "$FERRY" 2>"$WORK/demo.err")
rc=$?
expect_rc 0
for n in tier-on-ticket tier-on-ticket-reconcile renewal-ticket-counts hubspot-accounts; do expect_in "$out" "== $n  run "; done
expect_in "$out" "Jira now: SUP-101 Tier=Gold Health=Green"
expect_in "$out" "Vitally now: Acme Corp open=2 escalated=2, Globex open=1 escalated=0"
expect_in "$out" 'lookup jira_users: no match for "carla.diaz@acme.com"'
grep -qE 'AddressSanitizer|runtime error:' "$WORK/demo.err" && fail "sanitizer report: $(cat "$WORK/demo.err")"
[ -e "$ROOT/data/cases" ] && [ "$ROOT/data/cases" -nt "$WORK" ] && fail "it wrote into the tree despite CASES_DIR"
done_t
