#!/usr/bin/env bash
# A backing chain that loops back to the top image: refused
# (backing-loop), never a hang.
. "${srcdir:-.}/validate-images-functions.sh"
set -e -x
vi_setup --image-only

mv "$img" "$dir/base.qcow2"
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$img"
ok --full
qemu-img rebase -u -f qcow2 -b "$img" -F qcow2 "$dir/base.qcow2"
refused backing-loop --full
