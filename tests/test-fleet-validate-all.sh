#!/usr/bin/env bash
# validate --all --repo checks every running domain against the repository,
# each in its own unit of work: one whose newest backup lost a file is refused
# (4) with its finding, the others pass; the run exits 4 and each domain's
# status is in the summary.
. "${srcdir:-.}/fleet-functions.sh"
fleet_setup xa xb
expect_exit 0 vckpt -q backup --all --full --repo "$R"
expect_exit 0 vckpt validate --all --repo "$R"
assert_grep '^xa +ok +0 ' "$out"
assert_grep '^2 domains: 2 valid, 0 failed$' "$out"

f=$(vckpt --json list-backups xb --repo "$R" | jq -r '.backups[0].disks[0].file')
rm "$R/xb/$f"
expect_exit 4 vckpt --json validate --all --repo "$R"
test "$(jq -r '[.[] | "\(.unit)=\(.exit)"] | join(" ")' "$out")" = "xa=0 xb=4"
jq '.[1].result' "$out" > "$TMPD/xb.json"
assert_finding "$TMPD/xb.json" previous-backup-damaged severity=error
expect_exit 4 vckpt validate --all --repo "$R"
assert_grep '^xb +refused +1 ' "$out"
expect_exit 2 vckpt validate --all xa
expect_exit 2 vckpt validate --all --checkpoint c1
