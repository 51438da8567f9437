#!/usr/bin/env bash
# End-to-end: the quarantine in the store and `ferry quarantine
# list|show|replay|discard`. One incremental integration (contacts with an
# owner looked up by email) is taken through a day in the life: records fail
# with different classes, lookup_missing ones are retried by later runs up to
# the policy's limit, a person fixes the script and replays, discards what
# cannot be fixed. Each step checks the output, the exit status and the rows.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

DB="$WORK/data/ferry.db"
DEST="$WORK/data/crm.db"

qpy() { quarantine_py "$WORK/data" "$1" "$2"; }
run_id_of() { sed -nE "s/^== $1  run ([^ ]+)  .*/\1/p" <<<"$out" | head -1; }
# qid NAME CONTACT_ID: the quarantine id of the contact's record
qid() { qpy "$1" '[q["id"] for q in L if q["record"].get("id") == '"$2"'][0]'; }

# contacts.jsonl: the source. owners.json: the destination's users.
cat >"$WORK/contacts.jsonl" <<'EOF'
{"id": 1, "email": "ana@acme.example", "owner": "lee@example.com"}
{"id": 2, "email": "bo@acme.example", "owner": "kim@example.com"}
{"id": 3, "email": "cy@acme.example", "owner": "new.hire@example.com"}
{"id": 4, "email": " DI@ACME.EXAMPLE ", "owner": "lee@example.com"}
{"id": 5, "email": "ed@acme.example", "owner": "kim@example.com"}
{"id": 6, "email": "fa@acme.example", "owner": "lee@example.com"}
EOF
echo '{"lee@example.com": 10, "kim@example.com": 11}' >"$WORK/owners.json"

# contacts: incremental by id (the checkpoint), owner matched by email
# (lookup_missing when unknown), emails validated (validation), and the load
# refuses id 5 while REJECT5 is set (a destination rule, stage load).
contacts_script() {
    script contacts "local sink = ferry.sink.sqlite { path = \"crm.db\", table = \"contacts\",
  columns = { { \"id\", \"integer\", key = true }, { \"email\", \"text\" }, { \"owner_id\", \"integer\" } } }
return ferry.integration {
  name = \"contacts\", owner = \"cs-ops@example.com\", purpose = \"test\", pattern = \"workflow\",
  source_of_truth = \"crm\", freshness = \"1h\",
  policy = { lookup_missing = \"quarantine\", retry_quarantined = { lookup_missing = 2 } },
  expect = { min_records = 0 },        -- incremental: a run may find nothing new
  extract = function(ctx)
    local last = ctx.cursor or 0
    for _, rec in ferry.jsonl.open(ferry.script_dir .. \"/contacts.jsonl\"):rows() do
      if rec.id > last then ctx:emit(rec); last = rec.id end
    end
    ctx:checkpoint(last)
  end,
  transform = function(r)
    local f = assert(io.open(ferry.script_dir .. \"/owners.json\"))
    local owners = ferry.json.decode(f:read(\"a\")); f:close()
    local email = $1
    if not email:match(\"^[%w.]+@[%w.]+$\") then return nil, \"invalid email '\" .. email .. \"'\" end
    local owner = owners[r.owner]
    if not owner then return nil, { class = \"lookup_missing\", reason = \"no user with email \" .. r.owner } end
    return { id = r.id, email = email, owner_id = owner }
  end,
  load = function(batch, ctx)
    local keep = {}
    for _, r in ipairs(batch) do
      if os.getenv(\"REJECT5\") and r.id == 5 then ctx:reject(r, \"validation\", \"duplicate email in the CRM\")
      else keep[#keep + 1] = r end
    end
    sink(keep, ctx)
  end,
}"
}
contacts_script 'r.email'

# ---------------------------------------------------------------------------
t "a run quarantines bad records into the store with class, stage, reason and the record; exit 3"
REJECT5=1 run_ferry run contacts.lua
expect_rc 3
RUN1=$(run_id_of contacts)
expect_in "$out" "extracted 6 · transformed 4 · skipped 0 · loaded 3 · quarantined 3 (1 batch)"
expect_in "$out" "quarantine: 3 open (oldest "
expect_in "$out" "· ferry quarantine list contacts"
expect_eq "$(qpy contacts '[(q["record"]["id"], q["status"], q["stage"], q["class"], q["reason"], q["attempts"], q["first_run"]) for q in L]')" \
    "[(3, 'open', 'transform', 'lookup_missing', 'no user with email new.hire@example.com', 1, '$RUN1'), (4, 'open', 'transform', 'validation', \"invalid email ' DI@ACME.EXAMPLE '\", 1, '$RUN1'), (5, 'open', 'load', 'validation', 'duplicate email in the CRM', 1, '$RUN1')]"
expect_eq "$(qpy contacts '[q["output"] for q in L if q["stage"] == "load"]')" \
    "[{'email': 'ed@acme.example', 'id': 5, 'owner_id': 11}]" "a load failure keeps the source record and the output"
expect_eq "$(sql "$DEST" "SELECT group_concat(id) FROM contacts")" "1,2,6"
Q3=$(qid contacts 3); Q4=$(qid contacts 4); Q5=$(qid contacts 5)

t "quarantine list: a table of open records in id order, with a footer"
run_ferry quarantine list contacts
expect_rc 0
expect_eq "$(head -1 <<<"$out" | tr -s ' ')" "ID INTEGRATION STATUS STAGE CLASS ATTEMPTS FIRST SEEN REASON"
expect_eq "$(sed -n '2,4p' <<<"$out" | awk '{print $1, $2, $3, $4, $5, $6}' | tr '\n' ';')" \
    "$Q3 contacts open transform lookup_missing 1;$Q4 contacts open transform validation 1;$Q5 contacts open load validation 1;"
expect_in "$out" "no user with email new.hire@example.com"
expect_eq "$(tail -1 <<<"$out")" "-- 3 of 3 open records (last page)"

t "quarantine list --class, --json, and the whole data directory without a name"
run_ferry quarantine list contacts --class lookup_missing
expect_rc 0
expect_eq "$(grep -c ' contacts ' <<<"$out")" "1"
expect_eq "$(tail -1 <<<"$out")" "-- 1 of 1 open records (last page)"
run_ferry quarantine list --json
expect_rc 0
expect_eq "$(python3 -c 'import json,sys; J=json.loads(sys.argv[1]); print([(j["id"], j["class"], j["record"]["id"], j["status"]) for j in J])' "$out" 2>&1)" \
    "[($Q3, 'lookup_missing', 3, 'open'), ($Q4, 'validation', 4, 'open'), ($Q5, 'validation', 5, 'open')]"
run_ferry quarantine list contacts --class picklist_drift
expect_rc 0
expect_eq "$out" "(no open records in the quarantine of contacts with class picklist_drift)"

t "quarantine show: one record in full, what to do next; --json; unknown ids"
run_ferry quarantine show "$Q4"
expect_rc 0
expect_eq "$(head -1 <<<"$out")" "quarantine $Q4 · contacts · open"
expect_in "$out" "  class        validation"
expect_in "$out" "  reason       invalid email ' DI@ACME.EXAMPLE '"
expect_in "$out" "  first seen   "
expect_in "$out" "(run $RUN1)"
expect_in "$out" '{"email":" DI@ACME.EXAMPLE ","id":4,"owner":"lee@example.com"}'
expect_in "$out" "next: ferry quarantine replay $Q4"
run_ferry quarantine show "$Q5" --json
expect_rc 0
expect_eq "$(python3 -c 'import json,sys; J=json.loads(sys.argv[1]); print(J["stage"], J["record"]["id"], J["output"]["owner_id"], J["attempts"], J["first_run"] == J["last_run"])' "$out" 2>&1)" \
    "load 5 11 1 True"
run_ferry quarantine show 999
expect_rc 1
expect_in "$err" "no record 999 in the quarantine"
run_ferry quarantine show abc
expect_rc 2

t "status shows the open quarantine per integration"
run_ferry status
expect_rc 0
expect_in "$(grep '^contacts ' <<<"$out")" "3 open ("
run_ferry status --json
expect_eq "$(python3 -c 'import json,sys; J=json.loads(sys.argv[1]); print([(j["name"], j["quarantine_open"], bool(j["quarantine_oldest"])) for j in J])' "$out" 2>&1)" \
    "[('contacts', 3, True)]"

# ---------------------------------------------------------------------------
t "a later run retries lookup_missing records first; a clean run with older failures says so (exit 0)"
run_ferry run contacts.lua
expect_rc 0
expect_in "$out" "  OK"
expect_in "$out" "extracted 0 · transformed 0"
expect_in "$out" "retried from the quarantine: 1 (0 resolved, 1 still failing)"
expect_in "$out" "quarantine: 3 still open from earlier runs (oldest "
expect_eq "$(qpy contacts '[(q["record"]["id"], q["attempts"]) for q in L]')" "[(3, 2), (4, 1), (5, 1)]" \
    "only the lookup_missing record was retried"

t "automatic retries stop at policy.retry_quarantined; the record stays open for a person"
run_ferry run contacts.lua
expect_in "$out" "retried from the quarantine: 1 (0 resolved, 1 still failing)"
run_ferry run contacts.lua
expect_rc 0
expect_not_in "$out" "retried from the quarantine"
expect_eq "$(qpy contacts '[(q["record"]["id"], q["status"], q["attempts"]) for q in L if q["record"]["id"] == 3]')" "[(3, 'open', 3)]"

t "replay ID after the data is fixed: transform + load again, resolved, delivered"
echo '{"lee@example.com": 10, "kim@example.com": 11, "new.hire@example.com": 12}' >"$WORK/owners.json"
run_ferry quarantine replay "$Q3"
expect_rc 0
RUN_R=$(run_id_of contacts)
expect_in "$out" "replayed 1 · transformed 1 · skipped 0 · loaded 1 · still failing 0 (1 batch)"
expect_in "$out" "resolved 1 of 1"
expect_eq "$(sql "$DEST" "SELECT owner_id FROM contacts WHERE id = 3")" "12"
expect_eq "$(qpy contacts '[(q["status"], q["resolved_run"]) for q in L if q["id"] == '"$Q3"']')" "[('resolved', '$RUN_R')]"
expect_eq "$(sql "$DB" "SELECT trigger, status FROM runs WHERE id = '$RUN_R'")" "replay|ok"
expect_eq "$(sql "$DB" "SELECT cursor FROM checkpoints WHERE integration = 'contacts'")" "6" "a replay leaves the checkpoint alone"

t "replay NAME --class after fixing the script: fixed records resolve, others get attempts + 1 and exit 3"
contacts_script 'r.email:lower():match("^%s*(.-)%s*$")'
REJECT5=1 run_ferry quarantine replay contacts --class validation
expect_rc 3
expect_in "$out" "replayed 2 · transformed 2 · skipped 0 · loaded 1 · still failing 1 (1 batch)"
expect_in "$out" "resolved 1 of 2"
expect_eq "$(sql "$DEST" "SELECT email FROM contacts WHERE id = 4")" "di@acme.example"
expect_eq "$(qpy contacts '[(q["record"]["id"], q["status"], q["attempts"], q["script_version"] != None) for q in L]')" \
    "[(3, 'resolved', 3, True), (4, 'resolved', 1, True), (5, 'open', 2, True)]"

t "replay: a record stored as invalid JSON (raw Latin-1, by an older ferry) is left as it is, with a warning"
latin_record() {   # latin_record ID SQL_VALUE_EXPR: set the quarantined record's bytes
    python3 - "$DB" "$1" <<'PYEOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.text_factory = bytes
db.execute("UPDATE quarantine SET record = CAST(? AS TEXT) WHERE id = ?",
           (b'{"email":"ed@acme.example","id":5,"owner":"kim@example.com","note":"caf\xe9"}', int(sys.argv[2])))
db.commit()
PYEOF
}
BEFORE=$(sql "$DB" "SELECT record FROM quarantine WHERE id = $Q5")
latin_record "$Q5"
REJECT5=1 run_ferry quarantine replay "$Q5"
expect_in "$err$out" "quarantined record cannot be replayed"
expect_eq "$(sql "$DB" "SELECT hex(record), attempts, status FROM quarantine WHERE id = $Q5")" \
    "$(printf '%s' '{"email":"ed@acme.example","id":5,"owner":"kim@example.com","note":"caf' | od -An -tx1 | tr -d ' \n' | tr a-f A-F)E9227D|2|open" \
    "the row is untouched"
python3 -c 'import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute("UPDATE quarantine SET record = ? WHERE id = ?", (sys.argv[2], int(sys.argv[3]))); db.commit()' \
    "$DB" "$BEFORE" "$Q5"

t "replay: nothing open, extract-stage rows, resolved ids, unknown ids and mixed integrations are refused clearly"
run_ferry quarantine replay "$Q3"
expect_rc 1
expect_in "$err" "$Q3 is resolved; skipped"
expect_in "$err" "nothing to replay"
run_ferry quarantine replay 424242
expect_rc 2
expect_in "$err" "424242 is not in the quarantine"
run_ferry quarantine replay contacts --class lookup_missing
expect_rc 0
expect_in "$out" "nothing to replay: no open records of contacts with class lookup_missing"
printf 'id,name\n1,a\n2\n' >"$WORK/rows.csv"
script rows 'return ferry.integration {
  name = "rows", owner = "qa@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "fixture", freshness = "1h",
  extract = function(ctx) ferry.source.csv(ctx, ferry.script_dir .. "/rows.csv") end,
  load = function(batch) end,
}'
run_ferry run rows.lua
expect_rc 3
QR=$(qpy rows 'L[0]["id"]')
run_ferry quarantine replay "$QR"
expect_rc 1
expect_in "$err" "$QR failed at extract (the source row itself is bad)"
run_ferry quarantine replay "$QR" "$Q5"
expect_rc 2
expect_in "$err" "belongs to contacts, not rows"
run_ferry quarantine replay rows
expect_eq "$(qpy rows '[(q["stage"], q["status"], q["attempts"]) for q in L]')" "[('extract', 'open', 1)]" \
    "replay NAME leaves an extract-stage row as it is ($out $err)"

t "replay uses the script the integration last ran from, from any directory; --script overrides it"
mkdir -p "$WORK/elsewhere"
printf 'return { integrations = { ["*"] = { trusted = true } }, data_dir = "%s/data" }\n' "$WORK" >"$WORK/elsewhere/abs.lua"
out=$(cd "$WORK/elsewhere" && REJECT5=1 "$FERRY" quarantine replay -c abs.lua contacts 2>&1); rc=$?
expect_rc 3
expect_in "$out" "resolved 0 of 1"
mv "$WORK/contacts.lua" "$WORK/contacts-moved.lua"
run_ferry quarantine replay contacts
expect_rc 2
expect_in "$err" "contacts.lua"
expect_in "$err" "nothing was replayed"
run_ferry quarantine replay contacts --script rows.lua
expect_rc 2
expect_in "$err" "rows.lua defines the integration rows, not contacts"
REJECT5=1 run_ferry quarantine replay contacts --script contacts-moved.lua
expect_rc 3
expect_in "$out" "resolved 0 of 1"
mv "$WORK/contacts-moved.lua" "$WORK/contacts.lua"
expect_eq "$(qpy contacts '[q["attempts"] for q in L if q["id"] == '"$Q5"']')" "[4]"

t "discard: needs a reason, keeps the row with when and why, refuses twice; unknown ids exit 1"
run_ferry quarantine discard "$Q5"
expect_rc 2
expect_in "$err" "--reason"
run_ferry quarantine discard "$Q5" --reason "duplicate of contact 2; merged in the CRM"
expect_rc 0
expect_eq "$out" "discarded $Q5: duplicate of contact 2; merged in the CRM"
expect_eq "$(qpy contacts '[(q["status"], q["discard_reason"], bool(q["discarded_at"])) for q in L if q["id"] == '"$Q5"']')" \
    "[('discarded', 'duplicate of contact 2; merged in the CRM', True)]"
run_ferry quarantine discard "$Q5" 777 --reason again
expect_rc 1
expect_in "$err" "$Q5 was already discarded"
expect_in "$err" "777 is not in the quarantine"
run_ferry quarantine list contacts
expect_eq "$out" "(no open records in the quarantine of contacts)"
run_ferry quarantine list contacts --status discarded
expect_in "$out" "$Q5 "
expect_eq "$(tail -1 <<<"$out")" "-- 1 of 1 discarded records (last page)"
run_ferry quarantine list contacts --status all
expect_eq "$(tail -1 <<<"$out")" "-- 3 of 3 records (last page)"
run_ferry status
expect_eq "$(grep '^contacts ' <<<"$out" | grep -c ' open (')" "0" "nothing open for contacts"

t "a discarded record that fails again stays discarded (one row, attempts + 1)"
echo y | run_ferry reset contacts --yes
REJECT5=1 run_ferry run contacts.lua
expect_rc 3
expect_in "$out" "quarantined 1"
expect_not_in "$out" "open from"
expect_eq "$(qpy contacts '[(q["id"], q["status"], q["attempts"]) for q in L if q["record"]["id"] == 5]')" "[($Q5, 'discarded', 5)]"
expect_eq "$(qpy contacts 'len(L)')" "3"

# ---------------------------------------------------------------------------
t "lookup_missing is retried by default (3 later runs) and resolves once the lookup succeeds"
printf '{"id": 1, "owner": "zed@example.com"}\n' >"$WORK/one.jsonl"
script owners 'return ferry.integration {
  name = "owners", owner = "qa@example.com", purpose = "test", pattern = "workflow",
  source_of_truth = "fixture", freshness = "1h",
  expect = { min_records = 0 },        -- incremental: a run may find nothing new
  extract = function(ctx)
    if ctx.cursor then return end
    for _, rec in ferry.jsonl.open(ferry.script_dir .. "/one.jsonl"):rows() do ctx:emit(rec) end
    ctx:checkpoint(1)
  end,
  transform = function(r)
    if not os.getenv("ZED") then return nil, { class = "lookup_missing", reason = "no user " .. r.owner } end
    return r
  end,
  load = function(batch) for _, r in ipairs(batch) do io.open(ferry.script_dir .. "/owners.out", "a"):write(r.id, "\n"):close() end end,
}'
run_ferry run owners.lua
expect_rc 3
run_ferry run owners.lua
expect_in "$out" "retried from the quarantine: 1 (0 resolved, 1 still failing)"
ZED=1 run_ferry run owners.lua
expect_rc 0
RUN_Z=$(run_id_of owners)
expect_in "$out" "retried from the quarantine: 1 (1 resolved, 0 still failing)"
expect_not_in "$out" "   quarantine:"
expect_eq "$(cat "$WORK/owners.out" 2>&1)" "1"
expect_eq "$(qpy owners '[(q["status"], q["attempts"], q["resolved_run"]) for q in L]')" "[('resolved', 2, '$RUN_Z')]"

t "a full read meets a retried record again in the same run: one attempt a run, not two; it resolves once it loads"
printf '{"id": 1, "owner": "zed@example.com"}\n' >"$WORK/full.jsonl"
script fullread 'return ferry.integration {
  name = "fullread", owner = "qa@example.com", purpose = "test", pattern = "workflow",
  source_of_truth = "fixture", freshness = "1h",
  extract = function(ctx)    -- no cursor: every run reads everything
    for _, rec in ferry.jsonl.open(ferry.script_dir .. "/full.jsonl"):rows() do ctx:emit(rec) end
  end,
  transform = function(r)
    if not os.getenv("ZED") then return nil, { class = "lookup_missing", reason = "no user " .. r.owner } end
    return r
  end,
  load = function(batch) end,
}'
run_ferry run fullread.lua
expect_rc 3
run_ferry run fullread.lua
expect_rc 3
expect_in "$out" "retried from the quarantine: 1 (0 resolved, 1 still failing)"
expect_eq "$(qpy fullread '[(q["status"], q["attempts"]) for q in L]')" "[('open', 2)]" "two runs, two attempts"
run_ferry run fullread.lua
expect_eq "$(qpy fullread '[(q["status"], q["attempts"]) for q in L]')" "[('open', 3)]" "three runs, three attempts"
ZED=1 run_ferry run fullread.lua
expect_rc 0
expect_in "$out" "retried from the quarantine: 1 (1 resolved, 0 still failing)"
expect_eq "$(qpy fullread '[(q["status"], q["attempts"]) for q in L]')" "[('resolved', 3)]"

t "discard works while another ferry process is running integrations; replay waits its turn"
script sleeper 'return ferry.integration {
  name = "sleeper", owner = "qa@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "fixture", freshness = "1h",
  extract = function(ctx) io.open(ferry.script_dir .. "/sleeping", "w"):close(); ferry.sleep(3) end,
  load = function(batch) end,
}'
rm -f "$WORK/sleeping"
(cd "$WORK" && exec "$FERRY" run sleeper.lua) >/dev/null 2>&1 &
bg=$!
for _ in $(seq 100); do [ -e "$WORK/sleeping" ] && break; sleep 0.1; done
expect_eq "$(sql "$DB" "SELECT count(*) FROM runs WHERE integration = 'sleeper' AND ended_at IS NOT NULL")" "0" \
    "the sleeper's run is still going"
QZ=$(qpy rows 'L[0]["id"]')
run_ferry quarantine discard "$QZ" --reason "the CSV was fixed by hand"
expect_rc 0
run_ferry quarantine replay contacts
expect_in "$err" "in use by another ferry process (pid $bg); waiting up to 60s for it"
expect_not_in "$err" "still after waiting"
expect_rc 0
# (the process itself may outlive its lock a little, e.g. under ASan's leak
# check at exit: its run must have ended, not the process)
expect_eq "$(sql "$DB" "SELECT count(*) FROM runs WHERE integration = 'sleeper' AND ended_at IS NOT NULL")" "1" \
    "the sleeper's run had ended when the replay took the data directory"
wait "$bg"

t "usage errors: unknown subcommand, bad --status, option on the wrong command"
run_ferry quarantine frob
expect_rc 2
expect_in "$err" "unknown subcommand 'frob'"
run_ferry quarantine list --status pending
expect_rc 2
expect_in "$err" "--status takes open, resolved, discarded or all"
run_ferry quarantine list --limit 0
expect_rc 2
run_ferry status --class validation
expect_rc 2

t "ferry check: policy.retry_quarantined names error classes and counts"
script badpolicy 'return ferry.integration {
  name = "badpolicy", owner = "qa@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "fixture", freshness = "1h",
  policy = {
    retry_quarantined = { lookup_mising = 2, validation = -1 },
  },
  extract = function(ctx) end,
  load = function(batch) end,
}'
run_ferry check badpolicy.lua
expect_rc 1
expect_in "$out" "badpolicy.lua:5: policy.retry_quarantined.lookup_mising: unknown error class (did you mean 'lookup_missing'?)"
expect_in "$out" "badpolicy.lua:5: policy.retry_quarantined.validation: expected how many later runs retry it (an integer >= 0), got -1"

done_t
