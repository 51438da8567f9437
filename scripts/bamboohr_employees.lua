-- Case 4 (the operating review): BambooHR's people, changed since the last
-- run, into `bamboohr_employees`: work email (lower-cased, to match
-- Harvest's people), department, status, FTE and weekly hours. The view
-- counts a month's capacity as weekly_hours × 52 / 12.
-- Secrets: BAMBOOHR_API_KEY (config/ferry.lua).
local bamboohr = require "contrib.bamboohr"
local views = require "reporting.views"
local FULL_TIME = 40                       -- hours in a full-time week
local hr = bamboohr.connect { company = "acme", full_time_hours = FULL_TIME }
local employees = hr:stream("employees")

return ferry.integration {
  name = "bamboohr-employees",
  owner = "people-ops@example.com",
  purpose = "Headcount, FTE and capacity beside hours in the operating review",
  pattern = "reporting",
  source_of_truth = "bamboohr",
  schedule = "every 1h",
  freshness = "1d",
  expect = { min_records = 0 },
  policy = { pause = { probe = "15m" } },     -- a revoked key pauses it; serve retries every 15 min

  extract = function(ctx)
    views.publish(ctx)
    return employees(ctx)
  end,

  transform = function(e)
    local weekly = e.standardHoursPerWeek or (e.fte and e.fte * FULL_TIME) or nil
    return {
      employee_id = e.id, name = e.displayName, email = e.workEmail and e.workEmail:lower(),
      department = e.department, status = e.status, hire_date = e.hireDate,
      termination_date = e.terminationDate, fte = e.fte, weekly_hours = weekly,
      deleted = e.deleted or false, last_changed = e.lastChanged,
    }
  end,

  load = ferry.sink.reporting {
    table = "bamboohr_employees",
    columns = { { "employee_id", "text", key = true }, { "name", "text" }, { "email", "text" },
                { "department", "text" }, { "status", "text" }, { "hire_date", "text" },
                { "termination_date", "text" }, { "fte", "real" }, { "weekly_hours", "real" },
                { "deleted", "boolean" }, { "last_changed", "text" } },
  },
}
