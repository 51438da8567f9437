-- ferry.connector: what a contrib connector says about itself.
--
--   local M = ferry.connector {
--     name = "hubspot", system = "HubSpot CRM", version = "1.0.0",
--     api = "CRM objects v3", docs = "https://developers.hubspot.com/docs/api/crm",
--     auth = "private app token (Bearer); secret HUBSPOT_TOKEN",
--     streams = { "companies", "contacts", "deals", "owners" },
--     operations = { "upsert", "picklist", "owners" },
--   }
--   function M.connect(opts) ... end
--   return M
--
-- The answer is the module table the connector goes on to fill; its
-- `about` is what `ferry connectors` lists. A mistake here is the
-- connector author's, so it raises at require time, naming the field.
local type, ipairs, pairs, next, tostring, error = type, ipairs, pairs, next, tostring, error
local format, match = string.format, string.match

local FIELDS = {
  name = "string", system = "string", version = "string", api = "string", docs = "string",
  auth = "string", streams = "list", operations = "list", description = "string",
}
local REQUIRED = { "name", "system", "version", "auth", "streams", "operations" }

local function fail(msg) error("ferry.connector: " .. msg, 4) end

local function check(about)
  if type(about) ~= "table" then fail("expects a table, got " .. type(about)) end
  for k, v in pairs(about) do
    local want = FIELDS[k]
    if not want then fail(format("unknown field '%s'", tostring(k))) end
    if want == "list" then
      if type(v) ~= "table" then fail(format("%s: a list of names, got %s", k, type(v))) end
      for i, s in ipairs(v) do
        if type(s) ~= "string" or not match(s, "^[%w_.%-]+$") then
          fail(format("%s[%d]: a name of letters, digits, '_', '.' or '-'", k, i))
        end
      end
      if #v == 0 and next(v) ~= nil then fail(format("%s: a list, not a map", k)) end
    elseif type(v) ~= "string" or not match(v, "%S") then
      fail(format("%s: a non-empty string, got %s", k, type(v) == "string" and "a blank one" or type(v)))
    end
  end
  for _, k in ipairs(REQUIRED) do
    if about[k] == nil then fail(format("'%s' is required", k)) end
  end
  if not match(about.name, "^[a-z][a-z0-9_]*$") then
    fail(format("name '%s': lower-case letters, digits and '_' (it is the folder's name)", about.name))
  end
  if not match(about.version, "^%d+%.%d+%.%d+") then
    fail(format("version '%s': MAJOR.MINOR.PATCH", about.version))
  end
end

return function(about)
  check(about)
  local copy = {}
  for k, v in pairs(about) do
    if type(v) == "table" then
      local l = {}
      for i, s in ipairs(v) do l[i] = s end
      v = l
    end
    copy[k] = v
  end
  return { about = copy }
end
