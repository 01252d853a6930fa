#!/usr/bin/env bash
# Rule 1: the top image lacks the bitmap of the newest checkpoint (c2): an
# incremental from c2 is refused.  One from c1 reads c1's own bitmap
# alone: not refused (a warning about c2), and libvirt backs it up with
# the right data.
. "${srcdir:-.}/validate-images-functions.sh"
set -e -x
vi_setup

qemu-img bitmap --remove "$img" c2
refused bitmap-missing
assert_finding "$out" bitmap-missing checkpoint=c2
ok --checkpoint c1
expect_exit 0 vckpt --json validate "$dom" --checkpoint c1
assert_finding "$out" checkpoint-bitmap-missing severity=warning checkpoint=c2
libvirt_backs_up_since_c1
