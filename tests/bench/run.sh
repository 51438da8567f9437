#!/usr/bin/env bash
# make bench: ferry against baselines measured in the same run, interleaved,
# median of ROUNDS. Prints each figure and the ratio; writes build/bench/results.json.
#
# HTTP: 20,000 GETs of a ~10 KB JSON body over loopback at concurrency 32,
# served by nginx (Debian's), from a ferry script vs raw libcurl multi.
set -euo pipefail
cd "$(dirname "$0")/../.."
FERRY=${FERRY:-build/ferry}
RAW=${RAW:-build/bench/http_raw}
ROUNDS=${ROUNDS:-3}
N=${N:-20000}
CONC=${CONC:-32}
out=build/bench
mkdir -p "$out"
work=$(mktemp -d /tmp/ferry-bench.XXXXXX)
chmod 755 "$work"   # nginx workers read the document as their own user
cleanup() { [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# A ~10 KB JSON document of CRM-like records.
python3 - "$work/www/bench.json" <<'PY'
import json, os, sys
os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True)
recs, i = [], 0
while len(json.dumps({"data": recs})) < 10240 - 160:
    recs.append({"id": i, "name": f"Account {i}", "email": f"owner{i}@example.com", "tier": "growth",
                 "arr": 12000.5 + i, "country": "DE", "created_at": "2026-01-02T03:04:05Z"})
    i += 1
open(sys.argv[1], "w").write(json.dumps({"data": recs}))
PY
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$port;
    root $work/www;
    default_type application/json;
  }
}
CONF
nginx -c "$work/nginx.conf" -p "$work"
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/bench.json" >/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$port/bench.json"
size=$(curl -fs "$url" | wc -c)
echo "HTTP: $N GETs of a $size-byte JSON body at concurrency $CONC, nginx on loopback, $ROUNDS interleaved rounds"

rate() { sed -nE 's/.*: ([0-9]+) req\/s.*/\1/p'; }
raw_rates=() ferry_rates=()
for r in $(seq "$ROUNDS"); do
    raw=$("$RAW" "$url" "$N" "$CONC" | tee /dev/stderr | rate)
    fy=$("$FERRY" lua --log-level warn tests/bench/http_ferry.lua "$url" "$N" "$CONC" | tee /dev/stderr | rate)
    raw_rates+=("$raw"); ferry_rates+=("$fy")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
raw_m=$(median "${raw_rates[@]}"); fy_m=$(median "${ferry_rates[@]}")
ratio=$(awk -v a="$fy_m" -v b="$raw_m" 'BEGIN { printf "%.2f", a / b }')
echo
printf '%-34s %10s req/s\n' "raw libcurl multi (median)" "$raw_m" "ferry ctx.http:each (median)" "$fy_m"
echo "ratio ferry / raw libcurl: $ratio   (target >= 0.80)"
cat >"$out/results.json" <<JSON
{"http": {"requests": $N, "concurrency": $CONC, "body_bytes": $size, "rounds": $ROUNDS,
          "raw_req_per_s": [$(IFS=,; echo "${raw_rates[*]}")], "ferry_req_per_s": [$(IFS=,; echo "${ferry_rates[*]}")],
          "raw_median": $raw_m, "ferry_median": $fy_m, "ratio": $ratio}}
JSON
echo "results: $out/results.json"
