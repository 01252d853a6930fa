#!/usr/bin/env bash
# A linked clone ("other") on the base image of domain "chain", which runs
# on an overlay that carries the base's bitmaps: to "other", those bitmaps
# have no checkpoint, but they are chain's.  vckpt repair other refuses to
# remove them (status 5, naming chain), and chain's incrementals stay
# right; vckpt commit of chain into that base is refused too (status 4).
. "${srcdir:-.}/chain-functions.sh"
cf_setup
base=$(lab_disk_path "$dom" vda)
expect_exit 0 vckpt overlay create "$dom" --name s1
top=$(lab_disk_path "$dom" vda)
lab_domain_define other --disk 32M
oimg=$(lab_disk_path other vda)
rm -f "$oimg"
qemu-img create -q -f qcow2 -F qcow2 -b "$base" "$oimg"

expect_exit 5 vckpt repair other
assert_grep "also in the backing chain of domain '$dom'" "$out"
test "$(lab_bitmaps "$base" | sort | tr '\n' ' ')" = "c1 c2 " ||
    fail "repair of another domain removed chain's bitmaps from the shared base"

expect_exit 4 vckpt commit "$dom" --disk vda --top "$top"
assert_grep "also in the backing chain of domain 'other'" "$err"
test "$(lab_disk_path "$dom" vda)" = "$top"

lab_domain_start "$dom"
cf_put 0x66 5M 1M
cf_backup x1 --incremental c1
cf_restore_check x1
