#!/usr/bin/env bash
# Rule 3: a disabled bitmap (c2 is merged into an incremental from c1):
# refused, the finding names disk, image, bitmap and checkpoint and
# suggests --full.
. "${srcdir:-.}/validate-images-functions.sh"
set -e -x
vi_setup

qemu-img bitmap --disable "$img" c2
refused bitmap-disabled --checkpoint c1
jq -e '.findings[] | select(.code == "bitmap-disabled") | .disk == "vda" and .bitmap == "c2" and .checkpoint == "c2" and (.image | endswith(".qcow2")) and (.action | test("--full"))' "$out"
