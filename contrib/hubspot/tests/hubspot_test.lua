-- ferry test: the shipped example (../example.lua) against responses
-- recorded in HubSpot's shape (fixtures/), and the failures that matter.
-- The end-to-end test against the fake is test_hubspot.sh beside it.
local t = ferry.test

local page1 = t.fixture("fixtures/companies_search_1.json")
local page2 = t.fixture("fixtures/companies_search_2.json")
local tier = t.fixture("fixtures/customer_tier.json")
local owners = t.fixture("fixtures/owners.json")
local TOKEN = "pat-na1-kit-3b9d0c4e"
local SEARCH = "/crm/v3/objects/companies/search"

local api = t.server()
local function system()
  return t.system { script = "../example.lua", secrets = { HUBSPOT_TOKEN = TOKEN },
                    http = { ["https://api.hubapi.com"] = api } }
end
local function routes(search1, search2)
  api:reset()
  api:route("POST", SEARCH, t.json(search1), t.json(search2))
  api:route("GET", "/crm/v3/properties/companies/customer_tier", t.json(tier))
  api:route("GET", "/crm/v3/owners/", t.json(owners))
end

t.case("two search pages land once each, with owners' emails; the cursor is the newest time read", function()
  routes(page1, page2)
  local hs = system()
  local r = hs:run()
  t.eq(r.status, "ok")
  t.eq(r.run.loaded, 3, "Globex, on both pages, once")
  t.eq(hs:rows("hubspot.db", "SELECT id, tier, owner_email FROM companies ORDER BY id"), {
    { id = "1001", tier = "gold", owner_email = "ana.silva@example.com" },
    { id = "1002", tier = "silver", owner_email = "ben.okafor@example.com" },
    { id = "1003", tier = "bronze", owner_email = "ana.silva@example.com" } })
  t.eq(r.run.checkpoint, { since = 1793534400000, ids = { "1003" } })
  local reqs = api:requests("POST", SEARCH)
  t.eq(#reqs, 2)
  t.eq(reqs[1].headers.authorization, "Bearer " .. TOKEN)
  t.eq(#reqs[1].json.filterGroups, 0, "no cursor: everything")
  t.eq(reqs[2].json.filterGroups[1].filters[1],
    { propertyName = "hs_lastmodifieddate", operator = "GTE", value = "1793530800000" })
  t.eq(reqs[2].json.sorts, { { propertyName = "hs_lastmodifieddate", direction = "ASCENDING" } })
end)

t.case("an option HubSpot does not offer is picklist_drift", function()
  routes(page1, t.with(page2, { ["results[2].properties.customer_tier"] = "platinum" }))
  local hs = system()
  t.eq(hs:run().status, "partial")
  t.has(hs:quarantine(), { class = "picklist_drift", record = { id = "1003" } })
end)

t.case("a revoked token fails the run as auth", function()
  routes(page1, page2)
  api:route("POST", SEARCH, t.unauthorized { status = "error", category = "INVALID_AUTHENTICATION",
    message = "Authentication credentials not found.", correlationId = "0b1e6c6a-1b9c-4e7e-9d1e-3c1a2b4d5e6f" })
  local r = system():run()
  t.eq(r.status, "failed")
  t.contains(r.run.error, "401 INVALID_AUTHENTICATION")
  t.not_contains(r.out .. r.err, TOKEN)
end)

t.case("a 429 storm with HubSpot's headers and no Retry-After: the run waits the window and succeeds", function()
  routes(page1, page2)
  api:route("GET", "/crm/v3/owners/", t.rate_limited(2, {
      ["X-HubSpot-RateLimit-Max"] = "100", ["X-HubSpot-RateLimit-Remaining"] = "0",
      ["X-HubSpot-RateLimit-Interval-Milliseconds"] = "1500" },
    { status = "error", errorType = "RATE_LIMIT", policyName = "TEN_SECONDLY_ROLLING",
      message = "You have reached your ten_secondly_rolling limit." }), t.json(owners))
  t.eq(system():run().status, "ok")
  local reqs = api:requests("GET", "/crm/v3/owners/")
  t.eq(#reqs, 3)
  t.ok(reqs[2].at - reqs[1].at >= 1.45 and reqs[3].at - reqs[2].at >= 1.45, "each retry after the 1.5 s window")
end)
