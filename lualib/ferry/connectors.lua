-- `ferry connectors`: what each installed connector says about itself
-- (ferry.connector), one VM per connector so one cannot see another.
-- core/fy_cmd_kit.c finds the folders and calls describe() in each VM.
local json = ferry.json
local format, concat, pcall, require, type, tostring, ipairs = string.format, table.concat, pcall, require, type,
  tostring, ipairs

local M = {}

-- describe(name, dir) -> a row: { name, dir, about = {...} } or { name, dir, error = "..." }
function M.describe(name, dir)
  local ok, mod = pcall(require, "contrib." .. name)
  if not ok then
    return { name = name, dir = dir, error = tostring(mod) }
  end
  if type(mod) ~= "table" or type(mod.about) ~= "table" then
    return { name = name, dir = dir,
             error = "not a connector: its module does not start with ferry.connector { ... } (contrib/README.md)" }
  end
  if mod.about.name ~= name then
    return { name = name, dir = dir,
             error = format("ferry.connector names it '%s' but its folder is '%s'", tostring(mod.about.name), name) }
  end
  return { name = name, dir = dir, about = mod.about }
end

-- The rows as text (a block per connector) or as a JSON list.
function M.render(rows, as_json)
  if as_json then
    local out = {}
    for i, r in ipairs(rows) do
      local a = r.about or {}
      out[i] = { name = r.name, dir = r.dir, system = a.system, version = a.version, api = a.api,
                 docs = a.docs, auth = a.auth, streams = json.array(a.streams or {}),
                 operations = json.array(a.operations or {}), error = r.error, shadowed_by = r.shadowed_by }
    end
    if #out == 0 then return "[]\n" end
    return json.encode(out) .. "\n"
  end
  if #rows == 0 then return "no connectors installed\n" end
  local lines = {}
  for _, r in ipairs(rows) do
    local a = r.about
    if a then
      lines[#lines + 1] = format("%s %s  %s%s", r.name, a.version, a.system, a.api and (" (" .. a.api .. ")") or "")
      lines[#lines + 1] = "  streams:    " .. (#a.streams > 0 and concat(a.streams, ", ") or "-")
      lines[#lines + 1] = "  operations: " .. (#a.operations > 0 and concat(a.operations, ", ") or "-")
      lines[#lines + 1] = "  auth:       " .. a.auth
      if a.docs then lines[#lines + 1] = "  docs:       " .. a.docs end
    else
      lines[#lines + 1] = format("%s  BROKEN: %s", r.name, r.error)
    end
    lines[#lines + 1] = "  from:       " .. r.dir .. (r.shadowed_by and ("  (shadowed by " .. r.shadowed_by .. ")") or "")
  end
  return concat(lines, "\n") .. "\n"
end

return M
