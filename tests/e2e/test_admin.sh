#!/usr/bin/env bash
# End-to-end: the admin API of a real `ferry serve` and the CLI against it.
# The bearer token (401 without or with a wrong one; /healthz and /readyz
# open), each endpoint's JSON, 404/405/413/400, a client that sends half a
# request does not stall the others, trigger (202; 409 while running),
# pause/resume, reset, reload, the quarantine; `ferry status|trigger|pause|
# resume|reload|quarantine replay|discard|reset|run` with a service holding
# the data directory; and a non-loopback listener without a token refused.
# Scripts are schedule "manual": nothing runs unasked.
#
#   bash tests/e2e/test_admin.sh        or        ONLY=test_admin make test
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
unset FERRY_CONFIG FERRY_DATA_DIR

PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || echo python3)
TOKEN="tok-$RANDOM$RANDOM-admin"
mkdir -p "$WORK/scripts"
cfg() {   # cfg FILE LISTEN TOKEN_EXPR DATA_DIR
    cat >"$WORK/$1" <<EOF
return {
  data_dir = "$4", script_dirs = { "$WORK/scripts" },
  admin = { listen = "$2", token = $3 },
  integrations = { ["*"] = { trusted = true } },
}
EOF
}
cfg ferry.lua 127.0.0.1:0 "\"$TOKEN\"" "$WORK/data"
cfg wrong.lua 127.0.0.1:0 '"not-the-token"' "$WORK/data"

# alpha: ids 1-3, id 2 fails transform unless $WORK/fixed exists (a new
# quarantined record each run: it carries the run id); checkpoints.
cat >"$WORK/scripts/alpha.lua" <<EOF
return ferry.integration {
  name = "alpha", owner = "ops@example.com", purpose = "admin test", pattern = "reporting",
  source_of_truth = "fixture", freshness = "1h", schedule = "manual",
  extract = function(ctx)
    for i = 1, 3 do ctx:emit({ id = i, run = i == 2 and ctx.run_id or nil }) end
    ctx:checkpoint({ after = 3 })
  end,
  transform = function(r)
    if r.id == 2 and not io.open("$WORK/fixed") then return nil, "record 2 is bad" end
    return r
  end,
  load = function(batch) end,
}
EOF
# gate: waits until $WORK/go exists, then loads one record.
cat >"$WORK/scripts/gate.lua" <<EOF
return ferry.integration {
  name = "gate", owner = "ops@example.com", purpose = "admin test", pattern = "workflow",
  source_of_truth = "fixture", freshness = "1h", schedule = "manual",
  extract = function(ctx)
    while not io.open("$WORK/go") do ferry.sleep(0.05) end
    ctx:emit({ id = 1 })
    ctx:checkpoint({ done = true })
  end,
  load = function(batch) end,
}
EOF

# api METHOD PATH [BODY] [TOKEN]: one request to the service; sets $code,
# $body and $allow (the Allow header). TOKEN "-" sends no Authorization.
cat >"$WORK/api.py" <<'EOF'
import http.client, sys
method, path, body, token, addr = sys.argv[1:6]
host, port = addr.rsplit(":", 1)
c = http.client.HTTPConnection(host, int(port), timeout=10)
h = {} if token == "-" else {"Authorization": "Bearer " + token}
c.request(method, path, body=body.encode() if body else None, headers=h)
r = c.getresponse()
print(r.status)
print(r.getheader("Allow") or "")
sys.stdout.write(r.read().decode())
EOF
api() {
    local r
    r=$("$PY" "$WORK/api.py" "$1" "$2" "${3:-}" "${4:-$TOKEN}" "$ADMIN" 2>&1)
    code=$(sed -n 1p <<<"$r"); allow=$(sed -n 2p <<<"$r"); body=$(sed -n '3,$p' <<<"$r")
}
# jpy JSON EXPR: a Python expression over J, the parsed JSON text.
jpy() {
    "$PY" -c 'import json, sys
J = json.loads(sys.argv[1])
print(eval(sys.argv[2]))' "$1" "$2" 2>&1
}
# wait_run ID: until GET runs/ID is no longer running (5 s at most).
wait_run() {
    for _ in $(seq 1 100); do
        api GET "/api/v1/runs/$1"
        [ "$code" = 200 ] && [ "$(jpy "$body" 'J["status"]')" != running ] && return 0
        sleep 0.05
    done
    return 1
}

# ---------------------------------------------------------------------------
t "serve: writes serve.json (mode 0600) naming its pid and the admin address it bound"
start_serve "$WORK" ferry.lua --log-level debug
[ -n "$ADMIN" ] || fail "no serve.json: $(cat "$WORK/serve.log")"
expect_eq "$(stat -c %a "$WORK/data/serve.json")" 600
expect_eq "$(jpy "$(cat "$WORK/data/serve.json")" 'J["pid"]')" "$SERVE_PID"
grep -qE '^127\.0\.0\.1:[1-9][0-9]*$' <<<"$ADMIN" || fail "admin address: $ADMIN"

t "auth: 401 JSON without a token and with a wrong one; /healthz and /readyz need none"
api GET /api/v1/integrations "" -
expect_eq "$code" 401
expect_in "$(jpy "$body" 'J["error"]')" "bearer token"
api GET /api/v1/integrations "" "wrong-$TOKEN"
expect_eq "$code" 401
api GET /api/v1/integrations "" "${TOKEN:0:${#TOKEN}-1}"
expect_eq "$code" 401 "a prefix of the token"
api POST /api/v1/integrations/alpha/trigger "" -
expect_eq "$code" 401 "an action without a token"
api GET /api/v1/nowhere "" -
expect_eq "$code" 401 "unknown paths say nothing without a token"
api GET /healthz "" -
expect_eq "$code" 200
expect_eq "$(jpy "$body" 'J["status"]')" ok
api GET /readyz "" -
expect_eq "$code" 200
expect_eq "$(jpy "$body" 'J["status"]')" ready

t "GET integrations: one object per integration with what status knows and what serve keeps"
api GET /api/v1/integrations
expect_eq "$code" 200
expect_eq "$(jpy "$body" '[r["name"] for r in J]')" "['alpha', 'gate']"
expect_eq "$(jpy "$body" 'sorted(set(["name","owner","purpose","pattern","source_of_truth","version","schedule","next_run","last_run","last_good","stale","stale_reason","paused","paused_at","paused_reason","reload_error","quarantine_open","running"]) - set(J[0]))')" "[]"
expect_eq "$(jpy "$body" '(J[0]["owner"], J[0]["purpose"], J[0]["source_of_truth"], J[0]["schedule"], J[0]["stale_reason"], J[0]["paused"], J[0]["running"], len(J[0]["version"]))')" \
    "('ops@example.com', 'admin test', 'fixture', 'manual', 'never_run', 0, None, 16)"

t "GET integrations/NAME: that one; 404 JSON for an unknown one"
api GET /api/v1/integrations/gate
expect_eq "$code" 200
expect_eq "$(jpy "$body" '(J["name"], J["pattern"])')" "('gate', 'workflow')"
api GET /api/v1/integrations/nosuch
expect_eq "$code" 404
expect_in "$(jpy "$body" 'J["error"]')" "nosuch"

t "errors: unknown path 404, wrong method 405 with Allow, body over 64 KB 413, malformed JSON 400"
api GET /api/v1/nowhere
expect_eq "$code" 404
expect_in "$(jpy "$body" 'J["error"]')" "no such path"
api GET /api/v2/integrations
expect_eq "$code" 404
api DELETE /api/v1/integrations
expect_eq "$code" 405
expect_eq "$allow" "GET, HEAD"
api GET /api/v1/integrations/alpha/trigger
expect_eq "$code" 405
expect_eq "$allow" "POST"
api GET /api/v1/quarantine/replay
expect_eq "$code" 405 "quarantine/replay is not a record id"
big=$("$PY" -c 'print("{\"reason\":\"" + "x" * 70000 + "\"}")')
api POST /api/v1/integrations/alpha/pause "$big"
expect_eq "$code" 413
expect_in "$(jpy "$body" 'J["error"]')" "limit"
api POST /api/v1/integrations/alpha/pause '{"reason": "unterminated'
expect_eq "$code" 400
expect_in "$(jpy "$body" 'J["error"]')" "not valid JSON"
api POST /api/v1/integrations/alpha/pause '["a"]'
expect_eq "$code" 400 "an array is not an object"
api POST /api/v1/integrations/alpha/pause '{"reasn": "typo"}'
expect_eq "$code" 400
expect_in "$(jpy "$body" 'J["error"]')" 'unknown field "reasn"'
api POST /api/v1/integrations/alpha/pause '{"reason": 7}'
expect_eq "$code" 400 "a reason that is not a string"
api GET "/api/v1/integrations/alpha/runs?limit=0"
expect_eq "$code" 400
api GET "/api/v1/quarantine?colour=red"
expect_eq "$code" 400 "an unknown query parameter"
api GET /api/v1/integrations
expect_eq "$(jpy "$body" '[r["paused"] for r in J]')" "[0, 0]" "none of the bad requests paused anything"

t "a client that sends half a request does not stall the others"
res=$("$PY" - "$ADMIN" "$TOKEN" <<'EOF'
import http.client, socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
slow = socket.create_connection((host, int(port)))
slow.sendall(b"POST /api/v1/integrations/alpha/pause HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"rea")
slow2 = socket.create_connection((host, int(port)))
slow2.sendall(b"GET /api/v1/integ")
time.sleep(0.2)
t0 = time.time()
c = http.client.HTTPConnection(host, int(port), timeout=5)
c.request("GET", "/api/v1/integrations", headers={"Authorization": "Bearer " + sys.argv[2]})
r = c.getresponse()
r.read()
print(r.status, "%.2f" % (time.time() - t0))
slow.close(); slow2.close()
EOF
)
expect_eq "${res%% *}" 200
"$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 1.0 else 1)' "${res##* }" || fail "the other request took ${res##* } s"

t "trigger: 202 with the run id; the run shows in runs/ID and integrations/NAME/runs"
api POST /api/v1/integrations/alpha/trigger
expect_eq "$code" 202
R1=$(jpy "$body" 'J["run_id"]')
[ -n "$R1" ] || fail "no run id: $body"
wait_run "$R1" || fail "run $R1 did not end: $body"
expect_eq "$(jpy "$body" '(J["id"], J["integration"], J["status"], J["trigger"], J["extracted"], J["loaded"], J["quarantined"], J["checkpoint"])')" \
    "('$R1', 'alpha', 'partial', 'api', 3, 2, 1, {'after': 3})"
api GET "/api/v1/integrations/alpha/runs?limit=5"
expect_eq "$code" 200
expect_eq "$(jpy "$body" '[(r["id"], r["trigger"]) for r in J]')" "[('$R1', 'api')]"
api GET /api/v1/runs/nosuch-run
expect_eq "$code" 404
api GET /api/v1/integrations/nosuch/runs
expect_eq "$code" 404
api POST /api/v1/integrations/nosuch/trigger
expect_eq "$code" 404

t "trigger while running: 409 naming the run; reset while running: 409"
rm -f "$WORK/go"
api POST /api/v1/integrations/gate/trigger
expect_eq "$code" 202
RG=$(jpy "$body" 'J["run_id"]')
api GET /api/v1/integrations/gate
expect_eq "$(jpy "$body" 'J["running"]')" "$RG"
api POST /api/v1/integrations/gate/trigger
expect_eq "$code" 409
expect_eq "$(jpy "$body" 'J["running"]')" "$RG"
expect_in "$(jpy "$body" 'J["error"]')" "running"
api POST /api/v1/integrations/gate/reset
expect_eq "$code" 409
touch "$WORK/go"
wait_run "$RG" || fail "gate did not finish"
expect_eq "$(jpy "$body" 'J["status"]')" ok
api GET /api/v1/integrations/gate
expect_eq "$(jpy "$body" 'J["running"]')" None

t "pause and resume: visible in integrations and in ferry status"
api POST /api/v1/integrations/alpha/pause '{"reason":"maintenance window"}'
expect_eq "$code" 200
expect_eq "$(jpy "$body" '(J["paused"], J["reason"])')" "(True, 'maintenance window')"
api GET /api/v1/integrations/alpha
expect_eq "$(jpy "$body" '(J["paused"], J["paused_reason"], J["paused_at"] is not None)')" "(1, 'maintenance window', True)"
run_ferry status -c ferry.lua
expect_rc 0
expect_in "$out" "PAUSED since"
expect_in "$out" "maintenance window"
api POST /api/v1/integrations/alpha/resume
expect_eq "$code" 200
api GET /api/v1/integrations/alpha
expect_eq "$(jpy "$body" '(J["paused"], J["paused_reason"])')" "(0, None)"
api POST /api/v1/integrations/nosuch/pause
expect_eq "$code" 404

t "reset: removes the checkpoint, and says whether there was one"
api POST /api/v1/integrations/alpha/reset
expect_eq "$code" 200
expect_eq "$(jpy "$body" 'J["checkpoint_removed"]')" True
expect_eq "$(sql "$WORK/data/ferry.db" "SELECT count(*) FROM checkpoints WHERE integration = 'alpha'")" 0
api POST /api/v1/integrations/alpha/reset
expect_eq "$(jpy "$body" 'J["checkpoint_removed"]')" False

t "reload: one or all, with each script's result"
api POST /api/v1/integrations/alpha/reload
expect_eq "$code" 200
expect_eq "$(jpy "$body" '[(r["integration"], r["result"]) for r in J]')" "[('alpha', 'reloaded')]"
api POST /api/v1/reload
expect_eq "$code" 200
expect_eq "$(jpy "$body" 'sorted((r["integration"], r["result"]) for r in J)')" "[('alpha', 'unchanged'), ('gate', 'unchanged')]"
api POST /api/v1/integrations/nosuch/reload
expect_eq "$code" 404

t "quarantine: list with filters, show, 404 for an unknown id"
api GET "/api/v1/quarantine?integration=alpha"
expect_eq "$code" 200
expect_eq "$(jpy "$body" '[(r["integration"], r["status"], r["stage"], r["record"]) for r in J]')" "[('alpha', 'open', 'transform', {'id': 2, 'run': '$R1'})]"
Q=$(jpy "$body" 'J[0]["id"]')
api GET "/api/v1/quarantine?class=nosuch"
expect_eq "$body" "[]"
api GET "/api/v1/quarantine?status=bogus"
expect_eq "$code" 400
api GET "/api/v1/quarantine/$Q"
expect_eq "$code" 200
expect_eq "$(jpy "$body" '(J["id"], J["reason"], J["record"]["id"])')" "($Q, 'record 2 is bad', 2)"
api GET /api/v1/quarantine/999999
expect_eq "$code" 404

t "quarantine replay through the API: 202 and a replay run that resolves the record"
touch "$WORK/fixed"
api POST /api/v1/quarantine/replay "{\"ids\":[$Q]}"
expect_eq "$code" 202
RR=$(jpy "$body" 'J["run_id"]')
wait_run "$RR" || fail "the replay did not end"
expect_eq "$(jpy "$body" '(J["trigger"], J["status"], J["loaded"])')" "('replay', 'ok', 1)"
api GET "/api/v1/quarantine/$Q"
expect_eq "$(jpy "$body" 'J["status"]')" resolved
api POST /api/v1/quarantine/replay "{\"ids\":[$Q]}"
expect_eq "$code" 422 "nothing left to replay"
expect_eq "$(jpy "$body" 'J["skipped"]')" "[{'id': $Q, 'reason': 'resolved'}]"
api POST /api/v1/quarantine/replay '{"integration":"alpha"}'
expect_eq "$code" 200
expect_eq "$(jpy "$body" 'J["run_id"]')" None
api POST /api/v1/quarantine/replay '{"ids":[1], "integration":"alpha"}'
expect_eq "$code" 400
api POST /api/v1/quarantine/replay '{"ids":["x"]}'
expect_eq "$code" 400
rm -f "$WORK/fixed"

t "quarantine discard through the API: discarded and not discarded, each with why"
api POST /api/v1/integrations/alpha/trigger
wait_run "$(jpy "$body" 'J["run_id"]')"
api GET "/api/v1/quarantine?integration=alpha"
expect_eq "$(jpy "$body" 'len(J)')" 1
Q2=$(jpy "$body" 'J[0]["id"]')
api POST /api/v1/quarantine/discard "{\"ids\":[$Q2, 999999],\"reason\":\"known bad row\"}"
expect_eq "$code" 200
expect_eq "$(jpy "$body" '(J["discarded"], [(r["id"], r["status"]) for r in J["not_discarded"]])')" "([$Q2], [(999999, None)])"
api POST /api/v1/quarantine/discard "{\"ids\":[$Q2]}"
expect_eq "$code" 400 "a discard needs a reason"

# ---------------------------------------------------------------------------
# The CLI with a service holding the data directory

t "ferry status names the running service and still reads the store"
run_ferry status -c ferry.lua
expect_rc 0
expect_in "$(head -1 <<<"$out")" "ferry serve is running: pid $SERVE_PID, admin http://$ADMIN"
grep -qE '^alpha +partial ' <<<"$out" || fail "alpha's line: $out"
run_ferry status -c ferry.lua --json
expect_rc 0
expect_eq "$(jpy "$out" '[r["name"] for r in J]')" "['alpha', 'gate']" "--json stays a plain array"

t "ferry trigger waits for the run and exits as ferry run does; --no-wait returns the id"
run_ferry trigger alpha -c ferry.lua
expect_rc 3
expect_in "$out" "== alpha  run "
expect_in "$out" "PARTIAL"
expect_in "$out" "extracted 3 · transformed 2 · skipped 0 · loaded 2 · quarantined 1"
touch "$WORK/go"
run_ferry trigger gate -c ferry.lua
expect_rc 0
expect_in "$out" "OK"
run_ferry trigger gate --no-wait -c ferry.lua
expect_rc 0
expect_in "$out" "started run "
run_ferry trigger nosuch -c ferry.lua
expect_rc 2
expect_in "$err" "nosuch"

t "ferry trigger while a run is going: exit 1, naming the run"
rm -f "$WORK/go"
api POST /api/v1/integrations/gate/trigger
RG=$(jpy "$body" 'J["run_id"]')
run_ferry trigger gate -c ferry.lua
expect_rc 1
expect_in "$err" "$RG"
touch "$WORK/go"
wait_run "$RG"

t "ferry pause --reason and ferry resume go through the service"
run_ferry pause alpha --reason "vendor outage" -c ferry.lua
expect_rc 0
expect_in "$out" "paused alpha: vendor outage"
api GET /api/v1/integrations/alpha
expect_eq "$(jpy "$body" '(J["paused"], J["paused_reason"])')" "(1, 'vendor outage')"
run_ferry resume alpha -c ferry.lua
expect_rc 0
api GET /api/v1/integrations/alpha
expect_eq "$(jpy "$body" 'J["paused"]')" 0

t "ferry reload prints each script's result"
run_ferry reload -c ferry.lua
expect_rc 0
grep -qE '^unchanged +alpha ' <<<"$out" || fail "reload: $out"
run_ferry reload gate -c ferry.lua
expect_rc 0
grep -qE '^reloaded +gate ' <<<"$out" || fail "reload gate: $out"

t "ferry quarantine replay and discard go through the service"
api GET "/api/v1/quarantine?integration=alpha"
Q3=$(jpy "$body" 'J[0]["id"]')
touch "$WORK/fixed"
run_ferry quarantine replay "$Q3" -c ferry.lua
expect_rc 0
expect_in "$out" "replayed 1"
expect_eq "$(sql "$WORK/data/ferry.db" "SELECT status FROM quarantine WHERE id = $Q3")" resolved
rm -f "$WORK/fixed"
api POST /api/v1/integrations/alpha/trigger
wait_run "$(jpy "$body" 'J["run_id"]')"
run_ferry quarantine replay alpha --script scripts/alpha.lua -c ferry.lua
expect_rc 2
expect_in "$err" "--script"
api GET "/api/v1/quarantine?integration=alpha"
Q4=$(jpy "$body" 'J[0]["id"]')
run_ferry quarantine discard "$Q4" --reason "not needed" -c ferry.lua
expect_rc 0
expect_in "$out" "discarded $Q4: not needed"
run_ferry quarantine discard "$Q4" --reason "again" -c ferry.lua
expect_rc 1
expect_in "$err" "already discarded"

t "ferry reset goes through the service"
run_ferry reset alpha --yes -c ferry.lua
expect_rc 0
expect_in "$out" "checkpoint {\"after\":3} removed"

t "ferry run says at once that the service holds the data directory and suggests ferry trigger"
start=$(date +%s%N)
run_ferry run scripts/alpha.lua -c ferry.lua
expect_rc 2
expect_in "$err" "ferry serve (pid $SERVE_PID"
expect_in "$err" "ferry trigger alpha"
[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 3000 ] || fail "ferry run waited for the lock"

t "a CLI with the wrong token is refused, and says which setting"
run_ferry trigger alpha -c wrong.lua
expect_rc 2
expect_in "$err" "refused the token"
expect_not_in "$err" "not-the-token"

t "the token appears in no log line and no answer"
expect_not_in "$(cat "$WORK/serve.log" "$WORK/serve.out")" "$TOKEN"
grep -q '"msg":"admin request"' "$WORK/serve.log" || fail "no request was logged at debug"

t "after SIGTERM: serve.json is gone; trigger and reload say no service runs (exit 2); pause marks the store"
stop_serve
expect_eq "$rc" 0 "ferry serve's exit status after SIGTERM"
[ ! -e "$WORK/data/serve.json" ] || fail "serve.json left behind"
run_ferry trigger alpha -c ferry.lua
expect_rc 2
expect_in "$err" "no ferry serve is running"
run_ferry reload -c ferry.lua
expect_rc 2
run_ferry pause alpha --reason "offline pause" -c ferry.lua
expect_rc 0
expect_eq "$(sql "$WORK/data/ferry.db" "SELECT paused_reason FROM integrations WHERE name = 'alpha'")" "offline pause"
run_ferry status -c ferry.lua
expect_not_in "$out" "ferry serve is running"
expect_in "$out" "offline pause"

t "a serve.json left by a killed service is not believed"
printf '{"pid":%d,"admin":"127.0.0.1:9","started_at":"x"}\n' $$ >"$WORK/data/serve.json"
run_ferry trigger alpha -c ferry.lua
expect_rc 2
expect_in "$err" "no ferry serve is running"
rm -f "$WORK/data/serve.json"

t "a service started with the pause in the store keeps it; resume through the API clears it"
start_serve "$WORK" ferry.lua --log-level debug
api GET /api/v1/integrations/alpha
expect_eq "$(jpy "$body" '(J["paused"], J["paused_reason"])')" "(1, 'offline pause')"
run_ferry resume alpha -c ferry.lua
expect_rc 0
api GET /api/v1/integrations/alpha
expect_eq "$(jpy "$body" 'J["paused"]')" 0
stop_serve

t "serve refuses a non-loopback admin listener without a token"
cfg open.lua 0.0.0.0:0 nil "$WORK/data-open"
run_ferry serve -c open.lua
expect_rc 2
expect_in "$err" "not a loopback address"
expect_in "$err" "admin.token"
[ ! -e "$WORK/data-open/serve.json" ] || fail "serve.json written"

t "serve on a non-loopback address with a token answers with it"
cfg open2.lua 0.0.0.0:0 "\"$TOKEN\"" "$WORK/data"
start_serve "$WORK" open2.lua --log-level debug
grep -qE '^0\.0\.0\.0:[1-9]' <<<"$ADMIN" || fail "bound: $ADMIN"
ADMIN="127.0.0.1:${ADMIN##*:}"
api GET /api/v1/integrations "" -
expect_eq "$code" 401
api GET /api/v1/integrations
expect_eq "$code" 200
run_ferry status -c open2.lua
expect_in "$out" "ferry serve is running"
stop_serve
done_t
