-- Retry rules and Retry-After. Args: BASE TLS_BASE CERT_DIR CLOSED_PORT
local H = dofile(ferry.script_dir .. "/lib.lua")
local base, _, _, closed_port = ...
local http = ferry.http
local case, check, eq, has = H.case, H.check, H.eq, H.has

local function client(extra)
  local retry = { attempts = 4, base = "50ms", max = "1s" }
  for k, v in pairs(extra or {}) do retry[k] = v end
  return http.client { retry = retry }
end

-- 4. -------------------------------------------------------------------------
for _, t in ipairs {
  { code = 503, fail = 3 }, { code = 502, fail = 2 }, { code = 504, fail = 1 }, { code = 429, fail = 1 },
} do
  local n = t.fail + 1
  case(string.format("http retry: %d is retried and succeeds on attempt %d (server saw %d)", t.code, n, n), function()
    H.reset(base)
    local key = "r" .. t.code
    local res = H.ok(client():get(base .. "/flaky", { query = { key = key, fail = t.fail, code = t.code } }))
    eq(res.status, 200, "status")
    eq(res.attempts, n, "res.attempts")
    eq(H.json(res).attempt, n, "attempt the server answered")
    local reqs = H.requests(base, "/flaky")
    eq(#reqs, n, "requests the server saw")
    for i, r in ipairs(reqs) do eq(r.status, i < n and t.code or 200, "status of request " .. i) end
  end)
end

case("http retry: 503 on every attempt gives up after 4 attempts with class transient", function()
  H.reset(base)
  local err = H.fails(client():get(base .. "/flaky", { query = { key = "all503", fail = 10, code = 503 } }))
  eq(err.class, "transient", "class")
  eq(err.status, 503, "status")
  eq(err.attempts, 4, "attempts")
  has(tostring(err), "after 4 attempts", "tostring(err)")
  eq(#H.requests(base, "/flaky"), 4, "requests the server saw")
end)

case("http retry: 500 is not retried by default, but is with retry_500 = true", function()
  H.reset(base)
  local err = H.fails(client():get(base .. "/flaky", { query = { key = "p500", fail = 1, code = 500 } }))
  eq(err.class, "transient", "class")
  eq(err.status, 500, "status")
  eq(err.attempts, 1, "attempts")
  eq(#H.requests(base, "/flaky"), 1, "requests the server saw without retry_500")
  H.reset(base)
  local res = H.ok(client({ retry_500 = true }):get(base .. "/flaky", { query = { key = "q500", fail = 1, code = 500 } }))
  eq(res.attempts, 2, "attempts with retry_500")
  eq(#H.requests(base, "/flaky"), 2, "requests the server saw with retry_500")
end)

case("http retry: 400 401 403 404 409 410 422 are never retried and get their classes", function()
  H.reset(base)
  local want = { [400] = "validation", [401] = "auth", [403] = "permission", [404] = "not_found",
                 [409] = "validation", [410] = "not_found", [422] = "validation" }
  local c = client({ retry_500 = true })
  for _, code in ipairs { 400, 401, 403, 404, 409, 410, 422 } do
    local res, err = c:get(base .. "/flaky", { query = { key = "c" .. code, fail = 5, code = code } })
    err = H.fails(res, err, code)
    eq(err.class, want[code], code .. " class")
    eq(err.status, code, code .. " status")
    eq(err.attempts, 1, code .. " attempts")
    -- POST and PUT with an idempotency key are not retried either
    local pres, perr = c:put(base .. "/flaky", { query = { key = "p" .. code, fail = 5, code = code },
      idempotency_key = "k" .. code })
    perr = H.fails(pres, perr, code .. " PUT")
    eq(perr.attempts, 1, code .. " PUT attempts")
  end
  local by = {}
  for _, r in ipairs(H.requests(base, "/flaky")) do
    local k = r.query.key[1]
    by[k] = (by[k] or 0) + 1
  end
  for _, code in ipairs { 400, 401, 403, 404, 409, 410, 422 } do
    eq(by["c" .. code], 1, "GET requests the server saw for " .. code)
    eq(by["p" .. code], 1, "PUT requests the server saw for " .. code)
  end
end)

case("http retry: connection refused is class transient after 4 attempts", function()
  check(closed_port and closed_port ~= "", "no closed port given")
  local url = "http://127.0.0.1:" .. closed_port .. "/echo"
  local t0 = H.now()
  local err = H.fails(client():get(url))
  eq(err.class, "transient", "class")
  eq(err.attempts, 4, "attempts")
  eq(err.status, nil, "status")
  eq(err.url, url, "url")
  check(H.now() - t0 < 5, "took %.2f s", H.now() - t0)
end)

case("http retry: POST is not retried; it is with idempotent = true or an idempotency_key", function()
  H.reset(base)
  local c = client()
  local err = H.fails(c:post(base .. "/methods", { query = { fail = 1, key = "post-plain" }, json = { a = 1 } }))
  eq(err.status, 503, "plain POST status")
  eq(err.attempts, 1, "plain POST attempts")
  local res = H.ok(c:post(base .. "/methods", { query = { fail = 1, key = "post-idem" }, json = { a = 1 }, idempotent = true }))
  eq(res.attempts, 2, "idempotent POST attempts")
  res = H.ok(c:post(base .. "/methods", { query = { fail = 1, key = "post-key" }, json = { a = 1 }, idempotency_key = "k" }))
  eq(res.attempts, 2, "POST with idempotency_key attempts")
  local by = {}
  for _, r in ipairs(H.requests(base, "/methods")) do
    local k = r.query.key[1]
    by[k] = by[k] or {}
    table.insert(by[k], r)
  end
  eq(#(by["post-plain"] or {}), 1, "plain POST requests the server saw")
  eq(#(by["post-idem"] or {}), 2, "idempotent POST requests the server saw")
  eq(#(by["post-key"] or {}), 2, "POST with idempotency_key requests the server saw")
  for i, r in ipairs(by["post-key"]) do
    eq(r.headers["idempotency-key"], "k", "Idempotency-Key of attempt " .. i)
    eq(r.body, '{"a":1}', "body of attempt " .. i)
  end
  eq(by["post-plain"][1].headers["idempotency-key"], nil, "no Idempotency-Key on a plain POST")
end)

case("http retry: PATCH is not retried, PUT and DELETE are", function()
  H.reset(base)
  local c = client()
  eq(H.fails(c:patch(base .. "/methods", { query = { fail = 1, key = "patch" }, body = "x" })).attempts, 1, "PATCH attempts")
  eq(H.ok(c:put(base .. "/methods", { query = { fail = 1, key = "put" }, body = "x" })).attempts, 2, "PUT attempts")
  eq(H.ok(c:delete(base .. "/methods", { query = { fail = 1, key = "del" } })).attempts, 2, "DELETE attempts")
  eq(#H.requests(base, "/methods"), 5, "requests the server saw")
end)

case("http retry: retry = false on a call turns retries off", function()
  H.reset(base)
  local err = H.fails(client():get(base .. "/flaky", { query = { key = "off", fail = 1 }, retry = false }))
  eq(err.attempts, 1, "attempts")
  eq(#H.requests(base, "/flaky"), 1, "requests the server saw")
end)

case("http retry: a retry deadline gives up early, mentioning the deadline", function()
  H.reset(base)
  local c = http.client { retry = { attempts = 6, base = "1s", max = "4s", deadline = "300ms" } }
  local t0 = H.now()
  local err = H.fails(c:get(base .. "/flaky", { query = { key = "deadline", fail = 10 } }))
  local took = H.now() - t0
  eq(err.class, "transient", "class")
  has(err.message, "deadline", "message")
  check(err.attempts < 6, "attempts = %d: the deadline did not stop the retries", err.attempts)
  check(took < 1.0, "gave up after %.2f s; the deadline is 0.3 s", took)
  eq(#H.requests(base, "/flaky"), err.attempts, "requests the server saw = attempts")
end)

case("http retry: the deadline message states the configured deadline (300ms, not '0s')", function()
  local c = http.client { retry = { attempts = 6, base = "1s", max = "4s", deadline = "300ms" } }
  local err = H.fails(c:get(base .. "/flaky", { query = { key = "deadline-msg", fail = 10 } }))
  has(err.message, "deadline", "message")
  H.hasnt(err.message, "deadline of 0s", "message")
end)

-- 5. -------------------------------------------------------------------------
-- Gap between the first two requests the server saw under PREFIX.
local function gap(prefix)
  local reqs = H.requests(base, prefix)
  check(#reqs >= 2, "server saw %d requests", #reqs)
  return reqs[2].t_mono - reqs[1].t_mono, reqs
end

case("http Retry-After: seconds (1) makes the retry arrive >= 0.9 s later", function()
  H.reset(base)
  local res = H.ok(client():get(base .. "/retry-after", { query = { key = "ra-s", mode = "seconds", value = 1 } }))
  eq(res.attempts, 2, "attempts")
  local g, reqs = gap("/retry-after")
  eq(#reqs, 2, "requests the server saw")
  check(g >= 0.9 and g < 2.5, "second request %.3f s after the first (want 0.9 .. 2.5)", g)
end)

case("http Retry-After: 503 with Retry-After is honoured too", function()
  H.reset(base)
  local res = H.ok(client():get(base .. "/retry-after", { query = { key = "ra-503", value = 1, code = 503 } }))
  eq(res.attempts, 2, "attempts")
  local g = gap("/retry-after")
  check(g >= 0.9 and g < 2.5, "second request %.3f s after the first (want 0.9 .. 2.5)", g)
end)

case("http Retry-After: an HTTP-date makes the retry wait until that date (~1-2 s)", function()
  H.reset(base)
  local c = http.client { retry = { attempts = 4, base = "50ms", max = "10s" } }
  local res = H.ok(c:get(base .. "/retry-after", { query = { key = "ra-d", mode = "date", value = 1 } }))
  eq(res.attempts, 2, "attempts")
  local g, reqs = gap("/retry-after")
  eq(#reqs, 2, "requests the server saw")
  -- the date is ceil(now + 1) in whole seconds: 1..2 s away, minus clock rounding
  check(g >= 0.9 and g < 4.0, "second request %.3f s after the first (want 0.9 .. 4.0)", g)
end)

case("http Retry-After: a value above retry.max is capped to max (30 s -> ~1 s)", function()
  H.reset(base)
  local t0 = H.now()
  local res = H.ok(client():get(base .. "/retry-after", { query = { key = "ra-cap", value = 30 } }))
  eq(res.attempts, 2, "attempts")
  local g = gap("/retry-after")
  check(g >= 0.9 and g < 1.5, "second request %.3f s after the first (want 0.9 .. 1.5)", g)
  check(H.now() - t0 < 5, "the call took %.2f s", H.now() - t0)
end)

-- A 429 says "slow down" even when its Retry-After is missing or junk: the
-- next attempt waits at least 1 s (retry.max, when smaller), never just
-- the backoff (here at most 10 ms). Lower bounds only.
for _, t in ipairs {
  { what = "without Retry-After", path = "/flaky", query = { key = "429-none", fail = 1, code = 429 } },
  { what = "with Retry-After: soon", path = "/retry-after", query = { key = "429-junk", value = "soon" } },
  { what = "with Retry-After: -5", path = "/retry-after", query = { key = "429-neg", value = "-5" } },
  { what = "with Retry-After: 0", path = "/retry-after", query = { key = "429-zero", value = "0" } },
} do
  case("http 429 " .. t.what .. ": the retry waits >= 0.9 s (the minimum of 1 s), not the 10 ms backoff", function()
    H.reset(base)
    local c = http.client { retry = { attempts = 3, base = "10ms", max = "5s" } }
    local res = H.ok(c:get(base .. t.path, { query = t.query }))
    eq(res.attempts, 2, "attempts")
    local g, reqs = gap(t.path)
    eq(#reqs, 2, "requests the server saw")
    eq(reqs[1].status, 429, "status of the first")
    check(g >= 0.9, "second request %.3f s after the first (want >= 0.9)", g)
  end)
end

case("http 429 without Retry-After: the minimum wait is capped by retry.max (200 ms)", function()
  H.reset(base)
  local c = http.client { retry = { attempts = 3, base = "10ms", max = "200ms" } }
  local res = H.ok(c:get(base .. "/flaky", { query = { key = "429-cap", fail = 1, code = 429 } }))
  eq(res.attempts, 2, "attempts")
  local g = gap("/flaky")
  check(g >= 0.18, "second request %.3f s after the first (want >= 0.18)", g)
end)

H.finish()
