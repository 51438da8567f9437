-- Sources that stream a file into a run: every good row is emitted, every
-- bad row is quarantined (stage "extract", class "validation") with its line
-- number and what was read of it, and the run goes on. A row over the size
-- limit is quarantined with its first bytes (it is never read whole). An
-- error that leaves the rest of the file unreadable (a quote never closed,
-- a read error) fails the run, naming the lines not read: never a run that
-- looks merely partial while rows silently went missing.
--
--   extract = function(ctx) ferry.source.csv(ctx, path) end
--   extract = function(ctx) ferry.source.jsonl(ctx, path) end
local ferry = ferry
local csv, jsonl = ferry.csv, ferry.jsonl
local error, type, pairs = error, type, pairs

local _M = {}

local function open_or_raise(mod, path, opts)
  local r, err = mod.open(path, opts)
  if not r then error(err, 3) end
  return r
end

-- Emit each row of a CSV file (a table keyed by the header). Returns the
-- number of rows emitted and rejected.
function _M.csv(ctx, path, opts)
  local r <close> = open_or_raise(csv, path, opts)
  local emitted, rejected = 0, 0
  for line, row, err, got in r:rows() do
    if row then
      ctx:emit(row)
      emitted = emitted + 1
    elseif got == nil then
      error(path .. ": " .. err, 2)
    else
      local record = { file = path, line = line }
      if type(got) == "string" then record.excerpt = got else record.fields = got end
      ctx:reject(record, "validation", err)
      rejected = rejected + 1
    end
  end
  return emitted, rejected
end

-- Emit each JSON value of a JSON-lines file. A line that is not valid JSON
-- is quarantined with its line number and raw text (a line over max_line
-- with its first bytes as excerpt).
function _M.jsonl(ctx, path, opts)
  -- each record is emitted as read: the drift check may use its shape
  local o = { shapes = true }
  for k, v in pairs(opts or {}) do if k ~= "shapes" then o[k] = v end end
  local r <close> = open_or_raise(jsonl, path, o)
  local emitted, rejected = 0, 0
  for line, rec, err, raw, truncated in r:rows() do
    if rec ~= nil then
      ctx:emit(rec)
      emitted = emitted + 1
    elseif raw == nil then
      error(path .. ": " .. err, 2)
    else
      local record = { file = path, line = line }
      if truncated then record.excerpt = raw else record.raw = raw end
      ctx:reject(record, "validation", err)
      rejected = rejected + 1
    end
  end
  return emitted, rejected
end

return _M
