-- Cases 4 and 5: Harvest projects (code, client, dates, active) into
-- `harvest_projects`. A project's code is the key the other systems use:
-- a Stripe invoice's metadata.project, a HubSpot deal's project_code.
-- Secrets: HARVEST_TOKEN, HARVEST_ACCOUNT_ID (config/ferry.lua).
local harvest = require "contrib.harvest"
local views = require "reporting.views"
local hv = harvest.connect { contact = "ops@example.com" }
local projects = hv:stream("projects", { flat = true })

return ferry.integration {
  name = "harvest-projects",
  owner = "delivery@example.com",
  purpose = "Project status and dates for the operating review and the delivery manager's view",
  pattern = "reporting",
  source_of_truth = "harvest",
  schedule = "every 1h",
  freshness = "3h",
  expect = { min_records = 0 },
  policy = { pause = { probe = "15m" } },     -- a revoked key pauses it; serve retries every 15 min

  extract = function(ctx)
    views.publish(ctx)
    return projects(ctx)
  end,

  load = ferry.sink.reporting { table = "harvest_projects", columns = harvest.columns.projects },
}
