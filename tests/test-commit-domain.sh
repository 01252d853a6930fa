#!/usr/bin/env bash
# commit of a domain's overlay into its base after backups on both: c1 and
# c2 were made on the base, the overlay carried them, c3 was made on the
# overlay.  After vckpt commit the disk uses the base, which has every
# bitmap (c3 added, c1/c2 merged), validate is clean, and libvirt agrees:
# incremental backups from every checkpoint succeed and restore bit-exact
# (from c1 and c2 they need the overlay's writes merged into the base's
# bitmaps).
. "${srcdir:-.}/chain-functions.sh"

cf_setup
base=$(lab_disk_path "$dom" vda)
expect_exit 0 vckpt overlay create "$dom" --name s1
top=$(lab_disk_path "$dom" vda)
lab_domain_start "$dom"
cf_put 0x33 2M 1M
cf_backup c3 --incremental c2
lab_domain_stop "$dom"
test "$(lab_bitmaps "$base" | sort | tr '\n' ' ')" = "c1 c2 "
test "$(lab_bitmaps "$top" | sort | tr '\n' ' ')" = "c1 c2 c3 "

expect_exit 0 vckpt --json commit "$dom" --disk vda --top "$top"
jq -e '(.disks[0].bitmaps | sort) == ["c1", "c2", "c3"] and .disks[0].rebased == null' "$out"
test "$(lab_disk_path "$dom" vda)" = "$base"
test "$(lab_bitmaps "$base" | sort | tr '\n' ' ')" = "c1 c2 c3 "
test "$(cf_bitmap_granularity "$base" c3)" = "$(cf_bitmap_granularity "$top" c3)"
for b in c1 c2 c3; do test "$(lab_bitmap_flags "$base" $b)" = auto; done
test "$(lab_image_info "$base" | jq -r '."backing-filename"')" = null
lab_compare_images "$base" "$TMPD/m-c3.qcow2"
cf_no_journal
cf_validate_clean
for c in c1 c2 c3; do cf_validate_clean --checkpoint $c; done

lab_domain_start "$dom"
cf_put 0x44 3M 1M
cf_backup x3 --incremental c3
# 3M-4M, and the committed data once more (2M-3M): the bitmap added to the
# base recorded the commit's writes; extra bits are safe, missing ones not.
jq -e '.bytes >= 1048576 and .bytes <= 2097152' "$out"
cf_backup x2 --incremental c2
jq -e '.bytes >= 2097152 and .bytes < 3145728' "$out"   # 2M-4M
cf_backup x1 --incremental c1
jq -e '.bytes >= 3145728 and .bytes < 4194304' "$out"   # 1M-4M
for c in x1 x2 x3; do cf_restore_check $c; done
expect_exit 1 qemu-img compare -q "$TMPD/m-c3.qcow2" "$TMPD/m-x1.qcow2"
lab_domain_stop "$dom"
# The guest wrote into the base; the old overlay is left out of the chain.
lab_expect_pattern "$base" 3M 1M 0x44
test -f "$top"
