#!/usr/bin/env bash
# End-to-end: schema migrations of the durable store, and the quarantine at
# scale. A schema-1 store made by ferry b6b32f8 (tests/fixtures/store-v1.sql)
# is opened by this ferry: `ferry status` or `ferry run` moves it to schema 4
# (the quarantine table, the application_id, the quarantine's last_failed_at),
# keeps every old row, and a run resumes from the old checkpoint. A schema-3
# store with resolved, discarded and open records (tests/fixtures/store-v3.sql)
# gets last_failed_at from what it kept. Then a store with 1,000,000 quarantined rows (seeded with
# sqlite3) is listed page by page with `ferry quarantine list`, checked
# against the same rows queried with sqlite3. Listing times are printed as
# "# note" lines, never asserted.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

FIXTURE="$ROOT/tests/fixtures/store-v1.sql"
SCHEMA=8                 # the store's current version: 8 added runs.findings and written (field ownership)
FIXTURE3="$ROOT/tests/fixtures/store-v3.sql"
# the real interpreter (a pyenv shim costs ~0.4 s per call)
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || echo python3)

# jpy JSON EXPR: evaluates a Python expression over J, the parsed JSON text.
jpy() {
    "$PY" -c 'import json, sys
J = json.loads(sys.argv[1])
print(eval(sys.argv[2]))' "$1" "$2" 2>&1
}
# integ NAME BODY: writes $WORK/NAME.lua, an integration called NAME.
integ() {
    script "$1" "return ferry.integration {
  name = \"$1\", owner = \"qa@example.com\", purpose = \"test\", pattern = \"reporting\",
  source_of_truth = \"fixture\", freshness = \"1h\",
$2
}"
}

# cfg NAME DIR: writes $WORK/NAME.lua, a configuration with data_dir DIR.
cfg() { printf 'return { integrations = { ["*"] = { trusted = true } }, data_dir = "%s" }\n' "$2" >"$WORK/$1.lua"; }

# load_v1 DIR: a fresh DIR holding the schema-1 store of the fixture.
load_v1() {
    rm -rf "$1"; mkdir -p "$1"
    sqlite3 -batch "$1/ferry.db" <"$FIXTURE" >/dev/null 2>&1 || fail "cannot load $FIXTURE into $1"
}

nlines() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }
# words TEXT: the words of TEXT on one line
words() { tr -s ' \n' '  ' <<<"$1" | sed 's/^ //; s/ $//'; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
secs_of() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
note() { echo "# note: $*"; }

# The reference: the fixture loaded as it is, never opened by ferry.
REF="$WORK/ref.db"
sqlite3 -batch "$REF" <"$FIXTURE" >/dev/null 2>&1
# v1_cols TABLE: the schema-1 columns of TABLE, comma separated
v1_cols() { sql "$REF" "SELECT group_concat(name, ', ') FROM pragma_table_info('$1')"; }
# missing_v1 DB TABLE [WHERE]: how many fixture rows of TABLE (WHERE) are not in DB
# unchanged, column for column (only the schema-1 columns are compared)
missing_v1() {
    local c; c=$(v1_cols "$2")
    sqlite3 -batch "$1" "ATTACH '$REF' AS ref;
        SELECT count(*) FROM (SELECT $c FROM ref.$2 ${3:+WHERE $3} EXCEPT SELECT $c FROM main.$2)" 2>&1
}
# expect_v1_kept DB [TABLES...]: every fixture row of TABLES is still in DB, unchanged
expect_v1_kept() {
    local db=$1 t m; shift
    for t in "$@"; do
        m=$(missing_v1 "$db" "$t")
        expect_eq "$m" "0" "fixture rows of $t missing or changed after the migration"
    done
}
# expect_schema DB: DB is at schema $SCHEMA with the quarantine table, its
# columns and indexes for listing by (status, id) and (status, integration, id)
expect_schema() {
    local db=$1 c have idx
    expect_eq "$(sql "$db" 'PRAGMA user_version')" "$SCHEMA" "user_version"
    expect_eq "$(sql "$db" "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'events'")" "1" \
        "the webhook inbox (events) table"
    expect_eq "$(sql "$db" "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'written'")" "1" \
        "what ferry wrote of the fields it owns (written)"
    expect_eq "$(sql "$db" "SELECT count(*) FROM pragma_table_info('runs') WHERE name = 'findings'")" "1" \
        "runs.findings"
    expect_eq "$(sql "$db" "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'quarantine'")" "1" \
        "quarantine table (tables: $(sql "$db" "SELECT group_concat(name, ' ') FROM sqlite_master WHERE type = 'table'"))"
    have=" $(sql "$db" "SELECT group_concat(name, ' ') FROM pragma_table_info('quarantine')") "
    for c in id integration fingerprint status stage class reason record output attempts script_version \
             first_run last_run created_at updated_at resolved_at resolved_run discarded_at discard_reason \
             last_failed_at; do
        [[ "$have" == *" $c "* ]] || fail "quarantine has no column $c (columns:$have)"
    done
    # each index as "name:col,col,..."
    idx=$(sql "$db" "SELECT il.name || ':' || (SELECT group_concat(name, ',') FROM pragma_index_info(il.name))
                     FROM pragma_index_list('quarantine') AS il")
    grep -qE ':status,id$' <<<"$idx" || fail "no index on quarantine (status, id): $(words "$idx")"
    grep -qE ':status,integration,id$' <<<"$idx" || fail "no index on quarantine (status, integration, id): $(words "$idx")"
    grep -qE ':integration,fingerprint$' <<<"$idx" || fail "no unique index on quarantine (integration, fingerprint): $(words "$idx")"
}

# What the fixture holds (see its header): orders ran twice (ok, then
# partial with a checkpoint 8 and ctx.state last_id = 8), contacts once.
R_ORDERS_OK=$(sql "$REF" "SELECT id FROM runs WHERE integration = 'orders' AND status = 'ok'")
R_ORDERS_PARTIAL=$(sql "$REF" "SELECT id FROM runs WHERE integration = 'orders' AND status = 'partial'")
R_CONTACTS=$(sql "$REF" "SELECT id FROM runs WHERE integration = 'contacts'")

# orders: the fixture's integration, now also logging what it sees. Emits
# ids cursor+1 .. $UNTIL, checkpoints $UNTIL; 7 and 11 are bad records.
integ orders '
  extract = function(ctx)
    local f = assert(io.open("orders.log", "a"))
    f:write("cursor=", tostring(ctx.cursor), " last_id=", tostring(ctx.state:get("last_id")), "\n")
    f:close()
    local untl = tonumber(os.getenv("UNTIL") or "10")
    for i = (ctx.cursor or 0) + 1, untl do ctx:emit({ id = i }) end
    ctx:checkpoint(untl)
  end,
  transform = function(r, ctx)
    if r.id == 7 or r.id == 11 then return nil, "order " .. r.id .. " has no customer" end
    ctx.state:set("last_id", r.id)
    return r
  end,
  load = function(batch)
    local f = assert(io.open("orders.txt", "a"))
    for _, r in ipairs(batch) do f:write(r.id, "\n") end
    f:close()
  end,'

# ---------------------------------------------------------------------------
# 1. Schema 1 -> 2
t "fixture: store-v1.sql loads as a schema-1 store with 3 runs, 1 checkpoint, 2 state values"
expect_eq "$(sql "$REF" 'PRAGMA user_version')" "1"
expect_eq "$(sql "$REF" "SELECT (SELECT count(*) FROM runs) || ' ' || (SELECT count(*) FROM checkpoints) || ' '
                          || (SELECT count(*) FROM state) || ' ' || (SELECT count(*) FROM integrations)")" "3 1 2 2"
expect_eq "$(sql "$REF" "SELECT count(*) FROM sqlite_master WHERE name = 'quarantine'")" "0"

t "migrate by 'ferry status': user_version $SCHEMA, the quarantine table, every schema-1 row kept"
D1="$WORK/data"
DB1="$D1/ferry.db"
load_v1 "$D1"
run_ferry status
expect_rc 0
expect_in "$out" "orders"
expect_in "$out" "contacts"
grep -qE '^orders +partial ' <<<"$out" || fail "status line of orders: $(grep -m1 '^orders' <<<"$out")"
grep -qE '^contacts +ok ' <<<"$out" || fail "status line of contacts: $(grep -m1 '^contacts' <<<"$out")"
expect_schema "$DB1"
expect_v1_kept "$DB1" integrations runs checkpoints state
expect_eq "$(sql "$DB1" "SELECT (SELECT count(*) FROM runs) || ' ' || (SELECT count(*) FROM checkpoints) || ' '
                          || (SELECT count(*) FROM state) || ' ' || (SELECT count(*) FROM quarantine)")" "3 1 2 0" \
    "runs, checkpoints, state, quarantine rows"
expect_eq "$(sql "$DB1" "SELECT cursor || ' ' || run_id FROM checkpoints WHERE integration = 'orders'")" "8 $R_ORDERS_PARTIAL"
expect_eq "$(sql "$DB1" "SELECT value FROM state WHERE integration = 'contacts' AND key = 'etag'")" '{"etag":"W/abc","pages":2}'
expect_eq "$(sql "$DB1" "SELECT status || ' ' || quarantined || ' ' || by_class FROM runs WHERE id = '$R_ORDERS_PARTIAL'")" \
    'partial 1 {"validation":1}'

t "migrated by status: 'ferry runs' and 'ferry status --json' still show the old runs and checkpoint; the quarantine is empty"
run_ferry runs orders
expect_rc 0
grep -qE "^$R_ORDERS_PARTIAL +partial .* 3 +2 +1 +0 " <<<"$out" || fail "partial run row: $out"
grep -qE "^$R_ORDERS_OK +ok .* 5 +5 +0 +0" <<<"$out" || fail "ok run row: $out"
run_ferry runs orders --json
expect_rc 0
expect_eq "$(jpy "$out" '[(r["id"], r["status"], r["checkpoint"]) for r in J]')" \
    "[('$R_ORDERS_PARTIAL', 'partial', 8), ('$R_ORDERS_OK', 'ok', 5)]"
run_ferry status --json
expect_rc 0
expect_eq "$(jpy "$out" '[(r["name"], r["last_status"], r["last_run"], r["checkpoint"], r.get("quarantine_open")) for r in J if r["name"] in ("orders", "contacts")]')" \
    "[('contacts', 'ok', '$R_CONTACTS', None, 0), ('orders', 'partial', '$R_ORDERS_PARTIAL', 8, 0)]"
run_ferry quarantine list --json
expect_rc 0
expect_eq "$(jpy "$out" 'J')" "[]" "the quarantine of a migrated store"
run_ferry status
expect_rc 0
expect_eq "$(sql "$DB1" 'PRAGMA user_version')" "$SCHEMA" "after a second status"

t "migrate by 'ferry run': the run resumes from the old checkpoint and state, old rows kept, new bad record quarantined"
D2="$WORK/rundata"
DB2="$D2/ferry.db"
cfg run_cfg "$D2"
load_v1 "$D2"
rm -f "$WORK/orders.log" "$WORK/orders.txt"
UNTIL=12 run_ferry run -c run_cfg.lua orders.lua
expect_rc 3
expect_in "$out" "PARTIAL"
expect_eq "$(cat "$WORK/orders.log" 2>/dev/null)" "cursor=8 last_id=8" "what extract saw"
expect_eq "$(words "$(cat "$WORK/orders.txt" 2>/dev/null)")" "9 10 12" "records loaded"
expect_schema "$DB2"
expect_v1_kept "$DB2" runs
expect_eq "$(missing_v1 "$DB2" state "integration = 'contacts'")" "0" "the contacts rows of state"
expect_eq "$(missing_v1 "$DB2" integrations "name = 'contacts'")" "0" "the contacts row of integrations"
expect_eq "$(sql "$DB2" "SELECT count(*) FROM runs")" "4"
expect_eq "$(sql "$DB2" "SELECT cursor FROM checkpoints WHERE integration = 'orders'")" "12"
expect_eq "$(sql "$DB2" "SELECT value FROM state WHERE integration = 'orders' AND key = 'last_id'")" "12"
expect_eq "$(sql "$DB2" "SELECT value FROM state WHERE integration = 'contacts' AND key = 'etag'")" '{"etag":"W/abc","pages":2}'
expect_eq "$(sql "$DB2" "SELECT integration || '|' || status || '|' || stage || '|' || class || '|' || reason || '|' || attempts
                         FROM quarantine")" "orders|open|transform|validation|order 11 has no customer|1" "quarantine rows"
expect_eq "$(sql "$DB2" "SELECT json_extract(record, '\$.id') FROM quarantine")" "11" "the quarantined record"
run_ferry runs -c run_cfg.lua orders --json
expect_rc 0
expect_eq "$(jpy "$out" '[(r["status"], r["checkpoint"]) for r in J]')" "[('partial', 12), ('partial', 8), ('ok', 5)]"
expect_eq "$(jpy "$out" '[r["id"] for r in J][1:]')" "['$R_ORDERS_PARTIAL', '$R_ORDERS_OK']"

t "migrated by run: the next run goes on from the new checkpoint; quarantine list shows the new record"
UNTIL=14 run_ferry run -c run_cfg.lua orders.lua
expect_rc 0
expect_eq "$(tail -1 "$WORK/orders.log")" "cursor=12 last_id=12"
expect_eq "$(words "$(cat "$WORK/orders.txt")")" "9 10 12 13 14"
run_ferry quarantine list -c run_cfg.lua orders
expect_rc 0
Q11=$(sql "$DB2" "SELECT id FROM quarantine WHERE integration = 'orders'")
grep -qE "^ *$Q11 " <<<"$out" || fail "record $Q11 not listed: $out"
expect_in "$out" "1 of 1"
run_ferry status -c run_cfg.lua --json
expect_rc 0
expect_eq "$(jpy "$out" '[(r["name"], r.get("quarantine_open")) for r in J]')" "[('contacts', 0), ('orders', 1)]"

t "migrate by 'ferry quarantine list': a schema-1 store lists as empty and is at schema $SCHEMA after"
D3="$WORK/listdata"
cfg list_cfg "$D3"
load_v1 "$D3"
run_ferry quarantine list -c list_cfg.lua orders
expect_rc 0
expect_in "$out" "(no "
expect_schema "$D3/ferry.db"
expect_v1_kept "$D3/ferry.db" integrations runs checkpoints state

t "a migration that cannot apply exits 2, leaves the store at schema 1 and runs nothing"
D4="$WORK/baddata"
cfg bad_cfg "$D4"
load_v1 "$D4"
# a table of that name already there makes the 1 -> 2 step fail
sql "$D4/ferry.db" "CREATE TABLE quarantine (x TEXT); INSERT INTO quarantine VALUES ('mine')" >/dev/null
rm -f "$WORK/orders.log"
UNTIL=12 run_ferry run -c bad_cfg.lua orders.lua
expect_rc 2
expect_in "$err" "schema 2"
expect_eq "$(nlines "$WORK/orders.log")" "0" "the script ran against a store it could not migrate"
expect_eq "$(sql "$D4/ferry.db" 'PRAGMA user_version')" "1"
expect_eq "$(sql "$D4/ferry.db" "SELECT group_concat(name) FROM pragma_table_info('quarantine')") $(sql "$D4/ferry.db" 'SELECT x FROM quarantine')" "x mine"
expect_v1_kept "$D4/ferry.db" integrations runs checkpoints state
run_ferry status -c bad_cfg.lua
expect_rc 2
expect_in "$err" "schema 2"

t "a schema-1 store opened by 'ferry status' and 'ferry run' at the same moment migrates once (6 tries)"
cfg race_cfg "$WORK/racedata"
bad_tries=""
for i in $(seq 1 6); do
    load_v1 "$WORK/racedata"
    (cd "$WORK" && exec "$FERRY" status -c race_cfg.lua) >"$WORK/race_s.out" 2>&1 &
    sp=$!
    (cd "$WORK" && UNTIL=9 exec "$FERRY" run -c race_cfg.lua orders.lua) >"$WORK/race_r.out" 2>&1
    rrc=$?
    wait "$sp"; src=$?
    v=$(sql "$WORK/racedata/ferry.db" 'PRAGMA user_version')
    n=$(sql "$WORK/racedata/ferry.db" 'SELECT count(*) FROM runs')
    if [ "$rrc" -ne 0 ] || [ "$src" -ne 0 ] || [ "$v" != "$SCHEMA" ] || [ "$n" != 4 ]; then
        bad_tries="$bad_tries #$i(run $rrc, status $src, version $v, runs $n: $(grep -hm1 '^ferry' "$WORK/race_r.out" "$WORK/race_s.out"))"
    fi
done
[ -z "$bad_tries" ] || fail "failed tries:${bad_tries:0:400}"

# ---------------------------------------------------------------------------
# 1b. Schema 3 -> 4: when a quarantined record last failed
t "migrate a schema-3 store: last_failed_at is updated_at for open rows, the end of the last failing run for others"
D5="$WORK/v3data"
cfg v3_cfg "$D5"
rm -rf "$D5"; mkdir -p "$D5"
sqlite3 -batch "$D5/ferry.db" <"$FIXTURE3" >/dev/null 2>&1 || fail "cannot load $FIXTURE3"
expect_eq "$(sql "$D5/ferry.db" 'PRAGMA user_version')" "3" "the fixture's schema"
before=$(sql "$D5/ferry.db" "SELECT id, status, updated_at, last_run FROM quarantine ORDER BY id")
run_ferry quarantine show -c v3_cfg.lua 1
expect_rc 0
expect_schema "$D5/ferry.db"
expect_eq "$(sql "$D5/ferry.db" "SELECT id, status, updated_at, last_run FROM quarantine ORDER BY id")" "$before" \
    "the schema-3 columns of the quarantine"
# row 1 last failed in replay run 66a15e (ended 22:33:51.834Z) and was resolved
# at 22:33:53.083Z; row 2 failed in run 5a3634 (ended 22:33:50.612Z) and was
# discarded at 22:33:54.304Z; row 3 is open, failed at 22:33:50.605Z.
expect_eq "$(words "$(sql "$D5/ferry.db" "SELECT id || '=' || last_failed_at FROM quarantine ORDER BY id")")" \
    "1=2026-12-04T22:33:51.834Z 2=2026-12-04T22:33:50.612Z 3=2026-12-04T22:33:50.605Z"
expect_in "$out" "last failed  2026-12-04T22:33:51.834Z (run 20261204T223351Z-66a15e"
expect_in "$out" "resolved     2026-12-04T22:33:53.083Z (run 20261204T223353Z-452b8b)"
run_ferry quarantine show -c v3_cfg.lua 2
expect_in "$out" "last failed  2026-12-04T22:33:50.612Z (run 20261204T223350Z-5a3634"
expect_in "$out" "discarded    2026-12-04T22:33:54.304Z: not ours"

# ---------------------------------------------------------------------------
# 2. The quarantine with 1,000,000 rows
#
# alpha: ids not divisible by 3 (666,667), beta: the others (333,333).
# status: id % 10 = 3 resolved, 7 discarded, else open (80 %).
# class: every 50,000th (id % 50000 = 1) schema_drift, else by id % 7:
# 0-3 validation, 4-5 lookup_missing, 6 picklist_drift.
rm -rf "$WORK/data"
BIG="$WORK/data/ferry.db"
N=1000000
SEED="PRAGMA synchronous = OFF;
PRAGMA cache_size = -500000;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $N)
INSERT INTO quarantine (id, integration, fingerprint, status, stage, class, reason, record,
                        attempts, script_version, first_run, last_run, created_at, updated_at)
SELECT i, CASE WHEN i % 3 = 0 THEN 'beta' ELSE 'alpha' END, printf('fp%07d', i),
       CASE i % 10 WHEN 3 THEN 'resolved' WHEN 7 THEN 'discarded' ELSE 'open' END,
       CASE i % 3 WHEN 0 THEN 'extract' WHEN 1 THEN 'transform' ELSE 'load' END,
       CASE WHEN i % 50000 = 1 THEN 'schema_drift' WHEN i % 7 < 4 THEN 'validation'
            WHEN i % 7 < 6 THEN 'lookup_missing' ELSE 'picklist_drift' END,
       'bad row ' || i, '{\"n\":' || i || '}', 1 + i % 4, 'seed', 'seed-run', 'seed-run',
       '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z'
FROM n;
COMMIT;"

# q_ids WHERE [LIMIT]: the ids the store has for WHERE, lowest first
q_ids() { words "$(sql "$BIG" "SELECT id FROM quarantine WHERE $1 ORDER BY id LIMIT ${2:-50}")"; }
q_count() { sql "$BIG" "SELECT count(*) FROM quarantine WHERE $1"; }

# qlist ARGS...: ferry quarantine list ARGS; sets $out, $rc, $page (the ids
# listed: the first column of the lines after the "ID" header, footer
# excluded) and $foot (the "N of TOTAL" line); notes the wall time.
qlist() {
    local t0; t0=$(date +%s%N)
    run_ferry quarantine list "$@"
    local ms; ms=$(ms_since "$t0")
    note "$(secs_of "$ms") s  ferry quarantine list $*"
    page=$(words "$(awk '/[0-9]+ of [0-9]+/ { next } hdr && $1 ~ /^[0-9]+$/ { print $1 } /^ *ID / { hdr = 1 }' <<<"$out")")
    foot=$(grep -E '[0-9]+ of [0-9]+' <<<"$out" | tail -1)
}

# expect_page WHERE AFTER LIMIT: $page is the LIMIT lowest ids above AFTER of
# the rows WHERE; the footer says "SHOWN of TOTAL" (all rows WHERE) and names
# "--after LAST" exactly when rows follow. (One sqlite3 call says what the
# store holds: "IDS|TOTAL|MORE".)
expect_page() {
    local where=$1 after=$2 limit=$3 want total more r
    r=$(sql "$BIG" "WITH p AS (SELECT id FROM quarantine WHERE $where AND id > $after ORDER BY id LIMIT $limit)
        SELECT coalesce((SELECT group_concat(id, ' ') FROM (SELECT id FROM p ORDER BY id)), '')
            || '|' || (SELECT count(*) FROM quarantine WHERE $where)
            || '|' || EXISTS (SELECT 1 FROM quarantine WHERE $where AND id > (SELECT coalesce(max(id), 9e18) FROM p))")
    IFS='|' read -r want total more <<<"$r"
    [[ "$total" =~ ^[0-9]+$ ]] || { fail "querying the store for '$where': $r"; return; }
    check_page "$want" "$total" "$more" "where $where, after $after, limit $limit"
}

# check_page IDS TOTAL MORE WHAT: the page listed is IDS, out of TOTAL; MORE
# is 1 when rows follow it
check_page() {
    local want=$1 total=$2 more=$3 what=$4 n last
    n=$(wc -w <<<"$want" | tr -d ' ')
    expect_rc 0
    [ "$n" -gt 0 ] && grep -qE '^ *ID' <<<"$out" || [ "$n" -eq 0 ] || fail "no header line starting with ID: ${out:0:200}"
    if [ "$page" != "$want" ]; then
        fail "listed ids differ from the store's ($what): got $(wc -w <<<"$page") ids '${page:0:120}...${page: -60}', want $n '${want:0:120}...${want: -60}'"
    fi
    if [ "$n" -gt 0 ] || [ -n "$foot" ]; then
        expect_in "$foot" "$n of $total"
    else
        # an empty page says so instead of "0 of TOTAL"
        expect_in "$out" "(no "
    fi
    last=${want##* }
    if [ "$more" = 1 ]; then
        expect_in "$foot" "--after $last"
    else
        expect_not_in "$out" "--after"
    fi
}
# next_after: the id the footer names for the next page
next_after() { grep -oE -- '--after [0-9]+' <<<"$foot" | awk '{ print $2 }'; }

# walk WHERE LIMIT ARGS...: lists ARGS, then runs the next-page command each
# footer names ("ferry quarantine list ... --after ID"; without one, ARGS
# --after ID) until the last page. Each page is checked like expect_page;
# together the pages must be exactly the rows WHERE (a few hundred at most).
walk() {
    local where=$1 limit=$2 seen="" after=0 pages=0 cmd all want rest; shift 2
    local args=("$@")
    all=$(q_ids "$where" 1000)
    while [ "$pages" -lt 20 ]; do
        qlist "${args[@]}"
        rest=$(tr ' ' '\n' <<<"$all" | awk -v a="$after" '$1 > a + 0')
        want=$(words "$(head -n "$limit" <<<"$rest")")
        check_page "$want" "$(wc -w <<<"$all" | tr -d ' ')" "$([ "$(wc -w <<<"$rest")" -gt "$limit" ] && echo 1 || echo 0)" \
            "page $((pages + 1)) of a walk through $where"
        seen="$seen $page" pages=$((pages + 1))
        after=$(next_after)
        [ -z "$after" ] && break
        cmd=$(sed -nE 's/.*ferry quarantine list( |$)//p' <<<"$foot")
        if [ -n "$cmd" ]; then read -ra args <<<"$cmd"; else args=("$@" --after "$after"); fi
    done
    expect_eq "$(words "$seen")" "$all" "all rows of '$where', page by page ($pages pages)"
}

ALPHA="integration = 'alpha' AND status = 'open'"
BETA="integration = 'beta' AND status = 'open'"

t "1,000,000 quarantined rows: a store made by ferry run, seeded with sqlite3"
integ alpha 'extract = function(ctx) ctx:emit({ id = 1 }) end, load = function(batch) end,'
integ beta 'extract = function(ctx) ctx:emit({ id = 1 }) end, load = function(batch) end,'
run_ferry run alpha.lua beta.lua
expect_rc 0
expect_eq "$(sql "$BIG" 'PRAGMA user_version')" "$SCHEMA"
t0=$(date +%s%N)
seed_err=$(sqlite3 -batch "$BIG" <<<"$SEED" 2>&1)
note "$(secs_of "$(ms_since "$t0")") s  seeding $N quarantine rows with sqlite3 ($(du -m "$BIG" | cut -f1) MB)"
[ -z "$seed_err" ] || fail "seeding: $seed_err"
expect_eq "$(sql "$BIG" "SELECT count(*) FROM quarantine")" "$N"
expect_eq "$(q_count "$ALPHA") $(q_count "$BETA")" "533334 266666" "open rows of alpha and beta"

t "list NAME: the first page is the 50 lowest open ids of NAME; footer '50 of TOTAL' and '--after LAST'"
qlist alpha
expect_page "$ALPHA" 0 50
p1=$page a=$(next_after)
first=${page%% *}
row=$(grep -E "^ *$first " <<<"$out" | head -1)
expect_in "$row" "$(sql "$BIG" "SELECT class FROM quarantine WHERE id = $first")"
qlist beta
expect_page "$BETA" 0 50

t "list NAME --after ID: the page the footer names follows on, without overlap; a page from the middle"
[ -n "$a" ] || fail "no '--after ID' in the first page's footer: $foot"
qlist alpha --after "${a:-0}"
expect_page "$ALPHA" "${a:-0}" 50
[ "${page%% *}" -gt "${p1##* }" ] 2>/dev/null || fail "page 2 starts at ${page%% *}, page 1 ended at ${p1##* }"
qlist alpha --after 500001
expect_page "$ALPHA" 500001 50

t "list NAME --after ID on the last page: the remaining 30 rows and no next-page hint; past the end: none"
x=$(sql "$BIG" "SELECT id FROM quarantine WHERE $ALPHA ORDER BY id DESC LIMIT 1 OFFSET 30")
qlist alpha --after "$x"
expect_page "$ALPHA" "$x" 50
expect_eq "$(wc -w <<<"$page" | tr -d ' ')" "30"
qlist alpha --after "$N"
expect_page "$ALPHA" "$N" 50
expect_eq "$page" ""
run_ferry quarantine list alpha --after "$N" --json
expect_rc 0
expect_eq "$(jpy "$out" 'J')" "[]"

t "list NAME --class C: only that class, its own total; a rare class paged through with --limit 7 by the footers"
qlist alpha --class picklist_drift
expect_page "$ALPHA AND class = 'picklist_drift'" 0 50
walk "$ALPHA AND class = 'schema_drift'" 7 alpha --class schema_drift --limit 7

t "list NAME --limit 1000: 1000 rows and the next page after the 1000th"
qlist alpha --limit 1000
expect_page "$ALPHA" 0 1000
qlist alpha --limit 1000 --after 999000
expect_page "$ALPHA" 999000 1000

t "list --json: an array of the page's records with the spec's fields; --after pages the same way"
t0=$(date +%s%N)
run_ferry quarantine list alpha --json --after 500001
note "$(secs_of "$(ms_since "$t0")") s  ferry quarantine list alpha --json --after 500001"
expect_rc 0
J=$out
expect_eq "$(jpy "$J" '" ".join(str(o["id"]) for o in J)')" "$(q_ids "$ALPHA AND id > 500001")"
expect_eq "$(jpy "$J" 'sorted(set(k for o in J for k in ("id", "integration", "status", "stage", "class", "reason", "attempts", "created_at", "updated_at", "record") if k not in o))')" "[]" "fields missing"
expect_eq "$(jpy "$J" 'set((o["integration"], o["status"]) for o in J)')" "{('alpha', 'open')}"
f=$(jpy "$J" 'J[0]["id"]')
expect_eq "$(jpy "$J" '"|".join(str(J[0][k]) for k in ("stage", "class", "reason", "attempts", "created_at"))')" \
    "$(sql "$BIG" "SELECT stage || '|' || class || '|' || reason || '|' || attempts || '|' || created_at FROM quarantine WHERE id = $f")"
# the record: the JSON object that was quarantined
expect_eq "$(jpy "$J" '[o["record"] == {"n": o["id"]} for o in J].count(False)')" "0" \
    "records not matching their ids: $(jpy "$J" 'J[0]["record"]')"

t "list --status all|resolved|discarded: those rows, totals of that status"
qlist alpha --status all
expect_page "integration = 'alpha'" 0 50
qlist beta --status resolved --after 900000
expect_page "integration = 'beta' AND status = 'resolved'" 900000 50
qlist alpha --status discarded
expect_page "integration = 'alpha' AND status = 'discarded'" 0 50
run_ferry quarantine list alpha --status all --json --after 777777
expect_rc 0
expect_eq "$(jpy "$out" '" ".join("%s:%s" % (o["id"], o["status"]) for o in J)')" \
    "$(words "$(sql "$BIG" "SELECT id || ':' || status FROM quarantine WHERE integration = 'alpha' AND id > 777777 ORDER BY id LIMIT 50")")"

t "list without NAME: open rows of every integration"
qlist
expect_page "status = 'open'" 0 50
qlist --after 999000 --limit 500
expect_page "status = 'open'" 999000 500
qlist --class lookup_missing --status discarded --after 333333
expect_page "status = 'discarded' AND class = 'lookup_missing'" 333333 50

t "following the footers' next-page commands pages through every row once (--status all, no NAME)"
walk "class = 'schema_drift'" 10 --status all --class schema_drift --limit 10

t "list: an integration with nothing quarantined lists no rows and exits 0; bad options exit 2"
sql "$BIG" "INSERT INTO integrations (name, seen_at) VALUES ('nobody', '2026-01-01T00:00:00Z')" >/dev/null
run_ferry quarantine list nobody
expect_rc 0
expect_eq "$(words "$(awk 'hdr && $1 ~ /^[0-9]+$/ && !/[0-9]+ of [0-9]+/ { print $1 } /^ *ID / { hdr = 1 }' <<<"$out")")" "" "rows of nobody"
run_ferry quarantine list alpha --status bogus
expect_rc 2
run_ferry quarantine list alpha --limit many
expect_rc 2
run_ferry quarantine list alpha --after x
expect_rc 2
run_ferry quarantine list alpha --limit 0
expect_rc 2
run_ferry quarantine list alpha beta
expect_rc 2

t "status: the open quarantine count of each integration, in text and --json"
t0=$(date +%s%N)
run_ferry status
note "$(secs_of "$(ms_since "$t0")") s  ferry status"
expect_rc 0
for name in alpha beta; do
    want=$(q_count "integration = '$name' AND status = 'open'")
    line=$(grep -E "^$name " <<<"$out" | head -1)
    expect_in "$line" " $want open"
done
run_ferry status --json
expect_rc 0
expect_eq "$(jpy "$out" '[(o["name"], o.get("quarantine_open")) for o in J if o["name"] in ("alpha", "beta")]')" \
    "[('alpha', $(q_count "$ALPHA")), ('beta', $(q_count "$BETA"))]" "quarantine_open in status --json"

t "quarantine show ID: a record near the end, with its integration, status, class, reason and record"
id=$(sql "$BIG" "SELECT max(id) FROM quarantine WHERE $ALPHA AND id < $N")
t0=$(date +%s%N)
run_ferry quarantine show "$id"
note "$(secs_of "$(ms_since "$t0")") s  ferry quarantine show $id"
expect_rc 0
expect_in "$out" "$id"
expect_in "$out" "alpha"
expect_in "$out" "open"
expect_in "$out" "$(sql "$BIG" "SELECT class FROM quarantine WHERE id = $id")"
expect_in "$out" "bad row $id"
grep -qE "\"n\": ?$id" <<<"$out" || fail "the record {\"n\":$id} is not shown: $out"
run_ferry quarantine show "$id" --json
expect_rc 0
expect_eq "$(jpy "$out" '(J["id"], J["integration"], J["status"], J["reason"], J["record"])')" "($id, 'alpha', 'open', 'bad row $id', {'n': $id})"
run_ferry quarantine show "$N"
expect_rc 0
expect_in "$out" "$(sql "$BIG" "SELECT integration FROM quarantine WHERE id = $N")"
expect_in "$out" "bad row $N"
run_ferry quarantine show $((N * 2))
[ "$rc" -ne 0 ] || fail "show of a missing id exited 0: $out"
expect_in "$err" "$((N * 2))"

t "list works while a run holds the data directory"
rm -f "$WORK/hold.release" "$WORK/hold.started"
integ hold '
  extract = function(ctx)
    local m = assert(io.open("hold.started", "w")); m:close()
    for _ = 1, 300 do
      local f = io.open("hold.release")
      if f then f:close(); break end
      ferry.sleep(0.1)
    end
    ctx:emit({ id = 1 })
  end,
  load = function(batch) end,'
(cd "$WORK" && exec "$FERRY" run hold.lua) >"$WORK/hold.log" 2>&1 &
holder=$!
for _ in $(seq 1 200); do [ -e "$WORK/hold.started" ] && break; sleep 0.1; done
[ -e "$WORK/hold.started" ] || fail "the holding run did not start: $(cat "$WORK/hold.log")"
qlist beta --after 500000
expect_page "$BETA" 500000 50
touch "$WORK/hold.release"
wait "$holder"
expect_eq "$?" "0" "exit status of the holding run ($(tail -3 "$WORK/hold.log"))"

done_t
