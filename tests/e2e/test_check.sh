#!/usr/bin/env bash
# End-to-end tests of `ferry check FILE...`: the script contract, every problem
# reported as FILE:LINE: FIELD: message (with the line the field is written
# on), the one-line summary of a valid script, and exit statuses.
#
#   bash tests/e2e/test_check.sh        or        ONLY=test_check make test
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
unset FERRY_CONFIG

# lua_file NAME: writes $WORK/NAME from stdin.
lua_file() { cat >"$WORK/$1"; }

# lineof FILE TEXT: the number of the first line of $WORK/FILE containing TEXT.
lineof() { grep -nF -m1 -- "$2" "$WORK/$1" | cut -d: -f1; }

# nlines TEXT: how many non-empty lines TEXT has.
nlines() { grep -c . <<<"$1"; }

# fields [SKIP...]: the fields of a valid integration, one per line, without
# the ones named. Hooks have side effects (files in the run directory) so a
# test can tell whether they ran.
fields() {
    local skip=" $* " line key
    while IFS= read -r line; do
        key=${line%%=*}; key=${key// /}
        [[ $skip == *" $key "* ]] || printf '%s\n' "$line"
    done <<'EOF'
  name = "orders-to-reporting",
  owner = "qa@example.com",
  purpose = "Weekly order volume per region",
  pattern = "reporting",
  source_of_truth = "erp",
  freshness = "2h",
  extract = function(ctx) ctx:emit({ id = 1 }) end,
  transform = function(r) return r end,
  load = function(batch) end,
EOF
}

# integ FILE BODY: a script the way people write them: a header comment and a
# local before `return ferry.integration {` (so the call is not on line 1),
# then BODY (field lines), then the closing brace.
integ() {
    printf '%s\n' \
        "-- $1: a test integration for ferry check." \
        "-- The fields below follow the contract in the README." \
        "local json = ferry.json" \
        "" \
        "return ferry.integration {" \
        "$2" \
        "}" >"$WORK/$1"
}

# ---------------------------------------------------------------- valid scripts

t "check: a valid script exits 0 with one summary line naming it, its pattern and owner"
integ valid.lua "$(fields)
  schedule = \"every 15m\","
run_ferry check valid.lua
expect_rc 0
expect_in "$out" "valid.lua: ok: orders-to-reporting ("
expect_in "$out" "reporting"
expect_in "$out" "owner qa@example.com"
expect_in "$out" "source of truth erp"
expect_in "$out" "freshness 2h"
expect_in "$out" "schedule every 15m"
expect_eq "$(nlines "$out")" 1 "one line of output for one valid script"
expect_not_in "$out" "scripts ok"

t "check: durations may use long unit names: \"every 15 minutes\", \"2 hours\", \"30 seconds\""
integ longunits.lua "$(fields freshness)
  freshness = \"2 hours\",
  schedule = \"every 15 minutes\",
  policy = { retry = { attempts = 3, base = \"30 seconds\", max = \"5 mins\" },
             alert = { to = { \"log\" }, escalate = { after = \"4 hours\", to = \"log\" } } },"
run_ferry check longunits.lua
expect_rc 0
expect_in "$out" "longunits.lua: ok: orders-to-reporting ("
expect_in "$out" "freshness 2 hours"
expect_in "$out" "schedule every 15m"      # the summary prints the schedule normalised

t "check: the shipped example scripts both pass"
run_ferry check "$ROOT/scripts/crm_accounts.lua" "$ROOT/scripts/helpdesk_tickets.lua"
expect_rc 0
expect_in "$out" "$ROOT/scripts/crm_accounts.lua: ok: crm-accounts-to-reporting (reporting, owner revops@example.com"
expect_in "$out" "$ROOT/scripts/helpdesk_tickets.lua: ok: helpdesk-tickets-to-reporting (reporting, owner cs-ops@example.com"
expect_in "$out" "2 of 2 scripts ok"

t "check: transform is optional"
integ notr.lua "$(fields transform)"
run_ferry check notr.lua
expect_rc 0
expect_in "$out" "notr.lua: ok: orders-to-reporting"
expect_not_in "$out" "transform:"

t "check: a webhook trigger and a cron schedule are valid"
integ hook.lua "$(fields)
  trigger = { webhook = \"orders\" },
  schedule = \"*/5 9-17 * * 1-5\","
run_ferry check hook.lua
expect_rc 0
expect_in "$out" "hook.lua: ok: orders-to-reporting"

# ---------------------------------------------------------------- missing fields

# A missing field has no line of its own: it is reported at the line of the
# `ferry.integration {` call (line 5 of every integ fixture).
for f in owner purpose source_of_truth freshness extract load; do
    t "check: missing $f is reported at the line of the ferry.integration call"
    integ "missing_$f.lua" "$(fields "$f")"
    call=$(lineof "missing_$f.lua" "ferry.integration {")
    run_ferry check "missing_$f.lua"
    expect_rc 1
    expect_in "$out" "missing_$f.lua:$call: $f: missing"
    expect_eq "$(nlines "$out")" 1 "only the missing $f is a problem"
    expect_not_in "$out" ": ok:"
done

# An empty owner pages nobody; an empty name, purpose or source of truth
# says nothing. Each is a problem at its own line, and `ferry run` refuses
# the script as well (exit 2, nothing runs).
for f in name owner purpose pattern source_of_truth freshness; do
    for v in '""' '"  "'; do
        t "check: $f = $v is a problem at its line (a required field must say something)"
        integ "empty_$f.lua" "$(fields "$f")
  $f = $v,"
        run_ferry check "empty_$f.lua"
        expect_rc 1
        expect_in "$out" "empty_$f.lua:$(lineof "empty_$f.lua" "$f = $v"): $f: expected a non-empty string"
        expect_not_in "$out" ": ok:"
    done
done

t "run: a script whose owner is empty is refused, exit 2, and nothing runs"
integ emptyowner_run.lua "$(fields owner)
  owner = \"\","
run_ferry run emptyowner_run.lua
expect_rc 2
expect_in "$err$out" "owner: expected a non-empty string"
[ -e "$WORK/data/ferry.db" ] && [ -n "$(sql "$WORK/data/ferry.db" "SELECT id FROM runs" 2>/dev/null)" ] &&
    fail "a run was recorded: $(sql "$WORK/data/ferry.db" "SELECT id, status FROM runs")"

t "check: missing owner says what an owner is for"
integ noowner.lua "$(fields owner)"
run_ferry check noowner.lua
expect_rc 1
expect_in "$out" "noowner.lua:5: owner: missing (who is paged when it fails"

t "check: a field is found after the call even when earlier lines mention it"
lua_file shadow.lua <<'EOF'
-- pattern = "reporting" is what this one will become
local pattern = "workflow"
local owner = "someone"

return ferry.integration {
  name = "shadowed",
  owner = 42,
  purpose = "test", source_of_truth = "erp", freshness = "1h",
  pattern = "batch",
  extract = function(ctx) end,
  load = function(batch) end,
}
EOF
run_ferry check shadow.lua
expect_rc 1
expect_in "$out" "shadow.lua:$(lineof shadow.lua 'pattern = "batch"'): pattern: unknown pattern \"batch\""
expect_in "$out" "shadow.lua:$(lineof shadow.lua 'owner = 42'): owner: expected a non-empty string"

t "check: a comment mentioning ferry.integration { does not move the call line"
lua_file comment.lua <<'EOF'
-- Every script returns ferry.integration { ... }; see the README.
local json = ferry.json

return ferry.integration {
  name = "commented", purpose = "test", pattern = "reporting",
  source_of_truth = "erp", freshness = "1h",
  extract = function(ctx) end,
  load = function(batch) end,
}
EOF
run_ferry check comment.lua
expect_rc 1
expect_in "$out" "comment.lua:4: owner: missing"

t "check: the call line is found when the brace is on the next line"
lua_file brace.lua <<'EOF'
-- brace on its own line
local json = ferry.json

return ferry.integration
{
  name = "brace", purpose = "test", pattern = "reporting",
  source_of_truth = "erp", freshness = "1h",
  extract = function(ctx) end,
  load = function(batch) end,
}
EOF
run_ferry check brace.lua
expect_rc 1
expect_in "$out" ": owner: missing"
grep -qE '^brace\.lua:(4|5): owner: missing' <<<"$out" || fail "owner reported at line $(cut -d: -f2 <<<"$out"), expected 4 or 5 (the call)"

t "check: a key inside a hook body does not shadow the field written after it"
lua_file inhook.lua <<'EOF'
return ferry.integration {
  name = "inhook", owner = "qa@example.com", purpose = "test",
  source_of_truth = "erp", freshness = "1h",
  extract = function(ctx)
    local rec = { pattern = "weekly" }
    ctx:emit(rec)
  end,
  pattern = "batch",
  load = function(batch) end,
}
EOF
run_ferry check inhook.lua
expect_rc 1
expect_in "$out" "inhook.lua:8: pattern: unknown pattern \"batch\""

# ---------------------------------------------------------------- wrong values

t "check: unknown pattern names the value and the allowed ones, at its line"
integ pattern.lua "$(fields pattern)
  pattern = \"batch\","
run_ferry check pattern.lua
expect_rc 1
expect_in "$out" "pattern.lua:$(lineof pattern.lua 'pattern = "batch"'): pattern: unknown pattern \"batch\""
expect_in "$out" '"workflow"'
expect_in "$out" '"reporting"'
expect_eq "$(nlines "$out")" 1

t "check: owner = 42 is a wrong type, reported at its line"
integ owner42.lua "$(fields owner)
  owner = 42,"
run_ferry check owner42.lua
expect_rc 1
expect_in "$out" "owner42.lua:$(lineof owner42.lua 'owner = 42'): owner: expected a non-empty string"
expect_eq "$(nlines "$out")" 1

t "check: a hook that is not a function is reported at its line"
integ hookstr.lua "$(fields extract)
  extract = \"not a function\","
run_ferry check hookstr.lua
expect_rc 1
expect_in "$out" "hookstr.lua:$(lineof hookstr.lua 'extract = "not a function"'): extract: expected a function, got string"
expect_eq "$(nlines "$out")" 1

t "check: a bad freshness duration names the unknown unit"
integ fresh.lua "$(fields freshness)
  freshness = \"15x\","
run_ferry check fresh.lua
expect_rc 1
expect_in "$out" "fresh.lua:$(lineof fresh.lua 'freshness = "15x"'): freshness: "
expect_in "$out" "unknown unit 'x'"
expect_eq "$(nlines "$out")" 1

# A freshness of zero would call the data stale the moment a run ends.
for v in 0s 0m 0; do
    t "check: freshness = \"$v\" is refused: it must be longer than 0s"
    integ fresh0.lua "$(fields freshness)
  freshness = \"$v\","
    run_ferry check fresh0.lua
    expect_rc 1
    expect_in "$out" "fresh0.lua:$(lineof fresh0.lua "freshness = \"$v\""): freshness: "
    expect_not_in "$out" ": ok:"
done
t "check: freshness = \"0s\" says it must be longer than 0s"
integ fresh0.lua "$(fields freshness)
  freshness = \"0s\","
run_ferry check fresh0.lua
expect_in "$out" "must be longer than 0s"

t "check: schedule \"every 15x\" names the unknown unit"
integ every.lua "$(fields)
  schedule = \"every 15x\","
run_ferry check every.lua
expect_rc 1
expect_in "$out" "every.lua:$(lineof every.lua 'schedule = "every 15x"'): schedule: "
expect_in "$out" "unknown unit 'x'"

t "check: schedule \"sometimes\" is rejected at its line"
integ sometimes.lua "$(fields)
  schedule = \"sometimes\","
run_ferry check sometimes.lua
expect_rc 1
expect_in "$out" "sometimes.lua:$(lineof sometimes.lua 'schedule = "sometimes"'): schedule: "
expect_in "$out" "sometimes"

t "check: a 4-field cron expression is rejected"
integ cron4.lua "$(fields)
  schedule = \"61 * * *\","
run_ferry check cron4.lua
expect_rc 1
expect_in "$out" "cron4.lua:$(lineof cron4.lua 'schedule = "61 * * *"'): schedule: "
expect_in "$out" "5-field cron"
expect_in "$out" '"61 * * *"'

t "check: a 5-field cron with an out-of-range minute (61) is rejected"
integ cron61.lua "$(fields)
  schedule = \"61 * * * *\","
run_ferry check cron61.lua
expect_rc 1
expect_in "$out" "cron61.lua:$(lineof cron61.lua 'schedule = "61 * * * *"'): schedule: "
expect_not_in "$out" ": ok:"

t "check: schedule \"every 0s\" is rejected (interval at least 1s)"
integ every0.lua "$(fields)
  schedule = \"every 0s\","
run_ferry check every0.lua
expect_rc 1
expect_in "$out" "every0.lua:$(lineof every0.lua 'schedule = "every 0s"'): schedule: interval must be at least 1s"

# The schedule is read by the same C parser that ferry serve uses
# (fy_schedule, through ferry.time.schedule_check); the summary prints it
# normalised, with the zone of a cron expression.
t "check: a cron string is summarised with its zone (UTC by default)"
integ cronsum.lua "$(fields)
  schedule = \"0  7 * * 1-5\","
run_ferry check cronsum.lua
expect_rc 0
expect_in "$out" "schedule cron 0 7 * * 1-5 (UTC)"

t "check: @daily is a schedule"
integ daily.lua "$(fields)
  schedule = \"@daily\","
run_ferry check daily.lua
expect_rc 0
expect_in "$out" "daily.lua: ok: orders-to-reporting"
expect_in "$out" "schedule cron @daily (UTC)"

if [ -f /usr/share/zoneinfo/Europe/Berlin ]; then
    t "check: the table form with cron, tz and jitter"
    integ table.lua "$(fields)
  schedule = { cron = \"0 7 * * 1-5\", tz = \"Europe/Berlin\", jitter = \"30s\" },"
    run_ferry check table.lua
    expect_rc 0
    expect_in "$out" "table.lua: ok: orders-to-reporting"
    expect_in "$out" "schedule cron 0 7 * * 1-5 (Europe/Berlin) (jitter 30s)"

    t "check: the config's timezone applies to a cron schedule that names none"
    printf 'return { timezone = "Europe/Berlin" }\n' >"$WORK/berlin.conf.lua"
    integ cfgtz.lua "$(fields)
  schedule = \"30 2 * * *\","
    run_ferry check -c berlin.conf.lua cfgtz.lua
    expect_rc 0
    expect_in "$out" "schedule cron 30 2 * * * (Europe/Berlin)"
else
    echo "skip check: the table form with a zone (no /usr/share/zoneinfo/Europe/Berlin: install tzdata)"
fi

t "check: the table form with every and jitter"
integ tevery.lua "$(fields)
  schedule = { every = \"1h\", jitter = \"5m\" },"
run_ferry check tevery.lua
expect_rc 0
expect_in "$out" "schedule every 1h (jitter 5m)"

t "check: an unknown time zone in the table form is reported at the tz line"
integ badtz.lua "$(fields)
  schedule = {
    cron = \"0 7 * * 1-5\",
    tz = \"Mars/Olympus_Mons\",
  },"
run_ferry check badtz.lua
expect_rc 1
expect_in "$out" "badtz.lua:$(lineof badtz.lua 'tz = "Mars/Olympus_Mons"'): schedule.tz: unknown time zone \"Mars/Olympus_Mons\""
expect_eq "$(nlines "$out")" 1 "one problem"

t "check: a bad cron item names the field, the item and the range"
integ baditem.lua "$(fields)
  schedule = \"0 7 * * mon-fry\","
run_ferry check baditem.lua
expect_rc 1
expect_in "$out" "baditem.lua:$(lineof baditem.lua 'schedule = "0 7'): schedule: cron day of week: 'mon-fry' is not *, a number 0-7, a name sun-sat"

t "check: a bad cron item in the table form is reported at the cron line"
integ tbaditem.lua "$(fields)
  schedule = {
    cron = \"0 25 * * *\",
  },"
run_ferry check tbaditem.lua
expect_rc 1
expect_in "$out" "tbaditem.lua:$(lineof tbaditem.lua 'cron = "0 25'): schedule.cron: cron hour: '25' is outside 0-23"

t "check: a cron expression that never runs is rejected"
integ feb30.lua "$(fields)
  schedule = \"0 0 30 2 *\","
run_ferry check feb30.lua
expect_rc 1
expect_in "$out" "schedule: cron day of month: '30' never falls in month '2'"

t "check: the table form wants one of cron and every, tz only with cron, jitter below the interval"
integ tboth.lua "$(fields)
  schedule = { cron = \"0 7 * * *\", every = \"1h\" },"
run_ferry check tboth.lua
expect_rc 1
expect_in "$out" "schedule: expected exactly one of cron and every"
integ tevtz.lua "$(fields)
  schedule = { every = \"1h\", tz = \"UTC\" },"
run_ferry check tevtz.lua
expect_rc 1
expect_in "$out" "schedule.tz: only a cron schedule has a time zone"
integ tjit.lua "$(fields)
  schedule = {
    every = \"10m\",
    jitter = \"10m\",
  },"
run_ferry check tjit.lua
expect_rc 1
expect_in "$out" "tjit.lua:$(lineof tjit.lua 'jitter = "10m"'): schedule.jitter: 10m must be less than the interval (10m)"
integ tkey.lua "$(fields)
  schedule = { cron = \"0 7 * * *\", zone = \"UTC\" },"
run_ferry check tkey.lua
expect_rc 1
expect_in "$out" "schedule.zone: unknown schedule setting (use cron, every, tz, jitter)"

t "check: an unknown field suggests the closest known one"
integ ownr.lua "$(fields)
  ownr = \"qa@example.com\","
run_ferry check ownr.lua
expect_rc 1
expect_in "$out" "ownr.lua:$(lineof ownr.lua 'ownr = '): ownr: unknown field (did you mean 'owner'?)"
expect_eq "$(nlines "$out")" 1

t "check: batch_size must be a positive integer"
integ batch0.lua "$(fields)
  batch_size = 0,"
run_ferry check batch0.lua
expect_rc 1
expect_in "$out" "batch0.lua:$(lineof batch0.lua 'batch_size = 0'): batch_size: expected a positive integer, got 0"

t "check: a trigger other than webhook is rejected at its line"
integ trig.lua "$(fields)
  trigger = {
    webhook = \"orders\",
    kafka = \"orders-topic\",
  },"
run_ferry check trig.lua
expect_rc 1
expect_in "$out" "trig.lua:$(lineof trig.lua 'kafka = '): trigger.kafka: unknown trigger"

# ---------------------------------------------------------------- policy

t "check: an unknown policy key suggests retry, at its line"
integ retyr.lua "$(fields)
  policy = {
    validation = \"quarantine\",
    retyr = { attempts = 3 },
  },"
run_ferry check retyr.lua
expect_rc 1
expect_in "$out" "retyr.lua:$(lineof retyr.lua 'retyr = '): policy.retyr: unknown policy key (did you mean 'retry'?)"
expect_eq "$(nlines "$out")" 1

t "check: an unknown action names the value and the known actions"
integ explode.lua "$(fields)
  policy = {
    auth = \"pause\",
    validation = \"explode\",
  },"
run_ferry check explode.lua
expect_rc 1
expect_in "$out" "explode.lua:$(lineof explode.lua 'validation = "explode"'): policy.validation: unknown action"
expect_in "$out" "explode"
expect_in "$out" "quarantine"
expect_eq "$(nlines "$out")" 1

t "check: retry attempts = 0 is rejected at the line of attempts"
integ attempts.lua "$(fields)
  policy = {
    retry = {
      backoff = \"exponential\",
      attempts = 0,
    },
  },"
run_ferry check attempts.lua
expect_rc 1
expect_in "$out" "attempts.lua:$(lineof attempts.lua 'attempts = 0'): policy.retry.attempts: expected a positive integer, got 0"
expect_eq "$(nlines "$out")" 1

t "check: a bad retry base duration is reported at the line of base"
integ base.lua "$(fields)
  policy = {
    retry = {
      attempts = 5,
      base = \"1x\",
      max = \"5m\",
    },
  },"
run_ferry check base.lua
expect_rc 1
expect_in "$out" "base.lua:$(lineof base.lua 'base = "1x"'): policy.retry.base: "
expect_in "$out" "unknown unit 'x'"
expect_eq "$(nlines "$out")" 1

t "check: an unknown retry setting lists the known settings"
integ tries.lua "$(fields)
  policy = {
    retry = {
      attempts = 5,
      tries = 3,
    },
  },"
run_ferry check tries.lua
expect_rc 1
expect_in "$out" "tries.lua:$(lineof tries.lua 'tries = 3'): policy.retry.tries: unknown retry setting"
expect_in "$out" "attempts, backoff, base"
expect_eq "$(nlines "$out")" 1

t "check: an escalation without 'to' is reported at the line of escalate"
integ escalate.lua "$(fields)
  policy = {
    alert = {
      to = { \"log\" },
      escalate = { after = \"4h\" },
    },
  },"
run_ferry check escalate.lua
expect_rc 1
expect_in "$out" "escalate.lua:$(lineof escalate.lua 'escalate = '): policy.alert.escalate: "
expect_in "$out" "to = "
expect_eq "$(nlines "$out")" 1

t "check: a bad escalation delay is reported at the line of after"
integ after.lua "$(fields)
  policy = {
    alert = {
      escalate = {
        to = \"ops-lead\",
        after = \"4x\",
      },
    },
  },"
run_ferry check after.lua
expect_rc 1
expect_in "$out" "after.lua:$(lineof after.lua 'after = "4x"'): policy.alert.escalate.after: "
expect_in "$out" "unknown unit 'x'"

# ---------------------------------------------------------------- several problems

t "check: several problems in one file are all reported, sorted by line"
integ many.lua "  name = \"many\",
  purpose = \"test\",
  pattern = \"batch\",
  source_of_truth = \"erp\",
  freshness = \"15x\",
  ownr = \"qa@example.com\",
  extract = \"not a function\",
  policy = { validation = \"explode\" },
  load = function(batch) end,"
run_ferry check many.lua
expect_rc 1
expected="many.lua:5: owner: missing (who is paged when it fails, e.g. \"data-team@example.com\")
many.lua:$(lineof many.lua 'pattern = "batch"'): pattern: unknown pattern \"batch\" (use \"workflow\" or \"reporting\")
many.lua:$(lineof many.lua 'freshness = "15x"'): freshness: unknown unit 'x' in \"15x\" (use ms, s, m, h, d, w, or seconds, minutes, hours, days, weeks)"
expect_eq "$(head -3 <<<"$out")" "$expected" "first three problems, in line order"
expect_eq "$(nlines "$out")" 6
expect_eq "$(cut -d: -f2 <<<"$out" | tr '\n' ' ')" \
    "5 $(lineof many.lua pattern) $(lineof many.lua freshness) $(lineof many.lua ownr) $(lineof many.lua extract) $(lineof many.lua policy) " \
    "problem lines, sorted"
expect_in "$out" "many.lua:$(lineof many.lua ownr): ownr: unknown field"
expect_in "$out" "many.lua:$(lineof many.lua extract): extract: expected a function"
expect_in "$out" "many.lua:$(lineof many.lua policy): policy.validation: unknown action"
expect_not_in "$out" ": ok:"

# ---------------------------------------------------------------- broken scripts

t "check: a syntax error gives Lua's message with file and line, exit 1"
lua_file syntax.lua <<'EOF'
-- a broken script
return ferry.integration {
  name = "broken",
  owner = "qa@example.com"
  purpose = "the comma above is missing",
}
EOF
run_ferry check syntax.lua
expect_rc 1
expect_in "$out$err" "syntax.lua:5:"
expect_in "$out$err" "expected"
expect_not_in "$out" ": ok:"

t "check: a script that raises while loading shows the error, exit 1"
lua_file boom.lua <<'EOF'
local json = ferry.json

error("boom")
EOF
run_ferry check boom.lua
expect_rc 1
expect_in "$out$err" "boom.lua:3: boom"
expect_not_in "$out" ": ok:"

t "check: a script returning a plain table must return ferry.integration"
lua_file plain.lua <<'EOF'
return {
  name = "plain", owner = "qa@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "erp", freshness = "1h",
  extract = function(ctx) end, load = function(batch) end,
}
EOF
run_ferry check plain.lua
expect_rc 1
expect_in "$out" "plain.lua:"
expect_in "$out" "must return ferry.integration"
expect_in "$out" "returned table"

t "check: a script returning nothing must return ferry.integration"
lua_file nothing.lua <<'EOF'
local x = ferry.integration { name = "lost" }
EOF
run_ferry check nothing.lua
expect_rc 1
expect_in "$out" "must return ferry.integration"
expect_in "$out" "returned nothing"

# ---------------------------------------------------------------- several files

t "check: several files, one bad: all checked, exit 1, '1 of 2 scripts ok'"
integ good.lua "$(fields)"
integ bad.lua "$(fields pattern)
  pattern = \"batch\","
run_ferry check bad.lua good.lua
expect_rc 1
expect_in "$out" "bad.lua:$(lineof bad.lua 'pattern = "batch"'): pattern: unknown pattern"
expect_in "$out" "good.lua: ok: orders-to-reporting"
expect_in "$out" "1 of 2 scripts ok"
expect_eq "$(tail -1 <<<"$out")" "1 of 2 scripts ok" "the count closes the output"

t "check: a nonexistent path is named, the others still checked, non-zero exit"
run_ferry check ./no_such_script.lua good.lua
[ "$rc" -ne 0 ] || fail "exit status 0 for a missing file"
expect_in "$out$err" "no_such_script.lua"
expect_in "$out$err" "No such file"
expect_in "$out" "good.lua: ok: orders-to-reporting"
expect_in "$out" "1 of 2 scripts ok"

t "check: a name found nowhere (not here, not in script_dirs) exits 2, the others still checked"
run_ferry check no_such_script.lua good.lua
expect_rc 2
expect_in "$err" "no script 'no_such_script.lua'"
expect_in "$out" "good.lua: ok: orders-to-reporting"
expect_in "$out" "1 of 2 scripts ok"

# ---------------------------------------------------------------- check runs nothing

t "check: hooks are not run"
lua_file sidefx.lua <<'EOF'
local function touch(name) local f = assert(io.open(name, "w")) f:write("ran\n") f:close() end
return ferry.integration {
  name = "sidefx", owner = "qa@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "erp", freshness = "1h",
  extract = function(ctx) touch("extract_ran.txt") ctx:emit({ id = 1 }) end,
  transform = function(r) touch("transform_ran.txt") return r end,
  load = function(batch) touch("load_ran.txt") end,
}
EOF
run_ferry check sidefx.lua
expect_rc 0
expect_in "$out" "sidefx.lua: ok: sidefx"
[ ! -e "$WORK/extract_ran.txt" ] || fail "check ran extract"
[ ! -e "$WORK/transform_ran.txt" ] || fail "check ran transform"
[ ! -e "$WORK/load_ran.txt" ] || fail "check ran load"

t "check: the sidefx fixture's hooks do run under ferry run (control)"
run_ferry run -c "$WORK/trusted.lua" --log-level off sidefx.lua
expect_rc 0
[ -e "$WORK/extract_ran.txt" ] || fail "run did not run extract"
[ -e "$WORK/load_ran.txt" ] || fail "run did not run load"
rm -f "$WORK"/*_ran.txt

t "run: an invalid script exits 2, problems on stderr, nothing runs"
lua_file badrun.lua <<'EOF'
local function touch(name) local f = assert(io.open(name, "w")) f:write("ran\n") f:close() end
return ferry.integration {
  name = "badrun", owner = "qa@example.com", purpose = "test",
  pattern = "batch",
  source_of_truth = "erp", freshness = "1h",
  extract = function(ctx) touch("badrun_ran.txt") ctx:emit({ id = 1 }) end,
  load = function(batch) touch("badrun_ran.txt") end,
}
EOF
run_ferry run badrun.lua
expect_rc 2
expect_in "$err" "badrun.lua:4: pattern: unknown pattern \"batch\""
expect_not_in "$out" "badrun.lua:4"
expect_not_in "$out" "=="
[ ! -e "$WORK/badrun_ran.txt" ] || fail "a hook of the invalid script ran"

t "run: an invalid script next to a valid one: exit 2 and neither runs"
run_ferry run sidefx.lua badrun.lua
expect_rc 2
expect_in "$err" "badrun.lua:4: pattern:"
expect_not_in "$out" "== sidefx"
[ ! -e "$WORK/extract_ran.txt" ] || fail "the valid script ran although another was invalid"
[ ! -e "$WORK/badrun_ran.txt" ] || fail "a hook of the invalid script ran"

done_t
