-- Tests for the restricted library every script gets (core/fy_vm.c), run by
-- `ferry lua` (which runs the file as a run, on the event loop). Every case
-- runs even when an earlier one fails; the file fails if any did.
local FIXTURES = (ferry.script_dir or "tests/lua") .. "/../fixtures/run"

local harness = require "harness"
local case = harness.case

-- The first bytes of a Lua 5.4 binary chunk (and a real one in the fixtures).
local BINARY = "\27Lua\84\0\25\147\13\10\26\10\4\8\8"

case("no way to run programs, leave the process, touch files or read the environment", function()
  assert(io == nil and package.loaded.io == nil, "io is there")
  local keys = {}
  for k in pairs(os) do keys[#keys + 1] = k end
  table.sort(keys)
  assert(table.concat(keys, ",") == "clock,date,difftime,time", "os has: " .. table.concat(keys, ", "))
  assert(package.loaded.os == os, "require 'os' gives the same table")
  assert(loadfile == nil and dofile == nil, "loadfile/dofile")
  assert(package.searchpath == nil, "package.searchpath probes the file system")
end)

case("no bytecode dump and no native code loading", function()
  assert(string.dump == nil, "string.dump")
  assert(package.loadlib == nil, "package.loadlib")
  assert(package.cpath == "", "package.cpath is " .. tostring(package.cpath))
end)

case("debug keeps only traceback; require 'debug' gives the same table", function()
  local keys = {}
  for k in pairs(debug) do keys[#keys + 1] = k end
  table.sort(keys)
  assert(#keys == 1 and keys[1] == "traceback", "debug has: " .. table.concat(keys, ", "))
  assert(type(debug.traceback()) == "string", "debug.traceback works")
  assert(debug.sethook == nil and debug.getinfo == nil and debug.setupvalue == nil and debug.getregistry == nil)
  assert(require("debug") == debug, "require 'debug' is the restricted table")
  assert(package.loaded.debug == debug, "package.loaded.debug is the restricted table")
end)

case("load refuses binary chunks, whatever the mode", function()
  for _, mode in ipairs { "b", "bt", "t" } do
    local f, err = load(BINARY, "=bin", mode)
    assert(f == nil, "load(binary, mode " .. mode .. ") returned a function")
    assert(type(err) == "string" and err:find("binary", 1, true), "message: " .. tostring(err))
  end
  local f, err = load(BINARY)
  assert(f == nil and tostring(err):find("binary", 1, true), "load(binary) with the default mode")
  local parts, i = { BINARY:sub(1, 4), BINARY:sub(5) }, 0
  f = load(function() i = i + 1; return parts[i] end, "=reader", "b")
  assert(f == nil, "load(reader of a binary chunk, 'b')")
end)

case("load of text still works, with an env", function()
  local f = assert(load("return 1 + 1"))
  assert(f() == 2)
  local env = { x = 41 }
  f = assert(load("return x + 1", "=t", "t", env))
  assert(f() == 42)
end)

case("require finds no C modules (cjson.safe is a C module on this system)", function()
  local ok, err = pcall(require, "cjson.safe")
  assert(not ok, "require 'cjson.safe' succeeded")
  assert(tostring(err):find("cjson.safe", 1, true), tostring(err))
  assert(#package.searchers == 2, "searchers: " .. #package.searchers)
end)

case("require of Lua modules from lualib still works", function()
  local contract = require "ferry.contract"
  assert(type(contract.check) == "function")
  assert(type(ferry.integration) == "function" and type(ferry.source.csv) == "function")
end)

case("ferry.sleep works in ferry lua (it runs as a run)", function()
  local before = os.time()
  assert(ferry.sleep(0.05) == nil)
  assert(ferry.sleep(0) == nil)
  assert(os.time() >= before)
  local ok, err = pcall(ferry.sleep, -1)
  assert(not ok and tostring(err):find("non-negative", 1, true), "negative seconds: " .. tostring(err))
  ok, err = pcall(ferry.sleep, "soon")
  assert(not ok, "a string is not a duration")
end)

-- Last: a crash here must not hide the results above.
case("ferry.sleep in a coroutine of the script's own is a clear error", function()
  local co = coroutine.create(function() return ferry.sleep(0.01) end)
  local ok, err = coroutine.resume(co)
  assert(not ok, "ferry.sleep yielded into the script's coroutine")
  assert(tostring(err):find("only inside a run", 1, true), "message: " .. tostring(err))
  local w = coroutine.wrap(function() ferry.sleep(0.01) end)
  ok, err = pcall(w)
  assert(not ok and tostring(err):find("only inside a run", 1, true), "coroutine.wrap: " .. tostring(err))
end)

harness.finish()
