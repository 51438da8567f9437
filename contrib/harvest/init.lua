-- contrib.harvest: Harvest's API v2 (time tracking and projects: projects,
-- time entries, people, clients, assignments, budgets) for ferry scripts.
-- README.md beside it says what each call reads and writes; this file keeps
-- to the shape every contrib connector has:
--
--   local harvest = require "contrib.harvest"
--   local hv = harvest.connect { contact = "ops@example.com" }     -- at the top level
--   extract = hv:stream("time_entries", { flat = true })        -- incremental, checkpointed
--   load = ferry.sink.sqlite { path = "psa.db", table = "time_entries", columns = harvest.columns.time_entries }
--   load = hv:upsert_projects { key = "code" }                   -- a won deal becomes a project
--   local people = hv:users()                                    -- ferry.lookup: email -> user id
--
-- Every call raises a table error { class, reason, status, field? } the
-- runner keeps; a reason never holds the token.
local ferry = ferry
local type, pairs, ipairs, tostring, tonumber, error, setmetatable, pcall, next =
  type, pairs, ipairs, tostring, tonumber, error, setmetatable, pcall, next
local format, gsub, match, lower, sub, find = string.format, string.gsub, string.match, string.lower,
  string.sub, string.find
local concat = table.concat
local floor = math.floor
local json, time = ferry.json, ferry.time
local null = json.null

local M = ferry.connector {
  name = "harvest",
  system = "Harvest",
  version = "0.1.0",
  api = "API v2",
  docs = "https://help.getharvest.com/api-v2/",
  auth = "personal access token (Bearer) and Harvest-Account-Id; secrets HARVEST_TOKEN, HARVEST_ACCOUNT_ID",
  description = "projects, time entries, users, clients, tasks and assignments (incremental by updated_since), "
    .. "the project budget report; projects created or updated by code; users by email, projects by code or name, "
    .. "clients by name",
  streams = { "projects", "time_entries", "users", "clients", "tasks", "user_assignments", "project_budget",
              "staffing" },
  operations = { "upsert_projects", "users", "user_by_email", "projects", "clients", "assignments", "staffing", "all",
                 "request" },
}

M.BASE_URL = "https://api.harvestapp.com"
M.PER_PAGE = 2000                 -- the documented maximum, and the default
-- Harvest allows 100 requests per 15 seconds (the reports API: 100 per 15
-- minutes) per account; 80 leaves room for Harvest's own apps on the account.
local DEFAULT_RATE, DEFAULT_REPORTS_RATE = "80/15s", "80/15min"

local Conn = {}
Conn.__index = Conn

local function fail(class, reason, extra)
  local e = { class = class, reason = reason }
  for k, v in pairs(extra or {}) do e[k] = v end
  error(e, 0)
end

local function is_null(v) return v == nil or v == null end

local CONNECT_KEYS = { base_url = true, token = true, account_id = true, account_secret = true, contact = true,
  user_agent = true, rate_limit = true, reports_rate_limit = true, retry = true, timeout = true,
  concurrency = true, per_page = true }

-- connect { contact = "ops@example.com" | user_agent = "...", token = "HARVEST_TOKEN",
--           account_id = "123456" | account_secret = "HARVEST_ACCOUNT_ID", base_url,
--           rate_limit = "80/15s", reports_rate_limit = "80/15min",
--           retry = { attempts = 5, base = "1s", max = "60s" }, timeout = "30s",
--           concurrency = 4, per_page = 2000 }
function M.connect(opts)
  opts = opts or {}
  for k in pairs(opts) do
    if not CONNECT_KEYS[k] then error(format("contrib.harvest: connect: unknown option '%s'", tostring(k)), 2) end
  end
  -- Harvest refuses a request without a User-Agent naming the application
  -- and a way to reach its owner; ferry cannot know the owner, so ask.
  local ua = opts.user_agent
  if ua == nil then
    if type(opts.contact) ~= "string" or not match(opts.contact, "^[^%s()]+$") then
      error("contrib.harvest: connect needs contact (an email or URL Harvest can reach you at; it goes in "
        .. "the User-Agent Harvest requires) or user_agent", 2)
    end
    ua = "ferry contrib.harvest (" .. opts.contact .. ")"
  elseif type(ua) ~= "string" or not match(ua, "%(.+%)") then
    error("contrib.harvest: user_agent: \"App name (email or URL)\", as Harvest requires", 2)
  end
  if opts.account_id ~= nil and not match(tostring(opts.account_id), "^%d+$") then
    error("contrib.harvest: account_id: the number in Harvest's Developers page (or account_secret)", 2)
  end
  local per_page = opts.per_page or M.PER_PAGE
  if type(per_page) ~= "number" or per_page < 1 or per_page > M.PER_PAGE then
    error("contrib.harvest: per_page: 1 to 2000", 2)
  end
  local base = gsub(opts.base_url or M.BASE_URL, "/+$", "")
  local retry = opts.retry or { attempts = 5, base = "1s", max = "60s" }
  local self = setmetatable({
    base_url = base,
    token_name = opts.token or "HARVEST_TOKEN",
    account_id = opts.account_id and tostring(opts.account_id),
    account_secret = opts.account_secret or "HARVEST_ACCOUNT_ID",
    timeout = opts.timeout or "30s",
    concurrency = opts.concurrency or 4,
    per_page = per_page,
    run_cache = setmetatable({}, { __mode = "k" }),   -- per run (ctx): users and projects read once
  }, Conn)
  self.http = ferry.http.client {
    base_url = base, key = "harvest:" .. base, headers = { ["User-Agent"] = ua },
    rate_limit = opts.rate_limit or DEFAULT_RATE, retry = retry,
  }
  -- The reports API has a budget of its own (100 per 15 minutes), so its
  -- own bucket; a 429 there says Retry-After in minutes, so a longer max.
  self.reports = ferry.http.client {
    base_url = base, key = "harvest-reports:" .. base, headers = { ["User-Agent"] = ua },
    rate_limit = opts.reports_rate_limit or DEFAULT_REPORTS_RATE,
    retry = opts.retry or { attempts = 5, base = "1s", max = "15m" },
  }
  return self
end

---------------------------------------------------------------------------
-- requests and errors

-- Harvest's own words from an error body: {"message": ...} on a 422,
-- {"error": ..., "error_description": ...} on a 401, {"error": ...} else.
local function vendor_message(body)
  if type(body) ~= "string" or body == "" then return nil end
  local ok, v = pcall(json.decode, body)
  if ok and type(v) == "table" then
    local m = v.message or v.error_description or v.error
    if type(m) == "string" and m ~= "" then return m end
  end
  return (gsub(sub(body, 1, 200), "%s+", " "))
end
M.vendor_message = vendor_message

local CLASS = { [400] = "validation", [401] = "auth", [403] = "permission", [404] = "not_found",
  [409] = "validation", [422] = "validation", [429] = "transient" }

-- The table error for a failed request, from ferry.http's error.
local function http_error(method, path, err)
  local status = err.status
  local class = status and status > 0 and (CLASS[status] or (status >= 500 and "transient")) or err.class
    or "transient"
  local msg = vendor_message(err.body) or err.message or "failed"
  if class == "auth" then
    msg = msg .. " (check the token and the account id: a personal access token of a user of that account)"
  elseif class == "permission" then
    msg = msg .. " (the token's user lacks the role: projects, users and assignments need an Administrator "
      .. "or a Manager)"
  end
  local reason = format("harvest %s %s: %s%s", method, path, status and status > 0 and (status .. " ") or "", msg)
  if err.attempts and err.attempts > 1 then reason = reason .. format(" (after %d attempts)", err.attempts) end
  return { class = class, status = status, reason = reason }
end

-- The headers of an authenticated request, read from the run's secrets.
function Conn:auth(ctx)
  local account = self.account_id or ctx:secret(self.account_secret)
  return { bearer = ctx:secret(self.token_name) }, { ["Harvest-Account-Id"] = account }
end

-- request(ctx, method, path, opts) -> the decoded JSON body (nil for an
-- empty answer), or raises { class, reason, status }. opts: query, json,
-- reports (true: the reports API's client and budget).
function Conn:request(ctx, method, path, opts)
  opts = opts or {}
  local auth, headers = self:auth(ctx)
  local client = opts.reports and self.reports or self.http
  local res, err = client:request(method, path, {
    query = opts.query, json = opts.json, auth = auth, headers = headers, timeout = self.timeout,
    idempotent = (method == "PATCH") or nil,
  })
  if not res then error(http_error(method, path, err), 0) end
  if res.status == 204 or res.body == "" then return nil end
  local body, jerr = res:json()
  if body == nil then
    fail("schema_drift", format("harvest %s %s: the answer is not JSON: %s", method, path,
      tostring(jerr and jerr.message or jerr)), { status = res.status })
  end
  return body
end

---------------------------------------------------------------------------
-- paging

local function unescape(s)
  return (gsub(gsub(s, "%+", " "), "%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- The query of a links.next URL as a table (its path is the list's own).
local function query_of(url)
  local q = {}
  for pair in string.gmatch(match(url, "%?(.*)$") or "", "[^&]+") do
    local k, v = match(pair, "^([^=]*)=?(.*)$")
    q[unescape(k)] = unescape(v)
  end
  return q
end
M.query_of = query_of

-- each_page(ctx, path, name, query, from, fn, reports): GETs every page of
-- a list from `from` (the query of a next page, or nil for the first),
-- calling fn(rows, next) per page, next being the query of the page after
-- (nil on the last). Harvest says to follow links.next (cursor-based on
-- newer accounts); an older answer without it gives next_page.
function Conn:each_page(ctx, path, name, query, from, fn, reports)
  repeat
    local q = { per_page = self.per_page }
    for k, v in pairs(query or {}) do q[k] = v end
    for k, v in pairs(from or {}) do q[k] = v end
    local body = self:request(ctx, "GET", path, { query = q, reports = reports })
    if type(body) ~= "table" or type(body[name]) ~= "table" then
      fail("schema_drift", format("harvest GET %s: no %s list in the answer", path, name))
    end
    local links = type(body.links) == "table" and body.links or {}
    if type(links.next) == "string" and links.next ~= "" then
      from = query_of(links.next)
    elseif type(body.next_page) == "number" then
      from = { page = body.next_page }
    else
      from = nil
    end
    if fn(body[name], from) then return end
  until from == nil
end

---------------------------------------------------------------------------
-- flat rows for reporting tables: one call per table for the cases

local function num(v) return type(v) == "number" and v or nil end
local function cents(v) return v and floor(v * 100 + 0.5) / 100 or nil end
local function val(v) if is_null(v) then return nil end return v end
local function ref(o, k) return type(o) == "table" and val(o[k]) or nil end

M.flat, M.columns = {}, {}

-- A time entry: hours, cost (hours × cost_rate) and revenue (hours ×
-- billable_rate when billable, else 0) with the month it counts in.
function M.flat.time_entries(e)
  local hours = num(e.hours) or 0
  local billable = e.billable == true
  local rate, cost_rate = num(e.billable_rate), num(e.cost_rate)
  local day = val(e.spent_date)
  return {
    id = e.id, spent_date = day, month = type(day) == "string" and sub(day, 1, 7) or nil,
    hours = hours, billable = billable, billable_rate = rate, cost_rate = cost_rate,
    cost = cost_rate and cents(hours * cost_rate) or nil,
    revenue = billable and rate and cents(hours * rate) or 0,
    user_id = ref(e.user, "id"), user_name = ref(e.user, "name"),
    project_id = ref(e.project, "id"), project_name = ref(e.project, "name"), project_code = ref(e.project, "code"),
    task_id = ref(e.task, "id"), task_name = ref(e.task, "name"),
    client_id = ref(e.client, "id"), client_name = ref(e.client, "name"),
    is_billed = e.is_billed == true, is_locked = e.is_locked == true, is_running = e.is_running == true,
    notes = val(e.notes), updated_at = val(e.updated_at),
  }
end
M.columns.time_entries = {
  { "id", "integer", key = true }, { "spent_date", "text" }, { "month", "text" }, { "hours", "real" },
  { "billable", "boolean" }, { "billable_rate", "real" }, { "cost_rate", "real" }, { "cost", "real" },
  { "revenue", "real" }, { "user_id", "integer" }, { "user_name", "text" }, { "project_id", "integer" },
  { "project_name", "text" }, { "project_code", "text" }, { "task_id", "integer" }, { "task_name", "text" },
  { "client_id", "integer" }, { "client_name", "text" }, { "is_billed", "boolean" }, { "is_locked", "boolean" },
  { "is_running", "boolean" }, { "notes", "text" }, { "updated_at", "text" },
}

-- A project with its budget (budget: hours, or money with cost_budget, as
-- budget_by says) and status.
function M.flat.projects(p)
  return {
    id = p.id, name = val(p.name), code = val(p.code), client_id = ref(p.client, "id"),
    client_name = ref(p.client, "name"), currency = ref(p.client, "currency"),
    is_active = p.is_active == true, is_billable = p.is_billable == true, is_fixed_fee = p.is_fixed_fee == true,
    bill_by = val(p.bill_by), budget_by = val(p.budget_by), budget = num(p.budget),
    cost_budget = num(p.cost_budget), budget_is_monthly = p.budget_is_monthly == true,
    hourly_rate = num(p.hourly_rate), fee = num(p.fee), starts_on = val(p.starts_on), ends_on = val(p.ends_on),
    notes = val(p.notes), created_at = val(p.created_at), updated_at = val(p.updated_at),
  }
end
M.columns.projects = {
  { "id", "integer", key = true }, { "name", "text" }, { "code", "text" }, { "client_id", "integer" },
  { "client_name", "text" }, { "currency", "text" }, { "is_active", "boolean" }, { "is_billable", "boolean" },
  { "is_fixed_fee", "boolean" }, { "bill_by", "text" }, { "budget_by", "text" }, { "budget", "real" },
  { "cost_budget", "real" }, { "budget_is_monthly", "boolean" }, { "hourly_rate", "real" }, { "fee", "real" },
  { "starts_on", "text" }, { "ends_on", "text" }, { "notes", "text" }, { "created_at", "text" },
  { "updated_at", "text" },
}

-- Who is staffed on what.
function M.flat.user_assignments(a)
  return {
    id = a.id, user_id = ref(a.user, "id"), user_name = ref(a.user, "name"), project_id = ref(a.project, "id"),
    project_name = ref(a.project, "name"), project_code = ref(a.project, "code"), is_active = a.is_active == true,
    is_project_manager = a.is_project_manager == true, hourly_rate = num(a.hourly_rate), budget = num(a.budget),
    updated_at = val(a.updated_at),
  }
end
M.columns.user_assignments = {
  { "id", "integer", key = true }, { "user_id", "integer" }, { "user_name", "text" }, { "project_id", "integer" },
  { "project_name", "text" }, { "project_code", "text" }, { "is_active", "boolean" },
  { "is_project_manager", "boolean" }, { "hourly_rate", "real" }, { "budget", "real" }, { "updated_at", "text" },
}

-- A person, with the weekly capacity in hours (Harvest sends seconds).
function M.flat.users(u)
  local cap = num(u.weekly_capacity)
  return {
    id = u.id, email = val(u.email), first_name = val(u.first_name), last_name = val(u.last_name),
    is_active = u.is_active == true, is_contractor = u.is_contractor == true,
    weekly_capacity_hours = cap and cap / 3600 or nil, cost_rate = num(u.cost_rate),
    default_hourly_rate = num(u.default_hourly_rate),
    roles = type(u.roles) == "table" and concat(u.roles, ", ") or nil, updated_at = val(u.updated_at),
  }
end
M.columns.users = {
  { "id", "integer", key = true }, { "email", "text" }, { "first_name", "text" }, { "last_name", "text" },
  { "is_active", "boolean" }, { "is_contractor", "boolean" }, { "weekly_capacity_hours", "real" },
  { "cost_rate", "real" }, { "default_hourly_rate", "real" }, { "roles", "text" }, { "updated_at", "text" },
}

function M.flat.clients(c)
  return { id = c.id, name = val(c.name), currency = val(c.currency), is_active = c.is_active == true,
           updated_at = val(c.updated_at) }
end
M.columns.clients = { { "id", "integer", key = true }, { "name", "text" }, { "currency", "text" },
  { "is_active", "boolean" }, { "updated_at", "text" } }

function M.flat.tasks(t)
  return { id = t.id, name = val(t.name), billable_by_default = t.billable_by_default == true,
           default_hourly_rate = num(t.default_hourly_rate), is_active = t.is_active == true,
           updated_at = val(t.updated_at) }
end
M.columns.tasks = { { "id", "integer", key = true }, { "name", "text" }, { "billable_by_default", "boolean" },
  { "default_hourly_rate", "real" }, { "is_active", "boolean" }, { "updated_at", "text" } }

-- The budget report's row is flat already; null money (hidden from a
-- user without "View billable rates") becomes nil.
function M.flat.project_budget(b)
  return { project_id = b.project_id, project_name = val(b.project_name), client_id = val(b.client_id),
           client_name = val(b.client_name), budget_by = val(b.budget_by), is_active = b.is_active == true,
           budget_is_monthly = b.budget_is_monthly == true, budget = num(b.budget),
           budget_spent = num(b.budget_spent), budget_remaining = num(b.budget_remaining) }
end
M.columns.project_budget = {
  { "project_id", "integer", key = true }, { "project_name", "text" }, { "client_id", "integer" },
  { "client_name", "text" }, { "budget_by", "text" }, { "is_active", "boolean" },
  { "budget_is_monthly", "boolean" }, { "budget", "real" }, { "budget_spent", "real" },
  { "budget_remaining", "real" },
}

---------------------------------------------------------------------------
-- streams

local STREAMS = {
  projects = { path = "/v2/projects" },
  time_entries = { path = "/v2/time_entries" },
  users = { path = "/v2/users" },
  clients = { path = "/v2/clients" },
  tasks = { path = "/v2/tasks" },
  user_assignments = { path = "/v2/user_assignments" },
  -- the reports API: no updated_since, so a full read each run
  project_budget = { path = "/v2/reports/project_budget", list = "results", full = true, reports = true },
  -- active assignments joined with the people's emails: a full read each run
  staffing = { staffing = true },
}
local STREAM_KEYS = { since = true, overlap = true, window = true, query = true, flat = true, filter = true }

-- A record's updated_at as epoch seconds; without one, the overlap could
-- not tell it from what a run has read, so that is schema_drift.
local function epoch_of(iso, what, id)
  local t = type(iso) == "string" and time.parse(iso)
  if not t then
    fail("schema_drift", format("harvest %s: updated_at is not an ISO 8601 time: %s (id %s)", what,
      tostring(iso), tostring(id)))
  end
  return t
end

-- stream(name, opts) -> extract(ctx). name: one of STREAMS. opts:
--   since    an ISO time: where a first run starts (default: everything)
--   overlap  how far each run reads back before the last one began (default
--            "5m"); what it already read there is recognised and dropped
--   window   time_entries only: days; a full read each run of the entries
--            spent in the last N days (no cursor), see README "Deletions"
--   query    more filters, as Harvest names them: { is_active = true, project_id = 7 }
--   flat     true: emit M.flat[name](record) instead of Harvest's record
--   filter   function(record) -> keep?
--
-- Harvest lists newest created first, with an updated_since filter. A run
-- reads every page updated since the last run's start (less the overlap),
-- so an edit made while it read is caught by the next one. The cursor,
-- checkpointed after each page:
--   { since = ISO, seen = { [id] = updated_at } }        between runs
--   { since, seen, start = ISO, fresh = {...}, next = {cursor query} }  mid-walk
-- `seen` holds the records already read inside the overlap, so a run with
-- nothing new emits nothing.
function Conn:stream(name, opts)
  local def = STREAMS[name]
  if not def then
    error(format("contrib.harvest: unknown stream '%s' (projects, time_entries, users, clients, tasks, "
      .. "user_assignments, project_budget, staffing)", tostring(name)), 2)
  end
  opts = opts or {}
  for k in pairs(opts) do
    if not STREAM_KEYS[k] then error(format("contrib.harvest: stream: unknown option '%s'", tostring(k)), 2) end
  end
  local window = opts.window
  if window ~= nil and (name ~= "time_entries" or type(window) ~= "number" or window < 1) then
    error("contrib.harvest: window: a number of days, for the time_entries stream", 2)
  end
  if opts.since ~= nil and not time.parse(tostring(opts.since)) then
    error("contrib.harvest: since: an ISO 8601 time", 2)
  end
  local overlap = type(opts.overlap) == "number" and opts.overlap or time.duration(opts.overlap or "5m")
  local conn, list = self, def.list or name
  local shape = opts.flat and M.flat[name] or nil
  local filter = opts.filter
  local function emit(ctx, r)
    if shape then r = shape(r) end
    if not filter or filter(r) then ctx:emit(r) end
  end
  local base = {}
  for k, v in pairs(opts.query or {}) do base[k] = tostring(v) end

  if def.staffing then
    return function(ctx)
      for _, row in ipairs(conn:staffing(ctx, opts.query)) do
        if not filter or filter(row) then ctx:emit(row) end
      end
    end
  end

  if def.full or window then
    return function(ctx)
      local q = {}
      for k, v in pairs(base) do q[k] = v end
      if window then
        -- spent_date is the person's own day: read a day either side
        local now = time.now()
        q.from = sub(time.format(floor(now - window * 86400)), 1, 10)
        q.to = sub(time.format(floor(now + 86400)), 1, 10)
      end
      conn:each_page(ctx, def.path, list, q, nil, function(rows)
        for _, r in ipairs(rows) do emit(ctx, r) end
      end, def.reports)
    end
  end

  return function(ctx)
    local cur = type(ctx.cursor) == "table" and ctx.cursor or {}
    local since, seen = cur.since or opts.since, cur.seen or {}
    local start = cur.start or time.format(floor(time.now()))
    local fresh, from = cur.fresh or {}, cur.next
    local floor_t = epoch_of(start, name) - overlap
    local q = {}
    for k, v in pairs(base) do q[k] = v end
    q.updated_since = since
    conn:each_page(ctx, def.path, list, q, from, function(rows, nxt)
      for _, r in ipairs(rows) do
        if type(r) ~= "table" or is_null(r.id) then
          fail("schema_drift", format("harvest %s: a record without an id", name))
        end
        local id, u = tostring(r.id), r.updated_at
        if epoch_of(u, name, id) >= floor_t then fresh[id] = u end
        if seen[id] ~= u then emit(ctx, r) end
      end
      if nxt then
        ctx:checkpoint({ since = since, seen = seen, start = start, fresh = fresh, next = nxt })
      else
        ctx:checkpoint({ since = time.format(floor_t), seen = fresh })
      end
    end)
  end
end

---------------------------------------------------------------------------
-- reads for a run: lists, people and projects by key, assignments

-- all(ctx, name, query) -> every record of a list (users, projects,
-- clients, ...), read once per run and connection.
function Conn:all(ctx, name, query)
  local def = STREAMS[name]
  if not def then error(format("contrib.harvest: all: unknown list '%s'", tostring(name)), 2) end
  local cache = self.run_cache[ctx]
  if not cache then cache = {}; self.run_cache[ctx] = cache end
  local key = name .. json.encode(query or {})
  if cache[key] then return cache[key] end
  local out = {}
  self:each_page(ctx, def.path, def.list or name, query, nil, function(rows)
    for _, r in ipairs(rows) do out[#out + 1] = r end
  end, def.reports)
  cache[key] = out
  return out
end

local function trim_lower(v) return (match(lower(tostring(v)), "^%s*(.-)%s*$")) end

-- users(opts) -> a ferry.lookup: a person's email -> Harvest user id, from
-- one paged read of /v2/users (Harvest has no search by email). opts:
-- value ("id", or any user field), active (true: active people only),
-- ttl (default "1h"), refresh_on_miss, name.
function Conn:users(opts)
  opts = opts or {}
  local conn, value = self, opts.value or "id"
  return ferry.lookup {
    name = opts.name or "harvest_users", normalize = "email", ttl = opts.ttl or "1h",
    refresh_on_miss = opts.refresh_on_miss,
    fetch = function(ctx, add)
      conn:each_page(ctx, "/v2/users", "users", opts.active and { is_active = "true" } or nil, nil, function(rows)
        for _, u in ipairs(rows) do
          if not is_null(u.email) and not is_null(u[value]) then add(u.email, u[value]) end
        end
      end)
    end,
  }
end

-- user_by_email(ctx, email) -> the user (id, first_name, last_name, email,
-- weekly_capacity, cost_rate, ...) or nil: for a handler that meets one
-- email. The users are read once per run.
function Conn:user_by_email(ctx, email)
  if is_null(email) or match(tostring(email), "^%s*$") then return nil end
  local want = trim_lower(email)
  for _, u in ipairs(self:all(ctx, "users")) do
    if not is_null(u.email) and trim_lower(u.email) == want then return u end
  end
  return nil
end

-- projects(opts) -> a ferry.lookup: a project's code (opts.by = "code", the
-- default) or name (by = "name") -> Harvest project id. Two projects with
-- one code are lookup_ambiguous (Harvest does not keep codes unique).
-- opts: active, ttl, refresh_on_miss, name, normalize (default: trimmed,
-- lower case).
function Conn:projects(opts)
  opts = opts or {}
  local by = opts.by or "code"
  if by ~= "code" and by ~= "name" then error("contrib.harvest: projects: by is \"code\" or \"name\"", 2) end
  local conn = self
  return ferry.lookup {
    name = opts.name or ("harvest_projects_by_" .. by), normalize = opts.normalize or trim_lower,
    ttl = opts.ttl or "1h", refresh_on_miss = opts.refresh_on_miss,
    fetch = function(ctx, add)
      conn:each_page(ctx, "/v2/projects", "projects", opts.active and { is_active = "true" } or nil, nil,
        function(rows)
          for _, p in ipairs(rows) do
            if not is_null(p[by]) and p[by] ~= "" then add(p[by], p.id) end
          end
        end)
    end,
  }
end

-- clients(opts) -> a ferry.lookup: a client's name -> Harvest client id.
function Conn:clients(opts)
  opts = opts or {}
  local conn = self
  return ferry.lookup {
    name = opts.name or "harvest_clients", normalize = opts.normalize or trim_lower,
    ttl = opts.ttl or "1h", refresh_on_miss = opts.refresh_on_miss,
    fetch = function(ctx, add)
      conn:each_page(ctx, "/v2/clients", "clients", nil, nil, function(rows)
        for _, c in ipairs(rows) do add(c.name, c.id) end
      end)
    end,
  }
end

-- assignments(ctx, project_id, opts) -> the project's user assignments
-- (who is staffed on it: user {id, name}, is_project_manager, budget, ...),
-- active ones unless opts.all. One paged GET
-- /v2/projects/{id}/user_assignments; an unknown project is not_found.
function Conn:assignments(ctx, project_id, opts)
  if not match(tostring(project_id), "^%d+$") then
    error("contrib.harvest: assignments: a project id (a number)", 2)
  end
  local q = not (opts and opts.all) and { is_active = "true" } or nil
  local out = {}
  self:each_page(ctx, "/v2/projects/" .. project_id .. "/user_assignments", "user_assignments", q, nil,
    function(rows) for _, a in ipairs(rows) do out[#out + 1] = a end end)
  return out
end

-- staffing(ctx, query) -> who is staffed on what, one row per active
-- assignment with the person's email (what an HR system such as BambooHR
-- knows people by) and weekly capacity: { id, project_id, project_code,
-- project_name, user_id, user_name, user_email, weekly_capacity_hours,
-- is_project_manager }. Two paged reads (user assignments, users), the
-- users once per run; query: more filters for /v2/user_assignments.
-- An assignment whose user is not listed (no permission to see them) has
-- no email, and is kept.
function Conn:staffing(ctx, query)
  local q = { is_active = "true" }
  for k, v in pairs(query or {}) do q[k] = tostring(v) end
  local people = {}
  for _, u in ipairs(self:all(ctx, "users")) do people[tostring(u.id)] = u end
  local out = {}
  for _, a in ipairs(self:all(ctx, "user_assignments", q)) do
    local row = M.flat.user_assignments(a)
    local u = people[tostring(row.user_id)]
    local cap = u and num(u.weekly_capacity)
    out[#out + 1] = {
      id = row.id, project_id = row.project_id, project_code = row.project_code, project_name = row.project_name,
      user_id = row.user_id, user_name = row.user_name, user_email = u and val(u.email) or nil,
      weekly_capacity_hours = cap and cap / 3600 or nil, is_project_manager = row.is_project_manager,
    }
  end
  return out
end
M.columns.staffing = {
  { "id", "integer", key = true }, { "project_id", "integer" }, { "project_code", "text" },
  { "project_name", "text" }, { "user_id", "integer" }, { "user_name", "text" }, { "user_email", "text" },
  { "weekly_capacity_hours", "real" }, { "is_project_manager", "boolean" },
}

---------------------------------------------------------------------------
-- writes: projects

-- Fields Harvest's 422 may name when the record did not send them.
local REQUIRED = { "client_id", "name", "is_billable", "bill_by", "budget_by" }

local function escape(s) return (gsub(s, "[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0")) end

-- The field a Harvest message names, among the record's fields and the ones
-- a create requires. Harvest writes them in words ("Bill by is not included
-- in the list", "Client can't be blank") or as sent ("Missing required
-- parameter: budget_by"); the longest match wins.
local function field_named(msg, body)
  local text, best, best_len = lower(msg), nil, 0
  local function try(k)
    for _, form in ipairs { k, (gsub(k, "_", " ")), (gsub(gsub(k, "_id$", ""), "_", " ")) } do
      if #form > best_len and find(text, "%f[%w_]" .. escape(form) .. "%f[^%w_]") then best, best_len = k, #form end
    end
  end
  for k in pairs(body) do try(k) end
  for _, k in ipairs(REQUIRED) do try(k) end
  return best
end
M.field_named = field_named

local KEYS = { code = true, name = true, id = true }

-- upsert_projects(opts) -> load(batch, ctx): each record is a project's
-- fields as Harvest names them (client_id, name, code, is_billable,
-- bill_by, budget_by, budget, cost_budget, hourly_rate, fee, notes,
-- starts_on, ends_on, is_active, ...). opts.key:
--   "code" (default) or "name": the project with that code (name) is
--     updated (PATCH /v2/projects/{id}); none, it is created (POST
--     /v2/projects, which requires client_id, name, is_billable, bill_by and
--     budget_by). The projects are read once per batch to find them.
--   "id": the record's id names the project to update; none is created.
-- opts.create = false: never create (a record whose project is missing is
-- lookup_missing, retried on later runs).
-- Returns the runner's per-index failures: validation with Harvest's
-- message and the field it names; an auth or permission failure raises
-- (the token is wrong, not the record).
function Conn:upsert_projects(opts)
  opts = opts or {}
  local key = opts.key or "code"
  if not KEYS[key] then error("contrib.harvest: upsert_projects: key is \"code\", \"name\" or \"id\"", 2) end
  local create = opts.create ~= false and key ~= "id"
  local conn = self
  return function(batch, ctx)
    local failures, reqs, index = {}, {}, {}
    local existing = {}
    if key ~= "id" then
      conn:each_page(ctx, "/v2/projects", "projects", nil, nil, function(rows)
        for _, p in ipairs(rows) do
          if not is_null(p[key]) then
            local k = trim_lower(p[key])
            existing[k] = existing[k] == nil and p.id or false      -- false: two projects share it
          end
        end
      end)
    end
    local auth, headers = conn:auth(ctx)
    for i, rec in ipairs(batch) do
      local k = type(rec) == "table" and rec[key]
      if type(rec) ~= "table" then
        failures[i] = { class = "validation", reason = "harvest: a record must be a table" }
      elseif is_null(k) or match(tostring(k), "^%s*$") then
        failures[i] = { class = "validation", field = key,
          reason = format("harvest: field %s: the project's %s is required", key, key) }
      else
        local body = {}
        for f, v in pairs(rec) do if f ~= "id" then body[f] = v end end
        local id = key == "id" and k or existing[trim_lower(k)]
        if id == false then
          failures[i] = { class = "lookup_ambiguous", field = key,
            reason = format("harvest: two projects have %s %q; none is updated", key, tostring(k)) }
        elseif id then
          reqs[#reqs + 1] = { "PATCH", "/v2/projects/" .. tostring(id),
            { json = body, auth = auth, headers = headers, timeout = conn.timeout, idempotent = true } }
          index[#reqs] = i
        elseif create then
          -- Retried like a PATCH (a 429, a timeout): Harvest keeps project
          -- names unique, so a create that did land and is sent again is
          -- refused ("Name has already been taken"), never doubled.
          reqs[#reqs + 1] = { "POST", "/v2/projects",
            { json = body, auth = auth, headers = headers, timeout = conn.timeout, idempotent = true } }
          index[#reqs] = i
        else
          failures[i] = { class = "lookup_missing", field = key,
            reason = format("harvest: no project with %s %q yet (retried on later runs)", key, tostring(k)) }
        end
      end
    end
    if #reqs > 0 then
      for j, r in ipairs(conn.http:all(reqs, { concurrency = opts.concurrency or conn.concurrency })) do
        if r.err then
          local e = http_error(reqs[j][1], reqs[j][2], r.err)
          if e.class == "auth" or e.class == "permission" then error(e, 0) end
          if e.class == "not_found" and key == "id" then
            e.class = "lookup_missing"
            e.reason = e.reason .. " (retried on later runs)"
          end
          local msg = vendor_message(r.err.body)
          e.field = msg and e.class == "validation" and field_named(msg, reqs[j][3].json) or nil
          -- the runner keeps the reason, not the field: say it there too
          if e.field then e.reason = format("%s (field %s)", e.reason, e.field) end
          failures[index[j]] = e
        end
      end
    end
    if next(failures) then return failures end
  end
end

-- deal_code(id) -> "HS-<id>": the project code this connector's docs use
-- for a project made from a HubSpot deal, so the deal finds its project
-- (projects { by = "code" }) and a re-run updates it instead of adding one.
function M.deal_code(id)
  if is_null(id) or tostring(id) == "" then error("contrib.harvest: deal_code: a deal id", 2) end
  return "HS-" .. tostring(id)
end

return M
