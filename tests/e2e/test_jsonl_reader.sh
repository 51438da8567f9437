#!/usr/bin/env bash
# End-to-end: ferry.jsonl's reader thread (core/fy_lua_jsonl.c). Lines are
# parsed on a thread of their own and handed over in chunks; these check
# what a script relies on across that hand-over: every line in order with
# its number, object keys and repeated values right after a bad line and
# past the dictionary, lines from a pipe as they come (not when a chunk fills),
# close while the writer still holds the pipe, and the memory limit.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

# lua NAME BODY ARGS...: run BODY as a trusted `ferry lua` script from $WORK
# (with the options in $LOPTS, say a config), ARGS its varargs.
LOPTS=
lua() {
    local name=$1 body=$2; shift 2
    script "$name" "$body"
    # shellcheck disable=SC2086
    run_ferry lua --trusted --log-level warn $LOPTS "$name.lua" "$@"
}

# dump.lua PATH [OPTS_JSON]: every step of rows() as one JSON line:
# [line, record] or [line, null, err, raw, truncated].
script dump 'local path, opts = ...
local r = assert(ferry.jsonl.open(path, opts and ferry.json.decode(opts) or nil))
for line, rec, err, raw, truncated in r:rows() do
  io.write(ferry.json.encode({ line, rec == nil and ferry.json.null or rec, err, raw, truncated }), "\n")
end
io.write("end ", r:line(), "\n")'

# decoded_as_python FILE: dump.lua's records of FILE equal Python's json.loads of each line.
decoded_as_python() {
    lua chk "$(cat "$WORK/dump.lua")" "$1"
    expect_rc 0
    printf '%s\n' "$out" >"$1.out"
    local got
    got=$(python3 - "$1" "$1.out" <<'PY' 2>&1
import json, sys
want = [json.loads(l) for l in open(sys.argv[1])]
got = [json.loads(l)[1] for l in open(sys.argv[2]) if not l.startswith("end ")]
print("same" if got == want else [(w, g) for w, g in zip(want, got) if w != g][:2])
PY
)
    expect_eq "$got" "same"
}

# ---------------------------------------------------------------------------
t "20,000 lines across many chunks, bad ones among them: every line once, in order, numbered, values exact"
python3 - "$WORK/many.jsonl" <<'PY'
import json, random, sys
random.seed(7)
with open(sys.argv[1], "wb") as f:
    for i in range(1, 20001):
        if i % 997 == 0:   f.write(b'{"id": %d, "oops": }\n' % i)          # not JSON
        elif i % 991 == 0: f.write(b'{"id": %d, "n": "\xff"}\n' % i)        # not UTF-8
        elif i % 983 == 0: f.write(b'\n   \n')                             # blank lines
        else:
            rec = {"id": i, "name": "n%d" % i, "big": 2**63 + i, "f": i / 8, "tags": [i, None, True],
                   "empty": [], "nested": {"k%d" % (i % 5): "v\u00e9\\\"%d" % i}}
            f.write(json.dumps(rec).encode() + b"\n")
PY
lua chk "$(cat "$WORK/dump.lua")" "$WORK/many.jsonl"
expect_rc 0
printf '%s\n' "$out" >"$WORK/many.out"
got=$(python3 - "$WORK/many.jsonl" "$WORK/many.out" <<'PY' 2>&1
import json, sys
want, n = [], 0
for raw in open(sys.argv[1], "rb").read().split(b"\n"):
    n += 1
    if not raw.strip(): continue
    # integers past 64 bits come as their exact text (README, ferry.json)
    big = lambda v: str(v) if isinstance(v, int) and not isinstance(v, bool) and v >= 2**63 else v
    try: want.append([n, {k: big(v) for k, v in json.loads(raw.decode("utf-8")).items()}])
    except Exception: want.append([n, None])
got = [json.loads(l) for l in open(sys.argv[2]) if not l.startswith("end ")]
bad = [(w, g) for w, g in zip(want, got) if w[0] != g[0] or (w[1] is not None and w[1] != g[1]) or (w[1] is None and g[1] is not None)]
print("same" if len(got) == len(want) and not bad else f"{len(got)} vs {len(want)}: {bad[:2]}")
PY
)
expect_eq "$got" "same"
expect_in "$out" '"line 998: invalid JSON: unexpected character '"'"'}'"'"' at character 21"'     # 983 added a line
expect_in "$out" '"line 992: field '"'"'n'"'"' is not valid UTF-8'
expect_in "$out" "end 20020"      # 20 blank-line pairs

t "a key first seen on a bad line, then on good ones: the good ones have it"
printf '%s\n' '{"fresh": 1, "other": }' '{"fresh": 2, "other": 3}' '{"other": 4, "fresh": 5}' >"$WORK/fresh.jsonl"
lua fresh 'local r = assert(ferry.jsonl.open(...))
for line, rec, err in r:rows() do io.write(line, " ", rec and rec.fresh .. "," .. rec.other or err, "\n") end' "$WORK/fresh.jsonl"
expect_rc 0
expect_eq "$out" "1 line 1: invalid JSON: unexpected character '}' at character 23
2 2,3
3 5,4"

t "more distinct keys than the key dictionary holds, long keys and escaped keys: all decoded right"
python3 - "$WORK/keys.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(5000):
        f.write(json.dumps({"key%d" % i: i, "k" * 60 + str(i % 3): i, "esc\"aped\u00e9": i, "same": i}) + "\n")
PY
decoded_as_python "$WORK/keys.jsonl"

t "a value remembered on a bad line (its second sighting), then on good ones: the good ones have it"
printf '%s\n' '{"v": "rep", "n": 1}' '{"v": "rep", "n": }' '{"n": 3, "v": "rep"}' '{"v": "rep", "n": 4}' \
    '{"v": "rep", "n": 5}' >"$WORK/rep.jsonl"
lua rep 'local r = assert(ferry.jsonl.open(...))
for line, rec, err in r:rows() do io.write(line, " ", rec and tostring(rec.v) .. "," .. rec.n or err, "\n") end' "$WORK/rep.jsonl"
expect_rc 0
expect_eq "$out" "1 rep,1
2 line 2: invalid JSON: unexpected character '}' at character 19
3 rep,3
4 rep,4
5 rep,5"

t "more distinct repeated values than the dictionary remembers, values as keys, long and escaped ones: all decoded right"
python3 - "$WORK/vals.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(12000):
        v = "value %d" % (i % 6000)                   # each twice, 6,000 of them
        f.write(json.dumps({"v": v, "w": "w" * 47 + str(i % 2), "u": "u" * 49 + str(i % 2),
                            "e": "esc\"aped\u00e9 %d" % (i % 5), "key": "v", v: i,
                            "once": "only %d" % i, "empty": "", "n": [v, "v", i]}) + "\n")
PY
decoded_as_python "$WORK/vals.jsonl"

t "a pipe: each line reaches the script as it is written, not when a chunk fills"
# The writer sends one line and waits to see the script print it before it
# sends the next: a reader that waited for more lines would hang here.
mkfifo "$WORK/feed.fifo"
script follow 'local r = assert(ferry.jsonl.open(...))
for line, rec in r:rows() do io.write("got ", rec.n, "\n"); io.stdout:flush() end
io.write("done\n")'
got=$(cd "$WORK" && timeout 20 python3 - "$FERRY_ABS" "$WORK/feed.fifo" <<'PY' 2>&1
import subprocess, sys
ferry, fifo = sys.argv[1:]
p = subprocess.Popen([ferry, "lua", "--trusted", "--log-level", "warn", "follow.lua", fifo],
                     stdout=subprocess.PIPE, text=True)
with open(fifo, "w") as w:
    for n in (1, 2, 3):
        w.write('{"n": %d}\n' % n); w.flush()
        line = p.stdout.readline().strip()
        if line != "got %d" % n: print("unexpected:", repr(line)); break
rest = p.stdout.read().strip()
print("ok" if rest == "done" and p.wait() == 0 else "end: %r %s" % (rest, p.returncode))
PY
)
expect_eq "$got" "ok"

t "close while the writer still holds the pipe open: returns at once, nothing leaks"
mkfifo "$WORK/held.fifo"
(exec 7>"$WORK/held.fifo"; printf '{"n": 1}\n' >&7; sleep 30) &
holder=$!
script early 'local r = assert(ferry.jsonl.open(...))
for line, rec in r:rows() do io.write("got ", rec.n, "\n"); break end
r:close()
io.write("closed\n")'
t0=$(date +%s)
run_ferry lua --trusted --log-level warn early.lua "$WORK/held.fifo"
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
expect_rc 0
expect_eq "$out" "got 1
closed"
[ $(( $(date +%s) - t0 )) -lt 20 ] || fail "close waited for the writer"

t "a line bigger than limits.memory: a clear error naming the line, the lines before it read"
python3 -c 'import sys; sys.stdout.write("{\"n\": 1}\n{\"n\": 2}\n{\"blob\": \"" + "x" * (12 << 20) + "\"}\n{\"n\": 4}\n")' >"$WORK/huge.jsonl"
printf 'return { limits = { memory = "16MB" } }\n' >"$WORK/small.lua"
LOPTS="-c small.lua" lua chk "$(cat "$WORK/dump.lua")" "$WORK/huge.jsonl"
expect_rc 0
expect_in "$out" '[1,{"n":1}]'
expect_in "$out" '[2,{"n":2}]'
expect_in "$out" "line 3: the line does not fit in the integration's memory limit (limits.memory in the config); the rest of the file was not read"
expect_not_in "$out" '"n":4'

t "the same line under a limit that fits it: read whole"
printf 'return { limits = { memory = "128MB" } }\n' >"$WORK/big.lua"
script len 'local r = assert(ferry.jsonl.open(...))
for line, rec, err in r:rows() do io.write(line, " ", rec and (rec.blob and #rec.blob or rec.n) or err, "\n") end'
run_ferry lua --trusted --log-level warn -c big.lua len.lua "$WORK/huge.jsonl"
expect_rc 0
expect_eq "$out" "1 1
2 2
3 $((12 << 20))
4 4"

done_t
