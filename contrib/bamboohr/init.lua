-- contrib.bamboohr: BambooHR's API (employees, custom reports, list fields,
-- time off) for ferry scripts. README.md beside it says what each call
-- reads and writes; this file keeps to the shape every contrib connector has:
--
--   local bamboohr = require "contrib.bamboohr"
--   local hr = bamboohr.connect { company = "acme" }        -- at the top level
--   extract = hr:stream("employees")                         -- changed since the last run, checkpointed
--   extract = hr:stream("leave_days")                        -- approved time off, a row per person and day
--   extract = hr:stream("capacity")                          -- headcount and FTE per month and department
--   load = hr:update_employees {}                            -- field values onto employees
--   local ids = hr:employees()                               -- work email -> employee id
--
-- Every call raises a table error { class, reason, status, field? } the
-- runner keeps; a reason never holds the API key.
local ferry = ferry
local type, pairs, ipairs, tostring, tonumber, error, setmetatable, next, pcall =
  type, pairs, ipairs, tostring, tonumber, error, setmetatable, next, pcall
local format, gsub, match, lower, sub = string.format, string.gsub, string.match, string.lower, string.sub
local concat, sort = table.concat, table.sort
local json, time = ferry.json, ferry.time

local M = ferry.connector {
  name = "bamboohr",
  system = "BambooHR",
  version = "0.1.0",
  api = "REST API v1 (/api/v1)",
  docs = "https://documentation.bamboohr.com/reference",
  auth = "HTTP Basic, the API key as the user name (any password); secret BAMBOOHR_API_KEY",
  streams = { "employees", "directory", "report", "time_off", "leave_days", "whos_out", "capacity" },
  operations = { "report", "employee", "employees", "time_off", "update_employees", "picklist" },
}

local Conn = {}
Conn.__index = Conn

-- BambooHR documents no number, only that it throttles requests it deems
-- too frequent (429 with Retry-After since September 2026, 503 before):
-- a modest pace that a nightly or hourly sync never notices.
local DEFAULT_RATE = "5/s"
local BATCH = 100                 -- employee ids per custom report (the API takes any list)
local EPOCH = "1970-01-01T00:00:00+00:00"

-- The fields every employee record carries (custom reports take up to 400;
-- one the key may not see is silently left out by BambooHR).
M.FIELDS = { "displayName", "firstName", "lastName", "workEmail", "department", "division", "jobTitle",
  "status", "hireDate", "terminationDate", "location", "supervisor", "supervisorId", "supervisorEId",
  "supervisorEmail", "standardHoursPerWeek", "employmentHistoryStatus", "lastChanged" }

local function fail(class, reason, extra)
  local e = { class = class, reason = reason }
  for k, v in pairs(extra or {}) do e[k] = v end
  error(e, 0)
end

local function null(v) return v == nil or v == json.null end

local function base_url_of(opts)
  if opts.base_url then return (gsub(opts.base_url, "/+$", "")) end
  if type(opts.company) ~= "string" or not match(opts.company, "^[%w%-]+$") then
    error("contrib.bamboohr: connect needs company (the companyDomain in https://COMPANY.bamboohr.com) "
      .. "or base_url", 3)
  end
  return "https://" .. opts.company .. ".bamboohr.com/api"
end

local CONNECT_KEYS = { base_url = true, company = true, api_key = true, rate_limit = true, retry = true,
  timeout = true, concurrency = true, fields = true, full_time_hours = true, batch = true }

-- connect { company | base_url, api_key = "BAMBOOHR_API_KEY", rate_limit = "5/s",
--           retry = { attempts = 5, base = "1s", max = "60s" }, timeout = "60s",
--           concurrency = 4, fields = { extra field ids }, full_time_hours = 40, batch = 100 }
function M.connect(opts)
  opts = opts or {}
  for k in pairs(opts) do
    if not CONNECT_KEYS[k] then error(format("contrib.bamboohr: connect: unknown option '%s'", tostring(k)), 2) end
  end
  if opts.fields ~= nil and type(opts.fields) ~= "table" then
    error("contrib.bamboohr: connect: fields is a list of BambooHR field ids", 2)
  end
  local fth = opts.full_time_hours or 40
  if type(fth) ~= "number" or fth <= 0 then
    error("contrib.bamboohr: connect: full_time_hours is a number of hours a week above 0", 2)
  end
  local base = base_url_of(opts)
  local fields, seen = {}, {}
  for _, list in ipairs { M.FIELDS, opts.fields or {} } do
    for _, f in ipairs(list) do
      if not seen[f] then seen[f] = true; fields[#fields + 1] = f end
    end
  end
  local self = setmetatable({
    base_url = base,
    secret_name = opts.api_key or "BAMBOOHR_API_KEY",
    timeout = opts.timeout or "60s",
    concurrency = opts.concurrency or 4,
    fields = fields,
    full_time_hours = fth,
    batch = opts.batch or BATCH,
  }, Conn)
  self.http = ferry.http.client {
    base_url = base,
    key = "bamboohr:" .. base,
    -- the default answer is XML: ask for JSON on every request
    headers = { Accept = "application/json" },
    rate_limit = opts.rate_limit or DEFAULT_RATE,
    -- 429 and 503 are retried, each after its Retry-After
    retry = opts.retry or { attempts = 5, base = "1s", max = "60s" },
  }
  return self
end

---------------------------------------------------------------------------
-- requests and errors

-- BambooHR's own words: the X-BambooHR-Error-Message header (its error
-- bodies are empty or XML), else a short excerpt of the body.
local function vendor_message(err)
  -- err.headers: the raw header lines, the status line not always first
  local raw = "\n" .. (type(err.headers) == "string" and err.headers or "")
  local i = lower(raw):find("\nx%-bamboohr%-error%-message:")
  if i then
    local m = match(sub(raw, i + 1), "^[^:]*:%s*([^\r\n]*)")
    if m and m ~= "" then return m end
  end
  local body = err.body
  if type(body) == "string" and body ~= "" and not body:find("^%s*<") then
    return (gsub(body:sub(1, 200), "%s+", " "))
  end
  return nil
end

local REASON = { [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found",
  [409] = "Conflict", [429] = "Too Many Requests", [500] = "Internal Server Error", [503] = "Service Unavailable" }
local CLASS = { [400] = "validation", [401] = "auth", [403] = "permission", [404] = "not_found",
  [409] = "validation", [422] = "validation", [429] = "transient" }

-- The table error for a failed request.
local function http_error(method, path, err)
  local status = err.status
  local class = status and (CLASS[status] or (status >= 500 and "transient")) or err.class or "transient"
  local msg = vendor_message(err) or (status and REASON[status]) or err.message or "failed"
  if class == "auth" then
    msg = msg .. " (check the API key: HTTP Basic with the key as the user name, and the company domain)"
  elseif class == "permission" and not msg:find("permission") then
    msg = msg .. " (the API key's user lacks access to this)"
  elseif class == "transient" and (status == 429 or status == 503) then
    msg = msg .. " (throttled by BambooHR; retried after its Retry-After)"
  end
  return { class = class, status = status,
           reason = format("bamboohr %s %s: %s%s", method, path, status and (status .. " ") or "", msg) }
end

function Conn:auth(ctx)
  return { basic = { ctx:secret(self.secret_name), "x" } }
end

-- request(ctx, method, path, opts) -> decoded JSON body (nil when empty),
-- or raises { class, reason, status }. path: "/v1/...". opts: query, json,
-- idempotent (a POST that reads, such as a custom report).
function Conn:request(ctx, method, path, opts)
  opts = opts or {}
  local res, err = self.http:request(method, path, {
    query = opts.query, json = opts.json, auth = self:auth(ctx), timeout = self.timeout,
    idempotent = opts.idempotent,
  })
  if not res then error(http_error(method, path, err), 0) end
  if res.body == "" then return nil end
  local body, jerr = res:json()
  if body == nil then
    fail("schema_drift", format("bamboohr %s %s: the answer is not JSON (%s): %s", method, path,
      tostring(res.headers["Content-Type"]), tostring(jerr and jerr.message)), { status = res.status })
  end
  return body
end

---------------------------------------------------------------------------
-- employees: shape, custom reports, changed since

local DATE_FIELDS = { hireDate = true, terminationDate = true }

-- An employee as scripts get it: BambooHR's field values with "" and
-- "0000-00-00" (its empty date) as nil, the id a string,
-- standardHoursPerWeek a number, and `fte` added (see README: capacity).
function Conn:shape(e)
  if type(e) ~= "table" or null(e.id) then
    fail("schema_drift", "bamboohr: an employee without an id: " .. tostring(json.encode(e)):sub(1, 200))
  end
  local out = {}
  for k, v in pairs(e) do
    if not null(v) and v ~= "" and not (DATE_FIELDS[k] and v == "0000-00-00") then out[k] = v end
  end
  out.id = tostring(e.id)
  local h = tonumber(out.standardHoursPerWeek)
  out.standardHoursPerWeek = h
  if h then
    out.fte = math.floor(h / self.full_time_hours * 1000 + 0.5) / 1000
  elseif type(out.employmentHistoryStatus) == "string" and lower(out.employmentHistoryStatus):find("full") then
    out.fte = 1.0
  end
  return out
end

-- report(ctx, fields, opts) -> the rows of a custom report (POST
-- /v1/reports/custom), shaped: every employee, Active and Inactive, with
-- `fields` (nil: the connection's). opts: ids (employee ids: only these),
-- since (ISO time: only employees changed since), only_current (default true).
function Conn:report(ctx, fields, opts)
  opts = opts or {}
  fields = fields or self.fields
  if type(fields) ~= "table" or #fields == 0 or #fields > 400 then
    error("contrib.bamboohr: report: a list of 1 to 400 field ids", 2)
  end
  local filters
  if opts.ids then
    local ids = {}
    for i, id in ipairs(opts.ids) do ids[i] = tonumber(id) or id end
    filters = { employeeIds = json.array(ids) }
  end
  if opts.since then
    filters = filters or {}
    filters.lastChanged = { value = opts.since, includeNull = "no" }
  end
  local body = self:request(ctx, "POST", "/v1/reports/custom", {
    query = { format = "json", onlyCurrent = opts.only_current == false and "false" or nil },
    json = { title = "ferry", fields = json.array(fields), filters = filters },
    idempotent = true,                                   -- a read
  })
  if type(body) ~= "table" or type(body.employees) ~= "table" then
    fail("schema_drift", "bamboohr POST /v1/reports/custom: no employees list in the answer")
  end
  local out = {}
  for i, e in ipairs(body.employees) do out[i] = self:shape(e) end
  return out
end

-- changed(ctx, since) -> the entries of GET /v1/employees/changed since
-- `since`, each { id, action, lastChanged, t (epoch) }, oldest change
-- first (ties by id), and the answer's `latest`.
function Conn:changed(ctx, since)
  local body = self:request(ctx, "GET", "/v1/employees/changed", { query = { since = since } })
  if type(body) ~= "table" or type(body.employees) ~= "table" then
    fail("schema_drift", "bamboohr GET /v1/employees/changed: no employees map in the answer")
  end
  local list = {}
  for key, c in pairs(body.employees) do
    local lc = type(c) == "table" and c.lastChanged
    local t = type(lc) == "string" and time.parse(lc)
    if not t then
      fail("schema_drift", format("bamboohr GET /v1/employees/changed: employee %s without a valid lastChanged",
        tostring(key)))
    end
    list[#list + 1] = { id = tostring(null(c.id) and key or c.id), action = c.action, lastChanged = lc, t = t }
  end
  sort(list, function(a, b)
    if a.t ~= b.t then return a.t < b.t end
    return (tonumber(a.id) or 0) < (tonumber(b.id) or 0) or
      (tonumber(a.id) == tonumber(b.id) and a.id < b.id)
  end)
  return list, body.latest
end

local function before_or_at(e, t, id)
  if e.t ~= t then return e.t < t end
  local a, b = tonumber(e.id), tonumber(id)
  if a and b then return a <= b end
  return e.id <= id
end

-- The employees stream: GET /v1/employees/changed since the cursor, then
-- the changed employees' fields by custom report, `batch` ids a report,
-- oldest change first. The cursor, checkpointed after each batch:
--   { since = ISO, at = { ids } }                          between runs: the newest
--        lastChanged seen and the ids changed exactly then (BambooHR's `since`
--        may include them again; they are skipped unless changed since)
--   { since, at, done = ISO, done_id = ID }                in the middle (resumable)
function Conn:employees_extract(opts)
  local conn = self
  local fields = opts.fields or self.fields
  local batch = opts.batch or self.batch
  local deleted = opts.deleted ~= false
  return function(ctx)
    local cur = type(ctx.cursor) == "table" and ctx.cursor or {}
    local since = cur.since or opts.since or EPOCH
    local since_t = time.parse(since)
    if not since_t then
      fail("script", format("contrib.bamboohr: employees: since %q is not an ISO 8601 time", tostring(since)))
    end
    local at = {}
    for _, id in ipairs(type(cur.at) == "table" and cur.at or {}) do at[tostring(id)] = true end
    local done_t = cur.done and time.parse(cur.done)
    local list = conn:changed(ctx, since)
    -- the newest change and who changed then, for the final cursor
    local top, top_t, top_ids = since, since_t, {}
    for id in pairs(at) do top_ids[#top_ids + 1] = id end
    local todo = {}
    for _, c in ipairs(list) do
      if c.t > top_t then top, top_t, top_ids = c.lastChanged, c.t, {} end
      if c.t == top_t and not (c.t == since_t and at[c.id]) then top_ids[#top_ids + 1] = c.id end
      local skip = (c.t <= since_t and at[c.id]) or (done_t and before_or_at(c, done_t, cur.done_id))
      if not skip then todo[#todo + 1] = c end
    end
    for i = 1, #todo, batch do
      local ids, by_id, last = {}, {}, nil
      for j = i, math.min(i + batch - 1, #todo) do
        local c = todo[j]
        last = c
        if c.action ~= "Deleted" then ids[#ids + 1] = c.id end
      end
      if #ids > 0 then
        for _, e in ipairs(conn:report(ctx, fields, { ids = ids })) do by_id[e.id] = e end
      end
      for j = i, math.min(i + batch - 1, #todo) do
        local c = todo[j]
        local e = by_id[c.id]
        if c.action == "Deleted" then
          if deleted then ctx:emit({ id = c.id, deleted = true, lastChanged = c.lastChanged }) end
        elseif e then
          e.lastChanged = c.lastChanged
          e.action = c.action
          ctx:emit(e)
        else
          -- changed, but not in the report: deleted since, or hidden from this key
          ctx.log.warn("bamboohr: a changed employee is not in the custom report (deleted since, or not "
            .. "visible to this API key)", { id = c.id })
        end
      end
      if i + batch <= #todo then
        ctx:checkpoint({ since = since, at = json.array(cur.at or {}), done = last.lastChanged, done_id = last.id })
      end
    end
    sort(top_ids)
    ctx:checkpoint({ since = top, at = json.array(top_ids) })
  end
end

---------------------------------------------------------------------------
-- time off and capacity

local function ymd(t) return (time.format(t)):sub(1, 10) end
local function today() return ymd(time.now()) end
local function days_from_today(n) return ymd(time.now() + n * 86400) end

local function check_date(v, what)
  if v ~= nil and (type(v) ~= "string" or not match(v, "^%d%d%d%d%-%d%d%-%d%d$")) then
    error(format("contrib.bamboohr: %s: a date as YYYY-MM-DD", what), 3)
  end
end

-- The window of a time-off read: opts.start / opts["end"] (YYYY-MM-DD), or
-- days_back (default 31) and days_ahead (default 92) around today.
local function window(opts)
  return opts.start or days_from_today(-(opts.days_back or 31)), opts["end"] or days_from_today(opts.days_ahead or 92)
end

-- emails(ctx, ids) -> { id = workEmail } for the employee ids given (one report).
function Conn:emails(ctx, ids)
  local list, seen = {}, {}
  for _, id in ipairs(ids) do
    id = tostring(id)
    if not seen[id] then seen[id] = true; list[#list + 1] = id end
  end
  local out = {}
  if #list == 0 then return out end
  for _, e in ipairs(self:report(ctx, { "workEmail" }, { ids = list })) do out[e.id] = e.workEmail end
  return out
end

-- time_off(ctx, opts) -> the time off requests overlapping the window
-- (GET /v1/time_off/requests), shaped: { id, employeeId, name, email,
-- start, end, status, type, type_id, amount, unit, dates = { [YYYY-MM-DD] = amount } }.
-- opts: start, end, days_back, days_ahead (see window), status ("approved",
-- the default; a comma list; "all"), employee_id, email (default true: one
-- report for the requesters' work emails).
function Conn:time_off(ctx, opts)
  opts = opts or {}
  local start, stop = window(opts)
  local status = opts.status or "approved"
  local body = self:request(ctx, "GET", "/v1/time_off/requests", { query = {
    start = start, ["end"] = stop, status = status ~= "all" and status or nil, employeeId = opts.employee_id } })
  if type(body) ~= "table" then
    fail("schema_drift", "bamboohr GET /v1/time_off/requests: not a list")
  end
  local out, ids = {}, {}
  for i, r in ipairs(body) do
    if type(r) ~= "table" or null(r.id) or null(r.employeeId) or type(r.start) ~= "string" then
      fail("schema_drift", "bamboohr GET /v1/time_off/requests: a request without id, employeeId or start")
    end
    local st, ty, am = type(r.status) == "table" and r.status or {}, type(r.type) == "table" and r.type or {},
      type(r.amount) == "table" and r.amount or {}
    local dates = {}
    if type(r.dates) == "table" then
      for d, a in pairs(r.dates) do dates[d] = tonumber(a) end
    end
    out[i] = { id = tostring(r.id), employeeId = tostring(r.employeeId), name = not null(r.name) and r.name or nil,
      start = r.start, ["end"] = r["end"], status = not null(st.status) and st.status or nil,
      type = not null(ty.name) and ty.name or nil, type_id = not null(ty.id) and tostring(ty.id) or nil,
      amount = tonumber(am.amount), unit = not null(am.unit) and am.unit or nil, dates = dates }
    ids[#ids + 1] = out[i].employeeId
  end
  if opts.email ~= false then
    local emails = self:emails(ctx, ids)
    for _, r in ipairs(out) do r.email = emails[r.employeeId] end
  end
  return out
end

-- Every day of a request, from its `dates` map (the daily amounts), or
-- every day from start to end when BambooHR sent no map.
local function days_of(r)
  local out = {}
  if next(r.dates) then
    for d, a in pairs(r.dates) do out[#out + 1] = { d, a } end
  else
    local t, stop = time.parse(r.start .. "T00:00:00Z"), time.parse((r["end"] or r.start) .. "T00:00:00Z")
    while t and stop and t <= stop do out[#out + 1] = { ymd(t), nil }; t = t + 86400 end
  end
  sort(out, function(a, b) return a[1] < b[1] end)
  return out
end

-- The months from `from` to `to` (YYYY-MM), each { month, first, last }.
local function months(from, to)
  local y, m = match(from, "^(%d%d%d%d)%-(%d%d)$")
  local ty, tm = match(to, "^(%d%d%d%d)%-(%d%d)$")
  y, m, ty, tm = tonumber(y), tonumber(m), tonumber(ty), tonumber(tm)
  local out = {}
  while y * 12 + m <= ty * 12 + tm do
    local ny, nm = m == 12 and y + 1 or y, m == 12 and 1 or m + 1
    local last = ymd(time.parse(format("%04d-%02d-01T00:00:00Z", ny, nm)) - 86400)
    out[#out + 1] = { month = format("%04d-%02d", y, m), first = format("%04d-%02d-01", y, m), last = last }
    y, m = ny, nm
    if #out > 1200 then break end
  end
  return out
end

-- capacity rows: per month and department, who was employed at the
-- month's end (hireDate on or before it, no terminationDate before it):
-- headcount, fte (their current standard hours over full_time_hours),
-- hours_per_week, and the month's hires and leavers.
function Conn:capacity(ctx, opts)
  opts = opts or {}
  local now = today()
  local to = opts.to or now:sub(1, 7)
  local from = opts.from
  if not from then
    local y, m = tonumber(to:sub(1, 4)), tonumber(to:sub(6, 7))
    m = m - 11
    if m < 1 then m, y = m + 12, y - 1 end
    from = format("%04d-%02d", y, m)
  end
  local people = self:report(ctx, { "department", "status", "hireDate", "terminationDate",
    "standardHoursPerWeek", "employmentHistoryStatus" })
  local rows, order = {}, {}
  local function row(month, dept)
    local k = month .. "/" .. dept
    if not rows[k] then
      rows[k] = { key = k, month = month, department = dept, headcount = 0, fte = 0, hours_per_week = 0,
                  hires = 0, leavers = 0 }
      order[#order + 1] = k
    end
    return rows[k]
  end
  for _, mo in ipairs(months(from, to)) do
    for _, e in ipairs(people) do
      local dept = e.department or "(none)"
      local hired, left = e.hireDate, e.terminationDate
      if hired and hired <= mo.last and (not left or left >= mo.last) then
        local r = row(mo.month, dept)
        r.headcount = r.headcount + 1
        r.fte = r.fte + (e.fte or 0)
        r.hours_per_week = r.hours_per_week + (e.standardHoursPerWeek or 0)
      end
      if hired and hired >= mo.first and hired <= mo.last then
        local r = row(mo.month, dept); r.hires = r.hires + 1
      end
      if left and left >= mo.first and left <= mo.last then
        local r = row(mo.month, dept); r.leavers = r.leavers + 1
      end
    end
  end
  sort(order)
  local out = {}
  for i, k in ipairs(order) do
    local r = rows[k]
    r.fte = math.floor(r.fte * 1000 + 0.5) / 1000
    out[i] = r
  end
  return out
end

---------------------------------------------------------------------------
-- streams

local STREAMS = { employees = true, directory = true, report = true, time_off = true, leave_days = true,
  whos_out = true, capacity = true }

-- stream(name, opts) -> extract(ctx).
--   employees   changed since the cursor (see employees_extract); opts: fields,
--               since (first run; default: every employee), batch, deleted (default true)
--   directory   GET /v1/employees/directory: Active employees, read in full each run
--   report      a custom report of every employee (Active and Inactive), read in full
--               each run; opts: fields (default: connect's), since (only employees changed since)
--   time_off    requests in a window around today (see time_off), read in full each run
--   leave_days  the same, one record per employee and day off: { key, request_id,
--               employee_id, email, name, date, amount, unit, type, status }
--   whos_out    GET /v1/time_off/whos_out: approved time off and holidays; opts: start, end
--   capacity    per month and department: headcount, fte, hours_per_week, hires, leavers;
--               opts: from, to (YYYY-MM; default the last 12 months)
function Conn:stream(name, opts)
  if not STREAMS[name] then
    error(format("contrib.bamboohr: unknown stream '%s' (employees, directory, report, time_off, "
      .. "leave_days, whos_out, capacity)", tostring(name)), 2)
  end
  opts = opts or {}
  check_date(opts.start, "start")
  check_date(opts["end"], "end")
  for _, k in ipairs { "from", "to" } do
    if opts[k] ~= nil and (type(opts[k]) ~= "string" or not match(opts[k], "^%d%d%d%d%-%d%d$")) then
      error(format("contrib.bamboohr: %s: a month as YYYY-MM", k), 2)
    end
  end
  local conn = self
  if name == "employees" then return self:employees_extract(opts) end
  if name == "directory" then
    return function(ctx)
      local ok, body = pcall(conn.request, conn, ctx, "GET", "/v1/employees/directory")
      if not ok then
        if type(body) == "table" and body.status == 404 then return end     -- an empty directory
        error(body, 0)
      end
      if type(body) ~= "table" or type(body.employees) ~= "table" then
        fail("schema_drift", "bamboohr GET /v1/employees/directory: no employees list in the answer")
      end
      for _, e in ipairs(body.employees) do ctx:emit(conn:shape(e)) end
    end
  end
  if name == "report" then
    if opts.fields ~= nil and (type(opts.fields) ~= "table" or #opts.fields == 0 or #opts.fields > 400) then
      error("contrib.bamboohr: report: fields is a list of 1 to 400 field ids", 2)
    end
    return function(ctx)
      for _, e in ipairs(conn:report(ctx, opts.fields, { since = opts.since })) do ctx:emit(e) end
    end
  end
  if name == "time_off" then
    return function(ctx)
      for _, r in ipairs(conn:time_off(ctx, opts)) do ctx:emit(r) end
    end
  end
  if name == "leave_days" then
    return function(ctx)
      for _, r in ipairs(conn:time_off(ctx, opts)) do
        for _, d in ipairs(days_of(r)) do
          if d[2] == nil or d[2] > 0 then
            ctx:emit({ key = r.id .. "/" .. d[1], request_id = r.id, employee_id = r.employeeId, email = r.email,
                       name = r.name, date = d[1], amount = d[2], unit = r.unit, type = r.type, status = r.status })
          end
        end
      end
    end
  end
  if name == "whos_out" then
    return function(ctx)
      local body = conn:request(ctx, "GET", "/v1/time_off/whos_out", { query = { start = opts.start,
        ["end"] = opts["end"] } })
      if type(body) ~= "table" then fail("schema_drift", "bamboohr GET /v1/time_off/whos_out: not a list") end
      local ids = {}
      for _, w in ipairs(body) do
        if type(w) == "table" and not null(w.employeeId) then ids[#ids + 1] = w.employeeId end
      end
      local emails = opts.email ~= false and conn:emails(ctx, ids) or {}
      for _, w in ipairs(body) do
        local r = {}
        for k, v in pairs(w) do if not null(v) then r[k] = v end end
        if r.employeeId then r.employeeId = tostring(r.employeeId); r.email = emails[r.employeeId] end
        r.key = tostring(r.type) .. "/" .. tostring(r.id)
        ctx:emit(r)
      end
    end
  end
  return function(ctx)                                   -- capacity
    for _, r in ipairs(conn:capacity(ctx, opts)) do ctx:emit(r) end
  end
end

---------------------------------------------------------------------------
-- lookups and picklists

-- employee(ctx, id, fields) -> one employee (GET /v1/employees/{id}), or
-- nil, { class = "lookup_missing", reason } when there is none.
function Conn:employee(ctx, id, fields)
  if null(id) or not match(tostring(id), "^%d+$") then
    return nil, { class = "lookup_missing", reason = format("bamboohr: %q is not an employee id", tostring(id)) }
  end
  local ok, e = pcall(self.request, self, ctx, "GET", "/v1/employees/" .. id,
    { query = { fields = concat(fields or self.fields, ",") } })
  if not ok then
    if type(e) == "table" and e.class == "not_found" then
      return nil, { class = "lookup_missing", reason = format("bamboohr: no employee %s", tostring(id)) }
    end
    error(e, 0)
  end
  return self:shape(e)
end

-- employees(opts) -> a ferry.lookup: work email -> employee id (or the field
-- opts.value names), from one custom report of every employee, cached
-- (opts.ttl, default "1h"). opts.status: "Active" to leave Inactive
-- employees out (default: all).
function Conn:employees(opts)
  opts = opts or {}
  local conn, value = self, opts.value or "id"
  return ferry.lookup {
    name = opts.name or "bamboohr_employees",
    normalize = "email",
    ttl = opts.ttl or "1h",
    refresh_on_miss = opts.refresh_on_miss,
    fetch = function(ctx, add)
      local fields = { "workEmail", "status" }
      if value ~= "id" then fields[3] = value end
      for _, e in ipairs(conn:report(ctx, fields)) do
        if e.workEmail and (not opts.status or e.status == opts.status) and e[value] ~= nil then
          add(e.workEmail, e[value])
        end
      end
    end,
  }
end

-- lists(ctx) -> BambooHR's list fields (GET /v1/meta/lists).
function Conn:lists(ctx)
  local body = self:request(ctx, "GET", "/v1/meta/lists")
  if type(body) ~= "table" then fail("schema_drift", "bamboohr GET /v1/meta/lists: not a list") end
  return body
end

-- picklist(field, opts) -> a ferry.picklist fed by a list field's current
-- (not archived) options. field: its alias ("department"), its fieldId or
-- its name. opts: name, synonyms, default, on_unknown, ttl.
function Conn:picklist(field, opts)
  if type(field) ~= "string" then error("contrib.bamboohr: picklist(field, opts): the list field's alias", 2) end
  opts = opts or {}
  local conn = self
  return ferry.picklist {
    name = opts.name or field,
    synonyms = opts.synonyms, default = opts.default, on_unknown = opts.on_unknown, ttl = opts.ttl,
    fetch = function(ctx)
      local found
      for _, l in ipairs(conn:lists(ctx)) do
        if type(l) == "table" and (l.alias == field or tostring(l.fieldId) == field or l.name == field) then
          found = l
          break
        end
      end
      if not found then
        fail("schema_drift", format("bamboohr: no list field %q in GET /v1/meta/lists", field), { field = field })
      end
      local out = {}
      for _, o in ipairs(type(found.options) == "table" and found.options or {}) do
        if type(o) == "table" and o.archived ~= "yes" and not null(o.name) then out[#out + 1] = o.name end
      end
      if #out == 0 then
        fail("schema_drift", format("bamboohr: list field %q has no current options", field), { field = field })
      end
      return out
    end,
  }
end

---------------------------------------------------------------------------
-- writes

-- The field a vendor message names, among the fields the record sent.
local function field_named(msg, sent)
  local best
  for k in pairs(sent) do
    if msg:find(k, 1, true) and (not best or #k > #best) then best = k end
  end
  return best
end

-- update_employees(opts) -> load(batch, ctx): writes each record's fields
-- onto the employee its `id` names (POST /v1/employees/{id}; BambooHR has
-- no batch endpoint: one request per record, `concurrency` at a time).
-- Every field but id is sent as given (nil fields are not sent).
-- Returns the per-index failures: validation (400 and 409: an unknown
-- field, a value not among a list's options, a duplicate work email), each with BambooHR's
-- message and the field it names, also for a 403 (a field this key's user
-- may not edit); an employee that does not exist is validation too. A 401
-- raises: the key is wrong, not a record.
function Conn:update_employees(opts)
  opts = opts or {}
  local conn = self
  local concurrency = opts.concurrency or self.concurrency
  return function(batch, ctx)
    local failures, reqs, index, sent = {}, {}, {}, {}
    local auth = conn:auth(ctx)
    for i, rec in ipairs(batch) do
      local id = type(rec) == "table" and rec.id
      local body = {}
      if type(rec) == "table" then
        for k, v in pairs(rec) do if k ~= "id" then body[k] = v end end
      end
      if null(id) or not match(tostring(id), "^%d+$") then
        failures[i] = { class = "validation", reason = "bamboohr: field id: the employee's id (digits) is required",
                        field = "id" }
      elseif next(body) == nil then
        failures[i] = { class = "validation", reason = format("bamboohr: employee %s: no fields to write", id) }
      else
        reqs[#reqs + 1] = { "POST", "/v1/employees/" .. id,
          { json = body, auth = auth, timeout = conn.timeout, idempotent = true } }
        index[#reqs], sent[#reqs] = i, body
      end
    end
    if #reqs > 0 then
      for j, r in ipairs(conn.http:all(reqs, { concurrency = concurrency })) do
        if r.err then
          local e = http_error("POST", reqs[j][2], r.err)
          if e.class == "auth" then error(e, 0) end
          if e.class == "not_found" then
            e.class = "validation"
            e.reason = e.reason .. " (no such employee)"
          elseif e.class == "permission" then
            -- BambooHR refuses a field this key's user may not edit with a
            -- 403 naming it: that record's fault, not the run's (a pause
            -- would stop every other record of the batch)
            e.class = "validation"
          end
          e.field = field_named(e.reason, sent[j])
          failures[index[j]] = e
        end
      end
    end
    if next(failures) then return failures end
  end
end

return M
