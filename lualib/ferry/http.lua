-- ferry.http: an HTTP client that reads as sequential code and never blocks
-- the engine. Each call yields the run until the response (or the last
-- retry) arrives; retries, Retry-After and rate limits are handled in C.
--
--   local res, err = ctx.http:get("https://api.example.com/v2/accounts", {
--     query = { updated_since = ctx.cursor }, timeout = 20 })
--   if not res then
--     if err.class == "auth" then ... end
--     return nil, err
--   end
--   local data = res:json()
--
-- ferry.http is a client with no retries and no rate limit; ctx.http is
-- bound to the integration's policy.retry and rate_limit;
-- ferry.http.client{...} makes one with its own defaults.
local ferry = ferry
local core = require "ferry.http.core"
local json = ferry.json
local time = ferry.time
local send, send_many, escape, excerpt = core.send, core.send_many, core.escape, core.excerpt
local stream, stream_push, stream_next = core.stream, core.stream_push, core.stream_next
local parsed = core.parsed
local type, pairs, ipairs, tostring, tonumber = type, pairs, ipairs, tostring, tonumber
local setmetatable, error, select, pcall = setmetatable, error, select, pcall
local decode = json.decode
local format, lower, gmatch, match, find, sub, upper = string.format, string.lower, string.gmatch,
  string.match, string.find, string.sub, string.upper
local concat, sort = table.concat, table.sort

local _M = {}

-- Engine-wide defaults from the config's http section.
local defaults = (ferry.config and ferry.config.http) or
  { timeout = 30, connect_timeout = 10, max_size = 64 * 1024 * 1024, max_redirects = 5 }

---------------------------------------------------------------------------
-- errors

-- tostring(err) is one line for summaries, logs and `ferry status`: the
-- body (an HTML error page, say) adds at most its first 200 bytes, with
-- whitespace collapsed and never cut inside a character; --log-level debug
-- logs the whole body (fy_lua_http.c).
local err_mt = {}
err_mt.__index = err_mt
err_mt.__tostring = function(e)
  local s = format("%s: %s %s: %s", e.class, e.method or "?", e.url or "?", e.message or "failed")
  if e.attempts and e.attempts > 1 then s = s .. format(" (after %d attempts)", e.attempts) end
  local body = type(e.body) == "string" and excerpt(e.body, 200) or ""
  if body ~= "" then s = s .. " — " .. body end
  return s
end
_M.error_mt = err_mt

---------------------------------------------------------------------------
-- responses

local headers_mt = {
  __index = function(t, k) if type(k) == "string" then return rawget(t, lower(k)) end end,
}

-- Parse "Name: value\n" lines into a lowercase-keyed table (first value) and
-- a list of { name, value } keeping repeats and order.
local function parse_headers(raw)
  local first, list = {}, {}
  for line in gmatch(raw, "[^\n]+") do
    local name, value = match(line, "^([^:]+):%s*(.-)%s*$")
    if name then
      list[#list + 1] = { name, value }
      local key = lower(name)
      if first[key] == nil then first[key] = value end
    end
  end
  return setmetatable(first, headers_mt), list
end

-- Responses parse their headers on first use: many callers only read
-- status and body.
local response_mt = {}
local response_methods = {}
response_mt.__index = function(self, k)
  if k == "headers" or k == "header_list" then
    local first, list = parse_headers(rawget(self, "raw_headers"))
    self.headers, self.header_list = first, list
    return rawget(self, k)
  end
  return response_methods[k]
end

-- The body decoded as JSON, or nil and an error of class "validation".
-- Never raises itself, whatever the body (decode runs under pcall); a
-- tripped memory limit still ends the hook at its next instruction. A
-- large JSON body was parsed on the engine's JSON thread before the
-- response arrived (fy_lua_http.c): the values are built from that parse,
-- once; another call, or a body the script replaced, decodes here.
function response_methods:json()
  local ok, v, err = pcall(parsed, self)
  if ok and v == nil and err == nil then ok, v, err = pcall(decode, self.body) end
  if not ok then v, err = nil, "cannot decode JSON: " .. tostring(v) end
  if v == nil then
    return nil, setmetatable({ class = "validation", message = err, url = self.url, method = self.method,
      status = self.status, body = sub(self.body, 1, 512) }, err_mt)
  end
  return v
end

core.set_metatables(response_mt, err_mt)   -- responses and errors come from C with them

function response_methods:header(name) return self.headers[name] end

-- Every value of a repeated header, in order.
function response_methods:header_all(name)
  local out, key = {}, lower(name)
  for _, h in ipairs(self.header_list) do
    if lower(h[1]) == key then out[#out + 1] = h[2] end
  end
  return out
end

---------------------------------------------------------------------------
-- building requests

-- Encode a query table: sorted keys, list values repeat the key.
local function encode_query(q)
  local keys = {}
  for k in pairs(q) do keys[#keys + 1] = tostring(k) end
  sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = q[k]
    if type(v) == "table" then
      for _, item in ipairs(v) do parts[#parts + 1] = escape(k) .. "=" .. escape(tostring(item)) end
    elseif v ~= nil and v ~= false then
      parts[#parts + 1] = escape(k) .. "=" .. escape(tostring(v))
    end
  end
  return concat(parts, "&")
end
_M.encode_query = encode_query

local function join_url(base, url, query)
  if base and not find(url, "^%a[%w+.-]*://") then
    url = (base:gsub("/+$", "")) .. "/" .. (url:gsub("^/+", ""))
  end
  if query then
    local q = encode_query(query)
    if q ~= "" then url = url .. (find(url, "?", 1, true) and "&" or "?") .. q end
  end
  return url
end

local function seconds(v, what)
  if v == nil or type(v) == "number" then return v end
  local s, err = time.duration(v)
  if not s then error(format("ferry.http: %s: %s", what, err), 4) end
  return s
end

-- "10/s", "600/min", "100/10s" or { rate = "10/s", burst = 20 } -> per-second rate, burst
local function parse_rate(v)
  if v == nil then return nil end
  local spec, burst = v, nil
  if type(v) == "table" then spec, burst = v.rate, v.burst end
  if type(spec) == "number" then return spec, burst or 1 end
  local n, per = match(tostring(spec), "^%s*([%d.]+)%s*/%s*(.-)%s*$")
  n = tonumber(n)
  if not n then error("ferry.http: rate limit must look like \"10/s\" or \"100/10s\", got " .. tostring(spec), 3) end
  -- the period is a duration, its count optional: "s", "min", "10s", "2 hours"
  local secs = time.duration(match(per, "^%d") and per or "1" .. per)
  if not secs or secs <= 0 then error("ferry.http: bad rate limit period in " .. tostring(spec), 3) end
  return n / secs, burst or 1
end
_M.parse_rate = parse_rate

-- The host of a URL, lower case ("[::1]" keeps its brackets), and its
-- server: the host with the port, if any, the authority without userinfo.
-- host_rate_limits names hosts; a server has its own bucket, which a 429's
-- Retry-After holds for every request to it.
local function host_of(url)
  local authority = match(url, "^%a[%w+.-]*://([^/?#]*)")
  if not authority then return "?", "?" end
  authority = lower(match(authority, "^.*@(.*)$") or authority)
  local host = match(authority, "^%[[^%]]*%]") or match(authority, "^[^:]*")
  if host == "" then return "?", "?" end
  return host, authority
end

-- auth = { bearer = TOKEN } | { basic = { user, password } } |
--        { api_key = VALUE, header = "X-Api-Key" } | { api_key = VALUE, query = "api_key" } |
--        { oauth2 = { token_url = ..., client_id = ..., client_secret = ..., scope = ... } }
local function apply_auth(self, auth, headers, query)
  if not auth then return end
  if auth.bearer then
    headers[#headers + 1] = "Authorization: Bearer " .. auth.bearer
  elseif auth.basic then
    local user, pass = auth.basic[1] or auth.basic.user, auth.basic[2] or auth.basic.password
    headers[#headers + 1] = "Authorization: Basic " .. _M.base64(user .. ":" .. pass)
  elseif auth.api_key then
    if auth.query then query[auth.query] = auth.api_key
    else headers[#headers + 1] = (auth.header or "X-Api-Key") .. ": " .. auth.api_key end
  elseif auth.oauth2 then
    local token, err = self:oauth2_token(auth.oauth2)
    if not token then return err end
    headers[#headers + 1] = "Authorization: Bearer " .. token
  end
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
function _M.base64(s)
  return ((s:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (sub(x, i, i) == "1" and 2 ^ (6 - i) or 0) end
    return sub(B64, c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#s % 3 + 1])
end

local client_mt = {}
client_mt.__index = client_mt

-- Settings a call may override; without overrides every request of a
-- client shares one table of them (the C side reads it once per batch).
local BASE_KEYS = { "timeout", "connect_timeout", "max_size", "max_redirects", "ca_file", "insecure" }

local function base_for(self, opts)
  local own = opts.retry == false
  for i = 1, #BASE_KEYS do
    if opts[BASE_KEYS[i]] ~= nil then own = true end
  end
  if not own then return self.base end
  return {
    timeout = seconds(opts.timeout, "timeout") or self.timeout,
    connect_timeout = seconds(opts.connect_timeout, "connect_timeout") or self.connect_timeout,
    max_size = opts.max_size or self.max_size, max_redirects = opts.max_redirects or self.max_redirects,
    ca_file = opts.ca_file or self.ca_file, insecure = opts.insecure or self.insecure,
    retry = opts.retry == false and { attempts = 1 } or self.retry,
  }
end

-- The rate limits of a request to `server` on `host`: the client's own and
-- the server's (at the host's rate), one table per server.
local function limits_for(self, host, server)
  local limits = self.limits[server]
  if not limits then
    local hr = self.host_rates[host]
    local host_limit = { "host:" .. server, rate = hr and hr[1] or 0, burst = hr and hr[2] or 1 }
    limits = self.rate and { self.rate_limit_spec, host_limit } or { host_limit }
    self.limits[server] = limits
  end
  return limits
end

-- The spec the C side sends, from the client's defaults and the call's opts:
-- { method, url, header lines, rate limits, base settings, body, idempotent }
-- (by position: core/fy_lua_http.c reads one per request).
local EMPTY = {}
local METHODS = {}
for _, m in ipairs { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS" } do
  METHODS[m], METHODS[lower(m)] = m, m
end
-- The rate limits of a request to `full`: many calls go to one URL (or one
-- page after another), so the last URL's are kept.
local function limits_for_url(self, full)
  if full ~= self.last_url then
    self.last_url, self.last_limits = full, limits_for(self, host_of(full))
  end
  return self.last_limits
end

-- The spec of a plain GET of `full` for each(), which passes the URL beside
-- it: one per host (its rate limits), shared by every such GET, so a loop
-- of them builds no table per request. Its own URL is a placeholder.
local function get_spec(self, full)
  if full ~= self.last_get_url then
    local limits = limits_for_url(self, full)
    local spec = self.get_specs[limits]
    if not spec then
      spec = { "GET", false, self.header_lines, limits, self.base }
      self.get_specs[limits] = spec
    end
    self.last_get_url, self.last_get_spec = full, spec
  end
  return self.last_get_spec
end

-- The config's http.rewrite: a URL that starts with a prefix there goes to
-- its replacement (a vendor's sandbox, a proxy, `ferry test`'s fixtures).
local rewrites = defaults.rewrite
local function rewrite(full)
  for i = 1, #rewrites do
    local from = rewrites[i][1]
    local n = #from
    if sub(full, 1, n) == from then
      local nxt = sub(full, n + 1, n + 1)
      -- a whole host or path segment: https://a.example.com never takes https://a.example.community
      if nxt == "" or nxt == "/" or nxt == "?" or sub(from, -1) == "/" then
        return rewrites[i][2] .. sub(full, n + 1)
      end
    end
  end
  return full
end
if not rewrites or #rewrites == 0 then rewrite = nil end

-- The URL a request on a client without query or auth goes to: the
-- client's base_url joined, then the config's rewrite.
local function plain_url(self, url)
  local full = self.base_url and join_url(self.base_url, url) or url
  if rewrite then full = rewrite(full) end
  return full
end

function client_mt:build(method, url, opts)
  if type(url) ~= "string" then error("ferry.http: a request needs a URL string, got " .. type(url), 3) end
  method = METHODS[method] or upper(method)
  -- The common case: no options (opts absent, or the { method, url } pair
  -- itself) on a client without query or auth; only the URL differs from
  -- the client's shared settings.
  if (opts == nil or (opts[2] ~= nil and next(opts, 2) == nil)) and not self.query and not self.auth then
    local full = plain_url(self, url)
    return { method, full, self.header_lines, limits_for_url(self, full), self.base }
  end
  opts = opts or EMPTY
  local query
  if self.query or opts.query then
    query = {}
    if self.query then for k, v in pairs(self.query) do query[k] = v end end
    if opts.query then for k, v in pairs(opts.query) do query[k] = v end end
  end
  local auth = opts.auth
  if auth == nil then auth = self.auth end
  local headers = self.header_lines
  if auth or opts.json ~= nil or opts.form or opts.headers or opts.idempotency_key then
    headers = {}
    for i = 1, #self.header_lines do headers[i] = self.header_lines[i] end
  end
  local body = opts.body
  if opts.json ~= nil then
    local err
    body, err = json.encode(opts.json)
    if not body then error("ferry.http: json body: " .. err, 3) end
    headers[#headers + 1] = "Content-Type: application/json"
  elseif opts.form then
    body = encode_query(opts.form)
    headers[#headers + 1] = "Content-Type: application/x-www-form-urlencoded"
  end
  if auth and auth.api_key and auth.query then query = query or {} end
  local err = apply_auth(self, auth or nil, headers, query)
  if err then return nil, err end
  if opts.headers then
    for k, v in pairs(opts.headers) do headers[#headers + 1] = k .. ": " .. tostring(v) end
  end
  if opts.idempotency_key then headers[#headers + 1] = "Idempotency-Key: " .. opts.idempotency_key end
  local full = join_url(self.base_url, url, query and next(query) and query or nil)
  if rewrite then full = rewrite(full) end
  return { method, full, headers, limits_for_url(self, full), base_for(self, opts), body,
           opts.idempotent or opts.idempotency_key ~= nil }
end

local in_run = core.in_run
local RUN_ONLY = "ferry.http: only inside a run (not at load time, not in a coroutine of the script's own)"

-- request(method, url, opts) -> response | nil, err
function client_mt:request(method, url, opts)
  if not in_run() then error(RUN_ONLY, 2) end
  local spec, err = self:build(method, url, opts)
  if not spec then return nil, err end
  local res
  res, err = send(spec)
  local auth = (opts and opts.auth) or self.auth
  if not res and err.class == "auth" and auth and auth.oauth2 then
    -- one refresh-and-retry: the token may have been revoked or expired early
    self.tokens[auth.oauth2.token_url] = nil
    spec, err = self:build(method, url, opts)
    if not spec then return nil, err end
    res, err = send(spec)
  end
  return res, err
end

for _, m in ipairs { "get", "head", "delete", "options" } do
  client_mt[m] = function(self, url, opts) return self:request(upper(m), url, opts) end
end
for _, m in ipairs { "post", "put", "patch" } do
  client_mt[m] = function(self, url, opts) return self:request(upper(m), url, opts) end
end

-- The spec of request number i of a list: a URL (a GET), { method, url,
-- opts } or { method =, url =, ... }.
local function spec_of(self, r, i, level)
  local spec, err
  if type(r) == "string" then
    spec, err = self:build("GET", r)
  elseif type(r) ~= "table" or type(r[2] or r.url) ~= "string" then
    error(format("ferry.http: request %d needs a URL", i), level + 1)
  else
    spec, err = self:build(r[1] or r.method or "GET", r[2] or r.url, r[3] or r)
  end
  if not spec then error(format("ferry.http: request %d: %s", i, tostring(err)), level + 1) end
  return spec
end

local function specs_for(self, list, level)
  local specs = {}
  for i, r in ipairs(list) do specs[i] = spec_of(self, r, i, level + 1) end
  return specs
end

-- The OAuth2 settings a request of the list uses, if any.
local function oauth2_of(self, req)
  local auth
  if type(req) == "table" then auth = (req[3] or req).auth end
  if auth == nil then auth = self.auth end
  return auth and auth.oauth2
end

-- all({ {method, url, opts} | { url = ..., method = ..., ... }, ... }, { concurrency = 8 })
-- -> list of { res = response } | { err = err }, in the order given.
function client_mt:all(requests, o)
  if not in_run() then error(RUN_ONLY, 2) end
  local function collect(specs, raw, out, index)
    for i = 1, #specs do
      local r = raw[i]
      out[index and index[i] or i] = r.err and r or { res = r }
    end
  end
  local concurrency = o and o.concurrency or 8
  local specs = specs_for(self, requests, 2)
  local out = {}
  collect(specs, send_many(specs, concurrency), out)
  -- like request(): after a 401 on an OAuth2 client, one new token and one retry
  local again, index = {}, {}
  for i, r in ipairs(out) do
    local oauth2 = r.err and r.err.class == "auth" and oauth2_of(self, requests[i])
    if oauth2 then
      self.tokens[oauth2.token_url] = nil
      again[#again + 1], index[#again + 1] = requests[i], i
    end
  end
  if #again > 0 then
    local retry_specs = specs_for(self, again, 2)
    collect(retry_specs, send_many(retry_specs, concurrency), out, index)
  end
  return out
end

-- for i, res, err in http:each(requests, { concurrency = 8 }) do ... end
-- Each response as it arrives (not in the order given), i its request's
-- index. `requests` is a list, or a function returning the next request
-- (nil at the end), so a long run of ids never needs a list of requests.
-- Requests are built as they are needed: at most `concurrency` in flight,
-- as many waiting to start and as many waiting to be read, so memory
-- stays flat however many there are. Leaving the loop early (break,
-- return, an error) cancels the requests still in flight.
function client_mt:each(requests, o)
  if not in_run() then error(RUN_ONLY, 2) end
  local concurrency = o and o.concurrency or 8
  local source = requests
  if type(requests) == "table" then
    local k = 0
    source = function() k = k + 1; return requests[k] end
  elseif type(requests) ~= "function" then
    error("ferry.http: each() takes a list of requests or a function returning the next", 2)
  end
  local s = stream(concurrency)
  local waiting, pushed, more = 0, 0, true
  local oauth_sent = {}             -- by index: { request, the cached token it went with }
  local may_auth = self.auth ~= nil
  -- a URL on a client without query or auth is a plain GET, as build()
  -- makes it: its spec is shared (get_spec) and the URL goes beside it
  local plain = not self.query and not self.auth
  local function iterate()
    while more and waiting < concurrency do
      local r = source()
      if r == nil then more = false break end
      pushed = pushed + 1
      if plain and type(r) == "string" then
        r = plain_url(self, r)
        waiting = stream_push(s, get_spec(self, r), r)
      else
        local spec = spec_of(self, r, pushed, 2)
        if may_auth or type(r) == "table" and (r.auth or r[3] and r[3].auth) then
          local oauth2 = oauth2_of(self, r)
          if oauth2 then oauth_sent[pushed] = { r, self.tokens[oauth2.token_url] } end
        end
        waiting = stream_push(s, spec)
      end
    end
    local i, res, err
    i, res, err, waiting = stream_next(s)
    local sent = i and oauth_sent[i]
    if sent then oauth_sent[i] = nil end
    if not err then return i, res end       -- i is nil at the end
    if sent and err.class == "auth" then  -- like request(): one new token (per token that failed), one retry
      local url = oauth2_of(self, sent[1]).token_url
      if self.tokens[url] == sent[2] then self.tokens[url] = nil end
      local spec = spec_of(self, sent[1], i, 2)
      res, err = send(spec)
      if res then return i, res end
    end
    return i, nil, err
  end
  return iterate, nil, nil, s
end

-- OAuth2 client credentials, cached per token URL until shortly before expiry.
function client_mt:oauth2_token(o)
  local cached = self.tokens[o.token_url]
  local now = time.now()
  if cached and cached.expires_at - (o.refresh_before or 60) > now then return cached.token end
  local form = { grant_type = "client_credentials", scope = o.scope }
  local auth
  if o.basic_auth then auth = { basic = { o.client_id, o.client_secret } }
  else form.client_id, form.client_secret = o.client_id, o.client_secret end
  local spec = self:build("POST", o.token_url, { form = form, auth = auth or false, idempotent = true })
  local res, err = send(spec)
  if not res then
    err.message = "OAuth2 token request failed: " .. tostring(err.message)
    if err.class == "validation" or err.class == "not_found" then err.class = "auth" end
    return nil, err
  end
  local body, jerr = res:json()
  if not body or type(body.access_token) ~= "string" then
    return nil, setmetatable({ class = "auth", method = "POST", url = res.url, status = res.status,
      message = "OAuth2 token response has no access_token" .. (jerr and (": " .. tostring(jerr.message)) or "") }, err_mt)
  end
  core.secret(body.access_token)
  self.tokens[o.token_url] = { token = body.access_token, expires_at = now + (tonumber(body.expires_in) or 3600) }
  return body.access_token
end

-- client{ base_url, headers, query, auth, retry = { attempts, backoff, base, max, deadline, retry_500 },
--         rate_limit = "10/s" | { rate, burst }, key = "rate limit key", host_rate_limits = { [host] = "5/s" },
--         timeout, connect_timeout, max_size, max_redirects, ca_file,
--         rate_limit_headers = { remaining = NAME, reset = NAME, unit = "s" | "ms" | "epoch" | "iso8601" } }
-- A vendor's own rate-limit headers: { remaining = NAME, reset = NAME,
-- unit = "s" | "ms" | "epoch" | "iso8601" } (unit default: guessed from
-- the value, as for the standard headers).
local RESET_UNITS = { auto = true, s = true, ms = true, epoch = true, iso8601 = true }
local function rate_limit_headers(h)
  if h == nil then return nil end
  local function bad(why) error("ferry.http.client: rate_limit_headers: " .. why, 4) end
  if type(h) ~= "table" then bad("a table { remaining = NAME, reset = NAME, unit = ... }") end
  for k in pairs(h) do
    if k ~= "remaining" and k ~= "reset" and k ~= "unit" then bad(format("unknown key '%s'", tostring(k))) end
  end
  for _, k in ipairs { "remaining", "reset" } do
    if type(h[k]) ~= "string" or not match(h[k], "^[%w%-_]+$") then bad(k .. ": a header name") end
  end
  if h.unit ~= nil and not RESET_UNITS[h.unit] then
    bad(format("unit '%s': one of s, ms, epoch, iso8601", tostring(h.unit)))
  end
  return { remaining = h.remaining, reset = h.reset, unit = h.unit or "auto" }
end

function _M.client(o)
  o = o or {}
  local retry = o.retry
  local r = { attempts = 1 }
  if retry then
    r = {
      attempts = retry.attempts or 5,
      base = seconds(retry.base, "retry.base") or 1,
      max = seconds(retry.max, "retry.max") or 60,
      deadline = seconds(retry.deadline, "retry.deadline") or 0,
      retry_500 = retry.retry_500 or false,
    }
  end
  local rate, burst = parse_rate(o.rate_limit)
  local host_rates = {}
  for host, v in pairs(o.host_rate_limits or {}) do host_rates[lower(host)] = { parse_rate(v) } end
  -- the default Accept, unless the client names its own (one Accept line,
  -- not two: BambooHR answers XML, or 404 for a report, to anything but
  -- exactly application/json)
  local header_lines = {}
  for k, v in pairs(o.headers or {}) do header_lines[#header_lines + 1] = k .. ": " .. tostring(v) end
  local own_accept = false
  for k in pairs(o.headers or {}) do own_accept = own_accept or string.lower(k) == "accept" end
  if not own_accept then table.insert(header_lines, 1, "Accept: application/json, */*;q=0.5") end
  local self = {
    base_url = o.base_url, header_lines = header_lines, query = o.query, auth = o.auth, retry = r,
    rate = rate, rate_limit_spec = rate and { "integration:" .. (o.key or tostring(o)), rate = rate, burst = burst },
    host_rates = host_rates,
    timeout = seconds(o.timeout, "timeout") or defaults.timeout,
    connect_timeout = seconds(o.connect_timeout, "connect_timeout") or defaults.connect_timeout,
    max_size = o.max_size or defaults.max_size, max_redirects = o.max_redirects or defaults.max_redirects,
    ca_file = o.ca_file or defaults.ca_file, insecure = o.insecure, tokens = {}, limits = {},
    get_specs = {},
  }
  self.base = {
    timeout = self.timeout, connect_timeout = self.connect_timeout, max_size = self.max_size,
    max_redirects = self.max_redirects, ca_file = self.ca_file, insecure = self.insecure, retry = r,
    rate_limit_headers = rate_limit_headers(o.rate_limit_headers),
  }
  return setmetatable(self, client_mt)
end

-- The module itself is a client without retries or limits.
local default = _M.client {}
for k, v in pairs(client_mt) do
  if type(v) == "function" and k ~= "build" then
    _M[k] = function(first, ...)
      if first == _M then return v(default, ...) end
      return v(default, first, ...)
    end
  end
end
_M.redact_url = core.redact_url
_M.secret = core.secret

return _M
