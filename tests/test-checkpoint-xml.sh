#!/usr/bin/env bash
# The checkpoint XML vckpt generates is well-formed, escapes what it must,
# and validates against libvirt's installed RelaxNG schema.
. "${srcdir:-.}/functions.sh"
set -e -x
requires xmllint --version
rng="${LIBVIRT_SCHEMAS:-/usr/share/libvirt/schemas}/domaincheckpoint.rng"
requires test -r "$rng"

# --print-xml without --disk never contacts libvirt: an unreachable URI works.
nowhere='qemu:///system?socket=/nonexistent/sock'
expect_exit 0 vckpt -c "$nowhere" checkpoint create web1 c1 --print-xml \
    --description $'x < y & "q" \'a\' ]]> \xc3\xa9'
cp "$out" "$TMPD/c1.xml"
xmllint --noout --relaxng "$rng" "$TMPD/c1.xml"
test "$(xmllint --xpath 'string(/domaincheckpoint/name)' "$TMPD/c1.xml")" = c1
test "$(xmllint --xpath 'string(/domaincheckpoint/description)' "$TMPD/c1.xml")" = \
     $'x < y & "q" \'a\' ]]> \xc3\xa9'

# Without a name libvirt chooses one: the XML has no <name>.
expect_exit 0 vckpt -c "$nowhere" checkpoint create web1 --print-xml
xmllint --noout --relaxng "$rng" "$out"
assert_no_grep '<name>' "$out"

# With --disk (test driver: one disk, vda) the disk is listed.
expect_exit 0 vckpt -c test:///default checkpoint create test c2 --disk vda --print-xml
xmllint --noout --relaxng "$rng" "$out"
test "$(xmllint --xpath 'string(/domaincheckpoint/disks/disk[@name="vda"]/@checkpoint)' "$out")" = bitmap
