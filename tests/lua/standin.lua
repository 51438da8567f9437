-- A stand-in for a run's ctx, for the lualib tests of ferry.lookup and
-- ferry.picklist (no run, no store): ctx.state keeps JSON text with TTLs
-- on a clock the test moves (it replaces ferry.lookup.clock), ctx:report
-- and ctx.log record what they are given, ctx.policy is a plain table.
--
--   local standin = require "standin"
--   local clock = standin.clock()          -- clock.now, clock:advance(seconds)
--   local store = standin.store(clock)      -- shared by the runs of one "integration"
--   local ctx = standin.ctx(store, { picklist_drift = "default" })
local json = ferry.json
local lookup = require "ferry.lookup"

local _M = {}

function _M.clock()
  local c = { now = 1800000000 }
  function c.advance(_, s) c.now = c.now + s end
  lookup.clock = function() return c.now end
  return c
end

-- A state store: key -> { text, expires_at | nil }, as the engine's (values
-- go through JSON, expired ones read as absent).
function _M.store(clock)
  local rows = {}
  return {
    rows = rows,
    get = function(_, key)
      local r = rows[key]
      if not r or (r.expires_at and r.expires_at <= clock.now) then return nil end
      return json.decode(r.text)
    end,
    set = function(_, key, value, ttl)
      if value == nil then rows[key] = nil; return end
      if type(ttl) == "string" then ttl = ferry.time.duration(ttl) end
      rows[key] = { text = assert(json.encode(value)), expires_at = ttl and ttl > 0 and clock.now + ttl or nil }
    end,
    delete = function(_, key) rows[key] = nil end,
    text = function(_, key) return rows[key] and rows[key].text end,
  }
end

-- A new run's ctx over store. ctx.reports lists every ctx:report call;
-- ctx.logs every log line ({ level, msg, fields }).
function _M.ctx(store, policy)
  local ctx = { state = store, policy = policy or {}, reports = {}, logs = {} }
  function ctx:report(kind, key, detail)
    self.reports[#self.reports + 1] = { kind = kind, key = key, detail = detail }
  end
  local log = {}
  for _, level in ipairs { "debug", "info", "warn", "error" } do
    log[level] = function(msg, fields) ctx.logs[#ctx.logs + 1] = { level = level, msg = msg, fields = fields } end
  end
  ctx.log = log
  return ctx
end

-- The log lines of ctx with this message.
function _M.logged(ctx, msg)
  local out = {}
  for _, l in ipairs(ctx.logs) do if l.msg == msg then out[#out + 1] = l end end
  return out
end

function _M.eq(got, want, what)
  if got ~= want then error(string.format("%s: got %s, want %s", what, tostring(got), tostring(want)), 2) end
end

return _M
