-- ferry.lookup without a run: bulk tables (normalisation, missing,
-- ambiguous, the ctx.state cache and its refresh rules, 100,000 users) and
-- foreign keys resolved per batch, against a stand-in ctx (tests/lua/standin.lua).
-- tests/e2e/test_lookup.sh runs the same through ferry run against a fake.
local lookup = require "ferry.lookup"
local standin = require "standin"
local harness = require "harness"
local case, eq = harness.case, standin.eq
local json = ferry.json

-- owners(rows): a bulk lookup over rows { { email, id } ... }, counting its fetches.
local function owners(rows, opts)
  local l
  opts = opts or {}
  local o = {
    name = opts.name or "owners", normalize = opts.normalize or "email", ttl = opts.ttl,
    refresh_on_miss = opts.refresh_on_miss,
    fetch = function(_, add)
      l.fetches = l.fetches + 1
      for _, r in ipairs(rows) do add(r[1], r[2]) end
    end,
  }
  l = ferry.lookup(o)
  l.fetches = 0
  return l
end

case("email normalisation: padded and case-different emails match, on both sides", function()
  local clock = standin.clock()
  local ctx = standin.ctx(standin.store(clock))
  local l = owners { { "Ana@Example.com ", 10 }, { "bo@example.com", 11 } }
  eq(l:get("ana@example.com", ctx), 10, "lower-case source")
  eq(l:get("  ANA@EXAMPLE.COM", ctx), 10, "upper-case, padded source")
  eq(l:get("Bo@Example.Com", ctx), 11, "mixed case")
  eq(l.fetches, 1, "fetches")
end)

case("normalize: trim keeps case, lower keeps spaces, a function decides the key", function()
  local ctx = standin.ctx(standin.store(standin.clock()))
  local t = owners({ { " K-1 ", 1 } }, { name = "t", normalize = "trim" })
  eq(t:get("K-1", ctx), 1, "trim")
  eq(select(2, t:get("k-1", ctx)).class, "lookup_missing", "trim is case-sensitive")
  local lo = owners({ { "AB", 2 } }, { name = "lo", normalize = "lower" })
  eq(lo:get("ab", ctx), 2, "lower")
  eq(select(2, lo:get(" ab", ctx)).class, "lookup_missing", "lower does not trim")
  local f = owners({ { "x-0042", 3 } }, { name = "f", normalize = function(v) return tonumber(tostring(v):match("%d+")) end })
  eq(f:get(42, ctx), 3, "function: 42")
  eq(f:get("X-42", ctx), 3, "function: X-42")
  local ok, err = pcall(ferry.lookup, { name = "bad", normalize = "upper", fetch = function() end })
  assert(not ok and err:find('normalize: expected "email", "trim", "lower" or a function, got "upper"', 1, true), err)
end)

case("missing: nil, err with class lookup_missing, the key and the lookup; nil and empty values too", function()
  local ctx = standin.ctx(standin.store(standin.clock()))
  local l = owners { { "ana@example.com", 10 } }
  local id, err = l:get(" New.Hire@Example.com", ctx)
  eq(id, nil, "id")
  eq(err.class, "lookup_missing", "class")
  eq(err.key, "new.hire@example.com", "key")
  eq(err.lookup, "owners", "lookup")
  assert(err.reason:find('lookup owners: no match for "new.hire@example.com"', 1, true), err.reason)
  for _, v in ipairs { "", "   " } do
    id, err = l:get(v, ctx)
    eq(id, nil, "id of " .. string.format("%q", v))
    eq(err.class, "lookup_missing", "class of an empty value")
    assert(err.reason:find("no value to look up", 1, true), err.reason)
  end
  id, err = l:get(nil, ctx)
  eq(err and err.class, "lookup_missing", "class of nil")
end)

case("ambiguous: two ids for one normalised key -> lookup_ambiguous listing both; the same id twice is not", function()
  local ctx = standin.ctx(standin.store(standin.clock()))
  local l = owners { { "dup@example.com", 20 }, { "DUP@example.com ", 21 }, { "same@example.com", 30 },
                     { "Same@Example.com", 30 } }
  local id, err = l:get("dup@example.com", ctx)
  eq(id, nil, "never picks one")
  eq(err.class, "lookup_ambiguous", "class")
  eq(err.key, "dup@example.com", "key")
  eq(#err.candidates, 2, "candidates")
  eq(err.candidates[1] .. "," .. err.candidates[2], "20,21", "candidates")
  assert(err.reason:find('"dup@example.com" matches 2 entries (20, 21)', 1, true), err.reason)
  eq(l:get("same@example.com", ctx), 30, "one id listed twice")
end)

case("cache: the table is kept in ctx.state as one JSON object (ambiguous keys as arrays) and reused until ttl", function()
  local clock = standin.clock()
  local store = standin.store(clock)
  local l = owners({ { "a@x", 1 }, { "b@x", 2 }, { "b@x", 3 } }, { ttl = "1h" })
  eq(l:get("a@x", standin.ctx(store)), 1, "run 1")
  local cached = json.decode(store:text("lookup:owners"))
  eq(cached.ids["a@x"], 1, "cached a@x")
  eq(json.encode(cached.ids["b@x"]), "[2,3]", "cached b@x")
  eq(cached.at, clock.now, "fetched at")
  eq(store.rows["lookup:owners"].expires_at, clock.now + 3600, "stored with the ttl")
  clock:advance(3599)
  eq(l:get("a@x", standin.ctx(store)), 1, "run 2")
  eq(l.fetches, 1, "fetches within the ttl")
  clock:advance(1)
  eq(l:get("a@x", standin.ctx(store)), 1, "run 3")
  eq(l.fetches, 2, "fetches once the ttl passed")
end)

case("refresh on a miss: once a run, only when the cached copy is older than refresh_on_miss", function()
  local clock = standin.clock()
  local store = standin.store(clock)
  local rows = { { "a@x", 1 } }
  local l = owners(rows, { ttl = "1h", refresh_on_miss = "5m" })
  local ctx = standin.ctx(store)
  l:get("a@x", ctx)
  eq(l.fetches, 1, "first fetch")
  l:get("new@x", ctx)
  eq(l.fetches, 1, "a table fetched in this run is not fetched again on a miss")

  clock:advance(299)
  ctx = standin.ctx(store)
  eq(select(2, l:get("new@x", ctx)).class, "lookup_missing", "younger than refresh_on_miss")
  eq(l.fetches, 1, "no refresh for a copy younger than refresh_on_miss")

  clock:advance(1)
  rows[2] = { "new@x", 2 }          -- the user was created in the destination
  ctx = standin.ctx(store)
  eq(l:get("a@x", ctx), 1, "a hit does not refresh")
  eq(l.fetches, 1, "fetches after a hit")
  eq(l:get("new@x", ctx), 2, "found after the refresh")
  eq(l.fetches, 2, "one refresh")
  eq(select(2, l:get("other@x", ctx)).class, "lookup_missing", "a second miss")
  eq(select(2, l:get("third@x", ctx)).class, "lookup_missing", "a third miss")
  eq(l.fetches, 2, "at most one refresh a run")
  eq(json.decode(store:text("lookup:owners")).ids["new@x"], 2, "the refreshed table is cached")

  clock:advance(301)
  ctx = standin.ctx(store)
  eq(l:get("new@x", ctx), 2, "next run: from the cache")
  eq(select(2, l:get("nobody@x", ctx)).class, "lookup_missing", "next run: a miss")
  eq(l.fetches, 3, "the next run may refresh once again")
end)

case("a failing fetch raises its error once and is not repeated for every record of the run", function()
  local ctx = standin.ctx(standin.store(standin.clock()))
  local calls = 0
  local l = ferry.lookup { name = "down", fetch = function()
    calls = calls + 1
    error({ class = "transient", reason = "HTTP 503 from /users" })
  end }
  for _ = 1, 5 do
    local ok, err = pcall(l.get, l, "a@x", ctx)
    assert(not ok and type(err) == "table" and err.class == "transient", "error: " .. tostring(err))
  end
  eq(calls, 1, "fetches")
  eq(ctx.state:get("lookup:down"), nil, "nothing cached")
end)

case("a refresh on a miss that fails: that record gets the error, the rest of the run keeps the cached table", function()
  local clock = standin.clock()
  local store = standin.store(clock)
  local calls, down = 0, false
  local l = ferry.lookup { name = "flaky", fetch = function(_, add)
    calls = calls + 1
    if down then error({ class = "transient", reason = "HTTP 503" }) end
    add("a", 1)
  end }
  l:get("a", standin.ctx(store))
  clock:advance(600)
  down = true
  local ctx = standin.ctx(store)
  local ok, err = pcall(l.get, l, "b", ctx)
  assert(not ok and err.class == "transient", "the refresh's error: " .. tostring(err))
  eq(select(2, l:get("c", ctx)).class, "lookup_missing", "a later miss")
  eq(l:get("a", ctx), 1, "a hit")
  eq(calls, 2, "fetches")
end)

case("100,000 users: one fetch, a compact cache, and the next run reads it without fetching", function()
  local clock = standin.clock()
  local store = standin.store(clock)
  local pages = 0
  local l = ferry.lookup { name = "users", normalize = "email", fetch = function(_, add)
    for p = 0, 99 do
      pages = pages + 1
      for i = p * 1000 + 1, p * 1000 + 1000 do add(string.format("User%d@Example.com", i), i) end
    end
  end }
  collectgarbage()
  local before = collectgarbage("count")
  local ctx = standin.ctx(store)
  for i = 1, 1000, 7 do eq(l:get(string.format("user%d@example.com", i), ctx), i, "user " .. i) end
  eq(pages, 100, "pages fetched")
  local text = store:text("lookup:users")
  assert(#text < 3.5e6, "cache of " .. #text .. " bytes")
  collectgarbage()
  local kb = collectgarbage("count") - before
  assert(kb < 40 * 1024, string.format("the table and its cache hold %.1f MB", kb / 1024))
  eq(l:get("USER99999@example.com", standin.ctx(store)), 99999, "next run")
  eq(pages, 100, "pages after the next run")
end)

case("declaration: unknown options and a missing fetch are errors naming them", function()
  local ok, err = pcall(ferry.lookup, { name = "x", fetch = function() end, tll = "1h" })
  assert(not ok and err:find("unknown option tll", 1, true), err)
  ok, err = pcall(ferry.lookup, { name = "x" })
  assert(not ok and err:find("ferry.lookup x: fetch: expected a function", 1, true), err)
  ok, err = pcall(ferry.lookup, { name = "x", fetch = function() end, ttl = "soon" })
  assert(not ok and err:find("ferry.lookup x: ttl:", 1, true), err)
  ok, err = pcall(ferry.lookup.keys, { name = "has space", fetch = function() end })
  assert(not ok and err:find("name: expected a name", 1, true), err)
end)

------------------------------------------------------------------------------
-- Foreign keys

-- accounts(known): a keys lookup answering from known (key -> id or list),
-- recording the keys of each fetch.
local function accounts(known)
  local asked = {}
  local l = ferry.lookup.keys { name = "accounts", fetch = function(_, keys)
    asked[#asked + 1] = table.concat(keys, ",")
    local out = {}
    for _, k in ipairs(keys) do out[k] = known[k] end
    return out
  end }
  return l, asked
end

-- resolve(batch, ctx) -> the fail calls as "i class reason" lines
local function resolve(batch, ctx)
  local fails = {}
  lookup.resolve(batch, #batch, ctx, function(i, class, reason) fails[#fails + 1] = { i = i, class = class, reason = reason } end)
  return fails
end

case("foreign keys: one fetch per batch with its distinct keys; ids replace the refs", function()
  local ctx = standin.ctx(standin.store(standin.clock()))
  local acc, asked = accounts { ["ext-1"] = 101, ["ext-2"] = 102, ["ext-3"] = 103 }
  assert(not lookup.pending(), "nothing pending before a ref")
  local batch = {}
  for i = 1, 200 do batch[i] = { id = i, account_id = acc:ref("ext-" .. (i % 3 + 1)) } end
  batch[201] = { id = 201, account_id = acc:ref(" ext-1 ") }     -- trimmed
  assert(lookup.pending(), "pending after a ref")
  local fails = resolve(batch, ctx)
  assert(not lookup.pending(), "resolve resets pending")
  eq(#fails, 0, "fails")
  eq(#asked, 1, "fetches")
  eq(asked[1], "ext-1,ext-2,ext-3", "keys asked")
  eq(batch[1].account_id, 102, "record 1")
  eq(batch[2].account_id, 103, "record 2")
  eq(batch[201].account_id, 101, "record 201")
  eq(json.encode(batch[3]), json.encode { id = 3, account_id = 101 }, "a resolved record is plain JSON")
end)

case("foreign keys: missing and ambiguous fail their record only, with the field, key and candidates", function()
  local ctx = standin.ctx(standin.store(standin.clock()))
  local acc = accounts { ["ext-1"] = 101, ["ext-2"] = { 102, 103 } }
  local batch = { { id = 1, account_id = acc:ref("ext-1") }, { id = 2, account_id = acc:ref("ext-9") },
                  { id = 3, account_id = acc:ref("ext-2") }, { id = 4, account_id = acc:ref(nil) } }
  local fails = resolve(batch, ctx)
  eq(#fails, 3, "fails")
  eq(fails[1].i, 2, "missing record")
  eq(fails[1].class, "lookup_missing", "missing class")
  assert(fails[1].reason:find('lookup accounts: field account_id: no match for "ext-9"', 1, true), fails[1].reason)
  assert(fails[1].reason:find("retried on later runs", 1, true), fails[1].reason)
  eq(fails[2].i, 3, "ambiguous record")
  eq(fails[2].class, "lookup_ambiguous", "ambiguous class")
  assert(fails[2].reason:find('"ext-2" matches 2 entries (102, 103)', 1, true), fails[2].reason)
  eq(fails[3].i, 4, "empty ref")
  eq(fails[3].class, "lookup_missing", "empty ref class")
  eq(batch[1].account_id, 101, "the good record")
end)

case("foreign keys: found ids are remembered for the run, missing keys are asked again (the parent may arrive)", function()
  local ctx = standin.ctx(standin.store(standin.clock()))
  local known = { a = 1 }
  local acc, asked = accounts(known)
  resolve({ { x = acc:ref("a") }, { x = acc:ref("b") } }, ctx)
  known.b = 2
  local batch = { { x = acc:ref("a") }, { x = acc:ref("b") } }
  local fails = resolve(batch, ctx)
  eq(#fails, 0, "fails in batch 2")
  eq(table.concat(asked, " | "), "a,b | b", "keys asked per batch")
  eq(batch[1].x .. "," .. batch[2].x, "1,2", "ids")
  resolve({ { x = acc:ref("a") }, { x = acc:ref("b") } }, ctx)
  eq(#asked, 2, "a batch of remembered keys needs no fetch")
  resolve({ { x = acc:ref("a") } }, standin.ctx(ctx.state))
  eq(#asked, 3, "a new run asks again")
end)

case("foreign keys: two lookups in one batch, one fetch each; a failing fetch fails its records with its class", function()
  local ctx = standin.ctx(standin.store(standin.clock()))
  local acc, asked = accounts { a = 1 }
  local calls = 0
  local people = ferry.lookup.keys { name = "people", fetch = function()
    calls = calls + 1
    error({ class = "transient", reason = "HTTP 503" })
  end }
  local batch = { { account = acc:ref("a"), person = people:ref("p1") }, { account = acc:ref("a") },
                  { person = people:ref("p2") } }
  local fails = resolve(batch, ctx)
  eq(#asked, 1, "accounts fetches")
  eq(calls, 1, "people fetches")
  eq(#fails, 2, "fails")
  eq(fails[1].i .. fails[1].class, "1transient", "record 1")
  eq(fails[2].i .. fails[2].class, "3transient", "record 3")
  assert(fails[1].reason:find("lookup people: fetch failed: HTTP 503", 1, true), fails[1].reason)
  eq(batch[2].account, 1, "record 2 resolved")
end)

case("a ref nested inside a table fails its record as script: it would reach the sink unresolved", function()
  local ctx = standin.ctx(standin.store(standin.clock()))
  local acc = accounts { a = 1 }
  local batch = { { id = 1, links = { account = acc:ref("a") } }, { id = 2, account = acc:ref("a") } }
  local fails = resolve(batch, ctx)
  eq(#fails, 1, "fails")
  eq(fails[1].i, 1, "record")
  eq(fails[1].class, "script", "class")
  assert(fails[1].reason:find("field links holds a lookup reference (ref) inside a table", 1, true), fails[1].reason)
  eq(batch[2].account, 1, "the top-level ref")
end)

case("fetch answers keyed in another spelling are normalised; a non-table answer fails the batch as script", function()
  local ctx = standin.ctx(standin.store(standin.clock()))
  local em = ferry.lookup.keys { name = "em", normalize = "email", fetch = function() return { ["A@X.com"] = 7 } end }
  local batch = { { o = em:ref(" a@x.COM") } }
  eq(#resolve(batch, ctx), 0, "fails")
  eq(batch[1].o, 7, "id")
  local bad = ferry.lookup.keys { name = "bad", fetch = function() return "oops" end }
  local fails = resolve({ { o = bad:ref("k") } }, ctx)
  eq(fails[1] and fails[1].class, "script", "class")
  assert(fails[1].reason:find("fetch must return a table of key = id, got string", 1, true), fails[1].reason)
end)

case("foreign keys: any key may be an external id (\"n\", \"ids\"), and one id under two spellings is not ambiguous", function()
  local ctx = standin.ctx(standin.store(standin.clock()))
  local acc, asked = accounts { n = 1, ids = 2 }
  local batch = { { a = acc:ref("n") }, { a = acc:ref("ids") } }
  eq(#resolve(batch, ctx), 0, "fails")
  eq(batch[1].a .. "," .. batch[2].a, "1,2", "ids")
  batch = { { a = acc:ref("n") }, { a = acc:ref("ids") } }
  resolve(batch, ctx)
  eq(#asked, 1, "remembered")
  eq(batch[1].a .. "," .. batch[2].a, "1,2", "ids from the memo")
  local em = ferry.lookup.keys { name = "em2", normalize = "email",
    fetch = function() return { ["A@X.com"] = 7, ["a@x.com"] = { 7 }, ["B@x.com"] = { 8, 8 } } end }
  batch = { { o = em:ref("a@x.com") }, { o = em:ref("b@x.com") } }
  eq(#resolve(batch, ctx), 0, "fails")
  eq(batch[1].o .. "," .. batch[2].o, "7,8", "ids")
end)

harness.finish()
