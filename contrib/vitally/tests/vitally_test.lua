-- contrib/vitally on recorded responses (ferry test): the shipped example
-- against two pages of Vitally's GET /resources/accounts, as the reference
-- documents them ({ results, next }, newest change first). The end-to-end
-- test (test_vitally.sh) covers the rest against a fake of the API.
local t = ferry.test
local page1 = t.fixture("fixtures/accounts_page1.json")
local page2 = t.fixture("fixtures/accounts_page2.json")
local KEY = "sk_vitally_fixture_2b7e51"

local api = t.server()
local function system()
  return t.system { script = "../example.lua", secrets = { VITALLY_API_KEY = KEY },
                    http = { ["https://acme.rest.vitally.io"] = api } }
end

t.case("two pages land in the table; the cursor is the newest updatedAt", function()
  api:reset()
  api:route("GET", "/resources/accounts", t.json(page1), t.json(page2))
  local csm = system()
  local r = csm:run()
  t.eq(r.status, "ok")
  t.eq(r.run.checkpoint, { since = "2026-12-04T16:20:11.482Z" })
  t.eq(csm:rows("vitally.db", "SELECT external_id, tier, health, churned FROM accounts ORDER BY external_id"), {
    { external_id = "ACME-001", tier = "gold", health = 7.8, churned = 0 },
    { external_id = "GLOBEX-002", tier = "silver", health = 4.1, churned = 0 },
    { external_id = "INITECH-003", tier = "bronze", health = 2.0, churned = 1 },
  })
  local reqs = api:requests("GET", "/resources/accounts")
  t.eq(#reqs, 2)
  t.eq(reqs[1].headers.authorization, "Basic " .. ferry.http.base64(KEY .. ":"))
  t.eq(reqs[1].query, { limit = "100", sortBy = "updatedAt", status = "activeOrChurned" })
  t.eq(reqs[2].query.from, page1.next)
end)

t.case("a 401 on page 2 fails the run as auth, saying what to check; the key is in no output", function()
  api:reset()
  api:route("GET", "/resources/accounts", t.json(page1), t.unauthorized { error = "Unauthorized" })
  local r = system():run()
  t.eq(r.status, "failed")
  t.contains(r.run.error, "auth")
  t.contains(r.run.error, "check the API key")
  t.not_contains(r.out .. r.err, KEY)
end)

t.case("429s with RateLimit-Reset and no Retry-After: the run waits that long, then succeeds", function()
  api:reset()
  api:route("GET", "/resources/accounts",
    t.status(429, '{"error":"Too Many Requests"}', { ["RateLimit-Limit"] = "1000, 1000;window=60",
      ["RateLimit-Remaining"] = "0", ["RateLimit-Reset"] = "2" }),
    t.json(page1), t.json(page2))
  local r = system():run()
  t.eq(r.status, "ok")
  local reqs = api:requests("GET", "/resources/accounts")
  t.eq(#reqs, 3)
  t.ok(reqs[2].at - reqs[1].at >= 2, "the retry came after " .. (reqs[2].at - reqs[1].at) .. " s, not 2")
end)

t.case("an account without updatedAt is schema_drift: the cursor cannot move past it", function()
  api:reset()
  api:route("GET", "/resources/accounts", t.json(t.with(page1, { ["results[2].updatedAt"] = t.NONE })))
  local r = system():run()
  t.eq(r.status, "failed")
  t.contains(r.run.error, "schema_drift")
  t.contains(r.run.error, "without updatedAt")
end)
