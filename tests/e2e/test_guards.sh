#!/usr/bin/env bash
# End-to-end: the guards that keep one script from hanging or starving the
# engine (instruction limit, memory limit, sandbox) and flat memory while
# streaming.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh


integ() {   # integ NAME BODY: writes $WORK/NAME.lua, an integration called NAME
    script "$1" "return ferry.integration {
  name = \"$1\", owner = \"qa@example.com\", purpose = \"test\", pattern = \"reporting\",
  source_of_truth = \"fixture\", freshness = \"1h\",
$2
}"
}

# qpy NAME EXPR: Python expression over L, the quarantine rows of NAME
qpy() { quarantine_py "$WORK/data" "$1" "$2"; }

# run_ferry_to SECS ARGS...: run_ferry under `timeout`; a timeout is a failure.
run_ferry_to() {
    local secs=$1 o e
    shift
    o=$(mktemp "$WORK/out.XXXX"); e=$(mktemp "$WORK/err.XXXX")
    (cd "$WORK" && timeout -k 5 "$secs" "$FERRY" "$@") >"$o" 2>"$e"
    rc=$?
    out=$(cat "$o"); err=$(cat "$e")
    [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && fail "ferry did not finish within ${secs}s"
    if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$e"; then
        fail "sanitizer report: $(grep -m1 -E 'Sanitizer|runtime error' "$e")"
    fi
}

printf 'return { integrations = { ["*"] = { trusted = true } }, limits = { instructions = 1000000 } }\n' >"$WORK/instr.lua"
printf 'return { integrations = { ["*"] = { trusted = true } }, limits = { memory = "32MB" } }\n' >"$WORK/mem.lua"

# ---------------------------------------------------------------------------
t "a runaway transform is stopped by the instruction limit: record quarantined, others load"
rm -rf "$WORK/data" "$WORK/runaway.txt"
integ runaway '
  extract = function(ctx) for i = 1, 4 do ctx:emit({ id = i }) end end,
  transform = function(r)
    if r.id == 2 then while true do end end
    return r
  end,
  load = function(batch)
    local f = assert(io.open("runaway.txt", "a"))
    for _, r in ipairs(batch) do f:write(r.id, "\n") end
    f:close()
  end,'
run_ferry_to 60 run -c instr.lua runaway.lua
expect_rc 3
expect_in "$out" "extracted 4 · transformed 3 · skipped 0 · loaded 3 · quarantined 1 (1 batch)"
expect_in "$out" "quarantined by class: script 1"
expect_eq "$(tr '\n' ' ' <"$WORK/runaway.txt" 2>/dev/null)" "1 3 4 "
expect_eq "$(qpy runaway '[(q["record"]["id"], q["stage"], q["class"], "instruction limit" in q["reason"]) for q in L]')" \
    "[(2, 'transform', 'script', True)]"

t "a runaway extract (loops without emitting) fails the run with the instruction limit"
rm -rf "$WORK/data"
integ runaway_extract '
  extract = function(ctx) local n = 0; while true do n = n + 1 end end,
  load = function(batch) end,'
run_ferry_to 60 run -c instr.lua runaway_extract.lua
expect_rc 1
expect_in "$out" "FAILED"
expect_in "$out" "error: extract: "
expect_in "$out" "instruction limit"

t "a runaway load is stopped too: its batch is quarantined"
rm -rf "$WORK/data"
integ runaway_load '
  extract = function(ctx) for i = 1, 3 do ctx:emit({ id = i }) end end,
  load = function(batch) while true do end end,'
run_ferry_to 60 run -c instr.lua runaway_load.lua
expect_rc 3
expect_in "$out" "loaded 0 · quarantined 3"
expect_eq "$(qpy runaway_load '[(q["stage"], q["class"], "instruction limit" in q["reason"]) for q in L]')" \
    "[('load', 'script', True), ('load', 'script', True), ('load', 'script', True)]"

# The guard sleeps through a call's first tick and is armed by a watchdog's
# signal (fy_watch.h) for a call that lasts: these cover the loops it must
# reach that way (a coroutine of the script's own, calls into C, the clock).
t "a runaway loop inside a coroutine of the script's own is stopped, even one that pcalls the error away"
rm -rf "$WORK/data"
integ corunaway '
  extract = function(ctx) for i = 1, 4 do ctx:emit({ id = i }) end end,
  transform = function(r)
    if r.id == 2 then coroutine.wrap(function() while true do end end)() end
    if r.id == 3 then
      local co = coroutine.create(function()
        local inner = coroutine.create(function() while true do end end)
        while true do coroutine.resume(inner) end
      end)
      while true do pcall(coroutine.resume, co) end
    end
    return r
  end,
  load = function(batch) end,'
run_ferry_to 60 run -c instr.lua corunaway.lua
expect_rc 3
expect_in "$out" "extracted 4 · transformed 2 · skipped 0 · loaded 2 · quarantined 2 (1 batch)"
expect_eq "$(qpy corunaway '[(q["record"]["id"], "instruction limit" in q["reason"]) for q in L]')" \
    "[(2, True), (3, True)]" "$(qpy corunaway '[q["reason"] for q in L]')"

t "limits.call_time stops a loop in pure Lua and one that only calls C functions, within the limit"
printf 'return { integrations = { ["*"] = { trusted = true } }, limits = { instructions = 1000000000000, call_time = "1s" } }\n' >"$WORK/calltime.lua"
rm -rf "$WORK/data"
integ spinning '
  extract = function(ctx) for i = 1, 3 do ctx:emit({ id = i }) end end,
  transform = function(r)
    if r.id == 1 then local n = 0; while true do n = n + 1 end end
    if r.id == 2 then while true do local s = string.rep("x", 10); s = s:upper() end end
    return r
  end,
  load = function(batch) end,'
start=$(date +%s)
run_ferry_to 60 run -c calltime.lua spinning.lua
expect_rc 3
expect_in "$out" "loaded 1 · quarantined 2"
expect_eq "$(qpy spinning '[(q["record"]["id"], "call time limit exceeded" in q["reason"]) for q in L]')" \
    "[(1, True), (2, True)]" "$(qpy spinning '[q["reason"] for q in L]')"
[ $(( $(date +%s) - start )) -lt 20 ] || fail "took $(( $(date +%s) - start )) s"

t "a runaway loop in the script's top level (load time) is stopped by the instruction limit"
rm -rf "$WORK/data"
{ printf 'local n = 0\nwhile true do n = n + 1 end\n'; } >"$WORK/toplevel.lua"
run_ferry_to 60 run -c instr.lua toplevel.lua
expect_in "$out$err" "instruction limit exceeded"

# ---------------------------------------------------------------------------
t "a memory-hungry transform hits the memory limit: record quarantined, others load, ferry survives"
rm -rf "$WORK/data" "$WORK/hungry.txt"
integ hungry '
  extract = function(ctx) for i = 1, 4 do ctx:emit({ id = i, pad = string.rep("p", 100) }) end end,
  transform = function(r)
    if r.id == 3 then
      local t = {}
      for i = 1, 100000000 do t[i] = string.rep("x", 100) .. i end
    end
    return { id = r.id }
  end,
  load = function(batch)
    local f = assert(io.open("hungry.txt", "a"))
    for _, r in ipairs(batch) do f:write(r.id, "\n") end
    f:close()
  end,'
run_ferry_to 120 run -c mem.lua hungry.lua
expect_rc 3
expect_in "$out" "== hungry  run "
expect_in "$out" "extracted 4 · transformed 3 · skipped 0 · loaded 3 · quarantined 1 (1 batch)"
expect_eq "$(tr '\n' ' ' <"$WORK/hungry.txt" 2>/dev/null)" "1 2 4 "
expect_eq "$(qpy hungry '[(q["record"]["id"], q["stage"], q["class"], "memory limit" in q["reason"]) for q in L]')" \
    "[(3, 'transform', 'script', True)]" "$(qpy hungry '[q["reason"] for q in L]')"
peak=$(sed -nE 's/.*Lua memory peak ([0-9.]+) MB.*/\1/p' <<<"$out")
expect_eq "$(python3 -c "print(0 < float('${peak:-0}') <= 32.5)")" "True" "Lua memory peak ${peak:-?} MB with a 32 MB limit"

# ---------------------------------------------------------------------------
t "a script that leaves its state at the memory limit: ferry reports it and goes on, never aborts"
# Its top-level code fills the state to SLACK bytes short of a 16 MB limit,
# so ferry's own allocations after the script's (reading the contract,
# making the run's coroutine, reading the result) land on the limit. Each
# used to raise outside protected mode: Lua's panic, SIGABRT, every run lost.
printf 'return { limits = { memory = "16MB" } }\n' >"$WORK/mem16.lua"
integ fine 'extract = function(ctx) ctx:emit({ id = 1 }) end, load = function(batch) end,'
aborted="" outcomes=""
for slack in 1000 30000 45000 50000 60000 80000 100000 120000 150000; do
    rm -rf "$WORK/data"
    integ atlimit "extract = function(ctx) ctx:emit({ id = 1 }) end, load = function(batch) end,"
    { printf 'hog = {}\nlocal target = 16 * 1024 * 1024 - %d\n' "$slack"
      printf 'while true do\n  local left = target - math.floor(collectgarbage("count") * 1024)\n'
      printf '  if left < 200 then break end\n  hog[#hog + 1] = string.rep("x", math.min(left - 100, 60000))\nend\n'
      cat "$WORK/atlimit.lua"; } >"$WORK/atlimit2.lua"
    run_ferry_to 60 run -c mem16.lua atlimit2.lua fine.lua
    case $rc in
    0) grep -q '== fine  run .*  OK' <<<"$out" && grep -q '== atlimit  run .*  OK' <<<"$out" && outcomes+="ok " ;;
    2) grep -q 'atlimit2.lua: memory limit exceeded .*limits.memory' <<<"$err$out" && outcomes+="refused " ;;
    *) aborted+="$slack:rc$rc " ;;
    esac
done
expect_eq "$aborted" "" "slack:exit status of runs that did not end normally"
expect_eq "$(wc -w <<<"$outcomes")" "9" "every case either ran both OK or refused the script by its limit: $outcomes"
expect_in "$outcomes" "ok"
expect_in "$outcomes" "refused"

# ---------------------------------------------------------------------------
t "upsert_async batches queued without waiting count against limits.memory"
# Each call packs 4 MB of rows in C for the writer thread; forty of them,
# never waited on, were 160 MB outside a 32 MB limit.
rm -rf "$WORK/data"
integ queued '
  extract = function(ctx) ctx:emit({ id = 1 }) end,
  load = function(batch)
    local db = ferry.sqlite.open("queued.db")
    local tbl = db:table{ name = "t", columns = { { "id", "integer", key = true }, { "body", "text" } } }
    local big, rows, pending = string.rep("b", 1000000), {}, {}
    for i = 1, 4 do rows[i] = { id = i, body = big } end
    for n = 1, 40 do pending[n] = tbl:upsert_async(rows, "r") end
  end,'
integ fine 'extract = function(ctx) ctx:emit({ id = 1 }) end, load = function(batch) end,'
run_ferry_to 120 run -c mem.lua queued.lua fine.lua
expect_rc 3
expect_in "$out" "== queued  run "
expect_in "$out" "loaded 0 · quarantined 1"
expect_eq "$(qpy queued '[(q["stage"], "upsert: the batch would take the integration past its memory limit (32 MB" in q["reason"]) for q in L]')" \
    "[('load', True)]" "$(qpy queued '[q["reason"] for q in L]')"
expect_eq "$(grep -cE "== fine  run [^ ]+  OK" <<<"$out")" "1"

# ---------------------------------------------------------------------------
t "a legit long extract (200,000 records, each with some work) is not stopped by the default guard"
rm -rf "$WORK/data"
# ~2,000 instructions per record, 400 million in all: twice the default
# limits.instructions, so only resetting the budget on every emit lets it pass.
integ longextract '
  extract = function(ctx)
    for i = 1, 200000 do
      local s = 0
      for j = 1, 1000 do s = s + j end
      ctx:emit({ i = i, s = s })
    end
  end,
  transform = function(r) return r end,
  load = function(batch) end,'
run_ferry_to 300 run longextract.lua
expect_rc 0
expect_in "$out" "extracted 200000 · transformed 200000 · skipped 0 · loaded 200000 · quarantined 0 (400 batches)"
expect_not_in "$out" "instruction limit"

# ---------------------------------------------------------------------------
t "the sandbox inside a script: no os.execute, io.popen, os.exit, debug.sethook, bytecode or C modules"
rm -rf "$WORK/data" "$WORK/sandbox.json"
printf '\033Lua\124\000\031\223\015\012\032\012\004\010\010' >"$WORK/bytecode.luac"
integ sandbox '
  extract = function(ctx)
    local function fact(name, ok, detail) ctx:emit({ name = name, ok = ok and true or false, detail = tostring(detail) }) end
    fact("os.execute", os.execute == nil, os.execute)
    fact("io.popen", io.popen == nil, io.popen)
    fact("os.exit", os.exit == nil, os.exit)
    fact("debug.sethook", debug.sethook == nil, debug.sethook)
    fact("debug.getinfo", debug.getinfo == nil, debug.getinfo)
    fact("string.dump", string.dump == nil, string.dump)
    fact("package.loadlib", package.loadlib == nil, package.loadlib)
    local f, err = load("\27Lua\84\0\25\147\13\10\26\10\4\8\8")
    fact("load binary", f == nil and tostring(err):find("binary"), err)
    f, err = load("\27Lua\84\0\25\147\13\10\26\10\4\8\8", "=b", "b")
    fact("load binary mode b", f == nil, err)
    f, err = loadfile("bytecode.luac")
    fact("loadfile binary", f == nil, err)
    local ok, e = pcall(dofile, "bytecode.luac")
    fact("dofile binary", not ok, e)
    ok, e = pcall(require, "cjson.safe")
    fact("require C module", not ok, e)
    fact("package.cpath", package.cpath == "", package.cpath)
    local dbg = require("debug")
    fact("require debug", dbg == debug and dbg.sethook == nil, dbg)
    f = load("return 1 + 1")
    fact("load text", f and f() == 2, f)
  end,
  load = function(batch)
    local f = assert(io.open("sandbox.json", "a"))
    for _, r in ipairs(batch) do f:write(ferry.json.encode(r), "\n") end
    f:close()
  end,'
run_ferry_to 60 run sandbox.lua
expect_rc 0
got=$(python3 -c '
import json, sys
facts = [json.loads(l) for l in open(sys.argv[1])]
bad = [f["name"] + " (" + f["detail"] + ")" for f in facts if not f["ok"]]
print(len(facts), "; ".join(bad) or "all ok")' "$WORK/sandbox.json" 2>&1)
expect_eq "$got" "15 all ok"

# ---------------------------------------------------------------------------
t "memory stays flat: peak RSS of a 1,000,000-row CSV run is close to a 100,000-row run"
if [ -n "${SANITIZE:-}" ]; then
    skip_t "RSS is not meaningful under ASan"
else
    rm -rf "$WORK/data"
    gen() {
        awk -v n="$1" 'BEGIN {
            print "id,name,email,amount,country"
            for (i = 1; i <= n; i++) printf "%d,Name %d,user%d@example.com,%d.%02d,C%d\n", i, i, i, i % 9973, i % 100, i % 50
        }' >"$2"
    }
    gen 100000 "$WORK/rows_100k.csv"
    gen 1000000 "$WORK/rows_1m.csv"
    for n in 100k 1m; do
        integ "rss_$n" "
  extract = function(ctx) ferry.source.csv(ctx, ferry.script_dir .. \"/rows_$n.csv\") end,
  transform = function(r)
    return { account_id = r.id, account_name = r.name, contact = r.email,
             arr = tonumber(r.amount), region = r.country }
  end,
  load = function(batch)
    local n = 0
    for _ = 1, #batch do n = n + 1 end
    return nil
  end,"
    done
    rss_of() { sed -nE 's/.*process peak RSS ([0-9.]+) MB.*/\1/p' <<<"$out"; }
    run_ferry_to 300 run rss_100k.lua
    expect_rc 0
    expect_in "$out" "extracted 100000 · transformed 100000 · skipped 0 · loaded 100000"
    small=$(rss_of)
    run_ferry_to 600 run rss_1m.lua
    expect_rc 0
    expect_in "$out" "extracted 1000000 · transformed 1000000 · skipped 0 · loaded 1000000 · quarantined 0"
    big=$(rss_of)
    expect_eq "$(python3 -c "print(float('${big:-0}') < 1.5 * float('${small:-0}') + 8)")" "True" \
        "peak RSS ${big:-?} MB at 1M rows vs ${small:-?} MB at 100k rows"
fi

done_t
