#!/usr/bin/env bash
# External disk-only snapshots of a running domain: libvirt carries the
# bitmaps into each new overlay (in QEMU's live state; the overlay's file
# gets them only when QEMU closes it).  validate judges the images QEMU
# holds by that live state: it says OK, and libvirt's own incremental
# backups from the checkpoint succeed and restore exactly, after one
# snapshot and after two.
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/virsh-backup.sh"
. "${srcdir:-.}/virsh-backup-perdisk.sh"
set -e -x
lab_start

dom=snap
lab_domain_define "$dom" --disk 64M
lab_domain_start "$dom"
images=$(dirname "$(lab_disk_path "$dom" vda)")
lab_write "$dom" 0 0x0f 0 4M
# A full backup with libvirt, creating checkpoint c1.
lab_libvirt_backup_perdisk "$dom" "" "$TMPD/full" c1 "" vda:full
lab_write "$dom" 0 0x11 0 1M

# Snapshot 1, without libvirt metadata.
virsh snapshot-create-as "$dom" --disk-only --atomic --no-metadata \
      --diskspec "vda,file=$images/ov1.qcow2"
test "$(lab_disk_path "$dom" vda)" = "$images/ov1.qcow2"
lab_write "$dom" 0 0x22 1M 1M
expect_exit 0 vckpt validate "$dom"
grep -q '^OK: an incremental backup of snap would succeed (0 warnings)' "$out"
assert_no_grep 'bitmap-' "$out"
expect_exit 0 vckpt --json validate "$dom" --checkpoint c1
jq -e '.ok and .errors == 0 and .warnings == 0 and .running' "$out"
# libvirt agrees: the incremental from c1 succeeds (and creates c2).
lab_libvirt_backup_perdisk "$dom" c1 "$TMPD/inc1" c2 "" vda:inc
qemu-img rebase -u -f qcow2 -b "$TMPD/full/vda.qcow2" -F qcow2 "$TMPD/inc1/vda.qcow2"
lab_expect_pattern "$TMPD/inc1/vda.qcow2" 0 1M 0x11
lab_expect_pattern "$TMPD/inc1/vda.qcow2" 1M 1M 0x22
lab_expect_pattern "$TMPD/inc1/vda.qcow2" 2M 2M 0x0f
lab_expect_pattern "$TMPD/inc1/vda.qcow2" 4M 60M zero

# Snapshot 2, with metadata.
virsh snapshot-create-as "$dom" s2 --disk-only --atomic --diskspec "vda,file=$images/ov2.qcow2"
lab_write "$dom" 0 0x33 2M 1M
expect_exit 0 vckpt validate "$dom"
grep -q '^OK: an incremental backup of snap would succeed (0 warnings)' "$out"
expect_exit 0 vckpt validate "$dom" --checkpoint c1
grep -q '^OK: an incremental backup of snap would succeed (0 warnings)' "$out"
lab_libvirt_backup_perdisk "$dom" c2 "$TMPD/inc2" "" "" vda:inc
lab_libvirt_backup_perdisk "$dom" c1 "$TMPD/inc1b" "" "" vda:inc
qemu-img rebase -u -f qcow2 -b "$TMPD/inc1/vda.qcow2" -F qcow2 "$TMPD/inc2/vda.qcow2"
qemu-img rebase -u -f qcow2 -b "$TMPD/full/vda.qcow2" -F qcow2 "$TMPD/inc1b/vda.qcow2"

# Restores equal the disk as the guest sees it once QEMU closed it.
lab_domain_stop "$dom"
lab_compare_images "$images/ov2.qcow2" "$TMPD/inc2/vda.qcow2" ||
    fail "full + incremental + incremental differs from the disk"
lab_compare_images "$images/ov2.qcow2" "$TMPD/inc1b/vda.qcow2" ||
    fail "full + incremental from c1 differs from the disk"
# Shut off, the files now hold the bitmaps: still OK.
expect_exit 0 vckpt validate "$dom" --checkpoint c1
grep -q '^OK: ' "$out"
