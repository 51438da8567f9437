-- The pipeline benchmark's hand-written Lua baseline: the job of
-- ferry_pipeline.lua in plain Lua 5.4 with Debian's lua-cjson and
-- lua-dbi-sqlite3 (both load under lua5.4 on Debian 12).
--
--   lua5.4 baseline_lua.lua INPUT OWNERS_CSV DB
--
-- Same mapping as the ferry script (10 renames, 2 conversions, the owner
-- lookup, 4 fields passed through), one prepared upsert, one transaction
-- per 1,000 rows, the table and PRAGMAs of ferry's SQLite sink. A record that
-- cannot be mapped is counted and skipped, as ferry would quarantine it.
--
-- LuaDBI binds every Lua number as a double; the STRICT table stores an
-- integral double in an INTEGER column as an integer, so the table is the
-- same as ferry's.
local cjson = require "cjson"
local DBI = require "DBI"

local src, owners_csv, db_path = ...
assert(src and owners_csv and db_path, "usage: lua5.4 baseline_lua.lua INPUT OWNERS_CSV DB")
local null = cjson.null
local decode = cjson.decode
local tonumber, type, pcall = tonumber, type, pcall
local BATCH = 1000

local COLUMNS = {   -- { name, SQL type }, in ferry's declaration order; account_id is the key
  { "account_id", "TEXT" }, { "account_name", "TEXT" }, { "owner_id", "INTEGER" }, { "tier", "TEXT" },
  { "arr", "REAL" }, { "employees", "INTEGER" }, { "industry", "TEXT" }, { "country", "TEXT" },
  { "city", "TEXT" }, { "postal_code", "TEXT" }, { "website", "TEXT" }, { "phone", "TEXT" },
  { "created_at", "TEXT" }, { "updated_at", "TEXT" }, { "is_active", "INTEGER" },
  { "contact_email", "TEXT" }, { "description", "TEXT" },
}

local function sql_statements()
  local defs, names, marks, sets = {}, {}, {}, {}
  for i, c in ipairs(COLUMNS) do
    defs[i] = ('"%s" %s%s'):format(c[1], c[2], c[1] == "account_id" and " NOT NULL" or "")
    names[i] = ('"%s"'):format(c[1])
  end
  names[#names + 1], names[#names + 2] = '"_synced_at"', '"_run_id"'
  for i, n in ipairs(names) do
    marks[i] = "?"
    if n ~= '"account_id"' then sets[#sets + 1] = ("%s = excluded.%s"):format(n, n) end
  end
  local create = ('CREATE TABLE IF NOT EXISTS "accounts" (%s, "_synced_at" TEXT NOT NULL, '
    .. '"_run_id" TEXT NOT NULL, PRIMARY KEY ("account_id")) STRICT'):format(table.concat(defs, ", "))
  local upsert = ('INSERT INTO "accounts" (%s) VALUES (%s) ON CONFLICT ("account_id") DO UPDATE SET %s')
    :format(table.concat(names, ", "), table.concat(marks, ", "), table.concat(sets, ", "))
  return create, upsert
end

-- email -> owner_id from the CRM user export (owner_id,email; no quoting in it).
local function load_owners(path)
  local ids, first = {}, true
  for line in io.lines(path) do
    if not first then
      local id, email = line:match("^(%d+),(.+)$")
      ids[email] = tonumber(id)
    end
    first = false
  end
  return ids
end

-- A JSON value, with null as nil (LuaDBI cannot bind cjson.null).
local function v(x)
  if x == null then return nil end
  return x
end

local owner_ids = load_owners(owners_csv)
local create, upsert = sql_statements()
local db = assert(DBI.Connect("SQLite3", db_path))
db:autocommit(true)                    -- PRAGMAs and DDL outside a transaction (false: nothing to roll back)
for _, sql in ipairs { "PRAGMA busy_timeout=5000", "PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", create } do
  local st = assert(db:prepare(sql))
  assert(st:execute())
  st:close()
end
db:autocommit(false)                   -- from here each execute opens a transaction if none is open
local st = assert(db:prepare(upsert))

local run_id = "baseline-lua-" .. os.date("!%Y%m%dT%H%M%SZ")
local synced = os.date("!%Y-%m-%dT%H:%M:%SZ")
local pending, loaded, rejected = 0, 0, 0

-- Maps one decoded record and executes the upsert; nil, reason if it cannot.
local function put(r)
  local id = r.accountId
  if type(id) ~= "string" or id == "" then return nil, "missing accountId (the key)" end
  local owner_id = owner_ids[r.ownerEmail]
  if not owner_id then return nil, "unknown owner" end
  local arr = tonumber(v(r.annualRevenue))
  if not arr then return nil, "annualRevenue: not a number" end
  local employees = v(r.employeeCount)
  if employees then
    employees = math.tointeger(tonumber(employees))
    if not employees then return nil, "employeeCount: not an integer" end
  end
  local contact = v(r.primaryContact)
  return st:execute(
    id,                                   -- renamed: accountId
    v(r.accountName),                     -- renamed
    owner_id,                             -- looked up: ownerEmail
    v(r.tier),
    arr + 0.0,                            -- converted: annualRevenue
    employees,                            -- converted: employeeCount
    v(r.industry),
    v(r.countryCode),                     -- renamed
    v(r.city),
    v(r.billingPostalCode),               -- renamed
    v(r.websiteUrl),                      -- renamed
    v(r.phoneNumber),                     -- renamed
    v(r.createdAt),                       -- renamed
    v(r.lastModifiedAt),                  -- renamed
    v(r.isActive),                        -- renamed
    contact and v(contact.email),         -- renamed: primaryContact.email
    v(r.description),
    synced, run_id)
end

for line in io.lines(src) do
  if line:find("%S") then
    local ok, r = pcall(decode, line)
    if ok and type(r) == "table" and put(r) then
      pending = pending + 1
      if pending == BATCH then
        assert(db:commit())
        loaded, pending = loaded + pending, 0
        synced = os.date("!%Y-%m-%dT%H:%M:%SZ")
      end
    else
      rejected = rejected + 1
    end
  end
end
if pending > 0 then assert(db:commit()) end
loaded = loaded + pending
st:close()
db:close()
print(("lua: loaded %d, rejected %d"):format(loaded, rejected))
os.exit(rejected == 0 and 0 or 3)
