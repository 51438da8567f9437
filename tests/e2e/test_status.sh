#!/usr/bin/env bash
# End-to-end: `ferry status`, `ferry runs` and `ferry quarantine show` tell
# the truth. Freshness and the last good run come only from runs that read
# the source, never from replays; an integration that never ran says so; the
# run history shows each run's trigger and checkpoint; a quarantined record
# keeps when it last failed apart from when it was resolved or discarded;
# an HTTP error page reaches summaries and status as one line.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

DB="$WORK/data/ferry.db"
# the real interpreter (a pyenv shim costs ~0.4 s per call)
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || echo python3)

# jpy JSON EXPR: evaluates a Python expression over J, the parsed JSON text.
jpy() {
    "$PY" -c 'import json, sys
J = json.loads(sys.argv[1])
print(eval(sys.argv[2]))' "$1" "$2" 2>&1
}
run_id_of() { sed -nE "s/^== $1  run ([^ ]+)  .*/\1/p" <<<"$out" | head -1; }
# status_of NAME: NAME's line of the last `ferry status` text output
status_of() { grep -E "^$1 " <<<"$out" | head -1; }

# flaky: emits ids 1-3 and checkpoints { after = 3 }; the transform fails id 2
# unless FIXED is set; extract raises after emitting when FAIL is set.
script flaky 'return ferry.integration {
  name = "flaky", owner = "ops@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "fixture", freshness = "1h",
  extract = function(ctx)
    for i = 1, 3 do ctx:emit({ id = i }) end
    ctx:checkpoint({ after = 3 })
    if os.getenv("FAIL") then error("the source went away") end
  end,
  transform = function(r)
    if r.id == 2 and not os.getenv("FIXED") then return nil, "record 2 is bad" end
    return r
  end,
  load = function(batch) end,
}'

# ---------------------------------------------------------------------------
# 1. A replay is not a run of the source
t "status: a replay after a failed run leaves it failed and STALE; the replay shows apart"
FAIL=1 run_ferry run flaky.lua
expect_rc 1
R_FAIL=$(run_id_of flaky)
run_ferry status
expect_rc 0
grep -qE '^flaky +failed .*STALE ' <<<"$out" || fail "before the replay: $(status_of flaky)"
Q2=$(sql "$DB" "SELECT id FROM quarantine WHERE integration = 'flaky'")
FIXED=1 run_ferry quarantine replay "$Q2"
expect_rc 0
R_REPLAY=$(run_id_of flaky)
expect_eq "$(sql "$DB" "SELECT trigger || ' ' || status FROM runs WHERE id = '$R_REPLAY'")" "replay ok"
run_ferry status
expect_rc 0
expect_in "$out" "LAST REPLAY"
line=$(status_of flaky)
grep -qE '^flaky +failed .*STALE ' <<<"$line" || fail "after the replay: $line"
grep -qE ' ok [0-9a-z]+ ago ' <<<"$line" || fail "the replay (ok, seconds ago) is not shown apart: $line"
run_ferry status --json
expect_rc 0
expect_eq "$(jpy "$out" '[(r["last_status"], r["last_run"], r["last_good"], r["stale"]) for r in J if r["name"] == "flaky"]')" \
    "[('failed', '$R_FAIL', None, 1)]" "status --json of the last source run"
expect_eq "$(jpy "$out" '[(r["last_replay"], r["last_replay_status"], r["last_replay_started"] is not None) for r in J if r["name"] == "flaky"]')" \
    "[('$R_REPLAY', 'ok', True)]" "status --json of the last replay"

t "status: a good run after a replay is the last run and makes it fresh; the replay stays shown"
FIXED=1 run_ferry run flaky.lua
expect_rc 0
R_GOOD=$(run_id_of flaky)
run_ferry status --json
expect_eq "$(jpy "$out" '[(r["last_status"], r["last_run"], r["last_good"] is not None, r["stale"], r["last_replay"]) for r in J if r["name"] == "flaky"]')" \
    "[('ok', '$R_GOOD', True, 0, '$R_REPLAY')]"
run_ferry status
grep -qE '^flaky +ok .*fresh \(within 1h\)' <<<"$(status_of flaky)" || fail "after a good run: $(status_of flaky)"

# ---------------------------------------------------------------------------
# 2. Never run
# quiet: one good record. Its runs are deleted from the store below, as if it
# had only been recorded (by a run whose start was never stored, say).
script quiet 'return ferry.integration {
  name = "quiet", owner = "quiet@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "fixture", freshness = "1d",
  extract = function(ctx) ctx:emit({ id = 1 }) end,
  load = function(batch) end,
}'

t "status: an integration without a run says 'never run', not STALE; --json: stale with reason never_run"
run_ferry run quiet.lua
expect_rc 0
sql "$DB" "DELETE FROM runs WHERE integration = 'quiet'" >/dev/null
run_ferry status
expect_rc 0
line=$(status_of quiet)
grep -qE '^quiet +- +- +- +never run +- +- +quiet@example\.com$' <<<"$line" || fail "never run: $line"
expect_not_in "$line" "STALE"
run_ferry status --json
expect_rc 0
expect_eq "$(jpy "$out" '[(r["last_status"], r["last_run"], r["last_good"], r["stale"], r["stale_reason"]) for r in J if r["name"] == "quiet"]')" \
    "[(None, None, None, 1, 'never_run')]"

t "status: an integration with only replays has never run; its last replay shows"
sql "$DB" "DELETE FROM runs WHERE integration = 'flaky' AND trigger <> 'replay'" >/dev/null
run_ferry status
line=$(status_of flaky)
grep -qE '^flaky +- +- +- +never run .* ok [0-9a-z]+ ago +ops@example\.com$' <<<"$line" || fail "only replays: $line"
run_ferry status --json
expect_eq "$(jpy "$out" '[(r["last_run"], r["stale"], r["stale_reason"], r["last_replay"]) for r in J if r["name"] == "flaky"]')" \
    "[(None, 1, 'never_run', '$R_REPLAY')]"

t "status --json: stale_reason is no_good_run after failed runs only, null when fresh"
FAIL=1 run_ferry run flaky.lua
expect_rc 1
run_ferry run quiet.lua
expect_rc 0
run_ferry status --json
expect_eq "$(jpy "$out" '[(r["name"], r["last_status"], r["stale"], r["stale_reason"]) for r in J if r["name"] in ("flaky", "quiet")]')" \
    "[('flaky', 'failed', 1, 'no_good_run'), ('quiet', 'ok', 0, None)]"
run_ferry status
grep -qE '^flaky +failed .*STALE \(within 1h\)' <<<"$(status_of flaky)" || fail "failed runs only: $(status_of flaky)"

# ---------------------------------------------------------------------------
# 3. ferry runs: trigger and checkpoint
# paged: checkpoints a long cursor; record 2 fails unless FIXED is set.
script paged 'return ferry.integration {
  name = "paged", owner = "qa@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "fixture", freshness = "1h",
  extract = function(ctx)
    for i = 1, 3 do ctx:emit({ id = i }) end
    ctx:checkpoint({ page = 12, after = "2026-12-04T10:00:00Z", token = string.rep("z", 60) })
  end,
  transform = function(r)
    if r.id == 2 and not os.getenv("FIXED") then return nil, "record 2 is bad" end
    return r
  end,
  load = function(batch) end,
}'
# run_row ID: the line of run ID in the last `ferry runs` text output
run_row() { grep -E "^$1 " <<<"$out" | head -1; }

t "runs: the text table shows each run's trigger and a compact checkpoint; a replay reads as a replay"
run_ferry run paged.lua
expect_rc 3
R_PAGED=$(run_id_of paged)
FIXED=1 run_ferry quarantine replay paged
expect_rc 0
R_PAGED_REPLAY=$(run_id_of paged)
CP=$(sql "$DB" "SELECT checkpoint FROM runs WHERE id = '$R_PAGED'")
[ "${#CP}" -gt 60 ] || fail "the checkpoint is not long: $CP"
run_ferry runs paged
expect_rc 0
head=$(head -1 <<<"$out")
grep -qE '^RUN +STATUS +TRIGGER +STARTED .* CHECKPOINT +FIRST ERROR' <<<"$head" || fail "header: $head"
row=$(run_row "$R_PAGED")
grep -qE "^$R_PAGED +partial +manual " <<<"$row" || fail "the run's row: $row"
expect_in "$row" " ${CP:0:20}"
expect_in "$row" "…"
expect_not_in "$row" "$CP"
expect_in "$row" "validation"
row=$(run_row "$R_PAGED_REPLAY")
grep -qE "^$R_PAGED_REPLAY +ok +replay .* - *$" <<<"$row" || fail "the replay's row (no checkpoint): $row"

t "runs --json: complete, with trigger and the whole checkpoint"
run_ferry runs paged --json
expect_rc 0
expect_eq "$(jpy "$out" '[(r["id"], r["trigger"]) for r in J]')" "[('$R_PAGED_REPLAY', 'replay'), ('$R_PAGED', 'manual')]"
expect_eq "$(jpy "$out" 'J[1]["checkpoint"] == {"page": 12, "after": "2026-12-04T10:00:00Z", "token": "z" * 60}')" "True"

# ---------------------------------------------------------------------------
# 4. quarantine show: when a record last failed, apart from when it was
# resolved or discarded
# dropped: records 1-3; 2 and 3 fail unless named in FIXED.
script dropped 'return ferry.integration {
  name = "dropped", owner = "qa@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "fixture", freshness = "1h",
  extract = function(ctx) for i = 1, 3 do ctx:emit({ id = i }) end end,
  transform = function(r)
    if r.id > 1 and not (os.getenv("FIXED") or ""):find(tostring(r.id), 1, true) then
      return nil, "record " .. r.id .. " is bad"
    end
    return r
  end,
  load = function(batch) end,
}'
# qrow ID COLUMNS: the quarantine row's columns, '|' separated
qrow() { sql "$DB" "SELECT $2 FROM quarantine WHERE id = $1"; }

t "quarantine show: 'last failed' is the last failure and its run, not the time it was discarded"
run_ferry run dropped.lua
expect_rc 3
QD2=$(sql "$DB" "SELECT id FROM quarantine WHERE integration = 'dropped' AND record = '{\"id\":2}'")
QD3=$(sql "$DB" "SELECT id FROM quarantine WHERE integration = 'dropped' AND record = '{\"id\":3}'")
sleep 0.1
run_ferry quarantine replay "$QD2"
expect_rc 3
R_AGAIN=$(run_id_of dropped)
T_FAILED=$(qrow "$QD2" updated_at)
expect_eq "$(qrow "$QD2" "last_run || ' ' || attempts")" "$R_AGAIN 2"
run_ferry quarantine show "$QD2"
expect_in "$out" "last failed  $T_FAILED (run $R_AGAIN"
sleep 0.1
run_ferry quarantine discard "$QD2" --reason "not ours"
expect_rc 0
T_DISCARDED=$(qrow "$QD2" discarded_at)
[ "$T_DISCARDED" != "$T_FAILED" ] || fail "discarded at the same millisecond it failed: $T_FAILED"
run_ferry quarantine show "$QD2"
expect_rc 0
expect_in "$out" "last failed  $T_FAILED (run $R_AGAIN"
expect_in "$out" "discarded    $T_DISCARDED: not ours"
expect_not_in "$(grep 'last failed' <<<"$out")" "$T_DISCARDED"
run_ferry quarantine show "$QD2" --json
expect_eq "$(jpy "$out" '(J["last_failed_at"], J["last_run"], J["discarded_at"], J["status"])')" \
    "('$T_FAILED', '$R_AGAIN', '$T_DISCARDED', 'discarded')"

t "quarantine show: a resolved record keeps its last failure; resolved shows apart with its run"
T_FAILED3=$(qrow "$QD3" updated_at)
R_FIRST=$(qrow "$QD3" last_run)
sleep 0.1
FIXED=3 run_ferry quarantine replay "$QD3"
expect_rc 0
R_FIX=$(run_id_of dropped)
T_RESOLVED=$(qrow "$QD3" resolved_at)
run_ferry quarantine show "$QD3"
expect_in "$out" "last failed  $T_FAILED3 (run $R_FIRST"
expect_in "$out" "resolved     $T_RESOLVED (run $R_FIX)"
run_ferry quarantine show "$QD3" --json
expect_eq "$(jpy "$out" '(J["last_failed_at"], J["resolved_at"], J["resolved_run"])')" "('$T_FAILED3', '$T_RESOLVED', '$R_FIX')"
run_ferry quarantine list dropped --status all --json
expect_eq "$(jpy "$out" '[(o["id"], o["last_failed_at"]) for o in J]')" "[($QD2, '$T_FAILED'), ($QD3, '$T_FAILED3')]"

# ---------------------------------------------------------------------------
# 5. An HTTP error page reaches summaries, runs and status as one line
fake_ok=1
start_fake_api || fake_ok=""
BASE=${FAKE_BASE:-http://127.0.0.1:1}
PAGE_SECRET=tok-page-5ecret-42

# pagefail: the source answers 404 with a multi-line HTML page that echoes
# the request's query, which holds a secret.
script pagefail "return ferry.integration {
  name = \"pagefail\", owner = \"qa@example.com\", purpose = \"test\", pattern = \"reporting\",
  source_of_truth = \"fixture\", freshness = \"1h\",
  policy = { not_found = \"fail\" },   -- run again and again: not paused
  extract = function(ctx)
    local tok = ctx:secret(\"PAGE_TOKEN\")
    local res, err = ctx.http:get(\"$BASE/html/404\", { query = { api_key = tok, q = tok } })
    if not res then error(err) end
  end,
  load = function(batch) end,
}"
# one_line_utf8 TEXT MAX: "ok" when TEXT is valid UTF-8, one line, without
# tabs and at most MAX characters; else what is wrong
one_line_utf8() {
    "$PY" -c 'import sys
b = sys.argv[1].encode("utf-8", "surrogateescape")
try: t = b.decode("utf-8")
except UnicodeDecodeError as e: print("not UTF-8:", e); sys.exit()
bad = [c for c in "\n\r\t" if c in t]
print("has %r" % bad if bad else "%d characters" % len(t) if len(t) > int(sys.argv[2]) else "ok")' "$1" "$2" 2>&1
}

t "http error page: the summary's error is one line, the page's first 200 bytes with whitespace collapsed, cut whole"
[ -n "$fake_ok" ] || fail "the fake API did not start: $(cat "$WORK/fake.log")"
PAGE_TOKEN=$PAGE_SECRET run_ferry run pagefail.lua
expect_rc 1
R_PAGE=$(run_id_of pagefail)
elines=$(grep -c '^   error: ' <<<"$out")
expect_eq "$elines" "1" "error lines in: $out"
eline=$(grep '^   error: ' <<<"$out")
expect_in "$(grep -A1 '^   error: ' <<<"$out" | tail -1)" "   took "
expect_in "$eline" "error: extract: not_found: GET $BASE/html/404?api_key=REDACTED&q=[REDACTED]: HTTP 404 — "
expect_in "$eline" '<!DOCTYPE html> <html lang="de"> <head> <meta charset="utf-8"> <title>404 Not Found</title> </head> <body> <h1>Not Found</h1> <p>Die angeforderte Seite'
expect_eq "$(one_line_utf8 "$eline" 400)" "ok"
body=${eline#* — }
expect_eq "${body: -1}" "…" "the excerpt ends with an ellipsis: $body"
[ "$(printf %s "${body%…}" | wc -c)" -le 200 ] || fail "the excerpt is over 200 bytes: $(printf %s "$body" | wc -c)"
expect_not_in "$out$err" "$PAGE_SECRET"

t "http error page: runs.error, ferry runs and status --json keep the same one line"
stored=$(sql "$DB" "SELECT error FROM runs WHERE id = '$R_PAGE'")
expect_eq "$stored" "${eline#   error: }" "runs.error"
run_ferry status --json
expect_eq "$(jpy "$out" '[r["last_error"] for r in J if r["name"] == "pagefail"][0]')" "$stored" "status --json last_error"
run_ferry runs pagefail
row=$(grep -E "^$R_PAGE " <<<"$out")
expect_eq "$(one_line_utf8 "$row" 400)" "ok"
expect_in "$row" "extract: not_found: GET"
expect_not_in "$(sqlite3 "$DB" .dump 2>&1)" "$PAGE_SECRET"

t "http error page: --log-level debug logs the whole page, its secret redacted"
PAGE_TOKEN=$PAGE_SECRET run_ferry run --log-level debug pagefail.lua
expect_rc 1
expect_in "$err" "end of the fake error page"
expect_in "$err" "The requested URL /html/404?api_key=[REDACTED]&amp;q=[REDACTED] was not found"
expect_not_in "$out$err" "$PAGE_SECRET"
expect_eq "$(grep -c '^   error: ' <<<"$out")" "1" "error lines with --log-level debug"

t "a multi-line error of 700 bytes: one line in the summary and the store, cut at 500 bytes; whole in the debug log"
script multiline 'return ferry.integration {
  name = "multiline", owner = "qa@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "fixture", freshness = "1h",
  extract = function(ctx)
    error("the export failed:\n\tline one\n\tline two\n" .. string.rep("é", 300) .. " END-OF-ERROR", 0)
  end,
  load = function(batch) end,
}'
run_ferry run --log-level debug multiline.lua
expect_rc 1
eline=$(grep '^   error: ' <<<"$out")
expect_eq "$(grep -c '^   error: ' <<<"$out")" "1" "error lines in: $out"
expect_in "$eline" "error: extract: the export failed: line one line two éé"
expect_eq "$(one_line_utf8 "$eline" 520)" "ok"
expect_eq "${eline: -1}" "…"
expect_not_in "$eline" "END-OF-ERROR"
expect_eq "$(sql "$DB" "SELECT error FROM runs WHERE integration = 'multiline'")" "${eline#   error: }" "runs.error"
expect_in "$err" '"msg":"run error in full"'
expect_in "$err" 'the export failed:\n\tline one\n\tline two\n'
expect_in "$err" "END-OF-ERROR"

# ---------------------------------------------------------------------------
t "status: a partial run within its freshness window is a good run (fresh), as the README says"
script partly 'return ferry.integration {
  name = "partly", owner = "ops@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "fixture", freshness = "1h",
  extract = function(ctx) for i = 1, 3 do ctx:emit({ id = i }) end end,
  transform = function(r) if r.id == 2 then return nil, "record 2 is bad" end return r end,
  load = function(batch) end,
}'
run_ferry run partly.lua
expect_rc 3
R_PART=$(run_id_of partly)
run_ferry status
grep -qE '^partly +partial .*fresh \(within 1h\)' <<<"$(status_of partly)" || fail "after a partial run: $(status_of partly)"
run_ferry status --json
expect_eq "$(jpy "$out" '[(r["stale"], r["stale_reason"], r["last_run"]) for r in J if r["name"] == "partly"]')" \
    "[(0, None, '$R_PART')]"
expect_eq "$(jpy "$out" '[r["last_good"] is not None for r in J if r["name"] == "partly"]')" "[True]"

done_t
