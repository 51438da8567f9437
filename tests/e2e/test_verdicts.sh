#!/usr/bin/env bash
# End-to-end: run verdicts and the ferry_freshness table. A run that reads
# the source and extracts nothing (or fewer records than expect.min_records,
# or far from the median of its good runs) is suspect; one that quarantines
# more than policy.max_quarantined is incomplete. Either is stored with the
# run, shown by the summary, `ferry runs` and `ferry status`, exits 4, and
# is not a good run: status stays STALE. Each reporting database a
# ferry.sink.sqlite loads into gets a ferry_freshness row at run end.
#
#   bash tests/e2e/test_verdicts.sh        or        ONLY=test_verdicts make test
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

DB="$WORK/data/ferry.db"
REP="$WORK/data/reporting.db"
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || echo python3)
jpy() {
    "$PY" -c 'import json, sys
J = json.loads(sys.argv[1])
print(eval(sys.argv[2]))' "$1" "$2" 2>&1
}
run_id_of() { sed -nE "s/^== $1  run ([^ ]+)  .*/\1/p" <<<"$out" | head -1; }
status_of() { grep -E "^$1 " <<<"$out" | head -1; }
# fresh NAME: the ferry_freshness row of NAME in the reporting database
fresh() { sql "$REP" "SELECT last_good_run, status, run_id, age_seconds >= 0 FROM ferry_freshness WHERE integration = '$1'"; }

# counts NAME EXTRA: a script that emits $N records (ids 1..N) into
# reporting.db through ferry.sink.sqlite; $BAD_EVERY makes the transform
# reject every BAD_EVERY-th id. EXTRA is spliced into the contract.
counts() {
    script "$1" "return ferry.integration {
  name = \"$1\", owner = \"qa@example.com\", purpose = \"test\", pattern = \"reporting\",
  source_of_truth = \"fixture\", freshness = \"1h\",
  $2
  extract = function(ctx)
    for i = 1, tonumber(os.getenv(\"N\") or \"1000\") do ctx:emit({ id = i }) end
  end,
  transform = function(r)
    local every = tonumber(os.getenv(\"BAD_EVERY\") or \"0\")
    if every > 0 and r.id % every == 0 then return nil, \"bad record\" end
    return r
  end,
  load = ferry.sink.sqlite { path = \"reporting.db\", table = \"$1\", columns = { { \"id\", \"integer\", key = true } } },
}"
}

# ---------------------------------------------------------------------------
t "zero records after five runs of ~1,000: OK (SUSPECT), the reason names the median, exit 4"
counts hist ''
for n in 1000 990 1010 1005 995; do N=$n run_ferry run hist.lua; expect_rc 0; done
R_GOOD=$(run_id_of hist)
N=0 run_ferry run hist.lua
expect_rc 4
R_SUSPECT=$(run_id_of hist)
expect_in "$out" "== hist  run $R_SUSPECT  OK (SUSPECT)"
expect_in "$out" "   verdict: suspect — extracted 0 records; the last 5 good runs extracted a median of 1000"
expect_eq "$(sql "$DB" "SELECT status, verdict, verdict_reason FROM runs WHERE id = '$R_SUSPECT'")" \
    "ok|suspect|extracted 0 records; the last 5 good runs extracted a median of 1000"
expect_eq "$(sql "$DB" "SELECT count(*) FROM runs WHERE integration = 'hist' AND verdict IS NOT NULL")" 1

t "ferry runs: STATUS ok/suspect with the reason; --json verdict and verdict_reason"
run_ferry runs hist
expect_rc 0
grep -qE "^$R_SUSPECT +ok/suspect +manual .* extracted 0 records; the last 5 good runs" <<<"$out" ||
    fail "suspect row: $(grep -F "$R_SUSPECT" <<<"$out")"
grep -qE "^$R_GOOD +ok +manual " <<<"$out" || fail "good row: $(grep -F "$R_GOOD" <<<"$out")"
run_ferry runs hist --json
expect_rc 0
expect_eq "$(jpy "$out" '[J[0]["verdict"], J[0]["verdict_reason"], J[1]["verdict"]]')" \
    "['suspect', 'extracted 0 records; the last 5 good runs extracted a median of 1000', None]"

t "ferry status: LAST shows suspect with a note; LAST GOOD is the run before; --json last_verdict"
run_ferry status
expect_rc 0
grep -qE '^hist +suspect +' <<<"$(status_of hist)" || fail "status row: $(status_of hist)"
expect_in "$out" "    suspect: extracted 0 records; the last 5 good runs extracted a median of 1000"
run_ferry status --json
expect_eq "$(jpy "$out" '[(r["last_status"], r["last_verdict"], r["last_good"] is not None) for r in J if r["name"] == "hist"]')" \
    "[('ok', 'suspect', True)]"
expect_eq "$(jpy "$out" '[r["last_verdict_reason"] for r in J if r["name"] == "hist"][0]')" \
    "extracted 0 records; the last 5 good runs extracted a median of 1000"

t "a suspect run leaves the integration stale: its good runs aged past freshness, the suspect run after them"
# the five good runs ended two hours ago; the suspect run is newer, yet STALE
sql "$DB" "UPDATE runs SET started_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-2 hours'),
           ended_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-2 hours') WHERE integration = 'hist' AND verdict IS NULL"
run_ferry status
grep -qE '^hist +suspect +[^ ]+ ago +2h ago +STALE \(within 1h\)' <<<"$(status_of hist)" ||
    fail "status row: $(status_of hist)"
run_ferry status --json
expect_eq "$(jpy "$out" '[(r["stale"], r["stale_reason"]) for r in J if r["name"] == "hist"]')" "[(1, 'last_good_too_old')]"
# and with only suspect runs there is no good run at all
counts never ''
N=0 run_ferry run never.lua
expect_rc 4
run_ferry status --json
expect_eq "$(jpy "$out" '[(r["stale"], r["stale_reason"], r["last_good"]) for r in J if r["name"] == "never"]')" \
    "[(1, 'no_good_run', None)]"
expect_in "$(N=0 run_ferry run never.lua; echo "$out")" "(if an empty run is normal for this source, say so with expect = { min_records = 0 })"

t "the next good run is fresh again"
N=1000 run_ferry run hist.lua
expect_rc 0
run_ferry status
grep -qE '^hist +ok +.* fresh \(within 1h\)' <<<"$(status_of hist)" || fail "status row: $(status_of hist)"
expect_not_in "$(status_of hist)" "suspect"

t "ferry_freshness: after an ok run, its own row; after a suspect run, the last good run with status suspect"
counts fr ''
N=10 run_ferry run fr.lua
expect_rc 0
R_FR_OK=$(run_id_of fr)
expect_eq "$(fresh fr)" "$R_FR_OK|ok|$R_FR_OK|1"
expect_eq "$(sql "$REP" "SELECT last_good_at FROM ferry_freshness WHERE integration = 'fr'")" \
    "$(sql "$DB" "SELECT ended_at FROM runs WHERE id = '$R_FR_OK'")"
N=0 run_ferry run fr.lua
expect_rc 4
R_FR_SUSPECT=$(run_id_of fr)
expect_eq "$(fresh fr)" "$R_FR_OK|suspect|$R_FR_SUSPECT|1"
expect_eq "$(sql "$REP" "SELECT typeof(age_seconds), typeof(updated_at) FROM ferry_freshness WHERE integration = 'fr'")" "real|text"

t "ferry_freshness: a failed run says failed and keeps the last good run; another integration has its own row"
script frfail 'return ferry.integration {
  name = "fr", owner = "qa@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "fixture", freshness = "1h",
  extract = function(ctx) ctx:emit({ id = 1 }); error("the source went away") end,
  load = ferry.sink.sqlite { path = "reporting.db", table = "fr", columns = { { "id", "integer", key = true } } },
}'
run_ferry run frfail.lua
expect_rc 1
R_FR_FAILED=$(run_id_of fr)
expect_eq "$(fresh fr)" "$R_FR_OK|failed|$R_FR_FAILED|1"
expect_eq "$(sql "$REP" "SELECT integration, status FROM ferry_freshness ORDER BY integration")" \
    "$(printf 'fr|failed\nhist|ok\nnever|suspect')"

t "ferry_freshness: a replay leaves the row; a database that cannot be written is a warning, not a failure"
counts rp ''
N=20 BAD_EVERY=10 run_ferry run rp.lua
expect_rc 3
R_RP=$(run_id_of rp)
expect_eq "$(fresh rp)" "$R_RP|partial|$R_RP|1"
run_ferry quarantine replay rp
expect_rc 0
expect_eq "$(fresh rp)" "$R_RP|partial|$R_RP|1" "after the replay"
expect_eq "$(sql "$DB" "SELECT count(*) FROM runs WHERE integration = 'rp' AND trigger = 'replay' AND verdict IS NULL")" 1
# a file in the database's place that is not a database: the empty run
# (zero is normal for it) never opens it, and stays ok
counts gone 'expect = { min_records = 0 },'
script gone "$(sed 's/reporting.db/broken.db/' "$WORK/gone.lua")"
printf 'this is not a database, it is a text file long enough to be read as one......................\n%.0s' $(seq 1 40) >"$WORK/data/broken.db"
N=0 run_ferry run gone.lua
expect_rc 0
expect_in "$out" "== gone  run "
expect_in "$err" "cannot write ferry_freshness into $WORK/data/broken.db (the run's outcome stands)"
expect_eq "$(sql "$DB" "SELECT status, verdict IS NULL FROM runs WHERE integration = 'gone'")" "ok|1"

t "expect.min_records: fewer is suspect (exit 4), that many is ok"
counts few 'expect = { min_records = 100 },'
N=99 run_ferry run few.lua
expect_rc 4
expect_in "$out" "verdict: suspect — extracted 99 records, fewer than expect.min_records 100"
N=100 run_ferry run few.lua
expect_rc 0
expect_not_in "$out" "verdict"

t "expect.deviation: judged only with a full window of good runs, then off the median either way"
counts dev 'expect = { deviation = 0.5 },'
for n in 1000 1000 1000 1000; do N=$n run_ferry run dev.lua; expect_rc 0; done
N=400 run_ferry run dev.lua
expect_rc 0                                     # four good runs: not enough history yet
N=400 run_ferry run dev.lua                     # median of 400,1000,1000,1000,1000 is 1000
expect_rc 4
expect_in "$out" "verdict: suspect — extracted 400 records, 0.40x the median of 1000 of the last 5 good runs (expect.deviation 0.5 allows 0.50x to 1.50x)"
N=1600 run_ferry run dev.lua
expect_rc 4
expect_in "$out" "1.60x the median of 1000"
N=1400 run_ferry run dev.lua
expect_rc 0
expect_eq "$(sql "$DB" "SELECT group_concat(coalesce(verdict, '-'), ' ') FROM (SELECT verdict FROM runs
                        WHERE integration = 'dev' ORDER BY started_at, rowid)")" "- - - - - suspect suspect -"

t "expect.history: the median over that many good runs"
counts hist3 'expect = { history = 3, deviation = 0.5 },'
for n in 100 100 100; do N=$n run_ferry run hist3.lua; expect_rc 0; done
N=10 run_ferry run hist3.lua
expect_rc 4
expect_in "$out" "the median of 100 of the last 3 good runs"
t "suspect runs stay out of the history: two low runs do not make low normal"
N=10 run_ferry run hist3.lua                    # counted, 10,10,100 would have a median of 10
expect_rc 4
expect_in "$out" "0.10x the median of 100 of the last 3 good runs"

t "an incremental sync with expect = { min_records = 0 } stays ok with nothing new, and fresh"
counts incr 'expect = { min_records = 0, deviation = 0.5 },'
for n in 0 0 0 0 0 0; do N=$n run_ferry run incr.lua; expect_rc 0; done
N=7 run_ferry run incr.lua
expect_rc 0                                     # never judged against a median of 0
expect_not_in "$out" "SUSPECT"
run_ferry status
grep -qE '^incr +ok +.* fresh \(within 1h\)' <<<"$(status_of incr)" || fail "status row: $(status_of incr)"
expect_eq "$(sql "$DB" "SELECT count(*) FROM runs WHERE integration = 'incr' AND verdict IS NOT NULL")" 0

t "policy.max_quarantined \"5%\": 10% quarantined is PARTIAL (INCOMPLETE), exit 4; 4% is partial, exit 3"
counts inc 'policy = { max_quarantined = "5%" },'
N=100 BAD_EVERY=10 run_ferry run inc.lua
expect_rc 4
R_INC=$(run_id_of inc)
expect_in "$out" "== inc  run $R_INC  PARTIAL (INCOMPLETE)"
expect_in "$out" "verdict: incomplete — quarantined 10 of 100 records (10%), more than policy.max_quarantined 5%"
expect_eq "$(sql "$DB" "SELECT status, verdict FROM runs WHERE id = '$R_INC'")" "partial|incomplete"
run_ferry runs inc
grep -qE "^$R_INC +partial/incomplete +manual " <<<"$out" || fail "runs row: $(grep -F "$R_INC" <<<"$out")"
run_ferry status
grep -qE '^inc +incomplete +' <<<"$(status_of inc)" || fail "status row: $(status_of inc)"
expect_eq "$(fresh inc)" "|incomplete|$R_INC|"          # no good run yet: no last good run, no age
N=100 BAD_EVERY=25 run_ferry run inc.lua
expect_rc 3
expect_not_in "$out" "INCOMPLETE"
counts frac 'policy = { max_quarantined = 0.2 },'
N=100 BAD_EVERY=10 run_ferry run frac.lua
expect_rc 3                                     # 10% is within a fraction of 0.2

t "several scripts: the worst exit wins (suspect over partial, failed over suspect)"
counts empty 'expect = { min_records = 5 },'
N=0 run_ferry run empty.lua frac.lua
expect_rc 4
N=0 run_ferry run empty.lua frfail.lua
expect_rc 1

t "a webhook script without extract is not judged: its runs handle events"
script hook 'return ferry.integration {
  name = "hook", owner = "qa@example.com", purpose = "test", pattern = "workflow",
  source_of_truth = "fixture", freshness = "1h", trigger = { webhook = "hook" },
  load = function(batch) end,
}'
run_ferry run hook.lua
expect_rc 0
expect_eq "$(sql "$DB" "SELECT status, verdict IS NULL FROM runs WHERE integration = 'hook'")" "ok|1"

t "ferry serve: a triggered empty run exits 4 with its verdict; the admin API's run and status JSON carry it"
mkdir -p "$WORK/svc/scripts"
TOKEN="tok-$RANDOM$RANDOM"
cat >"$WORK/svc/ferry.lua" <<EOF
return {
  data_dir = "$WORK/svc/data", script_dirs = { "$WORK/svc/scripts" },
  admin = { listen = "127.0.0.1:0", token = "$TOKEN" },
  integrations = { ["*"] = { trusted = true } },
}
EOF
sed 's/freshness = "1h",/freshness = "1h", schedule = "manual",/' "$WORK/never.lua" >"$WORK/svc/scripts/never.lua"
api_get() {
    "$PY" -c 'import http.client, sys
host, port = sys.argv[1].rsplit(":", 1)
c = http.client.HTTPConnection(host, int(port), timeout=10)
c.request("GET", sys.argv[3], headers={"Authorization": "Bearer " + sys.argv[2]})
sys.stdout.write(c.getresponse().read().decode())' "$ADMIN" "$TOKEN" "$1" 2>&1
}
if N=0 start_serve "$WORK/svc" ferry.lua; then
    (cd "$WORK/svc" && "$FERRY" trigger never -c ferry.lua) >"$WORK/trig.out" 2>&1
    rc=$?
    out=$(cat "$WORK/trig.out")
    expect_rc 4
    expect_in "$out" "OK (SUSPECT)"
    expect_in "$out" "   verdict: suspect — extracted 0 records (if an empty run is normal"
    R_SVC=$(run_id_of never)
    J=$(api_get "/api/v1/runs/$R_SVC")
    expect_eq "$(jpy "$J" '(J["status"], J["verdict"])')" "('ok', 'suspect')"
    J=$(api_get "/api/v1/integrations/never")
    expect_eq "$(jpy "$J" '(J["last_verdict"], J["stale_reason"])')" "('suspect', 'no_good_run')"
    stop_serve
fi

t "ferry check: precise problems for bad expect and max_quarantined values"
script bad "return ferry.integration {
  $HEADER
  expect = { min_rcords = 1, min_records = -1, history = 0, deviation = 0 },
  policy = { max_quarantined = \"lots\" },
  extract = function(ctx) end,
  load = function(batch) end,
}"
run_ferry check bad.lua
expect_rc 1
expect_in "$out$err" "bad.lua:4: expect.min_rcords: unknown expectation (did you mean 'min_records'?) (expectations: deviation, history, min_records)"
expect_in "$out$err" "bad.lua:4: expect.min_records: expected how few records make a run suspect (an integer >= 0; 0: an empty run is normal), got -1"
expect_in "$out$err" "bad.lua:4: expect.history: expected how many good runs the median is taken over (an integer from 1 to 100), got 0"
expect_in "$out$err" "bad.lua:4: expect.deviation: expected a ratio above 0 like 0.5 (suspect below half or above 1.5x the median), got 0"
expect_in "$out$err" "bad.lua:5: policy.max_quarantined: expected a share of the extracted records like \"5%\" or a fraction from 0 to 1 like 0.05, got \"lots\""
for v in '"150%"' '5' '-0.1' '"5"' 'true'; do
    script badq "return ferry.integration {
  $HEADER
  policy = { max_quarantined = $v },
  extract = function(ctx) end,
  load = function(batch) end,
}"
    run_ferry check badq.lua
    expect_rc 1
    expect_in "$out$err" "badq.lua:4: policy.max_quarantined: expected a share of the extracted records"
done
script badx "return ferry.integration {
  $HEADER
  expect = 100,
  extract = function(ctx) end,
  load = function(batch) end,
}"
run_ferry check badx.lua
expect_rc 1
expect_in "$out$err" "badx.lua:4: expect: expected a table like { min_records = 100, deviation = 0.5 }"
script goodx "return ferry.integration {
  $HEADER
  expect = { min_records = 0, history = 10, deviation = 0.5 },
  policy = { max_quarantined = \"2.5%\", validation = \"quarantine\" },
  extract = function(ctx) end,
  load = function(batch) end,
}"
run_ferry check goodx.lua
expect_rc 0
done_t
