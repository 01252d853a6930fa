#!/usr/bin/env bash
# Rule 3: a disabled bitmap: an incremental from its checkpoint (c2, the
# newest) would miss every write since it was disabled: refused, the
# finding names disk, image, bitmap and checkpoint and suggests --full.
# An incremental from c1 reads c1's own bitmap alone, which still
# records: not refused, and libvirt backs it up with the right data.
. "${srcdir:-.}/validate-images-functions.sh"
set -e -x
vi_setup

qemu-img bitmap --disable "$img" c2
refused bitmap-disabled
jq -e '.findings[] | select(.code == "bitmap-disabled") | .disk == "vda" and .bitmap == "c2" and .checkpoint == "c2" and (.image | endswith(".qcow2")) and (.action | test("--full"))' "$out"
ok --checkpoint c1
libvirt_backs_up_since_c1
