-- Timeouts and concurrency inside one run: http:all.
-- Args: BASE TLS_BASE CERT_DIR CLOSED_PORT
local H = dofile(ferry.script_dir .. "/lib.lua")
local base = ...
local http = ferry.http
local case, check, eq, has = H.case, H.check, H.eq, H.has

-- 8. -------------------------------------------------------------------------
case("http timeout: /hang with timeout = 0.5 fails with class transient in < 2 s, message mentions the timeout", function()
  local t0 = H.now()
  local err = H.fails(http.get(base .. "/hang?seconds=5", { timeout = 0.5 }))
  local took = H.now() - t0
  eq(err.class, "transient", "class")
  check(err.message:lower():find("timed out", 1, true) or err.message:lower():find("timeout", 1, true),
    "message does not mention the timeout: %s", err.message)
  check(err.elapsed >= 0.45 and err.elapsed < 2, "err.elapsed = %.3f", err.elapsed)
  check(took < 2, "the call took %.2f s", took)
  eq(err.attempts, 1, "attempts")
end)

case("http timeout: a duration string works too (timeout = \"300ms\")", function()
  local err = H.fails(http.get(base .. "/hang?seconds=5", { timeout = "300ms" }))
  eq(err.class, "transient", "class")
  check(err.elapsed >= 0.25 and err.elapsed < 2, "err.elapsed = %.3f", err.elapsed)
end)

case("http timeout: a hanging request does not block the others (a concurrent /echo completes first)", function()
  H.reset(base)
  local t0 = H.now()
  local out = http.all({
    { "GET", base .. "/hang?seconds=5", { timeout = 0.5 } },
    { "GET", base .. "/echo" },
  }, { concurrency = 2 })
  local took = H.now() - t0
  local herr, echo = out[1].err, out[2].res
  check(herr, "the /hang did not fail: %s", H.show(out[1]))
  eq(herr.class, "transient", "hang class")
  check(echo and echo.status == 200, "the /echo failed: %s", H.show(out[2].err))
  check(echo.elapsed < herr.elapsed and echo.elapsed < 0.4,
    "echo took %.3f s, the hang %.3f s: the echo should finish well before", echo.elapsed, herr.elapsed)
  check(took < 2, "all() took %.2f s", took)
  local reqs = H.requests(base)
  eq(#reqs, 2, "requests the server saw")
end)

-- 15. ------------------------------------------------------------------------
case("http all: concurrency = 8 over 40 /hang?seconds=0.2 (some 404s) finishes < 2.5 s, results in order", function()
  H.reset(base)
  local list = {}
  for i = 1, 40 do
    if i % 5 == 0 then list[i] = { "GET", base .. "/status/404", { query = { i = i } } }
    else list[i] = { "GET", base .. "/hang", { query = { seconds = 0.2, i = i } } } end
  end
  local t0 = H.now()
  local out = http.all(list, { concurrency = 8 })
  local took = H.now() - t0
  eq(#out, 40, "results")
  for i = 1, 40 do
    local r = out[i]
    if i % 5 == 0 then
      check(r.err and r.res == nil, "result %d should be { err }: %s", i, H.show(r))
      eq(r.err.class, "not_found", "result " .. i .. " class")
      eq(r.err.status, 404, "result " .. i .. " status")
      eq(r.err.url, base .. "/status/404?i=" .. i, "result " .. i .. " url")
    else
      check(r.res and r.err == nil, "result %d should be { res }: %s", i, H.show(r))
      eq(r.res.status, 200, "result " .. i .. " status")
      eq(r.res.url, base .. "/hang?i=" .. i .. "&seconds=0.2", "result " .. i .. " url")
    end
  end
  check(took < 2.5, "took %.2f s (sequential would be ~6.4 s)", took)
  local reqs = H.requests(base, "/hang")
  eq(#reqs, 32, "/hang requests the server saw")
  -- never more than 8 in flight: any 9 /hang arrivals span >= 0.2 s (minus slack)
  local ts = H.times(reqs)
  local most = H.max_in_window(ts, 0.15)
  check(most <= 8, "%d /hang requests arrived within 0.15 s: more than 8 were in flight", most)
  check(most >= 4, "at most %d /hang requests arrived within 0.15 s: they did not run concurrently", most)
  io.stderr:write(string.format("# all(): 40 requests in %.2f s\n", took))
end)

case("http all: table-form requests and an empty list", function()
  local out = http.all({ { url = base .. "/echo", method = "POST", json = { k = 1 } }, { url = base .. "/echo" } })
  eq(H.json(out[1].res).method, "POST", "first method")
  eq(H.json(out[1].res).json, { k = 1 }, "first json")
  eq(H.json(out[2].res).method, "GET", "second defaults to GET")
  eq(#http.all({}), 0, "empty list")
end)

case("http all: each error carries its own request's method and URL", function()
  local out = http.all({
    { "POST", base .. "/status/404?which=post" },
    { "GET", base .. "/hang?seconds=0.3" },
  }, { concurrency = 2 })
  local e = out[1].err
  check(e, "the POST to /status/404 did not fail: %s", H.show(out[1]))
  eq(e.url, base .. "/status/404?which=post", "url of the POST's error")
  eq(e.method, "POST", "method of the POST's error")
end)

-- each(): responses handed over as they arrive ------------------------------
case("http each: 40 requests at concurrency 8: every index once, each with its own response, as they arrive, <= 8 in flight", function()
  H.reset(base)
  local list = {}
  for i = 1, 40 do
    if i % 5 == 0 then list[i] = { "GET", base .. "/status/404", { query = { i = i } } }
    else list[i] = { "GET", base .. "/hang", { query = { seconds = i == 1 and 0.6 or 0.1, i = i } } } end
  end
  local t0 = H.now()
  local seen, order = {}, {}
  for i, res, err in http.each(list, { concurrency = 8 }) do
    seen[i] = (seen[i] or 0) + 1
    order[#order + 1] = i
    if i % 5 == 0 then
      check(res == nil and err, "result %d should be an error: %s", i, H.show(res))
      eq(err.class, "not_found", "result " .. i .. " class")
      eq(err.url, base .. "/status/404?i=" .. i, "result " .. i .. " url")
    else
      check(res and err == nil, "result %d failed: %s", i, H.show(err))
      eq(res.status, 200, "result " .. i .. " status")
      eq(res.url, base .. "/hang?i=" .. i .. "&seconds=" .. (i == 1 and "0.6" or "0.1"), "result " .. i .. " url")
      eq(res:json().slept, i == 1 and 0.6 or 0.1, "result " .. i .. " body")
    end
  end
  local took = H.now() - t0
  eq(#order, 40, "results")
  for i = 1, 40 do eq(seen[i], 1, "times index " .. i .. " came") end
  check(order[1] ~= 1, "the slow first request came first: results are not handed over as they arrive")
  local pos1
  for k, i in ipairs(order) do if i == 1 then pos1 = k end end
  check(pos1 > 8, "the 0.6 s request came %dth: the others should pass it", pos1)
  check(took < 2, "took %.2f s", took)
  local ts = H.times(H.requests(base, "/hang"))
  local most = H.max_in_window(ts, 0.08)
  check(most <= 8, "%d /hang requests arrived within 0.08 s: more than 8 were in flight", most)
end)

-- curl used to hold at most 64 connections to one host, so concurrency
-- above 64 ran 64 at a time (the rest queued inside curl, each connected
-- twice over): counted by the server's connection ids, not by a clock.
case("http each: concurrency = 100 to one host keeps 100 requests in flight, on 100 connections", function()
  H.reset(base)
  local list = {}
  for i = 1, 100 do list[i] = { "GET", base .. "/hang", { query = { seconds = 0.5, i = i } } } end
  local n = 0
  for i, res, err in http.each(list, { concurrency = 100 }) do
    check(res, "request %d failed: %s", i, H.show(err))
    n = n + 1
  end
  eq(n, 100, "results")
  local conns = {}
  for _, r in ipairs(H.requests(base, "/hang")) do conns[r.conn_id] = true end
  local distinct = 0
  for _ in pairs(conns) do distinct = distinct + 1 end
  eq(distinct, 100, "connections the server saw for 100 concurrent requests")
end)

case("http each: requests from a function are built as they are needed; never more than 4 x concurrency unread", function()
  H.reset(base)
  local made, read, most_ahead = 0, 0, 0
  local function next_request()
    if made == 200 then return nil end
    made = made + 1
    return { "GET", base .. "/echo", { query = { n = made } } }
  end
  local got = {}
  for i, res, err in http.each(next_request, { concurrency = 4 }) do
    read = read + 1
    if made - read > most_ahead then most_ahead = made - read end
    check(res, "request %d failed: %s", i, H.show(err))
    eq(res:json().query.n, { tostring(i) }, "request " .. i .. " query")
    got[i] = true
  end
  eq(made, 200, "requests made")
  eq(read, 200, "results read")
  for i = 1, 200 do check(got[i], "no result for request %d", i) end
  check(most_ahead <= 16, "%d requests were made ahead of what was read (limit 16)", most_ahead)
  check(most_ahead >= 4, "only %d requests ahead: they did not run concurrently", most_ahead)
  eq(#H.requests(base, "/echo"), 200, "requests the server saw")
end)

case("http each: leaving the loop early cancels the requests in flight and starts no more", function()
  H.reset(base)
  local list = { { "GET", base .. "/echo" } }
  for i = 2, 50 do list[i] = { "GET", base .. "/hang", { query = { seconds = 3, i = i } } } end
  local t0 = H.now()
  local first
  for i, res in http.each(list, { concurrency = 4 }) do
    first = i
    break
  end
  eq(first, 1, "the first result")
  local after = H.ok(http.get(base .. "/echo", { query = { after = 1 } }))
  eq(after.status, 200, "a request after the loop")
  check(H.now() - t0 < 2, "leaving the loop took %.2f s: it waited for the hanging requests", H.now() - t0)
  local hangs = #H.requests(base, "/hang")
  check(hangs <= 4, "%d /hang requests reached the server after leaving the loop at the first result", hangs)
end)

case("http each: an error in the loop body propagates and cancels what is in flight", function()
  H.reset(base)
  local list = {}
  for i = 1, 20 do list[i] = { "GET", base .. (i == 1 and "/echo" or "/hang?seconds=3") } end
  local t0 = H.now()
  local ok, err = pcall(function()
    for _ in http.each(list, { concurrency = 3 }) do error("boom in the body", 0) end
  end)
  eq(ok, false, "pcall")
  eq(err, "boom in the body", "error")
  check(H.now() - t0 < 2, "took %.2f s", H.now() - t0)
  local n = 0
  for _, res in http.each({ { "GET", base .. "/echo" }, { "GET", base .. "/echo" } }) do
    if res and res.status == 200 then n = n + 1 end
  end
  eq(n, 2, "a second each() after the error")
end)

case("http each: per-request headers reach the server with their own request, while the collector runs", function()
  H.reset(base)
  local k = 0
  local function next_request()
    if k == 300 then return nil end
    k = k + 1
    return { "GET", base .. "/echo", { query = { n = k }, headers = { ["X-N"] = tostring(k) } } }
  end
  local n = 0
  for i, res, err in http.each(next_request, { concurrency = 4 }) do
    check(res, "request %d failed: %s", i, H.show(err))
    local echoed = res:json()
    eq(echoed.query.n, { tostring(i) }, "request " .. i .. " query")
    eq(echoed.headers["x-n"], tostring(i), "request " .. i .. " header")
    n = n + 1
    collectgarbage()   -- old header tables go; a new one may get the same address
  end
  eq(n, 300, "results")
end)

case("http each and all: a request may be a plain URL (a GET)", function()
  local got = {}
  for i, res, err in http.each({ base .. "/echo?u=1", { "GET", base .. "/echo?u=2" }, base .. "/echo?u=3" }) do
    check(res, "request %d failed: %s", i, H.show(err))
    got[i] = res:json().query.u[1]
    eq(res.method, "GET", "request " .. i .. " method")
  end
  eq(got, { "1", "2", "3" }, "each() results by index")
  local out = http.all({ base .. "/echo?u=4", base .. "/status/404" })
  eq(out[1].res:json().query.u, { "4" }, "all() first")
  eq(out[2].err.class, "not_found", "all() second")
end)

-- each() sends a plain URL beside a spec shared by its host's plain GETs:
-- each request must still go to its own URL, with its own host's limits
case("http each: plain URLs on a client with base_url go to their own URL and host, with the host's rate limit", function()
  local other = base:gsub("127%.0%.0%.1", "localhost")
  local c = http.client { base_url = base, host_rate_limits = { localhost = { rate = 5, burst = 1 } } }
  local list, want = {}, {}
  for k = 1, 9 do
    list[k] = k % 3 == 0 and (other .. "/echo?u=" .. k) or ("/echo?u=" .. k)
    want[k] = (k % 3 == 0 and other or base) .. "/echo?u=" .. k
  end
  local got, urls, t0 = {}, {}, H.now()
  for i, res, err in c:each(list, { concurrency = 4 }) do
    check(res, "request %d failed: %s", i, H.show(err))
    got[i], urls[i] = tonumber(res:json().query.u[1]), res.url
  end
  eq(got, { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, "each request's own query")
  eq(urls, want, "each response's URL")
  -- three to localhost at 5/s, burst 1: the third waits 0.4 s after the first
  check(H.now() - t0 >= 0.35, "localhost's rate limit held nothing back (%.2f s)", H.now() - t0)
end)

case("http each: at concurrency 1, and with more results unread than the window, every request still comes", function()
  H.reset(base)
  local list = {}
  for i = 1, 5 do list[i] = base .. "/echo?n=" .. i end
  local got = {}
  for i, res, err in http.each(list, { concurrency = 1 }) do
    check(res, "request %d failed: %s", i, H.show(err))
    got[#got + 1] = i
  end
  eq(got, { 1, 2, 3, 4, 5 }, "results at concurrency 1")
  got = {}
  for i, res in http.each(list, { concurrency = 2 }) do
    got[#got + 1] = i
    ferry.sleep(0.05)               -- the others finish meanwhile and wait unread
  end
  table.sort(got)
  eq(got, { 1, 2, 3, 4, 5 }, "results read slowly at concurrency 2")
  local n = 0
  for _ in http.each({ base .. "/echo" }, { concurrency = 64 }) do n = n + 1 end
  eq(n, 1, "one request at concurrency 64")
end)

case("http each: one each() inside another, and a request source that raises", function()
  local outer, inner = 0, 0
  for _ in http.each({ base .. "/echo?o=1", base .. "/hang?seconds=0.2", base .. "/echo?o=3" }, { concurrency = 2 }) do
    outer = outer + 1
    for _ in http.each({ base .. "/echo?i=1", base .. "/echo?i=2" }) do inner = inner + 1 end
  end
  eq(outer, 3, "outer results")
  eq(inner, 6, "inner results")
  local k = 0
  local ok, err = pcall(function()
    for _ in http.each(function()
      k = k + 1
      if k == 3 then error("the source broke", 0) end
      return base .. "/hang?seconds=2"
    end, { concurrency = 2 }) do end
  end)
  eq(ok, false, "pcall")
  eq(err, "the source broke", "error")
end)

case("http each: an empty list gives no results; a request without a url fails with its index", function()
  local n = 0
  for _ in http.each({}) do n = n + 1 end
  eq(n, 0, "results of an empty list")
  local ok, err = pcall(function()
    for _ in http.each({ { "GET", base .. "/echo" }, { "GET" } }) do end
  end)
  eq(ok, false, "a request without a url")
  has(tostring(err), "request 2", "the error")
  local ok2, err2 = pcall(http.each, 42)
  eq(ok2, false, "each(42)")
  has(tostring(err2), "list of requests or a function", "each(42)'s error")
end)

H.finish()
