#!/usr/bin/env bash
# bitmaps on a FIFO, on /dev/zero, and on a qcow2 image whose backing file
# is a FIFO or a character device: refused at once (exit 1), with one clear
# message that names each path once.  Offline: no daemon involved.
. "${srcdir:-.}/functions.sh"
set -e -x
requires qemu-img --version
requires timeout --version
cd "$TMPD"

mkfifo fifo
expect_exit 1 timeout 60 "$VCKPT" bitmaps fifo
assert_grep '^vckpt: bitmaps: fifo: not a regular file or block device \(a FIFO\)$' "$err"
expect_exit 1 timeout 60 "$VCKPT" bitmaps /dev/zero
assert_grep '^vckpt: bitmaps: /dev/zero: not a regular file or block device \(a character device\)$' "$err"

# A backing file replaced by a FIFO, then by a symlink to /dev/zero.
qemu-img create -q -f qcow2 base.qcow2 1M
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2
expect_exit 0 vckpt bitmaps top.qcow2
rm base.qcow2
mkfifo base.qcow2
expect_exit 1 timeout 60 "$VCKPT" bitmaps top.qcow2
assert_grep "^vckpt: bitmaps: top.qcow2: cannot read backing file 'base.qcow2': not a regular file or block device \(a FIFO\)$" "$err"
test "$(wc -l < "$err")" -eq 1 || fail "one message expected"
test ! -s "$out" || fail "a refused chain was listed"
rm base.qcow2
ln -s /dev/zero base.qcow2
expect_exit 1 timeout 60 "$VCKPT" bitmaps top.qcow2
assert_grep "^vckpt: bitmaps: top.qcow2: cannot read backing file 'base.qcow2': not a regular file or block device \(a character device\)$" "$err"
