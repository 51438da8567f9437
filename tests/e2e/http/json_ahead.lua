-- JSON bodies of 64 KB and more are parsed on the engine's JSON thread
-- before the script gets the response; res:json() then builds the values
-- from that parse. Whatever the path, res:json() must give what
-- ferry.json.decode(res.body) gives: the same value, the same error.
-- Every URL carries a tag=; test_http.sh checks in the debug log which
-- ones were parsed off the loop (and which must not be).
-- Args: BASE TLS_BASE CERT_DIR CLOSED_PORT
local H = dofile(ferry.script_dir .. "/lib.lua")
local base = ...
local http = ferry.http
local json = ferry.json
local case, check, eq = H.case, H.check, H.eq

-- The value res:json() gives is the value decode gives, and stays so for
-- a second call (which decodes: the parse is used once).
local function same_as_decode(res, what)
  local want = assert(json.decode(res.body))
  local got, err = res:json()
  check(got ~= nil, "%s: res:json() failed: %s", what, tostring(err))
  eq(json.encode(got), json.encode(want), what .. ": value")
  local again = res:json()
  eq(json.encode(again), json.encode(want), what .. ": value of a second res:json()")
  return got
end

case("http json ahead: a 300 KB body from get() decodes to the same value, twice", function()
  local res = H.ok(http.get(base .. "/json?size=300000&tag=one"))
  eq(#res.body, 300000, "body length")
  local v = same_as_decode(res, "get")
  eq(v.object, "contact", "object")
  eq(v.count, #v.records, "count")
  check(#v.records > 500, "records: %d", #v.records)
end)

case("http json ahead: a chunked body (no Content-Length) is parsed too", function()
  local res = H.ok(http.get(base .. "/big?bytes=200000&chunked=1&tag=chunked"))
  local v = same_as_decode(res, "chunked")
  eq(#v.big, 200000 - 10, "the string")
end)

case("http json ahead: http:all with large and small bodies, every value in order", function()
  local c = http.client {}
  local out = c:all({ base .. "/json?size=100000&tag=all1", base .. "/json?size=2000&tag=small",
    base .. "/json?size=250000&tag=all2", base .. "/json?size=70000&tag=all3" }, { concurrency = 4 })
  eq(#out, 4, "results")
  for i, r in ipairs(out) do
    check(r.res, "request %d failed: %s", i, tostring(r.err))
    same_as_decode(r.res, "all " .. i)
  end
  eq(#out[1].res.body, 100000, "first body")
  eq(#out[3].res.body, 250000, "third body")
end)

case("http json ahead: http:each hands over every response once, parsed or not", function()
  local c = http.client {}
  local sizes = { 120000, 1000, 90000, 400000, 65536, 5000, 200000 }
  local reqs = {}
  for i, n in ipairs(sizes) do reqs[i] = base .. "/json?size=" .. n .. "&tag=each" .. i end
  local seen, n = {}, 0
  for i, res, err in c:each(reqs, { concurrency = 3 }) do
    check(res, "request %d failed: %s", i, tostring(err))
    check(not seen[i], "request %d came twice", i)
    seen[i] = true
    n = n + 1
    eq(#res.body, sizes[i], "body " .. i)
    same_as_decode(res, "each " .. i)
  end
  eq(n, #sizes, "responses")
end)

case("http json ahead: invalid JSON gives the error decode gives", function()
  local res = H.ok(http.get(base .. "/json?size=150000&invalid=1&tag=invalid"))
  local _, want = json.decode(res.body)
  check(want and want:find("invalid JSON", 1, true), "decode's error: %s", tostring(want))
  local v, err = res:json()
  eq(v, nil, "value")
  eq(err.class, "validation", "class")
  eq(err.message, want, "message")
  eq(err.status, 200, "status")
  local v2, err2 = res:json()
  eq(v2, nil, "second call")
  eq(err2.message, want, "second message")
end)

case("http json ahead: a body that is not JSON by its Content-Type is decoded when asked", function()
  local res = H.ok(http.get(base .. "/json?size=100000&type=text/plain&tag=plain"))
  same_as_decode(res, "text/plain")
end)

case("http json ahead: application/vnd.api+json counts as JSON", function()
  local res = H.ok(http.get(base .. "/json?size=100000&type=application/vnd.api%2Bjson&tag=plusjson"))
  same_as_decode(res, "+json")
end)

case("http json ahead: a body the script replaced is the one decoded", function()
  local res = H.ok(http.get(base .. "/json?size=100000&tag=replaced"))
  res.body = '{"replaced": true}'
  local v = H.ok(res:json())
  eq(v.replaced, true, "the new body's value")
  eq(v.records, nil, "nothing of the old one")
end)

case("http json ahead: a body whose parse outgrows its budget is decoded on the loop", function()
  local res = H.ok(http.get(base .. "/json?size=300000&shape=numbers&tag=numbers"))
  local v = same_as_decode(res, "numbers")
  eq(#v, 150000, "items")
end)

case("http json ahead: leaving http:each while bodies are being parsed; the next request works", function()
  local c = http.client {}
  local reqs = {}
  for i = 1, 8 do reqs[i] = base .. "/json?size=1000000&tag=left" .. i end
  local got = 0
  for _, res in c:each(reqs, { concurrency = 4 }) do
    got = got + 1
    check(res, "a response")
    break
  end
  eq(got, 1, "responses read")
  local res = H.ok(http.get(base .. "/json?size=80000&tag=after"))
  same_as_decode(res, "after")
end)

H.finish()
