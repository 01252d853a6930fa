#!/usr/bin/env bash
# commit killed (SIGKILL, VCKPT_TEST_HOOK=bitmaps:kill) after the bitmaps
# were added to and merged into the base, before the data was committed:
# validate reports image-operation-pending, the domain still runs on the
# old chain (and may: a start and a write are fine), the same command
# refuses to finish while it runs (exit 5) and finishes it once it is shut
# off; then validate is clean and incremental backups from every checkpoint
# restore bit-exact, the writes made meanwhile included.
. "${srcdir:-.}/chain-functions.sh"

cf_setup
base=$(lab_disk_path "$dom" vda)
expect_exit 0 vckpt overlay create "$dom" --name s1
top=$(lab_disk_path "$dom" vda)
lab_domain_start "$dom"
cf_put 0x33 2M 1M
cf_backup c3 --incremental c2
lab_domain_stop "$dom"

killed_at bitmaps commit "$dom" --disk vda --top "$top"
test "$(lab_disk_path "$dom" vda)" = "$top"
test "$(lab_bitmaps "$base" | sort | tr '\n' ' ')" = "c1 c2 c3 "
lab_expect_pattern "$base" 2M 1M zero       # the data is not committed yet
expect_exit 4 vckpt --json validate "$dom"
assert_finding "$out" image-operation-pending severity=error fix=finish-operation \
    'message~commit of .*s1.qcow2 into .*vda.qcow2 on disk vda'

# The old chain is still valid: the domain starts on it and writes.
lab_domain_start "$dom"
cf_put 0x55 6M 1M
expect_exit 5 vckpt commit "$dom" --disk vda --top "$top"
grep -q 'running on its old images' "$err"
lab_domain_stop "$dom"

expect_exit 0 vckpt commit "$dom" --disk vda --top "$top"
grep -q '^Finished the interrupted commit of domain chain' "$out"
test "$(lab_disk_path "$dom" vda)" = "$base"
cf_no_journal
lab_compare_images "$base" "$TMPD/model.qcow2"
cf_validate_clean
for c in c1 c2 c3; do cf_validate_clean --checkpoint $c; done

lab_domain_start "$dom"
cf_put 0x44 3M 1M
cf_backup x3 --incremental c3
cf_backup x1 --incremental c1
for c in x1 x3; do cf_restore_check $c; done
# The write made between the crash and the recovery is in both.
lab_expect_pattern "$TMPD/r-x3/vda.qcow2" 6M 1M 0x55
