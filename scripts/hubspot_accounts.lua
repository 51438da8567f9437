-- Case 3: HubSpot companies into the reporting database, each with its
-- HubSpot owner matched by email to a Jira user, so support and account
-- reports name the same person. An owner without a Jira user waits in the
-- quarantine (lookup_missing) and loads by itself once the user exists.
-- Secrets: HUBSPOT_TOKEN, JIRA_API_TOKEN (config/ferry.lua).
local hubspot, jira = require "contrib.hubspot", require "contrib.jira"
local hs = hubspot.connect { base_url = "https://api.hubapi.com" }
local site = jira.connect { base_url = "https://acme.atlassian.net", email = "ferry-bot@acme.com" }
local owner_email = hs:owners { by = "id" }              -- HubSpot owner id -> email
local jira_user = site:users { refresh_on_miss = "0s" }  -- email -> Jira accountId; a miss reads again

local function given(v) return v ~= nil and v ~= ferry.json.null and v ~= "" end

return ferry.integration {
  name = "hubspot-accounts",
  owner = "revops@example.com",
  purpose = "Account reports show each HubSpot company with its owner as a Jira user",
  pattern = "reporting",
  source_of_truth = "hubspot",
  schedule = "every 1h",
  freshness = "3h",
  expect = { min_records = 0 },                      -- an hour without changes is normal
  policy = { lookup_missing = "quarantine", retry_quarantined = { lookup_missing = 24 } },

  extract = hs:stream("companies", { properties = { "name", "domain", "hubspot_owner_id" } }),

  transform = function(c, ctx)
    local email, jira_id, err
    if given(c.hubspot_owner_id) then
      email, err = owner_email:get(c.hubspot_owner_id, ctx)
      if err then return nil, err end                    -- an owner id HubSpot does not list
      jira_id, err = jira_user:get(email, ctx)
      if err then return nil, err end                    -- no Jira user with that email (yet)
    end
    return { id = c.id, name = c.name, domain = c.domain, owner_email = email,
             owner_jira_account = jira_id, modified_at = c.hs_lastmodifieddate }
  end,

  load = ferry.sink.sqlite {
    path = "reporting.db",
    table = "hubspot_accounts",
    columns = { { "id", "text", key = true }, { "name", "text" }, { "domain", "text" }, { "owner_email", "text" },
                { "owner_jira_account", "text" }, { "modified_at", "text" } },
  },
}
