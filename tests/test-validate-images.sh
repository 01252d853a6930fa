#!/usr/bin/env bash
# The validator's bitmap-chain rules and image checks on a shut-off domain,
# with images changed by real tools (qemu-img bitmap/create/rebase), and
# proof that what it calls OK really lets libvirt's incremental backup start.
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/virsh-backup.sh"
. "${srcdir:-.}/compare.sh"
set -e -x
requires qemu-img --version
lab_start

dom=v1
lab_domain_define "$dom" --disk 64M
lab_domain_start "$dom"
expect_exit 0 vckpt checkpoint create "$dom" c1
lab_write "$dom" 0 0x11 0 1M
expect_exit 0 vckpt checkpoint create "$dom" c2
lab_write "$dom" 0 0x22 1M 1M
lab_domain_stop "$dom"
img=$(lab_disk_path "$dom" vda)
dir=$(dirname "$img")
cp "$img" "$TMPD/pristine.qcow2"
restore() { cp "$TMPD/pristine.qcow2" "$img"; rm -f "$dir/base.qcow2" "$dir/mid.qcow2"; }

# validate DOM ARGS: expect exit CODE and, if given, finding CODE in JSON.
refused() {   # refused FINDING [ARGS...]
    local code=$1; shift
    case "$code" in image-*|backing-*) ;; *) assert_bitmaps_match "$img" ;; esac
    expect_exit 4 vckpt validate "$dom" "$@"
    grep -q "^REFUSED: " "$out"
    expect_exit 4 vckpt --json validate "$dom" "$@"
    assert_finding "$out" "$code" severity=error
    jq -e --arg c "$code" '.ok == false and ([.findings[] | select(.severity == "error") | .code] | index($c))' "$out"
}
ok() {
    assert_bitmaps_match "$img"
    expect_exit 0 vckpt validate "$dom" "$@"
    grep -q "^OK: " "$out"
}

# Sound chain: OK, with and without --checkpoint; JSON is complete.
ok
ok --checkpoint c1
ok --full
expect_exit 0 vckpt --json validate "$dom" --checkpoint c1
jq -e '.ok and .errors == 0 and .checkpoint == "c1" and .running == false and .domain == "v1"' "$out"

# Rule 3: a disabled bitmap (c2 is merged into an incremental from c1).
qemu-img bitmap --disable "$img" c2
refused bitmap-disabled --checkpoint c1
jq -e '.findings[] | select(.code == "bitmap-disabled") | .disk == "vda" and .bitmap == "c2" and .checkpoint == "c2" and (.image | endswith(".qcow2")) and (.action | test("--full"))' "$out"
restore

# Rule 1: the top image lacks the bitmap.
qemu-img bitmap --remove "$img" c2
refused bitmap-missing
refused bitmap-missing --checkpoint c1
restore

# Rule 2: a gap. base (c1,c2) <- mid (none) <- top (c1,c2).
mv "$img" "$dir/base.qcow2"
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$dir/mid.qcow2"
qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 "$img"
qemu-img bitmap --add "$img" c1
qemu-img bitmap --add "$img" c2
refused bitmap-gap --checkpoint c1
jq -e '[.findings[] | select(.code == "bitmap-gap") | .image | endswith("/mid.qcow2")] | all' "$out"
# Filling the gap makes the chain valid, and libvirt agrees: the backup starts.
qemu-img bitmap --add "$dir/mid.qcow2" c1
qemu-img bitmap --add "$dir/mid.qcow2" c2
ok --checkpoint c1
lab_domain_start "$dom"
ok --checkpoint c1
lab_libvirt_backup "$dom" c1 "$TMPD/bk-gapfixed"
lab_domain_stop "$dom"

# A missing backing file, and a backing loop.
mv "$dir/base.qcow2" "$TMPD/base.qcow2"
refused backing-missing --full
mv "$TMPD/base.qcow2" "$dir/base.qcow2"
qemu-img rebase -u -f qcow2 -b "$img" -F qcow2 "$dir/base.qcow2"
refused backing-loop --full
restore

# Truncated and corrupted headers: a clear finding, never a crash.
truncate -s 50 "$img"
refused image-unreadable --full
restore
printf 'XXXX' | dd of="$img" conv=notrunc status=none
refused image-unreadable --full
restore
# The corrupt bit (incompatible feature bit 1, byte 79 of the header).
printf '\002' | dd of="$img" bs=1 seek=79 conv=notrunc status=none
refused image-corrupt --full
restore

# Checkpoint metadata removed while the bitmaps remain: the newest
# checkpoint is now c1, which is fine, with a warning for the orphan c2.
virsh checkpoint-dumpxml "$dom" c2 > "$TMPD/c2.xml"
virsh checkpoint-delete "$dom" c2 --metadata
ok
expect_exit 0 vckpt --json validate "$dom"
assert_finding "$out" bitmap-orphan severity=warning disk=vda "message~bitmap 'c2' has no libvirt checkpoint"
refused checkpoint-not-found --checkpoint c2
grep -q "its metadata was removed" "$out"
expect_exit 0 vckpt checkpoint redefine "$dom" "$TMPD/c2.xml"
ok

# A checkpoint whose bitmaps are gone: error when it is the base, warning
# when it is not.
qemu-img bitmap --remove "$img" c1
refused bitmap-missing --checkpoint c1
ok --checkpoint c2
expect_exit 0 vckpt --json validate "$dom" --checkpoint c2
assert_finding "$out" checkpoint-bitmap-missing severity=warning disk=vda
restore

# The OK state really lets libvirt's incremental backup run, and it copies
# exactly what was written after c1.
lab_domain_start "$dom"
ok --checkpoint c1
lab_libvirt_backup "$dom" c1 "$TMPD/bk-final"
# Backup of the c1 increment holds the 0x22 write at 1M.
lab_expect_pattern "$TMPD/bk-final/vda.qcow2" 1M 1M 0x22

# Bad input: unknown domain and checkpoint names, validated before use.
expect_exit 3 vckpt validate nodom
expect_exit 2 vckpt validate "$dom" --checkpoint c1 --full
expect_exit 2 vckpt validate "$dom" --checkpoint ''
