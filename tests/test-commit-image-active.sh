#!/usr/bin/env bash
# commit --image ACTIVE, no libvirt: the active image is committed into its
# backing file; the base gets the top's bitmaps (a new one added with its
# granularity and recording state, a shared one merged) and all the data;
# the top keeps its data.  Bitmaps that would be wrong afterwards are
# refused with exit 4 and nothing is changed.
. "${srcdir:-.}/functions.sh"
set -e -x
requires qemu-img --version
requires qemu-io --version

cd "$TMPD"
qemu-img create -q -f qcow2 base.qcow2 16M
qemu-img bitmap --add -g 131072 base.qcow2 c1
qemu-io -f qcow2 -c 'write -P 0x11 0 1M' base.qcow2 >/dev/null
expect_exit 0 vckpt overlay create --image base.qcow2 top.qcow2
qemu-img bitmap --add -g 262144 top.qcow2 c2
qemu-img bitmap --add --disable top.qcow2 frozen
qemu-io -f qcow2 -c 'write -P 0x22 4M 1M' top.qcow2 >/dev/null
qemu-img convert -O qcow2 top.qcow2 model.qcow2
cp top.qcow2 top.before

expect_exit 0 vckpt --json commit --image top.qcow2
jq -e '(.disks[0].bitmaps | sort) == ["c1", "c2", "frozen"] and .disks[0].rebased == null' "$out"
expect_exit 0 vckpt commit --image top.qcow2       # once more: nothing changes
grep -q "^committed $TMPD/top.qcow2 into $TMPD/base.qcow2; use the base from now on" "$out"
test "$(lab_bitmaps base.qcow2 | sort | tr '\n' ' ')" = "c1 c2 frozen "
test "$(qemu-img info --output=json base.qcow2 | jq -r '."format-specific".data.bitmaps[] | select(.name=="c2") | .granularity')" = 262144
test "$(lab_bitmap_flags base.qcow2 c2)" = auto
test "$(lab_bitmap_flags base.qcow2 frozen)" = ""
lab_compare_images base.qcow2 model.qcow2
lab_compare_images top.qcow2 top.before    # qemu-img commit -d: the top keeps its data
test "$(lab_bitmaps top.qcow2 | sort | tr '\n' ' ')" = "c1 c2 frozen "

# A recording bitmap with a gap: c3 in the base only, recording, while the
# image above does not have it: refused, nothing changed.
qemu-img create -q -f qcow2 b2.qcow2 16M
qemu-img bitmap --add b2.qcow2 c3
qemu-img create -q -f qcow2 -F qcow2 -b b2.qcow2 t2.qcow2
qemu-io -f qcow2 -c 'write -P 0x33 0 1M' t2.qcow2 >/dev/null
cp b2.qcow2 b2.before
expect_exit 4 vckpt commit --image t2.qcow2
grep -q "bitmap 'c3' is in .*b2.qcow2 but not in .*t2.qcow2 above it" "$err"
cmp b2.qcow2 b2.before
