-- ferry.paginate's guards against a runaway source, with a stub client (no
-- server): a cursor that repeats stops at once with a schema_drift error,
-- and max_pages stops a source that never ends.
local paginate = require "ferry.paginate"
local harness = require "harness"
local case = harness.case

-- A client whose every GET answers `body` (a function of the query).
local function stub(body)
  local c = { calls = 0 }
  function c:get(url, opts)
    self.calls = self.calls + 1
    local b = body(opts.query or {}, self.calls)
    return { status = 200, json = function() return b end }
  end
  return c
end

local function drain(it)
  local n = 0
  local ok, err = pcall(function() for _ in it do n = n + 1 end end)
  return n, ok, err
end

case("paginate: a cursor that comes back a second time stops with schema_drift, not after max_pages", function()
  local http = stub(function(q) return { items = { { id = 1 } }, next_cursor = q.cursor == "b" and "a" or (q.cursor and "b" or "a") } end)
  local n, ok, err = drain(paginate.records(http, "https://src.example/items", { style = "cursor", items = "items" }))
  assert(not ok, "pagination ended without an error after " .. n .. " records")
  assert(type(err) == "table" and err.class == "schema_drift", "class: " .. tostring(type(err) == "table" and err.class or err))
  assert(tostring(err.message):find("twice", 1, true), tostring(err.message))
  assert(http.calls == 3, "requests: " .. http.calls .. " (a, b, then a again)")
end)

case("paginate: a cursor style source that ends yields every record once", function()
  local http = stub(function(q)
    local page = tonumber(q.cursor or "0")
    return { items = { { id = page * 2 + 1 }, { id = page * 2 + 2 } }, next_cursor = page < 2 and tostring(page + 1) or nil }
  end)
  local ids = {}
  for r in paginate.records(http, "https://src.example/items", { style = "cursor", items = "items" }) do ids[#ids + 1] = r.id end
  assert(table.concat(ids, ",") == "1,2,3,4,5,6", table.concat(ids, ","))
end)

case("paginate: max_pages = 4 stops an endless source after 4 pages with class script", function()
  local http = stub(function(_, k) return { items = { { id = k } }, next_cursor = "c" .. k } end)
  local n, ok, err = drain(paginate.records(http, "https://src.example/items", { style = "cursor", items = "items", max_pages = 4 }))
  assert(not ok and type(err) == "table" and err.class == "script", "error: " .. tostring(type(err) == "table" and err.message or err))
  assert(n == 4 and http.calls == 4, ("records %d, requests %d"):format(n, http.calls))
end)

harness.finish()
