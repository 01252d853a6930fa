#!/usr/bin/env bash
# A disk resized since the checkpoint: an incremental copies it whole
# (warning disk-resized, with both sizes), beside the raw disk that is
# always copied whole, and libvirt backs both up that way.
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/virsh-backup.sh"
. "${srcdir:-.}/virsh-backup-perdisk.sh"
set -e -x
lab_start

dom='disk test'
lab_domain_define "$dom" --disk 64M --raw-disk 16M
lab_domain_start "$dom"
expect_exit 0 vckpt checkpoint create "$dom" c1 --disk vda
lab_write "$dom" vda 0x11 1M 1M

lab_resize_disk "$dom" vda 128M
lab_write "$dom" vda 0x44 100M 1M
expect_exit 0 vckpt --json validate "$dom" --disk vda
assert_finding "$out" disk-resized severity=warning disk=vda \
    "message~resized since checkpoint 'c1' \\(64\\.0 MiB -> 128\\.0 MiB\\)"
expect_exit 0 vckpt --json validate "$dom" --disk vda,vdb
jq -e '.ok and (.whole | sort) == ["vda", "vdb"]' "$out"
lab_libvirt_backup_perdisk "$dom" c1 "$TMPD/bk3" "" "" vda:full vdb:full
lab_expect_pattern "$TMPD/bk3/vda.qcow2" 1M 1M 0x11
lab_expect_pattern "$TMPD/bk3/vda.qcow2" 100M 1M 0x44
test "$(qemu-img info --output=json "$TMPD/bk3/vda.qcow2" | jq -r '."virtual-size"')" = $((128 << 20))
