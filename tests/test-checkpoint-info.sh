#!/usr/bin/env bash
# checkpoint info: parent, children, description, bitmaps, and with
# --size the exact bytes written since the checkpoint; dumpxml gives
# libvirt's XML, valid against its schema.
. "${srcdir:-.}/checkpoint-functions.sh"
set -e -x
ck_setup

expect_exit 0 vckpt checkpoint info "$dom" c1 --size
grep -q '^Children: *c2$' "$out"
grep -q '^Description: first <one>$' "$out"
grep -q '^  vda *bitmap c1, changed since: 2.0 MiB (2097152 bytes)$' "$out"
grep -q '^  vdb *bitmap c1, changed since: 0 B (0 bytes)$' "$out"
expect_exit 0 vckpt --json checkpoint info "$dom" c2 --size
test "$(jq -r '.parent' "$out")" = c1
test "$(jq -r '.children | join(",")' "$out")" = c3
test "$(jq -r '.disks[] | select(.name=="vda") | .size' "$out")" = 0
test "$(jq -r '.disks[] | select(.name=="vdb") | .checkpoint' "$out")" = no

xmllint --noout --relaxng "${LIBVIRT_SCHEMAS:-/usr/share/libvirt/schemas}/domaincheckpoint.rng" "$TMPD/c1.xml"
test "$(xmllint --xpath 'string(/domaincheckpoint/name)' "$TMPD/c1.xml")" = c1
