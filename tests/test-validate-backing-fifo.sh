#!/usr/bin/env bash
# A shut-off domain whose disk's backing file was replaced by a FIFO:
# validate refuses it (image-unreadable, exit 4) at once, naming the FIFO
# once, and libvirt agrees: the domain cannot start.
. "${srcdir:-.}/functions.sh"
set -e -x
requires timeout --version
lab_start

dom=fifo
lab_domain_define "$dom" --disk 64M
img=$(lab_disk_path "$dom" vda)
dir=$(dirname "$img")
mv "$img" "$dir/base.qcow2"
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$img"
expect_exit 0 vckpt validate "$dom" --full
rm "$dir/base.qcow2"
mkfifo "$dir/base.qcow2"
expect_exit 4 timeout 60 "$VCKPT" --json validate "$dom" --full
assert_finding "$out" image-unreadable severity=error disk=vda image="$dir/base.qcow2" \
    'message~^cannot read the backing chain: not a regular file or block device \(a FIFO\)$'
jq -e --arg i "$dir/base.qcow2" '[.findings[] | select(.code == "image-unreadable")][0] | .image == $i and (.message | contains($i) | not)' "$out"
# libvirt (QEMU) cannot use the chain either.
if timeout 60 virsh start "$dom"; then
    fail "the domain started on a FIFO backing file"
fi
