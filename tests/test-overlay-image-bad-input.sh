#!/usr/bin/env bash
# overlay create --image refuses hostile or wrong inputs without blocking,
# with exit 1 and a clear message, and writes nothing: BASE a FIFO, a
# symbolic link, not a qcow2 image, missing (exit 3); NEW existing (left
# untouched); wrong argument counts (exit 2).
. "${srcdir:-.}/functions.sh"
set -e -x
requires qemu-img --version

mkdir "$TMPD/img"
cd "$TMPD/img"
qemu-img create -q -f qcow2 base.qcow2 16M
qemu-img bitmap --add base.qcow2 c1
mkfifo fifo
ln -s base.qcow2 link.qcow2
head -c 1M /dev/urandom > raw.img
qemu-img create -q -f qcow2 exists.qcow2 8M
sum=$(sha256sum exists.qcow2)
listing () { ls -la --time-style=full-iso "$TMPD/img" | grep -v " \.\.$"; }
listing > "$TMPD/before"

run () { expect_exit "$1" timeout 20 "$VCKPT" overlay create --image "${@:2}"; }
run 1 fifo n.qcow2
grep -q 'fifo is a FIFO, not a regular file' "$err"
run 1 link.qcow2 n.qcow2
grep -q 'link.qcow2 is a symbolic link' "$err"
run 1 raw.img n.qcow2
grep -q 'raw.img: .*qcow2' "$err"
run 3 missing.qcow2 n.qcow2
run 1 base.qcow2 exists.qcow2
grep -q 'exists.qcow2 already exists: not replacing it' "$err"
echo "$sum" | sha256sum -c
run 2 base.qcow2
run 2 base.qcow2 n.qcow2 extra.qcow2
expect_exit 2 vckpt overlay create dom --image base.qcow2 n.qcow2 --name x
expect_exit 2 vckpt overlay create --image base.qcow2 ''

# Nothing was created, nothing changed.
listing | diff "$TMPD/before" -
test "$(lab_bitmaps base.qcow2)" = c1
