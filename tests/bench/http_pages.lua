-- The JSON-pages side of `make bench`: N GETs of one large JSON page
-- through http:each at a given concurrency, every page decoded with
-- res:json() and its records counted, run with `ferry lua`. Served as
-- application/json, a page of 64 KB or more is parsed on the engine's JSON
-- thread before its response arrives; served as text/plain (the same
-- bytes), res:json() decodes it on the loop, as every body was before.
--   ferry N pages in S s: R pages/s (K records)
local url, total, conc = ...
total, conc = tonumber(total), tonumber(conc)
local http = ferry.http.client { timeout = 60 }
local made = 0
local function next_request()
  if made == total then return nil end
  made = made + 1
  return url
end
local done, records = 0, 0
local t0 = ferry.time.now()
for _, res, err in http:each(next_request, { concurrency = conc }) do
  if not res then error(tostring(err)) end
  local page = assert(res:json())
  records = records + #page.data
  done = done + 1
end
local secs = ferry.time.now() - t0
print(string.format("ferry %d pages in %.3f s: %.1f pages/s (%d records)", done, secs, done / secs, records))
if done ~= total then error((total - done) .. " pages missing") end
