-- ferry test cases for contrib/jira's example (example.lua) on recorded
-- Jira Cloud responses (fixtures/, shaped as the v3 reference shows them).
-- The end-to-end test against the fake site is test_jira.sh; these show an
-- integrator how to test a script that uses the connector.
local t = ferry.test
local page1 = t.fixture("fixtures/search_page1.json")
local page2 = t.fixture("fixtures/search_page2.json")
local myself = t.fixture("fixtures/myself.json")

local jira = t.server()
local function system()
  return t.system { script = "../example.lua", secrets = { JIRA_API_TOKEN = "jira-kit-token-8c1e4f" },
                    http = { ["https://acme.atlassian.net"] = jira } }
end

t.case("two pages of the enhanced search land in the table, the second asked with nextPageToken", function()
  jira:reset()
  jira:route("POST", "/rest/api/3/search/jql", t.json(page1), t.json(page2))
  local sys = system()
  local r = sys:run()
  t.eq(r.status, "ok")
  t.eq(sys:rows("jira.db", "SELECT key, status FROM issues ORDER BY key"),
       { { key = "SUP-1", status = "Open" }, { key = "SUP-2", status = "In Progress" }, { key = "SUP-3", status = "Done" } })
  local sent = jira:requests("POST", "/rest/api/3/search/jql")
  t.eq(#sent, 2)
  t.eq(sent[1].json.jql, "(project = SUP) ORDER BY updated ASC, key ASC")
  t.eq(sent[1].json.nextPageToken, nil)
  t.eq(sent[2].json.nextPageToken, "CAEaAggD")
  t.eq(sent[1].headers.authorization, "Basic " .. ferry.http.base64("ferry-bot@acme.example:jira-kit-token-8c1e4f"))
  -- the cursor: the newest updated (SUP-3, 10:04 UTC) in ms, and its id
  t.eq(r.run.checkpoint, { at = 1796119440000, ids = { "10003" }, updated = "2026-12-01T10:04:00.000Z" })
end)

t.case("the next run asks from the cursor on the account's clock and skips what it has seen", function()
  jira:reset()
  jira:route("POST", "/rest/api/3/search/jql", t.json(page1), t.json(page2))
  jira:route("GET", "/rest/api/3/myself", t.json(myself))
  local sys = system()
  t.eq(sys:run().status, "ok")
  jira:reset()
  jira:route("GET", "/rest/api/3/myself", t.json(myself))
  jira:route("POST", "/rest/api/3/search/jql", t.json(t.with(page2, { ["issues[2]"] =
    { id = "10004", key = "SUP-4", fields = { summary = "New", updated = "2026-12-01T11:06:00.000+0100" } } })))
  local r = sys:run()
  t.eq(r.status, "ok")
  t.eq(r.run.extracted, 1)
  t.eq(jira:requests("POST", "/rest/api/3/search/jql")[1].json.jql,
       '(project = SUP) AND updated >= "2026-12-01 10:59" ORDER BY updated ASC, key ASC')
end)

t.case("a 401 mid-run (a revoked token) fails the run as auth", function()
  jira:reset()
  jira:route("POST", "/rest/api/3/search/jql", t.json(page1),
    t.status(401, "Client must be authenticated to access this resource.", { ["Content-Type"] = "text/plain" }))
  local r = system():run()
  t.eq(r.status, "failed")
  t.contains(r.run.error, "auth: Jira POST /rest/api/3/search/jql: HTTP 401: Client must be authenticated")
end)

t.case("a 429 storm with Jira's headers: the run waits and succeeds", function()
  jira:reset()
  jira:route("POST", "/rest/api/3/search/jql",
    t.rate_limited(2, { ["Retry-After"] = "1", ["X-RateLimit-Remaining"] = "0", ["RateLimit-Reason"] = "jira-burst-based" }),
    t.json(page1), t.json(page2))
  t.eq(system():run().status, "ok")
  t.eq(#jira:requests("POST", "/rest/api/3/search/jql"), 4)
end)
