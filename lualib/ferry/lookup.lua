-- ferry.lookup: resolve source values to the destination's ids, in bulk.
-- Scripts call it from transform; the engine (runner.lua) calls resolve()
-- once per load batch. It promises never to make one request per record
-- and never to pick one of several matches.
--
-- Bulk tables (owner email -> user id), fetched whole and cached in ctx.state:
--
--   local owners = ferry.lookup { name = "owners", normalize = "email", ttl = "1h",
--     fetch = function(ctx, add) ... add(u.email, u.id) ... end }
--   local id, err = owners:get(r.owner_email, ctx)   -- err.class lookup_missing | lookup_ambiguous
--
-- Foreign keys, resolved with one fetch per load batch:
--
--   local accounts = ferry.lookup.keys { name = "accounts",
--     fetch = function(ctx, keys) return { ["ext-1"] = 101, ["ext-2"] = { 102, 103 } } end }
--   out.account_id = accounts:ref(r.account_ref)     -- a placeholder until resolve()
--
-- A table is loaded from ctx.state on its first use in a run (the state
-- key "lookup:NAME": { at = fetched at, ids = { key = id | { id, id } } },
-- compact so 100,000 users stay a few MB), fetched when absent or older
-- than ttl, and fetched again at most once a run on a miss when older than
-- refresh_on_miss. A fetch that fails is not repeated in the same run.
local ferry = ferry
local type, tostring, pairs, ipairs, error, pcall, setmetatable, getmetatable, next =
  type, tostring, pairs, ipairs, error, pcall, setmetatable, getmetatable, next
local format, lower, match, concat, sort = string.format, string.lower, string.match, table.concat, table.sort
local mtype, floor = math.type, math.floor
local duration = ferry.time.duration

local _M = {}

-- Seconds since the epoch. Tests replace it to move time.
_M.clock = ferry.time.now

-- The text of a key: strings as they are, numbers without a spurious ".0"
-- (an external id 42 and "42" are the same key).
local function text_of(v)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then
    if mtype(v) == "float" and v == floor(v) and v > -2^53 and v < 2^53 then return format("%d", v) end
    return tostring(v)
  end
  return nil
end

local function trim(s) return match(s, "^%s*(.-)%s*$") end

local NORMALIZERS = {
  trim = function(s) return trim(s) end,
  lower = function(s) return lower(s) end,
  email = function(s) return lower(trim(s)) end,
}
_M.NORMALIZERS = NORMALIZERS

-- normalize option -> function(value) -> key | nil. A function of the
-- script's may return nil for "no key".
local function normalizer(opt, what)
  if opt == nil then opt = "trim" end
  if type(opt) == "function" then
    return function(v)
      local k = opt(v)
      return k ~= nil and text_of(k) or nil
    end
  end
  local f = NORMALIZERS[opt]
  if not f then
    error(format("%s: normalize: expected \"email\", \"trim\", \"lower\" or a function, got %s", what,
      type(opt) == "string" and format("%q", opt) or type(opt)), 0)
  end
  return function(v)
    local s = text_of(v)
    return s and f(s)
  end
end

-- A duration option ("1h" or seconds) in seconds; misuse raises.
local function seconds(v, default, what)
  if v == nil then v = default end
  if type(v) == "number" and v >= 0 then return v end
  if type(v) == "string" then
    local s, err = duration(v)
    if s then return s end
    error(format("%s: %s", what, err), 0)
  end
  error(format("%s: expected a duration like \"1h\", got %s", what, type(v)), 0)
end
_M.seconds = seconds

-- Declarations take only the keys they know: a typo is an error, not a
-- silently ignored option.
local function check_keys(opts, known, what, optional)
  if type(opts) ~= "table" then error(what .. ": expected a table of options", 0) end
  for k in pairs(opts) do
    if not known[k] then
      local names = {}
      for n in pairs(known) do names[#names + 1] = n end
      sort(names)
      error(format("%s: unknown option %s (options: %s)", what, tostring(k), concat(names, ", ")), 0)
    end
  end
  if type(opts.name) ~= "string" or not match(opts.name, "^[%w_.-]+$") then
    error(format("%s: name: expected a name of letters, digits, _ . or -, got %s", what,
      type(opts.name) == "string" and format("%q", opts.name) or type(opts.name)), 0)
  end
  if type(opts.fetch) ~= "function" and not (optional and optional.fetch) then
    error(what .. " " .. opts.name .. ": fetch: expected a function", 0)
  end
end

-- The values of a list, for a reason: 101, 102.
local function list_text(ids)
  local t = {}
  for i, id in ipairs(ids) do t[i] = tostring(id) end
  return concat(t, ", ")
end
_M.list_text = list_text
_M.check_keys = check_keys
_M.text_of = text_of

-- Runs constructor ctor(opts) for a declaration in a script: its misuse
-- errors are raised at the script's line.
local function declare(ctor, opts)
  local ok, res = pcall(ctor, opts)
  if not ok then error(res, 3) end
  return res
end
_M.declare = declare

-- Per-run data of a lookup, keyed by the run's ctx (weak: gone with the run).
local function per_run() return setmetatable({}, { __mode = "k" }) end

------------------------------------------------------------------------------
-- Bulk tables

local Table = {}
Table.__index = Table

-- Fetches the whole table through the script's fetch and caches it.
-- Returns the per-run entry; raises what fetch raised.
function Table:fetch_all(ctx, run)
  local ids, norm = {}, self.norm
  local rows, skipped = 0, 0
  local function add(value, id)
    rows = rows + 1
    local key = value ~= nil and norm(value)
    if key == nil or key == "" then skipped = skipped + 1; return end
    if text_of(id) == nil then
      error(format("lookup %s: add: the id of %q must be a string or a number, got %s", self.name, key, type(id)), 2)
    end
    local had = ids[key]
    if had == nil then
      ids[key] = id
    elseif type(had) == "table" then
      for _, x in ipairs(had) do if x == id then return end end
      had[#had + 1] = id
    elseif had ~= id then
      ids[key] = { had, id }
    end
  end
  self.fetch(ctx, add)
  local now = _M.clock()
  run.ids, run.at, run.fetched = ids, now, true
  if skipped > 0 and ctx.log then
    -- rows the destination has without a key cannot match anything: said, not hidden
    ctx.log.info("lookup rows without a key", { lookup = self.name, rows = rows, skipped = skipped })
  end
  if ctx.state then ctx.state:set(self.state_key, { at = now, ids = ids }, self.ttl) end
  return run
end

-- The table for this run: from memory, from ctx.state, or fetched.
function Table:load(ctx)
  local run = self.runs[ctx]
  if run then
    if run.failed then error(run.failed, 0) end
    return run
  end
  run = {}
  self.runs[ctx] = run
  local cached = ctx.state and ctx.state:get(self.state_key)
  if type(cached) == "table" and type(cached.ids) == "table" and type(cached.at) == "number"
      and _M.clock() - cached.at < self.ttl then
    run.ids, run.at = cached.ids, cached.at
    return run
  end
  local ok, err = pcall(self.fetch_all, self, ctx, run)
  if not ok then
    run.failed = err                -- not fetched again this run: one failure, not one per record
    error(err, 0)
  end
  return run
end

local function missing(self, key, why)
  return { class = "lookup_missing", key = key, lookup = self.name,
           reason = format("lookup %s: %s", self.name, why) }
end

-- value -> id | nil, err (lookup_missing or lookup_ambiguous, with the key).
function Table:get(value, ctx)
  if type(ctx) ~= "table" then error(format("lookup %s: get(value, ctx): ctx is required", self.name), 2) end
  local key = value ~= nil and self.norm(value) or nil
  if key == nil or key == "" then
    return nil, missing(self, "", format("no value to look up (%s)", value == nil and "nil" or format("%q", tostring(value))))
  end
  local run = self:load(ctx)
  local id = run.ids[key]
  if id == nil and not run.fetched and not run.refreshed and _M.clock() - run.at >= self.refresh_on_miss then
    -- the table may predate this user: fetch again, once a run
    run.refreshed = true
    local ok, err = pcall(self.fetch_all, self, ctx, run)
    if not ok then error(err, 0) end
    id = run.ids[key]
  end
  if id == nil then
    return nil, missing(self, key, format("no match for %q (retried on later runs)", key))
  end
  if type(id) == "table" then
    return nil, { class = "lookup_ambiguous", key = key, lookup = self.name, candidates = id,
                  reason = format("lookup %s: %q matches %d entries (%s); none is picked", self.name, key, #id,
                    list_text(id)) }
  end
  return id
end

-- Forgets this run's copy and the cached one: the next get fetches.
function Table:invalidate(ctx)
  self.runs[ctx] = nil
  if ctx.state then ctx.state:delete(self.state_key) end
end

local TABLE_KEYS = { name = true, normalize = true, ttl = true, refresh_on_miss = true, fetch = true }

local function new_table(opts)
  check_keys(opts, TABLE_KEYS, "ferry.lookup")
  local what = "ferry.lookup " .. opts.name
  return setmetatable({
    name = opts.name,
    state_key = "lookup:" .. opts.name,
    norm = normalizer(opts.normalize, what),
    ttl = seconds(opts.ttl, "1h", what .. ": ttl"),
    refresh_on_miss = seconds(opts.refresh_on_miss, "5m", what .. ": refresh_on_miss"),
    fetch = opts.fetch,
    runs = per_run(),
  }, Table)
end

------------------------------------------------------------------------------
-- Foreign keys: placeholders made in transform, resolved per load batch

local Keys = {}
Keys.__index = Keys

local REF = {}                      -- marks the metatables of placeholders
local made = false                  -- a placeholder was made since the last resolve
local MEMO_MAX = 100000             -- found ids remembered per run and lookup, at most

-- The placeholder's owner and key, when v is one.
local function ref_of(v)
  local mt = type(v) == "table" and getmetatable(v)
  if mt and mt.kind == REF then return mt.lookup, v["$ref"] end
  return nil
end

-- A placeholder for value, to put at the top level of transform's output.
-- It reads {"$lookup": NAME, "$ref": KEY} if it is ever stored.
function Keys:ref(value)
  made = true
  local key = value ~= nil and self.norm(value) or nil
  return setmetatable({ ["$lookup"] = self.name, ["$ref"] = key or "" }, self.ref_mt)
end

local KEYS_KEYS = { name = true, normalize = true, fetch = true }

local function new_keys(opts)
  check_keys(opts, KEYS_KEYS, "ferry.lookup.keys")
  local lk = setmetatable({
    name = opts.name,
    norm = normalizer(opts.normalize, "ferry.lookup.keys " .. opts.name),
    fetch = opts.fetch,
    runs = per_run(),
  }, Keys)
  lk.ref_mt = { kind = REF, lookup = lk, __name = "ferry.lookup.ref" }
  return lk
end

function _M.keys(opts) return (declare(new_keys, opts)) end

-- Is any placeholder waiting for resolve()?
function _M.pending() return made end

-- Does v hold a placeholder below its top level?
local function nested_ref(v, depth)
  if depth > 50 then return false end
  for _, x in pairs(v) do
    if type(x) == "table" and (ref_of(x) or nested_ref(x, depth + 1)) then return true end
  end
  return false
end

-- One fetch of a lookup's keys: key -> id, or key -> { candidates } for
-- ambiguous ones; absent = missing. Raises on a fetch that fails or answers
-- something that is not a table.
local function fetch_keys(lk, ctx, keys)
  local res = lk.fetch(ctx, keys)
  if type(res) ~= "table" then
    error({ class = "script", reason = format("lookup %s: fetch must return a table of key = id, got %s", lk.name,
      type(res)) }, 0)
  end
  -- the ids of each normalised key, each once (two answer keys may
  -- normalise to one: their ids together)
  local lists, seen = {}, {}
  for k, v in pairs(res) do
    local key = lk.norm(k)
    if key ~= nil then
      local list, had = lists[key], seen[key]
      if not list then list, had = {}, {}; lists[key], seen[key] = list, had end
      for _, id in ipairs(type(v) == "table" and v or { v }) do
        if text_of(id) ~= nil and not had[id] then had[id] = true; list[#list + 1] = id end
      end
    end
  end
  local found = {}
  for key, list in pairs(lists) do
    if #list == 1 then found[key] = list[1] elseif #list > 1 then found[key] = list end
  end
  return found
end

-- Classifies a fetch's error for the records that waited on it.
local function error_class(err)
  if type(err) == "table" then
    local reason = err.reason or err.message
    local mt = getmetatable(err)
    if reason == nil and mt and mt.__tostring then reason = tostring(err) end
    return type(err.class) == "string" and err.class or "script", tostring(reason)
  end
  return "script", tostring(err)
end

-- resolve(batch, m, ctx, fail): replaces the placeholders among the top-level
-- fields of batch[1..m] with ids, one fetch per lookup with the batch's
-- distinct keys not found earlier in this run; calls fail(i, class, reason, detail)
-- once for a record with a key missing, ambiguous, left nested, or whose
-- fetch failed. Called by runner.lua after transform, before load.
function _M.resolve(batch, m, ctx, fail)
  made = false
  local uses = {}                   -- { i, field, lookup, key }
  local wanted = {}                 -- lookup -> { key -> true }, keys to fetch
  local lookups = {}
  for i = 1, m do
    local rec = batch[i]
    if type(rec) == "table" then
      for field, v in pairs(rec) do
        local lk, key = ref_of(v)
        if lk then
          uses[#uses + 1] = { i, field, lk, key }
          local run = lk.runs[ctx]
          if not run then run = { ids = {}, n = 0 }; lk.runs[ctx] = run end
          if key ~= "" and run.ids[key] == nil then
            local w = wanted[lk]
            if not w then w = {}; wanted[lk] = w; lookups[#lookups + 1] = lk end
            w[key] = true
          end
        elseif type(v) == "table" and nested_ref(v, 1) then
          uses[#uses + 1] = { i, field }
        end
      end
    end
  end
  if #uses == 0 then return end

  -- one fetch per lookup, in the order the lookups appeared
  local found, failed = {}, {}
  for _, lk in ipairs(lookups) do
    local keys = {}
    for k in pairs(wanted[lk]) do keys[#keys + 1] = k end
    sort(keys)
    local ok, res = pcall(fetch_keys, lk, ctx, keys)
    if ok then
      found[lk] = res
      local run = lk.runs[ctx]
      for k, id in pairs(res) do
        if type(id) ~= "table" then
          if run.n >= MEMO_MAX then run.ids, run.n = {}, 0 end   -- memory stays bounded
          run.ids[k] = id
          run.n = run.n + 1
        end
      end
    else
      local class, reason = error_class(res)
      failed[lk] = { class, format("lookup %s: fetch failed: %s", lk.name, reason) }
    end
  end

  -- replace, or fail the record (once, for the first problem by field name)
  sort(uses, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return tostring(a[2]) < tostring(b[2])
  end)
  local bad = {}
  for _, u in ipairs(uses) do
    local i, field, lk, key = u[1], u[2], u[3], u[4]
    local class, reason, id
    if not lk then
      class, reason = "script", format("field %s holds a lookup reference (ref) inside a table; a ref must be a "
        .. "top-level field of transform's output", tostring(field))
    elseif failed[lk] then
      class, reason = failed[lk][1], failed[lk][2]
    elseif key == "" then
      class, reason = "lookup_missing", format("lookup %s: field %s: no reference to look up (empty value)", lk.name,
        tostring(field))
    else
      id = lk.runs[ctx].ids[key]
      if id == nil then id = found[lk] and found[lk][key] end
      if id == nil then
        class, reason = "lookup_missing", format("lookup %s: field %s: no match for %q yet (retried on later runs)",
          lk.name, tostring(field), key)
      elseif type(id) == "table" then
        class, reason = "lookup_ambiguous", format("lookup %s: field %s: %q matches %d entries (%s); none is picked",
          lk.name, tostring(field), key, #id, list_text(id))
        id = nil
      end
    end
    if id ~= nil then
      batch[i][field] = id
    elseif not bad[i] then
      bad[i] = true
      -- the lookup and key, for the run's findings (one line per key, not per record)
      fail(i, class, reason, lk and (class == "lookup_missing" or class == "lookup_ambiguous")
        and { lookup = lk.name, key = key } or nil)
    end
  end
end

-- ferry.lookup { ... } declares a bulk table; ferry.lookup.keys { ... } foreign keys.
return setmetatable(_M, { __call = function(_, opts) return (declare(new_table, opts)) end })
