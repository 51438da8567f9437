-- Micro-benchmark of ferry.json.decode: every line of a JSON lines file
-- decoded ROUNDS times; prints microseconds per record (the best of 5 passes).
--
--   build/ferry lua --trusted tests/bench/json_decode.lua FILE.jsonl [ROUNDS]   (io reads FILE)
local path, rounds = ...
rounds = tonumber(rounds) or 100
local decode = ferry.json.decode
local lines = {}
for line in io.lines(path) do
  if decode(line) then lines[#lines + 1] = line end      -- valid lines only
end
local best = math.huge
for _ = 1, 5 do
  collectgarbage()
  local t0 = os.clock()
  for _ = 1, rounds do
    for i = 1, #lines do
      decode(lines[i])
    end
  end
  best = math.min(best, os.clock() - t0)
end
print(string.format("%s: %d records x %d: %.3f us/record", path, #lines, rounds, best * 1e6 / (rounds * #lines)))
