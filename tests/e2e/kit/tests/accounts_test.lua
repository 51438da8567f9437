-- ferry test's own test (tests/e2e/test_kit.sh runs it): the script in
-- ../accounts.lua against recorded CRM pages and the failures that matter.
local t = ferry.test

local page1 = t.fixture("fixtures/accounts_page1.json")
local page2 = t.fixture("fixtures/accounts_page2.json")
local TOKEN = "kit-token-5f3a9e1c"

local api = t.server()
local function system()      -- a fresh data directory: no checkpoint, empty table
  return t.system { script = "../accounts.lua", secrets = { CRM_TOKEN = TOKEN },
                    http = { ["https://api.crm.example"] = api } }
end

t.case("two pages land in the table, tiers in the picklist's spelling", function()
  api:reset()
  api:route("GET", "/v1/accounts", t.json(page1), t.json(page2))
  local crm = system()
  local r = crm:run()
  t.eq(r.code, 0, "exit status")
  t.eq(r.status, "ok")
  t.eq(r.run.loaded, 3)
  t.eq(r.run.checkpoint, 2)
  t.eq(crm:rows("crm.db", "SELECT id, name, tier FROM accounts ORDER BY id"), {
    { id = 1, name = "Acme", tier = "Gold" }, { id = 2, name = "Globex", tier = "Silver" },
    { id = 3, name = "Initech", tier = "Bronze" } })
  local reqs = api:requests("GET", "/v1/accounts")
  t.eq(#reqs, 2, "requests")
  t.eq(reqs[1].query.page, "1")
  t.eq(reqs[2].query.page, "2")
  t.eq(reqs[1].headers.authorization, "Bearer " .. TOKEN)
  t.eq(#api:unmatched(), 0, "requests no fixture answered")
end)

t.case("an unknown picklist value is quarantined as picklist_drift, the rest load", function()
  api:reset()
  api:route("GET", "/v1/accounts", t.json(page1), t.json(t.with(page2, { ["accounts[1].tier"] = "Platinum" })))
  local crm = system()
  local r = crm:run()
  t.eq(r.code, 3, "exit status: some records quarantined")
  t.eq(r.status, "partial")
  local q = crm:quarantine()
  t.eq(#q, 1)
  t.eq(q[1].class, "picklist_drift")
  t.eq(q[1].record.id, 3)
  t.contains(q[1].reason, "Platinum")
  t.eq(#crm:rows("crm.db", "SELECT id FROM accounts"), 2)
end)

t.case("a new field in the source changes nothing", function()
  api:reset()
  api:route("GET", "/v1/accounts", t.json(t.with(page1, { ["accounts[1].region"] = "EU", ["accounts[2].name"] = "Globex Corp" })),
    t.json(page2))
  local crm = system()
  t.eq(crm:run().status, "ok")
  t.eq(crm:rows("crm.db", "SELECT name FROM accounts WHERE id = 2"), { { name = "Globex Corp" } })
end)

t.case("a 401 mid-run fails the run as auth, and the token is nowhere in what it printed", function()
  api:reset()
  api:route("GET", "/v1/accounts", t.json(page1), t.unauthorized { message = "token expired" })
  local crm = system()
  local r = crm:run()
  t.eq(r.code, 1, "exit status")
  t.eq(r.status, "failed")
  t.contains(r.run.error, "auth")
  t.not_contains(r.out .. r.err .. r.run.error, TOKEN)
  t.eq(#api:requests("GET", "/v1/accounts"), 2, "the 401 is not retried")
end)

t.case("a 429 storm: the run waits as Retry-After says and succeeds", function()
  api:reset()
  api:route("GET", "/v1/accounts", t.rate_limited(2, { ["Retry-After"] = "1" }), t.json(page1), t.json(page2))
  local crm = system()
  local r = crm:run()
  t.eq(r.status, "ok")
  t.eq(r.run.loaded, 3)
  local reqs = api:requests("GET", "/v1/accounts")
  t.eq(#reqs, 4, "two 429s, then the two pages")
  t.ok(reqs[3].at - reqs[2].at >= 0.9, "waited " .. (reqs[3].at - reqs[2].at) .. " s after a 429 with Retry-After: 1")
end)

t.case("a path without a fixture answers 404 and is listed as unmatched", function()
  api:reset()
  local crm = system()
  local r = crm:run()
  t.eq(r.status, "failed")
  t.contains(r.run.error, "not_found")
  t.eq(api:unmatched()[1].path, "/v1/accounts")
end)
