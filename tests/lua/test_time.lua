-- Tests for ferry.time (core/fy_lua_time.c). Plain asserts; run by ferry.
local t = ferry.time

local T = 1795701785 -- 2026-11-26T14:03:05Z

-- parse: epoch and offset as written
local e, off = t.parse("2026-11-26T14:03:05Z")
assert(e == T and off == 0)
assert(math.type(e) == "integer", "whole seconds come back as an integer")

e, off = t.parse("2026-11-26T16:03:05.123+02:00")
assert(math.abs(e - (T + 0.123)) < 1e-6 and off == 120)
assert(math.type(e) == "float")

e, off = t.parse("2026-11-26T08:33:05-0530")
assert(e == T and off == -330)
assert(select(1, t.parse("2026-11-26t16:03:05+02")) == T)
assert(t.parse("2026-11-26 14:03:05") == T, "no offset means UTC")
assert(t.parse("2026-11-26T14:03") == T - 5, "seconds are optional")
assert(t.parse("2026-11-26") == 1795651200, "a date is midnight UTC")
assert(t.parse("2024-02-29") == 1709164800)
assert(t.parse("1970-01-01T00:00:00Z") == 0)
assert(t.parse("1969-12-31T23:59:59Z") == -1)
assert(t.parse("9999-12-31T23:59:59Z") == 253402300799)

-- parse: bad input is nil, err (never an error)
local function bad(s, want)
  local v, err = t.parse(s)
  assert(v == nil, "expected failure for " .. s)
  assert(type(err) == "string" and err:find(want, 1, true),
         ("parse(%q): got %q, want %q"):format(s, tostring(err), want))
end
bad("2023-02-29", 'invalid day 29 in "2023-02-29"')
bad("2026-13-01", 'invalid month 13 in "2026-13-01"')
bad("31/02/2023", "expected a date as YYYY-MM-DD")
bad("yesterday", "expected a date as YYYY-MM-DD")
bad("2026-11-26T25:00Z", "invalid hour 25")
bad("2026-11-26T14:03:05Zjunk", 'trailing characters "junk"')
bad("2026-11-26T14:03:05+19:00", "out of range")
bad("", "empty date-time")
bad("2026-11-26\0", "\\x00")

-- parse: a non-string argument is misuse and raises
assert(not pcall(t.parse))
assert(not pcall(t.parse, {}))
assert(not pcall(t.parse, nil))

-- format
assert(t.format(T) == "2026-11-26T14:03:05Z")
assert(t.format(T, 0) == "2026-11-26T14:03:05Z")
assert(t.format(T, nil) == "2026-11-26T14:03:05Z")
assert(t.format(T, 120) == "2026-11-26T16:03:05+02:00")
assert(t.format(T, -330) == "2026-11-26T08:33:05-05:30")
assert(t.format(T, "Z") == "2026-11-26T14:03:05Z")
assert(t.format(T, "+02:00") == "2026-11-26T16:03:05+02:00")
assert(t.format(T, "-0530") == "2026-11-26T08:33:05-05:30")
assert(t.format(T, "+02") == "2026-11-26T16:03:05+02:00")
assert(t.format(T + 0.5) == "2026-11-26T14:03:05.500Z", "fraction defaults to 3 digits")
assert(t.format(T + 0.5, 0, 0) == "2026-11-26T14:03:06Z", "rounds to the precision")
assert(t.format(T, 0, 6) == "2026-11-26T14:03:05.000000Z")
assert(t.format(-1) == "1969-12-31T23:59:59Z")
assert(t.format(0.0) == "1970-01-01T00:00:00Z", "a whole float gets no fraction")

-- format: misuse raises with a clear message
local function raises(want, ...)
  local ok, err = pcall(t.format, ...)
  assert(not ok, "expected an error")
  assert(tostring(err):find(want, 1, true),
         ("got %q, want %q"):format(tostring(err), want))
end
raises("invalid offset \"+2\"", T, "+2")
raises("invalid offset \"UTC\"", T, "UTC")
raises("out of range", T, "+19:00")
raises("out of range", T, 1081)
raises("number has no integer representation", T, 90.5)
raises("frac_digits must be 0-9", T, 0, 10)
raises("out of range (years 0000-9999)", 1e15)
raises("out of range (years 0000-9999)", 0 / 0)
raises("number expected", "soon")
raises("offset string", T, {})

-- round trips
for _, s in ipairs({ "2026-11-26T14:03:05Z", "2026-11-26T16:03:05+02:00",
                     "1969-12-31T23:59:59Z", "0000-01-01T00:00:00Z",
                     "2024-02-29T12:00:00-05:30", "2026-11-26T16:03:05.123+02:00" }) do
  local ep, o = t.parse(s)
  assert(t.format(ep, o) == s, s)
end
for i = 1, 2000 do
  local x = math.random(-62000000000, 253000000000)
  local o = math.random(-1080, 1080)
  local ep, o2 = t.parse(t.format(x, o))
  assert(ep == x and o2 == o, ("round trip %d %d"):format(x, o))
end

-- duration
assert(t.duration("90s") == 90)
assert(t.duration("15m") == 900)
assert(t.duration("1h30m") == 5400)
assert(t.duration("2h 30m") == 9000)
assert(t.duration("1.5h") == 5400)
assert(math.type(t.duration("1.5h")) == "integer")
assert(t.duration("7d") == 604800)
assert(t.duration("1w") == 604800)
assert(t.duration("500ms") == 0.5)
assert(t.duration("15 minutes") == 900)
assert(t.duration("2 hours 30 minutes") == 9000)
assert(t.duration("1 day") == 86400)

local function bad_duration(s, want)
  local v, err = t.duration(s)
  assert(v == nil and err == want,
         ("duration(%q): got %q, want %q"):format(s, tostring(err), want))
end
bad_duration("15", 'missing unit in "15"')
bad_duration("15x", [[unknown unit 'x' in "15x" (use ms, s, m, h, d, w, or seconds, minutes, hours, days, weeks)]])
bad_duration("", "empty duration")
bad_duration("-5m", 'negative duration "-5m"')
bad_duration("30m1h", [[unit 'h' out of order in "30m1h" (largest unit first, each unit once)]])
assert(not pcall(t.duration, {}))

-- format_duration
assert(t.format_duration(5400) == "1h30m")
assert(t.format_duration(90) == "1m30s")
assert(t.format_duration(0.5) == "500ms")
assert(t.format_duration(604800) == "7d")
assert(t.format_duration(0) == "0s")
assert(t.format_duration(90.5) == "1m30.5s")
assert(t.duration(t.format_duration(93784.25)) == 93784.25)
assert(not pcall(t.format_duration, 1 / 0))
assert(not pcall(t.format_duration, "soon"))

-- now
local n = t.now()
assert(math.type(n) == "float" and n > 1577836800, "now() is a float after 2020")
assert(t.format(n):match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d"))


-- schedule_check: the schedule parser of fy_schedule (one parser for check and serve)
assert(t.schedule_check("every 90 minutes") == "every 1h30m")
assert(t.schedule_check("manual") == "manual")
assert(t.schedule_check(nil) == "manual")
assert(t.schedule_check("0 7 * * 1-5", "UTC") == "cron 0 7 * * 1-5 (UTC)")
assert(t.schedule_check("@weekly") == "cron @weekly (UTC)", "the config's default zone is UTC")
local text, jitter = t.schedule_check({ every = "1h", jitter = "5m" })
assert(text == "every 1h" and jitter == 300 and math.type(jitter) == "integer")
local v, err = t.schedule_check("61 * * * *")
assert(v == nil and err == "cron minute: '61' is outside 0-59 in \"61 * * * *\"", err)
v, err = t.schedule_check({ cron = "0 7 * * *", tz = "../etc/passwd" })
assert(v == nil and err:find("^tz: invalid time zone name"), err)
v, err = t.schedule_check({ every = "1h", cron = "0 7 * * *" })
assert(v == nil and err:find("exactly one of cron and every"), err)
v, err = t.schedule_check(true)
assert(v == nil and err:find("got boolean"), err)

-- from_local: wall-clock time in a zone -> UTC, with Berlin's 2026 changes
-- (spring forward 2026-03-29 02:00 -> 03:00, fall back 2026-10-25 03:00 -> 02:00)
local B = "Europe/Berlin"
assert(t.format(t.from_local(2026, 3, 29, 1, 30, 0, B)) == "2026-03-29T00:30:00Z", "CET before the gap")
assert(t.format(t.from_local(2026, 3, 29, 3, 0, 0, B)) == "2026-03-29T01:00:00Z", "CEST after the gap")
assert(math.type(t.from_local(2026, 3, 29, 3, 0, 0, B)) == "integer")
v, err = t.from_local(2026, 3, 29, 2, 30, 0, B)
assert(v == nil and err == "2026-03-29 02:30:00 does not exist in Europe/Berlin (clocks move forward)", err)
v, err = t.from_local(2026, 3, 29, 2, 30, 0, B, "later")
assert(v == nil and err:find("does not exist", 1, true), "a fold choice does not paper over a gap")
v, err = t.from_local(2026, 10, 25, 2, 30, 0, B)
assert(v == nil and err == '2026-10-25 02:30:00 occurs twice in Europe/Berlin (clocks move back);'
  .. ' say which with fold = "earlier" or "later"', err)
assert(t.format(t.from_local(2026, 10, 25, 2, 30, 0, B, "earlier")) == "2026-10-25T00:30:00Z")
assert(t.format(t.from_local(2026, 10, 25, 2, 30, 0, B, "later")) == "2026-10-25T01:30:00Z")
assert(t.format(t.from_local(2026, 10, 25, 3, 0, 0, B)) == "2026-10-25T02:00:00Z", "just after the fold")
assert(t.format(t.from_local(2026, 7, 1, 12, 0, 0, "UTC")) == "2026-07-01T12:00:00Z")
for _ = 1, 3 do   -- the zone is cached per state; answers stay the same
  assert(t.from_local(2026, 1, 15, 12, 0, 0, B) == t.parse("2026-01-15T11:00:00Z"))
end
v, err = t.from_local(2026, 1, 1, 0, 0, 0, "Mars/Base")
assert(v == nil and err:find('unknown time zone "Mars/Base"', 1, true), err)
v, err = t.from_local(2026, 1, 1, 0, 0, 0, "../etc/passwd")
assert(v == nil and err:find("invalid time zone name", 1, true), err)
-- impossible fields and a bad fold are the caller's mistake: they raise
assert(not pcall(t.from_local, 2026, 2, 29, 0, 0, 0, B), "no 29 February in 2026")
assert(not pcall(t.from_local, 2026, 13, 1, 0, 0, 0, B))
assert(not pcall(t.from_local, 2026, 1, 1, 24, 0, 0, B))
assert(not pcall(t.from_local, 2026, 10, 25, 2, 30, 0, B, "both"))
assert(not pcall(t.from_local, 2026, 1, 1, 0, 0, 0))

print("ok test_time.lua")
