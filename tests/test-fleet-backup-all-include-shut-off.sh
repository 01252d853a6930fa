#!/usr/bin/env bash
# backup --all takes the running domains only; --include-shut-off adds the
# shut-off ones, and the summary shows a shut-off domain's own outcome and
# exit status like any other domain's (its own message on stderr when it
# fails), the run exiting with the most serious status.
. "${srcdir:-.}/fleet-functions.sh"
fleet_setup qa
lab_domain_define qb --disk 16M
test "$(lab_domain_state qb)" = 'shut off'

expect_exit 0 vckpt --json backup --all --auto --repo "$R"
test "$(jq -r '[.[].unit] | join(" ")' "$out")" = qa

rc=0
vckpt --json backup --all --auto --include-shut-off --repo "$R" > "$TMPD/o" 2> "$TMPD/e" || rc=$?
cat "$TMPD/o" "$TMPD/e" >&2
test "$(jq -r '[.[].unit] | join(" ")' "$TMPD/o")" = "qa qb"
test "$(jq -r '.[0].exit' "$TMPD/o")" -eq 0
qb=$(jq -r '.[1].exit' "$TMPD/o")
test "$rc" -eq "$qb" || fail "backup --all exited $rc, qb's status is $qb"
if [ "$qb" -ne 0 ]; then
    # qb's own error, from its own process, then the summary's line.
    assert_grep "^vckpt: backup qb: .*qb" "$TMPD/e"
    assert_grep "^vckpt: backup qb: [a-z ]+ \(exit status $qb\)" "$TMPD/e"
fi
# The text summary says the same.
rc=0
vckpt backup --all --auto --include-shut-off --repo "$R" > "$TMPD/o" 2> "$TMPD/e" || rc=$?
assert_grep "^qb +[a-z ]+ .* $rc\$" "$TMPD/o"
assert_grep '^qa +ok +incremental ' "$TMPD/o"
