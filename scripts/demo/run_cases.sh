#!/usr/bin/env bash
# `make run`'s second half: the three workflow cases (README, "Workflow
# cases") against the connectors' fakes (contrib/*/tests/fake_*.py, Python
# standard library, 127.0.0.1, free ports), with a config whose http.rewrite
# sends the vendors' URLs to them, so the shipped scripts run unedited.
# Everything it writes is in data/cases/ (emptied first; CASES_DIR to put it
# elsewhere); the fakes are stopped when it ends.
# Usage: scripts/demo/run_cases.sh [FERRY]
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FERRY=$(realpath "${1:-$ROOT/build/ferry}")
DEMO=${CASES_DIR:-$ROOT/data/cases}
command -v python3 >/dev/null || { echo "run_cases: the workflow cases need python3 for the fakes" >&2; exit 1; }

rm -rf "$DEMO"
mkdir -p "$DEMO"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done' EXIT

# Demo credentials: the fakes accept these and nothing else.
export JIRA_API_TOKEN=demo-jira-token VITALLY_API_KEY=demo-vitally-key HUBSPOT_TOKEN=demo-hubspot-token
export JIRA_HOOK_SECRET=demo-hook-secret
fake() {  # fake NAME SCRIPT ARGS...: start it, print its base URL
    local name=$1 script=$2
    shift 2
    python3 "$ROOT/contrib/$script" --port-file "$DEMO/$name.port" "$@" >"$DEMO/$name.log" 2>&1 &
    pids+=($!)
}
fake jira jira/tests/fake_jira.py --port 0 --email ferry-bot@acme.com --token "$JIRA_API_TOKEN"
fake vitally vitally/tests/fake_vitally.py --key "$VITALLY_API_KEY"
fake hubspot hubspot/tests/fake_hubspot.py --token "$HUBSPOT_TOKEN"
for n in jira vitally hubspot; do
    for _ in $(seq 1 100); do [ -s "$DEMO/$n.port" ] && break; sleep 0.05; done
    [ -s "$DEMO/$n.port" ] || { echo "run_cases: the $n fake did not start: $(cat "$DEMO/$n.log")" >&2; exit 1; }
done
JIRA=http://127.0.0.1:$(cat "$DEMO/jira.port")
VITALLY=http://127.0.0.1:$(cat "$DEMO/vitally.port")
HUBSPOT=http://127.0.0.1:$(cat "$DEMO/hubspot.port")
python3 "$ROOT/scripts/demo/seed_cases.py" "$JIRA" "$VITALLY" "$HUBSPOT" || exit 1

cat >"$DEMO/ferry.lua" <<EOF
-- The workflow cases' demo config: config/ferry.lua's grants, plus the fakes.
return {
  data_dir = "$DEMO/data", script_dirs = { "$ROOT/scripts" },
  http = { rewrite = { ["https://acme.atlassian.net"] = "$JIRA", ["https://acme.rest.vitally.io"] = "$VITALLY",
                       ["https://api.hubapi.com"] = "$HUBSPOT" } },
  integrations = {
    ["tier-on-ticket"] = { secrets = { "JIRA_API_TOKEN", "VITALLY_API_KEY", "JIRA_HOOK_SECRET" } },
    ["tier-on-ticket-reconcile"] = { secrets = { "JIRA_API_TOKEN", "VITALLY_API_KEY" } },
    ["renewal-ticket-counts"] = { secrets = { "JIRA_API_TOKEN", "VITALLY_API_KEY" } },
    ["hubspot-accounts"] = { secrets = { "HUBSPOT_TOKEN", "JIRA_API_TOKEN" } },
  },
}
EOF
f() { "$FERRY" "$@" -c "$DEMO/ferry.lua" --log-level warn; }
# show URL EXPR: a line of what a fake now holds (EXPR over the JSON at URL as J)
show() { python3 -c 'import json, sys, urllib.request; J = json.load(urllib.request.urlopen(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

bad=0
echo
echo "Case 1: tier and health on the ticket (a Jira webhook, then the hourly reconcile)"
f events add tier-on-ticket --delivery-id demo-SUP-101 <"$ROOT/scripts/demo/jira_issue_created.json" || bad=1
f run tier-on-ticket; [ $? -le 3 ] || bad=1
f run tier-on-ticket-reconcile; [ $? -le 3 ] || bad=1
show "$JIRA/__fake/issues" '"   Jira now: " + ", ".join("%s Tier=%s Health=%s" % (i["key"], (i["fields"].get("customfield_10050") or {}).get("value", "-"), (i["fields"].get("customfield_10051") or {}).get("value", "-")) for i in J)'

echo
echo "Case 2: open tickets before renewal (accounts renewing in 90 days)"
f run renewal-ticket-counts; [ $? -le 3 ] || bad=1
show "$VITALLY/__fake/accounts" '"   Vitally now: " + ", ".join("%s open=%s escalated=%s" % (a["name"], a["traits"].get("vitally.custom.openTickets", "-"), a["traits"].get("vitally.custom.escalatedTickets", "-")) for a in J)'

echo
echo "Case 3: HubSpot accounts with owners matched by email (into data/cases/data/reporting.db)"
f run hubspot-accounts; [ $? -le 3 ] || bad=1

echo
echo "The cases' store and quarantine: ./${FERRY#"$ROOT"/} status -c data/cases/ferry.lua   (also: quarantine list, runs NAME)"

# Cases 4 and 5, the reporting cases: their own fakes, store and reporting.db
# in data/cases/reporting/ (SQLite: make run needs no PostgreSQL).
"$ROOT/scripts/demo/run_reporting.sh" "$FERRY" "$DEMO/reporting" || bad=1
exit $bad
