#!/usr/bin/env bash
# Disks added, resized or raw since a checkpoint, and a job already
# running: each is refused with its own finding before libvirt is called.
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/virsh-backup.sh"
set -e -x
lab_start

dom='disk test'
lab_domain_define "$dom" --disk 64M --raw-disk 16M
lab_domain_start "$dom"
# libvirt cannot checkpoint a raw disk: checkpoint vda only.
expect_exit 0 vckpt checkpoint create "$dom" c1 --disk vda
expect_exit 4 vckpt validate "$dom"
grep -q '^error *disk-raw *vdb ' "$out"
grep -q "fix: back it up in full (vckpt backup 'disk test' --full)" "$out"
expect_exit 0 vckpt validate "$dom" --disk vda
lab_libvirt_backup "$dom" c1 "$TMPD/bk1" vda

# A disk hot-added after the checkpoint needs a full backup.
lab_hotplug_disk "$dom" vdc 32M
expect_exit 4 vckpt --json validate "$dom" --disk vda,vdc
jq -e '[.findings[] | select(.code == "disk-not-covered")][0].disk == "vdc"' "$out"
expect_exit 0 vckpt validate "$dom" --disk vda
expect_exit 3 vckpt validate "$dom" --disk vda,vdz
grep -q "disk 'vdz' not found" "$err"

# A disk resized since the checkpoint.
lab_resize_disk "$dom" vda 128M
expect_exit 4 vckpt validate "$dom" --disk vda
grep -q '^error *disk-resized *vda .*resized since checkpoint .c1. (64.0 MiB -> 128.0 MiB)' "$out"

# A job already running: a pull-mode backup stays active until aborted.
expect_exit 0 vckpt checkpoint create "$dom" c2 --disk vda
expect_exit 0 vckpt validate "$dom" --disk vda
lab_libvirt_pull_start "$dom" "$TMPD/nbd.sock" vda
expect_exit 4 vckpt validate "$dom" --disk vda
grep -q '^error *job-running *- .*another job' "$out"
virsh domjobabort "$dom"
expect_exit 0 vckpt validate "$dom" --disk vda
