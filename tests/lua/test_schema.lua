-- ferry.schema, the tracker of source schema drift, without a run: records
-- in, the drift and the stored fingerprint out. Every record takes the Lua
-- path here (no internal.schema_checker); tests/e2e/test_schema_drift.sh runs
-- the same rules through ferry run with the C fast path.
local schema = require "ferry.schema"
local json = ferry.json
local null = json.null
local harness = require "harness"
local case = harness.case

-- run(stored, records[, complete]) -> drift, stored fingerprint (decoded), warn lines
local function run(stored, records, complete)
  local saved
  local warns = {}
  local log = {
    warn = function(msg, fields) warns[#warns + 1] = { msg = msg, fields = fields } end,
    error = function(msg) error("unexpected log.error: " .. msg) end,
  }
  local t = schema.tracker(stored and json.encode(stored), { log = log, store = function(j) saved = j end })
  for i = 1, #records do t.observe(records[i]) end
  local drift = t.finish(complete ~= false)
  return drift, saved and json.decode(saved), warns
end

local function many(n, f)
  local out = {}
  for i = 1, n do out[i] = f(i) end
  return out
end

local function eq(got, want, what)
  assert(got == want, string.format("%s: got %s, want %s", what, tostring(got), tostring(want)))
end

case("first run: the fingerprint is stored, nothing drifts", function()
  local drift, fp = run(nil, { { id = 1, name = "a", amount = 5, ok = true, tags = { "x" }, meta = {} } })
  eq(drift, nil, "drift")
  eq(fp.id, "integer", "id"); eq(fp.name, "string", "name"); eq(fp.amount, "integer", "amount")
  eq(fp.ok, "boolean", "ok"); eq(fp.tags, "array", "tags"); eq(fp.meta, "object", "meta")
end)

case("a field added and a field retyped: one drift naming both, with old, new and the example id", function()
  local stored = { id = "integer", amount = "integer", name = "string" }
  local recs = many(30, function(i) return { id = 100 + i, amount = i == 7 and "7.00" or i, name = "n", lead_score = 0.5 } end)
  local drift, fp = run(stored, recs)
  assert(drift, "no drift")
  eq(#drift.changes, 2, "changes")
  local a, ty = drift.changes[1], drift.changes[2]
  eq(a.change, "added", "first change"); eq(a.field, "lead_score", "added field"); eq(a.new, "number", "added type")
  eq(a.example, 101, "added example")
  eq(ty.change, "type", "second change"); eq(ty.field, "amount", "type field")
  eq(ty.old, "integer", "old"); eq(ty.new, "integer|string", "new"); eq(ty.example, 107, "example id")
  eq(ty.example_kind, "id", "example kind")
  eq(drift.text, "+lead_score (number); amount: integer → integer|string (record id 107)", "text")
  eq(fp.lead_score, "number", "stored lead_score"); eq(fp.amount, "integer|string", "stored amount")
end)

case("the same records against the new fingerprint: no drift (a change is raised once)", function()
  local recs = many(30, function(i) return { id = i, amount = i == 7 and "7.00" or i, lead_score = 0.5 } end)
  local _, fp = run({ id = "integer", amount = "integer" }, recs)
  local drift, fp2 = run(fp, recs)
  eq(drift, nil, "drift")
  eq(json.encode(fp2, { sort_keys = true }), json.encode(fp, { sort_keys = true }), "fingerprint")
end)

case("without an id the example is the record's position in the run", function()
  local drift = run({ amount = "number" }, { { amount = 1 }, { amount = 2 }, { amount = "3" } })
  eq(drift.changes[1].example, 3, "position"); eq(drift.changes[1].example_kind, "position", "kind")
  eq(drift.text, "amount: number → number|string (record #3 of the run)", "text")
end)

case("integer and number: a float in an integer field widens it without drift, integers fit a number field", function()
  local drift, fp = run({ price = "integer", qty = "number" }, { { price = 1.5, qty = 2 }, { price = 2, qty = 3 } })
  eq(drift, nil, "drift")
  eq(fp.price, "number", "price widened"); eq(fp.qty, "number", "qty stays")
end)

case("number to string is drift; string to boolean is drift; object to array is drift", function()
  local drift = run({ a = "number", b = "string", c = "object" }, { { a = "1", b = true, c = { 1, 2 } } })
  eq(#drift.changes, 3, "changes")
  eq(drift.text, "a: number → string (record #1 of the run); b: string → boolean (record #1 of the run); "
    .. "c: object → array (record #1 of the run)", "text")
end)

case("null never drifts a field; a field seen only as null is stored as null and typed later without drift", function()
  local drift, fp = run({ phone = "string" }, { { phone = null, note = null }, { phone = "1", note = null } })
  -- note is new: added, as null
  eq(drift.text, "+note (null)", "text")
  eq(fp.phone, "string", "phone"); eq(fp.note, "null", "note")
  drift, fp = run(fp, { { phone = null, note = "later" } })
  eq(drift, nil, "null -> string drift")
  eq(fp.note, "string", "note typed")
  drift, fp = run(fp, { { phone = null, note = null } })
  eq(drift, nil, "string -> null drift")
  eq(fp.note, "string", "note keeps its type")
end)

case("removed: judged only from MIN_RECORDS records of a finished extract", function()
  local stored = { id = "integer", fax = "string" }
  local small = many(schema.MIN_RECORDS - 1, function(i) return { id = i } end)
  local drift, fp = run(stored, small)
  eq(drift, nil, "small run drift")
  eq(fp.fax, "string", "fax kept by a small run")
  local big = many(schema.MIN_RECORDS, function(i) return { id = i } end)
  drift, fp = run(stored, big, false)
  eq(drift, nil, "failed extract drift")
  eq(fp, nil, "a failed extract stores nothing")
  drift, fp = run(stored, big)
  eq(drift.text, "-fax", "text")
  eq(drift.changes[1].old, "string", "old type")
  eq(fp.fax, nil, "fax gone from the fingerprint")
end)

case("a run whose extract failed or emitted nothing judges nothing and stores nothing", function()
  local drift, fp = run({ id = "integer" }, { { id = "x", extra = 1 } }, false)
  eq(drift, nil, "drift"); eq(fp, nil, "stored")
  drift, fp = run({ id = "integer" }, {})
  eq(drift, nil, "drift"); eq(fp, nil, "stored")
end)

case("nested: fields of top-level objects as dotted names, one level deep", function()
  local _, fp = run(nil, { { id = 1, properties = { email = "a@x", score = 3, address = { city = "X" }, tags = {} } } })
  eq(fp["properties"], "object", "parent"); eq(fp["properties.email"], "string", "email")
  eq(fp["properties.score"], "integer", "score"); eq(fp["properties.address"], "object", "deeper object")
  eq(fp["properties.address.city"], nil, "deeper fields are not tracked")
  eq(fp["properties.tags"], "object", "an empty table is an object unless marked as an array")
  local recs = many(25, function(i)
    return { id = i, properties = { email = "a@x", score = i == 4 and "high" or i, address = { zip = 1 }, tags = json.array {} } }
  end)
  local drift = run(fp, recs)
  eq(drift.text, "properties.score: integer → integer|string (record id 4); properties.tags: object → array (record id 1)",
    "text")
end)

case("nested removal: judged only when the parent was seen as an object; a parent gone takes its fields along", function()
  local stored = { id = "integer", p = "object", ["p.a"] = "string", ["p.b"] = "string", q = "object", ["q.x"] = "string" }
  local recs = many(25, function(i) return { id = i, p = null, q = { x = "1" } } end)
  local drift, fp = run(stored, recs)
  eq(drift, nil, "drift: p was only null")
  eq(fp["p.a"], "string", "p.a kept")
  recs = many(25, function(i) return { id = i, p = { a = "1" } } end)
  drift, fp = run(stored, recs)
  eq(drift.text, "-p.b; -q", "text")
  eq(fp["q.x"], nil, "q.x dropped with q")
end)

case("the cap: at most MAX_FIELDS fields, stored ones first; past it a warn line and no false drift", function()
  local rec = { id = 1 }
  for i = 1, schema.MAX_FIELDS + 99 do rec["f" .. i] = i end
  local drift, fp, warns = run(nil, { rec })
  eq(drift, nil, "drift")
  local n = 0
  for _ in pairs(fp) do n = n + 1 end
  eq(n, schema.MAX_FIELDS, "fields stored")
  eq(#warns, 1, "warn lines")
  eq(warns[1].fields.untracked, 100, "untracked"); eq(warns[1].fields.cap, schema.MAX_FIELDS, "cap")
  -- the same records again, and more: the stored fields are tracked, the
  -- others neither added nor noticed missing
  local recs = many(25, function() return rec end)
  local drift2, fp2 = run(fp, recs)
  eq(drift2, nil, "drift on the second run")
  n = 0
  for k in pairs(fp2) do n = n + 1; assert(fp[k], "new field in the fingerprint: " .. k) end
  eq(n, schema.MAX_FIELDS, "fields stored the second time")
end)

case("the text spells out MAX_TEXT changes and counts the rest", function()
  local rec = {}
  for i = 1, schema.MAX_TEXT + 3 do rec[string.format("x%02d", i)] = 1 end
  local drift = run({}, { rec })
  eq(#drift.changes, schema.MAX_TEXT + 3, "changes")
  assert(drift.text:find("; and 3 more$"), drift.text)
  assert(drift.text:find("^%+x01 %(integer%); %+x02"), drift.text)
end)

case("a stored fingerprint that is not valid: a warn line, a new fingerprint, no drift", function()
  local warns = {}
  local saved
  local t = schema.tracker("{not json", { log = { warn = function(m) warns[#warns + 1] = m end },
    store = function(j) saved = j end })
  t.observe({ id = 1 })
  eq(t.finish(true), nil, "drift")
  eq(saved, '{"id":"integer"}', "stored")
  assert(warns[1] and warns[1]:find("not valid", 1, true), tostring(warns[1]))
end)

case("records that are not tables are not tracked", function()
  local drift, fp = run({ id = "integer" }, { "a line", 42, { id = 1 } })
  eq(drift, nil, "drift"); eq(fp.id, "integer", "id")
end)

harness.finish()
