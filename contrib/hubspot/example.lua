-- HubSpot companies into a reporting table, each with its owner's email.
--
-- Reads only the companies changed since the last run (the connector's
-- cursor), resolves each company's owner id to the owner's email with one
-- paged fetch of the owners per hour (never one request per company), and
-- checks the tier against the property's live options in HubSpot.
--
-- Grant the token in the config:
--   integrations = { ["hubspot-companies"] = { secrets = { "HUBSPOT_TOKEN" } } }
local hubspot = require "contrib.hubspot"

local hs = hubspot.connect {
  base_url = "https://api.hubapi.com",          -- the default; the test points it at its fake
  token = "HUBSPOT_TOKEN",                      -- the secret's name (the default too)
}

local owner_email = hs:owners { by = "id" }      -- owner id -> email
local tiers = hs:picklist("companies", "customer_tier")

return ferry.integration {
  name = "hubspot-companies",
  owner = "revops@example.com",
  purpose = "Account reporting sees every HubSpot company with its tier and owner",
  pattern = "reporting",
  source_of_truth = "hubspot",
  schedule = "every 15m",
  freshness = "1h",
  policy = { picklist_drift = "quarantine", lookup_missing = "quarantine" },

  extract = hs:stream("companies", {
    properties = { "name", "domain", "customer_tier", "annualrevenue", "hubspot_owner_id" },
  }),

  transform = function(c, ctx)
    local tier, err = tiers:match(c.customer_tier, ctx)
    if err then return nil, err end
    local email
    if c.hubspot_owner_id ~= nil and c.hubspot_owner_id ~= ferry.json.null and c.hubspot_owner_id ~= "" then
      email, err = owner_email:get(c.hubspot_owner_id, ctx)
      if err then return nil, err end
    end
    return { id = c.id, name = c.name, domain = c.domain, tier = tier, owner_email = email,
             annual_revenue = tonumber(c.annualrevenue), modified_at = c.hs_lastmodifieddate }
  end,

  load = ferry.sink.sqlite {
    path = "hubspot.db",
    table = "companies",
    columns = { { "id", "text", key = true }, { "name", "text" }, { "domain", "text" }, { "tier", "text" },
                { "owner_email", "text" }, { "annual_revenue", "real" }, { "modified_at", "text" } },
  },
}
