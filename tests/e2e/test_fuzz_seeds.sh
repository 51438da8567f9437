#!/usr/bin/env bash
# Every fuzz harness's seed corpus (tests/fuzz/<target>/seed/) replayed through
# the harness's own checks, built with the normal compiler (and under ASan and
# UBSan with SANITIZE=1) by tests/fuzz/replay.c instead of libFuzzer. The
# fuzzers themselves run only in `make fuzz`.
#
#   bash tests/e2e/test_fuzz_seeds.sh        or        ONLY=fuzz_seeds make test
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
REPLAY=$(dirname "$FERRY")/fuzz-replay

for dir in "$ROOT"/tests/fuzz/*/seed; do
    target=$(basename "$(dirname "$dir")")
    t "fuzz seeds: $target"
    bin=$REPLAY/fuzz_$target
    if [ ! -x "$bin" ]; then
        fail "no $bin (make test builds it)"
        continue
    fi
    o=$("$bin" "$dir" 2>&1)
    rc=$?
    [ $rc -eq 0 ] || fail "exit $rc: $(grep -m3 -E 'check failed|Sanitizer|runtime error' <<<"$o" | tr '\n' ' ')"
    expect_in "$o" " inputs"
done
done_t
