-- wrk script for the webhook ingest bench (tests/bench/hooks.sh): each
-- request is a new event, POST of a small JSON body with a webhook-id
-- unique across wrk's threads and connections, so ferry stores every one
-- (none is acknowledged as a duplicate). done() prints one line
--   WRK {"requests":N,"non2xx":N,"errors":N,"seconds":S,"p50_ms":X,"p99_ms":Y,"max_ms":Z}
-- for hooks.sh to read. Usage: wrk -t2 -c64 -d5s -s hooks_wrk.lua URL [RUN_TAG]
local threads, counter, tag = {}, 0, "r"

function setup(thread)
  thread:set("tid", #threads + 1)
  threads[#threads + 1] = thread
end

function init(args)
  tag = args[1] or "r"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local id = tag .. "-" .. tid .. "-" .. counter
  wrk.headers["webhook-id"] = id
  return wrk.format(nil, nil, nil,
    '{"id":"' .. id .. '","type":"ticket.created","ticket":{"id":' .. counter ..
    ',"subject":"Cannot export invoices","requester":"ops@example.com","priority":"high"}}')
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK {"requests":%d,"non2xx":%d,"errors":%d,"seconds":%.3f,' ..
    '"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f}\n',
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
