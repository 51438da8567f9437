#!/usr/bin/env bash
# The sandbox (core/fy_sandbox.c, core/fy_vm.c), tried as an attacker: one
# script per attack class, each run in the same `ferry run` as a harmless
# integration that must finish OK with its rows loaded. Scripts run
# untrusted here (a config of their own, no `integrations` grant) unless a
# case grants something.
. "$(dirname "$0")/lib.sh"

H='owner = "qa@example.com", purpose = "test", pattern = "reporting", source_of_truth = "fixture", freshness = "1h",'
script harmless "return ferry.integration { name = \"harmless\", $H
  extract = function(ctx) for i = 1, 3 do ctx:emit({ id = i, name = \"n\" .. i }) end end,
  load = ferry.sink.sqlite { path = \"harmless.db\", table = \"items\",
    columns = { { \"id\", \"integer\", key = true }, { \"name\", \"text\" } } },
}"
# attack NAME BODY: an integration NAME with the given hooks
attack() { script "$1" "return ferry.integration { name = \"$1\", $H
$2
}"; }
cfg() { printf 'return { %s }\n' "$1" >"$WORK/sb.lua"; }

# beside SECS NAME [ARGS]: run NAME next to harmless, bounded in time; the
# harmless integration must end OK with its 3 rows.
beside() {
    local secs=$1 name=$2 o e
    shift 2
    rm -rf "$WORK/data"
    o=$(mktemp "$WORK/out.XXXX"); e=$(mktemp "$WORK/err.XXXX")
    (cd "$WORK" && timeout -k 5 "$secs" "$FERRY" run -c sb.lua "$@" "$name.lua" harmless.lua) >"$o" 2>"$e"
    rc=$?
    out=$(cat "$o"); err=$(cat "$e")
    { [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] || [ "$rc" -ge 128 ]; } && fail "ferry died or hung (exit $rc): ${err:0:300}"
    grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$e" && fail "sanitizer: $(grep -m1 -E 'Sanitizer|runtime error' "$e")"
    grep -qE '^== harmless .* OK$' <<<"$out" || fail "the harmless integration did not end OK: ${out:0:600} ${err:0:300}"
    [ "$(sql "$WORK/data/harmless.db" 'SELECT count(*) FROM items')" = 3 ] || fail "harmless rows not loaded"
}
summary() { sed -n "/^== $1 /,/^== /p" <<<"$out"; }

cfg ""

t "files: no io; reading /etc/passwd or writing a file fails the run, nothing is written"
attack noio 'extract = function(ctx)
    local f = io.open("/etc/passwd") ctx:emit({ line = f:read("l") })
  end, load = function() end,'
beside 30 noio
expect_rc 1
expect_in "$(summary noio)" "FAILED"
expect_in "$(summary noio)" "global 'io'"
expect_not_in "$out" "root:"

t "environment: os.getenv is gone; os keeps only time functions"
attack noenv 'extract = function(ctx)
    ctx:emit({ home = os.getenv("HOME") })
  end, load = function() end,'
beside 30 noenv
expect_rc 1
expect_in "$(summary noenv)" "getenv"

t "secrets: ctx:secret of a variable not granted is an auth error naming the setting; the value never shows"
attack nosecret 'extract = function(ctx) ctx:emit({ v = ctx:secret("SB_SECRET") }) end,
  load = function() end,'
SB_SECRET=hunter2-sandbox beside 30 nosecret
expect_rc 1
expect_in "$(summary nosecret)" "SB_SECRET is not granted to integration 'nosecret'"
expect_in "$(summary nosecret)" 'integrations = { ["nosecret"] = { secrets = { "SB_SECRET" } } }'
expect_not_in "$out$err" "hunter2-sandbox"

t "secrets: a granted variable is handed over (and redacted from what ferry prints)"
attack withsecret 'extract = function(ctx)
    local v = ctx:secret("SB_SECRET")
    ctx.log.info("got it", { len = #v, v = v })
    ctx:emit({ n = #v })
  end, load = function() end,'
cfg 'integrations = { withsecret = { secrets = { "SB_SECRET" } } }'
SB_SECRET=hunter2-sandbox beside 30 withsecret
expect_rc 0
expect_in "$err" '"len":15'
expect_not_in "$out$err" "hunter2-sandbox"
cfg ""

t "grants: a grant pinned to another script refuses this one its name; pinned to it, trust starts at its first line"
script pinned 'local home = os.getenv("HOME")      -- top-level: needs the grant from the first line
return ferry.integration { name = "pinned", '"$H"' extract = function(ctx) ctx:emit({ ok = home ~= nil }) end, load = function() end }'
script impostor 'return ferry.integration { name = "pinned", '"$H"' extract = function() end, load = function() end }'
cfg "integrations = { pinned = { script = \"$WORK/pinned.lua\", trusted = true } }"
run_ferry run -c sb.lua impostor.lua
expect_rc 2
expect_in "$out$err" "another script may not take its name"
beside 30 pinned
expect_rc 0
expect_in "$(summary pinned)" "OK"
cfg ""

t "require: package.path changes have no effect; modules outside lualib, contrib and the script dir are not found"
mkdir -p "$WORK/elsewhere"
printf 'return { pwned = true }\n' >"$WORK/elsewhere/evilmod.lua"
attack noreq "extract = function(ctx)
    package.path = \"$WORK/elsewhere/?.lua;\" .. package.path
    ctx:emit({ m = require('evilmod').pwned })
  end, load = function() end,"
beside 30 noreq
expect_rc 1
expect_in "$(summary noreq)" "module 'evilmod' not found"

t "readers: a path outside the script's directory, the data dir and granted dirs is refused, symlinks included"
ln -sf /etc/passwd "$WORK/passwd_link.csv"
attack outside 'extract = function(ctx)
    local r, err1 = ferry.csv.open("/etc/passwd")
    local r2, err2 = ferry.csv.open("passwd_link.csv")
    local r3, err3 = ferry.jsonl.open("../../../../etc/hostname")
    ctx:emit({ a = tostring(r == nil) .. tostring(r2 == nil) .. tostring(r3 == nil), e1 = err1, e2 = err2, e3 = err3 })
  end,
  load = ferry.sink.sqlite { path = "outside.db", table = "t", columns = {
    { "a", "text", key = true }, { "e1", "text" }, { "e2", "text" }, { "e3", "text" } } },'
beside 30 outside
expect_rc 0
expect_eq "$(sql "$WORK/data/outside.db" 'SELECT a FROM t')" "truetruetrue"
expect_in "$(sql "$WORK/data/outside.db" 'SELECT e1 || e2 || e3 FROM t')" "outside the directories this script may read"
expect_not_in "$(sql "$WORK/data/outside.db" 'SELECT e1 || e2 || e3 FROM t')" "root:"

t "readers: a directory the admin grants (integrations[NAME].dirs) may be read"
mkdir -p "$WORK/exports"
printf 'id,name\n1,a\n2,b\n' >"$WORK/exports/granted.csv"
attack granted "extract = function(ctx) ferry.source.csv(ctx, \"$WORK/exports/granted.csv\") end,
  load = ferry.sink.sqlite { path = \"granted.db\", table = \"t\", columns = { { \"id\", \"text\", key = true }, { \"name\", \"text\" } } },"
cfg "integrations = { granted = { dirs = { \"$WORK/exports\" } } }"
beside 30 granted
expect_rc 0
expect_eq "$(sql "$WORK/data/granted.db" 'SELECT count(*) FROM t')" "2"
cfg ""

t "sqlite: outside the data dir, the store itself, ATTACH, extensions and dangerous PRAGMAs are refused"
attack sqlattack 'extract = function(ctx)
    local found = {}
    local function try(what, ok, err) found[#found + 1] = what .. "=" .. (ok and "OPEN" or "refused:" .. tostring(err)) end
    try("abs", ferry.sqlite.open("'"$WORK"'/escape-abs.db"))
    try("up", ferry.sqlite.open("../escape.db"))
    try("store", ferry.sqlite.open("ferry.db"))
    local db = assert(ferry.sqlite.open("own.db"))
    local function exec(...)      -- refused: raised, or returned nil, err
      local ok, r, err = pcall(db.exec, db, ...)
      if ok and r == nil then return false, err end
      return ok, r
    end
    try("attach", exec("ATTACH DATABASE ? AS s", ferry.data_dir .. "/ferry.db"))
    try("attach2", exec("ATTACH DATABASE '"'"'ferry.db'"'"' AS s"))
    try("ext", exec("SELECT load_extension('"'"'/tmp/x.so'"'"')"))
    try("pragma", exec("PRAGMA writable_schema = 1"))
    try("trigger", exec("CREATE TABLE x(a); CREATE TRIGGER tx AFTER INSERT ON x BEGIN SELECT 1; END"))
    ctx:emit({ found = table.concat(found, "\n") })
  end,
  load = ferry.sink.sqlite { path = "sqlattack.db", table = "t", columns = { { "found", "text", key = true } } },'
beside 30 sqlattack
expect_rc 0
found=$(sql "$WORK/data/sqlattack.db" 'SELECT found FROM t')
expect_not_in "$found" "OPEN"
expect_in "$found" "store=refused:ferry.db is ferry's store"
expect_in "$found" "abs=refused:$WORK/escape-abs.db is outside the data directory"
expect_in "$found" "up=refused:../escape.db is outside the data directory"
expect_in "$found" "attach=refused"
expect_in "$found" "pragma=refused"
expect_in "$found" "trigger=refused"
[ ! -e "$WORK/escape-abs.db" ] && [ ! -e "$WORK/escape.db" ] || fail "a database was created outside the data dir"
expect_eq "$(sql "$WORK/data/ferry.db" "SELECT count(*) FROM runs WHERE integration = 'harmless'")" "1"

t "limits: a pcall cannot swallow the instruction limit (transform: that record quarantined, the rest load)"
cfg 'limits = { instructions = 1000000 }'
attack swallow 'extract = function(ctx) for i = 1, 3 do ctx:emit({ id = i }) end end,
  transform = function(r)
    if r.id == 2 then while true do pcall(function() while true do end end) end end
    return r
  end,
  load = ferry.sink.sqlite { path = "swallow.db", table = "t", columns = { { "id", "integer", key = true } } },'
beside 60 swallow
expect_rc 3
expect_in "$(summary swallow)" "loaded 2 · quarantined 1"
expect_eq "$(quarantine_py "$WORK/data" swallow '[(q["record"]["id"], q["class"], "instruction limit" in q["reason"]) for q in L]')" \
    "[(2, 'script', True)]"

t "limits: a pcall loop in extract cannot swallow it either: the run fails with the limit"
attack swallowx 'extract = function(ctx)
    local n = 0
    while true do n = n + 1; pcall(function() while true do end end) end
  end, load = function() end,'
beside 60 swallowx
expect_rc 1
expect_in "$(summary swallowx)" "instruction limit exceeded"

t "limits: xpcall with a message handler from ferry's library does not reset the limit"
attack handler 'extract = function(ctx)
    while true do xpcall(function() while true do end end, ctx.emit, ctx) end
  end, load = function() end,'
beside 60 handler
expect_rc 1
expect_in "$(summary handler)" "instruction limit exceeded"
cfg ""

t "finalizers: __gc is refused (it would run with the guards off); ferry's metatables are out of reach"
attack gc 'extract = function(ctx)
    local ok, err = pcall(setmetatable, {}, { __gc = function() while true do end end })
    local arr_mt = getmetatable(ferry.json.array({}))
    local csvmt = getmetatable(ferry.json.null)
    ctx:emit({ ok = tostring(ok), err = tostring(err), hidden = tostring(arr_mt == nil and csvmt == nil) })
  end,
  load = ferry.sink.sqlite { path = "gc.db", table = "t", columns = { { "ok", "text", key = true }, { "err", "text" }, { "hidden", "text" } } },'
beside 30 gc
expect_rc 0
expect_eq "$(sql "$WORK/data/gc.db" "SELECT ok, hidden FROM t")" "false|true"
expect_in "$(sql "$WORK/data/gc.db" "SELECT err FROM t")" "__gc is not allowed"

t "finalizers: ferry check of a script with a looping __gc at load time ends"
script gccheck 'setmetatable({}, { __gc = function() while true do end end })
return ferry.integration { name = "gccheck", '"$H"' extract = function() end, load = function() end }'
(cd "$WORK" && timeout 20 "$FERRY" check gccheck.lua) >"$WORK/gccheck.err" 2>&1
rc=$?
[ "$rc" -ne 124 ] || fail "ferry check hung"
expect_rc 1
expect_in "$(cat "$WORK/gccheck.err")" "__gc is not allowed"

t "time: limits.call_time stops a recursive SQL query (C-side work) and the script cannot catch it"
cfg 'limits = { call_time = "1s" }'
attack slowsql 'extract = function(ctx)
    local db = assert(ferry.sqlite.open("slow.db"))
    local ok = pcall(db.exec, db, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c")
    ctx:emit({ caught = ok })
  end, load = function() end,'
beside 30 slowsql
expect_rc 1
expect_in "$(summary slowsql)" "call time limit exceeded"

t "time: a pathological pattern is refused before it runs"
attack pattern 'extract = function(ctx)
    ctx:emit({ m = string.rep("a", 5000):find(".-.-.-.-.-.-b") })
  end, load = function() end,'
beside 30 pattern
expect_rc 1
expect_in "$(summary pattern)" "pattern too costly"

t "time: limits.run_time ends a run that loops on ferry.sleep(0), and one asleep for an hour"
cfg 'limits = { run_time = "2s" }'
attack spin 'extract = function(ctx) while true do ferry.sleep(0) end end, load = function() end,'
attack nap 'extract = function(ctx) ferry.sleep(3600) ctx:emit({ id = 1 }) end, load = function() end,'
start=$(date +%s)
beside 30 spin nap.lua
expect_rc 1
expect_in "$(summary spin)" "run time limit exceeded"
expect_in "$(summary nap)" "run time limit exceeded"
[ $(( $(date +%s) - start )) -lt 15 ] || fail "took $(( $(date +%s) - start )) s"
cfg ""

t "values: NaN is quarantined at load (SQLite would store NULL); a record JSON cannot hold keeps what it can, one row across runs"
attack nanrec 'extract = function(ctx)
    ctx:emit({ id = 1, v = 0/0 })
    ctx:emit({ id = 2, v = 1.5 })
    ctx:emit({ id = 3, v = 2.5, f = print })
  end,
  transform = function(r) if r.f then error("cannot map a function") end return { id = r.id, v = r.v } end,
  load = ferry.sink.sqlite { path = "nanrec.db", table = "t", columns = { { "id", "integer", key = true }, { "v", "real" } } },'
beside 30 nanrec
expect_rc 3
expect_eq "$(sql "$WORK/data/nanrec.db" 'SELECT id, v FROM t ORDER BY id')" "2|1.5"
expect_eq "$(quarantine_py "$WORK/data" nanrec '[(q["stage"], q["record"].get("id"), "NaN" in q["reason"] or q["record"].get("f")) for q in L]')" \
    "[('transform', 3, '<function>'), ('load', 1, True)]"
(cd "$WORK" && "$FERRY" run -c sb.lua nanrec.lua >/dev/null 2>&1)
expect_eq "$(quarantine_py "$WORK/data" nanrec '[(q["record"].get("id"), q["attempts"]) for q in L]')" "[(3, 2), (1, 2)]"

t "memory: a CSV reader's row buffer counts against limits.memory"
python3 -c 'print("id,blob"); print("1," + "x" * 2500000); print("2,small")' >"$WORK/wide.csv"
cfg 'limits = { memory = "6MB" }'
attack widerow 'extract = function(ctx) ferry.source.csv(ctx, "wide.csv") end,
  transform = function(r) return { id = r.id, n = #r.blob } end,
  load = ferry.sink.sqlite { path = "widerow.db", table = "t", columns = { { "id", "text", key = true }, { "n", "integer" } } },'
beside 30 widerow
expect_rc 1
expect_in "$(summary widerow)" "memory limit"
cfg ""

t "memory: out of memory while a response is built fails that request, not the process"
start_fake_api || fail "the fake API did not start: $(cat "$WORK/fake.log")"
PORT=${FAKE_BASE##*:}
cfg 'limits = { memory = "12MB" }'
attack bigbody "extract = function(ctx)
    local url = \"http://127.0.0.1:$PORT/big?bytes=6000000\"
    local all = ctx.http:all({ { \"GET\", url }, { \"GET\", url }, { \"GET\", url } })
    local why = {}
    for i, r in ipairs(all) do why[i] = r.err and r.err.message or \"ok\" end
    ctx:emit({ why = table.concat(why, \"; \") })
  end,
  load = ferry.sink.sqlite { path = \"bigbody.db\", table = \"t\", columns = { { \"why\", \"text\", key = true } } },"
beside 60 bigbody
why="$(sql "$WORK/data/bigbody.db" 'SELECT why FROM t' 2>/dev/null)$(summary bigbody)"
expect_in "$why" "memory limit"
[ "$rc" -eq 0 ] || [ "$rc" -eq 1 ] || fail "exit status $rc"

t "memory: a GET while the script holds much of its memory fails with the limit, not SIGABRT"
attack holding "extract = function(ctx)
    local hold = {}            -- 6 MB of 12: a 2.5 MB body fits in, its copy for Lua does not
    for i = 1, 60 do hold[i] = string.rep(string.char(64 + i % 26), 100000) .. i end
    local res, err = ctx.http:get(\"http://127.0.0.1:$PORT/big?bytes=2500000\")
    ctx:emit({ n = #hold + #(res and res.body or \"\") })
  end, load = function() end,"
beside 60 holding
expect_rc 1
expect_in "$(summary holding)" "memory limit exceeded while receiving the response of GET"

t "memory: small bodies (made Lua strings as they arrive) count against limits.memory"
# 8 KB bodies come whole in one write from curl and become their Lua string
# at once (fy_lua_http.c's take_body): 2,000 of them kept are 16 MB, past
# the 12 MB limit, which must stop them with the limit's error
attack smallbodies "extract = function(ctx)
    local kept, why = {}, \"none\"
    local n = 0
    local function next_url() n = n + 1 if n <= 2000 then return \"http://127.0.0.1:$PORT/big?bytes=8192\" end end
    for _, res, err in ctx.http:each(next_url, { concurrency = 8 }) do
      if not res then why = tostring(err) break end
      kept[#kept + 1] = res.body
    end
    ctx:emit({ n = #kept, why = why })
  end,
  load = ferry.sink.sqlite { path = \"smallbodies.db\", table = \"t\", columns = { { \"n\", \"integer\", key = true }, { \"why\", \"text\" } } },"
beside 90 smallbodies
row=$(sqlite3 -batch "$WORK/data/smallbodies.db" "SELECT n, why FROM t" 2>/dev/null)
if [ -n "$row" ]; then
    expect_in "$row" "memory limit"
    [ "${row%%|*}" -lt $((12 * 1024 * 1024 / 8192)) ] || fail "kept ${row%%|*} bodies of 8 KB with a 12 MB limit"
else
    expect_in "$(summary smallbodies)" "memory limit"
fi
[ "$rc" -eq 0 ] || [ "$rc" -eq 1 ] || fail "exit status $rc"


done_t
