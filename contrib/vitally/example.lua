-- Vitally accounts into a reporting table: health, tier and renewal date
-- per account, read incrementally (only accounts changed since the last
-- run), for a weekly "who renews soon and how healthy are they" report.
--
-- Grant the API key in the config:
--   integrations = { ["vitally-accounts"] = { secrets = { "VITALLY_API_KEY" } } }
-- and set the subdomain (the one in https://SUBDOMAIN.vitally.io), or
-- region = "eu" for Vitally's EU data centre.
local vitally = require "contrib.vitally"

local csm = vitally.connect {
  subdomain = "acme",
  tier_trait = "vitally.custom.tier",   -- the select trait holding the tier (else: the first segment)
}

return ferry.integration {
  name = "vitally-accounts",
  owner = "cs-ops@example.com",
  purpose = "Renewal and health reporting by tier",
  pattern = "reporting",
  source_of_truth = "vitally",
  schedule = "every 1h",
  freshness = "3h",
  expect = { min_records = 0 },          -- an hour without changes is normal

  extract = csm:stream("accounts", { status = "activeOrChurned" }),

  transform = function(a)
    return {
      account_id = a.id,
      external_id = a.externalId ~= ferry.json.null and a.externalId or nil,
      name = a.name,
      tier = a.tier,
      health = a.healthScore ~= ferry.json.null and a.healthScore or nil,
      renewal_date = a.nextRenewalDate ~= ferry.json.null and a.nextRenewalDate or nil,
      churned = a.churnedAt ~= nil and a.churnedAt ~= ferry.json.null,
      updated_at = a.updatedAt,
    }
  end,

  load = ferry.sink.sqlite {
    path = "vitally.db", table = "accounts",
    columns = { { "account_id", "text", key = true }, { "external_id", "text" }, { "name", "text" },
                { "tier", "text" }, { "health", "real" }, { "renewal_date", "text" },
                { "churned", "integer" }, { "updated_at", "text" } },
  },
}
