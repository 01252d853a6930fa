#!/usr/bin/env bash
# checkpoint create on a running domain whose name has a space: on all
# disks, on some (the others left out: checkpoint='no'), with the text,
# -q and --json outputs, and without a name (libvirt picks one, vckpt
# prints it).
. "${srcdir:-.}/checkpoint-functions.sh"
set -e -x
ck_setup --no-checkpoints

expect_exit 0 vckpt checkpoint create "$dom" c1 --description 'first <one>'
grep -q "Checkpoint c1 of domain $dom created" "$out"
test "$(ncheckpoints)" -eq 1
lab_write "$dom" 0 0xab 1M 2M

# c2 on vda only: vdb is explicitly left out.
expect_exit 0 vckpt -q checkpoint create "$dom" c2 --disk vda
test "$(cat "$out")" = c2
virsh checkpoint-dumpxml "$dom" c2 > "$TMPD/c2-virsh.xml"
test "$(xmllint --xpath 'string(/domaincheckpoint/disks/disk[@name="vdb"]/@checkpoint)' "$TMPD/c2-virsh.xml")" = no
test "$(xmllint --xpath 'string(/domaincheckpoint/disks/disk[@name="vda"]/@checkpoint)' "$TMPD/c2-virsh.xml")" = bitmap

expect_exit 0 vckpt --json checkpoint create "$dom" c3
test "$(jq -r .checkpoint "$out")" = c3
virsh checkpoint-info "$dom" c3 | grep -q '^Parent: *c2'

# Without a name libvirt picks one (the time); vckpt prints it.
expect_exit 0 vckpt -q checkpoint create "$dom"
auto=$(cat "$out")
test -n "$auto"
virsh checkpoint-info "$dom" "$auto" | grep -q '^Parent: *c3'
expect_exit 0 vckpt checkpoint delete "$dom" "$auto"
test "$(ncheckpoints)" -eq 3
