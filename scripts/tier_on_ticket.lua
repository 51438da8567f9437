-- Case 1: when a Jira issue is created, put its customer's tier and health
-- (from Vitally) on the issue, so the agent triaging it sees them at once.
-- Secrets: JIRA_API_TOKEN, VITALLY_API_KEY, JIRA_HOOK_SECRET (config/ferry.lua).
-- The hourly reconcile is scripts/tier_on_ticket_reconcile.lua.
local jira, vitally = require "contrib.jira", require "contrib.vitally"
local site = jira.connect { base_url = "https://acme.atlassian.net", email = "ferry-bot@acme.com" }
local csm = vitally.connect { subdomain = "acme", tier_trait = "vitally.custom.tier" }
local accounts = csm:account_names { refresh_on_miss = "0s" }   -- organisation name -> account id
local tiers, bands = site:picklist("Tier"), site:picklist("Health")

local function band(score)                         -- Vitally's health, 0-10 -> the field's option
  return type(score) == "number" and (score >= 7 and "Green" or score >= 4 and "Yellow" or "Red") or nil
end

return ferry.integration {
  name = "tier-on-ticket",
  owner = "support-ops@example.com",
  purpose = "Agents see the customer's tier and health on a new Jira ticket before they prioritise it",
  pattern = "workflow",
  source_of_truth = "vitally",
  freshness = "1d",
  policy = { picklist_drift = "alert", lookup_missing = "quarantine", alert = { to = { "log" } } },
  trigger = { webhook = { path = "jira-issues", signature = "websub", secret = "JIRA_HOOK_SECRET" } },

  transform = function(ev, ctx)
    local e = jira.webhook_issue(ev.json)
    if not e or e.event ~= "created" then return nil end        -- other events: skipped
    local reporter = e.issue.fields.reporter
    local org = type(reporter) == "table" and site:organizations_of(ctx, reporter.accountId)[1]
    if not org then return nil end                               -- not a customer's ticket
    local id, err = accounts:get(org, ctx)
    if not id then return nil, err end                           -- lookup_missing: the reconcile retries
    local acct, aerr = csm:account(ctx, id)
    if not acct then return nil, aerr end
    local tier, terr = tiers:match(acct.tier, ctx)
    if not tier then return nil, terr end                        -- picklist_drift, once per value
    local health, herr = bands:match(band(acct.healthScore), ctx)
    if not health then return nil, herr end
    return { issue = e.key, fields = { Tier = tier, Health = health } }
  end,

  load = site:update_issues(),
}
