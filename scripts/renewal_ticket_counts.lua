-- Case 2: every hour, the Vitally accounts renewing in the next 90 days get
-- their open and escalated Jira tickets counted onto them (two traits), so
-- the CSM preparing a renewal sees the support load without opening Jira.
-- An account is a JSM organisation of the same name (case and spaces aside).
-- Secrets: JIRA_API_TOKEN, VITALLY_API_KEY (config/ferry.lua).
local jira, vitally = require "contrib.jira", require "contrib.vitally"
local site = jira.connect { base_url = "https://acme.atlassian.net", email = "ferry-bot@acme.com" }
local csm = vitally.connect { subdomain = "acme" }
local OPEN, ESCALATED = "vitally.custom.openTickets", "vitally.custom.escalatedTickets"

local function key(name) return (string.lower(name):match("^%s*(.-)%s*$")) end

return ferry.integration {
  name = "renewal-ticket-counts",
  owner = "cs-ops@example.com",
  purpose = "CSMs see open and escalated tickets on accounts renewing in the next 90 days",
  pattern = "workflow",
  source_of_truth = "jira",
  schedule = "every 1h",
  freshness = "3h",
  policy = { validation = "quarantine", alert = { to = { "log" } } },

  -- One search of Jira's open issues, one read of Vitally's accounts.
  extract = function(ctx)
    local counts = {}
    for org, c in pairs(site:ticket_counts(ctx, { escalated = { priority = { "Highest", "High" }, labels = { "escalated" } } })) do
      counts[key(org)] = c
    end
    for _, a in ipairs(csm:renewing(ctx, 90)) do
      local c = counts[key(a.name)] or { open = 0, escalated = 0 }
      ctx:emit({ id = a.id, name = a.name, open = c.open, escalated = c.escalated, traits = a.traits })
    end
  end,

  transform = function(r)
    local t = type(r.traits) == "table" and r.traits or {}
    if t[OPEN] == r.open and t[ESCALATED] == r.escalated then return nil end   -- unchanged: no write
    return { id = r.id, [OPEN] = r.open, [ESCALATED] = r.escalated }
  end,

  load = csm:update_accounts { key = "id" },
}
