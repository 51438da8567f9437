-- Auth helpers: bearer, basic, API key (header and query), OAuth2 client
-- credentials. Args: BASE TLS_BASE CERT_DIR CLOSED_PORT
local H = dofile(ferry.script_dir .. "/lib.lua")
local base = ...
local http = ferry.http
local case, check, eq, has = H.case, H.check, H.eq, H.has

-- 11. ------------------------------------------------------------------------
case("http auth: bearer (per call and per client); a wrong token is class auth", function()
  H.reset(base)
  local res = H.ok(http.get(base .. "/auth/bearer?expect=tk-123", { auth = { bearer = "tk-123" } }))
  eq(H.json(res).auth, "bearer", "auth")
  local c = http.client { auth = { bearer = "tk-456" } }
  H.ok_as("client bearer", c:get(base .. "/auth/bearer?expect=tk-456"))
  local err = H.fails_as("wrong bearer", c:get(base .. "/auth/bearer?expect=other"))
  eq(err.class, "auth", "class")
  eq(err.status, 401, "status")
  eq(H.requests(base, "/auth/bearer")[1].headers.authorization, "Bearer tk-123", "Authorization sent")
  -- auth = false on a call drops the client's auth
  local err2 = H.fails_as("auth = false", c:get(base .. "/auth/bearer?expect=tk-456", { auth = false }))
  eq(err2.class, "auth", "class with auth = false")
  eq(H.requests(base, "/auth/bearer")[4].headers.authorization, nil, "Authorization with auth = false")
end)

case("http auth: basic", function()
  H.reset(base)
  local res = H.ok(http.get(base .. "/auth/basic", { query = { user = "ana", pass = "pä ss:1" },
    auth = { basic = { "ana", "pä ss:1" } } }))
  eq(H.json(res).user, "ana", "user")
  H.ok_as("named fields", http.get(base .. "/auth/basic?user=bob&pass=x", { auth = { basic = { user = "bob", password = "x" } } }))
  local err = H.fails_as("wrong password", http.get(base .. "/auth/basic?user=bob&pass=x", { auth = { basic = { "bob", "y" } } }))
  eq(err.class, "auth", "class")
  eq(H.requests(base, "/auth/basic")[2].headers.authorization, "Basic Ym9iOng=", "Authorization sent")
end)

case("http auth: API key in a header (default X-Api-Key and a named header)", function()
  H.ok_as("default header", http.get(base .. "/auth/apikey?expect=k-1", { auth = { api_key = "k-1" } }))
  H.ok_as("named header", http.get(base .. "/auth/apikey?header=X-Custom-Key&expect=k-2",
    { auth = { api_key = "k-2", header = "X-Custom-Key" } }))
  local err = H.fails_as("wrong key", http.get(base .. "/auth/apikey?expect=k-1", { auth = { api_key = "nope" } }))
  eq(err.class, "auth", "class")
end)

case("http auth: API key in the query (redacted in res.url)", function()
  H.reset(base)
  local res = H.ok(http.get(base .. "/auth/apikey-query?param=api_key&expect=qk-9", { auth = { api_key = "qk-9", query = "api_key" } }))
  eq(H.json(res).auth, "apikey-query", "auth")
  eq(H.requests(base, "/auth/apikey-query")[1].query.api_key, { "qk-9" }, "api_key the server saw")
  H.hasnt(res.url, "api_key=qk-9", "res.url")   -- (expect=qk-9 is the fake's own parameter)
  has(res.url, "api_key=REDACTED", "res.url")
end)

local function oauth(extra)
  local o = { token_url = base .. "/oauth/token", client_id = "ferry-client", client_secret = "s3cr3t-value" }
  for k, v in pairs(extra or {}) do o[k] = v end
  return http.client { auth = { oauth2 = o } }
end

local function token_requests() return #H.requests(base, "/oauth/token", "POST") end

case("http oauth2: the token is fetched once for several calls", function()
  H.reset(base)
  local c = oauth()
  for i = 1, 4 do
    local res = H.ok_as("call " .. i, c:get(base .. "/oauth/protected"))
    eq(H.json(res).token, "tok-1", "token of call " .. i)
  end
  eq(token_requests(), 1, "token requests")
  local t = H.requests(base, "/oauth/token")[1]
  eq(t.headers["content-type"], "application/x-www-form-urlencoded", "token request Content-Type")
  has(t.body, "grant_type=client_credentials", "token request body")
end)

case("http oauth2: the token is refreshed before expiry (expires_in = 2, refresh_before = 1)", function()
  H.reset(base)
  local c = oauth { token_url = base .. "/oauth/token?expires_in=2", refresh_before = 1 }
  H.ok_as("first", c:get(base .. "/oauth/protected"))
  H.ok_as("second", c:get(base .. "/oauth/protected"))
  eq(token_requests(), 1, "token requests before the wait")
  ferry.sleep(1.2)
  local res = H.ok_as("after 1.2 s", c:get(base .. "/oauth/protected"))
  eq(H.json(res).token, "tok-2", "token after 1.2 s")
  eq(token_requests(), 2, "token requests after the wait")
  local statuses = {}
  for i, r in ipairs(H.requests(base, "/oauth/protected")) do statuses[i] = r.status end
  eq(statuses, { 200, 200, 200 }, "protected calls never saw an expired token")
end)

case("http oauth2: after revoke-all, one refresh-and-retry succeeds (exactly one new token request)", function()
  H.reset(base)
  local c = oauth()
  H.ok_as("before", c:get(base .. "/oauth/protected"))
  H.ok_as("revoke", http.post(base .. "/oauth/revoke-all"))
  local res = H.ok_as("after revoke", c:get(base .. "/oauth/protected"))
  eq(H.json(res).token, "tok-2", "token after revoke")
  H.ok_as("later", c:get(base .. "/oauth/protected"))
  eq(token_requests(), 2, "token requests")
  local statuses = {}
  for i, r in ipairs(H.requests(base, "/oauth/protected")) do statuses[i] = r.status end
  eq(statuses, { 200, 401, 200, 200 }, "protected statuses")
end)

case("http oauth2: client:all after revoke-all also refreshes once and retries (as README says for the client)", function()
  H.reset(base)
  local c = oauth()
  H.ok_as("before", c:get(base .. "/oauth/protected"))
  H.ok_as("revoke", http.post(base .. "/oauth/revoke-all"))
  local out = c:all({ { "GET", base .. "/oauth/protected" }, { "GET", base .. "/oauth/protected" } })
  for i, r in ipairs(out) do
    check(r.res and r.res.status == 200, "all() request %d after revoke: %s", i, H.show(r.err))
  end
  eq(token_requests(), 2, "token requests (one before, one refresh)")
end)

case("http oauth2: client:each after revoke-all fetches one new token for all the 401s and retries each", function()
  H.reset(base)
  local c = oauth()
  H.ok_as("before", c:get(base .. "/oauth/protected"))
  H.ok_as("revoke", http.post(base .. "/oauth/revoke-all"))
  local list = {}
  for i = 1, 3 do list[i] = { "GET", base .. "/oauth/protected", { query = { i = i } } } end
  local n = 0
  for i, res, err in c:each(list, { concurrency = 3 }) do
    check(res and res.status == 200, "each() request %d after revoke: %s", i, H.show(err))
    eq(H.json(res).token, "tok-2", "request " .. i .. "'s token")
    n = n + 1
  end
  eq(n, 3, "results")
  eq(token_requests(), 2, "token requests (one before, one refresh)")
end)

case("http oauth2: client credentials via HTTP Basic (basic_auth = true)", function()
  H.reset(base)
  local res = H.ok(oauth({ basic_auth = true }):get(base .. "/oauth/protected"))
  eq(H.json(res).token, "tok-1", "token")
  local t = H.requests(base, "/oauth/token")[1]
  has(t.headers.authorization or "", "Basic ", "token request Authorization")
  H.hasnt(t.body, "client_secret", "token request body")
end)

case("http oauth2: wrong client credentials fail with class auth, without calling the API", function()
  H.reset(base)
  local err = H.fails(oauth({ client_secret = "wrong" }):get(base .. "/oauth/protected"))
  eq(err.class, "auth", "class")
  has(err.message, "OAuth2", "message")
  eq(#H.requests(base, "/oauth/protected"), 0, "protected calls")
  eq(token_requests(), 1, "token requests")
end)

H.finish()
