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

H.finish()
