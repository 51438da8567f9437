-- Case 5 (the delivery manager's view): HubSpot deals changed since the
-- last run into `hubspot_deals`, with what sales promised: the custom deal
-- properties promised_start_date (a date) and delivery_scope (text), and
-- project_code, the Harvest project it became. Without project_code the
-- expected code is contrib.harvest's deal_code ("HS-<deal id>"). The view
-- reads the closed-won ones and flags those won more than 14 days ago that
-- no Harvest project carries the code of.
-- Secrets: HUBSPOT_TOKEN (a private app with crm.objects.deals.read).
local hubspot, harvest = require "contrib.hubspot", require "contrib.harvest"
local views = require "reporting.views"
local hs = hubspot.connect { base_url = "https://api.hubapi.com" }
local deals = hs:stream("deals", { properties = { "dealname", "amount", "dealstage", "closedate",
                                                  "promised_start_date", "delivery_scope", "project_code" } })

local function given(v) return v ~= nil and v ~= ferry.json.null and v ~= "" end

return ferry.integration {
  name = "hubspot-won-deals",
  owner = "delivery@example.com",
  purpose = "Delivery managers see won deals, what was promised, and those without a project",
  pattern = "reporting",
  source_of_truth = "hubspot",
  schedule = "every 1h",
  freshness = "3h",
  expect = { min_records = 0 },
  -- a bad record is quarantined and its owner alerted: sales fixes the deal in HubSpot
  policy = { validation = "alert", alert = { to = { "log" } }, pause = { probe = "15m" } },

  extract = function(ctx)
    views.publish(ctx)
    return deals(ctx)
  end,

  transform = function(d)
    local start = given(d.promised_start_date) and tostring(d.promised_start_date) or nil
    if start and not start:match("^%d%d%d%d%-%d%d%-%d%d") then
      return nil, { class = "validation", field = "promised_start_date",
                    reason = ("hubspot deal %s: promised_start_date %q is not a date (YYYY-MM-DD)"):format(d.id, start) }
    end
    return {
      deal_id = d.id, deal_name = given(d.dealname) and d.dealname or nil,
      amount = given(d.amount) and tonumber(d.amount) or nil, stage = given(d.dealstage) and d.dealstage or nil,
      won_on = given(d.closedate) and d.closedate or nil, promised_start = start and start:sub(1, 10),
      scope = given(d.delivery_scope) and d.delivery_scope or nil,
      project_code = given(d.project_code) and d.project_code or harvest.deal_code(d.id),
      updated_at = d.hs_lastmodifieddate,
    }
  end,

  load = ferry.sink.reporting {
    table = "hubspot_deals",
    columns = { { "deal_id", "text", key = true }, { "deal_name", "text" }, { "amount", "real" },
                { "stage", "text" }, { "won_on", "text" }, { "promised_start", "text" }, { "scope", "text" },
                { "project_code", "text" }, { "updated_at", "text" } },
  },
}
