-- contrib.jira: Jira Cloud (platform REST API v3) and Jira Service
-- Management, for integration scripts.
--
--   local jira = require "contrib.jira"
--   local site = jira.connect { base_url = "https://acme.atlassian.net", email = "ferry@acme.com" }
--   extract = site:stream("issues", { jql = "project = SUP", fields = { "summary", "status" } }),
--   load = site:update_issues(),          -- records { issue = "SUP-1", fields = { Tier = "Gold" } }
--
-- Every call raises a table error { class, reason, status, field? } that
-- the runner keeps (README.md, "Error classes"); a reason never holds the
-- token. See contrib/jira/README.md for what each function reads and sends.
local ferry = ferry
local json, time = ferry.json, ferry.time
local type, pairs, ipairs, tostring, tonumber, error, setmetatable, next =
  type, pairs, ipairs, tostring, tonumber, error, setmetatable, next
local format, lower, match, gsub, sub = string.format, string.lower, string.match, string.gsub, string.sub
local concat, sort, floor = table.concat, table.sort, math.floor
local null = json.null

local M = ferry.connector {
  name = "jira",
  system = "Jira Cloud",
  version = "0.1.0",
  api = "Jira Cloud platform REST API v3; Jira Service Management REST API",
  docs = "https://developer.atlassian.com/cloud/jira/platform/rest/v3/",
  auth = "basic: the account's email and an API token; secret JIRA_API_TOKEN",
  streams = { "issues", "organizations" },
  operations = { "update_issues", "picklist", "users", "field_id", "organizations_of",
                 "issue_organizations", "ticket_counts", "webhook_issue" },
}

local Conn = {}
Conn.__index = Conn

local function fail(class, reason, extra)
  local e = { class = class, reason = reason }
  for k, v in pairs(extra or {}) do e[k] = v end
  error(e, 0)
end

local function is_null(v) return v == nil or v == null end

-- Misuse by the script's author: raised where the script called.
-- (depth: how many of the connector's own calls lie between the script and
-- the caller of misuse)
local function misuse(msg, depth) error("contrib.jira: " .. msg, 3 + (depth or 0)) end

---------------------------------------------------------------------------
-- connecting

local CONNECT_KEYS = { base_url = true, email = true, token = true, rate_limit = true, retry = true,
                       timeout = true, concurrency = true, time_zone = true }

-- connect{ base_url, email, token = "JIRA_API_TOKEN", rate_limit = { rate = "10/s", burst = 10 },
--          retry = { attempts = 5, base = "1s", max = "60s" }, timeout = "30s", concurrency = 4,
--          time_zone = nil (read from GET /rest/api/3/myself) }
function M.connect(opts)
  if type(opts) ~= "table" then misuse("connect: expected a table of options") end
  for k in pairs(opts) do
    if not CONNECT_KEYS[k] then misuse(format("connect: unknown option '%s'", tostring(k))) end
  end
  if type(opts.base_url) ~= "string" or not match(opts.base_url, "^https?://[^/]+") then
    misuse("connect: base_url is required: your site, e.g. \"https://acme.atlassian.net\"")
  end
  if type(opts.email) ~= "string" or not match(opts.email, "^[^@%s]+@[^@%s]+$") then
    misuse("connect: email is required: the Atlassian account the API token belongs to")
  end
  local base = gsub(opts.base_url, "/+$", "")
  local self = setmetatable({
    base_url = base, email = opts.email, token_name = opts.token or "JIRA_API_TOKEN",
    concurrency = opts.concurrency or 4, time_zone = opts.time_zone, timeout = opts.timeout or "30s",
    fields_cache = nil, refreshed = setmetatable({}, { __mode = "k" }),
  }, Conn)
  self.http = ferry.http.client {
    base_url = base,
    -- Jira Cloud publishes no fixed number for API-token traffic: its burst
    -- limit is per tenant, endpoint and method, and moves with load. 10/s
    -- stays well under it; a 429's Retry-After does the rest.
    rate_limit = opts.rate_limit or { rate = "10/s", burst = 10 },
    key = "jira:" .. base,
    retry = opts.retry or { attempts = 5, base = "1s", max = "60s" },
    timeout = self.timeout,
    -- X-RateLimit-Reset is an ISO 8601 time (yyyy-MM-ddTHH:mmZ), not a delta
    rate_limit_headers = { remaining = "X-RateLimit-Remaining", reset = "X-RateLimit-Reset", unit = "iso8601" },
  }
  return self
end

---------------------------------------------------------------------------
-- requests and errors

-- Jira's own words from an error body: {"errorMessages": [...], "errors":
-- {field: message}} (the platform API) or {"errorMessage": "..."} (JSM).
-- -> message, first field named (errors sorted by field id for a stable text)
local function vendor_message(body)
  local ok, v = pcall(json.decode, body or "")
  if not ok or type(v) ~= "table" then
    local text = gsub(gsub(body or "", "%s+", " "), "^ ", "")
    return text ~= "" and sub(text, 1, 200) or nil
  end
  local parts, field = {}, nil
  if type(v.errorMessages) == "table" then
    for _, m in ipairs(v.errorMessages) do parts[#parts + 1] = tostring(m) end
  end
  if type(v.errors) == "table" then
    local keys = {}
    for k in pairs(v.errors) do keys[#keys + 1] = tostring(k) end
    sort(keys)
    for _, k in ipairs(keys) do
      parts[#parts + 1] = k .. ": " .. tostring(v.errors[k])
      field = field or k
    end
  end
  if type(v.errorMessage) == "string" then parts[#parts + 1] = v.errorMessage end
  if #parts == 0 then return nil end
  return concat(parts, "; "), field
end
M.vendor_message = vendor_message

-- The table error for a failed call, from ferry.http's error.
local function error_of(method, path, err)
  local msg, field = vendor_message(err.body)
  local status = err.status
  local reason
  if status and status > 0 then
    reason = format("Jira %s %s: HTTP %d%s", method, path, status, msg and (": " .. msg) or "")
  else
    reason = format("Jira %s %s: %s", method, path, tostring(err.message))
  end
  if err.attempts and err.attempts > 1 then reason = reason .. format(" (after %d attempts)", err.attempts) end
  return { class = err.class or "transient", reason = reason, status = status, field = field }
end

function Conn:auth(ctx)
  return { basic = { self.email, ctx:secret(self.token_name) } }
end

-- conn:request(ctx, method, path, opts) -> the decoded JSON body (nil for
-- an empty answer such as 204), or raises { class, reason, status, field }.
-- opts as ferry.http's (query, json, ...); a POST that only reads (search)
-- passes idempotent = true so it is retried like a GET.
function Conn:request(ctx, method, path, opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.auth = self:auth(ctx)
  local res, err = self.http:request(method, path, o)
  if not res then error(error_of(method, path, err), 0) end
  if res.status == 204 or res.body == "" then return nil end
  local body, jerr = res:json()
  if body == nil then
    fail("schema_drift", format("Jira %s %s: the answer is not JSON: %s", method, path,
      tostring(jerr and jerr.message or jerr)), { status = res.status })
  end
  return body
end

---------------------------------------------------------------------------
-- time: JQL dates have minute precision and are read in the caller's zone

-- The caller's time zone (GET /rest/api/3/myself), once per connection.
function Conn:zone(ctx)
  if not self.time_zone then
    local me = self:request(ctx, "GET", "/rest/api/3/myself")
    local tz = type(me) == "table" and me.timeZone
    if type(tz) ~= "string" or tz == "" then
      fail("schema_drift", "Jira GET /rest/api/3/myself: no timeZone in the answer")
    end
    self.time_zone = tz
  end
  return self.time_zone
end

local function fields_of(iso)  -- "2026-12-05T10:15:30..." -> y, mo, d, h, mi
  local y, mo, d, h, mi = match(iso, "^(%d+)-(%d+)-(%d+)T(%d+):(%d+)")
  return tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi)
end

-- "yyyy-MM-dd HH:mm" as the wall clock in `tz` reads at or before `epoch`.
-- Never later than the instant: a minute too early only reads more (and
-- the stream drops what it has seen); too late would lose edits.
local function jql_minute(epoch, tz)
  epoch = floor(epoch / 60) * 60
  local y, mo, d, h, mi = fields_of(time.format(epoch, 0))
  local as_local = time.from_local(y, mo, d, h, mi, 0, tz, "earlier")
  local offset = as_local and floor((epoch - as_local) / 60) or 0      -- minutes east of UTC
  for _ = 1, 3 do
    local s = time.format(epoch, offset)
    local ly, lmo, ld, lh, lmi = fields_of(s)
    local back = time.from_local(ly, lmo, ld, lh, lmi, 0, tz, "earlier")
    if back and back <= epoch then return format("%04d-%02d-%02d %02d:%02d", ly, lmo, ld, lh, lmi) end
    offset = offset - 60                                      -- a DST edge: step an hour earlier
  end
  return (gsub(sub(time.format(epoch - 86400, 0), 1, 16), "T", " "))   -- give up safe: a day early
end
M.jql_minute = jql_minute

-- Jira's timestamp (2026-12-05T10:15:30.123+0100) -> integer milliseconds
local function millis(s)
  if type(s) ~= "string" then return nil end
  local e = time.parse(s)
  return e and floor(e * 1000 + 0.5)
end

---------------------------------------------------------------------------
-- streams

local DEFAULT_FIELDS = { "summary", "status", "priority", "labels", "issuetype", "project",
                         "reporter", "assignee", "created", "updated" }

local function quote_jql(s) return '"' .. gsub(s, '(["\\])', "\\%1") .. '"' end

-- issues: POST /rest/api/3/search/jql, paged with nextPageToken, ordered
-- by updated; the cursor is { at = ms, ids = { ids updated at that ms },
-- updated = ISO } (see the README: overlap and dedupe).
local function issues_stream(self, opts)
  local jql = opts.jql
  if jql ~= nil and (type(jql) ~= "string" or match(lower(jql), "order%s+by")) then
    misuse("stream issues: jql: a JQL string without ORDER BY (the stream orders by updated)", 1)
  end
  local fields = {}
  local has_updated = false
  for _, f in ipairs(opts.fields or DEFAULT_FIELDS) do
    fields[#fields + 1] = f
    if f == "updated" or f == "*all" or f == "*navigable" then has_updated = true end
  end
  if not has_updated then fields[#fields + 1] = "updated" end
  local page_size = opts.page_size or 100
  local overlap = opts.overlap or "5m"
  overlap = type(overlap) == "number" and overlap or time.duration(overlap)
  if not overlap then misuse("stream issues: overlap: a duration such as \"5m\"", 1) end
  local since = opts.since
  if since ~= nil then
    since = time.parse(since)
    if not since then misuse("stream issues: since: an ISO 8601 time such as \"2026-01-01T00:00:00Z\"", 1) end
  end

  return function(ctx)
    local cur = ctx.cursor
    local from_ms, seen = nil, {}
    if type(cur) == "table" and tonumber(cur.at) then
      from_ms = tonumber(cur.at)
      for _, id in ipairs(cur.ids or {}) do seen[tostring(id)] = true end
    elseif since then
      from_ms = floor(since * 1000)
    end
    local clauses = {}
    if jql and match(jql, "%S") then clauses[#clauses + 1] = "(" .. jql .. ")" end
    if from_ms then
      local zone = self:zone(ctx)
      clauses[#clauses + 1] = "updated >= " .. quote_jql(jql_minute(from_ms / 1000 - overlap, zone))
    elseif #clauses == 0 then
      -- the enhanced search refuses an unbounded query: "everything" needs a restriction
      clauses[1] = 'updated >= "1970-01-01 00:00"'
    end
    local q = concat(clauses, " AND ") .. (#clauses > 0 and " " or "") .. "ORDER BY updated ASC, key ASC"
    local max_ms, max_ids = from_ms, {}
    for id in pairs(seen) do max_ids[#max_ids + 1] = id end
    local token, tokens_seen = nil, {}
    repeat
      local body = self:request(ctx, "POST", "/rest/api/3/search/jql",
        { json = { jql = q, fields = fields, maxResults = page_size, nextPageToken = token }, idempotent = true })
      if type(body) ~= "table" or type(body.issues) ~= "table" then
        fail("schema_drift", "Jira POST /rest/api/3/search/jql: no issues list in the answer")
      end
      for _, issue in ipairs(body.issues) do
        local f = type(issue) == "table" and issue.fields
        local at = type(f) == "table" and millis(f.updated)
        if not at then
          fail("schema_drift", format("Jira issue %s: no readable 'updated' (%s)", tostring(issue and issue.key),
            tostring(f and f.updated)))
        end
        local id = tostring(issue.id)
        -- dedupe the overlap: older than the cursor, or as old and seen there
        if not (from_ms and (at < from_ms or (at == from_ms and seen[id]))) then
          ctx:emit(issue)
          if not max_ms or at > max_ms then max_ms, max_ids = at, { id }
          elseif at == max_ms then max_ids[#max_ids + 1] = id end
        end
      end
      if max_ms then
        sort(max_ids)
        ctx:checkpoint({ at = max_ms, ids = max_ids, updated = time.format(max_ms / 1000, 0, 3) })
      end
      token = not is_null(body.nextPageToken) and body.isLast ~= true and body.nextPageToken or nil
      if token then
        if tokens_seen[token] then fail("schema_drift", "Jira search: a nextPageToken came back twice") end
        tokens_seen[token] = true
      end
    until not token
  end
end

-- organizations: GET /rest/servicedeskapi/organization, start/limit until
-- isLastPage; a full read each run (the API has no change date).
local function organizations_stream(self, opts)
  local limit = opts.page_size or 50
  return function(ctx)
    local start = 0
    while true do
      local body = self:request(ctx, "GET", "/rest/servicedeskapi/organization", { query = { start = start, limit = limit } })
      if type(body) ~= "table" or type(body.values) ~= "table" then
        fail("schema_drift", "Jira GET /rest/servicedeskapi/organization: no values list in the answer")
      end
      for _, o in ipairs(body.values) do ctx:emit({ id = o.id, name = o.name }) end
      if body.isLastPage ~= false or #body.values == 0 then break end
      start = start + #body.values
    end
  end
end

local STREAM_KEYS = {
  issues = { jql = true, fields = true, page_size = true, overlap = true, since = true },
  organizations = { page_size = true },
}

function Conn:stream(name, opts)
  opts = opts or {}
  local keys = STREAM_KEYS[name]
  if not keys then misuse(format("stream: no stream '%s' (streams: issues, organizations)", tostring(name))) end
  for k in pairs(opts) do
    if not keys[k] then misuse(format("stream %s: unknown option '%s'", name, tostring(k))) end
  end
  -- not tail calls: misuse() counts this frame to point at the script's line
  local extract = (name == "issues" and issues_stream or organizations_stream)(self, opts)
  return extract
end

---------------------------------------------------------------------------
-- fields and their options

-- All fields (GET /rest/api/3/field), kept for the connection; fetched
-- again once when a name is not found (a field created since).
function Conn:fields(ctx, refresh)
  if refresh or not self.fields_cache then
    local list = self:request(ctx, "GET", "/rest/api/3/field")
    if type(list) ~= "table" then fail("schema_drift", "Jira GET /rest/api/3/field: not a list") end
    self.fields_cache = list
  end
  return self.fields_cache
end

local function find_field(list, ref)
  local l, hits = lower(ref), {}
  for _, f in ipairs(list) do
    if f.id == ref or f.key == ref then return f end
  end
  for _, f in ipairs(list) do
    if type(f.name) == "string" and lower(f.name) == l then hits[#hits + 1] = f end
  end
  if #hits > 1 then
    local ids = {}
    for i, f in ipairs(hits) do ids[i] = f.id end
    return nil, format("Jira has %d fields named %q (%s): give the id", #hits, ref, concat(ids, ", "))
  end
  return hits[1]
end

-- conn:field(ctx, "Tier" | "customfield_10050") -> the field's description
-- {id, name, schema, ...}; raises not_found when Jira has none, validation
-- when the name is shared by two fields.
function Conn:field(ctx, ref)
  local f, why = find_field(self:fields(ctx), ref)
  if not f and not why and not self.refreshed[ctx] then
    self.refreshed[ctx] = true                       -- once a run: a batch of bad names costs one fetch
    f, why = find_field(self:fields(ctx, true), ref)
  end
  if why then fail("validation", why) end
  if not f then fail("not_found", format("Jira has no field %q (GET /rest/api/3/field)", ref)) end
  return f
end

function Conn:field_id(ctx, ref) return self:field(ctx, ref).id end

-- Pages of a Jira PageBean (startAt/maxResults/isLast/values).
local function each_page(self, ctx, path, size, fn)
  local start = 0
  while true do
    local body = self:request(ctx, "GET", path, { query = { startAt = start, maxResults = size } })
    if type(body) ~= "table" or type(body.values) ~= "table" then
      fail("schema_drift", format("Jira GET %s: no values list in the answer", path))
    end
    for _, v in ipairs(body.values) do fn(v) end
    if body.isLast ~= false or #body.values == 0 then return end
    start = start + #body.values
  end
end

-- The enabled options of a select field, in Jira's order, from the context
-- named in opts.context (id or name), else the global one, else the first.
function Conn:field_options(ctx, ref, context)
  local f = self:field(ctx, ref)
  local contexts = {}
  each_page(self, ctx, "/rest/api/3/field/" .. f.id .. "/context", 50, function(c) contexts[#contexts + 1] = c end)
  local chosen
  for _, c in ipairs(contexts) do
    if context and (tostring(c.id) == tostring(context) or c.name == context) then chosen = c end
  end
  if context and not chosen then
    fail("not_found", format("Jira field %s (%s) has no context %q", f.name, f.id, tostring(context)))
  end
  if not chosen then
    for _, c in ipairs(contexts) do if c.isGlobalContext == true then chosen = chosen or c end end
  end
  chosen = chosen or contexts[1]
  if not chosen then
    fail("schema_drift", format("Jira field %s (%s) has no context: is it a select field?", f.name, f.id))
  end
  local options = {}
  each_page(self, ctx, "/rest/api/3/field/" .. f.id .. "/context/" .. chosen.id .. "/option", 100, function(o)
    if o.disabled ~= true and type(o.value) == "string" then options[#options + 1] = o.value end
  end)
  return options
end

local PICKLIST_KEYS = { name = true, context = true, ttl = true, synonyms = true, default = true, on_unknown = true }

-- conn:picklist("Tier" | "customfield_10050", { name, context, ttl, synonyms, default, on_unknown })
-- -> a ferry.picklist fed by the field's enabled options.
function Conn:picklist(ref, opts)
  opts = opts or {}
  if type(ref) ~= "string" then misuse("picklist: the field's name or id, e.g. \"Tier\"") end
  for k in pairs(opts) do
    if not PICKLIST_KEYS[k] then misuse(format("picklist: unknown option '%s'", tostring(k))) end
  end
  local conn, context = self, opts.context
  return ferry.picklist {
    name = opts.name or ("jira_" .. lower(gsub(ref, "[^%w_.-]+", "_"))),
    fetch = function(ctx) return conn:field_options(ctx, ref, context) end,
    ttl = opts.ttl, synonyms = opts.synonyms, default = opts.default, on_unknown = opts.on_unknown,
  }
end

---------------------------------------------------------------------------
-- users by email

local USERS_KEYS = { name = true, ttl = true, refresh_on_miss = true, account_types = true, include_inactive = true }

-- conn:users{ name = "jira_users", ttl, refresh_on_miss, account_types = { "atlassian" },
--             include_inactive = false } -> a ferry.lookup email -> accountId.
-- A user whose privacy settings hide the email has no emailAddress in the
-- answer: that user is never a match (see the README).
function Conn:users(opts)
  opts = opts or {}
  for k in pairs(opts) do
    if not USERS_KEYS[k] then misuse(format("users: unknown option '%s'", tostring(k))) end
  end
  local types = {}
  for _, t in ipairs(opts.account_types or { "atlassian" }) do types[t] = true end
  local conn = self
  return ferry.lookup {
    name = opts.name or "jira_users",
    normalize = "email",
    ttl = opts.ttl, refresh_on_miss = opts.refresh_on_miss,
    fetch = function(ctx, add)
      local start, size, hidden = 0, 100, 0
      while true do
        local page = conn:request(ctx, "GET", "/rest/api/3/users/search", { query = { startAt = start, maxResults = size } })
        if type(page) ~= "table" then fail("schema_drift", "Jira GET /rest/api/3/users/search: not a list") end
        -- a page may hold fewer than maxResults while more follow (Jira
        -- filters after paging): only an empty page ends the list
        if #page == 0 then break end
        for _, u in ipairs(page) do
          if types[u.accountType or "atlassian"] and (opts.include_inactive or u.active ~= false) then
            if is_null(u.emailAddress) or u.emailAddress == "" then hidden = hidden + 1
            else add(u.emailAddress, u.accountId) end
          end
        end
        start = start + #page
      end
      if hidden > 0 then
        ctx.log.info("jira users without a visible email (privacy settings): never a match", { users = hidden })
      end
    end,
  }
end

---------------------------------------------------------------------------
-- writing issues

-- The value Jira wants for `v` in field `f`: a select field takes
-- {"value": "Gold"}, a multi-select a list of them; anything else as given.
local function field_value(f, v)
  local schema = type(f.schema) == "table" and f.schema or {}
  if schema.type == "option" and type(v) == "string" then return { value = v } end
  if schema.type == "array" and schema.items == "option" and type(v) == "table" then
    local out = {}
    for i, x in ipairs(v) do out[i] = type(x) == "string" and { value = x } or x end
    return out
  end
  return v
end

local UPDATE_KEYS = { concurrency = true, notify = true }

-- conn:update_issues{ concurrency = 4, notify = nil } -> load(batch, ctx).
-- Each record: { issue = "SUP-1" (key or id), fields = { Tier = "Gold",
-- customfield_10051 = 82, ... } } (names or ids). One PUT per issue, at
-- most `concurrency` at once; a refused issue is that record's failure
-- with Jira's message naming the field, the others are written.
function Conn:update_issues(opts)
  opts = opts or {}
  for k in pairs(opts) do
    if not UPDATE_KEYS[k] then misuse(format("update_issues: unknown option '%s'", tostring(k))) end
  end
  local conn = self
  local concurrency = opts.concurrency or self.concurrency
  local query = opts.notify == false and { notifyUsers = "false" } or nil
  return function(batch, ctx)
    local failures, requests, index = {}, {}, {}
    local auth = conn:auth(ctx)
    for i, r in ipairs(batch) do
      local key = type(r) == "table" and r.issue
      if type(key) == "number" then key = format("%d", key) end
      if type(key) ~= "string" or type(r.fields) ~= "table" then
        failures[i] = { class = "validation", reason = "jira update: a record needs issue (a key or id) and fields (a table)" }
      elseif not (match(key, "^%u[%u%d_]*%-%d+$") or match(key, "^%d+$")) then
        -- it goes into the URL's path: nothing but a key (SUP-12) or an id
        failures[i] = { class = "validation", reason = format("jira update: issue %q is not an issue key or id", key) }
      else
        local fields, bad = {}, nil
        for name, v in pairs(r.fields) do
          local ok, f = pcall(conn.field, conn, ctx, name)
          if not ok then
            if type(f) == "table" and (f.class == "not_found" or f.class == "validation") then
              bad = bad or format("issue %s: %s", key, f.reason)
            else
              error(f, 0)                            -- the field list could not be read: the whole batch
            end
          else
            fields[f.id] = field_value(f, v)
          end
        end
        if bad then
          failures[i] = { class = "validation", reason = bad }
        else
          requests[#requests + 1] = { "PUT", "/rest/api/3/issue/" .. tostring(key),
                                      { json = { fields = fields }, auth = auth, query = query } }
          index[#requests] = i
        end
      end
    end
    if #requests > 0 then
      for j, out in ipairs(conn.http:all(requests, { concurrency = concurrency })) do
        local i = index[j]
        local key = tostring(batch[i].issue)
        if out.err then
          local e = error_of("PUT", "/rest/api/3/issue/" .. tostring(key), out.err)
          local st = out.err.status
          if st == 400 or st == 422 or st == 404 then
            -- this issue's own problem: a field Jira refused (400) or an
            -- issue deleted or hidden from the account (404)
            failures[i] = { class = "validation", reason = format("issue %s: %s", key, e.reason) }
          else
            error(e, 0)                             -- auth, permission, transient: the integration's problem
          end
        end
      end
    end
    if next(failures) then return failures end
  end
end

---------------------------------------------------------------------------
-- Jira Service Management organisations, and counts per account

-- The names of the JSM organisations a customer belongs to
-- (GET /rest/servicedeskapi/organization?accountId=...).
function Conn:organizations_of(ctx, account_id)
  local names, start = {}, 0
  while true do
    local body = self:request(ctx, "GET", "/rest/servicedeskapi/organization",
      { query = { accountId = account_id, start = start, limit = 50 } })
    if type(body) ~= "table" or type(body.values) ~= "table" then
      fail("schema_drift", "Jira GET /rest/servicedeskapi/organization: no values list in the answer")
    end
    for _, o in ipairs(body.values) do names[#names + 1] = o.name end
    if body.isLastPage ~= false or #body.values == 0 then break end
    start = start + #body.values
  end
  return names
end

-- The account names a field's value holds: JSM's Organizations field (a
-- list of {id, name}), a select ({value}), a user ({accountId}) or text.
local function names_in(v)
  local out = {}
  local function one(x)
    if type(x) == "string" then out[#out + 1] = x
    elseif type(x) == "table" then
      local s = x.name or x.value or x.accountId
      if type(s) == "string" then out[#out + 1] = s end
    end
  end
  if type(v) == "table" and v[1] ~= nil then for _, x in ipairs(v) do one(x) end else one(v) end
  return out
end
M.names_in = names_in

-- The account names on an issue, from the field `ref` (name or id;
-- default "Organizations", JSM's field).
function Conn:issue_organizations(ctx, issue, ref)
  local id = self:field_id(ctx, ref or "Organizations")
  local f = type(issue) == "table" and type(issue.fields) == "table" and issue.fields or {}
  return names_in(f[id])
end

local ESCALATED_KEYS = { priority = true, labels = true, status = true }

-- conn:ticket_counts(ctx, { jql, by = "Organizations", open = "statusCategory != Done",
--                           escalated = { priority = {...} } | { labels = {...} } | { status = {...} } })
-- -> { [account] = { open = N, escalated = M } } from one paged search of the
-- open issues (only the fields counted are read).
function Conn:ticket_counts(ctx, opts)
  opts = opts or {}
  local esc = opts.escalated or { priority = { "Highest" } }
  for k in pairs(esc) do
    if not ESCALATED_KEYS[k] then misuse(format("ticket_counts: escalated.%s: priority, labels or status", tostring(k))) end
  end
  local sets = {}
  for k, list in pairs(esc) do
    sets[k] = {}
    for _, v in ipairs(list) do sets[k][lower(v)] = true end
  end
  local by = self:field_id(ctx, opts.by or "Organizations")
  local clauses = { opts.open or "statusCategory != Done" }
  if opts.jql then clauses[#clauses + 1] = "(" .. opts.jql .. ")" end
  local q = concat(clauses, " AND ") .. " ORDER BY key ASC"
  local counts, token = {}, nil
  repeat
    local body = self:request(ctx, "POST", "/rest/api/3/search/jql",
      { json = { jql = q, fields = { by, "priority", "labels", "status" }, maxResults = 100, nextPageToken = token },
        idempotent = true })
    if type(body) ~= "table" or type(body.issues) ~= "table" then
      fail("schema_drift", "Jira POST /rest/api/3/search/jql: no issues list in the answer")
    end
    for _, issue in ipairs(body.issues) do
      local f = issue.fields or {}
      local escalated = false
      if sets.priority and type(f.priority) == "table" and sets.priority[lower(f.priority.name or "")] then escalated = true end
      if sets.status and type(f.status) == "table" and sets.status[lower(f.status.name or "")] then escalated = true end
      if sets.labels and type(f.labels) == "table" then
        for _, l in ipairs(f.labels) do if sets.labels[lower(l)] then escalated = true end end
      end
      for _, name in ipairs(names_in(f[by])) do
        local c = counts[name] or { open = 0, escalated = 0 }
        c.open = c.open + 1
        if escalated then c.escalated = c.escalated + 1 end
        counts[name] = c
      end
    end
    token = not is_null(body.nextPageToken) and body.isLast ~= true and body.nextPageToken or nil
  until not token
  return counts
end

---------------------------------------------------------------------------
-- webhooks

local EVENTS = { ["jira:issue_created"] = "created", ["jira:issue_updated"] = "updated" }

-- M.webhook_issue(body) -> a plain event, or nil and a reason.
-- body: the webhook's decoded JSON (ctx event .json) or its text.
--   { event = "created" | "updated", webhook_event, timestamp (ms), key, id,
--     issue (Jira's issue object), user (the accountId who acted, or nil),
--     changes = { { field, field_id, from, to, from_id, to_id }, ... } }
function M.webhook_issue(body)
  if type(body) == "string" then
    local ok, v = pcall(json.decode, body)
    if not ok or type(v) ~= "table" then return nil, "not JSON" end
    body = v
  end
  if type(body) ~= "table" then return nil, "not a JSON object" end
  local kind = body.webhookEvent
  if type(kind) ~= "string" then return nil, "no webhookEvent: not a Jira webhook" end
  if not EVENTS[kind] then return nil, format("webhookEvent %s is not an issue created or updated event", kind) end
  local issue = body.issue
  if type(issue) ~= "table" or type(issue.key) ~= "string" or type(issue.fields) ~= "table" then
    return nil, format("%s without an issue (key and fields)", kind)
  end
  local changes = {}
  local cl = body.changelog
  if type(cl) == "table" and type(cl.items) == "table" then
    for _, it in ipairs(cl.items) do
      local function s(v) return not is_null(v) and v or nil end
      changes[#changes + 1] = { field = s(it.field), field_id = s(it.fieldId), from = s(it.fromString),
                                to = s(it.toString), from_id = s(it.from), to_id = s(it.to) }
    end
  end
  local user = type(body.user) == "table" and not is_null(body.user.accountId) and body.user.accountId or nil
  return {
    event = EVENTS[kind], webhook_event = kind, timestamp = tonumber(body.timestamp),
    key = issue.key, id = tostring(issue.id), issue = issue, user = user, changes = changes,
  }
end

return M
