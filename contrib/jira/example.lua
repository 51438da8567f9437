-- Jira issues into a reporting table, read incrementally.
--
-- Support leads review last week's tickets in the BI tool: each issue's
-- key, summary, status, priority and last update, kept fresh every 15
-- minutes. Jira is the source of truth; a run reads only the issues
-- updated since the last one (contrib/jira/README.md, "The cursor").
--
-- Config: grant the API token to this integration, e.g.
--   integrations = { ["jira-issues-report"] = { secrets = { "JIRA_API_TOKEN" } } }
-- and set your site and the token's account below.
local jira = require "contrib.jira"

local site = jira.connect {
  base_url = "https://acme.atlassian.net",
  email = "ferry-bot@acme.example",
  -- token = "JIRA_API_TOKEN",           -- the secret's name (the default)
}

local function name_of(v)
  return type(v) == "table" and type(v.name) == "string" and v.name or nil
end

return ferry.integration {
  name = "jira-issues-report",
  owner = "support-ops@acme.example",
  purpose = "Support leads see ticket status and priority in the weekly BI review",
  pattern = "reporting",
  source_of_truth = "jira",
  schedule = "every 15m",
  freshness = "1h",
  expect = { min_records = 0 },          -- a quiet quarter hour reads nothing new
  extract = site:stream("issues", {
    jql = "project = SUP",
    fields = { "summary", "status", "priority", "updated" },
  }),
  transform = function(issue)
    local f = issue.fields
    return { key = issue.key, id = issue.id, summary = f.summary, status = name_of(f.status),
             priority = name_of(f.priority), updated = f.updated }
  end,
  load = ferry.sink.sqlite {
    path = "jira.db",
    table = "issues",
    columns = { { "key", "text", key = true }, { "id", "text" }, { "summary", "text" },
                { "status", "text" }, { "priority", "text" }, { "updated", "text" } },
  },
}
