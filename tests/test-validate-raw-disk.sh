#!/usr/bin/env bash
# A raw disk, which no checkpoint can cover: an incremental copies it
# whole (warning disk-raw, listed in "whole"), and libvirt backs it up
# that way in the same job as the incremental of the qcow2 disk.
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/virsh-backup.sh"
. "${srcdir:-.}/virsh-backup-perdisk.sh"
set -e -x
lab_start

dom='disk test'
lab_domain_define "$dom" --disk 64M --raw-disk 16M
lab_domain_start "$dom"
lab_write "$dom" vdb 0x5b 0 1M

# libvirt cannot checkpoint a raw disk: vckpt's checkpoint covers vda only.
expect_exit 0 vckpt checkpoint create "$dom" c1 --disk vda
lab_write "$dom" vda 0x11 1M 1M
lab_write "$dom" vdb 0x22 2M 1M
expect_exit 0 vckpt validate "$dom"
grep -q '^OK: ' "$out"
expect_exit 0 vckpt --json validate "$dom"
assert_finding "$out" disk-raw severity=warning disk=vdb
jq -e '.ok and .whole == ["vdb"]' "$out"
expect_exit 0 vckpt --json validate "$dom" --disk vda
jq -e '.ok and .whole == []' "$out"
assert_no_finding "$out" disk-raw
# libvirt: vdb whole, vda incremental from c1, in one job.
lab_libvirt_backup_perdisk "$dom" c1 "$TMPD/bk1" "" "" vda:inc vdb:full
lab_expect_pattern "$TMPD/bk1/vda.qcow2" 1M 1M 0x11
lab_expect_pattern "$TMPD/bk1/vdb.qcow2" 0 1M 0x5b
lab_expect_pattern "$TMPD/bk1/vdb.qcow2" 2M 1M 0x22
test "$(qemu-img info --output=json "$TMPD/bk1/vdb.qcow2" | jq -r '."backing-filename" // ""')" = "" ||
    fail "the whole copy of vdb has a backing file"
