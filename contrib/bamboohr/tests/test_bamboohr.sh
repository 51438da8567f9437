#!/usr/bin/env bash
# contrib/bamboohr end to end: scripts that `require "contrib.bamboohr"` run
# with `ferry run` against fake_bamboohr.py (Python standard library,
# 127.0.0.1, written from BambooHR's public reference). Checks the rows a
# SQLite sink holds, what the fake holds and was sent (its request log), the
# quarantine (class and BambooHR's own message), checkpoints across runs, and
# that the API key appears nowhere.
. "$(dirname "$0")/../../../tests/e2e/lib.sh"

KEY=bhr_test_key_0c5e2f9a41d7
export BAMBOOHR_API_KEY=$KEY
DATA=$WORK/data
CONF=$WORK/bamboohr_conf.lua

python3 "$ROOT/contrib/bamboohr/tests/fake_bamboohr.py" --port-file "$WORK/bhr.port" --key "$KEY" \
    >"$WORK/fake.out" 2>&1 &
_bg_pids+=($!)
for _ in $(seq 1 200); do [ -s "$WORK/bhr.port" ] && break; sleep 0.05; done
B=http://127.0.0.1:$(cat "$WORK/bhr.port" 2>/dev/null)

cat >"$CONF" <<EOF
return {
  data_dir = "$DATA",
  -- the shipped example's company, unedited, goes to the fake
  http = { rewrite = { ["https://acme.bamboohr.com"] = "$B" } },
  integrations = { ["*"] = { secrets = { "BAMBOOHR_API_KEY" } } },
}
EOF
brun() { run_ferry run "$@" -c "$CONF"; }
# fake_py EXPR: a Python expression over E (employees by id) and R
# (requests, each {method, path, query, body, auth, accept, ctype, t})
fake_py() {
    python3 - "$B" "$1" <<'EOF' 2>&1
import json, re, sys, urllib.parse, urllib.request
get = lambda p: json.load(urllib.request.urlopen(sys.argv[1] + p))
E = {e["id"]: e for e in get("/__fake/employees")}
R = get("/__fake/requests")
line = lambda q: q["method"] + " " + q["path"] + ("?" + urllib.parse.unquote(q["query"]) if q["query"] else "")
ids = lambda q: json.loads(q["body"])["filters"]["employeeIds"]
print(eval(sys.argv[2]))
EOF
}
ctl() { curl -s -o /dev/null -w '%{http_code}' -X POST --data "$2" "$B/__fake/$1"; }
nreq() { fake_py 'len(R)'; }
qpy() { quarantine_py "$DATA" "$1" "$2"; }

# 250 employees, lastChanged a minute apart; every 25th Inactive (left
# 2026-02-15); 201..250 hired 2026-02-10; hours 40, 20 (every 10th) or none
# (every 7th: Full-Time). Lists, time off and a holiday.
python3 - "$B" <<'EOF'
import json, sys, urllib.request, datetime
base = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)
iso = lambda d: d.strftime("%Y-%m-%dT%H:%M:%S+00:00")
emps = []
for i in range(1, 251):
    emps.append({
        "id": str(i), "firstName": "First%d" % i, "lastName": "Last%d" % i, "displayName": "First%d Last%d" % (i, i),
        "workEmail": "person%d@acme.example" % i, "department": ["Engineering", "Sales", "Delivery"][i % 3],
        "division": "North", "jobTitle": "Consultant", "location": "Lisbon" if i % 2 else "Berlin",
        "status": "Inactive" if i % 25 == 0 else "Active",
        "hireDate": "2025-06-01" if i <= 200 else "2026-02-10",
        "terminationDate": "2026-02-15" if i % 25 == 0 else "0000-00-00",
        "supervisor": "First1 Last1", "supervisorEId": "1",
        "standardHoursPerWeek": None if i % 7 == 0 else ("20" if i % 10 == 0 else "40"),
        "employmentHistoryStatus": "Full-Time" if i % 10 else "Part-Time",
        "payRate": "100.00 EUR", "lastChanged": iso(base + datetime.timedelta(minutes=i)), "action": "Inserted"})
lists = [{"fieldId": "4", "alias": "department", "name": "Department", "manageable": "yes", "multiple": "no",
          "options": [{"id": 1, "name": "Engineering", "archived": "no"}, {"id": 2, "name": "Sales", "archived": "no"},
                      {"id": 3, "name": "Delivery", "archived": "no"}, {"id": 4, "name": "Legacy", "archived": "yes"}]},
         {"fieldId": "5", "alias": "location", "name": "Location", "manageable": "yes", "multiple": "no",
          "options": [{"id": 10, "name": "Lisbon", "archived": "no"}, {"id": 11, "name": "Berlin", "archived": "no"}]}]
def req(rid, emp, start, end, status, dates):
    return {"id": rid, "employeeId": emp, "name": "First%d Last%d" % (emp, emp), "start": start, "end": end,
            "created": "2026-10-01", "status": {"lastChanged": "2026-10-02", "lastChangedByUserId": 1, "status": status},
            "type": {"id": 78, "name": "Vacation", "icon": "palm-trees"},
            "amount": {"unit": "days", "amount": sum(dates.values())}, "dates": dates,
            "notes": {"employee": "away"}}
time_off = [
    req(1001, 3, "2026-11-09", "2026-11-11", "approved", {"2026-11-09": 1, "2026-11-10": 1, "2026-11-11": 0.5}),
    req(1002, 7, "2026-11-13", "2026-11-16", "approved", {"2026-11-13": 1, "2026-11-14": 0, "2026-11-15": 0, "2026-11-16": 1}),
    req(1003, 3, "2026-11-20", "2026-11-20", "denied", {"2026-11-20": 1}),
    req(1004, 9, "2026-12-28", "2026-12-30", "approved", {"2026-12-28": 1, "2026-12-29": 1, "2026-12-30": 1}),
]
holidays = [{"id": 5, "name": "Founders day", "start": "2026-11-12", "end": "2026-11-12"}]
r = urllib.request.Request(sys.argv[1] + "/__fake/seed", method="POST", data=json.dumps(
    {"employees": emps, "lists": lists, "timeOff": time_off, "holidays": holidays}).encode())
urllib.request.urlopen(r)
EOF

EXAMPLE=$ROOT/contrib/bamboohr/example.lua

# ---------------------------------------------------------------------------
t "the shipped example passes ferry check; ferry connectors lists bamboohr"
[ -s "$WORK/bhr.port" ] || fail "the fake did not start: $(cat "$WORK/fake.out")"
run_ferry check "$EXAMPLE"
expect_rc 0
expect_in "$out" "ok: bamboohr-people (reporting, owner people-ops@example.com"
run_ferry connectors
expect_in "$out" "bamboohr 0.1.0  BambooHR"
expect_in "$out" "streams:    employees, directory, report, time_off, leave_days, whos_out, capacity"

t "run 1: every employee changed since the epoch, fields by custom report in batches of 100, Basic auth, JSON asked for"
vbefore=$(nreq)
run_ferry run "$EXAMPLE" -c "$CONF"
expect_rc 0
expect_in "$out" "extracted 250 · transformed 250 · skipped 0 · loaded 250"
expect_eq "$(sql "$DATA/bamboohr.db" "SELECT count(*), sum(status = 'Inactive'), count(termination_date), sum(fte) FROM employees")" \
    "250|10|10|236.0"
expect_eq "$(sql "$DATA/bamboohr.db" "SELECT employee_id, name, email, department, status, hire_date, termination_date IS NULL, hours_per_week, fte, last_changed FROM employees WHERE employee_id IN ('10', '14', '25') ORDER BY 1")" \
"10|First10 Last10|person10@acme.example|Sales|Active|2025-06-01|1|20.0|0.5|2026-11-01T00:10:00+00:00
14|First14 Last14|person14@acme.example|Delivery|Active|2025-06-01|1||1.0|2026-11-01T00:14:00+00:00
25|First25 Last25|person25@acme.example|Sales|Inactive|2025-06-01|0|40.0|1.0|2026-11-01T00:25:00+00:00"
expect_eq "$(fake_py "[line(q) for q in R[$vbefore:]]")" \
    "['GET /api/v1/employees/changed?since=1970-01-01T00:00:00+00:00', 'POST /api/v1/reports/custom?format=json', 'POST /api/v1/reports/custom?format=json', 'POST /api/v1/reports/custom?format=json']"
expect_eq "$(fake_py "[len(ids(q)) for q in R[$vbefore + 1:]]")" "[100, 100, 50]" "ids per report"
expect_eq "$(fake_py "ids(R[$vbefore + 1])[:3]")" "[1, 2, 3]" "oldest change first"
expect_eq "$(fake_py "set((q['auth'], q['accept']) for q in R[$vbefore:])")" \
    "{('Basic $(printf '%s:x' "$KEY" | base64 -w0)', 'application/json')}"
expect_eq "$(fake_py "set(q['ctype'] for q in R[$vbefore + 1:])")" "{'application/json'}" "exactly, or BambooHR reads XML"

t "run 1 checkpoints the newest lastChanged and who changed then"
run_ferry runs bamboohr-people --json -c "$CONF"
expect_eq "$(python3 -c 'import json, sys; print(sorted(json.load(sys.stdin)[0]["checkpoint"].items()))' <<<"$out")" \
    "[('at', ['250']), ('since', '2026-11-01T04:10:00+00:00')]"

t "run 2 reads only the employees changed since: one report for the two of them"
ctl touch '{"id":"5","fields":{"jobTitle":"Lead","department":"Delivery"}}' >/dev/null
ctl touch '{"id":"77","fields":{"standardHoursPerWeek":"32"}}' >/dev/null
before=$(nreq)
brun "$EXAMPLE"
expect_rc 0
expect_in "$out" "extracted 2 · transformed 2 · skipped 0 · loaded 2"
expect_eq "$(fake_py "[line(q) for q in R[$before:]]")" \
    "['GET /api/v1/employees/changed?since=2026-11-01T04:10:00+00:00', 'POST /api/v1/reports/custom?format=json']"
expect_eq "$(fake_py "sorted(ids(R[$before + 1]))")" "[5, 77]"
expect_eq "$(sql "$DATA/bamboohr.db" "SELECT employee_id, job_title, department, fte FROM employees WHERE employee_id IN ('5', '77') ORDER BY 1")" \
"5|Lead|Delivery|1.0
77|Consultant|Delivery|0.8"

t "run 3 with nothing changed: BambooHR's inclusive since answers the last ones again; they are skipped, no report"
before=$(nreq)
brun "$EXAMPLE"
expect_rc 0
expect_in "$out" "extracted 0"
expect_eq "$(fake_py "[line(q).split('?')[0] for q in R[$before:]]")" "['GET /api/v1/employees/changed']"

t "a run that fails on the third report checkpointed the second batch; the next run reads only the third"
run_ferry reset bamboohr-people --yes -c "$CONF"
expect_rc 0
ctl fail '{"status":400,"times":1,"skip":2,"path":"/api/v1/reports/custom","message":"Malformed JSON"}' >/dev/null
before=$(nreq)
brun "$EXAMPLE"
expect_in "$out$err" "validation"
expect_in "$out$err" "bamboohr POST /v1/reports/custom: 400 Malformed JSON"
expect_eq "$(fake_py "len(R) - $before")" "4"
before=$(nreq)
brun "$EXAMPLE"
expect_rc 0
expect_in "$out" "extracted 50 · transformed 50"
expect_eq "$(fake_py "[(line(q).split('?')[0], len(ids(q)) if 'reports' in q['path'] else 0) for q in R[$before:]]")" \
    "[('GET /api/v1/employees/changed', 0), ('POST /api/v1/reports/custom', 50)]"
run_ferry runs bamboohr-people --json -c "$CONF"
expect_in "$out" '"since":"2026-11-01T04:10:00+00:00"'

t "a deleted employee comes as { id, deleted = true }"
ctl delete '{"id":"200"}' >/dev/null
brun "$EXAMPLE"
expect_rc 0
expect_in "$out" "extracted 1"
expect_eq "$(sql "$DATA/bamboohr.db" "SELECT deleted, name FROM employees WHERE employee_id = '200'")" "1|"

# ---------------------------------------------------------------------------
script write "local bamboohr = require 'contrib.bamboohr'
local hr = bamboohr.connect { base_url = '$B/api' }
return ferry.integration { name = 'b-write', owner = 'qa@example.com', purpose = 'test', pattern = 'workflow',
  source_of_truth = 'psa', freshness = '1h',
  extract = function(ctx)
    ctx:emit({ id = '11', department = 'Engineering', jobTitle = 'Architect' })
    ctx:emit({ id = '12', department = 'Marketing' })
    ctx:emit({ id = '13', payRate = '120.00 EUR' })
    ctx:emit({ id = '14', favouriteColour = 'green' })
    ctx:emit({ id = '99999', jobTitle = 'Ghost' })
    ctx:emit({ jobTitle = 'Nobody' })
    ctx:emit({ id = '15', workEmail = 'person16@acme.example' })
    ctx:emit({ id = '16', location = 'Berlin', workEmail = 'p16@acme.example' })
  end,
  load = hr:update_employees {},
}"
t "a batch write: one POST per employee; the good ones written"
before=$(nreq)
brun "$WORK/write.lua"
expect_rc 3
expect_in "$out" "loaded 2 · quarantined 6"
expect_eq "$(fake_py '[(E[i]["department"], E[i]["jobTitle"], E[i]["location"], E[i]["workEmail"]) for i in ("11", "12", "16")]')" \
    "[('Engineering', 'Architect', 'Lisbon', 'person11@acme.example'), ('Engineering', 'Consultant', 'Berlin', 'person12@acme.example'), ('Sales', 'Consultant', 'Berlin', 'p16@acme.example')]" \
    "12 and 15 refused: left as they were"
expect_eq "$(fake_py "sorted(line(q) for q in R[$before:])")" \
    "['POST /api/v1/employees/11', 'POST /api/v1/employees/12', 'POST /api/v1/employees/13', 'POST /api/v1/employees/14', 'POST /api/v1/employees/15', 'POST /api/v1/employees/16', 'POST /api/v1/employees/99999']"
expect_eq "$(fake_py "[json.loads(q['body']) == {'department': 'Engineering', 'jobTitle': 'Architect'} for q in R[$before:] if q['path'].endswith('/11')]")" \
    "[True]" "the body: the fields, not the id"

t "a batch write: each refused record quarantined with BambooHR's message and the field it names"
expect_eq "$(qpy b-write '"\n".join("%s %s %s" % (q["record"].get("id"), q["class"], q["reason"]) for q in L)')" \
"12 validation bamboohr POST /v1/employees/12: 409 Invalid value for field department: \"Marketing\" is not one of its options
13 validation bamboohr POST /v1/employees/13: 403 You do not have permission to update field payRate
14 validation bamboohr POST /v1/employees/14: 400 Unknown field: favouriteColour
99999 validation bamboohr POST /v1/employees/99999: 404 Employee not found (no such employee)
None validation bamboohr: field id: the employee's id (digits) is required
15 validation bamboohr POST /v1/employees/15: 409 Invalid value for field workEmail: person16@acme.example belongs to another employee"

# ---------------------------------------------------------------------------
script dept "local bamboohr = require 'contrib.bamboohr'
local hr = bamboohr.connect { base_url = '$B/api' }
local depts = hr:picklist('department', { synonyms = { eng = 'Engineering' } })
local ids = hr:employees()
return ferry.integration { name = 'b-dept', owner = 'qa@example.com', purpose = 'test', pattern = 'workflow',
  source_of_truth = 'psa', freshness = '1h',
  extract = function(ctx)
    ctx:emit({ email = ' Person20@ACME.example ', dept = 'eng' })
    ctx:emit({ email = 'person21@acme.example', dept = 'Legacy' })
    ctx:emit({ email = 'nobody@acme.example', dept = 'Sales' })
    ctx:emit({ email = 'person22@acme.example', dept = 'delivery' })
  end,
  transform = function(r, ctx)
    local id, err = ids:get(r.email, ctx)
    if not id then return nil, err end
    local d; d, err = depts:match(r.dept, ctx)
    if not d then return nil, err end
    return { id = id, department = d }
  end,
  load = hr:update_employees {},
}"
t "picklist from GET /v1/meta/lists (archived options refused) and employees by work email (one report)"
before=$(nreq)
brun "$WORK/dept.lua"
expect_rc 3
expect_in "$out" "loaded 2 · quarantined 2"
expect_eq "$(fake_py '[E[i]["department"] for i in ("20", "21", "22")]')" "['Engineering', 'Engineering', 'Delivery']" "21 refused: left as it was"
expect_eq "$(qpy b-dept '"\n".join(sorted("%s %s" % (q["record"]["email"], q["class"]) for q in L))')" \
"nobody@acme.example lookup_missing
person21@acme.example picklist_drift"
expect_eq "$(fake_py "sorted(line(q) for q in R[$before:] if q['method'] == 'GET')")" "['GET /api/v1/meta/lists']"
expect_eq "$(fake_py "[json.loads(q['body']) == {'title': 'ferry', 'fields': ['workEmail', 'status']} for q in R[$before:] if 'reports' in q['path']]")" \
    "[True]" "one report for the lookup"

# ---------------------------------------------------------------------------
script leave "local bamboohr = require 'contrib.bamboohr'
local hr = bamboohr.connect { base_url = '$B/api' }
return ferry.integration { name = 'b-leave', owner = 'qa@example.com', purpose = 'test', pattern = 'reporting',
  source_of_truth = 'bamboohr', freshness = '1d',
  extract = hr:stream('leave_days', { start = '2026-11-01', ['end'] = '2026-11-30' }),
  load = ferry.sink.sqlite { path = 'leave.db', table = 'leave', columns = { { 'key', 'text', key = true },
    { 'email', 'text' }, { 'date', 'text' }, { 'amount', 'real' }, { 'type', 'text' } } },
}"
t "leave_days: approved requests in the window, one row per person and day off, by work email"
before=$(nreq)
brun "$WORK/leave.lua"
expect_rc 0
expect_eq "$(sql "$DATA/leave.db" "SELECT key, email, date, amount, type FROM leave ORDER BY key")" \
"1001/2026-11-09|person3@acme.example|2026-11-09|1.0|Vacation
1001/2026-11-10|person3@acme.example|2026-11-10|1.0|Vacation
1001/2026-11-11|person3@acme.example|2026-11-11|0.5|Vacation
1002/2026-11-13|person7@acme.example|2026-11-13|1.0|Vacation
1002/2026-11-16|person7@acme.example|2026-11-16|1.0|Vacation"
expect_eq "$(fake_py "[line(q) for q in R[$before:] if q['method'] == 'GET']")" \
    "['GET /api/v1/time_off/requests?end=2026-11-30&start=2026-11-01&status=approved']"
expect_eq "$(fake_py "[sorted(ids(q)) for q in R[$before:] if 'reports' in q['path']]")" "[[3, 7]]" "one report for the emails"

# ---------------------------------------------------------------------------
script cap "local bamboohr = require 'contrib.bamboohr'
local hr = bamboohr.connect { base_url = '$B/api' }
return ferry.integration { name = 'b-cap', owner = 'qa@example.com', purpose = 'test', pattern = 'reporting',
  source_of_truth = 'bamboohr', freshness = '1d',
  extract = hr:stream('capacity', { from = '2026-01', to = '2026-03' }),
  load = ferry.sink.sqlite { path = 'cap.db', table = 'capacity', columns = { { 'key', 'text', key = true },
    { 'month', 'text' }, { 'department', 'text' }, { 'headcount', 'integer' }, { 'fte', 'real' },
    { 'hires', 'integer' }, { 'leavers', 'integer' } } },
}"
t "capacity: headcount and FTE at each month's end per department, hires and leavers, from one report"
before=$(nreq)
brun "$WORK/cap.lua"
expect_rc 0
want=$(python3 - <<'EOF'
# employed at the month's end; the seed less employee 200 (deleted above) with hours
# touched for 77; see the seed for the rest
rows = {}
for i in range(1, 251):
    if i == 200: continue
    dept = {0: "Engineering", 1: "Sales", 2: "Delivery"}[i % 3]
    if i in (5, 11): dept = {5: "Delivery", 11: "Engineering"}[i]
    if i in (20, 22): dept = {20: "Engineering", 22: "Delivery"}[i]
    hours = None if i % 7 == 0 else (20 if i % 10 == 0 else 40)
    if i == 77: hours = 32
    fte = hours / 40 if hours is not None else (1.0 if i % 10 else 0)   # Full-Time without hours: 1; Part-Time: unknown
    hired = "2025-06-01" if i <= 200 else "2026-02-10"
    left = "2026-02-15" if i % 25 == 0 else None
    for m, last in (("2026-01", "2026-01-31"), ("2026-02", "2026-02-28"), ("2026-03", "2026-03-31")):
        r = rows.setdefault((m, dept), [0, 0.0, 0, 0])
        if hired <= last and (left is None or left >= last):
            r[0] += 1; r[1] += fte
        if hired[:7] == m: r[2] += 1
        if left and left[:7] == m: r[3] += 1
for (m, d), r in sorted(rows.items()):
    print("%s|%s|%d|%s|%d|%d" % (m, d, r[0], round(r[1], 3), r[2], r[3]))
EOF
)
expect_eq "$(sql "$DATA/cap.db" "SELECT month, department, headcount, fte, hires, leavers FROM capacity ORDER BY month, department")" "$want"
expect_eq "$(fake_py "[json.loads(q['body'])['fields'] for q in R[$before:]]")" \
    "[['department', 'status', 'hireDate', 'terminationDate', 'standardHoursPerWeek', 'employmentHistoryStatus']]"

# ---------------------------------------------------------------------------
script rep "local bamboohr = require 'contrib.bamboohr'
local hr = bamboohr.connect { base_url = '$B/api' }
return ferry.integration { name = 'b-rep', owner = 'qa@example.com', purpose = 'test', pattern = 'reporting',
  source_of_truth = 'bamboohr', freshness = '1d',
  extract = hr:stream('report', { fields = { 'workEmail', 'status', 'supervisor', 'customShoeSize' } }),
  load = ferry.sink.sqlite { path = 'rep.db', table = 'people', columns = { { 'id', 'text', key = true },
    { 'workEmail', 'text' }, { 'status', 'text' }, { 'supervisor', 'text' }, { 'customShoeSize', 'text' } } },
}"
t "a custom report: every employee, Active and Inactive, the fields asked for (one BambooHR does not know: nil)"
before=$(nreq)
brun "$WORK/rep.lua"
expect_rc 0
expect_eq "$(sql "$DATA/rep.db" "SELECT count(*), sum(status = 'Inactive'), count(supervisor), count(customShoeSize) FROM people")" "249|9|249|0"
expect_eq "$(fake_py "[(line(q), json.loads(q['body'])['fields']) for q in R[$before:]]")" \
    "[('POST /api/v1/reports/custom?format=json', ['workEmail', 'status', 'supervisor', 'customShoeSize'])]"

script dir "local bamboohr = require 'contrib.bamboohr'
local hr = bamboohr.connect { base_url = '$B/api' }
return ferry.integration { name = 'b-dir', owner = 'qa@example.com', purpose = 'test', pattern = 'reporting',
  source_of_truth = 'bamboohr', freshness = '1d',
  extract = hr:stream('directory'),
  load = ferry.sink.sqlite { path = 'dir.db', table = 'people', columns = { { 'id', 'text', key = true },
    { 'displayName', 'text' }, { 'workEmail', 'text' }, { 'supervisor', 'text' } } },
}"
t "the directory: Active employees only, in one request"
before=$(nreq)
brun "$WORK/dir.lua"
expect_rc 0
expect_eq "$(sql "$DATA/dir.db" "SELECT count(*), count(supervisor) FROM people")" "240|240"
expect_eq "$(sql "$DATA/dir.db" "SELECT id, displayName, workEmail FROM people WHERE id IN ('24', '25')")" "24|First24 Last24|person24@acme.example"
expect_eq "$(fake_py "[line(q) for q in R[$before:]]")" "['GET /api/v1/employees/directory']"

# ---------------------------------------------------------------------------
script out "local bamboohr = require 'contrib.bamboohr'
local hr = bamboohr.connect { base_url = '$B/api' }
return ferry.integration { name = 'b-out', owner = 'qa@example.com', purpose = 'test', pattern = 'reporting',
  source_of_truth = 'bamboohr', freshness = '1d',
  extract = hr:stream('whos_out', { start = '2026-11-10', ['end'] = '2026-11-14' }),
  load = ferry.sink.sqlite { path = 'out.db', table = 'out', columns = { { 'key', 'text', key = true },
    { 'email', 'text' }, { 'start', 'text' }, { 'name', 'text' } } },
}"
t "whos_out: approved time off and holidays in the window; people by work email"
brun "$WORK/out.lua"
expect_rc 0
expect_eq "$(sql "$DATA/out.db" "SELECT key, email, start, name FROM out ORDER BY start, key")" \
"timeOff/1001|person3@acme.example|2026-11-09|First3 Last3
holiday/5||2026-11-12|Founders day
timeOff/1002|person7@acme.example|2026-11-13|First7 Last7"

# ---------------------------------------------------------------------------
t "connect: the company's host or base_url; a mistake named"
cat >"$WORK/connect.lua" <<'EOF'
local b = require "contrib.bamboohr"
print(b.connect { company = "acme" }.base_url, b.connect { base_url = "https://api.bamboohr.com/api/gateway.php/acme/" }.base_url)
print(select(2, pcall(b.connect, {})))
print(select(2, pcall(b.connect, { company = "acme", token = "X" })))
print(select(2, pcall(function() return b.connect { company = "acme" }:stream("people") end)))
EOF
run_ferry lua "$WORK/connect.lua"
expect_rc 0
expect_eq "$out" "https://acme.bamboohr.com/api	https://api.bamboohr.com/api/gateway.php/acme
contrib.bamboohr: connect needs company (the companyDomain in https://COMPANY.bamboohr.com) or base_url
contrib.bamboohr: connect: unknown option 'token'
contrib.bamboohr: unknown stream 'people' (employees, directory, report, time_off, leave_days, whos_out, capacity)"

# ---------------------------------------------------------------------------
t "a 401 is class auth; the key (or its Basic form) appears in no output, log or file of the data dir"
brun "$EXAMPLE" >/dev/null                  # the writes above changed employees: read them first
ctl touch '{"id":"30","fields":{"jobTitle":"Manager"}}' >/dev/null
ctl fail '{"status":401,"times":1}' >/dev/null
brun "$EXAMPLE" --log-level debug
expect_in "$out$err" "auth"
expect_in "$out$err" "bamboohr GET /v1/employees/changed: 401 Unauthorized (check the API key"
B64=$(printf '%s:x' "$KEY" | base64 -w0)
expect_not_in "$out$err" "$KEY"
expect_not_in "$out$err" "$B64"
grep -rqaF -e "$KEY" -e "$B64" "$DATA" && fail "the key is in the data dir: $(grep -rlaF -e "$KEY" -e "$B64" "$DATA")"

t "a 403 is class permission, with BambooHR's X-BambooHR-Error-Message"
ctl fail '{"status":403,"times":1,"message":"API key user has no access to employee fields"}' >/dev/null
run_ferry resume bamboohr-people -c "$CONF" >/dev/null
brun "$EXAMPLE"
expect_in "$out$err" "permission"
expect_in "$out$err" "403 API key user has no access to employee fields"

t "a 429 storm, then a 503: the run still succeeds, and no retry came sooner than Retry-After said"
run_ferry resume bamboohr-people -c "$CONF" >/dev/null
ctl ratelimit '{"times":2,"retry_after":2,"status":429}' >/dev/null
before=$(nreq)
brun "$EXAMPLE"
expect_rc 0
expect_in "$out" "extracted 1 ·"
gaps=$(fake_py "[round(b['t'] - a['t'], 3) for a, b in zip(R[$before:], R[$before + 1:$before + 3])]")
expect_eq "$(fake_py "[line(q).split('?')[0] for q in R[$before:]]")" \
    "['GET /api/v1/employees/changed', 'GET /api/v1/employees/changed', 'GET /api/v1/employees/changed', 'POST /api/v1/reports/custom']" \
    "two 429s, then the read"
expect_eq "$(python3 -c "print(all(g >= 2.0 for g in $gaps))")" "True" "gaps after each 429: $gaps"
ctl touch '{"id":"31","fields":{"jobTitle":"Manager"}}' >/dev/null
ctl ratelimit '{"times":1,"retry_after":2,"status":503}' >/dev/null
before=$(nreq)
brun "$EXAMPLE"
expect_rc 0
expect_in "$out" "extracted 1 ·"
gap=$(fake_py "round(R[$before + 1]['t'] - R[$before]['t'], 3)")
expect_eq "$(python3 -c "print($gap >= 2.0)")" "True" "the gap after the 503: $gap"

done_t
