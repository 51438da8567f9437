#!/usr/bin/env bash
# End-to-end: the durable store DATA_DIR/ferry.db. Run history (`ferry runs`),
# `ferry status` and staleness, durable checkpoints (ctx.cursor), crashes
# (runs left running become aborted), one writer per data directory,
# `ferry reset`, ctx.state, the schema version and secret redaction.
# Scripts are written into $WORK and run from there, so the data directory
# is $WORK/data unless a case says otherwise.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

DB="$WORK/data/ferry.db"
# the real interpreter (a pyenv shim costs ~0.4 s per call)
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || echo python3)

# integ NAME BODY [FRESHNESS] [OWNER]: writes $WORK/NAME.lua, an integration called NAME.
integ() {
    script "$1" "return ferry.integration {
  name = \"$1\", owner = \"${4:-qa@example.com}\", purpose = \"test\", pattern = \"reporting\",
  source_of_truth = \"fixture\", freshness = \"${3:-1h}\",
$2
}"
}

# jpy JSON EXPR: evaluates a Python expression over J, the parsed JSON text.
jpy() {
    "$PY" -c 'import json, sys
J = json.loads(sys.argv[1])
print(eval(sys.argv[2]))' "$1" "$2" 2>&1
}

# run id printed in the summary line "== NAME  run ID  STATUS"
run_id_of() { sed -nE "s/^== $1  run ([^ ]+)  .*/\1/p" <<<"$out" | head -1; }
lineno() { grep -nF -- "$2" "$WORK/$1.lua" | head -1 | cut -d: -f1; }
nlines() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }
# ids FILE: the lines of FILE joined by spaces
ids() { tr '\n' ' ' <"$1" 2>/dev/null | sed 's/ $//'; }

# wait_until SECONDS CMD...: polls CMD every 0.1 s; fails (status 1) on timeout.
wait_until() {
    local deadline=$((SECONDS + $1)); shift
    until "$@"; do
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.1
    done
}
at_least_lines() { [ "$(nlines "$1")" -ge "$2" ]; }

# bg_ferry OUT ARGS...: starts ferry ARGS in the background from $WORK with
# stdout+stderr in OUT; sets $bg to ferry's own pid (exec, no subshell left).
bg_ferry() {
    local o=$1; shift
    (cd "$WORK" && exec "$FERRY" "$@") >"$o" 2>&1 &
    bg=$!
}

# pty_ferry ANSWER ARGS...: runs ferry ARGS from $WORK in a pseudo-terminal,
# types ANSWER + Enter once the [y/N] prompt appears; sets $out and $rc.
pty_ferry() {
    local ans=$1; shift
    out=$(cd "$WORK" && "$PY" - "$ans" "$FERRY" "$@" <<'EOF' 2>&1
import os, pty, select, signal, sys, time
ans = sys.argv[1].encode() + b"\n"
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
buf, sent, deadline = b"", False, time.time() + 30
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if fd in r:
        try:
            d = os.read(fd, 4096)
        except OSError:
            break
        if not d:
            break
        buf += d
        if not sent and b"[y/N]" in buf:
            os.write(fd, ans)
            sent = True
else:
    os.kill(pid, signal.SIGKILL)
    buf += b"\n(pty helper: timed out)"
_, st = os.waitpid(pid, 0)
sys.stdout.write(buf.decode("utf-8", "replace").replace("\r", ""))
sys.exit(os.waitstatus_to_exitcode(st))
EOF
)
    rc=$?
    err=""
}

# ---------------------------------------------------------------------------
# 1. ferry runs
# One script, three outcomes chosen by $MODE: ok (exit 0), partial (3), failed (1).
integ modes '
  extract = function(ctx)
    local mode = os.getenv("MODE") or "ok"
    if mode == "ok" then
      for i = 1, 3 do ctx:emit({ id = i }) end
    elseif mode == "partial" then
      for i = 1, 4 do ctx:emit({ id = i }) end
    else
      ctx:emit({ id = 1 }); ctx:emit({ id = 2 })
      error("boom: upstream answered 503")
    end
  end,
  transform = function(r)
    if os.getenv("MODE") == "partial" then
      if r.id == 2 then return nil, "price must be positive" end
      if r.id == 3 then return nil end
    end
    return r
  end,
  load = function(batch) end,'

t "runs: ok/partial/failed runs are listed newest first with their status, counts and first error"
rm -rf "$WORK/data"
MODE=ok run_ferry run modes.lua
expect_rc 0
R_OK=$(run_id_of modes)
MODE=partial run_ferry run modes.lua
expect_rc 3
R_PARTIAL=$(run_id_of modes)
MODE=failed run_ferry run modes.lua
expect_rc 1
R_FAILED=$(run_id_of modes)
[ -n "$R_OK" ] && [ -n "$R_PARTIAL" ] && [ -n "$R_FAILED" ] || fail "run ids not found in the summaries"
ERR_LINE=$(lineno modes 'error("boom')
run_ferry runs modes
expect_rc 0
expect_in "$out" "RUN"
expect_in "$out" "STATUS"
expect_eq "$(grep -c -E '^[0-9]{8}T[0-9]{6}Z-' <<<"$out")" "3" "run rows in: $out"
# RUN STATUS TRIGGER STARTED("Ns ago") SECONDS EXTRACTED LOADED QUARANTINED SKIPPED CHECKPOINT NOTE
row() { grep -F -- "$1" <<<"$out" | head -1; }
grep -qE "^$R_OK +ok +manual +[^ ]+ ago +[0-9.]+ +3 +3 +0 +0 +-$" <<<"$(row "$R_OK")" ||
    fail "ok row: '$(row "$R_OK")'"
grep -qE "^$R_PARTIAL +partial +manual +[^ ]+ ago +[0-9.]+ +4 +2 +1 +1 +- +" <<<"$(row "$R_PARTIAL")" ||
    fail "partial row: '$(row "$R_PARTIAL")'"
expect_in "$(row "$R_PARTIAL")" "validation"
grep -qE "^$R_FAILED +failed +manual +[^ ]+ ago +[0-9.]+ +2 +2 +0 +0 +- +extract: .*modes.lua:$ERR_LINE: boom: upstream answered 503" \
    <<<"$(row "$R_FAILED")" || fail "failed row: '$(row "$R_FAILED")'"
order=$(grep -oE '^[0-9]{8}T[0-9]{6}Z-[^ ]+' <<<"$out" | tr '\n' ' ')
expect_eq "$order" "$R_FAILED $R_PARTIAL $R_OK " "newest first"

t "runs --json: parses and has the same status, counts, by_class (an object) and error"
run_ferry runs modes --json
expect_rc 0
J=$out
expect_eq "$(jpy "$J" 'len(J)')" "3"
expect_eq "$(jpy "$J" '[r["id"] for r in J]')" "['$R_FAILED', '$R_PARTIAL', '$R_OK']"
expect_eq "$(jpy "$J" '[(r["status"], r["extracted"], r["loaded"], r["quarantined"], r["skipped"]) for r in J]')" \
    "[('failed', 2, 2, 0, 0), ('partial', 4, 2, 1, 1), ('ok', 3, 3, 0, 0)]"
expect_eq "$(jpy "$J" '[r["by_class"] for r in J]')" "[{}, {'validation': 1}, {}]"
expect_eq "$(jpy "$J" '[r["error"] for r in J][1:]')" "[None, None]"
expect_eq "$(jpy "$J" 'J[0]["error"]')" "extract: modes.lua:$ERR_LINE: boom: upstream answered 503"
expect_eq "$(jpy "$J" 'all(isinstance(r["extracted"], int) and r["started_at"] <= r["ended_at"] for r in J)')" "True"

t "runs --limit 2: shows the 2 newest of 3 runs"
run_ferry runs modes --limit 2
expect_rc 0
expect_eq "$(grep -oE '^[0-9]{8}T[0-9]{6}Z-[^ ]+' <<<"$out" | tr '\n' ' ')" "$R_FAILED $R_PARTIAL "
run_ferry runs --json --limit 2 modes
expect_rc 0
expect_eq "$(jpy "$out" '[r["status"] for r in J]')" "['failed', 'partial']"

t "runs: an unknown integration, no name or a bad --limit exits 2"
run_ferry runs NOPE
expect_rc 2
expect_in "$err" "no integration 'NOPE' in the store"
run_ferry runs NOPE --json
expect_rc 2
expect_eq "$out" ""
run_ferry runs
expect_rc 2
expect_in "$err" "name one integration"
run_ferry runs modes --limit 0
expect_rc 2

t "the new flags are rejected where they mean nothing (run --json, status --limit), exit 2"
run_ferry run modes.lua --json --log-level off
[ "$rc" -eq 2 ] || fail "'ferry run modes.lua --json' exited $rc and printed the text summary: the flag was silently ignored"
run_ferry status --limit 2
[ "$rc" -eq 2 ] || fail "'ferry status --limit 2' exited $rc: the flag was silently ignored"
run_ferry runs modes --yes
[ "$rc" -eq 2 ] || fail "'ferry runs modes --yes' exited $rc: the flag was silently ignored"

# ---------------------------------------------------------------------------
# 2. ferry status
t "status: each integration with its last status, owner and fresh/STALE; --json agrees"
rm -rf "$WORK/data"
integ quick 'extract = function(ctx) ctx:emit({ id = 1 }) end, load = function(batch) end,' "1s" "quick@example.com"
integ hourly 'extract = function(ctx) ctx:emit({ id = 1 }) end, load = function(batch) end,' "1h" "hourly@example.com"
integ broken 'extract = function(ctx) error("never works") end, load = function(batch) end,' "1h" "broken@example.com"
run_ferry run quick.lua
expect_rc 0
R_QUICK=$(run_id_of quick)
run_ferry run hourly.lua
expect_rc 0
R_HOURLY=$(run_id_of hourly)
run_ferry run broken.lua
expect_rc 1
R_BROKEN=$(run_id_of broken)
sleep 1.5
run_ferry status
expect_rc 0
expect_in "$out" "INTEGRATION"
grep -qE '^quick +ok .*STALE .*quick@example\.com$' <<<"$out" || fail "quick (1s, ran 1.5 s ago) should be STALE: $out"
grep -qE '^hourly +ok .*fresh .*hourly@example\.com$' <<<"$out" || fail "hourly should be fresh: $out"
grep -qE '^broken +failed .*STALE .*broken@example\.com$' <<<"$out" ||
    fail "an integration without a good run should be STALE: $out"
run_ferry status --json
expect_rc 0
J=$out
expect_eq "$(jpy "$J" 'sorted(r["name"] for r in J)')" "['broken', 'hourly', 'quick']"
expect_eq "$(jpy "$J" '{r["name"]: (r["stale"], r["last_status"], r["owner"]) for r in J}["quick"]')" \
    "(1, 'ok', 'quick@example.com')"
expect_eq "$(jpy "$J" '{r["name"]: (r["stale"], r["last_status"], r["owner"]) for r in J}["hourly"]')" \
    "(0, 'ok', 'hourly@example.com')"
expect_eq "$(jpy "$J" '{r["name"]: (r["stale"], r["last_status"], r["owner"]) for r in J}["broken"]')" \
    "(1, 'failed', 'broken@example.com')"
expect_eq "$(jpy "$J" '[(r["name"], r["last_run"]) for r in J]')" \
    "[('broken', '$R_BROKEN'), ('hourly', '$R_HOURLY'), ('quick', '$R_QUICK')]" "last_run = the run id of the summary"

t "status: the last run is the newest one; a failure after a good run keeps the last good time"
run_ferry run hourly.lua
expect_rc 0
R_HOURLY2=$(run_id_of hourly)
run_ferry status --json
expect_eq "$(jpy "$out" '[r["last_run"] for r in J if r["name"] == "hourly"]')" "['$R_HOURLY2']"
expect_eq "$(jpy "$out" '[r["last_good"] is not None for r in J if r["name"] == "broken"]')" "[False]"

t "status/runs without a data directory exit 2 with a clear message (and create nothing)"
rm -rf "$WORK/data"
run_ferry status
expect_rc 2
expect_in "$err" "no data directory"
expect_in "$err" "data"
[ -e "$WORK/data" ] && fail "ferry status created the data directory"
run_ferry runs quick
expect_rc 2
expect_in "$err" "no data directory"
printf 'return { integrations = { ["*"] = { trusted = true } }, data_dir = "%s/never_made" }\n' "$WORK" >"$WORK/nodir_cfg.lua"
run_ferry status -c nodir_cfg.lua
expect_rc 2
expect_in "$err" "$WORK/never_made"

# ---------------------------------------------------------------------------
# 3. Durable checkpoints
integ cp '
  extract = function(ctx)
    local f = assert(io.open("cp_cursor.txt", "a"))
    f:write(tostring(ctx.cursor), "\n"); f:close()
    local c = ctx.cursor or 0
    for i = c + 1, c + 10 do
      ctx:emit({ id = i })
      ctx:checkpoint(i)
    end
  end,
  load = ferry.sink.sqlite { path = "cp_sink.db", table = "items", columns = { { "id", "integer", key = true } } },'

t "checkpoints: run 1 commits 10, run 2 starts at ctx.cursor = 10 and loads 11..20"
rm -rf "$WORK/data" "$WORK/cp_cursor.txt"
run_ferry run cp.lua
expect_rc 0
expect_in "$out" "checkpoint: 10"
R_CP1=$(run_id_of cp)
expect_eq "$(sql "$WORK/data/cp_sink.db" "SELECT count(*), min(id), max(id) FROM items WHERE _run_id = '$R_CP1'")" "10|1|10"
run_ferry run cp.lua
expect_rc 0
expect_in "$out" "checkpoint: 20"
R_CP2=$(run_id_of cp)
expect_eq "$(ids "$WORK/cp_cursor.txt")" "nil 10" "ctx.cursor seen by run 1 and run 2"
expect_eq "$(sql "$WORK/data/cp_sink.db" "SELECT count(*), min(id), max(id) FROM items WHERE _run_id = '$R_CP2'")" "10|11|20"
expect_eq "$(sql "$WORK/data/cp_sink.db" "SELECT count(*) FROM items")" "20"

t "checkpoints: ferry runs --json and ferry status --json show the checkpoint"
run_ferry runs cp --json
expect_rc 0
expect_eq "$(jpy "$out" '[(r["id"], r["checkpoint"]) for r in J]')" "[('$R_CP2', 20), ('$R_CP1', 10)]"
run_ferry status --json
expect_eq "$(jpy "$out" '[r["checkpoint"] for r in J if r["name"] == "cp"]')" "[20]"

t "checkpoints: a table cursor { page = 3, after = \"x\" } round-trips into ctx.cursor"
rm -rf "$WORK/data" "$WORK/tcur.txt"
integ tcur '
  expect = { min_records = 0 },        -- later runs find nothing new: normal
  extract = function(ctx)
    local f = assert(io.open("tcur.txt", "a"))
    if ctx.cursor == nil then
      f:write("nil\n")
      ctx:emit({ id = 1 })
      ctx:checkpoint({ page = 3, after = "x" })
    else
      local c = ctx.cursor
      f:write(type(c), " ", tostring(c.page), " ", math.type(c.page), " ", tostring(c.after), "\n")
    end
    f:close()
  end,
  load = function(batch) end,'
run_ferry run tcur.lua
expect_rc 0
expect_in "$out" "checkpoint: "
run_ferry runs tcur --json
expect_eq "$(jpy "$out" 'J[0]["checkpoint"] == {"page": 3, "after": "x"}')" "True" "$(jpy "$out" 'J[0]["checkpoint"]')"
run_ferry run tcur.lua
expect_rc 0
expect_eq "$(ids "$WORK/tcur.txt")" "nil table 3 integer x"

t "checkpoints: a 64-bit integer cursor (a snowflake-style id) comes back as the same integer"
rm -rf "$WORK/data" "$WORK/bigcur.txt"
integ bigcur '
  extract = function(ctx)
    local f = assert(io.open("bigcur.txt", "a"))
    f:write(tostring(ctx.cursor), " ", tostring(math.type(ctx.cursor)), "\n"); f:close()
    ctx:emit({ id = 1 })
    ctx:checkpoint(1234567890123456789)
  end,
  load = function(batch) end,'
run_ferry run bigcur.lua
expect_rc 0
expect_in "$out" "checkpoint: 1234567890123456789"
expect_eq "$(sql "$DB" "SELECT cursor FROM checkpoints WHERE integration = 'bigcur'")" "1234567890123456789"
run_ferry run bigcur.lua
expect_eq "$(ids "$WORK/bigcur.txt")" "nil nil 1234567890123456789 integer" "ctx.cursor (tostring, math.type) in runs 1 and 2"

t "checkpoints: after ctx:checkpoint(nil) the next run's ctx.cursor is nil, not a truthy JSON null"
rm -rf "$WORK/data" "$WORK/nilcur.txt"
integ nilcur '
  extract = function(ctx)
    local f = assert(io.open("nilcur.txt", "a"))
    f:write(type(ctx.cursor), "\n"); f:close()
    ctx:emit({ id = 1 })
    if ctx.cursor == nil then ctx:checkpoint(7) else ctx:checkpoint(nil) end
  end,
  load = function(batch) end,'
run_ferry run nilcur.lua     # cursor nil -> checkpoint 7
run_ferry run nilcur.lua     # cursor 7 -> checkpoint nil
nil_rc=$rc
run_ferry run nilcur.lua     # cursor must be nil again (or checkpoint(nil) must have raised above)
if [ "$nil_rc" -eq 0 ]; then
    expect_eq "$(ids "$WORK/nilcur.txt")" "nil number nil" "type(ctx.cursor) in runs 1, 2, 3"
else
    expect_eq "$(ids "$WORK/nilcur.txt" | cut -d' ' -f1-2)" "nil number"
fi

# ---------------------------------------------------------------------------
# 4. A checkpoint pending when extract fails
t "extract raising after ctx:checkpoint: the emitted records are delivered and the checkpoint is committed"
rm -rf "$WORK/data" "$WORK/pend.txt" "$WORK/pend_cursor.txt"
integ pend '
  expect = { min_records = 0 },        -- later runs find nothing new: normal
  batch_size = 100,
  extract = function(ctx)
    local f = assert(io.open("pend_cursor.txt", "a"))
    f:write(tostring(ctx.cursor), "\n"); f:close()
    if ctx.cursor then return end
    for i = 1, 5 do ctx:emit({ id = i }) end
    ctx:checkpoint(5)
    error("the source went away")
  end,
  load = function(batch)
    local f = assert(io.open("pend.txt", "a"))
    for _, r in ipairs(batch) do f:write(r.id, "\n") end
    f:close()
  end,'
run_ferry run pend.lua
expect_rc 1
expect_in "$out" "FAILED"
expect_in "$out" "loaded 5"
expect_in "$out" "checkpoint: 5"
expect_in "$out" "the source went away"
expect_eq "$(ids "$WORK/pend.txt")" "1 2 3 4 5" "records handed to load"
run_ferry runs pend --json
expect_eq "$(jpy "$out" '(J[0]["status"], J[0]["loaded"], J[0]["checkpoint"], "the source went away" in J[0]["error"])')" \
    "('failed', 5, 5, True)"
expect_eq "$(sql "$DB" "SELECT cursor FROM checkpoints WHERE integration = 'pend'")" "5"
run_ferry run pend.lua
expect_rc 0
expect_eq "$(ids "$WORK/pend_cursor.txt")" "nil 5" "ctx.cursor of the next run"
expect_eq "$(ids "$WORK/pend.txt")" "1 2 3 4 5" "nothing delivered twice"

# ---------------------------------------------------------------------------
# 5. Crash
integ crash '
  batch_size = 1,
  extract = function(ctx)
    local out = os.getenv("OUT")
    local f = assert(io.open(out .. ".cursor", "w"))
    f:write(tostring(ctx.cursor), "\n"); f:close()
    local delay = tonumber(os.getenv("DELAY") or "0")
    for i = (ctx.cursor or 0) + 1, 30 do
      ctx:emit({ id = i })
      ctx:checkpoint(i)
      if delay > 0 then ferry.sleep(delay) end
    end
  end,
  load = function(batch)
    local f = assert(io.open(os.getenv("OUT"), "a"))
    for _, r in ipairs(batch) do f:write(r.id, "\n") end
    f:close()
  end,'

t "crash: a run killed with SIGKILL shows as aborted; the next run works and resumes after the last checkpoint"
rm -rf "$WORK/data" "$WORK"/crash1.txt* "$WORK"/crash2.txt*
OUT=crash1.txt DELAY=0.2 bg_ferry "$WORK/crash1.log" run crash.lua
killed=$bg
if ! wait_until 20 at_least_lines "$WORK/crash1.txt" 4; then
    fail "the slow run delivered nothing within 20 s: $(cat "$WORK/crash1.log")"
fi
sleep 0.3
kill -9 "$killed" 2>/dev/null
wait "$killed" 2>/dev/null
krc=$?
[ "$krc" -eq 137 ] || fail "the slow run was not killed mid-way (exit $krc): $(cat "$WORK/crash1.log")"
R_KILLED=$(sed -nE 's/.*"run":"([^"]+)".*"run started".*/\1/p' "$WORK/crash1.log" | head -1)
[ -z "$R_KILLED" ] && R_KILLED=$(sql "$DB" "SELECT id FROM runs WHERE integration = 'crash' LIMIT 1")
C=$(sql "$DB" "SELECT cursor FROM checkpoints WHERE integration = 'crash'")
D1=$(nlines "$WORK/crash1.txt")
OUT=crash2.txt DELAY=0 run_ferry run crash.lua
expect_rc 0
R_NEXT=$(run_id_of crash)
run_ferry runs crash --json
expect_rc 0
J=$out
expect_eq "$(jpy "$J" '[r["id"] for r in J]')" "['$R_NEXT', '$R_KILLED']"
expect_eq "$(jpy "$J" '[r["status"] for r in J]')" "['ok', 'aborted']"
expect_eq "$(jpy "$J" '"process ended" in (J[1]["error"] or "") and J[1]["ended_at"] is not None')" "True" \
    "error of the killed run: $(jpy "$J" 'J[1]["error"]')"
run_ferry runs crash
grep -qE "^$R_KILLED +aborted .*process ended" <<<"$out" || fail "table row of the killed run: $out"
# resume: run 2 starts right after the committed checkpoint C
expect_eq "$(ids "$WORK/crash2.txt.cursor")" "$C" "ctx.cursor of the next run = checkpoint committed before the kill"
case "$C" in ''|*[!0-9]*) fail "no numeric checkpoint was committed before the kill ('$C')"; C=0;; esac
[ "$C" -ge 1 ] || fail "expected a committed checkpoint >= 1 before the kill, got $C"
expect_eq "$(jpy "$J" 'J[1]["checkpoint"]')" "$C" "the aborted run shows the checkpoint it committed"
expect_eq "$(head -1 "$WORK/crash2.txt" 2>/dev/null)" "$((C + 1))" "first record of the next run"
expect_eq "$(tail -1 "$WORK/crash2.txt" 2>/dev/null)" "30" "last record of the next run"
expect_eq "$(nlines "$WORK/crash2.txt")" "$((30 - C))" "records of the next run (none before the checkpoint)"
# the killed run delivered 1..D1 with D1 in {C, C+1}: at most the record after the checkpoint repeats
expect_eq "$(ids "$WORK/crash1.txt")" "$(seq -s ' ' 1 "$D1")" "records of the killed run"
[ "$D1" -ge "$C" ] && [ "$D1" -le $((C + 1)) ] || fail "killed run delivered $D1 records, checkpoint $C"

t "crash during load: a checkpoint taken inside load is not committed before that load finishes"
rm -rf "$WORK/data" "$WORK/inload.txt" "$WORK/inload.marker"
# load checkpoints its batch's last id, then (when SLOW is set) takes long to
# write the batch; the run is killed while it waits
integ inload '
  batch_size = 5,
  extract = function(ctx)
    for i = (ctx.cursor or 0) + 1, 10 do ctx:emit({ id = i }) end
  end,
  load = function(batch, ctx)
    ctx:checkpoint(batch[#batch].id)
    if os.getenv("SLOW") then
      local m = assert(io.open("inload.marker", "w")); m:close()
      ferry.sleep(20)
    end
    local f = assert(io.open("inload.txt", "a"))
    for _, r in ipairs(batch) do f:write(r.id, "\n") end
    f:close()
  end,'
SLOW=1 bg_ferry "$WORK/inload.log" run inload.lua
killed=$bg
wait_until 20 test -e "$WORK/inload.marker" || fail "load was not reached: $(cat "$WORK/inload.log")"
sleep 0.3
kill -9 "$killed" 2>/dev/null
wait "$killed" 2>/dev/null
expect_eq "$(nlines "$WORK/inload.txt")" "0" "records written before the kill"
expect_eq "$(sql "$DB" "SELECT count(*) FROM checkpoints WHERE integration = 'inload'")" "0" \
    "committed checkpoint while its batch was still loading: '$(sql "$DB" "SELECT cursor FROM checkpoints WHERE integration = 'inload'")'"
run_ferry run inload.lua
expect_rc 0
expect_eq "$(ids "$WORK/inload.txt")" "1 2 3 4 5 6 7 8 9 10" "records delivered across the crash (none lost)"

# ---------------------------------------------------------------------------
# 6. One writer per data directory
t "one writer per data dir: with lock_wait = 0 a second ferry run exits 2 at once naming the directory and pid; status/runs still work"
LD="$WORK/lockdata"
rm -rf "$LD" "$WORK/lockslow.txt" "$WORK/lockslow.release"
printf 'return { integrations = { ["*"] = { trusted = true } }, data_dir = "%s", lock_wait = 0 }\n' "$LD" >"$WORK/lock_cfg.lua"
# emits 1..5, then waits (at most 60 s) until lockslow.release exists, then emits 6..15
integ lockslow '
  batch_size = 1,
  extract = function(ctx)
    for i = 1, 5 do ctx:emit({ id = i }) end
    for _ = 1, 600 do
      local f = io.open("lockslow.release")
      if f then f:close(); break end
      ferry.sleep(0.1)
    end
    for i = 6, 15 do ctx:emit({ id = i }) end
  end,
  load = function(batch)
    local f = assert(io.open("lockslow.txt", "a"))
    for _, r in ipairs(batch) do f:write(r.id, "\n") end
    f:close()
  end,'
integ lockother 'extract = function(ctx) ctx:emit({ id = 1 }) end, load = function(batch) error("must not run") end,'
bg_ferry "$WORK/lockslow.log" run -c lock_cfg.lua lockslow.lua
holder=$bg
wait_until 20 at_least_lines "$WORK/lockslow.txt" 1 || fail "the slow run did not start: $(cat "$WORK/lockslow.log")"
run_ferry run -c lock_cfg.lua lockother.lua
expect_rc 2
expect_in "$err" "$LD"
expect_in "$err" "pid $holder"
expect_not_in "$out" "== lockother"
run_ferry status -c lock_cfg.lua
expect_rc 0
grep -qE '^lockslow +running ' <<<"$out" || fail "status during the run: $out"
run_ferry runs -c lock_cfg.lua lockslow --json
expect_rc 0
expect_eq "$(jpy "$out" '[r["status"] for r in J]')" "['running']"
run_ferry reset -c lock_cfg.lua lockslow --yes
expect_rc 2
expect_in "$err" "in use"
run_ferry runs -c lock_cfg.lua lockslow
expect_rc 0
grep -qE '^[^ ]+ +running ' <<<"$out" || fail "runs table during the run: $out"
touch "$WORK/lockslow.release"
wait "$holder"
hrc=$?
expect_eq "$hrc" "0" "exit status of the slow run ($(tail -3 "$WORK/lockslow.log"))"
grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$WORK/lockslow.log" &&
    fail "sanitizer report: $(grep -m1 -E 'Sanitizer|runtime error' "$WORK/lockslow.log")"
expect_eq "$(nlines "$WORK/lockslow.txt")" "15"

t "one writer per data dir: once the writer has exited, the next run takes the store"
integ lockafter 'extract = function(ctx) ctx:emit({ id = 1 }) end, load = function(batch) end,'
run_ferry run -c lock_cfg.lua lockafter.lua
expect_rc 0
run_ferry runs -c lock_cfg.lua lockslow --json
expect_eq "$(jpy "$out" '[(r["status"], r["loaded"]) for r in J]')" "[('ok', 15)]"

t "one writer per data dir: a second run waits for the first (lock_wait), says so once, then runs"
rm -f "$WORK/lockslow.txt" "$WORK/lockslow.release"
printf 'return { integrations = { ["*"] = { trusted = true } }, data_dir = "%s", lock_wait = "30s" }\n' "$LD" >"$WORK/lockw_cfg.lua"
bg_ferry "$WORK/lockslow.log" run -c lockw_cfg.lua lockslow.lua
holder=$bg
wait_until 20 at_least_lines "$WORK/lockslow.txt" 1 || fail "the slow run did not start: $(cat "$WORK/lockslow.log")"
bg_ferry "$WORK/lockafter.log" run -c lockw_cfg.lua lockafter.lua
waiter=$bg
wait_until 20 grep -q "waiting up to 30s" "$WORK/lockafter.log" || fail "the second run did not say it waits: $(cat "$WORK/lockafter.log")"
kill -0 "$waiter" 2>/dev/null || fail "the second run did not wait: $(cat "$WORK/lockafter.log")"
touch "$WORK/lockslow.release"
wait "$holder"
wait "$waiter"
wrc=$?
expect_eq "$wrc" "0" "exit status of the waiting run ($(tail -3 "$WORK/lockafter.log"))"
expect_eq "$(grep -c "waiting up to" "$WORK/lockafter.log")" "1" "said once"
expect_in "$(cat "$WORK/lockafter.log")" "== lockafter  run "
expect_in "$(cat "$WORK/lockafter.log")" "pid $holder"

t "one writer per data dir: a second run gives up after lock_wait, exit 2, saying it waited"
rm -f "$WORK/lockslow.txt" "$WORK/lockslow.release"
printf 'return { integrations = { ["*"] = { trusted = true } }, data_dir = "%s", lock_wait = "1s" }\n' "$LD" >"$WORK/lockw_cfg.lua"
bg_ferry "$WORK/lockslow.log" run -c lockw_cfg.lua lockslow.lua
holder=$bg
wait_until 20 at_least_lines "$WORK/lockslow.txt" 1 || fail "the slow run did not start: $(cat "$WORK/lockslow.log")"
run_ferry run -c lockw_cfg.lua lockother.lua
expect_rc 2
expect_in "$err" "waiting up to 1s"
expect_in "$err" "in use by another ferry process (pid $holder), still after waiting"
expect_not_in "$out" "== lockother"
touch "$WORK/lockslow.release"
wait "$holder"

t "config: lock_wait takes a duration or 0; a negative one is refused naming it"
printf 'return { lock_wait = -1 }\n' >"$WORK/lockbad_cfg.lua"
run_ferry run -c lockbad_cfg.lua lockafter.lua
expect_rc 2
expect_in "$err" "lock_wait"

t "a new store: 'ferry status' at the moment the first 'ferry run' creates it never breaks either (20 tries)"
integ first 'extract = function(ctx) ctx:emit({ id = 1 }) end, load = function(batch) end,'
printf 'return { integrations = { ["*"] = { trusted = true } }, data_dir = "%s/firstdata" }\n' "$WORK" >"$WORK/first_cfg.lua"
bad_tries=""
for i in $(seq 1 20); do
    rm -rf "$WORK/firstdata"; mkdir "$WORK/firstdata"
    # no helper in between: the reader starts first, the writer right after it
    (cd "$WORK" && exec "$FERRY" status -c first_cfg.lua) >"$WORK/first_s.out" 2>&1 &
    sp=$!
    (cd "$WORK" && exec "$FERRY" run -c first_cfg.lua first.lua) >"$WORK/first_r.out" 2>&1
    frc=$?
    wait "$sp"; src=$?
    if [ "$frc" -ne 0 ] || [ "$src" -ne 0 ]; then
        bad_tries="$bad_tries #$i(run $frc, status $src: $(grep -hm1 '^ferry:' "$WORK/first_r.out" "$WORK/first_s.out"))"
    fi
done
[ -z "$bad_tries" ] || fail "failed tries:${bad_tries:0:400}"

# ---------------------------------------------------------------------------
# 7. ferry reset
integ rs '
  extract = function(ctx)
    local f = assert(io.open("rs.txt", "a"))
    f:write(tostring(ctx.cursor), "\n"); f:close()
    ctx:emit({ id = 1 })
    ctx:checkpoint("2026-01-31")
  end,
  load = function(batch) end,'

t "reset without --yes and stdin not a terminal: exits 2 and keeps the checkpoint"
rm -rf "$WORK/data" "$WORK/rs.txt"
run_ferry run rs.lua
expect_rc 0
run_ferry reset rs </dev/null
expect_rc 2
expect_in "$err" "--yes"
expect_eq "$(sql "$DB" "SELECT cursor FROM checkpoints WHERE integration = 'rs'")" '"2026-01-31"'
run_ferry run rs.lua
expect_eq "$(ids "$WORK/rs.txt")" "nil 2026-01-31" "the next run still resumes"

t "reset --yes removes the checkpoint; the next run starts from the beginning (ctx.cursor nil)"
run_ferry reset rs --yes
expect_rc 0
expect_in "$out" "reset rs: checkpoint"
expect_in "$out" "removed"
expect_eq "$(sql "$DB" "SELECT count(*) FROM checkpoints WHERE integration = 'rs'")" "0"
run_ferry run rs.lua
expect_eq "$(ids "$WORK/rs.txt")" "nil 2026-01-31 nil"

t "a checkpoint damaged in the store fails the run clearly instead of starting over; reset recovers"
sql "$DB" "UPDATE checkpoints SET cursor = '{not json' WHERE integration = 'rs'" >/dev/null
run_ferry run rs.lua
expect_rc 1
expect_in "$out" "the stored checkpoint of rs is not valid JSON"
expect_in "$out" "ferry reset rs"
expect_eq "$(ids "$WORK/rs.txt")" "nil 2026-01-31 nil" "extract did not run"
run_ferry reset rs --yes
run_ferry run rs.lua
expect_rc 0
expect_eq "$(ids "$WORK/rs.txt")" "nil 2026-01-31 nil nil"

t "reset of an integration the store does not know exits 2 and names it"
run_ferry reset nothing_here --yes
expect_rc 2
expect_in "$err" "no integration 'nothing_here' in the store"
run_ferry reset nothing_here </dev/null
expect_rc 2

t "reset without a data directory exits 2 and creates nothing"
printf 'return { integrations = { ["*"] = { trusted = true } }, data_dir = "%s/no_such_dir" }\n' "$WORK" >"$WORK/noreset_cfg.lua"
run_ferry reset -c noreset_cfg.lua rs --yes
expect_rc 2
expect_in "$err" "no_such_dir"
[ -e "$WORK/no_such_dir" ] && fail "ferry reset created the data directory"

t "reset interactively: answering n changes nothing (exit 1), answering y removes the checkpoint"
if ! python3 -c 'import pty' 2>/dev/null; then
    skip_t "python3 pty not available"
else
    pty_ferry n reset rs
    expect_rc 1
    expect_in "$out" "[y/N]"
    expect_in "$out" "2026-01-31"
    expect_in "$out" "nothing changed"
    expect_eq "$(sql "$DB" "SELECT cursor FROM checkpoints WHERE integration = 'rs'")" '"2026-01-31"'
    pty_ferry y reset rs
    expect_rc 0
    expect_in "$out" "removed"
    expect_eq "$(sql "$DB" "SELECT count(*) FROM checkpoints WHERE integration = 'rs'")" "0"
fi

# ---------------------------------------------------------------------------
# 8. ctx.state
integ state '
  expect = { min_records = 0 },        -- later runs find nothing new: normal
  extract = function(ctx)
    local mode = os.getenv("MODE")
    local out = {}
    if mode == "set" then
      ctx.state:set("t", { a = 1, list = { 1, 2, 3 }, nested = { x = "y", ok = true } })
      ctx.state:set("s", "hello")
      ctx.state:set("n", 42)
      ctx.state:set("f", 2.5)
      ctx.state:set("big", 1234567890123)
      ctx.state:set("big64", 1234567890123456789)
      ctx.state:set("ttl_n", "short", 1)
      ctx.state:set("ttl_s", "short", "1s")
      ctx.state:set("ttl_h", "long", "1h")
      ctx.state:set("del", "x")
      ctx.state:set("nilled", "x")
      out.same_run = ctx.state:get("s")
    elseif mode == "get" then
      local t = ctx.state:get("t")
      out.t = t
      out.t_types = { math.type(t.a), math.type(t.list[2]), type(t.nested.ok) }
      out.s = ctx.state:get("s")
      out.n = ctx.state:get("n"); out.n_type = math.type(out.n)
      out.f = ctx.state:get("f"); out.f_type = math.type(out.f)
      out.big = ctx.state:get("big"); out.big_type = math.type(out.big)
      local b64 = ctx.state:get("big64")
      out.big64 = math.type(b64) == "integer" and string.format("%d", b64) or tostring(b64)
      out.big64_type = math.type(b64)
      out.missing_is_nil = ctx.state:get("never set") == nil
      ctx.state:delete("del")
      ctx.state:set("nilled", nil)
      out.del_now = ctx.state:get("del") == nil
      out.nilled_now = ctx.state:get("nilled") == nil
    elseif mode == "after" then
      out.ttl_n = ctx.state:get("ttl_n") == nil
      out.ttl_s = ctx.state:get("ttl_s") == nil
      out.ttl_h = ctx.state:get("ttl_h")
      out.del = ctx.state:get("del") == nil
      out.nilled = ctx.state:get("nilled") == nil
      out.s = ctx.state:get("s")
    elseif mode == "fn" then
      ctx.state:set("fn", function() end)
    end
    local f = assert(io.open("state_" .. mode .. ".json", "w"))
    f:write(assert(ferry.json.encode(out))); f:close()
  end,
  load = function(batch) end,'
integ stateother '
  expect = { min_records = 0 },        -- later runs find nothing new: normal
  extract = function(ctx)
    local f = assert(io.open("state_other.json", "w"))
    f:write(assert(ferry.json.encode({ s = ctx.state:get("s") == nil, t = ctx.state:get("t") == nil,
                                       n = ctx.state:get("n") == nil })))
    f:close()
    ctx.state:set("s", "other")
  end,
  load = function(batch) end,'
sj() { "$PY" -c 'import json, sys; print(eval(sys.argv[2], {"J": json.load(open(sys.argv[1]))}))' "$WORK/state_$1.json" "$2" 2>&1; }

t "ctx.state: a table, a string and numbers set in one run read back equal in the next (integers stay integers)"
rm -rf "$WORK/data" "$WORK"/state_*.json
MODE=set run_ferry run state.lua
expect_rc 0
expect_eq "$(sj set 'J["same_run"]')" "hello"
MODE=get run_ferry run state.lua
expect_rc 0
expect_eq "$(sj get 'J["t"] == {"a": 1, "list": [1, 2, 3], "nested": {"x": "y", "ok": True}}')" "True" "$(sj get 'J["t"]')"
expect_eq "$(sj get 'J["t_types"]')" "['integer', 'integer', 'boolean']"
expect_eq "$(sj get '(J["s"], J["n"], J["n_type"], J["f"], J["f_type"])')" "('hello', 42, 'integer', 2.5, 'float')"
expect_eq "$(sj get '(J["big"], J["big_type"])')" "(1234567890123, 'integer')"
expect_eq "$(sj get 'J["missing_is_nil"]')" "True"

t "ctx.state: a 64-bit integer comes back as the same integer"
expect_eq "$(sql "$DB" "SELECT value FROM state WHERE integration = 'state' AND key = 'big64'")" "1234567890123456789"
expect_eq "$(sj get '(J["big64"], J["big64_type"])')" "('1234567890123456789', 'integer')"

t "ctx.state: delete and set(key, nil) remove; ttl = 1 and \"1s\" expire after 1.5 s, \"1h\" does not"
expect_eq "$(sj get '(J["del_now"], J["nilled_now"])')" "(True, True)"
sleep 1.5
MODE=after run_ferry run state.lua
expect_rc 0
expect_eq "$(sj after '(J["ttl_n"], J["ttl_s"])')" "(True, True)" "expired values read as nil"
expect_eq "$(sj after 'J["ttl_h"]')" "long"
expect_eq "$(sj after '(J["del"], J["nilled"], J["s"])')" "(True, True, 'hello')"
expect_eq "$(sql "$DB" "SELECT count(*) FROM state WHERE integration = 'state' AND key IN ('del', 'nilled')")" "0"

t "ctx.state is per integration: another integration neither sees nor overwrites it"
run_ferry run stateother.lua
expect_rc 0
expect_eq "$(sj other '(J["s"], J["t"], J["n"])')" "(True, True, True)"
MODE=after run_ferry run state.lua
expect_eq "$(sj after 'J["s"]')" "hello"

t "ctx.state:set of a function raises a clear error in that hook (the run fails, nothing stored)"
MODE=fn run_ferry run state.lua
expect_rc 1
ln=$(lineno state 'ctx.state:set("fn"')
expect_in "$out" "FAILED"
expect_in "$out" "error: extract: state.lua:$ln: ctx.state:set: cannot encode a function as JSON"
run_ferry runs state --json
expect_eq "$(jpy "$out" 'J[0]["error"]')" "extract: state.lua:$ln: ctx.state:set: cannot encode a function as JSON"
expect_eq "$(sql "$DB" "SELECT count(*) FROM state WHERE key = 'fn'")" "0"

# ---------------------------------------------------------------------------
# 9. Schema version
t "schema: user_version is 8 and the application_id ferry's after the first run; a store from a newer ferry (99) is refused with exit 2"
rm -rf "$WORK/data" "$WORK/schema.txt"
integ schema '
  extract = function(ctx) ctx:emit({ id = 1 }) end,
  load = function(batch) local f = assert(io.open("schema.txt", "a")); f:write("loaded\n"); f:close() end,'
run_ferry run schema.lua
expect_rc 0
expect_eq "$(sql "$DB" 'PRAGMA user_version')" "8"
expect_eq "$(sql "$DB" 'PRAGMA application_id')" "1717924473" "application_id (0x66657279)"
expect_eq "$(sql "$DB" "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name" | tr '\n' ' ')" \
    "alert_sends alerts checkpoints events integrations quarantine runs schemas state written "
sql "$DB" 'PRAGMA user_version = 99' >/dev/null
run_ferry run schema.lua
expect_rc 2
expect_in "$err" "newer than this ferry understands"
expect_in "$err" "99"
expect_eq "$(nlines "$WORK/schema.txt")" "1" "the script must not run against a newer store"
expect_eq "$(sql "$DB" 'PRAGMA user_version')" "99" "the newer store is left alone"
expect_eq "$(sql "$DB" 'SELECT count(*) FROM runs')" "1"
run_ferry status
expect_rc 2
expect_in "$err" "newer than this ferry understands"

# ---------------------------------------------------------------------------
# 10. Secrets
t "secrets never reach the store: a failing run's error is stored with [REDACTED]"
rm -rf "$WORK/data"
integ secretfail '
  extract = function(ctx)
    local token = ctx:secret("STORE_TEST_TOKEN")
    ctx:emit({ id = 1 })
    error("login refused for token " .. token .. " at the API")
  end,
  load = function(batch) end,'
SECRET_VALUE="tok-9f8e7d6c5b4a-very-secret"
STORE_TEST_TOKEN=$SECRET_VALUE run_ferry run secretfail.lua
expect_rc 1
expect_in "$out" "[REDACTED]"
expect_not_in "$out$err" "$SECRET_VALUE"
expect_eq "$(sql "$DB" "SELECT error LIKE '%login refused for token [REDACTED] at the API%' FROM runs WHERE integration = 'secretfail'")" "1" \
    "stored error: $(sql "$DB" "SELECT error FROM runs WHERE integration = 'secretfail'")"
run_ferry runs secretfail --json
expect_rc 0
expect_in "$(jpy "$out" 'J[0]["error"]')" "login refused for token [REDACTED] at the API"
expect_not_in "$out" "$SECRET_VALUE"
run_ferry status --json
expect_not_in "$out" "$SECRET_VALUE"
if grep -qaF -- "$SECRET_VALUE" "$WORK/data"/ferry.db* 2>/dev/null; then
    fail "the secret value is in the store files: $(ls "$WORK/data")"
fi

done_t
