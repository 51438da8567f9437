#!/usr/bin/env bash
# make bench: ferry against baselines measured in the same run, interleaved,
# median of rounds. Prints each figure and the ratio; writes build/bench/results.json.
#
# HTTP: 20,000 GETs of a ~10 KB JSON body over loopback at concurrency 32,
# served by nginx (Debian's), from a ferry script (http:each) vs raw libcurl
# multi sending the same request headers; HTTP_ROUNDS (7) rounds, the ratio
# is the median of the rounds'.
set -euo pipefail
cd "$(dirname "$0")/../.."
FERRY=${FERRY:-build/ferry}
RAW=${RAW:-build/bench/http_raw}
HTTP_ROUNDS=${HTTP_ROUNDS:-7}       # two seconds a round: more rounds, less noise
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
echo "HTTP: $N GETs of a $size-byte JSON body at concurrency $CONC, nginx on loopback, $HTTP_ROUNDS interleaved rounds"

# Each round runs both, back to back, first one then the other in turn; its
# ratio compares runs a second apart, so a burst of load from the machine's
# neighbours skews one round, not the median of the rounds' ratios.
# The raw client sends what ferry's sends: its User-Agent and Accept header.
ua="ferry/$("$FERRY" version | sed -n '1s/^ferry //p')"
rate() { sed -nE 's/.*: ([0-9]+) req\/s.*/\1/p'; }
run_raw() { "$RAW" "$url" "$N" "$CONC" "$ua" | tee /dev/stderr | rate; }
run_ferry() { "$FERRY" lua --log-level warn tests/bench/http_ferry.lua "$url" "$N" "$CONC" | tee /dev/stderr | rate; }
raw_rates=() ferry_rates=() ratios=()
for r in $(seq "$HTTP_ROUNDS"); do
    if [ $((r % 2)) -eq 1 ]; then raw=$(run_raw); fy=$(run_ferry); else fy=$(run_ferry); raw=$(run_raw); fi
    raw_rates+=("$raw"); ferry_rates+=("$fy")
    ratios+=("$(awk -v a="$fy" -v b="$raw" 'BEGIN { printf "%.3f", a / b }')")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
raw_m=$(median "${raw_rates[@]}"); fy_m=$(median "${ferry_rates[@]}")
ratio=$(median "${ratios[@]}")
echo
printf '%-34s %10s req/s\n' "raw libcurl multi (median)" "$raw_m" "ferry ctx.http:each (median)" "$fy_m"
printf 'ratio ferry / raw libcurl: %.2f, median of the rounds (%s)   (target >= 0.80)\n' "$ratio" "${ratios[*]}"
cat >"$out/results.json" <<JSON
{"http": {"requests": $N, "concurrency": $CONC, "body_bytes": $size, "rounds": $HTTP_ROUNDS,
          "raw_req_per_s": [$(IFS=,; echo "${raw_rates[*]}")], "ferry_req_per_s": [$(IFS=,; echo "${ferry_rates[*]}")],
          "ratio_by_round": [$(IFS=,; echo "${ratios[*]}")],
          "raw_median": $raw_m, "ferry_median": $fy_m, "ratio": $ratio}}
JSON
echo "results: $out/results.json"
