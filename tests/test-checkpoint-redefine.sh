#!/usr/bin/env bash
# checkpoint redefine: drop the metadata of c1 and its children, then
# restore it from the dumped files (given child first: vckpt orders them).
. "${srcdir:-.}/checkpoint-functions.sh"
set -e -x
ck_setup

expect_exit 0 vckpt checkpoint delete "$dom" c1 --children --metadata-only
test "$(ncheckpoints)" -eq 0
expect_exit 0 vckpt checkpoint redefine "$dom" "$TMPD/c2.xml" "$TMPD/c1.xml"
test "$(virsh -q checkpoint-list "$dom" --name | sort | tr '\n' ' ')" = "c1 c2 "
test "$(virsh checkpoint-parent "$dom" c2)" = c1
