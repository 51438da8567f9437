-- ferry.test: a script's or connector's own tests, run by `ferry test`.
--
--   local t = ferry.test
--   local api = t.server()                       -- fixtures on 127.0.0.1
--   api:route("GET", "/v1/accounts", t.json(t.fixture("fixtures/accounts.json")))
--   local crm = t.system { script = "../crm_accounts.lua", secrets = { CRM_TOKEN = "test" },
--                          http = { ["https://api.crm.example"] = api } }
--
--   t.case("accounts land in the table", function()
--     local r = crm:run()
--     t.eq(r.status, "ok")
--     t.eq(#crm:rows("crm.db", "SELECT * FROM accounts"), 3)
--   end)
--
-- Each system is the script under test with a data directory and config
-- of its own (only the secrets named, http.rewrite sending the vendor's
-- URLs to the fixtures); each run is a real `ferry run` of it. Cases run in
-- order and share what the file set up; a failed assertion ends its case.
local core = require "ferry.test.core"
local ferry = ferry
local json = ferry.json
local null = json.null
local type, pairs, ipairs, tostring, tonumber, select, error, pcall, xpcall, setmetatable, getmetatable =
  type, pairs, ipairs, tostring, tonumber, select, error, pcall, xpcall, setmetatable, getmetatable
local format, find, sub, match, gmatch, char = string.format, string.find, string.sub, string.match,
  string.gmatch, string.char
local concat, sort, remove, unpack = table.concat, table.sort, table.remove, table.unpack
local traceback = debug.traceback

local M = {}

---------------------------------------------------------------------------
-- assertions: a failure is a table error, so its case reports the message
-- (with the test file's line) and not a traceback

local failure_mt = { __tostring = function(f) return f.msg end }

-- "file.lua:LINE: " of the caller `level` frames up (the sandbox's debug
-- library has only traceback)
local function where(level)
  local at = match(traceback("", level + 1), "\n%s*([^\n]-:%d+):")
  return at and (match(at, "[^/]*$") .. ": ") or ""
end

-- fail(msg [, level]): end the case with msg
function M.fail(msg, level)
  error(setmetatable({ msg = where((level or 1) + 1) .. tostring(msg) }, failure_mt), 0)
end
local fail = M.fail

-- A value in one line, for messages: JSON where it can be, cut at 300 bytes.
local function show(v)
  local s
  if type(v) == "string" then s = format("%q", v)
  elseif type(v) == "table" then
    local ok, enc = pcall(json.encode, v)
    s = ok and enc or tostring(v)
  else s = tostring(v) end
  if #s > 300 then s = sub(s, 1, 297) .. "..." end
  return s
end
M.show = show

-- Where a and b first differ ("" when equal): ".results[2].name: 'a' vs 'b'".
local function diff(a, b, path)
  if a == b then return nil end
  if type(a) ~= "table" or type(b) ~= "table" then
    return format("%s: got %s, want %s", path ~= "" and path or "value", show(a), show(b))
  end
  for k, v in pairs(b) do
    local d = diff(a[k], v, path .. (type(k) == "number" and format("[%d]", k) or "." .. tostring(k)))
    if d then return d end
  end
  for k, v in pairs(a) do
    if b[k] == nil then
      return format("%s%s: got %s, want nothing", path, type(k) == "number" and format("[%d]", k) or "." .. tostring(k),
        show(v))
    end
  end
  return nil
end

function M.eq(got, want, msg)
  local d = diff(got, want, "")
  if d then fail((msg and msg .. ": " or "") .. d, 2) end
  return got
end

function M.ok(v, msg)
  if not v then fail(msg or "expected a true value, got " .. show(v), 2) end
  return v
end

-- contains(s, plain [, msg]): s holds the text `plain`
function M.contains(s, plain, msg)
  if type(s) ~= "string" or not find(s, plain, 1, true) then
    fail(format("%sexpected %s in %s", msg and msg .. ": " or "", show(plain), show(s)), 2)
  end
  return s
end

function M.not_contains(s, plain, msg)
  if type(s) == "string" and find(s, plain, 1, true) then
    fail(format("%sdid not expect %s in %s", msg and msg .. ": " or "", show(plain), show(s)), 2)
  end
  return s
end

-- Does v hold everything `part` holds (tables: key by key, recursively)?
local function holds(v, part)
  if type(part) ~= "table" then return v == part end
  if type(v) ~= "table" then return false end
  for k, p in pairs(part) do
    if not holds(v[k], p) then return false end
  end
  return true
end

-- has(list, part [, msg]) -> the first element holding `part`, or fails
function M.has(list, part, msg)
  if type(list) == "table" then
    for _, v in ipairs(list) do
      if holds(v, part) then return v end
    end
  end
  fail(format("%sno element holds %s in %s", msg and msg .. ": " or "", show(part), show(list)), 2)
end

---------------------------------------------------------------------------
-- fixtures

-- fixture(path): a file beside the test (JSON files decoded)
function M.fixture(path)
  local text = core.read(path)
  if match(path, "%.json$") then
    local v, err = json.decode(text)
    if v == nil and err then error(format("ferry.test: fixture %s: %s", path, tostring(err)), 2) end
    return v
  end
  return text
end

local function copy(v)
  if type(v) ~= "table" then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = copy(x) end
  return setmetatable(c, getmetatable(v))
end
M.copy = copy

M.NONE = setmetatable({}, { __tostring = function() return "ferry.test.NONE" end })

-- with(value, { ["a.b[2].c"] = v, ... }): a deep copy with those changes;
-- t.NONE removes a key. For "a new field" and "an unknown picklist value".
function M.with(value, changes)
  local out = copy(value)
  for path, v in pairs(changes) do
    local keys = {}
    for name, idx in gmatch(path, "([^.%[%]]*)%[?(%d*)%]?") do
      if name ~= "" then keys[#keys + 1] = name end
      if idx ~= "" then keys[#keys + 1] = tonumber(idx) end
    end
    local t = out
    for i = 1, #keys - 1 do
      if type(t[keys[i]]) ~= "table" then t[keys[i]] = {} end
      t = t[keys[i]]
    end
    if v == M.NONE then t[keys[#keys]] = nil else t[keys[#keys]] = copy(v) end
  end
  return out
end

---------------------------------------------------------------------------
-- responses

-- reply{ status = 200, json = value | body = "text", headers = { name = value } }
local function reply(status, body, headers)
  local r = { status = status or 200, headers = headers or {} }
  if type(body) == "table" then r.json = body else r.body = body end
  return r
end

function M.json(value, status, headers) return reply(status or 200, value == nil and null or value, headers) end
function M.status(code, body, headers) return reply(code, body, headers) end
function M.unauthorized(body, headers)
  return reply(401, body or { message = "Authentication credentials not found" }, headers)
end
-- rate_limited(n [, headers, body]): n answers 429 (a storm), e.g. before a page
function M.rate_limited(n, headers, body)
  local list = { many = true }
  for i = 1, n do
    list[i] = reply(429, body or { message = "rate limit exceeded" }, headers or { ["Retry-After"] = "1" })
  end
  return list
end

---------------------------------------------------------------------------
-- the fixture server

local server_mt = {}
server_mt.__index = server_mt

local function parse_query(q)
  local out = {}
  for pair in gmatch(q or "", "[^&]+") do
    local k, v = match(pair, "^([^=]*)=?(.*)$")
    local function unescape(s) return (s:gsub("+", " "):gsub("%%(%x%x)", function(h) return char(tonumber(h, 16)) end)) end
    out[unescape(k)] = unescape(v)
  end
  return out
end

local function handle(self, method, uri, headers, body)
  local path, query = match(uri, "^([^?#]*)%??([^#]*)")
  local req = { method = method, path = path, query = parse_query(query), raw_query = query, headers = headers,
                body = body, at = ferry.time.now() }
  if body ~= "" and headers["content-type"] and find(headers["content-type"], "json", 1, true) then
    req.json = json.decode(body)
  end
  self.log[#self.log + 1] = req
  for _, r in ipairs(self.routes) do
    if r.method == method and (r.path == path or (r.pattern and match(path, r.path))) then
      local i = r.next
      local res = r.responses[i]
      if i < #r.responses then r.next = i + 1 end
      r.hits = r.hits + 1
      req.route = r
      local hdrs = { ["Content-Type"] = "application/json" }
      for k, v in pairs(res.headers or {}) do hdrs[k] = tostring(v) end
      local out = res.body
      if res.json ~= nil then out = json.encode(res.json) end
      if type(res.fn) == "function" then return res.fn(req) end
      return res.status, hdrs, out or ""
    end
  end
  req.unmatched = true
  return 404, { ["Content-Type"] = "application/json" },
    json.encode({ ferry_test = format("no fixture for %s %s", method, path) })
end

-- server() -> a fixture server; server.url is its base URL
function M.server()
  local self = setmetatable({ routes = {}, log = {} }, server_mt)
  self.core = core.server(function(...) return handle(self, ...) end)
  self.url = "http://127.0.0.1:" .. self.core:port()
  return self
end

-- route(method, path, response...): answers in turn, the last one again
-- and again. A path beginning with "^" is a Lua pattern. A response may be
-- a list (t.rate_limited) or a function(req) -> status, headers, body.
function server_mt:route(method, path, ...)
  local responses = {}
  for i = 1, select("#", ...) do
    local r = select(i, ...)
    if type(r) == "function" then r = { fn = r } end
    if type(r) ~= "table" then error("ferry.test: route: a response is a table (t.json, t.status, ...)", 2) end
    if r.many then
      for _, x in ipairs(r) do responses[#responses + 1] = x end
    else
      responses[#responses + 1] = r
    end
  end
  if #responses == 0 then error("ferry.test: route: no response given", 2) end
  -- a later route for the same method and path replaces the earlier one
  for i, r in ipairs(self.routes) do
    if r.method == method and r.path == path then remove(self.routes, i) break end
  end
  local r = { method = method, path = path, pattern = sub(path, 1, 1) == "^", responses = responses, next = 1, hits = 0 }
  self.routes[#self.routes + 1] = r
  return r
end

-- requests([method [, path]]) -> what the server received, in order
function server_mt:requests(method, path)
  local out = {}
  for _, r in ipairs(self.log) do
    if (not method or r.method == method) and (not path or r.path == path or (sub(path, 1, 1) == "^" and match(r.path, path))) then
      out[#out + 1] = r
    end
  end
  return out
end

-- unmatched() -> requests no route answered (a 404 from ferry test)
function server_mt:unmatched()
  local out = {}
  for _, r in ipairs(self.log) do if r.unmatched then out[#out + 1] = r end end
  return out
end

function server_mt:reset()
  self.routes, self.log = {}, {}
end

---------------------------------------------------------------------------
-- systems under test

local system_mt = {}
system_mt.__index = system_mt
local nsystems, file_tag = 0, "f"

local function absolute(path)
  if sub(path, 1, 1) == "/" then return path end
  return ferry.script_dir .. "/" .. path
end

-- system{ script = PATH, secrets = { NAME = value }, http = { [prefix] = server | url } }
function M.system(o)
  if type(o) ~= "table" or type(o.script) ~= "string" then
    error("ferry.test: system{ script = PATH, secrets = {...}, http = {...} }", 2)
  end
  nsystems = nsystems + 1
  local script = absolute(o.script)
  local self = setmetatable({ script = script, secrets = o.secrets or {}, label = format("%s-s%d", file_tag, nsystems) }, system_mt)
  local names, rewrite = {}, {}
  for k in pairs(self.secrets) do names[#names + 1] = k end
  sort(names)
  for from, to in pairs(o.http or {}) do
    rewrite[#rewrite + 1] = { from, type(to) == "table" and to.url or to }
  end
  self.dir = core.system(self.label, { script_dir = match(script, "^(.*)/[^/]*$") or ".", secrets = names,
                                        rewrite = rewrite })
  -- the integration's name, from ferry check (which also proves the script loads)
  local code, out, err = core.ferry(self.label, { "check", script }, self.secrets)
  self.name = match(out, ": ok: ([^ ]+) %(")
  if code ~= 0 or not self.name then
    error(format("ferry.test: %s does not check: %s%s", o.script, out, err), 2)
  end
  return self
end

-- ferry(args...) -> code, stdout, stderr: any of run, check, runs,
-- quarantine, status, reset on this system
-- A sanitizer's report in a child's stderr (ferry built with SANITIZE=1)
-- fails the case: the child's exit status alone would hide it.
local function sanitizer(err)
  return match(err, "[^\n]*AddressSanitizer[^\n]*") or match(err, "[^\n]*LeakSanitizer[^\n]*")
      or match(err, "[^\n]*runtime error:[^\n]*")
end

local function run_ferry(label, args, secrets, stdin)
  local code, out, err, timed_out = core.ferry(label, args, secrets, 300, stdin)
  if timed_out then fail(format("ferry %s did not finish within 300 s", concat(args, " ")), 3) end
  local san = sanitizer(err)
  if san then fail(format("ferry %s: sanitizer report: %s", concat(args, " "), san), 3) end
  return code, out, err
end

function system_mt:ferry(...)
  return run_ferry(self.label, { ... }, self.secrets)
end

local function decode(text, what)
  local v, err = json.decode(text)
  if v == nil then fail(format("%s: not JSON (%s): %s", what, tostring(err), show(text)), 3) end
  return v
end

-- run([{ dry_run = true }]) -> { code, out, err, status, run = the run record
-- (ferry runs --json), counts = run.counts }
function system_mt:run(o)
  local args = { "run" }
  if o and o.dry_run then args[#args + 1] = "--dry-run" end
  args[#args + 1] = self.script
  local code, out, err = self:ferry(unpack(args))
  local r = { code = code, out = out, err = err }
  if not (o and o.dry_run) then
    local _, jout = self:ferry("runs", self.name, "--json", "--limit", "1")
    local runs = decode(jout, "ferry runs --json")
    r.run = runs[1]
    r.status = r.run and r.run.status
  end
  return r
end

-- deliver(body [, { headers = { Name = value }, delivery_id = ID }]) -> the
-- event's id: an event in the script's webhook inbox (ferry events add),
-- as its hook would have stored it; body a string or a table (as JSON).
-- The next run handles it.
function system_mt:deliver(body, o)
  if type(body) == "table" then body = json.encode(body) end
  local args = { "events", "add", self.script }
  local names = {}
  for k in pairs(o and o.headers or {}) do names[#names + 1] = k end
  sort(names)
  for _, k in ipairs(names) do
    args[#args + 1] = "--header"
    args[#args + 1] = k .. ": " .. tostring(o.headers[k])
  end
  if o and o.delivery_id then
    args[#args + 1] = "--delivery-id"
    args[#args + 1] = o.delivery_id
  end
  local code, out, err = run_ferry(self.label, args, self.secrets, body)
  if code ~= 0 then fail(format("ferry events add: exit %d: %s%s", code, out, err), 2) end
  return tonumber(match(out, "^event (%d+)"))
end

-- quarantine() -> the open quarantine records (ferry quarantine NAME --json)
function system_mt:quarantine()
  local code, out, err = self:ferry("quarantine", "list", self.name, "--json")
  if code ~= 0 then fail("ferry quarantine list: exit " .. code .. ": " .. err, 2) end
  return decode(out, "ferry quarantine --json")
end

-- rows(db, sql [, params]) -> rows of a database the script writes (its
-- data directory's DB file)
function system_mt:rows(db, sql, params)
  local h = assert(ferry.sqlite.open(self.dir .. "/" .. db))
  local rows = h:rows(sql, params)
  h:close()
  return rows
end

---------------------------------------------------------------------------
-- running a file's cases (core/fy_cmd_kit.c calls main in the test's run)

local cases = {}

-- case(name, fn): a test case; cases run in the order declared
function M.case(name, fn)
  if type(name) ~= "string" or type(fn) ~= "function" then error("ferry.test: case(name, function)", 2) end
  cases[#cases + 1] = { name = name, fn = fn }
end

-- A message on the case's line; a traceback's lines follow indented.
local function one_line(msg)
  return (tostring(msg):gsub("\n", "\n    "))
end

-- main(chunk, label) -> passed, failed: prints "ok LABEL: CASE" or
-- "not ok LABEL: CASE: why" for each
function M.main(chunk, label, tag)
  file_tag = tag
  local ok, err = xpcall(chunk, traceback)
  if not ok then
    print(format("not ok %s: the file fails before its cases: %s", label, one_line(err)))
    return 0, 1
  end
  if #cases == 0 then
    print(format("not ok %s: no cases (t.case(name, function) declares one)", label))
    return 0, 1
  end
  local passed, failed = 0, 0
  for _, c in ipairs(cases) do
    local fine, why = xpcall(c.fn, function(e)
      if getmetatable(e) == failure_mt then return e.msg end
      return traceback(tostring(e), 2)
    end)
    if fine then
      passed = passed + 1
      print(format("ok %s: %s", label, c.name))
    else
      failed = failed + 1
      print(format("not ok %s: %s: %s", label, c.name, one_line(why)))
    end
  end
  return passed, failed
end

return M
