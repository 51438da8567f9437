#!/usr/bin/env bash
# The account-sync example end to end: the shipped script and config, run
# with `ferry run` against the two fakes (CRM and CS platform, Python
# standard library, 127.0.0.1). Checks what the CS platform holds and was
# asked (its request log), what went to the quarantine with which class and
# reason, and what the runs' summaries, findings and alerts say, over a
# sequence of runs: the first sync, a parent arriving late, edits in the CS
# platform, a dry run, an option removed upstream.
. "$(dirname "$0")/../../../../tests/e2e/lib.sh"

EX_SRC=$ROOT/contrib/examples/account-sync
EX=$WORK/ex                                   # a copy: settings.lua gets the fakes' ports
NAME=account-sync
export CRM_TOKEN=crm-test-token-7b2e91 CS_TOKEN=cs-test-token-04d6fa
export FERRY_ADMIN_LISTEN=127.0.0.1:0
unset FERRY_DATA_DIR

cp -r "$EX_SRC" "$EX"
rm -rf "$EX/data"
python3 "$EX/fakes/fake_systems.py" --crm-port 0 --cs-port 0 --port-file "$WORK/ports.json" \
    --crm-token "$CRM_TOKEN" --cs-token "$CS_TOKEN" >"$WORK/fakes.log" 2>&1 &
_bg_pids+=($!)
for _ in $(seq 1 200); do [ -s "$WORK/ports.json" ] && break; sleep 0.05; done
port() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$WORK/ports.json" "$1"; }
CRM=http://127.0.0.1:$(port crm)
CS=http://127.0.0.1:$(port cs)
# the fakes' ports; and the tier options fetched on every run (the shipped
# 30m is shorter than the hourly schedule: every scheduled run fetches them)
sed -i "s|http://127.0.0.1:8811|$CRM|; s|http://127.0.0.1:8812|$CS|; s|tier_options_ttl = \"30m\"|tier_options_ttl = \"0s\"|" \
    "$EX/scripts/account_sync/settings.lua"

ferry_ex() { run_ferry "$@" -c "$EX/ferry.lua"; }
sync() { ferry_ex run "$EX/scripts/account_sync.lua"; }
qpy() { quarantine_py "$EX/data" "$NAME" "$1"; }
# fake_py EXPR: a Python expression over A (the CS platform's accounts by
# external_id), R (the CS platform's API requests, each "METHOD /path?query")
# and C (the CRM's)
fake_py() {
    python3 - "$CS" "$CRM" "$1" <<'EOF' 2>&1
import json, sys, urllib.request
get = lambda url: json.load(urllib.request.urlopen(url))
A = {a["external_id"]: a for a in get(sys.argv[1] + "/_accounts")}
line = lambda q: q["method"] + " " + q["path"] + ("?" + q["query"] if q["query"] else "")
R = [line(q) for q in get(sys.argv[1] + "/_requests")]
C = [line(q) for q in get(sys.argv[2] + "/_requests")]
print(eval(sys.argv[3]))
EOF
}
post() { curl -s -o /dev/null -w '%{http_code}' -X POST --data "$2" "$1"; }
runs_py() {   # runs_py EXPR: over J, `ferry runs --json` (newest first)
    python3 -c 'import json, sys; J = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' \
        "$(cd "$WORK" && "$FERRY" runs "$NAME" --json -c "$EX/ferry.lua" 2>/dev/null)" "$1" 2>&1
}
count_lines() { grep -cF -- "$2" <<<"$1"; }

# ---------------------------------------------------------------------------
t "the shipped script passes ferry check with the shipped config"
[ -s "$WORK/ports.json" ] || fail "the fakes did not start: $(cat "$WORK/fakes.log")"
ferry_ex check
expect_rc 0
expect_in "$out" "ok: account-sync (workflow, owner cs-ops@example.com, source of truth crm, schedule every 1h, freshness 3h)"

t "run 1: owners resolved with one paged fetch of the users, none per record"
sync
expect_rc 3
RUN1=$out
expect_in "$out" "extracted 13 · transformed 4 · skipped 0 · loaded 3 · quarantined 10 (1 batch)"
expect_eq "$(fake_py '[r for r in R if r.startswith("GET /users")]')" \
    "$(python3 -c 'print(["GET /users?page=%d" % p for p in range(1, 11)])')" "1,000 users, 10 pages, each once"
expect_eq "$(fake_py 'sorted(set((r.split("?")[0], R.count(r)) for r in R if not r.startswith("GET /users")))')" \
    "[('GET /fields/tier/options', 1), ('POST /accounts/batch', 1), ('POST /accounts/search', 2)]" \
    "one options fetch; one search for parents, one for the current rows; one batch"
expect_eq "$(fake_py 'C')" "['GET /accounts?after=0&limit=100']"
expect_eq "$(fake_py 'A["GLOBEX-002"]["owner_id"], A["ACME-001"]["owner_id"]')" "(102, 101)" \
    "\"  Ben.Okafor@Example.COM \" is ben.okafor@example.com (user 102)"

t "run 1: an unknown owner is lookup_missing naming the key; a shared email is lookup_ambiguous with both users"
expect_eq "$(qpy '"\n".join("%s %s %s" % (q["class"], q["stage"], q["reason"]) for q in L if q["record"]["external_id"] in ("UMBRELLA-004", "HOOLI-005"))')" \
"lookup_missing transform field 'owner_id': lookup owners: no match for \"new.hire@example.com\" (retried on later runs)
lookup_ambiguous transform field 'owner_id': lookup owners: \"shared.inbox@example.com\" matches 2 entries (500, 501); none is picked"
expect_eq "$(fake_py 'sorted(A)')" "['ACME-001', 'GLOBEX-002', 'INITECH-003']" "nothing else reached the CS platform"
expect_eq "$(runs_py '[(f["kind"], f["key"], f["count"]) for f in J[0]["findings"] if f["kind"] != "picklist_drift"]')" \
    "[('lookup_missing', 'owners=new.hire@example.com', 1), ('lookup_ambiguous', 'owners=shared.inbox@example.com', 1), ('lookup_missing', 'parents=STARK-HQ', 1)]" \
    "each miss a finding of the run"

t "run 1: values converted as declared (trim, money, date, boolean words, Berlin time to UTC, synonyms)"
expect_eq "$(fake_py 'json.dumps({k: v for k, v in A["ACME-001"].items() if k != "id"}, sort_keys=True)')" \
    '{"active": true, "arr": "125000.50", "crm_updated_at": "2026-03-29T00:30:00Z", "external_id": "ACME-001", "name": "Acme Corp", "notes": "Signed at the 2025 summit", "owner_id": 101, "parent_id": null, "renewal_date": "2027-01-31", "tier": "Gold"}'
expect_eq "$(fake_py 'A["GLOBEX-002"]["tier"], A["GLOBEX-002"]["arr"], A["GLOBEX-002"]["active"], A["GLOBEX-002"]["crm_updated_at"]')" \
    "('Gold', '48000.00', True, '2026-10-25T02:15:00Z')" "platinum -> Gold (synonym), 48000 -> \"48000.00\", Yes -> true, after the October fold (+01:00)"
expect_eq "$(fake_py 'A["INITECH-003"]["tier"], A["INITECH-003"]["active"]')" "('Silver', False)" "\"silver \" -> Silver, no -> false"

t "run 1: a value the map cannot convert is validation naming the field and the value"
expect_eq "$(qpy '"\n".join("%s %s %s %s %s" % (q["class"], q["stage"], q["reason"], q["record"]["arr"], q["output"]) for q in L if q["record"]["external_id"] == "WAYNE-007")')" \
    "validation transform field 'arr': \"1.2M\" is not a decimal amount 1.2M None" "held as the CRM sent it, with no output"

t "run 1: an unknown tier in 6 records: quarantined, one finding with the count, one summary line, an open alert"
expect_eq "$(qpy '[(q["class"], q["reason"]) for q in L if q["record"]["tier"] == "Diamond"]')" \
    "$(python3 -c 'print([("picklist_drift", "field '"'"'tier'"'"': picklist tier: unknown value \"Diamond\" (options: \"Bronze\", \"Silver\", \"Gold\")")] * 6)')"
expect_eq "$(count_lines "$RUN1" 'Diamond')" "1" "one summary line"
expect_in "$RUN1" 'picklist tier: unknown value "Diamond" (quarantined) (6 records)'
expect_eq "$(runs_py '[(f["kind"], f["key"], f["count"]) for f in J[0]["findings"] if f["kind"] == "picklist_drift"]')" \
    "[('picklist_drift', 'tier=diamond', 6)]"
ferry_ex alerts "$NAME" --json
expect_rc 0
expect_eq "$(python3 -c 'import json, sys; print([(a["kind"], a["status"]) for a in json.loads(sys.argv[1])])' "$out" 2>&1)" \
    "[('picklist_drift', 'open')]"

t "parent/child: the child waits as lookup_missing; the run after its parent loads, the retry loads it"
expect_eq "$(qpy '[(q["class"], q["stage"], q["reason"]) for q in L if q["record"]["external_id"] == "STARK-EU-006"]')" \
    "[('lookup_missing', 'load', 'lookup parents: field parent_id: no match for \"STARK-HQ\" yet (retried on later runs)')]"
expect_eq "$(post "$CRM/_accounts" '{"accounts":[{"id":20,"external_id":"STARK-HQ","name":"Stark Industries","parent_external_id":null,"owner_email":"ana.silva@example.com","tier":"Gold","arr":"900000","renewal":"01/12/2027","active":"yes","updated_at":"2026-11-30 18:00","description":null}]}')" "200"
sync                                          # run 2: the parent is created; its child, in the same batch, is not yet
expect_rc 3
expect_in "$out" "retried from the quarantine: 2 (0 resolved, 2 still failing)"
expect_eq "$(fake_py '"STARK-HQ" in A, "STARK-EU-006" in A')" "(True, False)" "run 2"
expect_eq "$(qpy '[(q["status"], q["attempts"]) for q in L if q["record"]["external_id"] == "STARK-EU-006"]')" "[('open', 2)]" \
    "one attempt a run, though the retry and the full read both met it"
sync                                          # run 3: the retry at its start finds the parent
expect_rc 3
expect_in "$out" "retried from the quarantine: 2 (1 resolved, 1 still failing)"
expect_eq "$(fake_py 'A["STARK-EU-006"]["parent_id"] == A["STARK-HQ"]["id"]')" "True" "run 3: the child points at its parent"
expect_eq "$(qpy '[q["status"] for q in L if q["record"]["external_id"] == "STARK-EU-006"]')" "['resolved']"

t "a CSM's edit of tier (owned by the CRM) is reported and overwritten; an edit of notes is never overwritten"
post "$CS/_edit" '{"external_id":"ACME-001","field":"tier","value":"Bronze"}' >/dev/null
post "$CS/_edit" '{"external_id":"ACME-001","field":"notes","value":"CSM: renewal at risk, call before Q1"}' >/dev/null
# the CRM's description changes too: notes are still the CSM's
post "$CRM/_accounts" '{"accounts":[{"id":1,"external_id":"ACME-001","name":"Acme Corp","parent_external_id":null,"owner_email":"ana.silva@example.com","tier":"Gold","arr":"125000.50","renewal":"31/01/2027","active":"yes","updated_at":"2026-12-01 10:00","description":"Renewed early"}]}' >/dev/null
sync                                          # run 4
expect_rc 3
expect_in "$out" 'destination edit: tier of external_id "ACME-001": ours "Gold", theirs "Bronze"; overwritten'
expect_eq "$(count_lines "$out" 'destination edit')" "1" "only the owned field's edit is reported"
expect_eq "$(fake_py 'A["ACME-001"]["tier"], A["ACME-001"]["notes"], A["ACME-001"]["crm_updated_at"]')" \
    "('Gold', 'CSM: renewal at risk, call before Q1', '2026-12-01T09:00:00Z')"
expect_eq "$(runs_py '[(f["kind"], f["field"], f["record"], f["ours"], f["theirs"], f["action"]) for f in J[0]["findings"] if f["kind"] == "destination_edit"]')" \
    "[('destination_edit', 'tier', 'ACME-001', 'Gold', 'Bronze', 'overwrite')]"
sync                                          # run 5: nothing edited since
expect_not_in "$out" "destination edit"
expect_eq "$(fake_py 'A["ACME-001"]["notes"]')" "CSM: renewal at risk, call before Q1"

t "an account the CS platform refuses is quarantined as validation in its words; the rest of the batch loads"
post "$CS/_lock" '{"external_id":"INITECH-003"}' >/dev/null
post "$CRM/_accounts" '{"accounts":[{"id":1,"external_id":"ACME-001","name":"Acme Corp","parent_external_id":null,"owner_email":"ana.silva@example.com","tier":"Gold","arr":"130000","renewal":"31/01/2027","active":"yes","updated_at":"2026-12-02 10:00","description":"Renewed early"}]}' >/dev/null
sync                                          # run 6
expect_rc 3
expect_in "$out" "loaded 4 · quarantined 10 (1 batch)"
expect_eq "$(qpy '[(q["class"], q["stage"], q["reason"]) for q in L if q["record"]["external_id"] == "INITECH-003"]')" \
    "[('validation', 'load', 'CS platform refused INITECH-003: account INITECH-003 is locked while its renewal is in progress')]"
expect_eq "$(fake_py 'A["ACME-001"]["arr"]')" "130000.00" "the same batch's other accounts loaded"
post "$CS/_lock" '{"external_id":"INITECH-003","locked":false}' >/dev/null

t "--dry-run: creates, updates with before -> after and rejects printed; no batch sent, no run recorded"
post "$CRM/_accounts" '{"accounts":[{"id":30,"external_id":"NEWCO-030","name":"NewCo","parent_external_id":"ACME-001","owner_email":"carla.mendes@example.com","tier":"Basic","arr":"5000","renewal":"01/03/2027","active":"yes","updated_at":"2026-12-04 16:45","description":null},{"id":2,"external_id":"GLOBEX-002","name":"Globex","parent_external_id":null,"owner_email":"  Ben.Okafor@Example.COM ","tier":"Silver","arr":52000,"renewal":"15/06/2027","active":"Yes","updated_at":"2026-12-04 16:50","description":null}]}' >/dev/null
batches=$(fake_py 'R.count("POST /accounts/batch")')
runs_before=$(sql "$EX/data/ferry.db" "SELECT count(*) FROM runs")
q_before=$(sql "$EX/data/ferry.db" "SELECT group_concat(id || status || attempts) FROM quarantine")
ferry_ex run --dry-run "$EX/scripts/account_sync.lua"
expect_rc 0
DRY=$out
expect_in "$out" "dry run: nothing was written"
expect_in "$out" "load (CS platform accounts): would create 1 · update 1 · leave unchanged 4 · reject 9"
expect_in "$out" '"external_id":"NEWCO-030"'
expect_in "$out" '"owner_id":103,"parent_id":5001,"renewal_date":"2027-03-01"'
expect_in "$out" '"GLOBEX-002": arr "48000.00" -> "52000.00"; crm_updated_at "2026-10-25T02:15:00Z" -> "2026-12-04T15:50:00Z"; renewal_date "2026-06-15" -> "2027-06-15"; tier "Gold" -> "Silver"'
expect_in "$out" 'would reject (first 5):'
expect_in "$out" "transform lookup_missing: field 'owner_id': lookup owners: no match for \"new.hire@example.com\""
expect_eq "$(fake_py 'R.count("POST /accounts/batch")')" "$batches" "the CS platform got no batch"
expect_eq "$(fake_py '"NEWCO-030" in A, A["GLOBEX-002"]["arr"]')" "(False, '48000.00')"
expect_eq "$(sql "$EX/data/ferry.db" "SELECT count(*) FROM runs")" "$runs_before" "no run row"
expect_eq "$(sql "$EX/data/ferry.db" "SELECT group_concat(id || status || attempts) FROM quarantine")" "$q_before" \
    "the quarantine untouched"

t "an option removed upstream is reported on the next run's refresh; its values are picklist_drift from then on"
expect_eq "$(post "$CS/_options" '["Bronze","Gold"]')" "200"
sync                                          # run 7
expect_rc 3
expect_in "$out" 'picklist tier: options removed upstream: "Silver"'
expect_eq "$(runs_py '[(f["kind"], f["key"], f["removed"]) for f in J[0]["findings"] if f["kind"] == "picklist_options"]')" \
    "[('picklist_options', 'tier', ['Silver'])]"
expect_eq "$(qpy 'sorted((q["record"]["external_id"], q["class"], q["status"]) for q in L if q["record"]["tier"].strip().lower() == "silver")')" \
    "[('GLOBEX-002', 'picklist_drift', 'open'), ('INITECH-003', 'picklist_drift', 'open'), ('STARK-EU-006', 'picklist_drift', 'open')]"
expect_in "$out" 'picklist tier: unknown value "Silver" (quarantined) (3 records)'
expect_not_in "$out" 'unknown value "silver"'   # "silver " is the same value to the picklist: one line
expect_eq "$(fake_py 'A["INITECH-003"]["tier"], "NEWCO-030" in A')" "('Silver', True)" "what was written stays; the new account loads"
sync                                          # run 8: the same list: nothing to report
expect_not_in "$out" "options removed"

t "the tokens appear nowhere: not in the store, the summaries or the quarantine"
for f in "$EX/data/ferry.db" "$EX/data/ferry.db-wal"; do
    [ -f "$f" ] || continue
    grep -qaF -e "$CRM_TOKEN" -e "$CS_TOKEN" "$f" && fail "a token in $f"
done
grep -qF -e "$CRM_TOKEN" -e "$CS_TOKEN" <<<"$RUN1$DRY$out$err" && fail "a token in a summary"
done_t
