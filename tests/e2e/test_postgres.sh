#!/usr/bin/env bash
# ferry.sink.postgres against a real PostgreSQL server the test starts on
# 127.0.0.1 (tests/e2e/pg.sh): creating and upserting, schema evolution and
# drift, rows a constraint refuses quarantined while the rest loads (found
# without a statement per row), a server restart in the middle of a run
# (nothing lost or doubled), dry runs, grants, and the password kept out of
# every output, log and file.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh
. tests/e2e/pg.sh

if why=$(pg_missing); then
    t "postgres sink"
    if [ -n "${FERRY_CI:-}" ]; then fail "$why (CI must run this test)"; done_t; exit 0; fi
    skip_t "$why"
    exit 0
fi
if ! start_pg; then
    t "postgres: a private server starts"; fail "could not start PostgreSQL (see above)"; done_t; exit 0
fi
export PG_PW=$PG_PASSWORD

config() {   # config [EXTRA]: databases.reporting with the password from PG_PW
    cat >"$WORK/ferry.lua" <<C
return { data_dir = "$WORK/data", script_dirs = { "$WORK" },
  databases = { reporting = { url = "$PG_URL", password_env = "PG_PW", reconnect = "${RECONNECT:-60s}" } },
  integrations = { ["*"] = { trusted = true, databases = { "reporting" } } },
  ${1:-} }
C
}
config
# integ NAME TABLE COLUMNS [EXTRA]: reads NAME.jsonl, loads into TABLE
integ() {
    script "$1" "return ferry.integration {
  name = \"$1\", owner = \"qa@example.com\", purpose = \"test\", pattern = \"reporting\",
  source_of_truth = \"fixture\", freshness = \"1h\", batch_size = ${BATCH:-500},
  extract = function(ctx)
    local f, n = assert(io.open(\"$1.jsonl\")), 0
    for line in f:lines() do
      n = n + 1
      if n > (${RESUME:-false} and ctx.cursor or 0) then ctx:emit(ferry.json.decode(line)) end
      if n % ${BATCH:-500} == 0 then ctx:checkpoint(n); ${PAUSE:-} end
    end
    f:close()
    ctx:checkpoint(n)
  end,
  load = ferry.sink.postgres { database = \"reporting\", table = \"$2\", columns = { $3 } },
  ${4:-}
}"
}
src() { printf '%s\n' "${@:2}" >"$WORK/$1.jsonl"; }
fr() { run_ferry run -c "$WORK/ferry.lua" "$@"; }
ACCOUNTS='{ "id", "text", key = true }, { "name", "text" }, { "arr", "numeric" }, { "seats", "integer" },
  { "active", "boolean" }, { "renews", "date" }, { "seen", "timestamp" }, { "score", "real" }, { "meta", "json" }'

t "first run creates the table from the columns and loads every row with its type; _synced_at, _run_id, ferry_freshness"
integ accounts accounts "$ACCOUNTS"
src accounts '{"id":"a1","name":"Acme","arr":1234.50,"seats":12,"active":true,"renews":"2027-01-31","seen":"2026-12-01T10:00:00Z","score":0.1,"meta":{"tier":"gold"}}' \
    '{"id":"a2","name":"Tab\there, line\nnext, back\\slash","arr":"99999999999999999.99","seats":null,"active":false}'
fr accounts.lua
expect_rc 0
expect_in "$out" "loaded 2"
expect_eq "$(psql_q "SELECT column_name || ' ' || data_type FROM information_schema.columns WHERE table_name = 'accounts' ORDER BY ordinal_position" | tr '\n' ',')" \
    "id text,name text,arr numeric,seats bigint,active boolean,renews date,seen timestamp with time zone,score double precision,meta jsonb,_synced_at timestamp with time zone,_run_id text,"
expect_eq "$(psql_q "SELECT id, arr, seats, active, renews, seen, score, meta->>'tier' FROM accounts WHERE id = 'a1'")" \
    "a1|1234.5|12|t|2027-01-31|2026-12-01 10:00:00+00|0.1|gold"
expect_eq "$(psql_q "SELECT name = E'Tab\there, line\nnext, back\\\\slash', arr, seats IS NULL, active FROM accounts WHERE id = 'a2'")" \
    "t|99999999999999999.99|t|f" "text with tabs, newlines and backslashes, and an exact numeric, arrive as sent"
run_id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])' <<<"$(cd "$WORK" && "$FERRY" runs accounts -c "$WORK/ferry.lua" --json --limit 1)")
expect_eq "$(psql_q "SELECT count(*) FROM accounts WHERE _run_id = '$run_id' AND _synced_at > now() - interval '1 hour'")" "2"
expect_eq "$(psql_q "SELECT integration, last_good_run, status FROM ferry_freshness")" "accounts|$run_id|ok"

t "upsert by key: changed rows updated, none doubled; a key twice in a batch keeps the last"
src accounts '{"id":"a1","name":"Acme Corp","arr":2000,"seats":15,"active":true}' \
    '{"id":"a3","name":"New","arr":1}' '{"id":"a3","name":"Newer","arr":2}'
fr accounts.lua
expect_rc 0
expect_eq "$(psql_q "SELECT id, name, arr, seats FROM accounts WHERE id <> 'a2' ORDER BY id" | tr '\n' ' ')" \
    "a1|Acme Corp|2000|15 a3|Newer|2| "
expect_eq "$(psql_q "SELECT arr FROM accounts WHERE id = 'a2'")" "99999999999999999.99" "a row not in the batch is left as it was"
expect_eq "$(psql_q "SELECT count(*), count(DISTINCT id) FROM accounts")" "3|3"

t "a run that loads nothing (suspect: 0 records) still writes its ferry_freshness row"
integ quiet accounts "$ACCOUNTS"
: >"$WORK/quiet.jsonl"
fr quiet.lua
expect_rc 4
expect_in "$out" "loaded 0"
quiet_run=$(python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])' <<<"$(cd "$WORK" && "$FERRY" runs quiet -c "$WORK/ferry.lua" --json --limit 1)")
expect_eq "$(psql_q "SELECT run_id, status FROM ferry_freshness WHERE integration = 'quiet'")" "$quiet_run|suspect" \
    "a suspect empty run shows in the database"

t "a newly declared column is added (ALTER TABLE ADD COLUMN) and filled"
integ accounts accounts "$ACCOUNTS, { \"region\", \"text\" }"
src accounts '{"id":"a1","name":"Acme Corp","arr":2000,"region":"EMEA"}'
fr accounts.lua
expect_rc 0
expect_eq "$(psql_q "SELECT region FROM accounts WHERE id = 'a1'")" "EMEA"
expect_eq "$(psql_q "SELECT count(*) FROM accounts WHERE region IS NULL")" "2" "the other rows keep NULL"

t "a declared type the column cannot hold is schema_drift naming the column: the run fails, nothing quarantined"
integ accounts accounts "{ \"id\", \"text\", key = true }, { \"seats\", \"boolean\" }"
src accounts '{"id":"a1","seats":true}'
fr accounts.lua
expect_rc 1
expect_in "$out$err" "schema_drift"
expect_in "$out$err" "column seats is bigint in the database but declared boolean"
expect_eq "$(psql_q "SELECT name, region FROM accounts WHERE id = 'a1'")" "Acme Corp|EMEA" "nothing written"
expect_eq "$(sqlite3 "$WORK/data/ferry.db" "SELECT count(*) FROM quarantine WHERE integration = 'accounts'")" "0"

t "rows a constraint refuses (NOT NULL, CHECK, foreign key, enum, bad value) are quarantined with the database's message; the rest load"
psql_q "CREATE TYPE plan AS ENUM ('free', 'pro', 'enterprise');
  CREATE TABLE regions (code text PRIMARY KEY); INSERT INTO regions VALUES ('emea'), ('amer');
  CREATE TABLE subs (id bigint PRIMARY KEY, owner text NOT NULL, seats integer CHECK (seats > 0),
                     region text REFERENCES regions(code), plan plan);
  ALTER TABLE subs OWNER TO ferry; GRANT ALL ON regions TO ferry;" >/dev/null
psql_q "ALTER DATABASE reporting SET log_statement = 'all'" >/dev/null
BATCH=1000 integ subs subs '{ "id", "integer", key = true }, { "owner", "text" }, { "seats", "integer" }, { "region", "text" }, { "plan", "text" }'
python3 - "$WORK/subs.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(1, 1001):
        r = {"id": i, "owner": "o%d@example.com" % i, "seats": 1 + i % 50, "region": ["emea", "amer"][i % 2], "plan": "pro"}
        if i == 101: r["owner"] = None                 # NOT NULL
        if i == 402: r["seats"] = 0                    # CHECK
        if i == 650: r["region"] = "apac"              # foreign key
        if i == 777: r["plan"] = "gold"                # enum
        if i == 901: r["seats"] = "many"               # not an integer
        f.write(json.dumps(r) + "\n")
PY
log_before=$(grep -c 'INSERT INTO "subs"' "$PG_DIR/server.log")
fr subs.lua
expect_rc 3
expect_in "$out" "loaded 995"
expect_in "$out" "quarantined 5"
expect_eq "$(psql_q "SELECT count(*) FROM subs")" "995"
q=$(cd "$WORK" && "$FERRY" quarantine list subs -c "$WORK/ferry.lua" --json)
reasons=$(python3 -c 'import json,sys; print("\n".join("%s %s %s" % (json.loads(r["record"])["id"] if isinstance(r["record"], str) else r["record"]["id"], r["class"], r["reason"]) for r in json.load(sys.stdin)))' <<<"$q" 2>&1)
expect_in "$reasons" '101 validation null value in column "owner" of relation "subs" violates not-null constraint'
expect_in "$reasons" '402 validation new row for relation "subs" violates check constraint "subs_seats_check"'
expect_in "$reasons" '650 validation insert or update on table "subs" violates foreign key constraint "subs_region_fkey"'
expect_in "$reasons" 'Key (region)=(apac) is not present in table "regions".'
expect_in "$reasons" '777 validation invalid input value for enum plan: "gold"'
expect_in "$reasons" '901 validation invalid input syntax for type integer: "many"'
inserts=$(( $(grep -c 'INSERT INTO "subs"' "$PG_DIR/server.log") - log_before ))
[ "$inserts" -gt 5 ] && [ "$inserts" -lt 200 ] || fail "expected the bad rows found by splitting the batch (about 2·5·log2(1000) statements, not one per row), got $inserts INSERT statements"
psql_q "ALTER DATABASE reporting RESET log_statement" >/dev/null

t "a quarantined row fixed at the source loads on replay"
psql_q "INSERT INTO regions VALUES ('apac')" >/dev/null
id=$(python3 -c 'import json,sys; print([r["id"] for r in json.load(sys.stdin) if "foreign key" in r["reason"]][0])' <<<"$q")
run_ferry quarantine replay "$id" -c "$WORK/ferry.lua"
expect_rc 0
expect_eq "$(psql_q "SELECT region FROM subs WHERE id = 650")" "apac"

t "the server restarts in the middle of a run: the batch is retried, nothing lost or doubled"
RESUME=true BATCH=200 PAUSE='ferry.sleep(0.25)' integ big big '{ "id", "integer", key = true }, { "v", "text" }'
python3 -c 'import json
with open("'"$WORK"'/big.jsonl", "w") as f:
    [f.write(json.dumps({"id": i, "v": "row %d" % i}) + "\n") for i in range(1, 4001)]'
(cd "$WORK" && "$FERRY" run -c "$WORK/ferry.lua" big.lua >"$WORK/big.out" 2>"$WORK/big.err") &
runpid=$!
wait_until 30 "[ \"\$(psql_q 'SELECT count(*) FROM big' 2>/dev/null)\" -ge 600 ] 2>/dev/null" || fail "the run did not start loading"
restart_pg || fail "restart failed"
wait "$runpid"; rc=$?
out=$(cat "$WORK/big.out"); err=$(cat "$WORK/big.err")
expect_rc 0
expect_eq "$(psql_q "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM big")" "4000|4000|1|4000"
expect_in "$(cat "$WORK/big.out")" "loaded 4000"

t "the server down past databases.reconnect: the run fails transient; the next run loads what it did not"
RECONNECT=1s config
src accounts '{"id":"a9","name":"While down"}'
integ accounts accounts "$ACCOUNTS, { \"region\", \"text\" }"
stop_pg
fr accounts.lua
expect_rc 1
expect_in "$out$err" "transient"
expect_in "$out$err" "PostgreSQL database reporting: cannot connect"
expect_in "$out" "not loaded 1"
expect_eq "$(sqlite3 "$WORK/data/ferry.db" "SELECT count(*) FROM quarantine WHERE integration = 'accounts'")" "0" "the records are not quarantined: the next run reads them again"
_pg_start
config
fr accounts.lua
expect_rc 0
expect_eq "$(psql_q "SELECT name FROM accounts WHERE id = 'a9'")" "While down"

t "--dry-run: creates, updates with before -> after, unchanged; nothing written"
src accounts '{"id":"a1","name":"Acme Corp","arr":2500,"seats":15,"active":true,"region":"EMEA"}' '{"id":"a9","name":"While down"}' '{"id":"a10","name":"Fresh"}'
before=$(psql_q "SELECT id, name, arr FROM accounts ORDER BY id")
fr --dry-run accounts.lua
expect_rc 0
expect_in "$out" "load (postgres reporting, table accounts): would create 1 · update 1 · leave unchanged 1"
expect_in "$out" '"a1": arr 2000 -> 2500'
expect_eq "$(psql_q "SELECT id, name, arr FROM accounts ORDER BY id")" "$before" "nothing written"

t "a script not granted the database is refused, naming the grant to add"
cat >"$WORK/ungranted.lua" <<C
return { data_dir = "$WORK/data", script_dirs = { "$WORK" },
  databases = { reporting = { url = "$PG_URL", password_env = "PG_PW" } },
  integrations = { ["*"] = { trusted = true } } }
C
run_ferry run -c "$WORK/ungranted.lua" accounts.lua
expect_rc 1
expect_in "$out$err" 'may not load into database "reporting": grant it in the config (integrations["accounts"].databases = { "reporting" })'
expect_in "$out" "paused: permission errors pause accounts"
run_ferry resume accounts -c "$WORK/ferry.lua"
expect_rc 0

t "ferry check: a sink naming a database the config lacks; a url holding a password is a config error"
integ nodb accounts "$ACCOUNTS" | true
sed -i 's/database = "reporting"/database = "warehouse"/' "$WORK/nodb.lua"
run_ferry check -c "$WORK/ferry.lua" nodb.lua
expect_rc 1
expect_in "$out$err" 'no database "warehouse" in the config'
cat >"$WORK/pwurl.lua" <<C
return { databases = { reporting = { url = "postgresql://ferry:hunter22@127.0.0.1:$PG_PORT/reporting" } } }
C
run_ferry check -c "$WORK/pwurl.lua" accounts.lua
expect_rc 2
expect_in "$out$err" 'databases["reporting"].url: holds a password; put it in an environment variable and name that in password_env'
expect_not_in "$out$err" "hunter22"
cat >"$WORK/badcfg.lua" <<C
return { databases = { reporting = { url = "postgresql://[bad", passwd_env = "X", reconnect = "soon" }, other = { password_env = "Y" } } }
C
run_ferry check -c "$WORK/badcfg.lua" accounts.lua
expect_rc 2
expect_in "$out$err" 'databases["reporting"].url: not a PostgreSQL connection string'
expect_in "$out$err" "unknown key 'databases[\"reporting\"].passwd_env' (known keys: url, password_env, reconnect)"
expect_in "$out$err" 'databases["reporting"].reconnect: expected a duration like "60s"'
expect_in "$out$err" 'databases["other"].url: missing'

t "ferry.sink.reporting: SQLite reporting.db without a database in the config, PostgreSQL once configured; reporting_db for a view"
cat >"$WORK/rep.lua" <<'S'
return ferry.integration {
  name = "rep", owner = "qa@example.com", purpose = "test", pattern = "reporting", source_of_truth = "fixture",
  freshness = "1h",
  extract = function(ctx)
    ctx:emit({ id = "r1", hours = 7.5 })
    ctx:emit({ id = "r2", hours = 2 })
    local db = ferry.sink.reporting_db()
    db.exec("CREATE TABLE IF NOT EXISTS hours (id text PRIMARY KEY, hours real, _synced_at text, _run_id text)")
    db.exec("DROP VIEW IF EXISTS total_hours")
    db.exec("CREATE VIEW total_hours AS SELECT sum(hours) AS total, '" .. db.kind .. "' AS kind FROM hours")
  end,
  load = ferry.sink.reporting { table = "hours", columns = { { "id", "text", key = true }, { "hours", "real" } } },
}
S
cat >"$WORK/sqlite-only.lua" <<C
return { data_dir = "$WORK/data", script_dirs = { "$WORK" }, integrations = { ["*"] = { trusted = true } } }
C
run_ferry run -c "$WORK/sqlite-only.lua" rep.lua
expect_rc 0
expect_eq "$(sqlite3 "$WORK/data/reporting.db" "SELECT total, kind FROM total_hours")" "9.5|sqlite"
fr rep.lua
expect_rc 0
expect_eq "$(psql_q "SELECT total, kind FROM total_hours")" "9.5|postgres"

t "a wrong password is class auth; the password appears in no output, log, store or file"
PG_PW=wrong-password-3f9a fr accounts.lua
expect_rc 1
expect_in "$out$err" "auth"
expect_in "$out$err" 'password authentication failed for user "ferry"'
expect_not_in "$out$err" "wrong-password-3f9a"
all=$(cat "$WORK"/out.* "$WORK"/err.* "$WORK/big.out" "$WORK/big.err" 2>/dev/null)
expect_not_in "$all" "$PG_PASSWORD"
grep -rlaF -e "$PG_PASSWORD" -e "wrong-password-3f9a" "$WORK/data" >/dev/null && fail "a password is in the data directory"
expect_eq "$(psql_q "SELECT count(*) FROM ferry_freshness WHERE last_good_run LIKE '%$PG_PASSWORD%'")" "0"
done_t
