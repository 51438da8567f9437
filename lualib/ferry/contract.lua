-- The script contract: ferry.integration { ... } and its validation.
--
-- ferry.integration records where it was called and returns the spec marked
-- as an integration; check() validates it and reports every problem as
-- "FILE:LINE: FIELD: message", finding each field's line in the source.
local ferry = ferry
local getinfo = debug.getinfo
local type, pairs, ipairs, next, tostring = type, pairs, ipairs, next, tostring
local setmetatable, getmetatable = setmetatable, getmetatable
local format, find, match, gmatch, sub = string.format, string.find, string.match, string.gmatch, string.sub
local sort, concat = table.sort, table.concat
local open = io.open
local time = ferry.time

local _M = {}

local marker = {}            -- metatable of every value ferry.integration returns
local call_sites = setmetatable({}, { __mode = "k" })

local FIELDS = {
  name = true, owner = true, purpose = true, pattern = true, source_of_truth = true,
  schedule = true, trigger = true, freshness = true, policy = true, batch_size = true,
  description = true, tags = true, extract = true, transform = true, load = true,
  rate_limit = true, expect = true, fields = true,
}
local REQUIRED = {
  { "name", "a short unique name, e.g. \"crm-accounts-to-reporting\"" },
  { "owner", "who is paged when it fails, e.g. \"data-team@example.com\"" },
  { "purpose", "the decision this data supports" },
  { "pattern", "\"workflow\" or \"reporting\"" },
  { "source_of_truth", "the system that owns this data" },
  { "freshness", "how old the data may get before it is stale, e.g. \"2h\"" },
}
local CLASSES = {
  transient = true, auth = true, permission = true, not_found = true, validation = true,
  lookup_missing = true, picklist_drift = true, schema_drift = true, script = true,
  lookup_ambiguous = true, destination_edit = true,
}
local ACTIONS = { retry = true, quarantine = true, pause = true, alert = true, fail = true, continue = true }
-- Classes with actions of their own: an unknown picklist value may be
-- mapped to the picklist's declared default (ferry.picklist); an edit in
-- the destination of a field ferry owns is overwritten, kept or held for a
-- person (ferry.fields).
local CLASS_ACTIONS = {
  picklist_drift = { default = true },
  destination_edit = { overwrite = true, keep = true, quarantine = true },
}
local RETRY_KEYS = { attempts = "integer", backoff = "backoff", base = "duration", max = "duration",
                     deadline = "duration", retry_500 = "boolean" }
local ALERT_KEYS = { to = "targets", ["repeat"] = "duration", escalate = "escalate", quarantine_open = "count" }
local EXPECT_KEYS = { min_records = true, history = true, deviation = true }
local HISTORY_MAX = 100                  -- FY_VERDICT_HISTORY_MAX in core/fy_verdict.h

function _M.integration(spec)
  if type(spec) ~= "table" then
    error("ferry.integration expects a table { name = ..., owner = ..., ... }", 2)
  end
  -- `return ferry.integration {...}` is a tail call, which leaves no caller
  -- frame; check() then finds the call in the source text instead.
  local line
  if not getinfo(1, "t").istailcall then
    local info = getinfo(2, "l")
    if info and info.currentline > 0 then line = info.currentline end
  end
  call_sites[spec] = { line = line }
  return setmetatable(spec, marker)
end

-- A table with a __call metamethod (a compiled ferry.map) serves as a hook.
local function callable(v)
  local mt = type(v) == "table" and getmetatable(v)
  return mt and type(mt) == "table" and mt.__call ~= nil or false
end

function _M.is_integration(v)
  return type(v) == "table" and getmetatable(v) == marker
end

-- Edit distance, to suggest "owner" for "ownr".
local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = sub(a, i, i) == sub(b, j, j) and 0 or 1
      local d = prev[j] + 1
      if cur[j - 1] + 1 < d then d = cur[j - 1] + 1 end
      if prev[j - 1] + cost < d then d = prev[j - 1] + cost end
      cur[j] = d
    end
    prev = cur
  end
  return prev[#b]
end

local function suggest(key, known)
  local best, bestd = nil, 3
  for k in pairs(known) do
    local d = distance(key, k)
    if d < bestd then best, bestd = k, d end
  end
  return best and format(" (did you mean '%s'?)", best) or ""
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  sort(keys)
  return concat(keys, ", ")
end

-- Scans Lua source for where the ferry.integration table and its fields are
-- written. Comments and strings are skipped; for every `name =` it records
-- the line, the brace depth and the block depth (function/if/do/repeat), so
-- a `pattern = ...` inside a hook body is not mistaken for the field.
local BLOCK_OPEN = { ["function"] = true, ["do"] = true, ["if"] = true, ["repeat"] = true }
local BLOCK_CLOSE = { ["end"] = true, ["until"] = true }

local function scan(src)
  local call, fields = nil, {}
  local pos, line, len = 1, 1, #src
  local braces, blocks = 0, 0          -- relative to the integration table once found
  local prev_ident                     -- last identifier, waiting for '=' or '{'
  local function skip_long(at)         -- at: position of the opening '['; returns end pos or nil
    local eq = match(src, "^%[(=*)%[", at)
    if not eq then return nil end
    local close = "]" .. eq .. "]"
    local _, e = find(src, close, at + #eq + 2, true)
    e = e or len
    for _ in gmatch(sub(src, at, e), "\n") do line = line + 1 end
    return e + 1
  end
  while pos <= len do
    local c = sub(src, pos, pos)
    if c == "\n" then
      line = line + 1; pos = pos + 1
    elseif find(c, "%s") then
      pos = pos + 1
    elseif sub(src, pos, pos + 1) == "--" then
      pos = skip_long(pos + 2) or (find(src, "\n", pos, true) or len + 1)
      prev_ident = nil
    elseif c == '"' or c == "'" then
      local i = pos + 1
      while i <= len do
        local d = sub(src, i, i)
        if d == "\\" then i = i + 2
        elseif d == c or d == "\n" then break
        else i = i + 1 end
      end
      pos = i + 1; prev_ident = nil
    elseif c == "[" and match(src, "^%[=*%[", pos) then
      pos = skip_long(pos); prev_ident = nil
    elseif find(c, "[%a_]") then
      local word = match(src, "^[%w_]+", pos)
      if call then
        if BLOCK_OPEN[word] then blocks = blocks + 1
        elseif BLOCK_CLOSE[word] then blocks = blocks - 1 end
      end
      prev_ident = { word = word, line = line }
      pos = pos + #word
    else
      if c == "=" and sub(src, pos + 1, pos + 1) ~= "=" and prev_ident and call then
        fields[#fields + 1] = { name = prev_ident.word, line = prev_ident.line, braces = braces, blocks = blocks }
      elseif c == "{" or c == "(" then
        if not call and prev_ident and prev_ident.word == "integration" then
          call = prev_ident.line
          braces = 0
        end
        if c == "{" and call then braces = braces + 1 end
      elseif c == "}" and call then
        braces = braces - 1
        if braces == 0 and blocks == 0 then break end   -- end of the integration table
      end
      if not (c == "." and prev_ident) then prev_ident = nil end
      pos = pos + 1
    end
  end
  return call, fields
end

-- Returns the call's line and a function mapping a field path like
-- { "policy", "retry", "base" } to the line it is written on (or the call's).
local function locator(path)
  local f = path and open(path, "r")
  local src = f and f:read("a") or ""
  if f then f:close() end
  local call, fields = scan(src)
  call = call or 1
  return call, function(keys)
    local from = 1
    for depth, key in ipairs(keys) do
      local found
      for i = from, #fields do
        local fl = fields[i]
        if fl.name == key and fl.braces == depth and fl.blocks == 0 then found = i; break end
      end
      if not found then return call end
      from = found + 1
    end
    return fields[from - 1].line
  end
end

local function check_duration(v)
  if type(v) ~= "string" then return nil, "expected a duration string like \"15m\", got " .. type(v) end
  return time.duration(v)
end

-- The schedule: one parser, in C (fy_schedule via ferry.time.schedule_check),
-- for check and for serve. Returns the normalised text and the jitter, or
-- nil, err, keys (the field path of the problem, for its line).
local WEBHOOK_KEYS = { path = true, secret = true, signature = true, json = true }
local SIGNATURES = { github = true, slack = true, standard = true, stripe = true, token = true, websub = true,
                     none = true }

-- "webhook POST /hooks/PATH (github)", with the schedule when it has one too.
local function webhook_text(value, schedule_text)
  local w = value.trigger and value.trigger.webhook
  if w == nil then return nil end
  if type(w) == "string" then w = { path = w } end
  local sig = type(w.signature) == "table" and w.signature.scheme or w.signature or "none"
  local text = format("webhook POST /hooks/%s (signature %s)", w.path, sig)
  return schedule_text and (text .. ", " .. schedule_text) or text
end

local function check_schedule(v)
  local text, jitter = time.schedule_check(v)
  if text then return text, jitter end
  local err = jitter
  local key, rest = match(err, "^([%w_]+): (.*)$")
  if type(v) == "table" and key and v[key] ~= nil then return nil, rest, { "schedule", key } end
  return nil, err, { "schedule" }
end

-- policy.max_quarantined: "5%" or a fraction like 0.05. Returns the
-- fraction, or nil and what is wrong.
local function quarantined_share(v)
  local share
  if type(v) == "string" then
    local pct = match(v, "^%s*(%d+%.?%d*)%s*%%%s*$") or match(v, "^%s*(%.%d+)%s*%%%s*$")
    share = pct and tonumber(pct) / 100
  elseif math.type(v) == "float" or math.type(v) == "integer" then
    share = v
  end
  if share == nil or share ~= share or share < 0 or share > 1 then
    return nil, format("expected a share of the extracted records like \"5%%\" or a fraction from 0 to 1 "
      .. "like 0.05, got %s", type(v) == "string" and format("%q", v) or tostring(v))
  end
  return share
end

-- expect = { min_records = N, history = N, deviation = R }: problems go to
-- problem(keys, msg).
local function check_expect(e, problem)
  if type(e) ~= "table" then
    problem({ "expect" }, "expected a table like { min_records = 100, deviation = 0.5 }")
    return
  end
  for k, v in pairs(e) do
    local keys = { "expect", tostring(k) }
    if not EXPECT_KEYS[k] then
      problem(keys, "unknown expectation" .. suggest(tostring(k), EXPECT_KEYS)
        .. " (expectations: " .. sorted_keys(EXPECT_KEYS) .. ")")
    elseif k == "min_records" and (math.type(v) ~= "integer" or v < 0) then
      problem(keys, "expected how few records make a run suspect (an integer >= 0; 0: an empty run is normal), got "
        .. tostring(v))
    elseif k == "history" and (math.type(v) ~= "integer" or v < 1 or v > HISTORY_MAX) then
      problem(keys, format("expected how many good runs the median is taken over (an integer from 1 to %d), got %s",
        HISTORY_MAX, tostring(v)))
    elseif k == "deviation" and (type(v) ~= "number" or v ~= v or v <= 0 or v == math.huge) then
      problem(keys, "expected a ratio above 0 like 0.5 (suspect below half or above 1.5x the median), got "
        .. tostring(v))
    end
  end
end

-- What the script expects of its runs, with the defaults, for the verdict
-- (core/fy_integration.c reads it when a run ends): min_records (1: an
-- empty run is suspect), history (5), deviation (0: not judged),
-- max_quarantined (a fraction; -1: not judged), reads_source (false for a
-- webhook script without extract: its runs handle events). Only for a
-- spec that passed check().
function _M.expectations(spec)
  local e = type(spec.expect) == "table" and spec.expect or {}
  local policy = type(spec.policy) == "table" and spec.policy or {}
  return {
    min_records = e.min_records or 1,
    history = e.history or 5,
    deviation = e.deviation or 0,
    max_quarantined = policy.max_quarantined ~= nil and quarantined_share(policy.max_quarantined) or -1,
    reads_source = spec.extract ~= nil,
  }
end

-- Validates value (what the script returned). Returns ok, problems (a list of
-- "FILE:LINE: FIELD: message" strings) and a one-line summary when ok.
function _M.check(value, path)
  local problems = {}
  if not _M.is_integration(value) then
    problems[1] = format("%s:1: the script must return ferry.integration { ... } (it returned %s)",
      path, value == nil and "nothing" or type(value))
    return false, problems
  end
  local call_line, line_of = locator(path)
  local site = { line = (call_sites[value] or {}).line or call_line }
  local function problem(keys, msg)
    local field = concat(keys, ".")
    problems[#problems + 1] = { line = line_of(keys), text = format("%s: %s", field, msg) }
  end
  local function problem_at(line, field, msg)
    problems[#problems + 1] = { line = line, text = format("%s: %s", field, msg) }
  end

  for k in pairs(value) do
    if type(k) ~= "string" or not FIELDS[k] then
      problem({ tostring(k) }, "unknown field" .. suggest(tostring(k), FIELDS)
        .. " (fields: " .. sorted_keys(FIELDS) .. ")")
    end
  end
  -- a blank owner pages nobody, as an empty one does: both are missing
  local function said(v) return type(v) == "string" and find(v, "%S") ~= nil end
  for _, req in ipairs(REQUIRED) do
    local k, hint = req[1], req[2]
    local v = value[k]
    if v == nil then
      problem_at(site.line, k, "missing (" .. hint .. ")")
    elseif not said(v) then
      problem({ k }, "expected a non-empty string: " .. hint)
    end
  end
  if said(value.name) and not match(value.name, "^[%w][%w_.%-]*$") then
    problem({ "name" }, "use letters, digits, '.', '_' and '-' only (it names files), got \"" .. value.name .. "\"")
  end
  if said(value.pattern) and value.pattern ~= "workflow" and value.pattern ~= "reporting" then
    problem({ "pattern" }, format("unknown pattern \"%s\" (use \"workflow\" or \"reporting\")", value.pattern))
  end
  if said(value.freshness) then
    local secs, err = check_duration(value.freshness)
    if not secs then problem({ "freshness" }, err)
    elseif secs <= 0 then problem({ "freshness" }, "must be longer than 0s") end
  end
  local schedule_text
  if value.schedule ~= nil then
    local text, err, keys = check_schedule(value.schedule)
    if text then
      schedule_text = "schedule " .. text
      if err > 0 then schedule_text = schedule_text .. " (jitter " .. time.format_duration(err) .. ")" end
    else
      problem(keys, err)
    end
  end
  if value.trigger ~= nil then
    local t = value.trigger
    if type(t) ~= "table" then
      problem({ "trigger" }, "expected { webhook = { path = ..., secret = ..., signature = ... } }")
    else
      for k in pairs(t) do
        if k ~= "webhook" then problem({ "trigger", tostring(k) }, "unknown trigger (use webhook)") end
      end
      local w = t.webhook
      if type(w) == "string" then w = { path = w } end
      if type(w) ~= "table" then
        problem({ "trigger", "webhook" }, "expected a path or { path = ..., secret = ..., signature = ... }")
      else
        for k in pairs(w) do
          if not WEBHOOK_KEYS[k] then
            problem({ "trigger", "webhook", tostring(k) }, "unknown key (known: path, secret, signature, json)")
          end
        end
        if type(w.path) ~= "string" or not match(w.path, "^[%w._~-][%w._~/-]*$") or #w.path > 200 then
          problem({ "trigger", "webhook", "path" },
            "expected a path like \"zendesk-ticket-created\" (letters, digits, . _ ~ - /), served as POST /hooks/PATH")
        end
        local scheme = type(w.signature) == "table" and w.signature.scheme or w.signature
        if w.signature ~= nil and not SIGNATURES[scheme] then
          problem({ "trigger", "webhook", "signature" },
            "expected one of github, slack, standard, stripe, token, websub or none, got " .. tostring(scheme))
        end
        if scheme ~= nil and scheme ~= "none" and (type(w.secret) ~= "string" or not match(w.secret, "^[%a_][%w_]*$")) then
          problem({ "trigger", "webhook", "secret" },
            "expected the name of the environment variable that holds the signing secret")
        end
        if w.json ~= nil and type(w.json) ~= "boolean" then
          problem({ "trigger", "webhook", "json" }, "expected true (bodies must be JSON: 400 otherwise) or false")
        end
      end
    end
  end
  if value.description ~= nil and type(value.description) ~= "string" then
    problem({ "description" }, "expected a string, got " .. type(value.description))
  end
  if value.tags ~= nil then
    local t, ok = value.tags, type(value.tags) == "table"
    if ok then
      for k, v in pairs(t) do
        if math.type(k) ~= "integer" or k < 1 or k > #t or type(v) ~= "string" or v == "" then ok = false end
      end
    end
    if not ok then problem({ "tags" }, "expected a list of non-empty strings, e.g. { \"hr\", \"payroll\" }") end
  end
  if value.batch_size ~= nil and (math.type(value.batch_size) ~= "integer" or value.batch_size < 1) then
    problem({ "batch_size" }, "expected a positive integer, got " .. tostring(value.batch_size))
  end

  if value.expect ~= nil then check_expect(value.expect, problem) end

  if value.rate_limit ~= nil then
    local ok, err = pcall(require("ferry.http").parse_rate, value.rate_limit)
    if not ok then problem({ "rate_limit" }, (tostring(err):gsub("^.-ferry%.http: ", ""))) end
  end

  for _, hook in ipairs { "extract", "transform", "load" } do
    local v = value[hook]
    if v == nil then
      -- a webhook integration without extract handles only its events
      local optional = hook == "transform" or (hook == "extract" and type(value.trigger) == "table"
        and value.trigger.webhook ~= nil)
      if not optional then problem_at(site.line, hook, "missing (a function)") end
    elseif type(v) ~= "function" and not (hook == "transform" and callable(v)) then
      problem({ hook }, "expected a function, got " .. type(v))
    end
  end

  if value.fields ~= nil then
    local owned, err = require("ferry.fields").normalize(value.fields)
    if not owned then
      problem({ "fields" }, err)
    elseif next(owned) ~= nil and type(value.load) == "function" and not require("ferry.sink").reader(value.load) then
      problem({ "fields" }, "ferry must read the destination to keep the fields it owns and notice edits there, "
        .. "and this load cannot (use ferry.sink.sqlite, or ferry.sink.custom { load = ..., key = ..., read = ... })")
    end
  end

  local policy = value.policy
  if policy ~= nil and type(policy) ~= "table" then
    problem({ "policy" }, "expected a table of error class -> action")
  elseif policy then
    for k, v in pairs(policy) do
      if k == "retry" then
        if type(v) ~= "table" then
          problem({ "policy", "retry" }, "expected a table { attempts = 5, backoff = \"exponential\", ... }")
        else
          for rk, rv in pairs(v) do
            local kind = RETRY_KEYS[rk]
            local keys = { "policy", "retry", tostring(rk) }
            if not kind then
              problem(keys, "unknown retry setting" .. suggest(tostring(rk), RETRY_KEYS)
                .. " (settings: " .. sorted_keys(RETRY_KEYS) .. ")")
            elseif kind == "integer" and (math.type(rv) ~= "integer" or rv < 1) then
              problem(keys, "expected a positive integer, got " .. tostring(rv))
            elseif kind == "duration" then
              local ok, err = check_duration(rv)
              if not ok then problem(keys, err) end
            elseif kind == "backoff" and rv ~= "exponential" and rv ~= "linear" and rv ~= "fixed" then
              problem(keys, "expected \"exponential\", \"linear\" or \"fixed\", got " .. tostring(rv))
            elseif kind == "boolean" and type(rv) ~= "boolean" then
              problem(keys, "expected true or false")
            end
          end
        end
      elseif k == "alert" then
        if type(v) ~= "table" then
          problem({ "policy", "alert" }, "expected a table { to = { \"log\" }, escalate = { ... } }")
        else
          for ak, av in pairs(v) do
            local kind = ALERT_KEYS[ak]
            local keys = { "policy", "alert", tostring(ak) }
            if not kind then
              problem(keys, "unknown alert setting" .. suggest(tostring(ak), ALERT_KEYS)
                .. " (settings: " .. sorted_keys(ALERT_KEYS) .. ")")
            elseif kind == "duration" then
              local ok, err = check_duration(av)
              if not ok then problem(keys, err) end
            elseif kind == "count" and (math.type(av) ~= "integer" or av < 1) then
              problem(keys, "expected how many open quarantined records raise an alert (an integer >= 1), got "
                .. tostring(av))
            elseif kind == "targets" and type(av) ~= "table" and type(av) ~= "string" then
              problem(keys, "expected a target or a list of targets like { \"log\", \"webhook:ops\" }")
            elseif kind == "escalate" then
              if type(av) ~= "table" or type(av.to) ~= "string" then
                problem(keys, "expected { after = \"4h\", to = \"someone\" }")
              else
                local ok, err = check_duration(av.after)
                if not ok then problem({ "policy", "alert", "escalate", "after" }, err) end
              end
            end
          end
        end
      elseif k == "pause" then
        -- how a paused integration comes back by itself: { probe = "15m" }
        if type(v) ~= "table" then
          problem({ "policy", "pause" }, "expected { probe = \"15m\" } (or leave it out: resume by hand)")
        else
          for pk, pv in pairs(v) do
            if pk ~= "probe" then
              problem({ "policy", "pause", tostring(pk) }, "unknown pause setting (settings: probe)")
            else
              local ok, err = check_duration(pv)
              if not ok then problem({ "policy", "pause", "probe" }, err) end
            end
          end
        end
      elseif k == "retry_quarantined" then
        if type(v) ~= "table" then
          problem({ "policy", "retry_quarantined" }, "expected a table of error class -> times, like { lookup_missing = 5 }")
        else
          for ck, cv in pairs(v) do
            local keys = { "policy", "retry_quarantined", tostring(ck) }
            if not CLASSES[ck] then
              problem(keys, "unknown error class" .. suggest(tostring(ck), CLASSES)
                .. " (error classes: " .. sorted_keys(CLASSES) .. ")")
            elseif math.type(cv) ~= "integer" or cv < 0 then
              problem(keys, "expected how many later runs retry it (an integer >= 0), got " .. tostring(cv))
            end
          end
        end
      elseif k == "max_quarantined" then
        local ok, err = quarantined_share(v)
        if not ok then problem({ "policy", "max_quarantined" }, err) end
      elseif k == "destination_edit" then
        if not CLASS_ACTIONS.destination_edit[v] then
          problem({ "policy", k }, format("unknown action %s (use %s)", tostring(v),
            sorted_keys(CLASS_ACTIONS.destination_edit)))
        end
      elseif type(k) == "string" and CLASSES[k] then
        if not ACTIONS[v] and not (CLASS_ACTIONS[k] and CLASS_ACTIONS[k][v]) then
          local all = {}
          for a in pairs(ACTIONS) do all[a] = true end
          for a in pairs(CLASS_ACTIONS[k] or {}) do all[a] = true end
          problem({ "policy", k }, format("unknown action %s (use %s)", tostring(v), sorted_keys(all)))
        end
      else
        local known = { retry = true, alert = true, retry_quarantined = true, pause = true, max_quarantined = true }
        for c in pairs(CLASSES) do known[c] = true end
        problem({ "policy", tostring(k) }, "unknown policy key" .. suggest(tostring(k), known)
          .. " (error classes: " .. sorted_keys(CLASSES) .. "; or retry, retry_quarantined, alert, pause, max_quarantined)")
      end
    end
  end

  if #problems > 0 then
    sort(problems, function(a, b) return a.line < b.line or (a.line == b.line and a.text < b.text) end)
    local out = {}
    for i, p in ipairs(problems) do out[i] = format("%s:%d: %s", path, p.line, p.text) end
    return false, out
  end
  local summary = format("%s: ok: %s (%s, owner %s, source of truth %s, %s, freshness %s)",
    path, value.name, value.pattern, value.owner, value.source_of_truth,
    webhook_text(value, schedule_text) or schedule_text or "run on demand",
    value.freshness)
  if value.tags and #value.tags > 0 then summary = summary .. " [" .. concat(value.tags, ", ") .. "]" end
  return true, {}, summary
end

_M.CLASSES = CLASSES
return _M
