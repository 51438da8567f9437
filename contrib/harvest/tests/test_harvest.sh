#!/usr/bin/env bash
# contrib/harvest end to end: scripts that `require "contrib.harvest"` run
# with `ferry run` against fake_harvest.py (Python standard library,
# 127.0.0.1, written from Harvest's public reference). Checks the rows a
# SQLite sink holds, what the fake holds and was sent (its request log), the
# quarantine (class and Harvest's own message), checkpoints across runs, and
# that the token appears nowhere.
. "$(dirname "$0")/../../../tests/e2e/lib.sh"

TOKEN=hv_pat_7c1e94b05a2f3d
ACCOUNT=987654
export HARVEST_TOKEN=$TOKEN HARVEST_ACCOUNT_ID=$ACCOUNT
DATA=$WORK/data
CONF=$WORK/harvest_conf.lua

python3 "$ROOT/contrib/harvest/tests/fake_harvest.py" --port-file "$WORK/harvest.port" --token "$TOKEN" \
    --account "$ACCOUNT" >"$WORK/fake.out" 2>&1 &
_bg_pids+=($!)
for _ in $(seq 1 200); do [ -s "$WORK/harvest.port" ] && break; sleep 0.05; done
H=http://127.0.0.1:$(cat "$WORK/harvest.port" 2>/dev/null)

# Every integration of this test may read the two secrets; nothing else is granted.
cat >"$CONF" <<EOF
local s = { secrets = { "HARVEST_TOKEN", "HARVEST_ACCOUNT_ID" } }
return {
  data_dir = "$DATA",
  -- the shipped example's production URL, unedited, goes to the fake
  http = { rewrite = { ["https://api.harvestapp.com"] = "$H" } },
  integrations = { ["harvest-time"] = s, ["h-write"] = s, ["h-update"] = s, ["h-lookup"] = s,
    ["h-staff"] = s, ["h-budget"] = s, ["h-window"] = s, ["h-projects"] = s, ["h-users"] = s,
    ["h-staffing"] = s },
}
EOF
hrun() { run_ferry run "$@" -c "$CONF"; }
# fake_py EXPR: a Python expression over S (collections as the fake holds
# them: S["projects"], ...), P (projects by code) and R (requests, each
# {method, path, query, body, headers, status, t})
fake_py() {
    python3 - "$H" "$1" <<'EOF' 2>&1
import json, re, sys, urllib.parse, urllib.request
get = lambda p: json.load(urllib.request.urlopen(sys.argv[1] + p))
S = get("/__fake/state")
P = {p.get("code"): p for p in S["projects"]}
R = get("/__fake/requests")
line = lambda q: q["method"] + " " + q["path"] + ("?" + q["query"] if q["query"] else "")
qs = lambda q: dict(urllib.parse.parse_qsl(q["query"]))
print(eval(sys.argv[2]))
EOF
}
ctl() { curl -s -o /dev/null -w '%{http_code}' -X POST --data "$2" "$H/__fake/$1"; }
nreq() { fake_py 'len(R)'; }
qpy() { quarantine_py "$DATA" "$1" "$2"; }

# 4,500 time entries (three pages of 2,000) on 5 projects, 4 people, in
# November 2026; 3 more spent in the last days (for the window); a budget
# per project; who is staffed on what.
python3 - "$H" <<'EOF'
import datetime, json, sys, urllib.request
iso = lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")
base = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)
today = datetime.datetime.now(datetime.timezone.utc)
clients = [{"id": 501 + i, "name": n, "currency": "USD", "is_active": True, "created_at": iso(base),
            "updated_at": iso(base)} for i, n in enumerate(["Acme Corp", "Globex", "Initech"])]
users = [{"id": 9001 + i, "first_name": f, "last_name": "Doe", "email": f.lower() + "@agency.example",
          "is_active": True, "is_contractor": i == 3, "weekly_capacity": 144000 if i else 126000,
          "cost_rate": [60.0, 55.0, 70.0, 90.0][i], "default_hourly_rate": 150.0, "roles": ["Engineer"],
          "created_at": iso(base + datetime.timedelta(days=i)), "updated_at": iso(base)}
         for i, f in enumerate(["Ana", "Ben", "Cleo", "Dev"])]
tasks = [{"id": 701, "name": "Development", "billable_by_default": True, "default_hourly_rate": 150.0,
          "is_active": True, "created_at": iso(base), "updated_at": iso(base)},
         {"id": 702, "name": "Internal", "billable_by_default": False, "default_hourly_rate": None,
          "is_active": True, "created_at": iso(base), "updated_at": iso(base)}]
codes = ["P-001", "P-002", "P-003", "DUP", "DUP"]
projects = []
for i, code in enumerate(codes):
    c = clients[i % 3]
    projects.append({"id": 14200001 + i, "name": "Project %d" % (i + 1), "code": code, "is_active": i != 2,
                     "is_billable": True, "is_fixed_fee": False, "bill_by": "Project", "hourly_rate": 150.0,
                     "budget_by": ["project", "project_cost", "project", "none", "none"][i],
                     "budget": [400.0, None, 100.0, None, None][i], "cost_budget": [None, 50000.0, None, None, None][i],
                     "budget_is_monthly": False, "fee": None, "notes": "", "starts_on": "2026-10-01",
                     "ends_on": None, "client": {"id": c["id"], "name": c["name"], "currency": "USD"},
                     "created_at": iso(base + datetime.timedelta(hours=i)), "updated_at": iso(base)})
assign = []
for i, (u, p) in enumerate([(0, 0), (1, 0), (1, 1), (2, 1), (3, 2), (0, 2), (2, 0)]):
    assign.append({"id": 3100 + i, "user": {"id": users[u]["id"], "name": users[u]["first_name"] + " Doe"},
                   "project": {"id": projects[p]["id"], "name": projects[p]["name"], "code": projects[p]["code"]},
                   "is_active": i != 6, "is_project_manager": i == 0, "use_default_rates": True,
                   "hourly_rate": None, "budget": None, "created_at": iso(base), "updated_at": iso(base)})
entries = []
def entry(i, when, spent):
    u, p = users[i % 4], projects[i % 3]
    billable = i % 5 != 0
    return {"id": 2000000 + i, "spent_date": spent, "hours": (i % 8) * 0.5 + 0.5, "notes": "work %d" % i,
            "is_locked": False, "is_closed": False, "is_billed": i % 7 == 0, "is_running": False,
            "billable": billable, "budgeted": True, "billable_rate": 150.0 if billable else None,
            "cost_rate": u["cost_rate"], "created_at": iso(when), "updated_at": iso(when),
            "user": {"id": u["id"], "name": u["first_name"] + " Doe"},
            "client": dict(p["client"]), "project": {"id": p["id"], "name": p["name"], "code": p["code"]},
            "task": {"id": tasks[i % 2]["id"], "name": tasks[i % 2]["name"]}}
for i in range(1, 4501):
    when = base + datetime.timedelta(minutes=9 * i)       # 1 Nov to 29 Nov 2026
    entries.append(entry(i, when, when.strftime("%Y-%m-%d")))
for i, days in ((4501, 2), (4502, 3), (4503, 40)):
    when = base - datetime.timedelta(days=30)              # created long ago, spent recently
    entries.append(entry(i, when, (today - datetime.timedelta(days=days)).strftime("%Y-%m-%d")))
req = urllib.request.Request(sys.argv[1] + "/__fake/seed", method="POST", data=json.dumps(
    {"clients": clients, "users": users, "tasks": tasks, "projects": projects, "user_assignments": assign,
     "time_entries": entries}).encode())
urllib.request.urlopen(req)
EOF

EXAMPLE=$ROOT/contrib/harvest/example.lua
AUTH="Bearer $TOKEN"

# ---------------------------------------------------------------------------
t "the shipped example passes ferry check"
[ -s "$WORK/harvest.port" ] || fail "the fake did not start: $(cat "$WORK/fake.out")"
run_ferry check "$EXAMPLE"
expect_rc 0
expect_in "$out" "ok: harvest-time (reporting, owner ops@example.com"

t "ferry connectors lists it, as it describes itself"
run_ferry connectors
expect_in "$out" "harvest 0.1.0  Harvest (API v2)"
expect_in "$out" "streams:    projects, time_entries, users, clients, tasks, user_assignments, project_budget, staffing"
expect_in "$out" "auth:       personal access token (Bearer) and Harvest-Account-Id; secrets HARVEST_TOKEN, HARVEST_ACCOUNT_ID"

t "run 1 reads every time entry over three pages (links.next), with the token, the account id and a User-Agent with a contact"
hrun "$EXAMPLE"
expect_rc 0
expect_in "$out" "extracted 4503 · transformed 4503 · skipped 0 · loaded 4503"
expect_eq "$(sql "$DATA/harvest.db" "SELECT count(*), count(DISTINCT month) FROM time_entries")" "4503|3"
expect_eq "$(fake_py '[(q["path"], sorted(qs(q))) for q in R]')" \
    "[('/v2/time_entries', ['per_page']), ('/v2/time_entries', ['cursor', 'per_page', 'ref']), ('/v2/time_entries', ['cursor', 'per_page', 'ref'])]"
expect_eq "$(fake_py 'set((q["headers"]["authorization"], q["headers"]["harvest-account-id"], q["headers"]["user-agent"]) for q in R)')" \
    "{('$AUTH', '$ACCOUNT', 'ferry contrib.harvest (ops@example.com)')}"

t "a time entry's row: hours, cost = hours × cost_rate, revenue = hours × billable_rate when billable, the month"
expect_eq "$(sql "$DATA/harvest.db" "SELECT spent_date, month, hours, cost_rate, cost, billable, revenue, user_name, project_code, task_name, client_name FROM time_entries WHERE id IN (2000006, 2000010) ORDER BY id")" \
"2026-11-01|2026-11|3.5|70.0|245.0|1|525.0|Cleo Doe|P-001|Development|Acme Corp
2026-11-01|2026-11|1.5|70.0|105.0|0|0.0|Cleo Doe|P-002|Development|Globex"
want=$(fake_py 'sorted({(e["project"]["code"], e["spent_date"][:7]): 0 for e in S["time_entries"]}.keys())[:2]')
expect_eq "$(sql "$DATA/harvest.db" "SELECT project_code, month, round(sum(hours), 2), round(sum(cost), 2), round(sum(revenue), 2) FROM time_entries WHERE month = '2026-11' GROUP BY 1, 2 ORDER BY 1")" \
    "$(fake_py '"\n".join("%s|2026-11|%s|%s|%s" % (c, round(sum(e["hours"] for e in E), 2), round(sum(e["hours"] * e["cost_rate"] for e in E), 2), round(sum(e["hours"] * (e["billable_rate"] or 0) for e in E if e["billable"]), 2)) for c in ("P-001", "P-002", "P-003") for E in [[e for e in S["time_entries"] if e["project"]["code"] == c and e["spent_date"][:7] == "2026-11"]])')" \
    "hours, cost and revenue per project and month, as the fake's own entries add up"

t "run 1 checkpoints its start less the overlap (5 minutes), nothing seen inside it"
run_ferry runs harvest-time --json -c "$CONF"
since=$(python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); r=r[0] if isinstance(r,list) else r; print(json.dumps(r["checkpoint"], sort_keys=True))' <<<"$out")
expect_eq "$(python3 -c "import json,time,datetime; c=json.loads('$since'); t=datetime.datetime.strptime(c['since'],'%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc).timestamp(); print(sorted(c), c['seen'], 240 < time.time() - t < 900)")" \
    "['seen', 'since'] {} True"

t "run 2 reads only the entries updated since run 1 (updated_since), one page"
ctl touch '{"kind":"time_entries","id":2000010,"fields":{"hours":2.0}}' >/dev/null
ctl touch '{"kind":"time_entries","id":2004000,"fields":{"billable":false}}' >/dev/null
before=$(nreq)
hrun "$EXAMPLE"
expect_rc 0
expect_in "$out" "extracted 2 · transformed 2 · skipped 0 · loaded 2"
expect_eq "$(fake_py "[sorted(qs(q)) for q in R[$before:]]")" "[['per_page', 'updated_since']]"
expect_eq "$(fake_py "qs(R[$before])['updated_since'] == json.loads('$since')['since']")" "True" "updated_since is the checkpoint"
expect_eq "$(sql "$DATA/harvest.db" "SELECT id, hours, revenue FROM time_entries WHERE id IN (2000010, 2004000) ORDER BY id")" \
"2000010|2.0|0.0
2004000|0.5|0.0"

t "run 3 with nothing changed: Harvest answers the two again (inside the overlap), the run knows them and emits nothing"
before=$(nreq)
hrun "$EXAMPLE"
expect_rc 0
expect_in "$out" "extracted 0"
expect_eq "$(fake_py "len(R[$before:])")" "1"
run_ferry runs harvest-time --json -c "$CONF"
expect_in "$out" '"2000010":'

t "a run that fails on page 3 checkpointed page 2's links.next; the next run resumes there"
run_ferry reset harvest-time --yes -c "$CONF"
expect_rc 0
ctl fail '{"status":500,"times":1,"skip":2,"path":"/v2/time_entries"}' >/dev/null
before=$(nreq)
hrun "$EXAMPLE"
expect_in "$out$err" "transient"
expect_in "$out$err" "harvest GET /v2/time_entries: 500 Internal Server Error"
expect_eq "$(fake_py "len(R) - $before")" "3"
run_ferry runs harvest-time --json -c "$CONF"
expect_in "$out" '"ref":"next_cursor"'
before=$(nreq)
hrun "$EXAMPLE"
expect_rc 0
expect_in "$out" "extracted 503 · transformed 503"
expect_eq "$(fake_py "[sorted(qs(q)) for q in R[$before:]]")" "[['cursor', 'per_page', 'ref']]" "page 3 only, from its cursor"

t "an account that pages by number (next_page, links with ?page=): followed the same"
run_ferry reset harvest-time --yes -c "$CONF"
ctl paging '{"mode":"page"}' >/dev/null
before=$(nreq)
hrun "$EXAMPLE"
ctl paging '{"mode":"cursor"}' >/dev/null
expect_rc 0
expect_in "$out" "extracted 4503"
expect_eq "$(fake_py "[qs(q).get('page') for q in R[$before:]]")" "[None, '2', '3']"

# ---------------------------------------------------------------------------
script write "local harvest = require 'contrib.harvest'
local hv = harvest.connect { base_url = '$H', contact = 'qa@example.com' }
return ferry.integration { name = 'h-write', owner = 'qa@example.com', purpose = 'test', pattern = 'workflow',
  source_of_truth = 'hubspot', freshness = '1h',
  extract = function(ctx)
    ctx:emit({ code = harvest.deal_code(9001), name = 'Acme Rollout', client_id = 501, is_billable = true, bill_by = 'Project',
               budget_by = 'project', budget = 120, hourly_rate = 160, starts_on = '2027-01-04' })
    ctx:emit({ code = 'P-001', notes = 'Phase 2 signed', is_active = true })
    ctx:emit({ code = 'HS-9002', name = 'Globex Audit', client_id = 502, is_billable = true, bill_by = 'Weekly',
               budget_by = 'none' })
    ctx:emit({ code = 'HS-9003', name = 'Initech Fix', client_id = 503, is_billable = true, bill_by = 'Project' })
    ctx:emit({ name = 'No code' })
    ctx:emit({ code = 'DUP', notes = 'which one?' })
    ctx:emit({ code = 'HS-9004', name = 'Project 2', client_id = 503, is_billable = false, bill_by = 'none',
               budget_by = 'none' })
    ctx:emit({ code = 'HS-9005', name = 'Nobody Inc work', client_id = 999, is_billable = true, bill_by = 'Project',
               budget_by = 'none' })
  end,
  load = hv:upsert_projects { key = 'code' },
}"
t "a batch write by code: a new code is created (POST), a known one updated (PATCH); the projects read once"
before=$(nreq)
hrun "$WORK/write.lua"
expect_rc 3
expect_in "$out" "loaded 2 · quarantined 6"
expect_eq "$(fake_py '(P["HS-9001"]["name"], P["HS-9001"]["client"]["name"], P["HS-9001"]["budget"], P["HS-9001"]["starts_on"], P["P-001"]["notes"])')" \
    "('Acme Rollout', 'Acme Corp', 120, '2027-01-04', 'Phase 2 signed')"
expect_eq "$(fake_py "sorted(line(q) for q in R[$before:])")" \
    "['GET /v2/projects?per_page=2000', 'PATCH /v2/projects/14200001', 'POST /v2/projects', 'POST /v2/projects', 'POST /v2/projects', 'POST /v2/projects', 'POST /v2/projects']"
expect_eq "$(fake_py "[json.loads(q['body']) for q in R[$before:] if q['method'] == 'PATCH'] == [{'code': 'P-001', 'is_active': True, 'notes': 'Phase 2 signed'}]")" \
    "True" "the PATCH sends the record's fields"

t "a batch write: the refused records quarantined with Harvest's message and the field it names"
expect_eq "$(qpy h-write '"\n".join("%s %s %s" % (q["record"].get("code"), q["class"], q["reason"]) for q in L)')" \
"HS-9002 validation harvest POST /v2/projects: 422 Bill by is not included in the list (field bill_by)
HS-9003 validation harvest POST /v2/projects: 422 Missing required parameter: budget_by (field budget_by)
None validation harvest: field code: the project's code is required
DUP lookup_ambiguous harvest: two projects have code \"DUP\"; none is updated
HS-9004 validation harvest POST /v2/projects: 422 Name has already been taken (field name)
HS-9005 validation harvest POST /v2/projects: 422 Client can't be blank (field client_id)"

script update "local harvest = require 'contrib.harvest'
local hv = harvest.connect { base_url = '$H', contact = 'qa@example.com' }
return ferry.integration { name = 'h-update', owner = 'qa@example.com', purpose = 'test', pattern = 'workflow',
  source_of_truth = 'hubspot', freshness = '1h',
  extract = function(ctx)
    ctx:emit({ id = 14200003, is_active = true, ends_on = '2027-03-31' })
    ctx:emit({ id = 14299999, notes = 'gone' })
    ctx:emit({ id = 14200002, budget = 'lots' })
  end,
  load = hv:upsert_projects { key = 'id' },
}"
t "writes by id: PATCH only, never a create; an unknown project is lookup_missing, a bad number validation"
before=$(nreq)
hrun "$WORK/update.lua"
expect_rc 3
expect_in "$out" "loaded 1 · quarantined 2"
expect_eq "$(fake_py '(P["P-003"]["is_active"], P["P-003"]["ends_on"])')" "(True, '2027-03-31')"
expect_eq "$(fake_py "sorted(line(q) for q in R[$before:])")" \
    "['PATCH /v2/projects/14200002', 'PATCH /v2/projects/14200003', 'PATCH /v2/projects/14299999']"
expect_eq "$(qpy h-update '"\n".join("%s %s %s" % (q["record"]["id"], q["class"], q["reason"]) for q in L)')" \
"14299999 lookup_missing harvest PATCH /v2/projects/14299999: 404 Not Found (retried on later runs)
14200002 validation harvest PATCH /v2/projects/14200002: 422 Budget is not a number (field budget)"

# ---------------------------------------------------------------------------
script lookup "local harvest = require 'contrib.harvest'
local hv = harvest.connect { base_url = '$H', contact = 'qa@example.com' }
local people, by_code, by_name, clients = hv:users(), hv:projects(), hv:projects { by = 'name' }, hv:clients()
return ferry.integration { name = 'h-lookup', owner = 'qa@example.com', purpose = 'test', pattern = 'workflow',
  source_of_truth = 'harvest', freshness = '1h',
  extract = function(ctx)
    ctx:emit({ key = 'D-1', owner = ' Ana@Agency.example ', code = 'p-002', project = 'Project 3', client = 'globex' })
    ctx:emit({ key = 'D-2', owner = 'nobody@agency.example', code = 'P-001', project = 'Project 1', client = 'Acme Corp' })
    ctx:emit({ key = 'D-3', owner = 'ben@agency.example', code = 'HS-0000', project = 'Project 1', client = 'Acme Corp' })
    ctx:emit({ key = 'D-4', owner = 'ben@agency.example', code = 'DUP', project = 'Project 1', client = 'Acme Corp' })
    ctx:emit({ key = 'D-5', owner = 'cleo@agency.example', code = 'P-003', project = 'Project 9', client = 'Initech' })
  end,
  transform = function(r, ctx)
    local u = hv:user_by_email(ctx, r.owner)
    if not u then return nil, { class = 'lookup_missing', reason = 'no Harvest user ' .. r.owner } end
    local out = { key = r.key, user_id = u.id, capacity = u.weekly_capacity / 3600 }
    for _, l in ipairs { { 'project_id', by_code, r.code }, { 'by_name', by_name, r.project },
                         { 'client_id', clients, r.client }, { 'owner_id', people, r.owner } } do
      local id, err = l[2]:get(l[3], ctx)
      if not id then return nil, err end
      out[l[1]] = id
    end
    return out
  end,
  load = ferry.sink.sqlite { path = 'lookup.db', table = 'deals', columns = { { 'key', 'text', key = true },
    { 'user_id', 'integer' }, { 'capacity', 'real' }, { 'project_id', 'integer' }, { 'by_name', 'integer' },
    { 'client_id', 'integer' }, { 'owner_id', 'integer' } } },
}"
t "lookups: users by email, projects by code or name, clients by name; hits, misses, a shared code ambiguous"
before=$(nreq)
hrun "$WORK/lookup.lua"
expect_rc 3
expect_eq "$(sql "$DATA/lookup.db" "SELECT key, user_id, capacity, project_id, by_name, client_id, owner_id FROM deals ORDER BY key")" \
    "D-1|9001|35.0|14200002|14200003|502|9001"
expect_eq "$(qpy h-lookup '"\n".join("%s %s %s" % (q["record"]["key"], q["class"], q["reason"]) for q in L)')" \
"D-2 lookup_missing no Harvest user nobody@agency.example
D-3 lookup_missing lookup harvest_projects_by_code: no match for \"hs-0000\" (retried on later runs)
D-4 lookup_ambiguous lookup harvest_projects_by_code: \"dup\" matches 2 entries (14200005, 14200004); none is picked
D-5 lookup_missing lookup harvest_projects_by_name: no match for \"project 9\" (retried on later runs)"
expect_eq "$(fake_py "sorted(line(q) for q in R[$before:])")" \
    "['GET /v2/clients?per_page=2000', 'GET /v2/projects?per_page=2000', 'GET /v2/projects?per_page=2000', 'GET /v2/users?per_page=2000', 'GET /v2/users?per_page=2000']" \
    "each list read once per run and lookup"

# ---------------------------------------------------------------------------
script staff "local harvest = require 'contrib.harvest'
local hv = harvest.connect { base_url = '$H', contact = 'qa@example.com' }
return ferry.integration { name = 'h-staff', owner = 'qa@example.com', purpose = 'test', pattern = 'reporting',
  source_of_truth = 'harvest', freshness = '1h',
  extract = function(ctx)
    for _, a in ipairs(hv:assignments(ctx, 14200001)) do
      ctx:emit({ id = a.id, user_id = a.user.id, project_id = 14200001, pm = a.is_project_manager })
    end
    local ok, err = pcall(hv.assignments, hv, ctx, 14299999)
    ctx:emit({ id = 0, user_id = 0, project_id = 14299999, pm = err and err.class == 'not_found' })
  end,
  load = ferry.sink.sqlite { path = 'staff.db', table = 'staff', columns = { { 'id', 'integer', key = true },
    { 'user_id', 'integer' }, { 'project_id', 'integer' }, { 'pm', 'boolean' } } },
}"
t "assignments(ctx, project): who is staffed on a project (active ones); an unknown project is not_found"
before=$(nreq)
hrun "$WORK/staff.lua"
expect_rc 0
expect_eq "$(sql "$DATA/staff.db" "SELECT id, user_id, pm FROM staff ORDER BY id")" "0|0|1
3100|9001|1
3101|9002|0"
expect_eq "$(fake_py "[line(q) for q in R[$before:]][0]")" \
    "GET /v2/projects/14200001/user_assignments?is_active=true&per_page=2000"

script projects "local harvest = require 'contrib.harvest'
local hv = harvest.connect { base_url = '$H', contact = 'qa@example.com' }
return ferry.integration { name = 'h-projects', owner = 'qa@example.com', purpose = 'test', pattern = 'reporting',
  source_of_truth = 'harvest', freshness = '1h',
  extract = hv:stream('user_assignments', { flat = true, query = { is_active = true } }),
  load = ferry.sink.sqlite { path = 'psa.db', table = 'assignments', columns = harvest.columns.user_assignments },
}"
t "the user_assignments stream, flat, with a filter Harvest takes (is_active)"
before=$(nreq)
hrun "$WORK/projects.lua"
expect_rc 0
expect_eq "$(sql "$DATA/psa.db" "SELECT count(*), sum(is_project_manager), group_concat(DISTINCT project_code) FROM assignments")" \
    "6|1|P-001,P-002,P-003"
expect_eq "$(fake_py "line(R[$before])")" "GET /v2/user_assignments?is_active=true&per_page=2000"

script staffing "local harvest = require 'contrib.harvest'
local hv = harvest.connect { base_url = '$H', contact = 'qa@example.com' }
return ferry.integration { name = 'h-staffing', owner = 'qa@example.com', purpose = 'test', pattern = 'reporting',
  source_of_truth = 'harvest', freshness = '1h',
  extract = hv:stream('staffing'),
  load = ferry.sink.sqlite { path = 'psa.db', table = 'staffing', columns = harvest.columns.staffing },
}"
t "the staffing stream: active assignments with the person's email and capacity (for joining HR's time off), two reads"
before=$(nreq)
hrun "$WORK/staffing.lua"
expect_rc 0
expect_eq "$(sql "$DATA/psa.db" "SELECT project_code, user_email, weekly_capacity_hours, is_project_manager FROM staffing ORDER BY id")" \
"P-001|ana@agency.example|35.0|1
P-001|ben@agency.example|40.0|0
P-002|ben@agency.example|40.0|0
P-002|cleo@agency.example|40.0|0
P-003|dev@agency.example|40.0|0
P-003|ana@agency.example|35.0|0"
expect_eq "$(fake_py "sorted(line(q) for q in R[$before:])")" \
    "['GET /v2/user_assignments?is_active=true&per_page=2000', 'GET /v2/users?per_page=2000']"

script users "local harvest = require 'contrib.harvest'
local hv = harvest.connect { base_url = '$H', user_agent = 'Agency PSA sync (https://intranet.example/psa)' }
return ferry.integration { name = 'h-users', owner = 'qa@example.com', purpose = 'test', pattern = 'reporting',
  source_of_truth = 'harvest', freshness = '1h',
  extract = hv:stream('users', { flat = true }),
  load = ferry.sink.sqlite { path = 'psa.db', table = 'people', columns = harvest.columns.users },
}"
t "the users stream, flat: weekly capacity in hours (Harvest sends seconds), cost rate; a user_agent of one's own"
before=$(nreq)
hrun "$WORK/users.lua"
expect_rc 0
expect_eq "$(sql "$DATA/psa.db" "SELECT email, weekly_capacity_hours, cost_rate, is_contractor FROM people ORDER BY id")" \
"ana@agency.example|35.0|60.0|0
ben@agency.example|40.0|55.0|0
cleo@agency.example|40.0|70.0|0
dev@agency.example|40.0|90.0|1"
expect_eq "$(fake_py "R[$before]['headers']['user-agent']")" "Agency PSA sync (https://intranet.example/psa)"

script budget "local harvest = require 'contrib.harvest'
local hv = harvest.connect { base_url = '$H', contact = 'qa@example.com' }
return ferry.integration { name = 'h-budget', owner = 'qa@example.com', purpose = 'test', pattern = 'reporting',
  source_of_truth = 'harvest', freshness = '1h',
  extract = hv:stream('project_budget', { flat = true }),
  load = ferry.sink.sqlite { path = 'psa.db', table = 'budgets', columns = harvest.columns.project_budget },
}"
t "the project budget report (the reports API): budget, spent and remaining per budgeted project, read in full each run"
hrun "$WORK/budget.lua"
expect_rc 0
expect_in "$out" "extracted 4" "3 seeded and the one the write test created"
expect_eq "$(sql "$DATA/psa.db" "SELECT project_id, budget_by, budget, round(budget_spent, 2), round(budget_remaining, 2) FROM budgets ORDER BY 1")" \
    "$(fake_py '"\n".join("%d|%s|%s|%s|%s" % (p["id"], p["budget_by"], float(b), float(round(s, 2)), float(round(b - s, 2))) for p in S["projects"] if p["budget_by"] != "none" for E in [[e for e in S["time_entries"] if e["project"]["id"] == p["id"]]] for b in [p["budget"] or p["cost_budget"]] for s in [sum(e["hours"] * (e["billable_rate"] or 0) for e in E if e["billable"]) if p["budget_by"] == "project_cost" else sum(e["hours"] for e in E)])')"
hrun "$WORK/budget.lua"
expect_in "$out" "extracted 4" "no cursor: the whole report again"

# ---------------------------------------------------------------------------
script window "local harvest = require 'contrib.harvest'
local hv = harvest.connect { base_url = '$H', contact = 'qa@example.com' }
return ferry.integration { name = 'h-window', owner = 'qa@example.com', purpose = 'test', pattern = 'reporting',
  source_of_truth = 'harvest', freshness = '1d',
  extract = hv:stream('time_entries', { window = 5, flat = true }),
  load = ferry.sink.sqlite { path = 'window.db', table = 'time_entries', columns = harvest.columns.time_entries },
}"
t "window = 5: the entries spent in the last 5 days, read in full every run (from/to, no updated_since)"
hrun "$WORK/window.lua"
expect_rc 0
expect_in "$out" "extracted 2"
expect_eq "$(fake_py "sorted(qs(R[-1]))")" "['from', 'per_page', 'to']"
expect_eq "$(sql "$DATA/window.db" "SELECT id FROM time_entries ORDER BY id")" "2004501
2004502"

t "a deleted entry: not in the next window run, so its row keeps an older _synced_at and the README's query finds it"
ctl delete '{"kind":"time_entries","id":2004502}' >/dev/null
hrun "$WORK/window.lua"
expect_rc 0
expect_in "$out" "extracted 1"
run_ferry runs h-window --json -c "$CONF"
started=$(python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print((r[0] if isinstance(r, list) else r)["started_at"])' <<<"$out")
expect_eq "$(sql "$DATA/window.db" "SELECT id FROM time_entries WHERE spent_date >= date('now', '-5 days') AND _synced_at < '$started'")" \
    "2004502" "rows not written since the window run began ($started)"

# ---------------------------------------------------------------------------
t "connect: a contact is required (the User-Agent Harvest wants); mistakes are named"
cat >"$WORK/connect.lua" <<'EOF'
local h = require "contrib.harvest"
print(h.connect { contact = "ops@example.com" }.base_url)
print(select(2, pcall(h.connect, {})))
print(select(2, pcall(h.connect, { contact = "ops@example.com", token_name = "X" })))
print(select(2, pcall(h.connect, { contact = "ops@example.com", per_page = 5000 })))
print(select(2, pcall(function() return h.connect { contact = "a@b.c" }:stream("invoices") end)))
print(select(2, pcall(function() return h.connect { contact = "a@b.c" }:stream("projects", { window = 7 }) end)))
EOF
run_ferry lua "$WORK/connect.lua"
expect_rc 0
expect_eq "$out" "https://api.harvestapp.com
contrib.harvest: connect needs contact (an email or URL Harvest can reach you at; it goes in the User-Agent Harvest requires) or user_agent
contrib.harvest: connect: unknown option 'token_name'
contrib.harvest: per_page: 1 to 2000
contrib.harvest: unknown stream 'invoices' (projects, time_entries, users, clients, tasks, user_assignments, project_budget, staffing)
contrib.harvest: window: a number of days, for the time_entries stream"

# ---------------------------------------------------------------------------
t "a 401 is class auth, with Harvest's message; the token appears in no output, log or file of the data dir"
ctl touch '{"kind":"time_entries","id":2000030,"fields":{"hours":1.0}}' >/dev/null
ctl fail '{"status":401,"times":1}' >/dev/null
hrun "$EXAMPLE" --log-level debug
expect_in "$out$err" "auth"
expect_in "$out$err" "harvest GET /v2/time_entries: 401 The access token provided is expired, revoked, malformed or invalid for other reasons. (check the token"
expect_not_in "$out$err" "$TOKEN"
grep -rqaF -e "$TOKEN" "$DATA" && fail "the token is in the data dir: $(grep -rlaF -e "$TOKEN" "$DATA")"

t "a 403 is class permission, saying which role Harvest wants"
ctl fail '{"status":403,"times":1}' >/dev/null
run_ferry resume harvest-time -c "$CONF" >/dev/null
hrun "$EXAMPLE"
expect_in "$out$err" "permission"
expect_in "$out$err" "403 Forbidden (the token's user lacks the role"

t "a 429 storm: the run still succeeds, and no retry came sooner than Harvest's Retry-After said"
run_ferry resume harvest-time -c "$CONF" >/dev/null
ctl ratelimit '{"times":3,"retry_after":2}' >/dev/null
before=$(nreq)
hrun "$EXAMPLE"
expect_rc 0
expect_in "$out" "quarantined 0"
gaps=$(fake_py "[round(b['t'] - a['t'], 3) for a, b in zip(R[$before:], R[$before + 1:$before + 4])]")
expect_eq "$(fake_py "[q['status'] for q in R[$before:]]")" "[429, 429, 429, 200]" "three 429s, then the page"
expect_eq "$(python3 -c "print(all(g >= 2.0 for g in $gaps))")" "True" "gaps after each 429: $gaps"

done_t
