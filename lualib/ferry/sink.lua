-- Destinations that build a `load` hook.
--
--   load = ferry.sink.sqlite {
--     path = "reporting.db",            -- inside the data directory (ferry.sqlite.open)
--     table = "accounts",
--     columns = { { "account_id", "text", key = true }, { "arr", "real" }, ... },
--   }
--
-- The database and table are opened on the first batch, so `ferry check`
-- never touches them.
--
--   load = ferry.sink.custom {
--     load = function(batch, ctx) ... end,     -- writes, as a plain load hook
--     key = "id",                              -- the field that identifies a record there
--     read = function(keys, ctx) ... end,      -- the destination's current rows for these keys
--   }
--
-- A sink that can read the destination lets ferry keep destination-owned
-- fields and notice edits (the integration's `fields`, ferry.fields) and
-- tell in a dry run what a load would create or change (plan).
local ferry = ferry
local sqlite = ferry.sqlite
local pg = ferry.postgres
local fields = require "ferry.fields"
local same, key_text = fields.same, fields.key_text
local type, ipairs, pairs, error, concat = type, ipairs, pairs, error, table.concat
local null = ferry.json.null

local _M = {}

-- What each load hook built here writes to, for the debug log of each
-- batch (runner.lua): "sqlite PATH, table NAME".
local destinations = setmetatable({}, { __mode = "k" })

function _M.destination(load)
  return destinations[load]
end

-- The database file each load hook built here writes to (its path as the
-- script gave it), so the engine can write the ferry_freshness row of a
-- run that loaded nothing (core/fy_integration.c).
local databases = setmetatable({}, { __mode = "k" })

function _M.database(load)
  return databases[load]
end

-- The same for ferry.sink.postgres: the config's database name.
local pg_databases = setmetatable({}, { __mode = "k" })

function _M.pg_database(load)
  return pg_databases[load]
end

-- What each load hook built here can read: { key = FIELD, read =
-- function(keys, ctx) -> { [key text] = row } }, and how it plans:
-- plan(batch, m, current) -> per record { op = "create" | "update" |
-- "unchanged" | "reject", changes = { { field, before, after }... }, reason }.
local readers = setmetatable({}, { __mode = "k" })

function _M.reader(load)
  return readers[load]
end

-- The plan of a sink that reads: records compared field by field with the
-- rows the destination holds (fields the record leaves out are not
-- compared: a sink that writes only what it is given keeps them).
local function plan_by_fields(key)
  return function(batch, m, current)
    local out = {}
    for i = 1, m do
      local rec = batch[i]
      local k = rec[key]
      if k == nil or k == null then
        out[i] = { op = "reject", reason = "the key field " .. key .. " has no value" }
      else
        local row = current[key_text(k)]
        local changes = {}
        for f, v in pairs(rec) do
          if not row or not same(v, row[f]) then changes[#changes + 1] = { f, row and row[f], v } end
        end
        table.sort(changes, function(a, b) return a[1] < b[1] end)
        out[i] = { op = not row and "create" or #changes > 0 and "update" or "unchanged", changes = changes }
      end
    end
    return out
  end
end

-- The plan of a sink that writes every declared column (one the record
-- leaves out becomes NULL): each is compared; a row it would refuse is a
-- reject.
local function plan_by_columns(columns, key)
  return function(batch, m, current)
    local out = {}
    for i = 1, m do
      local rec = batch[i]
      local k = type(rec) == "table" and rec[key]
      if k == nil or k == null or k == false then
        out[i] = { op = "reject", reason = type(rec) ~= "table" and "not a table" or "missing key column " .. key }
      else
        local row, changes, bad = current[key_text(k)], {}, nil
        for _, c in ipairs(columns) do
          local name, ctype = c[1] or c.name, c[2] or c.type
          local v = rec[name]
          if type(v) == "table" and ctype ~= "json" then
            bad = ("column %s: cannot store a table in a %s column"):format(name, ctype)
          end
          local before = row and row[name]
          if v == null then v = nil end
          if not row and v ~= nil or row and not same(v, before) then
            changes[#changes + 1] = { name, before, v }
          end
        end
        if bad then out[i] = { op = "reject", reason = bad }
        else out[i] = { op = not row and "create" or #changes > 0 and "update" or "unchanged", changes = changes } end
      end
    end
    return out
  end
end

function _M.custom(spec)
  if type(spec) ~= "table" then error("ferry.sink.custom: expected a table { load = ..., key = ..., read = ... }", 2) end
  if type(spec.load) ~= "function" then error("ferry.sink.custom: 'load' must be a function", 2) end
  if (spec.read ~= nil) ~= (spec.key ~= nil) then
    error("ferry.sink.custom: 'read' and 'key' go together (the field that identifies a record, and how to read rows by it)", 2)
  end
  if spec.read ~= nil and type(spec.read) ~= "function" then error("ferry.sink.custom: 'read' must be a function", 2) end
  if spec.key ~= nil and type(spec.key) ~= "string" then error("ferry.sink.custom: 'key' must be a field name", 2) end
  local inner, read = spec.load, spec.read
  local function load(batch, ctx) return inner(batch, ctx) end
  if read then
    local key = spec.key
    readers[load] = {
      key = key,
      read = function(keys, ctx)
        local rows = read(keys, ctx)
        if type(rows) ~= "table" then error("ferry.sink.custom: read must return a table of rows", 0) end
        local out = {}
        for k, row in pairs(rows) do                -- a list of rows, or key -> row
          if type(row) == "table" then
            local id = row[key]
            if id == nil and type(k) == "string" then id = k end
            if id ~= nil then out[key_text(id)] = row end
          end
        end
        return out
      end,
      plan = plan_by_fields(key),
    }
  end
  destinations[load] = spec.name or "the script's load"
  return load
end

-- The single key column of a declaration, or nil when the key is composite.
local function single_key(columns)
  local key, n = nil, 0
  for _, c in ipairs(columns) do
    if type(c) == "table" and c.key then key, n = c[1] or c.name, n + 1 end
  end
  if n == 1 and type(key) == "string" then return key end
end

local function quote(name) return '"' .. name:gsub('"', '""') .. '"' end

-- read(keys) for a table keyed by one column: the rows it holds for these
-- keys, in chunks of 500 bound parameters (mark(n) spells the n-th), none
-- while the table does not exist yet; ferry's own columns left out.
local function keyed_reader(tbl, key, rows, mark, exists)
  local quoted, qkey = quote(tbl), quote(key)
  return function(keys)
    local out = {}
    if not exists() then return out end
    for from = 1, #keys, 500 do
      local chunk, marks = {}, {}
      for i = from, math.min(from + 499, #keys) do
        chunk[#chunk + 1] = keys[i]
        marks[#marks + 1] = mark(#chunk)
      end
      for _, row in ipairs(rows("SELECT * FROM " .. quoted .. " WHERE " .. qkey .. " IN (" .. concat(marks, ", ") .. ")",
          chunk)) do
        row._synced_at, row._run_id = nil, nil
        out[key_text(row[key])] = row
      end
    end
    return out
  end
end

function _M.sqlite(spec)
  if type(spec) ~= "table" then error("ferry.sink.sqlite: expected a table", 2) end
  if type(spec.path) ~= "string" then error("ferry.sink.sqlite: 'path' must be a string", 2) end
  if type(spec.table) ~= "string" then error("ferry.sink.sqlite: 'table' must be a string", 2) end
  if type(spec.columns) ~= "table" then error("ferry.sink.sqlite: 'columns' must be a list", 2) end
  local key = single_key(spec.columns)
  local tbl, db
  local function open()
    if not db then db = assert(sqlite.open(spec.path)) end
    return db
  end
  local function load(batch, ctx)
    if not tbl then
      local db = open()
      -- a table that no longer matches the columns raises { class =
      -- "schema_drift" }: the runner fails the run, quarantining nothing
      tbl = db:table { name = spec.table, columns = spec.columns }
    end
    -- written on the database's own thread while the run goes on; the
    -- runner waits for it before the next batch's load
    return tbl:upsert_async(batch, ctx.run_id)
  end
  if key then
    readers[load] = {
      key = key,
      read = keyed_reader(spec.table, key, function(sql, params) return assert(open():rows(sql, params)) end,
        function() return "?" end,
        function() return #open():rows("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", { spec.table }) > 0 end),
      plan = plan_by_columns(spec.columns, key),
    }
  end
  destinations[load] = ("sqlite %s, table %s"):format(spec.path, spec.table)
  databases[load] = spec.path
  return load
end

function _M.postgres(spec)
  if type(spec) ~= "table" then error("ferry.sink.postgres: expected a table", 2) end
  if type(spec.database) ~= "string" then
    error("ferry.sink.postgres: 'database' must name a database of the config (databases = { NAME = { url = ... } })", 2)
  end
  if type(spec.table) ~= "string" then error("ferry.sink.postgres: 'table' must be a string", 2) end
  if type(spec.columns) ~= "table" then error("ferry.sink.postgres: 'columns' must be a list", 2) end
  if not pg.configured(spec.database) then
    error(("ferry.sink.postgres: no database %q in the config (databases = { [%q] = { url = "
      .. "\"postgresql://USER@HOST:PORT/DB\", password_env = \"ENV_NAME\" } })"):format(spec.database, spec.database), 2)
  end
  local tbl, db
  local function open()
    if not db then db = pg.open(spec.database) end
    return db
  end
  local function load(batch, ctx)
    -- created, or checked and extended, on the first batch; a table that
    -- no longer matches raises { class = "schema_drift" } and fails the run
    if not tbl then tbl = open():table { name = spec.table, columns = spec.columns } end
    -- written on the database's own thread; the runner waits before the
    -- checkpoint that follows the batch
    return tbl:upsert_async(batch, ctx.run_id)
  end
  local key = single_key(spec.columns)
  if key then
    readers[load] = {
      key = key,
      -- $n parameters are typed by the key column, so its index is used
      read = keyed_reader(spec.table, key, function(sql, params) return open():rows(sql, params) end,
        function(n) return "$" .. n end,
        function() return open():rows("SELECT to_regclass($1) AS t", { quote(spec.table) })[1].t ~= nil end),
      plan = plan_by_columns(spec.columns, key),
    }
  end
  destinations[load] = ("postgres %s, table %s"):format(spec.database, spec.table)
  pg_databases[load] = spec.database
  return load
end

-- The reporting layer, wherever the admin put it: the config's PostgreSQL
-- database `database` (default "reporting") when it has one, else the
-- SQLite file `path` (default "reporting.db") in the data directory. So a
-- script runs on SQLite out of the box and on PostgreSQL once configured.
function _M.reporting(spec)
  if type(spec) ~= "table" then error("ferry.sink.reporting: expected a table", 2) end
  local name = spec.database or "reporting"
  if type(name) ~= "string" then error("ferry.sink.reporting: 'database' must be a string", 2) end
  local ok, load
  if pg.configured(name) then
    ok, load = pcall(_M.postgres, { database = name, table = spec.table, columns = spec.columns })
  else
    ok, load = pcall(_M.sqlite, { path = spec.path or "reporting.db", table = spec.table, columns = spec.columns })
  end
  if not ok then error((tostring(load):gsub("ferry%.sink%.%a+:", "ferry.sink.reporting:")), 2) end
  return load
end

-- The reporting database itself, for what a sink does not do (a view, a
-- reference table): { kind = "postgres" | "sqlite", exec = function(sql),
-- rows = function(sql, params) }. Parameters are $1, $2 ... on PostgreSQL
-- and ? on SQLite. Inside a hook: PostgreSQL is opened with the grant.
function _M.reporting_db(spec)
  spec = spec or {}
  local name = spec.database or "reporting"
  if pg.configured(name) then
    local db = pg.open(name)
    return { kind = "postgres", exec = function(sql, params) return db:exec(sql, params) end,
             rows = function(sql, params) return db:rows(sql, params) end }
  end
  local db = assert(sqlite.open(spec.path or "reporting.db"))
  return { kind = "sqlite", exec = function(sql) return assert(db:exec(sql)) end,
           rows = function(sql, params) return assert(db:rows(sql, params)) end }
end

return _M
