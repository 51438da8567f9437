-- scripts/tier_on_ticket.lua on recorded Jira and Vitally answers (ferry
-- test): a Jira issue-created webhook in, the issue's Tier and Health out.
-- tests/e2e/test_cases.sh runs the same script against the connectors' fakes.
local t = ferry.test
local hook = t.fixture("fixtures/jira_issue_created.json")
local fields = t.fixture("fixtures/jira_fields.json")
local accounts = t.fixture("fixtures/vitally_accounts.json")

local jira, vitally = t.server(), t.server()
local function page(values) return t.json { startAt = 0, maxResults = 50, total = #values, isLast = true, values = values } end
local function options(...)
  local v = {}
  for i, o in ipairs { ... } do v[i] = { id = tostring(10100 + i), value = o, disabled = false } end
  return page(v)
end
local function site(org, account)
  jira:reset()
  vitally:reset()
  jira:route("GET", "/rest/servicedeskapi/organization",
    t.json { size = 1, start = 0, limit = 50, isLastPage = true, values = { { id = "1", name = org } } })
  jira:route("GET", "/rest/api/3/field", t.json(fields))
  jira:route("GET", "^/rest/api/3/field/customfield_1005%d/context$", page { { id = "10200", name = "Default", isGlobalContext = true } })
  jira:route("GET", "/rest/api/3/field/customfield_10050/context/10200/option", options("Bronze", "Silver", "Gold"))
  jira:route("GET", "/rest/api/3/field/customfield_10051/context/10200/option", options("Green", "Yellow"))
  jira:route("PUT", "/rest/api/3/issue/SUP-101", t.status(204))
  vitally:route("GET", "/resources/accounts", t.json(accounts))
  vitally:route("GET", "/resources/accounts/" .. account.id, t.json(account))
  local sys = t.system { script = "../tier_on_ticket.lua",
    secrets = { JIRA_API_TOKEN = "jira-fixture-token", VITALLY_API_KEY = "sk_fixture", JIRA_HOOK_SECRET = "hook-fixture" },
    http = { ["https://acme.atlassian.net"] = jira, ["https://acme.rest.vitally.io"] = vitally } }
  sys:deliver(hook)
  return sys
end

t.case("an issue-created event: the reporter's organisation's tier and health land on the issue", function()
  local r = site("Acme Corp", accounts.results[1]):run()
  t.eq(r.status, "ok")
  local put = jira:requests("PUT", "/rest/api/3/issue/SUP-101")
  t.eq(#put, 1)
  t.eq(put[1].json, { fields = { customfield_10050 = { value = "Gold" }, customfield_10051 = { value = "Green" } } })
  t.eq(jira:requests("GET", "/rest/servicedeskapi/organization")[1].query.accountId, "70121:c3e1a2b4-cust-acme")
end)

t.case("a health band the Health field lacks (Red) is picklist_drift with the value; nothing is written", function()
  local sys = site("Initech", accounts.results[2])
  local r = sys:run()
  t.eq(r.status, "partial")
  t.has(sys:quarantine(), { class = "picklist_drift" })
  t.contains(sys:quarantine()[1].reason, 'unknown value "Red"')
  t.eq(#jira:requests("PUT", "/rest/api/3/issue/SUP-101"), 0)
end)

t.case("an organisation Vitally does not have is lookup_missing", function()
  local sys = site("Umbrella", accounts.results[1])
  t.eq(sys:run().status, "partial")
  t.has(sys:quarantine(), { class = "lookup_missing" })
  t.contains(sys:quarantine()[1].reason, 'no match for "umbrella"')
end)
