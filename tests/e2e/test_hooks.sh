#!/usr/bin/env bash
# Webhooks end to end against a real ferry serve: every bad request gets its
# precise status, a 202 means the event is in the store, events are handled
# in order, a poison event never blocks the ones behind it, a repeated
# delivery id is acknowledged once, events left pending survive a restart.
. "$(dirname "$0")/lib.sh"

D=$WORK/svc
mkdir -p "$D/scripts"
cat >"$D/ferry.lua" <<'EOF'
return { data_dir = "data", script_dirs = { "scripts" }, admin = { listen = "127.0.0.1:0" },
  hooks = { listen = "127.0.0.1:0", max_body = "64KB" }, shutdown_grace = "5s", lock_wait = 0,
  integrations = { ["*"] = { trusted = true } } }
EOF
# tickets: each event's JSON id and the page it came in, appended to DIR/loaded;
# an event with "poison" fails in transform (quarantined), one with "slow"
# makes the load wait.
cat >"$D/scripts/tickets.lua" <<'EOF'
return ferry.integration {
  name = "tickets", owner = "qa@example.com", purpose = "test", pattern = "workflow",
  source_of_truth = "helpdesk", freshness = "1h",
  trigger = { webhook = { path = "ticket-created", signature = "none" } },
  transform = function(ev, ctx)
    assert(ctx.event == ev, "ctx.event is the event being transformed")
    if ev.json.poison then error("cannot handle ticket " .. ev.json.id) end
    return { id = ev.json.id, page = #ctx.events, agent = ev.headers["user-agent"],
             auth = ev.headers["authorization"], delivery = ev.delivery_id }
  end,
  load = function(batch)
    local f = io.open(ferry.script_dir .. "/../loaded", "a")
    for _, r in ipairs(batch) do
      f:write(r.id, " ", r.page, " ", tostring(r.agent), " ", tostring(r.auth), " ", tostring(r.delivery), "\n")
      if r.id == "slow" then ferry.sleep(1) end
    end
    f:close()
  end,
}
EOF

# post PATH BODY [CURL ARGS...]: sets code and body (the answer).
post() {
    local path=$1 data=$2
    shift 2
    body=$(curl -s -o - -w '\n%{http_code}' -X POST --data-binary "$data" "$@" "http://$HOOKS/hooks/$path")
    code=${body##*$'\n'}
    body=${body%$'\n'*}
}
hooks_addr() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["hooks"])' "$D/data/serve.json"; }
ev() { sql "$D/data/ferry.db" "$1"; }

t "serve listens for webhooks apart from the admin API, and says where in serve.json"
start_serve "$D" ferry.lua
HOOKS=$(hooks_addr)
[ -n "$HOOKS" ] && [ "$HOOKS" != "$ADMIN" ] || fail "hooks address '$HOOKS', admin '$ADMIN'"
expect_in "$(cat "$D/serve.log")" "webhooks: listening on $HOOKS"

t "a good event: 202 only once it is stored, then handled by a webhook run"
post ticket-created '{"id":"t1"}' -H 'Authorization: Bearer hunter2' -H 'User-Agent: helpdesk/1.0'
expect_eq "$code" 202
id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["event"])' "$body")
expect_eq "$(ev "SELECT count(*) FROM events WHERE id = $id")" "1" "stored before the answer"
wait_until 5 'grep -q "^t1 " "$D/loaded"'
expect_eq "$(grep '^t1 ' "$D/loaded")" "t1 1 helpdesk/1.0 nil nil" "ctx.events, headers (no Authorization)"
wait_until 5 'test "$(ev "SELECT status FROM events WHERE id = $id")" = done'
expect_eq "$(ev "SELECT trigger || ' ' || status FROM runs ORDER BY started_at DESC LIMIT 1")" "webhook ok"
expect_not_in "$(ev "SELECT headers FROM events")" "hunter2"

t "unknown hook 404, not POST 405 with Allow, not JSON 400, over max_body 413"
post nope '{}'
expect_eq "$code" 404
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$HOOKS/hooks/ticket-created")
expect_eq "$code" 405
allow=$(curl -s -D - -o /dev/null "http://$HOOKS/hooks/ticket-created" | tr -d '\r' | grep -i '^allow:')
expect_eq "$allow" "Allow: POST"
post ticket-created 'not json {'
expect_eq "$code" 400
expect_in "$body" "not JSON"
post ticket-created "{\"id\":\"$(head -c 70000 /dev/zero | tr '\0' x)\"}"
expect_eq "$code" 413
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$HOOKS/other")
expect_eq "$code" 404
expect_eq "$(ev "SELECT count(*) FROM events")" "1" "nothing refused was stored"

t "a 100 MB body is refused at once, without being read"
python3 - "$HOOKS" >"$WORK/big.out" 2>&1 <<'EOF'
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)))
t0 = time.time()
s.sendall(b"POST /hooks/ticket-created HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Content-Length: 104857600\r\n\r\n" + b"x" * 65536)
s.settimeout(5)
answer = s.recv(4096).decode(errors="replace")
print(answer.split("\r\n")[0], round(time.time() - t0, 2))
EOF
expect_in "$(cat "$WORK/big.out")" "HTTP/1.1 413"
rss=$(awk '/VmHWM/ {print $2}' /proc/"$SERVE_PID"/status)
[ "${rss:-999999}" -lt 102400 ] || fail "peak RSS $rss kB: the body was read"

t "a slowloris client (half a request, then silence) does not hold up the others"
python3 - "$HOOKS" >"$WORK/slow.out" 2>&1 <<'EOF' &
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
socks = []
for i in range(20):
    s = socket.create_connection((host, int(port)))
    s.sendall(b"POST /hooks/ticket-created HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"id\":")
    socks.append(s)
time.sleep(3)
EOF
_bg_pids+=($!)
sleep 0.3
t0=$(date +%s%N)
post ticket-created '{"id":"t2"}'
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
expect_eq "$code" 202
[ "$ms" -lt 1000 ] || fail "a good request took $ms ms beside 20 stalled clients"

t "a poison event is quarantined and marked failed; the events behind it are handled, in order"
ferry_pause() { (cd "$D" && "$FERRY" "$@" -c ferry.lua) >/dev/null 2>&1; }
ferry_pause pause tickets --reason "hold the events"
for i in 1 2 3; do post ticket-created "{\"id\":\"a$i\"}"; done
post ticket-created '{"id":"bad","poison":true}'
for i in 4 5 6; do post ticket-created "{\"id\":\"a$i\"}"; done
expect_eq "$(ev "SELECT count(*) FROM events WHERE status = 'pending'")" "7" "stored while paused, not handled"
ferry_pause resume tickets
wait_until 5 'test "$(ev "SELECT count(*) FROM events WHERE status = '\''pending'\''")" = 0'
expect_eq "$(grep '^a' "$D/loaded" | cut -d' ' -f1,2 | tr '\n' ' ')" "a1 7 a2 7 a3 7 a4 7 a5 7 a6 7 " \
    "in order, one run taking the seven waiting events as one page"
expect_eq "$(ev "SELECT status FROM events WHERE CAST(body AS TEXT) LIKE '%poison%'")" "failed"
expect_eq "$(ev "SELECT count(*) FROM runs WHERE trigger = 'webhook' AND extracted = 7")" "1"
q=$(quarantine_py "$D/data" tickets 'L[-1]["class"] + " " + L[-1]["reason"] + " " + L[-1]["record"]["json"]["id"]')
expect_in "$q" "cannot handle ticket bad"

t "a repeated webhook-id is acknowledged but stored and handled once"
post ticket-created '{"id":"d1"}' -H 'webhook-id: msg_2KWPBgLlAfxdpx2AI54pPJ85f4W'
expect_eq "$code" 202
post ticket-created '{"id":"d1"}' -H 'webhook-id: msg_2KWPBgLlAfxdpx2AI54pPJ85f4W'
expect_eq "$code" 202
expect_in "$body" '"duplicate":true'
wait_until 5 'grep -q "^d1 " "$D/loaded"'
sleep 0.3
expect_eq "$(grep -c '^d1 ' "$D/loaded")" "1"
expect_in "$(grep '^d1 ' "$D/loaded")" "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"

t "events that arrive together are stored in one transaction and handled as one page"
ferry_pause pause tickets
python3 - "$HOOKS" <<'EOF'
import http.client, sys, threading
host, port = sys.argv[1].rsplit(":", 1)
codes = []
def send(i):
    c = http.client.HTTPConnection(host, int(port), timeout=10)
    c.request("POST", "/hooks/ticket-created", body='{"id":"g%d"}' % i, headers={"Content-Type": "application/json"})
    codes.append(c.getresponse().status)
ts = [threading.Thread(target=send, args=(i,)) for i in range(50)]
for t in ts: t.start()
for t in ts: t.join()
sys.exit(0 if codes == [202] * 50 else 1)
EOF
[ $? -eq 0 ] || fail "not every concurrent post got 202"
ferry_pause resume tickets
wait_until 5 'test "$(grep -c "^g" "$D/loaded")" = 50'
expect_eq "$(grep '^g' "$D/loaded" | cut -d' ' -f2 | sort -u | tr '\n' ' ')" "50 " "one page of 50"

t "while stopping, hooks answer 503 (or refuse the connection): nothing is acknowledged that is not stored"
ferry_pause pause tickets
post ticket-created '{"id":"p1"}'
stop_serve
expect_rc 0
post ticket-created '{"id":"late"}'
[ "$code" = 503 ] || [ "$code" = 000 ] || fail "after stop: $code"
expect_eq "$(ev "SELECT count(*) FROM events WHERE CAST(body AS TEXT) LIKE '%late%'")" "0"

t "events left pending by a stop are handled after the next start"
(cd "$D" && "$FERRY" resume tickets -c ferry.lua) >/dev/null 2>&1
start_serve "$D" ferry.lua
wait_until 5 'grep -q "^p1 " "$D/loaded"'
stop_serve
expect_rc 0
expect_eq "$(ev "SELECT count(*) FROM events WHERE status = 'pending'")" "0"

t "a hook without a signature is refused on a non-loopback listener"
sed -i 's/hooks = { listen = "127.0.0.1:0"/hooks = { listen = "0.0.0.0:0"/' "$D/ferry.lua"
start_serve "$D" ferry.lua
expect_in "$(cat "$D/serve.log")" "a hook without a signature is served only on a loopback"
stop_serve

# ---------------------------------------------------------------------------
# Signed hooks: the secret comes from ferry's environment, granted in the config.
S2=$WORK/signed
mkdir -p "$S2/scripts"
cat >"$S2/ferry.lua" <<'EOF'
return { data_dir = "data", script_dirs = { "scripts" }, admin = { listen = "127.0.0.1:0" },
  hooks = { listen = "127.0.0.1:0" }, lock_wait = 0,
  integrations = { gh = { secrets = { "GH_HOOK_SECRET" } }, sw = { secrets = { "SW_HOOK_SECRET" } },
                   jira = { secrets = { "JIRA_HOOK_SECRET" } },
                   ["*"] = { trusted = true } } }
EOF
for spec in "gh github GH_HOOK_SECRET" "sw standard SW_HOOK_SECRET" "jira websub JIRA_HOOK_SECRET" \
            "nogrant github NOT_GRANTED"; do
    set -- $spec
    cat >"$S2/scripts/$1.lua" <<EOF
return ferry.integration {
  name = "$1", owner = "qa@example.com", purpose = "test", pattern = "workflow",
  source_of_truth = "x", freshness = "1h",
  trigger = { webhook = { path = "$1", signature = "$2", secret = "$3" } },
  load = function(batch)
    local f = io.open(ferry.script_dir .. "/../$1.loaded", "a")
    for _, ev in ipairs(batch) do f:write(ev.json.n, "\n") end
    f:close()
  end,
}
EOF
done
export GH_HOOK_SECRET="It's a Secret to Everybody" SW_HOOK_SECRET="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" NOT_GRANTED=x
export JIRA_HOOK_SECRET="jira-admin-webhook-secret-41c7"
D=$S2
start_serve "$S2" ferry.lua
HOOKS=$(hooks_addr)

# signed NAME SCHEME BODY [ID [TIMESTAMP [SECRET]]]: posts BODY signed as the scheme says; sets code, body.
signed() {
    local name=$1 scheme=$2 data=$3 id=${4:-} ts=${5:-$(date +%s)} secret=${6:-}
    local hdrs
    hdrs=$(python3 - "$scheme" "$data" "$id" "$ts" "$secret" <<'EOF'
import base64, hashlib, hmac, os, sys
scheme, data, mid, ts, secret = sys.argv[1:]
if scheme == "github":
    key = (secret or os.environ["GH_HOOK_SECRET"]).encode()
    print("X-Hub-Signature-256: sha256=" + hmac.new(key, data.encode(), hashlib.sha256).hexdigest())
    if mid: print("X-GitHub-Delivery: " + mid)
elif scheme == "websub":      # Jira Cloud's admin webhooks
    key = (secret or os.environ["JIRA_HOOK_SECRET"]).encode()
    print("X-Hub-Signature: sha256=" + hmac.new(key, data.encode(), hashlib.sha256).hexdigest())
    if mid: print("X-Atlassian-Webhook-Identifier: " + mid)
else:
    key = base64.b64decode((secret or os.environ["SW_HOOK_SECRET"]).split("_", 1)[1])
    sig = base64.b64encode(hmac.new(key, ("%s.%s.%s" % (mid, ts, data)).encode(), hashlib.sha256).digest()).decode()
    print("webhook-id: " + mid); print("webhook-timestamp: " + ts)
    print("webhook-signature: v1,bm90IHRoaXMgb25l v1," + sig)
EOF
)
    local args=()
    while IFS= read -r h; do args+=(-H "$h"); done <<<"$hdrs"
    post "$name" "$data" "${args[@]}"
}

t "a script whose webhook secret is not granted does not load; the others do"
expect_in "$(cat "$S2/serve.log")" "NOT_GRANTED is not granted to this integration"
post nogrant '{"n":1}'
expect_eq "$code" 404

t "GitHub: a body signed with the secret is accepted; a wrong secret, a changed body or no signature get 401"
signed gh github '{"n":1}' "72d3162e-cc78-11e3-81ab-4c9367dc0958"
expect_eq "$code" 202
signed gh github '{"n":2}' "" "" "not the secret"
expect_eq "$code" 401
expect_in "$body" "signature"
hdr=$(python3 -c 'import hmac,hashlib,os; print(hmac.new(os.environ["GH_HOOK_SECRET"].encode(), b"{\"n\":3}", hashlib.sha256).hexdigest())')
post gh '{"n":4}' -H "X-Hub-Signature-256: sha256=$hdr"
expect_eq "$code" 401
post gh '{"n":5}'
expect_eq "$code" 401
expect_not_in "$(cat "$S2/serve.log")" "Secret to Everybody"
signed gh github '{"n":1}' "72d3162e-cc78-11e3-81ab-4c9367dc0958"
expect_in "$body" '"duplicate":true'
wait_until 5 'test -s "$S2/gh.loaded"'
sleep 0.3
expect_eq "$(cat "$S2/gh.loaded" | tr '\n' ' ')" "1 " "only the signed body, once (X-GitHub-Delivery)"

t "Jira (websub): X-Hub-Signature of the body is accepted, a wrong secret is 401, a repeated X-Atlassian-Webhook-Identifier is handled once"
signed jira websub '{"n":20}' "a1b2c3-jira-delivery"
expect_eq "$code" 202
signed jira websub '{"n":21}' "" "" "not the secret"
expect_eq "$code" 401
signed jira websub '{"n":20}' "a1b2c3-jira-delivery"
expect_in "$body" '"duplicate":true'
wait_until 5 'test -s "$S2/jira.loaded"'
sleep 0.3
expect_eq "$(cat "$S2/jira.loaded" | tr '\n' ' ')" "20 " "only the signed body, once"
expect_not_in "$(cat "$S2/serve.log")" "jira-admin-webhook-secret-41c7"

t "Standard Webhooks: any listed v1 signature may match (key rotation); a stale timestamp is a replay (401); a repeated webhook-id is handled once"
signed sw standard '{"n":10}' msg_1
expect_eq "$code" 202
signed sw standard '{"n":11}' msg_2 $(( $(date +%s) - 600 ))
expect_eq "$code" 401
expect_in "$body" "too old"
signed sw standard '{"n":10}' msg_1
expect_eq "$code" 202
expect_in "$body" '"duplicate":true'
wait_until 5 'test -s "$S2/sw.loaded"'
sleep 0.3
expect_eq "$(cat "$S2/sw.loaded" | tr '\n' ' ')" "10 "
expect_eq "$(sql "$S2/data/ferry.db" "SELECT delivery_id FROM events WHERE integration = 'sw'")" "msg_1"
expect_not_in "$(sql "$S2/data/ferry.db" "SELECT headers FROM events")" "webhook-signature"
expect_not_in "$(sql "$S2/data/ferry.db" "SELECT headers FROM events")" "x-hub-signature"
stop_serve
expect_rc 0
done_t
