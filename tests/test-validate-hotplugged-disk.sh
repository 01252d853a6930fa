#!/usr/bin/env bash
# A disk hot-added after the checkpoint: an incremental copies it whole
# (warning disk-not-covered, listed in "whole"), and libvirt backs it up
# that way in the same job.  An unknown --disk is "not found" (exit 3).
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/virsh-backup.sh"
. "${srcdir:-.}/virsh-backup-perdisk.sh"
set -e -x
lab_start

dom='disk test'
lab_domain_define "$dom" --disk 64M
lab_domain_start "$dom"
expect_exit 0 vckpt checkpoint create "$dom" c1 --disk vda
lab_write "$dom" vda 0x11 1M 1M

lab_hotplug_disk "$dom" vdc 32M
lab_write "$dom" vdc 0x33 0 1M
expect_exit 0 vckpt --json validate "$dom" --disk vda,vdc
jq -e '.ok and .whole == ["vdc"]' "$out"
assert_finding "$out" disk-not-covered severity=warning disk=vdc
lab_libvirt_backup_perdisk "$dom" c1 "$TMPD/bk2" "" "" vda:inc vdc:full
lab_expect_pattern "$TMPD/bk2/vda.qcow2" 1M 1M 0x11
lab_expect_pattern "$TMPD/bk2/vdc.qcow2" 0 1M 0x33
expect_exit 3 vckpt validate "$dom" --disk vda,vdz
grep -q "disk 'vdz' not found" "$err"
