#!/usr/bin/env bash
# vckpt's qcow2 writer (lib/qcow2w.c, the pull job's, run through the test
# helper qcow2w-copy) against QEMU: images it finishes pass `qemu-img
# check` (no errors, no leaked clusters) and read, through QEMU, exactly
# the data written: with tiny clusters (512 bytes: dozens of L2 tables and
# refcount blocks, the refcount blocks the table lacks appended), a disk
# size that ends inside a cluster, clusters of zeros left out, several
# threads at once; and an increment over a backing file, whose data and
# zeros must hide the older data below.  Then what it refuses to take
# over: an image that is not a new one of qemu-img create.
#
# Environment: QCOW2W_COPY (default ./qcow2w-copy).
. "${srcdir:-.}/functions.sh"
set -e -x
requires qemu-img --version

copy=${QCOW2W_COPY:-./qcow2w-copy}
case $copy in /*) ;; *) copy=$PWD/$copy ;; esac
[ -x "$copy" ] || fail "$copy not built"

# qemu-img check: 0 only without errors and leaks.
checked() {
    qemu-img check -q "$1" || fail "qemu-img check $1: exit $?"
}
# RAW and IMAGE read the same through QEMU, and have the same size.
same() {
    qemu-img compare -q -f raw -F qcow2 "$1" "$2" || fail "$2 differs from $1"
    test "$(qemu-img info --output=json "$2" | jq '."virtual-size"')" = "$(stat -c %s "$1")"
}

# A disk of 1 MiB + 3.5 KiB (whole 512-byte sectors, not whole 4 KiB
# clusters): random data with runs of zeros in between.
size=$((1024 * 1024 + 3584))
head -c "$size" /dev/urandom > "$TMPD/a.raw"
for off in 0 65536 204800 700416 1036288; do
    dd if=/dev/zero of="$TMPD/a.raw" bs=4096 seek=$((off / 4096)) count=3 conv=notrunc status=none
done

# Full, 512-byte clusters, 4 threads, windows of 8 KiB.
qemu-img create -q -f qcow2 -o cluster_size=512 "$TMPD/a.qcow2" "$size"
"$copy" -j 4 -w 8192 "$TMPD/a.raw" "$TMPD/a.qcow2"
checked "$TMPD/a.qcow2"
same "$TMPD/a.raw" "$TMPD/a.qcow2"
# Zero clusters were left out: less allocated than the disk.
alloc=$(qemu-img map --output=json "$TMPD/a.qcow2" |
        jq '[.[] | select(.data) | .length] | add')
test "$alloc" -lt "$size"

# Full, 4 KiB clusters (the last one short), one thread, one window.
qemu-img create -q -f qcow2 -o cluster_size=4096 "$TMPD/b.qcow2" "$size"
"$copy" -j 1 -w $((1 << 30)) "$TMPD/a.raw" "$TMPD/b.qcow2"
checked "$TMPD/b.qcow2"
same "$TMPD/a.raw" "$TMPD/b.qcow2"

# The default 64 KiB clusters, 3 threads.
qemu-img create -q -f qcow2 "$TMPD/c.qcow2" "$size"
"$copy" -j 3 -w 65536 "$TMPD/a.raw" "$TMPD/c.qcow2"
checked "$TMPD/c.qcow2"
same "$TMPD/a.raw" "$TMPD/c.qcow2"

# An increment: the base holds a.raw; the new state changes some
# clusters to other data and some to zeros (and explicit zero ranges);
# only those are written, over a backing file.
qemu-img convert -q -f raw -O qcow2 -o cluster_size=512 "$TMPD/a.raw" "$TMPD/base.qcow2"
cp "$TMPD/a.raw" "$TMPD/n.raw"
head -c 8192 /dev/urandom | dd of="$TMPD/n.raw" bs=512 seek=8 conv=notrunc status=none
dd if=/dev/zero of="$TMPD/n.raw" bs=512 seek=400 count=6 conv=notrunc status=none
dd if=/dev/zero of="$TMPD/n.raw" bs=512 seek=1500 count=100 conv=notrunc status=none
head -c 3584 /dev/urandom | dd of="$TMPD/n.raw" bs=512 seek=2048 conv=notrunc status=none
qemu-img create -q -f qcow2 -o cluster_size=512 -F qcow2 -b "$TMPD/base.qcow2" \
    "$TMPD/inc.qcow2" "$size"
"$copy" -b -j 4 -w 16384 "$TMPD/n.raw" "$TMPD/inc.qcow2" \
    4096:8192 204800:3072 z:768000:51200 1048576:3584
checked "$TMPD/inc.qcow2"
same "$TMPD/n.raw" "$TMPD/inc.qcow2"
# The zeros are zero entries of the increment, not data.
qemu-img map --output=json "$TMPD/inc.qcow2" |
    jq -e '[.[] | select(.start == 768000 and .zero and .depth == 0)] | length == 1'

# What it must not take over: an image with data, a version 2 image, a
# compressed (zstd) one, a file that is no image.
qemu-img convert -q -f raw -O qcow2 "$TMPD/a.raw" "$TMPD/used.qcow2"
qemu-img create -q -f qcow2 -o compat=0.10 "$TMPD/v2.qcow2" 1M
qemu-img create -q -f qcow2 -o compression_type=zstd "$TMPD/z.qcow2" 1M
echo "not an image" > "$TMPD/text"
for f in used v2 z; do
    if "$copy" "$TMPD/a.raw" "$TMPD/$f.qcow2" 2>"$TMPD/err"; then
        fail "the writer took over $f.qcow2"
    fi
    cat "$TMPD/err"
    grep -q "$TMPD/$f.qcow2: " "$TMPD/err"
done
if "$copy" "$TMPD/a.raw" "$TMPD/text" 2>"$TMPD/err"; then fail "took over a text file"; fi
grep -q 'not a new qcow2 image' "$TMPD/err"
# Nor a symlink to a new image.
qemu-img create -q -f qcow2 "$TMPD/d.qcow2" "$size"
ln -s "$TMPD/d.qcow2" "$TMPD/link"
if "$copy" "$TMPD/a.raw" "$TMPD/link" 2>"$TMPD/err"; then fail "followed a symlink"; fi
grep -q 'link: ' "$TMPD/err"
