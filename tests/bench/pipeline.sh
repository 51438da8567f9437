#!/usr/bin/env bash
# make bench: the pipeline benchmark. ferry against two baselines doing the
# same job, measured in the same run, interleaved, median of ROUNDS. Prints
# each figure and the ratio; writes build/bench/pipeline.json.
#
# Pipeline: N (1,000,000) CRM account records as JSON lines (~600 bytes,
# ~17 fields; tests/bench/pipeline/gen.py) -> a transform that renames 10
# fields, converts 2 and looks the owner up in memory -> SQLite upsert by key,
# 1,000 rows per transaction, each run into a fresh database:
#   ferry     build/ferry run of tests/bench/pipeline/ferry_pipeline.lua (store,
#             run accounting, checkpoint and quarantine included)
#   python    baseline_py.py: python3's json + sqlite3
#   lua       baseline_lua.lua: lua5.4 + lua-cjson + lua-dbi-sqlite3
# After every run the table's row count and checksum (checksum.py, without
# ferry's _synced_at/_run_id) must equal the others', or the bench fails.
#
# Memory: ferry's peak RSS at 1,000,000 and 10,000,000 records, the input
# streamed through a FIFO (gen.py repeat) so it needs no disk. The 10M
# database takes a few GB: skipped below 15 GB free, or with MEM10M=0.
#
# Env: FERRY (build/ferry), N (1000000), ROUNDS (3), MEM10M (1), PYTHON (python3).
# Needs: python3, lua5.4, lua-cjson, lua-dbi-sqlite3 (Debian packages).
set -euo pipefail
cd "$(dirname "$0")/../.."
FERRY=${FERRY:-build/ferry}
N=${N:-1000000}
ROUNDS=${ROUNDS:-3}
MEM10M=${MEM10M:-1}
# The interpreter itself, not a wrapper script (pyenv's shim costs a bash per call).
PY=$("${PYTHON:-python3}" -c 'import sys; print(sys.executable)')
here=tests/bench/pipeline
out=build/bench
mkdir -p "$out"
for m in cjson DBI dbd.sqlite3; do
    lua5.4 -e "require '$m'" 2>/dev/null ||
        { echo "pipeline bench needs lua5.4 with $m: apt-get install lua5.4 lua-cjson lua-dbi-sqlite3"; exit 1; }
done
work=$(mktemp -d /tmp/ferry-pipeline.XXXXXX)
feeder=
cleanup() { [ -n "$feeder" ] && kill "$feeder" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$PY" "$here/gen.py" records "$N" "$work/accounts.jsonl"
"$PY" "$here/gen.py" owners "$work/owners.csv"
bytes=$(stat -c %s "$work/accounts.jsonl")
echo "Pipeline: $N CRM records ($((bytes / N)) bytes each) -> map -> SQLite upsert, $ROUNDS interleaved rounds"

# run NAME INPUT: one run of NAME (ferry, python or lua) on INPUT into a fresh
# database under $work/NAME; "SECONDS MAX_RSS_KB CPU_SECONDS" in $work/NAME.time, the
# output in $work/NAME.log. Fails the bench unless every record loaded.
run() {
    local name=$1 input=$2 dir="$work/$1" rc=0
    rm -rf "$dir" && mkdir -p "$dir"
    case $name in
    ferry) FERRY_DATA_DIR="$dir" FERRY_BENCH_INPUT="$input" FERRY_BENCH_OWNERS="$work/owners.csv" \
               "$PY" "$here/measure.py" "$work/$name.time" \
               "$FERRY" run -c "$here/ferry_config.lua" "$here/ferry_pipeline.lua" >"$work/$name.log" 2>&1 || rc=$? ;;
    python) "$PY" "$here/measure.py" "$work/$name.time" \
                "$PY" "$here/baseline_py.py" "$input" "$work/owners.csv" "$dir/pipeline.db" >"$work/$name.log" 2>&1 || rc=$? ;;
    lua) "$PY" "$here/measure.py" "$work/$name.time" \
             lua5.4 "$here/baseline_lua.lua" "$input" "$work/owners.csv" "$dir/pipeline.db" >"$work/$name.log" 2>&1 || rc=$? ;;
    esac
    if [ "$rc" != 0 ]; then
        echo "FAIL: $name exited with status $rc (every record should load):"; tail -20 "$work/$name.log"; exit 1
    fi
}

# Rotate the order each round, so no contender always runs first (cold) or last.
order=(ferry python lua)
table=
: >"$work/runs.tsv"
for r in $(seq "$ROUNDS"); do
    for name in "${order[@]}"; do
        run "$name" "$work/accounts.jsonl"
        read -r secs rss cpu <"$work/$name.time"
        sum=$("$PY" "$here/checksum.py" "$work/$name/pipeline.db")
        rm -rf "${work:?}/$name"
        if [ -z "$table" ]; then table=$sum
        elif [ "$sum" != "$table" ]; then
            echo "FAIL: round $r: $name's accounts table differs from the first run's:"
            echo "  first: $table"; echo "  $name: $sum"; exit 1
        fi
        printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$r" "$secs" "$rss" "$cpu" >>"$work/runs.tsv"
        awk -v n="$N" -v s="$secs" -v m="$rss" -v c="$cpu" -v who="$name" -v r="$r" \
            'BEGIN { printf "  round %d  %-6s %8.2f s %9.0f records/s  peak RSS %6.1f MB  CPU %6.2f s\n", r, who, s, n / s, m / 1024, c }'
    done
    order=("${order[@]:1}" "${order[0]}")
done

# mem RECORDS TIMES: ferry's peak RSS for TIMES passes over the 1M file
# through a FIFO, each pass with new keys; writes "RECORDS SECONDS RSS_KB
# CPU_SECONDS LUA_MB" to $work/mem.TIMES.
mem() {
    local records=$1 times=$2 rows secs rss cpu
    rm -f "$work/feed" && mkfifo "$work/feed"
    "$PY" "$here/gen.py" repeat "$work/accounts.jsonl" "$times" "$work/feed" &
    feeder=$!
    run ferry "$work/feed"
    wait "$feeder" || { echo "FAIL: the FIFO feeder exited early"; exit 1; }
    feeder=
    rows=$("$PY" -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM accounts").fetchone()[0])' \
        "$work/ferry/pipeline.db")
    rm -rf "${work:?}/ferry"
    [ "$rows" = "$(( $(sed -E 's/.*"rows": ([0-9]+).*/\1/' <<<"$table") * times ))" ] ||
        { echo "FAIL: $records records through the FIFO left $rows rows"; exit 1; }
    read -r secs rss cpu <"$work/ferry.time"
    echo "$records $secs $rss $cpu $(sed -nE 's/.*Lua memory peak ([0-9.]+) MB.*/\1/p' "$work/ferry.log")" >"$work/mem.$times"
    awk -v n="$records" -v s="$secs" -v m="$rss" -v c="$cpu" \
        'BEGIN { printf "  %11d records %8.2f s %9.0f records/s  peak RSS %6.1f MB  CPU %6.2f s\n", n, s, n / s, m / 1024, c }'
}

echo
echo "Memory: ferry's peak RSS, the input streamed through a FIFO"
mem "$N" 1
: >"$work/mem.10"
if [ "$MEM10M" = 0 ]; then
    mem_skip="skipped: MEM10M=0"
elif [ "$(df -Pk "$work" | awk 'NR == 2 { print $4 }')" -lt $((15 * 1024 * 1024)) ]; then
    mem_skip="skipped: less than 15 GB free in $(dirname "$work") for the 10x database"
else
    mem_skip=
    mem $((N * 10)) 10
fi

"$PY" - "$work/runs.tsv" "$N" "$bytes" "$ROUNDS" "$table" "$(cat "$work/mem.1")" "$(cat "$work/mem.10")" "$mem_skip" "$out/pipeline.json" <<'PY'
import json, statistics, sys
runs_tsv, n, nbytes, rounds, table, mem1, mem10, mem_skip, dest = sys.argv[1:]
n, table = int(n), json.loads(table)
rate, rss, cpu_s = {}, {}, {}           # contender -> {round: value}
for line in open(runs_tsv):
    name, r, secs, kb, cpu = line.split()
    rate.setdefault(name, {})[r] = n / float(secs)
    cpu_s.setdefault(name, {})[r] = float(cpu)
    rss.setdefault(name, {})[r] = int(kb)
med = {k: statistics.median(rate[k].values()) for k in rate}
med_rss = {k: statistics.median(rss[k].values()) for k in rss}
med_cpu = {k: statistics.median(cpu_s[k].values()) for k in cpu_s}
labels = {"python": "python3 json + sqlite3", "lua": "lua5.4 cjson + DBI", "ferry": "ferry run"}
targets = {"python": 2.0, "lua": 1.5}
print()
# cores used: CPU time over wall time, per run (the baselines are single-threaded)
cores = {k: statistics.median(cpu_s[k][r] * rate[k][r] / n for r in rate[k]) for k in rate}
print(f"{'median of ' + rounds + ' rounds':<30} {'records/s':>10} {'peak RSS':>10} {'CPU (user+sys)':>15} {'cores used':>11}")
for k in ("python", "lua", "ferry"):
    print(f"{labels[k]:<30} {med[k]:10.0f} {med_rss[k] / 1024:7.1f} MB {med_cpu[k]:13.1f} s {cores[k]:11.2f}")
ratios = {}
for k in ("python", "lua"):
    # The ratio of the medians is the figure; the ratio within each round (runs
    # minutes apart at most) shows how much a shared machine moved it.
    by_round = [rate["ferry"][r] / rate[k][r] for r in sorted(rate[k], key=int)]
    ratios[k] = {"ratio": round(med["ferry"] / med[k], 2), "target": targets[k],
                 "by_round": [round(x, 2) for x in by_round],
                 "rss_ratio": round(med_rss["ferry"] / med_rss[k], 2)}
    print(f"ferry / {k + ':':<8} {ratios[k]['ratio']:.2f}x records/s (target >= {targets[k]:.2f}; "
          f"by round {' '.join(f'{x:.2f}' for x in by_round)}), {ratios[k]['rss_ratio']:.2f}x peak RSS")
print(f"tables identical in all {sum(map(len, rate.values()))} runs: {table['rows']} rows, sha256 {table['sha256'][:16]}")

def mem(s):
    records, secs, rss, cpu, lua_mb = (s.split() + [None])[:5]
    return {"records": int(records), "records_per_s": round(int(records) / float(secs)), "cpu_s": float(cpu),
            "peak_rss_kb": int(rss), "lua_memory_peak_mb": float(lua_mb) if lua_mb else None}
m1 = mem(mem1)
m10 = mem(mem10) if mem10 else None
print()
print(f"{m1['records']:>11,} records: peak RSS {m1['peak_rss_kb'] / 1024:6.1f} MB  ({m1['records_per_s']} records/s)")
if m10:
    ratio = m10["peak_rss_kb"] / m1["peak_rss_kb"]
    print(f"{m10['records']:>11,} records: peak RSS {m10['peak_rss_kb'] / 1024:6.1f} MB  ({m10['records_per_s']} records/s)")
    print(f"ratio 10x / 1x: {ratio:.2f}   (target: flat, and < 32 MB at 10M)")
else:
    ratio = None
    print(f"10x: {mem_skip}")

result = {
    "pipeline": {
        "records": n, "input_bytes": int(nbytes), "rounds": int(rounds), "batch": 1000,
        **{k: {"records_per_s": [round(x) for x in rate[k].values()], "peak_rss_kb": list(rss[k].values()),
               "median_records_per_s": round(med[k]), "median_peak_rss_kb": round(med_rss[k]),
               "cpu_s": list(cpu_s[k].values()), "median_cpu_s": med_cpu[k],
               "median_cores_used": round(cores[k], 2)} for k in rate},
        "ferry_vs_python": ratios["python"], "ferry_vs_lua": ratios["lua"],
        "table": {"rows": table["rows"], "sha256": table["sha256"]},
    },
    "pipeline_memory": {"small": m1, "large": m10, "ratio": round(ratio, 2) if ratio else None,
                        "skipped": mem_skip or None, "target_peak_rss_kb_at_10m": 32 * 1024},
}
with open(dest, "w") as f:
    json.dump(result, f, indent=1)
    f.write("\n")
print(f"results: {dest}")
PY
