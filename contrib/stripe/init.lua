-- contrib.stripe: Stripe's API (v1) for ferry scripts: customers, invoices
-- and subscriptions read incrementally, customers looked up by id, email or
-- a metadata key, customer metadata written with idempotency keys.
-- README.md beside it says what each call reads and writes; this file keeps
-- to the shape every contrib connector has:
--
--   local stripe = require "contrib.stripe"
--   local billing = stripe.connect {}                          -- at the top level
--   extract = billing:stream("invoices")                       -- incremental, checkpointed
--   transform = stripe.invoice_row                             -- one reporting row per invoice
--   load = billing:update_customers {}                         -- metadata onto customers
--   local ids = billing:customers_by_metadata("crm_company_id")  -- ferry.lookup
--
-- Money stays in Stripe's integer minor units (cents; yen for JPY) in every
-- record; stripe.major(amount, currency) gives the exact major-unit amount
-- as a decimal string, never a float. Every call raises a table error
-- { class, reason, status, field?, type?, code? }; a reason never holds the key.
local ferry = ferry
local type, pairs, ipairs, tostring, tonumber, error, setmetatable, pcall, next =
  type, pairs, ipairs, tostring, tonumber, error, setmetatable, pcall, next
local format, gsub, match, lower, byte = string.format, string.gsub, string.match, string.lower, string.byte
local sort, concat = table.sort, table.concat
local mtype, tointeger = math.type, math.tointeger
local json, time = ferry.json, ferry.time
local null = json.null

local M = ferry.connector {
  name = "stripe",
  system = "Stripe",
  version = "0.1.0",
  api = "REST API v1, pinned Stripe-Version (default 2025-03-31.basil)",
  docs = "https://docs.stripe.com/api",
  auth = "secret or restricted key (Bearer); secret STRIPE_API_KEY",
  description = "customers, invoices, subscriptions (incremental by created, or changes from the Events API); "
    .. "customers by id, email or metadata key; customer metadata written with idempotency keys",
  streams = { "customers", "invoices", "subscriptions" },
  operations = { "customer", "customer_by_email", "customers", "customers_by_metadata", "customer_metadata",
                 "update_customers",
                 "request", "major", "invoice_row" },
}

M.BASE_URL = "https://api.stripe.com"
-- The API version the connector was written against: every request pins it
-- (Stripe-Version), so a dashboard upgrade of the account's default
-- version cannot change the shapes a script reads.
M.STRIPE_VERSION = "2025-03-31.basil"
-- Stripe allows 100 requests a second in live mode and 25 in test mode
-- (sandboxes), fewer on some endpoints (search: 20/s). 20/s stays under
-- every one of them, shared with the account's other integrations; a busy
-- live account raises it with connect { rate_limit = "80/s" }.
M.RATE_LIMIT = "20/s"
M.PAGE = 100                    -- the documented maximum of limit
M.EVENT_DAYS = 30               -- how long Stripe keeps events

local Conn = {}
Conn.__index = Conn

local function fail(class, reason, extra)
  local e = { class = class, reason = reason }
  for k, v in pairs(extra or {}) do e[k] = v end
  error(e, 0)
end

local function is_null(v) return v == nil or v == null end

-- Percent-encodes one path segment (ids are [A-Za-z0-9_], but a script may
-- pass anything).
local function seg(s)
  return (gsub(tostring(s), "[^%w%-%._~]", function(c) return format("%%%02X", byte(c)) end))
end

---------------------------------------------------------------------------
-- money: integer minor units -> exact major units

-- Stripe's zero-decimal currencies (an amount of 500 JPY is 500) and its
-- three-decimal ones (1.234 KWD is 1234); every other currency has two
-- (ISK, HUF and TWD too: Stripe keeps them two-decimal in the API).
M.ZERO_DECIMAL = { bif = true, clp = true, djf = true, gnf = true, jpy = true, kmf = true, krw = true, mga = true,
  pyg = true, rwf = true, ugx = true, vnd = true, vuv = true, xaf = true, xof = true, xpf = true }
M.THREE_DECIMAL = { bhd = true, jod = true, kwd = true, omr = true, tnd = true }

-- The number of decimals of a currency's amounts in the API.
function M.decimals(currency)
  local c = lower(tostring(currency))
  if M.ZERO_DECIMAL[c] then return 0 end
  if M.THREE_DECIMAL[c] then return 3 end
  return 2
end

-- major(amount, currency) -> the amount in major units as an exact decimal
-- string ("1234.50" for 123450 usd, "500" for 500 jpy, "-0.05"), or nil for
-- a null amount. Integer arithmetic only: no float ever holds the money.
function M.major(amount, currency)
  if is_null(amount) then return nil end
  local n = mtype(amount) == "integer" and amount or tointeger(amount)
  if not n then error(format("contrib.stripe: major: %s is not an integer amount in minor units", tostring(amount)), 2) end
  if is_null(currency) then error("contrib.stripe: major: the amount's currency is required", 2) end
  local d = M.decimals(currency)
  if d == 0 then return tostring(n) end
  local sign = n < 0 and "-" or ""
  if n < 0 then n = -n end
  local unit = d == 3 and 1000 or 100
  return format("%s%d.%0" .. d .. "d", sign, n // unit, n % unit)
end

---------------------------------------------------------------------------
-- requests and errors

-- Stripe's error body: { error = { type, code, param, message, decline_code } },
-- as far as the (possibly cut) body can be read.
local function stripe_error(body)
  if type(body) ~= "string" or body == "" then return {} end
  local ok, v = pcall(json.decode, body)
  if ok and type(v) == "table" and type(v.error) == "table" then
    local e = v.error
    local function s(x) return type(x) == "string" and x ~= "" and x or nil end
    return { type = s(e.type), code = s(e.code), param = s(e.param), message = s(e.message),
             decline_code = s(e.decline_code) }
  end
  return { message = (gsub(body:sub(1, 200), "%s+", " ")) }
end
M.stripe_error = stripe_error

-- HTTP status -> ferry's class. 402 is a card_error (the parameters were
-- valid but the request failed), 409 an idempotency_error (a key reused
-- with other parameters: retrying the same request cannot succeed), so
-- both are about the record, not the connection; 424 (an external
-- dependency failed) and 5xx are worth another try later.
local CLASS = { [400] = "validation", [401] = "auth", [402] = "validation", [403] = "permission",
  [404] = "not_found", [409] = "validation", [422] = "validation", [424] = "transient", [429] = "transient" }

-- The table error for a failed request: Stripe's own type, code, param and
-- message, which never hold the key in full (a 401 shows at most its last
-- four characters, as Stripe masks it).
local function http_error(method, path, err)
  local status = err.status
  local v = stripe_error(err.body)
  local class = status and (CLASS[status] or (status >= 500 and "transient") or "validation") or err.class or "transient"
  local what = format("stripe %s %s", method, path)
  local reason
  if status then
    local kind = v.type or "error"
    if v.code then kind = kind .. " " .. v.code end
    reason = format("%s: %d %s: %s", what, status, kind, v.message or tostring(err.message or "failed"))
    if v.param then reason = reason .. format(" (param %s)", v.param) end
  else
    reason = format("%s: %s", what, tostring(err.message or "failed"))
  end
  if class == "auth" then
    reason = reason .. " (check the key: STRIPE_API_KEY, sent as a Bearer token)"
  elseif class == "permission" then
    reason = reason .. " (a restricted key needs this resource's permission)"
  end
  if err.attempts and err.attempts > 1 then reason = reason .. format(" (after %d attempts)", err.attempts) end
  return { class = class, status = status, reason = reason, field = v.param, type = v.type, code = v.code }
end

-- Flattens a nested table into Stripe's form keys: { metadata = { a = 1 } }
-- is metadata[a]=1, a list is key[0], key[1]...; ferry.json.null (or "")
-- is sent as an empty value, which is how Stripe unsets a metadata key.
local function flatten(t, prefix, out)
  out = out or {}
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local v = t[k]
    local name
    if prefix then
      name = format("%s[%s]", prefix, mtype(k) == "integer" and tostring(k - 1) or tostring(k))
    else
      name = tostring(k)
    end
    if v == null then
      out[name] = ""
    elseif type(v) == "table" then
      if next(v) == nil then out[name] = "" else flatten(v, name, out) end
    elseif type(v) == "boolean" then
      out[name] = v and "true" or "false"
    else
      out[name] = tostring(v)
    end
  end
  return out
end
M.form = function(t) return flatten(t) end

local CONNECT_KEYS = { base_url = true, api_key = true, stripe_version = true, rate_limit = true, retry = true,
  timeout = true, concurrency = true }

-- connect { base_url = "https://api.stripe.com", api_key = "STRIPE_API_KEY",
--           stripe_version = "2025-03-31.basil", rate_limit = "20/s",
--           retry = { attempts = 5, base = "1s", max = "30s" }, timeout = "30s",
--           concurrency = 4 }
function M.connect(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("contrib.stripe: connect: expects a table of options", 2) end
  for k in pairs(opts) do
    if not CONNECT_KEYS[k] then error(format("contrib.stripe: connect: unknown option '%s'", tostring(k)), 2) end
  end
  local version = opts.stripe_version or M.STRIPE_VERSION
  if type(version) ~= "string" or not match(version, "^%d%d%d%d%-%d%d%-%d%d") then
    error(format("contrib.stripe: connect: stripe_version '%s': a version such as \"%s\"", tostring(version),
      M.STRIPE_VERSION), 2)
  end
  local base = gsub(opts.base_url or M.BASE_URL, "/+$", "")
  local self = setmetatable({
    base_url = base,
    secret_name = opts.api_key or "STRIPE_API_KEY",
    stripe_version = version,
    timeout = opts.timeout or "30s",
    concurrency = opts.concurrency or 4,
  }, Conn)
  self.http = ferry.http.client {
    base_url = base,
    key = "stripe:" .. base,
    headers = { ["Stripe-Version"] = version },
    rate_limit = opts.rate_limit or M.RATE_LIMIT,
    -- Stripe sends no rate-limit headers and no Retry-After: a 429 waits
    -- the client's backoff (at least a second), then tries again.
    retry = opts.retry or { attempts = 5, base = "1s", max = "30s" },
  }
  return self
end

function Conn:auth(ctx)
  return { bearer = ctx:secret(self.secret_name) }
end

-- request(ctx, method, path, opts) -> the decoded body, or raises
-- { class, reason, status, field, type, code }. opts: query (a list value
-- repeats its key: { ["expand[]"] = { "data.customer" } }), form (nested
-- tables flattened as metadata[key]), idempotency_key.
function Conn:request(ctx, method, path, opts)
  opts = opts or {}
  local res, err = self.http:request(method, path, {
    query = opts.query, form = opts.form and flatten(opts.form) or nil, auth = self:auth(ctx),
    timeout = self.timeout, idempotency_key = opts.idempotency_key,
    idempotent = method == "GET" or nil,
  })
  if not res then error(http_error(method, path, err), 0) end
  local body, jerr = res:json()
  if type(body) ~= "table" then
    fail("schema_drift", format("stripe %s %s: the answer is not a JSON object: %s", method, path,
      tostring(jerr and jerr.message or body)), { status = res.status })
  end
  return body
end

---------------------------------------------------------------------------
-- lists and streams

-- expand = { "customer", ... } -> the query's expand[] for a list (data.X)
-- or for one object (X).
local function expand_query(expand, list)
  if expand == nil then return nil end
  if type(expand) == "string" then expand = { expand } end
  local out = {}
  for i, f in ipairs(expand) do out[i] = list and ("data." .. f) or f end
  return out
end

-- each_page(ctx, path, query, after, fn): GETs a list endpoint page by page
-- (limit 100, starting_after the previous page's last id) from `after`
-- (nil: the first page), calling fn(data, last_id, has_more); fn returns
-- true to stop.
function Conn:each_page(ctx, path, query, after, fn)
  while true do
    local q = { limit = M.PAGE, starting_after = after }
    for k, v in pairs(query or {}) do q[k] = v end
    local body = self:request(ctx, "GET", path, { query = q })
    if body.object ~= "list" or type(body.data) ~= "table" or type(body.has_more) ~= "boolean" then
      fail("schema_drift", format("stripe GET %s: not a list (object %s, has_more %s)", path,
        tostring(body.object), tostring(body.has_more)))
    end
    local last = body.data[#body.data]
    if last ~= nil and type(last.id) ~= "string" then
      fail("schema_drift", format("stripe GET %s: an object without an id", path))
    end
    local more = body.has_more and last ~= nil
    if fn(body.data, last and last.id, more) or not more then return end
    after = last.id
  end
end

local STREAMS = {
  customers = { path = "/v1/customers", events = "customer.*" },
  invoices = { path = "/v1/invoices", events = "invoice.*" },
  subscriptions = { path = "/v1/subscriptions", events = "customer.subscription.*", query = { status = "all" } },
}

-- A time option (an ISO time or epoch seconds) as epoch seconds.
local function epoch_of(v, what)
  if v == nil then return nil end
  if type(v) == "number" then return v // 1 end
  local t = time.parse(tostring(v))
  -- level 4: the script's line that called stream()
  if not t then error(format("contrib.stripe: %s: an ISO time or epoch seconds, got %q", what, tostring(v)), 4) end
  return t // 1
end

local function created_of(name, r)
  local c = type(r) == "table" and r.created
  if mtype(c) ~= "integer" then
    fail("schema_drift", format("stripe %s: an object without an integer created (id %s)", name,
      tostring(type(r) == "table" and r.id)))
  end
  return c
end

-- The list walk (customers, invoices or subscriptions by created).
--
-- Stripe lists newest created first and cannot sort the other way; it
-- filters by created[gte]. So a run asks for created >= the last run's
-- high-water mark and walks DOWN with starting_after. That is correct across
-- runs: an object created during the walk lands above it (newer created),
-- and the next run's created[gte] = top (the newest created this walk saw)
-- reaches it; gte, not gt, so an object created in the same second as top
-- after it was read is not missed (the one read twice is upserted twice).
-- It is resumable: starting_after is an id, and what lies below an id never
-- moves (new objects only ever go on top), so a walk that failed on page 30
-- resumes at page 30. The cursor, checkpointed after every page:
--   { since = N }                       between runs (N: epoch seconds)
--   { since = N, top = T, after = ID }  in the middle of a walk
-- `created` never changes: an invoice read as a draft and paid later is not
-- seen again by this walk. Use { changes = true } (the Events API) or
-- { full = true } (a full re-read each run) for that.
local function list_stream(conn, name, def, opts)
  local query = {}
  for k, v in pairs(def.query or {}) do query[k] = v end
  for k, v in pairs(opts.query or {}) do query[k] = v end
  query["expand[]"] = expand_query(opts.expand, true)
  local since0 = epoch_of(opts.since, "since")
  return function(ctx)
    local cur = type(ctx.cursor) == "table" and ctx.cursor or {}
    local since = cur.since or since0
    if opts.full then since = since0 end
    local top, after = cur.top, cur.after
    local q = {}
    for k, v in pairs(query) do q[k] = v end
    q["created[gte]"] = since
    conn:each_page(ctx, def.path, q, after, function(rows, last, more)
      for _, r in ipairs(rows) do
        local c = created_of(name, r)
        if top == nil or c > top then top = c end
        if not opts.filter or opts.filter(r) then ctx:emit(r) end
      end
      if more then
        ctx:checkpoint({ since = since, top = top, after = last })
      else
        ctx:checkpoint({ since = top or since })
      end
    end)
  end
end

-- The changes walk ({ changes = true }): what was created or changed since
-- the last run, from the Events API (GET /v1/events, types[] = invoice.*
-- ...), by the same cursor as the list walk over the events' created and
-- ids. An event's data.object is the object as it was at that event, and
-- the walk meets the newest event first, so emitting those would load an
-- older state over a newer one; instead each page's distinct object ids
-- are read again (GET /v1/invoices/{id}, concurrently) and their current
-- state is emitted. An object deleted since (a draft invoice) is skipped.
--
-- Stripe keeps events 30 days. So the first run, and a run whose cursor is
-- older than that, read the whole list instead (the list walk, resumable:
-- { started = T, after = ID }), and then continue from events at T: the
-- time that full read began, less five minutes for clock skew, so a change
-- made during the read is read again after it. Cursors:
--   { since = N }                       between runs (events from N)
--   { since = N, top = T, after = ID }  in the middle of an events walk
--   { started = T, after = ID }         in the middle of a full read
local function changes_stream(conn, name, def, opts)
  local types = opts.types or { def.events }
  local expand = expand_query(opts.expand, false)
  local list_query = {}
  for k, v in pairs(def.query or {}) do list_query[k] = v end
  for k, v in pairs(opts.query or {}) do list_query[k] = v end
  list_query["expand[]"] = expand_query(opts.expand, true)
  list_query["created[gte]"] = epoch_of(opts.since, "since")
  local function keep(o) return not opts.filter or opts.filter(o) end

  local function full_read(ctx, cur)
    local started = cur.started or (time.now() // 1 - 300)
    conn:each_page(ctx, def.path, list_query, cur.after, function(rows, last, more)
      for _, r in ipairs(rows) do
        created_of(name, r)
        if keep(r) then ctx:emit(r) end
      end
      ctx:checkpoint(more and { started = started, after = last } or { since = started })
    end)
  end

  -- the current state of each object an events page names, emitted
  local function emit_current(ctx, ids)
    local reqs = {}
    for i, id in ipairs(ids) do
      reqs[i] = { "GET", def.path .. "/" .. seg(id), { query = expand and { ["expand[]"] = expand } or nil,
        auth = conn:auth(ctx), timeout = conn.timeout, idempotent = true } }
    end
    if #reqs == 0 then return end
    for i, r in ipairs(conn.http:all(reqs, { concurrency = conn.concurrency })) do
      if r.res then
        local o = r.res:json()
        if type(o) ~= "table" or type(o.id) ~= "string" then
          fail("schema_drift", format("stripe GET %s/%s: not an object with an id", def.path, ids[i]))
        end
        if not o.deleted and keep(o) then ctx:emit(o) end
      else
        local e = http_error("GET", def.path .. "/" .. ids[i], r.err)
        if e.class ~= "not_found" then error(e, 0) end
        ctx.log.info("stripe: a changed object no longer exists", { stream = name, id = ids[i] })
      end
    end
  end

  return function(ctx)
    local cur = type(ctx.cursor) == "table" and ctx.cursor or {}
    if cur.started or cur.since == nil then return full_read(ctx, cur) end
    if cur.since < time.now() // 1 - M.EVENT_DAYS * 86400 then
      ctx.log.warn("stripe: the last run is older than the 30 days of events Stripe keeps: reading every object",
        { stream = name, since = time.format(cur.since) })
      return full_read(ctx, {})
    end
    local since, top = cur.since, cur.top
    conn:each_page(ctx, "/v1/events", { ["types[]"] = types, ["created[gte]"] = since }, cur.after,
      function(events, last, more)
        local ids, seen = {}, {}
        for _, e in ipairs(events) do
          local c = created_of("events", e)
          if top == nil or c > top then top = c end
          local o = type(e.data) == "table" and e.data.object
          if type(o) ~= "table" or type(o.id) ~= "string" then
            fail("schema_drift", format("stripe events: event %s has no data.object.id", tostring(e.id)))
          end
          if not seen[o.id] then seen[o.id] = true; ids[#ids + 1] = o.id end
        end
        emit_current(ctx, ids)
        ctx:checkpoint(more and { since = since, top = top, after = last } or { since = top or since })
      end)
  end
end

local STREAM_OPTS = { since = true, full = true, changes = true, expand = true, filter = true, query = true,
  types = true }

-- stream(name, opts) -> extract(ctx). name: "customers", "invoices" or
-- "subscriptions". opts: since (ISO time or epoch: where a first run
-- starts), expand (fields to expand, e.g. { "customer" }), query (more list
-- filters, e.g. { status = "paid" }), filter (function(record) -> keep?),
-- full (read everything from `since` every run), changes (read what
-- changed, from the Events API; types overrides the event types).
function Conn:stream(name, opts)
  local def = STREAMS[name]
  if not def then
    error(format("contrib.stripe: unknown stream '%s' (customers, invoices, subscriptions)", tostring(name)), 2)
  end
  opts = opts or {}
  for k in pairs(opts) do
    if not STREAM_OPTS[k] then error(format("contrib.stripe: stream: unknown option '%s'", tostring(k)), 2) end
  end
  if opts.full and opts.changes then error("contrib.stripe: stream: full or changes, not both", 2) end
  if opts.changes then return changes_stream(self, name, def, opts) end
  return list_stream(self, name, def, opts)
end

---------------------------------------------------------------------------
-- reporting rows

local function iso(t)
  if mtype(t) == "integer" then return time.format(t) end
  return nil
end

local function id_of(v)
  if type(v) == "table" then return v.id end
  if is_null(v) then return nil end
  return v
end

-- invoice_row(invoice) -> one flat row for a reporting table: ids, status,
-- currency, amounts both in minor units (exact integers, the *_minor
-- fields) and in major units (exact decimal strings), the billing period
-- and the month the revenue belongs to (the month it was finalized, UTC;
-- a draft's creation month), and the metadata as JSON. Use it as the
-- transform of an invoices stream (a table, never raises on a missing
-- field: nil).
function M.invoice_row(inv)
  if type(inv) ~= "table" or type(inv.id) ~= "string" then
    return nil, { class = "schema_drift", reason = "stripe: an invoice without an id" }
  end
  local cur = not is_null(inv.currency) and lower(inv.currency) or nil
  if cur == nil then return nil, { class = "schema_drift", reason = "stripe: invoice " .. inv.id .. " has no currency" } end
  local st = type(inv.status_transitions) == "table" and inv.status_transitions or {}
  local finalized = not is_null(st.finalized_at) and st.finalized_at or nil
  local customer = inv.customer
  local sub = inv.subscription
  if is_null(sub) and type(inv.parent) == "table" and type(inv.parent.subscription_details) == "table" then
    sub = inv.parent.subscription_details.subscription       -- where 2025-03-31.basil moved it
  end
  local row = {
    invoice_id = inv.id,
    number = not is_null(inv.number) and inv.number or nil,
    customer_id = id_of(customer),
    customer_email = not is_null(inv.customer_email) and inv.customer_email
      or (type(customer) == "table" and not is_null(customer.email) and customer.email) or nil,
    subscription_id = id_of(sub),
    status = not is_null(inv.status) and inv.status or nil,
    currency = cur,
    total_minor = inv.total, subtotal_minor = inv.subtotal, amount_due_minor = inv.amount_due,
    amount_paid_minor = inv.amount_paid, amount_remaining_minor = inv.amount_remaining,
    period_start = iso(inv.period_start), period_end = iso(inv.period_end),
    created = iso(inv.created), finalized_at = iso(finalized),
    paid_at = iso(not is_null(st.paid_at) and st.paid_at or nil),
    month = time.format(finalized or inv.created):sub(1, 7),
    metadata = json.encode(type(inv.metadata) == "table" and inv.metadata or {}),
  }
  for _, f in ipairs { "total", "subtotal", "amount_due", "amount_paid", "amount_remaining" } do
    local v = row[f .. "_minor"]
    if is_null(v) then row[f .. "_minor"] = nil else row[f] = M.major(v, cur) end
  end
  return row
end

---------------------------------------------------------------------------
-- customers: by id, by email, by metadata

-- customer(ctx, id) -> the customer, or nil, { class = "lookup_missing" }
-- when there is none or it was deleted. opts.expand as for streams.
function Conn:customer(ctx, id, opts)
  if is_null(id) or tostring(id):match("^%s*$") then
    return nil, { class = "lookup_missing", reason = "stripe: no customer id to look up (empty value)" }
  end
  local path = "/v1/customers/" .. seg(id)
  local ok, c = pcall(self.request, self, ctx, "GET", path,
    { query = opts and opts.expand and { ["expand[]"] = expand_query(opts.expand, false) } or nil })
  if not ok then
    if type(c) == "table" and c.class == "not_found" then
      return nil, { class = "lookup_missing", reason = format("stripe: no customer %q", tostring(id)) }
    end
    error(c, 0)
  end
  if c.deleted then
    return nil, { class = "lookup_missing", reason = format("stripe: customer %q was deleted", tostring(id)) }
  end
  return c
end

-- customer_by_email(ctx, email) -> the newest customer with that email, or
-- nil (Stripe allows several customers per email, and its email filter is
-- exact and case-sensitive: the email is sent trimmed, as given). One
-- request, for a handler that meets one email; `customers` is the form for
-- a run over many.
function Conn:customer_by_email(ctx, email)
  if is_null(email) or tostring(email):match("^%s*$") then return nil end
  local body = self:request(ctx, "GET", "/v1/customers",
    { query = { email = (match(tostring(email), "^%s*(.-)%s*$")), limit = 1 } })
  if type(body.data) ~= "table" then fail("schema_drift", "stripe GET /v1/customers: not a list") end
  return body.data[1]
end

-- customers(opts) -> a ferry.lookup: a customer's email (any case) -> its
-- Stripe id, from one paged read of all customers (per ttl, default "1h").
-- Two customers with one email are lookup_ambiguous.
function Conn:customers(opts)
  opts = opts or {}
  local conn = self
  return ferry.lookup {
    name = opts.name or "stripe_customers",
    normalize = "email", ttl = opts.ttl or "1h", refresh_on_miss = opts.refresh_on_miss,
    fetch = function(ctx, add)
      conn:each_page(ctx, "/v1/customers", nil, nil, function(rows)
        for _, c in ipairs(rows) do
          if not is_null(c.email) then add(c.email, c.id) end
        end
      end)
    end,
  }
end

-- customers_by_metadata(key, opts) -> a ferry.lookup: the value of the
-- customers' metadata[key] (a CRM company id, a PSA client id) -> the Stripe
-- customer id, from one paged read of all customers (per ttl, default
-- "1h"). Not Stripe's search API: its index lags writes by up to a minute
-- and it is not available in every region. opts.value = "email" (or any
-- top-level field) answers that field instead of the id.
function Conn:customers_by_metadata(key, opts)
  if type(key) ~= "string" or key == "" then
    error("contrib.stripe: customers_by_metadata(key, opts): the metadata key", 2)
  end
  opts = opts or {}
  local conn, value = self, opts.value or "id"
  return ferry.lookup {
    name = opts.name or ("stripe_customers_by_" .. gsub(key, "[^%w_]", "_")),
    normalize = opts.normalize or "trim", ttl = opts.ttl or "1h", refresh_on_miss = opts.refresh_on_miss,
    fetch = function(ctx, add)
      conn:each_page(ctx, "/v1/customers", nil, nil, function(rows)
        for _, c in ipairs(rows) do
          local v = type(c.metadata) == "table" and c.metadata[key]
          if type(v) == "string" and v ~= "" and not is_null(c[value]) then add(v, c[value]) end
        end
      end)
    end,
  }
end

-- customer_metadata(key, opts) -> a ferry.lookup the other way: a Stripe
-- customer id -> the value of its metadata[key], so an invoice's customer
-- joins to the CRM company or PSA client it belongs to. One paged read of
-- all customers (per ttl, default "1h"); a customer without the key is a
-- miss (lookup_missing).
function Conn:customer_metadata(key, opts)
  if type(key) ~= "string" or key == "" then
    error("contrib.stripe: customer_metadata(key, opts): the metadata key", 2)
  end
  opts = opts or {}
  local conn = self
  return ferry.lookup {
    name = opts.name or ("stripe_customer_" .. gsub(key, "[^%w_]", "_")),
    normalize = "trim", ttl = opts.ttl or "1h", refresh_on_miss = opts.refresh_on_miss,
    fetch = function(ctx, add)
      conn:each_page(ctx, "/v1/customers", nil, nil, function(rows)
        for _, c in ipairs(rows) do
          local v = type(c.metadata) == "table" and c.metadata[key]
          if type(v) == "string" and v ~= "" then add(c.id, v) end
        end
      end)
    end,
  }
end

---------------------------------------------------------------------------
-- writes

-- FNV-1a, 64 bits, as 16 hex digits: a short, stable digest of a request
-- body for its idempotency key (not a security measure).
local function fnv64(s)
  local h = -3750763034362895579                 -- 0xcbf29ce484222325
  for i = 1, #s do h = (h ~ byte(s, i)) * 1099511628211 end
  return format("%016x", h)
end

local WRITABLE = { email = true, name = true, description = true, phone = true, metadata = true }

-- The form of one record's update, or nil and a reason.
local function update_form(rec, key)
  if type(rec) ~= "table" then return nil, "a record must be a table" end
  local form = {}
  for k, v in pairs(rec) do
    if k ~= key then
      if not WRITABLE[k] then
        return nil, format("field %s: not a customer field this connector writes (email, name, description, "
          .. "phone, metadata)", tostring(k))
      end
      if k == "metadata" and type(v) ~= "table" then return nil, "field metadata: a table of key = value" end
      form[k] = v
    end
  end
  if next(form) == nil then return nil, "nothing to write (no metadata, email, name, description or phone)" end
  return form
end

-- update_customers(opts) -> load(batch, ctx): POST /v1/customers/{id} per
-- record ({ id = "cus_...", metadata = { crm_company_id = "..." }, email?,
-- name?, description?, phone? }; opts.key names the id field, default
-- "id"), `concurrency` at a time: Stripe has no batch endpoint. Metadata
-- keys are merged into the customer's; ferry.json.null (or "") unsets one.
-- Each request carries an Idempotency-Key derived from the run, the record's
-- id and its body, so a request retried after a lost answer (a timeout, a
-- 5xx, a restart of the batch in the same run) is applied once: Stripe
-- answers the saved result. Returns the runner's per-index failures:
-- validation with Stripe's message and field = error.param, lookup_missing
-- for a customer that does not exist; an auth or permission failure raises
-- (the key is wrong, not the record).
function Conn:update_customers(opts)
  opts = opts or {}
  local key = opts.key or "id"
  local conn = self
  local concurrency = opts.concurrency or self.concurrency
  return function(batch, ctx)
    local failures, reqs, index = {}, {}, {}
    local auth = conn:auth(ctx)
    for i, rec in ipairs(batch) do
      local id = type(rec) == "table" and rec[key]
      local form, why
      if is_null(id) or tostring(id):match("^%s*$") then
        why = format("field %s: the customer's id is required", key)
      else
        form, why = update_form(rec, key)
      end
      if not form then
        failures[i] = { class = "validation", reason = "stripe: " .. why, field = why and match(why, "^field (%S+):") }
      else
        local flat = flatten(form)
        local path = "/v1/customers/" .. seg(id)
        local idem = format("ferry-%s-%s-%s", tostring(ctx.run_id), tostring(id),
          fnv64(path .. "?" .. ferry.http.encode_query(flat)))
        reqs[#reqs + 1] = { "POST", path, { form = flat, auth = auth, timeout = conn.timeout, idempotency_key = idem } }
        index[#reqs] = i
      end
    end
    if #reqs > 0 then
      for j, r in ipairs(conn.http:all(reqs, { concurrency = concurrency })) do
        if r.err then
          local e = http_error("POST", reqs[j][2], r.err)
          if e.class == "auth" or e.class == "permission" then error(e, 0) end
          if e.class == "not_found" then
            -- the customer, not the endpoint, is missing: it may be created
            -- later, so the record waits and is retried (not_found would pause)
            e.class = "lookup_missing"
            e.reason = e.reason .. " (retried on later runs)"
          end
          failures[index[j]] = e
        end
      end
    end
    if next(failures) then return failures end
  end
end

return M
