#!/usr/bin/env bash
# make bench: webhook ingest. wrk (tests/bench/hooks_wrk.lua: every request a
# new event with its own webhook-id, a ~150-byte JSON body) posts at
# concurrency CONC (64) for SECONDS (5) against
#   ferry   `ferry serve` with one webhook integration (signature "none",
#           a load that does nothing): a 202 only once the event is committed
#           to the store (WAL, synchronous=FULL), while event runs take
#           them out of the inbox on the same loop
#   nginx   Debian's nginx answering the same POSTs with a static 202: what
#           the loopback, the machine and wrk allow, without a disk
# ferry runs twice a round, each on a fresh data dir:
#   ingest  the integration paused (`ferry pause`): the listener and the
#           group commit alone; then resumed, and the backlog's drain timed
#           (events/s through event runs)
#   live    not paused: event runs take the events out of the inbox while
#           they arrive, on the same loop (the steady state of a busy hook)
# ROUNDS (3) rounds, interleaved. Prints accepted events/s, latency p50/p99
# and the ratio ferry / nginx (medians of the rounds); checks that the store
# holds at least as many events as wrk counted 2xx; writes
# build/bench/hooks.json.
#
# Env: FERRY (build/ferry), CONC (64), SECONDS_PER_ROUND (5), ROUNDS (3),
#      WRK_THREADS (2). Needs wrk, nginx, sqlite3 (Debian packages).
set -euo pipefail
cd "$(dirname "$0")/../.."
FERRY=$(realpath "${FERRY:-build/ferry}")
CONC=${CONC:-64}
SECS=${SECONDS_PER_ROUND:-5}
ROUNDS=${ROUNDS:-3}
WRK_THREADS=${WRK_THREADS:-2}
PY=$(python3 -c 'import sys; print(sys.executable)')     # not pyenv's shim
out=build/bench
mkdir -p "$out"
command -v wrk >/dev/null || { echo "the hooks bench needs wrk: apt-get install wrk"; exit 1; }
work=$(mktemp -d /tmp/ferry-hooks-bench.XXXXXX)
chmod 755 "$work"
serve_pid=
cleanup() {
    [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $work/body;
  server {
    listen 127.0.0.1:$port;
    location /hooks/ { default_type application/json; return 202 '{"event":1}\n'; }
  }
}
CONF
nginx -c "$work/nginx.conf" -p "$work"
for _ in $(seq 50); do curl -fs -X POST -d '{}' "http://127.0.0.1:$port/hooks/ticket" >/dev/null && break; sleep 0.1; done

mkdir -p "$work/ferry/scripts"
cat >"$work/ferry/ferry.lua" <<'EOF'
return { data_dir = "data", script_dirs = { "scripts" }, admin = { listen = "127.0.0.1:0" },
  hooks = { listen = "127.0.0.1:0" }, log = { format = "json" }, lock_wait = 0 }
EOF
cat >"$work/ferry/scripts/ticket.lua" <<'EOF'
return ferry.integration {
  name = "ticket-created", owner = "bench@example.com", purpose = "ingest bench", pattern = "workflow",
  source_of_truth = "helpdesk", freshness = "1h",
  trigger = { webhook = { path = "ticket", signature = "none" } },
  load = function() end,
}
EOF

field() { sed -nE "s/.*\"$1\":([0-9.]+).*/\1/p"; }
# wrk_round URL TAG: one wrk run; prints its WRK JSON line (and its summary
# to stderr).
wrk_round() {
    wrk -t "$WRK_THREADS" -c "$CONC" -d "${SECS}s" --timeout 5s -s tests/bench/hooks_wrk.lua "$1" -- "$2" |
        tee "$work/wrk.out" >&2
    grep '^WRK ' "$work/wrk.out" | sed 's/^WRK //'
}
run_nginx() { wrk_round "http://127.0.0.1:$port/hooks/ticket" "n$1"; }
# run_ferry ROUND MODE (ingest|live): a fresh `ferry serve`, paused for
# ingest, one wrk round, then: the events stored must be at least the 2xx
# wrk counted; how long the event runs took to drain the inbox (resumed
# first for ingest).
run_ferry() {
    local d=$work/ferry r stored pending t0 drain
    rm -rf "$d/data"
    (cd "$d" && exec "$FERRY" serve -c ferry.lua) >"$d/serve.out" 2>"$d/serve.log" &
    serve_pid=$!
    for _ in $(seq 100); do grep -q '"hooks"' "$d/data/serve.json" 2>/dev/null && break; sleep 0.05; done
    [ "$2" = ingest ] && (cd "$d" && "$FERRY" pause -c ferry.lua ticket-created >/dev/null)
    local addr
    addr=$($PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["hooks"])' "$d/data/serve.json")
    r=$(wrk_round "http://$addr/hooks/ticket" "f$1$2")
    stored=$(sqlite3 "$d/data/ferry.db" "SELECT count(*) FROM events")
    ok=$(( $(field requests <<<"$r") - $(field non2xx <<<"$r") ))
    [ "$stored" -ge "$ok" ] || { echo "ferry answered 2xx to $ok events but stored only $stored" >&2; exit 1; }
    t0=$(date +%s%N)
    [ "$2" = ingest ] && (cd "$d" && "$FERRY" resume -c ferry.lua ticket-created >/dev/null)
    for _ in $(seq 600); do
        pending=$(sqlite3 "$d/data/ferry.db" "SELECT count(*) FROM events WHERE status = 'pending'")
        [ "$pending" = 0 ] && break
        sleep 0.1
    done
    drain=$(( ($(date +%s%N) - t0) / 1000000 ))
    kill "$serve_pid"; wait "$serve_pid" || true; serve_pid=
    echo "ferry $2 round $1: $stored events stored, inbox drained $drain ms after the load stopped" >&2
    echo "${r%\}},\"stored\":$stored,\"drain_ms\":$drain}"
}

echo "Webhook ingest: POST /hooks/ticket, ~150-byte JSON, wrk -t$WRK_THREADS -c$CONC, ${SECS}s a round, $ROUNDS interleaved rounds"
ingest_runs=() live_runs=() nginx_runs=()
for r in $(seq "$ROUNDS"); do
    if [ $((r % 2)) -eq 1 ]; then
        n=$(run_nginx "$r"); i=$(run_ferry "$r" ingest); l=$(run_ferry "$r" live)
    else
        l=$(run_ferry "$r" live); i=$(run_ferry "$r" ingest); n=$(run_nginx "$r")
    fi
    ingest_runs+=("$i"); live_runs+=("$l"); nginx_runs+=("$n")
done

$PY - "$out/hooks.json" "$CONC" "$SECS" "$(nproc)" "$(IFS='|'; echo "${ingest_runs[*]}")" \
    "$(IFS='|'; echo "${live_runs[*]}")" "$(IFS='|'; echo "${nginx_runs[*]}")" <<'PY'
import json, statistics, sys
path, conc, secs, cpus = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
ingest, live, nginx = ([json.loads(x) for x in a.split("|")] for a in sys.argv[5:8])
def rate(r): return (r["requests"] - r["non2xx"]) / r["seconds"]
def med(rs, f): return statistics.median(f(r) for r in rs)
def figures(rs):
    return {"per_s": round(med(rs, rate)), "p50_ms": round(med(rs, lambda r: r["p50_ms"]), 2),
            "p99_ms": round(med(rs, lambda r: r["p99_ms"]), 2),
            "non2xx": sum(r["non2xx"] for r in rs), "errors": sum(r["errors"] for r in rs), "rounds": rs}
res = {"concurrency": conc, "seconds_per_round": secs, "cpus": cpus,
       "ferry_ingest": figures(ingest), "ferry_live": figures(live), "nginx": figures(nginx)}
res["ferry_ingest"]["drain_events_per_s"] = round(med(ingest, lambda r: r["stored"] / max(r["drain_ms"], 1) * 1000))
nr = res["nginx"]["per_s"]
print()
for key, label, unit in (("ferry_ingest", "ferry, durable 202, integration paused", "events/s"),
                         ("ferry_live", "ferry, durable 202, event runs draining", "events/s"),
                         ("nginx", "nginx, static 202 (baseline)", "req/s")):
    f = res[key]
    print(f"{label:42s} {f['per_s']:7d} {unit:8s}  p50 {f['p50_ms']:6.2f} ms  p99 {f['p99_ms']:6.2f} ms"
          f"   ratio to nginx {f['per_s'] / nr:.2f}")
    if key != "nginx":          # each round against nginx's round of the same number (run beside it)
        f["ratio_by_round"] = [round(rate(a) / rate(b), 2) for a, b in zip(f["rounds"], res["nginx"]["rounds"])]
        print(f"{'':42s} by round: " + " ".join(f"{rate(a):.0f} ({x:.2f})" for a, x in zip(f["rounds"], f["ratio_by_round"])))
print(f"backlog drained by event runs after resume: {res['ferry_ingest']['drain_events_per_s']} events/s (median)")
bad = res["ferry_ingest"]["non2xx"] + res["ferry_live"]["non2xx"] + res["ferry_ingest"]["errors"] + res["ferry_live"]["errors"]
print(f"ferry non-2xx answers and socket errors: {bad}")
for key in ("ferry_ingest", "ferry_live"):
    f = res[key]
    f["target_met"] = f["per_s"] >= 10000 and f["p99_ms"] < 50
    print(f"target >= 10,000 durable events/s with p99 < 50 ms, {key}: {'met' if f['target_met'] else 'NOT met'}")
json.dump({"hooks": res}, open(path, "w"), indent=1)
print(f"results: {path}")
PY
