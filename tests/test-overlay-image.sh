#!/usr/bin/env bash
# overlay create --image BASE NEW, no libvirt: NEW is a qcow2 overlay whose
# backing file is BASE (relative name, format qcow2), carrying every
# recording and consistent bitmap of BASE with its granularity; a disabled
# bitmap and an in-use one (left by a killed QEMU) are skipped and reported.
# NEW is 0600, shows BASE's data, and no temporary file is left.
. "${srcdir:-.}/functions.sh"
set -e -x
requires qemu-img --version
requires qemu-io --version

cd "$TMPD"
B=$TMPD/base.qcow2
qemu-img create -q -f qcow2 "$B" 32M
qemu-img bitmap --add "$B" broken
# A killed QEMU leaves "broken" in-use: qemu-io holds the image open
# (bitmaps in-use in the file) and is killed.
qemu-io -f qcow2 -c 'sleep 600000' "$B" &
qio=$!
cleanup_fn kill -9 "$qio"
flags_in_use () { qemu-img info -U --output=json "$B" |
    jq -e '."format-specific".data.bitmaps[0].flags | index("in-use")' >/dev/null; }
wait_for 30 "qemu-io marking the bitmaps in-use" flags_in_use
kill -9 "$qio"
wait "$qio" || true
qemu-img bitmap --add -g 131072 "$B" c1
qemu-img bitmap --add -g 1048576 "$B" c2
qemu-img bitmap --add --disable "$B" off
qemu-io -f qcow2 -c 'write -P 0x5a 0 2M' "$B" >/dev/null
test "$(lab_bitmap_flags "$B" broken)" = "auto in-use"
test "$(lab_bitmap_flags "$B" off)" = ""

expect_exit 0 vckpt --json overlay create --image "$B" new.qcow2
jq -e '(.disks[0].bitmaps | sort) == ["c1", "c2"]' "$out"
jq -e '.disks[0].skipped | sort == ["broken: in-use (not saved cleanly)", "off: disabled (not recording)"]' "$out"
jq -e --arg b "$B" '.disks[0].base == $b and .disks[0].overlay == ($b | sub("base"; "new"))' "$out"

N=$TMPD/new.qcow2
info=$(qemu-img info --output=json "$N")
test "$(jq -r '.format' <<<"$info")" = qcow2
test "$(jq -r '."backing-filename"' <<<"$info")" = base.qcow2
test "$(jq -r '."backing-filename-format"' <<<"$info")" = qcow2
test "$(jq -r '."virtual-size"' <<<"$info")" = $((32 * 1024 * 1024))
test "$(lab_bitmaps "$N" | sort | tr '\n' ' ')" = "c1 c2 "
test "$(qemu-img info --output=json "$N" | jq -r '."format-specific".data.bitmaps[] | select(.name=="c1") | .granularity')" = 131072
test "$(qemu-img info --output=json "$N" | jq -r '."format-specific".data.bitmaps[] | select(.name=="c2") | .granularity')" = 1048576
test "$(lab_bitmap_flags "$N" c1)" = auto
test "$(lab_bitmap_flags "$N" c2)" = auto
test "$(stat -c %a "$N")" = 600
lab_expect_pattern "$N" 0 2M 0x5a
qemu-img check -q "$N"
# The base is unchanged: its bitmaps are as they were.
test "$(lab_bitmaps "$B" | sort | tr '\n' ' ')" = "broken c1 c2 off "
test "$(ls -A "$TMPD" | grep -c '^\.vckpt-' || true)" = 0

# The text output names what was carried and what was not.
expect_exit 0 vckpt overlay create --image "$N" "$TMPD/sub.qcow2"
grep -q "^overlay $TMPD/sub.qcow2 on $N\$" "$out"
grep -q '^  bitmap c1 carried$' "$out"
# A different directory: the backing name is absolute.
mkdir "$TMPD/other"
expect_exit 0 vckpt overlay create --image new.qcow2 other/o.qcow2
test "$(qemu-img info --output=json "$TMPD/other/o.qcow2" | jq -r '."backing-filename"')" = "$N"
lab_expect_pattern "$TMPD/other/o.qcow2" 0 2M 0x5a
