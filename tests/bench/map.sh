#!/usr/bin/env bash
# make bench: ferry.map against a hand-written Lua transform of the same 11
# fields (tests/bench/map_bench.lua), both in one ferry process, interleaved
# rounds, median rate of each and the ratio. Writes build/bench/map.json.
#
# Env: FERRY (build/ferry), MAP_N (1000000 records a round), MAP_ROUNDS (5).
set -euo pipefail
cd "$(dirname "$0")/../.."
FERRY=${FERRY:-build/ferry}
N=${MAP_N:-1000000}
ROUNDS=${MAP_ROUNDS:-5}
out=build/bench
mkdir -p "$out"
echo "ferry.map: $N records a round, map vs hand-written transform of the same 11 fields, $ROUNDS interleaved rounds"
log=$(mktemp /tmp/ferry-map-bench.XXXXXX)
trap 'rm -f "$log"' EXIT
"$FERRY" lua -c tests/bench/map_config.lua tests/bench/map_bench.lua "$N" "$ROUNDS" | tee "$log" | grep -v '^result '
python3 - "$log" "$out/map.json" <<'PY'
import json, sys
line = [l for l in open(sys.argv[1]) if l.startswith("result ")][-1]
r = json.loads(line[len("result "):])
json.dump({"map": r}, open(sys.argv[2], "w"), indent=1)
print(f"results: {sys.argv[2]}")
PY
