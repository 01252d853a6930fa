#!/usr/bin/env bash
# Checkpoint metadata removed while the bitmaps remain: the newest
# checkpoint is now c1, which is fine, with a warning for the orphan c2;
# --checkpoint c2 is refused (checkpoint-not-found, saying why); redefining
# c2 makes it OK again.
. "${srcdir:-.}/validate-images-functions.sh"
set -e -x
vi_setup

virsh checkpoint-dumpxml "$dom" c2 > "$TMPD/c2.xml"
virsh checkpoint-delete "$dom" c2 --metadata
ok
expect_exit 0 vckpt --json validate "$dom"
assert_finding "$out" bitmap-orphan severity=warning disk=vda "message~bitmap 'c2' has no libvirt checkpoint"
refused checkpoint-not-found --checkpoint c2
assert_finding "$out" checkpoint-not-found "message~its metadata was removed"
expect_exit 0 vckpt checkpoint redefine "$dom" "$TMPD/c2.xml"
ok
