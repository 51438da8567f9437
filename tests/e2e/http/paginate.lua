-- ferry.paginate.records against the fake's paginated endpoints (95 records,
-- ids 1..95). Args: BASE TLS_BASE CERT_DIR CLOSED_PORT
local H = dofile(ferry.script_dir .. "/lib.lua")
local base = ...
local http = ferry.http
local paginate = ferry.paginate
local case, check, eq = H.case, H.check, H.eq

local function ids_of(iter)
  local ids = {}
  for rec in iter do ids[#ids + 1] = rec.id end
  return ids
end

local function expect_1_to_95(ids)
  local bad
  for i = 1, 95 do if ids[i] ~= i then bad = bad or i end end
  check(#ids == 95 and not bad, "got %d records (first wrong at position %s): %s", #ids, tostring(bad),
    table.concat(ids, ",", 1, math.min(#ids, 40)))
end

-- 13. ------------------------------------------------------------------------
for _, t in ipairs {
  { "/pages/number", { style = "page", items = "data", size = 10 }, 10 },
  { "/pages/number", { style = "page", items = "data" }, 11, "no size: ends on the empty page" },
  { "/pages/number", { style = "page", items = "data", size = 20, total_pages = "total_pages" }, 5, "total_pages" },
  { "/pages/offset", { style = "offset", items = "results", size = 10 }, 10 },
  { "/pages/cursor", { style = "cursor", items = "items", next = "next_cursor", size = 10 }, 10 },
  { "/pages/hubspot", { style = "cursor", items = "results", next = "paging.next.after", cursor_param = "after", size = 10 }, 10 },
  { "/pages/zendesk", { style = "cursor", items = "tickets", next = "meta.after_cursor", has_more = "meta.has_more",
      cursor_param = "page[after]", size_param = "page[size]", size = 10 }, 10 },
  { "/pages/link", { style = "link", size = 10 }, 10 },
  { "/pages/link", { style = "link" }, 10, "no size (server default 10)" },
} do
  local path, o, want_requests, note = t[1], t[2], t[3], t[4]
  case(string.format("http paginate: %s (%s%s) yields ids 1..95 in order in %d requests", path, o.style,
    note and ", " .. note or "", want_requests), function()
    H.reset(base)
    local pages = {}
    o.on_page = function(pos) pages[#pages + 1] = pos end
    expect_1_to_95(ids_of(paginate.records(http, base .. path, o)))
    local reqs = H.requests(base, path)
    eq(#reqs, want_requests, "requests")
    for i, r in ipairs(reqs) do eq(r.status, 200, "status of request " .. i) end
    eq(#pages, want_requests, "on_page calls")
  end)
end

case("http paginate: the zendesk cursor is sent back as page[after] with page[size]", function()
  H.reset(base)
  ids_of(paginate.records(http, base .. "/pages/zendesk", { style = "cursor", items = "tickets", next = "meta.after_cursor",
    has_more = "meta.has_more", cursor_param = "page[after]", size_param = "page[size]", size = 10 }))
  local reqs = H.requests(base, "/pages/zendesk")
  eq(reqs[1].query["page[after]"], nil, "first page has no cursor")
  eq(reqs[1].query["page[size]"], { "10" }, "page[size]")
  check(reqs[2].query["page[after]"] and reqs[2].query["page[after]"][1] ~= "", "second page has no page[after]")
end)

case("http paginate: max_pages = 3 raises a class script error after 3 pages", function()
  H.reset(base)
  local got = {}
  local ok, err = pcall(function()
    for rec in paginate.records(http, base .. "/pages/cursor", { style = "cursor", items = "items", size = 10, max_pages = 3 }) do
      got[#got + 1] = rec.id
    end
  end)
  check(not ok, "no error after %d records", #got)
  check(type(err) == "table", "error is not a table: %s", H.show(err))
  eq(err.class, "script", "class")
  check(tostring(err.message):find("max_pages", 1, true), "message: %s", H.show(err.message))
  eq(#got, 30, "records before the error")
  eq(#H.requests(base, "/pages/cursor"), 3, "requests")
end)

case("http paginate: a failing page raises the request's error (class not_found)", function()
  local ok, err = pcall(function()
    for _ in paginate.records(http, base .. "/pages/nope", { style = "page", items = "data" }) do end
  end)
  check(not ok, "no error")
  eq(type(err) == "table" and err.class, "not_found", "class")
end)

case("http paginate: records are fetched lazily, one page at a time", function()
  H.reset(base)
  local iter = paginate.records(http, base .. "/pages/offset", { style = "offset", items = "results", size = 10 })
  for _ = 1, 10 do iter() end
  eq(#H.requests(base, "/pages/offset"), 1, "requests after 10 records")
  iter()
  eq(#H.requests(base, "/pages/offset"), 2, "requests after 11 records")
end)

H.finish()
