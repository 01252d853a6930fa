#!/usr/bin/env bash
# Rule 2: a gap in the backing chain, base (c1,c2) <- mid (none) <- top
# (c1,c2): refused, naming mid.  Filling the gap makes the chain valid, and
# libvirt agrees: its incremental backup starts.
. "${srcdir:-.}/validate-images-functions.sh"
set -e -x
vi_setup

mv "$img" "$dir/base.qcow2"
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$dir/mid.qcow2"
qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 "$img"
qemu-img bitmap --add "$img" c1
qemu-img bitmap --add "$img" c2
refused bitmap-gap --checkpoint c1
jq -e '[.findings[] | select(.code == "bitmap-gap") | .image | endswith("/mid.qcow2")] | all' "$out"
qemu-img bitmap --add "$dir/mid.qcow2" c1
qemu-img bitmap --add "$dir/mid.qcow2" c2
ok --checkpoint c1
lab_domain_start "$dom"
ok --checkpoint c1
lab_libvirt_backup "$dom" c1 "$TMPD/bk-gapfixed"
