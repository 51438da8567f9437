#!/usr/bin/env bash
# End-to-end tests of what a new user hit first (issue 11): mistyped commands
# and names get a suggestion, not a wall of help or a silent success.
#
#   bash tests/e2e/test_newuser.sh        or        ONLY=test_newuser make test
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

script contacts "return ferry.integration {
  ${HEADER/name = \"t\"/name = \"contacts\"}
  extract = function(ctx)
    if ctx.cursor then return end
    for i = 1, 3 do ctx:emit({ id = i }) end
    ctx:checkpoint(3)
  end,
  load = function(batch, ctx) end,
}"

t "cli: a mistyped command gets a suggestion and the one-line usage, not the whole help"
run_ferry rnu contacts.lua
expect_rc 2
expect_in "$err" "ferry: unknown command 'rnu' (did you mean 'run'?)"
expect_in "$err" "Usage: ferry COMMAND [OPTIONS] [ARGS]"
expect_not_in "$err" "Commands:"
expect_eq "$(wc -l <<<"$err")" "2" "two lines on stderr"
expect_eq "$out" ""

t "cli: an unknown command far from any gets no suggestion"
run_ferry frobnicate
expect_rc 2
expect_in "$err" "ferry: unknown command 'frobnicate'"
expect_not_in "$err" "did you mean"

t "cli: 'ferry help stauts' suggests status"
run_ferry help stauts
expect_rc 2
expect_in "$err" "unknown command 'stauts' (did you mean 'status'?)"

t "cli: a mistyped quarantine subcommand gets a suggestion"
run_ferry quarantine lsit
expect_rc 2
expect_in "$err" "unknown subcommand 'lsit' (did you mean 'list'?)"

t "reset: an integration the store has never seen is an error, with a suggestion"
run_ferry run contacts.lua
expect_rc 0
run_ferry reset contcats --yes
expect_rc 2
expect_in "$err" "ferry reset: no integration 'contcats' in the store"
expect_in "$err" "did you mean 'contacts'?"
expect_eq "$out" ""
run_ferry status
expect_in "$out" "contacts"

t "reset: an unknown name far from any is an error without a suggestion"
run_ferry reset no-such-integration --yes
expect_rc 2
expect_in "$err" "no integration 'no-such-integration' in the store"
expect_not_in "$err" "did you mean"

t "reset: a known integration whose checkpoint is already gone still says nothing to reset, exit 0"
run_ferry reset contacts --yes
expect_rc 0
expect_in "$out" "reset contacts"
run_ferry reset contacts --yes
expect_rc 0
expect_in "$out" "contacts has no checkpoint; nothing to reset"

t "runs: an unknown integration is an error, with a suggestion"
run_ferry runs contcats
expect_rc 2
expect_in "$err" "no integration 'contcats' in the store"
expect_in "$err" "did you mean 'contacts'?"

t "quarantine list/replay: an unknown integration is an error, with a suggestion"
run_ferry quarantine list contcats
expect_rc 2
expect_in "$err" "did you mean 'contacts'?"
run_ferry quarantine replay contcats
expect_rc 2
expect_in "$err" "did you mean 'contacts'?"

done_t
