#!/usr/bin/env bash
# End-to-end: hostile source files never lose rows silently. Each case runs a
# bad file beside a harmless second integration in one `ferry run bad.lua
# good.lua`, and checks the exact summary line and exit status, the rows in
# the SQLite destination, the quarantine rows in the store, and that the
# good integration finished OK with its rows loaded.
#
#   - an unterminated quote mid-file fails the run, naming the lines not read
#   - an over-long CSV row or JSON line is skipped while reading (bounded
#     memory), quarantined with an excerpt, and the rows after it load
#   - NUL bytes in a JSON line are never dropped with the rest of the line
#   - a 1,000,000-column header fails in bounded time (max_columns)
#   - text that is not UTF-8 is quarantined, or transcoded with
#     encoding = "latin1"; quarantine list/show --json stay valid UTF-8
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

DEST="$WORK/data/dest.db"
qpy() { quarantine_py "$WORK/data" "$1" "$2"; }

# summary NAME: the counts line of NAME's run in $out
summary() { grep -A1 "^== $1  run " <<<"$out" | sed -n 2p | sed 's/^   //'; }
# error_of NAME: the error line of NAME's run in $out
error_of() { awk -v n="== $1  run " 'index($0, n) == 1 { on = 1; next } /^== / { on = 0 } on && /^   error: / { sub(/^   error: /, ""); print }' <<<"$out"; }
# status_of NAME: OK, PARTIAL or FAILED
status_of() { sed -nE "s/^== $1  run [^ ]+  ([A-Z]+)$/\1/p" <<<"$out"; }
# run_ferry_timed ARGS...: run_ferry under a 20 s timeout
run_ferry_timed() { local o e; o=$(mktemp "$WORK/out.XXXX"); e=$(mktemp "$WORK/err.XXXX")
    (cd "$WORK" && timeout 20 "$FERRY" "$@") >"$o" 2>"$e"; rc=$?; out=$(cat "$o"); err=$(cat "$e")
    if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$e"; then fail "sanitizer report: $(grep -m1 -E 'Sanitizer|runtime error' "$e")"; fi; }
peak_rss_of() { grep -A8 "^== $1  run " <<<"$out" | sed -nE 's/.*process peak RSS ([0-9.]+) MB.*/\1/p' | head -1; }

# The harmless neighbour: three CSV rows into table good.
printf 'id,name\n1,one\n2,two\n3,three\n' >"$WORK/good.csv"
script good 'return ferry.integration {
  name = "good", owner = "qa@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "fixture", freshness = "1h",
  extract = function(ctx) ferry.source.csv(ctx, ferry.script_dir .. "/good.csv") end,
  load = ferry.sink.sqlite { path = "dest.db", table = "good",
    columns = { { "id", "integer", key = true }, { "name", "text" } } } }'
expect_good() {
    expect_eq "$(status_of good)" "OK" "the neighbour run: $out"
    expect_eq "$(summary good)" "extracted 3 · transformed 3 · skipped 0 · loaded 3 · quarantined 0 (1 batch)"
    expect_eq "$(sql "$DEST" "SELECT group_concat(name, ' ') FROM (SELECT name FROM good ORDER BY id)")" "one two three"
}

# bad NAME KIND FILE [OPTS] [COLUMNS]: an integration streaming FILE with
# ferry.source.KIND into table NAME (id integer key, name text by default).
bad() {
    script "$1" "return ferry.integration {
  name = \"$1\", owner = \"qa@example.com\", purpose = \"test\", pattern = \"reporting\",
  source_of_truth = \"fixture\", freshness = \"1h\",
  extract = function(ctx) ferry.source.$2(ctx, ferry.script_dir .. \"/$3\"${4:+, $4}) end,
  load = ferry.sink.sqlite { path = \"dest.db\", table = \"$1\",
    columns = { ${5:-{ \"id\", \"integer\", key = true \}, { \"name\", \"text\" \}} } } }"
}
ids_in() { sql "$DEST" "SELECT group_concat(id, ' ') FROM (SELECT id FROM $1 ORDER BY id)"; }

# ---------------------------------------------------------------------------
t "a stray quote mid-file fails the run: the rows before it load, the error names the lines not read"
rm -rf "$WORK/data"
printf 'id,name\n1,a\n2,b\n3,"c\n4,d\n5,e\n6,f\n' >"$WORK/stray.csv"
script stray 'return ferry.integration {
  name = "stray", owner = "qa@example.com", purpose = "test", pattern = "reporting",
  source_of_truth = "fixture", freshness = "1h",
  extract = function(ctx)
    ferry.source.csv(ctx, ferry.script_dir .. "/stray.csv")
    ctx:checkpoint("read to the end")            -- must never be reached
  end,
  load = ferry.sink.sqlite { path = "dest.db", table = "stray",
    columns = { { "id", "integer", key = true }, { "name", "text" } } } }'
run_ferry run stray.lua good.lua
expect_rc 1
expect_eq "$(status_of stray)" "FAILED" "$out"
expect_eq "$(summary stray)" "extracted 2 · transformed 2 · skipped 0 · loaded 2 · quarantined 0 (1 batch)"
expect_in "$(error_of stray)" "stray.csv: line 4: unterminated quoted field, 4 lines from line 4 not read (the quote opened on line 4 never closes)"
expect_eq "$(ids_in stray)" "1 2"
expect_eq "$(qpy stray 'len(L)')" "0"
expect_eq "$(sql "$WORK/data/ferry.db" "SELECT count(*) FROM checkpoints WHERE integration = 'stray'")" "0" \
    "the checkpoint never passes rows not read"
expect_in "$(sql "$WORK/data/ferry.db" "SELECT status || ' ' || error FROM runs WHERE integration = 'stray'")" \
    "stray.csv: line 4: unterminated quoted field, 4 lines from line 4 not read (the quote opened on line 4 never closes)"
expect_good
run_ferry runs stray --json
expect_eq "$(python3 -c 'import json, sys; r = json.loads(sys.argv[1])[0]; print(r["status"], r["checkpoint"], "4 lines from line 4 not read" in r["error"])' "$out")" \
    "failed None True"
run_ferry runs stray
expect_in "$out" "4 lines from line 4 not read"     # the table cuts the error: the count comes first

# ---------------------------------------------------------------------------
t "an over-long CSV row mid-file is skipped while reading and quarantined with an excerpt; the rows after it load"
rm -rf "$WORK/data"
python3 - "$WORK/long.csv" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    f.write("id,name\n1,a\n2,b\n")
    f.write('3,"' + "x" * 3000000 + '\n,still the same field"\n')
    f.write("4,d\n5,e\n")
EOF
bad long csv long.csv '{ max_row = 1048576 }'
run_ferry run long.lua good.lua
expect_rc 3
expect_eq "$(status_of long)" "PARTIAL" "$out"
expect_eq "$(summary long)" "extracted 5 · transformed 4 · skipped 0 · loaded 4 · quarantined 1 (1 batch)"
expect_eq "$(ids_in long)" "1 2 4 5"
expect_eq "$(qpy long '[(q["stage"], q["class"], q["reason"]) for q in L]')" \
    "[('extract', 'validation', 'line 4: row exceeds 1048576 bytes (3000026 bytes on lines 4-5); skipped')]"
expect_eq "$(qpy long '(L[0]["record"]["line"], L[0]["record"]["excerpt"] == "3," + "x" * 198, L[0]["record"]["file"].endswith("long.csv"))')" \
    "(4, True, True)"
expect_good

# ---------------------------------------------------------------------------
t "NUL bytes in JSON lines: each such line is quarantined whole, never cut at the NUL"
rm -rf "$WORK/data"
printf '{"id":1,"name":"a"}\n{"id":2,"name":"b"}\0{"id":99}\n{"id":3,"name":"c\0d"}\n{"id":4,"name":"d"}\n' >"$WORK/nul.jsonl"
bad nul jsonl nul.jsonl
run_ferry run nul.lua good.lua
expect_rc 3
expect_eq "$(summary nul)" "extracted 4 · transformed 2 · skipped 0 · loaded 2 · quarantined 2 (1 batch)"
expect_eq "$(ids_in nul)" "1 4"
expect_eq "$(qpy nul '[(q["stage"], q["class"], q["reason"], q["record"]["line"]) for q in L]')" \
    "[('extract', 'validation', 'line 2: NUL byte at byte 20 (not allowed in JSON text)', 2), ('extract', 'validation', 'line 3: NUL byte at byte 18 (not allowed in JSON text)', 3)]"
expect_eq "$(qpy nul '[q["record"]["raw"] for q in L]')" "['{\"id\":2,\"name\":\"b\"}\\x00{\"id\":99}', '{\"id\":3,\"name\":\"c\\x00d\"}']"
expect_good

# ---------------------------------------------------------------------------
t "a 1,000,000-column CSV header fails the run in bounded time, naming max_columns"
rm -rf "$WORK/data"
python3 -c '
import sys
with open(sys.argv[1], "w") as f:
    f.write(",".join("c%d" % i for i in range(1000000)) + "\n" + ",".join("1" * 1000000) + "\n")' "$WORK/wide.csv"
bad wide csv wide.csv
rm -rf "$WORK/data"
t0=$(date +%s.%N)
run_ferry_timed run wide.lua good.lua
t1=$(date +%s.%N)
expect_rc 1
expect_eq "$(status_of wide)" "FAILED" "$out"
expect_in "$(error_of wide)" "wide.csv: line 1: the header has more than 10000 columns (max_columns = 10000)"
expect_eq "$(python3 -c "print($t1 - $t0 < 15)")" "True" "took $(python3 -c "print(round($t1 - $t0, 1))") s"
expect_good

t "a 20,000-column header within max_columns is checked for duplicates quickly, naming both columns"
rm -rf "$WORK/data"
python3 -c '
import sys
cols = ["c%d" % i for i in range(20000)] + ["c7"]
with open(sys.argv[1], "w") as f:
    f.write(",".join(cols) + "\n")' "$WORK/dup.csv"
bad dup csv dup.csv '{ max_columns = 50000 }'
t0=$(date +%s.%N)
run_ferry_timed run dup.lua good.lua
t1=$(date +%s.%N)
expect_rc 1
expect_in "$(error_of dup)" "dup.csv: line 1: column 'c7' appears twice in the header (columns 8 and 20001)"
expect_eq "$(python3 -c "print($t1 - $t0 < 10)")" "True" "took $(python3 -c "print(round($t1 - $t0, 1))") s"
expect_good

# ---------------------------------------------------------------------------
t "a 200 MB JSON line is skipped while reading: quarantined with an excerpt, bounded memory, later lines load"
rm -rf "$WORK/data"
python3 - "$WORK/huge.jsonl" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    f.write('{"id":1,"name":"a"}\n{"id":2,"name":"')
    chunk = "y" * (1 << 20)
    for _ in range(200):
        f.write(chunk)
    f.write('"}\n{"id":3,"name":"c"}\n')
EOF
bad huge jsonl huge.jsonl
run_ferry run huge.lua good.lua
rm -f "$WORK/huge.jsonl"
expect_rc 3
expect_eq "$(summary huge)" "extracted 3 · transformed 2 · skipped 0 · loaded 2 · quarantined 1 (1 batch)"
expect_eq "$(ids_in huge)" "1 3"
expect_eq "$(qpy huge '[(q["stage"], q["class"], q["reason"], q["record"]["line"]) for q in L]')" \
    "[('extract', 'validation', 'line 2: longer than 16777216 bytes (209715218 bytes); skipped', 2)]"
expect_eq "$(qpy huge 'L[0]["record"]["excerpt"] == "{\"id\":2,\"name\":\"" + "y" * 184')" "True"
rss=$(peak_rss_of huge)
if [ -z "${SANITIZE:-}" ]; then
    expect_eq "$(python3 -c "print(0 < ${rss:-0} < 80)")" "True" "peak RSS ${rss:-?} MB for a 200 MB line"
fi
expect_good

# ---------------------------------------------------------------------------
printf 'id,name\n1,plain\n2,M\xfcller\n3,Gr\xfc\xdfe \xe9t\xe9\n4,ok \xc3\xa9\n' >"$WORK/latin1.csv"
printf 'id,Stra\xdfe\n1,x\n' >"$WORK/latin1_header.csv"
printf '{"id":1,"name":"plain"}\n{"id":2,"name":"M\xfcller"}\n{"id":3,"name":"ok \xc3\xa9"}\n' >"$WORK/latin1.jsonl"

t "Latin-1 text in a CSV is quarantined as not UTF-8, naming the column and byte"
rm -rf "$WORK/data"
bad l1csv csv latin1.csv
run_ferry run l1csv.lua good.lua
expect_rc 3
expect_eq "$(summary l1csv)" "extracted 4 · transformed 2 · skipped 0 · loaded 2 · quarantined 2 (1 batch)"
expect_eq "$(ids_in l1csv)" "1 4"
expect_eq "$(qpy l1csv '" | ".join("%s %s %d %s" % (q["stage"], q["class"], q["record"]["line"], q["reason"]) for q in L)')" \
    "extract validation 3 line 3: column 'name' is not valid UTF-8 (byte 0xFC at byte 2; encoding = \"latin1\" reads Latin-1) | extract validation 4 line 4: column 'name' is not valid UTF-8 (byte 0xFC at byte 3; encoding = \"latin1\" reads Latin-1)"
expect_good

t "quarantine list --json and show --json print valid UTF-8 for records that are not"
# The quarantine stores a record as JSON; a byte that is not UTF-8 is written
# as \u00XX (its Latin-1 reading: valid JSON, and lossless for Latin-1 files).
run_ferry quarantine list l1csv --json
expect_rc 0
expect_eq "$(printf '%s' "$out" | python3 -c 'import json, sys; L = json.loads(sys.stdin.buffer.read().decode("utf-8")); print(len(L), L[0]["record"]["fields"][1])')" \
    "2 Müller"
run_ferry quarantine show "$(qpy l1csv 'L[0]["id"]')" --json
expect_rc 0
expect_eq "$(printf '%s' "$out" | python3 -c 'import json, sys; print(json.loads(sys.stdin.buffer.read().decode("utf-8"))["record"]["line"])')" "3"
expect_eq "$(sql "$WORK/data/ferry.db" "SELECT instr(record, 'M\\u00fcller') > 0 FROM quarantine WHERE integration = 'l1csv' ORDER BY id LIMIT 1")" "1" \
    "the store keeps the byte as \\u00fc"

t "encoding = \"latin1\" reads a Latin-1 CSV into UTF-8 text"
rm -rf "$WORK/data"
bad l1ok csv latin1.csv '{ encoding = "latin1" }'
run_ferry run l1ok.lua good.lua
expect_rc 0
expect_eq "$(summary l1ok)" "extracted 4 · transformed 4 · skipped 0 · loaded 4 · quarantined 0 (1 batch)"
expect_eq "$(sql "$DEST" "SELECT group_concat(name, '|') FROM (SELECT name FROM l1ok ORDER BY id)")" "plain|Müller|Grüße été|ok Ã©" \
    "every byte is read as Latin-1, even where it happens to form UTF-8"
expect_good

t "a CSV header that is not UTF-8 fails the run, naming the column"
rm -rf "$WORK/data"
bad l1head csv latin1_header.csv
run_ferry run l1head.lua good.lua
expect_rc 1
expect_in "$(error_of l1head)" "latin1_header.csv: line 1: column 2 of the header is not valid UTF-8 (byte 5 of its name; encoding = \"latin1\" reads Latin-1)"
expect_good

t "Latin-1 in a JSON line is quarantined as not UTF-8; encoding = \"latin1\" reads it"
rm -rf "$WORK/data"
bad l1jsonl jsonl latin1.jsonl
run_ferry run l1jsonl.lua good.lua
expect_rc 3
expect_eq "$(summary l1jsonl)" "extracted 3 · transformed 2 · skipped 0 · loaded 2 · quarantined 1 (1 batch)"
expect_eq "$(qpy l1jsonl '[(q["reason"], q["record"]["line"]) for q in L]')" \
    "[('line 2: field \'name\' is not valid UTF-8 (byte 0xFC at byte 18; encoding = \"latin1\" reads Latin-1)', 2)]"
expect_good
rm -rf "$WORK/data"
bad l1jsonl2 jsonl latin1.jsonl '{ encoding = "latin1" }'
run_ferry run l1jsonl2.lua good.lua
expect_rc 0
expect_eq "$(sql "$DEST" "SELECT group_concat(name, '|') FROM (SELECT name FROM l1jsonl2 ORDER BY id)")" "plain|Müller|ok Ã©"

done_t
