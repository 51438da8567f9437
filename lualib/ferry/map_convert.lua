-- The converters of ferry.map (lualib/ferry/map.lua), one per `as`, and the
-- helpers its messages share: quoting values for reasons, reading numbers
-- written as text, dates, exact money.
--
-- Used only by map.lua. Each make_X(f, spec) checks field f's options when
-- the map is compiled (raising a spec problem through spec_error) and
-- returns a converter: function(v) -> value | nil, err, where err is the
-- field's validation error table, or BLANK for a string of white space.
-- A converter never rounds, truncates or guesses unless its options say so.
local ferry = ferry
local json, time = ferry.json, ferry.time
local NULL = ferry.json.null
local type, pairs, ipairs, tostring, tonumber = type, pairs, ipairs, tostring, tonumber
local error, pcall, load, assert = error, pcall, load, assert
local os_date = os.date
local setmetatable = setmetatable
local mtype, tointeger, floor = math.type, math.tointeger, math.floor
local format, find, match, sub, gsub, lower, upper, rep =
  string.format, string.find, string.match, string.sub, string.gsub, string.lower, string.upper, string.rep
local byte = string.byte
local ulen, uoffset = utf8.len, utf8.offset
local concat, sort = table.concat, table.sort

local _M = {}

-- Spec problems are raised as a table marked SPEC; map.lua turns them into
-- "ferry.map: ..." at the script's line.
local SPEC = {}
local function spec_error(msg) error(setmetatable({ msg = msg }, SPEC), 0) end
_M.SPEC, _M.spec_error = SPEC, spec_error

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
      local text = format("%.14g", v)  -- number_text's usual answer, read in one pattern
      if tonumber(text) == v then sign, ip, fp = match(text, "^(%-?)(%d+)%.?(%d*)$") end
      if not sign then sign, ip, fp = float_digits(v) end   -- 17 digits, or an exponent
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

_M.CONVERTERS, _M.BLANK = CONVERTERS, BLANK
_M.quote, _M.invalid, _M.trim = quote, invalid, trim

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

return _M
