-- Sources that stream a file into a run: every good row is emitted, every
-- bad row is quarantined (stage "extract", class "validation") with its line
-- number, and the run goes on.
--
--   extract = function(ctx) ferry.source.csv(ctx, path) end
--   extract = function(ctx) ferry.source.jsonl(ctx, path) end
local ferry = ferry
local csv, jsonl = ferry.csv, ferry.jsonl

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
  for line, row, err, fields in r:rows() do
    if row then
      ctx:emit(row)
      emitted = emitted + 1
    else
      ctx:reject({ file = path, line = line, fields = fields }, "validation", err)
      rejected = rejected + 1
    end
  end
  return emitted, rejected
end

-- Emit each JSON value of a JSON-lines file. A line that is not valid JSON
-- is quarantined with its line number and raw text.
function _M.jsonl(ctx, path, opts)
  local r <close> = open_or_raise(jsonl, path, opts)
  local emitted, rejected = 0, 0
  for line, rec, err, raw in r:rows() do
    if rec ~= nil then
      ctx:emit(rec)
      emitted = emitted + 1
    else
      ctx:reject({ file = path, line = line, raw = raw }, "validation", err)
      rejected = rejected + 1
    end
  end
  return emitted, rejected
end

return _M
