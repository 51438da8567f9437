-- contrib/bamboohr on recorded responses (ferry test): the shipped example
-- against GET /v1/employees/changed and POST /v1/reports/custom as the
-- reference documents them ({ latest, employees: { id: { id, action,
-- lastChanged } } }; a report's values are strings, empty dates
-- "0000-00-00"). The end-to-end test (test_bamboohr.sh) covers the rest
-- against a fake of the API.
local t = ferry.test
local changed = t.fixture("fixtures/changed.json")
local report = t.fixture("fixtures/report.json")
local KEY = "bhr_fixture_key_7d1c03e5"

local api = t.server()
local function system()
  return t.system { script = "../example.lua", secrets = { BAMBOOHR_API_KEY = KEY },
                    http = { ["https://acme.bamboohr.com"] = api } }
end

t.case("changed employees land in the table, oldest change first; the cursor is the newest change", function()
  api:reset()
  api:route("GET", "/api/v1/employees/changed", t.json(changed))
  api:route("POST", "/api/v1/reports/custom", t.json(report))
  local hr = system()
  local r = hr:run()
  t.eq(r.status, "ok")
  t.eq(r.run.checkpoint, { since = "2026-12-04T16:20:11+00:00", at = { "112" } })
  t.eq(hr:rows("bamboohr.db", "SELECT employee_id, email, status, termination_date, hours_per_week, fte "
    .. "FROM employees ORDER BY employee_id"), {
    { employee_id = "112", email = "cgarcia@efficientoffice.com", status = "Active", fte = 1.0 },
    { employee_id = "40", email = "aadams@efficientoffice.com", status = "Inactive", termination_date = "2026-11-30",
      hours_per_week = 24.0, fte = 0.6 },
    { employee_id = "7", email = "cabbott@efficientoffice.com", status = "Active", hours_per_week = 40.0, fte = 1.0 },
  })
  local reqs = api:requests("GET", "/api/v1/employees/changed")
  t.eq(#reqs, 1)
  t.eq(reqs[1].headers.authorization, "Basic " .. ferry.http.base64(KEY .. ":x"))
  t.eq(reqs[1].headers.accept, "application/json")
  t.eq(reqs[1].query, { since = "1970-01-01T00:00:00+00:00" })
  local rep = api:requests("POST", "/api/v1/reports/custom")
  t.eq(#rep, 1)
  t.eq(rep[1].json.filters.employeeIds, { 7, 40, 112 })
  t.eq(rep[1].headers["content-type"], "application/json")
end)

t.case("a 401 fails the run as auth, saying what to check; the key is in no output", function()
  api:reset()
  api:route("GET", "/api/v1/employees/changed", t.status(401, ""))
  local r = system():run()
  t.eq(r.status, "failed")
  t.contains(r.run.error, "auth")
  t.contains(r.run.error, "check the API key")
  t.not_contains(r.out .. r.err, KEY)
end)

t.case("a 400 carries BambooHR's X-BambooHR-Error-Message", function()
  api:reset()
  api:route("GET", "/api/v1/employees/changed",
    t.status(400, "", { ["X-BambooHR-Error-Message"] = "Invalid since parameter" }))
  local r = system():run()
  t.eq(r.status, "failed")
  t.contains(r.run.error, "validation")
  t.contains(r.run.error, "bamboohr GET /v1/employees/changed: 400 Invalid since parameter")
end)

t.case("a 429 with Retry-After: the run waits that long, then succeeds", function()
  api:reset()
  api:route("GET", "/api/v1/employees/changed", t.status(429, "", { ["Retry-After"] = "2" }), t.json(changed))
  api:route("POST", "/api/v1/reports/custom", t.json(report))
  local r = system():run()
  t.eq(r.status, "ok")
  local reqs = api:requests("GET", "/api/v1/employees/changed")
  t.eq(#reqs, 2)
  t.ok(reqs[2].at - reqs[1].at >= 2, "the retry came after " .. (reqs[2].at - reqs[1].at) .. " s, not 2")
end)

t.case("an XML answer (no JSON) is schema_drift", function()
  api:reset()
  api:route("GET", "/api/v1/employees/changed",
    t.status(200, '<?xml version="1.0"?><employees/>', { ["Content-Type"] = "text/xml" }))
  local r = system():run()
  t.eq(r.status, "failed")
  t.contains(r.run.error, "schema_drift")
  t.contains(r.run.error, "not JSON")
end)
