-- Rate limit specs (lualib/ferry/http.lua parse_rate) mean what the README
-- says: requests per period, whatever the period. "10/s" alone cannot tell
-- multiplying by the period from dividing by it; the other periods can.
local http = require "ferry.http"
local harness = require "harness"
local case = harness.case

local function near(got, want, what)
  if type(got) ~= "number" or math.abs(got - want) > 1e-9 * math.max(1, math.abs(want)) then
    error(string.format("%s: got %s, want %s", what, tostring(got), tostring(want)), 2)
  end
end

case("rate limits: requests per period become requests per second, for every period", function()
  for _, t in ipairs {
    { "10/s", 10 }, { "600/min", 10 }, { "600/m", 10 }, { "60/minute", 1 }, { "100/10s", 10 },
    { "1/2m", 1 / 120 }, { "3600/h", 1 }, { "7200/hour", 2 }, { "5/500ms", 10 }, { "30/sec", 30 },
    { " 120 / min ", 2 }, { "2.5/s", 2.5 }, { "1/1h30m", 1 / 5400 }, { "48/1d", 48 / 86400 },
  } do
    local rate, burst = http.parse_rate(t[1])
    near(rate, t[2], "rate of \"" .. t[1] .. "\"")
    near(burst, 1, "burst of \"" .. t[1] .. "\" (default)")
  end
end)

case("rate limits: { rate, burst } keeps the burst, and a number is per second", function()
  local rate, burst = http.parse_rate { rate = "100/10s", burst = 5 }
  near(rate, 10, "rate of { rate = \"100/10s\", burst = 5 }")
  near(burst, 5, "burst of { rate = \"100/10s\", burst = 5 }")
  rate, burst = http.parse_rate { rate = "600/min", burst = 20 }
  near(rate, 10, "rate of { rate = \"600/min\", burst = 20 }")
  near(burst, 20, "burst")
  rate, burst = http.parse_rate(4)
  near(rate, 4, "a number")
  near(burst, 1, "burst of a number")
  assert(http.parse_rate(nil) == nil, "no rate limit")
end)

case("rate limits: a period of zero or nonsense is an error naming the spec", function()
  for _, s in ipairs { "10/0s", "10/fortnight", "ten/s", "/s" } do
    local ok, err = pcall(http.parse_rate, s)
    assert(not ok and tostring(err):find(s, 1, true), s .. ": " .. tostring(err))
  end
end)

harness.finish()
