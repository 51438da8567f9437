-- A webhook script under test in tests/e2e/test_kit.sh: a ticket created in
-- the helpdesk -> its account's tier from the CRM -> written onto the ticket.
local CRM, DESK = "https://api.crm.example", "https://desk.example.com"
local tiers = ferry.picklist { name = "tier", options = { "Gold", "Silver", "Bronze" } }

return ferry.integration {
  name = "kit-ticket", owner = "qa@example.com", purpose = "ferry test's own test", pattern = "workflow",
  source_of_truth = "crm", freshness = "1d",
  trigger = { webhook = "ticket-created" },
  transform = function(ev, ctx)
    local ticket = ev.json.ticket
    local res, err = ctx.http:get(CRM .. "/v1/accounts/" .. ticket.account_id,
                                  { auth = { bearer = ctx:secret("CRM_TOKEN") } })
    if not res then return nil, err end
    local tier, terr = tiers:match(res:json().tier, ctx)
    if not tier then return nil, terr end
    return { id = ticket.id, tier = tier, via = ev.headers["x-desk-event"] }
  end,
  load = function(batch, ctx)
    local failures
    for i, t in ipairs(batch) do
      local res, err = ctx.http:put(DESK .. "/api/tickets/" .. t.id, { json = { custom_fields = { tier = t.tier } } })
      if not res then failures = failures or {}; failures[i] = { class = err.class, reason = tostring(err) } end
    end
    return failures
  end,
}
