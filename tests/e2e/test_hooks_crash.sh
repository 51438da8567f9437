#!/usr/bin/env bash
# Webhooks under duress: ferry serve killed with SIGKILL again and again
# during a burst loses no acknowledged event and doubles none; scripts
# rewritten twenty times (some broken) while events flow refuse no request
# and process every event once, never by a broken version.
#
# The sender is tests/fakes/hook_sender.py (Python's standard library, not
# ferry): it retries what got no answer or no 2xx, as real senders do.
#
#   HOOKS_CRASH_N      events in the burst (default 20000)
#   HOOKS_CRASH_KILLS  SIGKILLs during it (default 4)
#   HOOKS_CRASH_SEED   seed of the kill points (default: random; printed)
. "$(dirname "$0")/lib.sh"

N=${HOOKS_CRASH_N:-20000}
KILLS=${HOOKS_CRASH_KILLS:-4}
SEED=${HOOKS_CRASH_SEED:-$RANDOM}
RANDOM=$SEED
SENDER=$ROOT/tests/fakes/hook_sender.py

# hooks_dir DIR: a config with its own data and script dirs, a hooks
# listener on a free port.
hooks_dir() {
    mkdir -p "$1/scripts" "$1/sender"
    cat >"$1/ferry.lua" <<EOF
return { data_dir = "data", script_dirs = { "scripts" }, admin = { listen = "127.0.0.1:0" },
  hooks = { listen = "127.0.0.1:0" }, shutdown_grace = "5s", log = { format = "json" }, lock_wait = 0,
  integrations = { ["*"] = { trusted = true } } }
EOF
}

# hook_script FILE VERSION: a webhook integration that upserts each event's
# id into data/dest.db (table delivered, keyed by id, with the version that
# handled it) and appends "ID VERSION" to DIR/loads for every record each
# load call gets: the table shows what arrived, the file how often.
hook_script() {
    cat >"$1.tmp" <<EOF
local sink = ferry.sink.sqlite { path = "dest.db", table = "delivered",
  columns = { { "id", "integer", key = true }, { "event", "integer" }, { "version", "text" } } }
return ferry.integration {
  name = "hooked", owner = "qa@example.com", purpose = "test", pattern = "workflow",
  source_of_truth = "the sender", freshness = "1h", batch_size = 200,
  trigger = { webhook = { path = "hooked", signature = "none" } },
  transform = function(ev) return { id = ev.json.id, event = ev.id, version = "$2" } end,
  load = function(batch, ctx)
    local out = {}
    for i, r in ipairs(batch) do out[i] = r.id .. " $2\n" end
    local f = io.open(ferry.script_dir .. "/../loads", "a")
    f:write(table.concat(out))
    f:close()
    return sink(batch, ctx)
  end,
}
EOF
    mv "$1.tmp" "$1"        # as editors save: the whole file at once
}
# hashes FILE...: their hashes as a list for SQL: 'H1','H2'
hashes() { python3 -c 'import sys
def h(p):
    v = 1469598103934665603
    for c in open(p, "rb").read(): v = ((v ^ c) * 1099511628211) % 2**64
    return "%016x" % v
print(",".join("\x27%s\x27" % h(p) for p in sys.argv[1:]))' "$@"; }

db() { sql "$D/data/ferry.db" "$1"; }
pending() { db "SELECT count(*) FROM events WHERE status = 'pending'"; }

# check_delivery DIR MAX_REPEATS: what arrived against what the sender was
# told. Prints "ok STATS" or the first problem.
check_delivery() {
    python3 - "$1" "$2" <<'PY'
import collections, json, sqlite3, sys
d, max_repeats = sys.argv[1], int(sys.argv[2])
acked = {}
for line in open(d + "/sender/acked"):
    i, status, dup, tries = line.split()
    acked[int(i)] = (int(status), dup == "duplicate", int(tries))
dest = sqlite3.connect(d + "/data/dest.db")
rows = collections.Counter(r[0] for r in dest.execute("SELECT id FROM delivered"))
store = sqlite3.connect(d + "/data/ferry.db")
inbox = collections.Counter(r[0] for r in store.execute(
    "SELECT delivery_id FROM events WHERE integration = 'hooked'"))
loads = collections.Counter()
for line in open(d + "/loads"):
    loads[int(line.split()[0])] += 1
def problem(msg):
    print(msg)
    sys.exit(0)
missing = sorted(set(acked) - set(rows))
if missing:
    problem(f"{len(missing)} acknowledged ids are not in the destination, e.g. {missing[:5]}")
extra = sorted(set(rows) - set(acked))
if extra:
    problem(f"{len(extra)} ids in the destination were never acknowledged, e.g. {extra[:5]}")
twice = [i for i, n in rows.items() if n != 1]
if twice:
    problem(f"ids in the destination more than once: {twice[:5]}")
doubled = [i for i, n in inbox.items() if n != 1]
if doubled:
    problem(f"delivery ids stored in the inbox more than once: {doubled[:5]}")
if set(inbox) != {str(i) for i in acked}:
    problem(f"the inbox holds {len(inbox)} deliveries, the sender got {len(acked)} acknowledged")
never = sorted(set(acked) - set(loads))
if never:
    problem(f"acknowledged ids never handed to load: {never[:5]}")
repeats = sum(n - 1 for n in loads.values())
if repeats > max_repeats:
    problem(f"{repeats} records were loaded again (at most {max_repeats} expected): "
            f"e.g. {[i for i, n in loads.items() if n > 1][:5]}")
retried = sum(1 for s, dup, tries in acked.values() if tries > 1)
dups = sum(1 for s, dup, tries in acked.values() if dup)
print(f"ok {len(acked)} acknowledged, each in the destination once; {retried} sent more than once, "
      f"{dups} of them had been stored already (answered as duplicates); {repeats} records loaded again after a kill")
PY
}

# ---------------------------------------------------------------------------
t "kill -9 during a burst of $N webhooks, $KILLS times: every acknowledged event is in the destination once, none twice"
echo "# seed $SEED (HOOKS_CRASH_SEED=$SEED reproduces the kill points)"
D=$WORK/burst; hooks_dir "$D"
hook_script "$D/scripts/hooked.lua" v1
start_serve "$D" ferry.lua
t0=$(date +%s)
python3 "$SENDER" --serve-json "$D/data/serve.json" --path hooked --count "$N" --threads 16 \
    --out "$D/sender" --deadline 240 2>"$D/sender.err" &
sender=$!
_bg_pids+=("$sender")
# the kill points: KILLS distinct progress marks between 10% and 85% of N
marks=$(for _ in $(seq 1 "$KILLS"); do echo $(( N / 10 + (RANDOM * 32768 + RANDOM) % (N * 3 / 4) )); done | sort -n)
for m in $marks; do
    wait_until 120 'test "$(cat "$D/sender/progress" 2>/dev/null || echo 0)" -ge "$m"' || break
    sleep "0.$((RANDOM % 300))"          # somewhere in the next group commits and runs
    stop_serve KILL
    [ "$rc" -eq 137 ] || fail "ferry serve was not killed (exit $rc)"
    echo "# killed at $(cat "$D/sender/progress") acknowledged"
    sleep "0.$((RANDOM % 200))"          # down for a while: the sender's requests are refused
    start_serve "$D" ferry.lua || break
done
wait "$sender"
src=$?
expect_eq "$src" 0 "the sender finished ($(tail -2 "$D/sender.err"))"
expect_eq "$(wc -l <"$D/sender/acked")" "$N" "ids acknowledged"
wait_until 60 'test "$(pending)" = 0'
stop_serve
expect_rc 0
echo "# the burst took $(( $(date +%s) - t0 )) s; sender saw $(cat "$D/sender/statuses")"
res=$(check_delivery "$D" $(( KILLS * 200 )))
echo "# $res"
expect_in "$res" "ok "
expect_eq "$(db "SELECT count(*) FROM events WHERE status != 'done'")" "0" "events not done"
expect_eq "$(db "SELECT count(*) FROM quarantine")" "0" "quarantined records"
expect_eq "$(db "SELECT count(*) FROM runs WHERE status = 'running'")" "0" "runs left running"
grep -q '"5' "$D/sender/statuses" && fail "a request was answered 5xx: $(cat "$D/sender/statuses")"
grep -q '"4' "$D/sender/statuses" && fail "a request was answered 4xx: $(cat "$D/sender/statuses")"

# ---------------------------------------------------------------------------
t "reload under load: twenty rewrites, some broken, while events flow: no 5xx, each event once, no broken version runs"
D=$WORK/reload; hooks_dir "$D"
t0=$(date +%s)
hook_script "$D/scripts/hooked.lua" v0
mkdir "$D/versions"; cp "$D/scripts/hooked.lua" "$D/versions/00.good"
start_serve "$D" ferry.lua
python3 "$SENDER" --serve-json "$D/data/serve.json" --path hooked --forever --stop-file "$D/stop" \
    --threads 8 --pause 0.01 --out "$D/sender" --deadline 120 2>"$D/sender.err" &
sender=$!
_bg_pids+=("$sender")
wait_until 10 'test -s "$D/sender/progress"'
# Each version is staged outside script_dirs and kept in versions/NN.good or
# NN.bad (their hashes are taken at the end), then moved in whole.
f=$D/scripts/hooked.lua s=$D/stage.lua
for i in $(seq 1 20); do
    case $((i % 7)) in
    2)  printf 'return ferry.integration {\n  name = "hooked",\n  transform = function(ev) return ev end +\n}\n' >"$s" ;;
    4)  hook_script "$s" "v$i"; sed -i 's/owner = "qa@example.com"/owner = 42/' "$s" ;;
    6)  hook_script "$s" "v$i"; sed -i '1i error("refuses to load")' "$s" ;;
    *)  hook_script "$s" "v$i" ;;
    esac
    case $((i % 7)) in 2|4|6) cp "$s" "$D/versions/$i.bad" ;; *) cp "$s" "$D/versions/$i.good" ;; esac
    mv "$s" "$f"
    sleep 0.45
done
hook_script "$f" final                   # v20 was broken: end on a valid version
cp "$f" "$D/versions/21.good"
last=$(hashes "$f" | tr -d "'")
wait_until 15 'test "$(db "SELECT count(*) FROM runs WHERE script_version = '\''$last'\''")" -gt 0'
touch "$D/stop"
wait "$sender"
expect_eq "$?" 0 "the sender finished ($(tail -2 "$D/sender.err"))"
wait_until 30 'test "$(pending)" = 0'
stop_serve
expect_rc 0
echo "# reload case: $(( $(date +%s) - t0 )) s; sender saw $(cat "$D/sender/statuses"); $(wc -l <"$D/sender/acked") events"
expect_eq "$(python3 -c 'import json, sys; print(sorted(json.load(open(sys.argv[1]))))' "$D/sender/statuses")" \
    "['202']" "every request answered 202 at the first try"
res=$(check_delivery "$D" 0)
echo "# $res"
expect_in "$res" "ok "
expect_eq "$(db "SELECT count(*) FROM events WHERE status != 'done'")" "0" "events not done"
expect_eq "$(db "SELECT count(*) FROM quarantine")" "0" "quarantined records"
expect_eq "$(db "SELECT count(*) FROM runs WHERE status != 'ok'")" "0" "runs that did not end ok"
goodl=$(hashes "$D"/versions/*.good) badl=$(hashes "$D"/versions/*.bad)
expect_eq "$(db "SELECT count(*) FROM runs WHERE script_version NOT IN ($goodl)")" "0" "runs of a version that was never valid"
expect_eq "$(db "SELECT count(*) FROM runs WHERE script_version IN ($badl)")" "0" "runs of a broken version"
[ "$(db "SELECT count(DISTINCT script_version) FROM runs")" -ge 5 ] ||
    fail "only $(db "SELECT count(DISTINCT script_version) FROM runs") versions ran: the reloads did not take"
expect_eq "$(grep -vcE ' (v0|v1|v3|v5|v7|v8|v10|v12|v14|v15|v17|v19|final)$' "$D/loads")" "0" \
    "records loaded by a version that was not valid"
expect_in "$(cat "$D/serve.log")" "reload failed: the previous version keeps running"
done_t
