#!/usr/bin/env bash
# commit killed after the bitmaps (VCKPT_TEST_HOOK=bitmaps:kill) of a
# domain whose definition names its images through a linked directory:
# the journal holds the resolved paths, the definition the linked ones.
# Before the fix the same command refused to finish it ("now uses ...,
# which the interrupted commit did not expect") and every backup stayed
# refused; now the same command finishes it: exit 0, the disk uses the
# base, no journal, validate clean, and an incremental restores bit-exact.
. "${srcdir:-.}/chain-functions.sh"

cf_setup
real=$(lab_disk_path "$dom" vda)
ln -s "$(dirname "$real")" "$TMPD/imgs"
virsh dumpxml --inactive --security-info "$dom" > "$TMPD/d.xml"
sed -i "s|file='$real'|file='$TMPD/imgs/$(basename "$real")'|" "$TMPD/d.xml"
virsh define "$TMPD/d.xml" >/dev/null
expect_exit 0 vckpt overlay create "$dom" --name s1
top=$(lab_disk_path "$dom" vda)
case "$top" in "$TMPD/imgs/"*) ;; *) fail "the overlay is not named through the link: $top" ;; esac
lab_domain_start "$dom"
cf_put 0x33 2M 1M
cf_backup c3 --incremental c2
lab_domain_stop "$dom"

export VCKPT_TEST_HOOK=bitmaps:kill
expect_exit 137 vckpt commit "$dom" --disk vda --top "$top"
unset VCKPT_TEST_HOOK
expect_exit 4 vckpt --json validate "$dom"
assert_finding "$out" image-operation-pending

expect_exit 0 vckpt commit "$dom" --disk vda --top "$top"
now=$(lab_disk_path "$dom" vda)
test "$(stat -L -c %d:%i "$now")" = "$(stat -L -c %d:%i "$real")"
test "$(lab_bitmaps "$real" | sort | tr '\n' ' ')" = "c1 c2 c3 "
lab_compare_images "$real" "$TMPD/m-c3.qcow2"
cf_no_journal
cf_validate_clean
lab_domain_start "$dom"
cf_put 0x44 3M 1M
cf_backup x3 --incremental c3
cf_restore_check x3
