-- The case runner the Lua test files share (loaded with require "harness";
-- `ferry lua` puts the file's own directory on package.path). Every case runs
-- even when an earlier one fails; finish() fails the file if any did.
local _M = {}
local failures, ncases = {}, 0

function _M.case(name, fn)
  ncases = ncases + 1
  local ok, err = pcall(fn)
  if ok then print("ok - " .. name)
  else failures[#failures + 1] = name .. ": " .. tostring(err); print("not ok - " .. name .. ": " .. tostring(err)) end
end

function _M.finish()
  if #failures > 0 then
    error(string.format("%d of %d cases failed:\n  %s", #failures, ncases, table.concat(failures, "\n  ")), 0)
  end
  print("ok")
end

return _M
