#!/usr/bin/env bash
# A host clock a year behind, both ways (tests/clockshift.so puts vckpt's
# clock off): one backup made while it was behind, between backups made
# with the clock right, and a prune run while it is behind.  No point may
# expire because of it: --keep-within 30d expired the backup made with
# the clock behind (its time a year before the others), and with the clock
# behind now every other time lies in the future.  list-backups and
# verify warn naming the backups; the rules then work as always once the
# wrong time has gone, and the kept points restore bit for bit.
. "${srcdir:-.}/prune-functions.sh"
pf_setup 16M
year=31536000

pf_put 0x10 0 4M
pf_backup 0 --full
pf_put 0x21 1M 1M
pf_backup 1 --auto
pf_put 0x22 2M 1M
pf_clock "-$year" pf_backup 2 --auto
pf_put 0x23 3M 1M
pf_backup 3 --auto
pf_put 0x24 4M 1M
pf_backup 4 --auto
id1=$(cat "$TMPD/id1") id2=$(cat "$TMPD/id2")

# The clock right: the backup made while it was behind is out of order,
# and it is kept (it was made between points 1 and 3).
expect_exit 0 pf_vckpt --json prune "$dom" --repo "$R" --keep-within 30d --dry-run
test "$(jq -r '[.backups[] | select(.kept)] | length' "$out")" = 5 ||
    fail "keep-within 30d expires the backup made while the clock was behind"
test "$(jq -r '.backups[2].reasons | join(",")' "$out")" = clock
test "$(jq -r '[.backups[].time_fault] | map(. // "-") | join(" ")' "$out")" = "- - order - -"
assert_grep "backup $id2: its recorded time, .*, is earlier than that of backup $id1, made before it" "$err"
expect_exit 0 vckpt list-backups "$dom" --repo "$R"
assert_grep "warning: .*backup $id2: its recorded time, .*, is earlier than that of backup $id1, made before it .*: the clock was behind when $id2 was made, or ahead when $id1 was" "$err"
test "$(grep -c warning "$err")" = 1
expect_exit 0 pf_vckpt --json verify "$dom" --repo "$R"
assert_finding "$out" backup-time-wrong severity=warning "message~^backup $id2: its recorded time"
jq -e '(.findings | length == 1) and .errors == 0' "$out"

# The clock behind now: the four backups made with it right lie in the
# future; none of them expires by a time rule.
expect_exit 0 pf_clock "-$year" pf_vckpt --json prune "$dom" --repo "$R" --keep-within 1d --dry-run
test "$(jq -r '[.backups[] | select(.kept)] | length' "$out")" = 5 ||
    fail "keep-within 1d expires points while the clock is behind"
test "$(jq -r '[.backups[].time_fault] | map(. // "-") | join(" ")' "$out")" = "future future - future future"
test "$(grep -c "is later than the host's clock now" "$err")" = 4
expect_exit 0 pf_clock "-$year" vckpt list-backups "$dom" --repo "$R"
test "$(grep -c "warning: .*is later than the host's clock now" "$err")" = 4
expect_exit 0 pf_clock "-$year" pf_vckpt --json verify "$dom" --repo "$R"
test "$(jq -r '[.findings[] | select(.code == "backup-time-wrong")] | length' "$out")" = 4
# keep-last needs no time: it works with the clock behind too.
expect_exit 0 pf_clock "-$year" pf_vckpt --json prune "$dom" --repo "$R" --keep-last 3 --dry-run
test "$(jq -r '.backups[] | select(.kept) | .id' "$out")" = "$(cat "$TMPD/id2" "$TMPD/id3" "$TMPD/id4")"

# With the clock right again, keep-last 2 expires the wrong time too.
expect_exit 0 pf_vckpt prune "$dom" --repo "$R" --keep-within 30d
grep -q "Pruned $dom: 5 kept, 0 expired" "$out"
expect_exit 0 pf_vckpt prune "$dom" --repo "$R" --keep-last 2
grep -q "Pruned $dom: 2 kept, 3 expired" "$out"
test "$(pf_ids)" = "$(cat "$TMPD/id3" "$TMPD/id4")"
pf_restore_ok 3
pf_restore_ok 4
expect_exit 0 pf_vckpt --json verify "$dom" --repo "$R"
jq -e '.findings | length == 0' "$out" || fail "verify found problems after the prune"
test ! -e "$R/$dom/pending.xml"
