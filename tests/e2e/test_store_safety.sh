#!/usr/bin/env bash
# End-to-end: the store is never silently replaced or misread. A 0-byte,
# garbage, truncated or foreign ferry.db is refused by every command with
# the way to recover, and left as it was; the data directory is created
# 0700 and the store 0600; `ferry backup` copies the store while another
# ferry runs, and a backup restores.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

DATA="$WORK/data"
DB="$DATA/ferry.db"

# integ NAME EXTRACT_BODY: an integration whose load appends to $WORK/NAME.rows
integ() {
    script "$1" "return ferry.integration {
  name = \"$1\", owner = \"qa@example.com\", purpose = \"test\", pattern = \"reporting\",
  source_of_truth = \"fixture\", freshness = \"1h\", batch_size = 2,
  extract = function(ctx) $2 end,
  load = function(batch)
    local f = assert(io.open(\"$WORK/$1.rows\", \"a\"))
    for _, r in ipairs(batch) do f:write(r.id, '\n') end
    f:close()
  end,
}"
}
integ quick 'ctx:emit({ id = 1 }); ctx:emit({ id = 2 }); ctx:checkpoint({ at = 2 })'
# 40 records, 0.05 s apart, a checkpoint after each: about 2 s of writes
integ slow 'local from = ctx.cursor and ctx.cursor.at or 0
    for i = from + 1, from + 40 do ctx:emit({ id = i }); ctx:checkpoint({ at = i }); ferry.sleep(0.05) end'
mode_of() { stat -c '%a' "$1" 2>/dev/null; }
sum_of() { sha256sum "$1" | cut -d' ' -f1; }

t "store modes: a new data directory is 0700, ferry.db and its -wal and -shm 0600"
rm -rf "$DATA"
(cd "$WORK" && exec "$FERRY" run slow.lua) >"$WORK/bg.out" 2>&1 &
bg=$!
for _ in $(seq 1 100); do [ -e "$DB-wal" ] && [ -e "$DB-shm" ] && break; sleep 0.05; done
expect_eq "$(mode_of "$DATA")" "700" "data directory"
expect_eq "$(mode_of "$DB")" "600" "ferry.db"
expect_eq "$(mode_of "$DB-wal")" "600" "ferry.db-wal"
expect_eq "$(mode_of "$DB-shm")" "600" "ferry.db-shm"
expect_eq "$(mode_of "$DATA/ferry.lock")" "600" "ferry.lock"
wait "$bg"
expect_eq "$?" "0" "the run's exit status"
ls -a "$DATA" | grep -q 'ferry.db.new' && fail "a temporary store was left: $(ls -a "$DATA")"

t "store modes: an existing data directory keeps its mode, with a warning"
rm -rf "$DATA" "$WORK"/*.rows; mkdir -m 0755 "$DATA"
run_ferry run quick.lua
expect_rc 0
expect_eq "$(mode_of "$DATA")" "755" "data directory"
expect_eq "$(mode_of "$DB")" "600" "ferry.db"
expect_in "$err" "is open to other users (mode 0755)"

# A good store to damage: two runs of quick.
rm -rf "$DATA"; run_ferry run quick.lua; run_ferry run quick.lua
cp "$DB" "$WORK/good.db"; rm -f "$WORK"/*.rows
# damage_page DB N: overwrites most of page N (4096 bytes a page) of DB, in place
damage_page() {
    python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek((int(sys.argv[2]) - 1) * 4096 + 8); f.write(bytes([0xA5]) * 200)' "$1" "$2"
}
ROOTPAGE_RUNS=$(sql "$WORK/good.db" "SELECT rootpage FROM sqlite_master WHERE name = 'runs'")
other="$WORK/other.db"; sqlite3 "$other" "CREATE TABLE notes (t TEXT); INSERT INTO notes VALUES ('mine')"

for kind in zero garbage truncated damaged foreign; do
    rm -rf "$DATA"; mkdir -m 0700 "$DATA"
    case $kind in
        zero) : >"$DB" ;;
        garbage) head -c 20000 /dev/urandom >"$DB" ;;
        truncated) head -c 8192 "$WORK/good.db" >"$DB" ;;
        damaged) cp "$WORK/good.db" "$DB"; damage_page "$DB" "$ROOTPAGE_RUNS" ;;
        foreign) cp "$other" "$DB" ;;
    esac
    before=$(sum_of "$DB")
    for cmd in "run quick.lua" "status" "status --json" "runs quick" "runs quick --json" "quarantine list" \
               "quarantine show 1" "quarantine discard 1 --reason x" "reset quick --yes" "backup $WORK/b.db"; do
        t "store: a $kind ferry.db is refused by 'ferry $cmd' and left as it was"
        # shellcheck disable=SC2086
        run_ferry $cmd
        expect_rc 2
        expect_in "$err" "ferry will not use or change it"
        expect_in "$err" "restore a backup"
        expect_not_in "$out" "no integrations have run"
        expect_not_in "$out" "[]"
        expect_eq "$(sum_of "$DB")" "$before" "ferry.db's checksum"
        [ -e "$DB-wal" ] && [ -s "$DB-wal" ] && fail "a -wal with content appeared"
        [ -e "$WORK/b.db" ] && fail "a backup was written"
        [ -e "$WORK/quick.rows" ] && fail "the integration ran"
    done
done
t "store: the messages say what is wrong"
rm -rf "$DATA"; mkdir "$DATA"; : >"$DB"; run_ferry status; expect_in "$err" "is empty (0 bytes)"
head -c 20000 /dev/urandom >"$DB"; run_ferry status; expect_in "$err" "is not an SQLite database"
head -c 8192 "$WORK/good.db" >"$DB"; run_ferry status; expect_in "$err" "is truncated (8192 bytes"
cp "$WORK/good.db" "$DB"; damage_page "$DB" "$ROOTPAGE_RUNS"; run_ferry status; expect_in "$err" "is damaged (quick_check: "
cp "$other" "$DB"; run_ferry status; expect_in "$err" "is not a ferry store"

t "backup: copies the store while another ferry runs a slow script, and that run finishes OK"
rm -rf "$DATA" "$WORK"/*.rows "$WORK"/b*.db
run_ferry run quick.lua
(cd "$WORK" && exec "$FERRY" run slow.lua) >"$WORK/bg.out" 2>&1 &
bg=$!
for _ in $(seq 1 100); do
    [ "$(sql "$DB" "SELECT count(*) FROM runs WHERE status = 'running'")" = 1 ] && break; sleep 0.05
done
sleep 0.3
run_ferry backup "$WORK/b1.db"
expect_rc 0
expect_in "$out" "to $WORK/b1.db: "
expect_in "$out" "2 integrations"
expect_in "$out" "quick_check ok"
expect_eq "$(mode_of "$WORK/b1.db")" "600" "the backup's mode"
expect_eq "$(sql "$WORK/b1.db" "PRAGMA integrity_check")" "ok" "the backup's integrity_check"
expect_eq "$(sql "$WORK/b1.db" "SELECT group_concat(status) FROM (SELECT status FROM runs ORDER BY integration)")" \
    "ok,running" "runs in the backup"
[ -e "$WORK/b1.db-wal" ] && fail "the backup has a -wal"
ls -a "$WORK" | grep -q '\.b1\.db\.tmp' && fail "a temporary file was left"
wait "$bg"
expect_eq "$?" "0" "the slow run's exit status (it ran on while the backup was taken)"
expect_eq "$(wc -l <"$WORK/slow.rows" | tr -d ' ')" "40" "rows the slow run loaded"

t "backup: an existing file is kept without --force, replaced with it"
echo keep >"$WORK/b2.db"
run_ferry backup "$WORK/b2.db"
expect_rc 1
expect_in "$err" "exists"
expect_eq "$(cat "$WORK/b2.db")" "keep" "the existing file"
run_ferry backup --force "$WORK/b2.db"
expect_rc 0
expect_eq "$(sql "$WORK/b2.db" "SELECT count(*) FROM runs")" "2" "runs in the backup"

t "backup: the store itself is never a backup's target, even with --force"
before=$(sum_of "$DB")
run_ferry backup --force "$DB"
expect_rc 1
expect_in "$err" "is the store itself"
expect_eq "$(sum_of "$DB")" "$before" "ferry.db's checksum"
run_ferry backup --force "data/../data/ferry.db"
expect_rc 1
expect_in "$err" "is the store itself"

t "backup: restoring it (stop, copy over ferry.db, remove -wal and -shm) brings back history and checkpoints"
run_ferry run slow.lua                        # moves the checkpoint on to 80, a third run
expect_rc 0
expect_eq "$(sql "$DB" "SELECT cursor FROM checkpoints WHERE integration = 'slow'")" '{"at":80}' "checkpoint before the restore"
cp "$WORK/b2.db" "$DB"; rm -f "$DB-wal" "$DB-shm"
run_ferry runs slow --json
expect_rc 0
expect_eq "$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])))' "$out")" "1" "runs of slow after the restore"
rm -f "$WORK/slow.rows"
run_ferry run slow.lua
expect_rc 0
expect_eq "$(head -1 "$WORK/slow.rows")" "41" "the first record of the run after the restore (resumed from the backup's checkpoint)"
run_ferry status
expect_rc 0
expect_in "$out" "slow"

t "checkpoint: one taken after a record rejected at extract, with the last batch still loading, is committed"
rm -rf "$DATA"
script tail_reject 'return ferry.integration {
  name = "tail_reject", owner = "qa@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "fixture", freshness = "1h", batch_size = 2,
  extract = function(ctx)
    ctx:emit({ id = 1 }); ctx:emit({ id = 2 })
    ctx:reject({ line = 3 }, "validation", "bad line")
    ctx:checkpoint(3)
  end,
  load = ferry.sink.sqlite { path = "tail.db", table = "t", columns = { { "id", "integer", key = true } } },
}'
run_ferry run tail_reject.lua
expect_rc 3
expect_eq "$(sql "$DB" "SELECT cursor FROM checkpoints WHERE integration = 'tail_reject'")" "3" "the committed checkpoint"
expect_in "$out" "checkpoint: 3"
done_t
