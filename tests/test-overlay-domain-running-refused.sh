#!/usr/bin/env bash
# overlay create and commit refuse a running domain with exit 5 (busy) and
# point to libvirt's live operations; nothing is created or changed.
. "${srcdir:-.}/chain-functions.sh"

lab_start
lab_domain_define "$dom" --disk 16M
lab_domain_start "$dom"
vckpt -q checkpoint create "$dom" c1
base=$(lab_disk_path "$dom" vda)
ls -la "$(dirname "$base")" > "$TMPD/before"
expect_exit 5 vckpt overlay create "$dom" --name s1
grep -q "domain 'chain' is running: .*snapshot-create-as chain --disk-only" "$err"
expect_exit 5 vckpt commit "$dom" --disk vda --top "$base"
grep -q "blockcommit" "$err"
ls -la "$(dirname "$base")" | diff "$TMPD/before" -
test "$(lab_disk_path "$dom" vda)" = "$base"
cf_no_journal
# The image form refuses an image QEMU holds, without libvirt.
expect_exit 5 vckpt overlay create --image "$base" "$TMPD/n.qcow2"
test ! -e "$TMPD/n.qcow2"
cf_validate_clean
