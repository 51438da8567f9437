-- Tests for ferry.json (core/fy_lua_json.c). Run by `ferry lua`; every case
-- runs even when an earlier one fails, and the file fails if any did.
local json = ferry.json
local null = json.null

local harness = require "harness"
local case = harness.case

local function deep_equal(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then
    if type(a) == "number" then return a == b and math.type(a) == math.type(b) end
    return a == b
  end
  for k, v in pairs(a) do if not deep_equal(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local function eq(got, want, what)
  if got ~= want then
    error(string.format("%s: got %s, want %s", what or "value", tostring(got), tostring(want)), 2)
  end
end

case("decode/encode round trips", function()
  for _, s in ipairs {
    '{"a":1}', '[1,2,3]', '"text"', '42', '-7', 'true', 'false', 'null', '{}',
    '[[1,[2,[3]]],{"k":{"k":"v"}}]', '{"list":[true,false,null,"x",1.5]}', '"a\\"b"',
  } do
    local v, err = json.decode(s)
    assert(v ~= nil, "decode " .. s .. ": " .. tostring(err))
    eq(json.encode(v), s, "encode(decode(" .. s .. "))")
  end
  local value = { id = 7, name = "n", list = { 1, 2, { x = "y" } }, flag = false, sub = { a = { b = { c = 1 } } } }
  assert(deep_equal(json.decode(json.encode(value)), value), "Lua value -> JSON -> Lua value")
end)

case("an empty array inside a record stays an array", function()
  eq(json.encode(json.decode('[]')), '[]', "encode(decode('[]'))")
  eq(json.encode(json.decode('{"a":[]}')), '{"a":[]}', "encode(decode('{\"a\":[]}'))")
  eq(json.encode(json.decode('{"a":[[],{}]}')), '{"a":[[],{}]}', "encode(decode('{\"a\":[[],{}]}'))")
  eq(json.encode(json.decode('{"a":{}}')), '{"a":{}}', "encode(decode('{\"a\":{}}'))")
end)

case("JSON null survives decode and encode", function()
  local v = json.decode('{"a":null}')
  assert(type(v) == "table")
  assert(v.a == null, "a decodes to ferry.json.null")
  assert(null ~= nil and type(null) == "userdata", "ferry.json.null is a sentinel value")
  eq(json.encode(v), '{"a":null}', "encode")
  eq(json.decode("null"), null, "decode('null')")
  eq(json.encode(null), "null", "encode(null)")
  eq(json.encode(json.decode("[1,null,3]")), "[1,null,3]", "null inside an array")
  eq(json.encode({ x = null }), '{"x":null}', "encode { x = null }")
end)

case("integers stay integers and encode back exactly", function()
  for _, s in ipairs { "0", "1", "-1", "123456789012345", "-123456789012345", "9007199254740992", "4294967296" } do
    local v = json.decode(s)
    eq(math.type(v), "integer", "math.type(decode(" .. s .. "))")
    eq(json.encode(v), s, "encode(decode(" .. s .. "))")
  end
  local rec = json.decode('{"id":123456789012345,"n":[1,2,3]}')
  eq(math.type(rec.id), "integer", "math.type of a nested integer")
  eq(rec.id, 123456789012345, "rec.id")
  eq(math.type(rec.n[3]), "integer", "math.type of an array element")
  eq(json.encode({ id = 123456789012345 }), '{"id":123456789012345}', "encode of a record")
  eq(json.encode(math.maxinteger), "9223372036854775807", "encode(math.maxinteger)")
  eq(json.encode(math.mininteger), "-9223372036854775808", "encode(math.mininteger)")
end)

case("floats round-trip exactly", function()
  for _, f in ipairs { 0.1, 1e300, -2.5, 1 / 3, 2 ^ -1074, 123.456, -1e-300, 1.7976931348623157e308, 0.30000000000000004 } do
    local s = assert(json.encode(f))
    local back = json.decode(s)
    assert(back == f, string.format("%.17g encoded as %s came back as %s", f, s, tostring(back)))
    eq(math.type(back), "float", "math.type(decode(encode(" .. s .. ")))")
  end
  eq(json.encode(0.1), "0.1", "encode(0.1)")
  eq(json.encode(-2.5), "-2.5", "encode(-2.5)")
  eq(json.decode("1e300"), 1e300, "decode('1e300')")
end)

case("bad JSON returns nil and a message with the character position", function()
  local cases = {
    { '{"a":1,}', 8 },       -- the } where a key should be
    { "[1 2]", 4 },          -- the 2 where a comma should be
    { '{"a" 1}', 6 },        -- the 1 where the colon should be
    { '{"a":tru}', 6 },      -- the bad token
    { "  x", 3 },
    { "", 1 },
  }
  for _, c in ipairs(cases) do
    local v, err = json.decode(c[1])
    assert(v == nil, "decode(" .. c[1] .. ") should fail")
    assert(type(err) == "string" and err:find("invalid JSON", 1, true), "message: " .. tostring(err))
    local n = err:match("character (%d+)")
    eq(tonumber(n), c[2], "position in '" .. err .. "' for " .. c[1])
  end
end)

case("decode never raises on garbage", function()
  math.randomseed(1234)
  local alphabet = '{}[]":,.-+eE0123456789 \t\n\\/untrlfasx\0\255\128'
  for i = 1, 3000 do
    local parts = {}
    local len = math.random(0, 40)
    for k = 1, len do
      if i % 2 == 0 then
        parts[k] = string.char(math.random(0, 255))
      else
        local p = math.random(1, #alphabet)
        parts[k] = alphabet:sub(p, p)
      end
    end
    local s = table.concat(parts)
    local ok, v, err = pcall(json.decode, s)
    assert(ok, "decode raised on " .. string.format("%q", s) .. ": " .. tostring(v))
    assert(v ~= nil or type(err) == "string", "nil without a message for " .. string.format("%q", s))
  end
end)

case("values JSON cannot hold: encode returns nil, err", function()
  for what, v in pairs {
    ["a function"] = print, ["a nested function"] = { f = function() end },
    ["a coroutine"] = coroutine.create(function() end), ["inf"] = math.huge, ["-inf"] = -math.huge,
    ["nan"] = 0 / 0, ["a boolean key"] = { [true] = 1 }, ["an inf key"] = { [math.huge] = 1 },
  } do
    local ok, s, err = pcall(json.encode, v)
    assert(ok, "encode raised for " .. what .. ": " .. tostring(s))
    assert(s == nil, "encode of " .. what .. " gave " .. tostring(s))
    assert(type(err) == "string" and #err > 0, "no message for " .. what)
  end
end)

case("deep nesting: 200 levels round-trip; past the limit nil, err; cycles; no crash", function()
  local t = {}
  local cur = t
  for _ = 1, 199 do cur.next = {}; cur = cur.next end
  local s, err = json.encode(t)
  assert(type(s) == "string", "encode of a 200-deep table: " .. tostring(err))
  eq(json.encode(json.decode(s)), s, "200-deep object round trip")
  local deep = string.rep("[", 200) .. string.rep("]", 200)
  eq(json.encode(json.decode(deep)), deep, "200 nested arrays round trip")
  local cyc = {}
  cyc.self = cyc
  s, err = json.encode(cyc)
  assert(s == nil and type(err) == "string", "encode of a cycle")
  cur = t
  for _ = 1, 1100 do cur.next = {}; cur = cur.next end
  s, err = json.encode(t)
  assert(s == nil and type(err) == "string", "encode of a 1,300-deep table")
  local v
  v, err = json.decode(string.rep("[", 100000) .. string.rep("]", 100000))
  assert(v == nil and type(err) == "string", "decode 100,000 deep")
  -- What decode accepts, encode writes back (a quarantined record is stored
  -- as JSON): both stop at the same depth, cjson's 1,000.
  v, err = json.decode(string.rep("[", 1001) .. string.rep("]", 1001))
  assert(v == nil and type(err) == "string", "decode of 1,001 nested arrays")
  v = json.decode(string.rep("[", 999) .. "1" .. string.rep("]", 999))
  assert(v ~= nil and json.encode(v) ~= nil, "999 deep decodes and encodes")
end)

case("integers past 2^53 survive decode and encode exactly (snowflake ids)", function()
  local v = json.decode('{"id":1234567890123456789,"neg":-9223372036854775807,"f":0.3333333333333333,"s":"1234567890123456789"}')
  assert(math.type(v.id) == "integer" and v.id == 1234567890123456789, "id: " .. tostring(v.id))
  assert(math.type(v.neg) == "integer" and v.neg == -9223372036854775807, "neg: " .. tostring(v.neg))
  eq(v.s, "1234567890123456789", "a digit string stays a string")
  eq(v.f, 0.3333333333333333, "fractions are untouched")
  eq(json.encode(json.decode("[1234567890123456789]")), "[1234567890123456789]", "top-level array")
  eq(json.decode("1234567890123456789"), 1234567890123456789, "top-level integer")
  local big = json.decode("[99999999999999999999]")[1]
  assert(math.type(big) == "float" and big == 1e20, "past 64 bits: a float, got " .. tostring(big))
end)

case("ferry.json.array and empty tables", function()
  eq(json.encode(json.array({})), "[]", "array({})")
  eq(json.encode(json.array()), "[]", "array()")
  eq(json.encode({}), "{}", "{}")
  eq(json.encode(json.array({ 1, "a" })), '[1,"a"]', "array({1,'a'})")
  eq(json.encode({ list = json.array({}) }), '{"list":[]}', "nested array({})")
  local t = { 1, 2 }
  assert(json.array(t) == t, "array returns its argument")
end)

case("decode: escapes inside strings never hide or fake an empty array or a big integer", function()
  local text = '{"s":"q\\"[] 12345678901234567\\\\","e":[],"n":12345678901234567,"t":"[]\\\\"}'
  local v = assert(json.decode(text))
  eq(v.s, 'q"[] 12345678901234567\\', "string with an escaped quote, brackets, digits and a final backslash")
  eq(v.t, "[]\\", "brackets inside a string stay text")
  eq(json.encode(v.e), "[]", "the empty array outside the strings")
  eq(v.n, 12345678901234567, "the big integer outside the strings")
  eq(math.type(v.n), "integer", "an integer")
  local plain = assert(json.decode('{"a":"1","b":{"c":"x"}}'))
  eq(plain.a, "1", "a record without numbers decodes as is")
  eq(math.type(assert(json.decode('{"x":{"y":[3]}}')).x.y[1]), "integer", "nested integers are integers")
end)

case("encode with sort_keys: keys in byte order at every level, whatever the insertion order", function()
  local a = { zeta = 1, alpha = { y = 2, b = 3, [10] = 4 }, Beta = json.array(), mid = null, empty = {} }
  local b = {}
  b.mid = null; b.empty = {}; b.Beta = json.array(); b.alpha = { [10] = 4, b = 3, y = 2 }; b.zeta = 1
  local want = '{"Beta":[],"alpha":{"10":4,"b":3,"y":2},"empty":{},"mid":null,"zeta":1}'
  eq(json.encode(a, { sort_keys = true }), want, "a")
  eq(json.encode(b, { sort_keys = true }), want, "b (other insertion order)")
  eq(json.encode({}, { sort_keys = true }), "{}", "empty object")
  eq(json.encode({ 3, 1, 2 }, { sort_keys = true }), "[3,1,2]", "arrays keep their order")
  local v, err = json.encode({ f = print }, { sort_keys = true })
  assert(v == nil and err:find("function"), "a function value is refused: " .. tostring(err))
end)

case("strings escape correctly", function()
  eq(json.encode('say "hi"'), '"say \\"hi\\""', "quotes")
  eq(json.encode("back\\slash"), '"back\\\\slash"', "backslash")
  eq(json.encode("a\nb\rc\td"), '"a\\nb\\rc\\td"', "newline, CR, tab")
  eq(json.encode("\0\1\31\127"), '"\\u0000\\u0001\\u001f\\u007f"', "other control characters")
  eq(json.encode("é€😀 北京"), '"é€😀 北京"', "UTF-8 passes through")
  eq(json.decode('"\\u00e9\\u20ac\\ud83d\\ude00"'), "é€😀", "\\u escapes and surrogate pairs decode to UTF-8")
  eq(json.decode('"tab\\there\\n"'), "tab\there\n", "escapes decode")
  local raw = "x\0y\"\\\n\1é"
  eq(json.decode(json.encode(raw)), raw, "round trip of a string with every kind of escape")
  eq(json.encode({ ['k"ey'] = 1 }), '{"k\\"ey":1}', "keys are escaped too")
end)

harness.finish()
