#!/usr/bin/env bash
# `make run`'s reporting cases (README, "Workflow cases", cases 4 and 5),
# called by run_cases.sh: the Harvest, Stripe, BambooHR and HubSpot fakes
# (contrib/*/tests/fake_*.py, 127.0.0.1, free ports) seeded with
# scripts/demo/seed_reporting.py, the eight shipped scripts run unedited
# (http.rewrite sends the vendors' URLs to the fakes) into SQLite's
# reporting.db, then a few rows of the two views. Everything it writes is in
# DIR/ (data/cases/reporting by default), emptied first; the fakes are
# stopped when it ends.
# Usage: scripts/demo/run_reporting.sh [FERRY [DIR]]
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FERRY=$(realpath "${1:-$ROOT/build/ferry}")
DEMO=${2:-$ROOT/data/cases/reporting}
command -v python3 >/dev/null || { echo "run_reporting: the reporting cases need python3 for the fakes" >&2; exit 1; }

rm -rf "$DEMO"
mkdir -p "$DEMO"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done' EXIT

# Demo credentials: the fakes accept these and nothing else.
export HARVEST_TOKEN=demo-harvest-token HARVEST_ACCOUNT_ID=123456 STRIPE_API_KEY=rk_test_demo_stripe
export BAMBOOHR_API_KEY=demo-bamboohr-key HUBSPOT_TOKEN=demo-hubspot-token
fake() {  # fake NAME SCRIPT ARGS...
    local name=$1 script=$2
    shift 2
    python3 "$ROOT/contrib/$script" --port-file "$DEMO/$name.port" "$@" >"$DEMO/$name.log" 2>&1 &
    pids+=($!)
}
fake harvest harvest/tests/fake_harvest.py --token "$HARVEST_TOKEN" --account "$HARVEST_ACCOUNT_ID"
fake stripe stripe/tests/fake_stripe.py --key "$STRIPE_API_KEY"
fake bamboohr bamboohr/tests/fake_bamboohr.py --key "$BAMBOOHR_API_KEY"
fake hubspot hubspot/tests/fake_hubspot.py --token "$HUBSPOT_TOKEN"
for n in harvest stripe bamboohr hubspot; do
    for _ in $(seq 1 100); do [ -s "$DEMO/$n.port" ] && break; sleep 0.05; done
    [ -s "$DEMO/$n.port" ] || { echo "run_reporting: the $n fake did not start: $(cat "$DEMO/$n.log")" >&2; exit 1; }
done
url() { echo "http://127.0.0.1:$(cat "$DEMO/$1.port")"; }
python3 "$ROOT/scripts/demo/seed_reporting.py" "$(url harvest)" "$(url stripe)" "$(url bamboohr)" "$(url hubspot)" || exit 1

cat >"$DEMO/ferry.lua" <<EOF
-- The reporting cases' demo config: config/ferry.lua's grants, plus the fakes.
return {
  data_dir = "$DEMO/data", script_dirs = { "$ROOT/scripts" },
  http = { rewrite = { ["https://api.harvestapp.com"] = "$(url harvest)", ["https://api.stripe.com"] = "$(url stripe)",
                       ["https://acme.bamboohr.com"] = "$(url bamboohr)", ["https://api.hubapi.com"] = "$(url hubspot)" } },
  integrations = {
    ["harvest-time-entries"] = { secrets = { "HARVEST_TOKEN", "HARVEST_ACCOUNT_ID" } },
    ["harvest-users"] = { secrets = { "HARVEST_TOKEN", "HARVEST_ACCOUNT_ID" } },
    ["harvest-projects"] = { secrets = { "HARVEST_TOKEN", "HARVEST_ACCOUNT_ID" } },
    ["harvest-staffing"] = { secrets = { "HARVEST_TOKEN", "HARVEST_ACCOUNT_ID" } },
    ["stripe-project-invoices"] = { secrets = { "STRIPE_API_KEY" } },
    ["bamboohr-employees"] = { secrets = { "BAMBOOHR_API_KEY" } },
    ["bamboohr-leave"] = { secrets = { "BAMBOOHR_API_KEY" } },
    ["hubspot-won-deals"] = { secrets = { "HUBSPOT_TOKEN" } },
  },
}
EOF
bad=0
# r NAME: run one integration; one summary line (and its quarantine line) per run
r() {
    local out rc
    out=$("$FERRY" run "$1" -c "$DEMO/ferry.lua" --log-level error 2>&1)
    rc=$?
    [ $rc -le 3 ] || { bad=1; echo "$out"; return; }
    printf '%s\n' "$out" | grep -E '^== |extracted' | sed 's/  run [^ ]*//'
}
# quarantined NAME...: one line per open quarantined record of these integrations
quarantined() {
    "$FERRY" quarantine list --json -c "$DEMO/ferry.lua" --log-level error 2>/dev/null | python3 -c '
import json, sys
for q in json.load(sys.stdin):
    if q["integration"] in sys.argv[1:]:
        print("   quarantined (%s, %s): %s" % (q["integration"], q["class"], q["reason"]))' "$@"
}
# view SQL: the rows of a query on reporting.db, as aligned columns
view() {
    python3 - "$DEMO/data/reporting.db" "$1" <<'PYEOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
cur = db.execute(sys.argv[2])
rows = [[("-" if v is None else str(v)) for v in r] for r in cur.fetchall()]
head = [d[0] for d in cur.description]
w = [max(len(x) for x in col) for col in zip(head, *rows)]
for r in [head] + rows:
    print("   " + "  ".join(v.ljust(n) for v, n in zip(r, w)).rstrip())
PYEOF
}

echo
echo "Case 4: the operating review (Harvest, Stripe, BambooHR -> ${DEMO#"$ROOT"/}/data/reporting.db)"
for n in harvest-projects harvest-users harvest-time-entries stripe-project-invoices bamboohr-employees; do r "$n"; done
quarantined stripe-project-invoices
echo "   SELECT ... FROM operating_review ORDER BY project_code, month:"
view "SELECT project_code, month, hours, billable_hours AS billable, cost, revenue, margin, headcount AS heads,
             fte, capacity_hours AS capacity, utilisation AS util FROM operating_review ORDER BY project_code, month"
view "SELECT DISTINCT harvest_as_of, stripe_as_of, bamboohr_as_of FROM operating_review"

echo
echo "Case 5: the delivery manager's view (HubSpot, Harvest, BambooHR -> the same database)"
for n in hubspot-won-deals harvest-staffing bamboohr-leave; do r "$n"; done
quarantined hubspot-won-deals bamboohr-leave
echo "   SELECT ... FROM delivery_view ORDER BY project_code:"
view "SELECT project_code, deal_id, deal_name, people, flag_won_without_project AS no_project,
             flag_staff_on_leave AS on_leave, reason FROM delivery_view ORDER BY project_code"
echo
echo "The reporting cases' store: ./${FERRY#"$ROOT"/} status -c ${DEMO#"$ROOT"/}/ferry.lua   (also: quarantine list NAME)"
exit $bad
