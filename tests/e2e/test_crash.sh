#!/usr/bin/env bash
# End-to-end: crash safety. A run loading 100,000 JSON-lines records into a
# SQLite table is killed with SIGKILL at random points, several times; each
# restart resumes from the committed checkpoint. At the end the table holds
# every good record exactly once, the quarantine holds exactly the bad ones
# (not JSON: extract; no email: transform; refused by the table: load) once
# each, and run history shows every killed run as aborted.
#
#   FERRY_CRASH_SEED  seed of the data and of the kill plan (default: random,
#                     printed as "# seed N" so a failure can be replayed)
#
# Nine ferry processes are killed. Six wait on what the store says (the run
# has committed a checkpoint of its own at or past a random line), then a
# random few milliseconds more, so they land anywhere in a batch, a load or a
# store commit, never close to the end of the run. One waits only for the
# run's row (often the run still skips the lines it had done); two come 0-40 ms
# after the process starts, before or after its run row exists. After each
# kill, everything up to the committed checkpoint must already be stored.
# While ferry is down the test reads the databases read-only (sqlite3
# -readonly), so the WAL the killed process left is the next start's to recover.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

# a process still running when the test stops (an error, ^C) is killed too
trap 'if [ -n "${bg:-}" ]; then kill -9 "$bg" 2>/dev/null; fi; rm -rf "$WORK"' EXIT
bg=""

DB="$WORK/data/ferry.db"
DEST="$WORK/data/dest.db"
NAME=crash
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || echo python3)
N=100000
SEED=${FERRY_CRASH_SEED:-$((RANDOM * 32768 + RANDOM))}
# 2.5% bad records: enough that most kills catch some on their way to the store
N_BAD_JSON=1000 N_BAD_TR=1000 N_BAD_LOAD=500
N_BAD=$((N_BAD_JSON + N_BAD_TR + N_BAD_LOAD))
echo "# seed $SEED, $N records (replay: FERRY_CRASH_SEED=$SEED bash tests/e2e/test_crash.sh)"

nlines() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }
# run id printed in the summary line "== NAME  run ID  STATUS"
run_id_of() { sed -nE "s/^== $1  run ([^ ]+)  .*/\1/p" <<<"$out" | head -1; }
# bg_ferry OUT ARGS...: starts ferry ARGS in the background from $WORK with
# stdout+stderr in OUT; sets $bg to ferry's own pid (exec, no subshell left).
bg_ferry() {
    local o=$1; shift
    (cd "$WORK" && exec "$FERRY" "$@") >"$o" 2>&1 &
    bg=$!
}
# rsql DB QUERY: a read-only query; prints nothing when DB does not exist yet.
rsql() { [ -e "$1" ] && sqlite3 -readonly -batch "$1" "$2" 2>&1; }
# cp_now: the committed checkpoint of $NAME (empty without one)
cp_now() { rsql "$DB" "SELECT cursor FROM checkpoints WHERE integration = '$NAME'" 2>/dev/null | grep -E '^[0-9]+$'; }
# alive PID: PID runs (a zombie, exited but not yet waited for, does not count)
alive() { local s; s=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ "$s" != Z ]; }
# below FILE C: how many numbers in FILE (one a line) are <= C
below() { awk -F'|' -v c="$2" '$1 + 0 <= c + 0 { n++ } END { print n + 0 }' "$1"; }
has_quarantine() { rsql "$DB" .schema | grep -q 'CREATE TABLE quarantine'; }

# The integration: skips the lines up to ctx.cursor (a line number), emits
# each good line, quarantines each line that is not JSON at stage extract,
# and checkpoints the line number every 100 lines. The transform rejects a
# record without an email; the table refuses an amount of "n/a" (load).
# ctx.cursor of each run goes to starts.txt.
script "$NAME" "return ferry.integration {
  name = \"$NAME\", owner = \"qa@example.com\", purpose = \"crash safety\", pattern = \"reporting\",
  source_of_truth = \"fixture\", freshness = \"1h\",
  batch_size = 20,
  extract = function(ctx)
    local from = ctx.cursor or 0
    local f = assert(io.open(\"starts.txt\", \"a\"))
    f:write(ctx.run_id, \" \", tostring(ctx.cursor), \"\\n\"); f:close()
    local path = \"source.jsonl\"
    local r <close> = assert(ferry.jsonl.open(path))
    local last = from
    for line, rec, err, raw in r:rows() do
      if line > from then
        if rec ~= nil then
          ctx:emit(rec)
        else
          ctx:reject({ file = path, line = line, raw = raw }, \"validation\", err)
        end
        if line % 100 == 0 then ctx:checkpoint(line) end
        last = line
      end
    end
    ctx:checkpoint(last)
  end,
  transform = function(r)
    if r.email == nil or r.email == \"\" then return nil, \"email missing\" end
    return { id = r.id, email = r.email, name = r.name, amount = r.amount }
  end,
  load = ferry.sink.sqlite {
    path = \"dest.db\", table = \"customers\",
    columns = { { \"id\", \"integer\", key = true }, { \"email\", \"text\" }, { \"name\", \"text\" },
                { \"amount\", \"integer\" } },
  },
}"

# ---------------------------------------------------------------------------
t "crash: the source has $N lines: $N_BAD_JSON not JSON, $N_BAD_TR without an email, $N_BAD_LOAD with a text amount, the rest good (seed $SEED)"
gen=$("$PY" "$ROOT/tests/tools/gen_crash_data.py" "$WORK" "$N" "$SEED" "$N_BAD_JSON" "$N_BAD_TR" "$N_BAD_LOAD" 2>&1) ||
    fail "gen_crash_data.py: $gen"
N_GOOD=$(nlines "$WORK/good_rows.txt")
expect_eq "$(nlines "$WORK/source.jsonl")" "$N" "source lines"
expect_eq "$(nlines "$WORK/bad_json.txt")" "$N_BAD_JSON" "invalid JSON lines"
expect_eq "$(nlines "$WORK/bad_transform.txt")" "$N_BAD_TR" "records without an email"
expect_eq "$(nlines "$WORK/bad_load.txt")" "$N_BAD_LOAD" "records with a text amount"
expect_eq "$N_GOOD" "$((N - N_BAD))" "good records"

# The kill plan, from the seed: "start DELAY_MS" kills DELAY_MS after the
# process starts; "row DELAY_MS" kills DELAY_MS after the run's row is
# 'running' (often while it still skips the lines it had done); "progress LINE
# DELAY_MS" kills DELAY_MS after the run has committed a checkpoint of its
# own at LINE or beyond. Targets lie in the first 70% of the file, so a run
# is never close to its end.
mapfile -t PLAN < <("$PY" - "$SEED" "$N" <<'EOF'
import random, sys
rng = random.Random(int(sys.argv[1]) * 7 + 1)
n = int(sys.argv[2])
plan = [f"progress {t} {rng.randrange(0, 40)}" for t in sorted(rng.randrange(0, n * 7 // 10) for _ in range(6))]
plan.insert(rng.randrange(1, len(plan)), f"start {rng.randrange(0, 40)}")
plan.insert(rng.randrange(2, len(plan)), f"row {rng.randrange(0, 40)}")
plan.insert(0, f"start {rng.randrange(0, 40)}")
print("\n".join(plan))
EOF
)

# ---------------------------------------------------------------------------
t "crash: ${#PLAN[@]} ferry processes killed with SIGKILL at random points, at least 5 of them mid-run; the checkpoint never goes backwards"
rm -rf "$WORK/data" "$WORK/starts.txt"
T0=$SECONDS
K_PIDS=() K_RUNS=() K_BEFORE=() K_AFTER=() K_WHAT=()   # per killed process
safety=""     # per-kill violations of "everything up to the checkpoint is stored"
prev_cp=0 mid_run=0
for step in "${PLAN[@]}"; do
    read -r kind a b <<<"$step"
    before=$(cp_now)
    n_runs=$(rsql "$DB" "SELECT count(*) FROM runs WHERE integration = '$NAME'" 2>/dev/null | grep -E '^[0-9]+$' || echo 0)
    log="$WORK/kill${#K_PIDS[@]}.log"
    bg_ferry "$log" run "$NAME.lua"
    p=$bg
    if [ "$kind" = start ]; then
        sleep "$(printf '0.%03d' "$a")"
        what="${a} ms after start"
    else
        [ "$kind" = row ] && b=$a a=0
        deadline=$((SECONDS + 120)) reached=""
        while alive "$p" && [ "$SECONDS" -lt "$deadline" ]; do
            st=$(rsql "$DB" "SELECT (SELECT count(*) FROM runs WHERE pid = $p AND status = 'running')
                             || ' ' || COALESCE((SELECT cursor FROM checkpoints WHERE integration = '$NAME'), 0)" 2>/dev/null)
            read -r has c <<<"$st"
            if [ "${has:-0}" = 1 ] && [[ "${c:-}" =~ ^[0-9]+$ ]] &&
               { [ "$kind" = row ] || { [ "$c" -ge "$a" ] && [ "$c" -gt "${before:-0}" ]; }; }; then
                reached=$c; break
            fi
            sleep 0.02
        done
        [ -n "$reached" ] || fail "process $p never reached checkpoint $a while running (alive: $(alive "$p" && echo yes || echo no)): $(tail -c 300 "$log")"
        sleep "$(printf '0.%03d' "$b")"
        what="checkpoint >= $a (seen $reached) + $b ms"
        [ "$kind" = row ] && what="run row + $b ms"
    fi
    kill -9 "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    krc=$? bg=""
    if [ "$krc" -ne 137 ]; then
        fail "the process meant to be killed ($what) ended by itself with exit $krc: $(tail -c 300 "$log")"
        continue
    fi
    grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$log" &&
        fail "sanitizer report before the kill: $(grep -m1 -E 'Sanitizer|runtime error' "$log")"
    after=$(cp_now)
    run=$(rsql "$DB" "SELECT id FROM runs WHERE pid = $p AND integration = '$NAME'" 2>/dev/null | grep -E '^[0-9]{8}T')
    n_runs2=$(rsql "$DB" "SELECT count(*) FROM runs WHERE integration = '$NAME'" 2>/dev/null | grep -E '^[0-9]+$' || echo 0)
    [ "$n_runs2" -eq $((n_runs + (${#run} > 0))) ] ||
        fail "runs rows went from $n_runs to $n_runs2 over one killed process (its own row: '${run:-none}')"
    if [ -n "$run" ]; then
        mid_run=$((mid_run + 1))
        rstat=$(rsql "$DB" "SELECT status FROM runs WHERE id = '$run'")
        [ "$rstat" = running ] || fail "killed run $run has status '$rstat' right after the kill, expected running"
    fi
    K_PIDS+=("$p") K_RUNS+=("${run:--}") K_BEFORE+=("${before:-nil}") K_AFTER+=("${after:-nil}") K_WHAT+=("$what")
    echo "# kill $((${#K_PIDS[@]})): $what; run ${run:-(no row yet)}; checkpoint ${before:-none} -> ${after:-none}"
    # the checkpoint never goes backwards, and stays within the file
    if [ -n "$after" ]; then
        [ "$after" -ge "$prev_cp" ] || fail "checkpoint went backwards: $prev_cp -> $after (kill: $what)"
        [ "$after" -le "$N" ] || fail "checkpoint $after is beyond the last line $N"
        prev_cp=$after
    elif [ "$prev_cp" -gt 0 ]; then
        fail "the checkpoint ($prev_cp) vanished after a kill ($what)"
    fi
    # everything up to the committed checkpoint is in the destination and the quarantine
    c=${after:-0}
    want=$(below "$WORK/good_rows.txt" "$c")
    got=$(rsql "$DEST" "SELECT count(*) FROM customers WHERE id <= $c" 2>/dev/null | grep -E '^[0-9]+$' || echo 0)
    [ "$got" = "$want" ] || safety="$safety [checkpoint $c: destination has $got of the $want good records up to it]"
    if has_quarantine; then
        want=$(( $(below "$WORK/bad_json.txt" "$c") + $(below "$WORK/bad_transform.txt" "$c")
                 + $(below "$WORK/bad_load.txt" "$c") ))
        got=$(rsql "$DB" "SELECT count(*) FROM quarantine WHERE integration = '$NAME' AND
                          ((stage = 'extract' AND json_extract(record, '\$.line') <= $c) OR
                           (stage IN ('transform', 'load') AND json_extract(record, '\$.id') <= $c))")
        [ "$got" = "$want" ] || safety="$safety [checkpoint $c: quarantine has $got of the $want bad records up to it]"
    fi
done
echo "# ${#K_PIDS[@]} kills ($mid_run mid-run) in $((SECONDS - T0)) s"
[ "$mid_run" -ge 5 ] || fail "only $mid_run processes were killed after their run had started (want >= 5)"

t "crash: at every kill, each record up to the committed checkpoint was already in the destination or the quarantine"
[ -z "$safety" ] || fail "records behind a committed checkpoint were missing:${safety:0:600}"
has_quarantine || fail "no quarantine table in the store (schema version $(rsql "$DB" 'PRAGMA user_version')), so the bad records were not checked"

# ---------------------------------------------------------------------------
t "crash: the final run resumes from the last checkpoint, finishes, and exits 3 (records quarantined)"
C_FINAL=$(cp_now)
T1=$SECONDS
run_ferry run "$NAME.lua"
echo "# final run from checkpoint ${C_FINAL:-none}: $((SECONDS - T1)) s"
expect_rc 3
expect_in "$out" "PARTIAL"
R_FINAL=$(run_id_of "$NAME")
[ -n "$R_FINAL" ] || fail "no run id in the summary: ${out:0:300}"
expect_eq "$(rsql "$DB" "SELECT extracted, loaded + quarantined, skipped FROM runs WHERE id = '$R_FINAL'")" \
    "$((N - ${C_FINAL:-0}))|$((N - ${C_FINAL:-0}))|0" "final run extracted|loaded+quarantined|skipped: it reads only the lines after checkpoint ${C_FINAL:-none}"
expect_eq "$(cp_now)" "$N" "checkpoint after the final run"

t "crash: every restart began at the checkpoint committed before it (ctx.cursor)"
started() { awk -v r="$1" '$1 == r { print $2 }' "$WORK/starts.txt" 2>/dev/null; }
for i in "${!K_PIDS[@]}"; do
    r=${K_RUNS[$i]}
    [ "$r" = - ] && continue
    s=$(started "$r")
    [ -z "$s" ] && continue        # killed before extract began
    [ "$s" = "${K_BEFORE[$i]}" ] ||
        fail "run $r (killed at ${K_WHAT[$i]}) started at ctx.cursor $s, but the checkpoint was ${K_BEFORE[$i]}"
done
expect_eq "$(started "$R_FINAL")" "${C_FINAL:-nil}" "ctx.cursor of the final run"
[ "${C_FINAL:-0}" -gt 0 ] || fail "no checkpoint was committed before the final run: nothing was resumed"

# ---------------------------------------------------------------------------
t "crash: the destination holds the $N_GOOD good records exactly once, each with its source values, and is intact"
# (kills land while its checkpointer copies the WAL into it, too)
expect_eq "$(rsql "$DEST" "PRAGMA integrity_check")" "ok" "integrity_check of the destination"
rsql "$DEST" "SELECT id, email, name, amount FROM customers ORDER BY id" >"$WORK/got_rows.txt"
expect_eq "$(rsql "$DEST" "SELECT count(*), count(DISTINCT id) FROM customers")" "$N_GOOD|$N_GOOD" "rows|distinct keys"
sum_want=$(awk -F'|' '{ s += $4 } END { printf "%.0f", s }' "$WORK/good_rows.txt")
expect_eq "$(rsql "$DEST" "SELECT sum(amount) FROM customers")" "$sum_want" "sum of amount"
if ! cmp -s "$WORK/good_rows.txt" "$WORK/got_rows.txt"; then
    cut -d'|' -f1 "$WORK/good_rows.txt" >"$WORK/want_ids"
    cut -d'|' -f1 "$WORK/got_rows.txt" >"$WORK/got_ids"
    missing=$(comm -23 <(sort "$WORK/want_ids") <(sort "$WORK/got_ids") | sort -n | head -5 | tr '\n' ' ')
    extra=$(comm -13 <(sort "$WORK/want_ids") <(sort "$WORK/got_ids") | sort -n | head -5 | tr '\n' ' ')
    fail "content differs (md5 want $(md5sum <"$WORK/good_rows.txt" | cut -c1-12), got $(md5sum <"$WORK/got_rows.txt" | cut -c1-12));
 missing ids: ${missing:-none}; unexpected ids: ${extra:-none}; first difference: $(diff "$WORK/good_rows.txt" "$WORK/got_rows.txt" | head -3 | tr '\n' ' ')"
fi

t "crash: the quarantine holds exactly the $N_BAD bad records, each once, open, with its stage, class and reason"
if ! has_quarantine; then
    fail "no quarantine table in the store (schema version $(rsql "$DB" 'PRAGMA user_version'))"
else
    Q="integration = '$NAME'"
    expect_eq "$(rsql "$DB" "SELECT count(*) FROM quarantine WHERE $Q")" "$N_BAD" "quarantine rows"
    expect_eq "$(rsql "$DB" "SELECT stage, class, status, count(*) FROM quarantine WHERE $Q GROUP BY 1, 2, 3 ORDER BY 1" | tr '\n' ' ')" \
        "extract|validation|open|$N_BAD_JSON load|validation|open|$N_BAD_LOAD transform|validation|open|$N_BAD_TR " \
        "stage|class|status|rows"
    rsql "$DB" "SELECT json_extract(record, '\$.line') FROM quarantine WHERE $Q AND stage = 'extract' ORDER BY 1" >"$WORK/q_json.txt"
    rsql "$DB" "SELECT json_extract(record, '\$.id') FROM quarantine WHERE $Q AND stage = 'transform' ORDER BY 1" >"$WORK/q_tr.txt"
    rsql "$DB" "SELECT json_extract(record, '\$.id') FROM quarantine WHERE $Q AND stage = 'load' ORDER BY 1" >"$WORK/q_load.txt"
    for kind in json tr load; do
        case $kind in
            json) want="$WORK/bad_json.txt" label="lines not JSON (extract, by line)";;
            tr) want="$WORK/bad_transform.txt" label="records without an email (transform, by id)";;
            load) want="$WORK/bad_load.txt" label="records with a text amount (load, by id)";;
        esac
        if ! cmp -s "$want" "$WORK/q_$kind.txt"; then
            missing=$(comm -23 <(sort "$want") <(sort -u "$WORK/q_$kind.txt") | sort -n | head -5 | tr '\n' ' ')
            extra=$(comm -13 <(sort "$want") <(sort -u "$WORK/q_$kind.txt") | sort -n | head -5 | tr '\n' ' ')
            twice=$(uniq -d "$WORK/q_$kind.txt" | head -5 | tr '\n' ' ')
            fail "$label: missing ${missing:-none}; not bad but quarantined ${extra:-none}; more than once ${twice:-none}"
        fi
    done
    expect_eq "$(rsql "$DB" "SELECT count(*) FROM quarantine WHERE $Q AND stage = 'transform' AND reason <> 'email missing'")" "0" \
        "transform rows with another reason: $(rsql "$DB" "SELECT reason FROM quarantine WHERE $Q AND stage = 'transform' AND reason <> 'email missing' LIMIT 1")"
    expect_eq "$(rsql "$DB" "SELECT count(*) FROM quarantine WHERE $Q AND stage = 'extract' AND json_extract(record, '\$.raw') IS NULL")" "0" \
        "extract rows without the raw line"
    expect_eq "$(rsql "$DB" "SELECT count(*) FROM quarantine WHERE $Q AND stage = 'load' AND
                  (reason NOT LIKE '%INTEGER column customers.amount%' OR json_extract(output, '\$.amount') IS NOT 'n/a')")" "0" \
        "load rows without the table's reason or the mapped record: $(rsql "$DB" "SELECT reason, output FROM quarantine WHERE $Q AND stage = 'load' LIMIT 1")"
    expect_eq "$(rsql "$DB" "SELECT count(*) FROM quarantine WHERE $Q AND (attempts < 1 OR
                  first_run NOT IN (SELECT id FROM runs) OR last_run NOT IN (SELECT id FROM runs))")" "0" \
        "rows with attempts < 1 or a first_run/last_run that is no run"
    expect_eq "$(rsql "$DB" "SELECT attempts || 'x' || count(*) FROM quarantine WHERE $Q GROUP BY attempts" | tr '\n' ' ')" "1x2500 " \
        "a record read again after a kill is not another attempt"
fi

# ---------------------------------------------------------------------------
t "crash: run history has each killed run as aborted (with its checkpoint), the final run partial, nothing running"
expect_eq "$(rsql "$DB" "SELECT status, count(*) FROM runs WHERE integration = '$NAME' GROUP BY 1 ORDER BY 1" | tr '\n' ' ')" \
    "aborted|$mid_run partial|1 " "runs by status ($mid_run processes were killed after their run had started)"
for i in "${!K_PIDS[@]}"; do
    r=${K_RUNS[$i]}
    [ "$r" = - ] && continue
    row=$(rsql "$DB" "SELECT status, error IS NOT NULL AND error LIKE '%process ended%', ended_at IS NOT NULL,
                             COALESCE(checkpoint, 'nil') FROM runs WHERE id = '$r'")
    want_cp=nil
    [ "${K_AFTER[$i]}" != "${K_BEFORE[$i]}" ] && want_cp=${K_AFTER[$i]}
    if [ "$want_cp" != nil ]; then
        [ "$row" = "aborted|1|1|$want_cp" ] ||
            fail "run $r (killed at ${K_WHAT[$i]}, committed checkpoint $want_cp): status|error|ended|checkpoint = $row"
    else
        [[ "$row" == aborted\|1\|1\|* ]] || fail "run $r (killed at ${K_WHAT[$i]}): status|error|ended|checkpoint = $row"
    fi
done
expect_eq "$(rsql "$DB" "SELECT status FROM runs WHERE id = '$R_FINAL'")" "partial" "final run"

t "crash: 'ferry runs $NAME' lists the $mid_run aborted runs and the partial one"
run_ferry runs "$NAME"
expect_rc 0
expect_eq "$(grep -cE '^[0-9]{8}T[0-9]{6}Z-[^ ]+ +aborted ' <<<"$out")" "$mid_run" "aborted rows in: ${out:0:600}"
grep -qE "^$R_FINAL +partial " <<<"$out" || fail "no partial row for $R_FINAL in: ${out:0:600}"
for r in "${K_RUNS[@]}"; do
    [ "$r" = - ] && continue
    grep -qE "^$r +aborted .*process ended" <<<"$out" || fail "killed run $r is not listed as aborted: ${out:0:600}"
done

done_t
