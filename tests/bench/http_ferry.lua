-- The ferry side of the HTTP benchmark: N GETs of one URL at a given
-- concurrency through ferry.http.each, run with `ferry lua`. Requests come
-- from a function, so nothing is held but what is in flight.
--   ferry N requests in S s: R req/s (B bytes)
local url, total, conc = ...
total, conc = tonumber(total), tonumber(conc)
local http = ferry.http.client { timeout = 30 }
local made = 0
local function next_request()
  if made == total then return nil end
  made = made + 1
  return url
end
local done, failed, bytes = 0, 0, 0
local t0 = ferry.time.now()
for _, res in http:each(next_request, { concurrency = conc }) do
  done = done + 1
  if res and res.status == 200 then bytes = bytes + #res.body else failed = failed + 1 end
end
local secs = ferry.time.now() - t0
print(string.format("ferry %d requests in %.3f s: %.0f req/s (%d bytes, %d failed)", total, secs, total / secs, bytes, failed))
if failed > 0 or done ~= total then error(failed .. " requests failed, " .. (total - done) .. " missing") end
