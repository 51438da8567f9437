#!/usr/bin/env bash
# End-to-end: ferry.json against the JSONTestSuite parsing corpus (Seriot,
# "Parsing JSON is a Minefield"; ../shared/corpora/README.md), with Python's
# json module as the independent reference for values; and json.encode
# under the integration's memory limit.
#
# One `ferry lua --trusted` run (io reads the files) decodes every file
# and prints a line per file: its name, then "ok" and the value re-encoded,
# or "err" and the message. A Python script judges the lines: y_ files
# must decode to Python's value, n_ files must be refused with "invalid
# JSON", i_ files may go either way but never crash or change a value.
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

CORPUS="$ROOT/../shared/corpora/JSONTestSuite/test_parsing"

script decode_all 'local dir, list = ...
local json = ferry.json
for name in io.lines(list) do
  local f = assert(io.open(dir .. "/" .. name, "rb"))
  local text = f:read("a")
  f:close()
  local ok, v, err = pcall(json.decode, text)
  if not ok then
    print(name .. "\traised\t" .. tostring(v))
  elseif v == nil then
    print(name .. "\terr\t" .. tostring(err))
  else
    local out, eerr = json.encode(v)
    print(name .. "\tok\t" .. tostring(out or ("cannot re-encode: " .. tostring(eerr))))
  end
end'

# judge CATEGORY: one line "ok" or the failing files with why, for y, n or i.
cat >"$WORK/judge.py" <<'PY'
import json, sys
sys.setrecursionlimit(20000)   # i_structure_500_nested_arrays, compared level by level

corpus, results, category = sys.argv[1], sys.argv[2], sys.argv[3]
got = {}
for line in open(results, encoding="utf-8", errors="surrogateescape"):
    name, kind, rest = (line.rstrip("\n").split("\t", 2) + ["", ""])[:3]
    got[name] = (kind, rest)

class Literal(str):
    """A number with a fraction or exponent, as written."""

def no_constants(c):
    raise ValueError("not JSON: " + c)

def reference(data):
    """Python's reading of the bytes: strict UTF-8, no NaN/Infinity, fractions as written."""
    try:
        return True, json.loads(data.decode("utf-8"), parse_float=Literal, parse_constant=no_constants)
    except (ValueError, RecursionError) as e:
        return False, str(e)

def same(ref, val):
    """Does ferry's value (read back from its JSON) equal Python's?"""
    if isinstance(ref, bool) or ref is None:
        return val is ref
    if isinstance(ref, int):
        if isinstance(val, str):          # past 64 bits: ferry keeps the exact text
            return abs(ref) >= 2 ** 63 and val.lstrip("-").isdigit() and int(val) == ref
        return type(val) is int and val == ref
    if isinstance(ref, Literal):
        f = float(ref)
        nonzero = any(c in "123456789" for c in ref.lower().split("e")[0])
        if f in (float("inf"), float("-inf")) or (f == 0 and nonzero):
            return val == str(ref)        # beyond a double: ferry keeps the exact text
        return type(val) in (int, float) and val == f
    if isinstance(ref, str):
        return isinstance(val, str) and val == ref
    if isinstance(ref, list):
        return isinstance(val, list) and len(val) == len(ref) and all(map(same, ref, val))
    if isinstance(ref, dict):
        return isinstance(val, dict) and val.keys() == ref.keys() and all(same(ref[k], val[k]) for k in ref)
    return False

bad = []
names = sorted(n for n in open(sys.argv[4]).read().split("\n") if n.startswith(category + "_"))
for name in names:
    data = open(corpus + "/" + name, "rb").read()
    ref_ok, ref = reference(data)
    kind, rest = got.get(name, ("missing", "no line from ferry (did it crash?)"))
    if kind in ("missing", "raised"):
        bad.append(f"{name} ({kind}: {rest[:80]})")
    elif kind == "err":
        if not rest.startswith("invalid JSON: ") or "(null)" in rest:
            bad.append(f"{name} (unclear message: {rest[:80]})")
        elif category == "y":
            bad.append(f"{name} (refused: {rest[:80]})")
    elif category == "n":
        bad.append(f"{name} (accepted as {rest[:60]})")
    elif not ref_ok:
        bad.append(f"{name} (accepted what Python refuses: {ref[:60]})")
    else:
        try:
            val = json.loads(rest)
        except ValueError:
            val = object()
        if not same(ref, val):
            bad.append(f"{name} (value {rest[:60]} differs from Python's)")
print(f"{len(names)} files" if not bad else f"{len(bad)} of {len(names)} files: " + "; ".join(bad))
PY

t "JSONTestSuite: one ferry run decodes all 318 files without crashing"
if [ ! -d "$CORPUS" ]; then
    skip_t "JSONTestSuite corpus not found at $CORPUS (see ../shared/corpora/README.md)"
else
    (cd "$CORPUS" && ls) >"$WORK/files.txt"
    run_ferry lua --trusted "$WORK/decode_all.lua" "$CORPUS" "$WORK/files.txt"      # io reads the files
    expect_rc 0
    printf '%s\n' "$out" >"$WORK/results.tsv"
    expect_eq "$(wc -l <"$WORK/files.txt")" 318 "files in the corpus"
    expect_eq "$(grep -c . "$WORK/results.tsv")" 318 "result lines"
    done_t
    for cat in y n i; do
        case $cat in
        y) t "JSONTestSuite y_: every file accepted, with the value Python's json reads" ;;
        n) t "JSONTestSuite n_: every file refused with \"invalid JSON: ... at character N\"" ;;
        i) t "JSONTestSuite i_: each accepted with Python's value or refused with a clear message" ;;
        esac
        verdict=$(python3 "$WORK/judge.py" "$CORPUS" "$WORK/results.tsv" "$cat" "$WORK/files.txt" 2>&1)
        case $verdict in *" files") ;; *) fail "$verdict" ;; esac
        done_t
    done
fi

# ---------------------------------------------------------------------------
printf 'return { limits = { memory = "8MB" } }\n' >"$WORK/mem8.lua"

t "json.encode: text past limits.memory is refused with a clear message, not built outside the limit"
script encode_big 'local s = string.rep("x", 100000)
local t = {}
for i = 1, 200 do t[i] = s end                  -- 20 MB of text from 100 KB of Lua memory
local out, err = ferry.json.encode(t)
assert(out == nil, "encode gave " .. tostring(out and #out) .. " bytes")
print(err)
local small = assert(ferry.json.encode({ s, s }))
print(#small)'
run_ferry lua -c "$WORK/mem8.lua" "$WORK/encode_big.lua"
expect_rc 0
expect_in "$out" "cannot encode: the text would exceed the integration's memory limit (limits.memory)"
expect_in "$out" "200007"
done_t

t "json.encode: running out of Lua memory midway raises, and its buffer is freed (ASan: no leak)"
# A tripped memory limit ends the script (a pcall cannot swallow it), so the
# encode itself is what runs out: "a" is written first, then b's 100,000
# key names (sort_keys) do not fit.
printf 'return { limits = { memory = "9MB" } }\n' >"$WORK/mem9.lua"
script encode_oom 'local keys = {}
for i = 1, 100000 do keys[i + 0.5] = i end        -- float keys: sort_keys makes a string of each
print(ferry.json.encode({ a = string.rep("z", 1000), b = keys }, { sort_keys = true }))'
run_ferry lua -c "$WORK/mem9.lua" "$WORK/encode_oom.lua"
expect_rc 1
expect_in "$err" "in function 'ferry.json.encode'"
expect_eq "$out" "" "nothing printed"
done_t
