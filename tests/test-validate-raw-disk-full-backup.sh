#!/usr/bin/env bash
# A full backup with a checkpoint of a domain with a raw disk: validate
# says OK, and libvirt agrees once the checkpoint leaves the raw disk out
# (checkpoint='no'); with a bitmap for it, libvirt refuses and leaves no
# checkpoint.
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/virsh-backup.sh"
. "${srcdir:-.}/virsh-backup-perdisk.sh"
set -e -x
lab_start

dom='disk test'
lab_domain_define "$dom" --disk 64M --raw-disk 16M
lab_domain_start "$dom"
lab_write "$dom" vdb 0x5b 0 1M

expect_exit 0 vckpt validate "$dom" --full
grep -q '^OK: ' "$out"
rc=0; lab_libvirt_backup_perdisk "$dom" "" "$TMPD/bad" c0 "" vda:full vdb:full 2> "$TMPD/lv.err" || rc=$?
test "$rc" -ne 0 || fail "libvirt checkpointed a raw disk"
grep -qi "raw" "$TMPD/lv.err"
test -z "$(virsh -q checkpoint-list "$dom" --name)" || fail "a refused job left a checkpoint"
lab_libvirt_backup_perdisk "$dom" "" "$TMPD/bk0" c0 vdb vda:full vdb:full
lab_expect_pattern "$TMPD/bk0/vdb.qcow2" 0 1M 0x5b
