-- Source schema drift: the field names and JSON types of the records an
-- integration's extract emits, compared with the fingerprint its last
-- complete run stored. runner.lua makes one tracker per run of extract
-- (not for replays of the quarantine, not for webhook event runs), feeds it
-- every record given to ctx:emit, and finishes it when extract is over.
--
-- What is tracked (per integration; stream "" until scripts name streams):
--   * top-level fields, and the fields of top-level objects as dotted names
--     ("properties.email"); an object or array below that is one field of
--     type object or array, its contents not tracked;
--   * JSON types as decoded: string, integer, number, boolean, object,
--     array, null. A float in an integer field widens it to number, never
--     drift (and integers in a number field are numbers). null never
--     drifts a field; a field seen only as null is stored as null and
--     takes its first real type later without drift. A field with several
--     types in one run is stored as their union, "number|string";
--   * at most MAX_FIELDS fields: the stored ones always, new ones while
--     there is room. Fields past the cap are not tracked; the run logs a
--     warn line naming the first and how many.
--
-- What drifts (each change once: the new fingerprint is stored at the end):
--   added    a field the fingerprint does not have;
--   type     a type outside the stored one (and its integer/number family);
--   removed  a stored field no record of the run had, judged only when
--            extract finished and emitted at least MIN_RECORDS records (a
--            small incremental run proves nothing), and for "a.b" only when
--            the run saw a as an object.
-- A run whose extract failed or emitted nothing is not judged and stores
-- nothing: the next complete run reports what it would have. The first run
-- stores the fingerprint and reports nothing.
--
-- Cost: every record passes through internal.schema_checker (core/fy_schema.c),
-- one C pass over its fields (and those of its top-level objects) checking
-- each value's type bit against the bits the run has noted for that field.
-- Only a record with a field or type the run has not noted yet is scanned
-- here in Lua: a handful of records per run.
local ferry = ferry
local json = ferry.json
local type, next, pairs, tostring, rawget, pcall = type, next, pairs, tostring, rawget, pcall
local math_type = math.type
local concat, sort = table.concat, table.sort
local format, find, sub = string.format, string.find, string.sub

local _M = {}

_M.MIN_RECORDS = 20     -- records a run must emit before a missing field counts as removed
_M.MAX_FIELDS = 500     -- fields tracked per integration (top-level and dotted)
_M.MAX_TEXT = 10        -- changes spelled out in the one-line text

local NULL = json.null
local encode = json.encode
local SORTED = { sort_keys = true }

-- Type bits, as core/fy_schema.h numbers them, and their names.
local STRING, INTEGER, FLOAT, BOOLEAN, OBJECT, ARRAY, NULL_BIT, OTHER = 1, 2, 4, 8, 16, 32, 64, 128
local ALL = 255
local NAMES = { [STRING] = "string", [INTEGER] = "integer", [FLOAT] = "number", [BOOLEAN] = "boolean",
                [OBJECT] = "object", [ARRAY] = "array", [NULL_BIT] = "null" }

-- The type bit of a value. A table is an array when it has [1] or is an
-- empty table ferry.json writes as [] (a decoded [] or json.array{}).
local function bit_of(v)
  local t = type(v)
  if t == "string" then return STRING
  elseif t == "number" then return math_type(v) == "integer" and INTEGER or FLOAT
  elseif t == "boolean" then return BOOLEAN
  elseif t == "table" then
    if rawget(v, 1) ~= nil or (next(v) == nil and encode(v) == "[]") then return ARRAY end
    return OBJECT
  elseif v == NULL then return NULL_BIT
  end
  return OTHER
end

-- "number|string" -> { number = true, string = true }
local function set_of(text)
  local s = {}
  for name in text:gmatch("[^|]+") do s[name] = true end
  return s
end

-- The canonical text of a set of types: null only when alone, integer
-- folded into number, names sorted and joined with "|".
local function text_of(set)
  local names = {}
  for name in pairs(set) do
    if not (name == "null" or (name == "integer" and set.number)) then names[#names + 1] = name end
  end
  if #names == 0 then return set.null and "null" or nil end
  sort(names)
  return concat(names, "|")
end

-- What a stored type lets a field hold without drift: itself, null, and
-- the other of integer/number. A field stored as null takes anything (nil).
local function allowed_by(text)
  local s = set_of(text)
  if s.null and not next(s, next(s)) then return nil end
  if s.integer or s.number then s.integer, s.number = true, true end
  s.null = true
  return s
end

-- The record's id for an example, or its position in the run.
local function example_of(rec, pos)
  local id = rawget(rec, "id")
  local t = type(id)
  if (t == "string" and id ~= "") or t == "number" then return id, "id" end
  return pos, "position"
end

-- The one-line text of the changes (already ordered).
local function describe(changes)
  local parts = {}
  for i = 1, #changes do
    if i > _M.MAX_TEXT then
      parts[#parts + 1] = format("and %d more", #changes - _M.MAX_TEXT)
      break
    end
    local c = changes[i]
    if c.change == "added" then
      parts[#parts + 1] = format("+%s (%s)", c.field, c.new)
    elseif c.change == "removed" then
      parts[#parts + 1] = "-" .. c.field
    else
      local ex = c.example_kind == "id" and format("record id %s", tostring(c.example))
        or format("record #%d of the run", c.example)
      parts[#parts + 1] = format("%s: %s → %s (%s)", c.field, c.old, c.new, ex)
    end
  end
  return concat(parts, "; ")
end

local ORDER = { added = 1, type = 2, removed = 3 }
local function before(a, b)
  if a.change ~= b.change then return ORDER[a.change] < ORDER[b.change] end
  return a.field < b.field
end

-- A stored fingerprint as { field = type text }, or nil with a reason.
local function parse_stored(text)
  local v, err = json.decode(text)
  if type(v) ~= "table" then return nil, err or "not a JSON object" end
  for k, t in pairs(v) do
    if type(k) ~= "string" or type(t) ~= "string" or t == "" then
      return nil, format("field %s has no type", tostring(k))
    end
  end
  return v
end

local function new_tracker(stored_json, opts)
  local log = opts.log
  local stored, allowed = nil, {}
  if stored_json then
    local err
    stored, err = parse_stored(stored_json)
    if not stored then
      -- the store was edited or damaged: start again rather than report
      -- every field as drift, and say so
      log.warn("schema fingerprint in the store is not valid; this run stores a new one",
        { reason = tostring(err) })
    end
  end
  local nfields = 0                 -- fields tracked: stored ones plus new ones
  if stored then
    for name, t in pairs(stored) do
      allowed[name] = allowed_by(t) or false
      nfields = nfields + 1
    end
  end

  local fields = {}                 -- name -> { types = set, example =, kind = } for this run
  local records = 0
  local ncapped, first_capped = 0, nil   -- fields past the cap: how many, the first
  -- One level of the record: the top one, and one per top-level object
  -- field (prefix "name."). masks: key -> the type bits a value may have
  -- and be nothing new (null is never new once the field is known).
  local top = { prefix = "", masks = {} }
  local subs = {}                   -- top-level key -> its level

  -- A field whose value has a type the run has not noted for it: note the
  -- type, and an example record when the type is news to the stored
  -- fingerprint.
  local function note(level, k, v, bit, rec)
    local name = level.prefix .. tostring(k)
    local f = fields[name]
    if not f then
      if allowed[name] == nil and nfields >= _M.MAX_FIELDS then
        -- marked known so no record looks again; counted up to the cap
        -- once more, past which memory stays bounded and such a field
        -- just takes this path each time
        if ncapped < _M.MAX_FIELDS then
          level.masks[k] = ALL
          ncapped = ncapped + 1
          first_capped = first_capped or name
        end
        return
      end
      f = { types = {} }
      fields[name] = f
      if allowed[name] == nil then nfields = nfields + 1 end
    end
    local mask = (level.masks[k] or NULL_BIT) | bit
    if bit == FLOAT then mask = mask | INTEGER end     -- an integer adds nothing to a number
    level.masks[k] = mask
    if bit == OBJECT and level == top and not subs[k] then subs[k] = { prefix = name .. ".", masks = {} } end
    local jt = NAMES[bit] or type(v)
    local types = f.types
    if types[jt] then return end
    types[jt] = true
    if f.example == nil and stored then
      local ok = allowed[name]
      if ok == nil or (ok and not ok[jt]) then f.example, f.kind = example_of(rec, records) end
    end
  end

  -- The fields of t (the record, or one of its top-level objects) at level.
  local function scan(level, t, rec)
    local masks = level.masks
    for k, v in next, t do
      local bit = bit_of(v)
      local mask = masks[k]
      if mask == nil or mask & bit == 0 then note(level, k, v, bit, rec) end
      if bit == OBJECT and level == top then
        local s = subs[k]
        if s then scan(s, v, rec) end
      end
    end
  end

  -- Once per emitted record. With the C checker (opts.checker) a record
  -- with nothing new, nearly every one, never reaches Lua; without it
  -- every record is scanned here. count() is how many were observed.
  local observe, count
  if opts.checker then
    observe = opts.checker(top.masks, subs, function(rec, n)
      records = n
      scan(top, rec, rec)
    end)
    count = observe
  else
    observe = function(rec)
      if type(rec) ~= "table" then return end
      records = records + 1
      scan(top, rec, rec)
    end
    count = function() return records end
  end

  -- Can the absence of stored field `name` be judged? "yes" for a
  -- top-level field (a name without a stored object parent is one) and for
  -- "a.b" when the run saw a as an object; "gone" when a itself is missing
  -- (its removal says it all); "no" when a was seen, never as an object.
  local function judgeable(name)
    local dot = find(name, ".", 1, true)
    if not dot then return "yes" end
    local parent = sub(name, 1, dot - 1)
    local was = stored[parent]
    if not (was and set_of(was).object) then return "yes" end
    local f = fields[parent]
    if not f then return "gone" end
    return f.types.object and "yes" or "no"
  end

  local function judge(complete)
    if first_capped then
      log.warn("schema: too many fields to track; fields past the cap are not tracked",
        { cap = _M.MAX_FIELDS, untracked = ncapped, first = first_capped })
    end
    records = count()
    if not complete or records == 0 then return nil end
    local new, changes = {}, {}
    for name, f in pairs(fields) do
      local now = text_of(f.types)
      local old = stored and stored[name]
      if not stored then
        new[name] = now
      elseif old == nil then
        new[name] = now
        changes[#changes + 1] = { field = name, change = "added", new = now, example = f.example,
                                  example_kind = f.kind }
      elseif f.example == nil then
        -- within what was stored: keep the union (integer widens to number)
        local u = set_of(old)
        for t in pairs(f.types) do u[t] = true end
        new[name] = text_of(u)
      else
        -- the run's types; its integers are numbers when numbers were stored
        if f.types.integer and set_of(old).number then
          f.types.number = true
          now = text_of(f.types)
        end
        new[name] = now
        changes[#changes + 1] = { field = name, change = "type", old = old, new = now, example = f.example,
                                  example_kind = f.kind }
      end
    end
    if stored then
      local judge = records >= _M.MIN_RECORDS
      for name, old in pairs(stored) do
        if not fields[name] then
          local j = judge and judgeable(name)
          if j == "yes" then
            changes[#changes + 1] = { field = name, change = "removed", old = old }
          elseif j ~= "gone" then
            new[name] = old
          end
        end
      end
    end
    -- a store that cannot take it fails no run: the drift is still
    -- reported, and raised again by the next run
    local ok, err = pcall(opts.store, encode(new, SORTED))
    if not ok then log.error("schema fingerprint not stored", { reason = tostring(err) }) end
    if #changes == 0 then return nil end
    sort(changes, before)
    local result = { changes = changes, text = describe(changes) }
    log.warn("schema drift", result)
    return result
  end

  -- Drift detection never fails a run: a run at its memory limit, say,
  -- goes on without it, and says so.
  local function finish(complete)
    local ok, drift = pcall(judge, complete)
    if ok then return drift end
    log.warn("schema drift not judged this run; the next run judges it", { reason = tostring(drift) })
  end

  return { observe = observe, finish = finish }
end

-- A tracker for one run.
--   stored_json  the fingerprint the last complete run stored, or nil
--   opts         { store = function(fields_json), log = { warn = fn },
--                  checker = internal.schema_checker (optional: the C fast
--                  path; without it every record is scanned here, to the
--                  same end) }
-- Returns { observe = function(record), finish = function(complete) }.
-- finish(complete) judges the run when `complete` (extract finished
-- without error), stores the new fingerprint through opts.store and
-- returns the drift ({ changes = {...}, text = "..." }) or nil. nil
-- instead of a tracker when it cannot be made (a warn line says why).
function _M.tracker(stored_json, opts)
  local ok, t = pcall(new_tracker, stored_json, opts)
  if ok then return t end
  opts.log.warn("schema drift not tracked this run", { reason = tostring(t) })
end

return _M
