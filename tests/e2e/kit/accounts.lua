-- The script under test in tests/e2e/test_kit.sh: CRM accounts (paged,
-- bearer token) into a reporting table, tier checked against its options.
local CRM = "https://api.crm.example"

local tiers = ferry.picklist { name = "tier", options = { "Gold", "Silver", "Bronze" } }

return ferry.integration {
  name = "kit-accounts", owner = "qa@example.com", purpose = "ferry test's own test", pattern = "reporting",
  source_of_truth = "crm", freshness = "1h",
  policy = { retry = { attempts = 4, base = "10ms", max = "2s" } },
  extract = function(ctx)
    local page = ctx.cursor or 1
    repeat
      local res, err = ctx.http:get(CRM .. "/v1/accounts", { query = { page = page },
                                                             auth = { bearer = ctx:secret("CRM_TOKEN") } })
      if not res then error(err, 0) end
      local body = res:json()
      for _, a in ipairs(body.accounts) do ctx:emit(a) end
      page = body.next_page ~= ferry.json.null and body.next_page or nil
      if page then ctx:checkpoint(page) end
    until not page
  end,
  transform = function(a, ctx)
    local tier, err = tiers:match(a.tier, ctx)
    if not tier then return nil, err end
    return { id = a.id, name = a.name, tier = tier }
  end,
  load = ferry.sink.sqlite { path = "crm.db", table = "accounts",
    columns = { { "id", "integer", key = true }, { "name", "text" }, { "tier", "text" } } },
}
