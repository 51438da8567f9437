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

-- 2^53 itself survives a decoder that reads short integers as doubles; the
-- integers just above it, and 16-digit ones, do not.
case("integers just past 2^53, 16-digit ones and int64's extremes decode exactly", function()
  for _, s in ipairs { "9007199254740993", "-9007199254740993", "9007199254740995", "9999999999999999",
                       "-9999999999999999", "1000000000000001", "99999999999999999", "9223372036854775806",
                       "9223372036854775807", "-9223372036854775807" } do
    local v = json.decode(s)
    eq(math.type(v), "integer", "math.type(decode(" .. s .. "))")
    eq(string.format("%d", v), s, "decode(" .. s .. ")")
    eq(json.encode(v), s, "encode(decode(" .. s .. "))")
    local rec = json.decode('{"id":' .. s .. ',"l":[' .. s .. ']}')
    eq(json.encode(rec.id), s, "inside an object")
    eq(json.encode(rec.l[1]), s, "inside an array")
  end
  eq(json.decode("9007199254740993") - json.decode("9007199254740992"), 1, "2^53 + 1 - 2^53")
  eq(json.decode("9999999999999999") + 1, 10000000000000000, "9999999999999999 + 1")
end)

-- An integral float past 2^53 written as bare digits would read back as an
-- integer (a different Lua type, and for odd values past 2^53 not even the
-- digits of an integer that float stands for).
case("integral floats past 2^53 encode so that they decode as the same float", function()
  for _, f in ipairs { 2.0 ^ 53 + 2, 2.0 ^ 54, 2.0 ^ 55 + 8, 1e17, -1e17, 2.0 ^ 62, 1e300 } do
    local s = assert(json.encode(f))
    local back = json.decode(s)
    eq(math.type(back), "float", "math.type(decode(encode(" .. string.format("%.17g", f) .. "))) via " .. s)
    eq(back, f, "decode(encode(" .. string.format("%.17g", f) .. "))")
  end
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
  -- as JSON): both stop at the same depth, 1,000.
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
  eq(big, "99999999999999999999", "past 64 bits: the exact text as a string")
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

-- RFC 8259, strictly: each form a lenient parser lets through, and the
-- message that names it. [2] is a part of the message, [3] its position.
case("decode rejects what RFC 8259 forbids, each with a specific message", function()
  for _, c in ipairs {
    { "NaN", "invalid literal", 1 }, { "Infinity", "invalid literal", 1 }, { "-Infinity", "invalid number", 1 },
    { "[NaN]", "invalid literal", 2 }, { "nan", "invalid literal", 1 }, { "0x10", "unexpected data after the value", 2 },
    { "01", "invalid number (leading zero)", 1 }, { "-01", "invalid number (leading zero)", 1 },
    { "[00]", "invalid number (leading zero)", 2 }, { "2.", "invalid number", 1 }, { "[2.]", "invalid number", 2 },
    { ".5", "invalid number", 1 }, { "+1", "invalid number", 1 }, { "1.e5", "invalid number", 1 },
    { "1e", "invalid number", 1 }, { "1e+", "invalid number", 1 }, { "-", "invalid number", 1 },
    { "- 1", "invalid number", 1 }, { "1.5.2", "unexpected data after the value", 4 },
    { '"a\tb"', "control character in string", 3 }, { '"a\nb"', "control character in string", 3 },
    { '"\1"', "control character in string", 2 }, { '"a\0b"', "control character in string", 3 },
    { '"\31"', "control character in string", 2 },
    { "'x'", "unexpected character", 1 }, { "[1,]", "unexpected character ']'", 4 },
    { '{"a":1,}', "a string key expected", 8 }, { "{a:1}", "a string key expected", 2 },
    { "[1] x", "unexpected data after the value", 5 }, { "[1]\0", "unexpected data after the value", 4 },
    { "1 2", "unexpected data after the value", 3 }, { "\v1", "unexpected byte 0x0B", 1 },
    { "\f[]", "unexpected byte 0x0C", 1 }, { "\194\160 1", "unexpected byte 0xC2", 1 },
    { "[1,\0]", "unexpected byte 0x00", 4 }, { "\239\187\191{}", "byte order mark", 1 },
    { '"\\x41"', "invalid escape \\x", 2 }, { '"\\U0041"', "invalid escape \\U", 2 }, { '"\\\'"', "invalid escape", 2 },
    { '"\\u12"', "invalid \\u escape", 2 }, { '"\\u12G4"', "invalid \\u escape", 2 },
    { '"\\uD800"', "lone surrogate \\uD800", 2 }, { '"\\udc00\\ud800"', "lone surrogate \\udc00", 2 },
    { '"\\uD800\\u0041"', "lone surrogate \\uD800", 2 }, { '"x\\uDBFF"', "lone surrogate \\uDBFF", 3 },
    { '"caf\233"', "invalid UTF-8", 5 }, { '"\192\175"', "invalid UTF-8", 2 },           -- Latin-1, overlong '/'
    { '"\224\128\175"', "invalid UTF-8", 2 }, { '"\240\130\130\172"', "invalid UTF-8", 2 },  -- overlong 3 and 4 bytes
    { '"\237\160\128"', "invalid UTF-8", 2 }, { '"\237\191\191"', "invalid UTF-8", 2 },  -- UTF-8-encoded surrogates
    { '"\244\144\128\128"', "invalid UTF-8", 2 }, { '"\248\136\128\128\128"', "invalid UTF-8", 2 },  -- past U+10FFFF
    { '"\226\130"', "invalid UTF-8", 2 }, { '"\226\130', "invalid UTF-8", 2 }, { '"\128"', "invalid UTF-8", 2 },
    { '["a"', "unexpected end of input", 5 }, { '{"a":1', "unexpected end of input", 7 },
    { '"abc', "unterminated string", 1 }, { '"ab\\', "unterminated string", 1 }, { "", "unexpected end of input", 1 },
    { "   ", "unexpected end of input", 4 }, { "[1 2]", "',' or ']' expected", 4 }, { '{"a" 1}', "':' expected", 6 },
    { '{"a":1 "b":2}', "',' or '}' expected", 8 }, { "tru", "invalid literal", 1 }, { "nul", "invalid literal", 1 },
  } do
    local v, err = json.decode(c[1])
    assert(v == nil, string.format("decode(%q) should fail, got %s", c[1], tostring(v)))
    local want = "invalid JSON: " .. c[2]
    assert(type(err) == "string" and err:find(want, 1, true), string.format("decode(%q): %s, want %s", c[1], tostring(err), want))
    eq(tonumber(err:match("at character (%d+)$")), c[3], string.format("position in %q for %q", err, c[1]))
  end
end)

case("decode accepts exactly what RFC 8259 allows", function()
  eq(json.encode(json.decode(" \t\r\n[ 1 ,\t2 ]\r\n")), "[1,2]", "the four whitespace characters anywhere")
  eq(json.decode('"\\"\\\\\\/\\b\\f\\n\\r\\t"'), "\"\\/\b\f\n\r\t", "every short escape")
  eq(json.decode('"\\u0041\\u00E9\\u20ac\\uD834\\uDD1E\\uDBFF\\uDFFF"'), "Aé€𝄞\u{10FFFF}", "\\u escapes and pairs")
  eq(json.decode('"a\\u0000b"'), "a\0b", "an escaped NUL is data")
  eq(json.decode('"\127 é 北 😀 \u{10FFFF}"'), "\127 é 北 😀 \u{10FFFF}", "DEL and UTF-8 of every length, to U+10FFFF")
  eq(json.decode('{"a":1,"a":2}').a, 2, "duplicate keys: the last wins")
  eq(json.decode('-0'), 0, "-0")
  eq(math.type(json.decode("1.0")), "integer", "1.0 is an integer (integral within 2^53)")
  eq(json.decode("1e3"), 1000, "1e3"); eq(math.type(json.decode("1E+2")), "integer", "1E+2")
  eq(json.decode("-1.5e-2"), -0.015, "-1.5e-2")
  eq(math.type(json.decode("9007199254740994.0")), "float", "an integral float past 2^53 stays a float")
  eq(json.decode("0e400"), 0, "zero with a huge exponent is zero")
  eq(json.decode("4.9e-324"), 4.9e-324, "the smallest subnormal")
  eq(json.decode("true"), true, "true"); eq(json.decode("false"), false, "false")
end)

case("integers past 64 bits and numbers past a double decode as their exact text", function()
  for _, s in ipairs { "9223372036854775808", "-9223372036854775809", "18446744073709551616",
                       "123456789012345678901234567890", "1e400", "-1e400", "1.5E+309", "1e-400", "-2.5e-500" } do
    local v, err = json.decode(s)
    eq(v, s, "decode(" .. s .. ") (" .. tostring(err) .. ")")
    eq(json.decode("[" .. s .. "]")[1], s, "inside an array")
  end
  eq(json.decode("9223372036854775807"), math.maxinteger, "the largest int64")
  eq(json.decode("-9223372036854775808"), math.mininteger, "the smallest int64")
  eq(math.type(json.decode("-9223372036854775808")), "integer", "math.mininteger is an integer")
  eq(json.encode(json.decode('{"id":99999999999999999999}')), '{"id":"99999999999999999999"}',
    "re-encoded as a string, never rounded")
end)

case("ferry's old internal markers in strings and keys decode as themselves", function()
  eq(json.decode('"\\u0000i:123"'), "\0i:123", "int marker string")
  eq(json.decode('"\\u0000ferry:empty-array"'), "\0ferry:empty-array", "empty-array marker string")
  local v = assert(json.decode('[{"\\u0000ferry:empty-array":0}]'))
  eq(type(v[1]), "table", "a marker-keyed object stays an object")
  eq(v[1]["\0ferry:empty-array"], 0, "its key")
  eq(json.encode(v), '[{"\\u0000ferry:empty-array":0}]', "and re-encodes as it was")
  -- the old decoder rewrote them whenever the record also held an empty
  -- array or a long integer
  v = assert(json.decode('{"e":[],"n":12345678901234567,"s":"\\u0000i:123","k":["\\u0000i:99999999999999999999"]}'))
  eq(v.s, "\0i:123", "a marker string beside an empty array and a long integer")
  eq(v.k[1], "\0i:99999999999999999999", "in an array")
  v = assert(json.decode('{"e":[],"m":[{"\\u0000ferry:empty-array":0}],"\\u0000i:1":"x"}'))
  eq(json.encode(v.m), '[{"\\u0000ferry:empty-array":0}]', "a marker-keyed object beside an empty array")
  eq(v["\0i:1"], "x", "a marker key")
end)

case("1,000 levels decode and re-encode; 1,001 fail clearly", function()
  local arrays = string.rep("[", 1000) .. "1" .. string.rep("]", 1000)
  local v, err = json.decode(arrays)
  assert(v ~= nil, "1,000 nested arrays: " .. tostring(err))
  eq(json.encode(v), arrays, "1,000 nested arrays round-trip")
  local objects = string.rep('{"k":', 999) .. "[]" .. string.rep("}", 999)
  v, err = json.decode(objects)
  assert(v ~= nil, "1,000 nested objects: " .. tostring(err))
  eq(json.encode(v), objects, "1,000 nested objects round-trip")
  for _, c in ipairs { { string.rep("[", 1001) .. string.rep("]", 1001), 1001 },
                       { string.rep('{"k":', 1001) .. "1" .. string.rep("}", 1001), 5001 } } do
    v, err = json.decode(c[1])
    eq(v, nil, "1,001 levels")
    eq(err, "invalid JSON: nested deeper than 1000 levels at character " .. c[2], "the message")
  end
  local t = {}
  local cur = t
  for _ = 1, 1000 do cur[1] = {}; cur = cur[1] end
  v, err = json.encode(t)
  assert(v == nil and err:find("nested deeper than 1000 levels", 1, true), "encode of 1,001 levels: " .. tostring(err))
end)

case("containers past the stack chunk are whole and in order", function()
  for _, n in ipairs { 63, 64, 65, 127, 128, 129, 1000, 100000 } do
    local parts = {}
    for i = 1, n do parts[i] = tostring(i) end
    local text = "[" .. table.concat(parts, ",") .. "]"
    local v = assert(json.decode(text))
    eq(#v, n, "length of an array of " .. n)
    for i = 1, n do if v[i] ~= i then error("element " .. i .. " of " .. n .. ": " .. tostring(v[i])) end end
    eq(json.encode(v), text, "re-encoded array of " .. n)
    local kv = {}
    for i = 1, n do kv[i] = string.format('"k%d":%d', i, i) end
    kv[#kv + 1] = '"k1":"last"'                    -- a duplicate after every chunk: it wins
    local o = assert(json.decode("{" .. table.concat(kv, ",") .. "}"))
    local count = 0
    for _ in pairs(o) do count = count + 1 end
    eq(count, n, "keys of an object of " .. n)
    eq(o.k1, "last", "the last duplicate wins in an object of " .. n)
    eq(o["k" .. n], n, "the last key of " .. n)
  end
  local big = "[" .. string.rep("[],", 999999) .. "[]]"
  local v = assert(json.decode(big))
  eq(#v, 1000000, "a million empty arrays")
  eq(getmetatable(v[1000000]), getmetatable(json.array()), "each keeps the array mark")
end)

case("encode writes only valid JSON: a byte outside well-formed UTF-8 becomes \\u00XX", function()
  -- Latin-1 text from a CSV export, say: quarantined, then replayed through decode
  for _, c in ipairs {
    { "caf\233", '"caf\\u00e9"', "café" },
    { "\192\175", '"\\u00c0\\u00af"', "À¯" },                       -- overlong
    { "\237\160\128", '"\\u00ed\\u00a0\\u0080"', "í\u{a0}\u{80}" },   -- an encoded surrogate
    { "ok é \226\130", '"ok é \\u00e2\\u0082"', "ok é â\u{82}" },     -- cut short at the end
  } do
    eq(json.encode(c[1]), c[2], string.format("encode(%q)", c[1]))
    eq(json.decode(json.encode(c[1])), c[3], string.format("decode(encode(%q))", c[1]))
    local rec = json.encode({ [c[1]] = c[1] })
    assert(json.decode(rec) ~= nil, "a key too: " .. rec)
  end
  eq(json.encode("é€😀 \u{10FFFF}"), '"é€😀 \u{10FFFF}"', "well-formed UTF-8 passes through as it is")
end)

harness.finish()
