-- ferry.picklist without a run: matching with synonyms, unknown values
-- reported once per value (not once per record), the default by policy,
-- fetched options cached with a ttl and their upstream changes reported,
-- against a stand-in ctx (tests/lua/standin.lua).
local standin = require "standin"
local harness = require "harness"
local case, eq = harness.case, standin.eq

local function tiers(extra)
  local o = { name = "tier", options = { "Bronze", "Silver", "Gold" },
              synonyms = { Platinum = "Gold", GLD = "Gold", ["1"] = "Bronze" }, default = "Bronze" }
  for k, v in pairs(extra or {}) do o[k] = v end
  return ferry.picklist(o)
end

case("matching: trimmed and case-insensitive, options and synonyms, answered as the destination spells it", function()
  local ctx = standin.ctx(standin.store(standin.clock()))
  local t = tiers()
  for value, want in pairs { Gold = "Gold", [" gold "] = "Gold", SILVER = "Silver", platinum = "Gold",
                             ["  PLATINUM"] = "Gold", gld = "Gold", ["1"] = "Bronze", [" 1 "] = "Bronze" } do
    eq(t:match(value, ctx), want, string.format("match %q", value))
  end
  eq(t:match(1, ctx), "Bronze", "the number 1")
  eq(#ctx.reports, 0, "reports")
end)

case("declaration: a synonym or default that is not an option, duplicate options, options and fetch, are errors", function()
  local function fails(opts, want)
    local ok, err = pcall(ferry.picklist, opts)
    assert(not ok, "accepted: " .. want)
    assert(tostring(err):find(want, 1, true), tostring(err))
  end
  fails({ name = "tier", options = { "Bronze" }, synonyms = { Platinum = "Diamond" } },
    'synonym "Platinum" -> "Diamond": "Diamond" is not an option of tier')
  fails({ name = "tier", options = { "Bronze" }, default = "bronze" }, 'default "bronze" is not an option')
  fails({ name = "tier", options = { "Gold", "GOLD" } }, 'options "Gold" and "GOLD" differ only in case')
  fails({ name = "tier", options = { "Gold" }, fetch = function() end }, "give options (a list) or fetch")
  fails({ name = "tier" }, "give options (a list) or fetch")
  fails({ name = "tier", options = { "Gold" }, on_unknown = "default" }, 'on_unknown = "default" needs a default')
  fails({ name = "tier", options = { "Gold" }, ttl = "1h" }, "declared options have no ttl")
  fails({ name = "tier", options = { "Gold" }, synonym = {} }, "unknown option synonym")
end)

case("an unknown value in 500 records: 500 quarantines, one report key, one warn line, none in the next run", function()
  local store = standin.store(standin.clock())
  local ctx = standin.ctx(store)
  local t = tiers()
  for i = 1, 500 do
    local v, err = t:match(i % 2 == 0 and "Platnum" or i % 3 == 0 and " PLATNUM " or " Platnum ", ctx)
    eq(v, nil, "value " .. i)
    eq(err.class, "picklist_drift", "class")
    eq(err.picklist, "tier", "picklist")
    eq(err.value, (i % 2 == 1 and i % 3 == 0) and "PLATNUM" or "Platnum", "value")
  end
  local _, err = t:match("Platnum", ctx)
  assert(err.reason:find('picklist tier: unknown value "Platnum" (options: "Bronze", "Silver", "Gold")', 1, true),
    err.reason)
  local keys = {}
  for _, r in ipairs(ctx.reports) do keys[r.kind .. " " .. r.key] = (keys[r.kind .. " " .. r.key] or 0) + 1 end
  eq(keys["picklist_drift tier=platnum"], 501, "occurrences reported under one key, whatever the case")
  local n = 0
  for _ in pairs(keys) do n = n + 1 end
  eq(n, 1, "distinct report keys")
  eq(ctx.reports[1].detail.text, 'picklist tier: unknown value "Platnum" (quarantined)', "text")
  eq(#standin.logged(ctx, "new picklist value"), 1, "warn lines")

  local ctx2 = standin.ctx(store)
  t:match("Platnum", ctx2)
  t:match("Diamond", ctx2)
  local lines = standin.logged(ctx2, "new picklist value")
  eq(#lines, 1, "warn lines in the next run")
  eq(lines[1].fields.value, "Diamond", "the new value")
end)

case("the default: by policy.picklist_drift = \"default\" or on_unknown; still reported, and without ctx.report", function()
  local store = standin.store(standin.clock())
  local t = tiers()
  local ctx = standin.ctx(store, { picklist_drift = "default" })
  eq(t:match("Platnum", ctx), "Bronze", "by policy")
  eq(ctx.reports[1].detail.text, 'picklist tier: unknown value "Platnum" (mapped to default "Bronze")', "text")
  eq(t:match("", ctx), "Bronze", "an empty value")
  eq(ctx.reports[2].detail.text, 'picklist tier: empty value (mapped to default "Bronze")', "empty text")
  local own = tiers { on_unknown = "default" }
  local plain = standin.ctx(store)
  plain.report = nil                -- a run before ctx:report existed
  eq(own:match("Platnum", plain), "Bronze", "on_unknown")
  local v, err = tiers():match("Platnum", standin.ctx(store, { picklist_drift = "quarantine" }))
  eq(v, nil, "policy quarantine")
  eq(err.class, "picklist_drift", "class")
  local nodefault = ferry.picklist { name = "n", options = { "A" } }
  v = nodefault:match("B", standin.ctx(store, { picklist_drift = "default" }))
  eq(v, nil, "no default declared")
end)

-- A fetched picklist whose options the test changes, counting fetches.
local function fetched(options, extra)
  local p
  local o = { name = "tier", ttl = "1h", synonyms = { Platinum = "Gold" },
              fetch = function() p.fetches = p.fetches + 1; return options.list end }
  for k, v in pairs(extra or {}) do o[k] = v end
  p = ferry.picklist(o)
  p.fetches = 0
  return p
end

case("fetched options: one fetch, cached in ctx.state for ttl, then fetched again", function()
  local clock = standin.clock()
  local store = standin.store(clock)
  local options = { list = { "Bronze", "Silver", "Gold" } }
  local t = fetched(options)
  local ctx = standin.ctx(store)
  for _ = 1, 100 do eq(t:match("gold", ctx), "Gold", "gold") end
  eq(t:match("platinum", ctx), "Gold", "synonym")
  eq(t.fetches, 1, "fetches in a run")
  clock:advance(3599)
  eq(t:match("Silver", standin.ctx(store)), "Silver", "next run")
  eq(t.fetches, 1, "fetches within the ttl")
  clock:advance(1)
  eq(t:match("Silver", standin.ctx(store)), "Silver", "after the ttl")
  eq(t.fetches, 2, "fetches after the ttl")
end)

case("an option removed upstream: reported on refresh with what was added; a value that matched it is unknown now", function()
  local clock = standin.clock()
  local store = standin.store(clock)
  local options = { list = { "Bronze", "Silver", "Gold" } }
  local t = fetched(options)
  local ctx = standin.ctx(store)
  eq(t:match("Gold", ctx), "Gold", "before")
  eq(#ctx.reports, 0, "reports of the first fetch")
  options.list = { "Bronze", "Silver", "Platinum" }
  clock:advance(3600)
  ctx = standin.ctx(store)
  local v, err = t:match("gold", ctx)
  eq(v, nil, "a removed option")
  eq(err.class, "picklist_drift", "class")
  local r = ctx.reports[1]
  eq(r.kind .. " " .. r.key, "picklist_options tier", "report")
  eq(r.detail.text, 'picklist tier: options removed upstream: "Gold"; added: "Platinum"', "text")
  eq(#standin.logged(ctx, "picklist options changed upstream"), 1, "warn lines")
  eq(ctx.reports[2].key, "tier=gold", "then the drift of the value")
  eq(t:match("platinum", ctx), "Platinum", "the new option itself")
  eq(#standin.logged(ctx, "picklist definition does not fit the destination's options"), 1,
    "the synonym Platinum -> Gold no longer fits")
  clock:advance(3600)
  ctx = standin.ctx(store)
  t:match("Silver", ctx)
  eq(#ctx.reports, 0, "an unchanged refresh reports nothing")
  eq(t.fetches, 3, "fetches")
end)

case("a fetch that fails or returns no options raises its class once a run; stale options are not guessed", function()
  local store = standin.store(standin.clock())
  local options = { list = {} }
  local t = fetched(options)
  local ctx = standin.ctx(store)
  for _ = 1, 3 do
    local ok, err = pcall(t.match, t, "Gold", ctx)
    assert(not ok and type(err) == "table" and err.class == "schema_drift", "error: " .. tostring(err))
    assert(err.reason:find("picklist tier: the destination returned no options", 1, true), err.reason)
  end
  eq(t.fetches, 1, "fetches")
  options.list = { "Gold", 7 }
  local ok, err = pcall(t.match, t, "Gold", standin.ctx(store))
  assert(not ok and err.class == "script" and err.reason:find("option 2 is number", 1, true), "error: " .. tostring(err))
end)

case("values that are not text: nil and JSON null are empty, a table or a boolean says what it is", function()
  local ctx = standin.ctx(standin.store(standin.clock()))
  local t = tiers()
  local _, err = t:match(nil, ctx)
  assert(err.reason:find("picklist tier: empty value", 1, true), err.reason)
  _, err = t:match(ferry.json.null, ctx)
  assert(err.reason:find("picklist tier: empty value", 1, true), err.reason)
  _, err = t:match({ "Gold" }, ctx)
  assert(err.reason:find("picklist tier: a table, not a text value", 1, true), err.reason)
  eq(err.value, "<table>", "value")
  _, err = t:match(true, ctx)
  assert(err.reason:find("a boolean, not a text value", 1, true), err.reason)
end)

case("a long option list is cut in the reason", function()
  local opts = {}
  for i = 1, 50 do opts[i] = "opt" .. i end
  local _, err = ferry.picklist { name = "long", options = opts }:match("x", standin.ctx(standin.store(standin.clock())))
  assert(err.reason:find('"opt20", and 30 more)', 1, true), err.reason)
  assert(not err.reason:find('"opt21"', 1, true), err.reason)
end)

harness.finish()
