#!/usr/bin/env bash
# The whole test suite: C unit tests, Lua tests, end-to-end CLI tests.
# Prints one closing line "N passed, N failed" and exits non-zero on any failure.
#
#   FERRY     the binary under test (default build/ferry)
#   UNIT_DIR  where the unit test binaries are (default build/tests)
#   SANITIZE  non-empty when the binaries are built with ASan/UBSan
#   ONLY      run only test files whose path contains this string
#   E2E_DIR   where the end-to-end test files are (default tests/e2e)
#
# Each test runs under timeout(1), which puts it in a process group of its
# own; a Ctrl-C or a kill of make's group would not reach it, nor the fake
# servers it started. So on INT, TERM or HUP the running test's group is
# sent TERM before the suite stops.
set -u
shopt -s nullglob
cd "$(dirname "$0")/.."
export FERRY=${FERRY:-build/ferry}
export FERRY_ABS=$(realpath "$FERRY")
UNIT_DIR=${UNIT_DIR:-build/tests}
export SANITIZE=${SANITIZE:-}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=98}
ONLY=${ONLY:-}
passed=0 failed=0 skipped=0
failures=()

count() {   # count OUTPUT_FILE LABEL: adds the ok/not ok/skip lines of one test file
    local out=$1 label=$2 p f s
    p=$(grep -c '^ok ' "$out")
    f=$(grep -c '^not ok ' "$out")
    s=$(grep -c '^skip ' "$out")
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    grep '^not ok ' "$out" | sed "s|^|  [$label] |"
    grep '^not ok ' "$out" >/dev/null && failures+=("$label")
}

E2E_DIR=${E2E_DIR:-tests/e2e}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

exec 3>&1           # the suite's own stdout, for stop() (timed's is redirected)
child=""
# timed SECONDS CMD...: runs CMD under timeout, in the background so that a
# signal to this script is handled at once (wait returns), not after CMD.
timed() {
    timeout "$@" &
    child=$!
    wait "$child"
    local rc=$?
    child=""
    return $rc
}
stop() {
    [ -n "$child" ] && kill -TERM -- "-$child" 2>/dev/null
    wait
    printf '\ninterrupted (%s): %s passed, %s failed so far\n' "$1" "$passed" "$failed" >&3
    exit 130
}
trap 'stop INT' INT
trap 'stop TERM' TERM
trap 'stop HUP' HUP

echo "== unit tests"
for t in "$UNIT_DIR"/test_*; do
    [ -x "$t" ] || continue
    case "$t" in *.d) continue;; esac
    [ -n "$ONLY" ] && [[ "$t" != *"$ONLY"* ]] && continue
    name=$(basename "$t")
    timed 300 "$t" >"$tmp/out" 2>&1
    rc=$?
    line=$(grep -E '^unit .*: [0-9]+ passed, [0-9]+ failed' "$tmp/out" | tail -1)
    p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line"); f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
    p=${p:-0}; f=${f:-0}
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    passed=$((passed + p)); failed=$((failed + f))
    printf '  %-28s %s passed, %s failed%s\n' "$name" "$p" "$f" "$([ $rc -ne 0 ] && echo " (exit $rc)")"
    [ "$f" -gt 0 ] && { grep -E '^FAIL|ERROR|Sanitizer|runtime error' "$tmp/out" | head -20 | sed 's/^/    /'; failures+=("$name"); }
done

echo "== lua tests"
for t in tests/lua/test_*.lua; do
    [ -n "$ONLY" ] && [[ "$t" != *"$ONLY"* ]] && continue
    trusted=()        # a file whose first line says "ferry lua --trusted" runs trusted
    head -1 "$t" | grep -q 'ferry lua --trusted' && trusted=(--trusted)
    if timed 300 "$FERRY" lua "${trusted[@]}" "$t" >"$tmp/out" 2>&1; then
        passed=$((passed + 1)); echo "  ok  $t"
    else
        failed=$((failed + 1)); failures+=("$t"); echo "  FAIL $t"; head -20 "$tmp/out" | sed 's/^/    /'
    fi
done

echo "== end-to-end tests"
# contrib connectors' and examples' end-to-end tests run with ferry's own (contrib/README.md)
for t in "$E2E_DIR"/test_*.sh contrib/*/tests/test_*.sh contrib/examples/*/tests/test_*.sh; do
    [ -n "$ONLY" ] && [[ "$t" != *"$ONLY"* ]] && continue
    timed 900 bash "$t" >"$tmp/out" 2>&1
    rc=$?
    count "$tmp/out" "$t"
    if [ $rc -ne 0 ] && ! grep -q '^not ok ' "$tmp/out"; then
        failed=$((failed + 1)); failures+=("$t (exit $rc)")
        echo "  [$t] exited $rc:"; tail -20 "$tmp/out" | sed 's/^/    /'
    fi
    printf '  %-40s %s ok, %s not ok, %s skipped\n' "$t" "$(grep -c '^ok ' "$tmp/out")" \
        "$(grep -c '^not ok ' "$tmp/out")" "$(grep -c '^skip ' "$tmp/out")"
done

# connectors' and scripts' own tests (`ferry test`: *_test.lua beside them)
kit_tests=$(find contrib scripts -name '*_test.lua' -not -path '*/data/*' 2>/dev/null | sort)
if [ -n "$kit_tests" ] && { [ -z "$ONLY" ] || grep -qF -- "$ONLY" <<<"$kit_tests"; }; then
    echo "== ferry test (contrib, scripts)"
    [ -n "$ONLY" ] && kit_tests=$(grep -F -- "$ONLY" <<<"$kit_tests")
    # shellcheck disable=SC2086
    timed 900 "$FERRY" test $kit_tests >"$tmp/out" 2>&1
    rc=$?
    count "$tmp/out" "ferry test"
    if [ $rc -ne 0 ] && ! grep -q '^not ok ' "$tmp/out"; then
        failed=$((failed + 1)); failures+=("ferry test (exit $rc)")
        tail -20 "$tmp/out" | sed 's/^/    /'
    fi
    printf '  %-40s %s ok, %s not ok\n' "ferry test" "$(grep -c '^ok ' "$tmp/out")" "$(grep -c '^not ok ' "$tmp/out")"
fi

[ ${#failures[@]} -gt 0 ] && { echo; echo "failed: ${failures[*]}"; }
echo
if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
