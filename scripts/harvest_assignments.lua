-- Case 5: who is staffed on which Harvest project (user assignments) into
-- `harvest_assignments`; delivery_view flags a project whose active staff
-- have approved leave in the next 14 days.
-- Secrets: HARVEST_TOKEN, HARVEST_ACCOUNT_ID (config/ferry.lua).
local harvest = require "contrib.harvest"
local views = require "reporting.views"
local hv = harvest.connect { contact = "ops@example.com" }
local assignments = hv:stream("user_assignments", { flat = true })

return ferry.integration {
  name = "harvest-assignments",
  owner = "delivery@example.com",
  purpose = "Delivery managers see projects staffed by someone on leave",
  pattern = "reporting",
  source_of_truth = "harvest",
  schedule = "every 1h",
  freshness = "3h",
  expect = { min_records = 0 },
  description = "An assignment removed in Harvest is not listed again (archive it instead: is_active = false)",

  extract = function(ctx)
    views.publish(ctx)
    return assignments(ctx)
  end,

  load = ferry.sink.reporting { table = "harvest_assignments", columns = harvest.columns.user_assignments },
}
