-- One run of an integration: extract -> transform (per record) -> load (per
-- batch). core/fy_run.c starts run() as the body of the run's coroutine and
-- resumes it whenever I/O it waits on completes.
--
-- A bad record never stops the run: a transform that raises, returns
-- nil, err, or calls ctx:reject, and a record the load rejects, go to the
-- quarantine with class, reason and stage. Only an error raised by extract
-- itself (or by the engine) fails the run.
local ferry = ferry
local json = ferry.json
local log_write = ferry.log.write
local pcall, type, tostring, ipairs, getmetatable = pcall, type, tostring, ipairs, getmetatable
local remove = table.remove
local format, find = string.format, string.find
local CLASSES = require("ferry.contract").CLASSES
local http = require "ferry.http"
local getenv = os.getenv

local _M = {}

-- "not enough memory" is Lua's message when the state's memory limit is hit.
local function reason_of(err, limits)
  if err == "not enough memory" then
    return format("memory limit exceeded (%s; limits.memory in the config)", limits.memory)
  end
  return tostring(err)
end

-- A readable reason for a table error: its reason, its own __tostring
-- (ferry.http errors), its message, or its JSON.
local function describe(err)
  local mt = getmetatable(err)
  if err.reason then return tostring(err.reason) end
  if mt and mt.__tostring then return tostring(err) end
  return tostring(err.message or json.encode(err))
end

-- Splits an error value into class and reason. Tables may carry a class.
local function classify(err, default, limits)
  if type(err) == "table" then
    local class = CLASSES[err.class] and err.class or default
    return class, describe(err)
  end
  return default, reason_of(err, limits)
end

local function encode(v)
  if v == nil then return nil end
  local s = json.encode(v)
  return s or json.encode(tostring(v))
end

-- spec: the integration; params: run_id, integration, batch_size, limits;
-- internal: guard_reset(), quarantine(stage, class, reason, record_json, output_json).
function _M.run(spec, params, internal)
  local guard_reset, quarantine = internal.guard_reset, internal.quarantine
  local limits = params.limits
  local batch_size = spec.batch_size or params.batch_size
  local transform, load = spec.transform, spec.load
  local name, run_id = params.integration, params.run_id

  local stats = {
    extracted = 0, transformed = 0, skipped = 0, loaded = 0, quarantined = 0,
    batches = 0, by_class = {}, by_stage = {},
  }
  local stage = "extract"
  local src, n = {}, 0              -- records emitted since the last flush
  local checkpoints = {}            -- { pos = extracted count, cursor = value }
  local rejected_now                -- set by ctx:reject during one transform call
  local rejected_in_load = 0        -- ctx:reject calls during the current load call

  local function put(st, class, reason, record, output)
    stats.quarantined = stats.quarantined + 1
    stats.by_class[class] = (stats.by_class[class] or 0) + 1
    stats.by_stage[st] = (stats.by_stage[st] or 0) + 1
    quarantine(st, class, reason, encode(record), encode(output))
  end

  local cursor
  if params.cursor_json then cursor = json.decode(params.cursor_json) end
  if cursor == json.null then cursor = nil end
  local ctx = { run_id = run_id, integration = name, cursor = cursor, stats = stats }

  -- ctx.state: durable key/value state of this integration (JSON values).
  local state_get, state_set, state_delete = internal.state_get, internal.state_set, internal.state_delete
  ctx.state = {
    get = function(_, key)
      local v = state_get(tostring(key))
      if v == nil then return nil end
      v = json.decode(v)
      if v == json.null then return nil end
      return v
    end,
    set = function(_, key, value, ttl)
      if value == nil then return state_delete(tostring(key)) end
      local text, err = json.encode(value)
      if not text then error("ctx.state:set: " .. err, 2) end
      if type(ttl) == "string" then
        local secs, terr = ferry.time.duration(ttl)
        if not secs then error("ctx.state:set: ttl: " .. terr, 2) end
        ttl = secs
      end
      state_set(tostring(key), text, ttl)
    end,
    delete = function(_, key) state_delete(tostring(key)) end,
  }
  local log = {}
  for _, level in ipairs { "debug", "info", "warn", "error" } do
    log[level] = function(msg, fields) log_write(level, msg, fields, name, run_id) end
  end
  ctx.log = log
  ctx.http = http.client {
    retry = spec.policy and spec.policy.retry or { attempts = 5, base = "1s", max = "60s" },
    rate_limit = spec.rate_limit, key = name,
  }

  -- A secret from the environment, registered so it is redacted from every
  -- log line, error and quarantine record. Missing is an auth failure.
  function ctx:secret(env_name)
    local v = getenv(env_name)
    if v == nil or v == "" then
      error({ class = "auth", reason = format("secret %s is not set in the environment", env_name) }, 2)
    end
    http.secret(v)
    return v
  end

  -- Every record emitted so far is loaded or quarantined: checkpoints up to
  -- here are committed.
  local function commit_checkpoints()
    local last
    for i = 1, #checkpoints do
      if checkpoints[i].pos <= stats.extracted then last = i end
    end
    if last then
      stats.checkpoint = checkpoints[last].cursor
      if internal.checkpoint then
        local text, err = json.encode(stats.checkpoint)
        if not text then error("ctx:checkpoint: the cursor cannot be stored as JSON: " .. err) end
        internal.checkpoint(text)
      end
      for _ = 1, last do remove(checkpoints, 1) end
    end
  end

  local function flush()
    if n == 0 then return commit_checkpoints() end
    local batch, origin, m = {}, {}, 0
    stage = "transform"
    for i = 1, n do
      local rec = src[i]
      src[i] = nil
      guard_reset()
      rejected_now = nil
      local out, err
      if transform then
        local ok
        ok, out, err = pcall(transform, rec, ctx)
        guard_reset()               -- a tripped guard must not fire again in here
        if not ok then
          local class, reason = classify(out, "script", limits)
          put("transform", class, reason, rec)
          goto continue
        end
      else
        out = rec
      end
      if rejected_now then goto continue end
      if out == nil then
        if err ~= nil then
          local class, reason = classify(err, "validation", limits)
          put("transform", class, reason, rec)
        else
          stats.skipped = stats.skipped + 1
        end
        goto continue
      end
      stats.transformed = stats.transformed + 1
      m = m + 1
      batch[m], origin[m] = out, rec
      ::continue::
    end
    n = 0
    if m > 0 then
      stage = "load"
      guard_reset()
      rejected_in_load = 0
      local ok, res = pcall(load, batch, ctx)
      guard_reset()
      local failed = rejected_in_load
      if not ok then
        local class, reason = classify(res, "script", limits)
        for i = 1, m do put("load", class, reason, origin[i], batch[i]) end
        failed = m
      elseif type(res) == "table" then
        for i = 1, m do
          local r = res[i]
          if r ~= nil and r ~= true then
            local class, reason
            if r == false then class, reason = "validation", "rejected by load"
            else class, reason = classify(r, "validation", limits) end
            put("load", class, reason, origin[i], batch[i])
            failed = failed + 1
          end
        end
      end
      stats.loaded = stats.loaded + m - failed
      stats.batches = stats.batches + 1
    end
    commit_checkpoints()
    stage = "extract"
  end

  function ctx:emit(record)
    if record == nil then error("ctx:emit: record is nil", 2) end
    if stage ~= "extract" then
      error("ctx:emit: records are emitted by extract, not by " .. stage, 2)
    end
    n = n + 1
    src[n] = record
    stats.extracted = stats.extracted + 1
    if n >= batch_size then flush() end
    guard_reset()
  end

  function ctx:reject(record, class, reason)
    class = class or "validation"
    if not CLASSES[class] then
      error(format("ctx:reject: unknown error class '%s'", tostring(class)), 2)
    end
    if stage == "transform" then rejected_now = true end
    if stage == "extract" then stats.extracted = stats.extracted + 1 end
    if stage == "load" then rejected_in_load = rejected_in_load + 1 end
    put(stage, class, reason and tostring(reason) or "rejected by the script", record)
  end

  function ctx:checkpoint(cursor)
    checkpoints[#checkpoints + 1] = { pos = stats.extracted, cursor = cursor }
    -- From extract with nothing pending it is committed now; during a flush
    -- (transform, load) it is committed when that flush has finished.
    if n == 0 and stage == "extract" then commit_checkpoints() end
  end

  guard_reset()
  local ok, err = pcall(spec.extract, ctx)
  guard_reset()
  if not ok then
    if type(err) == "table" then
      local d = describe(err)
      if CLASSES[err.class] and not find(d, err.class .. ":", 1, true) then d = err.class .. ": " .. d end
      stats.error = "extract: " .. d
      stats.error_class = CLASSES[err.class] and err.class or "script"
    else
      stats.error = "extract: " .. reason_of(err, limits)
      stats.error_class = "script"
    end
  end
  -- Records emitted before a failure are still delivered.
  local fok, ferr = pcall(flush)
  if not fok and not stats.error then stats.error = "flush: " .. reason_of(ferr, limits) end
  return stats
end

return _M
