#!/usr/bin/env bash
# make bench: ferry against baselines measured in the same run, interleaved,
# median of rounds. Prints each figure and the ratio; writes build/bench/results.json.
#
# HTTP: 20,000 GETs of a ~10 KB JSON body over loopback at each concurrency
# of CONCS (8 32 128), served by nginx (Debian's), from a ferry script
# (http:each) vs raw libcurl multi sending the same request headers;
# HTTP_ROUNDS (7) rounds per concurrency, the ratio is the median of the
# rounds'. Each run's new connections are counted (nginx's stub_status), so
# a client that ran fewer connections than asked shows.
set -euo pipefail
cd "$(dirname "$0")/../.."
FERRY=${FERRY:-build/ferry}
RAW=${RAW:-build/bench/http_raw}
HTTP_ROUNDS=${HTTP_ROUNDS:-7}       # two seconds a round: more rounds, less noise
N=${N:-20000}
CONCS=${CONCS:-8 32 128}
out=build/bench
mkdir -p "$out"
work=$(mktemp -d /tmp/ferry-bench.XXXXXX)
chmod 755 "$work"   # nginx workers read the document as their own user
cleanup() { [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# JSON pages: PAGES_N (1,000) GETs of a 256 KB page of 1,054 records at
# concurrency 8 through http:each, each decoded with res:json(): served as
# application/json (parsed on ferry's JSON thread before the response
# reaches the script) against the same bytes served as text/plain (decoded
# on the loop, as before); PAGES_ROUNDS (5) interleaved rounds.
PAGES_N=${PAGES_N:-1000}
PAGES_ROUNDS=${PAGES_ROUNDS:-5}

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
recs, i = [], 0
while len(json.dumps({"data": recs})) < 256 * 1024 - 300:
    recs.append({"id": i, "name": f"Account {i}", "email": f"owner{i}@example.com", "tier": "growth",
                 "arr": 12000.5 + i, "country": "DE", "created_at": "2026-01-02T03:04:05Z", "open": i % 3 == 0,
                 "contact": {"first": "Zoë", "last": f"Müller {i}", "phone": None}})
    i += 1
page = json.dumps({"data": recs})
for name in ("page.json", "page.txt"):
    open(os.path.join(os.path.dirname(sys.argv[1]), name), "w").write(page)
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
    types { text/plain txt; }
    location = /status { stub_status; }
  }
}
CONF
nginx -c "$work/nginx.conf" -p "$work"
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/bench.json" >/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$port/bench.json"
size=$(curl -fs "$url" | wc -c)
echo "HTTP: $N GETs of a $size-byte JSON body at concurrency $CONCS, nginx on loopback, $HTTP_ROUNDS interleaved rounds each"

# Each round runs both, back to back, first one then the other in turn; its
# ratio compares runs a second apart, so a burst of load from the machine's
# neighbours skews one round, not the median of the rounds' ratios.
# The raw client sends what ferry's sends: its User-Agent and Accept header.
ua="ferry/$("$FERRY" version | sed -n '1s/^ferry //p')"
rate() { sed -nE 's/.*: ([0-9]+) req\/s.*/\1/p'; }
accepts() { curl -fs "http://127.0.0.1:$port/status" | awk 'NR == 3 { print $1 }'; }
# run_raw/run_ferry CONC: prints "RATE CONNECTIONS"; the connections are
# those nginx accepted during the run (less the status request's own)
run_raw() {
    local a0 r
    a0=$(accepts)
    r=$("$RAW" "$url" "$N" "$1" "$ua" | tee /dev/stderr | rate)
    echo "$r $(($(accepts) - a0 - 1))"
}
run_ferry() {
    local a0 r
    a0=$(accepts)
    r=$("$FERRY" lua --log-level warn tests/bench/http_ferry.lua "$url" "$N" "$1" | tee /dev/stderr | rate)
    echo "$r $(($(accepts) - a0 - 1))"
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
join() { local IFS=,; echo "$*"; }
by_conc="" summary=""
for conc in $CONCS; do
    raw_rates=() ferry_rates=() ratios=() raw_conns=() ferry_conns=()
    for r in $(seq "$HTTP_ROUNDS"); do
        if [ $((r % 2)) -eq 1 ]; then raw=$(run_raw "$conc"); fy=$(run_ferry "$conc")
        else fy=$(run_ferry "$conc"); raw=$(run_raw "$conc"); fi
        raw_rates+=("${raw% *}"); ferry_rates+=("${fy% *}")
        raw_conns+=("${raw#* }"); ferry_conns+=("${fy#* }")
        ratios+=("$(awk -v a="${fy% *}" -v b="${raw% *}" 'BEGIN { printf "%.3f", a / b }')")
    done
    raw_m=$(median "${raw_rates[@]}"); fy_m=$(median "${ferry_rates[@]}"); ratio=$(median "${ratios[@]}")
    line=$(printf 'concurrency %3d: raw %6d req/s, ferry %6d req/s, ratio %.2f (target >= 0.80); rounds %s; connections raw %s, ferry %s' \
        "$conc" "$raw_m" "$fy_m" "$ratio" "${ratios[*]}" "$(median "${raw_conns[@]}")" "$(median "${ferry_conns[@]}")")
    echo "$line"
    summary+="$line"$'\n'
    by_conc+="${by_conc:+,
    }\"$conc\": {\"raw_req_per_s\": [$(join "${raw_rates[@]}")], \"ferry_req_per_s\": [$(join "${ferry_rates[@]}")],
          \"ratio_by_round\": [$(join "${ratios[@]}")], \"raw_connections\": [$(join "${raw_conns[@]}")],
          \"ferry_connections\": [$(join "${ferry_conns[@]}")],
          \"raw_median\": $raw_m, \"ferry_median\": $fy_m, \"ratio\": $ratio}"
done
echo
echo "HTTP, ferry ctx.http:each / raw libcurl multi, median of $HTTP_ROUNDS rounds (every round's ratio listed):"
printf '%s' "$summary"

page_size=$(curl -fs "http://127.0.0.1:$port/page.json" | wc -c)
echo
echo "JSON pages: $PAGES_N GETs of a $page_size-byte page at concurrency 8, res:json() on each, $PAGES_ROUNDS interleaved rounds"
page_rate() {
    "$FERRY" lua --log-level warn tests/bench/http_pages.lua "http://127.0.0.1:$port/$1" "$PAGES_N" 8 |
        tee /dev/stderr | sed -nE 's/.*: ([0-9.]+) pages\/s.*/\1/p'
}
ahead_rates=() loop_rates=() page_ratios=()
for r in $(seq "$PAGES_ROUNDS"); do
    if [ $((r % 2)) -eq 1 ]; then lp=$(page_rate page.txt); ah=$(page_rate page.json)
    else ah=$(page_rate page.json); lp=$(page_rate page.txt); fi
    ahead_rates+=("$ah"); loop_rates+=("$lp")
    page_ratios+=("$(awk -v a="$ah" -v b="$lp" 'BEGIN { printf "%.3f", a / b }')")
done
ahead_m=$(median "${ahead_rates[@]}"); loop_m=$(median "${loop_rates[@]}"); page_ratio=$(median "${page_ratios[@]}")
printf 'JSON pages: parsed off the loop %.1f pages/s, decoded on the loop %.1f pages/s, ratio %.2f; rounds %s\n' \
    "$ahead_m" "$loop_m" "$page_ratio" "${page_ratios[*]}"
cat >"$out/results.json" <<JSON
{"http": {"requests": $N, "body_bytes": $size, "rounds": $HTTP_ROUNDS, "target": 0.8,
  "by_concurrency": {
    $by_conc}},
 "http_json_pages": {"requests": $PAGES_N, "body_bytes": $page_size, "concurrency": 8, "rounds": $PAGES_ROUNDS,
  "ahead_pages_per_s": [$(join "${ahead_rates[@]}")], "loop_pages_per_s": [$(join "${loop_rates[@]}")],
  "ratio_by_round": [$(join "${page_ratios[@]}")], "ahead_median": $ahead_m, "loop_median": $loop_m,
  "ratio": $page_ratio}}
JSON
echo "results: $out/results.json"
