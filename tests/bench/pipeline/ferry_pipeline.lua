-- The ferry side of the pipeline benchmark: a real integration, run with
-- `ferry run -c CONFIG` like any other, so the figure includes everything a
-- run does (the store, run accounting, the checkpoint, the quarantine armed).
--
--   FERRY_BENCH_INPUT   the JSON-lines export (a file or a FIFO), from gen.py
--   FERRY_BENCH_OWNERS  owner_id,email of the CRM users (gen.py owners)
--
-- The job, the same in baseline_py.py and baseline_lua.lua: rename 10 fields,
-- convert 2 (annualRevenue text -> real, employeeCount text -> integer), look
-- the owner's email up in an in-memory table of ~200 users, pass 4 through,
-- and upsert into accounts(account_id) in data_dir/pipeline.db.
local json = ferry.json
local null = json.null
local tonumber, type = tonumber, type

local input = os.getenv("FERRY_BENCH_INPUT")
local owners_csv = os.getenv("FERRY_BENCH_OWNERS")

-- email -> owner_id, read once per run from the user export.
local owner_ids
local function load_owners()
  local ids = {}
  local r <close> = assert(ferry.csv.open(owners_csv))
  for line, row, err in r:rows() do
    if not row then error(("%s: %s"):format(owners_csv, err)) end
    ids[row.email] = tonumber(row.owner_id)
  end
  return ids
end

-- A JSON text value, or nil for null and absent.
local function text(v)
  if v == null then return nil end
  return v
end

return ferry.integration {
  name = "bench-crm-accounts-pipeline",
  owner = "revops@example.com",
  purpose = "Benchmark: CRM account export into the reporting table, as a weekly ARR report would",
  pattern = "reporting",
  source_of_truth = "crm",
  schedule = "manual",
  freshness = "26h",
  policy = { validation = "quarantine", lookup_missing = "quarantine", script = "quarantine" },

  extract = function(ctx)
    owner_ids = owner_ids or load_owners()
    local emitted = ferry.source.jsonl(ctx, input)
    -- A file export is read whole each run: the checkpoint records what was read.
    ctx:checkpoint { file = input, records = emitted }
  end,

  transform = function(r)
    local id = r.accountId
    if type(id) ~= "string" or id == "" then return nil, "missing accountId (the key)" end
    local owner_id = owner_ids[r.ownerEmail]
    if not owner_id then
      return nil, { class = "lookup_missing", reason = "unknown owner " .. tostring(r.ownerEmail) }
    end
    local arr = tonumber(text(r.annualRevenue))
    if not arr then return nil, "annualRevenue: not a number: " .. tostring(r.annualRevenue) end
    local employees = text(r.employeeCount)
    if employees then
      employees = math.tointeger(tonumber(employees))
      if not employees then return nil, "employeeCount: not an integer: " .. tostring(r.employeeCount) end
    end
    local contact = r.primaryContact
    return {
      account_id = id,                          -- renamed: accountId
      account_name = r.accountName,             -- renamed: accountName
      owner_id = owner_id,                      -- looked up: ownerEmail
      tier = r.tier,
      arr = arr + 0.0,                          -- converted: annualRevenue
      employees = employees,                    -- converted: employeeCount
      industry = r.industry,
      country = r.countryCode,                  -- renamed
      city = r.city,
      postal_code = r.billingPostalCode,        -- renamed
      website = r.websiteUrl,                   -- renamed
      phone = r.phoneNumber,                    -- renamed
      created_at = r.createdAt,                 -- renamed
      updated_at = r.lastModifiedAt,            -- renamed
      is_active = r.isActive,                   -- renamed
      contact_email = contact ~= null and contact and contact.email or nil,   -- renamed: primaryContact.email
      description = r.description,
    }
  end,

  load = ferry.sink.sqlite {
    path = "pipeline.db",
    table = "accounts",
    columns = {
      { "account_id", "text", key = true },
      { "account_name", "text" },
      { "owner_id", "integer" },
      { "tier", "text" },
      { "arr", "real" },
      { "employees", "integer" },
      { "industry", "text" },
      { "country", "text" },
      { "city", "text" },
      { "postal_code", "text" },
      { "website", "text" },
      { "phone", "text" },
      { "created_at", "timestamp" },
      { "updated_at", "timestamp" },
      { "is_active", "boolean" },
      { "contact_email", "text" },
      { "description", "text" },
    },
  },
}
