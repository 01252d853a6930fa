#!/usr/bin/env bash
# commit --image ACTIVE --top MID: the middle image of a domain's chain
# base <- mid <- top (made with overlay create after backups, with
# checkpoints in each) is committed into base without libvirt: base gets
# mid's bitmaps (c2 added, c1 merged), top is rebased onto base (relative
# name), the guest-visible data is unchanged, validate is clean, and
# incremental backups from every checkpoint restore bit-exact.
. "${srcdir:-.}/chain-functions.sh"

lab_start
lab_domain_define "$dom" --disk 32M
qemu-img create -q -f qcow2 "$TMPD/model.qcow2" 32M
base=$(lab_disk_path "$dom" vda)
lab_domain_start "$dom"
cf_put 0x11 0 1M
cf_backup c1 --full
lab_domain_stop "$dom"
expect_exit 0 vckpt overlay create "$dom" --name mid
mid=$(lab_disk_path "$dom" vda)
lab_domain_start "$dom"
cf_put 0x22 1M 1M
cf_backup c2 --incremental c1
lab_domain_stop "$dom"
expect_exit 0 vckpt overlay create "$dom" --name top
top=$(lab_disk_path "$dom" vda)
lab_domain_start "$dom"
cf_put 0x33 2M 1M
cf_backup c3 --incremental c2
lab_domain_stop "$dom"
test "$(lab_bitmaps "$base" | tr '\n' ' ')" = "c1 "
test "$(lab_bitmaps "$mid" | sort | tr '\n' ' ')" = "c1 c2 "

# Offline: no libvirt connection at all (a bad URI would fail).
expect_exit 0 vckpt -c 'qemu:///nowhere?socket=/nonexistent' --json commit --image "$top" --top "$mid"
jq -e --arg t "$top" '.disks[0].rebased == $t and (.disks[0].bitmaps | sort) == ["c1", "c2"]' "$out"
test "$(lab_image_info "$top" | jq -r '."backing-filename"')" = "$(basename "$base")"
test "$(lab_image_info "$top" | jq -r '."backing-filename-format"')" = qcow2
test "$(lab_bitmaps "$base" | sort | tr '\n' ' ')" = "c1 c2 "
test "$(cf_bitmap_granularity "$base" c2)" = "$(cf_bitmap_granularity "$mid" c2)"
lab_compare_images "$top" "$TMPD/m-c3.qcow2"
lab_expect_pattern "$base" 1M 1M 0x22
test "$(lab_disk_path "$dom" vda)" = "$top"
cf_validate_clean
for c in c1 c2 c3; do cf_validate_clean --checkpoint $c; done

lab_domain_start "$dom"
cf_put 0x44 3M 1M
cf_backup x3 --incremental c3
jq -e '.bytes >= 1048576 and .bytes < 2097152' "$out"
cf_backup x2 --incremental c2
cf_backup x1 --incremental c1
for c in x1 x2 x3; do cf_restore_check $c; done
lab_domain_stop "$dom"

# MID is out of the chain now (exit 3), and the base has nothing to commit
# into (exit 2).
expect_exit 3 vckpt commit --image "$top" --top "$mid"
grep -q 'is not in the backing chain of' "$err"
expect_exit 2 vckpt commit --image "$base"
grep -q 'has no backing file' "$err"
