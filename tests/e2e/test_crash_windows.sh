#!/usr/bin/env bash
# End-to-end: crash safety at the points where it is easiest to get wrong,
# each reached on purpose rather than by a random kill (test_crash.sh rarely
# lands in them). The integration's extract writes a marker file at a
# chosen point and sleeps; the test waits for the marker, kills ferry with
# SIGKILL and reads what the store (ferry.db) and the destination hold:
#
#   - records emitted but still waiting in the batch (fewer than batch_size)
#   - a batch in flight on the SQLite writer thread (the destination is
#     locked by another process, so the write waits)
#   - quarantine rows not yet in the store (at extract; at transform, with
#     the batch in flight)
#
# After every kill: a committed checkpoint has every record emitted before
# it in the destination or the quarantine. Then ferry runs again and must
# deliver every record: each good one in the table, each bad one in the
# quarantine once.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

bg="" locker=""
trap 'for p in $bg $locker; do kill -9 "$p" 2>/dev/null; done; rm -rf "$WORK"' EXIT

N=5
DB="$WORK/data/ferry.db"
DEST="$WORK/data/dest.db"

# The plan of a run is read from $WORK/plan.lua: n (records, default $N),
# hold_at (after handling record i, write the marker and sleep),
# hold_in_load (the same in load, for the batch starting with record i),
# mark_end (write the marker when extract ends, and do not sleep),
# checkpoints (after record i), bad_extract and bad_transform (record ids
# rejected there).
script win "local function plan()
  local f = io.open('plan.lua')
  if not f then return {} end
  local p = load(f:read('a'))()
  f:close()
  return p
end
local function set(list) local s = {} for _, v in ipairs(list or {}) do s[v] = true end return s end
local P = plan()
local sink = ferry.sink.sqlite { path = 'dest.db', table = 'items', columns = { { 'id', 'integer', key = true } } }
local function mark(what) local m = assert(io.open('marker', 'w')); m:write(tostring(what)); m:close() end
local function hold(what) mark(what); ferry.sleep(300) end
local CP, BADX, BADT = set(P.checkpoints), set(P.bad_extract), set(P.bad_transform)
return ferry.integration {
  name = 'win', owner = 'qa@example.com', purpose = 'crash windows', pattern = 'reporting',
  source_of_truth = 'fixture', freshness = '1h', batch_size = 3,
  extract = function(ctx)
    local n = P.n or $N
    for i = (ctx.cursor or 0) + 1, n do
      if BADX[i] then ctx:reject({ id = i, bad = 'extract' }, 'validation', 'bad at extract')
      else ctx:emit({ id = i }) end
      if CP[i] then ctx:checkpoint(i) end
      if i == P.hold_at then hold(i) end
    end
    ctx:checkpoint(n)
    if P.mark_end then mark('end') end
  end,
  transform = function(r)
    if BADT[r.id] then return nil, 'bad at transform' end
    return r
  end,
  load = function(batch, ctx)
    if batch[1].id == P.hold_in_load then hold('load') end
    return sink(batch, ctx)
  end,
}"

rsql() { [ -e "$1" ] && sqlite3 -readonly -batch "$1" "$2" 2>/dev/null; }
cp_now() { rsql "$DB" "SELECT cursor FROM checkpoints WHERE integration = 'win'" | grep -E '^[0-9]+$'; }
rows() { rsql "$DEST" "SELECT group_concat(id, ',') FROM (SELECT id FROM items ORDER BY id)"; }
quarantined() {
    rsql "$DB" "SELECT group_concat(i, ',') FROM (SELECT json_extract(record, '\$.id') AS i
                FROM quarantine WHERE integration = 'win' ORDER BY i)"
}
# what the store and the destination hold, for messages
state() { echo "checkpoint '$(cp_now)', table '$(rows)', quarantine '$(quarantined)'"; }

# Every record up to the committed checkpoint is in the table or the quarantine.
expect_consistent() {
    local c i
    c=$(cp_now)
    [ -n "$c" ] || return 0
    for i in $(seq 1 "$c"); do
        grep -qE "(^|,)$i(,|$)" <<<"$(rows),$(quarantined)" ||
            fail "$1: checkpoint $c is committed but record $i is neither in the table nor in the quarantine ($(state))"
    done
}

# kill_at PLAN [SECONDS]: runs ferry with PLAN until extract writes the
# marker, then (SECONDS later) SIGKILLs it.
kill_at() {
    printf 'return { %s }\n' "$1" >"$WORK/plan.lua"
    rm -f "$WORK/marker"
    (cd "$WORK" && exec "$FERRY" run win.lua) >"$WORK/killed.log" 2>&1 &
    bg=$!
    local i
    for i in $(seq 1 600); do
        [ -s "$WORK/marker" ] && break
        kill -0 "$bg" 2>/dev/null || break
        sleep 0.1
    done
    if [ ! -s "$WORK/marker" ]; then
        fail "ferry never reached the marker: $(tail -c 400 "$WORK/killed.log")"
        kill -9 "$bg" 2>/dev/null
    fi
    [ -n "${2:-}" ] && sleep "$2"
    kill -9 "$bg" 2>/dev/null
    wait "$bg" 2>/dev/null
    bg=""
}

# finish_run PLAN GOOD BAD [CHECKPOINT]: runs ferry to its end with PLAN;
# then the table holds exactly GOOD, the quarantine exactly BAD (each once)
# and the checkpoint is CHECKPOINT (default $N).
finish_run() {
    printf 'return { %s }\n' "$1" >"$WORK/plan.lua"
    run_ferry run win.lua
    [ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] || fail "the run after the kill exited $rc: ${err:0:300}"
    expect_eq "$(rows)" "$2" "the table after the run that resumed ($(state))"
    expect_eq "$(quarantined)" "$3" "the quarantine after the run that resumed ($(state))"
    expect_eq "$(cp_now)" "${4:-$N}" "the checkpoint after the run that resumed ($(state))"
}

# lock_dest: another process creates the destination table and holds
# SQLite's write lock on it until release_dest, so the writer thread's
# transaction waits (up to its 5 s busy timeout).
lock_dest() {
    mkdir -p "$WORK/data"
    rm -f "$WORK/locked" "$WORK/release"
    python3 - "$DEST" "$WORK/locked" "$WORK/release" <<'PY' &
import os, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("CREATE TABLE IF NOT EXISTS items (id INTEGER NOT NULL, _synced_at TEXT NOT NULL, "
           "_run_id TEXT NOT NULL, PRIMARY KEY (id)) STRICT")
db.execute("BEGIN EXCLUSIVE")
open(sys.argv[2], "w").close()
deadline = time.time() + 120
while not os.path.exists(sys.argv[3]) and time.time() < deadline:
    time.sleep(0.05)
db.execute("ROLLBACK")
PY
    locker=$!
    local i
    for i in $(seq 1 200); do [ -e "$WORK/locked" ] && return 0; sleep 0.05; done
    fail "the locking process did not start"
}
release_dest() { touch "$WORK/release"; wait "$locker" 2>/dev/null; locker=""; }

# ---------------------------------------------------------------------------
t "crash window: killed with 2 records waiting in the batch (batch_size 3) after a checkpoint: the checkpoint is not committed"
rm -rf "$WORK/data"
kill_at "checkpoints = { 2 }, hold_at = 2"
expect_eq "$(cp_now)" "" "checkpoint after the kill ($(state))"
expect_consistent "records waiting in the batch"
finish_run "checkpoints = { 2 }" "1,2,3,4,5" ""

t "crash window: killed with a batch in flight on the writer (destination locked) after its checkpoint: the checkpoint is not committed"
rm -rf "$WORK/data"
lock_dest
kill_at "checkpoints = { 3 }, hold_at = 3"
c=$(cp_now)
# the writer gives up after its 5 s busy timeout: then the batch is
# quarantined (transient) and the checkpoint may follow it
if [ -n "$c" ] && [ "$(quarantined)" != "1,2,3" ]; then
    fail "checkpoint $c committed while its batch was still being written ($(state))"
fi
expect_consistent "a batch in flight"
release_dest
if [ -z "$c" ]; then finish_run "checkpoints = { 3 }" "1,2,3,4,5" ""; fi

t "crash window: killed with a batch in flight and one more record waiting, after a checkpoint: nothing is committed"
rm -rf "$WORK/data"
lock_dest
kill_at "checkpoints = { 4 }, hold_at = 4"
c=$(cp_now)
if [ -n "$c" ] && [ "$(quarantined)" != "1,2,3" ]; then
    fail "checkpoint $c committed while its records were still being loaded ($(state))"
fi
expect_consistent "a batch in flight and a record waiting"
release_dest
if [ -z "$c" ]; then finish_run "checkpoints = { 4 }" "1,2,3,4,5" ""; fi

t "crash window: killed with a quarantine row of extract not yet stored: no checkpoint, and the next run quarantines it once"
rm -rf "$WORK/data"
kill_at "bad_extract = { 1 }, hold_at = 2"
expect_eq "$(cp_now)" "" "checkpoint after the kill ($(state))"
expect_consistent "a quarantine row waiting"
finish_run "bad_extract = { 1 }" "2,3,4,5" "1"

t "crash window: killed after a checkpoint behind a record rejected at extract: the row is stored with the checkpoint"
rm -rf "$WORK/data"
kill_at "bad_extract = { 1 }, checkpoints = { 1 }, hold_at = 1"
expect_eq "$(cp_now)" "1" "checkpoint after the kill ($(state))"
expect_eq "$(quarantined)" "1" "the quarantine after the kill ($(state))"
expect_consistent "a checkpoint behind a quarantined record"
finish_run "bad_extract = { 1 }" "2,3,4,5" "1"

t "crash window: killed with a transform's quarantine row waiting on a batch in flight: the checkpoint after them is not committed"
rm -rf "$WORK/data"
lock_dest
kill_at "bad_transform = { 2 }, checkpoints = { 3 }, hold_at = 3"
c=$(cp_now)
if [ -n "$c" ] && [ "$(quarantined)" != "1,2,3" ]; then
    fail "checkpoint $c committed while its batch was still being written ($(state))"
fi
expect_consistent "a transform's quarantine row and a batch in flight"
release_dest
if [ -z "$c" ]; then finish_run "bad_transform = { 2 }" "1,3,4,5" "2"; fi

t "crash window: killed after a batch that failed whole at transform, with the batch before it in flight: no checkpoint past the batch in flight"
# 1..3 waits on the locked destination; 4..6 all fail at transform (nothing
# to load) and checkpoint 5 was taken among them: it must wait for 1..3
# (loaded, or quarantined as transient once the lock outlasts the timeout)
rm -rf "$WORK/data"
lock_dest
kill_at "n = 6, bad_transform = { 4, 5, 6 }, checkpoints = { 5 }, hold_at = 6"
c=$(cp_now)
expect_consistent "a batch in flight and a whole batch quarantined at transform"
release_dest
if [ -z "$c" ]; then finish_run "n = 6, bad_transform = { 4, 5, 6 }" "1,2,3" "4,5,6" 6; fi

t "crash window: killed while the next batch loads, with a checkpoint taken inside it: not committed when the batch before it settles"
# batch 1..3 is written; 4 is checkpointed while it waits in the next batch;
# when 1..3 settles (before 4..6 loads), checkpoint 4 must wait for 4..6
rm -rf "$WORK/data"
kill_at "n = 6, checkpoints = { 4 }, hold_in_load = 4"
expect_eq "$(cp_now)" "" "checkpoint after the kill ($(state))"
expect_consistent "a checkpoint inside the batch being loaded"
finish_run "n = 6, checkpoints = { 4 }" "1,2,3,4,5,6" "" 6

t "crash window: extract ends with its last batch in flight: its checkpoint waits for the batch"
rm -rf "$WORK/data"
lock_dest
kill_at "n = 3, mark_end = true" 1
c=$(cp_now)
if [ -n "$c" ] && [ "$(quarantined)" != "1,2,3" ]; then
    fail "checkpoint $c committed while its batch was still being written ($(state))"
fi
expect_consistent "the last batch in flight"
release_dest
if [ -z "$c" ]; then finish_run "n = 3" "1,2,3" "" 3; fi

t "crash window: a quarantine row stored by a run that was killed is not counted as another attempt when read again"
# batch 1..3 settles (record 1 quarantined at transform, stored without a
# checkpoint) before 7..9 loads (two batches go ahead of the writer), then
# the run is killed while 7..9 loads; the next run reads record 1 again
rm -rf "$WORK/data"
kill_at "n = 9, bad_transform = { 1 }, hold_in_load = 7"
expect_eq "$(rsql "$DB" "SELECT attempts FROM quarantine WHERE integration = 'win'")" "1" "attempts after the kill ($(state))"
finish_run "n = 9, bad_transform = { 1 }" "2,3,4,5,6,7,8,9" "1" 9
expect_eq "$(rsql "$DB" "SELECT attempts FROM quarantine WHERE integration = 'win'")" "1" \
    "attempts after the run that read it again (the killed run counts as aborted)"

t "a checkpoint behind a record rejected at extract after the last batch is committed at the end of the run"
rm -rf "$WORK/data"
finish_run "n = 4, bad_extract = { 4 }" "1,2,3" "4" 4
done_t
