#!/usr/bin/env bash
# End-to-end: GET /metrics of a real `ferry serve`. An integration calls
# tests/fakes/fake_api.py (one 200, one 500 retried into a 200, one 404,
# behind a rate limit) and quarantines a record; a second one never runs
# and is paused; an open alert and a pending webhook event are put in the
# store. The scrape (curl) must show each as a specific series and value,
# and pass `promtool check metrics` (Debian's prometheus package). Then the
# token rules: loopback needs none; a listener off loopback needs the token
# unless admin.metrics = "open"; admin.metrics takes only "token" or "open".
#
#   bash tests/e2e/test_metrics.sh        or        ONLY=test_metrics make test
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
unset FERRY_CONFIG FERRY_DATA_DIR

command -v curl >/dev/null || { echo "skip metrics: curl is not installed (Debian package curl)"; exit 0; }
TOKEN="tok-$RANDOM$RANDOM-metrics"
mkdir -p "$WORK/scripts"

start_fake_api || { echo "not ok metrics: the fake API did not start: $(tail -3 "$WORK/fake.log")"; exit 1; }
FAKE_HOST=${FAKE_BASE#http://}

cfg() {   # cfg FILE LISTEN DATA_DIR [EXTRA ADMIN KEYS]
    cat >"$WORK/$1" <<EOF
return {
  data_dir = "$3", script_dirs = { "$WORK/scripts" },
  admin = { listen = "$2", token = "$TOKEN", ${4:-} },
  integrations = { ["*"] = { trusted = true } },
}
EOF
}
cfg ferry.lua 127.0.0.1:0 "$WORK/data"

# metered: three calls (200; 500 then 200 on its retry; 404, handled), at 4
# requests a second with a burst of 1, so some wait for the rate limit;
# record 2 is quarantined (validation).
cat >"$WORK/scripts/metered.lua" <<EOF
return ferry.integration {
  name = "metered", owner = "ops@example.com", purpose = "metrics test", pattern = "reporting",
  source_of_truth = "fake", freshness = "1h", schedule = "manual",
  rate_limit = "4/s",
  policy = { retry = { attempts = 3, base = "10ms", max = "1s", retry_500 = true } },
  extract = function(ctx)
    assert(ctx.http:get("$FAKE_BASE/echo", { query = { i = 1 } }))
    assert(ctx.http:get("$FAKE_BASE/flaky", { query = { key = "m", fail = 1, code = 500 } }))
    local res, err = ctx.http:get("$FAKE_BASE/status/404")
    assert(not res and err.status == 404, "expected a 404")
    for i = 1, 3 do ctx:emit({ id = i }) end
  end,
  transform = function(r)
    if r.id == 2 then return nil, "record 2 is bad" end
    return r
  end,
  load = function(batch) end,
}
EOF
# quiet: never runs.
cat >"$WORK/scripts/quiet.lua" <<EOF
return ferry.integration {
  name = "quiet", owner = "ops@example.com", purpose = "metrics test", pattern = "reporting",
  source_of_truth = "fake", freshness = "1h", schedule = "manual",
  extract = function(ctx) end,
  load = function(batch) end,
}
EOF

# gate: runs until $WORK/go exists.
cat >"$WORK/scripts/gate.lua" <<EOF
return ferry.integration {
  name = "gate", owner = "ops@example.com", purpose = "metrics test", pattern = "reporting",
  source_of_truth = "fake", freshness = "1h", schedule = "manual",
  extract = function(ctx)
    while not io.open("$WORK/go") do ferry.sleep(0.05) end
    ctx:emit({ id = 1 })
  end,
  load = function(batch) end,
}
EOF

# scrape [TOKEN] [ADDR]: GET /metrics; sets $code, $body and $ctype.
scrape() {
    local auth=() r
    [ -n "${1:-}" ] && auth=(-H "Authorization: Bearer $1")
    r=$(curl -sS -m 10 -D "$WORK/headers" -o "$WORK/scrape.txt" -w '%{http_code}' "${auth[@]}" "http://${2:-$ADMIN}/metrics")
    code=$r
    body=$(cat "$WORK/scrape.txt" 2>/dev/null)
    ctype=$(sed -n 's/^[Cc]ontent-[Tt]ype: *//p' "$WORK/headers" | tr -d '\r')
}
# value SERIES: the value of the sample SERIES (name and labels exactly as
# printed) in $body; empty when absent.
value() { awk -v s="$1" 'substr($0, 1, length(s) + 1) == s " " { print substr($0, length(s) + 2) }' <<<"$body"; }
api() {   # api METHOD PATH: with the token; sets $code
    code=$(curl -sS -m 10 -o /dev/null -w '%{http_code}' -X "$1" -H "Authorization: Bearer $TOKEN" "http://$ADMIN$2")
}

# ---------------------------------------------------------------------------
t "metrics: on a loopback listener GET /metrics needs no token, answers Prometheus text 0.0.4"
start_serve "$WORK" ferry.lua
scrape
expect_eq "$code" 200
expect_eq "$ctype" "text/plain; version=0.0.4; charset=utf-8"
expect_eq "$(value ferry_up)" 1
expect_in "$body" "# TYPE ferry_runs_total counter"
expect_in "$body" "# TYPE ferry_http_request_duration_seconds histogram"
expect_eq "$(value 'ferry_stale{integration="quiet"}')" 1 "never run: stale"

t "metrics: POST /metrics is 405; /api/v1 still needs the token on loopback"
code=$(curl -sS -m 10 -o /dev/null -w '%{http_code}' -X POST "http://$ADMIN/metrics")
expect_eq "$code" 405
code=$(curl -sS -m 10 -o /dev/null -w '%{http_code}' "http://$ADMIN/api/v1/integrations")
expect_eq "$code" 401

t "metrics: a run's runs, records by stage, quarantine by class and its HTTP calls"
before=$(date +%s)
api POST /api/v1/integrations/metered/trigger
expect_eq "$code" 202
wait_until 30 '[ "$(sql "$WORK/data/ferry.db" "SELECT count(*) FROM runs WHERE integration = '"'metered'"' AND status != '"'running'"'")" = 1 ]'
after=$(date +%s)
expect_eq "$(sql "$WORK/data/ferry.db" "SELECT status FROM runs WHERE integration = 'metered'")" partial "the run"
scrape
expect_eq "$code" 200
expect_eq "$(value 'ferry_runs_total{integration="metered",status="partial"}')" 1
expect_eq "$(value 'ferry_records_total{integration="metered",stage="extracted"}')" 3
expect_eq "$(value 'ferry_records_total{integration="metered",stage="loaded"}')" 2
expect_eq "$(value 'ferry_records_total{integration="metered",stage="quarantined"}')" 1
expect_eq "$(value 'ferry_quarantined_total{integration="metered",class="validation"}')" 1
expect_eq "$(value 'ferry_quarantine_open{integration="metered"}')" 1
H="integration=\"metered\",host=\"$FAKE_HOST\""
expect_eq "$(value "ferry_http_requests_total{$H,code=\"2xx\"}")" 2 "the 200 and the retried 500"
expect_eq "$(value "ferry_http_requests_total{$H,code=\"5xx\"}")" 1
expect_eq "$(value "ferry_http_requests_total{$H,code=\"4xx\"}")" 1
expect_eq "$(value "ferry_http_retries_total{$H}")" 1
expect_eq "$(value "ferry_http_request_duration_seconds_count{$H}")" 4
expect_eq "$(value "ferry_http_request_duration_seconds_bucket{$H,le=\"+Inf\"}")" 4
expect_eq "$(value "ferry_http_request_duration_seconds_bucket{$H,le=\"0.005\"}" | grep -cE '^[0-4]$')" 1 "a bucket count"
wait=$(value 'ferry_rate_limit_wait_seconds_total{integration="metered"}')
awk -v w="${wait:-0}" 'BEGIN { exit !(w > 0) }' || fail "rate-limit wait: '$wait', expected > 0 (4 requests at 4/s, burst 1)"
good=$(value 'ferry_last_good_run_timestamp_seconds{integration="metered"}')
awk -v g="${good:-0}" -v a="$before" -v b="$after" 'BEGIN { exit !(g >= a - 1 && g <= b + 1) }' ||
    fail "last good run at '$good', expected between $before and $after"
expect_eq "$(value 'ferry_stale{integration="metered"}')" 0 "a good run within 1h"
expect_eq "$(value 'ferry_last_good_run_timestamp_seconds{integration="quiet"}')" "" "no good run: no sample"
start=$(value ferry_start_time_seconds)
awk -v s="${start:-0}" -v b="$before" 'BEGIN { exit !(s > 1e9 && s <= b + 1) }' || fail "start time '$start'"

t "metrics: paused, open alerts by kind and the inbox from the store"
api POST /api/v1/integrations/quiet/pause
expect_eq "$code" 200
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sql "$WORK/data/ferry.db" "
  INSERT INTO alerts (integration, kind, summary, opened_at, last_seen_at) VALUES ('metered', 'auth', 'key expired', '$now', '$now');
  INSERT INTO alerts (integration, kind, status, summary, opened_at, last_seen_at) VALUES ('metered', 'stale', 'resolved', 'x', '$now', '$now');
  INSERT INTO events (integration, hook, received_at, method, headers, body) VALUES ('quiet', 'q', '$now', 'POST', '{}', '{}');" >/dev/null
scrape
expect_eq "$(value 'ferry_paused{integration="quiet"}')" 1
expect_eq "$(value 'ferry_paused{integration="metered"}')" 0
expect_eq "$(value 'ferry_alerts_open{integration="metered",kind="auth"}')" 1
expect_eq "$(value 'ferry_alerts_open{integration="metered",kind="stale"}')" "" "a resolved alert is not open"
expect_eq "$(value 'ferry_inbox_pending{integration="quiet"}')" 1

t "metrics: a run still going is not counted; runs that end after it are, each once"
runs_done() { sql "$WORK/data/ferry.db" "SELECT count(*) FROM runs WHERE integration = '$1' AND status != 'running'"; }
api POST /api/v1/integrations/gate/trigger
expect_eq "$code" 202
wait_until 30 '[ "$(sql "$WORK/data/ferry.db" "SELECT count(*) FROM runs WHERE integration = '"'gate'"'")" = 1 ]'
api POST /api/v1/integrations/metered/trigger
expect_eq "$code" 202
wait_until 30 '[ "$(runs_done metered)" = 2 ]'
scrape
expect_eq "$(value 'ferry_runs_total{integration="metered",status="partial"}')" 2 "a run that ended after one still going"
expect_eq "$(value 'ferry_records_total{integration="metered",stage="extracted"}')" 6
expect_eq "$(value 'ferry_quarantined_total{integration="metered",class="validation"}')" 2
expect_eq "$(grep -c 'integration="gate",status=' <<<"$body")" 0 "the gate run is going: not counted"
touch "$WORK/go"
wait_until 30 '[ "$(runs_done gate)" = 1 ]'
for i in 1 2; do
    scrape
    expect_eq "$(value 'ferry_runs_total{integration="gate",status="ok"}')" 1 "scrape $i after the gate run ended"
    expect_eq "$(value 'ferry_records_total{integration="gate",stage="loaded"}')" 1 "scrape $i"
    expect_eq "$(value 'ferry_runs_total{integration="metered",status="partial"}')" 2 "scrape $i: still counted once"
    expect_eq "$(value 'ferry_records_total{integration="metered",stage="extracted"}')" 6 "scrape $i"
    expect_eq "$(value 'ferry_quarantined_total{integration="metered",class="validation"}')" 2 "scrape $i"
done

[ -n "${KEEP_SCRAPE:-}" ] && cp "$WORK/scrape.txt" "$KEEP_SCRAPE"

t "metrics: promtool check metrics passes on the live scrape"
if [ -x /usr/bin/promtool ] || command -v promtool >/dev/null; then
    lint=$(promtool check metrics <"$WORK/scrape.txt" 2>&1)
    rc=$?
    [ "$rc" -eq 0 ] || fail "promtool: $lint"
    expect_eq "$lint" "" "promtool's findings"
else
    skip_t "promtool is not installed (Debian package prometheus; make test installs it as root)"
fi
t "metrics: the scrape does not crash or leak (serve stops cleanly)"
stop_serve
expect_eq "$rc" 0

# ---------------------------------------------------------------------------
t "metrics: off loopback, GET /metrics needs the token"
mkdir -p "$WORK/far"
cfg far.lua 0.0.0.0:0 "$WORK/far/data"
start_serve "$WORK/far" "$WORK/far.lua"
PORT=${ADMIN##*:}
scrape "" "127.0.0.1:$PORT"
expect_eq "$code" 401 "no token"
scrape "wrong-$TOKEN" "127.0.0.1:$PORT"
expect_eq "$code" 401 "a wrong token"
scrape "$TOKEN" "127.0.0.1:$PORT"
expect_eq "$code" 200 "the token"
expect_eq "$(value ferry_up)" 1
stop_serve

t "metrics: off loopback with admin.metrics = \"open\", no token needed for /metrics only"
cfg open.lua 0.0.0.0:0 "$WORK/far/data" 'metrics = "open"'
start_serve "$WORK/far" "$WORK/open.lua"
PORT=${ADMIN##*:}
scrape "" "127.0.0.1:$PORT"
expect_eq "$code" 200
expect_eq "$(value ferry_up)" 1
code=$(curl -sS -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/api/v1/integrations")
expect_eq "$code" 401 "the API still needs the token"
stop_serve

t "metrics: admin.metrics takes \"token\" or \"open\", nothing else"
cfg bad.lua 127.0.0.1:0 "$WORK/data3" 'metrics = "public"'
run_ferry serve -c "$WORK/bad.lua"
expect_rc 2
expect_in "$err" 'admin.metrics: expected "token"'
expect_in "$err" '"public"'
done_t
