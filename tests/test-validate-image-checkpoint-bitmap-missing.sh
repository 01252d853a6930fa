#!/usr/bin/env bash
# A checkpoint whose bitmaps are gone: an error when it is the base
# (bitmap-missing), a warning when it is not (checkpoint-bitmap-missing).
. "${srcdir:-.}/validate-images-functions.sh"
set -e -x
vi_setup

qemu-img bitmap --remove "$img" c1
refused bitmap-missing --checkpoint c1
ok --checkpoint c2
expect_exit 0 vckpt --json validate "$dom" --checkpoint c2
assert_finding "$out" checkpoint-bitmap-missing severity=warning disk=vda
