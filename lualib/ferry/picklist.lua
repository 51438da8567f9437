-- ferry.picklist: map free text and source codes onto a destination's
-- allowed options. Scripts call match() from transform. It promises to
-- return only an option as the destination spells it, or a picklist_drift
-- error (or the declared default, when the policy says so); an unknown
-- value is reported once per value, not once per record.
--
--   local tiers = ferry.picklist { name = "tier", options = { "Bronze", "Silver", "Gold" },
--     synonyms = { Platinum = "Gold" }, default = "Bronze" }
--   out.tier, err = tiers:match(r.tier, ctx)
--
-- Options are declared, or fetched from the destination (fetch(ctx) -> list)
-- and cached in ctx.state "picklist:NAME" ({ at, options }) for ttl. The
-- cached copy is kept past its ttl so a refresh can say which options were
-- removed or added upstream (ctx:report "picklist_options"). Unknown values
-- already logged are kept in "picklist:NAME:seen" (a warn line once each,
-- across runs).
local ferry = ferry
local lookup = require "ferry.lookup"
local type, tostring, pairs, ipairs, error, pcall, setmetatable =
  type, tostring, pairs, ipairs, error, pcall, setmetatable
local format, lower, match, concat, sort = string.format, string.lower, string.match, table.concat, table.sort
local text_of, seconds, check_keys, declare = lookup.text_of, lookup.seconds, lookup.check_keys, lookup.declare

local _M = {}

local SEEN_MAX = 1000               -- unknown values remembered across runs, per picklist

-- The matching key of a value: trimmed, case-folded text.
local function key_of(v)
  local s = text_of(v)
  return s and lower(match(s, "^%s*(.-)%s*$"))
end

-- "A", "B", ... for a reason: at most `max` of them, then how many more.
local function quoted(list, max)
  local t = {}
  for i, v in ipairs(list) do
    if max and i > max then
      t[#t + 1] = format("and %d more", #list - max)
      break
    end
    t[i] = format("%q", v)
  end
  return concat(t, ", ")
end

-- Builds the index key -> option from options and synonyms. Returns the
-- index and a list of problems (a synonym whose target is not an option);
-- duplicate options (case-insensitive) are problems too.
local function build_index(name, options, synonyms)
  local index, by_key, problems = {}, {}, {}
  for _, opt in ipairs(options) do
    local k = key_of(opt)
    if by_key[k] and by_key[k] ~= opt then
      problems[#problems + 1] = format("options %q and %q differ only in case or spaces", by_key[k], opt)
    end
    by_key[k] = by_key[k] or opt
    index[k] = by_key[k]
  end
  local syn_keys = {}
  for from in pairs(synonyms) do syn_keys[#syn_keys + 1] = from end
  sort(syn_keys)
  for _, from in ipairs(syn_keys) do
    local to = synonyms[from]
    local k, target = key_of(from), by_key[key_of(to)]
    if not target then
      problems[#problems + 1] = format("synonym %q -> %q: %q is not an option of %s", from, to, to, name)
    elseif index[k] and index[k] ~= target then
      problems[#problems + 1] = format("synonym %q -> %q: %q already means %q", from, to, from, index[k])
    else
      index[k] = target
    end
  end
  return index, problems
end

local Picklist = {}
Picklist.__index = Picklist

-- A fetched list of options, checked: a non-empty list of strings.
local function fetched_options(self, ctx)
  local list = self.fetch(ctx)
  if type(list) ~= "table" then
    error({ class = "script", reason = format("picklist %s: fetch must return a list of options, got %s", self.name,
      type(list)) }, 0)
  end
  local out = {}
  for i, v in ipairs(list) do
    if type(v) ~= "string" or v == "" then
      error({ class = "script", reason = format("picklist %s: fetch: option %d is %s, not a non-empty string",
        self.name, i, type(v) == "string" and "empty" or type(v)) }, 0)
    end
    out[i] = v
  end
  if #out == 0 then
    -- every value would become unknown at once: not believed
    error({ class = "schema_drift", reason = format("picklist %s: the destination returned no options", self.name) }, 0)
  end
  return out
end

-- Options in old and not in new.
local function minus(old, new)
  local have, out = {}, ferry.json.array({})     -- [] in JSON when empty, as a list
  for _, v in ipairs(new) do have[v] = true end
  for _, v in ipairs(old) do if not have[v] then out[#out + 1] = v end end
  return out
end

local function report(ctx, kind, key, detail)
  if ctx.report then ctx:report(kind, key, detail) end
end

-- Tells of a fetched list that differs from the cached one.
local function options_changed(self, ctx, old, new)
  local removed, added = minus(old, new), minus(new, old)
  if #removed == 0 and #added == 0 then return end
  local parts = {}
  if #removed > 0 then parts[#parts + 1] = "options removed upstream: " .. quoted(removed) end
  if #added > 0 then parts[#parts + 1] = (#removed > 0 and "added: " or "options added upstream: ") .. quoted(added) end
  local text = format("picklist %s: %s", self.name, concat(parts, "; "))
  report(ctx, "picklist_options", self.name, { text = text, picklist = self.name, removed = removed, added = added })
  if ctx.log then ctx.log.warn("picklist options changed upstream", { picklist = self.name, removed = removed, added = added }) end
end

-- The options of this run: declared, or from ctx.state, or fetched.
function Picklist:load(ctx)
  local run = self.runs[ctx]
  if run then
    if run.failed then error(run.failed, 0) end
    return run
  end
  run = {}
  self.runs[ctx] = run
  if self.options then
    run.index = self.index
  else
    local cached = ctx.state and ctx.state:get(self.state_key)
    if type(cached) ~= "table" or type(cached.options) ~= "table" or type(cached.at) ~= "number" then cached = nil end
    if cached and lookup.clock() - cached.at < self.ttl then
      run.options = cached.options
    else
      local ok, list = pcall(fetched_options, self, ctx)
      if not ok then
        run.failed = list           -- not fetched again this run
        error(list, 0)
      end
      if cached then options_changed(self, ctx, cached.options, list) end
      if ctx.state then ctx.state:set(self.state_key, { at = lookup.clock(), options = list }) end
      run.options = list
    end
    local index, problems = build_index(self.name, run.options, self.synonyms)
    run.index = index
    if self.default ~= nil and index[key_of(self.default)] ~= self.default then
      problems[#problems + 1] = format("default %q is not an option", self.default)
      run.no_default = true
    end
    if #problems > 0 and ctx.log then
      -- a synonym or default the destination no longer offers: values that
      -- used it are unknown now (and reported as such)
      ctx.log.warn("picklist definition does not fit the destination's options",
        { picklist = self.name, problems = problems })
    end
  end
  return run
end

-- Unknown values already logged, this run's copy of the state's set.
local function seen_set(self, ctx, run)
  if not run.seen then
    local s = ctx.state and ctx.state:get(self.seen_key)
    run.seen = type(s) == "table" and s or {}
    local n = 0
    for _ in pairs(run.seen) do n = n + 1 end
    run.nseen = n
  end
  return run.seen
end

-- value -> option | nil, err (class picklist_drift, with the value).
function Picklist:match(value, ctx)
  if type(ctx) ~= "table" then error(format("picklist %s: match(value, ctx): ctx is required", self.name), 2) end
  local run = self:load(ctx)
  local k = key_of(value)
  local opt = k and run.index[k]
  if opt then return opt end

  -- unknown: the default by policy, or drift
  local shown, what = text_of(value), nil
  if shown then
    shown = match(shown, "^%s*(.-)%s*$")
  elseif value ~= nil and value ~= ferry.json.null then
    shown = "<" .. type(value) .. ">"           -- a table or a boolean: not a value of a picklist
    what = format("a %s, not a text value", type(value))
  else
    shown = ""
  end
  local policy = ctx.policy
  local use_default = self.default ~= nil and not run.no_default
    and (self.on_unknown == "default" or (type(policy) == "table" and policy.picklist_drift == "default"))
  what = what or (shown == "" and "empty value" or format("unknown value %q", shown))
  local outcome = use_default and format("mapped to default %q", self.default) or "quarantined"
  local text = format("picklist %s: %s (%s)", self.name, what, outcome)
  -- one finding per value as matching sees it: "Silver" and " silver" are one value
  local said = k or shown
  report(ctx, "picklist_drift", self.name .. "=" .. said,
    { text = text, picklist = self.name, value = shown, default = use_default and self.default or nil })
  local seen = seen_set(self, ctx, run)
  if not seen[said] then
    if ctx.log then ctx.log.warn("new picklist value", { picklist = self.name, value = shown, outcome = outcome }) end
    if run.nseen < SEEN_MAX then
      seen[said] = true
      run.nseen = run.nseen + 1
      if ctx.state then ctx.state:set(self.seen_key, seen) end
    end
  end
  if use_default then return self.default end
  return nil, { class = "picklist_drift", picklist = self.name, value = shown,
                reason = format("picklist %s: %s (options: %s)", self.name, what,
                  quoted(run.options or self.options, 20)) }
end

-- The options of this run (declared or fetched), as the destination spells them.
function Picklist:options_of(ctx)
  local run = self:load(ctx)
  return run.options or self.options
end

local KEYS = { name = true, options = true, fetch = true, ttl = true, synonyms = true, default = true,
               on_unknown = true }

local function new(opts)
  check_keys(opts, KEYS, "ferry.picklist", { fetch = true })
  local what = "ferry.picklist " .. opts.name
  if (opts.options == nil) == (opts.fetch == nil) then
    error(what .. ": give options (a list) or fetch (a function), one of them", 0)
  end
  if opts.fetch ~= nil and type(opts.fetch) ~= "function" then error(what .. ": fetch: expected a function", 0) end
  local synonyms = opts.synonyms or {}
  if type(synonyms) ~= "table" then error(what .. ": synonyms: expected a table of value = option", 0) end
  for from, to in pairs(synonyms) do
    if text_of(from) == nil or type(to) ~= "string" then
      error(format("%s: synonyms: expected value = \"option\", got %s = %s", what, tostring(from), tostring(to)), 0)
    end
  end
  if opts.default ~= nil and type(opts.default) ~= "string" then error(what .. ": default: expected an option", 0) end
  if opts.on_unknown ~= nil and opts.on_unknown ~= "default" and opts.on_unknown ~= "quarantine" then
    error(format("%s: on_unknown: expected \"default\" or \"quarantine\", got %s", what, tostring(opts.on_unknown)), 0)
  end
  if opts.on_unknown == "default" and opts.default == nil then
    error(what .. ": on_unknown = \"default\" needs a default", 0)
  end
  local self = setmetatable({
    name = opts.name, fetch = opts.fetch, synonyms = synonyms, default = opts.default,
    on_unknown = opts.on_unknown, state_key = "picklist:" .. opts.name, seen_key = "picklist:" .. opts.name .. ":seen",
    runs = setmetatable({}, { __mode = "k" }),
  }, Picklist)
  if opts.options ~= nil then
    if opts.ttl ~= nil then error(what .. ": ttl: only fetched options are cached (declared options have no ttl)", 0) end
    if type(opts.options) ~= "table" or #opts.options == 0 then error(what .. ": options: expected a list of options", 0) end
    local list = {}
    for i, v in ipairs(opts.options) do
      if type(v) ~= "string" or v == "" then error(format("%s: options[%d]: expected a non-empty string", what, i), 0) end
      list[i] = v
    end
    -- declared: every problem is the script's, said now
    local index, problems = build_index(opts.name, list, synonyms)
    if opts.default ~= nil and index[key_of(opts.default)] ~= opts.default then
      problems[#problems + 1] = format("default %q is not an option", opts.default)
    end
    if #problems > 0 then error(what .. ": " .. problems[1], 0) end
    self.options, self.index = list, index
  else
    self.ttl = seconds(opts.ttl, "1h", what .. ": ttl")
  end
  return self
end

return setmetatable(_M, { __call = function(_, opts) return (declare(new, opts)) end })
