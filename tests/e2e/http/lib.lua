-- Helpers shared by the HTTP case files (tests/e2e/http/*.lua), loaded with
--   local H = dofile(ferry.script_dir .. "/lib.lua")
-- Every case prints exactly one "ok NAME" or "not ok NAME: why" line; a case
-- that raises is reported and the next one still runs. H.finish() prints
-- "done N" last, so test_http.sh can tell a crash of ferry from a clean end.
-- Each case's duration goes to stderr as "# SECONDS s  NAME". To run some
-- cases only: HTTP_CASE=substring build/ferry lua tests/e2e/http/FILE.lua \
--   http://127.0.0.1:PORT - - 1   (BASE TLS_BASE CERT_DIR CLOSED_PORT).
local http = ferry.http
local json = ferry.json
local format = string.format

local H = {}
H.ncases = 0
H.failed = 0

local function oneline(s)
  return (tostring(s):gsub("[\r\n]+", " | "))
end

-- case(NAME, fn): runs fn in pcall; fn raises (H.check / error) to fail.
function H.case(name, fn)
  local only = os.getenv("HTTP_CASE")
  if only and only ~= "" and not name:find(only, 1, true) then return end
  H.ncases = H.ncases + 1
  local t0 = ferry.time.now()
  local ok, err = pcall(fn)
  io.stderr:write(format("# %.2f s  %s\n", ferry.time.now() - t0, name))
  if ok then
    print("ok " .. name)
  else
    H.failed = H.failed + 1
    print("not ok " .. name .. ": " .. oneline(err))
  end
  io.stdout:flush()
end

function H.finish()
  print(format("done %d", H.ncases))
  io.stdout:flush()
end

function H.show(v)
  if type(v) == "table" then
    local mt = getmetatable(v)
    if mt and mt.__tostring then return tostring(v) end
    return json.encode(v) or tostring(v)
  end
  return tostring(v)
end

-- check(cond, fmt, ...): raises a one-line message when cond is false.
function H.check(cond, fmt, ...)
  if not cond then error(format(fmt, ...), 0) end
  return cond
end

-- Canonical form: tables compared by sorted keys, recursively.
local function canon(v)
  if type(v) ~= "table" then return H.show(v) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. "=" .. canon(v[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end
H.canon = canon

function H.eq(got, want, what)
  if canon(got) ~= canon(want) then
    error(format("%s: got %s, want %s", what or "value", H.show(got), H.show(want)), 0)
  end
end

function H.has(s, sub, what)
  if type(s) ~= "string" or not s:find(sub, 1, true) then
    error(format("%s: expected to find '%s' in %s", what or "value", sub, H.show(s)), 0)
  end
end

function H.hasnt(s, sub, what)
  if type(s) == "string" and s:find(sub, 1, true) then
    error(format("%s: did not expect '%s' in %s", what or "value", sub, H.show(s)), 0)
  end
end

-- ok(res, err): the response, or raise with the error.
function H.ok(res, err, what)
  if not res then error(format("%s: request failed: %s", what or "request", H.show(err)), 0) end
  return res
end

-- ok_as(WHAT, res, err) / fails_as(WHAT, res, err): the same, naming the
-- request (WHAT first, so a call can be passed as the last argument).
function H.ok_as(what, res, err) return H.ok(res, err, what) end
function H.fails_as(what, res, err) return H.fails(res, err, what) end

-- fails(res, err): the error, or raise because a response came back.
function H.fails(res, err, what)
  if res then
    error(format("%s: expected an error, got status %s: %s", what or "request", tostring(res.status),
      (res.body or ""):sub(1, 200)), 0)
  end
  H.check(type(err) == "table", "%s: the error is not a table: %s", what or "request", H.show(err))
  return err
end

function H.json(res, what)
  local v, err = res:json()
  if v == nil then error(format("%s: body is not JSON: %s", what or "response", H.show(err)), 0) end
  return v
end

-- Control routes of the fake, through the module-level client (no retries).
-- H.ca_file (set by a case file) lets them reach the TLS fake.
function H.reset(base)
  local res = H.ok_as("POST /_reset", http.post(base .. "/_reset", { ca_file = H.ca_file }))
  H.check(res.status == 200, "POST /_reset: status %s", tostring(res.status))
end

-- requests(base, path_prefix, method) -> the recorded requests, oldest first.
function H.requests(base, prefix, method)
  local q = {}
  if prefix then q.path_prefix = prefix end
  if method then q.method = method end
  local res = H.ok_as("GET /_requests", http.get(base .. "/_requests", { query = q, ca_file = H.ca_file }))
  return H.json(res, "/_requests").requests
end

-- Sorted list of t_mono of the recorded requests.
function H.times(reqs)
  local ts = {}
  for i, r in ipairs(reqs) do ts[i] = r.t_mono end
  table.sort(ts)
  return ts
end

-- Largest number of timestamps in any half-open window [t, t + w).
function H.max_in_window(ts, w)
  local best, j = 0, 1
  for i = 1, #ts do
    while ts[i] - ts[j] >= w do j = j + 1 end
    if i - j + 1 > best then best = i - j + 1 end
  end
  return best
end

function H.now() return ferry.time.now() end

function H.round(x, n)
  local m = 10 ^ (n or 3)
  return math.floor(x * m + 0.5) / m
end

return H
