#!/usr/bin/env bash
# overlay create killed after the overlay was made and before the domain
# definition was switched: vckpt repair --dry-run describes finishing it and
# changes nothing; vckpt repair finishes it (the journal's steps, nothing
# else); then validate is clean and an incremental backup restores
# bit-exact.
. "${srcdir:-.}/chain-functions.sh"

cf_setup
base=$(lab_disk_path "$dom" vda)
new=${base%.qcow2}.s1.qcow2
killed_at overlay overlay create "$dom" --name s1
expect_exit 4 vckpt --json validate "$dom"
assert_finding "$out" image-operation-pending severity=error 'action~vckpt repair'

expect_exit 0 vckpt repair "$dom" --dry-run
assert_grep '^planned +finish-image-operation' "$out"
assert_grep "would switch the definition of domain '$dom'" "$out"
test "$(lab_disk_path "$dom" vda)" = "$base" || fail "a dry run switched the definition"
test -n "$(ls -A "$VCKPT_STATE_DIR")" || fail "a dry run removed the journal"

expect_exit 0 vckpt repair "$dom"
assert_grep '^done +finish-image-operation' "$out"
assert_grep '^Repaired: 1 step done' "$out"
test "$(lab_disk_path "$dom" vda)" = "$new" || fail "repair did not finish the overlay"
test "$(lab_bitmaps "$new" | sort | tr '\n' ' ')" = "c1 c2 "
test "$(ls "$(dirname "$base")" | grep -c '\.qcow2$')" = 2   # no second overlay
cf_no_journal
cf_validate_clean

lab_domain_start "$dom"
cf_put 0x33 2M 1M
cf_backup c3 --incremental c2
cf_restore_check c3
