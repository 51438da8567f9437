#!/usr/bin/env bash
# End-to-end: CSV and JSON-lines files streamed through ferry.source into a
# run. Fixtures: tests/fixtures/run/ (exact bytes: BOM, CRLF, embedded
# newlines). A load hook writes every record it receives as one JSON line,
# which is compared with what Python reads from the same file.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

FX="$ROOT/tests/fixtures/run"

# qpy NAME EXPR: Python expression over L, the quarantine rows of NAME
qpy() { quarantine_py "$WORK/data" "$1" "$2"; }

# src NAME KIND PATH [OPTS]: an integration streaming PATH with
# ferry.source.KIND; its load appends each record as JSON to $WORK/NAME.out.
src() {
    script "$1" "return ferry.integration {
  name = \"$1\", owner = \"qa@example.com\", purpose = \"test\", pattern = \"reporting\",
  source_of_truth = \"fixture\", freshness = \"1h\",
  extract = function(ctx) ferry.source.$2(ctx, \"$3\"${4:+, $4}) end,
  load = function(batch)
    local f = assert(io.open(\"$1.out\", \"a\"))
    for _, r in ipairs(batch) do f:write(assert(ferry.json.encode(r)), \"\\n\") end
    f:close()
  end,
}"
    rm -f "$WORK/$1.out"
}

# loaded NAME EXPR: Python expression over R, the records load received.
loaded() {
    python3 - "$WORK/$1.out" "$2" <<'EOF' 2>&1
import json, os, sys
R = []
if os.path.exists(sys.argv[1]):
    with open(sys.argv[1], encoding="utf-8") as f:
        R = [json.loads(line) for line in f]
print(eval(sys.argv[2]))
EOF
}

# ---------------------------------------------------------------------------
t "CSV with BOM, CRLF, quoted commas, embedded newlines and doubled quotes: exact field values"
rm -rf "$WORK/data"
src tricky csv "$FX/tricky.csv"
run_ferry run tricky.lua
expect_rc 0
expect_in "$out" "extracted 5 · transformed 5 · skipped 0 · loaded 5 · quarantined 0"
got=$(python3 - "$FX/tricky.csv" "$WORK/tricky.out" <<'EOF' 2>&1
import csv, json, sys
with open(sys.argv[1], newline="", encoding="utf-8-sig") as f:
    want = list(csv.DictReader(f))
with open(sys.argv[2], encoding="utf-8") as f:
    got = [json.loads(l) for l in f]
if got == want:
    print("same")
else:
    print("different:", [(g, w) for g, w in zip(got, want) if g != w] or (len(got), len(want)))
EOF
)
expect_eq "$got" "same"
# spot checks, independent of Python's reading
expect_eq "$(loaded tricky '[r["id"] for r in R]')" "['1', '2', '3', '4', '5']" "the BOM is not part of the first column name"
expect_eq "$(loaded tricky 'R[0]["name"] + "|" + R[0]["notes"]')" 'Smith, Jones & Co|He said "hi"'
expect_eq "$(loaded tricky 'repr(R[1]["notes"])')" "'line one\\nline two'"
expect_eq "$(loaded tricky 'repr(R[3]["notes"])')" "'a,b,\"c\"\\r\\nnext'"
expect_eq "$(loaded tricky 'R[3]["name"]')" "北京科技"
expect_eq "$(loaded tricky 'repr(R[2]["amount"])')" "''"

# ---------------------------------------------------------------------------
t "a ragged CSV row is quarantined at extract with its physical line, file and fields"
rm -rf "$WORK/data"
src ragged csv "$FX/ragged.csv"
run_ferry run ragged.lua
expect_rc 3
expect_in "$out" "extracted 5 · transformed 3 · skipped 0 · loaded 3 · quarantined 2"
expect_in "$out" "quarantined by class: validation 2"
expect_in "$out" "quarantined by stage: extract 2"
expect_eq "$(loaded ragged '[r["id"] for r in R]')" "['1', '3', '5']"
expect_eq "$(loaded ragged 'repr(R[0]["notes"])')" "'multi\\nline\\nnote'"
expect_eq "$(qpy ragged '[(q["stage"], q["class"], q["reason"]) for q in L]')" \
    "[('extract', 'validation', 'line 5: expected 3 fields, got 2'), ('extract', 'validation', 'line 7: expected 3 fields, got 4')]"
expect_eq "$(qpy ragged '[(q["record"]["line"], q["record"]["fields"]) for q in L]')" \
    "[(5, ['2', 'b']), (7, ['4', 'd', 'x', 'extra'])]"
expect_eq "$(qpy ragged 'all(q["record"]["file"] == "'"$FX/ragged.csv"'" for q in L)')" "True"

t "a ragged row after a quoted field with embedded CRLFs (BOM, CRLF file) reports its physical line"
rm -rf "$WORK/data"
src raggedcrlf csv "$FX/ragged_crlf.csv"
run_ferry run raggedcrlf.lua
expect_rc 3
expect_in "$out" "loaded 2 · quarantined 1"
expect_eq "$(qpy raggedcrlf '[(q["reason"], q["record"]["line"], q["record"]["fields"]) for q in L]')" \
    "[('line 5: expected 3 fields, got 2', 5, ['2', 'b'])]"
expect_eq "$(loaded raggedcrlf '[(r["id"], r["notes"]) for r in R]')" "[('1', 'x\\r\\ny\\r\\nz'), ('3', 'ok')]"

# ---------------------------------------------------------------------------
t "an unterminated quote fails the run naming the lines not read; the rows before it load; exit 1"
rm -rf "$WORK/data"
src unterminated csv "$FX/unterminated.csv"
run_ferry run unterminated.lua
expect_rc 1
expect_in "$out" "FAILED"
expect_in "$out" "extracted 1 · transformed 1 · skipped 0 · loaded 1 · quarantined 0"
expect_in "$out" "unterminated.csv: line 3: unterminated quoted field, 2 lines from line 3 not read (the quote opened on line 3 never closes)"
expect_eq "$(loaded unterminated 'R == [{"id": "1", "name": "a"}]')" "True" "$(loaded unterminated 'R')"
expect_eq "$(qpy unterminated 'len(L)')" "0"

# ---------------------------------------------------------------------------
t "a CSV header with a duplicate column name fails the run, naming the column"
rm -rf "$WORK/data"
src dupheader csv "$FX/dup_header.csv"
run_ferry run dupheader.lua
expect_rc 1
expect_in "$out" "FAILED"
expect_in "$out" "error: extract: "
expect_in "$out" "column 'id' appears twice in the header"
expect_in "$out" "dup_header.csv"
expect_in "$out" "extracted 0"

t "a missing CSV file fails the run with 'cannot open' and the path"
rm -rf "$WORK/data"
src nocsv csv "$WORK/does/not/exist.csv"
run_ferry run nocsv.lua
expect_rc 1
expect_in "$out" "FAILED"
expect_in "$out" "error: extract: "
expect_in "$out" "$WORK/does/not/exist.csv"
expect_in "$out" "No such file or directory"
expect_in "$out" "cannot open"

t "a missing JSON-lines file fails the run with 'cannot open' and the path"
rm -rf "$WORK/data"
src nojsonl jsonl "$WORK/does/not/exist.jsonl"
run_ferry run nojsonl.lua
expect_rc 1
expect_in "$out" "FAILED"
expect_in "$out" "cannot open $WORK/does/not/exist.jsonl"
expect_in "$out" "No such file or directory"

# ---------------------------------------------------------------------------
t "JSON lines: a bad line is quarantined with line, raw text and the character position"
rm -rf "$WORK/data"
src mixed jsonl "$FX/mixed.jsonl"
run_ferry run mixed.lua
expect_rc 3
expect_in "$out" "extracted 6 · transformed 4 · skipped 0 · loaded 4 · quarantined 2"
expect_in "$out" "quarantined by stage: extract 2"
expect_eq "$(qpy mixed '[(q["stage"], q["class"], q["record"]["line"], q["reason"].startswith("line %d: invalid JSON" % q["record"]["line"])) for q in L]')" \
    "[('extract', 'validation', 4, True), ('extract', 'validation', 7, True)]" "$(qpy mixed '[q["reason"] for q in L]')"
expect_eq "$(qpy mixed '[q["record"]["raw"] for q in L]')" "['{\"id\":3,\"name\":\"broken', '{\"id\":5 \"x\":1}']"
# In '{"id":5 "x":1}' the unexpected token "x" is the 9th character.
expect_eq "$(qpy mixed 'L[1]["reason"].endswith("at character 9")')" "True" "$(qpy mixed 'L[1]["reason"]')"
expect_eq "$(qpy mixed 'L[0]["record"]["file"].endswith("mixed.jsonl")')" "True"

t "JSON lines: blank lines are skipped; null, nested objects, big integers and CRLF lines survive"
expect_eq "$(loaded mixed '[r["id"] for r in R]')" "[1, 2, 4, 6]"
expect_eq "$(loaded mixed 'R[0] == {"id": 1, "name": "a", "extra": None, "nested": {"x": [1, 2, {"y": None}], "z": "\u00e9\u00e8"}}')" "True" \
    "$(loaded mixed 'R[0]')"
expect_eq "$(loaded mixed '"extra" in R[0]')" "True" "a JSON null field stays in the record"
expect_eq "$(loaded mixed 'R[1] == {"id": 2, "name": "b", "tags": ["p"]}')" "True" "$(loaded mixed 'R[1]')"
expect_eq "$(grep -c '"big":123456789012345[,}]' "$WORK/mixed.out")" "1" "integers are written back exactly"
expect_eq "$(loaded mixed 'R[2] == {"id": 4, "big": 123456789012345, "f": 0.5, "neg": -2.5, "t": True, "f2": False}')" "True" \
    "$(loaded mixed 'R[2]')"
expect_eq "$(loaded mixed 'R[3]["name"]')" "last, no newline"

t "a quarantined JSON record keeps its exact shape (empty arrays stay arrays, nulls stay)"
rm -rf "$WORK/data"
script shapes 'return ferry.integration { '"$HEADER"'
  extract = function(ctx) ferry.source.jsonl(ctx, "'"$FX/shapes.jsonl"'") end,
  transform = function(r) return nil, "held for review" end,
  load = function(batch) end }'
run_ferry run shapes.lua
expect_rc 3
expect_eq "$(qpy t 'L[0]["record"] == {"id": 1, "tags": [], "obj": {}, "list": [[], {}], "n": None, "s": "x"}')" "True" \
    "quarantined record: $(qpy t 'L[0]["record"]')"

t "a JSON line nested 200 deep is never lost: rejected at extract with its raw text, or quarantined intact"
rm -rf "$WORK/data"
python3 -c 'print("{\"id\":1,\"deep\":" + "[" * 200 + "]" * 200 + "}")' >"$WORK/deep.jsonl"
script deep 'return ferry.integration { '"$HEADER"'
  extract = function(ctx) ferry.source.jsonl(ctx, "deep.jsonl") end,
  transform = function(r) return nil, "held for review" end,
  load = function(batch) end }'
run_ferry run deep.lua
expect_rc 3
got=$(qpy t 'L[0]["record"].get("raw") == open("'"$WORK/deep.jsonl"'").read().strip() if L[0]["stage"] == "extract" else (isinstance(L[0]["record"], dict) and L[0]["record"].get("id") == 1)')
expect_eq "$got" "True" "quarantined record: $(qpy t 'str(L[0]["record"])[:80]')"

# ---------------------------------------------------------------------------
t "a header-only CSV: no error, extracted 0, and suspect (exit 4): an empty run is not healthy"
rm -rf "$WORK/data"
src headeronly csv "$FX/header_only.csv"
run_ferry run headeronly.lua
expect_rc 4
expect_in "$out" "  OK (SUSPECT)"
expect_in "$out" "verdict: suspect — extracted 0 records"
expect_not_in "$out" "error"
expect_in "$out" "extracted 0 · transformed 0 · skipped 0 · loaded 0 · quarantined 0 (0 batches)"

t "an empty JSON-lines file: no error, extracted 0, and suspect (exit 4): an empty run is not healthy"
rm -rf "$WORK/data"
src emptyjsonl jsonl "$FX/empty.jsonl"
run_ferry run emptyjsonl.lua
expect_rc 4
expect_in "$out" "  OK (SUSPECT)"
expect_in "$out" "verdict: suspect — extracted 0 records"
expect_not_in "$out" "error"
expect_in "$out" "extracted 0 · transformed 0 · skipped 0 · loaded 0 · quarantined 0 (0 batches)"

t "ferry.source.csv passes options through (delimiter = \";\")"
rm -rf "$WORK/data"
src semi csv "$FX/semicolon.csv" '{ delimiter = ";" }'
run_ferry run semi.lua
expect_rc 0
expect_eq "$(loaded semi 'R == [{"code": "A", "label": "Apple, red", "qty": "3"}, {"code": "B", "label": "Banana; ripe", "qty": "12"}]')" \
    "True" "$(loaded semi 'R')"

done_t
