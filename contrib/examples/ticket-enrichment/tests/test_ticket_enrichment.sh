#!/usr/bin/env bash
# The ticket-enrichment example end to end: the shipped script and config,
# run by a real `ferry serve` against the two fakes (CRM and helpdesk, Python
# standard library, 127.0.0.1). Ticket-created events are posted to the hook;
# the test checks what the helpdesk received, what went to the quarantine
# with which class, and what `ferry runs` and `ferry status` say.
. "$(dirname "$0")/../../../../tests/e2e/lib.sh"

EX_SRC=$ROOT/contrib/examples/ticket-enrichment
EX=$WORK/ex                                   # a copy: settings.lua gets the fakes' ports
NAME=ticket-enrichment
export CRM_TOKEN=crm-test-token-5f1c2a HELPDESK_TOKEN=helpdesk-test-token-9d3e7b
export HELPDESK_WEBHOOK_TOKEN=hook-test-token-c4a81f
export FERRY_ADMIN_LISTEN=127.0.0.1:0 FERRY_HOOKS_LISTEN=127.0.0.1:0
unset FERRY_DATA_DIR

cp -r "$EX_SRC" "$EX"
rm -rf "$EX/data"
python3 "$EX/fakes/fake_systems.py" --crm-port 0 --helpdesk-port 0 --port-file "$WORK/ports.json" \
    --crm-token "$CRM_TOKEN" --helpdesk-token "$HELPDESK_TOKEN" >"$WORK/fakes.log" 2>&1 &
_bg_pids+=($!)
for _ in $(seq 1 200); do [ -s "$WORK/ports.json" ] && break; sleep 0.05; done
port() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$WORK/ports.json" "$1"; }
CRM=http://127.0.0.1:$(port crm)
DESK=http://127.0.0.1:$(port helpdesk)
sed -i "s|http://127.0.0.1:8801|$CRM|; s|http://127.0.0.1:8802|$DESK|" "$EX/scripts/ticket_enrichment/settings.lua"

ferry_ex() { run_ferry "$@" -c "$EX/ferry.lua"; }
ev() { sql "$EX/data/ferry.db" "$1"; }
wait_for() {   # wait_for SECONDS 'CONDITION'
    local i
    for i in $(seq 1 $(( $1 * 10 ))); do eval "$2" >/dev/null 2>&1 && return 0; sleep 0.1; done
    fail "timed out waiting for: $2"
}
settled() { wait_for "${1:-10}" 'test "$(ev "SELECT count(*) FROM events WHERE status = '\''pending'\''")" = 0'; }
# ticket ID [ORG [TOKEN]]: posts a ticket-created event as the helpdesk would
# (Authorization: Bearer TOKEN, the webhook token by default); sets code
ticket() {
    local org=${2:-null} token=${3-$HELPDESK_WEBHOOK_TOKEN}
    code=$(curl -s -o "$WORK/answer" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        ${token:+-H "Authorization: Bearer $token"} \
        --data "{\"ticket\":{\"id\":$1,\"organization_id\":$org,\"subject\":\"Ticket $1\",\"status\":\"new\"}}" \
        "http://$HOOKS/hooks/ticket-created")
}
# desk_py EXPR: a Python expression over R (the PUTs the helpdesk accepted,
# each {"ticket": ID, "body": ...}) and T (GET of one ticket: T(ID))
desk_py() {
    python3 - "$DESK" "$1" <<'EOF' 2>&1
import json, sys, urllib.request, base64, os
base = sys.argv[1]
R = json.load(urllib.request.urlopen(base + "/_received"))
def T(i):
    req = urllib.request.Request("%s/api/v2/tickets/%d" % (base, i))
    auth = base64.b64encode(("ferry@example.com/token:" + os.environ["HELPDESK_TOKEN"]).encode()).decode()
    req.add_header("Authorization", "Basic " + auth)
    return json.load(urllib.request.urlopen(req))["ticket"]
print(eval(sys.argv[2]))
EOF
}
crm_py() {   # crm_py EXPR: over Q, the CRM's account lookups [{"path","status"}]
    python3 -c 'import json, sys, urllib.request; Q = json.load(urllib.request.urlopen(sys.argv[1] + "/_requests")); print(eval(sys.argv[2]))' "$CRM" "$1" 2>&1
}
fault() { curl -s -X POST --data "$1" "$CRM/_faults" >/dev/null; }
qpy() { quarantine_py "$EX/data" "$NAME" "$1"; }

# ---------------------------------------------------------------------------
t "the shipped script passes ferry check with the shipped config"
ferry_ex check
expect_rc 0
expect_in "$out" "ok: ticket-enrichment (workflow, owner support-ops@example.com, source of truth crm, webhook POST /hooks/ticket-created (signature token)"

t "ferry serve runs it and listens for the helpdesk's webhooks"
[ -s "$WORK/ports.json" ] || fail "the fakes did not start: $(cat "$WORK/fakes.log")"
start_serve "$EX" ferry.lua
HOOKS=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["hooks"])' "$EX/data/serve.json")
expect_in "$(cat "$EX/serve.log")" "webhooks: listening on $HOOKS"

t "without the webhook token, or with a wrong one: 401, nothing stored, nothing written"
ticket 100 1001 ""
expect_eq "$code" 401
ticket 100 1001 wrong-token
expect_eq "$code" 401
expect_in "$(cat "$WORK/answer")" "does not match"
expect_eq "$(ev "SELECT count(*) FROM events")" "0"
expect_eq "$(desk_py 'R')" "[]"

t "a new ticket gets its account's tier and health: custom fields and tags, an agent's tag kept"
# an agent tagged ticket 101 before ferry got to it: additional_tags must keep it
curl -s -u "ferry@example.com/token:$HELPDESK_TOKEN" -X PUT --data '{"ticket":{"tags":["vip_escalation"]}}' \
    "$DESK/api/v2/tickets/101" >/dev/null
ticket 101 1001
expect_eq "$code" 202
settled
expect_eq "$(desk_py 'T(101)')" \
    "{'id': 101, 'tags': ['health_healthy', 'tier_enterprise', 'vip_escalation'], 'custom_fields': [{'id': 360001, 'value': 'enterprise'}, {'id': 360002, 'value': 82}]}"
expect_eq "$(desk_py 'json.dumps([r["body"] for r in R if r["ticket"] == 101][1:], sort_keys=True)')" \
    '[{"ticket": {"additional_tags": ["tier_enterprise", "health_healthy"], "custom_fields": [{"id": 360001, "value": "enterprise"}, {"id": 360002, "value": 82}]}}]' \
    "what ferry sent, after the agent's own update"
logged=$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("msg") == "ticket enriched" and e.get("ticket") == 101:
        print(e["integration"], e["tier"], e["health_score"])' "$EX/serve.log" 2>&1)
expect_eq "$logged" "ticket-enrichment enterprise 82" "the log line of the load"

t "a CRM 429 (Retry-After: 1) is retried and the ticket is still written"
fault '{"status":429,"times":1,"retry_after":"1"}'
ticket 102 1002
expect_eq "$code" 202
settled
expect_eq "$(crm_py '[q["status"] for q in Q if q["path"] == "/accounts/1002"]')" "[429, 200]"
expect_eq "$(desk_py 'T(102)["custom_fields"], T(102)["tags"]')" \
    "([{'id': 360001, 'value': 'growth'}, {'id': 360002, 'value': 41}], ['health_watch', 'tier_growth'])"

t "a burst of events: every ticket written once, none lost"
for i in 1 2 3 4 5 6 7 8; do ticket $((200 + i)) 1003; [ "$code" = 202 ] || fail "ticket $((200 + i)): $code"; done
settled
expect_eq "$(desk_py 'sorted(r["ticket"] for r in R if 200 < r["ticket"] < 300)')" "[201, 202, 203, 204, 205, 206, 207, 208]"
expect_eq "$(desk_py 'T(205)["custom_fields"]')" "[{'id': 360001, 'value': 'starter'}, {'id': 360002, 'value': 67}]"

t "an unknown account: quarantined as lookup_missing, nothing written, the event marked failed"
ticket 103 9999
expect_eq "$code" 202
settled
expect_eq "$(qpy '[(r["class"], r["stage"], r["reason"]) for r in L if r["record"]["json"]["ticket"]["id"] == 103]')" \
    "[('lookup_missing', 'transform', 'ticket 103: no CRM account for organization 9999')]"
expect_eq "$(desk_py '[r for r in R if r["ticket"] == 103]')" "[]"
expect_eq "$(ev "SELECT status FROM events WHERE CAST(body AS TEXT) LIKE '%\"id\":103,%'")" "failed"

t "a tier the helpdesk does not offer: quarantined as picklist_drift, naming the value"
ticket 104 1004
settled
expect_eq "$(qpy '[(r["class"], "Platinum" in r["reason"]) for r in L if r["record"]["json"]["ticket"]["id"] == 104]')" \
    "[('picklist_drift', True)]"
expect_eq "$(desk_py '[r for r in R if r["ticket"] == 104]')" "[]"

t "a ticket without an organization is skipped (nothing to enrich), its event done"
ticket 105
settled
expect_eq "$(ev "SELECT status FROM events WHERE CAST(body AS TEXT) LIKE '%\"id\":105,%'")" "done"
expect_eq "$(desk_py '[r for r in R if r["ticket"] == 105]')" "[]"
expect_eq "$(qpy '[r for r in L if r["record"]["json"]["ticket"]["id"] == 105]')" "[]"

t "CRM down: retried, then quarantined as transient; replayed once it is back, the ticket written"
fault '{"status":503,"times":-1}'
ticket 106 1001
settled 30
expect_eq "$(crm_py '[q["status"] for q in Q if q["path"] == "/accounts/1001"][1:]')" "[503, 503, 503, 503]" \
    "policy.retry attempts = 4"
expect_eq "$(qpy '[(r["class"], r["status"]) for r in L if r["record"]["json"]["ticket"]["id"] == 106]')" \
    "[('transient', 'open')]"
expect_eq "$(desk_py '[r for r in R if r["ticket"] == 106]')" "[]"
fault '{"status":0}'
ferry_ex quarantine replay "$NAME" --class transient
expect_rc 0
expect_in "$out" "replayed 1 · transformed 1 · skipped 0 · loaded 1 · still failing 0"
expect_eq "$(qpy '[r["status"] for r in L if r["record"]["json"]["ticket"]["id"] == 106]')" "['resolved']"
expect_eq "$(desk_py 'T(106)["tags"]')" "['health_healthy', 'tier_enterprise']"

t "ferry runs lists the webhook runs with their counts by class"
ferry_ex runs "$NAME" --json
expect_rc 0
summary=$(python3 -c '
import json, sys
runs = json.loads(sys.argv[1])
hook = [r for r in runs if r["trigger"] == "webhook"]
by = {}
for r in hook:
    for k, v in (r.get("by_class") or {}).items(): by[k] = by.get(k, 0) + v
print(sum(r["extracted"] for r in hook), sum(r["loaded"] for r in hook), sum(r["skipped"] for r in hook),
      sorted(by.items()), sorted(set(r["trigger"] for r in runs)))' "$out" 2>&1)
expect_eq "$summary" "14 10 1 [('lookup_missing', 1), ('picklist_drift', 1), ('transient', 1)] ['replay', 'webhook']" \
    "events, loaded, skipped, by class, triggers"
ferry_ex runs "$NAME"
expect_in "$out" "webhook"
expect_in "$out" '"lookup_missing":1'

t "ferry status shows the integration fresh, with the two records still open"
ferry_ex status
expect_rc 0
expect_in "$out" "ferry serve is running: pid $SERVE_PID"
line=$(grep "^$NAME " <<<"$out")
expect_in "$line" "fresh (within 1d)"
expect_in "$line" "2 open"
expect_in "$line" "support-ops@example.com"

t "the tokens appear nowhere: not in the store, the logs or the summaries"
stop_serve
expect_rc 0
for f in "$EX/data/ferry.db" "$EX/data/ferry.db-wal" "$EX/serve.log" "$EX/serve.out"; do
    [ -f "$f" ] || continue
    grep -qaF -e "$CRM_TOKEN" -e "$HELPDESK_TOKEN" -e "$HELPDESK_WEBHOOK_TOKEN" "$f" && fail "a token in $f"
    grep -qaF "$(printf 'ferry@example.com/token:%s' "$HELPDESK_TOKEN" | base64 -w0)" "$f" && fail "the Basic credentials in $f"
done
done_t
