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
local ferry = ferry
local sqlite = ferry.sqlite

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

function _M.sqlite(spec)
  if type(spec) ~= "table" then error("ferry.sink.sqlite: expected a table", 2) end
  if type(spec.path) ~= "string" then error("ferry.sink.sqlite: 'path' must be a string", 2) end
  if type(spec.table) ~= "string" then error("ferry.sink.sqlite: 'table' must be a string", 2) end
  if type(spec.columns) ~= "table" then error("ferry.sink.sqlite: 'columns' must be a list", 2) end
  local tbl
  local function load(batch, ctx)
    if not tbl then
      local db = assert(sqlite.open(spec.path))
      -- a table that no longer matches the columns raises { class =
      -- "schema_drift" }: the runner fails the run, quarantining nothing
      tbl = db:table { name = spec.table, columns = spec.columns }
    end
    -- written on the database's own thread while the run goes on; the
    -- runner waits for it before the next batch's load
    return tbl:upsert_async(batch, ctx.run_id)
  end
  destinations[load] = ("sqlite %s, table %s"):format(spec.path, spec.table)
  databases[load] = spec.path
  return load
end

return _M
