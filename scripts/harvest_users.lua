-- Case 4 (the operating review): Harvest's people (email, weekly capacity,
-- cost rate) into `harvest_users`, so hours (by Harvest user id) join
-- BambooHR's people and their capacity (by lower-cased work email).
-- Secrets: HARVEST_TOKEN, HARVEST_ACCOUNT_ID (config/ferry.lua).
local harvest = require "contrib.harvest"
local views = require "reporting.views"
local hv = harvest.connect { contact = "ops@example.com" }
local users = hv:stream("users", { flat = true })

return ferry.integration {
  name = "harvest-users",
  owner = "ops@example.com",
  purpose = "Match Harvest's people to BambooHR's by email for headcount and capacity",
  pattern = "reporting",
  source_of_truth = "harvest",
  schedule = "every 1h",
  freshness = "1d",
  expect = { min_records = 0 },
  policy = { pause = { probe = "15m" } },     -- a revoked key pauses it; serve retries every 15 min

  extract = function(ctx)
    views.publish(ctx)
    return users(ctx)
  end,

  load = ferry.sink.reporting { table = "harvest_users", columns = harvest.columns.users },
}
