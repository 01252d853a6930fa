#!/usr/bin/env bash
# One backup made while the host's clock was a year ahead (a bad RTC, a
# boot before NTP), then backups with the clock right again
# (tests/clockshift.so puts vckpt's clock off).  prune must never expire a
# point because of that time: --keep-within 30d counted 30 days back from
# the year ahead and expired every backup made after it, and --keep-last 2
# gave the year-ahead backup one of the two slots.  Now the manifest's
# order decides: keep-within keeps every point, keep-last 2 keeps the two
# made last; list-backups, verify and prune warn naming the backup; the
# kept points restore bit for bit and nothing is left behind.
. "${srcdir:-.}/prune-functions.sh"
pf_setup 16M
year=31536000

pf_put 0x10 0 4M
pf_backup 0 --full
pf_put 0x21 1M 1M
pf_backup 1 --auto
pf_put 0x22 2M 1M
pf_clock "$year" pf_backup 2 --auto
id2=$(cat "$TMPD/id2")
jq -e --arg id "$id2" '.backups[2].id == $id and .backups[2].start > now + 300 * 86400' \
   <(vckpt --json list-backups "$dom" --repo "$R") || fail "the shifted clock was not recorded"

# Right after it, with the clock right again: the newest time lies in the
# future, nothing after it yet.
expect_exit 0 pf_vckpt --json prune "$dom" --repo "$R" --keep-within 30d --dry-run
jq -e '[.backups[] | select(.kept)] | length == 3' "$out" ||
    fail "keep-within 30d expires points because of a time in the future"
jq -e '.backups[2].time_fault == "future" and .backups[1].time_fault == null' "$out"
assert_grep "backup $id2: its recorded time, .*, is later than the host's clock now" "$err"

pf_put 0x23 3M 1M
pf_backup 3 --auto
pf_put 0x24 4M 1M
pf_backup 4 --auto

# keep-within 30d: every point is kept; the year-ahead one because a rule
# could keep it at every time it may have (between points 1 and 3).
expect_exit 0 pf_vckpt --json prune "$dom" --repo "$R" --keep-within 30d --dry-run
test "$(jq -r '[.backups[] | select(.kept)] | length' "$out")" = 5 ||
    fail "keep-within 30d expires backups made after the one with the wrong time"
test "$(jq -r '.backups[2].reasons | join(",")' "$out")" = clock
test "$(jq -r '.backups[3].reasons | join(",")' "$out")" = within
assert_grep "backup $id2: its recorded time" "$err"

# keep-last 2: the two made last, whatever their times.
expect_exit 0 pf_vckpt --json prune "$dom" --repo "$R" --keep-last 2 --dry-run
test "$(jq -r '.backups[] | select(.kept) | .id' "$out")" = "$(cat "$TMPD/id3" "$TMPD/id4")" ||
    fail "keep-last 2 does not keep the two backups made last"

# list-backups and verify warn, naming the backup; neither fails for it.
expect_exit 0 vckpt list-backups "$dom" --repo "$R"
assert_grep "warning: .*backup $id2: its recorded time, .*, is later than the host's clock now .*: the clock was ahead when it was made, or is behind now; check the host's clock" "$err"
expect_exit 0 vckpt --json list-backups "$dom" --repo "$R"
test "$(jq -r '[.backups[].time_fault] | map(. // "-") | join(" ")' "$out")" = "- - future - -"
expect_exit 0 pf_vckpt --json verify "$dom" --repo "$R"
assert_finding "$out" backup-time-wrong severity=warning fix=none "message~^backup $id2: its recorded time"
jq -e '.findings | length == 1' "$out"
expect_exit 0 pf_vckpt verify "$dom" --repo "$R"
assert_grep "backup-time-wrong" "$out"

# The rules applied: keep-within changes nothing, keep-last 2 merges.
expect_exit 0 pf_vckpt prune "$dom" --repo "$R" --keep-within 30d
grep -q "Pruned $dom: 5 kept, 0 expired" "$out"
expect_exit 0 pf_vckpt prune "$dom" --repo "$R" --keep-last 2
grep -q "Pruned $dom: 2 kept, 3 expired" "$out"
test "$(pf_ids)" = "$(cat "$TMPD/id3" "$TMPD/id4")"
pf_restore_ok 3
pf_restore_ok 4

# The wrong time went with its backup: no warning is left.
expect_exit 0 pf_vckpt --json verify "$dom" --repo "$R"
jq -e '.findings | length == 0' "$out" || fail "verify found problems after the prune"
expect_exit 0 vckpt list-backups "$dom" --repo "$R"
assert_no_grep "warning" "$err"
test ! -e "$R/$dom/pending.xml"
