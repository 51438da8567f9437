-- Case 5 (the delivery manager's view): who is staffed on which Harvest
-- project, with the person's email (contrib.harvest's `staffing` stream:
-- the active assignments and the people, read in full every run) into
-- `harvest_staffing`. The view reads the rows of the newest run only, so
-- an assignment ended or removed in Harvest drops out on the next run; it
-- joins BambooHR's leave by the lower-cased email.
-- Secrets: HARVEST_TOKEN, HARVEST_ACCOUNT_ID (config/ferry.lua).
local harvest = require "contrib.harvest"
local views = require "reporting.views"
local hv = harvest.connect { contact = "ops@example.com" }
local staffing = hv:stream("staffing")

return ferry.integration {
  name = "harvest-staffing",
  owner = "delivery@example.com",
  purpose = "Delivery managers see projects staffed by someone on leave",
  pattern = "reporting",
  source_of_truth = "harvest",
  schedule = "every 1h",
  freshness = "3h",
  expect = { min_records = 0 },                 -- no active assignment at all is possible
  policy = { pause = { probe = "15m" } },     -- a revoked key pauses it; serve retries every 15 min

  extract = function(ctx)
    views.publish(ctx)
    return staffing(ctx)
  end,

  load = ferry.sink.reporting { table = "harvest_staffing", columns = harvest.columns.staffing },
}
