#!/usr/bin/env bash
# contrib/jira end to end: scripts that require the connector, run with
# `ferry run` against a fake Jira Cloud site (tests/fake_jira.py, Python
# standard library, 127.0.0.1). Checks the rows loaded, what the fake holds
# and was sent, the quarantine (class and Jira's own message), checkpoints
# across runs, a bad token, a 429 storm, picklists and the email lookup.
. "$(dirname "$0")/../../../tests/e2e/lib.sh"

HERE=$ROOT/contrib/jira
export JIRA_API_TOKEN=jira-test-token-3f9c2e7a41
EMAIL=ferry-bot@example.com
DATA=$WORK/data
unset FERRY_DATA_DIR

python3 "$HERE/tests/fake_jira.py" --port 0 --port-file "$WORK/jira.port" --email "$EMAIL" \
    --token "$JIRA_API_TOKEN" >"$WORK/fake.log" 2>&1 &
_bg_pids+=($!)
for _ in $(seq 1 200); do [ -s "$WORK/jira.port" ] && break; sleep 0.05; done
JIRA=http://127.0.0.1:$(cat "$WORK/jira.port" 2>/dev/null)

NAMES="jira-all jira-issues jira-write jira-owners jira-tiers jira-counts jira-orgs jira-hooks jira-issues-report"
{
    echo "return { data_dir = \"$DATA\", integrations = {"
    for n in $NAMES; do echo "  [\"$n\"] = { secrets = { \"JIRA_API_TOKEN\" } },"; done
    echo "} }"
} >"$WORK/ferry.lua"

ctl() { curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data "$2" "$JIRA/__fake/$1"; }
# fake_py EXPR: over R (the API requests the fake got: method, path, query,
# body (text), status, t), B(r) (a request's body parsed) and I (its issues by key)
fake_py() {
    python3 - "$JIRA" "$1" <<'EOF' 2>&1
import json, sys, urllib.request
get = lambda p: json.load(urllib.request.urlopen(sys.argv[1] + p))
R = get("/__fake/requests")
I = {i["key"]: i for i in get("/__fake/issues")}
B = lambda r: json.loads(r["body"]) if r["body"] else None
print(eval(sys.argv[2]))
EOF
}
frun() { run_ferry run "$WORK/$1.lua" -c "$WORK/ferry.lua"; }
qpy() { quarantine_py "$DATA" "$1" "$2"; }
# jira_script NAME BODY: a script named NAME that connects to the fake as `site`
jira_script() {
    cat >"$WORK/$1.lua" <<EOF
local jira = require "contrib.jira"
local site = jira.connect { base_url = "$JIRA", email = "$EMAIL",
                            retry = { attempts = 4, base = "100ms", max = "10s" } }
$2
EOF
}
HDR='owner = "qa@example.com", purpose = "test", source_of_truth = "jira", freshness = "1h",'

# The site: two select fields, JSM's Organizations field, users (one hides
# its email), issues in Berlin time, three organisations.
[ -s "$WORK/jira.port" ] || fail "the fake did not start: $(cat "$WORK/fake.log")"
ctl timezone '{"timeZone": "Europe/Berlin"}' >/dev/null
ctl fields '[{"id": "customfield_10050", "name": "Tier", "options": ["Bronze", "Silver", "Gold", "Legacy"], "disabled": ["Legacy"]},
             {"id": "customfield_10051", "name": "Health", "options": ["Green", "Yellow", "Red"]},
             {"id": "customfield_10002", "name": "Organizations", "schema": {"type": "array", "items": "sd-customerorganization", "custom": "com.atlassian.servicedesk:sd-customer-organizations"}}]' >/dev/null
ctl users '[{"accountId": "5b10a2844c20165700ede21g", "accountType": "atlassian", "displayName": "Ana Silva", "emailAddress": "ana.silva@example.com", "active": true},
            {"accountId": "5b10ac8d82e05b22cc7d4ef5", "accountType": "atlassian", "displayName": "Ben Okafor", "active": true},
            {"accountId": "qm:app:1", "accountType": "app", "displayName": "Automation", "emailAddress": "bot@example.com", "active": true},
            {"accountId": "70121:cust-1", "accountType": "customer", "displayName": "A customer", "emailAddress": "carla@example.com", "active": true}]' >/dev/null
issue() {  # issue KEY MINUTE [STATUS [PRIORITY [ORG [LABELS]]]]
    printf '{"key": "%s", "fields": {"summary": "Ticket %s", "updated": "2026-12-01T11:%02d:00.000+0100", "status": {"name": "%s", "statusCategory": {"name": "%s"}}, "priority": {"name": "%s"}, "customfield_10002": [{"id": "1", "name": "%s"}], "labels": %s}}' \
        "$1" "$1" "$2" "${3:-Open}" "$([ "${3:-Open}" = Done ] && echo Done || echo 'To Do')" "${4:-Medium}" "${5:-Acme}" "${6:-[]}"
}
ctl issues "[$(issue SUP-1 0), $(issue SUP-2 1 Open Highest), $(issue SUP-3 2 Done), $(issue SUP-4 3 Open High Globex '["escalated"]'), $(issue SUP-5 4 Open Medium Globex), $(issue OPS-1 5)]" >/dev/null
ctl organizations '[{"id": "1", "name": "Acme", "members": ["70121:cust-1"]}, {"id": "2", "name": "Globex", "members": []}, {"id": "3", "name": "Initech", "members": ["70121:cust-1"]}]' >/dev/null

# ---------------------------------------------------------------------------
t "the example passes ferry check"
run_ferry check "$HERE/example.lua" -c "$WORK/ferry.lua"
expect_rc 0
expect_in "$out" "ok: jira-issues-report"

t "the example reads issues into its table"
sed "s|https://acme.atlassian.net|$JIRA|; s|ferry-bot@acme.example|$EMAIL|" "$HERE/example.lua" >"$WORK/example.lua"
frun example
expect_rc 0
expect_eq "$(sql "$DATA/jira.db" "SELECT key, status, priority FROM issues ORDER BY key")" \
"SUP-1|Open|Medium
SUP-2|Open|Highest
SUP-3|Done|Medium
SUP-4|Open|High
SUP-5|Open|Medium"

jira_script jira-issues "return ferry.integration { name = \"jira-issues\", $HDR pattern = \"reporting\",
  expect = { min_records = 0 },
  extract = site:stream(\"issues\", { jql = \"project = SUP\", fields = { \"summary\" }, page_size = 2 }),
  transform = function(i) return { key = i.key, summary = i.fields.summary, updated = i.fields.updated } end,
  load = ferry.sink.sqlite { path = \"issues.db\", table = \"issues\",
    columns = { { \"key\", \"text\", key = true }, { \"summary\", \"text\" }, { \"updated\", \"text\" } } } }"

t "issues: every page read with nextPageToken, the JQL ordered by updated, updated asked for"
ctl reset-requests '{}' >/dev/null
frun jira-issues
expect_rc 0
expect_eq "$(sql "$DATA/issues.db" "SELECT group_concat(key) FROM (SELECT key FROM issues ORDER BY key)")" "SUP-1,SUP-2,SUP-3,SUP-4,SUP-5"
expect_eq "$(fake_py '[(B(r)["jql"], B(r).get("nextPageToken") is not None, B(r)["maxResults"], B(r)["fields"]) for r in R if r["path"] == "/rest/api/3/search/jql"]')" \
    "[('(project = SUP) ORDER BY updated ASC, key ASC', False, 2, ['summary', 'updated']), ('(project = SUP) ORDER BY updated ASC, key ASC', True, 2, ['summary', 'updated']), ('(project = SUP) ORDER BY updated ASC, key ASC', True, 2, ['summary', 'updated'])]"
expect_eq "$(fake_py '[r["method"] + " " + r["path"] for r in R if "search" in r["path"] and r["path"] != "/rest/api/3/search/jql"]')" "[]" \
    "the old /rest/api/3/search is never used"

t "issues: a second run asks from the cursor in the user's time zone and emits only the issue edited since"
ctl reset-requests '{}' >/dev/null
ctl touch '{"key": "SUP-3", "fields": {"summary": "Ticket SUP-3, edited"}}' >/dev/null
frun jira-issues
expect_rc 0
expect_in "$out" "extracted 1 "
# the cursor was SUP-5's 11:04 Berlin (10:04 UTC); 5 minutes of overlap, minute precision, Berlin wall clock
expect_eq "$(fake_py '[B(r)["jql"] for r in R if r["path"] == "/rest/api/3/search/jql"][0]')" \
    '(project = SUP) AND updated >= "2026-12-01 10:59" ORDER BY updated ASC, key ASC'
expect_eq "$(fake_py '[r["path"] for r in R if r["path"] == "/rest/api/3/myself"]')" "['/rest/api/3/myself']"
expect_eq "$(sql "$DATA/issues.db" "SELECT summary FROM issues WHERE key = 'SUP-3'")" "Ticket SUP-3, edited"

t "issues: a run with nothing new emits nothing (the overlap is deduplicated)"
frun jira-issues
expect_rc 0
expect_in "$out" "extracted 0 "

t "issues without jql: the first query is still bounded (the enhanced search refuses an unbounded one)"
jira_script jira-all "return ferry.integration { name = \"jira-all\", $HDR pattern = \"reporting\",
  extract = site:stream(\"issues\", { fields = { \"summary\" } }),
  load = ferry.sink.sqlite { path = \"all.db\", table = \"issues\", columns = { { \"key\", \"text\", key = true } } },
  transform = function(i) return { key = i.key } end }"
ctl reset-requests '{}' >/dev/null
frun jira-all
expect_rc 0
expect_eq "$(sql "$DATA/all.db" "SELECT count(*) FROM issues")" "6"
expect_eq "$(fake_py '[(B(r)["jql"], r["status"]) for r in R if r["path"].endswith("/jql")]')" \
    "[('updated >= \"1970-01-01 00:00\" ORDER BY updated ASC, key ASC', 200)]"

t "a wrong API token: class auth, and the token appears nowhere"
ctl reset-requests '{}' >/dev/null
JIRA_API_TOKEN=wrong-token-e81d77c2b9 run_ferry run "$WORK/jira-issues.lua" -c "$WORK/ferry.lua"
[ "$rc" -ne 0 ] || fail "the run succeeded with a wrong token"
expect_in "$out$err" "extract: auth: Jira GET /rest/api/3/myself: HTTP 401: Client must be authenticated to access this resource."
grep -rqa "wrong-token-e81d77c2b9" "$DATA" && fail "the token is in the data dir"
grep -qa "wrong-token-e81d77c2b9" <<<"$out$err" && fail "the token is in the output"
expect_eq "$(fake_py '[r["status"] for r in R]')" "[401]"
expect_in "$(cd "$WORK" && "$FERRY" resume jira-issues -c "$WORK/ferry.lua" 2>&1)" "jira-issues"

t "a 429 storm: the run succeeds, each retry no sooner than Retry-After said"
ctl reset-requests '{}' >/dev/null
ctl touch '{"key": "SUP-1"}' >/dev/null
ctl fail '{"status": 429, "times": 2, "retry_after": 2, "path": "/search/jql"}' >/dev/null
frun jira-issues
expect_rc 0
expect_in "$out" "extracted 1 "
expect_eq "$(fake_py '[r["status"] for r in R if r["path"] == "/rest/api/3/search/jql"]')" "[429, 429, 200]"
expect_eq "$(fake_py 'all(b["t"] - a["t"] >= 2.0 for a, b in zip([r for r in R if r["path"].endswith("/jql")], [r for r in R if r["path"].endswith("/jql")][1:]))')" "True"

t "a 429 without Retry-After: the client waits for X-RateLimit-Reset (an ISO 8601 minute), capped by retry.max"
ctl reset-requests '{}' >/dev/null
ctl touch '{"key": "SUP-2"}' >/dev/null
ctl fail '{"status": 429, "times": 1, "retry_after": "none", "reset_in": 60, "path": "/search/jql"}' >/dev/null
frun jira-issues
expect_rc 0
expect_in "$out" "extracted 1 "
# the reset is a minute or more ahead; the script's retry.max is 10s: no sooner than that (1s would be a misread)
expect_eq "$(fake_py '[r["status"] for r in R if r["path"].endswith("/jql")][:2]')" "[429, 200]"
expect_eq "$(fake_py '(lambda q: q[1]["t"] - q[0]["t"] >= 9.5)([r for r in R if r["path"].endswith("/jql")])')" "True"

# ---------------------------------------------------------------------------
jira_script jira-write "local batch = {
  { issue = \"SUP-1\", fields = { Tier = \"Gold\", Health = \"Green\" } },
  { issue = \"SUP-2\", fields = { Tier = \"Platinum\" } },
  { issue = \"SUP-4\", fields = { customfield_10051 = \"Red\" } },
  { issue = \"SUP-404\", fields = { Tier = \"Gold\" } },
  { issue = \"SUP-5\", fields = { Tierr = \"Gold\" } },
  { issue = \"../field?x=\", fields = { Tier = \"Gold\" } },
}
return ferry.integration { name = \"jira-write\", $HDR pattern = \"workflow\",
  extract = function(ctx) for _, r in ipairs(batch) do ctx:emit(r) end end,
  load = site:update_issues { concurrency = 2 } }"

t "update_issues: one PUT per issue with select values as {value}; refused ones quarantined with Jira's field message"
ctl reset-requests '{}' >/dev/null
frun jira-write
expect_rc 3
expect_eq "$(fake_py '(I["SUP-1"]["fields"]["customfield_10050"]["value"], I["SUP-1"]["fields"]["customfield_10051"]["value"], I["SUP-4"]["fields"]["customfield_10051"]["value"], "customfield_10050" in I["SUP-2"]["fields"])')" \
    "('Gold', 'Green', 'Red', False)"
expect_eq "$(fake_py 'sorted((r["path"], B(r)["fields"].get("customfield_10050")) for r in R if r["method"] == "PUT")')" \
    "[('/rest/api/3/issue/SUP-1', {'value': 'Gold'}), ('/rest/api/3/issue/SUP-2', {'value': 'Platinum'}), ('/rest/api/3/issue/SUP-4', None), ('/rest/api/3/issue/SUP-404', {'value': 'Gold'})]"
expect_eq "$(qpy jira-write '[(r["record"]["issue"], r["class"], r["reason"]) for r in L]')" \
    "[('SUP-2', 'validation', \"issue SUP-2: Jira PUT /rest/api/3/issue/SUP-2: HTTP 400: customfield_10050: Option value 'Platinum' is not valid\"), ('SUP-404', 'validation', 'issue SUP-404: Jira PUT /rest/api/3/issue/SUP-404: HTTP 404: Issue does not exist or you do not have permission to see it.'), ('SUP-5', 'validation', 'issue SUP-5: Jira has no field \"Tierr\" (GET /rest/api/3/field)'), ('../field?x=', 'validation', 'jira update: issue \"../field?x=\" is not an issue key or id')]"

# ---------------------------------------------------------------------------
jira_script jira-tiers "local tiers = site:picklist(\"Tier\", { ttl = \"0s\", synonyms = { Platinum = \"Gold\" } })
local rows = { { issue = \"SUP-1\", tier = \"platinum\" }, { issue = \"SUP-2\", tier = \"silver\" },
               { issue = \"SUP-4\", tier = \"Diamond\" }, { issue = \"SUP-5\", tier = \"Legacy\" } }
return ferry.integration { name = \"jira-tiers\", $HDR pattern = \"workflow\",
  extract = function(ctx) for _, r in ipairs(rows) do ctx:emit(r) end end,
  transform = function(r, ctx)
    local tier, err = tiers:match(r.tier, ctx)
    if not tier then return nil, err end
    return { issue = r.issue, fields = { Tier = tier } }
  end,
  load = site:update_issues() }"

t "picklist: the field's enabled options from its context; an unknown value is picklist_drift"
ctl reset-requests '{}' >/dev/null
frun jira-tiers
expect_rc 3
expect_eq "$(fake_py '(I["SUP-1"]["fields"]["customfield_10050"]["value"], I["SUP-2"]["fields"]["customfield_10050"]["value"])')" "('Gold', 'Silver')"
expect_eq "$(qpy jira-tiers '[(r["record"]["issue"], r["class"]) for r in L]')" "[('SUP-4', 'picklist_drift'), ('SUP-5', 'picklist_drift')]"
expect_in "$(qpy jira-tiers 'L[0]["reason"]')" 'unknown value "Diamond" (options: "Bronze", "Silver", "Gold")'
expect_eq "$(fake_py '[r["path"] for r in R if r["method"] == "GET"]')" \
    "['/rest/api/3/field', '/rest/api/3/field/customfield_10050/context', '/rest/api/3/field/customfield_10050/context/10200/option']"

# ---------------------------------------------------------------------------
jira_script jira-owners "local users = site:users { refresh_on_miss = \"0s\" }
local owners = { { id = 1, owner = \" Ana.Silva@Example.com\" }, { id = 2, owner = \"ben.okafor@example.com\" },
                 { id = 3, owner = \"bot@example.com\" }, { id = 4, owner = \"dan@example.com\" } }
return ferry.integration { name = \"jira-owners\", $HDR pattern = \"reporting\",
  extract = function(ctx) for _, r in ipairs(owners) do ctx:emit(r) end end,
  transform = function(r, ctx)
    local account, err = users:get(r.owner, ctx)
    if not account then return nil, err end
    return { id = r.id, account = account }
  end,
  load = ferry.sink.sqlite { path = \"owners.db\", table = \"owners\",
    columns = { { \"id\", \"integer\", key = true }, { \"account\", \"text\" } } } }"

t "users by email: a hit gives the accountId; a hidden email, an app and an unknown email are lookup_missing"
frun jira-owners
expect_rc 3
expect_eq "$(sql "$DATA/owners.db" "SELECT id, account FROM owners ORDER BY id")" "1|5b10a2844c20165700ede21g"
expect_eq "$(qpy jira-owners '[(r["record"]["id"], r["class"]) for r in L]')" \
    "[(2, 'lookup_missing'), (3, 'lookup_missing'), (4, 'lookup_missing')]"

t "an owner without a user resolves by itself once the user exists"
ctl users '[{"accountId": "5b10a2844c20165700ede21g", "accountType": "atlassian", "displayName": "Ana Silva", "emailAddress": "ana.silva@example.com", "active": true},
            {"accountId": "5b10ac8d82e05b22cc7d4ef5", "accountType": "atlassian", "displayName": "Ben Okafor", "active": true},
            {"accountId": "6c20dd11aa", "accountType": "atlassian", "displayName": "Dan", "emailAddress": "dan@example.com", "active": true}]' >/dev/null
frun jira-owners
expect_eq "$(sql "$DATA/owners.db" "SELECT id, account FROM owners ORDER BY id")" "1|5b10a2844c20165700ede21g
4|6c20dd11aa"
expect_eq "$(qpy jira-owners '[(r["record"]["id"], r["status"]) for r in L]')" \
    "[(2, 'open'), (3, 'open'), (4, 'resolved')]"

# ---------------------------------------------------------------------------
jira_script jira-counts "return ferry.integration { name = \"jira-counts\", $HDR pattern = \"workflow\",
  extract = function(ctx)
    local counts = site:ticket_counts(ctx, { jql = \"project = SUP\", by = \"Organizations\",
                                             escalated = { priority = { \"Highest\" }, labels = { \"escalated\" } } })
    for account, c in pairs(counts) do ctx:emit({ account = account, open = c.open, escalated = c.escalated }) end
  end,
  load = ferry.sink.sqlite { path = \"counts.db\", table = \"counts\",
    columns = { { \"account\", \"text\", key = true }, { \"open\", \"integer\" }, { \"escalated\", \"integer\" } } } }"

t "ticket_counts: open and escalated issues per organisation (priority or label), done ones left out"
frun jira-counts
expect_rc 0
expect_eq "$(sql "$DATA/counts.db" "SELECT account, open, escalated FROM counts ORDER BY account")" "Acme|2|1
Globex|2|1"

t "a 403: class permission with Jira's message, the integration paused"
ctl fail '{"status": 403, "times": 1, "path": "/rest/api/3/field"}' >/dev/null
frun jira-counts
expect_rc 1
expect_in "$out" "error: extract: permission: Jira GET /rest/api/3/field: HTTP 403: You do not have permission to perform this operation."
expect_in "$(cd "$WORK" && "$FERRY" status -c "$WORK/ferry.lua" 2>&1)" "PAUSED since"
(cd "$WORK" && "$FERRY" resume jira-counts -c "$WORK/ferry.lua" >/dev/null 2>&1)

# ---------------------------------------------------------------------------
jira_script jira-orgs "return ferry.integration { name = \"jira-orgs\", $HDR pattern = \"reporting\",
  extract = site:stream(\"organizations\", { page_size = 2 }),
  transform = function(o, ctx)
    return { id = o.id, name = o.name, cust = table.concat(site:organizations_of(ctx, \"70121:cust-1\"), \",\") }
  end,
  load = ferry.sink.sqlite { path = \"orgs.db\", table = \"orgs\",
    columns = { { \"id\", \"text\", key = true }, { \"name\", \"text\" }, { \"cust\", \"text\" } } } }"

t "JSM organisations: paged with start/limit; a customer's organisations by accountId"
ctl reset-requests '{}' >/dev/null
frun jira-orgs
expect_rc 0
expect_eq "$(sql "$DATA/orgs.db" "SELECT id, name, cust FROM orgs ORDER BY id")" "1|Acme|Acme,Initech
2|Globex|Acme,Initech
3|Initech|Acme,Initech"
expect_eq "$(fake_py '[r["query"].get("start") for r in R if "accountId" not in r["query"]]')" "['0', '2']"

# ---------------------------------------------------------------------------
t "webhook_issue: created and updated events become plain events; anything else is refused with a reason"
cat >"$WORK/jira-hooks.lua" <<'EOF'
local jira = require "contrib.jira"
local bodies = {
  [[{"timestamp": 1764932400000, "webhookEvent": "jira:issue_created", "issue_event_type_name": "issue_created",
     "user": {"accountId": "5b10a2844c20165700ede21g"},
     "issue": {"id": "10005", "key": "SUP-5", "fields": {"summary": "Printer on fire", "reporter": {"accountId": "70121:cust-1"},
               "customfield_10002": [{"id": "1", "name": "Acme"}]}}}]],
  [[{"timestamp": 1764932460000, "webhookEvent": "jira:issue_updated", "issue_event_type_name": "issue_generic",
     "user": {"accountId": "5b10a2844c20165700ede21g"},
     "issue": {"id": "10005", "key": "SUP-5", "fields": {"summary": "Printer on fire"}},
     "changelog": {"id": "10100", "items": [{"field": "status", "fieldtype": "jira", "fieldId": "status",
        "from": "10000", "fromString": "To Do", "to": "10001", "toString": "In Progress"}]}}]],
  [[{"timestamp": 1764932500000, "webhookEvent": "jira:issue_deleted", "issue": {"id": "10005", "key": "SUP-5", "fields": {}}}]],
  [[{"webhookEvent": "jira:issue_created"}]],
  [[{"ticket": {"id": 1}}]],
  [[not json]],
}
return ferry.integration { name = "jira-hooks", owner = "qa@example.com", purpose = "test", source_of_truth = "jira",
  freshness = "1h", pattern = "workflow",
  extract = function(ctx)
    for i, b in ipairs(bodies) do
      local ev, why = jira.webhook_issue(b)
      local ch = ev and ev.changes[1]
      ctx:emit({ n = i, out = ev and table.concat({ ev.event, ev.key, ev.id, ev.user or "-", tostring(ev.timestamp),
        ev.issue.fields.summary, ch and (ch.field .. ":" .. ch.from .. "->" .. ch.to) or "-",
        table.concat(jira.names_in(ev.issue.fields.customfield_10002), "+") }, "|") or ("nil: " .. why) })
    end
  end,
  load = ferry.sink.sqlite { path = "hooks.db", table = "hooks",
    columns = { { "n", "integer", key = true }, { "out", "text" } } } }
EOF
frun jira-hooks
expect_rc 0
expect_eq "$(sql "$DATA/hooks.db" "SELECT out FROM hooks ORDER BY n")" \
"created|SUP-5|10005|5b10a2844c20165700ede21g|1764932400000|Printer on fire|-|Acme
updated|SUP-5|10005|5b10a2844c20165700ede21g|1764932460000|Printer on fire|status:To Do->In Progress|
nil: webhookEvent jira:issue_deleted is not an issue created or updated event
nil: jira:issue_created without an issue (key and fields)
nil: no webhookEvent: not a Jira webhook
nil: not JSON"

# ---------------------------------------------------------------------------
# Case 1's shape under `ferry serve`: an issue-created webhook, the reporter's
# JSM organisation, its tier and health (a table standing in for the CS
# platform) written onto the issue's select fields.
SVC=$WORK/svc
mkdir -p "$SVC/scripts"
cat >"$SVC/ferry.lua" <<EOF
return { data_dir = "$SVC/data", script_dirs = { "scripts" }, admin = { listen = "127.0.0.1:0" },
  hooks = { listen = "127.0.0.1:0" }, log = { level = "info", format = "json" },
  integrations = { ["jira-tier-health"] = { secrets = { "JIRA_API_TOKEN", "JIRA_HOOK_SECRET" } } } }
EOF
cat >"$SVC/scripts/jira_tier_health.lua" <<EOF
local jira = require "contrib.jira"
local site = jira.connect { base_url = "$JIRA", email = "$EMAIL" }
local csm = { Acme = { tier = "Gold", health = "yellow" }, Initech = { tier = "Silver", health = "Purple" } }
local tiers, health = site:picklist("Tier", { ttl = "0s" }), site:picklist("Health", { ttl = "0s" })
return ferry.integration {
  name = "jira-tier-health", owner = "qa@example.com", purpose = "agents see tier and health on the ticket",
  pattern = "workflow", source_of_truth = "csm", freshness = "1h",
  trigger = { webhook = { path = "jira-issues", signature = "websub", secret = "JIRA_HOOK_SECRET" } },
  transform = function(ev, ctx)
    local e = jira.webhook_issue(ev.json)
    local reporter = e and e.event == "created" and e.issue.fields.reporter
    if not reporter then return nil end
    local org = site:organizations_of(ctx, reporter.accountId)[1]
    local acct = org and csm[org]
    if not acct then return nil, { class = "lookup_missing", reason = "no CS account for " .. tostring(org) } end
    local tier, err = tiers:match(acct.tier, ctx)
    if not tier then return nil, err end
    local h, herr = health:match(acct.health, ctx)
    if not h then return nil, herr end
    return { issue = e.key, fields = { Tier = tier, Health = h } }
  end,
  load = site:update_issues(),
}
EOF
export JIRA_HOOK_SECRET=jira-hook-secret-77d1c0a9e3
hook() {  # hook EVENT KEY REPORTER [SECRET]: posts a Jira webhook body signed as Jira does
          # (X-Hub-Signature: sha256=HMAC of the body) with a delivery id; sets code
    local body sig
    body="{\"timestamp\": 1764932400000, \"webhookEvent\": \"$1\", \"user\": {\"accountId\": \"5b10a2844c20165700ede21g\"}, \"issue\": {\"id\": \"1\", \"key\": \"$2\", \"fields\": {\"summary\": \"x\", \"reporter\": {\"accountId\": \"$3\"}}}}"
    sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "${4:-$JIRA_HOOK_SECRET}" -r | cut -d' ' -f1)
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        -H "X-Hub-Signature: sha256=$sig" -H "X-Atlassian-Webhook-Identifier: $RANDOM$RANDOM" \
        --data "$body" "http://$HOOKS/hooks/jira-issues")
}
settled() { wait_until 20 'test "$(sql "$SVC/data/ferry.db" "SELECT count(*) FROM events WHERE status = '\''pending'\''")" = 0'; }

t "case 1 under ferry serve: an issue-created webhook writes its organisation's tier and health"
ctl organizations '[{"id": "1", "name": "Acme", "members": ["70121:cust-1"]}, {"id": "3", "name": "Initech", "members": ["70121:cust-2"]}]' >/dev/null
ctl reset-requests '{}' >/dev/null
start_serve "$SVC" ferry.lua
HOOKS=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["hooks"])' "$SVC/data/serve.json" 2>&1)
hook jira:issue_created SUP-5 70121:cust-1 wrong-secret
expect_eq "$code" 401 "a body signed with another secret"
hook jira:issue_created SUP-5 70121:cust-1
expect_eq "$code" 202
settled
expect_eq "$(fake_py '(I["SUP-5"]["fields"]["customfield_10050"]["value"], I["SUP-5"]["fields"]["customfield_10051"]["value"])')" "('Gold', 'Yellow')"

t "case 1: a health value not among the field's options is picklist_drift; other events are skipped"
hook jira:issue_created SUP-4 70121:cust-2
hook jira:issue_updated SUP-3 70121:cust-1
hook jira:issue_deleted SUP-2 70121:cust-1
settled
expect_eq "$(quarantine_py "$SVC/data" jira-tier-health '[(r["class"], "Purple" in r["reason"]) for r in L]')" "[('picklist_drift', True)]"
expect_eq "$(fake_py '[r["path"] for r in R if r["method"] == "PUT"]')" "['/rest/api/3/issue/SUP-5']"
stop_serve

t "the token never reaches the data dir or the fake's log"
grep -rqa "$JIRA_API_TOKEN" "$DATA" && fail "the token is in the data dir"
grep -qa "$JIRA_API_TOKEN" "$WORK/fake.log" && fail "the token is in the fake's log"
done_t
