-- Case 1's reconcile: every hour, the open Jira issues updated since the last
-- run (the stream's cursor) get their customer's current tier and health from
-- Vitally; an issue already showing them is skipped, so only changes are written.
local jira, vitally = require "contrib.jira", require "contrib.vitally"
local site = jira.connect { base_url = "https://acme.atlassian.net", email = "ferry-bot@acme.com" }
local csm = vitally.connect { subdomain = "acme", tier_trait = "vitally.custom.tier" }
local accounts = csm:account_names { refresh_on_miss = "0s" }
local tiers, bands = site:picklist("Tier"), site:picklist("Health")

local function band(score)
  return type(score) == "number" and (score >= 7 and "Green" or score >= 4 and "Yellow" or "Red") or nil
end
local function shown(v) return type(v) == "table" and v.value or nil end   -- a select field's value

return ferry.integration {
  name = "tier-on-ticket-reconcile",
  owner = "support-ops@example.com",
  purpose = "Open tickets keep their customer's current tier and health when Vitally's values change",
  pattern = "workflow",
  source_of_truth = "vitally",
  schedule = "every 1h",
  freshness = "3h",
  expect = { min_records = 0 },                      -- an hour without changes is normal
  policy = { picklist_drift = "alert", alert = { to = { "log" } } },
  extract = site:stream("issues", { jql = "statusCategory != Done", fields = { "*all" }}),

  transform = function(issue, ctx)
    local r = issue.fields.reporter
    local org = type(r) == "table" and site:organizations_of(ctx, r.accountId)[1]
    if not org then return nil end
    local id, err = accounts:get(org, ctx)
    if not id then return nil, err end
    local acct, aerr = csm:account(ctx, id)
    if not acct then return nil, aerr end
    local tier, terr = tiers:match(acct.tier, ctx)
    if not tier then return nil, terr end
    local health, herr = bands:match(band(acct.healthScore), ctx)
    if not health then return nil, herr end
    local f = issue.fields
    if shown(f[site:field_id(ctx, "Tier")]) == tier and shown(f[site:field_id(ctx, "Health")]) == health then
      return nil                                                  -- already right: skipped
    end
    return { issue = issue.key, fields = { Tier = tier, Health = health } }
  end,

  load = site:update_issues(),
}
