-- The ferry side of the HTTP benchmark: N GETs of one URL at a given
-- concurrency through ferry.http.all, run with `ferry lua`.
--   ferry N requests in S s: R req/s (B bytes)
local url, total, conc = ...
total, conc = tonumber(total), tonumber(conc)
local http = ferry.http.client { timeout = 30 }
local chunk = tonumber(os.getenv("FERRY_BENCH_CHUNK")) or 500  -- the bodies of a chunk are held at once
local done, failed, bytes = 0, 0, 0
local t0 = ferry.time.now()
while done < total do
  local n = math.min(chunk, total - done)
  local reqs = {}
  for i = 1, n do reqs[i] = { "GET", url } end
  for _, r in ipairs(http:all(reqs, { concurrency = conc })) do
    if r.res and r.res.status == 200 then bytes = bytes + #r.res.body else failed = failed + 1 end
  end
  done = done + n
end
local secs = ferry.time.now() - t0
print(string.format("ferry %d requests in %.3f s: %.0f req/s (%d bytes, %d failed)", total, secs, total / secs, bytes, failed))
if failed > 0 then error(failed .. " requests failed") end
