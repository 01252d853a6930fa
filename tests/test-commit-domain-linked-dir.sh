#!/usr/bin/env bash
# commit of a domain whose definition names its images through a linked
# directory ($TMPD/imgs -> the lab's images): vckpt resolves the directory,
# the definition keeps the linked name, and the two name the same files.
# Before the fix the commit merged the bitmaps and the data, then refused
# to switch the definition ("its definition changed meanwhile") and left
# a journal that every later run tripped over.  Now: exit 0, the disk uses
# the base, no journal, validate clean, and an incremental from the
# overlay's checkpoint restores bit-exact.
. "${srcdir:-.}/chain-functions.sh"

cf_setup
real=$(lab_disk_path "$dom" vda)
ln -s "$(dirname "$real")" "$TMPD/imgs"
linked=$TMPD/imgs/$(basename "$real")
virsh dumpxml --inactive --security-info "$dom" > "$TMPD/d.xml"
sed -i "s|file='$real'|file='$linked'|" "$TMPD/d.xml"
virsh define "$TMPD/d.xml" >/dev/null
test "$(lab_disk_path "$dom" vda)" = "$linked"

expect_exit 0 vckpt overlay create "$dom" --name s1
top=$(lab_disk_path "$dom" vda)
lab_domain_start "$dom"
cf_put 0x33 2M 1M
cf_backup c3 --incremental c2
lab_domain_stop "$dom"

expect_exit 0 vckpt --json commit "$dom" --disk vda --top "$top"
jq -e '(.disks[0].bitmaps | sort) == ["c1", "c2", "c3"]' "$out"
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
