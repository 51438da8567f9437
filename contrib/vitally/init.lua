-- contrib.vitally: Vitally's REST API (accounts, users, admins, custom
-- traits) for ferry scripts. README.md beside it says what each call reads
-- and writes; this file keeps to the shape every contrib connector has:
--
--   local vitally = require "contrib.vitally"
--   local csm = vitally.connect { subdomain = "acme" }       -- at the top level
--   extract = csm:stream("accounts")                         -- incremental, checkpointed
--   load = csm:update_accounts { key = "externalId" }        -- traits onto accounts
--   local acct = csm:account(ctx, "ACME-001")                -- health, tier, renewal
--
-- Every call raises a table error { class, reason, status, field? } the
-- runner keeps; a reason never holds the API key.
local ferry = ferry
local type, pairs, ipairs, tostring, error, setmetatable, next, pcall =
  type, pairs, ipairs, tostring, error, setmetatable, next, pcall
local format, gsub, match = string.format, string.gsub, string.match
local concat = table.concat
local json, time = ferry.json, ferry.time

local M = ferry.connector {
  name = "vitally",
  system = "Vitally",
  version = "0.1.0",
  api = "REST API, /resources endpoints",
  docs = "https://docs.vitally.io/pushing-data-to-vitally/rest-api",
  auth = "HTTP Basic, the API key as the user name; secret VITALLY_API_KEY",
  streams = { "accounts", "users" },
  operations = { "account", "account_field", "account_names", "renewing", "update_accounts", "picklist",
                 "admins", "admin_by_email", "users" },
}

local Conn = {}
Conn.__index = Conn

-- The vendor's documented limit is 1000 requests a minute (a sliding
-- window); 800 leaves room for other clients of the same key.
local DEFAULT_RATE = "800/min"
local PAGE = 100                      -- the documented maximum (and default) page size

local function fail(class, reason, extra)
  local e = { class = class, reason = reason }
  for k, v in pairs(extra or {}) do e[k] = v end
  error(e, 0)
end

-- Percent-encodes one path segment (an externalId may hold '/', ' ', '#').
local function seg(s)
  return (gsub(tostring(s), "[^%w%-%._~]", function(c) return format("%%%02X", c:byte()) end))
end

-- Vitally's base URL: the EU data centre has one host for every tenant;
-- the US one a host per subdomain.
local function base_url_of(opts)
  if opts.base_url then return (gsub(opts.base_url, "/+$", "")) end
  if opts.region == "eu" then return "https://rest.vitally-eu.io" end
  if opts.region ~= nil and opts.region ~= "us" then
    error(format("contrib.vitally: region '%s': \"us\" (the default) or \"eu\"", tostring(opts.region)), 3)
  end
  if type(opts.subdomain) ~= "string" or not match(opts.subdomain, "^[%w%-]+$") then
    error("contrib.vitally: connect needs subdomain (the one in https://SUBDOMAIN.vitally.io), "
      .. "region = \"eu\", or base_url", 3)
  end
  return "https://" .. opts.subdomain .. ".rest.vitally.io"
end

local CONNECT_KEYS = { base_url = true, subdomain = true, region = true, api_key = true, rate_limit = true,
  retry = true, timeout = true, tier_trait = true, concurrency = true }

-- connect { subdomain | region = "eu" | base_url, api_key = "VITALLY_API_KEY",
--           rate_limit = "800/min", retry = { attempts = 5, base = "1s", max = "60s" },
--           timeout = "30s", tier_trait = nil, concurrency = 4 }
function M.connect(opts)
  opts = opts or {}
  for k in pairs(opts) do
    if not CONNECT_KEYS[k] then error(format("contrib.vitally: connect: unknown option '%s'", tostring(k)), 2) end
  end
  local base = base_url_of(opts)
  local self = setmetatable({
    base_url = base,
    secret_name = opts.api_key or "VITALLY_API_KEY",
    tier_trait = opts.tier_trait,
    timeout = opts.timeout or "30s",
    concurrency = opts.concurrency or 4,
    run_cache = setmetatable({}, { __mode = "k" }),   -- per run (ctx): accounts fetched by key
  }, Conn)
  self.http = ferry.http.client {
    base_url = base,
    key = "vitally:" .. base,
    rate_limit = opts.rate_limit or DEFAULT_RATE,
    retry = opts.retry or { attempts = 5, base = "1s", max = "60s" },
    -- Vitally sends RateLimit-Remaining and RateLimit-Reset (seconds until
    -- the oldest request leaves the window) on every answer, and no
    -- Retry-After on its 429: hold requests for the reset it names.
    rate_limit_headers = { remaining = "RateLimit-Remaining", reset = "RateLimit-Reset", unit = "s" },
  }
  return self
end

---------------------------------------------------------------------------
-- requests and errors

-- The vendor's own words from an error body: Vitally documents only status
-- codes, so take the usual places a JSON API puts its message, else the
-- text itself (cut short).
local function vendor_message(body)
  if type(body) ~= "string" or body == "" then return nil end
  local ok, v = pcall(json.decode, body)
  if ok and type(v) == "table" then
    local m = v.error or v.message or v.detail
    if type(m) == "table" then m = m.message end
    if type(m) ~= "string" and type(v.errors) == "table" then
      local parts = {}
      for _, e in ipairs(v.errors) do
        local text = type(e) == "table" and (e.message or e.msg) or e
        if text ~= nil then parts[#parts + 1] = tostring(text) end
      end
      m = concat(parts, "; ")
    end
    if type(m) == "string" and m ~= "" then return m end
  end
  return (gsub(body:sub(1, 200), "%s+", " "))
end

local CLASS = { [400] = "validation", [401] = "auth", [403] = "permission", [404] = "not_found",
  [409] = "validation", [422] = "validation", [429] = "transient" }

-- The table error for a failed request.
local function http_error(method, path, err)
  local status = err.status
  local class = status and (CLASS[status] or (status >= 500 and "transient")) or err.class or "transient"
  local msg = vendor_message(err.body) or err.message or "failed"
  local what = format("vitally %s %s", method, path)
  if class == "auth" then
    msg = msg .. " (check the API key: HTTP Basic with the key as the user name)"
  elseif class == "permission" then
    msg = msg .. " (the key lacks access to this resource)"
  end
  return { class = class, status = status, reason = format("%s: %s%s", what, status and (status .. " ") or "", msg) }
end

function Conn:auth(ctx)
  return { basic = { ctx:secret(self.secret_name), "" } }
end

-- request(ctx, method, path, opts) -> decoded JSON body (nil for 204), or
-- raises { class, reason, status }. opts: query, json.
function Conn:request(ctx, method, path, opts)
  opts = opts or {}
  local res, err = self.http:request(method, path, {
    query = opts.query, json = opts.json, auth = self:auth(ctx), timeout = self.timeout,
    idempotent = method == "PUT" or nil,
  })
  if not res then error(http_error(method, path, err), 0) end
  if res.status == 204 or res.body == "" then return nil end
  local body, jerr = res:json()
  if body == nil then
    fail("schema_drift", format("vitally %s %s: the answer is not JSON: %s", method, path,
      tostring(jerr and jerr.message)), { status = res.status })
  end
  return body
end

---------------------------------------------------------------------------
-- accounts: the record, tier, health, renewal

local function null(v) return v == nil or v == json.null end

-- The tier of an account: the tier_trait's value when connect names one,
-- else the name of its first segment (Vitally's segments are set in-app).
function Conn:tier_of(a)
  if self.tier_trait then
    local v = type(a.traits) == "table" and a.traits[self.tier_trait]
    return not null(v) and v or nil
  end
  local s = type(a.segments) == "table" and a.segments[1]
  return type(s) == "table" and not null(s.name) and s.name or nil
end

-- The vendor's account, with `tier` added (see tier_of); every other field
-- is as Vitally sends it (healthScore, nextRenewalDate, externalId, ...).
function Conn:shape(a)
  if type(a) ~= "table" or type(a.id) ~= "string" and type(a.id) ~= "number" then
    fail("schema_drift", "vitally: an account without an id: " .. tostring(json.encode(a)):sub(1, 200))
  end
  a.tier = self:tier_of(a)
  return a
end

-- account(ctx, key) -> the account whose Vitally id or externalId is key,
-- or nil, { class = "lookup_missing", reason } when there is none (it may
-- be created later: the record waits in the quarantine and is retried).
function Conn:account(ctx, key)
  if key == nil or key == json.null or tostring(key):match("^%s*$") then
    return nil, { class = "lookup_missing", reason = "vitally: no account key to look up (empty value)" }
  end
  local cache = self.run_cache[ctx]
  if not cache then cache = {}; self.run_cache[ctx] = cache end
  key = tostring(key)
  if cache[key] ~= nil then
    if cache[key] == false then
      return nil, { class = "lookup_missing", reason = format("vitally: no account with id or externalId %q", key) }
    end
    return cache[key]
  end
  local ok, a = pcall(self.request, self, ctx, "GET", "/resources/accounts/" .. seg(key))
  if not ok then
    if type(a) == "table" and a.class == "not_found" then
      cache[key] = false
      return nil, { class = "lookup_missing", reason = format("vitally: no account with id or externalId %q", key) }
    end
    error(a, 0)
  end
  a = self:shape(a)
  cache[key] = a
  return a
end

-- Field names account_field accepts besides any top-level account field:
-- "tier" (tier_of) and "traits.PATH" (one trait).
local function field_of(self, a, field)
  if field == "tier" then return self:tier_of(a) end
  local trait = match(field, "^traits%.(.+)$")
  local v
  if trait then v = type(a.traits) == "table" and a.traits[trait] or nil else v = a[field] end
  if null(v) then return nil end
  return v
end

-- account_field(field, opts) -> a ferry.lookup.keys resolving an account's
-- id or externalId to one of its fields ("healthScore", "tier",
-- "nextRenewalDate", "traits.PATH", "id", ...). Declare it at the top
-- level; in transform, `health = f:ref(org_key)`. The accounts of a batch
-- are fetched concurrently, each once a run however many fields ask.
-- An account that does not exist, or has no such value, is lookup_missing.
function Conn:account_field(field, opts)
  if type(field) ~= "string" then error("contrib.vitally: account_field: a field name", 2) end
  opts = opts or {}
  local conn = self
  return ferry.lookup.keys {
    name = opts.name or ("vitally_" .. gsub(field, "[^%w_]", "_")),
    normalize = "trim",
    fetch = function(ctx, keys)
      local found = {}
      for key, a in pairs(conn:accounts_by_key(ctx, keys)) do
        local v = field_of(conn, a, field)
        if v ~= nil then found[key] = type(v) == "table" and json.encode(v) or v end
      end
      return found
    end,
  }
end

-- accounts_by_key(ctx, keys) -> { key = account } for the keys that exist,
-- fetched concurrently (GET /resources/accounts/{key}), cached for the run.
function Conn:accounts_by_key(ctx, keys)
  local cache = self.run_cache[ctx]
  if not cache then cache = {}; self.run_cache[ctx] = cache end
  local want, reqs = {}, {}
  for _, k in ipairs(keys) do
    k = tostring(k)
    if cache[k] == nil then
      want[#want + 1] = k
      reqs[#reqs + 1] = { "GET", "/resources/accounts/" .. seg(k),
        { auth = self:auth(ctx), timeout = self.timeout } }
    end
  end
  if #reqs > 0 then
    for i, r in ipairs(self.http:all(reqs, { concurrency = self.concurrency })) do
      local k = want[i]
      if r.res then
        local a = r.res:json()
        if type(a) ~= "table" then
          fail("schema_drift", format("vitally GET /resources/accounts/%s: the answer is not JSON", seg(k)))
        end
        cache[k] = self:shape(a)
      else
        local e = http_error("GET", "/resources/accounts/" .. seg(k), r.err)
        if e.class ~= "not_found" then error(e, 0) end
        cache[k] = false
      end
    end
  end
  local out = {}
  for _, k in ipairs(keys) do
    k = tostring(k)
    if cache[k] then out[k] = cache[k] end
  end
  return out
end

---------------------------------------------------------------------------
-- lists and streams

-- each_page(ctx, path, query, from, fn): GETs every page of a list
-- endpoint from the page cursor `from` (nil: the first page), calling
-- fn(results, next) per page; fn returns true to stop.
function Conn:each_page(ctx, path, query, from, fn)
  repeat
    local q = { limit = PAGE, from = from }
    for k, v in pairs(query or {}) do q[k] = v end
    local body = self:request(ctx, "GET", path, { query = q })
    if type(body) ~= "table" or type(body.results) ~= "table" then
      fail("schema_drift", format("vitally GET %s: no results list in the answer", path))
    end
    from = not null(body.next) and body.next or nil
    if fn(body.results, from) then return end
  until from == nil
end

local STREAMS = {
  accounts = { path = "/resources/accounts", shape = true },
  users = { path = "/resources/users" },
}

-- stream(name, opts) -> extract(ctx). name: "accounts" or "users".
-- opts: since (an ISO time: start there on a first run), status (accounts:
-- "active" the default, "churned", "activeOrChurned"), renewing_within
-- (accounts: days; a full read each run, only accounts whose
-- nextRenewalDate falls in the next N days), filter (function(record)).
--
-- Vitally lists newest change first (sortBy=updatedAt, descending) and has
-- no "changed since" filter, so an incremental read walks down from the
-- newest change and stops at the first record not newer than the last
-- run's high-water mark. The cursor, checkpointed after each page:
--   { since = ISO }                      between runs
--   { since = ISO, top = ISO, from = C } in the middle of a walk (resumable)
function Conn:stream(name, opts)
  local def = STREAMS[name]
  if not def then
    error(format("contrib.vitally: unknown stream '%s' (accounts, users)", tostring(name)), 2)
  end
  opts = opts or {}
  local conn = self
  local query = { sortBy = "updatedAt" }
  if name == "accounts" and opts.status then query.status = opts.status end
  local window = opts.renewing_within
  if window ~= nil and (name ~= "accounts" or type(window) ~= "number" or window < 0) then
    error("contrib.vitally: renewing_within: a number of days, for the accounts stream", 2)
  end
  return function(ctx)
    local filter = opts.filter
    if window then
      -- a renewal window moves with the clock, not with updatedAt: read all
      local within = conn:renewal_filter(window)
      conn:each_page(ctx, def.path, query, nil, function(rows)
        for _, r in ipairs(rows) do
          if def.shape then r = conn:shape(r) end
          if within(r) and (not filter or filter(r)) then ctx:emit(r) end
        end
      end)
      return
    end
    local cur = type(ctx.cursor) == "table" and ctx.cursor or {}
    local since = cur.since or opts.since
    local top, from = cur.top, cur.from
    conn:each_page(ctx, def.path, query, from, function(rows, nxt)
      local done = nxt == nil
      for _, r in ipairs(rows) do
        local u = r.updatedAt
        if type(u) ~= "string" then
          fail("schema_drift", format("vitally %s: a record without updatedAt (id %s)", name, tostring(r.id)))
        end
        if since and u <= since then done = true break end
        if top == nil or u > top then top = u end
        if def.shape then r = conn:shape(r) end
        if not filter or filter(r) then ctx:emit(r) end
      end
      if done then
        ctx:checkpoint({ since = top or since })
      else
        ctx:checkpoint({ since = since, top = top, from = nxt })
      end
      return done
    end)
  end
end

-- A predicate: does an account renew within `days` from now (today up to
-- now + days, by nextRenewalDate)? Vitally cannot filter on it server-side.
function Conn:renewal_filter(days)
  local now = time.now()
  local last = now + days * 86400
  return function(a)
    local d = a.nextRenewalDate
    if null(d) or type(d) ~= "string" then return false end
    local t = time.parse(d)
    if not t then return false end
    return t >= now - 86400 and t <= last    -- a date-only renewal today still counts
  end
end

-- renewing(ctx, days, opts) -> the accounts renewing within `days` (a list,
-- read in full and filtered client-side; opts.status as for the stream).
function Conn:renewing(ctx, days, opts)
  if type(days) ~= "number" or days < 0 then error("contrib.vitally: renewing: a number of days", 2) end
  local within, out = self:renewal_filter(days), {}
  local query = { sortBy = "updatedAt", status = opts and opts.status }
  self:each_page(ctx, "/resources/accounts", query, nil, function(rows)
    for _, r in ipairs(rows) do
      r = self:shape(r)
      if within(r) then out[#out + 1] = r end
    end
  end)
  return out
end

---------------------------------------------------------------------------
-- lookups

-- Names as people type them: "  ACME corp" is "acme corp".
local function trim_lower(v)
  return (match(string.lower(tostring(v)), "^%s*(.-)%s*$"))
end

-- account_names(opts) -> a ferry.lookup: account name -> Vitally account id,
-- all accounts in one paged read, cached (ttl, default "1h"; refresh_on_miss
-- as ferry.lookup's: a miss reads again once a run past it). Vitally has
-- no search by name; two accounts of one name are lookup_ambiguous.
function Conn:account_names(opts)
  opts = opts or {}
  local conn = self
  return ferry.lookup {
    name = opts.name or "vitally_account_names",
    normalize = opts.normalize or trim_lower,
    ttl = opts.ttl or "1h",
    refresh_on_miss = opts.refresh_on_miss,
    fetch = function(ctx, add)
      conn:each_page(ctx, "/resources/accounts", { status = opts.status or "activeOrChurned" }, nil, function(rows)
        for _, a in ipairs(rows) do add(a.name, a.id) end
      end)
    end,
  }
end

-- users(opts) -> a ferry.lookup: a user's email -> Vitally user id, from one
-- paged read of /resources/users (your customers' people; `value = "externalId"`
-- answers their externalId instead).
function Conn:users(opts)
  opts = opts or {}
  local conn, value = self, opts.value or "id"
  return ferry.lookup {
    name = opts.name or "vitally_users",
    normalize = "email",
    ttl = opts.ttl or "1h",
    fetch = function(ctx, add)
      conn:each_page(ctx, "/resources/users", nil, nil, function(rows)
        for _, u in ipairs(rows) do
          if not null(u.email) then add(u.email, u[value]) end
        end
      end)
    end,
  }
end

-- admins(opts) -> a ferry.lookup.keys: a team member's (CSM's) email ->
-- Vitally admin id. Vitally documents no list of admins, only a search by
-- email, so each distinct email of a load batch is one search (concurrent),
-- remembered for the run. Declare at the top level; `csm_id = a:ref(email)`.
function Conn:admins(opts)
  opts = opts or {}
  local conn = self
  return ferry.lookup.keys {
    name = opts.name or "vitally_admins",
    normalize = "email",
    fetch = function(ctx, emails)
      local reqs = {}
      for i, e in ipairs(emails) do
        reqs[i] = { "GET", "/resources/admins/search", { query = { email = e }, auth = conn:auth(ctx),
          timeout = conn.timeout } }
      end
      local found = {}
      for i, r in ipairs(conn.http:all(reqs, { concurrency = conn.concurrency })) do
        if r.res then
          local a = r.res:json()
          if type(a) == "table" and not null(a.id) then found[emails[i]] = a.id end
        else
          local e = http_error("GET", "/resources/admins/search", r.err)
          if e.class ~= "not_found" then error(e, 0) end
        end
      end
      return found
    end,
  }
end

-- admin_by_email(ctx, email) -> the admin ({ id, name, email,
-- licenseStatus }) or nil: one search, for a handler that meets one email
-- (a webhook); `admins` is the form for a run over many.
function Conn:admin_by_email(ctx, email)
  if null(email) or tostring(email):match("^%s*$") then return nil end
  local ok, a = pcall(self.request, self, ctx, "GET", "/resources/admins/search",
    { query = { email = (match(tostring(email), "^%s*(.-)%s*$")) } })
  if not ok then
    if type(a) == "table" and a.class == "not_found" then return nil end
    error(a, 0)
  end
  if type(a) ~= "table" or null(a.id) then
    fail("schema_drift", "vitally GET /resources/admins/search: an answer without an id")
  end
  return a
end

---------------------------------------------------------------------------
-- custom traits: picklists

-- The account custom traits Vitally knows: { path = { label, type, options } }.
function Conn:custom_fields(ctx, model)
  local list = self:request(ctx, "GET", "/resources/customFields", { query = { model = model or "accounts" } })
  if type(list) ~= "table" then fail("schema_drift", "vitally GET /resources/customFields: not a list") end
  local out = {}
  for _, f in ipairs(list) do
    if type(f) == "table" and type(f.path) == "string" then out[f.path] = f end
  end
  return out
end

-- picklist(model, path, opts) -> a ferry.picklist fed by the trait's
-- options (their values: what the API takes). model: "accounts" (or any
-- model customFields takes); path: the trait's path, e.g.
-- "vitally.custom.tier". opts: name, synonyms, default, on_unknown, ttl.
function Conn:picklist(model, path, opts)
  if type(path) ~= "string" then error("contrib.vitally: picklist(model, path, opts): the trait's path", 2) end
  opts = opts or {}
  local conn = self
  return ferry.picklist {
    name = opts.name or path,
    synonyms = opts.synonyms, default = opts.default, on_unknown = opts.on_unknown, ttl = opts.ttl,
    fetch = function(ctx)
      local f = conn:custom_fields(ctx, model)[path]
      if not f then
        fail("schema_drift", format("vitally: %s has no custom trait %q", tostring(model), path), { field = path })
      end
      local out = {}
      for _, o in ipairs(type(f.options) == "table" and f.options or {}) do
        local v = type(o) == "table" and (o.value or o.label) or o
        if not null(v) then out[#out + 1] = v end
      end
      if #out == 0 then
        fail("schema_drift", format("vitally: custom trait %q (%s) has no options", path, tostring(f.type)),
          { field = path })
      end
      return out
    end,
  }
end

---------------------------------------------------------------------------
-- writes

-- The field a vendor message names, among the traits the record sent.
local function field_named(msg, rec_traits)
  local best
  for k in pairs(rec_traits) do
    if msg:find(k, 1, true) and (not best or #k > #best) then best = k end
  end
  return best
end

-- Not traits: what the PUT takes beside them, and the two ids (neither is
-- editable; a record read from the stream carries both).
local RESERVED = { name = true, traits = true, organizationId = true, id = true, externalId = true }

-- The PUT body of one record, or nil and a reason. The record: its key
-- field, optionally name and organizationId, traits = { ... } and/or
-- other fields (each one trait, by its path).
local function body_of(rec, key)
  if type(rec) ~= "table" then return nil, "a record must be a table" end
  local traits = {}
  if rec.traits ~= nil then
    if type(rec.traits) ~= "table" then return nil, "field traits: a table of trait path = value" end
    for k, v in pairs(rec.traits) do traits[k] = v end
  end
  for k, v in pairs(rec) do
    if k ~= key and not RESERVED[k] then traits[k] = v end
  end
  local body = { name = rec.name, organizationId = rec.organizationId }
  if next(traits) then body.traits = traits end
  if next(body) == nil then return nil, "nothing to write (no name, organizationId or traits)" end
  return body, nil, traits
end

-- update_accounts(opts) -> load(batch, ctx): writes each record's traits
-- (and name, organizationId) onto the account its `key` field names
-- (opts.key: "externalId", the default, or "id"; Vitally's PUT takes
-- either). Vitally's REST API has no bulk endpoint for accounts: one PUT per
-- record, `concurrency` at a time (default: connect's, 4). Traits are
-- merged; a nil-valued trait is not sent, ferry.json.null removes one.
-- Returns the runner's per-index failures: validation with Vitally's
-- message (naming the trait), lookup_missing for an unknown account; an auth or
-- permission failure raises (the whole batch: the key is wrong, not a record).
function Conn:update_accounts(opts)
  opts = opts or {}
  local key = opts.key or "externalId"
  if key ~= "externalId" and key ~= "id" then
    error("contrib.vitally: update_accounts: key is \"externalId\" or \"id\"", 2)
  end
  local conn = self
  local concurrency = opts.concurrency or self.concurrency
  return function(batch, ctx)
    local failures, reqs, index, sent = {}, {}, {}, {}
    local auth = conn:auth(ctx)
    for i, rec in ipairs(batch) do
      local k = type(rec) == "table" and rec[key]
      local body, why, traits
      if null(k) or tostring(k):match("^%s*$") then
        why = format("field %s: the account's %s is required", key, key)
      else
        body, why, traits = body_of(rec, key)
      end
      if not body then
        failures[i] = { class = "validation", reason = "vitally: " .. why }
      else
        reqs[#reqs + 1] = { "PUT", "/resources/accounts/" .. seg(k),
          { json = body, auth = auth, timeout = conn.timeout, idempotent = true } }
        index[#reqs], sent[#reqs] = i, traits or {}
      end
    end
    if #reqs > 0 then
      for j, r in ipairs(conn.http:all(reqs, { concurrency = concurrency })) do
        if r.err then
          local e = http_error("PUT", reqs[j][2], r.err)
          if e.class == "auth" or e.class == "permission" then error(e, 0) end
          if e.class == "not_found" then
            -- the account, not the endpoint, is missing: it may be created
            -- later, so the record waits and is retried (not_found would pause)
            e.class = "lookup_missing"
            e.reason = e.reason .. " (retried on later runs)"
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
