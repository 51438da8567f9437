-- Case 4 (the operating review): Harvest time entries, changed since the
-- last run, into the reporting layer's `harvest_time_entries`: hours, cost
-- (hours × the person's cost rate) and billable value (hours × billable
-- rate) per entry, with the month it counts in. The view operating_review
-- sums them per project code and month.
-- Secrets: HARVEST_TOKEN, HARVEST_ACCOUNT_ID (config/ferry.lua).
local harvest = require "contrib.harvest"
local views = require "reporting.views"
local hv = harvest.connect { contact = "ops@example.com" }
local entries = hv:stream("time_entries", { flat = true })

return ferry.integration {
  name = "harvest-time-entries",
  owner = "ops@example.com",
  purpose = "Hours, cost and billable value per project and month for the operating review",
  pattern = "reporting",
  source_of_truth = "harvest",
  schedule = "every 1h",
  freshness = "3h",
  expect = { min_records = 0 },                 -- an hour without new time is normal
  policy = { pause = { probe = "15m" } },     -- a revoked key pauses it; serve retries every 15 min
  description = "A deleted entry is not seen by Harvest's updated_since: see contrib/harvest, Deletions",

  extract = function(ctx)
    views.publish(ctx)
    return entries(ctx)
  end,

  load = ferry.sink.reporting { table = "harvest_time_entries", columns = harvest.columns.time_entries },
}
