#!/usr/bin/env bash
# Disks raw, added or resized since a checkpoint: an incremental copies
# them whole (a warning each, listed in "whole"), and libvirt itself backs
# them up that way in one job (backupmode='full' for them, incremental for
# the others).  A checkpoint must leave a raw disk out (checkpoint='no').
# A job already running is refused before libvirt is called.
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/virsh-backup.sh"
. "${srcdir:-.}/virsh-backup-perdisk.sh"
set -e -x
lab_start

dom='disk test'
lab_domain_define "$dom" --disk 64M --raw-disk 16M
lab_domain_start "$dom"
lab_write "$dom" vdb 0x5b 0 1M

# A full backup with a checkpoint: OK, and libvirt agrees once the
# checkpoint leaves the raw disk out; with a bitmap for it, libvirt refuses.
expect_exit 0 vckpt validate "$dom" --full
grep -q '^OK: ' "$out"
rc=0; lab_libvirt_backup_perdisk "$dom" "" "$TMPD/bad" c0 "" vda:full vdb:full 2> "$TMPD/lv.err" || rc=$?
test "$rc" -ne 0 || fail "libvirt checkpointed a raw disk"
grep -qi "raw" "$TMPD/lv.err"
test -z "$(virsh -q checkpoint-list "$dom" --name)" || fail "a refused job left a checkpoint"
lab_libvirt_backup_perdisk "$dom" "" "$TMPD/bk0" c0 vdb vda:full vdb:full
lab_expect_pattern "$TMPD/bk0/vdb.qcow2" 0 1M 0x5b

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
# libvirt: vdb whole, vda incremental from c1, in one job.
lab_libvirt_backup_perdisk "$dom" c1 "$TMPD/bk1" "" "" vda:inc vdb:full
lab_expect_pattern "$TMPD/bk1/vda.qcow2" 1M 1M 0x11
lab_expect_pattern "$TMPD/bk1/vdb.qcow2" 0 1M 0x5b
lab_expect_pattern "$TMPD/bk1/vdb.qcow2" 2M 1M 0x22
test "$(qemu-img info --output=json "$TMPD/bk1/vdb.qcow2" | jq -r '."backing-filename" // ""')" = "" ||
    fail "the whole copy of vdb has a backing file"

# A disk hot-added after the checkpoint is copied whole.
lab_hotplug_disk "$dom" vdc 32M
lab_write "$dom" vdc 0x33 0 1M
expect_exit 0 vckpt --json validate "$dom" --disk vda,vdc
jq -e '.ok and .whole == ["vdc"]' "$out"
jq -e '[.findings[] | select(.code == "disk-not-covered")][0] | .disk == "vdc" and .severity == "warning"' "$out"
lab_libvirt_backup_perdisk "$dom" c1 "$TMPD/bk2" "" "" vda:inc vdc:full
lab_expect_pattern "$TMPD/bk2/vdc.qcow2" 0 1M 0x33
expect_exit 3 vckpt validate "$dom" --disk vda,vdz
grep -q "disk 'vdz' not found" "$err"

# A disk resized since the checkpoint is copied whole.
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

# A job already running: a pull-mode backup stays active until aborted.
expect_exit 0 vckpt checkpoint create "$dom" c2 --disk vda
expect_exit 0 vckpt validate "$dom" --disk vda
lab_libvirt_pull_start "$dom" "$TMPD/nbd.sock" vda
expect_exit 4 vckpt --json validate "$dom" --disk vda
assert_finding "$out" job-running severity=error disk= "message~another job"
virsh domjobabort "$dom"
expect_exit 0 vckpt validate "$dom" --disk vda
