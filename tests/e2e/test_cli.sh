#!/usr/bin/env bash
# End-to-end tests of ferry's command line and engine configuration: help and
# usage errors, `ferry version`, config files (-c and $FERRY_CONFIG), data_dir,
# logs, batch_size, and the exit statuses of `ferry run`.
#
#   bash tests/e2e/test_cli.sh        or        ONLY=test_cli make test
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
unset FERRY_CONFIG FERRY_DATA_DIR

# lua_file NAME: writes $WORK/NAME from stdin.
lua_file() { cat >"$WORK/$1"; }

# has_line TEXT REGEX: fails the case unless some line of TEXT matches REGEX.
has_line() { grep -qE -- "$2" <<<"$1" || fail "no line matching /$2/ in: ${1:0:400}"; }

# run_id_of NAME: the run id in the "== NAME  run ID  STATUS" summary line of $out.
run_id_of() { sed -nE "s/^== $1  run ([^ ]+)  .*/\1/p" <<<"$out" | head -1; }

# ---- fixtures ---------------------------------------------------------------

# trivial: extract emits 3 records, load returns nothing.
lua_file trivial.lua <<'EOF'
return ferry.integration {
  name = "trivial", owner = "qa@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "fixture", freshness = "1h",
  extract = function(ctx) for i = 1, 3 do ctx:emit({ id = i }) end end,
  load = function(batch, ctx) end,
}
EOF

# rejecter: transform rejects record 2 (quarantined), loads the others.
lua_file rejecter.lua <<'EOF'
return ferry.integration {
  name = "rejecter", owner = "qa@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "fixture", freshness = "1h",
  extract = function(ctx) for i = 1, 3 do ctx:emit({ id = i }) end end,
  transform = function(r) if r.id == 2 then return nil, "id 2 is not allowed" end return r end,
  load = function(batch, ctx) end,
}
EOF

# failer: extract emits one record, then raises.
lua_file failer.lua <<'EOF'
return ferry.integration {
  name = "failer", owner = "qa@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "fixture", freshness = "1h",
  extract = function(ctx)
    ctx:emit({ id = 1 })
    error("source exploded")
  end,
  load = function(batch, ctx) end,
}
EOF

# logger: logs through ctx.log with fields.
lua_file logger.lua <<'EOF'
return ferry.integration {
  name = "logger", owner = "qa@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "fixture", freshness = "1h",
  extract = function(ctx)
    ctx.log.info("hello", { page = 3 })
    ctx:emit({ id = 1 })
  end,
  load = function(batch, ctx) end,
}
EOF

# batches.lua / batches4.lua: 20 records; load appends #batch to a file.
batches() {   # batches FILE NAME SIZES_FILE [EXTRA_FIELD_LINE]
    lua_file "$1" <<EOF
return ferry.integration {
  name = "$2", owner = "qa@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "fixture", freshness = "1h",
  ${4:-}
  extract = function(ctx) for i = 1, 20 do ctx:emit({ id = i }) end end,
  load = function(batch, ctx)
    local f = assert(io.open("$WORK/$3", "a"))
    f:write(#batch, "\n")
    f:close()
  end,
}
EOF
}
batches batches.lua batches sizes.txt
batches batches4.lua batches4 sizes4.txt "batch_size = 4,"

printf 'return { integrations = { ["*"] = { trusted = true } }, batch_size = 7 }\n' >"$WORK/batch7.lua"

# ---- help and usage ---------------------------------------------------------

for h in --help help; do
    t "cli: 'ferry $h' exits 0 and lists run, check, lua, version"
    run_ferry "$h"
    expect_rc 0
    for c in run check lua version; do has_line "$out" "^  $c( |$)"; done
    expect_in "$out" "Exit status"
    expect_eq "$err" "" "nothing on stderr"
done

t "cli: 'ferry' with no arguments exits 2 with the usage on stderr"
run_ferry
expect_rc 2
expect_in "$err" "Usage: ferry COMMAND"
has_line "$err" "^  run "
expect_eq "$out" "" "nothing on stdout"

t "cli: an unknown command exits 2 and names it"
run_ferry frobnicate
expect_rc 2
expect_in "$err" "unknown command 'frobnicate'"
expect_eq "$out" ""

t "cli: 'ferry help frobnicate' exits 2 and names it"
run_ferry help frobnicate
expect_rc 2
expect_in "$err" "frobnicate"

t "cli: 'ferry run --help' exits 0 and describes the exit statuses"
run_ferry run --help
expect_rc 0
expect_in "$out" "Usage: ferry run"
expect_in "$out" "Exit status"
expect_in "$out" "0 all loaded"
expect_in "$out" "3 some records quarantined"
expect_in "$out" "1 a run failed"
expect_in "$out" "2 a script"
expect_in "$out" "--config"

t "cli: 'ferry check --help' exits 0 and describes the exit statuses"
run_ferry check --help
expect_rc 0
expect_in "$out" "Usage: ferry check"
expect_in "$out" "FILE:LINE: FIELD: message"
expect_in "$out" "Exit status 0 when every script is valid, 1 when any has problems, 2 on a usage"

t "cli: 'ferry help run' is the same as 'ferry run --help'"
run_ferry run --help
want=$out
run_ferry help run
expect_rc 0
expect_eq "$out" "$want"

t "cli: an unknown option exits 2 and names it"
run_ferry run --bogus trivial.lua
expect_rc 2
expect_in "$err" "unknown option '--bogus'"
expect_not_in "$out" "== trivial"
[ ! -d "$WORK/data" ] || fail "ferry run --bogus created ./data"

t "cli: 'ferry run' with no files exits 2"
run_ferry run
expect_rc 2
expect_in "$err" "ferry run:"
expect_in "$err" "script"

t "cli: 'ferry check' with no files exits 2"
run_ferry check
expect_rc 2
expect_in "$err" "ferry check:"

t "cli: -c without a value exits 2"
run_ferry run trivial.lua -c
expect_rc 2
expect_in "$err" "-c needs a value"

t "cli: a bad --log-level exits 2"
run_ferry run --log-level loud trivial.lua
expect_rc 2
expect_in "$err" "--log-level"
expect_not_in "$out" "== trivial"

t "cli: a bad --log-level error names the value given"
run_ferry run --log-level loud trivial.lua
expect_rc 2
expect_in "$err" "loud"

t "cli: a bad --log-format exits 2"
run_ferry run --log-format xml trivial.lua
expect_rc 2
expect_in "$err" "--log-format"
expect_not_in "$out" "== trivial"

t "cli: 'ferry run' on a missing file exits 2 and names it"
run_ferry run no_such_script.lua
expect_rc 2
expect_in "$err" "no_such_script.lua"

# ---- version ------------------------------------------------------------------

for v in version --version; do
    t "cli: 'ferry $v' prints ferry's, Lua's and SQLite's versions"
    run_ferry "$v"
    expect_rc 0
    has_line "$(head -1 <<<"$out")" '^ferry [0-9A-Za-z][^ ]*$'
    has_line "$out" '^Lua 5\.4(\.[0-9]+)?$'
    has_line "$out" '^SQLite 3\.[0-9]+'
    has_line "$out" '^libevent '
    has_line "$out" '^libcurl/'
done

# ---- configuration ------------------------------------------------------------

t "config: the shipped config/ferry.lua is accepted"
run_ferry check -c "$ROOT/config/ferry.lua" trivial.lua
expect_rc 0
expect_in "$out" "trivial.lua: ok: trivial"
expect_eq "$err" ""

t "config: a custom valid config is accepted by run"
lua_file valid_cfg.lua <<'EOF'
return {
  integrations = { ["*"] = { trusted = true } },
  data_dir = "custom_data",
  batch_size = 50,
  log = { level = "warn", format = "json" },
  limits = { memory = "64MB", instructions = 1000000 },
}
EOF
run_ferry run -c valid_cfg.lua trivial.lua
expect_rc 0
expect_in "$out" "== trivial"
[ -d "$WORK/custom_data" ] || fail "data_dir custom_data was not created"
expect_eq "$err" "" "log level warn: no info lines"

t "config: durations may use long unit names (limits.call_time = \"90 seconds\", http.timeout = \"1 minute\")"
printf 'return { integrations = { ["*"] = { trusted = true } },\n  limits = { call_time = "90 seconds", run_time = "2 hours" },\n  http = { timeout = "1 minute", connect_timeout = "10 secs" } }\n' >"$WORK/longunits_cfg.lua"
run_ferry check -c longunits_cfg.lua trivial.lua
expect_rc 0
expect_in "$out" "trivial.lua: ok: trivial"
expect_eq "$err" ""

t "config: an unknown key exits 2 naming the key and the file"
printf 'return { integrations = { ["*"] = { trusted = true } }, data_dri = "x" }\n' >"$WORK/typo.lua"
run_ferry run -c typo.lua trivial.lua
expect_rc 2
expect_in "$err" "typo.lua"
expect_in "$err" "data_dri"
expect_in "$err" "data_dir"          # the known keys are listed
expect_not_in "$out" "== trivial"

t "config: several mistakes are all reported, one line each with its key, then exit 2"
lua_file many_cfg.lua <<'EOF'
return {
  integrations = { ["*"] = { trusted = true }, crm = { secret = { "CRM_KEY" } } },
  data_dri = "x",
  batch_size = "ten",
  log = { levle = "info" },
  limits = { memory = "lots", call_time = "soon" },
}
EOF
run_ferry run -c many_cfg.lua trivial.lua
expect_rc 2
expect_eq "$(grep -c '^ferry: config error: many_cfg.lua: ' <<<"$err")" 6 "lines naming a mistake"
expect_in "$err" "many_cfg.lua: unknown key 'data_dri'"
expect_in "$err" "many_cfg.lua: batch_size: expected an integer"
expect_in "$err" "many_cfg.lua: unknown key 'log.levle'"
expect_in "$err" "many_cfg.lua: limits.memory: expected"
expect_in "$err" "many_cfg.lua: limits.call_time: expected"
expect_in "$err" "many_cfg.lua: unknown key 'integrations[\"crm\"].secret'"
expect_not_in "$out" "== trivial"

t "config: a nested unknown key is named with its section"
printf 'return {\n  integrations = { ["*"] = { trusted = true } },\n  log = { levle = "info" },\n}\n' >"$WORK/nested.lua"
run_ferry check -c nested.lua trivial.lua
expect_rc 2
expect_in "$err" "nested.lua"
expect_in "$err" "log.levle"
expect_not_in "$out" "ok:"

t "config: batch_size = \"ten\" exits 2 naming batch_size"
printf 'return { integrations = { ["*"] = { trusted = true } }, batch_size = "ten" }\n' >"$WORK/ten.lua"
run_ferry run -c ten.lua trivial.lua
expect_rc 2
expect_in "$err" "ten.lua"
expect_in "$err" "batch_size"
expect_not_in "$out" "== trivial"

t "config: batch_size = 0 is out of range"
printf 'return { integrations = { ["*"] = { trusted = true } }, batch_size = 0 }\n' >"$WORK/zero.lua"
run_ferry run -c zero.lua trivial.lua
expect_rc 2
expect_in "$err" "batch_size"
expect_in "$err" "got 0"

t "config: limits.memory = \"lots\" exits 2 naming limits.memory"
printf 'return { integrations = { ["*"] = { trusted = true } }, limits = { memory = "lots" } }\n' >"$WORK/memory_cfg.lua"
run_ferry run -c memory_cfg.lua trivial.lua
expect_rc 2
expect_in "$err" "memory_cfg.lua"
expect_in "$err" "limits.memory"
expect_not_in "$out" "== trivial"

t "config: a malformed limits.memory size shows the value given"
run_ferry run -c memory_cfg.lua trivial.lua
expect_rc 2
expect_in "$err" "lots"
expect_not_in "$err" "got string"

t "config: log.level = \"loud\" exits 2 naming log.level and the value"
printf 'return { integrations = { ["*"] = { trusted = true } }, log = { level = "loud" } }\n' >"$WORK/level_cfg.lua"
run_ferry run -c level_cfg.lua trivial.lua
expect_rc 2
expect_in "$err" "level_cfg.lua"
expect_in "$err" "log.level"
expect_in "$err" "loud"

t "config: a section that is not a table exits 2 naming it"
printf 'return { integrations = { ["*"] = { trusted = true } }, log = "verbose" }\n' >"$WORK/logstr.lua"
run_ferry run -c logstr.lua trivial.lua
expect_rc 2
expect_in "$err" "log: expected a table"

t "config: a config that loops is stopped with a clear error, exit 2"
printf 'local s = "x"\nwhile true do s = 3 .. s end\n' >"$WORK/loop_cfg.lua"
(cd "$WORK" && timeout 30 "$FERRY" check -c loop_cfg.lua trivial.lua) >"$WORK/loop.out" 2>&1
rc=$?
expect_rc 2
expect_in "$(cat "$WORK/loop.out")" "(a loop?)"

t "config: error() with a table is a clear error, not (null)"
printf 'error({})\n' >"$WORK/errtab_cfg.lua"
run_ferry check -c errtab_cfg.lua trivial.lua
expect_rc 2
expect_in "$err" "errtab_cfg.lua: the config raised an error that is not a string"

t "config: a syntax error exits 2 with file:line"
lua_file syntax_cfg.lua <<'EOF'
return {
  data_dir = "x",
  batch_size = = 7,
}
EOF
run_ferry run -c syntax_cfg.lua trivial.lua
expect_rc 2
expect_in "$err" "syntax_cfg.lua:3:"
expect_not_in "$out" "== trivial"

t "config: a missing config file exits 2 naming it"
run_ferry run -c no_such_config.lua trivial.lua
expect_rc 2
expect_in "$err" "no_such_config.lua"
expect_not_in "$out" "== trivial"

t "config: a config that returns a non-table exits 2"
printf 'return 42\n' >"$WORK/number_cfg.lua"
run_ferry run -c number_cfg.lua trivial.lua
expect_rc 2
expect_in "$err" "number_cfg.lua"
expect_in "$err" "must return a table"
expect_not_in "$out" "== trivial"

t "config: a config that raises exits 2 with its message"
printf 'error("no FERRY_DATA_DIR set")\n' >"$WORK/raise_cfg.lua"
run_ferry run -c raise_cfg.lua trivial.lua
expect_rc 2
expect_in "$err" "raise_cfg.lua:1:"
expect_in "$err" "no FERRY_DATA_DIR set"

t "config: the config may read the environment with os.getenv"
printf 'return { integrations = { ["*"] = { trusted = true } }, data_dir = os.getenv("CLI_TEST_DIR") }\n' >"$WORK/env_cfg.lua"
CLI_TEST_DIR="$WORK/from_env" run_ferry run -c env_cfg.lua --log-level off trivial.lua
expect_rc 0
[ -d "$WORK/from_env" ] || fail "data_dir from os.getenv was not used"

t "config: FERRY_CONFIG with an unknown key is an error like -c"
FERRY_CONFIG=typo.lua run_ferry run trivial.lua
expect_rc 2
expect_in "$err" "typo.lua"
expect_in "$err" "data_dri"
expect_not_in "$out" "== trivial"

t "config: FERRY_CONFIG naming a missing file exits 2 naming it"
FERRY_CONFIG=no_such_config.lua run_ferry check trivial.lua
expect_rc 2
expect_in "$err" "no_such_config.lua"

t "config: a valid FERRY_CONFIG is used (its batch_size)"
rm -f "$WORK/sizes.txt"
FERRY_CONFIG=batch7.lua run_ferry run --log-level off batches.lua
expect_rc 0
expect_eq "$(tr '\n' ,<"$WORK/sizes.txt" 2>/dev/null)" "7,7,6," "batch sizes"

t "config: -c overrides FERRY_CONFIG"
FERRY_CONFIG=typo.lua run_ferry run -c batch7.lua --log-level off trivial.lua
expect_rc 0
expect_in "$out" "== trivial"

# ---- no config, data_dir ------------------------------------------------------

t "run: no config at all, from an empty dir: exit 0 and ./data is created"
mkdir "$WORK/fresh"
WORK=$WORK/fresh run_ferry run "$WORK/trivial.lua"
expect_rc 0
expect_in "$out" "== trivial"
expect_in "$out" "OK"
expect_in "$out" "extracted 3"
expect_in "$out" "loaded 3"
[ -d "$WORK/fresh/data" ] || fail "./data was not created in the directory ferry ran in"

t "run: the quarantine goes into the store under data_dir from the config, and the summary says so"
printf 'return { integrations = { ["*"] = { trusted = true } }, data_dir = "%s/elsewhere" }\n' "$WORK" >"$WORK/elsewhere_cfg.lua"
rm -rf "$WORK/data"
run_ferry run -c elsewhere_cfg.lua rejecter.lua
expect_rc 3
[ ! -e "$WORK/data" ] || fail "something written under ./data too"
expect_in "$out" "quarantine: 1 open (oldest "; expect_in "$out" "· ferry quarantine list rejecter"
expect_eq "$(quarantine_py "$WORK/elsewhere" rejecter '[(q["stage"], q["class"], q["reason"], q["record"]["id"]) for q in L]')" \
    "[('transform', 'validation', 'id 2 is not allowed', 2)]" "the quarantined record"
run_ferry quarantine list -c elsewhere_cfg.lua
expect_rc 0
expect_in "$out" "id 2 is not allowed"

# ---- relative paths in a config: from the config file's directory ----------------

mkdir -p "$WORK/proj/scripts" "$WORK/proj/exports" "$WORK/elsewhere/deeper"
printf 'id\n1\n2\n' >"$WORK/proj/exports/ids.csv"
lua_file proj/scripts/reader.lua <<EOF
return ferry.integration {
  name = "reader", owner = "qa@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "fixture", freshness = "1h",
  extract = function(ctx) ferry.source.csv(ctx, "$WORK/proj/exports/ids.csv") end,
  load = function(batch, ctx) end,
}
EOF
lua_file proj/ferry.lua <<'EOF'
return {
  data_dir = "store",
  script_dirs = { "scripts" },
  integrations = { reader = { dirs = { "exports" }, script = "scripts/reader.lua" } },
}
EOF

t "config paths: the same config from two working directories reaches one store (data_dir relative to the config file)"
(cd "$WORK/proj" && "$FERRY" run -c ferry.lua --log-level off scripts/reader.lua) >"$WORK/p1.out" 2>&1
rc=$?
expect_rc 0
(cd "$WORK/elsewhere/deeper" && "$FERRY" run -c ../../proj/ferry.lua --log-level off ../../proj/scripts/reader.lua) \
    >"$WORK/p2.out" 2>&1
rc=$?
expect_rc 0
expect_in "$(cat "$WORK/p2.out")" "extracted 2"
expect_eq "$(sql "$WORK/proj/store/ferry.db" "SELECT count(*) FROM runs WHERE integration = 'reader'")" "2" "runs in proj/store"
[ ! -e "$WORK/elsewhere/deeper/store" ] || fail "a second store was made under the other working directory"
[ ! -e "$WORK/proj/data" ] && [ ! -e "$WORK/elsewhere/deeper/data" ] || fail "a store under ./data"
(cd "$WORK/elsewhere" && "$FERRY" status -c ../proj/ferry.lua) >"$WORK/p3.out" 2>&1
expect_in "$(cat "$WORK/p3.out")" "reader"
expect_in "$(cat "$WORK/p1.out")" "extracted 2"

t "config paths: granted dirs and a script pin are relative to the config file too"
(cd "$WORK/elsewhere/deeper" && "$FERRY" run -c "$WORK/proj/ferry.lua" --log-level off "$WORK/proj/scripts/reader.lua") \
    >"$WORK/p4.out" 2>&1
rc=$?
expect_rc 0
expect_in "$(cat "$WORK/p4.out")" "loaded 2"

t "config paths: a config that sets no data_dir keeps its store next to itself, not in the working directory"
mkdir -p "$WORK/bare"
printf 'return { integrations = { ["*"] = { trusted = true } } }\n' >"$WORK/bare/cfg.lua"
(cd "$WORK/elsewhere" && "$FERRY" run -c ../bare/cfg.lua --log-level off "$WORK/trivial.lua") >"$WORK/p5.out" 2>&1
rc=$?
expect_rc 0
[ -f "$WORK/bare/data/ferry.db" ] || fail "no store in the config's directory (bare/data)"
[ ! -e "$WORK/elsewhere/data" ] || fail "a store was made under the working directory"

t "config paths: without a config file, data_dir stays relative to the working directory"
rm -rf "$WORK/elsewhere/data"
(cd "$WORK/elsewhere" && FERRY_CONFIG= "$FERRY" run --log-level off "$WORK/trivial.lua") >"$WORK/p6.out" 2>&1
rc=$?
expect_rc 0
[ -f "$WORK/elsewhere/data/ferry.db" ] || fail "no store under ./data of the working directory"

# ---- logs -----------------------------------------------------------------------

t "logs: --log-level off silences stderr"
run_ferry run --log-level off logger.lua
expect_rc 0
expect_in "$out" "== logger"
expect_eq "$err" "" "stderr"

t "logs: log.level = \"off\" in the config silences stderr, --log-level info overrides it"
printf 'return { integrations = { ["*"] = { trusted = true } }, log = { level = "off" } }\n' >"$WORK/off_cfg.lua"
run_ferry run -c off_cfg.lua logger.lua
expect_rc 0
expect_eq "$err" "" "stderr with log.level off"
run_ferry run -c off_cfg.lua --log-level info logger.lua
expect_rc 0
expect_in "$err" '"msg":"run started"'

t "logs: by default every stderr line is JSON with time, level, integration, run, msg"
run_ferry run logger.lua
expect_rc 0
id=$(run_id_of logger)
[ -n "$id" ] || fail "no run id in the summary: $out"
check=$(python3 -c '
import json, sys
run_id, text = sys.argv[1], sys.argv[2]
lines = [l for l in text.split("\n") if l]
assert lines, "no log lines"
for l in lines:
    r = json.loads(l)
    for k in ("time", "level", "integration", "run", "msg"):
        assert k in r, "missing %s in %s" % (k, l)
    assert r["integration"] == "logger", l
    assert r["run"] == run_id, l
    assert r["level"] in ("debug", "info", "warn", "error"), l
print("ok", len(lines))' "$id" "$err" 2>&1)
has_line "$check" '^ok [0-9]+$'
expect_in "$err" '"msg":"run started"'
expect_in "$err" '"msg":"run finished"'
expect_not_in "$out" '"msg"'

t "logs: --log-format text gives non-JSON lines"
run_ferry run --log-format text logger.lua
expect_rc 0
[ -n "$err" ] || fail "no log lines"
expect_not_in "$err" '{"time"'
has_line "$err" ' info .*logger.*run started'
expect_eq "$(grep -c '^{' <<<"$err")" 0 "lines starting with {"

t "logs: ctx.log.info(msg, fields) is a JSON line with the fields, integration and run id"
run_ferry run logger.lua
expect_rc 0
id=$(run_id_of logger)
line=$(grep -F '"msg":"hello"' <<<"$err")
expect_in "$line" '"msg":"hello","page":3'
expect_in "$line" '"integration":"logger"'
expect_in "$line" "\"run\":\"$id\""
expect_in "$line" '"level":"info"'
expect_eq "$(python3 -c 'import json,sys; r = json.loads(sys.argv[1]); print(r["msg"], r["page"], r["integration"])' "$line" 2>&1)" \
    "hello 3 logger"

# ---- batch_size -------------------------------------------------------------------

t "batch_size: the config's batch_size is used when the script sets none"
rm -f "$WORK/sizes.txt"
run_ferry run -c batch7.lua --log-level off batches.lua
expect_rc 0
expect_eq "$(tr '\n' ,<"$WORK/sizes.txt" 2>/dev/null)" "7,7,6," "batch sizes"
expect_in "$out" "(3 batches)"

t "batch_size: the script's batch_size overrides the config's"
rm -f "$WORK/sizes4.txt"
run_ferry run -c batch7.lua --log-level off batches4.lua
expect_rc 0
expect_eq "$(tr '\n' ,<"$WORK/sizes4.txt" 2>/dev/null)" "4,4,4,4,4," "batch sizes"

t "batch_size: with a config that sets none, batches are of the default 500"
rm -f "$WORK/sizes.txt"
run_ferry run -c "$WORK/trusted.lua" --log-level off batches.lua
expect_rc 0
expect_eq "$(tr '\n' ,<"$WORK/sizes.txt" 2>/dev/null)" "20," "batch sizes"

# ---- exit statuses of ferry run ------------------------------------------------------

t "run: exit 0 when every record is loaded"
run_ferry run --log-level off trivial.lua
expect_rc 0
has_line "$out" '^== trivial  run [^ ]+  OK$'

t "run: exit 3 when a record is quarantined"
run_ferry run --log-level off rejecter.lua
expect_rc 3
has_line "$out" '^== rejecter  run [^ ]+  PARTIAL$'
expect_in "$out" "quarantined 1"
expect_in "$out" "loaded 2"

t "run: exit 1 when extract raises; the summary says FAILED and shows the error"
run_ferry run --log-level off failer.lua
expect_rc 1
has_line "$out" '^== failer  run [^ ]+  FAILED$'
expect_in "$out" "source exploded"
expect_in "$out" "failer.lua:6:"

t "run: one ok and one failing script: exit 1, both summaries"
run_ferry run --log-level off trivial.lua failer.lua
expect_rc 1
has_line "$out" '^== trivial  run [^ ]+  OK$'
has_line "$out" '^== failer  run [^ ]+  FAILED$'

t "run: one ok and one partial script: exit 3"
run_ferry run --log-level off trivial.lua rejecter.lua
expect_rc 3
has_line "$out" '^== trivial  run [^ ]+  OK$'
has_line "$out" '^== rejecter  run [^ ]+  PARTIAL$'

t "run: one partial and one failing script: exit 1 (the worst wins)"
run_ferry run --log-level off rejecter.lua failer.lua
expect_rc 1
has_line "$out" '^== rejecter  run [^ ]+  PARTIAL$'
has_line "$out" '^== failer  run [^ ]+  FAILED$'

done_t
