#!/usr/bin/env bash
# QEMU SIGKILLed after an external snapshot: the bitmaps QEMU carried into
# the overlay were never written to its file, so writes since the snapshot
# are untracked.  validate refuses it shut off (from the files) and running
# again (from QEMU's live state), and libvirt agrees: its incremental fails.
# (Guards the refusal that judging held images by the live state keeps.)
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/virsh-backup.sh"
set -e -x
lab_start

dom=snapcrash
lab_domain_define "$dom" --disk 64M
lab_domain_start "$dom"
images=$(dirname "$(lab_disk_path "$dom" vda)")
expect_exit 0 vckpt checkpoint create "$dom" c1
lab_write "$dom" 0 0x11 0 1M
virsh snapshot-create-as "$dom" --disk-only --atomic --no-metadata \
      --diskspec "vda,file=$images/ov1.qcow2"
lab_write "$dom" 0 0x22 1M 1M
expect_exit 0 vckpt validate "$dom"
lab_domain_kill "$dom"

# Shut off: the overlay's file has no c1, only its backing file has.
test "$(lab_disk_path "$dom" vda)" = "$images/ov1.qcow2"
expect_exit 4 vckpt --json validate "$dom"
assert_finding "$out" bitmap-missing severity=error disk=vda image="$images/ov1.qcow2" \
    "message~^the top image has no bitmap 'c1'"

# Running again: QEMU loaded c1 from the backing file only.
lab_domain_start "$dom"
expect_exit 4 vckpt --json validate "$dom"
jq -e '.ok == false and ([.findings[] | select(.severity == "error") | .code] | index("bitmap-inconsistent") or index("bitmap-missing"))' "$out"
rc=0; lab_libvirt_backup "$dom" c1 "$TMPD/bk-refused" 2> "$TMPD/lv.err" || rc=$?
test "$rc" -ne 0 || fail "libvirt backed up from a bitmap the snapshot lost"
cat "$TMPD/lv.err"
