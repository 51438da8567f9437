-- contrib/harvest on recorded responses (ferry test): the shipped example
-- against two pages of Harvest's GET /v2/time_entries, as the reference
-- documents them ({ time_entries, page, next_page, links = { next } }, the
-- next link cursor-based). The end-to-end test (test_harvest.sh) covers the
-- rest against a fake of the API.
local t = ferry.test
local page1 = t.fixture("fixtures/time_entries_page1.json")
local page2 = t.fixture("fixtures/time_entries_page2.json")
local TOKEN, ACCOUNT = "hv_pat_fixture_93c0d1", "1122334"

local api = t.server()
local function system()
  return t.system { script = "../example.lua", secrets = { HARVEST_TOKEN = TOKEN, HARVEST_ACCOUNT_ID = ACCOUNT },
                    http = { ["https://api.harvestapp.com"] = api } }
end

t.case("two pages land in the table with hours, cost and revenue; page 2 follows links.next", function()
  api:reset()
  api:route("GET", "/v2/time_entries", t.json(page1), t.json(page2))
  local hv = system()
  local r = hv:run()
  t.eq(r.status, "ok")
  t.eq(hv:rows("harvest.db", "SELECT id, month, hours, cost, revenue, project_code, user_name FROM time_entries ORDER BY id"), {
    { id = 2471650398, month = "2026-11", hours = 6.0, cost = 480.0, revenue = 900.0, project_code = "HS-9002", user_name = "Ana Lima" },
    { id = 2471877015, month = "2026-12", hours = 1.25, cost = 81.25, revenue = 0.0, project_code = "HS-9001", user_name = "Ben Okafor" },
    { id = 2471908204, month = "2026-12", hours = 2.5, cost = 200.0, revenue = 437.5, project_code = "HS-9001", user_name = "Ana Lima" },
  })
  local reqs = api:requests("GET", "/v2/time_entries")
  t.eq(#reqs, 2)
  t.eq(reqs[1].headers.authorization, "Bearer " .. TOKEN)
  t.eq(reqs[1].headers["harvest-account-id"], ACCOUNT)
  t.eq(reqs[1].headers["user-agent"], "ferry contrib.harvest (ops@example.com)")
  t.eq(reqs[1].query, { per_page = "2000" })
  t.eq(reqs[2].query, { cursor = "eyJhZnRlciI6eyJpZCI6MjQ3MTg3NzAxNX19", per_page = "2000", ref = "next_cursor" })
  t.ok(type(r.run.checkpoint.since) == "string", "the checkpoint holds since")
end)

t.case("a 401 on page 2 fails the run as auth with Harvest's message; the token is in no output", function()
  api:reset()
  api:route("GET", "/v2/time_entries", t.json(page1), t.unauthorized { error = "invalid_token",
    error_description = "The access token provided is expired, revoked, malformed or invalid for other reasons." })
  local r = system():run()
  t.eq(r.status, "failed")
  t.contains(r.run.error, "auth")
  t.contains(r.run.error, "The access token provided is expired")
  t.not_contains(r.out .. r.err, TOKEN)
end)

t.case("a 429 with Retry-After: 2: the run waits that long, then succeeds", function()
  api:reset()
  api:route("GET", "/v2/time_entries", t.rate_limited(1, { ["Retry-After"] = "2" }), t.json(page1), t.json(page2))
  local r = system():run()
  t.eq(r.status, "ok")
  local reqs = api:requests("GET", "/v2/time_entries")
  t.eq(#reqs, 3)
  t.ok(reqs[2].at - reqs[1].at >= 2, "the retry came after " .. (reqs[2].at - reqs[1].at) .. " s, not 2")
end)

t.case("a 422 on a list is validation with Harvest's message", function()
  api:reset()
  api:route("GET", "/v2/time_entries", t.json({ message = "per_page must be between 1 and 2000" }, 422))
  local r = system():run()
  t.eq(r.status, "failed")
  t.contains(r.run.error, "validation")
  t.contains(r.run.error, "harvest GET /v2/time_entries: 422 per_page must be between 1 and 2000")
end)

t.case("an entry without updated_at is schema_drift: the overlap cannot recognise it", function()
  api:reset()
  api:route("GET", "/v2/time_entries", t.json(t.with(page1, { ["time_entries[2].updated_at"] = t.NONE })))
  local r = system():run()
  t.eq(r.status, "failed")
  t.contains(r.run.error, "schema_drift")
  t.contains(r.run.error, "updated_at is not an ISO 8601 time")
end)
