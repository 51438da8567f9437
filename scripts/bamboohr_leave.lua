-- Case 5 (the delivery manager's view): approved BambooHR time off from
-- today to 31 days ahead, one row per person and day off, into
-- `bamboohr_leave_days`. The window is read in full every run; the view
-- reads only the rows of the newest run (`_run_id`), so leave cancelled
-- in BambooHR drops out when the next run loads.
-- Secrets: BAMBOOHR_API_KEY (config/ferry.lua).
local bamboohr = require "contrib.bamboohr"
local views = require "reporting.views"
local hr = bamboohr.connect { company = "acme" }
local days = hr:stream("leave_days", { days_back = 0, days_ahead = 31 })

return ferry.integration {
  name = "bamboohr-leave",
  owner = "people-ops@example.com",
  purpose = "Delivery managers see staffed people on approved leave before it starts",
  pattern = "reporting",
  source_of_truth = "bamboohr",
  schedule = "every 1h",
  freshness = "6h",
  expect = { min_records = 0 },                -- nobody on leave is normal
  -- a bad record is quarantined and its owner alerted: people ops fixes the employee in BambooHR
  policy = { validation = "alert", alert = { to = { "log" } }, pause = { probe = "15m" } },

  extract = function(ctx)
    views.publish(ctx)
    return days(ctx)
  end,

  transform = function(d)
    if not d.email then
      return nil, { class = "validation", field = "workEmail",
                    reason = ("bamboohr employee %s (%s) has no work email: their leave cannot be matched")
                      :format(tostring(d.employee_id), tostring(d.name)) }
    end
    return { key = d.key, employee_id = tostring(d.employee_id), email = d.email:lower(), name = d.name,
             leave_date = d.date, amount = d.amount, unit = d.unit, type = d.type, status = d.status }
  end,

  load = ferry.sink.reporting {
    table = "bamboohr_leave_days",
    columns = { { "key", "text", key = true }, { "employee_id", "text" }, { "email", "text" }, { "name", "text" },
                { "leave_date", "text" }, { "amount", "real" }, { "unit", "text" }, { "type", "text" },
                { "status", "text" } },
  },
}
