#!/usr/bin/env bash
# The operating model end to end: the expired-key story (the run stops, the
# integration pauses, exactly one alert, no further request, resume and a
# good run resolve it), probes that resume by themselves, the policy actions
# fail and continue, deduplicated alerts for a burst of the same failure,
# `ferry alerts` and its ack, and alerts over the admin API.
. "$(dirname "$0")/lib.sh"

# A fake CRM (tests/fakes/ops_source.py) on 127.0.0.1.
rm -f "$WORK/ops.port"
python3 "$ROOT/tests/fakes/ops_source.py" --port-file "$WORK/ops.port" >"$WORK/ops.log" 2>&1 &
_bg_pids+=($!)
for _ in $(seq 1 200); do [ -s "$WORK/ops.port" ] && break; sleep 0.05; done
SRC="http://127.0.0.1:$(cat "$WORK/ops.port")"
control() { curl -s -X POST -d "$1" "$SRC/_control" >/dev/null; }
requests() { curl -s "$SRC/_requests" | python3 -c "import json,sys; print(json.load(sys.stdin)['count'])"; }
last_request() { curl -s "$SRC/_requests" | python3 -c "import json,sys; r=json.load(sys.stdin)['requests']; print(r[-1]['page'], r[-1]['status'])"; }

# crm SCRIPT NAME [MORE FIELDS]: an integration reading every page of
# /accounts with the key in CRM_TOKEN, loading into DIR/NAME.loaded.
crm() {
    cat >"$1" <<EOF
return ferry.integration {
  name = "$2", owner = "revops@example.com", purpose = "accounts for reporting", pattern = "reporting",
  source_of_truth = "crm", freshness = "1h", batch_size = 50,
  ${3:-}
  extract = function(ctx)
    local key = ctx:secret("CRM_TOKEN")
    local page = 1
    while page do
      local res, err = ctx.http:get("$SRC/accounts", { query = { page = page, q = key }, auth = { bearer = key } })
      if not res then error(err) end
      local body = res:json()
      for _, r in ipairs(body.records) do ctx:emit(r) end
      page = body.next ~= ferry.json.null and body.next or nil
    end
  end,
  load = function(batch)
    local f = io.open(ferry.script_dir .. "/../$2.loaded", "a")
    for _, r in ipairs(batch) do f:write(tostring(r.id), "\n") end
    f:close()
  end,
}
EOF
}

config() {
    mkdir -p "$1/scripts"
    cat >"$1/ferry.lua" <<EOF
return { data_dir = "data", script_dirs = { "scripts" }, admin = { listen = "127.0.0.1:0" },
  shutdown_grace = "5s", log = { format = "json" }, lock_wait = 0,
  integrations = { ["*"] = { trusted = true, secrets = { "CRM_TOKEN" } } } }
EOF
}
export CRM_TOKEN=key-one-7f3a9
alerts_py() { (cd "$1" && "$FERRY" alerts --json -c ferry.lua) | python3 -c "import json,sys; A=json.load(sys.stdin); print($2)"; }

# ---------------------------------------------------------------------------
t "the expired key (ferry run): the run stops at the 401, the integration pauses, one alert, nothing more is asked"
D=$WORK/run; config "$D"
crm "$D/scripts/crm.lua" crm
control '{"total": 250, "key": "key-one-7f3a9", "expire_after_page": null}'
run_ferry run -c "$D/ferry.lua" "$D/scripts/crm.lua"
expect_rc 0
expect_eq "$(wc -l <"$D/crm.loaded")" "250" "records loaded by the first run"
control '{"expire_after_page": 3}'
before=$(requests)
run_ferry run -c "$D/ferry.lua" "$D/scripts/crm.lua"
expect_rc 1
expect_in "$out" "error: extract: auth: GET $SRC/accounts?page=3"
expect_in "$out" "paused: auth errors pause crm (policy); no run starts until 'ferry resume crm'"
expect_eq "$(( $(requests) - before ))" "3" "requests of the second run: pages 1, 2 and the 401"
expect_eq "$(last_request)" "3 401" "the last request is the 401"
expect_in "$(cd "$D" && "$FERRY" status -c ferry.lua)" "PAUSED since"
expect_in "$(cd "$D" && "$FERRY" status -c ferry.lua)" "ALERTS open: auth · ferry alerts crm"
expect_eq "$(alerts_py "$D" "[(a['integration'], a['kind'], a['status'], a['occurrences'], a['messages']['sent']) for a in A]")" \
    "[('crm', 'auth', 'open', 1, 1)]"
expect_eq "$(grep -c '"msg":"alert","kind":"auth","event":"opened"' <<<"$err")" "1" "alert lines in the log"
# the key was in the failing URL: not in the pause, the alert, the store, the output
expect_not_in "$(sqlite3 "$D/data/ferry.db" .dump)" "$CRM_TOKEN"
expect_not_in "$out$err$(cd "$D" && "$FERRY" status -c ferry.lua; "$FERRY" alerts --json -c ferry.lua)" "$CRM_TOKEN"
# paused: another run is refused, and nothing reaches the source
before=$(requests)
run_ferry run -c "$D/ferry.lua" "$D/scripts/crm.lua"
expect_rc 1
expect_in "$err" "ferry run: crm is paused (extract: auth: GET $SRC/accounts?page=3"
expect_eq "$(requests)" "$before" "requests while paused"
expect_eq "$(alerts_py "$D" "[(a['occurrences'], a['messages']['sent']) for a in A]")" "[(1, 1)]" "still one alert, one message"

t "the expired key: after resume and a good run the alert resolves, with a message"
control '{"expire_after_page": null}'
(cd "$D" && "$FERRY" resume crm -c ferry.lua) >/dev/null 2>&1
run_ferry run -c "$D/ferry.lua" "$D/scripts/crm.lua"
expect_rc 0
expect_eq "$(alerts_py "$D" "[(a['kind'], a['status'], a['resolution'], a['messages']['sent']) for a in A]")" \
    "[('auth', 'resolved', 'a later run got through', 2)]"
expect_in "$err" '"msg":"alert resolved","kind":"auth","event":"resolved"'
expect_not_in "$(cd "$D" && "$FERRY" status -c ferry.lua)" "PAUSED"

t "a pause met in transform stops the run's requests too: extract's next page never leaves ferry"
D=$WORK/enrich; config "$D"
crm "$D/scripts/enrich.lua" enrich 'transform = function(r, ctx)
    local res, err = ctx.http:get("'"$SRC"'/accounts", { query = { page = 999 }, auth = { bearer = "revoked" } })
    if not res then return nil, err end
    return r
  end,'
control '{"total": 250, "key": "key-one-7f3a9", "expire_after_page": null}'
before=$(requests)
run_ferry run -c "$D/ferry.lua" "$D/scripts/enrich.lua"
expect_rc 1
expect_in "$out" "paused: auth errors pause enrich"
expect_in "$out" "error: transform: auth: GET $SRC/accounts?page=999"
expect_eq "$(curl -s "$SRC/_requests" | python3 -c "import json,sys; print([(r['page'], r['status']) for r in json.load(sys.stdin)['requests'][$before:]])")" \
    "[(1, 200), (999, 401)]" "requests of the run"
expect_eq "$(sql "$D/data/ferry.db" "SELECT paused_class FROM integrations")" "auth"

# ---------------------------------------------------------------------------
t "policy fail stops the run; continue drops records on purpose, counted in the summary and the run"
D=$WORK/actions; config "$D"
cat >"$D/scripts/picky.lua" <<'EOF'
return ferry.integration {
  name = "picky", owner = "ops@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "fixture", freshness = "1h", batch_size = 10,
  policy = { lookup_missing = "continue", validation = "fail" },
  extract = function(ctx) for i = 1, 30 do ctx:emit({ id = i }) end end,
  transform = function(r, ctx)
    if r.id % 3 == 0 then return nil, { class = "lookup_missing", reason = "no owner for " .. r.id } end
    if r.id == 25 then return nil, { class = "validation", reason = "amount is negative" } end
    return r
  end,
  load = function(batch) end,
}
EOF
run_ferry run -c "$D/ferry.lua" "$D/scripts/picky.lua"
expect_rc 1
expect_in "$out" "dropped by policy (continue): 8 (lookup_missing 8)"
expect_in "$out" "error: transform: validation: amount is negative"
expect_in "$out" "quarantined 0 · not loaded"
expect_eq "$(sql "$D/data/ferry.db" "SELECT status, dropped, quarantined FROM runs")" "failed|8|0"
expect_eq "$(sql "$D/data/ferry.db" "SELECT count(*) FROM quarantine")" "0" "nothing quarantined"
expect_eq "$(grep -c '"msg":"record dropped by policy"' <<<"$err")" "8" "a log line per dropped record"
expect_eq "$(alerts_py "$D" "[(a['kind'], a['status']) for a in A]")" "[('failed', 'open')]"

# ---------------------------------------------------------------------------
t "a burst of 50 records with the same failure is one alert, and a second run of them is the same alert"
D=$WORK/burst; config "$D"
cat >"$D/scripts/tickets.lua" <<'EOF'
return ferry.integration {
  name = "tickets", owner = "support-ops@example.com", purpose = "test", pattern = "workflow",
  source_of_truth = "helpdesk", freshness = "1h",
  extract = function(ctx) for i = 1, 50 do ctx:emit({ id = i, priority = "urgent!!" }) end end,
  transform = function(r, ctx)
    ctx:reject(r, "picklist_drift", "priority 'urgent!!' is not an option of the destination")
  end,
  load = function(batch) end,
}
EOF
run_ferry run -c "$D/ferry.lua" "$D/scripts/tickets.lua"
expect_rc 3
expect_eq "$(grep -c '"msg":"alert"' <<<"$err")" "1" "alert messages"
expect_eq "$(alerts_py "$D" "[(a['kind'], a['occurrences'], a['messages']['sent'], a['summary']) for a in A]")" \
    "[('picklist_drift', 1, 1, \"picklist_drift: 50 records quarantined at transform: priority 'urgent!!' is not an option of the destination\")]"
run_ferry run -c "$D/ferry.lua" "$D/scripts/tickets.lua"
expect_eq "$(grep -c '"msg":"alert"' <<<"$err")" "0" "no new message for the same open alert"
expect_eq "$(alerts_py "$D" "[(a['occurrences'], a['messages']['sent']) for a in A]")" "[(2, 1)]"

t "ferry alerts: the table, --open, and ack (with its reason; an unknown id is exit 1)"
run_ferry alerts -c "$D/ferry.lua"
expect_rc 0
expect_in "$out" "picklist_drift"
expect_in "$out" "tickets"
id=$(alerts_py "$D" "A[0]['id']")
run_ferry alerts ack "$id" --reason "mapping fix in review" -c "$D/ferry.lua"
expect_rc 0
expect_in "$out" "acknowledged alert $id: mapping fix in review"
expect_eq "$(alerts_py "$D" "[(a['status'], a['ack_reason']) for a in A]")" "[('open', 'mapping fix in review')]"
run_ferry alerts ack 999 --reason x -c "$D/ferry.lua"
expect_rc 1
expect_in "$err" "no alert 999"
run_ferry alerts ack "$id" -c "$D/ferry.lua"
expect_rc 2
expect_in "$err" "--reason TEXT"

# ---------------------------------------------------------------------------
t "ferry serve: a pause with probe resumes by itself once the source answers again, and the alert resolves"
D=$WORK/serve; config "$D"
crm "$D/scripts/crm.lua" crm 'schedule = "every 1h", policy = { pause = { probe = "1s" } },'
control '{"total": 120, "key": "key-one-7f3a9", "expire_after_page": 2}'
start_serve "$D" ferry.lua
wait_until 20 '[ "$(sql "$D/data/ferry.db" "SELECT paused_class FROM integrations WHERE name = '"'crm'"'")" = auth ]'
expect_eq "$(alerts_py "$D" "[(a['kind'], a['status']) for a in A]")" "[('auth', 'open')]"
# the probe runs fail as long as the key does: still paused, still one alert
sleep 2.5
expect_eq "$(sql "$D/data/ferry.db" "SELECT count(*) > 1 FROM runs WHERE trigger = 'probe' AND status = 'failed'")" "1" "failed probe runs"
expect_eq "$(alerts_py "$D" "[(a['occurrences'] > 1, a['messages']['sent']) for a in A]")" "[(True, 1)]"
control '{"expire_after_page": null}'
wait_until 20 '[ -z "$(sql "$D/data/ferry.db" "SELECT paused_at FROM integrations WHERE name = '"'crm'"'")" ]'
wait_until 10 '[ "$(alerts_py "$D" "A[0][\"status\"]")" = resolved ]'
expect_eq "$(curl -s "http://$ADMIN/api/v1/alerts?open=1")" "[]" "open alerts over the API"
expect_eq "$(curl -s "http://$ADMIN/api/v1/alerts" | python3 -c "import json,sys; print([a['kind'] for a in json.load(sys.stdin)])")" "['auth']"
stop_serve
expect_rc 0

t "ferry serve: freshness is watched between runs: stale raises an alert, a good run resolves it"
D=$WORK/fresh; config "$D"
crm "$D/scripts/crm.lua" crm
sed -i 's/freshness = "1h"/freshness = "2s"/' "$D/scripts/crm.lua"
control '{"total": 60, "key": "key-one-7f3a9", "expire_after_page": null}'
start_serve "$D" ferry.lua
(cd "$D" && "$FERRY" trigger crm -c ferry.lua) >/dev/null 2>&1
# no run after the good one: past 2s the service's own clock finds it stale
wait_until 20 '[ "$(alerts_py "$D" "[(a[\"kind\"], a[\"status\"]) for a in A]")" = "[('"'stale'"', '"'open'"')]" ]'
expect_in "$(alerts_py "$D" "A[0]['summary']")" "stale: the last good run ended"
(cd "$D" && "$FERRY" trigger crm -c ferry.lua) >/dev/null 2>&1
wait_until 20 '[ "$(alerts_py "$D" "A[0][\"status\"]")" = resolved ]'
expect_eq "$(alerts_py "$D" "A[0]['resolution']")" "a good run: the data is fresh again"
stop_serve
expect_rc 0

t "policy.alert.quarantine_open: an alert when the open quarantine reaches it, resolved once it is back under"
D=$WORK/qopen; config "$D"
cat >"$D/scripts/orders.lua" <<'EOS'
return ferry.integration {
  name = "orders", owner = "finance-ops@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "erp", freshness = "1h",
  policy = { alert = { quarantine_open = 3 } },
  extract = function(ctx)
    local bad = tonumber(os.getenv("BAD") or "0")
    for i = 1, 10 do ctx:emit({ id = i, ok = i > bad }) end
  end,
  transform = function(r) if not r.ok then return nil, "missing customer" end return r end,
  load = function(batch) end,
}
EOS
BAD=2 run_ferry run -c "$D/ferry.lua" "$D/scripts/orders.lua"
expect_rc 3
expect_eq "$(alerts_py "$D" "[a['kind'] for a in A]")" "[]" "two open: under the threshold"
BAD=4 run_ferry run -c "$D/ferry.lua" "$D/scripts/orders.lua"
expect_eq "$(alerts_py "$D" "[(a['kind'], a['status']) for a in A]")" "[('quarantine', 'open')]"
expect_in "$(alerts_py "$D" "A[0]['summary']")" "4 records open in the quarantine (alert at 3"
(cd "$D" && "$FERRY" quarantine discard 1 2 3 --reason "test orders" -c ferry.lua) >/dev/null 2>&1
BAD=0 run_ferry run -c "$D/ferry.lua" "$D/scripts/orders.lua"
expect_rc 0
expect_eq "$(alerts_py "$D" "[(a['kind'], a['status'], a['resolution']) for a in A]")" \
    "[('quarantine', 'resolved', 'the open quarantine fell below the threshold')]"

t "ferry serve: a script that no longer loads raises reload_failed; fixing it resolves the alert"
D=$WORK/reload; config "$D"
crm "$D/scripts/crm.lua" crm
cp "$D/scripts/crm.lua" "$WORK/crm.good.lua"
start_serve "$D" ferry.lua
printf 'return ferry.integration {\n  name = "crm",\n' >"$D/scripts/crm.lua"
(cd "$D" && "$FERRY" reload crm -c ferry.lua) >/dev/null 2>&1
wait_until 20 '[ "$(alerts_py "$D" "[(a[\"kind\"], a[\"status\"]) for a in A]")" = "[('"'reload_failed'"', '"'open'"')]" ]'
expect_in "$(alerts_py "$D" "A[0]['detail']")" "the previous version keeps running"
cp "$WORK/crm.good.lua" "$D/scripts/crm.lua"
(cd "$D" && "$FERRY" reload crm -c ferry.lua) >/dev/null 2>&1
wait_until 20 '[ "$(alerts_py "$D" "A[0][\"status\"]")" = resolved ]'
expect_eq "$(alerts_py "$D" "A[0]['resolution']")" "the script loads again"
stop_serve
expect_rc 0

t "zero records after five runs of ~1,000: suspect (exit 4), one alert, and the data goes stale rather than fresh"
D=$WORK/empty; config "$D"
crm "$D/scripts/crm.lua" crm
control '{"total": 1000, "key": "key-one-7f3a9", "expire_after_page": null}'
for i in 1 2 3 4 5; do run_ferry run -c "$D/ferry.lua" "$D/scripts/crm.lua"; done
expect_rc 0
control '{"total": 0}'
run_ferry run -c "$D/ferry.lua" "$D/scripts/crm.lua"
expect_rc 4
expect_in "$out" "verdict: suspect"
expect_eq "$(alerts_py "$D" "[(a['kind'], a['status'], a['messages']['sent']) for a in A]")" "[('suspect', 'open', 1)]"
# the good runs are two hours old: the suspect run does not make the data fresh
sql "$D/data/ferry.db" "UPDATE runs SET ended_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-2 hours') WHERE verdict IS NULL" >/dev/null
run_ferry run -c "$D/ferry.lua" "$D/scripts/crm.lua"
expect_rc 4
expect_in "$(cd "$D" && "$FERRY" status -c ferry.lua)" "STALE"
expect_eq "$(alerts_py "$D" "sorted((a['kind'], a['status'], a['occurrences']) for a in A)")" \
    "[('stale', 'open', 1), ('suspect', 'open', 2)]"
control '{"total": 1000}'
run_ferry run -c "$D/ferry.lua" "$D/scripts/crm.lua"
expect_rc 0
expect_eq "$(alerts_py "$D" "sorted((a['kind'], a['status'], a['resolution']) for a in A)")" \
    "[('stale', 'resolved', 'a good run: the data is fresh again'), ('suspect', 'resolved', 'a later run looked as expected')]"

t "a source adds a field and changes another's type: one schema_drift alert naming both; with schema_drift = pause it pauses"
D=$WORK/drift; config "$D"
crm "$D/scripts/crm.lua" crm
crm "$D/scripts/strict.lua" strict 'policy = { schema_drift = "pause" },'
control '{"total": 250, "key": "key-one-7f3a9", "expire_after_page": null, "drift": false}'
run_ferry run -c "$D/ferry.lua" "$D/scripts/crm.lua" "$D/scripts/strict.lua"
expect_rc 0
control '{"drift": true}'
run_ferry run -c "$D/ferry.lua" "$D/scripts/crm.lua" "$D/scripts/strict.lua"
expect_rc 0
expect_eq "$(alerts_py "$D" "sorted((a['integration'], a['kind'], a['messages']['sent']) for a in A)")" \
    "[('crm', 'schema_drift', 1), ('strict', 'schema_drift', 1)]"
summary=$(alerts_py "$D" "[a['summary'] for a in A if a['integration'] == 'crm'][0]")
expect_in "$summary" "lead_score"
expect_in "$summary" "amount"
expect_in "$summary" "string"
expect_eq "$(sql "$D/data/ferry.db" "SELECT name, paused_class FROM integrations ORDER BY name")" "crm|
strict|schema_drift" "paused by drift"
# the same shape again: no new drift, and the alert resolves
run_ferry run -c "$D/ferry.lua" "$D/scripts/crm.lua"
expect_rc 0
expect_eq "$(alerts_py "$D" "[(a['status'], a['resolution']) for a in A if a['integration'] == 'crm']")" \
    "[('resolved', \"a later run saw the source's fields unchanged\")]"

t "the expired key with real channels: one POST to ops and one mail to the owner, an escalation mail, then resolution messages to all"
# what arrived: hooks (JSON bodies) and mails (to, subject, body)
hooks_py() { python3 -c "import json,sys; H=[json.loads(json.loads(l)['body']) for l in open('$WORK/hook.jsonl')]; print($1)" 2>&1; }
mails_py() {
    python3 -c "
import json, email, email.policy
M = []
for l in open('$WORK/mail.jsonl'):
    d = json.loads(l); m = email.message_from_string(d['data'], policy=email.policy.default)
    M.append({'to': d['rcpt_to'], 'subject': str(m['Subject']), 'body': m.get_content()})
print($1)" 2>&1
}
start_sink hook webhook_sink.py; HOOK=$PORT
start_sink mail smtp_sink.py; MAIL=$PORT
D=$WORK/channels; mkdir -p "$D/scripts"
cat >"$D/ferry.lua" <<EOF
return { data_dir = "data", script_dirs = { "scripts" }, admin = { listen = "127.0.0.1:0" },
  shutdown_grace = "5s", log = { format = "json" }, lock_wait = 0,
  integrations = { ["*"] = { trusted = true, secrets = { "CRM_TOKEN" } } },
  alerts = {
    owner = "mailer",
    channels = {
      ops = { type = "webhook", url = "http://127.0.0.1:$HOOK/services/T0/B0/xyz" },
      mailer = { type = "email", smtp = "smtp://127.0.0.1:$MAIL", from = "ferry@example.com", to = { "noreply@example.com" } },
      oncall = { type = "email", smtp = "smtp://127.0.0.1:$MAIL", from = "ferry@example.com", to = { "oncall@example.com" } },
    },
  } }
EOF
crm "$D/scripts/crm.lua" crm 'policy = { pause = { probe = "1s" },
    alert = { to = { "ops", "owner" }, escalate = { after = "2s", to = "oncall" } } },'
control '{"total": 120, "key": "key-one-7f3a9", "expire_after_page": 2}'
start_serve "$D" ferry.lua
(cd "$D" && "$FERRY" trigger crm -c ferry.lua) >/dev/null 2>&1
wait_until 30 '[ "$(mails_py "[m[\"to\"] for m in M if \"ESCALATED\" in m[\"subject\"]]")" = "[['"'oncall@example.com'"']]" ]'
expect_eq "$(hooks_py "[(h['ferry']['kind'], h['ferry']['event']) for h in H]")" "[('auth', 'opened')]" "webhook messages"
expect_eq "$(mails_py "[(m['to'], 'crm' in m['subject']) for m in M]")" \
    "[(['revops@example.com'], True), (['oncall@example.com'], True)]" "mails: the owner, then the escalation"
body=$(mails_py "M[0]['body']")
expect_in "$body" "What happened: the run stopped and the integration was paused"
expect_in "$body" "First error: extract: auth: GET $SRC/accounts?page=2"
expect_in "$body" "Then: fix the cause (a new key, a permission, the endpoint), then 'ferry resume crm'"
expect_in "$(hooks_py "H[0]['text']")" "ferry status crm"
control '{"expire_after_page": null}'
wait_until 30 '[ "$(hooks_py "[h[\"ferry\"][\"event\"] for h in H]")" = "['"'opened'"', '"'resolved'"']" ]'
wait_until 10 '[ "$(mails_py "sorted(m[\"to\"][0] for m in M if \"resolved\" in m[\"subject\"])")" = "['"'oncall@example.com'"', '"'revops@example.com'"']" ]'
expect_in "$(mails_py "[m['body'] for m in M if 'resolved' in m['subject']][0]")" "Resolved: a later run got through"
expect_eq "$(alerts_py "$D" "[(a['kind'], a['status'], a['messages']) for a in A]")" \
    "[('auth', 'resolved', {'sent': 6, 'pending': 0, 'failed': 0})]"
expect_not_in "$(cat "$D/serve.log" "$D/serve.out"; sqlite3 "$D/data/ferry.db" .dump)" "T0/B0/xyz"
stop_serve
expect_rc 0

t "ferry check names an alert target the config does not define"
printf '%s\n' 'return ferry.integration {' \
  '  name = "badtarget", owner = "ops@example.com", purpose = "test", pattern = "reporting",' \
  '  source_of_truth = "fixture", freshness = "1h",' \
  '  policy = { alert = { to = { "log", "slack-ops" } } },' \
  '  extract = function(ctx) end, load = function(batch) end,' '}' >"$WORK/badtarget.lua"
run_ferry check badtarget.lua
expect_rc 1
expect_in "$err$out" "badtarget.lua: policy.alert: unknown alert channel 'slack-ops'"
expect_not_in "$err$out" "ok: badtarget"
done_t
