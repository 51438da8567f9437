-- Request basics, decoding, keep-alive, failures of one response, redirects
-- and TLS. Args: BASE TLS_BASE CERT_DIR CLOSED_PORT
local H = dofile(ferry.script_dir .. "/lib.lua")
local base, tbase, certs = ...
local http = ferry.http
local case, check, eq, has = H.case, H.check, H.eq, H.has
if certs and certs ~= "-" then H.ca_file = certs .. "/ca.pem" end

-- 1. -------------------------------------------------------------------------
case("http basics: GET with a query table: encoding, sorted keys, repeated list keys", function()
  H.reset(base)
  local res = H.ok(http.get(base .. "/echo", { query = {
    zeta = "last", space = "a b", amp = "x&y=z", uni = "héllo ✓", list = { "1", "two", "3 3" },
    plus = "1+1", slash = "a/b", flag = true, off = false,
  } }))
  eq(res.status, 200, "status")
  local reqs = H.requests(base, "/echo")
  eq(#reqs, 1, "requests the server saw")
  eq(reqs[1].query_string,
    "amp=x%26y%3Dz&flag=true&list=1&list=two&list=3%203&plus=1%2B1&slash=a%2Fb&space=a%20b&uni=h%C3%A9llo%20%E2%9C%93&zeta=last",
    "raw query string")
  local body = H.json(res)
  eq(body.query, { amp = { "x&y=z" }, flag = { "true" }, list = { "1", "two", "3 3" }, plus = { "1+1" },
    slash = { "a/b" }, space = { "a b" }, uni = { "héllo ✓" }, zeta = { "last" } }, "query as the server decoded it")
  eq(res.attempts, 1, "res.attempts")
  check(type(res.elapsed) == "number" and res.elapsed >= 0 and res.elapsed < 5, "res.elapsed = %s", tostring(res.elapsed))
end)

case("http basics: a query table is appended to a URL that already has a query; client query merges", function()
  H.reset(base)
  local c = http.client { query = { a = "client", b = "client" } }
  H.ok(c:get(base .. "/echo?pre=1", { query = { b = "call", c = "call" } }))
  local reqs = H.requests(base, "/echo")
  eq(reqs[1].query_string, "pre=1&a=client&b=call&c=call", "raw query string")
end)

case("http basics: headers sent (call headers, client headers, User-Agent, Accept)", function()
  H.reset(base)
  local c = http.client { headers = { ["X-Client"] = "c1" } }
  local res = H.ok(c:get(base .. "/echo", { headers = { ["X-Call"] = "v 1", ["X-Num"] = 42 } }))
  local seen = H.requests(base, "/echo")[1].headers
  eq(seen["x-call"], "v 1", "X-Call")
  eq(seen["x-num"], "42", "X-Num")
  eq(seen["x-client"], "c1", "X-Client")
  has(seen["user-agent"] or "", "ferry/", "User-Agent")
  has(seen["accept"] or "", "application/json", "Accept")
  eq(H.json(res).headers["x-call"], "v 1", "echoed X-Call")
end)

case("http basics: POST json= arrives as JSON with Content-Type application/json", function()
  H.reset(base)
  local payload = { name = "Zoë", n = 3, list = { 1, 2, 3 }, nested = { ok = true } }
  local res = H.ok(http.post(base .. "/echo", { json = payload }))
  local e = H.json(res)
  eq(e.method, "POST", "method")
  eq(e.json, payload, "decoded body")
  local seen = H.requests(base, "/echo")[1]
  eq(seen.headers["content-type"], "application/json", "Content-Type")
  eq(seen.body_length, #ferry.json.encode(payload), "body length")
end)

case("http basics: raw body= is sent byte for byte (NUL and non-UTF-8 included)", function()
  H.reset(base)
  local raw = "line1\nline2\0after-nul\255end"
  local res = H.ok(http.post(base .. "/echo", { body = raw, headers = { ["Content-Type"] = "application/octet-stream" } }))
  local seen = H.requests(base, "/echo")[1]
  eq(seen.body_length, #raw, "body_length")
  eq(seen.headers["content-type"], "application/octet-stream", "Content-Type")
  eq(H.json(res).body_base64, "bGluZTEKbGluZTIAYWZ0ZXItbnVs/2VuZA==", "body as base64")
end)

case("http basics: form= is urlencoded with Content-Type application/x-www-form-urlencoded", function()
  H.reset(base)
  local res = H.ok(http.post(base .. "/echo", { form = { b = "x y", a = "&=", c = "é" } }))
  local e = H.json(res)
  eq(e.body, "a=%26%3D&b=x%20y&c=%C3%A9", "body")
  eq(e.headers["content-type"], "application/x-www-form-urlencoded", "Content-Type")
end)

case("http basics: PUT, PATCH, DELETE, OPTIONS and HEAD reach the server with their method", function()
  H.reset(base)
  local r1 = H.ok(http.put(base .. "/echo", { json = { v = 1 } }))
  local r2 = H.ok(http.patch(base .. "/echo", { body = "p" }))
  local r3 = H.ok(http.delete(base .. "/echo"))
  local r4 = H.ok(http.options(base .. "/echo"))
  local r5 = H.ok(http.head(base .. "/echo"))
  eq({ H.json(r1).method, H.json(r2).method, H.json(r3).method, H.json(r4).method },
    { "PUT", "PATCH", "DELETE", "OPTIONS" }, "echoed methods")
  eq(H.json(r1).json, { v = 1 }, "PUT json body")
  eq(H.json(r2).body, "p", "PATCH body")
  eq(r5.status, 200, "HEAD status")
  eq(r5.body, "", "HEAD body")
  local methods = {}
  for i, r in ipairs(H.requests(base, "/echo")) do methods[i] = r.method end
  eq(methods, { "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD" }, "methods the server saw")
end)

case("http basics: response status, body, json, case-insensitive header lookup, attempts", function()
  local res = H.ok(http.get(base .. "/json?size=500"))
  eq(res.status, 200, "status")
  eq(#res.body, 500, "body length")
  eq(res:header("content-type"), "application/json", "header('content-type')")
  eq(res:header("Content-Type"), "application/json", "header('Content-Type')")
  eq(res:header("CONTENT-LENGTH"), "500", "header('CONTENT-LENGTH')")
  eq(res.headers["Content-Type"], "application/json", "headers['Content-Type']")
  eq(res:header("x-not-there"), nil, "missing header")
  eq(H.json(res).object, "contact", "json().object")
  eq(res.method, "GET", "res.method")
  eq(res.attempts, 1, "res.attempts")
end)

case("http basics: a reused connection handle carries nothing over from the request before", function()
  H.reset(base)
  local c = http.client {}
  -- in turn on the pooled handles: a POST with a body and headers, a PATCH,
  -- a HEAD, a request that may not follow redirects; then plain GETs
  H.ok(c:post(base .. "/echo", { json = { a = 1 }, headers = { ["X-Once"] = "1" } }))
  H.ok(c:patch(base .. "/echo", { body = "raw" }))
  H.ok(c:request("HEAD", base .. "/echo"))
  eq(H.ok(c:get(base .. "/redirect?n=1", { max_redirects = 0 })).status, 302, "max_redirects = 0 stops at the 302")
  for _ = 1, 3 do H.ok(c:get(base .. "/echo")) end
  local res = H.ok(c:get(base .. "/redirect?n=2"))
  eq(res.status, 200, "a plain GET follows redirects again")
  local gets = H.requests(base, "/echo", "GET")
  eq(#gets, 3, "plain GETs the server saw as GET")
  for _, r in ipairs(gets) do
    eq(r.method, "GET", "method")
    check(r.body == nil or r.body == "", "a GET has no body, got %s", tostring(r.body))
    check(r.headers["x-once"] == nil and r.headers["X-Once"] == nil, "no header left over from the POST")
    check((r.headers["content-type"] or r.headers["Content-Type"]) == nil, "no Content-Type left over")
  end
end)

case("http basics: repeated headers are kept: header_all gives every value in order", function()
  local res = H.ok(http.get(base .. "/headers"))
  eq(res:header_all("set-cookie"), { "a=1; Path=/", "b=2; Path=/" }, "header_all('set-cookie')")
  eq(res:header_all("X-MULTI"), { "one", "two" }, "header_all('X-MULTI')")
  eq(res:header("x-multi"), "one", "header() gives the first value")
  eq(res:header("X-Request-Id"), "abc", "X-Request-Id")
  eq(res:header_all("x-absent"), {}, "header_all of a missing header")
end)

case("http basics: a 4xx error carries class, status, message, method, url, attempts, elapsed and body", function()
  local res, err = http.delete(base .. "/status/404")
  err = H.fails(res, err)
  eq(err.class, "not_found", "class")
  eq(err.status, 404, "status")
  eq(err.method, "DELETE", "method")
  eq(err.url, base .. "/status/404", "url")
  eq(err.attempts, 1, "attempts")
  has(err.message, "404", "message")
  has(err.body or "", "Not Found", "body")
  check(type(err.elapsed) == "number" and err.elapsed >= 0, "elapsed = %s", tostring(err.elapsed))
  has(tostring(err), "not_found: DELETE " .. base .. "/status/404", "tostring(err)")
end)

case("http: err.body keeps 4 KB of a long error body (a vendor's validation message listing every option)", function()
  local res, err = http.post(base .. "/status/400", { query = { pad = 3000 } })
  err = H.fails(res, err)
  eq(err.class, "validation", "class")
  check(#err.body > 3000 and #err.body <= 4096, "err.body is %d bytes (want the whole message, > 3000)", #err.body)
  local big
  res, big = http.post(base .. "/status/400", { query = { pad = 20000 } })
  check(big and #big.body == 4096, "a 20 KB body is cut at 4096 bytes, got %s", big and #big.body)
end)

case("http basics: base_url joins relative paths; absolute URLs pass through", function()
  H.reset(base)
  local c = http.client { base_url = base .. "/" }
  eq(H.json(H.ok_as("/echo", c:get("/echo", { query = { a = 1 } }))).path, "/echo", "path of '/echo'")
  eq(H.json(H.ok_as("echo", c:get("echo"))).path, "/echo", "path of 'echo'")
  eq(H.ok_as("absolute", c:get(base .. "/headers")).status, 200, "absolute URL")
  eq(#H.requests(base, "/echo"), 2, "requests to /echo")
end)

case("http basics: file:// and ftp:// are refused (class validation), never retried", function()
  local c = http.client { retry = { attempts = 3, base = "10ms" } }
  for _, u in ipairs { "file:///etc/passwd", "ftp://127.0.0.1/x" } do
    local err = H.fails_as(u, c:get(u))
    eq(err.class, "validation", u .. " class")
    eq(err.attempts, 1, u .. " attempts")
  end
end)

-- 2. -------------------------------------------------------------------------
case("http gzip and deflate: bodies are decoded transparently", function()
  H.reset(base)
  for _, p in ipairs { "/gzip", "/deflate" } do
    local res = H.ok_as(p, http.get(base .. p))
    local enc = p:sub(2)
    eq(res:header("content-encoding"), enc, p .. " Content-Encoding")
    local v = H.json(res, p)
    eq(v.compressed, true, p .. " compressed")
    eq(v.pad, string.rep("x", 2000), p .. " pad")
  end
  for _, r in ipairs(H.requests(base)) do
    local ae = r.headers["accept-encoding"] or ""
    has(ae, "gzip", r.path .. " Accept-Encoding")
    has(ae, "deflate", r.path .. " Accept-Encoding")
  end
end)

-- 3. -------------------------------------------------------------------------
case("http keep-alive: sequential requests reuse one connection", function()
  H.reset(base)
  for i = 1, 6 do H.ok(http.get(base .. "/echo", { query = { i = i } })) end
  local c = http.client { headers = { ["X-Other"] = "client" } }
  for i = 7, 8 do H.ok(c:get(base .. "/echo", { query = { i = i } })) end
  local reqs = H.requests(base, "/echo")
  eq(#reqs, 8, "requests")
  local ids = {}
  for i, r in ipairs(reqs) do ids[i] = r.conn_id end
  for i = 2, #ids do
    check(ids[i] == ids[1], "conn_id of the requests: %s (expected all equal)", H.show(ids))
  end
end)

-- 9. -------------------------------------------------------------------------
case("http failures: a connection cut mid-body is class transient", function()
  local res, err = http.get(base .. "/close-mid-body")
  err = H.fails(res, err)
  eq(err.class, "transient", "class")
  check(err.message and err.message ~= "", "message is empty")
end)

case("http failures: invalid JSON: res:json() returns nil and an error of class validation", function()
  local res = H.ok(http.get(base .. "/invalid-json"))
  eq(res.status, 200, "status")
  local v, err = res:json()
  eq(v, nil, "decoded value")
  check(type(err) == "table", "error is %s", H.show(err))
  eq(err.class, "validation", "class")
  check(type(err.message) == "string" and err.message ~= "", "message: %s", H.show(err.message))
  eq(err.url, base .. "/invalid-json", "url")
end)

case("http failures: a body over max_size is class validation and mentions the limit", function()
  for _, q in ipairs { "", "&chunked=1" } do
    local url = base .. "/big?bytes=2000000" .. q
    local res, err = http.get(url, { max_size = 100000 })
    err = H.fails(res, err, url)
    eq(err.class, "validation", url .. " class")
    has(err.message, "100000", url .. " message")
    has(err.message, "limit", url .. " message")
    eq(err.attempts, 1, url .. " attempts")
  end
  -- the client-level max_size applies too, and a body under the limit is fine
  local c = http.client { max_size = 100000 }
  local err = H.fails(c:get(base .. "/big?bytes=2000000"))
  eq(err.class, "validation", "client max_size class")
  local res = H.ok(c:get(base .. "/big?bytes=99000"))
  eq(#res.body, 99000, "body under the limit")
end)

case("http redirects: a chain of 3 is followed to the end", function()
  H.reset(base)
  local res = H.ok(http.get(base .. "/redirect?n=3"))
  eq(res.status, 200, "status")
  check(res.url:sub(-#"/redirect?n=0") == "/redirect?n=0", "res.url = %s (should end at n=0)", res.url)
  eq(H.json(res).redirected, true, "redirected")
  eq(#H.requests(base, "/redirect"), 4, "requests the server saw")
end)

case("http redirects: a redirect loop is class not_found and the message mentions redirects", function()
  local err = H.fails(http.get(base .. "/redirect-loop"))
  eq(err.class, "not_found", "class")
  has(err.message, "redirects", "message")
end)

case("http redirects: max_redirects = 0 returns the 302 itself as a response (Location kept)", function()
  H.reset(base)
  local res = H.ok(http.get(base .. "/redirect?n=3", { max_redirects = 0 }))
  eq(res.status, 302, "status")
  eq(res:header("location"), "/redirect?n=2", "Location")
  eq(#H.requests(base, "/redirect"), 1, "requests the server saw")
  -- the client-level setting does the same
  local c = http.client { max_redirects = 0 }
  eq(H.ok(c:get(base .. "/redirect?n=1")).status, 302, "client max_redirects = 0")
end)

-- 10. ------------------------------------------------------------------------
if tbase and tbase ~= "" and tbase ~= "-" then
  case("http TLS: a self-signed CA is rejected by default (class permission, mentions TLS/certificate)", function()
    local err = H.fails(http.get(tbase .. "/echo"))
    eq(err.class, "permission", "class")
    local m = err.message:lower()
    check(m:find("tls", 1, true) or m:find("certificate", 1, true), "message mentions neither TLS nor certificate: %s", err.message)
    eq(err.attempts, 1, "attempts")
  end)

  case("http TLS: accepted with ca_file (per call and per client)", function()
    H.reset(tbase)
    local res = H.ok(http.get(tbase .. "/echo", { ca_file = certs .. "/ca.pem" }))
    eq(res.status, 200, "status")
    local c = http.client { ca_file = certs .. "/ca.pem" }
    H.ok(c:get(tbase .. "/echo?x=1"))
    local reqs = H.requests(tbase, "/echo")
    eq(#reqs, 2, "requests the TLS fake saw")
    eq(reqs[1].tls, true, "tls")
  end)
end

H.finish()
