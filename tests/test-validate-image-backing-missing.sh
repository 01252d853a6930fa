#!/usr/bin/env bash
# A backing file that is not there: refused (backing-missing).
. "${srcdir:-.}/validate-images-functions.sh"
set -e -x
vi_setup --image-only

mv "$img" "$dir/base.qcow2"
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$img"
ok --full
mv "$dir/base.qcow2" "$TMPD/base.qcow2"
refused backing-missing --full
