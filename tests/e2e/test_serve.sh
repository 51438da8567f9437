#!/usr/bin/env bash
# ferry serve end to end: schedules run the expected number of times, an
# overlapping slot is recorded as skipped, a missed slot is caught up once
# after a restart, scripts hot-reload (and a broken version never runs),
# SIGTERM stops at a checkpoint and loses nothing.
. "$(dirname "$0")/lib.sh"

# serve_dir DIR [EXTRA CONFIG]: a config with its own data and script dirs.
serve_dir() {
    mkdir -p "$1/scripts"
    cat >"$1/ferry.lua" <<EOF
return { data_dir = "data", script_dirs = { "scripts" }, admin = { listen = "127.0.0.1:0" },
  shutdown_grace = "5s", log = { format = "json" }, lock_wait = 0,
  integrations = { ["*"] = { trusted = true } }, ${2:-} }
EOF
}

# integ FILE NAME SCHEDULE EXTRACT [MORE FIELDS]: writes a script whose load
# appends each record's id to DIR/NAME.loaded.
integ() {
    cat >"$1" <<EOF
return ferry.integration {
  name = "$2", owner = "qa@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "fixture", freshness = "1h", schedule = $3, batch_size = 1,
  ${5:-}
  extract = function(ctx) $4 end,
  load = function(batch)
    local f = io.open(ferry.script_dir .. "/../$2.loaded", "a")
    for _, r in ipairs(batch) do f:write(tostring(r.id), "\n") end
    f:close()
  end,
}
EOF
}

runs() { sql "$1/data/ferry.db" "$2"; }
S=$WORK

# ---------------------------------------------------------------------------
t "three integrations on short schedules: every 1s runs about once a second, every 2s half as often, manual never"
D=$S/three; serve_dir "$D"
integ "$D/scripts/fast.lua" fast '"every 1s"' 'ctx:emit { id = 1 }'
integ "$D/scripts/half.lua" half '"every 2s"' 'ctx:emit { id = 1 }'
integ "$D/scripts/never.lua" never '"manual"' 'ctx:emit { id = 1 }'
start_serve "$D" ferry.lua
sleep 4.5
stop_serve
expect_rc 0
# each ran once at start and then once per interval: the gaps between
# starts are the interval (slots are fixed; a run may start a little late on
# a busy machine), and there are as many runs as intervals fit in the time served
for name in fast:1 half:2; do
    python3 - "$D/data/ferry.db" "${name%:*}" "${name#*:}" "$D/serve.log" >"$WORK/gaps" <<'EOF' ||
import datetime, json, sqlite3, sys
db, name, every, log = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
t = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
starts = [t(r[0]) for r in sqlite3.connect(db).execute(
    "SELECT started_at FROM runs WHERE integration = ? AND status = 'ok' AND trigger = 'schedule' "
    "ORDER BY started_at", (name,))]
times = {}
for line in open(log):
    if line.startswith("{"):
        j = json.loads(line)
        times[j["msg"]] = t(j["time"])
served = times["stopping"] - times["serving"]
gaps = [round(b - a, 2) for a, b in zip(starts, starts[1:])]
print("%d runs in %.2f s served, gaps %s" % (len(starts), served, gaps))
ok = len(starts) >= 2 and all(every - 0.3 <= g <= every + 0.6 for g in gaps) and \
     len(starts) - 1 <= served / every <= len(starts) + 0.6
sys.exit(0 if ok else 1)
EOF
        fail "$name: $(cat "$WORK/gaps")"
done
never=$(runs "$D" "SELECT count(*) FROM runs WHERE integration = 'never'")
expect_eq "$never" "0" "a manual integration is never scheduled"
expect_in "$(cat "$D/serve.log")" '"msg":"serving"'
expect_eq "$(runs "$D" "SELECT schedule FROM integrations WHERE name = 'half'")" "every 2s"
expect_eq "$(runs "$D" "SELECT count(*) FROM integrations WHERE next_run_at IS NOT NULL")" "0" \
    "no next run is shown once the service has stopped"
[ -e "$D/data/serve.json" ] && fail "serve.json left behind after a clean stop"

# ---------------------------------------------------------------------------
t "a slot that comes due while the previous run goes on is recorded as skipped, with the reason"
D=$S/overlap; serve_dir "$D"
integ "$D/scripts/slow.lua" slow '"every 1s"' 'ctx:emit { id = 1 }; ferry.sleep(2.5)'
start_serve "$D" ferry.lua
sleep 3.2
stop_serve
expect_rc 0
skipped=$(runs "$D" "SELECT count(*) FROM runs WHERE integration = 'slow' AND status = 'skipped'")
[ "$skipped" -ge 1 ] || fail "no skipped run recorded"
first=$(runs "$D" "SELECT id FROM runs WHERE integration = 'slow' AND status != 'skipped' ORDER BY started_at LIMIT 1")
expect_in "$(runs "$D" "SELECT error FROM runs WHERE status = 'skipped' ORDER BY started_at LIMIT 1")" \
    "the previous run ($first) was still running"
expect_eq "$(runs "$D" "SELECT count(*) FROM runs WHERE integration = 'slow' AND status = 'running'")" "0"
expect_in "$(cat "$D/serve.log")" '"msg":"run skipped"'

# ---------------------------------------------------------------------------
t "catch-up: a slot missed while ferry was down runs once at start, not once per missed slot"
D=$S/catchup; serve_dir "$D"
integ "$D/scripts/hourly.lua" hourly '"every 1h"' 'ctx:emit { id = 1 }'
start_serve "$D" ferry.lua
wait_until 5 'test "$(runs "$D" "SELECT count(*) FROM runs WHERE status = '\''ok'\''")" = 1'
stop_serve
# the last scheduled run was 5 hours ago: 4 slots were missed
runs "$D" "UPDATE runs SET started_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-5 hours')" >/dev/null
start_serve "$D" ferry.lua
sleep 1.5
expect_eq "$(runs "$D" "SELECT count(*) FROM runs WHERE integration = 'hourly'")" "2" "one catch-up run"
expect_in "$(cat "$D/serve.log")" "a scheduled run was missed"
next=$(runs "$D" "SELECT next_run_at FROM integrations WHERE name = 'hourly'")
stop_serve
python3 - "$next" <<'EOF' || fail "next run $next is not about an hour from now"
import sys, datetime
n = datetime.datetime.fromisoformat(sys.argv[1].replace("Z", "+00:00"))
d = (n - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
sys.exit(0 if 3500 < d < 3601 else 1)
EOF

t "no catch-up when the last scheduled run is recent: the next run waits for its slot"
start_serve "$D" ferry.lua
sleep 1
stop_serve
expect_eq "$(runs "$D" "SELECT count(*) FROM runs WHERE integration = 'hourly'")" "2" "no run at start"

# ---------------------------------------------------------------------------
t "a broken script is reported with FILE:LINE and skipped; the others run"
D=$S/broken; serve_dir "$D"
integ "$D/scripts/good.lua" good '"every 1h"' 'ctx:emit { id = 1 }'
printf 'return ferry.integration {\n  name = "bad",\n  owner = 42,\n}\n' >"$D/scripts/bad.lua"
start_serve "$D" ferry.lua
wait_until 5 'test "$(runs "$D" "SELECT count(*) FROM runs WHERE integration = '\''good'\'' AND status = '\''ok'\''")" = 1'
stop_serve
expect_rc 0
expect_in "$(cat "$D/serve.log")" "scripts/bad.lua:3: owner"
expect_in "$(cat "$D/serve.log")" '"msg":"script failed to load: skipped"'

# ---------------------------------------------------------------------------
# Hot reload. The script writes its version marker to DIR/marks.
mark_script() {   # mark_script FILE MARK SCHEDULE [SLEEP]
    cat >"$1.tmp" <<EOF
return ferry.integration {
  name = "hot", owner = "qa@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "fixture", freshness = "1h", schedule = "$3",
  extract = function(ctx)
    ${4:+ferry.sleep($4)}
    local f = io.open(ferry.script_dir .. "/../marks", "a"); f:write("$2\n"); f:close()
  end,
  load = function() end,
}
EOF
    mv "$1.tmp" "$1"        # as editors save: the whole file at once
}
hash() { python3 -c 'import sys
h = 1469598103934665603
for c in open(sys.argv[1], "rb").read(): h = ((h ^ c) * 1099511628211) % 2**64
print("%016x" % h)' "$1"; }

t "hot reload: an edited script runs as its new version at the next run, visible in runs"
D=$S/hot; serve_dir "$D"
mark_script "$D/scripts/hot.lua" v1 "every 1s"
v1=$(hash "$D/scripts/hot.lua")
start_serve "$D" ferry.lua
wait_until 5 'grep -q v1 "$D/marks"'
mark_script "$D/scripts/hot.lua" v2 "every 1s"
v2=$(hash "$D/scripts/hot.lua")
wait_until 5 'grep -q v2 "$D/marks"'
expect_eq "$(runs "$D" "SELECT script_version FROM integrations WHERE name = 'hot'")" "$v2"
[ "$(runs "$D" "SELECT count(*) FROM runs WHERE script_version = '$v1' AND status = 'ok'")" -ge 1 ] ||
    fail "no run recorded with the first version $v1"
[ "$(runs "$D" "SELECT count(*) FROM runs WHERE script_version = '$v2' AND status = 'ok'")" -ge 1 ] ||
    fail "no run recorded with the new version $v2"
expect_in "$(cat "$D/serve.log")" '"msg":"script reloaded"'

t "hot reload: a broken version leaves the old one running, with the error and its line in the store"
printf 'return ferry.integration {\n  name = "hot",\n  extract = 1 +\n}\n' >"$D/scripts/hot.lua.tmp"
mv "$D/scripts/hot.lua.tmp" "$D/scripts/hot.lua"
wait_until 5 'test -n "$(runs "$D" "SELECT reload_error FROM integrations WHERE name = '\''hot'\''")"'
expect_in "$(runs "$D" "SELECT reload_error FROM integrations WHERE name = 'hot'")" "scripts/hot.lua:4:"
n=$(grep -c v2 "$D/marks")
wait_until 5 'test "$(grep -c v2 "$D/marks")" -gt "$n"'
expect_eq "$(runs "$D" "SELECT script_version FROM integrations WHERE name = 'hot'")" "$v2" "the old version is still the one served"
expect_in "$(cat "$D/serve.log")" "reload failed: the previous version keeps running"

t "hot reload: fixing the script clears the error, and the fixed version runs"
mark_script "$D/scripts/hot.lua" v3 "every 1s"
wait_until 5 'grep -q v3 "$D/marks"'
expect_eq "$(runs "$D" "SELECT reload_error IS NULL FROM integrations WHERE name = 'hot'")" "1"
expect_eq "$(runs "$D" "SELECT count(*) FROM runs WHERE integration = 'hot' AND status NOT IN ('ok', 'skipped')")" "0"
stop_serve
expect_rc 0

t "hot reload: a long run in progress finishes on its old version; the next run uses the new one"
D=$S/long; serve_dir "$D"
mark_script "$D/scripts/hot.lua" old "every 1h" 4
vold=$(hash "$D/scripts/hot.lua")
start_serve "$D" ferry.lua
wait_until 5 'test "$(runs "$D" "SELECT count(*) FROM runs WHERE status = '\''running'\''")" = 1'
mark_script "$D/scripts/hot.lua" new "every 1h"
vnew=$(hash "$D/scripts/hot.lua")
wait_until 5 'test "$(runs "$D" "SELECT script_version FROM integrations")" = "$vnew"'
wait_until 5 'grep -q old "$D/marks"'
expect_eq "$(runs "$D" "SELECT script_version || ' ' || status FROM runs")" "$vold ok"
stop_serve
expect_rc 0

t "twenty reloads while runs go on: no run fails because of a reload, and no broken version ever runs"
D=$S/storm; serve_dir "$D"
mark_script "$D/scripts/hot.lua" s0 "every 1s" 0.3
start_serve "$D" ferry.lua
good=()
for i in $(seq 1 20); do
    if [ $((i % 4)) -eq 0 ]; then
        printf 'return ferry.integration { name = "hot", broken = %d,\n' "$i" >"$D/scripts/hot.lua.tmp"
        mv "$D/scripts/hot.lua.tmp" "$D/scripts/hot.lua"
    else
        mark_script "$D/scripts/hot.lua" "s$i" "every 1s" 0.3
        good+=("'$(hash "$D/scripts/hot.lua")'")
    fi
    sleep 0.35
done
mark_script "$D/scripts/hot.lua" final "every 1s"
good+=("'$(hash "$D/scripts/hot.lua")'")
wait_until 5 'grep -q final "$D/marks"'
stop_serve
expect_rc 0
good+=("'$vold'")
s0=$(mark_script "$S/s0.lua" s0 "every 1s" 0.3; hash "$S/s0.lua")
good+=("'$s0'")
expect_eq "$(runs "$D" "SELECT count(*) FROM runs WHERE status NOT IN ('ok', 'skipped')")" "0" "failed runs"
list=$(IFS=,; echo "${good[*]}")
expect_eq "$(runs "$D" "SELECT count(*) FROM runs WHERE script_version NOT IN ($list)")" "0" "runs of a version that was never valid"
[ "$(runs "$D" "SELECT count(DISTINCT script_version) FROM runs")" -ge 3 ] || fail "the reloads did not take"

# ---------------------------------------------------------------------------
t "a removed script stops being scheduled"
D=$S/removed; serve_dir "$D"
integ "$D/scripts/gone.lua" gone '"every 1s"' 'ctx:emit { id = 1 }'
start_serve "$D" ferry.lua
wait_until 5 'test -s "$D/gone.loaded"'
rm "$D/scripts/gone.lua"
sleep 0.6
n=$(runs "$D" "SELECT count(*) FROM runs")
sleep 1.5
expect_eq "$(runs "$D" "SELECT count(*) FROM runs")" "$n" "runs after the file was removed"
expect_eq "$(runs "$D" "SELECT coalesce(schedule, '') || '|' || coalesce(next_run_at, '') FROM integrations")" "removed|"
stop_serve
expect_rc 0

# ---------------------------------------------------------------------------
t "SIGTERM during a run: it stops at its last checkpoint, exits 0 within the grace, and the next start goes on from it"
D=$S/term; serve_dir "$D"
integ "$D/scripts/steps.lua" steps '"every 1h"' '
    local from = ctx.cursor and ctx.cursor.n or 0
    for i = from + 1, 30 do
      ctx:emit { id = i }
      ctx:checkpoint { n = i }
      ferry.sleep(0.1)
    end'
start_serve "$D" ferry.lua
wait_until 5 'test -s "$D/steps.loaded"'
sleep 0.5
stop_serve TERM
expect_rc 0
[ "$took_ms" -lt 5000 ] || fail "took $took_ms ms to stop"
row=$(runs "$D" "SELECT status || '|' || checkpoint FROM runs")
expect_in "$row" "aborted|{\"n\":"
cp=$(runs "$D" "SELECT json_extract(cursor, '$.n') FROM checkpoints")
expect_eq "$(sort -n "$D/steps.loaded" | tail -1)" "$cp" "the checkpoint is the last record loaded"
expect_in "$(cat "$D/serve.log")" '"msg":"stopping"'
# the next start: the missed hour is not due, so trigger it as a new slot by backdating
runs "$D" "UPDATE runs SET started_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-2 hours')" >/dev/null
start_serve "$D" ferry.lua
wait_until 10 'test "$(runs "$D" "SELECT count(*) FROM runs WHERE status = '\''ok'\''")" = 1'
stop_serve
expect_eq "$(sort -n "$D/steps.loaded" | uniq | wc -l)" "30" "every record loaded across the two runs"
expect_eq "$(sort -n "$D/steps.loaded" | uniq -d | wc -l)" "0" "no record loaded twice"

t "SIGTERM: a run that reaches no checkpoint is stopped after shutdown_grace and recorded aborted"
D=$S/grace; serve_dir "$D" 'shutdown_grace = "1s"'
integ "$D/scripts/stuck.lua" stuck '"every 1h"' 'ferry.sleep(30)'
start_serve "$D" ferry.lua
wait_until 5 'test "$(runs "$D" "SELECT count(*) FROM runs WHERE status = '\''running'\''")" = 1'
stop_serve TERM
expect_rc 0
[ "$took_ms" -lt 4000 ] || fail "took $took_ms ms to stop with a 1 s grace"
expect_eq "$(runs "$D" "SELECT status FROM runs")" "aborted"
expect_in "$(runs "$D" "SELECT error FROM runs")" "shutdown_grace"

t "a second SIGTERM exits at once; the next start records the run as aborted"
D=$S/twice; serve_dir "$D" 'shutdown_grace = "30s"'
integ "$D/scripts/stuck.lua" stuck '"every 1h"' 'ferry.sleep(30)'
start_serve "$D" ferry.lua
wait_until 5 'test "$(runs "$D" "SELECT count(*) FROM runs WHERE status = '\''running'\''")" = 1'
kill -TERM "$SERVE_PID"; sleep 0.3
stop_serve TERM
[ "$took_ms" -lt 2000 ] || fail "took $took_ms ms after the second signal"
expect_eq "$(runs "$D" "SELECT status FROM runs")" "running" "the store as the killed process left it"
start_serve "$D" ferry.lua
stop_serve
expect_eq "$(runs "$D" "SELECT status FROM runs ORDER BY started_at LIMIT 1")" "aborted"

# ---------------------------------------------------------------------------
t "one service per data directory: a second serve is refused while it runs, naming the first"
D=$S/lock; serve_dir "$D"
integ "$D/scripts/one.lua" one '"manual"' 'ctx:emit { id = 1 }'
start_serve "$D" ferry.lua
first=$SERVE_PID
(cd "$D" && "$FERRY" serve -c ferry.lua) >"$D/second.out" 2>&1
rc=$?
expect_rc 2
expect_in "$(cat "$D/second.out")" "pid $first"
SERVE_PID=$first
stop_serve
expect_rc 0

# ---------------------------------------------------------------------------
t "under systemd (Type=notify): READY=1 once serving, STOPPING=1 on SIGTERM, RELOADING=1 then READY=1 on SIGHUP"
D=$S/notify; serve_dir "$D"
integ "$D/scripts/one.lua" one '"manual"' 'ctx:emit { id = 1 }'
python3 - "$D/notify.sock" "$D/notified" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(15)
with open(sys.argv[2], "w") as out:
    try:
        while True:
            msg = s.recv(4096).decode()
            out.write(msg.replace("\n", " ") + "\n"); out.flush()
            if "STOPPING=1" in msg: break
    except socket.timeout:
        pass
EOF
_bg_pids+=($!)
wait_until 5 'test -S "$D/notify.sock"'
NOTIFY_SOCKET=$D/notify.sock start_serve "$D" ferry.lua
wait_until 5 'grep -q READY=1 "$D/notified"'
kill -HUP "$SERVE_PID"
wait_until 5 'grep -q RELOADING=1 "$D/notified"'
stop_serve
expect_rc 0
wait_until 5 'grep -q STOPPING=1 "$D/notified"'
expect_in "$(head -1 "$D/notified")" "STATUS=serving 1 integrations (0 failed to load)"
expect_eq "$(grep -o 'READY=1\|RELOADING=1\|STOPPING=1' "$D/notified" | tr '\n' ' ')" "READY=1 RELOADING=1 READY=1 STOPPING=1 "

t "make install puts the systemd unit in place, pointing at the installed binary, with the hardening the README names"
(cd "$ROOT" && make -s install DESTDIR="$S/root" PREFIX=/opt/ferry >/dev/null 2>"$S/install.err")
rc=$?
expect_rc 0
unit=$S/root/opt/ferry/lib/systemd/system/ferry.service
expect_in "$(cat "$unit" 2>&1)" "ExecStart=/opt/ferry/bin/ferry serve -c /etc/ferry/ferry.lua"
for k in "Type=notify" 'ExecReload=/bin/kill -HUP $MAINPID' "User=ferry" "ProtectSystem=strict" \
         "ReadWritePaths=/var/lib/ferry" "NoNewPrivileges=yes" "TimeoutStopSec=60"; do
    expect_in "$(cat "$unit" 2>&1)" "$k"
done
expect_not_in "$(cat "$unit" 2>&1)" "@PREFIX@"
[ -x "$S/root/opt/ferry/bin/ferry" ] || fail "no installed binary"
expect_in "$(cat "$S/root/opt/ferry/share/ferry/systemd/ferry.lua" 2>&1)" 'data_dir = "/var/lib/ferry"'

# ---------------------------------------------------------------------------
t "cron in serve: a missed slot is caught up once at start, and the next run is the next slot in the schedule's zone"
D=$S/cron; serve_dir "$D"
integ "$D/scripts/yearly.lua" yearly '{ cron = "0 0 1 1 *", tz = "Europe/Berlin" }' 'ctx:emit { id = 1 }'
start_serve "$D" ferry.lua
sleep 0.5
stop_serve
expect_eq "$(runs "$D" "SELECT count(*) FROM runs")" "0" "a cron schedule that never ran waits for its slot"
# the last scheduled run was two years ago: two New Year slots were missed
runs "$D" "INSERT INTO runs (id, integration, trigger, started_at, status) VALUES
           ('x', 'yearly', 'schedule', strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-2 years'), 'ok')" >/dev/null
start_serve "$D" ferry.lua
wait_until 10 'test "$(runs "$D" "SELECT count(*) FROM runs WHERE status = '\''ok'\''")" -ge 2'
next=$(runs "$D" "SELECT next_run_at FROM integrations WHERE name = 'yearly'")
sched=$(runs "$D" "SELECT schedule FROM integrations WHERE name = 'yearly'")
stop_serve
expect_eq "$sched" "cron 0 0 1 1 * (Europe/Berlin)"
expect_eq "$next" "$(date -u +%Y)-12-31T23:00:00Z" "midnight of 1 January in Berlin (CET, +01:00)"
expect_eq "$(runs "$D" "SELECT count(*) FROM runs")" "2" "one catch-up run, not two"

t "jitter: runs on the same schedule start at different times within the jitter, shown as their next run"
D=$S/jitter; serve_dir "$D"
for i in 1 2 3 4 5; do
    integ "$D/scripts/j$i.lua" "j$i" '{ every = "2h", jitter = "1h" }' 'ctx:emit { id = 1 }'
done
start_serve "$D" ferry.lua
sleep 1
nexts=$(runs "$D" "SELECT next_run_at FROM integrations ORDER BY name")
stop_serve
expect_eq "$(runs "$D" "SELECT count(*) FROM runs")" "0" "no run in the first second (each waits up to an hour)"
python3 - "$nexts" <<'EOF' || fail "next runs not spread within the hour: $nexts"
import sys, datetime
now = datetime.datetime.now(datetime.timezone.utc)
ts = [datetime.datetime.fromisoformat(l.replace("Z", "+00:00")) for l in sys.argv[1].split()]
d = [(t - now).total_seconds() for t in ts]
sys.exit(0 if len(d) == 5 and all(-2 < x < 3600 for x in d) and len(set(ts)) == 5 else 1)
EOF

t "a paused integration is not scheduled, across restarts, until resumed"
D=$S/paused; serve_dir "$D"
integ "$D/scripts/p.lua" p '"every 1s"' 'ctx:emit { id = 1 }'
start_serve "$D" ferry.lua
wait_until 5 'test -s "$D/p.loaded"'
stop_serve
runs "$D" "UPDATE integrations SET paused_at = '2026-12-05T00:00:00Z', paused_reason = 'vendor outage'" >/dev/null
n=$(runs "$D" "SELECT count(*) FROM runs")
start_serve "$D" ferry.lua
sleep 2
expect_eq "$(runs "$D" "SELECT count(*) FROM runs")" "$n" "runs while paused"
expect_eq "$(runs "$D" "SELECT coalesce(next_run_at, 'none') FROM integrations")" "none"
stop_serve
expect_rc 0

t "a reload takes well under a second (took_ms in the log)"
ms=$(grep -ho '"took_ms":[0-9.]*' "$S"/*/serve.log | cut -d: -f2 | sort -n | tail -1)
[ -n "$ms" ] || fail "no took_ms logged"
python3 -c "import sys; sys.exit(0 if float('$ms') < 500 else 1)" || fail "the slowest load took $ms ms"
done_t
