#!/usr/bin/env bash
# Contract check: the connector's requests go through Prism (proxy mode,
# --errors) with BambooHR's own OpenAPI document, in front of the fake; a
# request the real API would reject is refused by Prism (422) and fails the
# run. Prism also checks the fake's answers against the same document.
#
# Needs ../shared/specs/bamboohr beside the repository (present in CI, not
# in a user's clone) and node + npm; skips, saying why, without them. Prism
# is installed once into build/prism (gitignored) with npm, pinned to major 5.
. "$(dirname "$0")/../../../tests/e2e/lib.sh"

SPECS=$ROOT/../shared/specs/bamboohr
PRISM_DIR=$ROOT/build/prism
PRISM=$PRISM_DIR/node_modules/.bin/prism
BHR_DIR=$ROOT/contrib/bamboohr

t "BambooHR's OpenAPI document, node and npm are there"
# CI (.ci/run sets FERRY_CI) must run the check: there a missing piece fails it
if [ ! -f "$SPECS/public.yaml" ]; then
    [ -n "${FERRY_CI:-}" ] && { fail "no $SPECS/public.yaml in CI"; done_t; exit 1; }
    skip_t "no $SPECS/public.yaml (BambooHR's OpenAPI document; present in CI): contract check skipped"; exit 0
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    [ -n "${FERRY_CI:-}" ] && { fail "node or npm is missing in CI"; done_t; exit 1; }
    skip_t "node or npm is missing (apt-get install nodejs npm): contract check skipped"; exit 0
fi
if [ ! -x "$PRISM" ]; then
    npm install --prefix "$PRISM_DIR" --no-audit --no-fund --loglevel=error @stoplight/prism-cli@5 \
        >"$WORK/npm.log" 2>&1 || fail "npm install @stoplight/prism-cli@5 failed: $(tail -3 "$WORK/npm.log")"
fi
[ -x "$PRISM" ] || fail "no $PRISM after npm install"
done_t
[ -x "$PRISM" ] || exit 0

export BAMBOOHR_API_KEY=bhr_contract_key_93b1e07c
python3 "$BHR_DIR/tests/fake_bamboohr.py" --key "$BAMBOOHR_API_KEY" --port-file "$WORK/bhr.port" >"$WORK/fake.log" 2>&1 &
_bg_pids+=($!)
for _ in $(seq 1 200); do [ -s "$WORK/bhr.port" ] && break; sleep 0.05; done
BHR=http://127.0.0.1:$(cat "$WORK/bhr.port")

# A copy of the document with one gap filled, from what the API answers:
# - a custom report's values are typed as strings, but a field with no value
#   comes as null (PyBambooHR pull request 43: "company reports by default
#   will return None for some fields ... such as the supervisorEId"); the
#   copy allows null beside string.
mkdir -p "$WORK/specs"
python3 - "$SPECS/public.yaml" "$WORK/specs/public.yaml" <<'EOF' || fail "cannot prepare the spec"
import sys
s = open(sys.argv[1]).read()
old = "type: object, additionalProperties: { type: string } } }"
n = s.count(old)
assert n >= 1, "the custom report's employees schema moved: update the gap filled here"
s = s.replace(old, "type: object, additionalProperties: { type: [string, 'null'] } } }")
open(sys.argv[2], "w").write(s)
EOF

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$PRISM" proxy --errors "$WORK/specs/public.yaml" "$BHR" --host 127.0.0.1 --port "$PORT" >"$WORK/prism.log" 2>&1 &
_bg_pids+=($!)
P=http://127.0.0.1:$PORT
t "a Prism proxy starts in front of the fake"
wait_until 120 "curl -s -o /dev/null $P/" || fail "prism did not start: $(tail -5 "$WORK/prism.log")"
done_t

cat >"$WORK/bhr.lua" <<EOF
return { data_dir = "$WORK/data", integrations = { ["*"] = { secrets = { "BAMBOOHR_API_KEY" } } } }
EOF
bhr() { run_ferry "$@" -c "$WORK/bhr.lua"; }
ctl() { curl -s -o /dev/null -X POST --data "$2" "$BHR/__fake/$1"; }
fake_py() {
    python3 - "$BHR" "$1" <<'EOF' 2>&1
import json, sys, urllib.request
get = lambda p: json.load(urllib.request.urlopen(sys.argv[1] + "/__fake/" + p))
R = get("requests")
E = {e["id"]: e for e in get("employees")}
print(eval(sys.argv[2]))
EOF
}
# Prism's own report lines; not its "info" lines, whose startup listing of
# every operation carries random example values ("excludeNote=error").
violations() { grep -hiE 'violation|✖|error' "$WORK"/prism.log | grep -v ' get / ' | grep -v 'ℹ  info' | head -5; }

ctl seed '{"employees":[
  {"id":"1","displayName":"Ana Lima","firstName":"Ana","lastName":"Lima","workEmail":"ana@acme.example","department":"Delivery","status":"Active","hireDate":"2024-02-01","terminationDate":"0000-00-00","standardHoursPerWeek":"40","employmentHistoryStatus":"Full-Time","lastChanged":"2026-11-01T10:00:00+00:00","action":"Inserted"},
  {"id":"2","displayName":"Ben Okafor","firstName":"Ben","lastName":"Okafor","workEmail":"ben@acme.example","department":"Sales","status":"Active","hireDate":"2025-05-01","terminationDate":"0000-00-00","standardHoursPerWeek":null,"employmentHistoryStatus":"Part-Time","lastChanged":"2026-11-01T11:00:00+00:00","action":"Inserted"}],
 "lists":[{"fieldId":"4","alias":"department","name":"Department","manageable":"yes","multiple":"no","options":[{"id":1,"name":"Delivery","archived":"no"},{"id":2,"name":"Sales","archived":"no"}]}],
 "timeOff":[{"id":9,"employeeId":1,"name":"Ana Lima","start":"2026-11-09","end":"2026-11-10","created":"2026-10-01","status":{"lastChanged":"2026-10-02","lastChangedByUserId":1,"status":"approved"},"type":{"id":78,"name":"Vacation","icon":"palm-trees"},"amount":{"unit":"days","amount":2},"dates":{"2026-11-09":1,"2026-11-10":1}}],
 "holidays":[{"id":5,"name":"Founders day","start":"2026-11-12","end":"2026-11-12"}]}'

H='owner = "qa@example.com", purpose = "contract", pattern = "reporting", source_of_truth = "bamboohr", freshness = "1h",'
sink() { echo "load = ferry.sink.sqlite { path = '$1.db', table = 't', columns = { { '$2', 'text', key = true }, { 'v', 'text' } } }"; }
script people 'local b = require "contrib.bamboohr"
local hr = b.connect { base_url = "'"$P"'/api", batch = 1 }
return ferry.integration { name = "c-people", '"$H"'
  extract = hr:stream("employees"),
  transform = function(e) return { id = e.id, v = e.workEmail } end, '"$(sink people id)"' }'
script reads 'local b = require "contrib.bamboohr"
local hr = b.connect { base_url = "'"$P"'/api" }
local ids = hr:employees()
local depts = hr:picklist("department")
return ferry.integration { name = "c-reads", '"$H"'
  extract = function(ctx)
    for _, s in ipairs { "directory", "report", "leave_days", "whos_out", "capacity", "time_off" } do
      local opts = { start = "2026-11-01", ["end"] = "2026-11-30", from = "2026-10", to = "2026-11" }
      if s == "directory" or s == "report" or s == "capacity" then opts.start, opts["end"] = nil, nil end
      if s ~= "capacity" then opts.from, opts.to = nil, nil end
      local n = 0
      local fake = setmetatable({ emit = function(_, r) n = n + 1 end }, { __index = ctx })
      hr:stream(s, opts)(fake)
      ctx:emit({ k = s, v = tostring(n) })
    end
    local id = ids:get("ANA@acme.example", ctx)
    local d = depts:match("sales", ctx)
    local e = hr:employee(ctx, "2", { "workEmail", "department" })
    ctx:emit({ k = "lookups", v = table.concat({ tostring(id), tostring(d), e.workEmail }, " ") })
  end, '"$(sink reads k)"' }'
script write 'local b = require "contrib.bamboohr"
local hr = b.connect { base_url = "'"$P"'/api" }
return ferry.integration { name = "c-write", '"$H"'
  extract = function(ctx)
    ctx:emit({ id = "1", department = "Sales", jobTitle = "Lead" })
    ctx:emit({ id = "2", department = "Marketing" })
  end,
  load = hr:update_employees {} }'

t "employees: changed since, then a custom report per batch, pass Prism; run 2 from the cursor too"
bhr run "$WORK/people.lua"
expect_rc 0
expect_in "$out" "extracted 2 · transformed 2 · skipped 0 · loaded 2"
expect_eq "$(fake_py 'sorted(set(r["method"] + " " + r["path"] for r in R))')" \
    "['GET /api/v1/employees/changed', 'POST /api/v1/reports/custom']" "the requests reached the fake"
ctl touch '{"id":"2","fields":{"jobTitle":"Manager"}}'
bhr run "$WORK/people.lua"
expect_rc 0
expect_in "$out" "extracted 1 ·"
expect_eq "$(violations)" "" "Prism reported nothing"

t "directory, a custom report, time off, who's out, capacity, the email lookup, a list's options and one employee pass Prism"
bhr run "$WORK/reads.lua"
expect_rc 0
expect_eq "$(sql "$WORK/data/reads.db" "SELECT k, v FROM t ORDER BY k")" "capacity|4
directory|2
leave_days|2
lookups|1 Sales ben@acme.example
report|2
time_off|1
whos_out|2"
expect_eq "$(violations)" "" "Prism reported nothing"

t "employee updates pass Prism; BambooHR's refusal of a list value is quarantined with its message"
bhr run "$WORK/write.lua"
expect_rc 3
expect_in "$out" "loaded 1 · quarantined 1"
expect_eq "$(fake_py '(E["1"]["department"], E["1"]["jobTitle"])')" "('Sales', 'Lead')"
expect_eq "$(quarantine_py "$WORK/data" c-write '[q["reason"] for q in L]')" \
    "['bamboohr POST /v1/employees/2: 409 Invalid value for field department: \"Marketing\" is not one of its options']"
expect_eq "$(violations)" "" "Prism reported nothing"

t "the check can fail: time off without its required dates, and a changed-since without since, are refused by Prism"
before=$(fake_py 'len(R)')
AUTH="Authorization: Basic $(printf '%s:x' "$BAMBOOHR_API_KEY" | base64 -w0)"
code=$(curl -s -o "$WORK/bad.json" -w '%{http_code}' -H "$AUTH" -H 'Accept: application/json' "$P/api/v1/time_off/requests?status=approved")
expect_eq "$code" "422" "$(head -c 300 "$WORK/bad.json")"
expect_in "$(cat "$WORK/bad.json")" "start"
code=$(curl -s -o "$WORK/bad2.json" -w '%{http_code}' -H "$AUTH" -H 'Accept: application/json' "$P/api/v1/employees/changed")
expect_eq "$code" "422" "$(head -c 300 "$WORK/bad2.json")"
expect_in "$(cat "$WORK/bad2.json")" "since"
expect_eq "$(fake_py 'len(R)')" "$before" "neither reached the fake"
done_t
