-- CRM accounts -> the reporting database.
--
-- Revenue operations reviews ARR, renewals and account health by tier and
-- owner every week; this keeps the `accounts` table of data/reporting.db in
-- step with the CRM export. The CRM is the source of truth: rows are upserted
-- by account_id, so re-running is safe.
local time = ferry.time

local TIERS = { Enterprise = "enterprise", Growth = "growth", Starter = "starter" }

local function number(v)
  if v == nil or v == "" then return nil end
  return tonumber(v)
end

return ferry.integration {
  name = "crm-accounts-to-reporting",
  owner = "revops@example.com",
  purpose = "Weekly ARR, renewal and health reporting by tier and owner",
  pattern = "reporting",
  source_of_truth = "crm",
  schedule = "every 1h",
  freshness = "26h",
  policy = {
    validation = "quarantine",
    picklist_drift = "quarantine",
    script = "quarantine",
    alert = { to = { "log" } },
  },

  extract = function(ctx)
    ferry.source.csv(ctx, ferry.script_dir .. "/data/crm_accounts.csv")
  end,

  transform = function(r, ctx)
    if r.account_id == "" then return nil, "missing account_id (the key)" end
    local tier = TIERS[r.tier]
    if not tier then
      ctx:reject(r, "picklist_drift", string.format("unknown tier %q (known: Enterprise, Growth, Starter)", r.tier))
      return nil
    end
    local created, err = time.parse(r.created_at)
    if not created then return nil, "created_at: " .. err end
    return {
      account_id = r.account_id,
      name = r.name,
      domain = r.domain,
      tier = tier,
      owner_email = r.owner_email:lower(),
      arr = number(r.arr),
      employees = math.tointeger(number(r.employees)),
      country = r.country,
      created_at = time.format(created),
      renewal_date = r.renewal_date,
      health_score = math.tointeger(number(r.health_score)),
      notes = r.notes ~= "" and r.notes or nil,
    }
  end,

  load = ferry.sink.sqlite {
    path = "reporting.db",
    table = "accounts",
    columns = {
      { "account_id", "text", key = true },
      { "name", "text" },
      { "domain", "text" },
      { "tier", "text" },
      { "owner_email", "text" },
      { "arr", "real" },
      { "employees", "integer" },
      { "country", "text" },
      { "created_at", "timestamp" },
      { "renewal_date", "date" },
      { "health_score", "integer" },
      { "notes", "text" },
    },
  },
}
