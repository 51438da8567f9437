#!/usr/bin/env bash
# End-to-end: the webhook inbox as operators see it. A real `ferry serve`
# (hooks without signatures on a loopback listener, an admin token) gets
# events posted by Python's http.client; one fails in transform and is
# quarantined; a pause keeps later ones pending. Then `ferry events` (text,
# --json, --status, NAME, paging with the footer's --before, show ID with a
# UTF-8 and a binary body), the inbox line and fields of `ferry status`
# (pending count, oldest age, failed), and GET /api/v1/events[/ID] (401
# without the token, the CLI's JSON, 400, 404).
#
#   bash tests/e2e/test_events.sh        or        ONLY=test_events make test
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
unset FERRY_CONFIG FERRY_DATA_DIR

PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || echo python3)
TOKEN="tok-$RANDOM$RANDOM-events"
DB="$WORK/data/ferry.db"
mkdir -p "$WORK/scripts"
cat >"$WORK/ferry.lua" <<EOF
return {
  data_dir = "$WORK/data", script_dirs = { "$WORK/scripts" },
  admin = { listen = "127.0.0.1:0", token = "$TOKEN" },
  hooks = { listen = "127.0.0.1:0" },
  integrations = { ["*"] = { trusted = true } },
}
EOF
cat >"$WORK/empty.lua" <<EOF
return { data_dir = "$WORK/nothing-yet" }
EOF
# hook NAME PATH JSON: a webhook integration; an event whose JSON says
# bad = true fails transform (quarantined); every loaded event's body is
# appended to $WORK/NAME.loaded.
hook() {
    cat >"$WORK/scripts/$1.lua" <<EOF
return ferry.integration {
  name = "$1", owner = "ops@example.com", purpose = "events test", pattern = "workflow",
  source_of_truth = "sender", freshness = "1h",
  trigger = { webhook = { path = "$2", signature = "none", json = $3 } },
  transform = function(ev)
    if ev.json and ev.json.bad then error("bad event " .. tostring(ev.json.n)) end
    return { id = ev.id, body = ev.body }
  end,
  load = function(batch)
    local f = assert(io.open("$WORK/$1.loaded", "a"))
    for _, r in ipairs(batch) do f:write(r.id, "\n") end
    f:close()
  end,
}
EOF
}
hook orders orders true
hook beta beta-path true
hook raw raw false

# post PATH BODY [DELIVERY_ID]: POST /hooks/PATH; sets $code.
cat >"$WORK/post.py" <<'EOF'
import http.client, sys
addr, path, body, delivery = sys.argv[1:5]
host, port = addr.rsplit(":", 1)
c = http.client.HTTPConnection(host, int(port), timeout=30)
h = {"Content-Type": "application/json"}
if delivery:
    h["webhook-id"] = delivery
c.request("POST", "/hooks/" + path, body=body.encode("utf-8", "surrogateescape"), headers=h)
print(c.getresponse().status)
EOF
post() { code=$("$PY" "$WORK/post.py" "$HOOKS" "$1" "$2" "${3:-}" 2>&1); }
# api PATH [TOKEN]: GET on the admin API; sets $code and $body. TOKEN "-"
# sends no Authorization.
cat >"$WORK/api.py" <<'EOF'
import http.client, sys
path, token, addr = sys.argv[1:4]
host, port = addr.rsplit(":", 1)
c = http.client.HTTPConnection(host, int(port), timeout=30)
c.request("GET", path, headers={} if token == "-" else {"Authorization": "Bearer " + token})
r = c.getresponse()
print(r.status)
sys.stdout.write(r.read().decode())
EOF
api() {
    local r
    r=$("$PY" "$WORK/api.py" "$1" "${2:-$TOKEN}" "$ADMIN" 2>&1)
    code=$(sed -n 1p <<<"$r"); body=$(sed -n '2,$p' <<<"$r")
}
# jpy JSON EXPR: a Python expression over J, the parsed JSON text.
jpy() {
    "$PY" -c 'import json, sys
J = json.loads(sys.argv[1])
print(eval(sys.argv[2]))' "$1" "$2" 2>&1
}
# settled: wait (30 s at most: CI machines are shared) until no event is pending but those of paused integrations.
settled() {
    for _ in $(seq 1 600); do
        [ "$(sql "$DB" "SELECT count(*) FROM events e JOIN integrations i ON i.name = e.integration
                        WHERE e.status = 'pending' AND i.paused_at IS NULL")" = 0 ] && return 0
        sleep 0.05
    done
    fail "events still pending: $(sql "$DB" "SELECT id, integration, status FROM events")"
}
# rows TEXT: the table rows of `ferry events` (neither header nor footer).
rows() { grep -E '^[0-9]+ ' <<<"$1"; }

# ---------------------------------------------------------------------------
t "events: an empty data directory lists nothing (text and --json)"
mkdir -p "$WORK/nothing-yet"
run_ferry events -c empty.lua
expect_rc 0
expect_in "$out" "the inbox is empty"
run_ferry events --json -c empty.lua
expect_rc 0
expect_eq "$out" "[]"

t "serve: webhooks are served on their own listener"
start_serve "$WORK" ferry.lua
for _ in $(seq 1 100); do
    HOOKS=$(jpy "$(cat "$WORK/data/serve.json")" 'J.get("hooks", "")')
    [ -n "$HOOKS" ] && break
    sleep 0.05
done
grep -qE '^127\.0\.0\.1:[1-9][0-9]*$' <<<"$HOOKS" || fail "hooks address: $HOOKS ($(tail -3 "$WORK/serve.log"))"

t "posted events are handled: two done, a bad one failed (quarantined) with its run"
post orders '{"n":1}' order-1; expect_eq "$code" 202
post orders '{"n":2}' order-2; expect_eq "$code" 202
post orders '{"n":3,"bad":true}'; expect_eq "$code" 202
post beta-path '{"n":4}' beta-1; expect_eq "$code" 202
settled
expect_eq "$(sql "$DB" "SELECT id || ':' || status FROM events ORDER BY id" | tr '\n' ' ')" "1:done 2:done 3:failed 4:done "
QRUN=$(sql "$DB" "SELECT first_run FROM quarantine WHERE integration = 'orders'")
[ -n "$QRUN" ] || fail "nothing quarantined"
expect_eq "$(sql "$DB" "SELECT run_id FROM events WHERE id = 3")" "$QRUN"

t "paused, an integration's events stay pending"
run_ferry pause orders --reason "events test" -c ferry.lua
expect_rc 0
for n in 5 6 7 8; do post orders "{\"n\":$n}" "order-$n"; expect_eq "$code" 202; done
sleep 0.5
expect_eq "$(sql "$DB" "SELECT group_concat(id) FROM events WHERE status = 'pending'")" "5,6,7,8"
# the oldest pending event came two hours ago (so its age is plain to see)
sql "$DB" "UPDATE events SET received_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-2 hours') WHERE id = 5" >/dev/null
OLDEST=$(sql "$DB" "SELECT received_at FROM events WHERE id = 5")

t "ferry events: newest first, one line each: id, integration, hook, status, age, run, size, delivery id"
run_ferry events -c ferry.lua
expect_rc 0
expect_eq "$(rows "$out" | awk '{print $1}' | tr '\n' ' ')" "8 7 6 5 4 3 2 1 "
expect_in "$(head -1 <<<"$out")" "ID"
expect_in "$(head -1 <<<"$out")" "DELIVERY ID"
grep -qE '^8 +orders +orders +pending +[0-9]+s ago +- +7  order-8$' <<<"$out" || fail "row of 8: $(rows "$out" | head -1)"
grep -qE "^5 +orders +orders +pending +2h([0-9]+s)? ago " <<<"$out" || fail "row of 5: $(grep '^5 ' <<<"$out")"
grep -qE "^3 +orders +orders +failed +[0-9]+s ago +$QRUN +18  -$" <<<"$out" || fail "row of 3: $(grep '^3 ' <<<"$out")"
grep -qE "^4 +beta +beta-path +done .*  beta-1$" <<<"$out" || fail "row of 4: $(grep '^4 ' <<<"$out")"
expect_eq "$(tail -1 <<<"$out")" "-- 8 of 8 events (last page)"

t "ferry events --json: every event, newest first, with its run and size"
run_ferry events --json -c ferry.lua
expect_rc 0
expect_eq "$(jpy "$out" '[e["id"] for e in J]')" "[8, 7, 6, 5, 4, 3, 2, 1]"
expect_eq "$(jpy "$out" 'sorted(J[0])')" "['body_bytes', 'delivery_id', 'hook', 'id', 'integration', 'method', 'received_at', 'run_id', 'status']"
expect_eq "$(jpy "$out" '[(e["status"], e["run_id"] is None) for e in J if e["id"] in (8, 3, 1)]')" \
    "[('pending', True), ('failed', False), ('done', False)]"
expect_eq "$(jpy "$out" '[e["run_id"] for e in J if e["id"] == 3][0]')" "$QRUN"
expect_eq "$(jpy "$out" '[(e["delivery_id"], e["body_bytes"], e["hook"]) for e in J if e["id"] in (4, 3)]')" \
    "[('beta-1', 7, 'beta-path'), (None, 18, 'orders')]"
expect_eq "$(jpy "$out" '[e["received_at"] for e in J if e["id"] == 5][0]')" "$OLDEST"
CLI_JSON=$out

t "ferry events --status and NAME filter"
run_ferry events orders --status pending -c ferry.lua
expect_rc 0
expect_eq "$(rows "$out" | awk '{print $1}' | tr '\n' ' ')" "8 7 6 5 "
expect_eq "$(tail -1 <<<"$out")" "-- 4 of 4 pending events (last page)"
run_ferry events --status failed --json -c ferry.lua
expect_eq "$(jpy "$out" '[(e["id"], e["run_id"]) for e in J]')" "[(3, '$QRUN')]"
run_ferry events --status done -c ferry.lua
expect_eq "$(rows "$out" | awk '{print $1 ":" $4}' | tr '\n' ' ')" "4:done 2:done 1:done "
run_ferry events beta -c ferry.lua
expect_eq "$(rows "$out" | awk '{print $1}' | tr '\n' ' ')" "4 "
run_ferry events beta --status pending -c ferry.lua
expect_rc 0
expect_eq "$out" "(no pending events of beta in the inbox)"

t "ferry events: paging with the footer's --before, every event once"
run_ferry events orders --limit 3 -c ferry.lua
expect_eq "$(rows "$out" | awk '{print $1}' | tr '\n' ' ')" "8 7 6 "
expect_eq "$(tail -1 <<<"$out")" "-- 3 of 7 events; next page: ferry events orders --limit 3 --before 6"
seen=$(rows "$out" | awk '{print $1}')
for _ in 1 2 3 4; do
    next=$(tail -1 <<<"$out" | sed -n 's/.*next page: ferry //p')
    [ -n "$next" ] || break
    # shellcheck disable=SC2086   # the footer's words are the arguments
    run_ferry $next -c ferry.lua
    expect_rc 0
    seen="$seen $(rows "$out" | awk '{print $1}')"
done
expect_eq "$(echo $seen)" "8 7 6 5 3 2 1"
expect_eq "$(tail -1 <<<"$out")" "-- 1 of 7 events (last page)"
run_ferry events --status pending --limit 2 --before 7 -c ferry.lua
expect_eq "$(rows "$out" | awk '{print $1}' | tr '\n' ' ')" "6 5 "
expect_eq "$(tail -1 <<<"$out")" "-- 2 of 4 pending events (last page)"
run_ferry events --before 1 -c ferry.lua
expect_eq "$out" "(no events in the inbox before that id)"

t "ferry events: usage errors exit 2; an unknown integration suggests the closest"
run_ferry events ordrs -c ferry.lua
expect_rc 2
expect_in "$err" "no integration 'ordrs'"
expect_in "$err" "did you mean 'orders'?"
run_ferry events --status open -c ferry.lua
expect_rc 2
expect_in "$err" "--status takes pending, done or failed, got 'open'"
run_ferry events --before x -c ferry.lua
expect_rc 2
run_ferry events --limit 0 -c ferry.lua
expect_rc 2
run_ferry events orders beta -c ferry.lua
expect_rc 2
run_ferry events show -c ferry.lua
expect_rc 2
run_ferry events show 99 -c ferry.lua
expect_rc 1
expect_in "$err" "no event 99 in the inbox"
run_ferry events --class x -c ferry.lua
expect_rc 2
expect_in "$err" "unknown option '--class'"
run_ferry help events
expect_rc 0
expect_in "$out" "--before ID"

t "ferry events show: headers, body as text, the run; --json has them too"
run_ferry events show 3 -c ferry.lua
expect_rc 0
expect_in "$out" "event 3 · orders · failed"
expect_in "$out" "request      POST /hooks/orders"
expect_in "$out" "run          $QRUN (quarantined"
expect_in "$out" "  content-type: application/json"
expect_in "$out" 'body (18 bytes):'
expect_eq "$(tail -1 <<<"$out")" '{"n":3,"bad":true}'
run_ferry events show 1 --json -c ferry.lua
expect_rc 0
expect_eq "$(jpy "$out" '(J["id"], J["status"], J["delivery_id"], J["headers"]["webhook-id"], J["body"], J["body_bytes"])')" \
    "(1, 'done', 'order-1', 'order-1', '{\"n\":1}', 7)"
run_ferry events show 7 -c ferry.lua
expect_in "$out" "event 7 · orders · pending"
expect_in "$out" "waiting"

t "ferry events show: a body that is not UTF-8 is given by its size"
post raw $'\xff\xfe binary \x80' ; expect_eq "$code" 202
settled
RAW=$(sql "$DB" "SELECT max(id) FROM events WHERE integration = 'raw'")
run_ferry events show "$RAW" -c ferry.lua
expect_rc 0
expect_in "$out" "body: 11 bytes, not UTF-8 text (not shown)"
run_ferry events show "$RAW" --json -c ferry.lua
expect_eq "$(jpy "$out" '(J["body"], J["body_bytes"], J["status"])')" "(None, 11, 'done')"

t "ferry status: the inbox line (pending, oldest age, failed) under the integration"
run_ferry status -c ferry.lua
expect_rc 0
grep -qE "^    inbox 4 pending \(oldest 2h([0-9]+s)? ago\) · 1 failed, quarantined \('ferry events orders --status failed'\)$" <<<"$out" ||
    fail "no inbox line for orders: $out"
expect_eq "$(grep -c '^    inbox' <<<"$out")" 1 "only orders has pending or failed events"
expect_eq "$(sed -n '/^orders /,/^[a-z]/p' <<<"$out" | grep -c '^    inbox')" 1 "the line is under orders"
run_ferry status --json -c ferry.lua
expect_eq "$(jpy "$out" '[(r["name"], r["inbox_pending"], r["inbox_oldest"], r["inbox_failed"]) for r in J]')" \
    "[('beta', 0, None, 0), ('orders', 4, '$OLDEST', 1), ('raw', 0, None, 0)]"

t "admin API: 401 without the token"
api /api/v1/events -
expect_eq "$code" 401
api /api/v1/events/1 -
expect_eq "$code" 401

t "admin API: GET /api/v1/events answers the CLI's JSON, with its filters"
api /api/v1/events
expect_eq "$code" 200
expect_eq "$(jpy "$body" '[e for e in J if e["integration"] != "raw"]')" "$(jpy "$CLI_JSON" 'J')"
api "/api/v1/events?integration=orders&status=pending&limit=2"
expect_eq "$code" 200
expect_eq "$(jpy "$body" '[e["id"] for e in J]')" "[8, 7]"
api "/api/v1/events?integration=orders&status=pending&limit=2&before=7"
expect_eq "$(jpy "$body" '[e["id"] for e in J]')" "[6, 5]"
api "/api/v1/events?status=failed"
expect_eq "$(jpy "$body" '[(e["id"], e["run_id"]) for e in J]')" "[(3, '$QRUN')]"

t "admin API: GET /api/v1/events/ID in full"
api /api/v1/events/3
expect_eq "$code" 200
run_ferry events show 3 --json -c ferry.lua
expect_eq "$(jpy "$body" 'J')" "$(jpy "$out" 'J')"
expect_eq "$(jpy "$body" '(J["status"], J["run_id"], J["body"], J["headers"]["content-type"])')" \
    "('failed', '$QRUN', '{\"n\":3,\"bad\":true}', 'application/json')"

t "admin API: 400 on bad parameters, 404 on an unknown event or integration"
for q in "status=open" "limit=0" "limit=x" "before=-1" "before=x" "colour=red"; do
    api "/api/v1/events?$q"
    expect_eq "$code" 400 "$q"
done
api "/api/v1/events?status=open"
expect_in "$(jpy "$body" 'J["error"]')" "pending, done or failed"
api /api/v1/events/999
expect_eq "$code" 404
expect_eq "$(jpy "$body" 'J["error"]')" "no event 999 in the inbox"
api /api/v1/events/1?x=1
expect_eq "$code" 400
api "/api/v1/events?integration=ordrs"
expect_eq "$code" 404
expect_in "$(jpy "$body" 'J["error"]')" "did you mean 'orders'"

t "admin API: integrations carry inbox_pending, inbox_oldest, inbox_failed"
api /api/v1/integrations
expect_eq "$code" 200
expect_eq "$(jpy "$body" '[(r["name"], r["inbox_pending"], r["inbox_oldest"], r["inbox_failed"]) for r in J]')" \
    "[('beta', 0, None, 0), ('orders', 4, '$OLDEST', 1), ('raw', 0, None, 0)]"
api /api/v1/integrations/orders
expect_eq "$(jpy "$body" '(J["inbox_pending"], J["inbox_failed"])')" "(4, 1)"

t "resumed, the pending events are handled; status keeps only the failed count"
run_ferry resume orders -c ferry.lua
expect_rc 0
settled
run_ferry events orders --status pending -c ferry.lua
expect_eq "$out" "(no pending events of orders in the inbox)"
expect_eq "$(sql "$DB" "SELECT count(DISTINCT run_id) FROM events WHERE id BETWEEN 5 AND 8")" 1 "one run took the four"
run_ferry status -c ferry.lua
expect_in "$out" "    inbox 1 failed, quarantined ('ferry events orders --status failed')"
expect_not_in "$out" "pending"
run_ferry status --json -c ferry.lua
expect_eq "$(jpy "$out" '[(r["inbox_pending"], r["inbox_oldest"]) for r in J if r["name"] == "orders"]')" "[(0, None)]"

t "after serve stops, ferry events still reads the store"
stop_serve
expect_eq "$rc" 0
run_ferry events orders --limit 1 -c ferry.lua
expect_rc 0
expect_eq "$(rows "$out" | awk '{print $1 ":" $4}')" "8:done"
done_t
