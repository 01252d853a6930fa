#!/usr/bin/env bash
# lab_guest_check_image, the verdict the real-guest tests rest on, can
# fail: on ext4 images made on the host with a workload manifest, it
# accepts a good one (deleted entries ignored) and rejects a file whose
# bytes differ from its checksum, a recorded file that is missing, a
# malformed record, too few records, and a file system needing journal
# recovery unless asked to replay it.
. "${srcdir:-.}/functions.sh"
. "${srcdir:-.}/lab-guest.sh"
set -e -x
lab_guest_requires

# mkimage NAME: an image of the tree $TMPD/NAME.d
mkimage() {
    truncate -s 16M "$TMPD/$1.raw"
    mke2fs -q -F -t ext4 -b 4096 -d "$TMPD/$1.d" "$TMPD/$1.raw"
    qemu-img convert -q -f raw -O qcow2 "$TMPD/$1.raw" "$TMPD/$1.qcow2"
}
# tree NAME: three recorded files, the first one deleted again
tree() {
    local d="$TMPD/$1.d" i
    mkdir -p "$d/w"
    for i in 1 2 3; do
        head -c $(( i * 5000 )) /dev/urandom >"$d/w/f00000$i"
        echo "F $(sha256sum <"$d/w/f00000$i" | cut -d' ' -f1) /w/f00000$i" >>"$d/manifest"
    done
    echo "D - /w/f000001" >>"$d/manifest"
    rm "$d/w/f000001"
}

tree good
mkimage good
lab_guest_check_image "$TMPD/good.qcow2" --min 3 >"$TMPD/verdict"
assert_grep '^2 live files intact \(3 recorded\)$' "$TMPD/verdict"
if lab_guest_check_image "$TMPD/good.qcow2" --min 4 2>"$TMPD/why"; then
    fail "4 records required, 3 present: accepted"
fi
assert_grep 'expected at least 4' "$TMPD/why"

tree flipped
printf 'x' | dd of="$TMPD/flipped.d/w/f000002" bs=1 seek=100 conv=notrunc status=none
mkimage flipped
if lab_guest_check_image "$TMPD/flipped.qcow2" 2>"$TMPD/why"; then
    fail "a file with other bytes than recorded: accepted"
fi
assert_grep '/w/f000002 has sha256' "$TMPD/why"

tree missing
rm "$TMPD/missing.d/w/f000003"
mkimage missing
if lab_guest_check_image "$TMPD/missing.qcow2" 2>"$TMPD/why"; then
    fail "a recorded file missing: accepted"
fi
assert_grep 'recorded file /w/f000003 is missing' "$TMPD/why"

tree odd
echo "F 1234 /w/f000009" >>"$TMPD/odd.d/manifest"
mkimage odd
if lab_guest_check_image "$TMPD/odd.qcow2" 2>"$TMPD/why"; then
    fail "a malformed record: accepted"
fi
assert_grep "bad manifest record 'F 1234 /w/f000009'" "$TMPD/why"

# A last record cut short by the crash promised nothing yet.
tree torn
printf 'F 12' >>"$TMPD/torn.d/manifest"
mkimage torn
lab_guest_check_image "$TMPD/torn.qcow2" --min 3 2>"$TMPD/why"
assert_grep "ignoring the cut-off last record 'F 12'" "$TMPD/why"

# needs_recovery set: refused as not clean; --replay replays, then checks.
debugfs -w -R 'feature needs_recovery' "$TMPD/good.raw"
qemu-img convert -q -f raw -O qcow2 "$TMPD/good.raw" "$TMPD/dirty.qcow2"
if lab_guest_check_image "$TMPD/dirty.qcow2" 2>"$TMPD/why"; then
    fail "a file system needing recovery: accepted as clean"
fi
assert_grep 'needs journal recovery' "$TMPD/why"
lab_guest_check_image "$TMPD/dirty.qcow2" --replay --min 3
