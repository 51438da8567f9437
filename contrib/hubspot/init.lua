-- contrib.hubspot: HubSpot CRM (CRM objects v3) for ferry scripts.
--
--   local hubspot = require "contrib.hubspot"
--   local hs = hubspot.connect { token = "HUBSPOT_TOKEN" }
--   extract = hs:stream("companies", { properties = { "name", "domain", "hubspot_owner_id" } }),
--   load = hs:upsert("companies", { id_property = "domain" }),
--   local tiers = hs:picklist("companies", "customer_tier")
--   local owners = hs:owners()            -- ferry.lookup: email -> owner id
--
-- README.md beside this file says what each reads and writes, the cursor,
-- the rate limits and the error classes.
local ferry = ferry
local json, time = ferry.json, ferry.time
local type, pairs, ipairs, tostring, tonumber, error, setmetatable, pcall =
  type, pairs, ipairs, tostring, tonumber, error, setmetatable, pcall
local format, match, gsub, sub, find = string.format, string.match, string.gsub, string.sub, string.find
local concat, sort = table.concat, table.sort
local floor, mtype = math.floor, math.type
local null = json.null

local M = ferry.connector {
  name = "hubspot",
  system = "HubSpot CRM",
  version = "0.1.0",
  api = "CRM objects v3",
  docs = "https://developers.hubspot.com/docs/api/crm/understanding-the-crm",
  auth = "private app access token (Bearer); secret HUBSPOT_TOKEN",
  description = "companies, contacts, deals (incremental by last-modified search) and owners; "
    .. "batch upsert by a unique property; property options as picklists; owners by email",
  streams = { "companies", "contacts", "deals", "tickets", "owners" },
  operations = { "upsert", "picklist", "owners", "owner_by_email", "request" },
}

M.BASE_URL = "https://api.hubapi.com"

-- The property each object keeps its last change in: contacts predate the
-- hs_ prefix (HubSpot's search guide), every other object uses hs_lastmodifieddate.
M.LASTMOD = {
  contacts = "lastmodifieddate", companies = "hs_lastmodifieddate",
  deals = "hs_lastmodifieddate", tickets = "hs_lastmodifieddate",
}

M.SEARCH_MAX = 200          -- results per search page
M.SEARCH_TOTAL = 10000      -- results one search can page through
M.BATCH_MAX = 100           -- inputs per batch upsert
M.OWNERS_PAGE = 500         -- owners per page

---------------------------------------------------------------------------
-- errors

-- The text of JSON string escapes, on one line.
local ESC = { n = " ", r = " ", t = " ", ['"'] = '"', ["\\"] = "\\", ["/"] = "/" }
local function unescape(s) return (gsub(s, "\\(.)", function(c) return ESC[c] or c end)) end

-- The value of the JSON string member `key` in text that may be cut short:
-- up to its closing quote, or to the end of what there is.
local function string_member(s, key)
  local _, e = find(s, '"' .. key .. '"%s*:%s*"')
  if not e then return nil end
  local i, n, out = e + 1, #s, {}
  while i <= n do
    local c = sub(s, i, i)
    if c == "\\" then out[#out + 1] = sub(s, i, i + 1); i = i + 2
    elseif c == '"' then break
    else out[#out + 1] = c; i = i + 1 end
  end
  return unescape(concat(out))
end

-- HubSpot's error body, as far as it can be read: its message, category,
-- the property it names and what it says of it. err.body holds at most
-- the body's first 512 bytes, so a long body is cut: then the members are
-- picked out of the text.
local function vendor_error(text)
  if type(text) ~= "string" or text == "" then return {} end
  local ok, b = pcall(json.decode, text)
  local out = {}
  if ok and type(b) == "table" then
    out.message, out.category, out.policy = b.message, b.category or b.errorType, b.policyName
    for _, e in ipairs(type(b.errors) == "table" and b.errors or {}) do
      local ctx = type(e) == "table" and e.context
      local p = type(ctx) == "table" and type(ctx.propertyName) == "table" and ctx.propertyName[1]
      if p then
        out.field, out.detail = p, e.message
        break
      end
      if type(e) == "table" and type(e["in"]) == "string" then out.field, out.detail = e["in"], e.message end
    end
  else
    out.message = string_member(text, "message") or sub(text, 1, 200)
    out.category = match(text, '"category"%s*:%s*"([%w_]+)"') or match(text, '"errorType"%s*:%s*"([%w_]+)"')
    out.policy = match(text, '"policyName"%s*:%s*"([%w_]+)"')
  end
  -- 'Property values were not valid: [{"isValid":false,"message":"...",
  -- "error":"INVALID_OPTION","name":"industry"}]': the property and what
  -- is wrong with it are in the message's own JSON
  if type(out.message) == "string" and find(out.message, "[", 1, true) then
    local list = sub(out.message, (find(out.message, "[", 1, true)))
    if find(list, '"isValid"', 1, true) then
      out.field = out.field or string_member(list, "name")
      local detail = string_member(list, "message")
      if detail and not out.detail then
        -- an option list can be long: the value and the verdict are enough
        out.detail = match(detail, "^(.- allowed options)") or sub(detail, 1, 200)
      end
    end
  end
  return out
end
M.vendor_error = vendor_error

local CLASS_OF = { [400] = "validation", [401] = "auth", [403] = "permission", [404] = "not_found",
                   [409] = "validation", [422] = "validation", [429] = "transient" }

-- A ferry.http error -> the table error scripts and the runner see:
-- { class, reason, status, field? }. The reason is HubSpot's own words,
-- never the token (the URL holds none; the body is HubSpot's).
local function raise_http(method, path, err)
  local status = err.status
  local v = vendor_error(err.body)
  local class = status and (CLASS_OF[status] or (status >= 500 and "transient") or "validation") or err.class
  local what = format("HubSpot %s %s", method, path)
  local reason
  if status == 429 then
    reason = format("%s: 429 rate limited (%s): %s", what, v.policy or v.category or "RATE_LIMIT",
      v.message or "too many requests")
  elseif status then
    reason = format("%s: %d %s: %s", what, status, v.category or "error", v.detail or v.message or tostring(err.message))
    if v.field and v.detail then reason = format("%s (property %s)", reason, v.field) end
  else
    reason = format("%s: %s", what, tostring(err.message or err))
  end
  if err.attempts and err.attempts > 1 then reason = reason .. format(" (after %d attempts)", err.attempts) end
  error({ class = class, reason = reason, status = status, field = v.field, category = v.category }, 0)
end

---------------------------------------------------------------------------
-- the connection

local Conn = {}
Conn.__index = Conn

local CONNECT_KEYS = { base_url = true, token = true, rate_limit = true, search_rate_limit = true,
                       retry = true, timeout = true }

-- connect { base_url, token = "HUBSPOT_TOKEN", rate_limit, search_rate_limit, retry, timeout }
function M.connect(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("hubspot.connect: expects a table of options", 2) end
  for k in pairs(opts) do
    if not CONNECT_KEYS[k] then error(format("hubspot.connect: unknown option '%s'", tostring(k)), 2) end
  end
  local base = opts.base_url or M.BASE_URL
  local retry = opts.retry or { attempts = 5, base = "1s", max = "60s" }
  local self = setmetatable({ base_url = base, token = opts.token or "HUBSPOT_TOKEN",
                              timeout = opts.timeout or "30s" }, Conn)
  -- Private apps: 100 requests per 10 s on Free/Starter (150-190 on
  -- Professional/Enterprise): 90 per 10 s leaves room for another app.
  -- HubSpot sends no Retry-After; its headers say when the window ends.
  self.http = ferry.http.client {
    base_url = base, key = "hubspot:" .. base, retry = retry, timeout = self.timeout,
    rate_limit = opts.rate_limit or { rate = "90/10s", burst = 10 },
    rate_limit_headers = { remaining = "X-HubSpot-RateLimit-Remaining",
                           reset = "X-HubSpot-RateLimit-Interval-Milliseconds", unit = "ms" },
  }
  -- The search endpoints are exempt from the ten-secondly limit and have
  -- their own: 5 requests per second per token, with no rate-limit headers
  -- on their answers. 4/s leaves room.
  self.search_http = ferry.http.client {
    base_url = base, key = "hubspot-search:" .. base, retry = retry, timeout = self.timeout,
    rate_limit = opts.search_rate_limit or { rate = "4/s", burst = 1 },
  }
  return self
end

-- request(ctx, method, path, { query, json, search = bool }) -> the decoded
-- body (nil for 204), or raises { class, reason, status, field }.
function Conn:request(ctx, method, path, opts)
  opts = opts or {}
  local client = opts.search and self.search_http or self.http
  local res, err = client:request(method, path, {
    query = opts.query, json = opts.json, auth = { bearer = ctx:secret(self.token) },
    -- a search reads, an upsert by a unique property lands once however
    -- often it is sent: both may be retried
    idempotent = method == "GET" or opts.search or opts.idempotent,
  })
  if not res then raise_http(method, path, err) end
  if res.status == 204 or res.body == "" then return nil, res.status end
  local body, jerr = res:json()
  if type(body) ~= "table" then
    error({ class = "schema_drift", status = res.status, reason = format("HubSpot %s %s: the answer is not JSON: %s",
      method, path, tostring(jerr and jerr.message or jerr)) }, 0)
  end
  return body, res.status
end

local function drift(what, fmt, ...)
  error({ class = "schema_drift", reason = format("HubSpot %s: " .. fmt, what, ...) }, 0)
end

---------------------------------------------------------------------------
-- streams

-- ISO 8601 -> epoch milliseconds (HubSpot's datetime filters take them).
local function to_ms(v)
  if type(v) ~= "string" then return nil end
  if match(v, "^%d+$") then return tonumber(v) end
  local e = time.parse(v)
  return e and floor(e * 1000 + 0.5)
end
M.to_ms = to_ms

-- A HubSpot object as a record: its properties, with id, createdAt,
-- updatedAt and archived beside them (HubSpot nests the properties only to
-- keep them apart from those four, which no property is named).
local function flatten(r)
  local out = {}
  if type(r.properties) == "table" then
    for k, v in pairs(r.properties) do out[k] = v end
  end
  out.id, out.createdAt, out.updatedAt, out.archived = r.id, r.createdAt, r.updatedAt, r.archived
  return out
end
M.flatten = flatten

local function keys_of(set)
  local l = {}
  for k in pairs(set) do l[#l + 1] = k end
  sort(l)
  return l
end

-- The search stream. Every page is a new search, "last modified >= the
-- newest time read so far", sorted ascending: a record changed during the
-- read moves to the end and is read there, where paging a single search
-- with `after` would shift the later pages and skip one; and no search
-- comes near HubSpot's 10,000-result cap. Records at that boundary time
-- already read are skipped by id. Only when a whole page shares one time
-- does the next page page on (`after`) within the same search.
--
-- The cursor: { since = epoch ms, ids = { ids read at exactly that time } }.
local function search_stream(conn, object, opts)
  local lastmod = M.LASTMOD[object]
  local limit = opts.page_size or M.SEARCH_MAX
  local props = opts.properties
  if props then
    local l, has = {}, false
    for i, p in ipairs(props) do
      l[i] = p
      if p == lastmod then has = true end
    end
    if not has then l[#l + 1] = lastmod end
    props = l
  end
  local path = "/crm/v3/objects/" .. object .. "/search"
  return function(ctx)
    local cursor = ctx.cursor
    local since, seen
    if type(cursor) == "table" and cursor.since then
      since, seen = tonumber(cursor.since), {}
      for _, id in ipairs(cursor.ids or {}) do seen[tostring(id)] = true end
    elseif opts.since then
      since, seen = to_ms(opts.since) or tonumber(opts.since), {}
      if not since then error(format("hubspot stream %s: since %q is not an ISO 8601 time", object, tostring(opts.since)), 0) end
    end
    local offset = 0
    while true do
      local groups = {}
      if since then
        groups[1] = { filters = { { propertyName = lastmod, operator = "GTE", value = format("%d", since) } } }
      end
      local body = conn:request(ctx, "POST", path, { search = true, json = {
        filterGroups = json.array(groups),
        sorts = { { propertyName = lastmod, direction = "ASCENDING" } },
        properties = props or json.array({}),
        limit = limit, after = tostring(offset),
      } })
      local results = body.results
      if type(results) ~= "table" then drift(path, "the answer has no results list") end
      local advanced = false
      for _, r in ipairs(results) do
        local id = tostring(r.id)
        local ms = to_ms(type(r.properties) == "table" and r.properties[lastmod] or nil)
        if ms and since and ms < since then
          drift(path, "results not in ascending %s order (%s before %d)", lastmod, tostring(r.properties[lastmod]), since)
        end
        if not (ms and ms == since and seen[id]) then
          ctx:emit(flatten(r))
          if ms and ms ~= since then since, seen, advanced = ms, {}, true end
          if ms then seen[id] = true end
        end
      end
      if since then ctx:checkpoint({ since = since, ids = keys_of(seen) }) end
      local nxt = type(body.paging) == "table" and type(body.paging.next) == "table" and body.paging.next.after
      if not nxt or #results == 0 then break end
      if advanced then
        offset = 0
      else
        -- a page all at one time: page on through that time's records
        offset = offset + #results
        if offset >= M.SEARCH_TOTAL then
          error({ class = "transient", reason = format("HubSpot %s: more than %d %s share the last-modified time %d; "
            .. "a search cannot page past them", path, M.SEARCH_TOTAL, object, since) }, 0)
        end
      end
    end
  end
end

-- The owners: all of them, every run (the API has no change filter).
local function each_owner(conn, ctx, fn, query)
  local after
  repeat
    local q = { limit = M.OWNERS_PAGE, after = after, archived = "false" }
    for k, v in pairs(query or {}) do q[k] = v end
    local body = conn:request(ctx, "GET", "/crm/v3/owners/", { query = q })
    if type(body.results) ~= "table" then drift("GET /crm/v3/owners/", "the answer has no results list") end
    for _, o in ipairs(body.results) do fn(o) end
    after = type(body.paging) == "table" and type(body.paging.next) == "table" and body.paging.next.after or nil
  until not after
end

-- stream(name, { properties, since, page_size }) -> extract(ctx)
function Conn:stream(name, opts)
  opts = opts or {}
  if name == "owners" then
    return function(ctx) each_owner(self, ctx, function(o) ctx:emit(o) end) end
  end
  if not M.LASTMOD[name] then
    error(format("hubspot: no stream '%s' (companies, contacts, deals, tickets, owners)", tostring(name)), 2)
  end
  if opts.page_size and (opts.page_size < 1 or opts.page_size > M.SEARCH_MAX) then
    error(format("hubspot: page_size: 1 to %d", M.SEARCH_MAX), 2)
  end
  return search_stream(self, name, opts)
end

---------------------------------------------------------------------------
-- batch upsert

-- A record's value as HubSpot wants it: a string ("" clears a property).
local function text(v)
  if v == nil or v == null then return "" end
  local t = type(v)
  if t == "string" then return v end
  if t == "boolean" then return v and "true" or "false" end
  if t == "number" then
    if mtype(v) == "float" and v == floor(v) and v > -2^53 and v < 2^53 then return format("%d", v) end
    return tostring(v)
  end
  return nil
end

-- One request for inputs[list[1..n]]; on a 400 for several, each half
-- again, so a bad input ends alone and costs only itself.
local function send_chunk(conn, ctx, path, inputs, list, failures)
  local ok, err = pcall(conn.request, conn, ctx, "POST", path, { json = { inputs = (function()
    local l = {}
    for i, k in ipairs(list) do l[i] = inputs[k] end
    return l
  end)() }, idempotent = true })
  if ok then return err end
  if type(err) ~= "table" or err.class ~= "validation" then error(err, 0) end
  if #list == 1 then
    local field, reason = err.field, err.reason
    if not field then
      -- a long message may be cut before the property's name: the input
      -- whose value the message starts with names it
      for k, v in pairs(inputs[list[1]].properties) do
        if v ~= "" and find(reason, ": " .. v .. " was not", 1, true) then field = k end
      end
      if field then reason = format("%s (property %s)", reason, field) end
    end
    failures[list[1]] = { class = "validation", reason = reason, field = field }
    return
  end
  local mid = #list // 2
  local a, b = {}, {}
  for i, k in ipairs(list) do
    if i <= mid then a[#a + 1] = k else b[#b + 1] = k end
  end
  send_chunk(conn, ctx, path, inputs, a, failures)
  send_chunk(conn, ctx, path, inputs, b, failures)
end

-- upsert(object, { id_property, properties = { list } | nil }) -> load(batch, ctx)
-- Each record's fields are the properties written (only those listed, when
-- `properties` is given); record[id_property] says which object it is.
function Conn:upsert(object, opts)
  if type(object) ~= "string" or not match(object, "^[%w_]+$") then
    error("hubspot upsert: the object type, e.g. \"companies\"", 2)
  end
  opts = opts or {}
  local idp = opts.id_property
  if type(idp) ~= "string" then error("hubspot upsert: id_property: a unique property's name, e.g. \"domain\"", 2) end
  local only = opts.properties
  local path = "/crm/v3/objects/" .. object .. "/batch/upsert"
  return function(batch, ctx)
    local inputs, failures, todo = {}, {}, {}
    for i, rec in ipairs(batch) do
      local id = text(rec[idp])
      if id == nil or id == "" then
        failures[i] = { class = "validation", field = idp,
                        reason = format("HubSpot upsert %s: the record has no %s (the id property)", object, idp) }
      else
        local props, bad = {}, nil
        local function put(k, v)
          local s = text(v)
          if s == nil then bad = k else props[k] = s end
        end
        if only then
          for _, k in ipairs(only) do put(k, rec[k]) end
        else
          for k, v in pairs(rec) do if type(k) == "string" then put(k, v) end end
        end
        if bad then
          failures[i] = { class = "validation", field = bad,
                          reason = format("HubSpot upsert %s: property %s is a %s; HubSpot takes text, numbers and booleans",
                            object, bad, type(rec[bad])) }
        else
          inputs[i] = { idProperty = idp, id = id, properties = props }
          todo[#todo + 1] = i
        end
      end
    end
    for s = 1, #todo, M.BATCH_MAX do
      local list = {}
      for k = s, math.min(s + M.BATCH_MAX - 1, #todo) do list[#list + 1] = todo[k] end
      local body = send_chunk(self, ctx, path, inputs, list, failures)
      -- 207 multi-status: errors[] name the inputs by their id values
      if type(body) == "table" and type(body.errors) == "table" then
        for _, e in ipairs(body.errors) do
          local ids = type(e.context) == "table" and (e.context.ids or e.context.id) or {}
          for _, bad in ipairs(type(ids) == "table" and ids or {}) do
            for _, k in ipairs(list) do
              if inputs[k].id == tostring(bad) and not failures[k] then
                failures[k] = { class = "validation",
                                reason = format("HubSpot POST %s: %s: %s", path, tostring(e.category), tostring(e.message)) }
              end
            end
          end
        end
      end
    end
    if next(failures) then return failures end
    return nil
  end
end

---------------------------------------------------------------------------
-- picklists and owners

-- picklist(object, property, { name, ttl, synonyms, default, hidden = false })
-- -> ferry.picklist of the property's option values (what a write takes;
-- labels differ: map them with synonyms). Hidden options are left out
-- unless hidden = true: HubSpot hides an option to retire it.
function Conn:picklist(object, property, opts)
  opts = opts or {}
  local path = format("/crm/v3/properties/%s/%s", object, property)
  return ferry.picklist {
    name = opts.name or (object .. "." .. property),
    ttl = opts.ttl or "1h", synonyms = opts.synonyms, default = opts.default,
    fetch = function(ctx)
      local p = self:request(ctx, "GET", path)
      if type(p.options) ~= "table" then drift(path, "the property has no options list") end
      local list = {}
      for _, o in ipairs(p.options) do
        if type(o) == "table" and type(o.value) == "string" and (opts.hidden or o.hidden ~= true) then
          list[#list + 1] = o.value
        end
      end
      if #list == 0 then
        error({ class = "validation", field = property, reason = format(
          "HubSpot property %s of %s has no options (type %s): not a picklist", property, object, tostring(p.type)) }, 0)
      end
      return list
    end,
  }
end

-- owners({ name, ttl, by = "email" | "id" }) -> ferry.lookup, fetched
-- whole (one request per 500 owners, whatever the run's size):
-- by "email" (the default), an owner's email -> its id (a string), to
-- write hubspot_owner_id; by "id", an owner id -> its email, to match
-- HubSpot's owners with another system's users.
function Conn:owners(opts)
  opts = opts or {}
  local by_id = opts.by == "id"
  if opts.by ~= nil and opts.by ~= "id" and opts.by ~= "email" then
    error("hubspot owners: by: \"email\" or \"id\"", 2)
  end
  return ferry.lookup {
    name = opts.name or (by_id and "hubspot_owner_emails" or "hubspot_owners"),
    normalize = by_id and "trim" or "email", ttl = opts.ttl or "1h",
    refresh_on_miss = opts.refresh_on_miss,
    fetch = function(ctx, add)
      each_owner(self, ctx, function(o)
        if type(o.email) == "string" and o.email ~= "" then
          if by_id then add(tostring(o.id), o.email) else add(o.email, o.id) end
        end
      end)
    end,
  }
end

-- owner_by_email(ctx, email) -> the owner (a table) or nil: one request,
-- for a handler that meets one email (a webhook), not for a run over many.
function Conn:owner_by_email(ctx, email)
  local found
  each_owner(self, ctx, function(o) found = found or o end, { email = email })
  return found
end

return M
