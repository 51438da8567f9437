-- Tests for ferry.map (lualib/ferry/map.lua): paths, each converter's edge
-- cases, defaults/required/null, computed fields, picklist/lookup/ref
-- objects, spec errors and the destination schema. Run by ferry lua.
local h = require "harness"
local case = h.case
local map, json, NULL = ferry.map, ferry.json, ferry.json.null

-- one field `x` read from `x` with these options; returns the map
local function one(opts)
  opts.from = opts.from or "x"
  return map { fields = { x = opts } }
end

-- apply a one-field map to value v; returns out.x or nil, err
local function conv(opts, v)
  local out, err = one(opts) { x = v }
  if out == nil then return nil, err end
  return out.x
end

local function eq(got, want, what)
  if got ~= want or math.type(got) ~= math.type(want) then
    error(("%s: got %s (%s), want %s (%s)"):format(what or "value", tostring(got), math.type(got) or type(got),
      tostring(want), math.type(want) or type(want)), 2)
  end
end

-- the conversion of v fails with exactly this reason and rule
local function fails(opts, v, reason, rule)
  local out, err = conv(opts, v)
  if out ~= nil then error(("expected failure for %q, got %s"):format(tostring(v), tostring(out)), 2) end
  if err.reason ~= reason then error(("reason:\n  got  %s\n  want %s"):format(err.reason, reason), 2) end
  if rule and err.rule ~= rule then error(("rule: got %s, want %s"):format(err.rule, rule), 2) end
  eq(err.class, "validation", "class")
  eq(err.field, "x", "field")
  assert(err.value == v, "err.value is the source value")
end

-- the spec raises an error whose message contains want
local function bad_spec(spec, want)
  local ok, err = pcall(map, spec)
  if ok then error("expected a spec error containing " .. want, 2) end
  if not tostring(err):find(want, 1, true) then
    error(("spec error:\n  got  %s\n  want %s"):format(tostring(err), want), 2)
  end
end

case("paths: dotted keys, 1-based array positions, list form for keys with dots", function()
  local m = map { fields = {
    a = { from = "p.name" }, b = { from = "list[2].v" }, c = { from = { "props", "a.b" } },
    d = { from = "m[1][2]" }, e = { from = { "list", 1, "v" } }, same = {},
    g = "p.name", h = { "props", "a.b" },
  } }
  local out = assert(m { p = { name = "N" }, list = { { v = 1 }, { v = 2 } }, props = { ["a.b"] = "dot" },
                         m = { { 10, 20 } }, same = "S" })
  eq(out.a, "N"); eq(out.b, 2); eq(out.c, "dot"); eq(out.d, 20); eq(out.e, 1)
  eq(out.same, "S", "from defaults to the field's own name")
  eq(out.g, "N", "a path string alone"); eq(out.h, "dot", "a path list alone")
end)

case("paths: a missing or null intermediate is absent; a non-table one fails naming the path", function()
  local m = one { from = "contacts[1].email" }
  eq(assert(m { }).x, NULL, "no contacts")
  eq(assert(m { contacts = {} }).x, NULL, "empty array")
  eq(assert(m { contacts = NULL }).x, NULL, "null contacts")
  local out, err = m { contacts = "a@b.c" }
  assert(out == nil)
  eq(err.reason, 'field \'x\': "a@b.c" is not an object or array (at contacts in path contacts[1].email)')
  eq(err.rule, "path"); eq(err.value, "a@b.c")
  out, err = m { contacts = { 42 } }
  eq(err.reason, "field 'x': 42 is not an object or array (at contacts[1] in path contacts[1].email)")
  out, err = map { fields = { x = { from = { "p", "a.b", "c" } } } } { p = { ["a.b"] = true } }
  eq(err.reason, 'field \'x\': true is not an object or array (at p["a.b"] in path p["a.b"].c)')
end)

case("a record that is not a table", function()
  local out, err = one {} ("text")
  assert(out == nil)
  eq(err.class, "validation"); eq(err.rule, "record")
  eq(err.reason, 'record is "text", not an object')
end)

case("empty: absent, null and blank strings -> default, required, or null", function()
  local m = map { fields = {
    r = { from = "a", default = "emea" }, q = { from = "a", required = true, default = "x" },
    n = { from = "a", as = "string" }, k = { from = "a", as = "integer", default = "7" },
  } }
  for _, v in ipairs { json.null, "", "   ", "\t\n" } do
    local out = assert(m { a = v })
    eq(out.r, "emea"); eq(out.q, "x"); eq(out.n, NULL); eq(out.k, 7, "a default goes through the converter")
  end
  local out = assert(m {})
  eq(out.n, NULL, "absent -> explicit null (cleared)")
  eq(assert(one {} { x = false }).x, false, "false is a value, not empty")
  local req = one { required = true }
  local _, err = req {}
  eq(err.reason, "field 'x': required but absent"); eq(err.rule, "required")
  _, err = req { x = NULL }
  eq(err.reason, "field 'x': required but null")
  _, err = req { x = "  " }
  eq(err.reason, 'field \'x\': required but empty ("  ")')
  eq(err.value, "  ")
end)

case("string: trim, case, max in characters, truncate", function()
  eq(conv({ as = "string", trim = true }, "  Acme  "), "Acme")
  eq(conv({ as = "string" }, "  Acme  "), "  Acme  ", "no trim unless asked")
  eq(conv({ as = "string", trim = true, case = "lower" }, " A@Example.COM "), "a@example.com")
  eq(conv({ as = "string", case = "upper" }, "de"), "DE")
  eq(conv({ as = "string" }, 42), "42")
  eq(conv({ as = "string" }, 0.1), "0.1", "shortest round-trip text")
  eq(conv({ as = "string" }, true), "true")
  -- "Müller & Söhne" is 14 characters and 16 bytes
  eq(conv({ as = "string", max = 14 }, "Müller & Söhne"), "Müller & Söhne")
  fails({ as = "string", max = 13 }, "Müller & Söhne",
    'field \'x\': "Müller & Söhne" is longer than 13 characters (14)', "max")
  eq(conv({ as = "string", max = 2, truncate = true }, "äöü"), "äö", "truncated at a character boundary")
  eq(conv({ as = "string", max = 3, trim = true }, "  abc  "), "abc", "max is checked after trim")
  fails({ as = "string", max = 3 }, "ab\xff\xfe", 'field \'x\': "ab\\xff\\xfe" is not valid UTF-8', "string")
  fails({ as = "string" }, { 1 }, "field 'x': [1] is not a string", "string")
end)

case("integer: exact, thousands separators grouped correctly, no fractions or exponents", function()
  eq(conv({ as = "integer" }, 42), 42)
  eq(conv({ as = "integer" }, 42.0), 42)
  eq(conv({ as = "integer" }, " -17 "), -17)
  eq(conv({ as = "integer" }, "+5"), 5)
  eq(conv({ as = "integer" }, "12.00"), 12, "an integer-valued decimal")
  eq(conv({ as = "integer", thousands = "," }, "12,500"), 12500)
  eq(conv({ as = "integer", thousands = "," }, "1,234,567"), 1234567)
  eq(conv({ as = "integer", thousands = "," }, "12500"), 12500, "ungrouped is fine")
  eq(conv({ as = "integer", thousands = "." }, "12.500"), 12500)
  eq(conv({ as = "integer", thousands = " " }, "12 500"), 12500)
  fails({ as = "integer", thousands = "," }, "12,5x", 'field \'x\': "12,5x" is not an integer (thousands ",")', "integer")
  fails({ as = "integer", thousands = "," }, "1,23,4", 'field \'x\': "1,23,4" is not an integer (thousands ",")')
  fails({ as = "integer", thousands = "," }, "1234,567", 'field \'x\': "1234,567" is not an integer (thousands ",")')
  fails({ as = "integer", thousands = "," }, ",123", 'field \'x\': ",123" is not an integer (thousands ",")')
  fails({ as = "integer" }, "12,500", 'field \'x\': "12,500" is not an integer', "integer")
  fails({ as = "integer" }, "12.5", 'field \'x\': "12.5" is not an integer')
  fails({ as = "integer" }, "1e3", 'field \'x\': "1e3" is not an integer')
  fails({ as = "integer" }, 12.5, "field 'x': 12.5 is not an integer")
  fails({ as = "integer" }, 2.0 ^ 60, "field 'x': 1.152921504606847e+18 is not an exact integer (a float beyond 2^53)")
  fails({ as = "integer" }, "9223372036854775808", 'field \'x\': "9223372036854775808" is outside the 64-bit integer range')
  eq(conv({ as = "integer" }, "9223372036854775807"), math.maxinteger)
  fails({ as = "integer" }, true, "field 'x': true is not an integer")
end)

case("2^53 + 1 as an id survives as string and as integer", function()
  local rec = json.decode('{"id": 9007199254740993, "sid": "9007199254740993"}')
  local m = map { fields = { s = { from = "id", as = "string" }, i = { from = "id", as = "integer" },
                             si = { from = "sid", as = "integer" } } }
  local out = assert(m(rec))
  eq(out.s, "9007199254740993"); eq(out.i, 9007199254740993); eq(out.si, 9007199254740993)
  eq(json.encode(out.i), "9007199254740993")
end)

case("number: stated decimal separator and grouping", function()
  eq(conv({ as = "number", decimal = ",", thousands = "." }, "1.234,5"), 1234.5)
  eq(conv({ as = "number", decimal = "," }, "0,25"), 0.25)
  eq(conv({ as = "number" }, "1234.5"), 1234.5)
  eq(conv({ as = "number" }, "-1.5e3"), -1500.0)
  eq(conv({ as = "number" }, "42"), 42)
  eq(conv({ as = "number" }, 0.5), 0.5)
  eq(conv({ as = "number", thousands = "," }, "1,234,567.25"), 1234567.25)
  fails({ as = "number", decimal = ",", thousands = "." }, "1,234.5",
    'field \'x\': "1,234.5" is not a number (decimal ",", thousands ".")', "number")
  fails({ as = "number", thousands = "," }, "1,23,4", 'field \'x\': "1,23,4" is not a number (thousands ",")')
  fails({ as = "number", decimal = "," }, "1.5", 'field \'x\': "1.5" is not a number (decimal ",")')
  fails({ as = "number" }, "12abc", 'field \'x\': "12abc" is not a number')
  fails({ as = "number" }, "1e999", 'field \'x\': "1e999" is out of range')
  fails({ as = "number" }, "nan", 'field \'x\': "nan" is not a number')
end)

case("boolean: stated words case-insensitive, defaults otherwise", function()
  local o = { as = "boolean", yes = { "active", "on" }, no = { "inactive", "off" } }
  eq(conv(o, "Active"), true); eq(conv(o, " OFF "), false); eq(conv(o, true), true); eq(conv(o, false), false)
  fails(o, "yes", 'field \'x\': "yes" is not a boolean (active, inactive, off, on)', "boolean")
  fails(o, 1, "field 'x': 1 is not a boolean (active, inactive, off, on)")
  local d = { as = "boolean" }
  eq(conv(d, "TRUE"), true); eq(conv(d, "no"), false); eq(conv(d, 1), true); eq(conv(d, "0"), false)
  fails(d, "maybe", 'field \'x\': "maybe" is not a boolean (0, 1, false, no, true, yes)')
  fails(d, 2, "field 'x': 2 is not a boolean (0, 1, false, no, true, yes)")
end)

case("date: explicit formats, %y %b, validity", function()
  local o = { as = "date", formats = { "%d/%m/%Y", "%Y-%m-%d" } }
  eq(conv(o, "31/01/2027"), "2027-01-31"); eq(conv(o, "2027-01-31"), "2027-01-31"); eq(conv(o, "1/2/2027"), "2027-02-01")
  eq(conv({ as = "date", formats = { "%d %b %y" } }, "5 Mar 26"), "2026-03-05")
  eq(conv({ as = "date", formats = { "%d %b %y" } }, "5 march 99"), "1999-03-05")
  eq(conv({ as = "date", formats = { "%Y%m%d" } }, "20240229"), "2024-02-29")
  eq(conv({ as = "date", formats = { "%m/%d/%Y %H:%M" } }, "12/31/2026 23:59"), "2026-12-31")
  fails(o, "31/02/2027", 'field \'x\': "31/02/2027" has no day 31 in 2027-02 (formats "%d/%m/%Y", "%Y-%m-%d")', "date")
  fails(o, "2027-13-01", 'field \'x\': "2027-13-01" has no month 13 (formats "%d/%m/%Y", "%Y-%m-%d")')
  fails(o, "Jan 31 2027", 'field \'x\': "Jan 31 2027" is not a date (formats "%d/%m/%Y", "%Y-%m-%d")')
  fails({ as = "date", formats = { "%d %b %Y" } }, "5 Foo 2026", 'field \'x\': "5 Foo 2026" has an unknown month name (formats "%d %b %Y")')
  eq(conv({ as = "date", formats = { "iso" } }, "2026-11-26T23:30:00-05:00"), "2026-11-26", "iso: the date as written")
  fails({ as = "date", formats = { "iso" } }, "2026-02-30", 'field \'x\': "2026-02-30" is not a date (formats "iso")')
end)

case("datetime: wall clock in a zone to UTC; DST gap fails, fold fails unless chosen", function()
  local o = { as = "datetime", formats = { "%Y-%m-%d %H:%M" }, tz = "Europe/Berlin" }
  eq(conv(o, "2026-03-29 01:30"), "2026-03-29T00:30:00Z")
  eq(conv(o, "2026-03-29 03:00"), "2026-03-29T01:00:00Z")
  eq(conv(o, "2026-07-01 12:00"), "2026-07-01T10:00:00Z")
  fails(o, "2026-03-29 02:30", 'field \'x\': "2026-03-29 02:30" is not one instant: 2026-03-29 02:30:00 does not exist'
    .. " in Europe/Berlin (clocks move forward)", "datetime.gap")
  fails(o, "2026-10-25 02:30", 'field \'x\': "2026-10-25 02:30" is not one instant: 2026-10-25 02:30:00 occurs twice'
    .. ' in Europe/Berlin (clocks move back); say which with fold = "earlier" or "later"', "datetime.fold")
  o.fold = "earlier"
  eq(conv(o, "2026-10-25 02:30"), "2026-10-25T00:30:00Z")
  o.fold = "later"
  eq(conv(o, "2026-10-25 02:30"), "2026-10-25T01:30:00Z")
  eq(conv({ as = "datetime", formats = { "%d.%m.%Y %H:%M:%S" } }, "01.02.2026 03:04:05"), "2026-02-01T03:04:05Z",
    "no tz: the time is UTC")
  local iso = { as = "datetime", formats = { "iso" }, tz = "Europe/Berlin" }
  eq(conv(iso, "2026-03-29T02:30:00+02:00"), "2026-03-29T00:30:00Z", "an offset fixes the instant")
  eq(conv(iso, "2026-11-26T14:03:05Z"), "2026-11-26T14:03:05Z")
  eq(conv(iso, "2026-01-15T12:00:00"), "2026-01-15T11:00:00Z", "no offset: wall clock in tz")
  eq(conv(iso, "2026-01-15T12:00:00.250"), "2026-01-15T11:00:00.250Z", "the fraction is kept")
  fails(iso, "2026-03-29T02:30:00", 'field \'x\': "2026-03-29T02:30:00" is not one instant: 2026-03-29 02:30:00'
    .. " does not exist in Europe/Berlin (clocks move forward)")
  fails(o, "29.03.2026", 'field \'x\': "29.03.2026" is not a date-time (formats "%Y-%m-%d %H:%M")', "datetime")
  fails(o, "2026-03-29 24:30", 'field \'x\': "2026-03-29 24:30" has no time 24:30:00 (formats "%Y-%m-%d %H:%M")')
end)

case("money: exact digit strings, scale, rounding, minor units", function()
  local o = { as = "money", scale = 2 }
  eq(conv(o, "12500.5"), "12500.50"); eq(conv(o, 12500.5), "12500.50"); eq(conv(o, 7), "7.00")
  eq(conv(o, 0.1), "0.10", "0.1 from JSON stays 0.1, not 0.1000000000000000055")
  eq(conv(o, "-0.5"), "-0.50"); eq(conv(o, "007.5"), "7.50"); eq(conv(o, "-0.00"), "0.00")
  eq(conv(o, 1e-2), "0.01"); eq(conv(o, 1.5e3), "1500.00"); eq(conv(o, 1e20), "100000000000000000000.00")
  eq(conv(o, -1234567.89), "-1234567.89")
  fails(o, 0.1 + 0.2, "field 'x': 0.30000000000000004 has more than 2 decimal places (round is not set)", "money.scale")
  fails(o, 1e-7, "field 'x': 1e-07 has more than 2 decimal places (round is not set)", "money.scale")
  eq(conv({ as = "money", scale = 2, round = "half_even" }, 1e-7), "0.00")
  eq(conv({ as = "money", scale = 0 }, "12"), "12")
  eq(conv({ as = "money", scale = 2, decimal = ",", thousands = "." }, "1.234,5"), "1234.50")
  eq(conv({ as = "decimal", scale = 4 }, "99999999999999999999.1234"), "99999999999999999999.1234", "beyond any float")
  eq(conv({ as = "money", scale = 2, minor = true }, "12500.50"), 1250050)
  eq(conv({ as = "money", scale = 2, minor = true }, 0.1), 10)
  eq(conv({ as = "money", scale = 2, minor = true }, "-1.05"), -105)
  fails(o, "1.005", 'field \'x\': "1.005" has more than 2 decimal places (round is not set)', "money.scale")
  fails(o, 0.125, "field 'x': 0.125 has more than 2 decimal places (round is not set)", "money.scale")
  eq(conv(o, "1.230"), "1.23", "trailing zeros are not extra places")
  local he, hu = { as = "money", scale = 2, round = "half_even" }, { as = "money", scale = 2, round = "half_up" }
  eq(conv(he, "1.005"), "1.00"); eq(conv(hu, "1.005"), "1.01")
  eq(conv(he, "1.015"), "1.02"); eq(conv(he, "1.0051"), "1.01"); eq(conv(he, "9.995"), "10.00")
  eq(conv(hu, "-2.345"), "-2.35", "half_up rounds away from zero"); eq(conv(he, "-0.004"), "0.00")
  eq(conv(hu, "99.995"), "100.00")
  fails(o, "12,50", 'field \'x\': "12,50" is not a decimal amount', "money")
  fails(o, "1e3", 'field \'x\': "1e3" is not a decimal amount')
  fails(o, "$12", 'field \'x\': "$12" is not a decimal amount')
  fails({ as = "money", scale = 2, minor = true }, "123456789012345678.00",
    'field \'x\': "123456789012345678.00" is too large for integer minor units', "money")
end)

case("money: 0.1 + 0.2 summed in minor units is exactly 30 / \"0.30\"", function()
  local m = map { fields = {
    a = { from = "a", as = "money", scale = 2, minor = true },
    b = { from = "b", as = "money", scale = 2, minor = true },
    total = { compute = function(_, out) return out.a + out.b end },
    total_text = { compute = function(_, out) return map.from_minor(out.a + out.b, 2) end },
  } }
  local out = assert(m(json.decode('{"a": 0.1, "b": 0.2}')))
  eq(out.total, 30); eq(out.total_text, "0.30")
  assert(0.1 + 0.2 ~= 0.3, "floats would not do")
  eq(map.from_minor(-5, 2), "-0.05"); eq(map.from_minor(123, 0), "123")
end)

case("computed fields: after all others, in name order, with (record, out, ctx)", function()
  local seen = {}
  local ctx = { tag = "C" }
  local m = map { fields = {
    name = { from = "n", as = "string", trim = true },
    b_label = { compute = function(rec, out, c)
      seen[#seen + 1] = "b"; return out.name .. "/" .. rec.n .. "/" .. c.tag .. "/" .. tostring(out.a_upper) end },
    a_upper = { compute = function(_, out) seen[#seen + 1] = "a"; return out.name:upper() end },
    c_money = { compute = function() return "0.1" end, as = "money", scale = 2 },
    d_empty = { compute = function() return nil end, default = "none" },
  } }
  local out = assert(m({ n = " x " }, ctx))
  eq(table.concat(seen, ","), "a,b")
  eq(out.b_label, "x/ x /C/X", "b sees a's output"); eq(out.c_money, "0.10"); eq(out.d_empty, "none")
  local bad = map { fields = { z = { compute = function() return nil, "no region for DE" end } } }
  local _, err = bad {}
  eq(err.reason, "field 'z': no region for DE"); eq(err.class, "validation"); eq(err.rule, "compute")
end)

-- stand-ins for ferry.picklist / ferry.lookup / ferry.ref objects
local tiers = { match = function(_, v)
  local t = { gold = "Gold", silver = "Silver", bronze = "Bronze" }
  if t[v:lower()] then return t[v:lower()] end
  return nil, { class = "picklist_drift", reason = ("%q is not among the destination's options"):format(v), value = v }
end }
local owners = { get = function(_, v, ctx)
  if v == "ann@x.io" then return "U1" end
  if v == "dup@x.io" then return nil, { class = "lookup_ambiguous", reason = "2 users match dup@x.io" } end
  return nil, { class = "lookup_missing", reason = "no user " .. v }
end }
local refs = { ref = function(_, v, ctx) return { placeholder = v, run = ctx and ctx.run_id } end }

case("picklist, lookup and ref: called with the converted value; errors keep their class", function()
  local m = map { fields = {
    tier = { from = "tier", picklist = tiers },
    owner_id = { from = "owner.email", as = "string", trim = true, case = "lower", lookup = owners },
    parent_id = { from = "parent.external_id", ref = refs },
  } }
  local out = assert(m({ tier = "GOLD", owner = { email = " Ann@X.io " }, parent = { external_id = "A-7" } }, { run_id = 3 }))
  eq(out.tier, "Gold"); eq(out.owner_id, "U1"); eq(out.parent_id.placeholder, "A-7"); eq(out.parent_id.run, 3)
  out = assert(m {})
  eq(out.tier, NULL, "empty values never reach the picklist")
  local _, err = m { tier = "Platinum" }
  eq(err.class, "picklist_drift"); eq(err.field, "tier"); eq(err.value, "Platinum"); eq(err.rule, "picklist")
  eq(err.reason, 'field \'tier\': "Platinum" is not among the destination\'s options')
  _, err = m { owner = { email = "Nobody@x.io" } }
  eq(err.class, "lookup_missing"); eq(err.reason, "field 'owner_id': no user nobody@x.io")
  eq(err.value, "Nobody@x.io", "the source value when the error has none")
  _, err = m { owner = { email = "dup@x.io" } }
  eq(err.class, "lookup_ambiguous"); eq(err.field, "owner_id")
  local nores = map { fields = { t = { from = "t", picklist = { match = function() return nil end } } } }
  _, err = nores { t = "q" }
  eq(err.class, "picklist_drift"); eq(err.reason, "field 't': no result for \"q\"")
end)

case("reasons quote values and cut them at 80 characters", function()
  local long = ("é"):rep(100)
  local _, err = one { as = "integer" } { x = long }
  eq(err.reason, "field 'x': \"" .. ("é"):rep(80) .. "...\" is not an integer")
  _, err = one { as = "integer" } { x = 'a"b\n' }
  eq(err.reason, [[field 'x': "a\"b\n" is not an integer]])
end)

case("spec errors are raised at load and name the field", function()
  bad_spec({ fields = { employees = { from = "e", as = "integr" } } },
    "ferry.map: field 'employees': unknown as = \"integr\" (converters: boolean, date, datetime, decimal, integer, money, number, string)")
  bad_spec({ fields = { employees = { as = "integer", thousand = "," } } },
    "field 'employees': unknown option 'thousand' for as = \"integer\" (its options: thousands)")
  bad_spec({ fields = { n = { form = "x" } } }, "field 'n': unknown option 'form' (options without as:")
  bad_spec({ fields = { tier = { picklist = {} } } }, "field 'tier': picklist has no :match method")
  bad_spec({ fields = { o = { lookup = { match = print } } } }, "field 'o': lookup has no :get method")
  bad_spec({ fields = { p = { ref = "accounts" } } }, "field 'p': ref has no :ref method (expected a ferry ref object, got string)")
  bad_spec({ fields = { d = { as = "date" } } }, "field 'd': as = \"date\" needs formats")
  bad_spec({ fields = { d = { as = "date", formats = { "%d/%q/%Y" } } } }, "field 'd': format \"%d/%q/%Y\": unknown directive %q")
  bad_spec({ fields = { d = { as = "date", formats = { "%d/%m" } } } }, "field 'd': format \"%d/%m\" needs a year")
  bad_spec({ fields = { t = { as = "datetime", formats = { "iso" }, tz = "Mars/Base" } } },
    "field 't': tz: unknown time zone \"Mars/Base\"")
  bad_spec({ fields = { t = { as = "datetime", formats = { "iso" }, fold = "both" } } }, "field 't': fold must be")
  bad_spec({ fields = { m = { as = "money", scale = 2.5 } } }, "field 'm': scale must be an integer 0-18")
  bad_spec({ fields = { m = { as = "money", round = "bankers" } } }, "field 'm': round must be \"half_even\" or \"half_up\"")
  bad_spec({ fields = { b = { as = "boolean", yes = { "y" } } } }, "field 'b': yes and no go together")
  bad_spec({ fields = { b = { as = "boolean", yes = { "y" }, no = { "Y" } } } }, "field 'b': \"y\" is in both yes and no")
  bad_spec({ fields = { n = { as = "number", decimal = ",", thousands = "," } } }, "field 'n': decimal and thousands must differ")
  bad_spec({ fields = { s = { as = "string", max = 0 } } }, "field 's': max must be a positive integer")
  bad_spec({ fields = { s = { from = "a..b" } } }, "field 's': from \"a..b\" has an empty key")
  bad_spec({ fields = { s = { from = "a[0]" } } }, "field 's': from \"a[0]\" is not a path")
  bad_spec({ fields = { s = { from = "x", compute = print } } }, "field 's': from and compute exclude each other")
  bad_spec({ fields = { k = { as = "integer", default = "many" } } }, "field 'k': default \"many\" is not an integer")
  bad_spec({ fields = { a = {} }, shema = {} }, "ferry.map: unknown key 'shema' (keys: fields, schema)")
  bad_spec({ fields = {} }, "ferry.map: fields must be a table")
  bad_spec({ fields = { n = { "a", "b", as = "string" } } }, "field 'n': a path list mixed with options; write from = { ... }")
  bad_spec({ fields = { a = {} }, schema = { a = { maxlen = 3 } } }, "schema field 'a': unknown rule 'maxlen'")
  bad_spec({ fields = { a = {} }, schema = { a = { type = "text" } } }, "schema field 'a': unknown type \"text\"")
  bad_spec({ fields = { a = {} }, schema = { a = { pattern = "[a" } } }, "schema field 'a': pattern is not a Lua pattern")
  -- raised at the caller's line, so ferry check can point at the script
  local ok, err = pcall(map, { fields = { x = { as = "nope" } } })
  assert(not ok and not tostring(err):find("map.lua", 1, true), err)
end)

case("schema: required, type, max, allowed, pattern checked on the output", function()
  local m = map {
    fields = { name = { from = "n", as = "string", trim = true }, tier = { from = "t" }, email = { from = "e" },
               n = { from = "num" }, p = { from = "p", ref = refs } },
    schema = { name = { required = true, type = "string", max = 5 }, tier = { allowed = { "Bronze", "Gold" } },
               email = { pattern = "^[^@%s]+@[^@%s]+$" }, n = { type = "integer" }, p = { type = "string", required = true } },
  }
  assert(m { n = "Acme", t = "Gold", e = "a@b.c", num = 3, p = "A-1" })
  local _, err = m { n = "  ", p = "x" }
  eq(err.rule, "schema.required"); eq(err.reason, "field 'name': required by the destination but null")
  _, err = m { n = "Acme Corp", p = "x" }
  eq(err.rule, "schema.max"); eq(err.reason, 'field \'name\': "Acme Corp" is longer than 5 characters (schema max)')
  _, err = m { n = "Acme", t = "Platinum", p = "x" }
  eq(err.rule, "schema.allowed"); eq(err.reason, 'field \'tier\': "Platinum" is not allowed (schema allowed: "Bronze", "Gold")')
  _, err = m { n = "Acme", e = "a b@c", p = "x" }
  eq(err.rule, "schema.pattern"); eq(err.reason, 'field \'email\': "a b@c" does not match the schema pattern "^[^@%s]+@[^@%s]+$"')
  _, err = m { n = "Acme", num = 1.5, p = "x" }
  eq(err.rule, "schema.type"); eq(err.reason, "field 'n': 1.5 is not of type integer (schema type)"); eq(err.class, "validation")
  _, err = m { n = "Acme" }
  eq(err.rule, "schema.required"); eq(err.field, "p")
  -- the same checker alone, on a hand-built table
  local out = { name = "Acme", p = "x" }
  assert(m.schema_check(out) == out)
  _, err = m.schema_check { name = "Acme", p = "x", tier = "Silver" }
  eq(err.rule, "schema.allowed")
end)

case("ferry.map.schema: a checker for hand-written transforms", function()
  local check = map.schema { name = { required = true, max = 3 }, age = { type = "integer" } }
  local out = { name = "Bo", age = 4 }
  assert(check(out) == out, "returns the table, so `return check(out)` ends a transform")
  local _, err = check { age = 4 }
  eq(err.reason, "field 'name': required by the destination but absent")
  _, err = check { name = "Bob", age = "4" }
  eq(err.reason, 'field \'age\': "4" is not of type integer (schema type)')
  local ok, e = pcall(map.schema, { a = { type = "int" } })
  assert(not ok and tostring(e):find("ferry.map: schema field 'a': unknown type \"int\"", 1, true), e)
end)

case("a map builds a new table, leaves the record alone, and can be called as a function", function()
  local m = map { fields = { a = { from = "x", as = "integer" } } }
  local rec = { x = "5", other = 1 }
  local out = assert(m.transform(rec))
  eq(out.a, 5); eq(out.other, nil); eq(rec.x, "5"); assert(out ~= rec)
  eq(select("#", m.transform(rec)), 1)
  assert(m.source:find("return function(rec, ctx)", 1, true), "the generated code is kept for reading")
  assert(not m.source:find("pairs", 1, true), "straight-line: no loop over the spec")
end)

case("field names and keys are data, never code: quotes, brackets, newlines, NUL", function()
  local odd = "a\nb\0c\"]]--"
  local m = map { fields = { [odd] = { from = { odd, "k\r" } }, ["end"] = { from = "end" } } }
  local out = assert(m { [odd] = { ["k\r"] = 1 }, ["end"] = 2 })
  eq(out[odd], 1); eq(out["end"], 2)
end)

case("a wide map (more constants than locals) compiles and converts every field", function()
  local fields, rec = {}, {}
  for i = 1, 200 do
    fields["f" .. i] = { from = "s" .. i, as = "integer", thousands = "," }
    rec["s" .. i] = ("%d,000"):format(i)
  end
  fields["f7"].required = true
  local m = map { fields = fields }
  local out = assert(m(rec))
  for i = 1, 200 do eq(out["f" .. i], i * 1000, "f" .. i) end
  rec.s7, rec.s199 = nil, "x"
  local _, err = m(rec)
  eq(err.reason, "field 'f199': \"x\" is not an integer (thousands \",\")", "fields run in name order: f199 before f7")
end)

h.finish()
