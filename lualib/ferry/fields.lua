-- Who owns each destination field (the integration's `fields`), and what
-- ferry does about it on every load batch.
--
--   fields = { tier = "csm", owner_id = "crm", notes = "destination",
--              health = { owner = "csm", on_edit = "keep" } }
--
-- A field owned by the destination is never overwritten: when the record
-- already exists there, its value is written back as the destination has
-- it. Any other field is owned by the source side, and ferry remembers what
-- it last wrote per record and field (the store's `written` table). When
-- the destination's value of such a field differs from what ferry wrote, a
-- person or another system edited it since: a `destination_edit`, reported
-- with field, record, our last value and theirs, and the edit policy
-- decides (per field `on_edit`, else policy.destination_edit):
--
--   overwrite   (the default) write the source's value again
--   keep        keep theirs, until the source's own value changes
--   quarantine  hold the record for a person (class destination_edit);
--               replaying it by hand overwrites
--
-- ferry reads the destination through the load's reader (ferry.sink:
-- sqlite, or custom { read = ..., key = ... }), once per batch.
local ferry = ferry
local json = ferry.json
local null = json.null
local type, pairs, ipairs, next, tostring, tonumber = type, pairs, ipairs, next, tostring, tonumber
local mtype, tointeger = math.type, math.tointeger
local format, sub = string.format, string.sub
local sort = table.sort

local _M = {}

_M.EDIT_ACTIONS = { overwrite = true, keep = true, quarantine = true }

local CANONICAL = { sort_keys = true }

-- Do a (what ferry wrote or would write) and b (what the destination
-- holds) say the same? The destination may store a boolean as 1/0, a
-- number in a text column as its text, a table in a JSON column as text.
local function same(a, b)
  if a == null then a = nil end
  if b == null then b = nil end
  if a == b then return true end
  if a == nil or b == nil then return false end
  local ta, tb = type(a), type(b)
  if ta == "boolean" then a, ta = a and 1 or 0, "number" end
  if tb == "boolean" then b, tb = b and 1 or 0, "number" end
  if ta == tb and ta ~= "table" then return a == b end
  if ta == "table" or tb == "table" then
    local x = ta == "table" and json.encode(a, CANONICAL) or json.encode(json.decode(a) or a, CANONICAL)
    local y = tb == "table" and json.encode(b, CANONICAL) or json.encode(json.decode(b) or b, CANONICAL)
    return x ~= nil and x == y
  end
  if ta == "number" and tb == "string" then return tonumber(b) == a end
  if ta == "string" and tb == "number" then return tonumber(a) == b end
  return false
end
_M.same = same

-- A value for a reason or a report: JSON, cut at 80 bytes.
local function shown(v)
  if v == nil or v == null then return "(empty)" end
  local s = type(v) == "string" and format("%q", v) or json.encode(v) or tostring(v)
  if #s > 80 then s = sub(s, 1, 77) .. "..." end
  return s
end
_M.shown = shown

-- The integration's `fields` in one shape: name -> { owner, on_edit }.
-- Returns nil, problem for a malformed declaration (contract.lua reports it).
function _M.normalize(decl)
  if type(decl) ~= "table" then return nil, "expected a table of field -> owning system" end
  local out = {}
  for f, v in pairs(decl) do
    if type(f) ~= "string" then return nil, "field names must be strings" end
    if type(v) == "string" then
      out[f] = { owner = v }
    elseif type(v) == "table" then
      if type(v.owner) ~= "string" then return nil, format("%s: expected { owner = \"system\", on_edit = ... }", f) end
      if v.on_edit ~= nil and not _M.EDIT_ACTIONS[v.on_edit] then
        return nil, format("%s: on_edit: unknown action %s (use keep, overwrite or quarantine)", f, tostring(v.on_edit))
      end
      for k in pairs(v) do
        if k ~= "owner" and k ~= "on_edit" then return nil, format("%s: unknown setting %s (owner, on_edit)", f, tostring(k)) end
      end
      out[f] = { owner = v.owner, on_edit = v.on_edit }
    else
      return nil, format("%s: expected the owning system's name, like \"crm\" or \"destination\"", f)
    end
  end
  return out
end

-- The text of a record's key for the store (numbers and strings alike).
local function key_text(k)
  if mtype(k) == "float" and k == k // 1 then k = tointeger(k) or k end
  return tostring(k)
end
_M.key_text = key_text

-- A batch's ownership pass. env: { fields (normalized), reader, policy,
-- replay (a run replaying by hand: edits are overwritten), written_get,
-- ctx, fail(i, class, reason), report(kind, key, detail) }. Rewrites
-- batch[i]'s fields as ownership says, and returns per record the JSON
-- of what ferry writes for the fields it owns (for the `written` table),
-- plus the destination's current rows (for a dry run's plan).
function _M.prepare(env, batch, m)
  local fields, reader, ctx = env.fields, env.reader, env.ctx
  local key = reader.key
  local keys, ktext, texts = {}, {}, {}
  for i = 1, m do
    local k = batch[i][key]
    if k == nil or k == null then
      env.fail(i, "validation", format("the key field %s has no value", key))
    else
      ktext[i] = key_text(k)
      keys[#keys + 1] = k
      texts[#texts + 1] = ktext[i]
    end
  end
  local current = #keys > 0 and reader.read(keys, ctx) or {}
  local last = #keys > 0 and env.written_get(texts) or {}
  local names = {}
  for f in pairs(fields) do names[#names + 1] = f end
  sort(names)                                   -- reports in a stable order
  local writes = {}
  for i = 1, m do
    local k = ktext[i]
    if k then
      local out, row = batch[i], current[k]
      local prev = last[k] and json.decode(last[k]) or {}
      local wrote, held = type(prev.w) == "table" and prev.w or {}, type(prev.h) == "table" and prev.h or {}
      local w, h, bad = {}, {}, nil
      for _, f in ipairs(names) do
        local rule, ours = fields[f], out[f]
        if rule.owner == "destination" then
          if row then out[f] = row[f] end       -- theirs: never overwritten (written only on create)
        elseif ours ~= nil then
          local theirs = row and row[f]
          if row and held[f] ~= nil and same(ours, held[f]) and same(theirs, wrote[f]) then
            out[f], w[f], h[f] = theirs == nil and null or theirs, wrote[f], held[f]   -- still keeping theirs
          elseif row and wrote[f] ~= nil and not same(theirs, wrote[f]) then
            local action = rule.on_edit or (env.policy and env.policy.destination_edit) or "overwrite"
            if env.replay then action = "overwrite" end
            local text = format("destination edit: %s of %s %s: ours %s, theirs %s", f, key, shown(k),
              shown(wrote[f]), shown(theirs))
            local what = action == "keep" and "kept theirs" or action == "quarantine" and "quarantined"
              or "overwritten"
            env.report("destination_edit", f .. "\0" .. k, { text = text .. "; " .. what, field = f, record = k,
              ours = wrote[f], theirs = theirs == nil and null or theirs, action = action })
            if action == "quarantine" then
              bad = bad or text .. " (the policy holds it for a person; 'ferry quarantine replay' overwrites)"
            elseif action == "keep" then
              out[f], w[f], h[f] = theirs == nil and null or theirs, theirs == nil and null or theirs, ours
            else
              w[f] = ours
            end
          else
            w[f] = ours
          end
        end
      end
      if bad then
        env.fail(i, "destination_edit", bad)
      else
        writes[i] = json.encode(next(h) and { w = w, h = h } or { w = w }, CANONICAL)
      end
    end
  end
  return writes, current, ktext
end

return _M
