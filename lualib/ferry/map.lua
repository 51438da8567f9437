-- ferry.map: declarative field maps with converters, for a script's transform.
--
--   local m = ferry.map { fields = { ... }, schema = { ... } }
--   transform = m            -- m(record, ctx) -> out | nil, err
--   ferry.map.schema { ... } -- a destination schema checker on its own
--
-- Called by scripts (through ferry.map in prelude.lua). A map is checked and
-- compiled once, when the script loads: every mistake in it (an unknown key,
-- an unknown converter, a picklist without :match, a bad date format) raises
-- there, naming the field, so `ferry check` reports it. Compiling generates
-- straight-line Lua (one block per field, no loop over the spec per record)
-- and loads it with `load`; the chunk sees no globals, only the converters
-- and constants it is handed. Applying a map builds a new output table and
-- never edits the record.
--
-- What it promises: a value is converted exactly or not at all. A field that
-- cannot be converted makes the whole record fail with
--   nil, { class = "validation", field = F, value = V, rule = R, reason = ... }
-- (picklist, lookup and ref errors keep their own class), which the runner
-- quarantines with the reason. Nothing is silently dropped or rounded.
local ferry = ferry
local convert = require "ferry.map_convert"
local NULL = ferry.json.null
local type, pairs, ipairs, tostring, tonumber = type, pairs, ipairs, tostring, tonumber
local error, pcall, load, select, next = error, pcall, load, select, next
local setmetatable, getmetatable = setmetatable, getmetatable
local mtype, min = math.type, math.min
local format, find, match, sub, gsub, byte = string.format, string.find, string.match, string.sub, string.gsub, string.byte
local ulen = utf8.len
local concat, sort = table.concat, table.sort
local CONVERTERS, BLANK, SPEC, spec_error = convert.CONVERTERS, convert.BLANK, convert.SPEC, convert.spec_error
local quote, invalid = convert.quote, convert.invalid

local _M = { from_minor = convert.from_minor }

----------------------------------------------------------------------------
-- Spec problems: raised as a marked table inside the compiler, turned into
-- "ferry.map: ..." at the script's line by the public constructors.
----------------------------------------------------------------------------

local function keys_of(set)
  local t = {}
  for k in pairs(set) do t[#t + 1] = k end
  sort(t)
  return concat(t, ", ")
end

-- Run compile(...) and raise its spec problem as "ferry.map: ..." at
-- `level` (the script's call); anything else is a bug and goes up as it is.
local function checked(level, fn, ...)
  local ok, res, r2, r3 = pcall(fn, ...)
  if ok then return res, r2, r3 end
  if getmetatable(res) == SPEC then error("ferry.map: " .. res.msg, level + 1) end
  error(res, 0)
end

----------------------------------------------------------------------------
-- Destination schema: required, type, max, allowed, pattern
----------------------------------------------------------------------------

local SCHEMA_RULES = { required = true, type = true, max = true, allowed = true, pattern = true }
local TYPES = {
  string = function(v) return type(v) == "string" end,
  integer = function(v) return mtype(v) == "integer" end,
  number = function(v) return type(v) == "number" end,
  boolean = function(v) return type(v) == "boolean" end,
}

-- A checker for the schema: check(out) -> out | nil, err. `opaque` names
-- fields whose values the engine resolves later (refs): only `required`
-- applies to them.
local function compile_schema(schema, opaque)
  if type(schema) ~= "table" then spec_error("schema must be a table of field = { rules }") end
  local names = {}
  for f, rules in pairs(schema) do
    if type(f) ~= "string" then spec_error("schema: field names must be strings") end
    if type(rules) ~= "table" then spec_error(format("schema field '%s': expected a table of rules", f)) end
    for k in pairs(rules) do
      if not SCHEMA_RULES[k] then
        spec_error(format("schema field '%s': unknown rule '%s' (rules: %s)", f, tostring(k), keys_of(SCHEMA_RULES)))
      end
    end
    if rules.type ~= nil and not TYPES[rules.type] then
      spec_error(format("schema field '%s': unknown type %s (types: %s)", f, quote(rules.type), keys_of(TYPES)))
    end
    if rules.max ~= nil and (mtype(rules.max) ~= "integer" or rules.max < 1) then
      spec_error(format("schema field '%s': max must be a positive integer (characters)", f))
    end
    if rules.allowed ~= nil and (type(rules.allowed) ~= "table" or #rules.allowed == 0) then
      spec_error(format("schema field '%s': allowed must be a non-empty list of values", f))
    end
    if rules.pattern ~= nil then
      local ok, err = pcall(find, "", type(rules.pattern) == "string" and rules.pattern or error("not a string"))
      if not ok then spec_error(format("schema field '%s': pattern is not a Lua pattern (%s)", f, tostring(err))) end
    end
    names[#names + 1] = f
  end
  sort(names)
  local checks = {}
  for i, f in ipairs(names) do
    local r = schema[f]
    local allowed
    if r.allowed then
      allowed = {}
      for _, a in ipairs(r.allowed) do allowed[a] = true end
    end
    checks[i] = { f = f, required = r.required, is = r.type and TYPES[r.type], type = r.type, max = r.max,
                  allowed = allowed, allowed_list = r.allowed, pattern = r.pattern, opaque = opaque and opaque[f] }
  end

  return function(out)
    if type(out) ~= "table" then
      return nil, { class = "validation", rule = "schema", reason = "output is " .. quote(out) .. ", not a table" }
    end
    for i = 1, #checks do
      local c = checks[i]
      local v = out[c.f]
      if v == nil or v == NULL or v == "" then
        if c.required then
          return nil, { class = "validation", field = c.f, value = v, rule = "schema.required",
                        reason = format("field '%s': required by the destination but %s", c.f,
                          v == nil and "absent" or v == NULL and "null" or "empty") }
        end
      elseif not c.opaque then
        if c.is and not c.is(v) then
          return nil, invalid(c.f, v, "schema.type", format("is not of type %s (schema type)", c.type))
        end
        if c.max and type(v) == "string" then
          local n = ulen(v)
          if not n or n > c.max then
            return nil, invalid(c.f, v, "schema.max", format("is longer than %d characters (schema max)", c.max))
          end
        end
        if c.allowed and not c.allowed[v] then
          local shown = {}
          for k, a in ipairs(c.allowed_list) do shown[k] = quote(a) end
          return nil, invalid(c.f, v, "schema.allowed", "is not allowed (schema allowed: " .. concat(shown, ", ") .. ")")
        end
        if c.pattern and (type(v) ~= "string" or not find(v, c.pattern)) then
          return nil, invalid(c.f, v, "schema.pattern", format("does not match the schema pattern %q", c.pattern))
        end
      end
    end
    return out
  end
end

-- ferry.map.schema { field = { rules } } -> check(out) -> out | nil, err,
-- for transforms written by hand: `return check(out)`.
function _M.schema(schema)
  return (checked(2, compile_schema, schema, nil))   -- not a tail call: level 2 is the script
end

----------------------------------------------------------------------------
-- Paths: "properties.name", "contacts[1].email", { "properties", "a.b" }
----------------------------------------------------------------------------

local function parse_path(f, from)
  local steps = {}
  if type(from) == "table" then
    if #from == 0 then spec_error(format("field '%s': from is an empty list", f)) end
    for i, k in ipairs(from) do
      if type(k) == "string" and k ~= "" then steps[i] = k
      elseif mtype(k) == "integer" and k >= 1 then steps[i] = k
      else spec_error(format("field '%s': from[%d] must be a key (a non-empty string) or an array position (1, 2, ...)", f, i)) end
    end
  elseif type(from) == "string" then
    local i = 1
    while i <= #from do
      local key, nxt = match(from, "^([^%.%[%]]+)()", i)
      if key then
        steps[#steps + 1], i = key, nxt
      else
        local n, after = match(from, "^%[(%d+)%]()", i)
        if not n or tonumber(n) < 1 then
          spec_error(format("field '%s': from %q is not a path (keys separated by dots, array positions as [1], [2], ...)", f, from))
        end
        steps[#steps + 1], i = tonumber(n), after
      end
      if i <= #from and sub(from, i, i) == "." then
        i = i + 1
        if i > #from or sub(from, i, i) == "." or sub(from, i, i) == "[" then
          spec_error(format("field '%s': from %q has an empty key", f, from))
        end
      elseif i <= #from and sub(from, i, i) ~= "[" then
        spec_error(format("field '%s': from %q is not a path", f, from))
      end
    end
    if #steps == 0 then spec_error(format("field '%s': from is empty", f)) end
  else
    spec_error(format("field '%s': from must be a path string or a list of keys", f))
  end
  return steps
end

-- How a path reads in messages, up to step n: contacts[1].email, properties["a.b"].
local function path_text(steps, n)
  local t = {}
  for i = 1, n or #steps do
    local k = steps[i]
    if type(k) == "number" then t[#t + 1] = "[" .. k .. "]"
    elseif find(k, "^[%w_]+$") then t[#t + 1] = (i > 1 and "." or "") .. k
    else t[#t + 1] = format("[%q]", k) end
  end
  return concat(t)
end

----------------------------------------------------------------------------
-- The compiler
----------------------------------------------------------------------------

local COMMON = { from = true, as = true, required = true, default = true, compute = true,
                 picklist = true, lookup = true, ref = true }
-- picklist / lookup / ref: the method each object must have, and the class
-- of a failure that does not say its own
local RESOLVERS = {
  picklist = { "match", "picklist_drift" },
  lookup = { "get", "lookup_missing" },
  ref = { "ref", "lookup_missing" },
}

local function has_method(obj, name)
  local t = type(obj)
  if t ~= "table" and t ~= "userdata" then return false end
  local ok, m = pcall(function() return obj[name] end)
  return ok and m ~= nil
end

-- The error of field f from a picklist, lookup, ref or compute: a copy of
-- err with field, value and rule set and the reason prefixed, its class kept.
local function wrap(f, err, raw, rule, class)
  local w = {}
  if type(err) == "table" then
    for k, x in pairs(err) do w[k] = x end
  else
    w.reason = err ~= nil and tostring(err) or nil
  end
  w.class = w.class or class
  w.field = f
  if w.value == nil then w.value = raw end
  w.rule = w.rule or rule
  w.reason = format("field '%s': %s", f, w.reason or w.message or ("no result for " .. quote(raw)))
  return w
end

local function compile(spec)
  if type(spec) ~= "table" then spec_error("expected a table { fields = { ... }, schema = { ... } }") end
  for k in pairs(spec) do
    if k ~= "fields" and k ~= "schema" then
      spec_error(format("unknown key '%s' (keys: fields, schema)", tostring(k)))
    end
  end
  local fields = spec.fields
  if type(fields) ~= "table" or next(fields) == nil then
    spec_error("fields must be a table of destination field = { from = ..., as = ... }")
  end

  local plain, computed, given = {}, {}, fields
  fields = {}                         -- the spec as given, paths written alone as { from = path }
  for f, fs in pairs(given) do
    if type(f) ~= "string" or f == "" then spec_error("field names must be non-empty strings") end
    if type(fs) == "table" and fs[1] ~= nil then     -- { "properties", "a.b" }: a path alone
      for k in pairs(fs) do
        if mtype(k) ~= "integer" then
          spec_error(format("field '%s': a path list mixed with options; write from = { ... }", f))
        end
      end
      fs = { from = fs }
    elseif type(fs) == "string" then
      fs = { from = fs }
    end
    if type(fs) ~= "table" then spec_error(format("field '%s': expected a table (or a path string)", f)) end
    fields[f] = fs
    if fs.compute ~= nil then computed[#computed + 1] = f else plain[#plain + 1] = f end
  end
  sort(plain)
  sort(computed)

  -- constants the generated code reads: the first LOCALS as locals of the
  -- chunk (upvalues of the transform), the rest through K[n]
  local K, LOCALS = {}, 150
  local function const(v)
    K[#K + 1] = v
    return #K <= LOCALS and "K" .. #K or "K[" .. #K .. "]"
  end
  local code = {}
  local function emit(...) for i = 1, select("#", ...) do code[#code + 1] = select(i, ...) end end
  local opaque = {}
  local order = {}
  for _, f in ipairs(plain) do order[#order + 1] = f end
  for _, f in ipairs(computed) do order[#order + 1] = f end

  for _, f in ipairs(order) do
    local fs = fields[f]
    local qf = format("%q", f)
    local as = fs.as
    local conv_entry
    if as ~= nil then
      conv_entry = CONVERTERS[as]
      if not conv_entry then
        spec_error(format("field '%s': unknown as = %s (converters: %s)", f, quote(as), keys_of(CONVERTERS)))
      end
    end
    for k in pairs(fs) do
      if not COMMON[k] and not (conv_entry and conv_entry[2][k]) then
        local opts = conv_entry and keys_of(conv_entry[2])
        spec_error(format("field '%s': unknown option '%s'%s", f, tostring(k),
          as and format(" for as = %q (its options: %s)", as, opts) or " (options without as: " .. keys_of(COMMON) .. ")"))
      end
    end
    if fs.required ~= nil and type(fs.required) ~= "boolean" then
      spec_error(format("field '%s': required must be true or false", f))
    end
    if fs.compute ~= nil and fs.from ~= nil then
      spec_error(format("field '%s': from and compute exclude each other", f))
    end
    if fs.compute ~= nil and type(fs.compute) ~= "function" then
      spec_error(format("field '%s': compute must be a function(record, out, ctx)", f))
    end
    local resolver
    for kind in pairs(RESOLVERS) do
      if fs[kind] ~= nil then
        if resolver then spec_error(format("field '%s': %s and %s exclude each other", f, resolver, kind)) end
        resolver = kind
      end
    end
    if resolver then
      local method = RESOLVERS[resolver][1]
      if not has_method(fs[resolver], method) then
        spec_error(format("field '%s': %s has no :%s method (expected a ferry %s object, got %s)",
          f, resolver, method, resolver, type(fs[resolver])))
      end
      if resolver == "ref" then opaque[f] = true end
    end
    local conv = conv_entry and conv_entry[1](f, fs)

    emit("-- ", (gsub(f, "%c", " ")), "\n")
    if fs.compute then
      emit("v, e = ", const(fs.compute), "(rec, out, ctx)\n")
      emit("if v == nil and e ~= nil then return nil, ", const(function(err)
        return wrap(f, err, nil, "compute", "validation")
      end), "(e) end\n")
    else
      local steps = parse_path(f, fs.from == nil and f or fs.from)
      local ptext = type(fs.from) == "string" and fs.from or path_text(steps)
      emit("v = rec[", format("%q", steps[1]), "]\n")
      if #steps > 1 then
        local fail = const(function(x, j)
          return invalid(f, x, "path", format("is not an object or array (at %s in path %s)", path_text(steps, j), ptext))
        end)
        for j = 2, #steps do
          emit("if v ~= nil and v ~= NULL then if type(v) ~= \"table\" then return nil, ", fail, "(v, ", j - 1,
               ") end v = v[", format("%q", steps[j]), "] end\n")
        end
      end
    end

    -- empty (absent, null, "" or only white space): default, required or null
    local empty
    if fs.default ~= nil then
      local d = fs.default
      if conv and not resolver then
        local got, err = conv(d)
        if got == nil then spec_error(format("field '%s': default %s", f, (gsub(err.reason, "^field '.-': ", "")))) end
        if got == BLANK then spec_error(format("field '%s': default is blank", f)) end
        d = got
      end
      empty = "out[" .. qf .. "] = " .. const(d) .. "\n"
    elseif fs.required then
      empty = "return nil, " .. const(function(x)
        return { class = "validation", field = f, value = x, rule = "required",
                 reason = format("field '%s': required but %s", f,
                   x == nil and "absent" or x == NULL and "null" or "empty (" .. quote(x) .. ")") }
      end) .. "(raw)\n"
    else
      empty = "out[" .. qf .. "] = NULL\n"
    end
    emit("raw = v\n")               -- the source value, for errors
    if conv then
      -- the converter answers BLANK for a string of white space
      emit("if v == nil or v == NULL or v == \"\" then ", empty, "else\n",
           "v, e = ", const(conv), "(v)\n",
           "if v == nil then return nil, e elseif v == BLANK then ", empty, "else\n")
    else
      emit("if v == nil or v == NULL or v == \"\" or (type(v) == \"string\" and byte(v) <= 32 and not find(v, \"%S\")) then ",
           empty, "else\n")
    end
    if resolver then
      local kind = RESOLVERS[resolver]
      local obj = const(fs[resolver])
      emit("v, e = ", obj, ":", kind[1], "(v, ctx) if v == nil then return nil, ", const(function(err, x)
        return wrap(f, err, x, resolver, kind[2])
      end), "(e, raw) end\n")
    end
    emit("out[", qf, "] = v\nend\n")
    if conv then emit("end\n") end
  end

  local checker
  if spec.schema ~= nil then checker = compile_schema(spec.schema, opaque) end
  if checker then emit("return ", const(checker), "(out)\n") else emit("return out\n") end

  -- the header: constants as locals, then the transform itself
  local head = { "local K, NULL, BLANK, type, find, byte, not_table = ...\n" }
  for i = 1, min(#K, LOCALS) do head[#head + 1] = format("local K%d = K[%d]\n", i, i) end
  head[#head + 1] = "return function(rec, ctx)\n"
    .. "if type(rec) ~= \"table\" then return nil, not_table(rec) end\n"
    .. "local out, v, e, raw = {}\n"
  local source = concat(head) .. concat(code) .. "end\n"
  local chunk, err = load(source, "=ferry.map", "t", {})
  if not chunk then error("ferry.map: generated code does not compile (a bug): " .. err, 0) end
  local fn = chunk(K, NULL, BLANK, type, find, byte, function(x)
    return { class = "validation", rule = "record", value = x, reason = "record is " .. quote(x) .. ", not an object" }
  end)
  return fn, checker or compile_schema({}, nil), source
end

local MAP = {
  __call = function(self, rec, ctx) return self.transform(rec, ctx) end,
  __name = "ferry.map",
}

-- ferry.map { fields = ..., schema = ... } -> m. m(record, ctx) and
-- m.transform(record, ctx) apply it; m.schema_check(out) checks a table
-- against the schema alone; m.source is the generated Lua (for debugging).
local function new(spec)
  local fn, check, source = checked(3, compile, spec)
  return setmetatable({ transform = fn, schema_check = check, source = source }, MAP)
end

return setmetatable(_M, { __call = function(_, spec) return (new(spec)) end })
