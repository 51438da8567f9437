#!/usr/bin/env bash
# End-to-end: several scripts in one `ferry run` all run to completion,
# whatever order they are named in and whichever finishes first (a run that
# finished before another first yielded used to end the loop early:
# "stalled with nothing left to wait for").
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

# integ NAME EXTRACT_BODY: an integration loading into $WORK/NAME.rows (one line per record)
integ() {
    script "$1" "return ferry.integration {
  name = \"$1\", owner = \"qa@example.com\", purpose = \"test\", pattern = \"reporting\",
  source_of_truth = \"fixture\", freshness = \"1h\",
  extract = function(ctx) $2 end,
  load = function(batch)
    local f = assert(io.open(\"$WORK/$1.rows\", \"a\"))
    for _, r in ipairs(batch) do f:write(r.id, '\n') end
    f:close()
  end,
}"
}
integ fast 'for i = 1, 3 do ctx:emit({ id = i }) end'
integ slow 'ferry.sleep(0.2); for i = 1, 2 do ctx:emit({ id = i }) end'
integ sleepy 'ctx:emit({ id = 1 }); ferry.sleep(0.1); ctx:emit({ id = 2 })'

for order in "fast.lua slow.lua" "slow.lua fast.lua" "fast.lua sleepy.lua slow.lua"; do
    t "stall: ferry run $order runs every script to the end"
    rm -rf "$WORK/data" "$WORK"/*.rows
    # shellcheck disable=SC2086
    run_ferry run $order
    expect_rc 0
    expect_not_in "$err" "stalled"
    for f in $order; do
        n=${f%.lua}
        expect_in "$out" "== $n  run "
        want=3; [ "$n" != fast ] && want=2
        expect_eq "$(wc -l 2>/dev/null <"$WORK/$n.rows" | tr -d ' ')" "$want" "rows loaded by $n"
        expect_eq "$(sql "$WORK/data/ferry.db" "SELECT status FROM runs WHERE integration = '$n'")" "ok" "$n's run in the store"
    done
done
done_t
