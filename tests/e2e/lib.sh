# Helpers for end-to-end tests. Each test file sources this, then calls
# `t NAME` before each case and the expect_* functions; every case prints
# "ok NAME" or "not ok NAME: why" exactly once (tests/run.sh counts them).
#
#   t "run exits 3 when records are quarantined"
#   run_ferry run "$dir/script.lua"          # sets $out, $err, $rc
#   expect_rc 3; expect_in "$out" "PARTIAL"; done_t
set -u
FERRY=${FERRY_ABS:-$(realpath build/ferry)}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$(mktemp -d /tmp/ferry-e2e.XXXXXX)
# Processes a test starts in the background (fakes) are stopped when it exits.
_bg_pids=()
_cleanup() {
    local p
    for p in "${_bg_pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap _cleanup EXIT
_name="" _bad="" out="" err="" rc=0
# Most test scripts record what they did in files with io: they run as
# trusted integrations (config `integrations["*"]`). Tests of the sandbox
# pass a config of their own (-c) or FERRY_CONFIG= to run untrusted.
printf 'return { integrations = { ["*"] = { trusted = true } } }\n' >"$WORK/trusted.lua"
export FERRY_CONFIG=${FERRY_CONFIG-$WORK/trusted.lua}

t() { [ -n "$_name" ] && done_t; _name=$1; _bad=""; }
fail() { [ -z "$_bad" ] && _bad=$1; }
done_t() {
    [ -z "$_name" ] && return
    if [ -z "$_bad" ]; then echo "ok $_name"; else echo "not ok $_name: $_bad"; fi
    _name=""
}
skip_t() { echo "skip $_name: $1"; _name=""; }
trap_done() { done_t; }

# start_fake_api [ARGS...]: starts tests/fakes/fake_api.py on 127.0.0.1
# (its log in $WORK/fake.log, stopped when the test exits), waits for its
# port and sets FAKE_BASE to http://127.0.0.1:PORT; fails if it did not start.
start_fake_api() {
    rm -f "$WORK/fake.port"
    python3 "$ROOT/tests/fakes/fake_api.py" --port-file "$WORK/fake.port" "$@" >"$WORK/fake.log" 2>&1 &
    _bg_pids+=($!)
    for _ in $(seq 1 200); do [ -s "$WORK/fake.port" ] && break; sleep 0.05; done
    [ -s "$WORK/fake.port" ] || return 1
    FAKE_BASE="http://127.0.0.1:$(cat "$WORK/fake.port")"
}

# start_sink NAME SCRIPT [ARGS...]: a receiver of tests/fakes (webhook_sink.py,
# smtp_sink.py) on 127.0.0.1, recording to $WORK/NAME.jsonl and stopped when
# the test exits; sets PORT, or fails the case when it did not start.
start_sink() {
    local name=$1 script=$2
    shift 2
    rm -f "$WORK/$name.port" "$WORK/$name.jsonl"
    python3 "$ROOT/tests/fakes/$script" --port-file "$WORK/$name.port" --log "$WORK/$name.jsonl" "$@" \
        >"$WORK/$name.out" 2>&1 &
    _bg_pids+=($!)
    for _ in $(seq 1 200); do [ -s "$WORK/$name.port" ] && break; sleep 0.05; done
    PORT=$(cat "$WORK/$name.port" 2>/dev/null)
    [ -n "$PORT" ] || fail "$script did not start: $(cat "$WORK/$name.out")"
}

# wait_until SECONDS 'SHELL CONDITION': evaluates the condition every 0.1 s
# (quote it: it is evaluated anew each time); fails the case on timeout.
wait_until() {
    local _tries=$(( $1 * 10 ))
    for _ in $(seq 1 "$_tries"); do eval "$2" >/dev/null 2>&1 && return 0; sleep 0.1; done
    fail "timed out waiting for: $2"
    return 1
}

# start_serve DIR CONFIG [OPTIONS...]: `ferry serve -c CONFIG` run from DIR in
# the background (stdout appended to DIR/serve.out, stderr to DIR/serve.log;
# stopped when the test exits); waits for DIR/data/serve.json and sets
# SERVE_PID, SERVE_DIR and ADMIN (the address it bound). Fails the case when
# it did not start.
start_serve() {
    local dir=$1 config=$2
    shift 2
    SERVE_DIR=$dir ADMIN=""
    rm -f "$dir/data/serve.json"
    (cd "$dir" && exec "$FERRY" serve -c "$config" "$@") >>"$dir/serve.out" 2>>"$dir/serve.log" &
    SERVE_PID=$!
    _bg_pids+=("$SERVE_PID")
    for _ in $(seq 1 200); do [ -s "$dir/data/serve.json" ] && break; sleep 0.05; done
    ADMIN=$(sed -n 's/.*"admin":"\([^"]*\)".*/\1/p' "$dir/data/serve.json" 2>/dev/null)
    [ -n "$ADMIN" ] || { fail "ferry serve did not start: $(tail -3 "$dir/serve.log")"; return 1; }
}

# stop_serve [SIGNAL]: signal the service started last (TERM) and wait for it;
# sets rc (its exit status) and took_ms; fails the case on a sanitizer report
# in its log.
stop_serve() {
    local t0
    t0=$(date +%s%N)
    kill -"${1:-TERM}" "$SERVE_PID" 2>/dev/null
    wait "$SERVE_PID" 2>/dev/null
    rc=$?
    took_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$SERVE_DIR/serve.log" 2>/dev/null; then
        fail "sanitizer report from ferry serve: $(grep -m1 -E 'Sanitizer|runtime error' "$SERVE_DIR/serve.log")"
    fi
}

# run_ferry ARGS...: runs ferry from $WORK with a data dir under $WORK.
run_ferry() {
    local o e
    o=$(mktemp "$WORK/out.XXXX"); e=$(mktemp "$WORK/err.XXXX")
    (cd "$WORK" && "$FERRY" "$@") >"$o" 2>"$e"
    rc=$?
    out=$(cat "$o"); err=$(cat "$e")
    if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$e"; then
        fail "sanitizer report: $(grep -m1 -E 'Sanitizer|runtime error' "$e")"
    fi
}
expect_rc() { [ "$rc" -eq "$1" ] || fail "exit status $rc, expected $1 (stderr: ${err:0:300}) (stdout: ${out:0:300})"; }
expect_in() { grep -qF -- "$2" <<<"$1" || fail "expected to find '$2' in: ${1:0:400}"; }
expect_not_in() { ! grep -qF -- "$2" <<<"$1" || fail "did not expect '$2' in: ${1:0:400}"; }
expect_eq() { [ "$1" = "$2" ] || fail "expected '$2', got '$1'${3:+ ($3)}"; }
# sql DB QUERY: prints the result (sqlite3 -batch, '|' separated)
sql() { sqlite3 -batch "$1" "$2" 2>&1; }

# script NAME BODY: writes $WORK/NAME.lua from a heredoc-free string
script() { printf '%s\n' "$2" >"$WORK/$1.lua"; }

# A minimal valid integration header, to splice into test scripts.
HEADER='name = "t", owner = "qa@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "fixture", freshness = "1h",'

# quarantine_py DATA_DIR NAME EXPR: evaluates a Python expression over L, the
# quarantine rows of integration NAME in DATA_DIR/ferry.db in id order, each a
# dict: id, status, stage, class, reason, attempts, record and output (parsed
# JSON), run (the run that last quarantined it), first_run, script_version.
quarantine_py() {
    python3 - "$1/ferry.db" "$2" "$3" <<'PYEOF' 2>&1
import json, sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
db.row_factory = sqlite3.Row
db.text_factory = lambda b: b.decode("utf-8", "replace")   # records whose text is not UTF-8
L = []
for r in db.execute("SELECT * FROM quarantine WHERE integration = ? ORDER BY id", (sys.argv[2],)):
    d = dict(r)
    d["record"] = json.loads(d["record"])
    d["output"] = json.loads(d["output"]) if d["output"] is not None else None
    d["run"] = d["last_run"]
    L.append(d)
print(eval(sys.argv[3]))
PYEOF
}
