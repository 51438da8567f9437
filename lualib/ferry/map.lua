-- ferry.map: declarative field maps with converters, for a script's transform.
--
--   local m = ferry.map { fields = { ... }, schema = { ... } }
--   transform = m            -- m(record, ctx) -> out | nil, err
--   ferry.map.schema { ... } -- a destination schema checker on its own
--
-- Called by scripts (through ferry.map in prelude.lua). A map is checked and
-- compiled once, when the script loads: every mistake in it (an unknown key,
-- an unknown converter, a picklist without :match, a bad date format) raises
-- there, naming the field, so `ferry check` reports it. Compiling generates
-- straight-line Lua (one block per field, no loop over the spec per record)
-- and loads it with `load`; the chunk sees no globals, only the converters
-- and constants it is handed. Applying a map builds a new output table and
-- never edits the record.
--
-- What it promises: a value is converted exactly or not at all. A field that
-- cannot be converted makes the whole record fail with
--   nil, { class = "validation", field = F, value = V, rule = R, reason = ... }
-- (picklist, lookup and ref errors keep their own class), which the runner
-- quarantines with the reason. Nothing is silently dropped or rounded.
local ferry = ferry
local json, time = ferry.json, ferry.time
local NULL = ferry.json.null
local type, pairs, ipairs, tostring, tonumber = type, pairs, ipairs, tostring, tonumber
local error, pcall, load, select, next = error, pcall, load, select, next
local os_date = os.date
local setmetatable, getmetatable = setmetatable, getmetatable
local mtype, tointeger, floor = math.type, math.tointeger, math.floor
local format, find, match, sub, gsub, lower, upper, rep =
  string.format, string.find, string.match, string.sub, string.gsub, string.lower, string.upper, string.rep
local byte = string.byte
local ulen, uoffset = utf8.len, utf8.offset
local concat, sort = table.concat, table.sort

local _M = {}

----------------------------------------------------------------------------
-- Values in messages
----------------------------------------------------------------------------

-- The shortest decimal text that reads back as the same float (0.1 -> "0.1",
-- where "%.17g" gives "0.10000000000000001"). Integers as they are.
local function number_text(x)
  if mtype(x) == "integer" then return tostring(x) end
  if x ~= x then return "nan" end
  if x == 1 / 0 then return "inf" elseif x == -1 / 0 then return "-inf" end
  -- %.14g when it reads back (the usual case: 0.1, 1234.25) is already the
  -- shortest, as %g drops trailing zeros; else the first of 15-17 digits that does
  local s = format("%.14g", x)
  if tonumber(s) == x then return s end
  s = format("%.15g", x)
  if tonumber(s) == x then return s end
  s = format("%.16g", x)
  if tonumber(s) == x then return s end
  return format("%.17g", x)
end

local ESC = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

-- A value as it appears in a reason: a string in double quotes (control
-- characters escaped), cut at 80 characters with "..." before the closing
-- quote; a number, boolean or null as JSON writes it; a table as its JSON,
-- cut the same way.
local function quote(v)
  local t = type(v)
  if t == "number" then return number_text(v) end
  if t == "boolean" then return tostring(v) end
  if v == NULL then return "null" end
  if t == "table" then
    local ok, s = pcall(json.encode, v)
    v = ok and s or "a table"
    if #v <= 80 then return v end
    return sub(v, 1, 80) .. "..."
  end
  if t ~= "string" then return "a " .. t end
  local cut = false
  if #v > 80 then                     -- 80 characters, whole UTF-8 sequences when valid
    local n = ulen(v) and uoffset(v, 81)
    if n == nil then n = 81 end
    if n <= #v then v, cut = sub(v, 1, n - 1), true end
  end
  local bad = ulen(v) and '[%c"\\]' or '[%c"\\\128-\255]'   -- not UTF-8: escape the high bytes too
  v = gsub(v, bad, function(c) return ESC[c] or format("\\x%02x", c:byte()) end)
  return '"' .. v .. (cut and '..."' or '"')
end

-- The validation error of field f for value v broken by rule; `says` is
-- what is wrong with it, read after the value: `is not an integer`.
local function invalid(f, v, rule, says)
  return { class = "validation", field = f, value = v, rule = rule,
           reason = format("field '%s': %s %s", f, quote(v), says) }
end

----------------------------------------------------------------------------
-- Numbers written as text
----------------------------------------------------------------------------

-- s without leading and trailing white space; s itself (no pattern run)
-- when its first and last bytes are not white space, the common case.
local function trim(s)
  local a, b = byte(s, 1), byte(s, -1)
  if a and a > 32 and b > 32 then return s end
  return match(s, "^%s*(.*%S)") or ""
end

-- A separator as a Lua pattern that matches it literally.
local function literal(sep) return (gsub(sep, "[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0")) end

-- Digits grouped by the thousands separator (`group` is literal(sep) ..
-- "%d%d%d"): "12,500,000" -> "12500000"; nil unless the first group has one
-- to three digits and every later one exactly three ("1,23,4" and ",123"
-- are not numbers). Removing every sep+3 digits from what follows the first
-- group must leave nothing: the matches do not overlap, so then the rest is
-- made of such groups, one after another.
local function ungroup(s, group)
  local head, rest = match(s, "^(%d%d?%d?)(.*)$")
  if not head then return nil end
  if rest == "" then return head end
  local left = gsub(rest, group, "")
  if left ~= "" then return match(s, "^%d+$") end   -- or not grouped at all
  return head .. gsub(rest, "%D", "")
end

-- The patterns for numbers with decimal separator dec, built once per dec.
local DEC_PATTERNS = setmetatable({}, { __index = function(t, dec)
  local p = { whole = "^([+-]?)(%d+)$", frac = "^([+-]?)(%d+)" .. literal(dec) .. "(%d+)$" }
  t[dec] = p
  return p
end })

-- Split a number written as text into sign ("" or "-"), integer digits,
-- fraction digits and exponent (an integer; exponents only when allow_exp).
-- dec is the decimal separator, thou the thousands separator or nil (and
-- group, for thou, literal(thou) .. "%d%d%d"). Returns nil when the text is
-- not such a number.
local function split_number(s, dec, thou, group, allow_exp)
  local pats = DEC_PATTERNS[dec]     -- the common forms first, in one pattern each
  local sign, ip = match(s, pats.whole)
  if sign then return sign == "-" and "-" or "", ip, "", 0 end
  local fp
  sign, ip, fp = match(s, pats.frac)
  if sign then return sign == "-" and "-" or "", ip, fp, 0 end
  if thou then                        -- "1.234,5" where "." groups: one pattern, then the groups
    local gpat = pats[thou]
    if not gpat then
      gpat = "^([+-]?)(%d%d?%d?[" .. literal(thou) .. "%d]*)" .. literal(dec) .. "(%d+)$"
      pats[thou] = gpat
    end
    sign, ip, fp = match(s, gpat)
    if sign then
      ip = ungroup(ip, group)
      if ip then return sign == "-" and "-" or "", ip, fp, 0 end
    end
  end
  local rest
  sign, rest = match(s, "^([+-]?)(.*)$")
  local exp = 0
  if allow_exp and find(rest, "[eE]") then
    local m, e = match(rest, "^([^eE]*)[eE]([+-]?%d+)$")
    if not m then return nil end
    rest, exp = m, tonumber(e)
  end
  ip, fp = rest, ""
  local at = find(rest, dec, 1, true)
  if at then ip, fp = sub(rest, 1, at - 1), sub(rest, at + #dec) end
  if at and not match(fp, "^%d+$") then return nil end
  if ip == "" then
    if fp == "" then return nil end
    ip = "0"
  elseif thou then
    ip = ungroup(ip, group)
  else
    ip = match(ip, "^%d+$")
  end
  if not ip then return nil end
  return sign == "-" and "-" or "", ip, fp, exp
end

-- "(thousands \",\")" and the like, for reasons: the options that shaped
-- how the text was read.
local function number_opts(dec, thou)
  local t = {}
  if dec and dec ~= "." then t[#t + 1] = format('decimal "%s"', dec) end
  if thou then t[#t + 1] = format('thousands "%s"', thou) end
  return #t > 0 and " (" .. concat(t, ", ") .. ")" or ""
end

----------------------------------------------------------------------------
-- Converters. make_X(f, spec) checks the field's options (raising a spec
-- error) and returns a function(v) -> converted | nil, err where err is
-- the validation error table. v is never empty (the map handles that).
----------------------------------------------------------------------------

local spec_error   -- spec_error(msg): raise a spec problem (set below)

-- What a converter returns for a string that is only white space: the map
-- treats it as empty (default, required or null). The map itself checks
-- nil, null and "" before calling; leaving blank strings to the converter,
-- which looks at the string anyway, saves three calls per field.
local BLANK = setmetatable({}, { __name = "ferry.map blank", __tostring = function() return "blank" end })

local function blank(s) return byte(s) <= 32 and not find(s, "%S") end

local function check_sep(f, spec, key, default)
  local v = spec[key]
  if v == nil then return default end
  if type(v) ~= "string" or v == "" or #v > 3 or find(v, "[%d+-]") then
    spec_error(format("field '%s': %s must be a separator such as \",\" or \".\"", f, key))
  end
  return v
end

local function make_string(f, spec)
  local do_trim = spec.trim
  local case = spec.case
  local max, truncate = spec.max, spec.truncate
  if case ~= nil and case ~= "lower" and case ~= "upper" then
    spec_error(format("field '%s': case must be \"lower\" or \"upper\"", f))
  end
  if max ~= nil and (mtype(max) ~= "integer" or max < 1) then
    spec_error(format("field '%s': max must be a positive integer (characters)", f))
  end
  local lower_or_upper = case == "lower" and lower or case == "upper" and upper or nil
  return function(v)
    local t = type(v)
    local s = v
    if t == "number" then s = number_text(v)
    elseif t == "boolean" then s = tostring(v)
    elseif t ~= "string" then return nil, invalid(f, v, "string", "is not a string") end
    if t == "string" and (s == "" or blank(s)) then return BLANK end
    if do_trim then s = trim(s) end
    if lower_or_upper then s = lower_or_upper(s) end
    if max then
      local n = ulen(s)
      if not n then return nil, invalid(f, v, "string", "is not valid UTF-8") end
      if n > max then
        if not truncate then
          return nil, invalid(f, v, "max", format("is longer than %d characters (%d)", max, n))
        end
        s = sub(s, 1, uoffset(s, max + 1) - 1)
      end
    end
    return s
  end
end

local TWO53 = 2 ^ 53

local function make_integer(f, spec)
  local thou = check_sep(f, spec, "thousands", nil)
  local dec = thou == "." and "," or "."      -- for "12.00" (or "12,00" where "." groups)
  local group = thou and literal(thou) .. "%d%d%d"
  local grouped = thou and "^([+-]?)(%d%d?%d?)(" .. literal(thou) .. "[%d" .. literal(thou) .. "]+)$"
  local says = "is not an integer" .. number_opts(".", thou)
  return function(v)
    local t = mtype(v)
    if t == "integer" then return v end
    if t == "float" then
      if v ~= floor(v) then return nil, invalid(f, v, "integer", "is not an integer") end
      if v > TWO53 or v < -TWO53 then
        return nil, invalid(f, v, "integer", "is not an exact integer (a float beyond 2^53)")
      end
      return tointeger(v)
    end
    if type(v) ~= "string" then return nil, invalid(f, v, "integer", says) end
    local s = trim(v)
    if s == "" then return BLANK end
    if grouped then                    -- "12,500": the common grouped form, in one pattern
      local sign, head, rest = match(s, grouped)
      if sign and gsub(rest, group, "") == "" then
        local n = tointeger(tonumber(sign .. head .. gsub(rest, "%D", "")))
        if n then return n end
      end
    end
    local sign, ip, fp = split_number(s, dec, thou, group, false)
    if not sign or find(fp, "[1-9]") then return nil, invalid(f, v, "integer", says) end
    local n = tointeger(tonumber(sign .. ip))
    if not n then return nil, invalid(f, v, "integer", "is outside the 64-bit integer range") end
    return n
  end
end

local function make_number(f, spec)
  local dec = check_sep(f, spec, "decimal", ".")
  local thou = check_sep(f, spec, "thousands", nil)
  if dec == thou then spec_error(format("field '%s': decimal and thousands must differ", f)) end
  local group = thou and literal(thou) .. "%d%d%d"
  local says = "is not a number" .. number_opts(dec, thou)
  return function(v)
    if type(v) == "number" then
      if v ~= v or v == 1 / 0 or v == -1 / 0 then return nil, invalid(f, v, "number", "is not a finite number") end
      return v
    end
    if type(v) ~= "string" then return nil, invalid(f, v, "number", says) end
    local s = trim(v)
    if s == "" then return BLANK end
    local sign, ip, fp, exp = split_number(s, dec, thou, group, true)
    if not sign then return nil, invalid(f, v, "number", says) end
    local n = tonumber(sign .. ip .. (fp ~= "" and "." .. fp or "") .. (exp ~= 0 and "e" .. exp or ""))
    if n == nil or n == 1 / 0 or n == -1 / 0 then
      return nil, invalid(f, v, "number", "is out of range")
    end
    return n
  end
end

local function word_set(f, key, list)
  if type(list) ~= "table" or #list == 0 then
    spec_error(format("field '%s': %s must be a list of words", f, key))
  end
  local set = {}
  for _, w in ipairs(list) do
    if type(w) ~= "string" or trim(w) == "" then
      spec_error(format("field '%s': %s must be a list of non-empty strings", f, key))
    end
    set[lower(trim(w))] = true
  end
  return set
end

local function make_boolean(f, spec)
  if (spec.yes == nil) ~= (spec.no == nil) then
    spec_error(format("field '%s': yes and no go together (state both word lists)", f))
  end
  local yes = word_set(f, "yes", spec.yes or { "true", "1", "yes" })
  local no = word_set(f, "no", spec.no or { "false", "0", "no" })
  for w in pairs(yes) do
    if no[w] then spec_error(format("field '%s': %q is in both yes and no", f, w)) end
  end
  local words = {}
  for w in pairs(yes) do words[#words + 1] = w end
  for w in pairs(no) do words[#words + 1] = w end
  sort(words)
  local says = "is not a boolean (" .. concat(words, ", ") .. ")"
  return function(v)
    local t = type(v)
    if t == "boolean" then return v end
    local w
    if t == "string" then
      w = lower(trim(v))
      if w == "" then return BLANK end
    elseif mtype(v) == "integer" then w = tostring(v)
    else return nil, invalid(f, v, "boolean", says) end
    if yes[w] then return true end
    if no[w] then return false end
    return nil, invalid(f, v, "boolean", says)
  end
end

-- Dates and times ------------------------------------------------------

local MONTHS = {}
for i, m in ipairs { "january", "february", "march", "april", "may", "june", "july",
                     "august", "september", "october", "november", "december" } do
  MONTHS[m], MONTHS[sub(m, 1, 3)] = i, i
end

local DIRECTIVES = {
  Y = { "(%d%d%d%d)", "y" }, y = { "(%d%d)", "yy" }, m = { "(%d%d?)", "m" }, b = { "(%a+)", "b" },
  d = { "(%d%d?)", "d" }, H = { "(%d%d?)", "H" }, M = { "(%d%d)", "M" }, S = { "(%d%d)", "S" },
}

-- Compile a format such as "%d/%m/%Y" into an anchored Lua pattern and the
-- list of what each capture is. Raises a spec error on an unknown directive
-- or a format without a full date.
local function compile_format(f, fmt)
  local pat, caps, seen, i = { "^" }, {}, {}, 1
  while i <= #fmt do
    local c = sub(fmt, i, i)
    if c == "%" then
      local d = sub(fmt, i + 1, i + 1)
      if d == "%" then
        pat[#pat + 1] = "%%"
      elseif DIRECTIVES[d] then
        if seen[d] then spec_error(format("field '%s': format %q repeats %%%s", f, fmt, d)) end
        seen[d] = true
        pat[#pat + 1] = DIRECTIVES[d][1]
        caps[#caps + 1] = DIRECTIVES[d][2]
      else
        spec_error(format("field '%s': format %q: unknown directive %%%s (known: %%Y %%y %%m %%b %%d %%H %%M %%S %%%%)",
          f, fmt, d))
      end
      i = i + 2
    else
      pat[#pat + 1] = gsub(c, "[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0")
      i = i + 1
    end
  end
  if not (seen.Y or seen.y) or not (seen.m or seen.b) or not seen.d then
    spec_error(format("field '%s': format %q needs a year (%%Y or %%y), a month (%%m or %%b) and a day (%%d)", f, fmt))
  end
  if seen.y and seen.Y or seen.m and seen.b then
    spec_error(format("field '%s': format %q gives the year or month twice", f, fmt))
  end
  pat[#pat + 1] = "$"
  -- a reader for this format: s -> y, m, d, H, M, S (numbers; m nil for an
  -- unknown month name), or nil when s does not have its shape
  local names, value = {}, { H = "0", M = "0", S = "0" }
  for k, kind in ipairs(caps) do
    names[k] = "c" .. k
    if kind == "b" then value.m = "MONTHS[lower(c" .. k .. ")]"
    elseif kind == "yy" then value.y = "(tonumber(c" .. k .. ") + (tonumber(c" .. k .. ") < 69 and 2000 or 1900))"
    elseif kind == "y" then value.y = "tonumber(c" .. k .. ")"
    else value[kind] = "tonumber(c" .. k .. ")" end
  end
  local code = format("local match, tonumber, lower, MONTHS = ...\nreturn function(s)\n"
    .. "local %s = match(s, %q)\nif c1 == nil then return nil end\nreturn %s, %s, %s, %s, %s, %s\nend\n",
    concat(names, ", "), concat(pat), value.y, value.m, value.d, value.H, value.M, value.S)
  local read = assert(load(code, "=ferry.map format", "t", {}))(match, tonumber, lower, MONTHS)
  return { read = read }
end

local function days_in_month(y, m)
  if m == 2 then return (y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)) and 29 or 28 end
  return (m == 4 or m == 6 or m == 9 or m == 11) and 30 or 31
end

-- Read s by the compiled formats: y, m, d, H, M, S, or nil and why when a
-- format matched but a field is out of range (nil alone when none matched).
local function read_formats(formats, s)
  local why
  for _, cf in ipairs(formats) do
    local y, m, d, H, M, S = cf.read(s)
    if y then
      if not m then why = "has an unknown month name"
      elseif m < 1 or m > 12 then why = format("has no month %d", m)
      elseif d < 1 or d > days_in_month(y, m) then why = format("has no day %d in %04d-%02d", d, y, m)
      elseif H > 23 or M > 59 or S > 59 then why = format("has no time %02d:%02d:%02d", H, M, S)
      else return y, m, d, H, M, S end
    end
  end
  return nil, why
end

local function compile_formats(f, spec, as)
  local list = spec.formats
  if type(list) == "string" then list = { list } end
  if type(list) ~= "table" or #list == 0 then
    spec_error(format("field '%s': as = %q needs formats, a list such as { \"%%Y-%%m-%%d\" } (or \"iso\")", f, as))
  end
  local out, iso, shown = {}, false, {}
  for _, fmt in ipairs(list) do
    if type(fmt) ~= "string" then spec_error(format("field '%s': formats must be strings", f)) end
    if fmt == "iso" then iso = true else out[#out + 1] = compile_format(f, fmt) end
    shown[#shown + 1] = format("%q", fmt)
  end
  return out, iso, "(formats " .. concat(shown, ", ") .. ")"
end

local function make_date(f, spec)
  local formats, iso, shown = compile_formats(f, spec, "date")
  local says = "is not a date " .. shown
  return function(v)
    if type(v) ~= "string" then return nil, invalid(f, v, "date", says) end
    local s = trim(v)
    if s == "" then return BLANK end
    local y, m, d = read_formats(formats, s)
    if y then return format("%04d-%02d-%02d", y, m, d) end
    if iso and time.parse(s) then
      local iy, im, id = match(s, "^(%d%d%d%d)%-(%d%d)%-(%d%d)")   -- the date as written
      if iy then return iy .. "-" .. im .. "-" .. id end
    end
    return nil, invalid(f, v, "date", m and (m .. " " .. shown) or says)
  end
end

local function make_datetime(f, spec)
  local formats, iso, shown = compile_formats(f, spec, "datetime")
  local tz, fold = spec.tz or "UTC", spec.fold
  if type(tz) ~= "string" then spec_error(format("field '%s': tz must be a zone name such as \"Europe/Berlin\"", f)) end
  if fold ~= nil and fold ~= "earlier" and fold ~= "later" then
    spec_error(format("field '%s': fold must be \"earlier\" or \"later\"", f))
  end
  local ok, err = time.from_local(2000, 1, 1, 12, 0, 0, tz)
  if not ok then spec_error(format("field '%s': tz: %s", f, err)) end
  local says = "is not a date-time " .. shown

  -- frac: a fraction of a second read from an ISO time (else 0)
  local function at(v, y, m, d, H, M, S, frac)
    local e, why = time.from_local(y, m, d, H, M, S, tz, fold)
    if not e then
      return nil, invalid(f, v, find(why, "twice", 1, true) and "datetime.fold" or "datetime.gap", "is not one instant: " .. why)
    end
    return time.format(e + (frac or 0))
  end
  return function(v)
    if type(v) ~= "string" then return nil, invalid(f, v, "datetime", says) end
    local s = trim(v)
    if s == "" then return BLANK end
    local y, m, d, H, M, S = read_formats(formats, s)
    if y then return at(v, y, m, d, H, M, S) end
    if iso then
      local e = time.parse(s)
      if e then
        if find(sub(s, 11), "[Zz+-]") then return time.format(e) end  -- an offset: the instant is known
        local t = os_date("!*t", floor(e))                          -- wall-clock time in tz
        return at(v, t.year, t.month, t.day, t.hour, t.min, t.sec, e - floor(e))
      end
    end
    return nil, invalid(f, v, "datetime", m and (m .. " " .. shown) or says)
  end
end

-- Money: exact decimal arithmetic on the digit string -------------------

-- The digits of a float's shortest round-trip text, without exponent:
-- sign, integer digits, fraction digits ("1e-05" -> "", "0", "00001").
local function float_digits(x)
  local s = number_text(x)
  local sign, ip, fp, exp = split_number(s, ".", nil, nil, true)
  if exp > 0 then
    fp = fp .. rep("0", exp - #fp)
    ip, fp = ip .. sub(fp, 1, exp), sub(fp, exp + 1)
  elseif exp < 0 then
    ip = rep("0", -exp - #ip + 1) .. ip
    ip, fp = sub(ip, 1, #ip + exp), sub(ip, #ip + exp + 1) .. fp
  end
  return sign, ip, fp
end

-- Add one to a string of digits ("199" -> "200", "99" -> "100").
local function increment(digits)
  local i = #digits
  while i >= 1 and sub(digits, i, i) == "9" do i = i - 1 end
  if i == 0 then return "1" .. rep("0", #digits) end
  return sub(digits, 1, i - 1) .. (tonumber(sub(digits, i, i)) + 1) .. rep("0", #digits - i)
end

local ZEROS = {}
for i = 0, 18 do ZEROS[i] = rep("0", i) end

local function make_money(f, spec)
  local scale = spec.scale == nil and 2 or spec.scale
  if mtype(scale) ~= "integer" or scale < 0 or scale > 18 then
    spec_error(format("field '%s': scale must be an integer 0-18 (digits after the point)", f))
  end
  local minor, round = spec.minor, spec.round
  if minor ~= nil and type(minor) ~= "boolean" then spec_error(format("field '%s': minor must be true or false", f)) end
  if round ~= nil and round ~= "half_even" and round ~= "half_up" then
    spec_error(format("field '%s': round must be \"half_even\" or \"half_up\"", f))
  end
  local dec = check_sep(f, spec, "decimal", ".")
  local thou = check_sep(f, spec, "thousands", nil)
  if dec == thou then spec_error(format("field '%s': decimal and thousands must differ", f)) end
  local group = thou and literal(thou) .. "%d%d%d"
  local says = "is not a decimal amount" .. number_opts(dec, thou)

  return function(v)
    local sign, ip, fp
    local t = mtype(v)
    if t == "integer" then
      sign, ip, fp = v < 0 and "-" or "", tostring(v):gsub("^-", ""), ""
    elseif t == "float" then
      if v ~= v or v == 1 / 0 or v == -1 / 0 then return nil, invalid(f, v, "money", "is not a finite number") end
      sign, ip, fp = float_digits(v)
    elseif type(v) == "string" then
      local s = trim(v)
      if s == "" then return BLANK end
      sign, ip, fp = split_number(s, dec, thou, group, false)
      if not sign then return nil, invalid(f, v, "money", says) end
    else
      return nil, invalid(f, v, "money", says)
    end
    local keep = fp
    if #fp > scale then
      local drop
      keep, drop = sub(fp, 1, scale), sub(fp, scale + 1)
      if find(drop, "[1-9]") then
        if not round then
          return nil, invalid(f, v, "money.scale", format("has more than %d decimal places (round is not set)", scale))
        end
        local first = byte(drop)
        local up = first > 53 or (first == 53 and (find(drop, "[1-9]", 2) ~= nil or round == "half_up"
          or byte(keep ~= "" and keep or ip, -1) % 2 == 1))            -- 53 is "5"; odd digit: round to even
        if up then
          local digits = increment(ip .. keep)
          ip, keep = sub(digits, 1, #digits - scale), sub(digits, #digits - scale + 1)
        end
      end
    elseif #fp < scale then
      keep = fp .. ZEROS[scale - #fp]
    end
    if byte(ip) == 48 and #ip > 1 then ip = match(ip, "^0*(%d+)$") end   -- no leading zeros
    if sign == "-" and ip == "0" and not find(keep, "[1-9]") then sign = "" end   -- no "-0.00"
    if minor then
      local digits = ip == "0" and (match(keep, "^0*(%d+)$") or "0") or ip .. keep
      local n = #digits <= 18 and tointeger(tonumber(sign .. digits))
      if not n then return nil, invalid(f, v, "money", "is too large for integer minor units") end
      return n
    end
    if scale == 0 then return sign .. ip end
    return sign .. ip .. "." .. keep
  end
end

-- The converters by `as`, with the options each accepts.
local CONVERTERS = {
  string = { make_string, { trim = true, case = true, max = true, truncate = true } },
  integer = { make_integer, { thousands = true } },
  number = { make_number, { decimal = true, thousands = true } },
  boolean = { make_boolean, { yes = true, no = true } },
  date = { make_date, { formats = true } },
  datetime = { make_datetime, { formats = true, tz = true, fold = true } },
  money = { make_money, { scale = true, minor = true, round = true, decimal = true, thousands = true } },
}
CONVERTERS.decimal = CONVERTERS.money

-- Decimal text of an amount in integer minor units: from_minor(30, 2) ->
-- "0.30". For computed fields that add money fields read with minor = true.
function _M.from_minor(n, scale)
  scale = scale or 2
  if mtype(n) ~= "integer" then error("ferry.map.from_minor: expected integer minor units, got " .. quote(n), 2) end
  if mtype(scale) ~= "integer" or scale < 0 or scale > 18 then error("ferry.map.from_minor: scale must be 0-18", 2) end
  local sign, digits = n < 0 and "-" or "", tostring(n):gsub("^-", "")
  digits = rep("0", scale + 1 - #digits) .. digits
  if scale == 0 then return sign .. digits end
  return sign .. sub(digits, 1, #digits - scale) .. "." .. sub(digits, -scale)
end

----------------------------------------------------------------------------
-- Spec problems: raised as a marked table inside the compiler, turned into
-- "ferry.map: ..." at the script's line by the public constructors.
----------------------------------------------------------------------------

local SPEC = {}
spec_error = function(msg) error(setmetatable({ msg = msg }, SPEC), 0) end

local function keys_of(set)
  local t = {}
  for k in pairs(set) do t[#t + 1] = k end
  sort(t)
  return concat(t, ", ")
end

-- Run compile(...) and raise its spec problem as "ferry.map: ..." at
-- `level` (the script's call); anything else is a bug and goes up as it is.
local function checked(level, fn, ...)
  local ok, res, r2, r3 = pcall(fn, ...)
  if ok then return res, r2, r3 end
  if getmetatable(res) == SPEC then error("ferry.map: " .. res.msg, level + 1) end
  error(res, 0)
end

----------------------------------------------------------------------------
-- Destination schema: required, type, max, allowed, pattern
----------------------------------------------------------------------------

local SCHEMA_RULES = { required = true, type = true, max = true, allowed = true, pattern = true }
local TYPES = {
  string = function(v) return type(v) == "string" end,
  integer = function(v) return mtype(v) == "integer" end,
  number = function(v) return type(v) == "number" end,
  boolean = function(v) return type(v) == "boolean" end,
}

-- A checker for the schema: check(out) -> out | nil, err. `opaque` names
-- fields whose values the engine resolves later (refs): only `required`
-- applies to them.
local function compile_schema(schema, opaque)
  if type(schema) ~= "table" then spec_error("schema must be a table of field = { rules }") end
  local names = {}
  for f, rules in pairs(schema) do
    if type(f) ~= "string" then spec_error("schema: field names must be strings") end
    if type(rules) ~= "table" then spec_error(format("schema field '%s': expected a table of rules", f)) end
    for k in pairs(rules) do
      if not SCHEMA_RULES[k] then
        spec_error(format("schema field '%s': unknown rule '%s' (rules: %s)", f, tostring(k), keys_of(SCHEMA_RULES)))
      end
    end
    if rules.type ~= nil and not TYPES[rules.type] then
      spec_error(format("schema field '%s': unknown type %s (types: %s)", f, quote(rules.type), keys_of(TYPES)))
    end
    if rules.max ~= nil and (mtype(rules.max) ~= "integer" or rules.max < 1) then
      spec_error(format("schema field '%s': max must be a positive integer (characters)", f))
    end
    if rules.allowed ~= nil and (type(rules.allowed) ~= "table" or #rules.allowed == 0) then
      spec_error(format("schema field '%s': allowed must be a non-empty list of values", f))
    end
    if rules.pattern ~= nil then
      local ok, err = pcall(find, "", type(rules.pattern) == "string" and rules.pattern or error("not a string"))
      if not ok then spec_error(format("schema field '%s': pattern is not a Lua pattern (%s)", f, tostring(err))) end
    end
    names[#names + 1] = f
  end
  sort(names)
  local checks = {}
  for i, f in ipairs(names) do
    local r = schema[f]
    local allowed
    if r.allowed then
      allowed = {}
      for _, a in ipairs(r.allowed) do allowed[a] = true end
    end
    checks[i] = { f = f, required = r.required, is = r.type and TYPES[r.type], type = r.type, max = r.max,
                  allowed = allowed, allowed_list = r.allowed, pattern = r.pattern, opaque = opaque and opaque[f] }
  end

  return function(out)
    if type(out) ~= "table" then
      return nil, { class = "validation", rule = "schema", reason = "output is " .. quote(out) .. ", not a table" }
    end
    for i = 1, #checks do
      local c = checks[i]
      local v = out[c.f]
      if v == nil or v == NULL or v == "" then
        if c.required then
          return nil, { class = "validation", field = c.f, value = v, rule = "schema.required",
                        reason = format("field '%s': required by the destination but %s", c.f,
                          v == nil and "absent" or v == NULL and "null" or "empty") }
        end
      elseif not c.opaque then
        if c.is and not c.is(v) then
          return nil, invalid(c.f, v, "schema.type", format("is not of type %s (schema type)", c.type))
        end
        if c.max and type(v) == "string" then
          local n = ulen(v)
          if not n or n > c.max then
            return nil, invalid(c.f, v, "schema.max", format("is longer than %d characters (schema max)", c.max))
          end
        end
        if c.allowed and not c.allowed[v] then
          local shown = {}
          for k, a in ipairs(c.allowed_list) do shown[k] = quote(a) end
          return nil, invalid(c.f, v, "schema.allowed", "is not allowed (schema allowed: " .. concat(shown, ", ") .. ")")
        end
        if c.pattern and (type(v) ~= "string" or not find(v, c.pattern)) then
          return nil, invalid(c.f, v, "schema.pattern", format("does not match the schema pattern %q", c.pattern))
        end
      end
    end
    return out
  end
end

-- ferry.map.schema { field = { rules } } -> check(out) -> out | nil, err,
-- for transforms written by hand: `return check(out)`.
function _M.schema(schema)
  return (checked(2, compile_schema, schema, nil))   -- not a tail call: level 2 is the script
end

----------------------------------------------------------------------------
-- Paths: "properties.name", "contacts[1].email", { "properties", "a.b" }
----------------------------------------------------------------------------

local function parse_path(f, from)
  local steps = {}
  if type(from) == "table" then
    if #from == 0 then spec_error(format("field '%s': from is an empty list", f)) end
    for i, k in ipairs(from) do
      if type(k) == "string" and k ~= "" then steps[i] = k
      elseif mtype(k) == "integer" and k >= 1 then steps[i] = k
      else spec_error(format("field '%s': from[%d] must be a key (a non-empty string) or an array position (1, 2, ...)", f, i)) end
    end
  elseif type(from) == "string" then
    local i = 1
    while i <= #from do
      local key, nxt = match(from, "^([^%.%[%]]+)()", i)
      if key then
        steps[#steps + 1], i = key, nxt
      else
        local n, after = match(from, "^%[(%d+)%]()", i)
        if not n or tonumber(n) < 1 then
          spec_error(format("field '%s': from %q is not a path (keys separated by dots, array positions as [1], [2], ...)", f, from))
        end
        steps[#steps + 1], i = tonumber(n), after
      end
      if i <= #from and sub(from, i, i) == "." then
        i = i + 1
        if i > #from or sub(from, i, i) == "." or sub(from, i, i) == "[" then
          spec_error(format("field '%s': from %q has an empty key", f, from))
        end
      elseif i <= #from and sub(from, i, i) ~= "[" then
        spec_error(format("field '%s': from %q is not a path", f, from))
      end
    end
    if #steps == 0 then spec_error(format("field '%s': from is empty", f)) end
  else
    spec_error(format("field '%s': from must be a path string or a list of keys", f))
  end
  return steps
end

-- How a path reads in messages, up to step n: contacts[1].email, properties["a.b"].
local function path_text(steps, n)
  local t = {}
  for i = 1, n or #steps do
    local k = steps[i]
    if type(k) == "number" then t[#t + 1] = "[" .. k .. "]"
    elseif find(k, "^[%w_]+$") then t[#t + 1] = (i > 1 and "." or "") .. k
    else t[#t + 1] = format("[%q]", k) end
  end
  return concat(t)
end

----------------------------------------------------------------------------
-- The compiler
----------------------------------------------------------------------------

local COMMON = { from = true, as = true, required = true, default = true, compute = true,
                 picklist = true, lookup = true, ref = true }
-- picklist / lookup / ref: the method each object must have, and the class
-- of a failure that does not say its own
local RESOLVERS = {
  picklist = { "match", "picklist_drift" },
  lookup = { "get", "lookup_missing" },
  ref = { "ref", "lookup_missing" },
}

local function has_method(obj, name)
  local t = type(obj)
  if t ~= "table" and t ~= "userdata" then return false end
  local ok, m = pcall(function() return obj[name] end)
  return ok and m ~= nil
end

-- The error of field f from a picklist, lookup, ref or compute: a copy of
-- err with field, value and rule set and the reason prefixed, its class kept.
local function wrap(f, err, raw, rule, class)
  local w = {}
  if type(err) == "table" then
    for k, x in pairs(err) do w[k] = x end
  else
    w.reason = err ~= nil and tostring(err) or nil
  end
  w.class = w.class or class
  w.field = f
  if w.value == nil then w.value = raw end
  w.rule = w.rule or rule
  w.reason = format("field '%s': %s", f, w.reason or w.message or ("no result for " .. quote(raw)))
  return w
end

local function compile(spec)
  if type(spec) ~= "table" then spec_error("expected a table { fields = { ... }, schema = { ... } }") end
  for k in pairs(spec) do
    if k ~= "fields" and k ~= "schema" then
      spec_error(format("unknown key '%s' (keys: fields, schema)", tostring(k)))
    end
  end
  local fields = spec.fields
  if type(fields) ~= "table" or next(fields) == nil then
    spec_error("fields must be a table of destination field = { from = ..., as = ... }")
  end

  local plain, computed, given = {}, {}, fields
  fields = {}                         -- the spec as given, paths written alone as { from = path }
  for f, fs in pairs(given) do
    if type(f) ~= "string" or f == "" then spec_error("field names must be non-empty strings") end
    if type(fs) == "table" and fs[1] ~= nil then     -- { "properties", "a.b" }: a path alone
      for k in pairs(fs) do
        if mtype(k) ~= "integer" then
          spec_error(format("field '%s': a path list mixed with options; write from = { ... }", f))
        end
      end
      fs = { from = fs }
    elseif type(fs) == "string" then
      fs = { from = fs }
    end
    if type(fs) ~= "table" then spec_error(format("field '%s': expected a table (or a path string)", f)) end
    fields[f] = fs
    if fs.compute ~= nil then computed[#computed + 1] = f else plain[#plain + 1] = f end
  end
  sort(plain)
  sort(computed)

  -- constants the generated code reads: the first LOCALS as locals of the
  -- chunk (upvalues of the transform), the rest through K[n]
  local K, LOCALS = {}, 150
  local function const(v)
    K[#K + 1] = v
    return #K <= LOCALS and "K" .. #K or "K[" .. #K .. "]"
  end
  local code = {}
  local function emit(...) for i = 1, select("#", ...) do code[#code + 1] = select(i, ...) end end
  local opaque = {}
  local order = {}
  for _, f in ipairs(plain) do order[#order + 1] = f end
  for _, f in ipairs(computed) do order[#order + 1] = f end

  for _, f in ipairs(order) do
    local fs = fields[f]
    local qf = format("%q", f)
    local as = fs.as
    local conv_entry
    if as ~= nil then
      conv_entry = CONVERTERS[as]
      if not conv_entry then
        spec_error(format("field '%s': unknown as = %s (converters: %s)", f, quote(as), keys_of(CONVERTERS)))
      end
    end
    for k in pairs(fs) do
      if not COMMON[k] and not (conv_entry and conv_entry[2][k]) then
        local opts = conv_entry and keys_of(conv_entry[2])
        spec_error(format("field '%s': unknown option '%s'%s", f, tostring(k),
          as and format(" for as = %q (its options: %s)", as, opts) or " (options without as: " .. keys_of(COMMON) .. ")"))
      end
    end
    if fs.required ~= nil and type(fs.required) ~= "boolean" then
      spec_error(format("field '%s': required must be true or false", f))
    end
    if fs.compute ~= nil and fs.from ~= nil then
      spec_error(format("field '%s': from and compute exclude each other", f))
    end
    if fs.compute ~= nil and type(fs.compute) ~= "function" then
      spec_error(format("field '%s': compute must be a function(record, out, ctx)", f))
    end
    local resolver
    for kind in pairs(RESOLVERS) do
      if fs[kind] ~= nil then
        if resolver then spec_error(format("field '%s': %s and %s exclude each other", f, resolver, kind)) end
        resolver = kind
      end
    end
    if resolver then
      local method = RESOLVERS[resolver][1]
      if not has_method(fs[resolver], method) then
        spec_error(format("field '%s': %s has no :%s method (expected a ferry %s object, got %s)",
          f, resolver, method, resolver, type(fs[resolver])))
      end
      if resolver == "ref" then opaque[f] = true end
    end
    local conv = conv_entry and conv_entry[1](f, fs)

    emit("-- ", (gsub(f, "[\r\n]", " ")), "\n")
    if fs.compute then
      emit("v, e = ", const(fs.compute), "(rec, out, ctx)\n")
      emit("if v == nil and e ~= nil then return nil, ", const(function(err)
        return wrap(f, err, nil, "compute", "validation")
      end), "(e) end\n")
    else
      local steps = parse_path(f, fs.from == nil and f or fs.from)
      local ptext = type(fs.from) == "string" and fs.from or path_text(steps)
      emit("v = rec[", format("%q", steps[1]), "]\n")
      if #steps > 1 then
        local fail = const(function(x, j)
          return invalid(f, x, "path", format("is not an object or array (at %s in path %s)", path_text(steps, j), ptext))
        end)
        for j = 2, #steps do
          emit("if v ~= nil and v ~= NULL then if type(v) ~= \"table\" then return nil, ", fail, "(v, ", j - 1,
               ") end v = v[", format("%q", steps[j]), "] end\n")
        end
      end
    end

    -- empty (absent, null, "" or only white space): default, required or null
    local empty
    if fs.default ~= nil then
      local d = fs.default
      if conv and not resolver then
        local got, err = conv(d)
        if got == nil then spec_error(format("field '%s': default %s", f, (gsub(err.reason, "^field '.-': ", "")))) end
        if got == BLANK then spec_error(format("field '%s': default is blank", f)) end
        d = got
      end
      empty = "out[" .. qf .. "] = " .. const(d) .. "\n"
    elseif fs.required then
      empty = "return nil, " .. const(function(x)
        return { class = "validation", field = f, value = x, rule = "required",
                 reason = format("field '%s': required but %s", f,
                   x == nil and "absent" or x == NULL and "null" or "empty (" .. quote(x) .. ")") }
      end) .. "(raw)\n"
    else
      empty = "out[" .. qf .. "] = NULL\n"
    end
    emit("raw = v\n")               -- the source value, for errors
    if conv then
      -- the converter answers BLANK for a string of white space
      emit("if v == nil or v == NULL or v == \"\" then ", empty, "else\n",
           "v, e = ", const(conv), "(v)\n",
           "if v == nil then return nil, e elseif v == BLANK then ", empty, "else\n")
    else
      emit("if v == nil or v == NULL or v == \"\" or (type(v) == \"string\" and byte(v) <= 32 and not find(v, \"%S\")) then ",
           empty, "else\n")
    end
    if resolver then
      local kind = RESOLVERS[resolver]
      local obj = const(fs[resolver])
      emit("v, e = ", obj, ":", kind[1], "(v, ctx) if v == nil then return nil, ", const(function(err, x)
        return wrap(f, err, x, resolver, kind[2])
      end), "(e, raw) end\n")
    end
    emit("out[", qf, "] = v\nend\n")
    if conv then emit("end\n") end
  end

  local checker
  if spec.schema ~= nil then checker = compile_schema(spec.schema, opaque) end
  if checker then emit("return ", const(checker), "(out)\n") else emit("return out\n") end

  -- the header: constants as locals, then the transform itself
  local head = { "local K, NULL, BLANK, type, find, byte, not_table = ...\n" }
  for i = 1, math.min(#K, LOCALS) do head[#head + 1] = format("local K%d = K[%d]\n", i, i) end
  head[#head + 1] = "return function(rec, ctx)\n"
    .. "if type(rec) ~= \"table\" then return nil, not_table(rec) end\n"
    .. "local out, v, e, raw = {}\n"
  local source = concat(head) .. concat(code) .. "end\n"
  local chunk, err = load(source, "=ferry.map", "t", {})
  if not chunk then error("ferry.map: generated code does not compile (a bug): " .. err, 0) end
  local fn = chunk(K, NULL, BLANK, type, find, byte, function(x)
    return { class = "validation", rule = "record", value = x, reason = "record is " .. quote(x) .. ", not an object" }
  end)
  return fn, checker or compile_schema({}, nil), source
end

local MAP = {
  __call = function(self, rec, ctx) return self.transform(rec, ctx) end,
  __name = "ferry.map",
}

-- ferry.map { fields = ..., schema = ... } -> m. m(record, ctx) and
-- m.transform(record, ctx) apply it; m.schema_check(out) checks a table
-- against the schema alone; m.source is the generated Lua (for debugging).
local function new(spec)
  local fn, check, source = checked(3, compile, spec)
  return setmetatable({ transform = fn, schema_check = check, source = source }, MAP)
end

return setmetatable(_M, { __call = function(_, spec) return (new(spec)) end })
