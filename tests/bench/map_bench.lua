-- make bench: ferry.map against a hand-written transform of the same
-- fields, in the same process, interleaved rounds. Each round applies both
-- to N records (a pool of 1,000 distinct CRM-like records, cycled, so the
-- figure is the transform and not record building). CPU time (os.clock).
-- Before timing, both must give the same output for every pool record, or
-- the bench fails. Prints one "round R map|hand SECONDS" line per timing and
-- a closing "result ..." line that tests/bench/map.sh turns into JSON.
--
--   ferry lua -c tests/bench/map_config.lua tests/bench/map_bench.lua N ROUNDS
local N = tonumber((select(1, ...))) or 1000000
local ROUNDS = tonumber((select(2, ...))) or 5
local json, time = ferry.json, ferry.time
local null = json.null
local clock = os.clock

-- The pool: JSON text decoded by ferry.json, as a source would hand them over.
local pool = {}
for i = 1, 1000 do
  pool[i] = json.decode(([[{"id": %d, "properties": {"name": "  Account %d GmbH ", "employees": "%s"},
    "contacts": [{"email": " Owner%d@Example.COM "}], "score": "%d,%d", "status": "%s",
    "renewal": "%02d/%02d/2027", "updated": "2026-%02d-%02d %02d:%02d", "arr": %s, "region": %s}]]):format(
    9007199254740000 + i, i, i % 3 == 0 and ("%d,%03d"):format(i // 10 + 1, i % 1000) or tostring(i * 7), i,
    i, i % 10, i % 2 == 0 and "active" or "off", i % 28 + 1, i % 12 + 1, i % 12 + 1, i % 28 + 1, i % 24, i % 60,
    i % 4 == 0 and ('"%d.5"'):format(i * 100) or ("%d.25"):format(i * 10), i % 5 == 0 and "null" or '"apac"'))
end
-- the datetimes must exist in Berlin: move any in the spring-forward gap
for _, r in ipairs(pool) do
  if r.updated:match("^2026%-03%-29 02") then r.updated = "2026-03-29 04:00" end
  if r.updated:match("^2026%-10%-25 02") then r.updated = "2026-10-25 04:00" end
end

local m = ferry.map {
  fields = {
    account_id = { from = "id", as = "string", required = true },
    name       = { from = "properties.name", as = "string", trim = true, max = 200 },
    email      = { from = "contacts[1].email", as = "string", trim = true, case = "lower" },
    employees  = { from = "properties.employees", as = "integer", thousands = "," },
    score      = { from = "score", as = "number", decimal = ",", thousands = "." },
    active     = { from = "status", as = "boolean", yes = { "active", "on" }, no = { "inactive", "off" } },
    renews_on  = { from = "renewal", as = "date", formats = { "%d/%m/%Y" } },
    updated_at = { from = "updated", as = "datetime", formats = { "%Y-%m-%d %H:%M" }, tz = "Europe/Berlin" },
    arr        = { from = "arr", as = "money", scale = 2 },
    arr_cents  = { from = "arr", as = "money", scale = 2, minor = true },
    region     = { from = "region", default = "emea" },
  },
}
local mapped = m.transform

-- What a careful person writes by hand for the same fields.
local find, match, gsub, lower, format, tointeger = string.find, string.match, string.gsub, string.lower, string.format, math.tointeger
local function trim(s) return match(s, "^%s*(.-)%s*$") end
local BOOL = { active = true, on = true, inactive = false, off = false }
local function hand(r)
  local out = {}
  local id = r.id
  if id == nil or id == null then return nil, "account_id: required" end
  out.account_id = tostring(id)
  local p = r.properties
  if p ~= nil and p ~= null then
    local name = trim(p.name)
    if #name > 200 then return nil, "name too long" end
    out.name = name
    local e = p.employees
    local n = tointeger(tonumber((gsub(e, ",", ""))))
    if not n then return nil, "employees: not an integer" end
    out.employees = n
  end
  local c = r.contacts
  out.email = c and c[1] and lower(trim(c[1].email)) or null
  out.score = tonumber((gsub(gsub(r.score, "%.", ""), ",", ".")))
  local b = BOOL[lower(r.status)]
  if b == nil then return nil, "active: not a boolean" end
  out.active = b
  local d, mo, y = match(r.renewal, "^(%d%d?)/(%d%d?)/(%d%d%d%d)$")
  if not d then return nil, "renews_on: not a date" end
  out.renews_on = format("%04d-%02d-%02d", y, mo, d)
  local Y, M, D, h, mi = match(r.updated, "^(%d%d%d%d)%-(%d%d?)%-(%d%d?) (%d%d?):(%d%d)$")
  local e, err = time.from_local(tonumber(Y), tonumber(M), tonumber(D), tonumber(h), tonumber(mi), 0, "Europe/Berlin")
  if not e then return nil, err end
  out.updated_at = time.format(e)
  local arr = tonumber(r.arr)
  out.arr = format("%.2f", arr)
  out.arr_cents = tointeger(tonumber(format("%.0f", arr * 100)))
  local region = r.region
  out.region = (region == nil or region == null or region == "") and "emea" or region
  return out
end

for i, r in ipairs(pool) do
  local a = assert(mapped(r))
  local b = assert(hand(r))
  local ja, jb = json.encode(a, { sort_keys = true }), json.encode(b, { sort_keys = true })
  if ja ~= jb then error(("record %d: the map and the hand-written transform differ:\n  map  %s\n  hand %s"):format(i, ja, jb)) end
end

local function run(fn)
  local t0 = clock()
  local n, out = 0
  for _ = 1, N // #pool do
    for i = 1, #pool do out = fn(pool[i]); if out then n = n + 1 end end
  end
  local secs = clock() - t0
  assert(n == N // #pool * #pool, "every record converted")
  return secs
end

collectgarbage("generational")
local rates = { map = {}, hand = {} }
for r = 1, ROUNDS do
  -- alternate which runs first, so neither always gets the warm cache
  local order = r % 2 == 1 and { "map", "hand" } or { "hand", "map" }
  for _, who in ipairs(order) do
    local secs = run(who == "map" and mapped or hand)
    rates[who][r] = N / secs
    print(format("  round %d  %-4s %7.2f s %10.0f records/s", r, who, secs, N / secs))
  end
end
local function median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  local k = #s
  return k % 2 == 1 and s[(k + 1) // 2] or (s[k // 2] + s[k // 2 + 1]) / 2
end
local mm, mh = median(rates.map), median(rates.hand)
print(format("median of %d rounds: ferry.map %.0f records/s, hand-written %.0f records/s, map / hand %.2fx",
  ROUNDS, mm, mh, mm / mh))
print("  (the map also checks what the hand-written one takes on trust: correct grouping, length in")
print("  characters, exact money with no float in between, real calendar dates)")
local by = {}
for r = 1, ROUNDS do by[r] = format("%.2f", rates.map[r] / rates.hand[r]) end
print("map / hand by round: " .. table.concat(by, " "))
print("result " .. json.encode({ records = N, rounds = ROUNDS, fields = 11,
  map_records_per_s = rates.map, hand_records_per_s = rates.hand,
  median_map_records_per_s = math.floor(mm + 0.5), median_hand_records_per_s = math.floor(mh + 0.5),
  ratio = tonumber(format("%.2f", mm / mh)), by_round = by }))
