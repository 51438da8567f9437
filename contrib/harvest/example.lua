-- Harvest time entries into a reporting table: hours, cost and revenue per
-- entry, with the month it counts in, read incrementally (only what changed
-- since the last run), for the operating review's hours, cost and revenue
-- per project and month:
--
--   SELECT project_code, month, sum(hours), sum(cost), sum(revenue)
--   FROM time_entries GROUP BY 1, 2
--
-- Grant the token and the account id in the config:
--   integrations = { ["harvest-time"] = { secrets = { "HARVEST_TOKEN", "HARVEST_ACCOUNT_ID" } } }
-- and put your own contact in connect (Harvest wants it in the User-Agent).
local harvest = require "contrib.harvest"

local hv = harvest.connect {
  contact = "ops@example.com",          -- who Harvest may write to about this integration
}

return ferry.integration {
  name = "harvest-time",
  owner = "ops@example.com",
  purpose = "Hours, cost and revenue per project and month for the operating review",
  pattern = "reporting",
  source_of_truth = "harvest",
  schedule = "every 1h",
  freshness = "3h",
  expect = { min_records = 0 },          -- an hour without new time is normal

  extract = hv:stream("time_entries", { flat = true }),

  load = ferry.sink.sqlite { path = "harvest.db", table = "time_entries", columns = harvest.columns.time_entries },
}
