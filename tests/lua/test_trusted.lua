-- ferry lua --trusted (tests/run.sh): what a trusted grant gives a script
-- (core/fy_sandbox.c), and what it still does not. (That even a trusted
-- script cannot open the store: tests/e2e/test_sandbox.sh.)
local FIXTURES = ferry.script_dir .. "/../fixtures/run"
local BINARY = "\27Lua\84\0\25\147\13\10\26\10\4\8\8"

local harness = require "harness"
local case = harness.case

case("trusted: io and os are back, without os.execute and os.exit", function()
  assert(type(io) == "table" and type(io.open) == "function", "io")
  assert(io.popen == nil, "io.popen")
  assert(type(os.getenv) == "function" and type(os.remove) == "function", "os.getenv/os.remove")
  assert(os.execute == nil and os.exit == nil, "os.execute/os.exit")
  assert(type(loadfile) == "function" and type(dofile) == "function", "loadfile/dofile")
end)

case("trusted: loadfile and dofile still refuse a bytecode file", function()
  local path = FIXTURES .. "/chunk.luac"
  local fh = assert(io.open(path, "rb"), "fixture " .. path)
  assert(fh:read(4) == "\27Lua", "the fixture is a compiled chunk")
  fh:close()
  local f, err = loadfile(path)
  assert(f == nil and tostring(err):find("binary", 1, true), "loadfile: " .. tostring(err))
  f, err = loadfile(path, "b")
  assert(f == nil, "loadfile(path, 'b')")
  local ok, e = pcall(dofile, path)
  assert(not ok and tostring(e):find("binary", 1, true), "dofile: " .. tostring(e))
  -- A header-only file written by the script itself is refused as well.
  local tmp = os.tmpname()
  fh = assert(io.open(tmp, "wb"))
  fh:write(BINARY)
  fh:close()
  f = loadfile(tmp)
  os.remove(tmp)
  assert(f == nil, "loadfile of a file starting with ESC Lua")
end)

harness.finish()
