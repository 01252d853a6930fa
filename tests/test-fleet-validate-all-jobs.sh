#!/usr/bin/env bash
# validate --all --jobs 2 validates each domain in a vckpt process of its
# own, two at once (the log has a start line per domain besides the
# parent's), with the same results as the one-process run: the domain
# whose newest backup lost a file is refused (4) with its finding, the
# other passes, the run exits 4.
. "${srcdir:-.}/fleet-functions.sh"
fleet_setup xa xb
expect_exit 0 vckpt -q backup --all --full --repo "$R"
f=$(vckpt --json list-backups xb --repo "$R" | jq -r '.backups[0].disks[0].file')
rm "$R/xb/$f"

expect_exit 4 vckpt --log-file "$TMPD/log" --json validate --all --jobs 2 --repo "$R"
test "$(jq -r '[.[] | "\(.unit)=\(.exit)"] | join(" ")' "$out")" = "xa=0 xb=4"
jq '.[1].result' "$out" > "$TMPD/xb.json"
assert_finding "$TMPD/xb.json" previous-backup-damaged severity=error
test "$(grep -c 'start: validate' "$TMPD/log")" -eq 3 ||
    fail "expected the parent's and two children's start lines: $(cat "$TMPD/log")"

expect_exit 4 vckpt --json validate --all --repo "$R"
test "$(jq -r '[.[] | "\(.unit)=\(.exit)"] | join(" ")' "$out")" = "xa=0 xb=4"
