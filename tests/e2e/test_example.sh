#!/usr/bin/env bash
# End-to-end: the example that ships in scripts/ (what `make run` shows a new
# user), run with the shipped config from a scratch directory. The expected
# bad records are the ones scripts/data/README.md documents.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

DATA="$WORK/data"
DB="$DATA/reporting.db"
QA=crm-accounts-to-reporting
QT=helpdesk-tickets-to-reporting
CSV="$ROOT/scripts/data/crm_accounts.csv"
JSONL="$ROOT/scripts/data/helpdesk_tickets.jsonl"

run_example() {
    FERRY_DATA_DIR="$DATA" run_ferry run -c "$ROOT/config/ferry.lua" \
        "$ROOT/scripts/crm_accounts.lua" "$ROOT/scripts/helpdesk_tickets.lua"
}

# qpy NAME EXPR: Python expression over L, the quarantine rows of NAME.
qpy() { quarantine_py "$DATA" "$1" "$2"; }

# ---------------------------------------------------------------------------
t "the example run: exit 3, both integrations PARTIAL with 4 quarantined each"
run_example
expect_rc 3
expect_in "$out" "== crm-accounts-to-reporting  run "
expect_in "$out" "== helpdesk-tickets-to-reporting  run "
expect_in "$out" "extracted 300 · transformed 296 · skipped 0 · loaded 296 · quarantined 4"
expect_in "$out" "extracted 400 · transformed 396 · skipped 0 · loaded 396 · quarantined 4 (4 batches)"
expect_in "$out" "quarantine: 4 open (oldest "; expect_in "$out" "· ferry quarantine list $QA"
expect_in "$out" "quarantine: 4 open (oldest "; expect_in "$out" "· ferry quarantine list $QT"
expect_eq "$(grep -c 'PARTIAL' <<<"$out")" "2"
[ -f "$DB" ] || fail "no $DB (the data directory comes from FERRY_DATA_DIR)"
[ -e "$ROOT/scripts/data/reporting.db" ] && fail "a database was written next to the scripts"

t "the example run: accounts has 296 rows and tickets 396"
expect_eq "$(sql "$DB" "SELECT count(*) FROM accounts")" "296"
expect_eq "$(sql "$DB" "SELECT count(*) FROM tickets")" "396"

t "the example run: the 4 quarantined CSV rows are the documented ones"
expect_eq "$(qpy "$QA" 'len(L)')" "4"
expect_eq "$(qpy "$QA" '[(q["stage"], q["class"], q["record"]["line"], q["record"]["fields"][0], q["reason"]) for q in L if q["stage"] == "extract"]')" \
    "[('extract', 'validation', 271, 'ACC-00264', 'line 271: expected 12 fields, got 9')]"
expect_eq "$(qpy "$QA" '[(q["stage"], q["class"], "31/02/2023" in q["reason"]) for q in L if q["record"].get("account_id") == "ACC-00042"]')" \
    "[('transform', 'validation', True)]"
expect_eq "$(qpy "$QA" '[(q["stage"], q["class"], "account_id" in q["reason"]) for q in L if q["record"].get("account_id") == "" and q["record"].get("name") == "Sable Logistics Ltd"]')" \
    "[('transform', 'validation', True)]"
expect_eq "$(qpy "$QA" '[(q["stage"], q["class"], "Platinum" in q["reason"]) for q in L if q["record"].get("account_id") == "ACC-00188"]')" \
    "[('transform', 'picklist_drift', True)]"
expect_eq "$(qpy "$QA" 'all(q["integration"] == "crm-accounts-to-reporting" and q["script_version"] for q in L)')" "True"

t "the example run: the 4 quarantined JSON lines are the documented ones"
expect_eq "$(qpy "$QT" 'len(L)')" "4"
expect_eq "$(qpy "$QT" '[(q["stage"], q["class"], q["record"]["line"], q["record"]["raw"].startswith("{\"id\": 48335,"), "invalid JSON" in q["reason"]) for q in L if q["stage"] == "extract"]')" \
    "[('extract', 'validation', 58, True, True)]"
expect_eq "$(qpy "$QT" '[(q["stage"], q["class"], "yesterday" in q["reason"]) for q in L if q["record"].get("id") == 48562]')" \
    "[('transform', 'validation', True)]"
expect_eq "$(qpy "$QT" '[(q["stage"], q["class"], "critical" in q["reason"]) for q in L if q["record"].get("id") == 48891]')" \
    "[('transform', 'picklist_drift', True)]"
expect_eq "$(qpy "$QT" '[(q["stage"], q["class"], q["reason"]) for q in L if q["stage"] == "transform" and "id" not in q["record"] and q["record"].get("account_id") == "ACC-00086"]')" \
    "[('transform', 'validation', 'missing ticket id')]"

t "the example run: account values (name with comma, REAL arr, UTC created_at) match the CSV"
expect_eq "$(sql "$DB" "SELECT name FROM accounts WHERE account_id = 'ACC-00001'")" "Bright Labs, Inc."
expect_eq "$(sql "$DB" "SELECT typeof(arr), arr FROM accounts WHERE account_id = 'ACC-00001'")" "real|2345979.5"
expect_eq "$(sql "$DB" "SELECT created_at FROM accounts WHERE account_id = 'ACC-00001'")" "2024-09-25T23:15:00Z"
sqlite3 -json "$DB" "SELECT * FROM accounts" >"$WORK/accounts.json"
got=$(python3 - "$CSV" "$WORK/accounts.json" <<'EOF' 2>&1
import csv, json, sys
rows = {r["account_id"]: r for r in json.load(open(sys.argv[2], encoding="utf-8"))}
bad = []
with open(sys.argv[1], newline="", encoding="utf-8-sig") as f:
    for r in csv.DictReader(f):
        if r["account_id"] in ("", "ACC-00042", "ACC-00188", "ACC-00264"):
            if r["account_id"] in rows:
                bad.append("quarantined row loaded: " + r["account_id"])
            continue
        d = rows.get(r["account_id"])
        if d is None:
            bad.append("missing " + r["account_id"]); continue
        want = {"name": r["name"], "tier": r["tier"].lower(), "owner_email": r["owner_email"].lower(),
                "arr": float(r["arr"]), "employees": int(r["employees"]), "created_at": r["created_at"],
                "renewal_date": r["renewal_date"], "health_score": int(r["health_score"]),
                "notes": r["notes"] or None, "country": r["country"], "domain": r["domain"]}
        for k, v in want.items():
            if d.get(k) != v or type(d.get(k)) is not type(v):
                bad.append("%s.%s: %r != %r" % (r["account_id"], k, d.get(k), v))
print(len(rows), "; ".join(bad[:5]) or "all match")
EOF
)
expect_eq "$got" "296 all match"

t "the example run: ticket times with an offset are stored in UTC (Z); tags are JSON arrays"
sqlite3 -json "$DB" "SELECT * FROM tickets" >"$WORK/tickets.json"
got=$(python3 - "$JSONL" "$WORK/tickets.json" <<'EOF' 2>&1
import json, sys
from datetime import datetime, timezone
rows = {r["ticket_id"]: r for r in json.load(open(sys.argv[2], encoding="utf-8"))}
def utc(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
bad, offsets = [], 0
for n, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    try:
        t = json.loads(line)
    except ValueError:
        continue
    if t.get("id") not in rows:
        continue
    d = rows[t["id"]]
    if not t["created_at"].endswith("Z"):
        offsets += 1
    for k in ("created_at", "updated_at"):
        if d[k] != utc(t[k]):
            bad.append("%d.%s: %r != %r" % (t["id"], k, d[k], utc(t[k])))
    if json.loads(d["tags"]) != t["tags"] or (t["tags"] == [] and d["tags"] != "[]"):
        bad.append("%d.tags: %r" % (t["id"], d["tags"]))
    if d["satisfaction"] != t["satisfaction"]:
        bad.append("%d.satisfaction: %r" % (t["id"], d["satisfaction"]))
print(len(rows), offsets > 0, "; ".join(bad[:5]) or "all match")
EOF
)
expect_eq "$got" "396 True all match"
expect_eq "$(sql "$DB" "SELECT created_at FROM tickets WHERE ticket_id = 48201")" "2026-05-21T19:20:00Z" \
    "48201 was created at 2026-05-22T04:20:00+09:00"

# ---------------------------------------------------------------------------
t "re-running the example duplicates neither rows nor quarantined records"
first_run=$(sed -nE 's/^== crm-accounts-to-reporting  run ([^ ]+) .*/\1/p' <<<"$out")
run_example
expect_rc 3
expect_eq "$(sql "$DB" "SELECT count(*) FROM accounts")" "296"
expect_eq "$(sql "$DB" "SELECT count(*) FROM tickets")" "396"
expect_eq "$(qpy "$QA" '[q["attempts"] for q in L]')" "[2, 2, 2, 2]" "the same 4 rows, tried twice"
expect_eq "$(qpy "$QT" '[q["attempts"] for q in L]')" "[2, 2, 2, 2]" "the same 4 rows, tried twice"
second_run=$(sed -nE 's/^== crm-accounts-to-reporting  run ([^ ]+) .*/\1/p' <<<"$out")
expect_eq "$(sql "$DB" "SELECT DISTINCT _run_id FROM accounts")" "$second_run" "rows carry the latest run id"
[ "$first_run" != "$second_run" ] || fail "both runs have the id $first_run"
expect_eq "$(qpy "$QA" 'set((q["first_run"], q["run"]) for q in L) == {("'"$first_run"'", "'"$second_run"'")}')" "True"

# ---------------------------------------------------------------------------
t "the README's fix-and-replay tutorial works as written, on a copy, leaving scripts/ as shipped"
before=$(cksum <"$ROOT/scripts/crm_accounts.lua")
edit=$(sed -n 's/^\$ \(sed -i .*ferry-tutorial.*\)$/\1/p' "$ROOT/README.md")
expect_in "$edit" "Platinum"
cp -r "$ROOT/scripts" "$WORK/tutorial"
(eval "${edit//\~\/ferry-tutorial/$WORK/tutorial}") || fail "the README's edit failed: $edit"
expect_in "$(cat "$WORK/tutorial/crm_accounts.lua")" 'Platinum = "enterprise"'
FERRY_DATA_DIR="$DATA" run_ferry quarantine replay -c "$ROOT/config/ferry.lua" $QA --class picklist_drift \
    --script "$WORK/tutorial/crm_accounts.lua"
expect_rc 0
expect_in "$out" "resolved 1 of 1"
expect_eq "$(qpy "$QA" '[q["status"] for q in L if q["class"] == "picklist_drift"]')" "['resolved']"
expect_eq "$(cksum <"$ROOT/scripts/crm_accounts.lua")" "$before" "the shipped script is unchanged"

# ---------------------------------------------------------------------------
t "ferry check accepts both shipped scripts"
run_ferry check -c "$ROOT/config/ferry.lua" "$ROOT/scripts/crm_accounts.lua" "$ROOT/scripts/helpdesk_tickets.lua"
expect_rc 0
expect_in "$out" "crm_accounts.lua: ok: crm-accounts-to-reporting"
expect_in "$out" "helpdesk_tickets.lua: ok: helpdesk-tickets-to-reporting"
expect_in "$out" "2 of 2 scripts ok"

t "without FERRY_DATA_DIR the shipped config writes data/ beside config/ (as make run does), from any directory"
# A copy of the project's config/ and scripts/, so the test writes nothing in the tree.
saved=${FERRY_DATA_DIR-__unset__}
unset FERRY_DATA_DIR
mkdir -p "$WORK/proj/config" "$WORK/cwd"
cp "$ROOT/config/ferry.lua" "$WORK/proj/config/"
cp -r "$ROOT/scripts" "$WORK/proj/"
rm -rf "$WORK/proj/scripts/data/"*.db "$WORK/data"
WORK=$WORK/cwd run_ferry run -c "$WORK/proj/config/ferry.lua" "$WORK/proj/scripts/crm_accounts.lua" \
    "$WORK/proj/scripts/helpdesk_tickets.lua"
[ "$saved" = "__unset__" ] || export FERRY_DATA_DIR="$saved"
expect_rc 3
expect_eq "$(sql "$WORK/proj/data/reporting.db" "SELECT (SELECT count(*) FROM accounts) || '/' || (SELECT count(*) FROM tickets)")" "296/396"
expect_in "$out" "quarantine: 4 open (oldest "; expect_in "$out" "· ferry quarantine list crm-accounts-to-reporting"
expect_in "$out" "quarantine: 4 open (oldest "; expect_in "$out" "· ferry quarantine list helpdesk-tickets-to-reporting"
expect_eq "$(quarantine_py "$WORK/proj/data" crm-accounts-to-reporting 'len(L)')" "4"
[ ! -e "$WORK/cwd/data" ] && [ ! -e "$WORK/proj/config/data" ] || fail "a store outside proj/data"

done_t
