#!/usr/bin/env bash
# checkpoint redefine is all or none: a second file that libvirt
# refuses undoes the first.
. "${srcdir:-.}/checkpoint-functions.sh"
set -e -x
ck_setup

expect_exit 0 vckpt checkpoint delete "$dom" c1 --children --metadata-only
test "$(ncheckpoints)" -eq 0
sed "s/checkpoint='bitmap'/checkpoint='bogus'/" "$TMPD/c2.xml" > "$TMPD/c2-bad.xml"
if cmp -s "$TMPD/c2.xml" "$TMPD/c2-bad.xml"; then
    fail "sed left c2.xml unchanged: the refused file would not be refused"
fi
rc=0; vckpt checkpoint redefine "$dom" "$TMPD/c1.xml" "$TMPD/c2-bad.xml" 2> "$TMPD/e" || rc=$?
cat "$TMPD/e"
test "$rc" -ne 0
test "$(ncheckpoints)" -eq 0 || fail "redefine left checkpoints behind after a failure"
