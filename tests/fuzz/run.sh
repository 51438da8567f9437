#!/usr/bin/env bash
# Run each libFuzzer harness named on the command line (csv json ...) for
# FUZZ_TIME seconds, starting from a scratch copy of tests/fuzz/<target>/seed
# (new corpus entries stay in build-fuzz/, never in the tree). Prints one line
# per target and exits non-zero when any harness crashed, leaked, timed out
# or could not run. Crash inputs land in build-fuzz/artifacts/<target>/.
#
#   FUZZ_TIME  seconds per target (default 60)
#   FUZZ_DIR   where the harnesses are (default build-fuzz)
#   FUZZ_ARGS  extra libFuzzer flags, e.g. "-jobs=2" or "-seed=1"
set -u
cd "$(dirname "$0")/../.."
FUZZ_TIME=${FUZZ_TIME:-60}
FUZZ_DIR=${FUZZ_DIR:-build-fuzz}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()

for t in "$@"; do
    bin=$FUZZ_DIR/fuzz_$t corpus=$FUZZ_DIR/corpus/$t art=$FUZZ_DIR/artifacts/$t/ log=$FUZZ_DIR/fuzz_$t.log
    rm -rf "$corpus"
    mkdir -p "$corpus" "$art"
    cp tests/fuzz/"$t"/seed/* "$corpus"/ 2>/dev/null
    dict=()
    [ -f tests/fuzz/"$t".dict ] && dict=(-dict=tests/fuzz/"$t".dict)
    [ "$t" = jsonl ] && dict=(-dict=tests/fuzz/json.dict)
    # -timeout: one input running this long is a hang; -rss_limit_mb: a leak or
    # blow-up past this is a finding (the Lua states are capped well below).
    # FUZZ_ARGS is split on purpose: it holds several flags.
    # shellcheck disable=SC2086
    "$bin" -max_total_time="$FUZZ_TIME" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$art" "${dict[@]}" ${FUZZ_ARGS:-} "$corpus" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    [ -z "$runs" ] && runs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    execs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
    if [ $rc -eq 0 ]; then
        printf 'fuzz %-7s %9s runs  %6s exec/s  %-10s ok\n' "$t" "${runs:-?}" "${execs:-?}" "${cov:-}"
    else
        crash=$(grep -oE "Test unit written to [^ ]+" "$log" | tail -1 | sed 's/Test unit written to //')
        printf 'fuzz %-7s %9s runs  %6s exec/s  %-10s FAILED (exit %d) %s\n' "$t" "${runs:-?}" \
            "${execs:-?}" "${cov:-}" "$rc" "${crash:+input: $crash}"
        grep -E 'ERROR|runtime error|check failed|SUMMARY|panic' "$log" | head -5 | sed 's/^/    /'
        echo "    log: $log${crash:+; reproduce: $bin $crash}"
        # CI keeps only this output: print small inputs so a finding can be
        # replayed elsewhere (base64 -d >input; then the reproduce line).
        if [ -n "$crash" ] && [ -f "$crash" ] && [ "$(stat -c %s "$crash")" -le 4096 ]; then
            echo "    input (base64): $(base64 -w0 "$crash")"
        fi
        failed+=("$t")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: ${#failed[@]} of $# targets failed: ${failed[*]}"
    exit 1
fi
echo "fuzz: $# targets, no crash"
