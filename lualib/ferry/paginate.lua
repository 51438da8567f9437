-- ferry.paginate: iterate the records of a paginated API, page by page,
-- fetching the next page only when the records of the last one are used.
--
--   local paginate = require "ferry.paginate"
--   for rec in paginate.records(ctx.http, "https://api.example.com/v2/contacts", {
--       style = "cursor", items = "results", next = "paging.next.after", cursor_param = "after",
--       query = { limit = 100 }, ctx = ctx }) do
--     ctx:emit(rec)
--   end
--
-- Styles:
--   page    page number (page_param "page", size_param "per_page", start 1);
--           ends on a short page, or at total_pages when `total_pages` names it
--   offset  offset/limit (offset_param "offset", limit_param "limit"); ends on a short page
--   cursor  a cursor in the body (`next` path, e.g. "next_cursor", "paging.next.after",
--           "meta.after_cursor"; optional `has_more` path, e.g. "meta.has_more"), sent back
--           as cursor_param; ends when the cursor is missing/null or has_more is false
--   link    RFC 8288 Link: <...>; rel="next" headers; ends when there is none
-- Common options: items (path to the record list in the body; nil = the body
-- is the list), size (page size), query, headers, max_pages (default 10000),
-- ctx (checkpoint after each page: { style, page, offset, cursor, url }),
-- on_page(info) (called after each page).
--
-- A failed request or a page that is not what the options describe raises
-- an error with a class (see ferry.http), which fails the extract.
local ferry = ferry
local type, tostring, tonumber, error, setmetatable = type, tostring, tonumber, error, setmetatable
local gmatch, match, format, find = string.gmatch, string.match, string.format, string.find
local pairs, ipairs = pairs, ipairs
local err_mt = require("ferry.http").error_mt

local _M = {}

-- Follow a dotted path ("paging.next.after") into a decoded body.
local function dig(v, path)
  if path == nil then return v end
  for key in gmatch(path, "[^.]+") do
    if type(v) ~= "table" then return nil end
    local n = tonumber(key)
    v = v[key] ~= nil and v[key] or (n and v[n]) or nil
  end
  if v == ferry.json.null then return nil end
  return v
end
_M.dig = dig

-- The URL of the Link header entry with rel="next", if any.
local function link_next(res)
  for _, value in ipairs(res:header_all("link")) do
    for entry in gmatch(value .. ",", "%s*(<[^>]*>[^,]*),") do
      local url, params = match(entry, "^<([^>]*)>(.*)$")
      local rel = params and (match(params, 'rel%s*=%s*"([^"]*)"') or match(params, "rel%s*=%s*([^;%s]+)"))
      if url and rel and find(" " .. rel .. " ", " next ", 1, true) then return url end
    end
  end
  return nil
end
_M.link_next = link_next

local function fail(class, msg)
  error(setmetatable({ class = class, message = msg }, err_mt), 3)
end

local function fetch(http, url, o, query)
  local q = {}
  for k, v in pairs(o.query or {}) do q[k] = v end
  for k, v in pairs(query or {}) do q[k] = v end
  local res, err = http:get(url, { query = q, headers = o.headers, timeout = o.timeout })
  if not res then error(err, 3) end
  local body, jerr = res:json()
  if body == nil then error(jerr, 3) end
  return res, body
end

function _M.records(http, url, o)
  o = o or {}
  local style = o.style or "page"
  local size = o.size
  local max_pages = o.max_pages or 10000
  local items, idx, pages = nil, 0, 0
  local done = false
  local page = o.start or 1
  local offset = o.start_offset or 0
  local cursor = o.cursor
  local next_url = url
  local seen = {}

  local function next_page()
    if pages >= max_pages then
      fail("script", format("pagination stopped after max_pages = %d pages of %s (raise max_pages if the source is really this large)", max_pages, url))
    end
    local res, body, query = nil, nil, {}
    if style == "page" then
      query[o.page_param or "page"] = page
      if size then query[o.size_param or "per_page"] = size end
      res, body = fetch(http, url, o, query)
    elseif style == "offset" then
      query[o.offset_param or "offset"] = offset
      query[o.limit_param or "limit"] = size or 100
      res, body = fetch(http, url, o, query)
    elseif style == "cursor" then
      if cursor ~= nil then query[o.cursor_param or "cursor"] = cursor end
      if size then query[o.size_param or "limit"] = size end
      res, body = fetch(http, url, o, query)
    elseif style == "link" then
      res, body = fetch(http, next_url, o, pages == 0 and (size and { [o.size_param or "per_page"] = size }) or {})
    else
      error(format("ferry.paginate: unknown style '%s' (use page, offset, cursor or link)", tostring(style)), 3)
    end
    pages = pages + 1
    local list = dig(body, o.items)
    if type(list) ~= "table" then
      fail("schema_drift", format("page %d of %s has no list at '%s'", pages, url, tostring(o.items or "(body)")))
    end
    local n = #list
    local position
    if style == "page" then
      local total = o.total_pages and tonumber(dig(body, o.total_pages))
      done = n == 0 or (total and page >= total) or (size ~= nil and n < size)
      page = page + 1
      position = { style = style, page = page }
    elseif style == "offset" then
      offset = offset + n
      local total = o.total and tonumber(dig(body, o.total))
      done = n == 0 or (total and offset >= total) or n < (size or 100)
      position = { style = style, offset = offset }
    elseif style == "cursor" then
      local nxt = dig(body, o.next or "next_cursor")
      local more = o.has_more and dig(body, o.has_more)
      done = nxt == nil or nxt == "" or (o.has_more ~= nil and not more)
      if not done then
        if seen[nxt] then fail("schema_drift", format("%s returned cursor %s twice; stopping", url, tostring(nxt))) end
        seen[nxt] = true
      end
      cursor = nxt
      position = { style = style, cursor = cursor }
    else
      next_url = link_next(res)
      done = next_url == nil
      if not done then
        if seen[next_url] then fail("schema_drift", format("%s: Link rel=next repeats %s; stopping", url, next_url)) end
        seen[next_url] = true
      end
      position = { style = style, url = next_url }
    end
    return list, position
  end

  local pending_position
  return function()
    while true do
      if items and idx < #items then
        idx = idx + 1
        return items[idx], pages
      end
      -- every record of the last page has been handed out: checkpoint it
      if pending_position then
        if o.ctx then o.ctx:checkpoint(pending_position) end
        if o.on_page then o.on_page(pending_position) end
        pending_position = nil
      end
      if done then return nil end
      items, pending_position = next_page()
      idx = 0
    end
  end
end

return _M
