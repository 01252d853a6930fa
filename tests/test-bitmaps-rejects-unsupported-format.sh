#!/usr/bin/env bash
# bitmaps --format names a format vckpt does not read (vmdk): a usage error
# (exit 2), not "vmdk, 0 B" with exit 0.  A vmdk image found by probing is
# an error too; a vmdk below a qcow2 ends the chain with a warning and is
# not shown with a made-up size.  Offline: no daemon involved.
. "${srcdir:-.}/functions.sh"
set -e -x
requires qemu-img --version
cd "$TMPD"

qemu-img create -q -f vmdk disk.vmdk 1M
qemu-img create -q -f qcow2 disk.qcow2 1M
expect_exit 2 vckpt bitmaps --format vmdk disk.vmdk
assert_grep "^vckpt: bitmaps: unsupported --format 'vmdk': vckpt reads qcow2 and raw images$" "$err"
test ! -s "$out"
expect_exit 2 vckpt bitmaps --format vmdk disk.qcow2
expect_exit 1 vckpt bitmaps disk.vmdk
assert_grep "^vckpt: bitmaps: disk.vmdk: a vmdk image: vckpt reads qcow2 and raw images only$" "$err"
test ! -s "$out"
# The supported formats still work.
expect_exit 0 vckpt bitmaps --format qcow2 disk.qcow2
assert_grep '^disk.qcow2: qcow2 v3, 1.0 MiB$' "$out"
expect_exit 0 vckpt bitmaps --format raw disk.qcow2
assert_grep '^disk.qcow2: raw, ' "$out"
# A vmdk backing file: a warning, and no "0 B".
qemu-img create -q -f qcow2 -b disk.vmdk -F vmdk over.qcow2
expect_exit 0 vckpt bitmaps over.qcow2
assert_grep '^disk.vmdk: vmdk \(not inspected\)$' "$out"
assert_no_grep '0 B' "$out"
assert_grep 'the chain ends early \(unsupported\)' "$err"
