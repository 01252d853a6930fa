#!/usr/bin/env bash
# Bitmaps left in-use by a SIGKILLed QEMU: the validator refuses them, shut
# off (from the files) and running again (from QEMU's live state), and libvirt
# itself then fails the incremental backup it was refused for.
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/virsh-backup.sh"
. "${srcdir:-.}/compare.sh"
set -e -x
lab_start

dom=crash
lab_domain_define "$dom" --disk 64M
lab_domain_start "$dom"
expect_exit 0 vckpt checkpoint create "$dom" c1
lab_write "$dom" 0 0x33 0 2M
lab_domain_stop "$dom"                # c1 persisted, flags auto
assert_bitmaps_match "$(lab_disk_path "$dom" vda)"
lab_domain_start "$dom"               # loaded: in-use while running
assert_bitmaps_match "$(lab_disk_path "$dom" vda)"
expect_exit 0 vckpt validate "$dom"   # in-use on a held image is normal
grep -q '^OK: ' "$out"
lab_domain_kill "$dom"                # SIGKILL: c1 stays in-use in the file
img=$(lab_disk_path "$dom" vda)
qemu-img info --output=json "$img" | jq -e '."format-specific".data.bitmaps[0].flags | index("in-use")'
assert_bitmaps_match "$img"

# Shut off: in-use and no QEMU holds the image -> inconsistent.
expect_exit 4 vckpt --json validate "$dom"
assert_finding "$out" bitmap-inconsistent severity=error disk=vda "message~no QEMU holds the image"
# The wording of the suggested fix, in the text output.
expect_exit 4 vckpt validate "$dom"
grep -q "fix: take a full backup to start a new chain (vckpt backup crash --full)" "$out"
expect_exit 4 vckpt --json validate "$dom" --checkpoint c1
jq -e '[.findings[] | select(.code == "bitmap-inconsistent")][0] | .bitmap == "c1" and .disk == "vda" and .severity == "error"' "$out"

# Running again: QEMU loaded the bitmap as inconsistent.
lab_domain_start "$dom"
expect_exit 4 vckpt --json validate "$dom"
assert_finding "$out" bitmap-inconsistent severity=error disk=vda
# libvirt agrees: the incremental backup the validator refused fails.
rc=0; lab_libvirt_backup "$dom" c1 "$TMPD/bk-refused" 2> "$TMPD/lv.err" || rc=$?
test "$rc" -ne 0 || fail "libvirt backed up from an inconsistent bitmap"
grep -qi "inconsistent\|broken bitmap" "$TMPD/lv.err"

# A full backup is still possible, and a new checkpoint starts a sound chain.
expect_exit 0 vckpt validate "$dom" --full
expect_exit 0 vckpt checkpoint delete "$dom" c1 --metadata-only
expect_exit 0 vckpt checkpoint create "$dom" c2
lab_write "$dom" 0 0x44 4M 1M
expect_exit 0 vckpt validate "$dom"
grep -q '^OK: an incremental backup of crash would succeed' "$out"
# ... though the orphaned, inconsistent c1 bitmap is reported.
expect_exit 0 vckpt --json validate "$dom"
assert_finding "$out" bitmap-orphan severity=warning disk=vda
lab_libvirt_backup "$dom" c2 "$TMPD/bk-ok"
lab_expect_pattern "$TMPD/bk-ok/vda.qcow2" 4M 1M 0x44
