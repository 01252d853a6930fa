#!/usr/bin/env bash
# commit killed (SIGKILL, VCKPT_TEST_HOOK=commit:kill) after the data was
# committed into the base, before the definition was switched: the domain
# still names the old top (whose data is intact: commit -d), validate
# reports image-operation-pending, and the same command finishes it; then
# validate is clean and incremental backups restore bit-exact.
. "${srcdir:-.}/chain-functions.sh"

cf_setup
base=$(lab_disk_path "$dom" vda)
expect_exit 0 vckpt overlay create "$dom" --name s1
top=$(lab_disk_path "$dom" vda)
lab_domain_start "$dom"
cf_put 0x33 2M 1M
cf_backup c3 --incremental c2
lab_domain_stop "$dom"

killed_at commit commit "$dom" --disk vda --top "$top"
test "$(lab_disk_path "$dom" vda)" = "$top"
lab_expect_pattern "$base" 2M 1M 0x33        # committed
lab_compare_images "$top" "$TMPD/model.qcow2"  # the old chain reads the same
expect_exit 4 vckpt --json validate "$dom"
assert_finding "$out" image-operation-pending severity=error fix=finish-operation

expect_exit 0 vckpt --json commit "$dom" --disk vda --top "$top"
jq -e '.resumed == true and .resumed_operation == "commit"' "$out"
test "$(lab_disk_path "$dom" vda)" = "$base"
cf_no_journal
cf_validate_clean

lab_domain_start "$dom"
cf_put 0x44 3M 1M
cf_backup x2 --incremental c2
cf_restore_check x2
