#!/usr/bin/env bash
# make bench: N (1,000,000) rows loaded into PostgreSQL by ferry run
# (ferry.source.csv -> ferry.sink.postgres: COPY into a staging table, then
# INSERT ... ON CONFLICT per batch of 1,000, with the store and run
# accounting), next to a plain `psql \copy` of the same CSV file into a table
# of the same columns, in the same run, on a private server this script
# starts (tests/e2e/pg.sh), ROUNDS (3) interleaved rounds, median. Both end
# with N rows; the bench fails otherwise. Writes build/bench/postgres.json.
#
# The baseline is the fastest way PostgreSQL's own client loads a file (one
# COPY, one transaction, no upsert); ferry's figure is a resumable upsert
# that quarantines bad rows, so a ratio under 1 is expected: it says what
# that costs.
set -euo pipefail
cd "$(dirname "$0")/../.."
FERRY=$(realpath "${FERRY:-build/ferry}")
N=${N:-1000000}
ROUNDS=${ROUNDS:-3}
PY=$(python3 -c 'import sys; print(sys.executable)')
WORK=$(mktemp -d /tmp/ferry-pgbench.XXXXXX)
_cleanup() { rm -rf "$WORK"; }
trap _cleanup EXIT
. tests/e2e/pg.sh
if why=$(pg_missing); then echo "postgres bench skipped: $why"; exit 0; fi
start_pg >/dev/null || { echo "postgres bench: cannot start PostgreSQL"; exit 1; }
mkdir -p build/bench

"$PY" - "$N" "$WORK/accounts.csv" <<'PY'
import csv, sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id", "name", "email", "arr", "seats", "active", "updated"])
    for i in range(1, n + 1):
        w.writerow([i, "Account %d, Inc." % i, "owner%d@example.com" % (i % 997), "%d.%02d" % (i * 37 % 1000000, i % 100),
                    i % 500 + 1, "true" if i % 3 else "false", "2026-%02d-%02dT%02d:00:00Z" % (i % 12 + 1, i % 28 + 1, i % 24)])
PY
chmod 644 "$WORK/accounts.csv"; chmod 755 "$WORK"
bytes=$(stat -c %s "$WORK/accounts.csv")
echo "PostgreSQL load: $N rows ($((bytes / N)) bytes each as CSV), $ROUNDS interleaved rounds"
cat >"$WORK/ferry.lua" <<C
return { data_dir = "$WORK/data", batch_size = 1000,
  databases = { reporting = { url = "$PG_URL", password_env = "PG_PW" } },
  integrations = { ["*"] = { trusted = true, databases = { "reporting" } } },
  log = { level = "warn" } }
C
DDL="id bigint PRIMARY KEY, name text, email text, arr numeric, seats bigint, active boolean, updated timestamptz"

one() {     # one NAME: a fresh table, one load; prints seconds
    psql_q "DROP TABLE IF EXISTS accounts, ferry_freshness" >/dev/null
    case $1 in
    ferry)
        rm -rf "$WORK/data"
        PG_PW=$PG_PASSWORD FERRY_BENCH_INPUT="$WORK/accounts.csv" "$PY" tests/bench/pipeline/measure.py "$WORK/t" \
            "$FERRY" run -c "$WORK/ferry.lua" tests/bench/postgres/ferry_load.lua >"$WORK/ferry.log" 2>&1 ||
            { echo "ferry run failed:"; tail -5 "$WORK/ferry.log"; exit 1; } ;;
    psql)
        psql_q "CREATE TABLE accounts ($DDL); ALTER TABLE accounts OWNER TO ferry" >/dev/null
        "$PY" tests/bench/pipeline/measure.py "$WORK/t" env PGPASSWORD="$PG_PASSWORD" "$PG_BIN/psql" -X -q \
            -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U ferry -d reporting \
            -c "\\copy accounts (id, name, email, arr, seats, active, updated) FROM '$WORK/accounts.csv' CSV HEADER" \
            >"$WORK/psql.log" 2>&1 || { echo "psql failed:"; cat "$WORK/psql.log"; exit 1; } ;;
    esac
    local rows
    rows=$(psql_q "SELECT count(*) FROM accounts")
    [ "$rows" = "$N" ] || { echo "$1 loaded $rows rows, not $N"; exit 1; }
    cut -d' ' -f1 "$WORK/t"
}

declare -a tf tp
for r in $(seq 1 "$ROUNDS"); do
    tf+=("$(one ferry)")
    tp+=("$(one psql)")
    printf '  round %d: ferry %6.2f s   psql \\copy %6.2f s\n' "$r" "${tf[-1]}" "${tp[-1]}"
done
"$PY" - "$N" "${tf[*]}" "${tp[*]}" <<'PY'
import json, statistics, sys
n = int(sys.argv[1])
tf = [float(x) for x in sys.argv[2].split()]
tp = [float(x) for x in sys.argv[3].split()]
mf, mp = statistics.median(tf), statistics.median(tp)
print(f"  ferry run (upsert, 1,000 a batch): {n / mf:10,.0f} rows/s  (median {mf:.2f} s)")
print(f"  psql \\copy (one COPY):             {n / mp:10,.0f} rows/s  (median {mp:.2f} s)")
print(f"  ratio ferry / psql \\copy: {mp / mf:.2f}")
json.dump({"postgres_load": {"rows": n, "ferry_s": tf, "psql_copy_s": tp, "ferry_rows_per_s": n / mf,
                             "psql_rows_per_s": n / mp, "ratio": mp / mf}},
          open("build/bench/postgres.json", "w"), indent=1)
PY
stop_pg
