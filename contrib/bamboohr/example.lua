-- BambooHR employees into a reporting table: who works here, in which
-- department, reporting to whom, on what hours (FTE), read incrementally
-- (only employees changed since the last run), for the operating review's
-- people and capacity.
--
-- Grant the API key in the config:
--   integrations = { ["bamboohr-people"] = { secrets = { "BAMBOOHR_API_KEY" } } }
-- and set company to your companyDomain (the one in https://COMPANY.bamboohr.com).
local bamboohr = require "contrib.bamboohr"

local hr = bamboohr.connect {
  company = "acme",
  full_time_hours = 40,                 -- a full-time week: fte = standardHoursPerWeek / 40
}

return ferry.integration {
  name = "bamboohr-people",
  owner = "people-ops@example.com",
  purpose = "Headcount and capacity in the operating review",
  pattern = "reporting",
  source_of_truth = "bamboohr",
  schedule = "every 1h",
  freshness = "3h",
  expect = { min_records = 0 },          -- an hour without changes is normal

  extract = hr:stream("employees"),

  transform = function(e)
    return {
      employee_id = e.id,
      name = e.displayName,
      email = e.workEmail and e.workEmail:lower(),
      department = e.department,
      job_title = e.jobTitle,
      status = e.status,                 -- Active / Inactive
      hire_date = e.hireDate,
      termination_date = e.terminationDate,
      location = e.location,
      supervisor = e.supervisor,
      hours_per_week = e.standardHoursPerWeek,
      fte = e.fte,
      deleted = e.deleted or false,
      last_changed = e.lastChanged,
    }
  end,

  load = ferry.sink.sqlite {
    path = "bamboohr.db", table = "employees",
    columns = { { "employee_id", "text", key = true }, { "name", "text" }, { "email", "text" },
                { "department", "text" }, { "job_title", "text" }, { "status", "text" },
                { "hire_date", "text" }, { "termination_date", "text" }, { "location", "text" },
                { "supervisor", "text" }, { "hours_per_week", "real" }, { "fte", "real" },
                { "deleted", "integer" }, { "last_changed", "text" } },
  },
}
