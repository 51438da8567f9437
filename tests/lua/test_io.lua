-- ferry lua --trusted (tests/run.sh): the fixtures are outside this directory.
-- Tests for ferry.csv, ferry.jsonl and ferry.sqlite as scripts call them
-- (core/fy_lua_csv.c, fy_lua_jsonl.c, fy_lua_sqlite.c). Fixtures:
-- tests/fixtures/run/. Every case runs even when an earlier one fails; the
-- file fails if any did.
local FX = (ferry.script_dir or "tests/lua") .. "/../fixtures/run"
local json = ferry.json

local harness = require "harness"
local case = harness.case

local function show(v) return (json.encode(v)) or tostring(v) end
local function same(got, want, what)
  local g, w = show(got), show(want)
  -- compare canonically: decode both and compare as sorted-key JSON
  local function canon(v)
    if type(v) ~= "table" then return show(v) end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. "=" .. canon(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  if canon(got) ~= canon(want) then error(string.format("%s: got %s, want %s", what or "value", g, w), 2) end
end

local function collect(iter)
  local out = {}
  for line, a, b, c in iter do out[#out + 1] = { line = line, a = a, b = b, c = c } end
  return out
end

-- ---- ferry.csv -------------------------------------------------------------

case("csv: header mapping, BOM, CRLF, quoting and physical line numbers", function()
  local r = assert(ferry.csv.open(FX .. "/tricky.csv"))
  same(r:header(), { "id", "name", "notes", "amount" }, "header")
  local rows = collect(r:rows())
  same(#rows, 5, "row count")
  local lines = {}
  for i, row in ipairs(rows) do lines[i] = row.line end
  same(lines, { 2, 3, 5, 6, 8 }, "line numbers")
  same(rows[1].a, { id = "1", name = "Smith, Jones & Co", notes = 'He said "hi"', amount = "10.50" }, "row 1")
  same(rows[2].a, { id = "2", name = "Müller GmbH", notes = "line one\nline two", amount = "7" }, "row 2")
  same(rows[3].a, { id = "3", name = 'The "Best" Widgets', notes = "", amount = "" }, "row 3")
  same(rows[4].a, { id = "4", name = "北京科技", notes = 'a,b,"c"\r\nnext', amount = "0" }, "row 4")
  same(rows[5].a, { id = "5", name = "last", notes = "no newline at end", amount = "1" }, "row 5 (no final newline)")
  r:close()
end)

case("csv: header = false yields arrays, starting at line 1", function()
  local r = assert(ferry.csv.open(FX .. "/noheader.csv", { header = false }))
  assert(r:header() == nil, "no header")
  local rows = collect(r:rows())
  same(#rows, 2, "row count")
  same({ rows[1].line, rows[1].a }, { 1, { "x", "1" } }, "row 1")
  same({ rows[2].line, rows[2].a }, { 2, { "y", "2" } }, "row 2")
  r = assert(ferry.csv.open(FX .. "/tricky.csv", { header = false }))
  local first = r:rows()()
  assert(first == 1, "first line")
  r:close()
end)

case("csv: delimiter = ';'", function()
  local r = assert(ferry.csv.open(FX .. "/semicolon.csv", { delimiter = ";" }))
  local rows = collect(r:rows())
  same(#rows, 2, "row count")
  same(rows[1].a, { code = "A", label = "Apple, red", qty = "3" }, "row 1")
  same(rows[2].a, { code = "B", label = "Banana; ripe", qty = "12" }, "row 2")
  local ok, err = pcall(ferry.csv.open, FX .. "/semicolon.csv", { delimiter = ";;" })
  assert(not ok and tostring(err):find("one character", 1, true), "a two-character delimiter: " .. tostring(err))
end)

case("csv: a ragged row yields line, nil, err, fields and iteration goes on", function()
  local r = assert(ferry.csv.open(FX .. "/ragged.csv"))
  local rows = collect(r:rows())
  same(#rows, 5, "rows including the ragged ones")
  same({ rows[2].line, rows[2].a, rows[2].b, rows[2].c }, { 5, nil, "line 5: expected 3 fields, got 2", { "2", "b" } }, "ragged row")
  assert(rows[2].a == nil)
  same({ rows[4].line, rows[4].b, rows[4].c }, { 7, "line 7: expected 3 fields, got 4", { "4", "d", "x", "extra" } }, "wide row")
  same({ rows[5].line, rows[5].a }, { 8, { id = "5", name = "e", notes = "fine" } }, "the row after")
end)

case("csv: an unterminated quote yields its line and an error naming the lines not read, nothing else, then ends", function()
  local r = assert(ferry.csv.open(FX .. "/unterminated.csv"))
  local rows = collect(r:rows())
  same(#rows, 2, "items")
  same(rows[1].a, { id = "1", name = "a" }, "row before")
  same({ rows[2].line, rows[2].b }, { 3, "line 3: unterminated quoted field, 2 lines from line 3 not read "
    .. "(the quote opened on line 3 never closes)" }, "error item")
  assert(rows[2].a == nil and rows[2].c == nil, "an unrecoverable error comes without a 4th value")
end)

case("csv: a row over max_row is skipped with its first bytes (a string) and iteration goes on", function()
  local r = assert(ferry.csv.open(FX .. "/ragged.csv", { max_row = 14 }))
  local rows = collect(r:rows())
  same({ rows[1].line, rows[1].b, rows[1].c }, { 2, "line 2: row exceeds 14 bytes (21 bytes on lines 2-4); skipped",
    "1,a,multi\nline" }, "skipped row")
  same({ rows[2].line, rows[2].b, rows[2].c }, { 5, "line 5: expected 3 fields, got 2", { "2", "b" } }, "the row after")
end)

case("csv.open errors: missing file, duplicate header, empty file -> nil, err", function()
  local path = FX .. "/no-such-file.csv"
  local r, err = ferry.csv.open(path)
  assert(r == nil, "missing file")
  assert(type(err) == "string" and err:find(path, 1, true) and err:find("No such file", 1, true), tostring(err))
  r, err = ferry.csv.open(FX .. "/dup_header.csv")
  assert(r == nil and tostring(err):find("column 'id' appears twice", 1, true), tostring(err))
  r, err = ferry.csv.open(FX .. "/ragged.csv", { max_columns = 2 })
  assert(r == nil and tostring(err):find("line 1: the header has more than 2 columns (max_columns = 2)", 1, true), tostring(err))
  r, err = ferry.csv.open(FX .. "/ragged.csv", { max_row = 8 })
  assert(r == nil and tostring(err):find("line 1: the header row exceeds 8 bytes (max_row = 8)", 1, true), tostring(err))
  r, err = ferry.csv.open(FX .. "/empty.jsonl")   -- an empty file: no header row
  assert(r == nil and tostring(err):find("empty file", 1, true), tostring(err))
  r = assert(ferry.csv.open(FX .. "/header_only.csv"))
  same(r:header(), { "id", "name", "amount" }, "header of a header-only file (BOM stripped)")
  same(#collect(r:rows()), 0, "rows of a header-only file")
end)

case("csv: a closed reader yields nothing; <close> closes it", function()
  local r = assert(ferry.csv.open(FX .. "/semicolon.csv", { delimiter = ";" }))
  r:close()
  same(#collect(r:rows()), 0, "rows after close")
  do
    local r2 <close> = assert(ferry.csv.open(FX .. "/noheader.csv", { header = false }))
    assert(r2:rows()() == 1)
  end
end)

-- ---- ferry.jsonl -----------------------------------------------------------

case("jsonl: records with physical line numbers; bad lines give err and raw; blank lines skipped", function()
  local r = assert(ferry.jsonl.open(FX .. "/mixed.jsonl"))
  local rows = collect(r:rows())
  local lines = {}
  for i, row in ipairs(rows) do lines[i] = row.line end
  same(lines, { 1, 3, 4, 6, 7, 8 }, "line numbers (2 and 5 are blank)")
  assert(rows[1].a.extra == json.null, "null stays json.null")
  same(rows[1].a.nested.x[3].y, json.null, "nested null")
  same(rows[1].a.nested.z, "éè", "UTF-8 and \\u escapes")
  same(rows[2].a, { id = 2, name = "b", tags = { "p" } }, "a CRLF-terminated line")
  assert(rows[3].a == nil, "bad line has no record")
  assert(tostring(rows[3].b):find("^line 4: invalid JSON"), tostring(rows[3].b))
  same(rows[3].c, '{"id":3,"name":"broken', "raw text of line 4")
  same(math.type(rows[4].a.big), "integer", "big integer type")
  same(rows[4].a.big, 123456789012345, "big integer")
  assert(tostring(rows[5].b):find("^line 7: invalid JSON.*character 9$"), tostring(rows[5].b))
  same(rows[5].c, '{"id":5 "x":1}', "raw text of line 7")
  same(rows[6].a, { id = 6, name = "last, no newline" }, "last line without a newline")
  same(r:line(), 8, "r:line() after the end")
end)

case("jsonl: max_line rejects a longer line with a truncated raw, and goes on", function()
  local r = assert(ferry.jsonl.open(FX .. "/mixed.jsonl", { max_line = 33 }))
  local rows = collect(r:rows())
  same(rows[1].line, 1)
  assert(rows[1].a == nil and tostring(rows[1].b):find("line 1: longer than 33 bytes", 1, true), tostring(rows[1].b))
  assert(type(rows[1].c) == "string" and #rows[1].c <= 200, "raw is kept (up to 200 bytes)")
  local ok_ids = {}
  for _, row in ipairs(rows) do if row.a then ok_ids[#ok_ids + 1] = row.a.id end end
  same(ok_ids, { 2 }, "short lines still decode")
end)

case("jsonl: a blank line longer than max_line is still blank (skipped, not an error)", function()
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write('{"a":1}\n', ("  \t"):rep(20), "\r\n", '{"a":2}\n')
  f:close()
  local r = assert(ferry.jsonl.open(path, { max_line = 10 }))
  local rows = {}
  for line, rec, err in r:rows() do rows[#rows + 1] = { line, rec and rec.a, err } end
  os.remove(path)
  same(rows, { { 1, 1 }, { 3, 2 } }, "the records with their physical line numbers")
end)

case("jsonl: a line of exactly max_line bytes is read; one byte more is skipped across read buffers", function()
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  local exact = '{"s":"' .. ("a"):rep(100000 - 8) .. '"}'       -- 100,000 bytes
  local over = '{"s":"' .. ("b"):rep(100000 - 7) .. '"}'        -- 100,001 bytes, spans two 64 KiB reads
  f:write(exact, "\n", over, "\n", '{"n":1}')                    -- the last line without a newline
  f:close()
  local r = assert(ferry.jsonl.open(path, { max_line = 100000 }))
  local rows = {}
  for line, rec, err, raw, truncated in r:rows() do rows[#rows + 1] = { line, rec, err, raw, truncated } end
  os.remove(path)
  same(#rows, 3, "items")
  same(#rows[1][2].s, 100000 - 8, "the line at the limit decodes")
  same({ rows[2][1], rows[2][2], rows[2][3], rows[2][4], rows[2][5] },
    { 2, nil, "line 2: longer than 100000 bytes (100001 bytes); skipped", '{"s":"' .. ("b"):rep(194), true },
    "the line over it: its first 200 bytes, truncated")
  same({ rows[3][1], rows[3][2] }, { 3, { n = 1 } }, "the line after")
end)

case("jsonl: a line that is not UTF-8 names the field (or key) and the byte; latin1 reads it", function()
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write('{"id":1,"name":"M\252ller"}\n', '{"id":2,"c":{"tags":["ok","b\233"]}}\n', '{"id":3,"x\233":1}\n',
          '{"id":4,"c":{"d\233":1}}\n', '{"id":5,"broken \233\n')
  f:close()
  local why = {}
  for _, rec, err in assert(ferry.jsonl.open(path)):rows() do why[#why + 1] = rec or err end
  local tail = ' is not valid UTF-8 (byte 0x%s at byte %d; encoding = "latin1" reads Latin-1)'
  same(why, {
    "line 1: field 'name'" .. tail:format("FC", 18),
    "line 2: field 'c.tags[1]'" .. tail:format("E9", 29),
    "line 3: a key" .. tail:format("E9", 11),
    "line 4: a key in 'c'" .. tail:format("E9", 16),
    "line 5: not valid UTF-8 (byte 0xE9 at byte 17; encoding = \"latin1\" reads Latin-1)",
  }, "reasons")
  local names = {}
  for _, rec in assert(ferry.jsonl.open(path, { encoding = "latin1" })):rows() do names[#names + 1] = rec and rec.name end
  os.remove(path)
  same(names[1], "M\195\188ller", "latin1: the line reads as UTF-8")
end)

case("jsonl.open on a missing file -> nil, 'cannot open PATH: reason'; empty file yields nothing", function()
  local path = FX .. "/no-such-file.jsonl"
  local r, err = ferry.jsonl.open(path)
  assert(r == nil, "missing file")
  assert(tostring(err):find("cannot open " .. path, 1, true) and tostring(err):find("No such file", 1, true), tostring(err))
  r = assert(ferry.jsonl.open(FX .. "/empty.jsonl"))
  same(#collect(r:rows()), 0, "rows of an empty file")
end)

-- ---- ferry.sqlite ----------------------------------------------------------

local function tmpdb()
  local p = os.tmpname()
  os.remove(p)
  return p .. ".db"
end
local function cleanup(p)
  for _, suffix in ipairs { "", "-wal", "-shm" } do os.remove(p .. suffix) end
end

case("sqlite: open, table, upsert, rows; failures are { class, reason } by index", function()
  local path = tmpdb()
  local db = assert(ferry.sqlite.open(path))
  local tbl = db:table { name = "people", columns = {
    { "id", "integer", key = true }, { "name", "text" }, { "score", "real" },
    { "active", "boolean" }, { "meta", "json" }, { "born", "date" },
  } }
  local loaded, failures = tbl:upsert({
    { id = 1, name = "Ada", score = 1.5, active = true, meta = { tags = json.array({}), n = 1 }, born = "1815-12-10" },
    { id = 2, name = { "not", "text" } },          -- a table in a text column
    { id = 3, name = "Cy", score = "high" },        -- text in a real column
    { name = "nobody" },                            -- no key
    { id = 5, name = "Eve", active = false, meta = json.null },
  }, "run-1")
  same(loaded, 3 - 1, "loaded count")  -- 1 and 5
  assert(type(failures) == "table", "failures is a table")
  assert(failures[1] == nil and failures[5] == nil, "good rows have no failure entry")
  for _, i in ipairs { 2, 3, 4 } do
    local f = failures[i]
    assert(type(f) == "table", "failure " .. i .. " is a table")
    same(f.class, "validation", "failure " .. i .. " class")
    assert(type(f.reason) == "string" and #f.reason > 0, "failure " .. i .. " reason")
  end
  assert(failures[2].reason:find("name", 1, true) and failures[2].reason:find("TEXT", 1, true), failures[2].reason)
  assert(failures[3].reason:find("REAL", 1, true), failures[3].reason)
  assert(failures[4].reason:find("NOT NULL", 1, true), failures[4].reason)

  local rows = assert(db:rows("SELECT id, name, score, active, meta, born, _run_id, _synced_at FROM people ORDER BY id"))
  same(#rows, 2, "rows in the table")
  local a = rows[1]
  same({ a.id, a.name, a.score, a.active, a.born, a._run_id }, { 1, "Ada", 1.5, 1, "1815-12-10", "run-1" }, "row 1")
  same(math.type(a.id), "integer", "INTEGER comes back as an integer")
  same(math.type(a.score), "float", "REAL comes back as a float")
  same(json.decode(a.meta), { tags = {}, n = 1 }, "json column")
  assert(a.meta:find('"tags":[]', 1, true), "json.array stays [] in the json column: " .. a.meta)
  assert(type(a._synced_at) == "string" and a._synced_at:find("^%d%d%d%d%-%d%d%-%d%dT.*Z$"), tostring(a._synced_at))
  same({ rows[2].id, rows[2].name, rows[2].active, rows[2].meta, rows[2].score }, { 5, "Eve", 0, nil, nil },
    "row 5: false is 0, json.null and missing are NULL (absent)")
  cleanup(path)
end)

case("sqlite: upsert by key updates in place; a later declared column is added", function()
  local path = tmpdb()
  local db = assert(ferry.sqlite.open(path))
  local tbl = db:table { name = "t", columns = { { "k", "text", key = true }, { "v", "integer" } } }
  assert(tbl:upsert({ { k = "a", v = 1 }, { k = "b", v = 2 } }, "r1") == 2)
  assert(tbl:upsert({ { k = "a", v = 10 } }, "r2") == 1)
  local rows = assert(db:rows("SELECT k, v, _run_id FROM t ORDER BY k"))
  same(rows, { { k = "a", v = 10, _run_id = "r2" }, { k = "b", v = 2, _run_id = "r1" } }, "after the upsert")
  local tbl2 = db:table { name = "t", columns = { { "k", "text", key = true }, { "v", "integer" }, { "w", "text" } } }
  assert(tbl2:upsert({ { k = "c", v = 3, w = "new" } }, "r3") == 1)
  rows = assert(db:rows("SELECT k, w FROM t ORDER BY k"))
  same(rows, { { k = "a" }, { k = "b" }, { k = "c", w = "new" } }, "after adding column w")
  local ok, err = pcall(db.table, db, { name = "t", columns = { { "k", "text", key = true }, { "v", "text" } } })
  assert(not ok and type(err) == "table" and err.class == "schema_drift" and err.reason:find("column v", 1, true),
    "a type change is schema_drift naming the column: " .. tostring(type(err) == "table" and err.reason or err))
  cleanup(path)
end)

case("sqlite: a missing integer key is a failure, not a new row", function()
  local path = tmpdb()
  local db = assert(ferry.sqlite.open(path))
  local tbl = db:table { name = "t", columns = { { "id", "integer", key = true }, { "v", "text" } } }
  local loaded, failures = tbl:upsert({ { id = 1, v = "a" }, { v = "no key" } }, "r1")
  same(loaded, 1, "loaded")
  assert(failures[2] and failures[2].class == "validation", "failure for the row without a key")
  same(#assert(db:rows("SELECT * FROM t")), 1, "rows")
  cleanup(path)
end)

-- SQLite would store a NULL INTEGER key under a rowid it makes up, and a
-- NULL text key of a STRICT table... only a check before the write stops both.
case("sqlite: a key holding JSON null is a missing key: a failure, not a row under a made-up id", function()
  local path = tmpdb()
  local db = assert(ferry.sqlite.open(path))
  local tbl = db:table { name = "t", columns = { { "id", "integer", key = true }, { "v", "text" } } }
  local rec = json.decode('{"id":null,"v":"null key"}')
  local loaded, failures = tbl:upsert({ { id = 1, v = "a" }, rec, { id = json.null } }, "r1")
  same(loaded, 1, "loaded")
  for _, i in ipairs { 2, 3 } do
    assert(failures[i] and failures[i].class == "validation", "failure for row " .. i .. " (key json.null)")
    assert(failures[i].reason:find("key column id is missing", 1, true), failures[i].reason)
  end
  same(assert(db:rows("SELECT id, v FROM t ORDER BY id")), { { id = 1, v = "a" } }, "rows")
  local tt = db:table { name = "tt", columns = { { "k", "text", key = true }, { "v", "text" } } }
  loaded, failures = tt:upsert({ { k = json.null, v = "x" } }, "r1")
  same(loaded, 0, "loaded (text key)")
  assert(failures[1] and failures[1].reason:find("key column k is missing", 1, true), "text key json.null")
  same(#assert(db:rows("SELECT * FROM tt")), 0, "rows (text key)")
  cleanup(path)
end)

-- An integer key is SQLite's rowid: text or a fraction there is
-- SQLITE_MISMATCH, not a constraint error, and still a failure of that row.
case("sqlite: text or a fraction in an integer key fails that row only; the others are written", function()
  local path = tmpdb()
  local db = assert(ferry.sqlite.open(path))
  local tbl = db:table { name = "t", columns = { { "id", "integer", key = true }, { "v", "text" } } }
  local loaded, failures = tbl:upsert({ { id = 1, v = "a" }, { id = "abc", v = "text key" }, { id = 2.5, v = "fraction" },
                                       { id = 3, v = "c" } }, "r1")
  same(loaded, 2, "loaded")
  for _, i in ipairs { 2, 3 } do
    assert(failures[i] and failures[i].class == "validation", "failure for row " .. i)
    assert(failures[i].reason:find("mismatch", 1, true), failures[i].reason)
  end
  same(assert(db:rows("SELECT id, v FROM t ORDER BY id")), { { id = 1, v = "a" }, { id = 3, v = "c" } }, "rows")
  cleanup(path)
end)

-- SQLite would store NaN as NULL: a value silently lost.
case("sqlite: NaN in a real column fails that row with a reason; the others are written", function()
  local path = tmpdb()
  local db = assert(ferry.sqlite.open(path))
  local tbl = db:table { name = "t", columns = { { "id", "integer", key = true }, { "x", "real" } } }
  local loaded, failures = tbl:upsert({ { id = 1, x = 1.5 }, { id = 2, x = 0 / 0 }, { id = 3, x = -(0 / 0) } }, "r1")
  same(loaded, 1, "loaded")
  for _, i in ipairs { 2, 3 } do
    assert(failures[i] and failures[i].class == "validation", "failure for row " .. i)
    assert(failures[i].reason:find("NaN", 1, true), failures[i].reason)
  end
  same(assert(db:rows("SELECT id, x FROM t ORDER BY id")), { { id = 1, x = 1.5 } }, "rows")
  cleanup(path)
end)

case("sqlite: declaration errors raise with the column named", function()
  local path = tmpdb()
  local db = assert(ferry.sqlite.open(path))
  local function raises(spec, want)
    local ok, err = pcall(db.table, db, spec)
    assert(not ok, "expected an error for " .. want)
    assert(tostring(err):find(want, 1, true), string.format("error %q should mention %q", tostring(err), want))
  end
  raises({ name = "t", columns = { { "id", "integer" } } }, "no key column")
  raises({ name = "t", columns = { { "id", "integer", key = true }, { "x", "money" } } }, "column x: unknown type 'money'")
  raises({ name = "t", columns = { { "id", "integer", key = true }, { "_run_id", "text" } } }, "_run_id")
  raises({ name = "t", columns = { { "id", "integer", key = true }, { "id", "text" } } }, "declared twice")
  raises({ name = "bad name", columns = { { "id", "integer", key = true } } }, "table name")
  raises({ name = "t", columns = { { "bad-col", "text", key = true } } }, "bad-col")
  local rows, err = db:rows("SELEKT 1")
  assert(rows == nil and type(err) == "string", "bad SQL in rows: nil, err")
  local ok
  ok, err = db:exec("CREATE TABLE x (a)")
  assert(ok == true, "exec: " .. tostring(err))
  ok, err = db:exec("CREATE TABLE x (a)")
  assert(ok == nil and tostring(err):find("already exists", 1, true), "exec error: " .. tostring(err))
  db:close()
  ok, err = pcall(db.rows, db, "SELECT 1")
  assert(not ok and tostring(err):find("closed", 1, true), "a closed database: " .. tostring(err))
  cleanup(path)
end)

case("sqlite.open of an impossible path -> nil, err", function()
  local db, err = ferry.sqlite.open("/nonexistent-dir-for-ferry-tests/x.db")
  assert(db == nil and tostring(err):find("cannot open database", 1, true), tostring(err))
end)

harness.finish()
