#!/usr/bin/env bash
# End-to-end: ferry's HTTP client (ferry.http, ctx.http, ferry.paginate)
# against tests/fakes/fake_api.py, one plain and one TLS instance started
# here. Most cases are Lua files under tests/e2e/http/, run with
# `ferry lua FILE BASE TLS_BASE CERT_DIR CLOSED_PORT`; each prints one
# "ok NAME" / "not ok NAME: why" line per case and "done N" at the end, so a
# crash of ferry shows up as a "not ok" here. Cases that need a whole run
# (`ferry run`: secrets, checkpoints, two integrations at once, load time)
# are written below. Server-side timestamps (/_requests t_mono) are used for
# every timing assertion that can use them.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

CASES="$ROOT/tests/e2e/http"
SETTLE=3                # seconds ferry gets to exit once its work is done
FAKE_PIDS=()
LINGERED=()             # invocations that did not exit SETTLE s after their work was done

FERRY_PID=""            # the ferry `bounded` is running, if any

cleanup() {
    local p
    [ -n "$FERRY_PID" ] && kill -9 "$FERRY_PID" 2>/dev/null
    for p in "${FAKE_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${FAKE_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# ---------------------------------------------------------------------------
# The fakes.

# start_fake NAME [ARGS...]: starts fake_api.py (its pid goes to FAKE_PIDS,
# for the EXIT trap) and waits for its port file; sets FAKE_PORT.
start_fake() {
    local name=$1 i
    shift
    FAKE_PORT=""
    python3 "$ROOT/tests/fakes/fake_api.py" --port-file "$WORK/$name.port" "$@" >"$WORK/$name.log" 2>&1 &
    FAKE_PIDS+=($!)
    for i in $(seq 1 200); do
        if [ -s "$WORK/$name.port" ]; then FAKE_PORT=$(tr -d '\n' <"$WORK/$name.port"); return 0; fi
        sleep 0.05
    done
    return 1
}

start_fake plain || {
    echo "not ok http: the fake API did not start: $(tail -5 "$WORK/plain.log" 2>/dev/null | tr '\n' ' ')"
    exit 1
}
BASE="http://127.0.0.1:$FAKE_PORT"
export FAKE_BASE=$BASE

CERTS="$WORK/certs" TBASE="-"
if "$ROOT/tests/fakes/make_cert.sh" "$CERTS" >"$WORK/certs.log" 2>&1 &&
    start_fake tls --tls "$CERTS/server.pem" "$CERTS/server.key"; then
    TBASE="https://127.0.0.1:$FAKE_PORT"
fi
[ "$TBASE" = "-" ] && CERTS="-"

# A port nothing listens on: bound by the kernel, then released.
CLOSED=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')

# fake_reset / fakepy CODE: Python over R, the requests the plain fake
# recorded (GET /_requests); prints the value of CODE's last line, e.g.
# fakepy 'len(R)'.
fake_reset() { python3 -c 'import sys, urllib.request as u; u.urlopen(u.Request(sys.argv[1] + "/_reset", method="POST")).read()' "$BASE"; }
fakepy() {
    python3 - "$BASE" "$1" <<'EOF' 2>&1
import json, sys, urllib.request
env = {"R": json.load(urllib.request.urlopen(sys.argv[1] + "/_requests"))["requests"]}
lines = sys.argv[2].strip().split("\n")
exec("\n".join(lines[:-1]), env)
print(eval(lines[-1], env))
EOF
}

# ---------------------------------------------------------------------------
# Running ferry with a bound on its life.

# A pipe nothing writes to: `read -t` on it sleeps without starting a process,
# so the polling below costs no CPU worth measuring next to the timing cases.
mkfifo "$WORK/nap.fifo" && exec {NAP}<>"$WORK/nap.fifo"
nap() { read -r -t "$1" -u "$NAP" _; }
now_us() { NOW=${EPOCHREALTIME/./}; NOW=$((10#$NOW)); }      # sets NOW
count_lines() {      # count_lines FILE REGEX: sets COUNT, with builtins only
    local line
    COUNT=0
    while IFS= read -r line; do [[ $line =~ $2 ]] && COUNT=$((COUNT + 1)); done <"$1"
}

# bounded LABEL MAX PATTERN COUNT ARGS...: runs `ferry ARGS` from $WORK,
# stdout to $WORK/LABEL.out, stderr to $WORK/LABEL.err. Once stdout has COUNT
# lines matching PATTERN its work is done, and ferry gets SETTLE s to exit
# before it is killed (and noted in LINGERED); it is killed after MAX s in
# any case. Sets out, err, rc (ferry's exit status; "" when it was killed),
# killed ("" | lingered | timeout) and done_s (seconds from the start until
# the work was done, "" if never).
bounded() {
    local label=$1 max=$2 pat=$3 count=$4 o e pid start done_us=""
    shift 4
    o="$WORK/$label.out" e="$WORK/$label.err"
    : >"$o"; : >"$e"
    now_us; start=$NOW
    (cd "$WORK" && exec "$FERRY" "$@") >"$o" 2>"$e" &
    pid=$!
    FERRY_PID=$pid
    killed=""
    while kill -0 "$pid" 2>/dev/null; do
        now_us
        if [ -z "$done_us" ]; then count_lines "$o" "$pat"; [ "$COUNT" -ge "$count" ] && done_us=$NOW; fi
        if [ -n "$done_us" ] && [ $((NOW - done_us)) -gt $((SETTLE * 1000000)) ]; then killed=lingered; break; fi
        if [ $((NOW - start)) -gt $((max * 1000000)) ]; then killed=timeout; break; fi
        nap 0.05
    done
    if [ -n "$killed" ]; then
        kill "$pid" 2>/dev/null
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; nap 0.2; done
        kill -9 "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    rc=$?
    FERRY_PID=""
    [ -n "$killed" ] && rc=""
    if [ -z "$done_us" ]; then count_lines "$o" "$pat"; [ "$COUNT" -ge "$count" ] && { now_us; done_us=$NOW; }; fi
    done_s=""
    if [ -n "$done_us" ]; then
        local ms=$(( (done_us - start) / 1000 ))
        printf -v done_s '%d.%03d' $((ms / 1000)) $((ms % 1000))
    fi
    [ "$killed" = lingered ] && LINGERED+=("$label (ferry $1)")
    out=$(cat "$o"); err=$(cat "$e")
}

# expect_exit N: like expect_rc, but when ferry had to be killed after its
# work was done (see the last case) its exit status is unknown: not checked.
expect_exit() {
    if [ -z "$rc" ]; then
        [ "$killed" = lingered ] || fail "ferry was killed ($killed); expected exit status $1"
        return
    fi
    expect_rc "$1"
}

sanitizer_report() { grep -m1 -E 'AddressSanitizer|LeakSanitizer|runtime error:' "$1"; }

# lua_file NAME [MAX [OPTIONS...]]: runs tests/e2e/http/NAME.lua (with
# ferry lua's OPTIONS) and passes its case lines on; a crash, a non-zero
# exit or a sanitizer report is a "not ok" of its own.
lua_file() {
    local name=$1 max=${2:-120} san
    shift; [ $# -gt 0 ] && shift
    bounded "$name" "$max" '^done [0-9]+$' 1 lua --trusted "$@" "$CASES/$name.lua" "$BASE" "$TBASE" "$CERTS" "$CLOSED"
    grep -E '^(ok|not ok|skip) ' "$WORK/$name.out"
    grep -E '^# ' "$WORK/$name.err"
    if ! grep -qE '^done [0-9]+$' "$WORK/$name.out"; then
        echo "not ok http $name.lua ran to its end: ferry exited $rc ($killed) before the last case; stderr: $(tail -c 800 "$WORK/$name.err" | grep -v '^# ' | tr '\n' ' ')"
    elif [ -n "$rc" ] && [ "$rc" -ne 0 ]; then
        echo "not ok http $name.lua exits 0 after its cases: exit $rc; stderr: $(tail -c 800 "$WORK/$name.err" | grep -v '^# ' | tr '\n' ' ')"
    fi
    san=$(sanitizer_report "$WORK/$name.err")
    [ -n "$san" ] && echo "not ok http $name.lua: sanitizer report: $san"
}

# integ NAME BODY: writes $WORK/NAME.lua, an integration called NAME.
integ() {
    script "$1" "local BASE = os.getenv(\"FAKE_BASE\")
return ferry.integration {
  name = \"$1\", owner = \"qa@example.com\", purpose = \"test\", pattern = \"reporting\",
  source_of_truth = \"fixture\", freshness = \"1h\",
$2
}"
}

# run_integ LABEL NSCRIPTS MAX ARGS...: `ferry run ARGS` bounded; done when
# every run printed its summary ("took ..." line).
run_integ() {
    local label=$1 n=$2 max=$3 san
    shift 3
    bounded "$label" "$max" '^   took ' "$n" run "$@"
    [ "$killed" = timeout ] && fail "ferry run did not finish within $max s"
    san=$(sanitizer_report "$WORK/$label.err")
    [ -n "$san" ] && fail "sanitizer report: $san"
}

# ---------------------------------------------------------------------------
# Lua case files: 1-3, 9, 10 basics and TLS; 4-5 retries and Retry-After;
# 6-7 rate limits; 8, 15 timeouts and http:all; 11 auth; 13 pagination.

# HTTP_CASES="retry ratelimit" runs only those case files and stops there
# (tests/tools/mutate.py does, to test a change of the HTTP code quickly).
if [ -n "${HTTP_CASES:-}" ]; then
    for f in $HTTP_CASES; do lua_file "$f" 90; done
    exit 0
fi
lua_file basics
[ "$TBASE" = "-" ] && echo "skip http TLS cases: no TLS fake ($(tail -2 "$WORK/certs.log" | tr '\n' ' '))"
lua_file retry
lua_file ratelimit 90
lua_file concurrency
lua_file auth
lua_file paginate
lua_file json_ahead 120 --log-level debug

# The debug log of json_ahead.lua says which bodies the JSON thread parsed:
# 2xx bodies of 64 KB and more whose Content-Type is JSON, and only those.
parsed_ahead() { grep '"msg":"http body parsed off the loop"' "$WORK/json_ahead.err" | grep -c "tag=$1\""; }
t "http json ahead: bodies of 64 KB and more with a JSON Content-Type are parsed off the loop, and only those"
for tag in one chunked all1 all2 all3 each1 each3 each4 each5 each7 invalid plusjson replaced numbers after; do
    [ "$(parsed_ahead "$tag")" = 1 ] || fail "tag=$tag: not parsed off the loop once ($(parsed_ahead "$tag") times)"
done
for tag in small each2 each6 plain; do
    [ "$(parsed_ahead "$tag")" = 0 ] || fail "tag=$tag: parsed off the loop, but it is small or not JSON"
done
grep 'tag=invalid"' "$WORK/json_ahead.err" | grep -q '"parsed":"invalid JSON"' || fail "tag=invalid: the log does not say invalid JSON"
grep 'tag=numbers"' "$WORK/json_ahead.err" | grep -q '"parsed":"over budget, decoded on the loop"' ||
    fail "tag=numbers: the log does not say the tape outgrew its budget"

# The JSON thread's copy of a body and its tape count against limits.memory:
# under a 16 MB limit a 4 MB body (16 MB with its tape's budget) is not
# handed over, and res:json() decodes it on the loop as before.
t "http json ahead: what the JSON thread would hold counts against limits.memory; without room, decoded on the loop"
cat >"$WORK/ahead_mem.lua" <<'EOF'
local base, tag = ...
local res = assert(ferry.http.get(base .. "/big?bytes=4000000&tag=" .. tag))
local v, err = res:json()
print(v and #v.big, err)
print("done 1")
EOF
printf 'return { limits = { memory = "16MB" } }\n' >"$WORK/mem16.lua"
bounded ahead_tight 60 '^done 1$' 1 lua --config "$WORK/mem16.lua" --log-level debug ahead_mem.lua "$BASE" tight
expect_exit 0
expect_in "$out" "3999990	nil"
[ "$(grep -c 'parsed off the loop' "$WORK/ahead_tight.err")" = 0 ] || fail "parsed off the loop under the 16 MB limit"
bounded ahead_roomy 60 '^done 1$' 1 lua --log-level debug ahead_mem.lua "$BASE" roomy
expect_exit 0
expect_in "$out" "3999990	nil"
[ "$(grep -c '"msg":"http body parsed off the loop".*tag=roomy"' "$WORK/ahead_roomy.err")" = 1 ] ||
    fail "not parsed off the loop under the default limit"

# A body refused the JSON thread for want of room leaves nothing behind:
# once the script drops the response, Lua's emergency collection (which
# runs no finalizers) gets its memory back. Under 12 MB, a 3 MB body
# would hold 12 MB with its tape; making two 5 MB strings after it (the
# one string.rep builds in, the one it returns) fits only if it is gone.
t "http json ahead: a body refused the JSON thread is freed as soon as the script drops it"
cat >"$WORK/ahead_drop.lua" <<'EOF'
local base = ...
local res = assert(ferry.http.get(base .. "/big?bytes=3000000&tag=drop"))
print(#res.body)
res = nil
ferry.sleep(0)
local h = string.rep("x", 5 * 1024 * 1024)
print(#(h .. "y"))
print("done 1")
EOF
printf 'return { limits = { memory = "12MB" } }\n' >"$WORK/mem12.lua"
bounded ahead_drop 60 '^done 1$' 1 lua --config "$WORK/mem12.lua" ahead_drop.lua "$BASE"
expect_exit 0
expect_eq "$out" "$(printf '3000000\n5242881\ndone 1')"

# The script resumes inside the transfer's completion: the body's buffer,
# copied into Lua already, must not still count against limits.memory
# then. Under 16 MB a 6 MB body and 8 MB more (a 4 MB string as
# string.rep builds it) fit; counted twice they would not, and the same
# script would pass or fail on whether it happened to wait first.
t "http memory: a response's buffer is given back before the script resumes"
cat >"$WORK/buf_twice.lua" <<'EOF'
local base, nap = ...
local res = assert(ferry.http.get(base .. "/big?bytes=6000000"))
if nap == "nap" then ferry.sleep(0) end
print(#res.body, #string.rep("y", 4 * 1024 * 1024))
print("done 1")
EOF
for nap in now nap; do
    bounded "buf_twice_$nap" 60 '^done 1$' 1 lua --config "$WORK/mem16.lua" buf_twice.lua "$BASE" "$nap"
    expect_exit 0
    expect_eq "$out" "$(printf '6000000\t4194304\ndone 1')" "$nap"
done

# A tape the JSON thread made is kept only to save work: when the script
# needs the room (a string, another body) it gives way, and res:json()
# decodes on the loop instead. Under 24 MB, ten 1 MB bodies kept with
# their tapes leave too little for 5 MB more; the bodies alone do not.
t "http json ahead: tapes the script has not used give way when it needs the memory"
cat >"$WORK/ahead_spare.lua" <<'EOF'
local base, need = ...
local kept = {}
for i = 1, 10 do kept[i] = assert(ferry.http.get(base .. "/json?size=1000000&tag=spare" .. need .. i)) end
local n
if need == "string" then
  n = #string.rep("y", 5 * 1024 * 1024)
else
  local res, err = ferry.http.get(base .. "/big?bytes=5000000")
  n = res and #res.body or tostring(err)
end
local a = assert(kept[1]:json())
print(#kept, n, a.object, a.count == #a.records, a.count > 1000)
print("done 1")
EOF
printf 'return { limits = { memory = "24MB" } }\n' >"$WORK/mem24.lua"
for need in string body; do
    bounded "ahead_spare_$need" 60 '^done 1$' 1 lua --config "$WORK/mem24.lua" --log-level debug ahead_spare.lua "$BASE" "$need"
    expect_exit 0
    expect_eq "$out" "$(printf '10\t%s\tcontact\ttrue\ttrue\ndone 1' "$([ "$need" = string ] && echo 5242880 || echo 5000000)")"
    [ "$(grep -c "parsed off the loop.*tag=spare$need" "$WORK/ahead_spare_$need.err")" = 10 ] ||
        fail "$need: the ten bodies were not parsed off the loop, so no tape was there to give way"
done

# ---------------------------------------------------------------------------
# 12. Secrets are redacted from stdout, logs and the quarantine.
SECRET=tok-supersecret-123

t "http secrets: ctx:secret's value never appears in stdout, logs or the quarantine; URL shows api_key=REDACTED"
rm -rf "$WORK/data"
fake_reset
integ secrets '
  batch_size = 10,
  policy = { retry = { attempts = 1 }, auth = "fail", not_found = "quarantine" },
  extract = function(ctx)
    local tok = ctx:secret("FAKE_TOKEN")
    ctx.log.info("calling the API", { token = tok, note = "Bearer " .. tok })
    ctx.log.warn("token is " .. tok)
    ctx:emit({ id = 1, token = tok })
    ctx:emit({ id = 2, token = tok })
    local res, err = ctx.http:get(BASE .. "/status/401", { query = { api_key = tok, page = 1 }, auth = { bearer = tok } })
    if not res then error(err) end
  end,
  transform = function(r, ctx)
    if r.id == 1 then error("record rejected, its token is " .. r.token) end
    local res, err = ctx.http:get(BASE .. "/status/404", { query = { api_key = r.token } })
    if not res then return nil, err end
    return r
  end,
  load = function(batch) end,'
export FAKE_TOKEN=$SECRET
run_integ secrets 1 30 --log-level debug secrets.lua
unset FAKE_TOKEN
expect_exit 1
expect_in "$out" "FAILED"
expect_in "$out" "error: extract: auth: GET $BASE/status/401?api_key=REDACTED&page=1"
expect_in "$out" "quarantined 2"
expect_not_in "$out" "$SECRET"
expect_not_in "$err" "$SECRET"
qrows=$(sqlite3 "$WORK/data/ferry.db" "SELECT reason, record, output FROM quarantine WHERE integration = 'secrets'" 2>&1)
[ -n "$qrows" ] || fail "nothing in the quarantine of secrets"
expect_not_in "$qrows" "$SECRET"
expect_in "$qrows" "api_key=REDACTED"
expect_in "$qrows" "[REDACTED]"
expect_not_in "$(sqlite3 "$WORK/data/ferry.db" .dump 2>&1)" "$SECRET"
expect_eq "$(fakepy "[(r['path'], r['query'].get('api_key'), r['headers'].get('authorization')) for r in R if r['path'] == '/status/401']")" \
    "[('/status/401', ['$SECRET'], 'Bearer $SECRET')]" "what the server received (the secret was really sent)"

t "http secrets: ctx.log with the secret in a field or in the message is redacted"
expect_in "$err" '"msg":"calling the API"'
expect_in "$err" '"token":"[REDACTED]"'
expect_in "$err" '"note":"Bearer [REDACTED]"'
expect_in "$err" '"msg":"token is [REDACTED]"'

t "http secrets: a missing env var fails the run with class auth and names the variable"
rm -rf "$WORK/data"
integ nosecret '
  extract = function(ctx)
    local tok = ctx:secret("FERRY_TEST_UNSET_TOKEN")
    ctx:emit({ id = 1 })
  end,
  load = function(batch) end,'
unset FERRY_TEST_UNSET_TOKEN
run_integ nosecret 1 30 nosecret.lua
expect_exit 1
expect_in "$out" "FAILED"
expect_in "$out" "error: extract: auth: "
expect_in "$out" "FERRY_TEST_UNSET_TOKEN"

# ---------------------------------------------------------------------------
# 13. Pagination inside an integration checkpoints each page.
t "http paginate in an integration: 95 records loaded, a checkpoint in the summary"
rm -rf "$WORK/data"
fake_reset
integ pager '
  extract = function(ctx)
    for rec in ferry.paginate.records(ctx.http, BASE .. "/pages/number",
        { style = "page", items = "data", size = 10, ctx = ctx }) do
      ctx:emit(rec)
    end
  end,
  load = function(batch)
    local f = assert(io.open("pager.ids", "a"))
    for _, r in ipairs(batch) do f:write(r.id, "\n") end
    f:close()
  end,'
rm -f "$WORK/pager.ids"
run_integ pager 1 30 pager.lua
expect_exit 0
expect_in "$out" "extracted 95 · transformed 95 · skipped 0 · loaded 95 · quarantined 0"
expect_in "$out" "   checkpoint: "
expect_eq "$(seq 1 95 | tr '\n' ' ')" "$(tr '\n' ' ' <"$WORK/pager.ids" 2>/dev/null)" "ids loaded"
expect_eq "$(fakepy "len([r for r in R if r['path'] == '/pages/number'])")" "10" "page requests"

t "http paginate in an integration: the summary's checkpoint is readable (not 'table: 0x...')"
cp=$(grep -m1 '   checkpoint: ' <<<"$out")
expect_not_in "$cp" "table: 0x"
expect_in "$cp" "page"
expect_in "$cp" "11"

# ---------------------------------------------------------------------------
# each() inside a run: emits in the loop body fill batches whose SQLite
# loads yield the run while the stream's requests are still in flight.
t "http ctx.http:each in an integration: 250 detail calls, batches loaded mid-stream, every record once"
rm -rf "$WORK/data"
fake_reset
integ details '
  batch_size = 7,
  extract = function(ctx)
    local k = 0
    local function next_request()
      if k == 250 then return nil end
      k = k + 1
      if k % 50 == 0 then return { "GET", BASE .. "/status/404", { query = { id = k } } } end
      return { "GET", BASE .. "/echo", { query = { id = k } } }
    end
    for i, res, err in ctx.http:each(next_request, { concurrency = 6 }) do
      if res then ctx:emit({ id = tonumber(res:json().query.id[1]), index = i })
      else ctx.log.warn("not fetched", { index = i, class = err.class }) end
    end
  end,
  load = ferry.sink.sqlite { path = "details.db", table = "details",
                            columns = { { "id", "integer", key = true }, { "index", "integer" } } },'
run_integ details 1 60 details.lua
expect_exit 0
expect_in "$out" "extracted 245 · transformed 245 · skipped 0 · loaded 245 · quarantined 0"
expect_eq "$(sqlite3 "$WORK/data/details.db" "SELECT count(*), count(DISTINCT id), sum(id = \"index\") FROM details" 2>&1)" \
    "245|245|245" "rows, distinct ids, ids equal to their request index"
expect_eq "$(grep -c '"not fetched"' "$WORK/details.err")" "5" "the five 404s logged"
expect_eq "$(fakepy "len([r for r in R if r['path'] in ('/echo', '/status/404')])")" "250" "requests the server saw"

# ---------------------------------------------------------------------------
t "http ctx.http follows the integration's policy.retry and rate_limit"
rm -rf "$WORK/data"
fake_reset
integ bound '
  rate_limit = "10/s",
  policy = { retry = { attempts = 3, base = "50ms", max = "1s" } },
  extract = function(ctx)
    local res, err = ctx.http:get(BASE .. "/flaky", { query = { key = "bound", fail = 2 } })
    if not res then error(err) end
    ctx:emit({ attempts = res.attempts })
    local res2, err2 = ctx.http:get(BASE .. "/flaky", { query = { key = "bound-out", fail = 3 } })
    ctx:emit({ gave_up_after = err2 and err2.attempts })
    for i = 1, 11 do assert(ctx.http:get(BASE .. "/echo", { query = { i = i } })) end
  end,
  load = function(batch)
    local f = assert(io.open("bound.json", "w"))
    f:write(ferry.json.encode(batch)); f:close()
  end,'
rm -f "$WORK/bound.json"
run_integ bound 1 30 bound.lua
expect_exit 0
expect_eq "$(cat "$WORK/bound.json" 2>/dev/null)" '[{"attempts":3},{"gave_up_after":3}]' "attempts seen by the script"
expect_eq "$(fakepy "
f = [r for r in R if r['path'] == '/flaky']
e = sorted(r['t_mono'] for r in R if r['path'] == '/echo')
(len([r for r in f if r['query']['key'] == ['bound']]), len([r for r in f if r['query']['key'] == ['bound-out']]), len(e), e[-1] - e[0] >= 10 / 10 * 0.98)")" \
    "(3, 3, 11, True)" "(flaky requests, give-up requests, echo requests, 11 echoes spread over >= 0.98 s at 10/s); echo span $(fakepy "e = sorted(r['t_mono'] for r in R if r['path'] == '/echo')
round(e[-1] - e[0], 3)")"

# ---------------------------------------------------------------------------
# 14. Two integrations in one process share the loop.
t "http two integrations in one 'ferry run', each 5 sequential 0.5 s requests: < 4 s in all (5 s sequential)"
rm -rf "$WORK/data"
fake_reset
for who in hanga hangb; do
    integ "$who" '
  extract = function(ctx)
    for i = 1, 5 do
      local res, err = ctx.http:get(BASE .. "/hang", { query = { seconds = 0.5, who = "'"$who"'", i = i } })
      if not res then error(err) end
      ctx:emit({ i = i })
    end
  end,
  load = function(batch) end,'
done
run_integ hang2 2 30 hanga.lua hangb.lua
expect_exit 0
expect_in "$out" "== hanga  run "
expect_in "$out" "== hangb  run "
expect_in "$out" "loaded 5"
[ -n "$done_s" ] && python3 -c "import sys; sys.exit(0 if $done_s < 4 else 1)" ||
    fail "both runs were done after ${done_s:-never} s"
got=$(fakepy "
hs = [r for r in R if r['path'] == '/hang']
a = [r['t_mono'] for r in hs if r['query']['who'] == ['hanga']]
b = [r['t_mono'] for r in hs if r['query']['who'] == ['hangb']]
span = max(a + b) + 0.5 - min(a + b)
(len(a), len(b), span < 4, min(b) < max(a) and min(a) < max(b), all(y - x >= 0.45 for x, y in zip(a, a[1:])))")
expect_eq "$got" "(5, 5, True, True, True)" \
    "(requests of A, of B, span < 4 s, A and B overlap, A's requests sequential); span: $(fakepy "round(max(r['t_mono'] for r in R) + 0.5 - min(r['t_mono'] for r in R), 3)")"

# ---------------------------------------------------------------------------
# 16. HTTP at load time.
t "http at script load time is a clear error ('only inside a run'), exit 2"
rm -rf "$WORK/data"
script loadhttp 'local res = ferry.http.get(os.getenv("FAKE_BASE") .. "/echo")
return ferry.integration { '"$HEADER"'
  extract = function(ctx) end, load = function(batch) end }'
fake_reset
run_integ loadhttp 1 30 loadhttp.lua
expect_exit 2
expect_in "$(tr '\n' ' ' <<<"$err")" "only inside a run"
expect_eq "$(fakepy 'len(R)')" "0" "requests the server saw"

t "http at script load time: the error names the script's line, not ferry's http.lua"
expect_in "$(tr '\n' ' ' <<<"$err")" "loadhttp.lua:1:"

# ---------------------------------------------------------------------------
t "http config: the http section sets every client's defaults (ca_file, timeout)"
if [ "$TBASE" = "-" ]; then
    skip_t "no TLS fake"
else
    printf 'return { integrations = { ["*"] = { trusted = true } }, http = { ca_file = "%s", timeout = "700ms" } }\n' "$CERTS/ca.pem" >"$WORK/httpcfg.lua"
    script cfgcase 'local tbase, base = ...
local res, err = ferry.http.get(tbase .. "/echo")
print("tls " .. tostring(res and res.status or err))
local res2, err2 = ferry.http.client({}):get(base .. "/hang?seconds=3")
print("hang " .. (res2 and res2.status or (err2.class .. " " ..
  (err2.elapsed >= 0.6 and err2.elapsed < 2 and "after-0.7s" or string.format("after %.2f s", err2.elapsed)))))
print("done 1")'
    bounded cfgcase 30 '^done 1$' 1 lua -c httpcfg.lua cfgcase.lua "$TBASE" "$BASE"
    expect_in "$(tr '\n' ' ' <<<"$out")" "tls 200 "
    expect_in "$(tr '\n' ' ' <<<"$out")" "hang transient after-0.7s "
fi

# ---------------------------------------------------------------------------
t "http proxy from the environment: http_proxy routes requests through the proxy, no_proxy bypasses it"
python3 "$ROOT/tests/fakes/fake_proxy.py" --port-file "$WORK/proxy.port" --log "$WORK/proxy.log" \
    >"$WORK/proxy.out" 2>&1 &
FAKE_PIDS+=($!)
for _ in $(seq 1 200); do [ -s "$WORK/proxy.port" ] && break; sleep 0.05; done
PROXY="http://127.0.0.1:$(tr -d '\n' <"$WORK/proxy.port" 2>/dev/null)"
script viaproxy 'local base, tag = ...
local res, err = ferry.http.get(base .. "/echo?via=" .. tag)
print(tag .. " " .. tostring(res and res.status or err))
print(tag .. " via " .. tostring(res and res.headers["via"]))
print("done 1")'
http_proxy=$PROXY HTTP_PROXY=$PROXY no_proxy= NO_PROXY= bounded viaproxy 30 '^done 1$' 1 lua viaproxy.lua "$BASE" proxied
expect_in "$out" "proxied 200"
expect_in "$out" "proxied via 1.1 fake-proxy"
expect_eq "$(grep -c "GET $BASE/echo?via=proxied HTTP/1.1" "$WORK/proxy.log" 2>/dev/null)" "1" \
    "the proxy saw the absolute-form request ($(head -3 "$WORK/proxy.log" 2>/dev/null | tr '\n' ' '))"
http_proxy=$PROXY HTTP_PROXY=$PROXY no_proxy=127.0.0.1 NO_PROXY=127.0.0.1 bounded viaproxy 30 '^done 1$' 1 lua viaproxy.lua "$BASE" direct
expect_in "$out" "direct 200"
expect_in "$out" "direct via nil"
expect_eq "$(grep -c "via=direct" "$WORK/proxy.log" 2>/dev/null)" "0" "no_proxy: the proxy saw nothing"

# ---------------------------------------------------------------------------
t "http.rewrite sends a vendor's URL to another base (a sandbox, a fixture server); a lookalike host is not rewritten"
cat >"$WORK/rewrite.ferry.lua" <<EOF
return { http = { rewrite = { ["https://api.vendor.example"] = "$BASE",
                              ["https://api.vendor.example/v2"] = "$BASE/echo" } } }
EOF
script rewrite 'local a = ferry.http.get("https://api.vendor.example/echo?x=1")
print("a " .. tostring(a and a.status) .. " " .. tostring(a and a:json().query.x[1]))
local b = ferry.http.get("https://api.vendor.example/v2?y=2")
print("b " .. tostring(b and b.status) .. " " .. tostring(b and b:json().path))
local c, err = ferry.http.get("https://api.vendor.example.invalid/echo", { timeout = 5 })
print("c " .. tostring(c and c.status or err.class))
print("done 1")'
bounded rewrite 30 '^done 1$' 1 lua --config "$WORK/rewrite.ferry.lua" rewrite.lua
expect_in "$out" "a 200 1"
expect_in "$out" "b 200 /echo"
expect_in "$out" "c transient"
printf 'return { http = { rewrite = { ["https://a.example?x=1"] = "http://127.0.0.1:1" } } }\n' >"$WORK/badrw.lua"
run_ferry check --config "$WORK/badrw.lua"
expect_rc 2
expect_in "$err" 'http.rewrite: expected URL prefixes like "https://api.example.com" = "http://127.0.0.1:8080" (no query or credentials), got https://a.example?x=1 = http://127.0.0.1:1'

# ---------------------------------------------------------------------------
t "ferry exits once its work is done (idle keep-alive connections do not hold the loop)"
script onereq 'local res = assert(ferry.http.get((...) .. "/echo")); print("done 1")'
bounded onereq 30 '^done 1$' 1 lua onereq.lua "$BASE"
[ -z "$rc" ] || [ "$rc" -eq 0 ] || fail "ferry lua exited $rc: $err"
if [ ${#LINGERED[@]} -gt 0 ]; then
    fail "${#LINGERED[@]} ferry processes were still running ${SETTLE} s after their work was done (and were killed): $(printf '%s, ' "${LINGERED[@]}")"
fi

done_t
